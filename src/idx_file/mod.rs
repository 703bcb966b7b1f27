//! IDX files on disk: memory-mapped (the crate's one `unsafe` map), or, for
//! a `.gz`, decompressed once into a cache file that is then mapped
//! (`gz.rs`); `info.rs` summarizes a file for `fastnn data info`.
//!
//! A raw IDX file is memory-mapped (or, if mapping fails, read into memory).
//! A `.gz` is decompressed once into a cache file, and that is mapped. The
//! cache file's name carries a hash of the `.gz`'s canonical path and of its
//! contents, so a changed `.gz` gets a new cache file (the stale one is
//! removed) and two datasets with the same file names never collide. A
//! cache file is written atomically, so readers see either nothing or the
//! whole file; a cache that fails to parse anyway, or whose header is not
//! the `.gz`'s, is rebuilt. A cache with the right length but flipped bits
//! is not detected here, since hashing 47 MB on every open would cost more
//! than the open; `fastnn data verify` hashes the decompressed contents and
//! names a cache that differs.
//!
//! Where caches go: `$FASTNN_CACHE` if set, else a `.cache` folder in the
//! directory the caller names (the data folder for the built-in datasets),
//! else the per-user cache folder; only folders this user owns and others
//! cannot write are used (see `gz.rs`).

mod gz;
mod info;

pub(crate) use gz::hash_gz;
pub use gz::{IN_MEMORY_MAX, cached_path, user_cache_dir};
pub use info::{FileInfo, info};

use std::io::Read;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::files::open_regular;
use crate::idx::{Header, IdxView, MAX_DIMS, PREFIX_LEN, parse, parse_header};
use crate::{Error, Result};

/// The bytes behind an [`IdxFile`].
#[derive(Debug)]
pub(super) enum Backing {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Deref for Backing {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A validated IDX file, memory-mapped when possible.
#[derive(Debug)]
pub struct IdxFile {
    path: PathBuf,
    header: Header,
    bytes: Backing,
}

impl IdxFile {
    /// Opens, maps and validates an IDX file. A path ending in `.gz` is
    /// decompressed into a cache (see [`cache_dir_for`]) in the file's own
    /// folder, or under `$FASTNN_CACHE`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        open_with_cache(path, &cache_dir_for(parent))
    }

    /// Validates an IDX file held in memory; `path` only names it in errors.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self> {
        let path = path.into();
        Self::new(path, Backing::Owned(bytes))
    }

    pub(super) fn new(path: PathBuf, bytes: Backing) -> Result<Self> {
        match parse(&bytes) {
            Ok(header) => Ok(Self {
                path,
                header,
                bytes,
            }),
            Err(source) => Err(Error::Idx { path, source }),
        }
    }

    /// The file as the caller named it (the `.gz`, not its cache).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole file, header included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The data after the header, borrowed from the map.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.header.header_len()..]
    }

    /// A typed view of the data.
    pub fn view(&self) -> IdxView<'_> {
        IdxView::validated(self.header, self.data())
    }

    /// Whether the bytes are memory-mapped (rather than read into memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Backing::Mapped(_))
    }
}

/// Where `.gz` caches for files in `dir` go: `$FASTNN_CACHE` if set (and not
/// empty), else `dir/.cache`.
pub fn cache_dir_for(dir: &Path) -> PathBuf {
    match std::env::var_os("FASTNN_CACHE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dir.join(".cache"),
    }
}

/// Opens an IDX file like [`IdxFile::open`], putting the cache of a `.gz`
/// in `cache_dir` (created if missing; if it cannot be written, a folder
/// under the system temporary directory is used instead).
pub fn open_with_cache(path: impl AsRef<Path>, cache_dir: &Path) -> Result<IdxFile> {
    let path = path.as_ref();
    if path.extension().is_some_and(|e| e == "gz") {
        gz::open_gz(path, cache_dir)
    } else {
        let bytes = map_or_read(path)?;
        IdxFile::new(path.to_path_buf(), bytes)
    }
}

/// Maps the regular file `path`, or reads it if mapping fails (some file
/// systems, or a zero-length file, which cannot be mapped). A FIFO, a
/// device or a folder is refused (see [`crate::files::open_regular`]).
pub(super) fn map_or_read(path: &Path) -> Result<Backing> {
    let file = open_regular(path)?;
    // SAFETY: a map is only sound while no one modifies or truncates the
    // file; that is this function's contract with its callers and with the
    // user. fastnn never writes a file it has mapped: data files are
    // read-only inputs, and cache files are replaced by rename, never
    // rewritten in place, so an existing map keeps its old inode. Editing or
    // truncating a dataset while fastnn trains on it is, as for any mmap
    // reader (ripgrep, every database), the user's error: it may make it
    // read garbage or stop with SIGBUS; the bytes are validated only when
    // opened.
    match unsafe { Mmap::map(&file) } {
        Ok(map) => Ok(Backing::Mapped(map)),
        Err(_) => {
            let mut bytes = Vec::new();
            (&file)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(path, e))?;
            Ok(Backing::Owned(bytes))
        }
    }
}

/// The header of an IDX file, raw or `.gz`, read (or decompressed) from its
/// first bytes only: to check a file against its pair before mapping or
/// decompressing all of it.
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    let path = path.as_ref();
    if path.extension().is_some_and(|e| e == "gz") {
        return gz::read_gz_header(path);
    }
    let file = open_regular(path)?;
    let mut head = Vec::with_capacity(PREFIX_LEN + 4 * MAX_DIMS);
    file.take((PREFIX_LEN + 4 * MAX_DIMS) as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let header = parse_header(&head).map_err(|source| Error::Idx {
        path: path.to_path_buf(),
        source,
    })?;
    gz::check_data_size(path, &header)?;
    Ok(header)
}

//! Memory-mapping and gzip caching.
//!
//! A raw IDX file is memory-mapped (or, if mapping fails, read into memory).
//! A `.gz` is decompressed once into a cache file, and that is mapped. The
//! cache file's name carries a hash of the `.gz`'s canonical path, length and
//! modification time, so a changed `.gz` gets a new cache file (the stale one
//! is removed) and two datasets with the same file names never collide. A
//! cache file is written to a temporary name in the same directory and then
//! renamed, so readers see either nothing or the whole file; a cache that
//! fails to parse anyway (truncated or overwritten by something else) is
//! rebuilt. A cache with the right length but flipped bits is not detected
//! here, since hashing 47 MB on every open would cost more than the open;
//! `fastnn data verify` hashes the contents.
//!
//! Where caches go: `$FASTNN_CACHE` if set, else a `.cache` folder in the
//! directory the caller names (the data directory for the built-in datasets),
//! else, if that is not writable, `fastnn-cache` under the system temporary
//! directory, and as a last resort the decompressed bytes stay in memory.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use sha2::{Digest, Sha256};

use super::{Header, IdxError, IdxView, MAX_DIMS, PREFIX_LEN, parse, parse_header};
use crate::{Error, Result};

/// The bytes behind an [`IdxFile`].
#[derive(Debug)]
enum Backing {
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
    /// decompressed into a cache (see [`cache_dir_for`]) under
    /// `$FASTNN_CACHE`, else the data directory's `.cache/` for a file
    /// inside [`data_dir`](crate::dataset::data_dir) (as
    /// [`Dataset`](crate::dataset::Dataset) does), else the file's own
    /// folder's `.cache/`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let data = crate::dataset::data_dir();
        let in_data_dir = match (fs::canonicalize(parent), fs::canonicalize(&data)) {
            (Ok(p), Ok(d)) => p.starts_with(d),
            _ => false,
        };
        let dir = if in_data_dir { &data } else { parent };
        open_with_cache(path, &cache_dir_for(dir))
    }

    /// Validates an IDX file held in memory; `path` only names it in errors.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Self> {
        let path = path.into();
        Self::new(path, Backing::Owned(bytes))
    }

    fn new(path: PathBuf, bytes: Backing) -> Result<Self> {
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
        IdxView {
            header: self.header,
            data: self.data(),
        }
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
        open_gz(path, cache_dir)
    } else {
        let bytes = map_or_read(path)?;
        IdxFile::new(path.to_path_buf(), bytes)
    }
}

/// Maps `path`, or reads it if mapping fails (some file systems, pipes, or
/// a zero-length file, which cannot be mapped).
fn map_or_read(path: &Path) -> Result<Backing> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: a map is only sound while no one modifies or truncates the
    // file; that is this function's contract with its callers and with the
    // user. fastnn never writes a file it has mapped: data files are
    // read-only inputs, and cache files are replaced by rename, never
    // rewritten in place, so an existing map keeps its old inode. Editing a
    // dataset while fastnn trains on it is, as for any mmap reader (ripgrep,
    // every database), the user's error and may make it read garbage or
    // crash with SIGBUS; the bytes are validated only when opened.
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

/// The cache file name for `gz` in `cache_dir`: `<name without .gz>.<path
/// hash>-<state hash>`. The path hash keeps caches of different datasets
/// apart; the state hash (length and modification time) changes whenever the
/// `.gz` does, which is how a stale cache is noticed.
pub fn cached_path(gz: &Path, cache_dir: &Path) -> Result<PathBuf> {
    let meta = fs::metadata(gz).map_err(|e| Error::io(gz, e))?;
    let canonical = fs::canonicalize(gz).map_err(|e| Error::io(gz, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let path_hash = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let mut state = Sha256::new();
    state.update(meta.len().to_le_bytes());
    state.update(mtime.to_le_bytes());
    let state_hash = state.finalize();
    Ok(cache_dir.join(format!(
        "{}.{}-{}",
        stem(gz),
        hex(&path_hash[..4]),
        hex(&state_hash[..4])
    )))
}

fn stem(gz: &Path) -> String {
    gz.file_stem()
        .map_or_else(|| "idx".into(), |s| s.to_string_lossy().into_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open_gz(gz: &Path, cache_dir: &Path) -> Result<IdxFile> {
    let fallback = std::env::temp_dir().join("fastnn-cache");
    for dir in [cache_dir, fallback.as_path()] {
        let cache = cached_path(gz, dir)?;
        // A cache that fails to parse (e.g. truncated) is rebuilt below.
        if let Ok(bytes) = map_or_read(&cache)
            && parse(&bytes).is_ok()
        {
            return IdxFile::new(gz.to_path_buf(), bytes);
        }
        match build_cache(gz, &cache) {
            Ok(()) => {
                remove_stale_siblings(&cache);
                let bytes = map_or_read(&cache)?;
                return IdxFile::new(gz.to_path_buf(), bytes);
            }
            // The .gz itself is bad or unreadable: no other folder helps.
            Err(CacheError::Source(e)) => return Err(e),
            // This folder is not writable: try the next.
            Err(CacheError::Dest(_)) => {}
        }
    }
    // No writable cache anywhere: keep the decompressed bytes in memory.
    let mut bytes = Vec::new();
    decompress(gz, &mut bytes, gz).map_err(|e| match e {
        CacheError::Source(e) | CacheError::Dest(e) => e,
    })?;
    IdxFile::new(gz.to_path_buf(), Backing::Owned(bytes))
}

/// Why a cache could not be built: the source `.gz` (fatal) or the
/// destination folder (try another).
enum CacheError {
    Source(Error),
    Dest(Error),
}

/// Decompresses `gz` into `cache` atomically: a temporary file in the same
/// folder, synced, then renamed over `cache`.
fn build_cache(gz: &Path, cache: &Path) -> Result<(), CacheError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = cache.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| CacheError::Dest(Error::io(dir, e)))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        stem(gz),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = File::create_new(&tmp).map_err(|e| CacheError::Dest(Error::io(&tmp, e)))?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 16, &file);
        decompress(gz, &mut out, &tmp)?;
        let dest = |e| CacheError::Dest(Error::io(&tmp, e));
        out.flush().map_err(dest)?;
        drop(out);
        file.sync_all().map_err(dest)?;
        fs::rename(&tmp, cache).map_err(|e| CacheError::Dest(Error::io(cache, e)))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes older caches of the same `.gz` (same path hash, other state).
fn remove_stale_siblings(cache: &Path) {
    let (Some(dir), Some(name)) = (cache.parent(), cache.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let Some((prefix, _)) = name.rsplit_once('-') else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name();
        let other = other.to_string_lossy();
        if other != name && other.rsplit_once('-').is_some_and(|(p, _)| p == prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Streams `gz` through the decoder into `out`, reading the IDX header
/// first and refusing to produce more bytes than it declares, so that a
/// corrupt or hostile `.gz` can't fill the disk or memory. Returns the
/// decompressed length. `dest` names `out` in write errors.
fn decompress(gz: &Path, out: &mut impl Write, dest: &Path) -> Result<u64, CacheError> {
    let file = File::open(gz).map_err(|e| CacheError::Source(Error::io(gz, e)))?;
    let mut dec = MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file));
    let bad = |source| {
        CacheError::Source(Error::Idx {
            path: gz.to_path_buf(),
            source,
        })
    };
    let write_err = |e| CacheError::Dest(Error::io(dest, e));
    let mut head = [0u8; PREFIX_LEN + 4 * MAX_DIMS];
    let got = read_full(&mut dec, &mut head).map_err(|(offset, source)| {
        bad(IdxError::Gzip {
            offset: offset as u64,
            source,
        })
    })?;
    let header = parse_header(&head[..got]).map_err(bad)?;
    let expected = header.file_len() as u64;
    let oversized = || IdxError::Oversized {
        expected,
        dims: header.dims().to_vec(),
        elem: header.elem_type(),
    };
    if got as u64 > expected {
        return Err(bad(oversized()));
    }
    out.write_all(&head[..got]).map_err(write_err)?;
    let mut done = got as u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(bad(IdxError::Gzip {
                    offset: done,
                    source,
                }));
            }
        };
        if done + n as u64 > expected {
            return Err(bad(oversized()));
        }
        out.write_all(&buf[..n]).map_err(write_err)?;
        done += n as u64;
    }
    if done < expected {
        return Err(bad(header.length_error(done as usize)));
    }
    Ok(done)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read, or
/// the offset of the error.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, (usize, io::Error)> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((got, e)),
        }
    }
    Ok(got)
}

//! The gzip cache: a `.gz` is decompressed once, streamed and bounded by
//! its own IDX header, into a cache file written atomically, and mapped.
//!
//! A cache is keyed by the `.gz`'s contents (SHA-256 of the compressed
//! bytes, which costs a few milliseconds next to the hundreds that
//! inflating takes) and by its path: a `.gz` replaced by another, even of
//! the same length and time stamp, gets a new cache, and the old one is
//! removed. Caches are only read from, and written to, folders that this
//! user owns and that nobody else can write ([`crate::files`]): first the
//! folder the caller names (`$FASTNN_CACHE`, or `.cache` in the data
//! folder), then the per-user cache folder (`fastnn` in the platform's
//! cache folder), and as a last resort, for data up to
//! [`IN_MEMORY_MAX`] bytes, memory.
//!
//! A gzip file may hold several members and end in zero padding, as gzip
//! and Python accept; anything else after the data is an error.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use super::{Backing, IdxFile, map_or_read};
use crate::files::{open_regular, private_dir};
use crate::idx::{Header, IdxError, MAX_DIMS, PREFIX_LEN, parse, parse_header};
use crate::limits::MAX_IDX_DATA_BYTES;
use crate::{Error, Result};

/// The most decompressed bytes kept in memory when no cache folder can be
/// used.
pub const IN_MEMORY_MAX: u64 = 256 << 20;

/// The cache file name for `gz` in `cache_dir`: `<name without .gz>.<path
/// hash>.<content hash>`. The path hash keeps the caches of different
/// datasets apart (so that one never removes another's); the content hash
/// changes whenever the `.gz` does.
pub fn cached_path(gz: &Path, cache_dir: &Path) -> Result<PathBuf> {
    Ok(cache_dir.join(format!(
        "{}.{}",
        cache_prefix(gz)?,
        hex(&content_hash(gz)?[..8])
    )))
}

/// `<stem>.<path hash>`: what every cache of `gz` starts with.
fn cache_prefix(gz: &Path) -> Result<String> {
    let canonical = fs::canonicalize(gz).map_err(|e| Error::io(gz, e))?;
    let path_hash = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let stem = gz
        .file_stem()
        .map_or_else(|| "idx".into(), |s| s.to_string_lossy().into_owned());
    Ok(format!("{stem}.{}", hex(&path_hash[..4])))
}

/// SHA-256 of the regular file `gz`'s bytes.
fn content_hash(gz: &Path) -> Result<[u8; 32]> {
    let mut file = open_regular(gz)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(gz, e)),
        }
    }
    Ok(hasher.finalize().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The per-user cache folder (`fastnn` in the platform's cache folder), if
/// the platform has one: where caches go when the data folder's cannot.
pub fn user_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("fastnn"))
}

/// Creates `dir` (private to this user, if it is new) and says whether
/// caches may be kept there.
fn usable_cache_dir(dir: &Path) -> bool {
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        if builder.create(dir).is_err() {
            return false;
        }
    }
    private_dir(dir)
}

pub(super) fn open_gz(gz: &Path, cache_dir: &Path) -> Result<IdxFile> {
    let header = read_gz_header(gz)?;
    let name = format!("{}.{}", cache_prefix(gz)?, hex(&content_hash(gz)?[..8]));
    let user = user_cache_dir();
    let dirs = std::iter::once(cache_dir).chain(user.as_deref());
    for dir in dirs.filter(|d| usable_cache_dir(d)) {
        let cache = dir.join(&name);
        // Only fastnn writes here: anything but a regular file at a cache's
        // name (a FIFO, a symlink to a device) is removed, never read.
        if fs::symlink_metadata(&cache).is_ok_and(|m| !m.is_file()) {
            let _ = fs::remove_file(&cache);
        }
        // A cache that fails to parse or is not this gz's is rebuilt below.
        if let Ok(bytes) = map_or_read(&cache)
            && parse(&bytes).is_ok_and(|h| h == header)
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
    // No usable cache folder: keep a small file's bytes in memory.
    if header.file_len() as u64 > IN_MEMORY_MAX {
        return Err(Error::invalid(
            gz,
            format!(
                "decompresses to {} bytes, more than fastnn keeps in memory ({IN_MEMORY_MAX}), \
                 and no cache folder is usable ({} and {}: each must be a folder this user \
                 owns and others cannot write); set FASTNN_CACHE to one",
                header.file_len(),
                cache_dir.display(),
                user.map_or("no per-user cache folder".into(), |u| u
                    .display()
                    .to_string())
            ),
        ));
    }
    let mut bytes = Vec::new();
    decompress(gz, &mut bytes, gz).map_err(CacheError::into_error)?;
    IdxFile::new(gz.to_path_buf(), Backing::Owned(bytes))
}

/// Why a cache could not be built: the source `.gz` (fatal) or the
/// destination folder (try another).
enum CacheError {
    Source(Error),
    Dest(Error),
}

impl CacheError {
    fn into_error(self) -> Error {
        match self {
            CacheError::Source(e) | CacheError::Dest(e) => e,
        }
    }
}

/// Decompresses `gz` into `cache` atomically (see
/// [`crate::files::write_atomically`]).
fn build_cache(gz: &Path, cache: &Path) -> Result<(), CacheError> {
    let mut source_error = None;
    let written = crate::files::write_atomically(cache, |out| match decompress(gz, out, cache) {
        Ok(_) => Ok(()),
        Err(CacheError::Dest(e)) => Err(e),
        Err(CacheError::Source(e)) => {
            let message = e.to_string();
            source_error = Some(e);
            Err(Error::Config(message))
        }
    });
    match (written, source_error) {
        (_, Some(e)) => Err(CacheError::Source(e)),
        (Err(e), None) => Err(CacheError::Dest(e)),
        (Ok(()), None) => Ok(()),
    }
}

/// Removes older caches of the same `.gz` (same name and path hash, other
/// contents) that belong to this user.
fn remove_stale_siblings(cache: &Path) {
    let (Some(dir), Some(name)) = (cache.parent(), cache.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let Some((prefix, _)) = name.rsplit_once('.') else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name();
        let other = other.to_string_lossy();
        // Also the `<prefix>-<state>` names of earlier versions.
        let sibling = other
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'));
        if sibling && other != name && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The decompressed bytes of a gzip stream of one or more members,
/// optionally followed by zero padding (which gzip and Python accept).
struct GzMembers<R: BufRead> {
    state: Members<R>,
}

enum Members<R: BufRead> {
    Member(GzDecoder<R>),
    Between(R),
    Done,
}

impl<R: BufRead> GzMembers<R> {
    fn new(input: R) -> Self {
        GzMembers {
            state: Members::Member(GzDecoder::new(input)),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, Members::Done) {
                Members::Member(mut dec) => {
                    let n = dec.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = Members::Member(dec);
                        return Ok(n);
                    }
                    self.state = Members::Between(dec.into_inner());
                }
                Members::Between(mut input) => {
                    let rest = input.fill_buf()?;
                    if rest.is_empty() {
                        return Ok(0);
                    }
                    if rest[0] == 0x1f {
                        self.state = Members::Member(GzDecoder::new(input));
                        continue;
                    }
                    // Only zeros may follow the last member.
                    loop {
                        let rest = input.fill_buf()?;
                        if rest.is_empty() {
                            return Ok(0);
                        }
                        if rest.iter().any(|&b| b != 0) {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "trailing garbage after the gzip data",
                            ));
                        }
                        let n = rest.len();
                        input.consume(n);
                    }
                }
                Members::Done => return Ok(0),
            }
        }
    }
}

/// The decompressed stream of the regular file `gz`.
fn gz_stream(gz: &Path) -> Result<GzMembers<BufReader<fs::File>>> {
    let file = open_regular(gz)?;
    Ok(GzMembers::new(BufReader::with_capacity(1 << 16, file)))
}

/// The IDX header at the start of `gz`'s decompressed data, checked
/// against [`MAX_IDX_DATA_BYTES`]; nothing else is decompressed.
pub fn read_gz_header(gz: &Path) -> Result<Header> {
    let mut dec = gz_stream(gz)?;
    read_head(gz, &mut dec).map(|(header, _, _)| header)
}

/// The first bytes of `gz`'s decompressed stream `dec`: the IDX header
/// parsed and checked against [`MAX_IDX_DATA_BYTES`], and the bytes read
/// (the header and possibly the start of the data) with their count.
#[allow(clippy::type_complexity)]
fn read_head(
    gz: &Path,
    dec: &mut impl Read,
) -> Result<(Header, [u8; PREFIX_LEN + 4 * MAX_DIMS], usize)> {
    let bad = |source| Error::Idx {
        path: gz.to_path_buf(),
        source,
    };
    let mut head = [0u8; PREFIX_LEN + 4 * MAX_DIMS];
    let got = read_full(dec, &mut head).map_err(|(offset, source)| {
        bad(IdxError::Gzip {
            offset: offset as u64,
            source,
        })
    })?;
    let header = parse_header(&head[..got]).map_err(bad)?;
    check_data_size(gz, &header)?;
    Ok((header, head, got))
}

/// Refuses a header declaring more data than [`MAX_IDX_DATA_BYTES`].
pub(super) fn check_data_size(path: &Path, header: &Header) -> Result<()> {
    if header.data_len() as u64 > MAX_IDX_DATA_BYTES {
        return Err(Error::invalid(
            path,
            format!(
                "declares {header}: {} bytes of data, more than fastnn reads ({MAX_IDX_DATA_BYTES}, a limit of fastnn)",
                header.data_len()
            ),
        ));
    }
    Ok(())
}

/// Streams `gz` through the decoder into `out`, reading the IDX header
/// first and refusing to produce more bytes than it declares, so that a
/// corrupt or hostile `.gz` can't fill the disk or memory. Returns the
/// decompressed length. `dest` names `out` in write errors.
fn decompress(gz: &Path, out: &mut dyn Write, dest: &Path) -> Result<u64, CacheError> {
    let mut dec = gz_stream(gz).map_err(CacheError::Source)?;
    let bad = |source| {
        CacheError::Source(Error::Idx {
            path: gz.to_path_buf(),
            source,
        })
    };
    let write_err = |e| CacheError::Dest(Error::io(dest, e));
    let (header, head, got) = read_head(gz, &mut dec).map_err(CacheError::Source)?;
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

/// The SHA-256 of `gz`'s decompressed contents, streamed (validated as
/// [`decompress`] does), without writing anything.
pub(crate) fn hash_gz(gz: &Path) -> Result<[u8; 32]> {
    /// Hashes what is written to it.
    struct HashWriter(Sha256);
    impl Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    decompress(gz, &mut w, gz).map_err(CacheError::into_error)?;
    Ok(w.0.finalize().into())
}

/// The header of a `.gz` IDX file and the counts of each byte value of its
/// data, streamed through the decoder (validated as [`decompress`] does)
/// without writing anything.
pub(super) fn scan_gz(gz: &Path) -> Result<(Header, [u64; 256])> {
    /// Keeps the header bytes and counts the data bytes.
    struct Scan {
        head: Vec<u8>,
        counts: [u64; 256],
    }
    impl Write for Scan {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = (PREFIX_LEN + 4 * MAX_DIMS).saturating_sub(self.head.len());
            let (head, rest) = buf.split_at(room.min(buf.len()));
            self.head.extend_from_slice(head);
            for &b in rest {
                self.counts[b as usize] += 1;
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut scan = Scan {
        head: Vec::new(),
        counts: [0; 256],
    };
    decompress(gz, &mut scan, gz).map_err(CacheError::into_error)?;
    let header = parse_header(&scan.head).map_err(|source| Error::Idx {
        path: gz.to_path_buf(),
        source,
    })?;
    // The first bytes kept as header beyond its real length are data.
    for &b in &scan.head[header.header_len()..] {
        scan.counts[b as usize] += 1;
    }
    Ok((header, scan.counts))
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

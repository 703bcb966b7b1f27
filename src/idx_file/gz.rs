//! The gzip cache: a `.gz` is decompressed once, streamed and bounded by
//! its own IDX header, into a cache file written atomically.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::{Backing, IdxFile, map_or_read};
use crate::idx::{Header, IdxError, MAX_DIMS, PREFIX_LEN, parse, parse_header};
use crate::{Error, Result};

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

pub(super) fn open_gz(gz: &Path, cache_dir: &Path) -> Result<IdxFile> {
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

/// Decompresses `gz` into `cache` atomically (see
/// [`crate::files::write_atomically`]).
fn build_cache(gz: &Path, cache: &Path) -> Result<(), CacheError> {
    let dir = cache.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| CacheError::Dest(Error::io(dir, e)))?;
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
fn decompress(gz: &Path, out: &mut dyn Write, dest: &Path) -> Result<u64, CacheError> {
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
    decompress(gz, &mut scan, gz).map_err(|e| match e {
        CacheError::Source(e) | CacheError::Dest(e) => e,
    })?;
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

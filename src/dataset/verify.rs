//! `fastnn data verify`: the shipped files against their checksums.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::find;
use crate::files::{open_regular, read_bounded};
use crate::idx_file::{cache_dir_for, cached_path, hash_gz};
use crate::limits::MAX_CHECKSUM_FILE_BYTES;
use crate::{Error, Result};

/// The checksum file in the data directory: SHA-256 of each raw
/// (decompressed) IDX file, `sha256sum` format.
pub const CHECKSUM_FILE: &str = "SHA256SUMS";

/// One line of `fastnn data verify`.
#[derive(Clone, Debug)]
pub struct VerifyRow {
    /// The file, relative to the data directory, as in the checksum file.
    pub file: String,
    /// SHA-256 from the checksum file.
    pub expected: String,
    /// SHA-256 of the raw (decompressed) contents, or why it could not be read.
    pub found: String,
    /// Whether `found == expected`.
    pub ok: bool,
}

impl fmt::Display for VerifyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            write!(f, "OK    {}", self.file)
        } else {
            write!(
                f,
                "FAIL  {}: expected sha256 {}, found {}",
                self.file, self.expected, self.found
            )
        }
    }
}

/// Checks every file listed in `dir`'s [`CHECKSUM_FILE`] (lines of
/// `<sha256>  <relative path of the raw IDX file>`), reading the raw file or
/// decompressing its `.gz` as a stream (writing nothing), and the cache of a
/// `.gz`, if there is one, against the same sum: a corrupt cache is named
/// as such, not blamed on the data. A file that is missing or malformed
/// gives a failing row; an unreadable or malformed checksum file is an
/// error.
pub fn verify_data(dir: &Path) -> Result<Vec<VerifyRow>> {
    let sums = dir.join(CHECKSUM_FILE);
    let bytes = read_bounded(&sums, MAX_CHECKSUM_FILE_BYTES, "a checksum file")?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::invalid(&sums, format!("is not UTF-8 text: {e}")))?;
    let cache = cache_dir_for(dir);
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once("  ").filter(|(hash, file)| {
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !file.is_empty()
        });
        let Some((expected, file)) = parsed else {
            return Err(Error::invalid(
                &sums,
                format!("line {}: expected \"<sha256>  <file>\"", n + 1),
            ));
        };
        let path = dir.join(file);
        let (parent, name) = (
            path.parent().unwrap_or(dir),
            path.file_name().map(|n| n.to_string_lossy().into_owned()),
        );
        let expected = expected.to_ascii_lowercase();
        let found = name
            .ok_or_else(|| Error::invalid(&path, "not a file name"))
            .and_then(|name| find(parent, &name))
            .and_then(|p| hash_file(&p, &cache, &expected))
            .unwrap_or_else(|e| e.to_string());
        rows.push(VerifyRow {
            file: file.to_string(),
            ok: found == expected,
            expected,
            found,
        });
    }
    Ok(rows)
}

/// The SHA-256 of the raw contents of `path` (a raw IDX file or a `.gz`,
/// decompressed as a stream), as hex; for a `.gz` whose contents match
/// `expected`, the description of its cache in `cache_dir` instead, if that
/// cache exists and differs.
fn hash_file(path: &Path, cache_dir: &Path, expected: &str) -> Result<String> {
    if path.extension().is_none_or(|e| e != "gz") {
        let mut hasher = Sha256::new();
        let mut file = open_regular(path)?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
        return Ok(hex(&hasher.finalize()));
    }
    let found = hex(&hash_gz(path)?);
    let cache = cached_path(path, cache_dir)?;
    if found == expected && cache.exists() {
        let mut hasher = Sha256::new();
        let cached = open_regular(&cache)
            .and_then(|mut f| std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io(&cache, e)));
        if cached.is_err() || hex(&hasher.finalize()) != expected {
            return Ok(format!(
                "the .gz matches, but its cache {} differs from it: delete the cache and fastnn \
                 rebuilds it",
                cache.display()
            ));
        }
    }
    Ok(found)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

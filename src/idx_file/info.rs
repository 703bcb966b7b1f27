//! `fastnn data info`: what one IDX file holds.

use std::fmt;
use std::path::{Path, PathBuf};

use super::IdxFile;
use crate::idx::{ElemType, Header};
use crate::{Error, Result};

/// What `fastnn data info` prints about one IDX file.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// The file as given.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Its length on disk (for a `.gz`, the compressed length).
    pub disk_len: u64,
    /// For a label file (one dimension of u8): how many of each value,
    /// indexed by value, up to the largest one present.
    pub histogram: Option<Vec<u64>>,
}

impl fmt::Display for FileInfo {
    /// One line with path, type, dims and count; for label files a second
    /// line with the class histogram.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        write!(
            f,
            "{}: {h}, {} values, {} bytes on disk",
            self.path.display(),
            h.count(),
            self.disk_len
        )?;
        if let Some(hist) = &self.histogram {
            write!(f, "\n  classes: {}; histogram:", hist.len())?;
            for (class, n) in hist.iter().enumerate() {
                write!(f, " {class}:{n}")?;
            }
        }
        Ok(())
    }
}

/// Validates one IDX file (raw or `.gz`) and summarizes it. A `.gz` is
/// streamed through the decoder, not cached: looking at a file writes
/// nothing.
pub fn info(path: impl AsRef<Path>) -> Result<FileInfo> {
    let path = path.as_ref();
    let disk_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let (header, counts) = if path.extension().is_some_and(|e| e == "gz") {
        super::gz::scan_gz(path)?
    } else {
        let file = IdxFile::open(path)?;
        let mut counts = [0u64; 256];
        for &b in file.data() {
            counts[b as usize] += 1;
        }
        (*file.header(), counts)
    };
    let histogram = match (header.elem_type(), header.dims().len()) {
        (ElemType::U8, 1) => Some(trim_histogram(&counts)),
        _ => None,
    };
    Ok(FileInfo {
        path: path.to_path_buf(),
        header,
        disk_len,
        histogram,
    })
}

/// Counts of each byte value, trimmed after the largest value present.
fn trim_histogram(counts: &[u64; 256]) -> Vec<u64> {
    let len = counts.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    counts[..len].to_vec()
}

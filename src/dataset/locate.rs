//! Where the built-in datasets are found, and `fastnn data install`.
//!
//! `fashion` and `mnist` are looked for, in this order, in:
//!
//! 1. `$FASTNN_DATA`, if set;
//! 2. the per-user data folder: `fastnn` in the platform's data folder
//!    (`$XDG_DATA_HOME/fastnn` or `~/.local/share/fastnn` on Linux,
//!    `~/Library/Application Support/fastnn` on macOS), where
//!    [`install_data`] copies them;
//! 3. `data/` of the source checkout the binary was built from, while it
//!    exists.
//!
//! The first folder holding `fashion/` (or `mnist/`) is used. A binary
//! installed with `cargo install` keeps working after its checkout is
//! gone once `fastnn data install` has copied the datasets.

use std::fmt;
use std::path::{Path, PathBuf};

use super::verify::{CHECKSUM_FILE, verify_data};
use crate::{Error, Result};

/// What kind of place a [`DataDir`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDirKind {
    /// `$FASTNN_DATA`.
    Env,
    /// The per-user data folder.
    User,
    /// `data/` of the source checkout.
    Checkout,
}

/// A folder where built-in datasets may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    /// What kind of place.
    pub kind: DataDirKind,
    /// The folder.
    pub path: PathBuf,
}

impl fmt::Display for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DataDirKind::Env => "$FASTNN_DATA",
            DataDirKind::User => "the per-user data folder",
            DataDirKind::Checkout => "the source checkout",
        };
        write!(f, "{} ({what})", self.path.display())
    }
}

/// The per-user data folder, if the platform has one.
pub fn user_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("fastnn"))
}

/// The folders searched for built-in datasets, in order: `$FASTNN_DATA`
/// (if set), the per-user data folder ([`user_data_dir`]), then `data/` of
/// the source checkout fastnn was built from; the first holding a dataset
/// is used.
pub fn data_dirs() -> Vec<DataDir> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("FASTNN_DATA").filter(|p| !p.is_empty()) {
        dirs.push(DataDir {
            kind: DataDirKind::Env,
            path: PathBuf::from(p),
        });
    }
    if let Some(path) = user_data_dir() {
        dirs.push(DataDir {
            kind: DataDirKind::User,
            path,
        });
    }
    dirs.push(DataDir {
        kind: DataDirKind::Checkout,
        path: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    });
    dirs
}

/// The folder of built-in dataset `name` (`fashion` or `mnist`): `name/`
/// in the first data folder that has it.
///
/// Fails with a message naming every folder looked in.
pub fn builtin_dir(name: &str) -> Result<PathBuf> {
    let dirs = data_dirs();
    if let Some(d) = dirs.iter().find(|d| d.path.join(name).is_dir()) {
        return Ok(d.path.join(name));
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.to_string()).collect();
    let hint = match user_data_dir() {
        Some(u) => format!(
            "; `fastnn data install` copies the shipped datasets to {}",
            u.display()
        ),
        None => "; set FASTNN_DATA to a folder holding it".into(),
    };
    Err(Error::Config(format!(
        "dataset {name} not found: looked for {name}/ in {}{hint}",
        looked.join(", ")
    )))
}

/// The data folder `fastnn data verify` checks: the first that holds a
/// checksum file.
pub fn checked_data_dir() -> Result<PathBuf> {
    let dirs = data_dirs();
    if let Some(d) = dirs.iter().find(|d| d.path.join(CHECKSUM_FILE).is_file()) {
        return Ok(d.path.clone());
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.to_string()).collect();
    Err(Error::Config(format!(
        "no data folder with a {CHECKSUM_FILE} file: looked in {}",
        looked.join(", ")
    )))
}

/// Copies the shipped datasets (`fashion/`, `mnist/`, the checksum file
/// and the README with their sources and licenses) from the data folder
/// `from` into `to`, each file written atomically, then verifies the copy
/// against the checksums. `from` defaults to the first data folder other
/// than `to` holding a checksum file; `to` to [`user_data_dir`]. Returns
/// the folders copied from and to, and the files written.
pub fn install_data(
    from: Option<&Path>,
    to: Option<&Path>,
) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    let to = match to {
        Some(t) => t.to_path_buf(),
        None => user_data_dir().ok_or_else(|| {
            Error::Config("this platform has no per-user data folder: give one with --to".into())
        })?,
    };
    let from = match from {
        Some(f) => f.to_path_buf(),
        None => data_dirs()
            .into_iter()
            .filter(|d| d.kind != DataDirKind::User && d.path != to)
            .find(|d| d.path.join(CHECKSUM_FILE).is_file())
            .map(|d| d.path)
            .ok_or_else(|| {
                Error::Config(format!(
                    "no shipped datasets to install: neither $FASTNN_DATA nor the source \
                     checkout ({}/data) holds a {CHECKSUM_FILE} file; give the folder with --from",
                    env!("CARGO_MANIFEST_DIR")
                ))
            })?,
    };
    if same_dir(&from, &to) {
        return Err(Error::invalid(
            &to,
            "is the folder the datasets would be copied from",
        ));
    }
    let sums = from.join(CHECKSUM_FILE);
    let text = std::fs::read_to_string(&sums).map_err(|e| Error::io(&sums, e))?;
    let mut files = vec![PathBuf::from(CHECKSUM_FILE)];
    if from.join("README.md").is_file() {
        files.push(PathBuf::from("README.md"));
    }
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((_, file)) = line.split_once("  ") else {
            return Err(Error::invalid(&sums, format!("bad line {line:?}")));
        };
        let rel = Path::new(file);
        if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
            return Err(Error::invalid(
                &sums,
                format!("names a file outside: {file}"),
            ));
        }
        let gz = PathBuf::from(format!("{file}.gz"));
        files.push(if from.join(rel).is_file() {
            rel.to_path_buf()
        } else {
            gz
        });
    }
    let mut written = Vec::new();
    for rel in &files {
        let (src, dst) = (from.join(rel), to.join(rel));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut input = std::fs::File::open(&src).map_err(|e| Error::io(&src, e))?;
        crate::files::write_atomically(&dst, |w| {
            std::io::copy(&mut input, w).map_err(|e| Error::io(&src, e))?;
            Ok(())
        })?;
        written.push(dst);
    }
    let bad: Vec<String> = verify_data(&to)?
        .into_iter()
        .filter(|r| !r.ok)
        .map(|r| r.to_string())
        .collect();
    if !bad.is_empty() {
        return Err(Error::invalid(
            &to,
            format!("the copy does not verify: {}", bad.join("; ")),
        ));
    }
    Ok((from, to, written))
}

/// Whether two paths name the same existing folder.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

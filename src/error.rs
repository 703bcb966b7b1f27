//! The library's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in fastnn, each variant naming the file (if
/// any) and the problem, so that the CLI prints a single clear line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An IDX file is malformed.
    #[error("{}: {source}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: crate::idx::IdxError,
    },
    /// A file is well-formed on its own but does not fit the rest (a dataset
    /// whose label count differs from its image count, a label out of range,
    /// a model whose shapes disagree with its metadata, ...).
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("{0}")]
    Config(String),
    /// Training produced a NaN or infinite loss.
    #[error("training diverged: {0}")]
    Diverged(String),
}

/// `Result` with fastnn's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Invalid`] for `path`.
    pub fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

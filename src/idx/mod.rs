//! The IDX file format: parse, validate, memory-map, zero-copy typed views.
//!
//! (To be written by the IDX work.)

mod map;

/// What is wrong with an IDX file's bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// Fewer bytes than a header needs.
    #[error("file is truncated: {0}")]
    Truncated(String),
}

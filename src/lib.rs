//! fastnn: a hand-optimized CPU trainer for small feed-forward networks on
//! MNIST-format (IDX) image datasets.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[doc(hidden)]
pub mod bench;
pub mod dataset;
mod error;
pub mod idx;
pub mod kernels;
pub mod viz;

pub use error::{Error, Result};

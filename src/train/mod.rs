//! Training: the settings ([`TrainConfig`], [`Preset`], [`TrainOptions`],
//! learning-rate [`Schedule`]s, [`EarlyStopping`]) and the loop
//! ([`Trainer`]).
//!
//! One step is three products per layer on the kernels (forward X·W with
//! bias and activation fused, input gradient dY·Wᵀ with the activation
//! derivative fused, weight gradient Xᵀ·dY with the optimizer update
//! fused), the fused softmax loss and the bias gradients (see
//! [`crate::nn`]). Threads own rows of each weight matrix: for training
//! batches up to 128 the forward product splits k by those rows and the
//! weight gradient and update split by the same rows, so a core keeps its
//! rows of W, of the gradient and of the optimizer state in its cache from
//! step to step. Every split sums in an order fixed by the shapes alone,
//! and every reduction runs in index order, so the result is bitwise
//! identical for any number of threads. An epoch keeps the engine's other
//! workers awake between the parallel products.
//!
//! Training writes no files: checkpoints are the caller's, from the
//! [`Event::EpochEnd`] it observes (as [`crate::TrainRun::fit`] does).

mod config;
mod early_stopping;
mod log;
mod options;
mod schedule;
mod trainer;

pub use config::{MAX_BATCH_SIZE, Preset, TrainConfig};
pub use early_stopping::{EarlyStopping, Monitor, Standing, StopReport};
pub use log::{LogFormat, log_format, log_text};
pub use options::TrainOptions;
pub use schedule::Schedule;
pub use trainer::{EpochStats, Event, Observer, TrainState, Trainer};

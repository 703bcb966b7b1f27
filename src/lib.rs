//! fastnn: a hand-optimized CPU trainer for small feed-forward networks on
//! MNIST-format (IDX) image datasets.
//!
//! It trains the networks of the classic TensorFlow/Keras tutorials
//! (Fashion-MNIST 784-128-10, MNIST 784-128-128-10, Adam, batch 32) one to
//! two orders of magnitude faster, on its own cache-blocked SIMD GEMM kernels
//! ([`kernels`]), reading u8 pixels straight from memory-mapped IDX files
//! with no f32 copy of the data.
//!
//! # Embedding
//!
//! Train on a [`Dataset`] or on your own arrays, evaluate, predict:
//!
//! ```
//! use fastnn::{Engine, Images, Samples, TrainConfig, Trainer, argmax, evaluate, predict};
//!
//! // 300 tiny 4×4 images: class 0 has ink on the left, class 1 on the right.
//! let labels: Vec<u8> = (0..300).map(|i| (i % 2) as u8).collect();
//! let pixels: Vec<u8> = labels
//!     .iter()
//!     .flat_map(|&l| (0..16).map(move |p| if (p % 4 < 2) == (l == 0) { 200 } else { 10 }))
//!     .collect();
//! let data = Samples::from_u8(&pixels, &labels, 4, 4);
//!
//! let engine = Engine::all_cores()?;
//! let config = TrainConfig { hidden: vec![8], epochs: 3, ..TrainConfig::default() }.seed(7);
//! let net = config.build_network(&data, &["left".into(), "right".into()])?;
//! let mut trainer = Trainer::new(&engine, net, config)?;
//! trainer.fit(&data, None, &mut |_event| Ok(()))?;
//! let net = trainer.into_network();
//!
//! assert!(evaluate(&engine, &net, &data)?.accuracy > 0.99);
//! let probabilities = predict(&engine, &net, Images::U8(&pixels), &[0, 1])?;
//! assert_eq!((argmax(&probabilities[0]), argmax(&probabilities[1])), (0, 1));
//! # Ok::<(), fastnn::Error>(())
//! ```
//!
//! # Threads and determinism
//!
//! An [`Engine`] owns the worker threads that training, evaluation and
//! prediction run on; nothing uses rayon's global pool. Each thread of a
//! training step owns rows of the weights: small batches split the forward
//! product's k over a fixed tree of blocks and the weight gradient, with
//! the optimizer update fused, by the same rows; otherwise work is split
//! over disjoint output tiles. Every split sums in an order fixed by the
//! shapes, and every reduction runs in index order, so the same seed and
//! settings give a bitwise-identical model for any number of threads. A
//! [`Network`] and an [`Engine`] are `Send + Sync`; a [`Trainer`] is used
//! by one thread at a time.
//!
//! # SIMD paths
//!
//! The kernels use `wide`, whose vector width is fixed when compiling:
//! AVX-512 or AVX2+FMA on x86-64, NEON on aarch64, scalar otherwise. The
//! repository builds for the host CPU (`.cargo/config.toml`);
//! [`kernels::describe`] names the compiled path and
//! [`kernels::ensure_supported`] refuses a CPU that lacks it.
//!
//! # Features
//!
//! - `viz` (default): the pictures ([`viz`]): PNG grids, prediction cards,
//!   curves, terminal previews, reading a user's own image. Without it
//!   (`default-features = false`) the library builds without the image,
//!   plotting and font crates.
//! - `cli` (default): the `fastnn` binary; derives clap's parsers on the
//!   option types ([`TrainOptions`]) and enums.
//! - `onnx` (default, with `cli`): [`onnx`], exporting a model as an ONNX
//!   graph (`fastnn export`).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod dataset;
mod engine;
mod error;
mod files;
#[doc(hidden)]
pub mod idx;
#[doc(hidden)]
pub mod idx_file;
mod infer;
pub mod kernels;
pub mod limits;
#[doc(hidden)]
pub mod model;
#[doc(hidden)]
pub mod nn;
#[cfg(feature = "onnx")]
pub mod onnx;
mod preprocess;
mod run;
mod samples;
pub mod sweep;
#[doc(hidden)]
pub mod train;
#[cfg(feature = "viz")]
pub mod viz;

pub use dataset::{
    DataDir, DataDirKind, Dataset, DatasetSource, FASHION_CLASSES, MNIST_CLASSES, Split, VerifyRow,
    data_dirs, install_data, user_data_dir, verify_data,
};
pub use engine::{Engine, MAX_THREADS, available_cores};
pub use error::{Error, Result};
pub use files::remove_temp_files;
pub use infer::{
    ClassMetrics, ClassificationReport, EVAL_BATCH, Evaluation, TopK, argmax, evaluate, likeliest,
    predict,
};
pub use model::{
    Labels, Loaded, Provenance, checkpoint_bytes, checkpoint_path, load_bytes, load_model,
    model_bytes, save_checkpoint, save_model,
};
pub use nn::{
    Activation, AdamConfig, Architecture, Augment, Dense, Elastic, Init, Loss, Network,
    OptimizerConfig, OptimizerKind, RmsPropConfig, SgdConfig,
};
pub use preprocess::{FittedPreprocess, Preprocess};
pub use run::{
    Gap, RunSummary, TrainRun, check_outputs, dataset_spec, describe, model_dataset, open_dataset,
    training_part, write_json,
};
pub use samples::{Images, Samples};
pub use train::{
    EarlyStopping, EpochStats, Event, Monitor, Observer, Preset, Schedule, StopReport, TrainConfig,
    TrainOptions, TrainState, Trainer, keras_time,
};

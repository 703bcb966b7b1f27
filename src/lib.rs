//! fastnn: a hand-optimized CPU trainer for small feed-forward networks on
//! MNIST-format (IDX) image datasets.
//!
//! It trains the networks of the classic TensorFlow/Keras tutorials
//! (Fashion-MNIST 784-128-10, MNIST 784-128-128-10, Adam, batch 32) one to
//! two orders of magnitude faster, on its own cache-blocked SIMD GEMM kernels
//! ([`kernels`]), reading u8 pixels straight from memory-mapped IDX files
//! ([`idx`], [`dataset`]) with no f32 copy of the data.
//!
//! # Embedding
//!
//! Train on a [`dataset::Dataset`] or on your own arrays, evaluate, predict:
//!
//! ```
//! use fastnn::train::{Inputs, Samples, TrainConfig, Trainer};
//! use fastnn::{evaluate, predict};
//!
//! // 300 tiny 4×4 images: class 0 has ink on the left, class 1 on the right.
//! let labels: Vec<u8> = (0..300).map(|i| (i % 2) as u8).collect();
//! let pixels: Vec<u8> = labels
//!     .iter()
//!     .flat_map(|&l| (0..16).map(move |p| if (p % 4 < 2) == (l == 0) { 200 } else { 10 }))
//!     .collect();
//! let data = Samples::from_u8(&pixels, &labels, 4, 4);
//!
//! let config = TrainConfig { hidden: vec![8], epochs: 3, ..TrainConfig::default() }.seed(7);
//! let mut net = config.build_network(&data, &["left".into(), "right".into()])?;
//! Trainer::new(&net, config)?.fit(&mut net, &data, None, &mut |_event| {})?;
//!
//! assert!(evaluate(&net, &data)?.accuracy > 0.99);
//! let probabilities = predict(&net, Inputs::U8(&pixels), &[0, 1])?;
//! assert!(probabilities[0][0] > 0.5 && probabilities[1][1] > 0.5);
//! # Ok::<(), fastnn::Error>(())
//! ```
//!
//! # SIMD paths
//!
//! The kernels use `wide`, whose vector width is fixed when compiling:
//! AVX-512 or AVX2+FMA on x86-64, NEON on aarch64, scalar otherwise. The
//! repository builds for the host CPU (`.cargo/config.toml`);
//! [`kernels::cpu::describe`] names the compiled path and
//! [`kernels::cpu::ensure_supported`] refuses a CPU that lacks it.
//!
//! # Threads and determinism
//!
//! Training and evaluation use the current rayon pool (run them inside
//! `ThreadPool::install` to choose the thread count, and create the
//! [`Trainer`] there too). Each thread of a training step owns rows of the
//! weights: small batches split the forward product's k over a fixed tree of
//! blocks ([`kernels::gemm_k_tree`]) and the weight gradient, with the
//! optimizer update fused, by the same rows; otherwise work is split over
//! disjoint output tiles. Every split sums in an order fixed by the shapes,
//! and every reduction runs in index order, so the same seed and settings
//! give a bitwise-identical model for any number of threads. A [`Network`]
//! is `Send + Sync`; a [`Trainer`] is used by one thread at a time.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[doc(hidden)]
pub mod bench;
pub mod dataset;
mod error;
pub mod idx;
pub mod kernels;
pub mod model;
pub mod nn;
pub mod pool;
pub mod preprocess;
pub mod train;
pub mod viz;

pub use dataset::{Dataset, DatasetSource, Split};
pub use error::{Error, Result};
pub use nn::Network;
pub use train::{Samples, TrainConfig, Trainer, evaluate, predict};

//! Sweeps: many small training runs at once (seeds for error bars, grids
//! of widths, learning rates, batch sizes), filling every core of one
//! machine, and sharded across many.
//!
//! A batch-32 step of these networks is too small to keep many cores
//! busy, but a sweep is many independent runs: each trains on its own
//! [`crate::Engine`] of `K` threads (`--threads-per-run`, 1 by default,
//! the most efficient), `floor(threads / K)` at a time, all reading one
//! memory map of the dataset. Every run is what `fastnn train` does with
//! the same flags and gives the same bits.
//!
//! - [`grid`]: the `train` flags (read from clap's definition of
//!   [`crate::TrainOptions`], so every train flag is sweepable), each
//!   given a list of values, and a spec file, expanded into checked runs;
//! - [`runner`]: the runs, packed onto the cores;
//! - [`record`]: the results file, one JSON line per finished run,
//!   appended with one write each, so an interrupted sweep leaves whole
//!   lines and the same command continues it;
//! - [`shard`]: `--shard I/N`, a deterministic share of the runs for a
//!   task of a Slurm job array or a Kubernetes Indexed Job, and [`merge`],
//!   shards' files as one;
//! - [`summary`]: mean ± std over seeds, best first; `plot`: the pictures.
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//! use fastnn::sweep::{Datasets, Packing, RunTask, Runner, settings_of};
//! use fastnn::TrainOptions;
//! # let dir = tempfile::tempdir()?;
//! # let n = 64;
//! # let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
//! # let images: Vec<u8> = (0..n * 16).map(|i| (i * 37 % 251) as u8).collect();
//! # let idx = |dims: &[u32], data: &[u8]| {
//! #     let mut v = vec![0, 0, 8, dims.len() as u8];
//! #     dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
//! #     v.extend(data);
//! #     v
//! # };
//! # for p in ["train", "t10k"] {
//! #     std::fs::write(dir.path().join(format!("{p}-images-idx3-ubyte")), idx(&[n as u32, 4, 4], &images))?;
//! #     std::fs::write(dir.path().join(format!("{p}-labels-idx1-ubyte")), idx(&[n as u32], &labels))?;
//! # }
//! # let folder = dir.path().display().to_string();
//! // Two seeds of one setting on a dataset folder, two runs at once.
//! let options: Vec<TrainOptions> = (1..=2)
//!     .map(|seed| TrainOptions {
//!         dataset: Some(folder.clone()),
//!         hidden: Some(vec![8]),
//!         epochs: Some(2),
//!         seed: Some(seed),
//!         ..TrainOptions::default()
//!     })
//!     .collect();
//! let settings: Vec<_> = options
//!     .iter()
//!     .map(|o| settings_of(o, &[], o.seed.unwrap()))
//!     .collect::<fastnn::Result<_>>()?;
//! let tasks: Vec<RunTask> = (0..2)
//!     .map(|i| RunTask { index: i, options: &options[i], settings: &settings[i] })
//!     .collect();
//! let datasets = Datasets::open(&options)?;
//! let stop = AtomicBool::new(false);
//! let runner = Runner {
//!     packing: Packing::new(Some(2), 1, tasks.len())?,
//!     datasets: &datasets,
//!     save_models: None,
//!     stop: &stop,
//! };
//! let mut records = Vec::new();
//! let stats = runner.run(&tasks, &mut |r| {
//!     records.push(r);
//!     Ok(())
//! })?;
//! assert_eq!((stats.finished, records.len()), (2, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The most runs one sweep may plan: far more than a cluster trains in a
/// day, few enough that a typo in `--seeds` cannot exhaust the memory.
pub const MAX_RUNS: usize = 100_000;

#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
pub mod grid;
pub mod merge;
#[cfg(feature = "viz")]
mod plot;
pub mod record;
pub mod runner;
pub mod shard;
pub mod summary;

#[cfg(feature = "cli")]
pub use cli::{MergeArgs, SweepArgs, SweepCommand, first_signal_stops_sweep, run_cli};
#[cfg(feature = "cli")]
pub use grid::{GridArgs, Plan, PlannedRun};
pub use merge::{Conflict, Merged};
#[cfg(feature = "viz")]
pub use plot::{PlotX, write_plots};
pub use record::{
    ResultsFile, ResultsLog, RunRecord, Settings, parse_results, read_results, settings_key,
    settings_of,
};
pub use runner::{Datasets, Packing, RunStats, RunTask, Runner, model_file_name};
pub use shard::Shard;
pub use summary::{Stats, Summary};

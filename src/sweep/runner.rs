//! Running a sweep's runs at once: each dataset mapped once and shared by
//! every run, `floor(threads / K)` runs at a time, each on its own
//! [`Engine`] of K threads, so the cores are filled and never
//! oversubscribed.
//!
//! A run is what `fastnn train` does with the same flags (a
//! [`TrainRun`], fitted, then evaluated on the test set), and its model
//! has the same bits: bits never depend on the thread count, and runs
//! share nothing but the read-only dataset.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::record::{RunRecord, settings_key};
use crate::dataset::{Dataset, DatasetSource};
use crate::engine::{Engine, MAX_THREADS, available_cores};
use crate::model::save_model;
use crate::run::{TrainRun, dataset_spec};
use crate::train::TrainOptions;
use crate::{Error, Result};

/// How runs are packed onto the cores: `concurrent` runs at once, each on
/// `threads_per_run` threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packing {
    /// Threads of each run's engine.
    pub threads_per_run: usize,
    /// Runs training at the same time.
    pub concurrent: usize,
}

impl Packing {
    /// `threads` in all (all cores when `None`), `per_run` for each run:
    /// as many runs at once as fit whole, never more than `runs`.
    ///
    /// Fails if not even one run fits.
    pub fn new(threads: Option<usize>, per_run: usize, runs: usize) -> Result<Packing> {
        let threads = threads.unwrap_or_else(|| available_cores().min(MAX_THREADS));
        if per_run == 0 || threads == 0 {
            return Err(Error::Config("thread counts must be at least 1".into()));
        }
        if per_run > threads {
            return Err(Error::Config(format!(
                "--threads-per-run {per_run} is more than the {threads} threads the sweep may \
                 use (--threads, all cores by default)"
            )));
        }
        Ok(Packing {
            threads_per_run: per_run,
            concurrent: (threads / per_run).min(runs).max(1),
        })
    }

    /// Threads busy when every slot trains.
    pub fn threads(&self) -> usize {
        self.threads_per_run * self.concurrent
    }
}

/// The datasets of a sweep's runs, each opened (mapped) once.
#[derive(Debug, Default)]
pub struct Datasets {
    open: Vec<(String, Arc<Dataset>)>,
}

impl Datasets {
    /// Opens every dataset the runs `options` train on, once each.
    pub fn open<'a>(options: impl IntoIterator<Item = &'a TrainOptions>) -> Result<Datasets> {
        let mut d = Datasets::default();
        for o in options {
            let source: DatasetSource = o.dataset().parse()?;
            let spec = dataset_spec(&source);
            if d.get(&spec).is_none() {
                d.open.push((spec, Arc::new(Dataset::open(&source)?)));
            }
        }
        Ok(d)
    }

    /// The dataset `spec` names (see [`dataset_spec`]).
    fn get(&self, spec: &str) -> Option<&Arc<Dataset>> {
        self.open.iter().find(|(s, _)| s == spec).map(|(_, d)| d)
    }
}

/// One run to train: its place in the grid and its options.
#[derive(Clone, Copy, Debug)]
pub struct RunTask<'a> {
    /// Its place in the grid (see [`RunRecord::index`]).
    pub index: usize,
    /// Its options.
    pub options: &'a TrainOptions,
    /// Its settings (see [`super::Settings`]).
    pub settings: &'a super::Settings,
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunStats {
    /// Runs finished (and handed on).
    pub finished: usize,
    /// Whether it stopped early on the stop flag.
    pub interrupted: bool,
    /// Wall-clock seconds from the first run's start to the end.
    pub seconds: f64,
    /// Useful work of the finished runs' training steps, in GFLOP.
    pub train_gflop: f64,
}

impl RunStats {
    /// Finished runs per hour of wall-clock time.
    pub fn models_per_hour(&self) -> f64 {
        self.finished as f64 * 3600.0 / self.seconds.max(1e-9)
    }

    /// Training work per second over the whole sweep.
    pub fn gflops(&self) -> f64 {
        self.train_gflop / self.seconds.max(1e-9)
    }
}

/// The name of a run's model file in `--save-models DIR`, from its
/// settings: the same in every shard and every sweep.
pub fn model_file_name(key: &str) -> String {
    let hash = Sha256::digest(key.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("run-{hex}.safetensors")
}

/// Trains runs concurrently (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Runner<'a> {
    /// How runs share the cores.
    pub packing: Packing,
    /// The runs' datasets.
    pub datasets: &'a Datasets,
    /// Where to save each run's model, if anywhere.
    pub save_models: Option<&'a Path>,
    /// Set (by a signal handler, say) to stop: no run starts after it,
    /// and runs in progress stop at their next step and are dropped.
    pub stop: &'a AtomicBool,
}

/// One finished run, from a worker.
struct Finished {
    record: RunRecord,
    gflop: f64,
}

impl Runner<'_> {
    /// Trains `tasks`, the first `packing.concurrent` at once, the next
    /// as each finishes, handing each finished run's record to `done`
    /// (on the calling thread, in the order they finish). An error from a
    /// run or from `done` stops the sweep (runs in progress are dropped)
    /// and is returned; a training loss that diverges is a finished run
    /// with its `error` set.
    pub fn run(
        &self,
        tasks: &[RunTask<'_>],
        done: &mut dyn FnMut(RunRecord) -> Result<()>,
    ) -> Result<RunStats> {
        let started = Instant::now();
        let abort = AtomicBool::new(false);
        let halt = || self.stop.load(Ordering::Relaxed) || abort.load(Ordering::Relaxed);
        let next = AtomicUsize::new(0);
        let mut stats = RunStats::default();
        let mut failure = None;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<Result<Finished>>();
            for _ in 0..self.packing.concurrent.min(tasks.len()) {
                let (tx, next, halt) = (tx.clone(), &next, &halt);
                scope.spawn(move || {
                    let engine = match Engine::new(self.packing.threads_per_run) {
                        Ok(e) => e,
                        Err(e) => return drop(tx.send(Err(e))),
                    };
                    while !halt() {
                        let Some(task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let (result, last) = match self.train(&engine, task, halt) {
                            Ok(Some(f)) => (Ok(f), false),
                            Ok(None) => break,
                            Err(e) => (Err(e), true),
                        };
                        // A closed channel: the sweep is over, train no more.
                        if tx.send(result).is_err() || last {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for message in rx {
                let result = message.and_then(|f| {
                    let gflop = f.gflop;
                    done(f.record).map(|()| gflop)
                });
                match result {
                    Ok(gflop) if failure.is_none() => {
                        stats.finished += 1;
                        stats.train_gflop += gflop;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        abort.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        stats.seconds = started.elapsed().as_secs_f64();
        stats.interrupted = self.stop.load(Ordering::Relaxed) && stats.finished < tasks.len();
        Ok(stats)
    }

    /// Trains one run as `fastnn train` does (a [`TrainRun`] on the shared
    /// dataset, fitted, then evaluated on the test set); `None` if stopped.
    fn train(
        &self,
        engine: &Engine,
        task: &RunTask<'_>,
        halt: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<Finished>> {
        let started = Instant::now();
        let spec = dataset_spec(&task.options.dataset().parse()?);
        let ds = self
            .datasets
            .get(&spec)
            .ok_or_else(|| Error::Config(format!("the dataset {spec} was not opened")))?;
        let mut run = TrainRun::on_dataset(engine, task.options, Arc::clone(ds), spec.clone())?;
        let fit_started = Instant::now();
        let fit = run.fit(None, None, &mut |_| {
            if halt() {
                Err(Error::Config("stopped".into()))
            } else {
                Ok(())
            }
        });
        let train_seconds = fit_started.elapsed().as_secs_f64();
        let trainer = run.trainer();
        let (test, error) = match fit {
            Ok(()) => (Some(trainer.evaluate(&ds.test())?), None),
            Err(_) if halt() => return Ok(None),
            Err(e @ Error::Diverged(_)) => (None, Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let model = match (self.save_models, &test) {
            (Some(dir), Some(_)) => {
                let path = dir.join(model_file_name(&settings_key(task.settings)));
                save_model(&path, trainer.network(), &run.provenance())?;
                Some(path)
            }
            _ => None,
        };
        let arch = trainer.network().architecture();
        let per_image = (arch.forward_flops() + arch.backward_flops()) as f64;
        let epochs = trainer.history().to_vec();
        let gflop = per_image * ds.train().len() as f64 * epochs.len() as f64 / 1e9;
        let record = RunRecord {
            index: task.index,
            settings: task.settings.clone(),
            test_accuracy: test.as_ref().map(|t| t.accuracy),
            test_loss: test.as_ref().map(|t| t.loss),
            epochs,
            seconds: started.elapsed().as_secs_f64(),
            train_seconds,
            threads: engine.threads(),
            dataset: spec,
            config: trainer.config().clone(),
            error,
            model,
            fastnn_version: env!("CARGO_PKG_VERSION").into(),
        };
        Ok(Some(Finished { record, gflop }))
    }
}

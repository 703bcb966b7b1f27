//! A training run as the command line does it, for any front end: the
//! dataset named by the options, a fresh trainer or one continued from a
//! checkpoint (under [`TrainOptions::resume`]'s policy), a checkpoint after
//! every epoch, the train/test gap and the run's summary.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::dataset::{Dataset, DatasetSource};
use crate::engine::Engine;
use crate::infer::Evaluation;
use crate::model::{Loaded, Provenance, load_model, save_checkpoint};
use crate::nn::Architecture;
use crate::samples::Samples;
use crate::train::{EpochStats, Event, Observer, TrainConfig, TrainOptions, Trainer};
use crate::{Error, Result};

/// A dataset, a trainer for it, and what identifies the dataset in the
/// files the run writes.
#[derive(Debug)]
pub struct TrainRun {
    dataset: Dataset,
    dataset_spec: String,
    trainer: Trainer,
    notes: Vec<String>,
    resumed_after: usize,
}

/// What identifies a dataset in a model file so that it is found again
/// from any folder: `fashion`, `mnist`, or the folder's absolute path.
pub fn dataset_spec(source: &DatasetSource) -> String {
    match source {
        DatasetSource::Dir(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        builtin => builtin.to_string(),
    }
}

/// Opens the dataset named by `spec` (`fashion`, `mnist` or a folder).
pub fn open_dataset(spec: &str) -> Result<Dataset> {
    Dataset::open(&spec.parse()?)
}

/// The dataset a loaded model (read from `model`) is used on: `given`,
/// else the one it was trained on; fails unless the network takes that
/// dataset's images and predicts its classes.
pub fn model_dataset(model: &Path, loaded: &Loaded, given: Option<&str>) -> Result<Dataset> {
    let spec = match given {
        Some(s) => s.to_string(),
        None if loaded.provenance.dataset.is_empty() => {
            return Err(Error::invalid(
                model,
                "does not say which dataset it was trained on: give --dataset",
            ));
        }
        None => loaded.provenance.dataset.clone(),
    };
    let ds = open_dataset(&spec)?;
    let arch = loaded.network.architecture();
    if !crate::samples::network_takes((arch.rows, arch.cols), (ds.rows(), ds.cols())) {
        return Err(Error::invalid(
            model,
            format!(
                "takes {}x{} images but {} has {}x{}",
                arch.rows,
                arch.cols,
                ds.name(),
                ds.rows(),
                ds.cols()
            ),
        ));
    }
    if arch.classes != ds.classes().len() {
        return Err(Error::invalid(
            model,
            format!(
                "has {} classes but {} has {}",
                arch.classes,
                ds.name(),
                ds.classes().len()
            ),
        ));
    }
    Ok(ds)
}

impl TrainRun {
    /// A fresh run: the options' dataset and a new network and trainer.
    pub fn new(engine: &Engine, options: &TrainOptions) -> Result<TrainRun> {
        let config = options.config()?;
        let source: DatasetSource = options.dataset().parse()?;
        let dataset = Dataset::open(&source)?;
        let net = config.build_network(&dataset.train(), dataset.classes())?;
        let trainer = Trainer::new(engine, net, config)?;
        Ok(TrainRun {
            dataset,
            dataset_spec: dataset_spec(&source),
            trainer,
            notes: Vec::new(),
            resumed_after: 0,
        })
    }

    /// Continues the run saved in `checkpoint`, on its dataset, with the
    /// settings [`TrainOptions::resume`] allows to change.
    pub fn resume(engine: &Engine, options: &TrainOptions, checkpoint: &Path) -> Result<TrainRun> {
        let loaded = load_model(checkpoint)?;
        let Some(mut state) = loaded.checkpoint else {
            return Err(Error::invalid(
                checkpoint,
                "is a model, not a checkpoint (it has no optimizer state)",
            ));
        };
        let saved_spec = loaded.provenance.dataset;
        let spec = match &options.dataset {
            None if saved_spec.is_empty() => {
                return Err(Error::invalid(
                    checkpoint,
                    "does not say which dataset it was trained on: give --dataset",
                ));
            }
            None => saved_spec,
            Some(given) => {
                let given = dataset_spec(&given.parse()?);
                if !saved_spec.is_empty() && given != saved_spec {
                    return Err(Error::Config(format!(
                        "--dataset {given} differs from the checkpoint's dataset {saved_spec}; \
                         a resumed run continues on its own dataset"
                    )));
                }
                given
            }
        };
        let (config, notes) = options.resume(&state.config)?;
        let done = state.history.len();
        if config.epochs < done {
            return Err(Error::Config(format!(
                "--epochs {} is fewer than the {done} the checkpoint has done",
                config.epochs
            )));
        }
        state.config = config;
        let dataset = open_dataset(&spec)?;
        let trainer = Trainer::resume(engine, loaded.network, state)?;
        Ok(TrainRun {
            dataset,
            dataset_spec: spec,
            trainer,
            notes,
            resumed_after: done,
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// What identifies the dataset (see [`dataset_spec`]).
    pub fn dataset_spec(&self) -> &str {
        &self.dataset_spec
    }

    /// The trainer.
    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    /// The trainer, to change its kernels or epochs.
    pub fn trainer_mut(&mut self) -> &mut Trainer {
        &mut self.trainer
    }

    /// What the resume policy changed, one sentence each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The epochs a resumed run had done already (0 for a fresh one).
    pub fn resumed_after(&self) -> usize {
        self.resumed_after
    }

    /// What the model files of this run say it was trained on.
    pub fn provenance(&self) -> Provenance {
        Provenance {
            dataset: self.dataset_spec.clone(),
            labels: None,
        }
    }

    /// One line of the settings: `784-128-10 relu, xent loss, adam lr 0.001, …`.
    pub fn description(&self) -> String {
        describe(
            self.trainer.network().architecture(),
            self.trainer.config(),
            self.trainer.engine().threads(),
        )
    }

    /// Trains the remaining epochs, evaluating on `validation` after each
    /// and saving a checkpoint into `checkpoints` (when given) after each,
    /// before the observer sees [`Event::EpochEnd`].
    pub fn fit(
        &mut self,
        validation: Option<&Samples>,
        checkpoints: Option<&Path>,
        observer: &mut Observer<'_>,
    ) -> Result<()> {
        let provenance = self.provenance();
        let train = self.dataset.train();
        let mut observe = |event: Event<'_>| {
            if let (Event::EpochEnd { trainer, .. }, Some(dir)) = (&event, checkpoints) {
                save_checkpoint(dir, trainer, &provenance)?;
            }
            observer(event)
        };
        self.trainer.fit(&train, validation, &mut observe)?;
        Ok(())
    }

    /// The train/test accuracy gap after the last epoch, if one ran.
    pub fn gap(&self, test: &Evaluation) -> Option<Gap> {
        self.trainer.history().last().map(|last| Gap {
            train_accuracy: last.accuracy,
            test_accuracy: test.accuracy,
        })
    }

    /// The run's summary (what `--json` writes).
    pub fn summary(&self, test: &Evaluation, train_seconds: f64) -> RunSummary {
        RunSummary {
            fastnn_version: env!("CARGO_PKG_VERSION").into(),
            simd: crate::kernels::cpu::describe(),
            dataset: self.dataset_spec.clone(),
            threads: self.trainer.engine().threads(),
            config: self.trainer.config().clone(),
            architecture: self.trainer.network().architecture().clone(),
            epochs: self.trainer.history().to_vec(),
            train_seconds,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
        }
    }
}

/// One line of the settings of a run on `threads` threads.
pub fn describe(arch: &Architecture, c: &TrainConfig, threads: usize) -> String {
    let widths: Vec<String> = std::iter::once(arch.inputs())
        .chain(arch.widths())
        .map(|w| w.to_string())
        .collect();
    format!(
        "{} {}, {} loss, {} lr {:?}, batch {}, {} epochs, preprocess {}, seed {}, {threads} threads",
        widths.join("-"),
        format!("{:?}", arch.activation).to_lowercase(),
        arch.loss.name(),
        c.optimizer.name(),
        c.optimizer.lr(),
        c.batch_size,
        c.epochs,
        arch.preprocess.name(),
        c.seed,
    )
}

/// The gap between the last epoch's training accuracy and the test
/// accuracy: how much better the network fits the images it learned from
/// than unseen ones.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Gap {
    /// Training accuracy over the last epoch.
    pub train_accuracy: f64,
    /// Test accuracy after training.
    pub test_accuracy: f64,
}

impl Gap {
    /// The gap in percentage points.
    pub fn points(&self) -> f64 {
        (self.train_accuracy - self.test_accuracy) * 100.0
    }

    /// What the gap says about overfitting.
    pub fn verdict(&self) -> &'static str {
        let gap = self.points();
        if gap > 1.0 {
            "The network fits the training images better than unseen ones: that gap is overfitting."
        } else if gap < 0.0 {
            "No overfitting yet (the training figure averages an epoch of still-improving weights)."
        } else {
            "Little overfitting so far."
        }
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Train accuracy {:.4} vs test accuracy {:.4}: a gap of {:.1} points. {}",
            self.train_accuracy,
            self.test_accuracy,
            self.points(),
            self.verdict()
        )
    }
}

/// What `fastnn train --json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The version that trained.
    pub fastnn_version: String,
    /// The compiled and detected SIMD paths.
    pub simd: String,
    /// The dataset (see [`dataset_spec`]).
    pub dataset: String,
    /// Threads of the engine.
    pub threads: usize,
    /// The settings.
    pub config: TrainConfig,
    /// The network's shape.
    pub architecture: Architecture,
    /// Every epoch's metrics.
    pub epochs: Vec<EpochStats>,
    /// Seconds from the first epoch's start to the last one's end.
    pub train_seconds: f64,
    /// Test loss after training.
    pub test_loss: f64,
    /// Test accuracy after training.
    pub test_accuracy: f64,
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(path, format!("cannot write JSON: {e}")))?;
    crate::files::write_bytes(path, (text + "\n").as_bytes())
}

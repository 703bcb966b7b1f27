//! A training run as the command line does it, for any front end: the
//! dataset named by the options, the validation samples (the held-out end
//! of the training set, or another dataset's test split), a fresh trainer
//! or one continued from a checkpoint (under [`TrainOptions::resume`]'s
//! policy), a checkpoint and the per-epoch log after every epoch, the
//! train/test gap and the run's summary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::dataset::{Dataset, DatasetSource, Split};
use crate::engine::Engine;
use crate::infer::Evaluation;
use crate::model::{Loaded, Provenance, checkpoint_path, load_model, save_checkpoint};
use crate::nn::Architecture;
use crate::samples::Samples;
use crate::train::{
    EpochStats, Event, Observer, StopReport, TrainConfig, TrainOptions, Trainer, log_format,
    log_text,
};
use crate::{Error, Result};

/// A dataset, a trainer for it, and what identifies the dataset in the
/// files the run writes.
#[derive(Debug)]
pub struct TrainRun {
    dataset: Arc<Dataset>,
    dataset_spec: String,
    trainer: Trainer,
    notes: Vec<String>,
    resumed_after: usize,
    /// `--validation-data`: validation on this dataset's test split.
    validation_data: Option<Dataset>,
    /// `--log`.
    log: Option<PathBuf>,
}

/// How many of `n` training images stay for training when the last
/// fraction `split` is held out, as Keras computes it
/// (`int(n * (1 - split))`, with the split read as the decimal it was
/// written as).
pub fn training_part(n: usize, split: f32) -> usize {
    let split: f64 = split.to_string().parse().unwrap_or(split as f64);
    ((n as f64 * (1.0 - split)).floor() as usize).min(n)
}

/// Opens `spec` as validation data for `dataset`: its test split, which
/// must hold images of the same size and labels of the same classes.
fn open_validation(spec: &str, dataset: &Dataset) -> Result<Dataset> {
    let val = open_dataset(spec)?;
    if (val.rows(), val.cols()) != (dataset.rows(), dataset.cols()) {
        return Err(Error::Config(format!(
            "--validation-data {spec} has {}x{} images but {} has {}x{}",
            val.rows(),
            val.cols(),
            dataset.name(),
            dataset.rows(),
            dataset.cols()
        )));
    }
    if val.classes().len() != dataset.classes().len() {
        return Err(Error::Config(format!(
            "--validation-data {spec} has {} classes but {} has {}",
            val.classes().len(),
            dataset.name(),
            dataset.classes().len()
        )));
    }
    Ok(val)
}

/// The part of `dataset`'s training set a run with `config` trains on.
fn train_part<'a>(dataset: &'a Dataset, config: &TrainConfig) -> Result<Samples<'a>> {
    let all = dataset.train();
    let keep = training_part(all.len(), config.validation_split);
    if config.validation_split > 0.0 && (keep == 0 || keep == all.len()) {
        return Err(Error::Config(format!(
            "--validation-split {} of {} training images leaves {} to train on and {} to \
             validate on",
            config.validation_split,
            all.len(),
            keep,
            all.len() - keep
        )));
    }
    Ok(all.range(0, keep))
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

/// Checks, before any work, that each of `files` can be written (its
/// folder exists and takes new files; it is not a folder, nor a device that
/// must not be replaced) and creates each of `dirs` (checking it takes new
/// files), so that a mistyped output path fails before training, not
/// after.
pub fn check_outputs(files: &[&Path], dirs: &[&Path]) -> Result<()> {
    for f in files {
        crate::files::check_output(f)?;
    }
    for d in dirs {
        crate::files::prepare_output_dir(d)?;
    }
    Ok(())
}

/// Opens the dataset named by `spec` (`fashion`, `mnist` or a folder).
pub fn open_dataset(spec: &str) -> Result<Dataset> {
    Dataset::open(&spec.parse()?)
}

/// The test split of the dataset a loaded model (read from `model`) is used
/// on: `given`, else the one it was trained on (evaluation needs no
/// training files); fails unless the network takes that dataset's images
/// and predicts its classes.
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
    let ds = Dataset::open_test(&spec.parse()?)?;
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
    // Without class names a dataset's count is its largest label + 1, which
    // a test split may undercount: then only its labels must fit.
    if arch.classes != ds.classes().len()
        && (ds.has_class_names() || arch.classes < ds.classes().len())
    {
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
        options.config()?;
        let source: DatasetSource = options.dataset().parse()?;
        let dataset = Arc::new(Dataset::open(&source)?);
        TrainRun::on_dataset(engine, options, dataset, dataset_spec(&source))
    }

    /// A fresh run on a dataset already open, which runs may share (a
    /// sweep maps each dataset once for all its runs); `spec` identifies
    /// it (see [`dataset_spec`]).
    pub fn on_dataset(
        engine: &Engine,
        options: &TrainOptions,
        dataset: Arc<Dataset>,
        spec: String,
    ) -> Result<TrainRun> {
        let config = options.config()?;
        let validation_data = match &options.validation_data {
            Some(spec) => Some(open_validation(spec, &dataset)?),
            None => None,
        };
        let net = config.build_network(&train_part(&dataset, &config)?, dataset.classes())?;
        let trainer = Trainer::new(engine, net, config)?;
        Ok(TrainRun {
            dataset,
            dataset_spec: spec,
            trainer,
            notes: Vec::new(),
            resumed_after: 0,
            validation_data,
            log: options.log.clone(),
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
        let mut notes = notes;
        if let Some(path) = options.log.as_deref()
            && log_format(path).is_none()
        {
            return Err(Error::invalid(
                path,
                "a log's name must end in .csv or .jsonl",
            ));
        }
        let best = config
            .early_stopping
            .filter(|es| es.restore_best)
            .and_then(|es| es.standing(&state.history));
        state.config = config;
        let dataset = Arc::new(open_dataset(&spec)?);
        let validation_data = match &options.validation_data {
            Some(spec) => Some(open_validation(spec, &dataset)?),
            None => None,
        };
        let mut trainer = Trainer::resume(engine, loaded.network, state)?;
        if let Some(best) = best {
            // Early stopping restores the best epoch's weights: the current
            // ones, or those of its checkpoint beside this one.
            let path = checkpoint_path(
                checkpoint.parent().unwrap_or(Path::new(".")),
                best.best_epoch,
            );
            if best.best_epoch == done {
                let net = trainer.network().clone();
                trainer.remember_best(done, &net)?;
            } else if path.is_file() {
                trainer.remember_best(best.best_epoch, &load_model(&path)?.network)?;
            } else {
                notes.push(format!(
                    "the best epoch so far, {}, has no checkpoint beside this one ({}): unless \
                     a later epoch does better, the last epoch's weights are kept",
                    best.best_epoch,
                    path.display()
                ));
            }
        }
        Ok(TrainRun {
            dataset,
            dataset_spec: spec,
            trainer,
            notes,
            resumed_after: done,
            validation_data,
            log: options.log.clone(),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The images the run trains on: the dataset's training set less the
    /// held-out validation part.
    pub fn train_samples(&self) -> Samples<'_> {
        let all = self.dataset.train();
        all.range(
            0,
            training_part(all.len(), self.trainer.config().validation_split),
        )
    }

    /// The images the run validates on after each epoch, if any: the
    /// held-out end of the training set (`--validation-split`) or another
    /// dataset's test split (`--validation-data`). Never the test set.
    pub fn validation_samples(&self) -> Option<Samples<'_>> {
        if let Some(val) = &self.validation_data {
            return Some(val.test());
        }
        let all = self.dataset.train();
        let keep = training_part(all.len(), self.trainer.config().validation_split);
        (keep < all.len()).then(|| all.range(keep, all.len()))
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

    /// The first line `train` prints: the version, the dataset's folder and
    /// its size, and, for a resumed run, the epochs done.
    pub fn banner(&self) -> String {
        let ds = &self.dataset;
        let mut line = format!(
            "fastnn {}: {} ({} training, {} test images of {}x{})",
            env!("CARGO_PKG_VERSION"),
            ds.dir()
                .map_or(ds.name().to_string(), |d| d.display().to_string()),
            ds.len(Split::Train),
            ds.len(Split::Test),
            ds.rows(),
            ds.cols()
        );
        if self.resumed_after > 0 {
            line += &format!("\nresuming after epoch {}", self.resumed_after);
        }
        line
    }

    /// One line of the settings: `784-128-10 relu, xent loss, adam lr 0.001, …`.
    pub fn description(&self) -> String {
        describe(
            self.trainer.network().architecture(),
            self.trainer.config(),
            self.trainer.engine().threads(),
        )
    }

    /// Trains the remaining epochs on [`TrainRun::train_samples`],
    /// evaluating after each on `validation` (when given, else on
    /// [`TrainRun::validation_samples`]), and saving a checkpoint into
    /// `checkpoints` (when given) and the log (`--log`) after each, before
    /// the observer sees [`Event::EpochEnd`].
    pub fn fit(
        &mut self,
        validation: Option<&Samples>,
        checkpoints: Option<&Path>,
        observer: &mut Observer<'_>,
    ) -> Result<()> {
        let provenance = self.provenance();
        let all = self.dataset.train();
        let keep = training_part(all.len(), self.trainer.config().validation_split);
        let train = all.range(0, keep);
        let own = match &self.validation_data {
            Some(val) => Some(val.test()),
            None => (keep < all.len()).then(|| all.range(keep, all.len())),
        };
        let validation = validation.or(own.as_ref());
        let log = self.log.as_deref();
        let mut observe = |event: Event<'_>| {
            if let Event::EpochEnd { trainer, .. } = &event {
                if let Some(dir) = checkpoints {
                    save_checkpoint(dir, trainer, &provenance)?;
                }
                if let Some(path) = log {
                    let format = log_format(path).ok_or_else(|| {
                        Error::invalid(path, "a log's name must end in .csv or .jsonl")
                    })?;
                    let text = log_text(format, trainer.history());
                    crate::files::write_bytes(path, text.as_bytes())?;
                }
            }
            observer(event)
        };
        self.trainer.fit(&train, validation, &mut observe)?;
        Ok(())
    }

    /// How early stopping ended the run, to print (`None` without it).
    pub fn stop_report(&self) -> Option<&StopReport> {
        self.trainer.stop_report()
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
            simd: crate::kernels::describe(),
            dataset: self.dataset_spec.clone(),
            threads: self.trainer.engine().threads(),
            config: self.trainer.config().clone(),
            architecture: self.trainer.network().architecture().clone(),
            epochs: self.trainer.history().to_vec(),
            train_seconds,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            validation_images: self.validation_samples().map(|v| v.len()),
            early_stopping: self.trainer.stop_report().cloned(),
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
    ) + &c
        .extras()
        .iter()
        .map(|e| format!(", {e}"))
        .collect::<String>()
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
    /// Images validated on after each epoch, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_images: Option<usize>,
    /// How early stopping ended the run, if it was on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<StopReport>,
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(path, format!("cannot write JSON: {e}")))?;
    crate::files::write_bytes(path, (text + "\n").as_bytes())
}

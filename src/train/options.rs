//! [`TrainOptions`]: the settings a user gives over a preset (the `train`
//! flags), how they become a [`TrainConfig`], and the resume policy: which
//! of them may change when a run continues from a checkpoint.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::{Preset, TrainConfig};
use super::early_stopping::{EarlyStopping, Monitor};
use super::schedule::Schedule;
use crate::nn::{Activation, Augment, Init, Loss, OptimizerKind};
use crate::preprocess::Preprocess;
use crate::{Error, Result};

/// The settings given over a preset; each `None` keeps the preset's value
/// (or, when resuming, the checkpoint's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct TrainOptions {
    /// Which tutorial program to start from; other flags override its
    /// settings [default: fashion].
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub preset: Option<Preset>,
    /// `fashion`, `mnist`, or a folder with the four IDX files [default:
    /// the preset's dataset].
    #[cfg_attr(feature = "cli", arg(long))]
    pub dataset: Option<String>,
    /// Hidden layer widths, comma-separated (e.g. 128,128).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_parser = whole::<1, 65536>))]
    pub hidden: Option<Vec<usize>>,
    /// Hidden-layer activation.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub activation: Option<Activation>,
    /// Loss function.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub loss: Option<Loss>,
    /// Optimizer.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate [default: 0.001 for Adam, 0.01 for SGD].
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    pub lr: Option<f32>,
    /// Momentum of sgd and nesterov, in [0, 1).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    pub momentum: Option<f32>,
    /// Passes over the training set.
    #[cfg_attr(feature = "cli", arg(long, value_parser = whole::<1, 100000>))]
    pub epochs: Option<usize>,
    /// Images per step.
    #[cfg_attr(feature = "cli", arg(long, value_parser = whole::<1, 65536>))]
    pub batch_size: Option<usize>,
    /// Pixel preprocessing.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub preprocess: Option<Preprocess>,
    /// Weight initializer.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub init: Option<Init>,
    /// Seed of the initial weights and the shuffles.
    #[cfg_attr(feature = "cli", arg(long))]
    pub seed: Option<u64>,
    /// Hold out the last fraction F of the training set (before shuffling)
    /// for validation; the test set is used only at the end.
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "F", conflicts_with = "validation_data")
    )]
    pub validation_split: Option<f32>,
    /// Validate on the test split of another dataset (`fashion`, `mnist`
    /// or a folder with the four IDX files).
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR"))]
    pub validation_data: Option<String>,
    /// Stop when the monitored metric has not improved for N epochs.
    #[cfg_attr(feature = "cli", arg(long, value_name = "PATIENCE"))]
    pub early_stopping: Option<usize>,
    /// The metric early stopping watches [default: val_loss].
    #[cfg_attr(feature = "cli", arg(long, value_enum, requires = "early_stopping"))]
    pub monitor: Option<Monitor>,
    /// With early stopping, keep the weights of the best epoch.
    #[cfg_attr(feature = "cli", arg(long, requires = "early_stopping"))]
    #[serde(default)]
    pub restore_best: bool,
    /// Learning-rate schedule, per step: constant, step[:every=E,gamma=G],
    /// exponential[:gamma=G], cosine[:warmup=W,min=M],
    /// one-cycle[:pct=P,div=D,final-div=F].
    #[cfg_attr(feature = "cli", arg(long, value_name = "SCHEDULE"))]
    pub schedule: Option<Schedule>,
    /// Decoupled weight decay (AdamW's) for any optimizer [default: 0.01
    /// for adamw, else 0].
    #[cfg_attr(feature = "cli", arg(long, value_name = "F"))]
    pub weight_decay: Option<f32>,
    /// L2 penalty, sklearn's alpha (alpha/2·‖W‖² over the batch size).
    #[cfg_attr(feature = "cli", arg(long, alias = "alpha", value_name = "ALPHA"))]
    pub l2: Option<f32>,
    /// Dropout rate of the hidden layers: one for all, or one per layer.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "F"))]
    pub dropout: Option<Vec<f32>>,
    /// Clip each step's gradient to this global norm.
    #[cfg_attr(feature = "cli", arg(long, value_name = "F"))]
    pub clip_norm: Option<f32>,
    /// Random transforms of the training images: shift=PX, rotate=DEG,
    /// scale=F, shear=DEG, elastic=ALPHA:SIGMA, flip (comma-separated).
    #[cfg_attr(feature = "cli", arg(long, value_name = "LIST"))]
    pub augment: Option<Augment>,
    /// Write each epoch's metrics here (CSV or JSON lines, by extension).
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub log: Option<PathBuf>,
}

/// A whole number in `LO..=HI`, for clap.
#[cfg(feature = "cli")]
fn whole<const LO: usize, const HI: usize>(s: &str) -> std::result::Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    if (LO..=HI).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not in {LO}..={HI}"))
    }
}

impl TrainOptions {
    /// The preset the settings start from.
    pub fn preset(&self) -> Preset {
        self.preset.unwrap_or(Preset::Fashion)
    }

    /// The dataset to train on: as given, else the preset's.
    pub fn dataset(&self) -> String {
        self.dataset
            .clone()
            .unwrap_or_else(|| self.preset().dataset().to_string())
    }

    /// The early stopping the options ask for, over `base` (a preset's or
    /// a checkpoint's).
    fn early_stopping(&self, base: Option<EarlyStopping>) -> Option<EarlyStopping> {
        let patience = self.early_stopping.or(base.map(|b| b.patience))?;
        let base = base.unwrap_or(EarlyStopping {
            patience,
            monitor: Monitor::ValLoss,
            min_delta: 0.0,
            restore_best: false,
        });
        Some(EarlyStopping {
            patience,
            monitor: self.monitor.unwrap_or(base.monitor),
            restore_best: self.restore_best || base.restore_best,
            ..base
        })
    }

    /// The preset's settings with every option given applied over them,
    /// checked.
    pub fn config(&self) -> Result<TrainConfig> {
        if self.momentum.is_some() && !self.optimizer.is_some_and(OptimizerKind::has_momentum) {
            return Err(Error::Config(
                "--momentum applies to --optimizer sgd only (or nesterov)".into(),
            ));
        }
        let mut c = TrainConfig::preset(self.preset());
        if let Some(h) = &self.hidden {
            c.hidden = h.clone();
        }
        if let Some(a) = self.activation {
            c.activation = a;
        }
        if let Some(l) = self.loss {
            c.loss = l;
        }
        if let Some(kind) = self.optimizer {
            c.optimizer = kind.default_config();
        }
        if let Some(m) = self.momentum {
            c.optimizer = c.optimizer.with_momentum(m);
        }
        if let Some(lr) = self.lr {
            c.optimizer = c.optimizer.with_lr(lr);
        }
        if let Some(e) = self.epochs {
            c.epochs = e;
        }
        if let Some(b) = self.batch_size {
            c.batch_size = b;
        }
        if let Some(p) = self.preprocess {
            c.preprocess = p;
        }
        if let Some(i) = self.init {
            c.init = i;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(v) = self.validation_split {
            c.validation_split = v;
        }
        c.early_stopping = self.early_stopping(c.early_stopping);
        if let Some(s) = self.schedule {
            c.schedule = s;
        }
        if self.optimizer == Some(OptimizerKind::AdamW) {
            c.weight_decay = 0.01;
        }
        if let Some(w) = self.weight_decay {
            c.weight_decay = w;
        }
        if let Some(a) = self.l2 {
            c.l2 = a;
        }
        if let Some(d) = &self.dropout {
            c.dropout = match d.as_slice() {
                [rate] => vec![*rate; c.hidden.len()],
                rates => rates.to_vec(),
            };
        } else if self.hidden.is_some() && c.dropout.len() != c.hidden.len() {
            // A preset's dropout is per layer of its own network.
            c.dropout = match c.dropout.first() {
                Some(&rate) => vec![rate; c.hidden.len()],
                None => Vec::new(),
            };
        }
        if let Some(n) = self.clip_norm {
            c.clip_norm = Some(n);
        }
        if let Some(a) = self.augment {
            c.augment = a;
        }
        if c.validation_split > 0.0 && self.validation_data.is_some() {
            return Err(Error::Config(
                "give --validation-split or --validation-data, not both".into(),
            ));
        }
        if self
            .log
            .as_deref()
            .is_some_and(|p| crate::train::log_format(p).is_none())
        {
            return Err(Error::Config(format!(
                "--log {}: the file name must end in .csv or .jsonl",
                self.log
                    .as_deref()
                    .unwrap_or_else(|| std::path::Path::new(""))
                    .display()
            )));
        }
        c.validate()?;
        Ok(c)
    }

    /// The settings to continue a checkpoint's run with: the checkpoint's
    /// `saved` ones, with `--epochs`, `--lr` and the early stopping flags
    /// (`--early-stopping`, `--monitor`, `--restore-best`) applied, each
    /// change described in the notes returned; `--validation-data` and
    /// `--log` are the run's, not the checkpoint's, and may be given
    /// freely. Any other option given must agree with the checkpoint (the
    /// schedule, regularization, dropout, clipping, augmentation and
    /// validation split decide what is trained, and a schedule continues
    /// from the checkpoint's step): a resumed run that quietly ignored a
    /// flag would train something else than asked.
    pub fn resume(&self, saved: &TrainConfig) -> Result<(TrainConfig, Vec<String>)> {
        let mut conflicts = Vec::new();
        let mut check = |flag: &str, given: Option<String>, kept: String| {
            if let Some(given) = given
                && given != kept
            {
                conflicts.push(format!("{flag} {given} (the checkpoint has {kept})"));
            }
        };
        let p = |x: Option<Preset>| x.map(|p| p.name().to_string());
        if let Some(preset) = self.preset {
            let mut theirs = TrainConfig::preset(preset);
            theirs.epochs = saved.epochs;
            theirs.seed = saved.seed;
            theirs.optimizer = saved.optimizer.kind().default_config();
            theirs.early_stopping = saved.early_stopping;
            let mut ours = saved.clone();
            ours.optimizer = saved.optimizer.kind().default_config();
            let kept = if ours == theirs {
                p(self.preset).unwrap_or_default()
            } else {
                "other settings".into()
            };
            check("--preset", p(self.preset), kept);
        }
        let widths = |h: &[usize]| {
            h.iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        check(
            "--hidden",
            self.hidden.as_deref().map(widths),
            widths(&saved.hidden),
        );
        let name = |s: &dyn std::fmt::Debug| format!("{s:?}").to_lowercase();
        check(
            "--activation",
            self.activation.map(|a| name(&a)),
            name(&saved.activation),
        );
        check(
            "--loss",
            self.loss.map(|l| l.name().into()),
            saved.loss.name().into(),
        );
        check(
            "--optimizer",
            self.optimizer.map(|o| o.name().into()),
            saved.optimizer.name().into(),
        );
        check(
            "--momentum",
            self.momentum.map(|m| m.to_string()),
            saved
                .optimizer
                .momentum()
                .map_or("no momentum (adam)".into(), |m| m.to_string()),
        );
        check(
            "--batch-size",
            self.batch_size.map(|b| b.to_string()),
            saved.batch_size.to_string(),
        );
        check(
            "--preprocess",
            self.preprocess.map(|p| p.name().into()),
            saved.preprocess.name().into(),
        );
        check(
            "--init",
            self.init.map(|i| i.name().into()),
            saved.init.name().into(),
        );
        check(
            "--seed",
            self.seed.map(|s| s.to_string()),
            saved.seed.to_string(),
        );
        check(
            "--validation-split",
            self.validation_split.map(|v| v.to_string()),
            saved.validation_split.to_string(),
        );
        check(
            "--schedule",
            self.schedule.map(|s| s.to_string()),
            saved.schedule.to_string(),
        );
        let weight_decay = match (self.weight_decay, self.optimizer) {
            (None, Some(OptimizerKind::AdamW)) => Some(0.01),
            (w, _) => w,
        };
        check(
            "--weight-decay",
            weight_decay.map(|w| w.to_string()),
            saved.weight_decay.to_string(),
        );
        check("--l2", self.l2.map(|a| a.to_string()), saved.l2.to_string());
        let rates = |r: &[f32]| {
            r.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let dropout = self.dropout.as_deref().map(|d| match d {
            [rate] => rates(&vec![*rate; saved.hidden.len()]),
            many => rates(many),
        });
        let saved_dropout = if saved.dropout.is_empty() {
            rates(&vec![0.0; saved.hidden.len()])
        } else {
            rates(&saved.dropout)
        };
        check("--dropout", dropout, saved_dropout);
        check(
            "--clip-norm",
            self.clip_norm.map(|c| c.to_string()),
            saved.clip_norm.map_or("none".into(), |c| c.to_string()),
        );
        check(
            "--augment",
            self.augment.map(|a| a.to_string()),
            saved.augment.to_string(),
        );
        if saved.validation_split > 0.0 && self.validation_data.is_some() {
            conflicts.push(format!(
                "--validation-data (the checkpoint's run holds out {} of its training set)",
                saved.validation_split
            ));
        }
        if !conflicts.is_empty() {
            return Err(Error::Config(format!(
                "--resume continues the checkpoint's run, whose settings only --epochs, --lr \
                 and early stopping may change; these differ: {}",
                conflicts.join(", ")
            )));
        }
        let mut config = saved.clone();
        let mut notes = Vec::new();
        if let Some(e) = self.epochs
            && e != saved.epochs
        {
            notes.push(format!(
                "training to {e} epochs (the checkpoint's run planned {})",
                saved.epochs
            ));
            config.epochs = e;
        }
        if let Some(lr) = self.lr
            && lr != saved.optimizer.lr()
        {
            notes.push(format!(
                "learning rate {lr} from here on (the checkpoint's run used {})",
                saved.optimizer.lr()
            ));
            config.optimizer = config.optimizer.with_lr(lr);
        }
        let early = self.early_stopping(saved.early_stopping);
        if early != saved.early_stopping {
            let describe = |e: Option<EarlyStopping>| {
                e.map_or("none".to_string(), |e| {
                    format!(
                        "patience {} on {}{}",
                        e.patience,
                        e.monitor.name(),
                        if e.restore_best {
                            ", restoring the best"
                        } else {
                            ""
                        }
                    )
                })
            };
            notes.push(format!(
                "early stopping {} from here on (the checkpoint's run had {})",
                describe(early),
                describe(saved.early_stopping)
            ));
            config.early_stopping = early;
        }
        config.validate()?;
        Ok((config, notes))
    }
}

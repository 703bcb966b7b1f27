//! [`TrainOptions`]: the settings a user gives over a preset (the `train`
//! flags), how they become a [`TrainConfig`], and the resume policy: which
//! of them may change when a run continues from a checkpoint.

use serde::{Deserialize, Serialize};

use super::config::{Preset, TrainConfig};
use crate::nn::{Activation, Init, Loss, OptimizerKind};
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
    /// SGD momentum, in [0, 1).
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
            .unwrap_or_else(|| self.preset().name().to_string())
    }

    /// The preset's settings with every option given applied over them,
    /// checked.
    pub fn config(&self) -> Result<TrainConfig> {
        if self.momentum.is_some() && self.optimizer != Some(OptimizerKind::Sgd) {
            return Err(Error::Config(
                "--momentum applies to --optimizer sgd only".into(),
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
        if let (crate::nn::OptimizerConfig::Sgd(sgd), Some(m)) = (&mut c.optimizer, self.momentum) {
            sgd.momentum = m;
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
        c.validate()?;
        Ok(c)
    }

    /// The settings to continue a checkpoint's run with: the checkpoint's
    /// `saved` ones, with `--epochs` and `--lr` applied (each change is
    /// described in the notes returned). Any other option given must agree
    /// with the checkpoint: a resumed run that quietly ignored a flag would
    /// train something else than asked.
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
        if !conflicts.is_empty() {
            return Err(Error::Config(format!(
                "--resume continues the checkpoint's run, whose settings only --epochs and \
                 --lr may change; these differ: {}",
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
        config.validate()?;
        Ok((config, notes))
    }
}

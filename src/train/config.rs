//! Everything that decides a training run: [`TrainConfig`] and the
//! tutorial [`Preset`]s.

use serde::{Deserialize, Serialize};

use super::early_stopping::EarlyStopping;
use super::schedule::Schedule;
use crate::limits::MAX_EPOCHS;
use crate::nn::{
    Activation, AdamConfig, Architecture, Augment, Init, Loss, Network, OptimizerConfig,
};
use crate::preprocess::Preprocess;
use crate::samples::{Images, Samples};
use crate::{Error, Result};

/// The tutorial programs fastnn reproduces, and the speed-run presets
/// that train better plain MLPs within 10 s on 2 cores (their settings were
/// chosen on the validation split only: `benches/presets/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Fashion-MNIST, pixels / 255, 784 → 128 relu → 10, 9 epochs.
    Fashion,
    /// MNIST, `keras-normalize`, 784 → 128 relu → 128 relu → 10, 3 epochs.
    Mnist,
    /// Fashion-MNIST speed run: 784 → 512 relu → 10, standardized pixels,
    /// AdamW (weight decay 0.05), cosine schedule, dropout 0.2, batch 128,
    /// 20 epochs.
    #[serde(rename = "fashion-best")]
    FashionBest,
    /// MNIST speed run: 784 → 512 relu → 10, pixels / 255, Adam, cosine
    /// schedule, dropout 0.2, random shifts of up to 2 pixels, batch 128,
    /// 15 epochs.
    #[serde(rename = "mnist-best")]
    MnistBest,
}

impl Preset {
    /// The name `--preset` uses.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Fashion => "fashion",
            Preset::Mnist => "mnist",
            Preset::FashionBest => "fashion-best",
            Preset::MnistBest => "mnist-best",
        }
    }

    /// The name of the dataset it trains on.
    pub fn dataset(self) -> &'static str {
        match self {
            Preset::Fashion | Preset::FashionBest => "fashion",
            Preset::Mnist | Preset::MnistBest => "mnist",
        }
    }
}

/// Everything that decides a training run. `Default` is the `fashion` preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Loss.
    pub loss: Loss,
    /// Optimizer and its settings.
    pub optimizer: OptimizerConfig,
    /// Weight initializer.
    pub init: Init,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Pixel preprocessing.
    pub preprocess: Preprocess,
    /// Seeds the initial weights and every epoch's shuffle (and the
    /// dropout masks and augmentations).
    pub seed: u64,
    /// How the learning rate changes, step by step.
    #[serde(default)]
    pub schedule: Schedule,
    /// Decoupled weight decay (AdamW's, for any optimizer): each step
    /// multiplies the weights (not the biases) by `1 - lr · weight_decay`,
    /// `lr` the step's rate. 0 for none.
    #[serde(default)]
    pub weight_decay: f32,
    /// L2 penalty in sklearn's form (its `alpha`): `alpha / 2 · ‖W‖²` over
    /// the batch size is added to each batch's loss, so `alpha / batch · W`
    /// to the weights' gradient (the losses shown are the data loss only).
    /// 0 for none.
    #[serde(default)]
    pub l2: f32,
    /// Dropout rate of each hidden layer's output while training, one per
    /// hidden layer; empty for none.
    #[serde(default)]
    pub dropout: Vec<f32>,
    /// Largest global norm of a step's gradient (all layers together);
    /// larger ones are scaled down to it.
    #[serde(default)]
    pub clip_norm: Option<f32>,
    /// Random transforms of the training images (u8 images only).
    #[serde(default)]
    pub augment: Augment,
    /// The last fraction of the training set, taken before shuffling, held
    /// out for validation (Keras's `validation_split`; the run does the
    /// split, see [`crate::TrainRun`]). 0 for none.
    #[serde(default)]
    pub validation_split: f32,
    /// When to stop before the planned epochs.
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::preset(Preset::Fashion)
    }
}

/// The largest batch size: far beyond what these networks train well
/// with, small enough that the buffers stay small.
pub const MAX_BATCH_SIZE: usize = 1 << 16;

impl TrainConfig {
    /// A preset's settings: the tutorial programs' (Keras defaults: Adam
    /// 1e-3, batch 32, Glorot-uniform weights), or a speed run's.
    pub fn preset(preset: Preset) -> Self {
        let (hidden, epochs, preprocess) = match preset {
            Preset::Fashion => (vec![128], 9, Preprocess::Scale),
            Preset::Mnist => (vec![128, 128], 3, Preprocess::KerasNormalize),
            Preset::FashionBest => {
                return TrainConfig {
                    optimizer: OptimizerConfig::AdamW(AdamConfig::default()),
                    weight_decay: 0.05,
                    preprocess: Preprocess::Standardize,
                    ..TrainConfig::speed_run(vec![512], 20)
                };
            }
            Preset::MnistBest => {
                return TrainConfig {
                    augment: Augment {
                        shift: 2.0,
                        ..Augment::default()
                    },
                    ..TrainConfig::speed_run(vec![512], 15)
                };
            }
        };
        TrainConfig {
            hidden,
            activation: Activation::Relu,
            loss: Loss::Xent,
            optimizer: OptimizerConfig::Adam(AdamConfig::default()),
            init: Init::GlorotUniform,
            epochs,
            batch_size: 32,
            preprocess,
            seed: 42,
            schedule: Schedule::Constant,
            weight_decay: 0.0,
            l2: 0.0,
            dropout: Vec::new(),
            clip_norm: None,
            augment: Augment::default(),
            validation_split: 0.0,
            early_stopping: None,
        }
    }

    /// What the speed-run presets share: `hidden` relu layers with
    /// dropout 0.2, batch 128, `epochs` epochs, a cosine schedule from
    /// Adam's 1e-3.
    fn speed_run(hidden: Vec<usize>, epochs: usize) -> Self {
        TrainConfig {
            dropout: vec![0.2; hidden.len()],
            hidden,
            batch_size: 128,
            epochs,
            schedule: Schedule::Cosine {
                warmup: 0.0,
                min: 0.0,
            },
            ..TrainConfig::preset(Preset::Fashion)
        }
    }

    /// The same settings with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(Error::Config(format!(
                "{} epochs: 1 to {MAX_EPOCHS} (a limit of fastnn)",
                self.epochs
            )));
        }
        if self.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        if self.batch_size > MAX_BATCH_SIZE {
            return Err(Error::Config(format!(
                "batch size {} is larger than {MAX_BATCH_SIZE}",
                self.batch_size
            )));
        }
        self.optimizer.validate()?;
        let bad = |what: String| Err(Error::Config(what));
        if !self.dropout.is_empty() && self.dropout.len() != self.hidden.len() {
            return bad(format!(
                "{} dropout rates for {} hidden layers (give one, or one per layer)",
                self.dropout.len(),
                self.hidden.len()
            ));
        }
        if let Some(r) = self.dropout.iter().find(|r| !(0.0..1.0).contains(*r)) {
            return bad(format!("a dropout rate must be in [0, 1), not {r}"));
        }
        for (name, v) in [("weight decay", self.weight_decay), ("l2 (alpha)", self.l2)] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("the {name} must be 0 or positive, not {v}"));
            }
        }
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return bad(format!("the clipping norm must be positive, not {c}"));
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return bad(format!(
                "the validation split must be in [0, 1), not {}",
                self.validation_split
            ));
        }
        if let Some(es) = &self.early_stopping
            && !(es.min_delta >= 0.0 && es.min_delta.is_finite())
        {
            return bad(format!(
                "early stopping's min_delta must be 0 or positive, not {}",
                es.min_delta
            ));
        }
        self.schedule.validate().map_err(Error::Config)?;
        self.augment.validate().map_err(Error::Config)
    }

    /// The settings beyond the tutorial's, one phrase each (empty for a
    /// tutorial run), for the line describing a run.
    pub fn extras(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.schedule.is_constant() {
            parts.push(format!("schedule {}", self.schedule));
        }
        if self.weight_decay != 0.0 {
            parts.push(format!("weight decay {}", self.weight_decay));
        }
        if self.l2 != 0.0 {
            parts.push(format!("l2 alpha {}", self.l2));
        }
        if self.dropout.iter().any(|&r| r > 0.0) {
            let rates: Vec<String> = self.dropout.iter().map(|r| r.to_string()).collect();
            parts.push(format!("dropout {}", rates.join(",")));
        }
        if let Some(c) = self.clip_norm {
            parts.push(format!("clip norm {c}"));
        }
        if !self.augment.is_off() {
            parts.push(format!("augment {}", self.augment));
        }
        if self.validation_split > 0.0 {
            parts.push(format!("validation split {}", self.validation_split));
        }
        if let Some(es) = &self.early_stopping {
            parts.push(format!(
                "early stopping on {} after {} epochs{}",
                es.monitor.name(),
                es.patience,
                if es.restore_best {
                    ", restoring the best"
                } else {
                    ""
                }
            ));
        }
        parts
    }

    /// A fresh network for the images of `train` and the classes named by
    /// `classes`, its preprocessing constants measured on `train`'s pixels
    /// (f32 values are used as given, and the network records
    /// [`Preprocess::Identity`]).
    pub fn build_network(&self, train: &Samples, classes: &[String]) -> Result<Network> {
        self.validate()?;
        let preprocess = match train.images {
            Images::U8(p) => self.preprocess.fit(p),
            Images::F32(_) => crate::preprocess::FittedPreprocess::Identity,
        };
        let arch = Architecture {
            rows: train.rows,
            cols: train.cols,
            hidden: self.hidden.clone(),
            activation: self.activation,
            classes: classes.len(),
            loss: self.loss,
            preprocess,
        };
        let mut net = Network::new(arch, self.init, self.seed)?;
        net.set_class_names(classes.to_vec())?;
        Ok(net)
    }

    /// Checks that `net` is the network these settings describe (hidden
    /// widths, activation, loss), so that a trainer never trains one
    /// network with another's settings. (The preprocessing is the
    /// network's own: it was fitted when the network was built.)
    pub fn check_network(&self, net: &Network) -> Result<()> {
        let arch = net.architecture();
        let mut differs = Vec::new();
        if arch.hidden != self.hidden {
            differs.push(format!(
                "hidden layers {:?} (the settings say {:?})",
                arch.hidden, self.hidden
            ));
        }
        if arch.activation != self.activation {
            differs.push(format!(
                "activation {:?} (the settings say {:?})",
                arch.activation, self.activation
            ));
        }
        if arch.loss != self.loss {
            differs.push(format!(
                "loss {} (the settings say {})",
                arch.loss.name(),
                self.loss.name()
            ));
        }
        if differs.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the network does not match the training settings: it has {}",
                differs.join(", ")
            )))
        }
    }
}

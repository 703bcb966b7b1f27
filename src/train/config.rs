//! Everything that decides a training run: [`TrainConfig`] and the
//! tutorial [`Preset`]s.

use serde::{Deserialize, Serialize};

use crate::nn::{Activation, AdamConfig, Architecture, Init, Loss, Network, OptimizerConfig};
use crate::preprocess::Preprocess;
use crate::samples::{Images, Samples};
use crate::{Error, Result};

/// The tutorial programs fastnn reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Fashion-MNIST, pixels / 255, 784 → 128 relu → 10, 9 epochs.
    Fashion,
    /// MNIST, `keras-normalize`, 784 → 128 relu → 128 relu → 10, 3 epochs.
    Mnist,
}

impl Preset {
    /// The name `--preset` uses, which is also the name of its dataset.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Fashion => "fashion",
            Preset::Mnist => "mnist",
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
    /// Seeds the initial weights and every epoch's shuffle.
    pub seed: u64,
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
    /// A tutorial program's settings (Keras defaults: Adam 1e-3, batch 32,
    /// Glorot-uniform weights).
    pub fn preset(preset: Preset) -> Self {
        let (hidden, epochs, preprocess) = match preset {
            Preset::Fashion => (vec![128], 9, Preprocess::Scale),
            Preset::Mnist => (vec![128, 128], 3, Preprocess::KerasNormalize),
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
        }
    }

    /// The same settings with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Config("batch size must be at least 1".into()));
        }
        if self.batch_size > MAX_BATCH_SIZE {
            return Err(Error::Config(format!(
                "batch size {} is larger than {MAX_BATCH_SIZE}",
                self.batch_size
            )));
        }
        self.optimizer.validate()
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

//! The network's maths: dense layers with their forward and backward
//! passes, activations, losses, initializers, optimizers, dropout,
//! augmentation of the input images, and the [`Workspace`] a pass runs in.
//!
//! [`Activation`] is defined beside the kernels, which fuse it into the
//! products' epilogue in registers; it is re-exported here, where the
//! network uses it.

mod augment;
mod counter;
mod dense;
mod dropout;
mod init;
mod loss;
pub(crate) mod optim;
mod rules;
mod workspace;

pub use crate::kernels::Activation;
pub use augment::{Augment, Elastic, Transform, gaussian_kernel};
pub use dense::Dense;
pub use init::Init;
pub use loss::Loss;
pub use optim::{
    Adam, AdamConfig, AnyOptimizer, Optimizer, OptimizerConfig, OptimizerKind, Regularization,
    RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use workspace::{StepKey, Workspace, loss_and_gradients};

use crate::kernels::KernelChoice;
use crate::preprocess::FittedPreprocess;
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The shape of a network, everything but its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation of every hidden layer (the output layer's logits are linear).
    pub activation: Activation,
    /// Number of classes (width of the output layer).
    pub classes: usize,
    /// The loss the output is trained with.
    pub loss: Loss,
    /// How pixels become inputs.
    pub preprocess: FittedPreprocess,
}

impl Architecture {
    /// Pixels per image, the input width.
    pub fn inputs(&self) -> usize {
        self.rows * self.cols
    }

    /// Checks the sizes are usable: no zero widths, and no layer with more
    /// than 2³¹ weights (so no size computation can overflow).
    pub fn validate(&self) -> Result<()> {
        const MAX_WEIGHTS: usize = 1 << 31;
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::Config("images must have at least one pixel".into()));
        }
        let inputs = self
            .rows
            .checked_mul(self.cols)
            .filter(|&n| n <= MAX_WEIGHTS);
        let Some(mut fan_in) = inputs else {
            return Err(Error::Config(format!(
                "images of {}x{} pixels are too large",
                self.rows, self.cols
            )));
        };
        for w in self.widths() {
            if fan_in.checked_mul(w).is_none_or(|n| n > MAX_WEIGHTS) {
                return Err(Error::Config(format!(
                    "a {fan_in}x{w} layer is too large (over 2^31 weights)"
                )));
            }
            fan_in = w.max(1);
        }
        if self.classes < 2 {
            return Err(Error::Config(format!(
                "a classifier needs at least 2 classes, not {}",
                self.classes
            )));
        }
        if let Some(pos) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Error::Config(format!(
                "hidden layer {} has zero units",
                pos + 1
            )));
        }
        Ok(())
    }

    /// Widths of every layer's output, the last being the classes.
    pub fn widths(&self) -> impl Iterator<Item = usize> + '_ {
        self.hidden
            .iter()
            .copied()
            .chain(std::iter::once(self.classes))
    }

    /// Floating-point operations of one image's forward pass (2 per
    /// multiply-add), the yardstick for GFLOP/s figures.
    pub fn forward_flops(&self) -> u64 {
        let mut fan_in = self.inputs() as u64;
        let mut flops = 0;
        for w in self.widths() {
            flops += 2 * fan_in * w as u64;
            fan_in = w as u64;
        }
        flops
    }

    /// Floating-point operations of one image's backward pass: the weight
    /// gradient of every layer, and the input gradient of all but the first.
    pub fn backward_flops(&self) -> u64 {
        let mut fan_in = self.inputs() as u64;
        let mut flops = 0;
        for (l, w) in self.widths().enumerate() {
            flops += 2 * fan_in * w as u64;
            if l > 0 {
                flops += 2 * fan_in * w as u64;
            }
            fan_in = w as u64;
        }
        flops
    }
}

/// A feed-forward classifier: dense layers over flattened u8 images.
#[derive(Clone, Debug)]
pub struct Network {
    arch: Architecture,
    layers: Vec<Dense>,
    class_names: Vec<String>,
    kernel: KernelChoice,
}

impl Network {
    /// A network with freshly initialized weights (zero biases), drawn from
    /// a ChaCha8 stream seeded with `seed`, layer by layer in row-major order.
    pub fn new(arch: Architecture, init: Init, seed: u64) -> Result<Network> {
        arch.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::new();
        let mut fan_in = arch.inputs();
        let last = arch.hidden.len();
        for (l, width) in arch.widths().enumerate() {
            let act = if l == last {
                Activation::Identity
            } else {
                arch.activation
            };
            layers.push(Dense::new(fan_in, width, act, init, &mut rng));
            fan_in = width;
        }
        let class_names = (0..arch.classes).map(|c| c.to_string()).collect();
        Ok(Network {
            arch,
            layers,
            class_names,
            kernel: KernelChoice::Simd,
        })
    }

    /// Rebuilds a network from its parts (a loaded model).
    ///
    /// Fails if the layers disagree with the architecture.
    pub fn from_parts(
        arch: Architecture,
        layers: Vec<Dense>,
        class_names: Vec<String>,
    ) -> Result<Network> {
        arch.validate()?;
        let mut fan_in = arch.inputs();
        let widths: Vec<usize> = arch.widths().collect();
        if layers.len() != widths.len() {
            return Err(Error::Config(format!(
                "architecture has {} layers but {} were given",
                widths.len(),
                layers.len()
            )));
        }
        for (l, (layer, &w)) in layers.iter().zip(&widths).enumerate() {
            if layer.inputs != fan_in
                || layer.outputs != w
                || layer.weight.len() != fan_in * w
                || layer.bias.len() != w
            {
                return Err(Error::Config(format!(
                    "layer {l} is {}x{} but the architecture needs {fan_in}x{w}",
                    layer.inputs, layer.outputs
                )));
            }
            fan_in = w;
        }
        if class_names.len() != arch.classes {
            return Err(Error::Config(format!(
                "{} class names for {} classes",
                class_names.len(),
                arch.classes
            )));
        }
        Ok(Network {
            arch,
            layers,
            class_names,
            kernel: KernelChoice::Simd,
        })
    }

    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    pub(crate) fn layers_mut(&mut self) -> &mut [Dense] {
        &mut self.layers
    }

    /// Class names, one per output.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Names the classes (e.g. from a dataset).
    ///
    /// Fails if the count differs from the number of classes.
    pub fn set_class_names(&mut self, names: Vec<String>) -> Result<()> {
        if names.len() != self.arch.classes {
            return Err(Error::Config(format!(
                "{} class names for {} classes",
                names.len(),
                self.arch.classes
            )));
        }
        self.class_names = names;
        Ok(())
    }

    /// Which kernels run the products.
    pub fn kernel(&self) -> KernelChoice {
        self.kernel
    }

    /// Chooses the kernels (picked once here, never re-detected per call).
    pub fn set_kernel(&mut self, kernel: KernelChoice) {
        self.kernel = kernel;
    }

    /// Lengths of the parameter tensors in optimizer slot order: each
    /// layer's weight, then its bias.
    pub fn tensor_lens(&self) -> Vec<usize> {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.len(), l.bias.len()])
            .collect()
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }
}

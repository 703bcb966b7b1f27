//! Weight initializers.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How initial weights are drawn (biases start at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Glorot (Xavier) uniform, Keras's default: `±√(6 / (fan_in + fan_out))`.
    #[cfg_attr(feature = "cli", value(name = "glorot"))]
    GlorotUniform,
    /// He (Kaiming) uniform, for deep relu stacks: `±√(6 / fan_in)`.
    #[cfg_attr(feature = "cli", value(name = "he"))]
    HeUniform,
}

impl Init {
    /// The name `--init` uses.
    pub fn name(self) -> &'static str {
        match self {
            Init::GlorotUniform => "glorot",
            Init::HeUniform => "he",
        }
    }

    /// The bound of the uniform distribution.
    pub fn limit(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::GlorotUniform => (6.0 / (fan_in + fan_out) as f64).sqrt() as f32,
            Init::HeUniform => (6.0 / fan_in as f64).sqrt() as f32,
        }
    }

    /// Fills `w` (row-major `fan_in × fan_out`) in index order.
    pub fn fill(self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng) {
        let limit = self.limit(fan_in, fan_out);
        for x in w {
            *x = rng.random_range(-limit..limit);
        }
    }
}

//! Fully connected layers.

use super::{Activation, Init};
use crate::kernels::AlignedVec;
use rand_chacha::ChaCha8Rng;

/// A dense layer `y = act(x·W + b)`, `W` stored row-major as
/// `inputs × outputs` so that the forward product X·W reads it as it lies,
/// and the backward products read its transpose through strides.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Applied to `x·W + b`.
    pub activation: Activation,
    /// `inputs × outputs`, row-major, cache-line aligned (see
    /// [`AlignedVec`]).
    pub weight: AlignedVec,
    /// One per output.
    pub bias: AlignedVec,
}

impl Dense {
    /// A layer with weights drawn by `init` and zero biases.
    pub fn new(
        inputs: usize,
        outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Dense {
        let mut weight = AlignedVec::zeros(inputs * outputs);
        init.fill(&mut weight, inputs, outputs, rng);
        Dense {
            inputs,
            outputs,
            activation,
            weight,
            bias: AlignedVec::zeros(outputs),
        }
    }
}

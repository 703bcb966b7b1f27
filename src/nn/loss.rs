//! Losses over the network's linear logits.

use serde::{Deserialize, Serialize};

/// The training loss. Both take the output layer's linear logits, so the
/// softmax is applied exactly once (the tutorial's double softmax is a bug
/// fastnn does not copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Sparse categorical cross-entropy fused with the softmax.
    Xent,
    /// Mean squared error between the softmax and one-hot targets.
    Mse,
}

impl Loss {
    /// The name `--loss` uses.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Xent => "xent",
            Loss::Mse => "mse",
        }
    }

    /// Per-row losses, correctness and the scaled gradient of a batch of
    /// logits (see [`crate::kernels::eltwise::softmax_xent`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_backward(
        self,
        logits: &[f32],
        classes: usize,
        labels: impl Fn(usize) -> usize,
        grad_scale: f32,
        grad: &mut [f32],
        losses: &mut [f32],
        correct: &mut [bool],
    ) {
        use crate::kernels::eltwise::{softmax_mse, softmax_xent};
        match self {
            Loss::Xent => softmax_xent(logits, classes, labels, grad_scale, grad, losses, correct),
            Loss::Mse => softmax_mse(logits, classes, labels, grad_scale, grad, losses, correct),
        }
    }
}

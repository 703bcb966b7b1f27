//! Fully connected layers: `y = act(x·W + b)`, forward and backward, each
//! product on the kernels with the element-wise work fused into it.

use super::optim::{AnyOptimizer, Optimizer};
use super::{Activation, Init};
use crate::kernels::eltwise::column_sums;
use crate::kernels::{
    ARef, AlignedVec, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, ParamUpdate,
    gemm_k_tree, gemm_with,
};
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

/// Where a layer's backward pass puts the gradient of its input (all but
/// the first layer): the previous layer's delta buffer, and that layer's
/// activation and output, whose derivative is fused into the product.
pub(crate) struct InputGrad<'a> {
    /// `b × inputs`: the gradient with respect to the previous layer's
    /// pre-activation.
    pub dx: &'a mut [f32],
    /// The previous layer's activation.
    pub act: Activation,
    /// The previous layer's output (this layer's input), `b × inputs`.
    pub x: &'a [f32],
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

    /// `out = act(x·W + b)` for the `b` rows of `x` (`b × outputs` of
    /// `out`). With room in `partials`, the product splits k by the rows
    /// of W (see [`gemm_k_tree`]), else by tiles of `out`.
    pub(crate) fn forward(
        &self,
        kernel: KernelChoice,
        x: ARef<'_>,
        out: &mut [f32],
        partials: &mut [f32],
        par: Parallelism,
    ) {
        let b = x.shape().0;
        let w = MatRef::row_major(&self.weight, self.inputs, self.outputs);
        let c = MatMut::row_major(&mut out[..b * self.outputs], b, self.outputs);
        let epilogue = Epilogue::BiasAct {
            bias: &self.bias,
            act: self.activation,
        };
        if partials.is_empty() {
            gemm_with(kernel, x, w, 0.0, c, epilogue, par);
        } else {
            gemm_k_tree(kernel, x, w, c, epilogue, par, partials);
        }
    }

    /// The backward pass from `delta` (`b × outputs`, the gradient with
    /// respect to this layer's pre-activation) and this layer's input `x`
    /// (`b × inputs`, as the forward pass read it): the bias gradient into
    /// `grad_b`, the input gradient into `input_grad` (from the weights as
    /// they were), then the weight gradient into `grad_w`. With an
    /// optimizer (slots `2·l` and `2·l + 1`), each parameter is updated as
    /// soon as its gradient is known: the weights inside the weight-gradient
    /// product where the optimizer allows it ([`Optimizer::fused`]), split
    /// by the same rows of W as the forward product.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &mut self,
        kernel: KernelChoice,
        x: ARef<'_>,
        delta: &[f32],
        input_grad: Option<InputGrad<'_>>,
        grad_w: &mut [f32],
        grad_b: &mut [f32],
        par: Parallelism,
        optimizer: Option<(&mut AnyOptimizer, usize)>,
    ) {
        let (k, n) = (self.inputs, self.outputs);
        let b = x.shape().0;
        let delta = &delta[..b * n];
        column_sums(delta, b, n, grad_b);
        let dy = MatRef::row_major(delta, b, n);
        if let Some(g) = input_grad {
            let w_t = MatRef::row_major(&self.weight, k, n).t();
            let dx = MatMut::row_major(&mut g.dx[..b * k], b, k);
            let epilogue = Epilogue::ActGrad {
                act: g.act,
                out: MatRef::row_major(&g.x[..b * k], b, k),
            };
            gemm_with(kernel, ARef::F32(dy), w_t, 0.0, dx, epilogue, par);
        }
        let x_t = transposed(x);
        let gw = MatMut::row_major(grad_w, k, n);
        let Some((opt, l)) = optimizer else {
            return gemm_with(kernel, x_t, dy, 0.0, gw, Epilogue::None, par);
        };
        match opt.fused(2 * l) {
            Some((rule, state)) => {
                let update = ParamUpdate {
                    rule,
                    param: &mut self.weight,
                    state,
                };
                let owned = owned_rows(par);
                gemm_with(kernel, x_t, dy, 0.0, gw, Epilogue::Update(update), owned);
            }
            None => {
                gemm_with(kernel, x_t, dy, 0.0, gw, Epilogue::None, par);
                opt.update(2 * l, &mut self.weight, grad_w, par);
            }
        }
        opt.update(2 * l + 1, &mut self.bias, grad_b, Parallelism::Sequential);
    }
}

/// The transpose of a layer input, for the weight gradient Xᵀ·dY.
fn transposed(a: ARef<'_>) -> ARef<'_> {
    match a {
        ARef::U8(u) => ARef::U8T(u),
        ARef::U8T(u) => ARef::U8(u),
        ARef::F32(m) => ARef::F32(m.t()),
    }
}

/// How a step's weight-gradient products split: by the rows of W that
/// each thread reads in the forward pass (see [`Parallelism::RowBlocks`]),
/// or not at all.
fn owned_rows(par: Parallelism) -> Parallelism {
    match par {
        Parallelism::Sequential => Parallelism::Sequential,
        Parallelism::Tiles | Parallelism::RowBlocks => Parallelism::RowBlocks,
    }
}

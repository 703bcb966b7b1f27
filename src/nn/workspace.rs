//! The buffers of a forward and backward pass, sized once for a network and
//! a batch size, and the passes over all layers: a training step allocates
//! nothing.

use super::dense::InputGrad;
use super::optim::{AnyOptimizer, Optimizer};
use super::{Architecture, Network};
use crate::kernels::params::PAR_THRESHOLD;
use crate::kernels::{ARef, AlignedVec, MatRef, Parallelism, U8Rows, k_tree_partials_len};
use crate::samples::{Images, Samples};

/// Training batches up to this size split the forward products by the rows
/// of W (k); bigger ones by tiles of the output, which then has rows
/// enough.
const SPLIT_K_MAX_BATCH: usize = 128;

/// Every buffer a forward and backward pass needs, sized once for a batch
/// size and a network.
#[doc(hidden)]
#[derive(Debug)]
pub struct Workspace {
    batch: usize,
    /// Layer outputs, `batch × width` each. All per-layer buffers are
    /// cache-line aligned, so threads writing blocks of them rarely share a
    /// line.
    acts: Vec<AlignedVec>,
    /// Gradients with respect to each layer's pre-activation.
    deltas: Vec<AlignedVec>,
    grad_w: Vec<AlignedVec>,
    grad_b: Vec<AlignedVec>,
    /// Per layer, the k-block partial sums of a training step's forward
    /// product split over threads by the rows of W
    /// ([`crate::kernels::gemm_k_tree`]); empty for batches too big to
    /// split that way, for products too small to split at all, and in
    /// evaluation and prediction workspaces (which split by output tiles,
    /// so that an image's logits never depend on the batch it is evaluated
    /// in).
    partials: Vec<AlignedVec>,
    /// Per-image preprocessing factors (`batch × period`).
    scale: Vec<f32>,
    /// f32 inputs gathered for a batch (only for [`Images::F32`]).
    x: Vec<f32>,
    losses: Vec<f32>,
    correct: Vec<bool>,
}

impl Workspace {
    /// Buffers for batches of up to `batch` images (`with_grads`: for
    /// training steps). Also sizes the kernels' per-thread buffers on every
    /// thread of the current rayon pool: the engine creates it inside the
    /// pool it will run on.
    pub fn new(net: &Network, batch: usize, with_grads: bool) -> Workspace {
        let arch = net.architecture();
        let widths: Vec<usize> = arch.widths().collect();
        let per_layer = |w: usize| AlignedVec::zeros(batch * w);
        let (grad_w, grad_b) = if with_grads {
            let layers = net.layers();
            (
                layers
                    .iter()
                    .map(|l| AlignedVec::zeros(l.weight.len()))
                    .collect(),
                layers
                    .iter()
                    .map(|l| AlignedVec::zeros(l.bias.len()))
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let partials = net
            .layers()
            .iter()
            .map(|l| {
                // Products too small to be worth splitting stay whole (a
                // choice of shapes only, never of the thread count).
                let size = batch * l.outputs * l.inputs;
                let split = with_grads && batch <= SPLIT_K_MAX_BATCH && size >= PAR_THRESHOLD;
                let len = k_tree_partials_len(batch, l.outputs, l.inputs);
                AlignedVec::zeros(if split { len } else { 0 })
            })
            .collect();
        crate::kernels::prepare_threads(widths.iter().copied().max().unwrap_or(0));
        Workspace {
            batch,
            acts: widths.iter().map(|&w| per_layer(w)).collect(),
            deltas: widths.iter().map(|&w| per_layer(w)).collect(),
            grad_w,
            grad_b,
            partials,
            scale: vec![0.0; batch * arch.preprocess.period(arch.cols)],
            x: Vec::new(),
            losses: vec![0.0; batch],
            correct: vec![false; batch],
        }
    }

    /// The largest batch these buffers hold.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// One training step on the images `rows` of `samples`: forward, loss,
    /// backward, optimizer update. Allocates nothing (for u8 images; f32
    /// images grow a gather buffer once). Returns the batch's loss sum and
    /// number of correct predictions (from the forward pass, before the
    /// update, as Keras reports them).
    pub fn step(
        &mut self,
        net: &mut Network,
        optimizer: &mut AnyOptimizer,
        samples: &Samples,
        rows: &[u32],
        par: Parallelism,
    ) -> (f64, usize) {
        optimizer.begin_step();
        self.forward(net, samples, rows, par);
        self.backward(net, samples, rows, par, Some(optimizer));
        self.totals(rows.len())
    }

    /// Forward pass and loss over the images `rows` of `samples`: leaves
    /// outputs, per-image losses and the loss gradient in the buffers.
    pub(crate) fn forward(
        &mut self,
        net: &Network,
        samples: &Samples,
        rows: &[u32],
        par: Parallelism,
    ) {
        let b = rows.len();
        assert!(
            b <= self.batch,
            "batch of {b} in a workspace for {}",
            self.batch
        );
        let Workspace {
            acts,
            deltas,
            partials,
            scale,
            x,
            losses,
            correct,
            ..
        } = self;
        let arch = net.architecture();
        gather_first_input(arch, samples, rows, scale, x);
        let a0 = first_input(arch, samples, rows, scale, x);
        for (l, layer) in net.layers().iter().enumerate() {
            let (before, rest) = acts.split_at_mut(l);
            let input = match l {
                0 => a0,
                _ => ARef::F32(MatRef::row_major(
                    &before[l - 1][..b * layer.inputs],
                    b,
                    layer.inputs,
                )),
            };
            layer.forward(net.kernel(), input, &mut rest[0], &mut partials[l], par);
        }
        let last = acts.len() - 1;
        let classes = arch.classes;
        arch.loss.forward_backward(
            &acts[last][..b * classes],
            classes,
            |i| samples.labels[rows[i] as usize] as usize,
            1.0 / b as f32,
            &mut deltas[last][..b * classes],
            &mut losses[..b],
            &mut correct[..b],
        );
    }

    /// The backward pass after [`Workspace::forward`] on the same images:
    /// per layer, from the last, gradients in the buffers and, with an
    /// optimizer, the update.
    fn backward(
        &mut self,
        net: &mut Network,
        samples: &Samples,
        rows: &[u32],
        par: Parallelism,
        mut optimizer: Option<&mut AnyOptimizer>,
    ) {
        assert!(!self.grad_w.is_empty(), "workspace built without gradients");
        let Workspace {
            acts,
            deltas,
            grad_w,
            grad_b,
            scale,
            x,
            ..
        } = self;
        let a0 = first_input(net.architecture(), samples, rows, scale, x);
        let kernel = net.kernel();
        let b = rows.len();
        let layers = net.layers_mut();
        for l in (0..layers.len()).rev() {
            let k = layers[l].inputs;
            let (before, rest) = deltas.split_at_mut(l);
            let (input, input_grad) = match l {
                0 => (a0, None),
                _ => {
                    let x = &acts[l - 1][..b * k];
                    let grad = InputGrad {
                        dx: &mut before[l - 1],
                        act: layers[l - 1].activation,
                        x,
                    };
                    (ARef::F32(MatRef::row_major(x, b, k)), Some(grad))
                }
            };
            layers[l].backward(
                kernel,
                input,
                &rest[0],
                input_grad,
                &mut grad_w[l],
                &mut grad_b[l],
                par,
                optimizer.as_deref_mut().map(|o| (o, l)),
            );
        }
    }

    /// The logits of the last pass, row `i`.
    pub(crate) fn logits(&self, classes: usize, i: usize) -> &[f32] {
        &self.acts[self.acts.len() - 1][i * classes..(i + 1) * classes]
    }

    /// Sum of per-image losses (in index order, in f64) and count of correct
    /// predictions over the first `b` images of the last pass.
    pub(crate) fn totals(&self, b: usize) -> (f64, usize) {
        let loss = self.losses[..b].iter().map(|&l| l as f64).sum();
        let correct = self.correct[..b].iter().filter(|&&c| c).count();
        (loss, correct)
    }
}

/// Prepares the first layer's input for the images `rows`: the u8 rows'
/// preprocessing factors into `scale`, or the f32 rows gathered into `x`.
fn gather_first_input(
    arch: &Architecture,
    samples: &Samples<'_>,
    rows: &[u32],
    scale: &mut [f32],
    x: &mut Vec<f32>,
) {
    let k = arch.inputs();
    let b = rows.len();
    match samples.images {
        Images::U8(pixels) => {
            let period = arch.preprocess.period(arch.cols);
            for (s, &r) in scale[..b * period].chunks_exact_mut(period).zip(rows) {
                let r = r as usize;
                arch.preprocess
                    .fill_scale(&pixels[r * k..(r + 1) * k], arch.cols, s);
            }
        }
        Images::F32(values) => {
            if x.len() < b * k {
                // Grows once, on the first batch of an f32 run.
                x.resize(b * k, 0.0);
            }
            for (dst, &r) in x.chunks_exact_mut(k).zip(rows) {
                let r = r as usize;
                dst.copy_from_slice(&values[r * k..(r + 1) * k]);
            }
        }
    }
}

/// The first layer's input gathered by [`gather_first_input`]: u8 rows
/// converted while packing, or the gathered f32 rows.
fn first_input<'a>(
    arch: &Architecture,
    samples: &Samples<'a>,
    rows: &'a [u32],
    scale: &'a [f32],
    x: &'a [f32],
) -> ARef<'a> {
    let k = arch.inputs();
    let b = rows.len();
    match samples.images {
        Images::U8(pixels) => {
            let pre = arch.preprocess;
            let period = pre.period(arch.cols);
            ARef::U8(U8Rows {
                pixels,
                row_len: k,
                rows,
                scale: &scale[..b * period],
                period,
                shift: pre.shift(),
            })
        }
        Images::F32(_) => ARef::F32(MatRef::row_major(&x[..b * k], b, k)),
    }
}

/// The mean loss of `net` over the images `rows` of `samples` and its
/// gradients (weights, biases per layer), without updating anything, on
/// one thread: for gradient checks.
#[doc(hidden)]
pub fn loss_and_gradients(
    net: &Network,
    samples: &Samples,
    rows: &[u32],
) -> (f64, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let b = rows.len();
    let mut ws = Workspace::new(net, b, true);
    let mut net = net.clone();
    ws.forward(&net, samples, rows, Parallelism::Sequential);
    ws.backward(&mut net, samples, rows, Parallelism::Sequential, None);
    let (loss, _) = ws.totals(b);
    let vecs = |v: Vec<AlignedVec>| v.iter().map(|g| g.to_vec()).collect();
    (loss / b as f64, vecs(ws.grad_w), vecs(ws.grad_b))
}

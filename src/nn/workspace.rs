//! The buffers of a forward and backward pass, sized once for a network and
//! a batch size, and the passes over all layers: a training step allocates
//! nothing. A training workspace may also drop units out, augment the
//! batch's images and clip the gradient ([`Workspace::set_extras`]); each
//! costs nothing when off.

use rayon::prelude::*;

use super::augment::{Augment, gaussian_kernel};
use super::dense::InputGrad;
use super::dropout;
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
    /// Dropout, augmentation and clipping of training steps (empty in
    /// evaluation workspaces).
    extras: Extras,
}

/// Which step of which run a training step is: what its dropout masks and
/// augmentations are drawn from.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepKey {
    /// The run's seed.
    pub seed: u64,
    /// 0-based epoch.
    pub epoch: u64,
    /// 0-based step within the epoch.
    pub step: u64,
}

/// The training extras of a workspace and their buffers, sized once.
#[derive(Debug, Default)]
struct Extras {
    /// Dropout rate of each layer's output (0 for none); empty without
    /// dropout.
    dropout: Vec<f32>,
    /// Per layer with dropout, the step's mask factors (`batch × width`).
    keep: Vec<AlignedVec>,
    /// Per layer with dropout, its output before the mask.
    undropped: Vec<AlignedVec>,
    /// Largest global gradient norm.
    clip_norm: Option<f32>,
    /// Sums of squares of the gradient's chunks.
    norm_partials: Vec<f64>,
    augment: Option<Augmenting>,
    key: StepKey,
}

/// Augmentation and its buffers: the batch's transformed pixels, which
/// the first layer packs as it packs the memory map.
#[derive(Debug)]
struct Augmenting {
    config: Augment,
    /// `batch × pixels`.
    pixels: Vec<u8>,
    /// `0..batch`: the rows of `pixels`.
    rows: Vec<u32>,
    /// Per image, the elastic fields (`3 × pixels` floats; empty without).
    scratch: Vec<f32>,
    /// The elastic smoothing kernel.
    kernel: Vec<f32>,
}

/// Floats per chunk of the gradient norm's partial sums.
const NORM_CHUNK: usize = 4096;

impl Workspace {
    /// Buffers for batches of up to `batch` images (`with_grads`: for
    /// training steps, which also sizes the kernels' per-thread buffers on
    /// every thread of the current rayon pool: the trainer creates it
    /// inside the pool it will run on).
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
        if with_grads {
            // Evaluation allocates freely; an evaluation workspace may be
            // built outside any pool, on the caller's thread (see
            // `Engine::run`), where a broadcast would reach the global pool.
            crate::kernels::prepare_threads(widths.iter().copied().max().unwrap_or(0));
        }
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
            extras: Extras::default(),
        }
    }

    /// Sets a training workspace's extras, allocating their buffers once:
    /// `dropout` rates per hidden layer (empty for none), a largest
    /// gradient norm, and an augmentation of u8 images.
    ///
    /// # Panics
    /// If `dropout` is neither empty nor one rate per hidden layer.
    pub fn set_extras(
        &mut self,
        net: &Network,
        dropout: &[f32],
        clip_norm: Option<f32>,
        augment: Augment,
    ) {
        let layers = net.layers();
        assert!(
            dropout.is_empty() || dropout.len() + 1 == layers.len(),
            "{} dropout rates for {} hidden layers",
            dropout.len(),
            layers.len() - 1
        );
        let e = &mut self.extras;
        e.dropout = dropout.iter().copied().chain([0.0]).collect();
        if dropout.iter().all(|&r| r == 0.0) {
            e.dropout.clear();
        }
        let sized = |l: usize| {
            let on = e.dropout.get(l).is_some_and(|&r| r > 0.0);
            AlignedVec::zeros(if on {
                self.batch * layers[l].outputs
            } else {
                0
            })
        };
        e.keep = (0..layers.len()).map(sized).collect();
        e.undropped = (0..layers.len()).map(sized).collect();
        e.clip_norm = clip_norm;
        let chunks = |n: usize| n.div_ceil(NORM_CHUNK);
        let most = layers.iter().map(|l| chunks(l.weight.len())).max();
        e.norm_partials = match clip_norm {
            Some(_) => vec![0.0; most.unwrap_or(0)],
            None => Vec::new(),
        };
        let k = net.architecture().inputs();
        e.augment = (!augment.is_off()).then(|| {
            let elastic = augment.elastic;
            Augmenting {
                config: augment,
                pixels: vec![0; self.batch * k],
                rows: (0..self.batch as u32).collect(),
                scratch: vec![
                    0.0;
                    if elastic.is_some() {
                        self.batch * 3 * k
                    } else {
                        0
                    }
                ],
                kernel: elastic.map_or(Vec::new(), |e| gaussian_kernel(e.sigma)),
            }
        });
    }

    /// Which step the next [`Workspace::step`] is (its dropout masks and
    /// augmentations are drawn from it).
    pub fn set_step_key(&mut self, key: StepKey) {
        self.extras.key = key;
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
        match self.extras.clip_norm {
            None => self.backward(net, samples, rows, par, Some(optimizer)),
            Some(max) => {
                // The norm needs every gradient before any update.
                self.backward(net, samples, rows, par, None);
                self.clip_and_update(net, optimizer, max, par);
            }
        }
        self.totals(rows.len())
    }

    /// Scales the gradients in the buffers so that their global norm is at
    /// most `max` (summed per fixed chunk, then in index order), then
    /// updates every tensor.
    fn clip_and_update(
        &mut self,
        net: &mut Network,
        optimizer: &mut AnyOptimizer,
        max: f32,
        par: Parallelism,
    ) {
        let Workspace {
            grad_w,
            grad_b,
            extras,
            ..
        } = self;
        let partials = &mut extras.norm_partials;
        let mut total = 0.0f64;
        for g in grad_w.iter().chain(grad_b.iter()) {
            let n = g.len().div_ceil(NORM_CHUNK);
            let parts = &mut partials[..n];
            match par {
                Parallelism::Sequential => {
                    for (p, c) in parts.iter_mut().zip(g.chunks(NORM_CHUNK)) {
                        *p = sum_squares(c);
                    }
                }
                _ => parts
                    .par_iter_mut()
                    .zip(g.par_chunks(NORM_CHUNK))
                    .for_each(|(p, c)| *p = sum_squares(c)),
            }
            total += parts.iter().sum::<f64>();
        }
        let norm = total.sqrt();
        let scale = if norm > max as f64 {
            (max as f64 / norm) as f32
        } else {
            1.0
        };
        for (l, layer) in net.layers_mut().iter_mut().enumerate() {
            if scale < 1.0 {
                for g in [&mut grad_w[l], &mut grad_b[l]] {
                    match par {
                        Parallelism::Sequential => g.iter_mut().for_each(|v| *v *= scale),
                        _ => g.par_iter_mut().for_each(|v| *v *= scale),
                    }
                }
            }
            optimizer.update(2 * l, &mut layer.weight, &grad_w[l], par);
            let seq = Parallelism::Sequential;
            optimizer.update(2 * l + 1, &mut layer.bias, &grad_b[l], seq);
        }
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
            extras,
            ..
        } = self;
        let arch = net.architecture();
        if let (Some(aug), Images::U8(pixels)) = (&mut extras.augment, samples.images) {
            augment_batch(aug, arch, pixels, rows, extras.key, par);
        }
        let (source, source_rows) = input_source(samples, rows, &extras.augment);
        gather_first_input(arch, &source, source_rows, scale, x);
        let a0 = first_input(arch, &source, source_rows, scale, x);
        let key = extras.key;
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
            if let Some(&rate) = extras.dropout.get(l)
                && rate > 0.0
            {
                let n = b * layer.outputs;
                let keep = &mut extras.keep[l][..n];
                let mask = dropout::mask_key(key.seed, key.epoch, key.step, l);
                dropout::fill_keep(rate, mask, keep);
                dropout::apply(&mut rest[0][..n], keep, &mut extras.undropped[l][..n]);
            }
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
            extras,
            ..
        } = self;
        let (source, source_rows) = input_source(samples, rows, &extras.augment);
        let a0 = first_input(net.architecture(), &source, source_rows, scale, x);
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
                    // With dropout, the activation's derivative is taken at
                    // the output before the mask.
                    let dropped = extras.dropout.get(l - 1).is_some_and(|&r| r > 0.0);
                    let out = if dropped {
                        &extras.undropped[l - 1][..b * k]
                    } else {
                        x
                    };
                    let grad = InputGrad {
                        dx: &mut before[l - 1],
                        act: layers[l - 1].activation,
                        x: out,
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
            if l > 0 && extras.dropout.get(l - 1).is_some_and(|&r| r > 0.0) {
                let n = b * k;
                dropout::backward(&mut before[l - 1][..n], &extras.keep[l - 1][..n]);
            }
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

/// The images the first layer reads, and which of them: the batch's
/// augmented copies when augmenting u8 images, else `samples` itself.
fn input_source<'a>(
    samples: &Samples<'a>,
    rows: &'a [u32],
    augment: &'a Option<Augmenting>,
) -> (Samples<'a>, &'a [u32]) {
    match (augment, samples.images) {
        (Some(aug), Images::U8(_)) => {
            let source = Samples {
                images: Images::U8(&aug.pixels),
                ..*samples
            };
            (source, &aug.rows[..rows.len()])
        }
        _ => (*samples, rows),
    }
}

/// Writes the augmented images `rows` of `pixels` into `aug.pixels`, each
/// transformed as drawn for its index in the training set, spread over the
/// threads image by image (whole-pixel shifts are a copy, done in place).
fn augment_batch(
    aug: &mut Augmenting,
    arch: &Architecture,
    pixels: &[u8],
    rows: &[u32],
    key: StepKey,
    par: Parallelism,
) {
    let (h, w) = (arch.rows, arch.cols);
    let k = h * w;
    let b = rows.len();
    let Augmenting {
        config,
        pixels: out,
        scratch,
        kernel,
        ..
    } = aug;
    let one = |r: u32, dst: &mut [u8], scratch: &mut [f32]| {
        let t = config.draw(key.seed, key.epoch, r as u64);
        let src = &pixels[r as usize * k..(r as usize + 1) * k];
        t.apply(src, h, w, dst, scratch, kernel);
    };
    let out = &mut out[..b * k];
    let cheap = config.rotate == 0.0
        && config.scale == 0.0
        && config.shear == 0.0
        && config.elastic.is_none();
    if matches!(par, Parallelism::Sequential) || cheap {
        if scratch.is_empty() {
            for (dst, &r) in out.chunks_exact_mut(k).zip(rows) {
                one(r, dst, &mut []);
            }
        } else {
            for ((dst, s), &r) in out
                .chunks_exact_mut(k)
                .zip(scratch.chunks_exact_mut(3 * k))
                .zip(rows)
            {
                one(r, dst, s);
            }
        }
    } else if scratch.is_empty() {
        out.par_chunks_exact_mut(k)
            .zip(rows.par_iter())
            .for_each(|(dst, &r)| one(r, dst, &mut []));
    } else {
        out.par_chunks_exact_mut(k)
            .zip(scratch.par_chunks_exact_mut(3 * k))
            .zip(rows.par_iter())
            .for_each(|((dst, s), &r)| one(r, dst, s));
    }
}

/// Sum of squares of `x` in f64, with 16 f32 accumulators (a fixed order).
fn sum_squares(x: &[f32]) -> f64 {
    let mut acc = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v * v;
        }
    }
    let mut s: f64 = acc.iter().map(|&a| a as f64).sum();
    for &v in chunks.remainder() {
        s += (v * v) as f64;
    }
    s
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

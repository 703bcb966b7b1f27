//! The training loop: presets, the step, evaluation and prediction.
//!
//! One step is three products per layer on the [`crate::kernels`] (forward
//! X·W with bias and activation fused, input gradient dY·Wᵀ with the
//! activation derivative fused, weight gradient Xᵀ·dY with the optimizer
//! update fused), the fused softmax loss and the bias gradients. All buffers
//! live in a [`Workspace`] sized once, so a step allocates nothing.
//!
//! Threads own rows of each weight matrix: for training batches up to 128
//! the forward product splits k by those rows ([`crate::kernels::gemm_k_tree`]) and the
//! weight gradient and update split by the same rows
//! ([`Parallelism::RowBlocks`]), so a core keeps its rows of W, of the
//! gradient and of the optimizer state in its cache from step to step.
//! Bigger batches, evaluation and prediction split the forward product by
//! output tiles. Every split
//! sums in an order fixed by the shapes alone, and every reduction runs in
//! index order, so the result is bitwise identical for any number of
//! threads. An epoch keeps the pool's other workers awake between the
//! parallel products ([`crate::pool::with_awake_workers`]).

use crate::kernels::eltwise::{column_sums, softmax_in_place};
use crate::kernels::params::PAR_THRESHOLD;
use crate::kernels::{
    ARef, AlignedVec, Epilogue, MatMut, MatRef, Parallelism, ParamUpdate, U8Rows, gemm_k_tree,
    gemm_with, k_tree_partials_len,
};
use crate::nn::Dense;
use crate::nn::optim::{AdamConfig, AnyOptimizer, Optimizer, OptimizerConfig};
use crate::nn::{Activation, Architecture, Init, Loss, Network};
use crate::preprocess::{Preprocess, PreprocessKind};
use crate::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// Images fed to a network: u8 pixels (straight from a memory map) or f32
/// values an embedding program already prepared.
#[derive(Clone, Copy, Debug)]
pub enum Inputs<'a> {
    /// `len × rows × cols` u8 pixels; the network's preprocessing applies.
    U8(&'a [u8]),
    /// `len × rows × cols` f32 values, used as they are.
    F32(&'a [f32]),
}

/// A set of labelled images, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    /// The images, row-major, one after another.
    pub inputs: Inputs<'a>,
    /// One class index per image.
    pub labels: &'a [u8],
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl<'a> Samples<'a> {
    /// Samples from u8 images (`labels.len()` of them, `rows × cols` each).
    pub fn from_u8(pixels: &'a [u8], labels: &'a [u8], rows: usize, cols: usize) -> Self {
        Samples {
            inputs: Inputs::U8(pixels),
            labels,
            rows,
            cols,
        }
    }

    /// Samples from f32 images (`labels.len()` of them, `rows × cols` each).
    pub fn from_f32(values: &'a [f32], labels: &'a [u8], rows: usize, cols: usize) -> Self {
        Samples {
            inputs: Inputs::F32(values),
            labels,
            rows,
            cols,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Checks sizes and labels against a network's architecture, once, so
    /// the step needs no checks.
    pub fn check(&self, arch: &Architecture) -> Result<()> {
        if (self.rows, self.cols) != (arch.rows, arch.cols) {
            return Err(Error::Config(format!(
                "images are {}x{} but the network takes {}x{}",
                self.rows, self.cols, arch.rows, arch.cols
            )));
        }
        let len = match self.inputs {
            Inputs::U8(p) => p.len(),
            Inputs::F32(p) => p.len(),
        };
        if len != self.len() * arch.inputs() {
            return Err(Error::Config(format!(
                "{len} input values for {} images of {} pixels",
                self.len(),
                arch.inputs()
            )));
        }
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= arch.classes) {
            return Err(Error::Config(format!(
                "label {} of image {i} is not below the {} classes",
                self.labels[i], arch.classes
            )));
        }
        Ok(())
    }
}

/// The two tutorial programs fastnn reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Fashion-MNIST, pixels / 255, 784 → 128 relu → 10, 9 epochs.
    Fashion,
    /// MNIST, `keras-normalize`, 784 → 128 relu → 128 relu → 10, 3 epochs.
    Mnist,
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
    pub preprocess: PreprocessKind,
    /// Seeds the initial weights and every epoch's shuffle.
    pub seed: u64,
    /// Evaluate on the test set after every epoch (for curves).
    pub eval_each_epoch: bool,
    /// Save a checkpoint (model and optimizer state) after every epoch here.
    #[serde(skip)]
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::preset(Preset::Fashion)
    }
}

impl TrainConfig {
    /// A tutorial program's settings (Keras defaults: Adam 1e-3, batch 32,
    /// Glorot-uniform weights).
    pub fn preset(preset: Preset) -> Self {
        let (hidden, epochs, preprocess) = match preset {
            Preset::Fashion => (vec![128], 9, PreprocessKind::Scale),
            Preset::Mnist => (vec![128, 128], 3, PreprocessKind::KerasNormalize),
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
            eval_each_epoch: false,
            checkpoint_dir: None,
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
        if self.batch_size > 1 << 16 {
            return Err(Error::Config(format!(
                "batch size {} is larger than 65536",
                self.batch_size
            )));
        }
        self.optimizer.validate()
    }

    /// A fresh network for images of `rows × cols` and `classes` classes,
    /// preprocessing constants measured on `train`.
    pub fn build_network(&self, train: &Samples, classes: &[String]) -> Result<Network> {
        self.validate()?;
        let preprocess = match train.inputs {
            Inputs::U8(p) => self.preprocess.resolve(p),
            Inputs::F32(_) => Preprocess::Scale,
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
}

/// The parallelism of the current rayon pool.
pub fn current_parallelism() -> Parallelism {
    if rayon::current_num_threads() > 1 {
        Parallelism::Tiles
    } else {
        Parallelism::Sequential
    }
}

/// Every buffer a forward and backward pass needs, sized once for a batch
/// size and a network.
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
    /// product split over threads by the rows of W ([`gemm_k_tree`]);
    /// empty for batches too big to split that way, for products too small
    /// to split at all, and in evaluation and prediction workspaces (which
    /// split by output tiles, so that an image's logits never depend on the
    /// batch it is evaluated in).
    partials: Vec<AlignedVec>,
    /// Per-image preprocessing factors (`batch × period`).
    scale: Vec<f32>,
    /// f32 inputs gathered for a batch (only for [`Inputs::F32`]).
    x: Vec<f32>,
    losses: Vec<f32>,
    correct: Vec<bool>,
}

impl Workspace {
    /// Buffers for batches of up to `batch` images (`with_grads`: for
    /// training steps). Also sizes the kernels' per-thread buffers on every
    /// thread of the current rayon pool: create it inside the pool it will
    /// run on, or each thread grows its buffers once, on its first step.
    pub fn new(net: &Network, batch: usize, with_grads: bool) -> Workspace {
        let arch = net.architecture();
        let widths: Vec<usize> = arch.widths().collect();
        let per_layer = |w: usize| AlignedVec::zeros(batch * w);
        let grads = |on: bool| -> (Vec<AlignedVec>, Vec<AlignedVec>) {
            if !on {
                return (Vec::new(), Vec::new());
            }
            let gw = net
                .layers()
                .iter()
                .map(|l| AlignedVec::zeros(l.weight.len()))
                .collect();
            let gb = net
                .layers()
                .iter()
                .map(|l| AlignedVec::zeros(l.bias.len()))
                .collect();
            (gw, gb)
        };
        let (grad_w, grad_b) = grads(with_grads);
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
    match samples.inputs {
        Inputs::U8(pixels) => {
            let period = arch.preprocess.period(arch.cols);
            for (s, &r) in scale[..b * period].chunks_exact_mut(period).zip(rows) {
                let r = r as usize;
                arch.preprocess
                    .fill_scale(&pixels[r * k..(r + 1) * k], arch.cols, s);
            }
        }
        Inputs::F32(values) => {
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
    match samples.inputs {
        Inputs::U8(pixels) => {
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
        Inputs::F32(_) => ARef::F32(MatRef::row_major(&x[..b * k], b, k)),
    }
}

/// The transpose of a first-layer input, for the weight gradient Xᵀ·dY.
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

/// Training batches up to this size split the forward products by the rows
/// of W (k); bigger ones by tiles of the output, which then has rows
/// enough.
const SPLIT_K_MAX_BATCH: usize = 128;

/// Forward pass of a batch of `b` images whose first-layer input is `a0`:
/// each layer's output goes to `acts[l][..b × width]`. Split by the rows of
/// each W where `partials` has room (see [`gemm_k_tree`]).
fn forward_layers(
    net: &Network,
    a0: ARef<'_>,
    b: usize,
    acts: &mut [AlignedVec],
    partials: &mut [AlignedVec],
    par: Parallelism,
) {
    for (l, layer) in net.layers().iter().enumerate() {
        let (before, rest) = acts.split_at_mut(l);
        let a = match l {
            0 => a0,
            _ => ARef::F32(MatRef::row_major(
                &before[l - 1][..b * layer.inputs],
                b,
                layer.inputs,
            )),
        };
        let w = MatRef::row_major(&layer.weight, layer.inputs, layer.outputs);
        let c = MatMut::row_major(&mut rest[0][..b * layer.outputs], b, layer.outputs);
        let epilogue = Epilogue::BiasAct {
            bias: &layer.bias,
            act: layer.activation,
        };
        if partials[l].is_empty() {
            gemm_with(net.kernel(), a, w, 0.0, c, epilogue, par);
        } else {
            gemm_k_tree(net.kernel(), a, w, c, epilogue, par, &mut partials[l]);
        }
    }
}

/// Backward pass from the loss gradient in the last delta: per layer, from
/// the last, the bias gradient, the input gradient (with the activation
/// derivative fused; all but the first layer) from the weights as they were,
/// then the weight gradient. With an optimizer, each tensor is updated as
/// soon as its gradient is known: weights inside the weight-gradient
/// product when the optimizer allows it ([`Optimizer::fused`]), split by the
/// same rows of W as the forward product.
#[allow(clippy::too_many_arguments)]
fn backward_layers(
    kernel: crate::kernels::KernelChoice,
    layers: &mut [Dense],
    a0: ARef<'_>,
    b: usize,
    acts: &[AlignedVec],
    deltas: &mut [AlignedVec],
    grad_w: &mut [AlignedVec],
    grad_b: &mut [AlignedVec],
    par: Parallelism,
    mut optimizer: Option<&mut AnyOptimizer>,
) {
    for l in (0..layers.len()).rev() {
        let (k, n) = (layers[l].inputs, layers[l].outputs);
        let (before, rest) = deltas.split_at_mut(l);
        let delta = &rest[0][..b * n];
        column_sums(delta, b, n, &mut grad_b[l]);
        let dy = MatRef::row_major(delta, b, n);
        if l > 0 {
            let w_t = MatRef::row_major(&layers[l].weight, k, n).t();
            let dx = MatMut::row_major(&mut before[l - 1][..b * k], b, k);
            let epilogue = Epilogue::ActGrad {
                act: layers[l - 1].activation,
                out: MatRef::row_major(&acts[l - 1][..b * k], b, k),
            };
            gemm_with(kernel, ARef::F32(dy), w_t, 0.0, dx, epilogue, par);
        }
        let x_t = match l {
            0 => transposed(a0),
            _ => ARef::F32(MatRef::row_major(&acts[l - 1][..b * k], b, k).t()),
        };
        let gw = MatMut::row_major(&mut grad_w[l], k, n);
        let layer = &mut layers[l];
        match optimizer.as_deref_mut() {
            None => gemm_with(kernel, x_t, dy, 0.0, gw, Epilogue::None, par),
            Some(opt) => {
                match opt.fused(2 * l) {
                    Some((rule, state)) => {
                        let update = ParamUpdate {
                            rule,
                            param: &mut layer.weight,
                            state,
                        };
                        gemm_with(
                            kernel,
                            x_t,
                            dy,
                            0.0,
                            gw,
                            Epilogue::Update(update),
                            owned_rows(par),
                        );
                    }
                    None => {
                        gemm_with(kernel, x_t, dy, 0.0, gw, Epilogue::None, par);
                        opt.update(2 * l, &mut layer.weight, &grad_w[l], par);
                    }
                }
                opt.update(
                    2 * l + 1,
                    &mut layer.bias,
                    &grad_b[l],
                    Parallelism::Sequential,
                );
            }
        }
    }
}

/// The loss over a batch's logits (the last layer's output): per-image
/// losses and correctness, and the gradient `(softmax - onehot) / b` into
/// `grad`.
#[allow(clippy::too_many_arguments)]
fn batch_loss(
    arch: &Architecture,
    logits: &[f32],
    labels: &[u8],
    rows: &[u32],
    grad: &mut [f32],
    losses: &mut [f32],
    correct: &mut [bool],
) {
    let b = rows.len();
    let classes = arch.classes;
    arch.loss.forward_backward(
        &logits[..b * classes],
        classes,
        |i| labels[rows[i] as usize] as usize,
        1.0 / b as f32,
        &mut grad[..b * classes],
        &mut losses[..b],
        &mut correct[..b],
    );
}

impl Workspace {
    /// One training step on the images `rows` of `samples`: forward, loss,
    /// backward, optimizer update. Allocates nothing (for u8 inputs; f32
    /// inputs grow a gather buffer once). Returns the batch's loss sum and
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
        batch_totals(self, rows.len())
    }

    /// Forward pass and loss over the images `rows` of `samples`: leaves
    /// outputs, per-image losses and the loss gradient in the buffers.
    fn forward(&mut self, net: &Network, samples: &Samples, rows: &[u32], par: Parallelism) {
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
        forward_layers(net, a0, b, acts, partials, par);
        let last = acts.len() - 1;
        batch_loss(
            arch,
            &acts[last],
            samples.labels,
            rows,
            &mut deltas[last],
            losses,
            correct,
        );
    }

    /// The backward pass after [`Workspace::forward`] on the same images:
    /// gradients in the buffers and, with an optimizer, the update.
    fn backward(
        &mut self,
        net: &mut Network,
        samples: &Samples,
        rows: &[u32],
        par: Parallelism,
        optimizer: Option<&mut AnyOptimizer>,
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
        backward_layers(
            kernel,
            net.layers_mut(),
            a0,
            b,
            acts,
            deltas,
            grad_w,
            grad_b,
            par,
            optimizer,
        );
    }

    /// The logits of the last pass, row `i`.
    fn logits(&self, classes: usize, i: usize) -> &[f32] {
        &self.acts[self.acts.len() - 1][i * classes..(i + 1) * classes]
    }
}

/// Sum of per-image losses (in index order, in f64) and count of correct
/// predictions over the first `b` images of a workspace.
fn batch_totals(ws: &Workspace, b: usize) -> (f64, usize) {
    let loss = ws.losses[..b].iter().map(|&l| l as f64).sum();
    let correct = ws.correct[..b].iter().filter(|&&c| c).count();
    (loss, correct)
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch (as the forward passes saw it).
    pub loss: f64,
    /// Training accuracy over the epoch.
    pub accuracy: f64,
    /// Wall-clock seconds of the epoch's steps.
    pub seconds: f64,
    /// Steps taken.
    pub steps: usize,
    /// Test loss after the epoch, when evaluated.
    pub test_loss: Option<f64>,
    /// Test accuracy after the epoch, when evaluated.
    pub test_accuracy: Option<f64>,
}

/// What the trainer reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// An epoch begins.
    EpochStart {
        /// 1-based.
        epoch: usize,
        /// Of how many.
        epochs: usize,
        /// Steps it will take.
        steps: usize,
    },
    /// A step finished.
    Step {
        /// 1-based step within the epoch.
        step: usize,
        /// Steps in the epoch.
        steps: usize,
        /// Mean loss so far this epoch.
        loss: f64,
        /// Accuracy so far this epoch.
        accuracy: f64,
    },
    /// An epoch finished.
    EpochEnd(&'a EpochStats),
}

/// Trains a network: the optimizer state, the buffers and the history.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    optimizer: AnyOptimizer,
    workspace: Workspace,
    order: Vec<u32>,
    history: Vec<EpochStats>,
    dataset: String,
}

impl Trainer {
    /// A trainer for `net` with fresh optimizer state. Create it inside the
    /// rayon pool it will train on (see [`Workspace::new`]).
    pub fn new(net: &Network, config: TrainConfig) -> Result<Trainer> {
        config.validate()?;
        Ok(Trainer {
            optimizer: AnyOptimizer::new(config.optimizer, &net.tensor_lens()),
            workspace: Workspace::new(net, config.batch_size, true),
            config,
            order: Vec::new(),
            history: Vec::new(),
            dataset: String::new(),
        })
    }

    /// Names the dataset in the checkpoints this trainer writes, so that a
    /// resumed run finds it again.
    pub fn set_dataset_name(&mut self, name: impl Into<String>) {
        self.dataset = name.into();
    }

    /// The dataset name given to [`Trainer::set_dataset_name`].
    pub fn dataset_name(&self) -> &str {
        &self.dataset
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Metrics of the completed epochs.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// The optimizer (for checkpoints).
    pub fn optimizer(&self) -> &AnyOptimizer {
        &self.optimizer
    }

    /// Continues from a checkpoint: the optimizer state and the history of
    /// the epochs already done.
    pub fn restore(&mut self, optimizer: AnyOptimizer, history: Vec<EpochStats>) {
        self.optimizer = optimizer;
        self.history = history;
    }

    /// Writes the order in which epoch `epoch` (0-based) visits the images:
    /// a Fisher–Yates shuffle from a ChaCha8 stream derived from the seed and
    /// the epoch alone, so a resumed run visits them exactly as an
    /// uninterrupted one.
    fn shuffle(&mut self, n: usize, epoch: usize) {
        self.order.clear();
        self.order.extend(0..n as u32);
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(epoch as u64 + 1);
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i as u32) as usize;
            self.order.swap(i, j);
        }
    }

    /// One epoch over `train` (the next one after those done).
    ///
    /// Fails, leaving `net` as it was after the last good step, if the loss
    /// becomes NaN or infinite.
    pub fn train_epoch(
        &mut self,
        net: &mut Network,
        train: &Samples,
        observer: &mut (dyn FnMut(Event) + Send),
    ) -> Result<EpochStats> {
        train.check(net.architecture())?;
        if train.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        let n = train.len();
        let epoch = self.history.len();
        let bs = self.config.batch_size;
        let steps = n.div_ceil(bs);
        self.shuffle(n, epoch);
        observer(Event::EpochStart {
            epoch: epoch + 1,
            epochs: self.config.epochs,
            steps,
        });
        let par = current_parallelism();
        let start = Instant::now();
        let Trainer {
            order,
            workspace,
            optimizer,
            ..
        } = self;
        let mut steps_loop = || -> Result<(f64, usize)> {
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for s in 0..steps {
                let rows = &order[s * bs..((s + 1) * bs).min(n)];
                let (l, c) = workspace.step(net, optimizer, train, rows, par);
                if !l.is_finite() {
                    return Err(Error::Diverged(format!(
                        "the loss became {l} at epoch {}, step {}",
                        epoch + 1,
                        s + 1
                    )));
                }
                loss_sum += l;
                correct += c;
                let seen = ((s + 1) * bs).min(n) as f64;
                observer(Event::Step {
                    step: s + 1,
                    steps,
                    loss: loss_sum / seen,
                    accuracy: correct as f64 / seen,
                });
            }
            Ok((loss_sum, correct))
        };
        let (loss_sum, correct) = match par {
            Parallelism::Sequential => steps_loop()?,
            _ => crate::pool::with_awake_workers(steps_loop)?,
        };
        let stats = EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / n as f64,
            accuracy: correct as f64 / n as f64,
            seconds: start.elapsed().as_secs_f64(),
            steps,
            test_loss: None,
            test_accuracy: None,
        };
        Ok(stats)
    }

    /// Trains the remaining epochs, evaluating on `test` after each when the
    /// config asks, saving a checkpoint after each when it names a folder.
    pub fn fit(
        &mut self,
        net: &mut Network,
        train: &Samples,
        test: Option<&Samples>,
        observer: &mut (dyn FnMut(Event) + Send),
    ) -> Result<&[EpochStats]> {
        while self.history.len() < self.config.epochs {
            let mut stats = self.train_epoch(net, train, observer)?;
            if let (true, Some(test)) = (self.config.eval_each_epoch, test) {
                let eval = evaluate(net, test)?;
                stats.test_loss = Some(eval.loss);
                stats.test_accuracy = Some(eval.accuracy);
            }
            self.history.push(stats);
            if let Some(dir) = self.config.checkpoint_dir.clone() {
                crate::model::save_checkpoint(&dir, net, self)?;
            }
            observer(Event::EpochEnd(self.history.last().expect("just pushed")));
        }
        Ok(&self.history)
    }
}

/// Images per forward pass in evaluation and prediction.
const EVAL_BATCH: usize = 500;

/// Test-set metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Share of images classified right.
    pub accuracy: f64,
    /// `classes × classes` counts, row = true class, column = prediction.
    pub confusion: Vec<Vec<u32>>,
}

/// Loss, accuracy and confusion matrix of `net` on `samples`, on the current
/// rayon pool.
pub fn evaluate(net: &Network, samples: &Samples) -> Result<Evaluation> {
    samples.check(net.architecture())?;
    let classes = net.architecture().classes;
    let mut ws = Workspace::new(net, EVAL_BATCH.min(samples.len().max(1)), false);
    let order: Vec<u32> = (0..samples.len() as u32).collect();
    let par = current_parallelism();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let mut confusion = vec![vec![0u32; classes]; classes];
    for rows in order.chunks(ws.batch()) {
        ws.forward(net, samples, rows, par);
        let (l, c) = batch_totals(&ws, rows.len());
        loss += l;
        correct += c;
        for (i, &r) in rows.iter().enumerate() {
            let guess = crate::kernels::eltwise::argmax(ws.logits(classes, i));
            confusion[samples.labels[r as usize] as usize][guess] += 1;
        }
    }
    let n = samples.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss / n,
        accuracy: correct as f64 / n,
        confusion,
    })
}

/// Class probabilities (softmax of the logits) of the images `indices` of
/// `images` (u8 or f32, `rows × cols` each).
pub fn predict(net: &Network, images: Inputs, indices: &[usize]) -> Result<Vec<Vec<f32>>> {
    let arch = net.architecture();
    let k = arch.inputs();
    let count = match images {
        Inputs::U8(p) => p.len() / k,
        Inputs::F32(p) => p.len() / k,
    };
    if let Some(&bad) = indices.iter().find(|&&i| i >= count) {
        return Err(Error::Config(format!(
            "image index {bad} is out of range (there are {count} images)"
        )));
    }
    // Labels are not known here: predict against class 0 and ignore the loss.
    let labels = vec![0u8; count];
    let samples = Samples {
        inputs: images,
        labels: &labels,
        rows: arch.rows,
        cols: arch.cols,
    };
    let mut ws = Workspace::new(net, EVAL_BATCH.min(indices.len().max(1)), false);
    let rows: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
    let mut out = Vec::with_capacity(indices.len());
    for chunk in rows.chunks(ws.batch()) {
        ws.forward(net, &samples, chunk, current_parallelism());
        for i in 0..chunk.len() {
            let mut p = ws.logits(arch.classes, i).to_vec();
            softmax_in_place(&mut p);
            out.push(p);
        }
    }
    Ok(out)
}

/// The mean loss of `net` over the images `rows` of `samples` and its
/// gradients (weights, biases per layer), without updating anything: for
/// gradient checks.
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
    let (loss, _) = batch_totals(&ws, b);
    let vecs = |v: Vec<AlignedVec>| v.iter().map(|g| g.to_vec()).collect();
    (loss / b as f64, vecs(ws.grad_w), vecs(ws.grad_b))
}

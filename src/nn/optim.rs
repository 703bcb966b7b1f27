//! Optimizers: a trait with a `Config` type and `update`, Adam and SGD.
//!
//! An optimizer keeps one state slot per parameter tensor (each layer's
//! weight, then its bias). A training step calls [`Optimizer::begin_step`]
//! once, then [`Optimizer::update`] per tensor: no slices of slices are built,
//! so a step allocates nothing.

use crate::kernels::eltwise::{AdamStep, adam_par, adam_seq, sgd_par, sgd_seq};
use crate::kernels::{AlignedVec, Parallelism, UpdateRule};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Updates parameters from gradients.
pub trait Optimizer: Send {
    /// The hyper-parameters.
    type Config;

    /// An optimizer for tensors of the given lengths.
    fn new(config: Self::Config, tensor_lens: &[usize]) -> Self
    where
        Self: Sized;

    /// Starts step `t + 1` (bias corrections depend on the step count).
    fn begin_step(&mut self);

    /// Updates tensor `slot` from its gradient.
    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism);

    /// Tensor `slot`'s update of this step as an element-wise rule and the
    /// state buffers it reads and writes, for a trainer that applies it
    /// inside the product computing the gradient
    /// ([`crate::kernels::Epilogue::Update`]); the result must equal
    /// [`Optimizer::update`] bit for bit. `None` (the default): the trainer
    /// calls `update` after the backward pass instead.
    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        let _ = slot;
        None
    }

    /// Steps taken so far.
    fn steps(&self) -> u64;

    /// The state to checkpoint: named buffers per slot.
    fn state(&self) -> Vec<(String, &[f32])>;

    /// Restores a checkpointed state (buffers by the names [`Self::state`]
    /// gave, and the step count).
    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()>;
}

/// Adam's hyper-parameters (Keras defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to `√v`.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
}

/// Adam, with Keras's placement of the bias corrections and ε.
#[derive(Clone, Debug)]
pub struct Adam {
    config: AdamConfig,
    t: u64,
    step: AdamStep,
    m: Vec<AlignedVec>,
    v: Vec<AlignedVec>,
}

impl Optimizer for Adam {
    type Config = AdamConfig;

    fn new(config: AdamConfig, tensor_lens: &[usize]) -> Self {
        Adam {
            config,
            t: 0,
            step: AdamStep {
                lr_t: 0.0,
                beta1: config.beta1,
                beta2: config.beta2,
                eps: config.eps,
            },
            m: tensor_lens.iter().map(|&n| AlignedVec::zeros(n)).collect(),
            v: tensor_lens.iter().map(|&n| AlignedVec::zeros(n)).collect(),
        }
    }

    fn begin_step(&mut self) {
        self.t += 1;
        let t = self.t as f64;
        let c = &self.config;
        let lr_t = c.lr as f64 * (1.0 - (c.beta2 as f64).powf(t)).sqrt()
            / (1.0 - (c.beta1 as f64).powf(t));
        self.step.lr_t = lr_t as f32;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        let (m, v) = (&mut self.m[slot], &mut self.v[slot]);
        match par {
            Parallelism::Sequential => adam_seq(self.step, param, grad, m, v),
            Parallelism::Tiles | Parallelism::RowBlocks => adam_par(self.step, param, grad, m, v),
        }
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        let state = [&mut self.m[slot][..], &mut self.v[slot][..]];
        Some((UpdateRule::Adam(self.step), state))
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        let m = self
            .m
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("adam.m.{i}"), &b[..]));
        let v = self
            .v
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("adam.v.{i}"), &b[..]));
        m.chain(v).collect()
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        for (i, b) in self.m.iter_mut().enumerate() {
            get(&format!("adam.m.{i}"), b)?;
        }
        for (i, b) in self.v.iter_mut().enumerate() {
            get(&format!("adam.v.{i}"), b)?;
        }
        self.t = steps;
        Ok(())
    }
}

/// SGD's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f32,
    /// Momentum (0 for plain SGD), Keras's form.
    pub momentum: f32,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
        }
    }
}

/// Stochastic gradient descent with optional momentum.
#[derive(Clone, Debug)]
pub struct Sgd {
    config: SgdConfig,
    t: u64,
    velocity: Vec<AlignedVec>,
}

impl Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(config: SgdConfig, tensor_lens: &[usize]) -> Self {
        Sgd {
            config,
            t: 0,
            velocity: tensor_lens.iter().map(|&n| AlignedVec::zeros(n)).collect(),
        }
    }

    fn begin_step(&mut self) {
        self.t += 1;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        let SgdConfig { lr, momentum } = self.config;
        let vel = &mut self.velocity[slot];
        match par {
            Parallelism::Sequential => sgd_seq(lr, momentum, param, grad, vel),
            Parallelism::Tiles | Parallelism::RowBlocks => sgd_par(lr, momentum, param, grad, vel),
        }
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        let SgdConfig { lr, momentum } = self.config;
        let state = [&mut self.velocity[slot][..], &mut []];
        Some((UpdateRule::Sgd { lr, momentum }, state))
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        self.velocity
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("sgd.velocity.{i}"), &b[..]))
            .collect()
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        for (i, b) in self.velocity.iter_mut().enumerate() {
            get(&format!("sgd.velocity.{i}"), b)?;
        }
        self.t = steps;
        Ok(())
    }
}

/// Which optimizer, without its settings (what `--optimizer` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam.
    Adam,
    /// SGD with optional momentum.
    Sgd,
}

impl OptimizerKind {
    /// The name `--optimizer` uses.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
        }
    }

    /// This optimizer with its default settings.
    pub fn default_config(self) -> OptimizerConfig {
        match self {
            OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig::default()),
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig::default()),
        }
    }
}

/// Which optimizer to train with, and its settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Adam.
    Adam(AdamConfig),
    /// SGD.
    Sgd(SgdConfig),
}

impl OptimizerConfig {
    /// Which optimizer.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            OptimizerConfig::Adam(_) => OptimizerKind::Adam,
            OptimizerConfig::Sgd(_) => OptimizerKind::Sgd,
        }
    }

    /// The name `--optimizer` uses.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Adam(c) => c.lr,
            OptimizerConfig::Sgd(c) => c.lr,
        }
    }

    /// The same settings with learning rate `lr`.
    pub fn with_lr(mut self, lr: f32) -> Self {
        match &mut self {
            OptimizerConfig::Adam(c) => c.lr = lr,
            OptimizerConfig::Sgd(c) => c.lr = lr,
        }
        self
    }

    /// The SGD momentum (`None` for Adam).
    pub fn momentum(&self) -> Option<f32> {
        match self {
            OptimizerConfig::Adam(_) => None,
            OptimizerConfig::Sgd(c) => Some(c.momentum),
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        let lr = self.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::Config(format!(
                "the learning rate must be positive and finite, not {lr}"
            )));
        }
        match self {
            OptimizerConfig::Adam(c) => {
                for (name, b) in [("beta1", c.beta1), ("beta2", c.beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::Config(format!(
                            "Adam's {name} must be in [0, 1), not {b}"
                        )));
                    }
                }
                if !(c.eps > 0.0 && c.eps.is_finite()) {
                    return Err(Error::Config(format!(
                        "Adam's epsilon must be positive, not {}",
                        c.eps
                    )));
                }
            }
            OptimizerConfig::Sgd(c) => {
                if !(0.0..1.0).contains(&c.momentum) {
                    return Err(Error::Config(format!(
                        "the momentum must be in [0, 1), not {}",
                        c.momentum
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Any of the optimizers, chosen at run time by an [`OptimizerConfig`].
#[derive(Clone, Debug)]
pub enum AnyOptimizer {
    /// Adam.
    Adam(Adam),
    /// SGD.
    Sgd(Sgd),
}

impl AnyOptimizer {
    /// Which optimizer this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            AnyOptimizer::Adam(_) => OptimizerKind::Adam,
            AnyOptimizer::Sgd(_) => OptimizerKind::Sgd,
        }
    }

    /// Lengths of the parameter tensors it keeps state for, in slot order.
    pub fn tensor_lens(&self) -> Vec<usize> {
        match self {
            AnyOptimizer::Adam(o) => o.m.iter().map(|b| b.len()).collect(),
            AnyOptimizer::Sgd(o) => o.velocity.iter().map(|b| b.len()).collect(),
        }
    }
}

impl Optimizer for AnyOptimizer {
    type Config = OptimizerConfig;

    fn new(config: OptimizerConfig, tensor_lens: &[usize]) -> Self {
        match config {
            OptimizerConfig::Adam(c) => AnyOptimizer::Adam(Adam::new(c, tensor_lens)),
            OptimizerConfig::Sgd(c) => AnyOptimizer::Sgd(Sgd::new(c, tensor_lens)),
        }
    }

    fn begin_step(&mut self) {
        match self {
            AnyOptimizer::Adam(o) => o.begin_step(),
            AnyOptimizer::Sgd(o) => o.begin_step(),
        }
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        match self {
            AnyOptimizer::Adam(o) => o.update(slot, param, grad, par),
            AnyOptimizer::Sgd(o) => o.update(slot, param, grad, par),
        }
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        match self {
            AnyOptimizer::Adam(o) => o.fused(slot),
            AnyOptimizer::Sgd(o) => o.fused(slot),
        }
    }

    fn steps(&self) -> u64 {
        match self {
            AnyOptimizer::Adam(o) => o.steps(),
            AnyOptimizer::Sgd(o) => o.steps(),
        }
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        match self {
            AnyOptimizer::Adam(o) => o.state(),
            AnyOptimizer::Sgd(o) => o.state(),
        }
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            AnyOptimizer::Adam(o) => o.restore(steps, get),
            AnyOptimizer::Sgd(o) => o.restore(steps, get),
        }
    }
}

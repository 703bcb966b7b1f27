//! Optimizers: a trait with a `Config` type and `update`; Adam (and AdamW),
//! SGD (with momentum or Nesterov momentum) and RMSprop.
//!
//! An optimizer keeps one state slot per parameter tensor (each layer's
//! weight, then its bias: even slots are weights). A training step calls
//! [`Optimizer::begin_step`] once, then [`Optimizer::update`] per tensor: no
//! slices of slices are built, so a step allocates nothing. The learning
//! rate of a schedule and the weights' [`Regularization`] are set before a
//! step; plain Adam and SGD without regularization keep the kernels' fused
//! update, everything else updates after the gradient
//! ([`super::rules`]).

pub use super::rules::Regularization;
use super::rules::{self, Rule};
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

    /// The learning rate from the next [`Optimizer::begin_step`] on (a
    /// schedule's).
    fn set_lr(&mut self, lr: f32);

    /// The regularization of the weight tensors (even slots) from the next
    /// update on.
    fn set_regularization(&mut self, reg: Regularization);

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
    reg: Regularization,
    m: Vec<AlignedVec>,
    v: Vec<AlignedVec>,
}

/// Whether slot `slot` (a weight when even) is regularized by `reg`.
fn regularized(reg: &Regularization, slot: usize) -> bool {
    slot.is_multiple_of(2) && !reg.is_none()
}

/// Each buffer of `bufs` named `{prefix}.{i}`, for [`Optimizer::state`].
fn named<'a>(prefix: &str, bufs: &'a [AlignedVec]) -> Vec<(String, &'a [f32])> {
    bufs.iter()
        .enumerate()
        .map(|(i, b)| (format!("{prefix}.{i}"), &b[..]))
        .collect()
}

/// Fills each buffer of `bufs` with the state named `{prefix}.{i}`, for
/// [`Optimizer::restore`].
fn restore_named(
    prefix: &str,
    bufs: &mut [AlignedVec],
    get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
) -> Result<()> {
    for (i, b) in bufs.iter_mut().enumerate() {
        get(&format!("{prefix}.{i}"), b)?;
    }
    Ok(())
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
            reg: Regularization::default(),
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

    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    fn set_regularization(&mut self, reg: Regularization) {
        self.reg = reg;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        let (m, v) = (&mut self.m[slot], &mut self.v[slot]);
        if regularized(&self.reg, slot) {
            let rule = Rule::Adam(self.step);
            return rules::update(rule, self.reg, param, grad, m, v, par);
        }
        match par {
            Parallelism::Sequential => adam_seq(self.step, param, grad, m, v),
            Parallelism::Tiles | Parallelism::RowBlocks => adam_par(self.step, param, grad, m, v),
        }
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        if regularized(&self.reg, slot) {
            return None;
        }
        let state = [&mut self.m[slot][..], &mut self.v[slot][..]];
        Some((UpdateRule::Adam(self.step), state))
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        let mut state = named("adam.m", &self.m);
        state.extend(named("adam.v", &self.v));
        state
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        restore_named("adam.m", &mut self.m, get)?;
        restore_named("adam.v", &mut self.v, get)?;
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

/// Stochastic gradient descent with optional momentum (Keras's form) or
/// Nesterov momentum.
#[derive(Clone, Debug)]
pub struct Sgd {
    config: SgdConfig,
    nesterov: bool,
    reg: Regularization,
    t: u64,
    velocity: Vec<AlignedVec>,
}

impl Sgd {
    /// SGD with Nesterov momentum (Keras's `SGD(nesterov=True)`):
    /// `v = μ·v - lr·g; w += μ·v - lr·g`.
    pub fn nesterov(config: SgdConfig, tensor_lens: &[usize]) -> Sgd {
        Sgd {
            nesterov: true,
            ..Sgd::new(config, tensor_lens)
        }
    }

    /// Whether slot `slot` needs [`rules`] rather than the kernels' rule.
    fn general(&self, slot: usize) -> bool {
        self.nesterov || regularized(&self.reg, slot)
    }
}

impl Optimizer for Sgd {
    type Config = SgdConfig;

    fn new(config: SgdConfig, tensor_lens: &[usize]) -> Self {
        Sgd {
            config,
            nesterov: false,
            reg: Regularization::default(),
            t: 0,
            velocity: tensor_lens.iter().map(|&n| AlignedVec::zeros(n)).collect(),
        }
    }

    fn begin_step(&mut self) {
        self.t += 1;
    }

    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    fn set_regularization(&mut self, reg: Regularization) {
        self.reg = reg;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        let SgdConfig { lr, momentum } = self.config;
        let general = self.general(slot);
        let vel = &mut self.velocity[slot];
        if general {
            let rule = Rule::Sgd {
                lr,
                momentum,
                nesterov: self.nesterov,
            };
            let reg = if slot.is_multiple_of(2) {
                self.reg
            } else {
                Regularization::default()
            };
            return rules::update(rule, reg, param, grad, vel, &mut [], par);
        }
        match par {
            Parallelism::Sequential => sgd_seq(lr, momentum, param, grad, vel),
            Parallelism::Tiles | Parallelism::RowBlocks => sgd_par(lr, momentum, param, grad, vel),
        }
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        if self.general(slot) {
            return None;
        }
        let SgdConfig { lr, momentum } = self.config;
        let state = [&mut self.velocity[slot][..], &mut []];
        Some((UpdateRule::Sgd { lr, momentum }, state))
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        named("sgd.velocity", &self.velocity)
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        restore_named("sgd.velocity", &mut self.velocity, get)?;
        self.t = steps;
        Ok(())
    }
}

/// RMSprop's hyper-parameters (Keras defaults).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the mean square.
    pub rho: f32,
    /// Added to the root mean square.
    pub eps: f32,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-3,
            rho: 0.9,
            eps: 1e-7,
        }
    }
}

/// RMSprop (Keras's form, no momentum): `v = ρ·v + (1-ρ)·g²`,
/// `w -= lr · g / (√v + ε)`.
#[derive(Clone, Debug)]
pub struct RmsProp {
    config: RmsPropConfig,
    reg: Regularization,
    t: u64,
    mean_square: Vec<AlignedVec>,
}

impl Optimizer for RmsProp {
    type Config = RmsPropConfig;

    fn new(config: RmsPropConfig, tensor_lens: &[usize]) -> Self {
        RmsProp {
            config,
            reg: Regularization::default(),
            t: 0,
            mean_square: tensor_lens.iter().map(|&n| AlignedVec::zeros(n)).collect(),
        }
    }

    fn begin_step(&mut self) {
        self.t += 1;
    }

    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    fn set_regularization(&mut self, reg: Regularization) {
        self.reg = reg;
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        let RmsPropConfig { lr, rho, eps } = self.config;
        let reg = if slot.is_multiple_of(2) {
            self.reg
        } else {
            Regularization::default()
        };
        let v = &mut self.mean_square[slot];
        rules::update(
            Rule::RmsProp { lr, rho, eps },
            reg,
            param,
            grad,
            v,
            &mut [],
            par,
        );
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        named("rmsprop.v", &self.mean_square)
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        restore_named("rmsprop.v", &mut self.mean_square, get)?;
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
    /// Adam with decoupled weight decay (`--weight-decay`, 0.01 unless
    /// given).
    #[cfg_attr(feature = "cli", value(name = "adamw"))]
    AdamW,
    /// SGD with optional momentum.
    Sgd,
    /// SGD with Nesterov momentum (0.9 unless given).
    Nesterov,
    /// RMSprop.
    #[cfg_attr(feature = "cli", value(name = "rmsprop"))]
    RmsProp,
}

impl OptimizerKind {
    /// The name `--optimizer` uses.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::RmsProp => "rmsprop",
        }
    }

    /// This optimizer with its default settings.
    pub fn default_config(self) -> OptimizerConfig {
        match self {
            OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig::default()),
            OptimizerKind::AdamW => OptimizerConfig::AdamW(AdamConfig::default()),
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig::default()),
            OptimizerKind::Nesterov => OptimizerConfig::Nesterov(SgdConfig {
                momentum: 0.9,
                ..SgdConfig::default()
            }),
            OptimizerKind::RmsProp => OptimizerConfig::RmsProp(RmsPropConfig::default()),
        }
    }

    /// Whether `--momentum` applies.
    pub fn has_momentum(self) -> bool {
        matches!(self, OptimizerKind::Sgd | OptimizerKind::Nesterov)
    }
}

/// Which optimizer to train with, and its settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Adam.
    Adam(AdamConfig),
    /// Adam with decoupled weight decay (the decay is
    /// [`crate::TrainConfig::weight_decay`]).
    #[serde(rename = "adamw")]
    AdamW(AdamConfig),
    /// SGD.
    Sgd(SgdConfig),
    /// SGD with Nesterov momentum.
    Nesterov(SgdConfig),
    /// RMSprop.
    #[serde(rename = "rmsprop")]
    RmsProp(RmsPropConfig),
}

impl OptimizerConfig {
    /// Which optimizer.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            OptimizerConfig::Adam(_) => OptimizerKind::Adam,
            OptimizerConfig::AdamW(_) => OptimizerKind::AdamW,
            OptimizerConfig::Sgd(_) => OptimizerKind::Sgd,
            OptimizerConfig::Nesterov(_) => OptimizerKind::Nesterov,
            OptimizerConfig::RmsProp(_) => OptimizerKind::RmsProp,
        }
    }

    /// The name `--optimizer` uses.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::Sgd(c) | OptimizerConfig::Nesterov(c) => c.lr,
            OptimizerConfig::RmsProp(c) => c.lr,
        }
    }

    /// The same settings with learning rate `lr`.
    pub fn with_lr(mut self, lr: f32) -> Self {
        match &mut self {
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr = lr,
            OptimizerConfig::Sgd(c) | OptimizerConfig::Nesterov(c) => c.lr = lr,
            OptimizerConfig::RmsProp(c) => c.lr = lr,
        }
        self
    }

    /// The momentum (`None` for the optimizers without one).
    pub fn momentum(&self) -> Option<f32> {
        match self {
            OptimizerConfig::Sgd(c) | OptimizerConfig::Nesterov(c) => Some(c.momentum),
            _ => None,
        }
    }

    /// The same settings with momentum `m` (for the optimizers that have
    /// one).
    pub fn with_momentum(mut self, m: f32) -> Self {
        if let OptimizerConfig::Sgd(c) | OptimizerConfig::Nesterov(c) = &mut self {
            c.momentum = m;
        }
        self
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
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => {
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
            OptimizerConfig::Sgd(c) | OptimizerConfig::Nesterov(c) => {
                if !(0.0..1.0).contains(&c.momentum) {
                    return Err(Error::Config(format!(
                        "the momentum must be in [0, 1), not {}",
                        c.momentum
                    )));
                }
            }
            OptimizerConfig::RmsProp(c) => {
                if !((0.0..1.0).contains(&c.rho) && c.eps > 0.0 && c.eps.is_finite()) {
                    return Err(Error::Config(format!(
                        "RMSprop needs rho in [0, 1) and a positive epsilon, not {} and {}",
                        c.rho, c.eps
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
    /// AdamW: Adam, with the weight decay set as its regularization.
    AdamW(Adam),
    /// SGD.
    Sgd(Sgd),
    /// SGD with Nesterov momentum.
    Nesterov(Sgd),
    /// RMSprop.
    RmsProp(RmsProp),
}

/// `$body` with `$o` bound to the optimizer inside any variant.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            AnyOptimizer::Adam($o) | AnyOptimizer::AdamW($o) => $body,
            AnyOptimizer::Sgd($o) | AnyOptimizer::Nesterov($o) => $body,
            AnyOptimizer::RmsProp($o) => $body,
        }
    };
}

impl AnyOptimizer {
    /// Which optimizer this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            AnyOptimizer::Adam(_) => OptimizerKind::Adam,
            AnyOptimizer::AdamW(_) => OptimizerKind::AdamW,
            AnyOptimizer::Sgd(_) => OptimizerKind::Sgd,
            AnyOptimizer::Nesterov(_) => OptimizerKind::Nesterov,
            AnyOptimizer::RmsProp(_) => OptimizerKind::RmsProp,
        }
    }

    /// Lengths of the parameter tensors it keeps state for, in slot order.
    pub fn tensor_lens(&self) -> Vec<usize> {
        match self {
            AnyOptimizer::Adam(o) | AnyOptimizer::AdamW(o) => o.m.iter().map(|b| b.len()).collect(),
            AnyOptimizer::Sgd(o) | AnyOptimizer::Nesterov(o) => {
                o.velocity.iter().map(|b| b.len()).collect()
            }
            AnyOptimizer::RmsProp(o) => o.mean_square.iter().map(|b| b.len()).collect(),
        }
    }
}

impl Optimizer for AnyOptimizer {
    type Config = OptimizerConfig;

    fn new(config: OptimizerConfig, tensor_lens: &[usize]) -> Self {
        match config {
            OptimizerConfig::Adam(c) => AnyOptimizer::Adam(Adam::new(c, tensor_lens)),
            OptimizerConfig::AdamW(c) => AnyOptimizer::AdamW(Adam::new(c, tensor_lens)),
            OptimizerConfig::Sgd(c) => AnyOptimizer::Sgd(Sgd::new(c, tensor_lens)),
            OptimizerConfig::Nesterov(c) => AnyOptimizer::Nesterov(Sgd::nesterov(c, tensor_lens)),
            OptimizerConfig::RmsProp(c) => AnyOptimizer::RmsProp(RmsProp::new(c, tensor_lens)),
        }
    }

    fn begin_step(&mut self) {
        each!(self, o => o.begin_step())
    }

    fn set_lr(&mut self, lr: f32) {
        each!(self, o => o.set_lr(lr))
    }

    fn set_regularization(&mut self, reg: Regularization) {
        each!(self, o => o.set_regularization(reg))
    }

    fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], par: Parallelism) {
        each!(self, o => o.update(slot, param, grad, par))
    }

    fn fused(&mut self, slot: usize) -> Option<(UpdateRule, [&mut [f32]; 2])> {
        each!(self, o => o.fused(slot))
    }

    fn steps(&self) -> u64 {
        each!(self, o => o.steps())
    }

    fn state(&self) -> Vec<(String, &[f32])> {
        each!(self, o => o.state())
    }

    fn restore(
        &mut self,
        steps: u64,
        get: &mut dyn FnMut(&str, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        each!(self, o => o.restore(steps, get))
    }
}

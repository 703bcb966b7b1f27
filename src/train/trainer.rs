//! The training loop: a [`Trainer`] owns its network, its optimizer state,
//! its buffers and an [`Engine`], and runs epochs of shuffled batches.

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::early_stopping::StopReport;
use super::epoch::EpochStats;
use crate::engine::{Engine, with_awake_workers};
use crate::infer::{Evaluation, evaluate};
use crate::kernels::{KernelChoice, Parallelism};
use crate::nn::{
    AnyOptimizer, Dense, Loss, Network, Optimizer, Regularization, StepKey, Workspace,
};
use crate::samples::{Images, Samples};
use crate::{Error, Result};

/// What a trainer reports while it runs.
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
    /// An epoch finished: its metrics, and the trainer as it stands (to
    /// save a checkpoint from, for example).
    EpochEnd {
        /// The epoch's metrics (also the last of [`Trainer::history`]).
        stats: &'a EpochStats,
        /// The trainer after the epoch.
        trainer: &'a Trainer,
    },
}

/// A callback for a trainer's [`Event`]s. Returning an error stops
/// training with that error (for example when a checkpoint cannot be
/// written). It runs on the engine's threads, hence `Send`.
pub type Observer<'o> = dyn FnMut(Event<'_>) -> Result<()> + Send + 'o;

/// The state of a run beside its network: what a checkpoint holds, and
/// what [`Trainer::resume`] continues from.
#[derive(Clone, Debug)]
pub struct TrainState {
    /// The run's settings.
    pub config: TrainConfig,
    /// The optimizer with its state.
    pub optimizer: AnyOptimizer,
    /// The epochs completed.
    pub history: Vec<EpochStats>,
}

/// A run whose mean training loss exceeds this many times the loss of an
/// untrained network (cross-entropy `ln C` for `C` classes) has diverged,
/// even while its loss is still finite: no run that learns comes near it.
pub const RUNAWAY_FACTOR: f64 = 100.0;

/// Steps of an epoch before its mean loss is judged (a few unlucky first
/// batches do not count).
const RUNAWAY_AFTER_STEPS: usize = 20;

/// The mean loss above which a run has diverged, if the loss can grow
/// without bound (cross-entropy); mean squared error of a softmax is at
/// most 2, so there only a NaN can say so.
fn runaway_loss(loss: Loss, classes: usize) -> Option<f64> {
    match loss {
        Loss::Xent => Some(RUNAWAY_FACTOR * (classes as f64).ln()),
        Loss::Mse => None,
    }
}

impl TrainState {
    /// Checks that the numbers agree with each other: usable settings, no
    /// more epochs done than planned, epochs numbered in order with finite
    /// metrics, and the optimizer's step count the sum of the epochs' steps.
    /// (A checkpoint file is read back through this.)
    pub fn check(&self) -> Result<()> {
        self.config.validate()?;
        let bad = |what: String| Err(Error::Config(format!("the training state {what}")));
        if self.history.len() > self.config.epochs {
            return bad(format!(
                "has {} epochs done of {} planned",
                self.history.len(),
                self.config.epochs
            ));
        }
        let mut steps = 0u64;
        for (i, e) in self.history.iter().enumerate() {
            let finite = [e.loss, e.seconds]
                .into_iter()
                .chain(e.val_loss)
                .all(f64::is_finite);
            let share = |a: f64| (0.0..=1.0).contains(&a);
            if e.epoch != i + 1
                || !finite
                || !share(e.accuracy)
                || !e.val_accuracy.is_none_or(share)
                || e.steps == 0
            {
                return bad(format!("has a malformed record of epoch {}", i + 1));
            }
            steps += e.steps as u64;
        }
        if self.optimizer.steps() != steps {
            return bad(format!(
                "says the optimizer took {} steps but its epochs took {steps}",
                self.optimizer.steps()
            ));
        }
        Ok(())
    }
}

/// Trains a network it owns: the optimizer state, the buffers (sized once,
/// so a step allocates nothing), the history and the engine it runs on.
#[derive(Debug)]
pub struct Trainer {
    engine: Engine,
    net: Network,
    config: TrainConfig,
    optimizer: AnyOptimizer,
    workspace: Workspace,
    order: Vec<u32>,
    history: Vec<EpochStats>,
    /// With early stopping that restores the best weights: the best
    /// epoch so far (1-based) and its layers, copied once per epoch that
    /// improves (never in a step).
    best: Option<(usize, Vec<Dense>)>,
    /// How early stopping ended the last [`Trainer::fit`].
    stop: Option<StopReport>,
}

impl Trainer {
    /// A trainer for `net` with fresh optimizer state, on `engine`.
    ///
    /// Fails if the settings are unusable or describe another network
    /// (see [`TrainConfig::check_network`]).
    pub fn new(engine: &Engine, net: Network, config: TrainConfig) -> Result<Trainer> {
        config.validate()?;
        config.check_network(&net)?;
        let optimizer = AnyOptimizer::new(config.optimizer, &net.tensor_lens());
        Ok(Trainer::assemble(
            engine,
            net,
            config,
            optimizer,
            Vec::new(),
        ))
    }

    /// Continues a run from its network and state (a checkpoint's).
    ///
    /// Fails if the state does not belong to the network: other settings
    /// or optimizer buffers of other sizes.
    pub fn resume(engine: &Engine, net: Network, state: TrainState) -> Result<Trainer> {
        state.check()?;
        let TrainState {
            config,
            optimizer,
            history,
        } = state;
        config.check_network(&net)?;
        if optimizer.kind() != config.optimizer.kind() {
            return Err(Error::Config(format!(
                "the optimizer state is {}'s but the settings say {}",
                optimizer.kind().name(),
                config.optimizer.name()
            )));
        }
        if optimizer.tensor_lens() != net.tensor_lens() {
            return Err(Error::Config(
                "the optimizer state does not fit the network's parameters".into(),
            ));
        }
        Ok(Trainer::assemble(engine, net, config, optimizer, history))
    }

    fn assemble(
        engine: &Engine,
        net: Network,
        config: TrainConfig,
        optimizer: AnyOptimizer,
        history: Vec<EpochStats>,
    ) -> Trainer {
        let batch = config.batch_size;
        let workspace = engine.install(|| {
            let mut ws = Workspace::new(&net, batch, true);
            ws.set_extras(&net, &config.dropout, config.clip_norm, config.augment);
            ws
        });
        Trainer {
            engine: engine.clone(),
            net,
            config,
            optimizer,
            workspace,
            order: Vec::new(),
            history,
            best: None,
            stop: None,
        }
    }

    /// The network, as trained so far.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The trained network.
    pub fn into_network(self) -> Network {
        self.net
    }

    /// The engine it trains on.
    pub fn engine(&self) -> &Engine {
        &self.engine
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

    /// The optimizer and its state.
    pub fn optimizer(&self) -> &AnyOptimizer {
        &self.optimizer
    }

    /// The state to checkpoint beside [`Trainer::network`].
    pub fn state(&self) -> TrainState {
        TrainState {
            config: self.config.clone(),
            optimizer: self.optimizer.clone(),
            history: self.history.clone(),
        }
    }

    /// Trains until `epochs` in all (more than the settings said, to
    /// continue a finished run).
    ///
    /// Fails if fewer than the epochs already done.
    pub fn set_epochs(&mut self, epochs: usize) -> Result<()> {
        if epochs < self.history.len() {
            return Err(Error::Config(format!(
                "{epochs} epochs is fewer than the {} already done",
                self.history.len()
            )));
        }
        self.config.epochs = epochs;
        Ok(())
    }

    /// Which kernels run the products (results differ in the last bits
    /// between kernels, never between thread counts).
    pub fn set_kernel(&mut self, kernel: KernelChoice) {
        self.net.set_kernel(kernel);
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

    /// One epoch over `train` (the next one after those done), without
    /// adding it to the history ([`Trainer::fit`] does that).
    ///
    /// Fails with [`Error::Diverged`] if the loss becomes NaN or infinite,
    /// or runs away (a mean above [`RUNAWAY_FACTOR`] times an untrained
    /// network's, after the first steps), and with the observer's error.
    pub fn train_epoch(
        &mut self,
        train: &Samples,
        observer: &mut Observer<'_>,
    ) -> Result<EpochStats> {
        let arch = self.net.architecture();
        train.check(arch.rows, arch.cols, arch.classes)?;
        if train.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        if !self.config.augment.is_off() && matches!(train.images, Images::F32(_)) {
            return Err(Error::Config(
                "augmentation transforms u8 images; these samples are f32".into(),
            ));
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
        })?;
        let par = self.engine.parallelism();
        let arch = self.net.architecture();
        let runaway = runaway_loss(arch.loss, arch.classes);
        let start = Instant::now();
        let Trainer {
            order,
            workspace,
            optimizer,
            net,
            config,
            ..
        } = self;
        let schedule = config.schedule;
        let base_lr = config.optimizer.lr();
        let (weight_decay, alpha, seed) = (config.weight_decay, config.l2, config.seed);
        let epochs = config.epochs;
        let mut lr = base_lr as f64;
        let mut steps_loop = || -> Result<(f64, usize)> {
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for s in 0..steps {
                let rows = &order[s * bs..((s + 1) * bs).min(n)];
                if !schedule.is_constant() {
                    lr = base_lr as f64 * schedule.factor(optimizer.steps(), steps, epochs);
                    optimizer.set_lr(lr as f32);
                }
                if weight_decay != 0.0 || alpha != 0.0 {
                    optimizer.set_regularization(Regularization {
                        l2: alpha / rows.len() as f32,
                        decay: lr as f32 * weight_decay,
                    });
                }
                workspace.set_step_key(StepKey {
                    seed,
                    epoch: epoch as u64,
                    step: s as u64,
                });
                train.prefetch(&order[((s + 1) * bs).min(n)..((s + 2) * bs).min(n)]);
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
                if let Some(limit) = runaway
                    && s + 1 >= RUNAWAY_AFTER_STEPS
                    && loss_sum / seen > limit
                {
                    return Err(Error::Diverged(format!(
                        "the loss ran away: its mean over the first {} steps of epoch {} is {:.3e}, \
                         more than {RUNAWAY_FACTOR} times an untrained network's ({:.2}); \
                         try a lower learning rate",
                        s + 1,
                        epoch + 1,
                        loss_sum / seen,
                        limit / RUNAWAY_FACTOR
                    )));
                }
                observer(Event::Step {
                    step: s + 1,
                    steps,
                    loss: loss_sum / seen,
                    accuracy: correct as f64 / seen,
                })?;
            }
            Ok((loss_sum, correct))
        };
        let (loss_sum, correct) = self.engine.install(|| match par {
            Parallelism::Sequential => steps_loop(),
            _ => with_awake_workers(steps_loop),
        })?;
        Ok(EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / n as f64,
            accuracy: correct as f64 / n as f64,
            seconds: start.elapsed().as_secs_f64(),
            steps,
            val_loss: None,
            val_accuracy: None,
            lr: (!schedule.is_constant()).then_some(lr),
        })
    }

    /// Trains the remaining epochs on `train`, evaluating on `validation`
    /// (when given) after each, and reporting to `observer`. With early
    /// stopping, ends once the monitored metric has not improved for its
    /// patience and, to restore the best epoch, leaves its weights in the
    /// network ([`Trainer::stop_report`] says which epoch was kept).
    ///
    /// Fails if early stopping watches a validation metric and no
    /// validation samples are given.
    pub fn fit(
        &mut self,
        train: &Samples,
        validation: Option<&Samples>,
        observer: &mut Observer<'_>,
    ) -> Result<&[EpochStats]> {
        let early = self.config.early_stopping;
        if let Some(es) = early
            && es.monitor.needs_validation()
            && validation.is_none()
        {
            return Err(Error::Config(format!(
                "early stopping watches {}, which needs validation samples \
                 (--validation-split or --validation-data)",
                es.monitor.name()
            )));
        }
        self.stop = None;
        while self.history.len() < self.config.epochs {
            if early.is_some_and(|es| es.should_stop(&self.history)) {
                break;
            }
            let mut stats = self.train_epoch(train, observer)?;
            if let Some(val) = validation {
                let eval = self.evaluate(val)?;
                stats.val_loss = Some(eval.loss);
                stats.val_accuracy = Some(eval.accuracy);
            }
            self.history.push(stats);
            if let Some(es) = early
                && es.restore_best
                && es.standing(&self.history).map(|s| s.best_epoch) == Some(self.history.len())
            {
                self.best = Some((self.history.len(), self.net.layers().to_vec()));
            }
            let stats = self.history.last().expect("just pushed");
            observer(Event::EpochEnd {
                stats,
                trainer: self,
            })?;
        }
        self.finish_early_stopping();
        Ok(&self.history)
    }

    /// After training with early stopping: goes back to the best epoch's
    /// weights if asked (and at hand), and records what was kept.
    fn finish_early_stopping(&mut self) {
        let Some(es) = self.config.early_stopping else {
            return;
        };
        let Some(standing) = es.standing(&self.history) else {
            return;
        };
        let last = self.history.len();
        let mut restored = false;
        if es.restore_best
            && standing.best_epoch < last
            && let Some((epoch, layers)) = &self.best
            && *epoch == standing.best_epoch
        {
            self.net.layers_mut().clone_from_slice(layers);
            restored = true;
        }
        self.stop = Some(StopReport {
            monitor: es.monitor.name(),
            best_epoch: standing.best_epoch,
            best: standing.best,
            last_epoch: last,
            stopped_early: last < self.config.epochs,
            restored: restored || (es.restore_best && standing.best_epoch == last),
        });
    }

    /// How early stopping ended the last [`Trainer::fit`]: the best epoch
    /// and which epoch's weights the network holds (`None` without early
    /// stopping).
    pub fn stop_report(&self) -> Option<&StopReport> {
        self.stop.as_ref()
    }

    /// Gives a resumed trainer the weights of its best epoch so far (from
    /// that epoch's checkpoint), for early stopping to restore.
    ///
    /// Fails if `net` has other shapes than the trainer's network.
    pub fn remember_best(&mut self, epoch: usize, net: &Network) -> Result<()> {
        let same = net.layers().len() == self.net.layers().len()
            && net
                .layers()
                .iter()
                .zip(self.net.layers())
                .all(|(a, b)| (a.inputs, a.outputs) == (b.inputs, b.outputs));
        if !same {
            return Err(Error::Config(
                "the best epoch's network has other shapes than the trainer's".into(),
            ));
        }
        self.best = Some((epoch, net.layers().to_vec()));
        Ok(())
    }

    /// The network's metrics on `samples`, on this trainer's engine.
    pub fn evaluate(&self, samples: &Samples) -> Result<Evaluation> {
        evaluate(&self.engine, &self.net, samples)
    }
}

//! Early stopping: end training when a monitored metric has not improved
//! for `patience` epochs, optionally going back to the best epoch's
//! weights. Where a run stands is a pure function of its history, so a
//! resumed run stops where the uninterrupted one would.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::trainer::EpochStats;

/// The metric early stopping watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss (lower is better).
    #[default]
    #[cfg_attr(feature = "cli", value(name = "val_loss"))]
    ValLoss,
    /// Validation accuracy (higher is better).
    #[cfg_attr(feature = "cli", value(name = "val_accuracy"))]
    ValAccuracy,
    /// Training loss over the epoch.
    #[cfg_attr(feature = "cli", value(name = "loss"))]
    Loss,
    /// Training accuracy over the epoch.
    #[cfg_attr(feature = "cli", value(name = "accuracy"))]
    Accuracy,
}

impl Monitor {
    /// The name `--monitor` and the progress line use.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::Loss => "loss",
            Monitor::Accuracy => "accuracy",
        }
    }

    /// Whether it needs validation samples.
    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    /// Its value in an epoch's metrics.
    pub fn value(self, s: &EpochStats) -> Option<f64> {
        match self {
            Monitor::ValLoss => s.val_loss,
            Monitor::ValAccuracy => s.val_accuracy,
            Monitor::Loss => Some(s.loss),
            Monitor::Accuracy => Some(s.accuracy),
        }
    }

    /// Whether `new` beats `best` by more than `min_delta`.
    fn improves(self, new: f64, best: f64, min_delta: f64) -> bool {
        match self {
            Monitor::ValLoss | Monitor::Loss => new < best - min_delta,
            Monitor::ValAccuracy | Monitor::Accuracy => new > best + min_delta,
        }
    }
}

/// When to stop (Keras's `EarlyStopping`, sklearn's `n_iter_no_change`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// What is watched.
    #[serde(default)]
    pub monitor: Monitor,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    pub min_delta: f64,
    /// Go back to the best epoch's weights at the end.
    #[serde(default)]
    pub restore_best: bool,
}

/// Where a run stands: its best epoch so far and the epochs since.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standing {
    /// 1-based best epoch.
    pub best_epoch: usize,
    /// The metric there.
    pub best: f64,
    /// Epochs after it without improvement.
    pub waited: usize,
}

impl EarlyStopping {
    /// Where `history` stands (`None` before the first epoch, or if the
    /// metric is missing).
    pub fn standing(&self, history: &[EpochStats]) -> Option<Standing> {
        let mut standing: Option<Standing> = None;
        for s in history {
            let v = self.monitor.value(s)?;
            standing = Some(match standing {
                Some(st) if !self.monitor.improves(v, st.best, self.min_delta) => Standing {
                    waited: st.waited + 1,
                    ..st
                },
                _ => Standing {
                    best_epoch: s.epoch,
                    best: v,
                    waited: 0,
                },
            });
        }
        standing
    }

    /// Whether a run with this `history` stops now.
    pub fn should_stop(&self, history: &[EpochStats]) -> bool {
        self.standing(history)
            .is_some_and(|s| s.waited >= self.patience)
    }
}

/// How a run with early stopping ended: what the run says about the epoch
/// it kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StopReport {
    /// The monitored metric's name.
    pub monitor: &'static str,
    /// The epoch it was best at (1-based).
    pub best_epoch: usize,
    /// Its value there.
    pub best: f64,
    /// The last epoch trained.
    pub last_epoch: usize,
    /// Whether training stopped before the planned epochs.
    pub stopped_early: bool,
    /// Whether the network now holds the best epoch's weights.
    pub restored: bool,
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stopped_early {
            write!(
                f,
                "Early stopping after epoch {}: {} was best at epoch {} ({:.4})",
                self.last_epoch, self.monitor, self.best_epoch, self.best
            )?;
        } else {
            write!(
                f,
                "{} was best at epoch {} of {} ({:.4})",
                self.monitor, self.best_epoch, self.last_epoch, self.best
            )?;
        }
        if self.restored {
            write!(f, "; kept the weights of epoch {}.", self.best_epoch)
        } else {
            write!(f, "; kept the weights of epoch {}.", self.last_epoch)
        }
    }
}

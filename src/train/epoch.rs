//! One epoch's metrics, and Keras's progress format for them, so that a run
//! reads like the tutorial's:
//! `1875/1875 [==============================] - 0.31s 165us/step - loss: 0.2488 - accuracy: 0.9076`.

use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// Loss on the validation samples after the epoch, when given.
    #[serde(default, alias = "test_loss")]
    pub val_loss: Option<f64>,
    /// Accuracy on the validation samples after the epoch, when given.
    #[serde(default, alias = "test_accuracy")]
    pub val_accuracy: Option<f64>,
    /// The learning rate of the epoch's last step, when a schedule changes
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

/// Seconds and time per step as Keras prints them: `2s 1ms/step`.
pub fn keras_time(seconds: f64, steps: usize) -> String {
    let per = seconds / steps.max(1) as f64;
    let per = if per >= 1.0 {
        format!("{per:.0}s/step")
    } else if per >= 1e-3 {
        format!("{:.0}ms/step", per * 1e3)
    } else {
        format!("{:.0}us/step", per * 1e6)
    };
    let total = if seconds >= 10.0 {
        format!("{seconds:.0}s")
    } else {
        format!("{seconds:.2}s")
    };
    format!("{total} {per}")
}

impl EpochStats {
    /// What follows the bar: time, loss and accuracy, and the validation
    /// metrics when the epoch has them.
    pub fn metrics_line(&self) -> String {
        let mut t = format!(
            "{} - loss: {:.4} - accuracy: {:.4}",
            keras_time(self.seconds, self.steps),
            self.loss,
            self.accuracy
        );
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            t += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
        }
        if let Some(lr) = self.lr {
            t += &format!(" - lr: {lr:.3e}");
        }
        t
    }
}

impl fmt::Display for EpochStats {
    /// The epoch's whole line, with a full bar.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} [{}] - {}",
            self.steps,
            self.steps,
            "=".repeat(30),
            self.metrics_line()
        )
    }
}

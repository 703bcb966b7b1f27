//! Keras's progress format, so that a run reads like the tutorial's:
//! `1875/1875 [==============================] - 0.31s 165us/step - loss: 0.2488 - accuracy: 0.9076`.

use std::fmt;

use super::trainer::EpochStats;

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

//! Learning-rate schedules, applied per step: the rate of step `t` is the
//! configured rate times [`Schedule::factor`], a pure function of `t`, the
//! steps per epoch and the planned epochs, so that a resumed run (which
//! restores the optimizer's step count) continues on the same curve.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the learning rate changes over a run. The `--schedule` text form is
/// a name with optional `key=value` settings:
///
/// - `constant`;
/// - `step[:every=E,gamma=G]`: times `G` (0.5) every `E` (3) epochs;
/// - `exponential[:gamma=G]`: times `G` (0.9) per epoch, smoothly per step;
/// - `cosine[:warmup=W,min=M]`: a linear warm-up from 0 over `W` (0)
///   epochs, then half a cosine down to `M` (0) times the rate at the end;
/// - `one-cycle[:pct=P,div=D,final-div=F]`: PyTorch's `OneCycleLR` (cosine
///   form): from rate/`D` (25) up to the rate over the first `P` (0.3) of
///   the steps, then down to rate/(`D`·`F`) (F = 10⁴).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The rate as configured.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: f32,
        /// Factor per drop.
        gamma: f32,
    },
    /// Multiplied by `gamma` per epoch, continuously.
    Exponential {
        /// Factor per epoch.
        gamma: f32,
    },
    /// Linear warm-up, then cosine decay.
    Cosine {
        /// Warm-up epochs.
        warmup: f32,
        /// Final factor.
        min: f32,
    },
    /// One cycle up and down.
    OneCycle {
        /// Share of the steps spent rising.
        pct: f32,
        /// The starting rate is the rate over `div`.
        div: f32,
        /// The final rate is the starting one over `final_div`.
        final_div: f32,
    },
}

impl Schedule {
    /// The rate's factor at step `t` (0-based, counted over the whole run)
    /// of a run of `epochs` epochs of `steps_per_epoch` steps.
    pub fn factor(&self, t: u64, steps_per_epoch: usize, epochs: usize) -> f64 {
        let spe = steps_per_epoch.max(1) as f64;
        let epoch = t as f64 / spe;
        let total = (epochs as f64 * spe).max(1.0);
        let cos_ramp = |from: f64, to: f64, p: f64| {
            let p = p.clamp(0.0, 1.0);
            to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
        };
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step { every, gamma } => {
                (gamma as f64).powf((epoch / every.max(1e-9) as f64).floor())
            }
            Schedule::Exponential { gamma } => (gamma as f64).powf(epoch),
            Schedule::Cosine { warmup, min } => {
                let warm = warmup as f64 * spe;
                let t = t as f64;
                if t < warm {
                    (t + 1.0) / warm
                } else {
                    let p = (t - warm) / (total - warm).max(1.0);
                    cos_ramp(1.0, min as f64, p)
                }
            }
            Schedule::OneCycle {
                pct,
                div,
                final_div,
            } => {
                let start = 1.0 / div as f64;
                let end = start / final_div as f64;
                let up = (pct as f64 * total - 1.0).max(1.0);
                let t = t as f64;
                if t <= up {
                    cos_ramp(start, 1.0, t / up)
                } else {
                    cos_ramp(1.0, end, (t - up) / (total - 1.0 - up).max(1.0))
                }
            }
        }
    }

    /// Whether the rate never changes.
    pub fn is_constant(&self) -> bool {
        *self == Schedule::Constant
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            Schedule::Constant => true,
            Schedule::Step { every, gamma } => every > 0.0 && gamma > 0.0 && gamma <= 1.0,
            Schedule::Exponential { gamma } => gamma > 0.0 && gamma <= 1.0,
            Schedule::Cosine { warmup, min } => warmup >= 0.0 && (0.0..=1.0).contains(&min),
            Schedule::OneCycle {
                pct,
                div,
                final_div,
            } => pct > 0.0 && pct < 1.0 && div >= 1.0 && final_div >= 1.0,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("schedule {self} has values out of range"))
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Step { every, gamma } => write!(f, "step:every={every},gamma={gamma}"),
            Schedule::Exponential { gamma } => write!(f, "exponential:gamma={gamma}"),
            Schedule::Cosine { warmup, min } => write!(f, "cosine:warmup={warmup},min={min}"),
            Schedule::OneCycle {
                pct,
                div,
                final_div,
            } => write!(f, "one-cycle:pct={pct},div={div},final-div={final_div}"),
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Schedule, String> {
        let (name, settings) = text.split_once(':').unwrap_or((text, ""));
        let mut values = Vec::new();
        for part in settings.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("schedule setting `{part}` is not KEY=VALUE"))?;
            let v: f32 = v
                .trim()
                .parse()
                .map_err(|_| format!("schedule setting {k}: `{v}` is not a number"))?;
            values.push((k.trim().to_string(), v));
        }
        let mut take = |key: &str, default: f32| match values.iter().position(|(k, _)| k == key) {
            Some(i) => values.remove(i).1,
            None => default,
        };
        let s = match name.trim() {
            "constant" => Schedule::Constant,
            "step" => Schedule::Step {
                every: take("every", 3.0),
                gamma: take("gamma", 0.5),
            },
            "exponential" => Schedule::Exponential {
                gamma: take("gamma", 0.9),
            },
            "cosine" => Schedule::Cosine {
                warmup: take("warmup", 0.0),
                min: take("min", 0.0),
            },
            "one-cycle" => Schedule::OneCycle {
                pct: take("pct", 0.3),
                div: take("div", 25.0),
                final_div: take("final-div", 1e4),
            },
            other => {
                return Err(format!(
                    "unknown schedule `{other}` (expected constant, step, exponential, cosine \
                     or one-cycle)"
                ));
            }
        };
        if let Some((k, _)) = values.first() {
            return Err(format!("schedule {name} has no setting `{k}`"));
        }
        s.validate()?;
        Ok(s)
    }
}

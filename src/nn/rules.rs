//! The element-wise updates that the kernels do not fuse: Adam and SGD with
//! weight regularization (L2 and decoupled weight decay), Nesterov momentum
//! and RMSprop.
//!
//! Each is a plain loop the compiler vectorizes (f32 `+ - * / sqrt` round
//! the same in every lane, and Rust never contracts them into FMAs, so the
//! bits do not depend on the vector width), with a `_par` form that splits
//! the slices into fixed chunks over the current rayon pool: element-wise
//! work gives the same bits for any split. Plain Adam and SGD keep the
//! kernels' fused rules ([`crate::kernels::UpdateRule`]), which these do
//! not change.

use rayon::prelude::*;

use crate::kernels::Parallelism;
use crate::kernels::eltwise::{AdamStep, MOMENT_FLOOR};

/// Below this many parameters an update runs on one thread.
const PAR_MIN_LEN: usize = 1 << 15;
/// Chunk of parameters one rayon task updates.
const PAR_CHUNK: usize = 1 << 13;

/// What a step does to a weight tensor beside its optimizer's rule (biases
/// are never regularized).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Regularization {
    /// The L2 penalty's gradient factor: `l2 · w` is added to the gradient
    /// (sklearn's `alpha` over the batch size, as its MLP computes it).
    pub l2: f32,
    /// Decoupled weight decay of this step (AdamW's `lr · weight_decay`):
    /// `w -= decay · w` beside the update.
    pub decay: f32,
}

impl Regularization {
    /// Whether it changes nothing.
    pub fn is_none(&self) -> bool {
        self.l2 == 0.0 && self.decay == 0.0
    }
}

/// `x`, or zero where `|x| <` [`MOMENT_FLOOR`] (see there).
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < MOMENT_FLOOR { 0.0 } else { x }
}

/// Which rule, with its hyper-parameters for this step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Rule {
    /// Adam (Keras's form), state: first and second moments.
    Adam(AdamStep),
    /// SGD, Keras's momentum form (`nesterov`: Keras's Nesterov form),
    /// state: the velocity.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum.
        momentum: f32,
        /// Nesterov's look-ahead.
        nesterov: bool,
    },
    /// RMSprop (Keras's form, no momentum), state: the mean square.
    RmsProp {
        /// Learning rate.
        lr: f32,
        /// Decay of the mean square.
        rho: f32,
        /// Added to its square root.
        eps: f32,
    },
}

/// Updates `w` from gradient `g` with `rule` and regularization `reg`
/// (state `s0`, `s1` as the rule needs: `s1` only for Adam).
///
/// # Panics
/// If a used slice's length differs from `w`'s.
pub(crate) fn update_seq(
    rule: Rule,
    reg: Regularization,
    w: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
) {
    let n = w.len();
    assert_eq!(g.len(), n);
    let Regularization { l2, decay } = reg;
    match rule {
        Rule::Adam(s) => {
            assert!(s0.len() == n && s1.len() == n);
            let (c1, c2) = (1.0 - s.beta1, 1.0 - s.beta2);
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(s0).zip(s1) {
                let g = g + l2 * *w;
                *m = flush(s.beta1 * *m + c1 * g);
                *v = flush(s.beta2 * *v + c2 * g * g);
                *w = *w - decay * *w - s.lr_t * *m / (v.sqrt() + s.eps);
            }
        }
        Rule::Sgd {
            lr,
            momentum,
            nesterov,
        } => {
            if momentum == 0.0 {
                for (w, &g) in w.iter_mut().zip(g) {
                    let g = g + l2 * *w;
                    *w = *w - decay * *w - lr * g;
                }
                return;
            }
            assert_eq!(s0.len(), n);
            for ((w, &g), vel) in w.iter_mut().zip(g).zip(s0) {
                let g = g + l2 * *w;
                *vel = flush(momentum * *vel - lr * g);
                let step = if nesterov {
                    momentum * *vel - lr * g
                } else {
                    *vel
                };
                *w = *w - decay * *w + step;
            }
        }
        Rule::RmsProp { lr, rho, eps } => {
            assert_eq!(s0.len(), n);
            let c = 1.0 - rho;
            for ((w, &g), v) in w.iter_mut().zip(g).zip(s0) {
                let g = g + l2 * *w;
                *v = flush(rho * *v + c * g * g);
                *w = *w - decay * *w - lr * g / (v.sqrt() + eps);
            }
        }
    }
}

/// [`update_seq`] or [`update_par`] by `par`.
pub(crate) fn update(
    rule: Rule,
    reg: Regularization,
    w: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
    par: Parallelism,
) {
    match par {
        Parallelism::Sequential => update_seq(rule, reg, w, g, s0, s1),
        Parallelism::Tiles | Parallelism::RowBlocks => update_par(rule, reg, w, g, s0, s1),
    }
}

/// [`update_seq`] split into fixed chunks over the current rayon pool (the
/// states in the same chunks; an unused state is empty).
pub(crate) fn update_par(
    rule: Rule,
    reg: Regularization,
    w: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
) {
    let n = w.len();
    if n < PAR_MIN_LEN {
        return update_seq(rule, reg, w, g, s0, s1);
    }
    let parts = w.par_chunks_mut(PAR_CHUNK).zip(g.par_chunks(PAR_CHUNK));
    match (s0.len() == n, s1.len() == n) {
        (true, true) => parts
            .zip(s0.par_chunks_mut(PAR_CHUNK))
            .zip(s1.par_chunks_mut(PAR_CHUNK))
            .for_each(|(((w, g), a), b)| update_seq(rule, reg, w, g, a, b)),
        (true, false) => parts
            .zip(s0.par_chunks_mut(PAR_CHUNK))
            .for_each(|((w, g), a)| update_seq(rule, reg, w, g, a, &mut [])),
        _ => parts.for_each(|(w, g)| update_seq(rule, reg, w, g, &mut [], &mut [])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::eltwise::{adam_seq, sgd_seq};

    fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let w = (0..n)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.05)
            .collect();
        let g = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.01).collect();
        (w, g)
    }

    #[test]
    fn without_regularization_adam_and_sgd_are_the_kernels_rules() {
        let (w0, g) = data(101);
        let s = AdamStep {
            lr_t: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let (mut a, mut b) = (w0.clone(), w0.clone());
        let (mut m1, mut v1, mut m2, mut v2) = (
            vec![0.01; 101],
            vec![0.02; 101],
            vec![0.01; 101],
            vec![0.02; 101],
        );
        adam_seq(s, &mut a, &g, &mut m1, &mut v1);
        update_seq(
            Rule::Adam(s),
            Regularization::default(),
            &mut b,
            &g,
            &mut m2,
            &mut v2,
        );
        assert_eq!(a, b);
        assert_eq!((m1, v1), (m2, v2));
        let (mut a, mut b) = (w0.clone(), w0.clone());
        let (mut va, mut vb) = (vec![0.1; 101], vec![0.1; 101]);
        sgd_seq(0.1, 0.9, &mut a, &g, &mut va);
        let rule = Rule::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
        };
        update_seq(
            rule,
            Regularization::default(),
            &mut b,
            &g,
            &mut vb,
            &mut [],
        );
        assert_eq!((a, va), (b, vb));
    }

    #[test]
    fn hand_computed_steps() {
        // w = 2, g = 0.5.
        let reg = Regularization {
            l2: 0.1,
            decay: 0.01,
        };
        // SGD: g' = 0.5 + 0.2 = 0.7; w = 2 - 0.02 - 0.1 * 0.7 = 1.91.
        let mut w = [2.0f32];
        let rule = Rule::Sgd {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
        };
        update_seq(rule, reg, &mut w, &[0.5], &mut [], &mut []);
        assert!((w[0] - 1.91).abs() < 1e-6, "{w:?}");
        // Nesterov (Keras): v = 0.9·1 - 0.1·0.5 = 0.85; w = 2 + 0.9·0.85 - 0.05 = 2.715.
        let (mut w, mut v) = ([2.0f32], [1.0f32]);
        let rule = Rule::Sgd {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
        };
        update_seq(
            rule,
            Regularization::default(),
            &mut w,
            &[0.5],
            &mut v,
            &mut [],
        );
        assert!(
            (v[0] - 0.85).abs() < 1e-6 && (w[0] - 2.715).abs() < 1e-6,
            "{w:?} {v:?}"
        );
        // RMSprop (Keras): v = 0.9·0 + 0.1·0.25 = 0.025; w = 2 - 0.01·0.5 / (√0.025 + 1e-7).
        let (mut w, mut v) = ([2.0f32], [0.0f32]);
        let rule = Rule::RmsProp {
            lr: 0.01,
            rho: 0.9,
            eps: 1e-7,
        };
        update_seq(
            rule,
            Regularization::default(),
            &mut w,
            &[0.5],
            &mut v,
            &mut [],
        );
        let want = 2.0 - 0.01 * 0.5 / (0.025f32.sqrt() + 1e-7);
        assert!(
            (v[0] - 0.025).abs() < 1e-7 && (w[0] - want).abs() < 1e-6,
            "{w:?}"
        );
        // AdamW: the decay is decoupled from the moments.
        let s = AdamStep {
            lr_t: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let (mut w, mut m, mut v) = ([2.0f32], [0.0f32], [0.0f32]);
        let wd = Regularization {
            l2: 0.0,
            decay: 0.01,
        };
        update_seq(Rule::Adam(s), wd, &mut w, &[0.5], &mut m, &mut v);
        let want = 2.0 - 0.02 - 0.1 * 0.05 / (0.00025f32.sqrt() + 1e-7);
        assert!(
            (m[0] - 0.05).abs() < 1e-7 && (w[0] - want).abs() < 1e-5,
            "{w:?}"
        );
    }

    #[test]
    fn split_updates_equal_one_pass() {
        let n = (1 << 15) + 77;
        let (w0, g) = data(n);
        let s = AdamStep {
            lr_t: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let reg = Regularization {
            l2: 1e-4,
            decay: 1e-5,
        };
        let rules = [
            Rule::Adam(s),
            Rule::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
            },
            Rule::Sgd {
                lr: 0.1,
                momentum: 0.0,
                nesterov: false,
            },
            Rule::RmsProp {
                lr: 1e-3,
                rho: 0.9,
                eps: 1e-7,
            },
        ];
        for rule in rules {
            let run = |par: bool| {
                let (mut w, mut a) = (w0.clone(), vec![0.01; n]);
                let mut b = if matches!(rule, Rule::Adam(_)) {
                    vec![0.02; n]
                } else {
                    Vec::new()
                };
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap();
                pool.install(|| {
                    if par {
                        update_par(rule, reg, &mut w, &g, &mut a, &mut b)
                    } else {
                        update_seq(rule, reg, &mut w, &g, &mut a, &mut b)
                    }
                });
                (w, a, b)
            };
            assert!(run(true) == run(false), "{rule:?}");
        }
    }
}

//! Element-wise operations of the training step: losses with their
//! gradients, bias gradients and optimizer updates.
//!
//! Each is a safe slice function. The optimizer updates have a SIMD main loop
//! (`wide::f32x16`: one AVX-512 vector, two AVX2 or four NEON ones) and a
//! scalar tail computing the same formula, and a `_par` variant that splits
//! the slices into fixed chunks over the current rayon pool; element-wise
//! work gives bitwise-identical results for any split. Adam is 16 lanes wide
//! because its square root and division are most of its time: in 512-bit
//! vectors they run 1.75× faster per element on Zen 5, and by the published
//! throughputs no slower on Zen 4 or Intel.

use rayon::prelude::*;
use wide::f32x16;

/// Below this many parameters an update runs on one thread: spawning costs
/// more than it saves.
const PAR_MIN_LEN: usize = 1 << 15;
/// Chunk of parameters one rayon task updates.
const PAR_CHUNK: usize = 1 << 13;

/// Index of the largest element (the first one on ties), as argmax does in
/// Keras and PyTorch.
#[inline]
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Numerically stable softmax of one row, in place.
#[inline]
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax cross-entropy over `logits` (rows × `classes`, row-major) against
/// integer `labels`, fused with the softmax.
///
/// Writes each row's loss `log Σ e^z - z_label` to `losses`, whether its argmax
/// is right to `correct`, and `grad_scale · (softmax(z) - onehot)` to `grad`
/// (`grad_scale` is `1 / batch` for a mean loss). Stable: the maximum is
/// subtracted before exponentiating.
///
/// # Panics
/// If the lengths disagree or a label is not below `classes`.
pub fn softmax_xent(
    logits: &[f32],
    classes: usize,
    labels: impl Fn(usize) -> usize,
    grad_scale: f32,
    grad: &mut [f32],
    losses: &mut [f32],
    correct: &mut [bool],
) {
    let rows = losses.len();
    assert_eq!(logits.len(), rows * classes);
    assert_eq!(grad.len(), rows * classes);
    assert_eq!(correct.len(), rows);
    for i in 0..rows {
        let z = &logits[i * classes..(i + 1) * classes];
        let g = &mut grad[i * classes..(i + 1) * classes];
        let y = labels(i);
        assert!(y < classes, "label {y} is not below {classes}");
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (gj, &zj) in g.iter_mut().zip(z) {
            *gj = (zj - max).exp();
            sum += *gj;
        }
        losses[i] = sum.ln() + max - z[y];
        correct[i] = argmax(z) == y;
        let inv = grad_scale / sum;
        for gj in g.iter_mut() {
            *gj *= inv;
        }
        g[y] -= grad_scale;
    }
}

/// Mean squared error between `softmax(logits)` and one-hot targets, the
/// tutorial's "cost function": each row's loss is `Σ_j (p_j - y_j)² / classes`.
///
/// The gradient goes back through the softmax:
/// `dz_j = p_j (g_j - Σ_i g_i p_i)` with `g = 2 (p - y) / classes`, times
/// `grad_scale`. Arguments as for [`softmax_xent`].
///
/// # Panics
/// If the lengths disagree or a label is not below `classes`.
pub fn softmax_mse(
    logits: &[f32],
    classes: usize,
    labels: impl Fn(usize) -> usize,
    grad_scale: f32,
    grad: &mut [f32],
    losses: &mut [f32],
    correct: &mut [bool],
) {
    let rows = losses.len();
    assert_eq!(logits.len(), rows * classes);
    assert_eq!(grad.len(), rows * classes);
    assert_eq!(correct.len(), rows);
    let c = classes as f32;
    for i in 0..rows {
        let z = &logits[i * classes..(i + 1) * classes];
        let p = &mut grad[i * classes..(i + 1) * classes];
        let y = labels(i);
        assert!(y < classes, "label {y} is not below {classes}");
        correct[i] = argmax(z) == y;
        p.copy_from_slice(z);
        softmax_in_place(p);
        let mut loss = 0.0f32;
        let mut dot = 0.0f32;
        for (j, &pj) in p.iter().enumerate() {
            let d = pj - if j == y { 1.0 } else { 0.0 };
            loss += d * d;
            dot += 2.0 * d / c * pj;
        }
        losses[i] = loss / c;
        for (j, pj) in p.iter_mut().enumerate() {
            let d = *pj - if j == y { 1.0 } else { 0.0 };
            *pj = grad_scale * *pj * (2.0 * d / c - dot);
        }
    }
}

/// Column sums of a row-major `rows × cols` matrix into `out`, rows added in
/// index order so the result never depends on how work was split.
pub fn column_sums(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert_eq!(m.len(), rows * cols);
    assert_eq!(out.len(), cols);
    out.fill(0.0);
    for row in m.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Moments smaller than this are flushed to zero.
///
/// A weight whose input pixel is rarely inked sees zero gradients for
/// hundreds of steps; its first moment then decays by β₁ = 0.9 per step
/// through the subnormal range, where every arithmetic operation on it is
/// slow (measured: about 10% of a `fashion` epoch on one core). Below 1e-30 a
/// moment moves its weight by less than 1e-23 · lr, far below one ulp of any
/// weight, so flushing changes no result that matters (TensorFlow flushes
/// subnormals on its CPU threads for the same reason).
pub const MOMENT_FLOOR: f32 = 1e-30;

/// `x`, or zero where `|x| <` [`MOMENT_FLOOR`].
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < MOMENT_FLOOR { 0.0 } else { x }
}

/// Hyper-parameters of one Adam step, with the bias corrections of step `t`
/// folded into the learning rate as Keras does:
/// `lr_t = lr · √(1-β₂ᵗ) / (1-β₁ᵗ)`, `w -= lr_t · m / (√v + ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// The corrected learning rate `lr_t`.
    pub lr_t: f32,
    /// β₁.
    pub beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
}

/// One Adam update of `w` from gradient `g` and moments `m`, `v`.
///
/// # Panics
/// If the slices differ in length.
pub fn adam_seq(s: AdamStep, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let n = w.len();
    assert!(g.len() == n && m.len() == n && v.len() == n);
    let main = n - n % 16;
    let (b1, b2) = (f32x16::splat(s.beta1), f32x16::splat(s.beta2));
    let (c1, c2) = (f32x16::splat(1.0 - s.beta1), f32x16::splat(1.0 - s.beta2));
    let (lr, eps) = (f32x16::splat(s.lr_t), f32x16::splat(s.eps));
    let floor = f32x16::splat(MOMENT_FLOOR);
    let chunks = w[..main]
        .chunks_exact_mut(16)
        .zip(g[..main].chunks_exact(16))
        .zip(m[..main].chunks_exact_mut(16))
        .zip(v[..main].chunks_exact_mut(16));
    for (((w8, g8), m8), v8) in chunks {
        let load = |x: &[f32]| f32x16::from(<[f32; 16]>::try_from(x).expect("chunks of 16"));
        let gv = load(g8);
        let mv = b1 * load(m8) + c1 * gv;
        let vv = b2 * load(v8) + c2 * gv * gv;
        // Written as "below the floor → zero" so that a NaN stays a NaN.
        let mv = mv.abs().simd_lt(floor).select(f32x16::ZERO, mv);
        let vv = vv.abs().simd_lt(floor).select(f32x16::ZERO, vv);
        let wv = load(w8) - lr * mv / (vv.sqrt() + eps);
        m8.copy_from_slice(&mv.to_array());
        v8.copy_from_slice(&vv.to_array());
        w8.copy_from_slice(&wv.to_array());
    }
    for i in main..n {
        let gi = g[i];
        m[i] = flush(s.beta1 * m[i] + (1.0 - s.beta1) * gi);
        v[i] = flush(s.beta2 * v[i] + (1.0 - s.beta2) * gi * gi);
        w[i] -= s.lr_t * m[i] / (v[i].sqrt() + s.eps);
    }
}

/// [`adam_seq`] split into fixed chunks over the current rayon pool.
pub fn adam_par(s: AdamStep, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    if w.len() < PAR_MIN_LEN {
        return adam_seq(s, w, g, m, v);
    }
    w.par_chunks_mut(PAR_CHUNK)
        .zip(g.par_chunks(PAR_CHUNK))
        .zip(m.par_chunks_mut(PAR_CHUNK))
        .zip(v.par_chunks_mut(PAR_CHUNK))
        .for_each(|(((w, g), m), v)| adam_seq(s, w, g, m, v));
}

/// One SGD step, with Keras's momentum form when `momentum > 0`:
/// `vel = momentum · vel - lr · g; w += vel` (plain `w -= lr · g` otherwise).
/// A velocity below [`MOMENT_FLOOR`] is flushed to zero, as Adam's moments.
///
/// # Panics
/// If the slices differ in length (`vel` is not used without momentum).
pub fn sgd_seq(lr: f32, momentum: f32, w: &mut [f32], g: &[f32], vel: &mut [f32]) {
    let n = w.len();
    assert!(g.len() == n && (momentum == 0.0 || vel.len() == n));
    if momentum == 0.0 {
        for (wi, &gi) in w.iter_mut().zip(g) {
            *wi -= lr * gi;
        }
        return;
    }
    for ((wi, &gi), vi) in w.iter_mut().zip(g).zip(vel.iter_mut()) {
        *vi = flush(momentum * *vi - lr * gi);
        *wi += *vi;
    }
}

/// An optimizer's element-wise update for one step, applied to any part of
/// a tensor: the kernels apply it block by block inside the product that
/// computes the gradient ([`super::Epilogue::Update`]). Applying it to the
/// pieces of a tensor gives the bits of applying it to the whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateRule {
    /// [`adam_seq`]; state: the first and second moments.
    Adam(AdamStep),
    /// [`sgd_seq`]; state: the velocity (unused without momentum).
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum, 0 for none.
        momentum: f32,
    },
}

impl UpdateRule {
    /// How many state buffers the rule reads and writes.
    pub fn states(self) -> usize {
        match self {
            UpdateRule::Adam(_) => 2,
            UpdateRule::Sgd { momentum, .. } if momentum != 0.0 => 1,
            UpdateRule::Sgd { .. } => 0,
        }
    }

    /// Updates `param` from `grad` and the state (`s0`, `s1`: as many as
    /// [`UpdateRule::states`], the rest ignored).
    ///
    /// # Panics
    /// If a used slice's length differs from `param`'s.
    #[inline]
    pub fn apply(self, param: &mut [f32], grad: &[f32], s0: &mut [f32], s1: &mut [f32]) {
        match self {
            UpdateRule::Adam(step) => adam_seq(step, param, grad, s0, s1),
            UpdateRule::Sgd { lr, momentum } => sgd_seq(lr, momentum, param, grad, s0),
        }
    }
}

/// [`sgd_seq`] split into fixed chunks over the current rayon pool.
pub fn sgd_par(lr: f32, momentum: f32, w: &mut [f32], g: &[f32], vel: &mut [f32]) {
    if w.len() < PAR_MIN_LEN {
        return sgd_seq(lr, momentum, w, g, vel);
    }
    w.par_chunks_mut(PAR_CHUNK)
        .zip(g.par_chunks(PAR_CHUNK))
        .zip(vel.par_chunks_mut(PAR_CHUNK))
        .for_each(|((w, g), vel)| sgd_seq(lr, momentum, w, g, vel));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xent_matches_hand_computed_values() {
        // logits [1, 2, 3], label 2: p = softmax = [0.0900, 0.2447, 0.6652].
        let logits = [1.0, 2.0, 3.0];
        let (mut g, mut l, mut c) = ([0.0; 3], [0.0], [false]);
        softmax_xent(&logits, 3, |_| 2, 1.0, &mut g, &mut l, &mut c);
        assert!((l[0] - 0.407_605_96).abs() < 1e-6);
        assert!(c[0]);
        assert!((g[0] - 0.090_030_57).abs() < 1e-6);
        assert!((g[2] - (0.665_240_94 - 1.0)).abs() < 1e-6);
        // Stable with huge logits.
        let logits = [1000.0, -1000.0, 0.0];
        softmax_xent(&logits, 3, |_| 1, 1.0, &mut g, &mut l, &mut c);
        assert!((l[0] - 2000.0).abs() < 1e-3 && g.iter().all(|v| v.is_finite()));
    }

    /// A loss function's signature, with the label lookup as a trait object.
    type LossFn =
        fn(&[f32], usize, &dyn Fn(usize) -> usize, f32, &mut [f32], &mut [f32], &mut [bool]);

    fn finite_difference(f: LossFn) {
        let z = [0.3f32, -1.2, 0.8, 2.0, -0.1];
        let mut g = [0.0; 5];
        let (mut l, mut c) = ([0.0], [false]);
        f(&z, 5, &|_| 3, 1.0, &mut g, &mut l, &mut c);
        for j in 0..5 {
            let h = 1e-3;
            let (mut zp, mut zm) = (z, z);
            zp[j] += h;
            zm[j] -= h;
            let mut tmp = [0.0; 5];
            let (mut lp, mut lm) = ([0.0], [0.0]);
            f(&zp, 5, &|_| 3, 1.0, &mut tmp, &mut lp, &mut c);
            f(&zm, 5, &|_| 3, 1.0, &mut tmp, &mut lm, &mut c);
            let numeric = (lp[0] - lm[0]) / (2.0 * h);
            assert!((numeric - g[j]).abs() < 2e-3, "{j}: {numeric} vs {}", g[j]);
        }
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        finite_difference(|z, c, y, s, g, l, k| softmax_xent(z, c, y, s, g, l, k));
        finite_difference(|z, c, y, s, g, l, k| softmax_mse(z, c, y, s, g, l, k));
    }

    #[test]
    fn adam_simd_body_equals_scalar_tail() {
        let n = 37;
        let g: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.01).collect();
        let s = AdamStep {
            lr_t: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let (mut w, mut m, mut v) = (vec![0.5; n], vec![0.01; n], vec![0.02; n]);
        adam_seq(s, &mut w, &g, &mut m, &mut v);
        for i in 0..n {
            let mi = 0.9 * 0.01 + 0.1 * g[i];
            let vi = 0.999 * 0.02 + 0.001 * g[i] * g[i];
            let wi = 0.5 - 1e-3 * mi / (vi.sqrt() + 1e-7);
            assert!((w[i] - wi).abs() < 1e-7 && (m[i] - mi).abs() < 1e-8, "{i}");
            // One element alone runs the scalar tail: the same bits.
            let (mut w1, mut m1, mut v1) = ([0.5f32], [0.01f32], [0.02f32]);
            adam_seq(s, &mut w1, &g[i..=i], &mut m1, &mut v1);
            let bits = |x: &[f32]| x[0].to_bits();
            assert_eq!(
                (bits(&w1), bits(&m1), bits(&v1)),
                (w[i].to_bits(), m[i].to_bits(), v[i].to_bits()),
                "{i}"
            );
        }
    }

    #[test]
    fn adam_flushes_vanishing_moments_and_keeps_nans() {
        let n = 19;
        let s = AdamStep {
            lr_t: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        };
        let mut g = vec![0.0f32; n];
        g[3] = f32::NAN;
        g[17] = f32::NAN;
        let (mut w, mut m, mut v) = (vec![0.5; n], vec![1e-31; n], vec![1e-31; n]);
        m[5] = 1e-3;
        m[16] = 1e-3;
        adam_seq(s, &mut w, &g, &mut m, &mut v);
        for i in 0..n {
            if i == 3 || i == 17 {
                assert!(m[i].is_nan() && v[i].is_nan(), "{i}: a NaN must survive");
            } else if i == 5 || i == 16 {
                assert_eq!(m[i], 0.9 * 1e-3, "{i}");
            } else {
                assert_eq!((m[i], v[i]), (0.0, 0.0), "{i}: flushed");
            }
        }
    }

    #[test]
    fn column_sums_in_row_order() {
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [9.0; 3];
        column_sums(&m, 2, 3, &mut out);
        assert_eq!(out, [5.0, 7.0, 9.0]);
    }
}

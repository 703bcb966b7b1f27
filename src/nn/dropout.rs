//! Dropout on hidden layers (inverted: kept units are scaled by
//! `1 / (1 - rate)` while training, so inference uses the weights as they
//! are).
//!
//! The mask of a step is drawn from a counter-based hash keyed by the seed,
//! the epoch, the step, the layer and the unit's index in the batch's
//! output ([`super::counter`]): the same bits on any number of threads,
//! and after a resume.

use super::counter::{draw32, key};

/// Separates dropout's draws from other features'.
const DOMAIN: u64 = 0x000D_500F;

/// The key of layer `layer`'s mask in step `step` (0-based, within the
/// epoch) of epoch `epoch` (0-based) of a run seeded with `seed`.
pub(crate) fn mask_key(seed: u64, epoch: u64, step: u64, layer: usize) -> u64 {
    key(DOMAIN, &[seed, epoch, step, layer as u64])
}

/// Fills `keep` with each unit's factor: 0 (dropped, with probability
/// `rate`) or `1 / (1 - rate)`; unit `i` is decided by draw `i` under `key`.
///
/// # Panics
/// If `rate` is not in `[0, 1)`.
pub(crate) fn fill_keep(rate: f32, key: u64, keep: &mut [f32]) {
    assert!((0.0..1.0).contains(&rate), "dropout rate {rate}");
    let threshold = (rate as f64 * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    let scale = 1.0 / (1.0 - rate);
    for (i, k) in keep.iter_mut().enumerate() {
        *k = if draw32(key, i as u32) >= threshold {
            scale
        } else {
            0.0
        };
    }
}

/// Forward: keeps the layer's output in `undropped` (its activation's
/// derivative needs it) and multiplies the output by the mask.
pub(crate) fn apply(out: &mut [f32], keep: &[f32], undropped: &mut [f32]) {
    undropped.copy_from_slice(out);
    for (o, &k) in out.iter_mut().zip(keep) {
        *o *= k;
    }
}

/// Backward: the gradient with respect to the pre-activation of a dropped
/// layer, `dx ⊙ f'(undropped)` (already in `dx`), times the mask.
pub(crate) fn backward(dx: &mut [f32], keep: &[f32]) {
    for (d, &k) in dx.iter_mut().zip(keep) {
        *d *= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_the_rate_and_scales_the_rest() {
        let mut keep = vec![0.0; 20_000];
        fill_keep(0.25, mask_key(1, 0, 0, 0), &mut keep);
        let dropped = keep.iter().filter(|&&k| k == 0.0).count();
        assert!((4_700..5_300).contains(&dropped), "{dropped}");
        assert!(keep.iter().all(|&k| k == 0.0 || k == 1.0 / 0.75));
        let mut none = vec![0.0; 100];
        fill_keep(0.0, 5, &mut none);
        assert!(none.iter().all(|&k| k == 1.0));
    }

    #[test]
    fn masks_differ_by_step_and_layer() {
        let draw = |k| {
            let mut m = vec![0.0; 256];
            fill_keep(0.5, k, &mut m);
            m
        };
        let a = draw(mask_key(3, 1, 2, 0));
        assert_eq!(a, draw(mask_key(3, 1, 2, 0)));
        assert_ne!(a, draw(mask_key(3, 1, 3, 0)));
        assert_ne!(a, draw(mask_key(3, 1, 2, 1)));
        assert_ne!(a, draw(mask_key(3, 2, 2, 0)));
    }
}

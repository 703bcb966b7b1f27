//! Counter-based random numbers: every draw is a pure function of a key
//! (seed, epoch, step, layer, ...) and an index, never of a generator's
//! position or of which thread asks, so dropout masks and augmentations are
//! the same bits for any thread count and after a resume.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer: a bijective mix of 64 bits.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A key from a domain constant (which feature draws) and the counters
/// that identify the draw.
pub(crate) fn key(domain: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix64(domain), |h, &p| {
        mix64(h ^ mix64(p.wrapping_add(GOLDEN)))
    })
}

/// A 32-bit bijective mix (Wellons' "lowbias32"), cheap enough to run per
/// unit of a layer, and vectorized by the compiler.
#[inline(always)]
pub(crate) fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// Uniform 32-bit draw number `i` under `key`: two keyed rounds of
/// [`mix32`].
#[inline(always)]
pub(crate) fn draw32(key: u64, i: u32) -> u32 {
    mix32(mix32(i ^ key as u32) ^ (key >> 32) as u32)
}

/// A stream of draws under one key (SplitMix64 started at the key): for the
/// handful of numbers one image's augmentation needs.
#[derive(Clone, Debug)]
pub(crate) struct Stream(u64);

impl Stream {
    /// The stream of `key`.
    pub(crate) fn new(key: u64) -> Stream {
        Stream(key)
    }

    /// The next 64 bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)`, 24 bits.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in `[-max, max)`.
    pub(crate) fn symmetric(&mut self, max: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * max
    }

    /// Uniform whole number in `-max..=max`.
    pub(crate) fn whole(&mut self, max: u32) -> i32 {
        let span = 2 * max as u64 + 1;
        (((self.next_u64() >> 32) * span) >> 32) as i32 - max as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_part_and_domain() {
        let base = key(1, &[42, 0, 7]);
        assert_eq!(base, key(1, &[42, 0, 7]));
        for other in [
            key(2, &[42, 0, 7]),
            key(1, &[43, 0, 7]),
            key(1, &[42, 1, 7]),
        ] {
            assert_ne!(base, other);
        }
        assert_ne!(key(1, &[0, 1]), key(1, &[1, 0]));
    }

    #[test]
    fn draws_are_roughly_uniform() {
        let k = key(9, &[1, 2, 3]);
        let n = 100_000u32;
        let below = (0..n).filter(|&i| draw32(k, i) < u32::MAX / 4).count();
        assert!((below as f64 / n as f64 - 0.25).abs() < 0.01, "{below}");
        let mut s = Stream::new(k);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            let v = s.whole(2);
            assert!((-2..=2).contains(&v));
            counts[(v + 2) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
        let u: Vec<f32> = (0..1000).map(|_| s.symmetric(3.0)).collect();
        assert!(u.iter().all(|v| (-3.0..3.0).contains(v)));
    }
}

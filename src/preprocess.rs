//! Pixel preprocessing, applied while the first layer packs each batch from
//! the u8 map (never to an f32 copy of the dataset).
//!
//! Each method is expressed as a per-element affine map
//! `x = pixel · scale[i][k % period] + shift` (see [`crate::kernels::U8Rows`]),
//! whose factors are filled per batch into a small preallocated buffer.

use serde::{Deserialize, Serialize};

/// How u8 pixels become network inputs, as a configuration or
/// `--preprocess` names it; [`Preprocess::fit`] measures its constants on
/// the training pixels, giving the [`FittedPreprocess`] a network stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// `pixel / 255`.
    Scale,
    /// `tf.keras.utils.normalize(x, axis=1)`: each image column divided by
    /// its L2 norm.
    KerasNormalize,
    /// `(pixel / 255 - mean) / std` over the training set.
    Standardize,
    /// The values as they are: u8 pixels become 0.0–255.0, and f32 inputs
    /// (which are never preprocessed) are recorded as such.
    #[serde(rename = "none")]
    #[cfg_attr(feature = "cli", value(name = "none"))]
    Identity,
}

impl Preprocess {
    /// The method with its constants, measured on the training pixels where
    /// it needs them.
    pub fn fit(self, train_pixels: &[u8]) -> FittedPreprocess {
        match self {
            Preprocess::Scale => FittedPreprocess::Scale,
            Preprocess::KerasNormalize => FittedPreprocess::KerasNormalize,
            Preprocess::Standardize => FittedPreprocess::standardize_from(train_pixels),
            Preprocess::Identity => FittedPreprocess::Identity,
        }
    }

    /// The name `--preprocess` uses.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Scale => "scale",
            Preprocess::KerasNormalize => "keras-normalize",
            Preprocess::Standardize => "standardize",
            Preprocess::Identity => "none",
        }
    }
}

/// A [`Preprocess`] with its constants: what a network stores and applies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FittedPreprocess {
    /// `pixel / 255`.
    Scale,
    /// `tf.keras.utils.normalize(x, axis=1)` on the raw N×rows×cols array:
    /// each image column divided by its L2 norm (all-zero columns stay zero).
    KerasNormalize,
    /// `(pixel / 255 - mean) / std` with the training set's mean and standard
    /// deviation over all pixels, computed once.
    Standardize {
        /// Mean of `pixel / 255` over the training set.
        mean: f32,
        /// Standard deviation of `pixel / 255` over the training set.
        std: f32,
    },
    /// The values as they are (see [`Preprocess::Identity`]): what a
    /// network trained on f32 inputs records.
    #[serde(rename = "none")]
    Identity,
}

impl FittedPreprocess {
    /// The method, without its constants.
    pub fn method(&self) -> Preprocess {
        match self {
            FittedPreprocess::Scale => Preprocess::Scale,
            FittedPreprocess::KerasNormalize => Preprocess::KerasNormalize,
            FittedPreprocess::Standardize { .. } => Preprocess::Standardize,
            FittedPreprocess::Identity => Preprocess::Identity,
        }
    }

    /// The name `--preprocess` uses.
    pub fn name(&self) -> &'static str {
        self.method().name()
    }

    /// Standardization constants over all `pixels` (u8, the training images).
    /// Summed in a fixed order in f64 so they never depend on threads.
    pub fn standardize_from(pixels: &[u8]) -> FittedPreprocess {
        let mut hist = [0u64; 256];
        for &p in pixels {
            hist[p as usize] += 1;
        }
        let n = pixels.len().max(1) as f64;
        let mean = hist
            .iter()
            .enumerate()
            .map(|(v, &c)| v as f64 / 255.0 * c as f64)
            .sum::<f64>()
            / n;
        let var = hist
            .iter()
            .enumerate()
            .map(|(v, &c)| (v as f64 / 255.0 - mean).powi(2) * c as f64)
            .sum::<f64>()
            / n;
        let std = var.sqrt().max(1e-6);
        FittedPreprocess::Standardize {
            mean: mean as f32,
            std: std as f32,
        }
    }

    /// How many scale factors each image needs: one per image column for
    /// `keras-normalize`, else one.
    pub fn period(&self, cols: usize) -> usize {
        match self {
            FittedPreprocess::KerasNormalize => cols.max(1),
            _ => 1,
        }
    }

    /// The constant added after scaling.
    pub fn shift(&self) -> f32 {
        match *self {
            FittedPreprocess::Standardize { mean, std } => -mean / std,
            _ => 0.0,
        }
    }

    /// Writes the scale factors of one image (`image`, `rows × cols` u8) into
    /// `out` (`self.period(cols)` values).
    pub fn fill_scale(&self, image: &[u8], cols: usize, out: &mut [f32]) {
        match *self {
            FittedPreprocess::Scale => out[0] = 1.0 / 255.0,
            FittedPreprocess::Standardize { std, .. } => out[0] = 1.0 / (255.0 * std),
            FittedPreprocess::Identity => out[0] = 1.0,
            FittedPreprocess::KerasNormalize => {
                if cols > NARROW_COLS || image.len() / cols > NARROW_ROWS {
                    return keras_normalize_wide(image, cols, out);
                }
                // All 32 lanes, so that the square roots and divisions
                // run as vectors (each still correctly rounded, as in the
                // wide path).
                let sq = column_squares_narrow(image, cols);
                let factors: [f32; NARROW_COLS] = std::array::from_fn(|j| {
                    let norm = (sq[j] as f64).sqrt() as f32;
                    if sq[j] == 0 { 1.0 } else { 1.0 / norm }
                });
                out[..cols].copy_from_slice(&factors[..cols]);
            }
        }
    }

    /// Applies the method to one image, writing f32 inputs (for prediction
    /// on single images and for tests).
    pub fn apply(&self, image: &[u8], cols: usize, out: &mut [f32]) {
        let period = self.period(cols);
        let mut scale = vec![0.0; period];
        self.fill_scale(image, cols, &mut scale);
        let shift = self.shift();
        for (k, (o, &p)) in out.iter_mut().zip(image).enumerate() {
            *o = p as f32 * scale[k % period] + shift;
        }
    }
}

/// `keras-normalize` for images wider than 64 columns (rare), without the
/// stack buffer.
/// Widest image (in columns) whose column sums [`column_squares_narrow`]
/// keeps in registers.
const NARROW_COLS: usize = 32;
/// Tallest image whose column sums of squared bytes fit in a `u32`.
const NARROW_ROWS: usize = (u32::MAX / (255 * 255)) as usize;

/// The sum of squared pixels of each column of an image at most
/// [`NARROW_COLS`] wide (the lanes past `cols` are zero). Each row is read
/// as 32 bytes, the bytes past the row masked to zero, so that the 32
/// sums stay in two vector registers instead of going through memory
/// every row (4 µs of a batch-32 `mnist` step before); the sums are exact
/// integers, so the result is the same as any other order's.
fn column_squares_narrow(image: &[u8], cols: usize) -> [u32; NARROW_COLS] {
    debug_assert!((1..=NARROW_COLS).contains(&cols));
    let keep: [u32; NARROW_COLS] = std::array::from_fn(|j| u32::from(j < cols));
    let mut acc = [0u32; NARROW_COLS];
    for start in (0..image.len() / cols * cols).step_by(cols) {
        let px: [u8; NARROW_COLS] = match image.get(start..start + NARROW_COLS) {
            Some(run) => run.try_into().expect("32 bytes"),
            None => {
                // The last rows: pad the image's end with zeros.
                let mut padded = [0u8; NARROW_COLS];
                padded[..image.len() - start].copy_from_slice(&image[start..]);
                padded
            }
        };
        for ((a, &p), &k) in acc.iter_mut().zip(&px).zip(&keep) {
            let p = u32::from(p) * k;
            *a += p * p;
        }
    }
    acc
}

fn keras_normalize_wide(image: &[u8], cols: usize, out: &mut [f32]) {
    for (c, o) in out.iter_mut().enumerate().take(cols) {
        let s: u64 = image
            .iter()
            .skip(c)
            .step_by(cols)
            .map(|&p| p as u64 * p as u64)
            .sum();
        *o = if s == 0 {
            1.0
        } else {
            1.0 / (s as f64).sqrt() as f32
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_column_sums_equal_the_plain_sums() {
        let mut state = 99u32;
        let mut byte = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        };
        for cols in 1..=NARROW_COLS {
            for rows in [1, 2, 3, 28, 33] {
                let image: Vec<u8> = (0..rows * cols).map(|_| byte()).collect();
                let got = column_squares_narrow(&image, cols);
                for (c, &sum) in got.iter().enumerate() {
                    let want: u32 = if c < cols {
                        image
                            .iter()
                            .skip(c)
                            .step_by(cols)
                            .map(|&p| p as u32 * p as u32)
                            .sum()
                    } else {
                        0
                    };
                    assert_eq!(sum, want, "{rows}x{cols}, column {c}");
                }
                // And the factors equal the wide path's.
                let (mut a, mut b) = (vec![0.0; cols], vec![0.0; cols]);
                FittedPreprocess::KerasNormalize.fill_scale(&image, cols, &mut a);
                keras_normalize_wide(&image, cols, &mut b);
                assert_eq!(a, b, "{rows}x{cols}");
            }
        }
        // A column too tall for u32 sums takes the wide path: no overflow.
        let tall = vec![255u8; NARROW_ROWS + 1];
        let mut out = [0.0];
        FittedPreprocess::KerasNormalize.fill_scale(&tall, 1, &mut out);
        let want = 1.0 / ((255.0f64 * 255.0 * (NARROW_ROWS + 1) as f64).sqrt() as f32);
        assert_eq!(out[0], want);
    }

    #[test]
    fn keras_normalize_divides_each_column_by_its_norm() {
        // 2×2 image [[3, 0], [4, 0]]: column 0 has norm 5, column 1 is zero.
        let img = [3u8, 0, 4, 0];
        let mut out = [0.0; 4];
        FittedPreprocess::KerasNormalize.apply(&img, 2, &mut out);
        assert_eq!(out, [0.6, 0.0, 0.8, 0.0]);
        let mut wide = [0.0; 2];
        keras_normalize_wide(&img, 2, &mut wide);
        assert_eq!(wide, [0.2, 1.0]);
    }

    #[test]
    fn standardize_has_zero_mean_unit_variance() {
        let pixels: Vec<u8> = (0..=255).collect();
        let p = FittedPreprocess::standardize_from(&pixels);
        let mut out = vec![0.0; 256];
        p.apply(&pixels, 16, &mut out);
        let mean = out.iter().sum::<f32>() / 256.0;
        let var = out.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / 256.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "{mean} {var}"
        );
    }
}

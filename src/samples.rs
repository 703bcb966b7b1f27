//! What networks consume: [`Images`] (u8 pixels or f32 values, borrowed)
//! and [`Samples`] (images with their labels and size).

use crate::{Error, Result};

/// Image values fed to a network, row-major, one image after another:
/// u8 pixels (straight from a memory map or a caller's array, converted
/// while packing with the network's preprocessing) or f32 values that the
/// caller already prepared (used as they are).
#[derive(Clone, Copy, Debug)]
pub enum Images<'a> {
    /// u8 pixels; the network's preprocessing applies.
    U8(&'a [u8]),
    /// f32 values, used as they are.
    F32(&'a [f32]),
}

impl<'a> Images<'a> {
    /// Number of values (pixels).
    pub fn len(&self) -> usize {
        match self {
            Images::U8(p) => p.len(),
            Images::F32(p) => p.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Images `start..end` of images of `image_len` values each.
    ///
    /// # Panics
    /// If the range reaches past the values.
    pub fn range(self, start: usize, end: usize, image_len: usize) -> Images<'a> {
        let (a, b) = (start * image_len, end * image_len);
        match self {
            Images::U8(p) => Images::U8(&p[a..b]),
            Images::F32(p) => Images::F32(&p[a..b]),
        }
    }
}

/// Labelled images, borrowed: `labels.len()` images of `rows × cols`
/// values each, and one class index per image.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    /// The images.
    pub images: Images<'a>,
    /// One class index per image.
    pub labels: &'a [u8],
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl<'a> Samples<'a> {
    /// Samples from u8 pixels (`labels.len()` images of `rows × cols`).
    pub fn from_u8(pixels: &'a [u8], labels: &'a [u8], rows: usize, cols: usize) -> Self {
        Samples {
            images: Images::U8(pixels),
            labels,
            rows,
            cols,
        }
    }

    /// Samples from f32 values (`labels.len()` images of `rows × cols`).
    pub fn from_f32(values: &'a [f32], labels: &'a [u8], rows: usize, cols: usize) -> Self {
        Samples {
            images: Images::F32(values),
            labels,
            rows,
            cols,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image: `rows · cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// Images `start..end` with their labels.
    ///
    /// # Panics
    /// If `start > end` or `end > len()`.
    pub fn range(&self, start: usize, end: usize) -> Samples<'a> {
        Samples {
            images: self.images.range(start, end, self.image_len()),
            labels: &self.labels[start..end],
            ..*self
        }
    }

    /// Asks the CPU to start loading the images `rows` into its caches,
    /// without waiting for them: a training loop calls it with the next
    /// batch's rows before a step, so that the batch's randomly chosen
    /// images (from a memory map larger than the caches) arrive while the
    /// step computes instead of stalling the next step's first product.
    /// Changes no result. Rows past the end are skipped.
    pub(crate) fn prefetch(&self, rows: &[u32]) {
        /// Bytes per cache line (64 on every x86-64 and most ARM cores).
        const LINE: usize = 64;
        let k = self.image_len();
        let (bytes, size) = match self.images {
            Images::U8(p) => (p.as_ptr().cast::<u8>(), 1),
            Images::F32(p) => (p.as_ptr().cast::<u8>(), 4),
        };
        let image_bytes = k * size;
        for &r in rows {
            let r = r as usize;
            if r >= self.len() {
                continue;
            }
            let start = r * image_bytes;
            // One hint per line from the image's start, and one for the
            // line holding its last byte (an image need not start on a
            // line).
            let offsets = (0..image_bytes)
                .step_by(LINE)
                .chain(image_bytes.checked_sub(1));
            for off in offsets {
                // `wrapping_add` keeps this free of `unsafe`: the address is
                // inside the images (r < len, off < image_bytes), and a
                // prefetch never faults anyway.
                crate::kernels::prefetch(bytes.wrapping_add(start + off));
            }
        }
    }

    /// Checks the sizes against a network taking `rows × cols` images and
    /// predicting `classes` classes, and every label against `classes`,
    /// once, so that the training step needs no checks.
    pub(crate) fn check(&self, rows: usize, cols: usize, classes: usize) -> Result<()> {
        if !network_takes((rows, cols), (self.rows, self.cols)) {
            return Err(Error::Config(format!(
                "images are {}x{} but the network takes {rows}x{cols}",
                self.rows, self.cols
            )));
        }
        let len = self.images.len();
        if Some(len) != self.len().checked_mul(rows * cols) {
            return Err(Error::Config(format!(
                "{len} input values for {} images of {} pixels",
                self.len(),
                rows * cols
            )));
        }
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::Config(format!(
                "label {} of image {i} is not below the {classes} classes",
                self.labels[i]
            )));
        }
        Ok(())
    }
}

/// Whether a network of `net` (rows × cols) images takes images of
/// `images` (rows × cols): the same shape, or, for a flat network (one
/// row, as a scikit-learn estimator trained on 2-D arrays builds it), any
/// shape of as many pixels, each image read row-major.
pub(crate) fn network_takes(net: (usize, usize), images: (usize, usize)) -> bool {
    net == images || (net.0 == 1 && images.0.checked_mul(images.1) == Some(net.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_takes_any_rows_and_changes_nothing() {
        let pixels: Vec<u8> = (0..3 * 70).map(|i| i as u8).collect();
        let values: Vec<f32> = pixels.iter().map(|&p| p as f32).collect();
        let labels = [0u8, 1, 2];
        for s in [
            Samples::from_u8(&pixels, &labels, 7, 10),
            Samples::from_f32(&values, &labels, 7, 10),
        ] {
            // In range, repeated, past the end, and none at all.
            s.prefetch(&[2, 0, 0, 3, u32::MAX]);
            s.prefetch(&[]);
            assert_eq!(s.len(), 3);
        }
        assert_eq!(pixels[209], 209);
    }
}

//! Pictures of the data and of the predictions: PNG files and terminal previews.
//!
//! The Keras tutorial that fastnn replaces shows a 5×5 grid of training
//! images with their class names, then each of the first test images titled
//! "Expected: …" with "Guess: …" under it and a bar chart of the class
//! probabilities. This module draws the same pictures, plus training curves
//! and a confusion matrix, and prepares a user's own drawing (`--image`) the
//! way MNIST was prepared.
//!
//! The drawing functions take plain data (pixel slices, names, numbers);
//! [`Pictures`] composes them for a dataset and a run, as `fastnn train`,
//! `show` and `predict` show them.
//!
//! Text is rendered by plotters through `ab_glyph` with DejaVu Sans compiled
//! into the binary: the pictures look the same on a machine with no fonts
//! installed.
//!
//! ```
//! use fastnn::viz::{image_grid, terminal_preview, ColorMode, Labeled};
//!
//! let pixels: Vec<u8> = (0..28 * 28).map(|i| (i % 256) as u8).collect();
//! let items = [Labeled::new(&pixels, 28, 28, "Sneaker")];
//! let png = image_grid(&items, 5)?;
//! assert!(png.width() > 28 * 4);
//! let text = terminal_preview(&items, 5, ColorMode::Ansi256);
//! assert!(text.ends_with("Sneaker\n"));
//! # Ok::<(), fastnn::Error>(())
//! ```

mod canvas;
mod grid;
mod input;
mod plots;
mod report;
mod sweep;
mod terminal;

use std::path::Path;

use image::{ImageEncoder as _, RgbImage};

use crate::{Error, Result};

pub use grid::{GridLayout, Prediction, grid_layout, image_grid, prediction_card, prediction_grid};
pub use input::{fuzz_image, prepare_image_bytes, prepare_user_image};
pub use plots::{EpochPoint, confusion_matrix_png, training_curves};
pub use report::{Pictures, labeled, predictions};
pub use sweep::{SweepAxis, SweepPoint, SweepSeries, sweep_chart};
pub use terminal::{
    ColorMode, detect_color_mode, terminal_columns, terminal_predictions, terminal_preview,
};

/// One grayscale image with the text to show under it.
#[derive(Debug, Clone)]
pub struct Labeled<'a> {
    /// Row-major pixels, `rows * cols` of them, 0 = black.
    pub pixels: &'a [u8],
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Text under the image, usually the class name.
    pub caption: String,
}

impl<'a> Labeled<'a> {
    /// A labeled image.
    pub fn new(pixels: &'a [u8], rows: usize, cols: usize, caption: impl Into<String>) -> Self {
        Labeled {
            pixels,
            rows,
            cols,
            caption: caption.into(),
        }
    }
}

/// Checks the one invariant every image-taking function relies on.
fn check_pixels(pixels: &[u8], rows: usize, cols: usize) {
    assert!(
        rows > 0 && cols > 0 && rows.checked_mul(cols) == Some(pixels.len()),
        "image of {rows}×{cols} needs {} pixels, got {}",
        rows.saturating_mul(cols),
        pixels.len()
    );
}

/// Writes `img` as a PNG at `path`, atomically: the bytes go to a temporary
/// file in the same folder, which is renamed over `path` only once complete,
/// so a crash or a full disk never leaves a truncated picture behind.
pub fn save_png(img: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    crate::files::write_atomically(path, |w| {
        image::codecs::png::PngEncoder::new(w)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| match e {
                image::ImageError::IoError(e) => Error::io(path, e),
                e => Error::invalid(path, format!("cannot encode PNG: {e}")),
            })
    })
}

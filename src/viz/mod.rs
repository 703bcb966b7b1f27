//! Pictures of the data and of the predictions: PNG files and terminal previews.
//!
//! The Keras tutorial that fastnn replaces shows a 5×5 grid of training
//! images with their class names, then each of the first test images titled
//! "Expected: …" with "Guess: …" under it and a bar chart of the class
//! probabilities. This module draws the same pictures, plus training curves
//! and a confusion matrix, and prepares a user's own drawing (`--image`) the
//! way MNIST was prepared.
//!
//! Everything takes plain data (pixel slices, names, numbers), so it does not
//! depend on the dataset or network types.
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
//! let png = image_grid(&items, 5);
//! assert!(png.width() > 28 * 4);
//! let text = terminal_preview(&items, 5, ColorMode::Ansi256);
//! assert!(text.ends_with("Sneaker\n"));
//! ```

mod canvas;
mod grid;
mod input;
mod plots;
mod terminal;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::{ImageEncoder as _, RgbImage};

use crate::{Error, Result};

pub use grid::{GridLayout, Prediction, grid_layout, image_grid, prediction_card, prediction_grid};
pub use input::prepare_user_image;
pub use plots::{EpochPoint, confusion_matrix_png, training_curves};
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
    write_atomically(path, |w| {
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

/// Runs `write` on a temporary file beside `path`, then renames it to `path`;
/// on any failure the temporary file is removed and `path` is untouched.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(path, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(path, e))?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn save_png_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("fastnn-viz-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.png");
        save_png(&RgbImage::new(3, 2), &path).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("a.png")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_removes_the_temporary_file() {
        let dir = std::env::temp_dir().join(format!("fastnn-viz-unit2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.bin");
        let err = write_atomically(&path, |w| {
            w.write_all(b"partial").map_err(|e| Error::io(&path, e))?;
            Err(Error::invalid(&path, "boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

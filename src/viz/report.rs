//! The pictures of a dataset and of a run, as the command line shows them:
//! each method returns the text to print (terminal previews and the names
//! of the files written), so the caller only prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{
    ColorMode, EpochPoint, Labeled, Prediction, confusion_matrix_png, image_grid, prediction_grid,
    save_png, terminal_columns, terminal_predictions, terminal_preview, training_curves,
};
use crate::dataset::{Dataset, Split};
use crate::infer::{Evaluation, argmax};
use crate::train::EpochStats;
use crate::{Error, Result};

/// Images per row of the tutorial's grids.
const GRID_COLUMNS: usize = 5;

/// Where pictures go: the terminal (its width and colours, when drawing
/// there) and a folder of PNG files (when given).
#[derive(Clone, Debug)]
pub struct Pictures {
    dir: Option<PathBuf>,
    terminal: Option<(usize, ColorMode)>,
}

/// Images of a split with their class names as captions.
pub fn labeled<'a>(ds: &'a Dataset, split: Split, indices: &[usize]) -> Vec<Labeled<'a>> {
    indices
        .iter()
        .map(|&i| {
            let caption = ds.classes()[ds.label(split, i) as usize].clone();
            Labeled::new(ds.image(split, i), ds.rows(), ds.cols(), caption)
        })
        .collect()
}

/// Test images with their expected class and the guess from `probs`.
pub fn predictions<'a>(
    ds: &'a Dataset,
    indices: &[usize],
    probs: &'a [Vec<f32>],
) -> Vec<Prediction<'a>> {
    indices
        .iter()
        .zip(probs)
        .map(|(&i, p)| Prediction {
            pixels: ds.image(Split::Test, i),
            rows: ds.rows(),
            cols: ds.cols(),
            expected: Some(ds.label(Split::Test, i) as usize),
            guess: argmax(p),
            probs: p,
        })
        .collect()
}

impl Pictures {
    /// Pictures drawn in a terminal `terminal = (width, colours)` (none if
    /// `None`) and written as PNG files into `dir` (created now, if given).
    pub fn new(dir: Option<&Path>, terminal: Option<(usize, ColorMode)>) -> Result<Pictures> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        Ok(Pictures {
            dir: dir.map(Path::to_path_buf),
            terminal,
        })
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// The tutorial's 5×5 grid of training images with their class names.
    pub fn samples(&self, ds: &Dataset) -> Result<String> {
        let n = 25.min(ds.len(Split::Train));
        let items = labeled(ds, Split::Train, &(0..n).collect::<Vec<_>>());
        let mut out = String::new();
        if let Some((width, color)) = self.terminal {
            let cols = terminal_columns(&items, GRID_COLUMNS, width);
            out += &terminal_preview(&items, cols, color);
        }
        if let Some(path) = self.file("samples.png") {
            save_png(&image_grid(&items, GRID_COLUMNS)?, &path)?;
            let _ = writeln!(out, "wrote {}", path.display());
        }
        Ok(out)
    }

    /// Test images titled with the expected class, captioned with the
    /// guess, in the terminal and as `predictions.png`.
    pub fn predictions(
        &self,
        ds: &Dataset,
        indices: &[usize],
        probs: &[Vec<f32>],
    ) -> Result<String> {
        let preds = predictions(ds, indices, probs);
        let mut out = String::new();
        if let Some((width, color)) = self.terminal {
            let items = labeled(ds, Split::Test, indices);
            let cols = terminal_columns(&items, GRID_COLUMNS, width);
            out += &terminal_predictions(&preds, ds.classes(), cols, color);
        }
        if let Some(path) = self.file("predictions.png") {
            save_png(&prediction_grid(&preds, ds.classes(), GRID_COLUMNS)?, &path)?;
            let _ = writeln!(out, "wrote {}", path.display());
        }
        Ok(out)
    }

    /// `curves.png` (loss and accuracy per epoch, train and validation)
    /// and `confusion.png` (of the test set), when writing files.
    pub fn curves_and_confusion(
        &self,
        history: &[EpochStats],
        test: &Evaluation,
        classes: &[String],
    ) -> Result<String> {
        let (Some(curves), Some(confusion)) = (self.file("curves.png"), self.file("confusion.png"))
        else {
            return Ok(String::new());
        };
        let mut out = String::new();
        let points: Vec<EpochPoint> = history
            .iter()
            .map(|e| EpochPoint {
                epoch: e.epoch,
                train_loss: e.loss,
                train_acc: e.accuracy,
                val_loss: e.val_loss,
                val_acc: e.val_accuracy,
            })
            .collect();
        if !points.is_empty() {
            training_curves(&points, &curves)?;
            let _ = writeln!(out, "wrote {}", curves.display());
        }
        let counts: Vec<u32> = test.confusion.iter().flatten().copied().collect();
        confusion_matrix_png(&counts, classes, &confusion)?;
        let _ = writeln!(out, "wrote {}", confusion.display());
        Ok(out)
    }
}

//! Charts of a training run: loss and accuracy per epoch, and the confusion
//! matrix of the test set.

use std::path::Path;

use image::{Rgb, RgbImage};
use plotters::prelude::*;

use super::canvas::{self, Align, INK, WHITE};
use super::save_png;
use crate::{Error, Result};

/// The metrics of one epoch; the validation values are absent when the run
/// did not evaluate after that epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochPoint {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch, in [0, 1].
    pub train_acc: f64,
    /// Validation loss after the epoch.
    pub val_loss: Option<f64>,
    /// Validation accuracy after the epoch, in [0, 1].
    pub val_acc: Option<f64>,
}

const CURVES_SIZE: (u32, u32) = (1100, 440);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);

/// Writes the training curves as a PNG: loss on the left, accuracy on the
/// right, train and validation per epoch. The gap between the two accuracy curves
/// is the overfitting the tutorial explains.
///
/// # Errors
/// [`Error::Config`] if `epochs` is empty; [`Error::Io`] if the file cannot
/// be written.
pub fn training_curves(epochs: &[EpochPoint], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if epochs.is_empty() {
        return Err(Error::Config("no epochs to plot".to_string()));
    }
    canvas::ensure_fonts();
    let (w, h) = CURVES_SIZE;
    let mut img = RgbImage::from_pixel(w, h, WHITE);
    {
        let root = BitMapBackend::with_buffer(img.as_mut(), (w, h)).into_drawing_area();
        let (left, right) = root.split_horizontally(w / 2);
        let loss = Panel::new(
            "Loss",
            "loss",
            epochs,
            |p| (p.train_loss, p.val_loss),
            false,
        );
        let acc = Panel::new(
            "Accuracy",
            "accuracy",
            epochs,
            |p| (p.train_acc, p.val_acc),
            true,
        );
        loss.draw(&left)
            .and_then(|()| acc.draw(&right))
            .map_err(|e| Error::invalid(path, format!("cannot draw the training curves: {e}")))?;
    }
    save_png(&img, path)
}

/// One chart of the curves picture.
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    train: Vec<(usize, f64)>,
    val: Vec<(usize, f64)>,
    /// Accuracy lives in [0, 1]; padding must not leave that range.
    clamp_unit: bool,
}

impl Panel {
    /// The panel of one metric; `metric` gives its train and validation values.
    fn new(
        title: &'static str,
        y_desc: &'static str,
        epochs: &[EpochPoint],
        metric: impl Fn(&EpochPoint) -> (f64, Option<f64>),
        clamp_unit: bool,
    ) -> Panel {
        let values: Vec<(usize, (f64, Option<f64>))> =
            epochs.iter().map(|p| (p.epoch, metric(p))).collect();
        Panel {
            title,
            y_desc,
            train: values.iter().map(|&(e, (v, _))| (e, v)).collect(),
            val: values
                .iter()
                .filter_map(|&(e, (_, v))| Some((e, v?)))
                .collect(),
            clamp_unit,
        }
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<
    (),
    DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>,
>;

impl Panel {
    fn draw(&self, area: &Area) -> DrawResult {
        let finite = |v: &&(usize, f64)| v.1.is_finite();
        let points: Vec<(f64, f64)> = self
            .train
            .iter()
            .chain(&self.val)
            .filter(finite)
            .map(|&(e, v)| (e as f64, v))
            .collect();
        let (x_lo, x_hi) = padded_range(points.iter().map(|p| p.0), 0.0, 0.5);
        let (mut y_lo, mut y_hi) = padded_range(points.iter().map(|p| p.1), 0.08, 0.05);
        if self.clamp_unit {
            y_lo = y_lo.max(0.0);
            y_hi = y_hi.min(1.0);
        } else {
            y_lo = y_lo.max(0.0);
        }
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        let integer_ticks = |x: &f64| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round())
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("epoch")
            .y_desc(self.y_desc)
            .x_labels(((x_hi - x_lo).round() as usize + 1).clamp(2, 12))
            .x_label_formatter(&integer_ticks)
            .y_label_formatter(&|y| format!("{y:.3}"));
        house_style(&mut mesh).draw()?;
        for (name, series, color) in [
            ("train", &self.train, TRAIN_COLOR),
            ("validation", &self.val, VAL_COLOR),
        ] {
            if series.is_empty() {
                continue;
            }
            let line = series
                .iter()
                .filter(finite)
                .map(|&(e, v)| (e as f64, v))
                .collect::<Vec<_>>();
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)).point_size(4))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(if self.clamp_unit {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .label_font(("sans-serif", 15))
            .background_style(WHITE_STYLE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
        Ok(())
    }
}

/// The look the charts' grids share: label sizes and line colours.
pub(super) fn house_style<'m, 'a, 'b, X, Y, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    DB: DrawingBackend,
{
    mesh.label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(248, 248, 248))
        .bold_line_style(RGBColor(215, 215, 215))
}

const WHITE_STYLE: RGBColor = RGBColor(255, 255, 255);

/// `[min, max]` of the values widened by `frac` of the span on each side, and
/// at least by `min_pad` (so one value, or equal values, still give a range).
fn padded_range(values: impl Iterator<Item = f64>, frac: f64, min_pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * frac).max(min_pad);
    (lo - pad, hi + pad)
}

/// Writes the confusion matrix as a PNG: one row per true class, one column
/// per predicted class, class names on both axes, the count in each cell and
/// the cell shaded by its share of the row (so rare classes show their
/// confusions as clearly as common ones). `counts` is row-major, `n × n`
/// for `n = class_names.len()`. Cells shrink as classes grow (the picture
/// stays about 540 pixels); past about 30 classes the cells are too small
/// for digits, and only the shading shows the counts.
///
/// # Errors
/// [`Error::Config`] if `counts.len()` is not `n²` or `n` is 0;
/// [`Error::Io`] if the file cannot be written.
pub fn confusion_matrix_png<S: AsRef<str>>(
    counts: &[u32],
    class_names: &[S],
    path: impl AsRef<Path>,
) -> Result<()> {
    let n = class_names.len();
    if n == 0 || n.checked_mul(n) != Some(counts.len()) {
        return Err(Error::Config(format!(
            "confusion matrix: {} counts for {n} classes (need {})",
            counts.len(),
            n.saturating_mul(n)
        )));
    }
    save_png(&confusion_matrix_image(counts, class_names), path)
}

/// The picture [`confusion_matrix_png`] writes.
fn confusion_matrix_image<S: AsRef<str>>(counts: &[u32], class_names: &[S]) -> RgbImage {
    let n = class_names.len();
    let cell = (540 / n as u32).clamp(16, 54);
    let label_size = (cell as f64 * 0.3).clamp(10.0, 14.0);
    let count_size = (cell as f64 * 0.3).min(14.0);
    let names: Vec<&str> = class_names.iter().map(AsRef::as_ref).collect();
    let name_w = names
        .iter()
        .map(|s| canvas::text_width(s, label_size, false))
        .max()
        .unwrap_or(0);
    let margin = 20;
    let axis_title = 18.0;
    let title_h = 48;
    let left = margin + axis_title as u32 + 10 + name_w + 8;
    let top = margin + title_h;
    let side = cell * n as u32;
    let width = (left + side + margin).max(420);
    let height = top + side + 8 + name_w + 10 + axis_title as u32 + margin;
    let mut img = RgbImage::from_pixel(width, height, WHITE);

    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    let right: u64 = (0..n).map(|i| counts[i * n + i] as u64).sum();
    let title = if total > 0 {
        format!(
            "Confusion matrix: accuracy {:.2}% ({right} of {total})",
            100.0 * right as f64 / total as f64
        )
    } else {
        "Confusion matrix (no samples)".to_string()
    };
    canvas::text(
        &mut img,
        &title,
        margin as i32,
        margin as i32,
        18.0,
        true,
        INK,
        Align::Left,
    );

    for (i, row) in counts.chunks(n).enumerate() {
        let row_total: u64 = row.iter().map(|&c| c as u64).sum();
        for (j, &count) in row.iter().enumerate() {
            let share = if row_total > 0 {
                count as f64 / row_total as f64
            } else {
                0.0
            };
            let x = left + j as u32 * cell;
            let y = top + i as u32 * cell;
            let color = blues(share);
            canvas::fill(
                &mut img,
                x as i64,
                y as i64,
                cell as i64,
                cell as i64,
                color,
            );
            if count_size >= 7.0 && count > 0 {
                let text_color = if share > 0.5 { WHITE } else { INK };
                canvas::text(
                    &mut img,
                    &count.to_string(),
                    (x + cell / 2) as i32,
                    (y as f64 + (cell as f64 - count_size) / 2.0).round() as i32,
                    count_size,
                    i == j,
                    text_color,
                    Align::Center,
                );
            }
        }
        let label_top = (top as f64 + (i as f64 + 0.5) * cell as f64 - label_size / 2.0).round();
        canvas::text(
            &mut img,
            names[i],
            (left - 8) as i32,
            label_top as i32,
            label_size,
            false,
            INK,
            Align::Right,
        );
    }
    canvas::frame(
        &mut img,
        left as i64,
        top as i64,
        side as i64,
        side as i64,
        Rgb([160, 160, 160]),
    );
    for (j, name) in names.iter().enumerate() {
        let x = (left as f64 + (j as f64 + 0.5) * cell as f64 - label_size / 2.0).round();
        canvas::text_rotated(
            &mut img,
            name,
            (x as i32, (top + side + 8) as i32),
            label_size,
            false,
            INK,
            Align::Right,
            true,
        );
    }
    canvas::text(
        &mut img,
        "Predicted class",
        (left + side / 2) as i32,
        (top + side + 8 + name_w + 10) as i32,
        axis_title,
        true,
        INK,
        Align::Center,
    );
    canvas::text_rotated(
        &mut img,
        "True class",
        (margin as i32, (top + side / 2) as i32),
        axis_title,
        true,
        INK,
        Align::Center,
        true,
    );
    img
}

/// Matplotlib's "Blues" from near-white (share 0) to dark blue (share 1).
fn blues(share: f64) -> Rgb<u8> {
    let s = share.clamp(0.0, 1.0).sqrt();
    let lerp = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    Rgb([lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0)])
}

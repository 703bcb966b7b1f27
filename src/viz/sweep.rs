//! The picture of a sweep: test accuracy against one setting (each
//! setting's mean with its standard deviation over seeds, and every run as
//! a dot), or against the seconds each run took.

use std::path::Path;

use image::RgbImage;
use plotters::prelude::*;

use super::canvas::{self, WHITE};
use super::plots::house_style;
use super::save_png;
use crate::{Error, Result};

/// The x axis of a sweep chart.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepAxis {
    /// Numbers on a linear scale, named.
    Linear(String),
    /// Positive numbers on a log scale (learning rates), named.
    Log(String),
    /// Values that are not numbers (`128,128`, `relu`), at x = 0, 1, …,
    /// named, with their labels.
    Categories(String, Vec<String>),
}

impl SweepAxis {
    fn name(&self) -> &str {
        match self {
            SweepAxis::Linear(n) | SweepAxis::Log(n) | SweepAxis::Categories(n, _) => n,
        }
    }

    /// Where `x` is drawn.
    fn place(&self, x: f64) -> f64 {
        match self {
            SweepAxis::Log(_) => x.log10(),
            _ => x,
        }
    }
}

/// One point of a series: a setting's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// Where on the x axis (an index for categories).
    pub x: f64,
    /// Mean test accuracy.
    pub mean: f64,
    /// Its standard deviation over the runs.
    pub std: f64,
    /// Each run's `(x, test accuracy)`.
    pub runs: Vec<(f64, f64)>,
}

/// A series of points: the runs that share every other setting.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSeries {
    /// What the runs share (`hidden 128, lr 0.001`); empty for one series.
    pub label: String,
    /// The points, by x.
    pub points: Vec<SweepPoint>,
}

const SIZE: (u32, u32) = (900, 560);
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Writes the chart of `series` against `axis` as a PNG; `connect` draws
/// a line through each series' means (for a setting, not for time).
///
/// # Errors
/// [`Error::Config`] if there is nothing to draw; [`Error::Io`] if the
/// file cannot be written.
pub fn sweep_chart(
    title: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    connect: bool,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let points = || series.iter().flat_map(|s| &s.points);
    if points().next().is_none() {
        return Err(Error::Config("no finished runs to plot".into()));
    }
    canvas::ensure_fonts();
    let (w, h) = SIZE;
    let mut img = RgbImage::from_pixel(w, h, WHITE);
    {
        let root = BitMapBackend::with_buffer(img.as_mut(), (w, h)).into_drawing_area();
        draw(&root, title, axis, series, connect)
            .map_err(|e| Error::invalid(path, format!("cannot draw the sweep chart: {e}")))?;
    }
    save_png(&img, path)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<
    (),
    DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>,
>;

fn draw(
    area: &Area,
    title: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    connect: bool,
) -> DrawResult {
    // Everything drawn: each run, and each mean's bar ends.
    let drawn: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| &s.points)
        .flat_map(|p| {
            let bar = [(p.x, p.mean - p.std), (p.x, p.mean + p.std)];
            p.runs.iter().copied().chain(bar)
        })
        .map(|(x, y)| (axis.place(x), y))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let xs: Vec<f64> = drawn.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = drawn.iter().map(|p| p.1).collect();
    // The values' range widened by 8%, or by `pad` times their size when
    // that is wider (one value, or values close together).
    let span = |v: &[f64], pad: f64| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let size = hi.abs().max(lo.abs()).max(1e-12);
        let p = ((hi - lo) * 0.08).max(pad * size);
        (lo - p, hi + p)
    };
    let (x_lo, x_hi) = match axis {
        SweepAxis::Categories(_, labels) => (-0.5, labels.len() as f64 - 0.5),
        _ => {
            let (lo, hi) = span(&xs, 0.05);
            // Seconds, widths, batch sizes: no negative axis below them.
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            (
                if min >= 0.0 && !matches!(axis, SweepAxis::Log(_)) {
                    lo.max(0.0)
                } else {
                    lo
                },
                hi,
            )
        }
    };
    let (y_lo, y_hi) = span(&ys, 0.003);
    let (y_lo, y_hi) = (y_lo.max(0.0), y_hi.min(1.0));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(18)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    let x_label = |x: &f64| match axis {
        SweepAxis::Categories(_, labels) => {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
        SweepAxis::Log(_) => format!("{:.3e}", 10f64.powf(*x)),
        SweepAxis::Linear(_) => format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
    };
    let x_labels = match axis {
        SweepAxis::Categories(_, labels) => labels.len() * 4 + 1,
        _ => 8,
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(axis.name())
        .y_desc("test accuracy")
        .x_labels(x_labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| format!("{y:.3}"));
    house_style(&mut mesh).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let runs = s
            .points
            .iter()
            .flat_map(|p| &p.runs)
            .map(|&(x, y)| Circle::new((axis.place(x), y), 3, color.mix(0.45).filled()));
        chart.draw_series(runs)?;
        // Each mean as a dot with a bar of ± one standard deviation.
        let (cap, style) = ((x_hi - x_lo) * 0.006, color.stroke_width(2));
        let bars = s.points.iter().flat_map(|p| {
            let (x, lo, hi) = (axis.place(p.x), p.mean - p.std, p.mean + p.std);
            [
                PathElement::new(vec![(x, lo), (x, hi)], style),
                PathElement::new(vec![(x - cap, lo), (x + cap, lo)], style),
                PathElement::new(vec![(x - cap, hi), (x + cap, hi)], style),
            ]
        });
        chart.draw_series(bars)?;
        let means = s
            .points
            .iter()
            .map(|p| Circle::new((axis.place(p.x), p.mean), 5, color.filled()));
        if connect {
            let line: Vec<(f64, f64)> =
                s.points.iter().map(|p| (axis.place(p.x), p.mean)).collect();
            chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?;
        }
        let drawn = chart.draw_series(means)?;
        if !s.label.is_empty() {
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
    }
    if series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 14))
            .background_style(RGBColor(255, 255, 255).mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
    }
    Ok(())
}

//! The tutorial's pictures as PNG-ready images: a grid of labeled samples,
//! and prediction cards ("Expected: …", "Guess: …", probability bars).

use image::{Rgb, RgbImage};

use super::canvas::{self, Align, BLUE, GRAY, INK, RED, WHITE};
use super::{Labeled, check_pixels};
use crate::limits::MAX_PICTURE_PIXELS;
use crate::{Error, Result};

/// Outer margin of a picture, in pixels.
const MARGIN: u32 = 16;
/// Space between grid cells.
const GAP: u32 = 14;
/// Height of caption text.
const CAPTION_SIZE: f64 = 15.0;
/// Space between an image and its caption.
const CAPTION_GAP: u32 = 6;
/// Images are upscaled by a whole factor to about this many pixels: large
/// enough to see strokes, small enough for a 5×5 grid to fit a screen.
const TARGET_SIDE: usize = 112;

/// Where [`image_grid`] puts things, so that callers (and tests) can find an
/// image's pixels in the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    /// Each source pixel becomes a `scale × scale` square.
    pub scale: u32,
    /// Cells per row.
    pub columns: usize,
    /// Width of a cell: the upscaled image or the widest caption.
    pub cell_width: u32,
    /// Height of a cell: the upscaled image plus its caption line.
    pub cell_height: u32,
    /// Width of an upscaled image.
    pub image_width: u32,
    /// Height of an upscaled image.
    pub image_height: u32,
    /// Width of the whole picture.
    pub width: u32,
    /// Height of the whole picture.
    pub height: u32,
}

impl GridLayout {
    /// Top-left corner of the `index`-th image (row-major cells), centered
    /// horizontally in its cell.
    pub fn image_origin(&self, index: usize) -> (u32, u32) {
        let (cx, cy) = self.cell_origin(index);
        (cx + (self.cell_width - self.image_width) / 2, cy)
    }

    fn cell_origin(&self, index: usize) -> (u32, u32) {
        let col = (index % self.columns) as u32;
        let row = (index / self.columns) as u32;
        (
            MARGIN + col * (self.cell_width + GAP),
            MARGIN + row * (self.cell_height + GAP),
        )
    }
}

/// The layout [`image_grid`] uses for `items` in `columns` columns (at least 1).
///
/// # Panics
/// If an item's pixel count is not `rows * cols`, or items differ in size.
pub fn grid_layout(items: &[Labeled], columns: usize) -> GridLayout {
    let columns = columns.max(1);
    let (rows, cols) = items.first().map_or((28, 28), |it| (it.rows, it.cols));
    for it in items {
        check_pixels(it.pixels, it.rows, it.cols);
        assert!(
            (it.rows, it.cols) == (rows, cols),
            "grid images differ in size: {rows}×{cols} and {}×{}",
            it.rows,
            it.cols
        );
    }
    let scale = (TARGET_SIDE / rows.max(cols)).max(1) as u32;
    let image_width = cols as u32 * scale;
    let image_height = rows as u32 * scale;
    let caption_width = items
        .iter()
        .map(|it| canvas::text_width(&it.caption, CAPTION_SIZE, false) + 4)
        .max()
        .unwrap_or(0);
    let cell_width = image_width.max(caption_width);
    let cell_height = image_height + CAPTION_GAP + CAPTION_SIZE as u32;
    let used_columns = columns.min(items.len()).max(1) as u32;
    let used_rows = items.len().div_ceil(columns).max(1) as u32;
    GridLayout {
        scale,
        columns,
        cell_width,
        cell_height,
        image_width,
        image_height,
        width: 2 * MARGIN + used_columns * cell_width + (used_columns - 1) * GAP,
        height: (2 * MARGIN).saturating_add(
            used_rows
                .saturating_mul(cell_height + GAP)
                .saturating_sub(GAP),
        ),
    }
}

/// The tutorial's sample grid: each image upscaled (nearest neighbour, so its
/// pixel values are kept exactly) with its caption centered under it, on white.
/// Lay out 25 items in 5 columns for the tutorial's 5×5 figure.
///
/// # Errors
/// If the picture would be larger than [`MAX_PICTURE_PIXELS`].
///
/// # Panics
/// As [`grid_layout`].
pub fn image_grid(items: &[Labeled], columns: usize) -> Result<RgbImage> {
    let layout = grid_layout(items, columns);
    let mut img = blank(layout.width, layout.height)?;
    for (i, it) in items.iter().enumerate() {
        let (x, y) = layout.image_origin(i);
        let (w, h) = (layout.image_width as i64, layout.image_height as i64);
        canvas::frame(&mut img, x as i64, y as i64, w, h, Rgb([200, 200, 200]));
        canvas::blit_gray(
            &mut img,
            it.pixels,
            (it.rows, it.cols),
            (x, y),
            layout.scale,
        );
        let (cx, _) = layout.cell_origin(i);
        canvas::text(
            &mut img,
            &it.caption,
            (cx + layout.cell_width / 2) as i32,
            (y + layout.image_height + CAPTION_GAP) as i32,
            CAPTION_SIZE,
            false,
            INK,
            Align::Center,
        );
    }
    Ok(img)
}

/// A white picture of `width × height`, refused (before allocating) above
/// [`MAX_PICTURE_PIXELS`].
fn blank(width: u32, height: u32) -> Result<RgbImage> {
    let pixels = width as u64 * height as u64;
    if pixels > MAX_PICTURE_PIXELS {
        return Err(Error::Config(format!(
            "a picture of {width}×{height} pixels is larger than fastnn draws ({MAX_PICTURE_PIXELS} \
             pixels, a limit of fastnn): show fewer images in one picture"
        )));
    }
    Ok(RgbImage::from_pixel(width, height, WHITE))
}

/// One test image with what the network made of it.
#[derive(Debug, Clone)]
pub struct Prediction<'a> {
    /// Row-major pixels, `rows * cols` of them.
    pub pixels: &'a [u8],
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// The true class index, if known (a user's own image has none).
    pub expected: Option<usize>,
    /// The predicted class index.
    pub guess: usize,
    /// Probability of each class (softmax output), in class order.
    pub probs: &'a [f32],
}

impl Prediction<'_> {
    /// Whether the guess is known to be wrong.
    pub fn is_wrong(&self) -> bool {
        self.expected.is_some_and(|e| e != self.guess)
    }
}

/// Class `i`'s name, or its number if the list is short (a model trained on
/// a dataset without names), so drawing never fails on a mismatch.
pub(super) fn class_name<S: AsRef<str>>(class_names: &[S], i: usize) -> String {
    class_names
        .get(i)
        .map_or_else(|| i.to_string(), |s| s.as_ref().to_string())
}

/// The caption lines of a prediction, shared with the terminal preview.
pub(super) fn prediction_texts<S: AsRef<str>>(
    p: &Prediction,
    class_names: &[S],
) -> (Option<String>, String) {
    let title = p
        .expected
        .map(|e| format!("Expected: {}", class_name(class_names, e)));
    let guess = match p.probs.get(p.guess) {
        Some(prob) => format!(
            "Guess: {} ({:.0}%)",
            class_name(class_names, p.guess),
            prob * 100.0
        ),
        None => format!("Guess: {}", class_name(class_names, p.guess)),
    };
    (title, guess)
}

/// At most this many probability bars per card: more would not be readable
/// at card size (EMNIST has 47 classes), so then the most probable are shown.
const MAX_BARS: usize = 10;
const TITLE_SIZE: f64 = 15.0;
const LABEL_SIZE: f64 = 12.0;
const PAD: u32 = 12;
const BAR_LENGTH: u32 = 110;
const ROW_MIN: u32 = 15;
const CARD_IMAGE_SIDE: usize = 140;

/// Which classes get a bar, in the order drawn: all of them in class order
/// when few, else the most probable (always including the guess and the
/// expected class).
fn shown_classes(p: &Prediction) -> Vec<usize> {
    let n = p.probs.len();
    if n <= MAX_BARS {
        return (0..n).collect();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]).then(a.cmp(&b)));
    order.truncate(MAX_BARS);
    for must in [Some(p.guess), p.expected].into_iter().flatten() {
        if must < n && !order.contains(&must) {
            order.pop();
            order.push(must);
        }
    }
    order
}

/// Fixed geometry of a card for a given class list, so cards in one grid
/// line up.
struct CardLayout {
    scale: u32,
    image_w: u32,
    image_h: u32,
    name_w: u32,
    pct_w: u32,
    body_h: u32,
    width: u32,
    height: u32,
}

fn card_layout<S: AsRef<str>>(p: &Prediction, class_names: &[S]) -> CardLayout {
    let scale = (CARD_IMAGE_SIDE / p.rows.max(p.cols)).max(1) as u32;
    let image_w = p.cols as u32 * scale;
    let image_h = p.rows as u32 * scale;
    let name_w = (0..p.probs.len().max(class_names.len()))
        .map(|i| canvas::text_width(&class_name(class_names, i), LABEL_SIZE, false))
        .max()
        .unwrap_or(0);
    let pct_w = canvas::text_width("100%", LABEL_SIZE, false);
    let bars = p.probs.len().min(MAX_BARS) as u32;
    let body_h = image_h.max(bars * ROW_MIN);
    let bars_w = if bars == 0 {
        0
    } else {
        16 + name_w + 6 + BAR_LENGTH + 6 + pct_w
    };
    let (title, guess) = prediction_texts(p, class_names);
    let text_w = title
        .iter()
        .map(|t| canvas::text_width(t, TITLE_SIZE, true))
        .chain([canvas::text_width(&guess, TITLE_SIZE, true)])
        .max()
        .unwrap_or(0);
    CardLayout {
        scale,
        image_w,
        image_h,
        name_w,
        pct_w,
        body_h,
        width: 2 * PAD + (image_w + bars_w).max(text_w),
        height: 2 * PAD + 2 * (TITLE_SIZE as u32 + 8) + body_h,
    }
}

/// The tutorial's prediction figure for one image: titled "Expected: …",
/// the image, "Guess: … (p%)" under it, and a bar per class probability. A
/// right guess is blue; a wrong one has a red caption, red bar and red frame,
/// with the true class's bar in blue.
///
/// # Errors
/// If the picture would be larger than [`MAX_PICTURE_PIXELS`].
///
/// # Panics
/// If the pixel count is not `rows * cols`.
pub fn prediction_card<S: AsRef<str>>(p: &Prediction, class_names: &[S]) -> Result<RgbImage> {
    check_pixels(p.pixels, p.rows, p.cols);
    let l = card_layout(p, class_names);
    let mut img = blank(l.width, l.height)?;
    draw_card(&mut img, (0, 0), &l, p, class_names);
    Ok(img)
}

fn draw_card<S: AsRef<str>>(
    img: &mut RgbImage,
    (x0, y0): (u32, u32),
    l: &CardLayout,
    p: &Prediction,
    class_names: &[S],
) {
    let verdict = match p.expected {
        None => INK,
        Some(_) if p.is_wrong() => RED,
        Some(_) => BLUE,
    };
    let frame_color = if p.is_wrong() {
        RED
    } else {
        Rgb([210, 210, 210])
    };
    canvas::frame(
        img,
        x0 as i64 + 1,
        y0 as i64 + 1,
        l.width as i64 - 2,
        l.height as i64 - 2,
        frame_color,
    );
    let (title, guess) = prediction_texts(p, class_names);
    let left = (x0 + PAD) as i32;
    let mut y = y0 + PAD;
    if let Some(title) = title {
        canvas::text(
            img,
            &title,
            left,
            y as i32,
            TITLE_SIZE,
            true,
            INK,
            Align::Left,
        );
    }
    y += TITLE_SIZE as u32 + 8;
    let image_y = y + (l.body_h - l.image_h) / 2;
    canvas::blit_gray(
        img,
        p.pixels,
        (p.rows, p.cols),
        (x0 + PAD, image_y),
        l.scale,
    );
    let caption_y = y + l.body_h + 8;
    canvas::text(
        img,
        &guess,
        left,
        caption_y as i32,
        TITLE_SIZE,
        true,
        verdict,
        Align::Left,
    );

    let shown = shown_classes(p);
    if shown.is_empty() {
        return;
    }
    let row_h = l.body_h as f64 / shown.len() as f64;
    let names_right = (x0 + PAD + l.image_w + 16 + l.name_w) as i32;
    let bar_x = names_right as i64 + 6;
    for (row, &c) in shown.iter().enumerate() {
        let top = y as f64 + row as f64 * row_h;
        let prob = p.probs[c].clamp(0.0, 1.0);
        let color = if c == p.guess {
            verdict
        } else if Some(c) == p.expected {
            BLUE
        } else {
            GRAY
        };
        let text_top = (top + (row_h - LABEL_SIZE) / 2.0).round() as i32;
        let strong = c == p.guess || Some(c) == p.expected;
        let label_color = if strong { color } else { INK };
        let name = class_name(class_names, c);
        canvas::text(
            img,
            &name,
            names_right,
            text_top,
            LABEL_SIZE,
            strong,
            label_color,
            Align::Right,
        );
        let thickness = (row_h * 0.6).round().max(2.0) as i64;
        let bar_y = (top + (row_h - thickness as f64) / 2.0).round() as i64;
        canvas::fill(
            img,
            bar_x,
            bar_y,
            BAR_LENGTH as i64,
            thickness,
            Rgb([238, 238, 238]),
        );
        let filled = (prob as f64 * BAR_LENGTH as f64).round() as i64;
        canvas::fill(img, bar_x, bar_y, filled.max(1), thickness, color);
        let pct = format!("{:.0}%", prob * 100.0);
        let pct_right = (bar_x + BAR_LENGTH as i64 + 6) as i32 + l.pct_w as i32;
        canvas::text(
            img,
            &pct,
            pct_right,
            text_top,
            LABEL_SIZE,
            false,
            label_color,
            Align::Right,
        );
    }
}

/// Several prediction cards in a grid, `columns` per row (the tutorial shows
/// the first 10 test images; 5 columns make two rows).
///
/// # Errors
/// If the picture would be larger than [`MAX_PICTURE_PIXELS`].
///
/// # Panics
/// If a pixel count is not `rows * cols`.
pub fn prediction_grid<S: AsRef<str>>(
    predictions: &[Prediction],
    class_names: &[S],
    columns: usize,
) -> Result<RgbImage> {
    let columns = columns.max(1);
    let layouts: Vec<CardLayout> = predictions
        .iter()
        .map(|p| {
            check_pixels(p.pixels, p.rows, p.cols);
            card_layout(p, class_names)
        })
        .collect();
    let cell_w = layouts.iter().map(|l| l.width).max().unwrap_or(0);
    let cell_h = layouts.iter().map(|l| l.height).max().unwrap_or(0);
    let used_columns = columns.min(predictions.len()).max(1) as u32;
    let used_rows = predictions.len().div_ceil(columns).max(1) as u32;
    let width = 2 * MARGIN + used_columns * cell_w + (used_columns - 1) * GAP;
    let height = (2 * MARGIN as u64 + used_rows as u64 * (cell_h + GAP) as u64 - GAP as u64)
        .min(u32::MAX as u64) as u32;
    let mut img = blank(width, height)?;
    for (i, (p, mut l)) in predictions.iter().zip(layouts).enumerate() {
        // Same-size cards line up; the extra room goes to the bar area.
        l.width = cell_w;
        l.height = cell_h;
        l.body_h = cell_h - 2 * PAD - 2 * (TITLE_SIZE as u32 + 8);
        let x = MARGIN + (i % columns) as u32 * (cell_w + GAP);
        let y = MARGIN + (i / columns) as u32 * (cell_h + GAP);
        draw_card(&mut img, (x, y), &l, p, class_names);
    }
    Ok(img)
}

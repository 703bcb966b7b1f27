//! Terminal previews: images drawn with Unicode upper half blocks, two pixel
//! rows per text line ('▀' with the foreground as the upper pixel and the
//! background as the lower one), side by side with captions under them.

use std::fmt::Write as _;

use super::grid::{Prediction, prediction_texts};
use super::{Labeled, check_pixels};

/// How many colors the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit color escapes (`ESC[38;2;r;g;bm`): every gray level exact.
    TrueColor,
    /// The 256-color palette's gray ramp (`ESC[38;5;nm`): 26 levels, but
    /// understood by nearly every terminal.
    Ansi256,
}

impl ColorMode {
    /// The mode a `COLORTERM` value announces: `truecolor` or `24bit` mean
    /// 24-bit color; anything else (or nothing) gets the safe 256 colors.
    pub fn from_colorterm(value: Option<&str>) -> ColorMode {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("truecolor") || v.eq_ignore_ascii_case("24bit") => {
                ColorMode::TrueColor
            }
            _ => ColorMode::Ansi256,
        }
    }

    /// SGR parameters selecting gray level `v` as foreground or background.
    fn gray(self, v: u8, background: bool) -> String {
        let layer = if background { 48 } else { 38 };
        match self {
            ColorMode::TrueColor => format!("{layer};2;{v};{v};{v}"),
            ColorMode::Ansi256 => format!("{layer};5;{}", ansi256_gray(v)),
        }
    }
}

/// The mode this process's terminal supports, from the `COLORTERM`
/// environment variable (the convention terminals use to announce 24-bit color).
pub fn detect_color_mode() -> ColorMode {
    ColorMode::from_colorterm(std::env::var("COLORTERM").ok().as_deref())
}

/// The nearest entry for gray `v` among palette black (16), the gray ramp
/// 232..=255 (levels 8, 18, …, 238) and palette white (231).
fn ansi256_gray(v: u8) -> u8 {
    let candidates = std::iter::once((16u8, 0i32))
        .chain((0..24).map(|i| (232 + i as u8, 8 + 10 * i)))
        .chain(std::iter::once((231u8, 255i32)));
    candidates
        .min_by_key(|&(_, level)| (level - v as i32).abs())
        .map_or(16, |(code, _)| code)
}

/// One block to lay out: optional lines above, the image, lines below, each
/// line with an optional SGR color for the text.
struct Cell<'a> {
    pixels: &'a [u8],
    rows: usize,
    cols: usize,
    above: Vec<(String, Option<&'static str>)>,
    below: Vec<(String, Option<&'static str>)>,
}

/// Red text, for wrong guesses.
const SGR_RED: &str = "1;31";
/// Blue text, for right guesses (the tutorial's colors).
const SGR_BLUE: &str = "1;34";
/// Spaces between images side by side.
const SPACING: usize = 3;

/// Images as text for a terminal, `columns` per row of images, each with its
/// caption under it (a caption with `\n` takes several lines). Each image
/// takes `ceil(rows / 2)` lines; the caption lines follow; a blank line
/// separates rows of images.
///
/// # Panics
/// If an item's pixel count is not `rows * cols`.
pub fn terminal_preview(items: &[Labeled], columns: usize, color: ColorMode) -> String {
    let cells: Vec<Cell> = items
        .iter()
        .map(|it| Cell {
            pixels: it.pixels,
            rows: it.rows,
            cols: it.cols,
            above: Vec::new(),
            below: it.caption.lines().map(|l| (l.to_string(), None)).collect(),
        })
        .collect();
    render(&cells, columns, color)
}

/// Predictions as text for a terminal: "Expected: …" above each image,
/// "Guess: … (p%)" under it, in blue when right and red when wrong.
///
/// # Panics
/// If a pixel count is not `rows * cols`.
pub fn terminal_predictions<S: AsRef<str>>(
    predictions: &[Prediction],
    class_names: &[S],
    columns: usize,
    color: ColorMode,
) -> String {
    let cells: Vec<Cell> = predictions
        .iter()
        .map(|p| {
            let (title, guess) = prediction_texts(p, class_names);
            let verdict = match p.expected {
                None => None,
                Some(_) if p.is_wrong() => Some(SGR_RED),
                Some(_) => Some(SGR_BLUE),
            };
            Cell {
                pixels: p.pixels,
                rows: p.rows,
                cols: p.cols,
                above: title.into_iter().map(|t| (t, None)).collect(),
                below: vec![(guess, verdict)],
            }
        })
        .collect();
    render(&cells, columns, color)
}

/// How many images per row [`terminal_preview`] can put in a terminal
/// `width` characters wide without lines wrapping: at most `wanted`, at
/// least 1 (the tutorial's 5 columns need about 155 characters for 28×28).
pub fn terminal_columns(items: &[Labeled], wanted: usize, width: usize) -> usize {
    let cell = items
        .iter()
        .map(|it| {
            it.caption
                .lines()
                .map(|l| l.chars().count())
                .fold(it.cols, usize::max)
        })
        .max()
        .unwrap_or(0);
    // n cells and n - 1 gaps must fit: n·(cell + SPACING) ≤ width + SPACING.
    ((width + SPACING) / (cell + SPACING)).clamp(1, wanted.max(1))
}

fn render(cells: &[Cell], columns: usize, color: ColorMode) -> String {
    let columns = columns.max(1);
    let mut out = String::new();
    for (n, row) in cells.chunks(columns).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        for c in row {
            check_pixels(c.pixels, c.rows, c.cols);
        }
        let widths: Vec<usize> = row
            .iter()
            .map(|c| {
                c.above
                    .iter()
                    .chain(&c.below)
                    .map(|(t, _)| t.chars().count())
                    .fold(c.cols, usize::max)
            })
            .collect();
        let above = row.iter().map(|c| c.above.len()).max().unwrap_or(0);
        let image_lines = row.iter().map(|c| c.rows.div_ceil(2)).max().unwrap_or(0);
        let below = row.iter().map(|c| c.below.len()).max().unwrap_or(0);
        for line in 0..above {
            let texts = row.iter().map(|c| c.above.get(line));
            text_line(&mut out, texts, &widths);
        }
        for line in 0..image_lines {
            let mut pending = 0;
            for (c, &w) in row.iter().zip(&widths) {
                let pad = (w - c.cols) / 2;
                out.extend(std::iter::repeat_n(' ', pending + pad));
                if 2 * line < c.rows {
                    image_line(&mut out, c, 2 * line, color);
                } else {
                    out.extend(std::iter::repeat_n(' ', c.cols));
                }
                pending = w - c.cols - pad + SPACING;
            }
            out.push('\n');
        }
        for line in 0..below {
            let texts = row.iter().map(|c| c.below.get(line));
            text_line(&mut out, texts, &widths);
        }
    }
    out
}

/// One line of text per cell, each centered in its cell's width, with no
/// trailing spaces.
fn text_line<'a>(
    out: &mut String,
    texts: impl Iterator<Item = Option<&'a (String, Option<&'static str>)>>,
    widths: &[usize],
) {
    let mut pending = 0;
    for (t, &w) in texts.zip(widths) {
        let (text, sgr) = t.map_or(("", None), |(s, c)| (s.as_str(), *c));
        let len = text.chars().count();
        let pad = (w - len) / 2;
        if len > 0 {
            out.extend(std::iter::repeat_n(' ', pending + pad));
            match sgr {
                Some(sgr) => {
                    let _ = write!(out, "\x1b[{sgr}m{text}\x1b[0m");
                }
                None => out.push_str(text),
            }
            pending = w - len - pad + SPACING;
        } else {
            pending += w + SPACING;
        }
    }
    out.push('\n');
}

/// Pixel rows `top` and `top + 1` of a cell as one line of half blocks.
/// Colors are emitted only when they change along the line, and the line ends
/// with a reset so the next text is not colored.
fn image_line(out: &mut String, c: &Cell, top: usize, color: ColorMode) {
    let mut fg = None;
    let mut bg = None;
    for x in 0..c.cols {
        let upper = c.pixels[top * c.cols + x];
        let lower = (top + 1 < c.rows).then(|| c.pixels[(top + 1) * c.cols + x]);
        let mut sgr = Vec::new();
        if fg != Some(upper) {
            sgr.push(color.gray(upper, false));
            fg = Some(upper);
        }
        if bg != Some(lower) {
            // An odd last pixel row leaves the lower half in the terminal's
            // own background (49 = default).
            sgr.push(lower.map_or_else(|| "49".to_string(), |v| color.gray(v, true)));
            bg = Some(lower);
        }
        if !sgr.is_empty() {
            let _ = write!(out, "\x1b[{}m", sgr.join(";"));
        }
        out.push('▀');
    }
    out.push_str("\x1b[0m");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_ramp_ends_and_middle() {
        assert_eq!(ansi256_gray(0), 16);
        assert_eq!(ansi256_gray(255), 231);
        assert_eq!(ansi256_gray(8), 232);
        assert_eq!(ansi256_gray(238), 255);
        assert_eq!(ansi256_gray(128), 244);
    }

    #[test]
    fn colorterm_values() {
        assert_eq!(
            ColorMode::from_colorterm(Some("truecolor")),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::from_colorterm(Some("24bit")),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::from_colorterm(Some("yes")), ColorMode::Ansi256);
        assert_eq!(ColorMode::from_colorterm(None), ColorMode::Ansi256);
    }
}

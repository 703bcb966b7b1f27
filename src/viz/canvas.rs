//! Drawing primitives shared by the pictures: the bundled font, text,
//! rectangles and upscaled grayscale images on an [`RgbImage`].

use std::sync::{Once, OnceLock};

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use plotters::style::FontStyle;

/// Page background.
pub(super) const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
/// Ordinary text.
pub(super) const INK: Rgb<u8> = Rgb([30, 30, 30]);
/// Secondary text and frames.
pub(super) const GRAY: Rgb<u8> = Rgb([150, 150, 150]);
/// Right answers (the tutorial's blue).
pub(super) const BLUE: Rgb<u8> = Rgb([31, 119, 180]);
/// Wrong answers (the tutorial's red).
pub(super) const RED: Rgb<u8> = Rgb([214, 39, 40]);

/// Registers DejaVu Sans as plotters' "sans-serif" once per process, for the
/// charts. With the `ab_glyph` feature plotters knows no fonts of its own;
/// the compiled-in font makes text independent of what the machine has.
pub(super) fn ensure_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let regular = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let bold =
            plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
        // The bytes are a valid TTF shipped by the `dejavu` crate; a failure
        // is a packaging bug that every drawing test would catch.
        assert!(
            regular.is_ok() && bold.is_ok(),
            "bundled DejaVu font failed to load"
        );
    });
}

/// The bundled DejaVu Sans, regular or bold, parsed once.
fn face(bold: bool) -> &'static FontRef<'static> {
    static REGULAR: OnceLock<FontRef<'static>> = OnceLock::new();
    static BOLD: OnceLock<FontRef<'static>> = OnceLock::new();
    let (cell, bytes) = if bold {
        (&BOLD, dejavu::sans::bold())
    } else {
        (&REGULAR, dejavu::sans::regular())
    };
    cell.get_or_init(|| {
        FontRef::try_from_slice(bytes).expect("bundled DejaVu font failed to parse")
    })
}

/// Glyphs of one line laid out with kerning: positions relative to the line
/// box's top-left corner (baseline at the ascent), and the total advance.
fn layout(s: &str, size: f64, bold: bool) -> (Vec<Glyph>, f32) {
    let font = face(bold).as_scaled(PxScale::from(size as f32));
    let mut glyphs = Vec::with_capacity(s.len());
    let mut caret = 0.0f32;
    let mut prev = None;
    for c in s.chars() {
        let id = font.glyph_id(c);
        if let Some(prev) = prev {
            caret += font.kern(prev, id);
        }
        glyphs.push(id.with_scale_and_position(font.scale(), point(caret, font.ascent())));
        caret += font.h_advance(id);
        prev = Some(id);
    }
    (glyphs, caret)
}

/// Width in pixels of `text` at `size` pixels (ascent to descent).
pub(super) fn text_width(text: &str, size: f64, bold: bool) -> u32 {
    layout(text, size, bold).1.ceil() as u32
}

/// Where a line of text sits relative to the given position, along the text.
#[derive(Clone, Copy)]
pub(super) enum Align {
    Left,
    Center,
    Right,
}

/// Draws one line of text whose line box (ascent to descent, `size` pixels
/// tall) starts at `top`, anti-aliased over what is already there.
#[allow(clippy::too_many_arguments)]
pub(super) fn text(
    img: &mut RgbImage,
    s: &str,
    x: i32,
    top: i32,
    size: f64,
    bold: bool,
    color: Rgb<u8>,
    align: Align,
) {
    text_rotated(img, s, (x, top), size, bold, color, align, false);
}

/// [`text`], optionally turned to read bottom-to-top (for axis labels). Then
/// the line box's left edge is at `pos.0`, and `align` runs along the text
/// upwards from `pos.1`: `Right` ends the text at `pos.1`, so it extends
/// downwards from there.
#[allow(clippy::too_many_arguments)]
pub(super) fn text_rotated(
    img: &mut RgbImage,
    s: &str,
    pos: (i32, i32),
    size: f64,
    bold: bool,
    color: Rgb<u8>,
    align: Align,
    vertical: bool,
) {
    let (glyphs, width) = layout(s, size, bold);
    let offset = match align {
        Align::Left => 0.0,
        Align::Center => -width / 2.0,
        Align::Right => -width,
    };
    let font = face(bold);
    for glyph in glyphs {
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            // (u, v): along the line and down from its top.
            let u = (bounds.min.x + offset).round() as i32 + gx as i32;
            let v = bounds.min.y.round() as i32 + gy as i32;
            let (x, y) = if vertical {
                (pos.0 + v, pos.1 - u)
            } else {
                (pos.0 + u, pos.1 + v)
            };
            blend(img, x, y, color, coverage);
        });
    }
}

/// Mixes `color` into the pixel at `(x, y)` with weight `alpha`; off-image
/// pixels are skipped.
fn blend(img: &mut RgbImage, x: i32, y: i32, color: Rgb<u8>, alpha: f32) {
    if x < 0 || y < 0 || x >= img.width() as i32 || y >= img.height() as i32 {
        return;
    }
    let a = alpha.clamp(0.0, 1.0);
    let px = img.get_pixel_mut(x as u32, y as u32);
    for (dst, src) in px.0.iter_mut().zip(color.0) {
        *dst = (*dst as f32 * (1.0 - a) + src as f32 * a).round() as u8;
    }
}

/// Fills the rectangle `[x, x + w) × [y, y + h)`, clipped to the image.
pub(super) fn fill(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, color: Rgb<u8>) {
    let x0 = x.clamp(0, img.width() as i64) as u32;
    let y0 = y.clamp(0, img.height() as i64) as u32;
    let x1 = (x + w).clamp(0, img.width() as i64) as u32;
    let y1 = (y + h).clamp(0, img.height() as i64) as u32;
    for yy in y0..y1 {
        for xx in x0..x1 {
            img.put_pixel(xx, yy, color);
        }
    }
}

/// Draws a one-pixel frame just outside the rectangle at `(x, y)` of size `w × h`.
pub(super) fn frame(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, color: Rgb<u8>) {
    fill(img, x - 1, y - 1, w + 2, 1, color);
    fill(img, x - 1, y + h, w + 2, 1, color);
    fill(img, x - 1, y, 1, h, color);
    fill(img, x + w, y, 1, h, color);
}

/// Copies a grayscale image into `img` at `(x, y)`, each pixel as a
/// `scale × scale` square (nearest neighbour, so pixel values stay exact).
pub(super) fn blit_gray(
    img: &mut RgbImage,
    pixels: &[u8],
    (rows, cols): (usize, usize),
    (x, y): (u32, u32),
    scale: u32,
) {
    for r in 0..rows {
        for c in 0..cols {
            let v = pixels[r * cols + c];
            fill(
                img,
                (x + c as u32 * scale) as i64,
                (y + r as u32 * scale) as i64,
                scale as i64,
                scale as i64,
                Rgb([v, v, v]),
            );
        }
    }
}

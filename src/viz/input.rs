//! A user's own picture (`fastnn predict --image FILE`) made to look like an
//! MNIST digit: light ink on black, the ink fitted into 20×20 and placed in
//! 28×28 by its center of mass, as LeCun et al. prepared the originals. A
//! network trained on MNIST only recognizes digits presented that way.

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageReader};

use crate::files::read_bounded;
use crate::limits::{MAX_USER_IMAGE_ALLOC, MAX_USER_IMAGE_BYTES, MAX_USER_IMAGE_SIDE};
use crate::{Error, Result};

/// Side of the output image.
const SIDE: u32 = 28;
/// The ink is scaled to fit a box this large, leaving a 4-pixel border.
const BOX: u32 = 20;
/// Pixels this much brighter than the background (of 255, after
/// stretching) count as ink; lower ones are paper texture or JPEG noise.
const INK_THRESHOLD: u8 = 40;
/// A picture whose ink is this close to its background is blank.
const MIN_CONTRAST: i32 = 48;

/// Loads a PNG or JPEG and turns it into a 28×28 MNIST-style image (row-major,
/// 0 = background). Returns the pixels and one note per step taken, for the
/// CLI to print ("inverted a light background", "cropped to 143×201 ink box",
/// ...).
///
/// Steps: transparent parts are put on white; the image goes to grayscale; a
/// light background (decided from the median of the border pixels) is
/// inverted; the background level is subtracted and contrast stretched; the
/// image is cropped to the ink's bounding box, scaled (keeping the aspect
/// ratio) so the longer side is 20 pixels, and placed in 28×28 so that its
/// center of mass is at the center.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Invalid`] if it is not a
/// regular file, not a decodable PNG or JPEG within fastnn's limits
/// ([`MAX_USER_IMAGE_BYTES`] of file, [`MAX_USER_IMAGE_SIDE`] pixels on a
/// side, [`MAX_USER_IMAGE_ALLOC`] bytes to decode), or shows no ink.
pub fn prepare_user_image(path: impl AsRef<Path>) -> Result<(Vec<u8>, Vec<String>)> {
    let path = path.as_ref();
    let bytes = read_bounded(path, MAX_USER_IMAGE_BYTES, "an image")?;
    prepare_image_bytes(&bytes).map_err(|problem| Error::invalid(path, problem))
}

/// [`prepare_user_image`] on a file's bytes already in memory; `Err` says
/// what is wrong, without the file name. Also the body of the `image_input`
/// fuzz target.
pub fn prepare_image_bytes(bytes: &[u8]) -> std::result::Result<(Vec<u8>, Vec<String>), String> {
    let limits = || {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_USER_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_USER_IMAGE_SIDE);
        limits.max_alloc = Some(MAX_USER_IMAGE_ALLOC);
        limits
    };
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot read it: {e}"))
    };
    let unreadable = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => format!(
            "is larger than fastnn decodes (at most {MAX_USER_IMAGE_SIDE} pixels on a side and \
             {MAX_USER_IMAGE_ALLOC} bytes decoded, limits of fastnn)"
        ),
        // The decoders' messages may span lines (the JPEG decoder's end in
        // a newline); fastnn's errors are one line.
        e => format!(
            "not a readable PNG or JPEG image ({})",
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    // The header's size first (reading it allocates nothing): nothing is
    // decoded from a picture too large.
    let (w, h) = reader()?.into_dimensions().map_err(unreadable)?;
    if w > MAX_USER_IMAGE_SIDE || h > MAX_USER_IMAGE_SIDE || w == 0 || h == 0 {
        return Err(format!(
            "is {w}×{h} pixels; fastnn takes 1 to {MAX_USER_IMAGE_SIDE} on a side (a limit of fastnn)"
        ));
    }
    let mut decoder = reader()?;
    decoder.limits(limits());
    let decoded = decoder.decode().map_err(unreadable)?;
    let mut notes = vec![format!(
        "read a {}×{} image",
        decoded.width(),
        decoded.height()
    )];
    let rgba = decoded.to_luma_alpha8();
    drop(decoded);
    if rgba.pixels().any(|p| p.0[1] < 255) {
        notes.push("put transparent parts on white".to_string());
    }
    let (w, h) = rgba.dimensions();
    let gray = GrayImage::from_fn(w, h, |x, y| {
        let [l, a] = rgba.get_pixel(x, y).0;
        let (l, a) = (l as u32, a as u32);
        image::Luma([((l * a + 255 * (255 - a) + 127) / 255) as u8])
    });
    drop(rgba);
    let (pixels, more) = prepare_gray(&gray)?;
    notes.extend(more);
    Ok((pixels, notes))
}

/// Fuzz body (`fuzz/fuzz_targets/image_input.rs`, replayed by the tests):
/// any bytes give a 28×28 image with a note per step, or a one-line reason.
///
/// # Panics
/// When an invariant breaks, which is the point.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    match prepare_image_bytes(data) {
        Ok((pixels, notes)) => {
            assert_eq!(pixels.len(), (SIDE * SIDE) as usize);
            assert!(notes.len() >= 3, "{notes:?}");
        }
        Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "{e:?}"),
    }
}

/// The steps after decoding, on a grayscale image; `Err` says why the
/// picture cannot be used.
fn prepare_gray(gray: &GrayImage) -> std::result::Result<(Vec<u8>, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut img = gray.clone();
    let border = border_median(&img);
    let background = if border > 127 {
        imageops::invert(&mut img);
        notes.push(format!(
            "inverted a light background (border gray level {border})"
        ));
        255 - border
    } else {
        border
    };
    let peak = img.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    if (peak as i32) - (background as i32) < MIN_CONTRAST {
        return Err("no ink found: the picture is blank or has too little contrast".to_string());
    }
    // Paper is rarely pure white nor ink pure black: map background → 0 and
    // the darkest ink → 255, so the digit looks like MNIST's.
    let span = (peak - background) as u32;
    for p in img.pixels_mut() {
        let v = p.0[0].saturating_sub(background) as u32 * 255 / span;
        p.0[0] = if v < INK_THRESHOLD as u32 { 0 } else { v as u8 };
    }
    if background > 0 || peak < 255 {
        notes.push(format!(
            "stretched contrast (background {background} → 0, ink {peak} → 255)"
        ));
    }
    let (x0, y0, x1, y1) = ink_box(&img).ok_or("no ink found after removing the background")?;
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let cropped = imageops::crop_imm(&img, x0, y0, bw, bh).to_image();
    notes.push(format!("cropped to {bw}×{bh} ink box at ({x0}, {y0})"));
    let (sw, sh) = if bw >= bh {
        (BOX, ((bh * BOX) as f64 / bw as f64).round().max(1.0) as u32)
    } else {
        (((bw * BOX) as f64 / bh as f64).round().max(1.0) as u32, BOX)
    };
    // Triangle filtering widens with the shrink factor, so strokes are
    // averaged (anti-aliased, as MNIST's were), not sampled.
    let scaled = imageops::resize(&cropped, sw, sh, FilterType::Triangle);
    notes.push(format!("scaled to {sw}×{sh}"));
    let (cx, cy) = center_of_mass(&scaled);
    // Pixel centers are at i + 0.5, so the 28×28 image's center is 14.0.
    let place = |com: f64, size: u32| -> i64 {
        let offset = (SIDE as f64 / 2.0 - (com + 0.5)).round() as i64;
        offset.clamp(0, (SIDE - size) as i64)
    };
    let (ox, oy) = (place(cx, sw), place(cy, sh));
    let mut out = GrayImage::new(SIDE, SIDE);
    imageops::replace(&mut out, &scaled, ox, oy);
    notes.push(format!(
        "placed at ({ox}, {oy}) in 28×28 to center the center of mass"
    ));
    Ok((out.into_raw(), notes))
}

/// Median gray level of the outermost pixels: the background, even when
/// some strokes touch the edge.
fn border_median(img: &GrayImage) -> u8 {
    let (w, h) = img.dimensions();
    let mut border: Vec<u8> = Vec::with_capacity(2 * (w + h) as usize);
    for x in 0..w {
        border.push(img.get_pixel(x, 0).0[0]);
        border.push(img.get_pixel(x, h - 1).0[0]);
    }
    for y in 0..h {
        border.push(img.get_pixel(0, y).0[0]);
        border.push(img.get_pixel(w - 1, y).0[0]);
    }
    border.sort_unstable();
    border[border.len() / 2]
}

/// Inclusive bounding box `(x0, y0, x1, y1)` of the nonzero pixels.
fn ink_box(img: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let mut bbox: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[0] > 0 {
            bbox = Some(match bbox {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    bbox
}

/// Intensity-weighted mean pixel index `(x, y)`; the geometric center if
/// the image is black.
pub(super) fn center_of_mass(img: &GrayImage) -> (f64, f64) {
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y, p) in img.enumerate_pixels() {
        let v = p.0[0] as f64;
        sum += v;
        sx += v * x as f64;
        sy += v * y as f64;
    }
    if sum == 0.0 {
        let (w, h) = img.dimensions();
        return ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    }
    (sx / sum, sy / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_picture_is_rejected() {
        let img = GrayImage::from_pixel(50, 40, image::Luma([250]));
        assert!(prepare_gray(&img).unwrap_err().contains("no ink"));
    }

    #[test]
    fn dark_background_is_not_inverted() {
        let mut img = GrayImage::new(60, 60);
        for y in 10..50 {
            for x in 25..31 {
                img.put_pixel(x, y, image::Luma([255]));
            }
        }
        let (px, notes) = prepare_gray(&img).unwrap();
        assert!(!notes.iter().any(|n| n.contains("inverted")));
        assert_eq!(px.len(), 28 * 28);
        // A vertical bar: 20 rows tall, centered.
        let rows_with_ink = (0..28).filter(|r| px[r * 28..r * 28 + 28].iter().any(|&v| v > 0));
        assert_eq!(rows_with_ink.count(), 20);
    }
}

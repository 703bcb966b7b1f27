//! Pictures and terminal previews: sizes, pixel placement, escape codes, and
//! the preparation of a user's own image.

use fastnn::Error;
use fastnn::viz::{
    ColorMode, EpochPoint, Labeled, Prediction, confusion_matrix_png, grid_layout, image_grid,
    prediction_card, prediction_grid, prepare_user_image, save_png, terminal_columns,
    terminal_predictions, terminal_preview, training_curves,
};
use image::{Rgb, RgbImage};

const NAMES: [&str; 10] = fastnn::FASHION_CLASSES;

/// A 28×28 image whose every pixel differs from its neighbours and from
/// the other images' (for `k` < 5).
fn pattern(k: usize) -> Vec<u8> {
    (0..28 * 28)
        .map(|i| ((i * 7 + k * 51) % 256) as u8)
        .collect()
}

fn saved_and_decoded(img: &RgbImage, dir: &tempfile::TempDir, name: &str) -> RgbImage {
    let path = dir.path().join(name);
    save_png(img, &path).unwrap();
    image::open(&path).unwrap().to_rgb8()
}

#[test]
fn grid_places_upscaled_pixels_exactly() {
    let images: Vec<Vec<u8>> = (0..3).map(pattern).collect();
    let items: Vec<Labeled> = images
        .iter()
        .enumerate()
        .map(|(k, px)| Labeled::new(px, 28, 28, NAMES[k]))
        .collect();
    let layout = grid_layout(&items, 2);
    // 28 pixels upscaled 4× to 112; a 16-pixel margin, 14-pixel gaps, and
    // 6 + 15 pixels of caption under each image.
    assert_eq!(layout.scale, 4);
    assert_eq!(
        (layout.width, layout.height),
        (16 + 112 + 14 + 112 + 16, 16 + 133 + 14 + 133 + 16)
    );
    assert_eq!(layout.image_origin(0), (16, 16));
    assert_eq!(layout.image_origin(1), (16 + 112 + 14, 16));
    assert_eq!(layout.image_origin(2), (16, 16 + 133 + 14));

    let dir = tempfile::tempdir().unwrap();
    let png = saved_and_decoded(&image_grid(&items, 2).unwrap(), &dir, "grid.png");
    assert_eq!(png.dimensions(), (layout.width, layout.height));
    for (k, px) in images.iter().enumerate() {
        let (x0, y0) = layout.image_origin(k);
        for r in 0..28u32 {
            for c in 0..28u32 {
                let v = px[(r * 28 + c) as usize];
                for (dx, dy) in [(0, 0), (3, 0), (0, 3), (3, 3)] {
                    let got = png.get_pixel(x0 + 4 * c + dx, y0 + 4 * r + dy);
                    assert_eq!(*got, Rgb([v, v, v]), "image {k} pixel ({r}, {c})");
                }
            }
        }
    }
    // The caption is drawn (dark text) in the band under the first image.
    let caption_band = (16 + 112..16 + 133).flat_map(|y| (16..16 + 112).map(move |x| (x, y)));
    assert!(
        caption_band
            .into_iter()
            .any(|(x, y)| png.get_pixel(x, y).0[0] < 100)
    );
}

#[test]
fn wide_captions_widen_cells_and_center_images() {
    let px = pattern(0);
    let items = [Labeled::new(
        &px,
        28,
        28,
        "a caption far wider than the image is",
    )];
    let layout = grid_layout(&items, 5);
    assert!(layout.cell_width > layout.image_width);
    let (x, y) = layout.image_origin(0);
    assert_eq!(x, 16 + (layout.cell_width - layout.image_width) / 2);
    assert_eq!(y, 16);
    let img = image_grid(&items, 5).unwrap();
    assert_eq!(img.width(), 2 * 16 + layout.cell_width);
    assert_eq!(*img.get_pixel(x + 5, y + 5), Rgb([px[29], px[29], px[29]]));
}

#[test]
fn small_images_are_upscaled_more() {
    let px = vec![200u8; 8 * 8];
    let items = [Labeled::new(&px, 8, 8, "x")];
    assert_eq!(grid_layout(&items, 1).scale, 14);
}

fn prediction<'a>(px: &'a [u8], probs: &'a [f32], expected: usize, guess: usize) -> Prediction<'a> {
    Prediction {
        pixels: px,
        rows: 28,
        cols: 28,
        expected: Some(expected),
        guess,
        probs,
    }
}

const RED: Rgb<u8> = Rgb([214, 39, 40]);
const BLUE: Rgb<u8> = Rgb([31, 119, 180]);

#[test]
fn prediction_cards_mark_wrong_guesses_red() {
    let px = pattern(1);
    let mut probs = vec![0.02f32; 10];
    probs[9] = 0.82;
    let right = prediction_card(&prediction(&px, &probs, 9, 9), &NAMES).unwrap();
    let wrong = prediction_card(&prediction(&px, &probs, 5, 9), &NAMES).unwrap();
    assert!(right.pixels().any(|p| *p == BLUE));
    assert!(!right.pixels().any(|p| *p == RED));
    assert!(wrong.pixels().any(|p| *p == RED));
    // The true class's bar stays blue on a wrong card.
    assert!(wrong.pixels().any(|p| *p == BLUE));

    let dir = tempfile::tempdir().unwrap();
    let png = saved_and_decoded(&wrong, &dir, "card.png");
    assert_eq!(png.dimensions(), wrong.dimensions());
    // The image is on the card at 5× scale: some 5×5 block equals pixel (0, 0)'s
    // value and the next block pixel (0, 1)'s.
    let (a, b) = (px[0], px[1]);
    let found = (0..png.height() - 5).any(|y| {
        (0..png.width() - 10).any(|x| {
            *png.get_pixel(x, y) == Rgb([a, a, a])
                && *png.get_pixel(x + 4, y + 4) == Rgb([a, a, a])
                && *png.get_pixel(x + 5, y) == Rgb([b, b, b])
                && *png.get_pixel(x + 9, y + 4) == Rgb([b, b, b])
        })
    });
    assert!(found);
}

#[test]
fn prediction_grid_lays_out_equal_cards() {
    let px = pattern(2);
    let mut probs = vec![0.05f32; 10];
    probs[3] = 0.55;
    let preds: Vec<Prediction> = (0..10).map(|_| prediction(&px, &probs, 3, 3)).collect();
    let card = prediction_card(&preds[0], &NAMES).unwrap();
    let grid = prediction_grid(&preds, &NAMES, 5).unwrap();
    assert_eq!(grid.width(), 2 * 16 + 5 * card.width() + 4 * 14);
    assert_eq!(grid.height(), 2 * 16 + 2 * card.height() + 14);
}

#[test]
fn many_classes_show_the_most_probable_bars() {
    let px = pattern(3);
    let names: Vec<String> = (0..47).map(|i| format!("class {i}")).collect();
    let mut probs = vec![0.01f32; 47];
    probs[40] = 0.5;
    let card = prediction_card(&prediction(&px, &probs, 2, 40), &names).unwrap();
    // The card keeps the height of ten bars, not 47.
    let ten = prediction_card(&prediction(&px, &probs[..10], 2, 4), &names[..10]).unwrap();
    assert_eq!(card.height(), ten.height());
}

#[test]
fn terminal_preview_draws_half_blocks_with_exact_colors() {
    let a = [10u8, 20, 30, 40, 50, 60]; // 3 rows × 2 columns
    let b = [255u8; 6];
    let items = [Labeled::new(&a, 3, 2, "A"), Labeled::new(&b, 3, 2, "B")];
    let text = terminal_preview(&items, 2, ColorMode::TrueColor);
    let lines: Vec<&str> = text.lines().collect();
    // ceil(3 / 2) image lines, then the caption line.
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with(
        "\x1b[38;2;10;10;10;48;2;30;30;30m▀\x1b[38;2;20;20;20;48;2;40;40;40m▀\x1b[0m"
    ));
    // The odd last row: upper half only, the lower half left to the terminal.
    assert!(lines[1].starts_with("\x1b[38;2;50;50;50;49m▀\x1b[38;2;60;60;60m▀\x1b[0m"));
    // Identical neighbours share one escape sequence.
    assert!(lines[0].ends_with("   \x1b[38;2;255;255;255;48;2;255;255;255m▀▀\x1b[0m"));
    assert_eq!(lines[2], "A    B");

    let text = terminal_preview(&items, 2, ColorMode::Ansi256);
    assert!(text.starts_with("\x1b[38;5;232;48;5;234m▀"));
    assert!(!text.contains("38;2;"));
    assert!(text.contains("\x1b[38;5;231;48;5;231m▀▀"));
}

#[test]
fn terminal_preview_wraps_rows_of_images() {
    let px = pattern(0);
    let items: Vec<Labeled> = (0..7)
        .map(|k| Labeled::new(&px, 28, 28, NAMES[k]))
        .collect();
    let text = terminal_preview(&items, 5, ColorMode::Ansi256);
    // Two rows of (14 image lines + 1 caption line), with a blank line between.
    assert_eq!(text.lines().count(), 2 * 15 + 1);
    assert_eq!(text.matches('▀').count(), 7 * 28 * 14);
    let captions = text.lines().nth(14).unwrap();
    assert!(captions.trim_start().starts_with("T-shirt/top") && captions.ends_with("Coat"));
}

#[test]
fn terminal_columns_fit_the_width() {
    let px = pattern(0);
    let items: Vec<Labeled> = (0..25)
        .map(|k| Labeled::new(&px, 28, 28, NAMES[k % 10]))
        .collect();
    // Each cell is 28 characters plus 3 between cells.
    assert_eq!(terminal_columns(&items, 5, 80), 2);
    assert_eq!(terminal_columns(&items, 5, 28 * 5 + 3 * 4), 5);
    assert_eq!(terminal_columns(&items, 5, 28 * 5 + 3 * 4 - 1), 4);
    assert_eq!(terminal_columns(&items, 5, 10), 1);
    let widest = terminal_preview(&items, 5, ColorMode::Ansi256)
        .lines()
        .map(visible_width)
        .max();
    assert_eq!(widest, Some(28 * 5 + 3 * 4));
}

/// Characters a terminal shows for `line`: all but the SGR escape sequences.
fn visible_width(line: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, _) => n += 1,
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    n
}

#[test]
fn terminal_predictions_title_and_color_the_guess() {
    let px = pattern(4);
    let mut probs = vec![0.0f32; 10];
    probs[7] = 1.0;
    let preds = [prediction(&px, &probs, 7, 7), prediction(&px, &probs, 5, 7)];
    let text = terminal_predictions(&preds, &NAMES, 5, ColorMode::TrueColor);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 14 + 1);
    assert!(lines[0].contains("Expected: Sneaker") && lines[0].contains("Expected: Sandal"));
    assert!(lines[15].contains("\x1b[1;34mGuess: Sneaker (100%)\x1b[0m"));
    assert!(lines[15].contains("\x1b[1;31mGuess: Sneaker (100%)\x1b[0m"));
}

#[test]
fn training_curves_and_confusion_matrix_are_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let epochs: Vec<EpochPoint> = (1..=3)
        .map(|e| EpochPoint {
            epoch: e,
            train_loss: 0.6 / e as f64,
            train_acc: 0.8 + 0.03 * e as f64,
            val_loss: (e != 2).then_some(0.7 / e as f64),
            val_acc: (e != 2).then_some(0.79 + 0.02 * e as f64),
        })
        .collect();
    let curves = dir.path().join("curves.png");
    training_curves(&epochs, &curves).unwrap();
    assert_eq!(
        image::open(&curves).unwrap().to_rgb8().dimensions(),
        (1100, 440)
    );
    // One epoch still gives a valid (non-degenerate) chart.
    training_curves(&epochs[..1], &curves).unwrap();
    assert!(matches!(
        training_curves(&[], &curves),
        Err(Error::Config(_))
    ));

    let mut counts = vec![1u32; 100];
    for i in 0..10 {
        counts[i * 10 + i] = 900;
    }
    let cm = dir.path().join("cm.png");
    confusion_matrix_png(&counts, &NAMES, &cm).unwrap();
    let img = image::open(&cm).unwrap().to_rgb8();
    assert!(img.width() > 10 * 40 && img.height() > 10 * 40);
    assert!(matches!(
        confusion_matrix_png(&counts[..99], &NAMES, &cm),
        Err(Error::Config(_))
    ));
}

#[test]
fn save_png_reports_the_path_and_replaces_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("x.png");
    let err = save_png(&RgbImage::new(4, 4), &missing).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    assert!(err.to_string().contains("x.png"), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    let path = dir.path().join("y.png");
    std::fs::write(&path, b"old").unwrap();
    save_png(&RgbImage::from_pixel(5, 3, Rgb([1, 2, 3])), &path).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back.dimensions(), (5, 3));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A "7" in dark ink on white paper, thick strokes, drawn off-center in the
/// lower right of a 300×200 picture.
fn drawn_seven() -> RgbImage {
    let mut img = RgbImage::from_pixel(300, 200, Rgb([245, 243, 240]));
    let mut dot = |x: i32, y: i32| {
        for dy in -6..=6 {
            for dx in -6..=6 {
                if dx * dx + dy * dy <= 36 {
                    img.put_pixel((x + dx) as u32, (y + dy) as u32, Rgb([20, 25, 30]));
                }
            }
        }
    };
    for x in 180..=260 {
        dot(x, 90); // the top bar
    }
    for t in 0..=80 {
        dot(260 - t * 45 / 80, 90 + t); // the diagonal down to the left
    }
    img
}

fn center_of_mass(px: &[u8]) -> (f64, f64) {
    let (mut s, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, &v) in px.iter().enumerate() {
        let v = v as f64;
        s += v;
        sx += v * ((i % 28) as f64 + 0.5);
        sy += v * ((i / 28) as f64 + 0.5);
    }
    (sx / s, sy / s)
}

fn check_prepared(px: &[u8]) {
    assert_eq!(px.len(), 28 * 28);
    let (cx, cy) = center_of_mass(px);
    assert!(
        (cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0,
        "center of mass ({cx}, {cy})"
    );
    let ink: Vec<(usize, usize)> = (0..784)
        .filter(|&i| px[i] > 0)
        .map(|i| (i % 28, i / 28))
        .collect();
    let (x0, x1) = (
        ink.iter().map(|p| p.0).min().unwrap(),
        ink.iter().map(|p| p.0).max().unwrap(),
    );
    let (y0, y1) = (
        ink.iter().map(|p| p.1).min().unwrap(),
        ink.iter().map(|p| p.1).max().unwrap(),
    );
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    assert!(w <= 20 && h <= 20, "ink box {w}×{h}");
    assert!(w.max(h) >= 19, "ink box {w}×{h} should fill 20 pixels");
    // Ink is light on black, as in MNIST.
    assert_eq!(px[0], 0);
    assert!(px.iter().any(|&v| v > 200));
}

#[test]
fn prepare_user_image_centers_a_drawn_digit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seven.png");
    drawn_seven().save(&path).unwrap();
    let (px, notes) = prepare_user_image(&path).unwrap();
    check_prepared(&px);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("inverted a light background")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("cropped to ")),
        "{notes:?}"
    );
}

#[test]
fn prepare_user_image_reads_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seven.jpg");
    drawn_seven().save(&path).unwrap();
    let (px, _) = prepare_user_image(&path).unwrap();
    check_prepared(&px);
}

#[test]
fn prepare_user_image_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let err = prepare_user_image(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("missing.png"));

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "this is not an image\n").unwrap();
    let err = prepare_user_image(&text).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("notes.png") && msg.contains("not a readable PNG or JPEG"),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1);

    let blank = dir.path().join("blank.png");
    RgbImage::from_pixel(40, 40, Rgb([255, 255, 255]))
        .save(&blank)
        .unwrap();
    let msg = prepare_user_image(&blank).unwrap_err().to_string();
    assert!(msg.contains("blank.png") && msg.contains("no ink"), "{msg}");
}

#[test]
fn image_fuzz_seeds_replay() {
    let inputs = crate::util::fuzz_inputs("image_input");
    assert!(inputs.len() >= 4, "seed corpus present");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| fastnn::viz::fuzz_image(&bytes));
        assert!(result.is_ok(), "{}", path.display());
    }
    let bar = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/image_input/bar_20x20.png"),
    )
    .unwrap();
    let (pixels, _) = fastnn::viz::prepare_image_bytes(&bar).unwrap();
    assert_eq!(pixels.len(), 784);
}

//! Checking an image file against its label file, and the fuzz body that
//! does it on arbitrary bytes.

use std::path::Path;

use super::Dataset;
use crate::idx::{ElemType, Header, parse};
use crate::limits::MAX_IMAGE_PIXELS;
use crate::{Error, Result};

/// What an image/label file pair holds.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairShape {
    /// Images (and labels).
    pub len: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

/// Checks that `images` is 3-dim u8 with non-empty images, `labels` 1-dim
/// u8, and that their counts agree.
pub(super) fn check_shapes(
    image_path: &Path,
    images: &Header,
    label_path: &Path,
    labels: &Header,
) -> Result<PairShape> {
    let (ElemType::U8, &[len, rows, cols]) = (images.elem_type(), images.dims()) else {
        return Err(Error::invalid(
            image_path,
            format!("expected u8 images with 3 dimensions (count×rows×cols), found {images}"),
        ));
    };
    if rows == 0 || cols == 0 {
        return Err(Error::invalid(
            image_path,
            format!("images are {rows}×{cols}: empty"),
        ));
    }
    if rows.saturating_mul(cols) > MAX_IMAGE_PIXELS {
        return Err(Error::invalid(
            image_path,
            format!(
                "images are {rows}×{cols}: more than {MAX_IMAGE_PIXELS} pixels each (a limit of fastnn)"
            ),
        ));
    }
    let (ElemType::U8, &[n_labels]) = (labels.elem_type(), labels.dims()) else {
        return Err(Error::invalid(
            label_path,
            format!("expected u8 labels with 1 dimension, found {labels}"),
        ));
    };
    if n_labels != len {
        let image_name = image_path.file_name().unwrap_or(image_path.as_os_str());
        return Err(Error::invalid(
            label_path,
            format!(
                "{n_labels} labels but {} holds {len} images",
                image_name.to_string_lossy()
            ),
        ));
    }
    Ok(PairShape { len, rows, cols })
}

/// Checks that every label is below `classes`.
pub(super) fn check_labels(
    path: &Path,
    header: &Header,
    labels: &[u8],
    classes: usize,
) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            path,
            format!(
                "label {} at index {i} (byte offset {}) is out of range for {classes} classes",
                labels[i],
                header.header_len() + i
            ),
        )),
    }
}

/// Validates an image file and a label file given as whole-file bytes, as
/// [`Dataset::open`] does for one split; `classes` defaults to the largest
/// label + 1. Errors name the files `images` and `labels`.
#[doc(hidden)]
pub fn check_pair(images: &[u8], labels: &[u8], classes: Option<usize>) -> Result<PairShape> {
    let (image_path, label_path) = (Path::new("images"), Path::new("labels"));
    let idx = |path: &Path, bytes| {
        parse(bytes).map_err(|source| Error::Idx {
            path: path.to_path_buf(),
            source,
        })
    };
    let image_header = idx(image_path, images)?;
    let label_header = idx(label_path, labels)?;
    let shape = check_shapes(image_path, &image_header, label_path, &label_header)?;
    let data = &labels[label_header.header_len()..];
    let classes = classes.unwrap_or_else(|| data.iter().max().map_or(1, |&m| m as usize + 1));
    check_labels(label_path, &label_header, data, classes)?;
    Ok(shape)
}

/// Fuzz body (`fuzz/fuzz_targets/dataset_pair.rs`, replayed by the tests):
/// the first two bytes (little-endian) give the image file's length, the
/// rest is split there into an image file and a label file; a third byte
/// at the split, if nonzero, is the class count. On success it asserts that
/// the shapes describe the bytes exactly.
///
/// # Panics
/// When an invariant breaks, which is the point.
#[doc(hidden)]
pub fn fuzz_pair(data: &[u8]) {
    let Some((&[lo, hi, classes], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
    let (images, labels) = rest.split_at(split);
    let classes = (classes != 0).then_some(classes as usize);
    match check_pair(images, labels, classes) {
        Ok(s) => {
            assert_eq!(images.len(), 16 + s.len * s.rows * s.cols);
            assert_eq!(labels.len(), 8 + s.len);
            assert!(s.rows > 0 && s.cols > 0);
            if let Some(c) = classes {
                assert!(labels[8..].iter().all(|&l| (l as usize) < c));
            }
            let from = Dataset::from_arrays(
                "fuzz",
                s.rows,
                s.cols,
                images[16..].to_vec(),
                labels[8..].to_vec(),
                Vec::new(),
                Vec::new(),
                (0..classes.unwrap_or(256)).map(|c| c.to_string()).collect(),
            )
            .expect("a valid pair is a valid dataset");
            assert_eq!(from.pixels(super::Split::Train), &images[16..]);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("images: ") || msg.starts_with("labels: "),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "{msg:?}");
        }
    }
}

/// Fuzz body (`fuzz/fuzz_targets/dataset_folder.rs`, replayed by the tests):
/// a whole folder dataset from bytes. Four little-endian u16 lengths cut
/// the rest into the train images, train labels, test images and test
/// labels; what follows them, if anything, is `classes.txt`. The checks are
/// those [`Dataset::open`] makes on files: each pair, train against test,
/// the class names (or the classes the labels imply), every label; on
/// success the classes are clean and every label names one; an error is one
/// line naming one of the five files.
///
/// # Panics
/// When an invariant breaks, which is the point.
#[doc(hidden)]
pub fn fuzz_folder(data: &[u8]) {
    let Some((lens, mut rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mut parts = Vec::new();
    for i in 0..4 {
        let n = usize::from(u16::from_le_bytes([lens[2 * i], lens[2 * i + 1]])).min(rest.len());
        let (part, tail) = rest.split_at(n);
        parts.push(part);
        rest = tail;
    }
    let classes_txt = (!rest.is_empty()).then_some(rest);
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    match check_folder(&names, &parts, classes_txt) {
        Ok((classes, labels)) => {
            assert!(!classes.is_empty() && classes.len() <= crate::limits::MAX_CLASSES);
            for name in &classes {
                assert!(!name.is_empty() && !name.chars().any(char::is_control));
            }
            assert!(labels.iter().all(|&l| (l as usize) < classes.len()));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg:?}");
            assert!(
                names
                    .iter()
                    .chain(["classes.txt", "."].iter())
                    .any(|n| msg.starts_with(n)),
                "{msg}"
            );
        }
    }
}

/// What [`Dataset::open`] checks, on the four files' bytes and an optional
/// `classes.txt`: returns the class names and all labels.
fn check_folder(
    names: &[&str; 4],
    parts: &[&[u8]],
    classes_txt: Option<&[u8]>,
) -> Result<(Vec<String>, Vec<u8>)> {
    let idx = |i: usize| {
        let path = Path::new(names[i]);
        parse(parts[i]).map_err(|source| Error::Idx {
            path: path.to_path_buf(),
            source,
        })
    };
    let headers = [idx(0)?, idx(1)?, idx(2)?, idx(3)?];
    let pair = |i: usize| {
        check_shapes(
            Path::new(names[i]),
            &headers[i],
            Path::new(names[i + 1]),
            &headers[i + 1],
        )
    };
    let (train, test) = (pair(0)?, pair(2)?);
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(Error::invalid(
            names[2],
            "images differ in size from the training images",
        ));
    }
    let data = |i: usize| &parts[i][headers[i].header_len()..];
    let labels = [
        (Path::new(names[1]), data(1)),
        (Path::new(names[3]), data(3)),
    ];
    let classes = match classes_txt {
        Some(bytes) => super::parse_classes_txt(Path::new("classes.txt"), bytes)?,
        None => super::implicit_classes(&labels, Path::new("."))?,
    };
    for (i, (path, l)) in [1, 3].into_iter().zip(labels) {
        check_labels(path, &headers[i], l, classes.len())?;
    }
    Ok((classes, [data(1), data(3)].concat()))
}

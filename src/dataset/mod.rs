//! Datasets: a train and a test split of u8 images with their labels and
//! class names.
//!
//! A dataset is four IDX files, each raw or `.gz` (raw preferred when both
//! exist): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`. Images are 3-dim u8
//! (count × rows × cols), labels 1-dim u8. [`Dataset::open`] checks that each
//! label file matches its image file's count, that every label names a class,
//! and that train and test images have one size; then [`Dataset::samples`]
//! hands out the u8 pixels straight from the memory map, never copied.
//!
//! Class names: the built-in datasets know theirs; a `--dataset DIR` may hold
//! a `classes.txt` (one name per line), else its classes are `0..=max label`,
//! named by number.
//!
//! Where the built-in datasets are found: see [`data_dirs`].
//!
//! ```no_run
//! use fastnn::{Dataset, DatasetSource, Split};
//! let data = Dataset::open(&DatasetSource::Fashion)?;
//! let train = data.train();
//! assert_eq!((train.len(), train.rows, train.cols), (60000, 28, 28));
//! println!("{}", data.classes()[data.label(Split::Train, 0) as usize]); // Ankle boot
//! # Ok::<(), fastnn::Error>(())
//! ```

mod locate;
mod pair;
mod verify;

pub use locate::{
    DataDir, DataDirKind, builtin_dir, checked_data_dir, data_dirs, install_data, user_data_dir,
};
pub use pair::{PairShape, check_pair, fuzz_folder, fuzz_pair};
pub use verify::{CHECKSUM_FILE, VerifyRow, verify_data};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::files::{open_regular, read_bounded};
use crate::idx_file::{IdxFile, cache_dir_for, open_with_cache, read_header};
use crate::limits::{MAX_CLASSES, MAX_CLASSES_FILE_BYTES, MAX_IMPLICIT_CLASSES, clean_class_names};
use crate::samples::Samples;
use crate::{Error, Result};
use pair::{check_labels, check_shapes};

/// Fashion-MNIST's class names, by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// MNIST's class names (the digits), by label.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Which dataset to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// Fashion-MNIST, shipped as `fashion/` in the data folder.
    Fashion,
    /// MNIST, shipped as `mnist/` in the data folder.
    Mnist,
    /// A folder with the four standard file names and an optional `classes.txt`.
    Dir(PathBuf),
}

impl DatasetSource {
    /// The folder holding the files: for a built-in dataset, the first
    /// data folder that has it (see [`data_dirs`]).
    pub fn dir(&self) -> Result<PathBuf> {
        match self {
            Self::Fashion | Self::Mnist => builtin_dir(self.builtin_name()),
            Self::Dir(p) => Ok(p.clone()),
        }
    }

    /// `fashion`, `mnist`, or the folder as given.
    fn builtin_name(&self) -> &'static str {
        match self {
            Self::Fashion => "fashion",
            Self::Mnist => "mnist",
            Self::Dir(_) => "",
        }
    }

    /// The built-in class names, if this is a built-in dataset.
    fn builtin_classes(&self) -> Option<&'static [&'static str]> {
        match self {
            Self::Fashion => Some(&FASHION_CLASSES),
            Self::Mnist => Some(&MNIST_CLASSES),
            Self::Dir(_) => None,
        }
    }
}

impl FromStr for DatasetSource {
    type Err = Error;

    /// `fashion`, `mnist`, or any other non-empty string as a folder.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fashion" => Ok(Self::Fashion),
            "mnist" => Ok(Self::Mnist),
            "" => Err(Error::Config(
                "empty dataset name: expected fashion, mnist or a folder".into(),
            )),
            dir => Ok(Self::Dir(PathBuf::from(dir))),
        }
    }
}

impl fmt::Display for DatasetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fashion | Self::Mnist => f.write_str(self.builtin_name()),
            Self::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Which split of a dataset: the images to train on, or those held out to
/// test on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Split {
    /// The training split (`train-*`).
    Train,
    /// The test split (`t10k-*`).
    Test,
}

impl Split {
    /// The standard name of the image file (without `.gz`).
    pub fn image_file(self) -> &'static str {
        match self {
            Self::Train => "train-images-idx3-ubyte",
            Self::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// The standard name of the label file (without `.gz`).
    pub fn label_file(self) -> &'static str {
        match self {
            Self::Train => "train-labels-idx1-ubyte",
            Self::Test => "t10k-labels-idx1-ubyte",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Train => "train",
            Self::Test => "test",
        })
    }
}

/// Bytes of one array: a mapped (or cached) IDX file, or a caller's vector.
#[derive(Debug)]
enum Store {
    File(IdxFile),
    Owned(Vec<u8>),
}

impl Store {
    fn data(&self) -> &[u8] {
        match self {
            Store::File(f) => f.data(),
            Store::Owned(v) => v,
        }
    }
}

/// The images and labels of one split.
#[derive(Debug)]
struct Part {
    images: Store,
    labels: Store,
}

/// A dataset: class names and a train and a test split of images of one
/// size, borrowed as [`Samples`].
#[derive(Debug)]
pub struct Dataset {
    name: String,
    dir: Option<PathBuf>,
    classes: Vec<String>,
    /// Whether the class names came from the dataset (built in, or a
    /// `classes.txt`) rather than from its largest label.
    named: bool,
    rows: usize,
    cols: usize,
    train: Part,
    test: Part,
}

impl Dataset {
    /// Opens and validates a dataset (see the [module docs](self)). Errors
    /// name the offending file: missing or not a regular file, malformed,
    /// counts that differ, an empty split, a label out of range, or train
    /// and test image sizes that differ. Every file's header is checked
    /// against its pair before any file is mapped or decompressed.
    pub fn open(src: &DatasetSource) -> Result<Dataset> {
        Dataset::open_splits(src, true)
    }

    /// Opens only the test split (what evaluation needs): the training
    /// files need not exist, and [`Dataset::train`] is empty.
    pub fn open_test(src: &DatasetSource) -> Result<Dataset> {
        Dataset::open_splits(src, false)
    }

    fn open_splits(src: &DatasetSource, with_train: bool) -> Result<Dataset> {
        let dir = src.dir()?;
        let cache = match src {
            // The data folder's shared `.cache` rather than one per dataset.
            DatasetSource::Fashion | DatasetSource::Mnist => {
                cache_dir_for(dir.parent().unwrap_or(&dir))
            }
            DatasetSource::Dir(p) => cache_dir_for(p),
        };
        // Headers first: nothing is mapped or decompressed until both files
        // of both splits agree.
        let headers = |split: Split| -> Result<(PathBuf, PathBuf, PairShape)> {
            let images = find(&dir, split.image_file())?;
            let labels = find(&dir, split.label_file())?;
            let shape = check_shapes(
                &images,
                &read_header(&images)?,
                &labels,
                &read_header(&labels)?,
            )?;
            if shape.len == 0 {
                return Err(Error::invalid(images, "holds no images"));
            }
            Ok((images, labels, shape))
        };
        let test = headers(Split::Test)?;
        let train = if with_train {
            Some(headers(Split::Train)?)
        } else {
            None
        };
        if let Some((_, _, t)) = &train
            && (test.2.rows, test.2.cols) != (t.rows, t.cols)
        {
            return Err(Error::invalid(
                &test.0,
                format!(
                    "images are {}×{} but the training images are {}×{}",
                    test.2.rows, test.2.cols, t.rows, t.cols
                ),
            ));
        }
        let open = |p: &Path| open_with_cache(p, &cache);
        let test_labels = open(&test.1)?;
        let train_labels = train.as_ref().map(|t| open(&t.1)).transpose()?;
        let (classes, named) = match src.builtin_classes() {
            Some(names) => (names.iter().map(|s| s.to_string()).collect(), true),
            None => {
                let all: Vec<&IdxFile> = std::iter::once(&test_labels)
                    .chain(train_labels.as_ref())
                    .collect();
                dir_classes(&dir, &all)?
            }
        };
        for labels in std::iter::once(&test_labels).chain(train_labels.as_ref()) {
            check_labels(labels.path(), labels.header(), labels.data(), classes.len())?;
        }
        let part = |images, labels| Part {
            images: Store::File(images),
            labels: Store::File(labels),
        };
        let empty = || Part {
            images: Store::Owned(Vec::new()),
            labels: Store::Owned(Vec::new()),
        };
        let train = match (train, train_labels) {
            (Some((images, _, _)), Some(labels)) => part(open(&images)?, labels),
            _ => empty(),
        };
        Ok(Dataset {
            name: src.to_string(),
            dir: Some(dir),
            classes,
            named,
            rows: test.2.rows,
            cols: test.2.cols,
            test: part(open(&test.0)?, test_labels),
            train,
        })
    }

    /// A dataset from in-memory u8 arrays (for embedding): `*_images` hold
    /// `n × rows × cols` pixels, `*_labels` the `n` labels, each below
    /// `classes.len()`. Errors are named after `name`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_arrays(
        name: &str,
        rows: usize,
        cols: usize,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
        classes: Vec<String>,
    ) -> Result<Dataset> {
        let bad = |problem: String| Error::invalid(name, problem);
        if classes.is_empty() {
            return Err(bad("no class names".into()));
        }
        let classes = clean_class_names(classes).map_err(bad)?;
        let image_len = rows
            .checked_mul(cols)
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(format!("image size {rows}×{cols} is empty or overflows")))?;
        let part = |split: Split, images: Vec<u8>, labels: Vec<u8>| -> Result<Part> {
            let len = labels.len();
            if len.checked_mul(image_len) != Some(images.len()) {
                return Err(bad(format!(
                    "{split} images: {} bytes, expected {len} labels × {rows}×{cols} = {} bytes",
                    images.len(),
                    len.saturating_mul(image_len)
                )));
            }
            if let Some((i, &l)) = labels
                .iter()
                .enumerate()
                .find(|&(_, &l)| l as usize >= classes.len())
            {
                return Err(bad(format!(
                    "{split} label {l} at index {i} is out of range for {} classes",
                    classes.len()
                )));
            }
            Ok(Part {
                images: Store::Owned(images),
                labels: Store::Owned(labels),
            })
        };
        let train = part(Split::Train, train_images, train_labels)?;
        let test = part(Split::Test, test_images, test_labels)?;
        Ok(Dataset {
            name: name.to_string(),
            dir: None,
            classes,
            named: true,
            rows,
            cols,
            train,
            test,
        })
    }

    /// `fashion`, `mnist`, the folder, or the name given to
    /// [`Dataset::from_arrays`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder the files were read from (`None` for in-memory arrays).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Whether the class names came with the data (built in, a
    /// `classes.txt`, or given to [`Dataset::from_arrays`]) rather than
    /// from the largest label, which a split that lacks the last classes
    /// undercounts.
    pub fn has_class_names(&self) -> bool {
        self.named
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image: `rows · cols`.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    fn part(&self, split: Split) -> &Part {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// A split's images and labels, borrowed from the memory map.
    pub fn samples(&self, split: Split) -> Samples<'_> {
        let part = self.part(split);
        Samples::from_u8(part.images.data(), part.labels.data(), self.rows, self.cols)
    }

    /// The training split.
    pub fn train(&self) -> Samples<'_> {
        self.samples(Split::Train)
    }

    /// The test split.
    pub fn test(&self) -> Samples<'_> {
        self.samples(Split::Test)
    }

    /// Number of images in a split.
    pub fn len(&self, split: Split) -> usize {
        self.part(split).labels.data().len()
    }

    /// All pixels of a split, row-major, image after image.
    pub fn pixels(&self, split: Split) -> &[u8] {
        self.part(split).images.data()
    }

    /// Image `i`'s pixels, row-major.
    ///
    /// # Panics
    /// If `i` is not below the split's length.
    pub fn image(&self, split: Split, i: usize) -> &[u8] {
        let len = self.len(split);
        assert!(i < len, "{split} image {i} out of range: {len} images");
        let n = self.image_len();
        &self.pixels(split)[i * n..(i + 1) * n]
    }

    /// Image `i`'s label.
    ///
    /// # Panics
    /// If `i` is not below the split's length.
    pub fn label(&self, split: Split, i: usize) -> u8 {
        self.part(split).labels.data()[i]
    }
}

/// `dir/name` if it exists, else `dir/name.gz` if that does; one that
/// exists but is not a regular file (a folder, a FIFO, a device) is named
/// as such rather than missing.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    for path in [&raw, &gz] {
        if path.exists() {
            open_regular(path)?;
            return Ok(path.clone());
        }
    }
    Err(Error::invalid(
        raw,
        format!("file not found (nor {name}.gz)"),
    ))
}

/// Class names of a folder dataset and whether they were named: the lines
/// of `classes.txt` (see [`parse_classes_txt`]), else numbers up to the
/// largest label (see [`implicit_classes`]).
fn dir_classes(dir: &Path, labels: &[&IdxFile]) -> Result<(Vec<String>, bool)> {
    let path = dir.join("classes.txt");
    if !path.exists() && std::fs::symlink_metadata(&path).is_err() {
        let data: Vec<(&Path, &[u8])> = labels.iter().map(|l| (l.path(), l.data())).collect();
        return Ok((implicit_classes(&data, dir)?, false));
    }
    let bytes = read_bounded(&path, MAX_CLASSES_FILE_BYTES, "a classes.txt")?;
    Ok((parse_classes_txt(&path, &bytes)?, true))
}

/// The class names in a `classes.txt` (`path` names it in errors): UTF-8,
/// one name per non-blank line, cleaned and capped (see
/// [`clean_class_names`]).
pub(crate) fn parse_classes_txt(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid(path, format!("is not UTF-8 text: {e}")))?;
    let names: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(Error::invalid(
            path,
            "no class names (expected one per line)",
        ));
    }
    clean_class_names(names).map_err(|e| Error::invalid(path, e))
}

/// Classes named by number up to the largest label of the label files
/// `(path, data)`, which may imply at most [`MAX_IMPLICIT_CLASSES`]; an
/// error names the file holding the largest label (or `dir`).
pub(crate) fn implicit_classes(labels: &[(&Path, &[u8])], dir: &Path) -> Result<Vec<String>> {
    let max = labels.iter().flat_map(|(_, l)| l.iter()).max().copied();
    let classes = max.map_or(1, |m| m as usize + 1);
    if classes > MAX_IMPLICIT_CLASSES {
        let file = labels
            .iter()
            .find(|(_, l)| l.iter().any(|&b| b as usize + 1 == classes))
            .map_or(dir, |(p, _)| p);
        return Err(Error::invalid(
            file,
            format!(
                "has label {}, which implies {classes} classes: without a classes.txt fastnn \
                 takes at most {MAX_IMPLICIT_CLASSES} (a limit of fastnn); a classes.txt \
                 with one name per class allows up to {MAX_CLASSES}",
                classes - 1
            ),
        ));
    }
    Ok((0..classes).map(|c| c.to_string()).collect())
}

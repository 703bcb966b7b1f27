//! Datasets: train and test splits of images and labels.
//!
//! A dataset is four IDX files, each raw or `.gz` (raw preferred when both
//! exist): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`. Images are 3-dim u8
//! (count × rows × cols), labels 1-dim u8. [`Dataset::open`] checks that each
//! label file matches its image file's count, that every label names a class,
//! and that train and test images have one size; then [`Split::pixels`] hands
//! out the u8 pixels straight from the memory map, never copied.
//!
//! Class names: the built-in datasets know theirs; a `--dataset DIR` may hold
//! a `classes.txt` (one name per line), else its classes are `0..=max label`,
//! named by number.
//!
//! ```no_run
//! use fastnn::dataset::{Dataset, DatasetSource};
//! let data = Dataset::open(&DatasetSource::Fashion)?;
//! let train = data.train();
//! assert_eq!((train.len(), train.rows(), train.cols()), (60000, 28, 28));
//! println!("{}", data.classes()[train.label(0) as usize]); // Ankle boot
//! # Ok::<(), fastnn::Error>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::idx::{ElemType, Header, IdxFile, cache_dir_for, open_with_cache, parse};
use crate::{Error, Result};

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

/// The checksum file in the data directory: SHA-256 of each raw
/// (decompressed) IDX file, `sha256sum` format.
pub const CHECKSUM_FILE: &str = "SHA256SUMS";

/// The folder holding the built-in datasets: `$FASTNN_DATA` if set (and not
/// empty), else the `data/` folder of the source tree fastnn was built from.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("FASTNN_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    }
}

/// Which dataset to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// Fashion-MNIST, shipped in `data/fashion`.
    Fashion,
    /// MNIST, shipped in `data/mnist`.
    Mnist,
    /// A folder with the four standard file names and an optional `classes.txt`.
    Dir(PathBuf),
}

impl DatasetSource {
    /// The folder holding the files.
    pub fn dir(&self) -> PathBuf {
        match self {
            Self::Fashion => data_dir().join("fashion"),
            Self::Mnist => data_dir().join("mnist"),
            Self::Dir(p) => p.clone(),
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

    fn cache_dir(&self) -> PathBuf {
        match self {
            // The shared `data/.cache` (git-ignored) rather than one per dataset.
            Self::Fashion | Self::Mnist => cache_dir_for(&data_dir()),
            Self::Dir(p) => cache_dir_for(p),
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
            Self::Fashion => f.write_str("fashion"),
            Self::Mnist => f.write_str("mnist"),
            Self::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Which split of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SplitKind {
    /// The training split (`train-*`).
    Train,
    /// The test split (`t10k-*`).
    Test,
}

impl SplitKind {
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

impl fmt::Display for SplitKind {
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

/// One split: `len` images of `rows × cols` u8 pixels and their labels.
#[derive(Debug)]
pub struct Split {
    kind: SplitKind,
    images: Store,
    labels: Store,
    len: usize,
    rows: usize,
    cols: usize,
}

impl Split {
    /// Train or test.
    pub fn kind(&self) -> SplitKind {
        self.kind
    }

    /// Number of images (and labels).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the split holds no images.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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

    /// All images, row-major and contiguous (`len · image_len` bytes),
    /// borrowed from the memory map.
    pub fn pixels(&self) -> &[u8] {
        self.images.data()
    }

    /// Image `i`'s pixels, row-major.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.len, "image {i} out of range: {} images", self.len);
        let n = self.image_len();
        &self.pixels()[i * n..(i + 1) * n]
    }

    /// All labels, one byte each; each is below the dataset's class count.
    pub fn labels(&self) -> &[u8] {
        self.labels.data()
    }

    /// Image `i`'s label.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels()[i]
    }
}

/// A dataset: class names and a train and a test split of equal image size.
#[derive(Debug)]
pub struct Dataset {
    name: String,
    classes: Vec<String>,
    train: Split,
    test: Split,
}

impl Dataset {
    /// Opens and validates a dataset (see the [module docs](self)). Errors
    /// name the offending file: missing, malformed, counts that differ, a
    /// label out of range, or train and test image sizes that differ.
    pub fn open(src: &DatasetSource) -> Result<Dataset> {
        let dir = src.dir();
        let cache = src.cache_dir();
        let open = |kind: SplitKind| -> Result<(IdxFile, IdxFile, PairShape)> {
            let images = open_with_cache(find(&dir, kind.image_file())?, &cache)?;
            let labels = open_with_cache(find(&dir, kind.label_file())?, &cache)?;
            let shape = check_shapes(
                images.path(),
                images.header(),
                labels.path(),
                labels.header(),
            )?;
            Ok((images, labels, shape))
        };
        let (train_images, train_labels, train) = open(SplitKind::Train)?;
        let (test_images, test_labels, test) = open(SplitKind::Test)?;
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(Error::invalid(
                test_images.path(),
                format!(
                    "images are {}×{} but the training images are {}×{}",
                    test.rows, test.cols, train.rows, train.cols
                ),
            ));
        }
        let classes = match src.builtin_classes() {
            Some(names) => names.iter().map(|s| s.to_string()).collect(),
            None => dir_classes(&dir, &[train_labels.data(), test_labels.data()])?,
        };
        for labels in [&train_labels, &test_labels] {
            check_labels(labels.path(), labels.header(), labels.data(), classes.len())?;
        }
        let split = |kind, images, labels, shape: PairShape| Split {
            kind,
            images: Store::File(images),
            labels: Store::File(labels),
            len: shape.len,
            rows: shape.rows,
            cols: shape.cols,
        };
        Ok(Dataset {
            name: src.to_string(),
            classes,
            train: split(SplitKind::Train, train_images, train_labels, train),
            test: split(SplitKind::Test, test_images, test_labels, test),
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
        let image_len = rows
            .checked_mul(cols)
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(format!("image size {rows}×{cols} is empty or overflows")))?;
        let split = |kind: SplitKind, images: Vec<u8>, labels: Vec<u8>| -> Result<Split> {
            let len = labels.len();
            if len.checked_mul(image_len) != Some(images.len()) {
                return Err(bad(format!(
                    "{kind} images: {} bytes, expected {len} labels × {rows}×{cols} = {} bytes",
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
                    "{kind} label {l} at index {i} is out of range for {} classes",
                    classes.len()
                )));
            }
            Ok(Split {
                kind,
                images: Store::Owned(images),
                labels: Store::Owned(labels),
                len,
                rows,
                cols,
            })
        };
        let train = split(SplitKind::Train, train_images, train_labels)?;
        let test = split(SplitKind::Test, test_images, test_labels)?;
        Ok(Dataset {
            name: name.to_string(),
            classes,
            train,
            test,
        })
    }

    /// `fashion`, `mnist`, the folder, or the name given to
    /// [`Dataset::from_arrays`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The training split.
    pub fn train(&self) -> &Split {
        &self.train
    }

    /// The test split.
    pub fn test(&self) -> &Split {
        &self.test
    }

    /// The split of that kind.
    pub fn split(&self, kind: SplitKind) -> &Split {
        match kind {
            SplitKind::Train => &self.train,
            SplitKind::Test => &self.test,
        }
    }
}

/// `dir/name` if it exists, else `dir/name.gz` if that does.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::invalid(
        raw,
        format!("file not found (nor {name}.gz)"),
    ))
}

/// Class names of a folder dataset: `classes.txt` lines, else numbers up to
/// the largest label.
fn dir_classes(dir: &Path, labels: &[&[u8]]) -> Result<Vec<String>> {
    let path = dir.join("classes.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let names: Vec<String> = text
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            if names.is_empty() {
                return Err(Error::invalid(
                    path,
                    "no class names (expected one per line)",
                ));
            }
            Ok(names)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let max = labels.iter().flat_map(|l| l.iter()).max().copied();
            Ok((0..=max.unwrap_or(0)).map(|c| c.to_string()).collect())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

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
fn check_shapes(
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
fn check_labels(path: &Path, header: &Header, labels: &[u8], classes: usize) -> Result<()> {
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
            assert_eq!(from.train().pixels(), &images[16..]);
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

/// One line of `fastnn data verify`.
#[derive(Clone, Debug)]
pub struct VerifyRow {
    /// The file, relative to the data directory, as in the checksum file.
    pub file: String,
    /// SHA-256 from the checksum file.
    pub expected: String,
    /// SHA-256 of the raw (decompressed) contents, or why it could not be read.
    pub found: String,
    /// Whether `found == expected`.
    pub ok: bool,
}

impl fmt::Display for VerifyRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            write!(f, "OK    {}", self.file)
        } else {
            write!(
                f,
                "FAIL  {}: expected sha256 {}, found {}",
                self.file, self.expected, self.found
            )
        }
    }
}

/// Checks every file listed in `dir`'s [`CHECKSUM_FILE`] (lines of
/// `<sha256>  <relative path of the raw IDX file>`), reading the raw file or
/// its `.gz`. A file that is missing or malformed gives a failing row; an
/// unreadable or malformed checksum file is an error.
pub fn verify_data(dir: &Path) -> Result<Vec<VerifyRow>> {
    let sums = dir.join(CHECKSUM_FILE);
    let text = std::fs::read_to_string(&sums).map_err(|e| Error::io(&sums, e))?;
    let cache = cache_dir_for(dir);
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once("  ").filter(|(hash, file)| {
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !file.is_empty()
        });
        let Some((expected, file)) = parsed else {
            return Err(Error::invalid(
                &sums,
                format!("line {}: expected \"<sha256>  <file>\"", n + 1),
            ));
        };
        let path = dir.join(file);
        let (parent, name) = (
            path.parent().unwrap_or(dir),
            path.file_name().map(|n| n.to_string_lossy().into_owned()),
        );
        let found = name
            .ok_or_else(|| Error::invalid(&path, "not a file name"))
            .and_then(|name| find(parent, &name))
            .and_then(|p| open_with_cache(p, &cache))
            .map(|f| hex(&Sha256::digest(f.bytes())))
            .unwrap_or_else(|e| e.to_string());
        let expected = expected.to_ascii_lowercase();
        rows.push(VerifyRow {
            file: file.to_string(),
            ok: found == expected,
            expected,
            found,
        });
    }
    Ok(rows)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

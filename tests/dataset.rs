//! Datasets: the shipped data's known facts, folder datasets, one test per
//! consistency error, in-memory datasets, checksums.

use fastnn::dataset::{self, check_pair, checked_data_dir};
use fastnn::{Dataset, DatasetSource, FASHION_CLASSES, Split, verify_data};
use proptest::prelude::*;

use crate::util::{self, gzip, idx_u8, pixel, split_files, temp_dir, write, write_dataset};

#[test]
fn fashion_known_facts() {
    let data = Dataset::open(&DatasetSource::Fashion).unwrap();
    assert_eq!(data.name(), "fashion");
    assert_eq!(data.classes(), FASHION_CLASSES);
    let train = data.train();
    assert_eq!((train.len(), train.rows, train.cols), (60000, 28, 28));
    assert_eq!(data.pixels(Split::Train).len(), 60000 * 784);
    // Image 0, row 7, column 22.
    assert_eq!(data.image(Split::Train, 0)[7 * 28 + 22], 122);
    assert_eq!(&train.labels[..3], [9, 0, 0]);
    assert_eq!(&train.labels[59997..], [3, 0, 5]);
    assert_eq!(
        data.classes()[data.label(Split::Train, 0) as usize],
        "Ankle boot"
    );
    let test = data.test();
    assert_eq!((test.len(), test.rows, test.cols), (10000, 28, 28));
    assert_eq!(test.labels.len(), 10000);
}

#[test]
fn mnist_known_facts() {
    let data = Dataset::open(&DatasetSource::Mnist).unwrap();
    assert_eq!(data.name(), "mnist");
    assert_eq!(data.classes()[3], "3");
    let train = data.train();
    assert_eq!((train.len(), train.image_len()), (60000, 784));
    let mut counts = [0usize; 10];
    for &l in train.labels {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(data.test().len(), 10000);
    assert_eq!(data.samples(Split::Test).len(), 10000);
    assert_eq!(data.len(Split::Test), 10000);
}

#[test]
fn shipped_checksums_verify() {
    let rows = verify_data(&checked_data_dir().unwrap()).unwrap();
    assert_eq!(rows.len(), 8);
    for row in &rows {
        assert!(row.ok, "{row}");
        assert!(row.to_string().starts_with("OK    "));
    }
}

#[test]
fn verify_reports_mismatch_and_missing() {
    let dir = temp_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("set")).unwrap();
    let bytes = idx_u8(&[2], &[1, 2]);
    write(&d.join("set"), "a.gz", &gzip(&bytes));
    let zero = "0".repeat(64);
    write(
        d,
        dataset::CHECKSUM_FILE,
        format!("{zero}  set/a\n{zero}  set/missing\n").as_bytes(),
    );
    let rows = verify_data(d).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!rows[0].ok && !rows[1].ok);
    let line = rows[0].to_string();
    assert!(
        line.starts_with(&format!("FAIL  set/a: expected sha256 {zero}, found ")),
        "{line}"
    );
    assert!(
        rows[1].found.contains("file not found"),
        "{}",
        rows[1].found
    );
    write(d, dataset::CHECKSUM_FILE, b"not a checksum line\n");
    let err = verify_data(d).unwrap_err().to_string();
    assert!(err.contains("SHA256SUMS: line 1: expected"), "{err}");
}

#[test]
fn source_parses() {
    assert_eq!(
        "fashion".parse::<DatasetSource>().unwrap(),
        DatasetSource::Fashion
    );
    assert_eq!(
        "mnist".parse::<DatasetSource>().unwrap(),
        DatasetSource::Mnist
    );
    let dir: DatasetSource = "some/dir".parse().unwrap();
    assert_eq!(dir, DatasetSource::Dir("some/dir".into()));
    assert_eq!(dir.to_string(), "some/dir");
    assert!("".parse::<DatasetSource>().is_err());
}

#[test]
fn folder_dataset_raw_and_gz() {
    for gz in [false, true] {
        let dir = temp_dir();
        write_dataset(dir.path(), 5, 3, 4, 6, 3, gz);
        let data = Dataset::open(&DatasetSource::Dir(dir.path().into())).unwrap();
        assert_eq!(data.name(), dir.path().display().to_string());
        // No classes.txt: named by number up to the largest label.
        assert_eq!(data.classes(), ["0", "1", "2"]);
        let train = data.train();
        assert_eq!(
            (train.len(), train.rows, train.cols, train.image_len()),
            (5, 4, 6, 24)
        );
        assert!(!train.is_empty());
        assert_eq!(data.dir(), Some(dir.path()));
        for i in 0..5 {
            let want: Vec<u8> = (0..24).map(|p| pixel(i, p)).collect();
            assert_eq!(data.image(Split::Train, i), want);
            assert_eq!(data.label(Split::Train, i), (i % 3) as u8);
        }
        assert_eq!(data.test().len(), 3);
    }
}

#[test]
fn folder_dataset_with_class_names() {
    let dir = temp_dir();
    write_dataset(dir.path(), 4, 2, 2, 2, 2, false);
    write(dir.path(), "classes.txt", b"cat\ndog\nbird\n");
    let data = Dataset::open(&DatasetSource::Dir(dir.path().into())).unwrap();
    assert_eq!(data.classes(), ["cat", "dog", "bird"]);
}

#[test]
fn raw_file_preferred_over_gz() {
    let dir = temp_dir();
    write_dataset(dir.path(), 2, 2, 2, 2, 2, false);
    // A gz beside the raw file, with other contents: ignored.
    let (images, _) = split_files(2, 2, 2, 2);
    let mut other = images.clone();
    other[16] = 200;
    write(dir.path(), "train-images-idx3-ubyte.gz", &gzip(&other));
    let data = Dataset::open(&DatasetSource::Dir(dir.path().into())).unwrap();
    assert_eq!(data.pixels(Split::Train), &images[16..]);
}

/// Writes a valid folder dataset (3 train and 2 test images of 2×2, labels
/// 0 and 1; gzipped with `gz`), replaces the `files` given (removes those
/// given as `None`), opens it, and checks that the error is one line: the
/// path of `file`, then `problem` (a prefix of the rest).
fn expect_dataset_err(gz: bool, files: &[(&str, Option<&[u8]>)], file: &str, problem: &str) {
    let dir = temp_dir();
    write_dataset(dir.path(), 3, 2, 2, 2, 2, gz);
    for &(name, bytes) in files {
        match bytes {
            Some(bytes) => drop(write(dir.path(), name, bytes)),
            None => std::fs::remove_file(dir.path().join(name)).unwrap(),
        }
    }
    let err = Dataset::open(&DatasetSource::Dir(dir.path().into())).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg:?}");
    let want = format!("{}: {problem}", dir.path().join(file).display());
    assert!(msg.starts_with(&want), "{msg}\nwanted: {want}");
}

#[test]
fn error_missing_file() {
    let name = "t10k-labels-idx1-ubyte";
    let msg = "file not found (nor t10k-labels-idx1-ubyte.gz)";
    expect_dataset_err(false, &[(name, None)], name, msg);
    let gz = "t10k-labels-idx1-ubyte.gz";
    expect_dataset_err(true, &[(gz, None)], name, msg);
}

#[test]
fn error_count_mismatch() {
    let labels = idx_u8(&[2], &[0, 1]);
    let name = "train-labels-idx1-ubyte";
    let msg = "2 labels but train-images-idx3-ubyte holds 3 images";
    expect_dataset_err(false, &[(name, Some(&labels))], name, msg);
}

#[test]
fn error_label_out_of_range() {
    let labels = idx_u8(&[2], &[1, 7]);
    let name = "t10k-labels-idx1-ubyte";
    let files = [(name, Some(&labels[..])), ("classes.txt", Some(b"a\nb\n"))];
    let msg = "label 7 at index 1 (byte offset 9) is out of range for 2 classes";
    expect_dataset_err(false, &files, name, msg);
}

#[test]
fn error_label_out_of_range_for_builtin_classes() {
    // check_pair runs the checks open runs per split; builtins have 10 classes.
    let (images, _) = split_files(2, 2, 2, 2);
    let err = check_pair(&images, &idx_u8(&[2], &[10, 0]), Some(10)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "labels: label 10 at index 0 (byte offset 8) is out of range for 10 classes"
    );
}

#[test]
fn error_train_test_size_mismatch() {
    let (images, _) = split_files(2, 3, 2, 2);
    let name = "t10k-images-idx3-ubyte";
    let msg = "images are 3×2 but the training images are 2×2";
    expect_dataset_err(false, &[(name, Some(&images))], name, msg);
}

#[test]
fn error_wrong_shapes() {
    let images = idx_u8(&[2, 4], &[0; 8]);
    let name = "train-images-idx3-ubyte";
    let msg = "expected u8 images with 3 dimensions (count×rows×cols), found u8 2×4";
    expect_dataset_err(false, &[(name, Some(&images))], name, msg);
    let labels = util::idx_bytes(0x0B, &[3], &[0; 6]);
    let name = "train-labels-idx1-ubyte";
    let msg = "expected u8 labels with 1 dimension, found i16 3";
    expect_dataset_err(false, &[(name, Some(&labels))], name, msg);
    let empty = idx_u8(&[3, 0, 2], &[]);
    let name = "train-images-idx3-ubyte";
    expect_dataset_err(
        false,
        &[(name, Some(&empty))],
        name,
        "images are 0×2: empty",
    );
}

#[test]
fn error_malformed_file_in_dataset() {
    let name = "t10k-images-idx3-ubyte.gz";
    let msg = "corrupt gzip data";
    expect_dataset_err(true, &[(name, Some(b"\x1f\x8b garbage"))], name, msg);
    let name = "train-labels-idx1-ubyte";
    let msg = "truncated data: header declares 3 of u8";
    expect_dataset_err(
        false,
        &[(name, Some(&idx_u8(&[3], &[0; 3])[..10]))],
        name,
        msg,
    );
}

#[test]
fn error_empty_classes_file() {
    let name = "classes.txt";
    let msg = "no class names (expected one per line)";
    expect_dataset_err(false, &[(name, Some(b"\n\n"))], name, msg);
}

#[test]
fn from_arrays_builds_and_checks() {
    let classes = || vec!["a".to_string(), "b".to_string()];
    let data = Dataset::from_arrays(
        "mem",
        1,
        2,
        vec![1, 2, 3, 4],
        vec![0, 1],
        vec![5, 6],
        vec![1],
        classes(),
    )
    .unwrap();
    assert_eq!(data.name(), "mem");
    assert_eq!(data.image(Split::Train, 1), [3, 4]);
    assert_eq!(data.test().labels, [1]);
    let err = Dataset::from_arrays(
        "mem",
        1,
        2,
        vec![1, 2, 3],
        vec![0, 1],
        vec![],
        vec![],
        classes(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mem: train images: 3 bytes, expected 2 labels × 1×2 = 4 bytes"
    );
    let err = Dataset::from_arrays("mem", 1, 1, vec![1], vec![0], vec![1], vec![2], classes())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mem: test label 2 at index 0 is out of range for 2 classes"
    );
    let err =
        Dataset::from_arrays("mem", 1, 1, vec![], vec![], vec![], vec![], vec![]).unwrap_err();
    assert_eq!(err.to_string(), "mem: no class names");
    let err =
        Dataset::from_arrays("mem", 0, 3, vec![], vec![], vec![], vec![], classes()).unwrap_err();
    assert!(err.to_string().contains("image size 0×3"), "{err}");
}

#[test]
fn check_pair_accepts_valid_pairs() {
    let (images, labels) = split_files(4, 3, 2, 3);
    let shape = check_pair(&images, &labels, None).unwrap();
    assert_eq!((shape.len, shape.rows, shape.cols), (4, 3, 2));
    let err = check_pair(&images, &labels, Some(2))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("labels: label 2 at index 2"), "{err}");
}

#[test]
fn fuzz_seeds_replay() {
    let inputs = util::fuzz_inputs("dataset_pair");
    assert!(inputs.len() >= 4, "seed corpus present");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| dataset::fuzz_pair(&bytes));
        assert!(result.is_ok(), "{}", path.display());
    }
}

#[test]
fn folder_fuzz_seeds_replay() {
    let inputs = util::fuzz_inputs("dataset_folder");
    assert!(inputs.len() >= 5, "seed corpus present");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| dataset::fuzz_folder(&bytes));
        assert!(result.is_ok(), "{}", path.display());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn folder_check_never_panics(data in prop::collection::vec(any::<u8>(), 0..256)) {
        dataset::fuzz_folder(&data);
    }

    #[test]
    fn pair_check_never_panics(data in prop::collection::vec(any::<u8>(), 0..128)) {
        dataset::fuzz_pair(&data);
    }

    #[test]
    fn pair_check_on_near_valid_pairs(
        n in 0usize..4, rows in 0usize..3, cols in 0usize..3, classes in 1usize..4,
        cut in 0usize..40, which in any::<bool>(), byte in any::<u8>(), at in 0usize..40,
    ) {
        let (mut images, mut labels) = split_files(n, rows, cols, classes);
        let target = if which { &mut images } else { &mut labels };
        if at < target.len() { target[at] = byte; }
        let keep = target.len().saturating_sub(cut % 3);
        target.truncate(keep);
        let mut blob = (images.len() as u16).to_le_bytes().to_vec();
        blob.push(classes as u8);
        blob.extend_from_slice(&images);
        blob.extend_from_slice(&labels);
        dataset::fuzz_pair(&blob);
    }
}

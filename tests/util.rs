//! Shared helpers for the integration tests: temp dirs holding tiny IDX
//! files, written by hand here (not by the library) so that a round trip
//! really checks the parser against the format.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

pub use tempfile::TempDir;

/// `fastnn args`, with the test runs' own cache folder.
pub fn fastnn(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fastnn"))
        .args(args)
        .env(
            "FASTNN_CACHE",
            std::env::temp_dir().join("fastnn-test-cache"),
        )
        .output()
        .expect("run fastnn")
}

/// An engine of `threads` threads.
pub fn engine(threads: usize) -> fastnn::Engine {
    fastnn::Engine::new(threads).expect("start threads")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("fastnn-test-")
        .tempdir()
        .expect("create temp dir")
}

/// An IDX file's bytes: header for `type_byte` and `dims`, then `data`
/// (already big-endian).
pub fn idx_bytes(type_byte: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_byte, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A u8 IDX file (type 0x08).
pub fn idx_u8(dims: &[u32], data: &[u8]) -> Vec<u8> {
    assert_eq!(dims.iter().product::<u32>() as usize, data.len());
    idx_bytes(0x08, dims, data)
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// Deterministic pixels for image `i` of a test dataset.
pub fn pixel(i: usize, p: usize) -> u8 {
    (i * 31 + p * 7) as u8
}

/// One split's image and label file bytes: `n` images of `rows`×`cols`,
/// labels `i % classes`.
pub fn split_files(n: usize, rows: usize, cols: usize, classes: usize) -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..n)
        .flat_map(|i| (0..rows * cols).map(move |p| pixel(i, p)))
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
    (
        idx_u8(&[n as u32, rows as u32, cols as u32], &pixels),
        idx_u8(&[n as u32], &labels),
    )
}

/// Writes a valid dataset folder: `n_train` and `n_test` images of
/// `rows`×`cols`, labels cycling through `classes`; with `gz`, the files
/// are gzip-compressed (`*.gz`).
pub fn write_dataset(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    rows: usize,
    cols: usize,
    classes: usize,
    gz: bool,
) {
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let (images, labels) = split_files(n, rows, cols, classes);
        for (name, bytes) in [
            (format!("{prefix}-images-idx3-ubyte"), images),
            (format!("{prefix}-labels-idx1-ubyte"), labels),
        ] {
            if gz {
                write(dir, &format!("{name}.gz"), &gzip(&bytes));
            } else {
                write(dir, &name, &bytes);
            }
        }
    }
}

/// The files under `dir` (not recursive), sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The seed files of a fuzz target (`fuzz/seeds/<target>`), plus its local
/// corpus (`fuzz/corpus/<target>`, git-ignored) if a fuzz run left one.
pub fn fuzz_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for dir in ["seeds", "corpus", "artifacts"] {
        for path in files_in(&root.join(dir).join(target)) {
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                inputs.push((path, bytes));
            }
        }
    }
    inputs
}

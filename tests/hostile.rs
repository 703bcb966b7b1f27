//! Hostile inputs at the command line, each run under a memory limit and a
//! time limit, so that an unbounded allocation or a hang fails the test and
//! not the machine: devices, FIFOs and symlinks where files are expected,
//! sizes no input may impose, files that lie about themselves, outputs that
//! must not be replaced, closed pipes and full disks.
#![cfg(target_os = "linux")]

use crate::util::{gzip, idx_u8, temp_dir, write, write_dataset};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Address space allowed to a run on a tiny dataset: 256 MiB beyond what
/// the program and its mapped data need, far below any unbounded
/// allocation's.
const MEMORY_LIMIT_KIB: u64 = 384 << 10;
/// No hostile input may make a command run longer.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// `fastnn args` in `cwd` under the memory and time limits, with a private
/// cache folder.
fn guarded_in(cwd: &Path, args: &[&str]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_fastnn"))
        .args(args)
        .current_dir(cwd)
        .env("MALLOC_ARENA_MAX", "2")
        .env("FASTNN_CACHE", cwd.join(".test-cache"))
        .env("XDG_CACHE_HOME", cwd.join(".test-xdg-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fastnn");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let _ = out.read_to_end(&mut o);
        let _ = err.read_to_end(&mut e);
        (o, e)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            panic!("fastnn {args:?} hung for {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = reader.join().unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A scratch folder with a tiny dataset in `data/`.
struct Scratch {
    dir: crate::util::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        write_dataset(&dir.path().join("data"), 60, 20, 4, 4, 3, false);
        Scratch { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn s(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        guarded_in(self.dir.path(), args)
    }

    /// Asserts a quick failure with one stderr line containing every
    /// needle, no panic, nothing on stdout after `allowed_stdout` lines.
    fn fails(&self, args: &[&str], needles: &[&str]) -> String {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
        assert!(!err.contains("panicked"), "{err}");
        err
    }

    /// A trained model of the tiny dataset, saved at `name`.
    fn model(&self, name: &str) -> String {
        let m = self.s(name);
        let o = self.run(&[
            "train",
            "--dataset",
            "data",
            "--epochs",
            "1",
            "--hidden",
            "5",
            "--quiet",
            "--save",
            &m,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        m
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success());
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn devices_and_fifos_are_refused_as_inputs_without_reading_or_waiting() {
    let s = Scratch::new();
    s.fails(
        &["data", "info", "/dev/urandom"],
        &["/dev/urandom: is a character device, not a regular file"],
    );
    let fifo = s.path("fifo");
    mkfifo(&fifo);
    s.fails(
        &["data", "info", &s.s("fifo")],
        &["fifo: is a FIFO, not a regular file"],
    );
    s.fails(
        &["eval", "--model", "/dev/zero"],
        &["/dev/zero", "character device"],
    );
    s.fails(&["eval", "--model", &s.s("fifo")], &["is a FIFO"]);
    // In a dataset folder: as an IDX file, as classes.txt, and classes.txt
    // linked to /dev/zero.
    let data = s.path("data");
    std::fs::remove_file(data.join("t10k-labels-idx1-ubyte")).unwrap();
    mkfifo(&data.join("t10k-labels-idx1-ubyte"));
    s.fails(
        &["train", "--dataset", "data", "--quiet"],
        &["t10k-labels-idx1-ubyte: is a FIFO, not a regular file"],
    );
    let s = Scratch::new();
    mkfifo(&s.path("data/classes.txt"));
    s.fails(
        &["train", "--dataset", "data", "--quiet"],
        &["classes.txt: is a FIFO"],
    );
    let s = Scratch::new();
    std::os::unix::fs::symlink("/dev/zero", s.path("data/classes.txt")).unwrap();
    s.fails(
        &["show", "--dataset", "data"],
        &["classes.txt: is a character device"],
    );
    // A folder where a file should be is named as one, not as missing.
    let s = Scratch::new();
    let f = s.path("data/train-labels-idx1-ubyte");
    std::fs::remove_file(&f).unwrap();
    std::fs::create_dir(&f).unwrap();
    s.fails(
        &["show", "--dataset", "data"],
        &["is a folder, not a regular file"],
    );
    // A FIFO planted at the cache's name is removed, never read.
    let s = Scratch::new();
    let gz = s.path("data/t10k-labels-idx1-ubyte.gz");
    let raw = s.path("data/t10k-labels-idx1-ubyte");
    std::fs::write(&gz, gzip(&std::fs::read(&raw).unwrap())).unwrap();
    std::fs::remove_file(&raw).unwrap();
    let cache = s.path(".test-cache");
    std::fs::create_dir(&cache).unwrap();
    let planted = fastnn::idx_file::cached_path(&gz, &cache).unwrap();
    mkfifo(&planted);
    let o = s.run(&[
        "show",
        "--dataset",
        "data",
        "--split",
        "test",
        "--count",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(planted.is_file());
}

#[test]
fn sizes_from_files_and_flags_are_bounded() {
    // A 1 MB line in classes.txt.
    let s = Scratch::new();
    let long = format!("a\nb\n{}\n", "c".repeat(1 << 20));
    write(&s.path("data"), "classes.txt", long.as_bytes());
    s.fails(
        &["train", "--dataset", "data", "--plots", "plots", "--quiet"],
        &["classes.txt", "at most 65536"],
    );
    write(
        &s.path("data"),
        "classes.txt",
        format!("a\nb\n{}\n", "c".repeat(100)).as_bytes(),
    );
    s.fails(
        &["show", "--dataset", "data"],
        &["classes.txt: class name 3 has 100 characters; at most 64"],
    );
    // 10000 test images in one picture.
    let s = Scratch::new();
    std::fs::remove_dir_all(s.path("data")).unwrap();
    std::fs::create_dir(s.path("data")).unwrap();
    write_dataset(&s.path("data"), 50, 10000, 4, 4, 3, false);
    let m = s.model("m.safetensors");
    let many: Vec<String> = (0..10000).map(|i| i.to_string()).collect();
    let mut args = vec!["predict", "--model", &m, "--out", "many.png", "--index"];
    args.extend(many.iter().map(String::as_str));
    s.fails(&args, &["larger than fastnn draws", "fewer images"]);
    assert!(!s.path("many.png").exists());
    // A model whose class name is 1 MB long.
    let long = "x".repeat(1 << 20);
    let bad = edit_header(&std::fs::read(&m).unwrap(), |h| {
        replace_value(h, "\"class_names\":\"[\\\"", '\\', &long)
    });
    write(s.dir.path(), "long.safetensors", &bad);
    s.fails(
        &[
            "predict",
            "--model",
            "long.safetensors",
            "--index",
            "0",
            "--out",
            "x.png",
        ],
        &["long.safetensors", "has 1048576 characters; at most 64"],
    );
    // Each fact once: a missing file's error names the cause once.
    let err = s.fails(
        &["eval", "--model", "nope.safetensors"],
        &["nope.safetensors"],
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // A 20000×20000 PNG that is a few hundred bytes: refused from its header.
    let png = png_header_only(20000, 20000);
    write(s.dir.path(), "huge.png", &png);
    s.fails(
        &["predict", "--model", &m, "--image", "huge.png"],
        &["huge.png", "20000×20000", "1 to 4096 on a side"],
    );
    // A .gz declaring 1×32768×32768 images: refused from its header, before
    // a byte is decompressed or cached.
    let s = Scratch::new();
    let mut head = vec![0, 0, 8, 3];
    for d in [1u32, 32768, 32768] {
        head.extend_from_slice(&d.to_be_bytes());
    }
    head.extend(std::iter::repeat_n(0u8, 1 << 20));
    std::fs::remove_file(s.path("data/train-images-idx3-ubyte")).unwrap();
    write(&s.path("data"), "train-images-idx3-ubyte.gz", &gzip(&head));
    s.fails(
        &["train", "--dataset", "data", "--quiet"],
        &["train-images-idx3-ubyte.gz", "more than 1048576 pixels"],
    );
    assert!(
        !s.path(".test-cache").exists() || crate::util::files_in(&s.path(".test-cache")).is_empty()
    );
}

/// The bytes of a PNG that declares `w × h` gray pixels and holds none.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // A zlib stream of nothing: no pixel data at all.
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[test]
fn class_names_cannot_drive_the_terminal() {
    let s = Scratch::new();
    write(
        &s.path("data"),
        "classes.txt",
        b"\x1b[2J\x1b]0;owned\x07zero\none\x1b[31m\ntwo\r\n",
    );
    let o = s.run(&["show", "--dataset", "data", "--count", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        !out.contains('\x1b') && !out.contains('\x07') && !out.contains('\r'),
        "{out:?}"
    );
    assert!(out.contains("[2J]0;ownedzero"), "{out}");
}

#[test]
fn labels_imply_no_huge_class_count() {
    let s = Scratch::new();
    let mut labels = idx_u8(&[20], &[0; 20]);
    labels[8 + 7] = 255;
    write(&s.path("data"), "t10k-labels-idx1-ubyte", &labels);
    s.fails(
        &["train", "--dataset", "data", "--quiet"],
        &[
            "t10k-labels-idx1-ubyte: has label 255, which implies 256 classes",
            "at most 100",
            "classes.txt",
        ],
    );
}

#[test]
fn empty_splits_and_non_finite_outputs_are_errors() {
    let s = Scratch::new();
    write(
        &s.path("data"),
        "t10k-images-idx3-ubyte",
        &idx_u8(&[0, 4, 4], &[]),
    );
    write(
        &s.path("data"),
        "t10k-labels-idx1-ubyte",
        &idx_u8(&[0], &[]),
    );
    s.fails(
        &["train", "--dataset", "data", "--quiet"],
        &["t10k-images-idx3-ubyte: holds no images"],
    );
    // A model with huge weights: its outputs overflow.
    let s = Scratch::new();
    let m = s.model("m.safetensors");
    let mut loaded = fastnn::load_model(Path::new(&m)).unwrap();
    let layers: Vec<fastnn::Dense> = loaded
        .network
        .layers()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.weight.iter_mut().for_each(|w| *w = 3e38);
            l
        })
        .collect();
    let arch = loaded.network.architecture().clone();
    let names = loaded.network.class_names().to_vec();
    loaded.network = fastnn::Network::from_parts(arch, layers, names).unwrap();
    fastnn::save_model(Path::new(&m), &loaded.network, &loaded.provenance).unwrap();
    for cmd in [
        &["eval", "--model", &m][..],
        &["predict", "--model", &m, "--index", "0"],
    ] {
        s.fails(cmd, &["m.safetensors", "not finite"]);
    }
}

#[test]
fn divergence_stops_the_run_and_saves_nothing() {
    let s = Scratch::new();
    for (opt, lr) in [("sgd", "1e6"), ("adam", "1e30")] {
        let err = s.fails(
            &[
                "train",
                "--dataset",
                "data",
                "--optimizer",
                opt,
                "--lr",
                lr,
                "--epochs",
                "3",
                "--batch-size",
                "2",
                "--quiet",
                "--save",
                "m",
                "--json",
                "r.json",
                "--checkpoint-dir",
                "ck",
            ],
            &["training diverged"],
        );
        assert!(err.contains("ran away") || err.contains("became"), "{err}");
        assert!(!s.path("m").exists() && !s.path("r.json").exists());
    }
}

/// A safetensors file with its JSON header edited by `edit` (the data,
/// and so the offsets, unchanged).
fn edit_header(bytes: &[u8], edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let mut header = edit(header.trim_end());
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// `text` with the value after the first `key` (up to `end`) replaced.
fn replace_value(text: &str, key: &str, end: char, value: &str) -> String {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
    let stop = at + text[at..].find(end).unwrap();
    format!("{}{value}{}", &text[..at], &text[stop..])
}

#[test]
fn models_and_checkpoints_with_impossible_numbers_are_refused() {
    let s = Scratch::new();
    let o = s.run(&[
        "train",
        "--dataset",
        "data",
        "--epochs",
        "1",
        "--hidden",
        "5",
        "--quiet",
        "--checkpoint-dir",
        "ck",
        "--preprocess",
        "standardize",
        "--save",
        "std.safetensors",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let good = std::fs::read(s.path("ck/epoch-001.safetensors")).unwrap();
    let cases: [(&str, char, &str, &str); 4] = [
        ("\\\"epochs\\\":", ',', "1000000000000", "epochs"),
        (
            "\"optimizer_steps\":\"",
            '"',
            "18446744073709551615",
            "steps",
        ),
        (
            "\"optimizer_steps\":\"",
            '"',
            "1",
            "the optimizer took 1 steps",
        ),
        ("\\\"epoch\\\":", ',', "7", "malformed record of epoch 1"),
    ];
    for (key, end, value, needle) in cases {
        let bad = edit_header(&good, |h| replace_value(h, key, end, value));
        write(s.dir.path(), "bad.safetensors", &bad);
        s.fails(
            &["train", "--resume", "bad.safetensors"],
            &["bad.safetensors", needle],
        );
    }
    // A model whose standardization divides by zero or a negative number.
    let good = std::fs::read(s.path("std.safetensors")).unwrap();
    for std in ["0.0", "-1.0"] {
        let bad = edit_header(&good, |h| replace_value(h, "\\\"std\\\":", '}', std));
        write(s.dir.path(), "bad.safetensors", &bad);
        s.fails(
            &["eval", "--model", "bad.safetensors"],
            &["bad.safetensors", "standard deviation"],
        );
    }
}

#[test]
fn outputs_are_checked_before_the_first_epoch() {
    let s = Scratch::new();
    std::fs::create_dir(s.path("adir")).unwrap();
    write(s.dir.path(), "afile", b"precious");
    for (flag, value, needle) in [
        (
            "--save",
            "nodir/m",
            "nodir/m: cannot be written: its folder nodir does not exist",
        ),
        ("--json", "nodir/r.json", "its folder nodir does not exist"),
        (
            "--save",
            "adir",
            "adir: is a folder; refusing to write over it",
        ),
        (
            "--checkpoint-dir",
            "afile",
            "afile: is a regular file, not a folder",
        ),
        ("--plots", "afile", "afile: is a regular file, not a folder"),
    ] {
        let o = s.run(&["train", "--dataset", "data", "--quiet", flag, value]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains(needle), "{flag} {value}: {err}");
        assert!(!stdout(&o).contains("Epoch"), "{flag}: trained first");
    }
    assert_eq!(std::fs::read(s.path("afile")).unwrap(), b"precious");
}

#[test]
fn outputs_that_are_not_regular_files_are_never_replaced() {
    let s = Scratch::new();
    let m = s.model("m.safetensors");
    // /dev/stdout and /dev/null are written in place.
    let o = s.run(&["eval", "--model", &m, "--json", "/dev/stdout"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("\"accuracy\""), "{}", stdout(&o));
    let o = s.run(&["eval", "--model", &m, "--json", "/dev/null"]);
    assert!(o.status.success());
    assert!(
        Path::new("/dev/null")
            .metadata()
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // A FIFO nobody reads: refused at once, still a FIFO.
    let fifo = s.path("out.fifo");
    mkfifo(&fifo);
    s.fails(
        &["eval", "--model", &m, "--json", &s.s("out.fifo")],
        &["nobody reads"],
    );
    assert!(fifo.metadata().unwrap().file_type().is_fifo());
    // A FIFO with a reader gets the JSON, and stays a FIFO.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    std::thread::sleep(Duration::from_millis(200));
    let o = s.run(&["eval", "--model", &m, "--json", &s.s("out.fifo")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(reader.join().unwrap().contains("\"loss\""));
    assert!(fifo.metadata().unwrap().file_type().is_fifo());
    // A symlink to a file: the file gets the bytes, the link stays a link.
    write(s.dir.path(), "real.json", b"old");
    std::os::unix::fs::symlink(s.path("real.json"), s.path("link.json")).unwrap();
    let o = s.run(&["eval", "--model", &m, "--json", "link.json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::symlink_metadata(s.path("link.json"))
            .unwrap()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(s.path("real.json"))
            .unwrap()
            .contains("\"loss\"")
    );
    // A dangling symlink (planted to create a file elsewhere): refused.
    std::os::unix::fs::symlink(s.path("elsewhere"), s.path("dangling.json")).unwrap();
    s.fails(
        &["eval", "--model", &m, "--json", "dangling.json"],
        &["symlink to nothing"],
    );
    assert!(!s.path("elsewhere").exists());
}

use std::os::unix::fs::FileTypeExt;

#[test]
fn temporary_files_of_killed_runs_are_cleaned_up() {
    let s = Scratch::new();
    std::fs::create_dir(s.path("out")).unwrap();
    // As left by `kill -9` during a save, by a process that is gone.
    let stale = s.path("out/.fastnn-tmp-4194311-abcdef");
    write(&s.path("out"), ".fastnn-tmp-4194311-abcdef", b"partial");
    let o = s.run(&[
        "train",
        "--dataset",
        "data",
        "--epochs",
        "1",
        "--quiet",
        "--save",
        "out/m",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!stale.exists());
    let names: Vec<_> = crate::util::files_in(&s.path("out"));
    assert_eq!(names, [s.path("out/m")]);
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_one_line() {
    let s = Scratch::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fastnn"))
        .args([
            "train",
            "--dataset",
            "data",
            "--epochs",
            "50",
            "--batch-size",
            "1",
        ])
        .current_dir(s.dir.path())
        .env("FASTNN_CACHE", s.path(".test-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("fastnn "), "{first}");
    // The reader is gone (`| head -1`).
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success() || status.code().is_none(),
        "{status}: {err}"
    );
    assert!(err.is_empty(), "{err}");
    // stdout on a full disk.
    let o = Command::new(env!("CARGO_BIN_EXE_fastnn"))
        .args(["data", "info", &s.s("data/train-labels-idx1-ubyte")])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("stdout: No space left on device"), "{err}");
}

#[test]
fn a_corrupt_cache_is_named_by_data_verify() {
    let s = Scratch::new();
    let data = s.path("data");
    let raw = std::fs::read(data.join("t10k-labels-idx1-ubyte")).unwrap();
    write(&data, "t10k-labels-idx1-ubyte.gz", &gzip(&raw));
    std::fs::remove_file(data.join("t10k-labels-idx1-ubyte")).unwrap();
    use sha2::Digest;
    let sum: String = sha2::Sha256::digest(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write(
        &data,
        "SHA256SUMS",
        format!("{sum}  t10k-labels-idx1-ubyte\n").as_bytes(),
    );
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_fastnn"))
            .args(["data", "verify"])
            .env("FASTNN_DATA", &data)
            .env("FASTNN_CACHE", s.path(".test-cache"))
            .output()
            .unwrap()
    };
    let o = verify();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Build the cache, then flip a byte of it (same length).
    let o = s.run(&[
        "show",
        "--dataset",
        "data",
        "--split",
        "test",
        "--count",
        "1",
    ]);
    assert!(o.status.success());
    let gz = data.join("t10k-labels-idx1-ubyte.gz");
    let cache = fastnn::idx_file::cached_path(&gz, &s.path(".test-cache")).unwrap();
    let mut bytes = std::fs::read(&cache).unwrap();
    bytes[9] ^= 1;
    std::fs::write(&cache, &bytes).unwrap();
    let o = verify();
    let out = stdout(&o);
    assert!(!o.status.success());
    assert!(out.contains("the .gz matches, but its cache"), "{out}");
    assert!(out.contains(&cache.display().to_string()), "{out}");
}

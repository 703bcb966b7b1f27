//! The `fastnn` binary: what it prints, exit codes, one-line errors.

use crate::util::{temp_dir, write, write_dataset};
use std::path::Path;
use std::process::{Command, Output};

use crate::util::fastnn;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failure with exactly one line on stderr containing `needle`,
/// and returns that line.
fn fails_with(args: &[&str], needle: &str) -> String {
    let o = fastnn(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The value printed after `label` on its own line.
fn value(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
        .trim()
        .to_string()
}

fn mkdir(parent: &Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_dataset(dir: &Path) -> String {
    write_dataset(dir, 200, 50, 5, 4, 3, true);
    dir.to_str().unwrap().to_string()
}

#[test]
fn train_save_eval_predict_round_trip() {
    let tmp = temp_dir();
    let data = tiny_dataset(&mkdir(tmp.path(), "data"));
    let model = tmp.path().join("m.safetensors");
    let json = tmp.path().join("run.json");
    let o = fastnn(&[
        "train",
        "--dataset",
        &data,
        "--epochs",
        "2",
        "--hidden",
        "8,6",
        "--batch-size",
        "16",
        "--threads",
        "2",
        "--save",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("Epoch 2/2"), "{out}");
    assert!(out.contains("13/13 [="), "{out}");
    assert!(out.contains("Expected:") && out.contains("Guess:"), "{out}");
    assert!(out.contains("gap of"), "{out}");
    let acc = value(&out, "Test accuracy:");
    let loss = value(&out, "Test loss:");

    let text = std::fs::read_to_string(&json).unwrap();
    // f32 settings as written, not widened to f64 (0.0010000000474974513).
    assert!(text.contains("\"lr\": 0.001,"), "{text}");
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(summary["config"]["batch_size"], 16);
    let json_acc = summary["test_accuracy"].as_f64().unwrap();
    assert_eq!(format!("{json_acc:.4}"), acc);

    let o = fastnn(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        &data,
    ]);
    let eval = stdout(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(value(&eval, "Test accuracy:"), acc);
    assert_eq!(value(&eval, "Test loss:"), loss);

    let o = fastnn(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--index",
        "0",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).matches("Expected:").count(), 2);
    fails_with(
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--index",
            "50",
        ],
        "out of range",
    );
}

/// Asserts a usage error as clap reports it: exit status 2, the problem
/// with `needles` in it (every missing argument, every valid value), and
/// the hint, on stderr; nothing on stdout.
fn usage_error(args: &[&str], needles: &[&str]) {
    let o = fastnn(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
    assert!(err.contains("--help"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_flags_give_one_line() {
    fails_with(&["train", "--lr", "-1"], "learning rate");
    fails_with(
        &["train", "--optimizer", "sgd", "--momentum", "1.5"],
        "momentum",
    );
    fails_with(
        &["train", "--momentum", "0.9"],
        "--momentum applies to --optimizer sgd only",
    );
    fails_with(
        &["train", "--dataset", "/nonexistent/data"],
        "/nonexistent/data",
    );
}

#[test]
fn usage_errors_show_clap_s_whole_message() {
    usage_error(
        &["train", "--batch-size", "0"],
        &["--batch-size", "1..=65536"],
    );
    usage_error(&["train", "--hidden", "128,0"], &["--hidden"]);
    usage_error(
        &["train", "--preset", "cifar"],
        &["cifar", "fashion", "mnist"],
    );
    usage_error(&["train", "--threads", "0"], &["--threads"]);
    usage_error(
        &["train", "--kernel", "gpu"],
        &["gpu", "simd", "matrixmultiply"],
    );
    usage_error(&["frobnicate"], &["frobnicate"]);
    // Every missing argument is named, with the usage line.
    usage_error(&["eval"], &["--model <MODEL>", "Usage: fastnn eval"]);
    usage_error(
        &["predict", "--model", "m"],
        &["--index", "--image", "Usage:"],
    );
    // Every valid value is listed.
    usage_error(&["bench", "nope"], &["kernels", "train", "infer"]);
}

#[test]
fn bad_model_files_give_one_line() {
    let tmp = temp_dir();
    let bad = write(
        tmp.path(),
        "bad.safetensors",
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":",
    );
    fails_with(
        &["eval", "--model", bad.to_str().unwrap()],
        "bad.safetensors",
    );
    fails_with(
        &["eval", "--model", "/nonexistent/m.safetensors"],
        "/nonexistent/m.safetensors",
    );
    fails_with(
        &["train", "--resume", "/nonexistent/c.safetensors"],
        "/nonexistent/c.safetensors",
    );
}

#[test]
fn resume_refuses_a_plain_model() {
    let tmp = temp_dir();
    let data = tiny_dataset(&mkdir(tmp.path(), "d"));
    let model = tmp.path().join("m.safetensors");
    let m = model.to_str().unwrap();
    let o = fastnn(&[
        "train",
        "--dataset",
        &data,
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--save",
        m,
    ]);
    assert!(o.status.success());
    fails_with(&["train", "--resume", m], "not a checkpoint");
    // The model takes 5×4 images of 3 classes; MNIST has 28×28 of 10.
    for cmd in ["predict", "eval"] {
        let mut args = vec![cmd, "--model", m, "--dataset", "mnist"];
        if cmd == "predict" {
            args.extend(["--index", "0"]);
        }
        fails_with(&args, "m.safetensors: takes 5x4 images but mnist has 28x28");
    }
    let other = mkdir(tmp.path(), "other");
    write_dataset(&other, 20, 10, 5, 4, 5, false);
    fails_with(
        &[
            "predict",
            "--model",
            m,
            "--dataset",
            other.to_str().unwrap(),
            "--index",
            "0",
        ],
        "has 3 classes but",
    );
}

#[test]
fn checkpoints_resume_to_the_same_model() {
    let tmp = temp_dir();
    let data = tiny_dataset(&mkdir(tmp.path(), "d"));
    let ckpt = tmp.path().join("ckpt");
    let (a, b) = (
        tmp.path().join("a.safetensors"),
        tmp.path().join("b.safetensors"),
    );
    let common = ["--dataset", &data, "--hidden", "7", "--batch-size", "10"];
    let run = |extra: &[&str]| {
        let mut args = vec!["train"];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        let o = fastnn(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["--epochs", "3", "--save", a.to_str().unwrap()]);
    run(&["--epochs", "1", "--checkpoint-dir", ckpt.to_str().unwrap()]);
    let first = ckpt.join("epoch-001.safetensors");
    let o = fastnn(&[
        "train",
        "--resume",
        first.to_str().unwrap(),
        "--epochs",
        "3",
        "--threads",
        "1",
        "--save",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("resuming after epoch 1"), "{out}");
    assert!(
        out.contains("training to 3 epochs (the checkpoint's run planned 1)"),
        "{out}"
    );
    let weights = |p: &Path| {
        let net = fastnn::load_model(p).unwrap().network;
        crate::train::bits(&net)
    };
    assert!(weights(&a) == weights(&b), "resumed model differs");
    // Settings the checkpoint fixes are refused, not ignored; those that
    // agree with it are fine; --lr applies and is said.
    let f = first.to_str().unwrap();
    for (flag, value, said) in [
        ("--hidden", "64", "--hidden 64 (the checkpoint has 7)"),
        (
            "--optimizer",
            "sgd",
            "--optimizer sgd (the checkpoint has adam)",
        ),
        (
            "--activation",
            "tanh",
            "--activation tanh (the checkpoint has relu)",
        ),
        ("--loss", "mse", "--loss mse (the checkpoint has xent)"),
        ("--seed", "7", "--seed 7 (the checkpoint has 42)"),
        (
            "--preset",
            "mnist",
            "--preset mnist (the checkpoint has other settings)",
        ),
        (
            "--batch-size",
            "11",
            "--batch-size 11 (the checkpoint has 10)",
        ),
    ] {
        fails_with(&["train", "--resume", f, flag, value], said);
    }
    let other = tiny_dataset(&mkdir(tmp.path(), "other"));
    fails_with(
        &["train", "--resume", f, "--dataset", &other],
        "differs from the checkpoint's dataset",
    );
    let o = fastnn(&[
        "train", "--resume", f, "--epochs", "2", "--lr", "0.0005", "--hidden", "7",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains("learning rate 0.0005 from here on (the checkpoint's run used 0.001)"),
        "{out}"
    );
    assert!(out.contains("adam lr 0.0005"), "{out}");
}

#[test]
fn data_info_and_verify_on_the_shipped_files() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let images = data.join("fashion/train-images-idx3-ubyte.gz");
    let labels = data.join("mnist/t10k-labels-idx1-ubyte.gz");
    let o = fastnn(&[
        "data",
        "info",
        images.to_str().unwrap(),
        labels.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("60000") && out.contains("28"), "{out}");
    assert!(out.contains("10000"), "{out}");
    // Each file's line names it once.
    let first = out.lines().next().unwrap();
    assert_eq!(
        first.matches("train-images-idx3-ubyte").count(),
        1,
        "{first}"
    );
    assert!(first.starts_with(images.to_str().unwrap()), "{first}");
    let o = fastnn(&["data", "verify"]);
    assert!(
        o.status.success(),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    fails_with(
        &["data", "info", "/nonexistent/x-idx1-ubyte"],
        "/nonexistent/x-idx1-ubyte",
    );
}

#[test]
fn settings_print_as_given() {
    let tmp = temp_dir();
    let data = tiny_dataset(&mkdir(tmp.path(), "data"));
    let o = fastnn(&["train", "--dataset", &data, "--lr", "1e30", "--quiet"]);
    assert!(stdout(&o).contains("adam lr 1e30,"), "{}", stdout(&o));
    let o = fastnn(&[
        "train",
        "--dataset",
        &data,
        "--lr",
        "0.0003",
        "--epochs",
        "1",
    ]);
    assert!(stdout(&o).contains("adam lr 0.0003,"), "{}", stdout(&o));
}

#[test]
fn the_same_run_saves_the_same_bytes() {
    let tmp = temp_dir();
    let data = tiny_dataset(&mkdir(tmp.path(), "data"));
    let run = |name: &str, threads: &str| {
        let (m, ck) = (tmp.path().join(name), tmp.path().join(format!("{name}-ck")));
        let o = fastnn(&[
            "train",
            "--dataset",
            &data,
            "--epochs",
            "2",
            "--quiet",
            "--threads",
            threads,
            "--save",
            m.to_str().unwrap(),
            "--checkpoint-dir",
            ck.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            std::fs::read(m).unwrap(),
            std::fs::read(ck.join("epoch-002.safetensors")).unwrap(),
        )
    };
    let (a, b) = (run("a", "1"), run("b", "2"));
    assert!(a.0 == b.0, "models differ");
    assert!(a.1 == b.1, "checkpoints differ");
}

#[test]
fn models_evaluate_from_any_folder_with_only_the_test_files() {
    let tmp = temp_dir();
    let home = mkdir(tmp.path(), "project");
    write_dataset(&mkdir(&home, "data"), 200, 50, 5, 4, 3, true);
    let run = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fastnn"))
            .args(args)
            .current_dir(cwd)
            .env("FASTNN_CACHE", tmp.path().join("cache"))
            .output()
            .unwrap()
    };
    let o = run(
        &home,
        &["train", "--dataset", "data", "--epochs", "1", "--save", "m"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let acc = value(&stdout(&o), "Test accuracy:");
    // From elsewhere, with the training files gone.
    for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"] {
        std::fs::remove_file(home.join("data").join(f)).unwrap();
    }
    let elsewhere = mkdir(tmp.path(), "elsewhere");
    let model = home.join("m");
    let o = run(&elsewhere, &["eval", "--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(value(&stdout(&o), "Test accuracy:"), acc);
    let o = run(
        &elsewhere,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--index",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn version_names_the_simd_path() {
    let o = fastnn(&["--version"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains(env!("CARGO_PKG_VERSION")) && out.contains("simd"),
        "{out}"
    );
}

#[test]
fn pictures_from_show_predict_and_train() {
    use fastnn::viz::{Labeled, grid_layout};
    use fastnn::{Dataset, DatasetSource, Split};
    let tmp = temp_dir();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();

    // show --out: the grid of the first 7 training images, pixels in place.
    let o = fastnn(&[
        "show",
        "--dataset",
        "fashion",
        "--count",
        "7",
        "--out",
        &p("show.png"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(p("show.png")).unwrap().to_rgb8();
    let ds = Dataset::open(&DatasetSource::Fashion).unwrap();
    let items: Vec<Labeled> = (0..7)
        .map(|i| Labeled::new(ds.image(Split::Train, i), 28, 28, "x"))
        .collect();
    let layout = grid_layout(&items, 5);
    assert_eq!((img.width(), img.height()), (layout.width, layout.height));
    let (x0, y0) = layout.image_origin(0);
    let s = layout.scale;
    // Train image 0, row 7, column 22 is 122.
    assert_eq!(img.get_pixel(x0 + 22 * s, y0 + 7 * s).0, [122, 122, 122]);
    fails_with(&["show", "--start", "60000"], "past the last");

    // train --plots writes four pictures; predict --out and --image work.
    let data = tiny_dataset(&mkdir(tmp.path(), "d"));
    let o = fastnn(&[
        "train",
        "--dataset",
        &data,
        "--epochs",
        "2",
        "--hidden",
        "5",
        "--plots",
        &p("plots"),
        "--save",
        &p("m.safetensors"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "samples.png",
        "predictions.png",
        "curves.png",
        "confusion.png",
    ] {
        let img = image::open(tmp.path().join("plots").join(f)).unwrap();
        assert!(img.width() > 100 && img.height() > 100, "{f}");
    }
    let o = fastnn(&[
        "predict",
        "--model",
        &p("m.safetensors"),
        "--index",
        "1",
        "2",
        "--out",
        &p("pred.png"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("probabilities:"));
    assert!(image::open(p("pred.png")).is_ok());

    // A dark digit on white paper, off-centre, through a 28x28 model.
    let o = fastnn(&[
        "train",
        "--epochs",
        "1",
        "--hidden",
        "4",
        "--quiet",
        "--save",
        &p("f.safetensors"),
    ]);
    assert!(o.status.success());
    let mut paper = image::GrayImage::from_pixel(120, 90, image::Luma([250]));
    for y in 20..70 {
        for x in 70..80 {
            paper.put_pixel(x, y, image::Luma([20]));
        }
    }
    paper.save(p("digit.png")).unwrap();
    let o = fastnn(&[
        "predict",
        "--model",
        &p("f.safetensors"),
        "--image",
        &p("digit.png"),
        "--out",
        &p("card.png"),
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("Guess:") && out.contains("invert"), "{out}");
    assert!(image::open(p("card.png")).is_ok());
    fails_with(
        &[
            "predict",
            "--model",
            &p("m.safetensors"),
            "--image",
            &p("digit.png"),
        ],
        "28x28",
    );
    fails_with(
        &[
            "predict",
            "--model",
            &p("f.safetensors"),
            "--image",
            &p("nothing.png"),
        ],
        "nothing.png",
    );
}

#[test]
fn an_installed_binary_trains_from_any_folder_after_data_install() {
    let tmp = temp_dir();
    let xdg = tmp.path().join("xdg-data");
    let elsewhere = mkdir(tmp.path(), "elsewhere");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fastnn"))
            .args(args)
            .env("XDG_DATA_HOME", &xdg)
            .env_remove("FASTNN_DATA")
            .env_remove("FASTNN_CACHE")
            .current_dir(&elsewhere)
            .output()
            .expect("run fastnn")
    };
    let o = run(&["data", "install"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let user = xdg.join("fastnn");
    assert!(
        stdout(&o).contains(&format!("to {}", user.display())),
        "{}",
        stdout(&o)
    );
    for f in [
        "SHA256SUMS",
        "README.md",
        "mnist/t10k-labels-idx1-ubyte.gz",
        "fashion/train-images-idx3-ubyte.gz",
    ] {
        assert!(user.join(f).is_file(), "{f} installed");
    }
    // The per-user folder comes before the source checkout: a binary whose
    // checkout is gone trains the same way.
    let o = run(&["train", "--preset", "mnist", "--epochs", "1", "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.contains(&user.join("mnist").display().to_string()),
        "{first}"
    );
    assert!(value(&out, "Test accuracy:").parse::<f64>().unwrap() > 0.9);
    let o = run(&["data", "verify"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains(&user.display().to_string()));
    // Installing onto itself is refused.
    let o = run(&["data", "install", "--from", user.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("copied from"));
}

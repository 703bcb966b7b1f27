//! Model files: round trips, checkpoints and resume, and bad files.

use crate::train::{bits, toy};
use fastnn::model::{self, Provenance, checkpoint_path};
use fastnn::nn::Activation;
use fastnn::train::{Inputs, Samples, TrainConfig, Trainer};
use fastnn::{Network, evaluate, predict};
use std::path::Path;

fn names() -> Vec<String> {
    ["left", "right", "top"].map(String::from).to_vec()
}

fn trained(epochs: usize, checkpoints: Option<&Path>) -> (Network, Vec<u8>, Vec<u8>) {
    let (pixels, labels) = toy(300);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cfg = TrainConfig {
        hidden: vec![12, 9],
        activation: Activation::Tanh,
        epochs,
        batch_size: 16,
        checkpoint_dir: checkpoints.map(Path::to_path_buf),
        ..TrainConfig::default()
    };
    let mut net = cfg.build_network(&s, &names()).unwrap();
    Trainer::new(&net, cfg)
        .unwrap()
        .fit(&mut net, &s, None, &mut |_| {})
        .unwrap();
    (net, pixels, labels)
}

#[test]
fn save_load_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (net, pixels, labels) = trained(2, None);
    let prov = Provenance {
        dataset: "toy".into(),
    };
    model::save(&path, &net, &prov).unwrap();
    let loaded = model::load(&path).unwrap();
    assert_eq!(loaded.provenance, prov);
    assert!(loaded.checkpoint.is_none());
    let back = loaded.network;
    assert_eq!(bits(&back), bits(&net));
    assert_eq!(back.architecture(), net.architecture());
    assert_eq!(back.class_names(), names());
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    assert_eq!(evaluate(&back, &s).unwrap(), evaluate(&net, &s).unwrap());
    let idx: Vec<usize> = (0..50).collect();
    assert_eq!(
        predict(&back, Inputs::U8(&pixels), &idx).unwrap(),
        predict(&net, Inputs::U8(&pixels), &idx).unwrap()
    );
    // No temporary file is left beside it.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn resume_reaches_the_same_bits_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, pixels, labels) = trained(3, Some(dir.path()));
    for e in 1..=3 {
        assert!(checkpoint_path(dir.path(), e).exists());
    }
    let loaded = model::load(&checkpoint_path(dir.path(), 1)).unwrap();
    let ckpt = loaded.checkpoint.expect("a checkpoint");
    assert_eq!(ckpt.history.len(), 1);
    let mut net = loaded.network;
    let mut trainer = Trainer::new(&net, ckpt.config).unwrap();
    trainer.restore(ckpt.optimizer, ckpt.history);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    trainer.fit(&mut net, &s, None, &mut |_| {}).unwrap();
    assert_eq!(trainer.epochs_done(), 3);
    assert!(bits(&net) == bits(&straight), "resumed run differs");
}

/// Loads `bytes` written to a file and returns the one-line error.
fn load_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let err = model::load(&path).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    err
}

fn good_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (net, _, _) = trained(1, None);
    model::save(&path, &net, &Provenance::default()).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn bad_model_files_give_one_clear_line() {
    let good = good_bytes();
    assert!(load_error(&good[..good.len() - 10]).contains("not a safetensors file"));
    assert!(load_error(&good[..5]).contains("not a safetensors file"));
    assert!(load_error(b"").contains("not a safetensors file"));
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(load_error(&huge_header).contains("not a safetensors file"));
    let edit = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len(), "edits keep the header length");
        let mut b = good.clone();
        let at = good
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in header"));
        b[at..at + from.len()].copy_from_slice(to.as_bytes());
        b
    };
    let e = load_error(&edit("fastnn-model", "fastnn-mode!"));
    assert!(e.contains("format"), "{e}");
    assert!(load_error(&edit("\"hidden\\\":[12,", "\"hidden\\\":[13,")).contains("shape"));
    assert!(load_error(&edit("layers.1.bias", "layers.7.bias")).contains("layers.1.bias"));
    assert!(load_error(&edit("\"F32\"", "\"I32\"")).contains("not F32"));
    assert!(
        load_error(&edit("format_version\":\"1", "format_version\":\"9")).contains("version 9")
    );
}

#[test]
fn a_missing_model_names_the_file() {
    let err = model::load(Path::new("/nonexistent/model.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/nonexistent/model.safetensors:"), "{err}");
}

#[test]
fn a_failed_write_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, b"precious").unwrap();
    // A folder where the temporary file would go makes the write fail.
    let blocker = dir
        .path()
        .join(format!(".m.safetensors.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    let (net, _, _) = trained(1, None);
    assert!(model::save(&path, &net, &Provenance::default()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn fuzz_seeds_replay() {
    let inputs = crate::util::fuzz_inputs("model_load");
    assert!(inputs.len() >= 5, "seeds of fuzz/seeds/model_load");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| model::fuzz_load(&bytes));
        assert!(result.is_ok(), "{} panics the model loader", path.display());
    }
    // The valid seeds load.
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/model_load");
    assert!(model::load(&seeds.join("valid_784_2_10")).is_ok());
    let ckpt = model::load(&seeds.join("checkpoint_784_2_10")).unwrap();
    assert!(ckpt.checkpoint.is_some());
}

#[test]
fn absurd_architectures_are_refused_before_allocating() {
    // A header promising enormous layers, and no data behind it.
    let arch = |rows: u64, hidden: u64| {
        format!(
            r#"{{"rows":{rows},"cols":{rows},"hidden":[{hidden}],"activation":"relu","classes":3,"loss":"xent","preprocess":{{"kind":"scale"}}}}"#
        )
    };
    for (rows, hidden, needle) in [
        (1u64 << 33, 4u64, "too large"),
        (1000, 1 << 40, "too large"),
        (28, 128, "tensor `layers.0.weight` is missing"),
    ] {
        let meta = std::collections::HashMap::from([
            ("format".to_string(), "fastnn-model".to_string()),
            ("format_version".to_string(), "1".to_string()),
            ("architecture".to_string(), arch(rows, hidden)),
            ("class_names".to_string(), r#"["a","b","c"]"#.to_string()),
        ]);
        let empty: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
        let bytes = safetensors::serialize(empty, Some(meta)).unwrap();
        let err = load_error(&bytes);
        assert!(err.contains(needle), "{rows} {hidden}: {err}");
    }
}

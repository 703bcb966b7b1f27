//! Model files: round trips, checkpoints and resume, and bad files.

use crate::train::{bits, toy};
use crate::util::engine;
use fastnn::model;
use fastnn::{
    Activation, Event, Images, Network, Provenance, Samples, TrainConfig, Trainer, checkpoint_path,
    evaluate, load_model, predict, save_checkpoint, save_model,
};
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
        ..TrainConfig::default()
    };
    let net = cfg.build_network(&s, &names()).unwrap();
    let mut trainer = Trainer::new(&engine(2), net, cfg).unwrap();
    let prov = Provenance::default();
    trainer
        .fit(&s, None, &mut |e| {
            if let (Event::EpochEnd { trainer, .. }, Some(dir)) = (e, checkpoints) {
                save_checkpoint(dir, trainer, &prov)?;
            }
            Ok(())
        })
        .unwrap();
    (trainer.into_network(), pixels, labels)
}

#[test]
fn save_load_gives_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (net, pixels, labels) = trained(2, None);
    let prov = Provenance {
        dataset: "toy".into(),
        labels: None,
    };
    save_model(&path, &net, &prov).unwrap();
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.provenance, prov);
    assert!(loaded.checkpoint.is_none());
    let back = loaded.network;
    assert_eq!(bits(&back), bits(&net));
    assert_eq!(back.architecture(), net.architecture());
    assert_eq!(back.class_names(), names());
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let e = engine(2);
    assert_eq!(
        evaluate(&e, &back, &s).unwrap(),
        evaluate(&e, &net, &s).unwrap()
    );
    let idx: Vec<usize> = (0..50).collect();
    assert_eq!(
        predict(&e, &back, Images::U8(&pixels), &idx).unwrap(),
        predict(&e, &net, Images::U8(&pixels), &idx).unwrap()
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
    let loaded = load_model(&checkpoint_path(dir.path(), 1)).unwrap();
    let ckpt = loaded.checkpoint.expect("a checkpoint");
    assert_eq!(ckpt.history.len(), 1);
    // On another thread count, too.
    let mut trainer = Trainer::resume(&engine(3), loaded.network, ckpt).unwrap();
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    trainer.fit(&s, None, &mut |_| Ok(())).unwrap();
    assert_eq!(trainer.epochs_done(), 3);
    assert!(
        bits(trainer.network()) == bits(&straight),
        "resumed run differs"
    );
}

#[test]
fn a_checkpoint_resumes_only_its_own_network() {
    let dir = tempfile::tempdir().unwrap();
    trained(1, Some(dir.path()));
    let ckpt = load_model(&checkpoint_path(dir.path(), 1)).unwrap();
    let state = ckpt.checkpoint.unwrap();
    // The same settings on a freshly built network of another shape.
    let (pixels, labels) = toy(30);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let mut other = state.config.clone();
    other.hidden = vec![5];
    let net = other.build_network(&s, &names()).unwrap();
    let err = Trainer::resume(&engine(1), net, state).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

/// Loads `bytes` written to a file and returns the one-line error.
fn load_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let err = load_model(&path).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    err
}

fn good_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (net, _, _) = trained(1, None);
    save_model(&path, &net, &Provenance::default()).unwrap();
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
    let err = load_model(Path::new("/nonexistent/model.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/nonexistent/model.safetensors:"), "{err}");
}

#[test]
fn the_same_network_saves_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (net, _, _) = trained(1, Some(dir.path()));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let prov = Provenance {
        dataset: "toy".into(),
        labels: None,
    };
    save_model(&a, &net, &prov).unwrap();
    save_model(&b, &net, &prov).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // And a second identical run gives the same checkpoint bytes.
    let again = tempfile::tempdir().unwrap();
    trained(1, Some(again.path()));
    assert_eq!(
        std::fs::read(checkpoint_path(dir.path(), 1)).unwrap(),
        std::fs::read(checkpoint_path(again.path(), 1)).unwrap()
    );
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
    assert!(load_model(&seeds.join("valid_784_2_10")).is_ok());
    let ckpt = load_model(&seeds.join("checkpoint_784_2_10")).unwrap();
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

/// A prediction's bits depend neither on the engine's threads nor on the
/// batch it is made in: small batches run on the caller's thread, large
/// ones split over the pool (`Engine::run`).
#[test]
fn predictions_agree_bit_for_bit_across_threads_and_batches() {
    let (n, k) = (700usize, 784usize);
    let mut state = 7u32;
    let pixels: Vec<u8> = (0..n * k)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let s = Samples::from_u8(&pixels, &labels, 28, 28);
    let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let net = TrainConfig::default().build_network(&s, &classes).unwrap();
    let all: Vec<usize> = (0..n).collect();
    let want = predict(&engine(1), &net, Images::U8(&pixels), &all).unwrap();
    let as_bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for threads in [1, 2, 3] {
        let e = engine(threads);
        let batch = predict(&e, &net, Images::U8(&pixels), &all).unwrap();
        assert_eq!(batch, want, "{threads} threads, one batch of {n}");
        for i in [0, 1, 350, n - 1] {
            let one = predict(&e, &net, Images::U8(&pixels), &[i]).unwrap();
            assert_eq!(
                as_bits(&one[0]),
                as_bits(&want[i]),
                "image {i}, {threads} threads"
            );
        }
        let ev = evaluate(&e, &net, &s).unwrap();
        assert_eq!(
            ev,
            evaluate(&engine(1), &net, &s).unwrap(),
            "{threads} threads"
        );
    }
}

//! The presets on the shipped data: the tutorial presets' accuracy against
//! the recorded Keras and PyTorch reference runs
//! (benches/reference/results.json, made by benches/reference/run_all.sh),
//! the speed-run presets' against their own recorded runs
//! (benches/presets/results.json), and bitwise determinism across threads.

use crate::train::bits;
use crate::util::engine;
use fastnn::{Dataset, DatasetSource, Preset, TrainConfig, Trainer, evaluate};

/// Mean test accuracy of the corrected (single softmax) reference runs of
/// each framework for `preset`.
fn reference_means(preset: &str) -> Vec<(String, f64)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/results.json"
    );
    let text = std::fs::read_to_string(path).expect("reference results are committed");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let means: Vec<(String, f64)> = json["summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["preset"] == preset && s["variant"] == "corrected" && s["batch_size"] == 32)
        .map(|s| {
            let name = s["framework"].as_str().unwrap().to_string();
            (name, s["test_accuracy_mean"].as_f64().unwrap())
        })
        .collect();
    assert!(
        means.len() >= 2,
        "Keras and PyTorch references for {preset}"
    );
    means
}

/// The test accuracies of `preset` trained with seeds 1, 2, 3 on all
/// threads (its full settings, on the whole training set).
fn test_accuracies(preset: Preset, source: &DatasetSource) -> Vec<f64> {
    let ds = Dataset::open(source).unwrap();
    let (train, test) = (ds.train(), ds.test());
    let engine = fastnn::Engine::all_cores().unwrap();
    (1..=3)
        .map(|seed| {
            let cfg = TrainConfig::preset(preset).seed(seed);
            let net = cfg.build_network(&train, ds.classes()).unwrap();
            let mut trainer = Trainer::new(&engine, net, cfg).unwrap();
            trainer.fit(&train, None, &mut |_| Ok(())).unwrap();
            evaluate(&engine, trainer.network(), &test)
                .unwrap()
                .accuracy
        })
        .collect()
}

/// Trains `preset` with seeds 1, 2, 3 (its full epochs, batch 32, all
/// threads) and checks the mean test accuracy against every reference mean
/// minus half a point.
fn matches_references(preset: Preset, name: &str, source: DatasetSource) {
    let references = reference_means(name);
    let accs = test_accuracies(preset, &source);
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    for (framework, reference) in references {
        eprintln!("{name}: fastnn {mean:.4} {accs:?}, {framework} {reference:.4}");
        assert!(
            mean >= reference - 0.005,
            "{name}: fastnn's mean {mean:.4} ({accs:?}) is more than 0.5 points below {framework}'s {reference:.4}"
        );
    }
}

#[test]
fn fashion_preset_matches_keras_and_pytorch() {
    matches_references(Preset::Fashion, "fashion", DatasetSource::Fashion);
}

#[test]
fn mnist_preset_matches_keras_and_pytorch() {
    matches_references(Preset::Mnist, "mnist", DatasetSource::Mnist);
}

/// `steps` batches of `preset` on the real data with `threads` threads.
fn weights_after(
    preset: Preset,
    source: &DatasetSource,
    batch: usize,
    images: usize,
    threads: usize,
) -> Vec<u32> {
    let ds = Dataset::open(source).unwrap();
    let train = ds.train().range(0, images);
    let mut cfg = TrainConfig::preset(preset);
    cfg.batch_size = batch;
    cfg.epochs = 1;
    let net = cfg.build_network(&train, ds.classes()).unwrap();
    let mut trainer = Trainer::new(&engine(threads), net, cfg).unwrap();
    trainer.fit(&train, None, &mut |_| Ok(())).unwrap();
    bits(trainer.network())
}

#[test]
fn presets_give_the_same_bits_for_1_2_3_4_and_8_threads() {
    for (preset, source, batch, images) in [
        (Preset::Fashion, DatasetSource::Fashion, 32, 6000),
        (Preset::Fashion, DatasetSource::Fashion, 256, 6000),
        (Preset::Mnist, DatasetSource::Mnist, 32, 640),
        (Preset::Mnist, DatasetSource::Mnist, 256, 1000),
    ] {
        let one = weights_after(preset, &source, batch, images, 1);
        for threads in [2, 3, 4, 8] {
            let other = weights_after(preset, &source, batch, images, threads);
            assert!(
                one == other,
                "{preset:?} batch {batch}: {threads} threads differ from 1"
            );
        }
    }
}

/// The recorded results of a speed-run preset
/// (benches/presets/results.json, made by benches/presets/record.py): its
/// target and its test accuracy mean over seeds 1-3.
fn recorded(preset: &str) -> (f64, f64) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/presets/results.json");
    let text = std::fs::read_to_string(path).expect("speed-run results are committed");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = json["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["preset"] == preset)
        .unwrap_or_else(|| panic!("{preset} is recorded"));
    let f = |k: &str| entry[k].as_f64().unwrap();
    (f("target_test_accuracy"), f("test_accuracy_mean"))
}

/// Trains the speed-run `preset` with seeds 1, 2, 3 on all threads and
/// checks the mean test accuracy against the recorded mean minus half a
/// point (the recording itself must meet the preset's target).
fn speed_run_matches_its_record(preset: Preset, source: DatasetSource) {
    let (target, mean_recorded) = recorded(preset.name());
    assert!(
        mean_recorded >= target,
        "{}: recorded {mean_recorded:.4} is below the target {target}",
        preset.name()
    );
    let accs = test_accuracies(preset, &source);
    let mean = accs.iter().sum::<f64>() / 3.0;
    eprintln!(
        "{}: {mean:.4} {accs:?}, recorded {mean_recorded:.4}",
        preset.name()
    );
    assert!(
        mean >= mean_recorded - 0.005,
        "{}: mean {mean:.4} ({accs:?}) is more than 0.5 points below the recorded {mean_recorded:.4}",
        preset.name()
    );
}

#[test]
fn fashion_best_reaches_its_recorded_accuracy() {
    speed_run_matches_its_record(Preset::FashionBest, DatasetSource::Fashion);
}

#[test]
fn mnist_best_reaches_its_recorded_accuracy() {
    speed_run_matches_its_record(Preset::MnistBest, DatasetSource::Mnist);
}

//! Using fastnn as a library: train the `fashion` preset on the shipped
//! Fashion-MNIST for one epoch, then on arrays of your own, evaluate,
//! predict, save and reload. Only root-level items, and one engine for the
//! threads.
//!
//! `cargo run --release --example embed`

use fastnn::{
    Dataset, DatasetSource, Engine, Images, Preset, Provenance, Samples, Split, TrainConfig,
    Trainer, argmax, evaluate, load_model, predict, save_model,
};

fn main() -> fastnn::Result<()> {
    // All cores; `Engine::new(4)` for four threads. Results are the same bits
    // for any thread count.
    let engine = Engine::all_cores()?;

    // 1. A shipped dataset, memory-mapped: no f32 copy of the images.
    let ds = Dataset::open(&DatasetSource::Fashion)?;
    let (train, test) = (ds.train(), ds.test());
    let mut config = TrainConfig::preset(Preset::Fashion).seed(1);
    config.epochs = 1;
    let net = config.build_network(&train, ds.classes())?;
    let mut trainer = Trainer::new(&engine, net, config)?;
    trainer.fit(&train, None, &mut |_event| Ok(()))?;
    let net = trainer.into_network();
    let eval = evaluate(&engine, &net, &test)?;
    println!("fashion, 1 epoch: test accuracy {:.4}", eval.accuracy);

    let probs = predict(&engine, &net, Images::U8(ds.pixels(Split::Test)), &[0])?;
    let guess = argmax(&probs[0]);
    println!(
        "test image 0 is a {}; the network says {} ({:.1}%)",
        ds.classes()[ds.label(Split::Test, 0) as usize],
        ds.classes()[guess],
        probs[0][guess] * 100.0
    );

    // 2. Your own f32 data (here: noisy horizontal vs vertical bars, 8×8).
    let n = 2000;
    let mut values = vec![0.0f32; n * 64];
    let mut labels = vec![0u8; n];
    for i in 0..n {
        labels[i] = (i % 2) as u8;
        let line = (i * 7) % 8;
        for p in 0..64 {
            let (r, c) = (p / 8, p % 8);
            let on = if labels[i] == 0 { r == line } else { c == line };
            let noise = ((i * 131 + p * 17) % 97) as f32 / 500.0;
            values[i * 64 + p] = if on { 1.0 } else { 0.0 } + noise;
        }
    }
    let mine = Samples::from_f32(&values, &labels, 8, 8);
    let config = TrainConfig {
        hidden: vec![32],
        epochs: 5,
        ..TrainConfig::default()
    };
    let bars = config.build_network(&mine, &["horizontal".into(), "vertical".into()])?;
    let mut trainer = Trainer::new(&engine, bars, config)?;
    trainer.fit(&mine, None, &mut |_| Ok(()))?;
    println!("bars: accuracy {:.4}", trainer.evaluate(&mine)?.accuracy);

    // 3. Save and reload (safetensors, readable from Python too).
    let path = std::env::temp_dir().join("fastnn-embed-example.safetensors");
    let provenance = Provenance {
        dataset: "fashion".into(),
        labels: None,
    };
    save_model(&path, &net, &provenance)?;
    let back = load_model(&path)?.network;
    println!(
        "reloaded from {}: test accuracy {:.4}",
        path.display(),
        evaluate(&engine, &back, &test)?.accuracy
    );
    Ok(())
}

//! Using fastnn as a library: train the `fashion` preset on the shipped
//! Fashion-MNIST for one epoch, then on arrays of your own, evaluate,
//! predict, save and reload.
//!
//! `cargo run --release --example embed`

use fastnn::train::{Inputs, Preset, Samples, TrainConfig, Trainer};
use fastnn::{Dataset, DatasetSource, evaluate, model, predict};

fn main() -> fastnn::Result<()> {
    // 1. A shipped dataset, memory-mapped: no f32 copy of the images.
    let ds = Dataset::open(&DatasetSource::Fashion)?;
    let (train, test) = (ds.train(), ds.test());
    let train = Samples::from_u8(train.pixels(), train.labels(), train.rows(), train.cols());
    let test_samples = Samples::from_u8(test.pixels(), test.labels(), test.rows(), test.cols());

    let mut config = TrainConfig::preset(Preset::Fashion).seed(1);
    config.epochs = 1;
    let mut net = config.build_network(&train, ds.classes())?;
    let mut trainer = Trainer::new(&net, config)?;
    trainer.fit(&mut net, &train, None, &mut |_| {})?;
    let eval = evaluate(&net, &test_samples)?;
    println!("fashion, 1 epoch: test accuracy {:.4}", eval.accuracy);

    let probs = predict(&net, Inputs::U8(test.pixels()), &[0])?;
    let guess = fastnn::kernels::eltwise::argmax(&probs[0]);
    println!(
        "test image 0 is a {}; the network says {} ({:.1}%)",
        ds.classes()[test.label(0) as usize],
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
    let mut bars = config.build_network(&mine, &["horizontal".into(), "vertical".into()])?;
    Trainer::new(&bars, config)?.fit(&mut bars, &mine, None, &mut |_| {})?;
    println!("bars: accuracy {:.4}", evaluate(&bars, &mine)?.accuracy);

    // 3. Save and reload (safetensors, readable from Python too).
    let path = std::env::temp_dir().join("fastnn-embed-example.safetensors");
    model::save(
        &path,
        &net,
        &model::Provenance {
            dataset: "fashion".into(),
        },
    )?;
    let back = model::load(&path)?.network;
    println!(
        "reloaded from {}: test accuracy {:.4}",
        path.display(),
        evaluate(&back, &test_samples)?.accuracy
    );
    Ok(())
}

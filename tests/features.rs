//! The training features beyond the tutorial: validation, early stopping,
//! learning-rate schedules, regularization, dropout, augmentation, the
//! other optimizers, gradient clipping, metrics and the per-epoch log; from
//! the library and from the command line.

use crate::train::{bits, toy};
use crate::util::{engine, temp_dir, write_dataset};
use fastnn::nn::{Augment, Elastic, Transform, gaussian_kernel};
use fastnn::{
    Activation, EarlyStopping, Event, Monitor, Network, OptimizerConfig, OptimizerKind, Provenance,
    Samples, Schedule, SgdConfig, TrainConfig, TrainOptions, Trainer, checkpoint_path, evaluate,
    load_model, save_checkpoint, training_part,
};
use std::process::{Command, Output};

fn names() -> Vec<String> {
    ["left", "right", "top"].map(String::from).to_vec()
}

fn config(hidden: Vec<usize>, epochs: usize, batch: usize) -> TrainConfig {
    TrainConfig {
        hidden,
        epochs,
        batch_size: batch,
        ..TrainConfig::default()
    }
}

/// A trainer for `cfg` on `s`, fitted with `validation`, on `threads`.
fn fit(cfg: &TrainConfig, s: &Samples, validation: Option<&Samples>, threads: usize) -> Trainer {
    let net = cfg.build_network(s, &names()).unwrap();
    let mut trainer = Trainer::new(&engine(threads), net, cfg.clone()).unwrap();
    trainer.fit(s, validation, &mut |_| Ok(())).unwrap();
    trainer
}

/// Whether `cfg` gives the same bits on 1, 2, 3, 4 and 8 threads.
fn same_bits_on_any_thread_count(cfg: &TrainConfig, s: &Samples) -> Vec<u32> {
    let one = bits(fit(cfg, s, None, 1).network());
    for t in [2, 3, 4, 8] {
        assert!(
            one == bits(fit(cfg, s, None, t).network()),
            "{t} threads differ from 1: {:?}",
            cfg.extras()
        );
    }
    one
}

#[test]
fn schedule_values() {
    let step: Schedule = "step:every=2,gamma=0.5".parse().unwrap();
    let f = |s: &Schedule, t: u64| s.factor(t, 10, 5);
    assert_eq!(
        (f(&step, 0), f(&step, 19), f(&step, 20), f(&step, 45)),
        (1.0, 1.0, 0.5, 0.25)
    );
    let exp: Schedule = "exponential:gamma=0.9".parse().unwrap();
    // (gamma is an f32: 0.9 to 7 digits.)
    assert!((f(&exp, 10) - 0.9).abs() < 1e-7 && (f(&exp, 5) - 0.9f64.sqrt()).abs() < 1e-7);
    let cos: Schedule = "cosine:warmup=1".parse().unwrap();
    let c = |t| cos.factor(t, 10, 3);
    assert!((c(0) - 0.1).abs() < 1e-12 && (c(9) - 1.0).abs() < 1e-12 && c(10) == 1.0);
    let end = 0.5 * (1.0 + (0.95 * std::f64::consts::PI).cos());
    assert!((c(29) - end).abs() < 1e-12, "{}", c(29));
    assert!((c(20) - 0.5).abs() < 1e-12, "half way down: {}", c(20));
    let one: Schedule = "one-cycle".parse().unwrap();
    let o = |t| one.factor(t, 10, 10);
    assert!((o(0) - 0.04).abs() < 1e-12);
    assert!(
        (o(29) - 1.0).abs() < 1e-12,
        "peak after 30% of 100 steps: {}",
        o(29)
    );
    assert!((o(99) - 0.04 / 1e4).abs() < 1e-12, "{}", o(99));
    assert!(
        (1..100).all(|t| (t <= 29) == (o(t) >= o(t - 1))),
        "rises, then falls"
    );
    assert_eq!(Schedule::Constant.factor(123, 7, 3), 1.0);
    for bad in [
        "bogus",
        "cosine:foo=1",
        "step:gamma=2",
        "step:every",
        "one-cycle:pct=1",
    ] {
        assert!(bad.parse::<Schedule>().is_err(), "{bad}");
    }
    assert_eq!(step.to_string().parse::<Schedule>().unwrap(), step);
}

#[test]
fn a_schedule_sets_each_steps_rate_and_survives_resume() {
    let (pixels, labels) = toy(300);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let mut cfg = config(vec![12], 4, 32);
    cfg.schedule = "cosine:warmup=1,min=0.1".parse().unwrap();
    let dir = temp_dir();
    let net = cfg.build_network(&s, &names()).unwrap();
    let mut straight = Trainer::new(&engine(2), net, cfg.clone()).unwrap();
    let prov = Provenance::default();
    straight
        .fit(&s, None, &mut |e| {
            if let Event::EpochEnd { trainer, .. } = e {
                save_checkpoint(dir.path(), trainer, &prov)?;
            }
            Ok(())
        })
        .unwrap();
    let steps = 300usize.div_ceil(32);
    for e in straight.history() {
        let last = (e.epoch * steps - 1) as u64;
        let want = 1e-3f32 as f64 * cfg.schedule.factor(last, steps, 4);
        assert!((e.lr.unwrap() - want).abs() < 1e-12, "{e:?}");
    }
    // Resumed after epoch 2, on another thread count: the same bits.
    let loaded = load_model(&checkpoint_path(dir.path(), 2)).unwrap();
    let state = loaded.checkpoint.unwrap();
    assert_eq!(state.config.schedule, cfg.schedule);
    let mut resumed = Trainer::resume(&engine(3), loaded.network, state).unwrap();
    resumed.fit(&s, None, &mut |_| Ok(())).unwrap();
    assert!(bits(resumed.network()) == bits(straight.network()));
    assert_eq!(resumed.history()[3].lr, straight.history()[3].lr);
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let (pixels, labels) = toy(600);
    let train = Samples::from_u8(&pixels[..300 * 36], &labels[..300], 6, 6);
    // Validation images labelled at random: the better the network fits
    // the training classes, the worse its validation loss.
    let wrong: Vec<u8> = labels[300..].iter().map(|&l| (l + 1 + l % 2) % 3).collect();
    let val = Samples::from_u8(&pixels[300 * 36..], &wrong, 6, 6);
    let mut cfg = config(vec![16], 30, 16);
    cfg.early_stopping = Some(EarlyStopping {
        patience: 2,
        monitor: Monitor::ValLoss,
        min_delta: 0.0,
        restore_best: true,
    });
    let net = cfg.build_network(&train, &names()).unwrap();
    let mut trainer = Trainer::new(&engine(2), net, cfg.clone()).unwrap();
    let mut per_epoch = Vec::new();
    trainer
        .fit(&train, Some(&val), &mut |e| {
            if let Event::EpochEnd { trainer, .. } = e {
                per_epoch.push(bits(trainer.network()));
            }
            Ok(())
        })
        .unwrap();
    let history = trainer.history();
    let losses: Vec<f64> = history.iter().map(|e| e.val_loss.unwrap()).collect();
    let best = (0..losses.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .unwrap();
    let report = trainer.stop_report().unwrap().clone();
    assert!(report.stopped_early, "{losses:?}");
    assert_eq!(report.best_epoch, best + 1, "{losses:?}");
    assert_eq!(report.last_epoch, best + 1 + 2, "patience 2 after the best");
    assert_eq!(history.len(), report.last_epoch);
    assert!(report.restored);
    assert!(
        bits(trainer.network()) == per_epoch[best],
        "the best epoch's weights"
    );
    assert!(
        report
            .to_string()
            .contains(&format!("kept the weights of epoch {}", best + 1))
    );
    // Without restoring, the last epoch's weights stay.
    cfg.early_stopping.as_mut().unwrap().restore_best = false;
    let last = fit(&cfg, &train, Some(&val), 1);
    assert!(bits(last.network()) == *per_epoch.last().unwrap());
    // A validation metric needs validation samples.
    let net = cfg.build_network(&train, &names()).unwrap();
    let mut t = Trainer::new(&engine(1), net, cfg).unwrap();
    let err = t.fit(&train, None, &mut |_| Ok(())).unwrap_err();
    assert!(
        err.to_string().contains("needs validation samples"),
        "{err}"
    );
}

#[test]
fn dropout_gives_the_same_bits_on_any_thread_count() {
    let (pixels, labels) = toy(500);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    for (act, batch) in [
        (Activation::Relu, 32),
        (Activation::Tanh, 7),
        (Activation::Relu, 200),
    ] {
        let mut cfg = config(vec![150, 33], 2, batch);
        cfg.activation = act;
        cfg.dropout = vec![0.3, 0.1];
        let with = same_bits_on_any_thread_count(&cfg, &s);
        cfg.dropout = vec![0.0, 0.0];
        let zero = bits(fit(&cfg, &s, None, 2).network());
        cfg.dropout = Vec::new();
        assert!(
            zero == bits(fit(&cfg, &s, None, 2).network()),
            "rate 0 is no dropout"
        );
        assert!(with != zero, "dropout changes training");
    }
}

#[test]
fn dropout_and_regularization_still_learn() {
    let (pixels, labels) = toy(600);
    let train = Samples::from_u8(&pixels[..480 * 36], &labels[..480], 6, 6);
    let test = Samples::from_u8(&pixels[480 * 36..], &labels[480..], 6, 6);
    let mut cfgs = Vec::new();
    for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        let mut c = config(vec![32], 10, 8);
        c.activation = act;
        c.dropout = vec![0.2];
        cfgs.push(c);
    }
    let mut c = config(vec![32], 10, 8);
    c.l2 = 1e-3;
    c.weight_decay = 1e-2;
    cfgs.push(c);
    for kind in [
        OptimizerKind::AdamW,
        OptimizerKind::Nesterov,
        OptimizerKind::RmsProp,
    ] {
        let mut c = config(vec![32], 10, 8);
        c.optimizer = kind.default_config();
        if kind == OptimizerKind::Nesterov {
            c.optimizer = c.optimizer.with_lr(0.05);
        }
        c.weight_decay = 1e-3;
        c.clip_norm = Some(1.0);
        cfgs.push(c);
    }
    for cfg in &cfgs {
        let t = fit(cfg, &train, None, 2);
        let acc = evaluate(&engine(2), t.network(), &test).unwrap().accuracy;
        assert!(acc > 0.95, "{:?} {:?}: {acc}", cfg.optimizer, cfg.extras());
    }
}

#[test]
fn regularization_optimizers_and_clipping_give_the_same_bits_on_any_thread_count() {
    let (pixels, labels) = toy(400);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let variants: [fn(&mut TrainConfig); 7] = [
        |c| c.l2 = 1e-2,
        |c| c.optimizer = OptimizerKind::AdamW.default_config(),
        |c| c.weight_decay = 0.1,
        |c| c.optimizer = OptimizerKind::Nesterov.default_config(),
        |c| c.optimizer = OptimizerKind::RmsProp.default_config(),
        |c| c.clip_norm = Some(0.5),
        |c| c.schedule = "one-cycle".parse().unwrap(),
    ];
    for set in variants {
        // 300 × 40 weights: the first layer's update splits over threads.
        let mut cfg = config(vec![1100, 40], 2, 64);
        set(&mut cfg);
        same_bits_on_any_thread_count(&cfg, &s);
    }
}

#[test]
fn l2_and_weight_decay_shrink_the_weights() {
    let (pixels, labels) = toy(300);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let norm = |net: &Network| -> f64 {
        net.layers()
            .iter()
            .flat_map(|l| l.weight.iter())
            .map(|&w| (w as f64).powi(2))
            .sum()
    };
    let plain = norm(fit(&config(vec![20], 5, 16), &s, None, 1).network());
    for set in [
        |c: &mut TrainConfig| c.l2 = 2.0,
        |c: &mut TrainConfig| c.weight_decay = 3.0,
    ] {
        let mut cfg = config(vec![20], 5, 16);
        set(&mut cfg);
        let n = norm(fit(&cfg, &s, None, 1).network());
        assert!(n < 0.9 * plain, "{:?}: {n} vs {plain}", cfg.extras());
    }
}

#[test]
fn clipping_scales_the_step_to_the_norm() {
    let (pixels, labels) = toy(64);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let mut cfg = config(vec![10], 1, 64);
    cfg.optimizer = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.1,
        momentum: 0.0,
    });
    cfg.clip_norm = Some(0.01);
    let net = cfg.build_network(&s, &names()).unwrap();
    let before = net.clone();
    let after = fit(&cfg, &s, None, 2);
    let moved: f64 = before
        .layers()
        .iter()
        .zip(after.network().layers())
        .flat_map(|(a, b)| {
            let w = a.weight.iter().zip(b.weight.iter());
            w.chain(a.bias.iter().zip(b.bias.iter()))
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .collect::<Vec<_>>()
        })
        .sum::<f64>()
        .sqrt();
    assert!((moved / 0.1 - 0.01).abs() < 1e-5, "{moved}");
    // A norm never reached changes nothing: the bits of no clipping.
    cfg.clip_norm = Some(1e30);
    cfg.optimizer = TrainConfig::default().optimizer;
    cfg.epochs = 3;
    cfg.batch_size = 16;
    let clipped = bits(fit(&cfg, &s, None, 2).network());
    cfg.clip_norm = None;
    assert!(clipped == bits(fit(&cfg, &s, None, 2).network()));
}

/// A 4×4 image with pixels 10, 20, …, 160.
fn known_image() -> Vec<u8> {
    (1..=16).map(|v| v * 10).collect()
}

fn transformed(t: &Transform, src: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let mut dst = vec![0; rows * cols];
    let kernel = t
        .elastic
        .map_or(Vec::new(), |(e, _)| gaussian_kernel(e.sigma));
    let mut scratch = vec![0.0; 3 * rows * cols];
    t.apply(src, rows, cols, &mut dst, &mut scratch, &kernel);
    dst
}

#[test]
fn augmentation_output_pixels_on_a_known_image() {
    let img = known_image();
    let id = Transform::identity();
    assert_eq!(transformed(&id, &img, 4, 4), img);
    let flip = Transform { flip: true, ..id };
    assert_eq!(
        transformed(&flip, &img, 4, 4),
        [
            40, 30, 20, 10, 80, 70, 60, 50, 120, 110, 100, 90, 160, 150, 140, 130
        ]
    );
    // One pixel right and one up: black enters on the left and the bottom.
    let shift = Transform {
        dx: 1.0,
        dy: -1.0,
        ..id
    };
    assert_eq!(
        transformed(&shift, &img, 4, 4),
        [0, 50, 60, 70, 0, 90, 100, 110, 0, 130, 140, 150, 0, 0, 0, 0]
    );
    // A quarter turn (clockwise on screen, y down) of a 3×3 image.
    let img3: Vec<u8> = (1..=9).map(|v| v * 10).collect();
    let quarter = Transform {
        angle: std::f32::consts::FRAC_PI_2,
        ..id
    };
    assert_eq!(
        transformed(&quarter, &img3, 3, 3),
        [70, 40, 10, 80, 50, 20, 90, 60, 30]
    );
    // Half a pixel right: each pixel the mean of two neighbours, rounded.
    let half = Transform { dx: 0.5, ..id };
    assert_eq!(transformed(&half, &img, 4, 4)[..4], [5, 15, 25, 35]);
    // Twice the size about the centre (1.5, 1.5): the middle 2×2 spread out.
    let zoom = Transform { scale: 2.0, ..id };
    let z = transformed(&zoom, &img, 4, 4);
    assert_eq!(
        z[5],
        ((60.0 * 0.5625 + 70.0 * 0.1875 + 100.0 * 0.1875 + 110.0 * 0.0625) + 0.5) as u8
    );
    // Elastic with a zero scale moves nothing; with one, it moves pixels.
    let still = Transform {
        elastic: Some((
            Elastic {
                alpha: 0.0,
                sigma: 1.0,
            },
            7,
        )),
        ..id
    };
    assert_eq!(transformed(&still, &img, 4, 4), img);
    let digit: Vec<u8> = (0..28 * 28)
        .map(|p| if (p % 28) / 4 == 3 { 255 } else { 0 })
        .collect();
    let bent = Transform {
        elastic: Some((
            Elastic {
                alpha: 34.0,
                sigma: 4.0,
            },
            7,
        )),
        ..id
    };
    let out = transformed(&bent, &digit, 28, 28);
    assert_ne!(out, digit);
    assert_eq!(out, transformed(&bent, &digit, 28, 28), "a pure function");
}

#[test]
fn augmentation_draws_are_keyed_and_bounded() {
    let a: Augment = "shift=2,rotate=10,scale=0.1,shear=5,flip".parse().unwrap();
    assert_eq!(a.draw(1, 2, 3), a.draw(1, 2, 3));
    assert_ne!(a.draw(1, 2, 3), a.draw(1, 3, 3), "another epoch");
    assert_ne!(a.draw(1, 2, 3), a.draw(1, 2, 4), "another image");
    let deg = std::f32::consts::PI / 180.0;
    let draws: Vec<Transform> = (0..2000).map(|i| a.draw(9, 0, i)).collect();
    for t in &draws {
        assert!(t.dx.abs() <= 2.0 && t.dy.abs() <= 2.0);
        assert!(t.angle.abs() <= 10.0 * deg && t.shear.abs() <= 5.0 * deg);
        assert!((0.9..=1.1).contains(&t.scale));
    }
    let flips = draws.iter().filter(|t| t.flip).count();
    assert!((900..1100).contains(&flips), "{flips}");
    let shifts: Augment = "shift=2".parse().unwrap();
    for i in 0..200 {
        let t = shifts.draw(1, 0, i);
        assert!(t.dx.fract() == 0.0 && t.dy.fract() == 0.0 && !t.flip && t.angle == 0.0);
    }
    let e: Augment = "elastic".parse().unwrap();
    assert_eq!(
        e.elastic,
        Some(Elastic {
            alpha: 34.0,
            sigma: 4.0
        })
    );
    assert_eq!(a.to_string().parse::<Augment>().unwrap(), a);
    for bad in ["spin=3", "shift=x", "elastic=3", "rotate=400"] {
        assert!(bad.parse::<Augment>().is_err(), "{bad}");
    }
}

#[test]
fn augmented_training_gives_the_same_bits_on_any_thread_count() {
    let (pixels, labels) = toy(300);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    for spec in [
        "shift=1,flip",
        "rotate=15,scale=0.1,shear=5,shift=0.5",
        "elastic=3:1",
    ] {
        let mut cfg = config(vec![40], 2, 32);
        cfg.augment = spec.parse().unwrap();
        let with = same_bits_on_any_thread_count(&cfg, &s);
        cfg.augment = Augment::default();
        assert!(
            with != bits(fit(&cfg, &s, None, 1).network()),
            "{spec} changes training"
        );
    }
    // f32 samples cannot be augmented.
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32).collect();
    let f = Samples::from_f32(&values, &labels, 6, 6);
    let mut cfg = config(vec![8], 1, 32);
    cfg.augment = "flip".parse().unwrap();
    let net = cfg.build_network(&f, &names()).unwrap();
    let mut t = Trainer::new(&engine(1), net, cfg).unwrap();
    assert!(t.fit(&f, None, &mut |_| Ok(())).is_err());
}

#[test]
fn evaluation_reports_per_class_metrics_and_top_k() {
    let (pixels, labels) = toy(300);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let t = fit(&config(vec![4], 1, 64), &s, None, 1);
    let e = evaluate(&engine(2), t.network(), &s).unwrap();
    assert_eq!(e.per_class.len(), 3);
    for (c, m) in e.per_class.iter().enumerate() {
        let hit = e.confusion[c][c] as f64;
        let predicted: u32 = e.confusion.iter().map(|r| r[c]).sum();
        assert_eq!(m.support, e.confusion[c].iter().sum::<u32>());
        assert_eq!(m.recall, hit / m.support as f64);
        assert_eq!(
            m.precision,
            if predicted == 0 {
                0.0
            } else {
                hit / predicted as f64
            }
        );
    }
    assert_eq!(e.top_k.iter().map(|t| t.k).collect::<Vec<_>>(), [2]);
    assert!(e.top_k[0].accuracy >= e.accuracy);
    let report = e.report(&names()).to_string();
    assert!(
        report.contains("precision") && report.contains("top-2 accuracy"),
        "{report}"
    );
    assert!(report.lines().any(|l| l.starts_with("right")), "{report}");
}

#[test]
fn the_validation_split_is_the_end_of_the_training_set() {
    assert_eq!(training_part(60_000, 0.1), 54_000);
    assert_eq!(training_part(60_000, 0.2), 48_000);
    assert_eq!(training_part(10, 0.25), 7);
    assert_eq!(training_part(100, 0.0), 100);
}

/// The standard output of a run that must have succeeded.
fn succeeds(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out} {err}");
    out
}

fn fastnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fastnn"))
        .args(args)
        .env(
            "FASTNN_CACHE",
            std::env::temp_dir().join("fastnn-features-test-cache"),
        )
        .output()
        .expect("run fastnn")
}

#[test]
fn the_command_line_validates_stops_early_schedules_and_logs() {
    let dir = temp_dir();
    write_dataset(dir.path(), 200, 50, 6, 6, 3, false);
    let data = dir.path().to_str().unwrap();
    let log = dir.path().join("log.csv");
    let json = dir.path().join("run.json");
    let ckpt = dir.path().join("ckpt");
    let o = fastnn(&[
        "train",
        "--dataset",
        data,
        "--hidden",
        "8",
        "--epochs",
        "6",
        "--batch-size",
        "16",
        "--validation-split",
        "0.25",
        "--early-stopping",
        "50",
        "--restore-best",
        "--schedule",
        "step:every=1,gamma=0.5",
        "--dropout",
        "0.1",
        "--weight-decay",
        "0.01",
        "--augment",
        "shift=1",
        "--log",
        log.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--threads",
        "2",
        "--quiet",
    ]);
    let out = succeeds(&o);
    assert!(out.contains("validation split 0.25"), "{out}");
    let epoch_lines: Vec<&str> = out.lines().filter(|l| l.contains("val_loss: ")).collect();
    assert_eq!(epoch_lines.len(), 6, "{out}");
    assert!(epoch_lines[1].contains("lr: 5.000e-4"), "{out}");
    assert!(out.contains("was best at epoch"), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 7);
    assert!(text.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps"));
    assert!(
        text.lines().nth(1).unwrap().ends_with(",10"),
        "150 images in steps of 16"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary["validation_images"], 50);
    assert!(summary["early_stopping"]["best_epoch"].as_u64().is_some());
    // Resume: early stopping may change, the dropout may not.
    let first = checkpoint_path(&ckpt, 3);
    let o = fastnn(&[
        "train",
        "--resume",
        first.to_str().unwrap(),
        "--early-stopping",
        "1",
        "--quiet",
        "--threads",
        "1",
    ]);
    let out = succeeds(&o);
    assert!(
        out.contains("early stopping patience 1 on val_loss"),
        "{out}"
    );
    let o = fastnn(&[
        "train",
        "--resume",
        first.to_str().unwrap(),
        "--dropout",
        "0.5",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--dropout 0.5 (the checkpoint has 0.1)"),
        "{err}"
    );
    // A split that leaves nothing to train on is refused, and so are a log
    // of unknown format and early stopping on a validation metric without
    // validation.
    let o = fastnn(&[
        "train",
        "--dataset",
        data,
        "--validation-split",
        "0.999",
        "--quiet",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("leaves"),
        "{o:?}"
    );
    let o = fastnn(&["train", "--dataset", data, "--log", "x.txt", "--quiet"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(".csv or .jsonl"),
        "{o:?}"
    );
    let o = fastnn(&[
        "train",
        "--dataset",
        data,
        "--early-stopping",
        "2",
        "--quiet",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs validation samples"),
        "{o:?}"
    );
}

#[test]
fn validation_data_and_eval_metrics_from_the_command_line() {
    let dir = temp_dir();
    write_dataset(dir.path(), 120, 40, 5, 5, 4, false);
    let other = temp_dir();
    write_dataset(other.path(), 30, 20, 5, 5, 4, true);
    let model = dir.path().join("m.safetensors");
    let log = dir.path().join("log.jsonl");
    let o = fastnn(&[
        "train",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--validation-data",
        other.path().to_str().unwrap(),
        "--optimizer",
        "nesterov",
        "--lr",
        "0.01",
        "--clip-norm",
        "1",
        "--log",
        log.to_str().unwrap(),
        "--save",
        model.to_str().unwrap(),
        "--quiet",
    ]);
    let out = succeeds(&o);
    assert_eq!(
        out.lines().filter(|l| l.contains("val_accuracy")).count(),
        2,
        "{out}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1]["val_loss"].as_f64().is_some());
    let json = dir.path().join("eval.json");
    let o = fastnn(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("f1-score") && out.contains("top-2 accuracy"),
        "{out}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(eval["per_class"].as_array().unwrap().len(), 4);
    assert_eq!(eval["top_k"][0]["k"], 2);
    let mut opts = TrainOptions {
        dataset: Some(dir.path().to_str().unwrap().into()),
        validation_data: Some(temp_dir().path().to_str().unwrap().into()),
        ..TrainOptions::default()
    };
    assert!(
        fastnn::TrainRun::new(&engine(1), &opts).is_err(),
        "a missing folder"
    );
    opts.validation_data = None;
    opts.dropout = Some(vec![0.1, 0.2]);
    assert!(
        opts.config()
            .unwrap_err()
            .to_string()
            .contains("2 dropout rates for 1")
    );
}

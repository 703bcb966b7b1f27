//! Training: gradients, convergence, determinism across thread counts,
//! allocation-free steps, divergence, embedding with f32 arrays.

use crate::util::engine;
use fastnn::kernels::Parallelism;
use fastnn::nn::{AnyOptimizer, Optimizer, Workspace, loss_and_gradients};
use fastnn::{
    Activation, Architecture, Engine, Error, FittedPreprocess, Images, Init, Loss, Network,
    OptimizerConfig, Preprocess, Preset, Samples, SgdConfig, TrainConfig, Trainer, evaluate,
    predict,
};

/// A separable toy problem: `n` 6×6 images of class 0 (ink on the left),
/// 1 (ink on the right) or 2 (ink at the top), with pseudo-random noise.
pub fn toy(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = vec![0u8; n * 36];
    let mut labels = vec![0u8; n];
    let mut state = 12345u32;
    for i in 0..n {
        let class = (i % 3) as u8;
        labels[i] = class;
        for r in 0..6 {
            for c in 0..6 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 26) as u8;
                let ink = match class {
                    0 => c < 3,
                    1 => c >= 3,
                    _ => r < 3,
                };
                pixels[i * 36 + r * 6 + c] = if ink { 180 + noise } else { noise };
            }
        }
    }
    (pixels, labels)
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i}")).collect()
}

/// A network trained with `cfg` on `s` on `threads` threads.
pub fn fit(cfg: &TrainConfig, s: &Samples, classes: usize, threads: usize) -> Network {
    let net = cfg.build_network(s, &names(classes)).unwrap();
    let mut trainer = Trainer::new(&engine(threads), net, cfg.clone()).unwrap();
    trainer.fit(s, None, &mut |_| Ok(())).unwrap();
    trainer.into_network()
}

fn small_config(hidden: Vec<usize>, act: Activation, loss: Loss) -> TrainConfig {
    TrainConfig {
        hidden,
        activation: act,
        loss,
        epochs: 3,
        batch_size: 8,
        ..TrainConfig::default()
    }
}

#[test]
fn gradients_match_finite_differences() {
    let (pixels, labels) = toy(5);
    let samples = Samples::from_u8(&pixels, &labels, 6, 6);
    let rows: Vec<u32> = (0..5).collect();
    for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        for loss in [Loss::Xent, Loss::Mse] {
            for pre in [Preprocess::Scale, Preprocess::KerasNormalize] {
                let mut cfg = small_config(vec![7, 5], act, loss);
                cfg.preprocess = pre;
                let net = cfg.build_network(&samples, &names(3)).unwrap();
                let (_, gw, gb) = loss_and_gradients(&net, &samples, &rows);
                for l in 0..net.layers().len() {
                    let len = net.layers()[l].weight.len();
                    for idx in [0, len / 3, len - 1] {
                        let numeric = numeric_grad(&net, &samples, &rows, l, Some(idx));
                        let analytic = gw[l][idx] as f64;
                        assert!(
                            (numeric - analytic).abs() < 2e-3 + 0.05 * analytic.abs(),
                            "{act:?} {loss:?} {pre:?} layer {l} w[{idx}]: {numeric} vs {analytic}"
                        );
                    }
                    let numeric = numeric_grad(&net, &samples, &rows, l, None);
                    let analytic = gb[l][0] as f64;
                    assert!(
                        (numeric - analytic).abs() < 2e-3 + 0.05 * analytic.abs(),
                        "{act:?} {loss:?} layer {l} b[0]: {numeric} vs {analytic}"
                    );
                }
            }
        }
    }
}

/// Central difference of the mean loss in one weight (or bias 0). Where the
/// two one-sided differences disagree a relu kink lies within `h`, and the
/// analytic value is returned so that the coordinate is not judged.
fn numeric_grad(net: &Network, s: &Samples, rows: &[u32], l: usize, w: Option<usize>) -> f64 {
    let h = 2e-3f32;
    let at = |delta: f32| {
        let layers: Vec<_> = net
            .layers()
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let mut layer = layer.clone();
                if i == l {
                    match w {
                        Some(idx) => layer.weight[idx] += delta,
                        None => layer.bias[0] += delta,
                    }
                }
                layer
            })
            .collect();
        let arch = net.architecture().clone();
        let probe = Network::from_parts(arch, layers, net.class_names().to_vec()).unwrap();
        loss_and_gradients(&probe, s, rows).0
    };
    let (plus, zero, minus) = (at(h), at(0.0), at(-h));
    let (right, left) = ((plus - zero) / h as f64, (zero - minus) / h as f64);
    if (right - left).abs() > 0.2 * (right.abs() + left.abs()) + 1e-3 {
        let (_, gw, gb) = loss_and_gradients(net, s, rows);
        return match w {
            Some(idx) => gw[l][idx] as f64,
            None => gb[l][0] as f64,
        };
    }
    (plus - minus) / (2.0 * h as f64)
}

#[test]
fn hand_computed_two_by_two_gradient() {
    // One linear layer, 1×2 image [255, 0] → x = [1, 0], 2 classes, label 0,
    // W = [[1, 0], [0, 0]], b = 0: logits [1, 0], p0 = e/(e+1) = 0.731059.
    // dL/dW[0][j] = x0 · (p_j - y_j) = [0.731059 - 1, 0.268941]; dL/db likewise.
    let arch = Architecture {
        rows: 1,
        cols: 2,
        hidden: vec![],
        activation: Activation::Relu,
        classes: 2,
        loss: Loss::Xent,
        preprocess: FittedPreprocess::Scale,
    };
    let layer = fastnn::nn::Dense {
        inputs: 2,
        outputs: 2,
        activation: Activation::Identity,
        weight: vec![1.0, 0.0, 0.0, 0.0].into(),
        bias: vec![0.0, 0.0].into(),
    };
    let net = Network::from_parts(arch, vec![layer], names(2)).unwrap();
    let (pixels, labels) = ([255u8, 0], [0u8]);
    let s = Samples::from_u8(&pixels, &labels, 1, 2);
    let (loss, gw, gb) = loss_and_gradients(&net, &s, &[0]);
    assert!((loss - 0.313_261_7).abs() < 1e-6, "{loss}");
    let expect = [-0.268_941_4, 0.268_941_4];
    for j in 0..2 {
        assert!((gw[0][j] - expect[j]).abs() < 1e-6, "{:?}", gw[0]);
        assert!(gw[0][2 + j].abs() < 1e-7);
        assert!((gb[0][j] - expect[j]).abs() < 1e-6);
    }
}

#[test]
fn learns_a_separable_problem_with_every_setting() {
    let (pixels, labels) = toy(600);
    let train = Samples::from_u8(&pixels[..480 * 36], &labels[..480], 6, 6);
    let test = Samples::from_u8(&pixels[480 * 36..], &labels[480..], 6, 6);
    let optimizers = [
        OptimizerConfig::Adam(Default::default()),
        OptimizerConfig::Sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
        }),
    ];
    for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        for loss in [Loss::Xent, Loss::Mse] {
            for opt in optimizers {
                let mut cfg = small_config(vec![16], act, loss);
                cfg.optimizer = opt;
                cfg.epochs = 8;
                let net = fit(&cfg, &train, 3, 2);
                let eval = evaluate(&engine(2), &net, &test).unwrap();
                assert!(eval.accuracy > 0.95, "{act:?} {loss:?} {opt:?}: {eval:?}");
                let total: u32 = eval.confusion.iter().flatten().sum();
                assert_eq!(total, 120);
            }
        }
    }
}

#[test]
fn f32_inputs_train_like_u8_inputs() {
    let (pixels, labels) = toy(300);
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let u8s = Samples::from_u8(&pixels, &labels, 6, 6);
    let f32s = Samples::from_f32(&values, &labels, 6, 6);
    let cfg = small_config(vec![10], Activation::Relu, Loss::Xent);
    let a = fit(&cfg, &u8s, 3, 2);
    let b = fit(&cfg, &f32s, 3, 2);
    for (la, lb) in a.layers().iter().zip(b.layers()) {
        for (x, y) in la.weight.iter().zip(&lb.weight) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
    let p = predict(&engine(2), &b, Images::F32(&values), &[0, 1, 2]).unwrap();
    assert_eq!(p.len(), 3);
    assert!(
        p.iter()
            .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5)
    );
}

#[test]
fn a_diverging_run_stops_with_a_clear_error() {
    let (pixels, labels) = toy(64);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let mut cfg = small_config(vec![8], Activation::Relu, Loss::Xent);
    cfg.optimizer = OptimizerConfig::Sgd(SgdConfig {
        lr: 1e30,
        momentum: 0.0,
    });
    let net = cfg.build_network(&s, &names(3)).unwrap();
    let mut trainer = Trainer::new(&engine(1), net, cfg).unwrap();
    let err = trainer.fit(&s, None, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Diverged(_)), "{err}");
    assert!(err.to_string().contains("the loss became"), "{err}");
}

#[test]
fn bad_samples_are_refused() {
    let (pixels, mut labels) = toy(10);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cfg = small_config(vec![4], Activation::Relu, Loss::Xent);
    let net = cfg.build_network(&s, &names(3)).unwrap();
    let e = engine(1);
    labels[4] = 7;
    let bad = Samples::from_u8(&pixels, &labels, 6, 6);
    let err = evaluate(&e, &net, &bad).unwrap_err().to_string();
    assert!(err.contains("label 7 of image 4"), "{err}");
    let short = Samples::from_u8(&pixels[1..], &labels, 6, 6);
    assert!(evaluate(&e, &net, &short).is_err());
    let empty = Samples::from_u8(&[], &[], 6, 6);
    let err = evaluate(&e, &net, &empty).unwrap_err().to_string();
    assert!(err.contains("no images"), "{err}");
    let wrong_shape = Samples::from_u8(&pixels, &labels, 4, 9);
    assert!(
        evaluate(&e, &net, &wrong_shape)
            .unwrap_err()
            .to_string()
            .contains("4x9")
    );
    let err = predict(&e, &net, Images::U8(&pixels), &[10]).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    let err = predict(&e, &net, Images::U8(&pixels[1..]), &[0]).unwrap_err();
    assert!(err.to_string().contains("not whole images"), "{err}");
}

/// Weights of a network, bit for bit.
pub fn bits(net: &Network) -> Vec<u32> {
    net.layers()
        .iter()
        .flat_map(|l| l.weight.iter().chain(&l.bias).map(|v| v.to_bits()))
        .collect()
}

#[test]
fn same_seed_same_bits_for_any_thread_count() {
    let (pixels, labels) = toy(700);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    for (hidden, batch) in [(vec![40], 32), (vec![33, 17], 256), (vec![130], 7)] {
        let mut cfg = small_config(hidden, Activation::Relu, Loss::Xent);
        cfg.batch_size = batch;
        cfg.epochs = 2;
        let run = |threads: usize| bits(&fit(&cfg, &s, 3, threads));
        let one = run(1);
        for t in [2, 3, 4, 8] {
            assert!(one == run(t), "{t} threads differ from 1 (batch {batch})");
        }
    }
}

mod alloc_count {
    //! Counts heap allocations made on threads that opted in, so other
    //! tests running beside this one do not disturb the count.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;
    pub static COUNT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        pub static TRACK: Cell<bool> = const { Cell::new(false) };
    }

    // SAFETY: defers every call to the system allocator unchanged; it only
    // counts (an atomic add and a const thread-local read, neither allocates).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if TRACK.with(|t| t.get()) {
                COUNT.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: the caller's contract is passed on unchanged.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
            if TRACK.with(|t| t.get()) {
                COUNT.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

#[test]
fn a_training_step_allocates_nothing() {
    use alloc_count::{COUNT, TRACK};
    use std::sync::atomic::Ordering;
    let (pixels, labels) = toy(512);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    for (threads, pre, extras) in [
        (1, Preprocess::Scale, false),
        (2, Preprocess::KerasNormalize, false),
        (3, Preprocess::Standardize, false),
        (1, Preprocess::Scale, true),
        (2, Preprocess::KerasNormalize, true),
    ] {
        let mut cfg = small_config(vec![300, 40], Activation::Relu, Loss::Xent);
        cfg.batch_size = 64;
        cfg.preprocess = pre;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(|_| TRACK.with(|t| t.set(true)))
            // A pool of an earlier iteration may still be exiting; what its
            // threads free on the way out is not a step's allocation.
            .exit_handler(|_| TRACK.with(|t| t.set(false)))
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = cfg.build_network(&s, &names(3)).unwrap();
            let mut opt = AnyOptimizer::new(cfg.optimizer, &net.tensor_lens());
            let mut ws = Workspace::new(&net, 64, true);
            if extras {
                // Dropout, clipping, augmentation and a regularized update.
                let augment = "shift=1,rotate=10,elastic=5:1,flip".parse().unwrap();
                ws.set_extras(&net, &[0.2, 0.1], Some(0.5), augment);
                opt.set_regularization(fastnn::nn::Regularization {
                    l2: 1e-4,
                    decay: 1e-5,
                });
            }
            let rows: Vec<u32> = (0..64).map(|i| (i * 7 % 512) as u32).collect();
            let par = parallelism(threads);
            // Warm-up: per-thread packing buffers are sized on first use.
            for _ in 0..3 {
                ws.step(&mut net, &mut opt, &s, &rows, par);
            }
            TRACK.with(|t| t.set(true));
            let before = COUNT.load(Ordering::SeqCst);
            for _ in 0..20 {
                ws.step(&mut net, &mut opt, &s, &rows, par);
                ws.step(&mut net, &mut opt, &s, &rows[..17], par);
            }
            let after = COUNT.load(Ordering::SeqCst);
            TRACK.with(|t| t.set(false));
            assert_eq!(
                after - before,
                0,
                "{threads} threads (extras: {extras}): steps allocated"
            );
        });
    }
}

#[test]
fn presets_match_the_tutorials() {
    let f = TrainConfig::preset(Preset::Fashion);
    assert_eq!(
        (f.hidden.clone(), f.epochs, f.batch_size),
        (vec![128], 9, 32)
    );
    assert_eq!(f.preprocess, Preprocess::Scale);
    let m = TrainConfig::preset(Preset::Mnist);
    assert_eq!((m.hidden.clone(), m.epochs), (vec![128, 128], 3));
    assert_eq!(m.preprocess, Preprocess::KerasNormalize);
    assert_eq!(m.init, Init::GlorotUniform);
    let OptimizerConfig::Adam(a) = m.optimizer else {
        panic!("Adam expected")
    };
    assert_eq!((a.lr, a.beta1, a.beta2, a.eps), (1e-3, 0.9, 0.999, 1e-7));
}

/// A step applies each update inside the product that computes its
/// gradient, on the threads that own the rows: the result must be the bits
/// of computing all gradients first and then calling the optimizer, for
/// Adam and SGD, on one thread and on several.
#[test]
fn a_fused_step_equals_gradients_then_the_optimizer() {
    let (pixels, labels) = toy(256);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let rows: Vec<u32> = (0..64).map(|i| (i * 5 % 256) as u32).collect();
    let sgd = OptimizerConfig::Sgd(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
    });
    for optimizer in [TrainConfig::default().optimizer, sgd] {
        let mut cfg = small_config(vec![300, 40], Activation::Relu, Loss::Xent);
        cfg.optimizer = optimizer;
        let net0 = cfg.build_network(&s, &names(3)).unwrap();
        // Separately: gradients, then the optimizer on each tensor.
        let mut want = net0.clone();
        let mut opt = AnyOptimizer::new(cfg.optimizer, &want.tensor_lens());
        for _ in 0..3 {
            let (_, gw, gb) = loss_and_gradients(&want, &s, &rows);
            opt.begin_step();
            let mut layers: Vec<_> = want.layers().to_vec();
            for (l, layer) in layers.iter_mut().enumerate() {
                let seq = Parallelism::Sequential;
                opt.update(2 * l, &mut layer.weight, &gw[l], seq);
                opt.update(2 * l + 1, &mut layer.bias, &gb[l], seq);
            }
            want = rebuild(&want, layers);
        }
        for threads in [1, 2, 3] {
            let mut got = net0.clone();
            let mut opt = AnyOptimizer::new(cfg.optimizer, &got.tensor_lens());
            let mut ws = Workspace::new(&got, 64, true);
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let par = parallelism(threads);
                    for _ in 0..3 {
                        ws.step(&mut got, &mut opt, &s, &rows, par);
                    }
                });
            for (a, b) in got.layers().iter().zip(want.layers()) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&a.weight),
                    bits(&b.weight),
                    "{optimizer:?}, {threads} threads"
                );
                assert_eq!(
                    bits(&a.bias),
                    bits(&b.bias),
                    "{optimizer:?}, {threads} threads"
                );
            }
        }
    }
}

/// How an engine of `threads` threads splits products.
fn parallelism(threads: usize) -> Parallelism {
    if threads > 1 {
        Parallelism::Tiles
    } else {
        Parallelism::Sequential
    }
}

#[test]
fn a_trainer_refuses_settings_of_another_network() {
    let (pixels, labels) = toy(30);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cfg = small_config(vec![8], Activation::Relu, Loss::Xent);
    let net = cfg.build_network(&s, &names(3)).unwrap();
    let mut other = cfg.clone();
    other.hidden = vec![9];
    let err = Trainer::new(&Engine::new(1).unwrap(), net.clone(), other).unwrap_err();
    assert!(err.to_string().contains("hidden layers [8]"), "{err}");
    other = cfg.clone();
    other.activation = Activation::Tanh;
    assert!(Trainer::new(&engine(1), net, other).is_err());
}

#[test]
fn an_engine_is_the_only_thread_setting() {
    // Training inside another rayon pool uses the engine's threads, and
    // gives the same bits as outside.
    let (pixels, labels) = toy(200);
    let s = Samples::from_u8(&pixels, &labels, 6, 6);
    let cfg = small_config(vec![40], Activation::Relu, Loss::Xent);
    let outside = bits(&fit(&cfg, &s, 3, 2));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let inside = pool.install(|| bits(&fit(&cfg, &s, 3, 2)));
    assert!(inside == outside);
    let e = engine(3);
    assert_eq!(e.threads(), 3);
    let mut trainer = Trainer::new(&e, cfg.build_network(&s, &names(3)).unwrap(), cfg).unwrap();
    trainer
        .fit(&s, None, &mut |e| {
            if let fastnn::Event::Step { .. } = e {
                assert_eq!(rayon::current_num_threads(), 3);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(trainer.engine().threads(), 3);
}

/// `net` with its layers replaced.
fn rebuild(net: &Network, layers: Vec<fastnn::Dense>) -> Network {
    let arch = net.architecture().clone();
    Network::from_parts(arch, layers, net.class_names().to_vec()).unwrap()
}

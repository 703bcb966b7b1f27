//! One training step and one full epoch of the `fashion` preset on the
//! shipped data, at batch 32 and 256, on one thread and on all cores.
//! Throughput is counted in FLOP of the step's products.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use fastnn::kernels::Parallelism;
use fastnn::nn::{AnyOptimizer, Optimizer, Workspace};
use fastnn::{Dataset, DatasetSource, Engine, Network, Preset, Samples, TrainConfig, Trainer};

/// The `fashion` preset at `batch`, a fresh network, and the FLOP of
/// `images` images' forward and backward passes.
fn setup(
    samples: &Samples,
    classes: &[String],
    batch: usize,
    images: usize,
) -> (TrainConfig, Network, u64) {
    let mut cfg = TrainConfig::preset(Preset::Fashion);
    cfg.batch_size = batch;
    let net = cfg.build_network(samples, classes).unwrap();
    let arch = net.architecture();
    let flops = (arch.forward_flops() + arch.backward_flops()) * images as u64;
    (cfg, net, flops)
}

fn train(c: &mut Criterion) {
    let ds = Dataset::open(&DatasetSource::Fashion).expect("data/fashion");
    let samples = ds.train();
    let cores = fastnn::available_cores();
    let mut threads = vec![1, cores];
    threads.dedup();

    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &n in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        for batch in [32usize, 256] {
            let (cfg, mut net, flops) = setup(&samples, ds.classes(), batch, batch);
            let mut opt = AnyOptimizer::new(cfg.optimizer, &net.tensor_lens());
            let mut ws = Workspace::new(&net, batch, true);
            let rows: Vec<u32> = (0..batch as u32).map(|i| i * 37 % 60000).collect();
            group.throughput(Throughput::Elements(flops));
            group.bench_function(BenchmarkId::new(format!("fashion_b{batch}"), n), |b| {
                pool.install(|| {
                    let par = if n > 1 {
                        Parallelism::Tiles
                    } else {
                        Parallelism::Sequential
                    };
                    b.iter(|| ws.step(&mut net, &mut opt, &samples, &rows, par))
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("train_epoch");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for &n in &threads {
        let engine = Engine::new(n).unwrap();
        for batch in [32usize, 256] {
            let (cfg, net, flops) = setup(&samples, ds.classes(), batch, samples.len());
            let mut trainer = Trainer::new(&engine, net, cfg).unwrap();
            group.throughput(Throughput::Elements(flops));
            group.bench_function(BenchmarkId::new(format!("fashion_b{batch}"), n), |b| {
                b.iter(|| trainer.train_epoch(&samples, &mut |_| Ok(())).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = crate::config();
    targets = train
}

//! GEMM throughput on the trainer's shapes and 512³: fastnn, matrixmultiply
//! and (small shapes only) the naive reference, side by side, in FLOP/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use fastnn::bench::kernels::{Operands, Product, SHAPES};
use fastnn::kernels::{KernelChoice, Parallelism};

/// Shapes up to this many FLOP also run the naive reference.
const NAIVE_MAX_FLOPS: u64 = 2_000_000;

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &shape in SHAPES {
        let id = format!("{} {}", shape.name(), shape.product.formula());
        let mut ops = Operands::new(shape);
        group.throughput(Throughput::Elements(shape.flops()));
        for (name, choice) in [
            ("fastnn", KernelChoice::Simd),
            ("matrixmultiply", KernelChoice::MatrixMultiply),
        ] {
            group.bench_function(BenchmarkId::new(name, &id), |bch| {
                bch.iter(|| ops.run(black_box(choice), Parallelism::Sequential))
            });
        }
        if shape.product == Product::ForwardU8 {
            let bias = vec![0.1; shape.n];
            group.bench_function(BenchmarkId::new("fastnn+bias+relu", &id), |bch| {
                bch.iter(|| ops.run_bias_relu(black_box(&bias), Parallelism::Sequential))
            });
        }
        if shape.flops() <= NAIVE_MAX_FLOPS {
            group.bench_function(BenchmarkId::new("naive", &id), |bch| {
                bch.iter(|| ops.run_naive())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = crate::config();
    targets = gemm
}

//! Opening a dataset and reading the first batch: what `fastnn train` pays
//! before its first step. The `.gz` caches are warmed first, so this measures
//! mapping + validation + label checks, not decompression.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use fastnn::dataset::builtin_dir;
use fastnn::idx_file::{IdxFile, cache_dir_for, open_with_cache};
use fastnn::{Dataset, DatasetSource, Split};

/// Images in the batch read after opening (the presets' batch size).
const BATCH: usize = 32;

fn first_batch_sum(pixels: &[u8], image_len: usize) -> u64 {
    pixels[..BATCH * image_len]
        .iter()
        .map(|&p| u64::from(p))
        .sum()
}

fn open(c: &mut Criterion) {
    // Warm the caches (decompresses once if needed).
    Dataset::open(&DatasetSource::Fashion).expect("data/fashion");
    let mut group = c.benchmark_group("idx");

    group.bench_function("fashion_train_open_first_batch32", |b| {
        let dir = builtin_dir("fashion").unwrap();
        let cache = cache_dir_for(dir.parent().unwrap());
        b.iter(|| {
            let images: IdxFile =
                open_with_cache(dir.join("train-images-idx3-ubyte.gz"), &cache).unwrap();
            let labels = open_with_cache(dir.join("train-labels-idx1-ubyte.gz"), &cache).unwrap();
            let sum = first_batch_sum(images.data(), 28 * 28);
            black_box((sum, &labels.data()[..BATCH]));
        })
    });

    group.bench_function("fashion_dataset_open_first_batch32", |b| {
        b.iter(|| {
            let data = Dataset::open(&DatasetSource::Fashion).unwrap();
            let sum = first_batch_sum(data.pixels(Split::Train), data.image_len());
            black_box((sum, &data.train().labels[..BATCH]));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = crate::config();
    targets = open
}

//! `fastnn bench infer`: evaluating the test set (all of it in one call, as
//! a framework's `evaluate(batch_size=10000)` does) and the latency of
//! classifying one image, for both presets' networks.

use super::{Machine, Record, median, spread};
use crate::Result;
use crate::engine::Engine;
use crate::infer::{evaluate, predict};
use crate::samples::{Images, Samples};
use crate::train::{Preset, TrainConfig};
use serde::Serialize;
use std::time::Instant;

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct InferRow {
    /// `fashion` or `mnist`.
    pub preset: String,
    /// Worker threads.
    pub threads: usize,
    /// Median seconds to evaluate the whole test set (loss and accuracy).
    pub test_set_seconds: f64,
    /// Its fastest and slowest run.
    pub test_set_spread: [f64; 2],
    /// Test images per second (median).
    pub images_per_second: f64,
    /// Median milliseconds to classify one image (batch 1).
    pub batch1_latency_ms: f64,
    /// Its fastest and slowest call.
    pub batch1_spread_ms: [f64; 2],
    /// Timed runs of the test set.
    pub runs: usize,
}

/// Measures a freshly initialized network of each preset (the weights do
/// not change the work) on `engine`.
pub fn run(
    engine: &Engine,
    sets: &[(Preset, Samples, Samples, Vec<String>)],
    runs: usize,
) -> Result<Vec<InferRow>> {
    let mut rows = Vec::new();
    for (preset, train, test, classes) in sets {
        let net = TrainConfig::preset(*preset).build_network(train, classes)?;
        evaluate(engine, &net, test)?; // warm-up
        let mut secs: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                evaluate(engine, &net, test).map(|_| t.elapsed().as_secs_f64())
            })
            .collect::<Result<_>>()?;
        let images: Images = test.images;
        let mut lat: Vec<f64> = (0..200)
            .map(|i| {
                let t = Instant::now();
                predict(engine, &net, images, &[i % test.len()])
                    .map(|_| t.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<Result<_>>()?;
        let (s_spread, l_spread) = (spread(&secs), spread(&lat));
        let med = median(&mut secs);
        rows.push(InferRow {
            preset: preset.name().into(),
            threads: engine.threads(),
            test_set_seconds: med,
            test_set_spread: s_spread,
            images_per_second: test.len() as f64 / med,
            batch1_latency_ms: median(&mut lat),
            batch1_spread_ms: l_spread,
            runs,
        });
    }
    Ok(rows)
}

/// The rows as a fixed-width table.
pub fn format_table(rows: &[InferRow]) -> String {
    let mut s = format!(
        "{:<8} {:>7} {:>12} {:>19} {:>10} {:>13}\n",
        "preset", "threads", "test set s", "[min-max]", "images/s", "batch-1 ms"
    );
    for r in rows {
        s += &format!(
            "{:<8} {:>7} {:>12.4} {:>19} {:>10.0} {:>13.4}\n",
            r.preset,
            r.threads,
            r.test_set_seconds,
            format!("[{:.4}-{:.4}]", r.test_set_spread[0], r.test_set_spread[1]),
            r.images_per_second,
            r.batch1_latency_ms,
        );
    }
    s
}

/// The rows in the common benchmark schema: one record for the test set,
/// one for batch-1 latency.
pub fn records(rows: &[InferRow]) -> Vec<Record<InferRow>> {
    let machine = Machine::current();
    rows.iter()
        .flat_map(|r| {
            let base = |name: String, value, unit, spread, runs| Record {
                suite: "infer",
                name,
                system: "fastnn".into(),
                threads: r.threads,
                value,
                unit,
                higher_is_better: false,
                spread,
                runs,
                machine: machine.clone(),
                detail: r.clone(),
            };
            [
                base(
                    format!("{} test-set t{}", r.preset, r.threads),
                    r.test_set_seconds,
                    "s",
                    r.test_set_spread,
                    r.runs,
                ),
                base(
                    format!("{} batch-1 t{}", r.preset, r.threads),
                    r.batch1_latency_ms,
                    "ms",
                    r.batch1_spread_ms,
                    200,
                ),
            ]
        })
        .collect()
}

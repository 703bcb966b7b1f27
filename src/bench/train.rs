//! `fastnn bench train`: seconds per epoch of the presets at batch 32 and
//! 256 for several thread counts, as GFLOP/s, share of the measured FMA peak
//! and speed-up over one thread.

use super::{Machine, Record, median, spread};
use crate::Result;
use crate::engine::Engine;
use crate::kernels::cpu::measure_fma_peak_gflops;
use crate::samples::Samples;
use crate::train::{Preset, TrainConfig, Trainer};
use serde::Serialize;

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct TrainRow {
    /// `fashion` or `mnist`.
    pub preset: String,
    /// Images per step.
    pub batch_size: usize,
    /// Worker threads.
    pub threads: usize,
    /// Median seconds per epoch.
    pub epoch_seconds: f64,
    /// Fastest epoch.
    pub epoch_seconds_min: f64,
    /// Slowest epoch.
    pub epoch_seconds_max: f64,
    /// Epochs timed.
    pub runs: usize,
    /// Training images per second (median epoch).
    pub images_per_second: f64,
    /// Useful FLOP per epoch (forward and backward products).
    pub gflop_per_epoch: f64,
    /// Achieved GFLOP/s (median epoch).
    pub gflops: f64,
    /// Measured FMA peak of this many threads.
    pub peak_gflops: f64,
    /// `gflops / peak_gflops`.
    pub share_of_peak: f64,
    /// Median epoch time of one thread over this one's (1.0 for one thread).
    pub speedup_vs_1_thread: f64,
}

/// Times `runs` epochs (after one untimed warm-up epoch when `runs > 1`) of
/// `preset` at `batch_size` on `engine`; returns the seconds of each timed
/// epoch.
pub fn time_epochs(
    engine: &Engine,
    preset: Preset,
    batch_size: usize,
    train: &Samples,
    classes: &[String],
    runs: usize,
) -> Result<Vec<f64>> {
    let mut config = TrainConfig::preset(preset);
    config.batch_size = batch_size;
    let net = config.build_network(train, classes)?;
    let mut trainer = Trainer::new(engine, net, config)?;
    if runs > 1 {
        trainer.train_epoch(train, &mut |_| Ok(()))?;
    }
    (0..runs)
        .map(|_| Ok(trainer.train_epoch(train, &mut |_| Ok(()))?.seconds))
        .collect()
}

/// Measures both presets at batch 32 and 256 for each thread count.
/// `datasets` gives the training samples and class names of each preset.
pub fn run(
    datasets: &[(Preset, Samples, Vec<String>)],
    threads: &[usize],
    runs: usize,
) -> Result<Vec<TrainRow>> {
    let mut rows = Vec::new();
    for (preset, train, classes) in datasets {
        let name = preset.name();
        let arch_flops = {
            let cfg = TrainConfig::preset(*preset);
            let net = cfg.build_network(train, classes)?;
            let a = net.architecture();
            (a.forward_flops() + a.backward_flops()) as f64 * train.len() as f64
        };
        for batch_size in [32, 256] {
            let mut one_thread = None;
            for &t in threads {
                let engine = Engine::new(t)?;
                let mut secs = time_epochs(&engine, *preset, batch_size, train, classes, runs)?;
                let peak = measure_fma_peak_gflops(t);
                let [min, max] = spread(&secs);
                let med = median(&mut secs);
                if t == 1 {
                    one_thread = Some(med);
                }
                let gflops = arch_flops / med / 1e9;
                rows.push(TrainRow {
                    preset: name.into(),
                    batch_size,
                    threads: t,
                    epoch_seconds: med,
                    epoch_seconds_min: min,
                    epoch_seconds_max: max,
                    runs,
                    images_per_second: train.len() as f64 / med,
                    gflop_per_epoch: arch_flops / 1e9,
                    gflops,
                    peak_gflops: peak,
                    share_of_peak: gflops / peak,
                    speedup_vs_1_thread: one_thread.map_or(f64::NAN, |o| o / med),
                });
            }
        }
    }
    Ok(rows)
}

/// The rows as a fixed-width table.
pub fn format_table(rows: &[TrainRow]) -> String {
    let mut s = format!(
        "{:<8} {:>5} {:>7} {:>9} {:>17} {:>10} {:>8} {:>7} {:>7} {:>8}\n",
        "preset",
        "batch",
        "threads",
        "s/epoch",
        "[min-max]",
        "images/s",
        "GFLOP/s",
        "peak",
        "share",
        "speedup"
    );
    for r in rows {
        s += &format!(
            "{:<8} {:>5} {:>7} {:>9.3} {:>17} {:>10.0} {:>8.1} {:>7.1} {:>6.1}% {:>7.2}x\n",
            r.preset,
            r.batch_size,
            r.threads,
            r.epoch_seconds,
            format!("[{:.3}-{:.3}]", r.epoch_seconds_min, r.epoch_seconds_max),
            r.images_per_second,
            r.gflops,
            r.peak_gflops,
            r.share_of_peak * 100.0,
            r.speedup_vs_1_thread,
        );
    }
    s
}

/// The rows in the common benchmark schema.
pub fn records(rows: &[TrainRow]) -> Vec<Record<TrainRow>> {
    let machine = Machine::current();
    rows.iter()
        .map(|r| Record {
            suite: "train",
            name: format!("{} b{} t{}", r.preset, r.batch_size, r.threads),
            system: "fastnn".into(),
            threads: r.threads,
            value: r.epoch_seconds,
            unit: "s/epoch",
            higher_is_better: false,
            spread: [r.epoch_seconds_min, r.epoch_seconds_max],
            runs: r.runs,
            machine: machine.clone(),
            detail: r.clone(),
        })
        .collect()
}

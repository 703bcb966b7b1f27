//! `fastnn bench`: the library side of the benchmark commands, and the JSON
//! schema every benchmark of the project writes.
//!
//! A benchmark JSON file is an array of flat [`Record`]s. Each names its
//! suite (`kernels`, `train`, `infer`, `peers`), a `name` unique within the
//! suite and system, the primary `value` with its unit and direction, the
//! spread of the runs behind it, and the machine it ran on; suite-specific
//! fields (e.g. `shape`, `fastnn_gflops`, `matrixmultiply_gflops`,
//! `peak_gflops` for kernels) sit beside them. `benches/compare.py` matches
//! records of two files by `(suite, name, system)` and flags regressions
//! beyond the runs' spread.

pub mod infer;
pub mod kernels;
pub mod train;

use serde::Serialize;

use crate::Result;
use crate::dataset::Split;
use crate::engine::{Engine, available_cores};
use crate::run::open_dataset;
use crate::train::Preset;

/// What `fastnn bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum BenchWhat {
    /// GEMM kernels on the trainer's shapes against matrixmultiply.
    Kernels,
    /// Training epochs of both presets at batch 32 and 256.
    Train,
    /// Evaluating the test set, and batch-1 latency.
    Infer,
}

/// Runs the benchmarks `what` (all of them when `None`) for each thread
/// count (1 and all cores when empty), handing each table to `print` as
/// soon as it is measured; returns every record in the common schema.
pub fn run(
    what: Option<BenchWhat>,
    threads: &[usize],
    quick: bool,
    print: &mut dyn FnMut(String),
) -> Result<Vec<serde_json::Value>> {
    let all = available_cores();
    let mut threads = match threads {
        [] => vec![1, all],
        t => t.to_vec(),
    };
    threads.dedup();
    let wants = |w: BenchWhat| what.is_none_or(|x| x == w);
    print(format!(
        "fastnn {} on {} ({all} cores)",
        env!("CARGO_PKG_VERSION"),
        crate::kernels::describe()
    ));
    let mut records = Vec::new();
    fn json(v: impl Serialize) -> Result<serde_json::Value> {
        serde_json::to_value(v).map_err(|e| crate::Error::Config(e.to_string()))
    }
    if wants(BenchWhat::Kernels) {
        let mut rows = Vec::new();
        for &t in &threads {
            rows.extend(kernels::run(t, quick));
        }
        print(format!(
            "\nGEMM kernels (median GFLOP/s; share of the measured FMA peak)\n{}",
            kernels::format_table(&rows)
        ));
        records.push(json(kernels::records(&rows))?);
    }
    if wants(BenchWhat::Train) || wants(BenchWhat::Infer) {
        let (fashion, mnist) = (open_dataset("fashion")?, open_dataset("mnist")?);
        let sets = [(Preset::Fashion, &fashion), (Preset::Mnist, &mnist)];
        if wants(BenchWhat::Train) {
            let sets: Vec<_> = sets
                .iter()
                .map(|(p, ds)| (*p, ds.train(), ds.classes().to_vec()))
                .collect();
            let runs = if quick { 1 } else { 3 };
            let rows = train::run(&sets, &threads, runs)?;
            print(format!(
                "\nTraining epochs (median of {runs} after a warm-up epoch; data in memory, \
                 evaluation excluded)\n{}",
                train::format_table(&rows)
            ));
            records.push(json(train::records(&rows))?);
        }
        if wants(BenchWhat::Infer) {
            let sets: Vec<_> = sets
                .iter()
                .map(|(p, ds)| {
                    (
                        *p,
                        ds.train(),
                        ds.samples(Split::Test),
                        ds.classes().to_vec(),
                    )
                })
                .collect();
            let runs = if quick { 3 } else { 7 };
            let mut rows = Vec::new();
            for &t in &threads {
                rows.extend(infer::run(&Engine::new(t)?, &sets, runs)?);
            }
            print(format!(
                "\nInference (whole test set, median of {runs}; batch-1 latency, median of 200)\n{}",
                infer::format_table(&rows)
            ));
            records.push(json(infer::records(&rows))?);
        }
    }
    Ok(records
        .into_iter()
        .flat_map(|v| match v {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        })
        .collect())
}

/// One measured result in the common schema.
#[derive(Clone, Debug, Serialize)]
pub struct Record<T: Serialize> {
    /// `kernels`, `train`, `infer` or `peers`.
    pub suite: &'static str,
    /// Unique within the suite and system, e.g. `fashion b32 t2`.
    pub name: String,
    /// Which implementation: `fastnn`, `pytorch`, `tensorflow`, ...
    pub system: String,
    /// Worker threads.
    pub threads: usize,
    /// The primary metric (median of the runs).
    pub value: f64,
    /// Its unit, e.g. `GFLOP/s`, `s/epoch`, `ms`.
    pub unit: &'static str,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
    /// Smallest and largest value of the runs.
    pub spread: [f64; 2],
    /// Number of timed runs.
    pub runs: usize,
    /// What it ran on.
    pub machine: Machine,
    /// Suite-specific fields.
    #[serde(flatten)]
    pub detail: T,
}

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// fastnn's compiled SIMD path.
    pub simd: String,
    /// Compiled-in CPU features.
    pub compiled_features: Vec<&'static str>,
    /// fastnn's version.
    pub fastnn_version: &'static str,
}

impl Machine {
    /// This machine.
    pub fn current() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Machine {
            cpu,
            cores: available_cores(),
            simd: crate::kernels::describe(),
            compiled_features: crate::kernels::cpu::compiled_features(),
            fastnn_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Median of a non-empty list (sorts it).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Smallest and largest of a non-empty list.
pub fn spread(v: &[f64]) -> [f64; 2] {
    [
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    ]
}

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
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            simd: crate::kernels::cpu::describe(),
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

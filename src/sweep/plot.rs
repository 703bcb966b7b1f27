//! `--plots DIR`: the sweep's runs as [`crate::viz::sweep_chart`]s, test
//! accuracy against a setting and against time.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::record::{RunRecord, Settings, setting_text};
use super::summary::{Stats, group_runs, varied_settings};
use crate::viz::{SweepAxis, SweepPoint, SweepSeries, sweep_chart};
use crate::{Error, Result};

/// What the x axis shows.
#[derive(Clone, Debug, PartialEq)]
pub enum PlotX {
    /// A setting (a [`super::Settings`] key, `lr` or `batch_size`).
    Setting(String),
    /// Seconds per run.
    Time,
}

impl PlotX {
    /// `--plot-x`: `time`, or a setting as a flag (`batch-size`) or a key.
    pub fn parse(s: &str) -> PlotX {
        match s {
            "time" | "seconds" => PlotX::Time,
            s => PlotX::Setting(s.trim_start_matches("--").replace('-', "_")),
        }
    }
}

/// Writes the charts of `records` into `dir`: `sweep-<setting>.png`
/// against `x` (the first setting that varies, by default) and
/// `sweep-time.png`; returns the files written.
pub fn write_plots(dir: &Path, records: &[RunRecord], x: Option<&PlotX>) -> Result<Vec<PathBuf>> {
    let done: Vec<RunRecord> = records
        .iter()
        .filter(|r| r.test_accuracy.is_some())
        .cloned()
        .collect();
    if done.is_empty() {
        return Err(Error::Config("no finished runs to plot".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let varied = varied_settings(&done);
    let setting = match x {
        Some(PlotX::Setting(k)) => {
            if !done.iter().any(|r| r.settings.contains_key(k)) {
                return Err(Error::Config(format!(
                    "--plot-x {k}: no run has that setting (they have {})",
                    done[0]
                        .settings
                        .keys()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Some(k.clone())
        }
        Some(PlotX::Time) => None,
        None => varied.first().cloned(),
    };
    let mut written = Vec::new();
    if let Some(key) = setting {
        let path = dir.join(format!("sweep-{}.png", key.replace('_', "-")));
        let (axis, series) = against_setting(&done, &key);
        let title = format!("Test accuracy against {}", key.replace('_', "-"));
        sweep_chart(&title, &axis, &series, true, &path)?;
        written.push(path);
    }
    let path = dir.join("sweep-time.png");
    let series = against_time(&done, &varied);
    let axis = SweepAxis::Linear("seconds per run".into());
    sweep_chart("Test accuracy against time", &axis, &series, false, &path)?;
    written.push(path);
    Ok(written)
}

/// The value of `key` in a run as a number, if it is one.
fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// Series against the setting `key`: one per combination of the other
/// settings that vary, a point per value of `key`.
fn against_setting(records: &[RunRecord], key: &str) -> (SweepAxis, Vec<SweepSeries>) {
    let numeric = records
        .iter()
        .all(|r| number(r.settings.get(key)).is_some());
    let mut labels: Vec<String> = Vec::new();
    for r in records {
        let l = r.settings.get(key).map_or("-".into(), setting_text);
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    let name = key.replace('_', "-");
    let axis = if numeric {
        let xs: Vec<f64> = records
            .iter()
            .filter_map(|r| number(r.settings.get(key)))
            .collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
        if lo > 0.0 && hi / lo >= 10.0 {
            SweepAxis::Log(name)
        } else {
            SweepAxis::Linear(name)
        }
    } else {
        SweepAxis::Categories(name, labels.clone())
    };
    let x_of = |r: &RunRecord| match numeric {
        true => number(r.settings.get(key)).unwrap_or(f64::NAN),
        false => {
            let l = r.settings.get(key).map_or("-".into(), setting_text);
            labels.iter().position(|x| *x == l).unwrap_or(0) as f64
        }
    };
    let series = group_runs(records, &["seed", key])
        .into_iter()
        .map(|g| {
            let mut points: Vec<SweepPoint> = Vec::new();
            for r in &g.runs {
                let x = x_of(r);
                let acc = r.test_accuracy.unwrap_or(f64::NAN);
                match points.iter_mut().find(|p| p.x == x) {
                    Some(p) => p.runs.push((x, acc)),
                    None => points.push(SweepPoint {
                        x,
                        mean: 0.0,
                        std: 0.0,
                        runs: vec![(x, acc)],
                    }),
                }
            }
            for p in &mut points {
                let s = Stats::of(p.runs.iter().map(|r| r.1));
                (p.mean, p.std) = (s.mean, s.std);
            }
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            SweepSeries {
                label: label(&g.settings, records, key),
                points,
            }
        })
        .collect();
    (axis, series)
}

/// One point per setting at its mean seconds, each run at its own.
fn against_time(records: &[RunRecord], varied: &[String]) -> Vec<SweepSeries> {
    group_runs(records, &["seed"])
        .into_iter()
        .map(|g| {
            let acc = g.accuracy();
            SweepSeries {
                label: legend(&g.settings, |k| varied.iter().any(|v| v == k)),
                points: vec![SweepPoint {
                    x: g.seconds().mean,
                    mean: acc.mean,
                    std: acc.std,
                    runs: g
                        .runs
                        .iter()
                        .map(|r| (r.seconds, r.test_accuracy.unwrap_or(f64::NAN)))
                        .collect(),
                }],
            }
        })
        .collect()
}

/// A series' legend: the settings besides `key` that vary.
fn label(settings: &Settings, records: &[RunRecord], key: &str) -> String {
    let varied = varied_settings(records);
    legend(settings, |k| k != key && varied.iter().any(|v| v == k))
}

/// The settings `shown` as a legend: `hidden 128, lr 0.001`.
fn legend(settings: &Settings, shown: impl Fn(&str) -> bool) -> String {
    settings
        .iter()
        .filter(|(k, _)| shown(k))
        .map(|(k, v)| format!("{} {}", k.replace('_', "-"), setting_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

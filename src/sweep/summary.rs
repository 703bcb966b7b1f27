//! The table printed after a sweep: each setting's test accuracy as mean
//! ± standard deviation over its seeds, best first.

use std::fmt;

use serde_json::Value;

use super::record::{RunRecord, Settings, setting_text, settings_key, settings_text};

/// The most settings the table lists (the rest are in the results file).
const MAX_ROWS: usize = 25;

/// Mean and sample standard deviation of some values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// How many values.
    pub n: usize,
    /// Their mean (NaN for none).
    pub mean: f64,
    /// Their sample standard deviation (0 for fewer than two).
    pub std: f64,
}

impl Stats {
    /// The statistics of `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Stats {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Stats { n, mean, std }
    }
}

/// Runs that share their settings but for those left out (the seed).
#[derive(Clone, Debug)]
pub struct Group<'a> {
    /// The shared settings.
    pub settings: Settings,
    /// The runs, in the order given.
    pub runs: Vec<&'a RunRecord>,
}

impl Group<'_> {
    /// Test accuracy over the runs that finished training.
    pub fn accuracy(&self) -> Stats {
        Stats::of(self.runs.iter().filter_map(|r| r.test_accuracy))
    }

    /// Test loss over the runs that finished training.
    pub fn loss(&self) -> Stats {
        Stats::of(self.runs.iter().filter_map(|r| r.test_loss))
    }

    /// Seconds per run.
    pub fn seconds(&self) -> Stats {
        Stats::of(self.runs.iter().map(|r| r.seconds))
    }

    /// Runs whose training failed (diverged).
    pub fn failed(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.test_accuracy.is_none())
            .count()
    }
}

/// `records` grouped by their settings without the keys `without`, in
/// the order each group first appears.
pub fn group_runs<'a>(records: &'a [RunRecord], without: &[&str]) -> Vec<Group<'a>> {
    let mut groups: Vec<(String, Group<'a>)> = Vec::new();
    for r in records {
        let settings: Settings = r
            .settings
            .iter()
            .filter(|(k, _)| !without.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let key = settings_key(&settings);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.runs.push(r),
            None => groups.push((
                key,
                Group {
                    settings,
                    runs: vec![r],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The settings other than the seed whose values differ between
/// `records`, in the order they first appear.
pub fn varied_settings(records: &[RunRecord]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in records {
        for k in r.settings.keys() {
            if k != "seed" && !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys.retain(|k| {
        let first = records[0].settings.get(k);
        records.iter().any(|r| r.settings.get(k) != first)
    });
    keys
}

/// The summary of a sweep's runs: one row per setting (over its seeds),
/// by mean test accuracy, best first.
#[derive(Clone, Debug)]
pub struct Summary<'a> {
    groups: Vec<Group<'a>>,
    varied: Vec<String>,
    runs: usize,
}

impl<'a> Summary<'a> {
    /// The summary of `records`.
    pub fn new(records: &'a [RunRecord]) -> Summary<'a> {
        let mut groups = group_runs(records, &["seed"]);
        let mean = |g: &Group| {
            let m = g.accuracy().mean;
            if m.is_nan() { f64::NEG_INFINITY } else { m }
        };
        groups.sort_by(|a, b| mean(b).total_cmp(&mean(a)));
        Summary {
            groups,
            varied: varied_settings(records),
            runs: records.len(),
        }
    }

    /// The groups, best first.
    pub fn groups(&self) -> &[Group<'a>] {
        &self.groups
    }
}

/// `0.8843 ± 0.0021`, or the mean alone for one value.
fn mean_std(s: Stats, digits: usize) -> String {
    match s.n {
        0 => "-".into(),
        1 => format!("{:.digits$}", s.mean),
        _ => format!("{:.digits$} ± {:.digits$}", s.mean, s.std),
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups.is_empty() {
            return write!(f, "no runs finished yet");
        }
        writeln!(
            f,
            "{} runs, {} settings (test accuracy: mean ± std over seeds, best first)",
            self.runs,
            self.groups.len()
        )?;
        let failed = self.groups.iter().any(|g| g.failed() > 0);
        let mut header: Vec<String> = self.varied.iter().map(|k| k.replace('_', "-")).collect();
        header.extend(["seeds", "test accuracy", "test loss", "seconds"].map(String::from));
        if failed {
            header.push("diverged".into());
        }
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .take(MAX_ROWS)
            .map(|g| {
                let mut row: Vec<String> = self
                    .varied
                    .iter()
                    .map(|k| g.settings.get(k).map_or("-".into(), setting_text))
                    .collect();
                row.push(g.runs.len().to_string());
                row.push(mean_std(g.accuracy(), 4));
                row.push(mean_std(g.loss(), 4));
                row.push(format!("{:.2}", g.seconds().mean));
                if failed {
                    row.push(g.failed().to_string());
                }
                row
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        writeln!(f, "{}", line(&header))?;
        for r in &rows {
            writeln!(f, "{}", line(r))?;
        }
        if self.groups.len() > MAX_ROWS {
            writeln!(f, "... and {} more settings", self.groups.len() - MAX_ROWS)?;
        }
        let best = &self.groups[0];
        let shown: Settings = best
            .settings
            .iter()
            .filter(|(k, _)| self.varied.is_empty() || self.varied.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<String, Value>>();
        write!(
            f,
            "best: {}: test accuracy {} over {} seeds",
            if shown.is_empty() {
                "the only setting".into()
            } else {
                settings_text(&shown)
            },
            mean_std(best.accuracy(), 4),
            best.accuracy().n
        )
    }
}

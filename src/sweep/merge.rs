//! `fastnn sweep merge`: the results files of a sweep's shards (or of
//! several sweeps) as one, in grid order, each run once.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::record::{RunRecord, read_results, settings_text};
use crate::Result;

/// Results files merged.
#[derive(Debug, Default)]
pub struct Merged {
    /// Each run once, by place in the grid (then by settings), with the
    /// line it was read from.
    pub runs: Vec<(RunRecord, String)>,
    /// Files read.
    pub files: usize,
    /// Lines dropped because an earlier one holds the same run with the
    /// same results.
    pub duplicates: usize,
    /// Runs found twice with different results (the first one is kept):
    /// a sign of mixed fastnn versions or of a bug, so they are reported.
    pub conflicts: Vec<Conflict>,
    /// Incomplete last lines skipped (left by an interrupted shard).
    pub partial_lines: Vec<PathBuf>,
}

/// One run found with two different results.
#[derive(Clone, Debug)]
pub struct Conflict {
    /// The run's settings.
    pub settings: String,
    /// Where the kept record is: file and line.
    pub kept: (PathBuf, usize),
    /// Where the dropped one is.
    pub dropped: (PathBuf, usize),
    /// The two test accuracies (kept, dropped).
    pub accuracies: (Option<f64>, Option<f64>),
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let acc = |a: Option<f64>| a.map_or("none".into(), |a| format!("{a:.4}"));
        write!(
            f,
            "conflict: {} has other results in {} line {} (test accuracy {}) than in {} line {} \
             ({}); kept the first",
            self.settings,
            self.dropped.0.display(),
            self.dropped.1,
            acc(self.accuracies.1),
            self.kept.0.display(),
            self.kept.1,
            acc(self.accuracies.0),
        )
    }
}

impl Merged {
    /// Reads and merges `files`, in the order given.
    pub fn read(files: &[impl AsRef<Path>]) -> Result<Merged> {
        let mut m = Merged::default();
        let mut by_key: HashMap<String, (usize, PathBuf, usize)> = HashMap::new();
        for path in files {
            let path = path.as_ref();
            let file = read_results(path)?;
            m.files += 1;
            if file.partial > 0 {
                m.partial_lines.push(path.to_path_buf());
            }
            for logged in file.runs {
                let key = logged.record.key();
                match by_key.get(&key) {
                    None => {
                        by_key.insert(key, (m.runs.len(), path.to_path_buf(), logged.line_no));
                        m.runs.push((logged.record, logged.line));
                    }
                    Some((i, kept_path, kept_line)) => {
                        let kept = &m.runs[*i].0;
                        if kept.outcome() == logged.record.outcome() {
                            m.duplicates += 1;
                        } else {
                            m.conflicts.push(Conflict {
                                settings: settings_text(&kept.settings),
                                kept: (kept_path.clone(), *kept_line),
                                dropped: (path.to_path_buf(), logged.line_no),
                                accuracies: (kept.test_accuracy, logged.record.test_accuracy),
                            });
                        }
                    }
                }
            }
        }
        m.runs.sort_by_key(|(r, _)| (r.index, r.key()));
        Ok(m)
    }

    /// The merged file's text: one line per run.
    pub fn text(&self) -> String {
        self.runs
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect()
    }

    /// Writes the merged runs to `out`, atomically.
    pub fn write(&self, out: &Path) -> Result<()> {
        crate::files::write_bytes(out, self.text().as_bytes())
    }

    /// The records, in order.
    pub fn records(&self) -> Vec<RunRecord> {
        self.runs.iter().map(|(r, _)| r.clone()).collect()
    }
}

impl fmt::Display for Merged {
    /// What the merge did, one line, then one line per conflict and per
    /// skipped incomplete line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "merged {} runs from {} files ({} duplicates dropped, {} conflicts)",
            self.runs.len(),
            self.files,
            self.duplicates,
            self.conflicts.len()
        )?;
        for c in &self.conflicts {
            write!(f, "\n{c}")?;
        }
        for p in &self.partial_lines {
            write!(
                f,
                "\n{}: skipped an incomplete last line (an interrupted run)",
                p.display()
            )?;
        }
        Ok(())
    }
}

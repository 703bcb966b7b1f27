//! A sweep's results file: one JSON object per finished run, one line
//! each (JSONL), appended as each run finishes.
//!
//! The file is an append-only log, the one file fastnn writes in place
//! rather than through `files::write_atomically`: each line is
//! written by a single `write` to a file opened for appending, then
//! synced, so an interrupted sweep leaves whole lines, and at worst (a
//! crash inside that write) a partial last line, which the next sweep on
//! the file removes before appending. A run is identified by its
//! settings, so running the same sweep again skips the runs already there.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::train::{EpochStats, TrainConfig, TrainOptions};
use crate::{Error, Result};

/// A run's settings: its `train` flags that were given, plus the seed, as
/// a JSON object of [`TrainOptions`] fields (`{"hidden": [128], "lr":
/// 0.001, "seed": 1}`), so that `serde_json::from_value::<TrainOptions>`
/// gives the run's options back.
pub type Settings = serde_json::Map<String, Value>;

/// The settings of `options`: its fields, without those that are unset
/// or named in `not_given`, and with the `seed` the run trains with.
pub fn settings_of(options: &TrainOptions, not_given: &[&str], seed: u64) -> Result<Settings> {
    // Through text, so that an f32 reads back as the number it prints as
    // (0.001, not 0.0010000000474974513).
    let text = serde_json::to_string(options).map_err(|e| Error::Config(e.to_string()))?;
    let Ok(Value::Object(all)) = serde_json::from_str(&text) else {
        return Err(Error::Config("train options are not a JSON object".into()));
    };
    let mut settings: Settings = all
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !not_given.contains(&k.as_str()))
        .collect();
    settings.insert("seed".into(), seed.into());
    Ok(settings)
}

/// What identifies a run: its settings as compact JSON with sorted keys.
pub fn settings_key(settings: &Settings) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let m: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(m.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    let m: BTreeMap<&String, Value> = settings.iter().map(|(k, v)| (k, sorted(v))).collect();
    serde_json::to_string(&m).expect("JSON values always serialize")
}

/// One value of a setting as a flag takes it: `128,128`, `0.001`, `relu`.
pub fn setting_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(setting_text).collect::<Vec<_>>().join(","),
        v => v.to_string(),
    }
}

/// Settings as flags: `--hidden 128 --lr 0.001 --seed 1`.
pub fn settings_text(settings: &Settings) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("--{} {}", k.replace('_', "-"), setting_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line of the results file: a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's place in its sweep's grid (results are merged in this
    /// order).
    pub index: usize,
    /// The run's flags (see [`Settings`]).
    pub settings: Settings,
    /// Test accuracy after training; `null` if training failed.
    pub test_accuracy: Option<f64>,
    /// Test loss after training; `null` if training failed.
    pub test_loss: Option<f64>,
    /// Every epoch's metrics (loss, accuracy, seconds, steps).
    pub epochs: Vec<EpochStats>,
    /// Wall-clock seconds of the whole run: building the network,
    /// training and evaluating.
    pub seconds: f64,
    /// Seconds of the training epochs alone.
    pub train_seconds: f64,
    /// Threads the run trained on.
    pub threads: usize,
    /// The dataset (see [`crate::dataset_spec`]).
    pub dataset: String,
    /// Every setting of the run, the preset's included.
    pub config: TrainConfig,
    /// Why training stopped early (a diverging loss); the run is still
    /// finished: it would fail the same way again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The saved model, with `--save-models`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// The version that trained it.
    pub fastnn_version: String,
}

impl RunRecord {
    /// What identifies the run (see [`settings_key`]).
    pub fn key(&self) -> String {
        settings_key(&self.settings)
    }

    /// Its results without the timings (which differ from one machine
    /// and one moment to the next): two records of one run agree on
    /// these unless something is wrong.
    pub fn outcome(&self) -> RunRecord {
        let mut r = self.clone();
        r.seconds = 0.0;
        r.train_seconds = 0.0;
        r.threads = 0;
        r.model = None;
        for e in &mut r.epochs {
            e.seconds = 0.0;
        }
        r
    }
}

/// A record read from a results file, with the line it came from.
#[derive(Clone, Debug)]
pub struct LoggedRun {
    /// The record.
    pub record: RunRecord,
    /// The line as written (without its newline).
    pub line: String,
    /// 1-based line number.
    pub line_no: usize,
}

/// What a results file holds.
#[derive(Debug, Default)]
pub struct ResultsFile {
    /// Its complete lines, parsed.
    pub runs: Vec<LoggedRun>,
    /// Bytes of the complete lines (where an incomplete last line starts).
    pub complete_len: u64,
    /// Bytes of an incomplete last line (no newline and not a whole
    /// record), which an interrupted write left.
    pub partial: u64,
}

/// Parses the text of a results file `path`: every complete line must be
/// a record; an incomplete last line is counted, not parsed (a last line
/// without its newline that parses whole counts as complete).
pub fn parse_results(path: &Path, bytes: &[u8]) -> Result<ResultsFile> {
    let mut out = ResultsFile::default();
    for (i, chunk) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let complete = chunk.ends_with(b"\n");
        let text = std::str::from_utf8(chunk).map(str::trim);
        match text.map(|t| (t, serde_json::from_str::<RunRecord>(t))) {
            Ok((t, Ok(record))) => out.runs.push(LoggedRun {
                record,
                line: t.to_string(),
                line_no: i + 1,
            }),
            Ok(("", _)) if complete => {} // a blank line
            // Only the last chunk can lack its newline.
            _ if !complete => {
                out.partial = chunk.len() as u64;
                break;
            }
            Ok((_, Err(e))) => {
                return Err(Error::invalid(
                    path,
                    format!("line {}: not a sweep result: {e}", i + 1),
                ));
            }
            Err(_) => {
                return Err(Error::invalid(
                    path,
                    format!("line {}: not UTF-8 text", i + 1),
                ));
            }
        }
        out.complete_len += chunk.len() as u64;
    }
    Ok(out)
}

/// Reads the results file `path` (see [`parse_results`]).
pub fn read_results(path: &Path) -> Result<ResultsFile> {
    let mut bytes = Vec::new();
    crate::files::open_regular(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    parse_results(path, &bytes)
}

/// A results file open for appending, locked against a second sweep
/// writing it at the same time.
#[derive(Debug)]
pub struct ResultsLog {
    path: PathBuf,
    file: File,
    /// Whether the file ends in the middle of a line (a complete last
    /// line without its newline), so the next record starts a new line.
    needs_newline: bool,
}

impl ResultsLog {
    /// Opens (or creates) `path`, reads the runs already in it and removes
    /// an incomplete last line (returned as its byte count).
    pub fn open(path: &Path) -> Result<(ResultsLog, ResultsFile)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // A FIFO or a device (opened for writing too, so without blocking)
        // would hang or never hold lines.
        if !file.metadata().map_err(|e| Error::io(path, e))?.is_file() {
            return Err(Error::invalid(path, "is not a regular file"));
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::invalid(
                    path,
                    "another fastnn sweep is writing it (the file is locked)",
                ));
            }
            // A file system without locks: carry on unlocked.
            Err(std::fs::TryLockError::Error(_)) => {}
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        let results = parse_results(path, &bytes)?;
        if results.partial > 0 {
            file.set_len(results.complete_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io(path, e))?;
        }
        let needs_newline =
            results.complete_len > 0 && bytes[results.complete_len as usize - 1] != b'\n';
        Ok((
            ResultsLog {
                path: path.to_path_buf(),
                file,
                needs_newline,
            },
            results,
        ))
    }

    /// Appends `record` as one line, with one write, and syncs it.
    pub fn append(&mut self, record: &RunRecord) -> Result<()> {
        let mut line = String::new();
        if self.needs_newline {
            line.push('\n');
        }
        line += &serde_json::to_string(record).map_err(|e| Error::Config(e.to_string()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        self.needs_newline = false;
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

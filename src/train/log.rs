//! The per-epoch log (`--log FILE`): CSV or JSON lines, chosen by the
//! file's extension. The text is made here; the run writes it (atomically,
//! after every epoch), since training itself writes no files.

use std::path::Path;

use super::trainer::EpochStats;

/// A log's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// A header, then one comma-separated line per epoch.
    Csv,
    /// One JSON object per line and epoch.
    Jsonl,
}

/// The format `path`'s extension names (`.csv`, `.jsonl`), if any.
pub fn log_format(path: &Path) -> Option<LogFormat> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(LogFormat::Csv),
        "jsonl" => Some(LogFormat::Jsonl),
        _ => None,
    }
}

/// The whole log of `history`.
pub fn log_text(format: LogFormat, history: &[EpochStats]) -> String {
    let mut text = String::new();
    match format {
        LogFormat::Csv => {
            text += "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,steps\n";
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            for s in history {
                text += &format!(
                    "{},{},{},{},{},{},{},{}\n",
                    s.epoch,
                    s.loss,
                    s.accuracy,
                    opt(s.val_loss),
                    opt(s.val_accuracy),
                    opt(s.lr),
                    s.seconds,
                    s.steps
                );
            }
        }
        LogFormat::Jsonl => {
            for s in history {
                text += &serde_json::to_string(s).expect("plain data serializes");
                text.push('\n');
            }
        }
    }
    text
}

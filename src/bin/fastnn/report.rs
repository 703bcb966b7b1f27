//! Printing: errors, the Keras-style progress line, probabilities.

use fastnn::{EpochStats, Event};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Instant;

/// `fastnn --version`: the crate version and the compiled and detected SIMD
/// features.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n{}",
        env!("CARGO_PKG_VERSION"),
        fastnn::kernels::describe()
    )
});

/// The exit status of a command, printing its error as one line.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    // A closed pipe (`fastnn ... | head`) is not a failure.
    if let Some(io) = e.root_cause().downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    eprintln!("fastnn: error: {}", one_line(&e));
    ExitCode::FAILURE
}

/// An error and its causes on one line, each fact once: fastnn's errors
/// already name their cause, which the chain would repeat.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Help and version go to stdout as usual; a usage error is one line.
pub fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::FAILURE;
    }
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or("invalid arguments");
    eprintln!("fastnn: {line}");
    ExitCode::FAILURE
}

/// Whether stdout is a terminal, and its width.
pub fn terminal() -> Option<usize> {
    let term = console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    Some(term.size_checked().map_or(80, |(_, w)| w as usize))
}

/// The classes holding at least 0.5% of the probability, likeliest first.
pub fn likeliest(p: &[f32], names: &[String]) -> String {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let parts: Vec<String> = order
        .iter()
        .filter(|&&c| p[c] >= 0.005)
        .map(|&c| format!("{} {:.1}%", names[c], p[c] * 100.0))
        .collect();
    format!("    probabilities: {}", parts.join(", "))
}

/// Seconds and time per step as Keras prints them: `2s 1ms/step`.
pub fn keras_time(seconds: f64, steps: usize) -> String {
    let per = seconds / steps.max(1) as f64;
    let per = if per >= 1.0 {
        format!("{per:.0}s/step")
    } else if per >= 1e-3 {
        format!("{:.0}ms/step", per * 1e3)
    } else {
        format!("{:.0}us/step", per * 1e6)
    };
    let total = if seconds >= 10.0 {
        format!("{seconds:.0}s")
    } else {
        format!("{seconds:.2}s")
    };
    format!("{total} {per}")
}

/// The per-epoch progress: a live bar in a terminal, one plain line per
/// epoch otherwise, both in Keras's format
/// (`1875/1875 [====] - 0.31s 165us/step - loss: 0.2488 - accuracy: 0.9076`).
pub struct Progress {
    bar: Option<ProgressBar>,
    live: bool,
    started: Instant,
    last_draw: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            bar: None,
            live: std::io::stdout().is_terminal(),
            started: Instant::now(),
            last_draw: Instant::now(),
        }
    }

    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::EpochStart {
                epoch,
                epochs,
                steps,
            } => {
                println!("Epoch {epoch}/{epochs}");
                self.started = Instant::now();
                if self.live {
                    let bar = ProgressBar::with_draw_target(
                        Some(steps as u64),
                        ProgressDrawTarget::stdout_with_hz(10),
                    );
                    bar.set_style(
                        ProgressStyle::with_template("{pos:>5}/{len} [{bar:30}] - {msg}")
                            .expect("valid template")
                            .progress_chars("=>."),
                    );
                    self.bar = Some(bar);
                }
            }
            Event::Step {
                step,
                steps,
                loss,
                accuracy,
            } => {
                // Drawing is throttled: the step itself takes microseconds.
                if let Some(bar) = &self.bar
                    && (step == steps || self.last_draw.elapsed().as_millis() >= 100)
                {
                    self.last_draw = Instant::now();
                    bar.set_position(step as u64);
                    let secs = self.started.elapsed().as_secs_f64();
                    bar.set_message(format!(
                        "{} - loss: {loss:.4} - accuracy: {accuracy:.4}",
                        keras_time(secs, step)
                    ));
                }
            }
            Event::EpochEnd { stats, .. } => {
                let line = epoch_line(stats);
                match self.bar.take() {
                    Some(bar) => {
                        bar.set_position(stats.steps as u64);
                        bar.finish_with_message(line_tail(stats));
                    }
                    None => println!("{line}"),
                }
            }
        }
    }
}

fn line_tail(s: &EpochStats) -> String {
    let mut t = format!(
        "{} - loss: {:.4} - accuracy: {:.4}",
        keras_time(s.seconds, s.steps),
        s.loss,
        s.accuracy
    );
    if let (Some(l), Some(a)) = (s.val_loss, s.val_accuracy) {
        t += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
    }
    if let Some(lr) = s.lr {
        t += &format!(" - lr: {lr:.3e}");
    }
    t
}

/// One epoch's line without a bar.
pub fn epoch_line(s: &EpochStats) -> String {
    format!(
        "{}/{} [{}] - {}",
        s.steps,
        s.steps,
        "=".repeat(30),
        line_tail(s)
    )
}

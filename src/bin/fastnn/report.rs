//! Printing: errors, the Keras-style progress line, probabilities.

use fastnn::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
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

/// Writes to stdout and flushes: a closed pipe or a full disk comes back as
/// an error naming stdout, never a panic.
pub fn out(text: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(text)
        .and_then(|()| stdout.flush())
        .map_err(|e| fastnn::Error::io("stdout", e).into())
}

/// Prints one error line (if stderr is still there) and fails.
pub fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "fastnn: {message}");
    ExitCode::FAILURE
}

/// The exit status of a command, printing its error as one line.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    // A closed pipe (`fastnn ... | head`) ends the program quietly, as it
    // does other Unix tools.
    if let Some(io) = e.root_cause().downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    fail(&format!("error: {}", one_line(&e)))
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

/// Help and version go to stdout, a usage error to stderr, each as clap
/// writes it: the problem (with every missing argument or valid value),
/// the usage line and the hint. A closed stream is no panic.
pub fn clap_exit(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

/// The lines `train` and `eval` print: `Test loss:` and `Test accuracy:`.
pub fn evaluation(e: &fastnn::Evaluation) -> String {
    format!(
        "Test loss: {:.4}\nTest accuracy: {:.4}\n",
        e.loss, e.accuracy
    )
}

/// Whether stdout is a terminal, and its width.
pub fn terminal() -> Option<usize> {
    let term = console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    Some(term.size_checked().map_or(80, |(_, w)| w as usize))
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

    /// Shows `event`; an error writing stdout stops training.
    pub fn on_event(&mut self, event: Event) -> fastnn::Result<()> {
        let print = |text: String| -> fastnn::Result<()> {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{text}")
                .and_then(|()| stdout.flush())
                .map_err(|e| fastnn::Error::io("stdout", e))
        };
        match event {
            Event::EpochStart {
                epoch,
                epochs,
                steps,
            } => {
                print(format!("Epoch {epoch}/{epochs}"))?;
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
                        fastnn::keras_time(secs, step)
                    ));
                }
            }
            Event::EpochEnd { stats, .. } => match self.bar.take() {
                Some(bar) => {
                    bar.set_position(stats.steps as u64);
                    bar.finish_with_message(stats.metrics_line());
                }
                None => print(stats.to_string())?,
            },
        }
        Ok(())
    }
}

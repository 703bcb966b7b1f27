//! `fastnn sweep` and `fastnn sweep merge` as the command line runs them:
//! the flags (clap, on the library's types), the plan, the results file,
//! Ctrl-C, the progress lines, the summary and the pictures. The binary
//! only hands over the parsed flags and prints the lines.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::grid::{GridArgs, Plan, PlannedRun};
use super::merge::Merged;
use super::plot::{PlotX, write_plots};
use super::record::{ResultsLog, RunRecord, read_results};
use super::runner::{Datasets, Packing, RunStats, RunTask, Runner};
use super::shard::Shard;
use super::summary::Summary;
use crate::{Error, Result};

/// `fastnn sweep`: the train flags as lists, the seeds, how to run, where
/// the results go.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    /// `merge`, or none to run a sweep.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The train flags, each a list of values.
    #[command(flatten)]
    pub grid: GridArgs,
    /// A TOML or JSON file of settings for larger grids: a key per train
    /// flag (and `seeds`), each a value or a list of values, and
    /// `[[grid]]` tables for several grids; flags given here replace its
    /// values.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Threads of each run; `threads / K` runs train at once.
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads_per_run: u16,
    /// Threads in all [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Run only shard I of N (I from 0): the runs whose place in the grid
    /// is I modulo N, e.g. `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Append each finished run to this JSONL file; runs already in it are
    /// skipped.
    #[arg(long, value_name = "RUNS.jsonl", required = true)]
    pub out: Option<PathBuf>,
    /// Write pictures here: test accuracy against a setting, and against
    /// time.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// The setting the picture's x axis shows (`lr`, `hidden`,
    /// `batch-size`, …) or `time` [default: the first that varies].
    #[arg(long, value_name = "SETTING", requires = "plots")]
    pub plot_x: Option<String>,
    /// Save each run's model here, as `run-<hash of its settings>.safetensors`.
    #[arg(long, value_name = "DIR")]
    pub save_models: Option<PathBuf>,
    /// List the runs, and which are done, without training.
    #[arg(long)]
    pub list: bool,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// The subcommands of `fastnn sweep`.
#[derive(clap::Subcommand, Debug)]
pub enum SweepCommand {
    /// Merge results files (a sweep's shards) into one: grid order, each
    /// run once, conflicting duplicates reported.
    Merge(MergeArgs),
}

/// `fastnn sweep merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The results files.
    #[arg(required = true, value_name = "RUNS.jsonl")]
    pub files: Vec<PathBuf>,
    /// The merged file (written whole, atomically; may be an input).
    #[arg(long, value_name = "ALL.jsonl")]
    pub out: PathBuf,
}

/// Runs `fastnn sweep` (or `sweep merge`), handing each line to print.
pub fn run_cli(args: SweepArgs, print: &mut dyn FnMut(&str)) -> Result<()> {
    match args.command {
        Some(SweepCommand::Merge(m)) => merge(&m, print),
        None => sweep(&args, print),
    }
}

fn merge(a: &MergeArgs, print: &mut dyn FnMut(&str)) -> Result<()> {
    let merged = Merged::read(&a.files)?;
    merged.write(&a.out)?;
    print(&format!("{merged} into {}", a.out.display()));
    let records = merged.records();
    print(&Summary::new(&records).to_string());
    Ok(())
}

fn sweep(a: &SweepArgs, print: &mut dyn FnMut(&str)) -> Result<()> {
    let out = a.out.as_deref().expect("clap requires --out");
    let plan = Plan::new(&a.grid, a.spec.as_deref())?;
    let shard = a.shard.unwrap_or(Shard::ALL);
    let mine: Vec<&PlannedRun> = plan
        .runs
        .iter()
        .filter(|r| shard.contains(r.index))
        .collect();
    if a.list {
        return list(&mine, out, print);
    }
    // Output folders first: a mistyped one fails before any training.
    let dirs: Vec<&Path> = a
        .plots
        .iter()
        .chain(&a.save_models)
        .map(|p| p.as_path())
        .collect();
    crate::run::check_outputs(&[], &dirs)?;
    let (mut log, existing) = ResultsLog::open(out)?;
    if existing.partial > 0 {
        print(&format!(
            "{}: removed an incomplete last line ({} bytes) left by an interrupted run",
            out.display(),
            existing.partial
        ));
    }
    let my_keys: HashSet<String> = mine.iter().map(|r| r.key()).collect();
    let mut records: Vec<RunRecord> = Vec::new();
    let mut seen = HashSet::new();
    for l in existing.runs {
        let key = l.record.key();
        if my_keys.contains(&key) && seen.insert(key) {
            records.push(l.record);
        }
    }
    let todo: Vec<&PlannedRun> = mine
        .iter()
        .copied()
        .filter(|r| !seen.contains(&r.key()))
        .collect();
    let packing = Packing::new(
        a.threads.map(usize::from),
        a.threads_per_run.into(),
        todo.len(),
    )?;
    print(&plan_line(
        &plan,
        &mine,
        records.len(),
        shard,
        out,
        &packing,
    ));
    let stats = if todo.is_empty() {
        RunStats::default()
    } else {
        let datasets = Datasets::open(todo.iter().map(|r| &r.options))?;
        let tasks: Vec<RunTask> = todo.iter().map(|r| r.task()).collect();
        let stop = StopOnSignals::install()?;
        let runner = Runner {
            packing,
            datasets: &datasets,
            save_models: a.save_models.as_deref(),
            stop: stop.flag(),
        };
        let by_index: HashMap<usize, &PlannedRun> = todo.iter().map(|r| (r.index, *r)).collect();
        let (total, mut n) = (todo.len(), 0);
        let stats = runner.run(&tasks, &mut |record| {
            log.append(&record)?;
            n += 1;
            let flags = by_index
                .get(&record.index)
                .map_or(String::new(), |r| r.command_line());
            print(&progress_line(n, total, &record, &flags));
            records.push(record);
            Ok(())
        })?;
        if stats.interrupted {
            return Err(Error::Config(format!(
                "interrupted: {} of {total} runs finished and are in {}; the same command \
                 continues the sweep",
                stats.finished,
                out.display()
            )));
        }
        stats
    };
    records.sort_by_key(|r| r.index);
    print("");
    print(&Summary::new(&records).to_string());
    if stats.finished > 0 {
        print(&throughput_line(&stats, &packing));
    }
    if let Some(dir) = &a.plots {
        let x = a.plot_x.as_deref().map(PlotX::parse);
        for path in write_plots(dir, &records, x.as_ref())? {
            print(&format!("wrote {}", path.display()));
        }
    }
    Ok(())
}

/// `--list`: each run of the shard, done (in `out`) or not.
fn list(mine: &[&PlannedRun], out: &Path, print: &mut dyn FnMut(&str)) -> Result<()> {
    let done: HashSet<String> = if out.exists() {
        read_results(out)?
            .runs
            .iter()
            .map(|l| l.record.key())
            .collect()
    } else {
        HashSet::new()
    };
    for r in mine {
        let status = if done.contains(&r.key()) {
            "done"
        } else {
            "todo"
        };
        print(&format!("{:>5} {status} {}", r.index, r.command_line()));
    }
    Ok(())
}

/// What the sweep is about to do.
fn plan_line(
    plan: &Plan,
    mine: &[&PlannedRun],
    done: usize,
    shard: Shard,
    out: &Path,
    packing: &Packing,
) -> String {
    let mut line = format!("sweep: {} runs", plan.runs.len());
    if plan.duplicates > 0 {
        line += &format!(" ({} duplicate combinations dropped)", plan.duplicates);
    }
    if shard != Shard::ALL {
        line += &format!(", {} in shard {shard}", mine.len());
    }
    let todo = mine.len() - done;
    line += &format!("; {done} already in {}, {todo} to train", out.display());
    if todo > 0 {
        let s = if packing.threads_per_run == 1 {
            ""
        } else {
            "s"
        };
        line += &format!(
            ", {} at once on {} thread{s} each",
            packing.concurrent, packing.threads_per_run
        );
    }
    line
}

/// One finished run.
fn progress_line(n: usize, total: usize, r: &RunRecord, flags: &str) -> String {
    let width = total.to_string().len();
    let result = match (r.test_accuracy, r.test_loss, &r.error) {
        (Some(acc), Some(loss), _) => format!("test accuracy {acc:.4} loss {loss:.4}"),
        (_, _, Some(e)) => e.clone(),
        _ => "no result".into(),
    };
    format!("[{n:>width$}/{total}] {result}  {:.1}s  {flags}", r.seconds)
}

/// How fast the sweep went, against the FMA peak of the threads it used
/// (measured now, in about a tenth of a second).
fn throughput_line(s: &RunStats, p: &Packing) -> String {
    let peak = crate::kernels::cpu::measure_fma_peak_gflops(p.threads());
    format!(
        "{} runs in {:.1}s on {} threads ({} at once × {}): {:.0} models/hour; training \
         {:.1} GFLOP at {:.1} GFLOP/s, {:.1}% of the measured FMA peak ({:.0} GFLOP/s)",
        s.finished,
        s.seconds,
        p.threads(),
        p.concurrent,
        p.threads_per_run,
        s.models_per_hour(),
        s.train_gflop,
        s.gflops(),
        100.0 * s.gflops() / peak,
        peak
    )
}

/// Whether a sweep in this process has begun to take signals
/// ([`StopOnSignals`]), and whether the signal that stops it was taken
/// already. Never reset when the sweep ends: the binary's handler runs on
/// a thread of its own, after the signal has already set the sweep's stop
/// flag, and the sweep may by then have stopped and be printing why; were
/// the flag reset, that late handler would take the signal for one outside
/// a sweep and end the process mid-message (seen under load in the
/// SIGTERM test). A `fastnn sweep` command ends with its sweep anyway.
static SWEEP_STARTED: AtomicBool = AtomicBool::new(false);
static FIRST_SIGNAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// For the process's own Ctrl-C/SIGTERM handler (the binary's, which
/// removes temporary files and exits): true, once, after a sweep has begun
/// to take signals, and then the handler should return and let the sweep
/// stop cleanly; false otherwise (a second signal, or no sweep yet), and
/// the handler goes on.
pub fn first_signal_stops_sweep() -> bool {
    SWEEP_STARTED.load(Ordering::SeqCst) && !FIRST_SIGNAL_TAKEN.swap(true, Ordering::SeqCst)
}

/// Ctrl-C and SIGTERM (what Slurm and Kubernetes send before killing a
/// task) while a sweep trains: the first stops it cleanly (no run starts,
/// runs in progress are dropped, every finished run is in the results
/// file). The handler is added to the process's own (signal-hook chains
/// them), which sees [`first_signal_stops_sweep`] and acts on a second
/// signal; a process without a handler of its own ignores further signals
/// until the sweep ends.
struct StopOnSignals {
    flag: Arc<AtomicBool>,
}

impl StopOnSignals {
    fn install() -> Result<StopOnSignals> {
        let flag = Arc::new(AtomicBool::new(false));
        // The sweep's flag first: a signal in between then both stops the
        // sweep and, not yet taken for it, ends the process as before.
        #[cfg(unix)]
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .map_err(|e| Error::Config(format!("cannot handle signals: {e}")))?;
        }
        FIRST_SIGNAL_TAKEN.store(false, Ordering::SeqCst);
        SWEEP_STARTED.store(true, Ordering::SeqCst);
        Ok(StopOnSignals { flag })
    }

    fn flag(&self) -> &AtomicBool {
        &self.flag
    }
}

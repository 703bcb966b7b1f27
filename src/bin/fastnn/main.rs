//! The `fastnn` command-line tool: argument parsing and printing over the
//! library.

mod args;
mod report;

use anyhow::{Context, Result, bail};
use args::*;
use clap::Parser;
use fastnn::viz::{self, Pictures, Prediction};
use fastnn::{
    Dataset, Engine, Images, Network, Split, TrainRun, argmax, evaluate, model_dataset,
    open_dataset, predict,
};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Prints to stdout; an error (a closed pipe, a full disk) returns from the
/// command instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => { report::out(format_args!($($arg)*))? };
}

fn main() -> ExitCode {
    // Refuse, before any kernel runs, a CPU lacking a compiled-in feature.
    if let Err(msg) = fastnn::kernels::ensure_supported() {
        return report::fail(&msg);
    }
    // Ctrl-C or SIGTERM during a save leaves no temporary file behind.
    let _ = ctrlc::set_handler(|| {
        if fastnn::sweep::first_signal_stops_sweep() {
            return; // a sweep stops itself cleanly; a second signal ends it here
        }
        fastnn::remove_temp_files();
        std::process::exit(130);
    });
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report::clap_exit(e),
    };
    report::exit(run(cli))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Predict(a) => predict_cmd(a),
        Command::Show(a) => show(a),
        Command::Bench(a) => bench(a),
        Command::Data(a) => data(a),
        // A closed stdout must not stop a sweep: its results go to --out.
        Command::Sweep(a) => Ok(fastnn::sweep::run_cli(a, &mut |l| {
            let _ = writeln!(std::io::stdout(), "{l}");
        })?),
        Command::Export(a) => {
            say!("{}\n", a.run()?);
            Ok(())
        }
    }
}

/// The engine `--threads` asks for (all cores by default).
fn engine(threads: &ThreadsArg) -> Result<Engine> {
    Ok(match threads.threads {
        Some(n) => Engine::new(n.into())?,
        None => Engine::all_cores()?,
    })
}

/// Where pictures go: the terminal unless `quiet` (or not a terminal), and
/// PNG files in `dir` when given.
fn pictures(dir: Option<&Path>, quiet: bool) -> Result<Pictures> {
    let terminal = report::terminal().filter(|_| !quiet);
    Ok(Pictures::new(
        dir,
        terminal.map(|w| (w, viz::detect_color_mode())),
    )?)
}

fn train(a: TrainArgs) -> Result<()> {
    let outputs: Vec<&Path> = a.save.iter().chain(&a.json).map(|p| p.as_path()).collect();
    let dirs: Vec<&Path> = a
        .plots
        .iter()
        .chain(&a.checkpoint_dir)
        .map(|p| p.as_path())
        .collect();
    fastnn::check_outputs(&outputs, &dirs)?;
    let engine = engine(&a.threads)?;
    let mut run = match &a.resume {
        Some(checkpoint) => TrainRun::resume(&engine, &a.options, checkpoint)?,
        None => TrainRun::new(&engine, &a.options)?,
    };
    run.trainer_mut().set_kernel(a.kernel);
    say!("{}\n{}\n", run.banner(), run.description());
    for note in run.notes() {
        say!("{note}\n");
    }
    let pictures = pictures(a.plots.as_deref(), a.quiet)?;
    say!("{}", pictures.samples(run.dataset())?);

    let started = Instant::now();
    let mut progress = report::Progress::new();
    run.fit(None, a.checkpoint_dir.as_deref(), &mut |e| {
        progress.on_event(e)
    })?;
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(stop) = run.stop_report() {
        say!("{stop}\n");
    }

    let (ds, trainer) = (run.dataset(), run.trainer());
    let test = trainer.evaluate(&ds.test())?;
    say!("\n{}", report::evaluation(&test));
    if let Some(gap) = run.gap(&test) {
        say!("{gap}\n");
    }
    say!("\n");
    let first: Vec<usize> = (0..10.min(ds.len(Split::Test))).collect();
    let probs = print_predictions(trainer.engine(), trainer.network(), ds, &first, false)?;
    say!("{}", pictures.predictions(ds, &first, &probs)?);
    let history = trainer.history();
    say!(
        "{}",
        pictures.curves_and_confusion(history, &test, ds.classes())?
    );
    if let Some(path) = &a.save {
        fastnn::save_model(path, trainer.network(), &run.provenance())?;
        say!("saved the model to {}\n", path.display());
    }
    if let Some(path) = &a.json {
        fastnn::write_json(path, &run.summary(&test, train_seconds))?;
    }
    Ok(())
}

/// Prints expected and guessed class of test images (with the likeliest
/// classes when `detail`); returns the probabilities.
fn print_predictions(
    engine: &Engine,
    net: &Network,
    ds: &Dataset,
    indices: &[usize],
    detail: bool,
) -> Result<Vec<Vec<f32>>> {
    let probs = predict(engine, net, Images::U8(ds.pixels(Split::Test)), indices)?;
    let names = ds.classes();
    for (&i, p) in indices.iter().zip(&probs) {
        let guess = argmax(p);
        let expected = ds.label(Split::Test, i) as usize;
        say!(
            "test image {i:>5}: Expected: {:<12} Guess: {:<12} ({:.1}%){}\n",
            names[expected],
            names[guess],
            p[guess] * 100.0,
            if guess == expected { "" } else { "  <- wrong" }
        );
        if detail {
            say!("    {}\n", fastnn::likeliest(p, names));
        }
    }
    Ok(probs)
}

fn eval(a: EvalArgs) -> Result<()> {
    fastnn::check_outputs(&a.json.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[])?;
    let engine = engine(&a.threads)?;
    let loaded = fastnn::load_model(&a.model)?;
    let ds = model_dataset(&a.model, &loaded, a.dataset.as_deref())?;
    let eval = evaluate(&engine, &loaded.network, &ds.test())
        .with_context(|| a.model.display().to_string())?;
    say!("{}", report::evaluation(&eval));
    say!("\n{}", eval.report(loaded.network.class_names()));
    if let Some(path) = &a.json {
        fastnn::write_json(path, &eval)?;
    }
    Ok(())
}

fn predict_cmd(a: PredictArgs) -> Result<()> {
    fastnn::check_outputs(&a.out.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[])?;
    let engine = engine(&a.threads)?;
    let loaded = fastnn::load_model(&a.model)?;
    let net = &loaded.network;
    let names = net.class_names();
    let Some(image) = &a.image else {
        let ds = model_dataset(&a.model, &loaded, a.dataset.as_deref())?;
        let probs = print_predictions(&engine, net, &ds, &a.index, true)
            .with_context(|| a.model.display().to_string())?;
        match &a.out {
            Some(out) => {
                let preds = viz::predictions(&ds, &a.index, &probs);
                viz::save_png(&viz::prediction_grid(&preds, ds.classes(), 5)?, out)?;
                say!("wrote {}\n", out.display());
            }
            None => say!(
                "{}",
                pictures(None, false)?.predictions(&ds, &a.index, &probs)?
            ),
        }
        return Ok(());
    };
    let (pixels, notes) = viz::prepare_user_image(image)?;
    let arch = net.architecture();
    if (arch.rows, arch.cols) != (28, 28) {
        bail!(
            "{}: takes {}x{} images; --image prepares 28x28 ones",
            a.model.display(),
            arch.rows,
            arch.cols
        );
    }
    for note in &notes {
        say!("{}: {note}\n", image.display());
    }
    let probs = predict(&engine, net, Images::U8(&pixels), &[0])
        .with_context(|| a.model.display().to_string())?;
    let guess = argmax(&probs[0]);
    let p = probs[0][guess] * 100.0;
    say!("{}: Guess: {} ({p:.1}%)\n", image.display(), names[guess]);
    say!("    {}\n", fastnn::likeliest(&probs[0], names));
    let card = Prediction {
        pixels: &pixels,
        rows: 28,
        cols: 28,
        expected: None,
        guess,
        probs: &probs[0],
    };
    if let Some(out) = &a.out {
        viz::save_png(&viz::prediction_card(&card, names)?, out)?;
        say!("wrote {}\n", out.display());
    } else if report::terminal().is_some() {
        let color = viz::detect_color_mode();
        say!("{}", viz::terminal_predictions(&[card], names, 1, color));
    }
    Ok(())
}

fn show(a: ShowArgs) -> Result<()> {
    fastnn::check_outputs(&a.out.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[])?;
    let ds = open_dataset(&a.dataset)?;
    let len = ds.len(a.split);
    if a.start >= len {
        bail!(
            "--start {} is past the last of the {len} {} images of {}",
            a.start,
            a.split,
            ds.name()
        );
    }
    let end = (a.start + a.count as usize).min(len);
    let indices: Vec<usize> = (a.start..end).collect();
    let items = viz::labeled(&ds, a.split, &indices);
    if let Some(out) = &a.out {
        viz::save_png(&viz::image_grid(&items, 5.min(items.len()))?, out)?;
        say!("wrote {} images to {}\n", items.len(), out.display());
    } else if let Some(width) = report::terminal() {
        let cols = viz::terminal_columns(&items, 5, width);
        let color = viz::detect_color_mode();
        say!("{}", viz::terminal_preview(&items, cols, color));
    } else {
        for (i, item) in indices.iter().zip(&items) {
            say!("{} image {i}: {}\n", a.split, item.caption);
        }
    }
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    fastnn::check_outputs(&a.json.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[])?;
    let threads: Vec<usize> = a.threads.iter().flatten().map(|&t| t.into()).collect();
    let mut printed = Ok(());
    let mut print = |text: String| {
        if printed.is_ok() {
            printed = report::out(format_args!("{text}\n"));
        }
    };
    let records = fastnn::bench::run(a.what, &threads, a.quick, &mut print)?;
    printed?;
    if let Some(path) = &a.json {
        fastnn::write_json(path, &records)?;
        say!("\nwrote {}\n", path.display());
    }
    Ok(())
}

fn data(a: DataArgs) -> Result<()> {
    match a.command {
        DataCommand::Info { files } => {
            for f in files {
                say!("{}\n", fastnn::idx_file::info(&f)?);
            }
        }
        DataCommand::Verify => {
            let dir = fastnn::dataset::checked_data_dir()?;
            let rows = fastnn::verify_data(&dir)?;
            for r in &rows {
                say!("{r}\n");
            }
            let bad = rows.iter().filter(|r| !r.ok).count();
            if bad > 0 {
                bail!(
                    "{bad} of {} files in {} do not match their checksums",
                    rows.len(),
                    dir.display()
                );
            }
            say!(
                "{} files in {} match their checksums\n",
                rows.len(),
                dir.display()
            );
        }
        DataCommand::Install { from, to } => {
            let (from, to, files) = fastnn::install_data(from.as_deref(), to.as_deref())?;
            let (n, from, to) = (files.len(), from.display(), to.display());
            say!("copied {n} files from {from} to {to}; they match their checksums\n");
        }
    }
    Ok(())
}

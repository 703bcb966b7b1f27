//! The `fastnn` command-line tool: argument parsing and printing over the
//! library.

mod args;
mod report;

use anyhow::{Result, bail};
use args::*;
use clap::Parser;
use fastnn::viz::{self, Pictures, Prediction};
use fastnn::{
    Dataset, Engine, Evaluation, Images, Network, Split, TrainRun, argmax, evaluate, model_dataset,
    open_dataset, predict,
};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    // Refuse, before any kernel runs, a CPU lacking a compiled-in feature.
    if let Err(msg) = fastnn::kernels::ensure_supported() {
        eprintln!("fastnn: {msg}");
        return ExitCode::FAILURE;
    }
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
        Command::Export(a) => {
            println!("{}", a.run()?);
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
    let engine = engine(&a.threads)?;
    let mut run = match &a.resume {
        Some(checkpoint) => TrainRun::resume(&engine, &a.options, checkpoint)?,
        None => TrainRun::new(&engine, &a.options)?,
    };
    run.trainer_mut().set_kernel(a.kernel);
    let ds = run.dataset();
    println!(
        "fastnn {}: {} ({} training, {} test images of {}x{})",
        env!("CARGO_PKG_VERSION"),
        ds.dir()
            .map_or(ds.name().to_string(), |d| d.display().to_string()),
        ds.len(Split::Train),
        ds.len(Split::Test),
        ds.rows(),
        ds.cols()
    );
    println!("{}", run.description());
    if run.resumed_after() > 0 {
        println!("resuming after epoch {}", run.resumed_after());
    }
    for note in run.notes() {
        println!("{note}");
    }
    let pictures = pictures(a.plots.as_deref(), a.quiet)?;
    print!("{}", pictures.samples(run.dataset())?);

    let started = Instant::now();
    let mut progress = report::Progress::new();
    run.fit(None, a.checkpoint_dir.as_deref(), &mut |e| {
        progress.on_event(e);
        Ok(())
    })?;
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(stop) = run.stop_report() {
        println!("{stop}");
    }

    let (ds, trainer) = (run.dataset(), run.trainer());
    let test = trainer.evaluate(&ds.test())?;
    println!();
    print_eval(&test);
    if let Some(gap) = run.gap(&test) {
        println!("{gap}");
    }
    println!();
    let first: Vec<usize> = (0..10.min(ds.len(Split::Test))).collect();
    let probs = print_predictions(trainer.engine(), trainer.network(), ds, &first, false)?;
    print!("{}", pictures.predictions(ds, &first, &probs)?);
    print!(
        "{}",
        pictures.curves_and_confusion(trainer.history(), &test, ds.classes())?
    );
    if let Some(path) = &a.save {
        fastnn::save_model(path, trainer.network(), &run.provenance())?;
        println!("saved the model to {}", path.display());
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
        println!(
            "test image {i:>5}: Expected: {:<12} Guess: {:<12} ({:.1}%){}",
            names[expected],
            names[guess],
            p[guess] * 100.0,
            if guess == expected { "" } else { "  <- wrong" }
        );
        if detail {
            println!("{}", report::likeliest(p, names));
        }
    }
    Ok(probs)
}

fn print_eval(eval: &Evaluation) {
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
}

fn eval(a: EvalArgs) -> Result<()> {
    let engine = engine(&a.threads)?;
    let loaded = fastnn::load_model(&a.model)?;
    let ds = model_dataset(&a.model, &loaded, a.dataset.as_deref())?;
    let eval = evaluate(&engine, &loaded.network, &ds.test())?;
    print_eval(&eval);
    print!("\n{}", eval.report(loaded.network.class_names()));
    if let Some(path) = &a.json {
        fastnn::write_json(path, &eval)?;
    }
    Ok(())
}

fn predict_cmd(a: PredictArgs) -> Result<()> {
    let engine = engine(&a.threads)?;
    let loaded = fastnn::load_model(&a.model)?;
    let net = &loaded.network;
    let names = net.class_names();
    let Some(image) = &a.image else {
        let ds = model_dataset(&a.model, &loaded, a.dataset.as_deref())?;
        let probs = print_predictions(&engine, net, &ds, &a.index, true)?;
        let pictures = pictures(None, false)?;
        match &a.out {
            Some(out) => {
                let preds = viz::predictions(&ds, &a.index, &probs);
                viz::save_png(&viz::prediction_grid(&preds, ds.classes(), 5), out)?;
                println!("wrote {}", out.display());
            }
            None => print!("{}", pictures.predictions(&ds, &a.index, &probs)?),
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
        println!("{}: {note}", image.display());
    }
    let probs = predict(&engine, net, Images::U8(&pixels), &[0])?;
    let guess = argmax(&probs[0]);
    println!(
        "{}: Guess: {} ({:.1}%)",
        image.display(),
        names[guess],
        probs[0][guess] * 100.0
    );
    println!("{}", report::likeliest(&probs[0], names));
    let card = Prediction {
        pixels: &pixels,
        rows: 28,
        cols: 28,
        expected: None,
        guess,
        probs: &probs[0],
    };
    if let Some(out) = &a.out {
        viz::save_png(&viz::prediction_card(&card, names), out)?;
        println!("wrote {}", out.display());
    } else if report::terminal().is_some() {
        let color = viz::detect_color_mode();
        print!("{}", viz::terminal_predictions(&[card], names, 1, color));
    }
    Ok(())
}

fn show(a: ShowArgs) -> Result<()> {
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
        viz::save_png(&viz::image_grid(&items, 5.min(items.len())), out)?;
        println!("wrote {} images to {}", items.len(), out.display());
    } else if let Some(width) = report::terminal() {
        let cols = viz::terminal_columns(&items, 5, width);
        let color = viz::detect_color_mode();
        print!("{}", viz::terminal_preview(&items, cols, color));
    } else {
        for (i, item) in indices.iter().zip(&items) {
            println!("{} image {i}: {}", a.split, item.caption);
        }
    }
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let threads: Vec<usize> = a.threads.iter().flatten().map(|&t| t.into()).collect();
    let records = fastnn::bench::run(a.what, &threads, a.quick, &mut |text| println!("{text}"))?;
    if let Some(path) = &a.json {
        fastnn::write_json(path, &records)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn data(a: DataArgs) -> Result<()> {
    match a.command {
        DataCommand::Info { files } => {
            for f in files {
                println!("{}", fastnn::idx_file::info(&f)?);
            }
        }
        DataCommand::Verify => {
            let dir = fastnn::dataset::checked_data_dir()?;
            let rows = fastnn::verify_data(&dir)?;
            for r in &rows {
                println!("{r}");
            }
            let bad = rows.iter().filter(|r| !r.ok).count();
            if bad > 0 {
                bail!(
                    "{bad} of {} files in {} do not match their checksums",
                    rows.len(),
                    dir.display()
                );
            }
            println!(
                "{} files in {} match their checksums",
                rows.len(),
                dir.display()
            );
        }
        DataCommand::Install { from, to } => {
            let (from, to, files) = fastnn::install_data(from.as_deref(), to.as_deref())?;
            println!(
                "copied {} files from {} to {}; they match their checksums",
                files.len(),
                from.display(),
                to.display()
            );
        }
    }
    Ok(())
}

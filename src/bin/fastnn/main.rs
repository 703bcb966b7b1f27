//! The `fastnn` command-line tool: argument parsing and printing over the
//! library.

mod args;
mod report;

use anyhow::{Context, Result, bail};
use args::*;
use clap::Parser;
use fastnn::dataset::{Dataset, DatasetSource, SplitKind};
use fastnn::kernels::KernelChoice;
use fastnn::model::{self, Provenance};
use fastnn::nn::optim::{AdamConfig, OptimizerConfig, SgdConfig};
use fastnn::nn::{Activation, Init, Loss};
use fastnn::preprocess::PreprocessKind;
use fastnn::train::{Evaluation, Inputs, Preset, Samples, TrainConfig, Trainer};
use fastnn::viz::{self, Labeled, Prediction};
use fastnn::{Network, evaluate, predict};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    // Refuse, before any kernel runs, a CPU lacking a compiled-in feature.
    if let Err(msg) = fastnn::kernels::cpu::ensure_supported() {
        eprintln!("fastnn: {msg}");
        return ExitCode::FAILURE;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`fastnn ... | head`) is not a failure.
            if let Some(io) = e.root_cause().downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("fastnn: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as usual; a usage error is one line.
fn clap_exit(e: clap::Error) -> ExitCode {
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => {
            let pool = pool(&a.threads)?;
            pool.install(|| train(a))
        }
        Command::Eval(a) => {
            let pool = pool(&a.threads)?;
            pool.install(|| eval(a))
        }
        Command::Predict(a) => predict_cmd(a),
        Command::Show(a) => show(a),
        Command::Bench(a) => bench(a),
        Command::Data(a) => data(a),
    }
}

/// The rayon pool `--threads` asks for (all cores by default). Everything
/// runs inside it, so no pool is ever nested in another.
fn pool(threads: &ThreadsArg) -> Result<rayon::ThreadPool> {
    let n = threads
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("cannot start worker threads")
}

fn open_dataset(spec: &str) -> Result<Dataset> {
    let source: DatasetSource = spec.parse()?;
    Ok(Dataset::open(&source)?)
}

fn samples(ds: &Dataset, kind: SplitKind) -> Samples<'_> {
    let s = ds.split(kind);
    Samples::from_u8(s.pixels(), s.labels(), s.rows(), s.cols())
}

/// The preset's settings with every flag given applied over them.
fn train_config(a: &TrainArgs) -> TrainConfig {
    let preset = match a.preset {
        PresetArg::Fashion => Preset::Fashion,
        PresetArg::Mnist => Preset::Mnist,
    };
    let mut c = TrainConfig::preset(preset);
    if let Some(h) = &a.hidden {
        c.hidden = h.iter().map(|&w| w as usize).collect();
    }
    if let Some(act) = a.activation {
        c.activation = match act {
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Sigmoid => Activation::Sigmoid,
            ActivationArg::Tanh => Activation::Tanh,
        };
    }
    if let Some(l) = a.loss {
        c.loss = match l {
            LossArg::Xent => Loss::Xent,
            LossArg::Mse => Loss::Mse,
        };
    }
    c.optimizer = match a.optimizer {
        Some(OptimizerArg::Sgd) => OptimizerConfig::Sgd(SgdConfig {
            lr: a.lr.unwrap_or(SgdConfig::default().lr),
            momentum: a.momentum.unwrap_or(0.0),
        }),
        _ => OptimizerConfig::Adam(AdamConfig {
            lr: a.lr.unwrap_or(AdamConfig::default().lr),
            ..AdamConfig::default()
        }),
    };
    if let Some(e) = a.epochs {
        c.epochs = e as usize;
    }
    if let Some(b) = a.batch_size {
        c.batch_size = b as usize;
    }
    if let Some(p) = a.preprocess {
        c.preprocess = match p {
            PreprocessArg::Scale => PreprocessKind::Scale,
            PreprocessArg::KerasNormalize => PreprocessKind::KerasNormalize,
            PreprocessArg::Standardize => PreprocessKind::Standardize,
        };
    }
    if let Some(i) = a.init {
        c.init = match i {
            InitArg::Glorot => Init::GlorotUniform,
            InitArg::He => Init::HeUniform,
        };
    }
    if let Some(s) = a.seed {
        c.seed = s;
    }
    c.eval_each_epoch = a.plots.is_some();
    c.checkpoint_dir = a.checkpoint_dir.clone();
    c
}

fn kernel_choice(k: KernelArg) -> KernelChoice {
    match k {
        KernelArg::Simd => KernelChoice::Simd,
        KernelArg::Scalar => KernelChoice::Scalar,
        KernelArg::Matrixmultiply => KernelChoice::MatrixMultiply,
    }
}

fn describe(net: &Network, c: &TrainConfig) -> String {
    let arch = net.architecture();
    let widths: Vec<String> = std::iter::once(arch.inputs())
        .chain(arch.widths())
        .map(|w| w.to_string())
        .collect();
    format!(
        "{} {:?}, {} loss, {} lr {}, batch {}, {} epochs, preprocess {}, seed {}, {} threads",
        widths.join("-"),
        arch.activation,
        arch.loss.name(),
        c.optimizer.name(),
        c.optimizer.lr(),
        c.batch_size,
        c.epochs,
        arch.preprocess.name(),
        c.seed,
        rayon::current_num_threads(),
    )
    .to_lowercase()
}

fn train(a: TrainArgs) -> Result<()> {
    if a.resume.is_some() && (a.hidden.is_some() || a.seed.is_some() || a.batch_size.is_some()) {
        bail!("--resume continues with the checkpoint's settings; only --epochs may change them");
    }
    if a.momentum.is_some() && !matches!(a.optimizer, Some(OptimizerArg::Sgd)) {
        bail!("--momentum applies to --optimizer sgd only");
    }
    let mut config = train_config(&a);
    config.validate()?;
    let (resumed, dataset_spec) = match &a.resume {
        Some(path) => {
            let loaded = model::load(path)?;
            let Some(ckpt) = loaded.checkpoint else {
                bail!(
                    "{}: is a model, not a checkpoint (it has no optimizer state)",
                    path.display()
                );
            };
            let mut c = ckpt.config;
            if let Some(e) = a.epochs {
                c.epochs = e as usize;
            }
            c.eval_each_epoch = config.eval_each_epoch;
            c.checkpoint_dir = config.checkpoint_dir.clone();
            config = c;
            let mut trainer = Trainer::new(&loaded.network, config.clone())?;
            trainer.restore(ckpt.optimizer, ckpt.history);
            let spec = a.dataset.clone().unwrap_or(loaded.provenance.dataset);
            (Some((loaded.network, trainer)), spec)
        }
        None => {
            let spec = a.dataset.clone().unwrap_or_else(|| match a.preset {
                PresetArg::Fashion => "fashion".into(),
                PresetArg::Mnist => "mnist".into(),
            });
            (None, spec)
        }
    };
    let ds = open_dataset(&dataset_spec)?;
    let (train, test) = (
        samples(&ds, SplitKind::Train),
        samples(&ds, SplitKind::Test),
    );
    let (mut net, mut trainer) = match resumed {
        Some(resumed) => resumed,
        None => {
            let net = config.build_network(&train, ds.classes())?;
            let trainer = Trainer::new(&net, config.clone())?;
            (net, trainer)
        }
    };
    net.set_kernel(kernel_choice(a.kernel));
    trainer.set_dataset_name(&dataset_spec);
    println!(
        "fastnn {}: {} ({} training, {} test images of {}x{})",
        env!("CARGO_PKG_VERSION"),
        ds.name(),
        train.len(),
        test.len(),
        train.rows,
        train.cols
    );
    println!("{}", describe(&net, &config));
    if trainer.epochs_done() > 0 {
        println!("resuming after epoch {}", trainer.epochs_done());
    }

    let pictures = Pictures::new(a.plots.as_deref(), a.quiet)?;
    pictures.samples(&ds)?;

    let started = Instant::now();
    let mut progress = report::Progress::new();
    trainer.fit(&mut net, &train, Some(&test), &mut |e| progress.on_event(e))?;
    let train_seconds = started.elapsed().as_secs_f64();

    let eval = evaluate(&net, &test)?;
    println!();
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
    if let Some(last) = trainer.history().last() {
        let gap = (last.accuracy - eval.accuracy) * 100.0;
        println!(
            "Train accuracy {:.4} vs test accuracy {:.4}: a gap of {gap:.1} points. {}",
            last.accuracy,
            eval.accuracy,
            if gap > 1.0 {
                "The network fits the training images better than unseen ones: that gap is overfitting."
            } else if gap < 0.0 {
                "No overfitting yet (the training figure averages an epoch of still-improving weights)."
            } else {
                "Little overfitting so far."
            }
        );
    }
    println!();
    let first: Vec<usize> = (0..10.min(test.len())).collect();
    let probs = print_predictions(&net, &ds, &first, false)?;
    pictures.predictions(&ds, &first, &probs)?;
    pictures.curves_and_confusion(trainer.history(), &eval, ds.classes())?;

    if let Some(path) = &a.save {
        let prov = Provenance {
            dataset: dataset_spec.clone(),
        };
        model::save(path, &net, &prov)?;
        println!("saved the model to {}", path.display());
    }
    if let Some(path) = &a.json {
        let summary = serde_json::json!({
            "fastnn_version": env!("CARGO_PKG_VERSION"),
            "simd": fastnn::kernels::cpu::describe(),
            "dataset": dataset_spec,
            "threads": rayon::current_num_threads(),
            "config": config,
            "architecture": net.architecture(),
            "epochs": trainer.history(),
            "train_seconds": train_seconds,
            "test_loss": eval.loss,
            "test_accuracy": eval.accuracy,
        });
        write_json(path, &summary)?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    model::write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// Prints expected and guessed class of test images (with the likeliest
/// classes when `detail`); returns the probabilities.
fn print_predictions(
    net: &Network,
    ds: &Dataset,
    indices: &[usize],
    detail: bool,
) -> Result<Vec<Vec<f32>>> {
    let test = ds.test();
    let probs = predict(net, Inputs::U8(test.pixels()), indices)
        .with_context(|| format!("the test set of {}", ds.name()))?;
    let names = ds.classes();
    for (&i, p) in indices.iter().zip(&probs) {
        let guess = fastnn::kernels::eltwise::argmax(p);
        let expected = test.label(i) as usize;
        println!(
            "test image {i:>5}: Expected: {:<12} Guess: {:<12} ({:.1}%){}",
            names[expected],
            names[guess],
            p[guess] * 100.0,
            if guess == expected { "" } else { "  <- wrong" }
        );
        if detail {
            println!("{}", likeliest(p, names));
        }
    }
    Ok(probs)
}

/// The classes holding at least 0.5% of the probability, likeliest first.
fn likeliest(p: &[f32], names: &[String]) -> String {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let parts: Vec<String> = order
        .iter()
        .filter(|&&c| p[c] >= 0.005)
        .map(|&c| format!("{} {:.1}%", names[c], p[c] * 100.0))
        .collect();
    format!("    probabilities: {}", parts.join(", "))
}

/// Whether stdout is a terminal, and its width.
fn terminal() -> Option<usize> {
    let term = console::Term::stdout();
    if !term.is_term() {
        return None;
    }
    Some(term.size_checked().map_or(80, |(_, w)| w as usize))
}

/// Test or training images with their class names as captions.
fn labeled<'a>(ds: &'a Dataset, kind: SplitKind, indices: &[usize]) -> Vec<Labeled<'a>> {
    let split = ds.split(kind);
    indices
        .iter()
        .map(|&i| {
            let caption = ds.classes()[split.label(i) as usize].clone();
            Labeled::new(split.image(i), split.rows(), split.cols(), caption)
        })
        .collect()
}

fn predictions<'a>(
    ds: &'a Dataset,
    indices: &[usize],
    probs: &'a [Vec<f32>],
) -> Vec<Prediction<'a>> {
    let test = ds.test();
    indices
        .iter()
        .zip(probs)
        .map(|(&i, p)| Prediction {
            pixels: test.image(i),
            rows: test.rows(),
            cols: test.cols(),
            expected: Some(test.label(i) as usize),
            guess: fastnn::kernels::eltwise::argmax(p),
            probs: p,
        })
        .collect()
}

/// The pictures `train` shows: in the terminal (unless `--quiet` or not a
/// terminal) and as PNG files under `--plots DIR`.
struct Pictures<'a> {
    dir: Option<&'a Path>,
    width: Option<usize>,
}

impl<'a> Pictures<'a> {
    fn new(dir: Option<&'a Path>, quiet: bool) -> Result<Self> {
        if let Some(d) = dir {
            std::fs::create_dir_all(d)
                .with_context(|| format!("{}: cannot create the folder", d.display()))?;
        }
        Ok(Pictures {
            dir,
            width: if quiet { None } else { terminal() },
        })
    }

    fn file(&self, name: &str) -> Option<std::path::PathBuf> {
        self.dir.map(|d| d.join(name))
    }

    /// The tutorial's 5×5 grid of training images with their class names.
    fn samples(&self, ds: &Dataset) -> Result<()> {
        let n = 25.min(ds.train().len());
        let items = labeled(ds, SplitKind::Train, &(0..n).collect::<Vec<_>>());
        if let Some(width) = self.width {
            let cols = viz::terminal_columns(&items, 5, width);
            print!(
                "{}",
                viz::terminal_preview(&items, cols, viz::detect_color_mode())
            );
        }
        if let Some(path) = self.file("samples.png") {
            viz::save_png(&viz::image_grid(&items, 5), &path)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }

    /// Test images titled with the expected class, captioned with the guess.
    fn predictions(&self, ds: &Dataset, indices: &[usize], probs: &[Vec<f32>]) -> Result<()> {
        let preds = predictions(ds, indices, probs);
        if let Some(width) = self.width {
            let items = labeled(ds, SplitKind::Test, indices);
            let cols = viz::terminal_columns(&items, 5, width);
            print!(
                "{}",
                viz::terminal_predictions(&preds, ds.classes(), cols, viz::detect_color_mode())
            );
        }
        if let Some(path) = self.file("predictions.png") {
            viz::save_png(&viz::prediction_grid(&preds, ds.classes(), 5), &path)?;
            println!("wrote {}", path.display());
        }
        Ok(())
    }

    fn curves_and_confusion(
        &self,
        history: &[fastnn::train::EpochStats],
        eval: &Evaluation,
        classes: &[String],
    ) -> Result<()> {
        let (Some(curves), Some(confusion)) = (self.file("curves.png"), self.file("confusion.png"))
        else {
            return Ok(());
        };
        let points: Vec<viz::EpochPoint> = history
            .iter()
            .map(|e| viz::EpochPoint {
                epoch: e.epoch,
                train_loss: e.loss,
                train_acc: e.accuracy,
                test_loss: e.test_loss,
                test_acc: e.test_accuracy,
            })
            .collect();
        if !points.is_empty() {
            viz::training_curves(&points, &curves)?;
            println!("wrote {}", curves.display());
        }
        let counts: Vec<u32> = eval.confusion.iter().flatten().copied().collect();
        viz::confusion_matrix_png(&counts, classes, &confusion)?;
        println!("wrote {}", confusion.display());
        Ok(())
    }
}

fn print_eval(eval: &Evaluation) {
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
}

fn eval(a: EvalArgs) -> Result<()> {
    let loaded = model::load(&a.model)?;
    let spec = a.dataset.unwrap_or(loaded.provenance.dataset);
    let ds = open_dataset(&spec)?;
    let eval = evaluate(&loaded.network, &samples(&ds, SplitKind::Test))?;
    print_eval(&eval);
    if let Some(path) = &a.json {
        write_json(path, &serde_json::to_value(&eval)?)?;
    }
    Ok(())
}

fn predict_cmd(a: PredictArgs) -> Result<()> {
    let loaded = model::load(&a.model)?;
    let net = &loaded.network;
    let names = net.class_names();
    if let Some(image) = &a.image {
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
        let probs = predict(net, Inputs::U8(&pixels), &[0])?;
        let guess = fastnn::kernels::eltwise::argmax(&probs[0]);
        println!(
            "{}: Guess: {} ({:.1}%)",
            image.display(),
            names[guess],
            probs[0][guess] * 100.0
        );
        println!("{}", likeliest(&probs[0], names));
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
        } else if terminal().is_some() {
            print!(
                "{}",
                viz::terminal_predictions(&[card], names, 1, viz::detect_color_mode())
            );
        }
        return Ok(());
    }
    let spec = a.dataset.unwrap_or(loaded.provenance.dataset);
    let ds = open_dataset(&spec)?;
    if ds.classes().len() != names.len() {
        bail!(
            "{}: has {} classes but {} has {}",
            a.model.display(),
            names.len(),
            ds.name(),
            ds.classes().len()
        );
    }
    let probs = print_predictions(net, &ds, &a.index, true)?;
    let preds = predictions(&ds, &a.index, &probs);
    if let Some(out) = &a.out {
        viz::save_png(&viz::prediction_grid(&preds, ds.classes(), 5), out)?;
        println!("wrote {}", out.display());
    } else if let Some(width) = terminal() {
        let items = labeled(&ds, SplitKind::Test, &a.index);
        let cols = viz::terminal_columns(&items, 5, width);
        print!(
            "{}",
            viz::terminal_predictions(&preds, ds.classes(), cols, viz::detect_color_mode())
        );
    }
    Ok(())
}

fn show(a: ShowArgs) -> Result<()> {
    let ds = open_dataset(&a.dataset)?;
    let kind = match a.split {
        SplitArg::Train => SplitKind::Train,
        SplitArg::Test => SplitKind::Test,
    };
    let len = ds.split(kind).len();
    if a.start >= len {
        bail!(
            "--start {} is past the last of the {len} {kind} images of {}",
            a.start,
            ds.name()
        );
    }
    let end = (a.start + a.count as usize).min(len);
    let indices: Vec<usize> = (a.start..end).collect();
    let items = labeled(&ds, kind, &indices);
    if let Some(out) = &a.out {
        viz::save_png(&viz::image_grid(&items, 5.min(items.len())), out)?;
        println!("wrote {} images to {}", items.len(), out.display());
    } else if let Some(width) = terminal() {
        let cols = viz::terminal_columns(&items, 5, width);
        print!(
            "{}",
            viz::terminal_preview(&items, cols, viz::detect_color_mode())
        );
    } else {
        for (i, item) in indices.iter().zip(&items) {
            println!("{kind} image {i}: {}", item.caption);
        }
    }
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    use fastnn::bench;
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads: Vec<usize> = match &a.threads {
        Some(t) => t.iter().map(|&t| usize::from(t)).collect(),
        None => vec![1, all],
    };
    threads.dedup();
    let wants = |w: BenchWhat| a.what.is_none_or(|x| x == w);
    println!(
        "fastnn {} on {} ({all} cores)",
        env!("CARGO_PKG_VERSION"),
        fastnn::kernels::cpu::describe()
    );
    let mut records: Vec<serde_json::Value> = Vec::new();
    let mut add = |v: serde_json::Value| match v {
        serde_json::Value::Array(items) => records.extend(items),
        other => records.push(other),
    };
    if wants(BenchWhat::Kernels) {
        let mut rows = Vec::new();
        for &t in &threads {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
            rows.extend(pool.install(|| bench::kernels::run(t, a.quick)));
        }
        println!("\nGEMM kernels (median GFLOP/s; share of the measured FMA peak)");
        print!("{}", bench::kernels::format_table(&rows));
        add(serde_json::to_value(bench::kernels::records(&rows))?);
    }
    if wants(BenchWhat::Train) || wants(BenchWhat::Infer) {
        let (fashion, mnist) = (open_dataset("fashion")?, open_dataset("mnist")?);
        let sets = [(Preset::Fashion, &fashion), (Preset::Mnist, &mnist)];
        if wants(BenchWhat::Train) {
            let sets: Vec<_> = sets
                .iter()
                .map(|(p, ds)| (*p, samples(ds, SplitKind::Train), ds.classes().to_vec()))
                .collect();
            let runs = if a.quick { 1 } else { 3 };
            let rows = bench::train::run(&sets, &threads, runs)?;
            println!(
                "\nTraining epochs (median of {runs} after a warm-up epoch; data in memory, evaluation excluded)"
            );
            print!("{}", bench::train::format_table(&rows));
            add(serde_json::to_value(bench::train::records(&rows))?);
        }
        if wants(BenchWhat::Infer) {
            let sets: Vec<_> = sets
                .iter()
                .map(|(p, ds)| {
                    let (train, test) =
                        (samples(ds, SplitKind::Train), samples(ds, SplitKind::Test));
                    (*p, train, test, ds.classes().to_vec())
                })
                .collect();
            let runs = if a.quick { 3 } else { 7 };
            let mut rows = Vec::new();
            for &t in &threads {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
                rows.extend(pool.install(|| bench::infer::run(&sets, runs))?);
            }
            println!(
                "\nInference (whole test set, median of {runs}; batch-1 latency, median of 200)"
            );
            print!("{}", bench::infer::format_table(&rows));
            add(serde_json::to_value(bench::infer::records(&rows))?);
        }
    }
    if let Some(path) = &a.json {
        write_json(path, &serde_json::Value::Array(records))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn data(a: DataArgs) -> Result<()> {
    match a.command {
        DataCommand::Info { files } => {
            for f in files {
                let info = fastnn::idx::info(&f)?;
                println!("{}: {info}", f.display());
            }
        }
        DataCommand::Verify => {
            let dir = fastnn::dataset::data_dir();
            let rows = fastnn::dataset::verify_data(&dir)?;
            let mut bad = 0;
            for r in &rows {
                println!("{r}");
                bad += usize::from(!r.ok);
            }
            if bad > 0 {
                bail!(
                    "{bad} of {} files in {} do not match their checksums",
                    rows.len(),
                    dir.display()
                );
            }
        }
    }
    Ok(())
}

//! `fastnn sweep`: parsing the grid, packing runs onto the cores, the
//! results file (resuming, interrupted writes), sharding and merging, and
//! runs that are bit for bit what `fastnn train` gives.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fastnn::sweep::{
    Datasets, GridArgs, Merged, Packing, Plan, ResultsLog, RunRecord, RunTask, Runner, Summary,
    model_file_name, parse_results, read_results, settings_key,
};
use fastnn::{Engine, TrainOptions, TrainRun, load_model};

use crate::train::bits;
use crate::util::{temp_dir, write, write_dataset};

fn plan(args: &[&str]) -> fastnn::Result<Plan> {
    Plan::new(&GridArgs::parse(args)?, None)
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.runs.iter().map(|r| r.command_line()).collect()
}

#[test]
fn a_grid_is_every_combination_in_flag_order_with_seeds_fastest() {
    // Flags given in any order vary in `train`'s order; seeds innermost.
    let p = plan(&[
        "--lr",
        "1e-3,3e-3",
        "--seeds",
        "1-2",
        "--hidden",
        "64,128:128",
    ])
    .unwrap();
    assert_eq!(p.runs.len(), 8);
    assert_eq!(
        lines(&p)[..4],
        [
            "--hidden 64 --lr 1e-3 --seed 1",
            "--hidden 64 --lr 1e-3 --seed 2",
            "--hidden 64 --lr 3e-3 --seed 1",
            "--hidden 64 --lr 3e-3 --seed 2",
        ]
    );
    assert_eq!(lines(&p)[7], "--hidden 128,128 --lr 3e-3 --seed 2");
    assert_eq!(p.runs[7].options.hidden, Some(vec![128, 128]));
    assert_eq!(p.runs[7].options.lr, Some(3e-3));
    assert!(p.runs.iter().enumerate().all(|(i, r)| r.index == i));
    // Settings: the flags given, as TrainOptions fields, and the seed.
    let s = serde_json::Value::Object(p.runs[2].settings.clone());
    assert_eq!(
        s,
        serde_json::json!({"hidden": [64], "lr": 0.003, "seed": 1})
    );
    let back: TrainOptions = serde_json::from_value(s).unwrap();
    assert_eq!(back, p.runs[2].options);
    // `--seed` is `--seeds`; lists and ranges mix; repeated flags add up.
    let p = plan(&["--seed", "3,5-6", "--epochs", "1", "--epochs", "2"]).unwrap();
    assert_eq!(p.runs.len(), 6);
    assert_eq!(lines(&p)[5], "--epochs 2 --seed 6");
}

#[test]
fn no_seed_flag_trains_the_presets_seed_and_says_so() {
    let p = plan(&["--preset", "mnist,fashion"]).unwrap();
    assert_eq!(lines(&p), ["--preset mnist", "--preset fashion"]);
    assert_eq!(p.runs[0].settings["seed"], 42);
    assert_eq!(p.runs[0].settings["preset"], "mnist");
}

#[test]
fn the_same_run_written_twice_is_one_run() {
    let p = plan(&["--lr", "0.001,1e-3,1E-3", "--seeds", "1,1"]).unwrap();
    assert_eq!((p.runs.len(), p.duplicates), (1, 5));
    // The key is the settings' canonical text, however a file orders them.
    let a = &p.runs[0].settings;
    let mut reversed = serde_json::Map::new();
    for (k, v) in a.iter().rev() {
        reversed.insert(k.clone(), v.clone());
    }
    assert_eq!(settings_key(a), settings_key(&reversed));
    assert_eq!(settings_key(a), r#"{"lr":0.001,"seed":1}"#);
}

#[test]
fn bad_grids_fail_before_training_with_one_line_naming_the_run() {
    for (args, needle) in [
        (
            &["--optimizer", "adam,sgd", "--momentum", "0.9"][..],
            "run 0 (--optimizer adam --momentum 0.9): --momentum applies to --optimizer sgd only",
        ),
        (
            &["--lr", "0.1,abc"],
            "run 1 (--lr abc): invalid value 'abc' for '--lr <LR>'",
        ),
        (
            &["--epochs", "0"],
            "invalid value '0' for '--epochs <EPOCHS>'",
        ),
        (&["--activation", "relu,swish"], "invalid value 'swish'"),
        (&["--seeds", "5-1"], "--seeds 5-1: expected A-B with A <= B"),
        (&["--seeds", "1-x"], "--seeds 1-x"),
        (&["--seeds", "0-100000"], "more than 100000 seeds"),
        (&["--dataset", ""], "empty dataset name"),
        (&["--nope", "1"], "unexpected argument '--nope'"),
        (
            &["--log", "epochs.csv"],
            "--log names one file, which every run",
        ),
    ] {
        let e = plan(args).unwrap_err().to_string();
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // The product is bounded before anything is expanded.
    let many: Vec<String> = (1..=400).map(|i| i.to_string()).collect();
    let many = many.join(",");
    let e = plan(&["--epochs", &many, "--batch-size", &many]).unwrap_err();
    assert!(e.to_string().contains("more than 100000 runs"), "{e}");
}

#[test]
fn a_spec_file_holds_grids_and_the_command_line_replaces_its_values() {
    let tmp = temp_dir();
    let toml = write(
        tmp.path(),
        "sweep.toml",
        br#"
epochs = 2
seeds = "1-2"

[[grid]]
optimizer = "adam"
lr = [1e-3, 3e-3]

[[grid]]
optimizer = "sgd"
momentum = [0.0, 0.9]
hidden = [64, [128, 128]]
"#,
    );
    let json = write(
        tmp.path(),
        "sweep.json",
        br#"{"epochs": 2, "seeds": [1, 2], "grid": [
            {"optimizer": "adam", "lr": [0.001, 0.003]},
            {"optimizer": "sgd", "momentum": [0, 0.9], "hidden": ["64", "128,128"]}]}"#,
    );
    let none = GridArgs::default();
    let from_toml = Plan::new(&none, Some(&toml)).unwrap();
    let from_json = Plan::new(&none, Some(&json)).unwrap();
    assert_eq!(from_toml.runs.len(), 2 * 2 + 2 * 2 * 2);
    let keys = |p: &Plan| p.runs.iter().map(|r| r.key()).collect::<Vec<_>>();
    assert_eq!(keys(&from_toml), keys(&from_json));
    assert_eq!(
        from_toml.runs[11].command_line(),
        "--hidden 128,128 --optimizer sgd --momentum 0.9 --epochs 2 --seed 2"
    );
    // A flag given on the command line replaces the file's values everywhere.
    let args = GridArgs::parse(["--epochs", "1", "--seeds", "7"]).unwrap();
    let p = Plan::new(&args, Some(&toml)).unwrap();
    assert_eq!(p.runs.len(), 6);
    assert!(p.runs.iter().all(|r| r.options.epochs == Some(1)));

    for (text, needle) in [
        ("lr = [0.1]\nwidth = 3\n", "unknown setting `width`"),
        ("lr = [\n", "not valid TOML"),
        ("grid = 3\n", "`grid` must be a list of tables"),
        ("lr = []\n", "`lr` has no values"),
        (
            "lr = {a = 1}\n",
            "`lr`: expected a value or a list of values",
        ),
        ("batch-size = 8\nbatch_size = 16\n", "given twice"),
    ] {
        let path = write(tmp.path(), "bad.toml", text.as_bytes());
        let e = Plan::new(&none, Some(&path)).unwrap_err().to_string();
        assert!(
            e.contains("bad.toml") && e.contains(needle),
            "{text:?}: {e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn runs_are_packed_onto_the_cores_without_oversubscribing_them() {
    let p = |threads, per_run, runs| Packing::new(Some(threads), per_run, runs);
    assert_eq!(p(16, 4, 100).unwrap().concurrent, 4);
    assert_eq!(p(16, 3, 100).unwrap().concurrent, 5);
    assert_eq!(p(16, 3, 100).unwrap().threads(), 15);
    assert_eq!(p(16, 1, 3).unwrap().concurrent, 3);
    assert_eq!(p(2, 2, 8).unwrap().concurrent, 1);
    let e = p(2, 3, 8).unwrap_err().to_string();
    assert!(
        e.contains("--threads-per-run 3 is more than the 2 threads"),
        "{e}"
    );
    let all = Packing::new(None, 1, 1000).unwrap();
    assert_eq!(all.concurrent, fastnn::available_cores());
}

/// A tiny dataset folder under `tmp`.
fn tiny(tmp: &Path) -> String {
    let dir = tmp.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    write_dataset(&dir, 200, 50, 5, 4, 3, false);
    dir.to_str().unwrap().to_string()
}

/// Runs `plan` through the runner, `threads` in all, `per_run` each.
fn run_plan(
    plan: &Plan,
    threads: usize,
    per_run: usize,
    models: Option<&Path>,
    stop: &AtomicBool,
    done: &mut dyn FnMut(RunRecord) -> fastnn::Result<()>,
) -> fastnn::Result<fastnn::sweep::RunStats> {
    let datasets = Datasets::open(plan.runs.iter().map(|r| &r.options))?;
    let tasks: Vec<RunTask> = plan.runs.iter().map(|r| r.task()).collect();
    Runner {
        packing: Packing::new(Some(threads), per_run, tasks.len())?,
        datasets: &datasets,
        save_models: models,
        stop,
    }
    .run(&tasks, done)
}

#[test]
fn every_run_of_a_sweep_has_the_bits_of_the_same_run_alone() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let models = tmp.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let p = plan(&[
        "--dataset",
        &data,
        "--hidden",
        "8,6:5",
        "--batch-size",
        "16,7",
        "--epochs",
        "2",
        "--preprocess",
        "scale,standardize",
        "--seeds",
        "1-2",
    ])
    .unwrap();
    assert_eq!(p.runs.len(), 16);
    let never = AtomicBool::new(false);
    for (threads, per_run) in [(4, 1), (4, 2), (3, 3)] {
        let mut records = Vec::new();
        let stats = run_plan(&p, threads, per_run, Some(&models), &never, &mut |r| {
            records.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!((stats.finished, stats.interrupted), (16, false));
        assert!(stats.train_gflop > 0.0);
        records.sort_by_key(|r| r.index);
        for (run, record) in p.runs.iter().zip(&records) {
            assert_eq!(record.index, run.index);
            assert_eq!(record.threads, per_run);
            assert_eq!(record.epochs.len(), 2);
            // The same run alone, on another number of threads.
            let engine = Engine::new(2).unwrap();
            let mut alone = TrainRun::new(&engine, &run.options).unwrap();
            alone.fit(None, None, &mut |_| Ok(())).unwrap();
            let test = alone.trainer().evaluate(&alone.dataset().test()).unwrap();
            let path = record.model.as_ref().expect("a saved model");
            assert_eq!(path, &models.join(model_file_name(&run.key())));
            let swept = load_model(path).unwrap().network;
            assert!(
                bits(&swept) == bits(alone.trainer().network()),
                "{}: other bits than alone",
                run.command_line()
            );
            assert_eq!(record.test_accuracy, Some(test.accuracy));
            assert_eq!(record.test_loss, Some(test.loss));
            assert_eq!(&record.epochs[1].loss, &alone.trainer().history()[1].loss);
            assert_eq!(&record.config, alone.trainer().config());
        }
    }
}

#[test]
fn a_diverging_run_is_a_finished_run_with_its_error() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let p = plan(&[
        "--dataset",
        &data,
        "--optimizer",
        "sgd",
        "--lr",
        "1e30,0.01",
        "--epochs",
        "2",
    ])
    .unwrap();
    let mut records = Vec::new();
    run_plan(&p, 2, 1, None, &AtomicBool::new(false), &mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    records.sort_by_key(|r| r.index);
    assert_eq!(records.len(), 2);
    let e = records[0].error.as_deref().expect("diverged");
    assert!(e.contains("training diverged"), "{e}");
    assert_eq!(
        (records[0].test_accuracy, records[0].test_loss),
        (None, None)
    );
    assert!(records[1].error.is_none() && records[1].test_accuracy.is_some());
    let table = Summary::new(&records).to_string();
    assert!(table.contains("diverged"), "{table}");
}

#[test]
fn a_stopped_sweep_hands_on_only_finished_runs() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let p = plan(&["--dataset", &data, "--epochs", "200", "--seeds", "1-6"]).unwrap();
    let stop = AtomicBool::new(false);
    let mut records = Vec::new();
    let stats = run_plan(&p, 2, 1, None, &stop, &mut |r| {
        stop.store(true, Ordering::SeqCst);
        records.push(r);
        Ok(())
    })
    .unwrap();
    assert!(stats.interrupted);
    assert_eq!(stats.finished, records.len());
    assert!((1..=2).contains(&records.len()), "{}", records.len());
    assert!(records.iter().all(|r| r.epochs.len() == 200));
    // An error from the receiver stops the sweep too, and comes back.
    let e = run_plan(&p, 2, 1, None, &AtomicBool::new(false), &mut |_| {
        Err(fastnn::Error::Config("disk full".into()))
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "disk full");
}

/// A record for `settings` (JSON) at `index` with `accuracy`.
fn record(index: usize, settings: serde_json::Value, accuracy: f64) -> RunRecord {
    let serde_json::Value::Object(settings) = settings else {
        panic!("settings are an object")
    };
    RunRecord {
        index,
        settings,
        test_accuracy: Some(accuracy),
        test_loss: Some(1.0 - accuracy),
        epochs: Vec::new(),
        seconds: 1.5,
        train_seconds: 1.0,
        threads: 1,
        dataset: "fashion".into(),
        config: fastnn::TrainConfig::default(),
        error: None,
        model: None,
        fastnn_version: "test".into(),
    }
}

fn line(r: &RunRecord) -> String {
    serde_json::to_string(r).unwrap() + "\n"
}

#[test]
fn a_results_file_keeps_whole_lines_and_drops_an_interrupted_one() {
    let tmp = temp_dir();
    let path = tmp.path().join("runs.jsonl");
    let a = record(0, serde_json::json!({"lr": 0.001, "seed": 1}), 0.8);
    let b = record(1, serde_json::json!({"lr": 0.001, "seed": 2}), 0.9);
    let c = record(2, serde_json::json!({"lr": 0.001, "seed": 3}), 0.7);
    let whole = line(&a) + "\n" + &line(&b);
    let cut = &line(&c)[..40];
    std::fs::write(&path, whole.clone() + cut).unwrap();

    let read = parse_results(&path, std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!(read.runs.len(), 2);
    assert_eq!(read.runs[1].line_no, 3, "a blank line is skipped");
    assert_eq!((read.complete_len, read.partial), (whole.len() as u64, 40));

    let (mut log, existing) = ResultsLog::open(&path).unwrap();
    assert_eq!(existing.runs.len(), 2);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        whole,
        "cut line removed"
    );
    // A second sweep on the same file is refused while this one holds it.
    let e = ResultsLog::open(&path).unwrap_err().to_string();
    assert!(e.contains("runs.jsonl") && e.contains("locked"), "{e}");
    log.append(&c).unwrap();
    drop(log);
    let again = read_results(&path).unwrap();
    assert_eq!(again.runs.len(), 3);
    assert_eq!(again.runs[2].record, c);

    // A last line without its newline that is whole is kept.
    std::fs::write(&path, line(&a).trim_end()).unwrap();
    let (mut log, existing) = ResultsLog::open(&path).unwrap();
    assert_eq!((existing.runs.len(), existing.partial), (1, 0));
    log.append(&b).unwrap();
    drop(log);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        line(&a) + &line(&b)
    );

    // A bad line in the middle is an error naming the file and the line.
    std::fs::write(&path, line(&a) + "{\"index\": 1}\n" + &line(&b)).unwrap();
    let e = ResultsLog::open(&path).unwrap_err().to_string();
    assert!(e.contains("runs.jsonl: line 2: not a sweep result"), "{e}");
    assert_eq!(read_results(&path).unwrap_err().to_string(), e);
}

#[test]
fn merging_orders_by_grid_place_drops_duplicates_and_reports_conflicts() {
    let tmp = temp_dir();
    let a0 = record(0, serde_json::json!({"lr": 0.001, "seed": 1}), 0.80);
    let a1 = record(1, serde_json::json!({"lr": 0.001, "seed": 2}), 0.82);
    let b0 = record(2, serde_json::json!({"lr": 0.003, "seed": 1}), 0.85);
    let b1 = record(3, serde_json::json!({"lr": 0.003, "seed": 2}), 0.86);
    let mut a1_slower = a1.clone();
    a1_slower.seconds = 9.0;
    let mut b0_other = b0.clone();
    b0_other.test_accuracy = Some(0.5);
    let x = write(tmp.path(), "x.jsonl", (line(&b1) + &line(&a1)).as_bytes());
    let y = write(
        tmp.path(),
        "y.jsonl",
        (line(&a0) + &line(&a1_slower) + &line(&b0) + &line(&b0_other)[..30]).as_bytes(),
    );
    let z = write(tmp.path(), "z.jsonl", line(&b0_other).as_bytes());
    let m = Merged::read(&[&x, &y, &z]).unwrap();
    let indices: Vec<usize> = m.records().iter().map(|r| r.index).collect();
    assert_eq!(indices, [0, 1, 2, 3]);
    assert_eq!(m.duplicates, 1, "a1 twice, timings aside");
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.records()[2].test_accuracy, Some(0.85), "the first kept");
    let text = m.to_string();
    assert!(text.starts_with("merged 4 runs from 3 files (1 duplicates dropped, 1 conflicts)"));
    assert!(
        text.contains("conflict: --lr 0.003 --seed 1 has other results in"),
        "{text}"
    );
    assert!(
        text.contains("z.jsonl line 1 (test accuracy 0.5000)"),
        "{text}"
    );
    assert!(
        text.contains("y.jsonl: skipped an incomplete last line"),
        "{text}"
    );
    // Written whole; the lines are the inputs' own.
    let out = tmp.path().join("all.jsonl");
    m.write(&out).unwrap();
    let all = std::fs::read_to_string(&out).unwrap();
    assert_eq!(all, line(&a0) + &line(&a1) + &line(&b0) + &line(&b1));
    let e = Merged::read(&[tmp.path().join("missing.jsonl")]).unwrap_err();
    assert!(e.to_string().contains("missing.jsonl"), "{e}");
}

#[test]
fn the_summary_is_mean_and_std_over_seeds_best_first() {
    let rs = [
        record(0, serde_json::json!({"hidden": [64], "seed": 1}), 0.80),
        record(1, serde_json::json!({"hidden": [64], "seed": 2}), 0.84),
        record(
            2,
            serde_json::json!({"hidden": [128, 128], "seed": 1}),
            0.86,
        ),
        record(
            3,
            serde_json::json!({"hidden": [128, 128], "seed": 2}),
            0.88,
        ),
        record(
            4,
            serde_json::json!({"hidden": [128, 128], "seed": 3}),
            0.90,
        ),
    ];
    let text = Summary::new(&rs).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "5 runs, 2 settings (test accuracy: mean ± std over seeds, best first)"
    );
    assert_eq!(lines[1].split_whitespace().next(), Some("hidden"));
    assert!(
        lines[2].starts_with("128,128  3      0.8800 ± 0.0200"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("64       2      0.8200 ± 0.0283"),
        "{text}"
    );
    assert_eq!(
        lines[4],
        "best: --hidden 128,128: test accuracy 0.8800 ± 0.0200 over 3 seeds"
    );
}

// ---- the command line ----

use crate::util::fastnn;

fn ok(args: &[&str]) -> String {
    let o = fastnn(args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{args:?}: {}{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn records(path: &Path) -> Vec<RunRecord> {
    read_results(path)
        .unwrap()
        .runs
        .into_iter()
        .map(|l| l.record)
        .collect()
}

/// The records without timings, by grid place.
fn outcomes(path: &Path) -> Vec<RunRecord> {
    let mut r: Vec<RunRecord> = records(path).iter().map(RunRecord::outcome).collect();
    r.sort_by_key(|r| r.index);
    r
}

#[test]
fn cli_shards_in_two_processes_merge_into_the_unsharded_sweep() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let grid = [
        "--dataset",
        &data,
        "--hidden",
        "8,4:4",
        "--lr",
        "1e-3,1e-2",
        "--epochs",
        "2",
        "--seeds",
        "1-3",
        "--threads",
        "2",
    ];
    let spawn = |shard: &str, out: &str, models: &str| {
        let mut args: Vec<&str> = vec!["sweep"];
        args.extend(grid);
        args.extend(["--shard", shard, "--out", out, "--save-models", models]);
        Command::new(env!("CARGO_BIN_EXE_fastnn"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let shards = [
        spawn("0/2", &p("s0.jsonl"), &p("models-sharded")),
        spawn("1/2", &p("s1.jsonl"), &p("models-sharded")),
    ];
    for child in shards {
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.contains("sweep: 12 runs, 6 in shard"), "{out}");
    }
    assert_eq!(records(Path::new(&p("s0.jsonl"))).len(), 6);
    assert!(
        records(Path::new(&p("s0.jsonl")))
            .iter()
            .all(|r| r.index % 2 == 0)
    );
    let merged = ok(&[
        "sweep",
        "merge",
        &p("s1.jsonl"),
        &p("s0.jsonl"),
        "--out",
        &p("all.jsonl"),
    ]);
    assert!(merged.contains("merged 12 runs from 2 files (0 duplicates dropped, 0 conflicts)"));
    assert!(merged.contains("best: "), "{merged}");

    let mut args: Vec<&str> = vec!["sweep"];
    args.extend(grid);
    let (one, models, plots) = (p("one.jsonl"), p("models-one"), p("plots"));
    args.extend(["--out", &one, "--save-models", &models, "--plots", &plots]);
    let out = ok(&args);
    assert!(out.contains("12 runs, 4 settings"), "{out}");
    assert!(out.contains("models/hour"), "{out}");
    for png in ["sweep-hidden.png", "sweep-time.png"] {
        let bytes = std::fs::read(tmp.path().join("plots").join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png}");
    }
    assert_eq!(
        outcomes(Path::new(&p("all.jsonl"))),
        outcomes(Path::new(&one))
    );
    // Merged file in grid order; the same models, file for file.
    let all = records(Path::new(&p("all.jsonl")));
    assert!(all.windows(2).all(|w| w[0].index < w[1].index));
    for r in &all {
        let name = model_file_name(&r.key());
        let a = std::fs::read(PathBuf::from(p("models-sharded")).join(&name)).unwrap();
        let b = std::fs::read(PathBuf::from(&models).join(&name)).unwrap();
        assert!(a == b, "{name}");
    }
    // Run again: everything is done, nothing trains.
    let again = ok(&args);
    assert!(again.contains("12 already in"), "{again}");
    assert!(again.contains("0 to train"), "{again}");
    assert_eq!(records(Path::new(&one)).len(), 12);
}

#[test]
fn cli_sweep_models_are_the_models_of_fastnn_train() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let models = tmp.path().join("models");
    let out = tmp.path().join("runs.jsonl");
    let (out, models) = (out.to_str().unwrap(), models.to_str().unwrap());
    let same = [
        "--dataset",
        &data,
        "--hidden",
        "8",
        "--lr",
        "0.003",
        "--epochs",
        "3",
    ];
    let mut sweep = vec!["sweep", "--batch-size", "32,5", "--seeds", "4"];
    sweep.extend(same);
    sweep.extend(["--threads-per-run", "2", "--threads", "2"]);
    ok(&[&sweep[..], &["--out", out, "--save-models", models]].concat());
    let recs = records(Path::new(out));
    assert_eq!(recs.len(), 2);
    for r in &recs {
        let alone = tmp.path().join("alone.safetensors");
        let batch = r.settings["batch_size"].to_string();
        let mut train = vec!["train", "--batch-size", &batch, "--seed", "4"];
        train.extend(same);
        train.extend([
            "--threads",
            "1",
            "--quiet",
            "--save",
            alone.to_str().unwrap(),
        ]);
        let printed = ok(&train);
        let swept = r.model.as_ref().unwrap();
        assert!(
            std::fs::read(swept).unwrap() == std::fs::read(&alone).unwrap(),
            "batch {batch}"
        );
        let accuracy = format!("Test accuracy: {:.4}", r.test_accuracy.unwrap());
        assert!(printed.contains(&accuracy), "{printed} lacks {accuracy}");
    }
}

/// Starts `fastnn args`, sends `signal` once a run more than `before` is
/// in `out`, and checks that it stopped with one line (unless it had
/// finished already) leaving whole lines; returns the runs in `out`.
fn interrupt(signal: &str, args: &[&str], out: &Path, before: usize) -> usize {
    let child = Command::new(env!("CARGO_BIN_EXE_fastnn"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let lines = || std::fs::read(out).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    while lines() <= before {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no run finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let done = records(out).len();
    if done < 24 {
        assert!(!o.status.success(), "{signal}");
        assert!(
            err.contains("interrupted:") && err.contains("the same command"),
            "{signal} status {:?} done {done} stderr [{err}] stdout [{}]",
            o.status,
            String::from_utf8_lossy(&o.stdout)
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.ends_with('\n'), "{signal}: only whole lines");
    done
}

#[test]
fn cli_ctrl_c_and_sigterm_leave_whole_lines_and_the_same_command_finishes() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let out = tmp.path().join("runs.jsonl");
    let args = [
        "sweep",
        "--dataset",
        &data,
        "--hidden",
        "16",
        "--epochs",
        "3000",
        "--seeds",
        "1-24",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    // Ctrl-C, then SIGTERM (what Slurm and Kubernetes send) on the rerun.
    let after_int = interrupt("-INT", &args, &out, 0);
    let done = if after_int < 24 {
        interrupt("-TERM", &args, &out, after_int)
    } else {
        24
    };
    let finished = ok(&args);
    assert!(
        finished.contains(&format!("{done} already in")),
        "{finished}"
    );
    let all = records(&out);
    assert_eq!(all.len(), 24);
    let mut keys: Vec<String> = all.iter().map(|r| r.key()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 24, "no run twice");
}

#[test]
fn cli_lists_the_runs_and_refuses_bad_flags() {
    let tmp = temp_dir();
    let out = tmp.path().join("runs.jsonl");
    let done = record(0, serde_json::json!({"hidden": [8], "seed": 1}), 0.5);
    std::fs::write(&out, line(&done)).unwrap();
    let o = out.to_str().unwrap();
    let listed = ok(&[
        "sweep", "--hidden", "8", "--seeds", "1-3", "--shard", "0/2", "--list", "--out", o,
    ]);
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(
        rows,
        [
            "    0 done --hidden 8 --seed 1",
            "    2 todo --hidden 8 --seed 3"
        ]
    );
    // A FIFO as any of the sweep's files is refused, not waited on.
    let fifo = tmp.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let f = fifo.to_str().unwrap();
    // Usage errors are clap's (the problem on the first line, then the
    // usage); the sweep's own errors are one line.
    for (args, needle, usage) in [
        (
            &["sweep", "--out", f][..],
            "fifo: is not a regular file",
            false,
        ),
        (
            &["sweep", "--spec", f, "--out", o],
            "fifo: is a FIFO",
            false,
        ),
        (&["sweep", "merge", f, "--out", o], "fifo: is a FIFO", false),
        (&["sweep", "--list", "--out", f], "fifo: is a FIFO", false),
        (
            &["sweep", "--lr", "x", "--out", o][..],
            "invalid value 'x' for '--lr <LR>'",
            false,
        ),
        (
            &["sweep", "--shard", "2/2", "--out", o],
            "I counts from 0",
            true,
        ),
        (
            &[
                "sweep",
                "--threads",
                "1",
                "--threads-per-run",
                "2",
                "--out",
                o,
            ],
            "is more than",
            false,
        ),
        (
            &["sweep", "--lr", "1", "merge", "a.jsonl", "--out", o],
            "cannot be used with",
            true,
        ),
        (
            &["sweep", "merge", "nope.jsonl", "--out", o],
            "nope.jsonl",
            false,
        ),
    ] {
        let r = fastnn(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?}");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        if !usage {
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
    }
}

/// The command of a YAML `- >-` block (a folded shell line).
fn folded_command(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "- >-")
        .expect("a `- >-` block");
    let indent = |l: &str| l.len() - l.trim_start().len();
    lines[start + 1..]
        .iter()
        .take_while(|l| indent(l) > indent(lines[start]))
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn cli_the_cluster_examples_run_shards_that_merge_into_the_grid() {
    let tmp = temp_dir();
    let data = tiny(tmp.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    let none = tmp.path().join("none.jsonl");
    // The shipped spec is a real grid (120 fashion runs): listed, not trained.
    let shipped = examples.join("sweep.toml");
    let listed = ok(&[
        "sweep",
        "--spec",
        shipped.to_str().unwrap(),
        "--list",
        "--out",
        none.to_str().unwrap(),
    ]);
    assert_eq!(listed.lines().count(), 120, "{listed}");
    let spec = write(
        tmp.path(),
        "tiny.toml",
        format!("dataset = {data:?}\nepochs = 1\nhidden = [4, 8]\nseeds = \"1-5\"\n").as_bytes(),
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_fastnn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |cmd: &mut Command| {
        let o = cmd
            .current_dir(tmp.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
    };
    // Slurm: the two tasks of a two-task array.
    for task in ["0", "1"] {
        run(Command::new("bash")
            .arg(examples.join("sweep.sbatch"))
            .env("SPEC", &spec)
            .env("SLURM_ARRAY_TASK_ID", task)
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .env("SLURM_CPUS_PER_TASK", "2"));
    }
    let results = tmp.path().join("results");
    let slurm = tmp.path().join("slurm.jsonl");
    ok(&[
        "sweep",
        "merge",
        results.join("runs-0.jsonl").to_str().unwrap(),
        results.join("runs-1.jsonl").to_str().unwrap(),
        "--out",
        slurm.to_str().unwrap(),
    ]);
    // Kubernetes: the pods' command for each of the 8 indices, then the
    // merge job's, with the volumes mounted here.
    let volumes = tmp.path().join("volumes");
    std::fs::create_dir_all(&volumes).unwrap();
    let mounted = |command: String| {
        command
            .replace("/spec/sweep.toml", spec.to_str().unwrap())
            .replace("/results/", &format!("{}/", volumes.display()))
    };
    let job = std::fs::read_to_string(examples.join("sweep-job.yaml")).unwrap();
    let pod = mounted(folded_command(&job));
    assert!(pod.starts_with("fastnn sweep "), "{pod}");
    for index in 0..8 {
        run(Command::new("sh")
            .args(["-c", &pod])
            .env("JOB_COMPLETION_INDEX", index.to_string()));
    }
    let merge = std::fs::read_to_string(examples.join("sweep-merge-job.yaml")).unwrap();
    run(Command::new("sh").args(["-c", &mounted(folded_command(&merge))]));
    let k8s = volumes.join("runs.jsonl");
    assert_eq!(outcomes(&k8s).len(), 10);
    assert_eq!(outcomes(&k8s), outcomes(&slurm));
}

//! The grid of a sweep: every `train` flag, each given a list of values,
//! and the seeds, from the command line and a spec file, expanded into
//! runs.
//!
//! Nothing here knows the train flags by name (except `--seed`, which
//! takes ranges): they are read from clap's definition of
//! [`TrainOptions`], so a flag added to `train` is sweepable at once. Each
//! run is a list of `train` flags, parsed by that same definition into
//! its [`TrainOptions`] and checked before anything trains.

use std::path::Path;

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde_json::Value;

use super::MAX_RUNS;
use super::record::{Settings, settings_key, settings_of};
use crate::dataset::DatasetSource;
use crate::train::TrainOptions;
use crate::{Error, Result};

/// The id of the one flag that takes ranges (`--seeds 1-5`).
const SEED: &str = "seed";

/// The largest spec file: far more than any grid needs.
const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The heading of the train flags in `fastnn sweep --help`.
const HEADING: &str = "Train flags (each a comma list: one run per value)";

/// One `train` flag as the sweep sees it.
#[derive(Clone, Debug)]
struct TrainFlag {
    /// clap's id, which is also the [`TrainOptions`] field name.
    id: String,
    /// The long name `train` takes it under.
    long: String,
    /// Takes no value (`--restore-best`): swept as `true,false`.
    switch: bool,
    /// Takes a comma list in `train` (`--hidden 128,128`): one list is
    /// written with `:` in a sweep.
    list: bool,
}

/// `train`'s flags as clap defines them, ready to parse one run's flags.
fn train_command() -> Command {
    let mut cmd = TrainOptions::augment_args(Command::new("train").no_binary_name(true));
    cmd.build();
    cmd
}

/// Every `train` flag, in definition order (the order runs vary in).
fn train_flags(cmd: &Command) -> Vec<TrainFlag> {
    cmd.get_arguments()
        .filter(|a| !is_meta(a))
        .filter_map(|a| {
            Some(TrainFlag {
                id: a.get_id().to_string(),
                long: a.get_long()?.to_string(),
                switch: !a.get_action().takes_values(),
                list: a.get_value_delimiter().is_some(),
            })
        })
        .collect()
}

/// `--help` and `--version`, which are not settings.
fn is_meta(a: &Arg) -> bool {
    matches!(
        a.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

/// The train flags given to `fastnn sweep`, each with its list of values
/// (as clap's `Args`: the flags are generated from `train`'s).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GridArgs {
    /// `(flag id, values)` in definition order, for the flags given.
    values: Vec<(String, Vec<String>)>,
}

impl GridArgs {
    /// The values given to the flag `id`, if it was given.
    fn get(&self, id: &str) -> Option<&[String]> {
        self.values
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, v)| v.as_slice())
    }

    /// Parses sweep flags (`--hidden 64,128 --seeds 1-3 …`), as tests and
    /// other front ends give them.
    pub fn parse<I, S>(args: I) -> Result<GridArgs>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        let cmd = GridArgs::augment_args(Command::new("sweep").no_binary_name(true));
        let m = cmd.try_get_matches_from(args).map_err(clap_error)?;
        GridArgs::from_arg_matches(&m).map_err(clap_error)
    }
}

impl Args for GridArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for a in train_command().get_arguments() {
            if a.get_long().is_some() && !is_meta(a) {
                cmd = cmd.arg(sweep_arg(a));
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        GridArgs::augment_args(cmd)
    }
}

/// The sweep's version of one `train` flag: a comma list of its values.
fn sweep_arg(a: &Arg) -> Arg {
    let long = a.get_long().expect("filtered: has a long name");
    let mut help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
    let mut arg = Arg::new(a.get_id().clone())
        .action(ArgAction::Append)
        .value_delimiter(',')
        .help_heading(HEADING)
        .hide(a.is_hide_set())
        .allow_negative_numbers(a.is_allow_negative_numbers_set());
    if a.get_id() == SEED {
        arg = arg
            .long("seeds")
            .visible_alias(long.to_string())
            .value_name("SEEDS");
        sentence(&mut help, "Ranges too: 1-5 is 1,2,3,4,5.");
    } else {
        arg = arg.long(long.to_string());
    }
    if let (Some(names), false) = (a.get_value_names(), a.get_id() == SEED) {
        arg = arg.value_names(names.iter().cloned());
    }
    if !a.get_action().takes_values() {
        arg = arg
            .num_args(0..=1)
            .default_missing_value("true")
            .value_parser(["true", "false"]);
        sentence(&mut help, "Sweep both with true,false.");
    } else if a.get_value_delimiter().is_some() {
        sentence(
            &mut help,
            "In a sweep one list is written with ':' (128:128).",
        );
    } else {
        let values = a.get_possible_values();
        if !values.is_empty() {
            arg = arg.value_parser(PossibleValuesParser::new(values));
        }
    }
    arg.help(help)
}

/// Adds a sentence to a help text.
fn sentence(help: &mut String, more: &str) {
    if !help.is_empty() && !help.ends_with('.') {
        help.push('.');
    }
    help.push(' ');
    help.push_str(more);
}

impl FromArgMatches for GridArgs {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut g = GridArgs::default();
        g.update_from_arg_matches(m)?;
        Ok(g)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        for f in train_flags(&train_command()) {
            if let Ok(Some(values)) = m.try_get_many::<String>(&f.id) {
                let values: Vec<String> = values.cloned().collect();
                match self.values.iter_mut().find(|(k, _)| *k == f.id) {
                    Some((_, v)) => *v = values,
                    None => self.values.push((f.id, values)),
                }
            }
        }
        Ok(())
    }
}

/// A clap error as one of ours: its first line, without `error: `.
fn clap_error(e: clap::Error) -> Error {
    let text = e.render().to_string();
    let line = text.lines().next().unwrap_or("invalid arguments");
    Error::Config(line.trim_start_matches("error: ").to_string())
}

/// One run of the grid, checked: the `train` flags that give it, their
/// [`TrainOptions`], and its settings (what identifies it).
#[derive(Clone, Debug)]
pub struct PlannedRun {
    /// Its place in the whole grid (the same in every shard).
    pub index: usize,
    /// The `train` flags of the run, `(long name, value)`; a switch has
    /// no value.
    pub flags: Vec<(String, Option<String>)>,
    /// The flags parsed.
    pub options: TrainOptions,
    /// The flags given, as an object (see [`settings_of`]).
    pub settings: Settings,
}

impl PlannedRun {
    /// The command line of the same run alone: `--hidden 128 --seed 1`.
    pub fn command_line(&self) -> String {
        self.flags
            .iter()
            .map(|(long, v)| match v {
                Some(v) => format!("--{long} {v}"),
                None => format!("--{long}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What identifies the run (see [`settings_key`]).
    pub fn key(&self) -> String {
        settings_key(&self.settings)
    }

    /// The run for a [`super::Runner`].
    pub fn task(&self) -> super::RunTask<'_> {
        super::RunTask {
            index: self.index,
            options: &self.options,
            settings: &self.settings,
        }
    }
}

/// The runs of a sweep: the grids of the spec file (if any) with the
/// command line's flags replacing the spec's values, expanded in the
/// flags' definition order with the seeds varying fastest, duplicates
/// (the same settings written twice) dropped, each run checked.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The runs, in grid order.
    pub runs: Vec<PlannedRun>,
    /// Combinations dropped because an earlier one had the same settings.
    pub duplicates: usize,
}

impl Plan {
    /// Expands the grid of `args` over that of the spec file `spec`.
    pub fn new(args: &GridArgs, spec: Option<&Path>) -> Result<Plan> {
        let mut cmd = train_command();
        let flags = train_flags(&cmd);
        let grids = match spec {
            Some(path) => read_spec(path, &flags)?,
            None => vec![GridArgs::default()],
        };
        let mut runs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut duplicates = 0;
        for grid in grids {
            let mut axes: Vec<(&TrainFlag, Vec<String>)> = Vec::new();
            for f in &flags {
                let given = args.get(&f.id).or_else(|| grid.get(&f.id));
                if let Some(values) = given {
                    axes.push((f, expand_values(f, values)?));
                }
            }
            // Seeds vary fastest: one setting's seeds are neighbours.
            if let Some(i) = axes.iter().position(|(f, _)| f.id == SEED) {
                let seed = axes.remove(i);
                axes.push(seed);
            }
            let total = axes.iter().try_fold(1usize, |n, (_, v)| {
                n.checked_mul(v.len()).filter(|&n| n <= MAX_RUNS)
            });
            if total.is_none_or(|t| t + runs.len() > MAX_RUNS) {
                return Err(Error::Config(format!(
                    "the grid has more than {MAX_RUNS} runs; split it into several sweeps"
                )));
            }
            for combination in Odometer::new(axes.iter().map(|(_, v)| v.len()).collect()) {
                let given = run_flags(&axes, &combination);
                let run = check_run(&mut cmd, &flags, runs.len(), given)?;
                if seen.insert(run.key()) {
                    runs.push(run);
                } else {
                    duplicates += 1;
                }
            }
        }
        Ok(Plan { runs, duplicates })
    }
}

/// The `train` flags of one combination of values (`combination[i]`
/// indexes the values of `axes[i]`): a switch appears when `true`.
fn run_flags(
    axes: &[(&TrainFlag, Vec<String>)],
    combination: &[usize],
) -> Vec<(String, Option<String>)> {
    axes.iter()
        .zip(combination)
        .filter_map(|((f, values), &i)| {
            let v = &values[i];
            match (f.switch, v.as_str()) {
                (true, "false") => None,
                (true, _) => Some((f.long.clone(), None)),
                (false, _) => Some((f.long.clone(), Some(v.clone()))),
            }
        })
        .collect()
}

/// A flag's values as `train` takes them: seeds' ranges expanded, a
/// list's `:` turned into `,`.
fn expand_values(f: &TrainFlag, values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values {
        let v = v.trim();
        if f.id == SEED
            && let Some((a, b)) = v.split_once('-')
            && !a.is_empty()
        {
            let bad = || Error::Config(format!("--seeds {v}: expected A-B with A <= B"));
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if a > b || b - a >= MAX_RUNS as u64 {
                return Err(if a > b {
                    bad()
                } else {
                    Error::Config(format!("--seeds {v} is more than {MAX_RUNS} seeds"))
                });
            }
            out.extend((a..=b).map(|s| s.to_string()));
        } else if f.list {
            out.push(v.replace(':', ","));
        } else {
            out.push(v.to_string());
        }
        if out.len() > MAX_RUNS {
            return Err(Error::Config(format!(
                "--{} has more than {MAX_RUNS} values",
                f.long
            )));
        }
    }
    Ok(out)
}

/// Parses and checks one run's flags (`given`, of the train flags
/// `flags` that `cmd` parses).
fn check_run(
    cmd: &mut Command,
    flags: &[TrainFlag],
    index: usize,
    given: Vec<(String, Option<String>)>,
) -> Result<PlannedRun> {
    let argv = given.iter().map(|(long, v)| match v {
        Some(v) => format!("--{long}={v}"),
        None => format!("--{long}"),
    });
    let mut run = PlannedRun {
        index,
        flags: given.clone(),
        options: TrainOptions::default(),
        settings: Settings::new(),
    };
    let failed = |run: &PlannedRun, e: Error| {
        Error::Config(format!("run {} ({}): {e}", run.index, run.command_line()))
    };
    let parsed = cmd
        .try_get_matches_from_mut(argv)
        .and_then(|m| TrainOptions::from_arg_matches(&m));
    run.options = parsed.map_err(|e| failed(&run, clap_error(e)))?;
    if run.options.log.is_some() {
        // One file for every run would be rewritten by each: the epochs of
        // every run are in the results file instead.
        return Err(Error::Config(
            "--log names one file, which every run of a sweep would rewrite: each run's \
             epochs are in the --out results instead"
                .into(),
        ));
    }
    let config = run.options.config().map_err(|e| failed(&run, e))?;
    run.options
        .dataset()
        .parse::<DatasetSource>()
        .map_err(|e| failed(&run, e))?;
    let not_given: Vec<&str> = flags
        .iter()
        .filter(|f| !given.iter().any(|(long, _)| *long == f.long))
        .map(|f| f.id.as_str())
        .collect();
    run.settings = settings_of(&run.options, &not_given, config.seed)?;
    Ok(run)
}

/// Every combination of indices into lists of the given lengths, the last
/// varying fastest; one empty combination for no lists.
struct Odometer {
    lens: Vec<usize>,
    next: Option<Vec<usize>>,
}

impl Odometer {
    fn new(lens: Vec<usize>) -> Odometer {
        let next = (!lens.contains(&0)).then(|| vec![0; lens.len()]);
        Odometer { lens, next }
    }
}

impl Iterator for Odometer {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let mut n = current.clone();
        for i in (0..n.len()).rev() {
            n[i] += 1;
            if n[i] < self.lens[i] {
                self.next = Some(n);
                break;
            }
            n[i] = 0;
        }
        Some(current)
    }
}

/// Reads a spec file (`.toml`, else JSON): its grids, each with the file's
/// top-level values under its own.
fn read_spec(path: &Path, flags: &[TrainFlag]) -> Result<Vec<GridArgs>> {
    let bytes = crate::files::read_bounded(path, MAX_SPEC_BYTES, "a sweep spec")?;
    let text = String::from_utf8(bytes).map_err(|_| Error::invalid(path, "is not UTF-8 text"))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let doc: Value = if is_toml {
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::invalid(path, format!("not valid TOML: {}", one_line(&e))))?;
        serde_json::to_value(table).map_err(|e| Error::invalid(path, e.to_string()))?
    } else {
        serde_json::from_str(&text)
            .map_err(|e| Error::invalid(path, format!("not valid JSON: {e}")))?
    };
    let Value::Object(mut top) = doc else {
        return Err(Error::invalid(path, "must be a table of settings"));
    };
    let grids = top.remove("grid");
    let base = spec_grid(path, &top, flags)?;
    let Some(grids) = grids else {
        return Ok(vec![base]);
    };
    let Value::Array(grids) = grids else {
        return Err(Error::invalid(
            path,
            "`grid` must be a list of tables ([[grid]] in TOML)",
        ));
    };
    if grids.is_empty() {
        return Err(Error::invalid(path, "`grid` is empty"));
    }
    grids
        .iter()
        .map(|g| {
            let Value::Object(g) = g else {
                return Err(Error::invalid(path, "each `grid` entry must be a table"));
            };
            let mut grid = base.clone();
            for (id, values) in spec_grid(path, g, flags)?.values {
                match grid.values.iter_mut().find(|(k, _)| *k == id) {
                    Some((_, v)) => *v = values,
                    None => grid.values.push((id, values)),
                }
            }
            Ok(grid)
        })
        .collect()
}

/// A TOML parse error on one line.
fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The settings of one table of a spec file: each key a train flag (as
/// `batch-size` or `batch_size`) or `seeds`, each value one value as
/// `train` takes it, or a list of them (a list inside is one list value).
fn spec_grid(
    path: &Path,
    table: &serde_json::Map<String, Value>,
    flags: &[TrainFlag],
) -> Result<GridArgs> {
    let mut grid = GridArgs::default();
    for (key, value) in table {
        let name = key.replace('_', "-");
        let flag = flags
            .iter()
            .find(|f| f.long == name || (f.id == SEED && name == "seeds"))
            .ok_or_else(|| {
                let known: Vec<&str> = flags.iter().map(|f| f.long.as_str()).collect();
                Error::invalid(
                    path,
                    format!(
                        "unknown setting `{key}` (the settings are the train flags {}, seeds \
                         and grid)",
                        known.join(", ")
                    ),
                )
            })?;
        if grid.get(&flag.id).is_some() {
            return Err(Error::invalid(path, format!("`{key}` is given twice")));
        }
        let scalar = |v: &Value| -> Result<String> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Array(items) if flag.list => items
                    .iter()
                    .map(|i| match i {
                        Value::Number(n) => Ok(n.to_string()),
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(()),
                    })
                    .collect::<std::result::Result<Vec<_>, ()>>()
                    .map(|v| v.join(","))
                    .map_err(|()| {
                        Error::invalid(path, format!("`{key}`: a list holds numbers or strings"))
                    }),
                _ => Err(Error::invalid(
                    path,
                    format!("`{key}`: expected a value or a list of values, found {v}"),
                )),
            }
        };
        let mut values = match value {
            Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>>>()?,
            v => vec![scalar(v)?],
        };
        if flag.id == SEED {
            // `seeds = "1-5,9"` as on the command line.
            values = values
                .iter()
                .flat_map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
                .collect();
        }
        if values.is_empty() {
            return Err(Error::invalid(path, format!("`{key}` has no values")));
        }
        grid.values.push((flag.id.clone(), values));
    }
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_odometer_counts_every_combination_last_fastest() {
        let all: Vec<Vec<usize>> = Odometer::new(vec![2, 1, 3]).collect();
        assert_eq!(all.len(), 6);
        assert_eq!(
            all[..4],
            [vec![0, 0, 0], vec![0, 0, 1], vec![0, 0, 2], vec![1, 0, 0]]
        );
        assert_eq!(
            Odometer::new(vec![]).collect::<Vec<_>>(),
            [Vec::<usize>::new()]
        );
        assert_eq!(Odometer::new(vec![3, 0]).count(), 0);
    }

    /// A switch such as a future `--restore-best`: swept as true,false.
    #[test]
    fn a_switch_is_swept_as_true_and_false() {
        let train = Arg::new("restore_best")
            .long("restore-best")
            .action(ArgAction::SetTrue)
            .help("Keep the best epoch");
        let cmd = Command::new("sweep")
            .no_binary_name(true)
            .arg(sweep_arg(&train))
            .arg(Arg::new("other").long("other"));
        let values = |args: &[&str]| {
            cmd.clone().try_get_matches_from(args).map(|m| {
                m.get_many::<String>("restore_best")
                    .map(|v| v.cloned().collect::<Vec<_>>())
            })
        };
        assert_eq!(
            values(&["--restore-best"]).unwrap(),
            Some(vec!["true".into()])
        );
        assert_eq!(
            values(&["--restore-best", "true,false", "--other", "x"]).unwrap(),
            Some(vec!["true".into(), "false".into()])
        );
        assert!(values(&["--restore-best", "maybe"]).is_err());
        let flag = TrainFlag {
            id: "restore_best".into(),
            long: "restore-best".into(),
            switch: true,
            list: false,
        };
        let axes = [(&flag, vec!["true".to_string(), "false".to_string()])];
        assert_eq!(run_flags(&axes, &[0]), [("restore-best".to_string(), None)]);
        assert_eq!(run_flags(&axes, &[1]), []);
    }

    #[test]
    fn values_become_what_train_takes() {
        let flag = |id: &str, list| TrainFlag {
            id: id.into(),
            long: id.into(),
            switch: false,
            list,
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_values(&flag("hidden", true), &strings(&["64", "128:128"])).unwrap(),
            ["64", "128,128"]
        );
        assert_eq!(
            expand_values(&flag("seed", false), &strings(&["3-5", " 9 "])).unwrap(),
            ["3", "4", "5", "9"]
        );
        // Not a range: clap's own parser refuses it later.
        assert_eq!(
            expand_values(&flag("seed", false), &strings(&["-2"])).unwrap(),
            ["-2"]
        );
        assert_eq!(
            expand_values(&flag("dataset", false), &strings(&["a:b"])).unwrap(),
            ["a:b"],
            "only list flags translate ':'"
        );
    }
}

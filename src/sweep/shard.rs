//! Shards: a deterministic share of a sweep's runs, one per task of a
//! Slurm job array or a Kubernetes Indexed Job.

use std::fmt;
use std::str::FromStr;

use super::MAX_RUNS;
use crate::Error;

/// Shard `index` of `count` (`--shard I/N`, I from 0): the runs whose
/// place in the grid is `index` modulo `count`. Dealing runs round-robin
/// gives each shard a like share of the grid's large and small settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// Of how many.
    pub count: usize,
}

impl Shard {
    /// The whole grid (`0/1`).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether the run at `run_index` in the grid belongs to this shard.
    pub fn contains(&self, run_index: usize) -> bool {
        run_index % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `I/N` with `0 <= I < N`.
    fn from_str(s: &str) -> Result<Shard, Error> {
        let bad = |why: &str| Error::Config(format!("--shard {s}: {why}"));
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, e.g. 0/4 (I counts from 0)"))?;
        let number = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad(&format!("`{v}` is not a whole number")))
        };
        let (index, count) = (number(i)?, number(n)?);
        if count == 0 || count > MAX_RUNS {
            return Err(bad(&format!("N must be 1 to {MAX_RUNS}")));
        }
        if index >= count {
            return Err(bad("I counts from 0, so it must be less than N"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_deal_runs_round_robin_and_cover_the_grid_once() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for run in 0..20 {
            let owners = shards.iter().filter(|s| s.contains(run)).count();
            assert_eq!(owners, 1, "run {run}");
            assert!(shards[run % 3].contains(run));
        }
        assert!(Shard::ALL.contains(7));
        assert_eq!(shards[2].to_string(), "2/3");
    }

    #[test]
    fn bad_shards_are_refused_with_a_reason() {
        for (s, why) in [
            ("3/3", "less than N"),
            ("0/0", "N must be"),
            ("1", "expected I/N"),
            ("a/2", "`a` is not"),
            ("-1/2", "is not a whole number"),
        ] {
            let e = s.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}

//! The threads fastnn computes on: an [`Engine`] owns a thread pool and is
//! handed to training, evaluation and prediction, so nothing depends on
//! which pool the caller happens to run in.

mod awake;

pub(crate) use awake::with_awake_workers;

use std::fmt;
use std::sync::Arc;

use crate::kernels::Parallelism;
use crate::kernels::params::PAR_THRESHOLD;
use crate::{Error, Result};

/// The most threads an engine may have: far more than any machine fastnn's
/// networks can use, few enough that a typo cannot start a million threads.
pub const MAX_THREADS: usize = 1024;

/// A pool of worker threads that training, evaluation and prediction run
/// on. Cloning is cheap and shares the pool.
///
/// Results never depend on the thread count: the same seed and settings
/// give a bitwise-identical model on an engine of any size.
///
/// ```
/// let engine = fastnn::Engine::all_cores()?; // or Engine::new(4)
/// assert!(engine.threads() >= 1);
/// # Ok::<(), fastnn::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    pool: Arc<rayon::ThreadPool>,
}

impl Engine {
    /// An engine with `threads` worker threads (1 to [`MAX_THREADS`]).
    pub fn new(threads: usize) -> Result<Engine> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(Error::Config(format!(
                "the thread count must be 1 to {MAX_THREADS}, not {threads}"
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("fastnn-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))?;
        Ok(Engine {
            pool: Arc::new(pool),
        })
    }

    /// An engine with one thread per core the process may use.
    pub fn all_cores() -> Result<Engine> {
        Engine::new(available_cores().min(MAX_THREADS))
    }

    /// Its number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on the engine's pool; products inside it may use
    /// [`Engine::parallelism`].
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Runs `f` with the parallelism its products should use, given the
    /// largest product's size (`m · n · k`): work that no product would
    /// split (a one-thread engine, or every product below the kernels'
    /// threshold) runs right here on the caller's thread, sequentially,
    /// which spares the hand-over to a pool worker and back (20–50 µs on a
    /// virtual machine, several times a batch-1 prediction); the rest runs
    /// on the pool. The bits are the same either way: products give the
    /// same result split or not. `f` must use no rayon pool but through
    /// the parallelism it is given.
    pub(crate) fn run<R: Send>(
        &self,
        largest_product: usize,
        f: impl FnOnce(Parallelism) -> R + Send,
    ) -> R {
        if self.threads() == 1 || largest_product < PAR_THRESHOLD {
            f(Parallelism::Sequential)
        } else {
            self.install(|| f(self.parallelism()))
        }
    }

    /// How products split on this engine: over its threads, or not at all
    /// for one thread.
    pub(crate) fn parallelism(&self) -> Parallelism {
        if self.threads() > 1 {
            Parallelism::Tiles
        } else {
            Parallelism::Sequential
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("threads", &self.threads())
            .finish()
    }
}

/// Cores available to this process (1 if unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_checked_and_counted() {
        assert_eq!(Engine::new(3).unwrap().threads(), 3);
        assert!(Engine::new(0).is_err());
        assert!(Engine::new(MAX_THREADS + 1).is_err());
        let e = Engine::new(2).unwrap();
        assert_eq!(e.install(rayon::current_num_threads), 2);
        assert_eq!(e.parallelism(), Parallelism::Tiles);
        assert_eq!(
            Engine::new(1).unwrap().parallelism(),
            Parallelism::Sequential
        );
    }

    #[test]
    fn small_or_one_thread_work_runs_on_the_callers_thread() {
        let where_ = |e: &Engine, size: usize| {
            e.run(size, |par| (par, rayon::current_thread_index().is_some()))
        };
        let (one, two) = (Engine::new(1).unwrap(), Engine::new(2).unwrap());
        // (parallelism, on a pool thread)
        assert_eq!(where_(&one, usize::MAX), (Parallelism::Sequential, false));
        assert_eq!(
            where_(&two, PAR_THRESHOLD - 1),
            (Parallelism::Sequential, false)
        );
        assert_eq!(where_(&two, PAR_THRESHOLD), (Parallelism::Tiles, true));
    }
}

//! Keeping the engine's workers awake between the parallel
//! products of a step.
//!
//! A batch-32 step has two parallel regions about 10 µs apart (the output
//! layer and the loss run on one thread in between). An idle rayon worker
//! yields a few dozen times and then sleeps, and waking it again takes tens
//! of microseconds on a virtual machine (measured here: the second thread
//! joined the weight-gradient product 12–18 µs late on average, a tenth of
//! the step). [`with_awake_workers`] runs the loop with every other worker
//! of the pool held in a loop that runs whatever the loop's products leave
//! for it ([`rayon::yield_now`]) and otherwise spins, so a share is picked
//! up within a microsecond. Which thread runs what never changes a result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a helper waits for work before it gives its worker back:
/// far more than the gap between two parallel products of a step (about
/// 10 µs at batch 32), far less than anything a user would notice.
pub const IDLE_LIMIT: Duration = Duration::from_millis(2);

/// Runs `f` on the calling thread while the other workers of the current
/// rayon pool stay awake to take the parallel work `f` creates. Returns what
/// `f` returns. Outside a pool, or on a pool of one, it just runs `f`.
///
/// A helper runs pending rayon jobs or spins until `f` has finished (even
/// by panicking), and a helper job that the calling thread pops itself
/// (after `f`, as nobody took it) returns at once; workers steal the oldest
/// job first, so they take the helpers before any work `f` shares. A helper
/// that finds nothing to run for [`IDLE_LIMIT`] also returns: when several
/// callers share a pool, a helper of one may sit on top of another's job on
/// a worker's stack, and were both callers then to wait on each other, the
/// idle helpers give way and the jobs under them finish.
pub fn with_awake_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let helpers = rayon::current_num_threads().saturating_sub(1);
    let Some(caller) = rayon::current_thread_index() else {
        return f();
    };
    if helpers == 0 {
        return f();
    }
    let done = AtomicBool::new(false);
    /// Sets `done` however `f` ends, so that no helper spins forever.
    struct Finish<'a>(&'a AtomicBool);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let run = || {
        let _finish = Finish(&done);
        f()
    };
    with_helpers(helpers, run, &done, caller)
}

/// `f` beside `n` helpers: nested joins, each helper the stealable side.
fn with_helpers<R: Send>(
    n: usize,
    f: impl FnOnce() -> R + Send,
    done: &AtomicBool,
    caller: usize,
) -> R {
    if n == 0 {
        return f();
    }
    let helper = || help_until(done, caller);
    rayon::join(|| with_helpers(n - 1, f, done, caller), helper).0
}

/// Runs pending rayon jobs until `done` or until none came for
/// [`IDLE_LIMIT`]; between them spins, yielding the core to the OS
/// scheduler (a no-op on an idle core) so that an oversubscribed machine
/// still gets on. On the calling thread it returns at once: there it would
/// sit on top of `f`, which could never finish.
fn help_until(done: &AtomicBool, caller: usize) {
    if rayon::current_thread_index() == Some(caller) {
        return;
    }
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            last_work = Instant::now();
        } else if last_work.elapsed() > IDLE_LIMIT {
            return;
        } else {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn runs_the_work_and_returns_on_any_pool() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let sum = pool.install(|| {
                with_awake_workers(|| {
                    (0..200)
                        .map(|i| (0..1000u64).into_par_iter().map(|x| x * i).sum::<u64>())
                        .sum::<u64>()
                })
            });
            assert_eq!(sum, (0..200u64).sum::<u64>() * (0..1000u64).sum::<u64>());
        }
        // Outside any pool: just runs.
        assert_eq!(with_awake_workers(|| 7), 7);
    }

    #[test]
    fn many_short_runs_on_many_threads_finish() {
        // More threads than cores, runs far shorter than a wake-up: helpers
        // are taken late or not at all, and each run must still return its
        // own result.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        pool.install(|| {
            for i in 0..2000u64 {
                let s = with_awake_workers(|| rayon::join(|| i, || i + 1));
                assert_eq!(s, (i, i + 1));
            }
        });
    }

    #[test]
    fn callers_sharing_a_pool_all_finish() {
        // Several epochs-with-helpers at once on one pool, each sharing
        // work: helpers of one caller end up above jobs of another.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let total: u64 = pool.install(|| {
            (0..6u64)
                .into_par_iter()
                .map(|c| {
                    with_awake_workers(|| {
                        (0..50u64)
                            .map(|i| (0..64u64).into_par_iter().map(|x| x * i + c).sum::<u64>())
                            .sum::<u64>()
                    })
                })
                .sum()
        });
        let one = |c: u64| {
            (0..50u64)
                .map(|i| (0..64u64).map(|x| x * i + c).sum::<u64>())
                .sum::<u64>()
        };
        assert_eq!(total, (0..6u64).map(one).sum::<u64>());
    }

    #[test]
    fn a_panic_releases_the_helpers() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let r = pool.install(|| std::panic::catch_unwind(|| with_awake_workers(|| panic!("boom"))));
        assert!(r.is_err());
        // The pool still works afterwards.
        assert_eq!(pool.install(|| with_awake_workers(|| 1 + 1)), 2);
    }
}

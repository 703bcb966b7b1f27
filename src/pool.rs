//! Keeping the rayon workers of a training loop awake between the parallel
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

/// Runs `f` on the calling thread while the other workers of the current
/// rayon pool stay awake to take the parallel work `f` creates. Returns what
/// `f` returns. Outside a pool, or on a pool of one, it just runs `f`.
///
/// No deadlock is possible: a helper only runs pending rayon jobs or spins
/// until `f` has finished (even by panicking), and a helper that no worker
/// picked up is run by the caller after `f`, when it returns at once.
pub fn with_awake_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let helpers = rayon::current_num_threads().saturating_sub(1);
    if helpers == 0 || rayon::current_thread_index().is_none() {
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
    with_helpers(helpers, run, &done)
}

/// `f` beside `n` helpers: nested joins, each helper the stealable side.
fn with_helpers<R: Send>(n: usize, f: impl FnOnce() -> R + Send, done: &AtomicBool) -> R {
    if n == 0 {
        return f();
    }
    rayon::join(|| with_helpers(n - 1, f, done), || help_until(done)).0
}

/// Runs pending rayon jobs until `done`; between them spins, yielding the
/// core to the OS scheduler (a no-op on an idle core) so that an
/// oversubscribed machine still gets on.
fn help_until(done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
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

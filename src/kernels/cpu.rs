//! What the kernels were compiled for, what this CPU has, and its measured
//! FMA peak.
//!
//! `wide` fixes its SIMD path at compile time from the enabled target
//! features (see `.cargo/config.toml`), so a binary built with AVX-512 would
//! die with SIGILL on a CPU without it. [`ensure_supported`] turns that into
//! one clear line before any kernel runs.

use std::hint::black_box;
use std::time::Instant;

use super::lanes::Lanes;
use super::params::{self, Lane};

/// The SIMD-relevant target features this build was compiled with.
pub fn compiled_features() -> Vec<&'static str> {
    let mut f = Vec::new();
    macro_rules! push {
        ($($name:literal),*) => {$(
            if cfg!(target_feature = $name) {
                f.push($name);
            }
        )*};
    }
    push!(
        "sse2", "sse4.1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon"
    );
    f
}

/// Whether this CPU has target feature `name` (as spelled by `cfg`).
pub fn detected(name: &str) -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        match name {
            "sse2" => std::arch::is_x86_feature_detected!("sse2"),
            "sse4.1" => std::arch::is_x86_feature_detected!("sse4.1"),
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
            "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            _ => false,
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        match name {
            "neon" => std::arch::is_aarch64_feature_detected!("neon"),
            _ => false,
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    {
        let _ = name;
        false
    }
}

/// The detected subset of the features [`compiled_features`] knows about.
pub fn detected_features() -> Vec<&'static str> {
    [
        "sse2", "sse4.1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon",
    ]
    .into_iter()
    .filter(|f| detected(f))
    .collect()
}

/// `Err` with one line naming the first of `compiled` that `has` lacks.
fn check(compiled: &[&str], has: impl Fn(&str) -> bool) -> Result<(), String> {
    match compiled.iter().find(|f| !has(f)) {
        None => Ok(()),
        Some(f) => Err(format!(
            "this CPU lacks {f}, which this fastnn binary was compiled for \
             (built with -C target-cpu=native on another machine?); rebuild here, \
             or with RUSTFLAGS=\"-C target-cpu=x86-64-v2\" for a portable binary"
        )),
    }
}

/// Refuses, with one line, a CPU that lacks a compiled-in feature. The
/// binary calls this first thing.
pub fn ensure_supported() -> Result<(), String> {
    check(&compiled_features(), detected)
}

/// A CPU as cpuid names it: vendor, family and model (the numbers that
/// the micro-architecture tables of Intel, AMD and uops.info go by).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuId {
    /// `"GenuineIntel"`, `"AuthenticAMD"`, …
    pub vendor: String,
    /// Base family plus extended family (Zen 4: 0x19, Zen 5: 0x1a; Intel
    /// cores: 6).
    pub family: u32,
    /// Model, with the extended model bits for families 6 and 15 and up.
    pub model: u32,
}

impl std::fmt::Display for CpuId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} family {:#x} model {:#x}",
            self.vendor, self.family, self.model
        )
    }
}

/// This CPU's vendor, family and model (`None` off x86-64).
pub fn cpu_id() -> Option<CpuId> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // SAFETY: cpuid leaves 0 and 1 exist on every x86-64 CPU.
        #[allow(unused_unsafe)]
        let (l0, l1) = unsafe { (__cpuid(0), __cpuid(1)) };
        let mut vendor = Vec::with_capacity(12);
        for r in [l0.ebx, l0.edx, l0.ecx] {
            vendor.extend_from_slice(&r.to_le_bytes());
        }
        let base_family = (l1.eax >> 8) & 0xf;
        let family = match base_family {
            0xf => base_family + ((l1.eax >> 20) & 0xff),
            f => f,
        };
        let model = match base_family {
            6 | 0xf => ((l1.eax >> 4) & 0xf) | (((l1.eax >> 16) & 0xf) << 4),
            _ => (l1.eax >> 4) & 0xf,
        };
        Some(CpuId {
            vendor: String::from_utf8_lossy(&vendor).into_owned(),
            family,
            model,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The compiled SIMD path, e.g. `avx512f (f32x16) fma`.
pub fn compiled_path() -> String {
    let fma = if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
        " fma"
    } else {
        ""
    };
    format!("{}{fma}", params::NAME)
}

/// Independent FMA chains per thread: more than latency × issue width
/// (4 cycles × 2 pipes) so the loop is throughput-bound.
const CHAINS: usize = 12;

/// One thread's FMA loop: `iters` steps of `CHAINS` vector FMAs; returns a
/// checksum so nothing is optimized away.
#[inline(never)]
fn fma_loop(iters: usize) -> f32 {
    let x = black_box(Lane::splat(0.999_999));
    let y = black_box(Lane::splat(1e-6));
    let mut acc = [Lane::splat(1.0); CHAINS];
    for (i, a) in acc.iter_mut().enumerate() {
        *a = Lane::splat(1.0 + i as f32 * 1e-3);
    }
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(x, y);
        }
    }
    acc.iter().map(|a| a.to_array()[0]).sum()
}

/// Measures the f32 FMA peak of `threads` threads running the compiled SIMD
/// path, in GFLOP/s (an FMA counts as 2 FLOP): the best of 15 runs of a few
/// milliseconds each, since interference only ever slows a run down.
pub fn measure_fma_peak_gflops(threads: usize) -> f64 {
    let threads = threads.max(1);
    let iters = 1 << 20;
    let flops_per_thread = (iters * CHAINS * <Lane as Lanes>::N * 2) as f64;
    fma_loop(1000);
    let mut best = f64::INFINITY;
    for _ in 0..15 {
        let t = Instant::now();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| s.spawn(move || black_box(fma_loop(black_box(iters)))))
                .collect();
            for h in hs {
                let _ = h.join();
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    flops_per_thread * threads as f64 / best / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_missing_feature_with_one_line() {
        let err = check(&["avx2", "sha512-imaginary"], |f| f == "avx2").unwrap_err();
        assert!(
            err.contains("sha512-imaginary") && !err.contains('\n'),
            "{err}"
        );
        assert!(check(&["avx2"], |_| true).is_ok());
    }

    #[test]
    fn this_cpu_runs_this_build() {
        assert_eq!(ensure_supported(), Ok(()));
    }

    #[test]
    fn fma_peak_is_positive() {
        assert!(measure_fma_peak_gflops(1) > 0.0);
    }
}

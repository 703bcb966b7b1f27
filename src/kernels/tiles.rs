//! The SIMD tiles compiled into this build ([`TILES`]) and the one
//! that [`KernelChoice::Simd`] runs: chosen once per process, the first
//! time a product needs it, and cached in a `OnceLock`.
//!
//! The choice, in order:
//!
//! 1. `FASTNN_TILE=12x32` (any compiled tile, by name) runs that tile: for
//!    measuring. An unknown name is ignored, and `describe()` says so.
//! 2. `FASTNN_TILE=calibrate` times every compiled tile on four of the
//!    trainer's products (about 12 ms in all) and runs the fastest.
//! 3. Otherwise (unset or `auto`) the CPU table ([`RULES`]): the first rule
//!    whose vendor and family match this CPU and whose tile this build
//!    has. A CPU the table names no tile for (Intel, so far: no Intel
//!    machine measured them) is calibrated as in 2.
//!
//! Every tile sums each element in the same order (the k blocking never
//! depends on the tile), so the choice changes speed, never the results:
//! `tests/gemm.rs` checks all compiled tiles bit for bit against each
//! other.
//!
//! [`KernelChoice::Simd`]: super::KernelChoice::Simd

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use super::cpu::{CpuId, cpu_id};
use super::gemm::{self, Family, TileFn};
use super::micro::tile_dispatch;
use super::params::{Lane, TILES, TileShape};
use super::{ARef, Epilogue, MatMut, MatRef, Parallelism, U8Rows};

/// The blocked driver of one tile (`gemm::run::<MR, Lane>`).
type RunFn = fn(Family, ARef<'_>, MatRef<'_>, f32, MatMut<'_>, Epilogue<'_>, Parallelism);
/// The split-k driver of one tile (`gemm::run_k_tree::<MR, Lane>`).
type KTreeFn = fn(Family, ARef<'_>, MatRef<'_>, MatMut<'_>, Epilogue<'_>, usize, &mut [f32]);

/// One compiled SIMD tile: its shape and its instantiation of the driver.
#[derive(Clone, Copy)]
pub struct SimdTile {
    /// `MR`, `NV` and `MC`.
    pub shape: TileShape,
    fam: Family,
    run: RunFn,
    k_tree: KTreeFn,
}

impl std::fmt::Debug for SimdTile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimdTile({})", self.name())
    }
}

impl PartialEq for SimdTile {
    fn eq(&self, other: &SimdTile) -> bool {
        self.shape == other.shape
    }
}

impl SimdTile {
    /// The tile `shape` whose micro-kernels `tile` dispatches, `MR = shape.mr`.
    const fn new<const MR: usize>(shape: TileShape, tile: TileFn) -> SimdTile {
        assert!(shape.mr == MR);
        SimdTile {
            shape,
            fam: Family {
                tile,
                nv: shape.nv,
                mc: shape.mc,
                direct_b: true,
                pack_tall_b: shape.pack_b,
            },
            run: gemm::run::<MR, Lane>,
            k_tree: gemm::run_k_tree::<MR, Lane>,
        }
    }

    /// `"MRxNR"`, e.g. `"12x32"`.
    pub fn name(&self) -> String {
        self.shape.name()
    }

    /// The blocked product with this tile (shapes checked by the caller).
    pub(crate) fn run(
        &self,
        a: ARef<'_>,
        b: MatRef<'_>,
        beta: f32,
        c: MatMut<'_>,
        epi: Epilogue<'_>,
        par: Parallelism,
    ) {
        (self.run)(self.fam, a, b, beta, c, epi, par)
    }

    /// The split-k product with this tile (shapes checked by the caller).
    pub(crate) fn run_k_tree(
        &self,
        a: ARef<'_>,
        b: MatRef<'_>,
        c: MatMut<'_>,
        epi: Epilogue<'_>,
        threads: usize,
        partials: &mut [f32],
    ) {
        (self.k_tree)(self.fam, a, b, c, epi, threads, partials)
    }
}

/// Instantiates the micro-kernels of every tile of [`TILES`] (`$i` its
/// index: rows `1..=MR` and vectors `1..=NV`, so edge tiles never compute
/// a row twice) and the table of [`SimdTile`]s.
macro_rules! simd_tiles {
    (
        kernels: $($mr:literal x $nv:literal pf $pf:literal => $name:ident [$($r:literal)*] [$($n:literal)*];)*
        tiles: $($i:literal => $fn:ident: $tmr:literal x $tnv:literal pf $tpf:literal;)*
    ) => {
        $(tile_dispatch!($name, Lane, [$($r)*], [$($n)*], $pf);)*
        /// Every compiled tile, in the order of [`TILES`].
        static SIMD_TILES: [SimdTile; TILES.len()] = [$(SimdTile::new::<$tmr>(TILES[$i], $fn)),*];
        // Each entry's kernels are those of its shape.
        const _: () = {
            $(assert!(TILES[$i].mr == $tmr && TILES[$i].nv == $tnv && TILES[$i].pf == $tpf);)*
            assert!([$($i),*].len() == TILES.len());
        };
    };
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "fma"
))]
simd_tiles! {
    kernels:
    8 x 2 pf 0 => tile_8x32 [1 2 3 4 5 6 7 8] [1 2];
    12 x 2 pf 0 => tile_12x32 [1 2 3 4 5 6 7 8 9 10 11 12] [1 2];
    8 x 3 pf 0 => tile_8x48 [1 2 3 4 5 6 7 8] [1 2 3];
    8 x 2 pf 8 => tile_8x32_pf8 [1 2 3 4 5 6 7 8] [1 2];
    12 x 2 pf 8 => tile_12x32_pf8 [1 2 3 4 5 6 7 8 9 10 11 12] [1 2];
    tiles:
    0 => tile_8x32: 8 x 2 pf 0;
    1 => tile_12x32: 12 x 2 pf 0;
    2 => tile_8x48: 8 x 3 pf 0;
    3 => tile_8x32_pf8: 8 x 2 pf 8;
    4 => tile_12x32_pf8: 12 x 2 pf 8;
    5 => tile_8x32: 8 x 2 pf 0;
    6 => tile_12x32: 12 x 2 pf 0;
    7 => tile_12x32_pf8: 12 x 2 pf 8;
}
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx",
    target_feature = "fma",
    not(target_feature = "avx512f")
))]
simd_tiles! {
    kernels:
    6 x 2 pf 0 => tile_6x16 [1 2 3 4 5 6] [1 2];
    4 x 3 pf 0 => tile_4x24 [1 2 3 4] [1 2 3];
    tiles:
    0 => tile_6x16: 6 x 2 pf 0;
    1 => tile_4x24: 4 x 3 pf 0;
    2 => tile_6x16: 6 x 2 pf 0;
}
#[cfg(target_arch = "aarch64")]
simd_tiles! {
    kernels:
    8 x 3 pf 0 => tile_8x12 [1 2 3 4 5 6 7 8] [1 2 3];
    tiles:
    0 => tile_8x12: 8 x 3 pf 0;
}
#[cfg(not(any(
    all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    ),
    all(target_arch = "x86_64", target_feature = "avx", target_feature = "fma"),
    target_arch = "aarch64"
)))]
simd_tiles! {
    kernels:
    4 x 2 pf 0 => tile_4x8 [1 2 3 4] [1 2];
    tiles:
    0 => tile_4x8: 4 x 2 pf 0;
}

/// Every SIMD tile compiled into this build; the first is the default.
pub fn simd_tiles() -> &'static [SimdTile] {
    &SIMD_TILES
}

/// The compiled tile called `name` (`"12x32"`), if any.
pub fn tile_by_name(name: &str) -> Option<&'static SimdTile> {
    SIMD_TILES.iter().find(|t| t.name() == name)
}

/// A rule of the CPU table: CPUs of `vendor` (as cpuid spells it) whose
/// family is in `families` run `tile` where this build has it (a rule
/// naming a tile the build lacks is skipped), or are calibrated (`None`).
pub struct Rule {
    /// `"GenuineIntel"`, `"AuthenticAMD"`.
    pub vendor: &'static str,
    /// cpuid family (base + extended), inclusive.
    pub families: (u32, u32),
    /// The tile's name, or `None`: calibrate.
    pub tile: Option<&'static str>,
    /// The micro-architecture, for `describe()`.
    pub what: &'static str,
}

/// Every family.
const ANY: (u32, u32) = (0, u32::MAX);

/// The CPU table, first match wins. A tile is named only where it was
/// measured fastest (see "Why this tile" in `kernels`); other CPUs are
/// calibrated, which is what confirms or refutes the prediction for them.
pub const RULES: &[Rule] = &[
    // AVX-512 builds.
    Rule {
        vendor: "AuthenticAMD",
        families: (0x1a, 0x1a),
        tile: Some("8x32"),
        what: "Zen 5",
    },
    Rule {
        vendor: "AuthenticAMD",
        families: (0x19, 0x19),
        tile: Some("8x32"),
        what: "Zen 4",
    },
    // AVX2 builds.
    Rule {
        vendor: "AuthenticAMD",
        families: ANY,
        tile: Some("6x16"),
        what: "AMD",
    },
    // Intel, both builds: not measured here; calibrated.
    Rule {
        vendor: "GenuineIntel",
        families: ANY,
        tile: None,
        what: "Intel",
    },
];

/// What the CPU table says for `cpu`: a tile, or `None` (calibrate), and a
/// few words on why.
pub fn tile_for_cpu(cpu: Option<&CpuId>) -> (Option<&'static SimdTile>, String) {
    let Some(cpu) = cpu else {
        return (None, "no cpuid".to_string());
    };
    for r in RULES {
        let (lo, hi) = r.families;
        if cpu.vendor != r.vendor || !(lo..=hi).contains(&cpu.family) {
            continue;
        }
        match r.tile {
            None => return (None, format!("{}, {cpu}", r.what)),
            Some(name) => {
                if let Some(t) = tile_by_name(name) {
                    return (Some(t), format!("CPU table: {}, {cpu}", r.what));
                }
            }
        }
    }
    (None, format!("no CPU rule for {cpu}"))
}

/// The tile that runs, and why.
#[derive(Clone, Debug)]
pub struct TileSelection {
    /// The tile.
    pub tile: &'static SimdTile,
    /// Why: the CPU rule, `FASTNN_TILE`, or the calibration's timings.
    pub reason: String,
}

/// The tile [`KernelChoice::Simd`](super::KernelChoice::Simd) runs: chosen
/// on first use (see the module docs) and cached for the process.
pub fn selected_tile() -> &'static TileSelection {
    static SELECTED: OnceLock<TileSelection> = OnceLock::new();
    SELECTED.get_or_init(|| select(std::env::var("FASTNN_TILE").ok().as_deref()))
}

/// The choice for a `FASTNN_TILE` value (`None`: unset).
fn select(env: Option<&str>) -> TileSelection {
    let by_cpu = || match tile_for_cpu(cpu_id().as_ref()) {
        (Some(tile), reason) => TileSelection { tile, reason },
        (None, why) => calibrated(&why),
    };
    match env.map(str::trim) {
        None | Some("" | "auto") => by_cpu(),
        Some("calibrate") => calibrated("FASTNN_TILE=calibrate"),
        Some(name) => match tile_by_name(name) {
            Some(tile) => TileSelection {
                tile,
                reason: format!("FASTNN_TILE={name}"),
            },
            None => {
                let mut s = by_cpu();
                let names: Vec<String> = SIMD_TILES.iter().map(SimdTile::name).collect();
                s.reason += &format!(
                    "; FASTNN_TILE={name} ignored (compiled: {}, auto, calibrate)",
                    names.join(", ")
                );
                s
            }
        },
    }
}

/// The fastest tile by [`calibrate`] (the first with one tile), `why`
/// prefixed to the timings.
fn calibrated(why: &str) -> TileSelection {
    if SIMD_TILES.len() == 1 {
        return TileSelection {
            tile: &SIMD_TILES[0],
            reason: format!("{why}: the only tile"),
        };
    }
    let timings = calibrate();
    let best = timings
        .iter()
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .map_or(&SIMD_TILES[0], |x| x.0);
    let list: Vec<String> = timings
        .iter()
        .map(|(t, g)| format!("{} {g:.0}", t.name()))
        .collect();
    TileSelection {
        tile: best,
        reason: format!("{why}: calibrated, GFLOP/s {}", list.join(", ")),
    }
}

/// Times every compiled tile on four of the trainer's products (784-128
/// layers: X·W with u8 X at batch 32, Xᵀ·dY with u8 X at batch 32 and, cut
/// to 256 of the 784 rows, at batch 256, and dY·Wᵀ at batch 32) on the
/// calling thread and returns each tile's GFLOP/s over the four: the best
/// of 9 rounds after 3 ms of warm-up, the tiles interleaved within each
/// round so that they see the same interference. About 12 ms on a Zen 5
/// core with the 8 AVX-512 tiles.
pub fn calibrate() -> Vec<(&'static SimdTile, f64)> {
    let (m, k, n, big) = (32, 784, 128, 256);
    let pixels: Vec<u8> = (0..big * k).map(|i| (i * 7 % 251) as u8).collect();
    let rows: Vec<u32> = (0..big as u32).collect();
    let scale = vec![1.0 / 255.0; big];
    // `batch` images of `len` pixels.
    let x = |batch: usize, len: usize| U8Rows {
        pixels: &pixels,
        row_len: len,
        rows: &rows[..batch],
        scale: &scale[..batch],
        period: 1,
        shift: 0.0,
    };
    let w: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01 - 0.06).collect();
    let dy: Vec<f32> = (0..big * n).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
    let mut c = vec![0.0f32; k * n];
    let flops = 2.0 * (m * k * n * 2 + m * n * n + big * big * n) as f64;
    let mut pass = |t: &SimdTile| {
        let start = Instant::now();
        let (seq, none) = (Parallelism::Sequential, || Epilogue::None);
        let w_m = MatRef::row_major(&w, k, n);
        let w_t = MatRef::row_major(&w[..n * n], n, n).t();
        let dy32 = MatRef::row_major(&dy[..m * n], m, n);
        let dy256 = MatRef::row_major(&dy, big, n);
        fn c_of(c: &mut [f32], rows: usize) -> MatMut<'_> {
            MatMut::row_major(&mut c[..rows * 128], rows, 128)
        }
        let c = &mut c[..];
        t.run(ARef::U8(x(m, k)), w_m, 0.0, c_of(c, m), none(), seq);
        t.run(ARef::U8T(x(m, k)), dy32, 0.0, c_of(c, k), none(), seq);
        t.run(
            ARef::U8T(x(big, big)),
            dy256,
            0.0,
            c_of(c, big),
            none(),
            seq,
        );
        t.run(ARef::F32(dy32), w_t, 0.0, c_of(c, m), none(), seq);
        black_box(c);
        start.elapsed().as_secs_f64()
    };
    // Warm up every tile, the buffers and the clock first (a core that
    // was idle runs slower for its first milliseconds).
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 3e-3 {
        for t in &SIMD_TILES {
            pass(t);
        }
    }
    let mut best = vec![f64::INFINITY; SIMD_TILES.len()];
    for _ in 0..9 {
        for (b, t) in best.iter_mut().zip(&SIMD_TILES) {
            *b = b.min(pass(t));
        }
    }
    SIMD_TILES
        .iter()
        .zip(best)
        .map(|(t, s)| (t, flops / s / 1e9))
        .collect()
}

/// The compiled SIMD path and the tile that runs, with why, e.g.
/// `simd: avx512f (f32x16) fma, tile 8x32 of 8x32 12x32 8x48 6x64 (CPU
/// table: Zen 5, AuthenticAMD family 0x1a model 0x2)`, for `--version` and
/// bench reports. Chooses the tile if nothing has yet.
pub fn describe() -> String {
    let sel = selected_tile();
    let all: Vec<String> = simd_tiles().iter().map(|t| t.name()).collect();
    format!(
        "simd: {}, tile {} of {} ({})",
        super::cpu::compiled_path(),
        sel.tile.name(),
        all.join(" "),
        sel.reason
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_the_path_and_the_tile() {
        assert!(describe().starts_with("simd: "));
        assert!(describe().contains(&selected_tile().tile.name()));
    }

    #[test]
    fn every_tile_has_a_name_the_table_finds() {
        for t in simd_tiles() {
            assert_eq!(tile_by_name(&t.name()), Some(t));
        }
        assert!(tile_by_name("3x5").is_none());
    }

    #[test]
    fn env_values_choose_or_fall_back() {
        let first = &simd_tiles()[0];
        let named = select(Some(&first.name()));
        assert_eq!(named.tile, first);
        assert!(named.reason.starts_with("FASTNN_TILE="));
        let bad = select(Some("3x5"));
        assert!(
            bad.reason.contains("FASTNN_TILE=3x5 ignored"),
            "{}",
            bad.reason
        );
        let cal = select(Some("calibrate"));
        assert!(
            cal.reason.starts_with("FASTNN_TILE=calibrate"),
            "{}",
            cal.reason
        );
        assert!(simd_tiles().contains(select(None).tile));
    }

    #[test]
    fn cpu_rules_name_compiled_tiles_or_calibrate() {
        let cpu = |vendor: &str, family| CpuId {
            vendor: vendor.into(),
            family,
            model: 1,
        };
        for c in [
            cpu("AuthenticAMD", 0x1a),
            cpu("AuthenticAMD", 0x19),
            cpu("GenuineIntel", 6),
            cpu("SomeVendor", 1),
        ] {
            let (t, why) = tile_for_cpu(Some(&c));
            assert!(t.is_none_or(|t| simd_tiles().contains(t)), "{why}");
        }
        assert!(tile_for_cpu(Some(&cpu("GenuineIntel", 6))).0.is_none());
        assert!(tile_for_cpu(None).0.is_none());
        for r in RULES {
            assert!(r.families.0 <= r.families.1, "{}", r.what);
        }
    }

    #[test]
    fn calibration_times_every_tile() {
        let t = calibrate();
        assert_eq!(t.len(), simd_tiles().len());
        assert!(t.iter().all(|(_, g)| *g > 0.0));
    }
}

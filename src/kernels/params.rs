//! Every block size of the kernels, per compiled SIMD path.
//!
//! Names follow BLIS: the micro-kernel computes an `MR × NR` tile of C,
//! `NR` being `NV` vectors of `Lane`; `KC` cuts the k loop, `MC` the rows of
//! A packed at once, `NC` the columns of B packed at once (see the loop
//! diagram in `kernels/mod.rs`).
//!
//! Only the k block changes the arithmetic (where a k sum is split and
//! stored to C in between): `KC` for `gemm`, [`k_tree_kc`] of k for
//! `gemm_k_tree`, never the thread count, so results are bitwise identical
//! for any thread count.

/// The lane type, tile and name of the compiled SIMD path.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "fma"
))]
mod path {
    /// One AVX-512 register of f32.
    pub type Lane = wide::f32x16;
    /// Rows of the micro-tile (loop 1 step). 32 zmm registers hold
    /// `MR · NV = 16` accumulators, `NV` B vectors and a broadcast A value;
    /// 8 divides every batch size the trainer uses (32, 128, 256, 784), so
    /// no row tile is ever partial there. A 12×32 tile spilled its accumulators
    /// (see "considered but skipped" in `kernels`).
    pub const MR: usize = 8;
    /// Vectors per micro-tile row (`NR = NV · 16` = 32 columns, loop 2 step).
    pub const NV: usize = 2;
    /// Loop 3 block (rows of A packed at once; see the note in `params`): 8 row panels.
    pub const MC: usize = 64;
    /// Printed by `describe()`.
    pub const NAME: &str = "avx512f (f32x16)";
}

/// The lane type, tile and name of the compiled SIMD path.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx",
    target_feature = "fma",
    not(target_feature = "avx512f")
))]
mod path {
    /// One AVX register of f32.
    pub type Lane = wide::f32x8;
    /// 16 ymm registers: `6 · 2 = 12` accumulators, 2 B vectors, 1 broadcast.
    pub const MR: usize = 6;
    /// `NR = 16` columns.
    pub const NV: usize = 2;
    /// Rows of A packed at once: 12 row panels of 6.
    pub const MC: usize = 72;
    /// Printed by `describe()`.
    pub const NAME: &str = "avx2 (f32x8)";
}

/// The lane type, tile and name of the compiled SIMD path.
#[cfg(target_arch = "aarch64")]
mod path {
    /// One NEON register of f32.
    pub type Lane = wide::f32x4;
    /// 32 NEON registers: `8 · 3 = 24` accumulators, 3 B vectors, 1 broadcast.
    pub const MR: usize = 8;
    /// `NR = 12` columns.
    pub const NV: usize = 3;
    /// Rows of A packed at once: 8 row panels.
    pub const MC: usize = 64;
    /// Printed by `describe()`.
    pub const NAME: &str = "neon (f32x4)";
}

/// The lane type, tile and name of the compiled SIMD path.
#[cfg(not(any(
    all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "fma"
    ),
    all(target_arch = "x86_64", target_feature = "avx", target_feature = "fma"),
    target_arch = "aarch64"
)))]
mod path {
    /// Four f32 (SSE2, or wide's portable emulation).
    pub type Lane = wide::f32x4;
    /// 16 xmm registers: `4 · 2 = 8` accumulators.
    pub const MR: usize = 4;
    /// `NR = 8` columns.
    pub const NV: usize = 2;
    /// Rows of A packed at once: 16 row panels.
    pub const MC: usize = 64;
    /// Printed by `describe()`.
    pub const NAME: &str = "portable (f32x4)";
}

pub use path::{Lane, MC, MR, NAME, NV};

/// Columns of the SIMD micro-tile.
pub const NR: usize = NV * <Lane as super::lanes::Lanes>::N;

/// Rows of the scalar micro-tile: 16 scalar accumulators fit any register
/// file.
pub const SCALAR_MR: usize = 4;
/// Columns of the scalar micro-tile (`NV` of 1-lane "vectors").
pub const SCALAR_NV: usize = 4;

/// Loop 4 (k) block, at most: the depth of one packed A panel and one B
/// micro-panel. The `MR × KC` A micro-panel (8 KiB) stays in the 32 KiB L1
/// while the `KC × NR` B micro-panel (32 KiB at NR = 32, packed or a
/// row-major W read in place) streams from L2 with the hardware prefetcher;
/// the `MC × KC` A block (64 KiB) stays in L2 while loop 2 walks the B
/// panels.
pub const KC: usize = 256;
/// The k block of a split product, at least: below this the C round trips
/// between k blocks (a load, add and store per accumulator) start to show.
pub const KC_MIN: usize = 32;
/// A split product's k is cut into at most this many blocks when it fits
/// (k ≤ `K_BLOCKS · KC`), so that up to this many threads get a block of
/// their own (see [`k_tree_kc`]).
pub const K_BLOCKS: usize = 8;

/// The k block of `gemm_k_tree` with depth `k` (`gemm` uses `KC`):
/// `k / 8` rounded up, kept within `KC_MIN..=KC`. 784 (a 28 × 28 image)
/// gives 8 blocks of 98, which 2, 4 and 8 threads share evenly. Being a
/// function of k alone, it fixes where partial sums are added, so every
/// split of the work gives the same bits. 16 blocks of 49 would let 16
/// threads share the forward product, but cost a measured 5–15% of its
/// one-thread speed (a C round trip and an A repack every 49 steps).
pub const fn k_tree_kc(k: usize) -> usize {
    let kc = k.div_ceil(K_BLOCKS);
    if kc < KC_MIN {
        KC_MIN
    } else if kc > KC {
        KC
    } else {
        kc
    }
}

// Loop 3 (rows of A) block, `MC` (per path, above): rows of A packed at
// once, a multiple of the path's `MR` and of the scalar `SCALAR_MR`. The
// `MC × KC` A block (64 KiB at 64 × 256) sits in the 1 MiB L2 of a Zen 4
// core next to the B panels. It is also the unit of parallel work: 64 rows
// split the trainer's batches (32..784) into 1..13 blocks that two to four
// threads share evenly enough; `gemm/schedule.rs` splits the columns when
// there are fewer row blocks than threads.
const _: () = assert!(MC.is_multiple_of(MR) && MC.is_multiple_of(SCALAR_MR));

/// Loop 5 (columns of B) block: at most this many floats of packed B
/// (`k × nc`) at once, 4 MiB, i.e. the share of L3 one core can count on;
/// every trainer shape packs B (if at all) in one block.
pub const NC_FLOATS: usize = 1 << 20;

/// Below this many multiply-adds (`m · n · k`) a product stays on one thread
/// even with `Parallelism::Tiles`: a fork-join costs a few microseconds,
/// which is about 250k multiply-adds on one core.
pub const PAR_THRESHOLD: usize = 1 << 18;

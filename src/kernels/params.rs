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

/// The shape of a SIMD micro-tile: `MR` rows × `NV` vectors of [`Lane`]
/// (`NR = NV · lanes` columns), and the loop 3 block `MC` (a multiple of
/// `MR`) that goes with it. Every compiled tile of a build computes every
/// element with the same k blocking (`KC`, [`k_tree_kc`]), so the tiles
/// give bitwise identical results; only their speed differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileShape {
    /// Rows of the micro-tile (loop 1 step).
    pub mr: usize,
    /// Vectors per micro-tile row.
    pub nv: usize,
    /// Rows of A packed at once (loop 3 block): `MC × KC` floats stay in L2.
    pub mc: usize,
    /// Software prefetch of the B row this many k steps ahead (0: none).
    pub pf: usize,
    /// Pack a B that could be read in place (unit column stride: W, dY)
    /// when C has more than one row block (`m > mc`): a pass over B buys
    /// contiguous panels that stay in L1 for every row block, instead of
    /// rows 512 bytes apart (a 128-wide W) that only 16 of the 64 L1 sets
    /// can hold.
    pub pack_b: bool,
}

impl TileShape {
    /// Columns of the micro-tile.
    pub const fn nr(self) -> usize {
        self.nv * <Lane as super::lanes::Lanes>::N
    }

    /// `"MRxNR"`, e.g. `"12x32"`, with `"+pf8"` for a prefetch distance
    /// and `"+pb"` for packing a tall product's B (what `FASTNN_TILE`
    /// takes).
    pub fn name(self) -> String {
        let mut s = format!("{}x{}", self.mr, self.nr());
        if self.pf > 0 {
            s += &format!("+pf{}", self.pf);
        }
        if self.pack_b {
            s += "+pb";
        }
        s
    }

    /// A tile of `mr × nv` vectors with loop 3 block `mc`, no prefetch, B
    /// read in place where it can be.
    pub const fn new(mr: usize, nv: usize, mc: usize) -> TileShape {
        TileShape {
            mr,
            nv,
            mc,
            pf: 0,
            pack_b: false,
        }
    }

    /// The same tile with a prefetch distance.
    pub const fn prefetch(self, pf: usize) -> TileShape {
        TileShape { pf, ..self }
    }

    /// The same tile packing a tall product's B.
    pub const fn packing_b(self) -> TileShape {
        TileShape {
            pack_b: true,
            ..self
        }
    }
}

/// The lane type, tiles and name of the compiled SIMD path.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "fma"
))]
mod path {
    use super::TileShape;
    /// One AVX-512 register of f32.
    pub type Lane = wide::f32x16;
    /// The compiled tiles; 32 zmm registers hold `MR · NV` accumulators,
    /// `NV` B vectors and a broadcast A value. Which one runs is chosen
    /// at start-up (`kernels::tiles`; "Why this tile" in `kernels`).
    ///
    /// - 8×32: 16 accumulators, 2 B loads and 8 broadcasts per 16 FMAs;
    ///   8 rows divide every batch size the trainer uses (32, 128, 256,
    ///   784) and 32 columns the hidden width 128: no edge tiles there.
    /// - 12×32: 24 accumulators, 2 + 12 loads per 24 FMAs (BLIS's sgemm
    ///   tile for Skylake-X and Zen 4, `32x12` column-major): each B row
    ///   read from L2 feeds 24 FMAs instead of 16; 32 rows = 12 + 12 + 8.
    /// - 8×48: 24 accumulators, 3 + 8 loads per 24 FMAs (faer's `gemm`
    ///   shape, 48×8 column-major); 128 columns = 48 + 48 + 32.
    /// - `+pf8`: the same tile with a software prefetch of the B row 8 k
    ///   steps ahead, for a W read in place whose rows are 512 bytes
    ///   apart (only 16 of the 64 L1 sets hold it).
    /// - `+pb`: the same tile packing B when C has several row blocks
    ///   ([`TileShape::pack_b`]).
    pub const TILES: &[TileShape] = &[
        TileShape::new(8, 2, 64),
        TileShape::new(12, 2, 72),
        TileShape::new(8, 3, 64),
        TileShape::new(8, 2, 64).prefetch(8),
        TileShape::new(12, 2, 72).prefetch(8),
        TileShape::new(8, 2, 64).packing_b(),
        TileShape::new(12, 2, 72).packing_b(),
        TileShape::new(12, 2, 72).prefetch(8).packing_b(),
    ];
    /// Printed by `describe()`.
    pub const NAME: &str = "avx512f (f32x16)";
}

/// The lane type, tiles and name of the compiled SIMD path.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx",
    target_feature = "fma",
    not(target_feature = "avx512f")
))]
mod path {
    use super::TileShape;
    /// One AVX register of f32.
    pub type Lane = wide::f32x8;
    /// 16 ymm registers: `MR · NV` accumulators, `NV` B vectors, 1
    /// broadcast.
    ///
    /// - 6×16: 12 accumulators, 2 + 6 loads per 12 FMAs (BLIS's Haswell
    ///   and Zen sgemm tile).
    /// - 4×24: 12 accumulators, 3 + 4 loads per 12 FMAs; all 16 registers.
    pub const TILES: &[TileShape] = &[
        TileShape::new(6, 2, 72),
        TileShape::new(4, 3, 64),
        TileShape::new(6, 2, 72).packing_b(),
    ];
    /// Printed by `describe()`.
    pub const NAME: &str = "avx2 (f32x8)";
}

/// The lane type, tiles and name of the compiled SIMD path.
#[cfg(target_arch = "aarch64")]
mod path {
    use super::TileShape;
    /// One NEON register of f32.
    pub type Lane = wide::f32x4;
    /// 32 NEON registers: `8 · 3 = 24` accumulators, 3 B vectors, 1
    /// broadcast; 8 row panels a block.
    pub const TILES: &[TileShape] = &[TileShape::new(8, 3, 64)];
    /// Printed by `describe()`.
    pub const NAME: &str = "neon (f32x4)";
}

/// The lane type, tiles and name of the compiled SIMD path.
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
    use super::TileShape;
    /// Four f32 (SSE2, or wide's portable emulation).
    pub type Lane = wide::f32x4;
    /// 16 xmm registers: `4 · 2 = 8` accumulators; 16 row panels a block.
    pub const TILES: &[TileShape] = &[TileShape::new(4, 2, 64)];
    /// Printed by `describe()`.
    pub const NAME: &str = "portable (f32x4)";
}

pub use path::{Lane, NAME, TILES};

/// Rows of the path's first tile (the default where no CPU rule applies).
pub const MR: usize = TILES[0].mr;
/// Vectors per row of the path's first tile.
pub const NV: usize = TILES[0].nv;
/// Columns of the path's first tile.
pub const NR: usize = TILES[0].nr();
/// Loop 3 block of the path's first tile.
pub const MC: usize = TILES[0].mc;

/// The largest of one measure (0: rows, 1: columns, 2: floats, 3: `MC`)
/// over the compiled tiles.
const fn max_over(what: usize) -> usize {
    let mut m = 0;
    let mut i = 0;
    while i < TILES.len() {
        let t = TILES[i];
        let x = match what {
            0 => t.mr,
            1 => t.nr(),
            2 => t.mr * t.nr(),
            _ => t.mc,
        };
        if x > m {
            m = x;
        }
        i += 1;
    }
    m
}
/// Most rows of any compiled tile.
pub const MR_MAX: usize = max_over(0);
/// Most columns of any compiled tile.
pub const NR_MAX: usize = max_over(1);
/// Most floats of any compiled tile (`MR · NR`).
pub const TILE_MAX: usize = max_over(2);
/// Largest loop 3 block of any compiled tile.
pub const MC_MAX: usize = max_over(3);

/// Rows of the scalar micro-tile: 16 scalar accumulators fit any register
/// file.
pub const SCALAR_MR: usize = 4;
/// Columns of the scalar micro-tile (`NV` of 1-lane "vectors").
pub const SCALAR_NV: usize = 4;

/// Loop 4 (k) block, at most: the depth of one packed A panel and one B
/// micro-panel. The `MR × KC` A micro-panel (8–12 KiB) stays in L1 (32 KiB
/// on Zen 4 and Skylake-SP, 48 KiB on Zen 5 and Ice Lake-SP on) while the
/// `KC × NR` B micro-panel (32 KiB at NR = 32, packed or a row-major W read
/// in place) streams from L2 with the hardware prefetcher; the `MC × KC` A
/// block (64–72 KiB) stays in L2 while loop 2 walks the B panels. The same
/// on every CPU and for every tile: KC decides where a k sum is stored and
/// reloaded, so it is what keeps results identical across tiles and
/// machines.
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

// Loop 3 (rows of A) block, `MC` (per tile, above): rows of A packed at
// once, a multiple of the tile's `MR`. The `MC × KC` A block (64–72 KiB)
// sits in the 1–2 MiB L2 of a Zen 4/5 or Xeon core next to the B panels.
// It is also the unit of parallel work: 64 rows split the trainer's batches
// (32..784) into 1..13 blocks that two to four threads share evenly enough;
// `gemm/schedule.rs` splits the columns when there are fewer row blocks
// than threads. Where MC falls never changes an element's arithmetic.
const _: () = {
    let mut i = 0;
    while i < TILES.len() {
        assert!(TILES[i].mc.is_multiple_of(TILES[i].mr) && TILES[i].mr <= 16);
        i += 1;
    }
};
/// Loop 3 block of the scalar kernel.
pub const SCALAR_MC: usize = 64;
const _: () = assert!(SCALAR_MC.is_multiple_of(SCALAR_MR));

/// Loop 5 (columns of B) block: at most this many floats of packed B
/// (`k × nc`) at once, 4 MiB, i.e. the share of L3 one core can count on;
/// every trainer shape packs B (if at all) in one block.
pub const NC_FLOATS: usize = 1 << 20;

/// Below this many multiply-adds (`m · n · k`) a product stays on one thread
/// even with `Parallelism::Tiles`: a fork-join costs a few microseconds,
/// which is about 250k multiply-adds on one core.
pub const PAR_THRESHOLD: usize = 1 << 18;

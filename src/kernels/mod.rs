//! f32 matrix-multiply kernels for dense layers.
//!
//! One safe entry point, [`gemm`], computes `C = A·B (+ C)` and a fused
//! epilogue for the three products of a dense layer: forward `X·W` (bias +
//! activation), input gradient `dY·Wᵀ` (times the activation derivative) and
//! weight gradient `Xᵀ·dY`. Transposes are stride swaps of [`MatRef`]; the
//! first layer's X is u8 pixels ([`U8Rows`]) converted while packing.
//!
//! # Loops (BLIS order, `gemm/`)
//!
//! ```text
//! loop 5  for j0 in (0..n).step_by(NC)            columns of B and C
//!           pack B[.., j0..j0+NC] into NR-wide panels (all of k)
//!           — skipped for full panels of a unit-stride B (read in place)
//!         units = MC-row blocks × groups of NR panels (disjoint tiles of C;
//!                 rayon runs units in parallel, one packed-A buffer per thread)
//! loop 4    for p0 in (0..k).step_by(KC)          k blocks (split only by gemm_k_tree)
//! loop 3      pack A[i0..i0+MC, p0..p0+KC] into MR-row panels (u8 → f32 here)
//!             — skipped for an f32 A with unit row stride (Hᵀ: read in place)
//! loop 2      for each NR-wide B panel of the unit
//! loop 1        for each MR-row A panel
//!                 micro-kernel: MR×NR tile in registers, k steps of
//!                 MR broadcasts × NV vector FMAs; on the last k block
//!                 + C (beta), + bias, act / × act'(out), store
//! ```
//!
//! Edge tiles run the `R × NV` instantiation that fits (`R ≤ MR` rows,
//! `NV` vectors), so no row is computed twice; a column count that is not a
//! multiple of the lane width, or a C with non-unit column stride, goes
//! through a stack tile and a masked copy.
//!
//! # Why this tile
//!
//! The register tile is chosen at run time among the compiled ones
//! ([`params::TILES`]), once per process ([`tiles`]): by the CPU table
//! ([`tiles::RULES`], cpuid vendor and family) where a tile was measured
//! fastest on that family, else by a calibration that times every tile on
//! four trainer products (about 12 ms). `FASTNN_TILE=12x32` forces a tile,
//! `FASTNN_TILE=calibrate` forces the calibration. [`describe`] (in
//! `fastnn --version` and `fastnn bench`) names the tile and why, and
//! `fastnn bench kernels` times every compiled tile on every shape, so any
//! machine can confirm or refute its choice. The lane type (zmm, ymm) is
//! fixed at compile time by `wide`; only shapes, prefetch and packing vary.
//!
//! Per k step of an AVX-512 tile (a zmm holds 16 floats; "B from L2" is
//! what a W read in place costs when its rows, 512 bytes apart, miss L1):
//!
//! | tile  | accumulators | loads per FMA | B bytes from L2 per FMA |
//! |-------|--------------|---------------|-------------------------|
//! | 8×32  | 16           | 10/16         | 8                       |
//! | 12×32 | 24           | 14/24         | 5.3                     |
//! | 8×48  | 24           | 11/24         | 8                       |
//!
//! - **AMD Zen 5** (cpuid family 0x1a; this project's build machine, whose
//!   two 512-bit FMA pipes give a measured 262 GFLOP/s per core): 8×32.
//!   With 3–4 cycles of FMA latency and two pipes, 16 chains are twice the 8
//!   needed; 24 buy nothing and cost packing (12 rows pack as two
//!   overlapping 8-row transposes) and edge tiles (32 = 12 + 12 + 8). Best
//!   of 31 interleaved rounds, one thread, GFLOP/s: 32×784×128 X·W 241
//!   (12×32: 229, 8×48: 225, 6×64: 192); 256×784×128 X·W 236 (228, 236,
//!   212); 784×32×128 Xᵀ·dY 227 (219, 226, 189); 512³ 254 (254, 256, 255).
//!   Prefetch and packed B cost 0–4% here (see below).
//! - **AMD Zen 4** (0x19; one 512-bit FMA a cycle over two 256-bit pipes):
//!   8×32, the tile tuned there (86–93% of peak): 16 chains are four times
//!   the 4 needed.
//! - **Intel with AVX-512** (Skylake-SP to Sapphire Rapids): calibrated, as
//!   no Intel machine was measured here; expected winner 12×32 (BLIS's
//!   `sgemm_skx_asm_32x12` tile), perhaps with `+pf8` or `+pb`. On paper
//!   (uops.info: two 512-bit FMA ports p0/p5, 4 cycles; two 512-bit loads
//!   a cycle) 8×32 has chains and load slots enough, as on Zen 5, yet it
//!   reached 63–68% of Intel's measured peak against Zen 5's ~90%. What
//!   differs is the memory side: B rows read in place from a 128-wide W or
//!   dY sit 512 bytes apart (16 of the 64 L1 sets), so they stream from L2,
//!   where Intel sustains less bandwidth and follows strided rows less far
//!   ahead. 12 rows cut that stream per FMA by a third (and give 24
//!   chains, 3× the 8 needed, to ride out a late line), `+pf8` prefetches
//!   it, `+pb` packs it into contiguous panels that stay in L1.
//! - **AVX2** (`-C target-cpu=x86-64-v3`, 16 ymm registers): 6×16 (12
//!   accumulators; BLIS's Haswell and Zen tile) on AMD, measured against
//!   4×24 on Zen 5; Intel calibrated between them.
//!
//! Every tile computes each element as the same chain of FMAs over the same
//! k blocks, so results are bitwise identical across tiles (tested), as
//! across thread counts: a calibration can pick differently from run to run
//! without changing a single bit. NEON gets 8×12 (24 of 32 registers), the
//! portable path 4×8, the scalar kernel 4×4. All block sizes live in
//! [`params`].
//!
//! Only the k block changes the arithmetic (where a k sum is stored to C and
//! reloaded). [`gemm`] splits work over disjoint tiles of C and never over
//! k, and no block size depends on the thread count or on the tile, so
//! results are bitwise identical for any number of threads and any tile
//! (KC is the same on every machine, so results also agree across machines
//! with the same lane width).
//!
//! # Splitting by the rows of W (a training step)
//!
//! At batch 32 the forward product X·W has one row block, so splitting its
//! output gives each thread a column stripe of W, while the weight gradient
//! Xᵀ·dY (784 rows) and the update split W by rows: a weight's row then
//! lives in one core's cache in the forward pass and in the other's in the
//! update, and moves twice a step (measured: the update ran 3× slower on two
//! threads than on one). Column stripes for everything are worse still: two
//! cores writing neighbouring 256-byte pieces of every 512-byte row made a
//! plain Adam loop no faster on two threads than on one (the prefetchers
//! pull the neighbour's lines). So a step splits W by rows throughout:
//!
//! - [`gemm_k_tree`] computes X·W with k cut into fixed blocks
//!   ([`params::k_tree_kc`]: 8 blocks of 98 for 784) summed pairwise, each
//!   thread a subtree of blocks, i.e. a range of W's rows; one `m × n`
//!   partial sum per tree level crosses between threads. The tree is the
//!   same on one thread, so the bits never depend on the thread count.
//! - [`Parallelism::RowBlocks`] gives Xᵀ·dY the same row ranges, and
//!   [`Epilogue::Update`] applies the optimizer to each finished block of
//!   the gradient on the thread that computed it.
//!
//! # The baseline
//!
//! `matrixmultiply` 0.3.11 (see [`baseline`]) detects AVX-512 at run time
//! and uses a 16×16 kernel (16 broadcasts and one B load per 16 FMAs) that
//! reaches 80–90% of the FMA peak on the mid-sized products here on Zen 4
//! and Zen 5, so on those the margin is small by necessity;
//! fastnn's gains come from reading W, dY and Hᵀ in place, converting u8
//! while packing (matrixmultiply is handed ready f32), no allocation per
//! call, and the fused epilogue. `fastnn bench kernels` prints the table.
//!
//! # Considered but skipped
//!
//! - **Packing B that is already row-major.** `X·W` and `Xᵀ·dY` read W and
//!   dY in place (`b_rs` = row stride): measured faster than packing on the
//!   forward shapes (best of 41 runs: 32×784×128 103 vs 84 GFLOP/s,
//!   32×128×128 109 vs 92) and even on the rest, because packing W costs a
//!   full pass over it for only 32 rows of X. `Family::direct_b` keeps the
//!   packed route switchable for measuring.
//! - **A reusable `PackedB`.** The only B the trainer's products pack is
//!   `Wᵀ` of `dY·Wᵀ` (and the 10-column edge panel of the output layer),
//!   and W changes after every step, so a packed copy is used exactly once;
//!   the packing itself is a register 8×8 transpose.
//! - **A 12×32 tile written with loops** ran 2.5× slower on every shape:
//!   LLVM kept the 12-row accumulator array on the stack (24 loads and
//!   stores per k step) where it promoted the 8-row one. The micro-kernel
//!   now unrolls rows and vectors with a macro (`unroll!`: constant
//!   indices), and 12×32 runs at 8×32's speed in the kernel itself; what
//!   it still loses on Zen 5 (3–5% on the forward shapes) is packing.
//! - **6×64** (AMD BLIS's small-matrix tile for Zen 4, 24 accumulators,
//!   4 + 6 loads per 24 FMAs): the slowest on Zen 5 on every trainer shape
//!   (32×784×128 X·W 192 against 241 for 8×32, best of 31 rounds), since 6
//!   rows pack through padded 8×8 transposes and 32 rows = 5 · 6 + 2; not
//!   compiled. A 16×16 "narrow" tile for the 10-column output layer ran
//!   slower than 8×16 on Zen 4 (128×32×10: 21 vs 36 GFLOP/s).
//! - **Prefetch and packed B on AMD.** On Zen 5, `+pf8` (prefetch the B
//!   row 8 steps ahead) was within −2%…+1% of 8×32 on every shape, and
//!   `+pb` (pack B when C has several row blocks) cost 0–4% (256×784×128:
//!   215 vs 225 GFLOP/s, median by thread CPU time); packing W even at 32
//!   rows cost 25% (best 178 vs 238). Its hardware prefetchers already
//!   stream the strided rows. Both stay compiled, as candidates for Intel.
//! - **KC per micro-architecture** (BLIS uses 384 on Skylake-X, 480 on
//!   Zen 4): KC decides where a k sum is stored and reloaded, so a KC that
//!   depended on the CPU would make results differ between machines; KC
//!   stays 256 everywhere.
//! - **Other KC.** 128, 256 and 512 measured within noise on the trainer
//!   shapes on Zen 4 (the B micro-panel streams from L2 either way); 256
//!   keeps the C round trips between k blocks rare (784 = 3 · 256 + 16).
//! - **Splitting k across threads for the weight gradient** (whose k is the
//!   batch): its rows already split evenly, and a reduction would add traffic.
//!   (The forward product does split k, over a fixed tree; see above.)
//! - **16 k blocks** for `gemm_k_tree`, so that 16 threads could share the
//!   forward product: a block of 49 cost 5–15% of its one-thread speed (a C
//!   round trip and an A repack every 49 steps); 8 blocks cost about 2%.
//! - **Raw `core::arch` kernels / masked AVX-512 stores.** `wide` reaches
//!   within a few percent of the measured FMA peak on full tiles; only the
//!   narrow 10-column output layer would gain, and it is a small share of a
//!   step.

mod activation;
mod aligned;
#[doc(hidden)]
pub mod baseline;
mod check;
#[doc(hidden)]
pub mod cpu;
#[doc(hidden)]
pub mod eltwise;
mod gemm;
mod lanes;
mod micro;
#[doc(hidden)]
pub mod pack;
#[doc(hidden)]
pub mod params;
#[doc(hidden)]
pub mod reference;
#[doc(hidden)]
pub mod tiles;
mod views;

pub use activation::Activation;
#[doc(hidden)]
pub use aligned::AlignedVec;
use check::check_operands;
pub use cpu::{compiled_features, detected_features, ensure_supported, measure_fma_peak_gflops};
#[doc(hidden)]
pub use eltwise::UpdateRule;
pub(crate) use micro::prefetch;
pub use tiles::describe;
#[doc(hidden)]
pub use tiles::{SimdTile, TileSelection, selected_tile, simd_tiles};
pub use views::{ARef, MatMut, MatRef, U8Rows};

/// What happens to each element of C while it is still in registers, after
/// `C = A·B (+ C)`, or, for [`Epilogue::Update`], while it is still in cache.
#[derive(Debug)]
pub enum Epilogue<'a> {
    /// Nothing.
    None,
    /// `C[i][j] = act(C[i][j] + bias[j])`: a dense layer's forward pass.
    BiasAct {
        /// One per column of C.
        bias: &'a [f32],
        /// Applied after the bias.
        act: Activation,
    },
    /// `C[i][j] *= act'(out[i][j])` where `out` is the layer's activation
    /// output (same shape as C): the input gradient of a dense layer.
    ActGrad {
        /// The activation whose derivative is applied.
        act: Activation,
        /// The activation output, same shape as C.
        out: MatRef<'a>,
    },
    /// A·B is the gradient of a parameter laid out as C: each block of it,
    /// once complete, is applied by the thread that computed it to the same
    /// block of the parameter and its state with the optimizer's rule,
    /// straight from that core's cache; with [`Parallelism::RowBlocks`] the
    /// same core usually owns the same rows of the parameter at every step
    /// (rayon's work stealing makes it likely, not certain). C gives
    /// the layout (unit column stride) and is scratch: its contents after
    /// the call are unspecified (the blocked kernels leave it untouched, the
    /// gradient never leaves the core's cache). Beta must be 0.
    #[doc(hidden)]
    Update(ParamUpdate<'a>),
}

/// A parameter, its optimizer state and the element-wise rule that updates
/// them from a gradient (see [`Epilogue::Update`]).
#[derive(Debug)]
#[doc(hidden)]
pub struct ParamUpdate<'a> {
    /// The optimizer's rule for this step.
    pub rule: UpdateRule,
    /// The parameter, with C's length and layout (element `(i, j)` of C is
    /// its gradient at the same index).
    pub param: &'a mut [f32],
    /// The rule's state buffers, laid out as `param`; only the first
    /// [`UpdateRule::states`] are used (the others may be empty).
    pub state: [&'a mut [f32]; 2],
}

/// Which implementation runs a product. Every one is always compiled; one is
/// picked when a network is built and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum KernelChoice {
    /// The cache-blocked SIMD kernels (the default).
    Simd,
    /// The same blocking with a scalar micro-kernel: the safe fallback.
    Scalar,
    /// The `matrixmultiply` crate (baseline), epilogue applied afterwards.
    #[cfg_attr(feature = "cli", value(name = "matrixmultiply"))]
    MatrixMultiply,
}

impl KernelChoice {
    /// The name `--kernel` uses.
    pub fn name(self) -> &'static str {
        match self {
            KernelChoice::Simd => "simd",
            KernelChoice::Scalar => "scalar",
            KernelChoice::MatrixMultiply => "matrixmultiply",
        }
    }
}

/// How a product shares its work between the threads of the rayon pool it
/// runs in (an engine's, which installs it).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    /// One thread.
    Sequential,
    /// Split disjoint output tiles over the pool's threads. Block sizes
    /// never depend on the thread count, so results are bitwise identical.
    Tiles,
    /// Split C's rows into fixed shares, one rayon task each: the shares
    /// into which [`gemm_k_tree`] cuts the k of a product whose k is C's
    /// row count. A training step computes each weight gradient (C = Xᵀ·dY,
    /// one row per row of W) this way and the forward product X·W with
    /// `gemm_k_tree`, so the task that reads rows of W in the forward pass
    /// is the task that updates them ([`Epilogue::Update`]): they stay in
    /// that core's cache instead of crossing between cores twice a step.
    /// Results are those of `Sequential`, bit for bit.
    RowBlocks,
}

/// `C = A·B + beta·C`, then the epilogue, with `beta` 0 (C is never read)
/// or 1, on the calling thread with fastnn's SIMD kernels: the safe entry
/// point to the products a dense layer needs (`X·W` with u8 or f32 X,
/// transposes as strides, bias and activation or an activation derivative
/// fused), for a program that runs its own layers.
///
/// ```
/// use fastnn::kernels::{ARef, Activation, Epilogue, MatMut, MatRef, gemm};
/// let x = [1.0, 2.0, 3.0, 4.0]; // 2×2
/// let w = [1.0, 0.0, 0.0, -1.0]; // 2×2
/// let mut y = [0.0; 4];
/// let epilogue = Epilogue::BiasAct { bias: &[0.5, 0.5], act: Activation::Relu };
/// gemm(
///     ARef::F32(MatRef::row_major(&x, 2, 2)),
///     MatRef::row_major(&w, 2, 2),
///     0.0,
///     MatMut::row_major(&mut y, 2, 2),
///     epilogue,
/// );
/// assert_eq!(y, [1.5, 0.0, 3.5, 0.0]);
/// ```
///
/// # Panics
/// If the shapes disagree, `beta` is neither 0 nor 1, an epilogue operand
/// has the wrong size, a view (or a u8 row index) reaches outside its data,
/// or C's strides make two elements of C overlap.
pub fn gemm(a: ARef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>, epilogue: Epilogue<'_>) {
    gemm_with(
        KernelChoice::Simd,
        a,
        b,
        beta,
        c,
        epilogue,
        Parallelism::Sequential,
    )
}

/// [`gemm`] with a choice of kernels and of parallelism.
///
/// `Parallelism::Tiles` splits disjoint tiles of C over the rayon pool the
/// call runs in (an engine's); products under
/// [`params::PAR_THRESHOLD`] multiply-adds stay on the calling thread.
/// Results are bitwise identical for every thread count.
/// `KernelChoice::MatrixMultiply` is always single-threaded.
///
/// # Panics
/// If the shapes disagree, `beta` is neither 0 nor 1, an epilogue operand
/// has the wrong size, a view (or a u8 row index) reaches outside its data,
/// or C's strides make two elements of C overlap.
#[doc(hidden)]
pub fn gemm_with(
    choice: KernelChoice,
    a: ARef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
    par: Parallelism,
) {
    check_gemm(&a, &b, beta, &c, &epilogue);
    match choice {
        KernelChoice::Simd => selected_tile().tile.run(a, b, beta, c, epilogue, par),
        KernelChoice::Scalar => {
            gemm::run::<{ params::SCALAR_MR }, f32>(SCALAR_FAMILY, a, b, beta, c, epilogue, par)
        }
        KernelChoice::MatrixMultiply => baseline::gemm(a, b, beta, c, epilogue),
    }
}

/// [`gemm_with`] with [`KernelChoice::Simd`] and a given tile instead of
/// the selected one ([`selected_tile`]): for tests and benchmarks that
/// compare the compiled tiles ([`simd_tiles`]).
///
/// # Panics
/// As [`gemm`].
#[doc(hidden)]
pub fn gemm_tile(
    tile: &SimdTile,
    a: ARef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
    par: Parallelism,
) {
    check_gemm(&a, &b, beta, &c, &epilogue);
    tile.run(a, b, beta, c, epilogue, par)
}

/// The checks every product entry makes before running: beta is 0 or 1,
/// and the operands agree ([`check_operands`]).
fn check_gemm(a: &ARef<'_>, b: &MatRef<'_>, beta: f32, c: &MatMut<'_>, epilogue: &Epilogue<'_>) {
    assert!(beta == 0.0 || beta == 1.0, "gemm: beta must be 0 or 1");
    check_operands(a, b, c, beta, epilogue);
}

/// The scalar micro-kernels (the safe fallback).
const SCALAR_FAMILY: gemm::Family = gemm::Family {
    tile: micro::scalar_tile,
    nv: params::SCALAR_NV,
    mc: params::SCALAR_MC,
    direct_b: true,
    pack_tall_b: false,
};

/// How many floats of `partials` [`gemm_k_tree`] needs for an `m × n`
/// result with depth `k`: one `m × n` slot per k block but the first (one
/// per right subtree of the block tree).
#[doc(hidden)]
pub fn k_tree_partials_len(m: usize, n: usize, k: usize) -> usize {
    let blocks = k.div_ceil(params::k_tree_kc(k)).max(1);
    (blocks - 1) * m * n
}

/// `C = A·B`, then the epilogue, with the depth k cut into fixed blocks
/// ([`params::k_tree_kc`], 8 blocks of 98 for k = 784) summed pairwise: a
/// fixed binary tree over the blocks whose right subtrees go to slots of
/// `partials`. On the current rayon pool every node is a join, so each
/// thread sums a subtree, i.e. reads only its own range of B's rows, and one
/// `m × n` partial crosses between threads per level.
///
/// The tree depends on k alone and is summed the same way on one thread, so
/// the bits never depend on the thread count. They differ from [`gemm`]'s
/// (different k blocks, pairwise rather than running sums): a caller picks
/// one or the other by shape, never by thread count.
///
/// Used for the forward product X·W of a small batch, where C has too few
/// rows to split and each task would otherwise read every row of W; with
/// [`Parallelism::RowBlocks`] for the weight gradient, each thread then
/// touches only its own rows of W in a whole training step.
/// `Parallelism::Sequential` and a product under [`params::PAR_THRESHOLD`]
/// sum the same tree on one thread; `KernelChoice::MatrixMultiply` runs as
/// [`gemm`] (its own order, one thread).
///
/// # Panics
/// As [`gemm`]; also if `partials` is shorter than
/// [`k_tree_partials_len`], or for [`Epilogue::Update`] (an update needs
/// the finished gradient, which only the whole tree gives).
#[doc(hidden)]
pub fn gemm_k_tree(
    choice: KernelChoice,
    a: ARef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
    par: Parallelism,
    partials: &mut [f32],
) {
    k_tree(
        choice,
        selected_tile().tile,
        a,
        b,
        c,
        epilogue,
        par,
        partials,
    )
}

/// [`gemm_k_tree`] with [`KernelChoice::Simd`] and a given tile instead of
/// the selected one (see [`gemm_tile`]).
///
/// # Panics
/// As [`gemm_k_tree`].
#[doc(hidden)]
pub fn gemm_k_tree_tile(
    tile: &SimdTile,
    a: ARef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
    par: Parallelism,
    partials: &mut [f32],
) {
    k_tree(KernelChoice::Simd, tile, a, b, c, epilogue, par, partials)
}

/// [`gemm_k_tree`] with `tile` for `KernelChoice::Simd`.
#[allow(clippy::too_many_arguments)]
fn k_tree(
    choice: KernelChoice,
    tile: &SimdTile,
    a: ARef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    epilogue: Epilogue<'_>,
    par: Parallelism,
    partials: &mut [f32],
) {
    let (m, k) = a.shape();
    let n = b.cols;
    let threads = match par {
        Parallelism::Sequential => 1,
        _ if m.saturating_mul(n).saturating_mul(k) < params::PAR_THRESHOLD => 1,
        _ => rayon::current_num_threads(),
    };
    assert!(
        !matches!(epilogue, Epilogue::Update(_)),
        "gemm_k_tree: an update epilogue is not supported"
    );
    if choice == KernelChoice::MatrixMultiply {
        return gemm_with(choice, a, b, 0.0, c, epilogue, Parallelism::Sequential);
    }
    check_operands(&a, &b, &c, 0.0, &epilogue);
    let need = k_tree_partials_len(m, n, k);
    assert!(
        partials.len() >= need,
        "gemm_k_tree: {} floats of partials for {need}",
        partials.len()
    );
    match choice {
        KernelChoice::Simd => tile.run_k_tree(a, b, c, epilogue, threads, partials),
        KernelChoice::Scalar => gemm::run_k_tree::<{ params::SCALAR_MR }, f32>(
            SCALAR_FAMILY,
            a,
            b,
            c,
            epilogue,
            threads,
            partials,
        ),
        KernelChoice::MatrixMultiply => unreachable!("handled above"),
    }
}

/// Allocates the packing buffer of every thread of the current rayon pool
/// now, and the gradient block of updating products ([`Epilogue::Update`])
/// with up to `widest` columns, so that the products of a training step
/// allocate nothing however the pool schedules them. The trainer calls it
/// when it sizes its workspace; without it a thread's first product grows
/// its buffers once.
#[doc(hidden)]
pub fn prepare_threads(widest: usize) {
    let reserve = || {
        gemm::reserve_a_buffer();
        gemm::reserve_update_buffer(widest);
    };
    reserve();
    rayon::broadcast(|_| reserve());
}

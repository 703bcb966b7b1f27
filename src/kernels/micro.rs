//! The register-blocked micro-kernel: one `R × NV·L` tile of C from a packed
//! A micro-panel and a (packed or row-major) B micro-panel, with the
//! epilogue applied while the tile is still in registers.
//!
//! # Contract (what `gemm/` guarantees)
//!
//! - A step `p` is `R ≤ MR` contiguous floats at `a + p * a_rs`: a packed
//!   panel (`a_rs = MR`) or an A with unit row stride (a transposed view,
//!   `Hᵀ` of a hidden layer's weight gradient) read in place; nothing needs
//!   alignment (loads are unaligned, but packed
//!   buffers are 64-byte aligned so B rows of a packed panel never split a
//!   cache line).
//! - B row `p` of the panel is `NV · L::N` contiguous floats at
//!   `b + p * b_rs`: `b_rs = NR` for a packed panel, the row stride of B when
//!   B is used in place.
//! - C is `R` rows of `NV · L::N` contiguous floats at `c + i * c_rs`; an
//!   edge tile (fewer columns, or C not unit-stride) is given a stack tile
//!   and copied back by the caller ([`masked_copy`]).
//! - `beta == false` ⇒ C is never read (it may hold NaN).
//! - The epilogue runs after the product and the `+ C`, on the last k block
//!   only: `BiasAct` reads `NV · L::N` biases, `ActGrad` an `R × NV·L` tile
//!   of the activation output with row stride `out_rs`.

use super::activation::Activation;
use super::lanes::Lanes;

/// The epilogue of one tile, as raw pointers the caller has checked (or
/// pointed at stack copies, for edge tiles).
#[derive(Clone, Copy)]
pub(crate) enum TileEpi {
    /// Nothing.
    None,
    /// `act(c + bias[j])`; `bias` points at the tile's first column.
    BiasAct {
        /// `NV · L::N` readable floats.
        bias: *const f32,
        /// The activation.
        act: Activation,
    },
    /// `c * act'(out[i][j])`; `out` points at the tile's `(0, 0)`.
    ActGrad {
        /// `R` rows of `NV · L::N` readable floats, `out_rs` apart.
        out: *const f32,
        /// Row stride of `out`.
        out_rs: usize,
        /// The activation.
        act: Activation,
    },
}

/// One micro-tile's operands (see the module contract).
#[derive(Clone, Copy)]
pub(crate) struct Tile {
    /// Depth of this k block (may be 0).
    pub kc: usize,
    /// A micro-panel: packed (`a_rs = MR`) or a unit-row-stride A read in
    /// place (`a_rs` = its column stride).
    pub a: *const f32,
    /// Distance between consecutive k steps of the A micro-panel.
    pub a_rs: usize,
    /// B micro-panel.
    pub b: *const f32,
    /// Row stride of the B micro-panel.
    pub b_rs: usize,
    /// C tile.
    pub c: *mut f32,
    /// Row stride of C.
    pub c_rs: usize,
    /// Whether to add the old C.
    pub beta: bool,
    /// Applied last.
    pub epi: TileEpi,
}

/// `unroll!(N, i => body)` runs `body` with `i = 0, 1, …, N - 1` as
/// straight-line code (`N ≤ 16`, a const generic): each `i < N` is decided
/// at compile time, so every index into the accumulator array is a
/// constant. That is what lets LLVM keep an array of any size in
/// registers: with loops (or closures it did not inline) it kept a 12-row
/// array on the stack, 24 loads and stores per k step (see "considered but
/// skipped" in `kernels`).
macro_rules! unroll {
    ($n:expr, $i:ident => $body:expr) => {
        unroll!(@steps $n, $i, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@steps $n:expr, $i:ident, $body:expr, $($k:literal)*) => {{
        const { assert!($n <= 16, "unroll: at most 16 steps") };
        $(
            if $k < $n {
                let $i: usize = $k;
                $body;
            }
        )*
    }};
}

/// `C[0..R][0..NV·L] = A·B (+ C)`, then the epilogue.
///
/// Each element is one accumulator lane: `acc = fma(a[p], b[p], acc)` for
/// `p` in order from 0, then `acc + C`, so its value depends on the k block
/// only, never on the tile shape `R × NV` (nor on which lane it sits in).
///
/// # Safety
/// The pointers of `t` satisfy the module contract for `R` rows, `NV`
/// vectors and `t.kc` steps.
#[inline(always)]
pub(crate) unsafe fn kernel<L: Lanes, const R: usize, const NV: usize, const PF: usize>(t: &Tile) {
    let mut acc = [[L::splat(0.0); NV]; R];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        if PF > 0 {
            // The B row `PF` steps ahead (a strided W read in place is
            // what the hardware prefetchers may not run far enough ahead
            // on); past the panel's end it is a harmless hint.
            unroll!(NV, v => prefetch(b.wrapping_add(PF * t.b_rs + v * L::N)));
        }
        let mut bv = [L::splat(0.0); NV];
        // SAFETY: row `p` of the B panel holds `NV · N` floats.
        unroll!(NV, v => bv[v] = unsafe { L::load(b.add(v * L::N)) });
        unroll!(R, i => {
            // SAFETY: step `p` of A holds `R` floats at `a`.
            let ai = L::splat(unsafe { *a.add(i) });
            unroll!(NV, v => acc[i][v] = ai.mul_add(bv[v], acc[i][v]));
        });
        // The last step's advance may point past the panel (an in-place A
        // or B ends early); `wrapping_add` keeps that sound, it is never read.
        a = a.wrapping_add(t.a_rs);
        b = b.wrapping_add(t.b_rs);
    }
    // One straight-line store sequence per epilogue variant: the branches
    // are taken once per tile, not once per vector.
    // SAFETY: (all arms) forwarded from the caller; `bias` and `out` hold
    // what the contract says.
    unsafe {
        match t.epi {
            TileEpi::None => finish(&acc, t, |_, _, x| x),
            TileEpi::BiasAct { bias, act } => {
                let mut bb = [L::splat(0.0); NV];
                unroll!(NV, v => bb[v] = L::load(bias.add(v * L::N)));
                match act {
                    Activation::Identity => finish(&acc, t, |_, v, x| x.add(bb[v])),
                    Activation::Relu => {
                        finish(&acc, t, |_, v, x| x.add(bb[v]).act(Activation::Relu))
                    }
                    Activation::Sigmoid => {
                        finish(&acc, t, |_, v, x| x.add(bb[v]).act(Activation::Sigmoid))
                    }
                    Activation::Tanh => {
                        finish(&acc, t, |_, v, x| x.add(bb[v]).act(Activation::Tanh))
                    }
                }
            }
            TileEpi::ActGrad { out, out_rs, act } => {
                let y = |i: usize, v: usize| L::load(out.add(i * out_rs + v * L::N));
                match act {
                    Activation::Identity => finish(&acc, t, |_, _, x| x),
                    Activation::Relu => {
                        finish(&acc, t, |i, v, x| x.mul(y(i, v).act_grad(Activation::Relu)))
                    }
                    Activation::Sigmoid => finish(&acc, t, |i, v, x| {
                        x.mul(y(i, v).act_grad(Activation::Sigmoid))
                    }),
                    Activation::Tanh => {
                        finish(&acc, t, |i, v, x| x.mul(y(i, v).act_grad(Activation::Tanh)))
                    }
                }
            }
        }
    }
}

/// Stores the accumulators to C: `f(i, v, acc (+ C))`, unrolled.
///
/// # Safety
/// C rows `0..R` hold `NV · N` floats at `t.c + i * t.c_rs` (readable when
/// `t.beta`), and `f` reads only what the contract allows.
#[inline(always)]
unsafe fn finish<L: Lanes, const R: usize, const NV: usize>(
    acc: &[[L; NV]; R],
    t: &Tile,
    f: impl Fn(usize, usize, L) -> L,
) {
    let c = |i: usize, v: usize| t.c.wrapping_add(i * t.c_rs + v * L::N);
    if t.beta {
        unroll!(R, i => unroll!(NV, v => {
            let x = acc[i][v];
            // SAFETY: the caller's guarantee.
            unsafe { f(i, v, x.add(L::load(c(i, v)))).store(c(i, v)) };
        }));
    } else {
        unroll!(R, i => unroll!(NV, v => {
            let x = acc[i][v];
            // SAFETY: the caller's guarantee.
            unsafe { f(i, v, x).store(c(i, v)) };
        }));
    }
}

/// A hint to fetch the cache line holding `p` into L1 (nothing off
/// x86-64). Never faults, whatever `p` points at.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint that never faults, for any address;
        // SSE is part of x86-64.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Copies the top-left `rows × cols` of a stack tile (row stride `tile_rs`)
/// to C with arbitrary strides: the masked store of an edge tile.
///
/// # Safety
/// Every `c + i * c_rs + j * c_cs` with `i < rows`, `j < cols` is writable
/// and `tile` holds `rows` initialized rows of `tile_rs ≥ cols` floats.
#[inline]
pub(crate) unsafe fn masked_copy(
    tile: *const f32,
    tile_rs: usize,
    rows: usize,
    cols: usize,
    c: *mut f32,
    c_rs: usize,
    c_cs: usize,
) {
    for i in 0..rows {
        // SAFETY: in range by the caller's guarantee.
        let (src, dst) = unsafe { (tile.add(i * tile_rs), c.add(i * c_rs)) };
        if c_cs == 1 {
            // SAFETY: as above; the stack tile and C do not overlap, and
            // both rows hold `cols` floats.
            let (s, d) = unsafe {
                (
                    std::slice::from_raw_parts(src, cols),
                    std::slice::from_raw_parts_mut(dst, cols),
                )
            };
            super::pack::copy_short(d, s, cols);
        } else {
            for j in 0..cols {
                // SAFETY: as above.
                unsafe { *dst.add(j * c_cs) = *src.add(j) };
            }
        }
    }
}

/// Dispatches a runtime `(rows, nv)` to the matching const instantiation of
/// [`kernel`]: `$name(rows, nv, &tile)` with `rows` in the listed `R`s and
/// `nv` in the listed `NV`s.
macro_rules! tile_dispatch {
    ($name:ident, $lane:ty, [$($r:literal)*], $nvs:tt) => {
        tile_dispatch!($name, $lane, [$($r)*], $nvs, 0);
    };
    ($name:ident, $lane:ty, [$($r:literal)*], $nvs:tt, $pf:literal) => {
        /// Runs the `rows × nv` micro-kernel instantiation.
        ///
        /// # Safety
        /// As `micro::kernel` for `R = rows`, `NV = nv`.
        #[inline(never)]
        pub(crate) unsafe fn $name(rows: usize, nv: usize, t: &$crate::kernels::micro::Tile) {
            match rows {
                $($r => tile_dispatch!(@nv nv, t, $lane, $r, $nvs, $pf),)*
                _ => unreachable!("micro-tile rows {rows}"),
            }
        }
    };
    (@nv $nv:ident, $t:ident, $lane:ty, $r:literal, [$($n:literal)*], $pf:literal) => {
        match $nv {
            // SAFETY: forwarded from the caller of the dispatcher.
            $($n => unsafe { $crate::kernels::micro::kernel::<$lane, $r, $n, $pf>($t) },)*
            _ => unreachable!("micro-tile vectors {}", $nv),
        }
    };
}
pub(crate) use tile_dispatch;

// The SIMD instantiations, one dispatcher per compiled tile, are in `tiles`.
tile_dispatch!(scalar_tile, f32, [1 2 3 4], [1 2 3 4]);

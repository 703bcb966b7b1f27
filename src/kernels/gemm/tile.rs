//! How a micro-tile reaches C: straight into C when it is full-width with
//! unit column stride, else (an edge tile) through stack copies of C, bias
//! and the activation output and a masked copy back. Also the epilogue pass
//! over a finished C (split-k), done in the same vectors as the kernel's.

use std::mem::MaybeUninit;

use super::{Epi, Job};
use crate::kernels::MatMut;
use crate::kernels::lanes::Lanes;
use crate::kernels::micro::{Tile, TileEpi, masked_copy};
use crate::kernels::params;

/// Largest tile of any family, in floats: a SIMD one (the scalar tile is
/// smaller, checked below). Kept tight: edge tiles put three of these on
/// the stack.
const TILE_MAX: usize = params::TILE_MAX;
/// Widest tile row.
const NR_MAX: usize = params::NR_MAX;
const _: () =
    assert!(params::SCALAR_MR * params::SCALAR_NV <= TILE_MAX && params::SCALAR_NV <= NR_MAX);

/// Runs one micro-tile at C's `(i, j)`, `r × w` valid, straight into C when
/// the tile is full-width and unit-stride, else through a stack tile.
///
/// # Safety
/// `t.a`/`t.b` satisfy the micro-kernel contract; `(i, j)` to
/// `(i + r, j + w)` lies inside the checked C.
pub(super) unsafe fn store_tile<L: Lanes>(
    job: &Job<'_, L>,
    mut t: Tile,
    i: usize,
    j: usize,
    r: usize,
    w: usize,
    last: bool,
) {
    let nv = w.div_ceil(L::N);
    let wp = nv * L::N;
    let c = job.c.ptr.wrapping_add(i * job.c.rs + j * job.c.cs);
    let out_direct = match job.epi {
        Epi::ActGrad { out, .. } => out.cs == 1,
        _ => true,
    };
    if w == wp && job.c.cs == 1 && (out_direct || !last) {
        t.c = c;
        t.c_rs = job.c.rs;
        if last {
            t.epi = match job.epi {
                Epi::None | Epi::Update(_) => TileEpi::None,
                Epi::BiasAct { bias, act } => TileEpi::BiasAct {
                    bias: bias[j..j + w].as_ptr(),
                    act,
                },
                Epi::ActGrad { act, out } => TileEpi::ActGrad {
                    out: out.data[i * out.rs + j..].as_ptr(),
                    out_rs: out.rs,
                    act,
                },
            };
        }
        // SAFETY: the caller's guarantee; C rows are `w = NV · N` contiguous
        // floats.
        unsafe { (job.fam.tile)(r, nv, &t) };
        return;
    }
    // Edge tile: stack copies of C (when read), bias and out, initialized
    // only where the kernel reads; the padding columns `w..wp` are zero.
    let mut ctile = [MaybeUninit::<f32>::uninit(); TILE_MAX];
    let mut otile = [MaybeUninit::<f32>::uninit(); TILE_MAX];
    let mut btile = [MaybeUninit::<f32>::uninit(); NR_MAX];
    assert!(r * wp <= TILE_MAX && wp <= NR_MAX);
    let fill = |tile: &mut [MaybeUninit<f32>], at: &dyn Fn(usize, usize) -> f32| {
        for ii in 0..r {
            for jj in 0..wp {
                let x = if jj < w { at(ii, jj) } else { 0.0 };
                tile[ii * wp + jj] = MaybeUninit::new(x);
            }
        }
    };
    if t.beta {
        // SAFETY: inside C by the caller's guarantee.
        fill(&mut ctile, &|ii, jj| unsafe {
            *c.add(ii * job.c.rs + jj * job.c.cs)
        });
    }
    t.c = ctile.as_mut_ptr().cast::<f32>();
    t.c_rs = wp;
    if last {
        t.epi = match job.epi {
            Epi::None | Epi::Update(_) => TileEpi::None,
            Epi::BiasAct { bias, act } => {
                for (jj, x) in btile[..wp].iter_mut().enumerate() {
                    *x = MaybeUninit::new(if jj < w { bias[j + jj] } else { 0.0 });
                }
                TileEpi::BiasAct {
                    bias: btile.as_ptr().cast::<f32>(),
                    act,
                }
            }
            Epi::ActGrad { act, out } => {
                fill(&mut otile, &|ii, jj| out.at(i + ii, j + jj));
                TileEpi::ActGrad {
                    out: otile.as_ptr().cast::<f32>(),
                    out_rs: wp,
                    act,
                }
            }
        };
    }
    // SAFETY: the stack tiles hold `r` rows of `wp` floats, initialized
    // where read: C when beta (filled above), bias and out when used; the
    // kernel writes all of `ctile`'s `r × wp`.
    unsafe { (job.fam.tile)(r, nv, &t) };
    // SAFETY: the kernel initialized `r × wp` of `ctile`; the `r × w` block at
    // `c` lies inside C.
    unsafe { masked_copy(t.c, wp, r, w, c, job.c.rs, job.c.cs) };
}

/// Applies the epilogue to a finished C, in vectors of `L` exactly as the
/// micro-kernel finishes a tile (edge columns through zero-padded stack
/// vectors, as its edge tiles).
pub(super) fn finish_epilogue<L: Lanes>(c: MatMut<'_>, epi: Epi<'_>) {
    if matches!(epi, Epi::None | Epi::Update(_)) {
        return;
    }
    let (m, n) = (c.rows, c.cols);
    let nv = L::N;
    for i in 0..m {
        for j in (0..n).step_by(nv) {
            let w = nv.min(n - j);
            let x = lanes_at::<L>(c.data, i * c.rs + j * c.cs, c.cs, w);
            let x = match epi {
                Epi::None | Epi::Update(_) => x,
                Epi::BiasAct { bias, act } => x.add(lanes_at::<L>(bias, j, 1, w)).act(act),
                Epi::ActGrad { act, out } => {
                    let y = lanes_at::<L>(out.data, i * out.rs + j * out.cs, out.cs, w);
                    x.mul(y.act_grad(act))
                }
            };
            let at = i * c.rs + j * c.cs;
            if w == nv && c.cs == 1 {
                let dst = &mut c.data[at..at + nv];
                // SAFETY: `dst` holds exactly `N` floats.
                unsafe { x.store(dst.as_mut_ptr()) };
                continue;
            }
            let mut tmp = [0.0f32; NR_MAX];
            // SAFETY: `tmp` holds `NR_MAX ≥ N` floats.
            unsafe { x.store(tmp.as_mut_ptr()) };
            for (jj, &t) in tmp[..w].iter().enumerate() {
                c.data[at + jj * c.cs] = t;
            }
        }
    }
}

/// `w ≤ N` floats of `s` from `at`, `stride` apart, zero-padded to a
/// vector (bounds-checked).
#[inline(always)]
fn lanes_at<L: Lanes>(s: &[f32], at: usize, stride: usize, w: usize) -> L {
    if w == L::N && stride == 1 {
        // SAFETY: the slice holds exactly `N` floats.
        return unsafe { L::load(s[at..at + L::N].as_ptr()) };
    }
    let mut tmp = [0.0f32; NR_MAX];
    for (jj, t) in tmp[..w].iter_mut().enumerate() {
        *t = s[at + jj * stride];
    }
    // SAFETY: `tmp` holds `NR_MAX ≥ N` floats.
    unsafe { L::load(tmp.as_ptr()) }
}

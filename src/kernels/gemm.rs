//! The blocked driver: loops NC → (pack B) → units of (MC rows × B panels)
//! → KC → (pack A) → NR → MR → micro-kernel. See the diagram in
//! `kernels/mod.rs`.

use std::cell::RefCell;

use rayon::prelude::*;

use super::micro::{Lanes, Tile, TileEpi, masked_copy};
use super::pack::{pack_a, pack_b};
use super::params::{self, KC, MC, NC_FLOATS, PAR_THRESHOLD};
use super::{ARef, Epilogue, MatMut, MatRef, Parallelism};

/// A growable, 64-byte aligned f32 buffer: packed panels start on a cache
/// line, so no B row of a packed panel straddles two.
#[derive(Default)]
pub(crate) struct AlignedBuf(Vec<wide::f32x16>);

impl AlignedBuf {
    /// The first `len` floats, growing (the only allocation) if needed.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        let blocks = len.div_ceil(16);
        if self.0.len() < blocks {
            self.0.resize(blocks, wide::f32x16::ZERO);
        }
        &mut bytemuck::cast_slice_mut(&mut self.0)[..len]
    }
}

thread_local! {
    /// Packed A block of this thread (`MC × KC`).
    static A_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
    /// Packed B of the caller of `gemm` (`k × NC`).
    static B_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
}

/// Runs `f` on this thread's buffer `key`, grown to `len`; if the buffer is
/// already borrowed (a gemm called from inside a gemm's closure, which
/// fastnn never does), a temporary one is used instead.
fn with_buf<R>(
    key: &'static std::thread::LocalKey<RefCell<AlignedBuf>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(buf.get(len)),
        Err(_) => f(AlignedBuf::default().get(len)),
    })
}

/// A micro-kernel instantiation: `(rows, nv, tile)`.
pub(crate) type TileFn = unsafe fn(usize, usize, &Tile);

/// One compiled kernel family: the tile function and its tile shape.
#[derive(Clone, Copy)]
pub(crate) struct Family {
    /// Dispatches `(rows ≤ MR, nv ≤ NV)` to a micro-kernel.
    pub tile: TileFn,
    /// Vectors per tile row.
    pub nv: usize,
    /// Whether B with unit column stride is read in place instead of packed.
    pub direct_b: bool,
}

/// C as a raw pointer that worker threads share; every unit writes a
/// disjoint set of elements.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
}
// SAFETY: units write pairwise disjoint tiles of C (gemm checked that C's
// strides map distinct (i, j) to distinct elements), and the `&mut` C
// outlives the parallel loop.
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

/// Where the B micro-panels of one NC block live.
#[derive(Clone, Copy)]
struct BPanels<'a> {
    /// B itself (for panels read in place).
    b: MatRef<'a>,
    /// Packed panels: panel `q` of the block at `q * k * NR`.
    packed: &'a [f32],
    /// Whether full-width panels are read in place.
    direct: bool,
}

/// Everything a unit needs, shared by all units of a call.
#[derive(Clone, Copy)]
struct Job<'a, L> {
    fam: Family,
    a: ARef<'a>,
    m: usize,
    n: usize,
    k: usize,
    beta: bool,
    c: CPtr,
    epi: Epilogue<'a>,
    _lane: std::marker::PhantomData<fn() -> L>,
}

/// The blocked product for one kernel family (`MR` rows, lane type `L`);
/// shapes and strides were checked by the public `gemm`.
pub(crate) fn run<const MR: usize, L: Lanes>(
    fam: Family,
    a: ARef<'_>,
    b: MatRef<'_>,
    beta: f32,
    c: MatMut<'_>,
    epi: Epilogue<'_>,
    par: Parallelism,
) {
    let (m, k) = a.shape();
    let n = b.cols;
    if m == 0 || n == 0 {
        return;
    }
    let nr = fam.nv * L::N;
    let job = Job::<L> {
        fam,
        a,
        m,
        n,
        k,
        beta: beta != 0.0,
        c: CPtr {
            ptr: c.data.as_mut_ptr(),
            rs: c.rs,
            cs: c.cs,
        },
        epi,
        _lane: std::marker::PhantomData,
    };
    let threads = match par {
        Parallelism::Rayon if m * n * k >= PAR_THRESHOLD => rayon::current_num_threads(),
        _ => 1,
    };
    let direct = fam.direct_b && b.cs == 1;
    // Loop 5: NC columns of B at a time (all of B for trainer shapes).
    let nc = (NC_FLOATS / k.max(1) / nr).max(1) * nr;
    for j0 in (0..n).step_by(nc) {
        let cols = nc.min(n - j0);
        let panels = cols.div_ceil(nr);
        // Pack the B panels that are not read in place: all of them, or
        // only a partial last one.
        let packed_len = if direct { k * nr } else { panels * k * nr };
        with_buf(&B_BUF, packed_len, |packed| {
            for q in 0..panels {
                let w = nr.min(cols - q * nr);
                if direct && w == nr {
                    continue;
                }
                let off = if direct { 0 } else { q * k * nr };
                let wp = w.div_ceil(L::N) * L::N;
                pack_b(&b, 0, k, j0 + q * nr, w, wp, &mut packed[off..]);
            }
            let bp = BPanels { b, packed, direct };
            // Units: MC-row blocks × groups of B panels, disjoint in C.
            let row_blocks = m.div_ceil(MC);
            // Only enough column groups to give each thread a unit: each
            // group repacks its rows of A.
            let groups = if threads > 1 {
                threads.div_ceil(row_blocks).clamp(1, panels)
            } else {
                1
            };
            let per_group = panels.div_ceil(groups);
            let units = row_blocks * panels.div_ceil(per_group);
            let unit = |u: usize| {
                let (rb, g) = (u % row_blocks, u / row_blocks);
                let q1 = ((g + 1) * per_group).min(panels);
                run_unit::<MR, L>(&job, &bp, rb * MC, j0, g * per_group..q1);
            };
            if threads > 1 && units > 1 {
                (0..units).into_par_iter().for_each(unit);
            } else {
                (0..units).for_each(unit);
            }
        });
    }
}

/// One unit: rows `i0..i0 + MC` of C against B panels `qs` of the NC block
/// starting at column `j0`, over all k blocks.
fn run_unit<const MR: usize, L: Lanes>(
    job: &Job<'_, L>,
    bp: &BPanels<'_>,
    i0: usize,
    j0: usize,
    qs: std::ops::Range<usize>,
) {
    let rows = MC.min(job.m - i0);
    let nr = job.fam.nv * L::N;
    let k = job.k;
    with_buf(&A_BUF, rows.div_ceil(MR) * MR * KC.min(k), |abuf| {
        // Loop 4: k blocks; an empty k still runs once for beta and the
        // epilogue.
        let mut p0 = 0;
        loop {
            let kc = KC.min(k - p0);
            let last = p0 + kc == k;
            pack_a::<MR>(&job.a, i0, rows, p0, kc, abuf);
            // Loop 2: B panels (NR columns).
            for q in qs.clone() {
                let jc = j0 + q * nr;
                let w = nr.min(job.n - jc);
                let (b, b_rs) = if bp.direct && w == nr {
                    // In bounds: gemm checked B's extent, `p0 < k`,
                    // `jc + w ≤ n`.
                    (bp.b.data.as_ptr().wrapping_add(p0 * bp.b.rs + jc), bp.b.rs)
                } else {
                    let off = if bp.direct { 0 } else { q * k * nr };
                    let wp = w.div_ceil(L::N) * L::N;
                    (bp.packed.as_ptr().wrapping_add(off + p0 * wp), wp)
                };
                // Loop 1: A micro-panels (MR rows).
                for ip in 0..rows.div_ceil(MR) {
                    let r = MR.min(rows - ip * MR);
                    let t = Tile {
                        kc,
                        a: abuf.as_ptr().wrapping_add(ip * MR * kc),
                        b,
                        b_rs,
                        c: std::ptr::null_mut(),
                        c_rs: 0,
                        beta: job.beta || p0 > 0,
                        epi: TileEpi::None,
                    };
                    // SAFETY: the tile lies inside C, the A panel holds
                    // `MR · kc` floats, the B panel `kc` rows of `w` (packed:
                    // padded to `wp`) floats.
                    unsafe { store_tile::<L>(job, t, i0 + ip * MR, jc, r, w, last) };
                }
            }
            p0 += kc;
            if last {
                break;
            }
        }
    });
}

/// Largest tile of any family, in floats: the SIMD one (the scalar tile is
/// smaller, checked below). Kept tight: edge tiles zero these on the stack.
const TILE_MAX: usize = params::MR * params::NR;
/// Widest tile row.
const NR_MAX: usize = params::NR;
const _: () =
    assert!(params::SCALAR_MR * params::SCALAR_NV <= TILE_MAX && params::SCALAR_NV <= NR_MAX);

/// Runs one micro-tile at C's `(i, j)`, `r × w` valid, straight into C when
/// the tile is full-width and unit-stride, else through a stack tile.
///
/// # Safety
/// `t.a`/`t.b` satisfy the micro-kernel contract; `(i, j)` to
/// `(i + r, j + w)` lies inside the checked C.
unsafe fn store_tile<L: Lanes>(
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
        Epilogue::ActGrad { out, .. } => out.cs == 1,
        _ => true,
    };
    if w == wp && job.c.cs == 1 && (out_direct || !last) {
        t.c = c;
        t.c_rs = job.c.rs;
        if last {
            t.epi = match job.epi {
                Epilogue::None => TileEpi::None,
                Epilogue::BiasAct { bias, act } => TileEpi::BiasAct {
                    bias: bias[j..j + w].as_ptr(),
                    act,
                },
                Epilogue::ActGrad { act, out } => TileEpi::ActGrad {
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
    // Edge tile: stack copies of C (when read), bias and out.
    let mut ctile = [0.0f32; TILE_MAX];
    let mut otile = [0.0f32; TILE_MAX];
    let mut btile = [0.0f32; NR_MAX];
    debug_assert!(r * wp <= TILE_MAX && wp <= NR_MAX);
    if t.beta {
        for ii in 0..r {
            for jj in 0..w {
                // SAFETY: inside C by the caller's guarantee.
                ctile[ii * wp + jj] = unsafe { *c.add(ii * job.c.rs + jj * job.c.cs) };
            }
        }
    }
    t.c = ctile.as_mut_ptr();
    t.c_rs = wp;
    if last {
        t.epi = match job.epi {
            Epilogue::None => TileEpi::None,
            Epilogue::BiasAct { bias, act } => {
                btile[..w].copy_from_slice(&bias[j..j + w]);
                TileEpi::BiasAct {
                    bias: btile.as_ptr(),
                    act,
                }
            }
            Epilogue::ActGrad { act, out } => {
                for ii in 0..r {
                    for jj in 0..w {
                        otile[ii * wp + jj] = out.at(i + ii, j + jj);
                    }
                }
                TileEpi::ActGrad {
                    out: otile.as_ptr(),
                    out_rs: wp,
                    act,
                }
            }
        };
    }
    // SAFETY: the stack tiles hold `r ≤ MR` rows of `wp ≤ NR` floats.
    unsafe { (job.fam.tile)(r, nv, &t) };
    // SAFETY: the `r × w` block at `c` lies inside C.
    unsafe { masked_copy(&ctile, wp, r, w, c, job.c.rs, job.c.cs) };
}

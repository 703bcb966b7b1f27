//! The blocked driver: loops NC → (pack B) → units of (MC rows × B panels)
//! → KC → (pack A) → NR → MR → micro-kernel. See the diagram in
//! `kernels/mod.rs`.
//!
//! This file owns the entry [`run`], the values every part shares
//! ([`Family`], [`Job`], C as a [`CPtr`], the epilogue as an [`Epi`]) and
//! the loops themselves: loop 5 in [`for_each_nc_block`], loops 4 to 1 of
//! one unit in [`unit_product`]. The parts beside it:
//!
//! - `schedule`: which thread runs which unit (a disjoint block of C);
//! - `update`: units whose epilogue is the optimizer's update;
//! - `k_tree`: `gemm_k_tree`'s fixed tree of k blocks;
//! - `tile`: how a micro-tile reaches C (edge tiles through the stack);
//! - `buffers`: the thread-local scratch (packed A and B, gradient blocks).

mod buffers;
mod k_tree;
mod schedule;
#[cfg(test)]
mod tests;
mod tile;
mod update;

use super::lanes::Lanes;
use super::micro::{Tile, TileEpi};
use super::pack::{pack_a, pack_b};
use super::params::{KC, NC_FLOATS, PAR_THRESHOLD};
use super::{ARef, Activation, Epilogue, MatMut, MatRef, Parallelism};
use buffers::{A_BUF, A_LEN, B_BUF, with_buf};
use schedule::{Block, Schedule, run_units};
use tile::store_tile;
use update::UpdatePtrs;

pub(crate) use buffers::{reserve_a_buffer, reserve_update_buffer};
pub(crate) use k_tree::run_k_tree;

/// A micro-kernel instantiation: `(rows, nv, tile)`.
pub(crate) type TileFn = unsafe fn(usize, usize, &Tile);

/// One compiled kernel family: the tile function and its tile shape (`MR`
/// is the const generic of [`run`]).
#[derive(Clone, Copy)]
pub(crate) struct Family {
    /// Dispatches `(rows ≤ MR, nv ≤ NV)` to a micro-kernel.
    pub tile: TileFn,
    /// Vectors per tile row.
    pub nv: usize,
    /// Rows of A packed at once (loop 3 block), a multiple of `MR`.
    pub mc: usize,
    /// Whether B with unit column stride is read in place instead of packed.
    pub direct_b: bool,
    /// Whether such a B is packed anyway when C has more than one row
    /// block (`m > mc`), so that every row block reads the packed panels
    /// from L1 instead of rows 512 bytes apart (see [`TileShape::pack_b`]).
    ///
    /// [`TileShape::pack_b`]: super::params::TileShape::pack_b
    pub pack_tall_b: bool,
}

/// C as a raw pointer that worker threads share; every unit writes a
/// disjoint set of elements.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
}
impl CPtr {
    /// The same matrix `off` elements further on (a later partial slot).
    fn offset(self, off: usize) -> CPtr {
        CPtr {
            ptr: self.ptr.wrapping_add(off),
            ..self
        }
    }
}

// SAFETY: units write pairwise disjoint tiles of C (gemm checked that C's
// strides map distinct (i, j) to distinct elements), and the `&mut` C
// outlives the parallel loop.
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

/// An [`Epilogue`] as the units share it: borrowed operands, or the raw
/// pointers of an update.
#[derive(Clone, Copy)]
enum Epi<'a> {
    None,
    BiasAct { bias: &'a [f32], act: Activation },
    ActGrad { act: Activation, out: MatRef<'a> },
    Update(UpdatePtrs),
}

impl<'a> From<Epilogue<'a>> for Epi<'a> {
    fn from(e: Epilogue<'a>) -> Epi<'a> {
        match e {
            Epilogue::None => Epi::None,
            Epilogue::BiasAct { bias, act } => Epi::BiasAct { bias, act },
            Epilogue::ActGrad { act, out } => Epi::ActGrad { act, out },
            Epilogue::Update(u) => Epi::Update(UpdatePtrs::from(u)),
        }
    }
}

/// Where the B micro-panels of one NC block live.
#[derive(Clone, Copy)]
struct BPanels<'a> {
    /// B itself (for panels read in place).
    b: MatRef<'a>,
    /// Packed panels of rows `k0..k0 + depth` of B: panel `q` of the block
    /// at `q * depth * NR`, its row `p` at `(p - k0) * NR`.
    packed: &'a [f32],
    k0: usize,
    depth: usize,
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
    /// The k range this job sums (all of k but for a split-k share), and
    /// the product's k block (`KC`, or [`params::k_tree_kc`] of the whole k
    /// for a product that may be split by k).
    ///
    /// [`params::k_tree_kc`]: super::params::k_tree_kc
    k0: usize,
    k1: usize,
    kc: usize,
    beta: bool,
    c: CPtr,
    epi: Epi<'a>,
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
    let job = Job::<L> {
        fam,
        a,
        m,
        n,
        k0: 0,
        k1: k,
        kc: KC,
        beta: beta != 0.0,
        c: CPtr {
            ptr: c.data.as_mut_ptr(),
            rs: c.rs,
            cs: c.cs,
        },
        epi: Epi::from(epi),
        _lane: std::marker::PhantomData,
    };
    let threads = if par != Parallelism::Sequential && m * n * k >= PAR_THRESHOLD {
        rayon::current_num_threads()
    } else {
        1
    };
    let schedule = match par {
        _ if threads <= 1 => Schedule::Sequential,
        Parallelism::RowBlocks => Schedule::RowShares(threads),
        _ => Schedule::Tiles(threads),
    };
    drive::<MR, L>(&job, b, schedule);
}

/// Loops 5 and below of `job` against `b`, its units shared out by
/// `schedule`.
fn drive<const MR: usize, L: Lanes>(job: &Job<'_, L>, b: MatRef<'_>, schedule: Schedule) {
    let nr = job.fam.nv * L::N;
    for_each_nc_block(job, b, |bp, j0, cols| {
        run_units::<MR, L>(job, bp, j0, cols.div_ceil(nr), schedule)
    });
}

/// Loop 5: for each block of NC columns of B (all of B for trainer shapes),
/// packs what is not read in place of rows `job.k0..job.k1` on the calling
/// thread and calls `f(panels, j0, panel count)`.
fn for_each_nc_block<L: Lanes>(
    job: &Job<'_, L>,
    b: MatRef<'_>,
    f: impl Fn(&BPanels<'_>, usize, usize),
) {
    // `f(panels, j0, cols)`.
    let depth = job.k1 - job.k0;
    let nr = job.fam.nv * L::N;
    let tall = job.fam.pack_tall_b && job.m > job.fam.mc;
    let direct = job.fam.direct_b && b.cs == 1 && !tall;
    let nc = (NC_FLOATS / depth.max(1) / nr).max(1) * nr;
    for j0 in (0..job.n).step_by(nc) {
        let cols = nc.min(job.n - j0);
        let panels = cols.div_ceil(nr);
        // Pack the B panels that are not read in place: all of them, or
        // only a partial last one (no buffer at all without one).
        let packed_len = match direct {
            true if cols.is_multiple_of(nr) => 0,
            true => depth * nr,
            false => panels * depth * nr,
        };
        with_buf(&B_BUF, packed_len, |packed| {
            for q in 0..panels {
                let w = nr.min(cols - q * nr);
                if direct && w == nr {
                    continue;
                }
                let off = if direct { 0 } else { q * depth * nr };
                let wp = w.div_ceil(L::N) * L::N;
                pack_b(&b, job.k0, depth, j0 + q * nr, w, wp, &mut packed[off..]);
            }
            let bp = BPanels {
                b,
                packed,
                k0: job.k0,
                depth,
                direct,
            };
            f(&bp, j0, cols);
        });
    }
}

/// One unit: its block of C over the job's k range.
fn run_unit<const MR: usize, L: Lanes>(job: &Job<'_, L>, bp: &BPanels<'_>, block: Block) {
    let Epi::Update(u) = job.epi else {
        return unit_product::<MR, L>(job, bp, block);
    };
    update::run_updating_unit::<MR, L>(job, bp, block, u);
}

/// The product part of a unit: its block of C over the job's k range,
/// stored to the job's C.
fn unit_product<const MR: usize, L: Lanes>(job: &Job<'_, L>, bp: &BPanels<'_>, block: Block) {
    let Block { i0, i1, j0, qs } = block;
    let rows = i1 - i0;
    let nr = job.fam.nv * L::N;
    // Always the largest MC × KC of any family, so a thread's buffer grows
    // once, on its first unit, whatever shapes and tiles follow.
    debug_assert!(rows <= job.fam.mc && job.fam.mc * KC <= A_LEN);
    with_buf(&A_BUF, A_LEN, |abuf| {
        // Loop 4: k blocks; an empty k still runs once for beta and the
        // epilogue.
        let mut p0 = job.k0;
        loop {
            let kc = job.kc.min(job.k1 - p0);
            let last = p0 + kc == job.k1;
            // An f32 A with unit row stride (Hᵀ) is already k-major:
            // the kernel reads it in place.
            let a_direct = match job.a {
                ARef::F32(m) if m.rs == 1 => Some(m),
                _ => None,
            };
            if a_direct.is_none() {
                pack_a::<MR>(&job.a, i0, rows, p0, kc, abuf);
            }
            // Loop 2: B panels (NR columns).
            for q in qs.clone() {
                let jc = j0 + q * nr;
                let w = nr.min(job.n - jc);
                let (b, b_rs) = if bp.direct && w == nr {
                    // In bounds: gemm checked B's extent, `p0 < k`,
                    // `jc + w ≤ n`.
                    (bp.b.data.as_ptr().wrapping_add(p0 * bp.b.rs + jc), bp.b.rs)
                } else {
                    let off = if bp.direct { 0 } else { q * bp.depth * nr };
                    let wp = w.div_ceil(L::N) * L::N;
                    (bp.packed.as_ptr().wrapping_add(off + (p0 - bp.k0) * wp), wp)
                };
                // Loop 1: A micro-panels (MR rows).
                for ip in 0..rows.div_ceil(MR) {
                    let r = MR.min(rows - ip * MR);
                    let t = Tile {
                        kc,
                        a: match a_direct {
                            // In bounds: gemm checked A's extent.
                            Some(m) => m.data.as_ptr().wrapping_add(i0 + ip * MR + p0 * m.cs),
                            None => abuf.as_ptr().wrapping_add(ip * MR * kc),
                        },
                        a_rs: a_direct.map_or(MR, |m| m.cs),
                        b,
                        b_rs,
                        c: std::ptr::null_mut(),
                        c_rs: 0,
                        beta: job.beta || p0 > job.k0,
                        epi: TileEpi::None,
                    };
                    // SAFETY: the tile lies inside C; A has `kc` steps of
                    // `r` floats `a_rs` apart (packed, or in place inside
                    // the checked A); B has `kc` rows of `w` floats (packed:
                    // padded to `wp`), `b_rs` apart.
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

//! The blocked driver: loops NC → (pack B) → units of (MC rows × B panels)
//! → KC → (pack A) → NR → MR → micro-kernel. See the diagram in
//! `kernels/mod.rs`.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::micro::{Lanes, Tile, TileEpi, masked_copy};
use super::pack::{pack_a, pack_b};
use super::params::{self, KC, MC, NC_FLOATS, PAR_THRESHOLD};
use super::{ARef, Activation, Epilogue, MatMut, MatRef, Parallelism, UpdateRule};

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
    /// The gradient block of an updating unit (`MC` rows × its columns).
    static G_BUF: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::default());
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

/// Allocates this thread's packed-A buffer at the largest size any kernel
/// family asks for (`MC` rounded up to a tile, times `KC`), so that no later
/// product on this thread allocates.
pub(crate) fn reserve_a_buffer() {
    with_buf(&A_BUF, (MC + 16) * KC, |_| ());
}

/// Allocates this thread's gradient block for updating products with up
/// to `cols` columns, so that no later one on this thread allocates.
pub(crate) fn reserve_update_buffer(cols: usize) {
    with_buf(&G_BUF, MC * cols, |_| ());
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
pub(crate) enum Epi<'a> {
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
            Epilogue::Update(u) => {
                let [s0, s1] = u.state;
                Epi::Update(UpdatePtrs {
                    rule: u.rule,
                    param: u.param.as_mut_ptr(),
                    s0: s0.as_mut_ptr(),
                    s1: s1.as_mut_ptr(),
                })
            }
        }
    }
}

/// A [`super::ParamUpdate`] as raw pointers that the units share.
#[derive(Clone, Copy)]
pub(crate) struct UpdatePtrs {
    rule: UpdateRule,
    param: *mut f32,
    s0: *mut f32,
    s1: *mut f32,
}
// SAFETY: each unit updates only the elements of its own block of C (the
// parameter and state are laid out as C, checked by gemm), so no two threads
// touch the same element, and the `&mut` borrows outlive the parallel loop.
unsafe impl Send for UpdatePtrs {}
// SAFETY: as above.
unsafe impl Sync for UpdatePtrs {}

impl UpdatePtrs {
    /// Applies the rule to the `len` elements at `off`, whose gradient is
    /// the `len` floats at `grad`.
    ///
    /// # Safety
    /// `off..off + len` lies inside C's data (and so inside the parameter
    /// and the used states), `grad` holds `len` final floats, and no other
    /// thread touches those elements during the call.
    pub(crate) unsafe fn apply(&self, grad: *const f32, off: usize, len: usize) {
        let states = self.rule.states();
        // SAFETY: the caller's guarantee; an unused state is never
        // dereferenced (an empty slice stands in for it).
        unsafe {
            let part = |p: *mut f32, used: bool| {
                if used {
                    std::slice::from_raw_parts_mut(p.add(off), len)
                } else {
                    &mut []
                }
            };
            self.rule.apply(
                part(self.param, true),
                std::slice::from_raw_parts(grad, len),
                part(self.s0, states >= 1),
                part(self.s1, states >= 2),
            );
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
    /// the product's k block (`KC`, or [`params::split_kc`] of the whole k
    /// for a product that may be split by k).
    k0: usize,
    k1: usize,
    kc: usize,
    beta: bool,
    c: CPtr,
    epi: Epi<'a>,
    _lane: std::marker::PhantomData<fn() -> L>,
}

/// How the units of a job are shared out.
#[derive(Clone, Copy)]
enum Schedule {
    /// All on the calling thread.
    Sequential,
    /// Dynamically over this many threads, by tiles of C.
    Tiles(usize),
    /// By row blocks of C that are the k blocks of `gemm_split_k` on a
    /// matrix with C's rows, over this many threads.
    RowShares(usize),
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
        Parallelism::SplitRows => Schedule::RowShares(threads),
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
    let direct = job.fam.direct_b && b.cs == 1;
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

/// The units of one NC block (columns from `j0`, `panels` B panels):
/// row blocks of at most MC × groups of B panels, disjoint in C, shared
/// out by `schedule`.
fn run_units<const MR: usize, L: Lanes>(
    job: &Job<'_, L>,
    bp: &BPanels<'_>,
    j0: usize,
    panels: usize,
    schedule: Schedule,
) {
    let m = job.m;
    let unit = |i0: usize, i1: usize, qs: std::ops::Range<usize>| {
        for i in (i0..i1).step_by(MC) {
            let block = Block {
                i0: i,
                i1: (i + MC).min(i1),
                j0,
                qs: qs.clone(),
            };
            run_unit::<MR, L>(job, bp, block);
        }
    };
    match schedule {
        Schedule::Sequential => unit(0, m, 0..panels),
        Schedule::Tiles(threads) => {
            // Only enough column groups to give each thread a unit: each
            // group repacks its rows of A.
            let row_blocks = m.div_ceil(MC);
            let groups = threads.div_ceil(row_blocks).clamp(1, panels);
            let per_group = panels.div_ceil(groups);
            let units = row_blocks * panels.div_ceil(per_group);
            (0..units).into_par_iter().for_each(|u| {
                let (rb, g) = (u % row_blocks, u / row_blocks);
                let q1 = ((g + 1) * per_group).min(panels);
                unit(rb * MC, ((rb + 1) * MC).min(m), g * per_group..q1);
            });
        }
        Schedule::RowShares(threads) => {
            // The row blocks of C are the k blocks of a product whose k is
            // C's row count (a weight matrix's rows), one task each: rayon
            // hands a thread the same contiguous run of them that
            // `gemm_split_k` gives it of that matrix, and a thread that runs
            // out of work steals whole blocks. With more threads than
            // blocks, even shares of MR-row groups instead.
            let kb = params::split_kc(m);
            let blocks = m.div_ceil(kb);
            if threads <= blocks {
                (0..blocks)
                    .into_par_iter()
                    .with_max_len(1)
                    .for_each(|blk| unit(blk * kb, ((blk + 1) * kb).min(m), 0..panels));
            } else {
                let groups = m.div_ceil(MR);
                let shares = threads.min(groups);
                (0..shares).into_par_iter().with_max_len(1).for_each(|s| {
                    let (r0, r1) = (s * groups / shares * MR, (s + 1) * groups / shares * MR);
                    unit(r0.min(m), r1.min(m), 0..panels);
                });
            }
        }
    }
}

/// A unit's block of C: rows `i0..i1` (at most `MC`) against B panels `qs`
/// of the NC block starting at column `j0`.
#[derive(Clone)]
struct Block {
    i0: usize,
    i1: usize,
    j0: usize,
    qs: std::ops::Range<usize>,
}

/// One unit: its block of C over the job's k range.
fn run_unit<const MR: usize, L: Lanes>(job: &Job<'_, L>, bp: &BPanels<'_>, block: Block) {
    let Epi::Update(u) = job.epi else {
        return unit_product::<MR, L>(job, bp, block);
    };
    let Block { i0, i1, j0, .. } = block;
    let qs = block.qs.clone();
    // An updating unit computes its block of the gradient into this
    // thread's G_BUF (C is not written: one pass less over a gradient as big
    // as the weights, and a smaller footprint in this core's cache), then
    // updates the same block of the parameter from it.
    let nr = job.fam.nv * L::N;
    let c0 = j0 + qs.start * nr;
    let w = (j0 + qs.end * nr).min(job.n) - c0;
    let rows = i1 - i0;
    with_buf(&G_BUF, rows * w, |g| {
        // Element (i, j) of C goes to `g[(i - i0) * w + (j - c0)]`.
        let scratch = Job {
            c: CPtr {
                ptr: g.as_mut_ptr().wrapping_sub(i0 * w + c0),
                rs: w,
                cs: 1,
            },
            ..*job
        };
        unit_product::<MR, L>(&scratch, bp, block);
        let whole = w == job.n && job.c.rs == job.n;
        let (count, len) = if whole { (1, rows * w) } else { (rows, w) };
        for i in 0..count {
            // SAFETY: rows `i0..i1` × columns `c0..c0 + w` are this unit's
            // block (units are disjoint; the parameter and state are laid
            // out as C, with unit column stride, checked by gemm), and `g`
            // holds its finished gradient, `w` floats a row.
            unsafe { u.apply(g[i * len..].as_ptr(), (i0 + i) * job.c.rs + c0, len) };
        }
    });
}

/// The product part of a unit: its block of C over the job's k range,
/// stored to the job's C.
fn unit_product<const MR: usize, L: Lanes>(job: &Job<'_, L>, bp: &BPanels<'_>, block: Block) {
    let Block { i0, i1, j0, qs } = block;
    let rows = i1 - i0;
    let nr = job.fam.nv * L::N;
    // Always the full MC × KC, so a thread's buffer grows once, on its first
    // unit, whatever shapes follow.
    with_buf(&A_BUF, MC.div_ceil(MR) * MR * KC, |abuf| {
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

/// Where the block tree over `lo..hi` splits: the left subtree gets the
/// largest power of two of leaves below `hi - lo` (all of them halves when
/// the count is a power of two).
fn tree_mid(lo: usize, hi: usize) -> usize {
    lo + (hi - lo).next_power_of_two() / 2
}

/// How many of `threads` threads the left subtree `lo..mid` of `lo..hi`
/// gets: in proportion to its leaves, at least one each side.
fn tree_left_threads(lo: usize, mid: usize, hi: usize, threads: usize) -> usize {
    ((threads * (mid - lo) + (hi - lo) / 2) / (hi - lo)).clamp(1, threads - 1)
}

/// What the tree of a split-k product shares: the job template, the k
/// blocking and the partial-sum slots.
struct SplitK<'a, L> {
    job: Job<'a, L>,
    /// The product's depth and block.
    k: usize,
    kc: usize,
    /// Slot `i` (`m × n`, row-major) holds the right subtree whose leaves
    /// start at block `i + 1`.
    slots: CPtr,
}

impl<L: Lanes> SplitK<'_, L> {
    /// Slot of the right subtree starting at block `mid`.
    fn slot(&self, mid: usize) -> CPtr {
        self.slots.offset((mid - 1) * self.job.m * self.job.n)
    }

    /// Block `blk`'s sum into `target`, added to it when `add` (the
    /// micro-kernel's own `acc + C`).
    fn leaf<const MR: usize>(
        &self,
        bp: &BPanels<'_>,
        j0: usize,
        panels: usize,
        blk: usize,
        target: CPtr,
        add: bool,
    ) {
        let job = Job {
            k0: blk * self.kc,
            k1: ((blk + 1) * self.kc).min(self.k),
            beta: add,
            c: target,
            ..self.job
        };
        run_units::<MR, L>(&job, bp, j0, panels, Schedule::Sequential);
    }

    /// The pairwise sum of blocks `lo..hi` into `target`: the left subtree
    /// into `target`, the right one into its slot (or, a single block on
    /// one thread, straight onto `target`), then `target += slot`. In
    /// parallel (`par`) every node is a rayon join, its `threads` split in
    /// proportion to the leaves, so each thread starts on its own subtree
    /// and one that runs out of work steals the rest of another's. Every
    /// execution of the tree adds the same values in the same order.
    #[allow(clippy::too_many_arguments)]
    fn tree<const MR: usize>(
        &self,
        bp: &BPanels<'_>,
        j0: usize,
        cols: usize,
        lo: usize,
        hi: usize,
        target: CPtr,
        threads: usize,
        par: bool,
    ) {
        let panels = cols.div_ceil(self.job.fam.nv * L::N);
        if hi - lo == 1 {
            return self.leaf::<MR>(bp, j0, panels, lo, target, false);
        }
        let mid = tree_mid(lo, hi);
        if !par {
            self.tree::<MR>(bp, j0, cols, lo, mid, target, 1, false);
            if hi - mid == 1 {
                return self.leaf::<MR>(bp, j0, panels, mid, target, true);
            }
            self.tree::<MR>(bp, j0, cols, mid, hi, self.slot(mid), 1, false);
        } else {
            let tl = match threads {
                0 | 1 => 1,
                _ => tree_left_threads(lo, mid, hi, threads),
            };
            let tr = threads.saturating_sub(tl).max(1);
            rayon::join(
                || self.tree::<MR>(bp, j0, cols, lo, mid, target, tl, true),
                || self.tree::<MR>(bp, j0, cols, mid, hi, self.slot(mid), tr, true),
            );
        }
        // SAFETY: both point at `m` rows of the NC block's columns inside C
        // and inside slot `mid - 1` (checked lengths), which no other thread
        // touches now: the subtrees that wrote them have joined.
        unsafe { add_into::<L>(target, self.slot(mid), self.job.m, j0, cols) };
    }
}

/// `target += src` over rows `0..m`, columns `j0..j0 + cols`, in vectors of
/// `L` (`src` is a row-major slot with `src.rs` floats a row).
///
/// # Safety
/// Both regions are valid, disjoint and not accessed by other threads.
unsafe fn add_into<L: Lanes>(target: CPtr, src: CPtr, m: usize, j0: usize, cols: usize) {
    for i in 0..m {
        // SAFETY: the caller's guarantee.
        unsafe {
            let t = target.ptr.add(i * target.rs + j0 * target.cs);
            let s = src.ptr.add(i * src.rs + j0);
            if target.cs == 1 {
                let mut j = 0;
                while j + L::N <= cols {
                    L::load(t.add(j)).add(L::load(s.add(j))).store(t.add(j));
                    j += L::N;
                }
                for j in j..cols {
                    *t.add(j) += *s.add(j);
                }
            } else {
                for j in 0..cols {
                    *t.add(j * target.cs) += *s.add(j);
                }
            }
        }
    }
}

/// `C = A·B` then the epilogue, k cut into blocks ([`params::split_kc`])
/// that are summed pairwise (a fixed binary tree over the blocks), the
/// subtrees on up to `threads` threads: each thread reads only its own
/// blocks of B's rows, and one `m × n` partial sum crosses between threads
/// per tree level. Every block's sum is the micro-kernel's, and every
/// addition happens in the same order whatever the thread count, so the
/// bits never depend on it. Shapes, strides and `partials` were checked by
/// the public `gemm_split_k`.
pub(crate) fn run_split_k<const MR: usize, L: Lanes>(
    fam: Family,
    a: ARef<'_>,
    b: MatRef<'_>,
    c: MatMut<'_>,
    epi: Epilogue<'_>,
    threads: usize,
    partials: &mut [f32],
) {
    let (m, k) = a.shape();
    let n = b.cols;
    if m == 0 || n == 0 {
        return;
    }
    let kc = params::split_kc(k);
    let blocks = k.div_ceil(kc).max(1);
    let c_ptr = CPtr {
        ptr: c.data.as_mut_ptr(),
        rs: c.rs,
        cs: c.cs,
    };
    let split = SplitK {
        job: Job::<L> {
            fam,
            a,
            m,
            n,
            k0: 0,
            k1: k,
            kc,
            beta: false,
            c: c_ptr,
            epi: Epi::None,
            _lane: std::marker::PhantomData,
        },
        k,
        kc,
        slots: CPtr {
            ptr: partials.as_mut_ptr(),
            rs: n,
            cs: 1,
        },
    };
    let threads = threads.clamp(1, blocks);
    // B is packed (where not read in place) once, for all of k, by the
    // caller; each leaf reads its rows of it.
    for_each_nc_block(&split.job, b, |bp, j0, cols| {
        split.tree::<MR>(bp, j0, cols, 0, blocks, c_ptr, threads, threads > 1);
    });
    finish_epilogue::<L>(c, Epi::from(epi));
}

/// Applies the epilogue to a finished C, in vectors of `L` exactly as the
/// micro-kernel finishes a tile (edge columns through zero-padded stack
/// vectors, as its edge tiles).
fn finish_epilogue<L: Lanes>(c: MatMut<'_>, epi: Epi<'_>) {
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

/// Largest tile of any family, in floats: the SIMD one (the scalar tile is
/// smaller, checked below). Kept tight: edge tiles put three of these on
/// the stack.
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

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::kernels::{
        ARef, Activation, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, U8Rows, gemm,
    };

    /// Counts allocations made by threads that opted in.
    struct Counting;

    thread_local! {
        /// Whether this thread's allocations count.
        static TRACK: Cell<bool> = const { Cell::new(false) };
    }
    static COUNT: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: forwards to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if TRACK.with(Cell::get) {
                COUNT.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: the caller's contract is System's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
            if TRACK.with(Cell::get) {
                COUNT.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, size) }
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;

    /// One training step's products on the trainer's shapes (batch 32,
    /// 784-128-10), as the trainer will call them.
    fn step(par: Parallelism, bufs: &mut [Vec<f32>; 4], data: &(Vec<u8>, Vec<u32>, Vec<f32>)) {
        let [w1, h, w2, dy] = bufs;
        let x = U8Rows {
            pixels: &data.0,
            row_len: 784,
            rows: &data.1,
            scale: &data.2,
            period: 1,
            shift: 0.0,
        };
        let bias = [0.5f32; 128];
        let mut c = [0.0f32; 784 * 128];
        let relu = Activation::Relu;
        let run = |a, b, c: &mut [f32], (m, n), e| {
            gemm(
                KernelChoice::Simd,
                a,
                b,
                0.0,
                MatMut::row_major(&mut c[..m * n], m, n),
                e,
                par,
            )
        };
        let (w1, w2, dy) = (&w1[..], &w2[..], &dy[..]);
        let e = Epilogue::BiasAct {
            bias: &bias,
            act: relu,
        };
        run(
            ARef::U8(x),
            MatRef::row_major(w1, 784, 128),
            h,
            (32, 128),
            e,
        );
        let h = &h[..];
        let e = Epilogue::BiasAct {
            bias: &bias[..10],
            act: Activation::Identity,
        };
        run(
            ARef::F32(MatRef::row_major(h, 32, 128)),
            MatRef::row_major(w2, 128, 10),
            &mut c,
            (32, 10),
            e,
        );
        let e = Epilogue::ActGrad {
            act: relu,
            out: MatRef::row_major(h, 32, 128),
        };
        run(
            ARef::F32(MatRef::row_major(dy, 32, 10)),
            MatRef::row_major(w2, 128, 10).t(),
            &mut c,
            (32, 128),
            e,
        );
        run(
            ARef::F32(MatRef::row_major(h, 32, 128).t()),
            MatRef::row_major(dy, 32, 10),
            &mut c,
            (128, 10),
            Epilogue::None,
        );
        run(
            ARef::U8T(x),
            MatRef::row_major(h, 32, 128),
            &mut c,
            (784, 128),
            Epilogue::None,
        );
    }

    #[test]
    fn steady_state_allocates_nothing() {
        let data = (
            (0..100 * 784).map(|x| x as u8).collect::<Vec<u8>>(),
            (0..32).map(|x| x * 3).collect::<Vec<u32>>(),
            vec![1.0 / 255.0; 32],
        );
        let mut bufs = [
            vec![0.01; 784 * 128],
            vec![0.0; 32 * 128],
            vec![0.02; 128 * 10],
            vec![0.1; 32 * 10],
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // Warm-up: every pool thread grows its buffers once.
        pool.broadcast(|_| step(Parallelism::Sequential, &mut bufs.clone(), &data));
        pool.install(|| {
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                step(par, &mut bufs, &data);
            }
        });
        pool.broadcast(|_| TRACK.with(|t| t.set(true)));
        let before = COUNT.load(Ordering::Relaxed);
        pool.install(|| {
            for _ in 0..3 {
                for par in [Parallelism::Sequential, Parallelism::Rayon] {
                    step(par, &mut bufs, &data);
                }
            }
        });
        pool.broadcast(|_| TRACK.with(|t| t.set(false)));
        assert_eq!(COUNT.load(Ordering::Relaxed) - before, 0);
    }
}

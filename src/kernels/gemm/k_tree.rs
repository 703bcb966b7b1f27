//! `gemm_k_tree`: k cut into fixed blocks ([`params::k_tree_kc`]) summed
//! by a fixed binary tree, whose subtrees run on separate threads. The tree
//! depends on k alone, so every thread count adds the same values in the
//! same order.

use super::schedule::{Schedule, run_units};
use super::tile::finish_epilogue;
use super::{BPanels, CPtr, Epi, Family, Job, for_each_nc_block};
use crate::kernels::lanes::Lanes;
use crate::kernels::params;
use crate::kernels::{ARef, Epilogue, MatMut, MatRef};

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
struct KTree<'a, L> {
    job: Job<'a, L>,
    /// The product's depth and block.
    k: usize,
    kc: usize,
    /// Slot `i` (`m × n`, row-major) holds the right subtree whose leaves
    /// start at block `i + 1`.
    slots: CPtr,
}

impl<L: Lanes> KTree<'_, L> {
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

/// `C = A·B` then the epilogue, k cut into blocks ([`params::k_tree_kc`])
/// that are summed pairwise (a fixed binary tree over the blocks), the
/// subtrees on up to `threads` threads: each thread reads only its own
/// blocks of B's rows, and one `m × n` partial sum crosses between threads
/// per tree level. Every block's sum is the micro-kernel's, and every
/// addition happens in the same order whatever the thread count, so the
/// bits never depend on it. Shapes, strides and `partials` were checked by
/// the public `gemm_k_tree`.
pub(crate) fn run_k_tree<const MR: usize, L: Lanes>(
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
    let kc = params::k_tree_kc(k);
    let blocks = k.div_ceil(kc).max(1);
    let c_ptr = CPtr {
        ptr: c.data.as_mut_ptr(),
        rs: c.rs,
        cs: c.cs,
    };
    let split = KTree {
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

//! How the units of a job (disjoint blocks of C: at most MC rows × a group
//! of B panels) are shared out over threads: all on the caller, dynamically
//! by tiles of C, or by the fixed row shares that match `gemm_k_tree`'s
//! k blocks. Where a block's edges fall never changes an element's
//! arithmetic (only the k blocking does), so the bits never depend on the
//! schedule.

use rayon::prelude::*;

use super::{BPanels, Job, run_unit};
use crate::kernels::lanes::Lanes;
use crate::kernels::params;

/// How the units of a job are shared out.
#[derive(Clone, Copy)]
pub(super) enum Schedule {
    /// All on the calling thread.
    Sequential,
    /// Dynamically over this many threads, by tiles of C.
    Tiles(usize),
    /// By row blocks of C that are the k blocks of `gemm_k_tree` on a
    /// matrix with C's rows, over this many threads.
    RowShares(usize),
}

/// The units of one NC block (columns from `j0`, `panels` B panels):
/// row blocks of at most MC × groups of B panels, disjoint in C, shared
/// out by `schedule`.
pub(super) fn run_units<const MR: usize, L: Lanes>(
    job: &Job<'_, L>,
    bp: &BPanels<'_>,
    j0: usize,
    panels: usize,
    schedule: Schedule,
) {
    let m = job.m;
    let mc = job.fam.mc;
    let unit = |i0: usize, i1: usize, qs: std::ops::Range<usize>| {
        for i in (i0..i1).step_by(mc) {
            let block = Block {
                i0: i,
                i1: (i + mc).min(i1),
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
            let row_blocks = m.div_ceil(mc);
            let groups = threads.div_ceil(row_blocks).clamp(1, panels);
            let per_group = panels.div_ceil(groups);
            let units = row_blocks * panels.div_ceil(per_group);
            (0..units).into_par_iter().for_each(|u| {
                let (rb, g) = (u % row_blocks, u / row_blocks);
                let q1 = ((g + 1) * per_group).min(panels);
                unit(rb * mc, ((rb + 1) * mc).min(m), g * per_group..q1);
            });
        }
        Schedule::RowShares(threads) => {
            // The row blocks of C are the k blocks of a product whose k is
            // C's row count (a weight matrix's rows), one task each: rayon
            // hands a thread the same contiguous run of them that
            // `gemm_k_tree` gives it of that matrix, and a thread that runs
            // out of work steals whole blocks. With more threads than
            // blocks, even shares of MR-row groups instead.
            let kb = params::k_tree_kc(m);
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

/// A unit's block of C: rows `i0..i1` (at most the family's `MC`) against B panels `qs`
/// of the NC block starting at column `j0`.
#[derive(Clone)]
pub(super) struct Block {
    pub(super) i0: usize,
    pub(super) i1: usize,
    pub(super) j0: usize,
    pub(super) qs: std::ops::Range<usize>,
}

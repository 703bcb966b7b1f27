//! The fused optimizer update ([`Epilogue::Update`]): an updating unit
//! computes its block of the gradient into this thread's scratch and applies
//! the rule to the same block of the parameter at once, on the core whose
//! cache holds it; the gradient is never written to C.
//!
//! [`Epilogue::Update`]: crate::kernels::Epilogue::Update

use super::buffers::{G_BUF, with_buf};
use super::schedule::Block;
use super::{BPanels, CPtr, Job, unit_product};
use crate::kernels::lanes::Lanes;
use crate::kernels::{ParamUpdate, UpdateRule};

/// A [`ParamUpdate`] as raw pointers that the units share.
#[derive(Clone, Copy)]
pub(super) struct UpdatePtrs {
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

impl<'a> From<ParamUpdate<'a>> for UpdatePtrs {
    fn from(u: ParamUpdate<'a>) -> UpdatePtrs {
        let [s0, s1] = u.state;
        UpdatePtrs {
            rule: u.rule,
            param: u.param.as_mut_ptr(),
            s0: s0.as_mut_ptr(),
            s1: s1.as_mut_ptr(),
        }
    }
}

impl UpdatePtrs {
    /// Applies the rule to the `len` elements at `off`, whose gradient is
    /// the `len` floats at `grad`.
    ///
    /// # Safety
    /// `off..off + len` lies inside C's data (and so inside the parameter
    /// and the used states), `grad` holds `len` final floats, and no other
    /// thread touches those elements during the call.
    unsafe fn apply(&self, grad: *const f32, off: usize, len: usize) {
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

/// An updating unit: its block of the gradient over the job's k range, then
/// the optimizer's rule `u` on the same block of the parameter.
pub(super) fn run_updating_unit<const MR: usize, L: Lanes>(
    job: &Job<'_, L>,
    bp: &BPanels<'_>,
    block: Block,
    u: UpdatePtrs,
) {
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

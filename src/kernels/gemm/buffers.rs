//! The driver's thread-local scratch: packed A (one block per thread),
//! packed B (the caller's) and the gradient block of an updating unit. Each
//! grows to the largest size asked for and is kept, so once every thread has
//! run a product (or [`prepare_threads`] reserved them) the products of a
//! training step allocate nothing.
//!
//! [`prepare_threads`]: crate::kernels::prepare_threads

use std::cell::RefCell;

use crate::kernels::params::{KC, MC_MAX, SCALAR_MC};

/// A growable, 64-byte aligned f32 buffer: packed panels start on a cache
/// line, so no B row of a packed panel straddles two.
#[derive(Default)]
pub(super) struct ScratchBuf(Vec<wide::f32x16>);

impl ScratchBuf {
    /// The first `len` floats, growing (the only allocation) if needed.
    fn get(&mut self, len: usize) -> &mut [f32] {
        let blocks = len.div_ceil(16);
        if self.0.len() < blocks {
            self.0.resize(blocks, wide::f32x16::ZERO);
        }
        &mut bytemuck::cast_slice_mut(&mut self.0)[..len]
    }
}

/// Rows of the largest loop 3 block of any kernel family.
const MC_ANY: usize = if MC_MAX > SCALAR_MC {
    MC_MAX
} else {
    SCALAR_MC
};
/// Floats of a packed A block: the largest `MC × KC` of any family.
pub(super) const A_LEN: usize = MC_ANY * KC;

thread_local! {
    /// Packed A block of this thread ([`A_LEN`]).
    pub(super) static A_BUF: RefCell<ScratchBuf> = RefCell::new(ScratchBuf::default());
    /// Packed B of the caller of `gemm` (`k × NC`).
    pub(super) static B_BUF: RefCell<ScratchBuf> = RefCell::new(ScratchBuf::default());
    /// The gradient block of an updating unit (`MC` rows × its columns).
    pub(super) static G_BUF: RefCell<ScratchBuf> = RefCell::new(ScratchBuf::default());
}

/// Runs `f` on this thread's buffer `key`, grown to `len`; if the buffer is
/// already borrowed (a gemm called from inside a gemm's closure, which
/// fastnn never does), a temporary one is used instead.
pub(super) fn with_buf<R>(
    key: &'static std::thread::LocalKey<RefCell<ScratchBuf>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(buf.get(len)),
        Err(_) => f(ScratchBuf::default().get(len)),
    })
}

/// Allocates this thread's packed-A buffer at the size every kernel family
/// asks for ([`A_LEN`]), so that no later product on this thread allocates.
pub(crate) fn reserve_a_buffer() {
    with_buf(&A_BUF, A_LEN, |_| ());
}

/// Allocates this thread's gradient block for updating products with up
/// to `cols` columns, so that no later one on this thread allocates.
pub(crate) fn reserve_update_buffer(cols: usize) {
    with_buf(&G_BUF, MC_ANY * cols, |_| ());
}

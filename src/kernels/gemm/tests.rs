//! The products of a training step allocate nothing once every thread's
//! scratch has grown: counted by a global allocator that only this test
//! binary installs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernels::{
    ARef, Activation, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, U8Rows, gemm_with,
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
        gemm_with(
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
        for par in [Parallelism::Sequential, Parallelism::Tiles] {
            step(par, &mut bufs, &data);
        }
    });
    pool.broadcast(|_| TRACK.with(|t| t.set(true)));
    let before = COUNT.load(Ordering::Relaxed);
    pool.install(|| {
        for _ in 0..3 {
            for par in [Parallelism::Sequential, Parallelism::Tiles] {
                step(par, &mut bufs, &data);
            }
        }
    });
    pool.broadcast(|_| TRACK.with(|t| t.set(false)));
    assert_eq!(COUNT.load(Ordering::Relaxed) - before, 0);
}

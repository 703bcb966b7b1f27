//! The blocked driver: loops NC → (pack B) → units of (MC rows × B panels)
//! → KC → (pack A) → NR → MR → micro-kernel. See the diagram in
//! `kernels/mod.rs`.

use std::cell::RefCell;
use std::mem::MaybeUninit;

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

/// Allocates this thread's packed-A buffer at the largest size any kernel
/// family asks for (`MC` rounded up to a tile, times `KC`), so that no later
/// product on this thread allocates.
pub(crate) fn reserve_a_buffer() {
    with_buf(&A_BUF, (MC + 16) * KC, |_| ());
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
        Parallelism::Rayon if m.saturating_mul(n).saturating_mul(k) >= PAR_THRESHOLD => {
            rayon::current_num_threads()
        }
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
    // Always the full MC × KC, so a thread's buffer grows once, on its first
    // unit, whatever shapes follow.
    with_buf(&A_BUF, MC.div_ceil(MR) * MR * KC, |abuf| {
        // Loop 4: k blocks; an empty k still runs once for beta and the
        // epilogue.
        let mut p0 = 0;
        loop {
            let kc = KC.min(k - p0);
            let last = p0 + kc == k;
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
                    let off = if bp.direct { 0 } else { q * k * nr };
                    let wp = w.div_ceil(L::N) * L::N;
                    (bp.packed.as_ptr().wrapping_add(off + p0 * wp), wp)
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
                        beta: job.beta || p0 > 0,
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
            Epilogue::None => TileEpi::None,
            Epilogue::BiasAct { bias, act } => {
                for (jj, x) in btile[..wp].iter_mut().enumerate() {
                    *x = MaybeUninit::new(if jj < w { bias[j + jj] } else { 0.0 });
                }
                TileEpi::BiasAct {
                    bias: btile.as_ptr().cast::<f32>(),
                    act,
                }
            }
            Epilogue::ActGrad { act, out } => {
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

//! The `matrixmultiply` crate as a [`KernelChoice::MatrixMultiply`]
//! fallback and as the benchmark baseline: its `sgemm` computes the
//! product, then the epilogue runs as a separate pass over C.
//!
//! [`KernelChoice::MatrixMultiply`]: super::KernelChoice::MatrixMultiply

use std::cell::RefCell;

use super::{ARef, Epilogue, MatMut, MatRef};

thread_local! {
    /// u8 operands converted to f32 (matrixmultiply reads only f32).
    static CONVERTED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `C = A·B + beta·C` by `matrixmultiply::sgemm`, then the epilogue.
/// Shapes and extents were checked by `kernels::gemm`.
pub(crate) fn gemm(a: ARef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>, epilogue: Epilogue<'_>) {
    let (m, k) = a.shape();
    let n = b.cols;
    if m == 0 || n == 0 {
        return;
    }
    match a {
        ARef::F32(a) => sgemm(a, b, beta, c, epilogue),
        ARef::U8(_) | ARef::U8T(_) => CONVERTED.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            buf.extend((0..m).flat_map(|i| (0..k).map(move |p| a.at(i, p))));
            sgemm(MatRef::row_major(&buf, m, k), b, beta, c, epilogue);
        }),
    }
}

/// The f32 product and the epilogue pass.
fn sgemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>, epilogue: Epilogue<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if k == 0 {
        // matrixmultiply would not touch C; beta = 0 must still clear it.
        for i in 0..m {
            for j in 0..n {
                let x = &mut c.data[i * c.rs + j * c.cs];
                *x = if beta == 0.0 { 0.0 } else { *x };
            }
        }
    } else {
        // Strides fit in isize: every view lies inside a slice, whose length
        // is at most isize::MAX.
        let s = |x: usize| x as isize;
        // SAFETY: gemm checked that A, B and C lie inside their slices and
        // that C's elements do not overlap; beta = 0 lets sgemm ignore C.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.data.as_ptr(),
                s(a.rs),
                s(a.cs),
                b.data.as_ptr(),
                s(b.rs),
                s(b.cs),
                beta,
                c.data.as_mut_ptr(),
                s(c.rs),
                s(c.cs),
            );
        }
    }
    match epilogue {
        Epilogue::None => {}
        Epilogue::BiasAct { bias, act } => {
            for i in 0..m {
                for (j, &bj) in bias.iter().enumerate() {
                    let x = &mut c.data[i * c.rs + j * c.cs];
                    *x = act.apply(*x + bj);
                }
            }
        }
        Epilogue::ActGrad { act, out } => {
            for i in 0..m {
                for j in 0..n {
                    c.data[i * c.rs + j * c.cs] *= act.derivative_from_output(out.at(i, j));
                }
            }
        }
        Epilogue::Update(u) => {
            // Row by row (gemm checked: unit column stride, same layout).
            let [s0, s1] = u.state;
            let states = u.rule.states();
            for i in 0..m {
                let r = i * c.rs..i * c.rs + n;
                let used = |k: usize| if states >= k { r.clone() } else { 0..0 };
                u.rule.apply(
                    &mut u.param[r.clone()],
                    &c.data[r.clone()],
                    &mut s0[used(1)],
                    &mut s1[used(2)],
                );
            }
        }
    }
}

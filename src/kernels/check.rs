//! The checks that make the unsafe core sound: every view's fields are
//! public, so shapes, strides, bounds and epilogue operands are checked on
//! every call rather than trusted from a constructor.

use super::{ARef, Epilogue, MatMut, MatRef};

/// Whether a `rows × cols` view with strides `rs`, `cs` stays inside `len`
/// elements.
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    last.is_some_and(|l| l < len)
}

/// Whether distinct `(i, j)` of a `rows × cols` view with strides `rs`, `cs`
/// always address distinct elements (required of C, which threads write
/// concurrently).
fn disjoint(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    match (rows == 1, cols == 1) {
        (true, true) => true,
        (true, false) => cs >= 1,
        (false, true) => rs >= 1,
        (false, false) => {
            (cs >= 1 && rs >= cols.saturating_mul(cs)) || (rs >= 1 && cs >= rows.saturating_mul(rs))
        }
    }
}

/// The checks that make the unsafe core sound: every view's fields are
/// public, so they are rechecked here rather than trusted from `new`.
pub(super) fn check_operands(
    a: &ARef<'_>,
    b: &MatRef<'_>,
    c: &MatMut<'_>,
    beta: f32,
    epilogue: &Epilogue<'_>,
) {
    let (m, k) = a.shape();
    assert_eq!(
        k, b.rows,
        "gemm: A is {m}x{k} but B is {}x{}",
        b.rows, b.cols
    );
    assert_eq!((c.rows, c.cols), (m, b.cols), "gemm: C has the wrong shape");
    match a {
        ARef::F32(m) => assert!(
            fits(m.data.len(), m.rows, m.cols, m.rs, m.cs),
            "gemm: A exceeds its data"
        ),
        ARef::U8(u) | ARef::U8T(u) => {
            if !u.rows.is_empty() && u.row_len > 0 {
                assert!(u.period >= 1, "gemm: u8 scale period must be at least 1");
                let need = u.rows.len().checked_mul(u.period);
                assert!(
                    need.is_some_and(|need| u.scale.len() >= need),
                    "gemm: u8 rows need {} scale factors, got {}",
                    u.rows.len().saturating_mul(u.period),
                    u.scale.len()
                );
                let images = u.pixels.len() / u.row_len;
                assert!(
                    u.rows.iter().all(|&r| (r as usize) < images),
                    "gemm: a u8 row index exceeds the {images} images"
                );
            }
        }
    }
    assert!(
        fits(b.data.len(), b.rows, b.cols, b.rs, b.cs),
        "gemm: B exceeds its data"
    );
    assert!(
        fits(c.data.len(), c.rows, c.cols, c.rs, c.cs),
        "gemm: C exceeds its data"
    );
    assert!(
        disjoint(c.rows, c.cols, c.rs, c.cs),
        "gemm: C's strides (rs {}, cs {}) make elements overlap",
        c.rs,
        c.cs
    );
    match epilogue {
        Epilogue::None => {}
        Epilogue::BiasAct { bias, .. } => assert_eq!(
            bias.len(),
            c.cols,
            "gemm: bias has {} entries for {} columns",
            bias.len(),
            c.cols
        ),
        Epilogue::ActGrad { out, .. } => {
            assert_eq!(
                (out.rows, out.cols),
                (c.rows, c.cols),
                "gemm: the activation output's shape differs from C's"
            );
            assert!(
                fits(out.data.len(), out.rows, out.cols, out.rs, out.cs),
                "gemm: the activation output exceeds its data"
            );
        }
        Epilogue::Update(u) => {
            assert!(
                c.cs == 1 || c.cols <= 1,
                "gemm: an updating product needs C with unit column stride"
            );
            assert!(beta == 0.0, "gemm: an updating product needs beta 0");
            let len = c.data.len();
            assert_eq!(
                u.param.len(),
                len,
                "gemm: the parameter's length differs from C's"
            );
            for s in &u.state[..u.rule.states()] {
                assert_eq!(
                    s.len(),
                    len,
                    "gemm: the optimizer state's length differs from C's"
                );
            }
        }
    }
}

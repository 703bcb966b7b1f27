//! Naive f64-accumulating reference implementations, for tests, fuzzing and
//! benches.

use super::{ARef, Epilogue, MatMut, MatRef};

/// `C = A·B + beta·C`, then the epilogue, accumulating in f64; an update
/// is applied one element at a time.
pub fn gemm(a: ARef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>, epilogue: Epilogue<'_>) {
    let (m, k) = a.shape();
    let n = b.cols;
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                acc += a.at(i, p) as f64 * b.at(p, j) as f64;
            }
            let idx = i * c.rs + j * c.cs;
            let mut v = acc as f32;
            if beta != 0.0 {
                v += c.data[idx];
            }
            v = match &epilogue {
                Epilogue::None | Epilogue::Update(_) => v,
                Epilogue::BiasAct { bias, act } => act.apply(v + bias[j]),
                Epilogue::ActGrad { act, out } => v * act.derivative_from_output(out.at(i, j)),
            };
            c.data[idx] = v;
        }
    }
    if let Epilogue::Update(u) = epilogue {
        let [s0, s1] = u.state;
        let states = u.rule.states();
        for i in 0..m {
            for j in 0..n {
                let x = i * c.rs + j * c.cs;
                let one = |used: bool| if used { x..x + 1 } else { 0..0 };
                let (r0, r1) = (one(states >= 1), one(states >= 2));
                u.rule.apply(
                    &mut u.param[x..x + 1],
                    &c.data[x..x + 1],
                    &mut s0[r0],
                    &mut s1[r1],
                );
            }
        }
    }
}

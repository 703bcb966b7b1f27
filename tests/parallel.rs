//! The training step's parallel products: `gemm_k_tree` (k split by rows
//! of W, pairwise block sums) against the f64 reference and bit for bit
//! across thread counts; `Parallelism::RowBlocks` bit for bit against one
//! thread; the fused optimizer update (`Epilogue::Update`) bit for bit
//! against a separate update; and a trainer step with the update fused
//! against gradients followed by the optimizer.

use fastnn::kernels::eltwise::{AdamStep, UpdateRule};
use fastnn::kernels::params::{NR, PAR_THRESHOLD};
use fastnn::kernels::{
    ARef, Activation, AlignedVec, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, ParamUpdate,
    SimdTile, U8Rows, gemm_k_tree, gemm_k_tree_tile, gemm_tile, gemm_with, k_tree_partials_len,
    reference, simd_tiles,
};
use proptest::prelude::*;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// A split-k product's operands: u8 pixel rows or f32 A (row-major or a
/// transpose), row-major W, C row- or column-major.
struct SplitCase {
    m: usize,
    k: usize,
    n: usize,
    u8_input: bool,
    a_t: bool,
    c_t: bool,
    act: Option<Activation>,
    seed: u64,
}

impl SplitCase {
    /// C by `run(a, b, c, epilogue)` on fresh NaN-filled C.
    fn run(&self, mut run: impl FnMut(ARef<'_>, MatRef<'_>, MatMut<'_>, Epilogue<'_>)) -> Vec<f32> {
        let (m, k, n) = (self.m, self.k, self.n);
        let pixels: Vec<u8> = values(m * k, self.seed)
            .iter()
            .map(|x| ((x + 1.0) * 127.0) as u8)
            .collect();
        let rows: Vec<u32> = (0..m as u32).rev().collect();
        let scale = vec![1.0 / 255.0; m];
        let a = values(m * k, self.seed + 1);
        let w = values(k * n, self.seed + 2);
        let bias = values(n, self.seed + 3);
        let out: Vec<f32> = values(m * n, self.seed + 4)
            .iter()
            .map(|x| x * 0.5 + 0.5)
            .collect();
        let a_ref = if self.u8_input {
            ARef::U8(U8Rows {
                pixels: &pixels,
                row_len: k,
                rows: &rows,
                scale: &scale,
                period: 1,
                shift: -0.5,
            })
        } else if self.a_t {
            ARef::F32(MatRef::row_major(&a, k, m).t())
        } else {
            ARef::F32(MatRef::row_major(&a, m, k))
        };
        let (rs, cs) = if self.c_t { (1, m) } else { (n, 1) };
        let epilogue = match self.act {
            None => Epilogue::None,
            Some(act) if self.seed.is_multiple_of(2) => Epilogue::BiasAct { bias: &bias, act },
            Some(act) => Epilogue::ActGrad {
                act,
                out: MatRef::new(&out, m, n, rs, cs),
            },
        };
        let mut c = vec![f32::NAN; m * n];
        run(
            a_ref,
            MatRef::row_major(&w, k, n),
            MatMut::new(&mut c, m, n, rs, cs),
            epilogue,
        );
        c
    }

    /// The product split over `threads` threads (one: `Sequential`).
    fn split(&self, choice: KernelChoice, threads: usize) -> Vec<f32> {
        let mut partials = vec![f32::NAN; k_tree_partials_len(self.m, self.n, self.k)];
        let par = if threads == 1 {
            Parallelism::Sequential
        } else {
            Parallelism::Tiles
        };
        pool(threads)
            .install(|| self.run(|a, b, c, e| gemm_k_tree(choice, a, b, c, e, par, &mut partials)))
    }

    /// Checks the split product against the f64 reference and across 1 to
    /// 4 threads.
    fn check(&self) -> Result<(), TestCaseError> {
        let want = self.run(|a, b, c, e| reference::gemm(a, b, 0.0, c, e));
        let tol = 2e-6 * (self.k as f32 + 4.0);
        for choice in [KernelChoice::Simd, KernelChoice::Scalar] {
            let one = self.split(choice, 1);
            for (i, (g, w)) in one.iter().zip(&want).enumerate() {
                prop_assert!(
                    (g - w).abs() <= tol * (1.0 + w.abs()),
                    "{choice:?} {}x{}x{}: C[{i}] = {g}, reference {w}",
                    self.m,
                    self.k,
                    self.n
                );
            }
            for threads in 2..=4 {
                prop_assert!(
                    same_bits(&one, &self.split(choice, threads)),
                    "{choice:?} {}x{}x{} differs with {threads} threads",
                    self.m,
                    self.k,
                    self.n
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Shapes big enough to split (m·n·k ≥ the parallel threshold), with
    /// awkward sizes: 1, primes, edges of the tile and of the k blocks.
    #[test]
    fn split_k_matches_reference_and_any_thread_count(
        m in prop::sample::select(vec![1usize, 7, 8, 9, 32, 33]),
        n in prop::sample::select(vec![1usize, 10, NR - 1, NR, NR + 1, 128]),
        k in prop::sample::select(vec![97usize, 128, 129, 401, 784, 1031, 2111]),
        u8_input in any::<bool>(),
        a_t in any::<bool>(),
        c_t in any::<bool>(),
        act in prop::sample::select(vec![None, Some(Activation::Relu), Some(Activation::Tanh)]),
        seed in any::<u64>(),
    ) {
        let case = SplitCase { m, k, n, u8_input, a_t, c_t, act, seed };
        case.check()?;
    }
}

/// The trainer's split product, and shapes under the threshold (one tree,
/// one thread) or with fewer blocks than threads.
#[test]
fn split_k_on_trainer_and_small_shapes() {
    for (m, k, n) in [
        (32, 784, 128),
        (32, 128, 128),
        (3, 5, 2),
        (1, 1, 1),
        (64, 40, 300),
    ] {
        let case = SplitCase {
            m,
            k,
            n,
            u8_input: k == 784,
            a_t: false,
            c_t: false,
            act: Some(Activation::Relu),
            seed: 2,
        };
        assert!(m * n * k >= PAR_THRESHOLD || m * n * k < 10_000);
        case.check().unwrap();
    }
}

/// Every compiled SIMD tile sums the split-k tree to the same bits, on one
/// thread and on three.
#[test]
fn split_k_tiles_agree_bit_for_bit() {
    for (m, k, n, u8_input) in [
        (32, 784, 128, true),
        (7, 401, 33, false),
        (33, 129, NR + 1, false),
        (13, 2111, 10, true),
    ] {
        let case = SplitCase {
            m,
            k,
            n,
            u8_input,
            a_t: false,
            c_t: m == 7,
            act: Some(Activation::Tanh),
            seed: m as u64,
        };
        let run = |tile: &SimdTile, threads: usize| {
            let mut partials = vec![f32::NAN; k_tree_partials_len(m, n, k)];
            let par = [Parallelism::Sequential, Parallelism::Tiles][(threads > 1) as usize];
            pool(threads).install(|| {
                case.run(|a, b, c, e| gemm_k_tree_tile(tile, a, b, c, e, par, &mut partials))
            })
        };
        let want = run(&simd_tiles()[0], 1);
        for tile in simd_tiles() {
            for threads in [1, 3] {
                assert!(
                    same_bits(&want, &run(tile, threads)),
                    "{} {m}x{k}x{n} differs ({threads} threads)",
                    tile.name()
                );
            }
        }
    }
}

#[test]
#[should_panic(expected = "partials")]
fn split_k_needs_room_for_its_partials() {
    let case = SplitCase {
        m: 32,
        k: 784,
        n: 128,
        u8_input: false,
        a_t: false,
        c_t: false,
        act: None,
        seed: 1,
    };
    let mut partials = vec![0.0; k_tree_partials_len(32, 128, 784) - 1];
    pool(2).install(|| {
        case.run(|a, b, c, e| {
            gemm_k_tree(
                KernelChoice::Simd,
                a,
                b,
                c,
                e,
                Parallelism::Tiles,
                &mut partials,
            )
        })
    });
}

/// A weight gradient Xᵀ·dY (rows of C = rows of W) with `par`.
fn weight_gradient(m: usize, k: usize, n: usize, u8_input: bool, par: Parallelism) -> Vec<f32> {
    weight_gradient_by(m, k, n, u8_input, |a, b, c| {
        gemm_with(KernelChoice::Simd, a, b, 0.0, c, Epilogue::None, par)
    })
}

/// A weight gradient Xᵀ·dY computed by `f(a, b, c)`.
fn weight_gradient_by(
    m: usize,
    k: usize,
    n: usize,
    u8_input: bool,
    f: impl FnOnce(ARef<'_>, MatRef<'_>, MatMut<'_>),
) -> Vec<f32> {
    let pixels: Vec<u8> = (0..m * k).map(|i| (i * 7 % 251) as u8).collect();
    let rows: Vec<u32> = (0..k as u32).collect();
    let scale = vec![1.0 / 255.0; k];
    let x = values(k * m, 11);
    let dy = values(k * n, 12);
    let a = if u8_input {
        ARef::U8T(U8Rows {
            pixels: &pixels,
            row_len: m,
            rows: &rows,
            scale: &scale,
            period: 1,
            shift: 0.0,
        })
    } else {
        ARef::F32(MatRef::row_major(&x, k, m).t())
    };
    let mut c = vec![f32::NAN; m * n];
    f(
        a,
        MatRef::row_major(&dy, k, n),
        MatMut::row_major(&mut c, m, n),
    );
    c
}

#[test]
fn split_rows_equal_one_thread_bit_for_bit() {
    for (m, k, n, u8_input) in [
        (784, 32, 128, true),
        (784, 256, 128, true),
        (128, 32, 128, false),
        (301, 64, 33, false),
        (13, 997, 41, false),
    ] {
        let one = weight_gradient(m, k, n, u8_input, Parallelism::Sequential);
        for threads in 1..=5 {
            let split = pool(threads)
                .install(|| weight_gradient(m, k, n, u8_input, Parallelism::RowBlocks));
            assert!(
                same_bits(&one, &split),
                "{m}x{k}x{n} differs with {threads} threads"
            );
        }
    }
}

/// Row shares give every compiled tile's bits, and every tile the same.
#[test]
fn split_rows_agree_across_tiles_bit_for_bit() {
    for (m, k, n, u8_input) in [(784, 32, 128, true), (301, 64, 33, false)] {
        let want = weight_gradient(m, k, n, u8_input, Parallelism::Sequential);
        for tile in simd_tiles() {
            for (threads, par) in [(1, Parallelism::Sequential), (3, Parallelism::RowBlocks)] {
                let got = pool(threads).install(|| {
                    weight_gradient_by(m, k, n, u8_input, |a, b, c| {
                        gemm_tile(tile, a, b, 0.0, c, Epilogue::None, par)
                    })
                });
                assert!(
                    same_bits(&want, &got),
                    "{} {m}x{k}x{n} differs ({threads} threads)",
                    tile.name()
                );
            }
        }
    }
}

const RULES: [UpdateRule; 3] = [
    UpdateRule::Adam(AdamStep {
        lr_t: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-7,
    }),
    UpdateRule::Sgd {
        lr: 0.01,
        momentum: 0.9,
    },
    UpdateRule::Sgd {
        lr: 0.01,
        momentum: 0.0,
    },
];

/// `(parameter, state 0, state 1)` after one product of `m × n` gradient,
/// with the update fused (`fused`) or applied afterwards to the whole
/// tensors.
fn updated(
    m: usize,
    n: usize,
    rule: UpdateRule,
    choice: KernelChoice,
    par: Parallelism,
    fused: bool,
) -> [Vec<f32>; 3] {
    let k = 37;
    let x = values(k * m, 21);
    let dy = values(k * n, 22);
    let mut param = AlignedVec::from(values(m * n, 23));
    let mut s0 = AlignedVec::from(values(m * n, 24));
    let mut s1: AlignedVec = values(m * n, 25)
        .iter()
        .map(|v| v.abs())
        .collect::<Vec<_>>()
        .into();
    let mut g = vec![f32::NAN; m * n];
    let a = ARef::F32(MatRef::row_major(&x, k, m).t());
    let b = MatRef::row_major(&dy, k, n);
    let c = MatMut::row_major(&mut g, m, n);
    if fused {
        let update = ParamUpdate {
            rule,
            param: &mut param,
            state: [&mut s0, &mut s1],
        };
        gemm_with(choice, a, b, 0.0, c, Epilogue::Update(update), par);
    } else {
        gemm_with(choice, a, b, 0.0, c, Epilogue::None, par);
        rule.apply(&mut param, &g, &mut s0, &mut s1);
    }
    [param.to_vec(), s0.to_vec(), s1.to_vec()]
}

#[test]
fn fused_update_equals_a_separate_update_bit_for_bit() {
    for (m, n) in [(784, 128), (128, 10), (67, 33), (1, 1), (9, NR + 3)] {
        for rule in RULES {
            for choice in [
                KernelChoice::Simd,
                KernelChoice::Scalar,
                KernelChoice::MatrixMultiply,
            ] {
                let want = updated(m, n, rule, choice, Parallelism::Sequential, false);
                for (threads, par) in [
                    (1, Parallelism::Sequential),
                    (2, Parallelism::Tiles),
                    (3, Parallelism::Tiles),
                    (2, Parallelism::RowBlocks),
                    (3, Parallelism::RowBlocks),
                ] {
                    let got = pool(threads).install(|| updated(m, n, rule, choice, par, true));
                    for (name, (g, w)) in ["parameter", "state 0", "state 1"]
                        .iter()
                        .zip(got.iter().zip(&want))
                    {
                        assert!(
                            same_bits(g, w),
                            "{rule:?} {choice:?} {par:?} ×{threads} {m}x{n}: {name} differs"
                        );
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "unit column stride")]
fn an_update_needs_a_row_major_gradient() {
    let (m, n) = (4, 3);
    let (a, b) = (values(2 * m, 1), values(2 * n, 2));
    let mut g = vec![0.0; m * n];
    let (mut p, mut s0, mut s1) = (vec![0.0; m * n], vec![0.0; m * n], vec![0.0; m * n]);
    gemm_with(
        KernelChoice::Simd,
        ARef::F32(MatRef::row_major(&a, 2, m).t()),
        MatRef::row_major(&b, 2, n),
        0.0,
        MatMut::new(&mut g, m, n, 1, m),
        Epilogue::Update(ParamUpdate {
            rule: RULES[0],
            param: &mut p,
            state: [&mut s0, &mut s1],
        }),
        Parallelism::Sequential,
    );
}

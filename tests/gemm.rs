//! `kernels::gemm` against the naive f64 reference: random shapes around the
//! block edges, the three products of a dense layer (by stride swaps), u8
//! input, every epilogue, beta 0/1, both parallelisms, every kernel choice
//! and every compiled SIMD tile; exact checks on integer data; bitwise
//! determinism across thread counts and across tiles.

use fastnn::kernels::params::{KC, MC, MC_MAX, MR, NC_FLOATS, NR, SCALAR_MR, SCALAR_NV};
use fastnn::kernels::{
    ARef, Activation, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, SimdTile, U8Rows,
    gemm_tile, gemm_with, reference, simd_tiles,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CHOICES: [KernelChoice; 3] = [
    KernelChoice::Simd,
    KernelChoice::Scalar,
    KernelChoice::MatrixMultiply,
];
const ACTS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
];

/// A local pool of 3 threads for `Parallelism::Tiles` runs.
fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Sizes that sit on block edges: 0, 1, primes, MR±1 and NR±1 of every
/// compiled tile, the scalar tile's + 1.
fn edge_size() -> impl Strategy<Value = usize> {
    let mut sizes = vec![0, 1, 2, 3, 5, 7, 13, 17, 31, SCALAR_MR + 1, SCALAR_NV + 1];
    for t in simd_tiles() {
        let (mr, nr) = (t.shape.mr, t.shape.nr());
        sizes.extend([mr - 1, mr, mr + 1, 2 * mr + 1, nr - 1, nr, nr + 1]);
    }
    sizes.sort_unstable();
    sizes.dedup();
    prop_oneof![prop::sample::select(sizes), 1usize..70]
}

/// The depth: as above plus KC + 1 (two k blocks).
fn depth() -> impl Strategy<Value = usize> {
    prop_oneof![4 => edge_size(), 1 => Just(KC + 1)]
}

/// How A is given.
#[derive(Clone, Copy, Debug)]
enum AKind {
    /// Row-major f32 (X·W, dY·Wᵀ).
    RowMajor,
    /// The transpose of a row-major matrix (Xᵀ·dY).
    Transposed,
    /// u8 pixel rows.
    U8,
    /// Transposed u8 pixel rows.
    U8T,
}

/// The epilogue to apply.
#[derive(Clone, Copy, Debug)]
enum Epi {
    None,
    BiasAct(Activation),
    ActGrad(Activation),
}

/// One random product.
#[derive(Clone, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    a_kind: AKind,
    /// B given as the transpose of a row-major matrix (dY·Wᵀ).
    b_t: bool,
    /// C column-major instead of row-major.
    c_t: bool,
    /// Leading floats before each operand.
    offset: usize,
    period: usize,
    epi: Epi,
    beta: f32,
    par: Parallelism,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    let akind = prop::sample::select(vec![
        AKind::RowMajor,
        AKind::Transposed,
        AKind::U8,
        AKind::U8T,
    ]);
    let act = prop::sample::select(ACTS.to_vec());
    let epi = prop_oneof![
        Just(Epi::None),
        act.clone().prop_map(Epi::BiasAct),
        act.prop_map(Epi::ActGrad),
    ];
    (
        (edge_size(), depth(), edge_size()),
        akind,
        any::<(bool, bool)>(),
        0usize..9,
        prop::sample::select(vec![1usize, 3, 28]),
        epi,
        prop::sample::select(vec![0.0f32, 1.0]),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |((m, k, n), a_kind, (b_t, c_t), offset, period, epi, beta, par, seed)| Case {
                m,
                k,
                n,
                a_kind,
                b_t,
                c_t,
                offset,
                period,
                epi,
                beta,
                par: if par {
                    Parallelism::Tiles
                } else {
                    Parallelism::Sequential
                },
                seed,
            },
        )
}

/// A small deterministic generator (xorshift), so cases are reproducible
/// from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1), or an integer in -3..=3 when `int`.
    fn value(&mut self, int: bool) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        if int {
            (u * 7.0).floor() - 3.0
        } else {
            u * 2.0 - 1.0
        }
    }
    fn values(&mut self, len: usize, int: bool) -> Vec<f32> {
        (0..len).map(|_| self.value(int)).collect()
    }
}

/// The operands of a case, owned.
struct Data {
    a: Vec<f32>,
    pixels: Vec<u8>,
    rows: Vec<u32>,
    scale: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
    bias: Vec<f32>,
    out: Vec<f32>,
}

impl Data {
    fn new(cs: &Case, int: bool) -> Data {
        let mut rng = Rng(cs.seed | 1);
        let (m, k, n, off) = (cs.m, cs.k, cs.n, cs.offset);
        let images = m.max(k) + 3;
        let row_len = match cs.a_kind {
            AKind::U8 => k,
            _ => m,
        };
        let nrows = match cs.a_kind {
            AKind::U8 => m,
            _ => k,
        };
        let pixels = (0..images * row_len)
            .map(|_| (rng.next() % 256) as u8)
            .collect();
        let rows = (0..nrows)
            .map(|_| (rng.next() % images as u64) as u32)
            .collect();
        let scale = (0..nrows * cs.period)
            .map(|_| {
                if int {
                    1.0
                } else {
                    (rng.next() % 1000) as f32 / 255_000.0
                }
            })
            .collect();
        let mut c0 = rng.values(off + m * n, int);
        if cs.beta == 0.0 {
            c0.iter_mut().for_each(|x| *x = f32::NAN);
        }
        // Activation outputs in the activation's range.
        let out = rng
            .values(off + m * n, int)
            .into_iter()
            .map(|x| if int { x } else { x * 0.5 + 0.5 })
            .collect();
        Data {
            a: rng.values(off + m * k, int),
            pixels,
            rows,
            scale,
            b: rng.values(off + k * n, int),
            c0,
            bias: rng.values(n, int),
            out,
        }
    }

    fn a_ref<'a>(&'a self, cs: &Case) -> ARef<'a> {
        let (m, k, off) = (cs.m, cs.k, cs.offset);
        let u8rows = |row_len| U8Rows {
            pixels: &self.pixels,
            row_len,
            rows: &self.rows,
            scale: &self.scale,
            period: cs.period,
            shift: if self.scale.first() == Some(&1.0) {
                -1.0
            } else {
                -0.25
            },
        };
        match cs.a_kind {
            AKind::RowMajor => ARef::F32(MatRef::row_major(&self.a[off..], m, k)),
            AKind::Transposed => ARef::F32(MatRef::row_major(&self.a[off..], k, m).t()),
            AKind::U8 => ARef::U8(u8rows(k)),
            AKind::U8T => ARef::U8T(u8rows(m)),
        }
    }

    fn b_ref(&self, cs: &Case) -> MatRef<'_> {
        let (k, n, off) = (cs.k, cs.n, cs.offset);
        if cs.b_t {
            MatRef::row_major(&self.b[off..], n, k).t()
        } else {
            MatRef::row_major(&self.b[off..], k, n)
        }
    }

    /// C's strides.
    fn c_strides(cs: &Case) -> (usize, usize) {
        if cs.c_t { (1, cs.m) } else { (cs.n, 1) }
    }

    fn epilogue<'a>(&'a self, cs: &Case) -> Epilogue<'a> {
        let (rs, cstr) = Self::c_strides(cs);
        match cs.epi {
            Epi::None => Epilogue::None,
            Epi::BiasAct(act) => Epilogue::BiasAct {
                bias: &self.bias,
                act,
            },
            Epi::ActGrad(act) => Epilogue::ActGrad {
                act,
                out: MatRef::new(&self.out[cs.offset..], cs.m, cs.n, rs, cstr),
            },
        }
    }

    /// Runs `choice` (or the reference) and returns C.
    fn run(&self, cs: &Case, choice: Option<KernelChoice>) -> Vec<f32> {
        self.run_by(cs, |a, b, cm, e| match choice {
            None => reference::gemm(a, b, cs.beta, cm, e),
            Some(ch) => gemm_with(ch, a, b, cs.beta, cm, e, cs.par),
        })
    }

    /// Runs the SIMD kernels with `tile` and returns C.
    fn run_tile(&self, cs: &Case, tile: &SimdTile) -> Vec<f32> {
        self.run_by(cs, |a, b, cm, e| {
            gemm_tile(tile, a, b, cs.beta, cm, e, cs.par);
        })
    }

    /// C after `f(a, b, c, epilogue)` on a fresh copy of C.
    fn run_by(
        &self,
        cs: &Case,
        f: impl FnOnce(ARef<'_>, MatRef<'_>, MatMut<'_>, Epilogue<'_>),
    ) -> Vec<f32> {
        let mut c = self.c0.clone();
        let (rs, cstr) = Self::c_strides(cs);
        let cm = MatMut::new(&mut c[cs.offset..], cs.m, cs.n, rs, cstr);
        f(self.a_ref(cs), self.b_ref(cs), cm, self.epilogue(cs));
        c
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Checks every kernel choice and every compiled SIMD tile against the
/// reference, and the tiles against each other bit for bit.
fn check_case(cs: &Case, int: bool) -> Result<(), TestCaseError> {
    let data = Data::new(cs, int);
    let want = data.run(cs, None);
    let tol = 2e-6 * (cs.k as f32 + 4.0);
    let check = |what: &str, got: &[f32]| -> Result<(), TestCaseError> {
        for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
            let ok = if int {
                g == w || (g.is_nan() && w.is_nan())
            } else {
                (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan())
            };
            prop_assert!(ok, "{what} {cs:?}: C[{idx}] = {g}, reference {w}");
        }
        Ok(())
    };
    let pool = pool(3);
    for choice in CHOICES {
        check(
            &format!("{choice:?}"),
            &pool.install(|| data.run(cs, Some(choice))),
        )?;
    }
    let first = pool.install(|| data.run_tile(cs, &simd_tiles()[0]));
    for tile in simd_tiles() {
        let got = pool.install(|| data.run_tile(cs, tile));
        check(&tile.name(), &got)?;
        prop_assert!(
            same_bits(&got, &first),
            "{} differs from {}: {cs:?}",
            tile.name(),
            simd_tiles()[0].name()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn matches_reference(cs in case()) {
        check_case(&cs, false)?;
    }

    /// Integer-valued inputs: every partial sum is exact, so the results
    /// must equal the reference exactly (sigmoid/tanh excluded).
    #[test]
    fn exact_on_integers(mut cs in case()) {
        cs.epi = match cs.epi {
            Epi::BiasAct(Activation::Sigmoid | Activation::Tanh) => Epi::BiasAct(Activation::Relu),
            Epi::ActGrad(Activation::Sigmoid) => Epi::ActGrad(Activation::Identity),
            e => e,
        };
        check_case(&cs, true)?;
    }
}

/// The trainer's shapes (MxKxN), forward, input gradient and weight
/// gradient, including u8 input.
#[test]
fn trainer_shapes_match_reference() {
    let shapes = [
        (32, 784, 128, AKind::U8),
        (784, 32, 128, AKind::U8T),
        (784, 32, 128, AKind::Transposed),
        (32, 128, 10, AKind::RowMajor),
        (32, 10, 128, AKind::RowMajor),
        (32, 128, 128, AKind::RowMajor),
        (128, 32, 128, AKind::Transposed),
        (128, 32, 10, AKind::Transposed),
    ];
    for (seed, (m, k, n, a_kind)) in shapes.into_iter().enumerate() {
        for (epi, b_t) in [
            (Epi::BiasAct(Activation::Relu), false),
            (Epi::ActGrad(Activation::Relu), true),
            (Epi::None, false),
        ] {
            let cs = Case {
                m,
                k,
                n,
                a_kind,
                b_t,
                c_t: false,
                offset: seed % 9,
                period: 28,
                epi,
                beta: 0.0,
                par: Parallelism::Tiles,
                seed: seed as u64 + 7,
            };
            check_case(&cs, false).unwrap();
        }
    }
}

/// B larger than one NC block (`k · n` over `NC_FLOATS`): two column blocks,
/// packed (Wᵀ) and in place.
#[test]
fn several_nc_blocks_match_reference() {
    let (k, n) = (2000, NC_FLOATS / 2000 + 3 * NR + 5);
    for b_t in [false, true] {
        let cs = Case {
            m: MR + 3,
            k,
            n,
            a_kind: AKind::RowMajor,
            b_t,
            c_t: false,
            offset: 1,
            period: 1,
            epi: Epi::BiasAct(Activation::Sigmoid),
            beta: 1.0,
            par: Parallelism::Tiles,
            seed: 5,
        };
        check_case(&cs, false).unwrap();
    }
}

/// `Sequential` and `Rayon` with 1, 2, 3 and 4 threads give bitwise equal
/// results: only output tiles are split, never k.
#[test]
fn bitwise_identical_across_thread_counts() {
    for (m, k, n, a_kind) in [
        (96, 300, 70, AKind::RowMajor),
        (784, 32, 128, AKind::U8T),
        (256, 784, 128, AKind::U8),
        (2 * MC + 3, 2 * KC + 5, 3 * NR + 1, AKind::Transposed),
    ] {
        let mut cs = Case {
            m,
            k,
            n,
            a_kind,
            b_t: false,
            c_t: false,
            offset: 3,
            period: 28,
            epi: Epi::BiasAct(Activation::Tanh),
            beta: 1.0,
            par: Parallelism::Sequential,
            seed: 99,
        };
        let data = Data::new(&cs, false);
        for choice in [KernelChoice::Simd, KernelChoice::Scalar] {
            cs.par = Parallelism::Sequential;
            let seq = data.run(&cs, Some(choice));
            cs.par = Parallelism::Tiles;
            for threads in 1..=4 {
                let par = pool(threads).install(|| data.run(&cs, Some(choice)));
                assert!(
                    same_bits(&seq, &par),
                    "{choice:?} {m}x{k}x{n} differs with {threads} threads"
                );
            }
        }
        for tile in simd_tiles() {
            cs.par = Parallelism::Sequential;
            let seq = data.run_tile(&cs, tile);
            cs.par = Parallelism::Tiles;
            for threads in [2, 3] {
                let par = pool(threads).install(|| data.run_tile(&cs, tile));
                assert!(
                    same_bits(&seq, &par),
                    "{} {m}x{k}x{n} differs with {threads} threads",
                    tile.name()
                );
            }
        }
    }
}

/// A·I = A exactly, for every micro-tile shape the dispatcher can pick
/// (rows 1..=MR, full and partial vectors), for every compiled tile.
#[test]
fn identity_product_is_exact() {
    let identity = |m: usize, n: usize, run: &dyn Fn(ARef<'_>, MatRef<'_>, MatMut<'_>)| {
        let a: Vec<f32> = (0..m * n).map(|x| x as f32 * 0.5 - 3.0).collect();
        let eye: Vec<f32> = (0..n * n)
            .map(|x| if x / n == x % n { 1.0 } else { 0.0 })
            .collect();
        let mut c = vec![f32::NAN; m * n];
        run(
            ARef::F32(MatRef::row_major(&a, m, n)),
            MatRef::row_major(&eye, n, n),
            MatMut::row_major(&mut c, m, n),
        );
        assert_eq!(a, c, "{m}x{n}");
    };
    let seq = Parallelism::Sequential;
    for m in 1..=SCALAR_MR + 1 {
        for n in [1, 3, SCALAR_NV - 1, SCALAR_NV, SCALAR_NV + 1, 2 * NR + 5] {
            identity(m, n, &|a, b, c| {
                gemm_with(KernelChoice::Scalar, a, b, 0.0, c, Epilogue::None, seq)
            });
        }
    }
    for tile in simd_tiles() {
        let (mr, nr) = (tile.shape.mr, tile.shape.nr());
        for m in 1..=mr + 1 {
            for n in [1, 3, nr / 2, nr - 1, nr, nr + 1, 2 * nr + 5] {
                identity(m, n, &|a, b, c| {
                    gemm_tile(tile, a, b, 0.0, c, Epilogue::None, seq)
                });
            }
        }
    }
}

/// Every compiled tile gives the same bits as every other, on awkward
/// shapes (row and column edges of each tile, two k blocks, several MC
/// blocks), every A layout, B and Bᵀ, C row- and column-major, each
/// epilogue, beta 0 and 1, one and three threads: the k blocking, not the
/// tile, fixes each element's order of additions.
#[test]
fn tiles_agree_bit_for_bit() {
    let akinds = [AKind::RowMajor, AKind::Transposed, AKind::U8, AKind::U8T];
    let epis = [
        Epi::None,
        Epi::BiasAct(Activation::Sigmoid),
        Epi::ActGrad(Activation::Tanh),
        Epi::BiasAct(Activation::Relu),
    ];
    let shapes = [
        (1, 1, 1),
        (13, 37, 29),
        (32, 784, 128),
        (2 * MC_MAX + 11, KC + 9, 3 * NR + 7),
        (25, 10, 10),
        (37, 2 * KC + 3, 70),
    ];
    let mut seed = 1;
    for (si, &(m, k, n)) in shapes.iter().enumerate() {
        for (ai, &a_kind) in akinds.iter().enumerate() {
            seed += 1;
            let cs = Case {
                m,
                k,
                n,
                a_kind,
                b_t: (si + ai) % 2 == 1,
                c_t: (si + ai) % 3 == 2,
                offset: seed as usize % 9,
                period: [1, 28][ai % 2],
                epi: epis[(si + ai) % epis.len()],
                beta: [0.0, 1.0][si % 2],
                par: [Parallelism::Sequential, Parallelism::Tiles][ai % 2],
                seed,
            };
            let data = Data::new(&cs, false);
            let want = pool(3).install(|| data.run_tile(&cs, &simd_tiles()[0]));
            for tile in simd_tiles() {
                let got = pool(3).install(|| data.run_tile(&cs, tile));
                assert!(same_bits(&got, &want), "{} differs: {cs:?}", tile.name());
            }
        }
    }
}

#[test]
#[should_panic(expected = "beta must be 0 or 1")]
fn rejects_other_beta() {
    let x = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    gemm_with(
        KernelChoice::Simd,
        ARef::F32(MatRef::row_major(&x, 2, 2)),
        MatRef::row_major(&x, 2, 2),
        0.5,
        MatMut::row_major(&mut c, 2, 2),
        Epilogue::None,
        Parallelism::Sequential,
    );
}

#[test]
#[should_panic(expected = "overlap")]
fn rejects_overlapping_c() {
    let x = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    let cm = MatMut {
        data: &mut c,
        rows: 2,
        cols: 2,
        rs: 0,
        cs: 1,
    };
    gemm_with(
        KernelChoice::Simd,
        ARef::F32(MatRef::row_major(&x, 2, 2)),
        MatRef::row_major(&x, 2, 2),
        0.0,
        cm,
        Epilogue::None,
        Parallelism::Sequential,
    );
}

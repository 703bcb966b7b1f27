//! `fastnn bench kernels`: GFLOP/s of fastnn's gemm and of matrixmultiply on
//! the trainer's shapes (and 512³), each as a share of the measured FMA
//! peak. The criterion bench `benches/gemm.rs` runs the same table.

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

use crate::kernels::{
    self, ARef, Activation, Epilogue, KernelChoice, MatMut, MatRef, Parallelism, SimdTile, U8Rows,
};

/// Which product of a dense layer a shape is, and so which layouts it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Product {
    /// Forward of the first layer: u8 pixel rows X (gathered, scaled while
    /// packing) times row-major W.
    ForwardU8,
    /// The same, as the trainer runs it for small batches: k split over
    /// the threads by the rows of W ([`kernels::gemm_k_tree`]).
    ForwardU8SplitK,
    /// Forward of a hidden layer: row-major H times row-major W.
    Forward,
    /// Input gradient: row-major dY times Wᵀ (a stride swap of W).
    InputGrad,
    /// Weight gradient of the first layer: Xᵀ (transposed u8 rows) times dY.
    WeightGradU8,
    /// Weight gradient of a hidden layer: Hᵀ (a stride swap) times dY.
    WeightGrad,
}

impl Product {
    /// The product as written in the table.
    pub fn formula(self) -> &'static str {
        match self {
            Product::ForwardU8 => "X·W (u8)",
            Product::ForwardU8SplitK => "X·W split k",
            Product::Forward => "H·W",
            Product::InputGrad => "dY·Wᵀ",
            Product::WeightGradU8 => "Xᵀ·dY (u8)",
            Product::WeightGrad => "Hᵀ·dY",
        }
    }
}

/// One benchmarked product: `m × k` times `k × n`.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Rows of A and C.
    pub m: usize,
    /// The shared dimension.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Which product, i.e. which layouts.
    pub product: Product,
}

/// The trainer's products (batch 32 and 256; `fashion` 784-128-10 and
/// `mnist` 784-128-128-10), then square 512³ (row-major, as `Forward`).
pub const SHAPES: &[Shape] = &[
    Shape {
        m: 32,
        k: 784,
        n: 128,
        product: Product::ForwardU8,
    },
    Shape {
        m: 32,
        k: 784,
        n: 128,
        product: Product::ForwardU8SplitK,
    },
    Shape {
        m: 256,
        k: 784,
        n: 128,
        product: Product::ForwardU8,
    },
    Shape {
        m: 784,
        k: 32,
        n: 128,
        product: Product::WeightGradU8,
    },
    Shape {
        m: 784,
        k: 256,
        n: 128,
        product: Product::WeightGradU8,
    },
    Shape {
        m: 32,
        k: 128,
        n: 10,
        product: Product::Forward,
    },
    Shape {
        m: 32,
        k: 10,
        n: 128,
        product: Product::InputGrad,
    },
    Shape {
        m: 32,
        k: 128,
        n: 128,
        product: Product::Forward,
    },
    Shape {
        m: 32,
        k: 128,
        n: 128,
        product: Product::InputGrad,
    },
    Shape {
        m: 128,
        k: 32,
        n: 128,
        product: Product::WeightGrad,
    },
    Shape {
        m: 128,
        k: 32,
        n: 10,
        product: Product::WeightGrad,
    },
    Shape {
        m: 512,
        k: 512,
        n: 512,
        product: Product::Forward,
    },
];

impl Shape {
    /// `"MxKxN"`.
    pub fn name(&self) -> String {
        format!("{}x{}x{}", self.m, self.k, self.n)
    }

    /// Floating-point operations of one product (`2·m·n·k`).
    pub fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }
}

/// Owned operands of one shape, deterministic pseudo-random values.
pub struct Operands {
    shape: Shape,
    /// A as f32 (for u8 products: the converted pixels, which is what
    /// matrixmultiply, reading only f32, is given).
    a: Vec<f32>,
    pixels: Vec<u8>,
    rows: Vec<u32>,
    scale: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    /// Partial sums of a split-k product.
    partials: Vec<f32>,
}

impl Operands {
    /// Operands for `shape`.
    pub fn new(shape: Shape) -> Operands {
        let Shape { m, k, n, product } = shape;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (images, row_len) = match product {
            Product::ForwardU8 | Product::ForwardU8SplitK => (m, k),
            Product::WeightGradU8 => (k, m),
            _ => (0, 0),
        };
        let pixels: Vec<u8> = (0..images * row_len).map(|_| next() as u8).collect();
        let rows: Vec<u32> = (0..images as u32).rev().collect();
        let scale = vec![1.0 / 255.0; images];
        let mut ops = Operands {
            shape,
            a: Vec::new(),
            pixels,
            rows,
            scale,
            b: (0..k * n)
                .map(|_| (next() >> 40) as f32 / 1.6e7 - 0.5)
                .collect(),
            c: vec![0.0; m * n],
            partials: match product {
                Product::ForwardU8SplitK => vec![0.0; kernels::k_tree_partials_len(m, n, k)],
                _ => Vec::new(),
            },
        };
        ops.a = match product {
            Product::ForwardU8 | Product::ForwardU8SplitK | Product::WeightGradU8 => {
                let a = ops.a_ref_u8();
                (0..m)
                    .flat_map(|i| (0..k).map(move |p| a.at(i, p)))
                    .collect()
            }
            _ => (0..m * k)
                .map(|_| (next() >> 40) as f32 / 1.6e7 - 0.5)
                .collect(),
        };
        ops
    }

    /// A as fastnn takes it (u8 where the trainer has u8).
    fn a_ref_u8(&self) -> ARef<'_> {
        let Shape { m, k, product, .. } = self.shape;
        let u = |row_len| U8Rows {
            pixels: &self.pixels,
            row_len,
            rows: &self.rows,
            scale: &self.scale,
            period: 1,
            shift: 0.0,
        };
        match product {
            Product::ForwardU8 | Product::ForwardU8SplitK => ARef::U8(u(k)),
            Product::WeightGradU8 => ARef::U8T(u(m)),
            _ => self.a_ref_f32(),
        }
    }

    /// A as f32, with the product's layout (row-major, or the transpose of a
    /// row-major matrix for weight gradients).
    fn a_ref_f32(&self) -> ARef<'_> {
        let Shape { m, k, product, .. } = self.shape;
        ARef::F32(match product {
            Product::WeightGrad => MatRef::row_major(&self.a, k, m).t(),
            _ => MatRef::row_major(&self.a, m, k),
        })
    }

    /// B with the product's layout (Wᵀ for input gradients).
    fn b_ref(&self) -> MatRef<'_> {
        let Shape { k, n, product, .. } = self.shape;
        match product {
            Product::InputGrad => MatRef::row_major(&self.b, n, k).t(),
            _ => MatRef::row_major(&self.b, k, n),
        }
    }

    /// One product `C = A·B` by `choice` (matrixmultiply gets f32 A).
    pub fn run(&mut self, choice: KernelChoice, par: Parallelism) {
        let Shape { m, n, .. } = self.shape;
        let mut c = std::mem::take(&mut self.c);
        let mut partials = std::mem::take(&mut self.partials);
        let a = match choice {
            KernelChoice::MatrixMultiply => self.a_ref_f32(),
            _ => self.a_ref_u8(),
        };
        let c_mat = MatMut::row_major(&mut c, m, n);
        if self.shape.product == Product::ForwardU8SplitK {
            let e = Epilogue::None;
            kernels::gemm_k_tree(choice, a, self.b_ref(), c_mat, e, par, &mut partials);
        } else {
            kernels::gemm_with(choice, a, self.b_ref(), 0.0, c_mat, Epilogue::None, par);
        }
        self.c = c;
        self.partials = partials;
    }

    /// One product with a given SIMD tile instead of the selected one, on
    /// the calling thread.
    pub fn run_tile(&mut self, tile: &SimdTile) {
        let Shape { m, n, .. } = self.shape;
        let mut c = std::mem::take(&mut self.c);
        let mut partials = std::mem::take(&mut self.partials);
        let (a, b) = (self.a_ref_u8(), self.b_ref());
        let c_mat = MatMut::row_major(&mut c, m, n);
        let (e, seq) = (Epilogue::None, Parallelism::Sequential);
        if self.shape.product == Product::ForwardU8SplitK {
            kernels::gemm_k_tree_tile(tile, a, b, c_mat, e, seq, &mut partials);
        } else {
            kernels::gemm_tile(tile, a, b, 0.0, c_mat, e, seq);
        }
        self.c = c;
        self.partials = partials;
    }

    /// One product by the naive reference.
    pub fn run_naive(&mut self) {
        let Shape { m, n, .. } = self.shape;
        let mut c = std::mem::take(&mut self.c);
        kernels::reference::gemm(
            self.a_ref_u8(),
            self.b_ref(),
            0.0,
            MatMut::row_major(&mut c, m, n),
            Epilogue::None,
        );
        self.c = c;
    }

    /// A forward product with the fused bias + relu epilogue, to show what
    /// fusing costs (nothing measurable).
    pub fn run_bias_relu(&mut self, bias: &[f32], par: Parallelism) {
        let Shape { m, n, .. } = self.shape;
        let mut c = std::mem::take(&mut self.c);
        kernels::gemm_with(
            KernelChoice::Simd,
            self.a_ref_u8(),
            self.b_ref(),
            0.0,
            MatMut::row_major(&mut c, m, n),
            Epilogue::BiasAct {
                bias,
                act: Activation::Relu,
            },
            par,
        );
        self.c = c;
    }
}

/// One row of `fastnn bench kernels`.
#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    /// `"MxKxN"`.
    pub shape: String,
    /// Which product (layouts), e.g. `"dY·Wᵀ"`.
    pub product: String,
    /// Threads fastnn ran on (matrixmultiply always runs on one).
    pub threads: usize,
    /// fastnn's median GFLOP/s.
    pub fastnn_gflops: f64,
    /// matrixmultiply's median GFLOP/s.
    pub matrixmultiply_gflops: f64,
    /// The median over alternating rounds of fastnn / matrixmultiply.
    pub ratio: f64,
    /// fastnn's best round (the least disturbed on a shared machine).
    pub fastnn_best_gflops: f64,
    /// matrixmultiply's best round.
    pub matrixmultiply_best_gflops: f64,
    /// The measured FMA peak for `threads` threads.
    pub peak_gflops: f64,
    /// `fastnn_gflops / peak_gflops`.
    pub fastnn_share_of_peak: f64,
    /// `matrixmultiply_gflops / peak_gflops` (single-thread peak).
    pub matrixmultiply_share_of_peak: f64,
    /// On one thread: every compiled SIMD tile on this shape (the selected
    /// one is `fastnn_gflops`), to confirm or refute the tile choice.
    pub tiles: Vec<TileSpeed>,
}

/// One compiled SIMD tile on one shape (one thread).
#[derive(Clone, Debug, Serialize)]
pub struct TileSpeed {
    /// `"MRxNR"`.
    pub tile: String,
    /// Median GFLOP/s over rounds in which all tiles alternate.
    pub gflops: f64,
    /// The best round.
    pub best_gflops: f64,
}

/// Every compiled tile on `shape`, one thread: `rounds` rounds of about
/// `min_s` each, the tiles alternating within a round.
fn tile_speeds(shape: Shape, rounds: usize, min_s: f64) -> Vec<TileSpeed> {
    let tiles = kernels::simd_tiles();
    let mut ops = Operands::new(shape);
    let reps: Vec<usize> = tiles
        .iter()
        .map(|t| reps_for(min_s, &mut || ops.run_tile(t)))
        .collect();
    let mut runs = vec![Vec::new(); tiles.len()];
    for _ in 0..rounds {
        for ((t, &r), v) in tiles.iter().zip(&reps).zip(&mut runs) {
            v.push(gflops(shape.flops(), r, &mut || {
                ops.run_tile(t);
                black_box(&ops.c);
            }));
        }
    }
    tiles
        .iter()
        .zip(runs)
        .map(|(t, mut v)| TileSpeed {
            tile: t.name(),
            gflops: median(&mut v),
            best_gflops: v[v.len() - 1],
        })
        .collect()
}

/// Repetitions of `f` that take about `min_s` (after one warm-up call).
fn reps_for(min_s: f64, f: &mut impl FnMut()) -> usize {
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-7);
    ((min_s / once).ceil() as usize).clamp(1, 1 << 20)
}

/// GFLOP/s of one timed run of `reps` calls of `f`.
fn gflops(flops: u64, reps: usize, f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    (flops * reps as u64) as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// The median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs every shape of [`SHAPES`] with fastnn on `threads` threads (a rayon
/// pool of that size) and matrixmultiply on one. The two are timed in
/// alternating rounds, so on a shared machine both see the same
/// interference; `ratio` is the median of the per-round ratios. The FMA
/// peak is the best of measurements before and after. `quick` takes fewer,
/// shorter rounds.
pub fn run(threads: usize, quick: bool) -> Vec<KernelRow> {
    use crate::kernels::cpu::measure_fma_peak_gflops;
    let threads = threads.max(1);
    let (rounds, min_s) = if quick { (5, 0.003) } else { (15, 0.02) };
    let pool = crate::engine::Engine::new(threads).ok();
    let par = if threads > 1 {
        Parallelism::Tiles
    } else {
        Parallelism::Sequential
    };
    let peaks = || (measure_fma_peak_gflops(1), measure_fma_peak_gflops(threads));
    let (p1, pt) = peaks();
    let mut rows: Vec<KernelRow> = SHAPES
        .iter()
        .map(|&shape| {
            let mut ops = Operands::new(shape);
            let flops = shape.flops();
            let mut ours = || {
                ops.run(KernelChoice::Simd, par);
                black_box(&ops.c);
            };
            let mut ours_round = |reps: Option<usize>| {
                let mut go = || match reps {
                    None => reps_for(min_s, &mut ours) as f64,
                    Some(r) => gflops(flops, r, &mut ours),
                };
                match &pool {
                    Some(p) if threads > 1 => p.install(go),
                    _ => go(),
                }
            };
            let ours_reps = ours_round(None) as usize;
            let mut mm_ops = Operands::new(shape);
            let mut mm = || {
                mm_ops.run(KernelChoice::MatrixMultiply, Parallelism::Sequential);
                black_box(&mm_ops.c);
            };
            let mm_reps = reps_for(min_s, &mut mm);
            let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let x = ours_round(Some(ours_reps));
                let y = gflops(flops, mm_reps, &mut mm);
                a.push(x);
                b.push(y);
                r.push(x / y);
            }
            let fastnn_gflops = median(&mut a);
            let matrixmultiply_gflops = median(&mut b);
            KernelRow {
                shape: shape.name(),
                product: shape.product.formula().to_string(),
                threads,
                fastnn_gflops,
                matrixmultiply_gflops,
                ratio: median(&mut r),
                fastnn_best_gflops: a[a.len() - 1],
                matrixmultiply_best_gflops: b[b.len() - 1],
                peak_gflops: pt,
                fastnn_share_of_peak: 0.0,
                matrixmultiply_share_of_peak: p1,
                tiles: match threads {
                    1 => tile_speeds(shape, (rounds as usize).div_ceil(2), min_s),
                    _ => Vec::new(),
                },
            }
        })
        .collect();
    let (q1, qt) = peaks();
    let (p1, pt) = (p1.max(q1), pt.max(qt));
    for row in &mut rows {
        row.peak_gflops = pt;
        row.fastnn_share_of_peak = row.fastnn_gflops / pt;
        row.matrixmultiply_share_of_peak = row.matrixmultiply_gflops / p1;
    }
    rows
}

/// A plain-text table of `rows`.
pub fn format_table(rows: &[KernelRow]) -> String {
    let mut s = format!(
        "{:<12} {:<11} {:>3} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6}\n",
        "shape",
        "product",
        "thr",
        "fastnn",
        "mmul",
        "ratio",
        "best",
        "best mm",
        "peak",
        "ours%",
        "mmul%"
    );
    for r in rows {
        s += &format!(
            "{:<12} {:<11} {:>3} {:>7.1} {:>7.1} {:>5.2}x {:>7.1} {:>7.1} {:>7.1} {:>5.0}% {:>5.0}%\n",
            r.shape,
            r.product,
            r.threads,
            r.fastnn_gflops,
            r.matrixmultiply_gflops,
            r.ratio,
            r.fastnn_best_gflops,
            r.matrixmultiply_best_gflops,
            r.peak_gflops,
            100.0 * r.fastnn_share_of_peak,
            100.0 * r.matrixmultiply_share_of_peak
        );
    }
    s += "GFLOP/s: medians of alternating rounds (ratio: median of per-round ratios), and the \
         best round; mmul = matrixmultiply (one thread, given f32 A); peak = measured FMA peak\n";
    s + &format_tile_table(rows)
}

/// The one-thread rows' per-tile speeds as a table (empty if none): one
/// column per compiled tile, the selected tile marked `*`, each as GFLOP/s
/// and share of the peak.
pub fn format_tile_table(rows: &[KernelRow]) -> String {
    let rows: Vec<&KernelRow> = rows.iter().filter(|r| !r.tiles.is_empty()).collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let selected = kernels::selected_tile().tile.name();
    let mut s = format!(
        "\nEvery compiled tile, one thread (median GFLOP/s, share of peak; * = selected, {})\n{:<12} {:<11}",
        kernels::selected_tile().reason,
        "shape",
        "product"
    );
    for t in &first.tiles {
        let mark = if t.tile == selected { "*" } else { "" };
        s += &format!(" {:>13}", format!("{}{mark}", t.tile));
    }
    s += "\n";
    for r in rows {
        s += &format!("{:<12} {:<11}", r.shape, r.product);
        for t in &r.tiles {
            s += &format!(
                " {:>7.1} {:>4.0}%",
                t.gflops,
                100.0 * t.gflops / r.peak_gflops
            );
        }
        s += "\n";
    }
    s
}

/// The rows in the common benchmark schema (see [`super::Record`]); the
/// value is fastnn's median GFLOP/s.
pub fn records(rows: &[KernelRow]) -> Vec<super::Record<KernelRow>> {
    let machine = super::Machine::current();
    rows.iter()
        .map(|r| super::Record {
            suite: "kernels",
            name: format!("{} {} t{}", r.shape, r.product, r.threads),
            system: "fastnn".into(),
            threads: r.threads,
            value: r.fastnn_gflops,
            unit: "GFLOP/s",
            higher_is_better: true,
            spread: [r.fastnn_gflops, r.fastnn_gflops],
            runs: 1,
            machine: machine.clone(),
            detail: r.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_line_per_row() {
        let row = KernelRow {
            shape: "1x2x3".into(),
            product: "H·W".into(),
            threads: 1,
            fastnn_gflops: 2.0,
            matrixmultiply_gflops: 1.0,
            ratio: 2.0,
            fastnn_best_gflops: 2.5,
            matrixmultiply_best_gflops: 1.5,
            peak_gflops: 4.0,
            fastnn_share_of_peak: 0.5,
            matrixmultiply_share_of_peak: 0.25,
            tiles: Vec::new(),
        };
        let t = format_table(&[row.clone(), row.clone()]);
        assert_eq!(t.lines().count(), 4);
        assert!(t.contains("2.00x"));
        let tiles = vec![TileSpeed {
            tile: "8x32".into(),
            gflops: 3.0,
            best_gflops: 3.5,
        }];
        let t = format_table(&[KernelRow { tiles, ..row }]);
        assert_eq!(t.lines().count(), 7, "{t}");
        assert!(t.contains("75%"), "{t}");
    }

    #[test]
    fn operands_agree_between_paths() {
        for &shape in &SHAPES[..SHAPES.len() - 1] {
            let mut ops = Operands::new(shape);
            ops.run(KernelChoice::Simd, Parallelism::Sequential);
            let ours = ops.c.clone();
            ops.run(KernelChoice::MatrixMultiply, Parallelism::Sequential);
            for (x, y) in ours.iter().zip(&ops.c) {
                assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "{}", shape.name());
            }
        }
    }

    /// Development view on a noisy machine: fastnn and matrixmultiply timed
    /// in alternation (so both see the same interference); prints the best
    /// of each and the median of the per-round ratios. `FASTNN_SHAPES=0,3`
    /// picks shapes.
    #[test]
    #[ignore]
    fn print_best_of() {
        let pick: Option<Vec<usize>> = std::env::var("FASTNN_SHAPES")
            .ok()
            .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect());
        for (i, &shape) in SHAPES.iter().enumerate() {
            if pick.as_ref().is_some_and(|p| !p.contains(&i)) {
                continue;
            }
            let mut ops = Operands::new(shape);
            let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let mut a = || {
                ops.run(KernelChoice::Simd, Parallelism::Sequential);
                black_box(&ops.c);
            };
            let mut mm_ops = Operands::new(shape);
            let mut b = || {
                mm_ops.run(KernelChoice::MatrixMultiply, Parallelism::Sequential);
                black_box(&mm_ops.c);
            };
            let (ra, rb) = (reps_for(0.001, &mut a), reps_for(0.001, &mut b));
            for _ in 0..41 {
                let x = gflops(shape.flops(), ra, &mut a);
                let y = gflops(shape.flops(), rb, &mut b);
                ours.push(x);
                theirs.push(y);
                ratios.push(x / y);
            }
            for v in [&mut ours, &mut theirs, &mut ratios] {
                v.sort_by(f64::total_cmp);
            }
            println!(
                "{i:>2} {:<12} {:<11} ours best {:>6.1}  mmul best {:>6.1}  ratio median {:.2}",
                shape.name(),
                shape.product.formula(),
                ours[40],
                theirs[40],
                ratios[20]
            );
        }
    }

    /// Prints the table: `cargo test --release --lib print_kernel_table --
    /// --ignored --nocapture` (timings, so never part of the normal run);
    /// `FASTNN_THREADS=2`, `FASTNN_QUICK=1`.
    #[test]
    #[ignore]
    fn print_kernel_table() {
        let quick = std::env::var_os("FASTNN_QUICK").is_some();
        let threads = std::env::var("FASTNN_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1);
        println!("{}", crate::kernels::describe());
        println!("{}", format_table(&run(threads, quick)));
    }
}

//! Packing: copying a block of A or B into the order the micro-kernel
//! reads, so that every layout (row-major, the stride-swapped transposes of
//! dY·Wᵀ and Xᵀ·dY, u8 pixel rows) costs the same in the inner loop.
//!
//! A is packed in micro-panels of `MR` rows, k-major (`panel[p * MR + i]`);
//! B in micro-panels of `w ≤ NR` columns, k-major (`panel[p * w + j]`).
//! Rows or columns past the matrix are zero, so a padded lane adds 0.
//! u8 pixels are converted (`p as f32 * scale + shift`, the same two
//! roundings as [`U8Rows::at`]) while packing, so the first layer never
//! needs an f32 copy of the images.

use wide::f32x8;

use super::{ARef, MatRef, U8Rows};

/// Transposes an 8×8 block (`rows[i]` = row i) and stores row `q` of the
/// transpose at `dst[q * stride..][..8]`: the shuffle network of
/// `f32x8::transpose` (AVX) instead of 64 scalar scatters.
#[inline(always)]
fn transpose8_store(rows: [f32x8; 8], dst: &mut [f32], stride: usize) {
    transpose8_store_h(rows, dst, stride, 8);
}

/// As [`transpose8_store`], but only the first `h ≤ 8` columns of the
/// transpose (the rows `0..h` of the block that exist): the last group of
/// an A panel whose `MR` is not a multiple of 8 (6, 12).
#[inline(always)]
fn transpose8_store_h(rows: [f32x8; 8], dst: &mut [f32], stride: usize, h: usize) {
    for (q, v) in f32x8::transpose(rows).iter().enumerate() {
        if h == 8 {
            dst[q * stride..q * stride + 8].copy_from_slice(v.as_array());
        } else {
            copy_short(&mut dst[q * stride..], v.as_array(), h);
        }
    }
}

/// `dst[..len] = src[..len]` for short runtime lengths (edge panels, edge
/// tiles) without a `memcpy` call: 8-float vector moves, then a scalar tail.
///
/// # Panics
/// If either slice is shorter than `len`.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [f32], src: &[f32], len: usize) {
    let (dst, src) = (&mut dst[..len], &src[..len]);
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s8 = src.chunks_exact(8);
    for (d, s) in (&mut d8).zip(&mut s8) {
        d.copy_from_slice(s);
    }
    for (d, s) in d8.into_remainder().iter_mut().zip(s8.remainder()) {
        *d = *s;
    }
}

/// `src[..8]` converted: `px as f32 * scale + shift` (the same two roundings
/// as [`U8Rows::at`]), in a form that vectorizes.
#[inline(always)]
fn u8x8(src: &[u8], scale: f32, shift: f32) -> f32x8 {
    let px: &[u8; 8] = src[..8].try_into().expect("8 pixels");
    let mut x = [0.0f32; 8];
    for (x, &p) in x.iter_mut().zip(px) {
        *x = p as f32 * scale + shift;
    }
    f32x8::new(x)
}

/// `src[..8]` converted with one factor each: `px as f32 * scale[t] + shift`.
#[inline(always)]
fn u8x8_mul(src: &[u8], scale: &[f32], shift: f32) -> f32x8 {
    let px: &[u8; 8] = src[..8].try_into().expect("8 pixels");
    let sc: &[f32; 8] = scale[..8].try_into().expect("8 factors");
    let mut x = [0.0f32; 8];
    for ((x, &p), &s) in x.iter_mut().zip(px).zip(sc) {
        *x = p as f32 * s + shift;
    }
    f32x8::new(x)
}

/// Advances a scale phase (`k % period`) by one without a division.
#[inline(always)]
fn next_phase(j: &mut usize, period: usize) {
    *j += 1;
    if *j == period {
        *j = 0;
    }
}

/// Eight floats at `src[..8]` as a vector.
#[inline(always)]
fn load8(src: &[f32]) -> f32x8 {
    let a: [f32; 8] = src[..8].try_into().expect("8 floats");
    f32x8::new(a)
}

/// Packs rows `i0..i0 + rows`, columns `p0..p0 + kc` of `a` into
/// `ceil(rows / MR)` micro-panels of `MR × kc` at the start of `dst`.
///
/// # Panics
/// If `dst` is shorter than `ceil(rows / MR) · MR · kc`, or the block lies
/// outside `a` (the caller checked both).
pub fn pack_a<const MR: usize>(
    a: &ARef<'_>,
    i0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    dst: &mut [f32],
) {
    if kc == 0 {
        return;
    }
    let panels = rows.div_ceil(MR);
    if let ARef::U8T(u) = a {
        pack_a_u8t_block::<MR>(u, i0, rows, p0, kc, &mut dst[..panels * MR * kc]);
        return;
    }
    for (q, panel) in dst[..panels * MR * kc]
        .chunks_exact_mut(MR * kc)
        .enumerate()
    {
        let r0 = i0 + q * MR;
        let r = MR.min(rows - q * MR);
        if r < MR {
            panel.fill(0.0);
        }
        match a {
            ARef::F32(m) => pack_a_f32::<MR>(m, r0, r, p0, kc, panel),
            ARef::U8(u) => pack_a_u8::<MR>(u, r0, r, p0, kc, panel),
            ARef::U8T(_) => unreachable!("packed by pack_a_u8t_block"),
        }
    }
}

/// One f32 micro-panel: rows `r0..r0 + r`.
fn pack_a_f32<const MR: usize>(
    m: &MatRef<'_>,
    r0: usize,
    r: usize,
    p0: usize,
    kc: usize,
    panel: &mut [f32],
) {
    if m.rs == 1 {
        // A = Xᵀ of a row-major X: each k step is `r` contiguous floats.
        if r == MR {
            for (p, d) in panel.chunks_exact_mut(MR).enumerate() {
                let s = r0 + (p0 + p) * m.cs;
                d.copy_from_slice(&m.data[s..s + MR]);
            }
        } else {
            for (p, d) in panel.chunks_exact_mut(MR).enumerate() {
                let s = r0 + (p0 + p) * m.cs;
                copy_short(d, &m.data[s..], r);
            }
        }
    } else if m.cs == 1 {
        // Row-major A (X, dY): groups of up to 8 rows × 8 k through a
        // register transpose, then the k tail one element at a time. A full
        // panel is its own call so that its group sizes are constants.
        let p = if r == MR {
            transpose_rows_f32::<MR>(m, r0, MR, p0, kc, panel)
        } else {
            transpose_rows_f32::<MR>(m, r0, r, p0, kc, panel)
        };
        for i in 0..r {
            let s = (r0 + i) * m.rs + p0;
            let src = &m.data[s + p..s + kc];
            for (d, &x) in panel[p * MR..].chunks_exact_mut(MR).zip(src) {
                d[i] = x;
            }
        }
    } else {
        for (p, d) in panel.chunks_exact_mut(MR).enumerate() {
            for (i, x) in d[..r].iter_mut().enumerate() {
                *x = m.at(r0 + i, p0 + p);
            }
        }
    }
}

/// Rows `r0..r0 + r` of a row-major A, k steps `p0..p0 + kc` rounded down
/// to 8, into an `MR`-row panel: groups of 8 rows × 8 k through a register
/// transpose ([`row_groups`]; fewer than 8 rows padded with zero rows).
/// Returns the k steps packed.
#[inline(always)]
fn transpose_rows_f32<const MR: usize>(
    m: &MatRef<'_>,
    r0: usize,
    r: usize,
    p0: usize,
    kc: usize,
    panel: &mut [f32],
) -> usize {
    for p in eights(kc) {
        for (g, h) in row_groups(r) {
            let s0 = (r0 + g) * m.rs + p0 + p;
            let mut rows = [f32x8::ZERO; 8];
            for (i, row) in rows[..h].iter_mut().enumerate() {
                *row = load8(&m.data[s0 + i * m.rs..]);
            }
            transpose8_store_h(rows, &mut panel[p * MR + g..], MR, h);
        }
    }
    eights_cover(kc)
}

/// The starts of the 8-wide groups that cover `0..len` (k steps, or
/// columns of B) with 8×8 transposes: 0, 8, …, and a last group moved back
/// to end at `len` (its first entries transposed twice, the same values
/// stored twice) instead of a tail packed one element at a time; none if
/// `len < 8`.
#[inline(always)]
fn eights(len: usize) -> impl Iterator<Item = usize> {
    let last = (len >= 8 && !len.is_multiple_of(8)).then(|| len - 8);
    (0..len / 8).map(|q| q * 8).chain(last)
}

/// How many entries [`eights`] covers: all of them, or none.
#[inline(always)]
fn eights_cover(len: usize) -> usize {
    if len >= 8 { len } else { 0 }
}

/// The groups of rows `(first, count)` that cover rows `0..r` with 8×8
/// transposes: groups of 8, the last one moved back to end at `r` (rows
/// 4..8 of a 12-row panel are transposed twice, the same values stored
/// twice) so that every store is 8 wide; fewer than 8 rows are one group.
#[inline(always)]
fn row_groups(r: usize) -> impl Iterator<Item = (usize, usize)> {
    let h = r.min(8);
    (0..r.div_ceil(8)).map(move |q| ((q * 8).min(r - h), h))
}

/// One u8 micro-panel (rows of pixels): rows `r0..r0 + r`.
fn pack_a_u8<const MR: usize>(
    u: &U8Rows<'_>,
    r0: usize,
    r: usize,
    p0: usize,
    kc: usize,
    panel: &mut [f32],
) {
    let src = |i: usize| {
        let s = u.rows[r0 + i] as usize * u.row_len + p0;
        &u.pixels[s..s + kc]
    };
    let scale = |i: usize| &u.scale[(r0 + i) * u.period..(r0 + i + 1) * u.period];
    // A full panel is its own call so that its group sizes are constants.
    let p = if r == MR {
        transpose_rows_u8::<MR>(u, r0, MR, p0, kc, panel)
    } else {
        transpose_rows_u8::<MR>(u, r0, r, p0, kc, panel)
    };
    for i in 0..r {
        let scale = scale(i);
        let mut j = (p0 + p) % u.period;
        for (d, &px) in panel[p * MR..].chunks_exact_mut(MR).zip(&src(i)[p..]) {
            d[i] = px as f32 * scale[j] + u.shift;
            next_phase(&mut j, u.period);
        }
    }
}

/// Rows `r0..r0 + r` of u8 pixel rows, k steps `p0..p0 + kc` rounded
/// down to 8, into an `MR`-row panel: 8 pixels of each of 8 rows
/// converted, then transposed in registers ([`row_groups`]; fewer than 8
/// rows padded with zero rows). Returns the k steps packed.
#[inline(always)]
fn transpose_rows_u8<const MR: usize>(
    u: &U8Rows<'_>,
    r0: usize,
    r: usize,
    p0: usize,
    kc: usize,
    panel: &mut [f32],
) -> usize {
    let src = |i: usize| {
        let s = u.rows[r0 + i] as usize * u.row_len + p0;
        &u.pixels[s..s + kc]
    };
    let scale = |i: usize| &u.scale[(r0 + i) * u.period..(r0 + i + 1) * u.period];
    let srcs: [&[u8]; MR] = std::array::from_fn(|i| if i < r { src(i) } else { &[] });
    if u.period == 1 {
        // One factor per row (plain scaling).
        let scales: [f32; MR] = std::array::from_fn(|i| if i < r { scale(i)[0] } else { 0.0 });
        for p in eights(kc) {
            for (g, h) in row_groups(r) {
                let mut rows = [f32x8::ZERO; 8];
                for (i, row) in rows[..h].iter_mut().enumerate() {
                    *row = u8x8(&srcs[g + i][p..], scales[g + i], u.shift);
                }
                transpose8_store_h(rows, &mut panel[p * MR + g..], MR, h);
            }
        }
    } else {
        // A scale per image column (keras-normalize): the phase
        // `k % period` is the same for every row, and 8 consecutive
        // factors are contiguous unless they wrap around the period.
        let scales: [&[f32]; MR] = std::array::from_fn(|i| if i < r { scale(i) } else { &[] });
        for p in eights(kc) {
            let phase = (p0 + p) % u.period;
            for (g, h) in row_groups(r) {
                let mut rows = [f32x8::ZERO; 8];
                for (i, row) in rows[..h].iter_mut().enumerate() {
                    let (px, sc) = (&srcs[g + i][p..], scales[g + i]);
                    *row = if phase + 8 <= u.period {
                        u8x8_mul(px, &sc[phase..], u.shift)
                    } else {
                        let mut x = [0.0f32; 8];
                        let mut j = phase;
                        for (x, &v) in x.iter_mut().zip(&px[..8]) {
                            *x = v as f32 * sc[j] + u.shift;
                            next_phase(&mut j, u.period);
                        }
                        f32x8::new(x)
                    };
                }
                transpose8_store_h(rows, &mut panel[p * MR + g..], MR, h);
            }
        }
    }
    eights_cover(kc)
}

/// All micro-panels of transposed u8 rows: A(i, k) is pixel `i` of image
/// `rows[k]`, so each k step is one image whose `rows` contiguous pixels are
/// converted once and spread over the panels (the per-image index and slice
/// checks are paid once per k, not once per panel). With a scale per image
/// column (period > 1), a panel's factors are contiguous unless they wrap.
fn pack_a_u8t_block<const MR: usize>(
    u: &U8Rows<'_>,
    i0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    dst: &mut [f32],
) {
    let full = rows / MR;
    if full * MR < rows {
        // Zero the padding rows of the last panel.
        dst[full * MR * kc..].fill(0.0);
    }
    let phase0 = i0 % u.period;
    for p in 0..kc {
        let k = p0 + p;
        let s = u.rows[k] as usize * u.row_len + i0;
        let src = &u.pixels[s..s + rows];
        let sc = &u.scale[k * u.period..(k + 1) * u.period];
        let mut phase = phase0;
        for (q, px) in src.chunks(MR).enumerate() {
            let d = &mut dst[q * MR * kc + p * MR..][..MR];
            if px.len() == MR && (u.period == 1 || phase + MR <= u.period) {
                // Fixed-size groups of 8 so the conversion vectorizes, then
                // the `MR % 8` left (6, 12) one at a time.
                let mut d8 = d.chunks_exact_mut(8);
                let mut px8 = px.chunks_exact(8);
                for (g, (d8, px8)) in (&mut d8).zip(&mut px8).enumerate() {
                    let v = if u.period == 1 {
                        u8x8(px8, sc[0], u.shift)
                    } else {
                        u8x8_mul(px8, &sc[phase + 8 * g..], u.shift)
                    };
                    d8.copy_from_slice(v.as_array());
                }
                let t0 = MR / 8 * 8;
                let tail = d8.into_remainder().iter_mut().zip(px8.remainder());
                for (t, (x, &v)) in tail.enumerate() {
                    let s = if u.period == 1 {
                        sc[0]
                    } else {
                        sc[phase + t0 + t]
                    };
                    *x = v as f32 * s + u.shift;
                }
                if u.period > 1 {
                    phase = (phase + MR) % u.period;
                }
            } else {
                for (x, &v) in d.iter_mut().zip(px) {
                    *x = v as f32 * sc[phase] + u.shift;
                    next_phase(&mut phase, u.period);
                }
            }
        }
    }
}

/// Packs rows `p0..p0 + kc`, columns `j0..j0 + cols` of `b` as one
/// `kc × w` micro-panel (`dst[p * w + j]`), zero-padding columns
/// `cols..w`.
///
/// # Panics
/// If `cols > w`, `dst` is shorter than `kc · w`, or the block lies outside
/// `b`.
pub fn pack_b(
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    cols: usize,
    w: usize,
    dst: &mut [f32],
) {
    assert!(cols <= w);
    let dst = &mut dst[..kc * w];
    if cols < w {
        dst.fill(0.0);
    }
    if kc == 0 || cols == 0 {
        return;
    }
    if b.cs == 1 {
        for (p, d) in dst.chunks_exact_mut(w).enumerate() {
            copy_short(d, &b.data[(p0 + p) * b.rs + j0..], cols);
        }
    } else if b.rs == 1 && kc >= 8 && cols >= 8 {
        // B = Wᵀ of a row-major W: each column is contiguous; 8×8 blocks go
        // through a register transpose, the last block of columns and of k
        // moved back to end at the edge ([`eights`]; the overlap is
        // stored twice, the same values) instead of a scalar tail.
        for j in eights(cols) {
            for p in eights(kc) {
                let s = (j0 + j) * b.cs + p0 + p;
                let mut rows = [f32x8::ZERO; 8];
                for (t, row) in rows.iter_mut().enumerate() {
                    *row = load8(&b.data[s + t * b.cs..]);
                }
                transpose8_store(rows, &mut dst[p * w + j..], w);
            }
        }
    } else {
        for (p, d) in dst.chunks_exact_mut(w).enumerate() {
            for (j, x) in d[..cols].iter_mut().enumerate() {
                *x = b.at(p0 + p, j0 + j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_a_pads_and_orders_k_major() {
        let data: Vec<f32> = (0..15).map(|x| x as f32).collect();
        let a = ARef::F32(MatRef::row_major(&data, 3, 5));
        let mut dst = [f32::NAN; 2 * 4 * 2];
        pack_a::<2>(&a, 0, 3, 1, 2, &mut dst[..8]);
        // Panel 0: rows 0,1 at k = 1, 2; panel 1: row 2 and a zero row.
        assert_eq!(&dst[..8], &[1.0, 6.0, 2.0, 7.0, 11.0, 0.0, 12.0, 0.0]);
        // The transposed view packs the same values.
        let at = ARef::F32(MatRef::row_major(&data, 3, 5).t().t());
        let mut dst2 = vec![0.0; 8];
        pack_a::<2>(&at, 0, 3, 1, 2, &mut dst2);
        assert_eq!(dst[..8], dst2[..]);
    }

    /// Every A kind, packed through the register-transpose fast paths
    /// (every MR, with a partial last group of 8 rows when MR is 4, 6, 12 or 14), equals `ARef::at`.
    fn check_pack_a<const MR: usize>(a: &ARef<'_>, i0: usize, p0: usize) {
        let (m, k) = a.shape();
        let (rows, kc) = (m - i0, k - p0);
        let mut dst = vec![f32::NAN; rows.div_ceil(MR) * MR * kc];
        pack_a::<MR>(a, i0, rows, p0, kc, &mut dst);
        for i in 0..rows.div_ceil(MR) * MR {
            for p in 0..kc {
                let want = if i < rows { a.at(i0 + i, p0 + p) } else { 0.0 };
                assert_eq!(
                    dst[(i / MR) * MR * kc + p * MR + i % MR],
                    want,
                    "MR {MR} ({i}, {p})"
                );
            }
        }
    }

    #[test]
    fn pack_a_matches_at() {
        let pixels: Vec<u8> = (0..40 * 41).map(|x| (x * 7 % 256) as u8).collect();
        let rows: Vec<u32> = (0..19).map(|x| (x * 5 % 40) as u32).collect();
        let data: Vec<f32> = (0..19 * 41).map(|x| x as f32 * 0.25).collect();
        for period in [1, 3, 28] {
            let scale: Vec<f32> = (0..19 * period).map(|x| 0.5 + x as f32).collect();
            let u = |row_len| U8Rows {
                pixels: &pixels,
                row_len,
                rows: &rows,
                scale: &scale,
                period,
                shift: -1.0,
            };
            let kinds = [
                ARef::U8(u(41)),
                ARef::U8T(u(40)),
                ARef::F32(MatRef::row_major(&data, 19, 41)),
                ARef::F32(MatRef::row_major(&data, 41, 19).t()),
            ];
            for a in &kinds {
                for (i0, p0) in [(0, 0), (1, 3)] {
                    check_pack_a::<4>(a, i0, p0);
                    check_pack_a::<6>(a, i0, p0);
                    check_pack_a::<8>(a, i0, p0);
                    check_pack_a::<12>(a, i0, p0);
                    check_pack_a::<14>(a, i0, p0);
                    check_pack_a::<16>(a, i0, p0);
                }
            }
        }
    }

    #[test]
    fn pack_b_matches_at() {
        let data: Vec<f32> = (0..37 * 29).map(|x| x as f32).collect();
        let views = [
            MatRef::row_major(&data, 37, 29),
            MatRef::row_major(&data, 29, 37).t(),
            MatRef::new(&data, 18, 14, 2, 2 * 18 + 1),
        ];
        for b in views {
            for (p0, j0) in [(0, 0), (3, 2)] {
                let (kc, cols) = (b.rows - p0, (b.cols - j0).min(24));
                for w in [cols, cols.div_ceil(8) * 8 + 8] {
                    let mut dst = vec![f32::NAN; kc * w];
                    pack_b(&b, p0, kc, j0, cols, w, &mut dst);
                    for p in 0..kc {
                        for j in 0..w {
                            let want = if j < cols { b.at(p0 + p, j0 + j) } else { 0.0 };
                            assert_eq!(dst[p * w + j], want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pack_b_transposed_and_padded() {
        let data: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let w = MatRef::row_major(&data, 3, 4); // B = Wᵀ is 4×3
        let mut dst = vec![f32::NAN; 2 * 4];
        pack_b(&w.t(), 1, 2, 0, 3, 4, &mut dst);
        assert_eq!(dst, [1.0, 5.0, 9.0, 0.0, 2.0, 6.0, 10.0, 0.0]);
    }
}

//! Data augmentation: random shifts, small affine transforms (rotation,
//! scale, shear), elastic distortion (Simard et al., 2003) and horizontal
//! flips of the u8 training images, applied per batch into a small u8
//! buffer that the first layer then packs like the memory map (there is
//! still no f32 copy of the data).
//!
//! Each image's transform is drawn from a counter-based stream keyed by the
//! seed, the epoch and the image's index in the training set
//! ([`super::counter`]): the same pixels on any number of threads, in any
//! batch, and after a resume.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::counter::{Stream, key};

/// Separates augmentation's draws from other features'.
const DOMAIN: u64 = 0x00A0_63E7;

/// Elastic distortion: a random displacement field per image, uniform in
/// `[-1, 1)` per pixel, smoothed by a Gaussian of `sigma` pixels and scaled
/// by `alpha` (Simard: α = 34, σ = 4 on 28×28 digits).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Elastic {
    /// Scale of the smoothed field, in pixels.
    pub alpha: f32,
    /// Standard deviation of the smoothing, in pixels.
    pub sigma: f32,
}

/// Which random transforms training images get; each is off at zero. The
/// `--augment` text form is a comma list: `shift=2,rotate=10,scale=0.1,
/// shear=10,elastic=34:4,flip` (a bare name takes that example's value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augment {
    /// Largest translation in each direction, in pixels (whole pixels when
    /// no other geometric transform is on).
    pub shift: f32,
    /// Largest rotation, in degrees either way.
    pub rotate: f32,
    /// Largest relative change of size (0.1: 90% to 110%).
    pub scale: f32,
    /// Largest horizontal shear, in degrees either way.
    pub shear: f32,
    /// Elastic distortion.
    pub elastic: Option<Elastic>,
    /// Mirror left-right with probability ½ (for clothes, not digits).
    pub flip: bool,
}

impl Augment {
    /// Whether every transform is off.
    pub fn is_off(&self) -> bool {
        *self == Augment::default()
    }

    /// Whether only whole-pixel shifts and flips are on: a copy per row.
    fn is_copy(&self) -> bool {
        self.rotate == 0.0 && self.scale == 0.0 && self.shear == 0.0 && self.elastic.is_none()
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("shift", self.shift, 64.0),
            ("rotate", self.rotate, 180.0),
            ("scale", self.scale, 0.9),
            ("shear", self.shear, 60.0),
        ];
        for (name, v, max) in fields {
            if !(0.0..=max).contains(&v) {
                return Err(format!("augment {name}={v} is not in [0, {max}]"));
            }
        }
        if let Some(Elastic { alpha, sigma }) = self.elastic
            && !((0.0..=1000.0).contains(&alpha) && (0.1..=20.0).contains(&sigma))
        {
            return Err(format!(
                "augment elastic={alpha}:{sigma} needs alpha in [0, 1000] and sigma in [0.1, 20]"
            ));
        }
        Ok(())
    }

    /// The transform of image `image` in epoch `epoch` (0-based) of a run
    /// seeded with `seed`.
    pub fn draw(&self, seed: u64, epoch: u64, image: u64) -> Transform {
        let mut s = Stream::new(key(DOMAIN, &[seed, epoch, image]));
        let deg = std::f32::consts::PI / 180.0;
        let (dx, dy) = if self.is_copy() {
            let max = self.shift as u32;
            (s.whole(max) as f32, s.whole(max) as f32)
        } else {
            (s.symmetric(self.shift), s.symmetric(self.shift))
        };
        Transform {
            dx,
            dy,
            angle: s.symmetric(self.rotate) * deg,
            scale: 1.0 + s.symmetric(self.scale),
            shear: s.symmetric(self.shear) * deg,
            flip: self.flip && s.unit() < 0.5,
            elastic: self.elastic.map(|e| (e, s.next_u64())),
        }
    }
}

impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, v) in [
            ("shift", self.shift),
            ("rotate", self.rotate),
            ("scale", self.scale),
            ("shear", self.shear),
        ] {
            if v != 0.0 {
                parts.push(format!("{name}={v}"));
            }
        }
        if let Some(e) = self.elastic {
            parts.push(format!("elastic={}:{}", e.alpha, e.sigma));
        }
        if self.flip {
            parts.push("flip".into());
        }
        if parts.is_empty() {
            parts.push("none".into());
        }
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Augment {
    type Err = String;

    fn from_str(text: &str) -> Result<Augment, String> {
        let mut a = Augment::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part, None),
            };
            let number = |default: f32| -> Result<f32, String> {
                value.map_or(Ok(default), |v| {
                    v.parse::<f32>()
                        .map_err(|_| format!("augment {name}: `{v}` is not a number"))
                })
            };
            match name {
                "none" => {}
                "shift" => a.shift = number(2.0)?,
                "rotate" => a.rotate = number(10.0)?,
                "scale" => a.scale = number(0.1)?,
                "shear" => a.shear = number(10.0)?,
                "flip" => a.flip = true,
                "elastic" => {
                    let (alpha, sigma) = match value {
                        None => (34.0, 4.0),
                        Some(v) => {
                            let (x, y) = v.split_once(':').ok_or_else(|| {
                                format!("augment elastic={v}: expected ALPHA:SIGMA, e.g. 34:4")
                            })?;
                            let num = |t: &str| {
                                t.trim()
                                    .parse::<f32>()
                                    .map_err(|_| format!("augment elastic: `{t}` is not a number"))
                            };
                            (num(x)?, num(y)?)
                        }
                    };
                    a.elastic = Some(Elastic { alpha, sigma });
                }
                other => {
                    return Err(format!(
                        "unknown augmentation `{other}` (expected shift, rotate, scale, shear, \
                         elastic or flip)"
                    ));
                }
            }
        }
        a.validate()?;
        Ok(a)
    }
}

/// One image's drawn transform. The output pixel at column `x`, row `y`
/// (mirrored first when `flip`) samples the source at
/// `c + M⁻¹·(p - c - (dx, dy)) + elastic(p)`, `c` the image's centre and
/// `M` rotation · shear · scale, bilinearly, with black outside.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    /// Translation to the right, in pixels.
    pub dx: f32,
    /// Translation down, in pixels.
    pub dy: f32,
    /// Rotation, radians, counter-clockwise on screen.
    pub angle: f32,
    /// Size factor.
    pub scale: f32,
    /// Horizontal shear, radians.
    pub shear: f32,
    /// Mirror left-right.
    pub flip: bool,
    /// Elastic distortion and the key of its field.
    pub elastic: Option<(Elastic, u64)>,
}

impl Transform {
    /// The identity.
    pub fn identity() -> Transform {
        Transform {
            dx: 0.0,
            dy: 0.0,
            angle: 0.0,
            scale: 1.0,
            shear: 0.0,
            flip: false,
            elastic: None,
        }
    }

    /// Whether it only moves whole pixels (a copy per row).
    fn is_copy(&self) -> bool {
        self.angle == 0.0
            && self.scale == 1.0
            && self.shear == 0.0
            && self.elastic.is_none()
            && self.dx.fract() == 0.0
            && self.dy.fract() == 0.0
    }

    /// Writes the transformed `rows × cols` image `src` into `dst`.
    /// `scratch` holds `3 · rows · cols` floats when elastic distortion is
    /// on (the two fields and a blur pass), and `kernel` its Gaussian (see
    /// [`gaussian_kernel`]).
    ///
    /// # Panics
    /// If a buffer is too short.
    pub fn apply(
        &self,
        src: &[u8],
        rows: usize,
        cols: usize,
        dst: &mut [u8],
        scratch: &mut [f32],
        kernel: &[f32],
    ) {
        let n = rows * cols;
        let (src, dst) = (&src[..n], &mut dst[..n]);
        if self.is_copy() {
            return self.copy_shifted(src, rows, cols, dst);
        }
        let fields = self.elastic.map(|(e, k)| {
            let (dxs, rest) = scratch[..3 * n].split_at_mut(n);
            let (dys, tmp) = rest.split_at_mut(n);
            let mut s = Stream::new(k);
            for v in dxs.iter_mut().chain(dys.iter_mut()) {
                *v = s.symmetric(1.0);
            }
            for f in [&mut *dxs, &mut *dys] {
                blur(f, tmp, rows, cols, kernel, e.alpha);
            }
            (&*dxs, &*dys)
        });
        // Inverse of M = R(θ)·Sh(φ)·S(s), with y pointing down.
        let (sin, cos) = self.angle.sin_cos();
        let t = self.shear.tan();
        let m = [
            [cos * self.scale, (cos * t - sin) * self.scale],
            [sin * self.scale, (sin * t + cos) * self.scale],
        ];
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let inv = [
            [m[1][1] / det, -m[0][1] / det],
            [-m[1][0] / det, m[0][0] / det],
        ];
        let (cx, cy) = ((cols as f32 - 1.0) / 2.0, (rows as f32 - 1.0) / 2.0);
        for y in 0..rows {
            for x in 0..cols {
                let xo = if self.flip { cols - 1 - x } else { x };
                let (px, py) = (xo as f32 - cx - self.dx, y as f32 - cy - self.dy);
                let mut sx = cx + inv[0][0] * px + inv[0][1] * py;
                let mut sy = cy + inv[1][0] * px + inv[1][1] * py;
                if let Some((fx, fy)) = fields {
                    sx += fx[y * cols + x];
                    sy += fy[y * cols + x];
                }
                dst[y * cols + x] = bilinear(src, rows, cols, sx, sy);
            }
        }
    }

    /// Whole-pixel shift (and flip): rows copied, black where the image
    /// moved away.
    fn copy_shifted(&self, src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
        let (dx, dy) = (self.dx as isize, self.dy as isize);
        for y in 0..rows {
            let out = &mut dst[y * cols..(y + 1) * cols];
            let sy = y as isize - dy;
            if sy < 0 || sy >= rows as isize {
                out.fill(0);
                continue;
            }
            let row = &src[sy as usize * cols..(sy as usize + 1) * cols];
            for (x, o) in out.iter_mut().enumerate() {
                let xo = if self.flip { cols - 1 - x } else { x } as isize;
                let sx = xo - dx;
                *o = if (0..cols as isize).contains(&sx) {
                    row[sx as usize]
                } else {
                    0
                };
            }
        }
    }
}

/// The source at `(x, y)`, bilinearly, black outside, rounded to u8.
#[inline]
fn bilinear(src: &[u8], rows: usize, cols: usize, x: f32, y: f32) -> u8 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let at = |xi: isize, yi: isize| -> f32 {
        if xi >= 0 && yi >= 0 && (xi as usize) < cols && (yi as usize) < rows {
            src[yi as usize * cols + xi as usize] as f32
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bottom * fy + 0.5).clamp(0.0, 255.0) as u8
}

/// A normalized Gaussian of standard deviation `sigma`, radius `⌈3σ⌉`.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as i32;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter().map(|v| v / sum).collect()
}

/// Smooths `field` (`rows × cols`) with the separable `kernel` (zero
/// outside the image), then scales it by `alpha`; `tmp` is as large.
fn blur(field: &mut [f32], tmp: &mut [f32], rows: usize, cols: usize, kernel: &[f32], alpha: f32) {
    let r = (kernel.len() / 2) as isize;
    for y in 0..rows {
        for x in 0..cols {
            let mut s = 0.0;
            for (i, &k) in kernel.iter().enumerate() {
                let xi = x as isize + i as isize - r;
                if (0..cols as isize).contains(&xi) {
                    s += k * field[y * cols + xi as usize];
                }
            }
            tmp[y * cols + x] = s;
        }
    }
    for y in 0..rows {
        for x in 0..cols {
            let mut s = 0.0;
            for (i, &k) in kernel.iter().enumerate() {
                let yi = y as isize + i as isize - r;
                if (0..rows as isize).contains(&yi) {
                    s += k * tmp[yi as usize * cols + x];
                }
            }
            field[y * cols + x] = s * alpha;
        }
    }
}

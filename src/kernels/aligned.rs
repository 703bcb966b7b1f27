//! [`AlignedVec`]: f32 storage that starts on a cache line.
//!
//! Threads of a training step own blocks of rows of each weight matrix (and
//! of its optimizer state), and write blocks of columns of the activations.
//! A block boundary inside a cache line makes two cores write the same line
//! every step, which costs more than the work on it. With the storage on a
//! 64-byte boundary, blocks never share a line when their boundaries fall
//! on multiples of 16 floats: row blocks of a 128-wide matrix, 32-column
//! panels of rows that are a multiple of 16 floats long. Other widths share
//! at most the one line at each boundary.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// One cache line of floats; the unit of allocation.
#[derive(Clone, Copy, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A fixed-length f32 buffer whose first element is 64-byte aligned.
/// Dereferences to `[f32]`.
#[derive(Clone, Default)]
pub struct AlignedVec {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedVec {
    /// `len` zeros.
    pub fn zeros(len: usize) -> AlignedVec {
        AlignedVec {
            lines: vec![Line::default(); len.div_ceil(16)],
            len,
        }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> AlignedVec {
        let mut v = AlignedVec::zeros(values.len());
        v.copy_from_slice(values);
        v
    }
}

impl Deref for AlignedVec {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }
}

impl DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }
}

impl<'a> IntoIterator for &'a AlignedVec {
    type Item = &'a f32;
    type IntoIter = std::slice::Iter<'a, f32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut AlignedVec {
    type Item = &'a mut f32;
    type IntoIter = std::slice::IterMut<'a, f32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl From<Vec<f32>> for AlignedVec {
    fn from(values: Vec<f32>) -> AlignedVec {
        AlignedVec::from_slice(&values)
    }
}

impl From<&[f32]> for AlignedVec {
    fn from(values: &[f32]) -> AlignedVec {
        AlignedVec::from_slice(values)
    }
}

impl PartialEq for AlignedVec {
    fn eq(&self, other: &AlignedVec) -> bool {
        self[..] == other[..]
    }
}

impl fmt::Debug for AlignedVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self[..], f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_for_every_length_and_round_trips() {
        for len in [0, 1, 15, 16, 17, 100_352] {
            let values: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let v = AlignedVec::from(values.clone());
            assert_eq!(v.len(), len);
            assert_eq!(&v[..], &values[..]);
            assert_eq!(v.as_ptr() as usize % 64, 0, "len {len}");
            assert_eq!(v.clone(), v);
        }
        assert!(AlignedVec::zeros(5).iter().all(|&x| x == 0.0));
        assert_eq!(
            format!("{:?}", AlignedVec::from(vec![1.0, 2.0])),
            "[1.0, 2.0]"
        );
    }
}

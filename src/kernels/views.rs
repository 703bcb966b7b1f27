//! The operands of a product: strided f32 views ([`MatRef`], [`MatMut`])
//! whose transposes are stride swaps, and u8 pixel rows ([`U8Rows`])
//! converted while packing, behind [`ARef`], the left operand.

/// A read-only strided view of an f32 matrix: element `(i, j)` is
/// `data[i * rs + j * cs]`. A transpose is the same data with `rs` and `cs`
/// swapped, so no product ever materializes one.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows, in elements.
    pub rs: usize,
    /// Distance between consecutive columns, in elements.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A strided view.
    ///
    /// # Panics
    /// If the last element lies outside `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < data.len(),
            "MatRef {rows}x{cols} (rs {rs}, cs {cs}) exceeds {} elements",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A dense row-major `rows × cols` view.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transpose (no data moves).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Element `(i, j)`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// A mutable strided view of an f32 matrix (see [`MatRef`]).
#[derive(Debug)]
pub struct MatMut<'a> {
    /// The elements.
    pub data: &'a mut [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows, in elements.
    pub rs: usize,
    /// Distance between consecutive columns, in elements.
    pub cs: usize,
}

impl<'a> MatMut<'a> {
    /// A strided mutable view.
    ///
    /// # Panics
    /// If the last element lies outside `data`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        assert!(
            rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < data.len(),
            "MatMut {rows}x{cols} (rs {rs}, cs {cs}) exceeds {} elements",
            data.len()
        );
        MatMut {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// A dense row-major `rows × cols` view.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }
}

/// Rows of u8 pixels gathered from a memory-mapped dataset and converted to
/// f32 while packing, so the first layer never needs an f32 copy.
///
/// Element `(i, k)` is
/// `pixels[rows[i] * row_len + k] as f32 * scale[i * period + k % period] + shift`.
/// With `period == 1` the scale is one factor per row (plain `/255` scaling
/// uses a buffer filled with `1/255`); `keras-normalize` uses `period == 28`,
/// one factor per image column.
#[derive(Clone, Copy, Debug)]
pub struct U8Rows<'a> {
    /// All images, `row_len` bytes each.
    pub pixels: &'a [u8],
    /// Pixels per image (the matrix's columns).
    pub row_len: usize,
    /// Which images form the matrix's rows, in order.
    pub rows: &'a [u32],
    /// Scale factors, `rows.len() * period` of them.
    pub scale: &'a [f32],
    /// How many scale factors each row has (see above).
    pub period: usize,
    /// Added after scaling.
    pub shift: f32,
}

impl U8Rows<'_> {
    /// Element `(i, k)` as f32.
    #[inline]
    pub fn at(&self, i: usize, k: usize) -> f32 {
        let p = self.pixels[self.rows[i] as usize * self.row_len + k];
        p as f32 * self.scale[i * self.period + k % self.period] + self.shift
    }
}

/// The left operand of a product.
#[derive(Clone, Copy, Debug)]
pub enum ARef<'a> {
    /// An f32 matrix.
    F32(MatRef<'a>),
    /// u8 pixel rows: `rows.len() × row_len`.
    U8(U8Rows<'a>),
    /// The transpose of u8 pixel rows: `row_len × rows.len()` (the weight
    /// gradient Xᵀ·dY of the first layer).
    U8T(U8Rows<'a>),
}

impl ARef<'_> {
    /// `(rows, cols)` of the operand.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            ARef::F32(m) => (m.rows, m.cols),
            ARef::U8(u) => (u.rows.len(), u.row_len),
            ARef::U8T(u) => (u.row_len, u.rows.len()),
        }
    }

    /// Element `(i, k)`.
    #[inline]
    pub fn at(&self, i: usize, k: usize) -> f32 {
        match self {
            ARef::F32(m) => m.at(i, k),
            ARef::U8(u) => u.at(i, k),
            ARef::U8T(u) => u.at(k, i),
        }
    }
}

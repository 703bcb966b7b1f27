//! The IDX file format: parse, validate, memory-map, zero-copy typed views.
//!
//! An IDX file is 2 zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16,
//! 0x0C i32, 0x0D f32, 0x0E f64), a byte with the number of dimensions, one
//! big-endian u32 per dimension, then the elements, big-endian, row-major.
//!
//! [`parse`] is a pure function on bytes: it checks every header field and the
//! exact file length before anyone allocates or indexes from the header, so a
//! hostile file can neither panic nor make us reserve memory it does not back.
//! This module is the format alone; `idx_file` maps files from disk (or the
//! decompressed cache of a `.gz`) and hands out [`IdxView`]s over them:
//!
//! - u8 and i8 data are single bytes, so endianness does not matter and
//!   [`IdxView::slice`] borrows them straight from the map (zero-copy);
//! - i16, i32, f32 and f64 data are big-endian, which no common CPU uses
//!   natively, so [`IdxView::values`] converts them one element at a time
//!   while iterating (and [`IdxView::to_vec`] collects that, if a copy is
//!   really wanted).
//!
//! ```
//! use fastnn::idx::{parse, ElemType, IdxView};
//! // A 2×3 u8 array.
//! let bytes = [0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
//! let header = parse(&bytes).unwrap();
//! assert_eq!((header.elem_type(), header.dims()), (ElemType::U8, &[2, 3][..]));
//! let view = IdxView::new(&bytes).unwrap();
//! assert_eq!(view.slice::<u8>().unwrap(), &[1, 2, 3, 4, 5, 6]);
//! ```

use std::fmt;

/// The most dimensions an IDX file may declare. The format allows 255, but
/// real files have 1 to 4; the cap keeps [`Header`] small and `Copy` and
/// rejects a garbage dimension byte early with a clear message.
pub const MAX_DIMS: usize = 16;

/// Bytes before the dimension sizes: magic (2), type (1), dimension count (1).
pub(crate) const PREFIX_LEN: usize = 4;

/// What is wrong with an IDX file's bytes. Each message is one line; the
/// caller ([`crate::Error::Idx`]) prefixes the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The file ends inside the header.
    #[error("truncated header: needs {expected} bytes, file has {found}")]
    TruncatedHeader {
        /// Header length (known once the dimension count is read; 4 before).
        expected: usize,
        /// Bytes in the file.
        found: usize,
    },
    /// The first two bytes are not zero.
    #[error("bad magic at offset 0: expected 00 00, found {:02x} {:02x}", found[0], found[1])]
    BadMagic {
        /// The two bytes found.
        found: [u8; 2],
    },
    /// The type byte names no IDX element type.
    #[error(
        "unknown element type 0x{found:02x} at offset 2 (expected one of 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)"
    )]
    BadType {
        /// The byte found.
        found: u8,
    },
    /// The dimension count is 0 or above [`MAX_DIMS`].
    #[error("bad dimension count {found} at offset 3 (expected 1 to {max})")]
    BadDimCount {
        /// The count found.
        found: u8,
        /// [`MAX_DIMS`].
        max: usize,
    },
    /// The dimensions' product, times the element size, does not fit in memory.
    #[error("dimensions {} of {elem} overflow the address space", DimsFmt(dims))]
    Overflow {
        /// The declared dimensions.
        dims: Vec<usize>,
        /// The element type.
        elem: ElemType,
    },
    /// The file ends before the data the header declares.
    #[error(
        "truncated data: header declares {} of {elem} = {expected} bytes in all, file has {found}",
        DimsFmt(dims)
    )]
    TruncatedData {
        /// File length the header implies.
        expected: u64,
        /// Bytes in the file.
        found: u64,
        /// The declared dimensions.
        dims: Vec<usize>,
        /// The element type.
        elem: ElemType,
    },
    /// The file goes on past the data the header declares.
    #[error(
        "{} trailing bytes from offset {expected}: header declares {} of {elem} = {expected} bytes in all, file has {found}",
        found - expected,
        DimsFmt(dims)
    )]
    TrailingBytes {
        /// File length the header implies (the offset of the first extra byte).
        expected: u64,
        /// Bytes in the file.
        found: u64,
        /// The declared dimensions.
        dims: Vec<usize>,
        /// The element type.
        elem: ElemType,
    },
    /// A decompressed `.gz` goes on past the length its IDX header allows
    /// (caught while streaming, so a gzip bomb never reaches the disk).
    #[error(
        "gzip data decompresses past the {expected} bytes its IDX header declares ({} of {elem})",
        DimsFmt(dims)
    )]
    Oversized {
        /// File length the header implies.
        expected: u64,
        /// The declared dimensions.
        dims: Vec<usize>,
        /// The element type.
        elem: ElemType,
    },
    /// The gzip stream itself is corrupt.
    #[error("corrupt gzip data after {offset} decompressed bytes: {source}")]
    Gzip {
        /// Decompressed bytes produced before the error.
        offset: u64,
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// The elements are not of the type the caller asked for.
    #[error("element type is {found}, expected {expected}")]
    WrongType {
        /// What the caller asked for.
        expected: ElemType,
        /// What the header says.
        found: ElemType,
    },
}

/// Formats dimensions as `60000×28×28`.
struct DimsFmt<'a>(&'a [usize]);

impl fmt::Display for DimsFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("×")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// An IDX element type, as named by the header's type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    /// 0x08: unsigned byte.
    U8,
    /// 0x09: signed byte.
    I8,
    /// 0x0B: big-endian i16.
    I16,
    /// 0x0C: big-endian i32.
    I32,
    /// 0x0D: big-endian IEEE f32.
    F32,
    /// 0x0E: big-endian IEEE f64.
    F64,
}

impl ElemType {
    /// All six types, in type-byte order.
    pub const ALL: [ElemType; 6] = [
        Self::U8,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::F32,
        Self::F64,
    ];

    /// The type for a header's type byte, if it names one.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x08 => Self::U8,
            0x09 => Self::I8,
            0x0B => Self::I16,
            0x0C => Self::I32,
            0x0D => Self::F32,
            0x0E => Self::F64,
            _ => return None,
        })
    }

    /// The header's type byte for this type.
    pub fn byte(self) -> u8 {
        match self {
            Self::U8 => 0x08,
            Self::I8 => 0x09,
            Self::I16 => 0x0B,
            Self::I32 => 0x0C,
            Self::F32 => 0x0D,
            Self::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// The Rust name of the type (`u8`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::F64 => "f64",
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated IDX header. `Copy`, and built without allocating: the
/// dimensions live in a fixed array of [`MAX_DIMS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    elem: ElemType,
    ndims: usize,
    dims: [usize; MAX_DIMS],
    /// Product of the dimensions (checked).
    count: usize,
}

impl Header {
    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        self.elem
    }

    /// The dimensions, outermost first (for images: count, rows, cols).
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.ndims]
    }

    /// Number of elements: the product of the dimensions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes before the data: `4 + 4 · ndims`.
    pub fn header_len(&self) -> usize {
        PREFIX_LEN + 4 * self.ndims
    }

    /// Bytes of data: `count · element size`.
    pub fn data_len(&self) -> usize {
        // Cannot overflow: `parse_header` checked `header_len + data_len`.
        self.count * self.elem.size()
    }

    /// The exact file length this header implies.
    pub fn file_len(&self) -> usize {
        self.header_len() + self.data_len()
    }

    pub(crate) fn length_error(&self, found: usize) -> IdxError {
        let (expected, found) = (self.file_len() as u64, found as u64);
        let dims = self.dims().to_vec();
        let elem = self.elem;
        if found < expected {
            IdxError::TruncatedData {
                expected,
                found,
                dims,
                elem,
            }
        } else {
            IdxError::TrailingBytes {
                expected,
                found,
                dims,
                elem,
            }
        }
    }
}

impl fmt::Display for Header {
    /// `u8 60000×28×28`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.elem, DimsFmt(self.dims()))
    }
}

/// Parses and validates a whole IDX file: the header, and that the file is
/// exactly as long as the header says (neither truncated nor with trailing
/// bytes). Pure, allocation-free on success, and total: it returns an error,
/// never panics, on any input.
pub fn parse(bytes: &[u8]) -> Result<Header, IdxError> {
    let header = parse_header(bytes)?;
    if bytes.len() != header.file_len() {
        return Err(header.length_error(bytes.len()));
    }
    Ok(header)
}

/// Parses and validates only the header at the start of `bytes`, which may
/// hold any prefix of the file that covers the header. Used to learn a
/// file's length before reading it (e.g. to cap gzip decompression).
/// Guarantees on `Ok`: `file_len()` does not overflow `usize`.
pub fn parse_header(bytes: &[u8]) -> Result<Header, IdxError> {
    let Some(prefix) = bytes.first_chunk::<PREFIX_LEN>() else {
        return Err(IdxError::TruncatedHeader {
            expected: PREFIX_LEN,
            found: bytes.len(),
        });
    };
    let [m0, m1, ty, nd] = *prefix;
    if [m0, m1] != [0, 0] {
        return Err(IdxError::BadMagic { found: [m0, m1] });
    }
    let elem = ElemType::from_byte(ty).ok_or(IdxError::BadType { found: ty })?;
    let ndims = nd as usize;
    if ndims == 0 || ndims > MAX_DIMS {
        return Err(IdxError::BadDimCount {
            found: nd,
            max: MAX_DIMS,
        });
    }
    let header_len = PREFIX_LEN + 4 * ndims;
    let Some(dim_bytes) = bytes.get(PREFIX_LEN..header_len) else {
        return Err(IdxError::TruncatedHeader {
            expected: header_len,
            found: bytes.len(),
        });
    };
    let mut dims = [0usize; MAX_DIMS];
    for (d, chunk) in dims.iter_mut().zip(dim_bytes.chunks_exact(4)) {
        let be = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        // u32 always fits usize on the 32- and 64-bit targets we build for;
        // on 16-bit ones it would be reported as an overflow.
        *d = usize::try_from(be).unwrap_or(usize::MAX);
    }
    let dims_used = &dims[..ndims];
    let count = dims_used
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let file_len = count
        .and_then(|c| c.checked_mul(elem.size()))
        .and_then(|n| n.checked_add(header_len))
        // Slices are capped at isize::MAX bytes; anything above cannot be mapped.
        .filter(|&n| n <= isize::MAX as usize);
    match (count, file_len) {
        (Some(count), Some(_)) => Ok(Header {
            elem,
            ndims,
            dims,
            count,
        }),
        _ => Err(IdxError::Overflow {
            dims: dims_used.to_vec(),
            elem,
        }),
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that an IDX element type stores. Sealed: exactly the six
/// IDX types.
pub trait Element: bytemuck::Pod + sealed::Sealed {
    /// The IDX type tag.
    const TYPE: ElemType;
    /// The big-endian byte form, `[u8; size_of::<Self>()]`.
    type Bytes: bytemuck::Pod;
    /// Converts one big-endian element.
    fn from_be(bytes: Self::Bytes) -> Self;
    /// The big-endian bytes of one element (for writing IDX files).
    fn to_be(self) -> Self::Bytes;
}

/// An [`Element`] one byte wide: endianness does not apply, so its data can be
/// borrowed in place ([`IdxView::slice`]).
pub trait ByteElement: Element {}

macro_rules! element {
    ($t:ty, $tag:ident, $n:literal) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const TYPE: ElemType = ElemType::$tag;
            type Bytes = [u8; $n];
            #[inline]
            fn from_be(bytes: [u8; $n]) -> Self {
                <$t>::from_be_bytes(bytes)
            }
            #[inline]
            fn to_be(self) -> [u8; $n] {
                self.to_be_bytes()
            }
        }
    };
}
element!(u8, U8, 1);
element!(i8, I8, 1);
element!(i16, I16, 2);
element!(i32, I32, 4);
element!(f32, F32, 4);
element!(f64, F64, 8);
impl ByteElement for u8 {}
impl ByteElement for i8 {}

/// A validated IDX file's header and data, borrowed (from a map or a buffer).
#[derive(Clone, Copy, Debug)]
pub struct IdxView<'a> {
    header: Header,
    data: &'a [u8],
}

impl<'a> IdxView<'a> {
    /// A view of `data` already validated against `header` (by [`parse`]
    /// on the bytes it comes from).
    pub(crate) fn validated(header: Header, data: &'a [u8]) -> Self {
        debug_assert_eq!(data.len(), header.data_len());
        IdxView { header, data }
    }

    /// Validates a whole file's bytes ([`parse`]) and views them.
    pub fn new(bytes: &'a [u8]) -> Result<Self, IdxError> {
        let header = parse(bytes)?;
        Ok(Self {
            header,
            data: &bytes[header.header_len()..],
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The raw data bytes after the header (big-endian for multi-byte types).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    fn check<T: Element>(&self) -> Result<(), IdxError> {
        if self.header.elem == T::TYPE {
            Ok(())
        } else {
            Err(IdxError::WrongType {
                expected: T::TYPE,
                found: self.header.elem,
            })
        }
    }

    /// The elements, borrowed in place (zero-copy). Only for the one-byte
    /// types; multi-byte data is big-endian, see [`IdxView::values`].
    pub fn slice<T: ByteElement>(&self) -> Result<&'a [T], IdxError> {
        self.check::<T>()?;
        Ok(bytemuck::cast_slice(self.data))
    }

    /// The elements, converted from big-endian one at a time as the iterator
    /// advances (no copy of the whole array). Works for every type.
    pub fn values<T: Element>(&self) -> Result<Values<'a, T>, IdxError> {
        self.check::<T>()?;
        // `Bytes` is `[u8; N]`: alignment 1, and `parse` checked that the
        // data length is a multiple of N, so this cast cannot fail.
        let iter = bytemuck::cast_slice::<u8, T::Bytes>(self.data).iter();
        Ok(Values { iter })
    }

    /// The elements converted to native order in a new `Vec`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, IdxError> {
        Ok(self.values::<T>()?.collect())
    }
}

/// Iterator over an IDX array's elements, converting each from big-endian.
#[derive(Clone, Debug)]
pub struct Values<'a, T: Element> {
    iter: std::slice::Iter<'a, T::Bytes>,
}

impl<T: Element> Iterator for Values<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|&b| T::from_be(b))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }

    #[inline]
    fn nth(&mut self, n: usize) -> Option<T> {
        self.iter.nth(n).map(|&b| T::from_be(b))
    }
}

impl<T: Element> DoubleEndedIterator for Values<'_, T> {
    #[inline]
    fn next_back(&mut self) -> Option<T> {
        self.iter.next_back().map(|&b| T::from_be(b))
    }
}

impl<T: Element> ExactSizeIterator for Values<'_, T> {}

/// Fuzz body (`fuzz/fuzz_targets/idx_parse.rs`, replayed by the tests):
/// parses arbitrary bytes and asserts the header invariants on success.
///
/// # Panics
/// When an invariant breaks, which is the point.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    let prefix = parse_header(data);
    match parse(data) {
        Ok(h) => {
            let n: usize = h.dims().iter().product();
            assert_eq!(n, h.count());
            assert_eq!(h.header_len() + n * h.elem_type().size(), data.len());
            assert_eq!(h.header_len(), 4 + 4 * h.dims().len());
            assert!((1..=MAX_DIMS).contains(&h.dims().len()));
            assert_eq!(Some(h.elem_type()), ElemType::from_byte(data[2]));
            assert_eq!(prefix.ok(), Some(h));
            let view = IdxView::new(data).expect("parse succeeded");
            assert_eq!(view.data().len(), h.data_len());
            macro_rules! values_len {
                ($t:ty) => {
                    view.values::<$t>().map(|v| v.len())
                };
            }
            let len = match h.elem_type() {
                ElemType::U8 => view.slice::<u8>().map(<[u8]>::len),
                ElemType::I8 => view.slice::<i8>().map(<[i8]>::len),
                ElemType::I16 => values_len!(i16),
                ElemType::I32 => values_len!(i32),
                ElemType::F32 => values_len!(f32),
                ElemType::F64 => values_len!(f64),
            };
            assert_eq!(len.ok(), Some(h.count()));
        }
        Err(e) => {
            // Length errors are exactly the ones the header alone lets through.
            let length_error = matches!(
                e,
                IdxError::TruncatedData { .. } | IdxError::TrailingBytes { .. }
            );
            assert_eq!(prefix.is_ok(), length_error, "{e}");
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
        }
    }
}

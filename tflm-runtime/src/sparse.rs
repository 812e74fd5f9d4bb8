//! tflm-rs's compressed encoding of pruned int8 weights ("row bitmask", version 1): what the
//! converter writes, what `Model::parse` verifies, and the inner loop of the sparse kernels
//! (FULLY_CONNECTED, UNIDIRECTIONAL_SEQUENCE_LSTM), which read it in place.
//!
//! Why not TFLite's own `SparsityParameters` (CSR: `array_segments` / `array_indices` per
//! dimension)? For unstructured int8 sparsity it stores one index per nonzero, at least a byte,
//! so at 50% zeros it is as large as the dense tensor (and larger with its segment arrays).
//! This encoding costs one bit per weight plus the nonzero values: `0.625 x` dense at 50%,
//! `0.375 x` at 75%, and its kernel works on it directly (no decoding into RAM).
//!
//! # Format (a 2-D int8 tensor `[rows, depth]`, row-major: FULLY_CONNECTED's weights)
//!
//! For each row `r` in order, for each group `g` of 8 columns (`ceil(depth / 8)` groups, the
//! last one partial when `depth % 8 != 0`):
//!
//! - one mask byte: bit `b` (LSB first) is set when column `8g + b` of row `r` is nonzero;
//!   bits for columns at or beyond `depth` are 0;
//! - then the nonzero values of those columns, one int8 byte each, in increasing column order
//!   (exactly `popcount(mask)` bytes; none of them 0).
//!
//! Groups and rows follow each other without padding, so the size is
//! `rows * ceil(depth / 8) + nonzeros` bytes, and the encoding of a tensor is unique (the
//! converter's output is byte-identical run to run).
//!
//! # In the flatbuffer
//!
//! The tensor keeps its dense `shape` and `type` (INT8); its buffer holds the encoded bytes; its
//! `sparsity` field is a `SparsityParameters` table with no `traversal_order`, `block_map` or
//! `dim_metadata` (every TFLite sparse tensor has a traversal order, so the empty table cannot
//! be mistaken for TFLite's format, and LiteRT refuses the tensor instead of reading the bytes as
//! dense); and the model has a `metadata` entry named [`METADATA_NAME`] (the encoding and its
//! version; its buffer is the empty buffer 0, so the declaration costs no data).

/// The start of every `Model.metadata` name that declares a tflm-rs sparse encoding.
pub const METADATA_PREFIX: &str = "tflm_rs.sparse_weights";
/// The `Model.metadata` entry that declares this encoding and version.
pub const METADATA_NAME: &str = "tflm_rs.sparse_weights:row_bitmask_int8/1";

/// Columns per mask byte.
pub const GROUP: usize = 8;

/// What is wrong with an encoded tensor, found by [`verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseError {
    /// The data ends inside row `row`, group `group` (its mask byte or values).
    Truncated { row: usize, group: usize },
    /// A mask byte has bits for columns at or past the row's `depth`.
    MaskPastDepth {
        row: usize,
        group: usize,
        mask: u8,
        depth: usize,
    },
    /// A stored value is 0 (zeros are the mask's job; the encoding is canonical).
    ZeroValue { row: usize, column: usize },
    /// Bytes left after the last row.
    TrailingBytes { extra: usize },
    /// The sizes overflow.
    TooLarge,
    /// A tensor in the 1x4 block encoding ([`crate::block_sparse`]) is not a valid one.
    Block(crate::block_sparse::BlockError),
}

impl core::fmt::Display for SparseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            SparseError::Truncated { row, group } => write!(
                f,
                "sparse weights end inside row {row}, column group {group} (mask byte or its values missing)"
            ),
            SparseError::MaskPastDepth {
                row,
                group,
                mask,
                depth,
            } => write!(
                f,
                "sparse weights: row {row}, column group {group}: mask {mask:#04x} marks columns past the depth {depth}"
            ),
            SparseError::ZeroValue { row, column } => write!(
                f,
                "sparse weights: row {row}, column {column}: stored value is 0 (zeros must be left out)"
            ),
            SparseError::TrailingBytes { extra } => {
                write!(f, "sparse weights: {extra} bytes after the last row")
            }
            SparseError::TooLarge => f.write_str("sparse weights: sizes overflow"),
            SparseError::Block(e) => write!(f, "{e}"),
        }
    }
}

/// Set bits of each byte value. The Cortex-M4 has no popcount instruction (`count_ones` of a
/// byte is about a dozen instructions), and the setup ([`verify`], [`row_sums`]) counts every
/// mask byte of every encoded tensor: a table lookup instead, 256 bytes of flash.
static ONES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).count_ones() as u8;
        i += 1;
    }
    t
};

/// The number of nonzero values after mask byte `mask`.
#[inline(always)]
fn ones(mask: u8) -> usize {
    ONES[mask as usize] as usize
}

/// Mask bytes per row.
pub const fn groups(depth: usize) -> usize {
    depth.div_ceil(GROUP)
}

/// Mask of the valid columns of group `g` of a row of `depth` columns.
fn valid_bits(depth: usize, g: usize) -> u8 {
    let left = depth - g * GROUP;
    if left >= GROUP {
        0xff
    } else {
        (1u8 << left) - 1
    }
}

/// Size in bytes of the encoding of `dense` (`rows x depth`, row-major).
pub fn encoded_len(depth: usize, dense: &[i8]) -> usize {
    if depth == 0 {
        return 0;
    }
    let rows = dense.len() / depth;
    rows * groups(depth) + dense.iter().filter(|&&w| w != 0).count()
}

/// Encodes `dense` (`rows x depth`, row-major; `dense.len()` a multiple of `depth`) into `out`,
/// which must hold [`encoded_len`] bytes; returns the bytes written, or `None` when `out` is
/// too short or the length is not a multiple of `depth`. No allocation: usable anywhere.
pub fn encode(depth: usize, dense: &[i8], out: &mut [u8]) -> Option<usize> {
    if depth == 0 {
        return if dense.is_empty() { Some(0) } else { None };
    }
    if !dense.len().is_multiple_of(depth) {
        return None;
    }
    let mut n = 0;
    for row in dense.chunks_exact(depth) {
        for cols in row.chunks(GROUP) {
            let mask_at = n;
            *out.get_mut(mask_at)? = 0;
            n += 1;
            let mut mask = 0u8;
            for (b, &w) in cols.iter().enumerate() {
                if w != 0 {
                    mask |= 1 << b;
                    *out.get_mut(n)? = w as u8;
                    n += 1;
                }
            }
            out[mask_at] = mask;
        }
    }
    Some(n)
}

/// Checks that `data` is exactly the encoding of a `rows x depth` tensor: every mask byte and
/// its values present, no mask bit past the depth, no stored zero, nothing left over.
pub fn verify(rows: usize, depth: usize, data: &[u8]) -> Result<(), SparseError> {
    rows.checked_mul(groups(depth))
        .ok_or(SparseError::TooLarge)?;
    let mut pos = 0usize;
    for row in 0..rows {
        for group in 0..groups(depth) {
            let mask = *data.get(pos).ok_or(SparseError::Truncated { row, group })?;
            if mask & !valid_bits(depth, group) != 0 {
                return Err(SparseError::MaskPastDepth {
                    row,
                    group,
                    mask,
                    depth,
                });
            }
            let n = ones(mask);
            let values = data
                .get(pos + 1..pos + 1 + n)
                .ok_or(SparseError::Truncated { row, group })?;
            if let Some(k) = values.iter().position(|&v| v == 0) {
                // The k-th set bit of the mask is the zero value's column.
                let bit = (0..GROUP)
                    .filter(|b| mask & (1 << b) != 0)
                    .nth(k)
                    .unwrap_or(0);
                return Err(SparseError::ZeroValue {
                    row,
                    column: group * GROUP + bit,
                });
            }
            pos += 1 + n;
        }
    }
    match data.len() - pos {
        0 => Ok(()),
        extra => Err(SparseError::TrailingBytes { extra }),
    }
}

/// Decodes a verified encoding back into `dense` (`rows x depth`, every element written).
/// Returns `None` when the encoding does not fit `dense` (run [`verify`] first for the reason).
pub fn decode(depth: usize, data: &[u8], dense: &mut [i8]) -> Option<()> {
    if depth == 0 {
        return if dense.is_empty() && data.is_empty() {
            Some(())
        } else {
            None
        };
    }
    let mut pos = 0;
    for row in dense.chunks_mut(depth) {
        for cols in row.chunks_mut(GROUP) {
            let mask = *data.get(pos)?;
            pos += 1;
            for (b, w) in cols.iter_mut().enumerate() {
                *w = if mask & (1 << b) != 0 {
                    pos += 1;
                    *data.get(pos - 1)? as i8
                } else {
                    0
                };
            }
        }
    }
    (pos == data.len()).then_some(())
}

/// `Σ w` of each row of a verified encoding, in row order (stops early on a short encoding):
/// the kernel folds the input zero point's share `input_offset x Σ w` into the bias with it.
pub fn row_sums(depth: usize, data: &[u8]) -> impl Iterator<Item = i32> + '_ {
    let mut pos = 0;
    core::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let mut s = 0i32;
        for _ in 0..groups(depth) {
            let n = ones(*data.get(pos)?);
            for &v in data.get(pos + 1..pos + 1 + n)? {
                s = s.wrapping_add(v as i8 as i32);
            }
            pos += 1 + n;
        }
        Some(s)
    })
}

/// Bytes of zero-padded input [`grouped`] needs per row of `depth` values: the row rounded up
/// to whole groups of 8, or nothing when `depth` is a multiple of 8 already.
pub fn padded_len(depth: usize) -> usize {
    if depth.is_multiple_of(GROUP) {
        0
    } else {
        groups(depth) * GROUP
    }
}

/// Input rows of `depth` values (`x`, row after row) as groups of 8, [`groups`]`(depth)` per
/// row, the form [`row_dots`] reads: `x` itself when `depth` is a multiple of 8, else each row
/// copied zero-padded into `padded` (at least `rows x` [`padded_len`] bytes), so that every
/// group, the last one of a row too, takes the same path. `None` when `padded` is too short.
pub fn grouped<'a>(x: &'a [i8], depth: usize, padded: &'a mut [i8]) -> Option<&'a [[i8; 8]]> {
    let width = padded_len(depth);
    if width == 0 {
        return Some(x.as_chunks::<8>().0);
    }
    let rows = x.len() / depth;
    let padded = padded.get_mut(..rows * width)?;
    for (dst, src) in padded.chunks_exact_mut(width).zip(x.chunks_exact(depth)) {
        dst[..depth].copy_from_slice(src);
        dst[depth..].fill(0);
    }
    Some(padded.as_chunks::<8>().0)
}

/// Rows whose dots [`for_each_row_dot`] forms per call of [`row_dots`] (on the stack).
const DOTS: usize = 32;

/// Calls `f(first, dots)` with the dots `Σ x·w` of the `rows` encoded rows at the start of
/// `enc` against the same input `x` (one row of [`grouped`]), up to 32 rows a call, `first`
/// the index of `dots[0]`; returns the encoding after the rows. Both sparse kernels
/// (FULLY_CONNECTED, the LSTM's gates) finish their rows through it, so the callback slices
/// its outputs once per 32 rows, not once per row.
#[inline(always)]
pub fn for_each_row_dot<'e>(
    x: &[[i8; 8]],
    mut enc: &'e [u8],
    rows: usize,
    mut f: impl FnMut(usize, &[i32]),
) -> &'e [u8] {
    let mut dots = [0i32; DOTS];
    let mut first = 0;
    while first < rows {
        let dots = &mut dots[..(rows - first).min(DOTS)];
        enc = row_dots(x, enc, dots);
        f(first, dots);
        first += dots.len();
    }
    enc
}

/// `Σ x·w` over the nonzero weights of each of `dots.len()` encoded rows against the same
/// inputs `x` (one row of [`grouped`]), into `dots`; returns the encoding after them. The
/// sparse kernels' inner loop (FULLY_CONNECTED's and the LSTM's), one copy of its code for
/// both; several rows a call keep the call's cost off short rows (the LSTM's 20-column
/// rows). Sums wrap, so any order gives the dense sum's bits. On an encoding that did not
/// pass [`verify`] the sums are wrong, never a panic.
#[inline(never)]
pub fn row_dots<'e>(x: &[[i8; 8]], mut enc: &'e [u8], dots: &mut [i32]) -> &'e [u8] {
    for dot in dots {
        let mut acc = 0i32;
        for x8 in x {
            match enc.first_chunk::<9>() {
                Some(head) => sparse_group!(acc, x8, head, enc),
                None => (acc, enc) = sparse_group_last(acc, x8, enc),
            }
        }
        *dot = acc;
    }
    enc
}

/// One mask byte and its values (`head`: the first 9 bytes of `enc`, all a group can use)
/// against 8 inputs `x`: adds the products to `acc` and moves `enc` past the group. The mask
/// selects one of 256 straight-line bodies (a jump table), each loading exactly its nonzero
/// weights at fixed offsets and advancing `enc` by a constant, so a weight costs two loads and
/// a multiply-add, with no per-bit test, index decoding or bounds check.
macro_rules! sparse_group {
    ($acc:ident, $x:expr, $head:expr, $enc:ident) => {
        sparse_group!(@arms $acc, $x, $head, $enc;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59
            60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87
            88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111
            112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132
            133 134 135 136 137 138 139 140 141 142 143 144 145 146 147 148 149 150 151 152 153
            154 155 156 157 158 159 160 161 162 163 164 165 166 167 168 169 170 171 172 173 174
            175 176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195
            196 197 198 199 200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216
            217 218 219 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237
            238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255)
    };
    (@arms $acc:ident, $x:expr, $head:expr, $enc:ident; $($m:literal)*) => {
        match $head[0] {
            $($m => {
                $acc = group_dot::<$m>($acc, $x, $head);
                $enc = &$enc[1 + ($m as u8).count_ones() as usize..];
            })*
        }
    };
}
use sparse_group;

/// A group where fewer than 9 bytes of the encoding are left (the end of the tensor): a plain
/// walk over the mask bits. Returns `acc` plus
/// the products and the encoding after the group.
#[inline(never)]
fn sparse_group_last<'e>(mut acc: i32, x: &[i8; 8], enc: &'e [u8]) -> (i32, &'e [u8]) {
    let Some((&mask, mut values)) = enc.split_first() else {
        return (acc, enc);
    };
    for (b, &xb) in x.iter().enumerate() {
        if mask & (1 << b) != 0 {
            let Some((&w, rest)) = values.split_first() else {
                break;
            };
            acc = acc.wrapping_add((xb as i32).wrapping_mul(w as i8 as i32));
            values = rest;
        }
    }
    (acc, values)
}

/// `acc + Σ x[b] w` over the set bits `b` of `M`, the weights following the mask byte in `v`.
#[inline(always)]
fn group_dot<const M: u8>(mut acc: i32, x: &[i8; 8], v: &[u8; 9]) -> i32 {
    let mut k = 1;
    let mut b = 0;
    while b < 8 {
        if M & (1 << b) != 0 {
            acc = acc.wrapping_add((x[b] as i32).wrapping_mul(v[k] as i8 as i32));
            k += 1;
        }
        b += 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        let dense: [i8; 2 * 11] = [
            0, 5, 0, 0, -3, 0, 0, 127, 0, -128, 1, //
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let n = encoded_len(11, &dense);
        assert_eq!(n, 2 * 2 + 5);
        let mut buf = [0u8; 9];
        assert_eq!(encode(11, &dense, &mut buf), Some(9));
        assert_eq!(buf, [0b1001_0010, 5, 0xfd, 127, 0b110, 0x80, 1, 0, 0]);
        verify(2, 11, &buf).unwrap();
        let mut back = [9i8; 22];
        decode(11, &buf, &mut back).unwrap();
        assert_eq!(back, dense);
        let sums: [i32; 2] = core::array::from_fn({
            let mut it = row_sums(11, &buf);
            move |_| it.next().unwrap()
        });
        assert_eq!(sums, [5 - 3 + 127 - 128 + 1, 0]);
        assert_eq!(encode(11, &dense, &mut [0u8; 8]), None);
    }

    #[test]
    fn corruption_is_precise() {
        let dense: [i8; 12] = [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 4];
        let mut buf = [0u8; 8];
        assert_eq!(encode(12, &dense, &mut buf), Some(6));
        let good = &buf[..6];
        verify(1, 12, good).unwrap();
        assert_eq!(
            verify(1, 12, &good[..5]),
            Err(SparseError::Truncated { row: 0, group: 1 })
        );
        assert_eq!(
            verify(2, 12, good),
            Err(SparseError::Truncated { row: 1, group: 0 })
        );
        assert_eq!(
            verify(1, 12, &buf[..7]),
            Err(SparseError::TrailingBytes { extra: 1 })
        );
        let mut past = [0u8; 6];
        past.copy_from_slice(good);
        past[3] |= 0x10; // column 12 of a 12-column row
        assert_eq!(
            verify(1, 12, &past),
            Err(SparseError::MaskPastDepth {
                row: 0,
                group: 1,
                mask: 0x19,
                depth: 12
            })
        );
        let mut zero = [0u8; 6];
        zero.copy_from_slice(good);
        zero[2] = 0;
        assert_eq!(
            verify(1, 12, &zero),
            Err(SparseError::ZeroValue { row: 0, column: 2 })
        );
    }
}

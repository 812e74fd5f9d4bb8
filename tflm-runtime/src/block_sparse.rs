//! tflm-rs's 1x4 block encoding of pruned int8 FULLY_CONNECTED weights ("block 1x4", version
//! 1): what the converter writes for weights pruned in blocks of 4 consecutive input columns
//! of one output row, what `Model::parse` verifies, and the inner loop of the kernel that reads
//! it in place (`kernels::fully_connected_sparse::fully_connected_i8_block`).
//!
//! Why blocks: the row bitmask ([`crate::sparse`]) pays a mask bit, a jump and two byte loads
//! per kept weight, about 3.4 instructions per nonzero weight on a Cortex-M4, while the dense
//! kernel's dual 16-bit multiply-accumulates (`SMLAD`) take about 2.3 per weight: below about
//! 81% zeros the row bitmask is slower than dense. A kept block is one word load and two
//! `SMLAD`s on its sign-extended pairs (`SXTB16`) against the input widened to int16 once per
//! invoke, with the input offset folded in: 4 weights for the cost of one dense quad.
//!
//! # Format (a 2-D int8 tensor `[rows, depth]`, row-major)
//!
//! A row has `blocks(depth) = ceil(depth / 4)` blocks, block `j` the columns `4j..4j+4` (the
//! last one partial when `depth % 4 != 0`). For each row in order:
//!
//! - `mask_len(depth) = ceil(blocks / 8)` mask bytes: bit `b` (LSB first) of byte `i` is set
//!   when block `8i + b` is kept; bits for blocks at or past `blocks(depth)` are 0;
//! - then 4 bytes per kept block, in increasing block order: its 4 int8 weights in column order.
//!   A kept block is not all zero; the bytes of a partial block's columns at or past `depth`
//!   are 0.
//!
//! No header, no padding: the size is `rows x mask_len + 4 x kept blocks`, and a tensor has one
//! encoding (the converter's output is byte-identical run to run). At 50% blocks kept and a
//! depth that is a multiple of 32: `0.5 + 1/32 = 0.53 x` the dense bytes.
//!
//! # In the flatbuffer
//!
//! As the row bitmask (empty `SparsityParameters`, dense `shape` and `type`), plus a `metadata`
//! entry named [`METADATA_NAME`] whose buffer lists the tensors in this encoding: their indices
//! in subgraph 0, as little-endian `u32`, strictly increasing. Every other sparse tensor is in
//! the row bitmask (and needs that encoding's own metadata entry).

/// The `Model.metadata` entry that declares this encoding and lists its tensors.
pub const METADATA_NAME: &str = "tflm_rs.sparse_weights:block_1x4_int8/1";

/// Columns per block.
pub const BLOCK: usize = 4;

/// Blocks per mask byte.
const PER_MASK_BYTE: usize = 8;

/// Blocks per row of `depth` columns.
pub const fn blocks(depth: usize) -> usize {
    depth.div_ceil(BLOCK)
}

/// Mask bytes per row.
pub const fn mask_len(depth: usize) -> usize {
    blocks(depth).div_ceil(PER_MASK_BYTE)
}

/// Whether block `j` of a row (`BLOCK` columns from `4j`, cut at the row's end) is all zero.
fn is_zero_block(row: &[i8], j: usize) -> bool {
    row[j * BLOCK..((j + 1) * BLOCK).min(row.len())]
        .iter()
        .all(|&w| w == 0)
}

/// Size in bytes of the encoding of `dense` (`rows x depth`, row-major).
pub fn encoded_len(depth: usize, dense: &[i8]) -> usize {
    if depth == 0 {
        return 0;
    }
    let kept: usize = dense
        .chunks_exact(depth)
        .map(|row| {
            (0..blocks(depth))
                .filter(|&j| !is_zero_block(row, j))
                .count()
        })
        .sum();
    dense.len() / depth * mask_len(depth) + BLOCK * kept
}

/// Encodes `dense` (`rows x depth`, row-major) into `out`, which must hold [`encoded_len`]
/// bytes; returns the bytes written, or `None` when `out` is too short or `dense.len()` is
/// not a multiple of `depth`.
pub fn encode(depth: usize, dense: &[i8], out: &mut [u8]) -> Option<usize> {
    if depth == 0 {
        return dense.is_empty().then_some(0);
    }
    if !dense.len().is_multiple_of(depth) {
        return None;
    }
    let mut n = 0;
    for row in dense.chunks_exact(depth) {
        let mask_at = n;
        out.get_mut(n..n + mask_len(depth))?.fill(0);
        n += mask_len(depth);
        for j in (0..blocks(depth)).filter(|&j| !is_zero_block(row, j)) {
            out[mask_at + j / PER_MASK_BYTE] |= 1 << (j % PER_MASK_BYTE);
            let block = out.get_mut(n..n + BLOCK)?;
            block.fill(0);
            for (b, &w) in block.iter_mut().zip(&row[j * BLOCK..]) {
                *b = w as u8;
            }
            n += BLOCK;
        }
    }
    Some(n)
}

/// What is wrong with a block encoding, found by [`verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The data ends inside row `row` (its mask bytes or kept blocks).
    Truncated { row: usize },
    /// Mask byte `byte` of row `row` has bits for blocks at or past the row's last block.
    MaskPastDepth {
        row: usize,
        byte: usize,
        mask: u8,
        depth: usize,
    },
    /// A kept block is all zero (a zero block is the mask's job; the encoding is canonical).
    ZeroBlock { row: usize, block: usize },
    /// A partial last block has a nonzero byte for a column at or past the depth.
    PaddingNotZero { row: usize, column: usize },
    /// Bytes left after the last row.
    TrailingBytes { extra: usize },
    /// The sizes overflow.
    TooLarge,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            BlockError::Truncated { row } => write!(
                f,
                "1x4 block weights end inside row {row} (mask bytes or kept blocks missing)"
            ),
            BlockError::MaskPastDepth {
                row,
                byte,
                mask,
                depth,
            } => write!(
                f,
                "1x4 block weights: row {row}, mask byte {byte}: mask {mask:#04x} marks blocks past the depth {depth}"
            ),
            BlockError::ZeroBlock { row, block } => write!(
                f,
                "1x4 block weights: row {row}, block {block}: kept block is all zero (zero blocks must be left out)"
            ),
            BlockError::PaddingNotZero { row, column } => write!(
                f,
                "1x4 block weights: row {row}, column {column}: padding past the depth is not 0"
            ),
            BlockError::TrailingBytes { extra } => {
                write!(f, "1x4 block weights: {extra} bytes after the last row")
            }
            BlockError::TooLarge => f.write_str("1x4 block weights: sizes overflow"),
        }
    }
}

/// Checks that `data` is exactly the block encoding of a `rows x depth` tensor: every mask
/// byte and kept block present, no mask bit past the last block, no all-zero kept block, zero
/// padding in a partial last block, nothing left over.
pub fn verify(rows: usize, depth: usize, data: &[u8]) -> Result<(), BlockError> {
    rows.checked_mul(mask_len(depth))
        .ok_or(BlockError::TooLarge)?;
    let nb = blocks(depth);
    let mut pos = 0usize;
    for row in 0..rows {
        let mask = data
            .get(pos..pos + mask_len(depth))
            .ok_or(BlockError::Truncated { row })?;
        pos += mask.len();
        for (byte, &m) in mask.iter().enumerate() {
            let first = byte * PER_MASK_BYTE;
            let valid = if nb - first >= PER_MASK_BYTE {
                0xff
            } else {
                (1u8 << (nb - first)) - 1
            };
            if m & !valid != 0 {
                return Err(BlockError::MaskPastDepth {
                    row,
                    byte,
                    mask: m,
                    depth,
                });
            }
            for j in (0..PER_MASK_BYTE).filter(|b| m & (1 << b) != 0) {
                let block = first + j;
                let w = data
                    .get(pos..pos + BLOCK)
                    .ok_or(BlockError::Truncated { row })?;
                if w.iter().all(|&b| b == 0) {
                    return Err(BlockError::ZeroBlock { row, block });
                }
                let valid_cols = depth - block * BLOCK;
                if let Some(k) = w.iter().skip(valid_cols).position(|&b| b != 0) {
                    return Err(BlockError::PaddingNotZero {
                        row,
                        column: block * BLOCK + valid_cols + k,
                    });
                }
                pos += BLOCK;
            }
        }
    }
    match data.len() - pos {
        0 => Ok(()),
        extra => Err(BlockError::TrailingBytes { extra }),
    }
}

/// Decodes a verified encoding back into `dense` (`rows x depth`, every element written).
/// Returns `None` when the encoding does not fit `dense` (run [`verify`] for the reason).
pub fn decode(depth: usize, data: &[u8], dense: &mut [i8]) -> Option<()> {
    if depth == 0 {
        return (dense.is_empty() && data.is_empty()).then_some(());
    }
    let mut pos = 0;
    for row in dense.chunks_mut(depth) {
        let mask = data.get(pos..pos + mask_len(depth))?;
        pos += mask.len();
        row.fill(0);
        for j in 0..blocks(depth) {
            if mask[j / PER_MASK_BYTE] & (1 << (j % PER_MASK_BYTE)) != 0 {
                let w = data.get(pos..pos + BLOCK)?;
                for (d, &b) in row[j * BLOCK..].iter_mut().zip(w) {
                    *d = b as i8;
                }
                pos += BLOCK;
            }
        }
    }
    (pos == data.len()).then_some(())
}

/// Blocks of widened input per row of `depth` columns (two words each: `(x0, x2)` and
/// `(x1, x3)` plus the offset, int16 lanes), rounded up to whole mask bytes (8 blocks) so that
/// [`row_dot`] reads every block of a mask byte at a fixed offset: `8 x` this many bytes.
pub const fn widened_len(depth: usize) -> usize {
    PER_MASK_BYTE * mask_len(depth)
}

/// Widens one input row `x` (`depth` int8 values) into `out` ([`widened_len`] words):
/// block `j` becomes `[(x[4j] + offset, x[4j+2] + offset), (x[4j+1] + offset, x[4j+3] +
/// offset)]` as int16x2 words, the pairing of `SXTB16` and `SXTB16 ROR #8` on a weight word,
/// so a block's weights need no reordering. Columns past `depth` are 0 (their weights are 0
/// too). `off` is the offset in both lanes ([`crate::kernels::dsp::offset16x2`]).
pub fn widen_input(x: &[i8], off: u32, out: &mut [[u32; 2]]) {
    use crate::kernels::dsp;
    let (whole, tail) = dsp::words(x);
    let mut slots = out.iter_mut();
    for (q, slot) in whole.iter().zip(&mut slots) {
        let (even, odd) = dsp::widen_offset(off, dsp::word(q));
        *slot = [even, odd];
    }
    if !tail.is_empty() {
        let mut q = [0i8; 4];
        q[..tail.len()].copy_from_slice(tail);
        let (even, odd) = dsp::widen_offset(off, dsp::word(&q));
        // Lanes past the depth: 0, not the offset.
        let keep = |lane: usize| if lane < tail.len() { 0xffff } else { 0 };
        let even = even & (keep(0) | keep(2) << 16);
        let odd = odd & (keep(1) | keep(3) << 16);
        if let Some(slot) = slots.next() {
            *slot = [even, odd];
        }
    }
    slots.for_each(|s| *s = [0, 0]);
}

/// `acc + Σ x·w` over the kept blocks of one encoded row against the widened input `x`
/// ([`widen_input`]); returns the sum and the encoding after the row. Each nibble of a mask
/// byte (4 blocks, 16 columns) selects one of 16 straight-line bodies (a jump table) that load
/// exactly its kept blocks at fixed offsets: per kept block one word load, two `SXTB16` and
/// two `SMLAD`s. Sums wrap, so they are the dense sum's bits. On an encoding that did not pass
/// [`verify`] the sum is wrong, never a panic.
#[inline(always)]
pub fn row_dot<'e>(x: &[[u32; 2]], masks: usize, mut enc: &'e [u8]) -> (i32, &'e [u8]) {
    let mut acc = 0i32;
    let Some((mask, rest)) = enc.split_at_checked(masks) else {
        return (acc, &[]);
    };
    enc = rest;
    // Eight blocks per mask byte, as arrays: their halves need no run-time length check.
    for (&m, x8) in mask.iter().zip(x.as_chunks::<8>().0) {
        let (lo, hi) = x8.split_at(4);
        let (Ok(lo), Ok(hi)) = (
            <&[[u32; 2]; 4]>::try_from(lo),
            <&[[u32; 2]; 4]>::try_from(hi),
        ) else {
            break;
        };
        // Written out twice rather than looped over the two nibbles: LLVM keeps a loop over
        // a 16-way dispatch (its state on the stack), which cost 30% more instructions.
        match enc.first_chunk::<16>() {
            Some(w) => block_nibble!(acc, lo, w, m & 15, enc),
            None => (acc, enc) = nibble_last(acc, lo, m & 15, enc),
        }
        match enc.first_chunk::<16>() {
            Some(w) => block_nibble!(acc, hi, w, m >> 4, enc),
            None => (acc, enc) = nibble_last(acc, hi, m >> 4, enc),
        }
    }
    (acc, enc)
}

/// Dispatches one nibble `$m` of a mask byte to its body ([`nibble_dot`]) and moves `$enc`
/// past its kept blocks.
macro_rules! block_nibble {
    ($acc:ident, $x:expr, $w:expr, $m:expr, $enc:ident) => {
        block_nibble!(@arms $acc, $x, $w, $m, $enc; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@arms $acc:ident, $x:expr, $w:expr, $m:expr, $enc:ident; $($n:literal)*) => {
        match $m {
            $($n => {
                $acc = nibble_dot::<$n>($acc, $x, $w);
                $enc = &$enc[BLOCK * ($n as u8).count_ones() as usize..];
            })*
            _ => {}
        }
    };
}
use block_nibble;

/// `acc + Σ x·w` over the kept blocks `b` (set bits of `M`) of 4, their weights one word each
/// in `w`.
#[inline(always)]
fn nibble_dot<const M: u8>(mut acc: i32, x: &[[u32; 2]; 4], w: &[u8; 16]) -> i32 {
    use crate::kernels::dsp;
    let mut k = 0;
    let mut b = 0;
    while b < 4 {
        if M & (1 << b) != 0 {
            let word = u32::from_le_bytes([w[k], w[k + 1], w[k + 2], w[k + 3]]);
            let (we, wo) = dsp::widen(word);
            acc = dsp::smlad(x[b][1], wo, dsp::smlad(x[b][0], we, acc));
            k += BLOCK;
        }
        b += 1;
    }
    acc
}

/// A nibble where fewer than 16 bytes of the encoding are left (the end of the tensor): a
/// plain walk over its bits. Returns `acc` plus the products, and the encoding after them.
#[inline(never)]
fn nibble_last<'e>(mut acc: i32, x: &[[u32; 2]; 4], m: u8, mut enc: &'e [u8]) -> (i32, &'e [u8]) {
    use crate::kernels::dsp;
    for (b, xb) in x.iter().enumerate() {
        if m & (1 << b) != 0 {
            let Some((w, rest)) = enc.split_first_chunk::<4>() else {
                return (acc, &[]);
            };
            let (we, wo) = dsp::widen(u32::from_le_bytes(*w));
            acc = dsp::smlad(xb[1], wo, dsp::smlad(xb[0], we, acc));
            enc = rest;
        }
    }
    (acc, enc)
}

/// Whether the block list of the metadata (`list`: little-endian `u32` tensor indices,
/// strictly increasing, as [`check_list`] verified) holds tensor `tensor`.
pub fn listed(list: &[u8], tensor: usize) -> bool {
    let (words, _) = list.as_chunks::<4>();
    words
        .binary_search_by(|w| (u32::from_le_bytes(*w) as usize).cmp(&tensor))
        .is_ok()
}

/// Checks the metadata's list of block-encoded tensors: whole `u32`s, strictly increasing,
/// each below `tensors`. Returns a description of the first problem.
pub fn check_list(list: &[u8], tensors: usize) -> Result<(), &'static str> {
    let (words, rest) = list.as_chunks::<4>();
    if !rest.is_empty() {
        return Err("the 1x4 block metadata's buffer is not whole u32 tensor indices");
    }
    let mut previous = None;
    for w in words {
        let t = u32::from_le_bytes(*w) as usize;
        if t >= tensors {
            return Err("the 1x4 block metadata names a tensor index past the last tensor");
        }
        if previous.is_some_and(|p| p >= t) {
            return Err("the 1x4 block metadata's tensor indices are not strictly increasing");
        }
        previous = Some(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn round_trip_size_and_layout() {
        // depth 10: blocks [0..4) [4..8) [8..10) (partial), one mask byte per row.
        let dense: [i8; 2 * 10] = [
            0, 0, 0, 0, 1, 0, -2, 3, 0, 127, //
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(encoded_len(10, &dense), 2 + 2 * 4);
        let mut buf = [0xaau8; 11];
        assert_eq!(encode(10, &dense, &mut buf), Some(10));
        assert_eq!(&buf[..10], &[0b110, 1, 0, 0xfe, 3, 0, 127, 0, 0, 0]);
        verify(2, 10, &buf[..10]).unwrap();
        let mut back = [9i8; 20];
        decode(10, &buf[..10], &mut back).unwrap();
        assert_eq!(back, dense);
        assert_eq!(encode(10, &dense, &mut [0u8; 9]), None);
    }

    #[test]
    fn corruption_is_precise() {
        let dense: [i8; 10] = [0, 0, 0, 0, 1, 0, -2, 3, 0, 127];
        let mut buf = [0u8; 9];
        assert_eq!(encode(10, &dense, &mut buf), Some(9));
        let good = &buf[..];
        verify(1, 10, good).unwrap();
        assert_eq!(
            verify(1, 10, &good[..8]),
            Err(BlockError::Truncated { row: 0 })
        );
        assert_eq!(verify(2, 10, good), Err(BlockError::Truncated { row: 1 }));
        let mut long = [0u8; 10];
        long[..9].copy_from_slice(good);
        assert_eq!(
            verify(1, 10, &long),
            Err(BlockError::TrailingBytes { extra: 1 })
        );
        let mut m = buf;
        m[0] |= 0b1000; // block 3 of a 3-block row
        assert_eq!(
            verify(1, 10, &m),
            Err(BlockError::MaskPastDepth {
                row: 0,
                byte: 0,
                mask: 0b1110,
                depth: 10
            })
        );
        let mut z = buf;
        z[1..5].fill(0);
        assert_eq!(
            verify(1, 10, &z),
            Err(BlockError::ZeroBlock { row: 0, block: 1 })
        );
        let mut p = buf;
        p[8] = 1; // column 11 of a 10-column row
        assert_eq!(
            verify(1, 10, &p),
            Err(BlockError::PaddingNotZero { row: 0, column: 11 })
        );
    }

    #[test]
    fn block_list() {
        let list: std::vec::Vec<u8> = [3u32, 7, 9].iter().flat_map(|t| t.to_le_bytes()).collect();
        check_list(&list, 10).unwrap();
        assert!(listed(&list, 7) && !listed(&list, 8));
        assert!(check_list(&list, 9).is_err());
        assert!(check_list(&list[..5], 10).is_err());
        let unsorted: std::vec::Vec<u8> = [3u32, 3].iter().flat_map(|t| t.to_le_bytes()).collect();
        assert!(check_list(&unsorted, 10).is_err());
    }
}

//! int8 CONV_2D with a 1x1 filter in the 1x4 block encoding ([`crate::block_sparse`]): the
//! dense pointwise kernel's blocking ([`super::pointwise`], four pixels per weight word) with
//! the pruned blocks skipped.
//!
//! Each group of four pixels has its inputs widened to int16 pairs (input offset added) once;
//! then, per output channel, the row's mask is walked once for the four pixels and each kept
//! block is one weight word, two `SXTB16` and eight `SMLAD`s against the four pixels' widened
//! words, the four sums kept in registers. The walk is one assembly loop per mask word
//! ([`smlad_masked4`]: a bit scan per kept block, 20 instructions a kept block against the
//! dense loop's 17 a block), so it pays from about 32 input channels at half the blocks kept
//! (person_detect's 1x1 layers: 0.81x the dense kernel's instructions). The sums are the dense
//! kernel's (wrapping int32, order-free), the rescale [`super::requant`]'s.

use super::conv::{check_channels, ChannelScales, ConvIo, ConvParams, KernelError};
use super::dsp::{self, smlad_masked4, widen_offset, word, words, MASK_BLOCKS};
use super::pointwise::PixelStarts;
use super::requant::ChannelRescale;
use crate::block_sparse;

/// Pixels per group: each kept weight word is loaded and widened once for this many pixels.
const PIXELS: usize = 4;

/// Whether [`pointwise_block_i8`] runs this convolution: what the dense pointwise kernel takes
/// ([`super::pointwise::applies`]) with whole blocks (`in_c` a multiple of 4, as the
/// converter prunes CONV_2D filters in blocks only then).
pub fn applies(p: &ConvParams, filter_shape: [usize; 4], in_c: usize) -> bool {
    super::pointwise::applies(p, filter_shape, in_c) && in_c.is_multiple_of(block_sparse::BLOCK)
}

/// CONV_2D int8 per-channel, filter `[out_c, 1, 1, in_c]` in the 1x4 block encoding, for the
/// shapes [`applies`] accepts (anything else is [`KernelError::Shape`]); outputs bit for bit
/// those of [`super::pointwise::pointwise_i8`] on the decoded filter. `io.filter` must have
/// passed [`block_sparse::verify`] for `out_c x in_c`; other bytes give wrong outputs, never a
/// panic.
pub fn pointwise_block_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, u8, i32, i8>,
) -> Result<(), KernelError> {
    let starts = PixelStarts::new(p, io.input_shape, io.filter_shape, io.output_shape)?;
    let off = dsp::offset16x2(p.input_offset).ok_or(KernelError::Shape)?;
    let (input_shape, in_c, out_c) = (io.input_shape, io.input_shape[3], io.filter_shape[0]);
    let ConvIo {
        input,
        filter,
        bias,
        output,
        ..
    } = io;
    if !in_c.is_multiple_of(block_sparse::BLOCK)
        || Some(input.len()) != super::conv::volume(input_shape)
        || output.len() != starts.pixels * out_c
    {
        return Err(KernelError::Shape);
    }
    check_channels(out_c, q, bias.map(<[i32]>::len))?;
    let masks = block_sparse::mask_len(in_c);
    // The bits of a row's first mask word that are blocks of the row.
    let first_word = u32::MAX >> (MASK_BLOCKS - (in_c / 4).clamp(1, MASK_BLOCKS));
    let (multipliers, shifts) = (&q.multipliers[..out_c], &q.shifts[..out_c]);
    let bias = bias.map(|b| &b[..out_c]);
    let stage = p.output_stage();
    // Two mask words' groups (32 blocks each): 256 channels.
    let mut buf = [[[0u32; 2 * PIXELS]; MASK_BLOCKS]; 2];
    for (g, out) in output.chunks_mut(PIXELS * out_c).enumerate() {
        // A short last group repeats its last pixel; the repeats' outputs are dropped.
        for k in 0..PIXELS {
            let i = starts.at(g * PIXELS + k);
            let (x, _) = words(&input[i..i + in_c]);
            for (slot, x) in buf.as_flattened_mut().iter_mut().zip(x) {
                let (e, o) = widen_offset(off, word(x));
                slot[2 * k] = e;
                slot[2 * k + 1] = o;
            }
        }
        let mut enc = filter;
        for (c, (&mult, &shift)) in multipliers.iter().zip(shifts).enumerate() {
            let bias = bias.map_or(0, |b| b[c]);
            let s = match enc.first_chunk::<4>() {
                // One mask word (at most 128 channels): the mask in one load, the bits past
                // the row's blocks cleared (the bytes after the mask).
                Some(head) if masks <= 4 => {
                    let m = u32::from_le_bytes(*head) & first_word;
                    let w = enc.get(masks..).unwrap_or(&[]);
                    let (s, read) = smlad_masked4([bias; PIXELS], &buf[0], m, w);
                    if read == 0 && m != 0 {
                        return Err(KernelError::Shape);
                    }
                    enc = w.get(read..).unwrap_or(&[]);
                    s
                }
                _ => {
                    let (s, rest) = row_sums(bias, &buf, enc, masks)?;
                    enc = rest;
                    s
                }
            };
            let r = ChannelRescale::new(mult, shift);
            for (k, &s) in s.iter().enumerate() {
                if let Some(o) = out.get_mut(k * out_c + c) {
                    *o = stage.store(s, &r);
                }
            }
        }
    }
    Ok(())
}

/// The four pixels' sums of one row `enc` (`masks` mask bytes, then the kept blocks) from
/// `bias`, and the rest of the filter: the path of rows with two mask words (more than 128
/// channels), and of a last row shorter than a word. A row cut inside its kept blocks is a shape error.
#[inline(never)]
fn row_sums<'a>(
    bias: i32,
    buf: &[[[u32; 2 * PIXELS]; MASK_BLOCKS]; 2],
    enc: &'a [u8],
    masks: usize,
) -> Result<([i32; PIXELS], &'a [u8]), KernelError> {
    let (mask, mut enc) = enc.split_at_checked(masks).ok_or(KernelError::Shape)?;
    let mut s = [bias; PIXELS];
    for (m, x) in mask.chunks(4).map(mask_word).zip(buf) {
        let (sums, read) = smlad_masked4(s, x, m, enc);
        if read == 0 && m != 0 {
            return Err(KernelError::Shape);
        }
        s = sums;
        enc = enc.get(read..).unwrap_or(&[]);
    }
    Ok((s, enc))
}

/// Up to four mask bytes as one little-endian word (block `8i + b` at bit `8i + b`): one `LDR`
/// for a whole word.
#[inline(always)]
fn mask_word(m: &[u8]) -> u32 {
    match <[u8; 4]>::try_from(m) {
        Ok(b) => u32::from_le_bytes(b),
        Err(_) => m.iter().rev().fold(0, |a, &b| a << 8 | u32::from(b)),
    }
}

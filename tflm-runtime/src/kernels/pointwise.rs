//! int8 CONV_2D with a 1x1 filter and no groups (MobileNet's pointwise layers): a matrix
//! product of the input pixels `[pixels, in_c]` and the filter `[out_c, in_c]`.
//!
//! Blocked four pixels by one output channel: each group of four pixels has its inputs widened
//! to int16 pairs (input offset added) once, into a stack buffer laid out so that one inner
//! step reads one weight word, widens it once, and feeds eight `SMLAD`s (16 MACs) from eight
//! consecutive buffer words. Four accumulators, two running pointers and the loop bound leave
//! registers for the widened weights and the input pairs, so the loop does not spill (the two
//! pixels by two channels blocking of session 6 needed 14 registers and kept two values on the
//! stack). One channel's rescale serves four outputs. The idea is CMSIS-NN's `mat_mult`
//! kernel; the sums are the reference's (wrapping int32, order-free), the rescale
//! [`super::requant`]'s.

use super::conv::{check_channels, ChannelScales, ConvIo, ConvParams, KernelError};
use super::dsp::{self, smlad_block4, widen_offset, word, words};
use super::requant::{ChannelRescale, OutputStage};

/// Input channels the widened pixel group may hold (2 KiB of stack); wider layers, and
/// filters other than 1x1 without padding, take the generic loop nest.
pub const MAX_CHANNELS: usize = 256;

/// Pixels per block: each weight word is loaded and widened once for this many pixels.
const PIXELS: usize = 4;

/// Whether [`pointwise_i8`] runs this convolution: a 1x1 filter over all input channels (at
/// most [`MAX_CHANNELS`]), no padding, and an input offset the 16-bit lanes hold.
pub fn applies(p: &ConvParams, filter_shape: [usize; 4], in_c: usize) -> bool {
    let [_, f_h, f_w, f_c] = filter_shape;
    f_h == 1
        && f_w == 1
        && f_c == in_c
        && (1..=MAX_CHANNELS).contains(&in_c)
        && p.padding_height == 0
        && p.padding_width == 0
        && dsp::offset16x2(p.input_offset).is_some()
}

/// CONV_2D int8 per-channel for the shapes [`applies`] accepts (anything else is
/// [`KernelError::Shape`]); arguments as in [`super::conv::conv_per_channel_i8`]. Inlined
/// into its callers: called out of line, its loops took about 4 K more instructions a layer.
#[inline(always)]
pub fn pointwise_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    let ChannelScales {
        multipliers,
        shifts,
    } = q;
    let sizes_match = io.sizes_match();
    let ConvIo {
        input_shape,
        input,
        filter_shape,
        filter,
        bias,
        output_shape,
        output,
    } = io;
    let in_c = input_shape[3];
    let [out_c, ..] = filter_shape;
    let off = dsp::offset16x2(p.input_offset).ok_or(KernelError::Shape)?;
    let starts = PixelStarts::new(p, input_shape, filter_shape, output_shape)?;
    if !sizes_match {
        return Err(KernelError::Shape);
    }
    check_channels(out_c, q, bias.map(<[i32]>::len))?;
    let at = |n: usize| starts.at(n);
    let kernel = Block {
        filter,
        in_c,
        multipliers: &multipliers[..out_c],
        shifts: &shifts[..out_c],
        bias,
        stage: p.output_stage(),
        off,
        offset: p.input_offset,
    };
    // One flat array: as `[[u32; 8]; 64]` its zeroing was unrolled into about 450 stores.
    let mut buf = [0u32; 2 * PIXELS * MAX_CHANNELS / 4];
    let (buf, _) = buf.as_chunks_mut::<{ 2 * PIXELS }>();
    for (g, out) in output.chunks_mut(PIXELS * out_c).enumerate() {
        // A short last block repeats its last pixel; the repeats' outputs are dropped.
        // Written out: `array::from_fn`'s closure was not always inlined (about 20 K more
        // instructions on person_detect when it was not).
        let px = |k: usize| {
            let i = at(g * PIXELS + k);
            &input[i..i + in_c]
        };
        let x: [&[i8]; PIXELS] = [px(0), px(1), px(2), px(3)];
        kernel.run(buf, x, out);
    }
    Ok(())
}

/// Where each output pixel's inputs start, for a convolution [`applies`] accepts: shared by
/// this kernel and its block-sparse twin ([`super::pointwise_block_sparse`]).
#[derive(Clone, Copy)]
pub(super) struct PixelStarts {
    /// Output pixels over all batches.
    pub pixels: usize,
    in_hwc: [usize; 3],
    out_hw: [usize; 2],
    stride: [usize; 2],
}

impl PixelStarts {
    /// The geometry of `input_shape -> output_shape` through a `filter_shape` 1x1 filter, or
    /// [`KernelError::Shape`] when [`applies`] refuses it or the shapes disagree (batches,
    /// channels, an output pixel whose input would lie outside the image). The slices'
    /// lengths are the caller's to check.
    #[inline(always)]
    pub(super) fn new(
        p: &ConvParams,
        input_shape: [usize; 4],
        filter_shape: [usize; 4],
        output_shape: [usize; 4],
    ) -> Result<Self, KernelError> {
        let [batches, in_h, in_w, in_c] = input_shape;
        let [out_c, ..] = filter_shape;
        let [out_b, out_h, out_w, out_c2] = output_shape;
        let win = p.window().ok_or(KernelError::Shape)?;
        let [sh, sw] = win.stride;
        if !applies(p, filter_shape, in_c)
            || out_b != batches
            || out_c2 != out_c
            || out_c == 0
            || (out_h > 0 && (out_h - 1) * sh >= in_h)
            || (out_w > 0 && (out_w - 1) * sw >= in_w)
        {
            return Err(KernelError::Shape);
        }
        Ok(Self {
            pixels: batches * out_h * out_w,
            in_hwc: [in_h, in_w, in_c],
            out_hw: [out_h, out_w],
            stride: [sh, sw],
        })
    }

    /// First input element of output pixel `n` (a pixel past the last is the last; in-image:
    /// no padding, strides checked by [`PixelStarts::new`]).
    #[inline(always)]
    pub(super) fn at(&self, n: usize) -> usize {
        let ([in_h, in_w, in_c], [out_h, out_w], [sh, sw]) =
            (self.in_hwc, self.out_hw, self.stride);
        let n = n.min(self.pixels - 1);
        let (row, x) = (n / out_w, n % out_w);
        let (b, y) = (row / out_h, row % out_h);
        ((b * in_h + y * sh) * in_w + x * sw) * in_c
    }
}

/// What every pixel block shares.
struct Block<'a> {
    filter: &'a [i8],
    in_c: usize,
    multipliers: &'a [i32],
    shifts: &'a [i8],
    bias: Option<&'a [i32]>,
    stage: OutputStage,
    off: u32,
    offset: i32,
}

impl Block<'_> {
    /// The products of a depth's last, partial word for the four pixels: out of line and cold,
    /// as the layers of the peer models have whole words (inline, the loops' registers made
    /// the channel loop keep its four sums on the stack).
    #[cold]
    #[inline(never)]
    fn tails(
        &self,
        mut s: [i32; PIXELS],
        split: &[(&[[i8; 4]], &[i8]); PIXELS],
        w: &[i8],
    ) -> [i32; PIXELS] {
        for (s, (_, x)) in s.iter_mut().zip(split) {
            for (&a, &v) in x.iter().zip(w) {
                *s = s.wrapping_add((a as i32 + self.offset) * v as i32);
            }
        }
        s
    }

    /// The outputs of the pixels `x` into `out` (`out_c` per pixel; a short `out` drops the
    /// last pixels' outputs).
    #[inline(always)]
    fn run(&self, buf: &mut [[u32; 2 * PIXELS]], x: [&[i8]; PIXELS], out: &mut [i8]) {
        let n = self.in_c;
        let split = x.map(words);
        let groups = &mut buf[..(n / 4).min(MAX_CHANNELS / 4)];
        for (i, g) in groups.iter_mut().enumerate() {
            for (k, (q, _)) in split.iter().enumerate() {
                let (e, o) = widen_offset(self.off, word(&q[i]));
                g[2 * k] = e;
                g[2 * k + 1] = o;
            }
        }
        let groups = &*groups;
        let out_c = self.multipliers.len();
        for (c, row) in self.filter.chunks_exact(n).enumerate().take(out_c) {
            let (ws, tail) = words(row);
            let mut s = smlad_block4([self.bias.map_or(0, |b| b[c]); PIXELS], groups, ws);
            if !tail.is_empty() {
                s = self.tails(s, &split, tail);
            }
            let r = ChannelRescale::new(self.multipliers[c], self.shifts[c]);
            for (k, &s) in s.iter().enumerate() {
                // Kept rolled: one copy of the output stage, not four.
                crate::rolled::keep_rolled();
                if let Some(o) = out.get_mut(k * out_c + c) {
                    *o = self.stage.store(s, &r);
                }
            }
        }
    }
}

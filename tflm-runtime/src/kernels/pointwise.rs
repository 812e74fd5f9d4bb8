//! int8 CONV_2D with a 1x1 filter and no groups (MobileNet's pointwise layers): a matrix
//! product of the input pixels `[pixels, in_c]` and the filter `[out_c, in_c]`.
//!
//! Blocked two pixels by two output channels: each pixel pair's inputs are widened to int16
//! pairs (input offset added) once, into a stack buffer, laid out so that one inner step reads
//! four words of it and one weight word per channel, and feeds eight `SMLAD`s (16 MACs); the
//! generic loop nest widens every input word again for every four channels and pays its
//! per-channel-quad setup once per pixel. The idea is CMSIS-NN's `mat_mult` kernel; the sums
//! are the reference's (wrapping int32, order-free), the rescale [`super::requant`]'s.

use super::conv::{check_channels, ChannelScales, ConvIo, ConvParams, KernelError};
use super::dsp::{self, smlad, widen, widen_offset, word, words};
use super::requant::{ChannelRescale, OutputStage};

/// Input channels the widened pixel pair may hold (1 KiB of stack); wider layers, and filters
/// other than 1x1 without padding, take the generic loop nest.
pub const MAX_CHANNELS: usize = 256;

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
/// [`KernelError::Shape`]); arguments as in [`super::conv::conv_per_channel_i8`].
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
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, ..] = filter_shape;
    let [out_b, out_h, out_w, out_c2] = output_shape;
    let win = p.window().ok_or(KernelError::Shape)?;
    let off = dsp::offset16x2(p.input_offset).ok_or(KernelError::Shape)?;
    let [sh, sw] = win.stride;
    if !applies(p, filter_shape, in_c)
        || out_b != batches
        || out_c2 != out_c
        || out_c == 0
        || (out_h > 0 && (out_h - 1) * sh >= in_h)
        || (out_w > 0 && (out_w - 1) * sw >= in_w)
        || !sizes_match
    {
        return Err(KernelError::Shape);
    }
    check_channels(out_c, q, bias.map(<[i32]>::len))?;
    let stage = p.output_stage();
    let pixels = batches * out_h * out_w;
    // First input element of output pixel `n` (in-image: no padding, strides checked above).
    let at = |n: usize| {
        let (row, x) = (n / out_w, n % out_w);
        let (b, y) = (row / out_h, row % out_h);
        ((b * in_h + y * sh) * in_w + x * sw) * in_c
    };
    let kernel = Pair {
        filter,
        in_c,
        multipliers: &multipliers[..out_c],
        shifts: &shifts[..out_c],
        bias,
        stage,
        off,
        offset: p.input_offset,
    };
    let mut buf = [[0u32; 4]; MAX_CHANNELS / 4];
    let mut n = 0;
    for out in output.chunks_mut(2 * out_c) {
        let (first, second) = out.split_at_mut(out_c);
        let i = at(n);
        // An odd last pixel pairs with itself; its twin's outputs are dropped.
        let j = if second.is_empty() { i } else { at(n + 1) };
        let (x0, x1) = (&input[i..i + in_c], &input[j..j + in_c]);
        kernel.run(&mut buf, x0, x1, first, second);
        n += 2;
    }
    debug_assert!(n >= pixels);
    Ok(())
}

/// What every pixel pair shares.
struct Pair<'a> {
    filter: &'a [i8],
    in_c: usize,
    multipliers: &'a [i32],
    shifts: &'a [i8],
    bias: Option<&'a [i32]>,
    stage: OutputStage,
    off: u32,
    offset: i32,
}

impl Pair<'_> {
    /// Outputs of pixels `x0` and `x1` (`out1` empty when `x1` is `x0` again).
    #[inline(always)]
    fn run(
        &self,
        buf: &mut [[u32; 4]; MAX_CHANNELS / 4],
        x0: &[i8],
        x1: &[i8],
        out0: &mut [i8],
        out1: &mut [i8],
    ) {
        let (q0, t0) = words(x0);
        let (q1, t1) = words(x1);
        let groups = &mut buf[..q0.len().min(MAX_CHANNELS / 4)];
        for ((g, a), b) in groups.iter_mut().zip(q0).zip(q1) {
            let (ae, ao) = widen_offset(self.off, word(a));
            let (be, bo) = widen_offset(self.off, word(b));
            *g = [ae, ao, be, bo];
        }
        let groups = &*groups;
        let n = self.in_c;
        let mut pairs = self.filter.chunks_exact(2 * n);
        let mut c = 0;
        for rows in &mut pairs {
            let (r0, r1) = rows.split_at(n);
            let (w0, u0) = words(r0);
            let (w1, u1) = words(r1);
            let b0 = self.bias.map_or(0, |b| b[c]);
            let b1 = self.bias.map_or(0, |b| b[c + 1]);
            let [mut s00, mut s01, mut s10, mut s11] = [b0, b1, b0, b1];
            for ((x, w0), w1) in groups.iter().zip(w0).zip(w1) {
                let (e0, o0) = widen(word(w0));
                let (e1, o1) = widen(word(w1));
                s00 = smlad(x[1], o0, smlad(x[0], e0, s00));
                s01 = smlad(x[1], o1, smlad(x[0], e1, s01));
                s10 = smlad(x[3], o0, smlad(x[2], e0, s10));
                s11 = smlad(x[3], o1, smlad(x[2], e1, s11));
            }
            for (((&a, &b), &v0), &v1) in t0.iter().zip(t1).zip(u0).zip(u1) {
                let (a, b) = (a as i32 + self.offset, b as i32 + self.offset);
                s00 = s00.wrapping_add(a * v0 as i32);
                s01 = s01.wrapping_add(a * v1 as i32);
                s10 = s10.wrapping_add(b * v0 as i32);
                s11 = s11.wrapping_add(b * v1 as i32);
            }
            let r0 = ChannelRescale::new(self.multipliers[c], self.shifts[c]);
            let r1 = ChannelRescale::new(self.multipliers[c + 1], self.shifts[c + 1]);
            out0[c] = self.stage.store(s00, &r0);
            out0[c + 1] = self.stage.store(s01, &r1);
            if let Some(o) = out1.get_mut(c..c + 2) {
                o[0] = self.stage.store(s10, &r0);
                o[1] = self.stage.store(s11, &r1);
            }
            c += 2;
        }
        // An odd last channel: one filter row for both pixels.
        let r0 = pairs.remainder();
        if r0.len() == n && c < out0.len() {
            let (w0, u0) = words(r0);
            let b0 = self.bias.map_or(0, |b| b[c]);
            let [mut s0, mut s1] = [b0, b0];
            for (x, w0) in groups.iter().zip(w0) {
                let (e0, o0) = widen(word(w0));
                s0 = smlad(x[1], o0, smlad(x[0], e0, s0));
                s1 = smlad(x[3], o0, smlad(x[2], e0, s1));
            }
            for ((&a, &b), &v0) in t0.iter().zip(t1).zip(u0) {
                s0 = s0.wrapping_add((a as i32 + self.offset) * v0 as i32);
                s1 = s1.wrapping_add((b as i32 + self.offset) * v0 as i32);
            }
            let r0 = ChannelRescale::new(self.multipliers[c], self.shifts[c]);
            out0[c] = self.stage.store(s0, &r0);
            if let Some(o) = out1.get_mut(c) {
                *o = self.stage.store(s1, &r0);
            }
        }
    }
}

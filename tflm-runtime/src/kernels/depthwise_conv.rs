//! DEPTHWISE_CONV_2D (NHWC): int8 per-channel, int16x8 per-channel and float32.
//!
//! Bit-exact with LiteRT's `BUILTIN_REF` kernels: `reference_integer_ops::DepthwiseConvPerChannel`
//! (fixed-point per-channel requantization; 64-bit accumulator and the 64-bit
//! `MultiplyByQuantizedMultiplier` for int16) and `reference_ops::DepthwiseConv` for float
//! (taps summed in `filter_y, filter_x` order from 0.0, then `+ bias`, then the clamp).
//!
//! Output channel `k` reads input channel `k / depth_multiplier`. Like LiteRT, the depth
//! multiplier comes from the shapes (`filter channels / input channels`), not from the op's
//! `depth_multiplier` option, which some converters write wrongly. Stride, dilation, padding,
//! zero points and clamp are a [`ConvParams`], built with the same constructors as CONV_2D;
//! multipliers come from [`super::conv::per_channel_multipliers`].

use super::conv::{
    check_channels, clamp_f32, mac4_scalar, requantize, requantize_i8, ChannelScales, ConvIo,
    ConvParams, Int16Bias, KernelError, Mac, Window,
};
use super::dsp::{self, smlad, widen, widen_offset};

/// The depth multiplier LiteRT derives (`ComputeDepthMultiplier`): `None` when the filter's
/// channel count is not a multiple of the input's (or the input has none).
pub fn depth_multiplier(input_channels: usize, filter_channels: usize) -> Option<usize> {
    if input_channels == 0 || !filter_channels.is_multiple_of(input_channels) {
        return None;
    }
    Some(filter_channels / input_channels)
}

/// The in-image taps of one output pixel.
#[derive(Clone, Copy)]
struct Taps {
    /// Input row index (`b * in_h + y`) of filter row 0, which may be out of the image.
    row0: isize,
    col0: isize,
    fy: (usize, usize),
    fx: (usize, usize),
    dilation: [usize; 2],
    in_w: usize,
    in_c: usize,
    f_w: usize,
    out_c: usize,
}

impl Taps {
    /// Calls `visit(input_pixel_start, filter_tap_start)` for each in-image tap, in
    /// `(filter_y, filter_x)` order.
    #[inline(always)]
    fn for_each(&self, mut visit: impl FnMut(usize, usize)) {
        // Indices advance by constant steps along a filter row (no multiplies per tap).
        let (di, n) = (self.dilation[1] * self.in_c, self.fx.1 - self.fx.0);
        let x0 = (self.col0 + (self.fx.0 * self.dilation[1]) as isize) as usize;
        for fy in self.fy.0..self.fy.1 {
            let row = (self.row0 + (fy * self.dilation[0]) as isize) as usize * self.in_w;
            let (mut i, mut t) = (
                (row + x0) * self.in_c,
                (fy * self.f_w + self.fx.0) * self.out_c,
            );
            for _ in 0..n {
                visit(i, t);
                i += di;
                t += self.out_c;
            }
        }
    }
}

/// Channel quads whose accumulators the depth-multiplier-1 sweep keeps on the stack at once
/// (128 channels: 512 B for int8 and float, 1 KiB for int16's 64-bit sums).
const DW_QUADS: usize = 32;

/// Channel quads of a 3x3 filter the interior path re-lays on the stack (256 channels:
/// 2,304 B for int8); wider layers take the sweep everywhere.
pub const MAX_3X3_QUADS: usize = 64;

/// The loop nest shared by every variant. For each output pixel, output channels go four at
/// a time with their accumulators in registers, sweeping the in-image taps once per quad;
/// the input element of each channel is loaded as one run (depth multiplier 1) or one value
/// (multiplier a multiple of 4) where possible. `emit(first_channel, accs, outputs)`
/// requantizes (and owns `io.bias`).
#[inline(always)]
pub(crate) fn depthwise_core<T: Mac, B, O>(
    p: &ConvParams,
    io: ConvIo<'_, T, T::W, B, O>,
    emit: impl FnMut(usize, &[T::Acc], &mut [O]),
) -> Result<(), KernelError> {
    depthwise_core_with::<true, T, B, O>(p, io, emit)
}

/// [`depthwise_core`]; without `ANY_MULTIPLIER` only depth multiplier 1 with whole channel
/// quads (MobileNet's layers), anything else [`KernelError::Shape`], and the loops for the
/// other multipliers and for the channels past the last quad are not linked.
#[inline(always)]
fn depthwise_core_with<const ANY_MULTIPLIER: bool, T: Mac, B, O>(
    p: &ConvParams,
    io: ConvIo<'_, T, T::W, B, O>,
    mut emit: impl FnMut(usize, &[T::Acc], &mut [O]),
) -> Result<(), KernelError> {
    let sizes_match = io.sizes_match();
    let ConvIo {
        input_shape,
        input,
        filter_shape,
        filter,
        output_shape,
        output,
        ..
    } = io;
    let win: Window = p.window().ok_or(KernelError::Shape)?;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [one, f_h, f_w, out_c] = filter_shape;
    if one != 1 || output_shape[0] != batches || output_shape[3] != out_c || !sizes_match {
        return Err(KernelError::Shape);
    }
    if output.is_empty() {
        return Ok(());
    }
    let dm = depth_multiplier(in_c, out_c).ok_or(KernelError::Shape)?;
    if dm == 0 || (!ANY_MULTIPLIER && (dm != 1 || !out_c.is_multiple_of(4))) {
        return Err(KernelError::Shape);
    }
    let [_, out_h, out_w, _] = output_shape;
    let off = p.input_offset;
    // The multiplier-1 loops take the DSP lanes alone (an int8 zero point always fits them:
    // the verifier keeps zero points in their type's range); past this check LLVM drops the
    // scalar multiply-accumulates from those loops (about 1.9 KB).
    if !ANY_MULTIPLIER && dsp::offset16x2(off).is_none() {
        return Err(KernelError::Shape);
    }
    let mut acc_buf = [[T::ZERO; 4]; DW_QUADS];
    // 3x3, multiplier 1: each channel quad's nine weight words re-laid side by side, so the
    // interior pixels (every tap in the image) run one quad at a time over all nine taps
    // with the four sums in registers, no tap loop and no bounds tests per tap, and hand
    // them straight to `emit`. Border pixels keep the sweep below.
    let quads3 = out_c / 4;
    let relay = T::DEPTHWISE_3X3
        && dm == 1
        && [f_h, f_w] == [3, 3]
        && (1..=MAX_3X3_QUADS).contains(&quads3);
    // One flat array: as `[[[_; 4]; 9]; MAX_3X3_QUADS]` its zeroing was unrolled into one
    // `memclr` call per quad (about 0.6 KB of code).
    let mut relaid = [[T::W_ZERO; 4]; 9 * MAX_3X3_QUADS];
    let (relaid, _) = relaid.as_chunks_mut::<9>();
    let relaid = &mut relaid[..if relay { quads3 } else { 0 }];
    for (q, taps) in relaid.iter_mut().enumerate() {
        for (t, w) in taps.iter_mut().enumerate() {
            // Once per invoke: kept rolled (nine copies of the bounds checks otherwise).
            crate::rolled::keep_rolled();
            w.copy_from_slice(&filter[t * out_c + 4 * q..][..4]);
        }
    }
    let relaid = &*relaid;
    win.for_each_pixel(
        [batches, in_h, in_w],
        [f_h, f_w],
        [out_h, out_w],
        output,
        out_c,
        #[inline(always)]
        |b, (iy0, fy0, fy1), (ix0, fx0, fx1), px| {
            let taps = Taps {
                row0: (b * in_h) as isize + iy0,
                col0: ix0,
                fy: (fy0, fy1),
                fx: (fx0, fx1),
                dilation: win.dilation,
                in_w,
                in_c,
                f_w,
                out_c,
            };
            // Quads first, then the channels left one at a time.
            let mut quads = px.chunks_exact_mut(4);
            let mut oc = 0;
            if !relaid.is_empty() && (fy0, fy1, fx0, fx1) == (0, 3, 0, 3) {
                let (c, dx) = (out_c, win.dilation[1] * out_c);
                let at = |fy: usize| {
                    let y = (taps.row0 + (fy * win.dilation[0]) as isize) as usize;
                    (y * in_w + ix0 as usize) * c
                };
                let span = 2 * dx + 4 * quads3;
                let rows = [at(0), at(1), at(2)].map(|i| input.get(i..i + span));
                let [Some(r0), Some(r1), Some(r2)] = rows else {
                    return Err(KernelError::Shape);
                };
                for ((ws, quad), q) in relaid.iter().zip(&mut quads).zip(0..) {
                    let i = 4 * q;
                    let mut acc = [T::ZERO; 4];
                    let (ws, _) = ws.as_chunks::<3>();
                    if let [w0, w1, w2] = ws {
                        acc = T::mac4_row3(acc, &r0[i..], dx, w0, off);
                        acc = T::mac4_row3(acc, &r1[i..], dx, w1, off);
                        acc = T::mac4_row3(acc, &r2[i..], dx, w2, off);
                    }
                    emit(oc, &acc, quad);
                    oc += 4;
                }
            } else if dm == 1 {
                // Channels innermost: each in-image tap's input pixel and weights are
                // one run each, swept a word (four channels, DSP lanes for int8) at a
                // time into accumulators kept on the stack, up to `DW_QUADS` quads per
                // sweep. No per-tap bounds checks or index arithmetic per quad.
                while oc + 4 <= out_c {
                    let n = ((out_c - oc) / 4).min(DW_QUADS);
                    let acc = &mut acc_buf[..n];
                    acc.fill([T::ZERO; 4]);
                    let (c0, len) = (oc, 4 * n);
                    taps.for_each(|i, t| {
                        let (xs, _) = input[i + c0..i + c0 + len].as_chunks::<4>();
                        let (ws, _) = filter[t + c0..t + c0 + len].as_chunks::<4>();
                        for ((a, x), w) in acc.iter_mut().zip(xs).zip(ws) {
                            *a = T::mac4(*a, x, w, off);
                        }
                    });
                    for (a, quad) in acc.iter().zip(&mut quads) {
                        emit(oc, a, quad);
                        oc += 4;
                    }
                }
            }
            for quad in quads.by_ref().filter(|_| ANY_MULTIPLIER) {
                let mut acc = [T::ZERO; 4];
                // A macro, not a closure: called from two loops, LLVM would outline
                // a closure and keep the accumulators in memory.
                macro_rules! mac4 {
                    ($mac:path, $x:expr, $t:expr) => {{
                        let t = $t;
                        if let Ok(w) = filter[t + oc..t + oc + 4].try_into() {
                            acc = $mac(acc, $x, w, off);
                        }
                    }};
                }
                if dm % 4 == 0 {
                    // One input value for four channels: plain multiply-accumulates
                    // are as short as widening a broadcast.
                    let ic = oc / dm;
                    taps.for_each(|i, t| mac4!(mac4_scalar::<T>, &[input[i + ic]; 4], t));
                } else {
                    let ic = [oc / dm, (oc + 1) / dm, (oc + 2) / dm, (oc + 3) / dm];
                    taps.for_each(|i, t| {
                        let x = &input[i..i + in_c];
                        let x = [x[ic[0]], x[ic[1]], x[ic[2]], x[ic[3]]];
                        mac4!(mac4_scalar::<T>, &x, t);
                    });
                }
                emit(oc, &acc, quad);
                oc += 4;
            }
            for o in quads.into_remainder().iter_mut().filter(|_| ANY_MULTIPLIER) {
                let ic = oc / dm;
                let mut acc = T::ZERO;
                taps.for_each(|i, t| acc = T::mac(acc, input[i + ic], filter[t + oc], off));
                emit(oc, &[acc], core::slice::from_mut(o));
                oc += 1;
            }
            Ok(())
        },
    )
}

/// DEPTHWISE_CONV_2D, int8 activations and weights, per-channel requantization.
///
/// Shapes are NHWC: `input_shape = [batches, in_h, in_w, in_c]`, `filter_shape = [1, f_h,
/// f_w, out_c]` with `out_c` a multiple of `in_c`, `output_shape = [batches, out_h, out_w,
/// out_c]`. `multipliers`/`shifts` hold one entry per output channel; `bias` is `out_c` int32
/// values or absent. Weights are symmetric (zero point 0).
pub fn depthwise_conv_per_channel_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    per_channel_i8::<true>(p, q, io)
}

/// The int8 per-channel loop nest, for any multiplier or multiplier 1 alone
/// ([`depthwise_core_with`]).
#[inline(always)]
fn per_channel_i8<const ANY_MULTIPLIER: bool>(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    check_channels(io.filter_shape[3], q, io.bias.map(<[i32]>::len))?;
    if ANY_MULTIPLIER {
        let emit = requantize_i8(p, q, io.bias);
        return depthwise_core_with::<ANY_MULTIPLIER, _, _, _>(p, io, emit);
    }
    // The multiplier-1 registration's prepare refuses operators without a bias: a known
    // bias leaves one output stage per loop, not one per case (about 0.6 KB).
    let emit = requantize_i8(p, q, Some(io.bias.ok_or(KernelError::Shape)?));
    depthwise_core_with::<ANY_MULTIPLIER, _, _, _>(p, io, emit)
}

/// DEPTHWISE_CONV_2D int8 for the layers of MobileNet-like models alone (the
/// `DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8` registration, whose prepare refuses the others): a
/// one-channel input the one-channel kernel takes ([`one_channel_fits`]), or depth multiplier 1
/// with a multiple of 4 channels; anything else is [`KernelError::Shape`]. Arguments and
/// outputs as in [`depthwise_conv_per_channel_i8`].
pub fn depthwise_conv_multiplier_1_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    if io.input_shape[3] == 1 {
        return one_channel_only(p, q, io);
    }
    multiplier_1(p, q, io)
}

/// [`depthwise_conv_one_channel_only_i8`], never inlined: inlined into
/// [`depthwise_conv_multiplier_1_i8`] with the multiplier-1 loops, both kernels lost
/// registers (person_detect +2% instructions).
#[inline(never)]
fn one_channel_only(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    one_channel_i8(p, q, io, not_taken)
}

/// [`depthwise_conv_multiplier_1_i8`]'s multi-channel half.
#[inline(never)]
fn multiplier_1(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    per_channel_i8::<false>(p, q, io)
}

/// Bytes of the re-laid filter [`depthwise_conv_one_channel_i8`] keeps on the stack: `out_c`
/// and every filter row's taps rounded up to multiples of 4 (micro_speech's layer: 640).
pub const MAX_ONE_CHANNEL_WEIGHTS: usize = 1024;

/// Four-tap groups of one window (`f_h` times `f_w / 4` rounded up) the widened window holds
/// on the stack (256 B; micro_speech's window has 20).
pub const MAX_ONE_CHANNEL_GROUPS: usize = 32;

/// Whether [`depthwise_conv_one_channel_i8`]'s stack tables hold an `[f_h, f_w]` filter of
/// `out_c` channels (at most [`MAX_ONE_CHANNEL_GROUPS`] four-tap groups and
/// [`MAX_ONE_CHANNEL_WEIGHTS`] padded weights); `DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8`'s prepare
/// refuses the others.
pub fn one_channel_fits(f_h: usize, f_w: usize, out_c: usize) -> bool {
    let groups = f_h * f_w.div_ceil(4);
    (1..=MAX_ONE_CHANNEL_GROUPS).contains(&groups)
        && out_c.div_ceil(4) * 16 * groups <= MAX_ONE_CHANNEL_WEIGHTS
}

/// DEPTHWISE_CONV_2D, int8, over a one-channel input (micro_speech's first layer: depth
/// multiplier 8): every output channel reads the same input channel, so the op is CONV_2D
/// with `out_c` one-channel filters, run as blocked dot products.
///
/// Per invoke the filter `[1, f_h, f_w, out_c]` is re-laid on the stack (nothing kept in the
/// arena) as, per channel quad and four-tap group, the quad's four weight words one after the
/// other; rows and channels are padded with zero weights to whole groups and quads, so the
/// loops have no tails. Per output pixel the window is gathered straight into int16 pairs
/// (input offset added; a tap outside the image holds the zero point, i.e. 0 after the offset,
/// like the reference's skipped taps), lanes in `SXTB16` order, so the inner step reads two
/// window words once for four channels and one weight word per channel, into two `SMLAD`s
/// each: no window copy, no per-quad widening of the input, one running pointer per operand.
/// Same sums (wrapping int32, order-free) and requantization as the reference; arguments as
/// in [`depthwise_conv_per_channel_i8`]. Filters beyond [`MAX_ONE_CHANNEL_WEIGHTS`] or
/// [`MAX_ONE_CHANNEL_GROUPS`] go to [`depthwise_conv_per_channel_i8`].
pub fn depthwise_conv_one_channel_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    one_channel_i8(p, q, io, one_channel_fallback)
}

/// [`depthwise_conv_one_channel_i8`] for a firmware in which no other int8 depthwise runs
/// (the `DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8` registration, whose prepare refuses the filters
/// [`one_channel_fits`] rejects): what the one-channel kernel does not take is
/// [`KernelError::Shape`], so no generic kernel is linked. Same outputs otherwise.
pub fn depthwise_conv_one_channel_only_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    one_channel_i8(p, q, io, not_taken)
}

/// [`depthwise_conv_one_channel_only_i8`]'s answer for what the one-channel kernel does not
/// take: out of line and cold, as [`one_channel_fallback`] (as an inlined closure it moved
/// the kernel's code: micro_speech +1,632 instructions).
#[cold]
#[inline(never)]
fn not_taken(
    _: &ConvParams,
    _: ChannelScales<'_>,
    _: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    Err(KernelError::Shape)
}

/// A kernel of the int8 depthwise's signature.
pub(crate) type DepthwiseI8 =
    fn(&ConvParams, ChannelScales<'_>, ConvIo<'_, i8, i8, i32, i8>) -> Result<(), KernelError>;

/// The one-channel kernel, calling `fallback` for what it does not take.
#[inline(always)]
fn one_channel_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
    one_channel_fallback: DepthwiseI8,
) -> Result<(), KernelError> {
    let [batches, in_h, in_w, in_c] = io.input_shape;
    let [one, f_h, f_w, out_c] = io.filter_shape;
    let [out_b, out_h, out_w, out_c2] = io.output_shape;
    let win = p.window().ok_or(KernelError::Shape)?;
    if in_c != 1 || one != 1 || out_b != batches || out_c2 != out_c || !io.sizes_match() {
        return Err(KernelError::Shape);
    }
    check_channels(out_c, q, io.bias.map(<[i32]>::len))?;
    let row_groups = f_w.div_ceil(4);
    let groups = f_h * row_groups;
    let quad_bytes = 16 * groups;
    let (off, pad) = (
        dsp::offset16x2(p.input_offset),
        i8::try_from(p.input_offset.wrapping_neg()).ok(),
    );
    let (Some(off), Some(pad)) = (off, pad) else {
        return one_channel_fallback(p, q, io);
    };
    // `f_w` and `out_c` tested apart from `groups`: so LLVM sees the divisions and chunk
    // sizes below are never zero and links none of their panics.
    if f_w == 0
        || out_c == 0
        || groups == 0
        || groups > MAX_ONE_CHANNEL_GROUPS
        || out_c.div_ceil(4) * quad_bytes > MAX_ONE_CHANNEL_WEIGHTS
    {
        return one_channel_fallback(p, q, io);
    }
    let ConvIo {
        input,
        filter,
        bias,
        output,
        ..
    } = io;
    if output.is_empty() {
        return Ok(());
    }
    // Zero weights for the padding taps and channels: they add nothing whatever the window.
    let mut relaid = [0i8; MAX_ONE_CHANNEL_WEIGHTS];
    let relaid = &mut relaid[..out_c.div_ceil(4) * quad_bytes];
    for (c, &w) in filter.iter().enumerate() {
        let (tap, oc) = (c / out_c, c % out_c);
        let (fy, fx) = (tap / f_w, tap % f_w);
        let group = fy * row_groups + fx / 4;
        relaid[(oc / 4) * quad_bytes + group * 16 + (oc % 4) * 4 + fx % 4] = w;
    }
    let relaid = &*relaid;
    let mut emit = requantize_i8(p, q, bias);
    let mut window = [[0u32; 2]; MAX_ONE_CHANNEL_GROUPS];
    let window = &mut window[..groups];
    let [dil_h, dil_w] = win.dilation;
    win.for_each_pixel(
        [batches, in_h, in_w],
        [f_h, f_w],
        [out_h, out_w],
        output,
        out_c,
        #[inline(always)]
        |b, (iy0, fy0, fy1), (ix0, fx0, fx1), px| {
            let whole_rows = dil_w == 1 && fx0 == 0 && fx1 == f_w;
            for (fy, row) in window.chunks_exact_mut(row_groups).enumerate() {
                if !(fy0..fy1).contains(&fy) {
                    row.fill([0; 2]);
                    continue;
                }
                // Input index of this filter row's tap 0 (possibly left of the image).
                let y = (iy0 + (fy * dil_h) as isize) as usize;
                let at = ((b * in_h + y) * in_w) as isize + ix0;
                if whole_rows {
                    // Interior: the row is one run, whole words and a padded tail.
                    let i = at as usize;
                    let (run, tail) = input[i..i + f_w].as_chunks::<4>();
                    let (words, last) = row.split_at_mut(run.len());
                    for (w, x) in words.iter_mut().zip(run) {
                        let (e, o) = widen_offset(off, dsp::word(x));
                        *w = [e, o];
                    }
                    if let Some(w) = last.first_mut() {
                        let mut v = [pad; 4];
                        for (v, &x) in v.iter_mut().zip(tail) {
                            *v = x;
                        }
                        let (e, o) = widen_offset(off, dsp::word(&v));
                        *w = [e, o];
                    }
                    continue;
                }
                for (g, w) in row.iter_mut().enumerate() {
                    let mut v = [pad; 4];
                    for (j, v) in v.iter_mut().enumerate() {
                        let fx = 4 * g + j;
                        if (fx0..fx1).contains(&fx) {
                            *v = input[(at + (fx * dil_w) as isize) as usize];
                        }
                    }
                    let (e, o) = widen_offset(off, dsp::word(&v));
                    *w = [e, o];
                }
            }
            let window = &*window;
            let mut oc = 0;
            for (quad, ws) in px.chunks_mut(4).zip(relaid.chunks_exact(quad_bytes)) {
                let (ws, _) = ws.as_chunks::<16>();
                let mut acc = [0i32; 4];
                for (x, w) in window.iter().zip(ws) {
                    let (w, _) = w.as_chunks::<4>();
                    for (a, w) in acc.iter_mut().zip(w) {
                        let (we, wo) = widen(dsp::word(w));
                        *a = smlad(x[1], wo, smlad(x[0], we, *a));
                    }
                }
                emit(oc, &acc[..quad.len()], quad);
                oc += 4;
            }
            Ok(())
        },
    )
}

/// [`depthwise_conv_per_channel_i8`] for the one-channel inputs its kernel does not take: out
/// of line and cold, so that the rare call does not shape the register use of the hot kernel
/// (with the call inline, session 8's change to the generic kernel cost micro_speech 1.1%).
#[cold]
#[inline(never)]
fn one_channel_fallback(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    depthwise_conv_per_channel_i8(p, q, io)
}

/// DEPTHWISE_CONV_2D, int16 activations (zero point 0; `p.input_offset` is not used), int8
/// weights, 64-bit sum and rescale, optional int64 bias (LiteRT rejects an int32 one here).
/// Shapes and per-channel slices as in [`depthwise_conv_per_channel_i8`].
pub fn depthwise_conv_per_channel_i16(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i16, i8, i64, i16>,
) -> Result<(), KernelError> {
    let bias = io.bias;
    check_channels(io.filter_shape[3], q, bias.map(<[i64]>::len))?;
    let (lo, hi, zp) = (p.activation_min, p.activation_max, p.output_offset);
    depthwise_core(
        p,
        io,
        #[inline(always)]
        |oc, acc, out| {
            requantize(
                oc,
                acc,
                out,
                q,
                bias,
                #[inline(always)]
                |a: i64, b, m, s| i64::rescale(i64::accumulate(a, b), m, s.into()).wrapping_add(zp),
                #[inline(always)]
                |v| v.max(lo).min(hi) as i16,
            )
        },
    )
}

/// DEPTHWISE_CONV_2D in float32. Shapes as in [`depthwise_conv_per_channel_i8`].
pub fn depthwise_conv_f32(
    p: &ConvParams,
    io: ConvIo<'_, f32, f32, f32, f32>,
) -> Result<(), KernelError> {
    let bias = io.bias;
    if bias.is_some_and(|b| b.len() != io.filter_shape[3]) {
        return Err(KernelError::Shape);
    }
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    depthwise_core(
        p,
        io,
        #[inline(always)]
        |oc, acc, out| match bias {
            Some(b) => {
                for ((o, &a), &b) in out.iter_mut().zip(acc).zip(&b[oc..oc + acc.len()]) {
                    *o = clamp_f32(a + b, lo, hi);
                }
            }
            None => {
                for (o, &a) in out.iter_mut().zip(acc) {
                    *o = clamp_f32(a + 0.0, lo, hi);
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::conv::{channel_multiplier, compute_padding, PaddingValues};
    use super::*;
    use crate::types::{Activation, Padding};

    fn params(stride: i32, dil: i32, pad: PaddingValues, in_zp: i32, out_zp: i32) -> ConvParams {
        ConvParams::quantized(
            [stride; 2],
            [dil; 2],
            pad,
            in_zp,
            out_zp,
            1.0,
            Activation::None,
            -128,
            127,
        )
    }

    const NO_PAD: PaddingValues = PaddingValues::NONE;

    /// The reference loop nest, transcribed plainly (sums only).
    #[allow(clippy::too_many_arguments)]
    fn naive(
        input: &[i32],
        ishape: [usize; 4],
        filter: &[i32],
        fshape: [usize; 4],
        oshape: [usize; 4],
        stride: usize,
        dil: usize,
        pad: [usize; 2],
        out: &mut [i32],
    ) {
        let dm = fshape[3] / ishape[3];
        for oy in 0..oshape[1] {
            for ox in 0..oshape[2] {
                for oc in 0..oshape[3] {
                    let mut acc = 0;
                    for fy in 0..fshape[1] {
                        for fx in 0..fshape[2] {
                            let iy = (oy * stride + fy * dil) as isize - pad[0] as isize;
                            let ix = (ox * stride + fx * dil) as isize - pad[1] as isize;
                            if iy < 0
                                || ix < 0
                                || iy >= ishape[1] as isize
                                || ix >= ishape[2] as isize
                            {
                                continue;
                            }
                            let x = input
                                [(iy as usize * ishape[2] + ix as usize) * ishape[3] + oc / dm];
                            acc += x * filter[(fy * fshape[2] + fx) * fshape[3] + oc];
                        }
                    }
                    out[(oy * oshape[2] + ox) * oshape[3] + oc] = acc;
                }
            }
        }
    }

    #[test]
    fn depth_multipliers_strides_dilation_padding() {
        // 6x5 input with 3 channels; depth multipliers 1, 2 and 20 (beyond one block); SAME
        // and VALID; stride 2; dilation 2. Multiplier 1 and values chosen to stay in int8.
        let input: [i8; 90] = core::array::from_fn(|i| (i % 7) as i8 - 3);
        for (dm, padding, stride, dil) in [
            (1usize, Padding::Same, 1, 1),
            (2, Padding::Valid, 1, 1),
            (2, Padding::Same, 2, 1),
            (1, Padding::Same, 1, 2),
            (20, Padding::Same, 2, 2),
            (6, Padding::Valid, 1, 1),
        ] {
            let out_c = 3 * dm;
            let fshape = [1, 3, 3, out_c];
            let mut filter = [0i8; 9 * 60];
            let filter = &mut filter[..9 * out_c];
            for (i, w) in filter.iter_mut().enumerate() {
                *w = ((i * 7 + 3) % 3) as i8 - 1;
            }
            let w = compute_padding(padding, stride, stride, dil, dil, 6, 5, 3, 3).unwrap();
            let oshape = [1, w.out_height as usize, w.out_width as usize, out_c];
            let n = oshape[1] * oshape[2] * out_c;
            let p = params(stride, dil, w.padding, 0, 0);
            let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
            let mut out = [0i8; 30 * 60];
            depthwise_conv_per_channel_i8(
                &p,
                ChannelScales {
                    multipliers: &[m; 60],
                    shifts: &[s as i8; 60],
                },
                ConvIo {
                    input_shape: [1, 6, 5, 3],
                    input: &input,
                    filter_shape: fshape,
                    filter,
                    bias: None,
                    output_shape: oshape,
                    output: &mut out[..n],
                },
            )
            .unwrap();
            let mut want = [0i32; 30 * 60];
            let fi: [i32; 540] = core::array::from_fn(|i| filter.get(i).map_or(0, |&v| v as i32));
            naive(
                &input.map(i32::from),
                [1, 6, 5, 3],
                &fi[..9 * out_c],
                fshape,
                oshape,
                stride as usize,
                dil as usize,
                [w.padding.height as usize, w.padding.width as usize],
                &mut want,
            );
            for i in 0..n {
                assert_eq!(
                    out[i] as i32, want[i],
                    "dm {dm} {padding:?} s{stride} d{dil} at {i}"
                );
            }
        }
    }

    #[test]
    fn int8_zero_points_saturation_and_per_channel_scales() {
        // 1x1 image, 2 input channels, depth multiplier 2; input zp -128 and output zp 127.
        let input = [-128i8, 127];
        let filter = [127i8, -128, 2, -1];
        let scales = [1.0f32, 1.0 / 256.0, 0.5, 0.25];
        let mut m = [0; 4];
        let mut s = [0; 4];
        super::super::conv::per_channel_multipliers(1.0, &scales, 1.0, &mut m, &mut s).unwrap();
        let mut out = [0i8; 4];
        let run = |p: &ConvParams, bias: [i32; 4], out: &mut [i8; 4]| {
            depthwise_conv_per_channel_i8(
                p,
                ChannelScales {
                    multipliers: &m,
                    shifts: &s,
                },
                ConvIo {
                    input_shape: [1, 1, 1, 2],
                    input: &input,
                    filter_shape: [1, 1, 1, 4],
                    filter: &filter,
                    bias: Some(&bias),
                    output_shape: [1, 1, 1, 4],
                    output: out,
                },
            )
            .unwrap()
        };
        // Offsets +128: x = [0, 255]. Sums: 0, 0, 510, -255.
        run(&params(1, 1, NO_PAD, -128, 0), [0, 0, 0, 0], &mut out);
        // 510 * 0.5 = 255 -> 127; -255 * 0.25 = -63.75 -> -64.
        assert_eq!(out, [0, 0, 127, -64]);
        run(
            &params(1, 1, NO_PAD, -128, 127),
            [1, 300, -1000, 0],
            &mut out,
        );
        // 1 -> 128 -> 127; 300/256 = 1.17 -> 1 + 127 = 128 -> 127; (510-1000)*.5 = -245
        // + 127 = -118; -64 + 127 = 63.
        assert_eq!(out, [127, 127, -118, 63]);
        // Input zp 127: x = [-255, 0]; channel 0: -255 * 127 saturates at -128; channel 1:
        // 32640 / 256 = 127.5 -> 128 (tie away from zero in the rounding shift) - 128 = 0.
        run(&params(1, 1, NO_PAD, 127, -128), [0, 0, 0, 0], &mut out);
        assert_eq!(out, [-128, 0, -128, -128]);
    }

    #[test]
    fn int8_padding_edges_skip_taps() {
        // 2x2 input of ones with zp -10 (offset 10 -> 11 each), 3x3 all-ones filter, SAME:
        // every output sees exactly the 4 in-image pixels -> 44, never 9 * 11.
        let p = params(
            1,
            1,
            compute_padding(Padding::Same, 1, 1, 1, 1, 2, 2, 3, 3)
                .unwrap()
                .padding,
            -10,
            0,
        );
        let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
        let mut out = [0i8; 4];
        depthwise_conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[m],
                shifts: &[s as i8],
            },
            ConvIo {
                input_shape: [1, 2, 2, 1],
                input: &[1; 4],
                filter_shape: [1, 3, 3, 1],
                filter: &[1; 9],
                bias: None,
                output_shape: [1, 2, 2, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [44; 4]);
    }

    #[test]
    fn int16_sixty_four_bit_path() {
        let p = ConvParams::quantized(
            [1, 1],
            [1, 1],
            NO_PAD,
            0,
            0,
            1.0,
            Activation::Relu,
            -32768,
            32767,
        );
        let (m, s) = channel_multiplier(1.0, 0.5, 1.0);
        let mut out = [0i16; 3];
        depthwise_conv_per_channel_i16(
            &p,
            ChannelScales {
                multipliers: &[m; 3],
                shifts: &[s as i8; 3],
            },
            ConvIo {
                input_shape: [1, 1, 1, 3],
                input: &[-32768, 3, 32767],
                filter_shape: [1, 1, 1, 3],
                filter: &[-128, 1, 127],
                bias: Some(&[0i64, 0, 1 << 40]),
                output_shape: [1, 1, 1, 3],
                output: &mut out,
            },
        )
        .unwrap();
        // 4194304 * 0.5 saturates; 3 * 0.5 = 1.5 -> 2 (64-bit rescale rounds half up);
        // the 2^40 bias saturates too.
        assert_eq!(out, [32767, 2, 32767]);
    }

    #[test]
    fn float_taps_in_order_with_bias_and_relu6() {
        let p = ConvParams::float([1, 1], [1, 1], NO_PAD, Activation::Relu6);
        let mut out = [0.0f32; 4];
        // 1x3 input, 1 channel, 1x3 filter, depth multiplier 4.
        depthwise_conv_f32(
            &p,
            ConvIo {
                input_shape: [1, 1, 3, 1],
                input: &[1e8, 1.0, -1e8],
                filter_shape: [1, 1, 3, 4],
                filter: &[1.0, 1.0, 0.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                bias: Some(&[0.5, 0.0, 1.0, -1.0]),
                output_shape: [1, 1, 1, 4],
                output: &mut out,
            },
        )
        .unwrap();
        // ch0: 1e8 + 1 - 1e8 = 0 in f32, + 0.5; ch1: 1e8 + 2 = 1e8 -> clamp 6; ch2: 1 + 1;
        // ch3: 0 - 1 -> clamp 0.
        assert_eq!(out, [0.5, 6.0, 2.0, 0.0]);
    }

    #[test]
    fn shape_errors() {
        let p = params(1, 1, NO_PAD, 0, 0);
        let mut out = [0i8; 3];
        // 3 filter channels over 2 input channels is no depth multiplier.
        let r = depthwise_conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[1; 3],
                shifts: &[0; 3],
            },
            ConvIo {
                input_shape: [1, 1, 1, 2],
                input: &[1, 2],
                filter_shape: [1, 1, 1, 3],
                filter: &[1, 1, 1],
                bias: None,
                output_shape: [1, 1, 1, 3],
                output: &mut out,
            },
        );
        assert_eq!(r, Err(KernelError::Shape));
        assert_eq!(depth_multiplier(0, 4), None);
        assert_eq!(depth_multiplier(4, 8), Some(2));
    }
}

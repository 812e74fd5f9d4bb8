//! CONV_2D (NHWC): int8 per-channel, int16x8 per-channel and float32, plus the padding and
//! output-size arithmetic shared by every windowed op (depthwise convolution, pooling).
//!
//! Bit-exact with LiteRT's `BUILTIN_REF` kernels: `reference_integer_ops::ConvPerChannel`
//! (fixed-point requantization per output channel; the int16 variant accumulates in 64 bits and
//! uses the 64-bit `MultiplyByQuantizedMultiplier`) and `reference_ops::Conv` for float (products
//! summed in `filter_y, filter_x, in_channel` order, bias added last). Grouped convolution
//! (`filter in_channels` a divisor of the input's) is supported as in the reference kernel.

use super::dsp;
use super::requant::{ChannelRescale, OutputStage};
use crate::quant::{
    activation_range_f32, activation_range_quantized, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_i64, quantize_multiplier,
};
use crate::types::{Activation, Padding};

/// Why a kernel refused to run. The interpreter validates shapes at init, so seeing this at
/// invoke time means a bug upstream, never a reason to panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// Slice lengths, shapes or parameters disagree (or a size product overflows).
    Shape,
    /// An average-pool window holds no in-image element (TFLite fails the op likewise).
    EmptyWindow,
}

/// Padding before the first row/column (`height`, `width`) and the extra padding after the last
/// one (`*_offset`, 0 or 1) — TFLite's `TfLitePaddingValues`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PaddingValues {
    pub height: i32,
    pub width: i32,
    pub height_offset: i32,
    pub width_offset: i32,
}

impl PaddingValues {
    /// No padding on any side (VALID padding, or a window that fits).
    pub const NONE: Self = Self {
        height: 0,
        width: 0,
        height_offset: 0,
        width_offset: 0,
    };
}

/// Output spatial size and padding of a windowed op (TFLite's `ComputePaddingHeightWidth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddedWindow {
    pub out_height: i32,
    pub out_width: i32,
    pub padding: PaddingValues,
}

/// Output length along one axis (TFLite's `ComputeOutSizeChecked`, i.e. TensorFlow's
/// `GetWindowedOutputSize`). `None` where TFLite reports an error: stride, dilation or filter
/// below 1, negative image size, a negative result or one beyond `i32`. The VALID division
/// truncates toward zero like C, so e.g. image 2, filter 5, stride 2 gives 0, not an error.
pub fn compute_out_size(
    padding: Padding,
    image_size: i32,
    filter_size: i32,
    stride: i32,
    dilation: i32,
) -> Option<i32> {
    if image_size < 0 || filter_size <= 0 || stride <= 0 || dilation <= 0 {
        return None;
    }
    let effective_filter = (filter_size as i64 - 1) * dilation as i64 + 1;
    let (image, stride) = (image_size as i64, stride as i64);
    let value = match padding {
        Padding::Same => (image + stride - 1) / stride,
        Padding::Valid => (image + stride - effective_filter) / stride,
    };
    if value < 0 {
        return None;
    }
    i32::try_from(value).ok()
}

/// Leading padding and trailing extra (`offset`) along one axis (TFLite's
/// `ComputePaddingWithOffsetChecked`): half the total padding, the odd element going after.
pub fn compute_padding_with_offset(
    stride: i32,
    dilation: i32,
    in_size: i32,
    filter_size: i32,
    out_size: i32,
) -> Option<(i32, i32)> {
    if in_size < 0 || filter_size <= 0 || out_size < 0 || stride <= 0 || dilation <= 0 {
        return None;
    }
    let effective_filter = (filter_size as i64 - 1) * dilation as i64 + 1;
    let total = ((out_size as i64 - 1) * stride as i64 + effective_filter - in_size as i64).max(0);
    Some((i32::try_from(total / 2).ok()?, (total % 2) as i32))
}

/// Output size and padding of a 2-D window (TFLite's `ComputePaddingHeightWidthChecked`);
/// `None` exactly where TFLite's checked variant fails.
#[allow(clippy::too_many_arguments)]
pub fn compute_padding(
    padding: Padding,
    stride_height: i32,
    stride_width: i32,
    dilation_height: i32,
    dilation_width: i32,
    in_height: i32,
    in_width: i32,
    filter_height: i32,
    filter_width: i32,
) -> Option<PaddedWindow> {
    let out_width = compute_out_size(
        padding,
        in_width,
        filter_width,
        stride_width,
        dilation_width,
    )?;
    let out_height = compute_out_size(
        padding,
        in_height,
        filter_height,
        stride_height,
        dilation_height,
    )?;
    let (height, height_offset) = compute_padding_with_offset(
        stride_height,
        dilation_height,
        in_height,
        filter_height,
        out_height,
    )?;
    let (width, width_offset) = compute_padding_with_offset(
        stride_width,
        dilation_width,
        in_width,
        filter_width,
        out_width,
    )?;
    Some(PaddedWindow {
        out_height,
        out_width,
        padding: PaddingValues {
            height,
            width,
            height_offset,
            width_offset,
        },
    })
}

/// Fixed-point multiplier and shift of one output channel, computed in double exactly as
/// TFLite's `PopulateConvolutionQuantizationParams`: `in * filter / out`, left to right.
pub fn channel_multiplier(input_scale: f32, filter_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(input_scale as f64 * filter_scale as f64 / output_scale as f64)
}

/// Fills one multiplier and shift per output channel (`multipliers.len()` channels). A single
/// filter scale (per-tensor weights) is broadcast to every channel, as TFLite does; otherwise
/// there must be one scale per channel.
pub fn per_channel_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    multipliers: &mut [i32],
    shifts: &mut [i8],
) -> Result<(), KernelError> {
    let n = multipliers.len();
    if shifts.len() != n || !(filter_scales.len() == 1 || filter_scales.len() == n) {
        return Err(KernelError::Shape);
    }
    let broadcast = filter_scales.len() == 1;
    for (i, (m, s)) in multipliers.iter_mut().zip(shifts.iter_mut()).enumerate() {
        let fs = filter_scales[if broadcast { 0 } else { i }];
        let (mi, si) = channel_multiplier(input_scale, fs, output_scale);
        *m = mi;
        *s = i8::try_from(si).map_err(|_| KernelError::Shape)?;
    }
    Ok(())
}

/// The tensors of one convolution as the kernels take them: NHWC shapes and data of the
/// input, the filter (in its op's layout: `[out_c, f_h, f_w, f_c]` for CONV_2D, `[1, f_h, f_w,
/// out_c]` for DEPTHWISE_CONV_2D), the optional bias (one per output channel) and the output.
/// Kernels check every length against its shape and report a mismatch as
/// [`KernelError::Shape`].
#[derive(Debug)]
pub struct ConvIo<'a, X, W, B, O> {
    pub input_shape: [usize; 4],
    pub input: &'a [X],
    pub filter_shape: [usize; 4],
    pub filter: &'a [W],
    pub bias: Option<&'a [B]>,
    pub output_shape: [usize; 4],
    pub output: &'a mut [O],
}

impl<X, W, B, O> ConvIo<'_, X, W, B, O> {
    /// Whether the input, filter and output slices hold exactly as many elements as their
    /// shapes say (the kernels index them by shape).
    pub(crate) fn sizes_match(&self) -> bool {
        volume(self.input_shape) == Some(self.input.len())
            && volume(self.filter_shape) == Some(self.filter.len())
            && volume(self.output_shape) == Some(self.output.len())
    }
}

/// One fixed-point multiplier and shift per output channel (see [`per_channel_multipliers`]).
/// Shifts are bytes: valid scales give -31..=31, and a third of the per-channel op data is
/// saved (2,738 channels on person_detect: 8.2 KB of arena).
#[derive(Clone, Copy, Debug)]
pub struct ChannelScales<'a> {
    pub multipliers: &'a [i32],
    pub shifts: &'a [i8],
}

/// Stride, dilation, padding, zero points and clamp range of one CONV_2D. Built once at init;
/// the integer fields are used by the quantized kernels, the float ones by [`conv_f32`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    pub stride_height: i32,
    pub stride_width: i32,
    pub dilation_height: i32,
    pub dilation_width: i32,
    /// Rows/columns of padding before the image (`PaddingValues::height` / `width`).
    pub padding_height: i32,
    pub padding_width: i32,
    /// `-input_zero_point` (int8 only: int16 activations have zero point 0).
    pub input_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub activation_min: i32,
    pub activation_max: i32,
    pub float_activation_min: f32,
    pub float_activation_max: f32,
}

impl ConvParams {
    /// Quantized parameters: `qmin`/`qmax` are the output type's limits (-128/127 for int8,
    /// -32768/32767 for int16); the clamp is TFLite's `CalculateActivationRangeQuantized`.
    #[allow(clippy::too_many_arguments)]
    pub fn quantized(
        stride: [i32; 2],
        dilation: [i32; 2],
        padding: PaddingValues,
        input_zero_point: i32,
        output_zero_point: i32,
        output_scale: f32,
        activation: Activation,
        qmin: i32,
        qmax: i32,
    ) -> Self {
        let (activation_min, activation_max) =
            activation_range_quantized(activation, output_scale, output_zero_point, qmin, qmax);
        let (float_activation_min, float_activation_max) = activation_range_f32(activation);
        ConvParams {
            stride_height: stride[0],
            stride_width: stride[1],
            dilation_height: dilation[0],
            dilation_width: dilation[1],
            padding_height: padding.height,
            padding_width: padding.width,
            input_offset: input_zero_point.wrapping_neg(),
            output_offset: output_zero_point,
            activation_min,
            activation_max,
            float_activation_min,
            float_activation_max,
        }
    }

    /// Float parameters (`stride` and `dilation` as `[height, width]`).
    pub fn float(
        stride: [i32; 2],
        dilation: [i32; 2],
        padding: PaddingValues,
        activation: Activation,
    ) -> Self {
        Self::quantized(stride, dilation, padding, 0, 0, 1.0, activation, 0, 0)
    }

    /// The int8 output's zero point and clamp.
    pub(crate) fn output_stage(&self) -> OutputStage {
        OutputStage {
            zero_point: self.output_offset,
            min: self.activation_min,
            max: self.activation_max,
        }
    }

    pub(crate) fn window(&self) -> Option<Window> {
        Window::new(
            [self.stride_height, self.stride_width],
            [self.dilation_height, self.dilation_width],
            [self.padding_height, self.padding_width],
        )
    }
}

/// TFLite's `ActivationFunctionWithMinMax` with `std::max`/`std::min` semantics: a NaN passes
/// through, and the bounds win only when strictly beyond them.
#[inline(always)]
pub(crate) fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if hi < x {
        hi
    } else {
        x
    }
}

/// One multiply-accumulate of a quantized or float kernel: how an input element, a weight
/// and the input offset combine into the accumulator type the reference kernel uses.
pub(crate) trait Mac: Copy {
    type W: Copy;
    type Acc: Copy;
    const ZERO: Self::Acc;
    /// A zero weight (fills stack buffers of weights before they are written).
    const W_ZERO: Self::W;
    /// Whether the depthwise kernel takes its 3x3 interior path (accumulators in registers,
    /// weights re-laid on the stack): int8 only, where it pays for its code.
    const DEPTHWISE_3X3: bool = false;
    fn mac(acc: Self::Acc, x: Self, w: Self::W, input_offset: i32) -> Self::Acc;

    /// `acc + Σ x[i] * w[i]`; by default [`dot_scalar`], int8 overrides it with
    /// [`dsp::dot_i8`] (exact: wrapping int32 sums do not depend on the order).
    #[inline(always)]
    fn dot(acc: Self::Acc, x: &[Self], w: &[Self::W], input_offset: i32) -> Self::Acc {
        dot_scalar(acc, x, w, input_offset)
    }

    /// Four independent lanes `acc[k] + x[k] * w[k]` (depthwise convolution); int8
    /// overrides it with [`dsp::mac4_i8`].
    #[inline(always)]
    fn mac4(acc: [Self::Acc; 4], x: &[Self; 4], w: &[Self::W; 4], off: i32) -> [Self::Acc; 4] {
        mac4_scalar(acc, x, w, off)
    }

    /// One filter row of three taps for a channel quad (`x` from the row's first tap, taps
    /// `dx` apart); int8 overrides it with [`dsp::mac4_row3_i8`].
    #[inline(always)]
    fn mac4_row3(
        acc: [Self::Acc; 4],
        x: &[Self],
        dx: usize,
        w: &[[Self::W; 4]; 3],
        off: i32,
    ) -> [Self::Acc; 4] {
        let mut acc = acc;
        for (t, w) in w.iter().enumerate() {
            if let Some(Ok(x)) = x.get(t * dx..t * dx + 4).map(<&[Self; 4]>::try_from) {
                acc = Self::mac4(acc, x, w, off);
            }
        }
        acc
    }

    /// Four [`Mac::dot`]s over one input run; by default [`dot4_scalar`].
    #[inline(always)]
    fn dot4(
        acc: [Self::Acc; 4],
        x: &[Self],
        w: [&[Self::W]; 4],
        input_offset: i32,
    ) -> [Self::Acc; 4] {
        dot4_scalar(acc, x, w, input_offset)
    }
}

impl Mac for i8 {
    type W = i8;
    type Acc = i32;
    const ZERO: i32 = 0;
    const W_ZERO: i8 = 0;
    const DEPTHWISE_3X3: bool = true;
    /// `acc += w * (x + input_offset)` in 32 bits; wrapping, like the C++ int on overflow.
    #[inline(always)]
    fn mac(acc: i32, x: i8, w: i8, input_offset: i32) -> i32 {
        acc.wrapping_add((x as i32).wrapping_add(input_offset).wrapping_mul(w as i32))
    }

    /// Two MACs per `SMLAD` when `x + input_offset` fits 16 bits (any int8 zero point) and
    /// the run holds at least one word: shorter runs (a 3x3 filter row over one input
    /// channel) would all go to the word loop's scalar tail and pay its setup, which made
    /// digits' first CONV_2D 1.9x slower than the plain loop.
    #[inline(always)]
    fn dot(acc: i32, x: &[i8], w: &[i8], input_offset: i32) -> i32 {
        match dsp::offset16x2(input_offset) {
            Some(off) if x.len() >= dsp::WORD => dsp::dot_i8(acc, x, w, off, input_offset),
            _ => dot_scalar(acc, x, w, input_offset),
        }
    }

    #[inline(always)]
    fn mac4(acc: [i32; 4], x: &[i8; 4], w: &[i8; 4], input_offset: i32) -> [i32; 4] {
        match dsp::offset16x2(input_offset) {
            Some(off) => dsp::mac4_i8(acc, x, w, off),
            None => mac4_scalar(acc, x, w, input_offset),
        }
    }

    #[inline(always)]
    fn mac4_row3(acc: [i32; 4], x: &[i8], dx: usize, w: &[[i8; 4]; 3], off: i32) -> [i32; 4] {
        match dsp::offset16x2(off) {
            Some(o) => dsp::mac4_row3_i8(acc, x, dx, w, o),
            None => {
                let mut acc = acc;
                for (t, w) in w.iter().enumerate() {
                    if let Some(Ok(x)) = x.get(t * dx..t * dx + 4).map(<&[i8; 4]>::try_from) {
                        acc = mac4_scalar::<i8>(acc, x, w, off);
                    }
                }
                acc
            }
        }
    }

    /// As [`Mac::dot`]: `SMLAD` for runs of at least one word, the plain loop below that.
    #[inline(always)]
    fn dot4(acc: [i32; 4], x: &[i8], w: [&[i8]; 4], input_offset: i32) -> [i32; 4] {
        match dsp::offset16x2(input_offset) {
            Some(off) if x.len() >= dsp::WORD => dsp::dot4_i8(acc, x, w, off, input_offset),
            _ => dot4_scalar(acc, x, w, input_offset),
        }
    }
}

impl Mac for i16 {
    type W = i8;
    type Acc = i64;
    const ZERO: i64 = 0;
    const W_ZERO: i8 = 0;
    /// `acc += w * x` in 64 bits (one SMLAL on Cortex-M4); int16 activations have zero point 0.
    #[inline(always)]
    fn mac(acc: i64, x: i16, w: i8, _input_offset: i32) -> i64 {
        acc.wrapping_add((x as i32 * w as i32) as i64)
    }
}

impl Mac for f32 {
    type W = f32;
    type Acc = f32;
    const ZERO: f32 = 0.0;
    const W_ZERO: f32 = 0.0;
    /// `total += x * w`: a rounded product, then a rounded sum (no fused multiply-add).
    #[inline(always)]
    fn mac(acc: f32, x: f32, w: f32, _input_offset: i32) -> f32 {
        acc + x * w
    }
}

/// Four independent lanes `acc[k] + x[k] * w[k]`, one [`Mac::mac`] each.
#[inline(always)]
pub(crate) fn mac4_scalar<T: Mac>(
    acc: [T::Acc; 4],
    x: &[T; 4],
    w: &[T::W; 4],
    off: i32,
) -> [T::Acc; 4] {
    [
        T::mac(acc[0], x[0], w[0], off),
        T::mac(acc[1], x[1], w[1], off),
        T::mac(acc[2], x[2], w[2], off),
        T::mac(acc[3], x[3], w[3], off),
    ]
}

/// `acc + Σ x[i] * w[i]` in order: the reference kernels' loop.
#[inline(always)]
pub(crate) fn dot_scalar<T: Mac>(acc: T::Acc, x: &[T], w: &[T::W], input_offset: i32) -> T::Acc {
    x.iter()
        .zip(w)
        .fold(acc, |a, (&x, &w)| T::mac(a, x, w, input_offset))
}

/// Four dot products sharing one input run: each input element is loaded once for four
/// output channels. Each accumulator still sums in order, so float results are unchanged.
#[inline(always)]
pub(crate) fn dot4_scalar<T: Mac>(
    acc: [T::Acc; 4],
    x: &[T],
    w: [&[T::W]; 4],
    input_offset: i32,
) -> [T::Acc; 4] {
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    for ((((&xi, &v0), &v1), &v2), &v3) in x.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
        a0 = T::mac(a0, xi, v0, input_offset);
        a1 = T::mac(a1, xi, v1, input_offset);
        a2 = T::mac(a2, xi, v2, input_offset);
        a3 = T::mac(a3, xi, v3, input_offset);
    }
    [a0, a1, a2, a3]
}

/// Strides, dilations and leading padding, validated (all at least 1, padding at least 0).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    pub(crate) fn new(stride: [i32; 2], dilation: [i32; 2], padding: [i32; 2]) -> Option<Window> {
        let pos = |v: i32| if v >= 1 { Some(v as usize) } else { None };
        let nonneg = |v: i32| if v >= 0 { Some(v as usize) } else { None };
        Some(Window {
            stride: [pos(stride[0])?, pos(stride[1])?],
            dilation: [pos(dilation[0])?, pos(dilation[1])?],
            padding: [nonneg(padding[0])?, nonneg(padding[1])?],
        })
    }

    /// Filter taps `lo..hi` along axis `axis` (0 = height) that land inside an image of
    /// `size` for output coordinate `out`; the reference kernels skip the others ("zero
    /// padding by omitting the areas outside the image"). Also returns the input coordinate of
    /// tap 0, which may be negative.
    #[inline(always)]
    pub(crate) fn taps(
        &self,
        axis: usize,
        out: usize,
        filter: usize,
        size: usize,
    ) -> (isize, usize, usize) {
        let dil = self.dilation[axis];
        let origin = (out * self.stride[axis]) as isize - self.padding[axis] as isize;
        if dil == 1 {
            // The common case, without divisions.
            let lo = origin.min(0).unsigned_abs();
            let hi = (size as isize - origin).clamp(0, filter as isize) as usize;
            return (origin, lo, hi.max(lo));
        }
        let lo = if origin >= 0 {
            0
        } else {
            (origin.unsigned_abs()).div_ceil(dil)
        };
        let room = size as isize - origin;
        let hi = if room <= 0 {
            0
        } else {
            (room as usize).div_ceil(dil).min(filter)
        };
        (origin, lo, hi.max(lo))
    }
}

impl Window {
    /// The output-pixel loop nest every convolution shares: for each batch, output row and
    /// column, in output order, `pixel(batch, rows, cols, outputs)` with each axis's in-image
    /// taps from [`Window::taps`] and the pixel's `out_c` outputs. An output shorter than the
    /// pixels, or an error from `pixel`, ends it with that error.
    #[inline(always)]
    pub(crate) fn for_each_pixel<O>(
        &self,
        [batches, in_h, in_w]: [usize; 3],
        [f_h, f_w]: [usize; 2],
        [out_h, out_w]: [usize; 2],
        output: &mut [O],
        out_c: usize,
        mut pixel: impl FnMut(
            usize,
            (isize, usize, usize),
            (isize, usize, usize),
            &mut [O],
        ) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let mut out_px = output.chunks_exact_mut(out_c);
        for b in 0..batches {
            for oy in 0..out_h {
                let rows = self.taps(0, oy, f_h, in_h);
                for ox in 0..out_w {
                    let cols = self.taps(1, ox, f_w, in_w);
                    let px = out_px.next().ok_or(KernelError::Shape)?;
                    pixel(b, rows, cols, px)?;
                }
            }
        }
        Ok(())
    }
}

/// `a * b * c * d`, or `None` on overflow.
pub(crate) fn volume(s: [usize; 4]) -> Option<usize> {
    s[0].checked_mul(s[1])?.checked_mul(s[2])?.checked_mul(s[3])
}

/// The loop nest shared by all CONV_2D variants (`io.bias` is `emit`'s): for each output pixel and channel, the sum of
/// products over the in-image taps, handed to `emit(first_channel, accs, outputs)` for
/// requantization (four channels at a time, or one). Without groups, four output channels are
/// computed per pass over the input; with unit width dilation, the taps of a filter row are
/// one contiguous run of input and weights.
#[inline(always)]
pub(crate) fn conv_core<T: Mac, B, O>(
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
    let win = p.window().ok_or(KernelError::Shape)?;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, f_h, f_w, f_c] = filter_shape;
    let [out_b, out_h, out_w, out_c2] = output_shape;
    if out_b != batches || out_c2 != out_c || f_c == 0 || !in_c.is_multiple_of(f_c) || !sizes_match
    {
        return Err(KernelError::Shape);
    }
    let groups = in_c / f_c;
    if groups == 0 || !out_c.is_multiple_of(groups) {
        return Err(KernelError::Shape);
    }
    let filter_stride = f_h * f_w * f_c; // weights per output channel
    if output.is_empty() || filter_stride == 0 {
        // No taps at all: every output is its bias alone.
        for px in output.chunks_exact_mut(out_c.max(1)) {
            for (oc, o) in px.iter_mut().enumerate() {
                emit(oc, &[T::ZERO], core::slice::from_mut(o));
            }
        }
        return Ok(());
    }
    let filters_per_group = out_c / groups;
    let off = p.input_offset;
    let contiguous = win.dilation[1] == 1 && groups == 1;
    let [dil_h, dil_w] = win.dilation;
    win.for_each_pixel(
        [batches, in_h, in_w],
        [f_h, f_w],
        [out_h, out_w],
        output,
        out_c,
        #[inline(always)]
        |b, (iy0, fy0, fy1), (ix0, fx0, fx1), px| {
            // Input index of (b, row, col, 0): `row`/`col` are in-image by construction.
            // (Macros, not closures: LLVM must not outline these.)
            macro_rules! at {
                ($fy:expr, $fx:expr) => {{
                    let y = (iy0 + ($fy * dil_h) as isize) as usize;
                    let x = (ix0 + ($fx * dil_w) as isize) as usize;
                    ((b * in_h + y) * in_w + x) * in_c
                }};
            }
            macro_rules! tap {
                ($fy:expr, $fx:expr) => {
                    ($fy * f_w + $fx) * f_c
                };
            }
            let run = (fx1 - fx0) * f_c;
            if groups == 1 {
                let mut rows = filter.chunks_exact(filter_stride);
                let mut quads = px.chunks_exact_mut(4);
                let mut oc = 0;
                for quad in &mut quads {
                    let (Some(f0), Some(f1), Some(f2), Some(f3)) =
                        (rows.next(), rows.next(), rows.next(), rows.next())
                    else {
                        return Err(KernelError::Shape);
                    };
                    macro_rules! ws {
                        ($t:expr, $n:expr) => {{
                            let (t, n) = ($t, $n);
                            [&f0[t..t + n], &f1[t..t + n], &f2[t..t + n], &f3[t..t + n]]
                        }};
                    }
                    let mut acc = [T::ZERO; 4];
                    for fy in fy0..fy1 {
                        if contiguous {
                            let i = at!(fy, fx0);
                            acc = T::dot4(acc, &input[i..i + run], ws!(tap!(fy, fx0), run), off);
                        } else {
                            for fx in fx0..fx1 {
                                let i = at!(fy, fx);
                                acc = T::dot4(acc, &input[i..i + f_c], ws!(tap!(fy, fx), f_c), off);
                            }
                        }
                    }
                    emit(oc, &acc, quad);
                    oc += 4;
                }
                for (o, w) in quads.into_remainder().iter_mut().zip(rows) {
                    let mut acc = T::ZERO;
                    for fy in fy0..fy1 {
                        if contiguous {
                            let i = at!(fy, fx0);
                            let t = tap!(fy, fx0);
                            acc = T::dot(acc, &input[i..i + run], &w[t..t + run], off);
                        } else {
                            for fx in fx0..fx1 {
                                let i = at!(fy, fx);
                                let t = tap!(fy, fx);
                                acc = T::dot(acc, &input[i..i + f_c], &w[t..t + f_c], off);
                            }
                        }
                    }
                    emit(oc, &[acc], core::slice::from_mut(o));
                    oc += 1;
                }
            } else {
                for (oc, (o, w)) in px
                    .iter_mut()
                    .zip(filter.chunks_exact(filter_stride))
                    .enumerate()
                {
                    let g = (oc / filters_per_group) * f_c;
                    let mut acc = T::ZERO;
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let i = at!(fy, fx) + g;
                            let t = tap!(fy, fx);
                            acc = T::dot(acc, &input[i..i + f_c], &w[t..t + f_c], off);
                        }
                    }
                    emit(oc, &[acc], core::slice::from_mut(o));
                }
            }
            Ok(())
        },
    )
}

/// Requantizes `acc` (channels `oc..oc + acc.len()`) into `out`: `+ bias`, the channel's
/// fixed-point rescale, `+ zero point`, clamp. Per-channel slices are cut once per call, so
/// the element loop has no bounds checks.
#[inline(always)]
pub(crate) fn requantize<A: Copy, B: Copy, O>(
    oc: usize,
    acc: &[A],
    out: &mut [O],
    q: ChannelScales<'_>,
    bias: Option<&[B]>,
    rescale: impl Fn(A, Option<B>, i32, i8) -> i32,
    store: impl Fn(i32) -> O,
) {
    let n = acc.len();
    let (m, s) = (&q.multipliers[oc..oc + n], &q.shifts[oc..oc + n]);
    let o = &mut out[..n];
    match bias {
        Some(b) => {
            let b = &b[oc..oc + n];
            for ((((o, &a), &m), &s), &b) in o.iter_mut().zip(acc).zip(m).zip(s).zip(b) {
                *o = store(rescale(a, Some(b), m, s));
            }
        }
        None => {
            for (((o, &a), &m), &s) in o.iter_mut().zip(acc).zip(m).zip(s) {
                *o = store(rescale(a, None, m, s));
            }
        }
    }
}

/// The bias (and accumulator) type of an int16x8 convolution or fully-connected layer.
/// LiteRT sums in the type the op's `quantized_bias_type` names (int64 unless it says INT32,
/// also when there is no bias), and the type also picks the rescale: with int32 the running
/// sum wraps at 32 bits and goes through the 32-bit `MultiplyByQuantizedMultiplier`; with
/// int64 it is exact and goes through the 64-bit one (16-bit reduced multiplier). Both were
/// checked against LiteRT 2.3.0, including sums beyond 2^31.
pub trait Int16Bias: Copy {
    /// The accumulator LiteRT holds, given the exact sum of products and the bias.
    fn accumulate(sum: i64, bias: Option<Self>) -> i64;
    /// The fixed-point rescale LiteRT applies to that accumulator.
    fn rescale(acc: i64, multiplier: i32, shift: i32) -> i32;
}

impl Int16Bias for i64 {
    #[inline(always)]
    fn accumulate(sum: i64, bias: Option<i64>) -> i64 {
        sum.wrapping_add(bias.unwrap_or(0))
    }
    #[inline(always)]
    fn rescale(acc: i64, multiplier: i32, shift: i32) -> i32 {
        multiply_by_quantized_multiplier_i64(acc, multiplier, shift)
    }
}

impl Int16Bias for i32 {
    #[inline(always)]
    fn accumulate(sum: i64, bias: Option<i32>) -> i64 {
        // The 32-bit running sum equals the 64-bit one modulo 2^32.
        (sum as i32).wrapping_add(bias.unwrap_or(0)) as i64
    }
    #[inline(always)]
    fn rescale(acc: i64, multiplier: i32, shift: i32) -> i32 {
        multiply_by_quantized_multiplier(acc as i32, multiplier, shift)
    }
}

/// CONV_2D, int8 activations and weights, per-channel requantization
/// (`reference_integer_ops::ConvPerChannel`).
///
/// Shapes are NHWC: `input_shape = [batches, in_h, in_w, in_c]`, `filter_shape =
/// [out_c, f_h, f_w, in_c / groups]`, `output_shape = [batches, out_h, out_w, out_c]` (the
/// spatial output size from [`compute_padding`]). `multipliers`/`shifts` hold one entry per
/// output channel (see [`per_channel_multipliers`]); `bias` is `out_c` int32 values or absent.
/// Weights are symmetric (zero point 0), as TFLite requires.
pub fn conv_per_channel_i8(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
) -> Result<(), KernelError> {
    conv_per_channel_i8_im2col(p, q, io, &mut [])
}

/// Scratch bytes [`conv_per_channel_i8_im2col`] uses for a filter `[out_c, f_h, f_w, f_c]`
/// over `in_c` input channels: one window (`f_h * f_w * f_c`) where gathering pays, i.e. the
/// window spans several rows (otherwise its taps are one run already) and there are no
/// groups; 0 otherwise.
pub fn im2col_bytes(filter_shape: [usize; 4], in_c: usize) -> usize {
    let [_, f_h, f_w, f_c] = filter_shape;
    if f_h > 1 && f_c == in_c {
        f_h * f_w * f_c
    } else {
        0
    }
}

/// [`conv_per_channel_i8`] with a scratch buffer of [`im2col_bytes`] (shorter: the plain path).
///
/// With it, each output pixel's window is first gathered into `scratch` (im2col, filter
/// order), the taps outside the image set to the input zero point, whose `x + input_offset`
/// is 0, so they add exactly nothing, as the reference's skipped taps. Every channel is then
/// one dot product over the whole window: micro_speech's 10 filter rows of 8 taps become one
/// run of 80, and the per-row setup of the dot products is paid once per pixel.
pub fn conv_per_channel_i8_im2col(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
    scratch: &mut [i8],
) -> Result<(), KernelError> {
    let (in_c, filter_shape) = (io.input_shape[3], io.filter_shape);
    if super::pointwise::applies(p, filter_shape, in_c) {
        return super::pointwise::pointwise_i8(p, q, io);
    }
    let window = im2col_bytes(filter_shape, in_c);
    if window > 0 && scratch.len() >= window && im2col_pad(p).is_some() {
        return conv_i8_gathered(p, q, io, scratch);
    }
    check_channels(filter_shape[0], q, io.bias.map(<[i32]>::len))?;
    let emit = requantize_i8(p, q, io.bias);
    conv_core(p, io, emit)
}

/// CONV_2D int8 through im2col only: `scratch` must hold one window (`f_h * f_w * f_c` bytes,
/// `f_c` the input's channels). The one place [`conv_per_channel_i8_im2col`] runs the im2col
/// loop nest from.
pub(crate) fn conv_i8_gathered(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, i8, i32, i8>,
    scratch: &mut [i8],
) -> Result<(), KernelError> {
    let (filter, bias) = (io.filter, io.bias);
    let [out_c, _, _, f_c] = io.filter_shape;
    check_channels(out_c, q, bias.map(<[i32]>::len))?;
    if f_c != io.input_shape[3]
        || io.output_shape[3] != out_c
        || volume(io.filter_shape) != Some(filter.len())
    {
        return Err(KernelError::Shape);
    }
    let off = p.input_offset;
    let mut emit = requantize_i8(p, q, bias);
    im2col_core(
        p,
        io,
        scratch,
        #[inline(always)]
        |col, px| {
            let mut rows = filter.chunks_exact(col.len());
            let mut quads = px.chunks_exact_mut(4);
            let mut oc = 0;
            for quad in &mut quads {
                let (Some(f0), Some(f1), Some(f2), Some(f3)) =
                    (rows.next(), rows.next(), rows.next(), rows.next())
                else {
                    return;
                };
                emit(oc, &i8::dot4([0; 4], col, [f0, f1, f2, f3], off), quad);
                oc += 4;
            }
            for (o, w) in quads.into_remainder().iter_mut().zip(rows) {
                emit(oc, &[i8::dot(0, col, w, off)], core::slice::from_mut(o));
                oc += 1;
            }
            debug_assert_eq!(oc, out_c);
        },
    )
}

/// The end of an int8 convolution's output: `+ bias`, the channel's fixed-point rescale,
/// `+ zero point`, clamp (`reference_integer_ops::ConvPerChannel` and
/// `DepthwiseConvPerChannel` alike), as the `emit` of the loop nests.
#[inline(always)]
pub(crate) fn requantize_i8<'a>(
    p: &ConvParams,
    q: ChannelScales<'a>,
    bias: Option<&'a [i32]>,
) -> impl FnMut(usize, &[i32], &mut [i8]) + 'a {
    let stage = p.output_stage();
    #[inline(always)]
    move |oc, acc, out| {
        requantize(
            oc,
            acc,
            out,
            q,
            bias,
            #[inline(always)]
            |a: i32, b, m, s| {
                let a = a.wrapping_add(b.unwrap_or(0));
                stage.store(a, &ChannelRescale::new(m, s)) as i32
            },
            #[inline(always)]
            |v| v as i8,
        )
    }
}

/// The value an im2col window holds for a tap outside the image: the input zero point, when
/// it is an int8 (always, for a valid model).
fn im2col_pad(p: &ConvParams) -> Option<i8> {
    i8::try_from(p.input_offset.wrapping_neg()).ok()
}

/// The im2col loop nest of int8 convolutions over all input channels (the filter's shape gives
/// the window; its weights and the bias are `pixel`'s): for each output pixel, gather its
/// `[f_h, f_w]` window into the first `f_h * f_w * in_c` bytes of `scratch` (the
/// input zero point where a tap is outside the image, whose `x + input_offset` is 0, so it adds
/// exactly nothing, as the reference's skipped taps), then `pixel(window, outputs)`. The one
/// place that decides the padding value and the window's extent.
#[inline(always)]
pub(crate) fn im2col_core<W, B>(
    p: &ConvParams,
    io: ConvIo<'_, i8, W, B, i8>,
    scratch: &mut [i8],
    mut pixel: impl FnMut(&[i8], &mut [i8]),
) -> Result<(), KernelError> {
    let ConvIo {
        input_shape,
        input,
        filter_shape: [_, f_h, f_w, _],
        output_shape,
        output,
        ..
    } = io;
    let win = p.window().ok_or(KernelError::Shape)?;
    let pad = im2col_pad(p).ok_or(KernelError::Shape)?;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_b, out_h, out_w, out_c] = output_shape;
    let row = f_w * in_c;
    let col = scratch.get_mut(..f_h * row).ok_or(KernelError::Shape)?;
    if out_b != batches
        || row == 0
        || out_c == 0
        || volume(input_shape) != Some(input.len())
        || volume(output_shape) != Some(output.len())
    {
        return Err(KernelError::Shape);
    }
    let [dil_h, dil_w] = win.dilation;
    win.for_each_pixel(
        [batches, in_h, in_w],
        [f_h, f_w],
        [out_h, out_w],
        output,
        out_c,
        #[inline(always)]
        |b, (iy0, fy0, fy1), (ix0, fx0, fx1), px| {
            for (fy, dst) in col.chunks_exact_mut(row).enumerate() {
                if !(fy0..fy1).contains(&fy) {
                    dst.fill(pad);
                    continue;
                }
                // Input pixel index of (b, tap row fy, column 0): in-image taps only.
                let y = (iy0 + (fy * dil_h) as isize) as usize;
                let at =
                    |fx: usize| ((b * in_h + y) * in_w) + (ix0 + (fx * dil_w) as isize) as usize;
                if dil_w == 1 {
                    let (head, rest) = dst.split_at_mut(fx0 * in_c);
                    let (mid, tail) = rest.split_at_mut((fx1 - fx0) * in_c);
                    // Only edge pixels pad: no memset calls of length 0 inside.
                    if !head.is_empty() {
                        head.fill(pad);
                    }
                    let i = at(fx0) * in_c;
                    mid.copy_from_slice(&input[i..i + mid.len()]);
                    if !tail.is_empty() {
                        tail.fill(pad);
                    }
                } else {
                    for (fx, d) in dst.chunks_exact_mut(in_c).enumerate() {
                        if (fx0..fx1).contains(&fx) {
                            let i = at(fx) * in_c;
                            d.copy_from_slice(&input[i..i + in_c]);
                        } else {
                            d.fill(pad);
                        }
                    }
                }
            }
            pixel(col, px);
            Ok(())
        },
    )
}

/// CONV_2D, int16 activations (zero point 0), int8 weights, per-channel requantization
/// (`reference_integer_ops::ConvPerChannel` for int16). `B` is the op's `quantized_bias_type`
/// (see [`Int16Bias`]): `i64` (the default) or `i32`. Shapes and per-channel slices as in
/// [`conv_per_channel_i8`]; `p.input_offset` is not used.
pub fn conv_per_channel_i16<B: Int16Bias>(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i16, i8, B, i16>,
) -> Result<(), KernelError> {
    let bias = io.bias;
    check_channels(io.filter_shape[0], q, bias.map(<[B]>::len))?;
    let (lo, hi, zp) = (p.activation_min, p.activation_max, p.output_offset);
    conv_core(
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
                |a: i64, b, m, s| B::rescale(B::accumulate(a, b), m, s.into()).wrapping_add(zp),
                #[inline(always)]
                |v| v.max(lo).min(hi) as i16,
            )
        },
    )
}

/// CONV_2D in float32 (`reference_ops::Conv`): the products of each output summed in
/// `filter_y, filter_x, in_channel` order from 0.0, then `+ bias` (0.0 when absent, as in
/// TFLite), then the activation clamp. Shapes as in [`conv_per_channel_i8`].
pub fn conv_f32(p: &ConvParams, io: ConvIo<'_, f32, f32, f32, f32>) -> Result<(), KernelError> {
    let bias = io.bias;
    if bias.is_some_and(|b| b.len() != io.filter_shape[0]) {
        return Err(KernelError::Shape);
    }
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    conv_core(
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

/// Per-channel slices must cover every output channel; a bias must match exactly.
pub(crate) fn check_channels(
    out_c: usize,
    q: ChannelScales<'_>,
    bias_len: Option<usize>,
) -> Result<(), KernelError> {
    if q.multipliers.len() < out_c || q.shifts.len() < out_c || bias_len.is_some_and(|n| n != out_c)
    {
        return Err(KernelError::Shape);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pad(h: i32, w: i32) -> PaddingValues {
        PaddingValues {
            height: h,
            width: w,
            height_offset: 0,
            width_offset: 0,
        }
    }

    #[test]
    fn out_size_and_padding_match_tflite() {
        // SAME: ceil(in / stride); VALID: floor((in - eff) / stride) + 1.
        assert_eq!(compute_out_size(Padding::Same, 5, 3, 2, 1), Some(3));
        assert_eq!(compute_out_size(Padding::Valid, 5, 3, 2, 1), Some(2));
        // Dilation 2 turns a 3-tap filter into an effective 5.
        assert_eq!(compute_out_size(Padding::Valid, 7, 3, 1, 2), Some(3));
        assert_eq!(compute_out_size(Padding::Same, 7, 3, 1, 2), Some(7));
        // C truncation: (2 + 2 - 5) / 2 == 0, not an error; (1 + 1 - 3) / 1 < 0 is.
        assert_eq!(compute_out_size(Padding::Valid, 2, 5, 2, 1), Some(0));
        assert_eq!(compute_out_size(Padding::Valid, 1, 3, 1, 1), None);
        assert_eq!(compute_out_size(Padding::Same, 4, 3, 0, 1), None);
        assert_eq!(compute_out_size(Padding::Same, 4, 3, 1, 0), None);

        // 4 wide, filter 3, stride 2, SAME: out 2, total padding (1*2 + 3 - 4) = 1 -> 0 + 1.
        let w = compute_padding(Padding::Same, 2, 2, 1, 1, 4, 5, 3, 3).unwrap();
        assert_eq!((w.out_height, w.out_width), (2, 3));
        assert_eq!(
            w.padding,
            PaddingValues {
                height: 0,
                width: 1,
                height_offset: 1,
                width_offset: 0
            }
        );
        // SAME with dilation 2 on 7: total padding 6*1 + 5 - 7 = 4 -> 2 each side.
        let w = compute_padding(Padding::Same, 1, 1, 2, 2, 7, 7, 3, 3).unwrap();
        assert_eq!(w.padding.height, 2);
        assert_eq!(w.padding.height_offset, 0);
        // VALID never pads.
        let w = compute_padding(Padding::Valid, 2, 2, 1, 1, 9, 9, 3, 3).unwrap();
        assert_eq!((w.out_height, w.padding), (4, pad(0, 0)));
    }

    #[test]
    fn multipliers_use_double_products() {
        // 0.5 * 0.25 / 0.125 = 1.0 -> (2^30, 1).
        assert_eq!(channel_multiplier(0.5, 0.25, 0.125), (1 << 30, 1));
        let mut m = [0; 3];
        let mut s = [0; 3];
        per_channel_multipliers(1.0, &[0.5], 1.0, &mut m, &mut s).unwrap();
        assert_eq!((m, s), ([1 << 30; 3], [0; 3]));
        per_channel_multipliers(1.0, &[0.5, 0.25, 2.0], 1.0, &mut m, &mut s).unwrap();
        assert_eq!((m, s), ([1 << 30; 3], [0, -1, 2]));
        assert_eq!(
            per_channel_multipliers(1.0, &[0.5, 0.25], 1.0, &mut m, &mut s),
            Err(KernelError::Shape)
        );
        // Shifts are bytes: a ratio of 2^126 still fits (shift 127), 2^127 does not.
        let big = 2f32.powi(63);
        per_channel_multipliers(big, &[big], 1.0, &mut m, &mut s).unwrap();
        assert_eq!((m, s), ([1 << 30; 3], [127; 3]));
        assert_eq!(
            per_channel_multipliers(big, &[big], 0.5, &mut m, &mut s),
            Err(KernelError::Shape)
        );
        // Products are taken in double: f32 would round 0.1 * 0.3 differently.
        let exact = 0.1f32 as f64 * 0.3f32 as f64 / 0.7f32 as f64;
        assert_eq!(
            channel_multiplier(0.1, 0.3, 0.7),
            quantize_multiplier(exact)
        );
    }

    fn params_i8(stride: i32, dil: i32, pad: PaddingValues, in_zp: i32, out_zp: i32) -> ConvParams {
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

    #[test]
    fn int8_one_by_one_rounds_like_fixed_point() {
        // Multiplier 0.5: -1.5 rounds to -1 (gemmlowp's negative tie toward zero), 3.5 to 4.
        let p = params_i8(1, 1, pad(0, 0), 0, 0);
        let (m, s) = channel_multiplier(1.0, 0.5, 1.0);
        let input = [-3i8, 3, -5, 5, -1, 1, 7, -7];
        let mut out = [0i8; 8];
        conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[m],
                shifts: &[s as i8],
            },
            ConvIo {
                input_shape: [1, 1, 8, 1],
                input: &input,
                filter_shape: [1, 1, 1, 1],
                filter: &[1],
                bias: Some(&[0]),
                output_shape: [1, 1, 8, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [-1, 2, -2, 3, 0, 1, 4, -3]);
    }

    #[test]
    fn int8_saturates_and_applies_zero_points() {
        // Input zero point -128 (offset +128) and 127 (offset -127); output zero points at the
        // edges; big and small multipliers push results past -128 and 127.
        let input = [-128i8, 127];
        let filter = [127i8, -128];
        let conv = |in_zp: i32, out_zp: i32, scale: f32, bias: [i32; 2]| {
            let p = params_i8(1, 1, pad(0, 0), in_zp, out_zp);
            let (m, s) = channel_multiplier(1.0, scale, 1.0);
            let mut out = [0i8; 2];
            // Channel 0 sees input[0] with weight 127, channel 1 sees input[1] with weight -128
            // (two groups of one channel each).
            conv_per_channel_i8(
                &p,
                ChannelScales {
                    multipliers: &[m, m],
                    shifts: &[s as i8, s as i8],
                },
                ConvIo {
                    input_shape: [1, 1, 1, 2],
                    input: &input,
                    filter_shape: [2, 1, 1, 1],
                    filter: &filter,
                    bias: Some(&bias),
                    output_shape: [1, 1, 1, 2],
                    output: &mut out,
                },
            )
            .unwrap();
            out
        };
        // zp -128: (−128+128)*127 = 0 -> 0 - 128 out zp -> -128; (127+128)*-128 = -32640.
        assert_eq!(conv(-128, -128, 1.0 / 256.0, [0, 0]), [-128, -128]);
        // -32640 / 256 = -127.5: exact in the high multiply, then the rounding shift takes the
        // tie away from zero -> -128.
        assert_eq!(conv(-128, 0, 1.0 / 256.0, [0, 0]), [0, -128]);
        // Output zp 127: 256 / 256 + 127 saturates at 127; -128 + 127 = -1.
        assert_eq!(conv(-128, 127, 1.0 / 256.0, [256, 0]), [127, -1]);
        // zp 127: (-128-127)*127 = -32385 -> *1 saturates at -128; (127-127)*-128 = 0 -> 0.
        assert_eq!(conv(127, 0, 1.0, [0, 5]), [-128, 5]);
        // Bias pushes past 127.
        assert_eq!(conv(127, 0, 1.0, [40000, 200]), [127, 127]);
    }

    #[test]
    fn per_channel_scales_differ() {
        // Four output channels (exercises the 4-wide path) plus one (the remainder path),
        // each with its own scale, over a 1x1 image with 2 input channels.
        let input = [10i8, -20];
        let filter = [1i8, 1, 2, 2, -3, 1, 4, 0, 1, -1];
        // sums: -10, -20, -50, 40, 30
        let scales = [1.0f32, 0.5, 0.1, 0.25, 2.0];
        let mut m = [0; 5];
        let mut s = [0; 5];
        per_channel_multipliers(1.0, &scales, 1.0, &mut m, &mut s).unwrap();
        let p = params_i8(1, 1, pad(0, 0), 0, 3);
        let mut out = [0i8; 5];
        conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &m,
                shifts: &s,
            },
            ConvIo {
                input_shape: [1, 1, 1, 2],
                input: &input,
                filter_shape: [5, 1, 1, 2],
                filter: &filter,
                bias: None,
                output_shape: [1, 1, 1, 5],
                output: &mut out,
            },
        )
        .unwrap();
        // -10*1+3, -20*.5+3, -50*.1+3, 40*.25+3, 30*2+3
        assert_eq!(out, [-7, -7, -2, 13, 63]);
    }

    /// Straightforward transcription of the reference loop nest, used as the oracle for the
    /// geometric tests (padding, stride, dilation, groups).
    #[allow(clippy::too_many_arguments)]
    fn naive_sums(
        input: &[i32],
        ishape: [usize; 4],
        filter: &[i32],
        fshape: [usize; 4],
        oshape: [usize; 4],
        stride: usize,
        dil: usize,
        pad_hw: [usize; 2],
    ) -> [i32; 128] {
        let mut out = [0i32; 128];
        let groups = ishape[3] / fshape[3];
        let fpg = fshape[0] / groups;
        for oy in 0..oshape[1] {
            for ox in 0..oshape[2] {
                for oc in 0..oshape[3] {
                    let mut acc = 0;
                    for fy in 0..fshape[1] {
                        for fx in 0..fshape[2] {
                            let iy = (oy * stride + fy * dil) as isize - pad_hw[0] as isize;
                            let ix = (ox * stride + fx * dil) as isize - pad_hw[1] as isize;
                            if iy < 0
                                || ix < 0
                                || iy >= ishape[1] as isize
                                || ix >= ishape[2] as isize
                            {
                                continue;
                            }
                            for ic in 0..fshape[3] {
                                let g = oc / fpg;
                                let x = input[((iy as usize) * ishape[2] + ix as usize)
                                    * ishape[3]
                                    + g * fshape[3]
                                    + ic];
                                let w = filter
                                    [((oc * fshape[1] + fy) * fshape[2] + fx) * fshape[3] + ic];
                                acc += x * w;
                            }
                        }
                    }
                    out[(oy * oshape[2] + ox) * oshape[3] + oc] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn same_valid_stride_dilation_groups() {
        // 5x5x2 input with values 1..=50 and 3x3 filters of small distinct weights; multiplier
        // 1 and a wide clamp, so the int8 kernel's output equals the raw sum (kept in range by
        // choosing weights in {-1, 0, 1}).
        let mut input = [0i8; 50];
        for (i, v) in input.iter_mut().enumerate() {
            *v = (i as i8 % 7) - 3;
        }
        let mut filter = [0i8; 5 * 9 * 2];
        for (i, v) in filter.iter_mut().enumerate() {
            *v = ((i * 5 + 1) % 3) as i8 - 1;
        }
        let ishape = [1, 5, 5, 2];
        let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
        let cases: [(Padding, i32, i32, usize); 5] = [
            (Padding::Valid, 1, 1, 2),
            (Padding::Same, 1, 1, 2),
            (Padding::Same, 2, 1, 2),
            (Padding::Same, 1, 2, 2),
            (Padding::Same, 2, 1, 1), // 2 groups: filter depth 1
        ];
        for (padding, stride, dil, fdepth) in cases {
            let oc = 5;
            let fshape = [oc, 3, 3, fdepth];
            let fl = oc * 9 * fdepth;
            let w = compute_padding(padding, stride, stride, dil, dil, 5, 5, 3, 3).unwrap();
            let oshape = [1, w.out_height as usize, w.out_width as usize, oc];
            let n = oshape[1] * oshape[2] * oc;
            let p = params_i8(stride, dil, w.padding, 0, 0);
            let mut out = [0i8; 128];
            let groups_ok = 2usize.is_multiple_of(fdepth) && oc.is_multiple_of(2 / fdepth);
            let r = conv_per_channel_i8(
                &p,
                ChannelScales {
                    multipliers: &[m; 5],
                    shifts: &[s as i8; 5],
                },
                ConvIo {
                    input_shape: ishape,
                    input: &input,
                    filter_shape: fshape,
                    filter: &filter[..fl],
                    bias: None,
                    output_shape: oshape,
                    output: &mut out[..n],
                },
            );
            if !groups_ok {
                // 5 output channels cannot split into 2 groups.
                assert_eq!(r, Err(KernelError::Shape));
                continue;
            }
            r.unwrap();
            let iw: [i32; 50] = input.map(i32::from);
            let mut fw = [0i32; 90];
            for (d, &v) in fw.iter_mut().zip(&filter[..fl]) {
                *d = v as i32;
            }
            let want = naive_sums(
                &iw,
                ishape,
                &fw[..fl],
                fshape,
                oshape,
                stride as usize,
                dil as usize,
                [w.padding.height as usize, w.padding.width as usize],
            );
            for i in 0..n {
                assert_eq!(
                    out[i] as i32, want[i],
                    "{padding:?} s{stride} d{dil} at {i}"
                );
            }
        }
    }

    #[test]
    fn grouped_conv_matches_naive() {
        // 3x3x4 input, 2 groups of 2 channels, 4 output channels, 2x2 filter, VALID.
        let input: [i8; 36] = core::array::from_fn(|i| (i as i8 % 9) - 4);
        let filter: [i8; 32] = core::array::from_fn(|i| ((i * 7) % 5) as i8 - 2);
        let p = params_i8(1, 1, pad(0, 0), 0, 0);
        let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
        let mut out = [0i8; 16];
        conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[m; 4],
                shifts: &[s as i8; 4],
            },
            ConvIo {
                input_shape: [1, 3, 3, 4],
                input: &input,
                filter_shape: [4, 2, 2, 2],
                filter: &filter,
                bias: None,
                output_shape: [1, 2, 2, 4],
                output: &mut out,
            },
        )
        .unwrap();
        let want = naive_sums(
            &input.map(i32::from),
            [1, 3, 3, 4],
            &filter.map(i32::from),
            [4, 2, 2, 2],
            [1, 2, 2, 4],
            1,
            1,
            [0, 0],
        );
        for i in 0..16 {
            assert_eq!(out[i] as i32, want[i]);
        }
    }

    #[test]
    fn padding_is_skipped_not_zero_point_filled() {
        // 1x1 image, 3x3 SAME filter of ones: only the centre tap is in the image, so the
        // input offset is added once, not nine times.
        let p = params_i8(1, 1, pad(1, 1), -100, 0);
        let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
        let mut out = [0i8; 1];
        conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[m],
                shifts: &[s as i8],
            },
            ConvIo {
                input_shape: [1, 1, 1, 1],
                input: &[-90],
                filter_shape: [1, 3, 3, 1],
                filter: &[1; 9],
                bias: None,
                output_shape: [1, 1, 1, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [10]);
    }

    #[test]
    fn relu6_clamp() {
        // Output scale 0.1, zp -10: relu6 clamps to [-10, 50].
        let p = ConvParams::quantized(
            [1, 1],
            [1, 1],
            pad(0, 0),
            0,
            -10,
            0.1,
            Activation::Relu6,
            -128,
            127,
        );
        assert_eq!((p.activation_min, p.activation_max), (-10, 50));
        let (m, s) = channel_multiplier(1.0, 1.0, 1.0);
        let mut out = [0i8; 3];
        conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[m],
                shifts: &[s as i8],
            },
            ConvIo {
                input_shape: [1, 1, 3, 1],
                input: &[-50, 30, 100],
                filter_shape: [1, 1, 1, 1],
                filter: &[1],
                bias: None,
                output_shape: [1, 1, 3, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [-10, 20, 50]);
    }

    #[test]
    fn int16_uses_64bit_accumulator_and_rescale() {
        // 3 taps of 32767 * 127 overflow nothing in 64 bits; the int64 bias adds 2^40.
        let p = ConvParams::quantized(
            [1, 1],
            [1, 1],
            pad(0, 0),
            0,
            0,
            1.0,
            Activation::None,
            -32768,
            32767,
        );
        let (m, s) = channel_multiplier(1.0, 1.0 / 65536.0, 1.0);
        let mut out = [0i16; 2];
        conv_per_channel_i16(
            &p,
            ChannelScales {
                multipliers: &[m, m],
                shifts: &[s as i8, s as i8],
            },
            ConvIo {
                input_shape: [1, 1, 1, 3],
                input: &[32767, 32767, -32768],
                filter_shape: [2, 1, 1, 3],
                filter: &[127, 127, 1, -1, -1, -1],
                bias: Some(&[0i64, 1 << 40]),
                output_shape: [1, 1, 1, 2],
                output: &mut out,
            },
        )
        .unwrap();
        // (32767*254 - 32768) / 65536 = 126.496 -> 126; (2^40 - 32766) / 65536 saturates.
        assert_eq!(out, [126, 32767]);

        // Ties: x * 0.5 with the reduced 16-bit multiplier rounds half up (toward +inf).
        let (m, s) = channel_multiplier(1.0, 0.5, 1.0);
        let mut out = [0i16; 4];
        conv_per_channel_i16::<i64>(
            &p,
            ChannelScales {
                multipliers: &[m],
                shifts: &[s as i8],
            },
            ConvIo {
                input_shape: [1, 1, 4, 1],
                input: &[-3, 3, -1, -32768],
                filter_shape: [1, 1, 1, 1],
                filter: &[1],
                bias: None,
                output_shape: [1, 1, 4, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [-1, 2, 0, -16384]);
    }

    #[test]
    fn int16_bias_type_picks_accumulator_and_rescale() {
        let p = ConvParams::quantized(
            [1, 1],
            [1, 1],
            pad(0, 0),
            0,
            0,
            1.0,
            Activation::None,
            -32768,
            32767,
        );
        let run = |m: i32, s: i32, input: &[i16], filter: &[i8], bias64: bool| {
            let mut out = [0i16; 1];
            let shape = [1, 1, 1, input.len()];
            let fshape = [1, 1, 1, input.len()];
            if bias64 {
                conv_per_channel_i16(
                    &p,
                    ChannelScales {
                        multipliers: &[m],
                        shifts: &[s as i8],
                    },
                    ConvIo {
                        input_shape: shape,
                        input,
                        filter_shape: fshape,
                        filter,
                        bias: Some(&[0i64]),
                        output_shape: [1, 1, 1, 1],
                        output: &mut out,
                    },
                )
            } else {
                conv_per_channel_i16(
                    &p,
                    ChannelScales {
                        multipliers: &[m],
                        shifts: &[s as i8],
                    },
                    ConvIo {
                        input_shape: shape,
                        input,
                        filter_shape: fshape,
                        filter,
                        bias: Some(&[0i32]),
                        output_shape: [1, 1, 1, 1],
                        output: &mut out,
                    },
                )
            }
            .unwrap();
            out[0]
        };
        // 98304 * 0.3 = 29491.2: the 64-bit rescale's 16-bit multiplier (19661 / 2^16) lands
        // on 29492, the 32-bit rescale on 29491.
        let (m, s) = channel_multiplier(1.0, 0.3, 1.0);
        assert_eq!(run(m, s, &[-32768], &[-3], true), 29492);
        assert_eq!(run(m, s, &[-32768], &[-3], false), 29491);
        // 700 * 32767 * 127 = 2912986300 wraps to -1381980996 in 32 bits; at 2^-20 that is
        // -1318, against 2778 from the exact sum.
        let (m, s) = channel_multiplier(1.0, 1.0 / 1048576.0, 1.0);
        assert_eq!(run(m, s, &[32767; 700], &[127; 700], true), 2778);
        assert_eq!(run(m, s, &[32767; 700], &[127; 700], false), -1318);
    }

    #[test]
    fn float_sums_in_order_then_adds_bias() {
        let p = ConvParams::float([1, 1], [1, 1], pad(0, 0), Activation::None);
        // 1e8 + 1 - 1e8 in f32 is 0 when summed left to right, 1 otherwise.
        let mut out = [9.0f32; 1];
        conv_f32(
            &p,
            ConvIo {
                input_shape: [1, 1, 1, 3],
                input: &[1e8, 1.0, -1e8],
                filter_shape: [1, 1, 1, 3],
                filter: &[1.0, 1.0, 1.0],
                bias: None,
                output_shape: [1, 1, 1, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [0.0]);
        // A sum that starts from +0.0 stays +0.0 on -0.0 products.
        conv_f32(
            &p,
            ConvIo {
                input_shape: [1, 1, 1, 1],
                input: &[-0.0],
                filter_shape: [1, 1, 1, 1],
                filter: &[1.0],
                bias: None,
                output_shape: [1, 1, 1, 1],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out[0].to_bits(), 0);
        // Relu: clamp at 0; bias added before the clamp.
        let p = ConvParams::float([2, 2], [1, 1], pad(0, 0), Activation::Relu);
        let mut out = [0.0f32; 4];
        conv_f32(
            &p,
            ConvIo {
                input_shape: [1, 2, 2, 1],
                input: &[1.0, 2.0, 3.0, 4.0],
                filter_shape: [4, 1, 1, 1],
                filter: &[1.0, -1.0, 0.5, 2.0],
                bias: Some(&[0.0, 0.5, -1.0, 0.25]),
                output_shape: [1, 1, 1, 4],
                output: &mut out,
            },
        )
        .unwrap();
        assert_eq!(out, [1.0, 0.0, 0.0, 2.25]);
    }

    #[test]
    fn float_nan_passes_clamp() {
        assert!(clamp_f32(f32::NAN, 0.0, 6.0).is_nan());
        assert_eq!(clamp_f32(7.0, 0.0, 6.0), 6.0);
        assert_eq!(clamp_f32(-1.0, 0.0, 6.0), 0.0);
    }

    #[test]
    fn mismatched_sizes_are_errors() {
        let p = params_i8(1, 1, pad(0, 0), 0, 0);
        let mut out = [0i8; 2];
        let r = conv_per_channel_i8(
            &p,
            ChannelScales {
                multipliers: &[1],
                shifts: &[0],
            },
            ConvIo {
                input_shape: [1, 1, 2, 1],
                input: &[1, 2, 3],
                filter_shape: [1, 1, 1, 1],
                filter: &[1],
                bias: None,
                output_shape: [1, 1, 2, 1],
                output: &mut out,
            },
        );
        assert_eq!(r, Err(KernelError::Shape));
        let mut bad = p;
        bad.stride_width = 0;
        let r = conv_per_channel_i8(
            &bad,
            ChannelScales {
                multipliers: &[1],
                shifts: &[0],
            },
            ConvIo {
                input_shape: [1, 1, 2, 1],
                input: &[1, 2],
                filter_shape: [1, 1, 1, 1],
                filter: &[1],
                bias: None,
                output_shape: [1, 1, 2, 1],
                output: &mut out,
            },
        );
        assert_eq!(r, Err(KernelError::Shape));
    }
}

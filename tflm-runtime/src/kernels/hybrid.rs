//! Hybrid (dynamic-range) kernels: float32 input and output, int8 weights. The float input is
//! quantized to int8 on the fly, once per batch row, the dot products run in int32 and each
//! sum is scaled back to float. TensorFlow Lite Micro has none of these; they follow LiteRT's
//! `BUILTIN_REF` interpreter (ai-edge-litert 2.3.0), checked bit for bit against it:
//!
//! - **Input quantization** is `tensor_utils::{Symmetric,Asymmetric}QuantizeFloats` as LiteRT's
//!   x86 build runs them (its NEON code through NEON_2_SSE, not the portable one; they differ
//!   in the asymmetric case). Symmetric: `range = max(|min|, |max|)`, `scale = range / 127`,
//!   `q = clamp(round(x * (127 / range)), -127, 127)`, all in f32. Asymmetric: `rmin =
//!   min(0, min)`, `rmax = max(0, max)` in f32, `scale = f64(rmax - rmin) / 255` (the
//!   difference rounded to f32 first), the zero point chosen in f64 from the end with the
//!   smaller error and rounded half away from zero, `q = clamp(round(x * f32(1 / scale)) +
//!   zero_point, -128, 127)`. An all-zero row quantizes to zeros with scale 1, zero point 0.
//!   Rounding is half away from zero throughout.
//! - **FULLY_CONNECTED** (`EvalHybridDense`): per-tensor weight scale; `asymmetric_quantize_inputs`
//!   picks the input quantization; `out = bias + f32(Σ w·(q - zp)) * (s_row * s_w)`, the scale
//!   product in f32; an input that is zero everywhere gives the bias alone. The fused activation
//!   is `ApplyActivationToVector` (`max(0, x)`, ...).
//! - **CONV_2D** (`EvalHybridPerChannel` → `reference_ops::HybridConvPerChannel`): per-channel
//!   weights whose scales are not all equal (LiteRT takes an optimized per-tensor path
//!   otherwise, which the runtime refuses), asymmetric input quantization per batch,
//!   `out = (f32(acc) * s_w[c]) * s_batch + bias[c]`, taps outside the image skipped.
//! - **DEPTHWISE_CONV_2D** (`reference_integer_ops::DepthwiseConvHybridPerChannel`): one scale
//!   per output channel, asymmetric input quantization per batch, `out = f32(acc) * (s_w[c] *
//!   s_batch) + bias[c]` (note the different association from CONV_2D).

use super::conv::{clamp_f32, conv_core, ConvIo, ConvParams, KernelError};
use super::depthwise_conv::depthwise_core;
use super::fully_connected::FcDims;
use crate::types::Activation;

/// The quantization of one batch row: `x ≈ scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowQuantization {
    pub scale: f32,
    pub zero_point: i32,
}

/// `std::round` on f32: half away from zero.
#[inline(always)]
fn round_away(x: f32) -> f32 {
    libm::roundf(x)
}

/// The f32 minimum and maximum (`std::minmax_element`: NaNs compare false and are skipped
/// unless first).
fn min_max(values: &[f32]) -> (f32, f32) {
    let Some(&first) = values.first() else {
        return (0.0, 0.0);
    };
    values.iter().fold((first, first), |(lo, hi), &x| {
        (if x < lo { x } else { lo }, if hi < x { x } else { hi })
    })
}

/// Symmetric int8 quantization of a row into `out` (`SymmetricQuantizeFloats`); returns the
/// scale (zero point 0).
pub fn symmetric_quantize(values: &[f32], out: &mut [i8]) -> f32 {
    let (lo, hi) = min_max(values);
    let range = if libm::fabsf(lo) < libm::fabsf(hi) {
        libm::fabsf(hi)
    } else {
        libm::fabsf(lo)
    };
    if range == 0.0 {
        out.iter_mut().for_each(|q| *q = 0);
        return 1.0;
    }
    let inv = 127.0 / range;
    for (q, &x) in out.iter_mut().zip(values) {
        *q = (round_away(x * inv) as i32).clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// Asymmetric int8 quantization of a row into `out` (`AsymmetricQuantizeFloats`, the variant
/// LiteRT's x86 build runs).
pub fn asymmetric_quantize(values: &[f32], out: &mut [i8]) -> RowQuantization {
    let (lo, hi) = min_max(values);
    let rmin = if lo < 0.0 { lo } else { 0.0 };
    let rmax = if hi > 0.0 { hi } else { 0.0 };
    if rmin == rmax {
        out.iter_mut().for_each(|q| *q = 0);
        return RowQuantization {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = (rmax - rmin) as f64 / (qmax - qmin);
    let (rmin_d, rmax_d) = (rmin as f64, rmax as f64);
    let from_min = qmin - rmin_d / scale;
    let from_max = qmax - rmax_d / scale;
    let err_min = libm::fabs(qmin) + libm::fabs(rmin_d / scale);
    let err_max = libm::fabs(qmax) + libm::fabs(rmax_d / scale);
    let zp = if err_min < err_max {
        from_min
    } else {
        from_max
    };
    let zero_point = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        libm::round(zp) as i32
    };
    let scale = scale as f32;
    let inv = (1.0 / scale as f64) as f32;
    for (q, &x) in out.iter_mut().zip(values) {
        *q = (round_away(x * inv) as i32)
            .saturating_add(zero_point)
            .clamp(-128, 127) as i8;
    }
    RowQuantization { scale, zero_point }
}

/// LiteRT's `ApplyActivationToVector` (`std::max`/`std::min` semantics).
#[inline(always)]
fn apply_activation(activation: Activation, x: f32) -> f32 {
    let max = |a: f32, b: f32| if a < b { b } else { a };
    let min = |a: f32, b: f32| if b < a { b } else { a };
    match activation {
        Activation::None => x,
        Activation::Relu => max(0.0, x),
        Activation::Relu6 => max(0.0, min(x, 6.0)),
        Activation::ReluN1To1 => max(-1.0, min(x, 1.0)),
    }
}

/// Hybrid FULLY_CONNECTED: `input` is `batches x accum_depth` floats, `filter` `output_depth x
/// accum_depth` int8 with the single scale `filter_scale`, `bias` `output_depth` floats or
/// absent; `scratch` holds the quantized input (`input.len()` bytes).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_hybrid(
    activation: Activation,
    asymmetric: bool,
    filter_scale: f32,
    dims: FcDims,
    input: &[f32],
    filter: &[i8],
    bias: Option<&[f32]>,
    scratch: &mut [i8],
    output: &mut [f32],
) -> Result<(), KernelError> {
    let FcDims {
        batches,
        accum_depth: depth,
        output_depth: units,
    } = dims;
    let ok = batches.checked_mul(depth) == Some(input.len())
        && units.checked_mul(depth) == Some(filter.len())
        && batches.checked_mul(units) == Some(output.len())
        && scratch.len() >= input.len()
        && bias.is_none_or(|b| b.len() == units);
    if !ok {
        return Err(KernelError::Shape);
    }
    for row in output.chunks_exact_mut(units.max(1)) {
        match bias {
            Some(b) => row.copy_from_slice(b),
            None => row.iter_mut().for_each(|o| *o = 0.0),
        }
    }
    if depth == 0 || units == 0 || input.iter().all(|&x| x == 0.0) {
        output
            .iter_mut()
            .for_each(|o| *o = apply_activation(activation, *o));
        return Ok(());
    }
    for ((x, q), out) in input
        .chunks_exact(depth)
        .zip(scratch.chunks_exact_mut(depth))
        .zip(output.chunks_exact_mut(units))
    {
        let (row_scale, zp) = if asymmetric {
            let r = asymmetric_quantize(x, q);
            (r.scale, r.zero_point)
        } else {
            (symmetric_quantize(x, q), 0)
        };
        let scale = row_scale * filter_scale;
        for (o, w) in out.iter_mut().zip(filter.chunks_exact(depth)) {
            let acc = q.iter().zip(w).fold(0i32, |a, (&q, &w)| {
                a.wrapping_add((q as i32).wrapping_sub(zp).wrapping_mul(w as i32))
            });
            *o = apply_activation(activation, *o + acc as f32 * scale);
        }
    }
    Ok(())
}

/// Quantizes each batch of `input` (`batches` rows of `row` values) asymmetrically into
/// `scratch`, calling `f(batch, quantized_row, row_quantization)`.
fn per_batch(
    input: &[f32],
    row: usize,
    scratch: &mut [i8],
    mut f: impl FnMut(usize, &[i8], RowQuantization) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    if row == 0 {
        return Ok(());
    }
    for (b, (x, q)) in input
        .chunks_exact(row)
        .zip(scratch.chunks_exact_mut(row))
        .enumerate()
    {
        let r = asymmetric_quantize(x, q);
        f(b, q, r)?;
    }
    Ok(())
}

/// Hybrid CONV_2D with per-channel weight scales (`filter_scales`, one per output channel).
/// Shapes as in [`super::conv::conv_per_channel_i8`]; `p` supplies the geometry and the float
/// clamp; `scratch` holds the quantized input (`input.len()` bytes).
#[allow(clippy::too_many_arguments)]
pub fn conv_hybrid_per_channel(
    p: &ConvParams,
    filter_scales: &[f32],
    input_shape: [usize; 4],
    input: &[f32],
    filter_shape: [usize; 4],
    filter: &[i8],
    bias: Option<&[f32]>,
    output_shape: [usize; 4],
    output: &mut [f32],
    scratch: &mut [i8],
) -> Result<(), KernelError> {
    let out_c = filter_shape[0];
    hybrid_conv_like(
        p,
        filter_scales,
        out_c,
        input_shape,
        input,
        (filter_shape, filter),
        bias,
        output_shape,
        output,
        scratch,
        |pb, io, emit| conv_core(pb, io, emit),
        // reference_ops::HybridConvPerChannel: `acc * per_channel_scale * scaling_factor`.
        |acc, s_w, s_b| acc as f32 * s_w * s_b,
    )
}

/// Hybrid DEPTHWISE_CONV_2D with one weight scale per output channel. Shapes as in
/// [`super::depthwise_conv::depthwise_conv_per_channel_i8`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv_hybrid_per_channel(
    p: &ConvParams,
    filter_scales: &[f32],
    input_shape: [usize; 4],
    input: &[f32],
    filter_shape: [usize; 4],
    filter: &[i8],
    bias: Option<&[f32]>,
    output_shape: [usize; 4],
    output: &mut [f32],
    scratch: &mut [i8],
) -> Result<(), KernelError> {
    let out_c = filter_shape[3];
    hybrid_conv_like(
        p,
        filter_scales,
        out_c,
        input_shape,
        input,
        (filter_shape, filter),
        bias,
        output_shape,
        output,
        scratch,
        |pb, io, emit| depthwise_core(pb, io, emit),
        // DepthwiseConvHybridPerChannel: `acc *= per_channel_scale * scaling_factor`.
        |acc, s_w, s_b| acc as f32 * (s_w * s_b),
    )
}

type Emit<'e> = &'e mut dyn FnMut(usize, &[i32], &mut [f32]);

/// The part both hybrid convolutions share: per-batch quantization, then the integer loop
/// nest of the int8 kernel with the batch's zero point as input offset, and the float rescale.
#[allow(clippy::too_many_arguments)]
fn hybrid_conv_like(
    p: &ConvParams,
    filter_scales: &[f32],
    out_c: usize,
    input_shape: [usize; 4],
    input: &[f32],
    (filter_shape, filter): ([usize; 4], &[i8]),
    bias: Option<&[f32]>,
    output_shape: [usize; 4],
    output: &mut [f32],
    scratch: &mut [i8],
    core: impl Fn(&ConvParams, ConvIo<'_, i8, i8, (), f32>, Emit<'_>) -> Result<(), KernelError>,
    rescale: impl Fn(i32, f32, f32) -> f32,
) -> Result<(), KernelError> {
    let batches = input_shape[0];
    let row = input_shape[1] * input_shape[2] * input_shape[3];
    let out_row = output_shape[1] * output_shape[2] * output_shape[3];
    if filter_scales.len() != out_c
        || bias.is_some_and(|b| b.len() != out_c)
        || output_shape[0] != batches
        || batches.checked_mul(row) != Some(input.len())
        || batches.checked_mul(out_row) != Some(output.len())
        || scratch.len() < input.len()
    {
        return Err(KernelError::Shape);
    }
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    let in_shape = [1, input_shape[1], input_shape[2], input_shape[3]];
    let out_shape = [1, output_shape[1], output_shape[2], output_shape[3]];
    let mut outputs = output.chunks_exact_mut(out_row.max(1));
    per_batch(input, row, scratch, |_, q, r| {
        let out = outputs.next().ok_or(KernelError::Shape)?;
        let pb = ConvParams {
            input_offset: r.zero_point.wrapping_neg(),
            ..*p
        };
        let mut emit = |oc: usize, acc: &[i32], o: &mut [f32]| {
            for (k, (o, &a)) in o.iter_mut().zip(acc).enumerate() {
                let c = oc + k;
                let mut v = rescale(a, filter_scales[c], r.scale);
                if let Some(b) = bias {
                    v += b[c];
                }
                *o = clamp_f32(v, lo, hi);
            }
        };
        let io = ConvIo {
            input_shape: in_shape,
            input: q,
            filter_shape,
            filter,
            bias: None,
            output_shape: out_shape,
            output: out,
        };
        core(&pb, io, &mut emit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_rows() {
        let mut q = [0i8; 4];
        let s = symmetric_quantize(&[0.5, -1.0, 0.25, -0.5], &mut q);
        assert_eq!(s, 1.0 / 127.0);
        assert_eq!(q, [64, -127, 32, -64]); // ±63.5 round away from zero
        assert_eq!(symmetric_quantize(&[0.0; 4], &mut q), 1.0);
        assert_eq!(q, [0; 4]);
    }

    #[test]
    fn asymmetric_rows_nudge_the_zero_point_like_litert() {
        let mut q = [0i8; 4];
        // [-2.5, 2.5]: both ends give zero point -0.5 exactly in f64; the max end has the
        // smaller error and rounds half away from zero to -1.
        let r = asymmetric_quantize(&[-2.5, 0.0, 2.5, 1.0], &mut q);
        assert_eq!(r.zero_point, -1);
        assert_eq!(r.scale, (5.0f64 / 255.0) as f32);
        assert_eq!(q, [-128, -1, 127, 50]);
        // Only positive values: rmin is 0, zero point -128.
        let r = asymmetric_quantize(&[1.0, 2.0, 0.5, 3.0], &mut q);
        assert_eq!(r.zero_point, -128);
        assert_eq!(q[3], 127);
        let r = asymmetric_quantize(&[0.0; 4], &mut q);
        assert_eq!((r.scale, r.zero_point, q), (1.0, 0, [0; 4]));
    }

    #[test]
    fn fully_connected_matches_the_formula() {
        let dims = FcDims {
            batches: 1,
            accum_depth: 2,
            output_depth: 2,
        };
        let mut scratch = [0i8; 2];
        let mut out = [0f32; 2];
        fully_connected_hybrid(
            Activation::Relu,
            false,
            0.5,
            dims,
            &[1.0, -1.0],
            &[2, 1, -3, 1],
            Some(&[0.25, 0.0]),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        // q = [127, -127], scale 1/127 · 0.5: row 0 = 0.25 + 127 · (0.5/127), row 1 < 0.
        assert_eq!(out, [0.25 + 127.0 * ((1.0f32 / 127.0) * 0.5), 0.0]);
        // All-zero input: the bias alone.
        fully_connected_hybrid(
            Activation::None,
            true,
            0.5,
            dims,
            &[0.0, 0.0],
            &[2, 1, -3, 1],
            Some(&[0.25, -0.5]),
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0.25, -0.5]);
    }
}

//! CONV_2D, and the preparation it shares with DEPTHWISE_CONV_2D: geometry (padding, output
//! size), type variant, and per-channel fixed-point multipliers.

use super::{fused_activation, kernel_result, qrange, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::conv::{self as k, ChannelScales, ConvIo, ConvParams};
use crate::kernels::hybrid;
use crate::model::Tensor;
use crate::quant::{effective_scale, quantize_multiplier};
use crate::schema::field::conv2d_options as f;
use crate::types::{Activation, DType, Padding};
use bytemuck::{Pod, Zeroable};

pub(super) const FLOAT: u32 = 0;
pub(super) const INT8: u32 = 1;
pub(super) const INT16_BIAS64: u32 = 2;
pub(super) const INT16_BIAS32: u32 = 3;
/// Float input and output, int8 per-channel weights (dynamic range).
pub(super) const HYBRID: u32 = 4;
/// int8, the filter in the 1x4 block encoding (`crate::block_sparse`; CONV_2D only).
pub(super) const INT8_BLOCK: u32 = 5;

/// Shapes and type variant of a convolution, stored ahead of its `ConvParams`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct ConvHeader {
    pub variant: u32,
    pub input: [u32; 4],
    pub filter: [u32; 4],
    pub output: [u32; 4],
}

impl ConvHeader {
    pub fn shapes(&self) -> ([usize; 4], [usize; 4], [usize; 4]) {
        let u = |s: [u32; 4]| s.map(|d| d as usize);
        (u(self.input), u(self.filter), u(self.output))
    }
}

/// The op's tensors as a kernel's [`ConvIo`]: input 0, weights 1, the optional bias 2 and
/// output 0, with the shapes of its header (one place for every eval arm of both ops).
pub(super) fn conv_io<'b, X: Pod, W: Pod, B: Pod, O: Pod>(
    io: &mut OpIo<'b>,
    h: &ConvHeader,
) -> Result<ConvIo<'b, X, W, B, O>, Error> {
    let (input_shape, filter_shape, output_shape) = h.shapes();
    Ok(ConvIo {
        input_shape,
        input: io.input_as(0)?,
        filter_shape,
        filter: io.input_as(1)?,
        bias: io.optional_input_as(2)?,
        output_shape,
        output: io.output_as(0)?,
    })
}

/// The per-channel multipliers and shifts `prepare_conv_like` wrote after the params.
pub(super) fn channel_scales<'b>(
    data: &mut DataReader<'b>,
    channels: usize,
) -> Result<ChannelScales<'b>, Error> {
    Ok(ChannelScales {
        multipliers: data.array::<i32>(channels)?,
        shifts: data.array::<i8>(channels)?,
    })
}

/// The options a convolution reads, whatever its options table.
pub(super) struct ConvOptions {
    pub padding: Padding,
    pub stride: [i32; 2],
    /// Dilation (height, width); a pool's filter size ([`window_options`]).
    pub dilation: [i32; 2],
    pub activation: Activation,
}

/// Where a windowed operator's options table keeps the pair defaulting to 1 (dilation, or a
/// pool's filter size; height, width) and the fused activation: the three tables number these
/// differently (padding and stride they number alike, checked below).
pub(super) type WindowFields = [u16; 3];

// Padding and stride: the same field numbers in the three tables [`window_options`] reads.
const _: () = {
    use crate::schema::field::{depthwise_conv2d_options as d, pool2d_options as q};
    assert!(d::PADDING == f::PADDING && q::PADDING == f::PADDING);
    assert!(d::STRIDE_H == f::STRIDE_H && q::STRIDE_H == f::STRIDE_H);
    assert!(d::STRIDE_W == f::STRIDE_W && q::STRIDE_W == f::STRIDE_W);
};

/// Reads a convolution's or a pool's options. Out of line: one copy of the table reads for
/// every convolution, depthwise and pooling registration a firmware links.
#[inline(never)]
pub(super) fn window_options(
    p: &Prepare<'_, '_, '_>,
    [pair_h, pair_w, activation]: WindowFields,
) -> Result<ConvOptions, ParseErrorKind> {
    let padding = Padding::from_schema(p.op.option::<i8>(f::PADDING, 0)?)
        .ok_or(p.invalid("unknown padding"))?;
    Ok(ConvOptions {
        padding,
        stride: [int_option(p, f::STRIDE_H)?, int_option(p, f::STRIDE_W)?],
        dilation: [int_option(p, pair_h)?, int_option(p, pair_w)?],
        activation: fused_activation(p, activation)?,
    })
}

/// An `i32` option defaulting to 1 ([`window_options`]): out of line, one copy of the table
/// read for the four fields.
#[inline(never)]
fn int_option(p: &Prepare<'_, '_, '_>, id: u16) -> Result<i32, ParseErrorKind> {
    p.op.option(id, 1)
}

/// Validates a convolution's tensors and writes header, params and per-channel multipliers.
/// `out_channels_dim` is the filter dimension holding the output channels (0 for CONV_2D, 3
/// for DEPTHWISE_CONV_2D).
///
/// `INT8_ONLY`: an `_INT8` registration's (a constant, so the other types' checks and
/// constants are compiled out).
pub(super) fn prepare_conv_like<const INT8_ONLY: bool>(
    p: &mut Prepare<'_, '_, '_>,
    o: ConvOptions,
    out_channels_dim: usize,
) -> Result<(), ParseErrorKind> {
    p.expect_io(2, 3, 1)?;
    let input = p.input(0)?;
    let filter = p.input(1)?;
    let bias = p.optional_input(2);
    let output = p.output(0)?;
    let dims4 = |t: &Tensor<'_>| -> Result<[usize; 4], ParseErrorKind> {
        if t.shape.rank() != 4 {
            return Err(p.invalid("input, weights and output must be 4-D"));
        }
        t.shape.extended::<4>().ok_or(p.invalid("rank above 4"))
    };
    let (is, fs, os) = (dims4(&input)?, dims4(&filter)?, dims4(&output)?);
    let out_c = fs[out_channels_dim];
    let window = k::compute_padding(
        o.padding,
        o.stride[0],
        o.stride[1],
        o.dilation[0],
        o.dilation[1],
        is[1] as i32,
        is[2] as i32,
        fs[1] as i32,
        fs[2] as i32,
    )
    .ok_or(p.invalid("stride, dilation or window size out of range"))?;
    if os
        != [
            is[0],
            window.out_height as usize,
            window.out_width as usize,
            out_c,
        ]
    {
        return Err(p.invalid("output shape differs from the one the window gives"));
    }
    if bias.is_some_and(|b| b.shape.num_elements() != out_c) {
        return Err(p.invalid("bias size differs from the output channels"));
    }
    let variant = match (
        input.dtype,
        filter.dtype,
        output.dtype,
        bias.map(|b| b.dtype),
    ) {
        (DType::I8, DType::I8, DType::I8, None | Some(DType::I32)) => INT8,
        // The `_INT8` registrations' refusal (`Prepare::require_int8`).
        _ if INT8_ONLY => {
            return Err(p.unsupported(p.int8_only.unwrap_or("types other than int8")));
        }
        (DType::F32, DType::F32, DType::F32, None | Some(DType::F32)) => FLOAT,
        (DType::I16, DType::I8, DType::I16, Some(DType::I32)) => INT16_BIAS32,
        (DType::I16, DType::I8, DType::I16, None | Some(DType::I64)) => INT16_BIAS64,
        (DType::F32, DType::I8, DType::F32, None | Some(DType::F32)) => HYBRID,
        _ => return Err(p.unsupported("this combination of input, weight, bias and output types")),
    };
    // A sparse filter reaches here only as CONV_2D's in the 1x4 block encoding
    // (`ops::check_with`), and only through the sparse registrations (`conv::prepare_sparse`).
    let variant = match (filter.is_sparse, variant) {
        (false, v) => v,
        (true, INT8) => INT8_BLOCK,
        (true, _) => return Err(p.unsupported("1x4 block weights with non-int8 activations")),
    };
    let scales = filter.quantization.scales;
    p.require_int8(variant == INT8 || variant == INT8_BLOCK)?;
    if variant == HYBRID {
        if scales.len() != out_c || scales.iter().any(|s| s.is_nan() || s <= 0.0) {
            return Err(p.unsupported("hybrid weights without one positive scale per channel"));
        }
        if out_channels_dim == 0 && scales.iter().all(|s| s == scales.get(0).unwrap_or(0.0)) {
            // LiteRT runs such a layer through its optimized per-tensor hybrid kernel.
            return Err(p.unsupported("hybrid CONV_2D whose channel scales are all equal"));
        }
        if filter.quantization.zero_points.iter().any(|z| z != 0) {
            return Err(p.unsupported("weights with a non-zero zero point"));
        }
        p.scratch_bytes = input.shape.num_elements();
    } else if variant != FLOAT {
        if !input.quantization.is_quantized()
            || !output.quantization.is_quantized()
            || scales.is_empty()
        {
            return Err(p.invalid("quantized tensors without scales"));
        }
        if scales.len() != 1 && scales.len() != out_c {
            return Err(p.invalid("weight scales are neither per-tensor nor per output channel"));
        }
        if filter.quantization.zero_points.iter().any(|z| z != 0) {
            return Err(p.unsupported("weights with a non-zero zero point"));
        }
        if variant != INT8
            && variant != INT8_BLOCK
            && (input.quantization.zero_point() != 0 || output.quantization.zero_point() != 0)
        {
            return Err(p.invalid("int16 activations must have zero point 0"));
        }
    }
    let params = if variant == FLOAT || variant == HYBRID {
        ConvParams::float(o.stride, o.dilation, window.padding, o.activation)
    } else {
        let (qmin, qmax) = qrange(output.dtype);
        ConvParams::quantized(
            o.stride,
            o.dilation,
            window.padding,
            input.quantization.zero_point(),
            output.quantization.zero_point(),
            output.quantization.scale(),
            o.activation,
            qmin,
            qmax,
        )
    };
    let u = |s: [usize; 4]| s.map(|d| d as u32);
    p.data.put(ConvHeader {
        variant,
        input: u(is),
        filter: u(fs),
        output: u(os),
    });
    p.data.put(params);
    if variant == HYBRID {
        p.data.put_array(out_c, |c| scales.get(c).unwrap_or(0.0));
        return Ok(());
    }
    let channels = if variant == FLOAT { 0 } else { out_c };
    let (si, so) = (input.quantization.scale(), output.quantization.scale());
    // Shifts are stored as bytes (a third of the per-channel data). A product of power-of-two
    // exponents bounds each channel's shift from above (by at most 3), so ratios that could
    // need a shift above 127 (2^124 and more: no real model) are refused while measuring (the
    // parse and the plan), before any multiplier is computed; the writing pass only runs on a
    // parsed model, so it does not read every channel's scale again.
    // (A subnormal counts as 2^-127 above the fraction bar and as 2^-149 below it.)
    let exponent = |x: f32, subnormal: i32| match (x.to_bits() >> 23) & 0xff {
        0 => subnormal,
        e => e as i32 - 127,
    };
    let widest = || scales.iter().map(|s| exponent(s, -127)).max().unwrap_or(0);
    if channels > 0
        && !p.data.is_writing()
        && exponent(si, -127) + widest() - exponent(so, -149) > 124
    {
        return Err(p.unsupported("an input x weight / output scale ratio of 2^124 or more"));
    }
    let multiplier = |c: usize| {
        let fs = scales
            .get(if scales.len() == 1 { 0 } else { c })
            .unwrap_or(0.0);
        let (m, shift) = quantize_multiplier(effective_scale(si, fs, so));
        (m, i8::try_from(shift).unwrap_or(i8::MAX))
    };
    p.data.put_array_pair(channels, multiplier);
    Ok(())
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false, false>(p, false)
}

/// [`prepare`] of int8 operators only (`CONV_2D_INT8`): the other types' checks are compiled
/// out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, false>(p, false)
}

/// [`prepare`] that also accepts an int8 filter in the 1x4 block encoding (`CONV_2D_SPARSE`).
pub(super) fn prepare_sparse(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false, false>(p, true)
}

/// [`prepare_sparse`] of int8 operators only (`CONV_2D_SPARSE_INT8`).
pub(super) fn prepare_sparse_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, false>(p, true)
}

/// `sparse_ok`: a sparse registration's, which links the block kernel; `INT8_ONLY` as in
/// [`prepare_conv_like`]; `POINTWISE`: `CONV_2D_POINTWISE_INT8`'s, which refuses what the
/// pointwise kernel does not run.
fn prepare_with<const INT8_ONLY: bool, const POINTWISE: bool>(
    p: &mut Prepare<'_, '_, '_>,
    sparse_ok: bool,
) -> Result<(), ParseErrorKind> {
    let o = window_options(p, [f::DILATION_H, f::DILATION_W, f::FUSED_ACTIVATION])?;
    let input = p.input(0)?;
    let filter = p.input(1)?;
    let (in_c, f_c) = (input.shape.dim(3), filter.shape.dim(3));
    if f_c == 0 || in_c % f_c != 0 {
        return Err(p.invalid("input channels are not a multiple of the weights' channels"));
    }
    // A 1x1 window never pads, and an int8 zero point always fits the 16-bit lanes, so the
    // pointwise kernel runs every operator this accepts.
    let lanes = || {
        let offset = input.quantization.zero_point().wrapping_neg();
        crate::kernels::dsp::offset16x2(offset).is_some()
    };
    if POINTWISE
        && !(filter.shape.dim(1) == 1
            && filter.shape.dim(2) == 1
            && f_c == in_c
            && in_c <= crate::kernels::pointwise::MAX_CHANNELS
            && lanes())
    {
        return Err(p.unsupported(
            "filters other than 1x1 over all input channels with ops::CONV_2D_POINTWISE_INT8 \
             (register ops::CONV_2D_INT8)",
        ));
    }
    if filter.is_sparse {
        if !sparse_ok {
            return Err(ParseErrorKind::NotRegistered {
                code: crate::schema::op::CONV_2D,
                name: if p.int8_only.is_some() {
                    "CONV_2D_SPARSE_INT8"
                } else {
                    "CONV_2D_SPARSE"
                },
            });
        }
        if f_c != in_c {
            return Err(p.unsupported("1x4 block weights of a grouped convolution"));
        }
        prepare_conv_like::<INT8_ONLY>(p, o, 0)?;
        let fs = filter.shape.extended::<4>().unwrap_or_default();
        let os = p.output(0)?.shape.extended::<4>().unwrap_or_default();
        p.scratch_bytes = crate::kernels::conv_block_sparse::scratch_bytes(fs, os);
        return Ok(());
    }
    prepare_conv_like::<INT8_ONLY>(p, o, 0)?;
    if input.dtype == DType::I8 {
        p.scratch_bytes = k::im2col_bytes(filter.shape.extended::<4>().unwrap_or_default(), in_c);
    }
    Ok(())
}

/// [`prepare`] for `CONV_2D_POINTWISE_INT8`: int8 1x1 convolutions over all input channels
/// only, what the pointwise kernel runs.
pub(super) fn prepare_pointwise(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, true>(p, false)
}

/// `CONV_2D_POINTWISE_INT8`'s eval: the pointwise kernel alone.
pub(super) fn eval_pointwise(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let h: ConvHeader = data.get()?;
    let params: ConvParams = data.get()?;
    let scales = channel_scales(data, h.filter[0] as usize)?;
    let r = crate::kernels::pointwise::pointwise_i8(&params, scales, conv_io(io, &h)?);
    kernel_result(io, r)
}

super::int8_evals!();

// `eval_sparse` / `eval_sparse_int8`: [`eval`] / [`eval_int8`] with the sparse kernels (`CONV_2D_SPARSE`, `CONV_2D_SPARSE_INT8`).
super::int8_evals!(eval_sparse, eval_sparse_int8, eval_sparse_with);

fn eval_sparse_with<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let mut peek = data.clone();
    let h: ConvHeader = peek.get()?;
    if h.variant != INT8_BLOCK {
        return eval_variants::<ALL_TYPES>(io, data);
    }
    let h: ConvHeader = data.get()?;
    let params: ConvParams = data.get()?;
    let scales = channel_scales(data, h.filter[0] as usize)?;
    let scratch = io.scratch()?;
    let r = crate::kernels::conv_block_sparse::conv_i8_block(
        &params,
        scales,
        conv_io(io, &h)?,
        scratch,
    );
    kernel_result(io, r)
}

/// CONV_2D's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: ConvHeader = data.get()?;
    let params: ConvParams = data.get()?;
    let (is, fs, os) = h.shapes();
    if ALL_TYPES && h.variant == HYBRID {
        let scales = data.array::<f32>(fs[0])?;
        let scratch = io.scratch_as::<i8>()?;
        let r = hybrid::conv_hybrid_per_channel(
            &params,
            scales,
            is,
            io.input_as(0)?,
            fs,
            io.input_as(1)?,
            io.optional_input_as(2)?,
            os,
            io.output_as(0)?,
            scratch,
        );
        return kernel_result(io, r);
    }
    let channels = if h.variant == FLOAT {
        0
    } else {
        h.filter[0] as usize
    };
    let scales = channel_scales(data, channels)?;
    let r = match h.variant {
        FLOAT if ALL_TYPES => k::conv_f32(&params, conv_io(io, &h)?),
        INT8 => {
            let scratch = bytemuck::cast_slice_mut(io.scratch()?);
            k::conv_per_channel_i8_im2col(&params, scales, conv_io(io, &h)?, scratch)
        }
        INT16_BIAS64 if ALL_TYPES => {
            k::conv_per_channel_i16::<i64>(&params, scales, conv_io(io, &h)?)
        }
        INT16_BIAS32 if ALL_TYPES => {
            k::conv_per_channel_i16::<i32>(&params, scales, conv_io(io, &h)?)
        }
        _ => return Err(io.internal("CONV_2D variant without a registered kernel")),
    };
    kernel_result(io, r)
}

//! DEPTHWISE_CONV_2D: int8 and int16x8 per-channel, float32, hybrid (float activations, int8
//! per-channel weights). The depth multiplier comes from the shapes, as in LiteRT.

use super::conv::{
    channel_scales, conv_io, prepare_conv_like, window_options, ConvHeader, FLOAT, HYBRID,
    INT16_BIAS64, INT8,
};
use super::{kernel_result, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::conv::ConvParams;
use crate::kernels::depthwise_conv as k;
use crate::kernels::hybrid;
use crate::schema::field::depthwise_conv2d_options as f;
use crate::types::DType;

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false, ANY>(p)
}

/// [`prepare`] of int8 operators only (`DEPTHWISE_CONV_2D_INT8`): the other types' checks are
/// compiled out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, ANY>(p)
}

/// [`prepare`] for `DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8`: int8, and either what
/// [`prepare_one_channel`] accepts or depth multiplier 1 with a multiple of 4 channels.
pub(super) fn prepare_multiplier_1(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, MULTIPLIER_1>(p)
}

/// [`prepare`] for `DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8`: int8, one input channel and a filter
/// the one-channel kernel's stack tables hold ([`k::one_channel_fits`]), so that no generic
/// kernel is linked for the filters it does not take.
pub(super) fn prepare_one_channel(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true, ONE_CHANNEL>(p)
}

/// The operators a depthwise registration takes ([`prepare_with`]'s `SHAPES`): all,
const ANY: u8 = 0;
/// [`prepare_one_channel`]'s,
const ONE_CHANNEL: u8 = 1;
/// or [`prepare_multiplier_1`]'s.
const MULTIPLIER_1: u8 = 2;

/// `INT8_ONLY` as in [`prepare_conv_like`]; `SHAPES`: which operators the registration takes.
fn prepare_with<const INT8_ONLY: bool, const SHAPES: u8>(
    p: &mut Prepare<'_, '_, '_>,
) -> Result<(), ParseErrorKind> {
    let o = window_options(p, [f::DILATION_H, f::DILATION_W, f::FUSED_ACTIVATION])?;
    let input = p.input(0)?;
    let in_c = input.shape.dim(3);
    let one_channel = in_c == 1;
    if SHAPES == ONE_CHANNEL && !one_channel {
        return Err(p.unsupported(
            "inputs of more than one channel with ops::DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8 \
             (register ops::DEPTHWISE_CONV_2D_INT8)",
        ));
    }
    let filter = p.input(1)?;
    let out_c = filter.shape.dim(3);
    if SHAPES == MULTIPLIER_1 && !one_channel && (out_c != in_c || out_c % 4 != 0) {
        return Err(p.unsupported(
            "depth multipliers other than 1, or channels not in fours, with \
             ops::DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8 (register ops::DEPTHWISE_CONV_2D_INT8)",
        ));
    }
    if SHAPES == MULTIPLIER_1 && !one_channel && p.optional_input(2).is_none() {
        // Its kernel's output stage assumes a bias (every converter writes one).
        return Err(p.unsupported(
            "multiplier-1 layers without a bias with ops::DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8 \
             (register ops::DEPTHWISE_CONV_2D_INT8)",
        ));
    }
    if filter.shape.dim(0) != 1 {
        return Err(p.invalid("weights must have shape [1, h, w, channels]"));
    }
    if !INT8_ONLY
        && input.dtype == DType::I16
        && p.optional_input(2).is_some_and(|b| b.dtype != DType::I64)
    {
        return Err(p.unsupported("int16 activations with a bias other than int64"));
    }
    // Past the check above, a multiplier-1 registration's shapes have one unless in_c is 0
    // (and the division is setup time on every depthwise operator).
    let multiplier = if SHAPES == MULTIPLIER_1 {
        in_c != 0
    } else {
        k::depth_multiplier(in_c, out_c).is_some()
    };
    if !multiplier {
        return Err(p.invalid("output channels are not a multiple of the input channels"));
    }
    if SHAPES == ANY || (SHAPES == MULTIPLIER_1 && !one_channel) {
        return prepare_conv_like::<INT8_ONLY>(p, o, 3);
    }
    prepare_conv_like::<INT8_ONLY>(p, o, 3)?;
    // After the shape checks, so that a malformed filter gets their message.
    let fs = filter.shape;
    if !k::one_channel_fits(fs.dim(1), fs.dim(2), fs.dim(3)) {
        return Err(p.unsupported(
            "filters beyond the one-channel kernel's tables with ops::DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8 \
             or _MULTIPLIER_1_INT8 (register ops::DEPTHWISE_CONV_2D_INT8)",
        ));
    }
    Ok(())
}

/// `DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8`'s eval.
pub(super) fn eval_multiplier_1(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    eval_int8_with(io, data, k::depthwise_conv_multiplier_1_i8)
}

/// `DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8`'s eval: the one-channel kernel alone.
pub(super) fn eval_one_channel(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    eval_int8_with(io, data, k::depthwise_conv_one_channel_only_i8)
}

/// A narrow registration's eval: its int8 prepared data, then `kernel` alone. Inlined into
/// each eval, so that the kernel is a direct call.
#[inline(always)]
fn eval_int8_with(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
    kernel: k::DepthwiseI8,
) -> Result<(), Error> {
    let h: ConvHeader = data.get()?;
    let params: ConvParams = data.get()?;
    let scales = channel_scales(data, h.filter[3] as usize)?;
    let r = kernel(&params, scales, conv_io(io, &h)?);
    kernel_result(io, r)
}

super::int8_evals!();

/// DEPTHWISE_CONV_2D's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: ConvHeader = data.get()?;
    let params: ConvParams = data.get()?;
    let (is, fs, os) = h.shapes();
    if ALL_TYPES && h.variant == HYBRID {
        let scales = data.array::<f32>(fs[3])?;
        let scratch = io.scratch_as::<i8>()?;
        let r = hybrid::depthwise_conv_hybrid_per_channel(
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
        h.filter[3] as usize
    };
    let scales = channel_scales(data, channels)?;
    if h.variant == INT8 && is[3] == 1 {
        let r = k::depthwise_conv_one_channel_i8(&params, scales, conv_io(io, &h)?);
        return kernel_result(io, r);
    }
    let r = match h.variant {
        FLOAT if ALL_TYPES => k::depthwise_conv_f32(&params, conv_io(io, &h)?),
        INT8 => k::depthwise_conv_per_channel_i8(&params, scales, conv_io(io, &h)?),
        INT16_BIAS64 if ALL_TYPES => {
            k::depthwise_conv_per_channel_i16(&params, scales, conv_io(io, &h)?)
        }
        _ => return Err(io.internal("DEPTHWISE_CONV_2D variant without a registered kernel")),
    };
    kernel_result(io, r)
}

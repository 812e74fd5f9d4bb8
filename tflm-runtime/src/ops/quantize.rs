//! QUANTIZE (float → int8/int16/uint8, and requantization between integer types) and
//! DEQUANTIZE (int8 per-tensor or per-channel, int16, uint8, float16 → float32).

use super::{DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::dequantize::{self as dq, DequantizeParams};
use crate::kernels::quantize::{self as q, QuantizeParams, RequantizeParams};
use crate::schema::op;
use crate::types::DType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    input: i32,
    output: i32,
    quantize: QuantizeParams,
    requantize: RequantizeParams,
    dequantize: DequantizeParams,
    /// Per-channel DEQUANTIZE: channels and elements per channel step (0 channels: per-tensor).
    channels: u32,
    inner: u32,
}

/// The integer pairs the requantizing kernels cover.
fn requantizes(input: DType, output: DType) -> bool {
    use DType::*;
    matches!(
        (input, output),
        (I8, I8 | I16 | I32 | U8) | (U8, I8 | U8) | (I16, I8 | I16 | I32) | (I32, I8 | I16)
    )
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(1, 1, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    if input.shape.num_elements() != output.shape.num_elements() {
        return Err(p.invalid("input and output element counts differ"));
    }
    let qp = |t: &crate::model::Tensor<'_>| (t.quantization.scale(), t.quantization.zero_point());
    let mut h = Header {
        input: input.dtype.schema_code() as i32,
        output: output.dtype.schema_code() as i32,
        quantize: QuantizeParams::zeroed(),
        requantize: RequantizeParams::zeroed(),
        dequantize: DequantizeParams::zeroed(),
        channels: 0,
        inner: 0,
    };
    let needs_scale = |t: &crate::model::Tensor<'_>| {
        t.quantization.is_quantized() && t.quantization.scale() > 0.0
    };
    if p.op.code == op::QUANTIZE {
        if !needs_scale(&output) {
            return Err(p.invalid("output has no quantization scale"));
        }
        if output.quantization.is_per_channel() {
            return Err(p.unsupported("per-channel output"));
        }
        match (input.dtype, output.dtype) {
            (DType::F32, DType::I8 | DType::I16 | DType::U8) => {
                let (scale, zero_point) = qp(&output);
                h.quantize = QuantizeParams { scale, zero_point };
            }
            (i, o) if requantizes(i, o) => {
                if !needs_scale(&input) {
                    return Err(p.invalid("input has no quantization scale"));
                }
                h.requantize = RequantizeParams::new(qp(&input), qp(&output));
            }
            _ => return Err(p.unsupported("this combination of input and output types")),
        }
    } else {
        if output.dtype != DType::F32 {
            return Err(p.unsupported("output other than float32"));
        }
        match input.dtype {
            DType::F16 => {}
            DType::I8 | DType::I16 | DType::U8 => {
                if !needs_scale(&input) {
                    return Err(p.invalid("input has no quantization scale"));
                }
                let quant = &input.quantization;
                if quant.is_per_channel() {
                    if input.dtype != DType::I8 {
                        return Err(p.unsupported("per-channel input other than int8"));
                    }
                    let axis = quant.quantized_dimension;
                    h.channels = quant.scales.len() as u32;
                    h.inner = input.shape.dims().skip(axis + 1).product::<usize>() as u32;
                }
                let (scale, zero_point) = qp(&input);
                h.dequantize = DequantizeParams { scale, zero_point };
            }
            _ => return Err(p.unsupported("input other than int8, int16, uint8 or float16")),
        }
    }
    p.data.put(h);
    let n = h.channels as usize;
    p.data
        .put_array(n, |c| input.quantization.scales.get(c).unwrap_or(0.0));
    p.data.put_array(n, |c| {
        input.quantization.zero_points.get(c).unwrap_or(0) as i32
    });
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let h: Header = data.get()?;
    let scales = data.array::<f32>(h.channels as usize)?;
    let zero_points = data.array::<i32>(h.channels as usize)?;
    let types = (
        DType::from_schema(h.input as i8),
        DType::from_schema(h.output as i8),
    );
    let (rq, qp, dp) = (&h.requantize, &h.quantize, &h.dequantize);
    // The tensors' bytes once, cast per arm: the 19 arms each inlined the place look-ups.
    let (input, output) = (io.input(0)?, io.output(0)?);
    use DType::*;
    match types {
        (Some(F32), Some(I8)) => q::quantize_f32_i8(qp, cast(io, input)?, cast_mut(io, output)?),
        (Some(F32), Some(I16)) => q::quantize_f32_i16(qp, cast(io, input)?, cast_mut(io, output)?),
        (Some(F32), Some(U8)) => q::quantize_f32_u8(qp, cast(io, input)?, cast_mut(io, output)?),
        (Some(I8), Some(I8)) => q::requantize_i8_i8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I8), Some(I16)) => q::requantize_i8_i16(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I8), Some(I32)) => q::requantize_i8_i32(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I8), Some(U8)) => q::requantize_i8_u8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(U8), Some(I8)) => q::requantize_u8_i8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(U8), Some(U8)) => q::requantize_u8_u8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I16), Some(I8)) => q::requantize_i16_i8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I16), Some(I16)) => {
            q::requantize_i16_i16(rq, cast(io, input)?, cast_mut(io, output)?)
        }
        (Some(I16), Some(I32)) => {
            q::requantize_i16_i32(rq, cast(io, input)?, cast_mut(io, output)?)
        }
        (Some(I32), Some(I8)) => q::requantize_i32_i8(rq, cast(io, input)?, cast_mut(io, output)?),
        (Some(I32), Some(I16)) => {
            q::requantize_i32_i16(rq, cast(io, input)?, cast_mut(io, output)?)
        }
        (Some(I8), Some(F32)) if h.channels > 0 => dq::dequantize_per_channel_i8(
            scales,
            zero_points,
            h.inner as usize,
            cast(io, input)?,
            cast_mut(io, output)?,
        ),
        (Some(I8), Some(F32)) => dq::dequantize_i8(dp, cast(io, input)?, cast_mut(io, output)?),
        (Some(I16), Some(F32)) => dq::dequantize_i16(dp, cast(io, input)?, cast_mut(io, output)?),
        (Some(U8), Some(F32)) => dq::dequantize_u8(dp, cast(io, input)?, cast_mut(io, output)?),
        (Some(F16), Some(F32)) => dq::dequantize_f16(cast(io, input)?, cast_mut(io, output)?),
        _ => return Err(io.internal("quantize types")),
    }
    Ok(())
}

/// `bytes` as elements of `T`, or an internal error naming the operator.
fn cast<'b, T: Pod>(io: &OpIo<'_>, bytes: &'b [u8]) -> Result<&'b [T], Error> {
    bytemuck::try_cast_slice(bytes).map_err(|_| io.internal("input misaligned"))
}

/// [`cast`] of the output.
fn cast_mut<'b, T: Pod>(io: &OpIo<'_>, bytes: &'b mut [u8]) -> Result<&'b mut [T], Error> {
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| io.internal("output misaligned"))
}

//! SOFTMAX over the innermost dimension: int8 → int8, int8 → int16, int16 → int16, float32.

use super::{DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::softmax::{self as k, SoftmaxI16Params, SoftmaxParams};
use crate::schema::field::softmax_options as f;
use crate::types::DType;
use bytemuck::{Pod, Zeroable};

const FLOAT: u32 = 0;
const INT8: u32 = 1;
const INT8_TO_INT16: u32 = 2;
const INT16: u32 = 3;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    variant: u32,
    depth: u32,
    beta: f32,
    int8: SoftmaxParams,
    int16: SoftmaxI16Params,
}

/// The type pairs a registration runs (`prepare_with`'s constant).
const ALL_PAIRS: u8 = 0;
/// int8 in and out (`SOFTMAX_INT8`).
const INT8_PAIR: u8 = 1;
/// int8 in, int16 out (`SOFTMAX_INT8_INT16`, TFLite Micro's `Register_SOFTMAX_INT8_INT16`).
const INT8_INT16_PAIR: u8 = 2;

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<ALL_PAIRS>(p)
}

/// [`prepare`] of int8 operators only (`SOFTMAX_INT8`): the int16 parameters (a double
/// division) are compiled out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<INT8_PAIR>(p)
}

/// [`prepare`] of int8 → int16 operators only (`SOFTMAX_INT8_INT16`).
pub(super) fn prepare_int8_int16(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<INT8_INT16_PAIR>(p)
}

/// `PAIRS`: the type pairs the registration runs (a constant, so the other pairs' arms are
/// compiled out); the narrow registrations refuse the others with their message.
fn prepare_with<const PAIRS: u8>(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(1, 1, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    if !input.shape.same_as(&output.shape) {
        return Err(p.invalid("input and output shapes differ"));
    }
    let rank = input.shape.rank();
    let depth = if rank == 0 {
        1
    } else {
        input.shape.dim(rank - 1)
    };
    let beta = p.op.option::<f32>(f::BETA, 1.0)?;
    let q = |t: &crate::model::Tensor<'_>| (t.quantization.scale(), t.quantization.zero_point());
    let mut h = Header {
        variant: FLOAT,
        depth: depth as u32,
        beta,
        int8: SoftmaxParams::zeroed(),
        int16: SoftmaxI16Params::zeroed(),
    };
    match (input.dtype, output.dtype) {
        (DType::I8, DType::I8) if PAIRS != INT8_INT16_PAIR => {
            if output.quantization.scale() != 1.0 / 256.0
                || output.quantization.zero_point() != -128
            {
                return Err(p.invalid("int8 output must have scale 1/256 and zero point -128"));
            }
            h.variant = INT8;
            h.int8 = SoftmaxParams::int8(beta, input.quantization.scale());
        }
        (DType::I8, DType::I16) if PAIRS != INT8_PAIR => {
            h.variant = INT8_TO_INT16;
            h.int8 = SoftmaxParams::int8(beta, input.quantization.scale());
        }
        // The narrow registrations' refusal (their message, as `Prepare::require_int8`).
        _ if PAIRS != ALL_PAIRS => {
            return Err(p.unsupported(p.int8_only.unwrap_or("types other than int8")));
        }
        (DType::F32, DType::F32) => {}
        (DType::I16, DType::I16) => {
            h.variant = INT16;
            h.int16 = SoftmaxI16Params::new(beta, q(&input), q(&output))
                .ok_or(p.invalid("int16 softmax needs zero points 0 and output scale 1/32768"))?;
        }
        _ => return Err(p.unsupported("this combination of input and output types")),
    }
    p.data.put(h);
    Ok(())
}

super::int8_evals!();

/// `SOFTMAX_INT8_INT16`'s eval: the int8 → int16 kernel alone.
pub(super) fn eval_int8_int16(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let h: Header = data.get()?;
    if h.variant != INT8_TO_INT16 {
        return Err(io.internal("SOFTMAX variant without a registered kernel"));
    }
    let depth = h.depth as usize;
    k::softmax_i8_i16(&h.int8, io.input_as(0)?, io.output_as(0)?, depth);
    Ok(())
}

/// SOFTMAX's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: Header = data.get()?;
    let depth = h.depth as usize;
    match h.variant {
        INT8 => k::softmax_i8(&h.int8, io.input_as(0)?, io.output_as(0)?, depth),
        FLOAT if ALL_TYPES => k::softmax_f32(h.beta, io.input_as(0)?, io.output_as(0)?, depth),
        INT8_TO_INT16 if ALL_TYPES => {
            k::softmax_i8_i16(&h.int8, io.input_as(0)?, io.output_as(0)?, depth)
        }
        INT16 if ALL_TYPES => k::softmax_i16(&h.int16, io.input_as(0)?, io.output_as(0)?, depth),
        _ => return Err(io.internal("SOFTMAX variant without a registered kernel")),
    }
    Ok(())
}

//! MUL: int8, int16, int16 inputs to int8 output, float32 and int32, broadcasting.

use super::binary::{prepare_binary, BinaryShapes};
use super::{fused_activation, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::mul::{self as k, MulParams};
use crate::schema::field::mul_options as f;
use crate::types::{Activation, DType};
use bytemuck::{Pod, Zeroable};

const FLOAT: u32 = 0;
const INT32: u32 = 1;
const INT8: u32 = 2;
const INT16: u32 = 3;
const INT16_TO_INT8: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    variant: u32,
    activation: i32,
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    let (shapes, a, b, out) = prepare_binary(p)?;
    let activation_code = p.op.option::<i8>(f::FUSED_ACTIVATION, 0)?;
    let activation = fused_activation(p, f::FUSED_ACTIVATION)?;
    if a.dtype != b.dtype {
        return Err(p.unsupported("inputs of different types"));
    }
    let q = |t: &crate::model::Tensor<'_>| (t.quantization.scale(), t.quantization.zero_point());
    let (variant, params) = match (a.dtype, out.dtype) {
        (DType::F32, DType::F32) => (FLOAT, MulParams::zeroed()),
        (DType::I32, DType::I32) => (INT32, MulParams::zeroed()),
        (DType::I8, DType::I8) => (INT8, MulParams::int8(q(&a), q(&b), q(&out), activation)),
        (DType::I16, DType::I16) => (
            INT16,
            MulParams::int16(q(&a), q(&b), q(&out), activation)
                .ok_or(p.unsupported("int16 tensors with non-zero zero points"))?,
        ),
        (DType::I16, DType::I8) => (INT16_TO_INT8, MulParams::int16_to_int8(q(&out), activation)),
        _ => return Err(p.unsupported("this combination of input and output types")),
    };
    p.require_int8(variant == INT8)?;
    p.data.put(Header {
        variant,
        activation: activation_code as i32,
    });
    p.data.put(shapes);
    p.data.put(params);
    Ok(())
}

super::int8_evals!();

/// MUL's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: Header = data.get()?;
    let (s1, r1, s2, r2) = data.get::<BinaryShapes>()?.unpack();
    let params: MulParams = data.get()?;
    let activation = Activation::from_schema(h.activation as i8).unwrap_or(Activation::None);
    let (s1, s2) = (&s1[..r1], &s2[..r2]);
    match h.variant {
        FLOAT if ALL_TYPES => k::mul_f32(
            activation,
            io.input_as(0)?,
            s1,
            io.input_as(1)?,
            s2,
            io.output_as(0)?,
        ),
        INT32 if ALL_TYPES => k::mul_i32(
            activation,
            io.input_as(0)?,
            s1,
            io.input_as(1)?,
            s2,
            io.output_as(0)?,
        ),
        INT8 => k::mul_i8(
            &params,
            io.input_as(0)?,
            s1,
            io.input_as(1)?,
            s2,
            io.output_as(0)?,
        ),
        INT16 if ALL_TYPES => k::mul_i16(
            &params,
            io.input_as(0)?,
            s1,
            io.input_as(1)?,
            s2,
            io.output_as(0)?,
        ),
        INT16_TO_INT8 if ALL_TYPES => k::mul_i16_to_i8(
            &params,
            io.input_as(0)?,
            s1,
            io.input_as(1)?,
            s2,
            io.output_as(0)?,
        ),
        _ => return Err(io.internal("MUL variant without a registered kernel")),
    }
    Ok(())
}

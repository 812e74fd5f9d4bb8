//! ADD and SUB: int8, int16 (general and power-of-two scales), float32 and int32, broadcasting.

use super::binary::{prepare_binary, BinaryShapes};
use super::{fused_activation, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::add::{self as k, AddSubParams};
use crate::kernels::sub as ks;
use crate::schema::field::add_options as f;
use crate::schema::op;
use crate::types::{Activation, DType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    is_sub: u32,
    dtype: i32,
    activation: i32,
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    let (shapes, a, b, out) = prepare_binary(p)?;
    let activation_code = p.op.option::<i8>(f::FUSED_ACTIVATION, 0)?;
    let activation = fused_activation(p, f::FUSED_ACTIVATION)?;
    let pot = p.op.option::<bool>(f::POT_SCALE_INT16, true)?;
    let is_sub = p.op.code == op::SUB;
    if a.dtype != b.dtype || a.dtype != out.dtype {
        return Err(p.unsupported("inputs and output of different types"));
    }
    let q = |t: &crate::model::Tensor<'_>| (t.quantization.scale(), t.quantization.zero_point());
    let params = match out.dtype {
        DType::F32 | DType::I32 => AddSubParams::zeroed(),
        DType::I8 if is_sub => AddSubParams::sub_int8(q(&a), q(&b), q(&out), activation),
        DType::I8 => AddSubParams::add_int8(q(&a), q(&b), q(&out), activation),
        DType::I16 => if is_sub {
            AddSubParams::sub_int16(q(&a), q(&b), q(&out), activation, pot)
        } else {
            AddSubParams::add_int16(q(&a), q(&b), q(&out), activation, pot)
        }
        .ok_or(p.unsupported("int16 power-of-two scales with both inputs finer than the output"))?,
        _ => return Err(p.unsupported("types other than float32, int32, int8 and int16")),
    };
    if matches!(out.dtype, DType::I8 | DType::I16)
        && !(a.quantization.is_quantized()
            && b.quantization.is_quantized()
            && out.quantization.is_quantized())
    {
        return Err(p.invalid("quantized tensors without scales"));
    }
    p.require_int8(out.dtype == DType::I8)?;
    p.data.put(Header {
        is_sub: is_sub as u32,
        dtype: out.dtype.schema_code() as i32,
        activation: activation_code as i32,
    });
    p.data.put(shapes);
    p.data.put(params);
    Ok(())
}

super::int8_evals!();

/// ADD and SUB's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: Header = data.get()?;
    let (s1, r1, s2, r2) = data.get::<BinaryShapes>()?.unpack();
    let params: AddSubParams = data.get()?;
    let activation = Activation::from_schema(h.activation as i8).unwrap_or(Activation::None);
    let (s1, s2) = (&s1[..r1], &s2[..r2]);
    let sub = h.is_sub != 0;
    match DType::from_schema(h.dtype as i8) {
        Some(DType::I8) => {
            let (x, y, o) = (io.input_as(0)?, io.input_as(1)?, io.output_as(0)?);
            if sub {
                ks::sub_i8(&params, x, s1, y, s2, o)
            } else {
                k::add_i8(&params, x, s1, y, s2, o)
            }
        }
        Some(DType::I16) if ALL_TYPES => {
            let (x, y, o) = (io.input_as(0)?, io.input_as(1)?, io.output_as(0)?);
            if sub {
                ks::sub_i16(&params, x, s1, y, s2, o)
            } else {
                k::add_i16(&params, x, s1, y, s2, o)
            }
        }
        Some(DType::F32) if ALL_TYPES => {
            let (x, y, o) = (io.input_as(0)?, io.input_as(1)?, io.output_as(0)?);
            if sub {
                ks::sub_f32(activation, x, s1, y, s2, o)
            } else {
                k::add_f32(activation, x, s1, y, s2, o)
            }
        }
        Some(DType::I32) if ALL_TYPES => {
            let (x, y, o) = (io.input_as(0)?, io.input_as(1)?, io.output_as(0)?);
            if sub {
                ks::sub_i32(activation, x, s1, y, s2, o)
            } else {
                k::add_i32(activation, x, s1, y, s2, o)
            }
        }
        _ => return Err(io.internal("add/sub type")),
    }
    Ok(())
}

//! CONCATENATION along any axis. int8 inputs whose scale or zero point differ from the
//! output's are rescaled as TFLite's `ConcatenationWithScaling` (LiteRT itself refuses them;
//! TFLite Micro rescales); other types are copied unchanged, as LiteRT does for int16.

use super::{dims_of, with_element_size, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::concatenation::{self as k, ConcatParams, ConcatRequant};
use crate::schema::field::concatenation_options as f;
use crate::types::DType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    dtype: i32,
    inputs: u32,
    params: ConcatParams,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Part {
    in_axis: u32,
    axis_offset: u32,
    requant: ConcatRequant,
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    let n = p.op.inputs.len();
    p.expect_io(1, usize::MAX, 1)?;
    if p.op.option::<i8>(f::FUSED_ACTIVATION, 0)? != 0 {
        return Err(p.unsupported("fused activation"));
    }
    let output = p.output(0)?;
    let (out_dims, rank) = dims_of(&output);
    let axis = p.op.option::<i32>(f::AXIS, 0)?;
    let params =
        ConcatParams::new(&out_dims[..rank], axis).map_err(|_| p.invalid("axis out of range"))?;
    let a = params.axis as usize;
    // LiteRT copies int16 inputs unchanged whatever their scales, so only int8 rescales.
    let quantized = output.dtype == DType::I8;
    p.data.put(Header {
        dtype: output.dtype.schema_code() as i32,
        inputs: n as u32,
        params,
    });
    let mut offset = 0usize;
    for i in 0..n {
        let t = p.input(i)?;
        if t.dtype != output.dtype || t.shape.rank() != rank {
            return Err(p.invalid("inputs differ from the output in type or rank"));
        }
        if (0..rank).any(|d| d != a && t.shape.dim(d) != out_dims[d]) {
            return Err(p.invalid("inputs differ from the output outside the axis"));
        }
        let in_axis = t.shape.dim(a);
        let requant = if quantized {
            ConcatRequant::new(
                t.quantization.scale(),
                t.quantization.zero_point(),
                output.quantization.scale(),
                output.quantization.zero_point(),
            )
        } else {
            ConcatRequant::new(1.0, 0, 1.0, 0)
        };
        p.data.put(Part {
            in_axis: in_axis as u32,
            axis_offset: offset as u32,
            requant,
        });
        offset += in_axis;
    }
    if offset != out_dims[a] {
        return Err(p.invalid("input sizes along the axis do not add up to the output's"));
    }
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let h: Header = data.get()?;
    let dtype = DType::from_schema(h.dtype as i8).ok_or(io.internal("concat type"))?;
    let parts = data.array::<Part>(h.inputs as usize)?;
    match dtype {
        DType::I8 => {
            let out = io.output_as::<i8>(0)?;
            for (i, part) in parts.iter().enumerate() {
                let (n, o) = (part.in_axis as usize, part.axis_offset as usize);
                k::concat_input_requant(&h.params, &part.requant, io.input_as(i)?, n, o, out);
            }
        }
        _ => with_element_size!(io, dtype.size(), T => {
            let out = io.output_as::<T>(0)?;
            for (i, part) in parts.iter().enumerate() {
                let (n, o) = (part.in_axis as usize, part.axis_offset as usize);
                k::concat_input::<T>(&h.params, io.input_as(i)?, n, o, out);
            }
        }),
    }
    Ok(())
}

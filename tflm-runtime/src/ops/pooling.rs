//! AVERAGE_POOL_2D and MAX_POOL_2D: int8, int16 and float32; quantized pooling keeps the
//! input's scale and zero point.

use super::{kernel_result, qrange, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::conv::compute_padding;
use crate::kernels::pooling::{self as k, PoolParams};
use crate::schema::field::pool2d_options as f;
use crate::schema::op;
use crate::types::DType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    code: i32,
    dtype: i32,
    input: [u32; 4],
    output: [u32; 4],
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false>(p)
}

/// [`prepare`] of int8 operators only (the `_INT8` registrations): the other types' checks
/// and clamp ranges are compiled out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true>(p)
}

/// `INT8_ONLY`: an `_INT8` registration's (a constant).
fn prepare_with<const INT8_ONLY: bool>(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(1, 1, 1)?;
    let input = p.input(0)?;
    let output = p.output(0)?;
    if input.shape.rank() != 4 || output.shape.rank() != 4 {
        return Err(p.invalid("input and output must be 4-D"));
    }
    if input.dtype != output.dtype || !matches!(input.dtype, DType::F32 | DType::I8 | DType::I16) {
        return Err(p.unsupported("types other than float32, int8 or int16 (same in and out)"));
    }
    if INT8_ONLY && input.dtype != DType::I8 {
        // The `_INT8` registrations' refusal (`Prepare::require_int8`).
        return Err(p.unsupported(p.int8_only.unwrap_or("types other than int8")));
    }
    p.require_int8(input.dtype == DType::I8)?;
    if input.dtype != DType::F32
        && (input.quantization.scale() != output.quantization.scale()
            || input.quantization.zero_point() != output.quantization.zero_point())
    {
        return Err(p.invalid("input and output quantization differ"));
    }
    let super::conv::ConvOptions {
        padding,
        stride,
        dilation: filter,
        activation,
    } = super::conv::window_options(p, [f::FILTER_HEIGHT, f::FILTER_WIDTH, f::FUSED_ACTIVATION])?;
    let is = input.shape.extended::<4>().ok_or(p.invalid("rank"))?;
    let os = output.shape.extended::<4>().ok_or(p.invalid("rank"))?;
    let window = compute_padding(
        padding,
        stride[0],
        stride[1],
        1,
        1,
        is[1] as i32,
        is[2] as i32,
        filter[0],
        filter[1],
    )
    .ok_or(p.invalid("stride or window size out of range"))?;
    if os
        != [
            is[0],
            window.out_height as usize,
            window.out_width as usize,
            is[3],
        ]
    {
        return Err(p.invalid("output shape differs from the one the window gives"));
    }
    if INT8_ONLY && p.op.code == op::AVERAGE_POOL_2D && !k::i32_sums_fit(filter) {
        return Err(p.unsupported(
            "average windows of 2^16 elements or more with ops::AVERAGE_POOL_2D_INT8 \
             (register ops::AVERAGE_POOL_2D)",
        ));
    }
    let (qmin, qmax) = qrange(output.dtype);
    let params = PoolParams::quantized(
        stride,
        filter,
        window.padding,
        output.quantization.scale(),
        output.quantization.zero_point(),
        activation,
        qmin,
        qmax,
    );
    p.data.put(Header {
        code: p.op.code,
        dtype: output.dtype.schema_code() as i32,
        input: is.map(|d| d as u32),
        output: os.map(|d| d as u32),
    });
    p.data.put(params);
    Ok(())
}

/// A pooling op's module for its registrations (`$average`: AVERAGE_POOL_2D's, else
/// MAX_POOL_2D's): evals that link that op's kernels alone (one eval for both ops linked the
/// max pool's kernels into every average-pool firmware, and back).
macro_rules! pool_op {
    ($module:ident, $average:literal, $doc:literal) => {
        #[doc = $doc]
        pub(super) mod $module {
            pub(in crate::ops) use super::{prepare, prepare_int8};
            use super::{DataReader, Error, OpIo};

            pub(in crate::ops) fn eval(
                io: &mut OpIo<'_>,
                data: &mut DataReader<'_>,
            ) -> Result<(), Error> {
                super::eval_variants::<true, $average>(io, data)
            }

            /// The same for int8 operators only (the `_INT8` registration).
            pub(in crate::ops) fn eval_int8(
                io: &mut OpIo<'_>,
                data: &mut DataReader<'_>,
            ) -> Result<(), Error> {
                super::eval_variants::<false, $average>(io, data)
            }
        }
    };
}

pool_op!(average, true, "AVERAGE_POOL_2D's registrations.");
pool_op!(max, false, "MAX_POOL_2D's registrations.");

/// The pooling ops' kernels: int8 always, the other types when `ALL_TYPES`
/// ([`super::int8_evals`]); the average pool's when `AVERAGE`, else the max pool's (both
/// constants, so each registration links one op's kernels).
fn eval_variants<const ALL_TYPES: bool, const AVERAGE: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let h: Header = data.get()?;
    let params: PoolParams = data.get()?;
    let (is, os) = (h.input.map(|d| d as usize), h.output.map(|d| d as usize));
    let average = AVERAGE;
    if (h.code == op::AVERAGE_POOL_2D) != average {
        return Err(io.internal("pooling op of another registration"));
    }
    let r = match (DType::from_schema(h.dtype as i8), average) {
        (Some(DType::F32), true) if ALL_TYPES => {
            k::average_pool_f32(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        (Some(DType::F32), false) if ALL_TYPES => {
            k::max_pool_f32(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        (Some(DType::I8), true) if ALL_TYPES => {
            k::average_pool_i8(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        // The `_INT8` registration's prepare refused windows beyond `i32` sums.
        (Some(DType::I8), true) => {
            k::average_pool_i8_i32(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        (Some(DType::I8), false) => {
            k::max_pool_i8(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        (Some(DType::I16), true) if ALL_TYPES => {
            k::average_pool_i16(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        (Some(DType::I16), false) if ALL_TYPES => {
            k::max_pool_i16(&params, is, io.input_as(0)?, os, io.output_as(0)?)
        }
        _ => return Err(io.internal("pooling type")),
    };
    kernel_result(io, r)
}

//! MEAN over constant axes: float32, int8 and int16 (rescaled to the output's quantization).

use super::{constant_ints, dims_of, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::mean::{self as k, MeanParams};
use crate::schema::field::reducer_options as f;
use crate::types::DType;

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(2, 2, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    let (axes, n) = constant_ints(p, &p.input(1)?, "axes must be a constant tensor")?;
    let keep_dims = p.op.option::<bool>(f::KEEP_DIMS, false)?;
    let (dims, rank) = dims_of(&input);
    let (out, out_rank) = k::output_shape(&dims[..rank], &axes[..n], keep_dims)
        .map_err(|_| p.invalid("axes out of range"))?;
    if out_rank != output.shape.rank() || !out[..out_rank].iter().copied().eq(output.shape.dims()) {
        return Err(p.invalid("output shape differs from the reduced input"));
    }
    if input.dtype != output.dtype {
        return Err(p.unsupported("input and output of different types"));
    }
    let params = match input.dtype {
        DType::F32 => MeanParams::new(&dims[..rank], &axes[..n]),
        DType::I8 | DType::I16 => MeanParams::new_quantized(
            &dims[..rank],
            &axes[..n],
            input.quantization.scale(),
            input.quantization.zero_point(),
            output.quantization.scale(),
            output.quantization.zero_point(),
        ),
        _ => return Err(p.unsupported("types other than float32, int8 and int16")),
    }
    .map_err(|_| p.invalid("axes or scales out of range"))?;
    p.data.put(input.dtype.schema_code() as i32);
    p.data.put(params);
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let dtype: i32 = data.get()?;
    let params: MeanParams = data.get()?;
    match DType::from_schema(dtype as i8) {
        Some(DType::F32) => k::mean_f32(&params, io.input_as(0)?, io.output_as(0)?),
        Some(DType::I8) => k::mean_i8(&params, io.input_as(0)?, io.output_as(0)?),
        Some(DType::I16) => k::mean_i16(&params, io.input_as(0)?, io.output_as(0)?),
        _ => return Err(io.internal("mean type")),
    }
    Ok(())
}

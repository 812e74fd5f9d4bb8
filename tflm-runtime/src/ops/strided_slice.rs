//! STRIDED_SLICE with constant begin, end and strides, any element type, up to 5-D.

use super::{
    constant_ints, dims_of, same_quantization, with_element_size, DataReader, OpIo, Prepare,
};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::strided_slice::{self as k, StridedSliceOptions, StridedSliceParams};
use crate::schema::field::strided_slice_options as f;

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(4, 4, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    let (begin, nb) = constant_ints(p, &p.input(1)?, "begin must be a constant tensor")?;
    let (end, ne) = constant_ints(p, &p.input(2)?, "end must be a constant tensor")?;
    let (strides, ns) = constant_ints(p, &p.input(3)?, "strides must be a constant tensor")?;
    let options = StridedSliceOptions {
        begin_mask: p.op.option(f::BEGIN_MASK, 0)?,
        end_mask: p.op.option(f::END_MASK, 0)?,
        ellipsis_mask: p.op.option(f::ELLIPSIS_MASK, 0)?,
        new_axis_mask: p.op.option(f::NEW_AXIS_MASK, 0)?,
        shrink_axis_mask: p.op.option(f::SHRINK_AXIS_MASK, 0)?,
        offset: p.op.option::<bool>(f::OFFSET, false)? as i32,
    };
    let (dims, rank) = dims_of(&input);
    let params = StridedSliceParams::new(
        &dims[..rank],
        &begin[..nb],
        &end[..ne],
        &strides[..ns],
        &options,
    )
    .map_err(|_| p.invalid("begin, end, strides or masks do not fit the input"))?;
    let out = params.output_shape();
    if out.len() != output.shape.rank()
        || !out
            .iter()
            .map(|&d| d.max(0) as usize)
            .eq(output.shape.dims())
    {
        return Err(p.invalid("output shape differs from the slice"));
    }
    if input.dtype != output.dtype || !same_quantization(&input, &output) {
        return Err(p.invalid("input and output types or quantization differ"));
    }
    p.data.put(input.dtype.size() as u32);
    p.data.put(params);
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let size: u32 = data.get()?;
    let params: StridedSliceParams = data.get()?;
    with_element_size!(io, size, T => k::strided_slice::<T>(&params, io.input_as(0)?, io.output_as(0)?));
    Ok(())
}

//! PAD and PADV2 with constant paddings, any element type, up to 5-D. PAD fills with the
//! output's zero point (0.0 for float); PADV2 with its constant value input.

use super::{
    constant_ints, dims_of, same_quantization, with_element_size, DataReader, OpIo, Prepare,
};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::pad::{self as k, PadParams};
use crate::schema::op;
use crate::types::DType;

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    let v2 = p.op.code == op::PADV2;
    p.expect_io(2, if v2 { 3 } else { 2 }, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    let (paddings, n) = constant_ints(p, &p.input(1)?, "paddings must be a constant tensor")?;
    let (dims, rank) = dims_of(&input);
    let params = PadParams::new(&dims[..rank], &paddings[..n]).map_err(|_| {
        p.invalid("paddings do not fit the input (rank above 5, negative or wrong count)")
    })?;
    if output.shape.rank() != rank
        || !(0..rank).all(|i| output.shape.dim(i) == params.out_dim(k::MAX_DIMS - rank + i))
    {
        return Err(p.invalid("output shape differs from the padded input"));
    }
    if input.dtype != output.dtype || !same_quantization(&input, &output) {
        return Err(p.invalid("input and output types or quantization differ"));
    }
    let size = input.dtype.size();
    // The fill value's bytes, widened to 8 (little-endian, the element's low bytes first).
    let mut fill = [0u8; 8];
    match (v2, p.optional_input(2)) {
        (true, Some(value)) => {
            if value.dtype != input.dtype || value.shape.num_elements() != 1 {
                return Err(p.invalid("pad value must be one element of the input's type"));
            }
            let data = p.constant(&value, "pad value must be a constant tensor")?;
            fill[..size].copy_from_slice(data.get(..size).ok_or(p.invalid("pad value"))?);
        }
        _ => match input.dtype {
            DType::I8 => fill[0] = output.quantization.zero_point() as i8 as u8,
            DType::I16 => {
                fill[..2].copy_from_slice(&(output.quantization.zero_point() as i16).to_le_bytes())
            }
            _ => {}
        },
    }
    p.data.put(size as u32);
    p.data.put(u64::from_le_bytes(fill));
    p.data.put(params);
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let size: u32 = data.get()?;
    let fill: u64 = data.get()?;
    let params: PadParams = data.get()?;
    with_element_size!(io, size, T => {
        let value = T::try_from(fill & (u64::MAX >> (64 - 8 * size))).map_err(|_| io.internal("fill"))?;
        k::pad::<T>(&params, io.input_as(0)?, value, io.output_as(0)?)
    });
    Ok(())
}

//! TRANSPOSE with a constant permutation, any element type, up to 6-D.

use super::{
    constant_ints, dims_of, same_quantization, with_element_size, DataReader, OpIo, Prepare,
};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::transpose::{self as k, TransposeParams};

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(2, 2, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    let (perm, n) = constant_ints(p, &p.input(1)?, "permutation must be a constant tensor")?;
    let (dims, rank) = dims_of(&input);
    let (out, out_rank) = k::output_shape(&dims[..rank], &perm[..n])
        .map_err(|_| p.invalid("permutation does not match the input rank"))?;
    if out_rank != output.shape.rank() || !out[..out_rank].iter().copied().eq(output.shape.dims()) {
        return Err(p.invalid("output shape differs from the permuted input"));
    }
    if input.dtype != output.dtype || !same_quantization(&input, &output) {
        return Err(p.invalid("input and output types or quantization differ"));
    }
    let params =
        TransposeParams::new(&dims[..rank], &perm[..n]).map_err(|_| p.invalid("permutation"))?;
    p.data.put(input.dtype.size() as u32);
    p.data.put(params);
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let size: u32 = data.get()?;
    let params: TransposeParams = data.get()?;
    with_element_size!(io, size, T => k::transpose::<T>(&params, io.input_as(0)?, io.output_as(0)?));
    Ok(())
}

//! RESHAPE, SQUEEZE and EXPAND_DIMS: the output holds the input's bytes under another shape.
//! The target shape is already in the output tensor (shapes are static here), so the shape
//! input or option only has to agree with it.

use super::{same_quantization, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(1, 2, 1)?;
    let input = p.input(0)?;
    let output = p.output(0)?;
    if input.dtype != output.dtype || !same_quantization(&input, &output) {
        return Err(p.invalid("input and output types or quantization differ"));
    }
    if input.shape.num_elements() != output.shape.num_elements() {
        return Err(p.invalid("input and output element counts differ"));
    }
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, _: &mut DataReader<'_>) -> Result<(), Error> {
    let input = io.input(0)?;
    let output = io.output(0)?;
    if input.len() != output.len() {
        return Err(io.internal("size mismatch"));
    }
    output.copy_from_slice(input);
    Ok(())
}

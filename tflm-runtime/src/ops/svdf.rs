//! SVDF: float32, and full integer (int8 input/output, int16 time weights and state). The
//! state is a variable tensor updated in place at every invoke.

use super::{fused_activation, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::svdf::{self as k, SvdfParams, SvdfQuant, SvdfShape};
use crate::schema::field::svdf_options as f;
use crate::types::{Activation, DType};

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(5, 5, 1)?;
    let input = p.input(0)?;
    let weights_feature = p.input(1)?;
    let weights_time = p.input(2)?;
    let bias = p.optional_input(3);
    let state = p.input(4)?;
    let output = p.output(0)?;
    if !state.is_variable {
        return Err(p.invalid("the activation state (input 4) must be a variable tensor"));
    }
    if input.shape.rank() != 2
        || weights_feature.shape.rank() != 2
        || weights_time.shape.rank() != 2
    {
        return Err(p.invalid("input and weights must be 2-D"));
    }
    let rank = p.op.option::<i32>(f::RANK, 0)?;
    let shape = SvdfShape {
        batch: input.shape.dim(0),
        input_size: input.shape.dim(1),
        num_filters: weights_feature.shape.dim(0),
        memory_size: weights_time.shape.dim(1),
        rank: usize::try_from(rank).map_err(|_| p.invalid("negative rank"))?,
    };
    if weights_feature.shape.dim(1) != shape.input_size
        || weights_time.shape.dim(0) != shape.num_filters
        || shape.rank == 0
        || !shape.num_filters.is_multiple_of(shape.rank)
    {
        return Err(p.invalid("weights do not fit the input and rank"));
    }
    let units = shape.num_filters / shape.rank;
    if state.shape.num_elements() != shape.batch * shape.num_filters * shape.memory_size
        || output.shape.num_elements() != shape.batch * units
        || bias.is_some_and(|b| b.shape.num_elements() != units)
    {
        return Err(p.invalid("state, bias or output size does not fit the weights"));
    }
    let activation = fused_activation(p, f::FUSED_ACTIVATION)?;
    let types = (
        input.dtype,
        weights_feature.dtype,
        weights_time.dtype,
        state.dtype,
        output.dtype,
    );
    let params =
        match types {
            (DType::F32, DType::F32, DType::F32, DType::F32, DType::F32) => {
                if bias.is_some_and(|b| b.dtype != DType::F32) {
                    return Err(p.invalid("float SVDF needs a float32 bias"));
                }
                SvdfParams::new_float(&shape, activation)
            }
            (DType::I8, DType::I8, DType::I16, DType::I16, DType::I8) => {
                if bias.is_some_and(|b| b.dtype != DType::I32) {
                    return Err(p.invalid("integer SVDF needs an int32 bias"));
                }
                if activation != Activation::Relu {
                    // LiteRT's integer kernel refuses anything but RELU (and then does not apply it).
                    return Err(p.unsupported("integer SVDF without the RELU activation"));
                }
                if state.quantization.zero_point() != 0 {
                    return Err(p.invalid("the state's zero point must be 0"));
                }
                let q = |t: &crate::model::Tensor<'_>| t.quantization.scale();
                SvdfParams::new_integer(
                    &shape,
                    &SvdfQuant {
                        input_scale: q(&input),
                        input_zp: input.quantization.zero_point(),
                        weights_feature_scale: q(&weights_feature),
                        weights_time_scale: q(&weights_time),
                        state_scale: q(&state),
                        output_scale: q(&output),
                        output_zp: output.quantization.zero_point(),
                    },
                )
            }
            _ => return Err(p.unsupported(
                "this combination of types (float32, or int8 with int16 time weights and state)",
            )),
        }
        .map_err(|_| p.invalid("sizes out of range"))?;
    p.require_int8(input.dtype == DType::I8)?;
    p.data.put((input.dtype == DType::F32) as u32);
    p.data.put(params);
    Ok(())
}

super::int8_evals!();

/// SVDF's kernels: int8 always, the other types when `ALL_TYPES` ([`super::int8_evals`]).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let float: u32 = data.get()?;
    let params: SvdfParams = data.get()?;
    if ALL_TYPES && float != 0 {
        let state = io.state_as(4)?;
        k::svdf_f32(
            &params,
            io.input_as(0)?,
            io.input_as(1)?,
            io.input_as(2)?,
            io.optional_input_as(3)?,
            state,
            io.output_as(0)?,
        );
    } else {
        let state = io.state_as(4)?;
        k::svdf_i8(
            &params,
            io.input_as(0)?,
            io.input_as(1)?,
            io.input_as(2)?,
            io.optional_input_as(3)?,
            state,
            io.output_as(0)?,
        );
    }
    Ok(())
}

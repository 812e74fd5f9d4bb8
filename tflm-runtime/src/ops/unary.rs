//! Elementwise activations: RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH.
//!
//! Every int8 → int8 unary op is a function of 256 inputs, so `prepare` runs the op's exact
//! integer kernel on each of them once and `eval` does one table load per element: the same
//! bits for 256 bytes of arena. int16 and float32 call their kernels directly.

use super::{qrange, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::kernels::activations::{self as act, LeakyReluParams, ReluParams, LUT_I8_LEN};
use crate::kernels::hard_swish::{self as hs, HardSwishParams};
use crate::kernels::logistic::{self as lg, SigmoidI16Params};
use crate::kernels::tanh as th;
use crate::schema::{field::leaky_relu_options as lf, op};
use crate::types::{Activation, DType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    code: i32,
    dtype: i32,
    alpha: f32,
    relu: ReluParams,
    leaky: LeakyReluParams,
    sigmoid: SigmoidI16Params,
}

fn relu_activation(code: i32) -> Activation {
    match code {
        op::RELU6 => Activation::Relu6,
        op::RELU_N1_TO_1 => Activation::ReluN1To1,
        _ => Activation::Relu,
    }
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    p.expect_io(1, 1, 1)?;
    let (input, output) = (p.input(0)?, p.output(0)?);
    if !input.shape.same_as(&output.shape) {
        return Err(p.invalid("input and output shapes differ"));
    }
    if input.dtype != output.dtype {
        return Err(p.unsupported("input and output of different types"));
    }
    let code = p.op.code;
    let alpha = p.op.option::<f32>(lf::ALPHA, 0.0)?;
    let q = |t: &crate::model::Tensor<'_>| (t.quantization.scale(), t.quantization.zero_point());
    let (qin, qout) = (q(&input), q(&output));
    let (qmin, qmax) = qrange(output.dtype);
    let mut h = Header {
        code,
        dtype: output.dtype.schema_code() as i32,
        alpha,
        relu: ReluParams::zeroed(),
        leaky: LeakyReluParams::zeroed(),
        sigmoid: SigmoidI16Params::zeroed(),
    };
    let is_relu = matches!(code, op::RELU | op::RELU6 | op::RELU_N1_TO_1);
    match output.dtype {
        DType::F32 => p.data.put(h),
        DType::I8 => {
            if !input.quantization.is_quantized() || !output.quantization.is_quantized() {
                return Err(p.invalid("quantized tensors without scales"));
            }
            let mut lut = [0i8; LUT_I8_LEN];
            if p.data.is_writing() {
                match code {
                    op::LEAKY_RELU => {
                        let l = LeakyReluParams::new(alpha, qin, qout, qmin, qmax);
                        act::populate_lut_i8(&mut lut, |x| l.eval(x as i32) as i8);
                    }
                    op::LOGISTIC => lg::populate_lut_i8(qin, qout, &mut lut),
                    op::TANH => th::populate_lut_i8(qin, qout, &mut lut),
                    op::HARD_SWISH => {
                        let hp = HardSwishParams::new(qin, qout)
                            .ok_or(p.unsupported("output scale finer than input scale / 128"))?;
                        hs::populate_lut_i8_hard_swish(&hp, &mut lut);
                    }
                    _ => {
                        let r = ReluParams::new(relu_activation(code), qin, qout, qmin, qmax);
                        act::populate_lut_i8(&mut lut, |x| r.eval(x as i32) as i8);
                    }
                }
            } else if code == op::HARD_SWISH && HardSwishParams::new(qin, qout).is_none() {
                return Err(p.unsupported("output scale finer than input scale / 128"));
            }
            p.data.put(h);
            p.data.put(lut);
        }
        DType::I16 => {
            match code {
                op::LEAKY_RELU => h.leaky = LeakyReluParams::new(alpha, qin, qout, qmin, qmax),
                op::LOGISTIC => {
                    h.sigmoid = SigmoidI16Params::logistic(qin, qout).ok_or(
                        p.invalid("int16 LOGISTIC needs zero points 0 and output scale 1/32768"),
                    )?
                }
                op::TANH => {
                    h.sigmoid = SigmoidI16Params::tanh(qin, qout).ok_or(
                        p.invalid("int16 TANH needs zero points 0 and output scale 1/32768"),
                    )?
                }
                _ if is_relu => {
                    h.relu = ReluParams::new(relu_activation(code), qin, qout, qmin, qmax)
                }
                _ => return Err(p.unsupported("int16")),
            }
            p.data.put(h);
        }
        _ => return Err(p.unsupported("types other than float32, int8 and int16")),
    }
    Ok(())
}

pub(super) fn eval(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let h: Header = data.get()?;
    match DType::from_schema(h.dtype as i8) {
        Some(DType::I8) => {
            let lut: [i8; LUT_I8_LEN] = data.get()?;
            act::apply_lut_i8(&lut, io.input_as(0)?, io.output_as(0)?);
        }
        Some(DType::I16) => {
            let (x, y) = (io.input_as(0)?, io.output_as(0)?);
            match h.code {
                op::LEAKY_RELU => act::leaky_relu_i16(&h.leaky, x, y),
                op::LOGISTIC => lg::logistic_i16(&h.sigmoid, x, y),
                op::TANH => th::tanh_i16(&h.sigmoid, x, y),
                _ => act::relu_i16(&h.relu, x, y),
            }
        }
        Some(DType::F32) => {
            let (x, y) = (io.input_as(0)?, io.output_as(0)?);
            match h.code {
                op::RELU => act::relu_f32(x, y),
                op::RELU6 => act::relu6_f32(x, y),
                op::RELU_N1_TO_1 => act::relu_n1_to_1_f32(x, y),
                op::LEAKY_RELU => act::leaky_relu_f32(h.alpha, x, y),
                op::LOGISTIC => lg::logistic_f32(x, y),
                op::TANH => th::tanh_f32(x, y),
                _ => hs::hard_swish_f32(x, y),
            }
        }
        _ => return Err(io.internal("unary type")),
    }
    Ok(())
}

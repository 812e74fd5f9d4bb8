//! `int16x8` post-training quantization (TFLite's "16x8" scheme,
//! `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`):
//!
//! - activations: int16, symmetric (zero point 0), scale `max(|min|, |max|) / 32767` from the
//!   calibrated range;
//! - weights: int8 symmetric as in `int8` (per channel for CONV_2D, DEPTHWISE_CONV_2D and
//!   FULLY_CONNECTED, as TensorFlow writes them);
//! - biases: int64, scale `s_input * s_weight`; CONV_2D and FULLY_CONNECTED record it in
//!   `quantized_bias_type` (INT64), as TensorFlow's converter writes;
//! - fixed outputs: SOFTMAX, LOGISTIC and TANH `1/32768, 0`;
//! - ADD and SUB use the general int16 kernel (`pot_scale_int16 = false`), as TensorFlow's
//!   converter sets it: calibrated scales are not powers of two;
//! - data-moving ops keep their input's parameters, CONCATENATION inputs share the output's
//!   (LiteRT copies int16 unchanged).
//!
//! Model I/O is int16 (`IoKind::Integer`) or float with QUANTIZE/DEQUANTIZE around.

use super::common::{quantize_full_integer, Scheme};
use super::{IoKind, QuantizeError};
use crate::calibrate::Ranges;
use crate::ir::{DType, Graph, OpKind};

/// Quantizes a float `graph` to int16 activations and int8 weights.
pub fn quantize_int16x8(
    graph: &Graph,
    ranges: &Ranges,
    io: IoKind,
) -> Result<Graph, QuantizeError> {
    let mut g = quantize_full_integer(graph, ranges, io, Scheme::Int16)?;
    for op in &mut g.ops {
        match &mut op.kind {
            OpKind::Add(o) | OpKind::Sub(o) => o.pot_scale_int16 = false,
            OpKind::Conv2d(o) => o.quantized_bias_type = Some(DType::I64),
            OpKind::FullyConnected(o) => o.quantized_bias_type = Some(DType::I64),
            _ => {}
        }
    }
    Ok(g)
}

//! Full-integer post-training quantization (`int8`), following TFLite's quantization
//! specification:
//!
//! - activations: int8, asymmetric, from the calibrated range widened to include 0, zero point
//!   nudged to an integer (`zp = round(-128 - min / scale)`);
//! - CONV_2D weights: int8 symmetric per output channel (axis 0), DEPTHWISE_CONV_2D per channel
//!   along axis 3, FULLY_CONNECTED per output channel (axis 0) as TensorFlow 2.16+ does; a
//!   single channel stays per tensor; all in `[-127, 127]`, zero point 0;
//! - biases: int32, scale `s_input * s_weight` (per channel), zero point 0;
//! - fixed output parameters: SOFTMAX and LOGISTIC `1/256, -128`, TANH `1/128, 0`;
//! - ops that move data without arithmetic (pooling, reshapes, transpose, slices, pads) keep
//!   their input's parameters, and CONCATENATION inputs share the output's (LiteRT requires it);
//! - float constants feeding arithmetic (an ADD of a constant, ...) are quantized
//!   asymmetrically from their own values.
//!
//! The model's inputs and outputs become int8 (`IoKind::Integer`), or stay float with a
//! QUANTIZE after each input and a DEQUANTIZE before each output (`IoKind::Float32`).

use super::common::{quantize_full_integer, Scheme};
use super::{IoKind, QuantizeError};
use crate::calibrate::Ranges;
use crate::ir::Graph;

/// Scale and zero point of an int8 tensor covering `[min, max]` (widened to include 0), as
/// TFLite's quantizer computes them: the scale in float32 arithmetic, `(max - min) / 255`
/// (TensorFlow's post-training quantizer sets `legacy_float_scale`; a float64 division can
/// differ in the last bit, as co2's input scale showed), the zero point rounded from it.
pub fn affine_params(min: f32, max: f32) -> (f32, i32) {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / 255.0;
    let zero_point = (-128.0 - lo as f64 / scale as f64)
        .round()
        .clamp(-128.0, 127.0);
    (scale, zero_point as i32)
}

/// Quantizes a float `graph` to full int8 with the calibrated `ranges`.
pub fn quantize_int8(graph: &Graph, ranges: &Ranges, io: IoKind) -> Result<Graph, QuantizeError> {
    quantize_full_integer(graph, ranges, io, Scheme::Int8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_params_follow_tflite() {
        // [0, 2.55]: scale 0.01, zero point -128 (0.0 maps exactly to -128).
        let (s, zp) = affine_params(0.0, 2.55);
        assert!((s - 0.01).abs() < 1e-7);
        assert_eq!(zp, -128);
        // Symmetric range: the ideal zero point is -0.5, rounded half away from zero to -1,
        // as TensorFlow's quantizer nudges it.
        let (s, zp) = affine_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        assert_eq!(zp, -1);
        // A range not containing 0 is widened to include it.
        assert_eq!(affine_params(2.0, 4.0), affine_params(0.0, 4.0));
        assert_eq!(affine_params(0.0, 0.0), (1.0, 0));
    }
}

//! RELU, RELU6, RELU_N1_TO_1 and LEAKY_RELU, plus the 256-entry lookup used by every int8
//! unary op.
//!
//! Quantized ReLUs requantize (the output may have its own scale and zero point) and then clamp,
//! as LiteRT's `QuantizedReluX`: `clamp(out_zp + (x - in_zp) * in_scale/out_scale)`. LEAKY_RELU
//! uses one multiplier for `x >= 0` (identity) and one for `x < 0` (alpha), as LiteRT's
//! `QuantizeLeakyRelu`.
//!
//! Every int8 → int8 unary op is a function of 256 possible inputs, so its result can be
//! tabulated once at init by running the exact integer kernel on each of them ([`populate_lut_i8`]
//! with the op's function) and applied with one load per element ([`apply_lut_i8`]): the same bits
//! as the direct kernel, for 256 bytes of arena.

use super::add::clamp_f32;
use crate::quant::{
    activation_range_quantized, multiply_by_quantized_multiplier, quantize_multiplier,
};
use crate::types::Activation;

/// Entries of an int8 lookup table.
pub const LUT_I8_LEN: usize = 256;

/// Fills `lut` with `f(x)` for every int8 `x`, indexed by `x as u8` (TFLite's layout).
pub fn populate_lut_i8(lut: &mut [i8; LUT_I8_LEN], f: impl Fn(i8) -> i8) {
    for (i, entry) in lut.iter_mut().enumerate() {
        *entry = f(i as u8 as i8);
    }
}

/// LiteRT's `LUTPopulate<int8_t>` for ops defined by a float function (LOGISTIC, TANH): each
/// int8 input is dequantized in f32, transformed, divided by the output scale (as a product
/// with its f32 reciprocal), rounded half away from zero, offset by the output zero point and
/// saturated.
pub fn populate_lut_i8_from_f32(
    input: (f32, i32),
    output: (f32, i32),
    f: impl Fn(f32) -> f32,
    lut: &mut [i8; LUT_I8_LEN],
) {
    let inverse_scale = 1.0 / output.0;
    populate_lut_i8(lut, |x| {
        let dequantized = input.0 * (x as i32 - input.1) as f32;
        let rescaled = libm::roundf(f(dequantized) * inverse_scale);
        ((rescaled + output.1 as f32) as i32).clamp(-128, 127) as i8
    });
}

/// `output[i] = lut[input[i] as u8]` over the common length.
#[inline]
pub fn apply_lut_i8(lut: &[i8; LUT_I8_LEN], input: &[i8], output: &mut [i8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = lut[x as u8 as usize];
    }
}

/// Per-op constants of quantized RELU, RELU6 and RELU_N1_TO_1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier and exponent of `input_scale / output_scale`.
    pub output_multiplier: i32,
    pub output_shift: i32,
    /// The activation's bounds in output quanta, within the type's range.
    pub activation_min: i32,
    pub activation_max: i32,
}

impl ReluParams {
    /// `activation` picks the op (`Relu`, `Relu6`, `ReluN1To1`; `None` only requantizes);
    /// `qmin..=qmax` is the type's range (-128..=127 or -32768..=32767).
    pub fn new(
        activation: Activation,
        input: (f32, i32),
        output: (f32, i32),
        qmin: i32,
        qmax: i32,
    ) -> Self {
        // f32 division, then widened, as LiteRT's ReluPrepare.
        let (output_multiplier, output_shift) = quantize_multiplier((input.0 / output.0) as f64);
        let (activation_min, activation_max) =
            activation_range_quantized(activation, output.0, output.1, qmin, qmax);
        ReluParams {
            input_zero_point: input.1,
            output_zero_point: output.1,
            output_multiplier,
            output_shift,
            activation_min,
            activation_max,
        }
    }

    /// The quantized op on one value (before narrowing to the type).
    #[inline(always)]
    pub fn eval(&self, x: i32) -> i32 {
        let y = multiply_by_quantized_multiplier(
            x.wrapping_sub(self.input_zero_point),
            self.output_multiplier,
            self.output_shift,
        )
        .wrapping_add(self.output_zero_point);
        y.max(self.activation_min).min(self.activation_max)
    }
}

/// Quantized RELU/RELU6/RELU_N1_TO_1 on int8 (see [`ReluParams`]; or tabulate
/// `|x| p.eval(x as i32) as i8` with [`populate_lut_i8`]).
pub fn relu_i8(p: &ReluParams, input: &[i8], output: &mut [i8]) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.eval(x as i32) as i8;
    }
}

/// Quantized RELU/RELU6/RELU_N1_TO_1 on int16 (LiteRT requires zero points 0 here).
pub fn relu_i16(p: &ReluParams, input: &[i16], output: &mut [i16]) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.eval(x as i32) as i16;
    }
}

/// Float RELU: `x < 0 ? 0 : x`; NaN stays NaN.
pub fn relu_f32(input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x < 0.0 { 0.0 } else { x };
    }
}

/// Float RELU6: clamp to [0, 6]; NaN stays NaN (as LiteRT 2.3.0 computes it).
pub fn relu6_f32(input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = clamp_f32(x, 0.0, 6.0);
    }
}

/// Float RELU_N1_TO_1: clamp to [-1, 1]; NaN stays NaN.
pub fn relu_n1_to_1_f32(input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = clamp_f32(x, -1.0, 1.0);
    }
}

/// Per-op constants of quantized LEAKY_RELU.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LeakyReluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier and exponent of `input_scale * alpha / output_scale` (negative multiplier
    /// for a negative alpha), used for `x < zero point`.
    pub multiplier_alpha: i32,
    pub shift_alpha: i32,
    /// Q31 multiplier and exponent of `input_scale / output_scale`, used for `x >= zero point`.
    pub multiplier_identity: i32,
    pub shift_identity: i32,
    /// The type's range (-128..=127 or -32768..=32767).
    pub qmin: i32,
    pub qmax: i32,
}

impl LeakyReluParams {
    /// From `LeakyReluOptions.alpha` and the tensors' `(scale, zero_point)`s; `qmin..=qmax` is
    /// the type's range.
    pub fn new(alpha: f32, input: (f32, i32), output: (f32, i32), qmin: i32, qmax: i32) -> Self {
        // Both products are f32 expressions widened afterwards, as LiteRT's LeakyReluPrepare.
        let (multiplier_alpha, shift_alpha) =
            quantize_multiplier((input.0 * alpha / output.0) as f64);
        let (multiplier_identity, shift_identity) =
            quantize_multiplier((input.0 / output.0) as f64);
        LeakyReluParams {
            input_zero_point: input.1,
            output_zero_point: output.1,
            multiplier_alpha,
            shift_alpha,
            multiplier_identity,
            shift_identity,
            qmin,
            qmax,
        }
    }

    /// The quantized op on one value. A negative alpha multiplier is applied to the magnitude
    /// and the sign restored afterwards, as current LiteRT does.
    #[inline(always)]
    pub fn eval(&self, x: i32) -> i32 {
        let v = x.wrapping_sub(self.input_zero_point);
        let scaled = if v >= 0 {
            multiply_by_quantized_multiplier(v, self.multiplier_identity, self.shift_identity)
        } else if self.multiplier_alpha < 0 {
            multiply_by_quantized_multiplier(
                v,
                self.multiplier_alpha.wrapping_neg(),
                self.shift_alpha,
            )
            .wrapping_neg()
        } else {
            multiply_by_quantized_multiplier(v, self.multiplier_alpha, self.shift_alpha)
        };
        self.output_zero_point
            .wrapping_add(scaled)
            .max(self.qmin)
            .min(self.qmax)
    }
}

/// Quantized LEAKY_RELU on int8 (or tabulate `|x| p.eval(x as i32) as i8`).
pub fn leaky_relu_i8(p: &LeakyReluParams, input: &[i8], output: &mut [i8]) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.eval(x as i32) as i8;
    }
}

/// Quantized LEAKY_RELU on int16 (LiteRT requires zero points 0 here).
pub fn leaky_relu_i16(p: &LeakyReluParams, input: &[i16], output: &mut [i16]) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.eval(x as i32) as i16;
    }
}

/// Float LEAKY_RELU: `x > 0 ? x : x * alpha` (alpha may be negative or above 1; NaN stays NaN).
pub fn leaky_relu_f32(alpha: f32, input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x > 0.0 { x } else { x * alpha };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_int8_same_scale_clamps_at_zero_point() {
        let p = ReluParams::new(Activation::Relu, (0.1, -128), (0.1, -128), -128, 127);
        let mut out = [0i8; 4];
        relu_i8(&p, &[-128, -127, 0, 127], &mut out);
        assert_eq!(out, [-128, -127, 0, 127]);
        let p = ReluParams::new(Activation::Relu, (0.1, 127), (0.1, 127), -128, 127);
        relu_i8(&p, &[-128, 0, 126, 127], &mut out);
        // zp 127: everything is negative except 127 itself.
        assert_eq!(out, [127, 127, 127, 127]);
    }

    #[test]
    fn relu6_int8_requantizes_and_clamps() {
        // in scale 0.05 zp 0, out scale 0.1 zp -128: RELU6 range [-128, -68].
        let p = ReluParams::new(Activation::Relu6, (0.05, 0), (0.1, -128), -128, 127);
        assert_eq!((p.activation_min, p.activation_max), (-128, -68));
        let mut out = [0i8; 6];
        relu6_i8_direct(&p, &[-50, 0, 1, 3, 100, 127], &mut out);
        // 1*0.05/0.1 = 0.5 → 1 (away from zero); 3 → 1.5 → 2; 100 → 50 → clamp 60.
        assert_eq!(out, [-128, -128, -127, -126, -78, -68]);
    }

    fn relu6_i8_direct(p: &ReluParams, input: &[i8], output: &mut [i8]) {
        relu_i8(p, input, output);
        let mut lut = [0i8; LUT_I8_LEN];
        populate_lut_i8(&mut lut, |x| p.eval(x as i32) as i8);
        let mut via_lut = [0i8; 6];
        apply_lut_i8(&lut, input, &mut via_lut);
        assert_eq!(&via_lut[..input.len()], &output[..input.len()]);
    }

    #[test]
    fn relu_n1_to_1_int8() {
        // Scale 1/64, zp 0: [-1, 1] is [-64, 64].
        let p = ReluParams::new(
            Activation::ReluN1To1,
            (1.0 / 64.0, 0),
            (1.0 / 64.0, 0),
            -128,
            127,
        );
        let mut out = [0i8; 4];
        relu_i8(&p, &[-128, -64, 64, 127], &mut out);
        assert_eq!(out, [-64, -64, 64, 64]);
    }

    #[test]
    fn relu_int16() {
        let p = ReluParams::new(
            Activation::Relu6,
            (1.0 / 1024.0, 0),
            (1.0 / 2048.0, 0),
            -32768,
            32767,
        );
        let mut out = [0i16; 4];
        relu_i16(&p, &[-5, 5, 6000, 32767], &mut out);
        assert_eq!(out, [0, 10, 12000, 12288]);
    }

    #[test]
    fn float_relus_and_nan() {
        let x = [-2.0f32, -0.5, 0.5, 7.0, f32::NAN];
        let mut out = [0f32; 5];
        relu_f32(&x, &mut out);
        assert_eq!(out[..4], [0.0, 0.0, 0.5, 7.0]);
        assert!(out[4].is_nan());
        relu6_f32(&x, &mut out);
        assert_eq!(out[..4], [0.0, 0.0, 0.5, 6.0]);
        assert!(out[4].is_nan());
        relu_n1_to_1_f32(&x, &mut out);
        assert_eq!(out[..4], [-1.0, -0.5, 0.5, 1.0]);
        assert!(out[4].is_nan());
    }

    #[test]
    fn leaky_relu_int8() {
        // alpha 0.25, same scale 0.5, zp 10: negatives scaled by 1/4, ties away from zero.
        let p = LeakyReluParams::new(0.25, (0.5, 10), (0.5, 10), -128, 127);
        let mut out = [0i8; 6];
        leaky_relu_i8(&p, &[10, 127, 8, 4, -128, 9], &mut out);
        // 0; 117; -2/4 = -0.5 → -1; -6/4 = -1.5 → -2; -138/4 = -34.5 → -35; -0.25 → 0.
        assert_eq!(out, [10, 127, 9, 8, -25, 10]);
    }

    #[test]
    fn leaky_relu_negative_alpha_and_int16() {
        let p = LeakyReluParams::new(-0.5, (1.0, 0), (1.0, 0), -128, 127);
        assert!(p.multiplier_alpha < 0);
        let mut out = [0i8; 3];
        leaky_relu_i8(&p, &[-10, -3, 4], &mut out);
        // -3 * -0.5: the magnitude -1.5 goes through the high multiply, whose negative ties
        // round toward zero (-1), and the sign flip gives 1.
        assert_eq!(out, [5, 1, 4]);
        let p = LeakyReluParams::new(0.1, (1.0 / 256.0, 0), (1.0 / 256.0, 0), -32768, 32767);
        let mut out = [0i16; 3];
        leaky_relu_i16(&p, &[-32768, -5, 300], &mut out);
        assert_eq!(out, [-3277, -1, 300]);
    }

    #[test]
    fn leaky_relu_float() {
        let mut out = [0f32; 3];
        leaky_relu_f32(0.2, &[-1.0, 0.0, 3.0], &mut out);
        assert_eq!(out, [-0.2, 0.0, 3.0]);
    }
}

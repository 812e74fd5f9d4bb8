//! HARD_SWISH: `x · relu6(x + 3) / 6`.
//!
//! Int8 follows TFLite's `reference_ops::HardSwish` (`HardSwishParams`): the offset input is
//! moved to a 2^7-finer "hires" scale in 16 bits; one 16-bit fixed-point multiplier maps it to
//! the output scale, another ("reluish") maps it onto [-3, 3] ↦ [-1, 1] with saturation, which
//! is then shifted to [0, 1] and multiplied in (truncating, to cancel the rounding biases).
//! As with every int8 unary op, the result can be tabulated (see `activations.rs`).

use super::activations::{apply_lut_i8, populate_lut_i8, LUT_I8_LEN};
use crate::quant::{
    quantize_multiplier, rounding_divide_by_pot_i16, saturating_rounding_doubling_high_mul_i16,
};

/// Per-op constants of quantized HARD_SWISH (TFLite's `HardSwishParams`, widened to i32).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct HardSwishParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q15 multiplier and exponent of `hires_input_scale / (3 / 32768)`.
    pub reluish_multiplier_fixedpoint_int16: i32,
    pub reluish_multiplier_exponent: i32,
    /// Q15 multiplier and exponent (`<= 0`) of `hires_input_scale / output_scale`.
    pub output_multiplier_fixedpoint_int16: i32,
    pub output_multiplier_exponent: i32,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: a Q31 multiplier rounded to Q15.
fn downscale_multiplier(m: i32) -> i32 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX as i32
    } else {
        (m + ROUNDING) >> 16
    }
}

impl HardSwishParams {
    /// From the tensors' `(scale, zero_point)`s, in f32 as LiteRT's `HardSwishPrepare`; `None`
    /// where LiteRT rejects them (output scale finer than `input_scale / 128`).
    pub fn new(input: (f32, i32), output: (f32, i32)) -> Option<Self> {
        let hires_input_scale = (1.0f32 / 128.0) * input.0;
        let reluish_scale = 3.0f32 / 32768.0;
        let (om, output_exponent) = quantize_multiplier((hires_input_scale / output.0) as f64);
        let (rm, reluish_exponent) =
            quantize_multiplier((hires_input_scale / reluish_scale) as f64);
        if output_exponent > 0 {
            return None;
        }
        Some(HardSwishParams {
            input_zero_point: input.1,
            output_zero_point: output.1,
            reluish_multiplier_fixedpoint_int16: downscale_multiplier(rm),
            reluish_multiplier_exponent: reluish_exponent,
            output_multiplier_fixedpoint_int16: downscale_multiplier(om),
            output_multiplier_exponent: output_exponent,
        })
    }

    /// The quantized op on one int8 value.
    #[inline]
    pub fn eval(&self, x: i8) -> i8 {
        let input_value = (x as i32).wrapping_sub(self.input_zero_point) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_output = saturating_rounding_doubling_high_mul_i16(
            hires,
            self.output_multiplier_fixedpoint_int16 as i16,
        );
        let mut reluish = hires;
        let e = self.reluish_multiplier_exponent;
        if e > 0 {
            reluish = saturating_left_shift_i16(reluish, e - 1);
        }
        reluish = saturating_rounding_doubling_high_mul_i16(
            reluish,
            self.reluish_multiplier_fixedpoint_int16 as i16,
        );
        if e > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        } else if e < 0 {
            reluish = rounding_divide_by_pot_i16(reluish, (-e).min(31));
        }
        // [-1, 1] → [0, 1] in Q0.15.
        let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
        let preshift = saturating_doubling_high_mul_i16(reluish, preshift_output);
        let shifted =
            rounding_divide_by_pot_i16(preshift, (-self.output_multiplier_exponent).min(31));
        // The zero point is added in int16 arithmetic, as TFLite's `+=` on an int16_t.
        let y = shifted.wrapping_add(self.output_zero_point as i16);
        y.clamp(i8::MIN as i16, i8::MAX as i16) as i8
    }
}

/// `value · 2^amount` saturated to int16.
#[inline]
fn saturating_left_shift_i16(value: i16, amount: i32) -> i16 {
    let r = (value as i64) << amount.clamp(0, 31);
    r.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// `a · b / 2^15` truncated toward zero, saturating `-1 · -1` (ARM's SQDMULH, not SQRDMULH).
#[inline]
fn saturating_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// Int8 HARD_SWISH, computed per element.
pub fn hard_swish_i8(p: &HardSwishParams, input: &[i8], output: &mut [i8]) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = p.eval(x);
    }
}

/// Fills a 256-entry table with the int8 HARD_SWISH of every input (for [`hard_swish_i8_lut`]).
pub fn populate_lut_i8_hard_swish(p: &HardSwishParams, lut: &mut [i8; LUT_I8_LEN]) {
    populate_lut_i8(lut, |x| p.eval(x));
}

/// Int8 HARD_SWISH through the table from [`populate_lut_i8_hard_swish`].
pub fn hard_swish_i8_lut(lut: &[i8; LUT_I8_LEN], input: &[i8], output: &mut [i8]) {
    apply_lut_i8(lut, input, output);
}

/// Float HARD_SWISH: `x · min(6, max(0, x + 3)) / 6` evaluated left to right in f32, as
/// TFLite's reference (NaN stays NaN).
pub fn hard_swish_f32(input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let t = x + 3.0;
        // std::max(0, t) then std::min(6, ·): NaN in t becomes 0, x · 0 keeps NaN.
        let relu6 = if 0.0 < t { t } else { 0.0 };
        let relu6 = if relu6 < 6.0 { relu6 } else { 6.0 };
        *o = x * relu6 / 6.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: f32) -> f32 {
        x * (x + 3.0).clamp(0.0, 6.0) / 6.0
    }

    #[test]
    fn params_match_hand_computation() {
        // Input scale 0.05: hires 0.05/128; reluish multiplier 0.05/128 · 32768/3 = 4.2667 →
        // Q15 0.5333 · 2^3; output multiplier (0.05/128)/0.025 = 0.015625 = 0.5 · 2^-5.
        let p = HardSwishParams::new((0.05, 0), (0.025, 0)).unwrap();
        assert_eq!(p.output_multiplier_fixedpoint_int16, 16384);
        assert_eq!(p.output_multiplier_exponent, -5);
        assert_eq!(p.reluish_multiplier_exponent, 3);
        assert_eq!(p.reluish_multiplier_fixedpoint_int16, 17476);
        // Output scale finer than input/128: LiteRT rejects.
        assert!(HardSwishParams::new((0.05, 0), (0.0001, 0)).is_none());
    }

    #[test]
    fn int8_follows_the_curve_within_one_step() {
        let p = HardSwishParams::new((0.05, -10), (0.03, -100)).unwrap();
        let mut lut = [0i8; LUT_I8_LEN];
        populate_lut_i8_hard_swish(&p, &mut lut);
        for x in -128i32..=127 {
            let real = reference((x + 10) as f32 * 0.05);
            let want = ((real / 0.03).round() as i32 - 100).clamp(-128, 127);
            let got = lut[x as u8 as usize] as i32;
            assert!((got - want).abs() <= 1, "x={x}: got {got}, want {want}");
        }
        let mut out = [0i8; 4];
        hard_swish_i8(&p, &[-10, -128, 127, -70], &mut out);
        // 0 → zp; -5.9 → 0 → zp; 6.85 → 228 - 100 → 127 (saturated); -3 → 0 → zp.
        assert_eq!(out, [-100, -100, 127, -100]);
    }

    #[test]
    fn int8_zero_point_extremes() {
        let p = HardSwishParams::new((0.1, 127), (0.1, -128)).unwrap();
        let mut out = [0i8; 2];
        // zp 127: inputs are ≤ 0; -12.8 and 0 both give hard_swish = 0 → -128.
        hard_swish_i8(&p, &[-128, 127], &mut out);
        assert_eq!(out, [-128, -128]);
        let p = HardSwishParams::new((0.1, -128), (0.1, -128)).unwrap();
        // zp -128: x = 25.5 → 25.5 → 255 - 128 = 127.
        hard_swish_i8(&p, &[127, -128], &mut out);
        assert_eq!(out, [127, -128]);
    }

    #[test]
    fn float() {
        let mut out = [0f32; 5];
        hard_swish_f32(&[-4.0, -1.5, 0.0, 1.0, 4.0], &mut out);
        assert_eq!(out, [-0.0, -0.375, 0.0, 1.0 * 4.0 / 6.0, 4.0]);
        hard_swish_f32(&[f32::NAN], &mut out[..1]);
        assert!(out[0].is_nan());
    }
}

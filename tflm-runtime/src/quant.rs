//! Fixed-point arithmetic of TFLite's integer kernels.
//!
//! These functions reproduce, bit for bit, the helpers TFLite's reference kernels use
//! (`MultiplyByQuantizedMultiplier` and friends, gemmlowp's `SaturatingRoundingDoublingHighMul`
//! and `RoundingDivideByPOT`, `QuantizeMultiplier`), in the default "double rounding" build that
//! both LiteRT and TFLite Micro ship. Every integer kernel is built on them, so they are the
//! single place where rounding is decided.

/// `round(a * b / 2^31)` (positive ties up, negative ties toward zero), saturating the single overflow case
/// `i32::MIN * i32::MIN` (gemmlowp's `SaturatingRoundingDoublingHighMul`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division (not a shift): C++ integer division truncates toward zero.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's `RoundingDivideByPOT`).
/// `exponent` must be in `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x * multiplier * 2^shift` in Q31 fixed point (TFLite's `MultiplyByQuantizedMultiplier`):
/// a left shift before the high multiply, a rounding right shift after it.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left_shift), multiplier),
        right_shift,
    )
}

/// The 64-bit-accumulator variant used by int16x8 kernels (TFLite's
/// `MultiplyByQuantizedMultiplier(int64_t, int32_t, int)`).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    // Inputs are at most 48 bits and the multiplier 31 bits: the product fits in 79 bits,
    // so TFLite first reduces the multiplier to 16 bits with rounding.
    let reduced_multiplier: i64 = if multiplier < 0x7FFF_0000 {
        ((multiplier as i64) + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = 15 - shift;
    let round: i64 = 1i64 << (total_shift - 1);
    let result = (x * reduced_multiplier + round) >> total_shift;
    result.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Splits a positive real multiplier into a Q31 significand and a power-of-two exponent
/// (TFLite's `QuantizeMultiplier`): `m ≈ significand * 2^(shift - 31)`.
/// Multipliers below about 2^-31 flush to zero, as in TFLite.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = libm::frexp(real);
    let mut q_fixed = libm::round(q * (1i64 << 31) as f64) as i64;
    if q_fixed == (1i64 << 31) {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// The clamp range of a fused activation on a quantized output
/// (TFLite's `CalculateActivationRangeQuantized`).
pub fn activation_range_quantized(
    activation: crate::types::Activation,
    scale: f32,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
) -> (i32, i32) {
    use crate::types::Activation;
    let quantize = |f: f32| -> i32 { zero_point.saturating_add(libm::roundf(f / scale) as i32) };
    match activation {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
    }
}

/// The clamp range of a fused activation on a float output.
pub fn activation_range_f32(activation: crate::types::Activation) -> (f32, f32) {
    use crate::types::Activation;
    match activation {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_mul_rounds_like_gemmlowp_and_saturates() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // 2^30 * 2^30 / 2^31 = 2^29 exactly.
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        // 3 * 2^30 / 2^31 = 1.5 -> 2, but -1.5 -> -1: gemmlowp's negative nudge is
        // 1 - 2^30, so negative ties round toward zero.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(-5, 1 << 30), -2);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
    }

    #[test]
    fn divide_by_pot_rounds_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(17, 0), 17);
    }

    #[test]
    fn quantize_multiplier_matches_tflite() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        // Rounds up to 2^31: halved and exponent bumped.
        assert_eq!(quantize_multiplier(0.999_999_999_9), (1 << 30, 1));
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        let (m, s) = quantize_multiplier(0.003_921_568_627);
        assert_eq!(s, -7);
        assert_eq!(m, 1_077_952_576);
    }

    #[test]
    fn multiply_by_quantized_multiplier_scales() {
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(multiply_by_quantized_multiplier(101, m, s), 51);
        assert_eq!(multiply_by_quantized_multiplier(-101, m, s), -50);
        assert_eq!(multiply_by_quantized_multiplier(-103, m, s), -51);
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
    }
}

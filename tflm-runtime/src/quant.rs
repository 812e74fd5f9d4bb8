//! Fixed-point arithmetic of TFLite's integer kernels.
//!
//! These functions reproduce, bit for bit, the helpers TFLite's reference kernels use
//! (`MultiplyByQuantizedMultiplier` and friends, gemmlowp's `SaturatingRoundingDoublingHighMul`
//! and `RoundingDivideByPOT`, `QuantizeMultiplier`), in the default "double rounding" build that
//! both LiteRT and TFLite Micro ship. Every integer kernel is built on them, so they are the
//! single place where rounding is decided.

/// `round(a * b / 2^31)` (positive ties up, negative ties toward zero), saturating the single
/// overflow case `i32::MIN * i32::MIN` (gemmlowp's `SaturatingRoundingDoublingHighMul`).
///
/// gemmlowp adds `2^30` (or `1 - 2^30` for a negative product) and divides, truncating toward
/// zero; for a negative numerator that truncation is a ceiling, and
/// `ceil((ab + 1 - 2^30) / 2^31) == floor((ab + 2^30) / 2^31)`, so one add and one arithmetic
/// shift give the same bits with no branch on the sign.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    ((a as i64 * b as i64 + (1i64 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's `RoundingDivideByPOT`).
/// Exponents outside `0..=31` (which TFLite's Prepare rules out) are clamped, never a panic.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x * multiplier * 2^shift` in Q31 fixed point (TFLite's `MultiplyByQuantizedMultiplier`):
/// a left shift before the high multiply, a rounding right shift after it. The left shift
/// wraps like the C++ on x86 for out-of-range shifts (which TFLite's Prepare rules out).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(
            x.wrapping_mul(1i32.wrapping_shl(left_shift as u32)),
            multiplier,
        ),
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
    // Valid shifts give 1..=46; the clamp only keeps invalid ones from panicking.
    let total_shift = (15 - shift).clamp(1, 63);
    let round: i64 = 1i64 << (total_shift - 1);
    let result = x.wrapping_mul(reduced_multiplier).wrapping_add(round) >> total_shift;
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
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // 2^30 * 2^30 / 2^31 = 2^29 exactly.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // 3 * 2^30 / 2^31 = 1.5 -> 2, but -1.5 -> -1: gemmlowp's negative nudge is
        // 1 - 2^30, so negative ties round toward zero.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(-5, 1 << 30), -2);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
    }

    /// The shift form against gemmlowp's literal nudge-and-divide definition.
    #[test]
    fn high_mul_shift_form_equals_gemmlowp_division() {
        fn gemmlowp(a: i32, b: i32) -> i32 {
            if a == i32::MIN && b == i32::MIN {
                return i32::MAX;
            }
            let ab = a as i64 * b as i64;
            let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
            ((ab + nudge) / (1i64 << 31)) as i32
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    gemmlowp(a, b),
                    "{a} {b}"
                );
            }
        }
        for _ in 0..1_000_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = (x as i32, (x >> 32) as i32 >> (x % 24));
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                gemmlowp(a, b),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn out_of_range_shifts_do_not_panic() {
        assert_eq!(
            rounding_divide_by_pot(-7, 40),
            rounding_divide_by_pot(-7, 31)
        );
        let _ = multiply_by_quantized_multiplier(12345, 1 << 30, 40);
        let _ = multiply_by_quantized_multiplier_i64(i64::MAX, i32::MAX, 30);
        let _ = multiply_by_quantized_multiplier_i64(i64::MIN, i32::MAX, -60);
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

// gemmlowp fixed-point helpers used by SOFTMAX and the int16 kernels (HARD_SWISH, int16
// ADD/SUB on power-of-two scales, MUL int16→int8). Raw Q-format values travel as plain integers;
// `integer_bits` names the Q format (Qm.(31-m)) where it matters.

/// gemmlowp's `SaturatingRoundingDoublingHighMul` on int16 raw values: `round(a * b / 2^15)`
/// (negative ties toward zero), saturating `-1 * -1`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// gemmlowp's `RoundingDivideByPOT` instantiated on int16 (`exponent` in `0..=31`). Equal to
/// [`rounding_divide_by_pot`] up to 15; from 16 on, gemmlowp's int16 mask wraps to -1 and the
/// result is 1 for `x >= 0` and -1 otherwise, which is reproduced here.
#[inline(always)]
pub fn rounding_divide_by_pot_i16(x: i16, exponent: i32) -> i16 {
    if exponent >= 16 {
        return if x >= 0 { 1 } else { -1 };
    }
    rounding_divide_by_pot(x as i32, exponent) as i16
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT` on int32: a saturating left shift for a positive
/// `exponent`, a rounding right shift for a negative one (`exponent` in `-31..=30`).
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return rounding_divide_by_pot(x, -exponent);
    }
    let threshold = (1i32 << (31 - exponent)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << exponent
    }
}

/// gemmlowp's `RoundingHalfSum` on int32: `(a + b) / 2` rounded half away from zero.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for `a` in `[-1/4, 0)`, Q0.31 in and out (gemmlowp's Taylor expansion around -1/8).
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const ONE_THIRD: i32 = 715_827_883;
    let srdhm = saturating_rounding_doubling_high_mul;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        1,
    );
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp's `exp_on_negative_values`: `exp(a)` for `a <= 0` given in Q`integer_bits`, result
/// in Q0.31. `integer_bits` must be in `0..=29`.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    // exp(-2^k) in Q0.31 for k = -2..=4: the barrel shifter applies one per set bit.
    const MULTIPLIERS: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for (exponent, multiplier) in MULTIPLIERS {
        if integer_bits > exponent && remainder & (1i32 << (fractional_bits + exponent)) != 0 {
            result = saturating_rounding_doubling_high_mul(result, multiplier);
        }
    }
    if integer_bits > 5 && a < -(1i32 << (36 - integer_bits)) {
        result = 0;
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for `a` in `[0, 1)`, Q0.31 in and
/// out (three Newton-Raphson steps in Q2.29).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810;
    const CNEG32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let srdhm = saturating_rounding_doubling_high_mul;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C48_OVER_17.wrapping_add(srdhm(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let one_minus_half_denominator_times_x = ONE_Q2.wrapping_sub(srdhm(half_denominator, x));
        x = x.wrapping_add(saturating_rounding_multiply_by_pot(
            srdhm(x, one_minus_half_denominator_times_x),
            2,
        ));
    }
    saturating_rounding_multiply_by_pot(x, 1)
}

/// TFLite's `GetReciprocal`: for a positive `x` in Q`x_integer_digits`, returns `(scale,
/// num_bits_over_unit)` with `1/x ≈ scale / 2^31 / 2^num_bits_over_unit`.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod gemmlowp_tests {
    use super::*;

    fn q(x: f64, integer_bits: i32) -> i32 {
        libm::round(x * (1i64 << (31 - integer_bits)) as f64) as i32
    }

    #[test]
    fn int16_helpers_match_gemmlowp() {
        assert_eq!(
            saturating_rounding_doubling_high_mul_i16(i16::MIN, i16::MIN),
            i16::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul_i16(16384, 16384),
            8192
        );
        // -1.5 rounds toward zero, +1.5 away from zero.
        assert_eq!(saturating_rounding_doubling_high_mul_i16(3, 16384), 2);
        assert_eq!(saturating_rounding_doubling_high_mul_i16(-3, 16384), -1);
        assert_eq!(rounding_divide_by_pot_i16(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot_i16(5, 1), 3);
        assert_eq!(rounding_divide_by_pot_i16(0, 16), 1);
        assert_eq!(rounding_divide_by_pot_i16(-7, 20), -1);
    }

    #[test]
    fn saturating_pot_shifts() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 20, 5), 1 << 25);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 26, 5), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 26), 5), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot(5, -1), 3);
        assert_eq!(rounding_half_sum(3, 4), 4);
        assert_eq!(rounding_half_sum(-3, -4), -4);
    }

    #[test]
    fn exp_on_negative_values_is_close_to_exp() {
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
        for &x in &[-0.01, -0.25, -0.3, -1.0, -2.5, -7.0, -15.9, -31.5] {
            let got = exp_on_negative_values(q(x, 5), 5) as f64 / 2f64.powi(31);
            assert!((got - libm::exp(x)).abs() < 1e-6, "exp({x}) = {got}");
        }
        // Beyond -32 with more than 5 integer bits the result is clamped to 0.
        assert_eq!(exp_on_negative_values(q(-40.0, 6), 6), 0);
    }

    #[test]
    fn reciprocal_is_close() {
        for &x in &[0.0, 0.2, 0.5, 0.999] {
            let got = one_over_one_plus_x_for_x_in_0_1(q(x, 0)) as f64 / 2f64.powi(31);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-8, "1/(1+{x}) = {got}");
        }
        // 3.0 in Q12.19: 1/3 = 0.666.. * 2^-1.
        let (scale, bits) = get_reciprocal(3 << 19, 12);
        assert_eq!(bits, 1);
        assert!((scale as f64 / 2f64.powi(31) - 2.0 / 3.0).abs() < 1e-8);
    }
}

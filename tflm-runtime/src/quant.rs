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
///
/// TFLite computes `frexp`, `round(q * 2^31)` in `double`; here the same steps work on the
/// double's bits (its 53-bit significand rounded to 31 bits, half away from zero), which gives
/// the same pair for every input (tested against the `double` steps on random and edge bit
/// patterns) without soft-float arithmetic on an MCU that has no double-precision FPU.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    let bits = real.to_bits();
    let negative = bits >> 63 != 0;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased == 0x7ff {
        // frexp leaves NaN and infinities alone; `round` keeps them and the cast to i64
        // saturates (NaN to 0), then truncates to 32 bits.
        let q: i64 = match (fraction != 0, negative) {
            (true, _) => 0,
            (false, false) => i64::MAX,
            (false, true) => i64::MIN,
        };
        return (q as i32, 0);
    }
    if biased == 0 {
        // Zero or subnormal: frexp's exponent is below -1021, so the result flushes to zero.
        return (0, 0);
    }
    // real = ±m * 2^(shift - 53), m in [2^52, 2^53): frexp's fraction is m / 2^53.
    let m = fraction | (1u64 << 52);
    let mut shift = biased - 1022;
    // round(m / 2^53 * 2^31) = round(m / 2^22), half away from zero on the magnitude.
    let mut q = ((m + (1 << 21)) >> 22) as i64;
    if q == 1 << 31 && !negative {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (if negative { -q } else { q } as i32, shift)
}

/// `f64(a) * f64(b) / f64(c)`, the effective scale of TFLite's quantized kernels
/// (`input_scale * filter_scale / output_scale` in `double`), bit for bit as IEEE double
/// arithmetic gives it, without double-precision instructions (integers, and the
/// single-precision FPU for zero, infinite and NaN operands).
///
/// The product of two f32 significands (24 bits each) is exact in a double, so only the
/// quotient rounds (to nearest, ties to even); the quotient of f32 operands is always a normal
/// double (between 2^-426 and 2^405), so no underflow or overflow path is needed. A Cortex-M4
/// has no double-precision FPU: the soft-float multiply and divide this replaces cost
/// hundreds of instructions per output channel at setup, and their code is linked only for it.
/// Never inlined: every quantized operator's `prepare` shares one copy.
#[inline(never)]
pub fn effective_scale(a: f32, b: f32, c: f32) -> f64 {
    let sign = ((a.to_bits() ^ b.to_bits() ^ c.to_bits()) >> 31) as u64;
    if special(a) || special(b) || special(c) {
        return special_scale(a, b, c);
    }
    let (ma, ea) = f32_significand(a);
    let (mb, eb) = f32_significand(b);
    let (mc, ec) = f32_significand(c);
    // |a * b / c| = (p / mc) * 2^(ea + eb - ec) with p = ma * mb in [2^46, 2^48) and mc in
    // [2^23, 2^24). The quotient is brought to exactly 54 bits (53 and a rounding bit) by
    // two compares, so the rounding below shifts by constants only (variable 64-bit shifts
    // are long instruction sequences on a Cortex-M4): p in [2^47, 2^48) after `t`, p / mc
    // in [2^24, 2^25) or, after `u`, in [2^23, 2^24), and q = floor(p * 2^(29 + u) / mc)
    // in [2^53, 2^54).
    let p = ma as u64 * mb as u64;
    let t = p < 1 << 47;
    let p = if t { p << 1 } else { p };
    let u = p < (mc as u64) << 24;
    let (q, rest) = divide_by_24_bits(if u { p << 6 } else { p << 5 }, mc);
    // Round to 53 bits, ties to even: the dropped bit is q's last, `rest` the bits below it.
    let m = (q >> 1) + (q & 1 & (rest as u64 | (q >> 1) & 1));
    // value = m * 2^e, m in [2^52, 2^53] (2^53 after a carry, which the addition below turns
    // into the next exponent, as the hidden bit of the smaller m into this one).
    let e = ea + eb - ec - 28 - t as i32 - u as i32;
    f64::from_bits((sign << 63) + (((e + 1074) as u64) << 52) + m)
}

/// [`effective_scale`] when an operand is zero, infinite or NaN: the result is then zero,
/// infinite or NaN too, and which (and its sign) does not depend on the magnitude of the
/// finite non-zero operands. So those become `±1.0` and the single-precision FPU computes
/// `a * b / c` (`1 * 1 / 0` is infinite as any finite product over zero is, `1 * 1 / inf` is
/// zero, `0 * inf` is NaN...); the f32 zero, infinity or NaN widens to the same double. An
/// FPU multiply and divide where the same case analysis in integers took about 0.2 KB more.
#[inline(always)]
fn special_scale(a: f32, b: f32, c: f32) -> f64 {
    let unit = |x: f32| {
        if special(x) {
            x
        } else {
            f32::from_bits(x.to_bits() & 0x8000_0000 | 0x3f80_0000)
        }
    };
    let r = (unit(a) * unit(b) / unit(c)).to_bits();
    // Widened as a zero, infinity or NaN: the exponent's all-ones become the double's, the
    // significand (a NaN's payload) moves to the top of the double's.
    let sign = ((r >> 31) as u64) << 63;
    let exponent = if r & 0x7f80_0000 == 0x7f80_0000 {
        0x7ffu64 << 52
    } else {
        0
    };
    f64::from_bits(sign | exponent | ((r & 0x7f_ffff) as u64) << 29)
}

/// Whether `x` is zero, infinite or NaN (on the bits: a Cortex-M4's float compares cost more).
#[inline(always)]
fn special(x: f32) -> bool {
    (x.to_bits() & 0x7fff_ffff).wrapping_sub(1) >= 0x7f7f_ffff
}

/// A finite non-zero f32's magnitude as `m * 2^e` with `m` in `[2^23, 2^24)` (subnormals
/// normalized).
fn f32_significand(x: f32) -> (u32, i32) {
    let bits = x.to_bits() & 0x7fff_ffff;
    let biased = (bits >> 23) as i32;
    if biased == 0 {
        let shift = bits.leading_zeros() - 8;
        (bits << shift, -149 - shift as i32)
    } else {
        ((bits & 0x7f_ffff) | 0x80_0000, biased - 150)
    }
}

/// `floor(n * 2^24 / d)` (`d` in `[2^23, 2^24)`, the quotient below 2^64) and whether the
/// division leaves a remainder: long division, the top 32 bits of `n` first, then a byte at a
/// time, each step one 32-bit `UDIV` (the remainder stays below 2^24), so no 64-bit division
/// routine is linked.
fn divide_by_24_bits(n: u64, d: u32) -> (u64, bool) {
    // Never zero (a significand), but a `NonZeroU32` divisor links no division-by-zero panic.
    let d = core::num::NonZeroU32::new(d).unwrap_or(core::num::NonZeroU32::MIN);
    let top = (n >> 32) as u32;
    let (mut q, mut r) = ((top / d) as u64, top % d);
    for k in 0..7 {
        let byte = if k < 4 { (n >> (24 - 8 * k)) as u8 } else { 0 };
        let x = r << 8 | byte as u32;
        q = q << 8 | (x / d) as u64;
        r = x % d;
    }
    (q, r != 0)
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
    let quantize = |f: f32| -> i32 { zero_point.saturating_add(round_to_i32(f / scale)) };
    // The bounds first, then one quantization of each: inlined, each arm's own quantizations
    // were five copies of the division and the rounding.
    let (lo, hi) = match activation {
        Activation::None => return (qmin, qmax),
        Activation::Relu => (0.0, None),
        Activation::Relu6 => (0.0, Some(6.0)),
        Activation::ReluN1To1 => (-1.0, Some(1.0)),
    };
    (
        qmin.max(quantize(lo)),
        hi.map_or(qmax, |hi| qmax.min(quantize(hi))),
    )
}

/// `roundf(v) as i32` (half away from zero, then Rust's saturating cast), in two FPU
/// instructions and a sign copy: `roundf` is `trunc(v + copysign(0.5 - 2^-25, v))`, and the
/// cast truncates by itself, so the truncation is left to it (`libm`'s `truncf` on the bits
/// was 0.1 KB of code for each of the clamp's five quantizations).
#[inline(always)]
fn round_to_i32(v: f32) -> i32 {
    // The largest f32 below one half: adding it rounds exact halves away from zero without
    // carrying 0.49999997 up to 1.
    const JUST_BELOW_HALF: u32 = 0x3eff_ffff;
    (v + f32::from_bits(JUST_BELOW_HALF | v.to_bits() & 0x8000_0000)) as i32
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
    fn activation_ranges_are_the_quantized_bounds_within_the_type() {
        use crate::types::Activation::{None, Relu, Relu6, ReluN1To1};
        // Scale 0.05, zero point -10: 0 -> -10, 6 -> 110, -1 -> -30, 1 -> 10.
        let r = |a| activation_range_quantized(a, 0.05, -10, -128, 127);
        assert_eq!(r(None), (-128, 127));
        assert_eq!(r(Relu), (-10, 127));
        assert_eq!(r(Relu6), (-10, 110));
        assert_eq!(r(ReluN1To1), (-30, 10));
        // Scale 0.01, zero point 100: 6 -> 700 and 1 -> 200 are beyond int8, -1 -> 0.
        let r = |a| activation_range_quantized(a, 0.01, 100, -128, 127);
        assert_eq!(r(Relu), (100, 127));
        assert_eq!(r(Relu6), (100, 127));
        assert_eq!(r(ReluN1To1), (0, 127));
        // int16 limits.
        let r = |a| activation_range_quantized(a, 0.001, 0, -32768, 32767);
        assert_eq!(r(None), (-32768, 32767));
        assert_eq!(r(Relu6), (0, 6000));
        assert_eq!(r(ReluN1To1), (-1000, 1000));
    }

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

    /// TFLite's `QuantizeMultiplier` as it is written, in `double` (the definition).
    fn quantize_multiplier_f64(real: f64) -> (i32, i32) {
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

    /// xorshift64: the tests' reproducible random bits.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn quantize_multiplier_on_bits_equals_the_double_steps() {
        let edges = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            1.0,
            0.5,
            2.0f64.powi(-31),
            2.0f64.powi(-32),
            2.0f64.powi(-33),
            2.0f64.powi(31),
            2.0f64.powi(62),
            -0.75,
        ];
        // Significands at the rounding boundary (low 22 bits at, below and above the half,
        // and all ones, which rounds up to 2^31) at several exponents, both signs.
        for &r in &edges {
            assert_eq!(quantize_multiplier(r), quantize_multiplier_f64(r), "{r:e}");
        }
        for low in [0x1f_ffffu64, 0x20_0000, 0x20_0001, 0x3f_ffff, 0] {
            for high in [0u64, 1, 0x3fff_ffff, 0x2aaa_aaaa] {
                for e in [0x3ffu64, 0x3e0, 0x3df, 0x3de, 0x400, 0x41e, 0x7fe, 1] {
                    let r = f64::from_bits(e << 52 | high << 22 | low);
                    for r in [r, -r] {
                        assert_eq!(quantize_multiplier(r), quantize_multiplier_f64(r), "{r:e}");
                    }
                }
            }
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300_000 {
            let r = f64::from_bits(next(&mut x));
            assert_eq!(quantize_multiplier(r), quantize_multiplier_f64(r), "{r:e}");
            // Typical multipliers: exponents around 2^-40..2^8.
            let r = f64::from_bits((next(&mut x) & 0x800f_ffff_ffff_ffff) | (0x3d7 + x % 48) << 52);
            assert_eq!(quantize_multiplier(r), quantize_multiplier_f64(r), "{r:e}");
        }
    }

    #[test]
    fn effective_scale_equals_double_arithmetic() {
        let reference = |a: f32, b: f32, c: f32| a as f64 * b as f64 / c as f64;
        let same = |a: f32, b: f32, c: f32| {
            let (got, want) = (effective_scale(a, b, c), reference(a, b, c));
            assert!(
                got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                "{a:e} * {b:e} / {c:e}: {got:e} vs {want:e}"
            );
            if !want.is_nan() {
                assert_eq!(quantize_multiplier(got), quantize_multiplier_f64(want));
            }
        };
        let edges = [
            0.0f32,
            -0.0,
            f32::from_bits(1),
            f32::from_bits(0x007f_ffff),
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            -1.0,
            3.0,
            0.1,
            1.0 / 255.0,
            0.003_921_568_6,
            2.0e-5,
            f32::from_bits(0x3f7f_ffff),
            f32::from_bits(0x3f80_0001),
        ];
        for &a in &edges {
            for &b in &edges {
                for &c in &edges {
                    same(a, b, c);
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300_000 {
            // Any bits (every class of f32) ...
            let r = next(&mut x);
            same(
                f32::from_bits(r as u32),
                f32::from_bits((r >> 32) as u32),
                f32::from_bits(next(&mut x) as u32),
            );
            // ... and quantization scales as models carry them (2^-30 .. 2^4, positive).
            let mut scale = || f32::from_bits(0x3080_0000 + (next(&mut x) % 0x1200_0000) as u32);
            same(scale(), scale(), scale());
        }
    }

    #[test]
    fn round_to_i32_equals_roundf_then_cast() {
        let check = |v: f32| assert_eq!(round_to_i32(v), libm::roundf(v) as i32, "{v:e}");
        for v in [
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.499_999_97,
            -0.499_999_97,
            8_388_607.5,
            8_388_609.0,
            2.147_483_5e9,
            -2.147_483_6e9,
            3e9,
            -3e9,
            f32::INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
        ] {
            check(v);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..1_000_000 {
            let r = next(&mut x);
            check(f32::from_bits(r as u32));
            // Quotients as the clamp computes them (6 / scale and the like).
            check((r >> 40) as f32 / 4096.0 - 2048.0);
        }
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

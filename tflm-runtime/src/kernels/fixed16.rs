//! gemmlowp's 16-bit fixed-point `logistic` and `tanh`, as TFLite's integer LSTM evaluates its
//! gates (`tensor_utils::ApplySigmoid` on Q3.12 input, `tensor_utils::ApplyTanh` on Q`m`.`15-m`
//! input; both give Q0.15).
//!
//! Raw values travel as `i16`; the Q format is a runtime argument. Every step mirrors gemmlowp's
//! generic (scalar) implementation instantiated on `int16_t`:
//! - `+`, `-` and negation wrap (C++ computes in `int` and converts back to `int16_t`); only the
//!   last addition of `exp_on_interval_between_negative_one_quarter_and_0_excl` saturates
//!   (`AddSaturatingIf16Bit`);
//! - a product is `SaturatingRoundingDoublingHighMul` on int16 (`round(a * b / 2^15)`, negative
//!   ties toward zero, `-1 * -1` saturated);
//! - constants are given as Q0.31 (or Q2.29, ...) `int32` values and rounded to 16 bits with
//!   `RoundingDivideByPOT(x, 16)` (`RescaleConstantInitializer`).

use crate::quant::saturating_rounding_doubling_high_mul_i16 as mul;
use crate::quant::{rounding_divide_by_pot, rounding_divide_by_pot_i16};

#[inline(always)]
fn add(a: i16, b: i16) -> i16 {
    a.wrapping_add(b)
}

#[inline(always)]
fn sub(a: i16, b: i16) -> i16 {
    a.wrapping_sub(b)
}

#[inline(always)]
fn neg(a: i16) -> i16 {
    a.wrapping_neg()
}

/// A 32-bit fixed-point constant rounded to 16 bits.
#[inline(always)]
const fn constant(x: i32) -> i16 {
    // Same as rounding_divide_by_pot(x, 16), in a const context.
    let mask = (1i32 << 16) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    ((x >> 16) + if remainder > threshold { 1 } else { 0 }) as i16
}

/// `SaturatingRoundingMultiplyByPOT<exponent>` on int16.
#[inline(always)]
fn saturating_rounding_multiply_by_pot(x: i16, exponent: i32) -> i16 {
    if exponent == 0 {
        return x;
    }
    if exponent < 0 {
        return rounding_divide_by_pot_i16(x, -exponent);
    }
    let threshold = ((1i32 << (15 - exponent)) - 1) as i16;
    if x > threshold {
        i16::MAX
    } else if x < -threshold {
        i16::MIN
    } else {
        (x as i32 * (1i32 << exponent)) as i16
    }
}

/// `RoundingHalfSum` on int16.
#[inline(always)]
fn rounding_half_sum(a: i16, b: i16) -> i16 {
    let sum = a as i32 + b as i32;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i16
}

/// `exp(a)` for `a` in `[-1/4, 0)`, Q0.15 in and out.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i16) -> i16 {
    const CONSTANT_TERM: i16 = constant(1_895_147_668);
    const ONE_THIRD: i16 = constant(715_827_883);
    let x = add(a, 1 << 12);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(add(mul(add(x4_over_4, x3), ONE_THIRD), x2), -1);
    CONSTANT_TERM.saturating_add(mul(CONSTANT_TERM, add(x, poly)))
}

/// `exp(-2^k / 4)` for `k = 0..7` in Q0.15: the factors of the integer part of `-a`.
const EXP_OF_QUARTERS: [i16; 7] = [
    constant(1_672_461_947),
    constant(1_302_514_674),
    constant(790_015_084),
    constant(290_630_308),
    constant(39_332_535),
    constant(720_401),
    constant(242),
];

/// `exp(a)` for `a <= 0` in Q`integer_bits` (`0..=13`), result in Q0.15: gemmlowp's
/// `exp_on_negative_values`, written so that a format known only at run time costs little
/// more than a constant one. Its `a mod 1/4 - 1/4` lies in `[-1/4, 0)`, so gemmlowp's
/// saturating multiply by `2^integer_bits` is an exact shift; and bit `k` of the remainder
/// above the quarter selects the factor `exp(-2^k / 4)` (gemmlowp tests each bit with its
/// own mask, for the exponents below `integer_bits`: `k < integer_bits + 2`).
#[inline(always)]
fn exp_on_negative_values(a: i16, integer_bits: i32) -> i16 {
    let fractional_bits = 15 - integer_bits;
    let one_quarter = (1i32 << (fractional_bits - 2)) as i16;
    let a_mod_quarter_minus_one_quarter = sub(a & sub(one_quarter, 1), one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        (a_mod_quarter_minus_one_quarter as i32 * (1i32 << integer_bits)) as i16,
    );
    let remainder = sub(a_mod_quarter_minus_one_quarter, a);
    let quarters = (remainder as u16 as u32) >> (fractional_bits - 2);
    let n = ((integer_bits + 2) as usize).min(EXP_OF_QUARTERS.len());
    for (k, &factor) in EXP_OF_QUARTERS[..n].iter().enumerate() {
        if quarters & (1 << k) != 0 {
            result = mul(result, factor);
        }
    }
    if integer_bits > 5 {
        let clamp = constant(-(1i32 << (36 - integer_bits)));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i16::MAX;
    }
    result
}

/// Three Newton-Raphson steps for `1 / (1 + a)` (`one_over = true`) or `(1 - a) / (1 + a)`,
/// `a` in `[0, 1)` as Q0.15, result Q0.15.
#[inline(always)]
fn newton_division(a: i16, one_over: bool) -> i16 {
    const C48_OVER_17: i16 = constant(1_515_870_810);
    const CNEG32_OVER_17: i16 = constant(-1_010_580_540);
    const ONE_Q2: i16 = 1 << 13;
    let half_denominator = rounding_half_sum(a, i16::MAX);
    let mut x = add(C48_OVER_17, mul(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let one_minus_half_denominator_times_x = sub(ONE_Q2, mul(half_denominator, x));
        x = add(
            x,
            saturating_rounding_multiply_by_pot(mul(x, one_minus_half_denominator_times_x), 2),
        );
    }
    if one_over {
        // Rescale<0>(ExactMulByPot<-1>(x)): Q1 to Q0.
        saturating_rounding_multiply_by_pot(x, 1)
    } else {
        // Rescale<0>(x - 1): Q2 to Q0.
        saturating_rounding_multiply_by_pot(sub(x, ONE_Q2), 2)
    }
}

/// gemmlowp's `logistic` on a Q`integer_bits` int16 input (`0..=12`), Q0.15 output.
#[inline(always)]
pub fn logistic(a: i16, integer_bits: i32) -> i16 {
    if a == 0 {
        return constant(1 << 30);
    }
    let positive = a > 0;
    let abs = if positive { a } else { neg(a) };
    let result_if_positive = newton_division(exp_on_negative_values(neg(abs), integer_bits), true);
    if positive {
        result_if_positive
    } else {
        sub(i16::MAX, result_if_positive)
    }
}

/// gemmlowp's `tanh` on a Q`integer_bits` int16 input (`0..=12`), Q0.15 output.
#[inline(always)]
pub fn tanh(a: i16, integer_bits: i32) -> i16 {
    if a == 0 {
        return 0;
    }
    let negative = a < 0;
    let n = if negative { a } else { neg(a) };
    // exp(2n): the same raw value read with one more integer bit.
    let t = newton_division(exp_on_negative_values(n, integer_bits + 1), false);
    if negative {
        neg(t)
    } else {
        t
    }
}

/// [`logistic`] of every element of `v`, in place, for a Q3.12 input (the LSTM's gates: the
/// only format TFLite's integer LSTM gives its sigmoid). One copy with the format folded in.
#[inline(never)]
pub fn logistic_q3_12_in_place(v: &mut [i16]) {
    for x in v {
        *x = logistic(*x, 3);
    }
}

/// [`tanh`] of every element of `v`, in place, for a Q`integer_bits` input. Q3.12 (the LSTM's
/// cell gate, and its cell state when that has scale `2^-12`) runs a copy with the format
/// folded in; any other format (the cell state's `2^-15` to `2^-9`) one general copy: a folded
/// copy per format cost about 1.2 KB of Cortex-M4 code each.
pub fn tanh_in_place(v: &mut [i16], integer_bits: i32) {
    if integer_bits == 3 {
        tanh_q3_12_in_place(v);
    } else {
        for x in v {
            *x = tanh(*x, integer_bits);
        }
    }
}

#[inline(never)]
fn tanh_q3_12_in_place(v: &mut [i16]) {
    for x in v {
        *x = tanh(*x, 3);
    }
}

/// `RoundingDivideByPOT(a * b, shift)` narrowed to int16 (wrapping), TFLite's
/// `tensor_utils::CwiseMul` with a shift.
#[inline(always)]
pub fn mul_shift(a: i16, b: i16, shift: i32) -> i16 {
    rounding_divide_by_pot(a as i32 * b as i32, shift) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gemmlowp's `exp_on_negative_values` step by step (the kernel's until this test came): the
    /// reference for the rewritten one.
    fn reference_exp(a: i16, integer_bits: i32) -> i16 {
        const MULTIPLIERS: [(i32, i16); 7] = [
            (-2, constant(1_672_461_947)),
            (-1, constant(1_302_514_674)),
            (0, constant(790_015_084)),
            (1, constant(290_630_308)),
            (2, constant(39_332_535)),
            (3, constant(720_401)),
            (4, constant(242)),
        ];
        let fractional_bits = 15 - integer_bits;
        let one_quarter = (1i32 << (fractional_bits - 2)) as i16;
        let mask = sub(one_quarter, 1);
        let a_mod_quarter_minus_one_quarter = sub(a & mask, one_quarter);
        let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
            saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits),
        );
        let remainder = sub(a_mod_quarter_minus_one_quarter, a);
        for (exponent, multiplier) in MULTIPLIERS {
            if integer_bits > exponent {
                let bit = (1i32 << (fractional_bits + exponent)) as i16;
                if remainder & bit != 0 {
                    result = mul(result, multiplier);
                }
            }
        }
        if integer_bits > 5 {
            let clamp = constant(-(1i32 << (36 - integer_bits)));
            if a < clamp {
                result = 0;
            }
        }
        if a == 0 {
            result = i16::MAX;
        }
        result
    }

    /// gemmlowp's `logistic` and `tanh` on the reference `exp`.
    fn reference_logistic(a: i16, integer_bits: i32) -> i16 {
        if a == 0 {
            return constant(1 << 30);
        }
        let abs = if a > 0 { a } else { neg(a) };
        let r = newton_division(reference_exp(neg(abs), integer_bits), true);
        if a > 0 {
            r
        } else {
            sub(i16::MAX, r)
        }
    }

    fn reference_tanh(a: i16, integer_bits: i32) -> i16 {
        if a == 0 {
            return 0;
        }
        let n = if a < 0 { a } else { neg(a) };
        let t = newton_division(reference_exp(n, integer_bits + 1), false);
        if a < 0 {
            neg(t)
        } else {
            t
        }
    }

    /// Every int16 input, every format: the kernel's functions (the Q3.12 gates with the
    /// format folded in, the cell state's tanh with it read at run time) give exactly the
    /// step-by-step reference's bits.
    #[test]
    fn every_input_equals_the_reference() {
        extern crate std;
        let all: std::vec::Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut v = all.clone();
        logistic_q3_12_in_place(&mut v);
        for (&x, &y) in all.iter().zip(&v) {
            assert_eq!(y, reference_logistic(x, 3), "logistic Q3.12 of {x}");
        }
        for ib in 0..=12 {
            let mut v = all.clone();
            tanh_in_place(&mut v, ib);
            for (&x, &y) in all.iter().zip(&v) {
                assert_eq!(y, reference_tanh(x, ib), "tanh Q{ib} of {x}");
                assert_eq!(
                    logistic(x, ib),
                    reference_logistic(x, ib),
                    "logistic Q{ib} of {x}"
                );
            }
        }
    }

    #[test]
    fn logistic_and_tanh_are_close_to_float() {
        for raw in (i16::MIN..=i16::MAX).step_by(37) {
            let x = raw as f64 / 4096.0;
            let s = logistic(raw, 3) as f64 / 32768.0;
            assert!(
                (s - 1.0 / (1.0 + libm::exp(-x))).abs() < 2e-4,
                "sigmoid({x}) = {s}"
            );
            let t = tanh(raw, 3) as f64 / 32768.0;
            assert!((t - libm::tanh(x)).abs() < 6e-4, "tanh({x}) = {t}");
            let x4 = raw as f64 / 2048.0;
            let t4 = tanh(raw, 4) as f64 / 32768.0;
            assert!((t4 - libm::tanh(x4)).abs() < 6e-4, "tanh({x4}) = {t4}");
        }
        assert_eq!(logistic(0, 3), 16384);
        assert_eq!(tanh(0, 3), 0);
    }

    #[test]
    fn constants_round_like_gemmlowp() {
        assert_eq!(constant(1 << 30), 16384);
        assert_eq!(constant(-1_010_580_540), -15420);
        assert_eq!(
            constant(1_895_147_668),
            rounding_divide_by_pot(1_895_147_668, 16) as i16
        );
    }
}

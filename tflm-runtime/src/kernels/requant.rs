//! The per-output requantization of the int8 convolutions: TFLite's double-rounding
//! `MultiplyByQuantizedMultiplier` (gemmlowp's `SaturatingRoundingDoublingHighMul`, then
//! `RoundingDivideByPOT`), written for a 32-bit core.
//!
//! [`crate::quant::multiply_by_quantized_multiplier`] is the reference formulation shared by
//! every kernel; it builds the rounding mask with a 64-bit variable shift, which a Cortex-M4
//! spends a branchy instruction sequence on, once per output. Here the only 64-bit value is
//! the `SMULL` product: the high multiply is `(x * m + 2^30) >> 31` (exact for either sign, see
//! the reference) and the rounding divide works on 32-bit masks. The tests check the two agree
//! bit for bit on every shift and on edge and random operands.

/// `x * multiplier * 2^shift` rounded as TFLite's reference does (see the module doc); the
/// same bits as [`crate::quant::multiply_by_quantized_multiplier`] for every shift it defines.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    // A positive shift is a left shift before the multiply (wrapping, as the reference's
    // multiplication by `1 << shift`), a negative one a rounding right shift after it.
    let left = shift.max(0) as u32;
    let right = shift.min(0).unsigned_abs().min(31);
    let x = x.wrapping_shl(left);
    let high = if x == i32::MIN && multiplier == i32::MIN {
        i32::MAX
    } else {
        ((x as i64 * multiplier as i64 + (1 << 30)) >> 31) as i32
    };
    let mask = (1u32 << right) - 1;
    let remainder = high as u32 & mask;
    let threshold = (mask >> 1) + (high as u32 >> 31);
    (high >> right) + (remainder > threshold) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant;

    #[test]
    fn equals_the_reference_on_every_shift() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as i32
        };
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            3,
            i32::MAX,
            i32::MIN,
            i32::MAX - 1,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            (1 << 30) + 1,
            12345,
            -12345,
        ];
        let multipliers = [
            0,
            1,
            1 << 30,
            i32::MAX,
            i32::MIN,
            -1,
            1_077_952_576,
            1_518_500_250,
        ];
        for shift in -40..=40 {
            for &m in &multipliers {
                for &x in &edges {
                    assert_eq!(
                        multiply_by_quantized_multiplier(x, m, shift),
                        quant::multiply_by_quantized_multiplier(x, m, shift),
                        "x {x} m {m} shift {shift}"
                    );
                }
            }
            for _ in 0..3000 {
                let (x, m) = (next(), next());
                // Accumulator-sized values too, where the rounding ties are frequent.
                let small = x >> (x as u32 % 24);
                for x in [x, small] {
                    assert_eq!(
                        multiply_by_quantized_multiplier(x, m, shift),
                        quant::multiply_by_quantized_multiplier(x, m, shift),
                        "x {x} m {m} shift {shift}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounds_ties_away_from_zero() {
        // 2^30 is one half in Q31; the right shift by 1 then halves again.
        assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, -1), 1); // 0.75 -> 1
        assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, -1), -1);
        assert_eq!(multiply_by_quantized_multiplier(2, 1 << 30, -1), 1); // 0.5 -> 1
        assert_eq!(multiply_by_quantized_multiplier(-2, 1 << 30, -1), -1);
        assert_eq!(
            multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0),
            i32::MAX
        );
    }
}

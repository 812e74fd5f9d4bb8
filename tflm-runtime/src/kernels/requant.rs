//! The int8 convolutions' per-channel rescale, `MultiplyByQuantizedMultiplier` with its two
//! roundings rewritten as 32-bit steps after one 64-bit product.
//!
//! The reference computes `t = (a * m + 2^30) >> 31` (gemmlowp's doubling high multiply, see
//! [`crate::quant::saturating_rounding_doubling_high_mul`]) and then divides `t` by `2^e`
//! rounding half away from zero. For `e >= 1` and `m >= 0` that is, exactly,
//!
//! ```text
//! u = ((a * m + 2^30) >> 31) - [a < 0]        (fits in i32 for any a and 0 <= m < 2^31)
//! result = ((u >> (e - 1)) + 1) >> 1
//! ```
//!
//! The half-away tie of a negative `t` is the `- [a < 0]` (an exact multiple of `2^31` taken
//! off before the floor; where `a < 0` but `t == 0`, both sides give 0), and
//! `floor((u + 2^(e-1)) / 2^e) == (floor(u / 2^(e-1)) + 1) >> 1` keeps the rounding in 32 bits
//! without overflow (`u <= 2^31 - 2`). Folding the floors once more (`floor(floor(v / 2^31) /
//! 2^(e-1)) = floor(v / 2^(30+e))`), `u >> (e - 1)` is the high word of the 64-bit `a * m +
//! 2^30 - [a < 0] * 2^31` shifted right by `e - 2`, for `e >= 2`. On a Cortex-M4 that is
//! seven instructions ([`dsp::rescale_fold`]: the constant's two words from `a`'s sign, one
//! `SMLAL`, three shift/add steps), with no per-channel constant to build, instead of the
//! reference's mask, remainder and threshold. Channels with `shift >= -1` (a scale of at least
//! one quarter, rare in convolutions) keep the reference path. Tests compare both on random
//! and edge values of every argument.

use super::dsp;
use crate::quant::multiply_by_quantized_multiplier;

/// One output channel's rescale, prepared from its `(multiplier, shift)` pair.
#[derive(Clone, Copy, Debug)]
pub struct ChannelRescale {
    multiplier: i32,
    /// `e - 2` (0..=29) on the folded path; `shift` itself on the reference one.
    shift: i32,
    folded: bool,
}

impl ChannelRescale {
    #[inline(always)]
    pub fn new(multiplier: i32, shift: i8) -> Self {
        let shift = shift as i32;
        // `e - 2` where the right shift `e = -shift` is 2..=31 (one unsigned compare).
        let e2 = (-2 - shift) as u32;
        let folded = e2 <= 29 && multiplier >= 0;
        ChannelRescale {
            multiplier,
            shift: if folded { e2 as i32 } else { shift },
            folded,
        }
    }

    /// `multiply_by_quantized_multiplier(acc, multiplier, shift)`, bit for bit.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i32 {
        if self.folded {
            dsp::rescale_fold(acc, self.multiplier, self.shift)
        } else {
            reference(acc, self.multiplier, self.shift)
        }
    }
}

/// The reference rescale, out of line: channels with a scale of at least one quarter are rare,
/// and inlining it into every output stage cost about 1 KB of code per kernel.
#[cold]
#[inline(never)]
fn reference(acc: i32, multiplier: i32, shift: i32) -> i32 {
    multiply_by_quantized_multiplier(acc, multiplier, shift)
}

/// The rest of an int8 output: `+ zero point`, then the activation clamp.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage {
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

impl OutputStage {
    /// The int8 output of a sum that already holds its bias.
    #[inline(always)]
    pub fn store(&self, acc: i32, rescale: &ChannelRescale) -> i8 {
        let v = rescale.apply(acc).wrapping_add(self.zero_point);
        v.max(self.min).min(self.max) as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_reference_on_edges_and_random_values() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let accs = [
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
        let mults = [0, 1, 1 << 30, i32::MAX, (1 << 30) + 1, 1_518_500_250];
        for shift in -33i8..=3 {
            for &m in &mults {
                for &a in &accs {
                    let r = ChannelRescale::new(m, shift);
                    assert_eq!(
                        r.apply(a),
                        multiply_by_quantized_multiplier(a, m, shift.into()),
                        "{a} {m} {shift}"
                    );
                }
            }
            for _ in 0..20_000 {
                let v = next();
                let a = match v % 3 {
                    0 => v as i32,
                    1 => (v as i32) >> ((v >> 40) % 32),
                    _ => (v >> 32) as i32 % 4096,
                };
                let m = match (v >> 20) % 3 {
                    0 => ((v >> 33) as i32) | (1 << 30),
                    1 => (v >> 33) as i32,
                    _ => -((v >> 34) as i32),
                };
                let r = ChannelRescale::new(m, shift);
                assert_eq!(
                    r.apply(a),
                    multiply_by_quantized_multiplier(a, m, shift.into()),
                    "{a} {m} {shift}"
                );
            }
        }
    }

    #[test]
    fn exhaustive_over_small_accumulators() {
        // Every accumulator in ±2^17 (far beyond an int8 layer's typical sums) for a spread
        // of real multipliers and every right shift.
        for shift in -31..=-1 {
            for m in [1 << 30, 1_234_567_891, i32::MAX, 1_610_612_736] {
                let r = ChannelRescale::new(m, shift);
                for a in -(1 << 17)..(1 << 17) {
                    assert_eq!(
                        r.apply(a),
                        multiply_by_quantized_multiplier(a, m, shift.into())
                    );
                }
            }
        }
    }
}

//! TANH.
//!
//! What LiteRT's reference registration (`Register_TANH_REF`) computes, per type:
//! - int8: a 256-entry table filled at `Prepare` from the f32 `tanhf` (`LUTPopulate<int8_t>`),
//!   then one lookup per element (gemmlowp's fixed-point tanh is only in its
//!   `kFixedPointOptimized` variant).
//! - int16: `reference_integer_ops::Tanh`, interpolating the shared sigmoid table with
//!   tanh(x) = 2·sigmoid(2x) − 1. Input scales 2^-12 and 2^-11 use fixed multipliers 3 and 6;
//!   others a 15-bit multiplier and rounding shift. Output scale 2^-15, zero points 0.
//! - float: `tanhf`, computed as glibc does (see [`tanhf`]).

use super::activations::populate_lut_i8_from_f32;
pub use super::activations::{apply_lut_i8, LUT_I8_LEN};
pub use super::logistic::SigmoidI16Params;
use super::logistic::SIGMOID_TABLE_U16;

/// `tanhf` as glibc (and newlib) compute it: Sun's algorithm on top of `expm1f`, which the
/// `libm` crate ports from the same source. It reproduces glibc's `tanhf` bits (the one LiteRT
/// calls on Linux) where a correctly rounded tanh differs in about 15% of inputs, and it is
/// f32-only, so it is also the fast choice on a Cortex-M4F.
pub fn tanhf(x: f32) -> f32 {
    let bits = x.to_bits() as i32;
    let ix = bits & 0x7FFF_FFFF;
    if ix >= 0x7F80_0000 {
        // ±inf → ±1, NaN → NaN.
        return if bits >= 0 {
            1.0 / x + 1.0
        } else {
            1.0 / x - 1.0
        };
    }
    let z = if ix < 0x41B0_0000 {
        // |x| < 22
        if ix < 0x2400_0000 {
            // |x| < 2^-55 (and ±0): tanh(x) = x.
            return x * (1.0 + x);
        }
        if ix >= 0x3F80_0000 {
            // |x| >= 1
            let t = libm::expm1f(2.0 * x.abs());
            1.0 - 2.0 / (t + 2.0)
        } else {
            let t = libm::expm1f(-2.0 * x.abs());
            -t / (t + 2.0)
        }
    } else {
        1.0
    };
    if bits >= 0 {
        z
    } else {
        -z
    }
}

/// Fills the int8 TANH table from the tensors' `(scale, zero_point)`s (LiteRT's `Prepare`).
pub fn populate_lut_i8(input: (f32, i32), output: (f32, i32), lut: &mut [i8; LUT_I8_LEN]) {
    populate_lut_i8_from_f32(input, output, tanhf, lut);
}

/// Int8 TANH through the table from [`populate_lut_i8`].
pub fn tanh_i8(lut: &[i8; LUT_I8_LEN], input: &[i8], output: &mut [i8]) {
    apply_lut_i8(lut, input, output);
}

impl SigmoidI16Params {
    /// Int16 TANH from the tensors' `(scale, zero_point)`s; `None` where LiteRT rejects them:
    /// zero points must be 0 and the output scale a power of two equal to 2^-15.
    pub fn tanh(input: (f32, i32), output: (f32, i32)) -> Option<Self> {
        if input.1 != 0 || output.1 != 0 || super::add::checked_log2(output.0) != Some(-15) {
            return None;
        }
        match super::add::checked_log2(input.0) {
            Some(l) if l == -12 || l == -11 => Some(SigmoidI16Params {
                input_multiplier: 0,
                input_left_shift: 12 + l,
            }),
            _ => Some(Self::general(input.0)),
        }
    }
}

/// Int16 TANH (`reference_integer_ops::Tanh`), output in Q0.15.
pub fn tanh_i16(p: &SigmoidI16Params, input: &[i16], output: &mut [i16]) {
    let (multiplier, shift) = p.resolved();
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    for (o, &x) in output.iter_mut().zip(input) {
        let v = (x as i32).wrapping_mul(multiplier).wrapping_add(round) >> shift;
        let abs = v.unsigned_abs();
        let uh = (abs >> 8) as usize;
        let result: i32 = if uh >= 255 {
            0xFFFF << 8
        } else {
            let ua = SIGMOID_TABLE_U16[uh] as u32;
            let ub = SIGMOID_TABLE_U16[uh + 1] as u32;
            (ua << 8).wrapping_add((abs & 0xFF).wrapping_mul(ub.wrapping_sub(ua))) as i32
        };
        let result = if v >= 0 {
            result - (1 << 23) + (1 << 7)
        } else {
            -result + (1 << 23) + (1 << 7) - 1
        };
        *o = (result >> 8) as i16;
    }
}

/// Float TANH ([`tanhf`]).
pub fn tanh_f32(input: &[f32], output: &mut [f32]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = tanhf(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_table() {
        // Input 1/32 zp 0, output 1/128 zp 0 (the converter's choice for tanh).
        let mut lut = [0i8; LUT_I8_LEN];
        populate_lut_i8((1.0 / 32.0, 0), (1.0 / 128.0, 0), &mut lut);
        let mut out = [0i8; 5];
        tanh_i8(&lut, &[0, 32, -32, 127, -128], &mut out);
        // tanh(±1) = ±0.761594 → ±97.48 → ±97; tanh(3.97) → 127.9 → 127; tanh(-4) → -127.9 → -128.
        assert_eq!(out, [0, 97, -97, 127, -128]);
    }

    #[test]
    fn int8_table_zero_point_extremes() {
        let mut lut = [0i8; LUT_I8_LEN];
        populate_lut_i8((0.02, -128), (1.0 / 128.0, 0), &mut lut);
        assert_eq!(lut[128], 0); // input -128 is real 0
                                 // 255 · 0.02 = 5.1: tanh = 0.99926 → 127.9 → 128 saturates to 127.
        assert_eq!(lut[127], 127);
        populate_lut_i8((0.02, 127), (1.0 / 128.0, 0), &mut lut);
        assert_eq!(lut[127], 0);
        assert_eq!(lut[128], -128);
    }

    #[test]
    fn int16_paths() {
        let p = SigmoidI16Params::tanh((1.0 / 4096.0, 0), (1.0 / 32768.0, 0)).unwrap();
        assert_eq!((p.input_multiplier, p.input_left_shift), (0, 0));
        let mut out = [0i16; 5];
        tanh_i16(&p, &[0, 4096, -4096, 32767, -32768], &mut out);
        // tanh(±1) · 32768 = ±24956.6; ±8 saturates to 32767 / -32767 (table end).
        assert_eq!(out[0], 0);
        assert!((out[1] as i32 - 24957).abs() <= 2, "{}", out[1]);
        assert!((out[2] as i32 + 24957).abs() <= 2, "{}", out[2]);
        assert!(out[3] >= 32766, "{}", out[3]);
        assert!(out[4] <= -32766, "{}", out[4]);

        let p = SigmoidI16Params::tanh((1.0 / 2048.0, 0), (1.0 / 32768.0, 0)).unwrap();
        assert_eq!(p.resolved(), (6, 0));
        tanh_i16(&p, &[2048, -2048], &mut out[..2]);
        assert!((out[0] as i32 - 24957).abs() <= 2, "{}", out[0]);
        assert!((out[1] as i32 + 24957).abs() <= 2, "{}", out[1]);

        let g = SigmoidI16Params::tanh((0.0005, 0), (1.0 / 32768.0, 0)).unwrap();
        // 0.0005 · 12288 = 6.144, doubled 12 times to 25165.8.
        assert_eq!((g.input_multiplier, g.input_left_shift), (25165, 12));
        tanh_i16(&g, &[2000, -2000], &mut out[..2]);
        assert!((out[0] as i32 - 24957).abs() <= 3, "{}", out[0]);
        assert!((out[1] as i32 + 24957).abs() <= 3, "{}", out[1]);
        assert!(SigmoidI16Params::tanh((0.0005, 0), (1.0 / 16384.0, 0)).is_none());
    }

    #[test]
    fn float_tanh() {
        let mut out = [0f32; 4];
        tanh_f32(&[0.0, 1.0, -20.0, f32::NAN], &mut out);
        assert_eq!(out[0], 0.0);
        assert!((out[1] - 0.761_594_2).abs() < 1e-6);
        assert_eq!(out[2], -1.0);
        assert!(out[3].is_nan());
        assert_eq!(tanhf(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanhf(f32::INFINITY), 1.0);
        assert_eq!(tanhf(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanhf(30.0), 1.0);
        assert_eq!(tanhf(1e-20), 1e-20);
        // Within an ulp or so of the double-precision value everywhere.
        for i in -400..=400 {
            let x = i as f32 * 0.025;
            let d = (tanhf(x) as f64 - libm::tanh(x as f64)).abs();
            assert!(d <= 2.5e-7 * libm::tanh(x as f64).abs().max(1e-30), "{x}");
        }
    }
}

//! QUANTIZE: float → integer (affine), and integer → integer requantization.
//!
//! Float input follows TFLite's `reference_ops::AffineQuantize`: `round(x / scale) + zero_point`
//! with an f32 division, rounding half away from zero, then saturation to the output type.
//! NaN becomes the zero point (it rounds to 0) and ±inf saturate. That is what the C++ kernel
//! does on ARM (TFLite Micro on the target); LiteRT on x86-64 instead turns NaN, ±inf and any
//! `|x / scale| >= 2^31` into `i32::MIN` before adding the zero point (`cvttss2si`), so it
//! outputs the type's minimum there (or, for negative zero points, its maximum).
//!
//! Integer input follows `reference_ops::Requantize`: `(x - in_zp) · in_scale/out_scale` as a
//! Q31 multiplier (computed in double precision), plus the output zero point, saturated.
//! LiteRT accepts int8→int8/uint8, uint8→int8/uint8, int16→int8/int16/int32 and
//! int32→int8/int16; int8→int16/int32 are TFLite Micro's (same arithmetic).

use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Per-op constants of float → integer QUANTIZE: the output tensor's scale and zero point.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct QuantizeParams {
    pub scale: f32,
    pub zero_point: i32,
}

#[inline(always)]
fn affine<O>(
    p: &QuantizeParams,
    input: &[f32],
    output: &mut [O],
    min: i32,
    max: i32,
    narrow: impl Fn(i32) -> O,
) {
    let (scale, zero_point) = (p.scale, p.zero_point);
    for (o, &x) in output.iter_mut().zip(input) {
        // Kept rolled, as the requantizing loops below: a graph's QUANTIZE converts its input
        // or output once (a few hundred elements at most in the peer models), and the
        // eval links every type pair's loop, each about 1 KB unrolled.
        crate::rolled::keep_rolled();
        // `as` saturates and maps NaN to 0 (see the module docs).
        let q = (libm::roundf(x / scale) as i32).saturating_add(zero_point);
        *o = narrow(q.clamp(min, max));
    }
}

/// Float → int8 QUANTIZE.
pub fn quantize_f32_i8(p: &QuantizeParams, input: &[f32], output: &mut [i8]) {
    affine(p, input, output, -128, 127, |q| q as i8);
}

/// Float → int16 QUANTIZE.
pub fn quantize_f32_i16(p: &QuantizeParams, input: &[f32], output: &mut [i16]) {
    affine(p, input, output, -32768, 32767, |q| q as i16);
}

/// Float → uint8 QUANTIZE.
pub fn quantize_f32_u8(p: &QuantizeParams, input: &[f32], output: &mut [u8]) {
    affine(p, input, output, 0, 255, |q| q as u8);
}

/// Per-op constants of integer → integer QUANTIZE.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RequantizeParams {
    /// Q31 multiplier and exponent of `input_scale / output_scale`.
    pub multiplier: i32,
    pub shift: i32,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
}

impl RequantizeParams {
    /// From the tensors' `(scale, zero_point)`s; the ratio is taken in double precision, as in
    /// LiteRT's `Prepare`.
    pub fn new(input: (f32, i32), output: (f32, i32)) -> Self {
        let (multiplier, shift) = quantize_multiplier(input.0 as f64 / output.0 as f64);
        RequantizeParams {
            multiplier,
            shift,
            input_zero_point: input.1,
            output_zero_point: output.1,
        }
    }
}

#[inline(always)]
fn requantize<I: Copy + Into<i64>, O>(
    p: &RequantizeParams,
    input: &[I],
    output: &mut [O],
    min: i32,
    max: i32,
    narrow: impl Fn(i32) -> O,
) {
    let p = *p;
    for (o, &x) in output.iter_mut().zip(input) {
        crate::rolled::keep_rolled();
        // Only int32 inputs can make the difference overflow; wrap as the C++ does in practice.
        let v = (x.into() - p.input_zero_point as i64) as i32;
        let q = multiply_by_quantized_multiplier(v, p.multiplier, p.shift)
            .wrapping_add(p.output_zero_point);
        *o = narrow(q.clamp(min, max));
    }
}

macro_rules! requantize_fns {
    ($($(#[$doc:meta])* $name:ident: $in:ty => $out:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(p: &RequantizeParams, input: &[$in], output: &mut [$out]) {
            requantize(p, input, output, <$out>::MIN as i32, <$out>::MAX as i32, |q| q as $out);
        }
    )*};
}

requantize_fns! {
    /// Int8 → int8 requantization.
    requantize_i8_i8: i8 => i8;
    /// Int8 → int16 requantization (TFLite Micro).
    requantize_i8_i16: i8 => i16;
    /// Int8 → int32 requantization (TFLite Micro).
    requantize_i8_i32: i8 => i32;
    /// Int8 → uint8 requantization.
    requantize_i8_u8: i8 => u8;
    /// Uint8 → int8 requantization.
    requantize_u8_i8: u8 => i8;
    /// Uint8 → uint8 requantization.
    requantize_u8_u8: u8 => u8;
    /// Int16 → int8 requantization.
    requantize_i16_i8: i16 => i8;
    /// Int16 → int16 requantization (LiteRT requires zero points 0).
    requantize_i16_i16: i16 => i16;
    /// Int16 → int32 requantization (keyword_scrambled's last op).
    requantize_i16_i32: i16 => i32;
    /// Int32 → int8 requantization.
    requantize_i32_i8: i32 => i8;
    /// Int32 → int16 requantization.
    requantize_i32_i16: i32 => i16;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_to_int8_rounds_ties_away_from_zero() {
        let p = QuantizeParams {
            scale: 0.5,
            zero_point: -1,
        };
        let mut out = [0i8; 8];
        quantize_f32_i8(
            &p,
            &[0.25, -0.25, 0.75, -0.75, 1.0, 0.0, -0.0, 0.2499],
            &mut out,
        );
        // x/0.5 = 0.5 → 1, -0.5 → -1, 1.5 → 2, -1.5 → -2, 2, 0, 0, 0.4998 → 0; then zp -1.
        assert_eq!(out, [0, -2, 1, -3, 1, -1, -1, -1]);
    }

    #[test]
    fn float_saturation_and_nan() {
        let p = QuantizeParams {
            scale: 0.1,
            zero_point: 127,
        };
        let mut out = [0i8; 6];
        quantize_f32_i8(
            &p,
            &[1.0, -30.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30],
            &mut out,
        );
        assert_eq!(out, [127, -128, 127, 127, -128, 127]);
        let p = QuantizeParams {
            scale: 0.1,
            zero_point: -128,
        };
        quantize_f32_i8(
            &p,
            &[
                1.0,
                -30.0,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -1e30,
            ],
            &mut out,
        );
        assert_eq!(out, [-118, -128, -128, 127, -128, -128]);
    }

    #[test]
    fn float_to_int16_and_uint8() {
        let p = QuantizeParams {
            scale: 1.0 / 32768.0,
            zero_point: 0,
        };
        let mut out = [0i16; 4];
        quantize_f32_i16(&p, &[0.5, -1.0, 1.0, 0.5 / 32768.0], &mut out);
        assert_eq!(out, [16384, -32768, 32767, 1]);
        let p = QuantizeParams {
            scale: 2.0,
            zero_point: 128,
        };
        let mut out = [0u8; 4];
        quantize_f32_u8(&p, &[-1.0, 1.0, -300.0, 300.0], &mut out);
        // -0.5 → -1, 0.5 → 1 (ties away from zero), then saturation.
        assert_eq!(out, [127, 129, 0, 255]);
    }

    #[test]
    fn requantize_int8() {
        // Scale halves: out = (x - zp_in) · 2 + zp_out.
        let p = RequantizeParams::new((0.5, -128), (0.25, 0));
        assert_eq!((p.multiplier, p.shift), (1 << 30, 2));
        let mut out = [0i8; 4];
        requantize_i8_i8(&p, &[-128, -100, -64, 127], &mut out);
        assert_eq!(out, [0, 56, 127, 127]);
        // Scale doubles: (x - 127) / 2. The multiplier 0.5 is 2^30 · 2^0, so only the high
        // multiply rounds, and gemmlowp rounds its negative ties toward zero: -0.5 → 0.
        let p = RequantizeParams::new((0.5, 127), (1.0, 0));
        requantize_i8_i8(&p, &[127, 126, 125, -128], &mut out);
        assert_eq!(out, [0, 0, -1, -127]);
        let p = RequantizeParams::new((0.5, 0), (1.0, 0));
        requantize_i8_i8(&p, &[3, -3, 1, -1], &mut out);
        assert_eq!(out, [2, -1, 1, 0]);
    }

    #[test]
    fn requantize_wider_and_narrower() {
        let p = RequantizeParams::new((0.01, 0), (0.01 / 256.0, 0));
        let mut out16 = [0i16; 3];
        requantize_i8_i16(&p, &[1, -128, 127], &mut out16);
        assert_eq!(out16, [256, -32768, 32512]);
        // int16 probabilities (1/65536, zp -32768) to int32 on 1/32768: no int16 saturation.
        let p = RequantizeParams::new((1.0 / 65536.0, -32768), (1.0 / 32768.0, 0));
        let mut out32 = [0i32; 3];
        requantize_i16_i32(&p, &[0, -32768, 32767], &mut out32);
        assert_eq!(out32, [16384, 0, 32768]);
        let p = RequantizeParams::new((0.001, 0), (0.1, 5));
        let mut out8 = [0i8; 4];
        requantize_i16_i8(&p, &[50, -50, 32767, -32768], &mut out8);
        // 0.5 → 1 (+5), -0.5 → -1 (+5), saturation.
        assert_eq!(out8, [6, 4, 127, -128]);
        let p = RequantizeParams::new((1.0, 0), (1.0, 0));
        requantize_i32_i8(&p, &[1000, -1000, 7, -7], &mut out8);
        assert_eq!(out8, [127, -128, 7, -7]);
        // The multiplier 1 is 2^30 · 2^1: TFLite's left shift wraps extreme int32 inputs.
        requantize_i32_i8(&p, &[i32::MAX, i32::MIN], &mut out8[..2]);
        assert_eq!(out8[..2], [-1, 0]);
        let mut outu = [0u8; 2];
        let p = RequantizeParams::new((1.0, 0), (1.0, 128));
        requantize_i8_u8(&p, &[-128, 127], &mut outu);
        assert_eq!(outu, [0, 255]);
    }
}

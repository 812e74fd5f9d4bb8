//! DEQUANTIZE: integer or float16 → float32.
//!
//! Integer input follows TFLite's `reference_integer_ops::Dequantize`:
//! `f32(f64(scale) · (x - zero_point))`. The double product of a 24-bit significand and an
//! at most 17-bit integer is exact, so rounding it once to f32 equals the f32 product
//! `scale · f32(x - zero_point)`, which is what is computed here (no soft-float double on a
//! Cortex-M4). Per-channel input uses the f32 product directly, as TFLite does.
//!
//! Float16 input is IEEE 754 binary16 stored as `u16` bits; the conversion is exact, including
//! subnormals, signed zeros and infinities. NaNs keep their sign and payload (a signalling NaN
//! stays signalling; x86 F16C hardware would quiet it).

/// Per-op constants of integer DEQUANTIZE: the input tensor's scale and zero point.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DequantizeParams {
    pub scale: f32,
    pub zero_point: i32,
}

#[inline(always)]
fn dequantize<I: Copy + Into<i32>>(p: &DequantizeParams, input: &[I], output: &mut [f32]) {
    let (scale, zero_point) = (p.scale, p.zero_point);
    for (o, &x) in output.iter_mut().zip(input) {
        // Kept rolled (as QUANTIZE's loops): a graph converts its output once, and the eval
        // links every input type's loop.
        crate::rolled::keep_rolled();
        *o = scale * (x.into() - zero_point) as f32;
    }
}

/// Int8 → float32.
pub fn dequantize_i8(p: &DequantizeParams, input: &[i8], output: &mut [f32]) {
    dequantize(p, input, output);
}

/// Int16 → float32.
pub fn dequantize_i16(p: &DequantizeParams, input: &[i16], output: &mut [f32]) {
    dequantize(p, input, output);
}

/// Uint8 → float32.
pub fn dequantize_u8(p: &DequantizeParams, input: &[u8], output: &mut [f32]) {
    dequantize(p, input, output);
}

/// Per-channel int8 → float32: channel `c` (of `scales.len()` channels along the quantized
/// dimension) uses `scales[c]` and `zero_points[c]`; `inner` is the number of elements per
/// channel step (the product of the dimensions after the quantized one). `zero_points` may
/// hold a single value shared by all channels. Does nothing if the parameters are inconsistent.
pub fn dequantize_per_channel_i8(
    scales: &[f32],
    zero_points: &[i32],
    inner: usize,
    input: &[i8],
    output: &mut [f32],
) {
    let channels = scales.len();
    if channels == 0 || inner == 0 || (zero_points.len() != channels && zero_points.len() != 1) {
        return;
    }
    let shared_zp = zero_points.len() == 1;
    for (k, (out, inp)) in output
        .chunks_mut(inner)
        .zip(input.chunks(inner))
        .enumerate()
    {
        let c = k % channels;
        let (scale, zp) = (scales[c], zero_points[if shared_zp { 0 } else { c }]);
        for (o, &x) in out.iter_mut().zip(inp) {
            crate::rolled::keep_rolled();
            *o = scale * (x as i32 - zp) as f32;
        }
    }
}

/// Exact IEEE binary16 → binary32 conversion.
#[inline]
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits & 0x8000) as u32) << 16;
    let exponent = ((bits >> 10) & 0x1F) as u32;
    let mantissa = (bits & 0x03FF) as u32;
    let magnitude = match exponent {
        // Zero or subnormal: mantissa · 2^-24, exact in f32.
        0 => (mantissa as f32 * (1.0 / 16_777_216.0)).to_bits(),
        // Infinity or NaN: all-ones exponent, payload moved to the top of the f32 mantissa.
        0x1F => 0x7F80_0000 | (mantissa << 13),
        // Normal: rebias the exponent (15 → 127).
        _ => ((exponent + 112) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// Float16 (as `u16` bits) → float32.
pub fn dequantize_f16(input: &[u16], output: &mut [f32]) {
    for (o, &h) in output.iter_mut().zip(input) {
        crate::rolled::keep_rolled();
        *o = f16_to_f32(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_zero_point_extremes() {
        let p = DequantizeParams {
            scale: 0.5,
            zero_point: -128,
        };
        let mut out = [0f32; 3];
        dequantize_i8(&p, &[-128, 127, 0], &mut out);
        assert_eq!(out, [0.0, 127.5, 64.0]);
        let p = DequantizeParams {
            scale: 0.25,
            zero_point: 127,
        };
        dequantize_i8(&p, &[-128, 127, 0], &mut out);
        assert_eq!(out, [-63.75, 0.0, -31.75]);
    }

    #[test]
    fn matches_double_precision_product() {
        // The f32 product equals the rounded double product for every int16 input.
        let p = DequantizeParams {
            scale: 0.000_123_456_7,
            zero_point: -3,
        };
        let input: [i16; 6] = [i16::MIN, -12345, -1, 0, 999, i16::MAX];
        let mut out = [0f32; 6];
        dequantize_i16(&p, &input, &mut out);
        for (o, &x) in out.iter().zip(&input) {
            let want = (p.scale as f64 * (x as i32 + 3) as f64) as f32;
            assert_eq!(o.to_bits(), want.to_bits());
        }
        let mut out = [0f32; 2];
        dequantize_u8(
            &DequantizeParams {
                scale: 2.0,
                zero_point: 128,
            },
            &[0, 255],
            &mut out,
        );
        assert_eq!(out, [-256.0, 254.0]);
    }

    #[test]
    fn per_channel() {
        // Shape [2, 3] quantized along dim 1 (3 channels, inner 1) and along dim 0 (inner 3).
        let x = [1i8, 1, 1, 2, 2, 2];
        let mut out = [0f32; 6];
        dequantize_per_channel_i8(&[1.0, 0.5, 0.25], &[0, 1, -1], 1, &x, &mut out);
        assert_eq!(out, [1.0, 0.0, 0.5, 2.0, 0.5, 0.75]);
        dequantize_per_channel_i8(&[1.0, 0.5], &[0], 3, &x, &mut out);
        assert_eq!(out, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn float16_edge_values() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x7BFF), 65504.0); // largest finite
        assert_eq!(f16_to_f32(0x0400), 6.103_515_6e-5); // smallest normal, 2^-14
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal, 2^-24
        assert_eq!(f16_to_f32(0x03FF), 1023.0 / 16_777_216.0); // largest subnormal
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95); // 1/3 rounded to half
        assert_eq!(f16_to_f32(0x0000).to_bits(), 0);
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000); // -0.0 keeps its sign
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xFC00), f32::NEG_INFINITY);
        let qnan = f16_to_f32(0x7E00);
        assert!(qnan.is_nan());
        assert_eq!(qnan.to_bits(), 0x7FC0_0000);
        let snan = f16_to_f32(0xFD01);
        assert!(snan.is_nan());
        assert_eq!(snan.to_bits(), 0xFFA0_2000);
        let mut out = [0f32; 2];
        dequantize_f16(&[0x3800, 0xB800], &mut out);
        assert_eq!(out, [0.5, -0.5]);
    }

    #[test]
    fn float16_all_finite_values_round_trip_through_f64_formula() {
        for h in 0u16..=0xFFFF {
            let e = (h >> 10) & 0x1F;
            if e == 0x1F {
                continue;
            }
            let m = (h & 0x3FF) as f64;
            let v = if e == 0 {
                m * libm::exp2(-24.0)
            } else {
                (1.0 + m / 1024.0) * libm::exp2(e as f64 - 15.0)
            };
            let v = if h & 0x8000 != 0 { -v } else { v };
            assert_eq!(f16_to_f32(h) as f64, v, "{h:#06x}");
        }
    }
}

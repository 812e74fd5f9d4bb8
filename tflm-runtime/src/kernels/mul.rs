//! MUL: elementwise product with numpy broadcasting and a fused activation.
//!
//! Quantized: the offset inputs are multiplied in 32 bits and the product rescaled by one Q31
//! multiplier (`in1_scale * in2_scale / out_scale`), as in TFLite's
//! `reference_integer_ops::MulElementwise`. Int16 inputs are symmetric (zero points 0).

use super::add::{activation_range_i32, clamp_f32};
use super::broadcast::binary;
use crate::quant::{
    activation_range_f32, activation_range_quantized, multiply_by_quantized_multiplier,
    quantize_multiplier, rounding_divide_by_pot_i16, saturating_rounding_doubling_high_mul_i16,
};
use crate::types::Activation;

/// Per-op constants of quantized MUL, computed once at init.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MulParams {
    /// Minus the input zero points.
    pub input1_offset: i32,
    pub input2_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Q31 multiplier and exponent of `in1_scale * in2_scale / out_scale`.
    pub output_multiplier: i32,
    pub output_shift: i32,
    /// Fused activation clamp, in output quanta.
    pub activation_min: i32,
    pub activation_max: i32,
}

impl MulParams {
    fn new(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: (i32, i32),
    ) -> Self {
        // LiteRT multiplies and divides the f32 scales in f32, then widens.
        let real = (input1.0 * input2.0 / output.0) as f64;
        let (output_multiplier, output_shift) = quantize_multiplier(real);
        MulParams {
            input1_offset: -input1.1,
            input2_offset: -input2.1,
            output_offset: output.1,
            output_multiplier,
            output_shift,
            activation_min: activation.0,
            activation_max: activation.1,
        }
    }

    /// Int8 MUL from the tensors' `(scale, zero_point)`s.
    pub fn int8(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
    ) -> Self {
        let act = activation_range_quantized(activation, output.0, output.1, -128, 127);
        Self::new(input1, input2, output, act)
    }

    /// Int16 MUL; `None` unless all zero points are 0 (LiteRT's requirement, which also keeps
    /// the 32-bit product from overflowing).
    pub fn int16(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
    ) -> Option<Self> {
        if input1.1 != 0 || input2.1 != 0 || output.1 != 0 {
            return None;
        }
        let act = activation_range_quantized(activation, output.0, output.1, -32768, 32767);
        Some(Self::new(input1, input2, output, act))
    }

    /// Int16 inputs, int8 output (LiteRT's mixed path): the inputs are read as Q0.15 and the
    /// product lands on scale 1/128; the scales themselves are not used, only the output zero
    /// point and the activation clamp.
    pub fn int16_to_int8(output: (f32, i32), activation: Activation) -> Self {
        let act = activation_range_quantized(activation, output.0, output.1, -128, 127);
        MulParams {
            input1_offset: 0,
            input2_offset: 0,
            output_offset: output.1,
            output_multiplier: 0,
            output_shift: 0,
            activation_min: act.0,
            activation_max: act.1,
        }
    }
}

#[inline(always)]
fn mul_quantized<T: Copy + Into<i32>>(
    p: &MulParams,
    in1: &[T],
    shape1: &[usize],
    in2: &[T],
    shape2: &[usize],
    out: &mut [T],
    narrow: impl Fn(i32) -> T,
) {
    let p = *p;
    binary(in1, shape1, in2, shape2, out, |a: T, b: T| {
        let prod = p
            .input1_offset
            .wrapping_add(a.into())
            .wrapping_mul(p.input2_offset.wrapping_add(b.into()));
        let raw = multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift)
            .wrapping_add(p.output_offset);
        narrow(raw.max(p.activation_min).min(p.activation_max))
    });
}

/// Int8 MUL. Shapes broadcast numpy-style; `out` holds the broadcast shape's elements.
pub fn mul_i8(
    p: &MulParams,
    in1: &[i8],
    shape1: &[usize],
    in2: &[i8],
    shape2: &[usize],
    out: &mut [i8],
) {
    mul_quantized(p, in1, shape1, in2, shape2, out, |x| x as i8);
}

/// Int16 MUL (params from [`MulParams::int16`]).
pub fn mul_i16(
    p: &MulParams,
    in1: &[i16],
    shape1: &[usize],
    in2: &[i16],
    shape2: &[usize],
    out: &mut [i16],
) {
    mul_quantized(p, in1, shape1, in2, shape2, out, |x| x as i16);
}

/// Int16 × int16 → int8 MUL (params from [`MulParams::int16_to_int8`]): Q0.15 product rounded
/// to 1/128 steps. LiteRT runs this path without broadcasting; here shapes may broadcast.
pub fn mul_i16_to_i8(
    p: &MulParams,
    in1: &[i16],
    shape1: &[usize],
    in2: &[i16],
    shape2: &[usize],
    out: &mut [i8],
) {
    let offset = p.output_offset;
    let (lo, hi) = (
        p.activation_min.wrapping_sub(offset),
        p.activation_max.wrapping_sub(offset),
    );
    binary(in1, shape1, in2, shape2, out, |a: i16, b: i16| {
        let prod = saturating_rounding_doubling_high_mul_i16(a, b);
        let rescaled = rounding_divide_by_pot_i16(prod, 8) as i32;
        // TFLite clamps in int16 before adding the zero point, then narrows to int8.
        let clamped = (rescaled.min(hi as i16 as i32)).max(lo as i16 as i32);
        offset.wrapping_add(clamped) as i8
    });
}

/// Float MUL with the fused activation's clamp (NaN passes through).
pub fn mul_f32(
    activation: Activation,
    in1: &[f32],
    shape1: &[usize],
    in2: &[f32],
    shape2: &[usize],
    out: &mut [f32],
) {
    let (lo, hi) = activation_range_f32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        clamp_f32(a * b, lo, hi)
    });
}

/// Int32 MUL (wrapping on overflow) with the fused activation's clamp.
pub fn mul_i32(
    activation: Activation,
    in1: &[i32],
    shape1: &[usize],
    in2: &[i32],
    shape2: &[usize],
    out: &mut [i32],
) {
    let (lo, hi) = activation_range_i32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        a.wrapping_mul(b).max(lo).min(hi)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_products_and_saturation() {
        // Scales 0.5 × 0.5 / 0.25 = 1: q = (a - zp1)(b - zp2) + zp_out.
        let p = MulParams::int8((0.5, 0), (0.5, 0), (0.25, 0), Activation::None);
        assert_eq!((p.output_multiplier, p.output_shift), (1 << 30, 1));
        let mut out = [0i8; 5];
        mul_i8(
            &p,
            &[3, -3, 12, -128, 127],
            &[5],
            &[4, 4, 11, -128, -1],
            &[5],
            &mut out,
        );
        assert_eq!(out, [12, -12, 127, 127, -127]);
    }

    #[test]
    fn int8_zero_points_at_the_extremes_and_rounding() {
        // in1 zp -128, in2 zp 127, scale 0.5 each, out scale 1 zp 0: (a+128)(b-127)/4.
        let p = MulParams::int8((0.5, -128), (0.5, 127), (1.0, 0), Activation::None);
        let mut out = [0i8; 5];
        mul_i8(
            &p,
            &[-128, -127, -126, -126, -122],
            &[5],
            &[0, 125, 125, 121, 117],
            &[5],
            &mut out,
        );
        // 0; 1*-2/4 = -0.5 → -1 (away from zero); 2*-2/4 = -1; 2*-6/4 = -3; 6*-10/4 = -15.
        assert_eq!(out, [0, -1, -1, -3, -15]);
    }

    #[test]
    fn int8_relu_and_broadcast() {
        let p = MulParams::int8((1.0, 0), (1.0, 0), (1.0, -10), Activation::Relu);
        assert_eq!(p.activation_min, -10);
        let mut out = [0i8; 6];
        // [2,1] × [1,3]
        mul_i8(&p, &[2, -1], &[2, 1], &[1, 2, 3], &[1, 3], &mut out);
        assert_eq!(out, [-8, -6, -4, -10, -10, -10]);
    }

    #[test]
    fn int16_and_int16_to_int8() {
        let p = MulParams::int16(
            (1.0 / 256.0, 0),
            (1.0 / 256.0, 0),
            (1.0 / 256.0, 0),
            Activation::None,
        )
        .unwrap();
        let mut out = [0i16; 4];
        mul_i16(
            &p,
            &[256, -512, 32767, 384],
            &[4],
            &[256, 256, 32767, 1],
            &[4],
            &mut out,
        );
        // 1*1, -2*1, saturate, 1.5/256 → 1.5 → 2.
        assert_eq!(out, [256, -512, 32767, 2]);
        assert!(MulParams::int16((1.0, 1), (1.0, 0), (1.0, 0), Activation::None).is_none());

        let p = MulParams::int16_to_int8((1.0 / 128.0, 0), Activation::None);
        let mut out = [0i8; 4];
        // 0.5*0.5 = 0.25 → 32 on 1/128; -1*-1 saturates to 32767 → 128 → 127.
        mul_i16_to_i8(
            &p,
            &[16384, -32768, 16384, 128],
            &[4],
            &[16384, -32768, -16384, 256],
            &[4],
            &mut out,
        );
        assert_eq!(out, [32, 127, -32, 0]);
    }

    #[test]
    fn float_and_int32() {
        let mut out = [0f32; 3];
        mul_f32(
            Activation::ReluN1To1,
            &[0.5, 4.0, -4.0],
            &[3],
            &[0.5],
            &[1],
            &mut out,
        );
        assert_eq!(out, [0.25, 1.0, -1.0]);
        let mut out = [0i32; 2];
        mul_i32(
            Activation::None,
            &[65536, -3],
            &[2],
            &[65536, 5],
            &[2],
            &mut out,
        );
        assert_eq!(out, [0, -15]);
    }
}

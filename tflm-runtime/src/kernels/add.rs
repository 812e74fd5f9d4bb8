//! ADD: elementwise sum with numpy broadcasting and a fused activation.
//!
//! Quantized inputs are brought to a common scale before summing, as TFLite's reference kernels
//! do (`reference_integer_ops::Add`, `reference_ops::AddElementwise`): each input, offset by its
//! zero point, is shifted left (20 bits for int8, 15 for int16) and scaled by a multiplier below
//! one, the two are summed in 32 bits, and the sum is rescaled to the output. Int16 with
//! power-of-two scales and `pot_scale_int16` set takes LiteRT's shift-only path instead (which
//! LiteRT runs on equal shapes only; here it broadcasts like the others).
//! [`AddSubParams`] is shared with SUB, whose constructors live in `sub.rs`.

use super::broadcast::binary;
use crate::quant::{
    activation_range_f32, activation_range_quantized, multiply_by_quantized_multiplier,
    quantize_multiplier, rounding_divide_by_pot, rounding_divide_by_pot_i16,
    saturating_rounding_doubling_high_mul,
};
use crate::types::Activation;

/// Per-op constants of quantized ADD and SUB (TFLite's `ArithmeticParams` subset), computed once
/// at init from the tensors' scales and zero points.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AddSubParams {
    /// 1: int16 power-of-two path (inputs only right-shifted, see `input*_shift`); 0: general.
    pub pot: i32,
    /// Headroom shift applied to both offset inputs (20 for int8, 15 for int16); general path.
    pub left_shift: i32,
    /// Minus the input zero points.
    pub input1_offset: i32,
    pub input2_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Q31 multipliers and exponents (`<= 0`) of the inputs, general path.
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    /// Q31 multiplier and exponent of the output rescale, general path.
    pub output_multiplier: i32,
    pub output_shift: i32,
    /// Fused activation clamp, in output quanta.
    pub activation_min: i32,
    pub activation_max: i32,
}

impl AddSubParams {
    /// The general rescaling path (LiteRT's `Prepare` of ADD and `PrepareGeneralSubOp`): the
    /// multipliers are derived in double precision from the f32 scales, exactly as there.
    pub(crate) fn general(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        left_shift: i32,
        activation: (i32, i32),
    ) -> Self {
        let twice_max_input_scale = 2.0 * input1.0.max(input2.0) as f64;
        let real_input1 = input1.0 as f64 / twice_max_input_scale;
        let real_input2 = input2.0 as f64 / twice_max_input_scale;
        let real_output = twice_max_input_scale / ((1i64 << left_shift) as f64 * output.0 as f64);
        let (input1_multiplier, input1_shift) = quantize_multiplier(real_input1);
        let (input2_multiplier, input2_shift) = quantize_multiplier(real_input2);
        let (output_multiplier, output_shift) = quantize_multiplier(real_output);
        AddSubParams {
            pot: 0,
            left_shift,
            input1_offset: -input1.1,
            input2_offset: -input2.1,
            output_offset: output.1,
            input1_multiplier,
            input1_shift,
            input2_multiplier,
            input2_shift,
            output_multiplier,
            output_shift,
            activation_min: activation.0,
            activation_max: activation.1,
        }
    }

    /// The int16 power-of-two path: `None` unless all zero points are 0, all scales are powers of
    /// two (TFLite's `CheckedLog2`) and at most one input is finer than the output, which is what
    /// LiteRT accepts.
    pub(crate) fn pot_int16(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: (i32, i32),
    ) -> Option<Self> {
        if input1.1 != 0 || input2.1 != 0 || output.1 != 0 {
            return None;
        }
        let l1 = checked_log2(input1.0)?;
        let l2 = checked_log2(input2.0)?;
        let lo = checked_log2(output.0)?;
        let (s1, s2) = (l1 - lo, l2 - lo);
        if (s1 != 0 && s2 != 0) || s1 > 0 || s2 > 0 {
            return None;
        }
        Some(AddSubParams {
            pot: 1,
            left_shift: 0,
            input1_offset: 0,
            input2_offset: 0,
            output_offset: 0,
            input1_multiplier: 0,
            input1_shift: s1,
            input2_multiplier: 0,
            input2_shift: s2,
            output_multiplier: 0,
            output_shift: 0,
            activation_min: activation.0,
            activation_max: activation.1,
        })
    }

    /// Int8 ADD from the tensors' `(scale, zero_point)`s.
    ///
    /// LiteRT aborts when the output multiplier is not below one (output scale under
    /// `max(input scales) / 2^19`); such params are still computed here and run as an ordinary
    /// multiplier with a left shift.
    pub fn add_int8(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
    ) -> Self {
        let act = activation_range_quantized(activation, output.0, output.1, -128, 127);
        Self::general(input1, input2, output, 20, act)
    }

    /// Int16 ADD. `pot_scale_int16` is the model's `AddOptions.pot_scale_int16` (schema default
    /// true; TFLite's int16x8 quantizer writes false). With it set and power-of-two scales LiteRT
    /// takes the shift-only path; `None` where LiteRT rejects that path's constraints.
    pub fn add_int16(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
        pot_scale_int16: bool,
    ) -> Option<Self> {
        let act = activation_range_quantized(activation, output.0, output.1, -32768, 32767);
        if pot_scale_int16 && all_pot(input1.0, input2.0, output.0) {
            Self::pot_int16(input1, input2, output, act)
        } else {
            Some(Self::general(input1, input2, output, 15, act))
        }
    }
}

/// True when the three scales all pass TFLite's power-of-two test.
pub(crate) fn all_pot(s1: f32, s2: f32, s3: f32) -> bool {
    checked_log2(s1).is_some() && checked_log2(s2).is_some() && checked_log2(s3).is_some()
}

/// TFLite's `CheckedLog2`: `Some(round(log2 x))` when `x > 0` is within 0.001 (in log2) of a
/// power of two, computed in f32 as there.
pub(crate) fn checked_log2(x: f32) -> Option<i32> {
    if x.is_nan() || x <= 0.0 {
        return None;
    }
    let x_log2 = libm::logf(x) * (1.0f32 / libm::logf(2.0));
    let rounded = libm::roundf(x_log2);
    if libm::fabsf(x_log2 - rounded) < 1e-3 {
        Some(rounded as i32)
    } else {
        None
    }
}

/// `x * multiplier * 2^shift` for `shift <= 0` (TFLite's
/// `MultiplyByQuantizedMultiplierSmallerThanOneExp`), the input-side rescale.
#[inline(always)]
pub(crate) fn scale_input(x: i32, multiplier: i32, shift: i32) -> i32 {
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift)
}

/// A quantized element type: widening to and (after clamping) narrowing from i32.
pub(crate) trait QuantInt: Copy + Into<i32> {
    fn narrow(x: i32) -> Self;
}

impl QuantInt for i8 {
    #[inline(always)]
    fn narrow(x: i32) -> Self {
        x as i8
    }
}

impl QuantInt for i16 {
    #[inline(always)]
    fn narrow(x: i32) -> Self {
        x as i16
    }
}

/// The general quantized path shared by ADD and SUB: `combine` joins the two rescaled inputs.
#[inline(always)]
pub(crate) fn general_op<T: QuantInt>(
    p: &AddSubParams,
    in1: &[T],
    shape1: &[usize],
    in2: &[T],
    shape2: &[usize],
    out: &mut [T],
    combine: impl Fn(i32, i32) -> i32,
) {
    let p = *p;
    let input_shift = p.left_shift.clamp(0, 30);
    binary(in1, shape1, in2, shape2, out, |a: T, b: T| {
        let a = p
            .input1_offset
            .wrapping_add(a.into())
            .wrapping_shl(input_shift as u32);
        let b = p
            .input2_offset
            .wrapping_add(b.into())
            .wrapping_shl(input_shift as u32);
        let a = scale_input(a, p.input1_multiplier, p.input1_shift);
        let b = scale_input(b, p.input2_multiplier, p.input2_shift);
        let raw =
            multiply_by_quantized_multiplier(combine(a, b), p.output_multiplier, p.output_shift)
                .wrapping_add(p.output_offset);
        T::narrow(raw.max(p.activation_min).min(p.activation_max))
    });
}

/// The int16 power-of-two path shared by ADD and SUB: one input is rounding-right-shifted onto
/// the output scale, then the two are combined and clamped (int16 saturation included).
#[inline(always)]
pub(crate) fn pot_op(
    p: &AddSubParams,
    in1: &[i16],
    shape1: &[usize],
    in2: &[i16],
    shape2: &[usize],
    out: &mut [i16],
    combine: impl Fn(i32, i32) -> i32,
) {
    let (s1, s2) = (
        (-p.input1_shift).clamp(0, 31),
        (-p.input2_shift).clamp(0, 31),
    );
    let (lo, hi) = (p.activation_min, p.activation_max);
    binary(in1, shape1, in2, shape2, out, |a: i16, b: i16| {
        let a = rounding_divide_by_pot_i16(a, s1) as i32;
        let b = rounding_divide_by_pot_i16(b, s2) as i32;
        combine(a, b).max(lo).min(hi) as i16
    });
}

/// The input-side half of int8 ADD/SUB tabulated per input value: entry `x as u8` of `input1`
/// holds `((x - zp1) << 20) · multiplier1`, as the general path computes it. With the tables
/// (2 KiB of arena, filled once at init by [`AddInputTablesI8::populate`]), each element costs
/// two loads and the output rescale instead of three fixed-point multiplies: same bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AddInputTablesI8 {
    pub input1: [i32; 256],
    pub input2: [i32; 256],
}

impl AddInputTablesI8 {
    /// Fills both tables from int8 ADD or SUB params.
    pub fn populate(p: &AddSubParams, tables: &mut AddInputTablesI8) {
        let shift = p.left_shift.clamp(0, 30) as u32;
        for (i, (t1, t2)) in tables
            .input1
            .iter_mut()
            .zip(tables.input2.iter_mut())
            .enumerate()
        {
            let x = i as u8 as i8 as i32;
            let a = p.input1_offset.wrapping_add(x).wrapping_shl(shift);
            let b = p.input2_offset.wrapping_add(x).wrapping_shl(shift);
            *t1 = scale_input(a, p.input1_multiplier, p.input1_shift);
            *t2 = scale_input(b, p.input2_multiplier, p.input2_shift);
        }
    }
}

/// The int8 general path on tabulated inputs, shared by ADD and SUB.
#[inline(always)]
pub(crate) fn general_op_tables_i8(
    p: &AddSubParams,
    tables: &AddInputTablesI8,
    (in1, shape1): (&[i8], &[usize]),
    (in2, shape2): (&[i8], &[usize]),
    out: &mut [i8],
    combine: impl Fn(i32, i32) -> i32,
) {
    let p = *p;
    let (t1, t2) = (&tables.input1, &tables.input2);
    binary(in1, shape1, in2, shape2, out, |a: i8, b: i8| {
        let a = t1[a as u8 as usize];
        let b = t2[b as u8 as usize];
        let raw =
            multiply_by_quantized_multiplier(combine(a, b), p.output_multiplier, p.output_shift)
                .wrapping_add(p.output_offset);
        raw.max(p.activation_min).min(p.activation_max) as i8
    });
}

/// [`add_i8`] with the inputs' rescale looked up in [`AddInputTablesI8`].
pub fn add_i8_tables(
    p: &AddSubParams,
    tables: &AddInputTablesI8,
    in1: &[i8],
    shape1: &[usize],
    in2: &[i8],
    shape2: &[usize],
    out: &mut [i8],
) {
    general_op_tables_i8(p, tables, (in1, shape1), (in2, shape2), out, |a, b| {
        a.wrapping_add(b)
    });
}

/// Int8 ADD. Shapes broadcast numpy-style; `out` holds the broadcast shape's elements.
pub fn add_i8(
    p: &AddSubParams,
    in1: &[i8],
    shape1: &[usize],
    in2: &[i8],
    shape2: &[usize],
    out: &mut [i8],
) {
    general_op(p, in1, shape1, in2, shape2, out, |a, b| a.wrapping_add(b));
}

/// Int16 ADD (general or power-of-two path, as chosen by [`AddSubParams::add_int16`]).
pub fn add_i16(
    p: &AddSubParams,
    in1: &[i16],
    shape1: &[usize],
    in2: &[i16],
    shape2: &[usize],
    out: &mut [i16],
) {
    if p.pot != 0 {
        pot_op(p, in1, shape1, in2, shape2, out, |a, b| a + b);
    } else {
        general_op(p, in1, shape1, in2, shape2, out, |a, b| a.wrapping_add(b));
    }
}

/// Float ADD with the fused activation's clamp (+inf becomes `f32::MAX` even without one, and
/// NaN passes through, as in TFLite).
pub fn add_f32(
    activation: Activation,
    in1: &[f32],
    shape1: &[usize],
    in2: &[f32],
    shape2: &[usize],
    out: &mut [f32],
) {
    let (lo, hi) = activation_range_f32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        clamp_f32(a + b, lo, hi)
    });
}

/// Int32 ADD (wrapping on overflow, as TFLite's in practice) with the fused activation's clamp.
pub fn add_i32(
    activation: Activation,
    in1: &[i32],
    shape1: &[usize],
    in2: &[i32],
    shape2: &[usize],
    out: &mut [i32],
) {
    let (lo, hi) = activation_range_i32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        a.wrapping_add(b).max(lo).min(hi)
    });
}

/// TFLite's `ActivationFunctionWithMinMax` on floats: `min(max(x, lo), hi)` with C++'s
/// `std::max`/`std::min`, which keep NaN in `x`.
#[inline(always)]
pub(crate) fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if hi < x {
        hi
    } else {
        x
    }
}

/// TFLite's `CalculateActivationRange` for int32 outputs.
pub(crate) fn activation_range_i32(activation: Activation) -> (i32, i32) {
    match activation {
        Activation::None => (i32::MIN, i32::MAX),
        Activation::Relu => (0, i32::MAX),
        Activation::Relu6 => (0, 6),
        Activation::ReluN1To1 => (-1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_same_scale_adds_exactly() {
        // Equal scales 0.5, zero points 0: real sum is representable, so q = a + b.
        let p = AddSubParams::add_int8((0.5, 0), (0.5, 0), (0.5, 0), Activation::None);
        assert_eq!(p.input1_multiplier, 1 << 30);
        assert_eq!(p.input1_shift, 0);
        let a = [1i8, -5, 60, 100, -100];
        let b = [2i8, 5, 60, 100, -100];
        let mut out = [0i8; 5];
        add_i8(&p, &a, &[5], &b, &[5], &mut out);
        assert_eq!(out, [3, 0, 120, 127, -128]);
    }

    #[test]
    fn tables_give_the_same_bits() {
        let p = AddSubParams::add_int8((0.037, -128), (0.011, 127), (0.05, 3), Activation::Relu);
        let mut t = AddInputTablesI8 {
            input1: [0; 256],
            input2: [0; 256],
        };
        AddInputTablesI8::populate(&p, &mut t);
        let a: [i8; 256] = core::array::from_fn(|i| i as u8 as i8);
        let b: [i8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(77) as i8);
        let (mut direct, mut tabled) = ([0i8; 256], [0i8; 256]);
        add_i8(&p, &a, &[256], &b, &[256], &mut direct);
        add_i8_tables(&p, &t, &a, &[256], &b, &[256], &mut tabled);
        assert_eq!(direct, tabled);
        // Broadcast too: [16,16] + [16].
        add_i8(&p, &a, &[16, 16], &b[..16], &[16], &mut direct);
        add_i8_tables(&p, &t, &a, &[16, 16], &b[..16], &[16], &mut tabled);
        assert_eq!(direct, tabled);
    }

    #[test]
    fn int8_zero_points_at_the_extremes() {
        // in1 zp -128 (real = (q+128)*0.1), in2 zp 127 (real = (q-127)*0.1), out zp 0 scale 0.1.
        let p = AddSubParams::add_int8((0.1, -128), (0.1, 127), (0.1, 0), Activation::None);
        let a = [-128i8, -28, 127];
        let b = [127i8, 27, -128];
        let mut out = [0i8; 3];
        add_i8(&p, &a, &[3], &b, &[3], &mut out);
        // 0 + 0; 10 - 10; 25.5 - 25.5.
        assert_eq!(out, [0, 0, 0]);
        let mut out = [0i8; 3];
        add_i8(
            &p,
            &[127, 127, -128],
            &[3],
            &[127, 126, 127],
            &[3],
            &mut out,
        );
        // 25.5 + 0 → 255 saturates; 25.5 - 0.1 → 254 saturates; 0 + 0 = 0.
        assert_eq!(out, [127, 127, 0]);
    }

    #[test]
    fn int8_rounding_of_different_scales() {
        // in1 scale 0.1, in2 scale 0.2, out scale 0.3: 0.1*a + 0.2*b over 0.3.
        let p = AddSubParams::add_int8((0.1, 0), (0.2, 0), (0.3, 0), Activation::None);
        let a = [1i8, 2, 3, -1, -2, 10, -128];
        let b = [0i8, 0, 0, 0, 0, 1, -128];
        let mut out = [0i8; 7];
        add_i8(&p, &a, &[7], &b, &[7], &mut out);
        // 1/3 → 0, 2/3 → 1, 1 → 1, -1/3 → 0, -2/3 → -1, 12/3 = 4, -384/3 = -128.
        assert_eq!(out, [0, 1, 1, 0, -1, 4, -128]);
    }

    #[test]
    fn int8_relu6_clamp_and_broadcast() {
        // Scale 0.05 zp -100: RELU6 clamps to [-100, 20].
        let p = AddSubParams::add_int8((0.05, -100), (0.05, -100), (0.05, -100), Activation::Relu6);
        assert_eq!((p.activation_min, p.activation_max), (-100, 20));
        // [1,2,3,1] + [1,1,3,4]
        let a = [-100i8, -90, -80, -70, -60, -50];
        let b = [-100i8, -99, -98, -97, -110, -109, -108, -107, 0, 10, 20, 30];
        let mut out = [0i8; 24];
        add_i8(&p, &a, &[1, 2, 3, 1], &b, &[1, 1, 3, 4], &mut out);
        // out[i,j,k] = clamp(a[i,j] + b[j,k] + 100).
        let want: [i8; 24] = [
            -100, -99, -98, -97, -100, -99, -98, -97, 20, 20, 20, 20, -70, -69, -68, -67, -70, -69,
            -68, -67, 20, 20, 20, 20,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn int16_general_and_pot() {
        let p = AddSubParams::add_int16(
            (1.0 / 1024.0, 0),
            (1.0 / 2048.0, 0),
            (1.0 / 1024.0, 0),
            Activation::None,
            true,
        )
        .unwrap();
        assert_eq!((p.pot, p.input1_shift, p.input2_shift), (1, 0, -1));
        let mut out = [0i16; 4];
        add_i16(
            &p,
            &[100, -100, 32000, -32768],
            &[4],
            &[3, -3, 2000, -2],
            &[4],
            &mut out,
        );
        // b/2 rounded half away from zero: 2, -2, 1000, -1; then saturate.
        assert_eq!(out, [102, -102, 32767, -32768]);

        // Same scales without pot_scale_int16: general path, same sums here.
        let g = AddSubParams::add_int16(
            (1.0 / 1024.0, 0),
            (1.0 / 1024.0, 0),
            (1.0 / 1024.0, 0),
            Activation::None,
            false,
        )
        .unwrap();
        assert_eq!((g.pot, g.left_shift), (0, 15));
        add_i16(
            &g,
            &[100, -100, 32000, -32768],
            &[4],
            &[3, -3, 2000, -2],
            &[4],
            &mut out,
        );
        assert_eq!(out, [103, -103, 32767, -32768]);

        // Both inputs finer than the output: LiteRT rejects the pot path.
        assert!(AddSubParams::add_int16(
            (1.0 / 4096.0, 0),
            (1.0 / 4096.0, 0),
            (1.0 / 1024.0, 0),
            Activation::None,
            true
        )
        .is_none());
    }

    #[test]
    fn float_and_int32() {
        let mut out = [0f32; 4];
        add_f32(
            Activation::Relu,
            &[1.0, -3.0, f32::NAN, f32::INFINITY],
            &[4],
            &[0.5],
            &[1],
            &mut out,
        );
        assert_eq!(out[..2], [1.5, 0.0]);
        assert!(out[2].is_nan());
        assert_eq!(out[3], f32::MAX);
        let mut out = [0i32; 3];
        add_i32(
            Activation::None,
            &[i32::MAX, 1, -7],
            &[3],
            &[1, 2, 3],
            &[3],
            &mut out,
        );
        assert_eq!(out, [i32::MIN, 3, -4]);
    }

    #[test]
    fn checked_log2_accepts_near_powers() {
        assert_eq!(checked_log2(0.25), Some(-2));
        assert_eq!(checked_log2(1.0 / 32768.0), Some(-15));
        assert_eq!(checked_log2(0.3), None);
        assert_eq!(checked_log2(0.0), None);
        assert_eq!(checked_log2(0.25 * 1.0002), Some(-2));
    }
}

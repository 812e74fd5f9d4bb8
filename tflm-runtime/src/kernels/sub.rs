//! SUB: elementwise difference with numpy broadcasting and a fused activation.
//!
//! The quantized math is ADD's (same [`AddSubParams`], same rescaling, see `add.rs`) with the
//! rescaled inputs subtracted. LiteRT's SUB differs from ADD only in its `Prepare`: an output
//! multiplier above one is allowed (`QuantizeMultiplierGreaterThanOne`), and int16 zero points
//! need not be 0 on the general path.

use super::add::{activation_range_i32, clamp_f32, general_op, general_op_tables_i8, pot_op};
pub use super::add::{AddInputTablesI8, AddSubParams};
use super::broadcast::binary;
use crate::quant::activation_range_f32;
use crate::types::Activation;

impl AddSubParams {
    /// Int8 SUB from the tensors' `(scale, zero_point)`s (LiteRT's `PrepareGeneralSubOp`): the
    /// parameters of [`AddSubParams::add_int8`].
    pub fn sub_int8(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
    ) -> Self {
        Self::add_int8(input1, input2, output, activation)
    }

    /// Int16 SUB; `pot_scale_int16` is `SubOptions.pot_scale_int16`: the parameters of
    /// [`AddSubParams::add_int16`], `None` where LiteRT rejects the power-of-two path.
    pub fn sub_int16(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        activation: Activation,
        pot_scale_int16: bool,
    ) -> Option<Self> {
        Self::add_int16(input1, input2, output, activation, pot_scale_int16)
    }
}

/// Int8 SUB (`in1 - in2`). Shapes broadcast numpy-style; `out` holds the broadcast elements.
pub fn sub_i8(
    p: &AddSubParams,
    in1: &[i8],
    shape1: &[usize],
    in2: &[i8],
    shape2: &[usize],
    out: &mut [i8],
) {
    general_op(p, in1, shape1, in2, shape2, out, |a, b| a.wrapping_sub(b));
}

/// [`sub_i8`] with the inputs' rescale looked up in [`AddInputTablesI8`] (filled from the SUB
/// params).
pub fn sub_i8_tables(
    p: &AddSubParams,
    tables: &AddInputTablesI8,
    in1: &[i8],
    shape1: &[usize],
    in2: &[i8],
    shape2: &[usize],
    out: &mut [i8],
) {
    general_op_tables_i8(p, tables, (in1, shape1), (in2, shape2), out, |a, b| {
        a.wrapping_sub(b)
    });
}

/// Int16 SUB (general or power-of-two path, as chosen by [`AddSubParams::sub_int16`]).
pub fn sub_i16(
    p: &AddSubParams,
    in1: &[i16],
    shape1: &[usize],
    in2: &[i16],
    shape2: &[usize],
    out: &mut [i16],
) {
    if p.pot != 0 {
        pot_op(p, in1, shape1, in2, shape2, out, |a, b| a - b);
    } else {
        general_op(p, in1, shape1, in2, shape2, out, |a, b| a.wrapping_sub(b));
    }
}

/// Float SUB with the fused activation's clamp (NaN passes through).
pub fn sub_f32(
    activation: Activation,
    in1: &[f32],
    shape1: &[usize],
    in2: &[f32],
    shape2: &[usize],
    out: &mut [f32],
) {
    let (lo, hi) = activation_range_f32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        clamp_f32(a - b, lo, hi)
    });
}

/// Int32 SUB (wrapping on overflow) with the fused activation's clamp.
pub fn sub_i32(
    activation: Activation,
    in1: &[i32],
    shape1: &[usize],
    in2: &[i32],
    shape2: &[usize],
    out: &mut [i32],
) {
    let (lo, hi) = activation_range_i32(activation);
    binary(in1, shape1, in2, shape2, out, |a, b| {
        a.wrapping_sub(b).max(lo).min(hi)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_sub_with_zero_points_and_saturation() {
        // Same scale 0.5; in1 zp -128, in2 zp 127, out zp 0: out = (a+128) - (b-127).
        let p = AddSubParams::sub_int8((0.5, -128), (0.5, 127), (0.5, 0), Activation::None);
        let mut out = [0i8; 4];
        sub_i8(
            &p,
            &[-128, -100, 0, 127],
            &[4],
            &[127, 127, 100, -128],
            &[4],
            &mut out,
        );
        // 0, 28, 128 - (-27) = 155 → 127, 255 + 255 → 127.
        assert_eq!(out, [0, 28, 127, 127]);
        sub_i8(
            &p,
            &[-128, -128, -120, -128],
            &[4],
            &[127, -1, 126, 0],
            &[4],
            &mut out,
        );
        // 0, 0 + 128 → 127, 8 + 1 = 9, 0 + 127.
        assert_eq!(out, [0, 127, 9, 127]);
    }

    #[test]
    fn tables_give_the_same_bits() {
        let p = AddSubParams::sub_int8((0.02, 5), (0.09, -7), (0.03, -128), Activation::None);
        let mut t = AddInputTablesI8 {
            input1: [0; 256],
            input2: [0; 256],
        };
        AddInputTablesI8::populate(&p, &mut t);
        let a: [i8; 256] = core::array::from_fn(|i| i as u8 as i8);
        let b: [i8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(31) as i8);
        let (mut direct, mut tabled) = ([0i8; 256], [0i8; 256]);
        sub_i8(&p, &a, &[256], &b, &[256], &mut direct);
        sub_i8_tables(&p, &t, &a, &[256], &b, &[256], &mut tabled);
        assert_eq!(direct, tabled);
    }

    #[test]
    fn int8_sub_rounds_half_away_from_zero() {
        // in scales 0.5, out scale 1: (a - b) / 2 with ties away from zero.
        let p = AddSubParams::sub_int8((0.5, 0), (0.5, 0), (1.0, 0), Activation::None);
        let mut out = [0i8; 4];
        sub_i8(&p, &[3, 0, 1, -1], &[4], &[0, 3, 0, 0], &[4], &mut out);
        assert_eq!(out, [2, -2, 1, -1]);
    }

    #[test]
    fn int8_output_multiplier_above_one() {
        // Output scale far below the inputs': LiteRT's SUB keeps a multiplier > 1.
        let p = AddSubParams::sub_int8((1.0, 0), (1.0, 0), (1e-7, 0), Activation::None);
        assert!(p.output_shift > 0);
        let mut out = [0i8; 3];
        sub_i8(&p, &[1, 0, 0], &[3], &[0, 1, 0], &[3], &mut out);
        assert_eq!(out, [127, -128, 0]);
    }

    #[test]
    fn broadcast_scalar_and_relu() {
        let p = AddSubParams::sub_int8((0.25, 0), (0.25, 0), (0.25, 0), Activation::Relu);
        let mut out = [0i8; 4];
        sub_i8(&p, &[10], &[1], &[5, 10, 15, -100], &[1, 4], &mut out);
        assert_eq!(out, [5, 0, 0, 110]);
    }

    #[test]
    fn int16_paths() {
        let pot = AddSubParams::sub_int16(
            (1.0 / 4096.0, 0),
            (1.0 / 2048.0, 0),
            (1.0 / 2048.0, 0),
            Activation::None,
            true,
        )
        .unwrap();
        assert_eq!((pot.input1_shift, pot.input2_shift), (-1, 0));
        let mut out = [0i16; 3];
        sub_i16(&pot, &[5, -5, -32768], &[3], &[0, 0, 32767], &[3], &mut out);
        assert_eq!(out, [3, -3, -32768]);
        // Asymmetric int16 on the general path.
        let g = AddSubParams::sub_int16((0.5, 10), (0.5, -10), (0.5, 0), Activation::None, false)
            .unwrap();
        sub_i16(
            &g,
            &[10, 20, 32767],
            &[3],
            &[-10, 0, -32768],
            &[3],
            &mut out,
        );
        assert_eq!(out, [0, 0, 32767]);
    }

    #[test]
    fn float_and_int32() {
        let mut out = [0f32; 3];
        sub_f32(
            Activation::Relu6,
            &[10.0, 1.0, -1.0],
            &[3],
            &[1.0],
            &[],
            &mut out,
        );
        assert_eq!(out, [6.0, 0.0, 0.0]);
        let mut out = [0i32; 2];
        sub_i32(
            Activation::ReluN1To1,
            &[5, -5],
            &[2],
            &[3, 3],
            &[2],
            &mut out,
        );
        assert_eq!(out, [1, -1]);
    }
}

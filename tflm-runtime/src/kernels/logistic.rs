//! LOGISTIC (sigmoid).
//!
//! What LiteRT's reference registration (`Register_LOGISTIC_REF`) computes, per type:
//! - int8: a 256-entry table filled at `Prepare` from the f32 sigmoid `1 / (1 + expf(-x))`
//!   (`LUTPopulate<int8_t>`), then one lookup per element. Not gemmlowp's fixed-point logistic,
//!   which only its `kFixedPointOptimized` variant uses. The output must be scale 1/256, zp -128.
//! - int16: `reference_integer_ops::Logistic`: the input is rescaled to steps of 1/(3·2^12)·…
//!   (a power-of-two input scale of 2^-12 needs no multiplier) and interpolated in a 256-entry
//!   table of sigmoid(i/24) in 0.16 fixed point. Output scale 1/32768, zero points 0.
//! - float: `1 / (1 + expf(-x))`, with `expf(x)` below -9 and 1 above 16.619 (TFLite's
//!   reference; LiteRT's newest sources clamp to ±100 instead, the 2.3.0 wheel does not).
//!   `expf` is the `libm` crate's f32 one (fast on a Cortex-M4F); glibc's differs from it in the
//!   last bit for ~10% of inputs, so float results may differ from LiteRT's by an ulp or two.
//!   The int8 table instead rounds a double-precision `exp`, which agrees with glibc's `expf`
//!   for all but ~0.06% of inputs, as LiteRT's table bits depend on it.

use super::activations::populate_lut_i8_from_f32;
pub use super::activations::{apply_lut_i8, LUT_I8_LEN};

/// sigmoid(i/24) in unsigned 0.16 fixed point (TFLite's `sigmoid_table_uint16`), shared by the
/// int16 LOGISTIC and TANH kernels (tanh(x) = 2·sigmoid(2x) − 1).
pub(crate) static SIGMOID_TABLE_U16: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// `expf` rounded from a double-precision `exp`: matches a correctly rounded C library `expf`
/// (glibc's is within 0.502 ulp) in all but vanishingly rare cases. Used only to fill tables.
pub(crate) fn expf_table(x: f32) -> f32 {
    libm::exp(x as f64) as f32
}

/// Fills the int8 LOGISTIC table from the tensors' `(scale, zero_point)`s (LiteRT's `Prepare`;
/// LiteRT requires the output to be scale 1/256, zp -128, and fills the table from any other
/// output params just the same).
pub fn populate_lut_i8(input: (f32, i32), output: (f32, i32), lut: &mut [i8; LUT_I8_LEN]) {
    populate_lut_i8_from_f32(input, output, |x| 1.0 / (1.0 + expf_table(-x)), lut);
}

/// Int8 LOGISTIC through the table from [`populate_lut_i8`].
pub fn logistic_i8(lut: &[i8; LUT_I8_LEN], input: &[i8], output: &mut [i8]) {
    apply_lut_i8(lut, input, output);
}

/// Per-op constants of int16 LOGISTIC and TANH: how the input reaches the table's input scale.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SigmoidI16Params {
    /// Input multiplier (at most 15 bits; 3 or 6 on the power-of-two path).
    pub input_multiplier: i32,
    /// Rounding right shift after the multiplier (0 on the power-of-two path).
    pub input_left_shift: i32,
}

impl SigmoidI16Params {
    /// The general path of LiteRT's int16 Prepare: the input scale times 3·2^12, doubled until
    /// above 2^14, truncated to an integer multiplier with the number of doublings as the shift.
    pub(crate) fn general(input_scale: f32) -> Self {
        let mut multiplier = input_scale as f64 * 4096.0 * 3.0;
        let mut shift = 0;
        while multiplier <= 32767.0 / 2.0 && shift <= 30 {
            shift += 1;
            multiplier *= 2.0;
        }
        SigmoidI16Params {
            input_multiplier: multiplier as i32,
            input_left_shift: shift,
        }
    }

    /// Resolves the power-of-two case to its multiplier (3 << shift) as the kernels do.
    #[inline]
    pub(crate) fn resolved(&self) -> (i32, i32) {
        if self.input_multiplier == 0 {
            (3 << self.input_left_shift.clamp(0, 1), 0)
        } else {
            (self.input_multiplier, self.input_left_shift.clamp(0, 31))
        }
    }

    /// Int16 LOGISTIC from the tensors' `(scale, zero_point)`s; `None` where LiteRT rejects
    /// them: zero points must be 0 and the output scale 1/32768.
    pub fn logistic(input: (f32, i32), output: (f32, i32)) -> Option<Self> {
        if input.1 != 0 || output.1 != 0 || output.0 != 1.0 / 32768.0 {
            return None;
        }
        match super::add::checked_log2(input.0) {
            // 2^-12 exactly matches the table's 3/4 · 2^-9 steps with the fixed multiplier 3.
            Some(-12) => Some(SigmoidI16Params {
                input_multiplier: 0,
                input_left_shift: 0,
            }),
            _ => Some(Self::general(input.0)),
        }
    }
}

/// Int16 LOGISTIC (`reference_integer_ops::Logistic`): output in Q0.15, saturating at 32767
/// above and at 1 below.
pub fn logistic_i16(p: &SigmoidI16Params, input: &[i16], output: &mut [i16]) {
    let (multiplier, shift) = p.resolved();
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    for (o, &x) in output.iter_mut().zip(input) {
        let v = (x as i32).wrapping_mul(multiplier).wrapping_add(round) >> shift;
        let abs = v.unsigned_abs();
        let uh = (abs >> 9) as usize;
        let mut result: u32 = if uh >= 255 {
            0x7FFF << 10
        } else {
            let ua = SIGMOID_TABLE_U16[uh] as u32;
            let ub = SIGMOID_TABLE_U16[uh + 1] as u32;
            (ua << 9).wrapping_add((abs & 0x1FF).wrapping_mul(ub.wrapping_sub(ua)))
        };
        result = if v >= 0 {
            result.wrapping_add(1 << 9)
        } else {
            (1u32 << 25).wrapping_sub(result).wrapping_add((1 << 9) - 1)
        };
        *o = (result >> 10) as i16;
    }
}

/// Float LOGISTIC as TFLite's reference kernel: 1 above 16.619 (where the f32 result rounds to 1
/// anyway), `exp(x)` below -9 (relative error under 1.3e-4, and no overflow of `exp(-x)`), and
/// `1 / (1 + exp(-x))` between; NaN stays NaN.
pub fn logistic_f32(input: &[f32], output: &mut [f32]) {
    const CUTOFF_UPPER: f32 = 16.619_047;
    const CUTOFF_LOWER: f32 = -9.0;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x > CUTOFF_UPPER {
            1.0
        } else if x < CUTOFF_LOWER {
            libm::expf(x)
        } else {
            1.0 / (1.0 + libm::expf(-x))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_table_hits_known_points() {
        // Input scale 1/16 zp 0, output 1/256 zp -128 (LiteRT's required output params).
        let mut lut = [0i8; LUT_I8_LEN];
        populate_lut_i8((1.0 / 16.0, 0), (1.0 / 256.0, -128), &mut lut);
        let mut out = [0i8; 5];
        logistic_i8(&lut, &[0, 127, -128, 16, -16], &mut out);
        // sigmoid(0) = 0.5 → 0; sigmoid(7.94) = 0.99964 → 255.9 → 256 - 128 saturates to 127;
        // sigmoid(-8) = 0.000335 → 0.086 → 0 - 128; sigmoid(±1): 187.1 → 59, 68.9 → -59.
        assert_eq!(out, [0, 127, -128, 59, -59]);
    }

    #[test]
    fn int8_table_with_zero_point_extremes() {
        let mut lut = [0i8; LUT_I8_LEN];
        // zp 127: every input is ≤ 0 in real terms.
        populate_lut_i8((0.05, 127), (1.0 / 256.0, -128), &mut lut);
        assert_eq!(lut[127], 0);
        // (−128 − 127)·0.05 = −12.75: sigmoid ≈ 2.9e-6 → 0.0007 → −128.
        assert_eq!(lut[128], -128);
        // zp -128: every input is ≥ 0.
        populate_lut_i8((0.05, -128), (1.0 / 256.0, -128), &mut lut);
        assert_eq!(lut[128], 0);
        assert_eq!(lut[127], 127);
    }

    #[test]
    fn int16_power_of_two_and_general() {
        let p = SigmoidI16Params::logistic((1.0 / 4096.0, 0), (1.0 / 32768.0, 0)).unwrap();
        assert_eq!(p.input_multiplier, 0);
        let mut out = [0i16; 5];
        logistic_i16(&p, &[0, 4096, -4096, 32767, -32768], &mut out);
        // 0.5 → 16384; sigmoid(±1) = 0.731059, 0.268941 → 23955, 8813; sigmoid(±8) →
        // 32757, 11 (the table still covers ±8 = ±192/24).
        assert_eq!(out[0], 16384);
        assert!((out[1] as i32 - 23955).abs() <= 1, "{}", out[1]);
        assert!((out[2] as i32 - 8813).abs() <= 1, "{}", out[2]);
        assert_eq!((out[3], out[4]), (32757, 11));
        // Past 255/24 ≈ 10.6 the table saturates: 32767 above, 1 below.
        let p = SigmoidI16Params::logistic((1.0 / 2048.0, 0), (1.0 / 32768.0, 0)).unwrap();
        logistic_i16(&p, &[32767, -32768], &mut out[..2]);
        assert_eq!(out[..2], [32767, 1]);

        let g = SigmoidI16Params::logistic((0.001, 0), (1.0 / 32768.0, 0)).unwrap();
        // 0.001 · 12288 = 12.288, doubled 11 times to 25165.8 → 25165 >> 11.
        assert_eq!((g.input_multiplier, g.input_left_shift), (25165, 11));
        logistic_i16(&g, &[0, 1000, -1000], &mut out[..3]);
        assert_eq!(out[0], 16384);
        assert!((out[1] as i32 - 23955).abs() <= 2, "{}", out[1]);
        assert!((out[2] as i32 - 8813).abs() <= 2, "{}", out[2]);

        assert!(SigmoidI16Params::logistic((0.001, 1), (1.0 / 32768.0, 0)).is_none());
        assert!(SigmoidI16Params::logistic((0.001, 0), (1.0 / 65536.0, 0)).is_none());
    }

    #[test]
    fn float_logistic() {
        let mut out = [0f32; 5];
        logistic_f32(&[0.0, 200.0, -200.0, 1.0, f32::NAN], &mut out);
        assert_eq!(out[0], 0.5);
        assert_eq!(out[1], 1.0);
        // exp(-200) underflows f32 to 0.
        assert_eq!(out[2], 0.0);
        logistic_f32(&[-10.0, 16.62, 16.6], &mut out[..3]);
        assert_eq!(out[0], libm::expf(-10.0));
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 1.0 / (1.0 + libm::expf(-16.6)));
        assert!((out[3] - 0.731_058_6).abs() < 1e-6);
        assert!(out[4].is_nan());
    }
}

//! SOFTMAX over the innermost dimension (`depth` elements per row).
//!
//! What LiteRT's reference registration (`Register_SOFTMAX_REF`) computes, per type:
//! - int8 input (int8 or int16 output): `reference_ops::Softmax` in gemmlowp fixed point. The
//!   differences to the row maximum are scaled by `beta · input_scale` into Q5.26, exponentiated
//!   (`exp_on_negative_values`), summed in Q12.19, and each exponential is multiplied by the
//!   sum's reciprocal. Differences below `diff_min` count as exp = 0. The output scale is fixed
//!   by the kernel, whatever the tensor says: int8 out is 1/256 with zero point -128 (LiteRT
//!   checks this); int16 out is 1/65536 with zero point -32768 (LiteRT does *not* check it: a
//!   tensor declaring 1/32768, zp 0 still gets these values).
//! - int16 → int16: `reference_ops::SoftmaxInt16`: 513-entry interpolated tables for exp(x) on
//!   [-10, 0] and 1/(1+x) on [0, 1]; output 1/32768, zp 0.
//! - float: `exp((x - max) · beta) / sum`, with the `libm` crate's f32 `expf` (within an ulp
//!   or two of LiteRT's results, which use glibc's).

use crate::quant::{
    effective_scale, exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier,
    quantize_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};

/// Q-format integer bits of the scaled differences fed to `exp_on_negative_values`.
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Fraction bits of the scaled differences (Q5.26).
const DIFF_FRACTION_BITS: i32 = 31 - SCALED_DIFF_INTEGER_BITS;
/// The largest scaled difference, `(2^5 - 1) * 2^26`.
const DIFF_RADIUS: u64 = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) << DIFF_FRACTION_BITS;
/// `2^31 - 1` as a double: LiteRT's cap on the input multiplier.
const Q31_MAX: f64 = i32::MAX as f64;

/// `f64::min` on the bits (no soft-float compare): `cap` is positive and finite, so a
/// positive double is above it exactly when its bits are, and a NaN gives `cap`.
fn min_f64(x: f64, cap: f64) -> f64 {
    let (bits, sign) = (x.to_bits(), 1u64 << 63);
    let nan = bits & !sign > f64::INFINITY.to_bits();
    if nan || bits & sign == 0 && bits > cap.to_bits() {
        cap
    } else {
        x
    }
}

/// Q-format integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Per-op constants of int8-input SOFTMAX (LiteRT's `PreprocessSoftmaxScaling`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxParams {
    /// Q31 multiplier and left shift (`>= 0`) of `beta · input_scale · 2^26`.
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// Smallest input difference (in input quanta, `<= 0`) whose exponential is not dropped.
    pub diff_min: i32,
}

impl SoftmaxParams {
    /// From `SoftmaxOptions.beta` and the input scale, bit for bit LiteRT's double
    /// arithmetic, in integer instructions: on a Cortex-M4 the double multiply, `exp2`,
    /// division and `floor` linked about 7 KB of soft-float code and tables for one prepare.
    pub fn int8(beta: f32, input_scale: f32) -> Self {
        // `beta * input_scale * 2^26` in double is exact (two 24-bit significands times a
        // power of two), which is what `effective_scale`'s single rounding gives too.
        let scaled = effective_scale(beta, input_scale, 1.0 / (1 << DIFF_FRACTION_BITS) as f32);
        let (input_multiplier, input_left_shift) = quantize_multiplier(min_f64(scaled, Q31_MAX));
        // CalculateInputRadius: floor((2^5 - 1) * 2^26 / 2^shift), exact for a power of two;
        // a negative shift gives more than `i32::MAX`, where the double's cast saturates.
        let radius = match u32::try_from(input_left_shift) {
            Ok(s) => (DIFF_RADIUS >> s.min(63)) as i32,
            Err(_) => i32::MAX,
        };
        SoftmaxParams {
            input_multiplier,
            input_left_shift,
            diff_min: -radius,
        }
    }

    /// exp(diff) in Q0.31 for an input difference `diff <= 0`, or 0 below `diff_min`. Out of
    /// line: the kernels call it twice per element (sum, then output), and each inlined copy
    /// cost about 0.5 KB of flash for rows of a handful of classes.
    #[inline(never)]
    pub fn exp_of_diff(&self, diff: i32) -> i32 {
        if diff < self.diff_min {
            return 0;
        }
        // MultiplyByQuantizedMultiplierGreaterThanOne: the radius keeps the shift exact.
        let shifted =
            diff.wrapping_mul(1i32.wrapping_shl(self.input_left_shift.clamp(0, 31) as u32));
        exp_on_negative_values(
            saturating_rounding_doubling_high_mul(shifted, self.input_multiplier),
            SCALED_DIFF_INTEGER_BITS,
        )
    }
}

/// Entries of the optional int8 exponential table: one per difference 0, -1, ..., -255.
pub const EXP_LUT_I8_LEN: usize = 256;

/// Tabulates [`SoftmaxParams::exp_of_diff`] for differences 0..=-255 (index = -diff), for
/// [`softmax_i8_lut`] and [`softmax_i8_i16_lut`]: the exponentials then cost one load each.
pub fn populate_exp_lut_i8(p: &SoftmaxParams, lut: &mut [i32; EXP_LUT_I8_LEN]) {
    for (i, e) in lut.iter_mut().enumerate() {
        *e = p.exp_of_diff(-(i as i32));
    }
}

/// Output types of the int8-input kernel: the output lands on scale 2^-BITS with the type's
/// minimum as zero point.
trait SoftmaxOutput: Copy {
    const BITS: i32;
    const MIN: i32;
    const MAX: i32;
    fn narrow(x: i32) -> Self;
}

impl SoftmaxOutput for i8 {
    const BITS: i32 = 8;
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    #[inline(always)]
    fn narrow(x: i32) -> Self {
        x as i8
    }
}

impl SoftmaxOutput for i16 {
    const BITS: i32 = 16;
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    #[inline(always)]
    fn narrow(x: i32) -> Self {
        x as i16
    }
}

/// The int8-input kernel for either output width; `exp` maps a difference to its exponential.
#[inline(always)]
fn softmax_from_i8<O: SoftmaxOutput>(
    input: &[i8],
    output: &mut [O],
    depth: usize,
    exp: impl Fn(i32) -> i32,
) {
    if depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        // Kept rolled: a handful of classes per row, and the unrolled copy took 0.1 KB.
        let max = row.iter().fold(i8::MIN, |m, &x| {
            crate::rolled::keep_rolled();
            m.max(x)
        }) as i32;
        // Sum in Q12.19 (Rescale<12> of each Q0.31 exponential).
        let mut sum: i32 = 0;
        for &x in row {
            sum = sum.wrapping_add(rounding_divide_by_pot(
                exp(x as i32 - max),
                ACCUMULATION_INTEGER_BITS,
            ));
        }
        let (scale, num_bits_over_unit) = get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        // LiteRT aborts outside 0..=31 (int8 sums of 256 or more); clamp instead of failing.
        let exponent = (num_bits_over_unit + 31 - O::BITS).clamp(0, 31);
        for (o, &x) in out.iter_mut().zip(row) {
            let e = exp(x as i32 - max);
            let unsat =
                rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scale, e), exponent);
            *o = O::narrow((unsat + O::MIN).clamp(O::MIN, O::MAX));
        }
    }
}

/// Int8 → int8 SOFTMAX over rows of `depth` (output scale 1/256, zero point -128).
pub fn softmax_i8(p: &SoftmaxParams, input: &[i8], output: &mut [i8], depth: usize) {
    let p = *p;
    softmax_from_i8(input, output, depth, |d| p.exp_of_diff(d));
}

/// Int8 → int16 SOFTMAX (output scale 1/65536, zero point -32768; see the module docs).
pub fn softmax_i8_i16(p: &SoftmaxParams, input: &[i8], output: &mut [i16], depth: usize) {
    let p = *p;
    softmax_from_i8(input, output, depth, |d| p.exp_of_diff(d));
}

/// [`softmax_i8`] with the exponentials from [`populate_exp_lut_i8`].
pub fn softmax_i8_lut(lut: &[i32; EXP_LUT_I8_LEN], input: &[i8], output: &mut [i8], depth: usize) {
    softmax_from_i8(input, output, depth, |d| {
        lut[(d.unsigned_abs() & 0xFF) as usize]
    });
}

/// [`softmax_i8_i16`] with the exponentials from [`populate_exp_lut_i8`].
pub fn softmax_i8_i16_lut(
    lut: &[i32; EXP_LUT_I8_LEN],
    input: &[i8],
    output: &mut [i16],
    depth: usize,
) {
    softmax_from_i8(input, output, depth, |d| {
        lut[(d.unsigned_abs() & 0xFF) as usize]
    });
}

/// Per-op constants of int16 SOFTMAX.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxI16Params {
    /// Q31 multiplier and exponent mapping input differences onto the exp table's [-65535, 0]
    /// (= [-10, 0]): `input_scale · beta / (10 / 65535)`.
    pub input_multiplier: i32,
    pub input_left_shift: i32,
}

impl SoftmaxI16Params {
    /// From `SoftmaxOptions.beta` and the tensors' `(scale, zero_point)`s; `None` where LiteRT
    /// rejects them (zero points must be 0, output scale 1/32768 within 0.1%).
    pub fn new(beta: f32, input: (f32, i32), output: (f32, i32)) -> Option<Self> {
        let want = 1.0f32 / 32768.0;
        if input.1 != 0 || output.1 != 0 || (output.0 - want).abs() > 0.001 * want {
            return None;
        }
        // The product is an f32 expression, the division a double one, as in LiteRT.
        let real = (input.0 * beta) as f64 / (10.0 / 65535.0);
        let (input_multiplier, input_left_shift) = quantize_multiplier(real);
        Some(SoftmaxI16Params {
            input_multiplier,
            input_left_shift,
        })
    }
}

/// TFLite's `LUTLookup` for int16: the top 9 bits index the 513-entry table, the low 7 bits
/// interpolate linearly to the next entry.
#[inline(always)]
fn lut_lookup_i16(value: i16, lut: &[i16; 513]) -> i16 {
    let index = (256 + (value as i32 >> 7)) as usize;
    let offset = (value & 0x7F) as i32;
    let base = lut[index] as i32;
    let slope = (lut[index + 1] as i32 - base) as i16 as i32;
    (base + ((slope * offset + 64) >> 7)) as i16
}

/// Int16 → int16 SOFTMAX over rows of `depth` (output scale 1/32768, zero point 0).
pub fn softmax_i16(p: &SoftmaxI16Params, input: &[i16], output: &mut [i16], depth: usize) {
    if depth == 0 {
        return;
    }
    let p = *p;
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().fold(i16::MIN, |m, &x| m.max(x)) as i32;
        // exp(x - max) in Q0.15, cached in the output row.
        let mut sum: i32 = 0;
        for (o, &x) in out.iter_mut().zip(row) {
            let scaled = multiply_by_quantized_multiplier(
                x as i32 - max,
                p.input_multiplier,
                p.input_left_shift,
            );
            let sym = scaled.wrapping_add(32767).clamp(-32768, 32767) as i16;
            *o = lut_lookup_i16(sym, &EXP_LUT_I16);
            sum = sum.wrapping_add(*o as i32);
        }
        // 1/sum: normalize sum to [1, 2) in Q1.14 steps, look up 1/(1 + x) on x = sum - 1.
        let headroom_plus_one = ((sum as u32).leading_zeros() as i32).clamp(1, 32);
        let shifted_sum = (((sum as i64) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
        let sym_shifted_sum = (shifted_sum as i32)
            .wrapping_sub((1 << 15) + (1 << 16))
            .clamp(-32768, 32767) as i16;
        let reciprocal = lut_lookup_i16(sym_shifted_sum, &ONE_OVER_ONE_PLUS_X_LUT_I16) as i64;
        let right_shift = (31 - headroom_plus_one).clamp(1, 62);
        let round = 1i64 << (right_shift - 1);
        for o in out.iter_mut() {
            let result = ((*o as i64 * reciprocal + round) >> right_shift) as i32;
            *o = result.clamp(0, 32767) as i16;
        }
    }
}

/// LiteRT's `LUTPopulateInt16<double>`: 512 samples of `f` over the int16 input range plus the
/// end point, each nudged by half the interpolation error at the segment's midpoint.
pub fn populate_lut_i16(
    input_scale: f64,
    input_zero_point: i32,
    output_scale: f64,
    output_zero_point: i32,
    f: impl Fn(f64) -> f64,
    lut: &mut [i16; 513],
) {
    let round = libm::round;
    let input_min = input_scale * (-32768 - input_zero_point) as f64;
    let input_max = input_scale * (32767 - input_zero_point) as f64;
    let output_min = output_scale * (-32768 - output_zero_point) as f64;
    let output_max = output_scale * (32767 - output_zero_point) as f64;
    let step = (input_max - input_min) / 512.0;
    let half_step = step / 2.0;
    let output_scaling_inv = 65536.0 / (output_max - output_min);
    let clamp = |v: f64| v.clamp(-32768.0, 32767.0) as i16;
    for (i, entry) in lut[..512].iter_mut().enumerate() {
        let x = input_min + i as f64 * step;
        let val = f(x);
        let val_midpoint = f(x + half_step);
        let val_next = f(input_min + (i + 1) as f64 * step);
        let sample_val = round(val * output_scaling_inv);
        let midpoint_interp_val =
            round((val_next * output_scaling_inv + round(val * output_scaling_inv)) / 2.0);
        let midpoint_val = round(val_midpoint * output_scaling_inv);
        let bias = round((midpoint_interp_val - midpoint_val) / 2.0);
        *entry = clamp(sample_val - bias);
    }
    lut[512] = clamp(round(f(input_max) * output_scaling_inv));
}

/// exp(x) on x in [-10, 0], as LiteRT's int16 SOFTMAX `Prepare` fills it (`LUTPopulate` with
/// input scale 10/65535, zp 32767, output scale 2/65535, zp 0, in double precision). A fixed
/// table (flash, not arena); the unit tests check it against [`populate_lut_i16`].
pub static EXP_LUT_I16: [i16; 513] = [
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9,
    10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15,
    15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19, 19, 19, 20, 20, 21, 21, 21, 22, 22, 23, 23, 24, 24,
    25, 25, 26, 26, 27, 27, 28, 28, 29, 29, 30, 30, 31, 32, 32, 33, 34, 34, 35, 36, 36, 37, 37, 38,
    39, 40, 40, 42, 42, 43, 44, 45, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 59, 60, 60,
    62, 63, 65, 65, 67, 68, 69, 71, 73, 74, 75, 77, 78, 80, 81, 83, 85, 86, 88, 90, 92, 93, 95, 97,
    99, 101, 103, 105, 107, 109, 112, 114, 116, 118, 121, 123, 126, 128, 131, 133, 135, 139, 141,
    144, 147, 149, 152, 155, 158, 162, 165, 168, 171, 174, 178, 181, 185, 189, 192, 196, 200, 204,
    208, 212, 217, 221, 225, 230, 234, 239, 243, 248, 253, 258, 263, 268, 273, 279, 284, 290, 296,
    302, 308, 314, 320, 327, 333, 340, 346, 353, 360, 366, 374, 381, 389, 397, 404, 413, 421, 429,
    437, 446, 455, 464, 473, 482, 492, 501, 511, 522, 532, 543, 553, 564, 575, 586, 598, 610, 622,
    634, 646, 659, 672, 685, 699, 713, 727, 741, 756, 771, 786, 801, 817, 833, 850, 866, 884, 901,
    919, 937, 955, 974, 993, 1013, 1033, 1053, 1074, 1095, 1117, 1139, 1161, 1184, 1207, 1232,
    1256, 1281, 1306, 1332, 1358, 1385, 1412, 1440, 1468, 1497, 1527, 1557, 1587, 1619, 1651, 1683,
    1716, 1750, 1785, 1820, 1856, 1892, 1930, 1968, 2006, 2046, 2087, 2128, 2170, 2212, 2256, 2300,
    2346, 2392, 2439, 2488, 2537, 2587, 2638, 2690, 2743, 2796, 2852, 2908, 2966, 3024, 3084, 3145,
    3207, 3270, 3334, 3400, 3467, 3535, 3605, 3677, 3749, 3822, 3898, 3975, 4053, 4133, 4214, 4297,
    4383, 4469, 4557, 4647, 4739, 4833, 4927, 5024, 5124, 5225, 5328, 5433, 5541, 5649, 5761, 5875,
    5991, 6109, 6230, 6352, 6477, 6605, 6736, 6868, 7004, 7141, 7282, 7427, 7572, 7722, 7874, 8030,
    8188, 8350, 8514, 8683, 8854, 9028, 9206, 9387, 9572, 9762, 9954, 10151, 10351, 10555, 10763,
    10976, 11191, 11412, 11637, 11867, 12102, 12341, 12583, 12831, 13085, 13342, 13606, 13874,
    14148, 14427, 14711, 15002, 15297, 15599, 15907, 16221, 16541, 16867, 17199, 17539, 17884,
    18237, 18597, 18964, 19338, 19719, 20108, 20505, 20909, 21322, 21742, 22171, 22608, 23054,
    23509, 23973, 24445, 24928, 25419, 25921, 26432, 26953, 27485, 28027, 28580, 29143, 29718,
    30304, 30902, 31512, 32133, 32767,
];

/// 1/(1+x) on x in [0, 1], as LiteRT fills it (input scale 1/65535, zp -32768, output scale
/// 2/65535, zp 0). Checked like [`EXP_LUT_I16`].
pub static ONE_OVER_ONE_PLUS_X_LUT_I16: [i16; 513] = [
    32767, 32704, 32640, 32578, 32514, 32451, 32388, 32326, 32264, 32202, 32141, 32079, 32018,
    31957, 31896, 31835, 31775, 31715, 31655, 31596, 31537, 31476, 31418, 31359, 31301, 31242,
    31184, 31127, 31069, 31011, 30954, 30897, 30840, 30784, 30727, 30671, 30615, 30560, 30504,
    30449, 30394, 30339, 30283, 30229, 30175, 30121, 30067, 30013, 29960, 29906, 29853, 29800,
    29746, 29694, 29642, 29589, 29537, 29486, 29434, 29382, 29331, 29280, 29229, 29177, 29127,
    29076, 29026, 28976, 28926, 28877, 28827, 28777, 28728, 28679, 28630, 28581, 28532, 28484,
    28436, 28388, 28340, 28292, 28244, 28197, 28150, 28103, 28056, 28008, 27962, 27915, 27869,
    27823, 27777, 27731, 27685, 27640, 27594, 27549, 27504, 27459, 27413, 27369, 27324, 27280,
    27236, 27192, 27148, 27104, 27060, 27016, 26973, 26930, 26887, 26844, 26801, 26758, 26715,
    26673, 26630, 26588, 26546, 26504, 26463, 26421, 26380, 26338, 26297, 26255, 26214, 26174,
    26132, 26092, 26051, 26011, 25971, 25931, 25891, 25851, 25811, 25772, 25732, 25693, 25653,
    25614, 25575, 25536, 25497, 25458, 25420, 25381, 25343, 25305, 25267, 25229, 25191, 25153,
    25116, 25078, 25041, 25003, 24967, 24928, 24892, 24855, 24818, 24781, 24745, 24709, 24672,
    24636, 24600, 24564, 24528, 24492, 24457, 24421, 24385, 24350, 24315, 24280, 24245, 24210,
    24175, 24140, 24105, 24070, 24036, 24002, 23967, 23933, 23899, 23865, 23831, 23798, 23764,
    23730, 23697, 23664, 23630, 23597, 23564, 23530, 23498, 23465, 23432, 23399, 23366, 23334,
    23302, 23269, 23237, 23205, 23173, 23141, 23109, 23077, 23046, 23014, 22982, 22951, 22920,
    22888, 22857, 22826, 22795, 22764, 22733, 22703, 22672, 22641, 22611, 22580, 22550, 22520,
    22490, 22459, 22429, 22400, 22370, 22340, 22310, 22281, 22251, 22221, 22192, 22163, 22134,
    22104, 22075, 22046, 22017, 21988, 21959, 21931, 21902, 21874, 21845, 21817, 21788, 21760,
    21732, 21704, 21676, 21648, 21620, 21592, 21565, 21537, 21509, 21482, 21455, 21427, 21400,
    21372, 21345, 21318, 21291, 21264, 21237, 21210, 21183, 21157, 21130, 21103, 21077, 21050,
    21024, 20998, 20971, 20945, 20919, 20893, 20867, 20841, 20815, 20790, 20764, 20738, 20713,
    20687, 20662, 20636, 20611, 20586, 20560, 20535, 20510, 20485, 20460, 20435, 20410, 20385,
    20360, 20336, 20311, 20287, 20262, 20238, 20213, 20189, 20165, 20141, 20117, 20092, 20068,
    20044, 20021, 19997, 19973, 19949, 19926, 19902, 19878, 19855, 19832, 19808, 19784, 19762,
    19738, 19715, 19692, 19668, 19645, 19622, 19600, 19577, 19553, 19531, 19508, 19485, 19463,
    19440, 19418, 19395, 19373, 19351, 19328, 19306, 19284, 19262, 19240, 19218, 19196, 19174,
    19152, 19130, 19109, 19087, 19065, 19044, 19022, 19000, 18979, 18958, 18936, 18915, 18893,
    18872, 18851, 18830, 18809, 18787, 18766, 18745, 18725, 18704, 18682, 18662, 18641, 18620,
    18600, 18579, 18559, 18538, 18518, 18497, 18477, 18457, 18436, 18416, 18396, 18376, 18356,
    18336, 18316, 18296, 18276, 18256, 18236, 18216, 18197, 18177, 18157, 18138, 18118, 18099,
    18079, 18059, 18040, 18021, 18001, 17982, 17963, 17944, 17924, 17905, 17886, 17867, 17848,
    17829, 17810, 17791, 17772, 17754, 17735, 17716, 17697, 17679, 17660, 17641, 17623, 17604,
    17586, 17568, 17549, 17531, 17513, 17494, 17476, 17458, 17440, 17422, 17404, 17386, 17368,
    17350, 17332, 17314, 17296, 17278, 17261, 17243, 17225, 17208, 17190, 17172, 17155, 17137,
    17120, 17102, 17085, 17067, 17050, 17033, 17015, 16999, 16981, 16964, 16947, 16930, 16913,
    16895, 16878, 16862, 16845, 16828, 16810, 16794, 16777, 16760, 16743, 16727, 16710, 16693,
    16677, 16660, 16644, 16627, 16611, 16594, 16578, 16562, 16545, 16529, 16513, 16497, 16480,
    16464, 16448, 16432, 16416, 16400, 16384,
];

/// Float SOFTMAX over rows of `depth`: `exp((x - max) · beta) / sum` in f32.
pub fn softmax_f32(beta: f32, input: &[f32], output: &mut [f32], depth: usize) {
    if depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        // std::max(max, x): NaN inputs never become the maximum.
        let max = row.iter().fold(f32::MIN, |m, &x| if m < x { x } else { m });
        let mut sum = 0.0f32;
        for (o, &x) in out.iter_mut().zip(row) {
            *o = libm::expf((x - max) * beta);
            sum += *o;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp_table() -> [i16; 513] {
        let mut t = [0i16; 513];
        populate_lut_i16(10.0 / 65535.0, 32767, 2.0 / 65535.0, 0, libm::exp, &mut t);
        t
    }

    fn recip_table() -> [i16; 513] {
        let mut t = [0i16; 513];
        populate_lut_i16(
            1.0 / 65535.0,
            -32768,
            2.0 / 65535.0,
            0,
            |x| 1.0 / (1.0 + x),
            &mut t,
        );
        t
    }

    #[test]
    fn fixed_tables_are_litert_prepare_output() {
        assert_eq!(EXP_LUT_I16, exp_table());
        assert_eq!(ONE_OVER_ONE_PLUS_X_LUT_I16, recip_table());
        // exp(0) and 1/(1+0) are the top of the symmetric output range; 1/(1+1) its middle.
        assert_eq!(EXP_LUT_I16[512], 32767);
        assert_eq!(ONE_OVER_ONE_PLUS_X_LUT_I16[0], 32767);
        assert_eq!(ONE_OVER_ONE_PLUS_X_LUT_I16[512], 16384);
    }
    #[test]
    fn int8_params() {
        // beta 1, scale 1/16: 2^26/16 = 2^22 → multiplier 2^30, shift 23; radius 31·2^3.
        let p = SoftmaxParams::int8(1.0, 1.0 / 16.0);
        assert_eq!(
            (p.input_multiplier, p.input_left_shift, p.diff_min),
            (1 << 30, 23, -248)
        );
    }

    /// LiteRT's `PreprocessSoftmaxScaling` and `CalculateInputRadius` in double, as
    /// `SoftmaxParams::int8` computed them before it went to integers.
    fn int8_params_f64(beta: f32, input_scale: f32) -> SoftmaxParams {
        let real =
            (beta as f64 * input_scale as f64 * (1i64 << 26) as f64).min((1i64 << 31) as f64 - 1.0);
        let (input_multiplier, input_left_shift) = quantize_multiplier(real);
        let radius = libm::floor(31.0 * (1i64 << 26) as f64 / libm::exp2(input_left_shift as f64));
        SoftmaxParams {
            input_multiplier,
            input_left_shift,
            diff_min: -(radius as i32),
        }
    }

    #[test]
    fn int8_params_equal_the_double_arithmetic() {
        let edges = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            1e-45,
            1e-30,
            1.0 / 256.0,
            0.1,
            1.0,
            3.0,
            1e10,
            f32::MAX,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let check = |beta: f32, scale: f32| {
            assert_eq!(
                SoftmaxParams::int8(beta, scale),
                int8_params_f64(beta, scale),
                "beta {beta:e}, scale {scale:e}"
            );
        };
        for &b in &edges {
            for &s in &edges {
                check(b, s);
            }
        }
        let mut rng = crate::kernels::test_rng::Rng(0x5eed_50f7);
        for i in 0..200_000 {
            let r = rng.next();
            let (b, s) = if i % 2 == 0 {
                // Any bits.
                (f32::from_bits(r as u32), f32::from_bits((r >> 32) as u32))
            } else {
                // Models' range: beta near 1, scales 2^-20..2^4, some shifts negative.
                let beta = 0.25 + (r % 4096) as f32 / 1024.0;
                let scale = f32::from_bits((0x3580_0000 + (r >> 40) % 0x0c00_0000) as u32);
                (beta, scale)
            };
            check(b, s);
        }
    }

    #[test]
    fn int8_uniform_and_peaked_rows() {
        let p = SoftmaxParams::int8(1.0, 1.0 / 16.0);
        let mut out = [0i8; 8];
        // Four equal logits: 1/4 each = 64/256 → -64.
        softmax_i8(&p, &[5, 5, 5, 5, -128, -128, -128, -128], &mut out, 4);
        assert_eq!(out, [-64, -64, -64, -64, -64, -64, -64, -64]);
        // One logit 255/16 ≈ 16 above the rest: exp(-15.9) ≈ 1.2e-7, so ≈ 1 and 0s.
        softmax_i8(&p, &[127, -128, -128, -128, 0, 16, -128, 127], &mut out, 4);
        assert_eq!(&out[..4], &[127, -128, -128, -128]);
        // [0, 1, -8, 7.94] (real): 7.94 gets 0.99867 → 255.7 → 256, saturating at 127;
        // e^-6.94 / 1.0013 = 0.00097 → 0.25/256 → -128.
        assert_eq!(out[7], 127);
        assert_eq!(&out[4..7], &[-128, -128, -128]);
    }

    #[test]
    fn int8_sums_to_one() {
        let p = SoftmaxParams::int8(1.0, 0.1);
        let input: [i8; 10] = [-128, -50, -20, -10, 0, 5, 10, 20, 30, 40];
        let mut out = [0i8; 10];
        softmax_i8(&p, &input, &mut out, 10);
        let sum: i32 = out.iter().map(|&q| q as i32 + 128).sum();
        assert!((sum - 256).abs() <= 5, "sum {sum}");
        // Monotone in the input.
        assert!(out.windows(2).all(|w| w[0] <= w[1]));
        // Same results through the exponential table.
        let mut lut = [0i32; EXP_LUT_I8_LEN];
        populate_exp_lut_i8(&p, &mut lut);
        let mut via_lut = [0i8; 10];
        softmax_i8_lut(&lut, &input, &mut via_lut, 10);
        assert_eq!(out, via_lut);
    }

    #[test]
    fn int8_to_int16() {
        let p = SoftmaxParams::int8(1.0, 0.05);
        let mut out = [0i16; 4];
        softmax_i8_i16(&p, &[10, 10, -128, 127], &mut out, 2);
        // Two equal logits: 0.5 → 32768 - 32768 = 0 (zp -32768, scale 1/65536).
        assert_eq!(out[..2], [0, 0]);
        // 12.75 apart: 1 - 2.9e-6 → 65535.8 → saturates at 32767; 2.9e-6 · 65536 = 0.19 → 0.
        assert_eq!(out[2..], [-32768, 32767]);
        let mut lut = [0i32; EXP_LUT_I8_LEN];
        populate_exp_lut_i8(&p, &mut lut);
        let mut via_lut = [0i16; 4];
        softmax_i8_i16_lut(&lut, &[10, 10, -128, 127], &mut via_lut, 2);
        assert_eq!(out, via_lut);
    }

    #[test]
    fn int16_softmax() {
        let p = SoftmaxI16Params::new(1.0, (1.0 / 1024.0, 0), (1.0 / 32768.0, 0)).unwrap();
        let mut out = [0i16; 6];
        softmax_i16(&p, &[0, 0, 100, 100, 100, 100], &mut out, 2);
        assert_eq!(out, [16384, 16384, 16384, 16384, 16384, 16384]);
        // ln(3) · 1024 = 1125: probabilities 3/4 and 1/4.
        softmax_i16(&p, &[1125, 0, -32768, 32767, 0, 0], &mut out, 2);
        assert!((out[0] as i32 - 24576).abs() <= 8, "{}", out[0]);
        assert!((out[1] as i32 - 8192).abs() <= 8, "{}", out[1]);
        // 64 apart: exp(-10) is the table's floor, ≈ 0.
        assert!(out[2] <= 2 && out[3] >= 32760, "{:?}", &out[2..4]);
        assert!(SoftmaxI16Params::new(1.0, (0.001, 0), (1.0 / 65536.0, 0)).is_none());
    }

    #[test]
    fn float_softmax() {
        let mut out = [0f32; 6];
        softmax_f32(1.0, &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &mut out, 3);
        let e = [libm::expf(-2.0), libm::expf(-1.0), 1.0];
        let s = e[0] + e[1] + e[2];
        assert_eq!(out[..3], [e[0] / s, e[1] / s, e[2] / s]);
        assert_eq!(out[3..], [1.0 / 3.0; 3]);
        softmax_f32(0.5, &[0.0, 2.0], &mut out[..2], 2);
        assert!((out[1] - 1.0 / (1.0 + libm::expf(-1.0))).abs() < 1e-7);
    }
}

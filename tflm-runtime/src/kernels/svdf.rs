//! SVDF (a fully connected layer factored into a feature filter and a time filter over a
//! rolling memory), float32 and full integer, as LiteRT's `reference_ops::EvalFloatSVDF` and
//! `reference_ops::EvalIntegerSVDF`.
//!
//! Shapes (TFLite's): input `[batch, input_size]`, weights_feature `[num_filters,
//! input_size]`, weights_time `[num_filters, memory_size]`, bias `[num_units]` (optional),
//! state `[batch, num_filters * memory_size]` (a variable tensor, updated in place), output
//! `[batch, num_units]`, with `num_units = num_filters / rank`.
//!
//! Each invocation:
//! 1. shifts every filter's memory left by one (LiteRT shifts the whole state buffer by one
//!    element, then overwrites each filter's last slot, which amounts to the same);
//! 2. writes each filter's feature activation `weights_feature[f] . input[b]` into the last
//!    slot (integer: `(q_in - zp_in)` products, rescaled by `effective_scale_1` and saturated
//!    to int16; the state is assumed symmetric, zero point 0);
//! 3. for every unit, sums over its `rank` filters the time dot products
//!    `weights_time[f] . state[b][f]`, adds the bias and, for float, applies the fused
//!    activation; integer rescales by `effective_scale_2`, adds the output zero point and
//!    saturates to int8. LiteRT's integer kernel insists on a RELU activation but does not
//!    apply it (only the int8 saturation clips), so neither do we.
//!
//! LiteRT materialises the time products in a `[batch, num_filters]` scratch tensor and the
//! integer sums in a `[batch, num_units]` one. Here each unit's sum is accumulated in
//! registers, so no scratch memory is needed: [`scratch_len`] is 0.
//!
//! Float results are bit-identical to LiteRT's x86 build, whose `tensor_utils` run TFLite's
//! NEON code through NEON_2_SSE: every dot product (feature and time) and the sum over the
//! rank use four lane accumulators, lanes added left to right, then the leftover elements;
//! the bias is added after that sum. (A plain left-to-right dot product differs in the last
//! bits as soon as a row has 8 or more elements.) Checked against LiteRT 2.3.0 on 500 random
//! float and integer SVDFs over up to 20 invocations.
//!
//! The integer scales follow LiteRT 2.3.0's Prepare: `input * weights_feature / state` and
//! `state * weights_time / output` are evaluated in **f32** and only then widened to f64 for
//! `QuantizeMultiplier` (checked with scales where f32 and f64 disagree; newer LiteRT
//! sources compute in f64).

use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::types::Activation;

/// Why an SVDF cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvdfError {
    /// `rank` is 0, or does not divide `num_filters`.
    BadRank,
    /// A size is zero where TFLite needs one, or does not fit in an `i32`.
    BadShape,
}

/// The sizes of an SVDF, read from the tensors' shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvdfShape {
    /// `input.dims[0]`.
    pub batch: usize,
    /// `input.dims[1]` (= `weights_feature.dims[1]`).
    pub input_size: usize,
    /// `weights_feature.dims[0]` (= `weights_time.dims[0]`).
    pub num_filters: usize,
    /// `weights_time.dims[1]`.
    pub memory_size: usize,
    /// The `rank` option.
    pub rank: usize,
}

/// The quantization of the integer SVDF's tensors (per-tensor scales and zero points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SvdfQuant {
    pub input_scale: f32,
    pub input_zp: i32,
    pub weights_feature_scale: f32,
    pub weights_time_scale: f32,
    /// The activation state's scale (its zero point must be 0).
    pub state_scale: f32,
    pub output_scale: f32,
    pub output_zp: i32,
}

/// Sizes and constants, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SvdfParams {
    pub batch: i32,
    pub input_size: i32,
    pub num_filters: i32,
    pub memory_size: i32,
    pub rank: i32,
    /// Float only: the fused activation as the schema's code (0 none, 1 relu, 2 relu_n1_to_1,
    /// 3 relu6).
    pub activation: i32,
    /// Integer only.
    pub input_zp: i32,
    pub output_zp: i32,
    /// `effective_scale_1` (input * weights_feature / state) as multiplier and shift.
    pub scale_1_a: i32,
    pub scale_1_b: i32,
    /// `effective_scale_2` (state * weights_time / output) as multiplier and shift.
    pub scale_2_a: i32,
    pub scale_2_b: i32,
}

fn activation_code(a: Activation) -> i32 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::ReluN1To1 => 2,
        Activation::Relu6 => 3,
    }
}

impl SvdfParams {
    fn sizes(shape: &SvdfShape) -> Result<Self, SvdfError> {
        if shape.rank == 0 || !shape.num_filters.is_multiple_of(shape.rank) {
            return Err(SvdfError::BadRank);
        }
        if shape.memory_size == 0 {
            return Err(SvdfError::BadShape);
        }
        let fits = |x: usize| i32::try_from(x).map_err(|_| SvdfError::BadShape);
        // Every buffer length must fit too.
        let state_len = shape
            .batch
            .checked_mul(shape.num_filters)
            .and_then(|x| x.checked_mul(shape.memory_size));
        let wf_len = shape.num_filters.checked_mul(shape.input_size);
        let in_len = shape.batch.checked_mul(shape.input_size);
        for len in [state_len, wf_len, in_len] {
            fits(len.ok_or(SvdfError::BadShape)?)?;
        }
        Ok(SvdfParams {
            batch: fits(shape.batch)?,
            input_size: fits(shape.input_size)?,
            num_filters: fits(shape.num_filters)?,
            memory_size: fits(shape.memory_size)?,
            rank: fits(shape.rank)?,
            activation: 0,
            input_zp: 0,
            output_zp: 0,
            scale_1_a: 0,
            scale_1_b: 0,
            scale_2_a: 0,
            scale_2_b: 0,
        })
    }

    /// A float32 SVDF with its fused activation.
    pub fn new_float(shape: &SvdfShape, activation: Activation) -> Result<Self, SvdfError> {
        let mut p = Self::sizes(shape)?;
        p.activation = activation_code(activation);
        Ok(p)
    }

    /// A full-integer SVDF (int8 input, weights_feature and output; int16 weights_time and
    /// state; int32 bias), with LiteRT's Prepare-time scales.
    pub fn new_integer(shape: &SvdfShape, q: &SvdfQuant) -> Result<Self, SvdfError> {
        let mut p = Self::sizes(shape)?;
        // f32 arithmetic, then widened: as LiteRT 2.3.0 computes it.
        let s1 = q.input_scale * q.weights_feature_scale / q.state_scale;
        let s2 = q.state_scale * q.weights_time_scale / q.output_scale;
        (p.scale_1_a, p.scale_1_b) = quantize_multiplier(f64::from(s1));
        (p.scale_2_a, p.scale_2_b) = quantize_multiplier(f64::from(s2));
        p.input_zp = q.input_zp;
        p.output_zp = q.output_zp;
        Ok(p)
    }

    /// `num_filters / rank`: the output's inner dimension and the bias length.
    pub fn num_units(&self) -> usize {
        (self.num_filters / self.rank.max(1)).max(0) as usize
    }

    /// Lengths (input, weights_feature, weights_time, state, output).
    fn lengths(&self) -> [usize; 5] {
        let (b, i, f, m) = (
            self.batch.max(0) as usize,
            self.input_size.max(0) as usize,
            self.num_filters.max(0) as usize,
            self.memory_size.max(0) as usize,
        );
        [b * i, f * i, f * m, b * f * m, b * self.num_units()]
    }

    /// Whether the slices have the shape's lengths: always for a verified model, not
    /// necessarily for a corrupt build-verified one (then the kernel returns an error).
    fn lengths_ok(&self, got: [usize; 5], bias: Option<usize>) -> bool {
        got == self.lengths() && self.memory_size > 0 && bias.is_none_or(|n| n == self.num_units())
    }
}

/// Scratch memory (`i32` words) the eval functions need: none (see the module docs).
pub const fn scratch_len(_params: &SvdfParams) -> usize {
    0
}

/// Lanes summed left to right, as TFLite's `AccumulateNeonLane` does through NEON_2_SSE.
#[inline(always)]
fn lane_sum(l: [f32; 4]) -> f32 {
    ((l[0] + l[1]) + l[2]) + l[3]
}

/// A float dot product in the order of TFLite's NEON `VectorVectorDotProduct` and
/// `MatrixBatchVectorMultiplyAccumulate`, which LiteRT's x86 build runs too (through
/// NEON_2_SSE): four lane accumulators over whole blocks of four (multiply, then add), the
/// lanes summed left to right, then the remaining elements one by one. On a Cortex-M the four
/// independent accumulators also keep the FPU pipeline busy.
#[inline(always)]
fn dot4(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            lanes[k] += x[k] * y[k];
        }
    }
    let mut s = lane_sum(lanes);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `max(lo, min(x, hi))` with C++'s `std::max`/`std::min` semantics (NaN-in, bound-out).
#[inline(always)]
fn clamp_like_cpp(x: f32, lo: f32, hi: f32) -> f32 {
    let m = if hi < x { hi } else { x };
    if lo < m {
        m
    } else {
        lo
    }
}

/// Float32 SVDF, as `reference_ops::EvalFloatSVDF`. `state` is updated in place.
///
/// Precondition: slice lengths match `params` (see the module docs; `bias`, when present,
/// has `num_units` elements); otherwise nothing is written (and debug builds assert).
pub fn svdf_f32(
    params: &SvdfParams,
    input: &[f32],
    weights_feature: &[f32],
    weights_time: &[f32],
    bias: Option<&[f32]>,
    state: &mut [f32],
    output: &mut [f32],
) {
    let lens = [
        input.len(),
        weights_feature.len(),
        weights_time.len(),
        state.len(),
        output.len(),
    ];
    if !params.lengths_ok(lens, bias.map(<[f32]>::len)) {
        return;
    }
    let n_in = params.input_size as usize;
    let n_mem = params.memory_size as usize;
    let n_f = params.num_filters as usize;
    let rank = params.rank as usize;
    let n_units = params.num_units();
    if state.is_empty() {
        return;
    }
    state.copy_within(1.., 0);
    let block = n_f * n_mem;
    for (b, st) in state.chunks_exact_mut(block).enumerate() {
        let x = &input[b * n_in..(b + 1) * n_in];
        for (f, mem) in st.chunks_exact_mut(n_mem).enumerate() {
            let w = &weights_feature[f * n_in..(f + 1) * n_in];
            // LiteRT accumulates into a zeroed scratch: 0.0 + dot (turns -0.0 into +0.0).
            mem[n_mem - 1] = 0.0 + dot4(w, x);
        }
    }
    let (lo, hi, clip) = match Activation::from_schema(params.activation as i8) {
        Some(Activation::Relu) => (0.0, 0.0, 1),
        Some(Activation::ReluN1To1) => (-1.0, 1.0, 2),
        Some(Activation::Relu6) => (0.0, 6.0, 2),
        _ => (0.0, 0.0, 0),
    };
    for (st, out) in state
        .chunks_exact(block)
        .zip(output.chunks_exact_mut(n_units))
    {
        for (u, o) in out.iter_mut().enumerate() {
            let f0 = u * rank;
            // The rank reduction in the same 4-lane order as the dot products.
            let full = rank & !3;
            let mut lanes = [0.0f32; 4];
            let mut acc = 0.0f32;
            for (r, (wt, mem)) in weights_time[f0 * n_mem..(f0 + rank) * n_mem]
                .chunks_exact(n_mem)
                .zip(st[f0 * n_mem..].chunks_exact(n_mem))
                .enumerate()
            {
                let d = dot4(wt, mem);
                if r < full {
                    lanes[r & 3] += d;
                } else {
                    if r == full {
                        acc = lane_sum(lanes);
                    }
                    acc += d;
                }
            }
            if full == rank {
                acc = lane_sum(lanes);
            }
            if let Some(bias) = bias {
                acc += bias[u];
            }
            *o = match clip {
                1 => {
                    if 0.0 < acc {
                        acc
                    } else {
                        0.0
                    }
                }
                2 => clamp_like_cpp(acc, lo, hi),
                _ => acc,
            };
        }
    }
}

/// Full-integer SVDF, as `reference_ops::EvalIntegerSVDF`. `state` is updated in place.
///
/// Precondition: slice lengths match `params` (see the module docs; `bias`, when present,
/// has `num_units` elements); otherwise nothing is written (and debug builds assert).
pub fn svdf_i8(
    params: &SvdfParams,
    input: &[i8],
    weights_feature: &[i8],
    weights_time: &[i16],
    bias: Option<&[i32]>,
    state: &mut [i16],
    output: &mut [i8],
) {
    let lens = [
        input.len(),
        weights_feature.len(),
        weights_time.len(),
        state.len(),
        output.len(),
    ];
    if !params.lengths_ok(lens, bias.map(<[i32]>::len)) {
        return;
    }
    let n_in = params.input_size as usize;
    let n_mem = params.memory_size as usize;
    let n_f = params.num_filters as usize;
    let rank = params.rank as usize;
    let n_units = params.num_units();
    if state.is_empty() {
        return;
    }
    let (in_zp, out_zp) = (params.input_zp, params.output_zp);
    let (m1, s1, m2, s2) = (
        params.scale_1_a,
        params.scale_1_b,
        params.scale_2_a,
        params.scale_2_b,
    );
    state.copy_within(1.., 0);
    let block = n_f * n_mem;
    for (b, st) in state.chunks_exact_mut(block).enumerate() {
        let x = &input[b * n_in..(b + 1) * n_in];
        for (f, mem) in st.chunks_exact_mut(n_mem).enumerate() {
            let w = &weights_feature[f * n_in..(f + 1) * n_in];
            let mut dot = 0i32;
            for (&a, &v) in w.iter().zip(x) {
                dot = dot.wrapping_add(i32::from(a) * (i32::from(v) - in_zp));
            }
            let v = multiply_by_quantized_multiplier(dot, m1, s1);
            mem[n_mem - 1] = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
    for (st, out) in state
        .chunks_exact(block)
        .zip(output.chunks_exact_mut(n_units))
    {
        for (u, o) in out.iter_mut().enumerate() {
            let f0 = u * rank;
            let mut acc = bias.map_or(0, |b| b[u]);
            for (wt, mem) in weights_time[f0 * n_mem..(f0 + rank) * n_mem]
                .chunks_exact(n_mem)
                .zip(st[f0 * n_mem..].chunks_exact(n_mem))
            {
                for (&a, &s) in wt.iter().zip(mem) {
                    acc = acc.wrapping_add(i32::from(a) * i32::from(s));
                }
            }
            let v = multiply_by_quantized_multiplier(acc, m2, s2).saturating_add(out_zp);
            *o = v.clamp(-128, 127) as i8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: SvdfShape = SvdfShape {
        batch: 1,
        input_size: 2,
        num_filters: 2,
        memory_size: 3,
        rank: 1,
    };

    #[test]
    fn float_state_shifts_over_two_invocations() {
        let p = SvdfParams::new_float(&SHAPE, Activation::None).unwrap();
        let wf = [1.0f32, 2.0, -1.0, 0.5]; // filter 0: x0 + 2 x1; filter 1: -x0 + x1/2
        let wt = [0.25f32, 0.5, 1.0, 1.0, 1.0, 1.0];
        let bias = [0.5f32, -1.0];
        let mut state = [0.0f32; 6];
        let mut out = [0.0f32; 2];
        // t = 1: activations a = [1 + 4, -1 + 1] = [5, 0].
        svdf_f32(&p, &[1.0, 2.0], &wf, &wt, Some(&bias), &mut state, &mut out);
        assert_eq!(state, [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]);
        assert_eq!(out, [5.0 + 0.5, 0.0 - 1.0]);
        // t = 2: a = [3 + 2, -3 + 0.5] = [5, -2.5]; memories [0, 5, 5] and [0, 0, -2.5].
        svdf_f32(&p, &[3.0, 1.0], &wf, &wt, Some(&bias), &mut state, &mut out);
        assert_eq!(state, [0.0, 5.0, 5.0, 0.0, 0.0, -2.5]);
        assert_eq!(out, [0.5 * 5.0 + 5.0 + 0.5, -2.5 - 1.0]);
        // t = 3 with RELU: a = [0, 0]; memories [5, 5, 0] and [0, -2.5, 0].
        let p = SvdfParams::new_float(&SHAPE, Activation::Relu).unwrap();
        svdf_f32(&p, &[0.0, 0.0], &wf, &wt, Some(&bias), &mut state, &mut out);
        assert_eq!(state, [5.0, 5.0, 0.0, 0.0, -2.5, 0.0]);
        assert_eq!(out, [0.25 * 5.0 + 0.5 * 5.0 + 0.5, 0.0]);
    }

    #[test]
    fn float_dot_products_use_four_lanes() {
        // Lanes: [1e8 - 1e8, 1 + 1, 1 + 1, 1 + 1] -> 6; a left-to-right sum would absorb
        // the 1s into 1e8 and give 3. LiteRT 2.3.0 gives 6 for both dot products.
        let seq = [1e8f32, 1.0, 1.0, 1.0, -1e8, 1.0, 1.0, 1.0];
        let feature = SvdfShape {
            batch: 1,
            input_size: 8,
            num_filters: 1,
            memory_size: 1,
            rank: 1,
        };
        let p = SvdfParams::new_float(&feature, Activation::None).unwrap();
        let (mut state, mut out) = ([0.0f32], [0.0f32]);
        svdf_f32(&p, &seq, &[1.0; 8], &[1.0], None, &mut state, &mut out);
        assert_eq!(out, [6.0]);
        // The time dot product over a memory of 8, fed one value per invocation.
        let time = SvdfShape {
            input_size: 1,
            memory_size: 8,
            ..feature
        };
        let p = SvdfParams::new_float(&time, Activation::None).unwrap();
        let mut state = [0.0f32; 8];
        let mut outs = [0.0f32; 8];
        for (x, o) in seq.iter().zip(outs.iter_mut()) {
            let mut out = [0.0f32];
            svdf_f32(&p, &[*x], &[1.0], &[1.0; 8], None, &mut state, &mut out);
            *o = out[0];
        }
        assert_eq!(outs, [1e8, 1e8, 1e8, 1e8, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn float_rank_two_sums_filter_pairs() {
        // 4 filters, rank 2 -> 2 units; memory 1, so the output is a sum of two activations.
        let shape = SvdfShape {
            batch: 2,
            input_size: 1,
            num_filters: 4,
            memory_size: 1,
            rank: 2,
        };
        let p = SvdfParams::new_float(&shape, Activation::Relu6).unwrap();
        let wf = [1.0f32, 2.0, 3.0, -4.0];
        let wt = [1.0f32, 1.0, 1.0, 1.0];
        let mut state = [0.0f32; 8];
        let mut out = [0.0f32; 4];
        svdf_f32(&p, &[1.0, 0.5], &wf, &wt, None, &mut state, &mut out);
        // batch 0: [1 + 2, 3 - 4] = [3, -1] -> relu6 -> [3, 0]; batch 1: [1.5, -0.5] -> [1.5, 0].
        assert_eq!(out, [3.0, 0.0, 1.5, 0.0]);
    }

    #[test]
    fn integer_scales_are_computed_in_f32() {
        let q = SvdfQuant {
            input_scale: 3e-23,
            input_zp: 0,
            weights_feature_scale: 3.3e-23,
            weights_time_scale: 1.0,
            state_scale: 1e-42,
            output_scale: 1e-42,
            output_zp: 0,
        };
        let p = SvdfParams::new_integer(&SHAPE, &q).unwrap();
        // In f32 the product 9.9e-46 underflows to the smallest subnormal, 1.4e-45: the
        // multiplier is 1.4e-45 / 1e-42 = 1.4e-3, not 9.9e-4 as f64 would give.
        assert_eq!((p.scale_1_a, p.scale_1_b), (1_539_932_288, -9));
        assert_eq!((p.scale_2_a, p.scale_2_b), (1 << 30, 1));
    }

    #[test]
    fn integer_state_shift_rescale_and_saturation() {
        // scale_1 = 0.5 * 0.5 / 0.25 = 1 -> state = dot exactly (saturated to i16);
        // scale_2 = 0.25 * 1.0 / 0.5 = 0.5 -> out = round(acc / 2) + zp.
        let q = SvdfQuant {
            input_scale: 0.5,
            input_zp: 1,
            weights_feature_scale: 0.5,
            weights_time_scale: 1.0,
            state_scale: 0.25,
            output_scale: 0.5,
            output_zp: -10,
        };
        let p = SvdfParams::new_integer(&SHAPE, &q).unwrap();
        assert_eq!((p.scale_1_a, p.scale_1_b), (1 << 30, 1));
        let wf = [1i8, 2, 100, 100];
        let wt = [1i16, 2, 3, 0, 0, 1];
        let bias = [4i32, -3];
        let mut state = [0i16; 6];
        let mut out = [0i8; 2];
        // t = 1, x = [3, 1] -> x - zp = [2, 0]: dots [2, 200].
        svdf_i8(&p, &[3, 1], &wf, &wt, Some(&bias), &mut state, &mut out);
        assert_eq!(state, [0, 0, 2, 0, 0, 200]);
        // Unit 0: 4 + 3 * 2 = 10 -> 5 - 10 = -5. Unit 1: -3 + 200 = 197 -> 98.5 -> 99 - 10.
        assert_eq!(out, [-5, 89]);
        // t = 2, x = [127, 127] -> [126, 126]: dots [378, 25200]; state shifts left.
        svdf_i8(&p, &[127, 127], &wf, &wt, Some(&bias), &mut state, &mut out);
        assert_eq!(state, [0, 2, 378, 0, 200, 25200]);
        // Unit 0: 4 + 2*2 + 3*378 = 1142 -> 571 - 10 -> 127 (saturated).
        // Unit 1: -3 + 25200 = 25197 -> 12599 -> 127.
        assert_eq!(out, [127, 127]);
        // t = 3, x = [-128, -128] -> [-129, -129]: dots [-387, -25800]; memories shift.
        svdf_i8(&p, &[-128, -128], &wf, &wt, None, &mut state, &mut out);
        assert_eq!(state, [2, 378, -387, 200, 25200, -25800]);
        // Unit 0: 2 + 756 - 1161 = -403 -> -201.5 -> -201 (negative tie toward zero) - 10.
        // Unit 1: -25800 -> -12900 -> -128.
        assert_eq!(out, [-128, -128]);
        let mut state2 = [0i16; 6];
        // A feature dot beyond int16 saturates in the state.
        let wf_big = [127i8, 127, 127, 127];
        svdf_i8(&p, &[127, 127], &wf_big, &wt, None, &mut state2, &mut out);
        assert_eq!(state2[2], 127 * 126 * 2);
        let q2 = SvdfQuant {
            state_scale: 0.0625,
            ..q
        };
        let p2 = SvdfParams::new_integer(&SHAPE, &q2).unwrap();
        svdf_i8(&p2, &[127, 127], &wf_big, &wt, None, &mut state2, &mut out);
        assert_eq!(state2[2], i16::MAX);
    }

    #[test]
    fn shape_errors_and_scratch() {
        let bad = SvdfShape { rank: 3, ..SHAPE };
        assert_eq!(
            SvdfParams::new_float(&bad, Activation::None),
            Err(SvdfError::BadRank)
        );
        let p = SvdfParams::new_float(&SHAPE, Activation::None).unwrap();
        assert_eq!(scratch_len(&p), 0);
        assert_eq!(p.num_units(), 2);
    }
}

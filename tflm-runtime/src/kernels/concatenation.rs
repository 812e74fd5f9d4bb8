//! CONCATENATION along any axis, for any element type, plus the requantizing variant of
//! TFLite's `reference_ops::ConcatenationWithScaling` for quantized inputs whose scale or
//! zero point differ from the output's.
//!
//! The output is `outer` blocks; in each, every input contributes a contiguous run of
//! `in_axis * inner` elements (`outer` = product of the dims before the axis, `inner` =
//! product of the dims after it). That lets the interpreter write one input at a time with
//! [`concat_input`] (no slice-of-slices needed), each run a single `copy_from_slice`.
//!
//! Which path LiteRT takes (BUILTIN_REF, checked on 2.3.0):
//! - float32, int32, int16, int8 with the output's scale and zero point: a plain copy.
//!   LiteRT's Prepare *rejects* int8 inputs whose scale or zero point differ from the output,
//!   and for int16 it only requires zero points of 0 (scales are ignored: raw copy).
//! - uint8: `ConcatenationWithScaling`, per input: a copy when scale and zero point equal the
//!   output's, else `q_out = clamp(round(q_in * s + b) + zp_out)` in float, with
//!   `s = in_scale * (1 / out_scale)` and `b = -zp_in * s`.
//!
//! [`concat_input_requant`] implements that formula for int8/uint8/int16 (clamping to the
//! type's range). For int8 it is an extension (LiteRT and TFLite Micro refuse such models);
//! it gives exactly the bits `ConcatenationWithScaling` would.

/// Why a concatenation cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcatError {
    /// `axis` is outside `-rank..rank`. (Scalars concatenate into a `[n]` output: pass that
    /// shape and axis 0.)
    BadAxis,
    /// A dimension product does not fit in an `i32`.
    DimTooLarge,
}

/// The block geometry shared by all inputs, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConcatParams {
    /// The concatenation axis, normalized to `0..rank` (TFLite adds `rank` to a negative one).
    pub axis: i32,
    /// Product of the output dims before the axis.
    pub outer: i32,
    /// Product of the output dims after the axis.
    pub inner: i32,
    /// Output extent along the axis (the sum of the inputs' extents).
    pub out_axis: i32,
}

impl ConcatParams {
    /// Builds the geometry from the output shape and the model's (possibly negative) axis.
    pub fn new(output_shape: &[usize], axis: i32) -> Result<Self, ConcatError> {
        let rank = output_shape.len() as i32;
        let a = if axis < 0 { axis + rank } else { axis };
        if a < 0 || a >= rank {
            return Err(ConcatError::BadAxis);
        }
        let a_u = a as usize;
        let prod = |dims: &[usize]| -> Result<i32, ConcatError> {
            let mut p: usize = 1;
            for &d in dims {
                p = p.checked_mul(d).ok_or(ConcatError::DimTooLarge)?;
            }
            i32::try_from(p).map_err(|_| ConcatError::DimTooLarge)
        };
        Ok(ConcatParams {
            axis: a,
            outer: prod(&output_shape[..a_u])?,
            inner: prod(&output_shape[a_u + 1..])?,
            out_axis: prod(&output_shape[a_u..a_u + 1])?,
        })
    }

    /// Number of output elements.
    pub fn out_len(&self) -> usize {
        self.outer.max(0) as usize * self.out_axis.max(0) as usize * self.inner.max(0) as usize
    }

    /// The destination runs of one input: `(run length, first output offset, output stride)`,
    /// or `None` when the input or output lengths do not match the geometry.
    fn runs(
        &self,
        in_len: usize,
        in_axis: usize,
        axis_offset: usize,
        out_len: usize,
    ) -> Option<(usize, usize, usize)> {
        let (outer, inner, out_axis) = (
            self.outer.max(0) as usize,
            self.inner.max(0) as usize,
            self.out_axis.max(0) as usize,
        );
        let run = in_axis.checked_mul(inner)?;
        let ok = in_len == outer.checked_mul(run)?
            && axis_offset.checked_add(in_axis)? <= out_axis
            && out_len == self.out_len();
        ok.then_some((run, axis_offset * inner, out_axis * inner))
    }
}

/// Writes one input's share of the output: `input` has extent `in_axis` along the axis and
/// lands at `axis_offset` (the sum of the extents of the inputs before it).
///
/// Precondition: `input.len() == outer * in_axis * inner`, `axis_offset + in_axis <= out_axis`
/// and `output.len() == outer * out_axis * inner`; otherwise nothing is written (and debug
/// builds assert).
pub fn concat_input<T: Copy>(
    params: &ConcatParams,
    input: &[T],
    in_axis: usize,
    axis_offset: usize,
    output: &mut [T],
) {
    let Some((run, first, stride)) = params.runs(input.len(), in_axis, axis_offset, output.len())
    else {
        debug_assert!(
            false,
            "concatenation: slice lengths do not match the geometry"
        );
        return;
    };
    if run == 0 {
        return;
    }
    for (src, dst) in input
        .chunks_exact(run)
        .zip(output[first..].chunks_mut(stride))
    {
        dst[..run].copy_from_slice(src);
    }
}

/// Concatenates all `inputs` (in order) into `output`; each input's extent along the axis is
/// derived from its length.
///
/// Precondition: every input length is a multiple of `outer * inner` and the extents add up
/// to `out_axis`; otherwise the offending input is skipped (and debug builds assert).
pub fn concatenation<T: Copy>(params: &ConcatParams, inputs: &[&[T]], output: &mut [T]) {
    let block = params.outer.max(0) as usize * params.inner.max(0) as usize;
    let mut offset = 0;
    for input in inputs {
        let in_axis = input.len().checked_div(block).unwrap_or(0);
        concat_input(params, input, in_axis, offset, output);
        offset += in_axis;
    }
}

/// A quantized element type: what [`concat_input_requant`] needs to rescale it.
pub trait Quantized: Copy {
    const QMIN: i32;
    const QMAX: i32;
    fn to_i32(self) -> i32;
    /// `v` must already be within `QMIN..=QMAX`.
    fn from_i32(v: i32) -> Self;
}

macro_rules! quantized {
    ($($t:ty),*) => {$(
        impl Quantized for $t {
            const QMIN: i32 = <$t>::MIN as i32;
            const QMAX: i32 = <$t>::MAX as i32;
            #[inline(always)]
            fn to_i32(self) -> i32 {
                self as i32
            }
            #[inline(always)]
            fn from_i32(v: i32) -> Self {
                v as $t
            }
        }
    )*};
}
quantized!(i8, u8, i16);

/// The per-input rescaling of `ConcatenationWithScaling`, computed once at init.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConcatRequant {
    /// `in_scale * (1 / out_scale)`, in f32 as TFLite computes it.
    pub scale: f32,
    /// `-in_zp * scale`.
    pub bias: f32,
    pub out_zp: i32,
    /// Non-zero when scale and zero point equal the output's: a plain copy.
    pub identity: i32,
}

impl ConcatRequant {
    /// TFLite's per-input constants from the input's and the output's quantization.
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Self {
        let inverse_output_scale = 1.0f32 / out_scale;
        let scale = in_scale * inverse_output_scale;
        ConcatRequant {
            scale,
            bias: (in_zp.wrapping_neg()) as f32 * scale,
            out_zp,
            identity: (in_zp == out_zp && in_scale == out_scale) as i32,
        }
    }
}

/// Like [`concat_input`], rescaling each element from the input's quantization to the
/// output's with `rq` (a plain copy when `rq.identity` is set).
pub fn concat_input_requant<Q: Quantized>(
    params: &ConcatParams,
    rq: &ConcatRequant,
    input: &[Q],
    in_axis: usize,
    axis_offset: usize,
    output: &mut [Q],
) {
    if rq.identity != 0 {
        concat_input(params, input, in_axis, axis_offset, output);
        return;
    }
    let Some((run, first, stride)) = params.runs(input.len(), in_axis, axis_offset, output.len())
    else {
        debug_assert!(
            false,
            "concatenation: slice lengths do not match the geometry"
        );
        return;
    };
    if run == 0 {
        return;
    }
    let (scale, bias, zp) = (rq.scale, rq.bias, rq.out_zp);
    for (src, dst) in input
        .chunks_exact(run)
        .zip(output[first..].chunks_mut(stride))
    {
        for (d, &s) in dst[..run].iter_mut().zip(src) {
            // TfLiteRound is std::round: ties away from zero. `as` saturates where C++ would
            // be undefined (only reachable with absurd scales).
            let v = (libm::roundf(s.to_i32() as f32 * scale + bias) as i32).saturating_add(zp);
            *d = Q::from_i32(v.clamp(Q::QMIN, Q::QMAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_zero_and_last_axis() {
        // [2,2] ++ [1,2] along axis 0.
        let p = ConcatParams::new(&[3, 2], 0).unwrap();
        let mut out = [0i32; 6];
        concatenation(&p, &[&[1, 2, 3, 4], &[5, 6]], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        // [2,1] ++ [2,2] along axis -1 (normalized to 1).
        let p = ConcatParams::new(&[2, 3], -1).unwrap();
        assert_eq!(p.axis, 1);
        let mut out = [0.0f32; 6];
        concatenation(&p, &[&[1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]], &mut out);
        assert_eq!(out, [1.0, 3.0, 4.0, 2.0, 5.0, 6.0]);
    }

    #[test]
    fn middle_axis_of_a_4d_tensor_one_input_at_a_time() {
        // NHWC [1,2,1,2] ++ [1,2,2,2] along W (axis 2) -> [1,2,3,2].
        let p = ConcatParams::new(&[1, 2, 3, 2], 2).unwrap();
        assert_eq!((p.outer, p.inner, p.out_axis), (2, 2, 3));
        let a = [1i8, 2, 3, 4];
        let b = [10i8, 11, 12, 13, 14, 15, 16, 17];
        let mut out = [0i8; 12];
        // Inputs may be written in any order.
        concat_input(&p, &b, 2, 1, &mut out);
        concat_input(&p, &a, 1, 0, &mut out);
        assert_eq!(out, [1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17]);
    }

    #[test]
    fn requant_matches_hand_computed_rounding() {
        // in scale 0.5 zp 1, out scale 0.25 zp -3: q_out = round(2 * q - 2) - 3.
        let rq = ConcatRequant::new(0.5, 1, 0.25, -3);
        assert_eq!((rq.scale, rq.bias, rq.identity), (2.0, -2.0, 0));
        let p = ConcatParams::new(&[4], 0).unwrap();
        let mut out = [0i8; 4];
        concat_input_requant(&p, &rq, &[0i8, 10, 70, -70], 4, 0, &mut out);
        // 0 -> -5; 10 -> 15; 70 -> 135 -> 127 (saturated); -70 -> -145 -> -128.
        assert_eq!(out, [-5, 15, 127, -128]);
        // Ties round away from zero: scale 0.5 from 1.0/2.0; q=3 -> 1.5 -> 2, q=-3 -> -2.
        let rq = ConcatRequant::new(1.0, 0, 2.0, 0);
        let mut out = [0i8; 4];
        concat_input_requant(&p, &rq, &[3i8, -3, 1, -1], 4, 0, &mut out);
        assert_eq!(out, [2, -2, 1, -1]);
    }

    #[test]
    fn requant_mixed_with_identity_inputs() {
        // Output scale 1.0 zp 0; input A identical (copied), input B scale 2.0 zp 10.
        let p = ConcatParams::new(&[2, 2], 1).unwrap();
        let same = ConcatRequant::new(1.0, 0, 1.0, 0);
        let twice = ConcatRequant::new(2.0, 10, 1.0, 0);
        assert_eq!(same.identity, 1);
        let mut out = [0u8; 4];
        concat_input_requant(&p, &same, &[200u8, 201], 1, 0, &mut out);
        concat_input_requant(&p, &twice, &[12u8, 255], 1, 1, &mut out);
        // B: 2 * (12 - 10) = 4; 2 * (255 - 10) = 490 -> 255.
        assert_eq!(out, [200, 4, 201, 255]);
        let mut out16 = [0i16; 4];
        concat_input_requant(&p, &same, &[-300i16, 300], 1, 0, &mut out16);
        concat_input_requant(&p, &twice, &[20000i16, -20000], 1, 1, &mut out16);
        assert_eq!(out16, [-300, 32767, 300, -32768]);
    }

    #[test]
    fn scalars_and_errors() {
        // Concatenating two scalars gives [2].
        let p = ConcatParams::new(&[2], 0).unwrap();
        let mut out = [0i32; 2];
        concatenation(&p, &[&[7], &[8]], &mut out);
        assert_eq!(out, [7, 8]);
        assert_eq!(ConcatParams::new(&[], 0), Err(ConcatError::BadAxis));
        assert_eq!(ConcatParams::new(&[2, 2], 2), Err(ConcatError::BadAxis));
        assert_eq!(ConcatParams::new(&[2, 2], -3), Err(ConcatError::BadAxis));
    }
}

//! PAD and PADV2: surround the input with a constant, up to 5-D, for any element type.
//!
//! The pad value is the caller's choice, as in TFLite: PAD uses 0.0 for float and the
//! output zero point for quantized tensors; PADV2 uses its `constant_values` scalar (which
//! TFLite requires to share the output's scale and zero point when quantized). Shapes of lower
//! rank are extended to 5-D with leading 1s, like TFLite's `PadImpl`.
//!
//! The output is written row by row (the innermost dimension): a row lying in a padded
//! region is one `fill`, any other row is `fill` + `copy_from_slice` + `fill`.

/// The largest rank TFLite's reference PAD accepts (`PadKernelMaxDimensionCount`).
pub const MAX_DIMS: usize = 5;

/// Why a pad cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadError {
    /// The input has more than [`MAX_DIMS`] dimensions.
    RankTooLarge,
    /// `paddings` does not hold `2 * rank` values (the `[rank, 2]` tensor, flattened).
    PaddingsLength,
    /// A padding is negative (TFLite: "Pad value has to be greater than equal to 0").
    NegativePadding,
    /// A dimension or the element count does not fit in an `i32`.
    DimTooLarge,
}

/// Pad geometry extended to 5-D, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PadParams {
    /// Input dimensions, extended to 5-D with leading 1s.
    pub in_dims: [i32; MAX_DIMS],
    /// Elements added before each dimension.
    pub before: [i32; MAX_DIMS],
    /// Elements added after each dimension.
    pub after: [i32; MAX_DIMS],
    /// Element counts of the input and of the output.
    pub in_len: i32,
    pub out_len: i32,
}

impl PadParams {
    /// `paddings` is the `[rank, 2]` paddings tensor flattened (`[before_0, after_0, ...]`),
    /// converted to `i32` by the caller (TFLite also accepts int64 paddings within i32 range).
    pub fn new(input_shape: &[usize], paddings: &[i32]) -> Result<Self, PadError> {
        let rank = input_shape.len();
        if rank > MAX_DIMS {
            return Err(PadError::RankTooLarge);
        }
        if paddings.len() != 2 * rank {
            return Err(PadError::PaddingsLength);
        }
        let mut p = PadParams {
            in_dims: [1; MAX_DIMS],
            before: [0; MAX_DIMS],
            after: [0; MAX_DIMS],
            in_len: 0,
            out_len: 0,
        };
        let lead = MAX_DIMS - rank;
        let (mut in_len, mut out_len) = (1i64, 1i64);
        for (i, &d) in input_shape.iter().enumerate() {
            let (b, a) = (paddings[2 * i], paddings[2 * i + 1]);
            if b < 0 || a < 0 {
                return Err(PadError::NegativePadding);
            }
            let d = i32::try_from(d).map_err(|_| PadError::DimTooLarge)?;
            let o = d
                .checked_add(b)
                .and_then(|x| x.checked_add(a))
                .ok_or(PadError::DimTooLarge)?;
            p.in_dims[lead + i] = d;
            p.before[lead + i] = b;
            p.after[lead + i] = a;
            in_len = (in_len * d as i64).min(i64::from(i32::MAX) + 1);
            out_len = (out_len * o as i64).min(i64::from(i32::MAX) + 1);
        }
        p.in_len = i32::try_from(in_len).map_err(|_| PadError::DimTooLarge)?;
        p.out_len = i32::try_from(out_len).map_err(|_| PadError::DimTooLarge)?;
        Ok(p)
    }

    /// Output dimension `i` of the 5-D extended shape.
    #[inline]
    pub fn out_dim(&self, i: usize) -> usize {
        (self.in_dims[i] + self.before[i] + self.after[i]) as usize
    }
}

/// The output shape of PAD for an input shape of rank <= 5 (same rank as the input).
pub fn output_shape(
    input_shape: &[usize],
    paddings: &[i32],
) -> Result<([usize; MAX_DIMS], usize), PadError> {
    let p = PadParams::new(input_shape, paddings)?;
    let rank = input_shape.len();
    let mut out = [1usize; MAX_DIMS];
    for (i, o) in out.iter_mut().enumerate().take(rank) {
        *o = p.out_dim(MAX_DIMS - rank + i);
    }
    Ok((out, rank))
}

/// Pads `input` into `output` with `pad_value`.
///
/// Precondition: `input.len() == params.in_len` and `output.len() == params.out_len`;
/// otherwise nothing is written (and debug builds assert).
pub fn pad<T: Copy>(params: &PadParams, input: &[T], pad_value: T, output: &mut [T]) {
    if input.len() != params.in_len.max(0) as usize
        || output.len() != params.out_len.max(0) as usize
    {
        debug_assert!(false, "pad: slice lengths do not match the shape");
        return;
    }
    let od: [usize; MAX_DIMS] = core::array::from_fn(|i| params.out_dim(i));
    let id: [usize; MAX_DIMS] = core::array::from_fn(|i| params.in_dims[i] as usize);
    let b: [usize; MAX_DIMS] = core::array::from_fn(|i| params.before[i] as usize);
    let row_len = od[4];
    if row_len == 0 || output.is_empty() {
        return;
    }
    let (left, inner) = (b[4], id[4]);
    // Input strides of the four outer dimensions.
    let is3 = id[4];
    let is2 = is3 * id[3];
    let is1 = is2 * id[2];
    let is0 = is1 * id[1];
    let mut rows = output.chunks_exact_mut(row_len);
    for i0 in 0..od[0] {
        let in0 = i0.wrapping_sub(b[0]);
        for i1 in 0..od[1] {
            let in1 = i1.wrapping_sub(b[1]);
            for i2 in 0..od[2] {
                let in2 = i2.wrapping_sub(b[2]);
                for i3 in 0..od[3] {
                    let in3 = i3.wrapping_sub(b[3]);
                    let Some(row) = rows.next() else { return };
                    // Indices before the padding wrap to huge values: one compare per axis.
                    if in0 >= id[0] || in1 >= id[1] || in2 >= id[2] || in3 >= id[3] {
                        row.fill(pad_value);
                        continue;
                    }
                    let start = in0 * is0 + in1 * is1 + in2 * is2 + in3 * is3;
                    let (head, rest) = row.split_at_mut(left);
                    let (mid, tail) = rest.split_at_mut(inner);
                    head.fill(pad_value);
                    mid.copy_from_slice(&input[start..start + inner]);
                    tail.fill(pad_value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_d_pad_matches_hand_computed() {
        // [[1,2],[3,4]] padded by ((1,0),(1,2)) with 9.
        let p = PadParams::new(&[2, 2], &[1, 0, 1, 2]).unwrap();
        assert_eq!(output_shape(&[2, 2], &[1, 0, 1, 2]).unwrap().0[..2], [3, 5]);
        let mut out = [0i8; 15];
        pad(&p, &[1, 2, 3, 4], 9, &mut out);
        assert_eq!(out, [9, 9, 9, 9, 9, /**/ 9, 1, 2, 9, 9, /**/ 9, 3, 4, 9, 9]);
    }

    #[test]
    fn four_d_image_style_with_zero_point() {
        // NHWC [1,2,2,1], paddings ((0,0),(1,1),(0,1),(0,0)), pad value = zero point -128.
        let p = PadParams::new(&[1, 2, 2, 1], &[0, 0, 1, 1, 0, 1, 0, 0]).unwrap();
        assert_eq!(p.out_len, 12);
        let mut out = [0i8; 12];
        pad(&p, &[10, 20, 30, 40], -128, &mut out);
        assert_eq!(
            out,
            [-128, -128, -128, 10, 20, -128, 30, 40, -128, -128, -128, -128]
        );
    }

    #[test]
    fn five_d_float_and_channel_padding() {
        // [1,1,1,2,2] with the channel axis padded (1,1) and axis 0 padded (1,0).
        let p = PadParams::new(&[1, 1, 1, 2, 2], &[1, 0, 0, 0, 0, 0, 0, 0, 1, 1]).unwrap();
        let mut out = [7.0f32; 16];
        pad(&p, &[1.0, 2.0, 3.0, 4.0], 0.0, &mut out);
        let want = [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, // the padded batch
            0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn int16_int32_and_three_d() {
        // [2,1,2] padded ((0,1),(1,0),(0,0)) -> [3,2,2].
        let p = PadParams::new(&[2, 1, 2], &[0, 1, 1, 0, 0, 0]).unwrap();
        let mut out = [0i16; 12];
        pad(&p, &[1, 2, 3, 4], -1, &mut out);
        assert_eq!(out, [-1, -1, 1, 2, -1, -1, 3, 4, -1, -1, -1, -1]);
        let mut out32 = [0i32; 12];
        pad(&p, &[1, 2, 3, 4], 5, &mut out32);
        assert_eq!(out32, [5, 5, 1, 2, 5, 5, 3, 4, 5, 5, 5, 5]);
    }

    #[test]
    fn no_padding_is_a_copy_and_errors_are_reported() {
        let p = PadParams::new(&[3], &[0, 0]).unwrap();
        let mut out = [0u8; 3];
        pad(&p, &[1, 2, 3], 0, &mut out);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(
            PadParams::new(&[3], &[-1, 0]),
            Err(PadError::NegativePadding)
        );
        assert_eq!(PadParams::new(&[3], &[0]), Err(PadError::PaddingsLength));
        assert_eq!(
            PadParams::new(&[1; 6], &[0; 12]),
            Err(PadError::RankTooLarge)
        );
    }

    #[test]
    fn empty_input_gives_all_padding() {
        let p = PadParams::new(&[0, 2], &[1, 0, 0, 1]).unwrap();
        let mut out = [0i8; 3];
        pad(&p, &[], 4, &mut out);
        assert_eq!(out, [4, 4, 4]);
    }
}

//! STRIDED_SLICE for any element type, with every option of the schema: `begin_mask`,
//! `end_mask`, `ellipsis_mask`, `new_axis_mask`, `shrink_axis_mask` and `offset`, negative
//! indices and strides, inputs up to 5-D.
//!
//! [`StridedSliceParams::new`] does at init what LiteRT does in `BuildStridedSliceParams`
//! (expanding the ellipsis and new axes into an "effective" input shape), `StartForAxis` /
//! `EndForAxis` (masks, negative indices, clamping, shrink) and `ResizeOutputTensor` (output
//! shape). It then reduces the slice to a gather plan: a base offset plus, per output axis,
//! a count and a signed input step. Axes of count 1 fold into the base and axes that walk
//! memory contiguously merge, so the eval loop copies whole runs with `copy_from_slice`.
//!
//! Where LiteRT's reference kernel would write a different number of elements than the
//! output shape it declares, `new` returns [`StridedSliceError::Unsupported`] rather than
//! reproduce uninitialised output or LiteRT's buffer overrun. This happens only with `offset`
//! (LiteRT sizes the output from the raw `end` values, read at the *effective* axis index, but
//! walks the clamped range, and masks still override `end`) or with a shrunk axis that is
//! empty or walked backwards. Checked against LiteRT 2.3.0 (BUILTIN_REF) on 7,000 random
//! slices: every other case agrees in shape and values.

/// The largest input rank supported (TFLite's reference kernel handles 5-D).
pub const MAX_DIMS: usize = 5;
/// The largest rank after adding new axes (`new_axis_mask`), and of the output.
pub const MAX_EFFECTIVE_DIMS: usize = 8;

/// Why a strided slice cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StridedSliceError {
    /// The input has more than [`MAX_DIMS`] dimensions, or new axes take it past
    /// [`MAX_EFFECTIVE_DIMS`].
    RankTooLarge,
    /// `begin`, `end` and `strides` differ in length, or hold more than 31 entries.
    IndexLength,
    /// A stride is zero (or `i32::MIN`, which TFLite rejects too).
    BadStride,
    /// The masks refer to input dimensions that do not exist.
    BadMask,
    /// A dimension or the element count does not fit in an `i32`.
    DimTooLarge,
    /// LiteRT would declare an output shape that disagrees with the elements it writes.
    Unsupported,
}

/// The builtin options of STRIDED_SLICE, as stored in the model (bool `offset` as 0/1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StridedSliceOptions {
    pub begin_mask: i32,
    pub end_mask: i32,
    pub ellipsis_mask: i32,
    pub new_axis_mask: i32,
    pub shrink_axis_mask: i32,
    /// Non-zero: `end` holds sizes relative to `begin` (`end += begin`).
    pub offset: i32,
}

/// The resolved slice, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StridedSliceParams {
    /// Rank of the gather plan (`0..=MAX_EFFECTIVE_DIMS`; 0: one element or none).
    pub rank: i32,
    /// Iterations of each plan axis (outermost first).
    pub count: [i32; MAX_EFFECTIVE_DIMS],
    /// Input offset advanced per iteration of each plan axis, in elements (may be negative).
    pub step: [i32; MAX_EFFECTIVE_DIMS],
    /// Input offset of the first element written.
    pub base: i32,
    /// Element count of the input.
    pub in_len: i32,
    /// Elements written (the product of the output shape).
    pub out_len: i32,
    /// The output shape LiteRT declares (shrunk axes removed, new axes kept as 1).
    pub out_rank: i32,
    pub out_dims: [i32; MAX_EFFECTIVE_DIMS],
}

#[inline]
fn bit(mask: i32, i: usize) -> bool {
    i < 32 && (mask as u32) & (1u32 << i) != 0
}

/// One axis of the effective (ellipsis- and new-axis-expanded) problem.
#[derive(Clone, Copy, Default)]
struct Axis {
    dim: i64,
    begin: i64,
    end: i64,
    stride: i64,
    begin_mask: bool,
    end_mask: bool,
    shrink: bool,
}

impl Axis {
    /// First index visited (LiteRT's `StartForAxis`), in `[0, dim]` or `[-1, dim - 1]`.
    fn start(&self) -> i64 {
        let mut s = self.begin;
        if s < 0 {
            s += self.dim;
        }
        s = if self.stride > 0 {
            s.clamp(0, self.dim)
        } else {
            s.clamp(-1, self.dim - 1)
        };
        if self.begin_mask {
            s = if self.stride > 0 { 0 } else { self.dim - 1 };
        }
        s
    }

    /// One past the last index visited (LiteRT's `EndForAxis`).
    fn stop(&self, start: i64, offset: bool) -> i64 {
        if self.shrink {
            return if start >= self.dim { start } else { start + 1 };
        }
        let mut e = self.end;
        if offset {
            e += start;
        }
        if e < 0 {
            e += self.dim;
        }
        e = if self.stride > 0 {
            e.clamp(0, self.dim)
        } else {
            e.clamp(-1, self.dim - 1)
        };
        if self.end_mask {
            e = if self.stride > 0 { self.dim } else { -1 };
        }
        e
    }
}

/// Iterations of `for i = start; stride > 0 ? i < stop : i > stop; i += stride`.
fn iterations(start: i64, stop: i64, stride: i64) -> i64 {
    if stride > 0 {
        if stop > start {
            (stop - start + stride - 1) / stride
        } else {
            0
        }
    } else if start > stop {
        (start - stop + (-stride) - 1) / (-stride)
    } else {
        0
    }
}

/// LiteRT's output extent for a non-shrunk axis (`ResizeOutputTensor`), from `end - begin`.
fn declared_extent(span: i64, stride: i64) -> i64 {
    if (span < 0) != (stride < 0) {
        0
    } else if stride < 0 {
        (span + 1) / stride + 1
    } else if span == 0 {
        0
    } else {
        (span - 1) / stride + 1
    }
}

impl StridedSliceParams {
    /// Resolves the slice of an input of shape `input_shape` (rank <= 5) given the `begin`,
    /// `end` and `strides` tensors (equal lengths) and the options.
    pub fn new(
        input_shape: &[usize],
        begin: &[i32],
        end: &[i32],
        strides: &[i32],
        options: &StridedSliceOptions,
    ) -> Result<Self, StridedSliceError> {
        let rank = input_shape.len();
        if rank > MAX_DIMS {
            return Err(StridedSliceError::RankTooLarge);
        }
        let n = begin.len();
        if end.len() != n || strides.len() != n || n > 31 {
            return Err(StridedSliceError::IndexLength);
        }
        let o = options;
        let offset = o.offset != 0;

        // Expand the ellipsis and new axes (LiteRT's BuildStridedSliceParams).
        let num_add_axis = (0..n)
            .filter(|&i| !bit(o.ellipsis_mask, i) && bit(o.new_axis_mask, i))
            .count();
        let eff = rank + num_add_axis;
        if eff > MAX_EFFECTIVE_DIMS {
            return Err(StridedSliceError::RankTooLarge);
        }
        let (mut eff_ellipsis, mut eff_new_axis) = (0u32, 0u32);
        let (mut ellipsis_start, mut expanded) = (eff, 0usize);
        let mut i = 0;
        while i < eff {
            if bit(o.ellipsis_mask, i) {
                ellipsis_start = i;
                let reach = (i + 1 + num_add_axis + rank) as i64 - n as i64;
                let end_idx = (reach.min(eff as i64)).max(i as i64 + 1) as usize;
                expanded = end_idx - ellipsis_start - 1;
                while i < end_idx {
                    eff_ellipsis |= 1 << i;
                    i += 1;
                }
                continue;
            }
            if bit(o.new_axis_mask, i - expanded) {
                eff_new_axis |= 1 << i;
            }
            i += 1;
        }
        let mut axes = [Axis::default(); MAX_EFFECTIVE_DIMS];
        let (mut added_ellipsis, mut added_axes) = (0usize, 0usize);
        let input_dim = |k: usize| -> Result<i64, StridedSliceError> {
            let d = *input_shape.get(k).ok_or(StridedSliceError::BadMask)?;
            i32::try_from(d)
                .map(i64::from)
                .map_err(|_| StridedSliceError::DimTooLarge)
        };
        for (i, ax) in axes.iter_mut().enumerate().take(eff) {
            let full = Axis {
                stride: 1,
                begin_mask: true,
                end_mask: true,
                ..Axis::default()
            };
            if eff_ellipsis & (1 << i) != 0 {
                added_ellipsis = i - ellipsis_start;
                *ax = Axis {
                    dim: input_dim(i - added_axes)?,
                    ..full
                };
            } else if eff_new_axis & (1 << i) != 0 {
                *ax = Axis {
                    dim: 1,
                    begin: 0,
                    end: 1,
                    stride: 1,
                    ..Axis::default()
                };
                added_axes += 1;
            } else if i >= n + expanded {
                *ax = Axis {
                    dim: input_dim(i - added_axes)?,
                    ..full
                };
            } else {
                let orig = i - added_ellipsis;
                *ax = Axis {
                    dim: input_dim(i - added_axes)?,
                    begin: i64::from(begin[orig]),
                    end: i64::from(end[orig]),
                    stride: i64::from(strides[orig]),
                    begin_mask: bit(o.begin_mask, orig),
                    end_mask: bit(o.end_mask, orig),
                    shrink: bit(o.shrink_axis_mask, orig),
                };
            }
            if ax.stride == 0 || ax.stride == i64::from(i32::MIN) {
                return Err(StridedSliceError::BadStride);
            }
        }

        // Per-axis start, count and the declared output shape.
        let mut p = StridedSliceParams {
            rank: 0,
            count: [1; MAX_EFFECTIVE_DIMS],
            step: [0; MAX_EFFECTIVE_DIMS],
            base: 0,
            in_len: 0,
            out_len: 0,
            out_rank: 0,
            out_dims: [1; MAX_EFFECTIVE_DIMS],
        };
        let mut starts = [0i64; MAX_EFFECTIVE_DIMS];
        let mut counts = [0i64; MAX_EFFECTIVE_DIMS];
        let mut out_len: i64 = 1;
        let mut declared_len: i64 = 1;
        let mut out_rank = 0;
        for k in 0..eff {
            let ax = &axes[k];
            let start = ax.start();
            let stop = ax.stop(start, offset);
            let count = iterations(start, stop, ax.stride);
            let declared = if ax.shrink {
                1
            } else if offset {
                // LiteRT reads the raw `end` tensor at the *effective* axis index here.
                let Some(&e) = end.get(k) else {
                    return Err(StridedSliceError::Unsupported);
                };
                declared_extent(i64::from(e), ax.stride)
            } else {
                declared_extent(stop - start, ax.stride)
            };
            declared_len = (declared_len * declared).min(i64::from(i32::MAX) + 1);
            if !ax.shrink {
                p.out_dims[out_rank] =
                    i32::try_from(declared).map_err(|_| StridedSliceError::DimTooLarge)?;
                out_rank += 1;
            }
            starts[k] = start;
            counts[k] = count;
            out_len = (out_len * count).min(i64::from(i32::MAX) + 1);
        }
        // The elements written must fill the declared shape exactly (per-axis extents may
        // differ only when the totals agree, e.g. both zero).
        if declared_len != out_len {
            return Err(StridedSliceError::Unsupported);
        }
        p.out_rank = out_rank as i32;
        p.out_len = i32::try_from(out_len).map_err(|_| StridedSliceError::DimTooLarge)?;
        let mut in_len: i64 = 1;
        for ax in &axes[..eff] {
            in_len = (in_len * ax.dim).min(i64::from(i32::MAX) + 1);
        }
        p.in_len = i32::try_from(in_len).map_err(|_| StridedSliceError::DimTooLarge)?;
        if out_len == 0 {
            return Ok(p);
        }

        // The gather plan: base offset, then (count, step) for axes walking more than once,
        // merging neighbours that walk memory contiguously.
        let mut in_stride = 1i64;
        let mut base = 0i64;
        let mut plan = [(0i64, 0i64); MAX_EFFECTIVE_DIMS];
        let mut m = 0;
        for k in (0..eff).rev() {
            base += starts[k] * in_stride;
            if counts[k] > 1 {
                let step = axes[k].stride * in_stride;
                if m > 0 && plan[m - 1].0 * plan[m - 1].1 == step {
                    plan[m - 1].0 *= counts[k];
                } else {
                    plan[m] = (counts[k], step);
                    m += 1;
                }
            }
            in_stride *= axes[k].dim;
        }
        p.rank = m as i32;
        p.base = base as i32;
        for (j, &(c, s)) in plan[..m].iter().rev().enumerate() {
            p.count[j] = c as i32;
            p.step[j] = i32::try_from(s).map_err(|_| StridedSliceError::DimTooLarge)?;
        }
        Ok(p)
    }

    /// The output shape LiteRT declares, as a slice of `out_dims`.
    pub fn output_shape(&self) -> &[i32] {
        &self.out_dims[..self.out_rank.clamp(0, MAX_EFFECTIVE_DIMS as i32) as usize]
    }
}

/// Copies the slice of `input` described by `params` into `output`, in row-major order.
///
/// Precondition: `input.len() == params.in_len` and `output.len() == params.out_len`;
/// otherwise nothing is written (and debug builds assert).
pub fn strided_slice<T: Copy>(params: &StridedSliceParams, input: &[T], output: &mut [T]) {
    if input.len() != params.in_len.max(0) as usize
        || output.len() != params.out_len.max(0) as usize
    {
        debug_assert!(false, "strided_slice: slice lengths do not match the shape");
        return;
    }
    if output.is_empty() {
        return;
    }
    let rank = params.rank.clamp(0, MAX_EFFECTIVE_DIMS as i32) as usize;
    let base = params.base as isize;
    if rank == 0 {
        output[0] = input[base as usize];
        return;
    }
    let count: [usize; MAX_EFFECTIVE_DIMS] = core::array::from_fn(|k| params.count[k] as usize);
    let step: [isize; MAX_EFFECTIVE_DIMS] = core::array::from_fn(|k| params.step[k] as isize);
    let (inner_len, inner_step) = (count[rank - 1], step[rank - 1]);
    let mut idx = [0usize; MAX_EFFECTIVE_DIMS];
    let mut off = base;
    for run in output.chunks_exact_mut(inner_len) {
        let o = off as usize;
        match inner_step {
            1 => run.copy_from_slice(&input[o..o + inner_len]),
            -1 => {
                let src = &input[o + 1 - inner_len..=o];
                for (d, s) in run.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
            }
            s if s > 1 => {
                for (d, x) in run.iter_mut().zip(input[o..].iter().step_by(s as usize)) {
                    *d = *x;
                }
            }
            s => {
                // Backwards by more than one: the run ends at the lowest address.
                let lo = o - (inner_len - 1) * s.unsigned_abs();
                let src = input[lo..=o].iter().step_by(s.unsigned_abs()).rev();
                for (d, x) in run.iter_mut().zip(src) {
                    *d = *x;
                }
            }
        }
        let mut k = rank - 1;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            off += step[k];
            if idx[k] < count[k] {
                break;
            }
            off -= step[k] * count[k] as isize;
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(begin: i32, end: i32, shrink: i32) -> StridedSliceOptions {
        StridedSliceOptions {
            begin_mask: begin,
            end_mask: end,
            shrink_axis_mask: shrink,
            ..Default::default()
        }
    }

    /// Runs a slice over `0..len` as i32 data and returns (output, declared shape).
    fn run(
        shape: &[usize],
        b: &[i32],
        e: &[i32],
        s: &[i32],
        o: &StridedSliceOptions,
    ) -> (heapless_out::Out, [i32; MAX_EFFECTIVE_DIMS], usize) {
        let p = StridedSliceParams::new(shape, b, e, s, o).unwrap();
        let n: usize = shape.iter().product();
        let input: [i32; 256] = core::array::from_fn(|i| i as i32);
        let mut out = [0i32; 256];
        let len = p.out_len as usize;
        strided_slice(&p, &input[..n], &mut out[..len]);
        (
            heapless_out::Out { data: out, len },
            p.out_dims,
            p.out_rank as usize,
        )
    }

    mod heapless_out {
        pub struct Out {
            pub data: [i32; 256],
            pub len: usize,
        }
        impl Out {
            pub fn get(&self) -> &[i32] {
                &self.data[..self.len]
            }
        }
    }

    #[test]
    fn one_d_positive_and_negative_strides() {
        let o = opts(0, 0, 0);
        assert_eq!(run(&[8], &[1], &[6], &[2], &o).0.get(), [1, 3, 5]);
        assert_eq!(run(&[8], &[6], &[1], &[-2], &o).0.get(), [6, 4, 2]);
        // Negative indices: [-1:-4:-1] -> 7, 6, 5.
        assert_eq!(run(&[8], &[-1], &[-4], &[-1], &o).0.get(), [7, 6, 5]);
        // Full reverse with both masks.
        assert_eq!(
            run(&[5], &[0], &[0], &[-1], &opts(1, 1, 0)).0.get(),
            [4, 3, 2, 1, 0]
        );
        // Out-of-range indices clamp; an empty result has extent 0.
        assert_eq!(run(&[5], &[-100], &[100], &[2], &o).0.get(), [0, 2, 4]);
        let (out, dims, r) = run(&[5], &[3], &[1], &[1], &o);
        assert_eq!((out.get().len(), dims[0], r), (0, 0, 1));
    }

    #[test]
    fn two_d_masks_and_shrink() {
        // x = 0..12 as [3,4]; x[1:, ::-2] -> rows 1,2, cols 3,1.
        let (out, dims, r) = run(&[3, 4], &[1, 0], &[0, 0], &[1, -2], &opts(0b10, 0b11, 0));
        assert_eq!(out.get(), [7, 5, 11, 9]);
        assert_eq!((&dims[..r], r), (&[2, 2][..], 2));
        // x[2, 1:3] (shrink axis 0) -> [9, 10] with shape [2].
        let (out, dims, r) = run(&[3, 4], &[2, 1], &[3, 3], &[1, 1], &opts(0, 0, 0b01));
        assert_eq!(out.get(), [9, 10]);
        assert_eq!(&dims[..r], &[2]);
        // x[-1, -1] -> scalar 11 (negative shrink index, end ignored).
        let (out, _, r) = run(&[3, 4], &[-1, -1], &[0, 0], &[1, 1], &opts(0, 0, 0b11));
        assert_eq!((out.get(), r), (&[11][..], 0));
    }

    #[test]
    fn three_and_four_d_with_negative_strides() {
        // x = 0..24 as [2,3,4]; x[::-1, 2:0:-1, 1::2].
        let (out, dims, r) = run(
            &[2, 3, 4],
            &[0, 2, 1],
            &[0, 0, 0],
            &[-1, -1, 2],
            &opts(0b001, 0b101, 0),
        );
        // a=1: b=2 -> 21,23; b=1 -> 17,19; a=0: b=2 -> 9,11; b=1 -> 5,7.
        assert_eq!(out.get(), [21, 23, 17, 19, 9, 11, 5, 7]);
        assert_eq!(&dims[..r], &[2, 2, 2]);
        // 4-D NHWC crop x[:, 1:3, 0:2, :] on [1,3,3,2] merges into contiguous runs.
        let (out, _, _) = run(
            &[1, 3, 3, 2],
            &[0, 1, 0, 0],
            &[1, 3, 2, 2],
            &[1, 1, 1, 1],
            &opts(0, 0, 0),
        );
        assert_eq!(out.get(), [6, 7, 8, 9, 12, 13, 14, 15]);
        let p = StridedSliceParams::new(
            &[1, 3, 3, 2],
            &[0, 1, 0, 0],
            &[1, 3, 2, 2],
            &[1, 1, 1, 1],
            &opts(0, 0, 0),
        )
        .unwrap();
        assert_eq!((p.rank, p.count[1], p.step[1]), (2, 4, 1));
    }

    #[test]
    fn five_d_slice() {
        // [2,1,2,1,3] = 12 elements; take [1, :, ::-1, :, 0:3:2].
        let (out, dims, r) = run(
            &[2, 1, 2, 1, 3],
            &[1, 0, 0, 0, 0],
            &[2, 1, 0, 1, 3],
            &[1, 1, -1, 1, 2],
            &opts(0b00100, 0b00100, 0),
        );
        // Element (a,0,c,0,e) = 6a + 3c + e: a=1 -> c=1: 9, 11; c=0: 6, 8.
        assert_eq!(out.get(), [9, 11, 6, 8]);
        assert_eq!(&dims[..r], &[1, 1, 2, 1, 2]);
    }

    #[test]
    fn ellipsis_and_new_axis() {
        // x[..., 1] on [2,3,4] with shrink on the last spec: shape [2,3], values 4k+1.
        let o = StridedSliceOptions {
            ellipsis_mask: 0b01,
            shrink_axis_mask: 0b10,
            ..Default::default()
        };
        let (out, dims, r) = run(&[2, 3, 4], &[0, 1], &[0, 2], &[1, 1], &o);
        assert_eq!(out.get(), [1, 5, 9, 13, 17, 21]);
        assert_eq!(&dims[..r], &[2, 3]);
        // x[newaxis, 1:] on [3]: shape [1, 2].
        let o = StridedSliceOptions {
            new_axis_mask: 0b01,
            ..Default::default()
        };
        let (out, dims, r) = run(&[3], &[0, 1], &[0, 3], &[1, 1], &o);
        assert_eq!(out.get(), [1, 2]);
        assert_eq!(&dims[..r], &[1, 2]);
        // x[0, ..., newaxis] is not the point; x[1, ...] on [2,2,2]: shrink + ellipsis.
        let o = StridedSliceOptions {
            ellipsis_mask: 0b10,
            shrink_axis_mask: 0b01,
            ..Default::default()
        };
        let (out, dims, r) = run(&[2, 2, 2], &[1, 0], &[2, 0], &[1, 1], &o);
        assert_eq!(out.get(), [4, 5, 6, 7]);
        assert_eq!(&dims[..r], &[2, 2]);
    }

    #[test]
    fn offset_ends_are_sizes() {
        // offset: end = begin + size. x[1:1+2, 0:0+3] of [3,4].
        let o = StridedSliceOptions {
            offset: 1,
            ..Default::default()
        };
        let (out, dims, r) = run(&[3, 4], &[1, 0], &[2, 3], &[1, 1], &o);
        assert_eq!(out.get(), [4, 5, 6, 8, 9, 10]);
        assert_eq!(&dims[..r], &[2, 3]);
        // A size reaching past the end would make LiteRT's shape lie: rejected.
        assert_eq!(
            StridedSliceParams::new(&[3, 4], &[2, 0], &[2, 4], &[1, 1], &o),
            Err(StridedSliceError::Unsupported)
        );
    }

    #[test]
    fn errors() {
        let o = StridedSliceOptions::default();
        assert_eq!(
            StridedSliceParams::new(&[3], &[0], &[3], &[0], &o),
            Err(StridedSliceError::BadStride)
        );
        assert_eq!(
            StridedSliceParams::new(&[3], &[0], &[3, 1], &[1], &o),
            Err(StridedSliceError::IndexLength)
        );
        assert_eq!(
            StridedSliceParams::new(&[1; 6], &[0], &[1], &[1], &o),
            Err(StridedSliceError::RankTooLarge)
        );
    }

    #[test]
    fn works_for_any_element_size() {
        let p = StridedSliceParams::new(&[4], &[3], &[0], &[-1], &opts(0, 0, 0)).unwrap();
        let mut out = [0u64; 3];
        strided_slice(&p, &[10, 20, 30, 40], &mut out);
        assert_eq!(out, [40, 30, 20]);
        let mut out = [0i8; 3];
        strided_slice(&p, &[1, 2, 3, 4], &mut out);
        assert_eq!(out, [4, 3, 2]);
    }
}

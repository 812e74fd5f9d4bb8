//! TRANSPOSE: `output[i_0, .., i_{n-1}] = input[j]` with `j[perm[k]] = i_k`, up to 6-D, for any
//! element type (a pure data movement, so bit-exact by construction).
//!
//! [`TransposeParams::new`] simplifies the permutation once at init: size-1 axes are dropped
//! and input axes that stay adjacent in the output are merged, so `[0, 2, 3, 1]` on NHWC data
//! becomes a 3-D problem and an identity permutation a single copy. The eval loop then copies
//! contiguous runs with `copy_from_slice` whenever the innermost axis is kept in place.

/// The largest rank TFLite's reference TRANSPOSE accepts.
pub const MAX_DIMS: usize = 6;

/// Why a transpose cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransposeError {
    /// The input has more than [`MAX_DIMS`] dimensions.
    RankTooLarge,
    /// `perm` does not have one entry per input dimension.
    PermLength,
    /// `perm` is not a permutation of `0..rank` (out of range or repeated entry).
    NotAPermutation,
    /// A dimension does not fit in an `i32`.
    DimTooLarge,
}

/// The simplified transpose, computed once at init and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TransposeParams {
    /// Rank after simplification, `0..=6` (0: empty or single-element tensor).
    pub rank: i32,
    /// Simplified input dimensions (row-major); entries past `rank` are 1.
    pub in_dims: [i32; MAX_DIMS],
    /// Output axis `k` walks simplified input axis `perm[k]`.
    pub perm: [i32; MAX_DIMS],
    /// Number of elements (input and output alike).
    pub len: i32,
}

/// The output shape of TRANSPOSE: `out[k] = input_shape[perm[k]]`. Returns the dims and the rank.
pub fn output_shape(
    input_shape: &[usize],
    perm: &[i32],
) -> Result<([usize; MAX_DIMS], usize), TransposeError> {
    let rank = input_shape.len();
    check_perm(rank, perm)?;
    let mut out = [1usize; MAX_DIMS];
    for (o, &p) in out.iter_mut().zip(perm) {
        *o = input_shape[p as usize];
    }
    Ok((out, rank))
}

fn check_perm(rank: usize, perm: &[i32]) -> Result<(), TransposeError> {
    if rank > MAX_DIMS {
        return Err(TransposeError::RankTooLarge);
    }
    if perm.len() != rank {
        return Err(TransposeError::PermLength);
    }
    let mut seen = 0u32;
    for &p in perm {
        if p < 0 || p as usize >= rank || seen & (1 << p) != 0 {
            return Err(TransposeError::NotAPermutation);
        }
        seen |= 1 << p;
    }
    Ok(())
}

impl TransposeParams {
    /// Validates `perm` against `input_shape` (TFLite requires `0 <= perm[k] < rank`, no
    /// repeats) and simplifies the problem.
    pub fn new(input_shape: &[usize], perm: &[i32]) -> Result<Self, TransposeError> {
        let rank = input_shape.len();
        check_perm(rank, perm)?;
        let mut len: usize = 1;
        for &d in input_shape {
            len = len.checked_mul(d).ok_or(TransposeError::DimTooLarge)?;
        }
        if len > i32::MAX as usize {
            return Err(TransposeError::DimTooLarge);
        }
        let mut p = TransposeParams {
            rank: 0,
            in_dims: [1; MAX_DIMS],
            perm: [0; MAX_DIMS],
            len: len as i32,
        };
        if len <= 1 {
            return Ok(p);
        }
        // Drop size-1 input axes: renumber the survivors in input order.
        let mut new_index = [usize::MAX; MAX_DIMS];
        let mut dims = [1usize; MAX_DIMS];
        let mut n = 0;
        for (a, &d) in input_shape.iter().enumerate() {
            if d != 1 {
                new_index[a] = n;
                dims[n] = d;
                n += 1;
            }
        }
        let mut pm = [0usize; MAX_DIMS];
        let mut m = 0;
        for &a in perm {
            let ni = new_index[a as usize];
            if ni != usize::MAX {
                pm[m] = ni;
                m += 1;
            }
        }
        // Merge input axes a, a+1 that are also adjacent (in that order) in the output.
        let mut k = 0;
        while k + 1 < n {
            if pm[k] + 1 == pm[k + 1] {
                let a = pm[k];
                dims[a] *= dims[a + 1];
                // Remove input axis a+1 and output position k+1, renumbering axes above a+1.
                for i in a + 1..n - 1 {
                    dims[i] = dims[i + 1];
                }
                dims[n - 1] = 1;
                for i in k + 1..n - 1 {
                    pm[i] = pm[i + 1];
                }
                for q in pm.iter_mut().take(n - 1) {
                    if *q > a {
                        *q -= 1;
                    }
                }
                n -= 1;
            } else {
                k += 1;
            }
        }
        p.rank = n as i32;
        for i in 0..n {
            p.in_dims[i] = dims[i] as i32;
            p.perm[i] = pm[i] as i32;
        }
        Ok(p)
    }
}

/// Transposes `input` into `output` as set up by [`TransposeParams::new`].
///
/// Precondition: `input.len() == output.len() == params.len`. Otherwise nothing is written
/// (and debug builds assert).
pub fn transpose<T: Copy>(params: &TransposeParams, input: &[T], output: &mut [T]) {
    let len = params.len.max(0) as usize;
    if input.len() != len || output.len() != len {
        debug_assert!(false, "transpose: slice lengths do not match the shape");
        return;
    }
    let rank = params.rank.clamp(0, MAX_DIMS as i32) as usize;
    if rank <= 1 {
        output.copy_from_slice(input);
        return;
    }
    // Input strides, then the stride and extent of every output axis.
    let mut in_stride = [0usize; MAX_DIMS];
    let mut s = 1usize;
    for a in (0..rank).rev() {
        in_stride[a] = s;
        s *= params.in_dims[a] as usize;
    }
    let mut out_dim = [1usize; MAX_DIMS];
    let mut out_stride = [0usize; MAX_DIMS];
    for k in 0..rank {
        let a = params.perm[k] as usize;
        out_dim[k] = params.in_dims[a] as usize;
        out_stride[k] = in_stride[a];
    }
    let inner_len = out_dim[rank - 1];
    let inner_stride = out_stride[rank - 1];
    let mut idx = [0usize; MAX_DIMS];
    let mut base = 0usize;
    for run in output.chunks_exact_mut(inner_len) {
        if inner_stride == 1 {
            run.copy_from_slice(&input[base..base + inner_len]);
        } else {
            for (o, x) in run
                .iter_mut()
                .zip(input[base..].iter().step_by(inner_stride))
            {
                *o = *x;
            }
        }
        // Odometer over the outer output axes, keeping `base` in step.
        let mut k = rank - 1;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            base += out_stride[k];
            if idx[k] < out_dim[k] {
                break;
            }
            base -= out_stride[k] * out_dim[k];
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward index arithmetic, independent of the simplification.
    fn naive(shape: &[usize], perm: &[i32], input: &[i32]) -> [i32; 256] {
        let rank = shape.len();
        let mut out = [0i32; 256];
        let (od, _) = output_shape(shape, perm).unwrap();
        let n: usize = shape.iter().product();
        for (o, slot) in out.iter_mut().enumerate().take(n) {
            // Decompose o over the output dims.
            let mut rem = o;
            let mut oi = [0usize; MAX_DIMS];
            for k in (0..rank).rev() {
                oi[k] = rem % od[k];
                rem /= od[k];
            }
            let mut ii = [0usize; MAX_DIMS];
            for k in 0..rank {
                ii[perm[k] as usize] = oi[k];
            }
            let mut off = 0;
            for a in 0..rank {
                off = off * shape[a] + ii[a];
            }
            *slot = input[off];
        }
        out
    }

    fn check(shape: &[usize], perm: &[i32]) {
        let n: usize = shape.iter().product();
        let input: [i32; 256] = core::array::from_fn(|i| i as i32 * 3 + 1);
        let p = TransposeParams::new(shape, perm).unwrap();
        let mut out = [0i32; 256];
        transpose(&p, &input[..n], &mut out[..n]);
        let want = naive(shape, perm, &input);
        assert_eq!(&out[..n], &want[..n], "shape {shape:?} perm {perm:?}");
    }

    #[test]
    fn two_d_matrix_transpose() {
        let p = TransposeParams::new(&[2, 3], &[1, 0]).unwrap();
        let input = [1i8, 2, 3, 4, 5, 6];
        let mut out = [0i8; 6];
        transpose(&p, &input, &mut out);
        assert_eq!(out, [1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn three_d_rotation() {
        // x[a][b][c] = 100a + 10b + c, shape [2,3,4]; perm [2,0,1] -> out[c][a][b].
        let mut input = [0i32; 24];
        for a in 0..2 {
            for b in 0..3 {
                for c in 0..4 {
                    input[a * 12 + b * 4 + c] = (100 * a + 10 * b + c) as i32;
                }
            }
        }
        let p = TransposeParams::new(&[2, 3, 4], &[2, 0, 1]).unwrap();
        let mut out = [0i32; 24];
        transpose(&p, &input, &mut out);
        assert_eq!(
            out[..8],
            [0, 10, 20, 100, 110, 120, 1, 11],
            "first rows of out[c][a][b]"
        );
        assert_eq!(out[23], 123);
        assert_eq!(
            output_shape(&[2, 3, 4], &[2, 0, 1]).unwrap().0[..3],
            [4, 2, 3]
        );
    }

    #[test]
    fn four_d_nhwc_to_nchw_merges_axes() {
        // [0,3,1,2] keeps H,W adjacent: simplified to a 3-D problem.
        let p = TransposeParams::new(&[2, 3, 4, 5], &[0, 3, 1, 2]).unwrap();
        assert_eq!(p.rank, 3);
        assert_eq!(p.in_dims[..3], [2, 12, 5]);
        assert_eq!(p.perm[..3], [0, 2, 1]);
        check(&[2, 3, 4, 5], &[0, 3, 1, 2]);
        check(&[2, 3, 4, 5], &[0, 2, 3, 1]);
        check(&[2, 3, 4, 5], &[3, 2, 1, 0]);
        check(&[1, 3, 1, 5], &[2, 3, 0, 1]);
    }

    #[test]
    fn every_permutation_of_small_shapes() {
        check(&[2, 1, 3, 2, 2, 2], &[5, 0, 3, 1, 4, 2]);
        check(&[2, 3, 2, 2, 3], &[4, 2, 0, 3, 1]);
        check(&[2, 2, 2, 2, 2, 2], &[1, 0, 3, 2, 5, 4]);
        // All 24 permutations of a 4-D shape.
        let shape = [2usize, 3, 2, 4];
        for a in 0..4i32 {
            for b in 0..4i32 {
                for c in 0..4i32 {
                    for d in 0..4i32 {
                        let perm = [a, b, c, d];
                        if TransposeParams::new(&shape, &perm).is_ok() {
                            check(&shape, &perm);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn identity_is_one_copy_and_bad_perms_are_rejected() {
        let p = TransposeParams::new(&[2, 3, 4], &[0, 1, 2]).unwrap();
        assert_eq!(p.rank, 1);
        assert_eq!(
            TransposeParams::new(&[2, 3], &[0, 0]),
            Err(TransposeError::NotAPermutation)
        );
        assert_eq!(
            TransposeParams::new(&[2, 3], &[0, 2]),
            Err(TransposeError::NotAPermutation)
        );
        assert_eq!(
            TransposeParams::new(&[2, 3], &[-1, 0]),
            Err(TransposeError::NotAPermutation)
        );
        assert_eq!(
            TransposeParams::new(&[2, 3], &[0]),
            Err(TransposeError::PermLength)
        );
        assert_eq!(
            TransposeParams::new(&[1; 7], &[0, 1, 2, 3, 4, 5, 6]),
            Err(TransposeError::RankTooLarge)
        );
    }

    #[test]
    fn empty_and_scalar() {
        let p = TransposeParams::new(&[0, 3], &[1, 0]).unwrap();
        let mut out: [f32; 0] = [];
        transpose(&p, &[], &mut out);
        let p = TransposeParams::new(&[], &[]).unwrap();
        let mut out = [0.0f32];
        transpose(&p, &[2.5], &mut out);
        assert_eq!(out, [2.5]);
    }
}

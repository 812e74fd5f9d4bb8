//! Numpy-style broadcasting for the elementwise binary ops (ADD, SUB, MUL), with TFLite's
//! semantics: shapes are right-aligned, each dimension pair must be equal or contain a 1, and the
//! output takes the larger extent.
//!
//! Instead of walking a padded 4-D/6-D index space per element (TFLite's `NdArrayDesc` slow path),
//! [`Broadcast::new`] first merges neighbouring dimensions that broadcast the same way (as
//! TFLite's `ReduceDimensionsForBroadcast` does), so that the inner loop runs over the longest
//! possible contiguous stretch: both inputs contiguous, or one of them a repeated scalar.
//! Equal shapes collapse to a single elementwise loop. Only the iteration order differs from
//! TFLite; every output element gets the same inputs, so results are identical.

/// The most dimensions left after merging; TFLite itself supports at most 6 input dimensions.
pub const MAX_DIMS: usize = 6;

/// Two broadcast-compatible input shapes, reduced to at most [`MAX_DIMS`] merged dimensions
/// (outermost first) with per-input element strides (0 where the input is broadcast).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    rank: usize,
    dims: [usize; MAX_DIMS],
    stride1: [usize; MAX_DIMS],
    stride2: [usize; MAX_DIMS],
    len1: usize,
    len2: usize,
    out_len: usize,
}

impl Broadcast {
    /// Plans the broadcast of `shape1` against `shape2`; `None` if the shapes are incompatible,
    /// their element counts overflow, or more than [`MAX_DIMS`] merged dimensions remain.
    pub fn new(shape1: &[usize], shape2: &[usize]) -> Option<Self> {
        let rank = shape1.len().max(shape2.len());
        // Merged dimensions, innermost first: extent and whether each input is full (not 1) there.
        let mut dims = [0usize; MAX_DIMS];
        let mut full = [(false, false); MAX_DIMS];
        let mut n = 0usize;
        let mut out_len = 1usize;
        for i in 0..rank {
            let d1 = dim_from_right(shape1, i);
            let d2 = dim_from_right(shape2, i);
            let d = match (d1, d2) {
                _ if d1 == d2 => d1,
                (1, _) => d2,
                (_, 1) => d1,
                _ => return None,
            };
            out_len = out_len.checked_mul(d)?;
            if d == 1 {
                continue;
            }
            let kind = (d1 == d, d2 == d);
            if n > 0 && full[n - 1] == kind {
                dims[n - 1] = dims[n - 1].checked_mul(d)?;
            } else {
                if n == MAX_DIMS {
                    return None;
                }
                dims[n] = d;
                full[n] = kind;
                n += 1;
            }
        }
        if n == 0 {
            // Every extent is 1 (or the shapes are scalars): one element.
            dims[0] = 1;
            full[0] = (true, true);
            n = 1;
        }
        // Strides from the inside out, then reverse to outermost-first order.
        let mut plan = Broadcast {
            rank: n,
            dims: [1; MAX_DIMS],
            stride1: [0; MAX_DIMS],
            stride2: [0; MAX_DIMS],
            len1: 1,
            len2: 1,
            out_len,
        };
        for k in 0..n {
            let outer = n - 1 - k;
            plan.dims[outer] = dims[k];
            if full[k].0 {
                plan.stride1[outer] = plan.len1;
                plan.len1 = plan.len1.checked_mul(dims[k])?;
            }
            if full[k].1 {
                plan.stride2[outer] = plan.len2;
                plan.len2 = plan.len2.checked_mul(dims[k])?;
            }
        }
        if out_len == 0 {
            plan.len1 = shape1.iter().product();
            plan.len2 = shape2.iter().product();
        }
        Some(plan)
    }

    /// Number of output elements.
    pub fn output_len(&self) -> usize {
        self.out_len
    }

    /// True when no element is repeated: both inputs have the output's element count.
    pub fn is_elementwise(&self) -> bool {
        self.len1 == self.out_len && self.len2 == self.out_len
    }

    /// Number of merged dimensions (at least 1).
    pub fn rank(&self) -> usize {
        self.rank
    }
}

/// Extent of the `i`-th dimension counted from the innermost one, 1 past the shape's rank.
#[inline]
fn dim_from_right(shape: &[usize], i: usize) -> usize {
    if i < shape.len() {
        shape[shape.len() - 1 - i]
    } else {
        1
    }
}

/// The broadcast output shape of `shape1` and `shape2` (right-aligned, rank = the larger rank),
/// written to `out`; returns the rank, or `None` if incompatible or of rank above `out.len()`.
pub fn output_shape(shape1: &[usize], shape2: &[usize], out: &mut [usize]) -> Option<usize> {
    let rank = shape1.len().max(shape2.len());
    if rank > out.len() {
        return None;
    }
    for i in 0..rank {
        let d1 = dim_from_right(shape1, i);
        let d2 = dim_from_right(shape2, i);
        out[rank - 1 - i] = match (d1, d2) {
            _ if d1 == d2 => d1,
            (1, _) => d2,
            (_, 1) => d1,
            _ => return None,
        };
    }
    Some(rank)
}

/// Applies `f` to every broadcast pair of `in1` (of `shape1`) and `in2` (of `shape2`), writing
/// the output in row-major order.
///
/// Preconditions (checked by the interpreter): the shapes are broadcast-compatible, each input
/// slice holds exactly its shape's element count, and `out` holds the broadcast element count.
/// If any of them does not hold, nothing is written.
#[inline(always)]
pub fn binary<A: Copy, B: Copy, O>(
    in1: &[A],
    shape1: &[usize],
    in2: &[B],
    shape2: &[usize],
    out: &mut [O],
    f: impl Fn(A, B) -> O,
) {
    // Equal shapes need no plan.
    let plan = if shape1 == shape2 {
        None
    } else {
        match Broadcast::new(shape1, shape2) {
            Some(plan) => Some(plan),
            None => return,
        }
    };
    binary_impl(plan.as_ref(), in1, in2, out, f);
}

/// [`binary`] with a plan made beforehand (e.g. at init).
#[inline(always)]
pub fn binary_planned<A: Copy, B: Copy, O>(
    plan: &Broadcast,
    in1: &[A],
    in2: &[B],
    out: &mut [O],
    f: impl Fn(A, B) -> O,
) {
    binary_impl(Some(plan), in1, in2, out, f);
}

/// The two loops behind [`binary`]: a plain zip when no element repeats, and a strided walk of
/// the merged dimensions otherwise. Each kernel gets one copy of each (flash matters on an MCU),
/// so the strided loop indexes with 0/1 strides instead of specializing the scalar cases.
fn binary_impl<A: Copy, B: Copy, O>(
    plan: Option<&Broadcast>,
    in1: &[A],
    in2: &[B],
    out: &mut [O],
    f: impl Fn(A, B) -> O,
) {
    let plan = match plan {
        Some(p) if !p.is_elementwise() => p,
        _ => {
            if in1.len() == out.len() && in2.len() == out.len() {
                for ((o, &a), &b) in out.iter_mut().zip(in1).zip(in2) {
                    *o = f(a, b);
                }
            }
            return;
        }
    };
    if in1.len() != plan.len1 || in2.len() != plan.len2 || out.len() != plan.out_len {
        return;
    }
    if plan.out_len == 0 {
        return;
    }
    let r = plan.rank;
    let inner = plan.dims[r - 1];
    // The innermost strides are 0 (repeated scalar) or 1 (contiguous).
    let (s1, s2) = (plan.stride1[r - 1], plan.stride2[r - 1]);
    let (span1, span2) = ((inner - 1) * s1 + 1, (inner - 1) * s2 + 1);
    let mut index = [0usize; MAX_DIMS];
    let (mut off1, mut off2) = (0usize, 0usize);
    for chunk in out.chunks_exact_mut(inner) {
        // The plan guarantees these ranges lie inside the inputs (lengths checked above).
        let a = &in1[off1..off1 + span1];
        let b = &in2[off2..off2 + span2];
        for (k, o) in chunk.iter_mut().enumerate() {
            *o = f(a[k * s1], b[k * s2]);
        }
        // Odometer over the outer dimensions.
        let mut d = r - 1;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            off1 += plan.stride1[d];
            off2 += plan.stride2[d];
            if index[d] < plan.dims[d] {
                break;
            }
            off1 -= plan.stride1[d] * plan.dims[d];
            off2 -= plan.stride2[d] * plan.dims[d];
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward 6-D reference: pad to 6 dims, index each input with its own extents.
    fn naive(a: &[i32], s1: &[usize], b: &[i32], s2: &[usize]) -> ([usize; 6], [i32; 64]) {
        let pad = |s: &[usize]| {
            let mut p = [1usize; 6];
            p[6 - s.len()..].copy_from_slice(s);
            p
        };
        let (p1, p2) = (pad(s1), pad(s2));
        let mut po = [0usize; 6];
        for i in 0..6 {
            po[i] = p1[i].max(p2[i]);
        }
        let mut out = [0i32; 64];
        let mut k = 0;
        let flat = |p: &[usize; 6], idx: &[usize; 6]| {
            let mut f = 0;
            for i in 0..6 {
                f = f * p[i] + if p[i] == 1 { 0 } else { idx[i] };
            }
            f
        };
        let mut idx = [0usize; 6];
        let total: usize = po.iter().product();
        for _ in 0..total {
            out[k] = a[flat(&p1, &idx)] * 100 + b[flat(&p2, &idx)];
            k += 1;
            let mut d = 6;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                if idx[d] < po[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        (po, out)
    }

    fn check(s1: &[usize], s2: &[usize]) {
        let n1: usize = s1.iter().product();
        let n2: usize = s2.iter().product();
        let a: [i32; 64] = core::array::from_fn(|i| i as i32);
        let b: [i32; 64] = core::array::from_fn(|i| i as i32);
        let (po, want) = naive(&a[..n1], s1, &b[..n2], s2);
        let n: usize = po.iter().product();
        let mut got = [0i32; 64];
        binary(&a[..n1], s1, &b[..n2], s2, &mut got[..n], |x, y| {
            x * 100 + y
        });
        assert_eq!(&got[..n], &want[..n], "{s1:?} x {s2:?}");
    }

    #[test]
    fn matches_naive_broadcast() {
        check(&[1, 2, 3, 1], &[1, 1, 3, 4]);
        check(&[2, 3], &[2, 3]);
        check(&[4], &[1, 4]);
        check(&[3, 1], &[1, 4]);
        check(&[2, 1, 4], &[3, 1]);
        check(&[1], &[2, 2, 2]);
        check(&[], &[5]);
        check(&[2, 2, 2], &[]);
        check(&[1, 1], &[1]);
        check(&[2, 1, 2, 1, 2], &[1, 2, 1, 2, 1]);
        check(&[2, 3, 4], &[2, 1, 4]);
    }

    #[test]
    fn explicit_values_for_the_classic_case() {
        // [1,2,3,1] + [1,1,3,4]: out[0,i,j,k] = a[i,j] + b[j,k].
        let a = [0, 10, 20, 30, 40, 50];
        let b: [i32; 12] = core::array::from_fn(|i| i as i32);
        let mut out = [0i32; 24];
        binary(&a, &[1, 2, 3, 1], &b, &[1, 1, 3, 4], &mut out, |x, y| x + y);
        assert_eq!(&out[..8], &[0, 1, 2, 3, 14, 15, 16, 17]);
        assert_eq!(&out[20..], &[58, 59, 60, 61]);
    }

    #[test]
    fn plans_merge_dimensions() {
        let p = Broadcast::new(&[1, 8, 8, 16], &[1, 8, 8, 16]).unwrap();
        assert_eq!(p.rank(), 1);
        assert!(p.is_elementwise());
        let p = Broadcast::new(&[1, 8, 8, 16], &[16]).unwrap();
        assert_eq!(p.rank(), 2);
        assert!(!p.is_elementwise());
        assert_eq!(p.output_len(), 1024);
        assert!(Broadcast::new(&[2, 3], &[3, 2]).is_none());
    }

    #[test]
    fn output_shapes() {
        let mut s = [0usize; 6];
        assert_eq!(output_shape(&[1, 2, 3, 1], &[1, 1, 3, 4], &mut s), Some(4));
        assert_eq!(&s[..4], &[1, 2, 3, 4]);
        assert_eq!(output_shape(&[5], &[2, 1], &mut s), Some(2));
        assert_eq!(&s[..2], &[2, 5]);
        assert_eq!(output_shape(&[2], &[3], &mut s), None);
    }

    #[test]
    fn mismatched_sizes_write_nothing() {
        let mut out = [7i32; 4];
        binary_planned(
            &Broadcast::new(&[4], &[4]).unwrap(),
            &[1, 2, 3],
            &[1, 2, 3, 4],
            &mut out,
            |x: i32, y: i32| x + y,
        );
        assert_eq!(out, [7; 4]);
    }

    #[test]
    fn empty_tensors() {
        let mut out: [i32; 0] = [];
        binary(
            &[],
            &[0, 3],
            &[1, 2, 3],
            &[1, 3],
            &mut out,
            |x: i32, y: i32| x + y,
        );
    }
}

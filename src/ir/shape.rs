//! Static shape rules of the builtins, as TFLite computes them: used to validate a graph and
//! by importers and passes to give new tensors their shapes. Every function returns `None`
//! when the operands do not fit together.

use tflm_runtime::Padding;

/// NumPy-style broadcast of two shapes (aligned at the last dimension).
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Output size of a convolution or pooling window along one spatial dimension (TFLite's
/// `ComputeOutSize`): SAME gives `ceil(input / stride)`, VALID
/// `ceil((input - effective_filter + 1) / stride)`.
pub fn window_output(
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<usize> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return None;
    }
    let effective = (filter - 1).checked_mul(dilation)? + 1;
    Some(match padding {
        Padding::Same => input.div_ceil(stride),
        Padding::Valid => (input + stride).saturating_sub(effective) / stride,
    })
}

/// An axis in `[-rank, rank)` as an index.
pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// MEAN (and the other reducers): the dimensions in `axes` (repeats allowed) removed, or kept
/// as 1 with `keep_dims`.
pub fn reduce(shape: &[usize], axes: &[i64], keep_dims: bool) -> Option<Vec<usize>> {
    let mut reduced = vec![false; shape.len()];
    for &a in axes {
        reduced[normalize_axis(a, shape.len())?] = true;
    }
    Some(
        shape
            .iter()
            .zip(&reduced)
            .filter_map(|(&d, &r)| match (r, keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect(),
    )
}

/// TRANSPOSE: output dimension `i` is input dimension `perm[i]`.
pub fn transpose(shape: &[usize], perm: &[i64]) -> Option<Vec<usize>> {
    if perm.len() != shape.len() {
        return None;
    }
    let mut seen = vec![false; shape.len()];
    perm.iter()
        .map(|&p| {
            let p = usize::try_from(p).ok().filter(|&p| p < shape.len())?;
            if std::mem::replace(&mut seen[p], true) {
                return None;
            }
            Some(shape[p])
        })
        .collect()
}

/// PAD and PADV2: `paddings` is `[rank, 2]` row-major (before, after), non-negative.
pub fn pad(shape: &[usize], paddings: &[i64]) -> Option<Vec<usize>> {
    if paddings.len() != 2 * shape.len() {
        return None;
    }
    shape
        .iter()
        .zip(paddings.chunks_exact(2))
        .map(|(&d, p)| {
            let before = usize::try_from(p[0]).ok()?;
            let after = usize::try_from(p[1]).ok()?;
            d.checked_add(before)?.checked_add(after)
        })
        .collect()
}

/// CONCATENATION: shapes equal but along `axis`, where they add up.
pub fn concatenate(shapes: &[&[usize]], axis: i64) -> Option<Vec<usize>> {
    let first = shapes.first()?;
    let axis = normalize_axis(axis, first.len())?;
    let mut out = first.to_vec();
    out[axis] = 0;
    for s in shapes {
        if s.len() != first.len()
            || s.iter()
                .zip(first.iter())
                .enumerate()
                .any(|(i, (a, b))| i != axis && a != b)
        {
            return None;
        }
        out[axis] = out[axis].checked_add(s[axis])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast(&[2, 3], &[3, 3]), None);
    }

    #[test]
    fn windows_match_tflite() {
        assert_eq!(window_output(10, 3, 1, 1, Padding::Same), Some(10));
        assert_eq!(window_output(10, 3, 2, 1, Padding::Same), Some(5));
        assert_eq!(window_output(10, 3, 2, 1, Padding::Valid), Some(4));
        assert_eq!(window_output(10, 3, 1, 2, Padding::Valid), Some(6));
        assert_eq!(window_output(2, 3, 1, 1, Padding::Valid), Some(0));
        assert_eq!(window_output(10, 3, 0, 1, Padding::Valid), None);
    }

    #[test]
    fn reductions_permutations_paddings_concatenations() {
        assert_eq!(reduce(&[1, 4, 4, 8], &[1, 2], false), Some(vec![1, 8]));
        assert_eq!(
            reduce(&[1, 4, 4, 8], &[-2, 1, 1], true),
            Some(vec![1, 1, 1, 8])
        );
        assert_eq!(reduce(&[2, 3], &[2], true), None);
        assert_eq!(transpose(&[1, 2, 3], &[2, 0, 1]), Some(vec![3, 1, 2]));
        assert_eq!(transpose(&[1, 2, 3], &[0, 0, 1]), None);
        assert_eq!(pad(&[2, 3], &[1, 1, 0, 2]), Some(vec![4, 5]));
        assert_eq!(pad(&[2, 3], &[1, -1, 0, 2]), None);
        assert_eq!(concatenate(&[&[2, 3], &[2, 5]], -1), Some(vec![2, 8]));
        assert_eq!(concatenate(&[&[2, 3], &[1, 5]], 1), None);
        assert_eq!(normalize_axis(-3, 2), None);
    }
}

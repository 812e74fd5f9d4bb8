//! Axis permutations: how an IR tensor's axes relate to the ONNX value it holds.
//!
//! A permutation `perm` says that IR axis `i` is ONNX axis `perm[i]`, so the IR shape is
//! `permute(onnx_shape, perm)`. The identity means "same layout"; `[0, 2, 3, 1]` ([`NHWC`])
//! is an NCHW ONNX value held NHWC.

/// An NCHW value held NHWC.
pub const NHWC: [usize; 4] = [0, 2, 3, 1];

pub fn identity(rank: usize) -> Vec<usize> {
    (0..rank).collect()
}

pub fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// `inv[perm[i]] = i`.
pub fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// `out[i] = v[perm[i]]`.
pub fn permute<T: Copy>(v: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| v[p]).collect()
}

/// The permutation a TRANSPOSE needs (output axis `i` reads input axis `t[i]`) to turn a tensor
/// held with `from` into one held with `to` (two permutations of the same ONNX value).
pub fn transpose_between(from: &[usize], to: &[usize]) -> Vec<usize> {
    let inv = inverse(from);
    to.iter().map(|&a| inv[a]).collect()
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Transposes row-major `data` of `shape`: the result has shape `permute(shape, perm)` and
/// its element at index `j` is the input's element at the index `k` with `k[perm[i]] = j[i]`.
pub fn transpose_data<T: Copy>(data: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let in_strides = strides(shape);
    let out_shape = permute(shape, perm);
    // Input stride of each output axis.
    let step: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; out_shape.len()];
    for _ in 0..n {
        let src: usize = index.iter().zip(&step).map(|(i, s)| i * s).sum();
        out.push(data[src]);
        for a in (0..index.len()).rev() {
            index[a] += 1;
            if index[a] < out_shape[a] {
                break;
            }
            index[a] = 0;
        }
    }
    out
}

/// Whether an IR tensor held with `perm` (IR shape `ir_shape`) has its elements in the ONNX
/// value's row-major order: the axes of size above 1 appear in increasing ONNX order.
pub fn keeps_element_order(ir_shape: &[usize], perm: &[usize]) -> bool {
    let big: Vec<usize> = perm
        .iter()
        .zip(ir_shape)
        .filter(|(_, &d)| d != 1)
        .map(|(&p, _)| p)
        .collect();
    big.windows(2).all(|w| w[0] < w[1])
}

/// For a reshape of the ONNX value held as `ir_shape` (in ONNX order of elements, see
/// [`keeps_element_order`]) to `onnx_out` of the same rank, where only size-1 axes move: the
/// permutation that lets the same IR tensor hold the result. `None` when more than size-1
/// axes change.
pub fn relabel_unit_axes(ir_shape: &[usize], onnx_out: &[usize]) -> Option<Vec<usize>> {
    if ir_shape.len() != onnx_out.len() {
        return None;
    }
    let big = |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
    if big(ir_shape) != big(onnx_out) {
        return None;
    }
    let mut out_big = (0..onnx_out.len()).filter(|&a| onnx_out[a] != 1);
    let mut out_unit = (0..onnx_out.len()).filter(|&a| onnx_out[a] == 1);
    ir_shape
        .iter()
        .map(|&d| {
            if d != 1 {
                out_big.next()
            } else {
                out_unit.next()
            }
        })
        .collect()
}

/// Where each element of an IR tensor (shape `ir_shape`, held with `perm`), taken in the IR
/// row-major order within one batch row (axis 0, which must be ONNX axis 0), lands in ONNX's
/// flatten of the value to `[batch, rest]`: `order[j]` is the ONNX column of IR element `j`.
pub fn flatten_order(ir_shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let onnx_shape = permute(ir_shape, &inverse(perm));
    let onnx_strides = strides(&onnx_shape);
    // ONNX stride of each IR axis.
    let step: Vec<usize> = perm.iter().map(|&p| onnx_strides[p]).collect();
    let inner = &ir_shape[1..];
    let n: usize = inner.iter().product();
    let mut order = Vec::with_capacity(n);
    let mut index = vec![0usize; inner.len()];
    for _ in 0..n {
        order.push(index.iter().zip(&step[1..]).map(|(i, s)| i * s).sum());
        for a in (0..index.len()).rev() {
            index[a] += 1;
            if index[a] < inner[a] {
                break;
            }
            index[a] = 0;
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations() {
        assert_eq!(inverse(&NHWC), vec![0, 3, 1, 2]);
        assert_eq!(permute(&[1, 3, 8, 9], &NHWC), vec![1, 8, 9, 3]);
        // NHWC-held NCHW value, then ONNX Transpose [0, 2, 3, 1]: identity.
        assert_eq!(transpose_between(&NHWC, &identity(4)), vec![0, 3, 1, 2]);
        assert!(is_identity(&[0, 1, 2]) && !is_identity(&NHWC));
    }

    #[test]
    fn transposes_data() {
        // [2, 3] -> [3, 2]
        let d = [0, 1, 2, 3, 4, 5];
        assert_eq!(transpose_data(&d, &[2, 3], &[1, 0]), vec![0, 3, 1, 4, 2, 5]);
        let nchw: Vec<u32> = (0..24).collect();
        let nhwc = transpose_data(&nchw, &[1, 2, 3, 4], &NHWC);
        // NHWC element (h=1, w=2, c=1) is NCHW element (c=1, h=1, w=2).
        assert_eq!(nhwc[(4 + 2) * 2 + 1], nchw[12 + 4 + 2]);
    }

    #[test]
    fn unit_axes_and_flatten() {
        assert!(keeps_element_order(&[1, 8, 8, 1], &[0, 1, 2, 3]));
        assert!(!keeps_element_order(&[1, 2, 2, 3], &NHWC));
        assert!(keeps_element_order(&[1, 1, 1, 3], &NHWC));
        assert_eq!(
            relabel_unit_axes(&[1, 8, 8, 1], &[1, 1, 8, 8]),
            Some(vec![0, 2, 3, 1])
        );
        assert_eq!(relabel_unit_axes(&[1, 8, 8, 2], &[1, 2, 8, 8]), None);
        // NCHW [1, 2, 1, 2] held NHWC [1, 1, 2, 2]: IR (w, c) order.
        assert_eq!(flatten_order(&[1, 1, 2, 2], &NHWC), vec![0, 2, 1, 3]);
    }
}

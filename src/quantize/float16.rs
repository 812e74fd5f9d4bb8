//! `float16` post-training quantization, as TensorFlow's converter emits it
//! (`supported_types = [tf.float16]`): every float32 constant an operator reads (weights,
//! biases, other operands) is stored as IEEE half precision and followed by a DEQUANTIZE
//! (float16 → float32) that runs at the start of every invoke; all arithmetic stays float32,
//! and so do the model's inputs and outputs. Exceptions, which keep float32 constants: SVDF
//! and UNIDIRECTIONAL_SEQUENCE_LSTM (whose weights the kernels read as constants) and PADV2's
//! fill value.
//!
//! The flash holds half the bytes; RAM holds the dequantized float32 copies as activations
//! (the memory planner reuses each one's space once its consumer has run).

use super::QuantizeError;
use crate::ir::{ConstData, DType, Graph, Op, OpKind, Tensor, TensorId};

/// IEEE 754 binary32 → binary16, rounding to nearest even (what TensorFlow's and numpy's
/// conversions do): values beyond the float16 range become infinities, tiny ones subnormals
/// or zero; NaN stays NaN.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        // Infinity, or NaN (kept quiet, with the top payload bits).
        return sign
            | 0x7c00
            | if man != 0 {
                0x200 | (man >> 13) as u16
            } else {
                0
            };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal (or zero) in float16: shift the full significand right.
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1u32 << shift) - 1);
        let mut h = m >> shift;
        if rest > half || (rest == half && h & 1 == 1) {
            h += 1;
        }
        return sign | h as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        h += 1; // may carry into the exponent, up to infinity: still correct
    }
    sign | h as u16
}

/// Stores every float32 constant operand as float16 behind a DEQUANTIZE.
pub fn quantize_float16(graph: &Graph) -> Result<Graph, QuantizeError> {
    let mut g = graph.clone();
    let mut replaced: Vec<Option<TensorId>> = vec![None; g.tensors.len()];
    let mut front = Vec::new();
    for k in 0..g.ops.len() {
        for j in 0..g.ops[k].inputs.len() {
            let Some(t) = g.ops[k].inputs[j] else {
                continue;
            };
            let tensor = g.tensor(t);
            // SVDF and LSTM keep their float weights (their kernels read them as constants),
            // and PADV2's fill value must stay a constant.
            let keep = matches!(
                g.ops[k].kind,
                OpKind::Svdf(_) | OpKind::UnidirectionalSequenceLstm(_)
            ) || (matches!(g.ops[k].kind, OpKind::PadV2) && j == 2);
            if keep || !(tensor.is_constant() && tensor.dtype == DType::F32) {
                continue;
            }
            let f = match replaced[t.index()] {
                Some(f) => f,
                None => {
                    let values = tensor.f32_data().unwrap_or(&[]);
                    let half: Vec<u16> = values.iter().map(|&x| f32_to_f16(x)).collect();
                    let mut c = Tensor::constant(
                        format!("{}_f16", tensor.name),
                        tensor.shape.clone(),
                        ConstData::F16(half),
                    );
                    c.quantization = None;
                    let f =
                        Tensor::activation(tensor.name.clone(), DType::F32, tensor.shape.clone());
                    let c = g.add_tensor(c);
                    let f = g.add_tensor(f);
                    front.push(Op::new(OpKind::Dequantize, [c], [f]));
                    replaced[t.index()] = Some(f);
                    f
                }
            };
            g.ops[k].inputs[j] = Some(f);
        }
    }
    front.append(&mut g.ops);
    g.ops = front;
    g.remove_unused_tensors();
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float16_rounding_matches_ieee() {
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // rounds up to infinity
        assert_eq!(f32_to_f16(1.0 / 3.0), 0x3555);
        assert_eq!(f32_to_f16(5.960_464_5e-8), 0x0001); // smallest subnormal
        assert_eq!(f32_to_f16(2.0e-8), 0x0000);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
        assert_eq!(f32_to_f16(f32::INFINITY), 0x7c00);
        assert!(f32_to_f16(f32::NAN) & 0x7c00 == 0x7c00 && f32_to_f16(f32::NAN) & 0x3ff != 0);
        // Ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02);
        // Every float16 value converts back to itself.
        for h in 0u16..0x7c00 {
            let x = tflm_runtime::kernels::dequantize::f16_to_f32(h);
            assert_eq!(f32_to_f16(x), h);
            assert_eq!(f32_to_f16(-x), h | 0x8000);
        }
    }
}

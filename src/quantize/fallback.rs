//! `int8_float_fallback` (the original tool's `integer_with_float_fallback`, TensorFlow's
//! `optimizations = [DEFAULT]` with a representative dataset and the default op set): every
//! operator that has an int8 kernel runs in int8 exactly as in the `int8` mode, the others
//! (SVDF, and ops the `int8` mode rejects) stay float32; a QUANTIZE converts a float tensor
//! where an int8 operator reads it and a DEQUANTIZE converts an int8 tensor where a float
//! operator (or the model's output) reads it. The model's inputs and outputs are float32.
//!
//! With no float operator the result is the `int8` mode's graph with float I/O.

use super::common::{activation_params, quantize_op_constants, share_concatenation_ranges, Scheme};
use super::QuantizeError;
use crate::calibrate::Ranges;
use crate::ir::{DType, Graph, Op, OpKind, Quantization, Tensor, TensorId};

/// Quantizes the operators of `graph` that have an int8 kernel; the rest stay float.
pub fn quantize_int8_float_fallback(
    graph: &Graph,
    ranges: &Ranges,
) -> Result<Graph, QuantizeError> {
    let scheme = Scheme::Int8;
    let quantized: Vec<bool> = (0..graph.ops.len())
        .map(|i| scheme.check(graph, i).is_ok())
        .collect();
    let mut ranges = ranges.clone();
    share_concatenation_ranges(graph, &mut ranges);
    let params = activation_params(graph, &ranges, scheme, |i| quantized[i])?;

    let mut g = graph.clone();
    g.ops.clear();
    let n = graph.tensors.len();
    // The int8 twin of each activation, and which versions exist so far.
    let mut twin: Vec<Option<TensorId>> = vec![None; n];
    let mut has_float = vec![false; n];
    let mut has_int8 = vec![false; n];
    for &t in &graph.inputs {
        has_float[t.index()] = true;
    }
    let mut twin_of = |g: &mut Graph, t: TensorId| -> Result<TensorId, QuantizeError> {
        if let Some(q) = twin[t.index()] {
            return Ok(q);
        }
        let (scale, zp) = params[t.index()].ok_or_else(|| QuantizeError::Uncalibrated {
            tensor: t.index(),
            name: graph.tensor(t).name.clone(),
        })?;
        let src = graph.tensor(t);
        let q = g.add_tensor(
            Tensor::activation(format!("{}_int8", src.name), DType::I8, src.shape.clone())
                .with_quantization(Quantization::per_tensor(scale, zp as i64)),
        );
        twin[t.index()] = Some(q);
        Ok(q)
    };
    let is_activation = |t: TensorId| {
        let tensor = graph.tensor(t);
        !tensor.is_constant() && !tensor.is_variable && tensor.dtype == DType::F32
    };
    for (i, op) in graph.ops.iter().enumerate() {
        let mut op = op.clone();
        if quantized[i] {
            for k in 0..op.inputs.len() {
                let Some(t) = op.inputs[k] else { continue };
                if is_activation(t) {
                    let q = twin_of(&mut g, t)?;
                    if !has_int8[t.index()] {
                        g.ops.push(Op::new(OpKind::Quantize, [t], [q]));
                        has_int8[t.index()] = true;
                    }
                    op.inputs[k] = Some(q);
                } else if graph.tensor(t).is_constant() {
                    // A private copy: the float original may feed float operators too.
                    let c = g.add_tensor(graph.tensor(t).clone());
                    op.inputs[k] = Some(c);
                }
            }
            for k in 0..op.outputs.len() {
                let t = op.outputs[k];
                op.outputs[k] = twin_of(&mut g, t)?;
                has_int8[t.index()] = true;
            }
            // Weights and biases against the twins' parameters (same values as the originals').
            let mut local = params.clone();
            local.resize(g.tensors.len(), None);
            for (&orig, &new) in graph.ops[i].inputs.iter().zip(&op.inputs) {
                if let (Some(o), Some(nw)) = (orig, new) {
                    local[nw.index()] = params[o.index()];
                }
            }
            for (&orig, &new) in graph.ops[i].outputs.iter().zip(&op.outputs) {
                local[new.index()] = params[orig.index()];
            }
            quantize_op_constants(&mut g, &mut op, &local, &ranges, scheme)?;
        } else {
            for t in op.inputs.iter().flatten().copied() {
                if is_activation(t) && !has_float[t.index()] {
                    let q = twin_of(&mut g, t)?;
                    g.ops.push(Op::new(OpKind::Dequantize, [q], [t]));
                    has_float[t.index()] = true;
                }
            }
            for &t in &op.outputs {
                has_float[t.index()] = true;
            }
        }
        g.ops.push(op);
    }
    for &t in &graph.outputs {
        if !has_float[t.index()] {
            let q = twin_of(&mut g, t)?;
            g.ops.push(Op::new(OpKind::Dequantize, [q], [t]));
            has_float[t.index()] = true;
        }
    }
    g.remove_unused_tensors();
    Ok(g)
}

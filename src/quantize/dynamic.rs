//! `dynamic` (dynamic-range) post-training quantization: int8 symmetric weights, float
//! activations, float model I/O. The runtime's hybrid kernels quantize each input row on the
//! fly (see `tflm-runtime/src/kernels/hybrid.rs`). What TensorFlow's converter emits
//! (`optimizations = [DEFAULT]` without a representative dataset), and where this differs:
//!
//! - FULLY_CONNECTED: int8 weights, float bias, `asymmetric_quantize_inputs = true`. TensorFlow
//!   2.21 writes per-channel weight scales (version 12); these are per tensor, the layout whose
//!   hybrid path LiteRT's and the runtime's kernels share.
//! - CONV_2D: per-channel int8 weights (axis 0), float bias. LiteRT runs the per-channel hybrid
//!   kernel only when the channel scales differ; a layer whose scales all coincide (one output
//!   channel, say) would take its optimized per-tensor path, so it keeps float weights here.
//! - DEPTHWISE_CONV_2D: per-channel int8 weights (axis 3), float bias.
//! - Every other op keeps float weights (LiteRT's hybrid SVDF/LSTM kernels have no counterpart
//!   in the runtime yet).
//! - TensorFlow leaves tensors under 1024 elements in float; the tflm models are small, so every
//!   weight of the ops above is quantized.

use super::common::{quantize_weights, weight_axis};
use super::QuantizeError;
use crate::ir::{DType, Graph, OpKind};

/// Stores the weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D as int8.
pub fn quantize_dynamic(graph: &Graph) -> Result<Graph, QuantizeError> {
    let mut g = graph.clone();
    let mut done = vec![false; g.tensors.len()];
    for k in 0..g.ops.len() {
        let op = &g.ops[k];
        // FULLY_CONNECTED per tensor: the hybrid kernel's layout (see above).
        let axis = match op.kind {
            OpKind::FullyConnected(_) => Some(None),
            _ => weight_axis(&op.kind),
        };
        let (Some(axis), Some(x), Some(w)) = (axis, op.input(0), op.input(1)) else {
            continue;
        };
        let (xt, wt) = (g.tensor(x), g.tensor(w));
        if xt.dtype != DType::F32 || wt.dtype != DType::F32 || !wt.is_constant() || done[w.index()]
        {
            continue;
        }
        // A weight tensor shared with an op that keeps float weights stays float.
        if g.consumers(w).len() != 1 {
            continue;
        }
        let mut trial = g.clone();
        let scales = quantize_weights(&mut trial, w, axis)?;
        if let OpKind::Conv2d(_) = op.kind {
            if scales.iter().all(|&s| s == scales[0]) {
                continue;
            }
        }
        g = trial;
        done[w.index()] = true;
        if let OpKind::FullyConnected(o) = &mut g.ops[k].kind {
            o.asymmetric_quantize_inputs = true;
        }
    }
    Ok(g)
}

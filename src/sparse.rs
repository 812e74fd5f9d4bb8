//! Which weights the writer stores in tflm-rs's sparse encoding (`tflm_runtime::sparse`, format
//! in `docs/sparse.md`), and their encoded bytes.
//!
//! Only the runtime of tflm-rs reads the encoding: LiteRT and TensorFlow Lite Micro refuse such
//! a model (its tensors carry an empty `SparsityParameters`). [`SparseWeights::Never`] writes
//! the dense form every TFLite runtime loads.

use crate::ir::{ConstData, Graph, TensorId};
use tflm_runtime::DType;

/// When to write pruned int8 weights (FULLY_CONNECTED's, the int8 LSTM's gate matrices)
/// sparse-encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SparseWeights {
    /// When the encoding is smaller than the dense bytes (a pruned model; never at 0%
    /// sparsity, where the mask bytes make it larger).
    #[default]
    Auto,
    /// Every eligible tensor, smaller or not (tests, measurements).
    Always,
    /// Dense weights only: the file loads in LiteRT and TensorFlow Lite Micro.
    Never,
}

impl SparseWeights {
    pub fn as_str(self) -> &'static str {
        match self {
            SparseWeights::Auto => "auto",
            SparseWeights::Always => "always",
            SparseWeights::Never => "never",
        }
    }
}

impl std::fmt::Display for SparseWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SparseWeights {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SparseWeights::Auto),
            "always" => Ok(SparseWeights::Always),
            "never" => Ok(SparseWeights::Never),
            _ => Err(format!(
                "unknown sparse-weights choice {s:?}: use auto, always or never"
            )),
        }
    }
}

/// Whether input `k` of `op` is weights the runtime's sparse kernels read in place: input 1 of
/// an int8 FULLY_CONNECTED, inputs 1-8 (input-to-gate and recurrent-to-gate weights) of a full
/// integer (int8 activations) UNIDIRECTIONAL_SEQUENCE_LSTM.
fn sparse_input(graph: &Graph, op: &crate::ir::Op, k: usize) -> bool {
    let int8 = |t: Option<TensorId>| t.is_some_and(|t| graph.tensor(t).dtype == DType::I8);
    tflm_runtime::ops::reads_sparse(op.kind.builtin_code(), k)
        && int8(op.input(0))
        && int8(op.output(0))
}

/// The int8 values of a tensor the runtime's sparse kernels can take: 2-D int8 constant weights
/// with zero point 0, read only where [`sparse_input`] allows.
fn eligible(graph: &Graph, id: TensorId) -> Option<&[i8]> {
    let t = graph.tensor(id);
    let ConstData::I8(values) = t.data.as_ref()? else {
        return None;
    };
    let symmetric = t
        .quantization
        .as_ref()
        .is_some_and(|q| q.zero_points.iter().all(|&z| z == 0));
    if t.shape.len() != 2 || !symmetric || graph.outputs.contains(&id) {
        return None;
    }
    let mut uses = graph.ops.iter().flat_map(|op| {
        let reads = op.inputs.iter().enumerate();
        reads.filter_map(move |(k, &t)| (t == Some(id)).then_some((op, k)))
    });
    let mut used = false;
    let only_sparse_inputs = uses.all(|(op, k)| {
        used = true;
        sparse_input(graph, op, k)
    });
    (only_sparse_inputs && used).then_some(values.as_slice())
}

/// The encoded bytes of tensor `id` when `choice` says to encode it, else `None`.
pub fn encoded(graph: &Graph, id: TensorId, choice: SparseWeights) -> Option<Vec<u8>> {
    if choice == SparseWeights::Never {
        return None;
    }
    let values = eligible(graph, id)?;
    let depth = graph.tensor(id).shape[1];
    let len = tflm_runtime::sparse::encoded_len(depth, values);
    if choice == SparseWeights::Auto && len >= values.len() {
        return None;
    }
    let mut out = vec![0u8; len];
    let n = tflm_runtime::sparse::encode(depth, values, &mut out)?;
    debug_assert_eq!(n, len);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_choices() {
        for c in [
            SparseWeights::Auto,
            SparseWeights::Always,
            SparseWeights::Never,
        ] {
            assert_eq!(c.as_str().parse::<SparseWeights>(), Ok(c));
        }
        assert!("sometimes".parse::<SparseWeights>().is_err());
    }
}

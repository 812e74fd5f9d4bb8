//! Magnitude pruning of an already quantized model (an int8 `.tflite` brought in by
//! `tflite_import`): the same ranking as the float pruning ([`super::plan`]), on the real values
//! the int8 weights stand for, `q x scale` (the channel's scale for per-channel quantization).
//! A weight is pruned by setting its int8 value to 0, which is exactly real 0 because TFLite's
//! int8 weights are symmetric (zero point 0); biases, scales and zero points stay as they are,
//! so the pruned model is the original one with some weights zeroed and nothing re-quantized.
//!
//! Ranked per layer (per weight tensor, an LSTM's gate matrices in their tfmot groups), so
//! ranking by real magnitude and by int8 magnitude differ only where a tensor has per-channel
//! scales: a channel with small scales loses more of its weights, as float pruning of the
//! same layer would take them.

use super::{plan, prunable, report, LayerSparsity, PruneError, Ranking};
use crate::ir::{ConstData, Graph, TensorId};

/// Sets the fraction `sparsity` of each prunable int8 weight tensor of `graph` to zero
/// (FULLY_CONNECTED weights, CONV_2D filters, the LSTM's weight matrices; 1x4 blocks with
/// [`Ranking::Blocks1x4`]), skipping the operators in `skip`. Returns each pruned tensor's
/// sparsity. A weight tensor that is not int8 with zero point 0 (a float model, asymmetric
/// weights) is refused, naming it, unless its operator is skipped: leaving it dense would
/// report a pruning that did not happen.
pub fn prune_int8(
    graph: &mut Graph,
    sparsity: f32,
    ranking: Ranking,
    skip: &[usize],
) -> Result<Vec<LayerSparsity>, PruneError> {
    let candidates = weight_candidates(graph);
    if candidates.is_empty() {
        return Err(PruneError::NothingToPrune);
    }
    for &(op, w) in candidates.iter().filter(|(op, _)| !skip.contains(op)) {
        let t = graph.tensor(w);
        if real_values(t).is_none() {
            let what = match t.data {
                Some(ConstData::F32(_)) => "float32 (prune the float model: `tflm convert -p`)",
                _ => "not int8 with zero point 0",
            };
            let tensor = t.name.clone();
            return Err(PruneError::NotInt8 { op, tensor, what });
        }
    }
    let real = with_real_weights(graph);
    let zeroed = plan(&real, sparsity, ranking, skip)?;
    for (_, w, indices) in &zeroed {
        if let Some(ConstData::I8(values)) = graph.tensor_mut(*w).data.as_mut() {
            for &i in indices {
                values[i] = 0;
            }
        }
    }
    // The report counts zeros of the real values: those of the pruned int8 weights.
    Ok(report(&with_real_weights(graph), skip))
}

/// [`super::skip_list`] for an int8 graph: operator indices or names of its int8 weights.
pub fn skip_list_int8(graph: &Graph, names: &[String]) -> Result<Vec<usize>, PruneError> {
    super::skip_list(&with_real_weights(graph), names)
}

/// A copy of `graph` where every int8 symmetric weight tensor pruning could touch holds its
/// real values (f32), so that the float pruning's ranking and report apply unchanged.
fn with_real_weights(graph: &Graph) -> Graph {
    let mut real = graph.clone();
    for id in int8_weights(graph) {
        let t = real.tensor_mut(id);
        if let Some(values) = real_values(t) {
            t.data = Some(ConstData::F32(values));
        }
    }
    real
}

/// The constant int8 or float inputs at the positions [`prunable`] considers (as it would see
/// them were they all float), with their operator.
fn weight_candidates(graph: &Graph) -> Vec<(usize, TensorId)> {
    let mut as_float = graph.clone();
    for t in &mut as_float.tensors {
        if let Some(ConstData::I8(v)) = &t.data {
            t.data = Some(ConstData::F32(vec![0.0; v.len()]));
        }
    }
    prunable(&as_float)
}

/// The int8 tensors among [`weight_candidates`].
fn int8_weights(graph: &Graph) -> Vec<TensorId> {
    weight_candidates(graph)
        .into_iter()
        .map(|(_, w)| w)
        .filter(|&w| matches!(graph.tensor(w).data, Some(ConstData::I8(_))))
        .collect()
}

/// `q x scale` for a symmetric int8 tensor (per tensor, or per channel along its axis), else
/// `None` (no quantization, a nonzero zero point, or scales that do not fit the shape).
fn real_values(t: &crate::ir::Tensor) -> Option<Vec<f32>> {
    let ConstData::I8(q) = t.data.as_ref()? else {
        return None;
    };
    let quant = t.quantization.as_ref()?;
    if quant.zero_points.iter().any(|&z| z != 0) || quant.scales.is_empty() {
        return None;
    }
    let channels = quant.scales.len();
    // Elements between two consecutive indices of the channel axis.
    let inner: usize = t.shape.get(quant.axis + 1..)?.iter().product();
    if channels > 1 && t.shape.get(quant.axis) != Some(&channels) {
        return None;
    }
    Some(
        q.iter()
            .enumerate()
            .map(|(i, &v)| f32::from(v) * quant.scales[(i / inner.max(1)) % channels])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{
        Conv2dOptions, DType, FullyConnectedOptions, Op, OpKind, Quantization, Tensor,
    };

    fn int8_weights_graph(
        values: Vec<i8>,
        shape: Vec<usize>,
        q: Quantization,
        conv: bool,
    ) -> Graph {
        let mut g = Graph::new();
        let in_shape = if conv {
            vec![1, 1, 1, shape[3]]
        } else {
            vec![1, shape[1]]
        };
        let out_shape = if conv {
            vec![1, 1, 1, shape[0]]
        } else {
            vec![1, shape[0]]
        };
        let aq = Quantization::per_tensor(0.5, 3);
        let x = g
            .add_tensor(Tensor::activation("x", DType::I8, in_shape).with_quantization(aq.clone()));
        let w =
            g.add_tensor(Tensor::constant("w", shape, ConstData::I8(values)).with_quantization(q));
        let y = g.add_tensor(Tensor::activation("y", DType::I8, out_shape).with_quantization(aq));
        let kind = if conv {
            OpKind::Conv2d(Conv2dOptions::default())
        } else {
            OpKind::FullyConnected(FullyConnectedOptions::default())
        };
        g.add_op(Op::new(kind, [x, w], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    fn int8_of(g: &Graph) -> Vec<i8> {
        match g.tensors[1].data.as_ref().unwrap() {
            ConstData::I8(v) => v.clone(),
            _ => unreachable!(),
        }
    }

    /// Per-tensor scale: the blocks with the smallest int8 mean magnitude go, whole.
    #[test]
    fn prunes_int8_fully_connected_weights_in_blocks() {
        #[rustfmt::skip]
        let w = vec![
            1, -1, 2, 1,   90, -80, 70, 60,
            50, 50, 50, 50, -3, 0, 2, 1,
        ];
        let mut g = int8_weights_graph(w, vec![2, 8], Quantization::per_tensor(0.01, 0), false);
        let r = prune_int8(&mut g, 0.5, Ranking::Blocks1x4, &[]).unwrap();
        #[rustfmt::skip]
        assert_eq!(int8_of(&g), vec![
            0, 0, 0, 0,   90, -80, 70, 60,
            50, 50, 50, 50, 0, 0, 0, 0,
        ]);
        assert_eq!((r[0].zeros, r[0].weights), (8, 16));
        // Scales and zero points are untouched.
        assert_eq!(
            g.tensors[1].quantization.as_ref().unwrap().scales,
            vec![0.01]
        );
    }

    /// Per-channel scales rank by real magnitude: the channel whose scale is 100 times smaller
    /// loses its blocks first though its int8 values are larger.
    #[test]
    fn per_channel_scales_rank_by_real_magnitude() {
        #[rustfmt::skip]
        let w = vec![
            100, 100, 100, 100,   120, 120, 120, 120, // channel 0, scale 0.001
            10, 10, 10, 10,       20, 20, 20, 20,     // channel 1, scale 0.1
        ];
        let q = Quantization::per_channel(vec![0.001, 0.1], 0);
        let mut g = int8_weights_graph(w, vec![2, 1, 1, 8], q, true);
        prune_int8(&mut g, 0.5, Ranking::Blocks1x4, &[]).unwrap();
        #[rustfmt::skip]
        assert_eq!(int8_of(&g), vec![
            0, 0, 0, 0,  0, 0, 0, 0,
            10, 10, 10, 10, 20, 20, 20, 20,
        ]);
    }

    /// A float model is refused, naming the tensor, rather than reported as pruned 0%.
    #[test]
    fn float_weights_are_refused() {
        let mut g = int8_weights_graph(
            vec![1; 8],
            vec![1, 8],
            Quantization::per_tensor(0.1, 0),
            false,
        );
        g.tensors[1].data = Some(ConstData::F32(vec![0.5; 8]));
        let refused = prune_int8(&mut g, 0.5, Ranking::PerLayer, &[]).unwrap_err();
        assert_eq!(
            refused,
            PruneError::NotInt8 {
                op: 0,
                tensor: "w".into(),
                what: "float32 (prune the float model: `tflm convert -p`)",
            }
        );
        assert!(refused.to_string().contains("--prune-skip 0"), "{refused}");
        g.ops.clear();
        assert_eq!(
            prune_int8(&mut g, 0.5, Ranking::PerLayer, &[]),
            Err(PruneError::NothingToPrune)
        );
    }

    #[test]
    fn asymmetric_weights_are_refused_and_skipped_layers_stay() {
        let w: Vec<i8> = (1..=8).collect();
        let mut q = Quantization::per_tensor(0.1, 0);
        q.zero_points = vec![1];
        let mut g = int8_weights_graph(w.clone(), vec![1, 8], q, false);
        let refused = prune_int8(&mut g, 0.5, Ranking::Blocks1x4, &[]).unwrap_err();
        assert!(
            matches!(refused, PruneError::NotInt8 { op: 0, .. }),
            "{refused}"
        );
        assert_eq!(int8_of(&g), w);
        // Skipped, the asymmetric layer is no error and stays as it is.
        assert!(prune_int8(&mut g, 0.5, Ranking::Blocks1x4, &[0])
            .unwrap()
            .is_empty());
        assert_eq!(int8_of(&g), w);
        let mut g = int8_weights_graph(
            w.clone(),
            vec![1, 8],
            Quantization::per_tensor(0.1, 0),
            false,
        );
        prune_int8(&mut g, 0.5, Ranking::Blocks1x4, &[0]).unwrap();
        assert_eq!(int8_of(&g), w);
        assert_eq!(
            prune_int8(&mut g, 1.5, Ranking::Blocks1x4, &[]),
            Err(PruneError::Sparsity(1.5))
        );
    }
}

//! Magnitude pruning: the smallest weights of each prunable tensor set to zero.
//!
//! Prunable tensors are the kernels of FULLY_CONNECTED and CONV_2D and the input, recurrent
//! and projection weight matrices of UNIDIRECTIONAL_SEQUENCE_LSTM (per layer, the four
//! input-to-gate matrices are ranked together, and so are the four recurrent ones, as tfmot
//! ranks Keras' `kernel` and `recurrent_kernel`), never biases or peephole weights. DEPTHWISE_CONV_2D
//! kernels stay dense, as in tensorflow-model-optimization's registry: each channel's filter
//! is a handful of weights (9 for 3x3) that the channel cannot do without — halving digits'
//! cost it 1.1 points of accuracy after fine-tuning (`docs/quality.md`) — and they are a
//! small part of a model's bytes.
//!
//! Ranking is per layer (each tensor loses the same fraction) or global (one
//! threshold over all of them, so layers with many small weights lose more). Ties are broken
//! by position, so the result is deterministic.

use super::PruneError;
use crate::ir::{ConstData, Graph, OpKind, TensorId};

/// How weights are ranked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ranking {
    #[default]
    PerLayer,
    Global,
}

/// What pruning did to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSparsity {
    /// The operator the weights belong to.
    pub op: usize,
    pub op_name: &'static str,
    pub tensor: String,
    pub weights: usize,
    /// Weights that are zero after pruning (including those zero before).
    pub zeros: usize,
}

impl LayerSparsity {
    pub fn sparsity(&self) -> f64 {
        self.zeros as f64 / self.weights.max(1) as f64
    }
}

/// The weight tensors pruning touches, with their operator, in operator order.
pub fn prunable(graph: &Graph) -> Vec<(usize, TensorId)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (i, op) in graph.ops.iter().enumerate() {
        let positions: &[usize] = match op.kind {
            OpKind::FullyConnected(_) | OpKind::Conv2d(_) => &[1],
            OpKind::UnidirectionalSequenceLstm(_) => &[1, 2, 3, 4, 5, 6, 7, 8, 16],
            _ => &[],
        };
        for w in positions.iter().filter_map(|&k| op.input(k)) {
            let t = graph.tensor(w);
            if t.f32_data().is_some() && !seen.contains(&w) {
                seen.push(w);
                out.push((i, w));
            }
        }
    }
    out
}

/// The fraction of zeros among all prunable weights of `graph` (0 when it has none).
pub fn sparsity_of(graph: &Graph) -> f64 {
    let (mut zeros, mut total) = (0usize, 0usize);
    for (_, w) in prunable(graph) {
        if let Some(v) = graph.tensor(w).f32_data() {
            zeros += v.iter().filter(|&&x| x == 0.0).count();
            total += v.len();
        }
    }
    if total == 0 {
        0.0
    } else {
        zeros as f64 / total as f64
    }
}

/// The weights [`prune`] would zero: per pruned tensor, its operator and the indices of the
/// weights to set to zero (smallest magnitudes first, ties by position). Fine-tuning uses it
/// to recompute its masks on the current weights at every point of the sparsity schedule.
pub fn plan(
    graph: &Graph,
    sparsity: f32,
    ranking: Ranking,
    skip: &[usize],
) -> Result<Vec<(usize, TensorId, Vec<usize>)>, PruneError> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(PruneError::Sparsity(sparsity));
    }
    let targets: Vec<(usize, TensorId)> = prunable(graph)
        .into_iter()
        .filter(|(op, _)| !skip.contains(op))
        .collect();
    let magnitudes = |w: TensorId| -> Vec<f32> {
        graph
            .tensor(w)
            .f32_data()
            .map(|v| v.iter().map(|x| x.abs()).collect())
            .unwrap_or_default()
    };
    // Ranking groups: global, one of everything; per layer, one per weight tensor, except
    // that an LSTM's four input-to-gate matrices form one group and its four recurrent ones
    // another, as they are one Keras `kernel` and one `recurrent_kernel` that tfmot ranks
    // whole (a gate whose weights are small loses more than half of them; ranked per gate,
    // co2 lost 0.2 ppm more on average over five seeds, docs/quality.md).
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (k, &(op, w)) in targets.iter().enumerate() {
        let key = match ranking {
            Ranking::Global => (0, 0),
            Ranking::PerLayer => (op, lstm_matrix_group(graph, op, w).unwrap_or(k + 3)),
        };
        match keys.iter().position(|&g| g == key) {
            Some(g) => groups[g].push(k),
            None => {
                keys.push(key);
                groups.push(vec![k]);
            }
        }
    }
    let mut zeroed: Vec<Vec<usize>> = vec![Vec::new(); targets.len()];
    for group in &groups {
        let mut all: Vec<(f32, usize, usize)> = Vec::new();
        for &k in group {
            all.extend(
                magnitudes(targets[k].1)
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| (m, k, i)),
            );
        }
        let n = (f64::from(sparsity) * all.len() as f64).round() as usize;
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        for &(_, k, i) in &all[..n] {
            zeroed[k].push(i);
        }
    }
    Ok(targets
        .iter()
        .zip(zeroed)
        .map(|(&(op, w), mut z)| {
            z.sort_unstable();
            (op, w, z)
        })
        .collect())
}

/// Which of an LSTM's weight groups `w` is: 0 for the input-to-gate matrices (inputs 1-4),
/// 1 for the recurrent ones (5-8), 2 for the projection; `None` outside an LSTM.
fn lstm_matrix_group(graph: &Graph, op: usize, w: TensorId) -> Option<usize> {
    let op = &graph.ops[op];
    if !matches!(op.kind, OpKind::UnidirectionalSequenceLstm(_)) {
        return None;
    }
    let position = (1..=16).find(|&k| op.input(k) == Some(w))?;
    Some(match position {
        1..=4 => 0,
        5..=8 => 1,
        _ => 2,
    })
}

/// Sets the fraction `sparsity` of the prunable weights to zero, skipping the operators
/// whose index is in `skip`. Returns each pruned tensor's sparsity.
pub fn prune(
    graph: &mut Graph,
    sparsity: f32,
    ranking: Ranking,
    skip: &[usize],
) -> Result<Vec<LayerSparsity>, PruneError> {
    let plan = plan(graph, sparsity, ranking, skip)?;
    let mut report = Vec::new();
    for (op, w, zeroed) in plan {
        let op_name = graph.ops[op].name();
        let tensor = graph.tensor_mut(w);
        if let Some(ConstData::F32(values)) = tensor.data.as_mut() {
            for i in zeroed {
                values[i] = 0.0;
            }
        }
        report.push(layer_sparsity(graph, op, w, op_name));
    }
    Ok(report)
}

/// The sparsity of every prunable tensor of `graph` as it is (after fine-tuning with masks,
/// for the report), skipping the operators in `skip`.
pub fn report(graph: &Graph, skip: &[usize]) -> Vec<LayerSparsity> {
    prunable(graph)
        .into_iter()
        .filter(|(op, _)| !skip.contains(op))
        .map(|(op, w)| layer_sparsity(graph, op, w, graph.ops[op].name()))
        .collect()
}

fn layer_sparsity(graph: &Graph, op: usize, w: TensorId, op_name: &'static str) -> LayerSparsity {
    let t = graph.tensor(w);
    let values = t.f32_data().unwrap_or(&[]);
    LayerSparsity {
        op,
        op_name,
        tensor: t.name.clone(),
        weights: values.len(),
        zeros: values.iter().filter(|&&x| x == 0.0).count(),
    }
}

/// The operators whose weights `names` designate: each name is a weight tensor's name, or an
/// operator index. Unknown names are an error that lists the prunable tensors.
pub fn skip_list(graph: &Graph, names: &[String]) -> Result<Vec<usize>, PruneError> {
    let targets = prunable(graph);
    let mut skip = Vec::new();
    for name in names {
        let found: Vec<usize> = targets
            .iter()
            .filter(|&&(op, w)| graph.tensor(w).name == *name || op.to_string() == *name)
            .map(|&(op, _)| op)
            .collect();
        if found.is_empty() {
            return Err(PruneError::UnknownLayer {
                name: name.clone(),
                known: targets
                    .iter()
                    .map(|&(op, w)| format!("{op} ({})", graph.tensor(w).name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        skip.extend(found);
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, FullyConnectedOptions, Op, Tensor};

    fn two_layers() -> Graph {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 2]));
        let w1 = g.add_tensor(Tensor::constant(
            "w1",
            vec![2, 2],
            ConstData::F32(vec![0.1, -0.4, 0.3, -0.2]),
        ));
        let h = g.add_tensor(Tensor::activation("h", DType::F32, vec![1, 2]));
        let w2 = g.add_tensor(Tensor::constant(
            "w2",
            vec![2, 2],
            ConstData::F32(vec![5.0, -6.0, 7.0, 0.05]),
        ));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 2]));
        let fc = || OpKind::FullyConnected(FullyConnectedOptions::default());
        g.add_op(Op::new(fc(), [x, w1], [h]));
        g.add_op(Op::new(fc(), [h, w2], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    fn weights(g: &Graph, name: &str) -> Vec<f32> {
        let t = g.tensors.iter().find(|t| t.name == name).unwrap();
        t.data.as_ref().unwrap().as_f32().unwrap().to_vec()
    }

    #[test]
    fn per_layer_prunes_the_same_fraction_of_each_tensor() {
        let mut g = two_layers();
        let r = prune(&mut g, 0.5, Ranking::PerLayer, &[]).unwrap();
        assert_eq!(weights(&g, "w1"), vec![0.0, -0.4, 0.3, 0.0]);
        assert_eq!(weights(&g, "w2"), vec![0.0, -6.0, 7.0, 0.0]);
        assert_eq!(r.iter().map(|l| l.zeros).collect::<Vec<_>>(), vec![2, 2]);
    }

    #[test]
    fn global_ranking_takes_the_smallest_anywhere() {
        let mut g = two_layers();
        let r = prune(&mut g, 0.5, Ranking::Global, &[]).unwrap();
        assert_eq!(weights(&g, "w1"), vec![0.0, -0.4, 0.0, 0.0]);
        assert_eq!(weights(&g, "w2"), vec![5.0, -6.0, 7.0, 0.0]);
        assert_eq!(r[0].sparsity(), 0.75);
    }

    #[test]
    fn skipped_layers_and_bad_sparsity() {
        let mut g = two_layers();
        prune(&mut g, 0.5, Ranking::PerLayer, &[1]).unwrap();
        assert_eq!(weights(&g, "w2"), vec![5.0, -6.0, 7.0, 0.05]);
        assert_eq!(
            prune(&mut g, 1.0, Ranking::PerLayer, &[]),
            Err(PruneError::Sparsity(1.0))
        );
    }
}

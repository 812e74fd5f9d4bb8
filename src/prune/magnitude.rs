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
//! threshold over all of them, so layers with many small weights lose more), or per layer in
//! 1x4 blocks of FULLY_CONNECTED weights and CONV_2D filters ([`Ranking::Blocks1x4`], for the
//! faster block kernels). Ties are broken by position, so the result is deterministic.

use super::PruneError;
use crate::ir::{ConstData, Graph, OpKind, TensorId};

/// How weights are ranked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ranking {
    /// Each tensor (an LSTM's input-to-gate or recurrent matrices together) loses the same
    /// fraction of its weights.
    #[default]
    PerLayer,
    /// One threshold over all prunable weights.
    Global,
    /// As `PerLayer`, but FULLY_CONNECTED weights and CONV_2D filters are ranked and zeroed in
    /// 1x4 blocks: the 4 consecutive input columns of one output row (a CONV_2D filter's row
    /// is one output channel's `h * w * in_c` weights in im2col order) that tflm-rs's block
    /// encoding stores as one word (`tflm_runtime::block_sparse`), scored by their mean
    /// magnitude (tfmot's default `block_pooling_type='AVG'`; a partial last block of a row
    /// by the mean of its columns). Other layers are pruned weight by weight.
    Blocks1x4,
}

impl Ranking {
    /// The row length in which tensor `w` of operator `op` is ranked in 1x4 blocks, if it
    /// is: FULLY_CONNECTED weights `[rows, depth]`, CONV_2D filters `[out_c, h, w, in_c]` as
    /// rows of `h * w * in_c` (the im2col order the block kernel reads) when `in_c` is a
    /// multiple of 4, so that a block is 4 input channels of one tap. A block across taps
    /// (digits' first layer, 3x3 over one channel) zeroes whole parts of the spatial kernel:
    /// with it, block-pruned digits lost 5 to 6 points of accuracy (docs/quality.md).
    fn block_depth(self, graph: &Graph, op: usize, w: TensorId) -> Option<usize> {
        let shape = &graph.tensor(w).shape;
        let blocks = match graph.ops[op].kind {
            OpKind::FullyConnected(_) => shape.len() == 2,
            OpKind::Conv2d(_) => shape.len() == 4 && shape[3].is_multiple_of(BLOCK),
            _ => false,
        };
        (self == Ranking::Blocks1x4 && blocks).then(|| shape[1..].iter().product())
    }
}

/// Columns of a 1x4 block.
const BLOCK: usize = 4;

/// The block shape of block pruning (`prune_block = "1x4"`, `--prune-block 1x4`): 1 output row
/// by 4 consecutive input columns of FULLY_CONNECTED weights ([`Ranking::Blocks1x4`]), the
/// shape tflm-rs's block kernel multiplies as one word. The only one so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PruneBlock {
    OneByFour,
}

impl PruneBlock {
    pub fn as_str(self) -> &'static str {
        "1x4"
    }
}

impl std::fmt::Display for PruneBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PruneBlock {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1x4" => Ok(PruneBlock::OneByFour),
            _ => Err(format!(
                "prune_block must be \"1x4\" (4 consecutive input columns of one output row), got {s:?}"
            )),
        }
    }
}

/// The ranking units of a weight tensor: `(score, first index, length)`, single weights by
/// magnitude, or 1x4 blocks (row-major `[rows, depth]`, cut at each row's end) by their mean
/// magnitude.
fn units(values: &[f32], depth: Option<usize>) -> Vec<(f32, usize, usize)> {
    match depth {
        Some(depth) if depth > 0 => values
            .chunks(depth)
            .enumerate()
            .flat_map(|(r, row)| {
                row.chunks(BLOCK).enumerate().map(move |(j, b)| {
                    let mean = b.iter().map(|x| x.abs()).sum::<f32>() / b.len() as f32;
                    (mean, r * depth + j * BLOCK, b.len())
                })
            })
            .collect(),
        _ => values
            .iter()
            .enumerate()
            .map(|(i, x)| (x.abs(), i, 1))
            .collect(),
    }
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

/// `op 3 (CONV_2D) w: 66/128 zero (51.6%)`, the line the command line prints per layer.
impl std::fmt::Display for LayerSparsity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "op {} ({}) {}: {}/{} zero ({:.1}%)",
            self.op,
            self.op_name,
            self.tensor,
            self.zeros,
            self.weights,
            100.0 * self.sparsity()
        )
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
    let units_of = |op: usize, w: TensorId| -> Vec<(f32, usize, usize)> {
        let t = graph.tensor(w);
        let depth = ranking.block_depth(graph, op, w);
        units(t.f32_data().unwrap_or_default(), depth)
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
            Ranking::PerLayer | Ranking::Blocks1x4 => {
                (op, lstm_matrix_group(graph, op, w).unwrap_or(k + 3))
            }
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
        // (score, tensor, first index, length): single weights or 1x4 blocks.
        let mut all: Vec<(f32, usize, usize, usize)> = Vec::new();
        for &k in group {
            let (op, w) = targets[k];
            all.extend(
                units_of(op, w)
                    .into_iter()
                    .map(|(m, i, len)| (m, k, i, len)),
            );
        }
        let weights: usize = all.iter().map(|u| u.3).sum();
        let n = (f64::from(sparsity) * weights as f64).round() as usize;
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        // Smallest units first until `n` weights are zeroed (a block may overshoot by 3).
        let mut done = 0;
        for &(_, k, i, len) in &all {
            if done >= n {
                break;
            }
            zeroed[k].extend(i..i + len);
            done += len;
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

    /// 1x4 blocks of FULLY_CONNECTED weights ranked by mean magnitude: whole blocks zeroed,
    /// a partial last block ranked by the mean of its columns.
    #[test]
    fn blocks_of_four_columns_by_mean_magnitude() {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 6]));
        #[rustfmt::skip]
        let w = g.add_tensor(Tensor::constant("w", vec![2, 6], ConstData::F32(vec![
            // blocks: [0.1 -0.1 0.1 5.0] mean 1.325, [0.2 0.2] mean 0.2
            0.1, -0.1, 0.1, 5.0, 0.2, 0.2,
            // blocks: [1 1 1 1] mean 1, [-0.9 0.3] mean 0.6
            1.0, 1.0, 1.0, 1.0, -0.9, 0.3,
        ])));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 2]));
        let fc = OpKind::FullyConnected(FullyConnectedOptions::default());
        g.add_op(Op::new(fc, [x, w], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        // 50% of 12 weights: the 2-column blocks (0.2, 0.6) then the 1.0 block (8 zeroed,
        // the first unit past 6).
        let r = prune(&mut g, 0.5, Ranking::Blocks1x4, &[]).unwrap();
        assert_eq!(
            weights(&g, "w"),
            vec![0.1, -0.1, 0.1, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(r[0].zeros, 8);
        // Weight by weight, the same graph keeps the 1.0s and 5.0 instead.
        let mut g2 = two_layers();
        prune(&mut g2, 0.5, Ranking::Blocks1x4, &[]).unwrap();
        // [2, 2] rows are one partial block each: the smaller-mean row goes.
        assert_eq!(weights(&g2, "w1"), vec![0.0, 0.0, 0.3, -0.2]);
        assert_eq!(weights(&g2, "w2"), vec![5.0, -6.0, 0.0, 0.0]);
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

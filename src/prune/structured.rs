//! Structured pruning: whole units removed, and every layer that reads them rewired, so the
//! model is physically smaller and faster with the ordinary dense kernels.
//!
//! - `neurons`: the output units of FULLY_CONNECTED layers (rows of `[units, depth]` and their
//!   bias entries) and the cell units of UNIDIRECTIONAL_SEQUENCE_LSTM layers without
//!   projection (the unit's row in each gate's input and recurrent weights, its bias, peephole
//!   and layer-norm entries, its recurrent column, its entry in both states).
//! - `channels`: the output channels of CONV_2D (OHWI filters: the first axis).
//!
//! A unit's importance is the L2 norm of everything that computes it (its weight rows and
//! bias entries) times the L2 norm of the weights that read it (the next layers' columns; the
//! depthwise channels in between); each layer loses `round(s · units)` units (at most `units - 1`), the least
//! important first, ties by index, so the result is deterministic. Ranking is per layer only:
//! layers have units of very different sizes, and one global threshold would empty some.
//!
//! Removed units are followed along the unit axis (always the last: NHWC channels, features)
//! through element-wise activations, pooling, PAD and MEAN over other axes, SQUEEZE and
//! STRIDED_SLICE that keep the unit axis whole, DEPTHWISE_CONV_2D (input channel `c` takes its
//! `depth_multiplier` output channels with it) and a RESHAPE that flattens trailing axes (NHWC
//! flatten: channel `c` is every column `i` with `i % C == c`), down to the layers that read
//! them, whose input columns are deleted: FULLY_CONNECTED, CONV_2D (input channels) and the
//! LSTM's input weights. A layer keeps all its units, and the report says why, when they
//! reach a graph output or an operator whose result would change: ADD, MUL, CONCATENATION,
//! SOFTMAX over the units, MEAN over the unit axis (the divisor changes), TRANSPOSE, ...
//!
//! [`masks`] zeroes instead of deleting: the removed units' rows and the columns that read
//! them. A graph with those zeros computes exactly what the pruned graph computes (the
//! property `tests/structured_prune.rs` checks), which is why fine-tuning can prune gradually
//! with these masks and remove the units physically at the end.

use super::PruneError;
use crate::ir::{ConstData, Graph, OpKind, TensorId};
use std::fmt;
use std::str::FromStr;

/// Which units structured pruning removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Structure {
    /// FULLY_CONNECTED output units and LSTM cell units.
    Neurons,
    /// CONV_2D output channels.
    Channels,
}

impl Structure {
    /// The operators whose units this structure removes, for messages.
    pub fn layers(self) -> &'static str {
        match self {
            Structure::Neurons => "FULLY_CONNECTED or UNIDIRECTIONAL_SEQUENCE_LSTM",
            Structure::Channels => "CONV_2D",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Structure::Neurons => "neurons",
            Structure::Channels => "channels",
        }
    }
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Structure {
    type Err = String;
    fn from_str(s: &str) -> Result<Structure, String> {
        match s {
            "neurons" => Ok(Structure::Neurons),
            "channels" => Ok(Structure::Channels),
            _ => Err(format!(
                "prune_structure must be \"neurons\" or \"channels\", got {s:?}"
            )),
        }
    }
}

/// What structured pruning did to one layer, or why it left it whole.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerUnits {
    pub op: usize,
    pub op_name: &'static str,
    /// The layer's weight tensor (its first, for an LSTM).
    pub tensor: String,
    pub units: usize,
    pub removed: usize,
    /// Why the layer keeps all its units: `prune_skip`, or what cannot be rewired.
    pub kept_because: Option<String>,
}

/// The units one layer loses and every change that removing them implies.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    pub op: usize,
    /// The removed units' indices, ascending.
    pub removed: Vec<usize>,
    edits: Vec<Edit>,
}

#[derive(Clone, Debug, PartialEq)]
enum Edit {
    /// Entries of a float constant along `axis` where `keep` is false.
    Weights {
        tensor: TensorId,
        axis: usize,
        keep: Vec<bool>,
    },
    /// The last axis of an activation or a state variable.
    Shape { tensor: TensorId, keep: Vec<bool> },
    /// Element `index` of an integer constant (RESHAPE's target, STRIDED_SLICE's end).
    Index {
        tensor: TensorId,
        index: usize,
        value: i64,
    },
    /// The last entry of RESHAPE's `new_shape` option.
    ReshapeOption { op: usize, value: i32 },
}

/// A layer whose units can be removed: what computes each unit, and where they go.
struct Layer {
    units: usize,
    weight: TensorId,
    /// Constants indexed by unit along an axis (rows, biases, ...).
    rows: Vec<(TensorId, usize)>,
    /// Constants that read the layer's own units along an axis (LSTM recurrent columns).
    columns: Vec<(TensorId, usize)>,
    /// State variables whose last axis is the units.
    states: Vec<TensorId>,
    output: TensorId,
}

fn float_weights(graph: &Graph, id: Option<TensorId>) -> Option<TensorId> {
    id.filter(|&w| graph.tensor(w).f32_data().is_some())
}

/// The layer operator `i` is for `structure`, `None` when it is not a candidate at all,
/// `Some(Err(why))` when it is one that cannot lose units.
fn layer(graph: &Graph, i: usize, structure: Structure) -> Option<Result<Layer, String>> {
    let op = &graph.ops[i];
    let simple = |weight: TensorId| Layer {
        units: graph.tensor(weight).shape[0],
        weight,
        rows: std::iter::once(weight)
            .chain(op.input(2))
            .map(|t| (t, 0))
            .collect(),
        columns: Vec::new(),
        states: Vec::new(),
        output: op.outputs[0],
    };
    match (&op.kind, structure) {
        (OpKind::FullyConnected(_), Structure::Neurons)
        | (OpKind::Conv2d(_), Structure::Channels) => {
            float_weights(graph, op.input(1)).map(|w| Ok(simple(w)))
        }
        (OpKind::UnidirectionalSequenceLstm(_), Structure::Neurons) => {
            let weight = float_weights(graph, (1..=4).find_map(|k| op.input(k)))?;
            if op.input(16).is_some() {
                return Some(Err(
                    "it has a projection: its outputs are not its cell units".into(),
                ));
            }
            let present = |ks: &[usize]| -> Vec<TensorId> {
                ks.iter().filter_map(|&k| op.input(k)).collect()
            };
            let rows = present(&[
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23,
            ]);
            Some(Ok(Layer {
                units: graph.tensor(weight).shape[0],
                weight,
                rows: rows.into_iter().map(|t| (t, 0)).collect(),
                columns: present(&[5, 6, 7, 8]).into_iter().map(|t| (t, 1)).collect(),
                states: present(&[18, 19]),
                output: op.outputs[0],
            }))
        }
        _ => None,
    }
}

/// The index along `axis` of the element at flat position `flat` of a row-major `shape`.
fn axis_index(shape: &[usize], axis: usize, flat: usize) -> usize {
    let stride: usize = shape[axis + 1..].iter().product();
    (flat / stride) % shape[axis]
}

fn ints(graph: &Graph, id: Option<TensorId>) -> Option<Vec<i64>> {
    id.and_then(|t| graph.tensor(t).data.as_ref())
        .and_then(ConstData::to_indices)
}

/// `id` read by operator `op` only (so editing it changes nothing else).
fn owned(graph: &Graph, id: TensorId, op: usize) -> Result<(), String> {
    if graph.consumers(id) == [op] {
        Ok(())
    } else {
        Err(format!(
            "{:?} is shared with other operators",
            graph.tensor(id).name
        ))
    }
}

/// Follows the units of `t` (its last axis; `keep[u]` false for removed ones) to every
/// operator that reads them, collecting the edits; `Err` names what cannot be rewired.
fn follow(graph: &Graph, t: TensorId, keep: &[bool], edits: &mut Vec<Edit>) -> Result<(), String> {
    let tensor = graph.tensor(t);
    if graph.outputs.contains(&t) {
        return Err(format!("{:?} is a graph output", tensor.name));
    }
    if tensor.shape.last() != Some(&keep.len()) {
        return Err(format!(
            "{:?} has shape {:?}, not {} units on its last axis",
            tensor.name,
            tensor.shape,
            keep.len()
        ));
    }
    let last = tensor.shape.len() - 1;
    let count = keep.iter().filter(|&&k| k).count();
    edits.push(Edit::Shape {
        tensor: t,
        keep: keep.to_vec(),
    });
    for c in graph.consumers(t) {
        let op = &graph.ops[c];
        let name = format!("operator {c} ({})", op.name());
        if op.input(0) != Some(t) || op.inputs.iter().skip(1).any(|&i| i == Some(t)) {
            return Err(format!(
                "{name} reads {:?} as more than its data",
                tensor.name
            ));
        }
        let out = op.outputs[0];
        let columns = |k: usize, axis: usize, edits: &mut Vec<Edit>| -> Result<(), String> {
            let w = float_weights(graph, op.input(k))
                .ok_or_else(|| format!("{name}: input {k} is not float weights"))?;
            owned(graph, w, c)?;
            if graph.tensor(w).shape[axis] != keep.len() {
                return Err(format!(
                    "{name} reads {} values per unit axis through weights {:?} of shape {:?}",
                    keep.len(),
                    graph.tensor(w).name,
                    graph.tensor(w).shape
                ));
            }
            edits.push(Edit::Weights {
                tensor: w,
                axis,
                keep: keep.to_vec(),
            });
            Ok(())
        };
        match &op.kind {
            OpKind::Relu
            | OpKind::Relu6
            | OpKind::ReluN1To1
            | OpKind::Tanh
            | OpKind::Logistic
            | OpKind::LeakyRelu(_)
            | OpKind::HardSwish
            | OpKind::AveragePool2d(_)
            | OpKind::MaxPool2d(_) => follow(graph, out, keep, edits)?,
            OpKind::Pad | OpKind::PadV2 => {
                let pads = ints(graph, op.input(1)).unwrap_or_default();
                if pads.get(2 * last..2 * last + 2) != Some(&[0, 0]) {
                    return Err(format!("{name} pads the unit axis"));
                }
                follow(graph, out, keep, edits)?
            }
            OpKind::Mean(_) => {
                let axes = ints(graph, op.input(1)).unwrap_or_default();
                if axes
                    .iter()
                    .any(|&a| a.rem_euclid(last as i64 + 1) == last as i64)
                {
                    return Err(format!(
                        "{name} averages over the units (removing some changes the mean)"
                    ));
                }
                follow(graph, out, keep, edits)?
            }
            OpKind::Squeeze(o) => {
                let squeezes_units = if o.squeeze_dims.is_empty() {
                    keep.len() == 1
                } else {
                    o.squeeze_dims
                        .iter()
                        .any(|&d| i64::from(d).rem_euclid(last as i64 + 1) == last as i64)
                };
                if squeezes_units {
                    return Err(format!("{name} squeezes the unit axis"));
                }
                follow(graph, out, keep, edits)?
            }
            OpKind::StridedSlice(o) => {
                let bit = 1 << last;
                let (begin, end, strides) = (
                    ints(graph, op.input(1)).unwrap_or_default(),
                    ints(graph, op.input(2)).unwrap_or_default(),
                    ints(graph, op.input(3)).unwrap_or_default(),
                );
                let whole = o.shrink_axis_mask & bit == 0
                    && o.ellipsis_mask == 0
                    && o.new_axis_mask == 0
                    && !o.offset
                    && strides.get(last) == Some(&1)
                    && (o.begin_mask & bit != 0 || begin.get(last) == Some(&0))
                    && (o.end_mask & bit != 0
                        || end.get(last).is_some_and(|&e| e >= keep.len() as i64));
                if !whole {
                    return Err(format!("{name} does not keep the unit axis whole"));
                }
                if o.end_mask & bit == 0 && end[last] == keep.len() as i64 {
                    let e = op.input(2).expect("end was read above");
                    owned(graph, e, c)?;
                    edits.push(Edit::Index {
                        tensor: e,
                        index: last,
                        value: count as i64,
                    });
                }
                follow(graph, out, keep, edits)?
            }
            OpKind::Reshape(o) => {
                let (from, to) = (&tensor.shape, &graph.tensor(out).shape);
                let flat = to.last().copied().unwrap_or(0);
                let lead: usize = to[..to.len().saturating_sub(1)].iter().product();
                let merges = (0..from.len()).any(|k| {
                    from[..k].iter().product::<usize>() == lead
                        && from[k..].iter().product::<usize>() == flat
                });
                if to.is_empty() || !merges {
                    return Err(format!("{name} moves the unit axis"));
                }
                let flat_keep: Vec<bool> = (0..flat).map(|i| keep[i % keep.len()]).collect();
                let new_last = flat_keep.iter().filter(|&&k| k).count();
                if let Some(s) = op.input(1) {
                    let target = ints(graph, Some(s)).unwrap_or_default();
                    if target.last().is_some_and(|&v| v != -1) {
                        owned(graph, s, c)?;
                        edits.push(Edit::Index {
                            tensor: s,
                            index: target.len() - 1,
                            value: new_last as i64,
                        });
                    }
                }
                if o.new_shape
                    .as_ref()
                    .and_then(|s| s.last())
                    .is_some_and(|&v| v != -1)
                {
                    edits.push(Edit::ReshapeOption {
                        op: c,
                        value: new_last as i32,
                    });
                }
                follow(graph, out, &flat_keep, edits)?
            }
            OpKind::FullyConnected(_) => columns(1, 1, edits)?,
            OpKind::Conv2d(_) => columns(1, 3, edits)?,
            OpKind::UnidirectionalSequenceLstm(_) => {
                for k in (1..=4).filter(|&k| op.input(k).is_some()) {
                    columns(k, 1, edits)?;
                }
            }
            OpKind::DepthwiseConv2d(_) => {
                let w = float_weights(graph, op.input(1))
                    .ok_or_else(|| format!("{name}: the filter is not float weights"))?;
                let out_c = graph.tensor(w).shape[3];
                if !out_c.is_multiple_of(keep.len()) {
                    return Err(format!(
                        "{name} has {out_c} channels for {} inputs",
                        keep.len()
                    ));
                }
                // Output channel `o` is input channel `o / depth_multiplier`'s.
                let multiplier = out_c / keep.len();
                let spread: Vec<bool> = (0..out_c).map(|o| keep[o / multiplier]).collect();
                for (k, axis) in [(1, 3), (2, 0)] {
                    if let Some(id) = float_weights(graph, op.input(k)) {
                        owned(graph, id, c)?;
                        edits.push(Edit::Weights {
                            tensor: id,
                            axis,
                            keep: spread.clone(),
                        });
                    }
                }
                follow(graph, out, &spread, edits)?
            }
            _ => {
                return Err(format!(
                    "{name} reads {:?} and cannot be rewired",
                    tensor.name
                ))
            }
        }
    }
    Ok(())
}

/// The unit removals of `structure` at `sparsity`, and a report line for every candidate
/// layer (operators in `skip` keep their units).
pub fn plan(
    graph: &Graph,
    structure: Structure,
    sparsity: f32,
    skip: &[usize],
) -> Result<(Vec<LayerPlan>, Vec<LayerUnits>), PruneError> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(PruneError::Sparsity(sparsity));
    }
    let mut plans = Vec::new();
    let mut report = Vec::new();
    for i in 0..graph.ops.len() {
        let Some(found) = layer(graph, i, structure) else {
            continue;
        };
        let op_name = graph.ops[i].name();
        let weight_name = |w: TensorId| graph.tensor(w).name.clone();
        let mut line = LayerUnits {
            op: i,
            op_name,
            tensor: String::new(),
            units: 0,
            removed: 0,
            kept_because: None,
        };
        let l = match found {
            Ok(l) => l,
            Err(why) => {
                line.tensor = graph.ops[i].input(1).map(weight_name).unwrap_or_default();
                line.kept_because = Some(why);
                report.push(line);
                continue;
            }
        };
        line.tensor = weight_name(l.weight);
        line.units = l.units;
        let n = ((f64::from(sparsity) * l.units as f64).round() as usize).min(l.units - 1);
        if skip.contains(&i) {
            line.kept_because = Some("prune_skip".into());
            report.push(line);
            continue;
        }
        // Rewired even when nothing is removed, so the report says why a layer cannot be.
        let removed = least_important(graph, &l, n);
        let keep: Vec<bool> = (0..l.units).map(|u| !removed.contains(&u)).collect();
        let mut edits = Vec::new();
        let rewired = (|| {
            for &(w, axis) in &l.rows {
                owned(graph, w, i)?;
                edits.push(Edit::Weights {
                    tensor: w,
                    axis,
                    keep: keep.clone(),
                });
            }
            for &(w, axis) in &l.columns {
                edits.push(Edit::Weights {
                    tensor: w,
                    axis,
                    keep: keep.clone(),
                });
            }
            for &s in &l.states {
                edits.push(Edit::Shape {
                    tensor: s,
                    keep: keep.clone(),
                });
            }
            follow(graph, l.output, &keep, &mut edits)
        })();
        match rewired {
            Ok(()) if removed.is_empty() => {}
            Ok(()) => {
                line.removed = removed.len();
                plans.push(LayerPlan {
                    op: i,
                    removed,
                    edits,
                });
            }
            Err(why) => line.kept_because = Some(why),
        }
        report.push(line);
    }
    if report.is_empty() {
        return Err(PruneError::NoUnits(structure.as_str(), structure.layers()));
    }
    Ok((plans, report))
}

/// Per unit of `l`, the sum of squares of the weights that read it (1 each when its readers
/// cannot be rewired: the layer keeps its units anyway).
fn outgoing(graph: &Graph, l: &Layer) -> Vec<f64> {
    (0..l.units)
        .map(|u| {
            let keep: Vec<bool> = (0..l.units).map(|k| k != u).collect();
            let mut edits = Vec::new();
            if follow(graph, l.output, &keep, &mut edits).is_err() {
                return 1.0;
            }
            // An LSTM's own recurrent columns read its units too.
            edits.extend(l.columns.iter().map(|&(tensor, axis)| Edit::Weights {
                tensor,
                axis,
                keep: keep.clone(),
            }));
            let mut sum = 0f64;
            for e in &edits {
                if let Edit::Weights { tensor, axis, keep } = e {
                    let t = graph.tensor(*tensor);
                    let values = t.f32_data().unwrap_or(&[]);
                    for (flat, &v) in values.iter().enumerate() {
                        if !keep[axis_index(&t.shape, *axis, flat)] {
                            sum += f64::from(v) * f64::from(v);
                        }
                    }
                }
            }
            sum
        })
        .collect()
}

/// The `n` units of `l` of least importance, ascending by index: the L2 norm of the weights
/// computing a unit times that of the weights reading it (a unit whose readers ignore it
/// matters as little as one that computes nothing), ties by index.
fn least_important(graph: &Graph, l: &Layer, n: usize) -> Vec<usize> {
    let mut norms = vec![0f64; l.units];
    for &(w, axis) in &l.rows {
        let t = graph.tensor(w);
        let values = t.f32_data().unwrap_or(&[]);
        for (flat, &v) in values.iter().enumerate() {
            norms[axis_index(&t.shape, axis, flat)] += f64::from(v) * f64::from(v);
        }
    }
    for (norm, out) in norms.iter_mut().zip(outgoing(graph, l)) {
        *norm *= out;
    }
    let mut order: Vec<usize> = (0..l.units).collect();
    order.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
    let mut removed = order[..n].to_vec();
    removed.sort_unstable();
    removed
}

/// Removes the planned units from `graph` and checks the result with the IR validator.
pub fn apply(graph: &mut Graph, plans: &[LayerPlan]) -> Result<(), PruneError> {
    for p in plans {
        let name = graph.ops[p.op].name();
        let fail = |message: String| PruneError::Rewire {
            op: p.op,
            name,
            message,
        };
        for e in &p.edits {
            match e {
                Edit::Weights { tensor, axis, keep } => {
                    let t = graph.tensor_mut(*tensor);
                    if t.shape[*axis] != keep.len() {
                        let message = format!("{:?}: axis {axis} is not {}", t.name, keep.len());
                        return Err(fail(message));
                    }
                    if let Some(ConstData::F32(v)) = t.data.as_mut() {
                        let shape = t.shape.clone();
                        let mut flat = 0;
                        v.retain(|_| {
                            flat += 1;
                            keep[axis_index(&shape, *axis, flat - 1)]
                        });
                    }
                    t.shape[*axis] = keep.iter().filter(|&&k| k).count();
                }
                Edit::Shape { tensor, keep } => {
                    let t = graph.tensor_mut(*tensor);
                    if let Some(d) = t.shape.last_mut() {
                        *d = keep.iter().filter(|&&k| k).count();
                    }
                }
                Edit::Index {
                    tensor,
                    index,
                    value,
                } => match graph.tensor_mut(*tensor).data.as_mut() {
                    Some(ConstData::I32(v)) => v[*index] = *value as i32,
                    Some(ConstData::I64(v)) => v[*index] = *value,
                    _ => return Err(fail("an index constant is not int32 or int64".into())),
                },
                Edit::ReshapeOption { op, value } => {
                    if let OpKind::Reshape(o) = &mut graph.ops[*op].kind {
                        if let Some(last) = o.new_shape.as_mut().and_then(|s| s.last_mut()) {
                            *last = *value;
                        }
                    }
                }
            }
        }
    }
    graph
        .validate()
        .map_err(|e| PruneError::Invalid(e.to_string()))
}

/// For every constant the plans touch, a mask over its elements (1 keeps, 0 is a removed
/// unit's weight or a weight reading one): the same model as [`apply`]'s, at full size.
pub fn masks(graph: &Graph, plans: &[LayerPlan]) -> Vec<(TensorId, Vec<f32>)> {
    let mut out: Vec<(TensorId, Vec<f32>)> = Vec::new();
    for e in plans.iter().flat_map(|p| &p.edits) {
        let Edit::Weights { tensor, axis, keep } = e else {
            continue;
        };
        let shape = &graph.tensor(*tensor).shape;
        let at = match out.iter().position(|(t, _)| t == tensor) {
            Some(at) => at,
            None => {
                out.push((*tensor, vec![1.0; shape.iter().product()]));
                out.len() - 1
            }
        };
        for (flat, m) in out[at].1.iter_mut().enumerate() {
            if !keep[axis_index(shape, *axis, flat)] {
                *m = 0.0;
            }
        }
    }
    out
}

/// Sets the weights [`masks`] masks to zero, keeping every shape: the full-size equivalent
/// of the pruned model.
pub fn zero(graph: &mut Graph, plans: &[LayerPlan]) {
    for (id, mask) in masks(graph, plans) {
        if let Some(ConstData::F32(v)) = graph.tensor_mut(id).data.as_mut() {
            v.iter_mut().zip(&mask).for_each(|(x, m)| *x *= m);
        }
    }
}

/// Removes the fraction `sparsity` of the units of every layer `structure` applies to (except
/// the operators in `skip`) and rewires their readers. Returns a line per candidate layer.
pub fn prune(
    graph: &mut Graph,
    structure: Structure,
    sparsity: f32,
    skip: &[usize],
) -> Result<Vec<LayerUnits>, PruneError> {
    let (plans, report) = plan(graph, structure, sparsity, skip)?;
    apply(graph, &plans)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{AddSubOptions, DType, FullyConnectedOptions, Op, Tensor};

    /// x[1,2] -> FC(4 units) -> h -> RELU -> r -> FC(1) -> y, and `h` optionally also into
    /// an ADD with a second input.
    fn graph(with_add: bool) -> Graph {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 2]));
        // Importance (incoming × outgoing norm): unit 0: 1·1, unit 1: 5·2, unit 2: 1·1 (ties
        // with 0), unit 3: 0.5·0.25.
        let w1 = g.add_tensor(Tensor::constant(
            "w1",
            vec![4, 2],
            ConstData::F32(vec![1.0, 0.0, 3.0, 4.0, 0.0, -1.0, 0.5, 0.0]),
        ));
        let h = g.add_tensor(Tensor::activation("h", DType::F32, vec![1, 4]));
        let r = g.add_tensor(Tensor::activation("r", DType::F32, vec![1, 4]));
        let w2 = g.add_tensor(Tensor::constant(
            "w2",
            vec![1, 4],
            ConstData::F32(vec![1.0, 2.0, 1.0, 0.25]),
        ));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 1]));
        let fc = || OpKind::FullyConnected(FullyConnectedOptions::default());
        g.add_op(Op::new(fc(), [x, w1], [h]));
        g.add_op(Op::new(OpKind::Relu, [h], [r]));
        g.add_op(Op::new(fc(), [r, w2], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        if with_add {
            let other = g.add_tensor(Tensor::activation("other", DType::F32, vec![1, 4]));
            let sum = g.add_tensor(Tensor::activation("sum", DType::F32, vec![1, 4]));
            g.add_op(Op::new(
                OpKind::Add(AddSubOptions::default()),
                [h, other],
                [sum],
            ));
            g.inputs.push(other);
            g.outputs.push(sum);
        }
        g
    }

    fn values(g: &Graph, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = g.tensors.iter().find(|t| t.name == name).unwrap();
        (
            t.shape.clone(),
            t.data.as_ref().unwrap().as_f32().unwrap().to_vec(),
        )
    }

    #[test]
    fn removes_the_weakest_units_ties_by_index_and_rewires_through_relu() {
        let mut g = graph(false);
        let report = prune(&mut g, Structure::Neurons, 0.5, &[]).unwrap();
        assert_eq!((report[0].units, report[0].removed), (4, 2));
        // Units 3 and 0 (before unit 2 by index) go.
        assert_eq!(values(&g, "w1"), (vec![2, 2], vec![3.0, 4.0, 0.0, -1.0]));
        assert_eq!(values(&g, "w2"), (vec![1, 2], vec![2.0, 1.0]));
        assert_eq!(
            g.tensors.iter().find(|t| t.name == "r").unwrap().shape,
            vec![1, 2]
        );
    }

    #[test]
    fn a_layer_read_by_add_keeps_its_units_and_says_why() {
        let mut g = graph(true);
        let before = g.clone();
        let report = prune(&mut g, Structure::Neurons, 0.5, &[]).unwrap();
        assert_eq!(report[0].removed, 0);
        assert_eq!(
            report[0].kept_because.as_deref(),
            Some("operator 3 (ADD) reads \"h\" and cannot be rewired")
        );
        assert_eq!(g, before);
    }
}

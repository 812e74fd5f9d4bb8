//! Dataset examples as training tensors, the loss and the metric.
//!
//! Inputs are normalized as the pipeline feeds the model ([`Example::model_inputs`]);
//! regression targets are normalized with the output's normalization, so the loss is computed
//! in the model's units (what the float model was trained on) and the metric is reported in
//! the original units, as the evaluation does.

use super::net::{batch_tensor, scalar, Net};
use super::TrainError;
use crate::dataset::{Example, Target};
use crate::ir::OpKind;
use crate::specs::{Loss, Metric, Specs};
use candle_core::{DType, Device, Tensor, D};

/// Examples flattened: per input, every example's normalized values; per output, the targets.
pub struct Examples {
    pub len: usize,
    inputs: Vec<Vec<f32>>,
    per_input: Vec<usize>,
    /// Classification: class indices per output. Regression: normalized values per output.
    classes: Vec<Vec<u32>>,
    values: Vec<Vec<f32>>,
    per_output: Vec<usize>,
    /// Raw targets (original units), for the metric.
    raw: Vec<Vec<f32>>,
}

impl Examples {
    pub fn new(specs: &Specs, examples: &[Example]) -> Result<Examples, TrainError> {
        let n_in = specs.inputs.len();
        let n_out = specs.outputs.len();
        let mut e = Examples {
            len: examples.len(),
            inputs: vec![Vec::new(); n_in],
            per_input: specs.inputs.iter().map(|t| t.element_count()).collect(),
            classes: vec![Vec::new(); n_out],
            values: vec![Vec::new(); n_out],
            per_output: specs.outputs.iter().map(|t| t.element_count()).collect(),
            raw: vec![Vec::new(); n_out],
        };
        for ex in examples {
            for (k, v) in ex.model_inputs(specs).into_iter().enumerate() {
                e.inputs[k].extend(v);
            }
            match &ex.target {
                Target::Classes(c) => {
                    for (k, &class) in c.iter().enumerate().take(n_out) {
                        e.classes[k].push(class as u32);
                    }
                }
                Target::Values(v) => {
                    for (k, raw) in v.iter().enumerate().take(n_out) {
                        e.values[k].extend(specs.outputs[k].normalize(raw));
                        e.raw[k].extend_from_slice(raw);
                    }
                }
            }
        }
        if e.len == 0 {
            return Err(TrainError::Data("no training examples".into()));
        }
        Ok(e)
    }

    /// The model inputs of the examples `rows`, one tensor per input.
    pub fn inputs(&self, net: &Net, rows: &[usize]) -> Result<Vec<Tensor>, TrainError> {
        (0..self.inputs.len())
            .map(|k| {
                let per = self.per_input[k];
                let mut v = Vec::with_capacity(rows.len() * per);
                for &r in rows {
                    v.extend_from_slice(&self.inputs[k][r * per..(r + 1) * per]);
                }
                batch_tensor(&net.graph, k, v)
            })
            .collect()
    }

    /// The loss of a batch: summed over the outputs, each the mean over the batch.
    pub fn loss(
        &self,
        net: &Net,
        values: &[Option<Tensor>],
        rows: &[usize],
        loss: Loss,
    ) -> Result<Tensor, TrainError> {
        let mut total: Option<Tensor> = None;
        for (k, &out) in net.graph.outputs.iter().enumerate() {
            let y = values[out.index()]
                .clone()
                .ok_or_else(|| TrainError::Graph("an output was not computed".into()))?;
            let l = match loss {
                Loss::CrossEntropy => {
                    let classes: Vec<u32> = rows.iter().map(|&r| self.classes[k][r]).collect();
                    let target = Tensor::new(classes, &Device::Cpu).map_err(TrainError::candle)?;
                    let log_probs = log_probabilities(net, values, out, &y)?;
                    candle_nn::loss::nll(&log_probs, &target).map_err(TrainError::candle)?
                }
                Loss::Mse | Loss::Mae => {
                    let per = self.per_output[k];
                    let mut t = Vec::with_capacity(rows.len() * per);
                    for &r in rows {
                        t.extend_from_slice(&self.values[k][r * per..(r + 1) * per]);
                    }
                    let t = Tensor::from_vec(t, (rows.len(), per), &Device::Cpu)
                        .map_err(TrainError::candle)?;
                    let d = y
                        .reshape((rows.len(), per))
                        .and_then(|y| y - t)
                        .map_err(TrainError::candle)?;
                    let e = if loss == Loss::Mse { d.sqr() } else { d.abs() };
                    e.and_then(|e| e.mean_all()).map_err(TrainError::candle)?
                }
            };
            total = Some(match total {
                Some(t) => (t + l).map_err(TrainError::candle)?,
                None => l,
            });
        }
        total.ok_or_else(|| TrainError::Graph("the graph has no outputs".into()))
    }

    /// The metric in original units on all examples, with the float forward pass (batches of
    /// 256 to bound memory).
    pub fn metric(&self, net: &Net, specs: &Specs) -> Result<f64, TrainError> {
        let metric = specs.metric();
        let (mut correct, mut abs, mut sq, mut count) = (0usize, 0f64, 0f64, 0usize);
        let rows: Vec<usize> = (0..self.len).collect();
        for chunk in rows.chunks(256) {
            let outputs = net.forward(&self.inputs(net, chunk)?)?;
            for (k, y) in outputs.iter().enumerate() {
                let per = self.per_output[k];
                let y: Vec<f32> = y
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .map_err(TrainError::candle)?;
                for (j, &r) in chunk.iter().enumerate() {
                    let out = &y[j * per..(j + 1) * per];
                    if metric == Metric::Accuracy {
                        let best = crate::runtime::io::argmax(out);
                        correct += usize::from(best == Some(self.classes[k][r] as usize));
                        count += 1;
                    } else {
                        let raw = specs.outputs[k].denormalize(out);
                        for (p, t) in raw.iter().zip(&self.raw[k][r * per..(r + 1) * per]) {
                            let e = p - f64::from(*t);
                            abs += e.abs();
                            sq += e * e;
                            count += 1;
                        }
                    }
                }
            }
        }
        let n = count.max(1) as f64;
        Ok(match metric {
            Metric::Accuracy => correct as f64 / n,
            Metric::Mae => abs / n,
            Metric::Rmse => (sq / n).sqrt(),
        })
    }
}

/// Log-probabilities of a classifier's output `out`: from the logits before a final SOFTMAX
/// when there is one (numerically stable, and the gradient does not vanish on confident
/// mistakes), else the log of the (clamped) probabilities.
fn log_probabilities(
    net: &Net,
    values: &[Option<Tensor>],
    out: crate::ir::TensorId,
    y: &Tensor,
) -> Result<Tensor, TrainError> {
    let softmax = net
        .graph
        .producer(out)
        .map(|i| &net.graph.ops[i])
        .and_then(|op| match &op.kind {
            OpKind::Softmax(o) => op.input(0).map(|x| (x, o.beta)),
            _ => None,
        });
    let batch = y.dims()[0];
    let r = match softmax.and_then(|(x, beta)| values[x.index()].clone().map(|v| (v, beta))) {
        Some((logits, beta)) => logits
            .reshape((batch, ()))
            .and_then(|l| l.affine(f64::from(beta), 0.0))
            .and_then(|l| candle_nn::ops::log_softmax(&l, D::Minus1)),
        None => y
            .reshape((batch, ()))
            .and_then(|p| p.clamp(1e-7f32, 1f32))
            .and_then(|p| p.log()),
    };
    r.map_err(TrainError::candle)
}

/// The mean of per-batch losses, for the progress report.
pub fn mean(losses: &[f32]) -> f32 {
    if losses.is_empty() {
        0.0
    } else {
        losses.iter().sum::<f32>() / losses.len() as f32
    }
}

pub(crate) fn loss_value(t: &Tensor) -> Result<f32, TrainError> {
    scalar(&t.to_dtype(DType::F32).map_err(TrainError::candle)?)
}

//! Quantization-aware training: fake quantization with a straight-through estimator.
//!
//! The forward pass rounds what the int8 model will round, so that training sees (and
//! compensates) the quantization error; the backward pass treats each rounding as the
//! identity (`x + (fq(x) - x).detach()`), as TensorFlow's QAT does. What is rounded follows
//! the int8 mode's scheme exactly (`src/quantize/`):
//!
//! - weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D: int8 symmetric per output
//!   channel (the axis of [`crate::quantize::weight_axis`]), `max|w_c| / 127`;
//! - LSTM input and recurrent weights (and projection): int8 symmetric per tensor;
//! - activations (every operator output and the graph inputs): int8 asymmetric over a range
//!   observed during training, started from the calibrated range ([`RangeObserver`]), or the
//!   kernel's fixed parameters (SOFTMAX, LOGISTIC, TANH);
//! - inside the LSTM, at every time step: the cell state as the int16 kernel holds it
//!   (power-of-two scale from the calibrated range, [`crate::quantize::cell_scale`]) and the
//!   hidden state with the output's int8 parameters (the integer kernel requantizes `h` to the
//!   output's scale before the next step's recurrent product).
//!
//! Biases stay float (int32 with the product scale loses nothing that matters) and so do the
//! LSTM's gate pre-activations (Q3.12 in the kernel, 16 bits).

use super::net::Eval;
use crate::calibrate::{Method, Ranges};
use crate::ir::{Graph, Op, OpKind, TensorId};
use crate::quantize::{affine_params, cell_scale, weight_axis};
use candle_core::{Result, Tensor};

/// How QAT follows an activation's range while the weights move. It matches the calibration
/// method: the conversion after QAT uses the observed ranges instead of calibrating, so they
/// must mean what that calibration's ranges mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeObserver {
    /// The calibrated range widened by every batch's extremes: what `minmax` calibration
    /// measures. A moving average of batch extremes (batches of 64) sits inside the
    /// calibrated range and clips what the int8 model will see: on co2 it cost 0.26 ppm
    /// against post-training int8 (`docs/quality.md`).
    RunningMinMax,
    /// An exponential moving average of each batch's min and max, with this weight on the old
    /// range (TensorFlow's QAT: 0.999): for `percentile` and `mse`, which clip outliers on
    /// purpose.
    MovingAverage(f32),
}

impl RangeObserver {
    /// The observer that matches a calibration method.
    pub fn for_calibration(method: Method) -> RangeObserver {
        match method {
            Method::MinMax => RangeObserver::RunningMinMax,
            Method::Percentile | Method::Mse => RangeObserver::MovingAverage(0.999),
        }
    }
}

/// The observed ranges and fixed parameters of a QAT run.
pub struct FakeQuant {
    /// Per tensor: the moving range of an activation.
    ranges: Vec<Option<(f32, f32)>>,
    /// Per tensor: parameters the kernel fixes (`1/256, -128` after SOFTMAX, ...).
    fixed: Vec<Option<(f32, i32)>>,
    /// Whether batches update the moving ranges (training) or only read them (evaluation).
    pub observe: bool,
    pub observer: RangeObserver,
}

impl FakeQuant {
    /// Starts from the float graph's calibrated `ranges`.
    pub fn new(graph: &Graph, ranges: &Ranges, observer: RangeObserver) -> FakeQuant {
        let n = graph.tensors.len();
        let mut fixed = vec![None; n];
        for op in &graph.ops {
            let params = match op.kind {
                OpKind::Softmax(_) | OpKind::Logistic => Some((1.0 / 256.0, -128)),
                OpKind::Tanh => Some((1.0 / 128.0, 0)),
                _ => None,
            };
            if let Some(p) = params {
                fixed[op.outputs[0].index()] = Some(p);
            }
        }
        FakeQuant {
            ranges: (0..n).map(|i| ranges.get(TensorId(i))).collect(),
            fixed,
            observe: true,
            observer,
        }
    }

    /// The moving ranges, to carry into the conversion.
    pub fn observed(&self) -> impl Iterator<Item = (TensorId, (f32, f32))> + '_ {
        self.ranges
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (TensorId(i), r)))
    }

    /// Fake-quantizes the activation `x` of tensor `id`, updating its range when observing.
    pub fn activation(&mut self, id: TensorId, x: &Tensor) -> Result<Tensor> {
        if let Some((scale, zero_point)) = self.fixed[id.index()] {
            return fake_quant(x, scale, zero_point, -128.0, 127.0);
        }
        if self.observe {
            let lo = x.min_all()?.to_scalar::<f32>()?;
            let hi = x.max_all()?.to_scalar::<f32>()?;
            let r = &mut self.ranges[id.index()];
            *r = Some(match (*r, self.observer) {
                (Some((a, b)), RangeObserver::RunningMinMax) => (a.min(lo), b.max(hi)),
                (Some((a, b)), RangeObserver::MovingAverage(m)) => {
                    (m * a + (1.0 - m) * lo, m * b + (1.0 - m) * hi)
                }
                (None, _) => (lo, hi),
            });
        }
        match self.ranges[id.index()] {
            Some((lo, hi)) => {
                let (scale, zero_point) = affine_params(lo, hi);
                fake_quant(x, scale, zero_point, -128.0, 127.0)
            }
            None => Ok(x.clone()),
        }
    }

    /// Fake-quantizes the weight at input `k` of `op`.
    pub(crate) fn weight(
        &mut self,
        op: &Op,
        k: usize,
        _id: TensorId,
        w: &Tensor,
    ) -> std::result::Result<Tensor, Eval> {
        Ok(match (&op.kind, weight_axis(&op.kind)) {
            (_, Some(Some(axis))) if k == 1 => per_channel(w, axis)?,
            (OpKind::UnidirectionalSequenceLstm(_), _) if (1..=8).contains(&k) || k == 16 => {
                let m = w.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = if m > 0.0 { m / 127.0 } else { 1.0 };
                fake_quant(w, scale, 0, -127.0, 127.0)?
            }
            _ => w.clone(),
        })
    }

    /// The LSTM cell state as the int16 kernel holds it (scale from the calibrated range of
    /// the cell state tensor, input 19).
    pub(crate) fn cell_state(&mut self, op: &Op, c: &Tensor) -> std::result::Result<Tensor, Eval> {
        let Some((lo, hi)) = op.input(19).and_then(|id| self.ranges[id.index()]) else {
            return Ok(c.clone());
        };
        Ok(fake_quant(c, cell_scale(lo, hi), 0, -32768.0, 32767.0)?)
    }

    /// The LSTM hidden state, with the output's int8 parameters.
    pub(crate) fn hidden_state(
        &mut self,
        op: &Op,
        h: &Tensor,
    ) -> std::result::Result<Tensor, Eval> {
        match self.ranges[op.outputs[0].index()] {
            Some((lo, hi)) => {
                let (scale, zero_point) = affine_params(lo, hi);
                Ok(fake_quant(h, scale, zero_point, -128.0, 127.0)?)
            }
            None => Ok(h.clone()),
        }
    }
}

/// `x + (fq(x) - x).detach()`: the rounded value forward, the identity backward.
fn fake_quant(x: &Tensor, scale: f32, zero_point: i32, qmin: f32, qmax: f32) -> Result<Tensor> {
    let (s, z) = (f64::from(scale), f64::from(zero_point));
    let xd = x.detach();
    let q = xd
        .affine(1.0 / s, 0.0)?
        .round()?
        .affine(1.0, z)?
        .clamp(qmin, qmax)?
        .affine(s, -z * s)?;
    x + (q - xd)?.detach()
}

/// Symmetric int8 per channel along `axis`: each channel's `max|w| / 127`.
fn per_channel(w: &Tensor, axis: usize) -> Result<Tensor> {
    let wd = w.detach();
    let mut m = wd.abs()?;
    for d in 0..w.rank() {
        if d != axis {
            m = m.max_keepdim(d)?;
        }
    }
    // A zero channel gets scale 1 (its weights round to 0 either way).
    let zero = m.eq(0f32)?;
    let m = zero.where_cond(&m.ones_like()?.affine(127.0, 0.0)?, &m)?;
    let scale = m.affine(1.0 / 127.0, 0.0)?;
    let q = wd
        .broadcast_div(&scale)?
        .round()?
        .clamp(-127f32, 127f32)?
        .broadcast_mul(&scale)?;
    w + (q - wd)?.detach()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, Tensor as IrTensor};
    use candle_core::Device;

    /// The range after the calibrated `(-1, 1)` sees one batch spanning `(-0.5, 3)`.
    fn after_one_batch(observer: RangeObserver) -> (f32, f32) {
        let mut graph = Graph::new();
        let id = graph.add_tensor(IrTensor::activation("x", DType::F32, vec![4]));
        let mut ranges = Ranges(vec![None]);
        ranges.set(id, (-1.0, 1.0));
        let mut fq = FakeQuant::new(&graph, &ranges, observer);
        let x = Tensor::new(&[-0.5f32, 0.0, 1.0, 3.0], &Device::Cpu).unwrap();
        fq.activation(id, &x).unwrap();
        let range = fq.observed().next().unwrap().1;
        range
    }

    #[test]
    fn running_min_max_only_widens_the_calibrated_range() {
        assert_eq!(after_one_batch(RangeObserver::RunningMinMax), (-1.0, 3.0));
    }

    #[test]
    fn moving_average_moves_each_end_toward_the_batch() {
        let (lo, hi) = after_one_batch(RangeObserver::MovingAverage(0.75));
        assert!((lo - (-0.875)).abs() < 1e-6, "{lo}");
        assert!((hi - 1.5).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn the_observer_follows_the_calibration_method() {
        use RangeObserver::*;
        assert_eq!(
            RangeObserver::for_calibration(Method::MinMax),
            RunningMinMax
        );
        assert_eq!(
            RangeObserver::for_calibration(Method::Percentile),
            MovingAverage(0.999)
        );
        assert_eq!(
            RangeObserver::for_calibration(Method::Mse),
            MovingAverage(0.999)
        );
    }
}

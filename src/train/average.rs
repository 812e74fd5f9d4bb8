//! Weight averaging over the end of a fine-tuning run.
//!
//! With a constant learning rate the weights after the last step are one draw from the cloud
//! that the last minibatches scatter them over: on co2 pruned 50% that draw alone moved the
//! int8 test MAE over 0.5 ppm from seed to seed (`docs/quality.md`), the more so at the
//! higher rate that recovers from pruning in 2 epochs. An exponential moving average of the
//! weights over the steps after the sparsity ramp returns the middle of the cloud instead.
//! Every averaged value is a mean of masked weights, so pruned weights stay exactly zero.

use super::net::Net;
use super::TrainError;
use candle_core::Tensor;

/// How the final weights are taken from the steps of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Averaging {
    /// The weights after the last step.
    #[default]
    Last,
    /// An exponential moving average of the weights after every averaged step, whose time
    /// constant is `span` times the number of averaged steps (0.1: the last tenth of them
    /// weighs about 63%).
    Ema { span: f64 },
}

/// The pruning recipe's averaging: measured on co2 and digits at spans 0.1, 0.2 and 0.3
/// (`docs/quality.md`, session 8), 0.1 was the best or on par on both.
pub const PRUNING_AVERAGING: Averaging = Averaging::Ema { span: 0.1 };

/// The running average of a net's trainable tensors.
pub struct WeightAverage {
    /// The weight of the old average (`None`: no averaging).
    decay: Option<f64>,
    /// The first step (0-based) whose weights enter the average.
    start: usize,
    /// One per [`Net::vars`], in that order; empty until the first averaged step.
    average: Vec<Tensor>,
}

impl WeightAverage {
    /// Averages the weights after steps `start..steps`.
    pub fn new(averaging: Averaging, start: usize, steps: usize) -> WeightAverage {
        let decay = match averaging {
            Averaging::Last => None,
            Averaging::Ema { span } => {
                let averaged = steps.saturating_sub(start) as f64;
                Some(1.0 - 1.0 / (span * averaged).max(1.0))
            }
        };
        WeightAverage {
            decay,
            start,
            average: Vec::new(),
        }
    }

    /// Takes in the weights after `step` (call it after the optimizer step and the masks).
    pub fn observe(&mut self, net: &Net, step: usize) -> Result<(), TrainError> {
        let Some(d) = self.decay.filter(|_| step >= self.start) else {
            return Ok(());
        };
        let vars = net.vars();
        let weights = vars.iter().map(|v| v.as_tensor());
        self.average = if self.average.is_empty() {
            weights.map(|w| w.copy()).collect::<Result<Vec<_>, _>>()
        } else {
            self.average
                .iter()
                .zip(weights)
                .map(|(a, w)| a.affine(d, 0.0)? + w.affine(1.0 - d, 0.0)?)
                .collect::<Result<Vec<_>, _>>()
        }
        .map_err(TrainError::candle)?;
        Ok(())
    }

    /// Whether any step was averaged.
    pub fn is_active(&self) -> bool {
        !self.average.is_empty()
    }

    /// Sets the net's weights to the average (unchanged when no step was averaged).
    pub fn finish(&self, net: &Net) -> Result<(), TrainError> {
        for (var, a) in net.vars().iter().zip(&self.average) {
            var.set(a).map_err(TrainError::candle)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decay_follows_the_length_of_the_averaged_phase() {
        // 242 steps after the ramp at span 0.1: a time constant of 24.2 steps.
        let a = WeightAverage::new(Averaging::Ema { span: 0.1 }, 230, 472);
        assert!((a.decay.unwrap() - (1.0 - 1.0 / 24.2)).abs() < 1e-12);
        // Too short to average: the last weights (decay 0).
        let short = WeightAverage::new(Averaging::Ema { span: 0.1 }, 8, 10);
        assert_eq!(short.decay, Some(0.0));
        assert_eq!(WeightAverage::new(Averaging::Last, 0, 10).decay, None);
    }
}

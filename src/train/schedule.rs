//! Pruning during fine-tuning: tensorflow-model-optimization's `PolynomialDecay` schedule and
//! the masks it implies.
//!
//! The target sparsity grows from 0 at the first step to the final `s` at `end`,
//! `s_t = s · (1 - (1 - t / end)^3)`: fast at first, when the network has redundancy to spare,
//! slowly at the end, so that it recovers between updates. Masks are recomputed by magnitude
//! (with [`crate::prune::plan`], the same ranking as pruning without fine-tuning) every
//! `frequency` steps up to the end of the ramp, and applied after every optimizer step, so a
//! pruned weight stays exactly zero and the final weights have exactly the requested sparsity.
//!
//! Structured pruning uses the same schedule with unit masks ([`Masks::units`]): the masks of
//! [`crate::prune::structured::masks`] zero whole rows or channels and the columns that read
//! them, so the masked net computes what the physically pruned one will, and removal after the
//! last epoch changes no output.

use super::net::Net;
use super::TrainError;
use crate::prune::{self, structured, Ranking, Structure};
use candle_core::{Device, Tensor};

/// tfmot's `PolynomialDecay(initial_sparsity=0, final_sparsity=s, begin_step=0, end_step,
/// power=3, frequency)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolynomialDecay {
    pub final_sparsity: f32,
    pub end_step: usize,
    pub frequency: usize,
}

impl PolynomialDecay {
    /// The schedule over `steps` optimizer steps, as `tools/baselines/tfmot_baselines.py`
    /// configures tfmot: masks updated every 10 steps, the ramp ending halfway (rounded down
    /// to an update step), so the second half fine-tunes at the final sparsity.
    pub fn over(final_sparsity: f32, steps: usize) -> PolynomialDecay {
        const FREQUENCY: usize = 10;
        PolynomialDecay {
            final_sparsity,
            end_step: steps / 2 / FREQUENCY * FREQUENCY,
            frequency: FREQUENCY,
        }
    }

    /// The sparsity the masks get at `step`, when it is an update step.
    pub fn at(&self, step: usize) -> Option<f32> {
        if step > self.end_step || !step.is_multiple_of(self.frequency) {
            return None;
        }
        if self.end_step == 0 {
            return Some(self.final_sparsity);
        }
        let progress = step as f64 / self.end_step as f64;
        let s = f64::from(self.final_sparsity) * (1.0 - (1.0 - progress).powi(3));
        Some(s as f32)
    }
}

/// The pruning masks of a net's prunable weights (1 keeps, 0 prunes).
pub struct Masks {
    ranking: Ranking,
    /// Whole units instead of single weights.
    structure: Option<Structure>,
    skip: Vec<usize>,
    masks: Vec<(crate::ir::TensorId, Tensor)>,
}

impl Masks {
    pub fn new(ranking: Ranking, skip: Vec<usize>) -> Masks {
        Masks {
            ranking,
            structure: None,
            skip,
            masks: Vec::new(),
        }
    }

    /// Masks of whole units (`structure`), ranked per layer as structured pruning ranks them.
    pub fn units(structure: Structure, skip: Vec<usize>) -> Masks {
        Masks {
            structure: Some(structure),
            ..Masks::new(Ranking::PerLayer, skip)
        }
    }

    /// Masks that keep the prunable weights that are zero now at zero, for training a pruned
    /// model further without a schedule.
    pub fn of_zeros(net: &Net) -> Result<Masks, TrainError> {
        let mut masks = Vec::new();
        for (_, id) in prune::prunable(&net.graph) {
            if let Some(var) = net.var(id) {
                let keep = var
                    .as_tensor()
                    .ne(0f32)
                    .and_then(|m| m.to_dtype(candle_core::DType::F32))
                    .map_err(TrainError::candle)?;
                masks.push((id, keep));
            }
        }
        Ok(Masks {
            ranking: Ranking::PerLayer,
            structure: None,
            skip: Vec::new(),
            masks,
        })
    }

    /// Recomputes the masks for `sparsity` from the net's current weights, and applies them.
    pub fn update(&mut self, net: &Net, sparsity: f32) -> Result<(), TrainError> {
        let mut graph = net.graph.clone();
        net.write_back(&mut graph)?;
        let keep: Vec<(crate::ir::TensorId, Vec<f32>)> = match self.structure {
            Some(structure) => {
                let (plans, _) = structured::plan(&graph, structure, sparsity, &self.skip)?;
                structured::masks(&graph, &plans)
            }
            None => prune::plan(&graph, sparsity, self.ranking, &self.skip)?
                .into_iter()
                .map(|(_, id, zeroed)| {
                    let mut keep = vec![1f32; graph.tensor(id).num_elements()];
                    for i in zeroed {
                        keep[i] = 0.0;
                    }
                    (id, keep)
                })
                .collect(),
        };
        self.masks.clear();
        for (id, keep) in keep {
            let shape = graph.tensor(id).shape.as_slice();
            let mask = Tensor::from_vec(keep, shape, &Device::Cpu).map_err(TrainError::candle)?;
            self.masks.push((id, mask));
        }
        self.apply(net)
    }

    /// Sets the pruned weights back to zero (after an optimizer step moved them).
    pub fn apply(&self, net: &Net) -> Result<(), TrainError> {
        for (id, mask) in &self.masks {
            if let Some(var) = net.var(*id) {
                let masked = (var.as_tensor() * mask).map_err(TrainError::candle)?;
                var.set(&masked).map_err(TrainError::candle)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_decay_ramps_over_the_first_half() {
        let s = PolynomialDecay::over(0.5, 90);
        assert_eq!(s.end_step, 40);
        assert_eq!(s.at(0), Some(0.0));
        assert_eq!(s.at(5), None);
        // Half way up the ramp: 0.5 * (1 - 0.5^3) = 0.4375.
        assert!((s.at(20).unwrap() - 0.4375).abs() < 1e-6);
        assert_eq!(s.at(40), Some(0.5));
        assert_eq!(s.at(50), None);
        // Fewer steps than one update period: the final sparsity at once.
        let short = PolynomialDecay::over(0.3, 12);
        assert_eq!(short.end_step, 0);
        assert_eq!(short.at(0), Some(0.3));
    }
}

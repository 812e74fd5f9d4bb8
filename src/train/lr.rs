//! Learning-rate schedules over a training run.
//!
//! Pruning while fine-tuning keeps the rate constant, as tensorflow-model-optimization's
//! recipe does: the sparsity ramp and the recovery after it both need the full rate (a decay
//! during the recovery left co2 0.2 to 0.6 ppm worse, `docs/quality.md`). QAT starts from a
//! converged model and decays the rate to 0 along a cosine, as the bundled models' own
//! trainings do, so that it ends settled on the quantization grid instead of on the last
//! batch's step.

use std::f64::consts::PI;

/// How the learning rate changes from the first step to the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LrSchedule {
    /// The base rate at every step.
    #[default]
    Constant,
    /// `base · (1 + cos(π · step / steps)) / 2`: from the base rate down to 0.
    Cosine,
}

impl LrSchedule {
    /// The rate at `step` (0-based) of `steps`.
    pub fn at(self, base: f64, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let t = step as f64 / steps.max(1) as f64;
                base * 0.5 * (1.0 + (PI * t.min(1.0)).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_the_base_rate_and_falls_to_zero() {
        let s = LrSchedule::Cosine;
        assert_eq!(s.at(0.001, 0, 100), 0.001);
        assert!((s.at(0.001, 50, 100) - 0.0005).abs() < 1e-12);
        assert!(s.at(0.001, 99, 100) < 1e-6);
        assert!(s.at(0.001, 100, 100).abs() < 1e-18);
        assert_eq!(LrSchedule::Constant.at(0.001, 99, 100), 0.001);
    }
}

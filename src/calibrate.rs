//! Calibration: the float model runs on representative inputs in the host runtime, whose
//! observer shows every operator's output; each tensor's range is recorded.
//!
//! Each sample starts from zero state (the variable tensors are reset), as the model is
//! evaluated and as Keras and ONNX run a window. Variable tensors (an LSTM's output and cell
//! state) are observed as each operator leaves them, after the whole sequence: what
//! TensorFlow's calibrator logs too (a variable input before and after the operator), not
//! every time step. TensorFlow's calibrator does not reset the state between samples, so its
//! ranges include states carried over from one sample to the next (see docs/modes.md).
//!
//! The runtime is the same one the MCU runs, so the ranges are those of the arithmetic that
//! will be quantized. Three methods: `minmax` (TensorFlow's default: the observed extremes),
//! `percentile` (the 0.01 % and 99.99 % quantiles, which ignores rare outliers) and `mse` (the
//! clipping of the observed range that minimizes the int8 quantization error of the observed
//! values).

use crate::ir::{Graph, TensorId};
use crate::run::{arena, AlignedBytes};
use std::str::FromStr;
use tflm_runtime::{DType, Interpreter, Model};

/// How a tensor's range is derived from the values observed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    MinMax,
    Percentile,
    Mse,
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Method, String> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "percentile" => Ok(Method::Percentile),
            "mse" => Ok(Method::Mse),
            _ => Err(format!(
                "unknown calibration method {s:?} (valid: minmax, percentile, mse)"
            )),
        }
    }
}

/// The range of every float tensor of a graph, indexed by `TensorId`; `None` for tensors
/// calibration did not see (constants, integer tensors).
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges(pub Vec<Option<(f32, f32)>>);

impl Ranges {
    pub fn get(&self, id: TensorId) -> Option<(f32, f32)> {
        self.0.get(id.index()).copied().flatten()
    }

    pub fn set(&mut self, id: TensorId, range: (f32, f32)) {
        if let Some(r) = self.0.get_mut(id.index()) {
            *r = Some(range);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibration needs at least one sample")]
    NoSamples,
    #[error("sample {sample}: {message}")]
    Input { sample: usize, message: String },
    #[error("the float model cannot be written: {0}")]
    Write(#[from] crate::tflite_writer::WriteError),
    #[error("the float model does not run: {0}")]
    Runtime(String),
    #[error("tensor {tensor} ({name}): the float model produced {value} on sample {sample}")]
    NotFinite {
        tensor: usize,
        name: String,
        value: f32,
        sample: usize,
    },
}

/// Most values kept per tensor for the `percentile` and `mse` methods; beyond it every k-th
/// value is kept (deterministically).
const MAX_KEPT: usize = 1 << 20;

/// Runs `graph` (float) on `samples` (per sample, one `Vec<f32>` per graph input, row-major)
/// and returns every float tensor's range.
pub fn calibrate(
    graph: &Graph,
    samples: &[Vec<Vec<f32>>],
    method: Method,
) -> Result<Ranges, CalibrationError> {
    calibrate_with_progress(graph, samples, method, &mut |_| {})
}

/// [`calibrate`], calling `progress` with the number of samples done after each one.
pub fn calibrate_with_progress(
    graph: &Graph,
    samples: &[Vec<Vec<f32>>],
    method: Method,
    progress: &mut dyn FnMut(usize),
) -> Result<Ranges, CalibrationError> {
    if samples.is_empty() {
        return Err(CalibrationError::NoSamples);
    }
    let bytes = AlignedBytes::new(&crate::tflite_writer::write(graph)?);
    let model =
        Model::parse(bytes.as_slice()).map_err(|e| CalibrationError::Runtime(e.to_string()))?;
    let mut memory = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, memory.as_mut_slice())
        .map_err(|e| CalibrationError::Runtime(e.to_string()))?;
    let n = graph.tensors.len();
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut extremes: Vec<Option<(f32, f32)>> = vec![None; n];
    let keep_values = method != Method::MinMax;
    let mut bad: Option<CalibrationError> = None;
    let mut record = |t: usize, xs: &mut dyn Iterator<Item = f32>, sample: usize| {
        for x in xs {
            if !x.is_finite() {
                if bad.is_none() {
                    bad = Some(CalibrationError::NotFinite {
                        tensor: t,
                        name: graph.tensors[t].name.clone(),
                        value: x,
                        sample,
                    });
                }
                continue;
            }
            let e = extremes[t].get_or_insert((x, x));
            e.0 = e.0.min(x);
            e.1 = e.1.max(x);
            if keep_values {
                values[t].push(x);
            }
        }
    };
    for (s, sample) in samples.iter().enumerate() {
        if sample.len() != graph.inputs.len() {
            return Err(CalibrationError::Input {
                sample: s,
                message: format!(
                    "{} inputs given, the model has {}",
                    sample.len(),
                    graph.inputs.len()
                ),
            });
        }
        interpreter.reset_state();
        for (k, (data, &id)) in sample.iter().zip(&graph.inputs).enumerate() {
            let dst = interpreter
                .input::<f32>(k)
                .map_err(|e| CalibrationError::Input {
                    sample: s,
                    message: e.to_string(),
                })?;
            if dst.len() != data.len() {
                return Err(CalibrationError::Input {
                    sample: s,
                    message: format!("input {k} needs {} values, {} given", dst.len(), data.len()),
                });
            }
            dst.copy_from_slice(data);
            record(id.index(), &mut data.iter().copied(), s);
        }
        interpreter
            .invoke_observed(|o| {
                if o.tensor.dtype == DType::F32 {
                    let mut xs = o
                        .bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                    record(o.tensor.index, &mut xs, s);
                }
            })
            .map_err(|e| CalibrationError::Runtime(e.to_string()))?;
        progress(s + 1);
    }
    if let Some(e) = bad {
        return Err(e);
    }
    let ranges = extremes
        .into_iter()
        .zip(values.iter_mut())
        .zip(&graph.tensors)
        .map(|((e, v), tensor)| {
            e.map(|(lo, hi)| match method {
                // State (an LSTM's cell state): its extremes whatever the method. The cell
                // state's scale is a power of two at or above its largest magnitude, and a
                // clipped state would saturate every later step.
                _ if tensor.is_variable => (lo, hi),
                Method::MinMax => (lo, hi),
                Method::Percentile => percentile_range(thin(v)),
                Method::Mse => mse_range(thin(v), lo, hi),
            })
        })
        .collect();
    Ok(Ranges(ranges))
}

/// At most `MAX_KEPT` values, every k-th kept.
fn thin(v: &mut Vec<f32>) -> &mut Vec<f32> {
    if v.len() > MAX_KEPT {
        let step = v.len().div_ceil(MAX_KEPT);
        *v = v.iter().step_by(step).copied().collect();
    }
    v
}

/// The 0.01 % and 99.99 % quantiles (nearest rank).
fn percentile_range(v: &mut [f32]) -> (f32, f32) {
    v.sort_unstable_by(f32::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    (at(0.0001), at(0.9999))
}

/// The clipping of `[lo, hi]` (shrunk toward zero in 2 % steps, down to 20 %) whose int8
/// quantization of `v` has the least squared error.
fn mse_range(v: &[f32], lo: f32, hi: f32) -> (f32, f32) {
    let error = |(a, b): (f32, f32)| -> f64 {
        let (scale, zp) = crate::quantize::affine_params(a, b);
        v.iter()
            .map(|&x| {
                let q = ((x / scale).round() + zp as f32).clamp(-128.0, 127.0);
                let d = (q - zp as f32) * scale - x;
                (d as f64) * (d as f64)
            })
            .sum()
    };
    let mut best = ((lo, hi), error((lo, hi)));
    for step in 1..=40 {
        let f = 1.0 - 0.02 * step as f32;
        let candidate = (lo * f, hi * f);
        let e = error(candidate);
        if e < best.1 {
            best = (candidate, e);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ignores_rare_outliers() {
        let mut v: Vec<f32> = (0..100_000).map(|i| (i % 100) as f32 / 100.0).collect();
        v.push(1000.0);
        let (lo, hi) = percentile_range(&mut v);
        assert_eq!(lo, 0.0);
        assert!(hi < 1.0, "{hi}");
    }

    #[test]
    fn mse_clips_a_long_tail() {
        let mut v: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        v.push(50.0);
        let (lo, hi) = mse_range(&v, 0.0, 50.0);
        assert_eq!(lo, 0.0);
        assert!(hi < 50.0, "{hi}");
        // Without outliers the full range is best.
        let w: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        assert_eq!(mse_range(&w, 0.0, 0.999), (0.0, 0.999));
    }

    #[test]
    fn method_names() {
        assert_eq!("mse".parse::<Method>().unwrap(), Method::Mse);
        assert_eq!(
            "max".parse::<Method>().unwrap_err(),
            "unknown calibration method \"max\" (valid: minmax, percentile, mse)"
        );
    }
}

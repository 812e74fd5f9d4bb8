//! Evaluation: a `.tflite` run on the host runtime (the MCU's arithmetic, bit for bit) over
//! dataset examples, raw values in and out through [`ModelCodec`], metrics in the original
//! units.
//!
//! Every example starts from zero state ([`Interpreter::reset_state`]): a Keras or ONNX
//! model, including an LSTM over a window, starts each example from zero, and the evaluation
//! follows the source model's semantics.

use crate::dataset::{Example, Target};
use crate::io_codec::{CodecError, ModelCodec};
use crate::run::{arena, AlignedBytes};
use crate::specs::{Metric, Specs};
use tflm_runtime::{Interpreter, Model};

/// The metrics of one model on a set of examples. Regression fills `mae` and `rmse`,
/// classification `accuracy`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Metrics {
    pub examples: usize,
    pub accuracy: Option<f64>,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
}

impl Metrics {
    /// The value of `metric` (NaN when the task does not define it).
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Accuracy => self.accuracy,
            Metric::Mae => self.mae,
            Metric::Rmse => self.rmse,
        }
        .unwrap_or(f64::NAN)
    }
}

/// Whether a larger value of `metric` is better.
pub fn higher_is_better(metric: Metric) -> bool {
    metric == Metric::Accuracy
}

pub fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Accuracy => "accuracy",
        Metric::Mae => "MAE",
        Metric::Rmse => "RMSE",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("the model does not parse: {0}")]
    Parse(String),
    #[error("the model does not fit its specs: {0}")]
    Codec(#[from] CodecError),
    #[error("example at row {row}: {message}")]
    Example { row: usize, message: String },
    #[error("no examples to evaluate")]
    Empty,
}

/// Runs `bytes` on every example and computes the metrics. `progress` is called after each
/// example with the number done.
pub fn evaluate(
    bytes: &[u8],
    specs: &Specs,
    examples: &[Example],
    progress: &mut dyn FnMut(usize),
) -> Result<Metrics, EvaluateError> {
    if examples.is_empty() {
        return Err(EvaluateError::Empty);
    }
    let aligned = AlignedBytes::new(bytes);
    let model =
        Model::parse(aligned.as_slice()).map_err(|e| EvaluateError::Parse(e.to_string()))?;
    let codec = ModelCodec::new(specs, &model)?;
    let mut memory = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, memory.as_mut_slice())
        .map_err(|e| EvaluateError::Parse(e.to_string()))?;
    let mut acc = Accumulator::default();
    let mut buf = Vec::new();
    for (n, ex) in examples.iter().enumerate() {
        let fail = |message: String| EvaluateError::Example {
            row: ex.row,
            message,
        };
        interpreter.reset_state();
        for (k, (c, raw)) in codec.inputs.iter().zip(&ex.inputs).enumerate() {
            if raw.len() != c.len {
                return Err(fail(format!(
                    "input {k} ({}) has {} values, the model takes {}",
                    c.name,
                    raw.len(),
                    c.len
                )));
            }
            c.encode(raw, &mut buf);
            interpreter
                .input_bytes_mut(k)
                .map_err(|e| fail(e.to_string()))?
                .copy_from_slice(&buf);
        }
        interpreter.invoke().map_err(|e| fail(e.to_string()))?;
        for (k, c) in codec.outputs.iter().enumerate() {
            let bytes = interpreter
                .output_bytes(k)
                .map_err(|e| fail(e.to_string()))?;
            match &ex.target {
                Target::Classes(classes) => {
                    let predicted = tflm_runtime::io::argmax(&c.values(bytes));
                    acc.add_class(predicted == classes.get(k).copied());
                }
                Target::Values(values) => {
                    let predicted = c.decode(bytes);
                    let expected = values.get(k).map(Vec::as_slice).unwrap_or(&[]);
                    if predicted.len() != expected.len() {
                        return Err(fail(format!(
                            "output {k} ({}) has {} values, the labels {}",
                            c.name,
                            predicted.len(),
                            expected.len()
                        )));
                    }
                    for (p, e) in predicted.iter().zip(expected) {
                        acc.add_error(f64::from(*p) - f64::from(*e));
                    }
                }
            }
        }
        progress(n + 1);
    }
    Ok(acc.finish(examples.len()))
}

/// Running sums of the metrics.
#[derive(Default)]
struct Accumulator {
    correct: usize,
    classified: usize,
    abs: f64,
    sq: f64,
    errors: usize,
}

impl Accumulator {
    fn add_class(&mut self, correct: bool) {
        self.classified += 1;
        self.correct += usize::from(correct);
    }

    fn add_error(&mut self, e: f64) {
        self.abs += e.abs();
        self.sq += e * e;
        self.errors += 1;
    }

    fn finish(self, examples: usize) -> Metrics {
        let per = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        Metrics {
            examples,
            accuracy: per(self.correct as f64, self.classified),
            mae: per(self.abs, self.errors),
            rmse: per(self.sq, self.errors).map(f64::sqrt),
        }
    }
}

//! Post-training quantization: the modes of `docs/modes.md` (DESIGN.md's list), each a
//! transformation of a float [`Graph`] into the graph the writer serializes.
//!
//! One entry point, [`quantize`], dispatches on [`Mode`]; each mode lives in its own module.
//! Modes that quantize activations need the calibrated [`Ranges`]; the others ignore them.

mod common;
mod dynamic;
mod fallback;
mod float16;
mod int16x8;
mod int8;
mod lstm;

/// For QAT's fake quantization of weights (`crate::train::qat`), which must round as this does.
pub(crate) use common::weight_axis;
pub use dynamic::quantize_dynamic;
pub use fallback::quantize_int8_float_fallback;
pub use float16::{f32_to_f16, quantize_float16};
pub use int16x8::quantize_int16x8;
pub use int8::{affine_params, quantize_int8};
pub use lstm::cell_scale;

use crate::calibrate::Ranges;
use crate::ir::{DType, Graph};
use std::fmt;
use std::str::FromStr;

/// A quantization mode. The original Python tool's names are accepted as aliases by
/// [`Mode::from_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Float32 everywhere: the imported model as is.
    None,
    /// Float16 weights, dequantized to float32 by DEQUANTIZE operators at run time.
    Float16,
    /// Int8 weights with float activations (hybrid kernels quantize inputs on the fly).
    Dynamic,
    /// Full integer: int8 activations, int8 weights (per channel for convolutions), int32 bias.
    Int8,
    /// Int8 where an int8 kernel exists, float elsewhere, float model inputs and outputs.
    Int8FloatFallback,
    /// Int16 activations (symmetric), int8 weights, int64 bias.
    Int16x8,
}

impl Mode {
    /// Every mode, in the order reports list them.
    pub const ALL: [Mode; 6] = [
        Mode::None,
        Mode::Float16,
        Mode::Dynamic,
        Mode::Int8,
        Mode::Int8FloatFallback,
        Mode::Int16x8,
    ];

    /// The canonical name (what the CLI, the macro and reports use).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Float16 => "float16",
            Mode::Dynamic => "dynamic",
            Mode::Int8 => "int8",
            Mode::Int8FloatFallback => "int8_float_fallback",
            Mode::Int16x8 => "int16x8",
        }
    }

    /// Whether the mode quantizes activations, and so needs calibration.
    pub fn needs_calibration(self) -> bool {
        matches!(self, Mode::Int8 | Mode::Int8FloatFallback | Mode::Int16x8)
    }

    /// The element type of the model's inputs and outputs for `io`.
    pub fn io_dtype(self, io: IoKind) -> DType {
        match (self, io) {
            (Mode::Int8, IoKind::Integer) => DType::I8,
            (Mode::Int16x8, IoKind::Integer) => DType::I16,
            _ => DType::F32,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The valid spellings, for error messages.
pub const MODE_NAMES: &str = "none, float16, dynamic, int8, int8_float_fallback, int16x8 \
(aliases: float32, dynamic_range, integer_with_float_fallback, \
integer_with_8bits_weights_and_16bit_activations, 16x8)";

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "none" | "float32" | "float" => Mode::None,
            "float16" => Mode::Float16,
            "dynamic" | "dynamic_range" => Mode::Dynamic,
            "int8" => Mode::Int8,
            "int8_float_fallback" | "integer_with_float_fallback" => Mode::Int8FloatFallback,
            "int16x8" | "16x8" | "integer_with_8bits_weights_and_16bit_activations" => {
                Mode::Int16x8
            }
            _ => {
                return Err(format!(
                    "unknown quantization mode {s:?} (valid: {MODE_NAMES})"
                ))
            }
        })
    }
}

/// The element type of a quantized model's inputs and outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum IoKind {
    /// The mode's integer type (int8, or int16 for `int16x8`); float for modes that keep
    /// float activations.
    #[default]
    Integer,
    /// Float32: the model quantizes its inputs and dequantizes its outputs itself.
    Float32,
}

impl FromStr for IoKind {
    type Err = String;
    fn from_str(s: &str) -> Result<IoKind, String> {
        match s {
            "int8" | "int16" | "integer" => Ok(IoKind::Integer),
            "float32" | "float" => Ok(IoKind::Float32),
            _ => Err(format!(
                "unknown I/O type {s:?} (valid: int8 (int16 for int16x8), float32)"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QuantizeError {
    #[error("operator {op} ({name}): no {mode} kernel; use int8_float_fallback")]
    Unsupported {
        op: usize,
        name: &'static str,
        mode: Mode,
    },
    /// An operator this mode has a kernel for, in a form it cannot quantize.
    #[error("operator {op} ({name}), {mode}: {reason}")]
    Refused {
        op: usize,
        name: &'static str,
        mode: Mode,
        reason: &'static str,
    },
    #[error("tensor {tensor} ({name}): calibration saw no values")]
    Uncalibrated { tensor: usize, name: String },
    #[error("tensor {tensor} ({name}): expected float32 data, found {dtype}")]
    NotFloat {
        tensor: usize,
        name: String,
        dtype: DType,
    },
    #[error("mode {0} needs calibration ranges")]
    NoRanges(Mode),
    #[error("mode {0} is not implemented yet")]
    NotImplemented(Mode),
}

/// Quantizes the float `graph` in `mode`. `ranges` (from [`crate::calibrate::calibrate`] on the
/// same graph) is required by modes that quantize activations ([`Mode::needs_calibration`]).
pub fn quantize(
    graph: &Graph,
    ranges: Option<&Ranges>,
    mode: Mode,
    io: IoKind,
) -> Result<Graph, QuantizeError> {
    let ranges = || ranges.ok_or(QuantizeError::NoRanges(mode));
    match mode {
        Mode::None => Ok(graph.clone()),
        Mode::Int8 => quantize_int8(graph, ranges()?, io),
        Mode::Float16 => quantize_float16(graph),
        Mode::Dynamic => quantize_dynamic(graph),
        Mode::Int8FloatFallback => quantize_int8_float_fallback(graph, ranges()?),
        Mode::Int16x8 => quantize_int16x8(graph, ranges()?, io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_and_aliases_round_trip() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>(), Ok(m));
        }
        assert_eq!(
            "integer_with_8bits_weights_and_16bit_activations".parse::<Mode>(),
            Ok(Mode::Int16x8)
        );
        assert_eq!(
            "integer_with_float_fallback".parse::<Mode>(),
            Ok(Mode::Int8FloatFallback)
        );
        let err = "int4".parse::<Mode>().unwrap_err();
        assert!(err.contains("\"int4\"") && err.contains("int16x8"), "{err}");
    }
}

//! The converter's intermediate representation: a small typed graph whose operators map 1:1
//! to the TFLite builtins the runtime runs.
//!
//! Every path into a model goes through it (DESIGN.md): importers build a [`Graph`] (ONNX
//! via tract, a float `.tflite` via [`crate::tflite_import`]), passes rewrite it,
//! calibration and quantization annotate it, and [`crate::tflite_writer`] turns it into a
//! `.tflite` flatbuffer.
//!
//! - [`tensor`]: [`Tensor`] (static shape, [`DType`](tflm_runtime::DType), optional
//!   [`ConstData`] and [`Quantization`], variable flag) and [`TensorId`].
//! - [`op`]: [`Op`] (inputs, outputs) and [`OpKind`], one variant per builtin with its
//!   options as typed fields.
//! - [`graph`]: [`Graph`], tensors and operators in execution order.
//! - [`shape`]: the builtins' static shape rules.
//! - [`validate`]: [`Graph::validate`] and its [`ValidationError`].
//!
//! Determinism: only ordered containers; the order of tensors and operators in a graph is the
//! order in which they are written out, so the same graph always gives the same bytes.

pub mod graph;
pub mod op;
pub mod shape;
pub mod tensor;
pub mod validate;

pub use graph::Graph;
pub use op::{
    AddSubOptions, ConcatenationOptions, Conv2dOptions, DepthwiseConv2dOptions,
    FullyConnectedOptions, GateActivation, LeakyReluOptions, LstmOptions, MulOptions, Op, OpKind,
    Pool2dOptions, ReducerOptions, ReshapeOptions, SoftmaxOptions, SqueezeOptions,
    StridedSliceOptions, SvdfOptions,
};
pub use tensor::{ConstData, Quantization, Tensor, TensorId};
pub use tflm_runtime::{Activation, DType, Padding};
pub use validate::{Location, ValidationError};

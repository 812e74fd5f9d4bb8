//! ONNX → IR, through the `tract-onnx` crate.
//!
//! tract reads the protobuf ([`tract_onnx::pb::ModelProto`]) and infers every value's type and
//! shape (the symbolic batch dimension fixed to 1) and, where it can, its value: whatever is
//! constant (initializers, `Constant` nodes, `Shape`/`Gather`/`Concat` chains that compute a
//! reshape target...) is folded at import time and never becomes an operator. The mapping of
//! the remaining nodes to TFLite builtins is done here, node by node, so that it stays explicit
//! and close to what TFLite runs:
//!
//! | ONNX | IR |
//! |------|----|
//! | `Gemm`, `MatMul` (constant weights) | `FULLY_CONNECTED` (weights `[out, in]`), a following bias `Add`/`Sub` folded into its bias |
//! | `Conv` (`group` 1 or grouped) | `CONV_2D`; `group` = input channels: `DEPTHWISE_CONV_2D`; pads that are not TFLite's `SAME` or `VALID`: `PAD` first |
//! | `BatchNormalization` | folded into the preceding conv or FC; otherwise `MUL` + `ADD` |
//! | `Relu`, `Clip(0, 6)`, `Clip(-1, 1)`, `Clip(0, ∞)` | fused into the preceding conv, FC, `ADD`, `SUB` or `MUL`; otherwise `RELU`, `RELU6`, `RELU_N1_TO_1` |
//! | `LeakyRelu`, `Sigmoid`, `Tanh`, `HardSwish`, `Softmax` | `LEAKY_RELU`, `LOGISTIC`, `TANH`, `HARD_SWISH`, `SOFTMAX` |
//! | `Add`, `Sub`, `Mul`; `Div` by a constant | `ADD`, `SUB`, `MUL`; `MUL` by the reciprocal |
//! | `MaxPool`, `AveragePool`, `GlobalAveragePool`, `ReduceMean` | `MAX_POOL_2D`, `AVERAGE_POOL_2D`, `MEAN` |
//! | `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze` | `RESHAPE`, or nothing (see below) |
//! | `Transpose` | nothing, or `TRANSPOSE` where a layout must really change |
//! | `Concat`, `Pad` | `CONCATENATION`, `PAD` (`PADV2` for a non-zero value) |
//! | `Identity`, `Dropout` | nothing |
//! | `LSTM` (forward) | `UNIDIRECTIONAL_SEQUENCE_LSTM` with variable state tensors ([`lstm`]) |
//! | `Slice`, `Gather` (one constant index) of a run-time tensor | `STRIDED_SLICE`; a following `Squeeze` of the sliced axis becomes its `shrink_axis_mask` |
//!
//! # Layout
//!
//! TFLite's convolutions and pools are NHWC; ONNX's are NCHW. Each ONNX value is held by an
//! IR tensor together with a permutation `perm` ([`layout`]): IR axis `i` is ONNX axis
//! `perm[i]`. Convolutions and pools take and give NHWC (`perm = [0, 2, 3, 1]`); element-wise
//! ops keep their input's permutation (constants are permuted to match, at import time); a
//! `Transpose` node only changes the permutation; `Concat`, `Softmax`, `ReduceMean`, `Pad`
//! translate their axes through it. So the `Transpose` pairs tf2onnx writes around each conv
//! of a Keras model cancel, and a PyTorch NCHW graph runs NHWC throughout. A `TRANSPOSE` is
//! emitted only where a consumer needs an axis order that no bookkeeping gives (two operands
//! of an element-wise op held in different orders, for example).
//!
//! Reshapes: a reshape that only moves size-1 axes (tf2onnx's NHWC→NCHW `Reshape` of a
//! one-channel image) is bookkeeping too; one whose input is held in ONNX's own element order
//! is a `RESHAPE`. A flatten of a tensor held NHWC while ONNX flattens NCHW (PyTorch's
//! `Conv → Flatten → Gemm`) emits nothing: the fully connected layer after it reads the NHWC
//! tensor (TFLite's FC flattens its input itself) with its weight columns permuted to match.
//! Any other consumer of such a flatten gets a `TRANSPOSE` back to ONNX's order and a
//! `RESHAPE`.
//!
//! Graph inputs and outputs keep the ONNX model's layout by default, so that the converted
//! model takes and gives the same data as the ONNX one (tf2onnx exports of Keras models are
//! NHWC or `[batch, features]` already, and need nothing): a PyTorch model with an NCHW image
//! input gets one `TRANSPOSE` after its input (and one before any 4-D NCHW output).
//! [`ImportOptions::nhwc_io`] makes such 4-D inputs and outputs NHWC in the converted model
//! instead, without any transpose (for specs that declare an `nhwc` layout).
//!
//! # Errors
//!
//! Never a panic: an op the importer does not map is an [`ImportError::Node`] naming the
//! node, its op type and the opset (`node "gru_1" (GRU, opset 13): not supported yet`), and
//! so is an attribute it cannot honour (`ceil_mode` that changes the output size, `SAME_LOWER`
//! padding of a pool, `count_include_pad` with pads that are not TFLite's...).

mod attrs;
mod consts;
mod conv;
mod dense;
mod facts;
pub mod layout;
mod lower;
mod lstm;

use crate::ir::{Graph, ValidationError};
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

/// How to import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Make 4-D graph inputs and outputs that ONNX holds NCHW into NHWC tensors of the
    /// converted model (no `TRANSPOSE` at the edges; the caller feeds and reads NHWC).
    /// `false` (default): the converted model's I/O has the ONNX model's shapes and layouts.
    pub nhwc_io: bool,
}

/// Why an ONNX model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not an ONNX `ModelProto`, or tract cannot build a graph from them.
    #[error("not a readable ONNX model: {0}")]
    Protobuf(String),
    /// A node the importer cannot map (op type, attribute, operand).
    #[error("node {node:?} ({op}, opset {opset}): {message}")]
    Node {
        node: String,
        op: String,
        opset: i64,
        message: String,
    },
    #[error("graph input {name:?}: {message}")]
    Input { name: String, message: String },
    #[error("graph output {name:?}: {message}")]
    Output { name: String, message: String },
    /// tract's type and shape inference failed.
    #[error("shape inference: {0}")]
    Inference(String),
    /// The imported graph breaks an IR rule (a bug of the importer).
    #[error("the imported graph is invalid: {0}")]
    Invalid(#[from] ValidationError),
}

/// Imports the ONNX model at `path` (external data is looked up next to it) with the default
/// options.
pub fn import(path: &Path) -> Result<Graph, ImportError> {
    import_with(path, &ImportOptions::default())
}

/// Imports the ONNX model at `path`.
pub fn import_with(path: &Path, options: &ImportOptions) -> Result<Graph, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let proto = decode(&bytes)?;
    let dir = path.parent().and_then(|d| d.to_str());
    lower::import_proto(&proto, dir, options)
}

/// Imports an ONNX model from its bytes (no external data) with the default options.
pub fn import_bytes(bytes: &[u8]) -> Result<Graph, ImportError> {
    import_bytes_with(bytes, &ImportOptions::default())
}

/// Imports an ONNX model from its bytes (no external data).
pub fn import_bytes_with(bytes: &[u8], options: &ImportOptions) -> Result<Graph, ImportError> {
    let proto = decode(bytes)?;
    lower::import_proto(&proto, None, options)
}

/// Decodes the protobuf with tract's reader.
fn decode(bytes: &[u8]) -> Result<pb::ModelProto, ImportError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| ImportError::Protobuf(format!("{e:#}")))
}

//! Operators of the IR: one [`OpKind`] per TFLite builtin the runtime runs, with its options
//! as typed fields, and the tensors it reads and writes.
//!
//! Inputs follow TFLite's order for each builtin (documented on each variant); an absent
//! optional input is `None` (TFLite's -1). Options keep every field of the schema's options
//! table that can matter to some runtime (even those the tflm runtime ignores, such as
//! `asymmetric_quantize_inputs`), so that importing a `.tflite` and writing it back loses
//! nothing that changes its meaning.

use super::tensor::TensorId;
use tflm_runtime::schema::{op as code, op_name, options_type};
use tflm_runtime::{Activation, DType, Padding};

/// One operator: what it computes and on which tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    /// In the builtin's order; `None` marks an absent optional input.
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
    /// Tensors the kernel uses internally (TFLite's integer LSTM records gate statistics
    /// there); empty for every op supported so far.
    pub intermediates: Vec<TensorId>,
}

impl Op {
    /// An operator whose inputs are all present.
    pub fn new(
        kind: OpKind,
        inputs: impl IntoIterator<Item = TensorId>,
        outputs: impl IntoIterator<Item = TensorId>,
    ) -> Op {
        Op {
            kind,
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: outputs.into_iter().collect(),
            intermediates: Vec::new(),
        }
    }

    /// Input `k`, `None` when absent or past the end.
    pub fn input(&self, k: usize) -> Option<TensorId> {
        self.inputs.get(k).copied().flatten()
    }

    /// Output `k`, `None` past the end.
    pub fn output(&self, k: usize) -> Option<TensorId> {
        self.outputs.get(k).copied()
    }

    /// The schema name of the builtin (`"FULLY_CONNECTED"`, ...).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// What an operator computes: the TFLite builtin and its options.
///
/// Room for more: `UnidirectionalSequenceLstm(LstmOptions)` (with `Op::intermediates` for
/// the integer kernel) joins when the runtime gets its kernel.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// Inputs: input (any rank, flattened to `[batches, depth]`), weights
    /// `[units, depth]`, bias `[units]` (optional).
    FullyConnected(FullyConnectedOptions),
    /// Inputs: input NHWC, weights `[out_c, h, w, in_c / groups]`, bias `[out_c]`
    /// (optional).
    Conv2d(Conv2dOptions),
    /// Inputs: input NHWC, weights `[1, h, w, out_c]`, bias `[out_c]` (optional).
    DepthwiseConv2d(DepthwiseConv2dOptions),
    /// Input: NHWC.
    AveragePool2d(Pool2dOptions),
    /// Input: NHWC.
    MaxPool2d(Pool2dOptions),
    /// Inputs: input, shape (optional int32 tensor). The output tensor's shape is the result.
    Reshape(ReshapeOptions),
    /// Input: input.
    Squeeze(SqueezeOptions),
    /// Inputs: input, axis (int32/int64 scalar constant).
    ExpandDims,
    /// Input: input (softmax along the last dimension).
    Softmax(SoftmaxOptions),
    Logistic,
    Tanh,
    Relu,
    Relu6,
    ReluN1To1,
    LeakyRelu(LeakyReluOptions),
    HardSwish,
    /// Inputs: a, b (broadcast).
    Add(AddSubOptions),
    /// Inputs: a, b (broadcast).
    Sub(AddSubOptions),
    /// Inputs: a, b (broadcast).
    Mul(MulOptions),
    /// Input: input (float, or integer for requantization); output quantized.
    Quantize,
    /// Input: quantized or float16; output float32.
    Dequantize,
    /// Inputs: any number of tensors of the output's rank.
    Concatenation(ConcatenationOptions),
    /// Inputs: input, axes (int32 constant).
    Mean(ReducerOptions),
    /// Inputs: input, paddings (`[rank, 2]` int32/int64 constant).
    Pad,
    /// Inputs: input, paddings, constant pad value (one element of the input's type).
    PadV2,
    /// Inputs: input, begin, end, strides (int32 constants).
    StridedSlice(StridedSliceOptions),
    /// Inputs: input, permutation (int32 constant).
    Transpose,
    /// Inputs: input `[batch, input_size]`, feature weights `[filters, input_size]`, time
    /// weights `[filters, memory]`, bias `[units]` (optional), state (variable,
    /// `[batch, memory * filters]`).
    Svdf(SvdfOptions),
}

impl OpKind {
    /// The builtin operator code (`tflm_runtime::schema::op`).
    pub fn builtin_code(&self) -> i32 {
        match self {
            OpKind::FullyConnected(_) => code::FULLY_CONNECTED,
            OpKind::Conv2d(_) => code::CONV_2D,
            OpKind::DepthwiseConv2d(_) => code::DEPTHWISE_CONV_2D,
            OpKind::AveragePool2d(_) => code::AVERAGE_POOL_2D,
            OpKind::MaxPool2d(_) => code::MAX_POOL_2D,
            OpKind::Reshape(_) => code::RESHAPE,
            OpKind::Squeeze(_) => code::SQUEEZE,
            OpKind::ExpandDims => code::EXPAND_DIMS,
            OpKind::Softmax(_) => code::SOFTMAX,
            OpKind::Logistic => code::LOGISTIC,
            OpKind::Tanh => code::TANH,
            OpKind::Relu => code::RELU,
            OpKind::Relu6 => code::RELU6,
            OpKind::ReluN1To1 => code::RELU_N1_TO_1,
            OpKind::LeakyRelu(_) => code::LEAKY_RELU,
            OpKind::HardSwish => code::HARD_SWISH,
            OpKind::Add(_) => code::ADD,
            OpKind::Sub(_) => code::SUB,
            OpKind::Mul(_) => code::MUL,
            OpKind::Quantize => code::QUANTIZE,
            OpKind::Dequantize => code::DEQUANTIZE,
            OpKind::Concatenation(_) => code::CONCATENATION,
            OpKind::Mean(_) => code::MEAN,
            OpKind::Pad => code::PAD,
            OpKind::PadV2 => code::PADV2,
            OpKind::StridedSlice(_) => code::STRIDED_SLICE,
            OpKind::Transpose => code::TRANSPOSE,
            OpKind::Svdf(_) => code::SVDF,
        }
    }

    /// The schema name of the builtin.
    pub fn name(&self) -> &'static str {
        op_name(self.builtin_code())
    }

    /// The `BuiltinOptions` union type TFLite stores this builtin's options under
    /// (`options_type::NONE` for builtins without options). Some are empty tables
    /// (`TransposeOptions`, `PadOptions`, ...), written all the same, as TFLite's converter
    /// does.
    pub fn options_type(&self) -> u8 {
        match self {
            OpKind::FullyConnected(_) => options_type::FULLY_CONNECTED,
            OpKind::Conv2d(_) => options_type::CONV2D,
            OpKind::DepthwiseConv2d(_) => options_type::DEPTHWISE_CONV2D,
            OpKind::AveragePool2d(_) | OpKind::MaxPool2d(_) => options_type::POOL2D,
            OpKind::Reshape(_) => options_type::RESHAPE,
            OpKind::Squeeze(_) => options_type::SQUEEZE,
            OpKind::ExpandDims => options_type::EXPAND_DIMS,
            OpKind::Softmax(_) => options_type::SOFTMAX,
            OpKind::LeakyRelu(_) => options_type::LEAKY_RELU,
            OpKind::HardSwish => options_type::HARD_SWISH,
            OpKind::Add(_) => options_type::ADD,
            OpKind::Sub(_) => options_type::SUB,
            OpKind::Mul(_) => options_type::MUL,
            OpKind::Quantize => options_type::QUANTIZE,
            OpKind::Dequantize => options_type::DEQUANTIZE,
            OpKind::Concatenation(_) => options_type::CONCATENATION,
            OpKind::Mean(_) => options_type::REDUCER,
            OpKind::Pad => options_type::PAD,
            OpKind::PadV2 => options_type::PADV2,
            OpKind::StridedSlice(_) => options_type::STRIDED_SLICE,
            OpKind::Transpose => options_type::TRANSPOSE,
            OpKind::Svdf(_) => options_type::SVDF,
            OpKind::Logistic | OpKind::Tanh | OpKind::Relu | OpKind::Relu6 | OpKind::ReluN1To1 => {
                options_type::NONE
            }
        }
    }

    /// How many inputs the builtin takes (inclusive range, counting absent optional ones) and
    /// how many outputs it writes.
    pub fn arity(&self) -> (usize, usize, usize) {
        match self {
            OpKind::FullyConnected(_) | OpKind::Conv2d(_) | OpKind::DepthwiseConv2d(_) => (2, 3, 1),
            OpKind::Reshape(_) => (1, 2, 1),
            OpKind::ExpandDims
            | OpKind::Add(_)
            | OpKind::Sub(_)
            | OpKind::Mul(_)
            | OpKind::Mean(_)
            | OpKind::Pad
            | OpKind::Transpose => (2, 2, 1),
            OpKind::PadV2 => (3, 3, 1),
            OpKind::StridedSlice(_) => (4, 4, 1),
            OpKind::Svdf(_) => (5, 5, 1),
            OpKind::Concatenation(_) => (1, usize::MAX, 1),
            _ => (1, 1, 1),
        }
    }

    /// Inputs that may be absent (`None`).
    pub fn optional_inputs(&self) -> &'static [usize] {
        match self {
            OpKind::FullyConnected(_) | OpKind::Conv2d(_) | OpKind::DepthwiseConv2d(_) => &[2],
            OpKind::Reshape(_) => &[1],
            OpKind::Svdf(_) => &[3],
            _ => &[],
        }
    }

    /// The fused activation, for ops that have one.
    pub fn activation(&self) -> Option<Activation> {
        Some(match self {
            OpKind::FullyConnected(o) => o.activation,
            OpKind::Conv2d(o) => o.activation,
            OpKind::DepthwiseConv2d(o) => o.activation,
            OpKind::AveragePool2d(o) | OpKind::MaxPool2d(o) => o.activation,
            OpKind::Add(o) | OpKind::Sub(o) => o.activation,
            OpKind::Mul(o) => o.activation,
            OpKind::Concatenation(o) => o.activation,
            OpKind::Svdf(o) => o.activation,
            _ => return None,
        })
    }
}

/// `FullyConnectedOptions` (weights always in the default layout: the runtime rejects the
/// shuffled one).
#[derive(Clone, Debug, PartialEq)]
pub struct FullyConnectedOptions {
    pub activation: Activation,
    /// Keep the input's leading dimensions instead of flattening to `[batches, units]`.
    pub keep_num_dims: bool,
    /// Hybrid kernels only: quantize the float input asymmetrically.
    pub asymmetric_quantize_inputs: bool,
    /// The bias and accumulator type of int16x8 kernels when set (TFLite v11).
    pub quantized_bias_type: Option<DType>,
}

impl Default for FullyConnectedOptions {
    fn default() -> Self {
        FullyConnectedOptions {
            activation: Activation::None,
            keep_num_dims: false,
            asymmetric_quantize_inputs: false,
            quantized_bias_type: None,
        }
    }
}

/// `Conv2DOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub activation: Activation,
    /// The bias and accumulator type of int16x8 kernels when set (TFLite v8).
    pub quantized_bias_type: Option<DType>,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::None,
            quantized_bias_type: None,
        }
    }
}

/// `DepthwiseConv2DOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthwiseConv2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    /// Output channels per input channel. Redundant with the shapes (the tflm runtime and
    /// current LiteRT derive it from them) but older runtimes read it: keep it equal to
    /// `out_c / in_c`, or 0.
    pub depth_multiplier: i32,
    pub activation: Activation,
}

impl Default for DepthwiseConv2dOptions {
    fn default() -> Self {
        DepthwiseConv2dOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            depth_multiplier: 1,
            activation: Activation::None,
        }
    }
}

/// `Pool2DOptions`, shared by average and max pooling.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2dOptions {
    pub padding: Padding,
    pub stride_h: usize,
    pub stride_w: usize,
    pub filter_h: usize,
    pub filter_w: usize,
    pub activation: Activation,
}

/// `ReshapeOptions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReshapeOptions {
    /// The target shape as an option (older converters), when not given as a tensor.
    /// `None`: no options table field.
    pub new_shape: Option<Vec<i32>>,
}

/// `SqueezeOptions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqueezeOptions {
    /// Dimensions to remove (negative counts from the end); empty: every dimension of size 1.
    pub squeeze_dims: Vec<i32>,
}

/// `SoftmaxOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxOptions {
    pub beta: f32,
}

impl Default for SoftmaxOptions {
    fn default() -> Self {
        SoftmaxOptions { beta: 1.0 }
    }
}

/// `LeakyReluOptions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeakyReluOptions {
    /// Slope for negative inputs.
    pub alpha: f32,
}

/// `AddOptions` and `SubOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct AddSubOptions {
    pub activation: Activation,
    /// int16 only: the scales are powers of two and the kernel may use shifts (TFLite's
    /// default, `true`); `false` selects the general int16 kernel.
    pub pot_scale_int16: bool,
}

impl Default for AddSubOptions {
    fn default() -> Self {
        AddSubOptions {
            activation: Activation::None,
            pot_scale_int16: true,
        }
    }
}

/// `MulOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct MulOptions {
    pub activation: Activation,
}

impl Default for MulOptions {
    fn default() -> Self {
        MulOptions {
            activation: Activation::None,
        }
    }
}

/// `ConcatenationOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcatenationOptions {
    /// Negative counts from the end.
    pub axis: i32,
    pub activation: Activation,
}

/// `ReducerOptions` (MEAN).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReducerOptions {
    pub keep_dims: bool,
}

/// `StridedSliceOptions`: bit `i` of a mask is about dimension `i`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StridedSliceOptions {
    pub begin_mask: i32,
    pub end_mask: i32,
    pub ellipsis_mask: i32,
    pub new_axis_mask: i32,
    pub shrink_axis_mask: i32,
    /// `end` is an offset from `begin`.
    pub offset: bool,
}

/// `SVDFOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct SvdfOptions {
    pub rank: i32,
    pub activation: Activation,
    /// Hybrid kernels only.
    pub asymmetric_quantize_inputs: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_follow_the_schema() {
        let fc = OpKind::FullyConnected(FullyConnectedOptions::default());
        assert_eq!(fc.builtin_code(), 9);
        assert_eq!(fc.name(), "FULLY_CONNECTED");
        assert_eq!(OpKind::HardSwish.name(), "HARD_SWISH");
        assert_eq!(OpKind::ReluN1To1.name(), "RELU_N1_TO_1");
        assert_eq!(OpKind::PadV2.arity(), (3, 3, 1));
        assert_eq!(fc.optional_inputs(), &[2]);
    }

    #[test]
    fn op_accessors() {
        let mut op = Op::new(OpKind::Relu, [TensorId(0)], [TensorId(1)]);
        assert_eq!(op.input(0), Some(TensorId(0)));
        assert_eq!(op.input(1), None);
        op.inputs.push(None);
        assert_eq!(op.input(1), None);
        assert_eq!(op.output(0), Some(TensorId(1)));
        assert_eq!(op.name(), "RELU");
    }
}

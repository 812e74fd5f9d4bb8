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
    /// Tensors the kernel reads quantization parameters from but never touches: only the
    /// integer UNIDIRECTIONAL_SEQUENCE_LSTM has them (see [`OpKind::UnidirectionalSequenceLstm`]);
    /// empty for every other op.
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
    /// UNIDIRECTIONAL_SEQUENCE_LSTM: an LSTM layer over a whole sequence. 24 inputs in TFLite's
    /// order (20 are accepted on import, as old converters wrote; the writer keeps the count),
    /// absent optional ones `None` (-1 in the file). Gates are always ordered **input, forget,
    /// cell (candidate), output** (ONNX's `W`/`R`/`B` stack them as i, o, f, c and its peephole
    /// `P` as i, o, f: reorder when lowering):
    ///
    /// | k | tensor | shape | |
    /// |---|---|---|---|
    /// | 0 | input | `[batch, time, n_input]` (`[time, batch, n_input]` if `time_major`) | |
    /// | 1–4 | input-to-{input, forget, cell, output} weights `W_*` | `[n_cell, n_input]` | 1 absent with CIFG |
    /// | 5–8 | recurrent-to-{input, forget, cell, output} weights `R_*` | `[n_cell, n_output]` | 5 absent with CIFG |
    /// | 9–11 | cell-to-{input, forget, output} peephole weights | `[n_cell]` | optional, all or none (9 absent with CIFG) |
    /// | 12–15 | {input, forget, cell, output} gate bias | `[n_cell]` | 12 absent with CIFG |
    /// | 16 | projection weights | `[n_output, n_cell]` | optional |
    /// | 17 | projection bias | `[n_output]` | optional, only with 16 |
    /// | 18 | output state `h` (variable, zero-initialised) | `[batch, n_output]` | |
    /// | 19 | cell state `c` (variable, zero-initialised) | `[batch, n_cell]` | |
    /// | 20–23 | {input, forget, cell, output} layer-norm coefficients | `[n_cell]` | optional (the runtime rejects them) |
    ///
    /// Output 0: `[batch, time, n_output]` (same layout as the input), `h` after every step;
    /// for the last step only, follow with a STRIDED_SLICE (what TFLite's converter does).
    /// Without projection `n_output == n_cell`. Per step: `i = σ(W_i x + R_i h + p_i ⊙ c +
    /// b_i)` (CIFG: `i = 1 - f`), `f` likewise, `g = act(W_g x + R_g h + b_g)`,
    /// `c = clip(f ⊙ c + i ⊙ g)`, `o = σ(W_o x + R_o h + p_o ⊙ c + b_o)` (new `c`),
    /// `h = o ⊙ act(c)`, projected `h = clip(P h + b_p)` when 16 is present. ONNX's `B`
    /// holds `Wb` and `Rb`: the TFLite bias is their sum. ONNX's default activations
    /// (sigmoid, tanh, tanh) are the only ones TFLite has; `act` is `activation`.
    ///
    /// Float32: every operand float32, no intermediates. Integer (TFLite's 8x8→16 scheme):
    /// int8 input, weights (per-tensor, zero point 0) and output; int32 biases (scale
    /// `input_scale * weight_scale`; the projection bias `hidden_scale * projection_scale`);
    /// int16 peephole weights; output state int8 (the output's quantization); cell state int16
    /// with a power-of-two scale (`2^-11` for |c| < 16) and zero point 0; and exactly 5
    /// `Op::intermediates`: four gate pre-activation tensors (float32, shape `[0]`, no
    /// quantization: the kernel then uses Q3.12) and the hidden state `o ⊙ tanh(c)` (int8,
    /// shape `[0]`, its scale and zero point; without projection it must equal the output
    /// state's quantization).
    UnidirectionalSequenceLstm(LstmOptions),
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
            OpKind::UnidirectionalSequenceLstm(_) => code::UNIDIRECTIONAL_SEQUENCE_LSTM,
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
            OpKind::UnidirectionalSequenceLstm(_) => options_type::UNIDIRECTIONAL_SEQUENCE_LSTM,
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
            OpKind::UnidirectionalSequenceLstm(_) => (20, 24, 1),
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
            OpKind::UnidirectionalSequenceLstm(_) => &[1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23],
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

/// `UnidirectionalSequenceLSTMOptions`.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmOptions {
    /// `act` of the cell gate and of the output (`Tanh` in every converted model; the
    /// integer kernel always uses tanh).
    pub activation: GateActivation,
    /// Clip of the cell state (0: none).
    pub cell_clip: f32,
    /// Clip of the projection output (0: none).
    pub proj_clip: f32,
    /// Input and output are `[time, batch, features]`.
    pub time_major: bool,
    /// Hybrid kernels only.
    pub asymmetric_quantize_inputs: bool,
    /// Recurrent weights given as diagonals `[n_cell]` (TFLite v5; the runtime rejects it).
    pub diagonal_recurrent_tensors: bool,
}

impl Default for LstmOptions {
    fn default() -> Self {
        LstmOptions {
            activation: GateActivation::Tanh,
            cell_clip: 0.0,
            proj_clip: 0.0,
            time_major: false,
            asymmetric_quantize_inputs: false,
            diagonal_recurrent_tensors: false,
        }
    }
}

/// The schema's `ActivationFunctionType` as recurrent ops use it (TANH included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateActivation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
}

impl GateActivation {
    pub const fn from_schema(code: i8) -> Option<GateActivation> {
        Some(match code {
            0 => GateActivation::None,
            1 => GateActivation::Relu,
            2 => GateActivation::ReluN1To1,
            3 => GateActivation::Relu6,
            4 => GateActivation::Tanh,
            5 => GateActivation::SignBit,
            _ => return None,
        })
    }

    pub const fn schema_code(self) -> i8 {
        match self {
            GateActivation::None => 0,
            GateActivation::Relu => 1,
            GateActivation::ReluN1To1 => 2,
            GateActivation::Relu6 => 3,
            GateActivation::Tanh => 4,
            GateActivation::SignBit => 5,
        }
    }
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

//! `.tflite` → IR: the "float .tflite" import path of the converter, and the way to bring any
//! model the runtime runs into the IR (to re-quantize it, prune it or write it back).
//!
//! The bytes go through the runtime's own verifier first (`tflm_runtime::Model::parse`), so
//! whatever imports is a model the runtime runs; options are then read through the same
//! schema field ids (`tflm_runtime::schema`), with the same defaults the runtime applies when
//! a field is absent.

use crate::ir::{
    AddSubOptions, ConcatenationOptions, ConstData, Conv2dOptions, DepthwiseConv2dOptions,
    FullyConnectedOptions, GateActivation, Graph, LeakyReluOptions, LstmOptions, MulOptions, Op,
    OpKind, Pool2dOptions, Quantization, ReducerOptions, ReshapeOptions, SoftmaxOptions,
    SqueezeOptions, StridedSliceOptions, SvdfOptions, Tensor, TensorId, ValidationError,
};
use crate::run::AlignedBytes;
use tflm_runtime::flatbuf::Scalar;
use tflm_runtime::schema::{field, op as code, options_type};
use tflm_runtime::{Activation, DType, Model, Operator, Padding, ParseError};

/// Why a `.tflite` could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The runtime's verifier rejects the model (malformed, or an op or type it cannot run).
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("the model has {0} subgraphs; only single-subgraph models are supported")]
    Subgraphs(usize),
    #[error("tensor {index} ({name:?}): {what}")]
    Tensor {
        index: usize,
        name: String,
        what: String,
    },
    #[error("operator {index} ({name}): {what}")]
    Operator {
        index: usize,
        name: &'static str,
        what: String,
    },
    /// The imported graph breaks an IR rule the runtime's verifier does not check.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

/// Imports a `.tflite` flatbuffer (any alignment: the bytes are copied).
pub fn import(bytes: &[u8]) -> Result<Graph, ImportError> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice())?;
    if model.num_subgraphs() != 1 {
        return Err(ImportError::Subgraphs(model.num_subgraphs()));
    }
    let mut g = Graph::new();
    for i in 0..model.num_tensors() {
        g.tensors.push(tensor(&model, i)?);
    }
    for i in 0..model.num_operators() {
        let op = model.operator(i);
        let error = |what: String| ImportError::Operator {
            index: i,
            name: op.name(),
            what,
        };
        g.ops.push(operator(&op).map_err(error)?);
    }
    g.inputs = (0..model.num_inputs())
        .filter_map(|i| model.input_index(i))
        .map(TensorId)
        .collect();
    g.outputs = (0..model.num_outputs())
        .filter_map(|i| model.output_index(i))
        .map(TensorId)
        .collect();
    g.validate()?;
    Ok(g)
}

fn tensor(model: &Model<'_>, i: usize) -> Result<Tensor, ImportError> {
    let t = model.tensor(i);
    let error = |what: &str| ImportError::Tensor {
        index: i,
        name: t.name.to_string(),
        what: what.to_string(),
    };
    if t.is_sparse {
        return Err(error("sparse tensors are not supported"));
    }
    let data = match t.data {
        Some(bytes) => Some(
            ConstData::from_le_bytes(t.dtype, bytes)
                .ok_or_else(|| error("data is not a whole number of elements"))?,
        ),
        None => None,
    };
    let q = t.quantization;
    let quantization = q.is_quantized().then(|| {
        let scales: Vec<f32> = q.scales.iter().collect();
        let zero_points = if q.zero_points.is_empty() {
            vec![0; scales.len()]
        } else {
            q.zero_points.iter().collect()
        };
        Quantization {
            scales,
            zero_points,
            axis: q.quantized_dimension,
        }
    });
    Ok(Tensor {
        name: t.name.to_string(),
        shape: t.shape.dims().collect(),
        dtype: t.dtype,
        data,
        quantization,
        is_variable: t.is_variable,
    })
}

/// Reads one operator's options through the schema's field ids.
struct Options<'a, 'm>(&'a Operator<'m>);

impl Options<'_, '_> {
    fn get<T: Scalar>(&self, id: u16, default: T) -> Result<T, String> {
        self.0
            .option(id, default)
            .map_err(|e| format!("options: {e}"))
    }

    fn activation(&self, id: u16) -> Result<Activation, String> {
        let c = self.get::<i8>(id, 0)?;
        Activation::from_schema(c).ok_or_else(|| format!("unsupported fused activation {c}"))
    }

    fn padding(&self, id: u16) -> Result<Padding, String> {
        let c = self.get::<i8>(id, 0)?;
        Padding::from_schema(c).ok_or_else(|| format!("unknown padding {c}"))
    }

    /// A positive size (stride, dilation, filter size); absent means 1, as in the runtime.
    fn size(&self, id: u16) -> Result<usize, String> {
        let v = self.get::<i32>(id, 1)?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("size option {v} is not positive"))
    }

    /// `quantized_bias_type`: 0 (FLOAT32, the schema default) means unset.
    fn bias_type(&self, id: u16) -> Result<Option<DType>, String> {
        match self.get::<i8>(id, 0)? {
            0 => Ok(None),
            c => DType::from_schema(c)
                .map(Some)
                .ok_or_else(|| format!("unknown quantized_bias_type {c}")),
        }
    }

    fn ints(&self, id: u16) -> Result<Option<Vec<i32>>, String> {
        Ok(self
            .0
            .option_vector::<i32>(id)
            .map_err(|e| format!("options: {e}"))?
            .map(|v| v.iter().collect()))
    }
}

fn operator(op: &Operator<'_>) -> Result<Op, String> {
    let o = Options(op);
    let kind = match op.code {
        code::FULLY_CONNECTED => {
            use field::fully_connected_options as f;
            OpKind::FullyConnected(FullyConnectedOptions {
                activation: o.activation(f::FUSED_ACTIVATION)?,
                keep_num_dims: o.get(f::KEEP_NUM_DIMS, false)?,
                asymmetric_quantize_inputs: o.get(f::ASYMMETRIC_QUANTIZE_INPUTS, false)?,
                quantized_bias_type: o.bias_type(f::QUANTIZED_BIAS_TYPE)?,
            })
        }
        code::CONV_2D => {
            use field::conv2d_options as f;
            OpKind::Conv2d(Conv2dOptions {
                padding: o.padding(f::PADDING)?,
                stride_h: o.size(f::STRIDE_H)?,
                stride_w: o.size(f::STRIDE_W)?,
                dilation_h: o.size(f::DILATION_H)?,
                dilation_w: o.size(f::DILATION_W)?,
                activation: o.activation(f::FUSED_ACTIVATION)?,
                quantized_bias_type: o.bias_type(f::QUANTIZED_BIAS_TYPE)?,
            })
        }
        code::DEPTHWISE_CONV_2D => {
            use field::depthwise_conv2d_options as f;
            OpKind::DepthwiseConv2d(DepthwiseConv2dOptions {
                padding: o.padding(f::PADDING)?,
                stride_h: o.size(f::STRIDE_H)?,
                stride_w: o.size(f::STRIDE_W)?,
                dilation_h: o.size(f::DILATION_H)?,
                dilation_w: o.size(f::DILATION_W)?,
                depth_multiplier: o.get(f::DEPTH_MULTIPLIER, 0)?,
                activation: o.activation(f::FUSED_ACTIVATION)?,
            })
        }
        code::AVERAGE_POOL_2D | code::MAX_POOL_2D => {
            use field::pool2d_options as f;
            let p = Pool2dOptions {
                padding: o.padding(f::PADDING)?,
                stride_h: o.size(f::STRIDE_H)?,
                stride_w: o.size(f::STRIDE_W)?,
                filter_h: o.size(f::FILTER_HEIGHT)?,
                filter_w: o.size(f::FILTER_WIDTH)?,
                activation: o.activation(f::FUSED_ACTIVATION)?,
            };
            if op.code == code::MAX_POOL_2D {
                OpKind::MaxPool2d(p)
            } else {
                OpKind::AveragePool2d(p)
            }
        }
        code::RESHAPE => OpKind::Reshape(ReshapeOptions {
            new_shape: o.ints(field::reshape_options::NEW_SHAPE)?,
        }),
        code::SQUEEZE => OpKind::Squeeze(SqueezeOptions {
            squeeze_dims: o
                .ints(field::squeeze_options::SQUEEZE_DIMS)?
                .unwrap_or_default(),
        }),
        code::EXPAND_DIMS => OpKind::ExpandDims,
        code::SOFTMAX => OpKind::Softmax(SoftmaxOptions {
            beta: o.get(field::softmax_options::BETA, 1.0)?,
        }),
        code::LOGISTIC => OpKind::Logistic,
        code::TANH => OpKind::Tanh,
        code::RELU => OpKind::Relu,
        code::RELU6 => OpKind::Relu6,
        code::RELU_N1_TO_1 => OpKind::ReluN1To1,
        code::LEAKY_RELU => OpKind::LeakyRelu(LeakyReluOptions {
            alpha: o.get(field::leaky_relu_options::ALPHA, 0.0)?,
        }),
        code::HARD_SWISH => OpKind::HardSwish,
        code::ADD | code::SUB => {
            use field::add_options as f;
            let a = AddSubOptions {
                activation: o.activation(f::FUSED_ACTIVATION)?,
                pot_scale_int16: o.get(f::POT_SCALE_INT16, true)?,
            };
            if op.code == code::ADD {
                OpKind::Add(a)
            } else {
                OpKind::Sub(a)
            }
        }
        code::MUL => OpKind::Mul(MulOptions {
            activation: o.activation(field::mul_options::FUSED_ACTIVATION)?,
        }),
        code::QUANTIZE => OpKind::Quantize,
        code::DEQUANTIZE => OpKind::Dequantize,
        code::CONCATENATION => {
            use field::concatenation_options as f;
            OpKind::Concatenation(ConcatenationOptions {
                axis: o.get(f::AXIS, 0)?,
                activation: o.activation(f::FUSED_ACTIVATION)?,
            })
        }
        code::MEAN => OpKind::Mean(ReducerOptions {
            keep_dims: o.get(field::reducer_options::KEEP_DIMS, false)?,
        }),
        code::PAD => OpKind::Pad,
        code::PADV2 => OpKind::PadV2,
        code::STRIDED_SLICE => {
            use field::strided_slice_options as f;
            OpKind::StridedSlice(StridedSliceOptions {
                begin_mask: o.get(f::BEGIN_MASK, 0)?,
                end_mask: o.get(f::END_MASK, 0)?,
                ellipsis_mask: o.get(f::ELLIPSIS_MASK, 0)?,
                new_axis_mask: o.get(f::NEW_AXIS_MASK, 0)?,
                shrink_axis_mask: o.get(f::SHRINK_AXIS_MASK, 0)?,
                offset: o.get(f::OFFSET, false)?,
            })
        }
        code::TRANSPOSE => OpKind::Transpose,
        code::SVDF => {
            use field::svdf_options as f;
            OpKind::Svdf(SvdfOptions {
                rank: o.get(f::RANK, 0)?,
                activation: o.activation(f::FUSED_ACTIVATION)?,
                asymmetric_quantize_inputs: o.get(f::ASYMMETRIC_QUANTIZE_INPUTS, false)?,
            })
        }
        code::UNIDIRECTIONAL_SEQUENCE_LSTM => {
            use field::unidirectional_sequence_lstm_options as f;
            let a = o.get::<i8>(f::FUSED_ACTIVATION, 0)?;
            OpKind::UnidirectionalSequenceLstm(LstmOptions {
                activation: GateActivation::from_schema(a)
                    .ok_or_else(|| format!("unknown activation {a}"))?,
                cell_clip: o.get(f::CELL_CLIP, 0.0)?,
                proj_clip: o.get(f::PROJ_CLIP, 0.0)?,
                time_major: o.get(f::TIME_MAJOR, false)?,
                asymmetric_quantize_inputs: o.get(f::ASYMMETRIC_QUANTIZE_INPUTS, false)?,
                diagonal_recurrent_tensors: o.get(f::DIAGONAL_RECURRENT_TENSORS, false)?,
            })
        }
        other => return Err(format!("builtin code {other} has no IR operator")),
    };
    // A table of another options type would have been read with the wrong field ids.
    if op.options.is_some()
        && op.options_type != options_type::NONE
        && op.options_type != kind.options_type()
    {
        return Err(format!(
            "builtin_options_type {} does not belong to this operator (expected {})",
            op.options_type,
            kind.options_type()
        ));
    }
    let id = |t: i32| usize::try_from(t).ok().map(TensorId);
    Ok(Op {
        kind,
        inputs: op.inputs.iter().map(id).collect(),
        outputs: op.outputs.iter().filter_map(id).collect(),
        intermediates: op.intermediates.iter().filter_map(id).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tflm-runtime/tests/fixtures/ops/"
        );
        std::fs::read(format!("{dir}{name}.tflite")).unwrap()
    }

    #[test]
    fn imports_a_convolution_with_its_options_and_quantization() {
        let g = import(&fixture("conv_int8_same_s1")).unwrap();
        assert_eq!(g.ops.len(), 1);
        let op = &g.ops[0];
        let OpKind::Conv2d(o) = &op.kind else {
            panic!("{:?}", op.kind)
        };
        assert_eq!(o.padding, Padding::Same);
        assert_eq!((o.stride_h, o.stride_w), (1, 1));
        let w = g.tensor(op.input(1).unwrap());
        assert_eq!(w.dtype, DType::I8);
        assert!(matches!(w.data, Some(ConstData::I8(_))));
        let q = w.quantization.as_ref().unwrap();
        assert_eq!(q.scales.len(), q.zero_points.len());
        assert_eq!(g.inputs.len(), 1);
        assert_eq!(g.outputs, op.outputs);
    }

    #[test]
    fn imports_an_integer_lstm_with_absent_inputs_and_intermediates() {
        let g = import(&fixture("lstm_int8_projection")).unwrap();
        let op = &g.ops[0];
        let OpKind::UnidirectionalSequenceLstm(o) = &op.kind else {
            panic!("{:?}", op.kind)
        };
        assert_eq!(o.activation, GateActivation::Tanh);
        assert!((o.proj_clip - 0.6).abs() < 1e-6 && !o.time_major);
        assert_eq!(op.inputs.len(), 24);
        let absent: Vec<usize> = (0..24).filter(|&k| op.input(k).is_none()).collect();
        assert_eq!(absent, [9, 10, 11, 20, 21, 22, 23]);
        assert!(g.tensor(op.input(18).unwrap()).is_variable);
        assert_eq!(g.tensor(op.input(19).unwrap()).dtype, DType::I16);
        assert_eq!(op.intermediates.len(), 5);
        let hidden = g.tensor(op.intermediates[4]);
        assert_eq!(hidden.quantization.as_ref().unwrap().zero_points, [3]);
    }

    #[test]
    fn rejects_what_the_runtime_rejects() {
        let e = import(b"not a model").unwrap_err();
        assert!(matches!(e, ImportError::Parse(_)), "{e}");
        let mut bytes = fixture("fc_int8_relu");
        bytes.truncate(bytes.len() / 2);
        assert!(import(&bytes).is_err());
    }
}

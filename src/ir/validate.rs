//! `Graph::validate`: the structural rules every graph must keep (ids in range, execution
//! order, one writer per tensor, constant data that fits its tensor, sound quantization) and
//! the shape and type rules of each builtin that are cheap to see. The runtime's verifier
//! (`Model::parse`) remains the last word on what it can run; this catches a bad graph where
//! it is made, with the operator and tensor named.

use super::op::{Op, OpKind};
use super::shape;
use super::tensor::Tensor;
use super::Graph;
use tflm_runtime::model::MAX_RANK;
use tflm_runtime::DType;

/// Where a validation error is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Graph,
    Tensor { index: usize, name: String },
    Op { index: usize, name: &'static str },
}

impl core::fmt::Display for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Location::Graph => f.write_str("graph"),
            Location::Tensor { index, name } => write!(f, "tensor {index} ({name:?})"),
            Location::Op { index, name } => write!(f, "operator {index} ({name})"),
        }
    }
}

/// A rule the graph breaks, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ValidationError {
    pub location: Location,
    pub message: String,
}

impl Graph {
    /// Checks the graph; the first broken rule is the error.
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (i, t) in self.tensors.iter().enumerate() {
            check_tensor(t).map_err(|message| ValidationError {
                location: Location::Tensor {
                    index: i,
                    name: t.name.clone(),
                },
                message,
            })?;
        }
        let graph_error = |message: String| ValidationError {
            location: Location::Graph,
            message,
        };
        let n = self.tensors.len();
        let mut defined = vec![false; n];
        for (i, t) in self.tensors.iter().enumerate() {
            defined[i] = t.is_constant() || t.is_variable;
        }
        for (k, &id) in self.inputs.iter().enumerate() {
            let t = self
                .get_tensor(id)
                .ok_or_else(|| graph_error(format!("input {k} is {id}, out of {n} tensors")))?;
            if t.is_constant() || t.is_variable {
                return Err(graph_error(format!(
                    "input {k} ({id}, {:?}) is a constant or variable tensor",
                    t.name
                )));
            }
            if self.inputs[..k].contains(&id) {
                return Err(graph_error(format!("input {k} ({id}) is listed twice")));
            }
            defined[id.0] = true;
        }
        for (k, &id) in self.outputs.iter().enumerate() {
            if id.0 >= n {
                return Err(graph_error(format!(
                    "output {k} is {id}, out of {n} tensors"
                )));
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            let op_error = |message: String| ValidationError {
                location: Location::Op {
                    index: i,
                    name: op.name(),
                },
                message,
            };
            self.check_wiring(op, &defined).map_err(op_error)?;
            check_op(self, op).map_err(op_error)?;
            for o in &op.outputs {
                defined[o.0] = true;
            }
        }
        for (k, &id) in self.outputs.iter().enumerate() {
            if !defined[id.0] {
                return Err(graph_error(format!(
                    "output {k} ({id}, {:?}) is never written",
                    self.tensor(id).name
                )));
            }
        }
        Ok(())
    }

    /// Ids in range, arity, required inputs present and already defined, outputs written once.
    fn check_wiring(&self, op: &Op, defined: &[bool]) -> Result<(), String> {
        let n = self.tensors.len();
        let (min, max, outputs) = op.kind.arity();
        if op.inputs.len() < min || op.inputs.len() > max {
            let range = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(format!("{} inputs, expected {range}", op.inputs.len()));
        }
        if op.outputs.len() != outputs {
            return Err(format!("{} outputs, expected {outputs}", op.outputs.len()));
        }
        for (k, input) in op.inputs.iter().enumerate() {
            match input {
                None if op.kind.optional_inputs().contains(&k) => {}
                None => return Err(format!("input {k} is required but absent")),
                Some(id) if id.0 >= n => {
                    return Err(format!("input {k} is {id}, out of {n} tensors"))
                }
                Some(id) if !defined[id.0] => {
                    return Err(format!(
                        "input {k} ({id}, {:?}) is read before any operator writes it",
                        self.tensor(*id).name
                    ))
                }
                Some(_) => {}
            }
        }
        for (k, &id) in op.outputs.iter().enumerate() {
            let t = self
                .get_tensor(id)
                .ok_or_else(|| format!("output {k} is {id}, out of {n} tensors"))?;
            if t.is_constant() || t.is_variable {
                return Err(format!(
                    "output {k} ({id}, {:?}) is a constant or variable tensor",
                    t.name
                ));
            }
            if defined[id.0] || op.outputs[..k].contains(&id) {
                return Err(format!(
                    "output {k} ({id}, {:?}) is already written (by an earlier operator or as a \
                     graph input)",
                    t.name
                ));
            }
        }
        for (k, &id) in op.intermediates.iter().enumerate() {
            if id.0 >= n {
                return Err(format!("intermediate {k} is {id}, out of {n} tensors"));
            }
        }
        Ok(())
    }
}

/// The value range of a quantized type's zero point.
fn zero_point_range(dtype: DType) -> (i64, i64) {
    match dtype {
        DType::I8 => (i8::MIN as i64, i8::MAX as i64),
        DType::U8 => (0, u8::MAX as i64),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64),
        _ => (i32::MIN as i64, i32::MAX as i64),
    }
}

fn check_tensor(t: &Tensor) -> Result<(), String> {
    if t.rank() > MAX_RANK {
        return Err(format!(
            "rank {} is above the runtime's {MAX_RANK}",
            t.rank()
        ));
    }
    if let Some(data) = &t.data {
        if data.dtype() != t.dtype {
            return Err(format!(
                "constant data is {} but the tensor is {}",
                data.dtype(),
                t.dtype
            ));
        }
        if data.len() != t.num_elements() {
            return Err(format!(
                "constant data has {} values but shape {:?} needs {}",
                data.len(),
                t.shape,
                t.num_elements()
            ));
        }
        if t.is_variable {
            return Err("a variable tensor has constant data".into());
        }
    }
    if let Some(q) = &t.quantization {
        if q.scales.is_empty() {
            return Err("quantization without scales".into());
        }
        if q.zero_points.len() != q.scales.len() {
            return Err(format!(
                "{} quantization scales but {} zero points",
                q.scales.len(),
                q.zero_points.len()
            ));
        }
        if let Some(s) = q.scales.iter().find(|s| !s.is_finite() || **s < 0.0) {
            return Err(format!("quantization scale {s} is negative or not finite"));
        }
        let (lo, hi) = zero_point_range(t.dtype);
        if let Some(z) = q.zero_points.iter().find(|z| !(lo..=hi).contains(*z)) {
            return Err(format!(
                "zero point {z} is outside the range of {}",
                t.dtype
            ));
        }
        if q.is_per_channel() && t.shape.get(q.axis) != Some(&q.scales.len()) {
            return Err(format!(
                "{} per-channel scales along axis {} of shape {:?}",
                q.scales.len(),
                q.axis,
                t.shape
            ));
        }
    }
    Ok(())
}

/// The shape and type rules of each builtin that are cheap to see.
fn check_op(g: &Graph, op: &Op) -> Result<(), String> {
    let input = |k: usize| op.input(k).map(|id| g.tensor(id));
    let req = |k: usize| input(k).ok_or_else(|| format!("input {k} is required but absent"));
    let x = req(0)?;
    let out = g.tensor(op.outputs[0]);
    let same_type = |what: &str| {
        if x.dtype == out.dtype {
            Ok(())
        } else {
            Err(format!(
                "{what}: input is {}, output is {}",
                x.dtype, out.dtype
            ))
        }
    };
    let expect_shape = |want: Option<Vec<usize>>, what: &str| match want {
        Some(s) if s == out.shape => Ok(()),
        Some(s) => Err(format!(
            "output shape {:?} differs from {s:?}, {what}",
            out.shape
        )),
        None => Err(format!("the operands do not fit together ({what})")),
    };
    match &op.kind {
        OpKind::FullyConnected(_) => {
            let w = req(1)?;
            let [units, depth] = w.shape[..] else {
                return Err(format!(
                    "weights must be 2-D [units, depth], not {:?}",
                    w.shape
                ));
            };
            if depth == 0 || x.num_elements() % depth != 0 {
                return Err(format!(
                    "input shape {:?} is not a whole number of rows of depth {depth}",
                    x.shape
                ));
            }
            let batches = x.num_elements() / depth;
            if out.num_elements() != batches * units {
                return Err(format!(
                    "output shape {:?} does not hold {batches} x {units} values",
                    out.shape
                ));
            }
            check_bias(input(2), units)?;
        }
        OpKind::Conv2d(o) => {
            let w = req(1)?;
            check_window(
                x,
                w,
                out,
                [o.stride_h, o.stride_w],
                [o.dilation_h, o.dilation_w],
                o.padding,
                w.shape.first().copied(),
            )?;
            let (in_c, f_c) = (x.shape[3], w.shape[3]);
            if f_c == 0 || in_c % f_c != 0 {
                return Err(format!(
                    "input channels {in_c} are not a multiple of the weights' {f_c}"
                ));
            }
            check_bias(input(2), w.shape[0])?;
        }
        OpKind::DepthwiseConv2d(o) => {
            let w = req(1)?;
            check_window(
                x,
                w,
                out,
                [o.stride_h, o.stride_w],
                [o.dilation_h, o.dilation_w],
                o.padding,
                w.shape.get(3).copied(),
            )?;
            let (in_c, out_c) = (x.shape[3], w.shape[3]);
            if w.shape[0] != 1 {
                return Err(format!(
                    "weights must have shape [1, h, w, channels], not {:?}",
                    w.shape
                ));
            }
            if in_c == 0 || out_c % in_c != 0 {
                return Err(format!(
                    "output channels {out_c} are not a multiple of the input's {in_c}"
                ));
            }
            let m = (out_c / in_c) as i32;
            if o.depth_multiplier != 0 && o.depth_multiplier != m {
                return Err(format!(
                    "depth_multiplier {} differs from the shapes' {m}",
                    o.depth_multiplier
                ));
            }
            check_bias(input(2), out_c)?;
        }
        OpKind::AveragePool2d(o) | OpKind::MaxPool2d(o) => {
            if x.rank() != 4 || out.rank() != 4 {
                return Err("input and output must be 4-D".into());
            }
            let want = (|| {
                Some(vec![
                    x.shape[0],
                    shape::window_output(x.shape[1], o.filter_h, o.stride_h, 1, o.padding)?,
                    shape::window_output(x.shape[2], o.filter_w, o.stride_w, 1, o.padding)?,
                    x.shape[3],
                ])
            })();
            expect_shape(want, "as the window gives")?;
            same_type("pooling keeps the type")?;
        }
        OpKind::Reshape(_) | OpKind::Squeeze(_) | OpKind::ExpandDims => {
            if x.num_elements() != out.num_elements() {
                return Err(format!(
                    "input {:?} and output {:?} differ in element count",
                    x.shape, out.shape
                ));
            }
            same_type("reshaping keeps the type")?;
        }
        OpKind::Softmax(_) | OpKind::Quantize | OpKind::Dequantize => {
            if x.shape != out.shape {
                return Err(format!(
                    "input {:?} and output {:?} differ in shape",
                    x.shape, out.shape
                ));
            }
            if op.kind == OpKind::Dequantize && out.dtype != DType::F32 {
                return Err(format!("output is {}, not float32", out.dtype));
            }
        }
        OpKind::Logistic
        | OpKind::Tanh
        | OpKind::Relu
        | OpKind::Relu6
        | OpKind::ReluN1To1
        | OpKind::LeakyRelu(_)
        | OpKind::HardSwish => {
            if x.shape != out.shape {
                return Err(format!(
                    "input {:?} and output {:?} differ in shape",
                    x.shape, out.shape
                ));
            }
            same_type("activations keep the type")?;
        }
        OpKind::Add(_) | OpKind::Sub(_) | OpKind::Mul(_) => {
            let y = req(1)?;
            if x.dtype != y.dtype {
                return Err(format!("inputs are {} and {}", x.dtype, y.dtype));
            }
            expect_shape(
                shape::broadcast(&x.shape, &y.shape),
                "the broadcast of the inputs",
            )?;
        }
        OpKind::Concatenation(o) => {
            let mut shapes = Vec::new();
            for k in 0..op.inputs.len() {
                let t = req(k)?;
                if t.dtype != out.dtype {
                    return Err(format!("input {k} is {}, output is {}", t.dtype, out.dtype));
                }
                shapes.push(t.shape.as_slice());
            }
            expect_shape(
                shape::concatenate(&shapes, o.axis as i64),
                &format!("the inputs joined along axis {}", o.axis),
            )?;
        }
        OpKind::Mean(o) => {
            let axes = constant_indices(req(1)?, "axes")?;
            expect_shape(
                shape::reduce(&x.shape, &axes, o.keep_dims),
                "the reduced input",
            )?;
            same_type("MEAN keeps the type")?;
        }
        OpKind::Pad | OpKind::PadV2 => {
            let paddings = constant_indices(req(1)?, "paddings")?;
            expect_shape(shape::pad(&x.shape, &paddings), "the padded input")?;
            same_type("padding keeps the type")?;
            if op.kind == OpKind::PadV2 {
                let v = req(2)?;
                if v.num_elements() != 1 || v.dtype != x.dtype {
                    return Err(format!(
                        "pad value must be one {} element, not {} {:?}",
                        x.dtype, v.dtype, v.shape
                    ));
                }
            }
        }
        OpKind::StridedSlice(_) => {
            let mut len = None;
            for (k, what) in [(1, "begin"), (2, "end"), (3, "strides")] {
                let t = req(k)?;
                constant_indices(t, what)?;
                if t.rank() != 1 || len.is_some_and(|l| l != t.shape[0]) {
                    return Err("begin, end and strides must be 1-D of one length".into());
                }
                len = Some(t.shape[0]);
            }
            same_type("slicing keeps the type")?;
        }
        OpKind::Transpose => {
            let perm = constant_indices(req(1)?, "permutation")?;
            expect_shape(shape::transpose(&x.shape, &perm), "the permuted input")?;
            same_type("TRANSPOSE keeps the type")?;
        }
        OpKind::Svdf(_) => {
            if !req(4)?.is_variable {
                return Err("the state (input 4) must be a variable tensor".into());
            }
            if x.rank() != 2 || req(1)?.rank() != 2 || req(2)?.rank() != 2 {
                return Err("input, feature and time weights must be 2-D".into());
            }
        }
        OpKind::UnidirectionalSequenceLstm(_) => {
            if op.inputs.len() != 20 && op.inputs.len() != 24 {
                return Err(format!("{} inputs, expected 24 (or 20)", op.inputs.len()));
            }
            if !req(18)?.is_variable || !req(19)?.is_variable {
                return Err("the output and cell states (inputs 18, 19) must be variable".into());
            }
            let (w, r) = (req(4)?, req(8)?);
            if x.rank() != 3 || w.rank() != 2 || r.rank() != 2 || w.shape[1] != x.shape[2] {
                return Err("input must be 3-D and the weights [n_cell, n_input]".into());
            }
            let mut want = x.shape.clone();
            want[2] = r.shape[1];
            expect_shape(Some(want), "[.., .., n_output]")?;
            same_type("the LSTM output has the input's type")?;
        }
    }
    Ok(())
}

fn check_bias(bias: Option<&Tensor>, channels: usize) -> Result<(), String> {
    match bias {
        Some(b) if b.num_elements() != channels => Err(format!(
            "bias has {} values for {channels} output channels",
            b.num_elements()
        )),
        _ => Ok(()),
    }
}

/// The spatial rules of CONV_2D and DEPTHWISE_CONV_2D: 4-D operands and the output size the
/// window gives.
fn check_window(
    x: &Tensor,
    w: &Tensor,
    out: &Tensor,
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: tflm_runtime::Padding,
    out_channels: Option<usize>,
) -> Result<(), String> {
    if x.rank() != 4 || w.rank() != 4 || out.rank() != 4 {
        return Err(format!(
            "input {:?}, weights {:?} and output {:?} must be 4-D",
            x.shape, w.shape, out.shape
        ));
    }
    let want = (|| {
        Some(vec![
            x.shape[0],
            shape::window_output(x.shape[1], w.shape[1], stride[0], dilation[0], padding)?,
            shape::window_output(x.shape[2], w.shape[2], stride[1], dilation[1], padding)?,
            out_channels?,
        ])
    })();
    match want {
        Some(s) if s == out.shape => Ok(()),
        Some(s) => Err(format!(
            "output shape {:?} differs from {s:?}, the one the window gives",
            out.shape
        )),
        None => Err("stride, dilation or window size is zero".into()),
    }
}

/// A constant int32/int64 index tensor's values.
fn constant_indices(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    t.data
        .as_ref()
        .and_then(|d| d.to_indices())
        .ok_or_else(|| format!("{what} must be a constant int32 or int64 tensor"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ConstData, FullyConnectedOptions, Quantization, TensorId};

    /// x[1,4] -> FC(w[3,4], b[3]) -> y[1,3]
    fn fc_graph() -> Graph {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 4]));
        let w = g.add_tensor(Tensor::constant(
            "w",
            vec![3, 4],
            ConstData::F32(vec![0.5; 12]),
        ));
        let b = g.add_tensor(Tensor::constant("b", vec![3], ConstData::F32(vec![0.0; 3])));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 3]));
        g.add_op(Op::new(
            OpKind::FullyConnected(FullyConnectedOptions::default()),
            [x, w, b],
            [y],
        ));
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    fn err(g: &Graph) -> String {
        g.validate().unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_sound_graph() {
        fc_graph().validate().unwrap();
        let mut g = fc_graph();
        g.ops[0].inputs[2] = None;
        g.validate().unwrap();
        assert_eq!(g.unused_tensors(), vec![TensorId(2)]);
    }

    #[test]
    fn names_dangling_ids() {
        let mut g = fc_graph();
        g.ops[0].inputs[1] = Some(TensorId(9));
        assert_eq!(
            err(&g),
            "operator 0 (FULLY_CONNECTED): input 1 is tensor 9, out of 4 tensors"
        );
        let mut g = fc_graph();
        g.outputs = vec![TensorId(4)];
        assert_eq!(err(&g), "graph: output 0 is tensor 4, out of 4 tensors");
        let mut g = fc_graph();
        g.ops[0].inputs[0] = None;
        assert_eq!(
            err(&g),
            "operator 0 (FULLY_CONNECTED): input 0 is required but absent"
        );
    }

    #[test]
    fn checks_order_and_single_writer() {
        let mut g = fc_graph();
        g.inputs.clear();
        assert_eq!(
            err(&g),
            "operator 0 (FULLY_CONNECTED): input 0 (tensor 0, \"x\") is read before any \
             operator writes it"
        );
        let mut g = fc_graph();
        g.ops[0].outputs = vec![TensorId(0)];
        assert!(err(&g).contains("is already written"), "{}", err(&g));
        let mut g = fc_graph();
        g.ops.clear();
        assert_eq!(
            err(&g),
            "graph: output 0 (tensor 3, \"y\") is never written"
        );
    }

    #[test]
    fn checks_constant_data_and_quantization() {
        let mut g = fc_graph();
        g.tensors[1].data = Some(ConstData::F32(vec![0.0; 11]));
        assert_eq!(
            err(&g),
            "tensor 1 (\"w\"): constant data has 11 values but shape [3, 4] needs 12"
        );
        let mut g = fc_graph();
        g.tensors[1].data = Some(ConstData::I8(vec![0; 12]));
        assert_eq!(
            err(&g),
            "tensor 1 (\"w\"): constant data is int8 but the tensor is float32"
        );
        let mut g = fc_graph();
        g.tensors[1].quantization = Some(Quantization::per_channel(vec![0.1; 4], 0));
        assert_eq!(
            err(&g),
            "tensor 1 (\"w\"): 4 per-channel scales along axis 0 of shape [3, 4]"
        );
        let mut g = fc_graph();
        g.tensors[0].dtype = DType::I8;
        g.tensors[0].quantization = Some(Quantization::per_tensor(0.1, 200));
        assert_eq!(
            err(&g),
            "tensor 0 (\"x\"): zero point 200 is outside the range of int8"
        );
    }

    #[test]
    fn checks_shapes_and_types() {
        let mut g = fc_graph();
        g.tensors[3].shape = vec![1, 4];
        assert_eq!(
            err(&g),
            "operator 0 (FULLY_CONNECTED): output shape [1, 4] does not hold 1 x 3 values"
        );
        let mut g = fc_graph();
        g.tensors[2].shape = vec![2];
        g.tensors[2].data = Some(ConstData::F32(vec![0.0; 2]));
        assert_eq!(
            err(&g),
            "operator 0 (FULLY_CONNECTED): bias has 2 values for 3 output channels"
        );
        let mut g = fc_graph();
        let z = g.add_tensor(Tensor::activation("z", DType::I8, vec![1, 3]));
        g.add_op(Op::new(OpKind::Relu, [TensorId(3)], [z]));
        assert_eq!(
            err(&g),
            "operator 1 (RELU): activations keep the type: input is float32, output is int8"
        );
        let mut g = fc_graph();
        let z = g.add_tensor(Tensor::activation("z", DType::F32, vec![2, 3]));
        g.add_op(Op::new(
            OpKind::Add(Default::default()),
            [TensorId(3), TensorId(0)],
            [z],
        ));
        assert_eq!(
            err(&g),
            "operator 1 (ADD): the operands do not fit together (the broadcast of the inputs)"
        );
    }

    /// x[1,8,8,3] -> CONV_2D(w[4,3,3,3], SAME, stride 2) -> y[1,4,4,4]
    fn conv_graph() -> Graph {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 8, 8, 3]));
        let w = g.add_tensor(Tensor::constant(
            "w",
            vec![4, 3, 3, 3],
            ConstData::F32(vec![0.0; 108]),
        ));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 4, 4, 4]));
        let o = crate::ir::Conv2dOptions {
            padding: tflm_runtime::Padding::Same,
            stride_h: 2,
            stride_w: 2,
            ..Default::default()
        };
        g.add_op(Op::new(OpKind::Conv2d(o), [x, w], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    #[test]
    fn checks_convolution_geometry() {
        conv_graph().validate().unwrap();
        let mut g = conv_graph();
        if let OpKind::Conv2d(o) = &mut g.ops[0].kind {
            o.padding = tflm_runtime::Padding::Valid;
        }
        assert_eq!(
            err(&g),
            "operator 0 (CONV_2D): output shape [1, 4, 4, 4] differs from [1, 3, 3, 4], the \
             one the window gives"
        );
        let mut g = conv_graph();
        g.tensors[0].shape = vec![1, 8, 8, 2];
        assert_eq!(
            err(&g),
            "operator 0 (CONV_2D): input channels 2 are not a multiple of the weights' 3"
        );
        let mut g = conv_graph();
        g.ops[0].kind = OpKind::DepthwiseConv2d(crate::ir::DepthwiseConv2dOptions {
            padding: tflm_runtime::Padding::Same,
            stride_h: 2,
            stride_w: 2,
            depth_multiplier: 3,
            ..Default::default()
        });
        g.tensors[2].shape = vec![1, 4, 4, 3];
        assert!(err(&g).contains("weights must have shape [1, h, w, channels]"));
    }

    #[test]
    fn checks_index_operands() {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::I8, vec![2, 3, 4]));
        let perm = g.add_tensor(Tensor::constant(
            "perm",
            vec![3],
            ConstData::I32(vec![2, 0, 1]),
        ));
        let y = g.add_tensor(Tensor::activation("y", DType::I8, vec![4, 2, 3]));
        let axes = g.add_tensor(Tensor::constant("axes", vec![1], ConstData::I32(vec![-1])));
        let m = g.add_tensor(Tensor::activation("m", DType::I8, vec![4, 2]));
        g.add_op(Op::new(OpKind::Transpose, [x, perm], [y]));
        g.add_op(Op::new(
            OpKind::Mean(crate::ir::ReducerOptions { keep_dims: false }),
            [y, axes],
            [m],
        ));
        g.inputs = vec![x];
        g.outputs = vec![m];
        g.validate().unwrap();
        g.tensors[1].data = Some(ConstData::I32(vec![2, 2, 1]));
        assert_eq!(
            err(&g),
            "operator 0 (TRANSPOSE): the operands do not fit together (the permuted input)"
        );
        g.tensors[1].data = None;
        assert_eq!(
            err(&g),
            "operator 0 (TRANSPOSE): input 1 (tensor 1, \"perm\") is read before any operator \
             writes it"
        );
        g.tensors[1].data = Some(ConstData::I32(vec![2, 0, 1]));
        g.tensors[4].shape = vec![4, 2, 1];
        assert_eq!(
            err(&g),
            "operator 1 (MEAN): output shape [4, 2, 1] differs from [4, 2], the reduced input"
        );
    }
}

//! The IR graph as a differentiable candle model.
//!
//! Every operator of the float graph is evaluated with candle tensor operations, so candle's
//! autograd gives the gradients (no backward pass is written here). Activations keep the IR's
//! layouts (NHWC, `[batch, time, features]`) with a batch of any size in the leading axis;
//! weights stay in TFLite's layouts (OHWI for CONV_2D, 1HWO for DEPTHWISE_CONV_2D, `[units,
//! depth]` for FULLY_CONNECTED) and are permuted to candle's NCHW/OIHW inside the forward pass,
//! so writing them back into the graph is a plain copy.
//!
//! The trainable parameters are the float constants at the weight and bias positions of
//! FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D and UNIDIRECTIONAL_SEQUENCE_LSTM; every other
//! constant (a shape, an ADD operand) is fixed.

use super::lstm;
use super::qat::FakeQuant;
use super::TrainError;
use crate::ir::{ConstData, Graph, Op, OpKind, TensorId};
use candle_core::{DType, Device, Tensor, Var, D};
use tflm_runtime::{Activation, Padding};

/// A graph with candle variables for its trainable constants.
pub struct Net {
    pub graph: Graph,
    /// The trainable constants, in first-use order.
    pub params: Vec<(TensorId, Var)>,
}

/// Input positions of trainable constants, per operator.
fn trainable_inputs(kind: &OpKind) -> &'static [usize] {
    match kind {
        OpKind::FullyConnected(_) | OpKind::Conv2d(_) | OpKind::DepthwiseConv2d(_) => &[1, 2],
        OpKind::UnidirectionalSequenceLstm(_) => {
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        }
        _ => &[],
    }
}

/// The candle error of an operator, with its index and name.
pub(crate) fn op_error(i: usize, op: &Op, e: impl std::fmt::Display) -> TrainError {
    TrainError::Op {
        op: i,
        name: op.name(),
        message: e.to_string(),
    }
}

impl Net {
    /// Builds the candle model of `graph` (a float graph; a quantized one is refused).
    pub fn new(graph: &Graph) -> Result<Net, TrainError> {
        let mut params: Vec<(TensorId, Var)> = Vec::new();
        for (i, op) in graph.ops.iter().enumerate() {
            if matches!(op.kind, OpKind::Quantize | OpKind::Dequantize) {
                return Err(op_error(i, op, "training needs the float graph"));
            }
            for &k in trainable_inputs(&op.kind) {
                let Some(id) = op.input(k) else { continue };
                if params.iter().any(|(p, _)| *p == id) {
                    continue;
                }
                let t = graph.tensor(id);
                if let Some(values) = t.f32_data() {
                    let tensor = Tensor::from_slice(values, t.shape.as_slice(), &Device::Cpu)
                        .map_err(|e| op_error(i, op, e))?;
                    let var = Var::from_tensor(&tensor).map_err(|e| op_error(i, op, e))?;
                    params.push((id, var));
                }
            }
        }
        Ok(Net {
            graph: graph.clone(),
            params,
        })
    }

    /// The variables, for the optimizer.
    pub fn vars(&self) -> Vec<Var> {
        self.params.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The variable of a trainable tensor.
    pub fn var(&self, id: TensorId) -> Option<&Var> {
        self.params.iter().find(|(p, _)| *p == id).map(|(_, v)| v)
    }

    /// Copies the trained values into `graph` (the graph this net was built from, or one
    /// with the same tensors).
    pub fn write_back(&self, graph: &mut Graph) -> Result<(), TrainError> {
        for (id, var) in &self.params {
            let values: Vec<f32> = var
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(TrainError::candle)?;
            graph.tensor_mut(*id).data = Some(ConstData::F32(values));
        }
        Ok(())
    }

    /// The forward pass on a batch: one tensor per graph input, shaped `[batch, ..]` as the
    /// input's IR shape after its leading 1. Returns every tensor's value (indexed by
    /// `TensorId`), so that a loss can read an output or the logits before a SOFTMAX.
    /// `fq`, when given, fake-quantizes weights and activations (QAT).
    pub fn forward_all(
        &self,
        inputs: &[Tensor],
        mut fq: Option<&mut FakeQuant>,
    ) -> Result<Vec<Option<Tensor>>, TrainError> {
        let g = &self.graph;
        let mut values: Vec<Option<Tensor>> = vec![None; g.tensors.len()];
        for (&id, x) in g.inputs.iter().zip(inputs) {
            let x = match fq.as_deref_mut() {
                Some(q) => q.activation(id, x).map_err(TrainError::candle)?,
                None => x.clone(),
            };
            values[id.index()] = Some(x);
        }
        for (i, op) in g.ops.iter().enumerate() {
            let y = self
                .eval(op, &values, fq.as_deref_mut())
                .map_err(|e| match e {
                    Eval::Candle(e) => op_error(i, op, e),
                    Eval::Unsupported(m) => op_error(i, op, m),
                })?;
            let out = op.outputs[0];
            let y = match fq.as_deref_mut() {
                Some(q) => q.activation(out, &y).map_err(TrainError::candle)?,
                None => y,
            };
            values[out.index()] = Some(y);
        }
        Ok(values)
    }

    /// The graph's outputs for a batch.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, TrainError> {
        let values = self.forward_all(inputs, None)?;
        self.graph
            .outputs
            .iter()
            .map(|&id| {
                values[id.index()].clone().ok_or_else(|| {
                    TrainError::Graph(format!("output tensor {} not computed", id.0))
                })
            })
            .collect()
    }

    /// The value of input `k` of `op`: an activation computed before, a trainable variable
    /// (fake-quantized under QAT), or a fixed constant.
    fn input(
        &self,
        op: &Op,
        k: usize,
        values: &[Option<Tensor>],
        fq: Option<&mut FakeQuant>,
    ) -> Result<Option<Tensor>, Eval> {
        let Some(id) = op.input(k) else {
            return Ok(None);
        };
        if let Some(v) = &values[id.index()] {
            return Ok(Some(v.clone()));
        }
        if let Some(var) = self.var(id) {
            let t = var.as_tensor();
            return Ok(Some(match fq {
                Some(q) => q.weight(op, k, id, t)?,
                None => t.clone(),
            }));
        }
        let t = self.graph.tensor(id);
        match t.f32_data() {
            Some(v) => Ok(Some(Tensor::from_slice(
                v,
                t.shape.as_slice(),
                &Device::Cpu,
            )?)),
            None => Err(Eval::Unsupported(format!(
                "input {k} ({:?}) is neither computed nor a float constant",
                t.name
            ))),
        }
    }

    fn required(
        &self,
        op: &Op,
        k: usize,
        values: &[Option<Tensor>],
        fq: Option<&mut FakeQuant>,
    ) -> Result<Tensor, Eval> {
        self.input(op, k, values, fq)?
            .ok_or_else(|| Eval::Unsupported(format!("input {k} is missing")))
    }

    /// An integer constant input (shapes, axes, paddings, slices).
    fn indices(&self, op: &Op, k: usize) -> Result<Vec<i64>, Eval> {
        op.input(k)
            .and_then(|id| self.graph.tensor(id).data.as_ref())
            .and_then(ConstData::to_indices)
            .ok_or_else(|| Eval::Unsupported(format!("input {k} must be an integer constant")))
    }

    /// The shape of tensor `id` for a batch: the IR shape with its leading dimension set so
    /// that it holds `elements` values.
    fn batched(&self, id: TensorId, elements: usize) -> Vec<usize> {
        let mut shape = self.graph.tensor(id).shape.clone();
        if shape.is_empty() {
            return shape;
        }
        let rest: usize = shape[1..].iter().product();
        shape[0] = elements / rest.max(1);
        shape
    }

    fn eval(
        &self,
        op: &Op,
        values: &[Option<Tensor>],
        mut fq: Option<&mut FakeQuant>,
    ) -> Result<Tensor, Eval> {
        let out = op.outputs[0];
        let x = self.required(op, 0, values, None)?;
        let reshape_out = |t: Tensor| -> Result<Tensor, Eval> {
            let shape = self.batched(out, t.elem_count());
            Ok(t.reshape(shape)?)
        };
        Ok(match &op.kind {
            OpKind::FullyConnected(o) => {
                let w = self.required(op, 1, values, fq.as_deref_mut())?;
                let depth = w.dims()[1];
                let x2 = x.reshape(((), depth))?;
                let mut y = x2.matmul(&w.t()?)?;
                if let Some(b) = self.input(op, 2, values, fq.as_deref_mut())? {
                    y = y.broadcast_add(&b)?;
                }
                reshape_out(fused(y, o.activation)?)?
            }
            OpKind::Conv2d(o) => {
                let w = self.required(op, 1, values, fq.as_deref_mut())?;
                let b = self.input(op, 2, values, fq.as_deref_mut())?;
                let (kh, kw, in_per_group) = (w.dims()[1], w.dims()[2], w.dims()[3]);
                let groups = x.dims()[3] / in_per_group.max(1);
                let kernel = w.permute((0, 3, 1, 2))?.contiguous()?;
                let geometry = Geometry {
                    padding: o.padding,
                    stride: (o.stride_h, o.stride_w),
                    dilation: (o.dilation_h, o.dilation_w),
                    kernel: (kh, kw),
                };
                let y = conv(&x, &kernel, b.as_ref(), &geometry, groups)?;
                fused(y, o.activation)?
            }
            OpKind::DepthwiseConv2d(o) => {
                let w = self.required(op, 1, values, fq.as_deref_mut())?;
                let b = self.input(op, 2, values, fq.as_deref_mut())?;
                let (kh, kw) = (w.dims()[1], w.dims()[2]);
                // [1, kh, kw, out_c] → [out_c, 1, kh, kw]: one group per input channel, output
                // channel `c * multiplier + j` reading input channel `c`, as TFLite's.
                let kernel = w.permute((3, 0, 1, 2))?.contiguous()?;
                let geometry = Geometry {
                    padding: o.padding,
                    stride: (o.stride_h, o.stride_w),
                    dilation: (o.dilation_h, o.dilation_w),
                    kernel: (kh, kw),
                };
                let groups = x.dims()[3];
                let y = conv(&x, &kernel, b.as_ref(), &geometry, groups)?;
                fused(y, o.activation)?
            }
            OpKind::AveragePool2d(o) | OpKind::MaxPool2d(o) => {
                let geometry = Geometry {
                    padding: o.padding,
                    stride: (o.stride_h, o.stride_w),
                    dilation: (1, 1),
                    kernel: (o.filter_h, o.filter_w),
                };
                let (h, w) = (x.dims()[1], x.dims()[2]);
                let (ph, pw) = (geometry.pads(0, h), geometry.pads(1, w));
                if ph != (0, 0) || pw != (0, 0) {
                    return Err(Eval::Unsupported(
                        "pooling with SAME padding that pads is not supported in training".into(),
                    ));
                }
                let nchw = x.permute((0, 3, 1, 2))?;
                let y = if matches!(op.kind, OpKind::MaxPool2d(_)) {
                    nchw.max_pool2d_with_stride(geometry.kernel, geometry.stride)?
                } else {
                    nchw.avg_pool2d_with_stride(geometry.kernel, geometry.stride)?
                };
                fused(y.permute((0, 2, 3, 1))?.contiguous()?, o.activation)?
            }
            OpKind::Reshape(_) | OpKind::Squeeze(_) | OpKind::ExpandDims => {
                reshape_out(x.contiguous()?)?
            }
            OpKind::Softmax(o) => {
                candle_nn::ops::softmax(&x.affine(f64::from(o.beta), 0.0)?, D::Minus1)?
            }
            OpKind::Logistic => sigmoid(&x)?,
            OpKind::Tanh => x.tanh()?,
            OpKind::Relu => x.relu()?,
            OpKind::Relu6 => x.clamp(0f32, 6f32)?,
            OpKind::ReluN1To1 => x.clamp(-1f32, 1f32)?,
            OpKind::LeakyRelu(o) => {
                let neg = x.affine(f64::from(o.alpha), 0.0)?;
                x.ge(0f32)?.where_cond(&x, &neg)?
            }
            OpKind::HardSwish => {
                let r = x.affine(1.0, 3.0)?.clamp(0f32, 6f32)?;
                (x * r)?.affine(1.0 / 6.0, 0.0)?
            }
            OpKind::Add(o) | OpKind::Sub(o) => {
                let b = self.required(op, 1, values, None)?;
                let y = if matches!(op.kind, OpKind::Add(_)) {
                    x.broadcast_add(&b)?
                } else {
                    x.broadcast_sub(&b)?
                };
                fused(y, o.activation)?
            }
            OpKind::Mul(o) => {
                let b = self.required(op, 1, values, None)?;
                fused(x.broadcast_mul(&b)?, o.activation)?
            }
            OpKind::Mean(_) => {
                let rank = x.rank() as i64;
                let mut axes: Vec<usize> = Vec::new();
                for a in self.indices(op, 1)? {
                    let a = if a < 0 { a + rank } else { a };
                    if a <= 0 || a >= rank {
                        return Err(Eval::Unsupported(format!(
                            "MEAN over axis {a} (the batch axis, or out of range)"
                        )));
                    }
                    axes.push(a as usize);
                }
                reshape_out(x.mean_keepdim(axes)?)?
            }
            OpKind::Concatenation(o) => {
                let mut parts = Vec::new();
                for k in 0..op.inputs.len() {
                    parts.push(self.required(op, k, values, None)?);
                }
                let rank = x.rank() as i32;
                let axis = if o.axis < 0 { o.axis + rank } else { o.axis };
                if axis <= 0 {
                    return Err(Eval::Unsupported(
                        "concatenation along the batch axis".into(),
                    ));
                }
                fused(Tensor::cat(&parts, axis as usize)?, o.activation)?
            }
            OpKind::StridedSlice(o) => strided_slice(&x, self, op, o, out)?,
            OpKind::Transpose => {
                let perm: Vec<usize> = self.indices(op, 1)?.iter().map(|&p| p as usize).collect();
                if perm.first() != Some(&0) {
                    return Err(Eval::Unsupported(
                        "transpose that moves the batch axis".into(),
                    ));
                }
                x.permute(perm)?.contiguous()?
            }
            OpKind::Pad => {
                let pads = self.indices(op, 1)?;
                if pads.len() != 2 * x.rank() || pads[0] != 0 || pads[1] != 0 {
                    return Err(Eval::Unsupported("PAD of the batch axis".into()));
                }
                let mut y = x;
                for axis in 1..y.rank() {
                    let (a, b) = (pads[2 * axis], pads[2 * axis + 1]);
                    y = y.pad_with_zeros(axis, a.max(0) as usize, b.max(0) as usize)?;
                }
                y
            }
            OpKind::UnidirectionalSequenceLstm(o) => {
                let mut w = Vec::with_capacity(18);
                for k in 0..18 {
                    w.push(self.input(op, k, values, fq.as_deref_mut())?);
                }
                lstm::forward(&x, &w, o, fq.map(|q| (q, op)))?
            }
            other => {
                return Err(Eval::Unsupported(format!(
                    "{} is not supported in training",
                    other.name()
                )))
            }
        })
    }
}

/// Why evaluating one operator failed.
pub(crate) enum Eval {
    Candle(candle_core::Error),
    Unsupported(String),
}

impl From<candle_core::Error> for Eval {
    fn from(e: candle_core::Error) -> Eval {
        Eval::Candle(e)
    }
}

pub(crate) fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    // Composed of primitive ops, each with its gradient in candle.
    (x.neg()?.exp()? + 1.0)?.recip()
}

/// A fused activation.
fn fused(y: Tensor, a: Activation) -> candle_core::Result<Tensor> {
    match a {
        Activation::None => Ok(y),
        Activation::Relu => y.relu(),
        Activation::Relu6 => y.clamp(0f32, 6f32),
        Activation::ReluN1To1 => y.clamp(-1f32, 1f32),
    }
}

/// Window geometry of a convolution or pooling.
struct Geometry {
    padding: Padding,
    stride: (usize, usize),
    dilation: (usize, usize),
    kernel: (usize, usize),
}

impl Geometry {
    /// TFLite's padding of one spatial axis (`axis` 0: height, 1: width) of size `n`: SAME
    /// pads `total / 2` before and the rest after, so that the output is `ceil(n / stride)`.
    fn pads(&self, axis: usize, n: usize) -> (usize, usize) {
        let (s, d, k) = if axis == 0 {
            (self.stride.0, self.dilation.0, self.kernel.0)
        } else {
            (self.stride.1, self.dilation.1, self.kernel.1)
        };
        match self.padding {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = n.div_ceil(s.max(1));
                let total = ((out.max(1) - 1) * s + (k - 1) * d + 1).saturating_sub(n);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// A convolution of NHWC `x` with an OIHW `kernel`: padded explicitly (TFLite's SAME can pad
/// more after than before, candle pads symmetrically), computed in NCHW, returned NHWC.
fn conv(
    x: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    g: &Geometry,
    groups: usize,
) -> Result<Tensor, Eval> {
    if g.stride.0 != g.stride.1 || g.dilation.0 != g.dilation.1 {
        return Err(Eval::Unsupported(
            "different strides or dilations along height and width".into(),
        ));
    }
    let (h, w) = (x.dims()[1], x.dims()[2]);
    let (ph, pw) = (g.pads(0, h), g.pads(1, w));
    let mut nchw = x.permute((0, 3, 1, 2))?;
    if ph != (0, 0) {
        nchw = nchw.pad_with_zeros(2, ph.0, ph.1)?;
    }
    if pw != (0, 0) {
        nchw = nchw.pad_with_zeros(3, pw.0, pw.1)?;
    }
    let y = nchw
        .contiguous()?
        .conv2d(kernel, 0, g.stride.0, g.dilation.0, groups)?;
    let mut y = y.permute((0, 2, 3, 1))?;
    if let Some(b) = bias {
        y = y.broadcast_add(b)?;
    }
    Ok(y.contiguous()?)
}

/// STRIDED_SLICE with stride 1 on every axis but the batch one (which must be kept whole):
/// each axis narrowed, then the output's shape (shrunk axes removed).
fn strided_slice(
    x: &Tensor,
    net: &Net,
    op: &Op,
    o: &crate::ir::StridedSliceOptions,
    out: TensorId,
) -> Result<Tensor, Eval> {
    let begin = net.indices(op, 1)?;
    let end = net.indices(op, 2)?;
    let strides = net.indices(op, 3)?;
    if o.ellipsis_mask != 0 || o.new_axis_mask != 0 {
        return Err(Eval::Unsupported(
            "STRIDED_SLICE with ellipsis or new axes".into(),
        ));
    }
    let mut y = x.clone();
    for axis in 1..x.rank() {
        let n = x.dims()[axis] as i64;
        if strides.get(axis).copied().unwrap_or(1) != 1 {
            return Err(Eval::Unsupported(
                "STRIDED_SLICE with a stride other than 1".into(),
            ));
        }
        let bit = 1 << axis;
        let clampi = |v: i64| if v < 0 { (v + n).clamp(0, n) } else { v.min(n) };
        let b = if o.begin_mask & bit != 0 {
            0
        } else {
            clampi(begin.get(axis).copied().unwrap_or(0))
        };
        let e = if o.shrink_axis_mask & bit != 0 {
            b + 1
        } else if o.end_mask & bit != 0 {
            n
        } else {
            clampi(end.get(axis).copied().unwrap_or(n))
        };
        let len = (e - b).max(0) as usize;
        y = y.narrow(axis, b as usize, len)?;
    }
    let shape = net.batched(out, y.elem_count());
    Ok(y.contiguous()?.reshape(shape)?)
}

/// A batch of inputs as candle tensors: `rows[k]` holds input `k` of every example,
/// concatenated; the shape is the input's IR shape with the batch in front.
pub fn batch_tensor(graph: &Graph, k: usize, values: Vec<f32>) -> Result<Tensor, TrainError> {
    let id = graph.inputs[k];
    let shape = &graph.tensor(id).shape;
    let per: usize = shape.iter().skip(1).product();
    let mut dims = shape.clone();
    dims[0] = values.len() / per.max(1);
    Tensor::from_vec(values, dims, &Device::Cpu).map_err(TrainError::candle)
}

/// Casts for losses and metrics.
pub(crate) fn scalar(t: &Tensor) -> Result<f32, TrainError> {
    t.to_dtype(DType::F32)
        .and_then(|t| t.to_scalar::<f32>())
        .map_err(TrainError::candle)
}

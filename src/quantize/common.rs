//! What the modes share: activation parameters from calibrated ranges (int8 asymmetric or int16
//! symmetric), symmetric int8 weights, bias quantization, the quantization of other constants,
//! and the float input/output wrapper.

use super::{Mode, QuantizeError};
use crate::calibrate::Ranges;
use crate::ir::{ConstData, DType, Graph, Op, OpKind, Quantization, Tensor, TensorId};

/// The integer type of quantized activations, and the rules that go with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// int8 asymmetric activations, int32 bias.
    Int8,
    /// int16 symmetric activations (zero point 0), int64 bias.
    Int16,
}

impl Scheme {
    pub fn dtype(self) -> DType {
        match self {
            Scheme::Int8 => DType::I8,
            Scheme::Int16 => DType::I16,
        }
    }

    pub fn bias_dtype(self) -> DType {
        match self {
            Scheme::Int8 => DType::I32,
            Scheme::Int16 => DType::I64,
        }
    }

    pub fn mode(self) -> Mode {
        match self {
            Scheme::Int8 => Mode::Int8,
            Scheme::Int16 => Mode::Int16x8,
        }
    }

    /// Scale and zero point of an activation covering `[lo, hi]`.
    pub fn params(self, lo: f32, hi: f32) -> (f32, i32) {
        match self {
            Scheme::Int8 => super::affine_params(lo, hi),
            Scheme::Int16 => (symmetric_int16_scale(lo, hi), 0),
        }
    }

    /// Output parameters the kernels fix, whatever the range (TFLite's quantization spec:
    /// int8 SOFTMAX/LOGISTIC `1/256, -128`, TANH `1/128, 0`; int16 all three `1/32768, 0`).
    pub fn fixed_output_params(self, kind: &OpKind) -> Option<(f32, i32)> {
        match (self, kind) {
            (Scheme::Int8, OpKind::Softmax(_) | OpKind::Logistic) => Some((1.0 / 256.0, -128)),
            (Scheme::Int8, OpKind::Tanh) => Some((1.0 / 128.0, 0)),
            (Scheme::Int16, OpKind::Softmax(_) | OpKind::Logistic | OpKind::Tanh) => {
                Some((1.0 / 32768.0, 0))
            }
            _ => None,
        }
    }

    /// Whether the runtime (and LiteRT) has a kernel for `kind` in this scheme that the
    /// quantizer knows how to feed.
    pub fn supports(self, kind: &OpKind) -> bool {
        match kind {
            OpKind::Quantize | OpKind::Dequantize | OpKind::Svdf(_) => false,
            OpKind::HardSwish => self == Scheme::Int8,
            _ => true,
        }
    }

    /// Whether operator `i` of `g` can be quantized in this scheme: the error that says why
    /// not.
    pub fn check(self, g: &Graph, i: usize) -> Result<(), QuantizeError> {
        let op = &g.ops[i];
        let refused = |reason| QuantizeError::Refused {
            op: i,
            name: op.name(),
            mode: self.mode(),
            reason,
        };
        if super::lstm::is_lstm(op) {
            if let Some(reason) = super::lstm::refusal(g, op, self) {
                return Err(refused(reason));
            }
        }
        if !self.supports(&op.kind) {
            return Err(QuantizeError::Unsupported {
                op: i,
                name: op.name(),
                mode: self.mode(),
            });
        }
        Ok(())
    }
}

/// `max(|lo|, |hi|) / 32767`, TensorFlow's int16 activation scale (1 for an empty range).
fn symmetric_int16_scale(lo: f32, hi: f32) -> f32 {
    let m = lo.abs().max(hi.abs());
    if m > 0.0 {
        m / 32767.0
    } else {
        1.0
    }
}

/// Ops whose quantized output reuses the input's scale and zero point.
pub(crate) fn keeps_input_params(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::MaxPool2d(_)
            | OpKind::AveragePool2d(_)
            | OpKind::Reshape(_)
            | OpKind::Squeeze(_)
            | OpKind::ExpandDims
            | OpKind::Transpose
            | OpKind::StridedSlice(_)
            | OpKind::Pad
            | OpKind::PadV2
    )
}

/// The weight input's per-channel axis for ops with weights in the integer modes:
/// `Some(Some(axis))` per channel, `Some(None)` per tensor, `None` for ops without weights.
/// FULLY_CONNECTED is per output channel, as TensorFlow's converter does since 2.16
/// ([`quantize_weights`] keeps a single channel per tensor).
pub(crate) fn weight_axis(kind: &OpKind) -> Option<Option<usize>> {
    match kind {
        OpKind::Conv2d(_) | OpKind::FullyConnected(_) => Some(Some(0)),
        OpKind::DepthwiseConv2d(_) => Some(Some(3)),
        _ => None,
    }
}

/// Gives every CONCATENATION's inputs and output the union of their ranges, so that all
/// share one scale (LiteRT refuses int8 concatenation otherwise and copies int16 unchanged).
pub(crate) fn share_concatenation_ranges(g: &Graph, ranges: &mut Ranges) {
    for op in &g.ops {
        if !matches!(op.kind, OpKind::Concatenation(_)) {
            continue;
        }
        let members: Vec<TensorId> = op
            .inputs
            .iter()
            .flatten()
            .copied()
            .chain(op.outputs.iter().copied())
            .collect();
        let union = members.iter().filter_map(|&t| ranges.get(t)).fold(
            None,
            |acc: Option<(f32, f32)>, (lo, hi)| match acc {
                None => Some((lo, hi)),
                Some((a, b)) => Some((a.min(lo), b.max(hi))),
            },
        );
        if let Some(u) = union {
            for &t in &members {
                if !g.tensor(t).is_constant() {
                    ranges.set(t, u);
                }
            }
        }
    }
}

/// Quantization parameters of every activation (graph inputs and operator outputs), in
/// operator order so that data-moving ops inherit their input's. `fixed(op)` says whether
/// operator `op` runs quantized, so that its kernel's fixed output parameters apply.
pub(crate) fn activation_params(
    graph: &Graph,
    ranges: &Ranges,
    scheme: Scheme,
    quantized: impl Fn(usize) -> bool,
) -> Result<Vec<Option<(f32, i32)>>, QuantizeError> {
    let mut params: Vec<Option<(f32, i32)>> = vec![None; graph.tensors.len()];
    let from_range = |t: TensorId| -> Result<(f32, i32), QuantizeError> {
        let (lo, hi) = ranges.get(t).ok_or_else(|| QuantizeError::Uncalibrated {
            tensor: t.index(),
            name: graph.tensor(t).name.clone(),
        })?;
        Ok(scheme.params(lo, hi))
    };
    for &t in &graph.inputs {
        params[t.index()] = Some(from_range(t)?);
    }
    for (i, op) in graph.ops.iter().enumerate() {
        for &out in &op.outputs {
            let fixed = scheme
                .fixed_output_params(&op.kind)
                .filter(|_| quantized(i));
            let p = if let Some(fixed) = fixed {
                fixed
            } else if keeps_input_params(&op.kind) {
                match op.input(0).and_then(|t| params[t.index()]) {
                    Some(p) => p,
                    None => from_range(out)?,
                }
            } else {
                from_range(out)?
            };
            params[out.index()] = Some(p);
        }
    }
    Ok(params)
}

fn float_values(g: &Graph, t: TensorId) -> Result<Vec<f32>, QuantizeError> {
    let tensor = g.tensor(t);
    tensor
        .f32_data()
        .map(<[f32]>::to_vec)
        .ok_or_else(|| QuantizeError::NotFloat {
            tensor: t.index(),
            name: tensor.name.clone(),
            dtype: tensor.dtype,
        })
}

/// Quantizes weight tensor `w` symmetrically to int8 in `[-127, 127]`: per channel along
/// `axis` (per tensor when that axis has a single channel), or per tensor. Returns the scales
/// (one per channel, or one).
pub(crate) fn quantize_weights(
    g: &mut Graph,
    w: TensorId,
    axis: Option<usize>,
) -> Result<Vec<f32>, QuantizeError> {
    let values = float_values(g, w)?;
    let shape = g.tensor(w).shape.clone();
    // One channel: per tensor.
    let axis = axis.filter(|&a| shape.get(a).copied().unwrap_or(1) > 1);
    let (channels, inner) = match axis {
        Some(a) => (
            shape.get(a).copied().unwrap_or(1),
            shape.iter().skip(a + 1).product::<usize>(),
        ),
        None => (1, values.len()),
    };
    let channel_of = |i: usize| {
        if channels == 1 {
            0
        } else {
            (i / inner) % channels
        }
    };
    let mut max_abs = vec![0.0f32; channels];
    for (i, &x) in values.iter().enumerate() {
        let c = channel_of(i);
        max_abs[c] = max_abs[c].max(x.abs());
    }
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q: Vec<i8> = values
        .iter()
        .enumerate()
        .map(|(i, &x)| (x / scales[channel_of(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let tensor = g.tensor_mut(w);
    tensor.dtype = DType::I8;
    tensor.data = Some(ConstData::I8(q));
    tensor.quantization = Some(match axis {
        Some(a) => Quantization::per_channel(scales.clone(), a),
        None => Quantization::per_tensor(scales[0], 0),
    });
    Ok(scales)
}

/// Quantizes bias `b` to `dtype` (int32 or int64) with scale `s_in * s_w` per channel.
pub(crate) fn quantize_bias(
    g: &mut Graph,
    b: TensorId,
    s_in: f32,
    w_scales: &[f32],
    dtype: DType,
) -> Result<(), QuantizeError> {
    let values = float_values(g, b)?;
    let scales: Vec<f32> = (0..values.len())
        .map(|c| s_in * w_scales[c.min(w_scales.len().saturating_sub(1))])
        .collect();
    let q = values
        .iter()
        .zip(&scales)
        .map(|(&x, &s)| (x as f64 / s as f64).round());
    let data = if dtype == DType::I64 {
        ConstData::I64(
            q.map(|v| v.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
                .collect(),
        )
    } else {
        ConstData::I32(
            q.map(|v| v.clamp(i32::MIN as f64, i32::MAX as f64) as i32)
                .collect(),
        )
    };
    let tensor = g.tensor_mut(b);
    tensor.dtype = data.dtype();
    tensor.data = Some(data);
    tensor.quantization = Some(if w_scales.len() == 1 {
        Quantization::per_tensor(scales[0], 0)
    } else {
        Quantization::per_channel(scales, 0)
    });
    Ok(())
}

/// Quantizes a float constant `t` (an operand of arithmetic, not a weight) with `params`, or
/// with parameters from its own values when `params` is `None`.
pub(crate) fn quantize_constant(
    g: &mut Graph,
    t: TensorId,
    scheme: Scheme,
    params: Option<(f32, i32)>,
) -> Result<(), QuantizeError> {
    let values = float_values(g, t)?;
    let (scale, zp) = params.unwrap_or_else(|| {
        let lo = values.iter().copied().fold(0.0f32, f32::min);
        let hi = values.iter().copied().fold(0.0f32, f32::max);
        scheme.params(lo, hi)
    });
    let q = values.iter().map(|&x| (x / scale).round() + zp as f32);
    let data = match scheme {
        Scheme::Int8 => ConstData::I8(q.map(|v| v.clamp(-128.0, 127.0) as i8).collect()),
        Scheme::Int16 => ConstData::I16(q.map(|v| v.clamp(-32768.0, 32767.0) as i16).collect()),
    };
    let tensor = g.tensor_mut(t);
    tensor.dtype = data.dtype();
    tensor.data = Some(data);
    tensor.quantization = Some(Quantization::per_tensor(scale, zp as i64));
    Ok(())
}

/// Quantizes the float constants operator `op` reads: weights symmetric (per channel for
/// convolutions), the bias with the input's and weights' scales, a PADV2 fill value with the
/// input's parameters, any other float constant from its own values. An LSTM also gets its
/// state tensors and intermediates ([`super::lstm`]).
pub(crate) fn quantize_op_constants(
    g: &mut Graph,
    op: &mut Op,
    params: &[Option<(f32, i32)>],
    ranges: &Ranges,
    scheme: Scheme,
) -> Result<(), QuantizeError> {
    if super::lstm::is_lstm(op) {
        return super::lstm::quantize_lstm(g, op, params, ranges, scheme);
    }
    let param = |t: Option<TensorId>| t.and_then(|t| params.get(t.index()).copied().flatten());
    if let (Some(axis), Some(w)) = (weight_axis(&op.kind), op.input(1)) {
        if g.tensor(w).dtype == DType::F32 && g.tensor(w).is_constant() {
            let w_scales = quantize_weights(g, w, axis)?;
            let s_in = param(op.input(0)).map_or(1.0, |p| p.0);
            if let Some(b) = op.input(2) {
                if g.tensor(b).dtype == DType::F32 && g.tensor(b).is_constant() {
                    quantize_bias(g, b, s_in, &w_scales, scheme.bias_dtype())?;
                }
            }
        }
    }
    for (k, t) in op.inputs.iter().enumerate() {
        let Some(t) = *t else { continue };
        let tensor = g.tensor(t);
        if tensor.is_constant() && tensor.dtype == DType::F32 {
            let fill = (matches!(op.kind, OpKind::PadV2) && k == 2)
                .then(|| param(op.input(0)))
                .flatten();
            quantize_constant(g, t, scheme, fill)?;
        }
    }
    Ok(())
}

/// Float inputs and outputs around an integer graph: QUANTIZE after each input, DEQUANTIZE
/// before each output.
pub(crate) fn add_float_io(g: &mut Graph) {
    let mut front = Vec::new();
    for k in 0..g.inputs.len() {
        let q = g.inputs[k];
        let t = g.tensor(q);
        let f = g.add_tensor(Tensor::activation(
            format!("{}_float", t.name),
            DType::F32,
            t.shape.clone(),
        ));
        front.push(Op::new(OpKind::Quantize, [f], [q]));
        g.inputs[k] = f;
    }
    for k in 0..g.outputs.len() {
        let q = g.outputs[k];
        let t = g.tensor(q);
        let f = g.add_tensor(Tensor::activation(
            format!("{}_float", t.name),
            DType::F32,
            t.shape.clone(),
        ));
        g.ops.push(Op::new(OpKind::Dequantize, [q], [f]));
        g.outputs[k] = f;
    }
    front.append(&mut g.ops);
    g.ops = front;
}

/// Full-integer quantization in `scheme`: every operator, every activation and every float
/// constant quantized; integer model I/O, or float I/O with QUANTIZE/DEQUANTIZE around.
pub(crate) fn quantize_full_integer(
    graph: &Graph,
    ranges: &Ranges,
    io: super::IoKind,
    scheme: Scheme,
) -> Result<Graph, QuantizeError> {
    let mut g = graph.clone();
    for i in 0..g.ops.len() {
        scheme.check(&g, i)?;
    }
    let mut ranges = ranges.clone();
    share_concatenation_ranges(&g, &mut ranges);
    let params = activation_params(&g, &ranges, scheme, |_| true)?;
    for i in 0..g.ops.len() {
        let mut op = g.ops[i].clone();
        quantize_op_constants(&mut g, &mut op, &params, &ranges, scheme)?;
        g.ops[i] = op;
    }
    for (t, p) in params.iter().enumerate() {
        if let Some((scale, zp)) = *p {
            let tensor = &mut g.tensors[t];
            if tensor.dtype != DType::F32 {
                return Err(QuantizeError::NotFloat {
                    tensor: t,
                    name: tensor.name.clone(),
                    dtype: tensor.dtype,
                });
            }
            tensor.dtype = scheme.dtype();
            tensor.quantization = Some(Quantization::per_tensor(scale, zp as i64));
        }
    }
    if io == super::IoKind::Float32 {
        add_float_io(&mut g);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_per_channel_are_symmetric_and_bias_uses_the_product_scale() {
        let mut g = Graph::new();
        let w = g.add_tensor(Tensor::constant(
            "w",
            vec![2, 1, 1, 2],
            ConstData::F32(vec![0.5, -1.0, 2.0, 4.0]),
        ));
        let b = g.add_tensor(Tensor::constant(
            "b",
            vec![2],
            ConstData::F32(vec![0.1, -0.3]),
        ));
        let scales = quantize_weights(&mut g, w, Some(0)).unwrap();
        assert_eq!(scales, vec![1.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(
            g.tensor(w).data,
            Some(ConstData::I8(vec![64, -127, 64, 127]))
        );
        let b64 = g.add_tensor(g.tensor(b).clone());
        quantize_bias(&mut g, b, 0.5, &scales, DType::I32).unwrap();
        let q = g.tensor(b).quantization.clone().unwrap();
        assert_eq!(q.scales, vec![0.5 / 127.0, 0.5 * 4.0 / 127.0]);
        assert_eq!(g.tensor(b).data, Some(ConstData::I32(vec![25, -19])));
        quantize_bias(&mut g, b64, 0.5, &scales, DType::I64).unwrap();
        assert_eq!(g.tensor(b64).data, Some(ConstData::I64(vec![25, -19])));
    }

    #[test]
    fn int16_activations_are_symmetric_with_fixed_outputs() {
        assert_eq!(Scheme::Int16.params(-0.5, 2.0), (2.0 / 32767.0, 0));
        assert_eq!(Scheme::Int16.params(0.0, 0.0), (1.0, 0));
        assert_eq!(
            Scheme::Int16.fixed_output_params(&OpKind::Tanh),
            Some((1.0 / 32768.0, 0))
        );
        assert!(!Scheme::Int16.supports(&OpKind::HardSwish));
        assert!(Scheme::Int8.supports(&OpKind::HardSwish));
    }
}

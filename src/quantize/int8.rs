//! Full-integer post-training quantization (`int8`), following TFLite's quantization
//! specification:
//!
//! - activations: int8, asymmetric, from the calibrated range widened to include 0, zero point
//!   nudged to an integer (`zp = round(-128 - min / scale)`);
//! - CONV_2D weights: int8 symmetric per output channel (axis 0), DEPTHWISE_CONV_2D per channel
//!   along axis 3, FULLY_CONNECTED per output channel (axis 0) as TensorFlow 2.16+ does; a
//!   single channel stays per tensor; all in `[-127, 127]`, zero point 0;
//! - biases: int32, scale `s_input * s_weight` (per channel), zero point 0;
//! - fixed output parameters: SOFTMAX and LOGISTIC `1/256, -128`, TANH `1/128, 0`;
//! - ops that move data without arithmetic (pooling, reshapes, transpose, slices, pads) keep
//!   their input's parameters, and CONCATENATION inputs share the output's (LiteRT requires it);
//! - float constants feeding arithmetic (an ADD of a constant, ...) are quantized
//!   asymmetrically from their own values.
//!
//! The model's inputs and outputs become int8 (`IoKind::Integer`), or stay float with a
//! QUANTIZE after each input and a DEQUANTIZE before each output (`IoKind::Float32`).

use super::{IoKind, QuantizeError};
use crate::calibrate::Ranges;
use crate::ir::{ConstData, DType, Graph, Op, OpKind, Quantization, Tensor, TensorId};

/// Scale and zero point of an int8 tensor covering `[min, max]` (widened to include 0), as
/// TFLite's quantizer computes them.
pub fn affine_params(min: f32, max: f32) -> (f32, i32) {
    let (lo, hi) = (min.min(0.0) as f64, max.max(0.0) as f64);
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / 255.0;
    let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
    (scale as f32, zero_point as i32)
}

/// Symmetric int8 scale of values whose largest magnitude is `max_abs`.
fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 {
        max_abs / 127.0
    } else {
        1.0
    }
}

fn quantize_symmetric(x: f32, scale: f32) -> i8 {
    (x / scale).round().clamp(-127.0, 127.0) as i8
}

/// Ops whose int8 output reuses the input's scale and zero point.
fn keeps_input_params(kind: &OpKind) -> bool {
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

/// Output parameters the int8 kernels fix, whatever the range.
fn fixed_output_params(kind: &OpKind) -> Option<(f32, i32)> {
    match kind {
        OpKind::Softmax(_) | OpKind::Logistic => Some((1.0 / 256.0, -128)),
        OpKind::Tanh => Some((1.0 / 128.0, 0)),
        _ => None,
    }
}

fn supported(kind: &OpKind) -> bool {
    !matches!(
        kind,
        OpKind::Quantize
            | OpKind::Dequantize
            | OpKind::Svdf(_)
            | OpKind::UnidirectionalSequenceLstm(_)
    )
}

/// Quantizes a float `graph` to full int8 with the calibrated `ranges`.
pub fn quantize_int8(graph: &Graph, ranges: &Ranges, io: IoKind) -> Result<Graph, QuantizeError> {
    let mut g = graph.clone();
    for (i, op) in g.ops.iter().enumerate() {
        if !supported(&op.kind) {
            return Err(QuantizeError::Unsupported {
                op: i,
                name: op.name(),
                mode: super::Mode::Int8,
            });
        }
    }
    let mut ranges = ranges.clone();
    share_concatenation_ranges(&g, &mut ranges);

    // Activation parameters, in operator order so that data-moving ops inherit.
    let mut params: Vec<Option<(f32, i32)>> = vec![None; g.tensors.len()];
    let activation_params = |t: TensorId, ranges: &Ranges| -> Result<(f32, i32), QuantizeError> {
        let tensor = graph.tensor(t);
        let (lo, hi) = ranges.get(t).ok_or_else(|| QuantizeError::Uncalibrated {
            tensor: t.index(),
            name: tensor.name.clone(),
        })?;
        Ok(affine_params(lo, hi))
    };
    for &t in &g.inputs {
        params[t.index()] = Some(activation_params(t, &ranges)?);
    }
    for op in &g.ops {
        for &out in &op.outputs {
            let p = if let Some(fixed) = fixed_output_params(&op.kind) {
                fixed
            } else if keeps_input_params(&op.kind) {
                match op.input(0).and_then(|t| params[t.index()]) {
                    Some(p) => p,
                    None => activation_params(out, &ranges)?,
                }
            } else {
                activation_params(out, &ranges)?
            };
            params[out.index()] = Some(p);
        }
    }

    // Constants: weights and biases by role, other float constants from their values.
    let ops = g.ops.clone();
    for op in &ops {
        let weight_axis = match op.kind {
            OpKind::Conv2d(_) => Some(Some(0)),
            OpKind::DepthwiseConv2d(_) => Some(Some(3)),
            // Per output channel, as TensorFlow's converter does since 2.16 (a single output
            // channel stays per tensor).
            OpKind::FullyConnected(_) => Some(Some(0)),
            _ => None,
        };
        if let (Some(axis), Some(w)) = (weight_axis, op.input(1)) {
            let w_scales = quantize_weights(&mut g, w, axis)?;
            let s_in = op
                .input(0)
                .and_then(|t| params[t.index()])
                .map_or(1.0, |p| p.0);
            if let Some(b) = op.input(2) {
                quantize_bias(&mut g, b, s_in, &w_scales)?;
            }
        }
        for t in op.inputs.iter().flatten().copied() {
            let tensor = g.tensor(t);
            if tensor.is_constant() && tensor.dtype == DType::F32 {
                let values = tensor
                    .data
                    .as_ref()
                    .and_then(ConstData::as_f32)
                    .unwrap_or(&[]);
                let lo = values.iter().copied().fold(0.0f32, f32::min);
                let hi = values.iter().copied().fold(0.0f32, f32::max);
                let (scale, zp) = affine_params(lo, hi);
                let q: Vec<i8> = values
                    .iter()
                    .map(|&x| ((x / scale).round() + zp as f32).clamp(-128.0, 127.0) as i8)
                    .collect();
                let tensor = g.tensor_mut(t);
                tensor.dtype = DType::I8;
                tensor.data = Some(ConstData::I8(q));
                tensor.quantization = Some(Quantization::per_tensor(scale, zp as i64));
            }
        }
    }

    // Activations become int8.
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
            tensor.dtype = DType::I8;
            tensor.quantization = Some(Quantization::per_tensor(scale, zp as i64));
        }
    }
    if io == IoKind::Float32 {
        add_float_io(&mut g);
    }
    Ok(g)
}

/// Gives every CONCATENATION's inputs and output the union of their ranges, so that all
/// share one scale (LiteRT refuses int8 concatenation otherwise).
fn share_concatenation_ranges(g: &Graph, ranges: &mut Ranges) {
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

/// Quantizes weight tensor `w` symmetrically: per channel along `axis`, or per tensor.
/// Returns the scales (one per channel, or one).
fn quantize_weights(
    g: &mut Graph,
    w: TensorId,
    axis: Option<usize>,
) -> Result<Vec<f32>, QuantizeError> {
    let tensor = g.tensor(w);
    let Some(values) = tensor.data.as_ref().and_then(ConstData::as_f32) else {
        return Err(QuantizeError::NotFloat {
            tensor: w.index(),
            name: tensor.name.clone(),
            dtype: tensor.dtype,
        });
    };
    let shape = tensor.shape.clone();
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
    let scales: Vec<f32> = max_abs.iter().map(|&m| symmetric_scale(m)).collect();
    let q: Vec<i8> = values
        .iter()
        .enumerate()
        .map(|(i, &x)| quantize_symmetric(x, scales[channel_of(i)]))
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

/// Quantizes bias `b` to int32 with scale `s_in * s_w` per channel.
fn quantize_bias(
    g: &mut Graph,
    b: TensorId,
    s_in: f32,
    w_scales: &[f32],
) -> Result<(), QuantizeError> {
    let tensor = g.tensor(b);
    let Some(values) = tensor.data.as_ref().and_then(ConstData::as_f32) else {
        return Err(QuantizeError::NotFloat {
            tensor: b.index(),
            name: tensor.name.clone(),
            dtype: tensor.dtype,
        });
    };
    let scales: Vec<f32> = (0..values.len())
        .map(|c| {
            s_in * w_scales[if w_scales.len() == 1 {
                0
            } else {
                c.min(w_scales.len() - 1)
            }]
        })
        .collect();
    let q: Vec<i32> = values
        .iter()
        .zip(&scales)
        .map(|(&x, &s)| {
            (x as f64 / s as f64)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    let tensor = g.tensor_mut(b);
    tensor.dtype = DType::I32;
    tensor.data = Some(ConstData::I32(q));
    tensor.quantization = Some(if w_scales.len() == 1 {
        Quantization::per_tensor(scales[0], 0)
    } else {
        Quantization::per_channel(scales, 0)
    });
    Ok(())
}

/// Float inputs and outputs around the int8 graph: QUANTIZE after each input, DEQUANTIZE
/// before each output.
fn add_float_io(g: &mut Graph) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_params_follow_tflite() {
        // [0, 2.55]: scale 0.01, zero point -128 (0.0 maps exactly to -128).
        let (s, zp) = affine_params(0.0, 2.55);
        assert!((s - 0.01).abs() < 1e-7);
        assert_eq!(zp, -128);
        // Symmetric range: the ideal zero point is -0.5, rounded half away from zero to -1,
        // as TensorFlow's quantizer nudges it.
        let (s, zp) = affine_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        assert_eq!(zp, -1);
        // A range not containing 0 is widened to include it.
        assert_eq!(affine_params(2.0, 4.0), affine_params(0.0, 4.0));
        assert_eq!(affine_params(0.0, 0.0), (1.0, 0));
    }

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
        quantize_bias(&mut g, b, 0.5, &scales).unwrap();
        let q = g.tensor(b).quantization.clone().unwrap();
        assert_eq!(q.scales, vec![0.5 / 127.0, 0.5 * 4.0 / 127.0]);
        assert_eq!(g.tensor(b).data, Some(ConstData::I32(vec![25, -19])));
    }
}

//! UNIDIRECTIONAL_SEQUENCE_LSTM in TFLite's integer 8x8→16 scheme, as TensorFlow's converter
//! (2.21, MLIR quantizer) emits a Keras LSTM:
//!
//! - input and output int8 from their calibrated ranges (as every activation);
//! - input-to-gate and recurrent weights int8, symmetric, **per tensor**, one scale per gate
//!   matrix (`max|w| / 127`);
//! - gate biases int32 with scale `input_scale * input_weight_scale` of their gate (the kernel
//!   adds the bias to the input product before rescaling it);
//! - peephole weights int16, symmetric, `max|p| / 32767`;
//! - output state (input 18, variable) int8 with the output's scale and zero point
//!   (TensorFlow gives both the union of their ranges; with the state reset before every
//!   sample the output's range holds the state's);
//! - cell state (input 19, variable) int16, zero point 0, scale `2^k / 32768` with `2^k` the
//!   smallest power of two at or above the calibrated `max|c|`, kept within the kernel's
//!   `2^-15 ..= 2^-9` (|c| below 1 up to 64);
//! - five intermediates: the four gate pre-activations as float32 `[0]` placeholders without
//!   quantization (the kernel then uses Q3.12; they only carry parameters with layer
//!   normalization) and `effective_hidden_scale_intermediate` (int8 `[0]`, the hidden state
//!   `o ⊙ tanh(c)`) with the output's parameters: without projection the hidden state is the
//!   output.
//!
//! Refused (the reason is the error): projection (the hidden state before the projection
//! would need its own calibrated range) and layer normalization.
//!
//! **int16x8** ([`Scheme::Int16`]): TFLite Micro's 16x8 LSTM (its `EvalLstm<int16_t, int8_t,
//! int16_t, int64_t>`; TensorFlow's converter refuses 16x8 for this operator and LiteRT has no
//! int16 LSTM kernel), the same scheme with the 16x8 types: input, output and output state
//! int16 symmetric (zero point 0, the output's scale on the state), the same per-tensor int8
//! weights, int64 gate biases at `input_scale * input_weight_scale`, the same power-of-two
//! int16 cell state. No intermediates: TFLite Micro's kernel fixes the gates at Q3.12 and
//! takes the hidden state's scale from the output state. It runs the standard LSTM only, so
//! CIFG, peephole weights and a cell activation other than TANH are refused as well.

use super::common::{quantize_weights, Scheme};
use super::QuantizeError;
use crate::calibrate::Ranges;
use crate::ir::{
    ConstData, DType, GateActivation, Graph, Op, OpKind, Quantization, Tensor, TensorId,
};

/// The cell state's scales the integer kernel accepts: `2^-15 ..= 2^-9`.
pub const CELL_LOG2_RANGE: std::ops::RangeInclusive<i32> = -15..=-9;

/// Why an LSTM operator cannot be quantized in `scheme` here, `None` when it can.
pub(crate) fn refusal(g: &Graph, op: &Op, scheme: Scheme) -> Option<&'static str> {
    if scheme == Scheme::Int16 {
        let OpKind::UnidirectionalSequenceLstm(o) = &op.kind else {
            return None;
        };
        if op.input(1).is_none() || (9..12).any(|k| op.input(k).is_some()) {
            return Some(
                "an LSTM with CIFG or peephole weights has no int16 kernel (TFLite Micro's runs \
                 the standard LSTM only); use int8",
            );
        }
        if o.activation != GateActivation::Tanh {
            return Some(
                "an int16 LSTM needs the TANH activation (TFLite Micro's kernel); use int8",
            );
        }
    }
    if op.input(16).is_some() {
        return Some(
            "an LSTM with a projection is not quantized (the hidden state before the \
             projection is not calibrated); use int8_float_fallback",
        );
    }
    if (20..24).any(|k| op.input(k).is_some()) {
        return Some("an LSTM with layer normalization is not quantized; use int8_float_fallback");
    }
    let weights_ok = (1..16).filter_map(|k| op.input(k)).all(|t| {
        let t = g.tensor(t);
        t.is_constant() && t.dtype == DType::F32
    });
    if !weights_ok {
        return Some("the LSTM's weights and biases must be float32 constants");
    }
    None
}

/// The cell state's scale: the smallest power of two at or above `max|c|`, over 32768, within
/// the kernel's range.
pub fn cell_scale(lo: f32, hi: f32) -> f32 {
    let m = lo.abs().max(hi.abs()) as f64;
    let log2 = if m > 0.0 { m.log2().ceil() as i32 } else { 0 } - 15;
    2f32.powi(log2.clamp(*CELL_LOG2_RANGE.start(), *CELL_LOG2_RANGE.end()))
}

/// Quantizes the constants and state tensors of the LSTM `op` in `scheme` and, for int8, gives
/// it its five intermediates. `params` holds the activations' parameters (input and output).
pub(crate) fn quantize_lstm(
    g: &mut Graph,
    op: &mut Op,
    params: &[Option<(f32, i32)>],
    ranges: &Ranges,
    scheme: Scheme,
) -> Result<(), QuantizeError> {
    let param = |t: Option<TensorId>| t.and_then(|t| params.get(t.index()).copied().flatten());
    let (Some(input), Some(output)) = (op.input(0), op.output(0)) else {
        return Ok(());
    };
    let uncalibrated = |g: &Graph, t: TensorId| QuantizeError::Uncalibrated {
        tensor: t.index(),
        name: g.tensor(t).name.clone(),
    };
    let (s_in, _) = param(Some(input)).ok_or_else(|| uncalibrated(g, input))?;
    let (s_out, zp_out) = param(Some(output)).ok_or_else(|| uncalibrated(g, output))?;
    for gate in 0..4 {
        if let Some(w) = op.input(1 + gate) {
            let s_w = quantize_weights(g, w, None)?[0];
            if let Some(b) = op.input(12 + gate) {
                super::common::quantize_bias(g, b, s_in, &[s_w], scheme.bias_dtype())?;
            }
        }
        if let Some(r) = op.input(5 + gate) {
            quantize_weights(g, r, None)?;
        }
    }
    for k in 9..12 {
        if let Some(p) = op.input(k) {
            quantize_int16_symmetric(g, p)?;
        }
    }
    if let Some(h) = op.input(18) {
        let t = g.tensor_mut(h);
        t.dtype = scheme.dtype();
        t.quantization = Some(Quantization::per_tensor(s_out, zp_out as i64));
    }
    if let Some(c) = op.input(19) {
        let (lo, hi) = ranges.get(c).ok_or_else(|| uncalibrated(g, c))?;
        let t = g.tensor_mut(c);
        t.dtype = DType::I16;
        t.quantization = Some(Quantization::per_tensor(cell_scale(lo, hi), 0));
    }
    if scheme == Scheme::Int16 {
        return Ok(());
    }
    let mut intermediates = Vec::with_capacity(5);
    for gate in ["input", "forget", "cell", "output"] {
        intermediates.push(g.add_tensor(Tensor::activation(
            format!("input_to_{gate}_intermediate"),
            DType::F32,
            vec![0],
        )));
    }
    intermediates.push(
        g.add_tensor(
            Tensor::activation("effective_hidden_scale_intermediate", DType::I8, vec![0])
                .with_quantization(Quantization::per_tensor(s_out, zp_out as i64)),
        ),
    );
    op.intermediates = intermediates;
    Ok(())
}

/// A constant quantized to int16, symmetric, `max|x| / 32767` (peephole weights).
fn quantize_int16_symmetric(g: &mut Graph, t: TensorId) -> Result<(), QuantizeError> {
    let tensor = g.tensor(t);
    let values = tensor
        .f32_data()
        .ok_or_else(|| QuantizeError::NotFloat {
            tensor: t.index(),
            name: tensor.name.clone(),
            dtype: tensor.dtype,
        })?
        .to_vec();
    let m = values.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if m > 0.0 { m / 32767.0 } else { 1.0 };
    let q = values
        .iter()
        .map(|&x| (x / scale).round().clamp(-32767.0, 32767.0) as i16)
        .collect();
    let tensor = g.tensor_mut(t);
    tensor.dtype = DType::I16;
    tensor.data = Some(ConstData::I16(q));
    tensor.quantization = Some(Quantization::per_tensor(scale, 0));
    Ok(())
}

/// Whether `op` is an LSTM.
pub(crate) fn is_lstm(op: &Op) -> bool {
    matches!(op.kind, OpKind::UnidirectionalSequenceLstm(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_scale_is_the_power_of_two_bound_within_the_kernels_range() {
        // co2: |c| up to 9.12: 16 / 32768 = 2^-11.
        assert_eq!(cell_scale(-5.6, 9.12), 2f32.powi(-11));
        assert_eq!(cell_scale(-8.0, 1.0), 2f32.powi(-12));
        assert_eq!(cell_scale(0.0, 0.3), 2f32.powi(-15));
        assert_eq!(cell_scale(-100.0, 0.0), 2f32.powi(-9));
        assert_eq!(cell_scale(0.0, 0.0), 2f32.powi(-15));
    }

    /// A 1-input, 1-unit LSTM: every gate's weights, recurrent weights and bias, with or
    /// without the input gate and peepholes.
    fn lstm(cifg: bool, peephole: bool, activation: GateActivation) -> (Graph, Op) {
        let mut g = Graph::new();
        let mut inputs = vec![Some(g.add_tensor(Tensor::activation(
            "x",
            DType::F32,
            vec![1, 2, 1],
        )))];
        let constant = |g: &mut Graph, name: String, present: bool| {
            present
                .then(|| g.add_tensor(Tensor::constant(name, vec![1], ConstData::F32(vec![0.5]))))
        };
        for k in 1..24 {
            let present = match k {
                1 | 5 | 12 => !cifg,
                9..=11 => peephole && (k != 9 || !cifg),
                2..=4 | 6..=8 | 13..=15 => true,
                _ => false,
            };
            inputs.push(constant(&mut g, format!("t{k}"), present));
        }
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 2, 1]));
        let mut op = Op::new(
            OpKind::UnidirectionalSequenceLstm(crate::ir::LstmOptions {
                activation,
                ..Default::default()
            }),
            [],
            [y],
        );
        op.inputs = inputs;
        (g, op)
    }

    #[test]
    fn int16x8_takes_the_standard_lstm_only() {
        let standard = lstm(false, false, GateActivation::Tanh);
        assert_eq!(refusal(&standard.0, &standard.1, Scheme::Int16), None);
        let cifg = lstm(true, false, GateActivation::Tanh);
        let peephole = lstm(false, true, GateActivation::Tanh);
        let relu = lstm(false, false, GateActivation::Relu);
        let cifg_msg = "an LSTM with CIFG or peephole weights has no int16 kernel (TFLite \
                        Micro's runs the standard LSTM only); use int8";
        assert_eq!(refusal(&cifg.0, &cifg.1, Scheme::Int16), Some(cifg_msg));
        assert_eq!(
            refusal(&peephole.0, &peephole.1, Scheme::Int16),
            Some(cifg_msg)
        );
        assert_eq!(
            refusal(&relu.0, &relu.1, Scheme::Int16),
            Some("an int16 LSTM needs the TANH activation (TFLite Micro's kernel); use int8")
        );
        // int8 (LiteRT's 8x8→16 kernel) takes all three.
        for (g, op) in [&cifg, &peephole, &relu] {
            assert_eq!(refusal(g, op, Scheme::Int8), None);
        }
    }
}

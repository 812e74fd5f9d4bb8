//! UNIDIRECTIONAL_SEQUENCE_LSTM unrolled over time with candle operations.
//!
//! The math is the runtime's float kernel (`tflm-runtime/src/kernels/lstm.rs`), gate by gate
//! in TFLite's order input, forget, cell (candidate), output:
//! `i = σ(W_i x + R_i h + p_i ⊙ c + b_i)` (CIFG: `i = 1 - f`), `f` likewise,
//! `g = act(W_g x + R_g h + b_g)`, `c = clip(f ⊙ c + i ⊙ g)`,
//! `o = σ(W_o x + R_o h + p_o ⊙ c + b_o)` with the new `c`, `h = o ⊙ act(c)`,
//! projected when the layer has a projection. Every window starts from zero state (the
//! pipeline evaluates and calibrates each example from a reset state too), so the variable
//! state tensors of the graph are never read.
//!
//! The input products of all time steps are one matrix product before the loop; each step
//! then only multiplies the recurrent weights.

use super::net::{sigmoid, Eval};
use super::qat::FakeQuant;
use crate::ir::{GateActivation, LstmOptions, Op};
use candle_core::{Tensor, D};

fn activate(a: GateActivation, x: &Tensor) -> Result<Tensor, Eval> {
    Ok(match a {
        GateActivation::None => x.clone(),
        GateActivation::Relu => x.relu()?,
        GateActivation::ReluN1To1 => x.clamp(-1f32, 1f32)?,
        GateActivation::Relu6 => x.clamp(0f32, 6f32)?,
        GateActivation::Tanh => x.tanh()?,
        GateActivation::SignBit => {
            return Err(Eval::Unsupported(
                "the SIGN_BIT LSTM activation has no gradient".into(),
            ))
        }
    })
}

/// The layer on `x` (`[batch, time, n_input]`); `w[k]` is the operator's input `k` (weights
/// possibly fake-quantized already). `fq` fake-quantizes the cell state and the hidden state
/// at every step (QAT), as the integer kernel rounds them.
pub(crate) fn forward(
    x: &Tensor,
    w: &[Option<Tensor>],
    o: &LstmOptions,
    mut fq: Option<(&mut FakeQuant, &Op)>,
) -> Result<Tensor, Eval> {
    if o.time_major {
        return Err(Eval::Unsupported(
            "time-major LSTM is not supported in training".into(),
        ));
    }
    let (batch, steps, _) = x.dims3()?;
    let need = |k: usize| -> Result<&Tensor, Eval> {
        w[k].as_ref()
            .ok_or_else(|| Eval::Unsupported(format!("LSTM input {k} is missing")))
    };
    let cifg = w[1].is_none();
    let gates: &[usize] = if cifg { &[1, 2, 3] } else { &[0, 1, 2, 3] };
    let n_cell = need(2)?.dims()[0];
    // All gates stacked: [n_gates * n_cell, n_input] and [n_gates * n_cell, n_output].
    let wx = Tensor::cat(
        &gates
            .iter()
            .map(|&g| need(1 + g).cloned())
            .collect::<Result<Vec<_>, _>>()?,
        0,
    )?;
    let wh = Tensor::cat(
        &gates
            .iter()
            .map(|&g| need(5 + g).cloned())
            .collect::<Result<Vec<_>, _>>()?,
        0,
    )?;
    let bias = Tensor::cat(
        &gates
            .iter()
            .map(|&g| need(12 + g).cloned())
            .collect::<Result<Vec<_>, _>>()?,
        0,
    )?;
    let n_output = wh.dims()[1];
    let n_input = wx.dims()[1];
    let xw = x
        .reshape((batch * steps, n_input))?
        .matmul(&wx.t()?)?
        .broadcast_add(&bias)?
        .reshape((batch, steps, gates.len() * n_cell))?;
    let wh_t = wh.t()?;
    // Peephole weights: inputs 9, 10, 11 for the input, forget and output gates (none for
    // the cell gate).
    let peephole = |g: usize| {
        let k = match g {
            0 => 9,
            1 => 10,
            3 => 11,
            _ => return None,
        };
        w[k].as_ref()
    };
    let mut h = Tensor::zeros((batch, n_output), x.dtype(), x.device())?;
    let mut c = Tensor::zeros((batch, n_cell), x.dtype(), x.device())?;
    let mut outputs = Vec::with_capacity(steps);
    for t in 0..steps {
        let pre = (xw.narrow(1, t, 1)?.squeeze(1)? + h.matmul(&wh_t)?)?;
        let slot = |g: usize| gates.iter().position(|&x| x == g).unwrap_or(0);
        let gate = |g: usize| pre.narrow(D::Minus1, slot(g) * n_cell, n_cell);
        let with_peephole = |z: Tensor, g: usize, c: &Tensor| -> Result<Tensor, Eval> {
            Ok(match peephole(g) {
                Some(p) => (z + c.broadcast_mul(p)?)?,
                None => z,
            })
        };
        let f = sigmoid(&with_peephole(gate(1)?, 1, &c)?)?;
        let i = if cifg {
            f.affine(-1.0, 1.0)?
        } else {
            sigmoid(&with_peephole(gate(0)?, 0, &c)?)?
        };
        let g = activate(o.activation, &gate(2)?)?;
        let mut c_new = ((&f * &c)? + (&i * &g)?)?;
        if o.cell_clip > 0.0 {
            c_new = c_new.clamp(-o.cell_clip, o.cell_clip)?;
        }
        if let Some((q, op)) = fq.as_mut() {
            c_new = q.cell_state(op, &c_new)?;
        }
        c = c_new;
        let out_gate = sigmoid(&with_peephole(gate(3)?, 3, &c)?)?;
        let mut hidden = (out_gate * activate(o.activation, &c)?)?;
        if let Some(p) = w[16].as_ref() {
            hidden = hidden.matmul(&p.t()?)?;
            if let Some(b) = w[17].as_ref() {
                hidden = hidden.broadcast_add(b)?;
            }
            if o.proj_clip > 0.0 {
                hidden = hidden.clamp(-o.proj_clip, o.proj_clip)?;
            }
        }
        if let Some((q, op)) = fq.as_mut() {
            hidden = q.hidden_state(op, &hidden)?;
        }
        h = hidden;
        outputs.push(h.clone());
    }
    Ok(Tensor::stack(&outputs, 1)?)
}

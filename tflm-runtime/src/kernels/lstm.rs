//! UNIDIRECTIONAL_SEQUENCE_LSTM: float32 and full integer (TFLite's "8x8→16" scheme), as
//! LiteRT's `lstm_eval::EvalFloat` and `lstm_eval::EvalInteger8x8_16`.
//!
//! Gates are numbered as TFLite orders them: 0 input (`i`), 1 forget (`f`), 2 cell (`g`, the
//! candidate), 3 output (`o`). For each time step and each batch row:
//! ```text
//! i = σ(W_i x + R_i h + p_i ⊙ c + b_i)        (absent with CIFG: i = 1 - f)
//! f = σ(W_f x + R_f h + p_f ⊙ c + b_f)
//! g = act(W_g x + R_g h + b_g)
//! c = clip(f ⊙ c + i ⊙ g, cell_clip)
//! o = σ(W_o x + R_o h + p_o ⊙ c + b_o)        (peephole on the *updated* cell)
//! h = o ⊙ act(c);  with projection h = clip(P h + b_p, proj_clip)
//! ```
//! `W_*` are `[n_cell, n_input]`, `R_*` `[n_cell, n_output]`, `p_*` `[n_cell]` (peephole),
//! `b_*` `[n_cell]`, `P` `[n_output, n_cell]`; `h` (`[n_batch, n_output]`) and `c`
//! (`[n_batch, n_cell]`) are the operator's variable tensors, kept across invokes. The output
//! of each step is `h`.
//!
//! Batch-major input (`[n_batch, max_time, n_input]`) runs every batch row's sequence to the
//! end before the next row; time-major (`[max_time, n_batch, n_input]`) steps all rows at once.
//!
//! **Integer** (int8 input, weights and output, int16 cell state with a power-of-two scale
//! `2^cell_scale_log2`, int32 biases, int16 peephole weights): each gate's pre-activation is a
//! Q3.12 int16; `W x` and `R h` are two separate int8 matrix products, each rescaled by its own
//! effective scale (`w_scale * in_scale / 2^-12`) and saturated to int16 in turn, the
//! zero-point terms folded into per-row "effective biases" at prepare time. σ and tanh are
//! gemmlowp's int16 fixed-point functions ([`super::fixed16`]); products of gates are rounding
//! shifts; `h = o ⊙ tanh(c)` is rescaled by `2^-30 / hidden_scale` to int8. LiteRT's integer
//! kernel always uses tanh for `act`, whatever the options say.
//!
//! **int16x8** (int16 input, output and output state, int8 weights, int64 biases, int16 cell
//! state): TFLite Micro's kernel (`lstm_eval.h`, `EvalLstm<int16_t, int8_t, int16_t,
//! int64_t>`), not LiteRT's, which has no int16 activations. It is a different arithmetic from
//! the 8x8→16 one above, built from TFLite's ordinary kernels: each gate is two
//! FULLY_CONNECTEDs with int64 accumulators (`W x + b` and `R h`, no recurrent bias), each
//! rescaled by `MultiplyByQuantizedMultiplier` to Q3.12 and saturated to int16, then a
//! saturating int16 ADD and the LUT-based int16 LOGISTIC/TANH ([`super::logistic`],
//! [`super::tanh`]); `f ⊙ c`, `i ⊙ g` and `o ⊙ tanh(c)` are int16 MULs
//! (`MulElementwise`, [`super::mul`]) with their own Q31 multipliers; tanh of the cell state
//! reads it with a multiplier `3·2^(12 + cell_scale_log2)`. Only the standard LSTM (what Keras
//! builds): no CIFG, peephole, projection or layer normalization, and TANH for `act` (the only
//! other activation TFLite Micro's kernel knows, sigmoid, has no code in the schema).
//!
//! Scratch: four gate buffers (and, for the integer projection, one int8 row), each
//! `rows * n_cell` long, `rows` being the number of batch rows stepped at once.

use super::fixed16;
use super::logistic::{logistic_i16, SigmoidI16Params};
use super::mul::{mul_i16, MulParams};
use super::tanh::tanh_i16;
use crate::quant::{multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_i64};

/// Flag bits of [`LstmParams::flags`].
pub mod flag {
    /// No input gate (coupled input and forget gate: `i = 1 - f`).
    pub const CIFG: i32 = 1;
    /// Peephole weights `p_*` present.
    pub const PEEPHOLE: i32 = 2;
    /// Projection weights `P` present.
    pub const PROJECTION: i32 = 4;
    /// Input is `[max_time, n_batch, n_input]`.
    pub const TIME_MAJOR: i32 = 8;
    /// Integer: some gate weights are in the row-bitmask encoding ([`super::SparseGates`]):
    /// the scratch also holds the step's input and output state rows zero-padded to groups
    /// of 8.
    pub const SPARSE: i32 = 16;
}

/// Sizes and constants, computed once at prepare time and stored in the arena.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LstmParams {
    pub n_batch: i32,
    pub max_time: i32,
    pub n_input: i32,
    pub n_cell: i32,
    pub n_output: i32,
    pub flags: i32,
    /// Float: the cell and output activation as the schema's code (0 none, 1 relu,
    /// 2 relu_n1_to_1, 3 relu6, 4 tanh).
    pub activation: i32,
    /// Float clips (0: none).
    pub cell_clip: f32,
    pub proj_clip: f32,
    /// Integer: clips in the cell state's and the output state's units (0: none).
    pub quantized_cell_clip: i32,
    pub quantized_proj_clip: i32,
    /// Integer: the cell state's scale is `2^cell_scale_log2`.
    pub cell_scale_log2: i32,
    pub output_state_zp: i32,
    pub hidden_zp: i32,
    /// Integer effective scales `(multiplier, shift)` of `W_g x`, `R_g h` and `p_g ⊙ c` per gate.
    pub input_scale: [[i32; 2]; 4],
    pub recurrent_scale: [[i32; 2]; 4],
    pub cell_scale: [[i32; 2]; 4],
    pub hidden_scale: [i32; 2],
    pub proj_scale: [i32; 2],
}

/// What the int16x8 kernel needs beyond [`LstmParams`] (kept apart, so that the other kernels'
/// constants in the arena do not grow): TFLite Micro's "inter-gate" int16 MULs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Lstm16Muls {
    /// `f ⊙ c` to the cell state's scale.
    pub forget: MulParams,
    /// `i ⊙ g` to the cell state's scale.
    pub input: MulParams,
    /// `o ⊙ tanh(c)` to the output state's scale.
    pub hidden: MulParams,
}

impl LstmParams {
    pub fn has(&self, f: i32) -> bool {
        self.flags & f != 0
    }

    /// Batch rows stepped at once: all of them when time-major, one otherwise.
    pub fn rows_per_step(&self) -> usize {
        if self.has(flag::TIME_MAJOR) {
            self.n_batch.max(0) as usize
        } else {
            1
        }
    }

    fn dims(&self) -> (usize, usize, usize, usize, usize) {
        let u = |x: i32| x.max(0) as usize;
        (
            u(self.n_batch),
            u(self.max_time),
            u(self.n_input),
            u(self.n_cell),
            u(self.n_output),
        )
    }

    /// Scratch bytes: four gate buffers of `rows * n_cell` elements of `gate_size` bytes,
    /// plus one int8 buffer of the same length for the integer projection, plus, with
    /// sparse weights, the input and output state rows padded to groups of 8.
    pub fn scratch_bytes(&self, gate_size: usize) -> usize {
        let rows = self.rows_per_step();
        let (_, _, ni, nc, no) = self.dims();
        let n = rows * nc;
        let extra = if gate_size == 2 && self.has(flag::PROJECTION) {
            2 * n.div_ceil(2)
        } else {
            0
        };
        4 * n * gate_size + extra + self.padded_bytes(rows, ni, no)
    }

    /// The integer projection's int8 row in the scratch after the gates, in int16 elements.
    fn projection_scratch(&self, n: usize) -> usize {
        if self.has(flag::PROJECTION) {
            n.div_ceil(2)
        } else {
            0
        }
    }

    /// Bytes of the zero-padded input and output state rows the sparse gate products read.
    fn padded_bytes(&self, rows: usize, ni: usize, no: usize) -> usize {
        if self.has(flag::SPARSE) {
            rows * (crate::sparse::padded_len(ni) + crate::sparse::padded_len(no))
        } else {
            0
        }
    }
}

/// The constant operands of one LSTM; `T` is the weight type, `B` the bias type, `P` the
/// peephole type. Index 0 (input gate) is `None` with CIFG, `peephole[2]` is always `None`.
#[derive(Clone, Copy, Debug)]
pub struct LstmWeights<'a, T, B, P> {
    pub input: [Option<&'a [T]>; 4],
    pub recurrent: [Option<&'a [T]>; 4],
    pub peephole: [Option<&'a [P]>; 4],
    /// Float: the gate biases. Integer: the effective biases of `W_g x` (bias plus
    /// `-input_zp * row sums`).
    pub bias: [Option<&'a [B]>; 4],
    /// Integer only: the effective biases of `R_g h` (`-output_state_zp * row sums`).
    pub recurrent_bias: [Option<&'a [B]>; 4],
    pub projection: Option<&'a [T]>,
    /// Float: the projection bias. Integer: the effective projection bias.
    pub projection_bias: Option<&'a [B]>,
}

/// The integer kernel's gate weight matrices stored in tflm-rs's row-bitmask encoding
/// ([`crate::sparse`], verified by `Model::parse`): `[input-to-gate, recurrent-to-gate][gate]`.
/// A matrix given here is `None` in [`LstmWeights`].
pub type SparseGates<'a> = [[Option<&'a [u8]>; 4]; 2];

/// No sparse matrices: what the dense kernels take.
pub const DENSE: SparseGates<'static> = [[None; 4]; 2];

/// Why the kernel refused to run (verification makes these unreachable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmError;

/// Which arithmetic a kernel runs: what [`check`] requires of the operands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    /// LiteRT's 8x8→16: effective recurrent biases, a projection bias with a projection.
    Int8,
    /// TFLite Micro's 16x8: the standard LSTM only.
    Int16,
}

/// Checks every slice length against `params`.
#[allow(clippy::too_many_arguments)]
fn check<T, B, P, X>(
    p: &LstmParams,
    w: &LstmWeights<'_, T, B, P>,
    sparse: &SparseGates<'_>,
    input: &[X],
    output: &[X],
    output_state: &[X],
    cell_len: usize,
    scratch_len: usize,
    kind: Kind,
) -> Result<(), LstmError> {
    let (nb, t, ni, nc, no) = p.dims();
    let len = |s: Option<usize>, n: usize| s.is_none_or(|l| l == n);
    let gate_size = if kind == Kind::Float { 4 } else { 2 };
    let mut ok = input.len() == nb * t * ni
        && output.len() == nb * t * no
        && output_state.len() == nb * no
        && cell_len == nb * nc
        && scratch_len >= p.scratch_bytes(gate_size)
        && len(w.projection.map(<[T]>::len), no * nc)
        && len(w.projection_bias.map(<[B]>::len), no)
        && w.projection.is_some() == p.has(flag::PROJECTION)
        && (p.has(flag::PROJECTION) || nc == no)
        && (kind != Kind::Int8 || !p.has(flag::PROJECTION) || w.projection_bias.is_some())
        && (kind != Kind::Int16 || !p.has(flag::CIFG | flag::PEEPHOLE | flag::PROJECTION));
    let any_sparse = sparse.iter().flatten().any(Option::is_some);
    ok &= !any_sparse || (kind == Kind::Int8 && p.has(flag::SPARSE));
    for (g, (si, sr)) in sparse[0].iter().zip(&sparse[1]).enumerate() {
        let needed = g != 0 || !p.has(flag::CIFG);
        let peephole = g != 2 && needed && p.has(flag::PEEPHOLE);
        let recurrent_bias = needed && kind == Kind::Int8;
        let [si, sr] = [si.is_some(), sr.is_some()];
        ok &= (needed || !(si || sr))
            && w.input[g].map(<[T]>::len) == (needed && !si).then_some(nc * ni)
            && w.recurrent[g].map(<[T]>::len) == (needed && !sr).then_some(nc * no)
            && w.peephole[g].map(<[P]>::len) == peephole.then_some(nc)
            && len(w.bias[g].map(<[B]>::len), nc)
            && (kind == Kind::Int16 || w.bias[g].is_some() == needed)
            && w.recurrent_bias[g].map(<[B]>::len) == recurrent_bias.then_some(nc);
    }
    if ok {
        Ok(())
    } else {
        Err(LstmError)
    }
}

/// Where step `t` of batch row `b` (or of all rows, time-major) lives: element offsets of
/// the input, the output and the state rows, and the number of rows.
fn steps(p: &LstmParams) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let (nb, t_max, ni, _, no) = p.dims();
    let time_major = p.has(flag::TIME_MAJOR);
    let (outer, inner) = if time_major { (1, t_max) } else { (nb, t_max) };
    (0..outer).flat_map(move |b| {
        (0..inner).map(move |t| {
            if time_major {
                (t * nb * ni, t * nb * no, 0, nb)
            } else {
                let step = b * t_max + t;
                (step * ni, step * no, b, 1)
            }
        })
    })
}

/// A whole sequence's data: the input, the output state, the cell state, the output and the
/// scratch.
pub type Sequence<'a, X, C, S> = (&'a [X], &'a mut [X], &'a mut [C], &'a mut [X], &'a mut [S]);

/// One time step's operands, as [`for_each_step`] hands them to a kernel.
struct Step<'s, X, C, S> {
    /// The input rows.
    x: &'s [X],
    /// The output state rows (read, then written with the new hidden state).
    h: &'s mut [X],
    /// The cell state rows, updated in place.
    c: &'s mut [C],
    /// Four gate buffers of `rows * n_cell` elements.
    g: [&'s mut [S]; 4],
    /// The scratch after them.
    rest: &'s mut [S],
    rows: usize,
}

/// Runs `step` over the sequence (every kernel's loop), once [`check`] has verified every
/// length for `kind`: slices the rows of each step, splits the scratch into four gate buffers,
/// and copies the new output state into the output.
fn for_each_step<T, B, P, X: Copy, C, S>(
    p: &LstmParams,
    w: &LstmWeights<'_, T, B, P>,
    sparse: &SparseGates<'_>,
    kind: Kind,
    io: Sequence<'_, X, C, S>,
    mut step: impl FnMut(Step<'_, X, C, S>),
) -> Result<(), LstmError> {
    let (input, output_state, cell_state, output, scratch) = io;
    let scratch_bytes = core::mem::size_of_val(scratch);
    check(
        p,
        w,
        sparse,
        input,
        output,
        output_state,
        cell_state.len(),
        scratch_bytes,
        kind,
    )?;
    let (_, _, ni, nc, no) = p.dims();
    for (in_off, out_off, row, rows) in steps(p) {
        let n = rows * nc;
        let (gates, rest) = scratch.split_at_mut(4 * n);
        let (g0, r) = gates.split_at_mut(n);
        let (g1, r) = r.split_at_mut(n);
        let (g2, g3) = r.split_at_mut(n);
        let h = &mut output_state[row * no..(row + rows) * no];
        step(Step {
            x: &input[in_off..in_off + rows * ni],
            h: &mut *h,
            c: &mut cell_state[row * nc..(row + rows) * nc],
            g: [g0, g1, g2, g3],
            rest,
            rows,
        });
        output[out_off..out_off + rows * no].copy_from_slice(h);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------ float

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

fn activate(code: i32, x: f32) -> f32 {
    match code {
        1 => x.max(0.0),
        2 => x.clamp(-1.0, 1.0),
        3 => x.clamp(0.0, 6.0),
        4 => libm::tanhf(x),
        _ => x,
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0f32, |s, (x, y)| s + x * y)
}

/// Float32 LSTM over the whole sequence. `output_state` and `cell_state` are read and
/// updated in place; `scratch` holds at least `params.scratch_bytes(4) / 4` floats.
#[allow(clippy::too_many_arguments)]
pub fn lstm_f32(
    p: &LstmParams,
    w: &LstmWeights<'_, f32, f32, f32>,
    input: &[f32],
    output_state: &mut [f32],
    cell_state: &mut [f32],
    output: &mut [f32],
    scratch: &mut [f32],
) -> Result<(), LstmError> {
    let (_, _, ni, nc, no) = p.dims();
    let io = (input, output_state, cell_state, output, scratch);
    for_each_step(p, w, &DENSE, Kind::Float, io, |s| {
        let Step {
            x,
            h,
            c,
            g: [gi, gf, gg, go],
            rows,
            ..
        } = s;
        let n = rows * nc;
        let input_all_zero = x.iter().all(|&v| v == 0.0);
        let gate = |g: usize, out: &mut [f32], c: &[f32], h: &[f32], act: i32| {
            let (Some(wi), Some(wr), Some(bias)) = (w.input[g], w.recurrent[g], w.bias[g]) else {
                return;
            };
            for r in 0..rows {
                for k in 0..nc {
                    let mut acc = bias[k];
                    if !input_all_zero {
                        acc += dot(&wi[k * ni..(k + 1) * ni], &x[r * ni..(r + 1) * ni]);
                    }
                    acc += dot(&wr[k * no..(k + 1) * no], &h[r * no..(r + 1) * no]);
                    if let Some(pw) = w.peephole[g] {
                        acc += pw[k] * c[r * nc + k];
                    }
                    out[r * nc + k] = if act < 0 {
                        sigmoid(acc)
                    } else {
                        activate(act, acc)
                    };
                }
            }
        };
        let cifg = p.has(flag::CIFG);
        if !cifg {
            gate(0, gi, c, h, -1);
        }
        gate(1, gf, c, h, -1);
        gate(2, gg, c, h, p.activation);
        for k in 0..n {
            let input_gate = if cifg { 1.0 - gf[k] } else { gi[k] };
            let mut v = gf[k] * c[k];
            v += gg[k] * input_gate;
            if p.cell_clip > 0.0 {
                v = v.clamp(-p.cell_clip, p.cell_clip);
            }
            c[k] = v;
        }
        gate(3, go, c, h, -1);
        // h = o ⊙ act(c), into the cell gate's buffer (no longer needed).
        for k in 0..n {
            gg[k] = go[k] * activate(p.activation, c[k]);
        }
        match (w.projection, p.has(flag::PROJECTION)) {
            (Some(pw), true) => {
                for r in 0..rows {
                    for k in 0..no {
                        let mut acc = w.projection_bias.map_or(0.0, |b| b[k]);
                        acc += dot(&pw[k * nc..(k + 1) * nc], &gg[r * nc..(r + 1) * nc]);
                        if p.proj_clip > 0.0 {
                            acc = acc.clamp(-p.proj_clip, p.proj_clip);
                        }
                        h[r * no + k] = acc;
                    }
                }
            }
            _ => h.copy_from_slice(&gg[..rows * no]),
        }
    })
}

// ---------------------------------------------------------------------------------- integer

/// `gate += clamp16(MBQM(bias + W x, scale) + gate)`: TFLite's
/// `MatrixBatchVectorMultiplyAccumulate` with an int16 output (the zero-point terms are in
/// `bias`).
#[inline(always)]
fn matmul_acc_i16(
    weights: &[i8],
    bias: &[i32],
    x: &[i8],
    cols: usize,
    scale: [i32; 2],
    out: &mut [i16],
) {
    for (k, o) in out.iter_mut().enumerate() {
        let row = &weights[k * cols..(k + 1) * cols];
        let dot = row
            .iter()
            .zip(x)
            .fold(0i32, |s, (&a, &b)| s.wrapping_add(a as i32 * b as i32));
        *o = acc_i16(*o, bias[k].wrapping_add(dot), scale);
    }
}

/// One gate pre-activation element: `clamp16(MBQM(sum, scale) + gate)`.
#[inline(always)]
fn acc_i16(gate: i16, sum: i32, scale: [i32; 2]) -> i16 {
    multiply_by_quantized_multiplier(sum, scale[0], scale[1])
        .saturating_add(gate as i32)
        .clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// [`matmul_acc_i16`] with weights in the row-bitmask encoding, `x` one row of
/// [`crate::sparse::grouped`] input: only the nonzero weights are multiplied, the same bits.
#[inline(always)]
fn sparse_matmul_acc_i16(
    encoded: &[u8],
    bias: &[i32],
    x: &[[i8; 8]],
    scale: [i32; 2],
    out: &mut [i16],
) {
    crate::sparse::for_each_row_dot(x, encoded, out.len(), |first, dots| {
        let rows = out[first..].iter_mut().zip(&bias[first..]).zip(dots);
        for ((o, &b), &dot) in rows {
            *o = acc_i16(*o, b.wrapping_add(dot), scale);
        }
    });
}

/// `out += W x` for one gate matrix and one batch row, reading the encoded matrix when there
/// is one (only when `SPARSE`, so the dense kernel does not link the sparse code), else the
/// dense one. `x` is the row, `xg` the same row as groups of 8 (sparse only).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gate_matmul<const SPARSE: bool>(
    dense: Option<&[i8]>,
    encoded: Option<&[u8]>,
    bias: &[i32],
    x: &[i8],
    xg: &[[i8; 8]],
    scale: [i32; 2],
    out: &mut [i16],
) {
    match (encoded, dense) {
        (Some(e), _) if SPARSE => sparse_matmul_acc_i16(e, bias, xg, scale, out),
        (_, Some(w)) => matmul_acc_i16(w, bias, x, x.len(), scale, out),
        _ => {}
    }
}

/// Full-integer LSTM over the whole sequence (int8 input and output, int16 cell state).
/// `output_state` and `cell_state` are read and updated in place; `scratch` holds at least
/// `params.scratch_bytes(2)` bytes.
///
/// With `SPARSE` (a constant: without it the sparse code is not linked), the gate matrices
/// of `sparse` are in the row-bitmask encoding (verified by `Model::parse`; the others dense
/// in `w`): only their nonzero weights are multiplied, every output bit for bit the dense
/// kernel's on the decoded weights. `params` has [`flag::SPARSE`] when any matrix is
/// encoded, and the effective biases hold the encoded matrices' row sums
/// ([`crate::sparse::row_sums`]). Without `SPARSE`, `sparse` must be all `None`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_i8<const SPARSE: bool>(
    p: &LstmParams,
    w: &LstmWeights<'_, i8, i32, i16>,
    sparse: &SparseGates<'_>,
    input: &[i8],
    output_state: &mut [i8],
    cell_state: &mut [i16],
    output: &mut [i8],
    scratch: &mut [i16],
) -> Result<(), LstmError> {
    if !SPARSE && sparse.iter().flatten().any(Option::is_some) {
        return Err(LstmError);
    }
    let io = (input, output_state, cell_state, output, scratch);
    let (_, _, ni, nc, no) = p.dims();
    let (gx, gh) = (crate::sparse::groups(ni), crate::sparse::groups(no));
    let cifg = p.has(flag::CIFG);
    for_each_step(p, w, sparse, Kind::Int8, io, |s| {
        let Step {
            x,
            h,
            c,
            g: [gi, gf, gg, go],
            rest,
            rows,
        } = s;
        let n = rows * nc;
        let (hidden, padded) = rest.split_at_mut(p.projection_scratch(n));
        // The step's input and output state rows as groups of 8, once for the four gates.
        let (mut xg, mut hg): (&[[i8; 8]], &[[i8; 8]]) = (&[], &[]);
        if SPARSE && p.has(flag::SPARSE) {
            let padded: &mut [i8] = bytemuck::cast_slice_mut(padded);
            let (px, ph) = padded.split_at_mut(rows * crate::sparse::padded_len(ni));
            xg = crate::sparse::grouped(x, ni, px).unwrap_or(&[]);
            hg = crate::sparse::grouped(h, no, ph).unwrap_or(&[]);
        }
        let gate = |g: usize, out: &mut [i16], c: &[i16], h: &[i8]| {
            let (Some(bi), Some(br)) = (w.bias[g], w.recurrent_bias[g]) else {
                return;
            };
            out.fill(0);
            for r in 0..rows {
                let o = &mut out[r * nc..(r + 1) * nc];
                let (x, h) = (&x[r * ni..(r + 1) * ni], &h[r * no..(r + 1) * no]);
                let xg = xg.get(r * gx..(r + 1) * gx).unwrap_or(&[]);
                let hg = hg.get(r * gh..(r + 1) * gh).unwrap_or(&[]);
                let [si, sr] = [sparse[0][g], sparse[1][g]];
                gate_matmul::<SPARSE>(w.input[g], si, bi, x, xg, p.input_scale[g], o);
                gate_matmul::<SPARSE>(w.recurrent[g], sr, br, h, hg, p.recurrent_scale[g], o);
                if let Some(pw) = w.peephole[g] {
                    let [m, s] = p.cell_scale[g];
                    for (k, v) in o.iter_mut().enumerate() {
                        let prod = multiply_by_quantized_multiplier(
                            pw[k] as i32 * c[r * nc + k] as i32,
                            m,
                            s,
                        );
                        *v = prod
                            .saturating_add(*v as i32)
                            .clamp(i16::MIN as i32, i16::MAX as i32)
                            as i16;
                    }
                }
            }
            if g == 2 {
                fixed16::tanh_in_place(out, 3);
            } else {
                fixed16::logistic_q3_12_in_place(out);
            }
        };
        if !cifg {
            gate(0, gi, c, h);
        }
        gate(1, gf, c, h);
        gate(2, gg, c, h);
        // c = clip(f ⊙ c + i ⊙ g): f ⊙ c in Q0.15 x cell units, i ⊙ g from Q0.30 to cell units.
        let shift = 30 + p.cell_scale_log2;
        let clip = p.quantized_cell_clip;
        for k in 0..n {
            let fc = fixed16::mul_shift(gf[k], c[k], 15);
            let input_gate = if cifg {
                32767i16.wrapping_sub(gf[k])
            } else {
                gi[k]
            };
            let ig = fixed16::mul_shift(input_gate, gg[k], shift);
            let mut v = (fc as i32 + ig as i32).clamp(i16::MIN as i32, i16::MAX as i32);
            if clip > 0 {
                v = v.clamp(-clip, clip);
            }
            c[k] = v as i16;
        }
        gate(3, go, c, h);
        // tanh(c) into the input gate's buffer (no longer needed).
        gi.copy_from_slice(c);
        fixed16::tanh_in_place(gi, 15 + p.cell_scale_log2);
        let [hm, hs] = p.hidden_scale;
        let hidden_q = |k: usize, zp: i32| {
            let v = multiply_by_quantized_multiplier(go[k] as i32 * gi[k] as i32, hm, hs);
            v.wrapping_add(zp).clamp(-128, 127) as i8
        };
        match (w.projection, w.projection_bias) {
            (Some(pw), Some(pb)) if p.has(flag::PROJECTION) => {
                let hidden: &mut [i8] = bytemuck::cast_slice_mut(&mut hidden[..n.div_ceil(2)]);
                for (k, v) in hidden.iter_mut().enumerate().take(n) {
                    // LiteRT subtracts the hidden zero point here (b/246629213) and adds
                    // `hidden_zp * row sums` back through the effective projection bias.
                    *v = hidden_q(k, -p.hidden_zp);
                }
                let [pm, ps] = p.proj_scale;
                let pclip = p.quantized_proj_clip;
                for r in 0..rows {
                    let hr = &hidden[r * nc..(r + 1) * nc];
                    for k in 0..no {
                        let dot = pw[k * nc..(k + 1) * nc]
                            .iter()
                            .zip(hr)
                            .fold(0i32, |s, (&a, &b)| s.wrapping_add(a as i32 * b as i32));
                        let acc = multiply_by_quantized_multiplier(pb[k].wrapping_add(dot), pm, ps)
                            .wrapping_add(p.output_state_zp);
                        let mut v = acc.clamp(-128, 127);
                        if pclip > 0 {
                            v = v.clamp(-pclip, pclip);
                        }
                        h[r * no + k] = v as i8;
                    }
                }
            }
            _ => {
                for (k, v) in h.iter_mut().enumerate().take(n) {
                    *v = hidden_q(k, p.hidden_zp);
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------- int16x8

/// `out = clamp16(MBQM64(Σ w x + bias))`: TFLite's `FullyConnected<int64_t>` on int16
/// activations (zero points 0) into a Q3.12 gate, one batch row.
#[inline(always)]
fn fc_i16(weights: &[i8], bias: Option<&[i64]>, x: &[i16], scale: [i32; 2], out: &mut [i16]) {
    let cols = x.len();
    for (k, o) in out.iter_mut().enumerate() {
        let row = &weights[k * cols..(k + 1) * cols];
        let dot = row.iter().zip(x).fold(0i64, |s, (&a, &b)| {
            s.wrapping_add((a as i32 * b as i32) as i64)
        });
        let acc = dot.wrapping_add(bias.map_or(0, |b| b[k]));
        *o = multiply_by_quantized_multiplier_i64(acc, scale[0], scale[1])
            .clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    }
}

/// How TFLite Micro's LSTM feeds the cell state (scale `2^cell_scale_log2`) to the int16 TANH,
/// whose table expects Q3.12 times 3: `3·2^s` for `s = 12 + cell_scale_log2 >= 0`, else 3 and a
/// rounding right shift by `-s` (its `lstm_internal::Tanh`).
pub fn cell_tanh_params(cell_scale_log2: i32) -> SigmoidI16Params {
    let s = 12 + cell_scale_log2;
    if s >= 0 {
        SigmoidI16Params {
            input_multiplier: 3 << s.min(14),
            input_left_shift: 0,
        }
    } else {
        SigmoidI16Params {
            input_multiplier: 3,
            input_left_shift: -s,
        }
    }
}

/// The int16x8 LSTM over the whole sequence, as TFLite Micro's `EvalLstm<int16_t, int8_t,
/// int16_t, int64_t>`: int16 input, output and output state (zero point 0), int8 weights,
/// optional int64 gate biases, int16 cell state. `output_state` and `cell_state` are read and
/// updated in place; `scratch` holds at least `params.scratch_bytes(2) / 2` elements.
#[allow(clippy::too_many_arguments)]
pub fn lstm_i16(
    p: &LstmParams,
    muls: &Lstm16Muls,
    w: &LstmWeights<'_, i8, i64, i16>,
    input: &[i16],
    output_state: &mut [i16],
    cell_state: &mut [i16],
    output: &mut [i16],
    scratch: &mut [i16],
) -> Result<(), LstmError> {
    let (_, _, ni, nc, no) = p.dims();
    // The gates' nonlinearities read Q3.12 (TFLite Micro passes multiplier 0, shift 0: 3x).
    let q3_12 = SigmoidI16Params {
        input_multiplier: 0,
        input_left_shift: 0,
    };
    let cell_tanh = cell_tanh_params(p.cell_scale_log2);
    let clip = p.quantized_cell_clip as i16;
    let io = (input, output_state, cell_state, output, scratch);
    for_each_step(p, w, &DENSE, Kind::Int16, io, |s| {
        let Step {
            x,
            h,
            c,
            g: [gi, gf, gg, go],
            rows,
            ..
        } = s;
        let n = rows * nc;
        let one = [n];
        // gate = act(sat16(FC(x; W, b) + FC(h; R))), the FCs' sum formed in `tmp`.
        let gate = |g: usize, out: &mut [i16], tmp: &mut [i16], h: &[i16]| {
            let (Some(wi), Some(wr)) = (w.input[g], w.recurrent[g]) else {
                return;
            };
            for r in 0..rows {
                let (o, t) = (
                    &mut out[r * nc..(r + 1) * nc],
                    &mut tmp[r * nc..(r + 1) * nc],
                );
                fc_i16(wi, w.bias[g], &x[r * ni..(r + 1) * ni], p.input_scale[g], o);
                fc_i16(wr, None, &h[r * no..(r + 1) * no], p.recurrent_scale[g], t);
            }
            for (t, &o) in tmp.iter_mut().zip(out.iter()) {
                *t = t.saturating_add(o);
            }
            if g == 2 {
                tanh_i16(&q3_12, tmp, out);
            } else {
                logistic_i16(&q3_12, tmp, out);
            }
        };
        gate(1, gf, go, h);
        gate(0, gi, go, h);
        gate(2, gg, go, h);
        // c = clip(sat16(f ⊙ c + i ⊙ g)), each product an int16 MUL to the cell's scale.
        mul_i16(&muls.forget, gf, &one, c, &one, go);
        mul_i16(&muls.input, gi, &one, gg, &one, gf);
        for (k, v) in c.iter_mut().enumerate() {
            let sum = go[k].saturating_add(gf[k]);
            *v = if p.cell_clip > 0.0 {
                sum.min(clip).max(clip.wrapping_neg())
            } else {
                sum
            };
        }
        gate(3, gi, gg, h);
        // h = o ⊙ tanh(c), an int16 MUL to the output state's scale.
        tanh_i16(&cell_tanh, c, gf);
        mul_i16(&muls.hidden, gf, &one, gi, &one, h);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize_multiplier;

    #[test]
    fn cell_tanh_reads_the_cell_state_as_tflite_micro() {
        let p = |log2| {
            let s = cell_tanh_params(log2);
            (s.input_multiplier, s.input_left_shift)
        };
        // Q3.12 is the table's own input: multiplier 3; coarser cells multiply, finer shift.
        assert_eq!(p(-12), (3, 0));
        assert_eq!(p(-11), (6, 0));
        assert_eq!(p(-9), (24, 0));
        assert_eq!(p(-15), (3, 3));
    }

    /// The sparse integer kernel against the dense one on the same pruned weights: every
    /// output and state bit-identical, for depths below, at and past a group of 8 (the input
    /// and state rows padded), batch- and time-major, CIFG, peephole and projection, with
    /// every gate matrix encoded and with only some.
    #[test]
    fn sparse_int8_equals_dense_int8() {
        extern crate std;
        let mut seed = 0x2545_f491u32;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let cases = [
            // (n_input, n_cell, n_output, n_batch, max_time, flags)
            (3, 20, 20, 1, 6, 0),
            (8, 8, 8, 2, 4, flag::TIME_MAJOR),
            (11, 5, 5, 3, 3, flag::TIME_MAJOR | flag::PEEPHOLE),
            (4, 9, 6, 2, 3, flag::PROJECTION | flag::CIFG),
            (17, 16, 16, 1, 5, flag::CIFG | flag::PEEPHOLE),
        ];
        for (case, &(ni, nc, no, nb, t, flags)) in cases.iter().enumerate() {
            let mut p = LstmParams {
                n_batch: nb as i32,
                max_time: t as i32,
                n_input: ni as i32,
                n_cell: nc as i32,
                n_output: no as i32,
                flags,
                cell_scale_log2: -11,
                output_state_zp: 3,
                hidden_zp: -2,
                ..LstmParams::default()
            };
            for g in 0..4 {
                p.input_scale[g] = [1_300_000_000 + (rand() % 400_000_000) as i32, -1];
                p.recurrent_scale[g] = [1_200_000_000 + (rand() % 400_000_000) as i32, -2];
                p.cell_scale[g] = [1_500_000_000, -3];
            }
            p.hidden_scale = [1_400_000_000, -8];
            p.proj_scale = [1_100_000_000, -1];
            let cifg = flags & flag::CIFG != 0;
            // Weights with half their values zeroed, as magnitude pruning leaves them.
            let mut pruned = |n: usize| -> std::vec::Vec<i8> {
                (0..n)
                    .map(|_| {
                        let v = rand();
                        if v % 2 == 0 {
                            0
                        } else {
                            (v >> 8) as i8 | 1
                        }
                    })
                    .collect()
            };
            let wi: std::vec::Vec<_> = (0..4).map(|_| pruned(nc * ni)).collect();
            let wr: std::vec::Vec<_> = (0..4).map(|_| pruned(nc * no)).collect();
            let proj = pruned(no * nc);
            let mut vals = |n: usize, m: u32| -> std::vec::Vec<i32> {
                (0..n)
                    .map(|_| (rand() % m) as i32 - (m / 2) as i32)
                    .collect()
            };
            let bias: std::vec::Vec<_> = (0..4).map(|_| vals(nc, 4000)).collect();
            let rbias: std::vec::Vec<_> = (0..4).map(|_| vals(nc, 4000)).collect();
            let pbias = vals(no, 200);
            let peep: std::vec::Vec<std::vec::Vec<i16>> = (0..4)
                .map(|_| vals(nc, 2000).iter().map(|&v| v as i16).collect())
                .collect();
            let input: std::vec::Vec<i8> = (0..nb * t * ni).map(|_| rand() as i8).collect();
            let encode = |w: &[i8], depth: usize| {
                let mut e = std::vec![0u8; crate::sparse::encoded_len(depth, w)];
                crate::sparse::encode(depth, w, &mut e).unwrap();
                e
            };
            let enc_i: std::vec::Vec<_> = wi.iter().map(|w| encode(w, ni)).collect();
            let enc_r: std::vec::Vec<_> = wr.iter().map(|w| encode(w, no)).collect();
            let gate = |g: usize| g != 0 || !cifg;
            let dense = LstmWeights {
                input: core::array::from_fn(|g| gate(g).then_some(&wi[g][..])),
                recurrent: core::array::from_fn(|g| gate(g).then_some(&wr[g][..])),
                peephole: core::array::from_fn(|g| {
                    (g != 2 && gate(g) && flags & flag::PEEPHOLE != 0).then_some(&peep[g][..])
                }),
                bias: core::array::from_fn(|g| gate(g).then_some(&bias[g][..])),
                recurrent_bias: core::array::from_fn(|g| gate(g).then_some(&rbias[g][..])),
                projection: (flags & flag::PROJECTION != 0).then_some(&proj[..]),
                projection_bias: (flags & flag::PROJECTION != 0).then_some(&pbias[..]),
            };
            let run = |p: &LstmParams, sparse: Option<(&LstmWeights<'_, i8, i32, i16>, &SparseGates<'_>)>| {
                let mut h: std::vec::Vec<i8> = (0..nb * no).map(|k| k as i8 - 4).collect();
                let mut c: std::vec::Vec<i16> = (0..nb * nc).map(|k| 300 * k as i16).collect();
                let mut out = std::vec![0i8; nb * t * no];
                let mut scratch = std::vec![0x5555i16; p.scratch_bytes(2) / 2];
                match sparse {
                    None => lstm_i8::<false>(
                        p, &dense, &DENSE, &input, &mut h, &mut c, &mut out, &mut scratch,
                    ),
                    Some((w, s)) => {
                        lstm_i8::<true>(p, w, s, &input, &mut h, &mut c, &mut out, &mut scratch)
                    }
                }
                .unwrap();
                (out, h, c)
            };
            let want = run(&p, None);
            // Not a trivial sequence: the outputs vary.
            assert!(want.0.iter().any(|&v| v != want.0[0]), "case {case}");
            let mut ps = p;
            ps.flags |= flag::SPARSE;
            // Every matrix encoded, only the recurrent ones of gates 1 and 3, none.
            for which in [0b1111_1111u32, 0b1010_0000, 0] {
                let mut w = dense;
                let mut sparse: SparseGates<'_> = [[None; 4]; 2];
                for g in (0..4).filter(|&g| gate(g)) {
                    if which & (1 << g) != 0 {
                        (w.input[g], sparse[0][g]) = (None, Some(&enc_i[g][..]));
                    }
                    if which & (1 << (4 + g)) != 0 {
                        (w.recurrent[g], sparse[1][g]) = (None, Some(&enc_r[g][..]));
                    }
                }
                assert_eq!(
                    run(&ps, Some((&w, &sparse))),
                    want,
                    "case {case}, {which:#x}"
                );
            }
        }
    }

    /// A 2-input, 2-unit LSTM over 3 steps in int16x8 follows the float kernel on the same
    /// weights to within a few output quanta, and updates its state in place.
    #[test]
    fn int16x8_follows_float() {
        let wf: [[f32; 4]; 4] = [
            [0.5, -0.3, 0.8, 0.1],
            [-0.2, 0.6, 0.4, -0.7],
            [0.9, 0.2, -0.5, 0.3],
            [0.1, -0.8, 0.2, 0.6],
        ];
        let rf: [[f32; 4]; 4] = [
            [0.2, 0.1, -0.3, 0.4],
            [0.5, -0.2, 0.1, 0.3],
            [-0.6, 0.4, 0.2, 0.1],
            [0.3, 0.3, -0.1, -0.4],
        ];
        let bf: [[f32; 2]; 4] = [[0.1, -0.2], [1.0, 0.8], [0.0, 0.3], [-0.1, 0.2]];
        let x = [1.5f32, -0.7, 0.2, 1.9, -1.2, 0.4];
        let (in_s, state_s) = (2.0f32 / 32767.0, 1.0f32 / 32767.0);
        let mut p = LstmParams {
            n_batch: 1,
            max_time: 3,
            n_input: 2,
            n_cell: 2,
            n_output: 2,
            activation: 4,
            cell_scale_log2: -11,
            ..LstmParams::default()
        };
        let mult = |real: f64| {
            let (m, s) = quantize_multiplier(real);
            [m, s]
        };
        let q = |v: &[f32; 4], s: f32| v.map(|w| (w / s).round() as i8);
        let (mut wq, mut rq, mut bq) = ([[0i8; 4]; 4], [[0i8; 4]; 4], [[0i64; 2]; 4]);
        for g in 0..4 {
            let ws = wf[g].iter().fold(0f32, |m, w| m.max(w.abs())) / 127.0;
            let rs = rf[g].iter().fold(0f32, |m, w| m.max(w.abs())) / 127.0;
            wq[g] = q(&wf[g], ws);
            rq[g] = q(&rf[g], rs);
            bq[g] = bf[g].map(|b| (b / (in_s * ws)).round() as i64);
            p.input_scale[g] = mult(in_s as f64 * ws as f64 * 4096.0);
            p.recurrent_scale[g] = mult(state_s as f64 * rs as f64 * 4096.0);
        }
        let mul = |real: f64| {
            let [m, s] = mult(real);
            MulParams {
                output_multiplier: m,
                output_shift: s,
                activation_min: -32768,
                activation_max: 32767,
                ..MulParams::default()
            }
        };
        let muls = Lstm16Muls {
            forget: mul(2f64.powi(-15)),
            input: mul(2f64.powi(-30) / 2f64.powi(-11)),
            hidden: mul(2f64.powi(-30) / state_s as f64),
        };
        let (mut h, mut c, mut out, mut scratch) = ([0i16; 2], [0i16; 2], [0i16; 6], [0i16; 8]);
        let xq = x.map(|v| (v / in_s).round() as i16);
        let w = LstmWeights {
            input: wq.each_ref().map(|w| Some(&w[..])),
            recurrent: rq.each_ref().map(|w| Some(&w[..])),
            peephole: [None; 4],
            bias: bq.each_ref().map(|b| Some(&b[..])),
            recurrent_bias: [None; 4],
            projection: None,
            projection_bias: None,
        };
        lstm_i16(&p, &muls, &w, &xq, &mut h, &mut c, &mut out, &mut scratch).unwrap();

        let (mut hf, mut cf, mut outf, mut scratch_f) =
            ([0f32; 2], [0f32; 2], [0f32; 6], [0f32; 8]);
        let wf_ = LstmWeights {
            input: wf.each_ref().map(|w| Some(&w[..])),
            recurrent: rf.each_ref().map(|w| Some(&w[..])),
            peephole: [None; 4],
            bias: bf.each_ref().map(|b| Some(&b[..])),
            recurrent_bias: [None; 4],
            projection: None,
            projection_bias: None,
        };
        lstm_f32(&p, &wf_, &x, &mut hf, &mut cf, &mut outf, &mut scratch_f).unwrap();
        // Not a trivial sequence: outputs of both signs and up to about 0.3.
        assert!(outf.iter().any(|&f| f > 0.2) && outf.iter().any(|&f| f < -0.05));
        for (k, (&o, &f)) in out.iter().zip(&outf).enumerate() {
            let got = o as f32 * state_s;
            assert!(
                (got - f).abs() < 0.01,
                "output {k}: {got} against float {f}"
            );
        }
        assert_eq!(&out[4..], &h);
        assert!(c
            .iter()
            .zip(&cf)
            .all(|(&q, &f)| (q as f32 / 2048.0 - f).abs() < 0.01));
        // The int16x8 kernel refuses what TFLite Micro's does not run (here: peephole flags).
        p.flags = flag::PEEPHOLE;
        assert_eq!(
            lstm_i16(&p, &muls, &w, &xq, &mut h, &mut c, &mut out, &mut scratch),
            Err(LstmError)
        );
    }
}

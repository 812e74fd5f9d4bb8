//! UNIDIRECTIONAL_SEQUENCE_LSTM: float32, and full integer in TFLite's 8x8→16 scheme (int8
//! input, weights and output, int16 cell state, int32 biases, int16 peephole weights, the
//! hidden state's scale taken from the operator's fifth `intermediates` tensor). The output
//! state (input 18) and cell state (input 19) are variable tensors updated in place.
//!
//! Prepare computes what LiteRT's `PopulateQuantizedLstmParams8x8_16` and
//! `PopulatePrecomputedZPTimesWeightsWithBias` compute, with the same arithmetic: the
//! effective scales in f32 (the hidden and peephole ones through f64 powers of two, rounded to
//! f32), the clips truncated toward zero, and per-row effective biases
//! `bias - input_zp * row_sum(W)`, `-output_state_zp * row_sum(R)` and
//! `projection_bias + hidden_zp * row_sum(P)` (LiteRT's sign, compensated in the kernel).
//!
//! With `UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE` ([`prepare_sparse`], [`eval_sparse`]) the int8
//! LSTM's input-to-gate and recurrent-to-gate weights (inputs 1-8) may be in tflm-rs's
//! row-bitmask encoding (`crate::sparse`, zero point 0): their row sums for the effective biases
//! come from the encoded bytes, and the kernel multiplies only their nonzero weights. The other
//! registrations refuse such weights, so their firmware does not link the sparse code.
//!
//! int16x8 (int16 activations, int8 weights, int64 biases, int16 cell state) follows TFLite
//! Micro instead, whose kernel is the only one with int16 activations (LiteRT has none):
//! `CreateGateParams` and `CreateInterGateMulParams` of its `lstm_eval_common.cc`. Every
//! multiplier comes from a double `s1 * s2 / s3` of the f32 scales through
//! `QuantizeMultiplier`: `W x` and `R h` to Q3.12, `f ⊙ c` (Q0.15 times the cell) and `i ⊙ g`
//! (Q0.15 times Q0.15) to the cell state's scale, `o ⊙ tanh(c)` to the output state's; the cell
//! clip is `(int16)(clip / cell_scale)` in double. The intermediates are not read. The standard
//! LSTM only (TFLite Micro's `ValidateTensorStatus`): no CIFG, peephole, projection or layer
//! normalization, all zero points 0.

use super::{DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::flatbuf::read_i32;
use crate::kernels::lstm::{self as k, flag, Lstm16Muls, LstmParams, LstmWeights};
use crate::kernels::mul::MulParams;
use crate::model::Tensor;
use crate::quant::{effective_scale, quantize_multiplier};
use crate::schema::field::unidirectional_sequence_lstm_options as f;
use crate::types::DType;

/// Input indices (TFLite's `lstm::full` tensor order).
mod idx {
    pub const INPUT: usize = 0;
    /// input_to_{input, forget, cell, output}_weights.
    pub const INPUT_WEIGHTS: usize = 1;
    /// recurrent_to_{input, forget, cell, output}_weights.
    pub const RECURRENT_WEIGHTS: usize = 5;
    /// cell_to_{input, forget, output}_weights (peephole).
    pub const PEEPHOLE: usize = 9;
    /// {input, forget, cell, output}_gate_bias.
    pub const BIAS: usize = 12;
    pub const PROJECTION: usize = 16;
    pub const PROJECTION_BIAS: usize = 17;
    pub const OUTPUT_STATE: usize = 18;
    pub const CELL_STATE: usize = 19;
    /// {input, forget, cell, output}_layer_norm_coefficients.
    pub const LAYER_NORM: usize = 20;
}

/// Peephole input of gate `g` (the cell gate has none).
fn peephole_index(g: usize) -> Option<usize> {
    match g {
        0 => Some(idx::PEEPHOLE),
        1 => Some(idx::PEEPHOLE + 1),
        3 => Some(idx::PEEPHOLE + 2),
        _ => None,
    }
}

const FLOAT: u32 = 0;
const INT8: u32 = 1;
const INT16: u32 = 2;

/// The operand tensors, gate by gate (index 0 `None` with CIFG).
struct Operands<'m> {
    input_w: [Option<Tensor<'m>>; 4],
    recurrent_w: [Option<Tensor<'m>>; 4],
    peephole: [Option<Tensor<'m>>; 4],
    bias: [Option<Tensor<'m>>; 4],
    projection: Option<Tensor<'m>>,
    projection_bias: Option<Tensor<'m>>,
}

/// TFLite's `CheckedLog2`: the exponent of a power-of-two scale.
fn checked_log2(x: f32) -> Option<i32> {
    let log2 = libm::logf(x) * (1.0f32 / libm::logf(2.0));
    let rounded = libm::roundf(log2);
    (libm::fabsf(log2 - rounded) < 1e-3).then_some(rounded as i32)
}

/// The integer LSTM's gate scale, Q3.12.
const Q3_12: f32 = 1.0 / 4096.0;

/// A peephole weight's effective scale, `2^cell_scale_log2 * scale / 2^-12` as LiteRT computes
/// it in double (`pow(2, log2)`), then rounded to f32. With `cell_scale_log2` in -15..=-9
/// (`prepare` refuses the others) the factor is a power of two from 2^-3 to 2^3: exact in
/// double, so the only rounding is to f32, which one f32 product does alike (no soft-float
/// `pow`, multiply or divide linked: about 3.5 KB).
fn peephole_scale(scale: f32, cell_scale_log2: i32) -> f32 {
    let exponent = (cell_scale_log2 + 12).clamp(-3, 3);
    scale * f32::from_bits(((exponent + 127) as u32) << 23)
}

/// The hidden state's effective scale, `2^-15 / hidden_scale * 2^-15` in double, then f32:
/// the division rounds once and the second factor is exact, so it is `effective_scale`'s
/// `2^-15 * 2^-15 / hidden_scale` (one rounding, in integers).
fn hidden_effective_scale(hidden_scale: f32) -> f32 {
    let q0_15 = 1.0f32 / 32768.0;
    effective_scale(q0_15, q0_15, hidden_scale) as f32
}

fn multiplier(real: f32) -> [i32; 2] {
    multiplier64(f64::from(real))
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false>(p, false)
}

/// [`prepare`] of int8 operators only (`UNIDIRECTIONAL_SEQUENCE_LSTM_INT8`): the float and
/// int16x8 checks and constants are compiled out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true>(p, false)
}

/// [`prepare`] that also accepts int8 gate weights in the sparse encoding.
pub(super) fn prepare_sparse(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false>(p, true)
}

/// [`prepare_sparse`] of int8 operators only (`UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8`).
pub(super) fn prepare_sparse_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true>(p, true)
}

/// Bit `g` (input-to-gate) and `4 + g` (recurrent-to-gate) of the prepared sparse mask: gate
/// `g`'s matrix is sparse-encoded.
fn sparse_bit(recurrent: bool, g: usize) -> u32 {
    1 << (g + if recurrent { 4 } else { 0 })
}

/// `INT8_ONLY`: an `_INT8` registration's (a constant, so the other types' arms are compiled
/// out).
fn prepare_with<const INT8_ONLY: bool>(
    p: &mut Prepare<'_, '_, '_>,
    sparse_ok: bool,
) -> Result<(), ParseErrorKind> {
    p.expect_io(20, 24, 1)?;
    if p.op.inputs.len() != 20 && p.op.inputs.len() != 24 {
        return Err(p.invalid("expects 20 or 24 inputs"));
    }
    let input = p.input(idx::INPUT)?;
    if INT8_ONLY && input.dtype != DType::I8 {
        // The `_INT8` registrations' refusal (what `Prepare::require_int8` gives; only they
        // set the message), before the checks below so that they see int8 alone.
        return Err(p.unsupported(p.int8_only.unwrap_or("types other than int8")));
    }
    let output = p.output(0)?;
    let output_state = p.input(idx::OUTPUT_STATE)?;
    let cell_state = p.input(idx::CELL_STATE)?;
    if !output_state.is_variable || !cell_state.is_variable {
        return Err(
            p.invalid("the output and cell states (inputs 18, 19) must be variable tensors")
        );
    }
    if (idx::LAYER_NORM..idx::LAYER_NORM + 4).any(|i| p.optional_input(i).is_some()) {
        return Err(p.unsupported("layer normalization"));
    }
    if p.op.option::<bool>(f::DIAGONAL_RECURRENT_TENSORS, false)? {
        return Err(p.unsupported("diagonal recurrent weights"));
    }
    if input.shape.rank() != 3 {
        return Err(p.unsupported("input that is not 3-D"));
    }
    let time_major = p.op.option::<bool>(f::TIME_MAJOR, false)?;
    let (n_batch, max_time) = if time_major {
        (input.shape.dim(1), input.shape.dim(0))
    } else {
        (input.shape.dim(0), input.shape.dim(1))
    };
    let n_input = input.shape.dim(2);
    let w_out = p.input(idx::INPUT_WEIGHTS + 3)?;
    let r_out = p.input(idx::RECURRENT_WEIGHTS + 3)?;
    if w_out.shape.rank() != 2 || r_out.shape.rank() != 2 {
        return Err(p.unsupported("weights that are not 2-D (diagonal recurrent weights)"));
    }
    let n_cell = w_out.shape.dim(0);
    let n_output = r_out.shape.dim(1);

    let cifg = p.optional_input(idx::INPUT_WEIGHTS).is_none();
    let mut ops = Operands {
        input_w: [None; 4],
        recurrent_w: [None; 4],
        peephole: [None; 4],
        bias: [None; 4],
        projection: p.optional_input(idx::PROJECTION),
        projection_bias: p.optional_input(idx::PROJECTION_BIAS),
    };
    for g in 0..4 {
        let t = |i| p.optional_input(i);
        if g == 0 && cifg {
            if t(idx::RECURRENT_WEIGHTS).is_some() || t(idx::BIAS).is_some() {
                return Err(p.invalid("CIFG (no input gate) needs inputs 1, 5 and 12 all absent"));
            }
            continue;
        }
        let missing = p.invalid("a gate's weights or bias are missing");
        ops.input_w[g] = Some(t(idx::INPUT_WEIGHTS + g).ok_or(missing)?);
        ops.recurrent_w[g] = Some(t(idx::RECURRENT_WEIGHTS + g).ok_or(missing)?);
        ops.bias[g] = Some(t(idx::BIAS + g).ok_or(missing)?);
        ops.peephole[g] = peephole_index(g).and_then(t);
    }
    let peephole = ops.peephole[1].is_some();
    let gates = |g: usize| g != 0 || !cifg;
    if (0..4).any(|g| gates(g) && g != 2 && ops.peephole[g].is_some() != peephole) {
        return Err(p.invalid("peephole weights must be all present or all absent"));
    }
    if ops.projection.is_none() && ops.projection_bias.is_some() {
        return Err(p.invalid("projection bias without projection weights"));
    }
    if ops.projection.is_none() && n_output != n_cell {
        return Err(p.invalid("without projection the output size must equal the cell count"));
    }

    // Shapes.
    let is = |t: &Tensor<'_>, dims: &[usize]| {
        t.shape.rank() == dims.len() && t.shape.dims().eq(dims.iter().copied())
    };
    for g in (0..4).filter(|&g| gates(g)) {
        let shapes_ok = ops.input_w[g].is_some_and(|t| is(&t, &[n_cell, n_input]))
            && ops.recurrent_w[g].is_some_and(|t| is(&t, &[n_cell, n_output]))
            && ops.bias[g].is_some_and(|t| is(&t, &[n_cell]))
            && ops.peephole[g].is_none_or(|t| is(&t, &[n_cell]));
        if !shapes_ok {
            return Err(
                p.invalid("weight, bias or peephole shapes do not fit the input and cell count")
            );
        }
    }
    if ops.projection.is_some_and(|t| !is(&t, &[n_output, n_cell]))
        || ops.projection_bias.is_some_and(|t| !is(&t, &[n_output]))
    {
        return Err(p.invalid("projection shapes do not fit"));
    }
    let mut out_dims = [0usize; 3];
    for (o, d) in out_dims.iter_mut().zip(input.shape.dims()) {
        *o = d;
    }
    out_dims[2] = n_output;
    if !is(&output, &out_dims)
        || output_state.shape.num_elements() != n_batch * n_output
        || cell_state.shape.num_elements() != n_batch * n_cell
    {
        return Err(p.invalid("output or state sizes do not fit"));
    }
    let fits = |x: usize| i32::try_from(x).map_err(|_| p.invalid("sizes out of range"));
    // The scratch buffers (four gates of n_batch * n_cell, at most 4 bytes each) must fit.
    let scratch = n_batch.checked_mul(n_cell).and_then(|n| n.checked_mul(20));
    fits(scratch.ok_or(p.invalid("sizes out of range"))?)?;

    // Every operand must be constant except the input and the states.
    let constants = ops
        .input_w
        .iter()
        .chain(&ops.recurrent_w)
        .chain(&ops.peephole)
        .chain(&ops.bias)
        .chain([&ops.projection, &ops.projection_bias])
        .flatten();
    for t in constants.clone() {
        p.constant(t, "LSTM weights and biases must be constant")?;
    }
    let mut sparse_mask = 0u32;
    for (recurrent, weights) in [(false, &ops.input_w), (true, &ops.recurrent_w)] {
        for (g, t) in weights.iter().enumerate() {
            if t.is_some_and(|t| t.is_sparse) {
                sparse_mask |= sparse_bit(recurrent, g);
            }
        }
    }
    if sparse_mask != 0 {
        if !sparse_ok {
            let name = if p.int8_only.is_some() {
                "UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8"
            } else {
                "UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE"
            };
            return Err(ParseErrorKind::NotRegistered {
                code: crate::schema::op::UNIDIRECTIONAL_SEQUENCE_LSTM,
                name,
            });
        }
        if input.dtype != DType::I8 {
            return Err(p.unsupported(
                "sparse-encoded weights outside the int8 LSTM (int8 input, int16 cell state)",
            ));
        }
        let weights = ops.input_w.iter().chain(&ops.recurrent_w).flatten();
        if weights
            .filter(|t| t.is_sparse)
            .any(|t| t.quantization.zero_point() != 0)
        {
            return Err(p.unsupported("sparse-encoded weights with a non-zero zero point"));
        }
    }

    let cell_clip = p.op.option::<f32>(f::CELL_CLIP, 0.0)?;
    let proj_clip = p.op.option::<f32>(f::PROJ_CLIP, 0.0)?;
    if !(cell_clip >= 0.0 && cell_clip.is_finite() && proj_clip >= 0.0 && proj_clip.is_finite()) {
        return Err(p.invalid("clips must be finite and non-negative"));
    }
    let activation = p.op.option::<i8>(f::FUSED_ACTIVATION, 0)? as i32;
    let mut params = LstmParams {
        n_batch: fits(n_batch)?,
        max_time: fits(max_time)?,
        n_input: fits(n_input)?,
        n_cell: fits(n_cell)?,
        n_output: fits(n_output)?,
        flags: if cifg { flag::CIFG } else { 0 }
            | if peephole { flag::PEEPHOLE } else { 0 }
            | if ops.projection.is_some() {
                flag::PROJECTION
            } else {
                0
            }
            | if time_major { flag::TIME_MAJOR } else { 0 }
            | if sparse_mask != 0 { flag::SPARSE } else { 0 },
        activation,
        cell_clip,
        proj_clip,
        ..LstmParams::default()
    };

    let all_f32 = !INT8_ONLY
        && input.dtype == DType::F32
        && output.dtype == DType::F32
        && output_state.dtype == DType::F32
        && cell_state.dtype == DType::F32
        && constants.clone().all(|t| t.dtype == DType::F32);
    if all_f32 {
        if !(0..=4).contains(&activation) {
            return Err(
                p.unsupported("activation other than NONE, RELU, RELU_N1_TO_1, RELU6, TANH")
            );
        }
        p.scratch_bytes = params.scratch_bytes(4);
        p.data.put(FLOAT);
        p.data.put(params);
        return Ok(());
    }

    if !INT8_ONLY && input.dtype == DType::I16 {
        return prepare_int16(
            p,
            params,
            &ops,
            [&input, &output, &output_state, &cell_state],
        );
    }

    // Full integer, 8x8->16.
    let w8 = |t: &Option<Tensor<'_>>| t.is_none_or(|t| t.dtype == DType::I8);
    let types_ok = input.dtype == DType::I8
        && output.dtype == DType::I8
        && output_state.dtype == DType::I8
        && cell_state.dtype == DType::I16
        && ops.input_w.iter().chain(&ops.recurrent_w).all(w8)
        && w8(&ops.projection)
        && ops
            .bias
            .iter()
            .chain([&ops.projection_bias])
            .all(|t| t.is_none_or(|t| t.dtype == DType::I32))
        && ops
            .peephole
            .iter()
            .all(|t| t.is_none_or(|t| t.dtype == DType::I16));
    if !types_ok {
        return Err(p.unsupported(
            "this combination of types (float32, or int8 with int16 cell state, int32 biases and int16 peephole weights)",
        ));
    }
    if p.op.intermediates.len() != 5 {
        return Err(p.invalid("an integer LSTM needs 5 intermediates tensors"));
    }
    let hidden = p
        .model
        .tensor(p.op.intermediates.get(4).unwrap_or(0).max(0) as usize);
    let hidden_scale = hidden.quantization.scale();
    if !hidden.quantization.is_quantized() || hidden_scale <= 0.0 {
        return Err(p.invalid("the hidden-state intermediate (intermediates[4]) has no scale"));
    }
    if cell_state.quantization.zero_point() != 0 {
        return Err(p.invalid("the cell state's zero point must be 0"));
    }
    let cell_scale_log2 = checked_log2(cell_state.quantization.scale())
        .ok_or(p.unsupported("a cell state scale that is not a power of two"))?;
    if !(-15..=-9).contains(&cell_scale_log2) {
        return Err(p.unsupported("a cell state scale outside 2^-15..2^-9"));
    }
    if peephole && n_output != n_cell {
        // LiteRT applies the peephole over n_output elements (meant as n_cell).
        return Err(p.unsupported("integer peephole with a projection to another size"));
    }
    let scale = |t: &Option<Tensor<'_>>| t.map_or(1.0f32, |t| t.quantization.scale());
    let in_scale = input.quantization.scale();
    let state_scale = output_state.quantization.scale();
    let cell_scale = cell_state.quantization.scale();
    // Without layer normalization every gate is Q3.12 (LiteRT's `powf(2, -12)`, exact).
    let gate_scale = Q3_12;
    for g in (0..4).filter(|&g| gates(g)) {
        params.input_scale[g] = multiplier(scale(&ops.input_w[g]) * in_scale / gate_scale);
        params.recurrent_scale[g] =
            multiplier(scale(&ops.recurrent_w[g]) * state_scale / gate_scale);
        if g != 2 && peephole {
            let s = peephole_scale(scale(&ops.peephole[g]), cell_scale_log2);
            params.cell_scale[g] = multiplier(s);
        }
    }
    params.hidden_scale = multiplier(hidden_effective_scale(hidden_scale));
    params.proj_scale = multiplier(scale(&ops.projection) * hidden_scale / state_scale);
    params.hidden_zp = hidden.quantization.zero_point();
    params.output_state_zp = output_state.quantization.zero_point();
    if cell_clip > 0.0 {
        params.quantized_cell_clip =
            (cell_clip / cell_scale).clamp(-32768.0, 32767.0) as i16 as i32;
    }
    if proj_clip > 0.0 {
        let s = output.quantization.scale();
        params.quantized_proj_clip = (proj_clip / s).clamp(-128.0, 127.0) as i8 as i32;
    }
    params.cell_scale_log2 = cell_scale_log2;
    p.scratch_bytes = params.scratch_bytes(2);
    p.data.put(INT8);
    p.data.put(params);
    if sparse_mask != 0 {
        p.data.put(sparse_mask);
    }

    // Effective biases `bias + zp * row_sum(W)`, gate by gate (zeros for the absent input
    // gate).
    let mut effective_biases = |t: Option<Tensor<'_>>, zp: i32, bias: Option<Tensor<'_>>, n| {
        let mut sums = row_sums(t);
        let bias = bias.and_then(|b| b.data);
        p.data.put_array(n, |r| {
            let b = bias.and_then(|d| read_i32(d, 4 * r).ok()).unwrap_or(0);
            b.wrapping_add(sums.next().unwrap_or(0).wrapping_mul(zp))
        });
    };
    let in_zp = input.quantization.zero_point();
    let state_zp = params.output_state_zp;
    // Wrapping: a corrupt build-verified model's zero points are not range-checked.
    for g in 0..4 {
        effective_biases(ops.input_w[g], in_zp.wrapping_neg(), ops.bias[g], n_cell);
    }
    for g in 0..4 {
        effective_biases(ops.recurrent_w[g], state_zp.wrapping_neg(), None, n_cell);
    }
    if ops.projection.is_some() {
        let hidden_zp = params.hidden_zp;
        effective_biases(ops.projection, hidden_zp, ops.projection_bias, n_output);
    }
    Ok(())
}

/// `Σ w` of each row of a 2-D int8 weight tensor, dense or sparse-encoded, in row order
/// (nothing for an absent tensor).
fn row_sums<'t>(t: Option<Tensor<'t>>) -> impl Iterator<Item = i32> + 't {
    let (data, cols, sparse) = t.map_or((&[][..], 0, false), |t| {
        (t.data.unwrap_or(&[]), t.shape.dim(1), t.is_sparse)
    });
    let dense = (!sparse && cols > 0).then(|| {
        data.chunks_exact(cols).map(|row| {
            row.iter()
                .fold(0i32, |s, &b| s.wrapping_add(b as i8 as i32))
        })
    });
    let encoded = sparse.then(|| crate::sparse::row_sums(cols, data));
    dense
        .into_iter()
        .flatten()
        .chain(encoded.into_iter().flatten())
}

/// The int16x8 LSTM (TFLite Micro's scheme, see the module documentation). `io` is the
/// input, the output, the output state and the cell state.
fn prepare_int16(
    p: &mut Prepare<'_, '_, '_>,
    mut params: LstmParams,
    ops: &Operands<'_>,
    io: [&Tensor<'_>; 4],
) -> Result<(), ParseErrorKind> {
    let [input, output, output_state, cell_state] = io;
    let is = |t: &Option<Tensor<'_>>, dtype: DType| t.is_some_and(|t| t.dtype == dtype);
    let types_ok = output.dtype == DType::I16
        && output_state.dtype == DType::I16
        && cell_state.dtype == DType::I16
        && ops
            .input_w
            .iter()
            .chain(&ops.recurrent_w)
            .all(|t| is(t, DType::I8))
        && ops.bias.iter().all(|t| is(t, DType::I64));
    if !types_ok {
        return Err(p.unsupported(
            "int16 activations without int16 output and states, int8 weights and int64 biases",
        ));
    }
    if params.has(flag::CIFG | flag::PEEPHOLE | flag::PROJECTION) {
        return Err(p.unsupported(
            "int16 activations with CIFG, peephole or projection (TFLite Micro's int16 LSTM is \
             the standard one only)",
        ));
    }
    if params.activation != 4 {
        return Err(p.unsupported("an int16 LSTM whose activation is not TANH"));
    }
    let zp = |t: &Tensor<'_>| t.quantization.zero_point();
    if zp(input) != 0 || zp(output) != 0 || zp(output_state) != 0 || zp(cell_state) != 0 {
        return Err(p.invalid("an int16 LSTM's activations and states need zero point 0"));
    }
    let cell_scale = cell_state.quantization.scale();
    let cell_scale_log2 = checked_log2(cell_scale)
        .ok_or(p.unsupported("a cell state scale that is not a power of two"))?;
    if !(-31..=0).contains(&cell_scale_log2) {
        return Err(p.unsupported("a cell state scale outside 2^-31..1"));
    }
    let scale = |t: &Option<Tensor<'_>>| t.map_or(1.0f32, |t| t.quantization.scale());
    let gate_scale = 1.0f32 / 4096.0; // Q3.12
    let state_scale = output_state.quantization.scale();
    for g in 0..4 {
        let (wi, wr) = (scale(&ops.input_w[g]), scale(&ops.recurrent_w[g]));
        params.input_scale[g] =
            multiplier64(effective_scale(input.quantization.scale(), wi, gate_scale));
        params.recurrent_scale[g] = multiplier64(effective_scale(state_scale, wr, gate_scale));
    }
    let q0_15 = 1.0f32 / 32768.0;
    let mul = |s1: f32, s2: f32, out: f32| {
        let [m, s] = multiplier64(effective_scale(s1, s2, out));
        MulParams {
            output_multiplier: m,
            output_shift: s,
            activation_min: i16::MIN as i32,
            activation_max: i16::MAX as i32,
            ..MulParams::default()
        }
    };
    let muls = Lstm16Muls {
        forget: mul(q0_15, cell_scale, cell_scale),
        input: mul(q0_15, q0_15, cell_scale),
        hidden: mul(q0_15, q0_15, state_scale),
    };
    params.cell_scale_log2 = cell_scale_log2;
    if params.cell_clip > 0.0 {
        let q = f64::from(params.cell_clip) / f64::from(cell_scale);
        params.quantized_cell_clip = q.clamp(-32768.0, 32767.0) as i16 as i32;
    }
    p.scratch_bytes = params.scratch_bytes(2);
    p.data.put(INT16);
    p.data.put(params);
    p.data.put(muls);
    Ok(())
}

/// `QuantizeMultiplier` of a double real multiplier.
fn multiplier64(real: f64) -> [i32; 2] {
    let (m, s) = quantize_multiplier(real);
    [m, s]
}

/// Input `i` as `T`s, `None` when absent.
fn opt<'b, T: bytemuck::Pod>(io: &OpIo<'b>, i: usize) -> Result<Option<&'b [T]>, Error> {
    io.optional_input_as::<T>(i)
}

/// The weights of the gates (the input gate's absent with CIFG), peepholes and projection;
/// the gate and projection biases too when `tensor_bias` (the integer 8x8→16 kernel takes
/// prepared effective biases instead).
fn weights<'b, T: bytemuck::Pod, B: bytemuck::Pod, P: bytemuck::Pod>(
    io: &OpIo<'b>,
    params: &LstmParams,
    tensor_bias: bool,
) -> Result<LstmWeights<'b, T, B, P>, Error> {
    let mut w = LstmWeights {
        input: [None; 4],
        recurrent: [None; 4],
        peephole: [None; 4],
        bias: [None; 4],
        recurrent_bias: [None; 4],
        projection: opt(io, idx::PROJECTION)?,
        projection_bias: if tensor_bias {
            opt(io, idx::PROJECTION_BIAS)?
        } else {
            None
        },
    };
    for g in (0..4).filter(|&g| g != 0 || !params.has(flag::CIFG)) {
        w.input[g] = opt(io, idx::INPUT_WEIGHTS + g)?;
        w.recurrent[g] = opt(io, idx::RECURRENT_WEIGHTS + g)?;
        if tensor_bias {
            w.bias[g] = opt(io, idx::BIAS + g)?;
        }
        if params.has(flag::PEEPHOLE) {
            w.peephole[g] = peephole_index(g).map(|i| opt(io, i)).transpose()?.flatten();
        }
    }
    Ok(w)
}

/// The input, output state, cell state, output and scratch (of the cell state's type), as the
/// kernels take them.
fn sequence<'b, X: bytemuck::Pod, C: bytemuck::Pod>(
    io: &mut OpIo<'b>,
) -> Result<k::Sequence<'b, X, C, C>, Error> {
    let scratch = bytemuck::try_cast_slice_mut(io.scratch()?)
        .map_err(|_| io.internal("scratch misaligned"))?;
    Ok((
        io.input_as::<X>(idx::INPUT)?,
        io.state_as::<X>(idx::OUTPUT_STATE)?,
        io.state_as::<C>(idx::CELL_STATE)?,
        io.output_as::<X>(0)?,
        scratch,
    ))
}

super::int8_evals!();

/// [`eval`] that also runs sparse-encoded int8 gate weights (`UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE`).
pub(super) fn eval_sparse(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    eval_with::<true, true>(io, data)
}

/// [`eval_int8`] that also runs sparse-encoded gate weights
/// (`UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8`).
pub(super) fn eval_sparse_int8(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    eval_with::<false, true>(io, data)
}

fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    eval_with::<ALL_TYPES, false>(io, data)
}

/// UNIDIRECTIONAL_SEQUENCE_LSTM's kernels: int8 always, the other types when `ALL_TYPES`
/// ([`super::int8_evals`]), sparse-encoded int8 gate weights when `SPARSE` (both constants,
/// so the linker drops what a registration does not run).
fn eval_with<const ALL_TYPES: bool, const SPARSE: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let kind: u32 = data.get()?;
    let params: LstmParams = data.get()?;
    let kernel_err = |io: &OpIo<'_>| io.internal("kernel rejected the shapes");
    if ALL_TYPES && kind == FLOAT {
        let w = weights::<f32, f32, f32>(io, &params, true)?;
        let (input, h, c, out, scratch) = sequence::<f32, f32>(io)?;
        return k::lstm_f32(&params, &w, input, h, c, out, scratch).map_err(|_| kernel_err(io));
    }
    if ALL_TYPES && kind == INT16 {
        let muls: Lstm16Muls = data.get()?;
        let w = weights::<i8, i64, i16>(io, &params, true)?;
        let (input, h, c, out, scratch) = sequence::<i16, i16>(io)?;
        return k::lstm_i16(&params, &muls, &w, input, h, c, out, scratch)
            .map_err(|_| kernel_err(io));
    }
    let n_cell = params.n_cell.max(0) as usize;
    let n_output = params.n_output.max(0) as usize;
    let mut w = weights::<i8, i32, i16>(io, &params, false)?;
    let sparse_mask: u32 = if params.has(flag::SPARSE) {
        data.get()?
    } else {
        0
    };
    let mut sparse: k::SparseGates<'_> = [[None; 4]; 2];
    if SPARSE {
        for (recurrent, first) in [(false, idx::INPUT_WEIGHTS), (true, idx::RECURRENT_WEIGHTS)] {
            for g in (0..4).filter(|&g| sparse_mask & sparse_bit(recurrent, g) != 0) {
                sparse[usize::from(recurrent)][g] = Some(io.input(first + g)?);
                let dense = if recurrent {
                    &mut w.recurrent
                } else {
                    &mut w.input
                };
                dense[g] = None;
            }
        }
    } else if sparse_mask != 0 {
        return Err(io.internal("sparse weights prepared for a dense registration"));
    }
    // The effective biases of `W x`, then of `R h`, gate by gate (zeros for an absent gate).
    let mut biases: [[&[i32]; 4]; 2] = [[&[]; 4]; 2];
    for b in biases.iter_mut().flatten() {
        *b = data.array(n_cell)?;
    }
    for g in (0..4).filter(|&g| g != 0 || !params.has(flag::CIFG)) {
        w.bias[g] = Some(biases[0][g]);
        w.recurrent_bias[g] = Some(biases[1][g]);
    }
    if params.has(flag::PROJECTION) {
        w.projection_bias = Some(data.array::<i32>(n_output)?);
    }
    let (input, h, c, out, scratch) = sequence::<i8, i16>(io)?;
    // The sparse registrations run dense gate weights through the same kernel: one integer
    // kernel linked, not two.
    k::lstm_i8::<SPARSE>(&params, &w, &sparse, input, h, c, out, scratch)
        .map_err(|_| kernel_err(io))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peephole and hidden effective scales against LiteRT's double expressions, on any
    /// f32 bits and on scales in models' range.
    #[test]
    fn effective_scales_equal_the_double_arithmetic() {
        let mut rng = crate::kernels::test_rng::Rng(0x15f0_c0de);
        assert_eq!(libm::powf(2.0, -12.0), Q3_12);
        let two15 = libm::pow(2.0, -15.0);
        for i in 0..300_000 {
            let r = rng.next();
            let s = if i % 2 == 0 {
                f32::from_bits(r as u32)
            } else {
                f32::from_bits(0x3000_0000 + (r as u32) % 0x1000_0000)
            };
            let log2 = -15 + (r >> 40) as i32 % 7;
            let want = (libm::pow(2.0, log2 as f64) * f64::from(s) / f64::from(Q3_12)) as f32;
            let got = peephole_scale(s, log2);
            assert!(
                got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                "{s:e}"
            );
            let want = (two15 / f64::from(s) * two15) as f32;
            let got = hidden_effective_scale(s);
            assert!(
                got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                "{s:e}"
            );
        }
    }
}

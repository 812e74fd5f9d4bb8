//! FULLY_CONNECTED: int8 (per-tensor or per-channel weights), int16x8, float32 and hybrid
//! (float activations, int8 per-tensor weights), with inputs of any rank flattened to
//! `batches x accum_depth` as TFLite does.
//!
//! Four registrations share this module: `FULLY_CONNECTED` ([`prepare`], [`eval`]) refuses
//! weights in tflm-rs's sparse encoding, so a firmware that never meets them does not link the
//! sparse kernel; `FULLY_CONNECTED_SPARSE` ([`prepare_sparse`], [`eval_sparse`]) runs both;
//! `FULLY_CONNECTED_INT8` ([`prepare_int8`], [`eval_int8`]) runs only dense int8 operators, so
//! an int8 firmware does not link the float, int16x8 and hybrid kernels nor their checks
//! either (TFLite Micro's `Register_FULLY_CONNECTED_INT8`); `FULLY_CONNECTED_SPARSE_INT8`
//! ([`prepare_sparse_int8`], [`eval_sparse_int8`]) runs int8 operators with dense or sparse
//! weights.

use super::{fused_activation, kernel_result, qrange, DataReader, OpIo, Prepare};
use crate::error::{Error, ParseErrorKind};
use crate::flatbuf::read_i32;
use crate::kernels::fully_connected::{self as k, FcDims, FullyConnectedParams};
use crate::kernels::hybrid;
use crate::schema::field::fully_connected_options as f;
use crate::types::DType;
use bytemuck::{Pod, Zeroable};

const FLOAT: u32 = 0;
const INT8: u32 = 1;
const INT16_BIAS64: u32 = 2;
const INT16_BIAS32: u32 = 3;
const HYBRID: u32 = 4;
const HYBRID_ASYMMETRIC: u32 = 5;
/// int8 with weights in the row-bitmask encoding (`crate::sparse`).
const INT8_SPARSE: u32 = 6;
/// int8 with weights in the 1x4 block encoding (`crate::block_sparse`).
const INT8_BLOCK: u32 = 7;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Header {
    variant: u32,
    batches: u32,
    accum_depth: u32,
    output_depth: u32,
    num_scales: u32,
    activation: u32,
    /// Hybrid only: the weights' scale.
    filter_scale: f32,
}

/// What `prepare` writes first, read back by the evals in one piece: one bounds and alignment
/// check each way instead of two.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Prepared {
    header: Header,
    params: FullyConnectedParams,
}

pub(super) fn prepare(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false>(p, Accept::Dense)
}

/// [`prepare`] of int8 operators only (`FULLY_CONNECTED_INT8`): the other types' checks
/// and constants are compiled out.
pub(super) fn prepare_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true>(p, Accept::Dense)
}

/// [`prepare`] that also accepts int8 weights in the sparse encoding.
pub(super) fn prepare_sparse(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<false>(p, Accept::DenseAndSparse)
}

/// [`prepare_sparse`] of int8 operators only (`FULLY_CONNECTED_SPARSE_INT8`).
pub(super) fn prepare_sparse_int8(p: &mut Prepare<'_, '_, '_>) -> Result<(), ParseErrorKind> {
    prepare_with::<true>(p, Accept::DenseAndSparse)
}

/// The variants a registration runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// Every dense variant (`FULLY_CONNECTED`).
    Dense,
    /// Every dense variant and int8 with sparse weights (`FULLY_CONNECTED_SPARSE`).
    DenseAndSparse,
}

/// `INT8_ONLY`: an `_INT8` registration's (a constant, so the other types' arms and what
/// only they need are compiled out).
fn prepare_with<const INT8_ONLY: bool>(
    p: &mut Prepare<'_, '_, '_>,
    accept: Accept,
) -> Result<(), ParseErrorKind> {
    let sparse_ok = accept == Accept::DenseAndSparse;
    p.expect_io(2, 3, 1)?;
    let input = p.input(0)?;
    let filter = p.input(1)?;
    let bias = p.optional_input(2);
    let output = p.output(0)?;
    let activation = fused_activation(p, f::FUSED_ACTIVATION)?;
    if p.op.option::<i8>(f::WEIGHTS_FORMAT, 0)? != 0 {
        return Err(p.unsupported("shuffled weights format"));
    }
    if filter.shape.rank() != 2 {
        return Err(p.invalid("weights must be 2-D [output_depth, accum_depth]"));
    }
    let (output_depth, accum_depth) = (filter.shape.dim(0), filter.shape.dim(1));
    let elements = input.shape.num_elements();
    if accum_depth == 0 || elements % accum_depth != 0 {
        return Err(p.invalid("input size is not a multiple of the weights' depth"));
    }
    let batches = elements / accum_depth;
    if output.shape.num_elements() != batches * output_depth {
        return Err(p.invalid("output size differs from batches x output depth"));
    }
    if bias.is_some_and(|b| b.shape.num_elements() != output_depth) {
        return Err(p.invalid("bias size differs from the output depth"));
    }
    let variant = match (
        input.dtype,
        filter.dtype,
        output.dtype,
        bias.map(|b| b.dtype),
    ) {
        (DType::I8, DType::I8, DType::I8, None | Some(DType::I32)) => INT8,
        // The `_INT8` registrations' refusal (`Prepare::require_int8`; only they prepare
        // with `INT8_ONLY`, and each has its message).
        _ if INT8_ONLY => return Err(p.unsupported(p.int8_only.unwrap_or_default())),
        (DType::F32, DType::F32, DType::F32, None | Some(DType::F32)) => FLOAT,
        (DType::I16, DType::I8, DType::I16, Some(DType::I32)) => INT16_BIAS32,
        (DType::I16, DType::I8, DType::I16, None | Some(DType::I64)) => INT16_BIAS64,
        (DType::F32, DType::I8, DType::F32, None | Some(DType::F32)) => {
            if p.op.option::<bool>(f::ASYMMETRIC_QUANTIZE_INPUTS, false)? {
                HYBRID_ASYMMETRIC
            } else {
                HYBRID
            }
        }
        _ => return Err(p.unsupported("this combination of input, weight, bias and output types")),
    };
    let variant = match (filter.is_sparse, variant, sparse_ok) {
        (false, v, _) => v,
        (true, INT8, true) if p.model.block_encoded(filter.index) => INT8_BLOCK,
        (true, INT8, true) => INT8_SPARSE,
        (true, INT8, false) => {
            return Err(ParseErrorKind::NotRegistered {
                code: crate::schema::op::FULLY_CONNECTED,
                // The `_INT8` registrations (and only they) prepare with `INT8_ONLY`: a
                // constant, so one name is linked, not both.
                name: if INT8_ONLY {
                    "FULLY_CONNECTED_SPARSE_INT8"
                } else {
                    "FULLY_CONNECTED_SPARSE"
                },
            });
        }
        (true, _, _) => return Err(p.unsupported("sparse weights with non-int8 activations")),
    };
    let sparse = variant == INT8_SPARSE || variant == INT8_BLOCK;
    p.require_int8(variant == INT8 || sparse)?;
    if sparse && filter.quantization.zero_point() != 0 {
        return Err(p.unsupported("sparse weights with a non-zero zero point"));
    }
    let scales = filter.quantization.scales;
    let hybrid = variant == HYBRID || variant == HYBRID_ASYMMETRIC;
    if hybrid {
        let s0 = scales.get(0).unwrap_or(0.0);
        if scales.len() != 1 || s0.is_nan() || s0 <= 0.0 {
            return Err(p.unsupported("hybrid weights without a single positive scale"));
        }
        if filter.quantization.zero_point() != 0 {
            return Err(p.unsupported("hybrid weights with a non-zero zero point"));
        }
        p.scratch_bytes = elements;
    }
    let num_scales = if variant == FLOAT || hybrid {
        0
    } else {
        if !input.quantization.is_quantized()
            || !output.quantization.is_quantized()
            || scales.is_empty()
        {
            return Err(p.invalid("quantized tensors without scales"));
        }
        if scales.len() != 1 && scales.len() != output_depth {
            return Err(p.invalid("weight scales are neither per-tensor nor per output channel"));
        }
        if variant != INT8
            && !sparse
            && (input.quantization.zero_point() != 0 || output.quantization.zero_point() != 0)
        {
            return Err(p.invalid("int16 activations must have zero point 0"));
        }
        scales.len()
    };
    let params = if variant == FLOAT || hybrid {
        FullyConnectedParams::float(activation)
    } else {
        let (qmin, qmax) = qrange(output.dtype);
        FullyConnectedParams::quantized(
            input.quantization.zero_point(),
            filter.quantization.zero_point(),
            output.quantization.zero_point(),
            output.quantization.scale(),
            activation,
            qmin,
            qmax,
        )
    };
    p.data.put(Prepared {
        header: Header {
            variant,
            batches: batches as u32,
            accum_depth: accum_depth as u32,
            output_depth: output_depth as u32,
            num_scales: num_scales as u32,
            activation: activation as u32,
            filter_scale: if hybrid {
                scales.get(0).unwrap_or(0.0)
            } else {
                0.0
            },
        },
        params,
    });
    let (si, so) = (input.quantization.scale(), output.quantization.scale());
    p.data.put_array(num_scales, |c| {
        crate::quant::effective_scale(si, scales.get(c).unwrap_or(0.0), so)
    });
    if variant == INT8_BLOCK {
        // The input row widened to int16 pairs, once per batch row.
        p.scratch_bytes = 8 * crate::block_sparse::widened_len(accum_depth);
    }
    if variant == INT8_SPARSE {
        p.scratch_bytes = crate::sparse::padded_len(accum_depth);
        // bias + input_offset x Σ w per row: the kernel then multiplies raw inputs.
        let enc = filter.data.unwrap_or(&[]);
        let mut sums = crate::sparse::row_sums(accum_depth, enc);
        let bias_data = bias.and_then(|b| b.data);
        p.data.put_array(output_depth, |r| {
            let b = bias_data.and_then(|d| read_i32(d, 4 * r).ok()).unwrap_or(0);
            let w = sums.next().unwrap_or(0);
            b.wrapping_add(params.input_offset.wrapping_mul(w))
        });
    }
    Ok(())
}

// `eval_sparse` / `eval_sparse_int8`: [`eval`] / [`eval_int8`] with the sparse kernels (`FULLY_CONNECTED_SPARSE`, `FULLY_CONNECTED_SPARSE_INT8`).
super::int8_evals!(eval_sparse, eval_sparse_int8, eval_sparse_with);

fn eval_sparse_with<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let mut peek = data.clone();
    let h: Header = peek.get()?;
    if h.variant == INT8_BLOCK {
        return eval_block(io, data);
    }
    if h.variant != INT8_SPARSE {
        return eval_variants::<ALL_TYPES>(io, data);
    }
    let (h, params, scales, dims) = prepared(data)?;
    let bias = data.array::<i32>(h.output_depth as usize)?;
    let padded = if crate::sparse::padded_len(dims.accum_depth) == 0 {
        &mut []
    } else {
        io.scratch_as::<i8>()?
    };
    let r = k::fully_connected_i8_sparse(
        params,
        scales,
        dims,
        io.input_as(0)?,
        io.input(1)?,
        bias,
        padded,
        io.output_as(0)?,
    );
    kernel_result(io, r)
}

/// The 1x4 block kernel (`INT8_BLOCK`), bias read from the model as the dense kernel does.
fn eval_block(io: &mut OpIo<'_>, data: &mut DataReader<'_>) -> Result<(), Error> {
    let (_, params, scales, dims) = prepared(data)?;
    let r = crate::kernels::fully_connected_sparse::fully_connected_i8_block(
        params,
        scales,
        dims,
        io.input_as(0)?,
        io.input(1)?,
        io.optional_input_as(2)?,
        io.scratch_as::<[u32; 2]>()?,
        io.output_as(0)?,
    );
    kernel_result(io, r)
}

/// What `prepare` wrote for every variant: the header, the parameters, the effective scales
/// and the dimensions.
fn prepared<'d>(
    data: &mut DataReader<'d>,
) -> Result<(&'d Header, &'d FullyConnectedParams, &'d [f64], FcDims), Error> {
    let Prepared { header: h, params } = data.get_ref()?;
    let scales = data.array::<f64>(h.num_scales as usize)?;
    let dims = FcDims {
        batches: h.batches as usize,
        accum_depth: h.accum_depth as usize,
        output_depth: h.output_depth as usize,
    };
    Ok((h, params, scales, dims))
}

super::int8_evals!();

/// Runs the prepared variant: int8 always, the others only when `ALL_TYPES` (a constant, so
/// `eval_variants::<false>` does not reference the float, hybrid and int16x8 kernels and the
/// linker drops them).
fn eval_variants<const ALL_TYPES: bool>(
    io: &mut OpIo<'_>,
    data: &mut DataReader<'_>,
) -> Result<(), Error> {
    let (h, params, scales, dims) = prepared(data)?;
    let r = match h.variant {
        FLOAT if ALL_TYPES => k::fully_connected_f32(
            params,
            dims,
            io.input_as(0)?,
            io.input_as(1)?,
            io.optional_input_as(2)?,
            io.output_as(0)?,
        ),
        INT8 => k::fully_connected_i8(
            params,
            scales,
            dims,
            io.input_as(0)?,
            io.input_as(1)?,
            io.optional_input_as(2)?,
            io.output_as(0)?,
        ),
        HYBRID | HYBRID_ASYMMETRIC if ALL_TYPES => {
            let activation = crate::types::Activation::from_schema(h.activation as i8)
                .ok_or(io.internal("activation"))?;
            let scratch = io.scratch_as::<i8>()?;
            hybrid::fully_connected_hybrid(
                activation,
                h.variant == HYBRID_ASYMMETRIC,
                h.filter_scale,
                dims,
                io.input_as(0)?,
                io.input_as(1)?,
                io.optional_input_as(2)?,
                scratch,
                io.output_as(0)?,
            )
        }
        INT16_BIAS64 if ALL_TYPES => k::fully_connected_i16::<i64>(
            params,
            scales,
            dims,
            io.input_as(0)?,
            io.input_as(1)?,
            io.optional_input_as(2)?,
            io.output_as(0)?,
        ),
        INT16_BIAS32 if ALL_TYPES => k::fully_connected_i16::<i32>(
            params,
            scales,
            dims,
            io.input_as(0)?,
            io.input_as(1)?,
            io.optional_input_as(2)?,
            io.output_as(0)?,
        ),
        // A variant this registration did not prepare: the interpreter's own text for a
        // missing kernel, so that no message of its own is linked.
        _ => return Err(io.internal("no kernel")),
    };
    kernel_result(io, r)
}

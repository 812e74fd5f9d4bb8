//! IR → `.tflite` bytes, with the `flatbuffers` crate's builder and the field ids of
//! `tflm_runtime::schema` (the ones the runtime's reader uses).
//!
//! What the file holds, and why:
//! - `file_identifier` `"TFL3"`, schema `version` 3, `description` [`DESCRIPTION`], one
//!   subgraph named `"main"`.
//! - Buffer 0 is empty (TFLite's convention for "no data"); every constant tensor gets its own
//!   buffer, in tensor order, whose data starts at a 16-byte aligned offset of the file (the
//!   schema's `force_align: 16`, as TFLite's converter writes it), so that the model can be
//!   used in place from any 16-byte aligned address.
//! - Operator codes: one per builtin, in order of first use, with both `builtin_code` and
//!   `deprecated_builtin_code` (`min(code, 127)`) set, and as version the highest
//!   [`op_version`] among the operators that use it (TFLite's `UpdateOpVersion`).
//! - Metadata `min_runtime_version`: the oldest TFLite runtime with every operator version
//!   (TFLite's runtime_version table, restricted to the builtins the IR has), in a 16-byte
//!   zero-padded buffer after the tensor buffers.
//! - Tensors with the same shape, the same quantization (scales, zero points, axis) or the
//!   same name point at one shape vector, one `QuantizationParameters` table or one string
//!   ([`Shared`]): on co2 that is 496 of its 5,840 bytes. Its tensor names are now the largest
//!   part of the structure; the pipeline's `short_names` empties them (one shared string).
//! - With [`write_with`] and a [`SparseWeights`] choice other than `Never`, pruned int8
//!   FULLY_CONNECTED weights in tflm-rs's sparse encoding (`docs/sparse.md`): the tensor's
//!   buffer holds the encoded bytes, its `sparsity` is an empty `SparsityParameters` table, and
//!   a metadata entry `tflm_rs.sparse_weights` names the encoding (the 1x4 block encoding's
//!   entry has a buffer listing its tensors). Only tflm-rs's runtime reads it; [`write`]
//!   writes dense weights, which every TFLite runtime loads.
//!
//! The same graph always gives the same bytes: the builder is fed in tensor and operator
//! order, and nothing depends on hash order or addresses.

use crate::ir::{Graph, Op, OpKind, TensorId, ValidationError};
pub use crate::sparse::SparseWeights;
use flatbuffers::{FlatBufferBuilder, Push, PushAlignment, TableFinishedWIPOffset, WIPOffset};
use std::collections::HashMap;
use tflm_runtime::schema::{field, op as code, options_type};
use tflm_runtime::{Activation, DType, Padding};

/// The model's `description` string.
pub const DESCRIPTION: &str = "tflm-rs";

/// Alignment of constant data in the file (the schema's `force_align` on `Buffer.data`).
pub const DATA_ALIGNMENT: usize = 16;

/// Flatbuffers address with 32-bit offsets; stay clear of the 2 GiB limit.
const MAX_BYTES: usize = (1 << 31) - (1 << 20);

/// Why a graph could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The graph breaks an IR rule.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("the constant data ({0} bytes) does not fit in a flatbuffer (2 GiB)")]
    TooLarge(usize),
}

/// Writes `graph` (validated first) as a `.tflite` flatbuffer, every weight dense.
pub fn write(graph: &Graph) -> Result<Vec<u8>, WriteError> {
    write_with(graph, SparseWeights::Never)
}

/// [`write`], with pruned int8 weights sparse-encoded as `sparse` says. With `Auto` and `Fast`
/// the file is the smaller of the dense one and the one with each tensor encoded that the
/// choice picks (the metadata and the 16-byte alignment of each buffer can eat a small model's
/// saving), the dense one on a tie.
pub fn write_with(graph: &Graph, sparse: SparseWeights) -> Result<Vec<u8>, WriteError> {
    let dense = write_impl(graph, SparseWeights::Never)?;
    if sparse == SparseWeights::Never {
        return Ok(dense);
    }
    let encoded = write_impl(graph, sparse)?;
    Ok(
        if matches!(sparse, SparseWeights::Auto | SparseWeights::Fast)
            && encoded.len() >= dense.len()
        {
            dense
        } else {
            encoded
        },
    )
}

fn write_impl(graph: &Graph, sparse: SparseWeights) -> Result<Vec<u8>, WriteError> {
    graph.validate()?;
    let data_bytes: usize = graph
        .tensors
        .iter()
        .filter(|t| t.is_constant())
        .map(|t| t.byte_len() + DATA_ALIGNMENT)
        .sum::<usize>()
        + if sparse == SparseWeights::Never {
            0
        } else {
            // The encoding can exceed the dense bytes by a mask byte per 8 weights.
            graph
                .tensors
                .iter()
                .filter(|t| t.is_constant())
                .map(|t| t.byte_len() / 8 + 1)
                .sum::<usize>()
        };
    if data_bytes > MAX_BYTES {
        return Err(WriteError::TooLarge(data_bytes));
    }
    let (codes, op_code_index) = operator_codes(graph);
    let mut fbb = FlatBufferBuilder::with_capacity(data_bytes + 1024 + 256 * graph.tensors.len());

    // Buffers: 0 empty, then one per constant tensor, then the metadata's.
    let mut buffers = vec![empty_table(&mut fbb)];
    let mut tensor_buffer = vec![0u32; graph.tensors.len()];
    let mut is_sparse = vec![false; graph.tensors.len()];
    let mut row_bitmask = false;
    // The block encoding's metadata buffer: its tensors' indices, little-endian u32.
    let mut block_list: Vec<u8> = Vec::new();
    for (i, t) in graph.tensors.iter().enumerate() {
        if let Some(data) = &t.data {
            tensor_buffer[i] = buffers.len() as u32;
            let bytes = match crate::sparse::encoded(graph, TensorId(i), sparse) {
                Some((encoding, encoded)) => {
                    is_sparse[i] = true;
                    match encoding {
                        crate::sparse::Encoding::RowBitmask => row_bitmask = true,
                        crate::sparse::Encoding::Block1x4 => {
                            block_list.extend((i as u32).to_le_bytes())
                        }
                    }
                    encoded
                }
                None => data.to_le_bytes(),
            };
            buffers.push(buffer(&mut fbb, &bytes));
        }
    }
    let min_version = min_runtime_version(&codes);
    let metadata_buffer = min_version.map(|v| {
        let mut bytes = [0u8; 16];
        bytes[..v.len()].copy_from_slice(v.as_bytes());
        buffers.push(buffer(&mut fbb, &bytes));
        buffers.len() as u32 - 1
    });
    // The row bitmask's declaration is its name (its buffer is the empty buffer 0); the block
    // encoding's buffer lists its tensors.
    let sparse_buffer = row_bitmask.then_some(0u32);
    let block_buffer = (!block_list.is_empty()).then(|| {
        buffers.push(buffer(&mut fbb, &block_list));
        buffers.len() as u32 - 1
    });

    let mut shared = Shared::default();
    let tensors: Vec<_> = graph
        .tensors
        .iter()
        .zip(&tensor_buffer)
        .zip(&is_sparse)
        .map(|((t, &b), &sparse)| tensor(&mut fbb, &mut shared, t, b, sparse))
        .collect();
    let operators: Vec<_> = graph
        .ops
        .iter()
        .zip(&op_code_index)
        .map(|(op, &c)| operator(&mut fbb, op, c))
        .collect();
    let subgraph = {
        let tensors = fbb.create_vector(&tensors);
        let inputs = fbb.create_vector(&ids(graph.inputs.iter().map(|t| Some(t.0))));
        let outputs = fbb.create_vector(&ids(graph.outputs.iter().map(|t| Some(t.0))));
        let operators = fbb.create_vector(&operators);
        let name = fbb.create_string("main");
        use field::subgraph as f;
        let start = fbb.start_table();
        put_always(&mut fbb, f::TENSORS, tensors);
        put_always(&mut fbb, f::INPUTS, inputs);
        put_always(&mut fbb, f::OUTPUTS, outputs);
        put_always(&mut fbb, f::OPERATORS, operators);
        put_always(&mut fbb, f::NAME, name);
        fbb.end_table(start)
    };
    let codes: Vec<_> = codes
        .iter()
        .map(|&(c, version)| {
            use field::operator_code as f;
            let start = fbb.start_table();
            put::<i32>(&mut fbb, f::BUILTIN_CODE, c, 0);
            put::<i32>(&mut fbb, f::VERSION, version, 1);
            put::<i8>(&mut fbb, f::DEPRECATED_BUILTIN_CODE, c.min(127) as i8, 0);
            fbb.end_table(start)
        })
        .collect();
    let entries: Vec<_> = [
        metadata_buffer.map(|b| ("min_runtime_version", b)),
        sparse_buffer.map(|b| (tflm_runtime::sparse::METADATA_NAME, b)),
        block_buffer.map(|b| (tflm_runtime::block_sparse::METADATA_NAME, b)),
    ]
    .into_iter()
    .flatten()
    .map(|(name, b)| {
        let name = fbb.create_string(name);
        use field::metadata as f;
        let start = fbb.start_table();
        put_always(&mut fbb, f::NAME, name);
        put::<u32>(&mut fbb, f::BUFFER, b, 0);
        fbb.end_table(start)
    })
    .collect();
    let metadata = (!entries.is_empty()).then(|| fbb.create_vector(&entries));
    let codes = fbb.create_vector(&codes);
    let subgraphs = fbb.create_vector(&[subgraph]);
    let description = fbb.create_string(DESCRIPTION);
    let buffers = fbb.create_vector(&buffers);
    use field::model as f;
    let start = fbb.start_table();
    put_always(&mut fbb, f::OPERATOR_CODES, codes);
    put_always(&mut fbb, f::SUBGRAPHS, subgraphs);
    put_always(&mut fbb, f::DESCRIPTION, description);
    put_always(&mut fbb, f::BUFFERS, buffers);
    if let Some(m) = metadata {
        put_always(&mut fbb, f::METADATA, m);
    }
    put::<u32>(&mut fbb, f::VERSION, 3, 0);
    let root = fbb.end_table(start);
    fbb.finish(root, Some("TFL3"));
    Ok(fbb.finished_data().to_vec())
}

type Table = WIPOffset<TableFinishedWIPOffset>;

/// The builder addresses a field by its vtable slot's byte offset: 4 + 2 * field id.
fn slot(id: u16) -> u16 {
    4 + 2 * id
}

/// Writes field `id` of the table being built, unless it equals the schema's `default`.
fn put<T: Push + PartialEq>(fbb: &mut FlatBufferBuilder<'_>, id: u16, x: T, default: T) {
    fbb.push_slot(slot(id), x, default);
}

/// Writes field `id` (an offset, or a scalar without default) of the table being built.
fn put_always<T: Push>(fbb: &mut FlatBufferBuilder<'_>, id: u16, x: T) {
    fbb.push_slot_always(slot(id), x);
}

fn empty_table(fbb: &mut FlatBufferBuilder<'_>) -> Table {
    let start = fbb.start_table();
    fbb.end_table(start)
}

/// One byte of a `Buffer.data` vector. Only its size and alignment are used: starting a
/// vector of these pads it so that its first byte lands on a 16-byte boundary of the finished
/// file (the builder writes back to front and pads the finished buffer to its largest
/// alignment), which is what flatc's `ForceVectorAlignment` does for `force_align: 16`.
struct AlignedByte;

impl Push for AlignedByte {
    type Output = u8;

    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}

    fn size() -> usize {
        1
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(DATA_ALIGNMENT)
    }
}

/// A `Buffer` table holding `data`, 16-byte aligned.
fn buffer(fbb: &mut FlatBufferBuilder<'_>, data: &[u8]) -> Table {
    fbb.start_vector::<AlignedByte>(data.len());
    for &b in data.iter().rev() {
        fbb.push(b);
    }
    let data = fbb.end_vector::<u8>(data.len());
    let start = fbb.start_table();
    put_always(fbb, field::buffer::DATA, data);
    fbb.end_table(start)
}

/// Tensor indices as the schema's int32, -1 for an absent optional input.
fn ids(ids: impl Iterator<Item = Option<usize>>) -> Vec<i32> {
    ids.map(|t| t.map_or(-1, |t| t as i32)).collect()
}

/// Vectors, quantization tables and names already in the file, by content, so that tensors
/// with the same shape, quantization or name (the empty names of `short_names`) point at one copy (a flatbuffer may reference an object
/// from several tables; every reader follows offsets, LiteRT's verifier included). On co2 most
/// tensors share a shape or a zero point vector `[0]` with another one. Looked up by content in
/// tensor order, so the bytes stay deterministic.
#[derive(Default)]
struct Shared<'f> {
    shapes: HashMap<Vec<i32>, WIPOffset<flatbuffers::Vector<'f, i32>>>,
    scales: HashMap<Vec<u32>, WIPOffset<flatbuffers::Vector<'f, f32>>>,
    zero_points: HashMap<Vec<i64>, WIPOffset<flatbuffers::Vector<'f, i64>>>,
    quantizations: HashMap<(Vec<u32>, Vec<i64>, usize), Table>,
    names: HashMap<String, WIPOffset<&'f str>>,
}

impl<'f> Shared<'f> {
    fn name(&mut self, fbb: &mut FlatBufferBuilder<'f>, name: &str) -> WIPOffset<&'f str> {
        if let Some(&n) = self.names.get(name) {
            return n;
        }
        let n = fbb.create_string(name);
        self.names.insert(name.to_string(), n);
        n
    }

    fn shape(
        &mut self,
        fbb: &mut FlatBufferBuilder<'f>,
        shape: &[usize],
    ) -> WIPOffset<flatbuffers::Vector<'f, i32>> {
        let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        *self
            .shapes
            .entry(shape)
            .or_insert_with_key(|v| fbb.create_vector(v))
    }

    fn quantization(
        &mut self,
        fbb: &mut FlatBufferBuilder<'f>,
        q: &crate::ir::Quantization,
    ) -> Table {
        let bits: Vec<u32> = q.scales.iter().map(|s| s.to_bits()).collect();
        let key = (bits, q.zero_points.clone(), q.axis);
        if let Some(&t) = self.quantizations.get(&key) {
            return t;
        }
        use field::quantization as f;
        let scale = *self
            .scales
            .entry(key.0.clone())
            .or_insert_with(|| fbb.create_vector(&q.scales));
        let zero_point = *self
            .zero_points
            .entry(key.1.clone())
            .or_insert_with_key(|v| fbb.create_vector(v));
        let start = fbb.start_table();
        put_always(fbb, f::SCALE, scale);
        put_always(fbb, f::ZERO_POINT, zero_point);
        put::<i32>(fbb, f::QUANTIZED_DIMENSION, q.axis as i32, 0);
        let t = fbb.end_table(start);
        self.quantizations.insert(key, t);
        t
    }
}

/// A tensor table; `sparse` marks its buffer as tflm-rs's sparse encoding (an empty
/// `SparsityParameters`).
fn tensor<'f>(
    fbb: &mut FlatBufferBuilder<'f>,
    shared: &mut Shared<'f>,
    t: &crate::ir::Tensor,
    buffer: u32,
    sparse: bool,
) -> Table {
    let shape = shared.shape(fbb, &t.shape);
    let name = shared.name(fbb, &t.name);
    let quantization = t.quantization.as_ref().map(|q| shared.quantization(fbb, q));
    let sparsity = sparse.then(|| empty_table(fbb));
    use field::tensor as f;
    let start = fbb.start_table();
    put_always(fbb, f::SHAPE, shape);
    if let Some(s) = sparsity {
        put_always(fbb, f::SPARSITY, s);
    }
    put::<u32>(fbb, f::BUFFER, buffer, 0);
    put_always(fbb, f::NAME, name);
    if let Some(q) = quantization {
        put_always(fbb, f::QUANTIZATION, q);
    }
    put::<i8>(fbb, f::TYPE, t.dtype.schema_code(), 0);
    put::<bool>(fbb, f::IS_VARIABLE, t.is_variable, false);
    fbb.end_table(start)
}

fn operator(fbb: &mut FlatBufferBuilder<'_>, op: &Op, opcode_index: u32) -> Table {
    let inputs = fbb.create_vector(&ids(op.inputs.iter().map(|t| t.map(|t| t.0))));
    let outputs = fbb.create_vector(&ids(op.outputs.iter().map(|t| Some(t.0))));
    let intermediates = (!op.intermediates.is_empty())
        .then(|| fbb.create_vector(&ids(op.intermediates.iter().map(|t| Some(t.0)))));
    let options = options(fbb, &op.kind);
    use field::operator as f;
    let start = fbb.start_table();
    put::<u32>(fbb, f::OPCODE_INDEX, opcode_index, 0);
    put_always(fbb, f::INPUTS, inputs);
    put_always(fbb, f::OUTPUTS, outputs);
    if let Some(o) = options {
        put_always(fbb, f::BUILTIN_OPTIONS, o);
    }
    if let Some(i) = intermediates {
        put_always(fbb, f::INTERMEDIATES, i);
    }
    put::<u8>(
        fbb,
        f::BUILTIN_OPTIONS_TYPE,
        options.map_or(options_type::NONE, |_| op.kind.options_type()),
        options_type::NONE,
    );
    fbb.end_table(start)
}

/// The schema's `ActivationFunctionType` code.
fn activation(a: Activation) -> i8 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::ReluN1To1 => 2,
        Activation::Relu6 => 3,
    }
}

/// The schema's `Padding` code.
fn padding(p: Padding) -> i8 {
    match p {
        Padding::Same => 0,
        Padding::Valid => 1,
    }
}

/// `quantized_bias_type`: unset is 0 (the schema default).
fn bias_type(t: Option<DType>) -> i8 {
    t.map_or(0, DType::schema_code)
}

/// The builtin's options table (`None` for builtins without one). Fields equal to the
/// schema's default are left out, as flatc-generated code does.
fn options(fbb: &mut FlatBufferBuilder<'_>, kind: &OpKind) -> Option<Table> {
    if kind.options_type() == options_type::NONE {
        return None;
    }
    // Vector fields are built before their table.
    let ints = match kind {
        OpKind::Reshape(o) => o.new_shape.as_ref().map(|v| fbb.create_vector(v)),
        OpKind::Squeeze(o) if !o.squeeze_dims.is_empty() => {
            Some(fbb.create_vector(&o.squeeze_dims))
        }
        _ => None,
    };
    let start = fbb.start_table();
    match kind {
        OpKind::FullyConnected(o) => {
            use field::fully_connected_options as f;
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
            put::<bool>(fbb, f::KEEP_NUM_DIMS, o.keep_num_dims, false);
            put::<bool>(
                fbb,
                f::ASYMMETRIC_QUANTIZE_INPUTS,
                o.asymmetric_quantize_inputs,
                false,
            );
            put::<i8>(
                fbb,
                f::QUANTIZED_BIAS_TYPE,
                bias_type(o.quantized_bias_type),
                0,
            );
        }
        OpKind::Conv2d(o) => {
            use field::conv2d_options as f;
            put::<i32>(fbb, f::STRIDE_W, o.stride_w as i32, 0);
            put::<i32>(fbb, f::STRIDE_H, o.stride_h as i32, 0);
            put::<i32>(fbb, f::DILATION_W, o.dilation_w as i32, 1);
            put::<i32>(fbb, f::DILATION_H, o.dilation_h as i32, 1);
            put::<i8>(fbb, f::PADDING, padding(o.padding), 0);
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
            put::<i8>(
                fbb,
                f::QUANTIZED_BIAS_TYPE,
                bias_type(o.quantized_bias_type),
                0,
            );
        }
        OpKind::DepthwiseConv2d(o) => {
            use field::depthwise_conv2d_options as f;
            put::<i32>(fbb, f::STRIDE_W, o.stride_w as i32, 0);
            put::<i32>(fbb, f::STRIDE_H, o.stride_h as i32, 0);
            put::<i32>(fbb, f::DEPTH_MULTIPLIER, o.depth_multiplier, 0);
            put::<i32>(fbb, f::DILATION_W, o.dilation_w as i32, 1);
            put::<i32>(fbb, f::DILATION_H, o.dilation_h as i32, 1);
            put::<i8>(fbb, f::PADDING, padding(o.padding), 0);
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
        }
        OpKind::AveragePool2d(o) | OpKind::MaxPool2d(o) => {
            use field::pool2d_options as f;
            put::<i32>(fbb, f::STRIDE_W, o.stride_w as i32, 0);
            put::<i32>(fbb, f::STRIDE_H, o.stride_h as i32, 0);
            put::<i32>(fbb, f::FILTER_WIDTH, o.filter_w as i32, 0);
            put::<i32>(fbb, f::FILTER_HEIGHT, o.filter_h as i32, 0);
            put::<i8>(fbb, f::PADDING, padding(o.padding), 0);
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
        }
        OpKind::Reshape(_) => {
            if let Some(v) = ints {
                put_always(fbb, field::reshape_options::NEW_SHAPE, v);
            }
        }
        OpKind::Squeeze(_) => {
            if let Some(v) = ints {
                put_always(fbb, field::squeeze_options::SQUEEZE_DIMS, v);
            }
        }
        OpKind::Softmax(o) => {
            put::<f32>(fbb, field::softmax_options::BETA, o.beta, 0.0);
        }
        OpKind::LeakyRelu(o) => {
            put::<f32>(fbb, field::leaky_relu_options::ALPHA, o.alpha, 0.0);
        }
        OpKind::Add(o) | OpKind::Sub(o) => {
            // AddOptions and SubOptions have the same layout.
            use field::add_options as f;
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
            put::<bool>(fbb, f::POT_SCALE_INT16, o.pot_scale_int16, true);
        }
        OpKind::Mul(o) => {
            let f = field::mul_options::FUSED_ACTIVATION;
            put::<i8>(fbb, f, activation(o.activation), 0);
        }
        OpKind::Concatenation(o) => {
            use field::concatenation_options as f;
            put::<i32>(fbb, f::AXIS, o.axis, 0);
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
        }
        OpKind::Mean(o) => {
            put::<bool>(fbb, field::reducer_options::KEEP_DIMS, o.keep_dims, false);
        }
        OpKind::StridedSlice(o) => {
            use field::strided_slice_options as f;
            put::<i32>(fbb, f::BEGIN_MASK, o.begin_mask, 0);
            put::<i32>(fbb, f::END_MASK, o.end_mask, 0);
            put::<i32>(fbb, f::ELLIPSIS_MASK, o.ellipsis_mask, 0);
            put::<i32>(fbb, f::NEW_AXIS_MASK, o.new_axis_mask, 0);
            put::<i32>(fbb, f::SHRINK_AXIS_MASK, o.shrink_axis_mask, 0);
            put::<bool>(fbb, f::OFFSET, o.offset, false);
        }
        OpKind::Svdf(o) => {
            use field::svdf_options as f;
            put::<i32>(fbb, f::RANK, o.rank, 0);
            put::<i8>(fbb, f::FUSED_ACTIVATION, activation(o.activation), 0);
            put::<bool>(
                fbb,
                f::ASYMMETRIC_QUANTIZE_INPUTS,
                o.asymmetric_quantize_inputs,
                false,
            );
        }
        OpKind::UnidirectionalSequenceLstm(o) => {
            use field::unidirectional_sequence_lstm_options as f;
            put::<i8>(fbb, f::FUSED_ACTIVATION, o.activation.schema_code(), 0);
            put::<f32>(fbb, f::CELL_CLIP, o.cell_clip, 0.0);
            put::<f32>(fbb, f::PROJ_CLIP, o.proj_clip, 0.0);
            put::<bool>(fbb, f::TIME_MAJOR, o.time_major, false);
            put::<bool>(
                fbb,
                f::ASYMMETRIC_QUANTIZE_INPUTS,
                o.asymmetric_quantize_inputs,
                false,
            );
            put::<bool>(
                fbb,
                f::DIAGONAL_RECURRENT_TENSORS,
                o.diagonal_recurrent_tensors,
                false,
            );
        }
        // Empty tables: ExpandDims, HardSwish, Quantize, Dequantize, Pad, PadV2, Transpose.
        _ => {}
    }
    Some(fbb.end_table(start))
}

/// The operator codes in order of first use, each with the highest version among its
/// operators, and each operator's index into them.
pub fn operator_codes(graph: &Graph) -> (Vec<(i32, i32)>, Vec<u32>) {
    let mut codes: Vec<(i32, i32)> = Vec::new();
    let mut index = Vec::with_capacity(graph.ops.len());
    for op in &graph.ops {
        let c = op.kind.builtin_code();
        let v = op_version(graph, op);
        let i = match codes.iter().position(|&(k, _)| k == c) {
            Some(i) => {
                codes[i].1 = codes[i].1.max(v);
                i
            }
            None => {
                codes.push((c, v));
                codes.len() - 1
            }
        };
        index.push(i as u32);
    }
    (codes, index)
}

/// The version of the builtin `op` needs, after TFLite's `GetBuiltinOperatorVersion`
/// (tensorflow/lite/tools/versioning/op_version.cc) for the cases the IR can express.
/// Where that function tests an int16x8 kernel with a condition that can never hold (int16
/// weights), the version the kernel was introduced with is used: CONV_2D 4,
/// DEPTHWISE_CONV_2D 5, FULLY_CONNECTED 7.
pub fn op_version(graph: &Graph, op: &Op) -> i32 {
    let input = |k: usize| op.input(k).map(|t| graph.tensor(t));
    let dt = |k: usize| input(k).map(|t| t.dtype);
    let out = op.output(0).map(|t| graph.tensor(t).dtype);
    let rank = input(0).map_or(0, |t| t.rank());
    let per_channel = |k: usize| {
        input(k)
            .and_then(|t| t.quantization.as_ref())
            .is_some_and(|q| q.is_per_channel())
    };
    let quantized = |k: usize| input(k).is_some_and(|t| t.is_quantized());
    let (i8_, i16_, f32_) = (Some(DType::I8), Some(DType::I16), Some(DType::F32));
    let int16x8 = dt(0) == i16_ && dt(1) == i8_ && out == i16_;
    let int8 = dt(0) == i8_ && dt(1) == i8_ && out == i8_;
    let hybrid = dt(0) == f32_ && dt(1) == i8_ && out == f32_;
    match &op.kind {
        OpKind::Conv2d(o) => {
            let grouped = match (input(0), input(1)) {
                (Some(x), Some(w)) => x.shape.get(3) != w.shape.get(3),
                _ => false,
            };
            if int16x8 && o.quantized_bias_type.is_some() {
                8
            } else if grouped {
                6
            } else if int16x8 {
                4
            } else if int8 {
                3
            } else if hybrid {
                if per_channel(1) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        OpKind::DepthwiseConv2d(o) => {
            if int16x8 {
                5
            } else if hybrid {
                if per_channel(1) {
                    6
                } else {
                    4
                }
            } else if int8 {
                3
            } else if o.dilation_h != 1 || o.dilation_w != 1 {
                2
            } else {
                1
            }
        }
        OpKind::FullyConnected(o) => {
            if hybrid && per_channel(1) {
                12
            } else if int16x8 && o.quantized_bias_type.is_some() {
                11
            } else if int16x8 {
                7
            } else if op.inputs.len() == 2 {
                6
            } else if o.keep_num_dims {
                5
            } else if int8 {
                4
            } else if hybrid {
                if o.asymmetric_quantize_inputs {
                    9
                } else {
                    3
                }
            } else {
                1
            }
        }
        OpKind::UnidirectionalSequenceLstm(o) => {
            // Float and full integer (8x8->16) are version 1; hybrid 2 (4 with asymmetric
            // inputs); diagonal recurrent weights 5.
            if o.diagonal_recurrent_tensors {
                5
            } else if dt(0) == f32_ && dt(2) == i8_ {
                if o.asymmetric_quantize_inputs {
                    4
                } else {
                    2
                }
            } else {
                1
            }
        }
        OpKind::Svdf(o) => {
            if dt(0) == i8_ {
                3
            } else if hybrid {
                if o.asymmetric_quantize_inputs {
                    4
                } else {
                    2
                }
            } else {
                1
            }
        }
        OpKind::Mul(_) => {
            let scale = |t: Option<&crate::ir::Tensor>| {
                t.and_then(|t| t.quantization.as_ref())
                    .map_or(0.0, |q| q.scale() as f64)
            };
            let (s1, s2) = (scale(input(0)), scale(input(1)));
            let so = scale(op.output(0).map(|t| graph.tensor(t)));
            if (dt(0) == i16_ && !quantized(0)) || dt(0) == Some(DType::U32) {
                7
            } else if dt(0) == Some(DType::I64) {
                5
            } else if dt(0) == i16_ {
                4
            } else if s1 != 0.0 && s2 != 0.0 && so != 0.0 && s1 * s2 / so >= 1.0 {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Add(o) => {
            if dt(0) == i16_ && !quantized(0) {
                5
            } else if dt(0) == Some(DType::I64) {
                4
            } else if dt(0) == i16_ && out == i16_ && !o.pot_scale_int16 {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Sub(o) => {
            let broadcast_above_4d = match (input(0), input(1)) {
                (Some(a), Some(b)) => a.shape != b.shape && a.rank().max(b.rank()) > 4,
                _ => false,
            };
            if dt(0) == i16_ && out == i16_ && !o.pot_scale_int16 {
                5
            } else if dt(0) == Some(DType::I64) {
                4
            } else if broadcast_above_4d {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::AveragePool2d(_) | OpKind::MaxPool2d(_) | OpKind::Tanh | OpKind::Logistic => {
            if dt(0) == i16_ && out == i16_ {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Transpose => {
            if rank > 5 {
                6
            } else if dt(0) == i16_ {
                5
            } else if rank > 4 {
                4
            } else if dt(0) == Some(DType::Bool) {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Dequantize => {
            if dt(0) == i16_ || dt(0) == Some(DType::F16) {
                3
            } else if dt(0) == i8_ {
                if per_channel(0) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        OpKind::Quantize => {
            let out_per_channel = op
                .output(0)
                .and_then(|t| graph.tensor(t).quantization.as_ref())
                .is_some_and(|q| q.is_per_channel());
            if out_per_channel {
                3
            } else if out == i16_ {
                2
            } else {
                1
            }
        }
        OpKind::Relu => {
            if dt(0) == i16_ {
                3
            } else if dt(0) == i8_ || dt(0) == Some(DType::U8) {
                2
            } else {
                1
            }
        }
        OpKind::StridedSlice(o) => {
            if o.offset {
                8
            } else if dt(0) == Some(DType::U32) {
                7
            } else if o.ellipsis_mask != 0 || o.new_axis_mask != 0 {
                6
            } else if rank > 4 {
                4
            } else if dt(0) == Some(DType::Bool) {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::LeakyRelu(_) => {
            if dt(0) == i16_ {
                2
            } else {
                1
            }
        }
        OpKind::Pad | OpKind::PadV2 => {
            if rank > 4 {
                4
            } else if dt(0) == i16_ {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Concatenation(_) => {
            if dt(0) == Some(DType::U32) {
                4
            } else if dt(0) == i16_ {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Softmax(_) | OpKind::Mean(_) | OpKind::Relu6 => {
            if dt(0) == i16_ {
                3
            } else if dt(0) == i8_ {
                2
            } else {
                1
            }
        }
        OpKind::Reshape(_)
        | OpKind::Squeeze(_)
        | OpKind::ExpandDims
        | OpKind::ReluN1To1
        | OpKind::HardSwish => 1,
    }
}

/// The oldest TFLite runtime that has each (builtin, version), from TFLite's
/// tensorflow/lite/tools/versioning/runtime_version.cc, for the builtins of the IR.
/// Versions missing there (newer ones) do not raise the minimum, as in TFLite.
fn runtime_version(builtin: i32, version: i32) -> Option<&'static str> {
    let table: &[&str] = match builtin {
        code::AVERAGE_POOL_2D | code::MAX_POOL_2D => &["1.5.0", "1.14.0", "2.3.0"],
        code::CONV_2D => &["1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0"],
        code::DEPTHWISE_CONV_2D => &["1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0"],
        code::ADD => &["1.5.0", "1.14.0", "2.4.0", "2.6.0"],
        code::SUB => &["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"],
        code::CONCATENATION => &["1.5.0", "1.14.0", "2.3.0"],
        code::FULLY_CONNECTED => &[
            "1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0",
        ],
        code::SVDF => &["1.5.0", "1.14.0", "2.2.0", "2.3.0"],
        code::MUL => &["1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0"],
        code::PAD => &["1.5.0", "1.14.0", "2.4.0", "2.6.0"],
        code::PADV2 => &["1.9.0", "1.14.0", "2.4.0", "2.6.0"],
        code::RESHAPE => &["1.5.0"],
        code::SOFTMAX => &["1.5.0", "1.14.0", "2.3.0"],
        code::TRANSPOSE => &["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0"],
        code::MEAN => &["1.6.0", "1.14.0", "2.4.0"],
        code::RELU6 => &["1.5.0", "1.14.0", "2.5.0"],
        code::SQUEEZE => &["1.6.0", "2.5.0"],
        code::STRIDED_SLICE => &["1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0"],
        code::EXPAND_DIMS => &["1.10.0"],
        code::TANH | code::LOGISTIC => &["1.14.0", "1.14.0", "2.3.0"],
        code::LEAKY_RELU => &["1.13.1", "2.3.0"],
        code::DEQUANTIZE => &["1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0"],
        code::QUANTIZE => &["1.14.0", "1.15.0", "2.7.0"],
        code::RELU => &["1.5.0", "2.1.0", "2.5.0"],
        code::RELU_N1_TO_1 => &["1.5.0"],
        code::HARD_SWISH => &["1.15.0"],
        _ => &[],
    };
    usize::try_from(version - 1)
        .ok()
        .and_then(|i| table.get(i))
        .copied()
}

/// The highest runtime version any operator code needs, `None` when none is known.
fn min_runtime_version(codes: &[(i32, i32)]) -> Option<&'static str> {
    let key = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    codes
        .iter()
        .filter_map(|&(c, v)| runtime_version(c, v))
        .max_by_key(|v| key(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{
        ConstData, Conv2dOptions, FullyConnectedOptions, Quantization, SoftmaxOptions, Tensor,
    };
    use tflm_runtime::Model;

    /// x[1,4] int8 -> FC(w[3,4] int8, b[3] int32) -> y[1,3] -> SOFTMAX -> z[1,3]
    fn graph() -> Graph {
        let mut g = Graph::new();
        let q = |s, z| Quantization::per_tensor(s, z);
        let x = g.add_tensor(
            Tensor::activation("x", DType::I8, vec![1, 4]).with_quantization(q(0.5, 3)),
        );
        let w = g.add_tensor(
            Tensor::constant(
                "w",
                vec![3, 4],
                ConstData::I8((0..12).map(|i| i - 6).collect()),
            )
            .with_quantization(Quantization::per_channel(vec![0.1, 0.2, 0.3], 0)),
        );
        let b = g.add_tensor(Tensor::constant(
            "b",
            vec![3],
            ConstData::I32(vec![1, -2, 3]),
        ));
        let y = g.add_tensor(
            Tensor::activation("y", DType::I8, vec![1, 3]).with_quantization(q(0.25, -1)),
        );
        let z = g.add_tensor(
            Tensor::activation("z", DType::I8, vec![1, 3]).with_quantization(q(1.0 / 256.0, -128)),
        );
        let fc = FullyConnectedOptions {
            activation: Activation::Relu,
            ..Default::default()
        };
        g.add_op(Op::new(OpKind::FullyConnected(fc), [x, w, b], [y]));
        g.add_op(Op::new(
            OpKind::Softmax(SoftmaxOptions::default()),
            [y],
            [z],
        ));
        g.inputs = vec![x];
        g.outputs = vec![z];
        g
    }

    #[test]
    fn writes_a_model_the_runtime_parses() {
        let bytes = write(&graph()).unwrap();
        assert_eq!(&bytes[4..8], b"TFL3");
        let aligned = crate::run::AlignedBytes::new(&bytes);
        let model = Model::parse(aligned.as_slice()).unwrap();
        assert_eq!(model.description(), DESCRIPTION);
        assert_eq!(model.num_operators(), 2);
        assert_eq!(model.operator(0).version, 4);
        assert_eq!(model.operator(1).version, 2);
        let w = model.tensor(1);
        assert_eq!(w.data_offset % DATA_ALIGNMENT, 0);
        assert_eq!(w.quantization.scales.len(), 3);
        assert_eq!(model.tensor(2).data_offset % DATA_ALIGNMENT, 0);
        assert_eq!(write(&graph()).unwrap(), bytes);
    }

    /// Tensors with the same shape or quantization point at one copy: the scale's bytes
    /// appear once in the file, and the runtime reads each tensor's own values through them.
    #[test]
    fn identical_shapes_and_quantizations_are_written_once() {
        let mut g = graph();
        let scale = 0.123_456_78f32;
        let q = Quantization::per_tensor(scale, 0);
        // Two more FULLY_CONNECTED weights of the same shape and quantization as each other.
        let (x, b) = (g.inputs[0], TensorId(2));
        let extra: Vec<_> = (0..2)
            .map(|k| {
                let w = g.add_tensor(
                    Tensor::constant(format!("w{k}"), vec![3, 4], ConstData::I8(vec![k + 1; 12]))
                        .with_quantization(q.clone()),
                );
                let y = g.add_tensor(
                    Tensor::activation(format!("y{k}"), DType::I8, vec![1, 3])
                        .with_quantization(Quantization::per_tensor(0.25, -1)),
                );
                let fc = FullyConnectedOptions::default();
                g.add_op(Op::new(OpKind::FullyConnected(fc), [x, w, b], [y]));
                g.outputs.push(y);
                w
            })
            .collect();
        let bytes = write(&g).unwrap();
        let needle = scale.to_le_bytes();
        let copies = bytes.windows(4).filter(|w| *w == needle).count();
        assert_eq!(copies, 1);
        let aligned = crate::run::AlignedBytes::new(&bytes);
        let model = Model::parse(aligned.as_slice()).unwrap();
        for &t in &extra {
            let t = model.tensor(t.0);
            assert_eq!(t.quantization.scales.get(0), Some(scale));
            assert_eq!(t.quantization.zero_points.get(0), Some(0));
            assert_eq!(t.shape.dims().collect::<Vec<_>>(), vec![3, 4]);
        }
        // Their own data all the same, and the bias [3] its own shape.
        assert_eq!(model.tensor(extra[1].0).data, Some(&[2u8; 12][..]));
        assert_eq!(model.tensor(2).shape.dims().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn codes_are_shared_in_first_use_order_with_the_highest_version() {
        let mut g = graph();
        // A float FC after the int8 one: same code, version max(4, 1).
        let a = g.add_tensor(Tensor::activation("a", DType::F32, vec![1, 2]));
        let wf = g.add_tensor(Tensor::constant(
            "wf",
            vec![2, 2],
            ConstData::F32(vec![1.0; 4]),
        ));
        let c = g.add_tensor(Tensor::activation("c", DType::F32, vec![1, 2]));
        g.inputs.push(a);
        g.outputs.push(c);
        g.ops.push(Op {
            kind: OpKind::FullyConnected(FullyConnectedOptions::default()),
            inputs: vec![Some(a), Some(wf), None],
            outputs: vec![c],
            intermediates: vec![],
        });
        let (codes, index) = operator_codes(&g);
        assert_eq!(codes, vec![(code::FULLY_CONNECTED, 4), (code::SOFTMAX, 2)]);
        assert_eq!(index, vec![0, 1, 0]);
        assert_eq!(op_version(&g, &g.ops[2]), 1);
        g.ops[2].inputs.pop();
        assert_eq!(op_version(&g, &g.ops[2]), 6);
        assert_eq!(min_runtime_version(&codes), Some("1.14.0"));
        assert_eq!(
            min_runtime_version(&[(code::CONV_2D, 6), (code::ADD, 3)]),
            Some("2.9.0")
        );
        assert_eq!(min_runtime_version(&[]), None);
    }

    #[test]
    fn both_builtin_code_fields_and_the_runtime_version_are_written() {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![4]));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![4]));
        g.add_op(Op::new(OpKind::HardSwish, [x], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        let bytes = write(&g).unwrap();
        let root = tflm_runtime::flatbuf::Table::root(&bytes).unwrap();
        let opcode = root
            .tables(field::model::OPERATOR_CODES)
            .unwrap()
            .unwrap()
            .get(&bytes, 0)
            .unwrap();
        use field::operator_code as f;
        assert_eq!(
            opcode.scalar::<i8>(f::DEPRECATED_BUILTIN_CODE, 0).unwrap(),
            code::HARD_SWISH as i8
        );
        assert_eq!(
            opcode.scalar::<i32>(f::BUILTIN_CODE, 0).unwrap(),
            code::HARD_SWISH
        );
        let meta = root.tables(field::model::METADATA).unwrap().unwrap();
        let m = meta.get(&bytes, 0).unwrap();
        assert_eq!(
            m.string(field::metadata::NAME).unwrap(),
            Some("min_runtime_version")
        );
        let b = m.scalar::<u32>(field::metadata::BUFFER, 0).unwrap() as usize;
        let buf = root
            .tables(field::model::BUFFERS)
            .unwrap()
            .unwrap()
            .get(&bytes, b)
            .unwrap();
        let data = buf.bytes(field::buffer::DATA).unwrap().unwrap();
        assert_eq!(data, b"1.15.0\0\0\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn refuses_an_invalid_graph() {
        let mut g = graph();
        g.ops[0].kind = OpKind::Conv2d(Conv2dOptions::default());
        let e = write(&g).unwrap_err().to_string();
        assert!(e.starts_with("operator 0 (CONV_2D): "), "{e}");
    }
}

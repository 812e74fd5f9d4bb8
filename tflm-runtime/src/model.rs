//! `Model::parse`: verifies a TFLite flatbuffer once, completely, and then gives zero-copy,
//! infallible views of its tensors and operators.
//!
//! Verification follows every offset and checks every bound, tensor type, shape against its
//! buffer, operator index and supported operator/type combination, so that nothing after it can
//! fail on a corrupt model. The views re-read the flatbuffer through the same checked reader;
//! after a successful parse those reads cannot fail (their fallbacks are unreachable).
//! `Model::from_build_verified` skips the verification for bytes a build verified: the same
//! views, which then stay memory-safe but may fall back.

use crate::error::{CorruptModel, Location, ParseError, ParseErrorKind};
use crate::flatbuf::{read_u32, Malformed, Table, Tables, Vector};
use crate::ops;
use crate::rolled::keep_rolled;
use crate::schema::{field, op_name};
use crate::types::DType;

/// Most tensors plus operators in a model: the planner's fixed tables are this big when the
/// arena size is computed without an arena (`Model::arena_size`).
pub const MAX_PLANNED: usize = 512;

/// Why a tensor in TFLite's own sparse format is refused.
const SPARSE_TFLITE_FORMAT: &str =
    "TFLite's SparsityParameters format (convert with dense weights, or with tflm-rs's sparse encoding)";

/// Why a tensor of a model whose metadata names another tflm-rs sparse encoding is refused.
const SPARSE_OTHER_FORMAT: &str =
    "the tflm_rs.sparse_weights metadata names another encoding or version than row_bitmask_int8/1";

/// Largest tensor rank the kernels handle.
pub const MAX_RANK: usize = 6;

/// How much of a verified tensor [`Model::read_view`] decodes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Every field.
    View,
    /// [`Read::View`] without the name, which no kernel or planner reads and whose UTF-8
    /// check costs as much as the rest of a small tensor.
    Kernel,
    /// [`Read::Kernel`] without the quantization: what the planner reads of every tensor.
    Plan,
}

/// A set of tensor indices below [`MAX_PLANNED`]: 64 bytes of stack, no tensor reads. In
/// 32-bit words: a Cortex-M shifts a 64-bit word in about five instructions, a 32-bit one in
/// one.
#[derive(Default)]
struct TensorSet([u32; MAX_PLANNED / 32]);

impl TensorSet {
    fn insert(&mut self, t: usize) {
        if let Some(w) = self.0.get_mut(t / 32) {
            *w |= 1 << (t % 32);
        }
    }

    fn contains(&self, t: usize) -> bool {
        self.0.get(t / 32).is_some_and(|w| w & (1 << (t % 32)) != 0)
    }
}

/// What `parse` notes about the tensors it has verified so far (one argument for
/// [`Model::verify_tensor`] instead of three).
#[derive(Default)]
struct Verified {
    tensors: TensorSet,
    /// The constant and variable ones.
    fixed: TensorSet,
    /// The first sparse-encoded one when no registration verifies the encoding.
    unverified: Option<usize>,
}

/// How many tensors [`RecentTensors`] keeps: an operator of the small models reads four
/// (input, weights, bias, output), and the next one reads the last of them again.
const RECENT: usize = 4;

/// The last few tensors an operator's `prepare` read (or `parse` just verified), so that a
/// tensor read twice in a row (an operator's input that the previous operator wrote, or one
/// `parse` verified right before checking its operator) is decoded once: a view costs about
/// 600 instructions on a Cortex-M, a hit about 40. A few slots on the stack, no arena.
pub(crate) struct RecentTensors<'m> {
    /// The kept tensors' indices, apart so that a look-up copies no tensor.
    indices: [core::cell::Cell<usize>; RECENT],
    /// `None` until kept: cheaper to start than four placeholder tensors.
    tensors: [core::cell::Cell<Option<Tensor<'m>>>; RECENT],
    next: core::cell::Cell<usize>,
}

impl<'m> RecentTensors<'m> {
    pub(crate) fn new() -> Self {
        RecentTensors {
            indices: core::array::from_fn(|_| core::cell::Cell::new(usize::MAX)),
            tensors: core::array::from_fn(|_| core::cell::Cell::new(None)),
            next: core::cell::Cell::new(0),
        }
    }

    /// Where tensor `t` is kept, if it is.
    #[inline]
    pub(crate) fn position(&self, t: usize) -> Option<usize> {
        self.indices.iter().position(|i| i.get() == t)
    }

    /// The tensor kept at `k` (from [`RecentTensors::position`] or [`RecentTensors::put`]),
    /// `None` for a slot not filled yet: the caller reads the tensor instead, so no
    /// placeholder is built (and copied) for a case that does not happen.
    #[inline]
    pub(crate) fn at(&self, k: usize) -> Option<Tensor<'m>> {
        self.tensors.get(k).and_then(core::cell::Cell::get)
    }

    /// Keeps `tensor` in place of the oldest one; returns where.
    pub(crate) fn put(&self, tensor: Tensor<'m>) -> usize {
        let n = self.next.get();
        if let (Some(index), Some(slot)) = (self.indices.get(n), self.tensors.get(n)) {
            index.set(tensor.index);
            slot.set(Some(tensor));
        }
        self.next.set((n + 1) % RECENT);
        n
    }
}

/// A verified model. Cheap to copy: it borrows the caller's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Model<'m> {
    bytes: &'m [u8],
    description: &'m str,
    opcodes: Tables<'m>,
    buffers: Tables<'m>,
    tensors: Tables<'m>,
    operators: Tables<'m>,
    inputs: Vector<'m, i32>,
    outputs: Vector<'m, i32>,
    subgraphs: usize,
    /// The model declares a tflm-rs sparse encoding (a metadata name starting with
    /// `tflm_rs.sparse_weights`): `Some(true)` when it is the one this runtime reads.
    sparse_format: Option<bool>,
    /// The model declares the row-bitmask encoding ([`crate::sparse::METADATA_NAME`]).
    row_bitmask: bool,
    /// The tensors in the 1x4 block encoding: the buffer of the
    /// [`crate::block_sparse::METADATA_NAME`] entry (little-endian `u32` indices, checked by
    /// [`crate::block_sparse::check_list`]); empty without it.
    sparse_blocks: &'m [u8],
    /// The kernels the model was parsed with (every operator's code is among them).
    registrations: &'m [ops::Registration],
    /// The sparse encoding's verifier of the first of them that has one (looked up once, for
    /// `parse`).
    sparse_verify: Option<ops::SparseVerifyFn>,
    /// What `Interpreter::new` checks again of the tensors it reads: `Some`
    /// ([`Tensor::kernel_safe`]) for a model opened by [`Model::from_build_verified`], `None`
    /// for one `parse_with` verified (a pointer, not a flag, so that a firmware that verifies
    /// on the device does not link the check).
    tensor_check: Option<for<'t> fn(&Tensor<'t>) -> bool>,
    /// The error of an operator that `Interpreter::new` cannot prepare: located
    /// (`Error::Parse`) for a model `parse_with` verified, `Error::Corrupt` for one opened by
    /// [`Model::from_build_verified`] (which then builds no parse error, so that its firmware
    /// links none of their messages).
    operator_error: fn(usize, ParseErrorKind) -> crate::Error,
}

/// A tensor's shape, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'m>(Vector<'m, i32>);

impl<'m> Shape<'m> {
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Dimension `i` (0 past the rank; dimensions are verified non-negative).
    pub fn dim(&self, i: usize) -> usize {
        self.0.get(i).unwrap_or(0).max(0) as usize
    }

    pub fn dims(&self) -> impl Iterator<Item = usize> + 'm {
        self.0.iter().map(|d| d.max(0) as usize)
    }

    /// Product of the dimensions (1 for a scalar), saturating: `parse` bounds every
    /// tensor's bytes, but a build-verified model's shapes are not checked again. Never
    /// inlined: only verification, the planner and `prepare` ask (never an invoke), and each
    /// inlined copy of the product loop took about 200 bytes of code.
    #[inline(never)]
    pub fn num_elements(&self) -> usize {
        // Kept rolled: unrolled, the saturating product took about 0.2 KB for shapes of a
        // few dimensions.
        self.dims().fold(1, |n, d| {
            crate::rolled::keep_rolled();
            n.saturating_mul(d)
        })
    }

    /// The dimensions in a fixed array, padded on the left with 1 up to `N` (TFLite's
    /// `RuntimeShape::ExtendedShape`); `None` when the rank exceeds `N`.
    pub fn extended<const N: usize>(&self) -> Option<[usize; N]> {
        let r = self.rank();
        if r > N {
            return None;
        }
        let mut out = [1usize; N];
        for (o, d) in out[N - r..].iter_mut().zip(self.dims()) {
            *o = d;
        }
        Some(out)
    }

    /// Whether two shapes have the same dimensions. Compares the stored bytes (one `memcmp`,
    /// where the element loop was unrolled into every caller): the same answer for the
    /// non-negative dimensions `parse` verifies; a build-verified model's negative ones
    /// only make shapes differ that [`Shape::dim`] would read as equal.
    pub fn same_as(&self, other: &Shape<'_>) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

/// Affine quantization parameters: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug)]
pub struct Quantization<'m> {
    pub scales: Vector<'m, f32>,
    pub zero_points: Vector<'m, i64>,
    /// The axis the per-channel scales run along; normalized to 0 when the file holds an
    /// out-of-range value (person_detect's bias tensors carry 3 on 1-D tensors).
    pub quantized_dimension: usize,
}

impl<'m> Quantization<'m> {
    /// The fields of a `QuantizationParameters` table, unchecked; an error names the field
    /// (the verification and the views share this, each with its own error handling).
    fn decode(q: Table<'m>, shape: &Vector<'m, i32>) -> Result<Self, Field> {
        use field::quantization as f;
        let at = |field| move |problem| (field, problem);
        let scales = q
            .vector::<f32>(f::SCALE)
            .map_err(at("quantization.scale"))?;
        let zero_points = q
            .vector::<i64>(f::ZERO_POINT)
            .map_err(at("quantization.zero_point"))?;
        let dim = q
            .scalar::<i32>(f::QUANTIZED_DIMENSION, 0)
            .map_err(at("quantization.quantized_dimension"))?;
        Ok(Quantization {
            scales: scales.unwrap_or(Vector::empty()),
            zero_points: zero_points.unwrap_or(Vector::empty()),
            quantized_dimension: if dim >= 0 && (dim as usize) < shape.len() {
                dim as usize
            } else {
                0
            },
        })
    }

    const NONE: Quantization<'static> = Quantization {
        scales: Vector::empty(),
        zero_points: Vector::empty(),
        quantized_dimension: 0,
    };

    /// Whether scales are present at all.
    pub fn is_quantized(&self) -> bool {
        !self.scales.is_empty()
    }

    /// The (first) scale, 0 when unquantized.
    pub fn scale(&self) -> f32 {
        self.scales.get(0).unwrap_or(0.0)
    }

    /// The (first) zero point, 0 when absent. Verified to fit in i32.
    pub fn zero_point(&self) -> i32 {
        self.zero_points.get(0).unwrap_or(0) as i32
    }

    /// Whether there is more than one scale.
    pub fn is_per_channel(&self) -> bool {
        self.scales.len() > 1
    }
}

/// A verified view of one tensor.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'m> {
    pub index: usize,
    pub name: &'m str,
    pub dtype: DType,
    pub shape: Shape<'m>,
    /// Constant data stored in the model, if any.
    pub data: Option<&'m [u8]>,
    /// Position of `data` in the model bytes.
    pub data_offset: usize,
    /// A variable (state) tensor that keeps its value across invokes.
    pub is_variable: bool,
    pub quantization: Quantization<'m>,
    /// The tensor carries `SparsityParameters`.
    pub is_sparse: bool,
}

impl<'m> Tensor<'m> {
    /// Bytes of the tensor's data.
    pub fn byte_len(&self) -> usize {
        self.shape.num_elements().saturating_mul(self.dtype.size())
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// The invariants of `parse`'s tensor checks that `prepare` and the kernels index by: the
    /// rank, dense constant data exactly as long as the shape says, the zero point within
    /// the type. Checked again where `Interpreter::new` reads the tensors of a build-verified
    /// model (a few instructions each), whose tensors are not verified on the device.
    fn kernel_safe(&self) -> bool {
        let (lo, hi) = ops::qrange(self.dtype);
        let zero_point = self.quantization.zero_points.get(0).unwrap_or(0);
        self.shape.rank() <= MAX_RANK
            && (i64::from(lo)..=i64::from(hi)).contains(&zero_point)
            && self
                .data
                .is_none_or(|d| self.is_sparse || d.len() == self.byte_len())
    }
}

/// A verified view of one operator.
#[derive(Clone, Copy, Debug)]
pub struct Operator<'m> {
    pub index: usize,
    /// The effective builtin code: `max(builtin_code, deprecated_builtin_code)`.
    pub code: i32,
    pub version: i32,
    /// Tensor indices; -1 marks an absent optional input.
    pub inputs: Vector<'m, i32>,
    pub outputs: Vector<'m, i32>,
    pub intermediates: Vector<'m, i32>,
    /// The `builtin_options` table, when present.
    pub options: Option<Table<'m>>,
    pub options_type: u8,
}

impl<'m> Operator<'m> {
    pub fn name(&self) -> &'static str {
        op_name(self.code)
    }

    /// Input `k`'s tensor index, `None` when absent or optional (-1).
    pub fn input(&self, k: usize) -> Option<usize> {
        self.inputs.get(k).filter(|&i| i >= 0).map(|i| i as usize)
    }

    pub fn output(&self, k: usize) -> Option<usize> {
        self.outputs.get(k).filter(|&i| i >= 0).map(|i| i as usize)
    }

    /// A scalar option field, or `default` when the options table or the field is absent.
    pub fn option<T: crate::flatbuf::Scalar>(
        &self,
        id: u16,
        default: T,
    ) -> Result<T, ParseErrorKind> {
        Ok(self
            .option_bytes(id, T::SIZE)?
            .map_or(default, T::from_chunk))
    }

    /// The `size` bytes of option field `id`, `None` when absent. Never inlined: the one
    /// copy of the field look-up for every option every prepare reads (each inlined copy
    /// took about 60 B).
    #[inline(never)]
    fn option_bytes(&self, id: u16, size: usize) -> Result<Option<&'m [u8]>, ParseErrorKind> {
        match self.options {
            Some(t) => t
                .field_bytes(id, size)
                .map_err(|problem| ParseErrorKind::Malformed {
                    field: "builtin_options",
                    problem,
                }),
            None => Ok(None),
        }
    }

    /// A vector option field (e.g. `ReshapeOptions.new_shape`).
    pub fn option_vector<T: crate::flatbuf::Scalar>(
        &self,
        id: u16,
    ) -> Result<Option<Vector<'m, T>>, ParseErrorKind> {
        match self.options {
            Some(t) => t.vector(id).map_err(|problem| ParseErrorKind::Malformed {
                field: "builtin_options",
                problem,
            }),
            None => Ok(None),
        }
    }
}

/// [`ops::SparseVerifier::read_lists`]: the sparse encodings' metadata, read only by a
/// firmware that registers a sparse kernel.
pub(crate) fn read_sparse_lists(model: &mut Model<'_>) -> Result<(), ParseError> {
    model.sparse_format = model.read_sparse_format()?;
    model.read_sparse_blocks()
}

/// Checks a constant tensor with `SparsityParameters`: it must be tflm-rs's row-bitmask
/// encoding (an empty `SparsityParameters` table, the model's metadata naming the format)
/// of a 2-D int8 tensor, and its bytes must pass [`crate::sparse::verify`]. The sparse
/// registrations (the only kernels that read the encoding) carry this function
/// ([`ops::SparseVerifyFn`]), so only a firmware that links a sparse kernel links it.
pub(crate) fn verify_sparse<'m>(
    model: &Model<'m>,
    at: Location,
    sparsity: Table<'m>,
    dtype: DType,
    shape: &Vector<'m, i32>,
    data: &[u8],
) -> Result<(), ParseError> {
    use field::sparsity as f;
    let unsupported = |what| {
        Err(ParseError::new(
            at,
            ParseErrorKind::UnsupportedSparsity { what },
        ))
    };
    let order = sparsity
        .vector::<i32>(f::TRAVERSAL_ORDER)
        .map_err(malformed(at, "sparsity.traversal_order"))?;
    let dims = sparsity
        .tables(f::DIM_METADATA)
        .map_err(malformed(at, "sparsity.dim_metadata"))?;
    let block = sparsity
        .vector::<i32>(f::BLOCK_MAP)
        .map_err(malformed(at, "sparsity.block_map"))?;
    if order.is_some_and(|v| !v.is_empty())
        || dims.is_some_and(|v| !v.is_empty())
        || block.is_some_and(|v| !v.is_empty())
    {
        return unsupported(SPARSE_TFLITE_FORMAT);
    }
    match model.sparse_format {
        None => {
            return unsupported(
                "empty SparsityParameters without the model's tflm_rs.sparse_weights metadata",
            )
        }
        Some(false) => return unsupported(SPARSE_OTHER_FORMAT),
        Some(true) => {}
    }
    let block = matches!(at, Location::Tensor(t) if model.block_encoded(t));
    // Blocks also encode CONV_2D filters `[out, h, w, in]`, one row per output channel.
    if dtype != DType::I8 || !(shape.len() == 2 || block && shape.len() == 4) {
        return unsupported(
            "tflm-rs's sparse encodings are for 2-D int8 weights (4-D in 1x4 blocks) only",
        );
    }
    let rows = shape.get(0).unwrap_or(0) as usize;
    let depth = (1..shape.len())
        .try_fold(1usize, |d, i| {
            d.checked_mul(shape.get(i).unwrap_or(0) as usize)
        })
        .unwrap_or(usize::MAX);
    if block {
        crate::block_sparse::verify(rows, depth, data)
            .map_err(crate::sparse::SparseError::Block)
    } else if !model.row_bitmask {
        return unsupported(
            "a sparse tensor outside the 1x4 block list without the model's row_bitmask_int8/1 metadata",
        );
    } else {
        crate::sparse::verify(rows, depth, data)
    }
    .map_err(|e| ParseError::new(at, ParseErrorKind::SparseWeights(e.into())))
}

fn malformed(location: Location, field: &'static str) -> impl Fn(Malformed) -> ParseError {
    move |problem| ParseError::new(location, ParseErrorKind::Malformed { field, problem })
}

/// A malformed field and what is wrong with it: the small error of the readers that both the
/// verification (which adds where, [`located`]) and the views (which drop it) call.
type Field = (&'static str, Malformed);

fn located(location: Location) -> impl Fn(Field) -> ParseError {
    move |(field, problem)| ParseError::new(location, ParseErrorKind::Malformed { field, problem })
}

/// What is wrong with one tensor as [`Model::check_tensor`] finds it: its own faults (located
/// once by [`Model::read_tensor`]), or its buffer's and its sparse encoding's, located by
/// their readers.
enum TensorFault {
    Own(ParseErrorKind),
    Located(ParseError),
}

impl From<ParseErrorKind> for TensorFault {
    fn from(kind: ParseErrorKind) -> Self {
        TensorFault::Own(kind)
    }
}

impl From<ParseError> for TensorFault {
    fn from(e: ParseError) -> Self {
        TensorFault::Located(e)
    }
}

/// A malformed `field` of the tensor being checked.
fn fault(field: &'static str) -> impl Fn(Malformed) -> ParseErrorKind {
    move |problem| ParseErrorKind::Malformed { field, problem }
}

/// A tensor-index list of an operator table (empty when absent). Never inlined: `parse`,
/// the operator views and the planner read three or two per operator, one copy of the read.
#[inline(never)]
fn index_list<'m>(t: &Table<'m>, id: u16) -> Result<Vector<'m, i32>, Malformed> {
    Ok(t.vector::<i32>(id)?.unwrap_or(Vector::empty()))
}

fn missing(location: Location, field: &'static str) -> ParseError {
    ParseError::new(location, ParseErrorKind::Missing { field })
}

fn index(
    location: Location,
    what: &'static str,
    i: i64,
    count: usize,
) -> Result<usize, ParseError> {
    if i < 0 || i as u64 >= count as u64 {
        return Err(ParseError::new(
            location,
            ParseErrorKind::IndexOutOfRange {
                what,
                index: i,
                count,
            },
        ));
    }
    Ok(i as usize)
}

impl<'m> Model<'m> {
    /// Verifies `bytes` as a TFLite model this runtime can run, with every kernel
    /// ([`ops::ALL`]). Never panics; the error says what is wrong and where.
    ///
    /// A firmware that calls this links every kernel of the runtime; [`Model::parse_with`]
    /// links only the listed ones.
    pub fn parse(bytes: &'m [u8]) -> Result<Model<'m>, ParseError> {
        Self::parse_with(bytes, ops::ALL)
    }

    /// Verifies `bytes` as [`Model::parse`] does, with only the kernels in `registrations`
    /// (TFLite Micro's op resolver): a model whose operator is not in the list is refused with
    /// [`ParseErrorKind::NotRegistered`] at that operator. The interpreter runs the model with
    /// these kernels, and a firmware links no other.
    ///
    /// ```
    /// use tflm_runtime::{ops, Model};
    /// static OPS: &[ops::Registration] = &[ops::FULLY_CONNECTED];
    /// # let bytes: &[u8] = &[];
    /// let result = Model::parse_with(bytes, OPS);
    /// # assert!(result.is_err());
    /// ```
    pub fn parse_with(
        bytes: &'m [u8],
        registrations: &'m [ops::Registration],
    ) -> Result<Model<'m>, ParseError> {
        let mut model = Self::parse_structure(bytes)?;
        model.registrations = registrations;
        // Sparse-encoded tensors are verified by the sparse registrations' verifier, which
        // reads the encodings' metadata; without one (a firmware that links no sparse kernel)
        // the first such tensor is kept here.
        let verifier = ops::sparse_verifier(registrations);
        model.sparse_verify = verifier.map(|v| v.verify);
        match verifier {
            Some(v) => (v.read_lists)(&mut model)?,
            None => model.sparse_format = model.read_sparse_format()?,
        }
        let mut notes = Verified::default();
        let recent = RecentTensors::new();
        // The subgraph's inputs first (the graph check of the operators starts from them),
        // then each operator's tensors right before the operator is checked, the check
        // reading them from `recent` instead of decoding them again; the tensors no operator
        // reads last.
        for t in model.inputs.iter().map(|t| t as usize) {
            keep_rolled();
            if !notes.tensors.contains(t) {
                model.verify_tensor(t, &mut notes, Some(&recent))?;
            }
        }
        let mut written = TensorSet::default();
        model.check_io_graph(true, &notes.fixed, &mut written)?;
        for i in 0..model.num_operators() {
            // Checked in place: moving the 76-byte operator out of the `Result` cost two
            // copies per operator (`memcpy`, about 80 instructions each).
            let read = model.read_operator(i);
            let op = match &read {
                Ok(op) => op,
                Err(e) => return Err(*e),
            };
            // An operator with more tensors than `recent` holds (an LSTM reads 24) would
            // only copy them in and out without a hit.
            let keep = (op.inputs.len() + op.outputs.len() + op.intermediates.len() <= RECENT)
                .then_some(&recent);
            let listed = op.inputs.iter().chain(op.outputs.iter());
            for (k, t) in listed.chain(op.intermediates.iter()).enumerate() {
                keep_rolled();
                let is_input = k < op.inputs.len();
                // -1 marks an absent input.
                if is_input && t == -1 {
                    continue;
                }
                let what = if is_input {
                    "input tensor"
                } else {
                    "output tensor"
                };
                let t = index(Location::Operator(i), what, t as i64, model.num_tensors())?;
                if !notes.tensors.contains(t) {
                    model.verify_tensor(t, &mut notes, keep)?;
                }
            }
            ops::check_recent(&model, op, &recent)
                .map_err(|kind| ParseError::new(Location::Operator(i), kind))?;
            model.check_operator_graph(i, op, &notes.fixed, &mut written)?;
        }
        for t in 0..model.num_tensors() {
            if !notes.tensors.contains(t) {
                model.verify_tensor(t, &mut notes, None)?;
            }
        }
        // Every operator that reads an unverified tensor was refused above (no registered
        // kernel reads the encoding: `NotRegistered` or `SparseUse`); one that no operator
        // reads is refused too, as the verifier would have checked it.
        if let Some(t) = notes.unverified {
            return Err(ParseError::new(
                Location::Tensor(t),
                ParseErrorKind::UnsupportedSparsity {
                    what: "sparse-encoded weights with no sparse registration to verify them \
                           (register ops::FULLY_CONNECTED_SPARSE or \
                           ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE)",
                },
            ));
        }
        model.check_io_graph(false, &notes.fixed, &mut written)?;
        Ok(model)
    }

    /// Opens `bytes` that [`Model::parse_with`] accepted with the same `registrations` when
    /// the firmware was built (the bytes a build script or `include_quantized_model!`
    /// verified and placed in flash), without verifying them again: it only locates the root
    /// tables, so a firmware that opens its model this way links neither the verifier nor
    /// its error messages, and starts sooner.
    ///
    /// Guaranteed for any bytes: memory safety and no panic, here, in [`Interpreter::new`]
    /// and in `invoke` (every read stays bounds-checked; a broken invariant gives an error
    /// or wrong numbers). Guaranteed only for bytes that `parse_with` accepted with the same
    /// registrations: everything `parse_with` guarantees, the same results bit for bit. For
    /// bytes from anywhere else (a radio update, an SD card, a host link) use
    /// [`Model::parse_with`], which says what is wrong with them.
    ///
    /// [`Interpreter::new`]: crate::Interpreter::new
    pub fn from_build_verified(
        bytes: &'m [u8],
        registrations: &'m [ops::Registration],
    ) -> Result<Model<'m>, CorruptModel> {
        let mut model = Self::locate(bytes).ok_or(CorruptModel)?;
        model.registrations = registrations;
        // The encodings' metadata, only for the sparse kernels that read it.
        if let Some(v) = ops::sparse_verifier(registrations) {
            (v.read_lists)(&mut model).map_err(|_| CorruptModel)?;
        }
        Ok(model)
    }

    /// The root tables of build-verified `bytes` ([`Model::from_build_verified`]), opened
    /// as verified ([`Table::verified_at`]); `None` when a read fails or the model exceeds
    /// the planner's tables (kept: the planner's arrays have that size).
    fn locate(bytes: &'m [u8]) -> Option<Model<'m>> {
        if bytes.get(4..8)? != b"TFL3" {
            return None;
        }
        let root = Table::verified_at(bytes, read_u32(bytes, 0).ok()? as usize).ok()?;
        let tables = |t: &Table<'m>, id| Some(t.tables(id).ok()?.unwrap_or(Tables::empty()));
        let indices =
            |t: &Table<'m>, id| Some(t.vector::<i32>(id).ok()?.unwrap_or(Vector::empty()));
        let subgraphs = tables(&root, field::model::SUBGRAPHS)?;
        let sg = subgraphs.get_verified(bytes, 0).ok()?;
        let model = Model {
            bytes,
            description: root.string(field::model::DESCRIPTION).ok()?.unwrap_or(""),
            opcodes: tables(&root, field::model::OPERATOR_CODES)?,
            buffers: tables(&root, field::model::BUFFERS)?,
            tensors: tables(&sg, field::subgraph::TENSORS)?,
            operators: tables(&sg, field::subgraph::OPERATORS)?,
            inputs: indices(&sg, field::subgraph::INPUTS)?,
            outputs: indices(&sg, field::subgraph::OUTPUTS)?,
            subgraphs: subgraphs.len(),
            tensor_check: Some(|t| t.kernel_safe()),
            ..Self::unopened(bytes)
        };
        (model.num_tensors() + model.num_operators() <= MAX_PLANNED).then_some(model)
    }

    /// Verifies tensor `t` ([`Model::read_tensor`]) and notes it in `notes` (as verified, as
    /// fixed when constant or variable, as the first unverified sparse tensor when no
    /// registration verifies the encoding), and keeps it in `recent` (if given) for its
    /// operator's check.
    /// Never inlined: `parse` calls it from three loops.
    #[inline(never)]
    fn verify_tensor(
        &self,
        t: usize,
        notes: &mut Verified,
        recent: Option<&RecentTensors<'m>>,
    ) -> Result<(), ParseError> {
        let tensor = self.read_tensor(t)?;
        notes.tensors.insert(t);
        if tensor.is_constant() || tensor.is_variable {
            notes.fixed.insert(t);
        }
        if tensor.is_sparse && self.sparse_verify.is_none() {
            notes.unverified = notes.unverified.or(Some(t));
        }
        if !tensor.is_sparse && self.block_encoded(t) {
            return Err(ParseError::new(
                Location::Tensor(t),
                ParseErrorKind::UnsupportedSparsity {
                    what: "listed in the 1x4 block metadata, but not sparse-encoded \
                           (no SparsityParameters)",
                },
            ));
        }
        if let Some(recent) = recent {
            recent.put(tensor);
        }
        Ok(())
    }

    fn parse_structure(bytes: &'m [u8]) -> Result<Model<'m>, ParseError> {
        if bytes.len() < 8 {
            return Err(ParseError::new(
                Location::File,
                ParseErrorKind::TooShort { len: bytes.len() },
            ));
        }
        let mut ident = [0u8; 4];
        ident.copy_from_slice(&bytes[4..8]);
        if &ident != b"TFL3" {
            return Err(ParseError::new(
                Location::File,
                ParseErrorKind::BadIdentifier { found: ident },
            ));
        }
        let at = Location::Model;
        let root = Table::root(bytes).map_err(malformed(Location::File, "root"))?;
        let version = root
            .scalar::<u32>(field::model::VERSION, 0)
            .map_err(malformed(at, "version"))?;
        if version != 3 {
            return Err(ParseError::new(
                at,
                ParseErrorKind::UnsupportedVersion { version },
            ));
        }
        let description = root
            .string(field::model::DESCRIPTION)
            .map_err(malformed(at, "description"))?
            .unwrap_or("");
        let opcodes = root
            .tables(field::model::OPERATOR_CODES)
            .map_err(malformed(at, "operator_codes"))?
            .ok_or(missing(at, "operator_codes"))?;
        let buffers = root
            .tables(field::model::BUFFERS)
            .map_err(malformed(at, "buffers"))?
            .unwrap_or(Tables::empty());
        let subgraphs = root
            .tables(field::model::SUBGRAPHS)
            .map_err(malformed(at, "subgraphs"))?
            .ok_or(missing(at, "subgraphs"))?;
        if subgraphs.is_empty() {
            return Err(missing(at, "subgraphs[0]"));
        }
        let sg_at = Location::Subgraph(0);
        let sg = subgraphs
            .get(bytes, 0)
            .map_err(malformed(sg_at, "subgraph"))?;
        let tensors = sg
            .tables(field::subgraph::TENSORS)
            .map_err(malformed(sg_at, "tensors"))?
            .unwrap_or(Tables::empty());
        let operators = sg
            .tables(field::subgraph::OPERATORS)
            .map_err(malformed(sg_at, "operators"))?
            .unwrap_or(Tables::empty());
        let inputs = sg
            .vector::<i32>(field::subgraph::INPUTS)
            .map_err(malformed(sg_at, "inputs"))?
            .unwrap_or(Vector::empty());
        let outputs = sg
            .vector::<i32>(field::subgraph::OUTPUTS)
            .map_err(malformed(sg_at, "outputs"))?
            .unwrap_or(Vector::empty());
        let planned = tensors.len() + operators.len();
        if planned > MAX_PLANNED {
            return Err(ParseError::new(
                sg_at,
                ParseErrorKind::TooLarge {
                    what: "tensors and operators",
                    count: planned,
                    max: MAX_PLANNED,
                },
            ));
        }
        if operators.len() > u16::MAX as usize {
            return Err(ParseError::new(
                sg_at,
                ParseErrorKind::TooLarge {
                    what: "operators",
                    count: operators.len(),
                    max: u16::MAX as usize,
                },
            ));
        }
        for (what, v) in [("subgraph input", inputs), ("subgraph output", outputs)] {
            for t in v.iter() {
                keep_rolled();
                index(sg_at, what, t as i64, tensors.len())?;
            }
        }
        Ok(Model {
            bytes,
            description,
            opcodes,
            buffers,
            tensors,
            operators,
            inputs,
            outputs,
            subgraphs: subgraphs.len(),
            operator_error: |i, kind| ParseError::new(Location::Operator(i), kind).into(),
            ..Self::unopened(bytes)
        })
    }

    /// A model of `bytes` with no table located yet, no sparse encoding, no registration, no
    /// tensor check and unlocated operator errors: what both openings start from.
    fn unopened(bytes: &'m [u8]) -> Model<'m> {
        Model {
            bytes,
            description: "",
            opcodes: Tables::empty(),
            buffers: Tables::empty(),
            tensors: Tables::empty(),
            operators: Tables::empty(),
            inputs: Vector::empty(),
            outputs: Vector::empty(),
            subgraphs: 0,
            sparse_format: None,
            row_bitmask: false,
            sparse_blocks: &[],
            registrations: &[],
            sparse_verify: None,
            tensor_check: None,
            operator_error: |_, _| crate::Error::Corrupt(CorruptModel),
        }
    }

    /// The error of operator `i` that `Interpreter::new` cannot prepare (the field of the
    /// same name builds it).
    pub(crate) fn operator_error(&self, i: usize, kind: ParseErrorKind) -> crate::Error {
        (self.operator_error)(i, kind)
    }

    /// Whether the model's metadata declares a tflm-rs sparse encoding, and if it is this one
    /// ([`crate::sparse::METADATA_NAME`]).
    fn read_sparse_format(&self) -> Result<Option<bool>, ParseError> {
        use field::metadata as f;
        let at = Location::Model;
        let root = Table::root(self.bytes).map_err(malformed(Location::File, "root"))?;
        let Some(list) = root
            .tables(field::model::METADATA)
            .map_err(malformed(at, "metadata"))?
        else {
            return Ok(None);
        };
        let mut found = None;
        for k in 0..list.len() {
            let m = list.get(self.bytes, k).map_err(malformed(at, "metadata"))?;
            let name = m.string(f::NAME).map_err(malformed(at, "metadata.name"))?;
            if let Some(name) = name.filter(|n| n.starts_with(crate::sparse::METADATA_PREFIX)) {
                let known = [
                    crate::sparse::METADATA_NAME,
                    crate::block_sparse::METADATA_NAME,
                ];
                found = Some(found.unwrap_or(false) || known.contains(&name));
            }
        }
        Ok(found)
    }

    /// Reads the metadata entries of the two encodings: whether the row bitmask is declared,
    /// and the block list's buffer (checked: whole `u32`s, strictly increasing, in range;
    /// `parse_with` checks that every listed tensor is sparse-encoded).
    fn read_sparse_blocks(&mut self) -> Result<(), ParseError> {
        use field::metadata as f;
        let at = Location::Model;
        if self.sparse_format.is_none() {
            return Ok(());
        }
        let root = Table::root(self.bytes).map_err(malformed(Location::File, "root"))?;
        let Some(list) = root
            .tables(field::model::METADATA)
            .map_err(malformed(at, "metadata"))?
        else {
            return Ok(());
        };
        for k in 0..list.len() {
            let m = list.get(self.bytes, k).map_err(malformed(at, "metadata"))?;
            let name = m.string(f::NAME).map_err(malformed(at, "metadata.name"))?;
            if name == Some(crate::sparse::METADATA_NAME) {
                self.row_bitmask = true;
            }
            if name != Some(crate::block_sparse::METADATA_NAME) {
                continue;
            }
            let b = m
                .scalar::<u32>(f::BUFFER, 0)
                .map_err(malformed(at, "metadata.buffer"))?;
            let data = match self.read_buffer(b as usize, true) {
                Ok(d) => d.map_or(&[][..], |(d, _)| d),
                Err((field, problem)) => {
                    return Err(ParseError::new(
                        Location::Buffer(b as usize),
                        ParseErrorKind::Malformed { field, problem },
                    ))
                }
            };
            crate::block_sparse::check_list(data, self.num_tensors()).map_err(|what| {
                ParseError::new(at, ParseErrorKind::UnsupportedSparsity { what })
            })?;
            self.sparse_blocks = data;
        }
        Ok(())
    }

    /// Whether tensor `t` is in the 1x4 block encoding (listed in the block metadata).
    pub(crate) fn block_encoded(&self, t: usize) -> bool {
        !self.sparse_blocks.is_empty() && crate::block_sparse::listed(self.sparse_blocks, t)
    }

    /// Whether the model's metadata declares a tflm-rs sparse encoding (only then can a tensor
    /// be sparse-encoded: `parse` refuses sparse tensors otherwise).
    pub(crate) fn declares_sparse_weights(&self) -> bool {
        self.sparse_format.is_some()
    }

    /// The kernels the model was parsed with ([`ops::ALL`] for [`Model::parse`]).
    pub fn registrations(&self) -> &'m [ops::Registration] {
        self.registrations
    }

    /// The model's bytes.
    pub fn bytes(&self) -> &'m [u8] {
        self.bytes
    }

    /// The converter's description string ("MLIR Converted.", ...).
    pub fn description(&self) -> &'m str {
        self.description
    }

    /// Subgraphs in the file; only the first runs (no control-flow ops are supported).
    pub fn num_subgraphs(&self) -> usize {
        self.subgraphs
    }

    pub fn num_tensors(&self) -> usize {
        self.tensors.len()
    }

    pub fn num_operators(&self) -> usize {
        self.operators.len()
    }

    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Tensor index of the subgraph's input `i`.
    pub fn input_index(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).map(|t| t as usize)
    }

    /// Tensor index of the subgraph's output `i`.
    pub fn output_index(&self, i: usize) -> Option<usize> {
        self.outputs.get(i).map(|t| t as usize)
    }

    /// The subgraph's input `i`.
    pub fn input(&self, i: usize) -> Option<Tensor<'m>> {
        self.input_index(i).map(|t| self.tensor(t))
    }

    /// The subgraph's output `i`.
    pub fn output(&self, i: usize) -> Option<Tensor<'m>> {
        self.output_index(i).map(|t| self.tensor(t))
    }

    /// Tensor `i` (`i < num_tensors()`; past the end, an empty placeholder).
    pub fn tensor(&self, i: usize) -> Tensor<'m> {
        self.view_tensor(i, Read::View)
    }

    /// [`Model::tensor`] without its name (`""`): what operators' `prepare` and the planner
    /// read, several times per tensor, so the cheaper the better.
    pub(crate) fn kernel_tensor(&self, i: usize) -> Tensor<'m> {
        self.view_tensor(i, Read::Kernel)
    }

    /// [`Model::kernel_tensor`], also writing the tensor's planner slot into `slot` (what
    /// `Interpreter::new`'s `prepare` passes, so that the planner need not read the tensor
    /// again; [`crate::arena::tensor_slot`]).
    pub(crate) fn kernel_tensor_noted(
        &self,
        i: usize,
        slot: Option<&core::cell::Cell<crate::arena::Slot>>,
    ) -> Tensor<'m> {
        match self.read_view(i, Read::Kernel) {
            Some(t) if self.tensor_check.is_none_or(|check| check(&t)) => {
                if let Some(cell) = slot {
                    if let Some(s) = crate::arena::tensor_slot(&t) {
                        cell.set(s);
                    }
                }
                t
            }
            _ => Self::placeholder(i),
        }
    }

    /// [`Model::kernel_tensor`] without the quantization (no scales, zero point 0).
    pub(crate) fn plan_tensor(&self, i: usize) -> Tensor<'m> {
        self.view_tensor(i, Read::Plan)
    }

    fn view_tensor(&self, i: usize, read: Read) -> Tensor<'m> {
        self.read_view(i, read)
            .unwrap_or_else(|| Self::placeholder(i))
    }

    /// What the views give for a tensor `parse` did not verify (an index past the end).
    fn placeholder(i: usize) -> Tensor<'m> {
        Tensor {
            index: i,
            name: "",
            dtype: DType::I8,
            shape: Shape(Vector::empty()),
            data: None,
            data_offset: 0,
            is_variable: false,
            quantization: Quantization::NONE,
            is_sparse: false,
        }
    }

    /// Operator `i` (`i < num_operators()`; past the end, an empty placeholder).
    pub fn operator(&self, i: usize) -> Operator<'m> {
        self.operator_view(i).unwrap_or(Operator {
            index: i,
            code: -1,
            version: 0,
            inputs: Vector::empty(),
            outputs: Vector::empty(),
            intermediates: Vector::empty(),
            options: None,
            options_type: 0,
        })
    }

    /// Operator `i`'s input and output tensor lists alone, what the graph check and the
    /// planner read of every operator (no operator code, options or intermediates).
    pub(crate) fn operator_tensors(&self, i: usize) -> (Vector<'m, i32>, Vector<'m, i32>) {
        let Ok(t) = self.operators.get_verified(self.bytes, i) else {
            return (Vector::empty(), Vector::empty());
        };
        let list = |id| index_list(&t, id).unwrap_or(Vector::empty());
        (
            list(field::operator::INPUTS),
            list(field::operator::OUTPUTS),
        )
    }

    /// Table `i` of `list`: checked while `parse` verifies it, reopened without the vtable
    /// checks by the views afterwards ([`Tables::get_verified`]; `parse` opened every table
    /// they read, and `Model` holds the bytes immutably).
    #[inline]
    fn open(&self, list: Tables<'m>, i: usize, verify: bool) -> Result<Table<'m>, Malformed> {
        if verify {
            list.get(self.bytes, i)
        } else {
            list.get_verified(self.bytes, i)
        }
    }

    /// Effective builtin code and version of operator code `i`; the error names the field.
    /// `verify` opens its table checked (`parse`) or as verified (the views). Never inlined:
    /// both share it.
    #[inline(never)]
    fn read_opcode(&self, i: usize, verify: bool) -> Result<(i32, i32), Field> {
        use field::operator_code as f;
        let at = |field| move |problem| (field, problem);
        let t = self
            .open(self.opcodes, i, verify)
            .map_err(at("operator_code"))?;
        let deprecated = t
            .scalar::<i8>(f::DEPRECATED_BUILTIN_CODE, 0)
            .map_err(at("deprecated_builtin_code"))? as i32;
        let builtin = t
            .scalar::<i32>(f::BUILTIN_CODE, 0)
            .map_err(at("builtin_code"))?;
        let version = t.scalar::<i32>(f::VERSION, 1).map_err(at("version"))?;
        Ok((builtin.max(deprecated), version))
    }

    /// The view of operator `i` after `parse` verified it ([`Model::read_operator`]): the
    /// same fields on the same immutable bytes, its table and its operator code's reopened as
    /// verified (no vtable checks, no index check, no located error; what `Interpreter::new`
    /// and the planner's measuring read of every operator). `None` only past the last
    /// operator; every read stays bounds-checked, so a broken invariant gives `None`, never a
    /// panic.
    fn operator_view(&self, i: usize) -> Option<Operator<'m>> {
        use field::operator as f;
        let t = self.operators.get_verified(self.bytes, i).ok()?;
        let opcode_index = t.scalar::<u32>(f::OPCODE_INDEX, 0).ok()? as usize;
        let (code, version) = self.read_opcode(opcode_index, false).ok()?;
        let list = |id| index_list(&t, id).ok();
        Some(Operator {
            index: i,
            code,
            version,
            inputs: list(f::INPUTS)?,
            outputs: list(f::OUTPUTS)?,
            intermediates: list(f::INTERMEDIATES)?,
            options: t.table(f::BUILTIN_OPTIONS).ok()?,
            options_type: t.scalar::<u8>(f::BUILTIN_OPTIONS_TYPE, 0).ok()?,
        })
    }

    /// Reads and checks operator `i` (once, in `parse`; its tensor indices are checked where
    /// `parse` walks them). Never inlined: inlined into its one caller it cost about 200 B.
    #[inline(never)]
    fn read_operator(&self, i: usize) -> Result<Operator<'m>, ParseError> {
        use field::operator as f;
        let at = Location::Operator(i);
        let t = self
            .operators
            .get(self.bytes, i)
            .map_err(malformed(at, "operator"))?;
        let opcode_index = t
            .scalar::<u32>(f::OPCODE_INDEX, 0)
            .map_err(malformed(at, "opcode_index"))?;
        let opcode_index = index(at, "opcode", opcode_index as i64, self.opcodes.len())?;
        let (code, version) = self
            .read_opcode(opcode_index, true)
            .map_err(located(Location::OperatorCode(opcode_index)))?;
        let vec = |id, name| index_list(&t, id).map_err(malformed(at, name));
        let inputs = vec(f::INPUTS, "inputs")?;
        let outputs = vec(f::OUTPUTS, "outputs")?;
        let intermediates = vec(f::INTERMEDIATES, "intermediates")?;
        let options_type = t
            .scalar::<u8>(f::BUILTIN_OPTIONS_TYPE, 0)
            .map_err(malformed(at, "builtin_options_type"))?;
        let options = t
            .table(f::BUILTIN_OPTIONS)
            .map_err(malformed(at, "builtin_options"))?;
        Ok(Operator {
            index: i,
            code,
            version,
            inputs,
            outputs,
            intermediates,
            options,
            options_type,
        })
    }

    /// The constant bytes of buffer `b` and their position, `None` when empty.
    fn read_buffer(&self, b: usize, verify: bool) -> Result<Option<(&'m [u8], usize)>, Field> {
        use field::buffer as f;
        let at = |field| move |problem| (field, problem);
        let t = self.open(self.buffers, b, verify).map_err(at("buffer"))?;
        if let Some(v) = t.vector::<u8>(f::DATA).map_err(at("data"))? {
            if !v.is_empty() {
                return Ok(Some((v.as_bytes(), v.position())));
            }
        }
        // Buffers stored after the flatbuffer (schema 3c): offset from the file start.
        let offset = t.scalar::<u64>(f::OFFSET, 0).map_err(at("offset"))?;
        let size = t.scalar::<u64>(f::SIZE, 0).map_err(at("size"))?;
        if offset > 1 && size > 0 {
            let start = usize::try_from(offset).ok();
            let end = start
                .zip(usize::try_from(size).ok())
                .and_then(|(s, n)| s.checked_add(n));
            return match (start, end) {
                (Some(s), Some(e)) if e <= self.bytes.len() => Ok(Some((&self.bytes[s..e], s))),
                _ => Err(("offset", Malformed::OutOfBounds)),
            };
        }
        Ok(None)
    }

    /// Reads and verifies tensor `i` (once, in `parse`): every offset, the type, the shape
    /// against the data, every scale and zero point, the alignment. The tensor's own faults
    /// are located here, once, instead of at each of the twenty checks.
    fn read_tensor(&self, i: usize) -> Result<Tensor<'m>, ParseError> {
        self.check_tensor(i).map_err(|fault| match fault {
            TensorFault::Own(kind) => ParseError::new(Location::Tensor(i), kind),
            TensorFault::Located(e) => e,
        })
    }

    /// [`Model::read_tensor`] before its faults are located. Always inlined: a call would
    /// copy the tensor out of one `Result` into the other.
    #[inline(always)]
    fn check_tensor(&self, i: usize) -> Result<Tensor<'m>, TensorFault> {
        use field::tensor as f;
        let at = Location::Tensor(i);
        let t = self.tensors.get(self.bytes, i).map_err(fault("tensor"))?;
        let code = t.scalar::<i8>(f::TYPE, 0).map_err(fault("type"))?;
        let dtype =
            DType::from_schema(code).ok_or(ParseErrorKind::UnsupportedTensorType { code })?;
        let shape = t
            .vector::<i32>(f::SHAPE)
            .map_err(fault("shape"))?
            .unwrap_or(Vector::empty());
        if shape.len() > MAX_RANK {
            return Err(TensorFault::Own(ParseErrorKind::TooLarge {
                what: "dimensions",
                count: shape.len(),
                max: MAX_RANK,
            }));
        }
        let mut bytes = dtype.size();
        for d in shape.iter() {
            keep_rolled();
            if d < 0 {
                return Err(TensorFault::Own(ParseErrorKind::BadShape));
            }
            bytes = bytes
                .checked_mul(d as usize)
                .ok_or(ParseErrorKind::BadShape)?;
        }
        if bytes > u32::MAX as usize / 2 {
            return Err(TensorFault::Own(ParseErrorKind::BadShape));
        }
        let name = t.string(f::NAME).map_err(fault("name"))?.unwrap_or("");
        let is_variable = t
            .scalar::<bool>(f::IS_VARIABLE, false)
            .map_err(fault("is_variable"))?;
        let sparsity = t.table(f::SPARSITY).map_err(fault("sparsity"))?;
        let is_sparse = sparsity.is_some();
        let buffer = t.scalar::<u32>(f::BUFFER, 0).map_err(fault("buffer"))?;
        let (data, data_offset) = if buffer == 0 {
            (None, 0)
        } else {
            let b = index(at, "buffer", buffer as i64, self.buffers.len())?;
            match self
                .read_buffer(b, true)
                .map_err(located(Location::Buffer(b)))?
            {
                Some((d, p)) => (Some(d), p),
                None => (None, 0),
            }
        };
        if is_sparse && data.is_none() {
            return Err(TensorFault::Own(ParseErrorKind::UnsupportedSparsity {
                what: "a sparse tensor must hold constant data",
            }));
        }
        if let Some(d) = data {
            if !is_sparse && d.len() != bytes {
                return Err(TensorFault::Own(ParseErrorKind::BufferSizeMismatch {
                    expected: bytes,
                    found: d.len(),
                }));
            }
            if let Some(sp) = sparsity {
                match self.sparse_verify {
                    Some(verify) => verify(self, at, sp, dtype, &shape, d)?,
                    None => self.sparse_without_verifier(at)?,
                }
            }
            let align = dtype.size();
            if !(d.as_ptr() as usize).is_multiple_of(align) {
                return Err(TensorFault::Own(ParseErrorKind::Misaligned { align }));
            }
        }
        let quantization = match t.table(f::QUANTIZATION).map_err(fault("quantization"))? {
            Some(q) => self.read_quantization(q, &shape, dtype)?,
            None => Quantization::NONE,
        };
        Ok(Tensor {
            index: i,
            name,
            dtype,
            shape: Shape(shape),
            data,
            data_offset,
            is_variable,
            quantization,
            is_sparse,
        })
    }

    /// The view of tensor `i` after `parse` verified it: the same fields as
    /// [`Model::read_tensor`] on the same immutable bytes, with no check and no error to
    /// build (every table reopened as verified); `None` only past the last tensor. Views are
    /// what every `prepare`, the planner and the API read, several times per tensor.
    fn read_view(&self, i: usize, read: Read) -> Option<Tensor<'m>> {
        use field::tensor as f;
        let t = self.tensors.get_verified(self.bytes, i).ok()?;
        let dtype = DType::from_schema(t.scalar::<i8>(f::TYPE, 0).ok()?)?;
        let shape = t.vector::<i32>(f::SHAPE).ok()?.unwrap_or(Vector::empty());
        // The name's UTF-8 check costs as much as the rest of a small tensor, and no kernel
        // or planner reads it.
        let name = match read {
            Read::View => t.string(f::NAME).ok()?.unwrap_or(""),
            Read::Kernel | Read::Plan => "",
        };
        let is_variable = t.scalar::<bool>(f::IS_VARIABLE, false).ok()?;
        // Without the sparse encoding's metadata `parse` refuses every sparse tensor.
        let is_sparse = self.sparse_format.is_some() && t.table(f::SPARSITY).ok()?.is_some();
        let (data, data_offset) = match t.scalar::<u32>(f::BUFFER, 0).ok()? {
            0 => (None, 0),
            b => match self.read_buffer(b as usize, false).ok()? {
                Some((d, p)) => (Some(d), p),
                None => (None, 0),
            },
        };
        let quantization = match read {
            Read::Plan => None,
            Read::View | Read::Kernel => t.table(f::QUANTIZATION).ok()?,
        };
        let quantization = match quantization {
            Some(q) => Quantization::decode(q, &shape).ok()?,
            None => Quantization::NONE,
        };
        Some(Tensor {
            index: i,
            name,
            dtype,
            shape: Shape(shape),
            data,
            data_offset,
            is_variable,
            quantization,
            is_sparse,
        })
    }

    /// A tensor with `SparsityParameters` when no registration verifies the encoding (a
    /// firmware without sparse kernels, which links no [`verify_sparse`]): refused
    /// unless the model declares tflm-rs's encoding, whose tensors its operators then refuse
    /// naming the registration to add (`parse_with`).
    fn sparse_without_verifier(&self, at: Location) -> Result<(), ParseError> {
        let what = match self.sparse_format {
            Some(true) => return Ok(()),
            Some(false) => SPARSE_OTHER_FORMAT,
            None => {
                "SparsityParameters without the model's tflm_rs.sparse_weights metadata \
                 (TFLite's sparse format is not supported: convert with dense weights, or with \
                 tflm-rs's sparse encoding)"
            }
        };
        Err(ParseError::new(
            at,
            ParseErrorKind::UnsupportedSparsity { what },
        ))
    }

    /// Reads and verifies a tensor's quantization (once, in `parse`): counts, every zero
    /// point's range, every scale.
    fn read_quantization(
        &self,
        q: Table<'m>,
        shape: &Vector<'m, i32>,
        dtype: DType,
    ) -> Result<Quantization<'m>, ParseErrorKind> {
        let Quantization {
            scales,
            zero_points,
            quantized_dimension,
        } = Quantization::decode(q, shape)
            .map_err(|(field, problem)| ParseErrorKind::Malformed { field, problem })?;
        let invalid = |what| {
            Err(ParseErrorKind::InvalidOperands {
                op: "quantization",
                what,
            })
        };
        if !zero_points.is_empty() && zero_points.len() != scales.len() {
            return invalid("scale and zero_point counts differ");
        }
        // A zero point outside its type's range has no meaning and would overflow kernels.
        let (lo, hi) = match dtype {
            DType::I8 => (i8::MIN as i64, i8::MAX as i64),
            DType::U8 => (0, u8::MAX as i64),
            DType::I16 => (i16::MIN as i64, i16::MAX as i64),
            _ => (i32::MIN as i64, i32::MAX as i64),
        };
        // Both checks walk the raw little-endian bytes: per-channel tensors carry thousands
        // of entries (person_detect: 11,000), and this is most of what `parse` reads.
        // One unsigned compare: `z - lo` wraps past the span when `z` lies outside.
        let span = hi.abs_diff(lo);
        let out_of_range = |z: &[u8]| {
            let z = i64::from_le_bytes(z.try_into().unwrap_or_default());
            z.wrapping_sub(lo) as u64 > span
        };
        if zero_points.as_bytes().chunks_exact(8).any(out_of_range) {
            return invalid("zero point outside the range of the tensor's type");
        }
        // Negative (but -0.0), infinite or NaN: the bits of a finite non-negative f32 are
        // below those of +infinity.
        let bad_scale = |s: &[u8]| {
            let bits = u32::from_le_bytes(s.try_into().unwrap_or_default());
            bits != 0x8000_0000 && bits >= f32::INFINITY.to_bits()
        };
        if scales.as_bytes().chunks_exact(4).any(bad_scale) {
            return invalid("scale is negative, infinite or NaN");
        }
        if scales.len() > 1 {
            let channels = shape.get(quantized_dimension).unwrap_or(1).max(0) as usize;
            if scales.len() != channels {
                return invalid("per-channel scale count differs from the quantized dimension");
            }
        }
        Ok(Quantization {
            scales,
            zero_points,
            quantized_dimension,
        })
    }

    /// Graph rules the planner relies on, checked for operator `i` (in operator order, right
    /// after it is verified, on the tensor lists `parse` has already read): every activation
    /// it reads was written before (or is a subgraph input), none is written twice,
    /// constants and variables are never written. `fixed` holds the constant and variable
    /// tensors verified so far (every tensor of this operator), `written` the tensors written
    /// so far (the subgraph inputs first).
    fn check_operator_graph(
        &self,
        i: usize,
        op: &Operator<'m>,
        fixed: &TensorSet,
        written: &mut TensorSet,
    ) -> Result<(), ParseError> {
        let fail =
            |what| ParseError::new(Location::Operator(i), ParseErrorKind::InvalidGraph { what });
        for t in op.inputs.iter().filter(|&t| t >= 0).map(|t| t as usize) {
            keep_rolled();
            if !(fixed.contains(t) || written.contains(t)) {
                return Err(fail("an input is read before any operator writes it"));
            }
        }
        for t in op.outputs.iter().map(|t| t as usize) {
            keep_rolled();
            if fixed.contains(t) {
                return Err(fail(if self.tensor(t).is_constant() {
                    "an operator writes a constant tensor"
                } else {
                    "an operator output is a variable tensor"
                }));
            }
            if written.contains(t) {
                return Err(fail(
                    "a tensor is written twice (or a subgraph input is overwritten)",
                ));
            }
            written.insert(t);
        }
        Ok(())
    }

    /// The graph rules of the subgraph's inputs (never a constant or variable tensor: `fixed`
    /// holds those among them) and outputs (each written by an operator, or constant).
    fn check_io_graph(
        &self,
        inputs: bool,
        fixed: &TensorSet,
        written: &mut TensorSet,
    ) -> Result<(), ParseError> {
        let list = if inputs { self.inputs } else { self.outputs };
        for t in list.iter().map(|t| t as usize) {
            keep_rolled();
            let what = if inputs {
                written.insert(t);
                if !fixed.contains(t) {
                    continue;
                }
                "a subgraph input is a constant or variable tensor"
            } else {
                if written.contains(t) || fixed.contains(t) && self.tensor(t).is_constant() {
                    continue;
                }
                "a subgraph output is never written"
            };
            return Err(ParseError::new(
                Location::Tensor(t),
                ParseErrorKind::InvalidGraph { what },
            ));
        }
        Ok(())
    }

    /// The operator that writes tensor `t`, if any.
    pub fn producer(&self, t: usize) -> Option<usize> {
        (0..self.num_operators())
            .find(|&i| self.operator(i).outputs.iter().any(|o| o as usize == t))
    }

    /// Bytes of arena `Interpreter::new` needs for this model, with the arena at a 16-byte
    /// aligned address (add up to 15 bytes for an unaligned one).
    pub fn arena_size(&self) -> usize {
        self.layout().total
    }

    /// The arena's regions for this model (what `arena_size` adds up).
    pub fn layout(&self) -> crate::arena::Layout {
        crate::arena::Layout::compute_standalone(self)
    }
}

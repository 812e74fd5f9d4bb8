//! Operators: each module binds one builtin op's kernel to the model.
//!
//! An op module has two functions. `prepare` validates the operator against the model (types,
//! shapes, options) and writes the constants its kernel needs (fixed-point multipliers, per
//! channel shifts, shapes) into its data blob; run without a blob it only validates and measures,
//! which is how `Model::parse` verifies every operator and how the arena is sized. `eval` reads
//! the blob back and runs the kernel on the operator's tensors.

use crate::arena::Slot;
use crate::error::{Error, ParseErrorKind};
use crate::flatbuf::read_i32;
use crate::model::{Model, Operator, RecentTensors, Tensor};
use crate::schema::op;
use bytemuck::Pod;
use core::cell::Cell;
use places::Place;
// One module per pooling op, so that each registration links its own kernels.
use pooling::{average as average_pool, max as max_pool};

mod add;
mod binary;
mod concatenation;
mod conv;
mod depthwise_conv;
mod fully_connected;
mod lstm;
mod mean;
mod mul;
mod pad;
pub(crate) mod places;
mod pooling;
mod quantize;
mod reshape;
mod softmax;
mod strided_slice;
mod svdf;
mod transpose;
mod unary;

/// What an operator needs from the arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Requirements {
    /// Prepared constants and then the operator's tensor places ([`places`]), kept for the
    /// interpreter's lifetime.
    pub data_bytes: usize,
    /// The prepared constants alone (the places start at the next multiple of 8).
    pub prepared_bytes: usize,
    /// Scratch memory alive only while the operator runs.
    pub scratch_bytes: usize,
}

type PrepareFn = for<'p, 'm, 'd> fn(&mut Prepare<'p, 'm, 'd>) -> Result<(), ParseErrorKind>;
type EvalFn = for<'b, 'd> fn(&mut OpIo<'b>, &mut DataReader<'d>) -> Result<(), Error>;
/// Verifies a tensor with `SparsityParameters` as tflm-rs's sparse encoding
/// ([`crate::model::verify_sparse`]).
pub(crate) type SparseVerifyFn = for<'a, 'm> fn(
    &'a Model<'m>,
    crate::error::Location,
    crate::flatbuf::Table<'m>,
    crate::types::DType,
    &'a crate::flatbuf::Vector<'m, i32>,
    &'a [u8],
) -> Result<(), crate::error::ParseError>;

/// The sparse registrations' hooks into [`Model::parse_with`]: `read_lists` reads the
/// encodings' metadata once before the tensors are verified, `verify` checks one sparse
/// tensor. Only those registrations reference them, so a firmware without a sparse kernel
/// links neither.
#[derive(Clone, Copy)]
pub(crate) struct SparseVerifier {
    pub read_lists: for<'m> fn(&mut Model<'m>) -> Result<(), crate::error::ParseError>,
    pub verify: SparseVerifyFn,
}

/// One builtin operator's kernel as a model may use it: the builtin code with its `prepare`
/// (validate, measure, precompute) and `eval` functions. TFLite Micro's `TFLMRegistration`,
/// checked at compile time: each supported builtin is a constant of this module
/// ([`FULLY_CONNECTED`], [`CONV_2D`], ...), so a list such as
/// `&[ops::FULLY_CONNECTED, ops::SOFTMAX]` names only existing kernels, and only the listed
/// kernels are linked into a firmware that parses with it ([`Model::parse_with`]).
#[derive(Clone, Copy)]
pub struct Registration {
    code: i32,
    /// The constant's name (the builtin's, or `FULLY_CONNECTED_SPARSE`).
    name: &'static str,
    /// The builtin's name, for `prepare`'s errors (no look-up by code on the setup path).
    op_name: &'static str,
    /// For an `_INT8` registration: why an operator of other types is refused (its kernels
    /// are not linked).
    int8_only: Option<&'static str>,
    prepare: PrepareFn,
    eval: EvalFn,
    /// Set by the sparse registrations, whose kernels read tflm-rs's sparse encoding:
    /// `Model::parse_with` verifies sparse-encoded tensors with it, so a firmware without a
    /// sparse kernel does not link the verification either (it refuses such tensors, see
    /// [`Model::parse_with`]).
    verify_sparse: Option<SparseVerifier>,
    /// Set by the registrations of operators with variable inputs (SVDF, LSTM): a firmware
    /// without them links neither the state's ranking nor its carve.
    state: Option<StateHooks>,
}

/// How an operator with variable inputs finds its state: `rank` tags each variable input's
/// place with its rank by offset at `Interpreter::new` ([`places::rank_state`]); `carve`
/// splits the state region at them on every invoke ([`carve_state`]).
#[derive(Clone, Copy)]
pub(crate) struct StateHooks {
    pub rank: places::RankFn,
    pub carve: for<'b> fn(&mut OpIo<'b>, &'b mut [u8]) -> bool,
}

/// The state hooks of the builtins with variable inputs (a constant: only their
/// registrations reference the hooks).
const fn state_hooks(code: i32) -> Option<StateHooks> {
    match code {
        op::SVDF | op::UNIDIRECTIONAL_SEQUENCE_LSTM => Some(StateHooks {
            rank: places::rank_state,
            carve: carve_state,
        }),
        _ => None,
    }
}

impl Registration {
    /// The state hooks, for an operator with variable inputs.
    pub(crate) fn state(&self) -> Option<StateHooks> {
        self.state
    }

    /// The builtin operator code (`BuiltinOperator` in TFLite's schema).
    pub const fn code(&self) -> i32 {
        self.code
    }

    /// The registration constant's name (`"FULLY_CONNECTED"`, `"FULLY_CONNECTED_SPARSE"`):
    /// the builtin operator's, except for variants such as the sparse one.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The sparse-encoding verifier of the first registration that has one, if any.
pub(crate) fn sparse_verifier(registrations: &[Registration]) -> Option<SparseVerifier> {
    registrations.iter().find_map(|r| r.verify_sparse)
}

impl core::fmt::Debug for Registration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Registration({})", self.name())
    }
}

impl PartialEq for Registration {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

/// Defines an op module's `eval` (every type: `eval_variants::<true>`) and `eval_int8` (the
/// `_INT8` registration's: `eval_variants::<false>`, a constant that compiles the other types'
/// arms out, so the linker drops their kernels) from its `eval_variants`.
macro_rules! int8_evals {
    () => {
        super::int8_evals!(eval, eval_int8, eval_variants);
    };
    ($all:ident, $int8:ident, $with:ident) => {
        pub(super) fn $all(
            io: &mut super::OpIo<'_>,
            data: &mut super::DataReader<'_>,
        ) -> Result<(), crate::error::Error> {
            $with::<true>(io, data)
        }

        /// The same for int8 operators only (the `_INT8` registration).
        pub(super) fn $int8(
            io: &mut super::OpIo<'_>,
            data: &mut super::DataReader<'_>,
        ) -> Result<(), crate::error::Error> {
            $with::<false>(io, data)
        }
    };
}
use int8_evals;

/// An `_INT8` registration's `prepare`: the module's own (`$module::prepare`), or the one
/// named in brackets, which compiles the other types out.
macro_rules! int8_prepare {
    ($module:ident) => {
        $module::prepare
    };
    ($module:ident, $prepare:ident) => {
        $module::$prepare
    };
}

macro_rules! registrations {
    ($($name:ident => $module:ident $(| $int8:ident $([$prepare8:ident])?)?),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` kernel (`ops::", stringify!($module), "`).")]
            pub const $name: Registration = Registration {
                code: op::$name,
                name: stringify!($name),
                op_name: stringify!($name),
                int8_only: None,
                prepare: $module::prepare,
                eval: $module::eval,
                verify_sparse: None,
                state: state_hooks(op::$name),
            };
            $(
                #[doc = concat!("`", stringify!($name), "` for int8 operators only: the other \
                    types' kernels are not linked, and an operator of another type is refused \
                    at parse time, naming [`", stringify!($name), "`].")]
                pub const $int8: Registration = Registration {
                    code: op::$name,
                    name: stringify!($int8),
                    op_name: stringify!($name),
                    int8_only: Some(concat!(
                        "types other than int8 with ops::", stringify!($int8),
                        " (register ops::", stringify!($name), ")"
                    )),
                    prepare: int8_prepare!($module $(, $prepare8)?),
                    eval: $module::eval_int8,
                    verify_sparse: None,
                    state: state_hooks(op::$name),
                };
            )?
        )*

        /// Every operator this runtime supports: what [`Model::parse`] uses. A firmware that
        /// parses with it links every kernel; list the model's own operators instead
        /// ([`Model::parse_with`]) to link only those. FULLY_CONNECTED is
        /// [`FULLY_CONNECTED_SPARSE`] and UNIDIRECTIONAL_SEQUENCE_LSTM
        /// [`UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE`] here (the first registration of a code
        /// wins), so every model the runtime can run parses with it.
        pub const ALL: &[Registration] =
            &[FULLY_CONNECTED_SPARSE, UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE, CONV_2D_SPARSE, $($name),*];

        /// The registration of a builtin code, for constant contexts:
        /// `const OPS: &[Registration] = &[ops::by_code(9).unwrap()];` (a build script that
        /// knows the model's codes). Called at run time it links every kernel: use the
        /// named constants there.
        pub const fn by_code(code: i32) -> Option<Registration> {
            match code {
                $(op::$name => Some($name),)*
                _ => None,
            }
        }

        /// Whether this runtime has a kernel for the builtin code (links no kernel).
        /// A bit per code (32 bytes): the `match` on the codes compiled to a 0.24 KB jump
        /// table.
        pub const fn is_supported(code: i32) -> bool {
            const BITS: [u32; 8] = {
                let mut bits = [0u32; 8];
                $(bits[op::$name as usize / 32] |= 1 << (op::$name % 32);)*
                bits
            };
            0 <= code && code < 256 && BITS[code as usize / 32] >> (code % 32) & 1 != 0
        }

        /// The builtin's name if this runtime has a kernel for it ([`crate::schema::op_name`]
        /// without the `std` feature).
        /// One string and a table of codes and ends: a `match` returning each name took
        /// 0.6 KB of code.
        #[cfg_attr(feature = "std", allow(dead_code))]
        pub(crate) fn supported_name(code: i32) -> Option<&'static str> {
            const NAMES: &str = concat!($(stringify!($name)),*);
            const CODES: &[u8] = &[$(op::$name as u8),*];
            const _: () = assert!($(op::$name as u8 as i32 == op::$name)&&*, "a code past 255");
            const ENDS: [u16; CODES.len()] =
                crate::schema::name_ends([$(stringify!($name)),*]);
            let code = u8::try_from(code).ok()?;
            // A loop over the bytes (unrolled into compares over a constant table, it was
            // 0.4 KB; kept rolled, as LLVM unrolled even the opaque table's loop four times).
            let i = core::hint::black_box(CODES).iter().position(|&c| {
                crate::rolled::keep_rolled();
                c == code
            })?;
            crate::schema::packed_name(NAMES, &ENDS, i)
        }

        /// The registrations of a builtin code, narrowest (fewest kernels linked) first.
        #[allow(unreachable_patterns)] // the arms of the sparse variants come first
        fn candidates(code: i32) -> &'static [Registration] {
            match code {
                op::FULLY_CONNECTED => &[
                    FULLY_CONNECTED_INT8,
                    FULLY_CONNECTED_SPARSE_INT8,
                    FULLY_CONNECTED,
                    FULLY_CONNECTED_SPARSE,
                ],
                op::CONV_2D => &[
                    CONV_2D_POINTWISE_INT8,
                    CONV_2D_INT8,
                    CONV_2D_SPARSE_INT8,
                    CONV_2D,
                    CONV_2D_SPARSE,
                ],
                op::DEPTHWISE_CONV_2D => &[
                    DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8,
                    DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8,
                    DEPTHWISE_CONV_2D_INT8,
                    DEPTHWISE_CONV_2D,
                ],
                op::SOFTMAX => &[SOFTMAX_INT8, SOFTMAX_INT8_INT16, SOFTMAX],
                op::UNIDIRECTIONAL_SEQUENCE_LSTM => &[
                    UNIDIRECTIONAL_SEQUENCE_LSTM_INT8,
                    UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8,
                    UNIDIRECTIONAL_SEQUENCE_LSTM,
                    UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE,
                ],
                $(op::$name => &[$($int8,)? $name],)*
                _ => &[],
            }
        }
    };
}

registrations! {
    ADD => add | ADD_INT8,
    SUB => add | SUB_INT8,
    MUL => mul | MUL_INT8,
    RELU => unary,
    RELU6 => unary,
    RELU_N1_TO_1 => unary,
    LEAKY_RELU => unary,
    LOGISTIC => unary,
    TANH => unary,
    HARD_SWISH => unary,
    QUANTIZE => quantize,
    DEQUANTIZE => quantize,
    CONCATENATION => concatenation,
    MEAN => mean,
    PAD => pad,
    PADV2 => pad,
    STRIDED_SLICE => strided_slice,
    TRANSPOSE => transpose,
    SVDF => svdf | SVDF_INT8,
    UNIDIRECTIONAL_SEQUENCE_LSTM => lstm | UNIDIRECTIONAL_SEQUENCE_LSTM_INT8 [prepare_int8],
    SOFTMAX => softmax | SOFTMAX_INT8 [prepare_int8],
    CONV_2D => conv | CONV_2D_INT8 [prepare_int8],
    DEPTHWISE_CONV_2D => depthwise_conv | DEPTHWISE_CONV_2D_INT8 [prepare_int8],
    AVERAGE_POOL_2D => average_pool | AVERAGE_POOL_2D_INT8 [prepare_int8],
    MAX_POOL_2D => max_pool | MAX_POOL_2D_INT8 [prepare_int8],
    FULLY_CONNECTED => fully_connected | FULLY_CONNECTED_INT8 [prepare_int8],
    RESHAPE => reshape,
    SQUEEZE => reshape,
    EXPAND_DIMS => reshape,
}

/// Defines an op's two sparse registrations from its module's `prepare_sparse`, `eval_sparse`
/// and `eval_sparse_int8` (`$int8` prepares with the function named in brackets): `$all`,
/// every type plus int8 weights in tflm-rs's sparse encoding (what [`ALL`] lists), and
/// `$int8`, int8 operators only with dense or sparse weights.
macro_rules! sparse_registrations {
    ($code:ident => $module:ident, $all:ident, $int8:ident [$prepare8:ident], $what:literal) => {
        #[doc = concat!("`", stringify!($code), "` that also runs ", $what, " in tflm-rs's \
            sparse encoding ([`crate::sparse`]; the converter writes it for pruned models): \
            every type `", stringify!($code), "` runs plus the sparse kernel, which a firmware \
            without this registration does not link. A model with such weights parsed \
            without it (or `", stringify!($int8), "`) is refused with `NotRegistered` naming \
            it.")]
        pub const $all: Registration = Registration {
            code: op::$code,
            name: stringify!($all),
            op_name: stringify!($code),
            int8_only: None,
            prepare: $module::prepare_sparse,
            eval: $module::eval_sparse,
            verify_sparse: Some(SparseVerifier {
                read_lists: crate::model::read_sparse_lists,
                verify: crate::model::verify_sparse,
            }),
            state: state_hooks(op::$code),
        };

        #[doc = concat!("`", stringify!($all), "` for int8 operators only (dense or sparse \
            weights): what a firmware with a pruned int8 model lists (`registration_for`), \
            without the other types' kernels.")]
        pub const $int8: Registration = Registration {
            code: op::$code,
            name: stringify!($int8),
            op_name: stringify!($code),
            int8_only: Some(concat!(
                "types other than int8 with ops::", stringify!($int8),
                " (register ops::", stringify!($all), ")"
            )),
            prepare: $module::$prepare8,
            eval: $module::eval_sparse_int8,
            verify_sparse: Some(SparseVerifier {
                read_lists: crate::model::read_sparse_lists,
                verify: crate::model::verify_sparse,
            }),
            state: state_hooks(op::$code),
        };
    };
}

sparse_registrations!(FULLY_CONNECTED => fully_connected,
    FULLY_CONNECTED_SPARSE, FULLY_CONNECTED_SPARSE_INT8 [prepare_sparse_int8], "int8 weights (input 1)");
sparse_registrations!(UNIDIRECTIONAL_SEQUENCE_LSTM => lstm,
    UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE, UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8 [prepare_sparse_int8],
    "int8 gate weights (inputs 1-8)");
sparse_registrations!(CONV_2D => conv,
    CONV_2D_SPARSE, CONV_2D_SPARSE_INT8 [prepare_sparse_int8],
    "int8 filters (input 1) in 1x4 blocks");

/// Defines a narrow registration of `$code`: one prepare (which refuses what its kernels do
/// not run, naming the registration that does) and one eval, no sparse weights, no state; an
/// operator of other types than `$types` is refused naming `$code`'s full registration.
macro_rules! narrow_registration {
    ($(#[$doc:meta])* $name:ident: $code:ident => $prepare:path, $eval:path, $types:literal) => {
        $(#[$doc])*
        pub const $name: Registration = Registration {
            code: op::$code,
            name: stringify!($name),
            op_name: stringify!($code),
            int8_only: Some(concat!(
                "types other than ", $types, " with ops::", stringify!($name),
                " (register ops::", stringify!($code), ")"
            )),
            prepare: $prepare,
            eval: $eval,
            verify_sparse: None,
            state: None,
        };
    };
}

narrow_registration! {
    /// `DEPTHWISE_CONV_2D_INT8` for depthwise operators that read a one-channel input
    /// (micro_speech's first layer) and nothing else: only the one-channel kernel is linked,
    /// not the other int8 paths (the 3x3 interior path, about 4.7 KB; the generic sweep,
    /// 1.6 KB). An operator with more input channels, or a filter beyond the kernel's stack
    /// tables, is refused at parse time, naming [`DEPTHWISE_CONV_2D_INT8`].
    /// [`registration_for`] picks it when it fits every operator.
    DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8: DEPTHWISE_CONV_2D =>
        depthwise_conv::prepare_one_channel, depthwise_conv::eval_one_channel, "int8"
}

narrow_registration! {
    /// `DEPTHWISE_CONV_2D_INT8` for MobileNet-like models (person_detect): one-channel inputs as
    /// [`DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8`] takes them, and depth multiplier 1 over a multiple
    /// of 4 channels; the loops for other multipliers and for channels past the last quad are not
    /// linked. Another operator is refused at parse time, naming [`DEPTHWISE_CONV_2D_INT8`].
    DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8: DEPTHWISE_CONV_2D =>
        depthwise_conv::prepare_multiplier_1, depthwise_conv::eval_multiplier_1, "int8"
}

narrow_registration! {
    /// `CONV_2D_INT8` for models whose convolutions are all 1x1 over all input channels
    /// (person_detect's): only the pointwise kernel is linked, not the im2col and generic paths
    /// (14 KB less code on person_detect). Another convolution is refused at parse time, naming
    /// [`CONV_2D_INT8`]. [`registration_for`] picks it when it fits every CONV_2D operator.
    CONV_2D_POINTWISE_INT8: CONV_2D =>
        conv::prepare_pointwise, conv::eval_pointwise, "int8"
}

narrow_registration! {
    /// `SOFTMAX` for int8 input and int16 output only (keyword_scrambled's; TFLite Micro's
    /// `Register_SOFTMAX_INT8_INT16`): the int8 → int8, int16 and float kernels and the int16
    /// kernel's tables are not linked. Another pair of types is refused at parse time, naming
    /// [`SOFTMAX`]. [`registration_for`] picks it when it fits every SOFTMAX operator.
    SOFTMAX_INT8_INT16: SOFTMAX =>
        softmax::prepare_int8_int16, softmax::eval_int8_int16, "int8 input and int16 output"
}

/// Whether input `k` of an operator of builtin `code` may be a sparse-encoded tensor: the
/// weights the sparse kernels read in place (FULLY_CONNECTED's input 1, the LSTM's
/// input-to-gate and recurrent-to-gate weights, inputs 1-8, CONV_2D's filter, input 1). Every
/// other kernel reads its constants densely. The converter asks the same question before it
/// encodes a tensor; [`reads_encoding`] says which encodings.
pub fn reads_sparse(code: i32, k: usize) -> bool {
    match code {
        op::FULLY_CONNECTED | op::CONV_2D => k == 1,
        op::UNIDIRECTIONAL_SEQUENCE_LSTM => (1..=8).contains(&k),
        _ => false,
    }
}

/// Whether an operator of builtin `code` reads a sparse input ([`reads_sparse`]) in the 1x4
/// block encoding (`block`) or the row bitmask (not `block`): FULLY_CONNECTED either, CONV_2D
/// only blocks, the LSTM only the row bitmask.
pub fn reads_encoding(code: i32, block: bool) -> bool {
    match code {
        op::FULLY_CONNECTED => true,
        op::CONV_2D => block,
        _ => !block,
    }
}

/// The narrowest registration that runs every operator of builtin `code` in `model` (host
/// side: the firmware build script and the macro's generated `OPS` both list this one per
/// code; it links every kernel): an `_INT8` one when all are int8 (`FULLY_CONNECTED_INT8`,
/// `CONV_2D_INT8`, ...), [`FULLY_CONNECTED_SPARSE_INT8`] or
/// [`UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8`] for sparse-encoded int8 weights, else the
/// builtin's own; `None` for an operator the runtime has no kernel for. The fit is decided by
/// the registrations' own `prepare`, so it never disagrees with what `Model::parse_with`
/// accepts.
pub fn registration_for(model: &Model<'_>, code: i32) -> Option<Registration> {
    let candidates = candidates(code);
    let fits = |r: &Registration| {
        (0..model.num_operators())
            .map(|i| model.operator(i))
            .filter(|op| op.code == code)
            .all(|op| check_with(r, model, &op, &RecentTensors::new()).is_ok())
    };
    candidates
        .iter()
        .find(|r| fits(r))
        .or(candidates.last())
        .copied()
}

/// The index of the operator's registration in the model's list, or the reason there is none.
pub(crate) fn lookup(model: &Model<'_>, code: i32) -> Result<usize, ParseErrorKind> {
    if let Some((i, _)) = position(model, code) {
        return Ok(i);
    }
    let name = crate::schema::op_name(code);
    Err(if code == op::CUSTOM {
        ParseErrorKind::CustomOperator
    } else if is_supported(code) {
        ParseErrorKind::NotRegistered { code, name }
    } else {
        ParseErrorKind::UnsupportedOperator { code, name }
    })
}

/// The registration of `code` and its index in the model's list: [`lookup`] without the
/// reason, for a verified model (whose every operator has one), so that no operator name
/// table is linked for an error that cannot happen. The registration comes with its index
/// so that callers need no second, bounds-checked look-up.
pub(crate) fn position<'a>(model: &Model<'a>, code: i32) -> Option<(usize, &'a Registration)> {
    model
        .registrations()
        .iter()
        .enumerate()
        .find(|(_, r)| r.code == code)
}

fn registration<'a>(model: &'a Model<'_>, code: i32) -> Result<&'a Registration, ParseErrorKind> {
    let i = lookup(model, code)?;
    model
        .registrations()
        .get(i)
        .ok_or(ParseErrorKind::InvalidGraph {
            what: "operator registration",
        })
}

/// Validates an operator and measures what it needs, reading the tensors kept in `recent`
/// from there (`Model::parse` keeps those it has just verified).
pub(crate) fn check_recent<'m>(
    model: &Model<'m>,
    op: &Operator<'m>,
    recent: &RecentTensors<'m>,
) -> Result<Requirements, ParseErrorKind> {
    check_with(registration(model, op.code)?, model, op, recent)
}

/// [`check_recent`] with the given registration.
fn check_with<'m>(
    registration: &Registration,
    model: &Model<'m>,
    op: &Operator<'m>,
    recent: &RecentTensors<'m>,
) -> Result<Requirements, ParseErrorKind> {
    if op.outputs.len() >= crate::arena::MAX_MUT {
        return Err(ParseErrorKind::UnsupportedOperands {
            op: op.name(),
            what: "more than 3 outputs",
        });
    }
    // Sparse-encoded tensors only where a sparse kernel reads them ([`reads_sparse`]).
    // (Without the encoding's metadata no tensor parses as sparse, so dense models skip the
    // look-ups.)
    let inputs = if model.declares_sparse_weights() {
        op.inputs
    } else {
        crate::flatbuf::Vector::empty()
    };
    for (k, t) in inputs.iter().enumerate() {
        let reads = reads_sparse(op.code, k)
            && t >= 0
            && reads_encoding(op.code, model.block_encoded(t as usize));
        if t >= 0 && !reads && model.kernel_tensor(t as usize).is_sparse {
            return Err(ParseErrorKind::SparseUse {
                tensor: t as usize,
                op: op.name(),
                input: k,
            });
        }
    }
    run_prepare(registration, model, op, DataWriter::measure(), &[], recent)
}

/// What a verified operator needs (zero for an operator whose `prepare` fails). Only its
/// `prepare` runs: the model's verification (`Model::parse`, or the build's) already made
/// [`check_recent`]'s other checks, whose code the arena-size path would otherwise link again.
pub(crate) fn requirements(model: &Model<'_>, op: &Operator<'_>) -> Requirements {
    position(model, op.code)
        .and_then(|(_, r)| {
            let recent = RecentTensors::new();
            run_prepare(r, model, op, DataWriter::measure(), &[], &recent).ok()
        })
        .unwrap_or_default()
}

/// Writes the operator's prepared data into `data` and returns what it needs; a `data_bytes`
/// larger than `data` means the data did not fit (and was not all written). Fills the
/// planner's `tensor_slots` of the tensors it reads ([`crate::arena::tensor_slot`]).
/// `registration` is the operator's (from [`lookup`]: looked up once by the caller).
pub(crate) fn prepare<'m>(
    registration: &Registration,
    model: &Model<'m>,
    op: &Operator<'m>,
    data: &mut [u8],
    tensor_slots: &[Cell<Slot>],
    recent: &RecentTensors<'m>,
) -> Result<Requirements, ParseErrorKind> {
    run_prepare(
        registration,
        model,
        op,
        DataWriter::into(data),
        tensor_slots,
        recent,
    )
}

/// Runs the operator's `prepare` writing (or, from [`DataWriter::measure`], only measuring)
/// its data: what [`check_recent`], [`requirements`] and [`prepare`] share.
fn run_prepare<'m>(
    registration: &Registration,
    model: &Model<'m>,
    op: &Operator<'m>,
    data: DataWriter<'_>,
    tensor_slots: &[Cell<Slot>],
    recent: &RecentTensors<'m>,
) -> Result<Requirements, ParseErrorKind> {
    let mut p = Prepare {
        model,
        op,
        op_name: registration.op_name,
        int8_only: registration.int8_only,
        data,
        scratch_bytes: 0,
        tensor_slots,
        recent,
    };
    (registration.prepare)(&mut p)?;
    Ok(p.requirements())
}

/// Runs operator `io.index` with the kernel `registration`.
#[inline(always)]
pub(crate) fn eval(
    registration: &Registration,
    io: &mut OpIo<'_>,
    data: &[u8],
) -> Result<(), Error> {
    (registration.eval)(io, &mut DataReader { buf: data, pos: 0 })
}

/// Context of an op's `prepare`: the model, the operator, and where its data goes.
pub(crate) struct Prepare<'p, 'm, 'd> {
    pub model: &'p Model<'m>,
    pub op: &'p Operator<'m>,
    /// The builtin's name (the registration's), what the errors name.
    op_name: &'static str,
    /// Set by an `_INT8` registration: see [`Prepare::require_int8`].
    int8_only: Option<&'static str>,
    pub data: DataWriter<'d>,
    pub scratch_bytes: usize,
    /// The planner's tensor slots, filled for each tensor read here so that the planner
    /// does not read it again (empty while `Model::parse` measures).
    tensor_slots: &'p [Cell<Slot>],
    /// The tensors read last: one read again (the previous operator's output) comes from
    /// here, its slot already filled.
    recent: &'p RecentTensors<'m>,
}

impl<'m> Prepare<'_, 'm, '_> {
    /// What the prepared operator needs: its data, then one place per tensor
    /// ([`places::count`]), and its scratch.
    fn requirements(&self) -> Requirements {
        let places_at = self.data.len.next_multiple_of(8);
        let n = places::count(
            self.op.inputs.len(),
            self.op.outputs.len(),
            self.scratch_bytes,
        );
        Requirements {
            data_bytes: places_at + n * core::mem::size_of::<Place>(),
            prepared_bytes: self.data.len,
            scratch_bytes: self.scratch_bytes,
        }
    }

    /// Tensor `t`, its planner slot filled on the way (kept in `recent`, or read and kept).
    /// Never inlined: every `input`/`output` call of every prepare inlined the look-up in
    /// `recent` (about 0.1 KB each), for a few dozen instructions of setup per call.
    #[inline(never)]
    fn tensor(&self, t: usize) -> Tensor<'m> {
        if let Some(kept) = self.recent.position(t).and_then(|k| self.recent.at(k)) {
            return kept;
        }
        let tensor = self.model.kernel_tensor_noted(t, self.tensor_slots.get(t));
        self.recent.put(tensor);
        tensor
    }

    /// An `UnsupportedOperands` error for this op.
    pub fn unsupported(&self, what: &'static str) -> ParseErrorKind {
        ParseErrorKind::UnsupportedOperands {
            op: self.op_name,
            what,
        }
    }

    /// An `InvalidOperands` error for this op.
    pub fn invalid(&self, what: &'static str) -> ParseErrorKind {
        ParseErrorKind::InvalidOperands {
            op: self.op_name,
            what,
        }
    }

    /// Refuses an operator that is not int8 (`is_int8` false) when the registration is an
    /// `_INT8` one: its eval does not link the other types' kernels.
    pub fn require_int8(&self, is_int8: bool) -> Result<(), ParseErrorKind> {
        match self.int8_only {
            Some(what) if !is_int8 => Err(self.unsupported(what)),
            _ => Ok(()),
        }
    }

    /// Required input `k`.
    pub fn input(&self, k: usize) -> Result<Tensor<'m>, ParseErrorKind> {
        self.op
            .input(k)
            .map(|t| self.tensor(t))
            .ok_or(self.invalid("a required input is missing"))
    }

    /// Optional input `k` (absent or -1 gives `None`).
    pub fn optional_input(&self, k: usize) -> Option<Tensor<'m>> {
        self.op.input(k).map(|t| self.tensor(t))
    }

    /// Required output `k`.
    pub fn output(&self, k: usize) -> Result<Tensor<'m>, ParseErrorKind> {
        self.op
            .output(k)
            .map(|t| self.tensor(t))
            .ok_or(self.invalid("a required output is missing"))
    }

    /// Checks the operator has between `min` and `max` inputs and exactly `outputs` outputs.
    /// Never inlined: one copy for every prepare.
    #[inline(never)]
    pub fn expect_io(&self, min: usize, max: usize, outputs: usize) -> Result<(), ParseErrorKind> {
        let n = self.op.inputs.len();
        if n < min || n > max {
            return Err(self.invalid("wrong number of inputs"));
        }
        if self.op.outputs.len() != outputs {
            return Err(self.invalid("wrong number of outputs"));
        }
        Ok(())
    }

    /// A constant input's data, or an error saying it must be constant.
    pub fn constant(&self, t: &Tensor<'m>, what: &'static str) -> Result<&'m [u8], ParseErrorKind> {
        t.data.ok_or(self.unsupported(what))
    }
}

/// Writes an op's prepared data, or only measures it when there is no buffer.
pub(crate) struct DataWriter<'d> {
    buf: Option<&'d mut [u8]>,
    pub len: usize,
}

impl<'d> DataWriter<'d> {
    fn measure() -> Self {
        DataWriter { buf: None, len: 0 }
    }

    fn into(buf: &'d mut [u8]) -> Self {
        DataWriter {
            buf: Some(buf),
            len: 0,
        }
    }

    /// Appends one value, aligned to its type (at least 4 bytes).
    pub fn put<T: Pod>(&mut self, value: T) {
        self.put_bytes(
            core::mem::align_of::<T>().max(4),
            bytemuck::bytes_of(&value),
        );
    }

    /// Appends `bytes` at the next multiple of `align` (a power of two). Never inlined: one
    /// copy for every header every prepare writes.
    #[inline(never)]
    fn put_bytes(&mut self, align: usize, bytes: &[u8]) {
        let start = (self.len + align - 1) & !(align - 1);
        let end = start + bytes.len();
        if let Some(dst) = self.buf.as_deref_mut().and_then(|b| b.get_mut(start..end)) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    /// Appends `n` values produced by `f`, as one array aligned to its type (at least 4 bytes;
    /// the blob itself starts 16-byte aligned).
    pub fn put_array<T: Pod>(&mut self, n: usize, mut f: impl FnMut(usize) -> T) {
        let size = core::mem::size_of::<T>();
        let start = align_to::<T>(self.len);
        if let Some(b) = self.buf.as_deref_mut() {
            for i in 0..n {
                if let Some(dst) = b.get_mut(start + i * size..start + (i + 1) * size) {
                    dst.copy_from_slice(bytemuck::bytes_of(&f(i)));
                }
            }
        }
        self.len = start + n * size;
    }

    /// Writes two arrays of `n` values in one pass over `f` (e.g. per-channel multipliers and
    /// shifts, which come from one computation).
    pub fn put_array_pair<A: Pod, B: Pod>(&mut self, n: usize, mut f: impl FnMut(usize) -> (A, B)) {
        let start_a = align_to::<A>(self.len);
        let start_b = align_to::<B>(start_a + n * core::mem::size_of::<A>());
        let (sa, sb) = (core::mem::size_of::<A>(), core::mem::size_of::<B>());
        if let Some(buf) = self.buf.as_deref_mut() {
            for i in 0..n {
                let (a, b) = f(i);
                if let Some(dst) = buf.get_mut(start_a + i * sa..start_a + (i + 1) * sa) {
                    dst.copy_from_slice(bytemuck::bytes_of(&a));
                }
                if let Some(dst) = buf.get_mut(start_b + i * sb..start_b + (i + 1) * sb) {
                    dst.copy_from_slice(bytemuck::bytes_of(&b));
                }
            }
        }
        self.len = start_b + n * sb;
    }

    /// Whether this pass writes (false while only measuring): lets `prepare` skip costly
    /// table computations when measuring.
    pub fn is_writing(&self) -> bool {
        self.buf.is_some()
    }
}

/// Reads an op's prepared data back, in the order it was written.
#[derive(Clone)]
pub(crate) struct DataReader<'d> {
    buf: &'d [u8],
    pos: usize,
}

impl<'d> DataReader<'d> {
    /// The next value.
    pub fn get<T: Pod>(&mut self) -> Result<T, Error> {
        self.get_ref().copied()
    }

    /// The next value, in place: a header or parameter block read without copying it (one
    /// bounds and alignment check, no slice length to index).
    pub fn get_ref<T: Pod>(&mut self) -> Result<&'d T, Error> {
        let start = align_to::<T>(self.pos);
        let end = start + core::mem::size_of::<T>();
        let value = self
            .buf
            .get(start..end)
            .and_then(|b| bytemuck::try_from_bytes(b).ok())
            .ok_or(DATA_ERROR)?;
        self.pos = end;
        Ok(value)
    }

    /// The next array of `n` values.
    pub fn array<T: Pod>(&mut self, n: usize) -> Result<&'d [T], Error> {
        let err = DATA_ERROR;
        let start = align_to::<T>(self.pos);
        let end = start + n * core::mem::size_of::<T>();
        let bytes = self.buf.get(start..end).ok_or(err)?;
        self.pos = end;
        bytemuck::try_cast_slice(bytes).map_err(|_| err)
    }
}

/// Prepared data that does not hold what `eval` reads (a bug: `prepare` wrote it).
const DATA_ERROR: Error = Error::Internal {
    operator: usize::MAX,
    what: "prepared data too short or misaligned",
};

/// Position `pos` rounded up to `T`'s alignment (at least 4).
fn align_to<T>(pos: usize) -> usize {
    let a = core::mem::align_of::<T>().max(4);
    (pos + a - 1) & !(a - 1)
}

/// Splits the state region at the variable inputs (placed by their rank, so sorted by
/// offset; each tagged with its position among them). Out of line: only the LSTM and SVDF
/// operators come here.
#[inline(never)]
fn carve_state<'b>(io: &mut OpIo<'b>, state: &'b mut [u8]) -> bool {
    let mut cuts = [Place::default(); crate::arena::MAX_MUT];
    let mut n = 0;
    for p in io.inputs {
        let Some(rank) = p.state_rank() else {
            continue;
        };
        if let Some(cut) = cuts.get_mut(rank) {
            *cut = p.with_tag(n);
        }
        n += 1;
    }
    let mut gaps = [&[][..]; crate::arena::MAX_MUT + 1];
    let muts = io.state.insert(Default::default());
    let cuts = cuts.get(..n as usize).unwrap_or_default();
    !cuts.is_empty() && places::carve(state, cuts, &mut gaps, muts)
}

/// The tensors of the operator being run: constant inputs from the model, activations from the
/// arena, outputs, scratch and state as disjoint mutable buffers, found through the places
/// `Interpreter::new` resolved ([`places`]).
pub(crate) struct OpIo<'b> {
    pub index: usize,
    model: &'b [u8],
    /// One place per input.
    inputs: &'b [Place],
    num_outputs: usize,
    /// The activations between the operator's mutable buffers, in offset order.
    gaps: [&'b [u8]; crate::arena::MAX_MUT + 1],
    /// The outputs, then the scratch buffer.
    muts: [Option<&'b mut [u8]>; crate::arena::MAX_MUT],
    /// The variable inputs, in input order; only for operators that have some (not built
    /// for the others: the array is as big as `muts`).
    state: Option<[Option<&'b mut [u8]>; crate::arena::MAX_MUT]>,
    valid: bool,
}

impl<'b> OpIo<'b> {
    /// Operator `index`'s view of its `inputs`' places, before [`OpIo::split`]. The struct
    /// is big and built for every operator: it is returned as a literal and split in place,
    /// so that it is never copied.
    #[inline(always)]
    pub(crate) fn new(
        index: usize,
        model: &'b [u8],
        inputs: &'b [Place],
        num_outputs: usize,
    ) -> OpIo<'b> {
        OpIo {
            index,
            model,
            inputs,
            num_outputs,
            gaps: [&[]; crate::arena::MAX_MUT + 1],
            muts: Default::default(),
            state: None,
            valid: false,
        }
    }

    /// Splits `act` at the operator's `cuts` (its outputs and scratch buffer, sorted by
    /// offset). An inconsistent plan (which a verified model never gives) makes `is_valid()`
    /// false.
    #[inline(always)]
    pub(crate) fn split(&mut self, cuts: &'b [Place], act: &'b mut [u8]) {
        self.valid = places::carve(act, cuts, &mut self.gaps, &mut self.muts);
    }

    /// Splits `state` at the variable inputs, for an operator that has some, with its
    /// registration's `hooks`.
    pub(crate) fn split_state(&mut self, state: &'b mut [u8], hooks: StateHooks) {
        self.valid &= (hooks.carve)(self, state);
    }

    /// Whether the regions were split as planned.
    #[inline(always)]
    pub(crate) fn is_valid(&self) -> bool {
        self.valid
    }

    pub fn internal(&self, what: &'static str) -> Error {
        Error::Internal {
            operator: self.index,
            what,
        }
    }

    /// Input `k`'s bytes; `None` when the optional input is absent.
    pub fn optional_input(&self, k: usize) -> Result<Option<&'b [u8]>, Error> {
        let Some(&p) = self.inputs.get(k) else {
            return Ok(None);
        };
        let bytes = match p.tag() {
            places::tag::ABSENT => return Ok(None),
            places::tag::CONSTANT => self.model.get(p.range()),
            t => self
                .gaps
                .get(t.wrapping_sub(places::tag::GAP) as usize)
                .and_then(|g| g.get(p.range())),
        };
        bytes.map(Some).ok_or(self.internal("input not readable"))
    }

    /// Input `k`'s bytes.
    pub fn input(&self, k: usize) -> Result<&'b [u8], Error> {
        self.optional_input(k)?
            .ok_or(self.internal("required input missing"))
    }

    /// Input `k` as elements of `T`.
    pub fn input_as<T: Pod>(&self, k: usize) -> Result<&'b [T], Error> {
        bytemuck::try_cast_slice(self.input(k)?).map_err(|_| self.internal("input misaligned"))
    }

    /// Optional input `k` as elements of `T`.
    pub fn optional_input_as<T: Pod>(&self, k: usize) -> Result<Option<&'b [T]>, Error> {
        match self.optional_input(k)? {
            Some(b) => bytemuck::try_cast_slice(b)
                .map(Some)
                .map_err(|_| self.internal("input misaligned")),
            None => Ok(None),
        }
    }

    /// Output `k`'s bytes (each output can be taken once per run).
    pub fn output(&mut self, k: usize) -> Result<&'b mut [u8], Error> {
        if k >= self.num_outputs {
            return Err(self.internal("no such output"));
        }
        self.muts
            .get_mut(k)
            .and_then(Option::take)
            .ok_or(self.internal("output taken twice"))
    }

    /// Output `k` as elements of `T`.
    pub fn output_as<T: Pod>(&mut self, k: usize) -> Result<&'b mut [T], Error> {
        let bytes = self.output(k)?;
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| self.internal("output misaligned"))
    }

    /// The operator's scratch buffer (planned like an activation, alive only while the
    /// operator runs; empty when its `prepare` asked for none).
    pub fn scratch(&mut self) -> Result<&'b mut [u8], Error> {
        let scratch = self.muts.get_mut(self.num_outputs).and_then(Option::take);
        Ok(scratch.unwrap_or_default())
    }

    /// The operator's scratch buffer reinterpreted as `T`; an error when `prepare` asked for
    /// none.
    pub fn scratch_as<T: Pod>(&mut self) -> Result<&'b mut [T], Error> {
        let bytes = self.scratch()?;
        if bytes.is_empty() {
            return Err(self.internal("no scratch buffer"));
        }
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| self.internal("scratch misaligned"))
    }

    /// Variable input `k` (state kept across invokes), writable.
    pub fn state_as<T: Pod>(&mut self, k: usize) -> Result<&'b mut [T], Error> {
        let is_state = |p: &Place| p.state_rank().is_some();
        if !self.inputs.get(k).is_some_and(is_state) {
            return Err(self.internal("input is not a variable tensor"));
        }
        let position = self.inputs.iter().take(k).filter(|p| is_state(p)).count();
        let bytes = self
            .state
            .as_mut()
            .and_then(|s| s.get_mut(position)?.take())
            .ok_or(self.internal("state taken twice"))?;
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| self.internal("state misaligned"))
    }
}

/// The fused activation of an options table field.
pub(crate) fn fused_activation(
    p: &Prepare<'_, '_, '_>,
    field: u16,
) -> Result<crate::types::Activation, ParseErrorKind> {
    let code = p.op.option::<i8>(field, 0)?;
    crate::types::Activation::from_schema(code)
        .ok_or(p.unsupported("fused activation other than NONE, RELU, RELU_N1_TO_1, RELU6"))
}

/// The value range of a quantized element type.
pub(crate) fn qrange(dtype: crate::types::DType) -> (i32, i32) {
    match dtype {
        crate::types::DType::I8 => (i8::MIN as i32, i8::MAX as i32),
        crate::types::DType::I16 => (i16::MIN as i32, i16::MAX as i32),
        crate::types::DType::U8 => (0, 255),
        _ => (i32::MIN, i32::MAX),
    }
}

/// Maps a kernel's shape error (verification makes it unreachable) to an internal error.
pub(crate) fn kernel_result(
    io: &OpIo<'_>,
    r: Result<(), crate::kernels::conv::KernelError>,
) -> Result<(), Error> {
    r.map_err(|_| io.internal("kernel rejected the shapes"))
}

/// Most entries read from a constant index tensor (perm, paddings, begin/end/strides, axes).
pub(crate) const MAX_INDEX_VALUES: usize = 16;

/// A small constant int32/int64 tensor (index data) as i32 values.
pub(crate) fn constant_ints<'m>(
    p: &Prepare<'_, 'm, '_>,
    t: &Tensor<'m>,
    what: &'static str,
) -> Result<([i32; MAX_INDEX_VALUES], usize), ParseErrorKind> {
    let data = p.constant(t, what)?;
    let n = t.shape.num_elements();
    if n > MAX_INDEX_VALUES {
        return Err(p.unsupported("index tensor with more than 16 values"));
    }
    let mut out = [0i32; MAX_INDEX_VALUES];
    for (i, o) in out.iter_mut().enumerate().take(n) {
        *o = match t.dtype {
            crate::types::DType::I32 => read_i32(data, 4 * i).map_err(|_| p.invalid(what))?,
            crate::types::DType::I64 => {
                let b = data.get(8 * i..8 * i + 8).ok_or(p.invalid(what))?;
                let v = i64::from_le_bytes(b.try_into().map_err(|_| p.invalid(what))?);
                i32::try_from(v).map_err(|_| p.invalid(what))?
            }
            _ => return Err(p.unsupported("index tensor that is not int32 or int64")),
        };
    }
    Ok((out, n))
}

/// The dimensions of a tensor as a fixed array plus rank.
pub(crate) fn dims_of(t: &Tensor<'_>) -> ([usize; crate::model::MAX_RANK], usize) {
    let mut d = [1usize; crate::model::MAX_RANK];
    for (o, x) in d.iter_mut().zip(t.shape.dims()) {
        *o = x;
    }
    (d, t.shape.rank())
}

/// Runs `$body` with `$T` bound to an unsigned integer type of `$size` bytes: data-movement
/// kernels only copy elements, so the element's meaning does not matter.
macro_rules! with_element_size {
    ($io:expr, $size:expr, $T:ident => $body:expr) => {
        match $size {
            1 => {
                type $T = u8;
                $body
            }
            2 => {
                type $T = u16;
                $body
            }
            4 => {
                type $T = u32;
                $body
            }
            8 => {
                type $T = u64;
                $body
            }
            _ => return Err($io.internal("element size")),
        }
    };
}
pub(crate) use with_element_size;

/// Checks two tensors have the same quantization (scale and zero point), as copying ops need.
pub(crate) fn same_quantization(a: &Tensor<'_>, b: &Tensor<'_>) -> bool {
    a.quantization.scale() == b.quantization.scale()
        && a.quantization.zero_point() == b.quantization.zero_point()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitmap of supported codes agrees with the registrations, past both ends too.
    #[test]
    fn is_supported_agrees_with_by_code() {
        for code in -300..600 {
            assert_eq!(is_supported(code), by_code(code).is_some(), "code {code}");
        }
        assert!(is_supported(op::FULLY_CONNECTED) && !is_supported(op::CUSTOM));
    }

    /// What `DataWriter` wrote, `DataReader` reads back in order, in place or copied, each
    /// value at its alignment; data too short or not aligned is an error, never a panic.
    #[test]
    fn prepared_data_round_trip_and_bad_blobs() {
        let mut words = [0u64; 8];
        let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        let mut w = DataWriter::into(buf);
        w.put(7u32);
        w.put([1.5f64, -2.0]);
        w.put_array(3, |i| i as i32 - 1);
        assert_eq!(w.len, 36, "u32 at 0, [f64; 2] at 8, [i32; 3] at 24");
        let len = w.len;
        let blob: &[u8] = &bytemuck::cast_slice(&words)[..len];
        let mut r = DataReader { buf: blob, pos: 0 };
        assert_eq!(*r.get_ref::<u32>().unwrap(), 7);
        assert_eq!(r.get::<[f64; 2]>().unwrap(), [1.5, -2.0]);
        assert_eq!(r.array::<i32>(3).unwrap(), &[-1, 0, 1]);
        assert!(r.get_ref::<u32>().is_err(), "past the end");
        let mut short = DataReader {
            buf: &blob[..12],
            pos: 0,
        };
        assert_eq!(short.get::<u32>().unwrap(), 7);
        assert!(short.get_ref::<[f64; 2]>().is_err(), "12 of 24 bytes");
        let mut misaligned = DataReader {
            buf: &blob[4..],
            pos: 0,
        };
        assert!(
            misaligned.get_ref::<f64>().is_err(),
            "an f64 at an address 4 mod 8"
        );
    }
}

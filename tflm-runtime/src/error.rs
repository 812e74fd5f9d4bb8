//! Errors: every one says what is wrong and where (which tensor, operator, buffer...).

use crate::flatbuf::Malformed;
use crate::sparse::SparseError;
use crate::types::DType;
use core::fmt;

/// The part of the model an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (header, root table).
    File,
    /// The root `Model` table.
    Model,
    OperatorCode(usize),
    Subgraph(usize),
    Buffer(usize),
    Tensor(usize),
    Operator(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One formatting call for the indexed places (each `write!` costs its own code).
        let (what, i) = match *self {
            Location::File => return f.write_str("model file"),
            Location::Model => return f.write_str("model table"),
            Location::OperatorCode(i) => ("operator code", i),
            Location::Subgraph(i) => ("subgraph", i),
            Location::Buffer(i) => ("buffer", i),
            Location::Tensor(i) => ("tensor", i),
            Location::Operator(i) => ("operator", i),
        };
        write!(f, "{what} {i}")
    }
}

/// What is wrong with a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParseErrorKind {
    /// Fewer bytes than a header.
    TooShort { len: usize },
    /// The file identifier is not `TFL3`.
    BadIdentifier { found: [u8; 4] },
    /// Schema version other than 3.
    UnsupportedVersion { version: u32 },
    /// A structural problem in the FlatBuffer encoding.
    Malformed {
        field: &'static str,
        problem: Malformed,
    },
    /// A field the runtime needs is absent.
    Missing { field: &'static str },
    /// An index (tensor, buffer, opcode) points past the end of its table.
    IndexOutOfRange {
        what: &'static str,
        /// The index as the model holds it (an `i32` or `u32` field).
        index: i64,
        count: usize,
    },
    /// A tensor element type the runtime cannot hold (string, complex, sub-byte...).
    UnsupportedTensorType { code: i8 },
    /// A negative or overflowing shape.
    BadShape,
    /// A constant buffer whose size does not match shape x element size.
    BufferSizeMismatch { expected: usize, found: usize },
    /// A constant buffer not aligned to its element size in memory (the model bytes must be
    /// placed at a 16-byte aligned address, as the generated statics are).
    Misaligned { align: usize },
    /// An operator code this runtime has no kernel for.
    UnsupportedOperator { code: i32, name: &'static str },
    /// A supported operator missing from the list the model was parsed with
    /// (`Model::parse_with`): add `tflm_runtime::ops::<name>` to it.
    NotRegistered { code: i32, name: &'static str },
    /// A custom operator (no kernels for custom ops).
    CustomOperator,
    /// A supported operator with an unsupported combination (types, options, ranks...).
    UnsupportedOperands {
        op: &'static str,
        what: &'static str,
    },
    /// Operands that contradict each other (shapes that do not fit, missing tensors...).
    InvalidOperands {
        op: &'static str,
        what: &'static str,
    },
    /// A graph-level inconsistency: a tensor read before it is written, written twice, ...
    InvalidGraph { what: &'static str },
    /// Weights in tflm-rs's sparse encoding that fail its verification (`crate::sparse`).
    SparseWeights(SparseWeightsError),
    /// A tensor with `SparsityParameters` this runtime cannot read: TFLite's own sparse format,
    /// or tflm-rs's encoding on a tensor or model that cannot carry it.
    UnsupportedSparsity { what: &'static str },
    /// A sparse-encoded `tensor` read as input `input` of an `op` whose kernel cannot read
    /// the encoding.
    SparseUse {
        tensor: usize,
        op: &'static str,
        input: usize,
    },
    /// More tensors or operators than the planner's fixed tables hold.
    TooLarge {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

/// A [`SparseError`] and the function that writes its message.
///
/// The message is written through a pointer set where the error is built: only the sparse
/// verification builds it, and only the sparse registrations link that, so a firmware without
/// sparse kernels links none of the sparse encodings' messages (their `Display` and text,
/// about 1 KB), which a direct call from [`ParseErrorKind`]'s `Display` would link into every
/// firmware that prints an error.
#[derive(Clone, Copy)]
pub struct SparseWeightsError {
    pub error: SparseError,
    describe: fn(&SparseError, &mut fmt::Formatter<'_>) -> fmt::Result,
}

impl SparseWeightsError {
    pub(crate) fn new(error: SparseError) -> Self {
        SparseWeightsError {
            error,
            describe: <SparseError as fmt::Display>::fmt,
        }
    }
}

impl From<SparseError> for SparseWeightsError {
    fn from(error: SparseError) -> Self {
        SparseWeightsError::new(error)
    }
}

impl PartialEq for SparseWeightsError {
    fn eq(&self, other: &Self) -> bool {
        self.error == other.error
    }
}

impl fmt::Debug for SparseWeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for SparseWeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.describe)(&self.error, f)
    }
}

/// A model that failed verification: what and where.
#[derive(Clone, Copy)]
pub struct ParseError {
    pub location: Location,
    pub kind: ParseErrorKind,
    /// Writes the message ([`ParseError::describe`]): set where the error is built, so that
    /// a firmware that builds no parse error (one opening its model with
    /// `Model::from_build_verified`) links none of the messages, although it prints
    /// `Error`s, whose `Parse` arm calls this.
    describe: fn(&ParseError, &mut fmt::Formatter<'_>) -> fmt::Result,
}

impl ParseError {
    pub(crate) const fn new(location: Location, kind: ParseErrorKind) -> Self {
        ParseError {
            location,
            kind,
            describe: Self::describe,
        }
    }

    /// The message: where, then what.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.kind)
    }
}

impl PartialEq for ParseError {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location && self.kind == other.kind
    }
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("location", &self.location)
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseErrorKind::TooShort { len } => {
                write!(f, "only {len} bytes, too short for a TFLite model")
            }
            ParseErrorKind::BadIdentifier { found } => {
                f.write_str("file identifier is \"")?;
                write_escaped(f, &found)?;
                f.write_str("\", expected \"TFL3\" (not a TFLite flatbuffer)")
            }
            ParseErrorKind::UnsupportedVersion { version } => {
                write!(f, "schema version {version}, only version 3 is supported")
            }
            ParseErrorKind::Malformed { field, problem } => {
                let what = match problem {
                    Malformed::OutOfBounds => "points outside the model bytes",
                    Malformed::BadVtable => "has a corrupt vtable",
                    Malformed::FieldOutsideTable => "lies outside its table",
                    Malformed::BadUtf8 => "is not valid UTF-8",
                };
                write!(f, "field `{field}` {what} (corrupt or truncated model)")
            }
            ParseErrorKind::Missing { field } => write!(f, "required field `{field}` is missing"),
            ParseErrorKind::IndexOutOfRange { what, index, count } => {
                // A sign and a `u32` magnitude: every index comes from an `i32` or `u32` field
                // of the model, and `i64`'s own `Display` would add 0.3 KB to every firmware.
                let sign = if index < 0 { "-" } else { "" };
                let magnitude = index.unsigned_abs() as u32;
                write!(
                    f,
                    "{what} index {sign}{magnitude} is out of range (there are {count})"
                )
            }
            ParseErrorKind::UnsupportedTensorType { code } => {
                write!(f, "tensor type {code} is not supported")
            }
            ParseErrorKind::BadShape => f.write_str("shape has a negative or overflowing dimension"),
            ParseErrorKind::BufferSizeMismatch { expected, found } => write!(
                f,
                "constant data has {found} bytes but the shape and type need {expected}"
            ),
            ParseErrorKind::Misaligned { align } => write!(
                f,
                "constant data is not {align}-byte aligned in memory: place the model bytes at a 16-byte aligned address"
            ),
            // "?": a code the schema does not define, or (firmware builds, without the `std`
            // feature) one whose name the runtime does not carry (`schema::op_name`).
            ParseErrorKind::UnsupportedOperator { code, name: "?" } => {
                write!(f, "operator of builtin code {code} not supported")
            }
            ParseErrorKind::UnsupportedOperator { code, name } => {
                write!(f, "{name} (builtin code {code}) not supported")
            }
            ParseErrorKind::NotRegistered { code, name } => write!(
                f,
                "{name} (builtin code {code}) is not in the operator list the model was parsed \
                 with (add tflm_runtime::ops::{name})"
            ),
            ParseErrorKind::CustomOperator => f.write_str("custom operators are not supported"),
            ParseErrorKind::SparseWeights(e) => fmt::Display::fmt(&e, f),
            ParseErrorKind::UnsupportedSparsity { what } => {
                write!(f, "sparse tensor not supported: {what}")
            }
            ParseErrorKind::SparseUse { tensor, op, input } => write!(
                f,
                "tensor {tensor} is sparse-encoded, but {op} cannot read it as input {input} (only \
                 FULLY_CONNECTED input 1, CONV_2D input 1 in 1x4 blocks and the int8 \
                 UNIDIRECTIONAL_SEQUENCE_LSTM's inputs 1-8 in the row bitmask can)"
            ),
            ParseErrorKind::UnsupportedOperands { op, what } => {
                write!(f, "{op}: unsupported: {what}")
            }
            ParseErrorKind::InvalidOperands { op, what } => write!(f, "{op}: invalid: {what}"),
            ParseErrorKind::InvalidGraph { what } => write!(f, "invalid graph: {what}"),
            ParseErrorKind::TooLarge { what, count, max } => {
                write!(f, "{count} {what}, this runtime supports at most {max}")
            }
        }
    }
}

/// `bytes` with printable ASCII as is and every other byte (and `"` and `\`) as `\xNN`: a few
/// instructions, where `escape_ascii`'s `Display` took 0.35 KB of every firmware for the one
/// message that prints bytes (a file that is not a TFLite model).
#[inline(never)]
fn write_escaped(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Opaque length: a known one (4) had the loop unrolled, 0.1 KB a byte.
    for &b in core::hint::black_box(bytes) {
        let plain = (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
        let escaped = [
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 15)],
        ];
        let piece = if plain { &[b][..] } else { &escaped[..] };
        // ASCII either way, so never the "?".
        f.write_str(core::str::from_utf8(piece).unwrap_or("?"))?;
    }
    Ok(())
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.describe)(self, f)
    }
}

/// Bytes given to [`crate::Model::from_build_verified`] that are not a model the build
/// verified (erased or corrupt flash, or bytes from elsewhere); [`crate::Model::parse`] says
/// what is wrong with them. It carries no detail, so that a firmware opening its model this
/// way links none of the verifier's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptModel;

impl fmt::Display for CorruptModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the model bytes are not those the build verified (Model::parse says why)")
    }
}

/// An error from the interpreter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Error {
    /// The model failed verification.
    Parse(ParseError),
    /// A build-verified model's bytes broke an invariant of its verification.
    Corrupt(CorruptModel),
    /// The arena cannot hold the plan.
    ArenaTooSmall { needed: usize, available: usize },
    /// `input(i)` / `output(i)` past the model's inputs or outputs.
    NoSuchTensor {
        what: &'static str,
        index: usize,
        count: usize,
    },
    /// A typed accessor used with the wrong element type.
    TypeMismatch {
        tensor: usize,
        expected: DType,
        requested: DType,
    },
    /// A kernel met something verification should have excluded (a bug: please report).
    Internal { operator: usize, what: &'static str },
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}

impl From<CorruptModel> for Error {
    fn from(e: CorruptModel) -> Self {
        Error::Corrupt(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Parse(e) => e.fmt(f),
            Error::Corrupt(e) => e.fmt(f),
            Error::ArenaTooSmall { needed, available } => write!(
                f,
                "arena too small: the model needs {needed} bytes, the arena has {available}"
            ),
            Error::NoSuchTensor { what, index, count } => {
                write!(f, "no {what} {index}: the model has {count}")
            }
            Error::TypeMismatch {
                tensor,
                expected,
                requested,
            } => write!(f, "tensor {tensor} holds {expected}, not {requested}"),
            Error::Internal { operator, what } => {
                write!(f, "operator {operator}: internal error: {what}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseError {}
#[cfg(feature = "std")]
impl std::error::Error for Error {}
#[cfg(feature = "std")]
impl std::error::Error for CorruptModel {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    /// Bytes that are not printable ASCII, and the quote and backslash, are written as `\xNN`.
    #[test]
    fn bad_identifier_escapes_unprintable_bytes() {
        let kind = ParseErrorKind::BadIdentifier {
            found: [b'A', 0, b'"', 0xff],
        };
        assert_eq!(
            kind.to_string(),
            "file identifier is \"A\\x00\\x22\\xff\", expected \"TFL3\" (not a TFLite flatbuffer)"
        );
    }

    /// Negative `i32` indices and `u32` ones past `i32::MAX` print as the model holds them.
    #[test]
    fn index_out_of_range_prints_signed_and_large_indices() {
        let message = |index| {
            ParseErrorKind::IndexOutOfRange {
                what: "tensor",
                index,
                count: 7,
            }
            .to_string()
        };
        assert_eq!(message(-2), "tensor index -2 is out of range (there are 7)");
        assert_eq!(
            message(i32::MIN.into()),
            "tensor index -2147483648 is out of range (there are 7)"
        );
        assert_eq!(
            message(u32::MAX.into()),
            "tensor index 4294967295 is out of range (there are 7)"
        );
    }

    /// The sparse error's message reaches `ParseError`'s `Display`, unchanged, through the
    /// pointer its constructor sets.
    #[test]
    fn sparse_weights_error_writes_the_sparse_message() {
        let inner = SparseError::TrailingBytes { extra: 3 };
        let kind = ParseErrorKind::SparseWeights(inner.into());
        assert_eq!(
            kind.to_string(),
            "sparse weights: 3 bytes after the last row"
        );
        let e = ParseError::new(Location::Tensor(4), kind);
        assert_eq!(
            e.to_string(),
            "tensor 4: sparse weights: 3 bytes after the last row"
        );
        assert_eq!(
            kind,
            ParseErrorKind::SparseWeights(SparseWeightsError::new(inner))
        );
        assert_ne!(
            kind,
            ParseErrorKind::SparseWeights(SparseError::TooLarge.into())
        );
        assert_eq!(
            std::format!("{kind:?}"),
            "SparseWeights(TrailingBytes { extra: 3 })"
        );
    }
}

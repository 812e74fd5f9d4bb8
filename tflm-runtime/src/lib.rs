//! `tflm-runtime`: runs TensorFlow Lite flatbuffers on microcontrollers and, with the same
//! bits, on the host. `no_std`, no heap: the caller owns the model bytes and the arena.
//!
//! ```ignore
//! // verifies everything, once; links only these kernels (`Model::parse`: all of them)
//! let model = Model::parse_with(MODEL_BYTES, &[ops::FULLY_CONNECTED, ops::SOFTMAX])?;
//! let mut arena = [0u8; ARENA_SIZE];                // exact: model.arena_size()
//! let mut interpreter = Interpreter::new(&model, &mut arena)?;
//! interpreter.input::<i8>(0)?.copy_from_slice(&features);
//! interpreter.invoke()?;
//! let scores = interpreter.output::<i8>(0)?;
//! ```
//!
//! Bytes that the firmware's own build verified with `Model::parse_with` and the same list
//! (`include_quantized_model!`, a build script) open without the verifier:
//! `Model::from_build_verified(MODEL_BYTES, OPS)?` (about half the setup, no verifier code
//! linked; correct only for those bytes, memory-safe for any).
#![no_std]
// `deny`, not `forbid`: kernels::dsp alone may opt out, for its one-instruction `asm!` blocks.
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod aligned;
mod arena;
pub mod block_sparse;
pub mod error;
pub mod flatbuf;
mod interpreter;
pub mod io;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod quant;
mod rolled;
pub mod schema;
pub mod sparse;
pub mod types;

pub use aligned::Aligned16;
pub use arena::Layout;
pub use error::{CorruptModel, Error, Location, ParseError, ParseErrorKind};
pub use interpreter::{Interpreter, Observation};
pub use model::{Model, Operator, Quantization, Shape, Tensor};
pub use types::{Activation, DType, Element, Padding};

//! `tflm-runtime`: runs TensorFlow Lite flatbuffers on microcontrollers and, with the same
//! bits, on the host. `no_std`, no heap: the caller owns the model bytes and the arena.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod kernels;
pub mod quant;
pub mod types;

pub use types::{Activation, DType, Element, Padding};

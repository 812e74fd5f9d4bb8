//! `tflm`: the host side of tflm-rs: model inspection, running models on the host runtime
//! (bit-exact with the MCU), and, next, conversion from ONNX.

pub mod build_cache;
pub mod calibrate;
pub mod codegen;
pub mod dataset;
pub mod evaluate;
pub mod export;
pub mod fixtures;
pub mod inspect;
pub mod io_codec;
pub mod ir;
pub mod onnx_import;
pub mod pipeline;
pub mod plot;
pub mod prune;
pub mod qemu;
pub mod quantize;
pub mod report;
pub mod run;
pub mod sparse;
pub mod specs;
pub mod tflite_import;
pub mod tflite_writer;
pub mod train;

pub use tflm_runtime as runtime;

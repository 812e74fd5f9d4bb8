//! Converts models/digits (int8, float I/O) into OUT_DIR: `digits.tflite` and
//! `digits_model.rs`. `write_rust` prints `cargo:rerun-if-changed` for the model, specs.json
//! and the dataset, so only changes to them rerun this script.
use tflm::pipeline::Pipeline;
use tflm::quantize::{IoKind, Mode};

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let result = Pipeline::from_dir("../../models/digits")
        .quant(Mode::Int8)
        .io(IoKind::Float32)
        .write_rust(&out_dir);
    if let Err(e) = result {
        // The library's message names the file, line or operator at fault.
        eprintln!("error: converting models/digits: {e}");
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed=build.rs");
}

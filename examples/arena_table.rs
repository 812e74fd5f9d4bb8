//! The arena each peer model needs on tflm-rs (`Model::arena_size`, with its breakdown from
//! `Model::layout`) next to TensorFlow Lite Micro's arenas: the size its examples configure and
//! the bytes its interpreter actually uses (`arena_used_bytes()`, issue 3's measurement under
//! QEMU, reference kernels). Prints a Markdown table (docs/performance.md, "## Arena").
//!
//! `cargo run --release --example arena_table` (peer models from `../shared/peer-models`, or
//! `$TFLM_PEER_MODELS`).

use std::path::PathBuf;
use tflm::run::{arena, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

/// Model stem, TFLite Micro's configured arena, TFLite Micro's used arena (bytes).
const MODELS: [(&str, Option<usize>, Option<usize>); 7] = [
    // examples/hello_world: kTensorArenaSize = 3000.
    ("hello_world_int8", Some(3000), Some(676)),
    ("hello_world_float", Some(3000), None),
    // examples/micro_speech: kTensorArenaSize = 28584.
    ("micro_speech_quantized", Some(28_584), Some(6_788)),
    // examples/person_detection: kTensorArenaSize = 136 * 1024.
    ("person_detect", Some(139_264), Some(82_292)),
    ("keyword_scrambled", None, None),
    ("simple_add_model", None, None),
    ("trained_lstm_int8", None, None),
];

fn fmt(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt(n: Option<usize>) -> String {
    n.map(fmt).unwrap_or_else(|| "—".into())
}

fn main() {
    let dir = std::env::var_os("TFLM_PEER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-models"));
    if !dir.join("hello_world_int8.tflite").exists() {
        eprintln!(
            "SKIP: peer models not found at {} (set TFLM_PEER_MODELS to the folder)",
            dir.display()
        );
        return;
    }
    println!(
        "| model | tensors / ops | tflm-rs arena | slots | op table | op data | state | \
         activations | TFLM used | TFLM configured |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, configured, tflm_used) in MODELS {
        let path = dir.join(format!("{name}.tflite"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => AlignedBytes::new(&b),
            Err(e) => {
                eprintln!("SKIP {name}: {}: {e}", path.display());
                continue;
            }
        };
        let model = Model::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let layout = model.layout();
        let size = model.arena_size();
        assert_eq!(size, layout.total);
        // The figure is exact: the interpreter accepts exactly this many bytes, and not one less.
        let mut mem = arena(size);
        let interpreter = Interpreter::new(&model, mem.as_mut_slice())
            .unwrap_or_else(|e| panic!("{name}: arena_size() bytes refused: {e}"));
        assert_eq!(interpreter.arena_used(), size);
        let mut short = arena(size - 1);
        assert!(
            Interpreter::new(&model, short.as_mut_slice()).is_err(),
            "{name}: {} bytes accepted",
            size - 1
        );
        println!(
            "| {name} | {} / {} | **{}** | {} | {} | {} | {} | {} | {} | {} |",
            model.num_tensors(),
            model.num_operators(),
            fmt(size),
            fmt(layout.slots),
            fmt(layout.op_table),
            fmt(layout.op_data),
            fmt(layout.state),
            fmt(layout.activations),
            opt(tflm_used),
            opt(configured),
        );
    }
}

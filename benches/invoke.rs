//! Host benchmarks of the runtime on the peer models (`../shared/peer-models`, or
//! `$TFLM_PEER_MODELS`): `Interpreter::invoke` with the input of each model's first
//! `.ref.jsonl` line, and setup (`Model::parse` + `Interpreter::new`), also split into its parts
//! (`parse`, `new`, `arena_size`) so that a setup hot spot shows where it is.
//!
//! `cargo bench --bench invoke`; figures and method in docs/performance.md. Without the peer
//! models the bench says so and measures nothing.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Duration;
use tflm::fixtures::read_cases;
use tflm::run::{arena, set_inputs, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

/// The peer models benchmarked, by file stem (`NAME.tflite`, `NAME.ref.jsonl`).
const MODELS: [&str; 6] = [
    "hello_world_int8",
    "hello_world_float",
    "micro_speech_quantized",
    "person_detect",
    "keyword_scrambled",
    "simple_add_model",
];

fn peer_models() -> Option<PathBuf> {
    let dir = std::env::var_os("TFLM_PEER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-models"));
    if dir.join("hello_world_int8.tflite").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: peer models not found at {} (set TFLM_PEER_MODELS to the folder); \
             nothing benchmarked",
            dir.display()
        );
        None
    }
}

fn benches(c: &mut Criterion) {
    let Some(dir) = peer_models() else { return };
    for name in MODELS {
        let bytes = match std::fs::read(dir.join(format!("{name}.tflite"))) {
            Ok(b) => AlignedBytes::new(&b),
            Err(e) => {
                eprintln!("SKIP {name}: {e}");
                continue;
            }
        };
        let cases = read_cases(&dir.join(format!("{name}.ref.jsonl")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let input = &cases
            .first()
            .unwrap_or_else(|| panic!("{name}: no cases"))
            .inputs;
        let model = Model::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut mem = arena(model.arena_size());

        let mut group = c.benchmark_group(name);
        group.bench_function("invoke", |b| {
            let mut interpreter = Interpreter::new(&model, mem.as_mut_slice()).unwrap();
            set_inputs(&mut interpreter, input).unwrap();
            b.iter(|| interpreter.invoke().unwrap());
        });
        group.bench_function("setup", |b| {
            b.iter(|| {
                let model = Model::parse(black_box(bytes.as_slice())).unwrap();
                let interpreter = Interpreter::new(&model, mem.as_mut_slice()).unwrap();
                black_box(interpreter.arena_used());
            })
        });
        group.bench_function("parse", |b| {
            b.iter(|| black_box(Model::parse(black_box(bytes.as_slice())).unwrap()))
        });
        group.bench_function("new", |b| {
            b.iter(|| {
                let interpreter = Interpreter::new(black_box(&model), mem.as_mut_slice()).unwrap();
                black_box(interpreter.arena_used());
            })
        });
        group.bench_function("arena_size", |b| {
            b.iter(|| black_box(black_box(&model).arena_size()))
        });
        group.finish();
    }
}

criterion_group! {
    name = invoke;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(invoke);

//! Every single-op model of tflm-runtime/tests/fixtures/ops (made and run in LiteRT's reference
//! kernels by tools/gen_op_fixtures.py) must give LiteRT's outputs: integers bit for bit. The
//! int16x8 LSTMs of tflm-runtime/tests/fixtures/tflm (tools/gen_tflm_fixtures.py) must give
//! TensorFlow Lite Micro's, its interpreter being the only one with that kernel.

mod common;

use common::{compare, op_fixtures};
use std::path::Path;
use tflm::fixtures::read_cases;
use tflm::run::{outputs, set_inputs, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

fn run_fixture(
    dir: &Path,
    model_file: &str,
    fixture: &str,
    reset_each: bool,
) -> Result<(), String> {
    let bytes = AlignedBytes::new(&std::fs::read(dir.join(model_file)).map_err(|e| e.to_string())?);
    let model = Model::parse(bytes.as_slice()).map_err(|e| format!("parse: {e}"))?;
    let cases = read_cases(&dir.join(fixture)).map_err(|e| e.to_string())?;
    let mut arena = tflm::run::arena(model.arena_size());
    let mut interpreter =
        Interpreter::new(&model, arena.as_mut_slice()).map_err(|e| e.to_string())?;
    for case in &cases {
        if reset_each {
            interpreter.reset_state();
        }
        set_inputs(&mut interpreter, &case.inputs)?;
        interpreter.invoke().map_err(|e| e.to_string())?;
        for (k, (g, e)) in outputs(&interpreter)?.iter().zip(&case.outputs).enumerate() {
            compare(&format!("line {} output {k}", case.line), g, e, 1e-5)?;
        }
    }
    Ok(())
}

#[test]
fn every_op_fixture_matches_litert() {
    check_manifest(&op_fixtures(), 100);
}

#[test]
fn every_int16x8_lstm_fixture_matches_tflite_micro() {
    check_manifest(&op_fixtures().with_file_name("tflm"), 3);
}

/// Runs every case of `dir/MANIFEST.json` (there must be more than `min_cases`), both fixture
/// files of a stateful one.
fn check_manifest(dir: &Path, min_cases: usize) {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() > min_cases);
    let filter = std::env::var("TFLM_OP_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        if !name.contains(&filter) {
            continue;
        }
        ran += 1;
        let model = format!("{name}.tflite");
        if let Err(e) = run_fixture(dir, &model, &format!("{name}.ref.jsonl"), true) {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        if case["stateful"].as_bool() == Some(true) {
            if let Err(e) = run_fixture(dir, &model, &format!("{name}.seq.ref.jsonl"), false) {
                failures.push(format!("{name} (state carried over): {e}"));
            }
        }
    }
    if ran == 0 && !filter.is_empty() {
        eprintln!(
            "{}: no case matches TFLM_OP_FILTER={filter:?}",
            dir.display()
        );
        return;
    }
    assert!(ran > 0, "{}: no cases", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {ran} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

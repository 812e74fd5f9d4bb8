//! Every single-op model of tflm-runtime/tests/fixtures/ops (made and run in LiteRT's reference
//! kernels by tools/gen_op_fixtures.py) must give LiteRT's outputs: integers bit for bit. The
//! int16x8 LSTMs of tflm-runtime/tests/fixtures/tflm (tools/gen_tflm_fixtures.py) must give
//! TensorFlow Lite Micro's, its interpreter being the only one with that kernel.

mod common;

use common::{compare, op_fixtures};
use std::path::Path;
use tflm::fixtures::read_cases;
use tflm::run::{outputs, set_inputs, AlignedBytes};
use tflm_runtime::{ops, Interpreter, Model};

fn run_fixture(
    dir: &Path,
    model_file: &str,
    fixture: &str,
    reset_each: bool,
) -> Result<(), String> {
    let bytes = AlignedBytes::new(&std::fs::read(dir.join(model_file)).map_err(|e| e.to_string())?);
    let all = Model::parse(bytes.as_slice()).map_err(|e| format!("parse: {e}"))?;
    // Also with the narrowest registrations, what a firmware lists (`ops::registration_for`):
    // the per-type and per-shape ones (`CONV_2D_POINTWISE_INT8`, ...) must run their
    // operators as the full ones do.
    let narrow: Vec<ops::Registration> = (0..all.num_operators())
        .filter_map(|i| ops::registration_for(&all, all.operator(i).code))
        .collect();
    let narrowest = Model::parse_with(bytes.as_slice(), &narrow)
        .map_err(|e| format!("parse with {narrow:?}: {e}"))?;
    for model in [all, narrowest] {
        run_cases(dir, &model, fixture, reset_each)?;
    }
    Ok(())
}

/// The cases of `fixture` through `model`.
fn run_cases(dir: &Path, model: &Model<'_>, fixture: &str, reset_each: bool) -> Result<(), String> {
    let cases = read_cases(&dir.join(fixture)).map_err(|e| e.to_string())?;
    let mut arena = tflm::run::arena(model.arena_size());
    let mut interpreter =
        Interpreter::new(model, arena.as_mut_slice()).map_err(|e| e.to_string())?;
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

#[test]
fn int16x8_lstm_outside_tflite_micros_scheme_is_refused() {
    use tflm::ir::{ConstData, Graph, Quantization, Tensor};
    let bytes = std::fs::read(
        op_fixtures()
            .with_file_name("tflm")
            .join("lstm_int16_batch2_clip.tflite"),
    )
    .unwrap();
    let parse = |edit: &dyn Fn(&mut Graph)| -> String {
        let mut g = tflm::tflite_import::import(&bytes).unwrap();
        edit(&mut g);
        let written = AlignedBytes::new(&tflm::tflite_writer::write(&g).unwrap());
        match Model::parse(written.as_slice()) {
            Ok(_) => "parsed".into(),
            Err(e) => e.to_string(),
        }
    };
    let state = |k: usize, q: Quantization| {
        move |g: &mut Graph| {
            let t = g.ops[0].input(k).unwrap();
            g.tensor_mut(t).quantization = Some(q.clone());
        }
    };
    assert_eq!(parse(&|_| {}), "parsed");
    let cell = parse(&state(19, Quantization::per_tensor(3e-4, 0)));
    assert!(
        cell.contains("a cell state scale that is not a power of two"),
        "{cell}"
    );
    let zp = parse(&state(18, Quantization::per_tensor(1.0 / 32767.0, 5)));
    assert!(
        zp.contains("activations and states need zero point 0"),
        "{zp}"
    );
    let peephole = parse(&|g: &mut Graph| {
        let p = Tensor::constant("cell_to_forget", vec![8], ConstData::I16(vec![1; 8]))
            .with_quantization(Quantization::per_tensor(1e-4, 0));
        let p = g.add_tensor(p);
        g.ops[0].inputs[9..12].fill(Some(p));
    });
    assert!(
        peephole.contains("CIFG, peephole or projection"),
        "{peephole}"
    );
}

/// The op fixture `name`, aligned as the runtime reads it.
fn load_fixture(name: &str) -> AlignedBytes {
    AlignedBytes::new(&std::fs::read(op_fixtures().join(format!("{name}.tflite"))).unwrap())
}

/// The registration `ops::registration_for` picks for the fixture's operator `code`.
fn picked(name: &str, code: i32) -> &'static str {
    let bytes = load_fixture(name);
    let model = Model::parse(bytes.as_slice()).unwrap();
    ops::registration_for(&model, code).unwrap().name()
}

/// The narrow registration `narrow` refuses fixture `name` with an error that says each of
/// `says`, and `registration_for` picks `full` for it (whose outputs
/// `every_op_fixture_matches_litert` checks).
fn assert_refused_for(name: &str, narrow: ops::Registration, says: &[&str], full: &str) {
    let bytes = load_fixture(name);
    let err = Model::parse_with(bytes.as_slice(), &[narrow])
        .unwrap_err()
        .to_string();
    for s in says {
        assert!(err.contains(s), "{name}: {err}");
    }
    assert!(
        err.contains(&format!("register ops::{full}")),
        "{name}: {err}"
    );
    assert_eq!(picked(name, narrow.code()), full, "{name}");
}

/// `AVERAGE_POOL_2D_INT8` sums in `i32` alone: it refuses a window of 2^16 elements or more,
/// naming the full registration, which `registration_for` picks; a usual window keeps the
/// `_INT8` one.
#[test]
fn int8_average_pool_refuses_windows_beyond_i32_sums() {
    assert_refused_for(
        "avgpool_int8_256x256_same_wide",
        ops::AVERAGE_POOL_2D_INT8,
        &["average windows of 2^16 elements or more"],
        "AVERAGE_POOL_2D",
    );
    assert_eq!(
        picked(
            "avgpool_int8_3x3_s2_same_relu6",
            tflm_runtime::schema::op::AVERAGE_POOL_2D
        ),
        "AVERAGE_POOL_2D_INT8"
    );
}

/// `DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8` links no generic kernel, so it refuses a one-channel
/// filter beyond its stack tables (12 channels of 9x9 taps), naming the registration that
/// runs it, and `registration_for` picks that one; a filter within the tables
/// (`dw_int8_m4_nonsquare`) keeps the narrow one. The multiplier-1 registration refuses what
/// its kernels do not run (bias-less layers included).
#[test]
fn one_channel_depthwise_refuses_filters_beyond_its_tables() {
    let full = "DEPTHWISE_CONV_2D_INT8";
    assert_refused_for(
        "dw_int8_m12_9x9_one_channel",
        ops::DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8,
        &["filters beyond the one-channel kernel's tables"],
        full,
    );
    let code = tflm_runtime::schema::op::DEPTHWISE_CONV_2D;
    assert_eq!(
        picked("dw_int8_m4_nonsquare", code),
        "DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8"
    );
    // The multiplier-1 registration (MobileNet's layers) refuses that large one-channel filter
    // too, a multiplier of 2 on a multi-channel input, and multiplier 1 without a bias.
    let m1 = ops::DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8;
    assert_refused_for("dw_int8_m12_9x9_one_channel", m1, &[], full);
    assert_refused_for("dw_int8_m2_valid_s2", m1, &[], full);
    assert_refused_for("dw_int8_m1_nobias", m1, &["without a bias"], full);
    // Multiplier 1 over four channels: the multiplier-1 registration runs it.
    assert_eq!(
        picked("dw_int8_m1_same", code),
        "DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8"
    );
}

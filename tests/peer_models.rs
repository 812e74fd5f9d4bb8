//! Bit-exactness against TFLite's reference kernels on real TFLite Micro models: every fixture
//! in ../shared/peer-models (outputs, per-operator intermediates, stateful sequences).

mod common;

use common::{compare, peer_models};
use std::collections::HashMap;
use tflm::fixtures::{read_cases, TensorData};
use tflm::run::{outputs, set_inputs, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

/// Runs every line of `fixture` on `model`; `reset_each` resets state before each line.
fn check(model: &str, fixture: &str, reset_each: bool, tol: f64) {
    let Some(dir) = peer_models() else { return };
    let bytes = AlignedBytes::new(&std::fs::read(dir.join(model)).unwrap());
    let model = Model::parse(bytes.as_slice()).unwrap_or_else(|e| panic!("{model}: {e}"));
    let cases = read_cases(&dir.join(fixture)).unwrap();
    assert!(!cases.is_empty());
    let mut arena = tflm::run::arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        if reset_each {
            interpreter.reset_state();
        }
        set_inputs(&mut interpreter, &case.inputs).unwrap();
        let mut seen: HashMap<(usize, usize), TensorData> = HashMap::new();
        let want_intermediates = !case.intermediates.is_empty();
        interpreter
            .invoke_observed(|o| {
                if want_intermediates {
                    seen.insert(
                        (o.operator, o.tensor.index),
                        TensorData {
                            dtype: o.tensor.dtype,
                            shape: o.tensor.shape.dims().collect(),
                            bytes: o.bytes.to_vec(),
                        },
                    );
                }
            })
            .unwrap();
        for (op, t, expected) in &case.intermediates {
            match seen.get(&(*op, *t)) {
                Some(got) => {
                    if let Err(e) = compare(
                        &format!("line {} operator {op} tensor {t}", case.line),
                        got,
                        expected,
                        tol,
                    ) {
                        failures.push(e);
                    }
                }
                None => failures.push(format!(
                    "line {}: operator {op} did not write tensor {t}",
                    case.line
                )),
            }
        }
        let got = outputs(&interpreter).unwrap();
        for (k, (g, e)) in got.iter().zip(&case.outputs).enumerate() {
            if let Err(e) = compare(&format!("line {} output {k}", case.line), g, e, tol) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{fixture}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hello_world_int8() {
    check(
        "hello_world_int8.tflite",
        "hello_world_int8.ref.jsonl",
        true,
        0.0,
    );
    check(
        "hello_world_int8.tflite",
        "hello_world_int8.testcases.ref.jsonl",
        true,
        0.0,
    );
    check(
        "hello_world_int8.tflite",
        "hello_world_int8.intermediates.jsonl",
        true,
        0.0,
    );
}

#[test]
fn hello_world_float() {
    check(
        "hello_world_float.tflite",
        "hello_world_float.ref.jsonl",
        true,
        1e-5,
    );
    check(
        "hello_world_float.tflite",
        "hello_world_float.testcases.ref.jsonl",
        true,
        1e-5,
    );
}

#[test]
fn micro_speech() {
    check(
        "micro_speech_quantized.tflite",
        "micro_speech_quantized.ref.jsonl",
        true,
        0.0,
    );
    check(
        "micro_speech_quantized.tflite",
        "micro_speech_quantized.intermediates.jsonl",
        true,
        0.0,
    );
}

#[test]
fn person_detect() {
    check("person_detect.tflite", "person_detect.ref.jsonl", true, 0.0);
    check(
        "person_detect.tflite",
        "person_detect.testcases.ref.jsonl",
        true,
        0.0,
    );
}

#[test]
fn keyword_scrambled() {
    check(
        "keyword_scrambled.tflite",
        "keyword_scrambled.ref.jsonl",
        true,
        0.0,
    );
    check(
        "keyword_scrambled.tflite",
        "keyword_scrambled.seq.ref.jsonl",
        false,
        0.0,
    );
    check(
        "keyword_scrambled.tflite",
        "keyword_scrambled.intermediates.jsonl",
        true,
        0.0,
    );
}

#[test]
fn simple_add() {
    check(
        "simple_add_model.tflite",
        "simple_add_model.ref.jsonl",
        true,
        0.0,
    );
}

#[test]
fn trained_lstm_int8() {
    check(
        "trained_lstm_int8.tflite",
        "trained_lstm_int8.ref.jsonl",
        true,
        0.0,
    );
    check(
        "trained_lstm_int8.tflite",
        "trained_lstm_int8.testcases.ref.jsonl",
        true,
        0.0,
    );
    check(
        "trained_lstm_int8.tflite",
        "trained_lstm_int8.intermediates.jsonl",
        true,
        0.0,
    );
}

#[test]
fn audio_preprocessor_custom_ops_are_rejected() {
    let Some(dir) = peer_models() else { return };
    let bytes =
        AlignedBytes::new(&std::fs::read(dir.join("audio_preprocessor_int8.tflite")).unwrap());
    let err = Model::parse(bytes.as_slice()).unwrap_err().to_string();
    assert_eq!(err, "operator 0: custom operators are not supported");
}

/// The op resolver: a model parsed with only its own operators runs bit for bit as with all
/// of them; one missing from the list is refused at its first use, by name.
#[test]
fn parse_with_the_models_operators_only() {
    use tflm_runtime::{ops, ParseErrorKind};
    let Some(dir) = peer_models() else { return };
    let bytes =
        AlignedBytes::new(&std::fs::read(dir.join("micro_speech_quantized.tflite")).unwrap());
    let all = Model::parse(bytes.as_slice()).unwrap();
    assert_eq!(all.registrations().len(), ops::ALL.len());
    static OPS: &[ops::Registration] = &[
        ops::RESHAPE,
        ops::DEPTHWISE_CONV_2D,
        ops::FULLY_CONNECTED,
        ops::SOFTMAX,
    ];
    let own = Model::parse_with(bytes.as_slice(), OPS).unwrap();
    assert_eq!(own.arena_size(), all.arena_size());
    let cases = read_cases(&dir.join("micro_speech_quantized.ref.jsonl")).unwrap();
    let mut arena = tflm::run::arena(own.arena_size());
    let mut interpreter = Interpreter::new(&own, arena.as_mut_slice()).unwrap();
    for case in &cases {
        set_inputs(&mut interpreter, &case.inputs).unwrap();
        interpreter.invoke().unwrap();
        assert_eq!(outputs(&interpreter).unwrap(), case.outputs);
    }
    let err = Model::parse_with(bytes.as_slice(), &OPS[..3]).unwrap_err();
    assert_eq!(
        err.kind,
        ParseErrorKind::NotRegistered {
            code: 25,
            name: "SOFTMAX"
        }
    );
    assert_eq!(
        err.to_string(),
        "operator 3: SOFTMAX (builtin code 25) is not in the operator list the model was parsed \
         with (add tflm_runtime::ops::SOFTMAX)"
    );
    // A const list from builtin codes (build scripts), and an empty list.
    const FROM_CODES: &[ops::Registration] = &[
        match ops::by_code(22) {
            Some(r) => r,
            None => panic!(),
        },
        ops::DEPTHWISE_CONV_2D,
        ops::FULLY_CONNECTED,
        ops::SOFTMAX,
    ];
    assert!(Model::parse_with(bytes.as_slice(), FROM_CODES).is_ok());
    assert!(matches!(
        Model::parse_with(bytes.as_slice(), &[]).unwrap_err().kind,
        ParseErrorKind::NotRegistered { .. }
    ));
}

/// `ops::FULLY_CONNECTED_INT8` runs an int8 model bit for bit as `ops::FULLY_CONNECTED` and
/// refuses a float FULLY_CONNECTED at parse time, naming the registration to use instead.
#[test]
fn fully_connected_int8_registration() {
    use tflm_runtime::{ops, ParseErrorKind};
    let Some(dir) = peer_models() else { return };
    static INT8: &[ops::Registration] = &[ops::FULLY_CONNECTED_INT8];
    let bytes = AlignedBytes::new(&std::fs::read(dir.join("hello_world_int8.tflite")).unwrap());
    let model = Model::parse_with(bytes.as_slice(), INT8).unwrap();
    let cases = read_cases(&dir.join("hello_world_int8.ref.jsonl")).unwrap();
    let mut arena = tflm::run::arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    for case in &cases {
        set_inputs(&mut interpreter, &case.inputs).unwrap();
        interpreter.invoke().unwrap();
        assert_eq!(outputs(&interpreter).unwrap(), case.outputs);
    }
    let float = AlignedBytes::new(&std::fs::read(dir.join("hello_world_float.tflite")).unwrap());
    let err = Model::parse_with(float.as_slice(), INT8).unwrap_err();
    assert!(
        matches!(err.kind, ParseErrorKind::UnsupportedOperands { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("register ops::FULLY_CONNECTED"),
        "{err}"
    );
    assert!(Model::parse_with(float.as_slice(), &[ops::FULLY_CONNECTED]).is_ok());
}

/// `ops::registration_for` picks the narrowest registration per operator code (what the QEMU
/// firmware and the macro's generated `OPS` list): the `_INT8` ones for the int8 peer models,
/// which then run bit for bit as with every kernel; the full ones for a float model.
#[test]
fn narrowest_registrations() {
    use tflm_runtime::ops;
    let Some(dir) = peer_models() else { return };
    let names = |model: &Model<'_>| -> Vec<&'static str> {
        let mut names = Vec::new();
        for i in 0..model.num_operators() {
            let code = model.operator(i).code;
            let name = ops::registration_for(model, code).unwrap().name();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    };
    for (file, want, cases) in [
        (
            "person_detect",
            &[
                "CONV_2D_POINTWISE_INT8",
                "DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8",
                "AVERAGE_POOL_2D_INT8",
                "RESHAPE",
                "SOFTMAX_INT8",
            ][..],
            1,
        ),
        (
            "micro_speech_quantized",
            &[
                "RESHAPE",
                "DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8",
                "FULLY_CONNECTED_INT8",
                "SOFTMAX_INT8",
            ][..],
            20,
        ),
        ("hello_world_int8", &["FULLY_CONNECTED_INT8"][..], 20),
        (
            "trained_lstm_int8",
            &[
                "UNIDIRECTIONAL_SEQUENCE_LSTM_INT8",
                "RESHAPE",
                "FULLY_CONNECTED_INT8",
                "SOFTMAX_INT8",
            ][..],
            20,
        ),
    ] {
        let bytes = AlignedBytes::new(&std::fs::read(dir.join(format!("{file}.tflite"))).unwrap());
        let all = Model::parse(bytes.as_slice()).unwrap();
        let mut got = names(&all);
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{file}");
        let regs: Vec<ops::Registration> = (0..all.num_operators())
            .filter_map(|i| ops::registration_for(&all, all.operator(i).code))
            .collect();
        let model = Model::parse_with(bytes.as_slice(), &regs).unwrap();
        let fixture = read_cases(&dir.join(format!("{file}.ref.jsonl"))).unwrap();
        let mut arena = tflm::run::arena(model.arena_size());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
        for case in fixture.iter().take(cases) {
            interpreter.reset_state();
            set_inputs(&mut interpreter, &case.inputs).unwrap();
            interpreter.invoke().unwrap();
            assert_eq!(outputs(&interpreter).unwrap(), case.outputs, "{file}");
        }
    }
    // person_detect's depthwise layers read more than one channel: the one-channel
    // registration refuses them at parse time and names the one that runs them.
    let bytes = AlignedBytes::new(&std::fs::read(dir.join("person_detect.tflite")).unwrap());
    let narrow = [
        ops::CONV_2D_INT8,
        ops::DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8,
        ops::AVERAGE_POOL_2D_INT8,
        ops::RESHAPE,
        ops::SOFTMAX_INT8,
    ];
    let err = Model::parse_with(bytes.as_slice(), &narrow)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DEPTHWISE_CONV_2D") && err.contains("register ops::DEPTHWISE_CONV_2D_INT8"),
        "{err}"
    );
    // keyword_scrambled: int8 SVDF; its SOFTMAX writes int16 (`SOFTMAX_INT8_INT16`).
    let bytes = AlignedBytes::new(&std::fs::read(dir.join("keyword_scrambled.tflite")).unwrap());
    let model = Model::parse(bytes.as_slice()).unwrap();
    let got = names(&model);
    assert!(got.contains(&"SVDF_INT8"), "{got:?}");
    assert!(got.contains(&"SOFTMAX_INT8_INT16"), "{got:?}");
    // micro_speech's SOFTMAX writes int8: the int8 → int16 registration refuses it.
    let bytes =
        AlignedBytes::new(&std::fs::read(dir.join("micro_speech_quantized.tflite")).unwrap());
    let narrow = [
        ops::RESHAPE,
        ops::DEPTHWISE_CONV_2D_ONE_CHANNEL_INT8,
        ops::FULLY_CONNECTED_INT8,
        ops::SOFTMAX_INT8_INT16,
    ];
    let err = Model::parse_with(bytes.as_slice(), &narrow)
        .unwrap_err()
        .to_string();
    assert!(err.contains("register ops::SOFTMAX)"), "{err}");
    let float = AlignedBytes::new(&std::fs::read(dir.join("hello_world_float.tflite")).unwrap());
    let float = Model::parse(float.as_slice()).unwrap();
    assert_eq!(names(&float), ["FULLY_CONNECTED"]);
    assert_eq!(ops::registration_for(&float, 32), None); // CUSTOM: no kernel
}

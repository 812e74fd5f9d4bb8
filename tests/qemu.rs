//! The peer models on an emulated Cortex-M: `tflm::qemu::run` builds examples/qemu-firmware for
//! each model, runs it in qemu-system-arm and the outputs must match the reference fixtures bit
//! for bit (the firmware compares bytes, and so does this test, on the host).
//!
//! Needs the Cortex-M toolchain (`tools/cortex-m-toolchain.sh --check`) and qemu-system-arm;
//! without them every test prints `SKIP: ...` and passes, unless `TFLM_REQUIRE_QEMU=1` (CI),
//! which turns the skip into a failure. The builds share one target directory and take turns
//! (a lock in `tflm::qemu`): only the firmware crate relinks from one model to the next.

mod common;

use std::io::Write;
use std::path::PathBuf;
use tflm::fixtures::read_cases;
use tflm::qemu::{self, CrateRun, Machine, QemuError, QemuOptions, QemuReport};

/// Written to the real stderr, not the test harness's captured one, so the line shows in
/// `cargo test`'s output.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The peer models' folder when the QEMU tests can run; `None` (after a SKIP line) otherwise.
fn setup(test: &str) -> Option<PathBuf> {
    let required = std::env::var("TFLM_REQUIRE_QEMU").as_deref() == Ok("1");
    let reason = match common::peer_models() {
        None => Some("the peer models are missing".to_string()),
        Some(dir) => match qemu::unavailable(None) {
            None => return Some(dir),
            Some(r) => Some(r),
        },
    };
    let msg = format!(
        "SKIP: {test} (QEMU): {}",
        reason.unwrap_or_default().replace('\n', "\n    ")
    );
    if required {
        panic!("{msg}\nTFLM_REQUIRE_QEMU=1: the QEMU tests must run (bash .ci/cortex-m-setup.sh installs what they need)");
    }
    say(&msg);
    None
}

/// Runs `model` over `fixture` under QEMU and checks every output against the fixture's, bit
/// for bit.
fn check(model: &str, fixture: &str, keep_state: bool, machine: Machine) -> Option<QemuReport> {
    check_opening(model, fixture, keep_state, machine, false)
}

/// [`check`], the firmware opening the model as build-verified (`Model::from_build_verified`,
/// the default) or verifying it on the device (`Model::parse_with`).
fn check_opening(
    model: &str,
    fixture: &str,
    keep_state: bool,
    machine: Machine,
    verify_on_device: bool,
) -> Option<QemuReport> {
    let dir = setup(&format!("{model} {fixture} on {machine}"))?;
    let opts = QemuOptions {
        keep_state,
        machine,
        verify_on_device,
        ..QemuOptions::new(dir.join(model), dir.join(fixture))
    };
    let report =
        qemu::run(&opts).unwrap_or_else(|e| panic!("{model} / {fixture} on {machine}: {e}"));
    let expected = read_cases(&dir.join(fixture)).unwrap();
    assert_eq!(
        report.outputs.len(),
        expected.len(),
        "one output line per case"
    );
    for (i, (got, want)) in report.outputs.iter().zip(&expected).enumerate() {
        let got = got
            .tensors
            .as_ref()
            .unwrap_or_else(|| panic!("case {i}: outputs not readable: {}", got.line));
        assert_eq!(got.len(), want.outputs.len(), "case {i}: number of outputs");
        for (j, (g, w)) in got.iter().zip(&want.outputs).enumerate() {
            assert_eq!(g.dtype, w.dtype, "case {i} output {j}: dtype");
            assert_eq!(
                g.shape.iter().product::<usize>(),
                w.shape.iter().product::<usize>(),
                "case {i} output {j}: element count"
            );
            assert!(
                g.bytes == w.bytes,
                "case {i} output {j} differs from {fixture}:\n got      {:?}\n expected {:?}",
                g.values(),
                w.values()
            );
        }
    }
    let s = &report.summary;
    assert_eq!(s.cases as usize, expected.len());
    assert_eq!(
        s.checked as usize,
        expected.len(),
        "every case checked by the firmware"
    );
    assert_eq!(s.mismatches, 0);
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    // The measurements are there and plausible.
    let model_len = std::fs::metadata(dir.join(model)).unwrap().len();
    assert!(
        (model_len..model_len + 16).contains(&report.elf.model),
        "TFLM_MODEL is the model's bytes (padded to 16): {} for {model_len}",
        report.elf.model
    );
    assert!(report.elf.text > 0 && report.elf.flash >= report.elf.text + report.elf.model);
    assert_eq!(
        report.elf.arena, s.arena_capacity,
        "TFLM_ARENA is the arena"
    );
    assert_eq!(
        s.arena_capacity, s.arena_bytes,
        "the arena is exactly what the model needs"
    );
    assert!(s.steady_invoke_instr.unwrap() > 0 && s.first_invoke_instr.unwrap() > 0);
    assert!(s.setup_instr > 0 && s.peak_stack_bytes > 0);
    let cal = &report.calibration;
    let (loop_instr, loop_ticks) = (cal["loop_instr"].as_u64(), cal["loop_ticks"].as_u64());
    assert!(
        matches!((loop_instr, loop_ticks), (Some(i), Some(t)) if (t * 40).abs_diff(i) <= 40),
        "SysTick counts 40 instructions per tick under -icount shift=0: {cal}"
    );
    assert!(report.ram_bytes() >= s.arena_bytes + s.peak_stack_bytes);
    let open = if verify_on_device {
        "Model::parse_with"
    } else {
        "Model::from_build_verified"
    };
    assert_eq!(s.raw["model_open"], open);
    say(&report.summary_text());
    Some(report)
}

#[test]
fn hello_world_int8_on_cortex_m4() {
    check(
        "hello_world_int8.tflite",
        "hello_world_int8.ref.jsonl",
        false,
        Machine::Mps2An386,
    );
}

#[test]
fn micro_speech_quantized_on_cortex_m4() {
    check(
        "micro_speech_quantized.tflite",
        "micro_speech_quantized.ref.jsonl",
        false,
        Machine::Mps2An386,
    );
}

#[test]
fn person_detect_on_cortex_m4() {
    check(
        "person_detect.tflite",
        "person_detect.ref.jsonl",
        false,
        Machine::Mps2An386,
    );
}

#[test]
fn keyword_scrambled_on_cortex_m4() {
    // Each line from a reset state, then a sequence with the SVDF state carried over.
    if check(
        "keyword_scrambled.tflite",
        "keyword_scrambled.ref.jsonl",
        false,
        Machine::Mps2An386,
    )
    .is_none()
    {
        return;
    }
    check(
        "keyword_scrambled.tflite",
        "keyword_scrambled.seq.ref.jsonl",
        true,
        Machine::Mps2An386,
    );
}

#[test]
fn trained_lstm_int8_on_cortex_m4() {
    // The UNIDIRECTIONAL_SEQUENCE_LSTM state is reset before every line (each is one image).
    if check(
        "trained_lstm_int8.tflite",
        "trained_lstm_int8.testcases.ref.jsonl",
        false,
        Machine::Mps2An386,
    )
    .is_none()
    {
        return;
    }
    check(
        "trained_lstm_int8.tflite",
        "trained_lstm_int8.ref.jsonl",
        false,
        Machine::Mps2An386,
    );
}

#[test]
fn int16x8_lstm_on_cortex_m4() {
    // TensorFlow Lite Micro's int16x8 LSTM (tools/gen_tflm_fixtures.py) in co2's shape: 24 steps,
    // 20 units, the state reset before every line; and a time-major batch of 3 carrying its
    // state from line to line.
    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tflm-runtime/tests/fixtures/tflm/"
    );
    for (case, fixture, keep_state) in [
        ("lstm_int16_keras_like", "ref", false),
        ("lstm_int16_time_major", "seq.ref", true),
    ] {
        let model = format!("{DIR}{case}.tflite");
        let fixture = format!("{DIR}{case}.{fixture}.jsonl");
        if check(&model, &fixture, keep_state, Machine::Mps2An386).is_none() {
            return;
        }
    }
}

/// The firmware that verifies its model on the device (`tflm qemu --verify-on-device`, as
/// for bytes from elsewhere) gives the same bits as the build-verified default.
#[test]
fn models_verified_on_the_device() {
    for (model, fixture) in [
        ("hello_world_int8.tflite", "hello_world_int8.ref.jsonl"),
        (
            "micro_speech_quantized.tflite",
            "micro_speech_quantized.ref.jsonl",
        ),
    ] {
        if check_opening(model, fixture, false, Machine::Mps2An386, true).is_none() {
            return;
        }
    }
}

#[test]
fn hello_world_int8_on_cortex_m3() {
    let Some(r) = check(
        "hello_world_int8.tflite",
        "hello_world_int8.ref.jsonl",
        false,
        Machine::Mps2An385,
    ) else {
        return;
    };
    assert_eq!(r.summary.raw["machine"], "mps2-an385");
}

/// A wrong expected value is found, reported with its case, output and values, and fails.
#[test]
fn a_mismatch_is_an_error_with_details() {
    let Some(dir) = setup("mismatch detection") else {
        return;
    };
    let fixture = std::fs::read_to_string(dir.join("hello_world_int8.ref.jsonl")).unwrap();
    let cases = tflm::fixtures::parse_cases(&fixture, "hello_world_int8.ref.jsonl").unwrap();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qemu-mismatch");
    std::fs::create_dir_all(&tmp).unwrap();
    // Expected outputs of the first three cases, the second one's value changed.
    let mut expect = String::new();
    for (i, c) in cases.iter().take(3).enumerate() {
        let mut out = c.outputs[0].clone();
        if i == 1 {
            out.bytes[0] = out.bytes[0].wrapping_add(1);
        }
        expect.push_str(&serde_json::json!({ "outputs": [out.to_json()] }).to_string());
        expect.push('\n');
    }
    let inputs: Vec<_> = cases.iter().take(3).map(|c| c.inputs.clone()).collect();
    common::write_cases(&tmp.join("inputs.jsonl"), &inputs, None);
    std::fs::write(tmp.join("expect.jsonl"), expect).unwrap();
    let opts = QemuOptions {
        expect: Some(tmp.join("expect.jsonl")),
        ..QemuOptions::new(
            dir.join("hello_world_int8.tflite"),
            tmp.join("inputs.jsonl"),
        )
    };
    match qemu::run(&opts) {
        Err(QemuError::Mismatch { report, details }) => {
            assert_eq!(report.summary.mismatches, 1);
            assert_eq!(report.outputs.len(), 3, "the outputs are still reported");
            let msg = details.join("\n");
            assert!(
                msg.contains("case 1 output 0: 1 elements differ, the first at index 0"),
                "{msg}"
            );
        }
        Err(e) => panic!("expected a mismatch, got: {e}"),
        Ok(_) => panic!("expected a mismatch, the run passed"),
    }
    // Cases that do not fit the model are refused at build time with the line number.
    let opts = QemuOptions::new(
        dir.join("micro_speech_quantized.tflite"),
        tmp.join("inputs.jsonl"),
    );
    match qemu::run(&opts) {
        Err(QemuError::Input(msg)) => assert!(msg.contains("inputs.jsonl:1"), "{msg}"),
        Err(e) => panic!("expected an input error, got: {e}"),
        Ok(_) => panic!("hello_world's inputs ran on micro_speech"),
    }
}

/// A model the runtime refuses never becomes a firmware that trusts it. Built directly (not
/// through `tflm qemu`, which refuses it on the host first), the firmware's build script fails
/// with the runtime's parse error; with `TFLM_VERIFY_ON_DEVICE=1` the firmware builds, and
/// reports the same error on the device and exits with failure.
#[test]
fn a_model_the_runtime_refuses_fails_the_firmware_build() {
    if setup("a refused model's firmware build").is_none() {
        return;
    }
    let fixtures = common::op_fixtures();
    let mut bad = std::fs::read(fixtures.join("fc_int8_relu.tflite")).unwrap();
    // The weights' shape [8, 16] becomes [8, 17]: their 128 bytes no longer match it.
    let at = common::find_shape(&bad, &[8, 16]);
    bad[at + 4..at + 8].copy_from_slice(&17i32.to_le_bytes());
    let why = "constant data has 128 bytes but the shape and type need 136";
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qemu-refused");
    std::fs::create_dir_all(&tmp).unwrap();
    let model = tmp.join("fc_bad_shape.tflite");
    std::fs::write(&model, &bad).unwrap();
    let run = |on_device: &str| {
        let env = [
            ("TFLM_MODEL", model.display().to_string()),
            (
                "TFLM_CASES",
                fixtures
                    .join("fc_int8_relu.ref.jsonl")
                    .display()
                    .to_string(),
            ),
            ("TFLM_VERIFY_ON_DEVICE", on_device.to_string()),
        ];
        qemu::run_crate(&CrateRun {
            env: env.map(|(k, v)| (k.to_string(), v)).to_vec(),
            // Where `tflm qemu` builds this firmware: only the firmware crate rebuilds.
            target_dir: Some(qemu::source_dir(None).join("target/qemu-firmware")),
            ..CrateRun::new("examples/qemu-firmware", "tflm-qemu-firmware")
        })
    };

    match run("0") {
        Err(QemuError::Build { log, .. }) => assert!(
            log.contains("the runtime refuses the model") && log.contains(why),
            "{log}"
        ),
        other => panic!("expected the build to fail, got {other:?}"),
    }
    let out = run("1").expect("with on-device verification the firmware builds and runs");
    assert!(!out.success, "{}", out.stdout);
    assert!(
        out.stdout.contains("Model::parse_with: tensor") && out.stdout.contains(why),
        "{}",
        out.stdout
    );
}

//! `include_quantized_model!` on an emulated Cortex-M4F: examples/qemu-macro-firmware embeds
//! models/sine, models/digits and the models/co2 LSTM (int8) with the macro, predicts the first
//! test rows of each (co2: windowed `predict`, then `predict_streaming` carrying the LSTM state)
//! and prints every output's f32 bit pattern. This test builds and runs it with
//! `tflm::qemu::run_crate` and checks every output, bit for bit, against the same macro models
//! on the host (the items below: the same conversion, the same `predict`), and that the
//! firmware embeds the very same model bytes (FNV-1a) and arena size.
//!
//! Needs the Cortex-M toolchain (`tools/cortex-m-toolchain.sh --check`) and qemu-system-arm;
//! without them the test prints `SKIP: ...` and passes, unless `TFLM_REQUIRE_QEMU=1` (CI), which
//! turns the skip into a failure. The firmware builds in `$TFLM_FIRMWARE_TARGET_DIR`,
//! `$CARGO_TARGET_DIR/firmware` or `target/firmware`, where tools/check-firmware.sh (CI) has
//! already built it; a cold build compiles the proc macro's host side (tract-onnx) with the
//! firmware's compiler: 12-14 minutes on a busy 2-core machine.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use tflm::dataset::{Dataset, Example, Target};
use tflm::qemu::{self, CrateRun};
use tflm::specs::Specs;

mod sine {
    tflm_macros::include_quantized_model!("models/sine", quant = "int8");
}

mod digits {
    tflm_macros::include_quantized_model!("models/digits", quant = "int8");
}

mod co2 {
    tflm_macros::include_quantized_model!("models/co2", quant = "int8");
}

/// Test rows per model: the firmware's default `TFLM_ROWS`.
const ROWS: usize = 10;

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn available(test: &str) -> bool {
    let Some(reason) = qemu::unavailable(None) else {
        return true;
    };
    let msg = format!("SKIP: {test} (QEMU): {}", reason.replace('\n', "\n    "));
    if std::env::var("TFLM_REQUIRE_QEMU").as_deref() == Ok("1") {
        panic!("{msg}\nTFLM_REQUIRE_QEMU=1: the QEMU tests must run (bash .ci/cortex-m-setup.sh installs what they need)");
    }
    say(&msg);
    false
}

fn test_rows(dir: &str) -> Vec<Example> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    Dataset::load(&Specs::from_dir(&path).unwrap())
        .unwrap()
        .test
}

fn fnv1a(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    format!("{h:08x}")
}

fn bits(v: &Value) -> Vec<String> {
    v["bits"]
        .as_array()
        .unwrap_or_else(|| panic!("no bits in {v}"))
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect()
}

fn host_bits(y: &[f32]) -> Vec<String> {
    y.iter().map(|v| format!("{:08x}", v.to_bits())).collect()
}

/// Sum of the sizes of the symbols whose (mangled) name contains `part`.
fn symbol_size(symbols: &[(String, u64)], part: &str) -> u64 {
    symbols
        .iter()
        .filter(|(n, _)| n.contains(part))
        .map(|(_, s)| *s)
        .sum()
}

#[test]
fn macro_firmware_predicts_bit_for_bit_as_the_host() {
    if !available("examples/qemu-macro-firmware on mps2-an386") {
        return;
    }
    // TFLM_ROWS left at its default: the build of tools/check-firmware.sh is reused as it is.
    let run = CrateRun::new("examples/qemu-macro-firmware", "tflm-qemu-macro-firmware");
    let out = qemu::run_crate(&run).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|v| v.get("error").is_some()).collect();
    assert!(
        out.success && errors.is_empty(),
        "the firmware failed: {errors:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let find = |key: &str| -> Vec<&Value> { lines.iter().filter_map(|v| v.get(key)).collect() };

    // SysTick counts 40 instructions per tick.
    let cal = find("calibration")[0];
    let (i, t) = (
        cal["loop_instr"].as_u64().unwrap(),
        cal["loop_ticks"].as_u64().unwrap(),
    );
    assert!((t * 40).abs_diff(i) <= 40, "{cal}");

    // The same models: bytes (hash), arena size.
    let models = find("model");
    assert_eq!(models.len(), 3, "{models:?}");
    let check_model = |m: &Value, name: &str, bytes: &[u8], arena: usize| {
        assert_eq!(m["name"], name);
        assert_eq!(m["model_bytes"].as_u64(), Some(bytes.len() as u64), "{m}");
        assert_eq!(
            m["model_fnv1a"].as_str(),
            Some(fnv1a(bytes).as_str()),
            "{name}: the firmware embeds other model bytes than the host"
        );
        assert_eq!(m["arena_size"].as_u64(), Some(arena as u64), "{m}");
        assert_eq!(m["rows"].as_u64(), Some(ROWS as u64), "{m}");
    };
    check_model(models[0], "sine", sine::MODEL_BYTES, sine::ARENA_SIZE);
    check_model(models[1], "digits", digits::MODEL_BYTES, digits::ARENA_SIZE);
    check_model(models[2], "co2", co2::MODEL_BYTES, co2::ARENA_SIZE);

    // Every prediction, bit for bit.
    let predictions = find("predict");
    assert_eq!(predictions.len(), 4 * ROWS);
    let firmware = |model: &str, call: &str| -> Vec<Value> {
        let fw: Vec<Value> = predictions
            .iter()
            .filter(|p| p["model"] == model && p["call"] == call)
            .map(|p| (*p).clone())
            .collect();
        assert_eq!(fw.len(), ROWS, "{model} {call}");
        fw
    };
    // Checks the firmware's predictions `fw` of `name` against `host` on the test rows; returns
    // the host's outputs.
    fn check_rows<const N: usize, const M: usize>(
        name: &str,
        fw: &[Value],
        rows: &[Example],
        mut host: impl FnMut(&[f32; N]) -> [f32; M],
    ) -> Vec<[f32; M]> {
        let mut ys = Vec::new();
        for (i, (p, ex)) in fw.iter().zip(rows).enumerate() {
            assert_eq!(p["i"].as_u64(), Some(i as u64));
            assert_eq!(
                p["row"].as_u64(),
                Some(ex.row as u64),
                "{name}: test row {i}"
            );
            let x: [f32; N] = ex.inputs[0].as_slice().try_into().unwrap();
            let y = host(&x);
            assert_eq!(
                bits(p),
                host_bits(&y),
                "{name} row {}: MCU {} vs host {y:?}",
                ex.row,
                p["y"]
            );
            ys.push(y);
        }
        ys
    }
    let labels = |rows: &[Example]| -> Vec<f32> {
        rows.iter()
            .map(|ex| match &ex.target {
                Target::Values(v) => v[0][0],
                Target::Classes(_) => unreachable!(),
            })
            .collect()
    };

    let mut arena = sine::Arena::zeroed();
    let mut model = sine::Model::new(&mut arena.0).unwrap();
    let rows = test_rows("models/sine");
    let ys = check_rows("sine", &firmware("sine", "predict"), &rows, |x| {
        model.predict(x).unwrap()
    });
    for (y, label) in ys.iter().zip(labels(&rows)) {
        assert!((y[0] - label).abs() < 0.5, "sine: {y:?} vs label {label}");
    }

    let mut arena = digits::Arena::zeroed();
    let mut model = digits::Model::new(&mut arena.0).unwrap();
    let rows = test_rows("models/digits");
    let fw = firmware("digits", "predict");
    check_rows("digits", &fw, &rows, |x| model.predict(x).unwrap());
    let mut correct = 0;
    for (p, ex) in fw.iter().zip(&rows) {
        let x: [f32; digits::INPUT_LEN] = ex.inputs[0].as_slice().try_into().unwrap();
        let class = model.predict_class(&x).unwrap();
        assert_eq!(
            p["class"].as_u64(),
            Some(class as u64),
            "digits row {}",
            ex.row
        );
        let Target::Classes(c) = &ex.target else {
            unreachable!()
        };
        correct += usize::from(class == c[0]);
    }
    assert!(
        correct >= ROWS * 8 / 10,
        "digits: {correct} of {ROWS} right"
    );

    // co2: windowed predictions (state reset per window) are near the labels; streaming ones
    // carry the LSTM state from window to window on the MCU exactly as on the host, so they
    // differ from the windowed ones after the first.
    let mut arena = co2::Arena::zeroed();
    let mut model = co2::Model::new(&mut arena.0).unwrap();
    let rows = test_rows("models/co2");
    let windowed = check_rows("co2", &firmware("co2", "predict"), &rows, |x| {
        model.predict(x).unwrap()
    });
    let mae = windowed
        .iter()
        .zip(labels(&rows))
        .map(|(y, l)| (y[0] - l).abs())
        .sum::<f32>()
        / ROWS as f32;
    assert!(mae < 40.0, "co2: MAE {mae} ppm on the first {ROWS} windows");
    model.reset_state();
    let streaming = check_rows(
        "co2 streaming",
        &firmware("co2", "predict_streaming"),
        &rows,
        |x| model.predict_streaming(x).unwrap(),
    );
    assert_eq!(
        streaming[0], windowed[0],
        "co2: the first streaming call starts from zero state"
    );
    assert!(
        streaming[1..] != windowed[1..],
        "co2: streaming predictions should carry state: {streaming:?}"
    );

    // Instruction counts and memory.
    let instr = find("instructions");
    assert_eq!(instr.len(), 5, "{instr:?}");
    for s in &instr {
        assert!(
            s["first"].as_u64().unwrap() > 0 && s["steady"].as_u64().unwrap() > 0,
            "{s}"
        );
        assert!(s["stack_bytes"].as_u64().unwrap() > 0, "{s}");
    }
    let summary = find("summary")[0];
    assert_eq!(summary["predictions"].as_u64(), Some(4 * ROWS as u64));
    assert_eq!(
        symbol_size(&out.symbols, "SINE_ARENA"),
        sine::ARENA_SIZE as u64
    );
    assert_eq!(
        symbol_size(&out.symbols, "DIGITS_ARENA"),
        digits::ARENA_SIZE as u64
    );
    assert_eq!(
        symbol_size(&out.symbols, "CO2_ARENA"),
        co2::ARENA_SIZE as u64
    );
    let model_flash = symbol_size(&out.symbols, "4sine5MODEL")
        + symbol_size(&out.symbols, "6digits5MODEL")
        + symbol_size(&out.symbols, "3co25MODEL");
    assert!(
        model_flash
            >= (sine::MODEL_BYTES.len() + digits::MODEL_BYTES.len() + co2::MODEL_BYTES.len())
                as u64,
        "the models' statics are in the image: {model_flash} bytes"
    );
    let e = &out.elf;
    let peak = summary["peak_stack_bytes"].as_u64().unwrap();
    let mut report = format!(
        "qemu-macro-firmware on mps2-an386 (toolchain {}): {} predictions bit-identical to the host; build {:.1} s, run {:.2} s\n",
        out.toolchain,
        4 * ROWS,
        out.build_time.as_secs_f64(),
        out.run_time.as_secs_f64()
    );
    for s in &instr {
        report.push_str(&format!(
            "  {} {}: first {} instructions, steady {} (min {}, max {}), stack {} B\n",
            s["model"].as_str().unwrap(),
            s["call"].as_str().unwrap(),
            s["first"],
            s["steady"],
            s["min"],
            s["max"],
            s["stack_bytes"]
        ));
    }
    report.push_str(&format!(
        "  Model::new: {} instructions for the three; flash {} B (.text {}, .rodata {}, models {}), RAM {} B (static {} with arenas {} + {} + {}, peak stack {})",
        summary["setup_instr"],
        e.flash,
        e.text,
        e.rodata,
        model_flash,
        e.static_ram + peak,
        e.static_ram,
        sine::ARENA_SIZE,
        digits::ARENA_SIZE,
        co2::ARENA_SIZE,
        peak
    ));
    say(&report);
}

//! `include_quantized_model!` on an emulated Cortex-M4F: examples/qemu-macro-firmware embeds
//! models/sine and models/digits (int8) with the macro, predicts the first test rows of each
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
    assert_eq!(models.len(), 2, "{models:?}");
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

    // Every prediction, bit for bit.
    let predictions = find("predict");
    assert_eq!(predictions.len(), 2 * ROWS);
    let mut arena = sine::Arena::zeroed();
    let mut model = sine::Model::new(&mut arena.0).unwrap();
    let rows = test_rows("models/sine");
    let fw: Vec<&&Value> = predictions
        .iter()
        .filter(|p| p["model"] == "sine")
        .collect();
    assert_eq!(fw.len(), ROWS);
    for (i, (p, ex)) in fw.iter().zip(&rows).enumerate() {
        assert_eq!(p["i"].as_u64(), Some(i as u64));
        assert_eq!(p["row"].as_u64(), Some(ex.row as u64), "sine: test row {i}");
        let x: [f32; sine::INPUT_LEN] = ex.inputs[0].as_slice().try_into().unwrap();
        let y = model.predict(&x).unwrap();
        assert_eq!(
            bits(p),
            host_bits(&y),
            "sine row {}: x = {x:?}: MCU {} vs host {y:?}",
            ex.row,
            p["y"]
        );
        let Target::Values(v) = &ex.target else {
            unreachable!()
        };
        assert!(
            (y[0] - v[0][0]).abs() < 0.5,
            "sine row {}: {y:?} vs label {v:?}",
            ex.row
        );
    }
    let mut arena = digits::Arena::zeroed();
    let mut model = digits::Model::new(&mut arena.0).unwrap();
    let rows = test_rows("models/digits");
    let fw: Vec<&&Value> = predictions
        .iter()
        .filter(|p| p["model"] == "digits")
        .collect();
    assert_eq!(fw.len(), ROWS);
    let mut correct = 0;
    for (i, (p, ex)) in fw.iter().zip(&rows).enumerate() {
        assert_eq!(p["i"].as_u64(), Some(i as u64));
        assert_eq!(
            p["row"].as_u64(),
            Some(ex.row as u64),
            "digits: test row {i}"
        );
        let x: [f32; digits::INPUT_LEN] = ex.inputs[0].as_slice().try_into().unwrap();
        let y = model.predict(&x).unwrap();
        assert_eq!(
            bits(p),
            host_bits(&y),
            "digits row {}: MCU {} vs host {y:?}",
            ex.row,
            p["y"]
        );
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

    // Instruction counts and memory.
    let instr = find("instructions");
    assert_eq!(instr.len(), 3, "{instr:?}");
    for s in &instr {
        assert!(
            s["first"].as_u64().unwrap() > 0 && s["steady"].as_u64().unwrap() > 0,
            "{s}"
        );
        assert!(s["stack_bytes"].as_u64().unwrap() > 0, "{s}");
    }
    let summary = find("summary")[0];
    assert_eq!(summary["predictions"].as_u64(), Some(2 * ROWS as u64));
    assert_eq!(
        symbol_size(&out.symbols, "SINE_ARENA"),
        sine::ARENA_SIZE as u64
    );
    assert_eq!(
        symbol_size(&out.symbols, "DIGITS_ARENA"),
        digits::ARENA_SIZE as u64
    );
    let model_flash =
        symbol_size(&out.symbols, "4sine5MODEL") + symbol_size(&out.symbols, "6digits5MODEL");
    assert!(
        model_flash >= (sine::MODEL_BYTES.len() + digits::MODEL_BYTES.len()) as u64,
        "the models' statics are in the image: {model_flash} bytes"
    );
    let e = &out.elf;
    let peak = summary["peak_stack_bytes"].as_u64().unwrap();
    let mut report = format!(
        "qemu-macro-firmware on mps2-an386 (toolchain {}): {} predictions bit-identical to the host; build {:.1} s, run {:.2} s\n",
        out.toolchain,
        2 * ROWS,
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
        "  Model::new: {} instructions for both; flash {} B (.text {}, .rodata {}, models {}), RAM {} B (static {} with arenas {} + {}, peak stack {})",
        summary["setup_instr"],
        e.flash,
        e.text,
        e.rodata,
        model_flash,
        e.static_ram + peak,
        e.static_ram,
        sine::ARENA_SIZE,
        digits::ARENA_SIZE,
        peak
    ));
    say(&report);
}

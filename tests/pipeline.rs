//! The conversion pipeline and `tflm convert` on the bundled models: determinism, evaluation
//! through the codec, LiteRT interop on the whole test split, exports (C array, MicroPython,
//! specs.json), the original tool's flags, and precise errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use tflm::pipeline::{Pipeline, PipelineError};
use tflm::quantize::{IoKind, Mode};
use tflm::specs::Dtype;

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("pipeline")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sine_int8_is_deterministic_accurate_and_bit_exact_with_litert() {
    let session = Pipeline::from_dir(model_dir("sine")).load().unwrap();
    let a = session.convert(Mode::Int8).unwrap();
    // A second, independent run (new session, calibration again) gives the same bytes.
    let b = Pipeline::from_dir(model_dir("sine")).run().unwrap();
    assert_eq!(a.tflite, b.tflite, "conversion is not deterministic");
    assert_eq!(a.arena_size, b.arena_size);
    assert_eq!(a.ops, vec!["FULLY_CONNECTED_INT8"]);
    assert_eq!(a.parameters, 321);
    assert_eq!(a.macs, 16 + 256 + 16);

    // The specs handed over carry the model's I/O quantization.
    let input = &a.specs.inputs[0];
    let (scale, zp) = a.codec.inputs[0].quantization.unwrap();
    assert_eq!(input.dtype, Some(Dtype::Int8));
    assert_eq!(input.scale.map(|s| s as f32), Some(scale));
    assert_eq!(input.zero_point, Some(i64::from(zp)));

    // Evaluated through the codec on the host runtime: int8 within 2% of float, and no worse
    // than TensorFlow's own int8 conversion of the same Keras model (MAE 0.08992, measured
    // by `models/sine/train.py --tflite-baseline`).
    let float = session.convert_imported().unwrap();
    let mf = session.evaluate(&float, "float", &mut |_| {}).unwrap();
    let mq = session.evaluate(&a, "int8", &mut |_| {}).unwrap();
    let (float_mae, int8_mae) = (mf.mae.unwrap(), mq.mae.unwrap());
    eprintln!("sine: float MAE {float_mae:.5}, int8 MAE {int8_mae:.5}");
    assert_eq!(mq.examples, 200);
    assert!((float_mae - 0.0909).abs() < 0.0005, "float MAE {float_mae}");
    assert!(int8_mae < float_mae * 1.02, "int8 MAE {int8_mae}");
    assert!(
        int8_mae <= 0.08993,
        "int8 MAE {int8_mae} worse than TensorFlow's"
    );

    // LiteRT's reference kernels give the same bytes on every test example.
    if common::litert_available().is_none() {
        return;
    }
    let inputs = common::test_inputs(&session, &a);
    let ours = tflm::run::run_cases(&a.tflite, &inputs, true).unwrap();
    let theirs = common::litert_outputs("pipeline_sine_int8", &a.tflite, &inputs);
    assert_eq!(ours.len(), theirs.len());
    for (k, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o[0].bytes, t[0].bytes, "test example {k}");
    }
}

#[test]
fn digits_int8_with_float_io_keeps_accuracy_and_matches_litert() {
    let session = Pipeline::from_dir(model_dir("digits"))
        .io(IoKind::Float32)
        .load()
        .unwrap();
    let float = session.convert_imported().unwrap();
    let q = session.convert(Mode::Int8).unwrap();
    assert_eq!(q.codec.inputs[0].dtype, tflm_runtime::DType::F32);
    assert_eq!(q.specs.inputs[0].dtype, Some(Dtype::Float32));
    assert!(
        q.tflite.len() * 10 < float.tflite.len() * 6,
        "int8 not smaller"
    );
    assert!(q.arena_size < float.arena_size);
    let mf = session.evaluate(&float, "float", &mut |_| {}).unwrap();
    let mq = session.evaluate(&q, "int8", &mut |_| {}).unwrap();
    eprintln!(
        "digits: float accuracy {:.4}, int8 {:.4}",
        mf.accuracy.unwrap(),
        mq.accuracy.unwrap()
    );
    assert_eq!(mq.examples, 359);
    // TensorFlow's int8 conversion of the same Keras model: 0.9833 (353/359).
    assert!(mq.accuracy.unwrap() >= 353.0 / 359.0 - 1e-9);

    if common::litert_available().is_none() {
        return;
    }
    let inputs = common::test_inputs(&session, &q);
    let ours = tflm::run::run_cases(&q.tflite, &inputs, true).unwrap();
    let theirs = common::litert_outputs("pipeline_digits_int8_f32io", &q.tflite, &inputs);
    for (k, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        // Float outputs of an integer graph: DEQUANTIZE is exact, so the bits agree too.
        assert_eq!(o[0].bytes, t[0].bytes, "test example {k}");
    }
}

#[test]
fn exports_are_usable_from_c_and_micropython_and_deterministic() {
    let c = Pipeline::from_dir(model_dir("sine")).run().unwrap();
    let dir = scratch("exports");
    let files = tflm::export::write_all(&dir, "sine", &c).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "int8/sine.tflite",
            "int8/sine_model_data.h",
            "int8/sine_model_data.cc",
            "int8/sine_model.py",
            "int8/specs.json"
        ]
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), c.tflite);

    // The C array holds exactly the model bytes, aligned, with its length.
    let cc = std::fs::read_to_string(&files[2]).unwrap();
    assert!(cc.contains("alignas(16) const unsigned char g_sine_model_data[] = {"));
    let body = &cc[cc.find('{').unwrap() + 1..cc.find("};").unwrap()];
    let bytes: Vec<u8> = body
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| u8::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
        .collect();
    assert_eq!(bytes, c.tflite);
    assert!(cc.contains(&format!("g_sine_model_data_len = {};", c.tflite.len())));
    let h = std::fs::read_to_string(&files[1]).unwrap();
    let (scale, zp) = c.codec.inputs[0].quantization.unwrap();
    assert!(
        h.contains(&format!("#define SINE_INPUT0_ZERO_POINT {zp}")),
        "{h}"
    );
    assert!(h.contains("extern const unsigned char g_sine_model_data[];"));
    let _ = scale;

    // The specs.json handed over reads back with the I/O quantization.
    let specs = tflm::specs::Specs::from_path(&files[4]).unwrap();
    assert_eq!(specs.inputs[0].dtype, Some(Dtype::Int8));
    assert_eq!(specs.outputs[0].zero_point, c.specs.outputs[0].zero_point);

    // The MicroPython module (plain Python) quantizes like the firmware and holds the bytes.
    let raw = [0.0f32, 1.0, 3.0, 6.2, f32::NAN];
    let mut expected = Vec::new();
    c.codec.inputs[0].encode(&raw, &mut expected);
    let script = format!(
        "import sys; sys.path.insert(0, {:?}); import sine_model as m\n\
         print(list(m.MODEL) == list(open({:?}, 'rb').read()))\n\
         print(m.quantize_input([0.0, 1.0, 3.0, 6.2, float('nan')]))\n\
         print(m.dequantize_output([-128, 0, 127]))",
        dir.join("int8").display().to_string(),
        files[0].display().to_string()
    );
    let out = Command::new("python3").arg("-c").arg(&script).output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "True");
            let q: Vec<i8> = expected.iter().map(|&b| b as i8).collect();
            assert_eq!(lines[1], format!("{q:?}"));
            let deq: Vec<f32> = serde_json::from_str(lines[2]).unwrap();
            let ours = c.codec.outputs[0].decode(&[128u8, 0, 127]);
            for (a, b) in deq.iter().zip(&ours) {
                assert!((a - b).abs() < 1e-6, "{deq:?} vs {ours:?}");
            }
        }
        Ok(out) => panic!("python3: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("SKIP MicroPython module check: python3 not runnable ({e})"),
    }

    // Converting again writes identical files.
    let again = scratch("exports_again");
    let files2 = tflm::export::write_all(
        &again,
        "sine",
        &Pipeline::from_dir(model_dir("sine")).run().unwrap(),
    )
    .unwrap();
    for (a, b) in files.iter().zip(&files2) {
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{} differs between runs",
            a.display()
        );
    }
}

fn tflm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_accepts_the_original_tools_flags_and_writes_exports_and_plot() {
    let dir = scratch("cli");
    let export = dir.join("export");
    let model = model_dir("sine");
    let (ok, stdout, stderr) = tflm(&[
        "convert",
        "--input_dir",
        model.to_str().unwrap(),
        "-q",
        "int8",
        "--PTQ",
        "-e",
        "--export_dir",
        export.to_str().unwrap(),
        "--plot_results",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].starts_with("variant"), "{stdout}");
    assert!(lines[3].starts_with("float "), "{stdout}");
    assert!(lines[4].starts_with("int8 "), "{stdout}");
    for f in [
        "sine.tflite",
        "sine_model_data.h",
        "sine_model_data.cc",
        "sine_model.py",
        "specs.json",
    ] {
        assert!(export.join("int8").join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(export.join("results.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // The CLI's model is the library's.
    let lib = Pipeline::from_dir(&model).run().unwrap();
    assert_eq!(
        std::fs::read(export.join("int8/sine.tflite")).unwrap(),
        lib.tflite
    );

    // Aliases of the modes; several modes in one run; pruning reported per layer.
    let (ok, stdout, stderr) = tflm(&[
        "convert",
        model.to_str().unwrap(),
        "--quantization_type",
        "int8,none",
        "-p",
        "0.25",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("float pruned 25%"), "{stdout}");
    assert!(stdout.contains("int8 pruned 25%"), "{stdout}");
    assert!(stderr.contains("4/16 zero (25.0%)"), "{stderr}");
}

#[test]
fn errors_name_the_file_and_the_argument() {
    let (ok, _, stderr) = tflm(&["convert", "models/sine", "-q", "int4"]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown quantization mode \"int4\"") && stderr.contains("int16x8"),
        "{stderr}"
    );
    let missing = scratch("missing").join("nothing");
    let err = Pipeline::from_dir(&missing).run().unwrap_err();
    assert!(matches!(err, PipelineError::Specs(_)));
    assert!(err.to_string().contains("nothing/specs.json"), "{err}");

    // A directory whose specs do not fit the model: the model path and both shapes named.
    let dir = scratch("shape_mismatch");
    let sine = model_dir("sine");
    std::fs::copy(sine.join("model.onnx"), dir.join("model.onnx")).unwrap();
    // Two input columns where the model takes one.
    let csv: String = std::fs::read_to_string(sine.join("dataset.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let (x, y) = l.split_once(',').unwrap();
            if i == 0 {
                "x,x2,y\n".to_string()
            } else {
                format!("{x},{x},{y}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("dataset.csv"), csv).unwrap();
    let specs = std::fs::read_to_string(sine.join("specs.json"))
        .unwrap()
        .replace(
            "\"feature_columns\": [\"x\"],",
            "\"feature_columns\": [\"x\", \"x2\"],",
        )
        .replacen("\"shape\": [1, 1]", "\"shape\": [1, 2]", 1)
        .replace("\"mean\": [3.1012]", "\"mean\": [3.1012, 3.1012]")
        .replace("\"std\": [1.841141]", "\"std\": [1.841141, 1.841141]");
    std::fs::write(dir.join("specs.json"), specs).unwrap();
    let err = Pipeline::from_dir(&dir).run().unwrap_err().to_string();
    assert!(
        err.contains("model.onnx") && err.contains("[1, 1]") && err.contains("[1, 2]"),
        "{err}"
    );

    // No model file.
    std::fs::remove_file(dir.join("model.onnx")).unwrap();
    let err = Pipeline::from_dir(&dir).run().unwrap_err().to_string();
    assert!(err.contains("expected model.onnx or model.tflite"), "{err}");
}

/// A model directory holding a float HARD_SWISH model ([1, 8] -> [1, 8], written by our
/// writer), its specs and 40 rows of data: int8 has a HARD_SWISH kernel, int16x8 has none.
fn hard_swish_model_dir() -> PathBuf {
    use tflm::ir::{DType, Graph, Op, OpKind, Tensor};
    let dir = scratch("hard_swish_model");
    let mut g = Graph::new();
    let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 8]));
    let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 8]));
    g.add_op(Op::new(OpKind::HardSwish, [x], [y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    std::fs::write(
        dir.join("model.tflite"),
        tflm::tflite_writer::write(&g).unwrap(),
    )
    .unwrap();
    let xs: Vec<String> = (0..8).map(|i| format!("x{i}")).collect();
    let ys: Vec<String> = (0..8).map(|i| format!("y{i}")).collect();
    let specs = serde_json::json!({
        "version": 1,
        "name": "hard_swish",
        "task": "regression",
        "metric": "mae",
        "inputs": [{"name": "x", "shape": [1, 8], "layout": "nc", "dtype": "float32"}],
        "outputs": [{"name": "y", "shape": [1, 8], "layout": "nc", "dtype": "float32"}],
        "dataset": {
            "file": "dataset.csv",
            "header": true,
            "label_columns": ys,
            "feature_columns": xs,
            "split": {"test_fraction": 0.25, "order": "ordered"},
            "representative_rows": 30
        }
    });
    std::fs::write(dir.join("specs.json"), specs.to_string()).unwrap();
    let mut csv = format!("{},{}\n", xs.join(","), ys.join(","));
    for r in 0..40 {
        let x: Vec<f32> = (0..8)
            .map(|i| ((r * 8 + i) % 23) as f32 * 0.5 - 5.5)
            .collect();
        let y: Vec<f32> = x
            .iter()
            .map(|v| v * (v + 3.0).clamp(0.0, 6.0) / 6.0)
            .collect();
        let cells: Vec<String> = x.iter().chain(&y).map(|v| v.to_string()).collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    std::fs::write(dir.join("dataset.csv"), csv).unwrap();
    dir
}

#[test]
fn cli_reports_a_refused_mode_converts_the_others_and_fails_at_the_end() {
    let dir = hard_swish_model_dir();
    let (ok, stdout, stderr) = tflm(&[
        "convert",
        dir.to_str().unwrap(),
        "-q",
        "int16x8,int8,float16",
        "-e",
    ]);
    assert!(
        !ok,
        "a refused mode must fail the command:\n{stdout}\n{stderr}"
    );
    let refusal = stderr
        .lines()
        .find(|l| l.starts_with("int16x8: not converted: "))
        .unwrap_or_else(|| panic!("no refusal line:\n{stderr}"));
    assert!(
        refusal.contains("operator 0 (HARD_SWISH): no int16x8 kernel"),
        "{refusal}"
    );
    assert!(
        stderr.contains("1 of 3 quantization modes could not be converted"),
        "{stderr}"
    );
    // The modes after the refused one were converted, exported and evaluated.
    let variants: Vec<&str> = stdout
        .lines()
        .skip(3)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(variants, ["float", "int8", "float16"], "{stdout}");
    for mode in ["int8", "float16"] {
        let f = dir.join("export").join(mode).join("hard_swish.tflite");
        assert!(f.is_file(), "{} missing", f.display());
    }
    assert!(!dir.join("export").join("int16x8").exists());
}

/// `short_names`: every tensor name but the input's and output's written as one shared empty
/// string. co2's file loses its 689 bytes of names (5,344 → 4,656), the specs still find the
/// input and output by name, and our runtime and LiteRT's reference kernels give the
/// full-names file's outputs bit for bit.
#[test]
fn short_names_shrink_the_file_and_change_no_output() {
    let full = Pipeline::from_dir(model_dir("co2")).load().unwrap();
    let short = Pipeline::from_dir(model_dir("co2"))
        .short_names(true)
        .load()
        .unwrap();
    let a = full.convert(Mode::Int8).unwrap();
    let b = short.convert(Mode::Int8).unwrap();
    assert_eq!(a.tflite.len(), 5344);
    assert_eq!(b.tflite.len(), 4656);
    assert_eq!(short.convert(Mode::Int8).unwrap().tflite, b.tflite);
    let aligned = tflm::run::AlignedBytes::new(&b.tflite);
    let model = tflm_runtime::Model::parse(aligned.as_slice()).unwrap();
    let names: Vec<&str> = (0..model.num_tensors())
        .map(|t| model.tensor(t).name)
        .collect();
    assert_eq!(names[0], "history");
    assert_eq!(
        names.iter().filter(|n| n.is_empty()).count(),
        names.len() - 2
    );
    assert!(names.contains(&"co2_next"), "{names:?}");
    let inputs: Vec<_> = common::test_inputs(&full, &a)
        .into_iter()
        .take(200)
        .collect();
    let want = tflm::run::run_cases(&a.tflite, &inputs, true).unwrap();
    assert_eq!(
        tflm::run::run_cases(&b.tflite, &inputs, true).unwrap(),
        want
    );
    if common::litert_available().is_some() {
        assert_eq!(
            common::litert_outputs("co2_short_names", &b.tflite, &inputs),
            want
        );
    }
    // Part of the description the build cache keys on.
    let described = |short: bool| {
        Pipeline::from_dir(model_dir("co2"))
            .short_names(short)
            .describe_options()
    };
    assert!(described(true).contains("short_names = true"));
    assert!(!described(false).contains("short_names"));
}

//! Helpers shared by the end-to-end tests: where the reference data is, and comparisons.
#![allow(dead_code)]

use std::path::PathBuf;
use tflm::fixtures::TensorData;

/// `../shared/peer-models`, or `$TFLM_PEER_MODELS`. When absent the tests say so and skip,
/// unless `TFLM_REQUIRE_PEER_MODELS=1` (CI), which turns the skip into a failure.
pub fn peer_models() -> Option<PathBuf> {
    let dir = std::env::var_os("TFLM_PEER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-models"));
    if dir.join("hello_world_int8.tflite").exists() {
        return Some(dir);
    }
    let msg = format!(
        "SKIP: peer models not found at {} (set TFLM_PEER_MODELS to the folder)",
        dir.display()
    );
    if std::env::var("TFLM_REQUIRE_PEER_MODELS").as_deref() == Ok("1") {
        panic!("{msg}, and TFLM_REQUIRE_PEER_MODELS=1");
    }
    eprintln!("{msg}");
    None
}

/// The single-op fixtures made by tools/gen_op_fixtures.py.
pub fn op_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tflm-runtime/tests/fixtures/ops")
}

/// Compares tensors: integers exactly, floats within `tol` (relative to max(1, |expected|)).
pub fn compare(
    what: &str,
    got: &TensorData,
    expected: &TensorData,
    tol: f64,
) -> Result<(), String> {
    if got.dtype != expected.dtype
        || got.shape.iter().product::<usize>() != expected.shape.iter().product::<usize>()
    {
        return Err(format!(
            "{what}: got {} {:?}, expected {} {:?}",
            got.dtype, got.shape, expected.dtype, expected.shape
        ));
    }
    let (g, e) = (got.values(), expected.values());
    let mut bad = Vec::new();
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        let ok = if expected.dtype == tflm_runtime::DType::F32 {
            (a - b).abs() <= tol * b.abs().max(1.0)
        } else {
            a == b
        };
        if !ok {
            bad.push(format!("[{i}] {a} != {b}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        let n = bad.len();
        bad.truncate(8);
        Err(format!(
            "{what}: {n} of {} elements differ: {}",
            e.len(),
            bad.join(", ")
        ))
    }
}

/// Whether python3 can import `modules`; when it cannot, says `SKIP: {what} not found` and
/// returns `None`, unless the environment variable `require` is `1` (CI), which fails.
fn python_with(modules: &str, what: &str, require: &str) -> Option<()> {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(());
    }
    let msg = format!("SKIP: {what} not found (pip install -r tools/requirements.txt)");
    if std::env::var(require).as_deref() == Ok("1") {
        panic!("{msg}, and {require}=1");
    }
    eprintln!("{msg}");
    None
}

/// Whether python3 with ai_edge_litert and numpy is there to run models in LiteRT. When it is
/// not, says so and returns `None`, unless `TFLM_REQUIRE_LITERT=1` (CI), which fails.
pub fn litert_available() -> Option<()> {
    python_with(
        "numpy, ai_edge_litert.interpreter",
        "python3 with ai_edge_litert and numpy",
        "TFLM_REQUIRE_LITERT",
    )
}

/// Whether python3 with tflite_micro (TensorFlow Lite Micro's interpreter, the int16x8 LSTM's
/// oracle) and numpy is there. When it is not, says so and returns `None`, unless
/// `TFLM_REQUIRE_TFLITE_MICRO=1` (CI), which fails.
pub fn tflite_micro_available() -> Option<()> {
    python_with(
        "numpy, tflite_micro.python.tflite_micro.runtime",
        "python3 with tflite_micro and numpy",
        "TFLM_REQUIRE_TFLITE_MICRO",
    )
}

/// Runs `model` on each line of `inputs` in TensorFlow Lite Micro's interpreter
/// (tools/tflm_run.py, state reset before each line) and returns the outputs per line.
pub fn tflite_micro_outputs(
    name: &str,
    model: &[u8],
    inputs: &[Vec<TensorData>],
) -> Vec<Vec<TensorData>> {
    script_outputs("tflm_run.py", name, model, inputs)
}

/// Runs `model` on each line of `inputs` in LiteRT's reference kernels (tools/litert_run.py,
/// state reset before each line) and returns the outputs per line.
pub fn litert_outputs(
    name: &str,
    model: &[u8],
    inputs: &[Vec<TensorData>],
) -> Vec<Vec<TensorData>> {
    script_outputs("litert_run.py", name, model, inputs)
}

/// LiteRT's error message for a model it refuses to run (tools/litert_run.py fails).
pub fn litert_refusal(name: &str, model: &[u8], inputs: &[Vec<TensorData>]) -> String {
    match run_script("litert_run.py", name, model, inputs) {
        Ok(_) => panic!("{name}: LiteRT ran the model"),
        Err(e) => e,
    }
}

/// Runs `model` on `inputs` with `tools/{script}` (litert_run.py or tflm_run.py).
fn script_outputs(
    script: &str,
    name: &str,
    model: &[u8],
    inputs: &[Vec<TensorData>],
) -> Vec<Vec<TensorData>> {
    run_script(script, name, model, inputs).unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The outputs per line, or the script's error output.
fn run_script(
    script: &str,
    name: &str,
    model: &[u8],
    inputs: &[Vec<TensorData>],
) -> Result<Vec<Vec<TensorData>>, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("litert_single");
    std::fs::create_dir_all(&dir).unwrap();
    let (m, i) = (
        dir.join(format!("{name}.tflite")),
        dir.join(format!("{name}.inputs.jsonl")),
    );
    std::fs::write(&m, model).unwrap();
    write_cases(&i, inputs, None);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tools")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(path)
        .arg(&m)
        .arg(&i)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(
        tflm::fixtures::parse_cases(&String::from_utf8(out.stdout).unwrap(), script)
            .unwrap()
            .into_iter()
            .map(|c| c.outputs)
            .collect(),
    )
}

/// Writes JSON-lines cases (`tflm run`/`tflm qemu`'s format): one `{"inputs": [...]}` per case,
/// with an `"outputs"` key when `outputs` are given (checked by whoever reads them).
pub fn write_cases(
    path: &std::path::Path,
    inputs: &[Vec<TensorData>],
    outputs: Option<&[Vec<TensorData>]>,
) {
    let json = |ts: &[TensorData]| ts.iter().map(TensorData::to_json).collect::<Vec<_>>();
    let lines: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(n, case)| {
            let mut line = serde_json::json!({ "inputs": json(case) });
            if let Some(outs) = outputs {
                line["outputs"] = json(&outs[n]).into();
            }
            line.to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The pipeline's test split encoded as the converted model's input tensors.
pub fn test_inputs(
    session: &tflm::pipeline::Session,
    c: &tflm::pipeline::Converted,
) -> Vec<Vec<TensorData>> {
    session
        .dataset
        .test
        .iter()
        .map(|ex| c.codec.encode_inputs(&ex.inputs))
        .collect()
}

/// Position of the first `[len, d0, d1]` int32 vector with these dims in a flatbuffer.
pub fn find_shape(bytes: &[u8], dims: &[i32]) -> usize {
    let mut pattern = (dims.len() as u32).to_le_bytes().to_vec();
    for d in dims {
        pattern.extend(d.to_le_bytes());
    }
    bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("shape vector")
        + 4
}

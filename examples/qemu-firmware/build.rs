//! Build-time inputs of the firmware (all optional except where noted):
//! - `TFLM_MODEL`: path of the `.tflite` to run. Default: `hello_world_int8.tflite` from the
//!   peer models next to the repository (`../shared/peer-models`), if present.
//! - `TFLM_CASES`: JSON-lines file, one case per line: `{"inputs":[{"shape","dtype","data"}],
//!   "outputs":[...]}` (the `*.ref.jsonl` fixture format). `outputs` is optional; cases without
//!   it are run and printed but not checked. Default: the default model's `.ref.jsonl`, if
//!   TFLM_MODEL is unset; no cases otherwise.
//! - `TFLM_EXPECT`: JSON-lines file whose line i gives the expected `outputs` of case i
//!   (overrides the outputs in TFLM_CASES).
//! - `TFLM_ARENA`: arena capacity in bytes (default 163840 = 160 KiB).
//! - `TFLM_CARRY_STATE`: `1` keeps the model's state (variable tensors) from case to case
//!   (`*.seq.ref.jsonl`); default `0`: `reset_state()` before every case.
//! - `TFLM_VERIFY_ON_DEVICE`: `1` verifies the model on the device (`Model::parse_with`, as
//!   a firmware must for bytes from elsewhere); default `0`: this script verifies it with
//!   `Model::parse_with` and the firmware's registrations, fails the build with the parse
//!   error if the runtime refuses it, and the firmware opens it with
//!   `Model::from_build_verified` (cfg `tflm_verify_on_device` off).
//!
//! Generates `$OUT_DIR/firmware_data.rs` (model bytes 16-byte aligned, cases as raw
//! little-endian bytes, counts, output metadata). The memory map (`memory.x`) comes from
//! tflm-firmware-harness.
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        // A clear message in cargo's output, then fail the build.
        println!("cargo:warning=tflm-qemu-firmware: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for var in [
        "TFLM_MODEL",
        "TFLM_CASES",
        "TFLM_EXPECT",
        "TFLM_ARENA",
        "TFLM_CARRY_STATE",
        "TFLM_VERIFY_ON_DEVICE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    // ---- the board, by target (its memory.x comes from tflm-firmware-harness's build script,
    // which puts it on the linker's search path) ----
    let target = env::var("TARGET").unwrap_or_default();
    let machine = if target.starts_with("thumbv7em") {
        "mps2-an386"
    } else if target.starts_with("thumbv7m") || target.starts_with("thumbv6m") {
        "mps2-an385"
    } else {
        return Err(format!(
            "unsupported target {target}: use thumbv7em-none-eabihf (mps2-an386), \
             thumbv7m-none-eabi or thumbv6m-none-eabi (mps2-an385)"
        ));
    };
    // cortex-m-rt's linker script (it INCLUDEs memory.x). Set here rather than in
    // .cargo/config.toml so that `cargo build --manifest-path .../Cargo.toml --target ...` from
    // any directory links correctly (cargo reads config files from the current directory).
    println!("cargo:rustc-link-arg-bins=-Tlink.x");

    // ---- model and cases ----
    let default_dir = manifest.join("../../../shared/peer-models");
    let (model_path, cases_path) = match env::var_os("TFLM_MODEL") {
        Some(m) => (absolute(Path::new(&m))?, env::var_os("TFLM_CASES").map(PathBuf::from)),
        None => {
            let m = default_dir.join("hello_world_int8.tflite");
            if !m.exists() {
                return Err("set TFLM_MODEL to the .tflite to run (and TFLM_CASES to its test cases)".into());
            }
            println!("cargo:warning=TFLM_MODEL not set: using {}", m.display());
            let c = env::var_os("TFLM_CASES")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_dir.join("hello_world_int8.ref.jsonl"));
            (absolute(&m)?, Some(c))
        }
    };
    println!("cargo:rerun-if-changed={}", model_path.display());
    let model = fs::read(&model_path).map_err(|e| format!("TFLM_MODEL {}: {e}", model_path.display()))?;
    let io = ModelIo::read(&model).map_err(|e| format!("TFLM_MODEL {}: {e}", model_path.display()))?;

    let mut cases: Vec<Case> = Vec::new();
    if let Some(path) = &cases_path {
        let path = absolute(path)?;
        println!("cargo:rerun-if-changed={}", path.display());
        cases = read_cases(&path, &io, true)?;
    }
    if let Some(path) = env::var_os("TFLM_EXPECT") {
        let path = absolute(Path::new(&path))?;
        println!("cargo:rerun-if-changed={}", path.display());
        let expect = read_cases(&path, &io, false)?;
        if expect.len() != cases.len() {
            return Err(format!(
                "TFLM_EXPECT {} has {} lines but TFLM_CASES has {} cases",
                path.display(),
                expect.len(),
                cases.len()
            ));
        }
        for (c, e) in cases.iter_mut().zip(expect) {
            c.outputs = e.outputs;
        }
    }

    let arena: usize = match env::var("TFLM_ARENA") {
        Ok(s) => parse_size(&s).ok_or_else(|| format!("TFLM_ARENA={s:?} is not a byte count"))?,
        Err(_) => 160 * 1024,
    };
    let carry_state = flag("TFLM_CARRY_STATE")?;
    let verify_on_device = flag("TFLM_VERIFY_ON_DEVICE")?;
    println!("cargo:rustc-check-cfg=cfg(tflm_verify_on_device)");
    if verify_on_device {
        println!("cargo:rustc-cfg=tflm_verify_on_device");
    }

    // ---- blobs ----
    let mut input_blob = Vec::new();
    let mut expected_blob = Vec::new();
    let mut code = String::new();
    let n_in = io.inputs.len();
    let n_out = io.outputs.len();
    writeln!(code, "// Generated by build.rs from {}", model_path.display()).unwrap();
    writeln!(code, "pub const MACHINE: &str = {machine:?};").unwrap();
    writeln!(code, "pub const MODEL_PATH: &str = {:?};", model_path.display().to_string()).unwrap();
    writeln!(code, "/// The model's flatbuffer, 16-byte aligned, in flash (symbol `TFLM_MODEL`).").unwrap();
    writeln!(
        code,
        "#[no_mangle]\npub static TFLM_MODEL: Aligned<[u8; {}]> = Aligned(*include_bytes!({:?}));",
        model.len(),
        model_path.display().to_string()
    )
    .unwrap();
    // Only the model's kernels are linked: per operator code, the registration the runtime
    // itself picks (`ops::registration_for`, as for the macro's generated `OPS`).
    let regs = registrations(&model, &io.op_codes, !verify_on_device)
        .map_err(|e| format!("TFLM_MODEL {}: {e}", model_path.display()))?;
    writeln!(code, "/// The kernels of the model's operators (builtin codes {:?}).", io.op_codes).unwrap();
    writeln!(code, "#[cfg(not(feature = \"dummy\"))]").unwrap();
    writeln!(code, "pub static OPS: &[tflm_runtime::ops::Registration] = &[{}];", regs.join(", ")).unwrap();
    writeln!(code, "pub const ARENA_BYTES: usize = {arena};").unwrap();
    writeln!(code, "pub const CARRY_STATE: bool = {carry_state};").unwrap();
    writeln!(code, "pub const NUM_INPUTS: usize = {n_in};").unwrap();
    writeln!(code, "pub const NUM_OUTPUTS: usize = {n_out};").unwrap();
    writeln!(code, "pub const NUM_CASES: usize = {};", cases.len()).unwrap();
    let mut in_spans = String::new();
    let mut ex_spans = String::new();
    for c in &cases {
        in_spans.push('[');
        for t in &c.inputs {
            write!(in_spans, "({}, {}),", input_blob.len(), t.len()).unwrap();
            input_blob.extend_from_slice(t);
        }
        in_spans.push_str("],");
        match &c.outputs {
            None => ex_spans.push_str("None,"),
            Some(outs) => {
                ex_spans.push_str("Some([");
                for t in outs {
                    write!(ex_spans, "({}, {}),", expected_blob.len(), t.len()).unwrap();
                    expected_blob.extend_from_slice(t);
                }
                ex_spans.push_str("]),");
            }
        }
    }
    fs::write(out.join("inputs.bin"), &input_blob).map_err(|e| e.to_string())?;
    fs::write(out.join("expected.bin"), &expected_blob).map_err(|e| e.to_string())?;
    // The test data under unmangled names too (`TFLM_INPUTS`, `TFLM_EXPECTED`), so that the host
    // can tell the image's code and constants from the test harness's data.
    writeln!(code, "/// Every case's inputs, concatenated (symbol `TFLM_INPUTS`, in flash).").unwrap();
    writeln!(
        code,
        "#[no_mangle]\npub static TFLM_INPUTS: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/inputs.bin\"));",
        input_blob.len()
    )
    .unwrap();
    writeln!(code, "/// Every case's expected outputs, concatenated (symbol `TFLM_EXPECTED`, in flash).").unwrap();
    writeln!(
        code,
        "#[no_mangle]\npub static TFLM_EXPECTED: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/expected.bin\"));",
        expected_blob.len()
    )
    .unwrap();
    writeln!(code, "pub static INPUT_BLOB: &[u8] = &TFLM_INPUTS;").unwrap();
    writeln!(code, "pub static EXPECTED_BLOB: &[u8] = &TFLM_EXPECTED;").unwrap();
    writeln!(code, "pub static INPUT_SPANS: [[(u32, u32); NUM_INPUTS]; NUM_CASES] = [{in_spans}];").unwrap();
    writeln!(code, "pub static EXPECTED_SPANS: [Option<[(u32, u32); NUM_OUTPUTS]>; NUM_CASES] = [{ex_spans}];").unwrap();
    let meta = |ts: &[TensorInfo]| {
        let mut s = String::new();
        for t in ts {
            write!(s, "TensorMeta {{ dtype: {:?}, shape: &{:?} }},", t.dtype.name, t.shape).unwrap();
        }
        s
    };
    writeln!(code, "pub static INPUT_META: [TensorMeta; NUM_INPUTS] = [{}];", meta(&io.inputs)).unwrap();
    writeln!(code, "pub static OUTPUT_META: [TensorMeta; NUM_OUTPUTS] = [{}];", meta(&io.outputs)).unwrap();
    fs::write(out.join("firmware_data.rs"), code).map_err(|e| e.to_string())?;
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    // Cargo runs build scripts in the package's directory: relative paths are relative to
    // examples/qemu-firmware. Pass absolute paths from elsewhere.
    fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// A `0`/`1` environment variable (unset: `0`).
fn flag(var: &str) -> Result<bool, String> {
    match env::var(var).as_deref() {
        Ok("1") | Ok("true") => Ok(true),
        Ok("0") | Ok("false") | Ok("") | Err(_) => Ok(false),
        Ok(other) => Err(format!("{var}={other:?}: use 0 or 1")),
    }
}

fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix(['k', 'K']) {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix(['m', 'M']) {
        (n, 1024 * 1024)
    } else {
        (s, 1)
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mul)
}

/// The registration constant of each operator code: the narrowest one the runtime says runs
/// every operator of that code (`_INT8` ones for int8 models). With `verify`, the model must
/// pass `Model::parse_with` with exactly these registrations (what the firmware's
/// `Model::from_build_verified` relies on): its parse error otherwise. Without, a model the
/// runtime refuses keeps the builtin's own registration, so that the firmware prints the
/// runtime's parse error.
fn registrations(model: &[u8], codes: &[i32], verify: bool) -> Result<Vec<String>, String> {
    // The runtime reads tensor data in place: give it the 16-byte alignment of the firmware's copy.
    let mut buf = vec![0u8; model.len() + 15];
    let at = buf.as_ptr().align_offset(16);
    buf[at..at + model.len()].copy_from_slice(model);
    let bytes = &buf[at..at + model.len()];
    let parsed = tflm_runtime::Model::parse(bytes);
    let chosen: Vec<_> = codes
        .iter()
        .map(|&c| parsed.as_ref().ok().and_then(|m| tflm_runtime::ops::registration_for(m, c)))
        .collect();
    if verify {
        let rejected = |e: &dyn std::fmt::Display| {
            format!("the runtime refuses the model: {e} (TFLM_VERIFY_ON_DEVICE=1 builds a firmware that reports it on the device)")
        };
        parsed.as_ref().map_err(|e| rejected(e))?;
        let list: Vec<_> = chosen.iter().flatten().copied().collect();
        tflm_runtime::Model::parse_with(bytes, &list).map_err(|e| rejected(&e))?;
    }
    Ok(codes
        .iter()
        .zip(&chosen)
        .map(|(&c, r)| match r {
            Some(r) => format!("tflm_runtime::ops::{}", r.name()),
            None => format!(
                "match tflm_runtime::ops::by_code({c}) {{ Some(r) => r, None => panic!(\"operator code {c} has no kernel in tflm-runtime\") }}"
            ),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Element types

#[derive(Clone, Copy, Debug, PartialEq)]
struct DType {
    name: &'static str,
    size: usize,
}

/// TFLite `TensorType` code → dtype name used in the JSON-lines files.
fn dtype_of_tflite(code: i8) -> Result<DType, String> {
    let (name, size) = match code {
        0 => ("float32", 4),
        1 => ("float16", 2),
        2 => ("int32", 4),
        3 => ("uint8", 1),
        4 => ("int64", 8),
        6 => ("bool", 1),
        7 => ("int16", 2),
        9 => ("int8", 1),
        10 => ("float64", 8),
        12 => ("uint64", 8),
        15 => ("uint32", 4),
        16 => ("uint16", 2),
        c => return Err(format!("model input/output of TFLite type code {c} is not supported by the firmware")),
    };
    Ok(DType { name, size })
}

fn encode(dtype: DType, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let int = || -> Result<i128, String> {
        if let Some(i) = v.as_i64() {
            Ok(i as i128)
        } else if let Some(u) = v.as_u64() {
            Ok(u as i128)
        } else if let Some(b) = v.as_bool() {
            Ok(b as i128)
        } else {
            Err(format!("{v} is not an integer"))
        }
    };
    let float = || -> Result<f64, String> {
        match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("{v} is not a number")),
            Value::String(s) => match s.as_str() {
                "nan" | "NaN" => Ok(f64::NAN),
                "inf" | "Infinity" => Ok(f64::INFINITY),
                "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(format!("{v} is not a number")),
            },
            _ => Err(format!("{v} is not a number")),
        }
    };
    macro_rules! int_as {
        ($t:ty) => {{
            let i = int()?;
            let x = <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", dtype.name))?;
            out.extend_from_slice(&x.to_le_bytes());
        }};
    }
    match dtype.name {
        "int8" => int_as!(i8),
        "uint8" => int_as!(u8),
        "int16" => int_as!(i16),
        "uint16" => int_as!(u16),
        "int32" => int_as!(i32),
        "uint32" => int_as!(u32),
        "int64" => int_as!(i64),
        "uint64" => int_as!(u64),
        "bool" => {
            let i = int()?;
            if i != 0 && i != 1 {
                return Err(format!("{i} is not a bool"));
            }
            out.push(i as u8)
        }
        "float32" => out.extend_from_slice(&(float()? as f32).to_le_bytes()),
        "float64" => out.extend_from_slice(&float()?.to_le_bytes()),
        "float16" => out.extend_from_slice(&f32_to_f16(float()? as f32).to_le_bytes()),
        other => return Err(format!("dtype {other} not supported")),
    }
    Ok(())
}

/// IEEE 754 binary16 with round-to-nearest-even (exact for values that came from float16).
fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let mut r = m >> shift;
        let rem = m & ((1 << shift) - 1);
        if rem > half || (rem == half && r & 1 == 1) {
            r += 1;
        }
        return sign | r as u16;
    }
    let mut r = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && r & 1 == 1) {
        r += 1;
    }
    sign | r as u16
}

// ---------------------------------------------------------------------------------------------
// Cases

struct Case {
    inputs: Vec<Vec<u8>>,
    outputs: Option<Vec<Vec<u8>>>,
}

fn read_cases(path: &Path, io: &ModelIo, want_inputs: bool) -> Result<Vec<Case>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| format!("{}:{}: {msg}", path.display(), n + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        let inputs = if want_inputs {
            let list = v.get("inputs").ok_or_else(|| at("no \"inputs\"".into()))?;
            tensors(list, &io.inputs, "input").map_err(at)?
        } else {
            Vec::new()
        };
        let outputs = match v.get("outputs") {
            Some(list) => Some(tensors(list, &io.outputs, "output").map_err(at)?),
            None if want_inputs => None,
            None => return Err(at("no \"outputs\"".into())),
        };
        cases.push(Case { inputs, outputs });
    }
    Ok(cases)
}

fn tensors(list: &Value, model: &[TensorInfo], what: &str) -> Result<Vec<Vec<u8>>, String> {
    let list = list.as_array().ok_or_else(|| format!("\"{what}s\" is not a list"))?;
    if list.len() != model.len() {
        return Err(format!("{} {what}s given, the model has {}", list.len(), model.len()));
    }
    let mut out = Vec::new();
    for (i, (t, m)) in list.iter().zip(model).enumerate() {
        let dtype = t.get("dtype").and_then(Value::as_str).ok_or_else(|| format!("{what} {i}: no dtype"))?;
        if dtype != m.dtype.name {
            return Err(format!("{what} {i}: dtype {dtype}, the model's is {}", m.dtype.name));
        }
        let data = t.get("data").and_then(Value::as_array).ok_or_else(|| format!("{what} {i}: no data list"))?;
        if let Some(shape) = t.get("shape").and_then(Value::as_array) {
            let shape: Vec<i64> = shape.iter().filter_map(Value::as_i64).collect();
            let n: i64 = shape.iter().product();
            if n as usize != data.len() {
                return Err(format!("{what} {i}: shape {shape:?} but {} values", data.len()));
            }
        }
        let n_model: usize = m.shape.iter().map(|&d| d.max(1) as usize).product();
        if data.len() != n_model {
            return Err(format!("{what} {i}: {} values, the model's tensor {:?} has {n_model}", data.len(), m.shape));
        }
        let mut bytes = Vec::with_capacity(data.len() * m.dtype.size);
        for (k, x) in data.iter().enumerate() {
            encode(m.dtype, x, &mut bytes).map_err(|e| format!("{what} {i}[{k}]: {e}"))?;
        }
        out.push(bytes);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// A minimal, bounds-checked reader of the parts of a TFLite flatbuffer the firmware build needs:
// the first subgraph's input and output tensors (shape and type). The runtime verifies the whole
// model; this only gives the build early, precise errors about the cases.

struct TensorInfo {
    dtype: DType,
    shape: Vec<i32>,
}

struct ModelIo {
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    /// Effective builtin code of each operator code (`max(builtin_code,
    /// deprecated_builtin_code)`), without repeats.
    op_codes: Vec<i32>,
}

struct Fb<'a>(&'a [u8]);

impl<'a> Fb<'a> {
    fn u32(&self, at: usize) -> Result<u32, String> {
        let b = self.0.get(at..at + 4).ok_or("flatbuffer offset out of bounds")?;
        Ok(u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn i32(&self, at: usize) -> Result<i32, String> {
        Ok(self.u32(at)? as i32)
    }
    fn u16(&self, at: usize) -> Result<u16, String> {
        let b = self.0.get(at..at + 2).ok_or("flatbuffer offset out of bounds")?;
        Ok(u16::from_le_bytes(b.try_into().unwrap()))
    }
    /// Position of field `id` of the table at `table`, or None when absent.
    fn field(&self, table: usize, id: usize) -> Result<Option<usize>, String> {
        let vt = (table as i64 - self.i32(table)? as i64) as usize;
        let vt_len = self.u16(vt)? as usize;
        let entry = 4 + 2 * id;
        if entry + 2 > vt_len {
            return Ok(None);
        }
        let off = self.u16(vt + entry)? as usize;
        Ok(if off == 0 { None } else { Some(table + off) })
    }
    fn deref(&self, at: usize) -> Result<usize, String> {
        Ok(at + self.u32(at)? as usize)
    }
    /// (start, len) of a vector referenced by field `id`.
    fn vector(&self, table: usize, id: usize) -> Result<Option<(usize, usize)>, String> {
        match self.field(table, id)? {
            None => Ok(None),
            Some(f) => {
                let v = self.deref(f)?;
                Ok(Some((v + 4, self.u32(v)? as usize)))
            }
        }
    }
}

impl ModelIo {
    fn read(buf: &[u8]) -> Result<ModelIo, String> {
        if buf.len() < 8 || &buf[4..8] != b"TFL3" {
            return Err("not a TFLite flatbuffer (no \"TFL3\" identifier)".into());
        }
        let fb = Fb(buf);
        let model = fb.deref(0)?;
        let (sgs, n_sg) = fb.vector(model, 2)?.ok_or("the model has no subgraphs")?;
        if n_sg == 0 {
            return Err("the model has no subgraphs".into());
        }
        let sg = fb.deref(sgs)?;
        let (tensors, n_tensors) = fb.vector(sg, 0)?.ok_or("subgraph 0 has no tensors")?;
        let io = |id: usize| -> Result<Vec<TensorInfo>, String> {
            let (v, n) = fb.vector(sg, id)?.unwrap_or((0, 0));
            let mut list = Vec::new();
            for k in 0..n {
                let t = fb.i32(v + 4 * k)?;
                if t < 0 || t as usize >= n_tensors {
                    return Err(format!("subgraph 0 names tensor {t}, which does not exist"));
                }
                let tensor = fb.deref(tensors + 4 * t as usize)?;
                let shape = match fb.vector(tensor, 0)? {
                    None => Vec::new(),
                    Some((s, len)) => (0..len).map(|j| fb.i32(s + 4 * j)).collect::<Result<_, _>>()?,
                };
                let code = match fb.field(tensor, 1)? {
                    None => 0,
                    Some(f) => *buf.get(f).ok_or("flatbuffer offset out of bounds")? as i8,
                };
                list.push(TensorInfo { dtype: dtype_of_tflite(code)?, shape });
            }
            Ok(list)
        };
        let mut op_codes = Vec::new();
        if let Some((codes, n)) = fb.vector(model, 1)? {
            for k in 0..n {
                let t = fb.deref(codes + 4 * k)?;
                let deprecated = match fb.field(t, 0)? {
                    None => 0,
                    Some(f) => *buf.get(f).ok_or("flatbuffer offset out of bounds")? as i8 as i32,
                };
                let builtin = match fb.field(t, 3)? {
                    None => 0,
                    Some(f) => fb.i32(f)?,
                };
                let code = builtin.max(deprecated);
                if !op_codes.contains(&code) {
                    op_codes.push(code);
                }
            }
        }
        Ok(ModelIo { inputs: io(1)?, outputs: io(2)?, op_codes })
    }
}

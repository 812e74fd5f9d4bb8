//! The Rust source a converted model becomes in firmware: what `include_quantized_model!`
//! expands to and what `Pipeline::write_rust` writes for `include!` from a build script.
//!
//! The items (all `no_std`, no heap, no panics; paths are absolute so they work in any scope):
//! `MODEL` (16-byte aligned bytes) and `MODEL_BYTES`, `ARENA_SIZE` (exact) and the `Arena`
//! type, per input/output shape, length, element type and quantization constants,
//! `quantize_input` / `dequantize_output` (specs normalization and tensor quantization folded
//! into one multiply-add per element through `tflm_runtime::io`, the same functions the host
//! evaluation uses), and a typed `Model` wrapper with `predict`. One input and one output use
//! the names `INPUT_*` / `OUTPUT_*`; with several, each name carries its index (`INPUT0_*`,
//! `quantize_input0`, ...) and `predict` is replaced by the wrapper's `interpreter()`.

use crate::evaluate::{metric_name, Metrics};
use crate::io_codec::TensorCodec;
use crate::pipeline::Converted;
use crate::specs::{Metric, Task};
use std::fmt::Write;
use tflm_runtime::DType;

/// Where the generated code takes the model bytes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelBytes {
    /// A byte-string literal in the source (the proc macro: self-contained expansion).
    Literal,
    /// `include_bytes!` of this path (build scripts: the `.tflite` written next to the source;
    /// the string is pasted verbatim, e.g. `concat!(env!("OUT_DIR"), "/sine.tflite")`).
    Include(String),
}

/// What the doc comments say about the model beyond the converted bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub name: String,
    pub description: String,
    pub task: Task,
    pub metric: Metric,
    /// The unit of the regression output ("" if none).
    pub unit: String,
    /// The imported float model's metrics on the test split.
    pub float: Option<Metrics>,
    /// The converted model's metrics on the test split (host runtime).
    pub converted: Option<Metrics>,
    /// Options in words (`quant = "int8", prune = 0.5, ...`).
    pub options: String,
}

fn rust_type(dtype: DType) -> &'static str {
    match dtype {
        DType::I8 => "i8",
        DType::I16 => "i16",
        _ => "f32",
    }
}

/// An f32 literal that reads back as exactly `x`.
fn f32_lit(x: f32) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        format!("{s}_f32")
    } else {
        format!("{s}.0_f32")
    }
}

fn f32_array(xs: impl Iterator<Item = f32>) -> String {
    let v: Vec<String> = xs.map(f32_lit).collect();
    format!("[{}]", v.join(", "))
}

fn metric_text(summary: &Summary, m: &Metrics) -> String {
    let v = m.get(summary.metric);
    match summary.metric {
        Metric::Accuracy => format!("accuracy {v:.4}"),
        _ if summary.unit.is_empty() => format!("{} {v:.5}", metric_name(summary.metric)),
        _ => format!("{} {v:.5} {}", metric_name(summary.metric), summary.unit),
    }
}

/// The doc comment lines of the whole model (on `MODEL` and `Model`).
fn model_doc(c: &Converted, s: &Summary) -> Vec<String> {
    let mut d = vec![format!(
        "`{}` converted by tflm-rs ({}): {}",
        s.name,
        s.options,
        if s.description.is_empty() {
            "no description in specs.json"
        } else {
            &s.description
        }
    )];
    d.push(String::new());
    d.push(format!(
        "- operators: {} ({} in all); {} parameters; {} MACs per inference",
        c.ops.join(", "),
        c.ops.len(),
        c.parameters,
        c.macs
    ));
    d.push(format!(
        "- model: {} bytes; arena: {} bytes (exact, `ARENA_SIZE`)",
        c.tflite.len(),
        c.arena_size
    ));
    if let (Some(f), Some(q)) = (&s.float, &s.converted) {
        d.push(format!(
            "- test split ({} examples): float {}, {} {} (host runtime, bit-exact with the MCU)",
            q.examples,
            metric_text(s, f),
            c.mode,
            metric_text(s, q)
        ));
    }
    for (what, list) in [("input", &c.codec.inputs), ("output", &c.codec.outputs)] {
        for t in list {
            let q = t
                .quantization
                .map(|(sc, zp)| format!(", scale {sc:?}, zero point {zp}"))
                .unwrap_or_default();
            d.push(format!(
                "- {what} `{}`: shape {:?}, {}{q}",
                t.name,
                t.shape,
                rust_type(t.dtype)
            ));
        }
    }
    d
}

fn doc(out: &mut String, lines: &[String]) {
    for l in lines {
        if l.is_empty() {
            out.push_str("///\n");
        } else {
            let _ = writeln!(out, "/// {l}");
        }
    }
}

/// The loop header and channel expression over the elements of `t` (no index arithmetic for
/// a single channel, so the generated code is lint-clean in the caller's crate).
fn channel_loop(t: &TensorCodec, pair: &str, src: &str) -> (String, String) {
    let n = t.channels.len();
    if n == 1 {
        (format!("for {pair} in {src}"), "0".into())
    } else if t.inner == 1 {
        (
            format!("for (i, {pair}) in {src}.enumerate()"),
            format!("i % {n}"),
        )
    } else {
        (
            format!("for (i, {pair}) in {src}.enumerate()"),
            format!("(i / {}) % {n}", t.inner),
        )
    }
}

/// The constants and conversion function of one input or output.
fn tensor_items(out: &mut String, t: &TensorCodec, prefix: &str, fn_suffix: &str, is_input: bool) {
    let ty = rust_type(t.dtype);
    let up = prefix;
    let _ = writeln!(out, "/// Shape of `{}` in the model.", t.name);
    let _ = writeln!(
        out,
        "pub const {up}_SHAPE: [usize; {}] = {:?};",
        t.shape.len(),
        t.shape
    );
    let _ = writeln!(out, "/// Elements of `{}` per inference.", t.name);
    let _ = writeln!(out, "pub const {up}_LEN: usize = {};", t.len);
    let _ = writeln!(out, "/// Element type of the `{}` tensor.", t.name);
    let type_name = if is_input { "Input" } else { "Output" };
    let _ = writeln!(
        out,
        "pub type {type_name}{} = {ty};",
        fn_suffix.to_ascii_uppercase()
    );
    if let Some((scale, zp)) = t.quantization {
        let _ = writeln!(out, "/// Quantization scale of `{}`.", t.name);
        let _ = writeln!(out, "pub const {up}_SCALE: f32 = {};", f32_lit(scale));
        let _ = writeln!(out, "/// Quantization zero point of `{}`.", t.name);
        let _ = writeln!(out, "pub const {up}_ZERO_POINT: i32 = {zp};");
    }
    let n = t.channels.len();
    let a = f32_array(t.channels.iter().map(|m| m.a));
    let b = f32_array(t.channels.iter().map(|m| m.b));
    let te = format!("{type_name}{}", fn_suffix.to_ascii_uppercase());
    if is_input {
        let nan = match t.dtype {
            DType::F32 => "0.0_f32".to_string(),
            _ => format!("{}", t.quantization.map_or(0, |q| q.1)),
        };
        let convert = match t.dtype {
            DType::I8 => "to_i8",
            DType::I16 => "to_i16",
            _ => "to_f32",
        };
        let what = if t.dtype == DType::F32 {
            "normalized"
        } else {
            "normalized and quantized (rounded half away from zero, saturated)"
        };
        let _ = writeln!(
            out,
            "/// Raw values of `{}` (the dataset's units, row-major) to the model's tensor: \
             {what}; NaN becomes the model's 0.",
            t.name
        );
        let (head, c) = channel_loop(t, "(q, &x)", "q.iter_mut().zip(raw.iter())");
        let _ = writeln!(
            out,
            "pub fn quantize_input{fn_suffix}(raw: &[f32; {up}_LEN]) -> [{te}; {up}_LEN] {{\n    \
             const A: [f32; {n}] = {a};\n    \
             const B: [f32; {n}] = {b};\n    \
             let mut q = [{zero}; {up}_LEN];\n    \
             {head} {{\n        \
             *q = ::tflm_runtime::io::{convert}(x, A[{c}], B[{c}], {nan});\n    \
             }}\n    \
             q\n}}",
            zero = if t.dtype == DType::F32 { "0.0" } else { "0" },
        );
    } else {
        let (from, arg) = match t.dtype {
            DType::F32 => ("from_f32", "y"),
            _ => ("from_q", "y as i32"),
        };
        let _ = writeln!(
            out,
            "/// The model's `{}` tensor to raw values (the dataset's units).",
            t.name
        );
        let (head, c) = channel_loop(t, "(r, &y)", "raw.iter_mut().zip(q.iter())");
        let _ = writeln!(
            out,
            "pub fn dequantize_output{fn_suffix}(q: &[{te}; {up}_LEN]) -> [f32; {up}_LEN] {{\n    \
             const A: [f32; {n}] = {a};\n    \
             const B: [f32; {n}] = {b};\n    \
             let mut raw = [0.0_f32; {up}_LEN];\n    \
             {head} {{\n        \
             *r = ::tflm_runtime::io::{from}({arg}, A[{c}], B[{c}]);\n    \
             }}\n    \
             raw\n}}",
        );
    }
}

/// The generated source for `converted`.
pub fn generate(c: &Converted, summary: &Summary, bytes: &ModelBytes) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by tflm-rs from model directory `{}` ({}). Do not edit.\n",
        summary.name, summary.options
    );
    let n = c.tflite.len();
    doc(&mut out, &model_doc(c, summary));
    let init = match bytes {
        ModelBytes::Literal => {
            let mut lit = String::with_capacity(4 * n + 3);
            lit.push_str("*b\"");
            for b in &c.tflite {
                let _ = write!(lit, "\\x{b:02x}");
            }
            lit.push('"');
            lit
        }
        ModelBytes::Include(path) => format!("*include_bytes!({path})"),
    };
    let _ = writeln!(
        out,
        "pub static MODEL: ::tflm_runtime::Aligned16<{n}> = ::tflm_runtime::Aligned16({init});"
    );
    let _ = writeln!(out, "/// The `.tflite` flatbuffer (16-byte aligned).");
    let _ = writeln!(out, "pub static MODEL_BYTES: &[u8] = &MODEL.0;");
    let _ = writeln!(
        out,
        "/// The exact arena the model needs (`tflm_runtime::Model::arena_size`)."
    );
    let _ = writeln!(out, "pub const ARENA_SIZE: usize = {};", c.arena_size);
    let _ = writeln!(
        out,
        "/// A 16-byte aligned arena of exactly `ARENA_SIZE` bytes: \
         `let mut arena = Arena::zeroed();`."
    );
    let _ = writeln!(
        out,
        "pub type Arena = ::tflm_runtime::Aligned16<ARENA_SIZE>;"
    );
    let _ = writeln!(
        out,
        "/// The model's operators: the bytes were verified with these and `Model::new` opens \
         them with these, so only their kernels are linked.\npub static OPS: &[::tflm_runtime::ops::Registration] = &[{}];",
        c.ops
            .iter()
            .map(|op| format!("::tflm_runtime::ops::{op}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let single = c.codec.inputs.len() == 1 && c.codec.outputs.len() == 1;
    let name = |base: &str, k: usize, n: usize| {
        if n == 1 {
            (base.to_string(), String::new())
        } else {
            (format!("{base}{k}"), k.to_string())
        }
    };
    for (k, t) in c.codec.inputs.iter().enumerate() {
        let (p, s) = name("INPUT", k, c.codec.inputs.len());
        tensor_items(&mut out, t, &p, &s, true);
    }
    for (k, t) in c.codec.outputs.iter().enumerate() {
        let (p, s) = name("OUTPUT", k, c.codec.outputs.len());
        tensor_items(&mut out, t, &p, &s, false);
    }

    doc(&mut out, &model_doc(c, summary));
    out.push_str(
        "///\n/// `Model::new(&mut arena.0)?` opens the bytes (verified when they were \
         generated, with `OPS`) and\n/// plans the arena once; `predict` then runs one \
         inference from raw values to raw values.\n",
    );
    out.push_str(
        "pub struct Model<'a> {\n    interpreter: ::tflm_runtime::Interpreter<'static, 'a>,\n}\n\n",
    );
    out.push_str("impl<'a> Model<'a> {\n");
    out.push_str(
        "    /// Opens `MODEL_BYTES`, which `Model::parse_with` verified with `OPS` when they \
         were\n    /// generated (`Model::from_build_verified`: no verifier on the device), and \
         plans `arena`\n    /// (at least `ARENA_SIZE` bytes, 16-byte aligned, or 15 more).\n    \
         pub fn new(arena: &'a mut [u8]) -> Result<Self, ::tflm_runtime::Error> {\n        \
         let model = ::tflm_runtime::Model::from_build_verified(MODEL_BYTES, OPS)?;\n        \
         Ok(Model { interpreter: ::tflm_runtime::Interpreter::new(&model, arena)? })\n    }\n\n",
    );
    if single {
        out.push_str(
            "    /// One inference on one example: state (LSTM, SVDF) starts from zero, as in \
             the source\n    /// model (Keras/ONNX) and the evaluation; raw values in, raw \
             values out.\n    \
             pub fn predict(&mut self, input: &[f32; INPUT_LEN]) -> Result<[f32; OUTPUT_LEN], \
             ::tflm_runtime::Error> {\n        \
             self.interpreter.reset_state();\n        \
             self.predict_streaming(input)\n    }\n\n",
        );
        out.push_str(
            "    /// One inference that keeps the state of variable tensors from the previous \
             call\n    /// (streaming use of a stateful model); `reset_state` starts over.\n    \
             pub fn predict_streaming(&mut self, input: &[f32; INPUT_LEN]) -> Result<[f32; \
             OUTPUT_LEN], ::tflm_runtime::Error> {\n        \
             let q = quantize_input(input);\n        \
             for (d, s) in self.interpreter.input::<Input>(0)?.iter_mut().zip(q.iter()) {\n            \
             *d = *s;\n        }\n        \
             self.interpreter.invoke()?;\n        \
             let mut y = [Default::default(); OUTPUT_LEN];\n        \
             for (d, s) in y.iter_mut().zip(self.interpreter.output::<Output>(0)?.iter()) {\n            \
             *d = *s;\n        }\n        \
             Ok(dequantize_output(&y))\n    }\n\n",
        );
        if summary.task == Task::Classification {
            out.push_str(
                "    /// The predicted class: the index of the largest output (state reset \
                 first).\n    \
                 pub fn predict_class(&mut self, input: &[f32; INPUT_LEN]) -> Result<usize, \
                 ::tflm_runtime::Error> {\n        \
                 self.interpreter.reset_state();\n        \
                 let q = quantize_input(input);\n        \
                 for (d, s) in self.interpreter.input::<Input>(0)?.iter_mut().zip(q.iter()) \
                 {\n            *d = *s;\n        }\n        \
                 self.interpreter.invoke()?;\n        \
                 Ok(::tflm_runtime::io::argmax(self.interpreter.output::<Output>(0)?).unwrap_or(0))\n    \
                 }\n\n",
            );
        }
    }
    out.push_str(
        "    /// Zeroes the variable tensors (LSTM/SVDF state).\n    \
         pub fn reset_state(&mut self) {\n        self.interpreter.reset_state();\n    }\n\n    \
         /// The interpreter, for raw tensor access.\n    \
         pub fn interpreter(&mut self) -> &mut ::tflm_runtime::Interpreter<'static, 'a> {\n        \
         &mut self.interpreter\n    }\n}\n",
    );
    allow_unused(&out)
}

/// Every top-level item marked `#[allow(dead_code)]`: firmware uses part of the generated API,
/// and the rest must not warn in the caller's crate.
fn allow_unused(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 1024);
    for line in source.lines() {
        if line.starts_with("pub ") || line.starts_with("impl") {
            out.push_str("#[allow(dead_code)]\n");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_literals_read_back_exactly() {
        for x in [1.0f32, 0.013237465, -3.5e-7, 1e10, 255.0] {
            let s = f32_lit(x);
            let v: f32 = s.trim_end_matches("_f32").parse().unwrap();
            assert_eq!(v, x, "{s}");
        }
    }
}

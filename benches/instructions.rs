//! Instructions (x86-64) per `Model::parse`, `Model::arena_size`, `Interpreter::new` and
//! steady-state `Interpreter::invoke` for each peer model, counted by valgrind's callgrind:
//! unlike wall time on a shared machine, these counts are exactly reproducible.
//!
//! `cargo bench --bench instructions` runs itself once per model and operation under
//! `valgrind --tool=callgrind --toggle-collect=*measured*`, so that only the operation is
//! counted, and prints a Markdown table (docs/performance.md). Without valgrind or the peer
//! models it says so and counts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use tflm::fixtures::read_cases;
use tflm::run::{arena, set_inputs, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

const MODELS: [&str; 6] = [
    "hello_world_int8",
    "hello_world_float",
    "micro_speech_quantized",
    "person_detect",
    "keyword_scrambled",
    "simple_add_model",
];
const OPS: [&str; 4] = ["parse", "arena_size", "new", "invoke"];

/// The only code callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured(f: &mut dyn FnMut()) {
    f()
}

/// Runs `op` once on `name` inside `measured` (the child process, under callgrind).
fn child(dir: &Path, name: &str, op: &str) {
    let bytes = AlignedBytes::new(&std::fs::read(dir.join(format!("{name}.tflite"))).unwrap());
    let model = Model::parse(bytes.as_slice()).unwrap();
    let mut mem = arena(model.arena_size());
    match op {
        "parse" => measured(&mut || {
            std::hint::black_box(Model::parse(std::hint::black_box(bytes.as_slice())).unwrap());
        }),
        "arena_size" => measured(&mut || {
            std::hint::black_box(std::hint::black_box(&model).arena_size());
        }),
        "new" => {
            let mem = mem.as_mut_slice();
            measured(&mut || {
                let interpreter = Interpreter::new(&model, &mut *mem).unwrap();
                std::hint::black_box(interpreter.arena_used());
            })
        }
        "invoke" => {
            let cases = read_cases(&dir.join(format!("{name}.ref.jsonl"))).unwrap();
            let mut interpreter = Interpreter::new(&model, mem.as_mut_slice()).unwrap();
            set_inputs(&mut interpreter, &cases[0].inputs).unwrap();
            interpreter.invoke().unwrap();
            measured(&mut || interpreter.invoke().unwrap());
        }
        _ => panic!("unknown operation {op}"),
    }
}

/// Instructions callgrind counted in `measured` for `op` on `name`.
fn count(dir: &Path, name: &str, op: &str) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!("tflm-callgrind-{}.out", std::process::id()));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=*measured*", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["--child", name, op])
        .env("TFLM_PEER_MODELS", dir)
        .status()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !status.success() {
        return Err(format!("{name} {op}: valgrind exited with {status}"));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.trim().parse().ok())
        .ok_or(format!("{name} {op}: no totals in the callgrind output"))
}

fn fmt(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    let dir = std::env::var_os("TFLM_PEER_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-models"));
    let args: Vec<String> = std::env::args().collect();
    if let Some(k) = args.iter().position(|a| a == "--child") {
        child(&dir, &args[k + 1], &args[k + 2]);
        return;
    }
    if !dir.join("hello_world_int8.tflite").exists() {
        eprintln!(
            "SKIP: peer models not found at {} (set TFLM_PEER_MODELS to the folder); \
             nothing counted",
            dir.display()
        );
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("SKIP: valgrind not found; nothing counted");
        return;
    }
    println!("| model | parse | arena_size | new | parse + new | invoke |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in MODELS {
        let counts: Vec<u64> = OPS
            .iter()
            .map(|op| count(&dir, name, op).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            fmt(counts[0]),
            fmt(counts[1]),
            fmt(counts[2]),
            fmt(counts[0] + counts[2]),
            fmt(counts[3])
        );
    }
}

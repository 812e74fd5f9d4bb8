//! The `tflm` command line.

mod convert;
mod prune_tflite;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tflm::fixtures::{read_cases, TensorData};
use tflm::run::{arena, outputs, set_inputs, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

#[derive(Parser)]
#[command(
    name = "tflm",
    version,
    about = "TensorFlow Lite for microcontrollers, from Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model directory (model.onnx or float model.tflite, specs.json, dataset.csv)
    /// to TFLite in one or more quantization modes, evaluate every variant on the test split
    /// with the host runtime, and optionally export and plot.
    Convert(convert::ConvertArgs),
    /// Print a model's tensors, operators, exact arena bytes and MAC count.
    Inspect { model: PathBuf },
    /// Prune an int8 `.tflite` as it is (no re-quantization, no dataset): zero the smallest
    /// FULLY_CONNECTED weights and CONV_2D filters by real magnitude (`q x scale`), per layer,
    /// and write it with the pruned weights dense or sparse-encoded.
    Prune(prune_tflite::PruneArgs),
    /// Run a model on the host runtime (bit-exact with the MCU) over JSON-lines inputs
    /// (`{"inputs":[{"shape","dtype","data"}]}` per line); print one line of outputs per input.
    Run {
        model: PathBuf,
        #[arg(long)]
        inputs: PathBuf,
        /// Keep variable tensors (SVDF/LSTM state) from one line to the next instead of
        /// resetting them before each line.
        #[arg(long)]
        keep_state: bool,
    },
    /// Build the firmware of examples/qemu-firmware for a model and its cases, run it on an
    /// emulated Cortex-M (qemu-system-arm, -icount shift=0) and check every output. Prints the
    /// outputs on stdout as `tflm run` does, then a summary on stderr: instructions per invoke
    /// and setup, flash (model and test data apart) and RAM (arena, statics, peak stack).
    Qemu {
        model: PathBuf,
        /// JSON-lines cases; an "outputs" key on a line is checked too.
        #[arg(long)]
        inputs: PathBuf,
        /// JSON-lines expected outputs, line i for case i (replaces those in --inputs).
        #[arg(long)]
        expect: Option<PathBuf>,
        /// mps2-an386 (Cortex-M4F, thumbv7em-none-eabihf) or mps2-an385 (Cortex-M3, thumbv7m).
        #[arg(long, default_value = "mps2-an386")]
        machine: tflm::qemu::Machine,
        /// Keep variable tensors (SVDF/LSTM state) from one line to the next.
        #[arg(long)]
        keep_state: bool,
        /// Arena capacity in bytes (default: exactly what the model needs).
        #[arg(long)]
        arena: Option<usize>,
        /// QEMU's time limit in seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Also build the firmware with a stand-in interpreter and report the runtime's code
        /// bytes as the difference (one more build).
        #[arg(long)]
        runtime_code: bool,
        /// The firmware's opt-level: 3 (default), s or z (size), 2, 1, 0.
        #[arg(long)]
        opt_level: Option<String>,
        /// Verify the model on the device (`Model::parse_with`) instead of at build time
        /// (default: the build verifies it, the firmware opens it with
        /// `Model::from_build_verified`).
        #[arg(long)]
        verify_on_device: bool,
        /// Print the summary as a last JSON line `{"summary":{...}}` on stdout as well.
        #[arg(long)]
        json: bool,
    },
}

fn load(path: &Path) -> Result<AlignedBytes, String> {
    std::fs::read(path)
        .map(|b| AlignedBytes::new(&b))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn parse<'m>(path: &Path, bytes: &'m AlignedBytes) -> Result<Model<'m>, String> {
    Model::parse(bytes.as_slice()).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(model_path: &Path, inputs: &Path, keep_state: bool) -> Result<(), String> {
    let bytes = load(model_path)?;
    let model = parse(model_path, &bytes)?;
    let cases = read_cases(inputs).map_err(|e| e.to_string())?;
    let mut arena = arena(model.arena_size());
    let mut interpreter =
        Interpreter::new(&model, arena.as_mut_slice()).map_err(|e| e.to_string())?;
    for case in &cases {
        if !keep_state {
            interpreter.reset_state();
        }
        let at = |e: String| format!("{}:{}: {e}", inputs.display(), case.line);
        set_inputs(&mut interpreter, &case.inputs).map_err(at)?;
        interpreter.invoke().map_err(|e| at(e.to_string()))?;
        let outs: Vec<serde_json::Value> = outputs(&interpreter)?
            .iter()
            .map(TensorData::to_json)
            .collect();
        println!("{}", serde_json::json!({ "outputs": outs }));
    }
    Ok(())
}

fn qemu(opts: &tflm::qemu::QemuOptions, json: bool) -> Result<(), String> {
    let print = |r: &tflm::qemu::QemuReport| {
        for o in &r.outputs {
            println!("{}", o.line);
        }
        if json {
            println!("{}", serde_json::json!({ "summary": r.summary_json() }));
        }
        eprint!("{}", r.summary_text());
    };
    match tflm::qemu::run(opts) {
        Ok(r) => {
            print(&r);
            Ok(())
        }
        Err(tflm::qemu::QemuError::Mismatch { report, details }) => {
            print(&report);
            Err(format!(
                "{} output tensors differ: {}",
                details.len(),
                details.join("; ")
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert::convert(args),
        Command::Prune(args) => prune_tflite::prune_tflite(&args),
        Command::Inspect { model } => load(&model).and_then(|b| {
            let m = parse(&model, &b)?;
            print!("{}", tflm::inspect::report(&m));
            Ok(())
        }),
        Command::Run {
            model,
            inputs,
            keep_state,
        } => run(&model, &inputs, keep_state),
        Command::Qemu {
            model,
            inputs,
            expect,
            machine,
            keep_state,
            arena,
            timeout,
            runtime_code,
            opt_level,
            verify_on_device,
            json,
        } => {
            let opts = tflm::qemu::QemuOptions {
                expect,
                machine,
                keep_state,
                arena,
                timeout: std::time::Duration::from_secs(timeout),
                runtime_code,
                opt_level,
                verify_on_device,
                progress: true,
                ..tflm::qemu::QemuOptions::new(model, inputs)
            };
            qemu(&opts, json)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tflm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

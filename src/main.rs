//! The `tflm` command line.

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
    /// Print a model's tensors, operators, exact arena bytes and MAC count.
    Inspect { model: PathBuf },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tflm: error: {e}");
            ExitCode::FAILURE
        }
    }
}

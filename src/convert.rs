//! `tflm convert MODEL_DIR`: the pipeline over a model directory, every requested variant
//! evaluated on the test split, exports and the plot.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use tflm::calibrate::Method;
use tflm::pipeline::{Converted, Options, Pipeline, Session, Stage};
use tflm::prune::Ranking;
use tflm::quantize::{IoKind, Mode};
use tflm::report::{Report, Variant};

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The model directory: model.onnx (or a float model.tflite), specs.json, dataset.csv.
    dir: Option<PathBuf>,
    /// The model directory (the original tool's spelling).
    #[arg(long = "input-dir", alias = "input_dir", value_name = "DIR")]
    input_dir: Option<PathBuf>,
    /// Quantization modes, comma-separated or repeated: none, float16, dynamic, int8,
    /// int8_float_fallback, int16x8 (or the original tool's names).
    #[arg(
        short = 'q',
        long = "quant",
        alias = "quantization_type",
        alias = "quantization-type",
        value_delimiter = ',',
        default_value = "int8"
    )]
    quant: Vec<Mode>,
    /// Magnitude pruning: the fraction of each weight tensor set to zero (0.5 without a value).
    #[arg(short = 'p', long, num_args = 0..=1, default_missing_value = "0.5", value_name = "SPARSITY")]
    prune: Option<f32>,
    /// Structured pruning: remove the --prune fraction of whole units of each layer, neurons
    /// (FULLY_CONNECTED, LSTM cells) or channels (CONV_2D), and rewire the layers that read them.
    #[arg(
        long = "prune-structure",
        alias = "prune_structure",
        value_name = "UNITS"
    )]
    prune_structure: Option<tflm::prune::Structure>,
    /// Rank weights for pruning over all layers at once instead of per layer.
    #[arg(long)]
    global_pruning: bool,
    /// Block pruning: FULLY_CONNECTED weights and CONV_2D filters pruned in 1x4 blocks (4
    /// consecutive input columns of one output row, ranked per layer by mean magnitude),
    /// written in the 1x4 block encoding whose kernel is faster than dense (other layers
    /// weight by weight).
    #[arg(
        long = "prune-block",
        alias = "prune_block",
        value_name = "BLOCK",
        conflicts_with_all = ["global_pruning", "prune_structure"]
    )]
    prune_block: Option<tflm::prune::PruneBlock>,
    /// Pruned int8 FULLY_CONNECTED and LSTM gate weights in tflm-rs's sparse encoding: auto (each
    /// tensor the encoding shrinks), fast (as auto, FULLY_CONNECTED weights only where the sparse
    /// kernel is also faster: from about 81% zeros), always, or never (dense: for LiteRT and
    /// TensorFlow Lite Micro, which cannot read it).
    #[arg(long = "sparse-weights", default_value = "auto", value_name = "WHEN")]
    sparse_weights: tflm::sparse::SparseWeights,
    /// Empty tensor names except the model's inputs and outputs (co2: 689 fewer bytes of names)
    #[arg(long)]
    short_names: bool,
    /// Calibration method: minmax, percentile or mse.
    #[arg(long, default_value = "minmax")]
    calibration: Method,
    /// Calibration examples (default: the specs' representative_rows).
    #[arg(long)]
    samples: Option<usize>,
    /// Input/output type of integer modes: int8 (int16 for int16x8) or float32.
    #[arg(long, default_value = "int8")]
    io: IoKind,
    /// Write the .tflite, the C array, the MicroPython module and the updated specs.json.
    #[arg(short = 'e', long)]
    export: bool,
    /// Where exports and the plot go (default: MODEL_DIR/export).
    #[arg(long = "export-dir", alias = "export_dir", value_name = "DIR")]
    export_dir: Option<PathBuf>,
    /// Write a PNG of every variant's metric and size (results.png in the export directory).
    #[arg(long = "plot-results", alias = "plot_results")]
    plot_results: bool,
    /// Post-training quantization (the original tool's flag; this is what convert does).
    #[arg(long = "PTQ")]
    ptq: bool,
    /// Quantization-aware training before the integer conversion (fine-tuning with fake
    /// quantization; --finetune-epochs epochs, default 2).
    #[arg(long = "QAT", alias = "qat")]
    qat: bool,
    /// Fine-tune on the training split for N epochs (with --prune: prune gradually meanwhile).
    #[arg(
        long = "finetune-epochs",
        alias = "finetune_epochs",
        value_name = "N",
        default_value_t = 0
    )]
    finetune_epochs: usize,
    /// Learning rate of fine-tuning and QAT (default: specs.json's training.learning_rate, 3
    /// times that when pruning).
    #[arg(long = "learning-rate", value_name = "LR")]
    learning_rate: Option<f64>,
    /// With --prune and --finetune-epochs: keep the weights of the last step instead of their
    /// moving average over the steps after the sparsity ramp.
    #[arg(long = "no-weight-averaging")]
    no_weight_averaging: bool,
    /// Layers pruning leaves dense: weight tensor names or operator indices, comma-separated.
    #[arg(long = "prune-skip", value_delimiter = ',', value_name = "LAYER")]
    prune_skip: Vec<String>,
    /// Skip the evaluation on the test split.
    #[arg(long)]
    no_eval: bool,
    /// Seed of random choices.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    b.set_message(what.to_string());
    b
}

pub fn convert(args: ConvertArgs) -> Result<(), String> {
    let metric_label = match dir_metric(&args) {
        Some(m) => tflm::evaluate::metric_name(m),
        None => "metric",
    };
    let dir = match (&args.dir, &args.input_dir) {
        (Some(d), None) | (None, Some(d)) => d.clone(),
        (Some(_), Some(_)) => {
            return Err("give the model directory once (as an argument or --input-dir)".into())
        }
        (None, None) => return Err("no model directory given (tflm convert MODEL_DIR)".into()),
    };
    let _ = args.ptq;
    let mut modes: Vec<Mode> = Vec::new();
    for &m in &args.quant {
        if !modes.contains(&m) {
            modes.push(m);
        }
    }
    let options = Options {
        quant: modes[0],
        prune: args.prune,
        prune_structure: args.prune_structure,
        ranking: if args.global_pruning {
            Ranking::Global
        } else if args.prune_block.is_some() {
            Ranking::Blocks1x4
        } else {
            Ranking::PerLayer
        },
        calibration: args.calibration,
        samples: args.samples,
        io: args.io,
        seed: args.seed,
        finetune_epochs: args.finetune_epochs,
        qat: args.qat,
        prune_skip: args.prune_skip.clone(),
        train_examples: None,
        learning_rate: args.learning_rate,
        weight_averaging: !args.no_weight_averaging,
        sparse: args.sparse_weights,
        short_names: args.short_names,
    };
    if args.qat && !modes.iter().any(|m| m.needs_calibration()) {
        return Err(
            "--QAT trains for an integer mode (int8, int8_float_fallback, int16x8); none was asked"
                .into(),
        );
    }
    let pipeline = Pipeline::from_dir(&dir).with_options(options);
    let epoch_bar = bar(0, "training");
    let session = pipeline
        .load_with_progress(&mut |stage, e| {
            let what = match stage {
                Stage::Finetune => "fine-tuning",
                Stage::Qat => "QAT",
            };
            epoch_bar.set_length(e.epochs as u64);
            epoch_bar.set_position(e.epoch as u64);
            epoch_bar.set_message(format!("{what} loss {:.5}", e.loss));
            epoch_bar.println(format!(
                "{what} epoch {}/{}: loss {:.5}, test {} {:.5} (float){}",
                e.epoch,
                e.epochs,
                e.loss,
                metric_label,
                e.metric,
                if e.sparsity > 0.0 {
                    format!(", sparsity {:.1}%", 100.0 * e.sparsity)
                } else {
                    String::new()
                }
            ));
        })
        .map_err(|e| e.to_string())?;
    epoch_bar.finish_and_clear();
    for (what, report) in [("fine-tuning", &session.finetune), ("QAT", &session.qat)] {
        if let Some(r) = report {
            if let Some(last) = r.epochs.last() {
                eprintln!(
                    "{what}: test {metric_label} {:.5} before, {:.5} after {} epochs (float forward pass)",
                    r.metric_before, r.metric_after, last.epochs
                );
            }
        }
    }
    let name = session.specs.name.clone().unwrap_or_else(|| "model".into());
    eprintln!(
        "{}: {} operators, {} from {}",
        name,
        session.imported.ops.len(),
        if session.options.prune.is_some() {
            "pruned"
        } else {
            "float"
        },
        session.model_path.display()
    );
    for l in &session.sparsity {
        eprintln!("  pruned {l}");
    }
    for l in &session.units {
        let outcome = match &l.kept_because {
            Some(why) => format!("kept ({why})"),
            None => format!("{} removed", l.removed),
        };
        eprintln!(
            "  op {} ({}) {}: {} -> {} units, {outcome}",
            l.op,
            l.op_name,
            l.tensor,
            l.units,
            l.units - l.removed
        );
    }
    if modes.iter().any(|m| m.needs_calibration()) {
        let n = session.calibration_inputs().len();
        let b = bar(n, "calibration");
        session
            .ranges_with_progress(&mut |d| b.set_position(d as u64))
            .map_err(|e| e.to_string())?;
        b.finish_and_clear();
        eprintln!(
            "calibrated on {n} examples ({:?})",
            session.options.calibration
        );
    }

    // The variants: the imported float model, the pruned float one, then each mode.
    let mut variants: Vec<(String, Converted)> = vec![(
        "float".into(),
        session.convert_imported().map_err(|e| e.to_string())?,
    )];
    let trained = training_label(&session.options);
    if session.options.prune.is_some() || session.options.finetune_epochs > 0 {
        variants.push((
            format!("float{}", trained.replace(" qat", "")),
            session.convert(Mode::None).map_err(|e| e.to_string())?,
        ));
    }
    // A mode the model cannot take (int16x8 with an LSTM, ...) is reported and skipped, so the
    // other modes still convert; the command fails at the end, naming it.
    let mut refused: Vec<String> = Vec::new();
    for &m in &modes {
        if m == Mode::None {
            continue;
        }
        let label = format!("{m}{trained}");
        match session.convert(m) {
            Ok(c) => variants.push((label, c)),
            Err(e) => {
                eprintln!("{label}: not converted: {e}");
                refused.push(format!("{m}: {e}"));
            }
        }
    }
    let result = if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} quantization modes could not be converted:\n  {}",
            refused.len(),
            modes.iter().filter(|&&m| m != Mode::None).count(),
            refused.join("\n  ")
        ))
    };

    let export_dir = args
        .export_dir
        .clone()
        .unwrap_or_else(|| dir.join("export"));
    if args.export {
        for (label, c) in &variants[1..] {
            let written =
                tflm::export::write_all(&export_dir, &name, c).map_err(|e| e.to_string())?;
            eprintln!("exported {label}:");
            for p in written {
                eprintln!("  {}", p.display());
            }
            if c.ops.iter().any(|o| o.contains("_SPARSE")) {
                eprintln!(
                    "  note: sparse-encoded weights: these files run on tflm-runtime only; \
                     LiteRT and TensorFlow Lite Micro need --sparse-weights never"
                );
            }
        }
        if variants.len() == 1 {
            eprintln!("nothing to export: no quantization mode other than none was asked");
        }
    }

    if args.no_eval {
        for (label, c) in &variants {
            println!(
                "{label}: {} bytes, arena {} bytes, {} MACs",
                c.tflite.len(),
                c.arena_size,
                c.macs
            );
        }
        return result;
    }
    let mut report = Report {
        model: name.clone(),
        task: session.specs.task,
        metric: session.specs.metric(),
        unit: session
            .specs
            .outputs
            .first()
            .map(|o| o.unit().to_string())
            .unwrap_or_default(),
        variants: Vec::new(),
    };
    let n = session.dataset.test.len();
    for (label, c) in &variants {
        let b = bar(n, &format!("evaluating {label}"));
        let metrics = session
            .evaluate(c, label, &mut |d| b.set_position(d as u64))
            .map_err(|e| e.to_string())?;
        b.finish_and_clear();
        report.variants.push(Variant {
            name: label.clone(),
            metrics,
            model_bytes: c.tflite.len(),
            arena_bytes: c.arena_size,
            macs: c.macs,
            parameters: c.parameters,
            sparsity: tflm::prune::sparsity_of(session_graph_for(&session, label)),
        });
    }
    println!(
        "{name}: {} on the test split ({n} examples), host runtime (bit-exact with the MCU)",
        tflm::evaluate::metric_name(report.metric)
    );
    print!("{}", report.table());
    if args.plot_results {
        std::fs::create_dir_all(&export_dir)
            .map_err(|e| format!("{}: {e}", export_dir.display()))?;
        let path = export_dir.join("results.png");
        tflm::plot::plot(&report, &path)?;
        eprintln!("plot: {}", path.display());
    }
    result
}

/// What was done to the float model, for variant labels: " pruned 50% ft2 qat".
fn training_label(o: &Options) -> String {
    let mut s = String::new();
    if let Some(p) = o.prune {
        s.push_str(&format!(" pruned {:.0}%", 100.0 * p));
        if let Some(st) = o.prune_structure {
            s.push_str(&format!(" {st}"));
        }
        if o.ranking == Ranking::Blocks1x4 {
            s.push_str(" 1x4");
        }
    }
    if o.finetune_epochs > 0 {
        s.push_str(&format!(" ft{}", o.finetune_epochs));
    }
    if o.qat {
        s.push_str(" qat");
    }
    s
}

/// The specs' metric, for the training lines (None when the specs do not read; the pipeline
/// then reports the error).
fn dir_metric(args: &ConvertArgs) -> Option<tflm::specs::Metric> {
    let dir = args.dir.as_ref().or(args.input_dir.as_ref())?;
    tflm::specs::Specs::from_dir(dir).ok().map(|s| s.metric())
}

/// The float graph a variant came from: the imported one for "float", the pruned one else.
fn session_graph_for<'s>(session: &'s Session, label: &str) -> &'s tflm::ir::Graph {
    if label == "float" {
        &session.imported
    } else {
        &session.float
    }
}

//! The conversion pipeline of `DESIGN.md`: model directory → import → prune → calibrate →
//! quantize → write → check → report. The CLI, the build-script API and the proc macro all
//! run exactly this.
//!
//! ```no_run
//! use tflm::pipeline::Pipeline;
//! use tflm::quantize::Mode;
//! let out = Pipeline::from_dir("models/sine").quant(Mode::Int8).run()?;
//! std::fs::write("sine.tflite", &out.tflite)?;
//! println!("arena: {} bytes", out.arena_size);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::calibrate::{self, CalibrationError, Method, Ranges};
use crate::codegen::{self, ModelBytes, Summary};
use crate::dataset::Dataset;
use crate::evaluate::{self, EvaluateError, Metrics};
use crate::io_codec::{CodecError, ModelCodec};
use crate::ir::{DType, Graph};
use crate::prune::{self, structured, LayerSparsity, LayerUnits, PruneError, Ranking, Structure};
use crate::quantize::{self, IoKind, Mode, QuantizeError};
use crate::run::AlignedBytes;
use crate::sparse::SparseWeights;
use crate::specs::{IoType, Specs, SpecsError};
use crate::train::{
    self, Averaging, Epoch, LrSchedule, PruneSchedule, QatStart, RangeObserver, TrainConfig,
    TrainError, TrainReport, PRUNING_AVERAGING,
};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use tflm_runtime::Model;

/// Everything that can be chosen about a conversion.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub quant: Mode,
    /// Magnitude pruning: the fraction of each weight tensor set to zero, in `[0, 1)`.
    pub prune: Option<f32>,
    /// Structured pruning: `prune` is then the fraction of whole units (neurons or channels)
    /// removed from each layer, and the layers reading them are rewired (`src/prune/`).
    pub prune_structure: Option<Structure>,
    pub ranking: Ranking,
    pub calibration: Method,
    /// Calibration examples (default: the specs' `dataset.representative_rows`).
    pub samples: Option<usize>,
    pub io: IoKind,
    /// Seed of every random choice (fine-tuning, sampling); conversion itself is deterministic.
    pub seed: u64,
    /// Epochs of fine-tuning on the training split (0: none). With `prune`, the weights are
    /// pruned gradually during these epochs (tfmot's polynomial-decay schedule, `src/train/`).
    pub finetune_epochs: usize,
    /// Quantization-aware training before an integer conversion: `finetune_epochs` epochs (2
    /// when that is 0) with fake quantization, then the observed ranges are used.
    pub qat: bool,
    /// Layers pruning leaves dense: weight tensor names or operator indices.
    pub prune_skip: Vec<String>,
    /// Train (fine-tuning, QAT) on the first `n` training examples only: quick builds and
    /// tests; the default is the whole training split.
    pub train_examples: Option<usize>,
    /// Fine-tuning and QAT learning rate (default: the specs' `training.learning_rate`, times
    /// [`PRUNING_LR_SCALE`] when fine-tuning while pruning).
    pub learning_rate: Option<f64>,
    /// Fine-tuning while pruning: take the final weights as their moving average over the
    /// steps after the sparsity ramp ([`PRUNING_AVERAGING`]) instead of the last step's.
    pub weight_averaging: bool,
    /// Pruned int8 FULLY_CONNECTED and LSTM gate weights in tflm-rs's sparse encoding
    /// ([`Pipeline::sparse_weights`]; `Never` for a file LiteRT or TFLite Micro must load).
    pub sparse: SparseWeights,
    /// Write every tensor name but the model inputs' and outputs' as the empty string (one
    /// string shared by all): on co2 689 of the file's 5,344 bytes are names. The names only
    /// serve people reading the file and error messages, which still give the tensor index.
    pub short_names: bool,
}

/// Fine-tuning while pruning runs at this multiple of the specs' learning rate (the rate the
/// model was trained at), unless `learning_rate` says otherwise: at the specs' rate co2 and
/// digits were still recovering from the cut when 2 epochs ended, and 3 times that with
/// [`PRUNING_AVERAGING`] recovered them at every seed (`docs/quality.md`, session 8).
pub const PRUNING_LR_SCALE: f64 = 3.0;

/// QAT's epochs when `finetune_epochs` does not say.
pub const DEFAULT_QAT_EPOCHS: usize = 2;

impl Default for Options {
    fn default() -> Options {
        Options {
            quant: Mode::Int8,
            prune: None,
            prune_structure: None,
            ranking: Ranking::PerLayer,
            calibration: Method::MinMax,
            samples: None,
            io: IoKind::Integer,
            seed: 0,
            finetune_epochs: 0,
            qat: false,
            prune_skip: Vec::new(),
            train_examples: None,
            learning_rate: None,
            weight_averaging: true,
            sparse: SparseWeights::Auto,
            short_names: false,
        }
    }
}

/// Why a conversion failed; each variant names the file or stage.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Specs(#[from] SpecsError),
    #[error("{}: no model: expected model.onnx or model.tflite in this directory", dir.display())]
    NoModel { dir: PathBuf },
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Shape { path: PathBuf, message: String },
    #[error("pruning: {0}")]
    Prune(#[from] PruneError),
    #[error("calibration: {0}")]
    Calibration(#[from] CalibrationError),
    #[error("training: {0}")]
    Train(#[from] TrainError),
    #[error("quantization ({mode}): {source}")]
    Quantize { mode: Mode, source: QuantizeError },
    #[error("writing the {mode} model: {message}")]
    Write { mode: Mode, message: String },
    #[error("the {mode} model does not fit the specs: {source}")]
    Codec { mode: Mode, source: Box<CodecError> },
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },
    #[error("evaluating {variant}: {source}")]
    Evaluate {
        variant: String,
        source: Box<EvaluateError>,
    },
}

/// A conversion to run: a model directory and options.
#[derive(Clone, Debug)]
pub struct Pipeline {
    dir: PathBuf,
    options: Options,
}

impl Pipeline {
    /// The model directory `dir`: `model.onnx` (or a float `model.tflite`), `specs.json`,
    /// `dataset.csv`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Pipeline {
        Pipeline {
            dir: dir.as_ref().to_path_buf(),
            options: Options::default(),
        }
    }

    pub fn with_options(mut self, options: Options) -> Pipeline {
        self.options = options;
        self
    }

    pub fn quant(mut self, mode: Mode) -> Pipeline {
        self.options.quant = mode;
        self
    }

    pub fn prune(mut self, sparsity: f32) -> Pipeline {
        self.options.prune = Some(sparsity);
        self
    }

    /// Removes whole units instead of single weights: `prune` becomes the fraction of each
    /// layer's neurons or channels removed.
    pub fn prune_structure(mut self, structure: Structure) -> Pipeline {
        self.options.prune_structure = Some(structure);
        self
    }

    pub fn ranking(mut self, ranking: Ranking) -> Pipeline {
        self.options.ranking = ranking;
        self
    }

    /// Prunes FULLY_CONNECTED weights and CONV_2D filters in blocks of `block` (1x4: 4
    /// consecutive input columns of one output row, a CONV_2D row being one output channel's
    /// `h * w * in_c` weights; ranked per layer by mean magnitude; [`Ranking::Blocks1x4`]), in
    /// one-shot pruning and in fine-tuning's masks, so that the writer stores them in the 1x4
    /// block encoding, smaller and faster than dense at 50%. Other layers are pruned weight by
    /// weight.
    pub fn prune_block(mut self, block: prune::PruneBlock) -> Pipeline {
        match block {
            prune::PruneBlock::OneByFour => self.options.ranking = Ranking::Blocks1x4,
        }
        self
    }

    pub fn calibration(mut self, method: Method) -> Pipeline {
        self.options.calibration = method;
        self
    }

    pub fn samples(mut self, n: usize) -> Pipeline {
        self.options.samples = Some(n);
        self
    }

    pub fn io(mut self, io: IoKind) -> Pipeline {
        self.options.io = io;
        self
    }

    pub fn seed(mut self, seed: u64) -> Pipeline {
        self.options.seed = seed;
        self
    }

    /// The fine-tuning learning rate (default: the specs', times [`PRUNING_LR_SCALE`] when
    /// pruning).
    pub fn learning_rate(mut self, rate: f64) -> Pipeline {
        self.options.learning_rate = Some(rate);
        self
    }

    /// Whether fine-tuning while pruning averages the weights after the sparsity ramp
    /// (default: yes).
    pub fn weight_averaging(mut self, on: bool) -> Pipeline {
        self.options.weight_averaging = on;
        self
    }

    /// Fine-tunes for `epochs` epochs (pruning gradually when `prune` is set).
    pub fn finetune_epochs(mut self, epochs: usize) -> Pipeline {
        self.options.finetune_epochs = epochs;
        self
    }

    /// Quantization-aware training before the integer conversion.
    pub fn qat(mut self, qat: bool) -> Pipeline {
        self.options.qat = qat;
        self
    }

    /// Trains on the first `n` training examples only.
    pub fn train_examples(mut self, n: usize) -> Pipeline {
        self.options.train_examples = Some(n);
        self
    }

    /// Layers pruning leaves dense (weight tensor names or operator indices).
    pub fn prune_skip(mut self, layers: Vec<String>) -> Pipeline {
        self.options.prune_skip = layers;
        self
    }

    /// When to write pruned int8 FULLY_CONNECTED and LSTM gate weights sparse-encoded (default
    /// `Auto`: each tensor whose encoding is smaller; `Fast`: FULLY_CONNECTED weights only where
    /// the sparse kernel is also the faster one, about 81% zeros; `Always`: every eligible
    /// tensor). `SparseWeights::Never` for LiteRT or TensorFlow Lite Micro, which cannot read
    /// the encoding.
    pub fn sparse_weights(mut self, sparse: SparseWeights) -> Pipeline {
        self.options.sparse = sparse;
        self
    }

    /// Empty names for every tensor but the inputs and outputs ([`Options::short_names`]).
    pub fn short_names(mut self, short: bool) -> Pipeline {
        self.options.short_names = short;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The model file the pipeline reads: `model.onnx`, else `model.tflite`.
    pub fn model_path(&self) -> Result<PathBuf, PipelineError> {
        ["model.onnx", "model.tflite"]
            .iter()
            .map(|f| self.dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| PipelineError::NoModel {
                dir: self.dir.clone(),
            })
    }

    /// Every file the result depends on (for build scripts' `rerun-if-changed` and the macro's
    /// cache key): the model, `specs.json` and the dataset.
    pub fn input_files(&self) -> Result<Vec<PathBuf>, PipelineError> {
        let specs = Specs::from_dir(&self.dir)?;
        Ok(vec![
            self.model_path()?,
            self.dir.join("specs.json"),
            specs.dataset_path(),
        ])
    }

    /// Reads the directory, imports, prunes and trains the model: everything before
    /// quantization.
    pub fn load(&self) -> Result<Session, PipelineError> {
        self.load_with_progress(&mut |_, _| {})
    }

    /// [`Pipeline::load`], calling `progress` after every training epoch (fine-tuning, then
    /// QAT).
    pub fn load_with_progress(
        &self,
        progress: &mut dyn FnMut(Stage, &Epoch),
    ) -> Result<Session, PipelineError> {
        let o = &self.options;
        let specs = Specs::from_dir(&self.dir)?;
        let model_path = self.model_path()?;
        let imported = import(&model_path)?;
        check_inputs(&imported, &specs, &model_path)?;
        let dataset = Dataset::load(&specs)?;
        let mut float = imported.clone();
        let skip = prune::skip_list(&float, &o.prune_skip)?;
        if o.ranking == Ranking::Blocks1x4 && (o.prune.is_none() || o.prune_structure.is_some()) {
            return Err(PruneError::BlockRanking.into());
        }
        if let Some(st) = o.prune_structure {
            if o.prune.is_none() {
                return Err(PruneError::StructureWithoutSparsity(st.as_str()).into());
            }
            if o.ranking == Ranking::Global {
                return Err(PruneError::GlobalStructured(st.as_str()).into());
            }
        }
        let config = |epochs: usize| TrainConfig {
            epochs,
            batch_size: None,
            learning_rate: o.learning_rate,
            lr_schedule: LrSchedule::Constant,
            seed: o.seed,
            prune: None,
            keep_zeros: false,
            qat: None,
            max_examples: o.train_examples,
            averaging: Averaging::Last,
        };
        let mut units = Vec::new();
        let finetune = if o.finetune_epochs > 0 {
            let prune = o.prune.map(|sparsity| PruneSchedule {
                sparsity,
                ranking: o.ranking,
                skip: skip.clone(),
                structure: o.prune_structure,
            });
            let c = if prune.is_some() {
                TrainConfig {
                    prune,
                    learning_rate: Some(
                        o.learning_rate
                            .unwrap_or(PRUNING_LR_SCALE * specs.training().learning_rate),
                    ),
                    averaging: if o.weight_averaging {
                        PRUNING_AVERAGING
                    } else {
                        Averaging::Last
                    },
                    ..config(o.finetune_epochs)
                }
            } else {
                config(o.finetune_epochs)
            };
            let report = train::train(&mut float, &specs, &dataset, &c, &mut |e| {
                progress(Stage::Finetune, e)
            })?;
            // The unit masks zeroed the units to remove: removing them changes no output.
            if let (Some(st), Some(s)) = (o.prune_structure, o.prune) {
                units = structured::prune(&mut float, st, s, &skip)?;
            }
            Some(report)
        } else {
            match (o.prune_structure, o.prune) {
                (Some(st), Some(s)) => units = structured::prune(&mut float, st, s, &skip)?,
                (None, Some(s)) => {
                    prune::prune(&mut float, s, o.ranking, &skip)?;
                }
                _ => {}
            }
            None
        };
        let sparsity = if o.prune.is_some() && o.prune_structure.is_none() {
            prune::report(&float, &skip)
        } else {
            Vec::new()
        };
        let mut session = Session {
            options: self.options.clone(),
            model_path,
            specs,
            dataset,
            imported,
            float,
            sparsity,
            units,
            finetune,
            qat: None,
            ranges: OnceCell::new(),
        };
        if o.qat && o.quant.needs_calibration() {
            let start =
                calibrate::calibrate(&session.float, &session.calibration_inputs(), o.calibration)?;
            let epochs = if o.finetune_epochs > 0 {
                o.finetune_epochs
            } else {
                DEFAULT_QAT_EPOCHS
            };
            let c = TrainConfig {
                qat: Some(QatStart {
                    ranges: start,
                    observer: RangeObserver::for_calibration(o.calibration),
                }),
                lr_schedule: LrSchedule::Cosine,
                keep_zeros: o.prune.is_some(),
                ..config(epochs)
            };
            let report = train::train(
                &mut session.float,
                &session.specs,
                &session.dataset,
                &c,
                &mut |e| progress(Stage::Qat, e),
            )?;
            session.qat = Some(report);
        }
        Ok(session)
    }

    /// Converts in the chosen mode.
    pub fn run(&self) -> Result<Converted, PipelineError> {
        self.load()?.convert(self.options.quant)
    }

    /// The options in the macro's syntax (`quant = "int8", prune = 0.5, ...`), for generated
    /// comments and reports.
    pub fn describe_options(&self) -> String {
        let o = &self.options;
        let mut s = format!("quant = \"{}\"", o.quant);
        if let Some(p) = o.prune {
            s.push_str(&format!(", prune = {p}"));
        }
        if let Some(st) = o.prune_structure {
            s.push_str(&format!(", prune_structure = \"{st}\""));
        }
        if o.ranking == Ranking::Blocks1x4 {
            s.push_str(", prune_block = \"1x4\"");
        }
        if !o.prune_skip.is_empty() {
            s.push_str(&format!(", prune_skip = {:?}", o.prune_skip.join(",")));
        }
        if o.finetune_epochs > 0 {
            s.push_str(&format!(", finetune_epochs = {}", o.finetune_epochs));
        }
        if o.qat {
            s.push_str(", qat = true");
        }
        if o.finetune_epochs > 0 || o.qat {
            if let Some(lr) = o.learning_rate {
                s.push_str(&format!(", learning_rate = {lr}"));
            }
            if let Some(n) = o.train_examples {
                s.push_str(&format!(", train_examples = {n}"));
            }
            s.push_str(&format!(", seed = {}", o.seed));
        }
        if o.sparse != SparseWeights::Auto {
            s.push_str(&format!(", sparse_weights = \"{}\"", o.sparse));
        }
        if o.short_names {
            s.push_str(", short_names = true");
        }
        if o.quant.needs_calibration() {
            let method = match o.calibration {
                Method::MinMax => "minmax",
                Method::Percentile => "percentile",
                Method::Mse => "mse",
            };
            s.push_str(&format!(", calibration = \"{method}\""));
            if let Some(n) = o.samples {
                s.push_str(&format!(", samples = {n}"));
            }
            if o.io == IoKind::Float32 {
                s.push_str(", io = \"float32\"");
            }
        }
        s
    }

    /// Converts, evaluates the float and the converted model on the test split, and returns
    /// the Rust source of the firmware items (`crate::codegen`).
    pub fn generate_rust(&self, bytes: &ModelBytes) -> Result<Generated, PipelineError> {
        let session = self.load()?;
        let converted = session.convert(self.options.quant)?;
        let float = session.convert_imported()?;
        let float_metrics = session.evaluate(&float, "float", &mut |_| {})?;
        let metrics = session.evaluate(&converted, self.options.quant.as_str(), &mut |_| {})?;
        let specs = &session.specs;
        let summary = Summary {
            name: specs.name.clone().unwrap_or_else(|| "model".into()),
            description: specs.description().to_string(),
            task: specs.task,
            metric: specs.metric(),
            unit: specs
                .outputs
                .first()
                .map(|o| o.unit().to_string())
                .unwrap_or_default(),
            float: Some(float_metrics),
            converted: Some(metrics),
            options: self.describe_options(),
        };
        let source = codegen::generate(&converted, &summary, bytes);
        Ok(Generated {
            source,
            converted,
            summary,
        })
    }

    /// The build-script API: converts, writes `<name>.tflite` and `<name>_model.rs` into
    /// `out_dir` (normally `OUT_DIR`), and prints `cargo:rerun-if-changed` for every input file
    /// so that changing the model, specs or dataset reruns the build script. Include the
    /// result with `include!(concat!(env!("OUT_DIR"), "/<name>_model.rs"));`. Returns the path
    /// of the `.rs` file.
    pub fn write_rust(&self, out_dir: impl AsRef<Path>) -> Result<PathBuf, PipelineError> {
        let out_dir = out_dir.as_ref();
        for f in self.input_files()? {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        let specs = Specs::from_dir(&self.dir)?;
        let id = crate::export::identifier(specs.name.as_deref().unwrap_or("model"));
        let tflite_name = format!("{id}.tflite");
        let generated = self.generate_rust(&ModelBytes::Include(format!(
            "concat!(env!(\"OUT_DIR\"), \"/{tflite_name}\")"
        )))?;
        let io = |path: &Path, e: std::io::Error| PipelineError::Output {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let tflite = out_dir.join(&tflite_name);
        std::fs::write(&tflite, &generated.converted.tflite).map_err(|e| io(&tflite, e))?;
        let rs = out_dir.join(format!("{id}_model.rs"));
        std::fs::write(&rs, &generated.source).map_err(|e| io(&rs, e))?;
        Ok(rs)
    }
}

/// Generated firmware source and what it was made from.
#[derive(Clone, Debug)]
pub struct Generated {
    pub source: String,
    pub converted: Converted,
    pub summary: Summary,
}

fn import(path: &Path) -> Result<Graph, PipelineError> {
    let fail = |message: String| PipelineError::Model {
        path: path.to_path_buf(),
        message,
    };
    let is_onnx = path.extension().is_some_and(|e| e == "onnx");
    if is_onnx {
        crate::onnx_import::import(path).map_err(|e| fail(e.to_string()))
    } else {
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let graph = crate::tflite_import::import(&bytes).map_err(|e| fail(e.to_string()))?;
        if let Some(t) = graph
            .inputs
            .iter()
            .chain(&graph.outputs)
            .map(|&t| graph.tensor(t))
            .find(|t| t.dtype != DType::F32)
        {
            return Err(fail(format!(
                "the model must be float32 (it is quantized from here); tensor {:?} is {}",
                t.name, t.dtype
            )));
        }
        Ok(graph)
    }
}

/// The model's inputs and outputs against the specs: count and elements per example.
fn check_inputs(graph: &Graph, specs: &Specs, path: &Path) -> Result<(), PipelineError> {
    for (what, ids, list) in [
        ("inputs", &graph.inputs, &specs.inputs),
        ("outputs", &graph.outputs, &specs.outputs),
    ] {
        let fail = |message: String| PipelineError::Shape {
            path: path.to_path_buf(),
            message,
        };
        if ids.len() != list.len() {
            return Err(fail(format!(
                "the model has {} {what}, {} lists {}",
                ids.len(),
                specs.source,
                list.len()
            )));
        }
        for (k, (&id, spec)) in ids.iter().zip(list).enumerate() {
            let t = graph.tensor(id);
            let n: usize = t.shape.iter().product();
            if n != spec.element_count() {
                return Err(fail(format!(
                    "{what}[{k}] ({:?}) has shape {:?} ({n} values per example), but {} says \
                     {:?} has shape {:?} ({} values)",
                    t.name,
                    t.shape,
                    specs.source,
                    spec.name,
                    spec.shape,
                    spec.element_count()
                )));
            }
        }
    }
    Ok(())
}

/// A loaded model directory: the float graph (pruned if asked), the specs and the dataset,
/// ready to convert in any mode. Calibration runs once, on first need.
pub struct Session {
    pub options: Options,
    pub model_path: PathBuf,
    pub specs: Specs,
    pub dataset: Dataset,
    /// The model as imported.
    pub imported: Graph,
    /// The graph every mode quantizes: the imported one, pruned if asked.
    pub float: Graph,
    /// Per-layer sparsity after magnitude pruning (empty without it).
    pub sparsity: Vec<LayerSparsity>,
    /// Per-layer units before and after structured pruning (empty without it).
    pub units: Vec<LayerUnits>,
    /// What fine-tuning did (`None` without).
    pub finetune: Option<TrainReport>,
    /// What QAT did (`None` without); its observed ranges replace the calibrated ones.
    pub qat: Option<TrainReport>,
    ranges: OnceCell<Ranges>,
}

/// The training stage a progress report belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Finetune,
    Qat,
}

/// A converted model and what the firmware needs to know about it.
#[derive(Clone, Debug)]
pub struct Converted {
    pub mode: Mode,
    /// The `.tflite` flatbuffer.
    pub tflite: Vec<u8>,
    /// The exact arena the runtime needs (`Model::arena_size`).
    pub arena_size: usize,
    /// Raw values ↔ tensors for every input and output.
    pub codec: ModelCodec,
    /// The specs with each input's and output's dtype, scale and zero point.
    pub specs: Specs,
    /// The builtin operators the model uses, in first-use order.
    pub ops: Vec<&'static str>,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Weights and biases: elements of the constant tensors.
    pub parameters: usize,
}

impl Session {
    /// The calibration examples' model inputs: the first `samples` (default
    /// `representative_rows`) training examples, normalized.
    pub fn calibration_inputs(&self) -> Vec<Vec<Vec<f32>>> {
        let n = self
            .options
            .samples
            .unwrap_or_else(|| self.specs.dataset.representative_rows())
            .min(self.dataset.train.len());
        self.dataset.train[..n]
            .iter()
            .map(|e| e.model_inputs(&self.specs))
            .collect()
    }

    /// The calibrated ranges of the float graph (computed once).
    pub fn ranges(&self) -> Result<&Ranges, PipelineError> {
        self.ranges_with_progress(&mut |_| {})
    }

    /// [`Session::ranges`], calling `progress` after each calibration example when they are
    /// computed now.
    pub fn ranges_with_progress(
        &self,
        progress: &mut dyn FnMut(usize),
    ) -> Result<&Ranges, PipelineError> {
        if let Some(r) = self.ranges.get() {
            return Ok(r);
        }
        let mut r = calibrate::calibrate_with_progress(
            &self.float,
            &self.calibration_inputs(),
            self.options.calibration,
            progress,
        )?;
        // QAT trained the weights against the ranges it observed: the conversion uses them,
        // so that the integer model rounds as training did.
        if let Some(qat) = &self.qat {
            for &(id, range) in &qat.qat_ranges {
                if !self.float.tensor(id).is_variable {
                    r.set(id, range);
                }
            }
        }
        Ok(self.ranges.get_or_init(|| r))
    }

    /// The float graph quantized in `mode`, written and checked.
    pub fn convert(&self, mode: Mode) -> Result<Converted, PipelineError> {
        let ranges = if mode.needs_calibration() {
            Some(self.ranges()?)
        } else {
            None
        };
        let graph = quantize::quantize(&self.float, ranges, mode, self.options.io)
            .map_err(|source| PipelineError::Quantize { mode, source })?;
        self.finish(&graph, mode)
    }

    /// The imported model as it is (float32, unpruned), written and checked: the baseline.
    pub fn convert_imported(&self) -> Result<Converted, PipelineError> {
        self.finish(&self.imported, Mode::None)
    }

    fn finish(&self, graph: &Graph, mode: Mode) -> Result<Converted, PipelineError> {
        let write_error = |message: String| PipelineError::Write { mode, message };
        let short;
        let graph = if self.options.short_names {
            short = without_inner_names(graph);
            &short
        } else {
            graph
        };
        let tflite = crate::tflite_writer::write_with(graph, self.options.sparse)
            .map_err(|e| write_error(e.to_string()))?;
        let aligned = AlignedBytes::new(&tflite);
        let model = Model::parse(aligned.as_slice())
            .map_err(|e| write_error(format!("our runtime refuses it: {e}")))?;
        let codec =
            ModelCodec::new(&self.specs, &model).map_err(|source| PipelineError::Codec {
                mode,
                source: Box::new(source),
            })?;
        let io_types = |side: &[crate::io_codec::TensorCodec]| -> Vec<IoType> {
            side.iter()
                .map(|c| match (c.dtype, c.quantization) {
                    (tflm_runtime::DType::I8, Some((scale, zero_point))) => {
                        IoType::Int8 { scale, zero_point }
                    }
                    (tflm_runtime::DType::I16, Some((scale, zero_point))) => {
                        IoType::Int16 { scale, zero_point }
                    }
                    _ => IoType::Float32,
                })
                .collect()
        };
        let specs = self
            .specs
            .with_io_quantization(&io_types(&codec.inputs), &io_types(&codec.outputs))?;
        // One registration per operator code, the narrowest for the model's operators.
        let mut ops: Vec<&'static str> = Vec::new();
        let mut registrations = Vec::new();
        for i in 0..model.num_operators() {
            let op = model.operator(i);
            let chosen = tflm_runtime::ops::registration_for(&model, op.code);
            let name = chosen.map_or(op.name(), |r| r.name());
            if !ops.contains(&name) {
                ops.push(name);
                registrations.extend(chosen);
            }
        }
        // The generated `Model::new` opens the bytes with `Model::from_build_verified` and
        // these registrations (the `OPS` it lists): verified here, with exactly those.
        Model::parse_with(aligned.as_slice(), &registrations)
            .map_err(|e| write_error(format!("our runtime refuses it with its OPS: {e}")))?;
        let parameters = graph
            .tensors
            .iter()
            .filter(|t| t.is_constant())
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        Ok(Converted {
            mode,
            arena_size: model.arena_size(),
            macs: crate::inspect::total_macs(&model),
            codec,
            specs,
            ops,
            parameters,
            tflite,
        })
    }

    /// The test split's inputs as `converted`'s input tensors (one case per example).
    pub fn test_inputs(&self, converted: &Converted) -> Vec<Vec<crate::fixtures::TensorData>> {
        self.dataset
            .test
            .iter()
            .map(|ex| converted.codec.encode_inputs(&ex.inputs))
            .collect()
    }

    /// The metrics of a converted model on the test split.
    pub fn evaluate(
        &self,
        converted: &Converted,
        variant: &str,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Metrics, PipelineError> {
        evaluate::evaluate(&converted.tflite, &self.specs, &self.dataset.test, progress).map_err(
            |source| PipelineError::Evaluate {
                variant: variant.to_string(),
                source: Box::new(source),
            },
        )
    }
}

/// `graph` with every tensor name emptied except the graph inputs' and outputs' (which the
/// specs and the generated code refer to).
fn without_inner_names(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for (i, t) in g.tensors.iter_mut().enumerate() {
        let id = crate::ir::TensorId(i);
        if !graph.inputs.contains(&id) && !graph.outputs.contains(&id) {
            t.name.clear();
        }
    }
    g
}

//! Structured pruning (`prune_structure`) on the bundled models: the pruned graph computes
//! exactly what the original computes with the removed units zeroed (the rewiring is right),
//! it is smaller in bytes and MACs, its int8 conversion runs bit for bit as in LiteRT, gradual
//! pruning during fine-tuning ends with the units already zero, and bad options are refused
//! with a message that names them.

mod common;

use std::path::{Path, PathBuf};
use tflm::fixtures::TensorData;
use tflm::ir::Graph;
use tflm::pipeline::{Pipeline, Session};
use tflm::prune::structured::{self, LayerUnits, Structure};
use tflm::prune::Ranking;
use tflm::quantize::Mode;
use tflm::sparse::SparseWeights;
use tflm::train::{self, LrSchedule, PruneSchedule, TrainConfig};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// The float test split as model inputs (float32 I/O of the imported model).
fn float_inputs(session: &Session) -> Vec<Vec<TensorData>> {
    let float = session.convert_imported().unwrap();
    session.test_inputs(&float)
}

fn outputs(graph: &Graph, inputs: &[Vec<TensorData>]) -> Vec<Vec<f64>> {
    let bytes = tflm::tflite_writer::write_with(graph, SparseWeights::Never).unwrap();
    tflm::run::run_cases(&bytes, inputs, true)
        .unwrap()
        .into_iter()
        .map(|o| o.iter().flat_map(|t| t.values()).collect())
        .collect()
}

/// The largest difference between two runs' outputs.
fn max_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f64::max)
}

/// Prunes the imported graph of `model` at 50%, and checks the pruned graph against the
/// original with the removed units zeroed (same shapes otherwise), on the test split.
fn rewiring_is_exact(model: &str, structure: Structure) -> (Graph, Vec<LayerUnits>) {
    let session = Pipeline::from_dir(model_dir(model)).load().unwrap();
    let original = &session.imported;
    let (plans, report) = structured::plan(original, structure, 0.5, &[]).unwrap();
    let mut zeroed = original.clone();
    structured::zero(&mut zeroed, &plans);
    let mut pruned = original.clone();
    structured::apply(&mut pruned, &plans).unwrap();

    let inputs = float_inputs(&session);
    let (a, b) = (outputs(&zeroed, &inputs), outputs(&pruned, &inputs));
    let diff = max_difference(&a, &b);
    assert!(diff <= 1e-5, "{model}: pruned vs zeroed differ by {diff}");
    // Zeroing half the units does change the model: the comparison has teeth.
    let before = outputs(original, &inputs);
    assert!(
        max_difference(&before, &b) > 1e-3,
        "{model}: nothing changed"
    );
    (pruned, report)
}

fn shape(g: &Graph, name: &str) -> Vec<usize> {
    g.tensors
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .shape
        .clone()
}

fn units(report: &[LayerUnits]) -> Vec<(usize, usize, Option<&str>)> {
    report
        .iter()
        .map(|l| (l.units, l.removed, l.kept_because.as_deref()))
        .collect()
}

#[test]
fn sine_neurons_rewire_exactly() {
    let (g, report) = rewiring_is_exact("sine", Structure::Neurons);
    assert_eq!(
        units(&report),
        vec![
            (16, 8, None),
            (16, 8, None),
            (1, 0, Some("\"y\" is a graph output"))
        ]
    );
    assert_eq!(shape(&g, "sine_1/dense_1_1/MatMul/weights"), vec![8, 1]);
    assert_eq!(shape(&g, "sine_1/dense_2_1/MatMul/weights"), vec![8, 8]);
    assert_eq!(shape(&g, "sine_1/dense_2_1/MatMul:0/bias"), vec![8]);
    assert_eq!(shape(&g, "sine_1/y_1/MatMul/weights"), vec![1, 8]);
    assert_eq!(shape(&g, "sine_1/dense_1_1/Relu:0"), vec![1, 8]);
}

#[test]
fn digits_channels_rewire_through_depthwise_pooling_and_flatten() {
    let (g, report) = rewiring_is_exact("digits", Structure::Channels);
    assert_eq!(units(&report), vec![(12, 6, None), (24, 12, None)]);
    assert_eq!(
        shape(&g, "digits_1/conv_1/BiasAdd/weights"),
        vec![6, 3, 3, 1]
    );
    // The depthwise layer loses the channels it reads (depth multiplier 1).
    assert_eq!(shape(&g, "Conv__3/weights"), vec![1, 3, 3, 6]);
    assert_eq!(shape(&g, "Conv__3/bias"), vec![6]);
    assert_eq!(
        shape(&g, "digits_1/pointwise_1/BiasAdd/weights"),
        vec![12, 1, 1, 6]
    );
    // 2x2 positions of 24 channels flattened: 12 channels removed at each position.
    assert_eq!(shape(&g, "digits_1/flatten_1/Reshape:0"), vec![1, 48]);
    assert_eq!(shape(&g, "digits_1/dense_1/MatMul/weights"), vec![32, 48]);
}

#[test]
fn digits_neurons_leave_the_softmax_layer_whole() {
    let session = Pipeline::from_dir(model_dir("digits")).load().unwrap();
    let (_, report) = structured::plan(&session.imported, Structure::Neurons, 0.5, &[]).unwrap();
    assert_eq!((report[0].units, report[0].removed), (32, 16));
    let last = &report[1];
    assert_eq!((last.units, last.removed), (10, 0));
    let why = last.kept_because.as_deref().unwrap();
    assert!(why.contains("SOFTMAX"), "{why}");
}

#[test]
fn co2_lstm_cell_units_rewire_exactly() {
    let (g, report) = rewiring_is_exact("co2", Structure::Neurons);
    // The LSTM loses 10 of its 20 cells; the output layer (a graph output) keeps its unit.
    assert_eq!(
        units(&report),
        vec![
            (20, 10, None),
            (1, 0, Some("\"co2_next\" is a graph output"))
        ]
    );
    let lstm = g
        .ops
        .iter()
        .find(|o| o.name() == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .unwrap();
    for k in 1..=4 {
        assert_eq!(g.tensor(lstm.input(k).unwrap()).shape, vec![10, 3]);
    }
    for k in 5..=8 {
        assert_eq!(g.tensor(lstm.input(k).unwrap()).shape, vec![10, 10]);
    }
    for k in [18, 19] {
        assert_eq!(g.tensor(lstm.input(k).unwrap()).shape, vec![1, 10]);
    }
    assert_eq!(g.tensor(lstm.outputs[0]).shape, vec![1, 24, 10]);
    assert_eq!(shape(&g, "MatMul_12/weights"), vec![1, 10]);
}

/// The int8 conversion of a 50% structured prune: smaller, fewer MACs, and bit-exact with
/// LiteRT's reference kernels on the test split.
fn int8_is_smaller_and_bit_exact(model: &str, structure: Structure) {
    let dense = Pipeline::from_dir(model_dir(model)).run().unwrap();
    let session = Pipeline::from_dir(model_dir(model))
        .prune(0.5)
        .prune_structure(structure)
        .load()
        .unwrap();
    assert!(session.sparsity.is_empty());
    assert!(session.units.iter().any(|l| l.removed > 0));
    let q = session.convert(Mode::Int8).unwrap();
    eprintln!(
        "{model} {structure}: {} -> {} bytes, arena {} -> {}, MACs {} -> {}",
        dense.tflite.len(),
        q.tflite.len(),
        dense.arena_size,
        q.arena_size,
        dense.macs,
        q.macs
    );
    assert!(q.tflite.len() < dense.tflite.len());
    assert!(
        q.macs * 10 < dense.macs * 7,
        "MACs {} vs {}",
        q.macs,
        dense.macs
    );
    assert!(q.arena_size <= dense.arena_size);
    // Deterministic.
    let again = Pipeline::from_dir(model_dir(model))
        .prune(0.5)
        .prune_structure(structure)
        .run()
        .unwrap();
    assert_eq!(q.tflite, again.tflite);

    if common::litert_available().is_none() {
        return;
    }
    let inputs = session.test_inputs(&q);
    let ours = tflm::run::run_cases(&q.tflite, &inputs, true).unwrap();
    let name = format!("structured_{model}_{structure}");
    let theirs = common::litert_outputs(&name, &q.tflite, &inputs);
    assert_eq!(ours.len(), theirs.len());
    for (k, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o[0].bytes, t[0].bytes, "{model}: test example {k}");
    }
}

#[test]
fn sine_neurons_int8_matches_litert() {
    int8_is_smaller_and_bit_exact("sine", Structure::Neurons);
}

#[test]
fn digits_channels_int8_matches_litert() {
    int8_is_smaller_and_bit_exact("digits", Structure::Channels);
}

#[test]
fn co2_neurons_int8_matches_litert() {
    int8_is_smaller_and_bit_exact("co2", Structure::Neurons);
}

/// Gradual structured pruning while fine-tuning: at the end the masked units are exactly
/// zero, so removing them changes no output.
#[test]
fn finetuning_masks_whole_units_and_removal_is_exact() {
    for (model, structure) in [
        ("sine", Structure::Neurons),
        ("digits", Structure::Channels),
    ] {
        let session = Pipeline::from_dir(model_dir(model)).load().unwrap();
        let mut graph = session.imported.clone();
        let config = TrainConfig {
            epochs: 1,
            batch_size: Some(16),
            learning_rate: None,
            lr_schedule: LrSchedule::Constant,
            seed: 0,
            prune: Some(PruneSchedule {
                sparsity: 0.5,
                ranking: Ranking::PerLayer,
                skip: Vec::new(),
                structure: Some(structure),
            }),
            keep_zeros: false,
            qat: None,
            max_examples: Some(256),
            averaging: tflm::train::Averaging::Last,
        };
        let report = train::train(
            &mut graph,
            &session.specs,
            &session.dataset,
            &config,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(report.epochs.last().unwrap().sparsity, 0.5);
        let (plans, _) = structured::plan(&graph, structure, 0.5, &[]).unwrap();
        // Every weight the final plan removes was already held at zero by the masks.
        let mut zeroed = graph.clone();
        structured::zero(&mut zeroed, &plans);
        assert_eq!(zeroed, graph, "{model}: masked weights are not zero");
        let mut pruned = graph.clone();
        structured::apply(&mut pruned, &plans).unwrap();
        let inputs = float_inputs(&session);
        let diff = max_difference(&outputs(&graph, &inputs), &outputs(&pruned, &inputs));
        assert!(diff <= 1e-5, "{model}: {diff}");
    }
}

#[test]
fn pipeline_with_finetuning_reports_units_and_shrinks() {
    let session = Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .prune_structure(Structure::Neurons)
        .finetune_epochs(1)
        .train_examples(128)
        .load()
        .unwrap();
    assert!(session.finetune.is_some());
    assert_eq!(units(&session.units)[..2], [(16, 8, None), (16, 8, None)]);
    let q = session.convert(Mode::Int8).unwrap();
    assert_eq!(q.macs, 8 + 64 + 8);
}

#[test]
fn skipped_layers_keep_their_units() {
    let pipeline = Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .prune_structure(Structure::Neurons)
        .prune_skip(vec!["1".into()]);
    assert!(pipeline
        .describe_options()
        .contains("prune = 0.5, prune_structure = \"neurons\", prune_skip = \"1\""));
    let session = pipeline.load().unwrap();
    assert_eq!(
        units(&session.units),
        vec![
            (16, 8, None),
            (16, 0, Some("prune_skip")),
            (1, 0, Some("\"y\" is a graph output"))
        ]
    );
}

#[test]
fn bad_options_are_refused_with_their_name() {
    let err = |p: Pipeline| match p.load() {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let e = err(Pipeline::from_dir(model_dir("sine")).prune_structure(Structure::Neurons));
    assert!(
        e.contains("prune_structure = \"neurons\" needs a sparsity"),
        "{e}"
    );
    let e = err(Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .prune_structure(Structure::Neurons)
        .ranking(Ranking::Global));
    assert!(e.contains("global ranking"), "{e}");
    let e = err(Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .prune_structure(Structure::Channels));
    assert!(e.contains("no CONV_2D layer"), "{e}");
    let e = err(Pipeline::from_dir(model_dir("sine"))
        .prune(1.0)
        .prune_structure(Structure::Neurons));
    assert!(e.contains("sparsity must be in [0, 1), got 1"), "{e}");
    assert_eq!(
        "rows".parse::<Structure>().unwrap_err(),
        "prune_structure must be \"neurons\" or \"channels\", got \"rows\""
    );
}

#[test]
fn cli_flag_reports_units_per_layer_and_refuses_bad_values() {
    let tflm = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tflm"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    let dir = model_dir("sine");
    let dir = dir.to_str().unwrap();
    let (ok, err) = tflm(&["convert", dir, "-p", "0.5", "--prune-structure", "rows"]);
    assert!(!ok);
    assert!(
        err.contains("prune_structure must be \"neurons\" or \"channels\", got \"rows\""),
        "{err}"
    );
    let (ok, err) = tflm(&["convert", dir, "--prune-structure", "neurons"]);
    assert!(!ok);
    assert!(err.contains("needs a sparsity (prune = s)"), "{err}");
    let (ok, err) = tflm(&["convert", dir, "-p", "0.5", "--prune-structure", "neurons"]);
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "op 1 (FULLY_CONNECTED) sine_1/dense_2_1/MatMul/weights: 16 -> 8 units, 8 removed"
        ),
        "{err}"
    );
    assert!(
        err.contains("op 2 (FULLY_CONNECTED) sine_1/y_1/MatMul/weights: 1 -> 1 units, kept (\"y\" is a graph output)"),
        "{err}"
    );
    assert!(err.contains("int8 pruned 50% neurons"), "{err}");
}

//! The training engine (`src/train/`) on the bundled models: the candle model of the IR
//! computes what the host runtime computes, fine-tuning lowers the loss, runs are
//! reproducible, pruning with fine-tuning reaches its sparsity exactly and keeps pruned weights
//! at zero, and QAT converts the co2 LSTM to int8.
//!
//! Training runs on subsets and for one or two epochs, so the suite stays quick.

use candle_core::Tensor;
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use std::path::{Path, PathBuf};
use tflm::evaluate::Metrics;
use tflm::ir::ConstData;
use tflm::pipeline::{Pipeline, Session};
use tflm::prune::{self, Ranking};
use tflm::quantize::Mode;
use tflm::run::{arena, AlignedBytes};
use tflm::train::data::Examples;
use tflm::train::net::Net;
use tflm::train::schedule::Masks;
use tflm::train::{self, LrSchedule, TrainConfig};
use tflm_runtime::{Interpreter, Model};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// The candle forward pass against the host runtime's float kernels on `n` test examples.
fn forward_matches_runtime(name: &str, n: usize) {
    let session = Pipeline::from_dir(model_dir(name)).load().unwrap();
    let float = session.convert_imported().unwrap();
    let aligned = AlignedBytes::new(&float.tflite);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let mut memory = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, memory.as_mut_slice()).unwrap();

    let net = Net::new(&session.imported).unwrap();
    let examples = &session.dataset.test[..n];
    let set = Examples::new(&session.specs, examples).unwrap();
    let rows: Vec<usize> = (0..n).collect();
    let outputs = net.forward(&set.inputs(&net, &rows).unwrap()).unwrap();
    let candle: Vec<f32> = outputs[0].flatten_all().unwrap().to_vec1().unwrap();
    let per = candle.len() / n;

    let mut worst = 0f32;
    for (j, ex) in examples.iter().enumerate() {
        interpreter.reset_state();
        for (k, v) in ex.model_inputs(&session.specs).iter().enumerate() {
            interpreter.input::<f32>(k).unwrap().copy_from_slice(v);
        }
        interpreter.invoke().unwrap();
        let expected = interpreter.output::<f32>(0).unwrap();
        assert_eq!(expected.len(), per);
        for (a, b) in candle[j * per..(j + 1) * per].iter().zip(expected) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(
        worst < 1e-4,
        "{name}: candle and the host runtime differ by {worst}"
    );
}

#[test]
fn candle_forward_matches_the_host_runtime_on_sine() {
    forward_matches_runtime("sine", 200);
}

#[test]
fn candle_forward_matches_the_host_runtime_on_digits() {
    // Conv2D (SAME), DepthwiseConv2D (SAME), max and average pooling, reshape, dense, softmax.
    forward_matches_runtime("digits", 200);
}

#[test]
fn candle_forward_matches_the_host_runtime_on_co2() {
    // The unrolled LSTM (24 steps), the last-step STRIDED_SLICE and the dense output.
    forward_matches_runtime("co2", 200);
}

fn config(epochs: usize, max_examples: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: None,
        learning_rate: None,
        lr_schedule: LrSchedule::Constant,
        seed: 0,
        prune: None,
        keep_zeros: false,
        qat: None,
        max_examples: Some(max_examples),
        averaging: train::Averaging::Last,
    }
}

#[test]
fn finetuning_a_pruned_model_lowers_the_loss_and_recovers_the_metric() {
    let session = Pipeline::from_dir(model_dir("sine")).load().unwrap();
    let mut graph = session.imported.clone();
    prune::prune(&mut graph, 0.7, Ranking::PerLayer, &[]).unwrap();
    let zeros_before = prune::sparsity_of(&graph);
    let c = TrainConfig {
        keep_zeros: true,
        learning_rate: Some(0.005),
        ..config(4, 600)
    };
    let report = train::train(
        &mut graph,
        &session.specs,
        &session.dataset,
        &c,
        &mut |_| {},
    )
    .unwrap();
    let first = report.epochs.first().unwrap();
    let last = report.epochs.last().unwrap();
    assert!(
        last.loss < first.loss,
        "training loss did not fall: {:?}",
        report.epochs
    );
    assert!(
        last.metric < report.metric_before,
        "test MAE {} before, {} after",
        report.metric_before,
        last.metric
    );
    // The pruned weights stayed at zero.
    assert_eq!(prune::sparsity_of(&graph), zeros_before);
}

#[test]
fn pruning_with_finetuning_reaches_the_exact_sparsity_with_lstm_kernels() {
    let session = Pipeline::from_dir(model_dir("co2")).load().unwrap();
    let mut graph = session.imported.clone();
    let c = TrainConfig {
        prune: Some(train::PruneSchedule {
            sparsity: 0.5,
            ranking: Ranking::PerLayer,
            skip: Vec::new(),
            structure: None,
        }),
        batch_size: Some(32),
        ..config(1, 320)
    };
    let mut sparsities = Vec::new();
    let report = train::train(&mut graph, &session.specs, &session.dataset, &c, &mut |e| {
        sparsities.push(e.sparsity)
    })
    .unwrap();
    assert_eq!(sparsities, vec![0.5]);
    assert_eq!(report.epochs.len(), 1);
    let layers = prune::report(&graph, &[]);
    // Eight LSTM gate matrices and the dense kernel. The four input-to-gate matrices are
    // ranked together, and so are the four recurrent ones (tfmot's Keras `kernel` and
    // `recurrent_kernel`): exactly half of each group is zero, not of each gate.
    assert_eq!(layers.len(), 9, "{layers:?}");
    let group = |ls: &[prune::LayerSparsity]| {
        let (zeros, weights) = ls
            .iter()
            .fold((0, 0), |(z, w), l| (z + l.zeros, w + l.weights));
        assert_eq!(zeros, (0.5 * weights as f64).round() as usize, "{ls:?}");
        weights
    };
    assert_eq!(group(&layers[0..4]), 4 * 20 * 3);
    assert_eq!(group(&layers[4..8]), 4 * 20 * 20);
    assert_eq!(group(&layers[8..9]), 20);
    // Ranked jointly, the gates do not all lose the same fraction.
    assert!(
        layers[4..8].iter().any(|l| l.zeros != 200),
        "{:?}",
        &layers[4..8]
    );
}

#[test]
fn masks_keep_pruned_weights_at_zero_through_optimizer_steps() {
    let session = Pipeline::from_dir(model_dir("digits")).load().unwrap();
    let net = Net::new(&session.imported).unwrap();
    let mut masks = Masks::new(Ranking::Global, Vec::new());
    masks.update(&net, 0.6).unwrap();
    let zero_positions = |net: &Net| -> Vec<Vec<usize>> {
        let mut g = net.graph.clone();
        net.write_back(&mut g).unwrap();
        prune::prunable(&g)
            .into_iter()
            .map(|(_, w)| {
                let v = g
                    .tensor(w)
                    .data
                    .as_ref()
                    .and_then(ConstData::as_f32)
                    .unwrap();
                (0..v.len()).filter(|&i| v[i] == 0.0).collect()
            })
            .collect()
    };
    let before = zero_positions(&net);
    assert!(before.iter().map(Vec::len).sum::<usize>() > 0);
    let set = Examples::new(&session.specs, &session.dataset.train[..64]).unwrap();
    let rows: Vec<usize> = (0..64).collect();
    let mut opt = AdamW::new(
        net.vars(),
        ParamsAdamW {
            lr: 0.01,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )
    .unwrap();
    for _ in 0..3 {
        let values = net
            .forward_all(&set.inputs(&net, &rows).unwrap(), None)
            .unwrap();
        let loss = set
            .loss(&net, &values, &rows, tflm::specs::Loss::CrossEntropy)
            .unwrap();
        opt.backward_step(&loss).unwrap();
        masks.apply(&net).unwrap();
    }
    assert_eq!(zero_positions(&net), before);
    // Without the masks the optimizer would have moved them: a gradient step changes weights.
    let any: f32 = net
        .vars()
        .iter()
        .map(|v| v.as_tensor().abs().unwrap().sum_all().unwrap())
        .map(|t: Tensor| t.to_scalar::<f32>().unwrap())
        .sum();
    assert!(any > 0.0);
}

fn int8_metrics(session: &Session) -> Metrics {
    let c = session.convert(Mode::Int8).unwrap();
    session.evaluate(&c, "int8", &mut |_| {}).unwrap()
}

#[test]
fn pipeline_pruning_with_finetuning_is_reproducible_byte_for_byte() {
    let run = || {
        Pipeline::from_dir(model_dir("sine"))
            .prune(0.5)
            .finetune_epochs(2)
            .train_examples(400)
            .run()
            .unwrap()
            .tflite
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "two fine-tuning runs gave different models");
    let plain = Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .run()
        .unwrap();
    assert_ne!(a, plain.tflite, "fine-tuning changed nothing");
}

#[test]
fn qat_converts_the_co2_lstm_to_int8() {
    let session = Pipeline::from_dir(model_dir("co2"))
        .qat(true)
        .finetune_epochs(1)
        .train_examples(640)
        .load()
        .unwrap();
    let qat = session.qat.as_ref().expect("QAT ran");
    assert_eq!(qat.epochs.len(), 1);
    // Ranges were observed for the LSTM's output among others, and the conversion uses them.
    let lstm = session
        .float
        .ops
        .iter()
        .find(|op| op.name() == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .unwrap();
    let out = lstm.outputs[0];
    let observed = qat.qat_ranges.iter().find(|(id, _)| *id == out).unwrap().1;
    assert_eq!(session.ranges().unwrap().get(out), Some(observed));
    let m = int8_metrics(&session);
    let mae = m.mae.unwrap();
    // Post-training int8 gives 11.03 ppm on this split; one short QAT epoch must stay close.
    assert!(mae.is_finite() && mae < 13.0, "co2 QAT int8 MAE {mae}");
    eprintln!("co2 QAT (1 epoch, 640 windows) int8 MAE {mae:.3}");
}

#[test]
fn training_options_are_part_of_the_description() {
    let p = Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .finetune_epochs(2)
        .qat(true);
    let d = p.describe_options();
    assert!(d.contains("finetune_epochs = 2"), "{d}");
    assert!(d.contains("qat = true"), "{d}");
    let err = Pipeline::from_dir(model_dir("sine"))
        .prune(0.5)
        .prune_skip(vec!["nope".into()])
        .load()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no prunable layer \"nope\""), "{err}");
}

/// Issue 7's quality targets, at the defaults (seed 0, `specs.json`'s training settings):
/// docs/quality.md records the figures and tfmot's side by side.
#[test]
fn qat_on_the_co2_lstm_is_no_worse_than_post_training_int8() {
    let ptq = int8_metrics(&Pipeline::from_dir(model_dir("co2")).load().unwrap());
    let qat = int8_metrics(
        &Pipeline::from_dir(model_dir("co2"))
            .qat(true)
            .load()
            .unwrap(),
    );
    let (ptq, qat) = (ptq.mae.unwrap(), qat.mae.unwrap());
    eprintln!("co2 int8 MAE: post-training {ptq:.4}, QAT {qat:.4}");
    assert!(
        qat <= ptq,
        "QAT int8 MAE {qat} above post-training int8 {ptq}"
    );
}

/// Issue 7, item 7 at the default recipe (3x the specs' rate, weights averaged after the
/// ramp): co2 at seeds 0 and 1 each within 2% of dense int8 and no worse than tfmot fine-tuned
/// on the same batches in the same order (`tools/baselines/tfmot_baselines.py --model co2
/// --prune-seeds 0,1 --tflm-order`: TensorFlow int8 PTQ of the pruned model, 11.2063 and
/// 11.3036 ppm), their mean no worse than tfmot's mean over five seeds with Keras' own shuffle
/// (11.057); digits at seed 0 within 2% and no worse than tfmot's mean over three seeds
/// (0.9786). All five co2 seeds and three digits seeds: docs/quality.md.
#[test]
fn half_the_weights_pruned_while_fine_tuning_stays_within_2_percent_of_dense_int8() {
    let dense = |m: &str| int8_metrics(&Pipeline::from_dir(model_dir(m)).load().unwrap());
    let pruned = |m: &str, seed: u64| {
        let session = Pipeline::from_dir(model_dir(m))
            .prune(0.5)
            .finetune_epochs(2)
            .seed(seed)
            .load()
            .unwrap();
        int8_metrics(&session)
    };
    let d = dense("co2").mae.unwrap();
    let tfmot_same_batches = [11.2063, 11.3036];
    let mut sum = 0.0;
    for (seed, tfmot) in tfmot_same_batches.into_iter().enumerate() {
        let p = pruned("co2", seed as u64).mae.unwrap();
        eprintln!("co2 int8 MAE: dense {d:.4}, seed {seed} 50% pruned + 2 epochs {p:.4}");
        assert!(
            p <= tfmot,
            "co2 seed {seed}: pruned MAE {p} vs tfmot's {tfmot}"
        );
        assert!(
            p <= d * 1.02,
            "co2 seed {seed}: pruned MAE {p} vs dense {d}"
        );
        sum += p;
    }
    let mean = sum / 2.0;
    assert!(
        mean <= 11.057,
        "co2 pruned mean MAE {mean} vs tfmot's 11.057"
    );
    let (d, p) = (
        dense("digits").accuracy.unwrap(),
        pruned("digits", 0).accuracy.unwrap(),
    );
    eprintln!("digits int8 accuracy: dense {d:.4}, 50% pruned + 2 epochs {p:.4}");
    assert!(p >= d * 0.98, "digits pruned accuracy {p} vs dense {d}");
    assert!(
        p >= 0.9786,
        "digits pruned accuracy {p} vs tfmot's mean 0.9786"
    );
}

/// The averaging is what makes the higher rate safe: at seed 0 the last step's weights of the
/// same run are worse than their average (co2 int8 MAE 11.214 against 10.849 ppm,
/// docs/quality.md), and the average keeps every pruned weight at zero.
#[test]
fn averaging_the_weights_after_the_ramp_beats_the_last_step_and_keeps_the_zeros() {
    let run = |averaging: bool| {
        Pipeline::from_dir(model_dir("co2"))
            .prune(0.5)
            .finetune_epochs(2)
            .weight_averaging(averaging)
            .load()
            .unwrap()
    };
    let (last, averaged) = (run(false), run(true));
    let zeros = |s: &Session| s.sparsity.iter().map(|l| l.zeros).sum::<usize>();
    let weights: usize = averaged.sparsity.iter().map(|l| l.weights).sum();
    assert_eq!(zeros(&averaged), zeros(&last));
    assert_eq!(zeros(&averaged), weights / 2, "{:?}", averaged.sparsity);
    let report = averaged.finetune.as_ref().unwrap();
    let (a, l) = (report.metric_after, report.epochs.last().unwrap().metric);
    assert_ne!(a, l, "the averaged weights are the last step's");
    let (l8, a8) = (
        int8_metrics(&last).mae.unwrap(),
        int8_metrics(&averaged).mae.unwrap(),
    );
    eprintln!("co2 seed 0 int8 MAE: last step {l8:.4}, averaged {a8:.4} (float {l:.4} / {a:.4})");
    assert!(a8 < l8 - 0.2, "averaged {a8} vs last step {l8}");
}

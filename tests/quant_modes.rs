//! Every post-training quantization mode on real models: models/sine and models/digits (ONNX,
//! calibrated on their first 200 training examples) and TFLite Micro's hello_world_float
//! (calibrated and tested on the sine dataset's raw x values). Each quantized model is written,
//! parsed back by tflm-runtime, run over the whole test split, and
//!
//! - follows its mode's layout (tensor types, DEQUANTIZE of float16 weights, int64 biases...);
//! - gives LiteRT's `BUILTIN_REF` outputs (tools/litert_run.py): integer outputs bit for bit,
//!   float and hybrid ones within 1e-5 (skipped without ai-edge-litert unless
//!   TFLM_REQUIRE_LITERT=1);
//! - scores close to the float model (bounds measured, with margin).
//!
//! A hand-built graph with an SVDF (no int8 kernel the quantizer can feed) checks
//! `int8_float_fallback`'s QUANTIZE/DEQUANTIZE boundaries.

mod common;

use common::{compare, litert_available, litert_outputs, peer_models};
use std::path::PathBuf;
use tflm::calibrate::{calibrate, Method, Ranges};
use tflm::dataset::{Dataset, Target};
use tflm::fixtures::TensorData;
use tflm::ir::{ConstData, DType, FullyConnectedOptions, Graph, Op, OpKind, SvdfOptions, Tensor};
use tflm::quantize::{quantize, IoKind, Mode};
use tflm::specs::Specs;
use tflm_runtime::{Activation, Model};

/// A model and its data: examples as model inputs (one `Vec<f32>` per graph input) and targets.
struct Subject {
    name: &'static str,
    graph: Graph,
    ranges: Ranges,
    /// Per test example, the model values of each input.
    test_inputs: Vec<Vec<Vec<f32>>>,
    targets: Vec<Target>,
    classification: bool,
}

fn model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn onnx_subject(name: &'static str) -> Subject {
    let dir = model_dir(name);
    let specs = Specs::from_dir(&dir).unwrap();
    let ds = Dataset::load(&specs).unwrap();
    let graph = tflm::onnx_import::import(&dir.join("model.onnx")).unwrap();
    let samples: Vec<Vec<Vec<f32>>> = ds
        .representative()
        .iter()
        .map(|e| e.model_inputs(&specs))
        .collect();
    assert_eq!(samples.len(), 200);
    let ranges = calibrate(&graph, &samples, Method::MinMax).unwrap();
    Subject {
        name,
        graph,
        ranges,
        test_inputs: ds.test.iter().map(|e| e.model_inputs(&specs)).collect(),
        targets: ds.test.iter().map(|e| e.target.clone()).collect(),
        classification: matches!(ds.test[0].target, Target::Classes(_)),
    }
}

/// hello_world_float (input: raw x in radians) on the sine dataset's raw values.
fn hello_world_subject() -> Option<Subject> {
    let bytes = std::fs::read(peer_models()?.join("hello_world_float.tflite")).unwrap();
    let graph = tflm::tflite_import::import(&bytes).unwrap();
    let specs = Specs::from_dir(&model_dir("sine")).unwrap();
    let ds = Dataset::load(&specs).unwrap();
    let samples: Vec<Vec<Vec<f32>>> = ds
        .representative()
        .iter()
        .map(|e| e.inputs.clone())
        .collect();
    let ranges = calibrate(&graph, &samples, Method::MinMax).unwrap();
    Some(Subject {
        name: "hello_world",
        graph,
        ranges,
        test_inputs: ds.test.iter().map(|e| e.inputs.clone()).collect(),
        targets: ds.test.iter().map(|e| e.target.clone()).collect(),
        classification: false,
    })
}

/// Model values to the input tensor's bytes (quantized with its parameters if integer).
fn encode(model: &Model<'_>, inputs: &[Vec<f32>]) -> Vec<TensorData> {
    inputs
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let t = model.input(k).unwrap();
            let (s, zp) = (t.quantization.scale(), t.quantization.zero_point() as f32);
            let q = |v: f32, lo: f32, hi: f32| ((v / s).round() + zp).clamp(lo, hi);
            let bytes: Vec<u8> = match t.dtype {
                DType::F32 => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                DType::I8 => x.iter().map(|&v| q(v, -128.0, 127.0) as i8 as u8).collect(),
                DType::I16 => x
                    .iter()
                    .flat_map(|&v| (q(v, -32768.0, 32767.0) as i16).to_le_bytes())
                    .collect(),
                d => panic!("input type {d}"),
            };
            TensorData {
                dtype: t.dtype,
                shape: t.shape.dims().collect(),
                bytes,
            }
        })
        .collect()
}

/// Output tensors back to model values.
fn decode(model: &Model<'_>, outputs: &[TensorData]) -> Vec<Vec<f32>> {
    outputs
        .iter()
        .enumerate()
        .map(|(k, o)| {
            let t = model.output(k).unwrap();
            let (s, zp) = (t.quantization.scale(), t.quantization.zero_point() as f64);
            o.values()
                .iter()
                .map(|&v| match t.dtype {
                    DType::F32 => v as f32,
                    _ => ((v - zp) * s as f64) as f32,
                })
                .collect()
        })
        .collect()
}

/// MAE (regression, raw units = model units for these models) or accuracy.
fn metric(s: &Subject, predictions: &[Vec<Vec<f32>>]) -> f64 {
    let mut total = 0.0;
    for (p, t) in predictions.iter().zip(&s.targets) {
        match t {
            Target::Values(v) => total += (p[0][0] as f64 - v[0][0] as f64).abs(),
            Target::Classes(c) => {
                let best = tflm_runtime::io::argmax(&p[0]);
                total += (best == Some(c[0])) as u8 as f64;
            }
        }
    }
    total / predictions.len() as f64
}

/// The quantized model's bytes, checked against the runtime and LiteRT; returns the metric.
fn run_mode(s: &Subject, mode: Mode, io: IoKind) -> (f64, Vec<u8>) {
    let g = quantize(&s.graph, Some(&s.ranges), mode, io).unwrap();
    g.validate().unwrap();
    let bytes = tflm::tflite_writer::write(&g).unwrap();
    let aligned = tflm::run::AlignedBytes::new(&bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    assert_eq!(
        model.input(0).unwrap().dtype,
        mode.io_dtype(io),
        "{} {mode} {io:?}",
        s.name
    );
    let inputs: Vec<Vec<TensorData>> = s.test_inputs.iter().map(|x| encode(&model, x)).collect();
    let ours = tflm::run::run_cases(&bytes, &inputs, true).unwrap();
    let predictions: Vec<Vec<Vec<f32>>> = ours.iter().map(|o| decode(&model, o)).collect();
    if litert_available().is_some() {
        let theirs = litert_outputs(&format!("{}_{mode}_{io:?}", s.name), &bytes, &inputs);
        assert_eq!(theirs.len(), ours.len());
        let mut bad = Vec::new();
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                if let Err(e) = compare(&format!("example {i} output {k}"), x, y, 1e-5) {
                    bad.push(e);
                }
            }
        }
        assert!(
            bad.is_empty(),
            "{} {mode} {io:?}: {} of {} examples differ from LiteRT:\n{}",
            s.name,
            bad.len(),
            ours.len(),
            bad[..bad.len().min(5)].join("\n")
        );
    }
    (metric(s, &predictions), bytes)
}

/// Tensor types of a quantized graph, for the layout checks.
fn dtypes_of(g: &Graph, op: &Op) -> Vec<Option<DType>> {
    op.inputs
        .iter()
        .map(|t| t.map(|t| g.tensor(t).dtype))
        .collect()
}

fn check_layout(s: &Subject, mode: Mode) {
    let g = quantize(&s.graph, Some(&s.ranges), mode, IoKind::Integer).unwrap();
    let weighted = |k: &OpKind| {
        matches!(
            k,
            OpKind::FullyConnected(_) | OpKind::Conv2d(_) | OpKind::DepthwiseConv2d(_)
        )
    };
    match mode {
        Mode::Float16 => {
            // Every float constant is float16 behind a DEQUANTIZE; arithmetic stays float.
            for op in &g.ops {
                for t in op.inputs.iter().flatten() {
                    let t = g.tensor(*t);
                    assert!(!(t.is_constant() && t.dtype == DType::F32), "{}", t.name);
                    if t.is_constant() && t.dtype == DType::F16 {
                        assert!(matches!(op.kind, OpKind::Dequantize));
                    }
                }
            }
            let n_deq = g
                .ops
                .iter()
                .filter(|o| matches!(o.kind, OpKind::Dequantize))
                .count();
            let n_f32_consts = s
                .graph
                .tensors
                .iter()
                .filter(|t| t.is_constant() && t.dtype == DType::F32)
                .count();
            assert_eq!(n_deq, n_f32_consts, "{}", s.name);
        }
        Mode::Dynamic => {
            for op in g.ops.iter().filter(|o| weighted(&o.kind)) {
                let d = dtypes_of(&g, op);
                assert_eq!(d[0], Some(DType::F32));
                assert_eq!(d[1], Some(DType::I8), "{} {}", s.name, op.name());
                if let Some(b) = d.get(2).copied().flatten() {
                    assert_eq!(b, DType::F32);
                }
                let w = g.tensor(op.input(1).unwrap()).quantization.clone().unwrap();
                match op.kind {
                    OpKind::FullyConnected(ref o) => {
                        assert!(!w.is_per_channel() && o.asymmetric_quantize_inputs)
                    }
                    _ => assert!(w.is_per_channel()),
                }
            }
        }
        Mode::Int16x8 => {
            for op in &g.ops {
                for &t in &op.outputs {
                    let t = g.tensor(t);
                    assert_eq!(t.dtype, DType::I16);
                    assert_eq!(t.quantization.as_ref().unwrap().zero_point(), 0);
                }
                if weighted(&op.kind) {
                    let d = dtypes_of(&g, op);
                    assert_eq!(d[1], Some(DType::I8));
                    if let Some(b) = d.get(2).copied().flatten() {
                        assert_eq!(b, DType::I64);
                    }
                }
                if matches!(op.kind, OpKind::Softmax(_)) {
                    let q = g.tensor(op.outputs[0]).quantization.clone().unwrap();
                    assert_eq!((q.scale(), q.zero_point()), (1.0 / 32768.0, 0));
                }
            }
        }
        _ => {}
    }
}

/// Measured metrics (see docs/modes.md) and the bounds asserted, per subject and mode:
/// regression MAE may grow by at most `slack` over float, accuracy drop by at most `slack`.
fn slack(name: &str, mode: Mode) -> f64 {
    match (name, mode) {
        (_, Mode::None) => 0.0,
        (_, Mode::Float16 | Mode::Dynamic) => 0.005,
        ("digits", _) => 0.02,
        _ => 0.01,
    }
}

fn check_subject(s: &Subject) {
    let (float, float_bytes) = run_mode(s, Mode::None, IoKind::Float32);
    eprintln!("{}: float {float:.5}", s.name);
    for mode in [
        Mode::Float16,
        Mode::Dynamic,
        Mode::Int8,
        Mode::Int8FloatFallback,
        Mode::Int16x8,
    ] {
        check_layout(s, mode);
        let ios: &[IoKind] = match mode {
            Mode::Int8 | Mode::Int16x8 => &[IoKind::Integer, IoKind::Float32],
            _ => &[IoKind::Float32],
        };
        for &io in ios {
            let (m, bytes) = run_mode(s, mode, io);
            eprintln!(
                "{}: {mode} ({io:?}) {m:.5}, {} bytes (float {})",
                s.name,
                bytes.len(),
                float_bytes.len()
            );
            let bound = slack(s.name, mode);
            if s.classification {
                assert!(
                    m >= float - bound,
                    "{} {mode}: accuracy {m} vs float {float}",
                    s.name
                );
            } else {
                assert!(
                    m <= float + bound,
                    "{} {mode}: MAE {m} vs float {float}",
                    s.name
                );
            }
            // Weights shrink (the file of a tiny float16 model may not: each DEQUANTIZE and
            // its extra tensors cost more than the halved bytes of a small bias).
            let constant_bytes = |g: &Graph| -> usize {
                g.tensors
                    .iter()
                    .filter(|t| t.is_constant())
                    .map(|t| t.byte_len())
                    .sum()
            };
            let q = quantize(&s.graph, Some(&s.ranges), mode, io).unwrap();
            let (before, after) = (constant_bytes(&s.graph), constant_bytes(&q));
            match mode {
                Mode::Float16 => assert!(after * 2 <= before + 64, "{} {mode}", s.name),
                _ => assert!(after * 2 < before, "{} {mode}: {after} vs {before}", s.name),
            }
            if mode == Mode::Dynamic {
                assert!(
                    bytes.len() < float_bytes.len(),
                    "{} {mode} is not smaller",
                    s.name
                );
            }
        }
    }
}

#[test]
fn sine_every_mode() {
    check_subject(&onnx_subject("sine"));
}

#[test]
fn digits_every_mode() {
    check_subject(&onnx_subject("digits"));
}

#[test]
fn hello_world_every_mode() {
    if let Some(s) = hello_world_subject() {
        check_subject(&s);
    }
}

/// FC → SVDF → FC: the SVDF stays float in `int8_float_fallback`, with a DEQUANTIZE before it
/// and a QUANTIZE after it; the FCs run in int8. The `int8` mode refuses the graph.
#[test]
fn fallback_keeps_ops_without_int8_kernel_in_float() {
    let mut g = Graph::new();
    let mut lcg = 12345u32;
    let mut rand = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                lcg = lcg.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ((lcg >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    };
    let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 6]));
    let w1 = g.add_tensor(Tensor::constant(
        "w1",
        vec![8, 6],
        ConstData::F32(rand(48, 0.5)),
    ));
    let b1 = g.add_tensor(Tensor::constant(
        "b1",
        vec![8],
        ConstData::F32(rand(8, 0.2)),
    ));
    let h1 = g.add_tensor(Tensor::activation("h1", DType::F32, vec![1, 8]));
    let fc = |activation| {
        OpKind::FullyConnected(FullyConnectedOptions {
            activation,
            ..Default::default()
        })
    };
    g.add_op(Op::new(fc(Activation::Relu), [x, w1, b1], [h1]));
    // SVDF: 4 units, rank 1, memory 3.
    let wf = g.add_tensor(Tensor::constant(
        "wf",
        vec![4, 8],
        ConstData::F32(rand(32, 0.5)),
    ));
    let wt = g.add_tensor(Tensor::constant(
        "wt",
        vec![4, 3],
        ConstData::F32(rand(12, 1.0)),
    ));
    let bs = g.add_tensor(Tensor::constant(
        "bs",
        vec![4],
        ConstData::F32(rand(4, 0.1)),
    ));
    let st = g.add_tensor(Tensor::variable("state", DType::F32, vec![1, 12]));
    let h2 = g.add_tensor(Tensor::activation("h2", DType::F32, vec![1, 4]));
    g.add_op(Op::new(
        OpKind::Svdf(SvdfOptions {
            rank: 1,
            activation: Activation::None,
            asymmetric_quantize_inputs: false,
        }),
        [h1, wf, wt, bs, st],
        [h2],
    ));
    let w2 = g.add_tensor(Tensor::constant(
        "w2",
        vec![2, 4],
        ConstData::F32(rand(8, 0.7)),
    ));
    let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 2]));
    g.add_op(Op::new(fc(Activation::None), [h2, w2], [y]));
    g.inputs = vec![x];
    g.outputs = vec![y];
    g.validate().unwrap();

    let samples: Vec<Vec<Vec<f32>>> = (0..100).map(|_| vec![rand(6, 2.0)]).collect();
    let ranges = calibrate(&g, &samples, Method::MinMax).unwrap();
    let err = quantize(&g, Some(&ranges), Mode::Int8, IoKind::Integer).unwrap_err();
    assert!(err.to_string().contains("SVDF"), "{err}");

    let q = quantize(&g, Some(&ranges), Mode::Int8FloatFallback, IoKind::Float32).unwrap();
    q.validate().unwrap();
    let names: Vec<&str> = q.ops.iter().map(|o| o.name()).collect();
    assert_eq!(
        names,
        [
            "QUANTIZE",
            "FULLY_CONNECTED",
            "DEQUANTIZE",
            "SVDF",
            "QUANTIZE",
            "FULLY_CONNECTED",
            "DEQUANTIZE"
        ]
    );
    let io_types = |k: usize| {
        let op = &q.ops[k];
        (
            q.tensor(op.input(0).unwrap()).dtype,
            q.tensor(op.outputs[0]).dtype,
        )
    };
    assert_eq!(io_types(1), (DType::I8, DType::I8));
    assert_eq!(io_types(3), (DType::F32, DType::F32));
    assert_eq!(io_types(5), (DType::I8, DType::I8));
    assert_eq!(q.tensor(q.ops[3].input(1).unwrap()).dtype, DType::F32);
    assert_eq!(q.tensor(q.inputs[0]).dtype, DType::F32);
    assert_eq!(q.tensor(q.outputs[0]).dtype, DType::F32);

    let float_bytes = tflm::tflite_writer::write(&g).unwrap();
    let bytes = tflm::tflite_writer::write(&q).unwrap();
    let tests: Vec<Vec<f32>> = (0..50).map(|_| rand(6, 2.0)).collect();
    let inputs: Vec<Vec<TensorData>> = tests
        .iter()
        .map(|x| {
            vec![TensorData {
                dtype: DType::F32,
                shape: vec![1, 6],
                bytes: x.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }]
        })
        .collect();
    let ours = tflm::run::run_cases(&bytes, &inputs, true).unwrap();
    let float = tflm::run::run_cases(&float_bytes, &inputs, true).unwrap();
    let mut worst = 0.0f64;
    for (a, b) in ours.iter().zip(&float) {
        for (x, y) in a[0].values().iter().zip(b[0].values()) {
            worst = worst.max((x - y).abs());
        }
    }
    eprintln!("fallback FC-SVDF-FC: largest deviation from float {worst:.5}");
    assert!(worst < 0.05, "fallback deviates {worst} from float");
    if litert_available().is_some() {
        let theirs = litert_outputs("fallback_svdf", &bytes, &inputs);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            compare(&format!("case {i}"), &a[0], &b[0], 1e-5).unwrap();
        }
    }
}

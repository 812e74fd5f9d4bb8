//! Post-training int8 quantization end to end: a real float model (TFLite Micro's
//! hello_world_float, imported from .tflite), calibrated on its own task's data through the
//! runtime's observer, quantized to int8, written, and run: accuracy close to the float model,
//! the TFLite quantization spec's parameters, determinism, and bit-identical outputs in
//! LiteRT's reference kernels (skipped without ai-edge-litert unless TFLM_REQUIRE_LITERT=1).

mod common;

use common::{litert_available, litert_outputs, peer_models};
use tflm::calibrate::{calibrate, Method};
use tflm::fixtures::TensorData;
use tflm::ir::{ConstData, DType, Graph, OpKind};
use tflm::quantize::{quantize_int8, IoKind};
use tflm::run::{arena, AlignedBytes};
use tflm_runtime::{Interpreter, Model};

fn float_model() -> Option<Graph> {
    let dir = peer_models()?;
    let bytes = std::fs::read(dir.join("hello_world_float.tflite")).unwrap();
    Some(tflm::tflite_import::import(&bytes).unwrap())
}

/// x in [0, 2π), deterministic.
fn xs(n: usize, offset: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 + offset) / n as f32) * std::f32::consts::TAU)
        .collect()
}

/// Runs a single-input, single-output model on every x; dequantizes int8 outputs.
fn predict(bytes: &[u8], xs: &[f32]) -> Vec<f32> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let mut a = arena(model.arena_size());
    let mut it = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    let (inp, out) = (model.input(0).unwrap(), model.output(0).unwrap());
    xs.iter()
        .map(|&x| {
            match inp.dtype {
                DType::F32 => it.input::<f32>(0).unwrap()[0] = x,
                _ => {
                    let q = inp.quantization;
                    it.input::<i8>(0).unwrap()[0] =
                        ((x / q.scale()).round() + q.zero_point() as f32).clamp(-128.0, 127.0) as i8
                }
            }
            it.invoke().unwrap();
            match out.dtype {
                DType::F32 => it.output::<f32>(0).unwrap()[0],
                _ => {
                    let q = out.quantization;
                    (it.output::<i8>(0).unwrap()[0] as f32 - q.zero_point() as f32) * q.scale()
                }
            }
        })
        .collect()
}

fn mae(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn hello_world_int8_from_float_is_close_to_float_and_follows_the_spec() {
    let Some(graph) = float_model() else { return };
    let samples: Vec<Vec<Vec<f32>>> = xs(200, 0.0).into_iter().map(|x| vec![vec![x]]).collect();
    let ranges = calibrate(&graph, &samples, Method::MinMax).unwrap();
    let q = quantize_int8(&graph, &ranges, IoKind::Integer).unwrap();

    // Spec: int8 activations and weights, int32 bias with scale s_in * s_w, zero point 0.
    for op in &q.ops {
        assert!(matches!(op.kind, OpKind::FullyConnected(_)));
        let (x, w, b) = (
            op.input(0).unwrap(),
            op.input(1).unwrap(),
            op.input(2).unwrap(),
        );
        let (x, w, b) = (q.tensor(x), q.tensor(w), q.tensor(b));
        assert_eq!(
            (x.dtype, w.dtype, b.dtype),
            (DType::I8, DType::I8, DType::I32)
        );
        let (sx, sw, sb) = (
            x.quantization.as_ref().unwrap().scale(),
            w.quantization.as_ref().unwrap().scale(),
            b.quantization.as_ref().unwrap().scale(),
        );
        assert_eq!(sb, sx * sw);
        assert_eq!(w.quantization.as_ref().unwrap().zero_point(), 0);
        let ConstData::I8(wq) = w.data.as_ref().unwrap() else {
            panic!()
        };
        assert!(
            wq.iter().all(|&v| v >= -127),
            "symmetric weights never use -128"
        );
        assert!(
            wq.iter().any(|&v| v.abs() == 127),
            "the largest weight maps to ±127"
        );
    }
    // The calibrated input range is [0, 2π): zero point -128.
    let input_q = q.tensor(q.inputs[0]).quantization.clone().unwrap();
    assert_eq!(input_q.zero_point(), -128);

    let float_bytes = tflm::tflite_writer::write(&graph).unwrap();
    let int8_bytes = tflm::tflite_writer::write(&q).unwrap();
    assert_eq!(
        int8_bytes,
        tflm::tflite_writer::write(&quantize_int8(&graph, &ranges, IoKind::Integer).unwrap())
            .unwrap()
    );
    // Weights take a quarter of the float bytes, int32 biases as many (hello_world: 420 bytes of
    // constants against 1284). The flatbuffer as a whole can grow on a model this small:
    // per-channel scales and zero points cost 12 bytes per channel.
    let const_bytes = |g: &tflm::ir::Graph| -> usize {
        g.tensors
            .iter()
            .filter(|t| t.is_constant())
            .map(|t| t.byte_len())
            .sum()
    };
    assert!(
        3 * const_bytes(&q) < const_bytes(&graph),
        "{} vs {}",
        const_bytes(&q),
        const_bytes(&graph)
    );

    let test = xs(97, 0.5);
    let truth: Vec<f32> = test.iter().map(|x| x.sin()).collect();
    let float = predict(&float_bytes, &test);
    let int8 = predict(&int8_bytes, &test);
    let (float_mae, int8_mae, drift) =
        (mae(&float, &truth), mae(&int8, &truth), mae(&int8, &float));
    eprintln!(
        "hello_world: float MAE {float_mae:.4}, int8 MAE {int8_mae:.4}, int8 vs float {drift:.4}"
    );
    assert!(drift < 0.03, "int8 drifts {drift} from float");
    assert!(int8_mae < float_mae + 0.03);

    // Float I/O: same arithmetic inside, QUANTIZE/DEQUANTIZE around it.
    let qf = quantize_int8(&graph, &ranges, IoKind::Float32).unwrap();
    assert!(matches!(qf.ops.first().unwrap().kind, OpKind::Quantize));
    assert!(matches!(qf.ops.last().unwrap().kind, OpKind::Dequantize));
    let float_io = predict(&tflm::tflite_writer::write(&qf).unwrap(), &test);
    assert!(mae(&float_io, &int8) < 1e-6);
}

#[test]
fn calibration_methods_give_ranges_inside_minmax() {
    let Some(graph) = float_model() else { return };
    let samples: Vec<Vec<Vec<f32>>> = xs(300, 0.0).into_iter().map(|x| vec![vec![x]]).collect();
    let minmax = calibrate(&graph, &samples, Method::MinMax).unwrap();
    for method in [Method::Percentile, Method::Mse] {
        let r = calibrate(&graph, &samples, method).unwrap();
        for (t, (a, b)) in minmax.0.iter().zip(&r.0).enumerate() {
            match (a, b) {
                (Some((lo, hi)), Some((l, h))) => {
                    assert!(l >= lo && h <= hi && l <= h, "{method:?} tensor {t}")
                }
                (None, None) => {}
                _ => panic!("{method:?} tensor {t}: calibrated by one method only"),
            }
        }
    }
    // Every activation was seen.
    for op in &graph.ops {
        assert!(minmax.get(op.outputs[0]).is_some());
    }
}

#[test]
fn bad_calibration_input_is_reported() {
    let Some(graph) = float_model() else { return };
    let err = calibrate(&graph, &[vec![vec![1.0, 2.0]]], Method::MinMax).unwrap_err();
    assert_eq!(err.to_string(), "sample 0: input 0 needs 1 values, 2 given");
    let err = calibrate(&graph, &[vec![vec![f32::NAN]]], Method::MinMax).unwrap_err();
    assert!(
        err.to_string().contains("produced NaN on sample 0"),
        "{err}"
    );
    assert_eq!(
        calibrate(&graph, &[], Method::MinMax)
            .unwrap_err()
            .to_string(),
        "calibration needs at least one sample"
    );
}

#[test]
fn quantized_model_runs_bit_exact_in_litert() {
    let Some(graph) = float_model() else { return };
    if litert_available().is_none() {
        return;
    }
    let samples: Vec<Vec<Vec<f32>>> = xs(200, 0.0).into_iter().map(|x| vec![vec![x]]).collect();
    let ranges = calibrate(&graph, &samples, Method::MinMax).unwrap();
    for io in [IoKind::Integer, IoKind::Float32] {
        let bytes =
            tflm::tflite_writer::write(&quantize_int8(&graph, &ranges, io).unwrap()).unwrap();
        let inputs: Vec<Vec<TensorData>> = (-128..=127)
            .step_by(5)
            .map(|q: i32| match io {
                IoKind::Integer => vec![TensorData {
                    dtype: DType::I8,
                    shape: vec![1, 1],
                    bytes: vec![q as i8 as u8],
                }],
                IoKind::Float32 => vec![TensorData {
                    dtype: DType::F32,
                    shape: vec![1, 1],
                    bytes: ((q + 128) as f32 * 0.025).to_le_bytes().to_vec(),
                }],
            })
            .collect();
        let ours = tflm::run::run_cases(&bytes, &inputs, true).unwrap();
        let theirs = litert_outputs(&format!("hello_int8_{io:?}"), &bytes, &inputs);
        assert_eq!(ours, theirs, "{io:?}");
    }
}

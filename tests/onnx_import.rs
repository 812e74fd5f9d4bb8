//! ONNX import (`tflm::onnx_import`): the bundled Keras models (tf2onnx, NHWC) and small
//! PyTorch-style NCHW graphs (`tests/fixtures/onnx/`, written by `tools/make_onnx_cases.py`)
//! are imported, written as `.tflite`, parsed and run by the host runtime; the outputs must
//! agree with tract's own run of the ONNX file (the independent float oracle) within 1e-4,
//! relative to the largest magnitude of the output tensor.

use std::path::{Path, PathBuf};
use tflm::fixtures::TensorData;
use tflm::onnx_import::{self, ImportOptions};
use tflm::run::{run_cases, AlignedBytes};
use tflm::runtime::{DType, Model};
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root()
        .join("tests/fixtures/onnx")
        .join(format!("{name}.onnx"))
}

/// tract's outputs for each input row (batch 1, input of `shape`).
fn tract_outputs(path: &Path, shape: &[usize], rows: &[Vec<f32>]) -> Vec<Vec<Vec<f32>>> {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .with_input_fact(0, f32::fact(shape).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    rows.iter()
        .map(|row| {
            let t = Tensor::from_shape(shape, row).unwrap();
            let out = model.run(tvec!(t.into())).unwrap();
            out.iter()
                .map(|t| {
                    t.to_plain_array_view::<f32>()
                        .unwrap()
                        .iter()
                        .copied()
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Imports, writes, and runs the rows on the host runtime (input of `shape`).
fn runtime_outputs(bytes: &[u8], shape: &[usize], rows: &[Vec<f32>]) -> Vec<Vec<Vec<f32>>> {
    let cases: Vec<Vec<TensorData>> = rows
        .iter()
        .map(|row| {
            vec![TensorData {
                dtype: DType::F32,
                shape: shape.to_vec(),
                bytes: row.iter().flat_map(|x| x.to_le_bytes()).collect(),
            }]
        })
        .collect();
    run_cases(bytes, &cases, true)
        .unwrap()
        .into_iter()
        .map(|outs| {
            outs.into_iter()
                .map(|t| {
                    assert_eq!(t.dtype, DType::F32);
                    t.bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn write(path: &Path, options: &ImportOptions) -> Vec<u8> {
    let graph = onnx_import::import_with(path, options)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tflm::tflite_writer::write(&graph).unwrap()
}

fn assert_close(what: &str, got: &[Vec<Vec<f32>>], want: &[Vec<Vec<f32>>]) {
    assert_eq!(got.len(), want.len());
    for (row, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: output count");
        for (k, (g, w)) in g.iter().zip(w).enumerate() {
            assert_eq!(g.len(), w.len(), "{what}: output {k} size");
            let scale = w.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{what}: row {row}, output {k}[{i}]: runtime {a}, tract {b}"
                );
            }
        }
    }
}

fn op_names(bytes: &[u8]) -> Vec<&'static str> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    (0..model.num_operators())
        .map(|i| model.operator(i).name())
        .collect()
}

/// The model's rows as normalized inputs: a minimal reader of its specs.json and
/// dataset.csv (feature columns, mean/std or min/max normalization).
fn dataset_rows(dir: &Path, limit: usize) -> Vec<Vec<f32>> {
    let specs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("specs.json")).unwrap()).unwrap();
    let csv = std::fs::read_to_string(dir.join("dataset.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let labels: Vec<&str> = specs["dataset"]["label_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // `feature_columns` when the specs list them (co2 has a `time` column it does not read).
    let listed: Option<Vec<&str>> = specs["dataset"]["feature_columns"]
        .as_array()
        .map(|v| v.iter().map(|c| c.as_str().unwrap()).collect());
    let features: Vec<usize> = (0..header.len())
        .filter(|&i| match &listed {
            Some(l) => l.contains(&header[i]),
            None => !labels.contains(&header[i]),
        })
        .collect();
    let norm = &specs["inputs"][0]["normalization"];
    let per = |key: &str, i: usize| -> Option<f32> {
        let v = norm[key].as_array()?;
        Some(v[i.min(v.len() - 1)].as_f64()? as f32)
    };
    lines
        .take(limit)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            features
                .iter()
                .enumerate()
                .map(|(j, &i)| {
                    let x: f32 = cells[i].parse().unwrap();
                    if let (Some(m), Some(s)) = (per("mean", j), per("std", j)) {
                        (x - m) / s
                    } else if let (Some(lo), Some(hi)) = (per("min", j), per("max", j)) {
                        (x - lo) / (hi - lo)
                    } else {
                        x
                    }
                })
                .collect()
        })
        .collect()
}

fn check_model_dir(name: &str, shape: &[usize]) -> Vec<u8> {
    let dir = root().join("models").join(name);
    let path = dir.join("model.onnx");
    let bytes = write(&path, &ImportOptions::default());
    let rows = dataset_rows(&dir, 100);
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0].len(), shape.iter().product::<usize>());
    let got = runtime_outputs(&bytes, shape, &rows);
    let want = tract_outputs(&path, shape, &rows);
    assert_close(name, &got, &want);
    bytes
}

#[test]
fn sine_matches_tract_on_its_dataset() {
    let bytes = check_model_dir("sine", &[1, 1]);
    assert_eq!(
        op_names(&bytes),
        ["FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED"]
    );
}

#[test]
fn digits_matches_tract_on_its_dataset_without_transposes() {
    let bytes = check_model_dir("digits", &[1, 8, 8, 1]);
    assert_eq!(
        op_names(&bytes),
        [
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "MAX_POOL_2D",
            "CONV_2D",
            "AVERAGE_POOL_2D",
            "RESHAPE",
            "FULLY_CONNECTED",
            "FULLY_CONNECTED",
            "SOFTMAX"
        ]
    );
}

#[test]
fn co2_lstm_matches_tract_on_every_test_window() {
    // Transpose → LSTM → Squeeze → Slice → Squeeze → MatMul → Add (tf2onnx) becomes what
    // TensorFlow's converter emits for the Keras model: the LSTM batch-major (the transpose is
    // bookkeeping), the last step by STRIDED_SLICE, the dense layer with its bias.
    let dir = root().join("models/co2");
    let path = dir.join("model.onnx");
    let bytes = write(&path, &ImportOptions::default());
    assert_eq!(
        op_names(&bytes),
        [
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
            "STRIDED_SLICE",
            "FULLY_CONNECTED"
        ]
    );
    // The test split: rows 15120.. (the last week), one window of 24 rows per start row.
    let rows = dataset_rows(&dir, 20160);
    let windows: Vec<Vec<f32>> = (15120..=20160 - 24)
        .map(|s| rows[s..s + 24].concat())
        .collect();
    assert_eq!(windows.len(), 5017);
    let got = runtime_outputs(&bytes, &[1, 24, 3], &windows);
    let want = tract_outputs(&path, &[1, 24, 3], &windows);
    // One output value per window: 1e-4 relative to the largest magnitude over the split.
    let flat =
        |v: &[Vec<Vec<f32>>]| -> Vec<f32> { v.iter().flatten().flatten().copied().collect() };
    let (got, want) = (flat(&got), flat(&want));
    assert_eq!(got.len(), 5017);
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("co2: largest |runtime - tract| {worst:e}, largest |output| {scale}");
    assert!(worst <= 1e-4 * scale, "{worst} against {scale}");
}

/// Deterministic pseudo-random rows in [-2, 2).
fn random_rows(n: usize, len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
                })
                .collect()
        })
        .collect()
}

/// Imports a fixture, checks it against tract on 8 random inputs, returns its op list.
fn check_fixture(name: &str, shape: &[usize]) -> Vec<&'static str> {
    let path = fixture(name);
    let bytes = write(&path, &ImportOptions::default());
    let rows = random_rows(8, shape.iter().product(), 42);
    let got = runtime_outputs(&bytes, shape, &rows);
    let want = tract_outputs(&path, shape, &rows);
    assert_close(name, &got, &want);
    op_names(&bytes)
}

#[test]
fn nchw_cnn_folds_batch_norm_and_permutes_the_flatten_into_the_fc() {
    // Input NCHW kept (one TRANSPOSE into the conv); BN folded, ReLU fused, the NCHW flatten
    // read NHWC by the FC with permuted weight columns (no RESHAPE, no second TRANSPOSE).
    assert_eq!(
        check_fixture("nchw_cnn", &[1, 3, 8, 8]),
        [
            "TRANSPOSE",
            "CONV_2D",
            "MAX_POOL_2D",
            "FULLY_CONNECTED",
            "SOFTMAX"
        ]
    );
}

#[test]
fn nhwc_io_option_drops_the_input_transpose() {
    let path = fixture("nchw_cnn");
    let options = ImportOptions { nhwc_io: true };
    let bytes = write(&path, &options);
    assert_eq!(
        op_names(&bytes),
        ["CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"]
    );
    let rows = random_rows(4, 3 * 64, 7);
    let nhwc: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| {
            let mut t = vec![0.0; r.len()];
            for c in 0..3 {
                for p in 0..64 {
                    t[p * 3 + c] = r[c * 64 + p];
                }
            }
            t
        })
        .collect();
    let got = runtime_outputs(&bytes, &[1, 8, 8, 3], &nhwc);
    let want = tract_outputs(&path, &[1, 3, 8, 8], &rows);
    assert_close("nchw_cnn (nhwc_io)", &got, &want);
}

#[test]
fn gemm_variants_match_tract() {
    // Gemm alpha/beta, Clip(0,6) fused, Div as MUL, MatMul + Add and BN folded into one FC,
    // LeakyRelu, Tanh, Sigmoid, Sub.
    assert_eq!(
        check_fixture("gemm_variants", &[1, 6]),
        [
            "FULLY_CONNECTED",
            "MUL",
            "FULLY_CONNECTED",
            "LEAKY_RELU",
            "FULLY_CONNECTED",
            "TANH",
            "LOGISTIC",
            "SUB"
        ]
    );
}

#[test]
fn concat_pad_and_global_average_pool_match_tract() {
    let ops = check_fixture("concat_pad_gap", &[1, 2, 6, 6]);
    assert_eq!(
        ops,
        [
            "TRANSPOSE",
            "PAD",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "CONCATENATION",
            "PAD",
            "RELU6",
            "MEAN",
            "RESHAPE",
            "FULLY_CONNECTED"
        ]
    );
}

#[test]
fn keras_style_transpose_pairs_cancel() {
    let ops = check_fixture("keras_style", &[1, 6, 6, 2]);
    assert!(!ops.contains(&"TRANSPOSE"), "{ops:?}");
    assert_eq!(
        ops,
        [
            "CONV_2D",
            "HARD_SWISH",
            "MUL",
            "ADD",
            "AVERAGE_POOL_2D",
            "MEAN"
        ]
    );
}

#[test]
fn nchw_outputs_keep_the_onnx_layout() {
    let ops = check_fixture("nchw_output", &[1, 2, 4, 5]);
    // Into the conv, and back for the first output; the second (one channel) only needs a
    // RESHAPE.
    assert_eq!(
        ops,
        ["TRANSPOSE", "CONV_2D", "MEAN", "TRANSPOSE", "RESHAPE"]
    );
}

#[test]
fn pytorch_batch_first_lstm_runs_batch_major_without_transposes() {
    // Transpose → LSTM → Squeeze → Transpose: the sequence output is the LSTM's own output;
    // out[:, -1] (Gather) is one STRIDED_SLICE; the zero state made from Shape and
    // ConstantOfShape folds away.
    assert_eq!(
        check_fixture("lstm_torch_batch_first", &[1, 6, 4]),
        [
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
            "STRIDED_SLICE",
            "FULLY_CONNECTED"
        ]
    );
}

#[test]
fn pytorch_time_major_lstm_with_batch_2_matches_tract() {
    // time_major = true, batch 2; h_n.squeeze(0) is a STRIDED_SLICE with shrink_axis_mask.
    assert_eq!(
        check_fixture("lstm_torch_time_major", &[6, 2, 4]),
        [
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
            "STRIDED_SLICE",
            "FULLY_CONNECTED"
        ]
    );
    let graph = onnx_import::import(&fixture("lstm_torch_time_major")).unwrap();
    let lstm = &graph.ops[0];
    let tflm::ir::OpKind::UnidirectionalSequenceLstm(o) = &lstm.kind else {
        panic!("{:?}", lstm.kind)
    };
    assert!(o.time_major);
    assert_eq!(graph.tensor(lstm.input(18).unwrap()).shape, [2, 8]);
    assert!(graph.tensor(lstm.input(19).unwrap()).is_variable);
}

#[test]
fn layout_1_lstm_with_peepholes_and_clip_matches_tract() {
    // Y (4-D) is a RESHAPE of the LSTM output; no bias input gives zero biases; the clip
    // (50, never reached) is the cell clip.
    let ops = check_fixture("lstm_layout1_peephole", &[1, 5, 3]);
    assert_eq!(
        ops,
        ["UNIDIRECTIONAL_SEQUENCE_LSTM", "RESHAPE", "STRIDED_SLICE"]
    );
    let graph = onnx_import::import(&fixture("lstm_layout1_peephole")).unwrap();
    let lstm = &graph.ops[0];
    let tflm::ir::OpKind::UnidirectionalSequenceLstm(o) = &lstm.kind else {
        panic!("{:?}", lstm.kind)
    };
    assert!(!o.time_major && o.cell_clip == 50.0);
    assert!((9..=15).all(|k| lstm.input(k).is_some()));
}

#[test]
fn lstm_errors_name_the_node() {
    let err = onnx_import::import(&fixture("lstm_bidirectional")).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"node "bilstm" (LSTM, opset 13): direction "bidirectional" is not supported: UNIDIRECTIONAL_SEQUENCE_LSTM runs forward only"#
    );
    let err = onnx_import::import(&fixture("lstm_initial_state")).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"node "lstm" (LSTM, opset 13): initial_h ("c4") must be absent or a constant zero: the state starts at zero (a reset) in TFLite"#
    );
}

#[test]
fn unsupported_op_names_node_type_and_opset() {
    let err = onnx_import::import(&fixture("unsupported")).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"node "sin_1" (Sin, opset 13): not supported yet"#
    );
}

#[test]
fn ceil_mode_that_changes_the_size_is_an_attribute_error() {
    let err = onnx_import::import(&fixture("ceil_mode")).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"node "pool" (MaxPool, opset 13): ceil_mode = 1 changes the output size here: not supported (TFLite rounds down)"#
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(onnx_import::import_bytes(b"not a model").is_err());
    assert!(onnx_import::import_bytes(&[]).is_err());
    let mut bytes = std::fs::read(fixture("nchw_cnn")).unwrap();
    bytes.truncate(bytes.len() / 2);
    assert!(onnx_import::import_bytes(&bytes).is_err());
}

#[test]
fn importing_and_writing_twice_gives_identical_bytes() {
    for path in [
        root().join("models/digits/model.onnx"),
        root().join("models/sine/model.onnx"),
        fixture("nchw_cnn"),
        fixture("concat_pad_gap"),
    ] {
        let a = write(&path, &ImportOptions::default());
        let b = write(&path, &ImportOptions::default());
        assert!(a == b, "{}", path.display());
    }
}

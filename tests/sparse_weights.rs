//! tflm-rs's sparse weight encoding end to end: the pruned bundled models written with sparse
//! FULLY_CONNECTED and int8 LSTM gate weights give bit for bit the dense model's outputs on
//! every test row, are smaller and deterministic; so does TFLite's own int8 LSTM (a peer model)
//! pruned, whose dense form LiteRT's reference kernels run to the same bytes; corrupt encodings
//! and sparse tensors where no sparse kernel reads them are refused with precise errors;
//! mutating any encoded byte never panics; LiteRT refuses the encoding (so its tests use dense
//! weights).

mod common;

use std::path::{Path, PathBuf};
use tflm::pipeline::{Converted, Pipeline, Session};
use tflm::quantize::Mode;
use tflm::run::{arena, run_cases, run_model_cases, AlignedBytes};
use tflm::sparse::SparseWeights;
use tflm_runtime::{ops, Interpreter, Location, Model, ParseErrorKind};

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn pruned(name: &str) -> Session {
    Pipeline::from_dir(model_dir(name))
        .prune(0.5)
        .load()
        .unwrap()
}

fn convert(session: &mut Session, sparse: SparseWeights) -> Converted {
    session.options.sparse = sparse;
    session.convert(Mode::Int8).unwrap()
}

/// Indices of the tensors stored sparse-encoded.
fn sparse_tensors(bytes: &[u8]) -> Vec<usize> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    (0..model.num_tensors())
        .filter(|&t| model.tensor(t).is_sparse)
        .collect()
}

/// The `_INT8` registrations the generated `OPS` may name (besides `ops::ALL`'s).
const INT8_REGISTRATIONS: &[tflm_runtime::ops::Registration] = &[
    tflm_runtime::ops::FULLY_CONNECTED_INT8,
    tflm_runtime::ops::FULLY_CONNECTED_SPARSE_INT8,
    tflm_runtime::ops::CONV_2D_INT8,
    tflm_runtime::ops::CONV_2D_SPARSE_INT8,
    tflm_runtime::ops::DEPTHWISE_CONV_2D_INT8,
    tflm_runtime::ops::DEPTHWISE_CONV_2D_MULTIPLIER_1_INT8,
    tflm_runtime::ops::SOFTMAX_INT8,
    tflm_runtime::ops::ADD_INT8,
    tflm_runtime::ops::SUB_INT8,
    tflm_runtime::ops::MUL_INT8,
    tflm_runtime::ops::AVERAGE_POOL_2D_INT8,
    tflm_runtime::ops::MAX_POOL_2D_INT8,
    tflm_runtime::ops::SVDF_INT8,
    tflm_runtime::ops::UNIDIRECTIONAL_SEQUENCE_LSTM_INT8,
    tflm_runtime::ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8,
];

/// The tensors read as inputs `k` of the model's operators of builtin `code`.
fn inputs_of(bytes: &[u8], code: i32, k: std::ops::Range<usize>) -> Vec<usize> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    (0..model.num_operators())
        .map(|i| model.operator(i))
        .filter(|op| op.code == code)
        .flat_map(|op| k.clone().filter_map(move |k| op.input(k)))
        .collect()
}

const LSTM: i32 = tflm_runtime::schema::op::UNIDIRECTIONAL_SEQUENCE_LSTM;

#[test]
fn sparse_weights_are_bit_identical_smaller_and_deterministic_on_pruned_models() {
    for name in ["sine", "digits", "co2"] {
        let mut session = pruned(name);
        let dense = convert(&mut session, SparseWeights::Never);
        let always = convert(&mut session, SparseWeights::Always);
        let auto = convert(&mut session, SparseWeights::Auto);
        let fast = convert(&mut session, SparseWeights::Fast);
        assert!(sparse_tensors(&dense.tflite).is_empty());
        let fc_count = dense
            .ops
            .iter()
            .filter(|&&o| o.starts_with("FULLY_CONNECTED"))
            .count();
        assert_eq!(fc_count, 1, "{name}: {:?}", dense.ops);
        // `always` encodes every FULLY_CONNECTED weight tensor; `auto` and `fast` write the
        // smaller file of their choice and the dense one.
        assert!(!sparse_tensors(&always.tflite).is_empty(), "{name}");
        assert!(
            always.ops.contains(&"FULLY_CONNECTED_SPARSE_INT8"),
            "{name}: {:?}",
            always.ops
        );
        assert!(
            !always.ops.contains(&"FULLY_CONNECTED"),
            "{name}: {:?}",
            always.ops
        );
        for c in [&auto, &fast] {
            if sparse_tensors(&c.tflite).is_empty() {
                assert_eq!(c.tflite, dense.tflite, "{name}");
            } else {
                assert!(c.tflite.len() < dense.tflite.len(), "{name}");
            }
        }
        // At 50% zeros the sparse FULLY_CONNECTED kernel is slower than the dense one: `fast`
        // keeps FULLY_CONNECTED weights dense (only co2's LSTM gate matrices are encoded),
        // `auto` encodes every tensor the encoding shrinks.
        let fc_weights = inputs_of(&fast.tflite, 9, 1..2);
        assert!(
            sparse_tensors(&fast.tflite)
                .iter()
                .all(|t| !fc_weights.contains(t)),
            "{name}: fast encoded FULLY_CONNECTED weights at 50% zeros"
        );
        if name == "digits" {
            // Its CONV_2D filters, pruned weight by weight, have few zero blocks: `auto`
            // keeps them dense, `always` writes them in blocks.
            assert!(auto.ops.contains(&"CONV_2D_INT8"), "{:?}", auto.ops);
            assert!(
                always.ops.contains(&"CONV_2D_SPARSE_INT8"),
                "{:?}",
                always.ops
            );
            assert!(
                (auto.tflite.len() as f64) < 0.9 * dense.tflite.len() as f64,
                "digits: {} vs {} bytes",
                auto.tflite.len(),
                dense.tflite.len()
            );
            assert_eq!(fast.tflite, dense.tflite);
        }
        let inputs = session.test_inputs(&dense);
        let want = run_cases(&dense.tflite, &inputs, true).unwrap();
        for (what, c) in [("always", &always), ("auto", &auto), ("fast", &fast)] {
            let got = run_cases(&c.tflite, &inputs, true).unwrap();
            assert_eq!(
                got, want,
                "{name} ({what}): outputs differ from the dense weights'"
            );
            // The generated OPS list is enough to parse it.
            let regs: Vec<ops::Registration> = c
                .ops
                .iter()
                .map(|&n| {
                    ops::ALL
                        .iter()
                        .chain(INT8_REGISTRATIONS)
                        .copied()
                        .find(|r| r.name() == n)
                        .unwrap_or_else(|| panic!("no registration {n}"))
                })
                .collect();
            let aligned = AlignedBytes::new(&c.tflite);
            Model::parse_with(aligned.as_slice(), &regs).unwrap();
            // Opened as build-verified with that list (what a firmware does), the same bits.
            let trusted = Model::from_build_verified(aligned.as_slice(), &regs).unwrap();
            assert_eq!(
                run_model_cases(&trusted, &inputs, true).unwrap(),
                want,
                "{name} ({what}): from_build_verified"
            );
        }
        // Same inputs, same bytes.
        let again = convert(&mut pruned(name), SparseWeights::Auto);
        assert_eq!(again.tflite, auto.tflite, "{name}: not deterministic");
        if name == "co2" {
            // `always` and `auto`: the eight gate matrices and the FULLY_CONNECTED weights
            // (each encoding smaller than its dense bytes, [20, 3] about 50 of 60, [20, 20]
            // about 260 of 400); `fast`: the gate matrices only (the sparse gate products are
            // faster from 50% zeros on).
            let gates = inputs_of(&always.tflite, LSTM, 1..9);
            let fc = inputs_of(&always.tflite, 9, 1..2);
            let mut want: Vec<usize> = gates.iter().chain(&fc).copied().collect();
            want.sort();
            assert_eq!(want.len(), 9);
            assert_eq!(sparse_tensors(&always.tflite), want);
            assert_eq!(auto.tflite, always.tflite);
            let mut gates = inputs_of(&fast.tflite, LSTM, 1..9);
            gates.sort();
            assert_eq!(sparse_tensors(&fast.tflite), gates);
            for c in [&always, &auto, &fast] {
                assert!(c.ops.contains(&"UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8"));
            }
            assert!(fast.ops.contains(&"FULLY_CONNECTED_INT8"), "{:?}", fast.ops);
            // 5344 dense (5840 before the writer shared identical shapes and quantization
            // tables between tensors).
            assert_eq!(dense.tflite.len(), 5344);
            for c in [&auto, &fast] {
                assert!(
                    (c.tflite.len() as f64) < 0.93 * dense.tflite.len() as f64,
                    "co2: {} vs {} bytes",
                    c.tflite.len(),
                    dense.tflite.len()
                );
            }
        }
    }
}

/// From about 81% zeros on the sparse FULLY_CONNECTED kernel needs fewer instructions than the
/// dense one (docs/sparse.md), so `fast` encodes digits' FULLY_CONNECTED weights at 90%; at
/// 90% its 3x3x1 CONV_2D filter, pruned weight by weight, has enough zero blocks for the block
/// kernel's whole-image path to be the faster one too (`block_conv_is_faster`).
#[test]
fn fast_encodes_fully_connected_weights_where_the_sparse_kernel_is_faster() {
    let mut session = Pipeline::from_dir(model_dir("digits"))
        .prune(0.9)
        .load()
        .unwrap();
    let dense = convert(&mut session, SparseWeights::Never);
    let fast = convert(&mut session, SparseWeights::Fast);
    let mut fc = inputs_of(&fast.tflite, 9, 1..2);
    assert_eq!(fc.len(), 2);
    // The 3x3x1 filter (the first CONV_2D) in blocks; the 1x1 one (12 channels) stays dense,
    // its dense kernel being the faster (`pointwise_block_is_faster`).
    fc.push(inputs_of(&fast.tflite, tflm_runtime::schema::op::CONV_2D, 1..2)[0]);
    fc.sort();
    assert_eq!(sparse_tensors(&fast.tflite), fc);
    assert!(fast.ops.contains(&"FULLY_CONNECTED_SPARSE_INT8"));
    assert!(fast.ops.contains(&"CONV_2D_SPARSE_INT8"));
    assert!(fast.tflite.len() < dense.tflite.len());
    let inputs = session.test_inputs(&dense);
    assert_eq!(
        run_cases(&fast.tflite, &inputs, true).unwrap(),
        run_cases(&dense.tflite, &inputs, true).unwrap()
    );
}

/// TensorFlow's own int8 LSTM (`trained_lstm_int8`, a peer model: 8x8→16 with intermediates),
/// its eight gate matrices magnitude-pruned to 50% here: LiteRT's reference kernels run the
/// dense pruned file to the runtime's bytes, and the sparse file (every gate matrix encoded)
/// to the same bytes, on every line of its test cases.
#[test]
fn pruned_tflite_lstm_is_bit_identical_sparse_dense_and_litert() {
    let Some(dir) = common::peer_models() else {
        return;
    };
    let original = std::fs::read(dir.join("trained_lstm_int8.tflite")).unwrap();
    let mut graph = tflm::tflite_import::import(&original).unwrap();
    let lstm = graph
        .ops
        .iter()
        .position(|o| o.name() == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        .unwrap();
    for k in 1..9 {
        let Some(id) = graph.ops[lstm].input(k) else {
            continue;
        };
        let t = graph.tensor_mut(id);
        let Some(tflm::ir::ConstData::I8(w)) = t.data.as_mut() else {
            panic!("gate weights {k} are not int8 constants");
        };
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by_key(|&i| ((w[i] as i32).abs(), i));
        for &i in &order[..w.len() / 2] {
            w[i] = 0;
        }
    }
    let dense = tflm::tflite_writer::write_with(&graph, SparseWeights::Never).unwrap();
    let sparse = tflm::tflite_writer::write_with(&graph, SparseWeights::Always).unwrap();
    let gates = inputs_of(&dense, LSTM, 1..9);
    assert_eq!(gates.len(), 8);
    let encoded = sparse_tensors(&sparse);
    assert!(gates.iter().all(|t| encoded.contains(t)), "{encoded:?}");
    assert!(sparse.len() < dense.len());
    let cases =
        tflm::fixtures::read_cases(&dir.join("trained_lstm_int8.testcases.ref.jsonl")).unwrap();
    let inputs: Vec<_> = cases.into_iter().map(|c| c.inputs).collect();
    assert!(inputs.len() >= 5);
    let want = run_cases(&dense, &inputs, true).unwrap();
    assert_eq!(run_cases(&sparse, &inputs, true).unwrap(), want);
    // The pruning changed the outputs (the test would not see a kernel that ignores weights).
    assert_ne!(run_cases(&original, &inputs, true).unwrap(), want);
    if common::litert_available().is_some() {
        let theirs = common::litert_outputs("trained_lstm_int8_p50", &dense, &inputs);
        for (k, (o, t)) in want.iter().zip(&theirs).enumerate() {
            assert_eq!(o[0].bytes, t[0].bytes, "case {k}: LiteRT differs");
        }
    }
    let aligned = AlignedBytes::new(&sparse);
    let model = Model::parse(aligned.as_slice()).unwrap();
    assert_eq!(
        ops::registration_for(&model, LSTM).map(|r| r.name()),
        Some("UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8")
    );
}

/// `ops::registration_for` and the registrations a model with sparse LSTM weights parses with:
/// the dense LSTM registrations refuse it, naming the sparse one to add.
#[test]
fn sparse_lstm_weights_need_the_sparse_lstm_registration() {
    let mut session = pruned("co2");
    let dense = convert(&mut session, SparseWeights::Never);
    let sparse = convert(&mut session, SparseWeights::Always);
    let (a_dense, a_sparse) = (
        AlignedBytes::new(&dense.tflite),
        AlignedBytes::new(&sparse.tflite),
    );
    let (m_dense, m_sparse) = (
        Model::parse(a_dense.as_slice()).unwrap(),
        Model::parse(a_sparse.as_slice()).unwrap(),
    );
    let name = |m: &Model<'_>, code| ops::registration_for(m, code).unwrap().name();
    assert_eq!(name(&m_dense, LSTM), "UNIDIRECTIONAL_SEQUENCE_LSTM_INT8");
    assert_eq!(
        name(&m_sparse, LSTM),
        "UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8"
    );
    assert_eq!(name(&m_sparse, 9), "FULLY_CONNECTED_SPARSE_INT8");
    let rest = [ops::FULLY_CONNECTED_SPARSE, ops::STRIDED_SLICE];
    let with = |lstm: ops::Registration| {
        let list: Vec<_> = [lstm].iter().chain(&rest).copied().collect();
        Model::parse_with(a_sparse.as_slice(), &list).map(|_| ())
    };
    for (lstm, missing) in [
        (
            ops::UNIDIRECTIONAL_SEQUENCE_LSTM_INT8,
            "UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8",
        ),
        (
            ops::UNIDIRECTIONAL_SEQUENCE_LSTM,
            "UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE",
        ),
    ] {
        let e = with(lstm).unwrap_err();
        assert_eq!(
            e.kind,
            ParseErrorKind::NotRegistered {
                code: LSTM,
                name: missing
            }
        );
        assert!(e.to_string().starts_with("operator 0: "), "{e}");
    }
    with(ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8).unwrap();
    with(ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE).unwrap();
    // The dense model parses with every LSTM registration.
    Model::parse_with(
        a_dense.as_slice(),
        &[
            ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE_INT8,
            ops::FULLY_CONNECTED,
            ops::STRIDED_SLICE,
        ],
    )
    .unwrap();
}

/// `bytes` with input `k` of operator `op` pointing at tensor `tensor` (the operator's inputs
/// vector found by its contents, which must occur once).
fn retarget(bytes: &[u8], op: usize, k: usize, tensor: usize) -> Vec<u8> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let o = model.operator(op);
    let mut pattern = (o.inputs.len() as u32).to_le_bytes().to_vec();
    for t in o.inputs.iter() {
        pattern.extend_from_slice(&t.to_le_bytes());
    }
    let at: Vec<usize> = (0..bytes.len() - pattern.len())
        .filter(|&i| bytes[i..i + pattern.len()] == pattern[..])
        .collect();
    assert_eq!(at.len(), 1, "operator {op}'s inputs vector");
    let mut b = bytes.to_vec();
    let slot = at[0] + 4 + 4 * k;
    b[slot..slot + 4].copy_from_slice(&(tensor as i32).to_le_bytes());
    b
}

#[test]
fn corrupt_or_misused_sparse_lstm_weights_are_refused_precisely() {
    let bytes = convert(&mut pruned("co2"), SparseWeights::Always).tflite;
    let aligned = AlignedBytes::new(&bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let recurrent_forget = model.operator(0).input(6).unwrap();
    let t = model.tensor(recurrent_forget);
    assert!(t.is_sparse);
    let (at, mask) = (t.data_offset, bytes[t.data_offset]);
    assert_ne!(
        mask, 0,
        "row 0 of the recurrent forget weights starts with nonzero weights"
    );
    let mut b = bytes.clone();
    b[at + 1] = 0;
    assert_eq!(
        parse_error(&b),
        format!(
            "tensor {recurrent_forget}: sparse weights: row 0, column {}: stored value is 0 (zeros must be left out)",
            mask.trailing_zeros()
        )
    );
    // A [20, 20] row has three groups; the last covers columns 16-19 only.
    let mut b = bytes.clone();
    let mut pos = at;
    for _ in 0..2 {
        pos += 1 + bytes[pos].count_ones() as usize;
    }
    b[pos] |= 0x80;
    assert!(
        parse_error(&b).starts_with(&format!(
            "tensor {recurrent_forget}: sparse weights: row 0, column group 2: mask 0x"
        )),
        "{}",
        parse_error(&b)
    );
    // A sparse tensor where no sparse kernel reads it: the LSTM's input gate bias (input 12)
    // and the FULLY_CONNECTED's bias (input 2) pointed at sparse weights.
    let input_gate = model.operator(0).input(1).unwrap();
    let b = retarget(&bytes, 0, 12, input_gate);
    assert_eq!(
        parse_error(&b),
        format!(
            "operator 0: tensor {input_gate} is sparse-encoded, but UNIDIRECTIONAL_SEQUENCE_LSTM cannot read it as input 12 (only FULLY_CONNECTED input 1, CONV_2D input 1 in 1x4 blocks and the int8 UNIDIRECTIONAL_SEQUENCE_LSTM's inputs 1-8 in the row bitmask can)"
        )
    );
    let fc = (0..model.num_operators())
        .find(|&i| model.operator(i).code == 9)
        .unwrap();
    let fc_weights = model.operator(fc).input(1).unwrap();
    let e = parse_error(&retarget(&bytes, fc, 2, fc_weights));
    assert!(
        e.starts_with(&format!(
            "operator {fc}: tensor {fc_weights} is sparse-encoded, but FULLY_CONNECTED cannot read it as input 2"
        )),
        "{e}"
    );
}

#[test]
fn unpruned_models_stay_dense_with_auto() {
    let auto = Pipeline::from_dir(model_dir("digits")).run().unwrap();
    let never = Pipeline::from_dir(model_dir("digits"))
        .sparse_weights(SparseWeights::Never)
        .run()
        .unwrap();
    assert_eq!(auto.tflite, never.tflite);
}

/// The sine model with every FULLY_CONNECTED weight tensor sparse-encoded, and the data
/// range of the tensor `[16, 1]` (depth 1: one mask byte per row, bit 0 only) and of the
/// `[16, 16]` one.
fn sine_sparse() -> (Vec<u8>, (usize, usize), (usize, usize)) {
    let bytes = convert(&mut pruned("sine"), SparseWeights::Always).tflite;
    let aligned = AlignedBytes::new(&bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let find = |rows: usize, depth: usize| {
        (0..model.num_tensors())
            .map(|t| model.tensor(t))
            .find(|t| t.is_sparse && t.shape.dim(0) == rows && t.shape.dim(1) == depth)
            .map(|t| (t.data_offset, t.data.unwrap().len()))
            .unwrap()
    };
    let (a, b) = (find(16, 1), find(16, 16));
    (bytes, a, b)
}

fn parse_error(bytes: &[u8]) -> String {
    let aligned = AlignedBytes::new(bytes);
    Model::parse(aligned.as_slice()).unwrap_err().to_string()
}

#[test]
fn corrupt_sparse_weights_are_refused_with_precise_errors() {
    let (bytes, (first, first_len), (mid, _)) = sine_sparse();
    let aligned = AlignedBytes::new(&bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let tensor_of = |offset: usize| {
        (0..model.num_tensors())
            .find(|&t| model.tensor(t).data_offset == offset)
            .unwrap()
    };
    let (t_first, t_mid) = (tensor_of(first), tensor_of(mid));

    // A mask bit past the depth (column 1 of a 1-column row).
    let mut b = bytes.clone();
    b[first] |= 0b10;
    assert!(
        parse_error(&b).starts_with(&format!(
            "tensor {t_first}: sparse weights: row 0, column group 0: mask 0x"
        )),
        "{}",
        parse_error(&b)
    );
    assert!(parse_error(&b).ends_with("marks columns past the depth 1"));

    // A stored zero: the first row of the [16, 16] tensor starts with its mask byte; its
    // first value follows.
    let mut b = bytes.clone();
    let mask = b[mid];
    assert_ne!(mask, 0, "the first group of row 0 has nonzero weights");
    b[mid + 1] = 0;
    assert_eq!(
        parse_error(&b),
        format!(
            "tensor {t_mid}: sparse weights: row 0, column {}: stored value is 0 (zeros must be left out)",
            mask.trailing_zeros()
        )
    );

    // A cleared mask bit leaves a byte over at the end (the depth-1 tensor: each row is a
    // mask byte and at most one value).
    let row = (0..first_len).find(|&k| bytes[first + k] == 1).unwrap();
    let mut b = bytes.clone();
    b[first + row] = 0;
    let e = parse_error(&b);
    assert!(
        e.starts_with(&format!("tensor {t_first}: sparse weights:")),
        "{e}"
    );

    // Without the metadata naming the encoding, or with another version of it.
    let at = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let mut b = bytes.clone();
    let n = at(b"tflm_rs.sparse_weights");
    b[n] = b'X';
    assert_eq!(
        parse_error(&b),
        format!(
            "tensor {t_first}: sparse tensor not supported: empty SparsityParameters without the model's tflm_rs.sparse_weights metadata"
        )
    );
    let mut b = bytes.clone();
    let n = at(b"row_bitmask_int8/1");
    b[n + 17] = b'2';
    assert!(parse_error(&b).contains("names another encoding or version"));

    // The dense-only registration refuses it and names the one to add.
    let e = Model::parse_with(aligned.as_slice(), &[ops::FULLY_CONNECTED]).unwrap_err();
    assert_eq!(
        e.kind,
        ParseErrorKind::NotRegistered {
            code: 9,
            name: "FULLY_CONNECTED_SPARSE"
        }
    );
    assert!(e
        .to_string()
        .contains("add tflm_runtime::ops::FULLY_CONNECTED_SPARSE"));
    Model::parse_with(aligned.as_slice(), &[ops::FULLY_CONNECTED_SPARSE]).unwrap();

    // Without a sparse registration the encoding's verifier is not linked: a corrupt tensor
    // is refused by the operator that would read it, and a model without the metadata as
    // TFLite's format.
    let mut b = bytes.clone();
    b[first] |= 0b10;
    let corrupt = AlignedBytes::new(&b);
    let dense_only = |bytes: &[u8]| Model::parse_with(bytes, &[ops::FULLY_CONNECTED]).unwrap_err();
    assert_eq!(
        dense_only(corrupt.as_slice()).kind,
        ParseErrorKind::NotRegistered {
            code: 9,
            name: "FULLY_CONNECTED_SPARSE"
        }
    );
    assert!(matches!(
        Model::parse_with(corrupt.as_slice(), &[ops::FULLY_CONNECTED_SPARSE])
            .unwrap_err()
            .kind,
        ParseErrorKind::SparseWeights(_)
    ));
    let mut b = bytes.clone();
    b[at(b"tflm_rs.sparse_weights")] = b'X';
    let e = dense_only(AlignedBytes::new(&b).as_slice()).to_string();
    assert!(
        e.starts_with("tensor ")
            && e.contains("SparsityParameters without the model's tflm_rs.sparse_weights metadata"),
        "{e}"
    );
}

/// Every byte of sine's two encoded tensors and of co2's encoded input and recurrent forget
/// gate weights mutated to six values: parsed and run, or refused as corrupt sparse weights.
#[test]
fn every_mutation_of_the_encoded_weights_is_ok_or_an_error() {
    let (bytes, (first, first_len), (mid, mid_len)) = sine_sparse();
    mutate_encoded(&bytes, &[(first, first_len), (mid, mid_len)]);
    let co2 = convert(&mut pruned("co2"), SparseWeights::Always).tflite;
    let aligned = AlignedBytes::new(&co2);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let ranges: Vec<(usize, usize)> = [2, 6]
        .iter()
        .map(|&k| model.tensor(model.operator(0).input(k).unwrap()))
        .map(|t| (t.data_offset, t.data.unwrap().len()))
        .collect();
    mutate_encoded(&co2, &ranges);
}

fn mutate_encoded(bytes: &[u8], ranges: &[(usize, usize)]) {
    let (mut parsed, mut refused) = (0, 0);
    for &(start, len) in ranges {
        for k in start..start + len {
            for v in [0u8, 1, 0x7f, 0x80, 0xff, bytes[k] ^ 0x10] {
                let mut b = bytes.to_vec();
                b[k] = v;
                let aligned = AlignedBytes::new(&b);
                match Model::parse(aligned.as_slice()) {
                    Ok(model) => {
                        parsed += 1;
                        let mut a = arena(model.arena_size());
                        let mut i = Interpreter::new(&model, a.as_mut_slice()).unwrap();
                        i.invoke().unwrap();
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(matches!(e.kind, ParseErrorKind::SparseWeights(_)), "{e}");
                    }
                }
            }
        }
    }
    assert!(
        parsed > 0 && refused > 0,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn litert_refuses_the_sparse_encoding() {
    if common::litert_available().is_none() {
        return;
    }
    let bytes = convert(&mut pruned("sine"), SparseWeights::Always).tflite;
    let path = std::env::temp_dir().join(format!("tflm_sparse_{}.tflite", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\nfrom ai_edge_litert.interpreter import Interpreter\n\
             i = Interpreter(model_path=sys.argv[1])\ni.allocate_tensors()\ni.invoke()\n",
        )
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        !out.status.success(),
        "LiteRT loaded a model with tflm-rs's sparse encoding"
    );
}

/// The pruned digits model with sparse weights on QEMU's Cortex-M4: pruned weight by weight
/// (its FULLY_CONNECTED weights in the row bitmask, `FULLY_CONNECTED_SPARSE` linked) and in
/// 1x4 blocks (its FULLY_CONNECTED weights and CONV_2D filters in blocks, the block kernels
/// linked), the firmware must reproduce the dense pruned model's outputs bit for bit on 20
/// test rows. `SKIP` without the Cortex-M toolchain or qemu, unless `TFLM_REQUIRE_QEMU=1`.
#[test]
fn sparse_digits_is_bit_exact_on_qemu() {
    if !qemu_available("sparse digits") {
        return;
    }
    let blocks = Pipeline::from_dir(model_dir("digits"))
        .prune(0.5)
        .prune_block(tflm::prune::PruneBlock::OneByFour)
        .load()
        .unwrap();
    for (name, mut session) in [("p50", pruned("digits")), ("b50", blocks)] {
        let dense = convert(&mut session, SparseWeights::Never);
        let sparse = convert(&mut session, SparseWeights::Always);
        let inputs: Vec<_> = session.test_inputs(&dense).into_iter().take(20).collect();
        let want = run_cases(&dense.tflite, &inputs, true).unwrap();
        let outputs = run_on_qemu(&format!("digits_{name}"), &sparse.tflite, &inputs, &want);
        assert_eq!(outputs, 20, "{name}");
    }
}

/// Position of the length word of subgraph 0's `operators` vector (read with the runtime's
/// flatbuffer reader and the schema's field ids).
fn operators_length_word(b: &[u8]) -> usize {
    use tflm_runtime::flatbuf::Table;
    use tflm_runtime::schema::field::{model, subgraph};
    let root = Table::root(b).unwrap();
    let subgraphs = root.tables(model::SUBGRAPHS).unwrap().unwrap();
    let first = subgraphs.get(b, 0).unwrap();
    let operators = first.vector::<u32>(subgraph::OPERATORS).unwrap().unwrap();
    operators.position() - 4
}

/// A sparse-encoded tensor that no operator reads, in a firmware with no sparse registration
/// (so no verifier linked): refused at the tensor, naming the registrations that would verify
/// it, instead of being accepted unverified. Here every operator is cut from the graph (the
/// `operators` vector's length set to 0), which leaves sine's encoded weights unread.
#[test]
fn unread_sparse_weights_without_a_sparse_registration_are_refused_at_the_tensor() {
    let (bytes, ..) = sine_sparse();
    let mut b = bytes.clone();
    let len = operators_length_word(&b);
    assert_eq!(u32::from_le_bytes(b[len..len + 4].try_into().unwrap()), 3);
    b[len..len + 4].copy_from_slice(&0u32.to_le_bytes());
    let aligned = AlignedBytes::new(&b);
    let first_sparse = *sparse_tensors(&bytes).first().unwrap();
    let e = Model::parse_with(aligned.as_slice(), &[ops::FULLY_CONNECTED]).unwrap_err();
    assert_eq!(e.location, Location::Tensor(first_sparse));
    assert_eq!(
        e.to_string(),
        format!(
            "tensor {first_sparse}: sparse tensor not supported: sparse-encoded weights with no \
             sparse registration to verify them (register ops::FULLY_CONNECTED_SPARSE or \
             ops::UNIDIRECTIONAL_SEQUENCE_LSTM_SPARSE)"
        )
    );
    // With the sparse registration linked the same file passes the weights' verification and
    // is refused only by the graph check: its outputs are written by no operator.
    let e = Model::parse_with(aligned.as_slice(), &[ops::FULLY_CONNECTED_SPARSE]).unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::InvalidGraph { .. }), "{e}");
}

/// digits pruned 50% in 1x4 blocks (`prune_block = "1x4"`): each FULLY_CONNECTED weight
/// tensor and the 1x1 CONV_2D's filter (rows of `h * w * in_c`, `in_c` a multiple of 4) has
/// half of its blocks all zero; `auto`
/// and `fast` both write them in the 1x4 block encoding (smaller, and faster than dense);
/// the outputs on every test row are the dense pruned file's bit for bit, which LiteRT's
/// reference kernels reproduce; the output is deterministic.
#[test]
fn block_pruned_digits_is_bit_identical_smaller_and_block_encoded() {
    let mut session = Pipeline::from_dir(model_dir("digits"))
        .prune(0.5)
        .prune_block(tflm::prune::PruneBlock::OneByFour)
        .load()
        .unwrap();
    let dense = convert(&mut session, SparseWeights::Never);
    let auto = convert(&mut session, SparseWeights::Auto);
    let fast = convert(&mut session, SparseWeights::Fast);
    // `fast` leaves the 1x1 CONV_2D filter (12 channels) dense (its dense kernel measured
    // faster, `pointwise_block_is_faster`) and encodes the FULLY_CONNECTED weights only.
    assert!(fast.tflite.len() > auto.tflite.len());
    assert_eq!(
        sparse_tensors(&fast.tflite),
        inputs_of(&fast.tflite, 9, 1..2)
    );
    assert_eq!(
        convert(&mut session, SparseWeights::Auto).tflite,
        auto.tflite
    );
    let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has(&auto.tflite, tflm_runtime::block_sparse::METADATA_NAME));
    // The FULLY_CONNECTED weights and CONV_2D filters are block-pruned and encoded (no row
    // bitmask); the DEPTHWISE_CONV_2D filter stays dense.
    assert!(!has(&auto.tflite, tflm_runtime::sparse::METADATA_NAME));
    let fc = inputs_of(&auto.tflite, 9, 1..2);
    let mut conv = inputs_of(&auto.tflite, tflm_runtime::schema::op::CONV_2D, 1..2);
    assert_eq!((fc.len(), conv.len()), (2, 2));
    // Only the 1x1 layer's filter (12 input channels) is pruned in blocks; the 3x3x1 one,
    // pruned weight by weight, stays dense (its block encoding is not smaller).
    let dense_conv = conv.remove(0);
    let mut encoded: Vec<usize> = fc.iter().chain(&conv).copied().collect();
    encoded.sort();
    assert_eq!(sparse_tensors(&auto.tflite), encoded);
    assert!(auto.ops.contains(&"FULLY_CONNECTED_SPARSE_INT8"));
    assert!(auto.ops.contains(&"CONV_2D_SPARSE_INT8"));
    // Without a sparse CONV_2D registration the block filter is refused at its CONV_2D,
    // naming the registration to add.
    let aligned_auto = AlignedBytes::new(&auto.tflite);
    let first_conv = (0..Model::parse(aligned_auto.as_slice())
        .unwrap()
        .num_operators())
        .find(|&i| {
            let m = Model::parse(aligned_auto.as_slice()).unwrap();
            m.operator(i).code == tflm_runtime::schema::op::CONV_2D
                && m.operator(i).input(1) == Some(conv[0])
        })
        .unwrap();
    for (dense_conv, name) in [
        (ops::CONV_2D, "CONV_2D_SPARSE"),
        (ops::CONV_2D_INT8, "CONV_2D_SPARSE_INT8"),
    ] {
        let list: Vec<ops::Registration> = std::iter::once(dense_conv)
            .chain(
                ops::ALL
                    .iter()
                    .copied()
                    .filter(|r| r.name() != "CONV_2D_SPARSE"),
            )
            .collect();
        let e = Model::parse_with(aligned_auto.as_slice(), &list).unwrap_err();
        assert_eq!(e.location, Location::Operator(first_conv));
        assert_eq!(
            e.kind,
            ParseErrorKind::NotRegistered {
                code: tflm_runtime::schema::op::CONV_2D,
                name
            }
        );
    }
    let aligned = AlignedBytes::new(&dense.tflite);
    let dense_model = Model::parse(aligned.as_slice()).unwrap();
    let aligned_auto = AlignedBytes::new(&auto.tflite);
    let auto_model = Model::parse(aligned_auto.as_slice()).unwrap();
    assert_eq!(auto_model.tensor(dense_conv).shape.dim(3), 1);
    for &t in &encoded {
        let w = dense_model.tensor(t).data.unwrap();
        let shape = dense_model.tensor(t).shape;
        let rows = shape.dim(0);
        let depth = w.len() / rows;
        let blocks: Vec<&[u8]> = w.chunks(depth).flat_map(|r| r.chunks(4)).collect();
        let zero = blocks.iter().filter(|b| b.iter().all(|&v| v == 0)).count();
        // Half of the weights pruned in whole blocks (a partial block of a row, fewer than 4
        // weights, counts as a block, so a CONV_2D row of 9 weights may lose more blocks).
        let zero_weights: usize = blocks
            .iter()
            .filter(|b| b.iter().all(|&v| v == 0))
            .map(|b| b.len())
            .sum();
        assert!(
            2 * zero_weights >= w.len() && 2 * zero_weights <= w.len() + 6,
            "tensor {t}: {zero_weights} of {} weights in {zero} zero blocks",
            w.len()
        );
        let enc = auto_model.tensor(t).data.unwrap().len();
        let mask = rows * tflm_runtime::block_sparse::mask_len(depth);
        assert_eq!(enc, mask + 4 * (blocks.len() - zero), "tensor {t}");
        assert!(enc < w.len(), "tensor {t}: {enc} of {} bytes", w.len());
    }
    assert!(auto.tflite.len() < dense.tflite.len());
    let inputs = session.test_inputs(&dense);
    let want = run_cases(&dense.tflite, &inputs, true).unwrap();
    assert_eq!(run_cases(&auto.tflite, &inputs, true).unwrap(), want);
    if common::litert_available().is_some() {
        let theirs = common::litert_outputs("digits_b50", &dense.tflite, &inputs);
        for (k, (o, t)) in want.iter().zip(&theirs).enumerate() {
            assert_eq!(o[0].bytes, t[0].bytes, "case {k}: LiteRT differs");
        }
    }
    // Unstructured pruning keeps the row bitmask for the same layers (its blocks are rarely
    // all zero at 50%).
    let unstructured = convert(&mut pruned("digits"), SparseWeights::Auto);
    assert!(has(
        &unstructured.tflite,
        tflm_runtime::sparse::METADATA_NAME
    ));
    assert!(!has(
        &unstructured.tflite,
        tflm_runtime::block_sparse::METADATA_NAME
    ));
}

/// Fine-tuning with `prune_block = "1x4"` masks whole blocks: after 1 epoch the pruned
/// FULLY_CONNECTED weights are zero in whole 1x4 blocks, half of each tensor's blocks.
#[test]
fn fine_tuning_masks_are_block_masks() {
    let mut session = Pipeline::from_dir(model_dir("digits"))
        .prune(0.5)
        .prune_block(tflm::prune::PruneBlock::OneByFour)
        .finetune_epochs(1)
        .train_examples(320)
        .load()
        .unwrap();
    let float = session.convert(Mode::None).unwrap();
    let aligned = AlignedBytes::new(&float.tflite);
    let model = Model::parse(aligned.as_slice()).unwrap();
    for t in inputs_of(&float.tflite, 9, 1..2) {
        let tensor = model.tensor(t);
        let w: Vec<f32> = tensor
            .data
            .unwrap()
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let depth = tensor.shape.dim(1);
        let blocks: Vec<&[f32]> = w.chunks(depth).flat_map(|r| r.chunks(4)).collect();
        let zero = blocks
            .iter()
            .filter(|b| b.iter().all(|&v| v == 0.0))
            .count();
        let partly = blocks
            .iter()
            .filter(|b| b.contains(&0.0) && !b.iter().all(|&v| v == 0.0))
            .count();
        assert_eq!(partly, 0, "tensor {t}: zeros outside whole blocks");
        assert!(
            2 * zero >= blocks.len() && 2 * zero <= blocks.len() + 2,
            "{zero} of {}",
            blocks.len()
        );
    }
    let _ = convert(&mut session, SparseWeights::Auto);
}

/// Corrupt 1x4 block encodings and misused block-encoded tensors are refused with precise
/// errors; every mutation of the encoded bytes parses and runs, or is a `SparseWeights` error.
#[test]
fn corrupt_block_encodings_are_refused_precisely() {
    let mut session = Pipeline::from_dir(model_dir("digits"))
        .prune(0.5)
        .prune_block(tflm::prune::PruneBlock::OneByFour)
        .load()
        .unwrap();
    let bytes = convert(&mut session, SparseWeights::Always).tflite;
    let aligned = AlignedBytes::new(&bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let fc = inputs_of(&bytes, 9, 1..2);
    // Every block-encoded tensor: the FULLY_CONNECTED weights and the CONV_2D filters.
    let listed = sparse_tensors(&bytes);
    assert_eq!(listed.len(), 4);
    let ranges: Vec<(usize, usize)> = listed
        .iter()
        .map(|&t| {
            (
                model.tensor(t).data_offset,
                model.tensor(t).data.unwrap().len(),
            )
        })
        .collect();
    // The last layer: [10, 32], one mask byte per row (8 blocks, all valid).
    let (t, (at, _)) = listed
        .iter()
        .zip(&ranges)
        .find(|(&t, _)| model.tensor(t).shape.dim(1) == 32)
        .map(|(&t, &r)| (t, r))
        .unwrap();
    // The first row's first kept block, zeroed.
    let first_kept = bytes[at].trailing_zeros();
    let mut b = bytes.clone();
    b[at + 1..at + 5].fill(0);
    assert_eq!(
        parse_error(&b),
        format!("tensor {t}: 1x4 block weights: row 0, block {first_kept}: kept block is all zero (zero blocks must be left out)")
    );
    // The block list in the metadata: the four tensors' indices, little-endian.
    let list: Vec<u8> = listed
        .iter()
        .flat_map(|&t| (t as u32).to_le_bytes())
        .collect();
    let at: Vec<usize> = (0..bytes.len() - list.len())
        .filter(|&i| bytes[i..i + list.len()] == list[..])
        .collect();
    assert_eq!(at.len(), 1);
    let mut b = bytes.clone();
    b[at[0] + 4..at[0] + 8].copy_from_slice(&(listed[0] as u32).to_le_bytes());
    assert_eq!(
        parse_error(&b),
        "model table: sparse tensor not supported: the 1x4 block metadata's tensor indices are not strictly increasing"
    );
    let mut b = bytes.clone();
    b[at[0] + 4..at[0] + 8].copy_from_slice(&9999u32.to_le_bytes());
    assert!(parse_error(&b).contains("names a tensor index past the last tensor"));
    // A sparse tensor left out of the list: it would be the row bitmask, which the model
    // does not declare.
    // (The first FULLY_CONNECTED's weights, the third listed; a dense tensor listed in their
    // place, after them: the encoded one is met first.)
    assert_eq!(listed[2], fc[0]);
    let dense = (listed[2] + 1..listed[3])
        .find(|&t| !model.tensor(t).is_sparse)
        .unwrap();
    let mut b = bytes.clone();
    b[at[0] + 8..at[0] + 12].copy_from_slice(&(dense as u32).to_le_bytes());
    assert_eq!(
        parse_error(&b),
        format!("tensor {}: sparse tensor not supported: a sparse tensor outside the 1x4 block list without the model's row_bitmask_int8/1 metadata", listed[2])
    );
    // A CONV_2D filter left out: 4-D, so not the row bitmask either.
    let mut b = bytes.clone();
    b[at[0] + 4..at[0] + 8].copy_from_slice(&(listed[1] as u32 + 1).to_le_bytes());
    assert!(
        parse_error(&b).starts_with(&format!(
            "tensor {}: sparse tensor not supported: tflm-rs's sparse encodings are for 2-D int8 weights (4-D in 1x4 blocks) only",
            listed[1]
        )),
        "{}",
        parse_error(&b)
    );
    // A tensor without SparsityParameters listed (tensor 0, before the first encoded one).
    assert!(listed[0] > 0 && !model.tensor(0).is_sparse);
    let mut b = bytes.clone();
    b[at[0]..at[0] + 4].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        parse_error(&b),
        "tensor 0: sparse tensor not supported: listed in the 1x4 block metadata, but not sparse-encoded (no SparsityParameters)"
    );
    // A block-encoded tensor where no block kernel reads it: as DEPTHWISE_CONV_2D's weights.
    let depthwise = (0..model.num_operators())
        .find(|&i| model.operator(i).code == tflm_runtime::schema::op::DEPTHWISE_CONV_2D)
        .unwrap();
    let e = parse_error(&retarget(&bytes, depthwise, 1, fc[0]));
    assert!(
        e.contains("is sparse-encoded, but DEPTHWISE_CONV_2D cannot read it as input 1"),
        "{e}"
    );
    mutate_encoded(&bytes, &ranges);
}

/// The input channels of each CONV_2D filter of a model, by tensor index.
fn conv_filters_in_c(bytes: &[u8]) -> Vec<(usize, usize)> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).unwrap();
    inputs_of(bytes, tflm_runtime::schema::op::CONV_2D, 1..2)
        .into_iter()
        .map(|t| (t, model.tensor(t).shape.dims().last().unwrap()))
        .collect()
}

/// person_detect (a real MobileNet v1, int8) block-pruned as it is (`tflm prune -p 0.5
/// --prune-block 1x4`): its 1x1 CONV_2D filters in the 1x4 block encoding (`auto` every one
/// with whole blocks, `fast` those of 32 channels or more) give bit for bit the outputs of the
/// same pruned weights stored dense, which LiteRT's reference kernels reproduce, on the host
/// and on QEMU's Cortex-M4; the file is 0.65x the dense one. `SKIP` without the peer models,
/// and the QEMU part without qemu (unless `TFLM_REQUIRE_QEMU=1`).
#[test]
fn block_pruned_person_detect_is_bit_exact_and_smaller() {
    let Some(dir) = common::peer_models() else {
        return;
    };
    let original = std::fs::read(dir.join("person_detect.tflite")).unwrap();
    let mut graph = tflm::tflite_import::import(&original).unwrap();
    let layers =
        tflm::prune::prune_int8(&mut graph, 0.5, tflm::prune::Ranking::Blocks1x4, &[]).unwrap();
    // The 14 CONV_2D filters (13 pointwise layers and the logits, all 1x1 with whole
    // blocks), each about half zero; the depthwise filters stay dense.
    assert_eq!(layers.len(), 14);
    assert!(layers.iter().all(|l| (0.49..0.52).contains(&l.sparsity())));
    let never = tflm::tflite_writer::write_with(&graph, SparseWeights::Never).unwrap();
    let auto = tflm::tflite_writer::write_with(&graph, SparseWeights::Auto).unwrap();
    let fast = tflm::tflite_writer::write_with(&graph, SparseWeights::Fast).unwrap();
    assert!(
        auto.len() * 100 < never.len() * 65,
        "{} vs {}",
        auto.len(),
        never.len()
    );
    assert!(
        fast.len() * 100 < never.len() * 65,
        "{} vs {}",
        fast.len(),
        never.len()
    );
    let filters = conv_filters_in_c(&auto);
    let blocks = |min_c: usize| -> Vec<usize> {
        let mut v: Vec<usize> = filters
            .iter()
            .filter(|&&(_, c)| c % 4 == 0 && c >= min_c)
            .map(|&(t, _)| t)
            .collect();
        v.sort();
        v
    };
    assert_eq!(sparse_tensors(&auto), blocks(4));
    assert_eq!(sparse_tensors(&fast), blocks(32));
    assert_eq!(blocks(4).len(), 14);
    assert_eq!(blocks(32).len(), 12);
    let cases = [
        "person_detect.ref.jsonl",
        "person_detect.testcases.ref.jsonl",
    ]
    .iter()
    .flat_map(|f| tflm::fixtures::read_cases(&dir.join(f)).unwrap());
    let inputs: Vec<_> = cases.map(|c| c.inputs).collect();
    assert!(inputs.len() >= 5);
    let want = run_cases(&never, &inputs, true).unwrap();
    assert_eq!(run_cases(&auto, &inputs, true).unwrap(), want);
    assert_eq!(run_cases(&fast, &inputs, true).unwrap(), want);
    // The pruning changed the outputs (a kernel that ignored weights would not pass).
    assert_ne!(run_cases(&original, &inputs, true).unwrap(), want);
    if common::litert_available().is_some() {
        let theirs = common::litert_outputs("person_detect_b50", &never, &inputs);
        for (k, (o, t)) in want.iter().zip(&theirs).enumerate() {
            assert_eq!(o[0].bytes, t[0].bytes, "case {k}: LiteRT differs");
        }
    }
    // Two cases (a person_detect firmware build and run take about a minute).
    if qemu_available("block-pruned person_detect") {
        let outputs = run_on_qemu("person_detect_b50", &auto, &inputs[..2], &want[..2]);
        assert_eq!(outputs, 2);
    }
}

/// Whether the QEMU tests can run; `SKIP` on stderr when not, a panic instead under
/// `TFLM_REQUIRE_QEMU=1`.
fn qemu_available(what: &str) -> bool {
    let Some(reason) = tflm::qemu::unavailable(None) else {
        return true;
    };
    let msg = format!("SKIP: {what} (QEMU): {reason}");
    if std::env::var("TFLM_REQUIRE_QEMU").as_deref() == Ok("1") {
        panic!("{msg}\nTFLM_REQUIRE_QEMU=1: the QEMU tests must run");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
    false
}

/// Runs `model` on QEMU's Cortex-M4 over `inputs`, each checked against `want` (the firmware
/// fails on any difference); returns the number of outputs printed.
fn run_on_qemu(
    name: &str,
    model: &[u8],
    inputs: &[Vec<tflm::fixtures::TensorData>],
    want: &[Vec<tflm::fixtures::TensorData>],
) -> usize {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sparse_qemu");
    std::fs::create_dir_all(&dir).unwrap();
    let (model_path, cases) = (
        dir.join(format!("{name}_sparse.tflite")),
        dir.join(format!("{name}.jsonl")),
    );
    std::fs::write(&model_path, model).unwrap();
    common::write_cases(&cases, inputs, Some(want));
    tflm::qemu::run(&tflm::qemu::QemuOptions::new(&model_path, &cases))
        .unwrap_or_else(|e| panic!("{name} with sparse weights on QEMU: {e}"))
        .outputs
        .len()
}

//! The runtime's API contract on models that ship with the repository: exact arena sizes,
//! errors instead of panics, typed accessors, state reset, the observer, and precise parse
//! errors for corrupt models.

mod common;

use common::op_fixtures;
use tflm::fixtures::read_cases;
use tflm::run::{arena, run_model_cases, set_inputs, AlignedBytes};
use tflm_runtime::{ops, CorruptModel, Error, Interpreter, Location, Model, ParseErrorKind};

fn model_bytes(name: &str) -> AlignedBytes {
    AlignedBytes::new(&std::fs::read(op_fixtures().join(name)).unwrap())
}

#[test]
fn arena_size_is_exact_and_a_smaller_arena_is_refused() {
    for name in [
        "fc_int8_relu.tflite",
        "conv_int8_same_s1.tflite",
        "svdf_int8_rank1_relu.tflite",
    ] {
        let bytes = model_bytes(name);
        let model = Model::parse(bytes.as_slice()).unwrap();
        let size = model.arena_size();
        let mut exact = arena(size);
        let interpreter = Interpreter::new(&model, exact.as_mut_slice()).unwrap();
        assert_eq!(interpreter.arena_used(), size, "{name}");
        let mut short = arena(size - 1);
        match Interpreter::new(&model, short.as_mut_slice()) {
            Err(Error::ArenaTooSmall { needed, available }) => {
                assert_eq!((needed, available), (size, size - 1), "{name}")
            }
            other => panic!("{name}: expected ArenaTooSmall, got {:?}", other.err()),
        }
        // An arena that does not start 16-byte aligned needs the skipped bytes on top.
        let mut big = arena(size + 16);
        let unaligned = &mut big.as_mut_slice()[1..];
        assert!(Interpreter::new(&model, &mut unaligned[..size + 15]).is_ok());
        match Interpreter::new(&model, &mut unaligned[..size + 14]) {
            Err(Error::ArenaTooSmall { needed, .. }) => assert_eq!(needed, size + 15),
            other => panic!("expected ArenaTooSmall, got {:?}", other.err()),
        }
        assert!(matches!(
            Interpreter::new(&model, &mut []),
            Err(Error::ArenaTooSmall { needed, available: 0 }) if (size..size + 16).contains(&needed)
        ));
    }
}

/// Every fixture model the runtime parses, opened with `Model::from_build_verified` instead
/// (every kernel, as `Model::parse`), plans the same arena and gives the same outputs on its
/// reference cases; bytes that are no model are refused with `CorruptModel`.
#[test]
fn build_verified_models_run_like_parsed_ones() {
    let mut compared = 0;
    for dir in [op_fixtures(), op_fixtures().join("../tflm")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "tflite") {
                continue;
            }
            let bytes = AlignedBytes::new(&std::fs::read(&path).unwrap());
            let Ok(parsed) = Model::parse(bytes.as_slice()) else {
                continue;
            };
            let trusted = Model::from_build_verified(bytes.as_slice(), ops::ALL).unwrap();
            assert_eq!(
                trusted.arena_size(),
                parsed.arena_size(),
                "{}",
                path.display()
            );
            let cases = read_cases(&path.with_extension("ref.jsonl")).unwrap();
            let inputs: Vec<_> = cases.into_iter().map(|c| c.inputs).collect();
            assert_eq!(
                run_model_cases(&trusted, &inputs, true).unwrap(),
                run_model_cases(&parsed, &inputs, true).unwrap(),
                "{}",
                path.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 150, "only {compared} fixture models");
    for bytes in [&b""[..], b"TFL3", &[0xFF; 64], &[0; 64]] {
        let bytes = AlignedBytes::new(bytes);
        assert_eq!(
            Model::from_build_verified(bytes.as_slice(), ops::ALL).err(),
            Some(CorruptModel)
        );
    }
    assert_eq!(
        Error::from(CorruptModel).to_string(),
        "the model bytes are not those the build verified (Model::parse says why)"
    );
}

#[test]
fn typed_accessors_check_type_and_index() {
    let bytes = model_bytes("fc_int8_relu.tflite");
    let model = Model::parse(bytes.as_slice()).unwrap();
    let mut a = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    assert_eq!(interpreter.input::<i8>(0).unwrap().len(), 16);
    let err = interpreter.input::<f32>(0).unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "tensor {} holds int8, not float32",
            model.input_index(0).unwrap()
        )
    );
    let err = interpreter.output::<i8>(3).unwrap_err();
    assert_eq!(err.to_string(), "no output 3: the model has 1");
    // The typed path computes what the fixture says.
    let case = &read_cases(&op_fixtures().join("fc_int8_relu.ref.jsonl")).unwrap()[0];
    let input: Vec<i8> = case.inputs[0].bytes.iter().map(|&b| b as i8).collect();
    interpreter.input::<i8>(0).unwrap().copy_from_slice(&input);
    interpreter.invoke().unwrap();
    let expected: Vec<i8> = case.outputs[0].bytes.iter().map(|&b| b as i8).collect();
    assert_eq!(interpreter.output::<i8>(0).unwrap(), &expected[..]);
}

#[test]
fn state_persists_across_invokes_until_reset() {
    let bytes = model_bytes("svdf_int8_rank1_relu.tflite");
    let model = Model::parse(bytes.as_slice()).unwrap();
    let cases = read_cases(&op_fixtures().join("svdf_int8_rank1_relu.ref.jsonl")).unwrap();
    let mut a = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    let run = |i: &mut Interpreter<'_, '_>| {
        set_inputs(i, &cases[0].inputs).unwrap();
        i.invoke().unwrap();
        i.output_bytes(0).unwrap().to_vec()
    };
    let first = run(&mut interpreter);
    assert_eq!(
        first, cases[0].outputs[0].bytes,
        "fresh state gives the reference"
    );
    let second = run(&mut interpreter);
    assert_ne!(first, second, "the state carried over changes the result");
    interpreter.reset_state();
    assert_eq!(run(&mut interpreter), first, "reset gives a fresh start");
}

#[test]
fn observer_sees_every_operator_output() {
    let bytes = model_bytes("conv_int8_same_s1.tflite");
    let model = Model::parse(bytes.as_slice()).unwrap();
    let mut a = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    let mut seen = Vec::new();
    interpreter
        .invoke_observed(|o| seen.push((o.operator, o.tensor.index, o.bytes.len())))
        .unwrap();
    let out = model.output(0).unwrap();
    assert_eq!(seen, vec![(0, out.index, out.byte_len())]);
}

#[test]
fn observer_sees_the_state_an_lstm_left() {
    // After the output, the variable inputs (output state h, cell state c): h is the last step
    // of the output sequence.
    let bytes = model_bytes("lstm_keras_float32_seq.tflite");
    let model = Model::parse(bytes.as_slice()).unwrap();
    let mut a = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    for x in interpreter.input::<f32>(0).unwrap().iter_mut().enumerate() {
        *x.1 = (x.0 as f32 * 0.37).sin();
    }
    let mut seen = Vec::new();
    interpreter
        .invoke_observed(|o| seen.push((o.operator, o.tensor.index, o.bytes.to_vec())))
        .unwrap();
    let op = model.operator(0);
    let (h, c) = (op.inputs.get(18).unwrap(), op.inputs.get(19).unwrap());
    let out = model.output(0).unwrap();
    let indices: Vec<(usize, usize)> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        indices,
        vec![(0, out.index), (0, h as usize), (0, c as usize)]
    );
    let h_bytes = &seen[1].2;
    assert!(seen[0].2.ends_with(h_bytes));
    assert!(seen[2].2.iter().any(|&b| b != 0));
}

#[test]
fn corrupt_models_get_precise_errors() {
    let good = std::fs::read(op_fixtures().join("fc_int8_relu.tflite")).unwrap();
    let parse = |b: &[u8]| {
        Model::parse(AlignedBytes::new(b).as_slice())
            .map(|_| ())
            .unwrap_err()
    };

    assert_eq!(
        parse(&good[..5]).to_string(),
        "model file: only 5 bytes, too short for a TFLite model"
    );
    let mut wrong_id = good.clone();
    wrong_id[4..8].copy_from_slice(b"ABCD");
    assert_eq!(
        parse(&wrong_id).to_string(),
        "model file: file identifier is \"ABCD\", expected \"TFL3\" (not a TFLite flatbuffer)"
    );
    let truncated = parse(&good[..good.len() / 2]);
    assert!(
        matches!(truncated.kind, ParseErrorKind::Malformed { .. }),
        "{truncated}"
    );

    // The weights' data is 16-byte aligned in the file: a model placed one byte off is
    // refused with the tensor named, instead of being read misaligned.
    let good_aligned = AlignedBytes::new(&good);
    let model = Model::parse(good_aligned.as_slice()).unwrap();
    let bias = (0..model.num_tensors())
        .map(|t| model.tensor(t))
        .find(|t| t.is_constant() && t.dtype.size() == 4)
        .unwrap();
    let mut shifted = vec![0u8; good.len() + 1];
    shifted[1..].copy_from_slice(&good);
    let aligned = AlignedBytes::new(&shifted);
    let err = Model::parse(&aligned.as_slice()[1..]).unwrap_err();
    assert_eq!(err.location, Location::Tensor(bias.index));
    assert_eq!(
        err.to_string(),
        format!(
            "tensor {}: constant data is not 4-byte aligned in memory: place the model bytes at a 16-byte aligned address",
            bias.index
        )
    );

    // A shape that no longer matches its buffer.
    let shape_pos = common::find_shape(&good, &[8, 16]);
    let mut bad_shape = good.clone();
    bad_shape[shape_pos + 4..shape_pos + 8].copy_from_slice(&17i32.to_le_bytes());
    let err = parse(&bad_shape);
    assert!(
        err.to_string()
            .ends_with("constant data has 128 bytes but the shape and type need 136"),
        "{err}"
    );
}

#[test]
fn cli_run_prints_outputs_and_reports_errors() {
    let dir = op_fixtures();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args([
            "run",
            dir.join("add_int8_bcast_4d.tflite").to_str().unwrap(),
            "--inputs",
        ])
        .arg(dir.join("add_int8_bcast_4d.ref.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = read_cases(&dir.join("add_int8_bcast_4d.ref.jsonl")).unwrap();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g["outputs"][0], e.outputs[0].to_json());
    }

    let bad = std::env::temp_dir().join("tflm_cli_bad_inputs.jsonl");
    std::fs::write(
        &bad,
        "{\"inputs\":[{\"shape\":[1,2],\"dtype\":\"int8\",\"data\":[1,2]}]}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args([
            "run",
            dir.join("fc_int8_relu.tflite").to_str().unwrap(),
            "--inputs",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tflm_cli_bad_inputs.jsonl:1: input 0")
            && stderr.contains("has shape [1, 16]"),
        "{stderr}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args([
            "inspect",
            dir.join("conv_int8_same_s1.tflite").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("CONV_2D") && text.contains("arena: ") && text.contains("MACs: "),
        "{text}"
    );
}

/// Convolution shifts are kept as bytes, so the parse refuses scales whose ratio could need a
/// shift beyond one (2^124 and more) at the operator, instead of `Interpreter::new` or a kernel
/// meeting it; `arena_size()` stays a promise because the refusal comes while measuring.
#[test]
fn conv_scale_ratio_beyond_a_byte_shift_is_refused_at_the_operator() {
    let good = std::fs::read(op_fixtures().join("conv_int8_same_s1.tflite")).unwrap();
    let model_good = AlignedBytes::new(&good);
    let model = Model::parse(model_good.as_slice()).unwrap();
    let scale = model.output(0).unwrap().quantization.scale();
    let pattern = scale.to_le_bytes();
    let at: Vec<usize> = good
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == pattern)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the output scale {scale} occurs once in the file"
    );
    // The smallest subnormal output scale: input x weight / output is about 2^140 here.
    let mut tiny = good.clone();
    tiny[at[0]..at[0] + 4].copy_from_slice(&f32::from_bits(1).to_le_bytes());
    let bytes = AlignedBytes::new(&tiny);
    let err = Model::parse(bytes.as_slice()).unwrap_err();
    assert_eq!(err.location, Location::Operator(0), "{err}");
    assert_eq!(
        err.kind,
        ParseErrorKind::UnsupportedOperands {
            op: "CONV_2D",
            what: "an input x weight / output scale ratio of 2^124 or more",
        }
    );
    // A small but ordinary output scale (2^-30) still parses and runs.
    let mut small = good.clone();
    small[at[0]..at[0] + 4].copy_from_slice(&(2f32.powi(-30)).to_le_bytes());
    let bytes = AlignedBytes::new(&small);
    let model = Model::parse(bytes.as_slice()).unwrap();
    let mut a = arena(model.arena_size());
    let mut interpreter = Interpreter::new(&model, a.as_mut_slice()).unwrap();
    interpreter.invoke().unwrap();
}

/// Position of the first element of subgraph 0's `inputs` list (read with the runtime's
/// flatbuffer reader and the schema's field ids).
fn subgraph_inputs_position(b: &[u8]) -> usize {
    use tflm_runtime::flatbuf::Table;
    use tflm_runtime::schema::field::{model, subgraph};
    let root = Table::root(b).unwrap();
    let subgraphs = root.tables(model::SUBGRAPHS).unwrap().unwrap();
    let first = subgraphs.get(b, 0).unwrap();
    let inputs = first.vector::<i32>(subgraph::INPUTS).unwrap().unwrap();
    inputs.position()
}

/// The graph rules the planner relies on, checked while `parse` verifies each operator:
/// a model that breaks one is refused at the operator or tensor, naming the rule.
#[test]
fn graph_rules_are_checked_at_the_operator() {
    let good = std::fs::read(op_fixtures().join("fc_int8_relu.tflite")).unwrap();
    let aligned = AlignedBytes::new(&good);
    let model = Model::parse(aligned.as_slice()).unwrap();
    let op = model.operator(0);
    // (An operator that writes a constant or an input is refused by its own checks first:
    // the shapes or types differ.)
    let (weights, output) = (op.input(1).unwrap(), op.output(0).unwrap());
    let with = |pos: usize, t: usize| {
        let mut b = good.clone();
        b[pos..pos + 4].copy_from_slice(&(t as i32).to_le_bytes());
        Model::parse(AlignedBytes::new(&b).as_slice()).unwrap_err()
    };
    let sg_inputs = subgraph_inputs_position(&good);

    // The subgraph input moved to the output: the operator reads an unwritten tensor.
    let err = with(sg_inputs, output);
    assert_eq!(err.location, Location::Operator(0));
    assert!(
        err.to_string()
            .ends_with("an input is read before any operator writes it"),
        "{err}"
    );

    let err = with(sg_inputs, weights);
    assert_eq!(err.location, Location::Tensor(weights));
    assert!(
        err.to_string()
            .ends_with("a subgraph input is a constant or variable tensor"),
        "{err}"
    );
}

/// Position of the first element of operator 0's tensor list `id` (`schema::field::operator`).
fn operator_tensors_position(b: &[u8], id: u16) -> usize {
    use tflm_runtime::flatbuf::Table;
    use tflm_runtime::schema::field::{model, subgraph};
    let root = Table::root(b).unwrap();
    let subgraphs = root.tables(model::SUBGRAPHS).unwrap().unwrap();
    let first = subgraphs.get(b, 0).unwrap();
    let operators = first.tables(subgraph::OPERATORS).unwrap().unwrap();
    let op = operators.get(b, 0).unwrap();
    op.vector::<i32>(id).unwrap().unwrap().position()
}

/// An operator's tensor index past the tensors (or -1 where only an input may be absent) is
/// refused at the operator, naming the list, the index and the count.
#[test]
fn operator_tensor_indices_are_checked() {
    use tflm_runtime::schema::field::operator;
    let good = std::fs::read(op_fixtures().join("fc_int8_relu.tflite")).unwrap();
    let count = Model::parse(AlignedBytes::new(&good).as_slice())
        .unwrap()
        .num_tensors();
    let with = |id: u16, k: usize, t: i32| {
        let mut b = good.clone();
        let pos = operator_tensors_position(&good, id) + 4 * k;
        b[pos..pos + 4].copy_from_slice(&t.to_le_bytes());
        Model::parse(AlignedBytes::new(&b).as_slice()).unwrap_err()
    };
    let expect =
        |what: &'static str, index: i64| ParseErrorKind::IndexOutOfRange { what, index, count };
    for (id, k, t, what) in [
        (operator::INPUTS, 1, count as i32, "input tensor"),
        (operator::OUTPUTS, 0, count as i32, "output tensor"),
        (operator::OUTPUTS, 0, -1, "output tensor"),
    ] {
        let err = with(id, k, t);
        assert_eq!(err.location, Location::Operator(0), "{err}");
        assert_eq!(err.kind, expect(what, t as i64), "{err}");
    }
}

/// RESHAPE keeps its input's type and quantization: an int8 RESHAPE whose output has another
/// scale is refused at parse time, the operator named; with the same quantization it parses.
#[test]
fn reshape_to_another_quantization_is_refused() {
    use tflm::ir::{DType, Graph, Op, OpKind, Quantization, Tensor};
    let model = |out_scale: f32| {
        let mut g = Graph::new();
        let q = |scale| Quantization::per_tensor(scale, 3);
        let x =
            g.add_tensor(Tensor::activation("x", DType::I8, vec![1, 8]).with_quantization(q(0.5)));
        let y = g.add_tensor(
            Tensor::activation("y", DType::I8, vec![2, 4]).with_quantization(q(out_scale)),
        );
        g.add_op(Op::new(OpKind::Reshape(Default::default()), [x], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        AlignedBytes::new(&tflm::tflite_writer::write(&g).unwrap())
    };
    assert!(Model::parse(model(0.5).as_slice()).is_ok());
    let err = Model::parse(model(0.25).as_slice()).unwrap_err();
    assert_eq!(err.location, Location::Operator(0), "{err}");
    assert!(
        err.to_string()
            .ends_with("input and output types or quantization differ"),
        "{err}"
    );
}

//! The models and cases of docs/performance.md's "Sparse weights" measurements.
//!
//! For each bundled model (sine, digits, co2), int8, writes into `DIR` (default
//! `target/sparse-bench`):
//! - `<model>_p0.tflite`: not pruned (dense weights);
//! - `<model>_p50_dense.tflite`: 50% magnitude pruning, dense weights (`--sparse-weights never`);
//! - `<model>_p50_sparse.tflite`: the same pruned weights, every eligible weight tensor
//!   (FULLY_CONNECTED's, the int8 LSTM's gate matrices) sparse-encoded (`always`);
//! - `<model>_p50_auto.tflite`: what the default `auto` writes (the tensors whose encoding is
//!   smaller encoded, or the dense file when that is smaller);
//! - the same at 75% pruning (`<model>_p75_dense`, `<model>_p75_sparse`);
//! - `<model>_p0.jsonl`, `<model>_p50.jsonl`, `<model>_p75.jsonl`: the first 20 test rows with the host runtime's
//!   outputs of the dense model (so `tflm qemu` checks the sparse model against the dense one).
//!
//! It checks on the host that the sparse model's outputs equal the dense pruned model's on every
//! test row, and prints the model sizes. Then, for the MCU figures:
//!
//!     for v in p0 p50_dense p50_sparse; do
//!         cargo run --release -- qemu target/sparse-bench/sine_$v.tflite \
//!             --inputs target/sparse-bench/sine_${v%_*}.jsonl --runtime-code --json
//!     done
//!
//! co2 is pruned with 2 epochs of fine-tuning (`tflm convert models/co2 -q int8 -p 0.5
//! --finetune-epochs 2`, docs/quality.md's figure); the others without.
//!
//! Run: `cargo run --release --example sparse_bench [DIR [sine|digits|co2|fc]]`.

use std::path::PathBuf;
use tflm::pipeline::Pipeline;
use tflm::quantize::Mode;
use tflm::sparse::SparseWeights;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/sparse-bench".into()),
    );
    std::fs::create_dir_all(&out)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    println!("model   variant      model bytes  FC+LSTM weight bytes  test rows identical");
    // An optional second argument picks the models (`digits`, `fc` for the fc256x128 cases).
    let only = std::env::args().nth(2);
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for name in ["sine", "digits", "co2"].into_iter().filter(|n| wanted(n)) {
        let dir = root.join(name);
        // (sparsity, in 1x4 blocks)
        for (prune, blocks) in [
            (None, false),
            (Some(0.5f32), false),
            (Some(0.75), false),
            (Some(0.5), true),
        ] {
            let mut pipeline = Pipeline::from_dir(&dir).quant(Mode::Int8);
            if blocks {
                pipeline = pipeline.prune_block(tflm::prune::PruneBlock::OneByFour);
            }
            if let Some(p) = prune {
                pipeline = pipeline.prune(p);
                if name == "co2" {
                    pipeline = pipeline.finetune_epochs(2);
                }
            }
            let mut session = pipeline.sparse_weights(SparseWeights::Never).load()?;
            let dense = session.convert(Mode::Int8)?;
            let inputs = session.test_inputs(&dense);
            let expected = tflm::run::run_cases(&dense.tflite, &inputs, true)?;
            let tag = match prune {
                Some(p) => format!("{}{:.0}", if blocks { "b" } else { "p" }, 100.0 * p),
                None => "p0".to_string(),
            };
            write_cases(&out.join(format!("{name}_{tag}.jsonl")), &inputs, &expected)?;
            // The bytes of the weights the encoding may cover: FULLY_CONNECTED's input 1, the
            // LSTM's inputs 1-8.
            let fc_bytes = |bytes: &[u8]| -> usize {
                use tflm_runtime::schema::op;
                let aligned = tflm::run::AlignedBytes::new(bytes);
                let model = tflm_runtime::Model::parse(aligned.as_slice()).expect("parses");
                (0..model.num_operators())
                    .map(|i| model.operator(i))
                    .flat_map(|o| {
                        match o.code {
                            op::FULLY_CONNECTED => 1..2,
                            op::UNIDIRECTIONAL_SEQUENCE_LSTM => 1..9,
                            _ => 0..0,
                        }
                        .filter_map(move |k| o.input(k))
                    })
                    .filter_map(|t| model.tensor(t).data.map(<[u8]>::len))
                    .sum()
            };
            let dense_tag = if prune.is_some() {
                format!("{tag}_dense")
            } else {
                tag.clone()
            };
            let mut variants = vec![(dense_tag, dense.tflite.clone(), true)];
            if prune.is_some() {
                session.options.sparse = SparseWeights::Auto;
                let auto = session.convert(Mode::Int8)?;
                let same = tflm::run::run_cases(&auto.tflite, &inputs, true)? == expected;
                variants.push((format!("{tag}_auto"), auto.tflite, same));
                session.options.sparse = SparseWeights::Always;
                let sparse = session.convert(Mode::Int8)?;
                let got = tflm::run::run_cases(&sparse.tflite, &inputs, true)?;
                variants.push((format!("{tag}_sparse"), sparse.tflite, got == expected));
            }
            for (variant, bytes, same) in variants {
                std::fs::write(out.join(format!("{name}_{variant}.tflite")), &bytes)?;
                println!(
                    "{name:7} {variant:11} {:12} {:16}  {}",
                    bytes.len(),
                    fc_bytes(&bytes),
                    if same {
                        format!("yes ({})", inputs.len())
                    } else {
                        "NO".into()
                    }
                );
                if !same {
                    return Err(format!("{name} {variant}: outputs differ from dense").into());
                }
            }
        }
    }
    if wanted("fc") {
        fc_heavy(&out)?;
        fc_blocks(&out)?;
    }
    println!("written to {}", out.display());
    Ok(())
}

/// The first 20 cases with their expected outputs, in the fixtures' JSON-lines format.
fn write_cases(
    path: &std::path::Path,
    inputs: &[Vec<tflm::fixtures::TensorData>],
    outputs: &[Vec<tflm::fixtures::TensorData>],
) -> std::io::Result<()> {
    let mut jsonl = String::new();
    for (i, o) in inputs.iter().zip(outputs).take(20) {
        let line = serde_json::json!({
            "inputs": i.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "outputs": o.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
        });
        jsonl.push_str(&line.to_string());
        jsonl.push('\n');
    }
    std::fs::write(path, jsonl)
}

/// `fc256x128_<tag>`: one int8 FULLY_CONNECTED of 256 inputs and 128 outputs (32,768 weights,
/// pseudo-random, the smallest magnitudes zeroed as pruning does), the FULLY_CONNECTED-heavy
/// case where the kernel dominates the invoke; dense and sparse (`always`) files and 20 cases,
/// at 0, 50, 75, 80, 85 and 90% zeros (the sparse kernel's break-even with the dense one, which
/// `auto` follows, lies between 80 and 85%).
fn fc_heavy(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (n_in, n_out) = (256usize, 128usize);
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let dense: Vec<i8> = (0..n_in * n_out).map(|_| next() as i8).collect();
    for sparsity in [0.0f64, 0.5, 0.75, 0.8, 0.85, 0.9] {
        let mut w = dense.clone();
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by_key(|&i| (w[i] as i32).abs());
        for &i in &order[..(sparsity * w.len() as f64) as usize] {
            w[i] = 0;
        }
        let tag = format!("p{:.0}", 100.0 * sparsity);
        fc_files(out, &tag, w, &mut next)?;
    }
    Ok(())
}

/// A deterministic xorshift64 stream of pseudo-random weights and inputs.
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// `fc256x128_b<percent>`: the same layer with the given fraction of its 1x4 blocks (4
/// consecutive input columns of one output row) zeroed, those of smallest mean magnitude, as
/// `prune_block = "1x4"` prunes; the encoded file (`always`) is then in the 1x4 block encoding.
fn fc_blocks(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (n_in, n_out) = (256usize, 128usize);
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let dense: Vec<i8> = (0..n_in * n_out).map(|_| next() as i8).collect();
    for sparsity in [0.0f64, 0.25, 0.5, 0.75, 0.9] {
        let mut w = dense.clone();
        let score =
            |b: usize| -> i32 { w[4 * b..4 * b + 4].iter().map(|&v| (v as i32).abs()).sum() };
        let mut order: Vec<usize> = (0..w.len() / 4).collect();
        order.sort_by_key(|&b| (score(b), b));
        let cut: Vec<usize> = order[..(sparsity * order.len() as f64) as usize].to_vec();
        for b in cut {
            w[4 * b..4 * b + 4].fill(0);
        }
        let tag = format!("b{:.0}", 100.0 * sparsity);
        fc_files(out, &tag, w, &mut next)?;
    }
    Ok(())
}

/// Writes `fc256x128_<tag>_dense.tflite`, `..._sparse.tflite` (`always`) and 20 cases for one
/// int8 FULLY_CONNECTED of 256 inputs and 128 outputs with weights `w`, and checks that the
/// sparse file's outputs equal the dense one's.
fn fc_files(
    out: &std::path::Path,
    tag: &str,
    w: Vec<i8>,
    next: &mut impl FnMut() -> u64,
) -> Result<(), Box<dyn std::error::Error>> {
    use tflm::ir::{ConstData, FullyConnectedOptions, Graph, Op, OpKind, Quantization, Tensor};
    use tflm_runtime::DType;
    let (n_in, n_out) = (256usize, 128usize);
    let mut g = Graph::new();
    let x = g.add_tensor(
        Tensor::activation("x", DType::I8, vec![1, n_in])
            .with_quantization(Quantization::per_tensor(0.05, -3)),
    );
    let wt = g.add_tensor(
        Tensor::constant("w", vec![n_out, n_in], ConstData::I8(w))
            .with_quantization(Quantization::per_tensor(0.01, 0)),
    );
    let b = g.add_tensor(Tensor::constant(
        "b",
        vec![n_out],
        ConstData::I32((0..n_out as i32).map(|i| i * 37 - 2000).collect()),
    ));
    let y = g.add_tensor(
        Tensor::activation("y", DType::I8, vec![1, n_out])
            .with_quantization(Quantization::per_tensor(2.0, 5)),
    );
    g.add_op(Op::new(
        OpKind::FullyConnected(FullyConnectedOptions::default()),
        [x, wt, b],
        [y],
    ));
    g.inputs = vec![x];
    g.outputs = vec![y];
    let dense_bytes = tflm::tflite_writer::write_with(&g, SparseWeights::Never)?;
    let inputs: Vec<Vec<tflm::fixtures::TensorData>> = (0..20)
        .map(|_| {
            vec![tflm::fixtures::TensorData {
                dtype: DType::I8,
                shape: vec![1, n_in],
                bytes: (0..n_in).map(|_| next() as u8).collect(),
            }]
        })
        .collect();
    let expected = tflm::run::run_cases(&dense_bytes, &inputs, true)?;
    write_cases(
        &out.join(format!("fc256x128_{tag}.jsonl")),
        &inputs,
        &expected,
    )?;
    std::fs::write(
        out.join(format!("fc256x128_{tag}_dense.tflite")),
        &dense_bytes,
    )?;
    let sparse_bytes = tflm::tflite_writer::write_with(&g, SparseWeights::Always)?;
    let same = tflm::run::run_cases(&sparse_bytes, &inputs, true)? == expected;
    std::fs::write(
        out.join(format!("fc256x128_{tag}_sparse.tflite")),
        &sparse_bytes,
    )?;
    println!(
        "fc256x128 {tag}: dense {} B, sparse {} B, outputs identical: {same}",
        dense_bytes.len(),
        sparse_bytes.len()
    );
    if !same {
        return Err("fc256x128: sparse outputs differ from dense".into());
    }
    Ok(())
}

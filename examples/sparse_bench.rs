//! The models and cases of docs/performance.md's "Sparse weights" measurements.
//!
//! For each bundled model (sine, digits, co2), int8, writes into `DIR` (default
//! `target/sparse-bench`):
//! - `<model>_p0.tflite`: not pruned (dense weights);
//! - `<model>_p50_dense.tflite`: 50% magnitude pruning, dense weights (`--sparse-weights never`);
//! - `<model>_p50_sparse.tflite`: the same pruned weights, every FULLY_CONNECTED weight tensor sparse-encoded (`always`;
//!   the default `auto` writes the smaller of this and the dense file, printed too);
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
//! Run: `cargo run --release --example sparse_bench [DIR]`.

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
    println!("model   variant      model bytes  FC weight bytes  test rows identical");
    for name in ["sine", "digits", "co2"] {
        let dir = root.join(name);
        for prune in [None, Some(0.5f32), Some(0.75)] {
            let mut pipeline = Pipeline::from_dir(&dir).quant(Mode::Int8);
            if let Some(p) = prune {
                pipeline = pipeline.prune(p);
            }
            let mut session = pipeline.sparse_weights(SparseWeights::Never).load()?;
            let dense = session.convert(Mode::Int8)?;
            let inputs = session.test_inputs(&dense);
            let expected = tflm::run::run_cases(&dense.tflite, &inputs, true)?;
            let tag = match prune {
                Some(p) => format!("p{:.0}", 100.0 * p),
                None => "p0".to_string(),
            };
            let mut jsonl = String::new();
            for (i, o) in inputs.iter().zip(&expected).take(20) {
                let line = serde_json::json!({
                    "inputs": i.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
                    "outputs": o.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
                });
                jsonl.push_str(&line.to_string());
                jsonl.push('\n');
            }
            std::fs::write(out.join(format!("{name}_{tag}.jsonl")), jsonl)?;
            let fc_bytes = |bytes: &[u8]| -> usize {
                let aligned = tflm::run::AlignedBytes::new(bytes);
                let model = tflm_runtime::Model::parse(aligned.as_slice()).expect("parses");
                (0..model.num_operators())
                    .map(|i| model.operator(i))
                    .filter(|op| op.code == tflm_runtime::schema::op::FULLY_CONNECTED)
                    .filter_map(|op| op.input(1))
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
                println!(
                    "{name:7} {tag}_auto    {:12}  (what `auto`, the default, writes)",
                    auto.tflite.len()
                );
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
    println!("written to {}", out.display());
    Ok(())
}

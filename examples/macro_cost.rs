//! What `include_quantized_model!` adds to a build, model by model: the conversion when its
//! cache is cold (import, calibration, quantization, evaluation of float and converted models,
//! code generation) and the cache lookup when warm (hashing the inputs, reading the entry).
//! The macro calls exactly `tflm::build_cache::generate_cached`.
//!
//!     cargo run --release --example macro_cost [MODEL_DIR...]

use std::time::Instant;
use tflm::pipeline::Pipeline;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        dirs = vec!["models/sine".into(), "models/digits".into()];
    }
    let cache = std::env::temp_dir().join(format!("tflm-macro-cost-{}", std::process::id()));
    println!("| model | cold (convert + evaluate + generate) | warm (cache hit) | source bytes |");
    println!("|---|---:|---:|---:|");
    for dir in &dirs {
        let pipeline = Pipeline::from_dir(dir);
        let t = Instant::now();
        let cold = tflm::build_cache::generate_cached(&pipeline, &cache, "macro_cost")?;
        let cold_s = t.elapsed().as_secs_f64();
        assert!(!cold.hit);
        let runs = 20;
        let t = Instant::now();
        for _ in 0..runs {
            let warm = tflm::build_cache::generate_cached(&pipeline, &cache, "macro_cost")?;
            assert!(warm.hit && warm.source == cold.source);
        }
        let warm_s = t.elapsed().as_secs_f64() / runs as f64;
        println!(
            "| {dir} | {:.3} s | {:.4} s | {} |",
            cold_s,
            warm_s,
            cold.source.len()
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

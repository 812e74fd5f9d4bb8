//! The macro on the host: `models/sine` and `models/digits` embedded at build time (int8),
//! run over their test splits with the generated typed API; prints a few predictions and the
//! metric, which is exactly what `tflm convert` reports for the same options.
//!
//!     cargo run --release --example predict

use std::error::Error;
use tflm::dataset::{Dataset, Target};
use tflm::specs::Specs;

mod sine {
    tflm_macros::include_quantized_model!("models/sine", quant = "int8");
}

mod digits {
    tflm_macros::include_quantized_model!("models/digits", quant = "int8");
}

fn test_split(dir: &str) -> Result<Dataset, Box<dyn Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    Ok(Dataset::load(&Specs::from_dir(&path)?)?)
}

fn main() -> Result<(), Box<dyn Error>> {
    // sine: regression, raw x in radians to raw y.
    let mut arena = sine::Arena::zeroed();
    let mut model = sine::Model::new(&mut arena.0)?;
    let data = test_split("models/sine")?;
    let mut abs = 0.0f64;
    for (i, ex) in data.test.iter().enumerate() {
        let x: [f32; sine::INPUT_LEN] = ex.inputs[0].as_slice().try_into()?;
        let y = model.predict(&x)?;
        let Target::Values(v) = &ex.target else {
            return Err("sine has regression labels".into());
        };
        abs += (f64::from(y[0]) - f64::from(v[0][0])).abs();
        if i < 5 {
            println!(
                "sine: x = {:.4} -> y = {:+.4} (label {:+.4})",
                x[0], y[0], v[0][0]
            );
        }
    }
    println!(
        "sine: int8 MAE {:.5} on {} test rows (model {} bytes, arena {} bytes)\n",
        abs / data.test.len() as f64,
        data.test.len(),
        sine::MODEL_BYTES.len(),
        sine::ARENA_SIZE
    );

    // digits: classification of 8x8 images (raw pixel values 0..16).
    let mut arena = digits::Arena::zeroed();
    let mut model = digits::Model::new(&mut arena.0)?;
    let data = test_split("models/digits")?;
    let mut correct = 0;
    for (i, ex) in data.test.iter().enumerate() {
        let x: [f32; digits::INPUT_LEN] = ex.inputs[0].as_slice().try_into()?;
        let class = model.predict_class(&x)?;
        let Target::Classes(c) = &ex.target else {
            return Err("digits has class labels".into());
        };
        correct += usize::from(class == c[0]);
        if i < 5 {
            println!("digits: row {} -> {class} (label {})", ex.row, c[0]);
        }
    }
    println!(
        "digits: int8 accuracy {:.4} on {} test rows (model {} bytes, arena {} bytes)",
        correct as f64 / data.test.len() as f64,
        data.test.len(),
        digits::MODEL_BYTES.len(),
        digits::ARENA_SIZE
    );
    Ok(())
}

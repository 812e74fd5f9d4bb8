//! Classifies a few synthetic 8x8 digits with the model build.rs converted.
//!
//!     cargo run -p tflm-example-build-script

mod digits {
    include!(concat!(env!("OUT_DIR"), "/digits_model.rs"));
}

/// A crude "1": a vertical bar in the middle columns (pixel values 0..16 like the dataset).
fn vertical_bar() -> [f32; digits::INPUT_LEN] {
    let mut x = [0.0; digits::INPUT_LEN];
    for row in 0..8 {
        x[row * 8 + 3] = 16.0;
        x[row * 8 + 4] = 12.0;
    }
    x
}

fn main() -> Result<(), tflm_runtime::Error> {
    let mut arena = digits::Arena::zeroed();
    let mut model = digits::Model::new(&mut arena.0)?;
    let scores = model.predict(&vertical_bar())?;
    let class = model.predict_class(&vertical_bar())?;
    println!("scores: {scores:.3?}");
    println!(
        "class {class} (model {} bytes, arena {} bytes)",
        digits::MODEL_BYTES.len(),
        digits::ARENA_SIZE
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// build.rs produced exactly what the library produces for the same options.
    #[test]
    fn build_script_output_is_the_pipelines() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/digits");
        let c = tflm::pipeline::Pipeline::from_dir(dir)
            .quant(tflm::quantize::Mode::Int8)
            .io(tflm::quantize::IoKind::Float32)
            .run()
            .unwrap();
        assert_eq!(digits::MODEL_BYTES, &c.tflite[..]);
        assert_eq!(digits::ARENA_SIZE, c.arena_size);
        let mut arena = digits::Arena::zeroed();
        let mut model = digits::Model::new(&mut arena.0).unwrap();
        // The vertical bar is a 1.
        assert_eq!(model.predict_class(&vertical_bar()).unwrap(), 1);
    }
}

//! `include_quantized_model!` on the host: the embedded model is the pipeline's, its typed
//! API computes exactly what the evaluation reports, and the I/O maps saturate and survive
//! NaN.

use std::path::Path;
use tflm::dataset::{Example, Target};
use tflm::pipeline::{Pipeline, Session};
use tflm::quantize::IoKind;

mod sine {
    tflm_macros::include_quantized_model!("models/sine", quant = "int8");
}

mod digits {
    tflm_macros::include_quantized_model!(
        "models/digits",
        quant = "int8",
        io = "float32",
        calibration = "mse",
        samples = 100,
    );
}

mod sine_pruned_small {
    tflm_macros::include_quantized_model!(
        "models/sine",
        prune = 0.5,
        sparse_weights = "always",
        short_names = true,
    );
}

mod digits_blocks {
    tflm_macros::include_quantized_model!(
        "models/digits",
        quant = "int8",
        prune = 0.5,
        prune_block = "1x4",
    );
}

mod co2_int16x8 {
    tflm_macros::include_quantized_model!("models/co2", quant = "int16x8");
}

/// The MAE of `predict` (one output) on the test split of a regression model.
fn test_mae(session: &Session, mut predict: impl FnMut(&Example) -> f32) -> f64 {
    let mut abs = 0.0f64;
    for ex in &session.dataset.test {
        let Target::Values(v) = &ex.target else {
            panic!("regression")
        };
        abs += (f64::from(predict(ex)) - f64::from(v[0][0])).abs();
    }
    abs / session.dataset.test.len() as f64
}

fn dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

#[test]
fn sine_macro_model_is_the_pipelines_and_predicts_what_the_evaluation_reports() {
    let session = Pipeline::from_dir(dir("sine")).load().unwrap();
    let c = session.convert(tflm::quantize::Mode::Int8).unwrap();
    assert_eq!(sine::MODEL_BYTES, &c.tflite[..]);
    assert_eq!(sine::MODEL_BYTES.as_ptr() as usize % 16, 0);
    assert_eq!(sine::ARENA_SIZE, c.arena_size);
    assert_eq!(sine::INPUT_SHAPE, [1, 1]);
    assert_eq!((sine::INPUT_LEN, sine::OUTPUT_LEN), (1, 1));
    let (scale, zp) = c.codec.inputs[0].quantization.unwrap();
    assert_eq!((sine::INPUT_SCALE, sine::INPUT_ZERO_POINT), (scale, zp));

    let mut arena = sine::Arena::zeroed();
    let mut model = sine::Model::new(&mut arena.0).unwrap();
    let mae = test_mae(&session, |ex| model.predict(&[ex.inputs[0][0]]).unwrap()[0]);
    let reported = session
        .evaluate(&c, "int8", &mut |_| {})
        .unwrap()
        .mae
        .unwrap();
    assert_eq!(mae, reported, "the firmware's numbers are the report's");

    // NaN becomes the model's 0 (the zero point); out-of-range values saturate.
    let q: [sine::Input; 1] = sine::quantize_input(&[f32::NAN]);
    assert_eq!(i32::from(q[0]), sine::INPUT_ZERO_POINT);
    assert_eq!(sine::quantize_input(&[1e30]), [127]);
    assert_eq!(sine::quantize_input(&[-1e30]), [-128]);
    // The output map inverts the tensor's quantization.
    let out = sine::dequantize_output(&[sine::OUTPUT_ZERO_POINT as i8]);
    assert!(out[0].abs() < 1e-6, "{out:?}");
    // A too-small arena is an error, not a panic.
    let mut small = [0u8; 64];
    assert!(matches!(
        sine::Model::new(&mut small),
        Err(tflm_runtime::Error::ArenaTooSmall { .. })
    ));
}

#[test]
fn sparse_weights_and_short_names_reach_the_macro_model() {
    let small = Pipeline::from_dir(dir("sine"))
        .prune(0.5)
        .sparse_weights(tflm::sparse::SparseWeights::Always)
        .short_names(true);
    let session = small.load().unwrap();
    let c = session.convert(tflm::quantize::Mode::Int8).unwrap();
    assert_eq!(sine_pruned_small::MODEL_BYTES, &c.tflite[..]);
    // sine's weight tensors are encoded (the metadata entry names the encoding; on a model
    // this small it about pays for its metadata) and only the input and output keep their
    // names (256 B fewer).
    let plain = Pipeline::from_dir(dir("sine"))
        .prune(0.5)
        .sparse_weights(tflm::sparse::SparseWeights::Never)
        .load()
        .unwrap()
        .convert(tflm::quantize::Mode::Int8)
        .unwrap();
    let has = |bytes: &[u8], s: &[u8]| bytes.windows(s.len()).any(|w| w == s);
    assert!(has(
        sine_pruned_small::MODEL_BYTES,
        b"tflm_rs.sparse_weights"
    ));
    assert!(!has(&plain.tflite, b"tflm_rs.sparse_weights"));
    assert!(
        sine_pruned_small::MODEL_BYTES.len() + 200 < plain.tflite.len(),
        "{} vs {} bytes",
        sine_pruned_small::MODEL_BYTES.len(),
        plain.tflite.len()
    );
    // The generated operator list holds the sparse kernel, and the outputs are the dense
    // pruned model's bit for bit.
    let mut arena = sine_pruned_small::Arena::zeroed();
    let mut model = sine_pruned_small::Model::new(&mut arena.0).unwrap();
    let dense = tflm::run::run_cases(&plain.tflite, &session.test_inputs(&plain), true).unwrap();
    for (ex, want) in session.dataset.test.iter().zip(&dense) {
        let q = want[0].values()[0] as i8;
        assert_eq!(
            model.predict(&[ex.inputs[0][0]]).unwrap(),
            sine_pruned_small::dequantize_output(&[q])
        );
    }
}

/// `prune_block = "1x4"` reaches the pipeline: the macro's model is `Pipeline::prune_block`'s,
/// in the 1x4 block encoding, with the sparse FULLY_CONNECTED kernel in its operator list.
#[test]
fn prune_block_reaches_the_macro_model() {
    let session = Pipeline::from_dir(dir("digits"))
        .prune(0.5)
        .prune_block(tflm::prune::PruneBlock::OneByFour)
        .load()
        .unwrap();
    let c = session.convert(tflm::quantize::Mode::Int8).unwrap();
    assert_eq!(digits_blocks::MODEL_BYTES, &c.tflite[..]);
    let has = |s: &[u8]| digits_blocks::MODEL_BYTES.windows(s.len()).any(|w| w == s);
    assert!(has(tflm_runtime::block_sparse::METADATA_NAME.as_bytes()));
    assert!(digits_blocks::OPS
        .iter()
        .any(|r| r.name() == "FULLY_CONNECTED_SPARSE_INT8"));
    // The macro's model on its raw inputs computes the pipeline's outputs bit for bit.
    let mut arena = digits_blocks::Arena::zeroed();
    let mut model = digits_blocks::Model::new(&mut arena.0).unwrap();
    let want = tflm::run::run_cases(&c.tflite, &session.test_inputs(&c), true).unwrap();
    for (ex, want) in session.dataset.test.iter().zip(&want) {
        let input: [f32; 64] = ex.inputs[0].as_slice().try_into().unwrap();
        let q: Vec<i8> = want[0].bytes.iter().map(|&b| b as i8).collect();
        let want: [f32; 10] = digits_blocks::dequantize_output(q.as_slice().try_into().unwrap());
        assert_eq!(model.predict(&input).unwrap(), want);
    }
}

#[test]
fn digits_macro_with_options_classifies_like_the_pipeline() {
    let pipeline = Pipeline::from_dir(dir("digits"))
        .io(IoKind::Float32)
        .calibration(tflm::calibrate::Method::Mse)
        .samples(100);
    let session = pipeline.load().unwrap();
    let c = session.convert(tflm::quantize::Mode::Int8).unwrap();
    assert_eq!(digits::MODEL_BYTES, &c.tflite[..]);
    assert_eq!(digits::INPUT_SHAPE, [1, 8, 8, 1]);
    // Float I/O: the input map only normalizes (pixels 0..16 to 0..1).
    let x: [digits::Input; 64] = digits::quantize_input(&[16.0; 64]);
    assert!(x.iter().all(|&v| (v - 1.0).abs() < 1e-6));

    let mut arena = digits::Arena::zeroed();
    let mut model = digits::Model::new(&mut arena.0).unwrap();
    let mut correct = 0;
    for ex in &session.dataset.test {
        let input: [f32; 64] = ex.inputs[0].as_slice().try_into().unwrap();
        let class = model.predict_class(&input).unwrap();
        // predict gives the scores predict_class takes the arg-max of.
        let scores = model.predict(&input).unwrap();
        assert_eq!(tflm_runtime::io::argmax(&scores), Some(class));
        let Target::Classes(cl) = &ex.target else {
            panic!("classification")
        };
        correct += usize::from(class == cl[0]);
    }
    let accuracy = correct as f64 / session.dataset.test.len() as f64;
    let reported = session
        .evaluate(&c, "int8", &mut |_| {})
        .unwrap()
        .accuracy
        .unwrap();
    assert_eq!(accuracy, reported);
    assert!(accuracy > 0.97, "{accuracy}");
}

#[test]
fn co2_int16x8_macro_model_predicts_what_the_evaluation_reports() {
    // The LSTM in TensorFlow Lite Micro's 16x8 scheme, through the macro (int16 I/O).
    let session = Pipeline::from_dir(dir("co2")).load().unwrap();
    let c = session.convert(tflm::quantize::Mode::Int16x8).unwrap();
    assert_eq!(co2_int16x8::MODEL_BYTES, &c.tflite[..]);
    assert_eq!(co2_int16x8::ARENA_SIZE, c.arena_size);
    assert_eq!(co2_int16x8::INPUT_ZERO_POINT, 0);
    let mut arena = co2_int16x8::Arena::zeroed();
    let mut model = co2_int16x8::Model::new(&mut arena.0).unwrap();
    let mae = test_mae(&session, |ex| {
        let x: [f32; co2_int16x8::INPUT_LEN] = ex.inputs[0].as_slice().try_into().unwrap();
        model.predict(&x).unwrap()[0]
    });
    let reported = session
        .evaluate(&c, "int16x8", &mut |_| {})
        .unwrap()
        .mae
        .unwrap();
    assert_eq!(mae, reported, "the firmware's numbers are the report's");
    assert!((mae - 10.9010).abs() < 5e-4, "{mae}");
}

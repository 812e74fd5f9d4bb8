// samples counts calibration examples.
tflm_macros::include_quantized_model!("models/sine", samples = 0);

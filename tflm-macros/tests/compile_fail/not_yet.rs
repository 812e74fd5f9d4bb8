// Training options come with the training engine.
tflm_macros::include_quantized_model!("models/sine", qat = true);

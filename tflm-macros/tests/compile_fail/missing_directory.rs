// The resolved path is shown.
tflm_macros::include_quantized_model!("models/nope", quant = "int8");

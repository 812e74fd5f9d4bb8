// The second occurrence is the error.
tflm_macros::include_quantized_model!("models/sine", quant = "int8", quant = "none");

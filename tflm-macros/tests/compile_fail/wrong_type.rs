// A number where a string is expected: the error points at the value.
tflm_macros::include_quantized_model!("models/sine", quant = 8);

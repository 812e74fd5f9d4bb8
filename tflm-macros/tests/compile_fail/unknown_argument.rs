// An argument the macro does not know: the error points at its name.
tflm_macros::include_quantized_model!("models/sine", quantize = "int8");

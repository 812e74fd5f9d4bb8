// short_names takes a boolean: the error points at the value.
tflm_macros::include_quantized_model!("models/sine", short_names = "yes");

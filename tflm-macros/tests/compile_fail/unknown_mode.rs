// The valid modes are listed.
tflm_macros::include_quantized_model!("models/sine", quant = "int4");

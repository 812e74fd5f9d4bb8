// The library's own message: the CSV file, line and column of the bad value.
tflm_macros::include_quantized_model!("models/bad_data", quant = "int8");

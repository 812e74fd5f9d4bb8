// The model directory is required.
tflm_macros::include_quantized_model!();

// A directory without model.onnx or model.tflite.
tflm_macros::include_quantized_model!("models/no_model");

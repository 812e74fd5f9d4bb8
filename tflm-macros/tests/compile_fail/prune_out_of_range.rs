// prune is a fraction of weights in [0, 1).
tflm_macros::include_quantized_model!("models/sine", prune = 1.5);

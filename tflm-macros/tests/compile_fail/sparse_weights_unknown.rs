// sparse_weights names one of the writer's choices: the error lists them at the value.
tflm_macros::include_quantized_model!("models/sine", prune = 0.5, sparse_weights = "sometimes");

// prune_structure takes a string.
tflm_macros::include_quantized_model!("models/sine", prune = 0.5, prune_structure = 2);

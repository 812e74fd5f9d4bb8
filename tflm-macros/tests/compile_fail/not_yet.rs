// Structured pruning is not implemented yet: the error names the argument.
tflm_macros::include_quantized_model!("models/sine", prune_structure = "neurons");

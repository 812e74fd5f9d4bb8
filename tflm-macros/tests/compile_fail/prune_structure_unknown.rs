// Structured pruning removes neurons or channels; anything else is refused at the value.
tflm_macros::include_quantized_model!("models/sine", prune = 0.5, prune_structure = "rows");

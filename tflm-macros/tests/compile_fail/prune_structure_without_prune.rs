// prune_structure says which units; prune says how many: one without the other is refused.
tflm_macros::include_quantized_model!("models/sine", prune_structure = "neurons");

// sine has no CONV_2D: channel pruning has nothing to remove, and says so.
tflm_macros::include_quantized_model!("models/sine", prune = 0.5, prune_structure = "channels");

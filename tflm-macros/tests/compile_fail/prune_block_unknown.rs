// Block pruning knows one block shape: any other is refused at the value.
tflm_macros::include_quantized_model!("models/sine", prune = 0.5, prune_block = "2x2");

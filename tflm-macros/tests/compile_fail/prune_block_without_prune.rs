// prune_block shapes the pruning that prune asks for: alone it is refused at its name.
tflm_macros::include_quantized_model!("models/sine", prune_block = "1x4");

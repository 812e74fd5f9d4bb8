/work/main/target/debug/deps/tflm_runtime-211a5acb28a828cc.d: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/kernels/activations.rs tflm-runtime/src/kernels/add.rs tflm-runtime/src/kernels/broadcast.rs tflm-runtime/src/kernels/concatenation.rs tflm-runtime/src/kernels/conv.rs tflm-runtime/src/kernels/depthwise_conv.rs tflm-runtime/src/kernels/dequantize.rs tflm-runtime/src/kernels/fully_connected.rs tflm-runtime/src/kernels/hard_swish.rs tflm-runtime/src/kernels/logistic.rs tflm-runtime/src/kernels/mean.rs tflm-runtime/src/kernels/mul.rs tflm-runtime/src/kernels/pad.rs tflm-runtime/src/kernels/pooling.rs tflm-runtime/src/kernels/quantize.rs tflm-runtime/src/kernels/softmax.rs tflm-runtime/src/kernels/strided_slice.rs tflm-runtime/src/kernels/sub.rs tflm-runtime/src/kernels/svdf.rs tflm-runtime/src/kernels/tanh.rs tflm-runtime/src/kernels/transpose.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

/work/main/target/debug/deps/libtflm_runtime-211a5acb28a828cc.rlib: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/kernels/activations.rs tflm-runtime/src/kernels/add.rs tflm-runtime/src/kernels/broadcast.rs tflm-runtime/src/kernels/concatenation.rs tflm-runtime/src/kernels/conv.rs tflm-runtime/src/kernels/depthwise_conv.rs tflm-runtime/src/kernels/dequantize.rs tflm-runtime/src/kernels/fully_connected.rs tflm-runtime/src/kernels/hard_swish.rs tflm-runtime/src/kernels/logistic.rs tflm-runtime/src/kernels/mean.rs tflm-runtime/src/kernels/mul.rs tflm-runtime/src/kernels/pad.rs tflm-runtime/src/kernels/pooling.rs tflm-runtime/src/kernels/quantize.rs tflm-runtime/src/kernels/softmax.rs tflm-runtime/src/kernels/strided_slice.rs tflm-runtime/src/kernels/sub.rs tflm-runtime/src/kernels/svdf.rs tflm-runtime/src/kernels/tanh.rs tflm-runtime/src/kernels/transpose.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

/work/main/target/debug/deps/libtflm_runtime-211a5acb28a828cc.rmeta: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/kernels/activations.rs tflm-runtime/src/kernels/add.rs tflm-runtime/src/kernels/broadcast.rs tflm-runtime/src/kernels/concatenation.rs tflm-runtime/src/kernels/conv.rs tflm-runtime/src/kernels/depthwise_conv.rs tflm-runtime/src/kernels/dequantize.rs tflm-runtime/src/kernels/fully_connected.rs tflm-runtime/src/kernels/hard_swish.rs tflm-runtime/src/kernels/logistic.rs tflm-runtime/src/kernels/mean.rs tflm-runtime/src/kernels/mul.rs tflm-runtime/src/kernels/pad.rs tflm-runtime/src/kernels/pooling.rs tflm-runtime/src/kernels/quantize.rs tflm-runtime/src/kernels/softmax.rs tflm-runtime/src/kernels/strided_slice.rs tflm-runtime/src/kernels/sub.rs tflm-runtime/src/kernels/svdf.rs tflm-runtime/src/kernels/tanh.rs tflm-runtime/src/kernels/transpose.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

tflm-runtime/src/lib.rs:
tflm-runtime/src/kernels/mod.rs:
tflm-runtime/src/kernels/activations.rs:
tflm-runtime/src/kernels/add.rs:
tflm-runtime/src/kernels/broadcast.rs:
tflm-runtime/src/kernels/concatenation.rs:
tflm-runtime/src/kernels/conv.rs:
tflm-runtime/src/kernels/depthwise_conv.rs:
tflm-runtime/src/kernels/dequantize.rs:
tflm-runtime/src/kernels/fully_connected.rs:
tflm-runtime/src/kernels/hard_swish.rs:
tflm-runtime/src/kernels/logistic.rs:
tflm-runtime/src/kernels/mean.rs:
tflm-runtime/src/kernels/mul.rs:
tflm-runtime/src/kernels/pad.rs:
tflm-runtime/src/kernels/pooling.rs:
tflm-runtime/src/kernels/quantize.rs:
tflm-runtime/src/kernels/softmax.rs:
tflm-runtime/src/kernels/strided_slice.rs:
tflm-runtime/src/kernels/sub.rs:
tflm-runtime/src/kernels/svdf.rs:
tflm-runtime/src/kernels/tanh.rs:
tflm-runtime/src/kernels/transpose.rs:
tflm-runtime/src/quant.rs:
tflm-runtime/src/types.rs:

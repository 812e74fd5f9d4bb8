/work/main/target/debug/deps/tflm_runtime-211a5acb28a828cc.d: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

/work/main/target/debug/deps/libtflm_runtime-211a5acb28a828cc.rlib: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

/work/main/target/debug/deps/libtflm_runtime-211a5acb28a828cc.rmeta: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

tflm-runtime/src/lib.rs:
tflm-runtime/src/kernels/mod.rs:
tflm-runtime/src/quant.rs:
tflm-runtime/src/types.rs:

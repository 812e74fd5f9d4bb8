/work/main/target/debug/deps/tflm_runtime-4d8f648cc3cb1a2f.d: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

/work/main/target/debug/deps/tflm_runtime-4d8f648cc3cb1a2f: tflm-runtime/src/lib.rs tflm-runtime/src/kernels/mod.rs tflm-runtime/src/quant.rs tflm-runtime/src/types.rs

tflm-runtime/src/lib.rs:
tflm-runtime/src/kernels/mod.rs:
tflm-runtime/src/quant.rs:
tflm-runtime/src/types.rs:

/work/main/target/debug/libtflm_runtime.rlib: /work/main/tflm-runtime/src/kernels/mod.rs /work/main/tflm-runtime/src/lib.rs /work/main/tflm-runtime/src/quant.rs /work/main/tflm-runtime/src/types.rs

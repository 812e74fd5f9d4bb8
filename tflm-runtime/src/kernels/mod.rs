//! Reference math of every operator, one module per op, free of any model or arena types:
//! plain slices, shapes and parameter structs in, results out. The `ops` modules bind them to
//! the model (TFLite Micro's split between kernels and `reference_ops`).

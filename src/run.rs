//! Running a model on the host runtime: the same kernels and bits as on the MCU.

use crate::fixtures::TensorData;
use tflm_runtime::{Interpreter, Model};

/// Model bytes copied to a 16-byte aligned buffer, as the runtime requires of constant data
/// (firmware gets this from the generated aligned statics).
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    pub fn new(bytes: &[u8]) -> AlignedBytes {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// A 16-byte aligned, zeroed arena of exactly `len` bytes.
pub fn arena(len: usize) -> AlignedBytes {
    let mut a = AlignedBytes::new(&[]);
    a.words = vec![0u128; len.div_ceil(16)];
    a.len = len;
    a
}

impl AlignedBytes {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}

/// Copies `inputs` into the interpreter's input tensors, checking count, type and size.
pub fn set_inputs(
    interpreter: &mut Interpreter<'_, '_>,
    inputs: &[TensorData],
) -> Result<(), String> {
    let model = *interpreter.model();
    if inputs.len() != model.num_inputs() {
        return Err(format!(
            "{} inputs given, the model has {}",
            inputs.len(),
            model.num_inputs()
        ));
    }
    for (i, given) in inputs.iter().enumerate() {
        let tensor = model.input(i).ok_or("missing input")?;
        if given.dtype != tensor.dtype {
            return Err(format!(
                "input {i} ({}) is {}, the data given is {}",
                tensor.name, tensor.dtype, given.dtype
            ));
        }
        let dst = interpreter.input_bytes_mut(i).map_err(|e| e.to_string())?;
        if dst.len() != given.bytes.len() {
            return Err(format!(
                "input {i} ({}) has shape {:?}, the data given has shape {:?}",
                tensor.name,
                tensor.shape.dims().collect::<Vec<_>>(),
                given.shape
            ));
        }
        dst.copy_from_slice(&given.bytes);
    }
    Ok(())
}

/// The interpreter's outputs as fixture tensors.
pub fn outputs(interpreter: &Interpreter<'_, '_>) -> Result<Vec<TensorData>, String> {
    let model = interpreter.model();
    (0..model.num_outputs())
        .map(|i| {
            let t = model.output(i).ok_or("missing output")?;
            let bytes = interpreter.output_bytes(i).map_err(|e| e.to_string())?;
            Ok(TensorData {
                dtype: t.dtype,
                shape: t.shape.dims().collect(),
                bytes: bytes.to_vec(),
            })
        })
        .collect()
}

/// Parses `bytes` and runs each case, returning its outputs. `reset_each` zeroes the state
/// before every case (the fixtures' convention); otherwise state carries over.
pub fn run_cases(
    bytes: &[u8],
    inputs: &[Vec<TensorData>],
    reset_each: bool,
) -> Result<Vec<Vec<TensorData>>, String> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice()).map_err(|e| e.to_string())?;
    run_model_cases(&model, inputs, reset_each)
}

/// [`run_cases`] on a model already opened (parsed, or opened as build-verified).
pub fn run_model_cases(
    model: &Model<'_>,
    inputs: &[Vec<TensorData>],
    reset_each: bool,
) -> Result<Vec<Vec<TensorData>>, String> {
    let mut arena = arena(model.arena_size());
    let mut interpreter =
        Interpreter::new(model, arena.as_mut_slice()).map_err(|e| e.to_string())?;
    let mut all = Vec::with_capacity(inputs.len());
    for case in inputs {
        if reset_each {
            interpreter.reset_state();
        }
        set_inputs(&mut interpreter, case)?;
        interpreter.invoke().map_err(|e| e.to_string())?;
        all.push(outputs(&interpreter)?);
    }
    Ok(all)
}

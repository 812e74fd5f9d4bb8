//! The affine maps between raw values (the dataset's units, as `specs.json` describes them)
//! and a converted model's input and output tensors: normalization and quantization folded into
//! one `x * a + b` per channel.
//!
//! The evaluation runs every example through these maps and `tflm_runtime::io`, the functions
//! the generated `quantize_input` / `dequantize_output` call with the same constants, so the
//! metric the tool reports is what the firmware computes.

use crate::specs::{Specs, TensorSpec};
use tflm_runtime::{DType, Model};

/// One channel's map, in f32 as the firmware holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
}

/// How raw values of one input or output reach or leave its tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorCodec {
    /// The specs entry's name.
    pub name: String,
    /// The tensor's element type (`F32`, `I8` or `I16`).
    pub dtype: DType,
    /// The tensor's shape in the model.
    pub shape: Vec<usize>,
    /// Scale and zero point of a quantized tensor.
    pub quantization: Option<(f32, i32)>,
    /// One map per channel: inputs raw → tensor, outputs tensor → raw.
    pub channels: Vec<Affine>,
    /// Elements after the channel axis (the channel of element `i` is `(i / inner) % C`).
    pub inner: usize,
    /// Elements of one example.
    pub len: usize,
}

/// Both directions, for every input and output of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCodec {
    pub inputs: Vec<TensorCodec>,
    pub outputs: Vec<TensorCodec>,
}

impl TensorCodec {
    /// The channel of element `i`.
    pub fn channel(&self, i: usize) -> usize {
        (i / self.inner) % self.channels.len()
    }

    /// Raw values (row-major over the specs shape without the batch) to the tensor's bytes
    /// (little-endian, as the runtime holds them).
    pub fn encode(&self, raw: &[f32], out: &mut Vec<u8>) {
        out.clear();
        for (i, &x) in raw.iter().enumerate() {
            let m = self.channels[self.channel(i)];
            let nan = self.quantization.map_or(0, |q| q.1);
            match self.dtype {
                DType::I8 => out.push(tflm_runtime::io::to_i8(x, m.a, m.b, nan as i8) as u8),
                DType::I16 => out.extend_from_slice(
                    &tflm_runtime::io::to_i16(x, m.a, m.b, nan as i16).to_le_bytes(),
                ),
                _ => {
                    out.extend_from_slice(&tflm_runtime::io::to_f32(x, m.a, m.b, 0.0).to_le_bytes())
                }
            }
        }
    }

    /// The tensor's bytes to raw values.
    pub fn decode(&self, bytes: &[u8]) -> Vec<f32> {
        let at = |i: usize| self.channels[self.channel(i)];
        match self.dtype {
            DType::I8 => bytes
                .iter()
                .enumerate()
                .map(|(i, &q)| tflm_runtime::io::from_q(q as i8 as i32, at(i).a, at(i).b))
                .collect(),
            DType::I16 => bytes
                .chunks_exact(2)
                .enumerate()
                .map(|(i, c)| {
                    let q = i16::from_le_bytes([c[0], c[1]]);
                    tflm_runtime::io::from_q(q as i32, at(i).a, at(i).b)
                })
                .collect(),
            _ => bytes
                .chunks_exact(4)
                .enumerate()
                .map(|(i, c)| {
                    let y = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    tflm_runtime::io::from_f32(y, at(i).a, at(i).b)
                })
                .collect(),
        }
    }

    /// The tensor's raw (unscaled) values as f32: quantized integers as they are, floats as
    /// they are. For arg-max, which the affine map (positive scale) does not change.
    pub fn values(&self, bytes: &[u8]) -> Vec<f32> {
        match self.dtype {
            DType::I8 => bytes.iter().map(|&q| q as i8 as f32).collect(),
            DType::I16 => bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32)
                .collect(),
            _ => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        }
    }
}

/// Why a model does not fit its specs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("the specs have {specs} {what}, the model has {model}")]
    Count {
        what: &'static str,
        specs: usize,
        model: usize,
    },
    #[error("{what} {index} ({name}): the specs give {specs} elements per example (shape {shape:?}), the model's tensor has {model} (shape {model_shape:?})")]
    Size {
        what: &'static str,
        index: usize,
        name: String,
        specs: usize,
        shape: Vec<usize>,
        model: usize,
        model_shape: Vec<usize>,
    },
    #[error("{what} {index} ({name}): tensors of type {dtype} are not supported as model I/O")]
    Type {
        what: &'static str,
        index: usize,
        name: String,
        dtype: DType,
    },
}

impl ModelCodec {
    /// One example's raw inputs (one vector per input) as the model's input tensors.
    pub fn encode_inputs(&self, raw: &[Vec<f32>]) -> Vec<crate::fixtures::TensorData> {
        self.inputs
            .iter()
            .zip(raw)
            .map(|(codec, raw)| {
                let mut bytes = Vec::new();
                codec.encode(raw, &mut bytes);
                crate::fixtures::TensorData {
                    dtype: codec.dtype,
                    shape: codec.shape.clone(),
                    bytes,
                }
            })
            .collect()
    }

    /// The maps of `model` (a parsed `.tflite`) described by `specs`.
    pub fn new(specs: &Specs, model: &Model<'_>) -> Result<ModelCodec, CodecError> {
        let count = |what, specs: usize, model: usize| {
            if specs == model {
                Ok(())
            } else {
                Err(CodecError::Count { what, specs, model })
            }
        };
        count("inputs", specs.inputs.len(), model.num_inputs())?;
        count("outputs", specs.outputs.len(), model.num_outputs())?;
        let inputs = (specs.inputs.iter().enumerate())
            .map(|(k, spec)| {
                let t = model.input(k).expect("index below the model's count");
                tensor_codec("input", k, spec, &t, true)
            })
            .collect::<Result<_, _>>()?;
        let outputs = (specs.outputs.iter().enumerate())
            .map(|(k, spec)| {
                let t = model.output(k).expect("index below the model's count");
                tensor_codec("output", k, spec, &t, false)
            })
            .collect::<Result<_, _>>()?;
        Ok(ModelCodec { inputs, outputs })
    }
}

fn tensor_codec(
    what: &'static str,
    index: usize,
    spec: &TensorSpec,
    tensor: &tflm_runtime::Tensor<'_>,
    is_input: bool,
) -> Result<TensorCodec, CodecError> {
    let model_shape: Vec<usize> = tensor.shape.dims().collect();
    let model_len = tensor.shape.num_elements();
    let len = spec.element_count();
    if model_len != len {
        return Err(CodecError::Size {
            what,
            index,
            name: spec.name.clone(),
            specs: len,
            shape: spec.shape.clone(),
            model: model_len,
            model_shape,
        });
    }
    if !matches!(tensor.dtype, DType::F32 | DType::I8 | DType::I16) {
        return Err(CodecError::Type {
            what,
            index,
            name: spec.name.clone(),
            dtype: tensor.dtype,
        });
    }
    let quantization = (tensor.dtype != DType::F32).then(|| {
        let q = tensor.quantization;
        (q.scale(), q.zero_point())
    });
    let axis = spec.layout.channel_axis();
    let channels = spec.channels();
    let inner = spec.shape[axis + 1..].iter().product();
    let channels = (0..channels)
        .map(|c| {
            // Normalization: model = raw * na + nb (identity without one).
            let (na, nb) = spec
                .normalization
                .as_ref()
                .map_or((1.0, 0.0), |n| n.affine(c));
            let (s, zp) = quantization.map_or((1.0, 0.0), |(s, z)| (f64::from(s), f64::from(z)));
            if is_input {
                // q = model / s + zp = raw * na / s + (nb / s + zp).
                Affine {
                    a: (na / s) as f32,
                    b: (nb / s + zp) as f32,
                }
            } else {
                // raw = (model - nb) / na with model = (q - zp) * s.
                Affine {
                    a: (s / na) as f32,
                    b: ((-zp * s - nb) / na) as f32,
                }
            }
        })
        .collect();
    Ok(TensorCodec {
        name: spec.name.clone(),
        dtype: tensor.dtype,
        shape: model_shape,
        quantization,
        channels,
        inner,
        len,
    })
}

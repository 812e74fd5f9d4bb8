//! Constants known at import time, in ONNX layout: tract's inferred values, kept as plain
//! vectors (float32 or integer) so that they can be permuted, folded and written.

use tract_onnx::prelude::{Datum, DatumType, Tensor};

/// The tensor's values converted to `T`, row-major.
fn values<T: Datum + Copy>(t: &Tensor) -> Option<Vec<T>> {
    let c = t.cast_to::<T>().ok()?;
    let view = c.to_plain_array_view::<T>().ok()?;
    Some(view.iter().copied().collect())
}

/// A constant value of the ONNX graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: ConstVals,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConstVals {
    F32(Vec<f32>),
    /// Every integer (and boolean) type, widened.
    I64(Vec<i64>),
}

impl Const {
    /// From tract's tensor; `None` for types other than floats, integers, booleans and
    /// concrete dimensions (`TDim`).
    pub fn from_tensor(t: &Tensor) -> Option<Const> {
        let shape = t.shape().to_vec();
        let dt = t.datum_type();
        let data = if dt.is_float() {
            ConstVals::F32(values::<f32>(t)?)
        } else if dt.is_integer() || dt == DatumType::Bool || dt == DatumType::TDim {
            // TDim: tract's shape arithmetic (`Shape` of a concrete input), concrete here.
            ConstVals::I64(values::<i64>(t)?)
        } else {
            return None;
        };
        Some(Const { shape, data })
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as float32 (integers converted).
    pub fn f32s(&self) -> Vec<f32> {
        match &self.data {
            ConstVals::F32(v) => v.clone(),
            ConstVals::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as integers; `None` for float data.
    pub fn i64s(&self) -> Option<&[i64]> {
        match &self.data {
            ConstVals::I64(v) => Some(v),
            ConstVals::F32(_) => None,
        }
    }

    /// The single value of a one-element constant, as float32.
    pub fn scalar(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.f32s()[0])
    }

    /// The float values broadcast to a per-channel vector of `channels` values, when the
    /// constant (of rank at most `rank`, aligned to the right as ONNX broadcasts) has size 1
    /// on every axis but `axis` (counted in the broadcast rank `rank`).
    pub fn per_channel(&self, rank: usize, axis: usize, channels: usize) -> Option<Vec<f32>> {
        if self.shape.len() > rank {
            return None;
        }
        let pad = rank - self.shape.len();
        for (i, &d) in self.shape.iter().enumerate() {
            if d != 1 && (i + pad != axis || d != channels) {
                return None;
            }
        }
        let v = self.f32s();
        Some(if v.len() == 1 {
            vec![v[0]; channels]
        } else {
            v
        })
    }
}

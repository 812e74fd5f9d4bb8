//! Tensors of the IR: static shape, element type, optional constant data, optional affine
//! quantization.

use tflm_runtime::DType;

/// Index of a tensor in [`Graph::tensors`](super::Graph::tensors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TensorId(pub usize);

impl TensorId {
    pub fn index(self) -> usize {
        self.0
    }
}

impl core::fmt::Display for TensorId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "tensor {}", self.0)
    }
}

/// One tensor: an activation (written by an operator or fed as a graph input), a constant
/// (weights, biases, shapes, axes...) or a variable (state kept across invokes).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// For people and for matching across tools; need not be unique.
    pub name: String,
    /// Static dimensions, row-major (TFLite's NHWC for images).
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// The values of a constant tensor; its type is `dtype` and its length the shape's
    /// element count (checked by [`Graph::validate`](super::Graph::validate)).
    pub data: Option<ConstData>,
    /// Affine quantization, `real = scale * (q - zero_point)`.
    pub quantization: Option<Quantization>,
    /// State kept across invokes (SVDF and LSTM state): never constant, never written by an
    /// operator output, read and updated in place by the operator that takes it as input.
    pub is_variable: bool,
}

impl Tensor {
    /// The values of a float constant (weights still to be quantized or pruned); `None` for an
    /// activation, a variable or a constant of another type.
    pub fn f32_data(&self) -> Option<&[f32]> {
        self.data.as_ref().and_then(ConstData::as_f32)
    }

    /// An activation (no data): a graph input or an operator's output.
    pub fn activation(name: impl Into<String>, dtype: DType, shape: Vec<usize>) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            dtype,
            data: None,
            quantization: None,
            is_variable: false,
        }
    }

    /// A constant; its dtype is the data's.
    pub fn constant(name: impl Into<String>, shape: Vec<usize>, data: ConstData) -> Tensor {
        Tensor {
            name: name.into(),
            shape,
            dtype: data.dtype(),
            data: Some(data),
            quantization: None,
            is_variable: false,
        }
    }

    /// A variable (state) tensor, zero at the start and after a reset.
    pub fn variable(name: impl Into<String>, dtype: DType, shape: Vec<usize>) -> Tensor {
        Tensor {
            is_variable: true,
            ..Tensor::activation(name, dtype, shape)
        }
    }

    /// The same tensor with quantization parameters.
    pub fn with_quantization(mut self, q: Quantization) -> Tensor {
        self.quantization = Some(q);
        self
    }

    /// Product of the dimensions (1 for a scalar).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Bytes of the tensor's values.
    pub fn byte_len(&self) -> usize {
        self.num_elements() * self.dtype.size()
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// Whether the tensor has quantization scales.
    pub fn is_quantized(&self) -> bool {
        self.quantization.is_some()
    }
}

/// Affine quantization parameters, per tensor (one scale) or per channel along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantization {
    pub scales: Vec<f32>,
    /// One per scale.
    pub zero_points: Vec<i64>,
    /// The dimension the per-channel scales run along (0 for per-tensor).
    pub axis: usize,
}

impl Quantization {
    pub fn per_tensor(scale: f32, zero_point: i64) -> Quantization {
        Quantization {
            scales: vec![scale],
            zero_points: vec![zero_point],
            axis: 0,
        }
    }

    /// Symmetric per-channel scales (zero points 0) along `axis`.
    pub fn per_channel(scales: Vec<f32>, axis: usize) -> Quantization {
        Quantization {
            zero_points: vec![0; scales.len()],
            scales,
            axis,
        }
    }

    pub fn is_per_channel(&self) -> bool {
        self.scales.len() > 1
    }

    /// The first (for per-tensor quantization, the only) scale.
    pub fn scale(&self) -> f32 {
        self.scales.first().copied().unwrap_or(0.0)
    }

    /// The first (for per-tensor quantization, the only) zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_points.first().copied().unwrap_or(0)
    }
}

/// Constant tensor values, typed. One variant per [`DType`]; float16 is kept as its bits.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    F32(Vec<f32>),
    /// IEEE half-precision bit patterns.
    F16(Vec<u16>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    I16(Vec<i16>),
    I8(Vec<i8>),
    U64(Vec<u64>),
    U32(Vec<u32>),
    U16(Vec<u16>),
}

/// Applies `$body` to the vector inside any `ConstData` variant.
macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            ConstData::F32($v) => $body,
            ConstData::F16($v) => $body,
            ConstData::I32($v) => $body,
            ConstData::U8($v) => $body,
            ConstData::I64($v) => $body,
            ConstData::Bool($v) => $body,
            ConstData::I16($v) => $body,
            ConstData::I8($v) => $body,
            ConstData::U64($v) => $body,
            ConstData::U32($v) => $body,
            ConstData::U16($v) => $body,
        }
    };
}

fn chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}

impl ConstData {
    pub fn dtype(&self) -> DType {
        match self {
            ConstData::F32(_) => DType::F32,
            ConstData::F16(_) => DType::F16,
            ConstData::I32(_) => DType::I32,
            ConstData::U8(_) => DType::U8,
            ConstData::I64(_) => DType::I64,
            ConstData::Bool(_) => DType::Bool,
            ConstData::I16(_) => DType::I16,
            ConstData::I8(_) => DType::I8,
            ConstData::U64(_) => DType::U64,
            ConstData::U32(_) => DType::U32,
            ConstData::U16(_) => DType::U16,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as little-endian bytes, as stored in a `.tflite` buffer.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            ConstData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstData::F16(v) | ConstData::U16(v) => {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            }
            ConstData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstData::U8(v) => v.clone(),
            ConstData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
            ConstData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstData::I8(v) => v.iter().map(|&x| x as u8).collect(),
            ConstData::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ConstData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Reads little-endian values of `dtype`; `None` when `bytes` is not a whole number of
    /// elements. Booleans are any non-zero byte.
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Option<ConstData> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return None;
        }
        Some(match dtype {
            DType::F32 => ConstData::F32(chunks(bytes, f32::from_le_bytes)),
            DType::F16 => ConstData::F16(chunks(bytes, u16::from_le_bytes)),
            DType::I32 => ConstData::I32(chunks(bytes, i32::from_le_bytes)),
            DType::U8 => ConstData::U8(bytes.to_vec()),
            DType::I64 => ConstData::I64(chunks(bytes, i64::from_le_bytes)),
            DType::Bool => ConstData::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DType::I16 => ConstData::I16(chunks(bytes, i16::from_le_bytes)),
            DType::I8 => ConstData::I8(bytes.iter().map(|&b| b as i8).collect()),
            DType::U64 => ConstData::U64(chunks(bytes, u64::from_le_bytes)),
            DType::U32 => ConstData::U32(chunks(bytes, u32::from_le_bytes)),
            DType::U16 => ConstData::U16(chunks(bytes, u16::from_le_bytes)),
        })
    }

    /// Integer index data (shapes, axes, permutations, paddings) as i64; `None` for other
    /// types.
    pub fn to_indices(&self) -> Option<Vec<i64>> {
        match self {
            ConstData::I32(v) => Some(v.iter().map(|&x| x as i64).collect()),
            ConstData::I64(v) => Some(v.clone()),
            _ => None,
        }
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            ConstData::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i8(&self) -> Option<&[i8]> {
        match self {
            ConstData::I8(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<&[i32]> {
        match self {
            ConstData::I32(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_for_every_type() {
        let all = [
            ConstData::F32(vec![1.5, -0.0, f32::MAX]),
            ConstData::F16(vec![0x3c00, 0xfbff]),
            ConstData::I32(vec![i32::MIN, 7]),
            ConstData::U8(vec![0, 255]),
            ConstData::I64(vec![i64::MIN, -1]),
            ConstData::Bool(vec![true, false]),
            ConstData::I16(vec![-300, 300]),
            ConstData::I8(vec![-128, 127]),
            ConstData::U64(vec![u64::MAX]),
            ConstData::U32(vec![u32::MAX, 1]),
            ConstData::U16(vec![65535]),
        ];
        for d in all {
            let bytes = d.to_le_bytes();
            assert_eq!(bytes.len(), d.len() * d.dtype().size());
            assert_eq!(ConstData::from_le_bytes(d.dtype(), &bytes), Some(d));
        }
        assert_eq!(ConstData::from_le_bytes(DType::I32, &[0, 0, 0]), None);
    }

    #[test]
    fn constructors() {
        let t = Tensor::constant("w", vec![2, 3], ConstData::I8(vec![0; 6]))
            .with_quantization(Quantization::per_channel(vec![0.5, 0.25], 0));
        assert_eq!(t.dtype, DType::I8);
        assert_eq!(t.num_elements(), 6);
        assert_eq!(t.byte_len(), 6);
        assert!(t.is_constant() && t.is_quantized());
        assert!(t.quantization.as_ref().unwrap().is_per_channel());
        assert_eq!(t.quantization.unwrap().zero_points, vec![0, 0]);
        let s = Tensor::variable("state", DType::I16, vec![1, 8]);
        assert!(s.is_variable && !s.is_constant());
    }
}

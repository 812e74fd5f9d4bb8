//! Element types, fused activations and padding: the small vocabulary shared by the model
//! reader, the interpreter and the kernels.

/// A tensor element type (the schema's `TensorType`), limited to those this runtime knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    I32,
    U8,
    I64,
    Bool,
    I16,
    I8,
    U64,
    U32,
    U16,
}

impl DType {
    /// Maps the schema's `TensorType` code; `None` for types this runtime cannot hold
    /// (strings, complex, resource, sub-byte types...).
    pub const fn from_schema(code: i8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::I32,
            3 => DType::U8,
            4 => DType::I64,
            6 => DType::Bool,
            7 => DType::I16,
            9 => DType::I8,
            12 => DType::U64,
            15 => DType::U32,
            16 => DType::U16,
            _ => return None,
        })
    }

    /// The schema's `TensorType` code.
    pub const fn schema_code(self) -> i8 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::I32 => 2,
            DType::U8 => 3,
            DType::I64 => 4,
            DType::Bool => 6,
            DType::I16 => 7,
            DType::I8 => 9,
            DType::U64 => 12,
            DType::U32 => 15,
            DType::U16 => 16,
        }
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 => 8,
        }
    }

    /// The name used in JSON fixtures and reports (`int8`, `float32`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::I16 => "int16",
            DType::I8 => "int8",
            DType::U64 => "uint64",
            DType::U32 => "uint32",
            DType::U16 => "uint16",
        }
    }

    /// Inverse of [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        [
            DType::F32,
            DType::F16,
            DType::I32,
            DType::U8,
            DType::I64,
            DType::Bool,
            DType::I16,
            DType::I8,
            DType::U64,
            DType::U32,
            DType::U16,
        ]
        .into_iter()
        .find(|d| d.name() == name)
    }
}

impl core::fmt::Display for DType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can view tensor memory: ties `input::<i8>(0)` to the tensor's dtype.
pub trait Element: bytemuck::Pod {
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for i16 {
    const DTYPE: DType = DType::I16;
}
impl Element for i8 {
    const DTYPE: DType = DType::I8;
}
impl Element for u8 {
    const DTYPE: DType = DType::U8;
}
impl Element for i64 {
    const DTYPE: DType = DType::I64;
}

/// A fused activation (the schema's `ActivationFunctionType`, the variants kernels support).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
}

impl Activation {
    /// Maps the schema code; `TANH` and `SIGN_BIT` (4, 5) as fused activations are unsupported.
    pub const fn from_schema(code: i8) -> Option<Activation> {
        Some(match code {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            _ => return None,
        })
    }
}

/// Spatial padding of convolutions and pooling (the schema's `Padding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

impl Padding {
    pub const fn from_schema(code: i8) -> Option<Padding> {
        match code {
            0 => Some(Padding::Same),
            1 => Some(Padding::Valid),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DType;

    /// `schema_code` gives back every code `from_schema` maps (the two tables agree).
    #[test]
    fn schema_codes_round_trip() {
        let mut known = 0;
        for code in i8::MIN..=i8::MAX {
            if let Some(d) = DType::from_schema(code) {
                assert_eq!(d.schema_code(), code, "{d:?}");
                known += 1;
            }
        }
        assert_eq!(known, 11);
        assert_eq!(DType::I8.schema_code(), 9);
        assert_eq!(DType::U16.schema_code(), 16);
    }
}

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
        // Tables indexed by the variant (in declaration order) rather than `match`es: LLVM
        // turned each `match` into a 44-byte table of words in every function it was inlined
        // into (the verifier, the planner, `tensor_slot`...).
        const CODES: [i8; 11] = [0, 1, 2, 3, 4, 6, 7, 9, 12, 15, 16];
        CODES[self as usize]
    }

    /// Bytes per element.
    pub const fn size(self) -> usize {
        const SIZES: [u8; 11] = [4, 2, 4, 1, 8, 1, 2, 1, 8, 4, 2];
        SIZES[self as usize] as usize
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

    /// Each type's size is its Rust counterpart's.
    #[test]
    fn sizes_are_the_element_sizes() {
        use core::mem::size_of;
        let sizes = [
            (DType::F32, size_of::<f32>()),
            (DType::F16, size_of::<u16>()),
            (DType::I32, size_of::<i32>()),
            (DType::U8, size_of::<u8>()),
            (DType::I64, size_of::<i64>()),
            (DType::Bool, size_of::<bool>()),
            (DType::I16, size_of::<i16>()),
            (DType::I8, size_of::<i8>()),
            (DType::U64, size_of::<u64>()),
            (DType::U32, size_of::<u32>()),
            (DType::U16, size_of::<u16>()),
        ];
        for (d, size) in sizes {
            assert_eq!(d.size(), size, "{d:?}");
        }
    }
}

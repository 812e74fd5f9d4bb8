//! The parts of the TFLite schema (`tflite_schema.fbs`) this project reads and writes: table
//! field ids, builtin operator codes and their names. The runtime's reader and the host-side
//! writer both use these constants, so the two can never disagree on a field id.

/// Field ids (vtable slots) of the schema tables. A union occupies two ids: `<name>_type`
/// then the value.
pub mod field {
    pub mod model {
        pub const VERSION: u16 = 0;
        pub const OPERATOR_CODES: u16 = 1;
        pub const SUBGRAPHS: u16 = 2;
        pub const DESCRIPTION: u16 = 3;
        pub const BUFFERS: u16 = 4;
        pub const METADATA_BUFFER: u16 = 5;
        pub const METADATA: u16 = 6;
        pub const SIGNATURE_DEFS: u16 = 7;
    }
    pub mod operator_code {
        pub const DEPRECATED_BUILTIN_CODE: u16 = 0;
        pub const CUSTOM_CODE: u16 = 1;
        pub const VERSION: u16 = 2;
        pub const BUILTIN_CODE: u16 = 3;
    }
    pub mod subgraph {
        pub const TENSORS: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const OPERATORS: u16 = 3;
        pub const NAME: u16 = 4;
    }
    pub mod tensor {
        pub const SHAPE: u16 = 0;
        pub const TYPE: u16 = 1;
        pub const BUFFER: u16 = 2;
        pub const NAME: u16 = 3;
        pub const QUANTIZATION: u16 = 4;
        pub const IS_VARIABLE: u16 = 5;
        pub const SPARSITY: u16 = 6;
        pub const SHAPE_SIGNATURE: u16 = 7;
        pub const HAS_RANK: u16 = 8;
        pub const VARIANT_TENSORS: u16 = 9;
        pub const EXTERNAL_BUFFER: u16 = 10;
    }
    pub mod quantization {
        pub const MIN: u16 = 0;
        pub const MAX: u16 = 1;
        pub const SCALE: u16 = 2;
        pub const ZERO_POINT: u16 = 3;
        pub const DETAILS_TYPE: u16 = 4;
        pub const DETAILS: u16 = 5;
        pub const QUANTIZED_DIMENSION: u16 = 6;
    }
    pub mod operator {
        pub const OPCODE_INDEX: u16 = 0;
        pub const INPUTS: u16 = 1;
        pub const OUTPUTS: u16 = 2;
        pub const BUILTIN_OPTIONS_TYPE: u16 = 3;
        pub const BUILTIN_OPTIONS: u16 = 4;
        pub const CUSTOM_OPTIONS: u16 = 5;
        pub const CUSTOM_OPTIONS_FORMAT: u16 = 6;
        pub const MUTATING_VARIABLE_INPUTS: u16 = 7;
        pub const INTERMEDIATES: u16 = 8;
        pub const LARGE_CUSTOM_OPTIONS_OFFSET: u16 = 9;
        pub const LARGE_CUSTOM_OPTIONS_SIZE: u16 = 10;
        pub const BUILTIN_OPTIONS_2_TYPE: u16 = 11;
        pub const BUILTIN_OPTIONS_2: u16 = 12;
    }
    pub mod buffer {
        pub const DATA: u16 = 0;
        pub const OFFSET: u16 = 1;
        pub const SIZE: u16 = 2;
    }
    pub mod metadata {
        pub const NAME: u16 = 0;
        pub const BUFFER: u16 = 1;
    }
    pub mod signature_def {
        pub const INPUTS: u16 = 0;
        pub const OUTPUTS: u16 = 1;
        pub const SIGNATURE_KEY: u16 = 2;
        pub const SUBGRAPH_INDEX: u16 = 4;
    }
    pub mod tensor_map {
        pub const NAME: u16 = 0;
        pub const TENSOR_INDEX: u16 = 1;
    }
    pub mod sparsity {
        pub const TRAVERSAL_ORDER: u16 = 0;
        pub const BLOCK_MAP: u16 = 1;
        pub const DIM_METADATA: u16 = 2;
    }
    pub mod dimension_metadata {
        pub const FORMAT: u16 = 0;
        pub const DENSE_SIZE: u16 = 1;
        pub const ARRAY_SEGMENTS_TYPE: u16 = 2;
        pub const ARRAY_SEGMENTS: u16 = 3;
        pub const ARRAY_INDICES_TYPE: u16 = 4;
        pub const ARRAY_INDICES: u16 = 5;
    }
    /// Options tables, by their schema name.
    pub mod conv2d_options {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const FUSED_ACTIVATION: u16 = 3;
        pub const DILATION_W: u16 = 4;
        pub const DILATION_H: u16 = 5;
        pub const QUANTIZED_BIAS_TYPE: u16 = 6;
    }
    pub mod depthwise_conv2d_options {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const DEPTH_MULTIPLIER: u16 = 3;
        pub const FUSED_ACTIVATION: u16 = 4;
        pub const DILATION_W: u16 = 5;
        pub const DILATION_H: u16 = 6;
    }
    pub mod pool2d_options {
        pub const PADDING: u16 = 0;
        pub const STRIDE_W: u16 = 1;
        pub const STRIDE_H: u16 = 2;
        pub const FILTER_WIDTH: u16 = 3;
        pub const FILTER_HEIGHT: u16 = 4;
        pub const FUSED_ACTIVATION: u16 = 5;
    }
    pub mod svdf_options {
        pub const RANK: u16 = 0;
        pub const FUSED_ACTIVATION: u16 = 1;
        pub const ASYMMETRIC_QUANTIZE_INPUTS: u16 = 2;
    }
    pub mod fully_connected_options {
        pub const FUSED_ACTIVATION: u16 = 0;
        pub const WEIGHTS_FORMAT: u16 = 1;
        pub const KEEP_NUM_DIMS: u16 = 2;
        pub const ASYMMETRIC_QUANTIZE_INPUTS: u16 = 3;
        pub const QUANTIZED_BIAS_TYPE: u16 = 4;
    }
    pub mod softmax_options {
        pub const BETA: u16 = 0;
    }
    pub mod concatenation_options {
        pub const AXIS: u16 = 0;
        pub const FUSED_ACTIVATION: u16 = 1;
    }
    /// AddOptions and SubOptions share this layout.
    pub mod add_options {
        pub const FUSED_ACTIVATION: u16 = 0;
        pub const POT_SCALE_INT16: u16 = 1;
    }
    pub mod mul_options {
        pub const FUSED_ACTIVATION: u16 = 0;
    }
    pub mod reshape_options {
        pub const NEW_SHAPE: u16 = 0;
    }
    pub mod reducer_options {
        pub const KEEP_DIMS: u16 = 0;
    }
    pub mod squeeze_options {
        pub const SQUEEZE_DIMS: u16 = 0;
    }
    pub mod strided_slice_options {
        pub const BEGIN_MASK: u16 = 0;
        pub const END_MASK: u16 = 1;
        pub const ELLIPSIS_MASK: u16 = 2;
        pub const NEW_AXIS_MASK: u16 = 3;
        pub const SHRINK_AXIS_MASK: u16 = 4;
        pub const OFFSET: u16 = 5;
    }
    pub mod leaky_relu_options {
        pub const ALPHA: u16 = 0;
    }
    pub mod unidirectional_sequence_lstm_options {
        pub const FUSED_ACTIVATION: u16 = 0;
        pub const CELL_CLIP: u16 = 1;
        pub const PROJ_CLIP: u16 = 2;
        pub const TIME_MAJOR: u16 = 3;
        pub const ASYMMETRIC_QUANTIZE_INPUTS: u16 = 4;
        pub const DIAGONAL_RECURRENT_TENSORS: u16 = 5;
    }
}

/// `BuiltinOptions` union type codes (the value stored in `builtin_options_type`).
pub mod options_type {
    pub const NONE: u8 = 0;
    pub const CONV2D: u8 = 1;
    pub const DEPTHWISE_CONV2D: u8 = 2;
    pub const POOL2D: u8 = 5;
    pub const SVDF: u8 = 6;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const PAD: u8 = 22;
    pub const TRANSPOSE: u8 = 26;
    pub const REDUCER: u8 = 27;
    pub const SUB: u8 = 28;
    pub const SQUEEZE: u8 = 30;
    pub const STRIDED_SLICE: u8 = 32;
    pub const DEQUANTIZE: u8 = 38;
    pub const PADV2: u8 = 43;
    pub const EXPAND_DIMS: u8 = 52;
    pub const UNIDIRECTIONAL_SEQUENCE_LSTM: u8 = 71;
    pub const LEAKY_RELU: u8 = 75;
    pub const QUANTIZE: u8 = 89;
    pub const HARD_SWISH: u8 = 91;
}

/// Builtin operator codes used by name in this project.
pub mod op {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU_N1_TO_1: i32 = 20;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const SVDF: i32 = 27;
    pub const TANH: i32 = 28;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const SQUEEZE: i32 = 43;
    pub const UNIDIRECTIONAL_SEQUENCE_LSTM: i32 = 44;
    pub const STRIDED_SLICE: i32 = 45;
    pub const PADV2: i32 = 60;
    pub const EXPAND_DIMS: i32 = 70;
    pub const LEAKY_RELU: i32 = 98;
    pub const QUANTIZE: i32 = 114;
    pub const HARD_SWISH: i32 = 117;
}

/// The schema name of a builtin operator code (`"?"` for codes the schema does not define).
///
/// With the `std` feature (host tools) every builtin has its name; without it (firmware)
/// only the operators this runtime has kernels for, the ones its errors are about, do: the
/// other 178 names would add 2.3 KB to every firmware, and an error about such an operator
/// gives its builtin code. Never inlined: error paths call it from every operator's `prepare`.
#[inline(never)]
pub fn op_name(code: i32) -> &'static str {
    #[cfg(feature = "std")]
    let name = usize::try_from(code)
        .ok()
        .and_then(|i| packed_name(OP_NAMES, &OP_NAME_ENDS, i));
    #[cfg(not(feature = "std"))]
    let name = crate::ops::supported_name(code);
    name.filter(|n| !n.is_empty()).unwrap_or("?")
}

/// The names one after another in one string, and where each ends: a table of 2-byte ends
/// costs a quarter of one of `&str`s (8 bytes each, 1.7 KB for the 210 codes), and every
/// firmware links it for its error messages.
macro_rules! op_names {
    ($($name:literal,)*) => {
        #[cfg(feature = "std")]
        const OP_NAMES: &str = concat!($($name),*);
        #[cfg(feature = "std")]
        const OP_NAME_ENDS: [u16; [$($name),*].len()] = name_ends([$($name),*]);
    };
}

/// Name `i` of names packed by [`name_ends`]: `names[ends[i - 1]..ends[i]]`.
#[inline(always)]
pub(crate) fn packed_name<'a>(names: &'a str, ends: &[u16], i: usize) -> Option<&'a str> {
    let start = match i.checked_sub(1) {
        Some(p) => *ends.get(p)? as usize,
        None => 0,
    };
    names.get(start..*ends.get(i)? as usize)
}

/// The running sum of the names' lengths (evaluated at compile time).
pub(crate) const fn name_ends<const N: usize>(names: [&str; N]) -> [u16; N] {
    let mut ends = [0u16; N];
    let (mut i, mut end) = (0, 0);
    while i < N {
        end += names[i].len();
        ends[i] = end as u16;
        i += 1;
    }
    ends
}

op_names! {
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE",
    "DEQUANTIZE",
    "EMBEDDING_LOOKUP",
    "FLOOR",
    "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION",
    "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC",
    "LSH_PROJECTION",
    "LSTM",
    "MAX_POOL_2D",
    "MUL",
    "RELU",
    "RELU_N1_TO_1",
    "RELU6",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RNN",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SVDF",
    "TANH",
    "CONCAT_EMBEDDINGS",
    "SKIP_GRAM",
    "CALL",
    "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE",
    "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER",
    "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND",
    "TRANSPOSE",
    "MEAN",
    "SUB",
    "DIV",
    "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP",
    "TOPK_V2",
    "SPLIT",
    "LOG_SOFTMAX",
    "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "CAST",
    "PRELU",
    "MAXIMUM",
    "ARG_MAX",
    "MINIMUM",
    "LESS",
    "NEG",
    "PADV2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS_EQUAL",
    "SELECT",
    "SLICE",
    "SIN",
    "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE",
    "TILE",
    "EXPAND_DIMS",
    "EQUAL",
    "NOT_EQUAL",
    "LOG",
    "SUM",
    "SQRT",
    "RSQRT",
    "SHAPE",
    "POW",
    "ARG_MIN",
    "FAKE_QUANT",
    "REDUCE_PROD",
    "REDUCE_MAX",
    "PACK",
    "LOGICAL_OR",
    "ONE_HOT",
    "LOGICAL_AND",
    "LOGICAL_NOT",
    "UNPACK",
    "REDUCE_MIN",
    "FLOOR_DIV",
    "REDUCE_ANY",
    "SQUARE",
    "ZEROS_LIKE",
    "FILL",
    "FLOOR_MOD",
    "RANGE",
    "RESIZE_NEAREST_NEIGHBOR",
    "LEAKY_RELU",
    "SQUARED_DIFFERENCE",
    "MIRROR_PAD",
    "ABS",
    "SPLIT_V",
    "UNIQUE",
    "CEIL",
    "REVERSE_V2",
    "ADD_N",
    "GATHER_ND",
    "COS",
    "WHERE",
    "RANK",
    "ELU",
    "REVERSE_SEQUENCE",
    "MATRIX_DIAG",
    "QUANTIZE",
    "MATRIX_SET_DIAG",
    "ROUND",
    "HARD_SWISH",
    "IF",
    "WHILE",
    "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND",
    "SELECT_V2",
    "DENSIFY",
    "SEGMENT_SUM",
    "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES",
    "CUMSUM",
    "CALL_ONCE",
    "BROADCAST_TO",
    "RFFT2D",
    "CONV_3D",
    "",
    "",
    "",
    "HASHTABLE",
    "HASHTABLE_FIND",
    "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE",
    "REDUCE_ALL",
    "CONV_3D_TRANSPOSE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "BROADCAST_ARGS",
    "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE",
    "RANDOM_UNIFORM",
    "MULTINOMIAL",
    "GELU",
    "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1",
    "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM",
    "ATAN2",
    "UNSORTED_SEGMENT_MIN",
    "SIGN",
    "BITCAST",
    "BITWISE_XOR",
    "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC",
    "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE",
    "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM",
    "STABLEHLO_RESHAPE",
    "STABLEHLO_CLAMP",
    "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION",
    "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL",
    "STABLEHLO_REDUCE",
    "STABLEHLO_ABS",
    "STABLEHLO_AND",
    "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR",
    "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM",
    "STABLEHLO_NEGATE",
    "STABLEHLO_OR",
    "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER",
    "STABLEHLO_RSQRT",
    "STABLEHLO_SELECT",
    "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH",
    "STABLEHLO_SCATTER",
    "STABLEHLO_COMPARE",
    "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE",
    "STABLEHLO_DYNAMIC_UPDATE_SLICE",
    "STABLEHLO_PAD",
    "STABLEHLO_IOTA",
    "STABLEHLO_DOT_GENERAL",
    "STABLEHLO_REDUCE_WINDOW",
    "STABLEHLO_SORT",
    "STABLEHLO_WHILE",
    "STABLEHLO_GATHER",
    "STABLEHLO_TRANSPOSE",
    "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR",
    "REDUCE_WINDOW",
    "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT",
    "STABLEHLO_CBRT",
    "STABLEHLO_CASE",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_schema() {
        assert_eq!(op_name(op::ADD), "ADD");
        assert_eq!(
            op_name(op::UNIDIRECTIONAL_SEQUENCE_LSTM),
            "UNIDIRECTIONAL_SEQUENCE_LSTM"
        );
        assert_eq!(op_name(op::HARD_SWISH), "HARD_SWISH");
        assert_eq!(op_name(-1), "?");
        assert_eq!(op_name(100_000), "?");
    }

    /// Every builtin's name, with the `std` feature; without it, the supported ones alone.
    #[test]
    fn names_of_unsupported_builtins_need_std() {
        assert_eq!(op_name(0), "ADD");
        if cfg!(not(feature = "std")) {
            assert_eq!(op_name(132), "?");
            assert_eq!(op_name(209), "?");
            return;
        }
        // The first, the last, the codes around a gap, and the gap itself.
        assert_eq!(op_name(132), "CONV_3D");
        assert_eq!(op_name(133), "?");
        assert_eq!(op_name(135), "?");
        assert_eq!(op_name(136), "HASHTABLE");
        assert_eq!(op_name(209), "STABLEHLO_CASE");
        assert_eq!(op_name(210), "?");
        assert_eq!(op_name(-1), "?");
        assert_eq!(op_name(100_000), "?");
    }

    /// An operator without a name (firmware builds, or a code past the schema) is reported
    /// by its builtin code alone.
    #[test]
    fn unnamed_operators_are_reported_by_code() {
        extern crate std;
        use crate::error::ParseErrorKind;
        use std::string::ToString;
        let kind = |code| ParseErrorKind::UnsupportedOperator {
            code,
            name: op_name(code),
        };
        assert_eq!(
            kind(300).to_string(),
            "operator of builtin code 300 not supported"
        );
        let expected = if cfg!(feature = "std") {
            "CONV_3D (builtin code 132) not supported"
        } else {
            "operator of builtin code 132 not supported"
        };
        assert_eq!(kind(132).to_string(), expected);
    }
}

//! Pruning: magnitude (unstructured: single weights set to zero, [`magnitude`]) or structured
//! (whole neurons or channels removed and the following layers rewired, [`structured`]).

mod magnitude;
mod quantized;
pub mod structured;

pub use magnitude::*;
pub use quantized::{prune_int8, skip_list_int8};
pub use structured::{LayerUnits, Structure};

/// Why pruning cannot be done as asked.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PruneError {
    #[error("sparsity must be in [0, 1), got {0}")]
    Sparsity(f32),
    #[error("no prunable layer {name:?} to skip (prunable: operator index or weight tensor name of {known})")]
    UnknownLayer { name: String, known: String },
    #[error(
        "prune_structure {0:?} ranks units per layer; global ranking is for magnitude pruning only"
    )]
    GlobalStructured(&'static str),
    #[error(
        "prune_structure = {0:?} needs a sparsity (prune = s): the fraction of units to remove"
    )]
    StructureWithoutSparsity(&'static str),
    #[error("operator {op} ({name}): removing its units: {message}")]
    Rewire {
        op: usize,
        name: &'static str,
        message: String,
    },
    #[error(
        "prune_block = \"1x4\" needs a sparsity (prune = s) and per-layer ranking (not global, \
         not prune_structure)"
    )]
    BlockRanking,
    #[error("prune_structure = {0:?}: the model has no {1} layer with float weights")]
    NoUnits(&'static str, &'static str),
    #[error("structured pruning left an invalid graph: {0}")]
    Invalid(String),
    #[error("operator {op}: weight tensor {tensor:?} is {what}; pruning an int8 model needs symmetric int8 weights (skip the layer with --prune-skip {op})")]
    NotInt8 {
        op: usize,
        tensor: String,
        what: &'static str,
    },
    #[error("the model has no FULLY_CONNECTED, CONV_2D or LSTM weights to prune")]
    NothingToPrune,
}

//! tract's type, shape and value inference over the ONNX graph, with the batch dimension
//! fixed to 1: one [`Fact`] per ONNX value name.

use super::consts::Const;
use super::ImportError;
use std::collections::BTreeMap;
use tract_onnx::model::ParseResult;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceModelExt};

/// What tract infers about one ONNX value.
#[derive(Clone, Debug, Default)]
pub struct Fact {
    pub shape: Option<Vec<usize>>,
    pub dtype: Option<DatumType>,
    /// The value, when it is known at import time.
    pub konst: Option<Const>,
}

/// Parses `proto` with tract, sets each graph input to float32 of its concrete shape (from
/// `inputs`, by name) and runs the analysis.
pub fn infer(
    proto: &pb::ModelProto,
    dir: Option<&str>,
    inputs: &BTreeMap<String, Vec<usize>>,
) -> Result<BTreeMap<String, Fact>, ImportError> {
    let ParseResult {
        mut model,
        unresolved_inputs,
        outlets_by_name,
    } = tract_onnx::onnx()
        .parse(proto, dir)
        .map_err(|e| ImportError::Protobuf(format!("{e:#}")))?;
    if let Some(name) = unresolved_inputs.first() {
        return Err(ImportError::Protobuf(format!(
            "value {name:?} is used but never defined"
        )));
    }
    let outlets = model
        .input_outlets()
        .map_err(|e| ImportError::Inference(format!("{e:#}")))?
        .to_vec();
    for (i, outlet) in outlets.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let shape = inputs.get(&name).ok_or_else(|| ImportError::Input {
            name: name.clone(),
            message: "not a graph input of the protobuf".into(),
        })?;
        model
            .set_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), shape.clone()))
            .map_err(|e| ImportError::Inference(format!("{e:#}")))?;
    }
    model
        .analyse(false)
        .map_err(|e| ImportError::Inference(format!("{e:#}")))?;
    let mut facts = BTreeMap::new();
    for (name, outlet) in outlets_by_name {
        let Ok(f) = model.outlet_fact(outlet) else {
            continue;
        };
        let fact = Fact {
            shape: f
                .shape
                .as_concrete_finite()
                .ok()
                .flatten()
                .map(|s| s.to_vec()),
            dtype: f.datum_type.concretize(),
            konst: f.value.concretize().and_then(|t| Const::from_tensor(&t)),
        };
        facts.insert(name, fact);
    }
    Ok(facts)
}

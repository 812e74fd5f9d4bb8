//! A node's identity (for error messages) and its attributes, read from the protobuf.

use super::ImportError;
use tract_onnx::pb;

/// The node being lowered: what every error names.
#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub pb: &'a pb::NodeProto,
    /// The node's name, or its first output's when the name is empty.
    pub name: String,
    pub opset: i64,
}

impl<'a> Node<'a> {
    pub fn new(pb: &'a pb::NodeProto, opset: i64) -> Node<'a> {
        let name = if !pb.name.is_empty() {
            pb.name.clone()
        } else {
            pb.output.first().cloned().unwrap_or_default()
        };
        Node { pb, name, opset }
    }

    pub fn op(&self) -> &str {
        &self.pb.op_type
    }

    /// An error about this node.
    pub fn err(&self, message: impl Into<String>) -> ImportError {
        ImportError::Node {
            node: self.name.clone(),
            op: self.pb.op_type.clone(),
            opset: self.opset,
            message: message.into(),
        }
    }

    /// Input `k`'s value name; `None` when absent or empty (an omitted optional input).
    pub fn input(&self, k: usize) -> Option<&'a str> {
        self.pb
            .input
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Input `k`, required.
    pub fn req_input(&self, k: usize) -> Result<&'a str, ImportError> {
        self.input(k)
            .ok_or_else(|| self.err(format!("input {k} is missing")))
    }

    /// The first output's value name.
    pub fn output(&self) -> Result<&'a str, ImportError> {
        self.pb
            .output
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err("it has no output"))
    }

    fn attr(&self, name: &str) -> Option<&'a pb::AttributeProto> {
        self.pb.attribute.iter().find(|a| a.name == name)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }

    pub fn ints(&self, name: &str) -> Option<&'a [i64]> {
        self.attr(name).map(|a| a.ints.as_slice())
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.attr(name).map_or(default.to_string(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }

    /// An `ints` attribute of `len` non-negative values as usize, or `default` when absent.
    pub fn usizes(
        &self,
        name: &str,
        len: usize,
        default: usize,
    ) -> Result<Vec<usize>, ImportError> {
        match self.ints(name) {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&x| x >= 0) => {
                Ok(v.iter().map(|&x| x as usize).collect())
            }
            Some(v) => Err(self.err(format!(
                "attribute {name} {v:?}: expected {len} non-negative values"
            ))),
        }
    }
}

//! The importer: ONNX values held by IR tensors (with their axis permutation), and the
//! lowering of each node. Convolutions and pools are in [`super::conv`], fully connected
//! layers and the folds into them in [`super::dense`].

use super::attrs::Node;
use super::consts::{Const, ConstVals};
use super::facts::{self, Fact};
use super::layout::{self, NHWC};
use super::{ImportError, ImportOptions};
use crate::ir::{
    ConcatenationOptions, ConstData, Graph, LeakyReluOptions, Op, OpKind, ReducerOptions,
    ReshapeOptions, SoftmaxOptions, Tensor, TensorId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use tflm_runtime::{Activation, DType};
use tract_onnx::pb;
use tract_onnx::prelude::DatumType;

/// The op types the importer maps.
pub const SUPPORTED: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Conv",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSwish",
    "Softmax",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Pad",
    "ReduceMean",
    "Identity",
    "Dropout",
    "LSTM",
];

/// Op types accepted only where tract computes their outputs at import time (shape
/// arithmetic feeding a `Reshape`, for example).
pub const FOLDABLE: &[&str] = &[
    "Constant",
    "ConstantOfShape",
    "Shape",
    "Size",
    "Gather",
    "Slice",
    "Cast",
    "Range",
    "Expand",
    "Equal",
    "Where",
    "Neg",
    "Floor",
    "Ceil",
    "Sqrt",
    "Reciprocal",
    "ReduceProd",
    "ReduceSum",
];

/// How an ONNX value is held.
#[derive(Clone, Debug)]
pub enum Val {
    /// By an IR tensor whose axis `i` is the value's axis `perm[i]`.
    Ir { id: TensorId, perm: Vec<usize> },
    /// Known at import time (ONNX layout); becomes an IR constant where an op reads it.
    Const(Rc<Const>),
    /// ONNX's flatten to `[rows, cols]` of the IR tensor `src` held with `src_perm` in another
    /// element order: nothing emitted yet (a fully connected layer reads `src` directly with
    /// its weight columns permuted by `order`, see [`layout::flatten_order`]).
    Flat {
        src: TensorId,
        src_perm: Vec<usize>,
        order: Vec<usize>,
        rows: usize,
        cols: usize,
    },
}

pub struct Importer<'a> {
    pub g: Graph,
    vals: BTreeMap<String, Val>,
    facts: &'a BTreeMap<String, Fact>,
    /// Readers of each value (nodes, once per input slot, and graph outputs).
    uses: BTreeMap<String, usize>,
    /// TRANSPOSE outputs already made: (IR tensor, wanted permutation) → IR tensor.
    transposed: BTreeMap<(TensorId, Vec<usize>), TensorId>,
}

/// Imports a decoded model.
pub fn import_proto(
    proto: &pb::ModelProto,
    dir: Option<&str>,
    options: &ImportOptions,
) -> Result<Graph, ImportError> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Protobuf("the model has no graph".into()))?;
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    // Unknown ops first: the precise error, before tract's inference trips on them.
    for n in &graph.node {
        let node = Node::new(n, opset);
        if !n.domain.is_empty() && n.domain != "ai.onnx" {
            return Err(node.err(format!("operator domain {:?} is not supported", n.domain)));
        }
        if !SUPPORTED.contains(&node.op()) && !FOLDABLE.contains(&node.op()) {
            return Err(node.err("not supported yet"));
        }
    }
    let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = Vec::new();
    for vi in &graph.input {
        if initializers.contains(vi.name.as_str()) {
            continue;
        }
        inputs.push((vi.name.clone(), input_shape(vi)?));
    }
    let by_name: BTreeMap<String, Vec<usize>> = inputs.iter().cloned().collect();
    let facts = facts::infer(proto, dir, &by_name)?;

    let mut im = Importer {
        g: Graph::new(),
        vals: BTreeMap::new(),
        facts: &facts,
        uses: BTreeMap::new(),
        transposed: BTreeMap::new(),
    };
    for n in &graph.node {
        for i in n.input.iter().filter(|s| !s.is_empty()) {
            *im.uses.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &graph.output {
        *im.uses.entry(o.name.clone()).or_default() += 1;
    }
    for (name, shape) in &inputs {
        let perm = if options.nhwc_io && shape.len() == 4 {
            NHWC.to_vec()
        } else {
            layout::identity(shape.len())
        };
        let id = im.add_act(name, layout::permute(shape, &perm));
        im.g.inputs.push(id);
        im.vals.insert(name.clone(), Val::Ir { id, perm });
    }
    for n in &graph.node {
        im.node(&Node::new(n, opset))?;
    }
    for o in &graph.output {
        let id = im.graph_output(&o.name, options)?;
        im.g.outputs.push(id);
    }
    im.g.remove_unused_tensors();
    im.g.validate()?;
    Ok(im.g)
}

/// A graph input's shape: float32, the first dimension (the batch) 1 when symbolic, every
/// other dimension fixed.
fn input_shape(vi: &pb::ValueInfoProto) -> Result<Vec<usize>, ImportError> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    use pb::type_proto::Value;
    let err = |message: String| ImportError::Input {
        name: vi.name.clone(),
        message,
    };
    let Some(Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(err("not a tensor".into()));
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(err(format!(
            "element type {} is not supported (float32 only)",
            pb::tensor_proto::DataType::try_from(t.elem_type)
                .map_or_else(|_| t.elem_type.to_string(), |d| format!("{d:?}"))
        )));
    }
    let dims = t.shape.as_ref().map_or(&[][..], |s| s.dim.as_slice());
    dims.iter()
        .enumerate()
        .map(|(i, d)| match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => Ok(*v as usize),
            _ if i == 0 => Ok(1),
            Some(Dim::DimParam(p)) => Err(err(format!(
                "dimension {i} is symbolic ({p:?}); only the first (batch) may be"
            ))),
            _ => Err(err(format!("dimension {i} is unknown"))),
        })
        .collect()
}

impl Importer<'_> {
    // ---- IR building ----

    pub fn add_act(&mut self, name: &str, shape: Vec<usize>) -> TensorId {
        self.g
            .add_tensor(Tensor::activation(name, DType::F32, shape))
    }

    pub fn add_f32(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) -> TensorId {
        self.g
            .add_tensor(Tensor::constant(name, shape, ConstData::F32(data)))
    }

    pub fn add_i32(&mut self, name: &str, shape: Vec<usize>, data: Vec<i32>) -> TensorId {
        self.g
            .add_tensor(Tensor::constant(name, shape, ConstData::I32(data)))
    }

    pub fn emit(&mut self, kind: OpKind, inputs: Vec<Option<TensorId>>, output: TensorId) {
        self.g.add_op(Op {
            kind,
            inputs,
            outputs: vec![output],
            intermediates: Vec::new(),
        });
    }

    /// Records that ONNX value `name` is held by `id` with `perm`.
    pub fn set(&mut self, name: &str, id: TensorId, perm: Vec<usize>) {
        self.vals.insert(name.to_string(), Val::Ir { id, perm });
    }

    pub fn set_val(&mut self, name: &str, val: Val) {
        self.vals.insert(name.to_string(), val);
    }

    // ---- ONNX values ----

    pub fn uses(&self, name: &str) -> usize {
        self.uses.get(name).copied().unwrap_or(0)
    }

    pub fn val(&self, node: &Node, name: &str) -> Result<Val, ImportError> {
        if let Some(v) = self.vals.get(name) {
            return Ok(v.clone());
        }
        match self.facts.get(name).and_then(|f| f.konst.clone()) {
            Some(c) => Ok(Val::Const(Rc::new(c))),
            None => Err(node.err(format!("input {name:?} is not computed before this node"))),
        }
    }

    /// The constant `name`, or `None` when it is computed at run time.
    pub fn konst(&self, node: &Node, name: &str) -> Result<Option<Rc<Const>>, ImportError> {
        Ok(match self.val(node, name)? {
            Val::Const(c) => Some(c),
            _ => None,
        })
    }

    pub fn req_const(&self, node: &Node, name: &str, what: &str) -> Result<Rc<Const>, ImportError> {
        self.konst(node, name)?
            .ok_or_else(|| node.err(format!("{what} ({name:?}) must be a constant")))
    }

    /// The ONNX shape of `name` (batch 1), which must be float32.
    pub fn onnx_shape(&self, node: &Node, name: &str) -> Result<Vec<usize>, ImportError> {
        let fact = self.facts.get(name);
        if let Some(dt) = fact.and_then(|f| f.dtype) {
            if dt != DatumType::F32 {
                return Err(node.err(format!(
                    "value {name:?} is {dt:?}: only float32 is supported"
                )));
            }
        }
        fact.and_then(|f| f.shape.clone())
            .ok_or_else(|| node.err(format!("the shape of {name:?} is not known")))
    }

    /// The IR tensor holding `name`, in whatever layout it is held (constants: ONNX's; a
    /// pending flatten is made real).
    pub fn held(&mut self, node: &Node, name: &str) -> Result<(TensorId, Vec<usize>), ImportError> {
        match self.val(node, name)? {
            Val::Ir { id, perm } => Ok((id, perm)),
            Val::Const(c) => {
                let id = self.const_tensor(node, name, &c, &layout::identity(c.shape.len()))?;
                let perm = layout::identity(c.shape.len());
                self.set(name, id, perm.clone());
                Ok((id, perm))
            }
            Val::Flat {
                src,
                src_perm,
                rows,
                cols,
                ..
            } => {
                let plain = self.transposed_to(src, &src_perm, &layout::identity(src_perm.len()));
                let out = self.reshape_op(name, plain, vec![rows, cols]);
                self.set(name, out, vec![0, 1]);
                Ok((out, vec![0, 1]))
            }
        }
    }

    /// The IR tensor holding `name` with permutation `perm` (constants of lower rank are
    /// aligned to the right first, as ONNX broadcasts).
    pub fn held_as(
        &mut self,
        node: &Node,
        name: &str,
        perm: &[usize],
    ) -> Result<TensorId, ImportError> {
        if let Val::Const(c) = self.val(node, name)? {
            return self.const_tensor(node, name, &c, perm);
        }
        let (id, cur) = self.held(node, name)?;
        if cur.len() != perm.len() {
            return Err(node.err(format!(
                "{name:?} has rank {}, {} expected here",
                cur.len(),
                perm.len()
            )));
        }
        Ok(self.transposed_to(id, &cur, perm))
    }

    /// `id` (held with `from`) as held with `to`: itself, or a TRANSPOSE (made once).
    pub fn transposed_to(&mut self, id: TensorId, from: &[usize], to: &[usize]) -> TensorId {
        if from == to {
            return id;
        }
        if let Some(&t) = self.transposed.get(&(id, to.to_vec())) {
            return t;
        }
        let t = layout::transpose_between(from, to);
        let src = self.g.tensor(id);
        let shape = layout::permute(&src.shape, &t);
        let name = format!("{}/transposed", src.name);
        if layout::keeps_element_order(&src.shape, from) && layout::keeps_element_order(&shape, to)
        {
            // Both hold the elements in ONNX's order: only size-1 axes move.
            let out = self.reshape_op(&name, id, shape);
            self.transposed.insert((id, to.to_vec()), out);
            return out;
        }
        let perm = self.add_i32(&format!("{name}/perm"), vec![t.len()], to_i32(&t));
        let out = self.add_act(&name, shape);
        self.emit(OpKind::Transpose, vec![Some(id), Some(perm)], out);
        self.transposed.insert((id, to.to_vec()), out);
        out
    }

    /// An IR float constant holding `c` with `perm` (right-aligned to `perm.len()` first).
    pub fn const_tensor(
        &mut self,
        node: &Node,
        name: &str,
        c: &Const,
        perm: &[usize],
    ) -> Result<TensorId, ImportError> {
        if c.shape.len() > perm.len() {
            return Err(node.err(format!(
                "constant {name:?} of rank {} where rank {} is expected",
                c.shape.len(),
                perm.len()
            )));
        }
        if matches!(c.data, ConstVals::I64(_)) {
            return Err(node.err(format!(
                "constant {name:?} is an integer tensor: only float32 operands are supported"
            )));
        }
        let mut shape = vec![1; perm.len() - c.shape.len()];
        shape.extend(&c.shape);
        let data = layout::transpose_data(&c.f32s(), &shape, perm);
        Ok(self.add_f32(name, layout::permute(&shape, perm), data))
    }

    /// A RESHAPE of `x` to `shape`, output named `name`.
    pub fn reshape_op(&mut self, name: &str, x: TensorId, shape: Vec<usize>) -> TensorId {
        let dims = to_i32(&shape);
        let shape_t = self.add_i32(&format!("{name}/shape"), vec![dims.len()], dims.clone());
        let out = self.add_act(name, shape);
        self.emit(
            OpKind::Reshape(ReshapeOptions {
                new_shape: Some(dims),
            }),
            vec![Some(x), Some(shape_t)],
            out,
        );
        out
    }

    // ---- nodes ----

    fn node(&mut self, node: &Node) -> Result<(), ImportError> {
        let outs: Vec<&String> = node.pb.output.iter().filter(|o| !o.is_empty()).collect();
        let folded: Option<Vec<Const>> = outs
            .iter()
            .map(|o| self.facts.get(o.as_str()).and_then(|f| f.konst.clone()))
            .collect();
        if let Some(consts) = folded.filter(|_| !outs.is_empty()) {
            for (o, c) in outs.iter().zip(consts) {
                self.set_val(o, Val::Const(Rc::new(c)));
            }
            return Ok(());
        }
        match node.op() {
            "Identity" => self.alias(node),
            "Dropout" => {
                if let Some(mask) = node.pb.output.get(1).filter(|m| !m.is_empty()) {
                    if self.uses(mask) > 0 {
                        return Err(node.err("its mask output is used: not supported"));
                    }
                }
                self.alias(node)
            }
            "Relu" => self.activation(node, Activation::Relu),
            "Clip" => self.clip(node),
            "LeakyRelu" => self.unary(
                node,
                OpKind::LeakyRelu(LeakyReluOptions {
                    alpha: node.float("alpha", 0.01),
                }),
            ),
            "Sigmoid" => self.unary(node, OpKind::Logistic),
            "Tanh" => self.unary(node, OpKind::Tanh),
            "HardSwish" => self.unary(node, OpKind::HardSwish),
            "Softmax" => self.softmax(node),
            "Add" | "Sub" | "Mul" => self.binary(node),
            "Div" => self.div(node),
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "BatchNormalization" => self.batch_norm(node),
            "Conv" => self.conv(node),
            "MaxPool" | "AveragePool" => self.pool(node),
            "GlobalAveragePool" => self.global_average_pool(node),
            "ReduceMean" => self.reduce_mean(node),
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => self.reshape(node),
            "Transpose" => self.transpose(node),
            "Concat" => self.concat(node),
            "Pad" => self.pad(node),
            "LSTM" => self.lstm(node),
            "Slice" => self.slice(node),
            "Gather" => self.gather(node),
            op if FOLDABLE.contains(&op) => Err(node.err(
                "not supported yet (only where its output is a constant known at import time)",
            )),
            _ => Err(node.err("not supported yet")),
        }
    }

    fn alias(&mut self, node: &Node) -> Result<(), ImportError> {
        let v = self.val(node, node.req_input(0)?)?;
        self.set_val(node.output()?, v);
        Ok(())
    }

    /// A one-input op that keeps its input's layout.
    fn unary(&mut self, node: &Node, kind: OpKind) -> Result<(), ImportError> {
        let out_name = node.output()?;
        let (x, perm) = self.held(node, node.req_input(0)?)?;
        let shape = layout::permute(&self.onnx_shape(node, out_name)?, &perm);
        let out = self.add_act(out_name, shape);
        self.emit(kind, vec![Some(x)], out);
        self.set(out_name, out, perm);
        Ok(())
    }

    /// RELU, RELU6, RELU_N1_TO_1: fused into the producer when it can take it.
    fn activation(&mut self, node: &Node, act: Activation) -> Result<(), ImportError> {
        if self.try_fuse_activation(node, act)? {
            return Ok(());
        }
        let kind = match act {
            Activation::Relu => OpKind::Relu,
            Activation::Relu6 => OpKind::Relu6,
            Activation::ReluN1To1 => OpKind::ReluN1To1,
            Activation::None => return self.alias(node),
        };
        self.unary(node, kind)
    }

    fn try_fuse_activation(&mut self, node: &Node, act: Activation) -> Result<bool, ImportError> {
        let x = node.req_input(0)?;
        let Val::Ir { id, perm } = self.val(node, x)? else {
            return Ok(false);
        };
        if self.uses(x) != 1 {
            return Ok(false);
        }
        let Some(p) = self.g.producer(id) else {
            return Ok(false);
        };
        let slot = match &mut self.g.ops[p].kind {
            OpKind::FullyConnected(o) => &mut o.activation,
            OpKind::Conv2d(o) => &mut o.activation,
            OpKind::DepthwiseConv2d(o) => &mut o.activation,
            OpKind::Add(o) | OpKind::Sub(o) => &mut o.activation,
            OpKind::Mul(o) => &mut o.activation,
            _ => return Ok(false),
        };
        if *slot != Activation::None {
            return Ok(false);
        }
        *slot = act;
        let out = node.output()?;
        self.g.tensor_mut(id).name = out.to_string();
        self.set(out, id, perm);
        Ok(true)
    }

    fn clip(&mut self, node: &Node) -> Result<(), ImportError> {
        let (lo, hi) = if node.opset < 11 {
            (
                node.float("min", f32::NEG_INFINITY),
                node.float("max", f32::INFINITY),
            )
        } else {
            let bound = |k: usize, default: f32| -> Result<f32, ImportError> {
                match node.input(k) {
                    None => Ok(default),
                    Some(n) => self
                        .req_const(node, n, "a Clip bound")?
                        .scalar()
                        .ok_or_else(|| node.err("a Clip bound must be a scalar")),
                }
            };
            (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
        };
        let act = match (lo, hi) {
            (0.0, 6.0) => Activation::Relu6,
            (0.0, h) if h == f32::INFINITY => Activation::Relu,
            (-1.0, 1.0) => Activation::ReluN1To1,
            (lo, hi) if lo == f32::NEG_INFINITY && hi == f32::INFINITY => Activation::None,
            _ => {
                return Err(node.err(format!(
                    "Clip({lo}, {hi}) has no TFLite builtin: only (0, 6), (0, inf) and (-1, 1)"
                )))
            }
        };
        self.activation(node, act)
    }

    fn softmax(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let rank = self.onnx_shape(node, x)?.len();
        let default = if node.opset < 13 { 1 } else { -1 };
        let axis = normalize_axis(node, node.int("axis", default), rank)?;
        if axis + 1 != rank {
            return Err(node.err(format!(
                "softmax along axis {axis} of a rank-{rank} tensor: only the last axis is supported"
            )));
        }
        let (_, perm) = self.held(node, x)?;
        let perm = if perm.last() == Some(&axis) {
            perm
        } else {
            layout::identity(rank)
        };
        let id = self.held_as(node, x, &perm)?;
        let out_name = node.output()?;
        let shape = layout::permute(&self.onnx_shape(node, out_name)?, &perm);
        let out = self.add_act(out_name, shape);
        self.emit(
            OpKind::Softmax(SoftmaxOptions { beta: 1.0 }),
            vec![Some(id)],
            out,
        );
        self.set(out_name, out, perm);
        Ok(())
    }

    /// ADD, SUB, MUL (a bias after a conv or FC is folded into it).
    fn binary(&mut self, node: &Node) -> Result<(), ImportError> {
        let (a, b) = (node.req_input(0)?, node.req_input(1)?);
        let (va, vb) = (self.val(node, a)?, self.val(node, b)?);
        match (node.op(), &va, &vb) {
            ("Add", _, Val::Const(c)) if self.try_fold_bias(node, a, c, 1.0)? => return Ok(()),
            ("Add", Val::Const(c), _) if self.try_fold_bias(node, b, c, 1.0)? => return Ok(()),
            ("Sub", _, Val::Const(c)) if self.try_fold_bias(node, a, c, -1.0)? => return Ok(()),
            _ => {}
        }
        let kind = match node.op() {
            "Add" => OpKind::Add(Default::default()),
            "Sub" => OpKind::Sub(Default::default()),
            _ => OpKind::Mul(Default::default()),
        };
        let out = node.output()?;
        let shape = self.onnx_shape(node, out)?;
        self.elementwise(node, kind, [(a, va), (b, vb)], out, &shape)
    }

    /// Division by a constant: MUL by its reciprocal.
    fn div(&mut self, node: &Node) -> Result<(), ImportError> {
        let (a, b) = (node.req_input(0)?, node.req_input(1)?);
        let c = self.req_const(node, b, "the divisor")?;
        let recip = Const {
            shape: c.shape.clone(),
            data: ConstVals::F32(c.f32s().iter().map(|v| 1.0 / v).collect()),
        };
        let va = self.val(node, a)?;
        let name = format!("{b}/reciprocal");
        let out = node.output()?;
        let shape = self.onnx_shape(node, out)?;
        self.elementwise(
            node,
            OpKind::Mul(Default::default()),
            [(a, va), (&name, Val::Const(Rc::new(recip)))],
            out,
            &shape,
        )
    }

    /// A broadcasting two-input op; operands brought to one layout.
    pub fn elementwise(
        &mut self,
        node: &Node,
        kind: OpKind,
        operands: [(&str, Val); 2],
        out_name: &str,
        out_shape: &[usize],
    ) -> Result<(), ImportError> {
        let rank = out_shape.len();
        // The layout: the first run-time operand's of full rank, unless a lower-rank run-time
        // operand needs ONNX's own alignment.
        let mut perm = None;
        let mut need_identity = false;
        for (name, v) in &operands {
            if matches!(v, Val::Const(_)) {
                continue;
            }
            let (_, p) = self.held(node, name)?;
            if p.len() == rank {
                perm.get_or_insert(p);
            } else {
                need_identity = true;
            }
        }
        let perm = match perm {
            Some(p) if !need_identity => p,
            _ => layout::identity(rank),
        };
        let mut ids = Vec::new();
        for (name, v) in &operands {
            let id = match v {
                Val::Const(c) => self.const_tensor(node, name, c, &perm)?,
                _ => {
                    let (_, p) = self.held(node, name)?;
                    let want = if p.len() == rank {
                        perm.clone()
                    } else {
                        layout::identity(p.len())
                    };
                    self.held_as(node, name, &want)?
                }
            };
            ids.push(Some(id));
        }
        let out = self.add_act(out_name, layout::permute(out_shape, &perm));
        self.emit(kind, ids, out);
        self.set(out_name, out, perm);
        Ok(())
    }

    fn reduce_mean(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let rank = self.onnx_shape(node, x)?.len();
        let axes: Vec<i64> = if node.opset < 18 {
            node.ints("axes").map(<[i64]>::to_vec).unwrap_or_default()
        } else {
            match node.input(1) {
                Some(n) => self
                    .req_const(node, n, "the axes")?
                    .i64s()
                    .ok_or_else(|| node.err("the axes must be integers"))?
                    .to_vec(),
                None => Vec::new(),
            }
        };
        if axes.is_empty() && node.int("noop_with_empty_axes", 0) != 0 {
            return self.alias(node);
        }
        let mut reduced = BTreeSet::new();
        for &a in &axes {
            reduced.insert(normalize_axis(node, a, rank)?);
        }
        if axes.is_empty() {
            reduced.extend(0..rank);
        }
        let keep = node.int("keepdims", 1) != 0;
        let (id, perm) = self.held(node, x)?;
        let ir_axes: Vec<i32> = (0..rank)
            .filter(|&i| reduced.contains(&perm[i]))
            .map(|i| i as i32)
            .collect();
        let out_perm: Vec<usize> = if keep {
            perm.clone()
        } else {
            perm.iter()
                .filter(|p| !reduced.contains(p))
                .map(|&p| p - reduced.iter().filter(|&&r| r < p).count())
                .collect()
        };
        let out_name = node.output()?;
        let shape = layout::permute(&self.onnx_shape(node, out_name)?, &out_perm);
        let axes_t = self.add_i32(&format!("{out_name}/axes"), vec![ir_axes.len()], ir_axes);
        let out = self.add_act(out_name, shape);
        self.emit(
            OpKind::Mean(ReducerOptions { keep_dims: keep }),
            vec![Some(id), Some(axes_t)],
            out,
        );
        self.set(out_name, out, out_perm);
        Ok(())
    }

    /// Reshape, Flatten, Squeeze, Unsqueeze: to the output shape tract infers.
    fn reshape(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let out_name = node.output()?;
        let out_shape = self.onnx_shape(node, out_name)?;
        if self.try_shrink_slice(node, x, out_name)? {
            return Ok(());
        }
        let (id, perm) = self.held(node, x)?;
        let ir_shape = self.g.tensor(id).shape.clone();
        if layout::keeps_element_order(&ir_shape, &perm) {
            if let Some(p) = layout::relabel_unit_axes(&ir_shape, &out_shape) {
                // Only size-1 axes move: the same tensor, relabelled.
                self.set(out_name, id, p);
            } else if !self.retarget_reshape(x, id, &out_shape, out_name) {
                let out = self.reshape_op(out_name, id, out_shape.clone());
                self.set(out_name, out, layout::identity(out_shape.len()));
            }
        } else if out_shape.len() == 2 && perm[0] == 0 && out_shape[0] == ir_shape[0] {
            self.set_val(
                out_name,
                Val::Flat {
                    src: id,
                    order: layout::flatten_order(&ir_shape, &perm),
                    src_perm: perm,
                    rows: out_shape[0],
                    cols: out_shape[1],
                },
            );
        } else {
            let plain = self.transposed_to(id, &perm, &layout::identity(perm.len()));
            let out = self.reshape_op(out_name, plain, out_shape.clone());
            self.set(out_name, out, layout::identity(out_shape.len()));
        }
        Ok(())
    }

    /// A reshape of the output of a RESHAPE that nothing else reads: that RESHAPE now gives
    /// `shape` (or goes, when `shape` is its input's).
    fn retarget_reshape(&mut self, x: &str, id: TensorId, shape: &[usize], out_name: &str) -> bool {
        if self.uses(x) != 1 || self.g.outputs.contains(&id) {
            return false;
        }
        let Some(p) = self.g.producer(id) else {
            return false;
        };
        let op = &self.g.ops[p];
        let (OpKind::Reshape(_), Some(src)) = (&op.kind, op.input(0)) else {
            return false;
        };
        // The RESHAPE's input holds the elements in this order too: when only size-1 axes
        // differ, it holds the result (relabelled) and the RESHAPE goes.
        if let Some(relabel) = layout::relabel_unit_axes(&self.g.tensor(src).shape, shape) {
            self.g.ops.remove(p);
            self.set(out_name, src, relabel);
            return true;
        }
        let perm = layout::identity(shape.len());
        let dims = to_i32(shape);
        if let Some(shape_t) = op.input(1) {
            let t = self.g.tensor_mut(shape_t);
            t.shape = vec![dims.len()];
            t.data = Some(ConstData::I32(dims.clone()));
        }
        self.g.ops[p].kind = OpKind::Reshape(ReshapeOptions {
            new_shape: Some(dims),
        });
        let t = self.g.tensor_mut(id);
        t.shape = shape.to_vec();
        t.name = out_name.to_string();
        self.set(out_name, id, perm);
        true
    }

    /// Transpose: bookkeeping only.
    fn transpose(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let (id, q) = self.held(node, x)?;
        let rank = q.len();
        let p: Vec<usize> = match node.ints("perm") {
            None => (0..rank).rev().collect(),
            Some(p) => {
                let p: Vec<usize> = p.iter().map(|&a| a as usize).collect();
                let mut sorted = p.clone();
                sorted.sort_unstable();
                if sorted != layout::identity(rank) {
                    return Err(node.err(format!("perm {p:?} is not a permutation of {rank} axes")));
                }
                p
            }
        };
        let pinv = layout::inverse(&p);
        let new_perm: Vec<usize> = q.iter().map(|&a| pinv[a]).collect();
        self.set(node.output()?, id, new_perm);
        Ok(())
    }

    fn concat(&mut self, node: &Node) -> Result<(), ImportError> {
        let out_name = node.output()?;
        let out_shape = self.onnx_shape(node, out_name)?;
        let rank = out_shape.len();
        let axis = normalize_axis(node, node.int("axis", 0), rank)?;
        let names: Vec<&str> = node.pb.input.iter().map(String::as_str).collect();
        let mut perm = None;
        for name in &names {
            if !matches!(self.val(node, name)?, Val::Const(_)) {
                perm = Some(self.held(node, name)?.1);
                break;
            }
        }
        let perm = perm.unwrap_or_else(|| layout::identity(rank));
        let mut ids = Vec::new();
        for name in &names {
            ids.push(Some(self.held_as(node, name, &perm)?));
        }
        let ir_axis = perm.iter().position(|&p| p == axis).unwrap_or(axis);
        let out = self.add_act(out_name, layout::permute(&out_shape, &perm));
        self.emit(
            OpKind::Concatenation(ConcatenationOptions {
                axis: ir_axis as i32,
                activation: Activation::None,
            }),
            ids,
            out,
        );
        self.set(out_name, out, perm);
        Ok(())
    }

    fn pad(&mut self, node: &Node) -> Result<(), ImportError> {
        let mode = node.string("mode", "constant");
        if mode != "constant" {
            return Err(node.err(format!(
                "mode {mode:?} is not supported (only \"constant\")"
            )));
        }
        let x = node.req_input(0)?;
        let rank = self.onnx_shape(node, x)?.len();
        let (pads, value) = if node.opset < 11 {
            let pads = node.ints("pads").map(<[i64]>::to_vec).unwrap_or_default();
            (pads, node.float("value", 0.0))
        } else {
            let pads = self
                .req_const(node, node.req_input(1)?, "the pads")?
                .i64s()
                .ok_or_else(|| node.err("the pads must be integers"))?
                .to_vec();
            let value = match node.input(2) {
                None => 0.0,
                Some(n) => self
                    .req_const(node, n, "the pad value")?
                    .scalar()
                    .ok_or_else(|| node.err("the pad value must be a scalar"))?,
            };
            if node.input(3).is_some() {
                return Err(node.err("the axes input is not supported"));
            }
            (pads, value)
        };
        if pads.len() != 2 * rank || pads.iter().any(|&p| p < 0) {
            return Err(node.err(format!(
                "pads {pads:?}: {} non-negative values expected",
                2 * rank
            )));
        }
        let (id, perm) = self.held(node, x)?;
        let out_name = node.output()?;
        let out = self.pad_op(id, &perm, &pads, value, out_name);
        self.set(out_name, out, perm);
        Ok(())
    }

    /// PAD (or PADV2 for a non-zero value) of `id`, held with `perm`, by ONNX-ordered `pads`
    /// (`[begin..., end...]`); the output tensor is named `out_name`.
    pub fn pad_op(
        &mut self,
        id: TensorId,
        perm: &[usize],
        pads: &[i64],
        value: f32,
        out_name: &str,
    ) -> TensorId {
        let rank = perm.len();
        let mut paddings = Vec::with_capacity(2 * rank);
        let mut shape = self.g.tensor(id).shape.clone();
        for i in 0..rank {
            let (b, e) = (pads[perm[i]], pads[perm[i] + rank]);
            paddings.extend([b as i32, e as i32]);
            shape[i] += (b + e) as usize;
        }
        let pads_t = self.add_i32(&format!("{out_name}/paddings"), vec![rank, 2], paddings);
        let out = self.add_act(out_name, shape);
        if value == 0.0 {
            self.emit(OpKind::Pad, vec![Some(id), Some(pads_t)], out);
        } else {
            let v = self.add_f32(&format!("{out_name}/value"), vec![1], vec![value]);
            self.emit(OpKind::PadV2, vec![Some(id), Some(pads_t), Some(v)], out);
        }
        out
    }

    /// The IR tensor of graph output `name`, in the ONNX layout (or NHWC for 4-D NCHW
    /// values with [`ImportOptions::nhwc_io`]).
    fn graph_output(
        &mut self,
        name: &str,
        options: &ImportOptions,
    ) -> Result<TensorId, ImportError> {
        let err = |message: &str| ImportError::Output {
            name: name.to_string(),
            message: message.to_string(),
        };
        let v = self
            .vals
            .get(name)
            .cloned()
            .ok_or_else(|| err("not computed by any node, or a constant: not supported"))?;
        let (id, perm) = match v {
            Val::Ir { id, perm } => (id, perm),
            Val::Const(_) => return Err(err("a constant: not supported")),
            Val::Flat {
                src,
                src_perm,
                rows,
                cols,
                ..
            } => {
                let plain = self.transposed_to(src, &src_perm, &layout::identity(src_perm.len()));
                let out = self.reshape_op(name, plain, vec![rows, cols]);
                (out, vec![0, 1])
            }
        };
        let want = if options.nhwc_io && perm.len() == 4 && perm == NHWC {
            perm.clone()
        } else {
            layout::identity(perm.len())
        };
        if self.g.inputs.contains(&id) && perm == want {
            return Err(err("the graph input itself: not supported"));
        }
        let out = self.transposed_to(id, &perm, &want);
        if out != id {
            // The ONNX name goes to what the model outputs.
            self.g.tensor_mut(id).name = format!("{name}/held");
        }
        self.g.tensor_mut(out).name = name.to_string();
        Ok(out)
    }
}

pub fn to_i32(v: &[usize]) -> Vec<i32> {
    v.iter().map(|&x| x as i32).collect()
}

/// An ONNX axis (negative counts from the end) checked against `rank`.
pub fn normalize_axis(node: &Node, axis: i64, rank: usize) -> Result<usize, ImportError> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(node.err(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}

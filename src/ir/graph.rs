//! The graph: tensors, operators in execution order, and the graph's inputs and outputs.

use super::op::Op;
use super::tensor::{Tensor, TensorId};

/// A model: what one TFLite subgraph holds. Tensor and operator order is the order they are
/// written in, so the same graph always gives the same bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    /// In execution order: every operator reads only graph inputs, constants, variables and
    /// outputs of operators before it.
    pub ops: Vec<Op>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Appends a tensor and returns its id.
    pub fn add_tensor(&mut self, tensor: Tensor) -> TensorId {
        self.tensors.push(tensor);
        TensorId(self.tensors.len() - 1)
    }

    /// Appends an operator (it runs after those already there) and returns its index.
    pub fn add_op(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// The tensor `id`. Panics when `id` is not a tensor of this graph (use
    /// [`Graph::get_tensor`] on graphs not yet validated).
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0]
    }

    /// The tensor `id`, mutable. Panics like [`Graph::tensor`].
    pub fn tensor_mut(&mut self, id: TensorId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }

    /// The tensor `id`, `None` when out of range.
    pub fn get_tensor(&self, id: TensorId) -> Option<&Tensor> {
        self.tensors.get(id.0)
    }

    /// The index of the operator that writes `id`, if any.
    pub fn producer(&self, id: TensorId) -> Option<usize> {
        self.ops.iter().position(|op| op.outputs.contains(&id))
    }

    /// Indices of the operators that read `id`, in execution order.
    pub fn consumers(&self, id: TensorId) -> Vec<usize> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.inputs.contains(&Some(id)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The id of every tensor no operator reads and that is not a graph output (dead weights
    /// after a pass, for example).
    pub fn unused_tensors(&self) -> Vec<TensorId> {
        let mut used = vec![false; self.tensors.len()];
        for op in &self.ops {
            for id in op
                .inputs
                .iter()
                .flatten()
                .chain(&op.outputs)
                .chain(&op.intermediates)
            {
                if let Some(u) = used.get_mut(id.0) {
                    *u = true;
                }
            }
        }
        for id in self.inputs.iter().chain(&self.outputs) {
            if let Some(u) = used.get_mut(id.0) {
                *u = true;
            }
        }
        (0..self.tensors.len())
            .filter(|&i| !used[i])
            .map(TensorId)
            .collect()
    }

    /// Drops the tensors of [`Graph::unused_tensors`] (after a pass leaves dead weights, for
    /// example) and renumbers the others, keeping their order. Returns how many were dropped.
    pub fn remove_unused_tensors(&mut self) -> usize {
        let unused = self.unused_tensors();
        if unused.is_empty() {
            return 0;
        }
        let mut new_id = vec![None; self.tensors.len()];
        let mut next = 0;
        let mut dropped = unused.iter().peekable();
        for (i, slot) in new_id.iter_mut().enumerate() {
            if dropped.peek().is_some_and(|d| d.0 == i) {
                dropped.next();
            } else {
                *slot = Some(TensorId(next));
                next += 1;
            }
        }
        // Every id still referenced is a used tensor, so it has a new id.
        let remap = |id: &mut TensorId| *id = new_id[id.0].unwrap_or(*id);
        for op in &mut self.ops {
            op.inputs.iter_mut().flatten().for_each(remap);
            op.outputs.iter_mut().for_each(remap);
            op.intermediates.iter_mut().for_each(remap);
        }
        self.inputs.iter_mut().for_each(remap);
        self.outputs.iter_mut().for_each(remap);
        let mut i = 0;
        self.tensors.retain(|_| {
            i += 1;
            new_id[i - 1].is_some()
        });
        unused.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::OpKind;
    use tflm_runtime::DType;

    #[test]
    fn builds_and_queries() {
        let mut g = Graph::new();
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 4]));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 4]));
        let z = g.add_tensor(Tensor::activation("z", DType::F32, vec![1, 4]));
        assert_eq!(g.add_op(Op::new(OpKind::Relu, [x], [y])), 0);
        assert_eq!(g.add_op(Op::new(OpKind::Tanh, [y], [z])), 1);
        g.inputs = vec![x];
        g.outputs = vec![z];
        assert_eq!(g.producer(y), Some(0));
        assert_eq!(g.producer(x), None);
        assert_eq!(g.consumers(y), vec![1]);
        assert_eq!(g.tensor(z).name, "z");
        assert!(g.get_tensor(TensorId(3)).is_none());
        g.validate().unwrap();
    }

    #[test]
    fn drops_unused_tensors_and_renumbers() {
        let mut g = Graph::new();
        let dead = g.add_tensor(Tensor::activation("dead", DType::F32, vec![2]));
        let x = g.add_tensor(Tensor::activation("x", DType::F32, vec![1, 4]));
        let dead2 = g.add_tensor(Tensor::activation("dead2", DType::F32, vec![2]));
        let y = g.add_tensor(Tensor::activation("y", DType::F32, vec![1, 4]));
        g.add_op(Op::new(OpKind::Relu, [x], [y]));
        g.inputs = vec![x];
        g.outputs = vec![y];
        assert_eq!(g.unused_tensors(), vec![dead, dead2]);
        assert_eq!(g.remove_unused_tensors(), 2);
        assert_eq!(g.tensors.len(), 2);
        assert_eq!(g.ops[0].inputs, vec![Some(TensorId(0))]);
        assert_eq!(g.ops[0].outputs, vec![TensorId(1)]);
        assert_eq!((g.inputs[0], g.outputs[0]), (TensorId(0), TensorId(1)));
        assert_eq!(g.tensor(TensorId(1)).name, "y");
        g.validate().unwrap();
        assert_eq!(g.remove_unused_tensors(), 0);
    }
}

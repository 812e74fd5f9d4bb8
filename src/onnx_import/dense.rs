//! Gemm and MatMul as FULLY_CONNECTED, and what folds into a layer with weights: a bias
//! `Add`/`Sub` after it and `BatchNormalization`.

use super::attrs::Node;
use super::consts::{Const, ConstVals};
use super::layout;
use super::lower::{Importer, Val};
use super::ImportError;
use crate::ir::{ConstData, FullyConnectedOptions, OpKind};
use std::rc::Rc;
use tflm_runtime::Activation;

impl Importer<'_> {
    /// `Y = alpha * A * B' + beta * C` with constant `B` (and `C`).
    pub(super) fn gemm(&mut self, node: &Node) -> Result<(), ImportError> {
        if node.int("transA", 0) != 0 {
            return Err(node.err("transA = 1 is not supported"));
        }
        let alpha = node.float("alpha", 1.0);
        let beta = node.float("beta", 1.0);
        let trans_b = node.int("transB", 0) != 0;
        let w = self.req_const(node, node.req_input(1)?, "the weights (B)")?;
        if w.shape.len() != 2 {
            return Err(node.err(format!("B has shape {:?}, not 2-D", w.shape)));
        }
        let (k, n) = if trans_b {
            (w.shape[1], w.shape[0])
        } else {
            (w.shape[0], w.shape[1])
        };
        let mut weights = if trans_b {
            w.f32s()
        } else {
            layout::transpose_data(&w.f32s(), &w.shape, &[1, 0])
        };
        weights.iter_mut().for_each(|v| *v *= alpha);
        let bias = match node.input(2) {
            None => None,
            Some(c) => {
                let c = self.req_const(node, c, "C")?;
                let v = c.per_channel(2, 1, n).ok_or_else(|| {
                    node.err(format!(
                        "C of shape {:?} is not a bias of {n} values",
                        c.shape
                    ))
                })?;
                Some(v.iter().map(|x| x * beta).collect())
            }
        };
        self.fully_connected(node, node.req_input(0)?, weights, n, k, bias)
    }

    /// `A * B` with constant 2-D `B`.
    pub(super) fn matmul(&mut self, node: &Node) -> Result<(), ImportError> {
        let b = node.req_input(1)?;
        let w = self.konst(node, b)?.ok_or_else(|| {
            node.err("a product of two run-time tensors is not supported (B must be constant)")
        })?;
        if w.shape.len() != 2 {
            return Err(node.err(format!("B has shape {:?}, not 2-D", w.shape)));
        }
        let (k, n) = (w.shape[0], w.shape[1]);
        let weights = layout::transpose_data(&w.f32s(), &w.shape, &[1, 0]);
        self.fully_connected(node, node.req_input(0)?, weights, n, k, None)
    }

    /// FULLY_CONNECTED of ONNX value `a` by `weights` (`[n, k]`, ONNX column order).
    fn fully_connected(
        &mut self,
        node: &Node,
        a: &str,
        mut weights: Vec<f32>,
        n: usize,
        k: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<(), ImportError> {
        let out_name = node.output()?;
        let out_shape = self.onnx_shape(node, out_name)?;
        let (input, keep_num_dims) = match self.val(node, a)? {
            Val::Const(_) => {
                return Err(node.err("the input (A) is a constant and the weights are not folded"))
            }
            Val::Flat {
                src, order, cols, ..
            } if cols == k => {
                // The flatten of an NHWC-held NCHW value: read it as is, permute the columns.
                let plain = weights.clone();
                for u in 0..n {
                    for (j, &c) in order.iter().enumerate() {
                        weights[u * k + j] = plain[u * k + c];
                    }
                }
                (src, false)
            }
            _ => {
                let rank = self.onnx_shape(node, a)?.len();
                let id = self.held_as(node, a, &layout::identity(rank))?;
                if self.g.tensor(id).shape.last() != Some(&k) {
                    return Err(node.err(format!(
                        "A has shape {:?}, B expects {k} columns",
                        self.g.tensor(id).shape
                    )));
                }
                (id, rank > 2)
            }
        };
        let w = self.add_f32(&format!("{}/weights", node.name), vec![n, k], weights);
        let b = bias.map(|b| self.add_f32(&format!("{}/bias", node.name), vec![n], b));
        let out = self.add_act(out_name, out_shape.clone());
        self.emit(
            OpKind::FullyConnected(FullyConnectedOptions {
                keep_num_dims,
                ..Default::default()
            }),
            vec![Some(input), Some(w), b],
            out,
        );
        self.set(out_name, out, layout::identity(out_shape.len()));
        Ok(())
    }

    /// The operator that writes `x` when a per-channel scale and shift can be folded into it:
    /// a conv or FC without fused activation whose output only `x`'s one reader uses, with
    /// its channels on ONNX axis `channel_axis`.
    fn foldable_producer(
        &self,
        node: &Node,
        x: &str,
        channel_axis: Option<usize>,
    ) -> Option<usize> {
        let Ok(Val::Ir { id, perm }) = self.val(node, x) else {
            return None;
        };
        if self.uses(x) != 1 || self.g.outputs.contains(&id) {
            return None;
        }
        if channel_axis.is_some_and(|a| perm.last() != Some(&a)) {
            return None;
        }
        let p = self.g.producer(id)?;
        let op = &self.g.ops[p];
        let weights_ok = op
            .input(1)
            .is_some_and(|w| self.g.tensor(w).f32_data().is_some());
        match &op.kind {
            OpKind::FullyConnected(o) if o.activation == Activation::None && weights_ok => Some(p),
            OpKind::Conv2d(o) if o.activation == Activation::None && weights_ok => Some(p),
            OpKind::DepthwiseConv2d(o) if o.activation == Activation::None && weights_ok => Some(p),
            _ => None,
        }
    }

    /// Scales the output channels of op `p` by `scale` and adds `shift` to them.
    fn fold_channels(&mut self, p: usize, scale: Option<&[f32]>, shift: &[f32]) {
        let op = self.g.ops[p].clone();
        let channels = shift.len();
        if let (Some(scale), Some(w)) = (scale, op.input(1)) {
            // Output channels: axis 0 of FC and CONV_2D weights, the last of depthwise ones.
            let last = matches!(op.kind, OpKind::DepthwiseConv2d(_));
            let t = self.g.tensor_mut(w);
            let inner = if last { 1 } else { t.num_elements() / channels };
            if let Some(ConstData::F32(v)) = t.data.as_mut() {
                for (i, x) in v.iter_mut().enumerate() {
                    let c = if last { i % channels } else { i / inner };
                    *x *= scale[c];
                }
            }
        }
        let new_bias: Vec<f32> = match op.input(2).and_then(|b| self.g.tensor(b).data.as_ref()) {
            Some(ConstData::F32(b)) => (0..channels)
                .map(|c| b[c] * scale.map_or(1.0, |s| s[c]) + shift[c])
                .collect(),
            _ => shift.to_vec(),
        };
        let out_name = self.g.tensor(op.outputs[0]).name.clone();
        let b = self.add_f32(&format!("{out_name}/bias"), vec![channels], new_bias);
        let inputs = &mut self.g.ops[p].inputs;
        inputs.resize(3, None);
        inputs[2] = Some(b);
    }

    /// The output tensor of op `p` now holds ONNX value `out` too.
    fn rename_output(&mut self, node: &Node, x: &str, out: &str) -> Result<(), ImportError> {
        if let Val::Ir { id, perm } = self.val(node, x)? {
            self.g.tensor_mut(id).name = out.to_string();
            self.set(out, id, perm);
        }
        Ok(())
    }

    /// `x + sign * c` folded into the bias of the layer that writes `x`, when it can be.
    pub(super) fn try_fold_bias(
        &mut self,
        node: &Node,
        x: &str,
        c: &Const,
        sign: f32,
    ) -> Result<bool, ImportError> {
        let out = node.output()?;
        let x_shape = self.onnx_shape(node, x)?;
        if self.onnx_shape(node, out)? != x_shape {
            return Ok(false);
        }
        let Some(p) = self.foldable_producer(node, x, None) else {
            return Ok(false);
        };
        let Ok(Val::Ir { perm, .. }) = self.val(node, x) else {
            return Ok(false);
        };
        let (Some(&axis), Some(&channels)) = (
            perm.last(),
            self.g.tensor(self.g.ops[p].outputs[0]).shape.last(),
        ) else {
            return Ok(false);
        };
        let Some(v) = c.per_channel(x_shape.len(), axis, channels) else {
            return Ok(false);
        };
        let shift: Vec<f32> = v.iter().map(|x| x * sign).collect();
        self.fold_channels(p, None, &shift);
        self.rename_output(node, x, out)?;
        Ok(true)
    }

    /// Folded into the conv or FC before it, or MUL and ADD by per-channel constants.
    pub(super) fn batch_norm(&mut self, node: &Node) -> Result<(), ImportError> {
        if node.int("training_mode", 0) != 0 {
            return Err(node.err("training_mode = 1 is not supported"));
        }
        if node
            .pb
            .output
            .iter()
            .skip(1)
            .any(|o| !o.is_empty() && self.uses(o) > 0)
        {
            return Err(node.err("its running mean and variance outputs are used: not supported"));
        }
        let x = node.req_input(0)?;
        let x_shape = self.onnx_shape(node, x)?;
        if x_shape.len() < 2 {
            return Err(node.err("the input must have a channel axis (rank 2 or more)"));
        }
        let channels = x_shape[1];
        let mut params = Vec::new();
        for (k, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let c = self.req_const(node, node.req_input(k)?, what)?;
            let v = c.per_channel(1, 0, channels).ok_or_else(|| {
                node.err(format!(
                    "{what} of shape {:?} is not {channels} values",
                    c.shape
                ))
            })?;
            params.push(v);
        }
        let eps = node.float("epsilon", 1e-5);
        let scale: Vec<f32> = (0..channels)
            .map(|c| params[0][c] / (params[3][c] + eps).sqrt())
            .collect();
        let shift: Vec<f32> = (0..channels)
            .map(|c| params[1][c] - params[2][c] * scale[c])
            .collect();
        let out = node.output()?;
        if let Some(p) = self.foldable_producer(node, x, Some(1)) {
            self.fold_channels(p, Some(&scale), &shift);
            return self.rename_output(node, x, out);
        }
        // y = x * scale + shift, the constants shaped [C, 1, ...] to broadcast along axis 1.
        let mut shape = vec![channels];
        shape.resize(x_shape.len() - 1, 1);
        let c = |v: Vec<f32>| {
            Val::Const(Rc::new(Const {
                shape: shape.clone(),
                data: ConstVals::F32(v),
            }))
        };
        let mid = format!("{out}/scaled");
        let vx = self.val(node, x)?;
        self.elementwise(
            node,
            OpKind::Mul(Default::default()),
            [(x, vx), (&format!("{}/scale", node.name), c(scale))],
            &mid,
            &x_shape,
        )?;
        let vm = self.val(node, &mid)?;
        self.elementwise(
            node,
            OpKind::Add(Default::default()),
            [(&mid, vm), (&format!("{}/shift", node.name), c(shift))],
            out,
            &x_shape,
        )
    }
}

//! ONNX `LSTM` as TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, and the run-time slicing that takes
//! an LSTM's last step (`Slice`, `Gather` with a constant index) as STRIDED_SLICE.
//!
//! What is lowered (opsets 7 to 22; `layout` from opset 14):
//!
//! - `direction` forward only (`reverse` and `bidirectional` are an error naming the node: the
//!   TFLite builtin runs forward);
//! - `layout` 0 (`X` `[seq, batch, input]`) and 1 (`[batch, seq, input]`). The input is read
//!   in whatever order it is held ([`super::layout`]): time-major when time is its first axis,
//!   batch-major otherwise, so the `Transpose(perm [1, 0, 2])` tf2onnx and PyTorch put in front
//!   of a batch-first LSTM costs nothing (the operator runs batch-major, as TensorFlow's
//!   converter emits a Keras LSTM);
//! - `W`, `R`, `B` constant; gates reordered from ONNX's i, o, f, c to TFLite's i, f, c, o;
//!   the bias is `Wb + Rb` (zeros when `B` is absent); the peephole `P` (i, o, f) becomes
//!   inputs 9 to 11 (i, f, o);
//! - `initial_h` and `initial_c` absent or constant zero (tf2onnx's `Shape` → `Expand` chain is
//!   folded by tract at batch 1); the states become the operator's variable tensors (inputs 18
//!   and 19), zeroed by a reset;
//! - `sequence_lens` absent, or constant and equal to the sequence length;
//! - `activations` the default (Sigmoid, Tanh, Tanh), `input_forget` 0;
//! - `clip` becomes `cell_clip`. ONNX clips the inputs of the activations (gate
//!   pre-activations and the cell state fed to tanh) and leaves the state unclipped; TFLite
//!   clips the cell state itself. They agree while the cell state stays within the clip;
//! - outputs `Y` (every step: the operator's output, reshaped to ONNX's 4-D shape, a reshape a
//!   following `Squeeze` of the direction axis removes again) and `Y_h` (the last step: a
//!   STRIDED_SLICE of the sequence, as TensorFlow's converter takes a Keras LSTM's last
//!   output); `Y_c` must be unused (TFLite's operator does not output its cell state).

use super::attrs::Node;
use super::layout;
use super::lower::{normalize_axis, Importer, Val};
use super::ImportError;
use crate::ir::{
    ConstData, GateActivation, LstmOptions, Op, OpKind, StridedSliceOptions, Tensor, TensorId,
};
use tflm_runtime::DType;

/// ONNX's gate blocks (i, o, f, c) in TFLite's order (i, f, c, o).
const GATES: [usize; 4] = [0, 2, 3, 1];
/// ONNX's peephole blocks (i, o, f) in TFLite's order (i, f, o).
const PEEPHOLES: [usize; 3] = [0, 2, 1];

impl Importer<'_> {
    pub(super) fn lstm(&mut self, node: &Node) -> Result<(), ImportError> {
        let direction = node.string("direction", "forward");
        if direction != "forward" {
            return Err(node.err(format!(
                "direction {direction:?} is not supported: UNIDIRECTIONAL_SEQUENCE_LSTM runs \
                 forward only"
            )));
        }
        let layout_attr = if node.opset >= 14 {
            node.int("layout", 0)
        } else {
            0
        };
        if layout_attr != 0 && layout_attr != 1 {
            return Err(node.err(format!("layout {layout_attr} is not 0 or 1")));
        }
        let batch_first = layout_attr == 1;
        if node.int("input_forget", 0) != 0 {
            return Err(
                node.err("input_forget = 1 (coupled input and forget gates) is not supported")
            );
        }
        if let Some(a) = node.pb.attribute.iter().find(|a| a.name == "activations") {
            let names: Vec<String> = a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            if names != ["Sigmoid", "Tanh", "Tanh"] {
                return Err(node.err(format!(
                    "activations {names:?}: only the default (Sigmoid, Tanh, Tanh) has a TFLite \
                     kernel"
                )));
            }
        }
        let cell_clip = match node.pb.attribute.iter().find(|a| a.name == "clip") {
            None => 0.0,
            Some(a) if a.f > 0.0 && a.f.is_finite() => a.f,
            Some(a) => return Err(node.err(format!("clip {} is not a positive number", a.f))),
        };

        // Operands.
        let x = node.req_input(0)?;
        let x_shape = self.onnx_shape(node, x)?;
        if x_shape.len() != 3 {
            return Err(node.err(format!("X has shape {x_shape:?}, not 3-D")));
        }
        let (time_axis, batch_axis) = if batch_first { (1, 0) } else { (0, 1) };
        let (steps, batch, n_input) = (x_shape[time_axis], x_shape[batch_axis], x_shape[2]);
        let w = self.req_const(node, node.req_input(1)?, "W")?;
        let r = self.req_const(node, node.req_input(2)?, "R")?;
        if w.shape.len() != 3 || r.shape.len() != 3 || w.shape[0] != 1 || r.shape[0] != 1 {
            return Err(node.err(format!(
                "W {:?} and R {:?} must be [1, 4 * hidden, input] and [1, 4 * hidden, hidden]",
                w.shape, r.shape
            )));
        }
        let n_cell = r.shape[2];
        if w.shape[1] != 4 * n_cell || w.shape[2] != n_input || r.shape[1] != 4 * n_cell {
            return Err(node.err(format!(
                "W {:?} and R {:?} do not fit hidden size {n_cell} and input size {n_input}",
                w.shape, r.shape
            )));
        }
        let hidden_attr = node.int("hidden_size", n_cell as i64);
        if hidden_attr != n_cell as i64 {
            return Err(node.err(format!(
                "hidden_size {hidden_attr} differs from R's {n_cell}"
            )));
        }
        let h = n_cell;
        let (w, r) = (w.f32s(), r.f32s());
        let bias = match node.input(3) {
            None => vec![0.0; 8 * h],
            Some(b) => {
                let c = self.req_const(node, b, "B")?;
                if c.len() != 8 * h {
                    return Err(node.err(format!("B has shape {:?}, not [1, {}]", c.shape, 8 * h)));
                }
                c.f32s()
            }
        };
        if let Some(s) = node.input(4) {
            let lens = self.req_const(node, s, "sequence_lens")?;
            let full = lens
                .i64s()
                .is_some_and(|v| v.iter().all(|&l| l == steps as i64));
            if !full {
                return Err(node.err(
                    "sequence_lens shorter than the sequence is not supported (every sequence \
                     runs its full length)",
                ));
            }
        }
        for (k, what) in [(5, "initial_h"), (6, "initial_c")] {
            let Some(name) = node.input(k) else { continue };
            let zero = self
                .konst(node, name)?
                .is_some_and(|c| c.f32s().iter().all(|&v| v == 0.0));
            if !zero {
                return Err(node.err(format!(
                    "{what} ({name:?}) must be absent or a constant zero: the state starts at \
                     zero (a reset) in TFLite"
                )));
            }
        }
        let peephole = match node.input(7) {
            None => None,
            Some(p) => {
                let c = self.req_const(node, p, "P")?;
                if c.len() != 3 * h {
                    return Err(node.err(format!("P has shape {:?}, not [1, {}]", c.shape, 3 * h)));
                }
                Some(c.f32s())
            }
        };
        let out_names: Vec<Option<&str>> = (0..3)
            .map(|k| {
                node.pb
                    .output
                    .get(k)
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
            })
            .collect();
        if let Some(yc) = out_names[2].filter(|n| self.uses(n) > 0) {
            return Err(node.err(format!(
                "output Y_c ({yc:?}, the last cell state) is used: not supported (TFLite's \
                 LSTM does not output its cell state)"
            )));
        }

        // The input, features last, in the order it is held.
        let (held, perm) = self.held(node, x)?;
        let (x_id, x_perm) = if perm[2] == 2 {
            (held, perm)
        } else {
            let id = self.transposed_to(held, &perm, &layout::identity(3));
            (id, layout::identity(3))
        };
        let time_major = x_perm[0] == time_axis;

        // Weights, gate by gate in TFLite's order.
        let name = node.name.clone();
        let block = |m: &[f32], g: usize, cols: usize| m[g * h * cols..(g + 1) * h * cols].to_vec();
        let mut inputs: Vec<Option<TensorId>> = vec![Some(x_id)];
        for (k, &g) in GATES.iter().enumerate() {
            let t = self.add_f32(
                &format!("{name}/input_weights_{}", "ifco".as_bytes()[k] as char),
                vec![h, n_input],
                block(&w, g, n_input),
            );
            inputs.push(Some(t));
        }
        for (k, &g) in GATES.iter().enumerate() {
            let t = self.add_f32(
                &format!("{name}/recurrent_weights_{}", "ifco".as_bytes()[k] as char),
                vec![h, h],
                block(&r, g, h),
            );
            inputs.push(Some(t));
        }
        for (k, &g) in PEEPHOLES.iter().enumerate() {
            inputs.push(peephole.as_ref().map(|p| {
                self.add_f32(
                    &format!("{name}/peephole_{}", "ifo".as_bytes()[k] as char),
                    vec![h],
                    block(p, g, 1),
                )
            }));
        }
        for (k, &g) in GATES.iter().enumerate() {
            let b: Vec<f32> = (0..h)
                .map(|j| bias[g * h + j] + bias[(4 + g) * h + j])
                .collect();
            let t = self.add_f32(
                &format!("{name}/bias_{}", "ifco".as_bytes()[k] as char),
                vec![h],
                b,
            );
            inputs.push(Some(t));
        }
        inputs.extend([None, None]);
        let state_h = self.g.add_tensor(Tensor::variable(
            format!("{name}/output_state"),
            DType::F32,
            vec![batch, h],
        ));
        let state_c = self.g.add_tensor(Tensor::variable(
            format!("{name}/cell_state"),
            DType::F32,
            vec![batch, h],
        ));
        inputs.extend([Some(state_h), Some(state_c), None, None, None, None]);

        let seq_shape = if time_major {
            vec![steps, batch, h]
        } else {
            vec![batch, steps, h]
        };
        let seq_name = match out_names[0] {
            Some(y) => format!("{y}/sequence"),
            None => format!("{name}/sequence"),
        };
        let seq = self.add_act(&seq_name, seq_shape.clone());
        self.g.add_op(Op {
            kind: OpKind::UnidirectionalSequenceLstm(LstmOptions {
                activation: GateActivation::Tanh,
                cell_clip,
                proj_clip: 0.0,
                time_major,
                asymmetric_quantize_inputs: false,
                diagonal_recurrent_tensors: false,
            }),
            inputs,
            outputs: vec![seq],
            intermediates: Vec::new(),
        });

        // `seq` holds Y without its direction axis, (time, batch, hidden) for layout 0 and
        // (batch, time, hidden) for layout 1, with this permutation.
        let seq_perm = if time_major != batch_first {
            layout::identity(3)
        } else {
            vec![1, 0, 2]
        };
        if let Some(y) = out_names[0].filter(|n| self.uses(n) > 0) {
            let y_shape = self.onnx_shape(node, y)?;
            let src = if layout::keeps_element_order(&seq_shape, &seq_perm) {
                seq
            } else {
                self.transposed_to(seq, &seq_perm, &layout::identity(3))
            };
            let out = self.reshape_op(y, src, y_shape.clone());
            self.set(y, out, layout::identity(y_shape.len()));
        }
        if let Some(yh) = out_names[1].filter(|n| self.uses(n) > 0) {
            // The last step, the time axis kept (size 1): ONNX's direction axis.
            let t_ir = if time_major { 0 } else { 1 };
            let mut begin = [0i32; 3];
            begin[t_ir] = -1;
            let others = 0b111 & !(1 << t_ir);
            let mut shape = seq_shape.clone();
            shape[t_ir] = 1;
            let out = self.strided_slice_op(
                yh,
                seq,
                &begin,
                &[0, 0, 0],
                StridedSliceOptions {
                    begin_mask: others,
                    end_mask: 0b111,
                    ..Default::default()
                },
                shape,
            );
            self.set(yh, out, seq_perm);
        }
        Ok(())
    }

    /// A STRIDED_SLICE of `x` (strides 1), output named `name` of IR shape `shape`.
    pub(super) fn strided_slice_op(
        &mut self,
        name: &str,
        x: TensorId,
        begin: &[i32],
        end: &[i32],
        options: StridedSliceOptions,
        shape: Vec<usize>,
    ) -> TensorId {
        let n = begin.len();
        let b = self.add_i32(&format!("{name}/begin"), vec![n], begin.to_vec());
        let e = self.add_i32(&format!("{name}/end"), vec![n], end.to_vec());
        let s = self.add_i32(&format!("{name}/strides"), vec![n], vec![1; n]);
        let out = self.add_act(name, shape);
        self.emit(
            OpKind::StridedSlice(options),
            vec![Some(x), Some(b), Some(e), Some(s)],
            out,
        );
        out
    }

    /// `Slice` of a run-time value (constant starts, ends, axes; steps 1): STRIDED_SLICE.
    pub(super) fn slice(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let shape = self.onnx_shape(node, x)?;
        let rank = shape.len();
        let ints = |k: usize, what: &str| -> Result<Option<Vec<i64>>, ImportError> {
            match node.input(k) {
                None => Ok(None),
                Some(n) => Ok(Some(
                    self.req_const(node, n, what)?
                        .i64s()
                        .ok_or_else(|| node.err(format!("{what} must be integers")))?
                        .to_vec(),
                )),
            }
        };
        let (starts, ends, axes, steps) = if node.opset < 10 {
            let get = |a: &str| node.ints(a).map(<[i64]>::to_vec);
            (get("starts"), get("ends"), get("axes"), None)
        } else {
            (
                ints(1, "starts")?,
                ints(2, "ends")?,
                ints(3, "axes")?,
                ints(4, "steps")?,
            )
        };
        let (Some(starts), Some(ends)) = (starts, ends) else {
            return Err(node.err("starts and ends are required"));
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        if ends.len() != starts.len() || axes.len() != starts.len() {
            return Err(node.err("starts, ends and axes differ in length"));
        }
        if steps.as_ref().is_some_and(|s| s.iter().any(|&v| v != 1)) {
            return Err(node.err(format!(
                "steps {:?}: only 1 is supported on a run-time tensor",
                steps.unwrap_or_default()
            )));
        }
        let (id, perm) = self.held(node, x)?;
        let mut begin = vec![0i32; rank];
        let mut end = vec![0i32; rank];
        let mut begin_mask = 0i32;
        let mut end_mask = 0i32;
        let mut out_shape = shape.clone();
        let mut sliced = vec![false; rank];
        for ((&s, &e), &a) in starts.iter().zip(&ends).zip(&axes) {
            let a = normalize_axis(node, a, rank)?;
            if std::mem::replace(&mut sliced[a], true) {
                return Err(node.err(format!("axis {a} is sliced twice")));
            }
            let d = shape[a] as i64;
            let clamp = |v: i64| (if v < 0 { v + d } else { v }).clamp(0, d);
            let (b0, e0) = (clamp(s), clamp(e));
            if e0 <= b0 {
                return Err(node.err(format!("the slice of axis {a} is empty")));
            }
            out_shape[a] = (e0 - b0) as usize;
            let ir = perm.iter().position(|&p| p == a).unwrap_or(a);
            // A negative start stays negative, as TensorFlow writes `x[:, -1]`.
            begin[ir] = if s < 0 && s >= -d {
                s as i32
            } else {
                b0 as i32
            };
            if e0 == d {
                end_mask |= 1 << ir;
            } else {
                end[ir] = e0 as i32;
            }
        }
        for (ir, &p) in perm.iter().enumerate() {
            if !sliced[p] {
                begin_mask |= 1 << ir;
                end_mask |= 1 << ir;
            }
        }
        let out_name = node.output()?;
        let out = self.strided_slice_op(
            out_name,
            id,
            &begin,
            &end,
            StridedSliceOptions {
                begin_mask,
                end_mask,
                ..Default::default()
            },
            layout::permute(&out_shape, &perm),
        );
        self.set(out_name, out, perm);
        Ok(())
    }

    /// `Gather` of a run-time value by a constant scalar index (PyTorch's `x[:, -1]`): a
    /// STRIDED_SLICE that drops the axis.
    pub(super) fn gather(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let shape = self.onnx_shape(node, x)?;
        let rank = shape.len();
        let axis = normalize_axis(node, node.int("axis", 0), rank)?;
        let idx = self.req_const(node, node.req_input(1)?, "the indices")?;
        let index = match idx.i64s() {
            Some(&[i]) if idx.shape.len() <= 1 => i,
            _ => {
                return Err(
                    node.err("indices: only one constant index is supported on a run-time tensor")
                )
            }
        };
        let d = shape[axis] as i64;
        if index < -d || index >= d {
            return Err(node.err(format!("index {index} is out of range for size {d}")));
        }
        let (id, perm) = self.held(node, x)?;
        let ir = perm.iter().position(|&p| p == axis).unwrap_or(axis);
        let mut begin = vec![0i32; rank];
        let mut end = vec![0i32; rank];
        begin[ir] = index as i32;
        end[ir] = if index == -1 { 0 } else { index as i32 + 1 };
        let others = ((1i32 << rank) - 1) & !(1 << ir);
        let keep_axis = idx.shape.len() == 1;
        let mut ir_shape = self.g.tensor(id).shape.clone();
        ir_shape[ir] = 1;
        let (out_perm, shrink) = if keep_axis {
            (perm.clone(), 0)
        } else {
            ir_shape.remove(ir);
            (drop_axes(&perm, &[axis]), 1 << ir)
        };
        let out_name = node.output()?;
        let out = self.strided_slice_op(
            out_name,
            id,
            &begin,
            &end,
            StridedSliceOptions {
                begin_mask: others,
                end_mask: others,
                shrink_axis_mask: shrink,
                ..Default::default()
            },
            ir_shape,
        );
        self.set(out_name, out, out_perm);
        Ok(())
    }

    /// A `Squeeze` of the output of a STRIDED_SLICE that nothing else reads, where each
    /// squeezed axis is one element of the slice: the slice drops those axes itself
    /// (`shrink_axis_mask`, what TensorFlow's converter writes for `x[:, -1, :]`). Returns
    /// whether it did.
    pub(super) fn try_shrink_slice(
        &mut self,
        node: &Node,
        x: &str,
        out_name: &str,
    ) -> Result<bool, ImportError> {
        if node.op() != "Squeeze" || self.uses(x) != 1 {
            return Ok(false);
        }
        let Val::Ir { id, perm } = self.val(node, x)? else {
            return Ok(false);
        };
        if self.g.outputs.contains(&id) || self.g.inputs.contains(&id) {
            return Ok(false);
        }
        let Some(p) = self.g.producer(id) else {
            return Ok(false);
        };
        let rank = perm.len();
        let axes: Vec<i64> = if node.opset < 13 {
            node.ints("axes").map(<[i64]>::to_vec).unwrap_or_default()
        } else {
            match node.input(1) {
                Some(n) => match self
                    .konst(node, n)?
                    .and_then(|c| c.i64s().map(<[i64]>::to_vec))
                {
                    Some(v) => v,
                    None => return Ok(false),
                },
                None => Vec::new(),
            }
        };
        if axes.is_empty() {
            return Ok(false);
        }
        let mut onnx_axes = Vec::new();
        for &a in &axes {
            onnx_axes.push(normalize_axis(node, a, rank)?);
        }
        let op = &self.g.ops[p];
        let (OpKind::StridedSlice(o), Some(b), Some(e)) = (&op.kind, op.input(1), op.input(2))
        else {
            return Ok(false);
        };
        let mut o = o.clone();
        if o.ellipsis_mask != 0 || o.new_axis_mask != 0 || o.shrink_axis_mask != 0 {
            return Ok(false);
        }
        let ints = |t: TensorId| match &self.g.tensor(t).data {
            Some(ConstData::I32(v)) => Some(v.clone()),
            _ => None,
        };
        let (Some(mut begin), Some(mut end)) = (ints(b), ints(e)) else {
            return Ok(false);
        };
        let ir_shape = self.g.tensor(id).shape.clone();
        let mut ir_axes = Vec::new();
        for &a in &onnx_axes {
            let ir = perm.iter().position(|&q| q == a).unwrap_or(a);
            if ir_shape.get(ir) != Some(&1) || ir >= begin.len() {
                return Ok(false);
            }
            ir_axes.push(ir);
        }
        // Only the slices' readers see these constants: they are this operator's own.
        if self.g.consumers(b).len() != 1 || self.g.consumers(e).len() != 1 {
            return Ok(false);
        }
        for &ir in &ir_axes {
            let bit = 1 << ir;
            if o.begin_mask & bit != 0 {
                o.begin_mask &= !bit;
                begin[ir] = 0;
            }
            o.end_mask &= !bit;
            end[ir] = if begin[ir] == -1 { 0 } else { begin[ir] + 1 };
            o.shrink_axis_mask |= bit;
        }
        self.g.tensor_mut(b).data = Some(ConstData::I32(begin));
        self.g.tensor_mut(e).data = Some(ConstData::I32(end));
        self.g.ops[p].kind = OpKind::StridedSlice(o);
        let shape: Vec<usize> = ir_shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !ir_axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        let t = self.g.tensor_mut(id);
        t.shape = shape;
        t.name = out_name.to_string();
        self.set(out_name, id, drop_axes(&perm, &onnx_axes));
        Ok(true)
    }
}

/// `perm` without the entries of the ONNX axes `removed`, renumbered for the smaller rank.
fn drop_axes(perm: &[usize], removed: &[usize]) -> Vec<usize> {
    perm.iter()
        .filter(|p| !removed.contains(p))
        .map(|&p| p - removed.iter().filter(|&&r| r < p).count())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_axes_renumber_the_permutation() {
        assert_eq!(drop_axes(&[1, 0, 2], &[0]), vec![0, 1]);
        assert_eq!(drop_axes(&[2, 0, 1], &[0]), vec![1, 0]);
        assert_eq!(drop_axes(&[0, 1, 2, 3], &[1, 2]), vec![0, 1]);
    }

    #[test]
    fn gate_orders() {
        // ONNX i, o, f, c -> TFLite i, f, c, o.
        assert_eq!(
            GATES.map(|g| "iofc".as_bytes()[g] as char),
            ['i', 'f', 'c', 'o']
        );
        assert_eq!(
            PEEPHOLES.map(|g| "iof".as_bytes()[g] as char),
            ['i', 'f', 'o']
        );
    }
}

//! Conv, MaxPool, AveragePool and GlobalAveragePool: NHWC in, NHWC out, ONNX pads mapped to
//! TFLite's `SAME` or `VALID`, or an explicit PAD before a `VALID` window.

use super::attrs::Node;
use super::layout::{self, NHWC};
use super::lower::Importer;
use super::ImportError;
use crate::ir::{
    shape, Conv2dOptions, DepthwiseConv2dOptions, OpKind, Pool2dOptions, ReducerOptions,
};
use tflm_runtime::{Activation, Padding};

/// One spatial axis of a window op.
#[derive(Clone, Copy, Debug)]
struct Axis {
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    begin: usize,
    end: usize,
}

impl Axis {
    fn extent(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// ONNX's output size (floor, or ceil with `ceil_mode`); `None` when the window does
    /// not fit.
    fn onnx_out(&self, ceil: bool) -> Option<usize> {
        let span = (self.input + self.begin + self.end).checked_sub(self.extent())?;
        Some(
            if ceil {
                span.div_ceil(self.stride)
            } else {
                span / self.stride
            } + 1,
        )
    }

    /// TFLite's `SAME` pads (begin, end).
    fn same(&self) -> (usize, usize) {
        let out = self.input.div_ceil(self.stride);
        let total = ((out - 1) * self.stride + self.extent()).saturating_sub(self.input);
        (total / 2, total - total / 2)
    }

    /// The end pad that windows actually reach (padding past the last window is moot).
    fn trimmed(mut self) -> Axis {
        if let Some(out) = self.onnx_out(false) {
            let reach =
                ((out - 1) * self.stride + self.extent()).saturating_sub(self.input + self.begin);
            self.end = self.end.min(reach);
        }
        self
    }
}

/// How ONNX pads map to TFLite.
#[derive(Debug, PartialEq)]
enum Pads {
    Valid,
    Same,
    /// `[top, left, bottom, right]` of a PAD before a `VALID` window.
    Explicit([usize; 4]),
}

fn classify(h: Axis, w: Axis) -> Pads {
    let (h, w) = (h.trimmed(), w.trimmed());
    if h.begin + h.end + w.begin + w.end == 0 {
        Pads::Valid
    } else if (h.begin, h.end) == h.same() && (w.begin, w.end) == w.same() {
        Pads::Same
    } else {
        Pads::Explicit([h.begin, w.begin, h.end, w.end])
    }
}

impl Importer<'_> {
    /// The two spatial axes of a window node on NCHW input `in_shape`: kernel, strides,
    /// dilations, and pads (`pads` or `auto_pad`).
    fn window_axes(
        &self,
        node: &Node,
        in_shape: &[usize],
        kernel: [usize; 2],
        dilations: bool,
    ) -> Result<[Axis; 2], ImportError> {
        let strides = node.usizes("strides", 2, 1)?;
        let dil = if dilations {
            node.usizes("dilations", 2, 1)?
        } else {
            vec![1, 1]
        };
        if strides.contains(&0) || dil.contains(&0) || kernel.contains(&0) {
            return Err(node.err("zero stride, dilation or kernel size"));
        }
        let mut axes = [0, 1].map(|i| Axis {
            input: in_shape[2 + i],
            kernel: kernel[i],
            stride: strides[i],
            dilation: dil[i],
            begin: 0,
            end: 0,
        });
        let auto_pad = node.string("auto_pad", "NOTSET");
        match auto_pad.as_str() {
            "NOTSET" => {
                let pads = node.usizes("pads", 4, 0)?;
                for (i, a) in axes.iter_mut().enumerate() {
                    (a.begin, a.end) = (pads[i], pads[i + 2]);
                }
            }
            "VALID" => {}
            "SAME_UPPER" | "SAME_LOWER" => {
                for a in axes.iter_mut() {
                    let (b, e) = a.same();
                    (a.begin, a.end) = if auto_pad == "SAME_UPPER" {
                        (b, e)
                    } else {
                        (e, b)
                    };
                }
            }
            other => return Err(node.err(format!("auto_pad {other:?} is not supported"))),
        }
        Ok(axes)
    }

    pub(super) fn conv(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let in_shape = self.onnx_shape(node, x)?;
        if in_shape.len() != 4 {
            return Err(node.err(format!(
                "input of shape {in_shape:?}: only 2-D convolutions (4-D input) are supported"
            )));
        }
        let w = self.req_const(node, node.req_input(1)?, "the weights")?;
        let [m, cg, kh, kw] = w.shape[..] else {
            return Err(node.err(format!("weights of shape {:?}, not 4-D", w.shape)));
        };
        let cin = in_shape[1];
        let group = node.int("group", 1);
        if group < 1 || cin != cg * group as usize || m % group as usize != 0 {
            return Err(node.err(format!(
                "group {group} does not fit {cin} input channels and weights {:?}",
                w.shape
            )));
        }
        let group = group as usize;
        if let Some(k) = node.ints("kernel_shape") {
            if k != [kh as i64, kw as i64] {
                return Err(node.err(format!("kernel_shape {k:?} differs from the weights'")));
            }
        }
        let bias = match node.input(2) {
            None => None,
            Some(b) => Some(
                self.req_const(node, b, "the bias")?
                    .per_channel(1, 0, m)
                    .ok_or_else(|| node.err(format!("the bias is not {m} values")))?,
            ),
        };
        let [h, wa] = self.window_axes(node, &in_shape, [kh, kw], true)?;
        let out_name = node.output()?;
        let (input, padding) = self.padded_input(node, x, h, wa, 0.0)?;
        let depthwise = group == cin && group > 1;
        let (weights, w_shape) = if depthwise {
            // [m, 1, kh, kw] -> [1, kh, kw, m]
            (
                layout::transpose_data(&w.f32s(), &w.shape, &[1, 2, 3, 0]),
                vec![1, kh, kw, m],
            )
        } else {
            (
                layout::transpose_data(&w.f32s(), &w.shape, &NHWC),
                vec![m, kh, kw, cg],
            )
        };
        let w_id = self.add_f32(&format!("{}/weights", node.name), w_shape, weights);
        let b_id = bias.map(|b| self.add_f32(&format!("{}/bias", node.name), vec![m], b));
        let kind = if depthwise {
            OpKind::DepthwiseConv2d(DepthwiseConv2dOptions {
                padding,
                stride_h: h.stride,
                stride_w: wa.stride,
                dilation_h: h.dilation,
                dilation_w: wa.dilation,
                depth_multiplier: (m / cin) as i32,
                activation: Activation::None,
            })
        } else {
            OpKind::Conv2d(Conv2dOptions {
                padding,
                stride_h: h.stride,
                stride_w: wa.stride,
                dilation_h: h.dilation,
                dilation_w: wa.dilation,
                ..Default::default()
            })
        };
        let out_shape = self.window_output(node, input, [h, wa], padding, m)?;
        let out = self.add_act(out_name, out_shape);
        self.emit(kind, vec![Some(input), Some(w_id), b_id], out);
        self.set(out_name, out, NHWC.to_vec());
        Ok(())
    }

    /// `x` held NHWC, padded explicitly with `value` where ONNX's pads are neither SAME nor
    /// VALID; and the padding the window op then takes.
    fn padded_input(
        &mut self,
        node: &Node,
        x: &str,
        h: Axis,
        w: Axis,
        value: f32,
    ) -> Result<(crate::ir::TensorId, Padding), ImportError> {
        let id = self.held_as(node, x, &NHWC)?;
        Ok(match classify(h, w) {
            Pads::Valid => (id, Padding::Valid),
            Pads::Same => (id, Padding::Same),
            Pads::Explicit([t, l, b, r]) => {
                let pads = [0, 0, t as i64, l as i64, 0, 0, b as i64, r as i64];
                let name = format!("{}/padded", node.name);
                (self.pad_op(id, &NHWC, &pads, value, &name), Padding::Valid)
            }
        })
    }

    /// The NHWC output shape TFLite computes, checked against ONNX's (tract's inference).
    fn window_output(
        &self,
        node: &Node,
        input: crate::ir::TensorId,
        [h, w]: [Axis; 2],
        padding: Padding,
        channels: usize,
    ) -> Result<Vec<usize>, ImportError> {
        let s = &self.g.tensor(input).shape;
        let ir = (|| {
            Some(vec![
                s[0],
                shape::window_output(s[1], h.kernel, h.stride, h.dilation, padding)?,
                shape::window_output(s[2], w.kernel, w.stride, w.dilation, padding)?,
                channels,
            ])
        })();
        let onnx = self.onnx_shape(node, node.output()?)?;
        match ir {
            Some(ir) if layout::permute(&onnx, &NHWC) == ir => Ok(ir),
            _ => Err(node.err(format!(
                "output shape {onnx:?} (NCHW) is not what TFLite's window gives ({ir:?}, NHWC)"
            ))),
        }
    }

    pub(super) fn pool(&mut self, node: &Node) -> Result<(), ImportError> {
        let max = node.op() == "MaxPool";
        if node
            .pb
            .output
            .get(1)
            .is_some_and(|o| !o.is_empty() && self.uses(o) > 0)
        {
            return Err(node.err("its indices output is used: not supported"));
        }
        let x = node.req_input(0)?;
        let in_shape = self.onnx_shape(node, x)?;
        if in_shape.len() != 4 {
            return Err(node.err(format!(
                "input of shape {in_shape:?}: only 2-D pooling (4-D input) is supported"
            )));
        }
        let kernel = node.usizes("kernel_shape", 2, 0)?;
        let [h, w] = self.window_axes(node, &in_shape, [kernel[0], kernel[1]], max)?;
        if h.dilation != 1 || w.dilation != 1 {
            return Err(node.err("dilations other than 1 are not supported"));
        }
        if node.int("ceil_mode", 0) != 0
            && (h.onnx_out(true) != h.onnx_out(false) || w.onnx_out(true) != w.onnx_out(false))
        {
            return Err(node.err(
                "ceil_mode = 1 changes the output size here: not supported (TFLite rounds down)",
            ));
        }
        let include_pad = !max && node.int("count_include_pad", 0) != 0;
        let out_name = node.output()?;
        let (input, padding) = match classify(h, w) {
            // TFLite's SAME average excludes the padding, as count_include_pad = 0 does.
            Pads::Same if include_pad => self.padded_input_forced(node, x, h, w)?,
            Pads::Explicit(_) if !max && !include_pad => {
                return Err(node.err(format!(
                    "pads {:?} with count_include_pad = 0 are neither TFLite's SAME nor VALID",
                    [h.begin, w.begin, h.end, w.end]
                )))
            }
            // Max pooling pads with the lowest float (never the maximum).
            _ => self.padded_input(node, x, h, w, if max { f32::MIN } else { 0.0 })?,
        };
        let opts = Pool2dOptions {
            padding,
            stride_h: h.stride,
            stride_w: w.stride,
            filter_h: h.kernel,
            filter_w: w.kernel,
            activation: Activation::None,
        };
        let out_shape = self.window_output(node, input, [h, w], padding, in_shape[1])?;
        let out = self.add_act(out_name, out_shape);
        let kind = if max {
            OpKind::MaxPool2d(opts)
        } else {
            OpKind::AveragePool2d(opts)
        };
        self.emit(kind, vec![Some(input)], out);
        self.set(out_name, out, NHWC.to_vec());
        Ok(())
    }

    /// An explicit PAD of zeros even where the pads are TFLite's SAME (an average that counts
    /// the padding).
    fn padded_input_forced(
        &mut self,
        node: &Node,
        x: &str,
        h: Axis,
        w: Axis,
    ) -> Result<(crate::ir::TensorId, Padding), ImportError> {
        let id = self.held_as(node, x, &NHWC)?;
        let (h, w) = (h.trimmed(), w.trimmed());
        let pads = [
            0,
            0,
            h.begin as i64,
            w.begin as i64,
            0,
            0,
            h.end as i64,
            w.end as i64,
        ];
        let name = format!("{}/padded", node.name);
        Ok((self.pad_op(id, &NHWC, &pads, 0.0, &name), Padding::Valid))
    }

    /// MEAN over H and W, keeping them.
    pub(super) fn global_average_pool(&mut self, node: &Node) -> Result<(), ImportError> {
        let x = node.req_input(0)?;
        let in_shape = self.onnx_shape(node, x)?;
        if in_shape.len() != 4 {
            return Err(node.err(format!(
                "input of shape {in_shape:?}: only 4-D input is supported"
            )));
        }
        let id = self.held_as(node, x, &NHWC)?;
        let out_name = node.output()?;
        let axes = self.add_i32(&format!("{out_name}/axes"), vec![2], vec![1, 2]);
        let out = self.add_act(out_name, vec![in_shape[0], 1, 1, in_shape[1]]);
        self.emit(
            OpKind::Mean(ReducerOptions { keep_dims: true }),
            vec![Some(id), Some(axes)],
            out,
        );
        self.set(out_name, out, NHWC.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(input: usize, kernel: usize, stride: usize, begin: usize, end: usize) -> Axis {
        Axis {
            input,
            kernel,
            stride,
            dilation: 1,
            begin,
            end,
        }
    }

    #[test]
    fn pads_map_to_tflite() {
        // 3x3 stride 1 pads 1: SAME.
        let a = axis(8, 3, 1, 1, 1);
        assert_eq!(classify(a, a), Pads::Same);
        assert_eq!(
            classify(axis(8, 3, 1, 0, 0), axis(8, 3, 1, 0, 0)),
            Pads::Valid
        );
        // 3x3 stride 2 pads 1 on 6: SAME is (0, 1); ONNX pads (1, 1), of which windows reach (1, 0).
        let b = axis(6, 3, 2, 1, 1);
        assert_eq!(classify(b, b), Pads::Explicit([1, 1, 0, 0]));
        // 2x2 stride 2 on 5 with an end pad no window reaches: VALID.
        let c = axis(5, 2, 2, 0, 1);
        assert_eq!(c.onnx_out(false), Some(3));
        assert_eq!(
            classify(axis(4, 2, 2, 0, 1), axis(4, 2, 2, 0, 0)),
            Pads::Valid
        );
        // ceil_mode: 5 by 2x2 stride 2 gives 2 (floor) or 3 (ceil).
        let d = axis(5, 2, 2, 0, 0);
        assert_eq!((d.onnx_out(false), d.onnx_out(true)), (Some(2), Some(3)));
    }
}

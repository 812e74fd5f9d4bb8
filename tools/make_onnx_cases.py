#!/usr/bin/env python3
"""Writes the small ONNX models of tests/onnx_import.rs to tests/fixtures/onnx/.

PyTorch-style NCHW graphs (and one Keras-style NHWC graph with Transpose pairs) built node by
node with the `onnx` package, weights from a fixed seed, so the files are reproducible:

    python3 tools/make_onnx_cases.py            # needs `pip install onnx numpy`

Every model has one input `x` whose first dimension is the symbolic `batch` (as exporters
write it). The Rust test compares the imported .tflite against tract's own run of each file;
onnxruntime is not needed (if installed, the script also checks each model runs there).
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")
OPSET = 13
rng = np.random.default_rng(7)


def w(*shape, scale=0.5):
    return rng.uniform(-scale, scale, size=shape).astype(np.float32)


class Builder:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.inits = []
        self.count = 0

    def const(self, array, name=None):
        self.count += 1
        name = name or f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, name, n_out=1, **attrs):
        outs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def save(self, in_shape, outputs, opset=OPSET, batch="batch", ort=True):
        """`batch` None: the input shape is `in_shape` as it is (all dimensions fixed). `ort`
        False: onnxruntime cannot run the model (an LSTM with layout 1), skip the check."""
        dims = list(in_shape) if batch is None else [batch, *in_shape]
        inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        graph = helper.make_graph(self.nodes, self.name, [inp], outs, self.inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_cases"
        )
        model.ir_version = 8
        # Output shapes from ONNX's own inference (the batch stays symbolic).
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        del model.graph.value_info[:]
        onnx.checker.check_model(model, full_check=True)
        path = os.path.join(OUT, f"{self.name}.onnx")
        onnx.save(model, path)
        try:
            import onnxruntime

            if not ort:
                raise ImportError
            sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            shape = in_shape if batch is None else (1, *in_shape)
            x = rng.standard_normal(shape).astype(np.float32)
            sess.run(None, {"x": x})
        except ImportError:
            pass
        print(path)


def nchw_cnn():
    """Conv -> BatchNormalization -> Relu -> MaxPool -> Flatten -> Gemm (transB) -> Softmax."""
    b = Builder("nchw_cnn")
    y = b.node("Conv", ["x", b.const(w(4, 3, 3, 3)), b.const(w(4))], "conv1",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.node("BatchNormalization",
               [y, b.const(w(4) + 1.0), b.const(w(4)), b.const(w(4)),
                b.const(np.abs(w(4)) + 0.5)], "bn1", epsilon=1e-3)
    y = b.node("Relu", [y], "relu1")
    y = b.node("MaxPool", [y], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Flatten", [y], "flatten", axis=1)
    y = b.node("Gemm", [y, b.const(w(5, 64)), b.const(w(5))], "fc", transB=1)
    y = b.node("Softmax", [y], "softmax", axis=1)
    b.save([3, 8, 8], [y])


def gemm_variants():
    """Gemm without transB (alpha, beta), Clip(0,6), Div by a constant, MatMul + Add, Sigmoid,
    a BatchNormalization after a Gemm, LeakyRelu, Tanh, Sub."""
    b = Builder("gemm_variants")
    y = b.node("Gemm", ["x", b.const(w(6, 8)), b.const(w(1, 8))], "fc1", alpha=0.75, beta=2.0)
    y = b.node("Clip", [y, b.const(np.float32(0.0)), b.const(np.float32(6.0))], "clip")
    y = b.node("Div", [y, b.const(np.float32(3.0))], "div")
    y = b.node("MatMul", [y, b.const(w(8, 7))], "mm")
    y = b.node("Add", [b.const(w(7)), y], "bias")
    y = b.node("BatchNormalization",
               [y, b.const(w(7) + 1.0), b.const(w(7)), b.const(w(7)),
                b.const(np.abs(w(7)) + 0.5)], "bn")
    y = b.node("LeakyRelu", [y], "leaky", alpha=0.2)
    y = b.node("Gemm", [y, b.const(w(4, 7)), b.const(w(4))], "fc2", transB=1)
    t = b.node("Tanh", [y], "tanh")
    s = b.node("Sigmoid", [y], "sigmoid")
    y = b.node("Sub", [t, s], "sub")
    b.save([6], [y])


def concat_pad_gap():
    """Strided conv whose pads are not TFLite's SAME (explicit PAD), depthwise (multiplier 2)
    and grouped convs, Concat on channels, Pad, Clip to RELU6, GlobalAveragePool, Flatten, Gemm."""
    b = Builder("concat_pad_gap")
    a = b.node("Conv", ["x", b.const(w(4, 2, 3, 3)), b.const(w(4))], "conv_s2",
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    d = b.node("Conv", ["x", b.const(w(4, 1, 3, 3)), b.const(w(4))], "dw",
               kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], group=2)
    g = b.node("Conv", [a, b.const(w(4, 2, 1, 1))], "grouped", kernel_shape=[1, 1], group=2)
    y = b.node("Concat", [a, d, g], "concat", axis=1)
    y = b.node("Pad", [y, b.const(np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64))], "pad")
    y = b.node("Clip", [y, b.const(np.float32(0.0)), b.const(np.float32(6.0))], "relu6")
    y = b.node("GlobalAveragePool", [y], "gap")
    y = b.node("Flatten", [y], "flatten")
    y = b.node("Gemm", [y, b.const(w(3, 12)), b.const(w(3))], "fc", transB=1)
    b.save([2, 6, 6], [y])


def keras_style():
    """NHWC input and Transpose pairs around each Conv and pool, as tf2onnx writes them:
    none of them may remain. HardSwish, x*x, AveragePool, ReduceMean, Unsqueeze, Squeeze."""
    b = Builder("keras_style")
    y = b.node("Transpose", ["x"], "to_nchw", perm=[0, 3, 1, 2])
    y = b.node("Conv", [y, b.const(w(4, 2, 3, 3)), b.const(w(4))], "conv",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.node("Transpose", [y], "to_nhwc", perm=[0, 2, 3, 1])
    y = b.node("HardSwish", [y], "hswish")
    y = b.node("Mul", [y, y], "square")
    y = b.node("Add", [y, b.const(w(4))], "add_channel")
    y = b.node("Transpose", [y], "to_nchw2", perm=[0, 3, 1, 2])
    y = b.node("AveragePool", [y], "avg", kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Transpose", [y], "to_nhwc2", perm=[0, 2, 3, 1])
    y = b.node("ReduceMean", [y], "mean", axes=[1, 2], keepdims=0)
    y = b.node("Unsqueeze", [y, b.const(np.array([1], np.int64))], "unsq")
    y = b.node("Squeeze", [y, b.const(np.array([1], np.int64))], "sq")
    y = b.node("Identity", [y], "ident")
    b.save([6, 6, 2], [y], opset=14)  # HardSwish is opset 14


def nchw_output():
    """A conv whose NCHW output is a graph output (one TRANSPOSE back to ONNX's layout), and
    a second output reduced over channels (ReduceMean keepdims)."""
    b = Builder("nchw_output")
    y = b.node("Conv", ["x", b.const(w(3, 2, 1, 1))], "conv", kernel_shape=[1, 1])
    r = b.node("Relu", [y], "relu")
    m = b.node("ReduceMean", [r], "mean_c", axes=[1], keepdims=1)
    b.save([2, 4, 5], [r, m])


def unsupported():
    """An op the importer does not know: the error names node, op type and opset."""
    b = Builder("unsupported")
    y = b.node("Relu", ["x"], "relu")
    y = b.node("Sin", [y], "sin_1")
    b.save([4], [y])


def ceil_mode():
    """MaxPool with ceil_mode = 1 whose output differs from floor's: an attribute error."""
    b = Builder("ceil_mode")
    y = b.node("MaxPool", ["x"], "pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    b.save([1, 5, 5], [y])


# ---- LSTMs. PyTorch is not installable here (its wheel index is not reachable), so the
# graphs torch.onnx.export writes for nn.LSTM are built node by node: torch reorders its gate
# blocks (i, f, g, o) into ONNX's (i, o, f, c), stores both bias vectors in B, makes the zero
# initial state from the input's shape when the batch is dynamic (an initializer when it is
# fixed), and wraps a batch_first LSTM in Transpose(perm [1, 0, 2]) on both sides. `out[:, -1]`
# is a Gather of one index, `h_n.squeeze(0)` a Squeeze.

def lstm_weights(hidden, inputs, peephole=False):
    s = 1.0 / np.sqrt(hidden)  # torch's uniform(-1/sqrt(h), 1/sqrt(h)) initialisation
    ws = [w(1, 4 * hidden, inputs, scale=s), w(1, 4 * hidden, hidden, scale=s),
          w(1, 8 * hidden, scale=s)]
    if peephole:
        ws.append(w(1, 3 * hidden, scale=0.5))
    return ws


def lstm_torch_batch_first():
    """nn.LSTM(4, 8, batch_first=True) exported with a dynamic batch, then a Linear(8, 3) on
    out[:, -1]: Transpose, the zero state from Shape/Gather/Unsqueeze/Concat/ConstantOfShape,
    LSTM, Squeeze, Transpose, Gather, Gemm. Outputs: the whole sequence and the head."""
    b = Builder("lstm_torch_batch_first")
    W, R, B = (b.const(a) for a in lstm_weights(8, 4))
    t = b.node("Transpose", ["x"], "transpose_in", perm=[1, 0, 2])
    shape = b.node("Shape", ["x"], "shape")
    n = b.node("Gather", [shape, b.const(np.array(0, np.int64))], "batch_size", axis=0)
    n = b.node("Unsqueeze", [n, b.const(np.array([0], np.int64))], "unsqueeze_batch")
    dims = b.node("Concat", [b.const(np.array([1], np.int64)), n,
                             b.const(np.array([8], np.int64))], "state_shape", axis=0)
    h0 = b.node("ConstantOfShape", [dims], "zeros",
                value=numpy_helper.from_array(np.zeros(1, np.float32)))
    y, _, _ = b.node("LSTM", [t, W, R, B, "", h0, h0], "lstm", n_out=3, hidden_size=8)
    y = b.node("Squeeze", [y, b.const(np.array([1], np.int64))], "squeeze_dir")
    seq = b.node("Transpose", [y], "transpose_out", perm=[1, 0, 2])
    last = b.node("Gather", [seq, b.const(np.array(-1, np.int64))], "last_step", axis=1)
    head = b.node("Gemm", [last, b.const(w(3, 8)), b.const(w(3))], "linear", transB=1)
    b.save([6, 4], [seq, head])


def lstm_torch_time_major():
    """nn.LSTM(4, 8) (batch_first=False) with a fixed batch of 2: input [6, 2, 4], zero state
    initializers, the sequence (Squeeze of the direction axis) and a Linear on
    h_n.squeeze(0) (MatMul + Add)."""
    b = Builder("lstm_torch_time_major")
    W, R, B = (b.const(a) for a in lstm_weights(8, 4))
    h0 = b.const(np.zeros((1, 2, 8), np.float32))
    c0 = b.const(np.zeros((1, 2, 8), np.float32))
    y, yh, _ = b.node("LSTM", ["x", W, R, B, "", h0, c0], "lstm", n_out=3, hidden_size=8)
    seq = b.node("Squeeze", [y, b.const(np.array([1], np.int64))], "squeeze_dir")
    h = b.node("Squeeze", [yh, b.const(np.array([0], np.int64))], "squeeze_h")
    h = b.node("MatMul", [h, b.const(w(8, 3))], "linear")
    h = b.node("Add", [h, b.const(w(3))], "linear_bias")
    b.save([6, 2, 4], [seq, h], batch=None)


def lstm_layout1_peephole():
    """Opset 14, layout 1 (batch first without transposes), peepholes, no B, a clip that does
    not bind, default activations spelt out: Y (4-D) and Y_h squeezed are the outputs."""
    b = Builder("lstm_layout1_peephole")
    W, R, _, P = lstm_weights(6, 3, peephole=True)
    W, R, P = b.const(W), b.const(R), b.const(P)
    y, yh, _ = b.node("LSTM", ["x", W, R, "", "", "", "", P], "lstm", n_out=3, hidden_size=6,
                      layout=1, clip=50.0, activations=["Sigmoid", "Tanh", "Tanh"])
    h = b.node("Squeeze", [yh, b.const(np.array([1], np.int64))], "squeeze_h")
    b.save([5, 3], [y, h], opset=14, ort=False)  # onnxruntime has no layout 1


def lstm_bidirectional():
    """A bidirectional LSTM: an error naming the node."""
    b = Builder("lstm_bidirectional")
    ws = [np.concatenate([a, a]) for a in lstm_weights(4, 3)]
    W, R, B = (b.const(a) for a in ws)
    y, _, _ = b.node("LSTM", ["x", W, R, B], "bilstm", n_out=3, hidden_size=4,
                     direction="bidirectional")
    b.save([5, 1, 3], [y], batch=None)


def lstm_initial_state():
    """A non-zero initial hidden state: an error (TFLite's state starts at zero)."""
    b = Builder("lstm_initial_state")
    W, R, B = (b.const(a) for a in lstm_weights(4, 3))
    h0 = b.const(np.full((1, 1, 4), 0.5, np.float32))
    _, yh, _ = b.node("LSTM", ["x", W, R, B, "", h0], "lstm", n_out=3, hidden_size=4)
    b.save([1, 1, 3], [yh], batch=None)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in [nchw_cnn, gemm_variants, concat_pad_gap, keras_style, nchw_output, unsupported,
              ceil_mode, lstm_torch_batch_first, lstm_torch_time_major, lstm_layout1_peephole,
              lstm_bidirectional, lstm_initial_state]:
        f()
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

    def save(self, in_shape, outputs, opset=OPSET):
        inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *in_shape])
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
            import onnxruntime as ort

            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            x = rng.standard_normal((1, *in_shape)).astype(np.float32)
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


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in [nchw_cnn, gemm_variants, concat_pad_gap, keras_style, nchw_output, unsupported,
              ceil_mode]:
        f()
    return 0


if __name__ == "__main__":
    sys.exit(main())

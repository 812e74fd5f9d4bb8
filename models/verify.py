#!/usr/bin/env python3
"""Checks bundled model directories: specs.json against docs/specs.md, dataset.csv against the
specs, model.onnx's I/O against the specs, the ONNX op types against the set the converter
imports, and the float metric of model.onnx on the test split with onnxruntime.

    python3 models/verify.py                 # every model directory under models/
    python3 models/verify.py models/sine     # one

Needs numpy, onnx and onnxruntime (models/requirements.txt), not TensorFlow.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tflm_specs  # noqa: E402

# ONNX ops the converter imports (src/onnx_import/lower.rs, SUPPORTED; LSTM in lstm.rs), and
# the shape-computation ops tract folds at import time (lower.rs, FOLDABLE). The co2 graph's
# Slice is not folded: tf2onnx takes the last time step of the LSTM's output sequence with it
# (LSTM -> Squeeze -> Slice -> Squeeze), which the importer turns into one STRIDED_SLICE, as
# TensorFlow's converter writes after UNIDIRECTIONAL_SEQUENCE_LSTM.
SUPPORTED = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Conv", "BatchNormalization", "Relu",
    "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSwish", "Softmax", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat",
    "Pad", "ReduceMean", "Identity", "Dropout", "LSTM",
}
FOLDED = {
    "Constant", "ConstantOfShape", "Shape", "Size", "Gather", "Slice", "Cast", "Range", "Expand",
    "Equal", "Where", "Neg", "Floor", "Ceil", "Sqrt", "Reciprocal", "ReduceProd", "ReduceSum",
}
MAX_ONNX, MAX_CSV = 100 * 1024, 1024 * 1024


def check(model_dir: Path) -> bool:
    spec = tflm_specs.load_spec(model_dir)
    data = tflm_specs.Dataset(model_dir, spec)
    onnx_path = model_dir / "model.onnx"
    if not onnx_path.exists():
        raise SystemExit(f"{onnx_path}: no such file")
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    ops = sorted({n.op_type for n in proto.graph.node})
    ok = True

    def fail(msg):
        nonlocal ok
        ok = False
        print(f"  FAIL {msg}")

    print(f"{model_dir.name}: {spec['task']}, opset {opset}, "
          f"{sum(int(np.prod(i.dims)) for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT)} float parameters")
    print(f"  ops: {', '.join(ops)}")
    if not 13 <= opset <= 17:
        fail(f"opset {opset} outside 13..17")
    if set(ops) - SUPPORTED - FOLDED:
        fail(f"ops outside the supported set: {sorted(set(ops) - SUPPORTED - FOLDED)}")
    for kind, graph_io, spec_io in (("input", proto.graph.input, spec["inputs"]),
                                    ("output", proto.graph.output, spec["outputs"])):
        real = [v for v in graph_io if v.name not in {i.name for i in proto.graph.initializer}]
        if [v.name for v in real] != [t["name"] for t in spec_io]:
            fail(f"{kind} names {[v.name for v in real]} != specs {[t['name'] for t in spec_io]}")
        for v, t in zip(real, spec_io):
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in v.type.tensor_type.shape.dim]
            if dims[1:] != t["shape"][1:] or dims[0] not in (None, 1):
                fail(f"{kind} {v.name}: ONNX shape {dims} does not match specs {t['shape']}")
    for f, limit in ((onnx_path, MAX_ONNX), (model_dir / spec["dataset"]["file"], MAX_CSV)):
        if f.stat().st_size > limit:
            fail(f"{f} is {f.stat().st_size} bytes (limit {limit})")

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for part in ("train", "test"):
        xs, labels = data.examples(part)
        feeds = {t["name"]: tflm_specs.normalize_input(x, t) for x, t in zip(xs, spec["inputs"])}
        outs = sess.run([t["name"] for t in spec["outputs"]], feeds)
        m = tflm_specs.metrics(spec, outs, labels)
        print(f"  float (onnxruntime) on the {part} split ({len(labels)} examples): "
              + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    return ok


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]] or sorted(p.parent for p in HERE.glob("*/specs.json"))
    results = [check(d.resolve()) for d in dirs]
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

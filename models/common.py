"""Helpers shared by the bundled models' train.py scripts: determinism, ONNX export with
tf2onnx, and TensorFlow's own int8 conversion as a baseline. Import this before TensorFlow."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import sys
from pathlib import Path

# Must be set before TensorFlow is imported.
os.environ["TF_DETERMINISTIC_OPS"] = "1"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # oneDNN picks kernels by CPU: results would vary
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only, also where a GPU exists

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tflm_specs  # noqa: E402
import verify  # noqa: E402

OPSET = 13


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, deterministic kernels, one thread per op pool."""
    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialized: keep going, determinism comes from the flag above


def to_json(obj, indent: int = 0) -> str:
    """Two-space indented JSON with arrays of numbers or strings kept on one line."""
    pad = "  " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + to_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json(path: Path, obj) -> None:
    text = to_json(obj) + "\n"
    assert json.loads(text) == obj
    path.write_text(text, encoding="utf-8")


def export_onnx(model, spec: dict, path: Path, positional_names: bool = False) -> None:
    """Exports a Keras model with tf2onnx (opset OPSET), graph I/O named as in specs.json.

    tf2onnx.convert.from_keras does not handle Keras 3 models (KeyError on the output
    names), so the model is traced as a tf.function, which gives the same graph.
    positional_names: name nodes and values by their place in the graph (see
    positional_names below) instead of keeping TensorFlow's names."""
    import onnx
    import tf2onnx

    (inp,), (out,) = spec["inputs"], spec["outputs"]
    signature = [tf.TensorSpec((None, *inp["shape"][1:]), tf.float32, name=inp["name"])]
    fn = tf.function(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=OPSET)
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [out["name"] if o == old else o for o in node.output]
        node.input[:] = [out["name"] if i == old else i for i in node.input]
    proto.graph.output[0].name = out["name"]
    proto.graph.name = spec["name"]
    canonicalize_names(proto)
    if positional_names:
        rename_positionally(proto)
    onnx.checker.check_model(proto, full_check=True)
    path.write_bytes(proto.SerializeToString())
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f"wrote {path} ({path.stat().st_size} bytes, sha256 "
          f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}), ops: {', '.join(ops)}")
    unsupported = set(ops) - verify.SUPPORTED - verify.FOLDED
    if unsupported:
        raise SystemExit(f"{path}: ops outside the supported set: {sorted(unsupported)}")


def canonicalize_names(proto) -> None:
    """tf2onnx numbers generated names (`const_fold_opt__33`) in an order that varies from run
    to run although the graph and weights do not; renumber them in graph order so that the
    same weights give the same bytes. The symbolic batch dimension is named `batch`."""
    pattern = re.compile(r"__\d+")
    mapping: dict[str, str] = {}

    def canon(name: str) -> str:
        if not pattern.search(name):
            return name
        if name not in mapping:
            mapping[name] = pattern.sub(f"__{len(mapping)}", name)
        return mapping[name]

    g = proto.graph
    for node in g.node:
        node.name = canon(node.name)
        node.input[:] = [canon(i) for i in node.input]
        node.output[:] = [canon(o) for o in node.output]
    for init in g.initializer:
        init.name = canon(init.name)
    for v in list(g.value_info) + list(g.input) + list(g.output):
        v.name = canon(v.name)
        dims = v.type.tensor_type.shape.dim
        if v in list(g.input) + list(g.output) and dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    # initializers in the order the graph first uses them
    order = {name: k for k, name in enumerate(i for n in g.node for i in n.input)}
    inits = sorted(g.initializer, key=lambda t: order.get(t.name, len(order)))
    new = [type(t)() for t in inits]
    for dst, src in zip(new, inits):
        dst.CopyFrom(src)
    del g.initializer[:]
    g.initializer.extend(new)


def rename_positionally(proto) -> None:
    """Names every node `<OpType>_<k>` (k: its index in the graph), every node output
    `<node>:<j>`, and every initializer `<first reader>/<input name in the op's schema>`
    (`LSTM_8/W`). Graph inputs and outputs keep their names.

    tf2onnx merges identical constants and identical small subgraphs (an LSTM's zero initial
    h and c states), and which of the merged TensorFlow names survives varies from run to run
    (it is not Python's string hashing: PYTHONHASHSEED does not fix it). Names that depend
    only on the graph's structure make the bytes depend only on the structure and weights."""
    import onnx

    g = proto.graph
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    keep = {v.name for v in list(g.input) + list(g.output)}
    inits = {t.name for t in g.initializer}
    mapping: dict[str, str] = {}
    for k, node in enumerate(g.node):
        node.name = f"{node.op_type}_{k}"
        for j, o in enumerate(node.output):
            if o and o not in keep:
                mapping[o] = f"{node.name}:{j}"
    for node in g.node:
        formal = [i.name for i in onnx.defs.get_schema(node.op_type, opset).inputs]
        for slot, i in enumerate(node.input):
            if i in inits and i not in mapping:
                mapping[i] = f"{node.name}/{formal[min(slot, len(formal) - 1)]}"
    for node in g.node:
        node.input[:] = [mapping.get(i, i) for i in node.input]
        node.output[:] = [mapping.get(o, o) for o in node.output]
    for t in g.initializer:
        t.name = mapping.get(t.name, t.name)
    for v in g.value_info:
        v.name = mapping.get(v.name, v.name)


def representative_dataset(spec: dict, data: tflm_specs.Dataset):
    """TensorFlow's calibration input: the examples our converter calibrates on, the first
    `representative_rows` training examples, normalized, one at a time (batch 1)."""
    (inp,) = spec["inputs"]
    x_train, _ = data.examples("train")
    rep = tflm_specs.normalize_input(x_train[0], inp)[: spec["dataset"]["representative_rows"]]

    def generate():
        for row in rep:
            yield [row[None]]

    return generate


def tflite_convert(model, spec: dict, data: tflm_specs.Dataset, mode: str = "int8") -> bytes:
    """TensorFlow's converter on a Keras model (Keras 3 or tf-keras). mode: "float"; "int8",
    full-integer post-training quantization (Optimize.DEFAULT, TFLITE_BUILTINS_INT8, int8 input
    and output); "16x8", int16 activations and int8 weights (EXPERIMENTAL_TFLITE_BUILTINS_
    ACTIVATIONS_INT16_WEIGHTS_INT8, int16 input and output). Calibration uses the rows our
    converter uses: the first `representative_rows` training examples, normalized. Raises
    TensorFlow's error when it refuses the model."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative_dataset(spec, data)
        if mode == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            io_type = tf.int8
        elif mode == "16x8":
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            io_type = tf.int16
        else:
            raise ValueError(f"unknown mode {mode!r} (float, int8, 16x8)")
        conv.inference_input_type = io_type
        conv.inference_output_type = io_type
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the traced signature
        return conv.convert()


def tflite_evaluate(flat: bytes, spec: dict, data: tflm_specs.Dataset, reset: bool = True) -> dict:
    """The metric of a .tflite on the test split, run example by example, in order, through
    LiteRT's reference kernels (OpResolverType.BUILTIN_REF, the kernels tflm-runtime is
    bit-exact with). Integer inputs are quantized as docs/specs.md says, integer outputs
    dequantized. reset: zero the variable tensors (an LSTM's state) before every example, as
    Keras and ONNX start every window from zero state; without it the state runs on."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    (inp,) = spec["inputs"]
    it = Interpreter(model_content=flat, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i_det, o_det = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = i_det["quantization"], o_det["quantization"]
    x_test, y_test = data.examples("test")
    xs = tflm_specs.normalize_input(x_test[0], inp)
    integer = np.issubdtype(i_det["dtype"], np.integer)
    outs = []
    for x in xs:
        if reset:
            it.reset_all_variables()
        if integer:
            lim = np.iinfo(i_det["dtype"])
            x = np.clip(np.round(x / si) + zi, lim.min, lim.max).astype(i_det["dtype"])
        it.set_tensor(i_det["index"], x[None])
        it.invoke()
        y = it.get_tensor(o_det["index"])[0]
        outs.append((y.astype(np.float32) - zo) * so if so else y.astype(np.float32))
    result = tflm_specs.metrics(spec, [np.stack(outs)], y_test)
    result["tflite_bytes"] = len(flat)
    return result


def tflite_int8_baseline(model, spec: dict, data: tflm_specs.Dataset) -> dict:
    """TensorFlow's full-integer post-training quantization of the same Keras model, with the
    same representative rows our converter uses (the first `representative_rows` training
    examples), evaluated on the test split with TFLite's reference kernels. Nothing is saved."""
    return tflite_evaluate(tflite_convert(model, spec, data, "int8"), spec, data)


def float_metrics(model, spec: dict, data: tflm_specs.Dataset) -> dict:
    (inp,) = spec["inputs"]
    x_test, y_test = data.examples("test")
    y = model.predict(tflm_specs.normalize_input(x_test[0], inp), verbose=0)
    return tflm_specs.metrics(spec, [y], y_test)

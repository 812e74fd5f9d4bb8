#!/usr/bin/env python3
"""TensorFlow's int8 conversion of co2's LSTM, rebuilt from the committed models/co2/model.onnx
(no retraining), for comparison with tflm-rs' int8 LSTM (docs/modes.md, "The LSTM").

The ONNX weights go into the batch-1 tf-keras twin models/co2/train.py converts (gates reordered
from ONNX's i, o, f, c to Keras' i, f, c, o; the bias is Wb + Rb), then TensorFlow's converter
runs exactly as `train.py --tflite-baseline` (float, and int8 full-integer PTQ with int8 I/O
calibrated on the first 5040 training windows). The script prints

- each .tflite's size and test MAE in LiteRT's reference kernels, the state reset before every
  window (float 10.89 ppm, int8 11.05 ppm: train.py's figures, same weights);
- the int8 LSTM's tensors: types, scales, zero points (weights, biases, states, intermediates);
- the hidden state's calibrated range two ways, with the float LSTM in numpy over the 5040
  calibration windows: resetting the state before every window (what tflm-rs does) and
  carrying it from window to window. TensorFlow's output-state parameters are those of the
  second: its calibrator does not reset the state between samples.

From the repository root (TensorFlow, tf-keras, onnx, ai-edge-litert: models/requirements*.txt):

    python3 tools/baselines/co2_tensorflow_int8.py [--out-dir DIR]   # writes co2_tf_*.tflite
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models"))
import common  # noqa: E402  (sets TensorFlow's environment before importing it)
from common import np, tflm_specs  # noqa: E402

CO2 = ROOT / "models" / "co2"
HIDDEN = 20


def onnx_weights():
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(CO2 / "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
    mm = next(n for n in m.graph.node if n.op_type == "MatMul")
    add = next(n for n in m.graph.node if n.op_type == "Add")
    W, R, B = (init[lstm.input[k]][0] for k in (1, 2, 3))
    bias = next(init[i] for i in add.input if i in init)
    return W, R, B[: 4 * HIDDEN] + B[4 * HIDDEN:], init[mm.input[1]], bias.reshape(-1)


def keras_order(x):
    """ONNX's gate blocks (i, o, f, c) in Keras' order (i, f, c, o), along axis 0."""
    i, o, f, c = np.split(x, 4, axis=0)
    return np.concatenate([i, f, c, o], axis=0)


def tf_keras_twin(W, R, b, Wd, bd):
    import tf_keras

    x = tf_keras.Input((24, 3), batch_size=1, name="history")
    lstm = tf_keras.layers.LSTM(HIDDEN, name="lstm")
    dense = tf_keras.layers.Dense(1, name="co2_next")
    model = tf_keras.Model(x, dense(lstm(x)), name="co2_batch1")
    lstm.set_weights([keras_order(W).T, keras_order(R).T, keras_order(b)])
    dense.set_weights([Wd, bd])
    return model


def lstm_tensors(flat: bytes):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=flat)
    ops = it._get_ops_details()  # noqa: SLF001  (LiteRT has no public op listing)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    lstm = next(o for o in ops if o["op_name"] == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    print("  UNIDIRECTIONAL_SEQUENCE_LSTM inputs (k: tensor type shape scale zero point):")
    for k, t in enumerate(lstm["inputs"]):
        if t < 0:
            continue
        d = tensors[t]
        (scale, zp) = d["quantization"]
        shape = [int(s) for s in d["shape"]]
        print(f"    {k:2d}: {d['name']:<34} {d['dtype'].__name__:<8} {shape!s:<10} "
              f"{scale:.9g} {zp}")
    for t in list(lstm["outputs"]):
        d = tensors[t]
        print(f"  output: {d['name']} {d['dtype'].__name__} {d['quantization']}")


def hidden_ranges(W, R, b, xs):
    """The float LSTM's hidden and cell state ranges over the windows `xs` [n, 24, 3], the
    state reset before every window and carried from one to the next."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731

    def step(x, h, c):
        i, o, f, g = np.split(x @ W.T + h @ R.T + b, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c

    out = {}
    h = c = np.zeros((len(xs), HIDDEN))
    hs, cs = [], []
    for t in range(xs.shape[1]):
        h, c = step(xs[:, t], h, c)
        hs.append(h)
        cs.append(c)
    out["reset before every window"] = (np.array(hs), np.array(cs))
    h = c = np.zeros((1, HIDDEN))
    hs, cs = [], []
    for w in xs:
        for t in range(w.shape[0]):
            h, c = step(w[t:t + 1], h, c)
            hs.append(h)
            cs.append(c)
    out["state carried over"] = (np.array(hs), np.array(cs))
    for what, (hs, cs) in out.items():
        lo, hi = np.float32(min(hs.min(), 0)), np.float32(max(hs.max(), 0))
        scale = (hi - lo) / np.float32(255)
        print(f"  {what}: h in [{hs.min():.4f}, {hs.max():.4f}] -> scale {scale:.8g}, zero "
              f"point {round(-128 - float(lo) / float(scale))}; |c| up to {np.abs(cs).max():.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out-dir", type=Path, help="where to write co2_tf_float/int8.tflite")
    args = ap.parse_args()
    out = args.out_dir or Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)

    W, R, b, Wd, bd = onnx_weights()
    model = tf_keras_twin(W, R, b, Wd, bd)
    spec = tflm_specs.validate(json.loads((CO2 / "specs.json").read_text()))
    data = tflm_specs.Dataset(CO2, spec)
    for mode in ("float", "int8"):
        flat = common.tflite_convert(model, spec, data, mode)
        (out / f"co2_tf_{mode}.tflite").write_bytes(flat)
        m = common.tflite_evaluate(flat, spec, data, reset=True)
        print(f"TensorFlow {mode}: {len(flat)} bytes, test MAE {m['mae']:.4f} ppm, "
              f"RMSE {m['rmse']:.4f} ({out / f'co2_tf_{mode}.tflite'})")
        if mode == "int8":
            lstm_tensors(flat)
    x_train, _ = data.examples("train")
    rep = tflm_specs.normalize_input(x_train[0], spec["inputs"][0])
    rep = rep[: spec["dataset"]["representative_rows"]].astype(np.float64)
    print(f"float LSTM over the {len(rep)} calibration windows:")
    hidden_ranges(W, R, b, rep)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""TensorFlow Model Optimization baselines for the bundled models: what TensorFlow's own
pruning and quantization-aware training (QAT) give, as yardsticks for tflm-rs' converter.
The figures and their discussion are in docs/quality.md, "TensorFlow baselines".

For `digits` and `co2` this script retrains the float Keras model exactly as
models/<name>/train.py does (it imports the script and calls its `train`, with the same seed;
the exported ONNX is checked to have the committed model.onnx's graph and weights), copies the
weights into the same network built with tf-keras (Keras 2: tfmot works only on tf-keras
models), and then:

(a) pruning: `tfmot.sparsity.keras.prune_low_magnitude` to 50% sparsity per weight tensor,
    PolynomialDecay schedule from 0% (the ramp ends halfway, masks updated every 10 steps),
    2 epochs of fine-tuning with the batch size and learning rate of specs.json's `training`
    section, `strip_pruning`; then TensorFlow's int8 full-integer PTQ (as train.py
    --tflite-baseline: int8 I/O, calibration on the first `representative_rows` training
    examples). Prints the int8 metric of the dense and of the pruned model and both .tflite
    sizes: a .tflite stores pruned weights densely, zeros included.
(b) QAT: `tfmot.quantization.keras.quantize_model`, fine-tuned with specs.json's `training`
    settings, converted to int8 (int8 I/O). TensorFlow's error is printed when it refuses.

TensorFlow converts batch-1 copies with the same weights (co2's LSTM is fused into
UNIDIRECTIONAL_SEQUENCE_LSTM only with a fixed batch). Every .tflite runs on the test split through LiteRT's reference kernels (BUILTIN_REF); co2's
LSTM state is reset before every window. Deterministic (seeded, one thread, op determinism).
From the repository root, about 3 minutes on one core:

    pip install -r models/requirements.txt
    pip install --no-deps -r models/requirements-baselines.txt
    python3 tools/baselines/tfmot_baselines.py               # digits and co2
    python3 tools/baselines/tfmot_baselines.py --model co2   # one of them
    # tfmot fine-tuned on tflm-rs's batches of `tflm convert --seed S` (a controlled comparison)
    python3 tools/baselines/tfmot_baselines.py --model co2 --prune-seeds 0,1,2,3,4 --tflm-order
    # Dense layers pruned in tflm-rs's 1x4 blocks (`tflm convert --prune-block 1x4`)
    python3 tools/baselines/tfmot_baselines.py --model digits --prune-seeds 0,1,2 --tflm-order --block
"""

import argparse
import contextlib
import importlib.util
import io
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
sys.path.insert(0, str(MODELS))
import common  # noqa: E402  (sets the TensorFlow environment before importing it)
from common import np, tf, tflm_specs  # noqa: E402

SPARSITY = 0.5
PRUNE_EPOCHS = 2
PRUNE_FREQUENCY = 10  # steps between mask updates


def tflm_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which tflm-rs fine-tunes on `n` training examples in `epoch` (0-based) with
    `--seed seed`: its SplitMix64 Fisher-Yates permutation (src/specs.rs `permutation`) seeded
    with `seed ^ epoch * 0x9E3779B97F4A7C15` (src/train/mod.rs). Feeding it to tfmot gives both
    frameworks the same batches in the same order (`--tflm-order`)."""
    mask = (1 << 64) - 1
    state = (seed ^ (epoch * 0x9E3779B97F4A7C15)) & mask
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        p[i], p[j] = p[j], p[i]
    return np.array(p)


def train_module(name: str):
    """models/<name>/train.py as a module (every model's script is called train.py)."""
    spec = importlib.util.spec_from_file_location(f"{name}_train", MODELS / name / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def same_onnx(a: Path, b: Path) -> bool:
    """The same graph and weights. The graph's doc_string names the traced tf.function, whose
    number counts the functions traced before in the process, so it is left out."""
    import onnx

    pa, pb = onnx.load(str(a)), onnx.load(str(b))
    pa.graph.doc_string = pb.graph.doc_string = ""
    return pa == pb


def tf_keras_twin(name: str, mod, model, batch=None):
    """The same network with tf-keras layers (same names), carrying `model`'s weights; batch
    None (training) or 1 (conversion). digits' Lambda reshape becomes a Reshape layer, one
    that tfmot can quantize; with a dynamic batch TensorFlow converts it into SHAPE,
    STRIDED_SLICE, PACK and RESHAPE, hence batch 1 for conversion (as co2's LSTM needs it)."""
    import tf_keras

    L = tf_keras.layers
    if name == "digits":
        twin = tf_keras.Sequential([
            tf_keras.Input((8, 8, 1), batch_size=batch, name="image"),
            L.Conv2D(12, 3, padding="same", activation="relu", name="conv"),
            L.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise"),
            L.MaxPooling2D(2, name="max_pool"),
            L.Conv2D(24, 1, activation="relu", name="pointwise"),
            L.AveragePooling2D(2, name="avg_pool"),
            L.Reshape((2 * 2 * 24,), name="flatten"),
            L.Dropout(0.2, name="dropout"),
            L.Dense(32, activation="relu", name="dense"),
            L.Dense(10, activation="softmax", name="probabilities"),
        ], name="digits")
    elif name == "co2":
        twin = tf_keras.Sequential([
            tf_keras.Input((mod.WINDOW, 3), batch_size=batch, name="history"),
            L.LSTM(mod.HIDDEN, name="lstm"),
            L.Dense(1, name="co2_next"),
        ], name="co2")
    else:
        raise SystemExit(f"no tf-keras twin for {name}")
    for layer in twin.layers:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin


def training_arrays(spec, data):
    """Training inputs and targets in model space, and the loss, as train.py fits them."""
    (inp,), (outp,) = spec["inputs"], spec["outputs"]
    x, y = data.examples("train")
    x = tflm_specs.normalize_input(x[0], inp)
    if spec["task"] == "classification":
        return x, y[:, 0].astype(np.int64), "sparse_categorical_crossentropy"
    return x, tflm_specs.normalize_input(y, outp), "mse"


def int8_for(name: str, mod, keras_model, spec, data) -> bytes:
    """TensorFlow's int8 PTQ of a batch-1 copy (the converter fuses co2's LSTM only with a
    fixed batch, and digits' reshape then has a constant shape)."""
    return common.tflite_convert(tf_keras_twin(name, mod, keras_model, batch=1), spec, data,
                                 "int8")


def sparsity_report(model) -> str:
    parts = []
    for layer in model.layers:
        for w in layer.weights:
            if "kernel" in w.name and "quantize" not in w.name:
                v = w.numpy()
                parts.append(f"{layer.name}/{w.name.split('/')[-1].split(':')[0]} "
                             f"{np.mean(v == 0):.2f}")
    return ", ".join(parts)


def fmt(m: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items()
                     if k != "tflite_bytes")


def prune(name, mod, twin, spec, data, seed=None, tflm=False, lr=None, block=False) -> None:
    import tensorflow_model_optimization as tfmot
    import tf_keras

    # The model's own seed by default; --prune-seeds varies only the fine-tuning's shuffles.
    common.seed_everything(mod.SEED if seed is None else seed)
    tr = spec["training"]
    x, y, loss = training_arrays(spec, data)
    steps = PRUNE_EPOCHS * math.ceil(len(x) / tr["batch_size"])
    end_step = steps // 2 // PRUNE_FREQUENCY * PRUNE_FREQUENCY
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=SPARSITY, begin_step=0, end_step=end_step,
        frequency=PRUNE_FREQUENCY)
    base = tf_keras.models.clone_model(twin)
    base.set_weights(twin.get_weights())
    if block:
        # tflm-rs's 1x4 blocks are 4 consecutive inputs of one output row of TFLite's
        # [outputs, inputs] weights: in a Keras Dense kernel ([inputs, outputs]) that is
        # block_size=(4, 1). tfmot pools each block's |w| by their mean (block_pooling_type
        # 'AVG', its default) and refuses blocks on weights that are not 2-D, so the
        # convolutions are pruned weight by weight, as tflm-rs prunes them.
        from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

        def wrap(layer):
            if isinstance(layer, tf_keras.layers.Dense):
                return tfmot.sparsity.keras.prune_low_magnitude(
                    layer, pruning_schedule=schedule, block_size=(4, 1))
            if prune_registry.PruneRegistry.supports(layer):
                return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            return layer

        pruned = tf_keras.models.clone_model(base, clone_function=wrap)
    else:
        pruned = tfmot.sparsity.keras.prune_low_magnitude(base, pruning_schedule=schedule)
    rate = tr["learning_rate"] if lr is None else lr
    pruned.compile(optimizer=tf_keras.optimizers.Adam(rate), loss=loss)
    if tflm:
        # tflm-rs's batches, epoch by epoch (the pruning step carries over between the fits).
        for epoch in range(PRUNE_EPOCHS):
            order = tflm_order(len(x), 0 if seed is None else seed, epoch)
            pruned.fit(x[order], y[order], epochs=1, batch_size=tr["batch_size"], shuffle=False,
                       verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    else:
        pruned.fit(x, y, epochs=PRUNE_EPOCHS, batch_size=tr["batch_size"], shuffle=True,
                   verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    print(f"  pruned ({PRUNE_EPOCHS} epochs, {steps} steps, 50% reached at step {end_step}): "
          f"zeros per weight tensor: {sparsity_report(stripped)}")
    print(f"  pruned, float (tf-keras) on the test split: "
          f"{fmt(common.float_metrics(stripped, spec, data))}")

    dense = int8_for(name, mod, twin, spec, data)
    sparse = int8_for(name, mod, stripped, spec, data)
    md, ms = (common.tflite_evaluate(f, spec, data) for f in (dense, sparse))
    print(f"  TensorFlow int8 PTQ, dense:  {fmt(md)} ({len(dense)}-byte .tflite)")
    print(f"  TensorFlow int8 PTQ, pruned: {fmt(ms)} ({len(sparse)}-byte .tflite, "
          f"{'the same size' if len(dense) == len(sparse) else 'a different size'})")


def qat(name, mod, twin, spec, data) -> None:
    import tensorflow_model_optimization as tfmot
    import tf_keras

    common.seed_everything(mod.SEED)
    tr = spec["training"]
    base = tf_keras.models.clone_model(twin)
    base.set_weights(twin.get_weights())
    try:
        q = tfmot.quantization.keras.quantize_model(base)
        x, y, loss = training_arrays(spec, data)
        q.compile(optimizer=tf_keras.optimizers.Adam(tr["learning_rate"]), loss=loss)
        q.fit(x, y, epochs=tr["epochs"], batch_size=tr["batch_size"], shuffle=True, verbose=0)
        print(f"  QAT ({tr['epochs']} epochs), float (fake-quantized, tf-keras) on the test split: "
              f"{fmt(common.float_metrics(q, spec, data))}")
        # Convert a batch-1 copy: the same quantized network, its weights and quantizer
        # ranges copied over (tf-keras keeps them in the same order).
        q1 = tfmot.quantization.keras.quantize_model(tf_keras_twin(name, mod, twin, batch=1))
        q1.set_weights(q.get_weights())
        xs = tflm_specs.normalize_input(data.examples("test")[0][0], spec["inputs"][0])
        for k in range(0, len(xs), max(1, len(xs) // 8)):
            if not np.array_equal(q1(xs[k:k + 1]).numpy(), q(xs[k:k + 1]).numpy()):
                raise SystemExit(f"{name}: the batch-1 QAT copy differs on test example {k}")
        conv = tf.lite.TFLiteConverter.from_keras_model(q1)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        # With int8 I/O TensorFlow asks for a representative dataset even after QAT (the
        # ranges come from the fake-quantization layers): the usual calibration rows.
        conv.representative_dataset = common.representative_dataset(spec, data)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        with contextlib.redirect_stdout(io.StringIO()):  # the traced signature
            flat = conv.convert()
    except Exception as e:  # noqa: BLE001  (tfmot raises RuntimeError/ValueError, TF ConverterError)
        msg = " ".join(str(e).split())
        print(f"  QAT: REFUSED by TensorFlow: {type(e).__name__}: {msg}")
        return
    m = common.tflite_evaluate(flat, spec, data)
    print(f"  QAT int8 (int8 I/O): {fmt(m)} ({len(flat)}-byte .tflite)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", choices=("digits", "co2"), action="append",
                    help="only this model (repeatable; default: digits and co2)")
    ap.add_argument("--prune-seeds", type=lambda v: [int(s) for s in v.split(",")],
                    help="run only the pruning baseline, once per seed (comma-separated), to "
                         "see how much the 2-epoch fine-tuning varies with the shuffle order")
    ap.add_argument("--block", action="store_true",
                    help="with --prune-seeds: prune Dense weights in tflm-rs's 1x4 blocks (4 "
                         "consecutive inputs of one output; tfmot block_size=(4, 1) on the Keras "
                         "kernel), as `tflm convert --prune-block 1x4`")
    ap.add_argument("--tflm-order", action="store_true",
                    help="with --prune-seeds: fine-tune on tflm-rs's batches in tflm-rs's order "
                         "for `tflm convert --seed S` instead of Keras' shuffle (a controlled "
                         "comparison of the two frameworks, docs/quality.md)")
    ap.add_argument("--prune-learning-rate", type=float, metavar="LR",
                    help="fine-tune the pruned model at LR instead of specs.json's rate (tflm-rs "
                         "prunes at 3 times the specs' rate, docs/training.md)")
    args = ap.parse_args()
    # One thread per op pool, set before tf-keras and tfmot initialize TensorFlow's runtime:
    # afterwards the setting is refused, and more threads change the trained weights.
    common.seed_everything(0)
    import tensorflow_model_optimization as tfmot
    import tf_keras

    print(f"TensorFlow {tf.__version__}, tf-keras {tf_keras.__version__}, "
          f"tensorflow-model-optimization {tfmot.__version__}")
    for name in args.model or ("digits", "co2"):
        mod = train_module(name)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            model, spec, data = mod.train(out)
            if name == "co2":
                common.export_onnx(model, spec, out / "model.onnx", positional_names=True)
            else:
                common.export_onnx(model, spec, out / "model.onnx")
            same = same_onnx(out / "model.onnx", MODELS / name / "model.onnx")
            print(f"{name}: retrained; graph and weights {'identical to' if same else 'DIFFERENT FROM'} "
                  f"the committed models/{name}/model.onnx")
            print(f"  float (Keras) on the test split: {fmt(common.float_metrics(model, spec, data))}")
            twin = tf_keras_twin(name, mod, model)
            xs = tflm_specs.normalize_input(data.examples("test")[0][0], spec["inputs"][0])
            diff = np.max(np.abs(twin.predict(xs, verbose=0) - model.predict(xs, verbose=0)))
            print(f"  tf-keras twin vs Keras 3 model on the test split: max |difference| {diff:.1e}")
            if args.prune_seeds:
                for seed in args.prune_seeds:
                    print(f"  pruning seed {seed}:")
                    prune(name, mod, twin, spec, data, seed, args.tflm_order,
                          args.prune_learning_rate, args.block)
                continue
            prune(name, mod, twin, spec, data, lr=args.prune_learning_rate)
            qat(name, mod, twin, spec, data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The sine regressor (TFLite Micro's hello_world): x in [0, 2*pi) -> sin(x), 1-16-16-1 Dense, ReLU.

Generates dataset.csv (1000 noisy samples), writes specs.json, trains with Keras (seeded,
deterministic) and exports model.onnx with tf2onnx. From the repository root:

    python3 models/sine/train.py                    # rewrites dataset.csv, specs.json, model.onnx
    python3 models/sine/train.py --tflite-baseline  # also prints TensorFlow's int8 PTQ metric
"""

import argparse
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402  (sets the TensorFlow environment before importing it)
from common import np, tf, tflm_specs  # noqa: E402

SEED = 1234
ROWS = 1000
NOISE = 0.1
TEST_FRACTION = 0.2
# Full training; specs.json's "training" holds the (shorter) fine-tuning settings.
EPOCHS, BATCH, LR = 400, 32, 0.005


def make_dataset(path: Path) -> None:
    rng = np.random.default_rng(SEED)
    x = rng.uniform(0.0, 2.0 * math.pi, ROWS)
    y = np.sin(x) + NOISE * rng.standard_normal(ROWS)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("x,y\n")
        for a, b in zip(x, y):
            f.write(f"{a:.5f},{b:.5f}\n")


def make_spec(path: Path) -> dict:
    # Normalization statistics of the training rows as written in the CSV.
    x = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)[:, 0]
    n_test = math.floor(len(x) * TEST_FRACTION + 0.5)
    train = x[: len(x) - n_test]
    return {
        "version": 1,
        "name": "sine",
        "description": "sin(x) regressor for x in [0, 2*pi): 1-16-16-1 dense ReLU network "
                       "(TFLite Micro's hello_world), trained on noisy samples",
        "task": "regression",
        "metric": "mae",
        "inputs": [{
            "name": "x", "shape": [1, 1], "layout": "nc", "dtype": "float32",
            "normalization": {"mean": [round(float(train.mean()), 6)],
                              "std": [round(float(train.std()), 6)]},
            "unit": "rad",
        }],
        "outputs": [{"name": "y", "shape": [1, 1], "layout": "nc", "dtype": "float32", "unit": ""}],
        "dataset": {
            "file": "dataset.csv",
            "header": True,
            "label_columns": ["y"],
            "feature_columns": ["x"],
            "split": {"test_fraction": TEST_FRACTION, "order": "ordered"},
            "representative_rows": 200,
        },
        "training": {"epochs": 50, "batch_size": BATCH, "learning_rate": 0.001,
                     "optimizer": "adam", "loss": "mse"},
    }


def build_model() -> tf.keras.Model:
    return tf.keras.Sequential([
        tf.keras.Input((1,), name="x"),
        tf.keras.layers.Dense(16, activation="relu", name="dense_1"),
        tf.keras.layers.Dense(16, activation="relu", name="dense_2"),
        tf.keras.layers.Dense(1, name="y"),
    ], name="sine")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tflite-baseline", action="store_true",
                    help="print TensorFlow's full-integer PTQ metric on the test split")
    ap.add_argument("--out-dir", type=Path, default=HERE,
                    help="where to write the files (default: this script's directory)")
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    common.seed_everything(SEED)

    make_dataset(out / "dataset.csv")
    raw_spec = make_spec(out / "dataset.csv")
    spec = tflm_specs.validate(raw_spec)
    common.write_json(out / "specs.json", raw_spec)
    data = tflm_specs.Dataset(out, spec)

    (inp,) = spec["inputs"]
    x_train, y_train = data.examples("train")
    model = build_model()
    model.compile(optimizer=tf.keras.optimizers.Adam(LR), loss="mse")
    model.fit(tflm_specs.normalize_input(x_train[0], inp), y_train, epochs=EPOCHS,
              batch_size=BATCH, shuffle=True, verbose=0)
    print(f"parameters: {model.count_params()}")
    print("float (Keras) on the test split:", common.float_metrics(model, spec, data))
    common.export_onnx(model, spec, out / "model.onnx")
    if args.tflite_baseline:
        print("TensorFlow int8 PTQ (TFLite reference kernels) on the test split:",
              common.tflite_int8_baseline(model, spec, data))


if __name__ == "__main__":
    main()

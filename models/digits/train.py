#!/usr/bin/env python3
"""A small CNN on scikit-learn's 8x8 handwritten digits (UCI optdigits test set, 1797 images,
pixel values 0..16, shipped with scikit-learn: no download).

NHWC Keras model: Conv2D -> DepthwiseConv2D -> MaxPool -> Conv2D 1x1 -> AveragePool -> Dense ->
softmax. Writes dataset.csv (all 1797 rows, raw pixels + label), specs.json, and model.onnx
(tf2onnx). From the repository root:

    python3 models/digits/train.py                    # rewrites dataset.csv, specs.json, model.onnx
    python3 models/digits/train.py --tflite-baseline  # also prints TensorFlow's int8 PTQ accuracy
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402  (sets the TensorFlow environment before importing it)
from common import np, tf, tflm_specs  # noqa: E402

SEED = 2024
SPLIT_SEED = 42
TEST_FRACTION = 0.2
# Full training; specs.json's "training" holds the (shorter) fine-tuning settings.
EPOCHS, BATCH, LR = 80, 32, 0.003
PIXELS = [f"p{r}{c}" for r in range(8) for c in range(8)]  # row-major: p<row><column>


def make_dataset(path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(PIXELS + ["label"]) + "\n")
        for img, label in zip(digits.data.astype(int), digits.target.astype(int)):
            f.write(",".join(str(v) for v in img) + f",{label}\n")


def make_spec() -> dict:
    return {
        "version": 1,
        "name": "digits",
        "description": "8x8 handwritten digit classifier (scikit-learn's digits): Conv2D, "
                       "DepthwiseConv2D, MaxPool, 1x1 Conv2D, AveragePool, Dense, softmax",
        "task": "classification",
        "metric": "accuracy",
        "inputs": [{
            "name": "image", "shape": [1, 8, 8, 1], "layout": "nhwc", "dtype": "float32",
            "normalization": {"min": [0.0], "max": [16.0]},
            "unit": "pixel intensity (0 to 16)",
        }],
        "outputs": [{"name": "probabilities", "shape": [1, 10], "layout": "nc",
                     "dtype": "float32", "unit": ""}],
        "dataset": {
            "file": "dataset.csv",
            "header": True,
            "label_columns": ["label"],
            "split": {"test_fraction": TEST_FRACTION, "order": "shuffled", "seed": SPLIT_SEED},
            "representative_rows": 200,
        },
        "training": {"epochs": 10, "batch_size": BATCH, "learning_rate": 0.001,
                     "optimizer": "adam", "loss": "cross_entropy"},
    }


def build_model() -> tf.keras.Model:
    L = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((8, 8, 1), name="image"),
        L.Conv2D(12, 3, padding="same", activation="relu", name="conv"),
        L.DepthwiseConv2D(3, padding="same", activation="relu", name="depthwise"),
        L.MaxPooling2D(2, name="max_pool"),                          # 4x4x12
        L.Conv2D(24, 1, activation="relu", name="pointwise"),
        L.AveragePooling2D(2, name="avg_pool"),                      # 2x2x24
        # Flatten with a constant target shape: Keras' Flatten computes the batch size at run
        # time, which tf2onnx exports as Shape/Slice/Concat feeding the Reshape.
        L.Lambda(lambda t: tf.reshape(t, (-1, 2 * 2 * 24)), name="flatten"),
        L.Dropout(0.2, name="dropout"),
        L.Dense(32, activation="relu", name="dense"),
        L.Dense(10, activation="softmax", name="probabilities"),
    ], name="digits")


def train(out: Path):
    """Writes dataset.csv and specs.json into `out`, trains; returns (model, spec, data)."""
    common.seed_everything(SEED)

    make_dataset(out / "dataset.csv")
    raw_spec = make_spec()
    spec = tflm_specs.validate(raw_spec)
    common.write_json(out / "specs.json", raw_spec)
    data = tflm_specs.Dataset(out, spec)

    (inp,) = spec["inputs"]
    x_train, y_train = data.examples("train")
    model = build_model()
    model.compile(optimizer=tf.keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(tflm_specs.normalize_input(x_train[0], inp), y_train[:, 0].astype(np.int64),
              epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    return model, spec, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tflite-baseline", action="store_true",
                    help="print TensorFlow's full-integer PTQ accuracy on the test split")
    ap.add_argument("--out-dir", type=Path, default=HERE,
                    help="where to write the files (default: this script's directory)")
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    model, spec, data = train(out)
    y_train = data.examples("train")[1]
    print(f"parameters: {model.count_params()}")
    print(f"train/test examples: {len(y_train)}/{len(data.examples('test')[1])}")
    print("float (Keras) on the test split:", common.float_metrics(model, spec, data))
    common.export_onnx(model, spec, out / "model.onnx")
    if args.tflite_baseline:
        print("TensorFlow int8 PTQ (TFLite reference kernels) on the test split:",
              common.tflite_int8_baseline(model, spec, data))


if __name__ == "__main__":
    main()

"""Reference reader of specs.json and dataset.csv in Python (numpy only).

It implements docs/specs.md rule for rule, so that the bundled training scripts, the ONNX check
(verify.py) and the Rust reader agree on the split, the normalization and the examples. It is
not a second product: the Rust `tflm` crate is the reader users get; this one exists so the
training scripts use exactly the documented semantics and can validate what they write.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

LAYOUTS = {"nc": 1, "nhwc": 3, "nchw": 1, "ntc": 2}  # layout -> channel axis
DTYPES = ("float32", "int8", "int16")
MASK64 = (1 << 64) - 1


class SpecError(ValueError):
    """An invalid specs.json: the message starts with the JSON path of the offending field."""


# ---------------------------------------------------------------- split (docs/specs.md, "Split")
def splitmix64_stream(seed: int):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def permutation(n: int, seed: int) -> list[int]:
    """Fisher-Yates driven by SplitMix64, exactly as documented."""
    p = list(range(n))
    rng = splitmix64_stream(seed)
    for i in range(n - 1, 0, -1):
        j = next(rng) % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def split_runs(n: int, split: dict) -> tuple[list[list[int]], list[list[int]]]:
    """Train and test parts as lists of runs (each run a list of row indices)."""
    if "test_fraction" in split:
        n_test = math.floor(n * split["test_fraction"] + 0.5)
        if not 1 <= n_test <= n - 1:
            raise SpecError(
                f"dataset.split.test_fraction: {split['test_fraction']} of {n} rows gives "
                f"{n_test} test rows; need between 1 and {n - 1}")
        if split["order"] == "ordered":
            rows = list(range(n))
            return [rows[: n - n_test]], [rows[n - n_test:]]
        p = permutation(n, split["seed"])
        return [sorted(p[: n - n_test])], [sorted(p[n - n_test:])]
    parts = []
    seen: dict[int, str] = {}
    for key in ("train_rows", "test_rows"):
        runs = []
        for k, (start, end) in enumerate(split[key]):
            if end > n:
                raise SpecError(f"dataset.split.{key}[{k}]: [{start}, {end}) exceeds the {n} data rows")
            for r in range(start, end):
                if r in seen:
                    raise SpecError(f"dataset.split.{key}[{k}]: row {r} is also in {seen[r]}")
                seen[r] = f"dataset.split.{key}[{k}]"
            runs.append(list(range(start, end)))
        parts.append(runs)
    return parts[0], parts[1]


# ---------------------------------------------------------------- validation of the JSON itself
def _fields(obj, path, allowed, required=()):
    if not isinstance(obj, dict):
        raise SpecError(f"{path}: expected an object")
    for k in obj:
        if k not in allowed:
            raise SpecError(f"{path}.{k}: unknown field (allowed: {', '.join(allowed)})".lstrip("."))
    for k in required:
        if k not in obj:
            raise SpecError(f"{path}.{k}: missing required field".lstrip("."))


def _int(v, path, lo=None):
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{path}: expected an integer, got {json.dumps(v)}")
    if lo is not None and v < lo:
        raise SpecError(f"{path}: must be >= {lo}, got {v}")
    return v


def _num(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpecError(f"{path}: expected a finite number, got {json.dumps(v)}")
    return float(v)


def _str(v, path, choices=None, nonempty=False):
    if not isinstance(v, str):
        raise SpecError(f"{path}: expected a string, got {json.dumps(v)}")
    if choices is not None and v not in choices:
        raise SpecError(f"{path}: {json.dumps(v)} is not one of {', '.join(choices)}")
    if nonempty and not v:
        raise SpecError(f"{path}: must not be empty")
    return v


def _tensor(t, path, is_output, task):
    _fields(t, path, ("name", "shape", "layout", "dtype", "normalization", "unit", "scale",
                      "zero_point"), ("name", "shape", "layout"))
    _str(t["name"], f"{path}.name", nonempty=True)
    layout = _str(t["layout"], f"{path}.layout", tuple(LAYOUTS))
    shape = t["shape"]
    if not isinstance(shape, list):
        raise SpecError(f"{path}.shape: expected an array of integers")
    for k, d in enumerate(shape):
        _int(d, f"{path}.shape[{k}]", 1)
    if len(shape) != len(layout):
        raise SpecError(f"{path}.shape: layout \"{layout}\" needs rank {len(layout)}, got {shape}")
    if shape[0] != 1:
        raise SpecError(f"{path}.shape[0]: the batch dimension must be 1, got {shape[0]}")
    dtype = _str(t.get("dtype", "float32"), f"{path}.dtype", DTYPES)
    if dtype == "float32":
        for k in ("scale", "zero_point"):
            if k in t:
                raise SpecError(f"{path}.{k}: only allowed with dtype int8 or int16")
    else:
        for k in ("scale", "zero_point"):
            if k not in t:
                raise SpecError(f"{path}.{k}: required with dtype {dtype}")
        if _num(t["scale"], f"{path}.scale") <= 0:
            raise SpecError(f"{path}.scale: must be > 0, got {t['scale']}")
        zp = _int(t["zero_point"], f"{path}.zero_point")
        if dtype == "int8" and not -128 <= zp <= 127:
            raise SpecError(f"{path}.zero_point: must be in [-128, 127] for int8, got {zp}")
        if dtype == "int16" and zp != 0:
            raise SpecError(f"{path}.zero_point: must be 0 for int16, got {zp}")
    if "unit" in t:
        _str(t["unit"], f"{path}.unit")
    if is_output and task == "classification":
        if layout != "nc" or shape[1] < 2:
            raise SpecError(f"{path}: a classification output must have layout \"nc\" and shape "
                            f"[1, K] with K >= 2, got {layout} {shape}")
        if "normalization" in t:
            raise SpecError(f"{path}.normalization: not allowed on a classification output")
    if "normalization" in t:
        n = t["normalization"]
        npath = f"{path}.normalization"
        _fields(n, npath, ("mean", "std", "min", "max"))
        keys = tuple(sorted(n))
        if keys not in (("mean", "std"), ("max", "min")):
            raise SpecError(f"{npath}: give either mean and std, or min and max (got "
                            f"{', '.join(keys) or 'nothing'})")
        channels = shape[LAYOUTS[layout]]
        for k in keys:
            arr = n[k]
            if not isinstance(arr, list):
                raise SpecError(f"{npath}.{k}: expected an array of numbers")
            if len(arr) != channels:
                raise SpecError(f"{npath}.{k}: has {len(arr)} values, but the {layout} shape "
                                f"{shape} has {channels} channels")
            for i, v in enumerate(arr):
                _num(v, f"{npath}.{k}[{i}]")
        for i in range(channels):
            if "std" in n and n["std"][i] <= 0:
                raise SpecError(f"{npath}.std[{i}]: must be > 0, got {n['std'][i]}")
            if "min" in n and not n["max"][i] > n["min"][i]:
                raise SpecError(f"{npath}.max[{i}]: must be > min[{i}] ({n['min'][i]}), got {n['max'][i]}")


def _drop_nulls(v):
    # `null` is the same as leaving the field out (docs/specs.md, "General rules")
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_nulls(x) for x in v]
    return v


def validate(spec: dict) -> dict:
    """Checks everything that needs only the JSON; returns the spec with defaults filled in."""
    spec = _drop_nulls(spec)
    _fields(spec, "", ("version", "name", "description", "task", "metric", "inputs", "outputs",
                       "dataset", "training"),
            ("version", "task", "inputs", "outputs", "dataset"))
    if _int(spec["version"], "version") != 1:
        raise SpecError(f"version: only version 1 is defined, got {spec['version']}")
    for k in ("name", "description"):
        if k in spec:
            _str(spec[k], k)
    task = _str(spec["task"], "task", ("regression", "classification"))
    metrics = ("mae", "rmse") if task == "regression" else ("accuracy",)
    metric = _str(spec.get("metric", metrics[0]), "metric")
    if metric not in metrics:
        raise SpecError(f"metric: \"{metric}\" does not fit task \"{task}\" (use {', '.join(metrics)})")
    for key in ("inputs", "outputs"):
        ts = spec[key]
        if not isinstance(ts, list) or not ts:
            raise SpecError(f"{key}: expected a non-empty array")
        names = set()
        for i, t in enumerate(ts):
            _tensor(t, f"{key}[{i}]", key == "outputs", task)
            if t["name"] in names:
                raise SpecError(f"{key}[{i}].name: \"{t['name']}\" is used twice")
            names.add(t["name"])

    d = spec["dataset"]
    _fields(d, "dataset", ("file", "header", "label_columns", "feature_columns", "split", "window",
                           "representative_rows"), ("label_columns", "split"))
    _str(d.get("file", "dataset.csv"), "dataset.file", nonempty=True)
    if not isinstance(d.get("header", True), bool):
        raise SpecError("dataset.header: expected true or false")
    for key in ("label_columns", "feature_columns"):
        if key in d:
            cols = d[key]
            if not isinstance(cols, list) or not cols:
                raise SpecError(f"dataset.{key}: expected a non-empty array of column names")
            for i, c in enumerate(cols):
                _str(c, f"dataset.{key}[{i}]", nonempty=True)
                if c in cols[:i]:
                    raise SpecError(f"dataset.{key}[{i}]: \"{c}\" is listed twice")
    for c in d.get("feature_columns", []):
        if c in d["label_columns"]:
            raise SpecError(f"dataset.feature_columns: \"{c}\" is also a label column")
    if "representative_rows" in d:
        _int(d["representative_rows"], "dataset.representative_rows", 1)

    s = d["split"]
    _fields(s, "dataset.split", ("test_fraction", "order", "seed", "train_rows", "test_rows"))
    if "test_fraction" in s:
        if "train_rows" in s or "test_rows" in s:
            raise SpecError("dataset.split: give either test_fraction and order, or train_rows "
                            "and test_rows, not both")
        f = _num(s["test_fraction"], "dataset.split.test_fraction")
        if not 0 < f < 1:
            raise SpecError(f"dataset.split.test_fraction: must be in (0, 1), got {f}")
        if "order" not in s:
            raise SpecError("dataset.split.order: missing required field (\"ordered\" or \"shuffled\")")
        order = _str(s["order"], "dataset.split.order", ("ordered", "shuffled"))
        if order == "shuffled":
            if "seed" not in s:
                raise SpecError("dataset.split.seed: required with order \"shuffled\"")
            seed = _int(s["seed"], "dataset.split.seed", 0)
            if seed > MASK64:
                raise SpecError("dataset.split.seed: must fit in 64 bits")
        elif "seed" in s:
            raise SpecError("dataset.split.seed: only allowed with order \"shuffled\"")
    else:
        for k in ("order", "seed"):
            if k in s:
                raise SpecError(f"dataset.split.{k}: only allowed with test_fraction")
        for k in ("train_rows", "test_rows"):
            if k not in s:
                raise SpecError(f"dataset.split.{k}: missing (give test_fraction and order, or "
                                "train_rows and test_rows)")
            if not isinstance(s[k], list) or not s[k]:
                raise SpecError(f"dataset.split.{k}: expected a non-empty array of [start, end) pairs")
            for i, r in enumerate(s[k]):
                p = f"dataset.split.{k}[{i}]"
                if not isinstance(r, list) or len(r) != 2:
                    raise SpecError(f"{p}: expected [start, end)")
                _int(r[0], f"{p}[0]", 0)
                _int(r[1], f"{p}[1]", 0)
                if r[1] <= r[0]:
                    raise SpecError(f"{p}: end {r[1]} must be greater than start {r[0]}")

    if "window" in d:
        w = _int(d["window"], "dataset.window", 1)
        if s.get("order") == "shuffled":
            raise SpecError("dataset.window: a time series cannot use order \"shuffled\"")
        for i, t in enumerate(spec["inputs"]):
            if t["layout"] != "ntc" or t["shape"][1] != w:
                raise SpecError(f"inputs[{i}]: with dataset.window {w} every input must have "
                                f"layout \"ntc\" and shape [1, {w}, F], got {t['layout']} {t['shape']}")

    n_out = sum(int(np.prod(t["shape"][1:])) for t in spec["outputs"])
    n_labels = len(d["label_columns"])
    if task == "classification" and n_labels != len(spec["outputs"]):
        raise SpecError(f"dataset.label_columns: classification needs one label column per output "
                        f"({len(spec['outputs'])}), got {n_labels}")
    if task == "regression" and n_labels != n_out:
        raise SpecError(f"dataset.label_columns: the outputs have {n_out} values, got {n_labels} "
                        "label columns")

    tr = spec.get("training", {})
    _fields(tr, "training", ("epochs", "batch_size", "learning_rate", "optimizer", "loss"))
    _int(tr.get("epochs", 10), "training.epochs", 1)
    _int(tr.get("batch_size", 32), "training.batch_size", 1)
    if _num(tr.get("learning_rate", 0.001), "training.learning_rate") <= 0:
        raise SpecError("training.learning_rate: must be > 0")
    _str(tr.get("optimizer", "adam"), "training.optimizer", ("adam", "sgd"))
    losses = ("mse", "mae") if task == "regression" else ("cross_entropy",)
    loss = _str(tr.get("loss", losses[0]), "training.loss")
    if loss not in losses:
        raise SpecError(f"training.loss: \"{loss}\" does not fit task \"{task}\" (use {', '.join(losses)})")

    # defaults, for the convenience of the scripts
    out = json.loads(json.dumps(spec))
    out["metric"] = metric
    dd = out["dataset"]
    dd.setdefault("file", "dataset.csv")
    dd.setdefault("header", True)
    dd.setdefault("representative_rows", 200)
    out["training"] = {"epochs": 10, "batch_size": 32, "learning_rate": 0.001, "optimizer": "adam",
                       "loss": losses[0], **tr}
    for t in out["inputs"] + out["outputs"]:
        t.setdefault("dtype", "float32")
        t.setdefault("unit", "")
    return out


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise SpecError(f"duplicate key \"{k}\"")
    return dict(pairs)


def load_spec(model_dir: Path) -> dict:
    text = (Path(model_dir) / "specs.json").read_text(encoding="utf-8")
    return validate(json.loads(text, object_pairs_hook=_no_duplicate_keys))


# ---------------------------------------------------------------- dataset and examples
class Dataset:
    """The examples of a model directory: features in model order, labels, train/test parts."""

    def __init__(self, model_dir: Path, spec: dict):
        d = spec["dataset"]
        path = Path(model_dir) / d["file"]
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if d["header"]:
            names, rows, first_line = rows[0], rows[1:], 2
            for i, c in enumerate(names):
                if not c or c in names[:i]:
                    raise SpecError(f"{path}: header column {i + 1} \"{c}\" is empty or repeated")
        else:
            names, first_line = [str(i) for i in range(len(rows[0]))], 1
        used = [c for c in names if c in d["label_columns"] or c in d.get("feature_columns", names)]
        used_idx = [names.index(c) for c in used]
        values = np.zeros((len(rows), len(names)), np.float32)
        for r, row in enumerate(rows):
            if len(row) != len(names):
                raise SpecError(f"{path}:{r + first_line}: {len(row)} fields, expected {len(names)}")
            for c in used_idx:  # columns that are neither features nor labels are not read
                cell = row[c]
                try:
                    v = float(cell)
                except ValueError:
                    v = math.nan
                if not math.isfinite(v):
                    raise SpecError(f"{path}:{r + first_line}: column {c + 1} ({names[c]}): "
                                    f"\"{cell}\" is not a finite number")
                values[r, c] = v
        for i, c in enumerate(d["label_columns"]):
            if c not in names:
                raise SpecError(f"dataset.label_columns[{i}]: no column \"{c}\" in {path}")
        for i, c in enumerate(d.get("feature_columns", [])):
            if c not in names:
                raise SpecError(f"dataset.feature_columns[{i}]: no column \"{c}\" in {path}")
        feats = d.get("feature_columns") or [c for c in names if c not in d["label_columns"]]
        self.spec, self.names, self.n_rows = spec, names, len(rows)
        self.features = values[:, [names.index(c) for c in feats]]
        self.labels = values[:, [names.index(c) for c in d["label_columns"]]]
        window = d.get("window")
        per_row = sum(t["shape"][2] if window else int(np.prod(t["shape"][1:]))
                      for t in spec["inputs"])
        if per_row != len(feats):
            raise SpecError(f"dataset: the inputs take {per_row} feature values per row, but "
                            f"there are {len(feats)} feature columns")
        if spec["task"] == "classification":
            for o, t in enumerate(spec["outputs"]):
                lab = self.labels[:, o]
                bad = np.nonzero((lab != np.round(lab)) | (lab < 0) | (lab >= t["shape"][1]))[0]
                if len(bad):
                    raise SpecError(f"{path}:{bad[0] + first_line}: label {lab[bad[0]]} is not a "
                                    f"class index in [0, {t['shape'][1]})")
        self.train_runs, self.test_runs = split_runs(self.n_rows, d["split"])

    def examples(self, part: str):
        """(inputs: list of float32 arrays [n, *shape[1:]] in raw units, labels [n, L])."""
        runs = self.train_runs if part == "train" else self.test_runs
        window = self.spec["dataset"].get("window")
        if window:
            starts = []
            for k, run in enumerate(runs):
                if len(run) < window:
                    raise SpecError(f"dataset: a {part} run of {len(run)} rows is shorter than "
                                    f"the window {window}")
                starts += [run[i] for i in range(len(run) - window + 1)]
            idx = np.array(starts)
            feats = np.stack([self.features[idx + t] for t in range(window)], axis=1)  # n,T,F
            labels = self.labels[idx + window - 1]
            inputs, c0 = [], 0
            for t in self.spec["inputs"]:
                f = t["shape"][2]
                inputs.append(feats[:, :, c0:c0 + f])
                c0 += f
            return inputs, labels
        idx = np.array([r for run in runs for r in run])
        inputs, c0 = [], 0
        for t in self.spec["inputs"]:
            k = int(np.prod(t["shape"][1:]))
            inputs.append(self.features[idx, c0:c0 + k].reshape((len(idx), *t["shape"][1:])))
            c0 += k
        return inputs, self.labels[idx]


def _affine(t):
    """(a, b) per channel such that model value = raw * a + b; None without normalization."""
    n = t.get("normalization")
    if n is None:
        return None
    if "mean" in n:
        a = 1.0 / np.asarray(n["std"], np.float64)
        return a, -np.asarray(n["mean"], np.float64) * a
    lo, hi = np.asarray(n["min"], np.float64), np.asarray(n["max"], np.float64)
    return 1.0 / (hi - lo), -lo / (hi - lo)


def _channel_view(x, layout):
    # move the channel axis (batch dimension included as axis 0) last for broadcasting
    return np.moveaxis(x, LAYOUTS[layout], -1)


def normalize_input(x, t):
    ab = _affine(t)
    if ab is None:
        return x.astype(np.float32)
    v = _channel_view(x.astype(np.float64), t["layout"])
    v = v * ab[0] + ab[1]
    return np.moveaxis(v, -1, LAYOUTS[t["layout"]]).astype(np.float32)


def denormalize_output(y, t):
    n = t.get("normalization")
    if n is None:
        return y.astype(np.float64)
    v = _channel_view(y.astype(np.float64), t["layout"])
    if "mean" in n:
        v = v * np.asarray(n["std"]) + np.asarray(n["mean"])
    else:
        v = v * (np.asarray(n["max"]) - np.asarray(n["min"])) + np.asarray(n["min"])
    return np.moveaxis(v, -1, LAYOUTS[t["layout"]])


def metrics(spec, outputs, labels) -> dict:
    """outputs: list of model outputs [n, *shape[1:]] (model space); labels [n, L] raw."""
    if spec["task"] == "classification":
        hits = [np.argmax(o.reshape(len(o), -1), axis=1) == labels[:, i].astype(int)
                for i, o in enumerate(outputs)]
        return {"accuracy": float(np.mean(np.concatenate(hits)))}
    pred = np.concatenate([denormalize_output(o, t).reshape(len(o), -1)
                           for o, t in zip(outputs, spec["outputs"])], axis=1)
    err = pred - labels.astype(np.float64)
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}

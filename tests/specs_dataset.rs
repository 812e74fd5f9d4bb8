//! specs.json and dataset.csv (docs/specs.md): the bundled models load and split exactly as the
//! Python reference reader (models/tflm_specs.py) does, and every error names the file and the
//! JSON path, or the file, line and column.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tflm::dataset::{Dataset, Target};
use tflm::specs::{Dtype, IoType, Layout, Metric, Specs, SpecsError, Task};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

// ------------------------------------------------------------------ the bundled models

#[test]
fn digits_loads_and_splits_as_the_reference() {
    let specs = Specs::from_dir(&models().join("digits")).unwrap();
    assert_eq!(specs.name.as_deref(), Some("digits"));
    assert_eq!(specs.task, Task::Classification);
    assert_eq!(specs.metric(), Metric::Accuracy);
    assert_eq!(specs.inputs[0].layout, Layout::Nhwc);
    let data = Dataset::load(&specs).unwrap();
    assert_eq!(data.n_rows, 1797);
    assert_eq!(data.columns.len(), 65);
    assert_eq!(data.feature_columns.len(), 64);
    assert_eq!(data.feature_columns[0], "p00");
    assert_eq!(data.feature_columns[63], "p77");
    assert_eq!((data.train.len(), data.test.len()), (1438, 359));
    let train = data.train_rows();
    let test = data.test_rows();
    assert_eq!(&train[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(&test[..10], &[0, 14, 15, 21, 32, 33, 34, 38, 39, 40]);
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1797).collect::<Vec<_>>());

    // Row 0 of dataset.csv: the first test example, a 0.
    let e = &data.test[0];
    assert_eq!(e.row, 0);
    assert_eq!(e.target, Target::Classes(vec![0]));
    assert_eq!(e.inputs.len(), 1);
    assert_eq!(
        &e.inputs[0][..8],
        &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]
    );
    // min-max 0..16 to [0, 1]
    let model = e.model_inputs(&specs);
    assert_eq!(model[0].len(), 64);
    assert_eq!(model[0][2], 5.0 / 16.0);
    assert_eq!(model[0][3], 13.0 / 16.0);

    // Calibration: the first 200 training examples.
    let rep = data.representative();
    assert_eq!(rep.len(), 200);
    assert_eq!(rep[0].row, 1);
    assert_eq!(rep[199].row, data.train[199].row);
}

#[test]
fn sine_loads_with_an_ordered_split() {
    let specs = Specs::from_dir(&models().join("sine")).unwrap();
    assert_eq!(specs.task, Task::Regression);
    assert_eq!(specs.metric(), Metric::Mae);
    assert_eq!(specs.training().epochs, 50);
    let data = Dataset::load(&specs).unwrap();
    assert_eq!(data.n_rows, 1000);
    assert_eq!(data.train_rows(), (0..800).collect::<Vec<_>>());
    assert_eq!(data.test_rows(), (800..1000).collect::<Vec<_>>());
    assert_eq!(data.representative().len(), 200);
    // Row 0: x = 6.13679, y = 0.03526
    let e = &data.train[0];
    assert_eq!(e.inputs, vec![vec![6.13679f32]]);
    assert_eq!(e.target, Target::Values(vec![vec![0.03526f32]]));
    let x = e.model_inputs(&specs)[0][0];
    assert_eq!(x, ((f64::from(6.13679f32) - 3.1012) / 1.841141) as f32);
    // The inverse map takes model values back to raw ones.
    let t = &specs.inputs[0];
    let back = t.denormalize(&[x])[0];
    assert!((back - 6.13679).abs() < 1e-5, "{back}");
}

#[test]
fn co2_loads_as_windows() {
    let specs = Specs::from_dir(&models().join("co2")).unwrap();
    assert_eq!(specs.name.as_deref(), Some("co2"));
    assert_eq!(specs.task, Task::Regression);
    assert_eq!(specs.metric(), Metric::Mae);
    assert_eq!(specs.inputs[0].layout, Layout::Ntc);
    assert_eq!(specs.inputs[0].shape, [1, 24, 3]);
    assert_eq!(specs.dataset.window, Some(24));
    let data = Dataset::load(&specs).unwrap();
    // 28 days of 2-minute rows; the time column is not read.
    assert_eq!(data.n_rows, 20160);
    assert_eq!(data.columns.len(), 5);
    assert_eq!(data.feature_columns, ["co2", "temperature", "humidity"]);
    // Ordered split 0.25: rows 0..15120 train, 15120..20160 test, one window per start row
    // inside each run (15120 - 23 and 5040 - 23 windows).
    assert_eq!(data.train_runs, [(0..15120).collect::<Vec<_>>()]);
    assert_eq!(data.test_runs, [(15120..20160).collect::<Vec<_>>()]);
    assert_eq!((data.train.len(), data.test.len()), (15097, 5017));
    assert_eq!(data.train.last().unwrap().row, 15120 - 24);
    assert_eq!(data.test[0].row, 15120);
    assert_eq!(data.test.last().unwrap().row, 20160 - 24);

    // The first window: rows 0..24, time step t = row t's (co2, temperature, humidity);
    // rows 0 and 1 are "438,17.08,51.7" and "449,16.95,51.8". The label is row 23's
    // co2_in_10min (443: the CO2 reading of row 28).
    let e = &data.train[0];
    assert_eq!(e.inputs[0].len(), 24 * 3);
    assert_eq!(&e.inputs[0][..6], &[438.0, 17.08, 51.7, 449.0, 16.95, 51.8]);
    assert_eq!(e.target, Target::Values(vec![vec![443.0]]));
    // Standardization per channel (co2, temperature, humidity).
    let m = e.model_inputs(&specs);
    assert_eq!(m[0][0], ((438.0 - 571.3542) / 204.0134) as f32);
    assert_eq!(m[0][4], ((f64::from(16.95f32) - 19.2741) / 2.1135) as f32);
    // The first test window starts at midnight on day 22.
    let t = &data.test[0];
    assert_eq!(&t.inputs[0][..3], &[434.0, 16.53, 36.7]);

    // Calibration: the first week of training windows.
    let rep = data.representative();
    assert_eq!(rep.len(), 5040);
    assert_eq!(rep[5039].row, 5039);
}

#[test]
fn bundled_specs_survive_a_round_trip() {
    for m in ["sine", "digits", "co2"] {
        let path = models().join(m).join("specs.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let specs = Specs::from_str(&text, "specs.json").unwrap();
        let written = specs.to_json_string();
        // Written in the bundled files' own style: the same text.
        assert_eq!(written, text, "{m}");
        assert_eq!(Specs::from_str(&written, "specs.json").unwrap(), specs);
    }
}

#[test]
fn exported_specs_carry_the_io_quantization() {
    let specs = Specs::from_dir(&models().join("sine")).unwrap();
    let out = specs
        .with_io_quantization(
            &[IoType::Int8 {
                scale: 0.013378,
                zero_point: -2,
            }],
            &[IoType::Int8 {
                scale: 0.008_152_174,
                zero_point: 5,
            }],
        )
        .unwrap();
    assert_eq!(out.inputs[0].dtype(), Dtype::Int8);
    let text = out.to_json_string();
    assert!(
        text.contains(
            "      \"layout\": \"nc\",\n      \"dtype\": \"int8\",\n      \"scale\": 0.013378,\n      \"zero_point\": -2,\n      \"normalization\": {"
        ),
        "{text}"
    );
    assert!(text.contains("\"scale\": 0.008152174,"), "{text}");
    // Deterministic, and read back as the same document.
    assert_eq!(text, out.to_json_string());
    let back = Specs::from_str(&text, "export/specs.json").unwrap();
    assert_eq!(back.inputs, out.inputs);
    assert_eq!(back.outputs, out.outputs);

    // A float model keeps float32 and no quantization fields.
    let f = specs
        .with_io_quantization(&[IoType::Float32], &[IoType::Float32])
        .unwrap();
    assert!(!f.to_json_string().contains("scale"));

    // The wrong number of I/O types, and an int16 zero point other than 0.
    let e = specs
        .with_io_quantization(&[IoType::Float32, IoType::Float32], &[IoType::Float32])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: inputs: the specs have 1 inputs, but 2 I/O types were given",
            models().join("sine/specs.json").display()
        )
    );
    let e = specs
        .with_io_quantization(
            &[IoType::Float32],
            &[IoType::Int16 {
                scale: 0.5,
                zero_point: 3,
            }],
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("specs.json: outputs[0].zero_point: must be 0 for int16, got 3"),
        "{e}"
    );
}

// ------------------------------------------------------------------ specs.json errors

/// A valid regression document: one ntc input [1, 4, 2] with standardization, a time series.
fn base() -> Value {
    json!({
        "version": 1,
        "task": "regression",
        "inputs": [{"name": "history", "shape": [1, 4, 2], "layout": "ntc",
                    "normalization": {"mean": [10.0, 20.0], "std": [2.0, 4.0]}}],
        "outputs": [{"name": "next", "shape": [1, 1], "layout": "nc"}],
        "dataset": {"label_columns": ["y"], "feature_columns": ["a", "b"],
                    "split": {"train_rows": [[0, 6]], "test_rows": [[6, 10]]}, "window": 4}
    })
}

/// A valid classification document: nc input [1, 3], 3 classes, shuffled split.
fn base_cls() -> Value {
    json!({
        "version": 1,
        "task": "classification",
        "inputs": [{"name": "x", "shape": [1, 3], "layout": "nc"}],
        "outputs": [{"name": "p", "shape": [1, 3], "layout": "nc"}],
        "dataset": {"label_columns": ["label"],
                    "split": {"test_fraction": 0.25, "order": "shuffled", "seed": 42}}
    })
}

/// Sets `pointer` (JSON pointer) to `v`, or removes it when `v` is `None`.
fn edit(mut doc: Value, pointer: &str, v: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let p = doc.pointer_mut(parent).unwrap();
    match (p, v) {
        (Value::Object(m), Some(v)) => {
            m.insert(key.to_string(), v);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v,
        _ => panic!("bad pointer {pointer}"),
    }
    doc
}

fn specs_error(text: &str) -> String {
    match Specs::from_str(text, "models/x/specs.json") {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

fn err_of(doc: &Value) -> String {
    specs_error(&serde_json::to_string_pretty(doc).unwrap())
}

#[test]
fn base_documents_are_valid() {
    let s = Specs::from_str(&base().to_string(), "x").unwrap();
    assert_eq!(s.name, None);
    assert_eq!(s.metric(), Metric::Mae);
    assert_eq!(s.dataset.representative_rows(), 200);
    assert_eq!(s.dataset.file(), "dataset.csv");
    assert!(s.dataset.header());
    let t = s.training();
    assert_eq!((t.epochs, t.batch_size, t.learning_rate), (10, 32, 0.001));
    assert_eq!(t.loss, tflm::specs::Loss::Mse);
    let c = Specs::from_str(&base_cls().to_string(), "x").unwrap();
    assert_eq!(c.metric(), Metric::Accuracy);
    assert_eq!(c.training().loss, tflm::specs::Loss::CrossEntropy);
    // null is the same as absent
    let n = edit(base(), "/metric", Some(Value::Null));
    assert_eq!(Specs::from_str(&n.to_string(), "x").unwrap().metric, None);
}

#[test]
fn json_type_errors_name_the_path() {
    let cases: Vec<(Value, &str)> =
        vec![
        (
            edit(base(), "/inputs/0/shape", Some(json!([1, 4.0, 2]))),
            "models/x/specs.json: inputs[0].shape[1]: invalid type: floating point `4.0`, \
             expected a non-negative integer (line 42, column 11)",
        ),
        (
            edit(base(), "/version", Some(Value::Null)),
            "models/x/specs.json: version: is null, but the field is required (line 58, column 17)",
        ),
        (
            edit(base(), "/version", None),
            "models/x/specs.json: version: missing required field (line 58, column 1)",
        ),
        (
            edit(base(), "/inputs/0/bias", Some(json!(1))),
            "models/x/specs.json: inputs[0].bias: unknown field `bias`, expected one of `name`, \
             `shape`, `layout`, `dtype`, `scale`, `zero_point`, `normalization`, `unit` \
             (line 28, column 12)",
        ),
        (
            edit(base(), "/task", Some(json!("Regression"))),
            "models/x/specs.json: task: unknown variant `Regression`, expected `regression` or \
             `classification` (line 57, column 22)",
        ),
        (
            edit(base(), "/dataset/header", Some(json!("yes"))),
            "models/x/specs.json: dataset.header: invalid type: string \"yes\", expected true or \
             false (line 7, column 19)",
        ),
        (
            edit(base(), "/dataset/split/train_rows", Some(json!([[0, 6, 7]]))),
            "models/x/specs.json: dataset.split.train_rows[0]: expected a [start, end] pair, \
             got 3 values (line 23, column 7)",
        ),
        (
            edit(base(), "/inputs/0/name", None),
            "models/x/specs.json: inputs[0].name: missing required field (line 44, column 5)",
        ),
        (
            edit(base(), "/dataset", Some(json!([]))),
            "models/x/specs.json: dataset: expected an object, got an array (line 2, column 15)",
        ),
        (
            edit(base(), "/inputs/0/shape", Some(json!([1, -4, 2]))),
            "models/x/specs.json: inputs[0].shape[1]: invalid value: integer `-4`, expected a \
             non-negative integer (line 42, column 10)",
        ),
    ];
    let got: Vec<String> = cases.iter().map(|(doc, _)| err_of(doc)).collect();
    let want: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    assert_eq!(got, want);
}

#[test]
fn strict_integers_and_duplicate_keys() {
    let text = base()
        .to_string()
        .replace("\"version\":1", "\"version\":1.0");
    assert_eq!(
        specs_error(&text),
        "models/x/specs.json: version: invalid type: floating point `1.0`, expected a \
         non-negative integer (line 1, column 329)"
    );
    let text = base()
        .to_string()
        .replace("\"version\":1", "\"version\":1e0");
    assert!(specs_error(&text).contains("version: invalid type: floating point `1.0`"));
    let text = base()
        .to_string()
        .replace("\"version\":1", "\"version\":1,\"version\":1");
    assert_eq!(
        specs_error(&text),
        "models/x/specs.json: version: duplicate key (line 1, column 337)"
    );
    let text = base().to_string().replace(
        "\"mean\":[10.0,20.0]",
        "\"mean\":[10.0,20.0],\"mean\":[1.0,2.0]",
    );
    assert_eq!(
        specs_error(&text),
        "models/x/specs.json: inputs[0].normalization.mean: duplicate key (line 1, column 211)"
    );
    // A derived struct would take an array of its fields in order: not in this schema.
    let mut doc = base();
    doc["dataset"] = json!([null, null, ["y"], ["a", "b"], {"train_rows": [[0, 6]],
                            "test_rows": [[6, 10]]}, 4, null]);
    assert_eq!(
        specs_error(&doc.to_string()),
        "models/x/specs.json: dataset: expected an object, got an array"
    );
    doc = base();
    doc["training"] = json!([1, 2, 0.1, "sgd", "mae"]);
    assert_eq!(
        specs_error(&doc.to_string()),
        "models/x/specs.json: training: expected an object, got an array"
    );
    doc = base();
    doc["inputs"][0]["normalization"] = json!([[1.0, 1.0], [1.0, 1.0], null, null]);
    assert_eq!(
        specs_error(&doc.to_string()),
        "models/x/specs.json: inputs[0].normalization: expected an object, got an array"
    );
    // A syntax error gives file, line and column.
    assert_eq!(
        specs_error("{\n  \"version\": 1,\n}"),
        "models/x/specs.json:3:1: trailing comma"
    );
    let text = format!("{} x", base());
    assert_eq!(
        specs_error(&text),
        format!("models/x/specs.json:1:{}: trailing characters", text.len())
    );
}

#[test]
fn schema_rules_name_the_path() {
    let f = "models/x/specs.json";
    let cases: Vec<(Value, String)> = vec![
        (
            edit(base(), "/version", Some(json!(2))),
            "version: only version 1 is defined, got 2".into(),
        ),
        (
            edit(base(), "/metric", Some(json!("accuracy"))),
            "metric: \"accuracy\" does not fit task \"regression\" (use mae, rmse)".into(),
        ),
        (
            edit(base_cls(), "/metric", Some(json!("mae"))),
            "metric: \"mae\" does not fit task \"classification\" (use accuracy)".into(),
        ),
        (
            edit(base(), "/training", Some(json!({"loss": "cross_entropy"}))),
            "training.loss: \"cross_entropy\" does not fit task \"regression\" (use mse, mae)"
                .into(),
        ),
        (
            edit(base(), "/inputs", Some(json!([]))),
            "inputs: expected a non-empty array".into(),
        ),
        (
            edit(base(), "/outputs", Some(json!([]))),
            "outputs: expected a non-empty array".into(),
        ),
        (
            edit(base(), "/inputs/0/name", Some(json!(""))),
            "inputs[0].name: must not be empty".into(),
        ),
        (
            edit(
                base_cls(),
                "/inputs",
                Some(json!([{"name": "x", "shape": [1, 3], "layout": "nc"},
                            {"name": "x", "shape": [1, 3], "layout": "nc"}])),
            ),
            "inputs[1].name: \"x\" is used twice".into(),
        ),
        (
            edit(base(), "/inputs/0/shape", Some(json!([1, 4]))),
            "inputs[0].shape: layout \"ntc\" needs rank 3, got [1, 4]".into(),
        ),
        (
            edit(base(), "/inputs/0/shape", Some(json!([2, 4, 2]))),
            "inputs[0].shape[0]: the batch dimension must be 1, got 2".into(),
        ),
        (
            edit(base(), "/inputs/0/shape", Some(json!([1, 0, 2]))),
            "inputs[0].shape[1]: must be >= 1, got 0".into(),
        ),
        (
            edit(base(), "/outputs/0/scale", Some(json!(0.5))),
            "outputs[0].scale: only allowed with dtype int8 or int16".into(),
        ),
        (
            edit(base(), "/outputs/0/dtype", Some(json!("int8"))),
            "outputs[0].scale: required with dtype int8".into(),
        ),
        (
            edit(
                edit(base(), "/outputs/0/dtype", Some(json!("int8"))),
                "/outputs/0/scale",
                Some(json!(0.1)),
            ),
            "outputs[0].zero_point: required with dtype int8".into(),
        ),
        (
            edit(
                base(),
                "/outputs/0",
                Some(
                    json!({"name": "next", "shape": [1, 1], "layout": "nc", "dtype": "int8",
                            "scale": 0.0, "zero_point": 0}),
                ),
            ),
            "outputs[0].scale: must be > 0, got 0".into(),
        ),
        (
            edit(
                base(),
                "/outputs/0",
                Some(
                    json!({"name": "next", "shape": [1, 1], "layout": "nc", "dtype": "int8",
                            "scale": 0.1, "zero_point": 128}),
                ),
            ),
            "outputs[0].zero_point: must be in [-128, 127] for int8, got 128".into(),
        ),
        (
            edit(
                base(),
                "/outputs/0",
                Some(
                    json!({"name": "next", "shape": [1, 1], "layout": "nc", "dtype": "int16",
                            "scale": 0.1, "zero_point": -1}),
                ),
            ),
            "outputs[0].zero_point: must be 0 for int16, got -1".into(),
        ),
        (
            edit(
                base(),
                "/inputs/0/normalization/std",
                Some(json!([1.0, 2.0, 3.0])),
            ),
            "inputs[0].normalization.std: has 3 values, but the ntc shape [1, 4, 2] has 2 \
             channels"
                .into(),
        ),
        (
            edit(base(), "/inputs/0/normalization/std", None),
            "inputs[0].normalization: give either mean and std, or min and max (got mean)".into(),
        ),
        (
            edit(
                base(),
                "/inputs/0/normalization/min",
                Some(json!([0.0, 0.0])),
            ),
            "inputs[0].normalization: give either mean and std, or min and max (got mean, std, \
             min)"
                .into(),
        ),
        (
            edit(base(), "/inputs/0/normalization", Some(json!({}))),
            "inputs[0].normalization: give either mean and std, or min and max (got nothing)"
                .into(),
        ),
        (
            edit(
                base(),
                "/inputs/0/normalization/std",
                Some(json!([1.0, 0.0])),
            ),
            "inputs[0].normalization.std[1]: must be > 0, got 0".into(),
        ),
        (
            edit(
                base(),
                "/inputs/0/normalization",
                Some(json!({"min": [0.0, 5.0], "max": [1.0, 5.0]})),
            ),
            "inputs[0].normalization.max[1]: must be > min[1] (5), got 5".into(),
        ),
        (
            edit(base_cls(), "/outputs/0/shape", Some(json!([1, 1]))),
            "outputs[0]: a classification output must have layout \"nc\" and shape [1, K] with \
             K >= 2, got nc [1, 1]"
                .into(),
        ),
        (
            edit(
                base_cls(),
                "/outputs/0/normalization",
                Some(json!({"min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 1.0]})),
            ),
            "outputs[0].normalization: not allowed on a classification output".into(),
        ),
        (
            edit(base(), "/dataset/label_columns", Some(json!([]))),
            "dataset.label_columns: expected a non-empty array of column names".into(),
        ),
        (
            edit(base(), "/dataset/feature_columns", Some(json!([]))),
            "dataset.feature_columns: expected a non-empty array of column names".into(),
        ),
        (
            edit(base(), "/dataset/feature_columns", Some(json!(["a", "a"]))),
            "dataset.feature_columns[1]: \"a\" is listed twice".into(),
        ),
        (
            edit(base(), "/dataset/feature_columns", Some(json!(["a", "y"]))),
            "dataset.feature_columns[1]: \"y\" is also a label column".into(),
        ),
        (
            edit(base(), "/dataset/label_columns", Some(json!(["y", "z"]))),
            "dataset.label_columns: the outputs have 1 values, got 2 label columns".into(),
        ),
        (
            edit(
                base_cls(),
                "/dataset/label_columns",
                Some(json!(["label", "other"])),
            ),
            "dataset.label_columns: classification needs one label column per output (1), got 2"
                .into(),
        ),
        (
            edit(base(), "/dataset/split/test_fraction", Some(json!(0.2))),
            "dataset.split: give either test_fraction and order, or train_rows and test_rows, \
             not both"
                .into(),
        ),
        (
            edit(base_cls(), "/dataset/split/test_fraction", Some(json!(1.0))),
            "dataset.split.test_fraction: must be in (0, 1), got 1".into(),
        ),
        (
            edit(base_cls(), "/dataset/split/order", None),
            "dataset.split.order: missing required field (\"ordered\" or \"shuffled\")".into(),
        ),
        (
            edit(base_cls(), "/dataset/split/seed", None),
            "dataset.split.seed: required with order \"shuffled\"".into(),
        ),
        (
            edit(base_cls(), "/dataset/split/order", Some(json!("ordered"))),
            "dataset.split.seed: only allowed with order \"shuffled\"".into(),
        ),
        (
            edit(base(), "/dataset/split/order", Some(json!("ordered"))),
            "dataset.split.order: only allowed with test_fraction".into(),
        ),
        (
            edit(base(), "/dataset/split/test_rows", None),
            "dataset.split.test_rows: missing (give test_fraction and order, or train_rows and \
             test_rows)"
                .into(),
        ),
        (
            edit(base(), "/dataset/split/test_rows", Some(json!([]))),
            "dataset.split.test_rows: expected a non-empty array of [start, end) pairs".into(),
        ),
        (
            edit(base(), "/dataset/split/test_rows", Some(json!([[6, 6]]))),
            "dataset.split.test_rows[0]: end 6 must be greater than start 6".into(),
        ),
        (
            edit(base(), "/dataset/window", Some(json!(0))),
            "dataset.window: must be >= 1, got 0".into(),
        ),
        (
            edit(base(), "/dataset/window", Some(json!(5))),
            "inputs[0]: with dataset.window 5 every input must have layout \"ntc\" and shape \
             [1, 5, F], got ntc [1, 4, 2]"
                .into(),
        ),
        (
            edit(
                base(),
                "/dataset/split",
                Some(json!({"test_fraction": 0.2, "order": "shuffled", "seed": 1})),
            ),
            "dataset.window: a time series cannot use order \"shuffled\"".into(),
        ),
        (
            edit(base(), "/dataset/representative_rows", Some(json!(0))),
            "dataset.representative_rows: must be >= 1, got 0".into(),
        ),
        (
            edit(base(), "/training", Some(json!({"epochs": 0}))),
            "training.epochs: must be >= 1, got 0".into(),
        ),
        (
            edit(base(), "/training", Some(json!({"batch_size": 0}))),
            "training.batch_size: must be >= 1, got 0".into(),
        ),
        (
            edit(base(), "/training", Some(json!({"learning_rate": -0.1}))),
            "training.learning_rate: must be > 0, got -0.1".into(),
        ),
    ];
    let got: Vec<String> = cases.iter().map(|(doc, _)| err_of(doc)).collect();
    let want: Vec<String> = cases.iter().map(|(_, w)| format!("{f}: {w}")).collect();
    assert_eq!(got, want);
}

#[test]
fn missing_specs_file_names_the_path() {
    let e = Specs::from_dir(Path::new("/nonexistent/model")).unwrap_err();
    assert_eq!(e.to_string(), "/nonexistent/model/specs.json: no such file");
    assert!(matches!(e, SpecsError::Io { .. }));
}

// ------------------------------------------------------------------ dataset.csv

fn specs_of(doc: &Value) -> Specs {
    Specs::from_str(&doc.to_string(), "m/specs.json").unwrap()
}

fn csv_error(doc: &Value, csv: &str) -> String {
    match Dataset::from_csv_str(&specs_of(doc), csv, "m/dataset.csv") {
        Ok(d) => panic!("accepted: {d:?}"),
        Err(e) => e.to_string(),
    }
}

const CLS_CSV: &str = "a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,2\n1,1,1,0\n";

#[test]
fn csv_rows_and_fields() {
    let cls = base_cls();
    // shuffled with seed 42 over 4 rows, 1 test row
    let d = Dataset::from_csv_str(&specs_of(&cls), CLS_CSV, "m/dataset.csv").unwrap();
    assert_eq!(d.feature_columns, ["a", "b", "c"]);
    assert_eq!(d.train.len() + d.test.len(), 4);
    assert_eq!(d.test.len(), 1);

    let cases = [
        (
            "a,b,c,label\n1,2,3,0\n4,5,6\n",
            "m/dataset.csv:3:4: 3 fields, but line 1 has 4",
        ),
        (
            "a,b,c,label\n1,2,3,0\n4,5,6,1,9\n",
            "m/dataset.csv:3:5: 5 fields, but line 1 has 4",
        ),
        (
            "a,b,c,label\n1,2,3,0\n4,x,6,1\n",
            "m/dataset.csv:3:2: column \"b\": \"x\" is not a number",
        ),
        (
            "a,b,c,label\n1,2,3,0\n4,NaN,6,1\n",
            "m/dataset.csv:3:2: column \"b\": \"NaN\" is not a finite number",
        ),
        (
            "a,b,c,label\n1,2,inf,0\n4,5,6,1\n",
            "m/dataset.csv:2:3: column \"c\": \"inf\" is not a finite number",
        ),
        (
            "a,b,c,label\n1,,3,0\n4,5,6,1\n",
            "m/dataset.csv:2:2: column \"b\": empty field, expected a number",
        ),
        (
            "a,b,c,label\n1, 2,3,0\n4,5,6,1\n",
            "m/dataset.csv:2:2: column \"b\": \" 2\" is not a number",
        ),
        (
            "a,b,c,label\n1,2,3,0\n4,5,6,3\n",
            "m/dataset.csv:3:4: column \"label\": label 3 is not a class index in [0, 3)",
        ),
        (
            "a,b,c,label\n1,2,3,0.5\n4,5,6,1\n",
            "m/dataset.csv:2:4: column \"label\": label 0.5 is not a class index in [0, 3)",
        ),
        (
            "a,b,c,label\n1,2,3,-1\n4,5,6,1\n",
            "m/dataset.csv:2:4: column \"label\": label -1 is not a class index in [0, 3)",
        ),
        (
            "a,b,,label\n1,2,3,0\n",
            "m/dataset.csv:1:3: empty column name in the header",
        ),
        (
            "a,b,a,label\n1,2,3,0\n",
            "m/dataset.csv:1:3: column name \"a\" repeats column 1",
        ),
        (
            "a,b,c,label\n1,2,3,0\n\n4,5,6,1\n",
            "m/dataset.csv:3: empty line",
        ),
        (
            "a,b,c,label\r\n1,2,3,0\r\n\r\n4,5,6,1\r\n",
            "m/dataset.csv:3: empty line",
        ),
        (
            "a,b,c,label\r\n1,2,3,0\r\n4,x,6,1\r\n",
            "m/dataset.csv:3:2: column \"b\": \"x\" is not a number",
        ),
        (
            "a,b,c,label\r\n1,2,3,0\r\n4,5,6,1\r\n\r\n",
            "m/dataset.csv:4: empty line",
        ),
        ("\na,b,c,label\n1,2,3,0\n", "m/dataset.csv:1: empty line"),
        (
            "a,b,c,label\n1,2,3,0\n4,5,6,1\n\n",
            "m/dataset.csv:4: empty line",
        ),
        ("", "m/dataset.csv:1: the file is empty"),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(csv, _)| {
            Dataset::from_csv_str(&specs_of(&cls), csv, "m/dataset.csv")
                .map_or_else(|e| e.to_string(), |_| format!("accepted: {csv:?}"))
        })
        .collect();
    let want: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    assert_eq!(got, want);
    // 3.0 is a class index; CRLF line ends and no final line end are fine.
    let ok = "a,b,c,label\r\n1,2,3,0\r\n4,5,6,1.0\r\n7,8,9,2\r\n1,1,1,2";
    let d = Dataset::from_csv_str(&specs_of(&cls), ok, "m/dataset.csv").unwrap();
    assert_eq!(d.n_rows, 4);
    let row1 = d.train.iter().chain(&d.test).find(|e| e.row == 1).unwrap();
    assert_eq!(row1.target, Target::Classes(vec![1]));
    // Quoted fields (RFC 4180); a multi-line quoted field in an unused column.
    let doc = edit(
        cls.clone(),
        "/dataset/feature_columns",
        Some(json!(["a", "b", "c"])),
    );
    let q = "a,b,c,note,label\n1,\"2\",3,\"two\nlines\",0\n4,5,6,x,1\n7,8,9,,2\n1,1,1,y,0\n";
    let d = Dataset::from_csv_str(&specs_of(&doc), q, "m/dataset.csv").unwrap();
    assert_eq!(d.n_rows, 4);
    // line numbers count the physical lines
    let bad = "a,b,c,note,label\n1,2,3,\"two\nlines\",0\n4,5,x,z,1\n";
    assert_eq!(
        csv_error(&doc, bad),
        "m/dataset.csv:4:3: column \"c\": \"x\" is not a number"
    );
}

#[test]
fn columns_by_name_and_width() {
    let cls = base_cls();
    let doc = edit(
        cls.clone(),
        "/dataset/label_columns",
        Some(json!(["digit"])),
    );
    assert_eq!(
        csv_error(&doc, CLS_CSV),
        "m/specs.json: dataset.label_columns[0]: no column \"digit\" in m/dataset.csv"
    );
    let doc = edit(
        cls.clone(),
        "/dataset/feature_columns",
        Some(json!(["a", "q", "c"])),
    );
    assert_eq!(
        csv_error(&doc, CLS_CSV),
        "m/specs.json: dataset.feature_columns[1]: no column \"q\" in m/dataset.csv"
    );
    // Default feature columns: every column but the label.
    assert_eq!(
        csv_error(&cls, "a,b,label\n1,2,0\n3,4,1\n"),
        "m/specs.json: dataset: the inputs (x [1, 3]) take 3 values per row, but there are \
         m/dataset.csv has 2 feature columns (every column but the labels)"
    );
    let doc = edit(
        cls.clone(),
        "/dataset/feature_columns",
        Some(json!(["a", "b"])),
    );
    assert_eq!(
        csv_error(&doc, CLS_CSV),
        "m/specs.json: dataset.feature_columns: the inputs (x [1, 3]) take 3 values per row, \
         but there are 2 feature columns"
    );
    // Without a header the columns are "0", "1", ...
    let doc = edit(cls.clone(), "/dataset/header", Some(json!(false)));
    let doc = edit(doc, "/dataset/label_columns", Some(json!(["0"])));
    let d =
        Dataset::from_csv_str(&specs_of(&doc), "2,1,2,3\n0,4,5,6\n1,7,8,9\n", "m/d.csv").unwrap();
    assert_eq!(d.columns, ["0", "1", "2", "3"]);
    assert_eq!(d.feature_columns, ["1", "2", "3"]);
    let e = d.train.iter().chain(&d.test).find(|e| e.row == 0).unwrap();
    assert_eq!(e.inputs, vec![vec![1.0, 2.0, 3.0]]);
    assert_eq!(e.target, Target::Classes(vec![2]));
    assert_eq!(
        csv_error(&doc, "2,1,2,3\n0,4,x,6\n"),
        "m/dataset.csv:2:3: column \"2\": \"x\" is not a number"
    );
}

#[test]
fn unused_columns_are_not_read() {
    let doc = edit(
        base_cls(),
        "/dataset/feature_columns",
        Some(json!(["a", "b", "c"])),
    );
    let csv = "a,b,c,junk,label\n1,2,3,x,0\n4,5,6,nan,1\n";
    let d = Dataset::from_csv_str(&specs_of(&doc), csv, "m/dataset.csv").unwrap();
    assert_eq!(d.n_rows, 2);
}

fn series_csv(rows: usize) -> String {
    let mut s = String::from("a,b,y\n");
    for r in 0..rows {
        s.push_str(&format!("{},{},{}\n", r, 100 + r, 1000 + r));
    }
    s
}

#[test]
fn windows_follow_the_runs() {
    let d = Dataset::from_csv_str(&specs_of(&base()), &series_csv(10), "m/d.csv").unwrap();
    // train rows 0..6 (window 4: starts 0, 1, 2), test rows 6..10 (start 6)
    let starts: Vec<usize> = d.train.iter().map(|e| e.row).collect();
    assert_eq!(starts, [0, 1, 2]);
    assert_eq!(d.test.len(), 1);
    let e = &d.train[1];
    // time step t of the ntc input: row 1 + t's (a, b)
    assert_eq!(
        e.inputs,
        vec![vec![1.0, 101.0, 2.0, 102.0, 3.0, 103.0, 4.0, 104.0]]
    );
    // label of the last row of the window
    assert_eq!(e.target, Target::Values(vec![vec![1004.0]]));
    // normalization per channel: a by (10, 2), b by (20, 4)
    let m = e.model_inputs(&specs_of(&base()));
    assert_eq!(m[0][..2], [(1.0 - 10.0) / 2.0, (101.0 - 20.0) / 4.0]);

    // A run shorter than the window.
    let doc = edit(
        base(),
        "/dataset/split",
        Some(json!({"train_rows": [[0, 6], [8, 10]], "test_rows": [[6, 8]]})),
    );
    assert_eq!(
        csv_error(&doc, &series_csv(10)),
        "m/specs.json: dataset.split.train_rows[1]: the training run of rows 8..10 has 2 rows, \
         fewer than the window 4"
    );
    // Ordered fraction: two runs; the test part of 10 rows at 0.2 has 2 rows.
    let doc = edit(
        base(),
        "/dataset/split",
        Some(json!({"test_fraction": 0.2, "order": "ordered"})),
    );
    assert_eq!(
        csv_error(&doc, &series_csv(10)),
        "m/specs.json: dataset.split.test_fraction: the test run of rows 8..10 has 2 rows, \
         fewer than the window 4"
    );
    let d = Dataset::from_csv_str(&specs_of(&doc), &series_csv(20), "m/d.csv").unwrap();
    assert_eq!(d.train.len(), 16 - 4 + 1);
    assert_eq!(d.test.len(), 1);
    assert_eq!(d.test[0].row, 16);
}

#[test]
fn split_rules() {
    let doc = edit(
        base(),
        "/dataset/split",
        Some(json!({"train_rows": [[0, 6]], "test_rows": [[6, 11]]})),
    );
    assert_eq!(
        csv_error(&doc, &series_csv(10)),
        "m/specs.json: dataset.split.test_rows[0]: [6, 11) exceeds the 10 data rows of m/d.csv"
            .replace("m/d.csv", "m/dataset.csv")
    );
    let doc = edit(
        base(),
        "/dataset/split",
        Some(json!({"train_rows": [[0, 6]], "test_rows": [[5, 10]]})),
    );
    assert_eq!(
        csv_error(&doc, &series_csv(10)),
        "m/specs.json: dataset.split.test_rows[0]: row 5 is also in dataset.split.train_rows[0]"
    );
    let doc = edit(
        base(),
        "/dataset/split",
        Some(json!({"train_rows": [[0, 5], [4, 9]], "test_rows": [[9, 10]]})),
    );
    let doc = edit(doc, "/dataset/window", None);
    let doc = edit(doc, "/inputs/0/shape", Some(json!([1, 1, 2])));
    assert_eq!(
        csv_error(&doc, &series_csv(10)),
        "m/specs.json: dataset.split.train_rows[1]: row 4 is also in dataset.split.train_rows[0]"
    );
    // Ranges: rows in the order listed; rows in neither list are unused.
    let doc = edit(
        doc,
        "/dataset/split",
        Some(json!({"train_rows": [[7, 9], [0, 2]], "test_rows": [[3, 4]]})),
    );
    let d = Dataset::from_csv_str(&specs_of(&doc), &series_csv(10), "m/d.csv").unwrap();
    assert_eq!(d.train_rows(), [7, 8, 0, 1]);
    assert_eq!(d.test_rows(), [3]);
    // Without a window the ntc input [1, 1, 2] takes one row's 2 features.
    assert_eq!(d.train[0].inputs, vec![vec![7.0, 107.0]]);

    // n_test out of range.
    let cls = edit(base_cls(), "/dataset/split/test_fraction", Some(json!(0.1)));
    assert_eq!(
        csv_error(&cls, CLS_CSV),
        "m/specs.json: dataset.split.test_fraction: 0.1 of the 4 rows of m/dataset.csv gives 0 \
         test rows; need between 1 and 3"
    );
    let cls = edit(base_cls(), "/dataset/split/test_fraction", Some(json!(0.9)));
    assert_eq!(
        csv_error(&cls, CLS_CSV),
        "m/specs.json: dataset.split.test_fraction: 0.9 of the 4 rows of m/dataset.csv gives 4 \
         test rows; need between 1 and 3"
    );
    assert_eq!(
        csv_error(&base_cls(), "a,b,c,label\n"),
        "m/specs.json: dataset.split.test_fraction: 0.25 of the 0 rows of m/dataset.csv gives 0 \
         test rows; a split needs at least 2 rows"
    );
}

#[test]
fn shuffled_split_matches_the_documented_vector() {
    // docs/specs.md: n = 10, seed 42, test_fraction 0.25: training rows [0, 4, 5, 6, 7, 8, 9],
    // test rows [1, 2, 3].
    let mut csv = String::from("a,b,c,label\n");
    for r in 0..10 {
        csv.push_str(&format!("{r},0,0,{}\n", r % 3));
    }
    let d = Dataset::from_csv_str(&specs_of(&base_cls()), &csv, "m/d.csv").unwrap();
    assert_eq!(d.train_rows(), [0, 4, 5, 6, 7, 8, 9]);
    assert_eq!(d.test_rows(), [1, 2, 3]);
    assert_eq!(d.test[1].inputs, vec![vec![2.0, 0.0, 0.0]]);
    assert_eq!(d.test[1].target, Target::Classes(vec![2]));
    // representative_rows caps the calibration examples
    let doc = edit(base_cls(), "/dataset/representative_rows", Some(json!(3)));
    let d = Dataset::from_csv_str(&specs_of(&doc), &csv, "m/d.csv").unwrap();
    let rows: Vec<usize> = d.representative().iter().map(|e| e.row).collect();
    assert_eq!(rows, [0, 4, 5]);
}

#[test]
fn dataset_files_resolve_against_the_model_directory() {
    let dir = std::env::temp_dir().join(format!("tflm-specs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = edit(base_cls(), "/dataset/file", Some(json!("data/rows.csv")));
    std::fs::write(dir.join("specs.json"), doc.to_string()).unwrap();
    let specs = Specs::from_dir(&dir).unwrap();
    assert_eq!(
        specs.name.as_deref(),
        Some(dir.file_name().unwrap().to_str().unwrap())
    );
    let e = Dataset::load(&specs).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: no such file", dir.join("data/rows.csv").display())
    );
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/rows.csv"), CLS_CSV).unwrap();
    let d = Dataset::load(&specs).unwrap();
    assert_eq!(d.n_rows, 4);
    // errors name the resolved CSV path, and the specs file as read
    std::fs::write(dir.join("data/rows.csv"), "a,b,c,label\n1,2,3\n").unwrap();
    assert_eq!(
        Dataset::load(&specs).unwrap_err().to_string(),
        format!(
            "{}:2:4: 3 fields, but line 1 has 4",
            dir.join("data/rows.csv").display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `specs.json`: the model directory's description (schema: `docs/specs.md`).
//!
//! The types mirror the JSON document field for field (serde, `deny_unknown_fields`); optional
//! fields are `Option`s (a JSON `null` is the same as an absent field) and their documented
//! defaults are given by accessor methods (`Specs::metric`, `DatasetSpec::file`, ...), so that a
//! document read and written back keeps exactly the fields its author wrote.
//!
//! [`Specs::from_path`] / [`Specs::from_str`] check every rule of the document that needs only
//! the JSON (rules 1 to 13 of "Consistency rules"); the rules that need the CSV are checked by
//! [`crate::dataset::Dataset`]. Every error names the file and the JSON path of the offending
//! field:
//!
//! ```text
//! models/co2/specs.json: inputs[0].normalization.std: has 3 values, but the ntc shape [1, 24, 2] has 2 channels
//! ```
//!
//! The export side: [`Specs::with_io_quantization`] records the converted model's I/O types and
//! [`Specs::to_json_string`] writes the document back (fields in the schema's order, arrays of
//! numbers on one line, as the bundled `specs.json` files are written).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An invalid `specs.json` or `dataset.csv`, or one that cannot be read. The `Display` form is
/// the whole message: file, then the JSON path (or line and column of the CSV), then what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecsError {
    /// The file cannot be read (missing, unreadable, not UTF-8); `path` is the resolved path.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// Not JSON at all (syntax error), at a line and column of the file.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A field that breaks the schema. `path` is its JSON path (`inputs[0].shape[1]`), empty for
    /// the top-level object.
    #[error("{file}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
    Field {
        file: String,
        path: String,
        message: String,
    },
    /// A problem in the CSV file at a line (1-based, the header is line 1) and, when it concerns
    /// one field, a column (1-based field number).
    #[error("{file}:{line}:{}{message}", match column { Some(c) => format!("{c}: "), None => " ".to_string() })]
    Csv {
        file: String,
        line: usize,
        column: Option<usize>,
        message: String,
    },
}

/// `task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Regression,
    Classification,
}

/// `metric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Mae,
    Rmse,
    Accuracy,
}

/// `layout` of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Nc,
    Nhwc,
    Nchw,
    Ntc,
}

impl Layout {
    /// The rank a shape of this layout has.
    pub fn rank(self) -> usize {
        match self {
            Layout::Nc => 2,
            Layout::Ntc => 3,
            Layout::Nhwc | Layout::Nchw => 4,
        }
    }

    /// The channel axis (in the full shape, batch included), which normalization follows.
    pub fn channel_axis(self) -> usize {
        match self {
            Layout::Nc | Layout::Nchw => 1,
            Layout::Ntc => 2,
            Layout::Nhwc => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Nc => "nc",
            Layout::Nhwc => "nhwc",
            Layout::Nchw => "nchw",
            Layout::Ntc => "ntc",
        }
    }
}

/// `dtype` of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    Float32,
    Int8,
    Int16,
}

impl Dtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::Float32 => "float32",
            Dtype::Int8 => "int8",
            Dtype::Int16 => "int16",
        }
    }
}

/// `training.optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Adam,
    Sgd,
}

/// `training.loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Mse,
    Mae,
    CrossEntropy,
}

/// `dataset.split.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Ordered,
    Shuffled,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Specs {
    pub version: u64,
    /// Default: the model directory's name ([`Specs::from_path`] fills it in when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub task: Task,
    /// Default: [`Specs::metric`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub dataset: DatasetSpec,
    /// Default: every field's default ([`Specs::training`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSpec>,
    /// The file the document was read from, as errors name it.
    #[serde(skip)]
    pub source: String,
    /// The model directory (where `dataset.file` is relative to), when read with `from_path`.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// An entry of `inputs` or `outputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub layout: Layout,
    /// Default: `float32` ([`TensorSpec::dtype`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Dtype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_point: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<Normalization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// `normalization`: exactly one pair, `mean` + `std` or `min` + `max` (checked by the reader).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Vec<f64>>,
}

/// `dataset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Default: `"dataset.csv"` ([`DatasetSpec::file`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Default: `true` ([`DatasetSpec::header`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    pub label_columns: Vec<String>,
    /// Default: every column that is not a label, in file order (resolved with the CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_columns: Option<Vec<String>>,
    pub split: Split,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Default: 200 ([`DatasetSpec::representative_rows`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative_rows: Option<usize>,
}

/// `dataset.split`: exactly one form (checked by the reader); see [`Split::kind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_rows: Option<Vec<RowRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_rows: Option<Vec<RowRange>>,
}

/// A `[start, end]` pair of `train_rows` / `test_rows`: the rows `start .. end` (half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "[usize; 2]")]
pub struct RowRange {
    pub start: usize,
    pub end: usize,
}

impl TryFrom<Vec<usize>> for RowRange {
    type Error = String;

    fn try_from(v: Vec<usize>) -> Result<Self, String> {
        match v[..] {
            [start, end] => Ok(RowRange { start, end }),
            _ => Err(format!(
                "expected a [start, end] pair, got {} values",
                v.len()
            )),
        }
    }
}

impl From<RowRange> for [usize; 2] {
    fn from(r: RowRange) -> Self {
        [r.start, r.end]
    }
}

/// `training`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<Optimizer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
}

/// The training settings with every default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Training {
    pub epochs: u64,
    pub batch_size: u64,
    pub learning_rate: f64,
    pub optimizer: Optimizer,
    pub loss: Loss,
}

/// A validated normalization, one value per channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NormKind<'a> {
    /// model = (raw - mean) / std.
    Standardize { mean: &'a [f64], std: &'a [f64] },
    /// model = (raw - min) / (max - min).
    MinMax { min: &'a [f64], max: &'a [f64] },
}

/// A validated split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitKind<'a> {
    /// Training rows `0 .. n - n_test`, test rows `n - n_test .. n`.
    Ordered { test_fraction: f64 },
    /// The SplitMix64 Fisher–Yates permutation of the rows, each part sorted.
    Shuffled { test_fraction: f64, seed: u64 },
    /// Explicit half-open row ranges, each a run.
    Rows {
        train: &'a [RowRange],
        test: &'a [RowRange],
    },
}

/// The I/O type of one converted tensor, for [`Specs::with_io_quantization`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IoType {
    Float32,
    /// int8 with the `.tflite`'s scale and zero point.
    Int8 {
        scale: f32,
        zero_point: i32,
    },
    /// int16 with the `.tflite`'s scale (the zero point is 0).
    Int16 {
        scale: f32,
        zero_point: i32,
    },
}

impl Specs {
    /// Reads and checks `path` (a `specs.json`). `name` defaults to the directory's name and
    /// the dataset file is resolved against that directory.
    pub fn from_path(path: &Path) -> Result<Specs, SpecsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecsError::Io {
            path: path.to_path_buf(),
            message: io_message(&e),
        })?;
        let mut specs = Specs::from_str(&text, &path.display().to_string())?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if specs.name.is_none() {
            let abs = if dir.as_os_str().is_empty() {
                std::env::current_dir().ok()
            } else {
                dir.canonicalize().ok().or_else(|| Some(dir.clone()))
            };
            specs.name = abs
                .as_deref()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned());
        }
        specs.dir = Some(dir);
        Ok(specs)
    }

    /// Reads a model directory's `specs.json`.
    pub fn from_dir(dir: &Path) -> Result<Specs, SpecsError> {
        Specs::from_path(&dir.join("specs.json"))
    }

    /// Parses and checks the text of a `specs.json`; `file_name` is what errors call the file.
    /// (`name` stays absent when the document has none: there is no directory to name it.)
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, file_name: &str) -> Result<Specs, SpecsError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let result: Result<Specs, _> = serde_path_to_error::deserialize(&mut de);
        let mut specs = match result {
            Ok(s) => s,
            Err(e) => return Err(serde_error(file_name, e)),
        };
        de.end().map_err(|e| SpecsError::Syntax {
            file: file_name.to_string(),
            line: e.line(),
            column: e.column(),
            message: strip_location(&e.to_string()),
        })?;
        specs.source = file_name.to_string();
        specs.objects_are_objects(text)?;
        specs.validate()?;
        Ok(specs)
    }

    /// The headline metric (default: `mae` for regression, `accuracy` for classification).
    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.task {
            Task::Regression => Metric::Mae,
            Task::Classification => Metric::Accuracy,
        })
    }

    /// `description`, default `""`.
    pub fn description(&self) -> &str {
        self.description.as_deref().unwrap_or("")
    }

    /// The training settings, defaults resolved.
    pub fn training(&self) -> Training {
        let t = self.training.as_ref();
        Training {
            epochs: t.and_then(|t| t.epochs).unwrap_or(10),
            batch_size: t.and_then(|t| t.batch_size).unwrap_or(32),
            learning_rate: t.and_then(|t| t.learning_rate).unwrap_or(0.001),
            optimizer: t.and_then(|t| t.optimizer).unwrap_or(Optimizer::Adam),
            loss: t.and_then(|t| t.loss).unwrap_or(match self.task {
                Task::Regression => Loss::Mse,
                Task::Classification => Loss::CrossEntropy,
            }),
        }
    }

    /// The dataset file: `dataset.file` against the model directory (an absolute path as it
    /// is; relative to the current directory when the specs were not read from a file).
    pub fn dataset_path(&self) -> PathBuf {
        let file = Path::new(self.dataset.file());
        match &self.dir {
            Some(dir) if !file.is_absolute() => dir.join(file),
            _ => file.to_path_buf(),
        }
    }

    /// The specs of the converted model: each input's and output's `dtype`, `scale` and
    /// `zero_point` set from `inputs` / `outputs` (one per tensor, in order). The result is
    /// checked like a document read from disk.
    pub fn with_io_quantization(
        &self,
        inputs: &[IoType],
        outputs: &[IoType],
    ) -> Result<Specs, SpecsError> {
        let mut out = self.clone();
        for (key, tensors, types) in [
            ("inputs", &mut out.inputs, inputs),
            ("outputs", &mut out.outputs, outputs),
        ] {
            if tensors.len() != types.len() {
                return Err(SpecsError::Field {
                    file: self.source.clone(),
                    path: key.to_string(),
                    message: format!(
                        "the specs have {} {key}, but {} I/O types were given",
                        tensors.len(),
                        types.len()
                    ),
                });
            }
            for (t, ty) in tensors.iter_mut().zip(types) {
                let (dtype, q) = match *ty {
                    IoType::Float32 => (Dtype::Float32, None),
                    IoType::Int8 { scale, zero_point } => (Dtype::Int8, Some((scale, zero_point))),
                    IoType::Int16 { scale, zero_point } => {
                        (Dtype::Int16, Some((scale, zero_point)))
                    }
                };
                t.dtype = Some(dtype);
                t.scale = q.map(|(s, _)| shortest_f32(s));
                t.zero_point = q.map(|(_, z)| i64::from(z));
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// The document as pretty JSON: fields in the schema's order (the order of the tables in
    /// `docs/specs.md`), two-space indentation, arrays of numbers or strings on one line, a
    /// final line end. Absent optional fields stay absent. Deterministic.
    pub fn to_json_string(&self) -> String {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, CompactArrays::default());
        self.serialize(&mut ser)
            .expect("specs serialize to JSON: no map keys other than strings, numbers finite");
        let mut s = String::from_utf8(buf).expect("serde_json writes UTF-8");
        s.push('\n');
        s
    }

    fn field_error(&self, path: impl Into<String>, message: impl Into<String>) -> SpecsError {
        SpecsError::Field {
            file: self.source.clone(),
            path: path.into(),
            message: message.into(),
        }
    }

    /// serde's derived structs also accept a JSON array of their fields in order; the schema's
    /// objects must be objects.
    fn objects_are_objects(&self, text: &str) -> Result<(), SpecsError> {
        use serde_json::Value;
        let doc: Value = serde_json::from_str(text).expect("parsed once already");
        let mut objects: Vec<(String, &Value)> = vec![(String::new(), &doc)];
        for key in ["dataset", "training"] {
            objects.push((key.to_string(), &doc[key]));
        }
        objects.push(("dataset.split".to_string(), &doc["dataset"]["split"]));
        for key in ["inputs", "outputs"] {
            if let Some(list) = doc[key].as_array() {
                for (i, t) in list.iter().enumerate() {
                    objects.push((format!("{key}[{i}]"), t));
                    objects.push((format!("{key}[{i}].normalization"), &t["normalization"]));
                }
            }
        }
        for (path, v) in objects {
            if !(v.is_object() || v.is_null()) {
                return Err(self.field_error(path, "expected an object, got an array"));
            }
        }
        Ok(())
    }

    /// Rules 2 to 13 of docs/specs.md (rule 1, the JSON types, is serde's).
    fn validate(&self) -> Result<(), SpecsError> {
        let e = |p: &str, m: String| self.field_error(p, m);
        if self.version != 1 {
            return Err(e(
                "version",
                format!("only version 1 is defined, got {}", self.version),
            ));
        }
        let task = self.task;
        let task_name = task_str(task);
        if let Some(m) = self.metric {
            let ok = match task {
                Task::Regression => matches!(m, Metric::Mae | Metric::Rmse),
                Task::Classification => m == Metric::Accuracy,
            };
            if !ok {
                let fits = match task {
                    Task::Regression => "mae, rmse",
                    Task::Classification => "accuracy",
                };
                return Err(e(
                    "metric",
                    format!(
                        "\"{}\" does not fit task \"{task_name}\" (use {fits})",
                        metric_str(m)
                    ),
                ));
            }
        }
        for (key, list) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            if list.is_empty() {
                return Err(e(key, "expected a non-empty array".into()));
            }
            for (i, t) in list.iter().enumerate() {
                let path = format!("{key}[{i}]");
                self.validate_tensor(t, &path, key == "outputs")?;
                if list[..i].iter().any(|o| o.name == t.name) {
                    return Err(e(
                        &format!("{path}.name"),
                        format!("\"{}\" is used twice", t.name),
                    ));
                }
            }
        }

        let d = &self.dataset;
        if let Some(f) = &d.file {
            if f.is_empty() {
                return Err(e("dataset.file", "must not be empty".into()));
            }
        }
        for (key, cols) in [
            ("label_columns", Some(&d.label_columns)),
            ("feature_columns", d.feature_columns.as_ref()),
        ] {
            let Some(cols) = cols else { continue };
            if cols.is_empty() {
                return Err(e(
                    &format!("dataset.{key}"),
                    "expected a non-empty array of column names".into(),
                ));
            }
            for (i, c) in cols.iter().enumerate() {
                if c.is_empty() {
                    return Err(e(
                        &format!("dataset.{key}[{i}]"),
                        "must not be empty".into(),
                    ));
                }
                if cols[..i].contains(c) {
                    return Err(e(
                        &format!("dataset.{key}[{i}]"),
                        format!("\"{c}\" is listed twice"),
                    ));
                }
            }
        }
        if let Some(fc) = &d.feature_columns {
            if let Some((i, c)) = fc
                .iter()
                .enumerate()
                .find(|(_, c)| d.label_columns.contains(c))
            {
                return Err(e(
                    &format!("dataset.feature_columns[{i}]"),
                    format!("\"{c}\" is also a label column"),
                ));
            }
        }
        if d.representative_rows == Some(0) {
            return Err(e(
                "dataset.representative_rows",
                "must be >= 1, got 0".into(),
            ));
        }

        let s = &d.split;
        let rows_form = s.train_rows.is_some() || s.test_rows.is_some();
        if let Some(f) = s.test_fraction {
            if rows_form {
                return Err(e(
                    "dataset.split",
                    "give either test_fraction and order, or train_rows and test_rows, not both"
                        .into(),
                ));
            }
            if !(f > 0.0 && f < 1.0) {
                return Err(e(
                    "dataset.split.test_fraction",
                    format!("must be in (0, 1), got {f}"),
                ));
            }
            match s.order {
                None => {
                    return Err(e(
                        "dataset.split.order",
                        "missing required field (\"ordered\" or \"shuffled\")".into(),
                    ))
                }
                Some(Order::Shuffled) if s.seed.is_none() => {
                    return Err(e(
                        "dataset.split.seed",
                        "required with order \"shuffled\"".into(),
                    ))
                }
                Some(Order::Ordered) if s.seed.is_some() => {
                    return Err(e(
                        "dataset.split.seed",
                        "only allowed with order \"shuffled\"".into(),
                    ))
                }
                _ => {}
            }
        } else {
            for (k, present) in [("order", s.order.is_some()), ("seed", s.seed.is_some())] {
                if present {
                    let m = if rows_form {
                        "only allowed with test_fraction"
                    } else {
                        "only allowed with test_fraction (missing here)"
                    };
                    return Err(e(&format!("dataset.split.{k}"), m.into()));
                }
            }
            for (k, v) in [("train_rows", &s.train_rows), ("test_rows", &s.test_rows)] {
                let Some(ranges) = v else {
                    return Err(e(
                        &format!("dataset.split.{k}"),
                        "missing (give test_fraction and order, or train_rows and test_rows)"
                            .into(),
                    ));
                };
                if ranges.is_empty() {
                    return Err(e(
                        &format!("dataset.split.{k}"),
                        "expected a non-empty array of [start, end) pairs".into(),
                    ));
                }
                for (i, &RowRange { start, end }) in ranges.iter().enumerate() {
                    if end <= start {
                        return Err(e(
                            &format!("dataset.split.{k}[{i}]"),
                            format!("end {end} must be greater than start {start}"),
                        ));
                    }
                }
            }
        }

        if let Some(w) = d.window {
            if w == 0 {
                return Err(e("dataset.window", "must be >= 1, got 0".into()));
            }
            if s.order == Some(Order::Shuffled) {
                return Err(e(
                    "dataset.window",
                    "a time series cannot use order \"shuffled\"".into(),
                ));
            }
            for (i, t) in self.inputs.iter().enumerate() {
                if t.layout != Layout::Ntc || t.shape[1] != w {
                    return Err(e(
                        &format!("inputs[{i}]"),
                        format!(
                            "with dataset.window {w} every input must have layout \"ntc\" and \
                             shape [1, {w}, F], got {} {}",
                            t.layout.as_str(),
                            shape_str(&t.shape)
                        ),
                    ));
                }
            }
        }

        let n_labels = d.label_columns.len();
        match task {
            Task::Classification if n_labels != self.outputs.len() => {
                return Err(e(
                    "dataset.label_columns",
                    format!(
                        "classification needs one label column per output ({}), got {n_labels}",
                        self.outputs.len()
                    ),
                ))
            }
            Task::Regression => {
                let n_out: usize = self.outputs.iter().map(TensorSpec::element_count).sum();
                if n_labels != n_out {
                    return Err(e(
                        "dataset.label_columns",
                        format!("the outputs have {n_out} values, got {n_labels} label columns"),
                    ));
                }
            }
            _ => {}
        }

        if let Some(t) = &self.training {
            if t.epochs == Some(0) {
                return Err(e("training.epochs", "must be >= 1, got 0".into()));
            }
            if t.batch_size == Some(0) {
                return Err(e("training.batch_size", "must be >= 1, got 0".into()));
            }
            if let Some(lr) = t.learning_rate {
                if lr <= 0.0 {
                    return Err(e(
                        "training.learning_rate",
                        format!("must be > 0, got {lr}"),
                    ));
                }
            }
            if let Some(loss) = t.loss {
                let ok = match task {
                    Task::Regression => matches!(loss, Loss::Mse | Loss::Mae),
                    Task::Classification => loss == Loss::CrossEntropy,
                };
                if !ok {
                    let fits = match task {
                        Task::Regression => "mse, mae",
                        Task::Classification => "cross_entropy",
                    };
                    return Err(e(
                        "training.loss",
                        format!(
                            "\"{}\" does not fit task \"{task_name}\" (use {fits})",
                            loss_str(loss)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_tensor(
        &self,
        t: &TensorSpec,
        path: &str,
        is_output: bool,
    ) -> Result<(), SpecsError> {
        let e = |p: String, m: String| self.field_error(p, m);
        if t.name.is_empty() {
            return Err(e(format!("{path}.name"), "must not be empty".into()));
        }
        let layout = t.layout;
        let shape = &t.shape;
        if let Some(k) = shape.iter().position(|&d| d == 0) {
            return Err(e(
                format!("{path}.shape[{k}]"),
                "must be >= 1, got 0".into(),
            ));
        }
        if shape.len() != layout.rank() {
            return Err(e(
                format!("{path}.shape"),
                format!(
                    "layout \"{}\" needs rank {}, got {}",
                    layout.as_str(),
                    layout.rank(),
                    shape_str(shape)
                ),
            ));
        }
        if shape[0] != 1 {
            return Err(e(
                format!("{path}.shape[0]"),
                format!("the batch dimension must be 1, got {}", shape[0]),
            ));
        }
        match t.dtype() {
            Dtype::Float32 => {
                for (k, present) in [
                    ("scale", t.scale.is_some()),
                    ("zero_point", t.zero_point.is_some()),
                ] {
                    if present {
                        return Err(e(
                            format!("{path}.{k}"),
                            "only allowed with dtype int8 or int16".into(),
                        ));
                    }
                }
            }
            dtype => {
                let (Some(scale), Some(zp)) = (t.scale, t.zero_point) else {
                    let k = if t.scale.is_none() {
                        "scale"
                    } else {
                        "zero_point"
                    };
                    return Err(e(
                        format!("{path}.{k}"),
                        format!("required with dtype {}", dtype.as_str()),
                    ));
                };
                if scale <= 0.0 {
                    return Err(e(
                        format!("{path}.scale"),
                        format!("must be > 0, got {scale}"),
                    ));
                }
                if dtype == Dtype::Int8 && !(-128..=127).contains(&zp) {
                    return Err(e(
                        format!("{path}.zero_point"),
                        format!("must be in [-128, 127] for int8, got {zp}"),
                    ));
                }
                if dtype == Dtype::Int16 && zp != 0 {
                    return Err(e(
                        format!("{path}.zero_point"),
                        format!("must be 0 for int16, got {zp}"),
                    ));
                }
            }
        }
        if is_output && self.task == Task::Classification {
            if layout != Layout::Nc || shape[1] < 2 {
                return Err(e(
                    path.to_string(),
                    format!(
                        "a classification output must have layout \"nc\" and shape [1, K] with \
                         K >= 2, got {} {}",
                        layout.as_str(),
                        shape_str(shape)
                    ),
                ));
            }
            if t.normalization.is_some() {
                return Err(e(
                    format!("{path}.normalization"),
                    "not allowed on a classification output".into(),
                ));
            }
        }
        if let Some(n) = &t.normalization {
            let npath = format!("{path}.normalization");
            let given: Vec<&str> = [
                ("mean", n.mean.is_some()),
                ("std", n.std.is_some()),
                ("min", n.min.is_some()),
                ("max", n.max.is_some()),
            ]
            .iter()
            .filter(|(_, p)| *p)
            .map(|(k, _)| *k)
            .collect();
            let pair: [(&str, &Vec<f64>); 2] = match (&n.mean, &n.std, &n.min, &n.max) {
                (Some(mean), Some(std), None, None) => [("mean", mean), ("std", std)],
                (None, None, Some(min), Some(max)) => [("min", min), ("max", max)],
                _ => {
                    let got = if given.is_empty() {
                        "nothing".to_string()
                    } else {
                        given.join(", ")
                    };
                    return Err(e(
                        npath,
                        format!("give either mean and std, or min and max (got {got})"),
                    ));
                }
            };
            let channels = t.channels();
            for (k, values) in pair {
                if values.len() != channels {
                    return Err(e(
                        format!("{npath}.{k}"),
                        format!(
                            "has {} values, but the {} shape {} has {channels} channels",
                            values.len(),
                            layout.as_str(),
                            shape_str(shape)
                        ),
                    ));
                }
            }
            for c in 0..channels {
                if let (Some(std), None) = (&n.std, &n.min) {
                    if std[c] <= 0.0 {
                        return Err(e(
                            format!("{npath}.std[{c}]"),
                            format!("must be > 0, got {}", std[c]),
                        ));
                    }
                }
                if let (Some(min), Some(max)) = (&n.min, &n.max) {
                    if max[c] <= min[c] {
                        return Err(e(
                            format!("{npath}.max[{c}]"),
                            format!("must be > min[{c}] ({}), got {}", min[c], max[c]),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl TensorSpec {
    /// `dtype`, default `float32`.
    pub fn dtype(&self) -> Dtype {
        self.dtype.unwrap_or(Dtype::Float32)
    }

    /// `unit`, default `""`.
    pub fn unit(&self) -> &str {
        self.unit.as_deref().unwrap_or("")
    }

    /// Elements of one example: the product of `shape[1..]`.
    pub fn element_count(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// The size of the layout's channel axis.
    pub fn channels(&self) -> usize {
        self.shape[self.layout.channel_axis()]
    }

    /// The channel of element `index` of one example (row-major over `shape[1..]`).
    pub fn channel_of(&self, index: usize) -> usize {
        let axis = self.layout.channel_axis();
        let inner: usize = self.shape[axis + 1..].iter().product();
        (index / inner) % self.shape[axis]
    }

    /// Raw values of one example (row-major over `shape[1..]`) to model values: the forward
    /// normalization map, computed in f64 and stored as f32; the identity without
    /// normalization.
    pub fn normalize(&self, raw: &[f32]) -> Vec<f32> {
        let Some(n) = &self.normalization else {
            return raw.to_vec();
        };
        raw.iter()
            .enumerate()
            .map(|(i, &x)| n.to_model(self.channel_of(i), f64::from(x)) as f32)
            .collect()
    }

    /// Model values of one example to raw values (the inverse map, in f64); the identity
    /// without normalization. For regression outputs, before the metric.
    pub fn denormalize(&self, model: &[f32]) -> Vec<f64> {
        let Some(n) = &self.normalization else {
            return model.iter().map(|&v| f64::from(v)).collect();
        };
        model
            .iter()
            .enumerate()
            .map(|(i, &v)| n.to_raw(self.channel_of(i), f64::from(v)))
            .collect()
    }
}

impl Normalization {
    /// The validated form. Panics on a `Normalization` that did not pass the reader's checks.
    pub fn kind(&self) -> NormKind<'_> {
        match (&self.mean, &self.std, &self.min, &self.max) {
            (Some(mean), Some(std), None, None) => NormKind::Standardize { mean, std },
            (None, None, Some(min), Some(max)) => NormKind::MinMax { min, max },
            _ => panic!("normalization without exactly one pair: not validated"),
        }
    }

    /// Raw to model value of channel `c`: `(raw - mean) / std` or `(raw - min) / (max - min)`.
    pub fn to_model(&self, c: usize, raw: f64) -> f64 {
        match self.kind() {
            NormKind::Standardize { mean, std } => (raw - mean[c]) / std[c],
            NormKind::MinMax { min, max } => (raw - min[c]) / (max[c] - min[c]),
        }
    }

    /// Model to raw value of channel `c`: `model * std + mean` or `model * (max - min) + min`.
    pub fn to_raw(&self, c: usize, model: f64) -> f64 {
        match self.kind() {
            NormKind::Standardize { mean, std } => model * std[c] + mean[c],
            NormKind::MinMax { min, max } => model * (max[c] - min[c]) + min[c],
        }
    }

    /// `(a, b)` with `model = raw * a + b` for channel `c` (for folding the map into another
    /// affine one, e.g. quantization).
    pub fn affine(&self, c: usize) -> (f64, f64) {
        match self.kind() {
            NormKind::Standardize { mean, std } => (1.0 / std[c], -mean[c] / std[c]),
            NormKind::MinMax { min, max } => {
                let range = max[c] - min[c];
                (1.0 / range, -min[c] / range)
            }
        }
    }
}

impl DatasetSpec {
    /// `file`, default `"dataset.csv"`.
    pub fn file(&self) -> &str {
        self.file.as_deref().unwrap_or("dataset.csv")
    }

    /// `header`, default `true`.
    pub fn header(&self) -> bool {
        self.header.unwrap_or(true)
    }

    /// `representative_rows`, default 200.
    pub fn representative_rows(&self) -> usize {
        self.representative_rows.unwrap_or(200)
    }
}

impl Split {
    /// The validated form. Panics on a `Split` that did not pass the reader's checks.
    pub fn kind(&self) -> SplitKind<'_> {
        match (
            self.test_fraction,
            self.order,
            self.seed,
            &self.train_rows,
            &self.test_rows,
        ) {
            (Some(f), Some(Order::Ordered), None, None, None) => {
                SplitKind::Ordered { test_fraction: f }
            }
            (Some(f), Some(Order::Shuffled), Some(seed), None, None) => SplitKind::Shuffled {
                test_fraction: f,
                seed,
            },
            (None, None, None, Some(train), Some(test)) => SplitKind::Rows { train, test },
            _ => panic!("split without exactly one form: not validated"),
        }
    }
}

/// SplitMix64 (docs/specs.md, "Split"): the generator behind the shuffled split.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The permutation of `0..n` of the shuffled split: Fisher–Yates from the last element down,
/// `j = next() mod (i + 1)`.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

pub(crate) fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

fn task_str(t: Task) -> &'static str {
    match t {
        Task::Regression => "regression",
        Task::Classification => "classification",
    }
}

fn metric_str(m: Metric) -> &'static str {
    match m {
        Metric::Mae => "mae",
        Metric::Rmse => "rmse",
        Metric::Accuracy => "accuracy",
    }
}

fn loss_str(l: Loss) -> &'static str {
    match l {
        Loss::Mse => "mse",
        Loss::Mae => "mae",
        Loss::CrossEntropy => "cross_entropy",
    }
}

pub(crate) fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
        _ => format!("cannot read: {e}"),
    }
}

/// `f32` scale as the shortest decimal that round-trips it, held as the f64 of that decimal
/// (serde_json then prints the same short decimal).
fn shortest_f32(v: f32) -> f64 {
    format!("{v}").parse().expect("an f32's Display parses")
}

/// serde_json appends " at line L column C"; the path and our own line/column replace it.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

/// serde's messages in the schema's words (`expected u64` → `expected a non-negative integer`).
fn schema_words(msg: &str) -> String {
    if msg.starts_with("invalid type: null") {
        return "is null, but the field is required".to_string();
    }
    let mut s = msg.to_string();
    for (from, to) in [
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
    ] {
        s = s.replace(from, to);
    }
    if s.starts_with("invalid length") && s.contains("expected struct ") {
        return "expected an object, got an array".to_string();
    }
    if let Some(i) = s.find("expected struct ") {
        s.replace_range(i.., "expected an object");
    }
    s = s.replace("invalid type: sequence", "invalid type: array");
    s
}

fn serde_error(file: &str, e: serde_path_to_error::Error<serde_json::Error>) -> SpecsError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = strip_location(&inner.to_string());
    let mut path = if path == "." { String::new() } else { path };
    // serde reports a missing or repeated field at the object holding it: name the field.
    let named = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        Some(rest[..rest.find('`')?].to_string())
    };
    let message = if let Some(k) = named("missing field `") {
        path = if path.is_empty() {
            k
        } else {
            format!("{path}.{k}")
        };
        "missing required field".to_string()
    } else if let Some(k) = named("duplicate field `") {
        path = if path.is_empty() {
            k
        } else {
            format!("{path}.{k}")
        };
        "duplicate key".to_string()
    } else {
        schema_words(&message)
    };
    match inner.classify() {
        serde_json::error::Category::Data => SpecsError::Field {
            file: file.to_string(),
            path,
            message: format!(
                "{message} (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        },
        _ => SpecsError::Syntax {
            file: file.to_string(),
            line: inner.line(),
            column: inner.column(),
            message,
        },
    }
}

/// serde_json's pretty formatter, except that arrays holding no objects stay on one line
/// (`"shape": [1, 8, 8, 1]`, `"train_rows": [[0, 8000]]`), as the bundled files are written.
#[derive(Default)]
struct CompactArrays {
    indent: usize,
    /// One entry per open array or object: does it break lines (objects once they have a key;
    /// arrays once they are seen to hold an object).
    stack: Vec<bool>,
    /// An array element was begun and its separator is not written yet (it depends on whether
    /// the element is an object).
    pending: Option<bool>,
}

impl CompactArrays {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.indent {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Writes the separator of a pending array element; `object` says whether the element is an
    /// object (which makes the array break lines).
    fn flush<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        object: bool,
    ) -> std::io::Result<()> {
        if let Some(first) = self.pending.take() {
            if object {
                if let Some(top) = self.stack.last_mut() {
                    *top = true;
                }
                if !first {
                    w.write_all(b",")?;
                }
                self.newline(w)?;
            } else if !first {
                w.write_all(b", ")?;
            }
        }
        Ok(())
    }
}

macro_rules! scalar {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: $t) -> std::io::Result<()> {
            self.flush(w, false)?;
            serde_json::ser::CompactFormatter.$name(w, v)
        }
    )*};
}

impl serde_json::ser::Formatter for CompactArrays {
    scalar!(write_bool: bool, write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64,
        write_i128: i128, write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64,
        write_u128: u128, write_f32: f32, write_f64: f64, write_number_str: &str);

    fn write_null<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.flush(w, false)?;
        w.write_all(b"null")
    }

    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.flush(w, false)?;
        w.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.flush(w, false)?;
        self.stack.push(false);
        self.indent += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pending = None;
        self.indent -= 1;
        if self.stack.pop() == Some(true) {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        _w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.pending = Some(first);
        Ok(())
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.flush(w, true)?;
        self.stack.push(false);
        self.indent += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.indent -= 1;
        if self.stack.pop() == Some(true) {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if let Some(top) = self.stack.last_mut() {
            *top = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(task_str(*self))
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(metric_str(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_test_vectors() {
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn permutation_test_vector() {
        assert_eq!(permutation(10, 42), [0, 9, 5, 8, 6, 4, 7, 2, 1, 3]);
        assert_eq!(permutation(0, 1), Vec::<usize>::new());
        assert_eq!(permutation(1, 1), [0]);
        let mut p = permutation(1797, 42);
        p.sort_unstable();
        assert_eq!(p, (0..1797).collect::<Vec<_>>());
    }

    fn tensor(shape: &[usize], layout: Layout) -> TensorSpec {
        TensorSpec {
            name: "t".into(),
            shape: shape.to_vec(),
            layout,
            dtype: None,
            scale: None,
            zero_point: None,
            normalization: None,
            unit: None,
        }
    }

    #[test]
    fn channel_axis_per_layout() {
        // nhwc [1, 2, 2, 3]: channel is the fastest index
        let t = tensor(&[1, 2, 2, 3], Layout::Nhwc);
        let c: Vec<usize> = (0..12).map(|i| t.channel_of(i)).collect();
        assert_eq!(c, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
        // nchw [1, 3, 2, 2]: all of channel 0 first
        let t = tensor(&[1, 3, 2, 2], Layout::Nchw);
        let c: Vec<usize> = (0..12).map(|i| t.channel_of(i)).collect();
        assert_eq!(c, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        // ntc [1, 3, 2]: features per time step
        let t = tensor(&[1, 3, 2], Layout::Ntc);
        let c: Vec<usize> = (0..6).map(|i| t.channel_of(i)).collect();
        assert_eq!(c, [0, 1, 0, 1, 0, 1]);
        let t = tensor(&[1, 4], Layout::Nc);
        assert_eq!(t.channels(), 4);
        assert_eq!(t.channel_of(3), 3);
    }

    #[test]
    fn normalization_maps_and_inverse() {
        let mut t = tensor(&[1, 2, 2], Layout::Ntc);
        t.normalization = Some(Normalization {
            mean: Some(vec![1.0, 10.0]),
            std: Some(vec![2.0, 5.0]),
            min: None,
            max: None,
        });
        let m = t.normalize(&[3.0, 20.0, -1.0, 0.0]);
        assert_eq!(m, [1.0, 2.0, -1.0, -2.0]);
        assert_eq!(t.denormalize(&m), [3.0, 20.0, -1.0, 0.0]);
        let n = t.normalization.as_ref().unwrap();
        assert_eq!(n.affine(1), (0.2, -2.0));
        t.normalization = Some(Normalization {
            mean: None,
            std: None,
            min: Some(vec![0.0, -1.0]),
            max: Some(vec![16.0, 1.0]),
        });
        let m = t.normalize(&[8.0, 0.0, 16.0, -1.0]);
        assert_eq!(m, [0.5, 0.5, 1.0, 0.0]);
        assert_eq!(t.denormalize(&m), [8.0, 0.0, 16.0, -1.0]);
        // f64 arithmetic, stored as f32: (0.1 - 0) / 3 in f64, then rounded once
        t.normalization = Some(Normalization {
            mean: Some(vec![0.0, 0.0]),
            std: Some(vec![3.0, 3.0]),
            min: None,
            max: None,
        });
        assert_eq!(t.normalize(&[0.1])[0], (f64::from(0.1f32) / 3.0) as f32);
        t.normalization = None;
        assert_eq!(t.normalize(&[0.1, 2.0]), [0.1, 2.0]);
    }

    #[test]
    fn compact_arrays_formatting() {
        #[derive(Serialize)]
        struct Doc {
            a: Vec<u32>,
            b: Vec<[u32; 2]>,
            c: Vec<Inner>,
            d: Inner,
            e: Vec<Inner>,
            f: Vec<u32>,
            g: Vec<String>,
        }
        #[derive(Serialize)]
        struct Inner {
            #[serde(skip_serializing_if = "Option::is_none")]
            x: Option<f64>,
        }
        let doc = Doc {
            a: vec![1, 2],
            b: vec![[0, 8], [8, 10]],
            c: vec![Inner { x: Some(0.5) }, Inner { x: None }],
            d: Inner { x: None },
            e: vec![],
            f: vec![],
            g: vec!["p".into(), "q".into()],
        };
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, CompactArrays::default());
        doc.serialize(&mut ser).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(
            s,
            "{\n  \"a\": [1, 2],\n  \"b\": [[0, 8], [8, 10]],\n  \"c\": [\n    {\n      \"x\": 0.5\n    },\n    {}\n  ],\n  \"d\": {},\n  \"e\": [],\n  \"f\": [],\n  \"g\": [\"p\", \"q\"]\n}"
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["b"][1][1], 10);
    }

    #[test]
    fn shortest_scale_decimal() {
        assert_eq!(shortest_f32(0.013378), 0.013378);
        assert_eq!(shortest_f32(1.0 / 256.0), 0.00390625);
        let s = shortest_f32(0.1f32);
        assert_eq!(s as f32, 0.1f32);
        assert_eq!(serde_json::to_string(&s).unwrap(), "0.1");
    }

    #[test]
    fn error_display_forms() {
        let e = SpecsError::Csv {
            file: "d.csv".into(),
            line: 3,
            column: None,
            message: "empty line".into(),
        };
        assert_eq!(e.to_string(), "d.csv:3: empty line");
        let e = SpecsError::Field {
            file: "s.json".into(),
            path: String::new(),
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "s.json: m");
    }
}

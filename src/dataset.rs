//! `dataset.csv`: the examples of a model directory, read as `specs.json` says
//! (`docs/specs.md`, "Dataset"): columns, rows to examples (one row each, or windows of a time
//! series), the train/test split, the representative rows, normalization.
//!
//! Errors give the CSV's file, line and column (the 1-based field number), or, for what the
//! specs got wrong against the CSV (a label column that does not exist, a split outside the
//! rows), the specs file and the JSON path:
//!
//! ```text
//! models/digits/dataset.csv:7:12: column "p13": "abc" is not a number
//! models/digits/specs.json: dataset.label_columns[0]: no column "digit" in models/digits/dataset.csv
//! ```

use crate::specs::{io_message, RowRange, Specs, SpecsError, SplitKind, Task};

/// The labels of one example, as the outputs need them.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Classification: one class index per output (`0..K`).
    Classes(Vec<usize>),
    /// Regression: one vector per output, raw values (original units), row-major over the
    /// output's `shape[1..]`.
    Values(Vec<Vec<f32>>),
}

/// One example: raw input values and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The data row it starts at (zero-based, the header is not a row): the row itself, or the
    /// first row of its window.
    pub row: usize,
    /// Raw values (the CSV's), one vector per input, row-major over the input's `shape[1..]`.
    pub inputs: Vec<Vec<f32>>,
    pub target: Target,
}

impl Example {
    /// The model values of the inputs: each input's normalization applied.
    pub fn model_inputs(&self, specs: &Specs) -> Vec<Vec<f32>> {
        specs
            .inputs
            .iter()
            .zip(&self.inputs)
            .map(|(t, raw)| t.normalize(raw))
            .collect()
    }
}

/// A dataset read and split: the training and test examples.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The CSV file, as errors name it.
    pub file: String,
    /// Column names (from the header, or `"0"`, `"1"`, ... without one).
    pub columns: Vec<String>,
    /// The feature columns, in order (`dataset.feature_columns` or its default).
    pub feature_columns: Vec<String>,
    /// Data rows in the file.
    pub n_rows: usize,
    /// The training part as runs of rows (a shuffled part is one sorted "run" of single rows).
    pub train_runs: Vec<Vec<usize>>,
    /// The test part as runs of rows.
    pub test_runs: Vec<Vec<usize>>,
    /// Training examples, in training order.
    pub train: Vec<Example>,
    /// Test examples, in order.
    pub test: Vec<Example>,
    representative_rows: usize,
}

impl Dataset {
    /// Reads the specs' dataset file ([`Specs::dataset_path`]) and builds the examples.
    pub fn load(specs: &Specs) -> Result<Dataset, SpecsError> {
        let path = specs.dataset_path();
        let text = std::fs::read_to_string(&path).map_err(|e| SpecsError::Io {
            path: path.clone(),
            message: io_message(&e),
        })?;
        Dataset::from_csv_str(specs, &text, &path.display().to_string())
    }

    /// Builds the examples from the CSV text; `file` is what errors call the CSV file.
    pub fn from_csv_str(specs: &Specs, text: &str, file: &str) -> Result<Dataset, SpecsError> {
        let d = &specs.dataset;
        let csv_err = |line: usize, column: Option<usize>, message: String| SpecsError::Csv {
            file: file.to_string(),
            line,
            column,
            message,
        };
        let spec_err = |path: String, message: String| SpecsError::Field {
            file: specs.source.clone(),
            path,
            message,
        };

        let records = read_records(text, file)?;
        let Some((_, first)) = records.first() else {
            return Err(csv_err(1, None, "the file is empty".into()));
        };
        let width = first.len();
        let columns: Vec<String> = if d.header() {
            for (i, name) in first.iter().enumerate() {
                if name.is_empty() {
                    return Err(csv_err(
                        1,
                        Some(i + 1),
                        "empty column name in the header".into(),
                    ));
                }
                if let Some(j) = first.iter().take(i).position(|n| n == name) {
                    return Err(csv_err(
                        1,
                        Some(i + 1),
                        format!("column name \"{name}\" repeats column {}", j + 1),
                    ));
                }
            }
            first.iter().map(str::to_string).collect()
        } else {
            (0..width).map(|i| i.to_string()).collect()
        };
        let data = if d.header() {
            &records[1..]
        } else {
            &records[..]
        };

        // Columns by name (rule 15).
        let index_of = |key: &str, i: usize, name: &str| -> Result<usize, SpecsError> {
            columns.iter().position(|c| c == name).ok_or_else(|| {
                spec_err(
                    format!("dataset.{key}[{i}]"),
                    format!("no column \"{name}\" in {file}"),
                )
            })
        };
        let label_idx = d
            .label_columns
            .iter()
            .enumerate()
            .map(|(i, c)| index_of("label_columns", i, c))
            .collect::<Result<Vec<_>, _>>()?;
        let (feature_columns, feature_idx) = match &d.feature_columns {
            Some(fc) => {
                let idx = fc
                    .iter()
                    .enumerate()
                    .map(|(i, c)| index_of("feature_columns", i, c))
                    .collect::<Result<Vec<_>, _>>()?;
                (fc.clone(), idx)
            }
            None => columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !d.label_columns.contains(c))
                .map(|(i, c)| (c.clone(), i))
                .unzip(),
        };

        // Feature count (rule 16).
        let per_input: Vec<usize> = specs
            .inputs
            .iter()
            .map(|t| match d.window {
                Some(_) => t.shape[2],
                None => t.element_count(),
            })
            .collect();
        let per_row: usize = per_input.iter().sum();
        if per_row != feature_idx.len() {
            let (path, what) = if d.feature_columns.is_some() {
                (
                    "dataset.feature_columns",
                    format!("{} feature columns", feature_idx.len()),
                )
            } else {
                (
                    "dataset",
                    format!(
                        "{} has {} feature columns (every column but the labels)",
                        file,
                        feature_idx.len()
                    ),
                )
            };
            let shapes: Vec<String> = specs
                .inputs
                .iter()
                .map(|t| format!("{} {}", t.name, crate::specs::shape_str(&t.shape)))
                .collect();
            let per = if d.window.is_some() {
                "per time step"
            } else {
                "per row"
            };
            return Err(spec_err(
                path.to_string(),
                format!(
                    "the inputs ({}) take {per_row} values {per}, but there are {what}",
                    shapes.join(", ")
                ),
            ));
        }

        // Rows: width, numbers, class indices (rules 14, 17).
        let n_rows = data.len();
        let n_feat = feature_idx.len();
        let n_lab = label_idx.len();
        let mut features = Vec::with_capacity(n_rows * n_feat);
        let mut labels = Vec::with_capacity(n_rows * n_lab);
        for (line, rec) in data {
            let line = *line;
            if rec.len() != width {
                let column = rec.len().min(width) + 1;
                return Err(csv_err(
                    line,
                    Some(column),
                    format!("{} fields, but line 1 has {width}", rec.len()),
                ));
            }
            let cell = |c: usize| -> Result<f32, SpecsError> {
                let s = &rec[c];
                let name = &columns[c];
                match s.parse::<f32>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    Ok(_) => Err(csv_err(
                        line,
                        Some(c + 1),
                        format!("column \"{name}\": \"{s}\" is not a finite number"),
                    )),
                    Err(_) if s.is_empty() => Err(csv_err(
                        line,
                        Some(c + 1),
                        format!("column \"{name}\": empty field, expected a number"),
                    )),
                    Err(_) => Err(csv_err(
                        line,
                        Some(c + 1),
                        format!("column \"{name}\": \"{s}\" is not a number"),
                    )),
                }
            };
            for &c in &feature_idx {
                features.push(cell(c)?);
            }
            for (o, &c) in label_idx.iter().enumerate() {
                let v = cell(c)?;
                if specs.task == Task::Classification {
                    let k = specs.outputs[o].shape[1];
                    if v.fract() != 0.0 || v < 0.0 || v >= k as f32 {
                        return Err(csv_err(
                            line,
                            Some(c + 1),
                            format!(
                                "column \"{}\": label {} is not a class index in [0, {k})",
                                columns[c], &rec[c]
                            ),
                        ));
                    }
                }
                labels.push(v);
            }
        }

        // Split (rule 18).
        let (train_runs, test_runs) = split_runs(specs, n_rows, file)?;

        // Examples.
        let make = |runs: &[Vec<usize>], part: &str, run_path: &dyn Fn(usize) -> String| {
            let mut out = Vec::new();
            for (k, run) in runs.iter().enumerate() {
                match d.window {
                    None => {
                        for &r in run {
                            out.push(example(specs, &features, &labels, n_feat, &per_input, r, 1));
                        }
                    }
                    Some(w) => {
                        if run.len() < w {
                            return Err(spec_err(
                                run_path(k),
                                format!(
                                    "the {part} run of rows {}..{} has {} rows, fewer than the \
                                     window {w}",
                                    run[0],
                                    run[run.len() - 1] + 1,
                                    run.len()
                                ),
                            ));
                        }
                        // A run is consecutive rows: the window starting at `r` is r..r + w.
                        for &r in &run[..=run.len() - w] {
                            out.push(example(specs, &features, &labels, n_feat, &per_input, r, w));
                        }
                    }
                }
            }
            Ok(out)
        };
        let ranges = matches!(d.split.kind(), SplitKind::Rows { .. });
        let path_of = |key: &'static str| {
            move |k: usize| {
                if ranges {
                    format!("dataset.split.{key}[{k}]")
                } else {
                    "dataset.split.test_fraction".to_string()
                }
            }
        };
        let train = make(&train_runs, "training", &path_of("train_rows"))?;
        let test = make(&test_runs, "test", &path_of("test_rows"))?;

        Ok(Dataset {
            file: file.to_string(),
            columns,
            feature_columns,
            n_rows,
            train_runs,
            test_runs,
            train,
            test,
            representative_rows: d.representative_rows(),
        })
    }

    /// The calibration examples: the first `min(representative_rows, training examples)`
    /// training examples, in training order.
    pub fn representative(&self) -> &[Example] {
        &self.train[..self.representative_rows.min(self.train.len())]
    }

    /// The rows of the training part, in training order.
    pub fn train_rows(&self) -> Vec<usize> {
        self.train_runs.concat()
    }

    /// The rows of the test part, in order.
    pub fn test_rows(&self) -> Vec<usize> {
        self.test_runs.concat()
    }
}

/// The example that starts at row `r` and spans `window` rows (1 without a window).
fn example(
    specs: &Specs,
    features: &[f32],
    labels: &[f32],
    n_feat: usize,
    per_input: &[usize],
    r: usize,
    window: usize,
) -> Example {
    let mut inputs = Vec::with_capacity(per_input.len());
    let mut offset = 0;
    for &f in per_input {
        let mut v = Vec::with_capacity(f * window);
        for t in 0..window {
            let row = &features[(r + t) * n_feat..(r + t + 1) * n_feat];
            v.extend_from_slice(&row[offset..offset + f]);
        }
        inputs.push(v);
        offset += f;
    }
    let n_lab = specs.dataset.label_columns.len();
    let last = r + window - 1;
    let lab = &labels[last * n_lab..(last + 1) * n_lab];
    let target = match specs.task {
        Task::Classification => Target::Classes(lab.iter().map(|&v| v as usize).collect()),
        Task::Regression => {
            let mut out = Vec::with_capacity(specs.outputs.len());
            let mut offset = 0;
            for t in &specs.outputs {
                let k = t.element_count();
                out.push(lab[offset..offset + k].to_vec());
                offset += k;
            }
            Target::Values(out)
        }
    };
    Example {
        row: r,
        inputs,
        target,
    }
}

type Runs = Vec<Vec<usize>>;

/// The training and test parts of `n` rows as runs (docs/specs.md, "Split").
pub fn split_runs(specs: &Specs, n: usize, file: &str) -> Result<(Runs, Runs), SpecsError> {
    let err = |path: String, message: String| SpecsError::Field {
        file: specs.source.clone(),
        path,
        message,
    };
    let fraction = |f: f64| -> Result<usize, SpecsError> {
        let n_test = (n as f64 * f + 0.5).floor();
        if n < 2 || n_test < 1.0 || n_test > (n - 1) as f64 {
            let need = if n < 2 {
                "a split needs at least 2 rows".to_string()
            } else {
                format!("need between 1 and {}", n - 1)
            };
            return Err(err(
                "dataset.split.test_fraction".into(),
                format!("{f} of the {n} rows of {file} gives {n_test} test rows; {need}"),
            ));
        }
        Ok(n_test as usize)
    };
    match specs.dataset.split.kind() {
        SplitKind::Ordered { test_fraction } => {
            let n_test = fraction(test_fraction)?;
            Ok((
                vec![(0..n - n_test).collect()],
                vec![(n - n_test..n).collect()],
            ))
        }
        SplitKind::Shuffled {
            test_fraction,
            seed,
        } => {
            let n_test = fraction(test_fraction)?;
            let p = crate::specs::permutation(n, seed);
            let mut train = p[..n - n_test].to_vec();
            let mut test = p[n - n_test..].to_vec();
            train.sort_unstable();
            test.sort_unstable();
            Ok((vec![train], vec![test]))
        }
        SplitKind::Rows { train, test } => {
            // Which range each row belongs to, to name the first one on overlap.
            let mut owner: Vec<Option<(&str, usize)>> = vec![None; n];
            let mut parts = Vec::with_capacity(2);
            for (key, ranges) in [("train_rows", train), ("test_rows", test)] {
                let mut runs = Vec::with_capacity(ranges.len());
                for (k, &RowRange { start, end }) in ranges.iter().enumerate() {
                    let path = format!("dataset.split.{key}[{k}]");
                    if end > n {
                        return Err(err(
                            path,
                            format!("[{start}, {end}) exceeds the {n} data rows of {file}"),
                        ));
                    }
                    for (r, slot) in (start..end).zip(&mut owner[start..end]) {
                        if let Some((okey, ok)) = *slot {
                            return Err(err(
                                path,
                                format!("row {r} is also in dataset.split.{okey}[{ok}]"),
                            ));
                        }
                        *slot = Some((key, k));
                    }
                    runs.push((start..end).collect());
                }
                parts.push(runs);
            }
            let test = parts.pop().expect("two parts");
            let train = parts.pop().expect("two parts");
            Ok((train, test))
        }
    }
}

/// Every record with the line it starts on; an empty line is an error.
///
/// Line numbers are counted here (`\n`s before the record): the reader's own count lags by one
/// after a `\r\n` line end, and its record position is where it began looking for the record,
/// which is before any empty lines it skipped (or on the `\n` of the previous `\r\n`).
fn read_records(text: &str, file: &str) -> Result<Vec<(usize, csv::StringRecord)>, SpecsError> {
    let blank = |line: usize| SpecsError::Csv {
        file: file.to_string(),
        line,
        column: None,
        message: "empty line".into(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    // (byte, line) of the last position whose line is known
    let mut counted = (0usize, 1usize);
    let mut line_at = |byte: usize| {
        let (b, l) = counted;
        let l = l + bytes[b..byte].iter().filter(|&&c| c == b'\n').count();
        counted = (byte, l);
        l
    };
    let mut out: Vec<(usize, csv::StringRecord)> = Vec::new();
    let mut last = 0usize; // byte where the last record starts
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let byte = e.position().map_or(0, |p| p.byte() as usize);
            SpecsError::Csv {
                file: file.to_string(),
                line: 1 + bytes[..byte].iter().filter(|&&c| c == b'\n').count(),
                column: None,
                message: e.to_string(),
            }
        })?;
        let pos = rec
            .position()
            .expect("records read by a reader have a position");
        let mut byte = pos.byte() as usize;
        if byte > 0 && bytes[byte - 1] == b'\r' && bytes.get(byte) == Some(&b'\n') {
            byte += 1;
        }
        let line = line_at(byte);
        if matches!(bytes.get(byte), Some(b'\r' | b'\n')) {
            return Err(blank(line));
        }
        last = byte;
        out.push((line, rec));
    }
    if let Some((line, _)) = out.last() {
        if let Some(l) = blank_after(&text[last..], *line) {
            return Err(blank(l));
        }
    }
    Ok(out)
}

/// `segment` is the last record, starting on `line`, and the rest of the file; the line of the
/// first empty line after the record, if any.
fn blank_after(segment: &str, line: usize) -> Option<usize> {
    let content = segment.trim_end_matches(['\r', '\n']);
    let rest = &segment[content.len()..];
    (rest.matches('\n').count() > 1).then(|| line + content.matches('\n').count() + 1)
}

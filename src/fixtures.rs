//! The JSON-lines tensor format of the reference fixtures (`../shared/peer-models/*.jsonl`),
//! read by `tflm run` and the tests, written by `tflm run`:
//! `{"inputs":[{"shape":[1,4],"dtype":"int8","data":[...]}],"outputs":[...]}` per line, data
//! flattened in row-major order.

use serde_json::{json, Value};
use std::path::Path;
use tflm_runtime::DType;

/// One tensor of a fixture line: its type, shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorData {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// One line of a fixture file.
#[derive(Clone, Debug, Default)]
pub struct Case {
    /// 1-based line number in the file, for error messages.
    pub line: usize,
    pub inputs: Vec<TensorData>,
    pub outputs: Vec<TensorData>,
    /// Per-operator outputs (`*.intermediates.jsonl`): operator index, tensor index, data.
    pub intermediates: Vec<(usize, usize, TensorData)>,
}

/// An error in a fixture file, naming the file, line and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct FixtureError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl TensorData {
    /// Parses `{"shape","dtype","data"}`.
    pub fn from_json(v: &Value) -> Result<TensorData, String> {
        let dtype_name = v["dtype"].as_str().ok_or("missing \"dtype\"")?;
        let dtype = DType::from_name(dtype_name).ok_or(format!("unknown dtype {dtype_name:?}"))?;
        let shape = v["shape"]
            .as_array()
            .ok_or("missing \"shape\"")?
            .iter()
            .map(|d| {
                d.as_u64()
                    .map(|d| d as usize)
                    .ok_or("shape entries must be non-negative integers")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data = v["data"].as_array().ok_or("missing \"data\"")?;
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(format!(
                "\"data\" has {} values but shape {:?} needs {expected}",
                data.len(),
                shape
            ));
        }
        let mut bytes = Vec::with_capacity(expected * dtype.size());
        for (i, x) in data.iter().enumerate() {
            let bad = || format!("data[{i}] = {x} is not a valid {dtype_name}");
            match dtype {
                DType::F32 => bytes.extend((x.as_f64().ok_or_else(bad)? as f32).to_le_bytes()),
                _ => {
                    let n = x.as_i64().ok_or_else(bad)?;
                    match dtype {
                        DType::I8 => {
                            bytes.extend(i8::try_from(n).map_err(|_| bad())?.to_le_bytes())
                        }
                        DType::U8 => {
                            bytes.extend(u8::try_from(n).map_err(|_| bad())?.to_le_bytes())
                        }
                        DType::I16 => {
                            bytes.extend(i16::try_from(n).map_err(|_| bad())?.to_le_bytes())
                        }
                        DType::I32 => {
                            bytes.extend(i32::try_from(n).map_err(|_| bad())?.to_le_bytes())
                        }
                        DType::I64 => bytes.extend(n.to_le_bytes()),
                        _ => {
                            return Err(format!("dtype {dtype_name} is not supported in fixtures"))
                        }
                    }
                }
            }
        }
        Ok(TensorData {
            dtype,
            shape,
            bytes,
        })
    }

    /// The elements as f64 (exact for every supported type).
    pub fn values(&self) -> Vec<f64> {
        let b = &self.bytes;
        match self.dtype {
            DType::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as f64).collect(),
            DType::U8 => b.iter().map(|&x| x as f64).collect(),
            DType::I16 => b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
                .collect(),
            DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            DType::I64 => b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `{"shape","dtype","data"}` in the fixture format (float32 as the shortest decimal that
    /// round-trips, like the reference files).
    pub fn to_json(&self) -> Value {
        let data: Vec<Value> = match self.dtype {
            DType::F32 => self
                .bytes
                .chunks_exact(4)
                .map(|c| json!(f32::from_le_bytes(c.try_into().unwrap()) as f64))
                .collect(),
            _ => self.values().into_iter().map(|x| json!(x as i64)).collect(),
        };
        json!({"shape": self.shape, "dtype": self.dtype.name(), "data": data})
    }
}

/// Reads a fixture file: one JSON object per non-empty line.
pub fn read_cases(path: &Path) -> Result<Vec<Case>, FixtureError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FixtureError {
        file: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    parse_cases(&text, &file)
}

/// Parses fixture text; `file` names it in errors.
pub fn parse_cases(text: &str, file: &str) -> Result<Vec<Case>, FixtureError> {
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| FixtureError {
            file: file.to_string(),
            line: n + 1,
            message,
        };
        let v: Value = serde_json::from_str(line).map_err(|e| err(format!("not JSON: {e}")))?;
        let list = |key: &str| -> Result<Vec<TensorData>, FixtureError> {
            match v.get(key) {
                None => Ok(Vec::new()),
                Some(a) => a
                    .as_array()
                    .ok_or_else(|| err(format!("\"{key}\" must be a list")))?
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        TensorData::from_json(t).map_err(|m| err(format!("{key}[{k}]: {m}")))
                    })
                    .collect(),
            }
        };
        let mut case = Case {
            line: n + 1,
            inputs: list("inputs")?,
            outputs: list("outputs")?,
            intermediates: Vec::new(),
        };
        if let Some(items) = v.get("intermediates").and_then(Value::as_array) {
            for (k, it) in items.iter().enumerate() {
                let op = it["op_index"].as_u64();
                let t = it["tensor_index"].as_u64();
                let (Some(op), Some(t)) = (op, t) else {
                    return Err(err(format!(
                        "intermediates[{k}]: missing op_index or tensor_index"
                    )));
                };
                let data = TensorData::from_json(it)
                    .map_err(|m| err(format!("intermediates[{k}]: {m}")))?;
                case.intermediates.push((op as usize, t as usize, data));
            }
        }
        cases.push(case);
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_line_and_field() {
        let text = "{\"inputs\":[{\"shape\":[1,2],\"dtype\":\"int8\",\"data\":[-128,127]}],\"outputs\":[{\"shape\":[2],\"dtype\":\"float32\",\"data\":[0.1,-2.5]}]}\n";
        let cases = parse_cases(text, "x.jsonl").unwrap();
        assert_eq!(cases[0].inputs[0].bytes, vec![0x80, 0x7f]);
        assert_eq!(cases[0].outputs[0].values(), vec![0.1f32 as f64, -2.5]);
        assert_eq!(
            cases[0].outputs[0].to_json()["data"][0].as_f64().unwrap() as f32,
            0.1f32
        );
        let bad = "\n{\"inputs\":[{\"shape\":[1,2],\"dtype\":\"int8\",\"data\":[-129,0]}]}";
        let e = parse_cases(bad, "x.jsonl").unwrap_err().to_string();
        assert_eq!(
            e,
            "x.jsonl:2: inputs[0]: data[0] = -129 is not a valid int8"
        );
        let e = parse_cases(
            "{\"inputs\":[{\"shape\":[3],\"dtype\":\"int8\",\"data\":[1]}]}",
            "y",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("has 1 values but shape [3] needs 3"),
            "{e}"
        );
    }
}

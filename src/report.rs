//! The comparison of a model's variants (float, pruned, each quantization mode): metric on the
//! test split, `.tflite` bytes, arena bytes, MACs, parameters and sparsity, as a text table.

use crate::evaluate::{higher_is_better, metric_name, Metrics};
use crate::specs::{Metric, Task};
use std::fmt::Write;

/// One variant of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// What the row is called: `float`, `float pruned 50%`, `int8`, ...
    pub name: String,
    pub metrics: Metrics,
    pub model_bytes: usize,
    pub arena_bytes: usize,
    pub macs: u64,
    pub parameters: usize,
    /// Fraction of zero weights in the prunable tensors.
    pub sparsity: f64,
}

/// The variants of one model, the first being the reference (the imported float model).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub model: String,
    pub task: Task,
    pub metric: Metric,
    /// The unit of the regression outputs (empty for classification or unitless).
    pub unit: String,
    pub variants: Vec<Variant>,
}

impl Report {
    /// The headline metric of a variant, as printed.
    pub fn format_metric(&self, value: f64) -> String {
        match self.metric {
            Metric::Accuracy => format!("{:.4}", value),
            _ if self.unit.is_empty() => format!("{value:.5}"),
            _ => format!("{value:.5} {}", self.unit),
        }
    }

    /// The table: one line per variant, columns aligned.
    pub fn table(&self) -> String {
        let name = metric_name(self.metric);
        let reference = self.variants.first().map(|v| v.metrics.get(self.metric));
        let mut rows: Vec<[String; 8]> = vec![[
            "variant".into(),
            format!("{name} (test)"),
            format!("vs {}", self.variants.first().map_or("float", |v| &v.name)),
            "model bytes".into(),
            "arena bytes".into(),
            "MACs".into(),
            "parameters".into(),
            "sparsity".into(),
        ]];
        for v in &self.variants {
            let value = v.metrics.get(self.metric);
            let delta = match reference {
                Some(r) if r != 0.0 => {
                    let d = value - r;
                    if higher_is_better(self.metric) {
                        format!("{:+.4}", d)
                    } else {
                        format!("{:+.2}%", 100.0 * d / r)
                    }
                }
                _ => "-".into(),
            };
            rows.push([
                v.name.clone(),
                self.format_metric(value),
                delta,
                v.model_bytes.to_string(),
                v.arena_bytes.to_string(),
                v.macs.to_string(),
                v.parameters.to_string(),
                format!("{:.1}%", 100.0 * v.sparsity),
            ]);
        }
        let widths: Vec<usize> = (0..8)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (i, r) in rows.iter().enumerate() {
            for (c, cell) in r.iter().enumerate() {
                let sep = if c == 0 { "" } else { "  " };
                if c == 0 {
                    let _ = write!(out, "{sep}{cell:<w$}", w = widths[c]);
                } else {
                    let _ = write!(out, "{sep}{cell:>w$}", w = widths[c]);
                }
            }
            out.push('\n');
            if i == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * 7));
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, mae: f64, bytes: usize) -> Variant {
        Variant {
            name: name.into(),
            metrics: Metrics {
                examples: 10,
                mae: Some(mae),
                rmse: Some(mae * 1.2),
                accuracy: None,
            },
            model_bytes: bytes,
            arena_bytes: 100,
            macs: 320,
            parameters: 321,
            sparsity: 0.0,
        }
    }

    #[test]
    fn table_lists_every_variant_with_its_change() {
        let r = Report {
            model: "sine".into(),
            task: Task::Regression,
            metric: Metric::Mae,
            unit: String::new(),
            variants: vec![variant("float", 0.1, 3000), variant("int8", 0.11, 1500)],
        };
        let t = r.table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("variant") && lines[0].contains("MAE (test)"));
        assert!(lines[3].starts_with("int8") && lines[3].contains("0.11000"));
        assert!(lines[3].contains("+10.00%"), "{t}");
        assert!(lines[3].contains("1500"));
    }
}

//! `--plot-results`: a PNG with every variant's test metric and size (model and arena bytes)
//! side by side, drawn with plotters.
//!
//! Text needs a TrueType font; plotters' ab_glyph backend reads it from a file so that no
//! system library (fontconfig, freetype) is needed: `TFLM_FONT` if set, else the usual
//! DejaVu/Liberation/Arial locations.

use crate::evaluate::metric_name;
use crate::report::Report;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font as plotters' "sans-serif" once; the error says where it looked.
fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<PathBuf> = std::env::var_os("TFLM_FONT")
            .map(|p| vec![PathBuf::from(p)])
            .unwrap_or_else(|| FONT_PATHS.iter().map(PathBuf::from).collect());
        let (path, bytes) = candidates
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(|b| (p.clone(), b)))
            .ok_or_else(|| {
                format!(
                    "no TrueType font for the plot's text (looked at {}); set TFLM_FONT to a .ttf file",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        // plotters keeps the font for the life of the program.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a usable TrueType font", path.display()))
    })
    .clone()
}

/// Writes the plot of `report` to `path` (PNG, 1200x500).
pub fn plot(report: &Report, path: &Path) -> Result<(), String> {
    ensure_font()?;
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root
        .titled(
            &format!("{}: variants on the test split", report.model),
            ("sans-serif", 22),
        )
        .map_err(|e| fail(&e))?;
    let (left, right) = root.split_horizontally(600);
    let names: Vec<String> = report.variants.iter().map(|v| v.name.clone()).collect();
    let metric: Vec<f64> = report
        .variants
        .iter()
        .map(|v| v.metrics.get(report.metric))
        .collect();
    let unit = if report.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", report.unit)
    };
    bars(
        &left,
        &format!("{}{unit}", metric_name(report.metric)),
        &names,
        &[(&metric, BLUE.mix(0.7))],
    )
    .map_err(|e| fail(&e))?;
    let model_kb: Vec<f64> = report
        .variants
        .iter()
        .map(|v| v.model_bytes as f64 / 1024.0)
        .collect();
    let arena_kb: Vec<f64> = report
        .variants
        .iter()
        .map(|v| v.arena_bytes as f64 / 1024.0)
        .collect();
    bars(
        &right,
        "KiB: model (red), arena (green)",
        &names,
        &[(&model_kb, RED.mix(0.7)), (&arena_kb, GREEN.mix(0.7))],
    )
    .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// A bar chart: one group per variant, one bar per series in the group.
fn bars(
    area: &Area<'_>,
    caption: &str,
    names: &[String],
    series: &[(&Vec<f64>, RGBAColor)],
) -> Result<(), Box<dyn std::error::Error>> {
    let top = series
        .iter()
        .flat_map(|(v, _)| v.iter().copied())
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    let width = 0.7 / series.len() as f64;
    for (k, (values, color)) in series.iter().enumerate() {
        let color = *color;
        chart.draw_series(values.iter().enumerate().map(move |(i, &v)| {
            let x0 = i as f64 - 0.35 + k as f64 * width;
            let v = if v.is_finite() { v } else { 0.0 };
            Rectangle::new([(x0, 0.0), (x0 + width * 0.9, v)], color.filled())
        }))?;
    }
    Ok(())
}

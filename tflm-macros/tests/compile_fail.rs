//! Compile-fail tests of `include_quantized_model!`: each `tests/compile_fail/NAME.rs` is
//! compiled by rustc against the macro built for this test run, and its diagnostics must equal
//! `NAME.stderr` (paths normalized to `$DIR`). `TFLM_BLESS=1` rewrites the `.stderr` files.
//!
//! (trybuild would build the macro's whole dependency tree, tract included, a second time in
//! its own target directory; rustc with `--extern` reuses the build cargo just made.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The macro's shared library from this build (`target/<profile>/deps/libtflm_macros-*.so`).
fn macro_library() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let suffix = std::env::consts::DLL_SUFFIX;
    let prefix = format!("{}tflm_macros-", std::env::consts::DLL_PREFIX);
    std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(suffix)
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the tflm-macros library next to the test binary")
}

/// A manifest directory with the model directories the cases name: `models/sine` (copied),
/// `models/bad_data` (sine with a NaN in its dataset) and `models/no_model`.
fn fixture_crate() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile_fail_crate");
    let _ = std::fs::remove_dir_all(&root);
    let sine = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sine");
    for (name, csv_edit) in [("sine", false), ("bad_data", true), ("no_model", false)] {
        let d = root.join("models").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(sine.join("specs.json"), d.join("specs.json")).unwrap();
        let mut csv = std::fs::read_to_string(sine.join("dataset.csv")).unwrap();
        if csv_edit {
            // Line 5 of the file (data row 4): x becomes NaN.
            let mut lines: Vec<String> = csv.lines().map(String::from).collect();
            let (_, y) = lines[4].split_once(',').unwrap();
            lines[4] = format!("NaN,{y}");
            csv = lines.join("\n") + "\n";
        }
        std::fs::write(d.join("dataset.csv"), csv).unwrap();
        if name != "no_model" {
            std::fs::copy(sine.join("model.onnx"), d.join("model.onnx")).unwrap();
        }
    }
    root
}

fn normalize(stderr: &str, case_dir: &Path, root: &Path) -> String {
    stderr
        .replace(&case_dir.display().to_string(), "$DIR")
        .replace(&root.display().to_string(), "$CRATE")
        .lines()
        // rustc's closing summary varies with the number of errors only.
        .filter(|l| !l.starts_with("error: aborting"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
        + "\n"
}

#[test]
fn macro_errors_point_at_the_argument() {
    let lib = macro_library();
    let root = fixture_crate();
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compile_fail");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile_fail_out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bless = std::env::var_os("TFLM_BLESS").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&cases)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "cases missing in {}", cases.display());
    let mut failures = Vec::new();
    for case in &names {
        let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args([
                "--edition",
                "2021",
                "--crate-type",
                "lib",
                "--error-format",
                "short",
            ])
            .arg("--crate-name")
            .arg(case.file_stem().unwrap())
            .arg("--out-dir")
            .arg(&out_dir)
            .arg("--extern")
            .arg(format!("tflm_macros={}", lib.display()))
            .arg("-L")
            .arg(format!("dependency={}", lib.parent().unwrap().display()))
            .arg(case)
            .env("CARGO_MANIFEST_DIR", &root)
            .env("TFLM_CACHE_DIR", out_dir.join("cache"))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{} compiled, it must not",
            case.display()
        );
        let got = normalize(&String::from_utf8_lossy(&out.stderr), &cases, &root);
        let expected_path = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

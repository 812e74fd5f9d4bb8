//! The `.tflite` writer against every model the runtime runs: each single-op fixture and each
//! supported peer model is imported into the IR and written back, and the written model must
//! - parse with tflm-runtime and give exactly the original's outputs on the fixture's inputs
//!   (and the fixture's own outputs: integers bit for bit),
//! - be the same bytes when written twice (determinism),
//! - be a fixpoint: importing it gives the same graph, which writes the same bytes again.
//!
//! And against the real TFLite: every written model runs in LiteRT's reference kernels
//! (`tools/litert_run.py --batch`) and must give our runtime's outputs (integers bit for bit,
//! float32 within 1e-5, as DESIGN.md asks of float models). That test says
//! `SKIP` when python3 or ai_edge_litert is missing, unless `TFLM_REQUIRE_LITERT=1` (CI).

mod common;

use common::{compare, litert_available, op_fixtures, peer_models};
use std::path::{Path, PathBuf};
use std::process::Command;
use tflm::fixtures::{read_cases, TensorData};
use tflm::ir::Graph;
use tflm::run::run_cases;
use tflm::tflite_import::import;
use tflm::tflite_writer::write;

/// Import → write, with the determinism and fixpoint checks. Returns the graph and the bytes.
fn round_trip(original: &[u8]) -> Result<(Graph, Vec<u8>), String> {
    let graph = import(original).map_err(|e| format!("import: {e}"))?;
    let written = write(&graph).map_err(|e| format!("write: {e}"))?;
    if write(&graph).map_err(|e| e.to_string())? != written {
        return Err("writing the same graph twice gives different bytes".into());
    }
    check_layout(&written)?;
    let again = import(&written).map_err(|e| format!("re-import of the written model: {e}"))?;
    if again != graph {
        return Err("re-importing the written model gives another graph".into());
    }
    if write(&again).map_err(|e| e.to_string())? != written {
        return Err("the written model is not a fixpoint of import and write".into());
    }
    Ok((graph, written))
}

/// Buffer 0 is empty and every constant's data starts at a 16-byte aligned offset.
fn check_layout(written: &[u8]) -> Result<(), String> {
    use tflm::runtime::flatbuf::Table;
    use tflm::runtime::schema::field;
    let root = Table::root(written).map_err(|e| format!("{e:?}"))?;
    let buffers = root
        .tables(field::model::BUFFERS)
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no buffers")?;
    let first = buffers.get(written, 0).map_err(|e| format!("{e:?}"))?;
    if first
        .bytes(field::buffer::DATA)
        .map_err(|e| format!("{e:?}"))?
        .is_some()
    {
        return Err("buffer 0 holds data".into());
    }
    let aligned = tflm::run::AlignedBytes::new(written);
    let model = tflm::runtime::Model::parse(aligned.as_slice()).map_err(|e| e.to_string())?;
    for i in 0..model.num_tensors() {
        let t = model.tensor(i);
        if t.data.is_some() && !t.data_offset.is_multiple_of(16) {
            return Err(format!("tensor {i}: data at offset {}", t.data_offset));
        }
    }
    Ok(())
}

/// Runs `fixture`'s inputs on both models: the written one must give exactly the original's
/// outputs, and those must match the fixture's (integers exactly, floats within `tol`).
fn same_outputs(
    original: &[u8],
    written: &[u8],
    fixture: &Path,
    reset_each: bool,
    tol: f64,
) -> Result<usize, String> {
    let cases = read_cases(fixture).map_err(|e| e.to_string())?;
    let inputs: Vec<Vec<TensorData>> = cases.iter().map(|c| c.inputs.clone()).collect();
    let want = run_cases(original, &inputs, reset_each).map_err(|e| format!("original: {e}"))?;
    let got = run_cases(written, &inputs, reset_each).map_err(|e| format!("written: {e}"))?;
    for ((case, g), w) in cases.iter().zip(&got).zip(&want) {
        if g != w {
            return Err(format!(
                "line {}: the written model's outputs differ from the original's",
                case.line
            ));
        }
        for (k, (g, e)) in g.iter().zip(&case.outputs).enumerate() {
            compare(&format!("line {} output {k}", case.line), g, e, tol)?;
        }
    }
    Ok(cases.len())
}

fn manifest_cases() -> Vec<(String, bool)> {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(op_fixtures().join("MANIFEST.json")).unwrap(),
    )
    .unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["stateful"].as_bool() == Some(true),
            )
        })
        .collect()
}

#[test]
fn every_op_fixture_round_trips() {
    let dir = op_fixtures();
    let cases = manifest_cases();
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    let mut version_changes = Vec::new();
    for (name, stateful) in &cases {
        let result = (|| {
            let original = std::fs::read(dir.join(format!("{name}.tflite"))).unwrap();
            let (graph, written) = round_trip(&original)?;
            same_outputs(
                &original,
                &written,
                &dir.join(format!("{name}.ref.jsonl")),
                true,
                1e-5,
            )?;
            if *stateful {
                same_outputs(
                    &original,
                    &written,
                    &dir.join(format!("{name}.seq.ref.jsonl")),
                    false,
                    1e-5,
                )?;
            }
            // The fixtures carry the versions TFLite's rules give; report where ours differ.
            let aligned = tflm::run::AlignedBytes::new(&original);
            let model = tflm::runtime::Model::parse(aligned.as_slice())
                .map_err(|e| e.to_string())?
                .operator(0);
            let ours = tflm::tflite_writer::op_version(&graph, &graph.ops[0]);
            if model.version != ours {
                version_changes.push(format!(
                    "{name}: {} v{} -> v{ours}",
                    model.name(),
                    model.version
                ));
            }
            Ok::<(), String>(())
        })();
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    if !version_changes.is_empty() {
        eprintln!(
            "operator versions that differ from the fixtures':\n{}",
            version_changes.join("\n")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The peer models the runtime runs, with their fixtures: `(model, [(fixture, reset_each)])`.
/// The others (an op the runtime lacks) are listed with the reason.
fn supported_peer_models(dir: &Path) -> Vec<(String, Vec<(PathBuf, bool)>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for file in names.iter().filter(|n| n.ends_with(".tflite")) {
        let stem = file.trim_end_matches(".tflite");
        let bytes = std::fs::read(dir.join(file)).unwrap();
        if let Err(e) = tflm::runtime::Model::parse(tflm::run::AlignedBytes::new(&bytes).as_slice())
        {
            eprintln!("SKIP: peer model {file}: the runtime does not run it ({e})");
            continue;
        }
        let fixtures = names
            .iter()
            .filter(|n| n.starts_with(&format!("{stem}.")) && n.ends_with(".jsonl"))
            .map(|n| (dir.join(n), !n.contains(".seq.")))
            .collect();
        out.push((file.clone(), fixtures));
    }
    out
}

#[test]
fn every_supported_peer_model_round_trips() {
    let Some(dir) = peer_models() else { return };
    let models = supported_peer_models(&dir);
    assert!(models.len() >= 5, "{models:?}");
    let mut failures = Vec::new();
    for (file, fixtures) in &models {
        let original = std::fs::read(dir.join(file)).unwrap();
        let result = round_trip(&original).and_then(|(_, written)| {
            let mut lines = 0;
            for (fixture, reset_each) in fixtures {
                lines += same_outputs(&original, &written, fixture, *reset_each, 1e-5)
                    .map_err(|e| format!("{}: {e}", fixture.display()))?;
            }
            Ok(lines)
        });
        match result {
            Ok(lines) => eprintln!(
                "{file}: round trip ok ({} bytes -> written, {lines} fixture lines)",
                original.len()
            ),
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether LiteRT can be run; `None` (after printing `SKIP`) when not and not required.
/// One model for LiteRT: the written bytes, the fixture whose inputs it runs on, and whether
/// the state is reset before every line.
struct Job {
    name: String,
    written: Vec<u8>,
    fixture: PathBuf,
    reset_each: bool,
}

/// Runs every job in LiteRT's reference kernels (one `tools/litert_run.py --batch` process)
/// and in our runtime, and compares the outputs: integers bit for bit, float32 within 1e-5
/// (DESIGN.md; float kernels whose last bit differs from LiteRT's are listed in
/// `float_ulps`). Returns the failures.
fn compare_with_litert(jobs: &[Job], float_ulps: &mut Vec<String>) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("litert_interop");
    std::fs::create_dir_all(&dir).unwrap();
    let mut list = String::new();
    for (i, job) in jobs.iter().enumerate() {
        let model = dir.join(format!("{i:03}_{}.tflite", job.name));
        std::fs::write(&model, &job.written).unwrap();
        list += &format!(
            "{}\t{}\t{}{}\n",
            model.display(),
            job.fixture.display(),
            dir.join(format!("{i:03}_{}.litert.jsonl", job.name))
                .display(),
            if job.reset_each { "" } else { "\tkeep-state" }
        );
    }
    let list_path = dir.join("jobs.tsv");
    std::fs::write(&list_path, list).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/litert_run.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("--batch")
        .arg(&list_path)
        .output()
        .unwrap();
    if !out.status.success() {
        return vec![format!(
            "litert_run.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )];
    }
    let mut failures = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let result = (|| {
            let theirs = read_cases(&dir.join(format!("{i:03}_{}.litert.jsonl", job.name)))
                .map_err(|e| e.to_string())?;
            let cases = read_cases(&job.fixture).map_err(|e| e.to_string())?;
            let inputs: Vec<Vec<TensorData>> = cases.iter().map(|c| c.inputs.clone()).collect();
            let ours = run_cases(&job.written, &inputs, job.reset_each)?;
            if theirs.len() != ours.len() {
                return Err(format!(
                    "LiteRT gave {} lines for {}",
                    theirs.len(),
                    ours.len()
                ));
            }
            for ((case, o), t) in cases.iter().zip(&ours).zip(&theirs) {
                if o.len() != t.outputs.len() {
                    return Err(format!("line {}: output counts differ", case.line));
                }
                for (k, (o, t)) in o.iter().zip(&t.outputs).enumerate() {
                    let what = format!("line {} output {k}", case.line);
                    compare(&what, o, t, 1e-5)?;
                    if o.bytes != t.bytes {
                        if o.dtype != tflm::ir::DType::F32 {
                            return Err(format!("{what}: bits differ"));
                        }
                        float_ulps.push(job.name.clone());
                    }
                }
            }
            Ok::<(), String>(())
        })();
        if let Err(e) = result {
            failures.push(format!("{} ({}): {e}", job.name, job.fixture.display()));
        }
    }
    failures
}

/// Every single-op fixture and every supported peer model, imported and written by us, loads in
/// LiteRT (so the versions and layout we write are accepted) and computes there what it
/// computes in our runtime: integer models bit for bit.
#[test]
fn written_models_run_bit_exact_in_litert() {
    if litert_available().is_none() {
        return;
    }
    let mut jobs = Vec::new();
    let ops = op_fixtures();
    for (name, stateful) in manifest_cases() {
        let original = std::fs::read(ops.join(format!("{name}.tflite"))).unwrap();
        let (_, written) = round_trip(&original).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut runs = vec![(ops.join(format!("{name}.ref.jsonl")), true)];
        if stateful {
            runs.push((ops.join(format!("{name}.seq.ref.jsonl")), false));
        }
        for (fixture, reset_each) in runs {
            jobs.push(Job {
                name: name.clone(),
                written: written.clone(),
                fixture,
                reset_each,
            });
        }
    }
    if let Some(dir) = peer_models() {
        for (file, fixtures) in supported_peer_models(&dir) {
            let original = std::fs::read(dir.join(&file)).unwrap();
            let (_, written) = round_trip(&original).unwrap_or_else(|e| panic!("{file}: {e}"));
            for (fixture, reset_each) in fixtures {
                jobs.push(Job {
                    name: file.trim_end_matches(".tflite").to_string(),
                    written: written.clone(),
                    fixture,
                    reset_each,
                });
            }
        }
    }
    let mut float_ulps = Vec::new();
    let failures = compare_with_litert(&jobs, &mut float_ulps);
    eprintln!(
        "{} of {} written models x fixtures give LiteRT's outputs",
        jobs.len() - failures.len(),
        jobs.len()
    );
    if !float_ulps.is_empty() {
        let mut count = std::collections::BTreeMap::new();
        for name in &float_ulps {
            *count.entry(name.as_str()).or_insert(0) += 1;
        }
        let list: Vec<String> = count.iter().map(|(n, c)| format!("{n} ({c})")).collect();
        eprintln!(
            "float32 outputs within 1e-5 of LiteRT's but not bit-equal: {}",
            list.join(", ")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

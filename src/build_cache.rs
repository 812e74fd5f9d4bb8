//! The conversion cache of `include_quantized_model!`: generated source stored under a hash
//! of everything it depends on, so that a warm build does not convert again.
//!
//! The key covers the cache format's version, the caller's build id (the macro passes a hash
//! of the converter's own sources), the options, and every input file's path and contents.
//! Entries are written atomically (a temporary file renamed into place): parallel builds never
//! read a partial entry, and a failed write only costs the next build a conversion.

use crate::codegen::ModelBytes;
use crate::pipeline::{Pipeline, PipelineError};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The generated source and the files it was made from (for rebuild tracking).
#[derive(Clone, Debug, PartialEq)]
pub struct Cached {
    pub source: String,
    pub inputs: Vec<PathBuf>,
    /// Whether the source came from the cache.
    pub hit: bool,
}

/// The cache key of `pipeline` over the current contents of its input files.
pub fn key(
    pipeline: &Pipeline,
    files: &[PathBuf],
    build_id: &str,
) -> Result<String, PipelineError> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    "tflm-cache-v1".hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    build_id.hash(&mut h);
    format!("{:?}", pipeline.options()).hash(&mut h);
    for f in files {
        f.hash(&mut h);
        let bytes = std::fs::read(f).map_err(|e| PipelineError::Model {
            path: f.clone(),
            message: e.to_string(),
        })?;
        bytes.hash(&mut h);
    }
    Ok(format!("{:016x}", h.finish()))
}

/// The firmware source of `pipeline` (model bytes as a literal), from `dir` when cached there,
/// else converted and stored.
pub fn generate_cached(
    pipeline: &Pipeline,
    dir: &Path,
    build_id: &str,
) -> Result<Cached, PipelineError> {
    let inputs = pipeline.input_files()?;
    let key = key(pipeline, &inputs, build_id)?;
    let entry = dir.join(format!("{key}.rs"));
    if let Ok(source) = std::fs::read_to_string(&entry) {
        return Ok(Cached {
            source,
            inputs,
            hit: true,
        });
    }
    let source = pipeline.generate_rust(&ModelBytes::Literal)?.source;
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = dir.join(format!("{key}.rs.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &source).is_ok() {
            let _ = std::fs::rename(&tmp, &entry);
        }
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(Cached {
        source,
        inputs,
        hit: false,
    })
}

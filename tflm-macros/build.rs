//! Two things for the macro's conversion cache:
//! - an `OUT_DIR` inside the target directory, where the cache lives (`cargo clean` clears it);
//! - `TFLM_MACROS_BUILD_ID`, a hash of the converter's and runtime's sources when they are
//!   beside this crate (a workspace checkout), so that results converted by older code are
//!   never reused; a published crate's sources only change with its version, which the cache
//!   key holds too.
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash_dir(dir: &Path, h: &mut impl Hasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            hash_dir(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            p.file_name().hash(h);
            bytes.hash(h);
        }
    }
}

fn main() {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for dir in ["../src", "../tflm-runtime/src"] {
        let d = Path::new(dir);
        if d.is_dir() {
            println!("cargo:rerun-if-changed={dir}");
            hash_dir(d, &mut h);
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=TFLM_MACROS_BUILD_ID={:016x}", h.finish());
}

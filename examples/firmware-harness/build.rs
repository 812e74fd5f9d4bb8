//! Puts the memory map of the QEMU board that matches the target on the linker's search path as
//! `memory.x` (cortex-m-rt's `link.x` INCLUDEs it; link search paths reach the final link of
//! every dependent binary), and tells the library which board it runs on (`MACHINE`).
//! Dependents still pass `-Tlink.x` themselves (`cargo:rustc-link-arg-bins` does not propagate).
use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap_or_default();
    let (memory, machine) = if target.starts_with("thumbv7em") {
        ("mps2-an386.x", "mps2-an386")
    } else if target.starts_with("thumbv7m") || target.starts_with("thumbv6m") {
        ("mps2-an385.x", "mps2-an385")
    } else {
        println!(
            "cargo:warning=tflm-firmware-harness: unsupported target {target}: use \
             thumbv7em-none-eabihf (mps2-an386), thumbv7m-none-eabi or thumbv6m-none-eabi (mps2-an385)"
        );
        std::process::exit(1);
    };
    let src = manifest.join("memory").join(memory);
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    fs::copy(&src, out.join("memory.x")).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-env=TFLM_HARNESS_MACHINE={machine}");
}

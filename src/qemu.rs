//! `tflm qemu`: runs a model on an emulated Cortex-M (QEMU's MPS2 boards) with the firmware of
//! `examples/qemu-firmware`, and measures it.
//!
//! [`run`] does what a firmware author would do by hand:
//! 1. gets the Cortex-M toolchain's environment from `tools/cortex-m-toolchain.sh` (rustup's
//!    installed targets, or the pinned Debian fallback it extracts and caches), applied only to
//!    the child processes, never to this one;
//! 2. builds the firmware for the model and the cases (`cargo build --release --manifest-path
//!    examples/qemu-firmware/Cargo.toml --target ...`, in a target directory of its own,
//!    `target/qemu-firmware`), holding a lock so that concurrent runs do not overwrite each
//!    other's image;
//! 3. runs it in `qemu-system-arm -icount shift=0` (one instruction per nanosecond of virtual
//!    time, so SysTick counts instructions deterministically) with a timeout;
//! 4. parses the firmware's JSON lines (outputs, mismatches, summary) and reads the image's
//!    section and symbol sizes from the ELF (flash and static RAM; the model's and the test
//!    data's bytes apart).
//!
//! `$TFLM_QEMU` names another `qemu-system-arm` binary; `$TFLM_SOURCE_DIR` another tflm-rs
//! checkout (with `tools/` and `examples/qemu-firmware/`).
//!
//! A mismatch between the outputs and the expected ones is an error
//! ([`QemuError::Mismatch`]) that still carries the whole report.

use crate::fixtures::{read_cases, TensorData};
use crate::run::AlignedBytes;
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The Cortex-M targets the toolchain script provides (for the install hint).
const TARGETS: &str = "thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf";

/// A QEMU board (and the Rust target the firmware is built for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Machine {
    /// `mps2-an386`: Cortex-M4F, `thumbv7em-none-eabihf`.
    #[default]
    Mps2An386,
    /// `mps2-an385`: Cortex-M3, `thumbv7m-none-eabi`.
    Mps2An385,
}

impl Machine {
    pub const ALL: [Machine; 2] = [Machine::Mps2An386, Machine::Mps2An385];

    /// QEMU's `-machine` name.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "mps2-an386",
            Machine::Mps2An385 => "mps2-an385",
        }
    }
    /// QEMU's `-cpu`.
    pub fn cpu(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "cortex-m4",
            Machine::Mps2An385 => "cortex-m3",
        }
    }
    /// The Rust target the firmware is built for.
    pub fn target(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "thumbv7em-none-eabihf",
            Machine::Mps2An385 => "thumbv7m-none-eabi",
        }
    }
    /// Human-readable core.
    pub fn core(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "Cortex-M4F",
            Machine::Mps2An385 => "Cortex-M3",
        }
    }
}

impl std::str::FromStr for Machine {
    type Err = String;
    fn from_str(s: &str) -> Result<Machine, String> {
        Machine::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown machine {s:?}: use mps2-an386 (Cortex-M4F) or mps2-an385 (Cortex-M3)"
                )
            })
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to run and how. [`QemuOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct QemuOptions {
    /// The `.tflite` model.
    pub model: PathBuf,
    /// JSON-lines cases (`{"inputs":[...]}` per line; an `"outputs"` key is checked too).
    pub inputs: PathBuf,
    /// JSON-lines file whose line *i* gives the expected `outputs` of case *i*.
    pub expect: Option<PathBuf>,
    pub machine: Machine,
    /// Keep variable tensors (SVDF/LSTM state) from case to case instead of resetting them.
    pub keep_state: bool,
    /// Arena capacity in bytes. `None`: exactly what the model needs (`Model::arena_size()`,
    /// computed on the host), so that the reported RAM is the real one.
    pub arena: Option<usize>,
    /// QEMU's time limit (the build has none).
    pub timeout: Duration,
    /// Also build the firmware with a stand-in for the interpreter (the harness alone, not
    /// run) and report the runtime's code as the difference: one more build.
    pub runtime_code: bool,
    /// The tflm-rs source tree (with `tools/` and `examples/qemu-firmware/`). Default:
    /// `$TFLM_SOURCE_DIR`, else the tree this crate was built from.
    pub source_dir: Option<PathBuf>,
    /// The firmware's cargo target directory. Default: `<source>/target/qemu-firmware` (the
    /// Cortex-M toolchain may be another compiler than the host's: never share host builds).
    pub target_dir: Option<PathBuf>,
    /// Progress lines on stderr (toolchain, build, run).
    pub progress: bool,
    /// The firmware's `opt-level` (`"3"`, `"s"`, `"z"`, ...); `None`: its Cargo.toml's (3).
    pub opt_level: Option<String>,
    /// Verify the model on the device (`Model::parse_with`, what a firmware does with bytes
    /// from elsewhere) instead of at build time (the firmware's build script runs
    /// `Model::parse_with` and the firmware opens the bytes with
    /// `Model::from_build_verified`).
    pub verify_on_device: bool,
}

impl QemuOptions {
    pub fn new(model: impl Into<PathBuf>, inputs: impl Into<PathBuf>) -> QemuOptions {
        QemuOptions {
            model: model.into(),
            inputs: inputs.into(),
            expect: None,
            machine: Machine::default(),
            keep_state: false,
            arena: None,
            timeout: Duration::from_secs(600),
            runtime_code: false,
            source_dir: None,
            target_dir: None,
            progress: false,
            opt_level: None,
            verify_on_device: false,
        }
    }
}

/// Sizes read from the firmware's ELF, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSizes {
    /// `.vector_table` (reset vector and exception table).
    pub vector_table: u64,
    pub text: u64,
    pub rodata: u64,
    /// `.data` (initialized statics: in RAM, with their initial values in flash too).
    pub data: u64,
    pub bss: u64,
    /// `.uninit` (cortex-m-rt's uninitialized statics).
    pub uninit: u64,
    /// Every allocated section with contents (what is programmed into flash, `.data`'s
    /// initial values included).
    pub flash: u64,
    /// Static RAM: `.data` + `.bss` + `.uninit` (the stack is measured at run time).
    pub static_ram: u64,
    /// The model's flatbuffer (symbol `TFLM_MODEL`, in `.rodata`).
    pub model: u64,
    /// The test cases' inputs and expected outputs (`TFLM_INPUTS` + `TFLM_EXPECTED`).
    pub test_data: u64,
    /// The arena (symbol `TFLM_ARENA`, in `.bss`).
    pub arena: u64,
}

impl ImageSizes {
    /// Flash without the model and the test data: code and constants of the runtime and the
    /// harness.
    pub fn code(&self) -> u64 {
        self.flash.saturating_sub(self.model + self.test_data)
    }

    /// Reads the sizes from an ELF image of the firmware.
    pub fn from_elf(bytes: &[u8]) -> Result<ImageSizes, String> {
        let file = object::File::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let mut s = ImageSizes::default();
        for section in file.sections() {
            let SectionFlags::Elf { sh_flags } = section.flags() else {
                continue;
            };
            if sh_flags & u64::from(object::elf::SHF_ALLOC) == 0 {
                continue;
            }
            let size = section.size();
            let nobits = section.kind() == SectionKind::UninitializedData
                || section.kind() == SectionKind::UninitializedTls;
            match section.name().unwrap_or("") {
                ".vector_table" => s.vector_table += size,
                ".text" => s.text += size,
                ".rodata" => s.rodata += size,
                ".data" => s.data += size,
                ".bss" => s.bss += size,
                ".uninit" => s.uninit += size,
                _ => {}
            }
            if !nobits && size > 0 {
                s.flash += size;
            }
            if section.address() >= 0x2000_0000 {
                s.static_ram += size;
            }
        }
        for sym in file.symbols() {
            match sym.name().unwrap_or("") {
                "TFLM_MODEL" => s.model = sym.size(),
                "TFLM_INPUTS" | "TFLM_EXPECTED" => s.test_data += sym.size(),
                "TFLM_ARENA" => s.arena = sym.size(),
                _ => {}
            }
        }
        if s.text == 0 {
            return Err("the ELF has no .text section".into());
        }
        Ok(s)
    }
}

/// The firmware's measurements (its `{"summary":{...}}` line; see
/// `examples/qemu-firmware/README.md`). Instruction counts are exact to ±40 (one SysTick tick).
#[derive(Clone, Debug, Default)]
pub struct FirmwareSummary {
    pub cases: u64,
    pub checked: u64,
    pub mismatches: u64,
    pub first_invoke_instr: Option<u64>,
    /// Mean of the invokes after the first (the first when there is one case).
    pub steady_invoke_instr: Option<u64>,
    pub steady_invoke_instr_min: Option<u64>,
    pub steady_invoke_instr_max: Option<u64>,
    /// Opening the model: `Model::from_build_verified`, or `Model::parse_with` with
    /// [`QemuOptions::verify_on_device`] (the summary's `model_open` names it).
    pub parse_instr: u64,
    pub interpreter_new_instr: u64,
    /// Opening the model + `Interpreter::new`.
    pub setup_instr: u64,
    /// `model.arena_size()` as computed on the MCU.
    pub arena_bytes: u64,
    pub arena_used: u64,
    pub arena_capacity: u64,
    /// High-water mark of the whole stack (reset code, harness and runtime).
    pub peak_stack_bytes: u64,
    /// Stack below `main`'s frame used by the deepest `invoke()`.
    pub invoke_stack_bytes: u64,
    /// Stack below `main`'s frame used by opening the model + `Interpreter::new`.
    pub setup_stack_bytes: u64,
    /// The whole line, for fields not listed here.
    pub raw: Value,
}

impl FirmwareSummary {
    fn from_json(v: &Value) -> FirmwareSummary {
        let u = |k: &str| v[k].as_u64();
        FirmwareSummary {
            cases: u("cases").unwrap_or(0),
            checked: u("checked").unwrap_or(0),
            mismatches: u("mismatches").unwrap_or(0),
            first_invoke_instr: u("first_invoke_instr"),
            steady_invoke_instr: u("steady_invoke_instr"),
            steady_invoke_instr_min: u("steady_invoke_instr_min"),
            steady_invoke_instr_max: u("steady_invoke_instr_max"),
            parse_instr: u("parse_instr").unwrap_or(0),
            interpreter_new_instr: u("interpreter_new_instr").unwrap_or(0),
            setup_instr: u("setup_instr").unwrap_or(0),
            arena_bytes: u("arena_bytes").unwrap_or(0),
            arena_used: u("arena_used").unwrap_or(0),
            arena_capacity: u("arena_capacity").unwrap_or(0),
            peak_stack_bytes: u("peak_stack_bytes").unwrap_or(0),
            invoke_stack_bytes: u("invoke_stack_bytes").unwrap_or(0),
            setup_stack_bytes: u("setup_stack_bytes").unwrap_or(0),
            raw: v.clone(),
        }
    }
}

/// One case's outputs as the firmware printed them.
#[derive(Clone, Debug)]
pub struct CaseOutputs {
    /// The outputs, when every tensor is of a type the fixture format reads (`None`, e.g., for
    /// NaN floats or float16: `line` still has them).
    pub tensors: Option<Vec<TensorData>>,
    /// The line in `tflm run`'s format (`{"outputs":[{"shape","dtype","data"}]}`).
    pub line: String,
}

/// Everything a run found out.
#[derive(Clone, Debug)]
pub struct QemuReport {
    pub machine: Machine,
    /// `rustup` or `debian` (from the toolchain script).
    pub toolchain: String,
    pub elf: ImageSizes,
    /// `flash` and `code` of the firmware with a stand-in interpreter (with
    /// [`QemuOptions::runtime_code`]).
    pub harness: Option<ImageSizes>,
    pub summary: FirmwareSummary,
    /// One per case, in order.
    pub outputs: Vec<CaseOutputs>,
    /// The firmware's `{"mismatch":{...}}` lines and the host's own comparison's findings.
    pub mismatches: Vec<String>,
    /// The firmware's `{"warning":...}` lines and QEMU's messages.
    pub warnings: Vec<String>,
    /// The firmware's `{"calibration":{...}}` line.
    pub calibration: Value,
    pub build_time: Duration,
    pub run_time: Duration,
}

impl QemuReport {
    /// RAM: static RAM (`.data` + `.bss` + `.uninit`, the arena included) + peak stack.
    pub fn ram_bytes(&self) -> u64 {
        self.elf.static_ram + self.summary.peak_stack_bytes
    }

    /// The runtime's code and constants: this image's minus the harness's (needs
    /// [`QemuOptions::runtime_code`]).
    pub fn runtime_code_bytes(&self) -> Option<u64> {
        self.harness
            .as_ref()
            .map(|h| self.elf.code().saturating_sub(h.code()))
    }

    /// The summary as one JSON object (`tflm qemu --json` prints `{"summary": this}`).
    pub fn summary_json(&self) -> Value {
        let s = &self.summary;
        let e = &self.elf;
        json!({
            "machine": self.machine.name(),
            "cpu": self.machine.core(),
            "target": self.machine.target(),
            "toolchain": self.toolchain,
            "cases": s.cases,
            "checked": s.checked,
            "mismatches": self.mismatches.len(),
            "instructions": {
                "first_invoke": s.first_invoke_instr,
                "steady_invoke": s.steady_invoke_instr,
                "steady_invoke_min": s.steady_invoke_instr_min,
                "steady_invoke_max": s.steady_invoke_instr_max,
                "setup": s.setup_instr,
                "parse": s.parse_instr,
                "interpreter_new": s.interpreter_new_instr,
            },
            "flash": {
                "total": e.flash,
                "vector_table": e.vector_table,
                "text": e.text,
                "rodata": e.rodata,
                "data_init": e.data,
                "model": e.model,
                "test_data": e.test_data,
                "code": e.code(),
                "harness_code": self.harness.as_ref().map(ImageSizes::code),
                "runtime_code": self.runtime_code_bytes(),
            },
            "ram": {
                "total": self.ram_bytes(),
                "arena": e.arena,
                "data": e.data,
                "bss": e.bss,
                "uninit": e.uninit,
                "peak_stack": s.peak_stack_bytes,
                "invoke_stack": s.invoke_stack_bytes,
                "setup_stack": s.setup_stack_bytes,
            },
            "arena": {
                "needed": s.arena_bytes,
                "used": s.arena_used,
                "capacity": s.arena_capacity,
            },
            "build_seconds": (self.build_time.as_secs_f64() * 10.0).round() / 10.0,
            "run_seconds": (self.run_time.as_secs_f64() * 100.0).round() / 100.0,
        })
    }

    /// The summary for people (what `tflm qemu` prints on stderr).
    pub fn summary_text(&self) -> String {
        let s = &self.summary;
        let e = &self.elf;
        let n = |x: u64| group(x);
        let o = |x: Option<u64>| x.map_or("-".to_string(), group);
        let mut t = String::new();
        let verdict = if !self.mismatches.is_empty() {
            let n = self.mismatches.len();
            format!("{n} MISMATCH{}", if n == 1 { "" } else { "ES" })
        } else if s.checked == 0 {
            "nothing checked (no expected outputs)".to_string()
        } else {
            "all outputs match".to_string()
        };
        let _ = writeln!(
            t,
            "tflm qemu: {} ({}, {}, toolchain {}): {} cases, {} checked, {verdict}",
            self.machine,
            self.machine.core(),
            self.machine.target(),
            self.toolchain,
            s.cases,
            s.checked
        );
        let _ = writeln!(
            t,
            "  instructions  invoke: first {}, steady state {} (min {}, max {}); setup {} ({} {} + Interpreter::new {})",
            o(s.first_invoke_instr),
            o(s.steady_invoke_instr),
            o(s.steady_invoke_instr_min),
            o(s.steady_invoke_instr_max),
            n(s.setup_instr),
            s.raw["model_open"].as_str().unwrap_or("Model::parse"),
            n(s.parse_instr),
            n(s.interpreter_new_instr)
        );
        let _ = writeln!(
            t,
            "  flash         {} B = .text {} + .rodata {} + .vector_table {} + .data {}; of which model {}, test data {}; code and constants {}",
            n(e.flash),
            n(e.text),
            n(e.rodata),
            n(e.vector_table),
            n(e.data),
            n(e.model),
            n(e.test_data),
            n(e.code())
        );
        if let (Some(h), Some(r)) = (&self.harness, self.runtime_code_bytes()) {
            let _ = writeln!(
                t,
                "                runtime code and constants {} B (= {} - {} of the harness alone)",
                n(r),
                n(e.code()),
                n(h.code())
            );
        }
        let _ = writeln!(
            t,
            "  RAM           {} B = arena {} + .data {} + .bss without the arena {} + .uninit {} + peak stack {} (invoke {}, setup {})",
            n(self.ram_bytes()),
            n(e.arena),
            n(e.data),
            n(e.bss.saturating_sub(e.arena)),
            n(e.uninit),
            n(s.peak_stack_bytes),
            n(s.invoke_stack_bytes),
            n(s.setup_stack_bytes)
        );
        let _ = writeln!(
            t,
            "  arena         needed {} B, used {} B, capacity {} B",
            n(s.arena_bytes),
            n(s.arena_used),
            n(s.arena_capacity)
        );
        for w in &self.warnings {
            let _ = writeln!(t, "  warning: {w}");
        }
        for m in &self.mismatches {
            let _ = writeln!(t, "  mismatch: {m}");
        }
        t
    }
}

/// 1234567 → "1,234,567".
fn group(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error(
        "no Cortex-M Rust toolchain: {details}\n  On an ordinary machine: rustup target add {TARGETS}\n  Where rustup cannot download targets (Debian/Ubuntu): tools/cortex-m-toolchain.sh \
         extracts Debian's rustc-web into target/cortex-m-toolchain (it needs apt-get; see its --help)"
    )]
    ToolchainMissing { details: String },
    #[error(
        "qemu-system-arm not found ({details}): install it with `apt-get install qemu-system-arm`"
    )]
    QemuMissing { details: String },
    #[error("{0}")]
    Input(String),
    #[error("the firmware sources are not at {0} (set TFLM_SOURCE_DIR to a tflm-rs checkout)")]
    SourceNotFound(PathBuf),
    #[error("building the firmware failed: {command}\n{log}")]
    Build { command: String, log: String },
    #[error("qemu did not finish within {} s (raise --timeout); its output so far:\n{output}", timeout.as_secs())]
    Timeout { timeout: Duration, output: String },
    #[error("the firmware failed: {message}")]
    Firmware { message: String },
    #[error("{}", mismatch_message(report, details))]
    Mismatch {
        report: Box<QemuReport>,
        details: Vec<String>,
    },
    #[error("{0}")]
    Io(String),
}

fn mismatch_message(report: &QemuReport, details: &[String]) -> String {
    let mut m = format!(
        "outputs differ from the expected ones on {} ({} of {} checked cases' tensors):",
        report.machine,
        details.len(),
        report.summary.checked
    );
    for d in details.iter().take(20) {
        m.push_str("\n  ");
        m.push_str(d);
    }
    if details.len() > 20 {
        let _ = write!(m, "\n  ... and {} more", details.len() - 20);
    }
    m
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> QemuError {
    let what = format!("{what} {}", path.display());
    move |e| QemuError::Io(format!("{what}: {e}"))
}

/// The tflm-rs source tree: `$TFLM_SOURCE_DIR` or the one this crate was built from.
pub fn source_dir(opt: Option<&Path>) -> PathBuf {
    opt.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("TFLM_SOURCE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Why the QEMU runs cannot happen here, or `None` when they can: checks (without installing
/// anything) that `tools/cortex-m-toolchain.sh --check` finds a toolchain and that
/// `qemu-system-arm` runs. The tests use it to decide whether to skip.
pub fn unavailable(source: Option<&Path>) -> Option<String> {
    let src = source_dir(source);
    if let Err(e) = qemu_version() {
        return Some(e.to_string());
    }
    match toolchain_env(&src, true) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// `qemu-system-arm`, or `$TFLM_QEMU` (another build of it).
fn qemu_bin() -> std::ffi::OsString {
    std::env::var_os("TFLM_QEMU").unwrap_or_else(|| "qemu-system-arm".into())
}

fn qemu_version() -> Result<String, QemuError> {
    match Command::new(qemu_bin())
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()),
        Ok(o) => Err(QemuError::QemuMissing {
            details: format!(
                "`qemu-system-arm --version` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        }),
        Err(e) => Err(QemuError::QemuMissing {
            details: format!("{}: {e}", Path::new(&qemu_bin()).display()),
        }),
    }
}

/// The toolchain's variables (`export` lines of `tools/cortex-m-toolchain.sh`, evaluated by
/// bash in a child process). `check_only`: never download.
fn toolchain_env(src: &Path, check_only: bool) -> Result<Vec<(String, String)>, QemuError> {
    let script = src.join("tools/cortex-m-toolchain.sh");
    if !script.exists() {
        return Err(QemuError::SourceNotFound(src.to_path_buf()));
    }
    // The script prints `export NAME="..."` lines (with $PATH-style expansions): let bash
    // evaluate them and print each variable's value, NUL-separated.
    const SNIPPET: &str = r#"set -eu
lines="$("$@")"
eval "$lines"
for v in $(printf '%s\n' "$lines" | sed -n 's/^export \([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
    printf '%s=%s\0' "$v" "${!v}"
done"#;
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(SNIPPET)
        .arg("bash")
        .arg(&script)
        .arg("--quiet");
    if check_only {
        cmd.arg("--check");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| QemuError::ToolchainMissing {
            details: format!("cannot run bash {}: {e}", script.display()),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(QemuError::ToolchainMissing {
            details: if err.is_empty() {
                format!(
                    "{} found none{}",
                    script.display(),
                    if check_only {
                        " (run it without --check to set one up)"
                    } else {
                        ""
                    }
                )
            } else {
                err
            },
        });
    }
    let vars: Vec<(String, String)> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    if !vars.iter().any(|(k, _)| k == "TFLM_CM_CARGO_ARGS") {
        return Err(QemuError::ToolchainMissing {
            details: format!("{} printed no TFLM_CM_CARGO_ARGS", script.display()),
        });
    }
    Ok(vars)
}

/// Builds the firmware and runs it under QEMU. `Ok` when every checked output matched (or
/// nothing was checked); [`QemuError::Mismatch`] (with the report) otherwise.
/// The Cortex-M toolchain's build environment (tools/cortex-m-toolchain.sh's lines), its kind
/// and the extra cargo arguments it needs (`-Zbuild-std=core` for the Debian fallback).
struct CortexM {
    env: Vec<(String, String)>,
    toolchain: String,
    cargo_args: Vec<String>,
}

/// The toolchain already set up, else set up now (`on_setup` says so first).
fn cortex_m(src: &Path, on_setup: impl FnOnce()) -> Result<CortexM, QemuError> {
    let env = match toolchain_env(src, true) {
        Ok(env) => env,
        Err(_) => {
            on_setup();
            toolchain_env(src, false)?
        }
    };
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let toolchain = get("TFLM_CM_TOOLCHAIN");
    let cargo_args = get("TFLM_CM_CARGO_ARGS")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(CortexM {
        env,
        toolchain,
        cargo_args,
    })
}

pub fn run(opts: &QemuOptions) -> Result<QemuReport, QemuError> {
    let src = source_dir(opts.source_dir.as_deref());
    let manifest = src.join("examples/qemu-firmware/Cargo.toml");
    if !manifest.exists() {
        return Err(QemuError::SourceNotFound(src));
    }
    let progress = |msg: &str| {
        if opts.progress {
            eprintln!("tflm qemu: {msg}");
        }
    };

    // ---- inputs: absolute paths, and the model checked on the host first ----
    let abs = |p: &Path, what: &str| -> Result<PathBuf, QemuError> {
        std::fs::canonicalize(p)
            .map_err(|e| QemuError::Input(format!("{what} {}: {e}", p.display())))
    };
    let model_path = abs(&opts.model, "model")?;
    let inputs_path = abs(&opts.inputs, "inputs")?;
    let expect_path = opts
        .expect
        .as_deref()
        .map(|p| abs(p, "--expect"))
        .transpose()?;
    let model_bytes = std::fs::read(&model_path).map_err(io_err("model", &model_path))?;
    let aligned = AlignedBytes::new(&model_bytes);
    let model = tflm_runtime::Model::parse(aligned.as_slice())
        .map_err(|e| QemuError::Input(format!("{}: {e}", model_path.display())))?;
    let arena = opts.arena.unwrap_or_else(|| model.arena_size());
    // The expected outputs, for the host's own comparison (the firmware compares bytes too).
    // Best effort: the firmware's build script reads more dtypes and spellings (float16,
    // "nan") than the fixture reader, and it reports malformed files with their line numbers.
    let expected = host_expected(&inputs_path, expect_path.as_deref());

    // ---- qemu and the toolchain ----
    qemu_version()?;
    let CortexM {
        env,
        toolchain,
        cargo_args: extra_args,
    } = cortex_m(&src, || {
        progress("setting up the Cortex-M toolchain (tools/cortex-m-toolchain.sh; the Debian fallback downloads about 120 MB once)")
    })?;

    // ---- build ----
    let target_dir = opts
        .target_dir
        .clone()
        .unwrap_or_else(|| src.join("target/qemu-firmware"));
    std::fs::create_dir_all(target_dir.join("runs")).map_err(io_err("create", &target_dir))?;
    let fw = FirmwareBuild {
        src: &src,
        manifest: &manifest,
        target_dir: &target_dir,
        env: &env,
        extra_args: &extra_args,
        machine: opts.machine,
        model: &model_path,
        cases: &inputs_path,
        expect: expect_path.as_deref(),
        arena,
        keep_state: opts.keep_state,
        opt_level: opts.opt_level.as_deref(),
        verify_on_device: opts.verify_on_device,
    };
    let t0 = Instant::now();
    progress(&format!(
        "building the firmware for {} ({}, toolchain {toolchain}; a cold build takes 1-2 minutes, a new model about 10-40 s)",
        opts.machine,
        opts.machine.target()
    ));
    let elf_path = fw.build(false)?;
    let _cleanup = RemoveOnDrop(elf_path.clone());
    let elf_bytes = std::fs::read(&elf_path).map_err(io_err("read", &elf_path))?;
    let elf = ImageSizes::from_elf(&elf_bytes)
        .map_err(|e| QemuError::Io(format!("{}: {e}", elf_path.display())))?;
    let harness = if opts.runtime_code {
        progress("building the harness alone (--features dummy) for the runtime's code size");
        let p = fw.build(true)?;
        let _c = RemoveOnDrop(p.clone());
        let b = std::fs::read(&p).map_err(io_err("read", &p))?;
        Some(ImageSizes::from_elf(&b).map_err(|e| QemuError::Io(format!("{}: {e}", p.display())))?)
    } else {
        None
    };
    let build_time = t0.elapsed();

    // ---- run ----
    progress(&format!(
        "running qemu-system-arm -machine {} -cpu {} -icount shift=0",
        opts.machine.name(),
        opts.machine.cpu()
    ));
    let t1 = Instant::now();
    let (status, stdout, stderr) = run_qemu(opts.machine, &elf_path, opts.timeout)?;
    let run_time = t1.elapsed();

    // ---- parse ----
    let mut outputs = Vec::new();
    let mut mismatches = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut summary = None;
    let mut calibration = Value::Null;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            if line.starts_with("{\"outputs\"") {
                // Not valid JSON for serde (NaN, Infinity): passed on as the firmware wrote it.
                outputs.push(CaseOutputs {
                    tensors: None,
                    line: line.to_string(),
                });
            } else {
                warnings.push(format!("qemu: {line}"));
            }
            continue;
        };
        if let Some(list) = v.get("outputs").and_then(Value::as_array) {
            let tensors: Option<Vec<TensorData>> =
                list.iter().map(|t| TensorData::from_json(t).ok()).collect();
            let line = match &tensors {
                Some(ts) => {
                    json!({"outputs": ts.iter().map(TensorData::to_json).collect::<Vec<_>>()})
                        .to_string()
                }
                None => line.to_string(),
            };
            outputs.push(CaseOutputs { tensors, line });
        } else if let Some(m) = v.get("mismatch") {
            mismatches.push(describe_mismatch(m));
        } else if let Some(w) = v.get("warning") {
            warnings.push(w.as_str().unwrap_or("").to_string());
        } else if let Some(e) = v.get("error") {
            errors.push(e.as_str().unwrap_or("").to_string());
        } else if let Some(s) = v.get("summary") {
            summary = Some(FirmwareSummary::from_json(s));
        } else if let Some(c) = v.get("calibration") {
            calibration = c.clone();
        } else {
            warnings.push(format!("firmware: {line}"));
        }
    }
    for l in stderr.lines().filter(|l| !l.trim().is_empty()) {
        warnings.push(format!("qemu: {l}"));
    }
    let Some(summary) = summary else {
        let message = if errors.is_empty() {
            format!(
                "qemu exited with {status} before the firmware's summary\n  stdout: {}\n  stderr: {}",
                stdout.trim(),
                stderr.trim()
            )
        } else {
            errors.join("; ")
        };
        return Err(QemuError::Firmware { message });
    };
    if !errors.is_empty() {
        return Err(QemuError::Firmware {
            message: errors.join("; "),
        });
    }
    if outputs.len() as u64 != summary.cases {
        return Err(QemuError::Firmware {
            message: format!("{} output lines for {} cases", outputs.len(), summary.cases),
        });
    }
    // The host's own comparison, as a check of the firmware's.
    for (i, (got, want)) in outputs.iter().zip(&expected).enumerate() {
        let (Some(got), Some(want)) = (&got.tensors, want) else {
            continue;
        };
        for (j, (g, w)) in got.iter().zip(want).enumerate() {
            if g.dtype != w.dtype || g.bytes != w.bytes {
                let s = format!("case {i} output {j}: differs (host comparison)");
                if !mismatches
                    .iter()
                    .any(|m| m.starts_with(&format!("case {i} output {j}:")))
                {
                    mismatches.push(s);
                }
            }
        }
        if got.len() != want.len() {
            mismatches.push(format!(
                "case {i}: {} outputs, {} expected",
                got.len(),
                want.len()
            ));
        }
    }
    let report = QemuReport {
        machine: opts.machine,
        toolchain,
        elf,
        harness,
        summary,
        outputs,
        mismatches: mismatches.clone(),
        warnings,
        calibration,
        build_time,
        run_time,
    };
    if !mismatches.is_empty() || report.summary.mismatches > 0 || !status.success() {
        let mut details = mismatches;
        if details.is_empty() {
            details.push(format!(
                "the firmware reported {} mismatches and qemu exited with {status}",
                report.summary.mismatches
            ));
        }
        return Err(QemuError::Mismatch {
            report: Box::new(report),
            details,
        });
    }
    Ok(report)
}

/// A firmware crate to build and run under QEMU as it is: its inputs are its own (compiled in,
/// e.g. by `include_quantized_model!` and its build script), its output is whatever it prints
/// over semihosting. `examples/qemu-macro-firmware` is run this way by tests/qemu_macro.rs.
#[derive(Clone, Debug)]
pub struct CrateRun {
    /// The crate's directory, relative to the source tree (e.g. `examples/qemu-macro-firmware`)
    /// or absolute.
    pub crate_dir: PathBuf,
    /// The binary's name (the ELF under `<target dir>/<target>/release/`).
    pub bin: String,
    pub machine: Machine,
    /// Build-time environment of the crate's build script (e.g. `TFLM_ROWS`).
    pub env: Vec<(String, String)>,
    /// Cargo target directory. Default: `$TFLM_FIRMWARE_TARGET_DIR`, else
    /// `$CARGO_TARGET_DIR/firmware`, else `<source>/target/firmware`: where
    /// tools/check-firmware.sh builds, so that the tests reuse CI's build.
    pub target_dir: Option<PathBuf>,
    /// QEMU's time limit (the build has none).
    pub timeout: Duration,
    /// The tflm-rs source tree (default as in [`QemuOptions::source_dir`]).
    pub source_dir: Option<PathBuf>,
}

impl CrateRun {
    pub fn new(crate_dir: impl Into<PathBuf>, bin: &str) -> CrateRun {
        CrateRun {
            crate_dir: crate_dir.into(),
            bin: bin.to_string(),
            machine: Machine::default(),
            env: Vec::new(),
            target_dir: None,
            timeout: Duration::from_secs(600),
            source_dir: None,
        }
    }
}

/// What a [`run_crate`] found.
#[derive(Clone, Debug)]
pub struct CrateOutput {
    /// `rustup` or `debian` (from the toolchain script).
    pub toolchain: String,
    /// Section and symbol sizes of the image.
    pub elf: ImageSizes,
    /// Every symbol of the image with its size (`(name, size)`, mangled names as they are).
    pub symbols: Vec<(String, u64)>,
    /// The firmware's semihosting stdout and QEMU's stderr.
    pub stdout: String,
    pub stderr: String,
    /// QEMU's exit status (the firmware's verdict through semihosting).
    pub success: bool,
    pub build_time: Duration,
    pub run_time: Duration,
}

/// Every symbol of an ELF image with its size.
pub fn elf_symbols(bytes: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
    Ok(file
        .symbols()
        .filter_map(|s| s.name().ok().map(|n| (n.to_string(), s.size())))
        .collect())
}

/// Builds a firmware crate for `machine` (release, the Cortex-M toolchain's environment) and
/// runs its image in QEMU with `-icount shift=0`. `Ok` whatever the exit status (see
/// [`CrateOutput::success`]); `Err` when it cannot be built or run.
pub fn run_crate(opts: &CrateRun) -> Result<CrateOutput, QemuError> {
    let src = source_dir(opts.source_dir.as_deref());
    let dir = src.join(&opts.crate_dir);
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        return Err(QemuError::SourceNotFound(dir));
    }
    qemu_version()?;
    let CortexM {
        env,
        toolchain,
        cargo_args,
    } = cortex_m(&src, || {})?;
    let target_dir = opts
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("TFLM_FIRMWARE_TARGET_DIR").map(PathBuf::from))
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("firmware")))
        .unwrap_or_else(|| src.join("target/firmware"));
    std::fs::create_dir_all(target_dir.join("runs")).map_err(io_err("create", &target_dir))?;
    static RUN: AtomicU32 = AtomicU32::new(0);
    let elf_path = target_dir
        .join(opts.machine.target())
        .join("release")
        .join(&opts.bin);
    let dest = target_dir.join("runs").join(format!(
        "{}-{}-{}.elf",
        opts.bin,
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args: Vec<String> = vec![
        "build".into(),
        "--release".into(),
        "--target".into(),
        opts.machine.target().into(),
    ];
    args.extend(cargo_args);
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg("bash")
        .arg(target_dir.join(".tflm-qemu.lock"))
        .arg(&elf_path)
        .arg(&dest)
        .arg(&cargo)
        .args(&args)
        // The crate's directory: its .cargo/config.toml applies.
        .current_dir(&dir)
        .stdin(Stdio::null());
    for k in HOST_ONLY_ENV {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CARGO_TARGET_DIR", &target_dir);
    let command = format!(
        "cd {} && {}CARGO_TARGET_DIR={} {} {}",
        dir.display(),
        opts.env
            .iter()
            .map(|(k, v)| format!("{k}={v} "))
            .collect::<String>(),
        target_dir.display(),
        Path::new(&cargo).display(),
        args.join(" ")
    );
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| QemuError::Build {
        command: command.clone(),
        log: format!("cannot run bash: {e}"),
    })?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        return Err(QemuError::Build { command, log: tail });
    }
    let build_time = t0.elapsed();
    let _cleanup = RemoveOnDrop(dest.clone());
    let bytes = std::fs::read(&dest).map_err(io_err("read", &dest))?;
    let elf = ImageSizes::from_elf(&bytes)
        .map_err(|e| QemuError::Io(format!("{}: {e}", elf_path.display())))?;
    let symbols = elf_symbols(&bytes).map_err(QemuError::Io)?;
    let t1 = Instant::now();
    let (status, stdout, stderr) = run_qemu(opts.machine, &dest, opts.timeout)?;
    Ok(CrateOutput {
        toolchain,
        elf,
        symbols,
        stdout,
        stderr,
        success: status.success(),
        build_time,
        run_time: t1.elapsed(),
    })
}

/// Each case's expected outputs, from `--expect` or else from the cases' own `outputs`; empty
/// when the host's fixture reader cannot read the files.
fn host_expected(inputs: &Path, expect: Option<&Path>) -> Vec<Option<Vec<TensorData>>> {
    let read = |p: &Path| read_cases(p).unwrap_or_default();
    match expect {
        Some(e) => read(e).into_iter().map(|c| Some(c.outputs)).collect(),
        None => read(inputs)
            .into_iter()
            .map(|c| (!c.outputs.is_empty()).then_some(c.outputs))
            .collect(),
    }
}

fn describe_mismatch(m: &Value) -> String {
    let g = |k: &str| m.get(k).map(Value::to_string).unwrap_or_else(|| "?".into());
    let mut s = format!(
        "case {} output {}: {} elements differ, the first at index {}",
        g("case"),
        g("output"),
        g("differing_elements"),
        g("first_index")
    );
    if m.get("got").is_some() {
        let _ = write!(s, ": got {}, expected {}", g("got"), g("expected"));
    }
    if m.get("got_bytes") != m.get("expected_bytes") {
        let _ = write!(
            s,
            " (got {} bytes, expected {})",
            g("got_bytes"),
            g("expected_bytes")
        );
    }
    s
}

/// Builds (`"$@"`) and copies the ELF to a file of the run's own, holding a lock on the target
/// directory: another run's build cannot replace the image between the build and the copy.
const WRAPPER: &str = r#"set -eu
lock="$1"; elf="$2"; dest="$3"; shift 3
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
"$@"
cp "$elf" "$dest""#;

/// Host-build settings that must not leak into a Cortex-M build.
const HOST_ONLY_ENV: [&str; 10] = [
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
];

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct FirmwareBuild<'a> {
    src: &'a Path,
    manifest: &'a Path,
    target_dir: &'a Path,
    env: &'a [(String, String)],
    extra_args: &'a [String],
    machine: Machine,
    model: &'a Path,
    cases: &'a Path,
    expect: Option<&'a Path>,
    arena: usize,
    keep_state: bool,
    opt_level: Option<&'a str>,
    verify_on_device: bool,
}

impl FirmwareBuild<'_> {
    /// Builds the firmware and copies its ELF to a file of this run's own (returned), all under
    /// a lock on the target directory: another run's build cannot replace the image between
    /// the build and the copy.
    fn build(&self, dummy: bool) -> Result<PathBuf, QemuError> {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let elf = self
            .target_dir
            .join(self.machine.target())
            .join("release/tflm-qemu-firmware");
        let dest = self.target_dir.join("runs").join(format!(
            "firmware-{}-{}.elf",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let lock = self.target_dir.join(".tflm-qemu.lock");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut args: Vec<String> = vec![
            "build".into(),
            "--release".into(),
            "--manifest-path".into(),
            self.manifest.display().to_string(),
            "--target".into(),
            self.machine.target().into(),
        ];
        args.extend(self.extra_args.iter().cloned());
        if dummy {
            args.extend(["--features".into(), "dummy".into()]);
        }
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("bash")
            .arg(&lock)
            .arg(&elf)
            .arg(&dest)
            .arg(&cargo)
            .args(&args)
            .current_dir(self.manifest.parent().unwrap_or(self.src))
            .stdin(Stdio::null());
        for k in HOST_ONLY_ENV {
            cmd.env_remove(k);
        }
        cmd.env_remove("TFLM_EXPECT");
        if let Some(o) = self.opt_level {
            cmd.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", o);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CARGO_TARGET_DIR", self.target_dir)
            .env("TFLM_MODEL", self.model)
            .env("TFLM_CASES", self.cases)
            .env("TFLM_ARENA", self.arena.to_string())
            .env("TFLM_CARRY_STATE", if self.keep_state { "1" } else { "0" })
            .env(
                "TFLM_VERIFY_ON_DEVICE",
                if self.verify_on_device { "1" } else { "0" },
            );
        if let Some(e) = self.expect {
            cmd.env("TFLM_EXPECT", e);
        }
        let command = format!(
            "{}TFLM_MODEL={} TFLM_CASES={}{} TFLM_ARENA={} TFLM_CARRY_STATE={} TFLM_VERIFY_ON_DEVICE={} CARGO_TARGET_DIR={} {} {}",
            self.opt_level
                .map(|o| format!("CARGO_PROFILE_RELEASE_OPT_LEVEL={o} "))
                .unwrap_or_default(),
            self.model.display(),
            self.cases.display(),
            self.expect
                .map(|e| format!(" TFLM_EXPECT={}", e.display()))
                .unwrap_or_default(),
            self.arena,
            u8::from(self.keep_state),
            u8::from(self.verify_on_device),
            self.target_dir.display(),
            Path::new(&cargo).display(),
            args.join(" ")
        );
        let out = cmd.output().map_err(|e| QemuError::Build {
            command: command.clone(),
            log: format!("cannot run bash: {e}"),
        })?;
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr);
            // build.rs's own errors (bad cases, unsupported dtypes) are the ones to show.
            let mut own: Vec<&str> = Vec::new();
            for m in log
                .lines()
                .filter_map(|l| l.split_once("tflm-qemu-firmware: ").map(|(_, m)| m))
            {
                if !own.contains(&m) {
                    own.push(m);
                }
            }
            if !own.is_empty() {
                return Err(QemuError::Input(own.join("\n")));
            }
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            return Err(QemuError::Build { command, log: tail });
        }
        Ok(dest)
    }
}

/// Runs the image; returns the exit status, stdout and stderr.
fn run_qemu(
    machine: Machine,
    elf: &Path,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String, String), QemuError> {
    let mut child = Command::new(qemu_bin())
        .args(["-machine", machine.name(), "-cpu", machine.cpu()])
        .args(["-nographic", "-monitor", "none", "-serial", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0"])
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| QemuError::QemuMissing {
            details: e.to_string(),
        })?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let output = out.join().unwrap_or_default();
                return Err(QemuError::Timeout { timeout, output });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(QemuError::Io(format!("waiting for qemu: {e}"))),
        }
    };
    Ok((
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_and_grouping() {
        assert_eq!("mps2-an385".parse::<Machine>(), Ok(Machine::Mps2An385));
        assert_eq!(Machine::Mps2An386.target(), "thumbv7em-none-eabihf");
        assert!("lm3s6965evb".parse::<Machine>().is_err());
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(95_660_864), "95,660,864");
    }

    #[test]
    fn mismatch_lines_are_described() {
        let m: Value = serde_json::from_str(
            r#"{"case":3,"output":0,"got_bytes":4,"expected_bytes":4,"differing_elements":1,"first_index":2,"got":126,"expected":127}"#,
        )
        .unwrap();
        assert_eq!(
            describe_mismatch(&m),
            "case 3 output 0: 1 elements differ, the first at index 2: got 126, expected 127"
        );
    }
}

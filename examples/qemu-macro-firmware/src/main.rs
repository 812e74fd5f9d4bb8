//! `include_quantized_model!` on an emulated Cortex-M4F: `models/sine`, `models/digits` and the
//! `models/co2` LSTM, converted to int8 while this crate compiles, predict the first test rows of
//! their datasets (baked in by build.rs) through the generated typed API, exactly as an
//! application would: `Model::new(&mut arena.0)?.predict(&x)?`. co2 runs twice over its windows:
//! `predict` (state reset before each window, the source model's semantics) and
//! `predict_streaming` (LSTM state carried from one call to the next). Every prediction (raw units, with the f32 bit
//! patterns) and its instruction count go to the semihosting stdout, one JSON object per line:
//!   {"calibration":{...}}                        the SysTick tick → instruction check
//!   {"model":{"name","model_bytes","arena_size","model_fnv1a","new_instr",...}}   per model
//!   {"predict":{"model","call","i","row","y":[..],"bits":[..],"class","instr"}}    per row
//!   {"error":"..."}                              on a runtime error (then exit failure)
//!   {"summary":{...}}                            last line (instructions, stack)
//! The host test (tests/qemu_macro.rs) compares every `bits` with the same macro model's
//! `predict` on the host.
#![no_std]
#![no_main]

use core::fmt::Write;
use core::ptr::addr_of_mut;

use cortex_m_rt::{entry, exception};
use tflm_firmware_harness::{self as h, measure, Out};

mod sine {
    tflm_macros::include_quantized_model!("../../models/sine", quant = "int8");
}

mod digits {
    tflm_macros::include_quantized_model!("../../models/digits", quant = "int8");
}

mod co2 {
    tflm_macros::include_quantized_model!("../../models/co2", quant = "int8");
}

mod rows {
    include!(concat!(env!("OUT_DIR"), "/rows.rs"));
}

// The arenas: exactly `ARENA_SIZE` bytes each, 16-byte aligned, in .bss (unmangled names so
// that the host can read their sizes from the ELF).
#[no_mangle]
static mut SINE_ARENA: sine::Arena = sine::Arena::zeroed();
#[no_mangle]
static mut DIGITS_ARENA: digits::Arena = digits::Arena::zeroed();
#[no_mangle]
static mut CO2_ARENA: co2::Arena = co2::Arena::zeroed();

/// Stack painted (and scanned) below main's frame around each prediction.
const PREDICT_STACK_WINDOW: usize = 64 * 1024;

#[exception]
fn SysTick() {
    h::on_systick();
}

/// FNV-1a (32-bit) of the model bytes: the host checks that it embeds the same model.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Instruction statistics of one model's predictions.
#[derive(Default)]
struct Stats {
    first: u64,
    sum: u64,
    n: u64,
    min: u64,
    max: u64,
    stack: usize,
}

impl Stats {
    fn add(&mut self, instr: u64) {
        if self.n == 0 && self.first == 0 {
            self.first = instr;
            self.min = u64::MAX;
            return;
        }
        self.sum += instr;
        self.n += 1;
        self.min = self.min.min(instr);
        self.max = self.max.max(instr);
    }
    fn print(&self, out: &mut Out, name: &str, what: &str) {
        let steady = if self.n > 0 {
            (self.sum + self.n / 2) / self.n
        } else {
            self.first
        };
        let (min, max) = if self.n > 0 {
            (self.min, self.max)
        } else {
            (self.first, self.first)
        };
        out.line(format_args!(
            "{{\"instructions\":{{\"model\":\"{name}\",\"call\":\"{what}\",\"first\":{},\"steady\":{steady},\"min\":{min},\"max\":{max},\"stack_bytes\":{}}}}}",
            self.first, self.stack
        ));
    }
}

/// Lowest stack address seen by [`measured`] (each call repaints its window, which erases the
/// marks of earlier calls: the minimum is kept here).
static mut LOW_WATER: usize = usize::MAX;

/// `f` measured: its result, instructions and stack bytes used below the caller's frame.
fn measured<R>(f: impl FnOnce() -> R) -> (R, u64, usize) {
    let sp = h::sp();
    let lo = h::paint_stack(PREDICT_STACK_WINDOW);
    let (r, instr) = measure(f);
    let low = h::stack_low_water(lo);
    // SAFETY: single-threaded; no interrupt handler touches it.
    unsafe {
        let w = &mut *addr_of_mut!(LOW_WATER);
        *w = (*w).min(low);
    }
    (r, instr, sp - low)
}

fn print_outputs(out: &mut Out, y: &[f32]) {
    let _ = out.write_str("\"y\":[");
    for (i, v) in y.iter().enumerate() {
        let _ = out.write_str(if i > 0 { "," } else { "" });
        let _ = h::write_float(out, *v);
    }
    let _ = out.write_str("],\"bits\":[");
    for (i, v) in y.iter().enumerate() {
        let _ = write!(
            out,
            "{}\"{:08x}\"",
            if i > 0 { "," } else { "" },
            v.to_bits()
        );
    }
    let _ = out.write_str("]");
}

/// Prints one model's line: its bytes (and their hash), arena, setup cost and row count.
fn print_model(out: &mut Out, name: &str, bytes: &[u8], arena: usize, new_instr: u64, rows: usize) {
    out.line(format_args!(
        "{{\"model\":{{\"name\":\"{name}\",\"model_bytes\":{},\"arena_size\":{arena},\"model_fnv1a\":\"{:08x}\",\"new_instr\":{new_instr},\"rows\":{rows}}}}}",
        bytes.len(),
        fnv1a(bytes),
    ));
}

/// Runs `predict` over the baked rows `xs` (dataset rows `row`), printing each prediction
/// (with `extra`'s fields) and returning the instruction statistics of the calls.
fn predict_rows<const N: usize, const M: usize>(
    out: &mut Out,
    name: &str,
    call: &str,
    xs: &[[f32; N]],
    row: &[u32],
    mut predict: impl FnMut(&[f32; N]) -> Result<[f32; M], tflm_runtime::Error>,
    mut extra: impl FnMut(&mut Out, &[f32; N]),
) -> Stats {
    let mut stats = Stats::default();
    for (i, x) in xs.iter().enumerate() {
        let (y, instr, stack) = measured(|| predict(x));
        let y = y.unwrap_or_else(|e| h::fail(out, name, &h::Message(e)));
        stats.add(instr);
        stats.stack = stats.stack.max(stack);
        let _ = write!(
            out,
            "{{\"predict\":{{\"model\":\"{name}\",\"call\":\"{call}\",\"i\":{i},\"row\":{},",
            row[i]
        );
        print_outputs(out, &y);
        extra(out, x);
        out.line(format_args!(",\"instr\":{instr}}}}}"));
    }
    stats.print(out, name, call);
    stats
}

#[entry]
fn main() -> ! {
    let paint_lo = h::paint_stack(usize::MAX);
    let cp = cortex_m::Peripherals::take().unwrap();
    h::start_systick(cp.SYST);
    let mut out = Out::new();
    h::calibrate(&mut out);
    let mut setup_instr = 0;
    let mut predictions = 0;

    // ---- sine: regression ----
    // SAFETY: the only reference to SINE_ARENA, taken once.
    let arena = unsafe { &mut (*addr_of_mut!(SINE_ARENA)).0 };
    let (model, new_instr, _) = measured(|| sine::Model::new(arena));
    let mut model = model.unwrap_or_else(|e| h::fail(&mut out, "sine::Model::new", &h::Message(e)));
    setup_instr += new_instr;
    let (xs, row) = (&rows::SINE_X, &rows::SINE_ROW);
    print_model(
        &mut out,
        "sine",
        sine::MODEL_BYTES,
        sine::ARENA_SIZE,
        new_instr,
        xs.len(),
    );
    predict_rows(
        &mut out,
        "sine",
        "predict",
        xs,
        row,
        |x| model.predict(x),
        |_, _| {},
    );
    predictions += xs.len();

    // ---- digits: classification (predict, and predict_class on the same row) ----
    // SAFETY: the only reference to DIGITS_ARENA, taken once.
    let arena = unsafe { &mut (*addr_of_mut!(DIGITS_ARENA)).0 };
    let (model, new_instr, _) = measured(|| digits::Model::new(arena));
    let model = model.unwrap_or_else(|e| h::fail(&mut out, "digits::Model::new", &h::Message(e)));
    setup_instr += new_instr;
    let (xs, row) = (&rows::DIGITS_X, &rows::DIGITS_ROW);
    print_model(
        &mut out,
        "digits",
        digits::MODEL_BYTES,
        digits::ARENA_SIZE,
        new_instr,
        xs.len(),
    );
    let model = core::cell::RefCell::new(model);
    let mut class_stats = Stats::default();
    predict_rows(
        &mut out,
        "digits",
        "predict",
        xs,
        row,
        |x| model.borrow_mut().predict(x),
        |out, x| {
            let (class, instr, stack) = measured(|| model.borrow_mut().predict_class(x));
            let class = class.unwrap_or_else(|e| h::fail(out, "digits predict_class", &h::Message(e)));
            class_stats.add(instr);
            class_stats.stack = class_stats.stack.max(stack);
            let _ = write!(out, ",\"class\":{class},\"class_instr\":{instr}");
        },
    );
    class_stats.print(&mut out, "digits", "predict_class");
    predictions += xs.len();

    // ---- co2: LSTM regression, windowed then streaming ----
    // SAFETY: the only reference to CO2_ARENA, taken once.
    let arena = unsafe { &mut (*addr_of_mut!(CO2_ARENA)).0 };
    let (model, new_instr, _) = measured(|| co2::Model::new(arena));
    let mut model = model.unwrap_or_else(|e| h::fail(&mut out, "co2::Model::new", &h::Message(e)));
    setup_instr += new_instr;
    let (xs, row) = (&rows::CO2_X, &rows::CO2_ROW);
    print_model(
        &mut out,
        "co2",
        co2::MODEL_BYTES,
        co2::ARENA_SIZE,
        new_instr,
        xs.len(),
    );
    predict_rows(
        &mut out,
        "co2",
        "predict",
        xs,
        row,
        |x| model.predict(x),
        |_, _| {},
    );
    model.reset_state();
    predict_rows(
        &mut out,
        "co2",
        "predict_streaming",
        xs,
        row,
        |x| model.predict_streaming(x),
        |_, _| {},
    );
    predictions += 2 * xs.len();

    // SAFETY: as in `measured`.
    let low = h::stack_low_water(paint_lo).min(unsafe { *addr_of_mut!(LOW_WATER) });
    out.line(format_args!(
        "{{\"summary\":{{\"machine\":\"{}\",\"predictions\":{predictions},\"setup_instr\":{setup_instr},\"peak_stack_bytes\":{},\"instr_per_tick\":{}}}}}",
        h::MACHINE,
        h::stack_top() - low,
        h::INSTR_PER_TICK
    ));
    h::exit(true)
}

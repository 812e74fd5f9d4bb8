//! `include_quantized_model!` on an emulated Cortex-M4F: `models/sine` and `models/digits`,
//! converted to int8 while this crate compiles, predict the first test rows of their datasets
//! (baked in by build.rs) through the generated typed API, exactly as an application would:
//! `Model::new(&mut arena.0)?.predict(&x)?`. Every prediction (raw units, with the f32 bit
//! patterns) and its instruction count go to the semihosting stdout, one JSON object per line:
//!   {"calibration":{...}}                        the SysTick tick → instruction check
//!   {"model":{"name","model_bytes","arena_size","model_fnv1a","new_instr",...}}   per model
//!   {"predict":{"model","i","row","y":[..],"bits":[..],"class","instr"}}           per row
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

mod rows {
    include!(concat!(env!("OUT_DIR"), "/rows.rs"));
}

// The arenas: exactly `ARENA_SIZE` bytes each, 16-byte aligned, in .bss (unmangled names so
// that the host can read their sizes from the ELF).
#[no_mangle]
static mut SINE_ARENA: sine::Arena = sine::Arena::zeroed();
#[no_mangle]
static mut DIGITS_ARENA: digits::Arena = digits::Arena::zeroed();

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

#[entry]
fn main() -> ! {
    let paint_lo = h::paint_stack(usize::MAX);
    let cp = cortex_m::Peripherals::take().unwrap();
    h::start_systick(cp.SYST);
    let mut out = Out::new();
    h::calibrate(&mut out);
    let mut setup_instr = 0;

    // ---- sine: regression ----
    // SAFETY: the only reference to SINE_ARENA, taken once.
    let arena = unsafe { &mut (*addr_of_mut!(SINE_ARENA)).0 };
    let (model, new_instr, _) = measured(|| sine::Model::new(arena));
    let mut model = model.unwrap_or_else(|e| h::fail(&mut out, "sine::Model::new", &e));
    setup_instr += new_instr;
    out.line(format_args!(
        "{{\"model\":{{\"name\":\"sine\",\"model_bytes\":{},\"arena_size\":{},\"model_fnv1a\":\"{:08x}\",\"new_instr\":{new_instr},\"rows\":{}}}}}",
        sine::MODEL_BYTES.len(),
        sine::ARENA_SIZE,
        fnv1a(sine::MODEL_BYTES),
        rows::SINE_X.len()
    ));
    let mut stats = Stats::default();
    for (i, x) in rows::SINE_X.iter().enumerate() {
        let (y, instr, stack) = measured(|| model.predict(x));
        let y = y.unwrap_or_else(|e| h::fail(&mut out, "sine predict", &e));
        stats.add(instr);
        stats.stack = stats.stack.max(stack);
        let _ = write!(
            out,
            "{{\"predict\":{{\"model\":\"sine\",\"i\":{i},\"row\":{},",
            rows::SINE_ROW[i]
        );
        print_outputs(&mut out, &y);
        out.line(format_args!(",\"instr\":{instr}}}}}"));
    }
    stats.print(&mut out, "sine", "predict");

    // ---- digits: classification ----
    // SAFETY: the only reference to DIGITS_ARENA, taken once.
    let arena = unsafe { &mut (*addr_of_mut!(DIGITS_ARENA)).0 };
    let (model, new_instr, _) = measured(|| digits::Model::new(arena));
    let mut model = model.unwrap_or_else(|e| h::fail(&mut out, "digits::Model::new", &e));
    setup_instr += new_instr;
    out.line(format_args!(
        "{{\"model\":{{\"name\":\"digits\",\"model_bytes\":{},\"arena_size\":{},\"model_fnv1a\":\"{:08x}\",\"new_instr\":{new_instr},\"rows\":{}}}}}",
        digits::MODEL_BYTES.len(),
        digits::ARENA_SIZE,
        fnv1a(digits::MODEL_BYTES),
        rows::DIGITS_X.len()
    ));
    let (mut stats, mut class_stats) = (Stats::default(), Stats::default());
    for (i, x) in rows::DIGITS_X.iter().enumerate() {
        let (y, instr, stack) = measured(|| model.predict(x));
        let y = y.unwrap_or_else(|e| h::fail(&mut out, "digits predict", &e));
        stats.add(instr);
        stats.stack = stats.stack.max(stack);
        let (class, class_instr, stack) = measured(|| model.predict_class(x));
        let class = class.unwrap_or_else(|e| h::fail(&mut out, "digits predict_class", &e));
        class_stats.add(class_instr);
        class_stats.stack = class_stats.stack.max(stack);
        let _ = write!(
            out,
            "{{\"predict\":{{\"model\":\"digits\",\"i\":{i},\"row\":{},",
            rows::DIGITS_ROW[i]
        );
        print_outputs(&mut out, &y);
        out.line(format_args!(
            ",\"class\":{class},\"instr\":{instr},\"class_instr\":{class_instr}}}}}"
        ));
    }
    stats.print(&mut out, "digits", "predict");
    class_stats.print(&mut out, "digits", "predict_class");

    // SAFETY: as in `measured`.
    let low = h::stack_low_water(paint_lo).min(unsafe { *addr_of_mut!(LOW_WATER) });
    out.line(format_args!(
        "{{\"summary\":{{\"machine\":\"{}\",\"predictions\":{},\"setup_instr\":{setup_instr},\"peak_stack_bytes\":{},\"instr_per_tick\":{}}}}}",
        h::MACHINE,
        rows::SINE_X.len() + rows::DIGITS_X.len(),
        h::stack_top() - low,
        h::INSTR_PER_TICK
    ));
    h::exit(true)
}

//! Runs a TFLite model on an emulated Cortex-M under QEMU (semihosting), checks every case's
//! outputs against the expected bytes, and measures instructions per invoke (SysTick under
//! `-icount shift=0`), arena bytes and peak stack (stack painting).
//!
//! Output on the semihosting stdout, one JSON object per line (see README.md):
//!   {"calibration":{...}}          the SysTick tick → instruction check
//!   {"outputs":[...]}              one per case, in the fixture format
//!   {"mismatch":{...}}             one per differing output tensor
//!   {"error":"..."}                on a runtime error (then exit failure)
//!   {"summary":{...}}              last line
#![no_std]
#![no_main]

use core::fmt::{self, Write};
use core::ptr::addr_of_mut;

use cortex_m_rt::{entry, exception};
use tflm_firmware_harness::{
    calibrate, exit, fail, measure, paint_stack, stack_low_water, stack_top, write_f64,
    write_float, Message, Out, INSTR_PER_TICK,
};

#[cfg(feature = "dummy")]
mod dummy;
#[cfg(feature = "dummy")]
use dummy::{Interpreter, Model};
#[cfg(not(feature = "dummy"))]
use tflm_runtime::{Interpreter, Model};

/// 16-byte aligned storage (the model's flatbuffer and the arena).
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

/// dtype name and shape of a model input or output, from the flatbuffer at build time.
pub struct TensorMeta {
    pub dtype: &'static str,
    pub shape: &'static [i32],
}

#[allow(dead_code)]
mod data {
    use super::{Aligned, TensorMeta};
    include!(concat!(env!("OUT_DIR"), "/firmware_data.rs"));
}

/// The interpreter's arena (symbol `TFLM_ARENA`, in `.bss`).
#[no_mangle]
static mut TFLM_ARENA: Aligned<[u8; data::ARENA_BYTES]> = Aligned([0; data::ARENA_BYTES]);

/// Stack painted (and scanned) below main's frame around each invoke.
const INVOKE_STACK_WINDOW: usize = 1024 * 1024;

#[exception]
fn SysTick() {
    tflm_firmware_harness::on_systick();
}

// ---------------------------------------------------------------------------------------------
// Output printing

fn print_tensor(out: &mut Out, meta: &TensorMeta, bytes: &[u8]) {
    let _ = write!(out, "{{\"shape\":[");
    for (i, d) in meta.shape.iter().enumerate() {
        let _ = write!(out, "{}{}", if i > 0 { "," } else { "" }, d);
    }
    let _ = write!(out, "],\"dtype\":\"{}\",\"data\":[", meta.dtype);
    let size = elem_size(meta.dtype);
    for (i, e) in bytes.chunks_exact(size).enumerate() {
        if i > 0 {
            let _ = out.write_str(",");
        }
        write_elem(out, meta.dtype, e);
    }
    let _ = write!(out, "]}}");
}

fn elem_size(dtype: &str) -> usize {
    match dtype {
        "int8" | "uint8" | "bool" => 1,
        "int16" | "uint16" | "float16" => 2,
        "int32" | "uint32" | "float32" => 4,
        _ => 8,
    }
}

fn write_elem(out: &mut Out, dtype: &str, e: &[u8]) {
    let mut b = [0u8; 8];
    b[..e.len()].copy_from_slice(e);
    let r = match dtype {
        "int8" => write!(out, "{}", e[0] as i8),
        "uint8" => write!(out, "{}", e[0]),
        "bool" => write!(out, "{}", e[0] != 0),
        "int16" => write!(out, "{}", i16::from_le_bytes([b[0], b[1]])),
        "uint16" => write!(out, "{}", u16::from_le_bytes([b[0], b[1]])),
        "int32" => write!(out, "{}", i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "uint32" => write!(out, "{}", u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "int64" => write!(out, "{}", i64::from_le_bytes(b)),
        "uint64" => write!(out, "{}", u64::from_le_bytes(b)),
        "float16" => write_float(out, f16_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        "float32" => write_float(out, f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "float64" => write_f64(out, f64::from_le_bytes(b)),
        _ => write!(out, "null"),
    };
    let _ = r;
}

/// Shortest decimal that reads back as the same f32 (Rust's Display), JSON-compatible; NaN and
/// infinities as Python's json writes them.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // subnormal: normalize
            let mut e = 127 - 15 + 1;
            let mut m = man;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

// ---------------------------------------------------------------------------------------------
// The runtime's calls, never inlined into main, so that their stack use is below main's frame
// (`runtime_stack_bytes`) and their instruction counts are not mixed with main's code.

/// How `parse` opens the model (named in the summary and in its error).
const MODEL_OPEN: &str = if cfg!(tflm_verify_on_device) {
    "Model::parse_with"
} else {
    "Model::from_build_verified"
};

/// Opens the model with its own operators only (`data::OPS`, from build.rs), so that only
/// their kernels are linked, as in a real firmware: as build-verified (build.rs ran
/// `Model::parse_with` on these bytes with these registrations), or verified again on the
/// device with `TFLM_VERIFY_ON_DEVICE=1`, as a firmware must for bytes from elsewhere.
#[inline(never)]
fn parse(bytes: &'static [u8]) -> Result<Model<'static>, impl fmt::Display> {
    #[cfg(all(not(feature = "dummy"), tflm_verify_on_device))]
    return Model::parse_with(bytes, data::OPS);
    #[cfg(all(not(feature = "dummy"), not(tflm_verify_on_device)))]
    return Model::from_build_verified(bytes, data::OPS);
    #[cfg(feature = "dummy")]
    Model::parse(bytes)
}

#[inline(never)]
fn arena_size(model: &Model<'static>) -> usize {
    model.arena_size()
}

#[inline(never)]
fn new_interpreter(
    model: &Model<'static>,
    arena: &'static mut [u8],
) -> Result<Interpreter<'static, 'static>, impl fmt::Display> {
    Interpreter::new(model, arena)
}

#[inline(never)]
fn reset_state(interp: &mut Interpreter<'static, 'static>) {
    interp.reset_state()
}

#[inline(never)]
fn invoke(interp: &mut Interpreter<'static, 'static>) -> Result<(), impl fmt::Display> {
    interp.invoke()
}

// ---------------------------------------------------------------------------------------------

#[entry]
fn main() -> ! {
    let paint_lo = paint_stack(usize::MAX);
    let main_sp = cortex_m::register::msp::read() as usize;
    let mut low_water = main_sp;
    let cp = cortex_m::Peripherals::take().unwrap();
    tflm_firmware_harness::start_systick(cp.SYST);
    let mut out = Out::new();

    // ---- calibration: a loop of a known instruction count (tflm_firmware_harness) ----
    calibrate(&mut out);
    #[cfg(feature = "selftest")]
    selftest(&mut out);

    // ---- setup: parse the model, create the interpreter ----
    let model_bytes: &'static [u8] = &data::TFLM_MODEL.0;
    let (model, parse_instr) = measure(|| parse(model_bytes));
    let model = match model {
        Ok(m) => m,
        Err(e) => fail(&mut out, MODEL_OPEN, &Message(e)),
    };
    let (arena_needed, arena_size_instr) = measure(|| arena_size(&model));
    if arena_needed > data::ARENA_BYTES {
        out.line(format_args!(
            "{{\"error\":\"arena too small: the model needs {} bytes, TFLM_ARENA is {}; rebuild with TFLM_ARENA={}\"}}",
            arena_needed,
            data::ARENA_BYTES,
            arena_needed
        ));
        exit(false);
    }
    if model.num_inputs() != data::NUM_INPUTS || model.num_outputs() != data::NUM_OUTPUTS {
        out.line(format_args!(
            "{{\"error\":\"the runtime sees {} inputs and {} outputs, the build saw {} and {}\"}}",
            model.num_inputs(),
            model.num_outputs(),
            data::NUM_INPUTS,
            data::NUM_OUTPUTS
        ));
        exit(false);
    }
    // SAFETY: the only reference to TFLM_ARENA, taken once.
    let arena: &'static mut [u8] = unsafe { &mut (*addr_of_mut!(TFLM_ARENA)).0 };
    let (interp, new_instr) = measure(|| new_interpreter(&model, arena));
    let mut interp = match interp {
        Ok(i) => i,
        Err(e) => fail(&mut out, "Interpreter::new", &Message(e)),
    };
    // Stack used by parse + arena_size + Interpreter::new (below main's frame).
    let setup_low = stack_low_water(paint_lo);
    low_water = low_water.min(setup_low);
    let mut invoke_low = main_sp;
    let mut last_paint_lo = paint_lo;

    // ---- cases ----
    let mut mismatches = 0u32;
    let mut checked = 0u32;
    let mut first_invoke: Option<u64> = None;
    let (mut steady_sum, mut steady_n, mut steady_min, mut steady_max) =
        (0u64, 0u64, u64::MAX, 0u64);
    for case in 0..data::NUM_CASES {
        if case > 0 && !data::CARRY_STATE {
            reset_state(&mut interp);
        }
        for (i, &(off, len)) in data::INPUT_SPANS[case].iter().enumerate() {
            let src = &data::INPUT_BLOB[off as usize..(off + len) as usize];
            let dst = match interp.input_bytes_mut(i) {
                Ok(d) => d,
                Err(e) => fail(&mut out, "input_bytes_mut", &Message(e)),
            };
            if dst.len() != src.len() {
                out.line(format_args!(
                    "{{\"error\":\"case {case}: input {i} has {} bytes in the interpreter, {} in the case\"}}",
                    dst.len(),
                    src.len()
                ));
                exit(false);
            }
            dst.copy_from_slice(src);
        }
        let window_lo = paint_stack(INVOKE_STACK_WINDOW);
        last_paint_lo = window_lo;
        let (r, instr) = measure(|| invoke(&mut interp));
        let low = stack_low_water(window_lo);
        invoke_low = invoke_low.min(low);
        low_water = low_water.min(low);
        if low == window_lo {
            out.line(format_args!(
                "{{\"warning\":\"invoke used the whole {INVOKE_STACK_WINDOW}-byte painted stack window: invoke_stack_bytes is a lower bound\"}}"
            ));
        }
        if let Err(e) = r {
            fail(&mut out, "invoke", &Message(e));
        }
        match first_invoke {
            None => first_invoke = Some(instr),
            Some(_) => {
                steady_sum += instr;
                steady_n += 1;
                steady_min = steady_min.min(instr);
                steady_max = steady_max.max(instr);
            }
        }
        // outputs line, in the fixture format
        let _ = out.write_str("{\"outputs\":[");
        for (j, meta) in data::OUTPUT_META.iter().enumerate() {
            let got = match interp.output_bytes(j) {
                Ok(o) => o,
                Err(e) => fail(&mut out, "output_bytes", &Message(e)),
            };
            if j > 0 {
                let _ = out.write_str(",");
            }
            print_tensor(&mut out, meta, got);
        }
        out.line(format_args!("]}}"));
        // comparison, byte for byte
        if let Some(spans) = &data::EXPECTED_SPANS[case] {
            checked += 1;
            for (j, &(off, len)) in spans.iter().enumerate() {
                let want = &data::EXPECTED_BLOB[off as usize..(off + len) as usize];
                let got = match interp.output_bytes(j) {
                    Ok(o) => o,
                    Err(e) => fail(&mut out, "output_bytes", &Message(e)),
                };
                if got != want {
                    mismatches += 1;
                    let size = elem_size(data::OUTPUT_META[j].dtype);
                    let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0) / size;
                    let differing = got
                        .chunks(size)
                        .zip(want.chunks(size))
                        .filter(|(a, b)| a != b)
                        .count();
                    let _ = write!(
                        out,
                        "{{\"mismatch\":{{\"case\":{case},\"output\":{j},\"got_bytes\":{},\"expected_bytes\":{},\"differing_elements\":{differing},\"first_index\":{first}",
                        got.len(),
                        want.len()
                    );
                    if got.len() == want.len() && (first + 1) * size <= got.len() {
                        let dt = data::OUTPUT_META[j].dtype;
                        let _ = out.write_str(",\"got\":");
                        write_elem(&mut out, dt, &got[first * size..(first + 1) * size]);
                        let _ = out.write_str(",\"expected\":");
                        write_elem(&mut out, dt, &want[first * size..(first + 1) * size]);
                    }
                    out.line(format_args!("}}}}"));
                }
            }
        }
    }

    // ---- summary ----
    let top = stack_top();
    // Since the last repaint: the last case's copying, printing and comparing.
    let low = low_water.min(stack_low_water(last_paint_lo));
    let _ = write!(
        out,
        "{{\"summary\":{{\"machine\":\"{}\",\"model_open\":\"{MODEL_OPEN}\",\"cases\":{},\"checked\":{checked},\"mismatches\":{mismatches}",
        data::MACHINE,
        data::NUM_CASES
    );
    let _ = match first_invoke {
        Some(f) => write!(out, ",\"first_invoke_instr\":{f}"),
        None => write!(out, ",\"first_invoke_instr\":null"),
    };
    let _ = if steady_n > 0 {
        write!(
            out,
            ",\"steady_invoke_instr\":{},\"steady_invoke_instr_min\":{steady_min},\"steady_invoke_instr_max\":{steady_max}",
            (steady_sum + steady_n / 2) / steady_n
        )
    } else {
        match first_invoke {
            // One case: the only invoke stands for the steady state too.
            Some(f) => write!(out, ",\"steady_invoke_instr\":{f},\"steady_invoke_instr_min\":{f},\"steady_invoke_instr_max\":{f}"),
            None => write!(out, ",\"steady_invoke_instr\":null"),
        }
    };
    out.line(format_args!(
        ",\"parse_instr\":{parse_instr},\"arena_size_instr\":{arena_size_instr},\"interpreter_new_instr\":{new_instr},\"setup_instr\":{},\"arena_bytes\":{arena_needed},\"arena_used\":{},\"arena_capacity\":{},\"model_bytes\":{},\"peak_stack_bytes\":{},\"setup_stack_bytes\":{},\"invoke_stack_bytes\":{},\"instr_per_tick\":{INSTR_PER_TICK}}}}}",
        parse_instr + new_instr,
        interp.arena_used(),
        data::ARENA_BYTES,
        model_bytes.len(),
        top - low,
        main_sp - setup_low,
        main_sp - invoke_low,
    ));
    exit(mismatches == 0)
}

/// Long calibrated loops, including ones that cross SysTick's 24-bit wrap (2^24 ticks =
/// 671,088,640 instructions). Build with `--features selftest`.
#[cfg(feature = "selftest")]
fn selftest(out: &mut Out) {
    use tflm_firmware_harness::{spin, wraps};
    // Stack painting: a function with a 4096-byte local buffer, all of it written.
    #[inline(never)]
    fn use_stack() -> u8 {
        let mut buf = [0u8; 4096];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = i as u8;
        }
        core::hint::black_box(&mut buf);
        buf[17]
    }
    let sp = cortex_m::register::msp::read() as usize;
    let lo = paint_stack(INVOKE_STACK_WINDOW);
    core::hint::black_box(use_stack());
    out.line(format_args!(
        "{{\"selftest_stack\":{{\"buffer_bytes\":4096,\"measured_bytes\":{}}}}}",
        sp - stack_low_water(lo)
    ));
    // Tick steps: spin(k) is 2k instructions, so the reading must step by one tick every 20 k.
    let _ = out.write_str("{\"selftest_steps\":[");
    for k in 0..=80u32 {
        let ((), instr) = measure(|| spin(k));
        let _ = write!(
            out,
            "{}{}",
            if k > 0 { "," } else { "" },
            instr / INSTR_PER_TICK
        );
    }
    out.line(format_args!("]}}"));
    for iters in [10_000_000u32, 400_000_000, 1_000_000_000] {
        let w0 = wraps();
        let ((), instr) = measure(|| spin(iters));
        out.line(format_args!(
            "{{\"selftest\":{{\"loop_instr\":{},\"measured_instr\":{instr},\"wraps\":{}}}}}",
            2 * iters as u64,
            wraps() - w0
        ));
    }
}

//! The measuring harness shared by the QEMU firmwares (`examples/qemu-firmware`,
//! `examples/qemu-macro-firmware`):
//! - [`Out`]: buffered semihosting stdout, one host call per line (or per 256 bytes), with
//!   [`JsonStr`] and [`write_float`] for the JSON lines the host parses;
//! - instruction counting: SysTick on the core clock under QEMU's `-icount shift=0` is exactly
//!   [`INSTR_PER_TICK`] instructions per tick on the mps2 boards; [`start`] sets it up and
//!   [`calibrate`] checks it; [`measure`] counts the instructions of a closure (24-bit wraps
//!   counted by the SysTick exception: the firmware's `#[exception] fn SysTick()` calls
//!   [`on_systick`]);
//! - stack painting ([`paint_stack`], [`stack_low_water`], [`stack_top`]);
//! - [`exit`] through semihosting (QEMU's exit status) and a panic handler that prints
//!   `{"error":"panic: ..."}` and exits with failure.
//!
//! The memory map (`memory.x` of the board matching the target) comes from this crate's
//! build.rs; [`MACHINE`] names the board.
#![no_std]

use core::fmt::{self, Write};
use core::ptr::addr_of;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m::peripheral::{syst::SystClkSource, SCB, SYST};
use cortex_m_semihosting::{debug, hio};

/// The QEMU board of the target: `mps2-an386` (thumbv7em) or `mps2-an385` (thumbv7m/6m).
pub const MACHINE: &str = env!("TFLM_HARNESS_MACHINE");

/// Instructions per SysTick tick under `-icount shift=0` on the mps2 boards (25 MHz core
/// clock, 1 instruction = 1 ns). Checked at start-up by [`calibrate`].
pub const INSTR_PER_TICK: u64 = 40;
/// Stack paint pattern.
const PAINT: u32 = 0xC0FF_EE11;

// ---------------------------------------------------------------------------------------------
// Semihosting output, buffered (one host call per line or per 256 bytes, not per piece)

pub struct Out {
    host: Option<hio::HostStream>,
    buf: [u8; 256],
    len: usize,
}

impl Out {
    /// The semihosting stdout (output is dropped when the host has none).
    pub fn new() -> Out {
        Out {
            host: hio::hstdout().ok(),
            buf: [0; 256],
            len: 0,
        }
    }
    pub fn flush(&mut self) {
        if let Some(h) = &mut self.host {
            let _ = h.write_all(&self.buf[..self.len]);
        }
        self.len = 0;
    }
    /// Writes `args` and a newline, and flushes.
    pub fn line(&mut self, args: fmt::Arguments) {
        let _ = self.write_fmt(args);
        let _ = self.write_str("\n");
        self.flush();
    }
}

impl Default for Out {
    fn default() -> Self {
        Out::new()
    }
}

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// JSON string contents (escapes quotes, backslashes and control characters).
pub struct JsonStr<'a>(pub &'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Shortest decimal that reads back as the same f32 (Rust's `Debug`), JSON-compatible; NaN and
/// infinities as Python's json writes them.
pub fn write_float(out: &mut impl Write, x: f32) -> fmt::Result {
    write_number(out, x)
}

/// The same for f64.
pub fn write_f64(out: &mut impl Write, x: f64) -> fmt::Result {
    write_number(out, x)
}

/// `x` in its own type's shortest `Debug` form (an f32 is not widened first), or NaN/Infinity.
fn write_number<T: Copy + Into<f64> + fmt::Debug>(out: &mut impl Write, x: T) -> fmt::Result {
    let v: f64 = x.into();
    if v.is_nan() {
        out.write_str("NaN")
    } else if v.is_infinite() {
        out.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        write!(out, "{x:?}")
    }
}

/// Prints an error with its `Display` message, the way a firmware reports one to a person
/// (for [`fail`]); the derived `Debug` formatting (field names, nesting, every variant's
/// name) is not linked.
pub struct Message<E>(pub E);

impl<E: fmt::Display> fmt::Debug for Message<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Prints `{"error":"WHAT: ERR"}` and exits with failure.
#[cold]
#[inline(never)]
pub fn fail(out: &mut Out, what: &str, err: &dyn fmt::Debug) -> ! {
    let mut msg = Buf::<200>::new();
    let _ = write!(msg, "{what}: {err:?}");
    out.line(format_args!("{{\"error\":\"{}\"}}", JsonStr(msg.as_str())));
    exit(false)
}

/// Ends the program: QEMU exits with 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU with semihosting.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Small fixed-capacity string for formatting error messages (truncates).
pub struct Buf<const N: usize> {
    b: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    pub fn new() -> Self {
        Buf { b: [0; N], len: 0 }
    }
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 sequences are stored by write_str.
        core::str::from_utf8(&self.b[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Buf::new()
    }
}

impl<const N: usize> Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let e = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + e.len() > N {
                return Ok(()); // truncate
            }
            self.b[self.len..self.len + e.len()].copy_from_slice(e);
            self.len += e.len();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Instruction counting: SysTick on the core clock, 24-bit, wraps counted by its exception

static WRAPS: AtomicU32 = AtomicU32::new(0);

/// The body of the firmware's SysTick exception handler:
/// `#[exception] fn SysTick() { tflm_firmware_harness::on_systick() }`.
#[inline(always)]
pub fn on_systick() {
    WRAPS.store(WRAPS.load(Relaxed).wrapping_add(1), Relaxed);
}

/// SysTick wraps so far (each is 2^24 ticks).
pub fn wraps() -> u32 {
    WRAPS.load(Relaxed)
}

/// Starts SysTick on the core clock, reload 0xFFFFFF, with its wrap interrupt.
pub fn start_systick(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Ticks since [`start_systick`], 64-bit. Inside a critical section; a wrap whose exception is
/// still pending is accounted for.
#[inline(never)]
pub fn now() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut wraps = WRAPS.load(Relaxed) as u64;
        let mut cur = SYST::get_current();
        if SCB::is_pendst_pending() {
            // The counter reloaded (before or just after the read above): read it again, now
            // surely after the reload, and count the wrap the handler has not counted yet.
            cur = SYST::get_current();
            wraps += 1;
        }
        (wraps << 24) + (0x00FF_FFFF - cur) as u64
    })
}

/// Instructions of `f`, in SysTick ticks converted with [`INSTR_PER_TICK`] (exact to one tick).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let t0 = now();
    let r = f();
    let t1 = now();
    (r, (t1 - t0) * INSTR_PER_TICK)
}

/// `2 * n` instructions (plus a few): `subs; bne` per iteration.
#[inline(never)]
pub fn spin(n: u32) {
    if n == 0 {
        return;
    }
    unsafe {
        core::arch::asm!(
            "2:",
            "subs r0, #1",
            "bne 2b",
            inout("r0") n => _,
            options(nomem, nostack),
        );
    }
}

/// Checks that SysTick counts [`INSTR_PER_TICK`] instructions per tick with a loop of a known
/// instruction count, and prints `{"calibration":{...}}` (and a warning line when it does not).
/// The difference of two loops cancels the call and measurement overhead; each reading is
/// quantized to one tick, so the difference is exact to +-1 tick.
pub fn calibrate(out: &mut Out) {
    const CAL_ITERS: u32 = 5_000_000;
    let ((), t_small) = measure(|| spin(CAL_ITERS));
    let ((), t_big) = measure(|| spin(2 * CAL_ITERS));
    let cal_ticks = (t_big - t_small) / INSTR_PER_TICK;
    let cal_instr = 2 * CAL_ITERS as u64;
    let ((), t_empty) = measure(|| ());
    out.line(format_args!(
        "{{\"calibration\":{{\"machine\":\"{}\",\"loop_instr\":{},\"loop_ticks\":{},\"instr_per_tick\":{:.4},\"measure_overhead_instr\":{}}}}}",
        MACHINE,
        cal_instr,
        cal_ticks,
        if cal_ticks > 0 { cal_instr as f32 / cal_ticks as f32 } else { 0.0 },
        t_empty
    ));
    if (cal_ticks * INSTR_PER_TICK).abs_diff(cal_instr) > INSTR_PER_TICK {
        out.line(format_args!(
            "{{\"warning\":\"SysTick is not {INSTR_PER_TICK} instructions per tick (run QEMU with -icount shift=0 on mps2-an385/an386): instruction counts are not exact\"}}"
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Stack painting

extern "C" {
    static _stack_start: u32; // top of the stack (initial SP), from cortex-m-rt's link.x
    static _stack_end: u32; // lowest address the stack may use (end of .bss/.uninit)
}

/// The top of the stack (its initial value).
pub fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

/// The current stack pointer.
#[inline(always)]
pub fn sp() -> usize {
    cortex_m::register::msp::read() as usize
}

/// Fills the unused stack with the paint pattern: from `window` bytes below the current SP (or
/// from `_stack_end`, whichever is higher) up to a little below the current SP. Returns the
/// lowest painted address.
#[inline(never)]
pub fn paint_stack(window: usize) -> usize {
    let sp = sp();
    let lo = (addr_of!(_stack_end) as usize).max(sp.saturating_sub(window)) & !3;
    let hi = (sp - 64) & !3;
    let mut p = lo;
    while p < hi {
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    lo
}

/// Lowest stack address written since [`paint_stack`] returned `lo`.
#[inline(never)]
pub fn stack_low_water(lo: usize) -> usize {
    let top = stack_top();
    let mut p = lo;
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    p
}

// ---------------------------------------------------------------------------------------------

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Ok(mut h) = hio::hstdout() {
        let mut msg = Buf::<200>::new();
        let _ = write!(msg, "{}", info);
        let mut line = Buf::<256>::new();
        let _ = writeln!(line, "{{\"error\":\"panic: {}\"}}", JsonStr(msg.as_str()));
        let _ = h.write_all(line.as_str().as_bytes());
    }
    exit(false)
}

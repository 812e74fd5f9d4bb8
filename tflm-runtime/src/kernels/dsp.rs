//! The Armv7E-M DSP-extension instructions the int8 kernels are built on, each with a portable
//! twin of the same semantics (ARMv7-M Architecture Reference Manual, A7.7), so the host runs
//! and tests the very algorithm (lane packing, loop structure) that the Cortex-M4/M7 runs.
//!
//! On `target_arch = "arm"` with `target_feature = "dsp"` (thumbv7em, thumbv8m.main with DSP)
//! each primitive is one instruction in inline assembly; everywhere else (host, thumbv6m,
//! thumbv7m) it is plain Rust. Values are "int16x2" words: two 16-bit lanes, bits 0..16 the
//! bottom lane, 16..32 the top one.
//!
//! The int8 dot products in [`dot_i8`] and [`dot4_i8`] widen four int8 lanes of one word load
//! into two int16x2 words (`SXTAB16` with and without `ROR #8`, which also adds the input
//! offset) and multiply-accumulate two lanes per `SMLAD`. Their int32 sums wrap exactly like the
//! reference kernels' in-order sums: wrapping addition is associative and commutative, so the
//! order of the products cannot change a bit.

/// Sign-extends bytes 0 and 2 of `x` into the bottom and top halfwords (`SXTB16 Rd, Rm`).
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let r: u32;
        // SAFETY: one register-only ALU instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        let lo = x as u8 as i8 as i16 as u16 as u32;
        let hi = (x >> 16) as u8 as i8 as i16 as u16 as u32;
        lo | hi << 16
    }
}

/// Sign-extends bytes 1 and 3 of `x` (`SXTB16 Rd, Rm, ROR #8`).
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let r: u32;
        // SAFETY: one register-only ALU instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        sxtb16(x.rotate_right(8))
    }
}

/// Adds the sign-extended bytes 0 and 2 of `x` to the halfwords of `a`, each lane wrapping at
/// 16 bits (`SXTAB16 Rd, Rn, Rm`).
#[inline(always)]
pub fn sxtab16(a: u32, x: u32) -> u32 {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let r: u32;
        // SAFETY: one register-only ALU instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a,
                x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        add16x2(a, sxtb16(x))
    }
}

/// Adds the sign-extended bytes 1 and 3 of `x` to the halfwords of `a`
/// (`SXTAB16 Rd, Rn, Rm, ROR #8`).
#[inline(always)]
pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let r: u32;
        // SAFETY: one register-only ALU instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a,
                x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        add16x2(a, sxtb16_ror8(x))
    }
}

/// Lane-wise wrapping 16-bit addition (the portable half of `SXTAB16`).
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
#[inline(always)]
fn add16x2(a: u32, b: u32) -> u32 {
    let lo = (a as u16).wrapping_add(b as u16) as u32;
    let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16) as u32;
    lo | hi << 16
}

/// The bottom and top lanes as signed 16-bit values.
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
#[inline(always)]
fn lanes(x: u32) -> (i32, i32) {
    (x as u16 as i16 as i32, (x >> 16) as u16 as i16 as i32)
}

/// Defines `fn $name(x, y, acc) -> i32`, a 16x16-bit multiply-accumulate: the instruction
/// `$insn` on Armv7E-M, elsewhere `$portable` given the lanes of `x` and `y` (each product fits
/// in i32; the sums wrap like the hardware's, whose Q flag nothing here reads).
macro_rules! multiply_accumulate {
    ($(#[$doc:meta])* $name:ident, $insn:literal, |$x:ident, $y:ident, $acc:ident| $portable:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(x: u32, y: u32, acc: i32) -> i32 {
            #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
            {
                let r: i32;
                // SAFETY: one register-only multiply-accumulate; it may set the Q flag, so
                // flags are not declared preserved.
                unsafe {
                    core::arch::asm!(concat!($insn, " {r}, {x}, {y}, {a}"), r = lateout(reg) r,
                        x = in(reg) x, y = in(reg) y, a = in(reg) acc,
                        options(pure, nomem, nostack));
                }
                r
            }
            #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
            {
                let ($x, $y, $acc) = (lanes(x), lanes(y), acc);
                $portable
            }
        }
    };
}

multiply_accumulate!(
    /// `acc + x.bottom * y.bottom + x.top * y.top`, wrapping at 32 bits (`SMLAD`).
    smlad, "smlad", |x, y, acc| acc.wrapping_add(x.0 * y.0).wrapping_add(x.1 * y.1)
);
multiply_accumulate!(
    /// `acc + x.bottom * y.bottom`, wrapping (`SMLABB`).
    smlabb, "smlabb", |x, y, acc| acc.wrapping_add(x.0 * y.0)
);
multiply_accumulate!(
    /// `acc + x.top * y.top`, wrapping (`SMLATT`).
    smlatt, "smlatt", |x, y, acc| acc.wrapping_add(x.1 * y.1)
);

/// int8 lanes per 32-bit word: the step of the `SMLAD` loops.
pub const WORD: usize = 4;

/// Four int8 lanes as one little-endian word (a single `LDR`; Armv7-M allows it unaligned).
#[inline(always)]
pub fn word(x: &[i8; 4]) -> u32 {
    u32::from_le_bytes(bytemuck::cast(*x))
}

/// The input offset in both lanes, when every `x + offset` of an int8 `x` fits in 16 bits
/// (always for a valid int8 zero point; otherwise the callers keep the scalar path).
#[inline(always)]
pub fn offset16x2(offset: i32) -> Option<u32> {
    if (i16::MIN as i32 + 128..=i16::MAX as i32 - 127).contains(&offset) {
        let h = offset as u16 as u32;
        Some(h | h << 16)
    } else {
        None
    }
}

/// The int8 lanes of `x` plus the offset, as (lanes 0 and 2, lanes 1 and 3).
#[inline(always)]
pub fn widen_offset(off: u32, x: u32) -> (u32, u32) {
    (sxtab16(off, x), sxtab16_ror8(off, x))
}

/// The int8 lanes of `w` as (lanes 0 and 2, lanes 1 and 3).
#[inline(always)]
pub fn widen(w: u32) -> (u32, u32) {
    (sxtb16(w), sxtb16_ror8(w))
}

/// `x` cut into whole words and the tail: `(words, tail)`. A plain split and cast, which
/// inlines to a mask and a shift (`chunks_exact` zipped in [`dot4_i8`] was outlined by LLVM,
/// with two divisions per call, once per filter row and channel quad).
#[inline(always)]
pub fn words(x: &[i8]) -> (&[[i8; 4]], &[i8]) {
    let (head, tail) = x.split_at(x.len() & !(WORD - 1));
    (bytemuck::try_cast_slice(head).unwrap_or(&[]), tail)
}

/// `acc + (x + offset) * w` for one int8 pair, wrapping (the reference kernels' MAC).
#[inline(always)]
fn mac_i8(acc: i32, x: i8, w: i8, offset: i32) -> i32 {
    acc.wrapping_add((x as i32).wrapping_add(offset).wrapping_mul(w as i32))
}

/// `acc + Σ (x[i] + offset) * w[i]` in wrapping int32, four lanes per step, the tail scalar.
/// Requires `x.len() == w.len()` (extra elements of either are ignored).
#[inline(always)]
pub fn dot_i8(mut acc: i32, x: &[i8], w: &[i8], off: u32, offset: i32) -> i32 {
    let n = x.len().min(w.len());
    let (xs, ws) = (x[..n].chunks_exact(4), w[..n].chunks_exact(4));
    let (xt, wt) = (xs.remainder(), ws.remainder());
    for (xq, wq) in xs.zip(ws) {
        let (Ok(xq), Ok(wq)) = (xq.try_into(), wq.try_into()) else {
            break;
        };
        let (xe, xo) = widen_offset(off, word(xq));
        let (we, wo) = widen(word(wq));
        acc = smlad(xo, wo, smlad(xe, we, acc));
    }
    for (&x, &w) in xt.iter().zip(wt) {
        acc = mac_i8(acc, x, w, offset);
    }
    acc
}

/// Four [`dot_i8`]s sharing one input run: each input word is loaded and widened once for four
/// weight rows (each at least `x.len()` long).
#[inline(always)]
pub fn dot4_i8(acc: [i32; 4], x: &[i8], w: [&[i8]; 4], off: u32, offset: i32) -> [i32; 4] {
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    let n = x.len();
    let (xw, xt) = words(x);
    let [(w0, t0), (w1, t1), (w2, t2), (w3, t3)] = w.map(|w| words(&w[..n.min(w.len())]));
    for ((((xq, q0), q1), q2), q3) in xw.iter().zip(w0).zip(w1).zip(w2).zip(w3) {
        let (xe, xo) = widen_offset(off, word(xq));
        macro_rules! step {
            ($a:ident, $q:ident) => {{
                let (we, wo) = widen(word($q));
                $a = smlad(xo, wo, smlad(xe, we, $a));
            }};
        }
        step!(a0, q0);
        step!(a1, q1);
        step!(a2, q2);
        step!(a3, q3);
    }
    for ((((&x, &v0), &v1), &v2), &v3) in xt.iter().zip(t0).zip(t1).zip(t2).zip(t3) {
        a0 = mac_i8(a0, x, v0, offset);
        a1 = mac_i8(a1, x, v1, offset);
        a2 = mac_i8(a2, x, v2, offset);
        a3 = mac_i8(a3, x, v3, offset);
    }
    [a0, a1, a2, a3]
}

/// Four independent lanes, `acc[k] + (x[k] + offset) * w[k]`: one word load and two widenings
/// per operand, then `SMLABB`/`SMLATT` per lane (depthwise convolution, where neighbouring
/// channels never share a sum).
#[inline(always)]
pub fn mac4_i8(acc: [i32; 4], x: &[i8; 4], w: &[i8; 4], off: u32) -> [i32; 4] {
    let (xe, xo) = widen_offset(off, word(x));
    let (we, wo) = widen(word(w));
    [
        smlabb(xe, we, acc[0]),
        smlabb(xo, wo, acc[1]),
        smlatt(xe, we, acc[2]),
        smlatt(xo, wo, acc[3]),
    ]
}

/// The inner step shared by [`smlad_block4`] and [`smlad_masked4`], as one assembly string:
/// the next weight word (`LDR` from `{wp}`, post-incremented) widened once into `{e}` (bytes 0
/// and 2) and `{w}` (bytes 1 and 3), then the four pixels' widened pairs (`LDRD` from `{xp}`,
/// post-incremented, into `{a}`, `{b}`) into the sums `{s0}`..`{s3}`, two `SMLAD`s each.
/// The two loops differ only in how they advance, so they share these lines.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
macro_rules! smlad4_step {
    () => {
        concat!(
            "ldr {w}, [{wp}], #4\n",
            "ldrd {a}, {b}, [{xp}], #8\n",
            "sxtb16 {e}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {s0}, {a}, {e}, {s0}\n",
            "smlad {s0}, {b}, {w}, {s0}\n",
            "ldrd {a}, {b}, [{xp}], #8\n",
            "smlad {s1}, {a}, {e}, {s1}\n",
            "smlad {s1}, {b}, {w}, {s1}\n",
            "ldrd {a}, {b}, [{xp}], #8\n",
            "smlad {s2}, {a}, {e}, {s2}\n",
            "smlad {s2}, {b}, {w}, {s2}\n",
            "ldrd {a}, {b}, [{xp}], #8\n",
            "smlad {s3}, {a}, {e}, {s3}\n",
            "smlad {s3}, {b}, {w}, {s3}",
        )
    };
}

/// Four int8 dot products that share one weight row, over inputs widened beforehand: for each
/// step `i`, the weight word `w[i]` is widened once (`e`, `o`) and `acc[k] += x[i][2k] . e +
/// x[i][2k + 1] . o` as two `SMLAD`s, for the four pixels `k` (`x[i]` holds each pixel's
/// [`widen_offset`] pair). Steps beyond the shorter of `x` and `w` are ignored.
///
/// On Armv7E-M the loop is inline assembly: 17 instructions per 16 MACs (one `LDR`, four
/// `LDRD`, two `SXTB16`, eight `SMLAD`, the compare and branch) in 11 registers. LLVM, given the
/// same loop in Rust inside the pointwise kernel, hoisted the eight input loads and spilled
/// them (36 instructions per step). Elsewhere the same steps in plain Rust.
#[inline(always)]
pub fn smlad_block4(acc: [i32; 4], x: &[[u32; 8]], w: &[[i8; 4]]) -> [i32; 4] {
    let n = x.len().min(w.len());
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        if n == 0 {
            return acc;
        }
        let [mut s0, mut s1, mut s2, mut s3] = acc;
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        // One past the last group read (in bounds of `x`: n <= x.len()).
        let end = x[n..].as_ptr();
        // SAFETY: the loop reads `n >= 1` whole 32-byte groups of `x` (word aligned, as
        // `LDRD` needs) from `xp` up to `end`, and `n` words of `w` (`LDR` may be unaligned
        // on Armv7-M), both in bounds since `n` is the shorter length; it writes only its
        // register operands, touches no stack, and clobbers the flags (no
        // `preserves_flags`).
        unsafe {
            core::arch::asm!(
                "2:",
                smlad4_step!(),
                "cmp {xp}, {end}",
                "bne 2b",
                wp = inout(reg) wp => _,
                xp = inout(reg) xp => _,
                end = in(reg) end,
                w = out(reg) _,
                e = out(reg) _,
                a = out(reg) _,
                b = out(reg) _,
                s0 = inout(reg) s0,
                s1 = inout(reg) s1,
                s2 = inout(reg) s2,
                s3 = inout(reg) s3,
                options(nostack, readonly),
            );
        }
        [s0, s1, s2, s3]
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        let mut s = acc;
        for (x, w) in x[..n].iter().zip(&w[..n]) {
            let (e, o) = widen(word(w));
            for (k, s) in s.iter_mut().enumerate() {
                *s = smlad(x[2 * k + 1], o, smlad(x[2 * k], e, *s));
            }
        }
        s
    }
}

/// Blocks of four int8 weights covered by one mask word of [`smlad_masked4`].
pub const MASK_BLOCKS: usize = 32;

/// The four pixels' sums over the kept blocks of one 32-bit mask word of a 1x4 block-encoded
/// row (the block-sparse pointwise kernel's inner loop): for each set bit `j` of `mask`, in
/// increasing order, the next weight word of `w` (two `SXTB16`) multiplies the widened group
/// `x[j]` (pixel `k`'s int16 pairs at `x[j][2k]` and `x[j][2k + 1]`) into the four sums, as
/// [`smlad_block4`] does for every block. Returns the sums and the bytes of `w` read (4 per
/// set bit). When `w` holds fewer words than `mask` has bits
/// the sums are returned unchanged with 0 bytes read (never a read past either slice).
///
/// On Armv7E-M one inline-assembly loop whose only per-block overhead is the bit scan: the
/// mask is bit-reversed once (`RBIT`), then each kept block is `CLZ`, a shift of the mask past
/// the block, the group's address and the loop branch on the shifted mask: 20 instructions per
/// kept block against the dense loop's 17 per block (session 9's Rust walk took 26). Elsewhere
/// plain Rust over the set bits.
#[inline(always)]
pub fn smlad_masked4(
    acc: [i32; 4],
    x: &[[u32; 8]; MASK_BLOCKS],
    mask: u32,
    w: &[u8],
) -> ([i32; 4], usize) {
    // The cheap bound first: the weights up to the highest kept block fit (a `CLZ`); else
    // count the kept blocks.
    let span = (u32::BITS - mask.leading_zeros()) as usize;
    if mask == 0 || (w.len() < 4 * span && w.len() < 4 * mask.count_ones() as usize) {
        return (acc, 0);
    }
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let [mut s0, mut s1, mut s2, mut s3] = acc;
        let wp0 = w.as_ptr();
        let wp: *const u8;
        // SAFETY: `mask` is nonzero; each of its set bits `j` (below 32) reads the 32 bytes of `x[j]` (word-aligned `[u32; 8]`, as `LDRD` needs);
        // one word of `w` per set bit (`LDR` may be unaligned on Armv7-M), and `w` holds at
        // least that many (checked above). It writes only its register operands, touches no
        // stack, and clobbers the flags (the loop branches on the shifted mask's Z flag, which
        // the loads, `SXTB16` and `SMLAD` leave alone).
        unsafe {
            core::arch::asm!(
                "rbit {m}, {m}",
                "2:",
                // Blocks skipped before the next kept one: {e} (free until the weights).
                "clz {e}, {m}",
                "lsls {m}, {m}, {e}",
                "add {xp}, {xp}, {e}, lsl #5",
                "lsls {m}, {m}, #1",
                smlad4_step!(),
                "bne 2b",
                m = inout(reg) mask => _,
                xp = inout(reg) x.as_ptr() => _,
                wp = inout(reg) wp0 => wp,
                w = out(reg) _,
                e = out(reg) _,
                a = out(reg) _,
                b = out(reg) _,
                s0 = inout(reg) s0,
                s1 = inout(reg) s1,
                s2 = inout(reg) s2,
                s3 = inout(reg) s3,
                options(nostack, readonly),
            );
        }
        ([s0, s1, s2, s3], wp as usize - wp0 as usize)
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        let mut s = acc;
        let mut m = mask;
        let mut read = 0;
        while m != 0 {
            let j = m.trailing_zeros() as usize;
            m &= m - 1;
            let (e, o) = widen(u32::from_le_bytes([
                w[read],
                w[read + 1],
                w[read + 2],
                w[read + 3],
            ]));
            read += 4;
            for (k, s) in s.iter_mut().enumerate() {
                *s = smlad(x[j][2 * k + 1], o, smlad(x[j][2 * k], e, *s));
            }
        }
        (s, read)
    }
}

/// One filter row of a 3x3 depthwise window for one channel quad: `acc[k] += (x_t[k] +
/// offset) * w_t[k]` for the taps `t = 0, 1, 2`, whose input words start at `x[0]`,
/// `x[dx]` and `x[2 * dx]` and whose weight words are `w[0..3]`. Lanes as [`mac4_i8`].
///
/// On Armv7E-M it is inline assembly (30 instructions for 12 MACs, the sums never leave their
/// registers): LLVM, given the nine taps of a quad in Rust, loaded and widened every tap
/// first and spilled them (about 250 instructions a quad). Elsewhere plain Rust. `x` must hold
/// `2 * dx + 4` bytes; anything shorter adds nothing (the caller checks the length once per
/// pixel, so that never happens there).
#[inline(always)]
pub fn mac4_row3_i8(acc: [i32; 4], x: &[i8], dx: usize, w: &[[i8; 4]; 3], off: u32) -> [i32; 4] {
    if x.len() < 2 * dx + 4 {
        return acc;
    }
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let [mut s0, mut s1, mut s2, mut s3] = acc;
        // SAFETY: reads the words at `x`, `x + dx` and `x + 2 * dx` (in bounds: checked above)
        // with `LDR`, which Armv7-M allows unaligned, and the three words of `w`; writes only
        // its register operands; no stack, flags untouched.
        unsafe {
            // One tap: its weight word in {t} and input word in {x} are widened (the offset
            // added to the input) and multiplied into the four lanes.
            macro_rules! tap {
                () => {
                    concat!(
                        "sxtb16 {we}, {t}\n",
                        "sxtb16 {t}, {t}, ror #8\n",
                        "sxtab16 {xe}, {off}, {x}\n",
                        "sxtab16 {x}, {off}, {x}, ror #8\n",
                        "smlabb {s0}, {xe}, {we}, {s0}\n",
                        "smlatt {s2}, {xe}, {we}, {s2}\n",
                        "smlabb {s1}, {x}, {t}, {s1}\n",
                        "smlatt {s3}, {x}, {t}, {s3}",
                    )
                };
            }
            core::arch::asm!(
                "ldr {t}, [{w}]",
                "ldr {x}, [{xp}]",
                tap!(),
                "ldr {t}, [{w}, #4]",
                "ldr {x}, [{xp}, {dx}]",
                tap!(),
                "ldr {t}, [{w}, #8]",
                "ldr {x}, [{xp}, {dx}, lsl #1]",
                tap!(),
                w = in(reg) w.as_ptr(),
                xp = in(reg) x.as_ptr(),
                dx = in(reg) dx,
                off = in(reg) off,
                t = out(reg) _,
                x = out(reg) _,
                we = out(reg) _,
                xe = out(reg) _,
                s0 = inout(reg) s0,
                s1 = inout(reg) s1,
                s2 = inout(reg) s2,
                s3 = inout(reg) s3,
                options(nostack, readonly, preserves_flags),
            );
        }
        [s0, s1, s2, s3]
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        let mut acc = acc;
        for (t, w) in w.iter().enumerate() {
            let xq = &x[t * dx..t * dx + 4];
            acc = mac4_i8(acc, &[xq[0], xq[1], xq[2], xq[3]], w, off);
        }
        acc
    }
}

/// `((hi(a * m + 2^30 - [a < 0] * 2^31) >> e2) + 1) >> 1`: the convolutions' folded rescale
/// (see [`super::requant`]), for `0 <= e2 <= 29`.
///
/// On Armv7E-M it is inline assembly: written in Rust, LLVM knew `m >= 0` and built the signed
/// 64-bit product from `UMLAL` plus a `MUL` correcting for `a`'s sign (ten instructions with
/// the old two-step form; worse with this one, where it rebuilt the whole 64-bit product).
/// Elsewhere the same arithmetic in plain Rust.
#[inline(always)]
pub fn rescale_fold(a: i32, m: i32, e2: i32) -> i32 {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let r: i32;
        // SAFETY: register-only ALU and multiply instructions; `hi` and `lo` are written
        // before every input is read, so they are plain (early) outputs; no memory, stack or
        // flags touched.
        unsafe {
            core::arch::asm!(
                "asr {hi}, {a}, #31",
                "and {lo}, {a}, #0x80000000",
                "orr {lo}, {lo}, #0x40000000",
                "smlal {lo}, {hi}, {a}, {m}",
                "asr {hi}, {hi}, {e2}",
                "add {hi}, {hi}, #1",
                "asr {hi}, {hi}, #1",
                a = in(reg) a,
                m = in(reg) m,
                e2 = in(reg) e2,
                hi = out(reg) r,
                lo = out(reg) _,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        r
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
    {
        // 2^30 - [a < 0] * 2^31: a's sign word on top of 0x4000_0000 or 0xc000_0000.
        let round = (((a >> 31) as i64) << 31) | (1 << 30);
        let high = ((a as i64 * m as i64 + round) >> 32) as i32;
        ((high >> e2) + 1) >> 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The architectural definitions, written from the manual's pseudocode independently of
    /// the implementations above.
    fn sext8(b: u32) -> i32 {
        (b & 0xff) as i32 - if b & 0x80 != 0 { 256 } else { 0 }
    }
    fn half(v: i32) -> u32 {
        (v as u32) & 0xffff
    }

    const EDGES: [u32; 10] = [
        0,
        0xffff_ffff,
        0x8080_8080,
        0x7f7f_7f7f,
        0x807f_7f80,
        0x0180_ff7f,
        0x1234_5678,
        0xdead_beef,
        0x0000_8000,
        0x8000_0000,
    ];

    fn sample() -> impl Iterator<Item = u32> {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        EDGES.into_iter().chain((0..2000).map(move |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u32
        }))
    }

    #[test]
    fn extends_match_the_manual() {
        for x in sample() {
            let r = x.rotate_right(8);
            assert_eq!(
                sxtb16(x),
                half(sext8(x)) | half(sext8(x >> 16)) << 16,
                "{x:#x}"
            );
            assert_eq!(sxtb16_ror8(x), half(sext8(r)) | half(sext8(r >> 16)) << 16);
            for a in [0u32, 0x7fff_7fff, 0x8000_8000, 0xffff_0001, x ^ 0x5a5a_a5a5] {
                let lo = half((a & 0xffff) as i32 + sext8(x));
                let hi = half((a >> 16) as i32 + sext8(x >> 16));
                assert_eq!(sxtab16(a, x), lo | hi << 16, "{a:#x} {x:#x}");
                let lo = half((a & 0xffff) as i32 + sext8(r));
                let hi = half((a >> 16) as i32 + sext8(r >> 16));
                assert_eq!(sxtab16_ror8(a, x), lo | hi << 16, "{a:#x} {x:#x}");
            }
        }
        assert_eq!(sxtb16(0x0080_007f), 0xff80_007f);
        assert_eq!(sxtb16_ror8(0x8000_7f00), 0xff80_007f);
        assert_eq!(sxtab16(0x0001_7fff, 0x0000_0001), 0x0001_8000); // bottom lane wraps
    }

    #[test]
    fn multiply_accumulates_match_the_manual_and_wrap() {
        let s16 = |v: u32| (v & 0xffff) as i16 as i64;
        for (i, x) in sample().enumerate() {
            let y = x.rotate_left(i as u32 % 32) ^ 0x9e37_79b9;
            for acc in [0i32, 1, -1, i32::MAX, i32::MIN, x as i32] {
                let (xb, xt, yb, yt) = (s16(x), s16(x >> 16), s16(y), s16(y >> 16));
                let exact = acc as i64 + xb * yb + xt * yt;
                assert_eq!(smlad(x, y, acc), exact as i32, "{x:#x} {y:#x} {acc}");
                assert_eq!(smlabb(x, y, acc), (acc as i64 + xb * yb) as i32);
                assert_eq!(smlatt(x, y, acc), (acc as i64 + xt * yt) as i32);
            }
        }
        // -32768 * -32768 twice overflows i32 on its own: the sum wraps to i32::MIN.
        assert_eq!(smlad(0x8000_8000, 0x8000_8000, 0), i32::MIN);
        assert_eq!(smlad(0x8000_8000, 0x8000_8000, i32::MAX), -1);
    }

    #[test]
    fn block_of_four_equals_four_scalar_sums() {
        let mut next = lcg(11);
        let x: [[i8; 36]; 4] = core::array::from_fn(|k| {
            core::array::from_fn(|i| if (i + k) % 9 == 0 { -128 } else { next() })
        });
        let w: [i8; 36] = core::array::from_fn(|i| if i % 5 == 0 { -128 } else { next() });
        let (ws, _) = w.as_chunks::<4>();
        for offset in [128, -127, 0, 32640] {
            let off = offset16x2(offset).unwrap();
            let groups: [[u32; 8]; 9] = core::array::from_fn(|i| {
                let mut g = [0; 8];
                for k in 0..4 {
                    let (e, o) = widen_offset(off, word(x[k][4 * i..][..4].try_into().unwrap()));
                    (g[2 * k], g[2 * k + 1]) = (e, o);
                }
                g
            });
            for n in [0, 1, 2, 9] {
                let acc = [i32::MAX - 9, i32::MIN + 3, 0, -77];
                let want: [i32; 4] =
                    core::array::from_fn(|k| scalar(acc[k], &x[k][..4 * n], &w[..4 * n], offset));
                assert_eq!(smlad_block4(acc, &groups[..n], ws), want, "{offset} {n}");
                // The shorter operand bounds the steps.
                assert_eq!(smlad_block4(acc, &groups, &ws[..n]), want);
            }
        }
    }

    /// The kept blocks of a mask word against the scalar sums over the same blocks: masks
    /// empty, full, sparse and at both ends, extreme lanes and offsets; too few weights read
    /// none (and never past the slice).
    #[test]
    fn masked_blocks_equal_the_scalar_sums_of_the_kept_blocks() {
        extern crate std;
        use std::vec::Vec;
        let mut next = lcg(23);
        let x: [[i8; 128]; 4] = core::array::from_fn(|k| {
            core::array::from_fn(|i| if (i + k) % 7 == 0 { -128 } else { next() })
        });
        let dense: [i8; 128] = core::array::from_fn(|i| if i % 6 == 0 { -128 } else { next() });
        for offset in [128, -127, 0, 32640] {
            let off = offset16x2(offset).unwrap();
            let groups: [[u32; 8]; MASK_BLOCKS] = core::array::from_fn(|i| {
                let mut g = [0; 8];
                for k in 0..4 {
                    let (e, o) = widen_offset(off, word(x[k][4 * i..][..4].try_into().unwrap()));
                    (g[2 * k], g[2 * k + 1]) = (e, o);
                }
                g
            });
            for mask in [0, 1, 1 << 31, 0x8000_0001, 0xffff_ffff, 0x5a5a_a5a5, 0x0f0] {
                let kept: Vec<usize> = (0..32).filter(|j| mask >> j & 1 == 1).collect();
                let w: Vec<u8> = kept
                    .iter()
                    .flat_map(|&j| dense[4 * j..4 * j + 4].iter().map(|&v| v as u8))
                    .collect();
                let acc = [i32::MAX - 9, i32::MIN + 3, 0, -77];
                let want: [i32; 4] = core::array::from_fn(|k| {
                    kept.iter().fold(acc[k], |s, &j| {
                        scalar(s, &x[k][4 * j..4 * j + 4], &dense[4 * j..4 * j + 4], offset)
                    })
                });
                assert_eq!(smlad_masked4(acc, &groups, mask, &w), (want, w.len()));
                // Trailing bytes are not read; a short weight slice reads nothing.
                let mut longer = w.clone();
                longer.extend([1, 2, 3, 4, 5]);
                assert_eq!(smlad_masked4(acc, &groups, mask, &longer), (want, w.len()));
                if !w.is_empty() {
                    let short = &w[..w.len() - 1];
                    assert_eq!(smlad_masked4(acc, &groups, mask, short), (acc, 0));
                }
            }
        }
    }

    #[test]
    fn row_of_three_taps_equals_three_lane_sums() {
        let mut next = lcg(5);
        let x: [i8; 40] = core::array::from_fn(|i| if i % 6 == 0 { -128 } else { next() });
        let w: [[i8; 4]; 3] = core::array::from_fn(|t| {
            core::array::from_fn(|k| [127, -128, next(), next()][(t + k) % 4])
        });
        for offset in [128, -127, 0, 32640] {
            let off = offset16x2(offset).unwrap();
            for dx in [4, 5, 7, 12, 18] {
                let acc = [i32::MAX - 1, i32::MIN, 3, -3];
                let want: [i32; 4] = core::array::from_fn(|k| {
                    (0..3).fold(acc[k], |a, t| {
                        scalar(a, &x[t * dx + k..][..1], &w[t][k..][..1], offset)
                    })
                });
                assert_eq!(
                    mac4_row3_i8(acc, &x[..2 * dx + 4], dx, &w, off),
                    want,
                    "{offset} {dx}"
                );
                // Too short a row adds nothing.
                assert_eq!(mac4_row3_i8(acc, &x[..2 * dx + 3], dx, &w, off), acc);
            }
        }
    }

    #[test]
    fn offsets_that_fit_sixteen_bits() {
        assert_eq!(offset16x2(128), Some(0x0080_0080));
        assert_eq!(offset16x2(-127), Some(0xff81_ff81));
        assert_eq!(offset16x2(32640), Some(0x7f80_7f80));
        assert_eq!(offset16x2(32641), None);
        assert_eq!(offset16x2(-32640), Some(0x8080_8080));
        assert_eq!(offset16x2(-32641), None);
    }

    /// A deterministic int8 stream: the top byte of a linear congruential generator.
    fn lcg(mut s: u32) -> impl FnMut() -> i8 {
        move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8 as i8
        }
    }

    /// The reference's in-order scalar sum.
    fn scalar(acc: i32, x: &[i8], w: &[i8], offset: i32) -> i32 {
        x.iter().zip(w).fold(acc, |a, (&x, &w)| {
            a.wrapping_add((x as i32).wrapping_add(offset).wrapping_mul(w as i32))
        })
    }

    #[test]
    fn dot_products_equal_the_scalar_sum() {
        let mut next = lcg(7);
        let x: [i8; 67] = core::array::from_fn(|i| if i % 11 == 0 { -128 } else { next() });
        let w: [[i8; 67]; 4] = core::array::from_fn(|r| {
            core::array::from_fn(|i| if i % 7 == r { 127 } else { next() })
        });
        for offset in [128, -127, 0, 5, 32640, -32640] {
            let off = offset16x2(offset).unwrap();
            for n in [0, 1, 2, 3, 4, 5, 8, 13, 64, 67] {
                for acc in [0, i32::MAX - 3, i32::MIN + 2] {
                    let want: [i32; 4] =
                        core::array::from_fn(|r| scalar(acc, &x[..n], &w[r][..n], offset));
                    assert_eq!(dot_i8(acc, &x[..n], &w[1][..n], off, offset), want[1]);
                    let ws = [&w[0][..], &w[1][..], &w[2][..], &w[3][..]];
                    assert_eq!(dot4_i8([acc; 4], &x[..n], ws, off, offset), want, "{n}");
                }
            }
        }
        for offset in [128, -127, 32640] {
            for (i, wq) in w.iter().enumerate() {
                let xq: &[i8; 4] = x[i * 4..i * 4 + 4].try_into().unwrap();
                let wq: &[i8; 4] = wq[60..64].try_into().unwrap();
                let acc = [i32::MAX, i32::MIN, 7, -7];
                let want: [i32; 4] =
                    core::array::from_fn(|k| scalar(acc[k], &xq[k..k + 1], &wq[k..k + 1], offset));
                assert_eq!(mac4_i8(acc, xq, wq, offset16x2(offset).unwrap()), want);
            }
        }
        // Sums beyond i32 wrap like the reference's.
        let big = [-128i8; 64];
        let acc = i32::MIN + 5;
        let want = scalar(acc, &big, &big, 32640);
        assert!((acc as i64 + 64 * 32512 * -128) < i32::MIN as i64);
        assert_eq!(
            dot_i8(acc, &big, &big, offset16x2(32640).unwrap(), 32640),
            want
        );
    }
}

//! AVERAGE_POOL_2D and MAX_POOL_2D (NHWC) for int8, int16 and float32.
//!
//! Bit-exact with LiteRT's `BUILTIN_REF` kernels (`reference_integer_ops::AveragePool` /
//! `MaxPool`, `reference_ops::AveragePool` / `MaxPool`). The window is clipped to the image:
//! padding contributes nothing, and an average divides by the number of in-image elements
//! (`filter_count`), rounding half away from zero: `(sum ± count/2) / count` with C's
//! truncating division. Quantized pooling keeps the input's scale and zero point, so the
//! integer kernels never look at them; only the clamp does.

use super::conv::{clamp_f32, volume, KernelError, PaddingValues, Window};
use crate::quant::{activation_range_f32, activation_range_quantized};
use crate::types::Activation;
use core::num::NonZeroU32;

/// Window size, stride, padding and clamp range of one pooling op, built once at init.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    pub stride_height: i32,
    pub stride_width: i32,
    pub filter_height: i32,
    pub filter_width: i32,
    /// Rows/columns of padding before the image (`PaddingValues::height` / `width`).
    pub padding_height: i32,
    pub padding_width: i32,
    pub activation_min: i32,
    pub activation_max: i32,
    pub float_activation_min: f32,
    pub float_activation_max: f32,
}

impl PoolParams {
    /// Quantized parameters (`stride`, `filter` as `[height, width]`). The clamp is TFLite's
    /// `CalculateActivationRangeQuantized` on the output's scale and zero point; `qmin`/`qmax`
    /// are the type's limits.
    #[allow(clippy::too_many_arguments)]
    pub fn quantized(
        stride: [i32; 2],
        filter: [i32; 2],
        padding: PaddingValues,
        output_scale: f32,
        output_zero_point: i32,
        activation: Activation,
        qmin: i32,
        qmax: i32,
    ) -> Self {
        let (activation_min, activation_max) =
            activation_range_quantized(activation, output_scale, output_zero_point, qmin, qmax);
        let (float_activation_min, float_activation_max) = activation_range_f32(activation);
        PoolParams {
            stride_height: stride[0],
            stride_width: stride[1],
            filter_height: filter[0],
            filter_width: filter[1],
            padding_height: padding.height,
            padding_width: padding.width,
            activation_min,
            activation_max,
            float_activation_min,
            float_activation_max,
        }
    }

    pub fn float(
        stride: [i32; 2],
        filter: [i32; 2],
        padding: PaddingValues,
        activation: Activation,
    ) -> Self {
        Self::quantized(stride, filter, padding, 1.0, 0, activation, 0, 0)
    }
}

/// Validated geometry of one pooling call.
struct Geometry {
    win: Window,
    filter: [usize; 2],
    input_shape: [usize; 4],
    output_shape: [usize; 4],
}

fn geometry(
    p: &PoolParams,
    input_shape: [usize; 4],
    input_len: usize,
    output_shape: [usize; 4],
    output_len: usize,
) -> Result<Geometry, KernelError> {
    let win = Window::new(
        [p.stride_height, p.stride_width],
        [1, 1],
        [p.padding_height, p.padding_width],
    )
    .ok_or(KernelError::Shape)?;
    if p.filter_height < 0
        || p.filter_width < 0
        || input_shape[0] != output_shape[0]
        || input_shape[3] != output_shape[3]
        || volume(input_shape) != Some(input_len)
        || volume(output_shape) != Some(output_len)
    {
        return Err(KernelError::Shape);
    }
    Ok(Geometry {
        win,
        filter: [p.filter_height as usize, p.filter_width as usize],
        input_shape,
        output_shape,
    })
}

/// The in-image part of one output pixel's window.
#[derive(Clone, Copy)]
struct Span {
    row0: usize,
    iy0: isize,
    ix0: isize,
    fy: (usize, usize),
    fx: (usize, usize),
    in_w: usize,
    channels: usize,
}

impl Span {
    /// Number of in-image elements (TFLite's `filter_count`).
    #[inline(always)]
    fn count(&self) -> usize {
        (self.fy.1 - self.fy.0) * (self.fx.1 - self.fx.0)
    }

    /// Calls `visit` with the start index of each in-image pixel's channel vector, in
    /// `(filter_y, filter_x)` order.
    #[inline(always)]
    fn pixels(&self, mut visit: impl FnMut(usize)) {
        for fy in self.fy.0..self.fy.1 {
            let row = (self.row0 + (self.iy0 + fy as isize) as usize) * self.in_w;
            for fx in self.fx.0..self.fx.1 {
                visit((row + (self.ix0 + fx as isize) as usize) * self.channels);
            }
        }
    }
}

impl Geometry {
    /// Calls `f(output_pixel_channels, span)` for each output pixel in order.
    #[inline(always)]
    fn for_each<O>(
        &self,
        output: &mut [O],
        mut f: impl FnMut(&mut [O], Span) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let [batches, in_h, in_w, channels] = self.input_shape;
        let [_, out_h, out_w, _] = self.output_shape;
        if output.is_empty() || channels == 0 {
            return Ok(());
        }
        let mut px = output.chunks_exact_mut(channels);
        for b in 0..batches {
            for oy in 0..out_h {
                let (iy0, fy0, fy1) = self.win.taps(0, oy, self.filter[0], in_h);
                for ox in 0..out_w {
                    let (ix0, fx0, fx1) = self.win.taps(1, ox, self.filter[1], in_w);
                    let Some(o) = px.next() else {
                        return Err(KernelError::Shape);
                    };
                    let span = Span {
                        row0: b * in_h,
                        iy0,
                        ix0,
                        fy: (fy0, fy1),
                        fx: (fx0, fx1),
                        in_w,
                        channels,
                    };
                    f(o, span)?;
                }
            }
        }
        Ok(())
    }
}

/// An average-pool accumulator: `i32` when no window can overflow it (the usual case; one
/// `SDIV` per output on Cortex-M), `i64` otherwise, as TFLite's `int64_t` sum.
trait AvgAcc: Copy {
    const ZERO: Self;
    fn add(self, x: i32) -> Self;
    /// The average with TFLite's rounding (half away from zero, C's truncating division),
    /// clamped to `lo..=hi`.
    fn finish(self, count: NonZeroU32, lo: i32, hi: i32) -> i32;
}

impl AvgAcc for i32 {
    const ZERO: i32 = 0;
    #[inline(always)]
    fn add(self, x: i32) -> i32 {
        self.wrapping_add(x)
    }
    /// `(sum ± count/2) / count` as the magnitude's unsigned division, then the sign: the
    /// same quotient (truncation is symmetric), with neither a division-overflow nor a
    /// division-by-zero check, and the clamp in 32 bits.
    #[inline(always)]
    fn finish(self, count: NonZeroU32, lo: i32, hi: i32) -> i32 {
        let q = (self.unsigned_abs().wrapping_add(count.get() / 2) / count) as i32;
        let avg = if self > 0 { q } else { q.wrapping_neg() };
        avg.max(lo).min(hi)
    }
}

impl AvgAcc for i64 {
    const ZERO: i64 = 0;
    #[inline(always)]
    fn add(self, x: i32) -> i64 {
        self.wrapping_add(x as i64)
    }
    #[inline(always)]
    fn finish(self, count: NonZeroU32, lo: i32, hi: i32) -> i32 {
        let c = count.get() as i64;
        let avg = if self > 0 {
            (self + c / 2) / c
        } else {
            (self - c / 2) / c
        };
        avg.max(lo as i64).min(hi as i64) as i32
    }
}

/// Whether `i32` sums cannot overflow: at most 2^16 window elements of at most 2^15 each
/// (and the `count / 2` nudge) stay below 2^31.
fn fits_i32(p: &PoolParams) -> bool {
    i32_sums_fit([p.filter_height, p.filter_width])
}

/// Whether an average over a `[height, width]` filter sums in `i32` (below 2^16 elements):
/// `AVERAGE_POOL_2D_INT8`'s prepare refuses the other windows ([`average_pool_i8_i32`]).
pub fn i32_sums_fit([h, w]: [i32; 2]) -> bool {
    (h.max(0) as u64) * (w.max(0) as u64) < (1 << 16)
}

/// An integer average pool: the `i32` sums where they fit, else the `i64` sums when `WIDE`,
/// else [`KernelError::Shape`] (so that a caller without `WIDE` does not link that loop).
#[inline(always)]
fn average_pool<T: Copy + Into<i32>, const WIDE: bool>(
    p: &PoolParams,
    input_shape: [usize; 4],
    input: &[T],
    output_shape: [usize; 4],
    output: &mut [T],
    store: impl Fn(i32) -> T,
) -> Result<(), KernelError> {
    let g = geometry(p, input_shape, input.len(), output_shape, output.len())?;
    let (lo, hi) = (p.activation_min, p.activation_max);
    if fits_i32(p) {
        average_int::<T, i32, true>(&g, input, output, lo, hi, store)
    } else if WIDE {
        average_int::<T, i64, false>(&g, input, output, lo, hi, store)
    } else {
        Err(KernelError::Shape)
    }
}

/// [`average_pool_i8`] for windows of fewer than 2^16 elements alone ([`i32_sums_fit`]; the
/// `AVERAGE_POOL_2D_INT8` registration, whose prepare refuses wider windows): a wider one is
/// [`KernelError::Shape`], and the `i64` sums' loop is not linked. Same outputs otherwise.
pub fn average_pool_i8_i32(
    p: &PoolParams,
    input_shape: [usize; 4],
    input: &[i8],
    output_shape: [usize; 4],
    output: &mut [i8],
) -> Result<(), KernelError> {
    average_pool::<i8, false>(p, input_shape, input, output_shape, output, |v| v as i8)
}

/// Integer average pool, four channels at a time with the sums in registers (`QUADS`), or one
/// channel at a time in rolled loops: the `i64` sums' variant, only for windows whose sums
/// could overflow `i32` (2^16 elements or more, no real model's), is kept small (a second
/// copy of the quad loops cost about 0.9 KB of flash).
#[inline(always)]
fn average_int<T: Copy + Into<i32>, A: AvgAcc, const QUADS: bool>(
    g: &Geometry,
    input: &[T],
    output: &mut [T],
    lo: i32,
    hi: i32,
    store: impl Fn(i32) -> T,
) -> Result<(), KernelError> {
    g.for_each(output, |out, span| {
        // In-image elements: at most the input's, so a `u32` on the MCU.
        let count = u32::try_from(span.count()).map_err(|_| KernelError::Shape)?;
        let count = NonZeroU32::new(count).ok_or(KernelError::EmptyWindow)?;
        let finish = |a: A| store(a.finish(count, lo, hi));
        // No quad at all without `QUADS`: every channel is the remainder's.
        let mut quads = out.chunks_exact_mut(if QUADS { 4 } else { out.len() + 1 });
        let mut c = 0;
        for q in quads.by_ref().filter(|_| QUADS) {
            let [mut a0, mut a1, mut a2, mut a3] = [A::ZERO; 4];
            span.pixels(|i| {
                let x = &input[i + c..i + c + 4];
                a0 = a0.add(x[0].into());
                a1 = a1.add(x[1].into());
                a2 = a2.add(x[2].into());
                a3 = a3.add(x[3].into());
            });
            q[0] = finish(a0);
            q[1] = finish(a1);
            q[2] = finish(a2);
            q[3] = finish(a3);
            c += 4;
        }
        for o in quads.into_remainder() {
            let mut a = A::ZERO;
            span.pixels(|i| {
                if !QUADS {
                    crate::rolled::keep_rolled();
                }
                a = a.add(input[i + c].into());
            });
            *o = finish(a);
            c += 1;
        }
        Ok(())
    })
}

/// Max pool: the output pixel holds the running maximum (contiguous channel vectors), starting
/// from `init`; `max(m, x)` must keep `m` unless `x` is larger, as `std::max` does.
#[inline(always)]
fn max_core<T: Copy>(
    g: &Geometry,
    input: &[T],
    output: &mut [T],
    init: T,
    max: impl Fn(T, T) -> T,
    clamp: impl Fn(T) -> T,
) -> Result<(), KernelError> {
    let c = g.input_shape[3];
    g.for_each(output, |out, span| {
        out.fill(init);
        span.pixels(|i| {
            for (m, &x) in out.iter_mut().zip(&input[i..i + c]) {
                *m = max(*m, x);
            }
        });
        for m in out.iter_mut() {
            *m = clamp(*m);
        }
        Ok(())
    })
}

macro_rules! int_pools {
    ($avg:ident, $max:ident, $t:ty) => {
        /// AVERAGE_POOL_2D over NHWC `input_shape = [batches, in_h, in_w, channels]` into
        /// `output_shape = [batches, out_h, out_w, channels]` (sizes from
        /// [`super::conv::compute_padding`] with dilation 1). Fails with
        /// [`KernelError::EmptyWindow`] if a window holds no in-image element, as TFLite.
        pub fn $avg(
            p: &PoolParams,
            input_shape: [usize; 4],
            input: &[$t],
            output_shape: [usize; 4],
            output: &mut [$t],
        ) -> Result<(), KernelError> {
            average_pool::<$t, true>(p, input_shape, input, output_shape, output, |v| v as $t)
        }

        /// MAX_POOL_2D; shapes as for the average pool. An empty window yields the type's
        /// minimum before the clamp, as in TFLite.
        pub fn $max(
            p: &PoolParams,
            input_shape: [usize; 4],
            input: &[$t],
            output_shape: [usize; 4],
            output: &mut [$t],
        ) -> Result<(), KernelError> {
            let g = geometry(p, input_shape, input.len(), output_shape, output.len())?;
            let lo = p.activation_min.clamp(<$t>::MIN as i32, <$t>::MAX as i32) as $t;
            let hi = p.activation_max.clamp(<$t>::MIN as i32, <$t>::MAX as i32) as $t;
            max_core(
                &g,
                input,
                output,
                <$t>::MIN,
                |m, x| m.max(x),
                |m| m.max(lo).min(hi),
            )
        }
    };
}

int_pools!(average_pool_i8, max_pool_i8, i8);
int_pools!(average_pool_i16, max_pool_i16, i16);

/// AVERAGE_POOL_2D in float32: per channel, `total` summed in window order from 0.0, divided
/// by the float element count, then clamped. Shapes as in [`average_pool_i8`].
pub fn average_pool_f32(
    p: &PoolParams,
    input_shape: [usize; 4],
    input: &[f32],
    output_shape: [usize; 4],
    output: &mut [f32],
) -> Result<(), KernelError> {
    let g = geometry(p, input_shape, input.len(), output_shape, output.len())?;
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    g.for_each(output, |out, span| {
        let count = span.count();
        if count == 0 {
            return Err(KernelError::EmptyWindow);
        }
        let n = count as f32;
        let mut quads = out.chunks_exact_mut(4);
        let mut c = 0;
        for q in &mut quads {
            let [mut a0, mut a1, mut a2, mut a3] = [0.0f32; 4];
            span.pixels(|i| {
                let x = &input[i + c..i + c + 4];
                a0 += x[0];
                a1 += x[1];
                a2 += x[2];
                a3 += x[3];
            });
            q[0] = clamp_f32(a0 / n, lo, hi);
            q[1] = clamp_f32(a1 / n, lo, hi);
            q[2] = clamp_f32(a2 / n, lo, hi);
            q[3] = clamp_f32(a3 / n, lo, hi);
            c += 4;
        }
        for o in quads.into_remainder() {
            let mut a = 0.0f32;
            span.pixels(|i| a += input[i + c]);
            *o = clamp_f32(a / n, lo, hi);
            c += 1;
        }
        Ok(())
    })
}

/// MAX_POOL_2D in float32 with `std::max` semantics: a NaN input never replaces the running
/// maximum (which starts at `f32::MIN`), and of equal values the first is kept.
pub fn max_pool_f32(
    p: &PoolParams,
    input_shape: [usize; 4],
    input: &[f32],
    output_shape: [usize; 4],
    output: &mut [f32],
) -> Result<(), KernelError> {
    let g = geometry(p, input_shape, input.len(), output_shape, output.len())?;
    let (lo, hi) = (p.float_activation_min, p.float_activation_max);
    max_core(
        &g,
        input,
        output,
        f32::MIN,
        |m, x| if m < x { x } else { m },
        |m| clamp_f32(m, lo, hi),
    )
}

#[cfg(test)]
mod tests {
    use super::super::conv::compute_padding;
    use super::*;
    use crate::types::Padding;

    fn params(
        padding: Padding,
        stride: i32,
        filter: i32,
        in_hw: [i32; 2],
    ) -> (PoolParams, [usize; 2]) {
        let w = compute_padding(
            padding, stride, stride, 1, 1, in_hw[0], in_hw[1], filter, filter,
        )
        .unwrap();
        let p = PoolParams::quantized(
            [stride; 2],
            [filter; 2],
            w.padding,
            1.0,
            0,
            Activation::None,
            -128,
            127,
        );
        (p, [w.out_height as usize, w.out_width as usize])
    }

    #[test]
    fn average_counts_only_in_image_elements() {
        // 3x3 image 1..=9, 3x3 SAME window, stride 1: corners average 4 elements, edges 6.
        let input: [i8; 9] = core::array::from_fn(|i| i as i8 + 1);
        let (p, [oh, ow]) = params(Padding::Same, 1, 3, [3, 3]);
        assert_eq!((oh, ow), (3, 3));
        let mut out = [0i8; 9];
        average_pool_i8(&p, [1, 3, 3, 1], &input, [1, 3, 3, 1], &mut out).unwrap();
        // (1+2+4+5)/4 = 3; (1+2+3+4+5+6)/6 = 3.5 -> 4; (2+3+5+6)/4 = 4; ...; centre 45/9 = 5.
        assert_eq!(out, [3, 4, 4, 5, 5, 6, 6, 7, 7]);
        let mut narrow = [0i8; 9];
        average_pool_i8_i32(&p, [1, 3, 3, 1], &input, [1, 3, 3, 1], &mut narrow).unwrap();
        assert_eq!(narrow, out);
    }

    /// The `i32` sums' rounding (the magnitude's unsigned division) against C's
    /// `(sum ± count/2) / count` in 64 bits, then the clamp: every count up to 2^16 at the
    /// extreme sums the elements allow (int16: `±count * 2^15`), and random sums.
    #[test]
    fn unsigned_rounding_equals_the_signed_definition() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for c in 1..=(1i64 << 16) - 1 {
            let bound = (c * 32768).min(i32::MAX as i64);
            let mut sums = [-bound, bound, 0, 1, -1, c / 2, -(c / 2), c, -c, 0, 0];
            sums[9] = (next() % (2 * bound as u64 + 1)) as i64 - bound;
            sums[10] = (next() % (2 * c as u64 + 1)) as i64 - c;
            for sum in sums {
                let want = if sum > 0 {
                    (sum + c / 2) / c
                } else {
                    (sum - c / 2) / c
                };
                for (lo, hi) in [(i32::MIN, i32::MAX), (-128, 127), (-32768, 32767)] {
                    let count = NonZeroU32::new(c as u32).unwrap();
                    let got = AvgAcc::finish(sum as i32, count, lo, hi);
                    assert_eq!(got as i64, want.clamp(lo as i64, hi as i64), "{sum} / {c}");
                    assert_eq!(AvgAcc::finish(sum, count, lo, hi), got, "i64 {sum} / {c}");
                }
            }
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        // 1x2 windows over pairs: sums 3, -3, 1, -1, -5 with count 2.
        let input = [1i8, 2, -1, -2, 0, 1, 0, -1, -2, -3];
        let p = PoolParams::quantized(
            [1, 2],
            [1, 2],
            PaddingValues::NONE,
            1.0,
            0,
            Activation::None,
            -128,
            127,
        );
        let mut out = [0i8; 5];
        average_pool_i8(&p, [1, 1, 10, 1], &input, [1, 1, 5, 1], &mut out).unwrap();
        assert_eq!(out, [2, -2, 1, -1, -3]);
        // Thirds: 1/3 -> 0, 2/3 -> 1, -2/3 -> -1 (count/2 = 1 added before truncation).
        let p3 = PoolParams {
            filter_width: 3,
            stride_width: 3,
            ..p
        };
        let input = [0i8, 0, 1, 0, 1, 1, 0, -1, -1];
        let mut out = [0i8; 3];
        average_pool_i8(&p3, [1, 1, 9, 1], &input, [1, 1, 3, 1], &mut out).unwrap();
        assert_eq!(out, [0, 1, -1]);
    }

    #[test]
    fn average_saturating_values_many_channels_and_clamp() {
        // 20 channels (a 16-block and a remainder), 2x2 VALID stride 2 over 2x2: one output.
        let mut input = [0i8; 80];
        for (i, v) in input.iter_mut().enumerate() {
            let c = i % 20;
            *v = match c {
                0 => -128,
                1 => 127,
                _ => (i / 20) as i8 * c as i8 - 20,
            };
        }
        let (mut p, _) = params(Padding::Valid, 2, 2, [2, 2]);
        let mut out = [0i8; 20];
        average_pool_i8(&p, [1, 2, 2, 20], &input, [1, 1, 1, 20], &mut out).unwrap();
        assert_eq!(out[0], -128);
        assert_eq!(out[1], 127);
        for (c, &o) in out.iter().enumerate().skip(2) {
            // Mean of (k * c - 20) over k = 0..4 = 1.5c - 20, rounded half away from zero.
            let sum = 6 * c as i64 - 80;
            let want = if sum > 0 {
                (sum + 2) / 4
            } else {
                (sum - 2) / 4
            };
            assert_eq!(o as i64, want, "channel {c}");
        }
        // Relu6 at scale 0.5, zp -3: clamp to [-3, 9].
        p = PoolParams::quantized(
            [2, 2],
            [2, 2],
            PaddingValues::NONE,
            0.5,
            -3,
            Activation::Relu6,
            -128,
            127,
        );
        average_pool_i8(&p, [1, 2, 2, 20], &input, [1, 1, 1, 20], &mut out).unwrap();
        assert_eq!(out[0], -3);
        assert_eq!(out[1], 9);
    }

    #[test]
    fn average_of_windows_too_large_for_i32_sums() {
        // A 256x256 SAME window (2^16 elements: the i64 sums) over a 3x5 image of 6 channels:
        // every window holds the whole image, as TFLite clips it.
        let mut rng = crate::kernels::test_rng::Rng(0x9e37_79b9);
        let input: [i8; 90] = core::array::from_fn(|_| rng.next() as i8);
        let w = compute_padding(Padding::Same, 1, 1, 1, 1, 3, 5, 256, 256).unwrap();
        assert_eq!((w.out_height, w.out_width), (3, 5));
        let p = PoolParams::quantized(
            [1, 1],
            [256, 256],
            w.padding,
            1.0,
            0,
            Activation::None,
            -128,
            127,
        );
        assert!(!fits_i32(&p));
        let mut out = [0i8; 90];
        // The `_INT8` registration's kernel refuses it (its prepare does too).
        assert_eq!(
            average_pool_i8_i32(&p, [1, 3, 5, 6], &input, [1, 3, 5, 6], &mut out),
            Err(KernelError::Shape)
        );
        average_pool_i8(&p, [1, 3, 5, 6], &input, [1, 3, 5, 6], &mut out).unwrap();
        for (i, &o) in out.iter().enumerate() {
            let c = i % 6;
            let sum: i64 = input.iter().skip(c).step_by(6).map(|&v| v as i64).sum();
            let want = if sum > 0 {
                (sum + 7) / 15
            } else {
                (sum - 7) / 15
            };
            assert_eq!(o as i64, want, "output {i}");
        }
    }

    #[test]
    fn int16_average_and_max() {
        let input = [-32768i16, -32768, 32767, 32767, -1, 2];
        let p = PoolParams::quantized(
            [1, 2],
            [1, 2],
            PaddingValues::NONE,
            1.0,
            0,
            Activation::None,
            -32768,
            32767,
        );
        let mut out = [0i16; 3];
        average_pool_i16(&p, [1, 1, 6, 1], &input, [1, 1, 3, 1], &mut out).unwrap();
        assert_eq!(out, [-32768, 32767, 1]);
        max_pool_i16(&p, [1, 1, 6, 1], &input, [1, 1, 3, 1], &mut out).unwrap();
        assert_eq!(out, [-32768, 32767, 2]);
    }

    #[test]
    fn max_pool_padding_stride_and_clamp() {
        // 4x4 image, 3x3 SAME, stride 2 -> 2x2 outputs; padding pixels are never candidates,
        // so an all-negative image stays negative.
        let input: [i8; 16] = core::array::from_fn(|i| -100 + i as i8 * 3);
        let (p, [oh, ow]) = params(Padding::Same, 2, 3, [4, 4]);
        assert_eq!((oh, ow), (2, 2));
        let mut out = [0i8; 4];
        max_pool_i8(&p, [1, 4, 4, 1], &input, [1, 2, 2, 1], &mut out).unwrap();
        // Total padding (1*2 + 3 - 4) = 1 goes after: windows rows/cols 0..3 and 2..4.
        // Max of rows 0-2 x cols 0-2 is index 10, of cols 2-3 index 11, rows 2-3: 14, 15.
        assert_eq!(out, [-70, -67, -58, -55]);
        // Relu with zp -60 clamps from -60.
        let p = PoolParams {
            activation_min: -60,
            ..p
        };
        max_pool_i8(&p, [1, 4, 4, 1], &input, [1, 4 / 2, 2, 1], &mut out).unwrap();
        assert_eq!(out, [-60, -60, -58, -55]);
    }

    #[test]
    fn float_average_and_max() {
        let (_, _) = params(Padding::Same, 1, 3, [2, 2]);
        let w = compute_padding(Padding::Same, 1, 1, 1, 1, 2, 2, 3, 3).unwrap();
        let p = PoolParams::float([1, 1], [3, 3], w.padding, Activation::None);
        let input = [1.0f32, 2.0, 4.0, 8.0];
        let mut out = [0.0f32; 4];
        average_pool_f32(&p, [1, 2, 2, 1], &input, [1, 2, 2, 1], &mut out).unwrap();
        assert_eq!(out, [3.75; 4]);
        // Thirds are divided in f32 after an in-order f32 sum.
        let p3 = PoolParams::float([1, 3], [1, 3], PaddingValues::NONE, Activation::Relu);
        let input = [0.1f32, 0.2, 0.4, -1.0, -2.0, 0.5];
        let mut out = [0.0f32; 2];
        average_pool_f32(&p3, [1, 1, 6, 1], &input, [1, 1, 2, 1], &mut out).unwrap();
        assert_eq!(out[0], (0.1f32 + 0.2 + 0.4) / 3.0);
        assert_eq!(out[1], 0.0);
        // Max: NaN is skipped, -0.0 before 0.0 keeps -0.0 (std::max keeps the first).
        let input = [f32::NAN, -5.0, -0.0, 0.0];
        let mut out = [0.0f32; 2];
        let p2 = PoolParams::float([1, 2], [1, 2], PaddingValues::NONE, Activation::None);
        max_pool_f32(&p2, [1, 1, 4, 1], &input, [1, 1, 2, 1], &mut out).unwrap();
        assert_eq!(out[0], -5.0);
        assert_eq!(out[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn empty_window_and_shape_errors() {
        // Padding larger than the window reaches: the first output window is all padding.
        let p = PoolParams::quantized(
            [1, 1],
            [1, 1],
            PaddingValues {
                height: 1,
                width: 0,
                height_offset: 0,
                width_offset: 0,
            },
            1.0,
            0,
            Activation::None,
            -128,
            127,
        );
        let mut out = [0i8; 2];
        assert_eq!(
            average_pool_i8(&p, [1, 1, 1, 1], &[5], [1, 2, 1, 1], &mut out),
            Err(KernelError::EmptyWindow)
        );
        // Max pool of an empty window is the type minimum, clamped.
        max_pool_i8(&p, [1, 1, 1, 1], &[5], [1, 2, 1, 1], &mut out).unwrap();
        assert_eq!(out, [-128, 5]);
        assert_eq!(
            average_pool_i8(&p, [1, 1, 1, 1], &[5, 6], [1, 2, 1, 1], &mut out),
            Err(KernelError::Shape)
        );
    }
}

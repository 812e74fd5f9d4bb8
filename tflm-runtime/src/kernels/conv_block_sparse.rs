//! CONV_2D on int8 filters in tflm-rs's 1x4 block encoding ([`crate::block_sparse`]): each
//! output channel's filter `[f_h, f_w, in_c]` is one encoded row of `f_h * f_w * in_c` columns
//! in im2col order, so a pixel's window, gathered and widened once, is the input row of a
//! block-sparse FULLY_CONNECTED. Only the kept blocks are multiplied, on the encoded bytes; the
//! outputs are bit for bit those of
//! [`conv_per_channel_i8`](super::conv::conv_per_channel_i8) on the decoded filter.

use super::conv::{check_channels, im2col_core, requantize_i8, ChannelScales, ConvIo, ConvParams};
use super::conv::{volume, KernelError};
use super::dsp;
use super::requant::ChannelRescale;
use crate::block_sparse;

/// Scratch bytes above which [`scratch_bytes`] asks for the per-pixel path: the whole-image
/// path's widened windows grow with the output's pixels.
pub const MAX_IMAGE_SCRATCH: usize = 4096;

/// Scratch bytes of the per-pixel path for a filter `[out_c, f_h, f_w, in_c]`: the window
/// gathered as int8 (rounded up to 8 bytes), then widened to int16 pairs
/// ([`block_sparse::widened_len`] words of 8 bytes).
pub fn pixel_scratch_bytes(filter_shape: [usize; 4]) -> usize {
    let depth = filter_shape[1] * filter_shape[2] * filter_shape[3];
    depth.next_multiple_of(8) + 8 * block_sparse::widened_len(depth)
}

/// Scratch bytes of the whole-image path: the window gathered as int8 (rounded up to 8 bytes),
/// every output pixel's window widened (8 bytes per block) and one int32 sum per pixel.
pub fn image_scratch_bytes(filter_shape: [usize; 4], output_shape: [usize; 4]) -> Option<usize> {
    let depth = filter_shape[1] * filter_shape[2] * filter_shape[3];
    let pixels = output_shape[0]
        .checked_mul(output_shape[1])?
        .checked_mul(output_shape[2])?;
    let per_pixel = 8 * block_sparse::blocks(depth) + 4;
    pixels
        .checked_mul(per_pixel)?
        .checked_add(depth.next_multiple_of(8))
}

/// Scratch bytes [`conv_i8_block`] is given: none for a 1x1 filter of whole blocks (at most
/// 256 channels, which the four-pixel kernel takes: a 1x1 filter has no padding and every int8
/// zero point's offset fits its lanes; any other case would be a shape error, never a read
/// past the scratch), the whole-image path's when they are at most [`MAX_IMAGE_SCRATCH`], else
/// the per-pixel path's.
pub fn scratch_bytes(filter_shape: [usize; 4], output_shape: [usize; 4]) -> usize {
    let [_, f_h, f_w, f_c] = filter_shape;
    if f_h == 1
        && f_w == 1
        && f_c.is_multiple_of(block_sparse::BLOCK)
        && (1..=super::pointwise::MAX_CHANNELS).contains(&f_c)
    {
        return 0;
    }
    match image_scratch_bytes(filter_shape, output_shape) {
        Some(n) if n <= MAX_IMAGE_SCRATCH => n,
        _ => pixel_scratch_bytes(filter_shape),
    }
}

/// CONV_2D with int8 input and output, an int8 filter (zero point 0, no groups) in the 1x4 block
/// encoding, per-channel requantization (`reference_integer_ops::ConvPerChannel`).
///
/// Each output pixel's window is gathered in filter order (taps outside the image hold the
/// input zero point, whose `x + input_offset` is 0, as the reference's skipped taps) and
/// widened with the input offset folded in ([`block_sparse::widen_input`]). The sums are
/// `Σ (x + input_offset) w` over the kept blocks in wrapping 32-bit arithmetic, the dense
/// kernel's sum, then the same bias and rescale. Two paths, by the scratch given:
///
/// - whole image ([`image_scratch_bytes`], small layers): every pixel's window widened first,
///   then one output channel at a time, each kept block's weight word loaded and widened once
///   for all pixels (two `SMLAD`s per pixel): the mask is walked once per channel, not once
///   per channel and pixel, which on small filters (digits' 3x3x1 and 1x1x12) costs more than
///   the products it skips;
/// - per pixel ([`pixel_scratch_bytes`]): one window at a time, each channel one
///   [`block_sparse::row_dot`].
///
/// A 1x1 filter with whole blocks takes neither: it runs
/// [`pointwise_block_i8`](super::pointwise_block_sparse::pointwise_block_i8), four pixels per
/// kept weight word, which needs no scratch.
///
/// `io.filter` must have passed [`block_sparse::verify`] for `out_c x (f_h * f_w * in_c)`
/// (`Model::parse` does it); other bytes give wrong outputs, never a panic. `scratch` is
/// 8-byte aligned.
pub fn conv_i8_block(
    p: &ConvParams,
    q: ChannelScales<'_>,
    io: ConvIo<'_, i8, u8, i32, i8>,
    scratch: &mut [u8],
) -> Result<(), KernelError> {
    if super::pointwise_block_sparse::applies(p, io.filter_shape, io.input_shape[3]) {
        return super::pointwise_block_sparse::pointwise_block_i8(p, q, io);
    }
    let [out_c, f_h, f_w, f_c] = io.filter_shape;
    let depth = f_h * f_w * f_c;
    let off = dsp::offset16x2(p.input_offset).ok_or(KernelError::Shape)?;
    check_channels(out_c, q, io.bias.map(<[i32]>::len))?;
    if f_c != io.input_shape[3]
        || io.output_shape[3] != out_c
        || volume(io.filter_shape).is_none()
        || volume(io.output_shape) != Some(io.output.len())
    {
        return Err(KernelError::Shape);
    }
    let whole =
        image_scratch_bytes(io.filter_shape, io.output_shape).is_some_and(|n| scratch.len() >= n);
    if !whole && scratch.len() < pixel_scratch_bytes(io.filter_shape) {
        return Err(KernelError::Shape);
    }
    let (col, rest) = scratch.split_at_mut(depth.next_multiple_of(8));
    let col: &mut [i8] = bytemuck::cast_slice_mut(col);
    let (filter, masks) = (io.filter, block_sparse::mask_len(depth));
    let mut emit = requantize_i8(p, q, io.bias);
    let output = io.output;
    // The gather's view of the operator: no filter or bias (they are read here).
    macro_rules! gather {
        ($output:expr) => {
            ConvIo {
                input_shape: io.input_shape,
                input: io.input,
                filter_shape: io.filter_shape,
                filter: &[] as &[u8],
                bias: None::<&[i32]>,
                output_shape: io.output_shape,
                output: $output,
            }
        };
    }
    if !whole {
        let widened: &mut [[u32; 2]] = bytemuck::try_cast_slice_mut(rest)
            .ok()
            .and_then(|w: &mut [[u32; 2]]| w.get_mut(..block_sparse::widened_len(depth)))
            .ok_or(KernelError::Shape)?;
        return im2col_core(
            p,
            gather!(&mut *output),
            col,
            #[inline(always)]
            |window, px| {
                block_sparse::widen_input(window, off, widened);
                let mut enc = filter;
                for (oc, o) in px.iter_mut().enumerate() {
                    let (acc, rest) = block_sparse::row_dot(widened, masks, enc);
                    enc = rest;
                    emit(oc, &[acc], core::slice::from_mut(o));
                }
            },
        );
    }
    let nb = block_sparse::blocks(depth);
    let pixels = output.len() / out_c.max(1);
    let (widened, sums) = rest.split_at_mut(8 * nb * pixels);
    let widened: &mut [[u32; 2]] =
        bytemuck::try_cast_slice_mut(widened).map_err(|_| KernelError::Shape)?;
    let sums: &mut [i32] = bytemuck::try_cast_slice_mut(sums)
        .ok()
        .and_then(|s: &mut [i32]| s.get_mut(..pixels))
        .ok_or(KernelError::Shape)?;
    // Every pixel's window, widened: pixel `n`'s blocks at `n * nb..`.
    let mut slots = widened.chunks_exact_mut(nb.max(1));
    im2col_core(
        p,
        gather!(&mut *output),
        col,
        #[inline(always)]
        |window, _| {
            if let Some(slot) = slots.next() {
                block_sparse::widen_input(window, off, slot);
            }
        },
    )?;
    // Per channel: the sums start at the bias (wrapping sums do not depend on the order),
    // one rescale serves every pixel.
    let stage = p.output_stage();
    let mut enc = filter;
    for oc in 0..out_c {
        let Some((mask, rest)) = enc.split_at_checked(masks) else {
            break;
        };
        enc = rest;
        let bias = io.bias.and_then(|b| b.get(oc)).copied().unwrap_or(0);
        let (Some(&m), Some(&e)) = (q.multipliers.get(oc), q.shifts.get(oc)) else {
            break;
        };
        let rescale = ChannelRescale::new(m, e);
        if mask.iter().all(|&m| m == 0) {
            // A channel pruned whole: the same output at every pixel.
            let v = stage.store(bias, &rescale);
            for px in output.chunks_exact_mut(out_c) {
                px[oc] = v;
            }
            continue;
        }
        sums.fill(bias);
        for (i, &m) in mask.iter().enumerate() {
            let mut m = m;
            while m != 0 {
                let j = 8 * i + m.trailing_zeros() as usize;
                m &= m - 1;
                let Some((w, rest)) = enc.split_first_chunk::<4>() else {
                    break;
                };
                enc = rest;
                let (we, wo) = dsp::widen(u32::from_le_bytes(*w));
                let column = widened.get(j..).unwrap_or(&[]).iter().step_by(nb.max(1));
                for (s, x) in sums.iter_mut().zip(column) {
                    *s = dsp::smlad(x[1], wo, dsp::smlad(x[0], we, *s));
                }
            }
        }
        for (px, &s) in output.chunks_exact_mut(out_c).zip(sums.iter()) {
            px[oc] = stage.store(s, &rescale);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::conv::{compute_padding, conv_per_channel_i8, per_channel_multipliers};
    use crate::kernels::test_rng::Rng;
    use crate::types::{Activation, Padding};
    use std::vec::Vec;

    /// One random case: the block kernel against the dense one on the decoded filter.
    #[allow(clippy::too_many_arguments)]
    fn check(
        rng: &mut Rng,
        input_hw: [usize; 2],
        filter: [usize; 4],
        stride: [i32; 2],
        dilation: [i32; 2],
        padding: Padding,
        keep: u64,
        in_zp: i32,
        per_channel: bool,
        with_bias: bool,
    ) {
        let [out_c, f_h, f_w, in_c] = filter;
        let depth = f_h * f_w * in_c;
        let w = rng.block_pruned(out_c, depth, keep);
        let Some(win) = compute_padding(
            padding,
            stride[0],
            stride[1],
            dilation[0],
            dilation[1],
            input_hw[0] as i32,
            input_hw[1] as i32,
            f_h as i32,
            f_w as i32,
        ) else {
            return;
        };
        let (out_h, out_w) = (win.out_height as usize, win.out_width as usize);
        let batches = 1 + (rng.next() % 2) as usize;
        let input_shape = [batches, input_hw[0], input_hw[1], in_c];
        let output_shape = [batches, out_h, out_w, out_c];
        let x: Vec<i8> = (0..volume(input_shape).unwrap())
            .map(|_| rng.next() as i8)
            .collect();
        let bias: Vec<i32> = (0..out_c).map(|_| (rng.next() as i32) >> 14).collect();
        let scales: Vec<f32> = (0..if per_channel { out_c } else { 1 })
            .map(|_| 1e-3 + (rng.next() % 1000) as f32 * 1e-4)
            .collect();
        let (mut m, mut shifts) = (std::vec![0i32; out_c], std::vec![0i8; out_c]);
        per_channel_multipliers(0.02, &scales, 0.05, &mut m, &mut shifts).unwrap();
        let q = ChannelScales {
            multipliers: &m,
            shifts: &shifts,
        };
        let act =
            [Activation::None, Activation::Relu, Activation::Relu6][(rng.next() % 3) as usize];
        let p = ConvParams::quantized(
            stride,
            dilation,
            win.padding,
            in_zp,
            -3,
            0.05,
            act,
            -128,
            127,
        );
        let bias = with_bias.then_some(&bias[..]);
        let mut want = std::vec![0i8; volume(output_shape).unwrap()];
        conv_per_channel_i8(
            &p,
            q,
            ConvIo {
                input_shape,
                input: &x,
                filter_shape: filter,
                filter: &w,
                bias,
                output_shape,
                output: &mut want,
            },
        )
        .unwrap();
        let mut enc = std::vec![0u8; block_sparse::encoded_len(depth, &w)];
        block_sparse::encode(depth, &w, &mut enc).unwrap();
        block_sparse::verify(out_c, depth, &enc).unwrap();
        // Both paths: per pixel, and the whole image.
        for bytes in [
            pixel_scratch_bytes(filter),
            image_scratch_bytes(filter, output_shape).unwrap(),
        ] {
            let mut scratch = std::vec![0x55u8; bytes + 8];
            // 8-byte aligned for the widened words.
            let skip = scratch.as_ptr().align_offset(8);
            let mut got = std::vec![0i8; want.len()];
            conv_i8_block(
                &p,
                q,
                ConvIo {
                    input_shape,
                    input: &x,
                    filter_shape: filter,
                    filter: &enc,
                    bias,
                    output_shape,
                    output: &mut got,
                },
                &mut scratch[skip..skip + bytes],
            )
            .unwrap();
            assert_eq!(
                got, want,
                "input {input_hw:?} filter {filter:?} stride {stride:?} dilation {dilation:?} \
                 {padding:?} keep {keep}% zp {in_zp} scratch {bytes}"
            );
        }
    }

    /// The block kernel against the dense one: 1x1, 3x3, 5x3 and 2x2 filters over 1 to 13 input
    /// channels (depths not a multiple of 4, partial mask bytes, several mask bytes), strides 1
    /// and 2, dilation 1 and 2, SAME and VALID padding, all-pruned and fully kept rows, zeros
    /// inside kept blocks, per-tensor and per-channel scales, the extreme input zero points,
    /// with and without bias.
    #[test]
    fn block_conv_equals_dense_conv() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut case = 0u64;
        for &(f_h, f_w) in &[(1, 1), (3, 3), (5, 3), (2, 2)] {
            for in_c in [1usize, 2, 3, 4, 5, 8, 12, 13] {
                for &stride in &[[1, 1], [2, 2], [1, 2]] {
                    for &dilation in &[[1, 1], [2, 2]] {
                        for padding in [Padding::Same, Padding::Valid] {
                            case += 1;
                            let keep = match case % 6 {
                                0 => 0,
                                1 => 100,
                                _ => rng.next() % 101,
                            };
                            let in_zp = [-128, 127, 0, 5][(case % 4) as usize];
                            let out_c = 1 + (rng.next() % 9) as usize;
                            let hw = [3 + (rng.next() % 6) as usize, 3 + (rng.next() % 6) as usize];
                            check(
                                &mut rng,
                                hw,
                                [out_c, f_h, f_w, in_c],
                                stride,
                                dilation,
                                padding,
                                keep,
                                in_zp,
                                case % 2 == 1,
                                !case.is_multiple_of(5),
                            );
                        }
                    }
                }
            }
        }
    }

    /// 1x1 filters with whole blocks take the four-pixel kernel
    /// ([`super::super::pointwise_block_sparse`]): against the dense kernel over depths of 1 to
    /// 9 mask bytes, pixel counts not a multiple of 4, all-pruned and fully kept rows, the
    /// extreme input zero points, per-tensor and per-channel scales, with and without bias.
    #[test]
    fn four_pixel_pointwise_equals_dense_conv() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut case = 0u64;
        for in_c in [4usize, 16, 32, 36, 64, 68, 256] {
            for &stride in &[[1, 1], [2, 2], [2, 1]] {
                for keep in [0u64, 100, 50, 25, 75] {
                    case += 1;
                    let in_zp = [-128, 127, 0, -7][(case % 4) as usize];
                    let out_c = 1 + (rng.next() % 11) as usize;
                    let hw = [1 + (rng.next() % 7) as usize, 1 + (rng.next() % 7) as usize];
                    check(
                        &mut rng,
                        hw,
                        [out_c, 1, 1, in_c],
                        stride,
                        [1, 1],
                        [Padding::Valid, Padding::Same][(case % 2) as usize],
                        keep,
                        in_zp,
                        !case.is_multiple_of(3),
                        !case.is_multiple_of(5),
                    );
                }
            }
        }
    }

    /// Wrong sizes are an error, not a panic: scratch too short, bias of the wrong length.
    #[test]
    fn shape_errors() {
        let p = ConvParams::quantized(
            [1, 1],
            [1, 1],
            crate::kernels::conv::PaddingValues::NONE,
            0,
            0,
            1.0,
            Activation::None,
            -128,
            127,
        );
        let q = ChannelScales {
            multipliers: &[1 << 30],
            shifts: &[0],
        };
        let io = |out: &'static mut [i8], bias: Option<&'static [i32]>| ConvIo {
            input_shape: [1, 2, 2, 1],
            input: &[0i8; 4],
            filter_shape: [1, 2, 2, 1],
            filter: &[1u8, 1, 1, 1, 1],
            bias,
            output_shape: [1, 1, 1, 1],
            output: out,
        };
        let r = conv_i8_block(&p, q, io(std::vec![0i8; 1].leak(), None), &mut [0u8; 8]);
        assert_eq!(r, Err(KernelError::Shape));
        let mut scratch = [0u64; 10];
        let s: &mut [u8] = bytemuck::cast_slice_mut(&mut scratch);
        let r = conv_i8_block(&p, q, io(std::vec![0i8; 1].leak(), Some(&[1, 2])), s);
        assert_eq!(r, Err(KernelError::Shape));
        let r = conv_i8_block(&p, q, io(std::vec![0i8; 1].leak(), None), s);
        assert_eq!(r, Ok(()));
        // The four-pixel 1x1 path: a filter cut inside its kept blocks, a wrong bias length.
        let pw = |filter: &'static [u8], bias: Option<&'static [i32]>| ConvIo {
            input_shape: [1, 2, 2, 4],
            input: &[0i8; 16],
            filter_shape: [1, 1, 1, 4],
            filter,
            bias,
            output_shape: [1, 2, 2, 1],
            output: std::vec![0i8; 4].leak(),
        };
        assert_eq!(
            conv_i8_block(&p, q, pw(&[1, 1, 1, 1], None), &mut []),
            Err(KernelError::Shape)
        );
        let r = conv_i8_block(&p, q, pw(&[1, 1, 1, 1, 1], Some(&[1, 2])), &mut []);
        assert_eq!(r, Err(KernelError::Shape));
        assert_eq!(
            conv_i8_block(&p, q, pw(&[1, 1, 1, 1, 1], None), &mut []),
            Ok(())
        );
    }
}

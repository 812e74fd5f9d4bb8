//! The int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels (whose dot products run
//! through `kernels::dsp`: two MACs per SMLAD, four int8 lanes per word) against a textbook
//! loop nest written here, on shapes that hit every tail of the packed loops: channel and
//! depth counts that are not multiples of 2 or 4, depth multipliers, padding, strides,
//! dilation, extreme values and zero points.

use tflm_runtime::kernels::conv::{
    compute_padding, conv_per_channel_i8, conv_per_channel_i8_im2col, im2col_bytes,
    per_channel_multipliers, ChannelScales, ConvIo, ConvParams, KernelError,
};
use tflm_runtime::kernels::depthwise_conv::{
    depthwise_conv_multiplier_1_i8, depthwise_conv_one_channel_i8,
    depthwise_conv_one_channel_only_i8, depthwise_conv_per_channel_i8, one_channel_fits,
};
use tflm_runtime::kernels::fully_connected::{
    effective_scales, fully_connected_i8, FcDims, FullyConnectedParams,
};
use tflm_runtime::kernels::pointwise;
use tflm_runtime::quant::multiply_by_quantized_multiplier;
use tflm_runtime::{Activation, Padding};

/// The int8 depthwise kernels' common signature.
type DepthwiseKernel =
    fn(&ConvParams, ChannelScales<'_>, ConvIo<'_, i8, i8, i32, i8>) -> Result<(), KernelError>;

/// A deterministic byte stream with the int8 extremes mixed in.
struct Rng(u64);

impl Rng {
    fn i8(&mut self) -> i8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        match self.0 % 11 {
            0 => -128,
            1 => 127,
            _ => (self.0 >> 32) as u8 as i8,
        }
    }
    fn vec(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
}

/// One spatial case: `[h, w]` input, `[fh, fw]` filter, stride, dilation, padding.
struct Case {
    input_hw: [usize; 2],
    filter_hw: [usize; 2],
    stride: [i32; 2],
    dilation: [i32; 2],
    padding: Padding,
}

const CASES: [Case; 8] = [
    // 3x3 with stride 2 and SAME padding on odd sizes (the depthwise interior path's borders
    // on both sides), with dilation 2, and stride 2 VALID.
    Case {
        input_hw: [7, 9],
        filter_hw: [3, 3],
        stride: [2, 2],
        dilation: [1, 1],
        padding: Padding::Same,
    },
    Case {
        input_hw: [9, 8],
        filter_hw: [3, 3],
        stride: [1, 1],
        dilation: [2, 2],
        padding: Padding::Same,
    },
    Case {
        input_hw: [8, 7],
        filter_hw: [3, 3],
        stride: [2, 1],
        dilation: [1, 1],
        padding: Padding::Valid,
    },
    // micro_speech's first layer in small: filter rows of whole words plus a tail, stride 2.
    Case {
        input_hw: [9, 13],
        filter_hw: [4, 9],
        stride: [2, 2],
        dilation: [1, 1],
        padding: Padding::Same,
    },
    Case {
        input_hw: [5, 7],
        filter_hw: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        padding: Padding::Same,
    },
    Case {
        input_hw: [6, 5],
        filter_hw: [3, 2],
        stride: [2, 1],
        dilation: [1, 2],
        padding: Padding::Same,
    },
    Case {
        input_hw: [7, 6],
        filter_hw: [2, 3],
        stride: [1, 2],
        dilation: [2, 1],
        padding: Padding::Valid,
    },
    Case {
        input_hw: [4, 4],
        filter_hw: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        padding: Padding::Valid,
    },
];

/// Output size, padding and parameters of one case.
fn setup(c: &Case, in_zp: i32, out_zp: i32) -> ([usize; 2], ConvParams) {
    let [h, w] = c.input_hw;
    let [fh, fw] = c.filter_hw;
    let win = compute_padding(
        c.padding,
        c.stride[0],
        c.stride[1],
        c.dilation[0],
        c.dilation[1],
        h as i32,
        w as i32,
        fh as i32,
        fw as i32,
    )
    .expect("valid window");
    let p = ConvParams::quantized(
        c.stride,
        c.dilation,
        win.padding,
        in_zp,
        out_zp,
        0.05,
        Activation::None,
        -128,
        127,
    );
    ([win.out_height as usize, win.out_width as usize], p)
}

/// Per-channel multipliers from slightly different scales per channel.
fn multipliers(channels: usize) -> (Vec<i32>, Vec<i8>) {
    let scales: Vec<f32> = (0..channels).map(|c| 0.002 + 0.0007 * c as f32).collect();
    let (mut m, mut s) = (vec![0; channels], vec![0; channels]);
    per_channel_multipliers(0.04, &scales, 0.05, &mut m, &mut s).expect("one scale a channel");
    (m, s)
}

/// The textbook windowed sum: `tap(oy, ox, oc, fy, fx) -> Option<(input, weight)>` gives the
/// in-image taps; the result requantized like TFLite's reference kernels.
#[allow(clippy::too_many_arguments)]
fn textbook(
    p: &ConvParams,
    out_hw: [usize; 2],
    out_c: usize,
    filter_hw: [usize; 2],
    m: &[i32],
    s: &[i8],
    bias: &[i32],
    tap: impl Fn(usize, usize, usize, usize, usize) -> Vec<(i8, i8)>,
) -> Vec<i8> {
    let mut out = Vec::new();
    for oy in 0..out_hw[0] {
        for ox in 0..out_hw[1] {
            for oc in 0..out_c {
                let mut acc = 0i32;
                for fy in 0..filter_hw[0] {
                    for fx in 0..filter_hw[1] {
                        for (x, w) in tap(oy, ox, oc, fy, fx) {
                            acc += (x as i32 + p.input_offset) * w as i32;
                        }
                    }
                }
                let v = multiply_by_quantized_multiplier(acc + bias[oc], m[oc], s[oc] as i32);
                out.push((v + p.output_offset).clamp(p.activation_min, p.activation_max) as i8);
            }
        }
    }
    out
}

/// The input coordinate of tap `f` for output `o` on one axis, if inside the image.
fn coord(p: &ConvParams, axis: usize, o: usize, f: usize, size: usize) -> Option<usize> {
    let (stride, dil, pad) = if axis == 0 {
        (p.stride_height, p.dilation_height, p.padding_height)
    } else {
        (p.stride_width, p.dilation_width, p.padding_width)
    };
    let v = o as i32 * stride - pad + f as i32 * dil;
    (0..size as i32).contains(&v).then_some(v as usize)
}

#[test]
fn conv_int8_odd_channels_strides_dilation_padding() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for c in &CASES {
        for (in_c, out_c) in [(1, 1), (3, 5), (4, 4), (5, 7), (8, 6), (13, 9)] {
            for (in_zp, out_zp) in [(-128, 5), (127, -128), (0, 0), (-3, 17)] {
                let [h, w] = c.input_hw;
                let [fh, fw] = c.filter_hw;
                let (out_hw, p) = setup(c, in_zp, out_zp);
                let input = rng.vec(h * w * in_c);
                let filter = rng.vec(out_c * fh * fw * in_c);
                let bias: Vec<i32> = (0..out_c as i32).map(|k| k * 977 - 3000).collect();
                let (m, s) = multipliers(out_c);
                let mut got = vec![0i8; out_hw[0] * out_hw[1] * out_c];
                conv_per_channel_i8(
                    &p,
                    ChannelScales {
                        multipliers: &m,
                        shifts: &s,
                    },
                    ConvIo {
                        input_shape: [1, h, w, in_c],
                        input: &input,
                        filter_shape: [out_c, fh, fw, in_c],
                        filter: &filter,
                        bias: Some(&bias),
                        output_shape: [1, out_hw[0], out_hw[1], out_c],
                        output: &mut got,
                    },
                )
                .expect("valid shapes");
                let want = textbook(
                    &p,
                    out_hw,
                    out_c,
                    c.filter_hw,
                    &m,
                    &s,
                    &bias,
                    |oy, ox, oc, fy, fx| match (coord(&p, 0, oy, fy, h), coord(&p, 1, ox, fx, w)) {
                        (Some(y), Some(x)) => (0..in_c)
                            .map(|ic| {
                                (
                                    input[(y * w + x) * in_c + ic],
                                    filter[((oc * fh + fy) * fw + fx) * in_c + ic],
                                )
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                );
                assert_eq!(got, want, "in_c {in_c} out_c {out_c} zp {in_zp}/{out_zp}");
                // The im2col path (windows over several rows): padding taps as zero points.
                let fs = [out_c, fh, fw, in_c];
                let mut scratch = vec![0x55i8; im2col_bytes(fs, in_c)];
                assert_eq!(scratch.len(), if fh > 1 { fh * fw * in_c } else { 0 });
                got.fill(0);
                conv_per_channel_i8_im2col(
                    &p,
                    ChannelScales {
                        multipliers: &m,
                        shifts: &s,
                    },
                    ConvIo {
                        input_shape: [1, h, w, in_c],
                        input: &input,
                        filter_shape: fs,
                        filter: &filter,
                        bias: Some(&bias),
                        output_shape: [1, out_hw[0], out_hw[1], out_c],
                        output: &mut got,
                    },
                    &mut scratch,
                )
                .expect("valid shapes");
                assert_eq!(
                    got, want,
                    "im2col in_c {in_c} out_c {out_c} zp {in_zp}/{out_zp}"
                );
            }
        }
    }
}

/// 1x1 convolutions (the blocked pointwise kernel, and its fallback beyond
/// `pointwise::MAX_CHANNELS`): odd pixel and channel counts, depths that are not whole words,
/// strides, two batches, and per-channel scales on both sides of the rescale's folded path
/// (shift below 0) and the reference one (shift 0 and above).
#[test]
fn pointwise_int8_odd_pixels_channels_strides_scales() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Pixel counts 1, 9, 21, 2 x 6, 6 and 15: every remainder modulo the kernel's block of 4.
    let grids: [([usize; 3], [i32; 2]); 6] = [
        ([1, 1, 1], [1, 1]),
        ([1, 3, 5], [1, 1]),
        ([1, 3, 3], [1, 1]),
        ([1, 5, 7], [2, 1]),
        ([2, 4, 5], [2, 2]),
        ([1, 2, 9], [1, 3]),
    ];
    for ([batches, h, w], stride) in grids {
        for (in_c, out_c) in [
            (1, 1),
            (3, 2),
            (4, 3),
            (7, 5),
            (16, 8),
            (37, 11),
            (256, 3),
            (260, 2),
        ] {
            for (in_zp, out_zp) in [(-128, 5), (127, -128), (-3, 17)] {
                let win = compute_padding(
                    Padding::Same,
                    stride[0],
                    stride[1],
                    1,
                    1,
                    h as i32,
                    w as i32,
                    1,
                    1,
                )
                .expect("valid window");
                let (oh, ow) = (win.out_height as usize, win.out_width as usize);
                let p = ConvParams::quantized(
                    stride,
                    [1, 1],
                    win.padding,
                    in_zp,
                    out_zp,
                    0.05,
                    Activation::Relu6,
                    -128,
                    127,
                );
                let input = rng.vec(batches * h * w * in_c);
                let filter = rng.vec(out_c * in_c);
                let bias: Vec<i32> = (0..out_c as i32).map(|k| k * 1231 - 2500).collect();
                // Output scales from 1/400 (shift -8) up to 2 (shift 2).
                let scales: Vec<f32> = (0..out_c)
                    .map(|c| [0.000_05, 0.01, 0.025, 0.04, 0.001][c % 5])
                    .collect();
                let (mut m, mut s) = (vec![0; out_c], vec![0; out_c]);
                per_channel_multipliers(1.0, &scales, 0.02, &mut m, &mut s).expect("scales");
                assert!(s.iter().any(|&s| s >= 0) || out_c < 3);
                let mut got = vec![0i8; batches * oh * ow * out_c];
                conv_per_channel_i8(
                    &p,
                    ChannelScales {
                        multipliers: &m,
                        shifts: &s,
                    },
                    ConvIo {
                        input_shape: [batches, h, w, in_c],
                        input: &input,
                        filter_shape: [out_c, 1, 1, in_c],
                        filter: &filter,
                        bias: Some(&bias),
                        output_shape: [batches, oh, ow, out_c],
                        output: &mut got,
                    },
                )
                .expect("valid shapes");
                assert_eq!(
                    pointwise::applies(&p, [out_c, 1, 1, in_c], in_c),
                    in_c <= pointwise::MAX_CHANNELS
                );
                for b in 0..batches {
                    let img = &input[b * h * w * in_c..][..h * w * in_c];
                    let want = textbook(
                        &p,
                        [oh, ow],
                        out_c,
                        [1, 1],
                        &m,
                        &s,
                        &bias,
                        |oy, ox, oc, _, _| {
                            let (y, x) = (oy * stride[0] as usize, ox * stride[1] as usize);
                            (0..in_c)
                                .map(|ic| (img[(y * w + x) * in_c + ic], filter[oc * in_c + ic]))
                                .collect()
                        },
                    );
                    let n = oh * ow * out_c;
                    assert_eq!(&got[b * n..][..n], &want[..], "{batches}x{h}x{w} s{stride:?} in_c {in_c} out_c {out_c} zp {in_zp}/{out_zp}");
                }
            }
        }
    }
}

#[test]
fn depthwise_int8_odd_channels_multipliers_strides_dilation_padding() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for c in &CASES {
        for (in_c, dm) in [
            (1, 1),
            (1, 8),
            (1, 3),
            (1, 6),
            (1, 12),
            (1, 5),
            (3, 1),
            (4, 1),
            (5, 1),
            (6, 1),
            (9, 1),
            (8, 1),
            (13, 1),
            // Beyond the 3x3 interior path's re-laid quads: the sweep everywhere.
            (260, 1),
            (2, 3),
            (3, 4),
        ] {
            for (in_zp, out_zp) in [(-128, 5), (127, -128), (-3, 17)] {
                let out_c = in_c * dm;
                let [h, w] = c.input_hw;
                let [fh, fw] = c.filter_hw;
                let (out_hw, p) = setup(c, in_zp, out_zp);
                let input = rng.vec(h * w * in_c);
                let filter = rng.vec(fh * fw * out_c);
                let bias: Vec<i32> = (0..out_c as i32).map(|k| 1500 - k * 611).collect();
                let (m, s) = multipliers(out_c);
                let mut got = vec![0i8; out_hw[0] * out_hw[1] * out_c];
                let run = |kernel: DepthwiseKernel, output: &mut [i8]| {
                    kernel(
                        &p,
                        ChannelScales {
                            multipliers: &m,
                            shifts: &s,
                        },
                        ConvIo {
                            input_shape: [1, h, w, in_c],
                            input: &input,
                            filter_shape: [1, fh, fw, out_c],
                            filter: &filter,
                            bias: Some(&bias),
                            output_shape: [1, out_hw[0], out_hw[1], out_c],
                            output,
                        },
                    )
                };
                run(depthwise_conv_per_channel_i8, &mut got).expect("valid shapes");
                let want = textbook(
                    &p,
                    out_hw,
                    out_c,
                    c.filter_hw,
                    &m,
                    &s,
                    &bias,
                    |oy, ox, oc, fy, fx| match (coord(&p, 0, oy, fy, h), coord(&p, 1, ox, fx, w)) {
                        (Some(y), Some(x)) => vec![(
                            input[(y * w + x) * in_c + oc / dm],
                            filter[(fy * fw + fx) * out_c + oc],
                        )],
                        _ => Vec::new(),
                    },
                );
                assert_eq!(got, want, "in_c {in_c} dm {dm} zp {in_zp}/{out_zp}");
                // The multiplier-1 registration's kernel: the same outputs for one-channel
                // inputs and for multiplier 1 over whole quads, a shape error otherwise.
                got.fill(0);
                let r = run(depthwise_conv_multiplier_1_i8, &mut got);
                let [fh, fw] = c.filter_hw;
                if (in_c == 1 && one_channel_fits(fh, fw, out_c)) || (dm == 1 && in_c % 4 == 0) {
                    assert_eq!(r, Ok(()), "multiplier 1, in_c {in_c} dm {dm}");
                    assert_eq!(
                        got, want,
                        "multiplier 1, in_c {in_c} dm {dm} zp {in_zp}/{out_zp}"
                    );
                } else {
                    assert_eq!(
                        r,
                        Err(KernelError::Shape),
                        "multiplier 1, in_c {in_c} dm {dm}"
                    );
                }
                if in_c == 1 {
                    // The one-channel path: widened window, filter re-laid in channel quads.
                    got.fill(0);
                    run(depthwise_conv_one_channel_i8, &mut got).expect("valid shapes");
                    assert_eq!(got, want, "one channel, dm {dm} zp {in_zp}/{out_zp}");
                    got.fill(0);
                    run(depthwise_conv_one_channel_only_i8, &mut got).expect("valid shapes");
                    assert_eq!(got, want, "one channel only, dm {dm} zp {in_zp}/{out_zp}");
                }
            }
        }
    }
}

/// The multiplier-1 kernel runs the DSP lanes alone: an input offset they do not hold (no int8
/// zero point gives one; the verifier keeps zero points in range) is a shape error, where the
/// generic kernel still computes the textbook sums; so is a layer without a bias.
#[test]
fn multiplier_1_depthwise_refuses_offsets_beyond_the_lanes() {
    let c = &CASES[0];
    let (out_hw, mut p) = setup(c, 0, 0);
    p.input_offset = 40_000;
    let ([h, w], [fh, fw], ch) = (c.input_hw, c.filter_hw, 4);
    let mut rng = Rng(0x1234_5678);
    let (input, filter) = (rng.vec(h * w * ch), rng.vec(fh * fw * ch));
    let (m, s) = multipliers(ch);
    let mut got = vec![0i8; out_hw[0] * out_hw[1] * ch];
    let bias = [0i32; 4];
    let run = |kernel: DepthwiseKernel, output: &mut [i8], bias: Option<&[i32]>, p: &ConvParams| {
        kernel(
            p,
            ChannelScales {
                multipliers: &m,
                shifts: &s,
            },
            ConvIo {
                input_shape: [1, h, w, ch],
                input: &input,
                filter_shape: [1, fh, fw, ch],
                filter: &filter,
                bias,
                output_shape: [1, out_hw[0], out_hw[1], ch],
                output,
            },
        )
    };
    assert_eq!(
        run(depthwise_conv_multiplier_1_i8, &mut got, Some(&bias), &p),
        Err(KernelError::Shape)
    );
    run(depthwise_conv_per_channel_i8, &mut got, Some(&bias), &p).expect("valid shapes");
    let want = textbook(
        &p,
        out_hw,
        ch,
        c.filter_hw,
        &m,
        &s,
        &[0; 4],
        |oy, ox, oc, fy, fx| match (coord(&p, 0, oy, fy, h), coord(&p, 1, ox, fx, w)) {
            (Some(y), Some(x)) => vec![(
                input[(y * w + x) * ch + oc],
                filter[(fy * fw + fx) * ch + oc],
            )],
            _ => Vec::new(),
        },
    );
    assert_eq!(got, want);
    // Nor does it run a layer without a bias (its registration's prepare refuses those).
    p.input_offset = 3;
    assert_eq!(
        run(depthwise_conv_multiplier_1_i8, &mut got, None, &p),
        Err(KernelError::Shape)
    );
}

/// The one-channel depthwise re-lays at most `MAX_ONE_CHANNEL_WEIGHTS` padded weights and
/// `MAX_ONE_CHANNEL_GROUPS` four-tap groups on the stack; beyond either it hands over to the
/// generic kernel, and the one-channel-only kernel (whose registration refuses such filters)
/// gives a shape error. On both sides of each limit (9x9 taps in 27 groups: 4 and 5 channels
/// fit, 12 do not; 11x9 taps: 33 groups) the outputs equal the generic kernel's (itself
/// checked against the textbook above), with batches, odd sizes and zero points at both ends.
#[test]
fn depthwise_one_channel_at_the_stack_limits() {
    use tflm_runtime::kernels::depthwise_conv::{MAX_ONE_CHANNEL_GROUPS, MAX_ONE_CHANNEL_WEIGHTS};
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (fh, out_c, fits) in [
        (9usize, 4usize, true),
        (9, 5, true),
        (9, 12, false),
        (11, 1, false),
    ] {
        let groups = fh * 3;
        assert_eq!(
            groups <= MAX_ONE_CHANNEL_GROUPS
                && out_c.div_ceil(4) * groups * 16 <= MAX_ONE_CHANNEL_WEIGHTS,
            fits
        );
        assert_eq!(one_channel_fits(fh, 9, out_c), fits);
        for (in_zp, stride) in [(-7, [1, 2]), (127, [2, 1]), (-128, [3, 3])] {
            let c = Case {
                input_hw: [12, 11],
                filter_hw: [fh, 9],
                stride,
                dilation: [1, 1],
                padding: Padding::Same,
            };
            let (out_hw, p) = setup(&c, in_zp, 3);
            let input = rng.vec(2 * 12 * 11);
            let filter = rng.vec(fh * 9 * out_c);
            let bias: Vec<i32> = (0..out_c as i32).map(|k| 400 - k * 77).collect();
            let (m, s) = multipliers(out_c);
            let n = 2 * out_hw[0] * out_hw[1] * out_c;
            let (mut got, mut want) = (vec![0i8; n], vec![1i8; n]);
            let shapes = (
                [2, 12, 11, 1],
                [1, fh, 9, out_c],
                [2, out_hw[0], out_hw[1], out_c],
            );
            let run = |kernel: DepthwiseKernel, output: &mut [i8]| {
                kernel(
                    &p,
                    ChannelScales {
                        multipliers: &m,
                        shifts: &s,
                    },
                    ConvIo {
                        input_shape: shapes.0,
                        input: &input,
                        filter_shape: shapes.1,
                        filter: &filter,
                        bias: Some(&bias),
                        output_shape: shapes.2,
                        output,
                    },
                )
            };
            run(depthwise_conv_per_channel_i8, &mut want).expect("valid shapes");
            got.fill(0);
            run(depthwise_conv_one_channel_i8, &mut got).expect("valid shapes");
            assert_eq!(
                got, want,
                "{fh}x9, out_c {out_c}, zp {in_zp}, stride {stride:?}"
            );
            got.fill(0);
            let r = run(depthwise_conv_one_channel_only_i8, &mut got);
            if fits {
                assert_eq!(r, Ok(()));
                assert_eq!(got, want, "only: {fh}x9, out_c {out_c}, zp {in_zp}");
            } else {
                assert_eq!(r, Err(KernelError::Shape));
            }
            // An output one element short is a shape error, not a panic.
            let r = run(depthwise_conv_one_channel_i8, &mut got[1..]);
            assert_eq!(r, Err(KernelError::Shape));
        }
    }
}

#[test]
fn fully_connected_int8_odd_depths() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for (batches, depth, out_c) in [(1, 1, 1), (2, 3, 5), (1, 7, 4), (3, 13, 6), (1, 64, 9)] {
        for (in_zp, out_zp) in [(-128, 3), (127, -128), (0, 0)] {
            let input = rng.vec(batches * depth);
            let filter = rng.vec(out_c * depth);
            let bias: Vec<i32> = (0..out_c as i32).map(|k| k * 1234 - 2000).collect();
            let p = FullyConnectedParams::quantized(
                in_zp,
                0,
                out_zp,
                0.05,
                Activation::None,
                -128,
                127,
            );
            let filter_scales: Vec<f32> = (0..out_c).map(|k| 0.003 + 0.0004 * k as f32).collect();
            let mut scales = vec![0f64; out_c];
            effective_scales(0.04, &filter_scales, 0.05, &mut scales).expect("one scale a row");
            let dims = FcDims {
                batches,
                accum_depth: depth,
                output_depth: out_c,
            };
            let mut got = vec![0i8; batches * out_c];
            fully_connected_i8(&p, &scales, dims, &input, &filter, Some(&bias), &mut got)
                .expect("valid shapes");
            // The same kernel on one output channel at a time never takes the four-row path.
            for b in 0..batches {
                for oc in 0..out_c {
                    let one = FcDims {
                        batches: 1,
                        accum_depth: depth,
                        output_depth: 1,
                    };
                    let mut o = [0i8];
                    let x = &input[b * depth..(b + 1) * depth];
                    let w = &filter[oc * depth..(oc + 1) * depth];
                    fully_connected_i8(
                        &p,
                        &scales[oc..oc + 1],
                        one,
                        x,
                        w,
                        Some(&bias[oc..oc + 1]),
                        &mut o,
                    )
                    .expect("valid shapes");
                    assert_eq!(got[b * out_c + oc], o[0], "depth {depth} row {oc}");
                    // And a textbook sum decides the value.
                    let acc: i32 = x
                        .iter()
                        .zip(w)
                        .map(|(&x, &w)| (x as i32 - in_zp) * w as i32)
                        .sum::<i32>()
                        + bias[oc];
                    let v = (acc as f64 * scales[oc]).round() as i32 + out_zp;
                    assert_eq!(o[0] as i32, v.clamp(-128, 127), "depth {depth} row {oc}");
                }
            }
        }
    }
}

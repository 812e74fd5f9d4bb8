//! FULLY_CONNECTED on int8 weights in tflm-rs's 1x4 block encoding ([`crate::block_sparse`]):
//! only the kept blocks are multiplied, on the encoded bytes, and the outputs are bit for bit
//! those of [`fully_connected_i8`](super::fully_connected::fully_connected_i8) on the decoded
//! weights.

use super::conv::KernelError;
use super::dsp;
use super::fully_connected::{FcDims, FullyConnectedParams, Requantize, Rescale};
use crate::block_sparse;

/// FULLY_CONNECTED with int8 input and output, int8 weights (zero point 0) in the 1x4 block
/// encoding and an optional int32 bias. `scales` as in the dense kernel (one, or one per
/// output row).
///
/// Each batch row is widened once into `widened` ([`block_sparse::widened_len`] words, scratch)
/// with the input offset folded in, so a kept block costs one weight word load and two
/// `SMLAD`s: `acc = Σ (x + input_offset) w + bias` in wrapping 32-bit arithmetic, the dense
/// kernel's sum (a pruned block's weights are all zero, so leaving it out changes no bit),
/// then the same double-precision rescale.
///
/// `filter` must have passed [`block_sparse::verify`] for `output_depth x accum_depth`
/// (`Model::parse` does it); other bytes give wrong outputs, never a panic.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_i8_block(
    p: &FullyConnectedParams,
    scales: &[f64],
    dims: FcDims,
    input: &[i8],
    filter: &[u8],
    bias: Option<&[i32]>,
    widened: &mut [[u32; 2]],
    output: &mut [i8],
) -> Result<(), KernelError> {
    let FcDims {
        accum_depth: depth,
        output_depth,
        ..
    } = dims;
    let ok = dims.fits(
        input.len(),
        output.len(),
        bias.map(<[i32]>::len),
        scales.len(),
    ) && widened.len() >= block_sparse::widened_len(depth);
    // x + input_offset must fit int16 lanes (any valid int8 zero point does).
    let off = dsp::offset16x2(p.input_offset);
    let (true, Some(off)) = (ok, off) else {
        return Err(KernelError::Shape);
    };
    let out = Requantize {
        bias,
        scales,
        per_channel: scales.len() > 1,
        tensor_scale: Rescale::new(scales.first().copied().unwrap_or(0.0)),
        zp: p.output_offset,
        lo: p.activation_min,
        hi: p.activation_max,
    };
    let widened = &mut widened[..block_sparse::widened_len(depth)];
    let masks = block_sparse::mask_len(depth);
    for (x, out_row) in input
        .chunks_exact(depth.max(1))
        .zip(output.chunks_exact_mut(output_depth.max(1)))
    {
        block_sparse::widen_input(x, off, widened);
        let mut enc = filter;
        for (oc, o) in out_row.iter_mut().enumerate() {
            let (acc, rest) = block_sparse::row_dot(widened, masks, enc);
            enc = rest;
            *o = out.finish(acc, oc);
        }
    }
    if depth == 0 {
        // No products: every output is the bias alone.
        for row in output.chunks_exact_mut(output_depth.max(1)) {
            for (oc, o) in row.iter_mut().enumerate() {
                *o = out.finish(0, oc);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::fully_connected::fully_connected_i8;
    use crate::types::Activation;
    use std::vec::Vec;

    use crate::kernels::test_rng::Rng;

    /// The block kernel against the dense one on random block-pruned weights: every depth
    /// from 0 to 70 (partial blocks, partial mask bytes, several mask bytes), odd row counts,
    /// all-zero and fully dense rows, zeros inside kept blocks, 1 to 3 batches, per-tensor
    /// and per-channel scales, every input zero point's extremes, biases present and absent,
    /// activations.
    #[test]
    fn block_kernel_equals_dense_kernel() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for depth in 0..=70usize {
            for case in 0..8 {
                let (batches, od) = (1 + case % 3, 1 + 2 * (rng.next() % 6) as usize);
                let keep = match case {
                    6 => 0,   // every row all zero
                    7 => 100, // every block kept
                    _ => rng.next() % 101,
                };
                let w = rng.block_pruned(od, depth, keep);
                let x: Vec<i8> = (0..batches * depth).map(|_| rng.next() as i8).collect();
                let b: Vec<i32> = (0..od).map(|_| (rng.next() as i32) >> 12).collect();
                let per_channel = case % 2 == 1;
                let scales: Vec<f64> = (0..if per_channel { od } else { 1 })
                    .map(|_| 1e-4 + (rng.next() % 1000) as f64 * 1e-5)
                    .collect();
                let in_zp = [-128, 127, 0][case % 3] + if case > 2 { -5 } else { 0 };
                let act = [Activation::None, Activation::Relu, Activation::Relu6][case % 3];
                let p = FullyConnectedParams::quantized(in_zp, 0, -3, 0.05, act, -128, 127);
                let bias = (case != 4).then_some(&b[..]);
                let d = FcDims {
                    batches,
                    accum_depth: depth,
                    output_depth: od,
                };
                let mut want = std::vec![0i8; batches * od];
                fully_connected_i8(&p, &scales, d, &x, &w, bias, &mut want).unwrap();
                let mut enc = std::vec![0u8; block_sparse::encoded_len(depth, &w)];
                block_sparse::encode(depth, &w, &mut enc).unwrap();
                block_sparse::verify(od, depth, &enc).unwrap();
                let mut widened = std::vec![[0x5555_5555u32; 2]; block_sparse::widened_len(depth)];
                let mut got = std::vec![0i8; batches * od];
                fully_connected_i8_block(&p, &scales, d, &x, &enc, bias, &mut widened, &mut got)
                    .unwrap();
                assert_eq!(got, want, "depth {depth} case {case} keep {keep}%");
            }
        }
    }

    /// Wrong sizes are an error, not a panic.
    #[test]
    fn shape_errors() {
        let p = FullyConnectedParams::quantized(0, 0, 0, 1.0, Activation::None, -128, 127);
        let d = FcDims {
            batches: 1,
            accum_depth: 8,
            output_depth: 1,
        };
        let mut out = [0i8; 1];
        let mut widened = [[0u32; 2]; 16];
        let r =
            fully_connected_i8_block(&p, &[1.0], d, &[0; 7], &[0], None, &mut widened, &mut out);
        assert_eq!(r, Err(KernelError::Shape));
        let r = fully_connected_i8_block(&p, &[1.0], d, &[0; 8], &[0], None, &mut [], &mut out);
        assert_eq!(r, Err(KernelError::Shape));
    }
}

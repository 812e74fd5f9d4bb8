//! Which weights the writer stores in tflm-rs's sparse encoding (`tflm_runtime::sparse`, format
//! in `docs/sparse.md`), and their encoded bytes.
//!
//! Only the runtime of tflm-rs reads the encoding: LiteRT and TensorFlow Lite Micro refuse such
//! a model (its tensors carry an empty `SparsityParameters`). [`SparseWeights::Never`] writes
//! the dense form every TFLite runtime loads.

use crate::ir::{ConstData, Graph, TensorId};
use tflm_runtime::DType;

/// When to write pruned int8 weights (FULLY_CONNECTED's, the int8 LSTM's gate matrices)
/// sparse-encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SparseWeights {
    /// When the encoding is smaller than the dense bytes (a pruned model; never at 0%
    /// sparsity, where the mask bytes make it larger): the smaller flash, which is what
    /// pruning is asked for. Below about 81% zeros a sparse FULLY_CONNECTED layer costs more
    /// instructions than its dense form (LSTM gate matrices cost fewer from 50% on).
    #[default]
    Auto,
    /// As `Auto`, but FULLY_CONNECTED weights only where their sparse kernel also needs
    /// fewer Cortex-M4 instructions than the dense one ([`sparse_fc_is_faster`]): never
    /// slower than dense, at the cost of bytes below about 81% zeros.
    Fast,
    /// Every eligible tensor, smaller or not (tests, measurements).
    Always,
    /// Dense weights only: the file loads in LiteRT and TensorFlow Lite Micro.
    Never,
}

impl SparseWeights {
    pub fn as_str(self) -> &'static str {
        match self {
            SparseWeights::Auto => "auto",
            SparseWeights::Fast => "fast",
            SparseWeights::Always => "always",
            SparseWeights::Never => "never",
        }
    }
}

impl std::fmt::Display for SparseWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SparseWeights {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SparseWeights::Auto),
            "fast" => Ok(SparseWeights::Fast),
            "always" => Ok(SparseWeights::Always),
            "never" => Ok(SparseWeights::Never),
            _ => Err(format!(
                "unknown sparse-weights choice {s:?}: use auto, fast, always or never"
            )),
        }
    }
}

/// Whether input `k` of `op` is weights the runtime's sparse kernels read in place: input 1 of
/// an int8 FULLY_CONNECTED or CONV_2D (the latter in 1x4 blocks only), inputs 1-8
/// (input-to-gate and recurrent-to-gate weights) of a full integer (int8 activations)
/// UNIDIRECTIONAL_SEQUENCE_LSTM.
fn sparse_input(graph: &Graph, op: &crate::ir::Op, k: usize) -> bool {
    let int8 = |t: Option<TensorId>| t.is_some_and(|t| graph.tensor(t).dtype == DType::I8);
    tflm_runtime::ops::reads_sparse(op.kind.builtin_code(), k)
        && int8(op.input(0))
        && int8(op.output(0))
}

/// Whether the sparse int8 FULLY_CONNECTED kernel needs fewer Cortex-M4 instructions than the
/// dense one on `values` (`[rows, depth]`). The costs were measured on fc256x128 at 50% to 90%
/// zeros (docs/performance.md, "Sparse weights", session 7): the dense kernel's dual 16-bit
/// multiply-accumulates take about 2.29 instructions per weight, zero or not; the sparse walk
/// about 12.8 per group of 8 columns (mask, jump, bounds check, loop) and 3.4 per nonzero
/// weight (two loads, one multiply-accumulate). Rounded here toward the dense kernel (13, 3.5
/// and 2.25), so a layer near the break-even, about 81% zeros, stays dense: at 80% the sparse
/// kernel measured 0.9% slower, at 85% 7% faster. The LSTM's sparse gate products are faster
/// from 50% on (0.71x the dense ones on co2), so its matrices follow the size rule alone.
pub fn sparse_fc_is_faster(depth: usize, values: &[i8]) -> bool {
    if depth == 0 {
        return false;
    }
    let groups = (values.len() / depth * tflm_runtime::sparse::groups(depth)) as u64;
    let nonzeros = values.iter().filter(|&&w| w != 0).count() as u64;
    // In quarters of an instruction: 13 per group + 3.5 per nonzero < 2.25 per weight.
    52 * groups + 14 * nonzeros < 9 * values.len() as u64
}

/// The int8 values of a tensor the runtime's sparse kernels can take: 2-D int8 constant weights
/// (or a 4-D CONV_2D filter, for the block encoding) with zero point 0, read only where
/// [`sparse_input`] allows.
fn eligible(graph: &Graph, id: TensorId) -> Option<&[i8]> {
    let t = graph.tensor(id);
    let ConstData::I8(values) = t.data.as_ref()? else {
        return None;
    };
    let symmetric = t
        .quantization
        .as_ref()
        .is_some_and(|q| q.zero_points.iter().all(|&z| z == 0));
    let conv_filter = t.shape.len() == 4 && read_only_by(graph, id, Reader::Conv2d);
    if !(t.shape.len() == 2 || conv_filter) || !symmetric || graph.outputs.contains(&id) {
        return None;
    }
    let mut uses = graph.ops.iter().flat_map(|op| {
        let reads = op.inputs.iter().enumerate();
        reads.filter_map(move |(k, &t)| (t == Some(id)).then_some((op, k)))
    });
    let mut used = false;
    let only_sparse_inputs = uses.all(|(op, k)| {
        used = true;
        sparse_input(graph, op, k)
    });
    (only_sparse_inputs && used).then_some(values.as_slice())
}

/// The operators that read the 1x4 block encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    FullyConnected,
    Conv2d,
}

/// Whether every operator that reads tensor `id` is of kind `reader`.
fn read_only_by(graph: &Graph, id: TensorId, reader: Reader) -> bool {
    graph
        .ops
        .iter()
        .filter(|op| op.inputs.contains(&Some(id)))
        .all(|op| match op.kind {
            crate::ir::OpKind::FullyConnected(_) => reader == Reader::FullyConnected,
            crate::ir::OpKind::Conv2d(_) => reader == Reader::Conv2d,
            _ => false,
        })
}

/// Whether the 1x4 block FULLY_CONNECTED kernel needs fewer Cortex-M4 instructions than the
/// dense one on `values` (`[rows, depth]`). Costs from fc256x128 with half its blocks pruned
/// (docs/performance.md, "Sparse weights", session 8: 59,960 instructions per invoke against
/// the dense kernel's 75,173) and the kernel's code: 7 instructions per kept block (a word
/// load, the input pair's `LDRD`, two `SXTB16`, two `SMLAD`, the branch) and about 9 per
/// nibble of mask (4 blocks: the dispatch, the bounds check, the mask byte's share of the
/// loop), against about 1.9 per weight for the dense kernel's products (its 2.29 per weight
/// less the rescale of each row, which both kernels pay), rounded down to 1.875: break-even
/// near 25% of the blocks pruned, so a layer pruned 50% in blocks is encoded by `fast`, one
/// pruned weight by weight (few whole zero blocks) is not.
pub fn block_fc_is_faster(depth: usize, values: &[i8]) -> bool {
    if depth == 0 {
        return false;
    }
    let rows = (values.len() / depth) as u64;
    let nibbles = rows * 2 * tflm_runtime::block_sparse::mask_len(depth) as u64;
    let kept = values
        .chunks_exact(depth)
        .flat_map(|row| row.chunks(tflm_runtime::block_sparse::BLOCK))
        .filter(|b| b.iter().any(|&w| w != 0))
        .count() as u64;
    // In eighths of an instruction.
    8 * (9 * nibbles + 7 * kept) < 15 * values.len() as u64
}

/// Whether the 1x4 block CONV_2D kernel needs fewer Cortex-M4 instructions than the dense
/// one on the filter `values` (`[out_c, depth]`, `depth = f_h * f_w * in_c`). `whole_image`:
/// the kernel takes its whole-image path (`tflm_runtime::kernels::conv_block_sparse`, small
/// layers), measured faster than the dense im2col kernel whenever a block is pruned
/// (docs/performance.md, "Sparse weights", session 9). Otherwise the per-pixel path walks
/// each row's mask per pixel as the FULLY_CONNECTED block kernel does
/// ([`block_fc_is_faster`]). A 1x1 filter with whole blocks (`pointwise`: `depth` = its input
/// channels, a multiple of 4, at most 256) runs the four-pixel kernels, dense and block
/// ([`pointwise_block_is_faster`]).
pub fn block_conv_is_faster(
    depth: usize,
    values: &[i8],
    whole_image: bool,
    pointwise: bool,
) -> bool {
    if pointwise {
        return pointwise_block_is_faster(depth, values);
    }
    if !whole_image || depth == 0 {
        return block_fc_is_faster(depth, values);
    }
    // Any pruned block: the whole-image path was measured faster than the dense im2col kernel
    // on digits' 3x3x1 filter with most of its blocks kept (weight-by-weight pruning), as its
    // output stage takes one rescale per channel instead of one per output.
    values
        .chunks_exact(depth)
        .flat_map(|row| row.chunks(tflm_runtime::block_sparse::BLOCK))
        .any(|b| b.iter().all(|&w| w == 0))
}

/// Whether the four-pixel block-sparse 1x1 kernel (`kernels::pointwise_block_sparse`) needs
/// fewer Cortex-M4 instructions than the dense pointwise kernel on the filter `values`
/// (`[out_c, in_c]`). Per output channel and four pixels, the dense kernel's products take 17
/// instructions per block of 4 input channels; the block kernel's 20 per kept block (the same
/// loads and `SMLAD`s, a bit scan, a shift and the group's address) and a fixed cost per row
/// (the mask's load and bounds, the sums around the assembly loop), both then the same rescale.
/// Fitted on person_detect pruned 50% in blocks (docs/performance.md, "Sparse weights",
/// session 10: its 8- and 16-channel layers in blocks took 40 K instructions fewer than dense,
/// over thousands of rows) the fixed cost is about 16 per row; on digits' small 12-channel
/// layer (96 rows, so the layer's own set-up weighs more) about 31: 1,200 instructions slower
/// than dense at half the blocks kept, 82 slower at 90% of the weights pruned one by one. The
/// filter alone does not tell the pixels, so 32 here, the small layer's: `fast` is never
/// slower than dense at the cost of a little speed on large shallow layers. 8, 12 and 16
/// channels at half kept stay dense (52 against 34, 62 against 51, 72 against 68), 32 take the
/// block kernel (112 against 136), deeper rows gain more.
pub fn pointwise_block_is_faster(in_c: usize, values: &[i8]) -> bool {
    if in_c == 0 {
        return false;
    }
    let rows = (values.len() / in_c) as u64;
    let blocks = rows * in_c.div_ceil(tflm_runtime::block_sparse::BLOCK) as u64;
    let kept = values
        .chunks_exact(in_c)
        .flat_map(|row| row.chunks(tflm_runtime::block_sparse::BLOCK))
        .filter(|b| b.iter().any(|&w| w != 0))
        .count() as u64;
    20 * kept + 32 * rows < 17 * blocks
}

/// Whether the CONV_2D that reads filter `id` runs the block kernel's whole-image path (its
/// scratch within `MAX_IMAGE_SCRATCH`).
fn conv_whole_image(graph: &Graph, id: TensorId) -> bool {
    use tflm_runtime::kernels::conv_block_sparse as k;
    let shape4 = |s: &[usize]| <[usize; 4]>::try_from(s).ok();
    graph
        .ops
        .iter()
        .filter(|op| op.input(1) == Some(id))
        .all(|op| {
            let filter = shape4(&graph.tensor(id).shape);
            let output = op.output(0).and_then(|o| shape4(&graph.tensor(o).shape));
            match (filter, output) {
                (Some(f), Some(o)) => {
                    k::image_scratch_bytes(f, o).is_some_and(|n| n <= k::MAX_IMAGE_SCRATCH)
                }
                _ => false,
            }
        })
}

/// How a tensor's weights are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The row bitmask (`tflm_runtime::sparse`): one bit per weight plus the nonzero values.
    RowBitmask,
    /// 1x4 blocks (`tflm_runtime::block_sparse`): one bit per 4 columns plus the kept blocks;
    /// FULLY_CONNECTED weights and CONV_2D filters only.
    Block1x4,
}

/// The encoding and bytes of tensor `id` when `choice` says to encode it, else `None`. Of the
/// encodings that fit the tensor (the row bitmask for 2-D weights, 1x4 blocks for
/// FULLY_CONNECTED weights and CONV_2D filters), the smallest one the choice allows: `Auto` any one smaller than dense, `Fast`
/// one smaller and, for FULLY_CONNECTED weights, faster than dense, `Always` the smaller of
/// the two even when larger than dense. On a tie the block encoding (its kernel is faster).
pub fn encoded(graph: &Graph, id: TensorId, choice: SparseWeights) -> Option<(Encoding, Vec<u8>)> {
    if choice == SparseWeights::Never {
        return None;
    }
    let values = eligible(graph, id)?;
    // A CONV_2D filter `[out, h, w, in]` is `out` rows of `h * w * in` (im2col order).
    let shape = &graph.tensor(id).shape;
    let depth: usize = shape[1..].iter().product();
    let fc = read_only_by(graph, id, Reader::FullyConnected);
    let conv = shape.len() == 4;
    let row_len = tflm_runtime::sparse::encoded_len(depth, values);
    let block_len = tflm_runtime::block_sparse::encoded_len(depth, values);
    let allowed = |e: Encoding, len: usize| match choice {
        SparseWeights::Auto => len < values.len(),
        SparseWeights::Fast => {
            len < values.len()
                && match e {
                    Encoding::RowBitmask => !fc || sparse_fc_is_faster(depth, values),
                    Encoding::Block1x4 if conv => {
                        let pointwise = shape[1] == 1
                            && shape[2] == 1
                            && shape[3] <= 256
                            && shape[3].is_multiple_of(4);
                        block_conv_is_faster(depth, values, conv_whole_image(graph, id), pointwise)
                    }
                    Encoding::Block1x4 => block_fc_is_faster(depth, values),
                }
        }
        SparseWeights::Always => true,
        SparseWeights::Never => false,
    };
    let mut candidates = vec![
        (block_len, Encoding::Block1x4),
        (row_len, Encoding::RowBitmask),
    ];
    if conv {
        candidates.pop();
    } else if !fc {
        candidates.remove(0);
    }
    let (len, encoding) = candidates
        .into_iter()
        .filter(|&(len, e)| allowed(e, len))
        .min_by_key(|&(len, _)| len)?;
    let mut out = vec![0u8; len];
    let n = match encoding {
        Encoding::RowBitmask => tflm_runtime::sparse::encode(depth, values, &mut out)?,
        Encoding::Block1x4 => tflm_runtime::block_sparse::encode(depth, values, &mut out)?,
    };
    debug_assert_eq!(n, len);
    Some((encoding, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_choices() {
        for c in [
            SparseWeights::Auto,
            SparseWeights::Fast,
            SparseWeights::Always,
            SparseWeights::Never,
        ] {
            assert_eq!(c.as_str().parse::<SparseWeights>(), Ok(c));
        }
        assert!("sometimes".parse::<SparseWeights>().is_err());
    }

    /// The break-even of fc256x128's measured kernels (80% zeros: sparse 0.9% slower than
    /// dense; 85%: 7% faster): `fast` keeps FULLY_CONNECTED weights dense at 50% zeros.
    /// fc256x128 with half its blocks pruned: the block kernel measured 0.80x the dense one,
    /// so `fast` encodes it; with a fifth pruned it stays dense.
    #[test]
    fn block_fc_pays_from_about_half_the_blocks_pruned() {
        let with_blocks = |pruned: usize| -> Vec<i8> {
            (0..256 * 128)
                .map(|i| if (i / 4) % 100 < pruned { 0 } else { 7 })
                .collect()
        };
        assert!(block_fc_is_faster(256, &with_blocks(50)));
        assert!(block_fc_is_faster(256, &with_blocks(75)));
        assert!(!block_fc_is_faster(256, &with_blocks(20)));
        assert!(!block_fc_is_faster(0, &[]));
    }

    /// 1x1 layers at half their blocks pruned: 8, 12 (digits) and 16 input channels stay
    /// dense, 32 and more take the block kernel; an unpruned filter stays dense.
    #[test]
    fn block_pointwise_pays_from_32_channels_at_half_the_blocks_pruned() {
        let half = |in_c: usize, out_c: usize| -> Vec<i8> {
            (0..in_c * out_c)
                .map(|i| if (i / 4) % 2 == 0 { 0 } else { 3 })
                .collect()
        };
        assert!(!pointwise_block_is_faster(8, &half(8, 16)));
        assert!(!pointwise_block_is_faster(12, &half(12, 24)));
        assert!(!pointwise_block_is_faster(16, &half(16, 32)));
        assert!(pointwise_block_is_faster(32, &half(32, 64)));
        assert!(pointwise_block_is_faster(256, &half(256, 256)));
        assert!(!pointwise_block_is_faster(128, &[1; 128 * 4]));
        assert!(!pointwise_block_is_faster(0, &[]));
        assert!(block_conv_is_faster(128, &half(128, 8), false, true));
    }

    #[test]
    fn sparse_fc_pays_only_from_about_81_percent_zeros() {
        let with_zeros = |zeros: usize| -> Vec<i8> {
            (0..256 * 128)
                .map(|i| if i % 100 < zeros { 0 } else { 7 })
                .collect()
        };
        assert!(!sparse_fc_is_faster(256, &with_zeros(50)));
        assert!(!sparse_fc_is_faster(256, &with_zeros(80)));
        assert!(sparse_fc_is_faster(256, &with_zeros(85)));
        assert!(sparse_fc_is_faster(256, &with_zeros(90)));
        // A row of 20 columns is 3 groups (the last one partial): at 90% zeros still dense.
        let short: Vec<i8> = (0..20 * 4)
            .map(|i| if i % 10 == 0 { 7 } else { 0 })
            .collect();
        assert!(!sparse_fc_is_faster(20, &short));
        assert!(!sparse_fc_is_faster(0, &[]));
    }
}

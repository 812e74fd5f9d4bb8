//! Reference math of every operator, one module per op, free of any model or arena types:
//! plain slices, shapes and parameter structs in, results out. The `ops` modules bind them to
//! the model (TFLite Micro's split between kernels and `reference_ops`).

pub mod activations;
pub mod add;
pub mod broadcast;
pub mod concatenation;
pub mod conv;
pub mod conv_block_sparse;
pub mod depthwise_conv;
pub mod dequantize;
// The only `unsafe` in the crate: inline-assembly DSP instructions, each block justified.
#[allow(unsafe_code)]
pub mod dsp;
pub mod fixed16;
pub mod fully_connected;
pub mod fully_connected_sparse;
pub mod hard_swish;
pub mod hybrid;
pub mod logistic;
pub mod lstm;
pub mod mean;
pub mod mul;
pub mod pad;
pub mod pointwise;
pub mod pointwise_block_sparse;
pub mod pooling;
pub mod quantize;
pub mod requant;
pub mod softmax;
pub mod strided_slice;
pub mod sub;
pub mod svdf;
pub mod tanh;
pub mod transpose;

/// xorshift64*: the deterministic stream of the kernels' randomized unit tests.
#[cfg(test)]
pub(crate) mod test_rng {
    extern crate std;
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// `rows x depth` random int8 weights pruned in 1x4 blocks: each block kept with
        /// probability `keep`% (a kept block has a zero in its first column a quarter of the
        /// time), the others all zero; the block kernels' test weights.
        pub(crate) fn block_pruned(
            &mut self,
            rows: usize,
            depth: usize,
            keep: u64,
        ) -> std::vec::Vec<i8> {
            let mut w = std::vec::Vec::new();
            for _ in 0..rows {
                let mut row: std::vec::Vec<i8> = (0..depth).map(|_| self.next() as i8).collect();
                for j in 0..crate::block_sparse::blocks(depth) {
                    if self.next() % 100 >= keep {
                        row[4 * j..(4 * j + 4).min(depth)].fill(0);
                    } else if self.next().is_multiple_of(4) {
                        row[4 * j] = 0; // a zero inside a kept block
                    }
                }
                w.extend(row);
            }
            w
        }
    }
}

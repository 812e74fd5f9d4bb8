//! 16-byte aligned byte arrays: what model bytes and arenas are stored in. The runtime reads
//! constant tensors in place and lays out the arena in 16-byte units, so both start aligned.
//!
//! ```
//! use tflm_runtime::Aligned16;
//! static MODEL: Aligned16<4> = Aligned16(*b"TFL3");
//! let mut arena = Aligned16([0u8; 1024]);
//! assert_eq!(MODEL.as_bytes().as_ptr() as usize % 16, 0);
//! assert_eq!(arena.as_mut_bytes().len(), 1024);
//! ```

/// `N` bytes starting on a 16-byte boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Aligned16<const N: usize>(pub [u8; N]);

impl<const N: usize> Aligned16<N> {
    /// `N` zero bytes (an arena).
    pub const fn zeroed() -> Self {
        Aligned16([0; N])
    }

    pub const fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

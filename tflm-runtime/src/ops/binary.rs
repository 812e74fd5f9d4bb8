//! What ADD, SUB and MUL share: two broadcast inputs, their shapes stored for the kernel, and
//! the check that the output has the broadcast shape.

use super::Prepare;
use crate::error::ParseErrorKind;
use crate::kernels::broadcast::{output_shape, MAX_DIMS};
use crate::model::Tensor;
use bytemuck::{Pod, Zeroable};

/// Input shapes of a broadcasting binary op, as stored in its data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct BinaryShapes {
    pub rank1: u32,
    pub rank2: u32,
    pub shape1: [u32; MAX_DIMS],
    pub shape2: [u32; MAX_DIMS],
}

impl BinaryShapes {
    /// The shapes as `usize` arrays plus ranks, for the kernels' `&[usize]` arguments.
    pub fn unpack(&self) -> ([usize; MAX_DIMS], usize, [usize; MAX_DIMS], usize) {
        (
            self.shape1.map(|d| d as usize),
            (self.rank1 as usize).min(MAX_DIMS),
            self.shape2.map(|d| d as usize),
            (self.rank2 as usize).min(MAX_DIMS),
        )
    }
}

/// Checks the two inputs broadcast to the output's shape; returns their shapes and tensors.
pub(super) fn prepare_binary<'m>(
    p: &Prepare<'_, 'm, '_>,
) -> Result<(BinaryShapes, Tensor<'m>, Tensor<'m>, Tensor<'m>), ParseErrorKind> {
    p.expect_io(2, 2, 1)?;
    let (a, b, out) = (p.input(0)?, p.input(1)?, p.output(0)?);
    if a.shape.rank() > MAX_DIMS || b.shape.rank() > MAX_DIMS {
        return Err(p.unsupported("inputs of rank above 6"));
    }
    let mut shapes = BinaryShapes::zeroed();
    let (mut s1, mut s2) = ([0usize; MAX_DIMS], [0usize; MAX_DIMS]);
    for (i, d) in a.shape.dims().enumerate() {
        s1[i] = d;
        shapes.shape1[i] = d as u32;
    }
    for (i, d) in b.shape.dims().enumerate() {
        s2[i] = d;
        shapes.shape2[i] = d as u32;
    }
    shapes.rank1 = a.shape.rank() as u32;
    shapes.rank2 = b.shape.rank() as u32;
    let mut broadcast = [0usize; MAX_DIMS];
    let rank = output_shape(&s1[..a.shape.rank()], &s2[..b.shape.rank()], &mut broadcast)
        .ok_or(p.invalid("input shapes do not broadcast"))?;
    if rank != out.shape.rank() || !broadcast[..rank].iter().copied().eq(out.shape.dims()) {
        return Err(p.invalid("output shape differs from the broadcast of the inputs"));
    }
    Ok((shapes, a, b, out))
}

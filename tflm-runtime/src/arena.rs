//! The arena: its layout and the memory planner (the operators' disjoint views into it are
//! `ops::places`).
//!
//! Layout (every part 16-byte aligned):
//! ```text
//! [ slots: one per tensor, then one scratch slot per operator ]
//! [ operator table ][ per-operator prepared data and tensor places ][ variable tensors ][ activations (planned) ]
//! ```
//! Activations and scratch buffers share memory: the planner places them greedily by size,
//! largest first, each at the lowest offset not used by a buffer alive at the same time
//! (TFLite Micro's greedy planner), so the arena size is exact and known before allocation.

use crate::model::{Model, Tensor, MAX_PLANNED};
use crate::ops;
use crate::rolled::keep_rolled;
use bytemuck::{Pod, Zeroable};

pub(crate) const ALIGN: usize = 16;

pub(crate) const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Where a tensor's (or a scratch buffer's) bytes live.
pub(crate) mod kind {
    /// Unused by any operator and not a subgraph input or output: no memory.
    pub const NONE: u16 = 0;
    /// Constant data in the model bytes.
    pub const CONSTANT: u16 = 1;
    /// A variable tensor in the state region.
    pub const STATE: u16 = 2;
    /// A planned buffer in the activation region.
    pub const ACTIVATION: u16 = 3;
    /// A tensor slot not filled yet: the planner reads the tensor. `Interpreter::new` marks
    /// every tensor slot so before preparing, and `prepare` fills the slots of the tensors it
    /// reads ([`super::tensor_slot`]), which the planner then need not read again.
    pub const UNREAD: u16 = u16::MAX;
}

/// One tensor's or scratch buffer's place, and while planning, its lifetime.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct Slot {
    pub offset: u32,
    pub size: u32,
    /// First and last operator that use the buffer (inclusive).
    pub first: u16,
    pub last: u16,
    pub kind: u16,
    /// The tensor's element type (schema code), so typed accessors need no flatbuffer read.
    pub dtype: i16,
}

impl Slot {
    const UNPLACED: u32 = u32::MAX;
    /// A tensor slot the planner fills by reading the tensor ([`kind::UNREAD`]).
    pub(crate) const UNREAD: Slot = Slot {
        offset: 0,
        size: 0,
        first: 0,
        last: 0,
        kind: kind::UNREAD,
        dtype: 0,
    };

    fn overlaps_in_time(&self, other: &Slot) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// One operator's entry: what to run, where its prepared data and its tensors' places
/// (`ops::places`) are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct OpSlot {
    /// Index of the operator's kernel in `Model::registrations()`.
    pub kind: u16,
    /// [`OpSlot::HAS_STATE`], [`OpSlot::HAS_SCRATCH`].
    pub flags: u16,
    pub num_inputs: u16,
    pub num_outputs: u16,
    /// Where the prepared data starts in the prepared-data region, in bytes.
    pub data_offset: u32,
    /// Where the places start in the same region, in places (8 bytes): the prepared data
    /// ends there.
    pub places: u32,
}

impl OpSlot {
    /// Some input is a variable tensor (state region).
    pub const HAS_STATE: u16 = 1;
    /// The operator has a scratch buffer (a place after its outputs').
    pub const HAS_SCRATCH: u16 = 2;
}

/// Byte offsets and sizes of the arena's regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub slots: usize,
    pub op_table: usize,
    pub op_data: usize,
    pub state: usize,
    pub activations: usize,
    /// Whole arena in bytes.
    pub total: usize,
}

impl Layout {
    /// The sizes of the slot and operator tables (from the counts alone); the planner, which
    /// reads every tensor once, gives the state and the activations.
    pub(crate) fn fixed_parts(model: &Model<'_>) -> Layout {
        let n_ops = model.num_operators();
        let slots = align_up((model.num_tensors() + n_ops) * core::mem::size_of::<Slot>());
        let op_table = align_up(n_ops * core::mem::size_of::<OpSlot>());
        Layout {
            slots,
            op_table,
            op_data: 0,
            state: 0,
            activations: 0,
            total: 0,
        }
    }

    /// The layout, planning activations into `slots` (one per tensor plus one per operator).
    pub(crate) fn compute(model: &Model<'_>, slots: &mut [Slot]) -> Layout {
        let mut layout = Self::fixed_parts(model);
        layout.op_data = measure_operators(model, slots);
        layout.with_activations(model, slots)
    }

    /// This layout (the fixed parts and `op_data`) completed with the activations, once the
    /// operators' scratch slots are filled ([`scratch_slot`]): what `Interpreter::new` computes
    /// after preparing every operator in place, so that no operator is prepared twice.
    pub(crate) fn with_activations(mut self, model: &Model<'_>, slots: &mut [Slot]) -> Layout {
        (self.activations, self.state) = plan(model, slots);
        self.total = self.slots + self.op_table + self.op_data + self.state + self.activations;
        self
    }

    /// The layout computed with planner tables on the stack: one 16-byte slot per tensor and
    /// operator, in a table of 32, 128 or `MAX_PLANNED` (512) slots, the smallest that fits,
    /// so a small model's `arena_size()` takes 0.5 KiB of stack rather than 8 KiB.
    pub(crate) fn compute_standalone(model: &Model<'_>) -> Layout {
        match model.num_tensors() + model.num_operators() {
            n if n <= 32 => Self::compute_in::<32>(model, n),
            n if n <= 128 => Self::compute_in::<128>(model, n),
            n => Self::compute_in::<MAX_PLANNED>(model, n.min(MAX_PLANNED)),
        }
    }

    /// [`Layout::compute`] with an `N`-slot table on the stack. Never inlined: inlined, the
    /// table would become part of the caller's frame, and `Interpreter::new` (which plans
    /// inside the arena and comes here only to report a too small arena) would reserve it on
    /// every firmware's setup path.
    /// The table is an array of zero words, which the compiler clears with one `memset` call
    /// (a table of slots, even of a constant or opaque one, it wrote with unrolled stores: up
    /// to 0.3 KB of code in each of the three copies); the one shared [`Layout::compute_unread`]
    /// then marks the slots in use unread in a rolled loop.
    #[inline(never)]
    fn compute_in<const N: usize>(model: &Model<'_>, n: usize) -> Layout {
        let mut table = [0u128; N];
        let slots: &mut [Slot] = bytemuck::cast_slice_mut(&mut table);
        Self::compute_unread(model, &mut slots[..n])
    }

    /// [`Layout::compute`] on a table of any contents: every slot is marked unread first.
    #[inline(never)]
    fn compute_unread(model: &Model<'_>, slots: &mut [Slot]) -> Layout {
        mark_unread(slots);
        Self::compute(model, slots)
    }
}

/// Marks every slot [`kind::UNREAD`], in a loop kept rolled: it runs once per tensor at setup,
/// and unrolled it took several times the code.
fn mark_unread(slots: &mut [Slot]) {
    for slot in slots {
        keep_rolled();
        *slot = Slot::UNREAD;
    }
}

/// Measures every operator: fills its scratch slot, returns the prepared data's size.
fn measure_operators(model: &Model<'_>, slots: &mut [Slot]) -> usize {
    let n_tensors = model.num_tensors();
    let mut op_data = 0;
    for i in 0..model.num_operators() {
        let needs = ops::requirements(model, &model.operator(i));
        op_data += align_up(needs.data_bytes);
        if let Some(s) = slots.get_mut(n_tensors + i) {
            *s = scratch_slot(i, needs.scratch_bytes);
        }
    }
    op_data
}

/// Operator `i`'s scratch slot: an activation alive only while the operator runs.
pub(crate) fn scratch_slot(i: usize, scratch_bytes: usize) -> Slot {
    Slot {
        offset: 0,
        size: scratch_bytes as u32,
        first: i as u16,
        last: i as u16,
        kind: if scratch_bytes > 0 {
            kind::ACTIVATION
        } else {
            kind::NONE
        },
        dtype: 0,
    }
}

/// Tensor `tensor`'s slot before the planner sets its lifetime: kind, size, element type and,
/// for constant data, where the data is. `None` for a variable tensor: its offset in the state
/// region depends on the variable tensors before it, which the planner places in index order.
/// Not inlined: `prepare`'s tensor reads and the planner share one copy.
#[inline(never)]
pub(crate) fn tensor_slot(tensor: &Tensor<'_>) -> Option<Slot> {
    let (kind, offset, size) = match tensor.data {
        Some(data) => (kind::CONSTANT, tensor.data_offset, data.len()),
        None if tensor.is_variable => return None,
        None => (kind::NONE, 0, tensor.byte_len()),
    };
    Some(Slot {
        offset: offset as u32,
        size: size as u32,
        kind,
        dtype: tensor.dtype.schema_code() as i16,
        ..Slot::default()
    })
}

/// Fills the tensors' `slots` with kinds, sizes and lifetimes and places the activation
/// buffers (the tensors' and the operators' scratch slots, which come filled); reads only the
/// tensors whose slot is [`kind::UNREAD`] (the others were filled by [`tensor_slot`] of the
/// same tensor); returns the
/// activation region's size and the state region's. State and constant slots get their
/// offsets too.
pub(crate) fn plan(model: &Model<'_>, slots: &mut [Slot]) -> (usize, usize) {
    let n_tensors = model.num_tensors();
    let n_ops = model.num_operators();
    let last_op = n_ops.saturating_sub(1) as u16;
    let mut state_offset = 0usize;
    for (t, slot) in slots.iter_mut().enumerate().take(n_tensors) {
        keep_rolled();
        if slot.kind != kind::UNREAD {
            continue;
        }
        let tensor = model.plan_tensor(t);
        *slot = tensor_slot(&tensor).unwrap_or_else(|| {
            let offset = state_offset;
            state_offset += align_up(tensor.byte_len());
            Slot {
                offset: offset as u32,
                size: tensor.byte_len() as u32,
                kind: kind::STATE,
                dtype: tensor.dtype.schema_code() as i16,
                ..Slot::default()
            }
        });
    }
    let used = |slots: &mut [Slot], t: usize, i: u16, writes: bool| {
        if let Some(s) = slots.get_mut(t) {
            if s.kind == kind::NONE || s.kind == kind::ACTIVATION {
                if s.kind == kind::NONE {
                    s.kind = kind::ACTIVATION;
                    s.first = i;
                    s.last = i;
                }
                if writes {
                    s.first = s.first.min(i);
                }
                s.last = s.last.max(i);
            }
        }
    };
    for t in (0..model.num_inputs()).filter_map(|k| model.input_index(k)) {
        used(slots, t, 0, true);
    }
    for i in 0..n_ops {
        let (inputs, outputs) = model.operator_tensors(i);
        for t in inputs.iter().filter(|&t| t >= 0) {
            keep_rolled();
            used(slots, t as usize, i as u16, false);
        }
        for t in outputs.iter() {
            keep_rolled();
            used(slots, t as usize, i as u16, true);
        }
    }
    for t in (0..model.num_outputs()).filter_map(|k| model.output_index(k)) {
        used(slots, t, last_op, false);
    }
    (place_greedy_by_size(slots), state_offset)
}

/// Places every activation slot: largest first (ties by index), each at the lowest 16-byte
/// aligned offset free of every already placed slot alive at the same time.
///
/// No table beyond the slots: each step scans them for the next slot in that order (the
/// largest below the previous one's size-and-index key), then moves the candidate offset past
/// every placed, time-overlapping slot it collides with until none does. Both scans are plain
/// loops over the slots (`O(n^2)` for `n` slots, a few instructions per slot and step).
fn place_greedy_by_size(slots: &mut [Slot]) -> usize {
    for s in slots.iter_mut() {
        keep_rolled();
        if s.kind == kind::ACTIVATION {
            s.offset = Slot::UNPLACED;
        }
    }
    let mut total = 0usize;
    // The previous slot's key: sizes descend, and within a size, indices ascend.
    let mut prev: Option<(u32, usize)> = None;
    loop {
        let mut next: Option<(u32, usize)> = None;
        for (i, s) in slots.iter().enumerate() {
            keep_rolled();
            if s.kind != kind::ACTIVATION {
                continue;
            }
            let after_prev = prev.is_none_or(|(size, j)| s.size < size || s.size == size && i > j);
            if after_prev && next.is_none_or(|(size, _)| s.size > size) {
                next = Some((s.size, i));
            }
        }
        let Some((size, n)) = next else { break };
        prev = next;
        let Some(&me) = slots.get(n) else { break };
        let mut offset = 0usize;
        loop {
            let mut moved = false;
            for other in slots.iter() {
                keep_rolled();
                if other.kind != kind::ACTIVATION
                    || other.offset == Slot::UNPLACED
                    || other.size == 0
                    || !other.overlaps_in_time(&me)
                {
                    continue;
                }
                let (start, end) = (other.offset as usize, (other.offset + other.size) as usize);
                if offset < end && start < offset + size as usize {
                    offset = align_up(end);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        if let Some(s) = slots.get_mut(n) {
            s.offset = offset as u32;
        }
        total = total.max(offset + size as usize);
    }
    align_up(total)
}

/// Most buffers one operator may write at once in one region (outputs and scratch in the
/// activations, variable inputs in the state).
pub(crate) const MAX_MUT: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(size: u32, first: u16, last: u16) -> Slot {
        Slot {
            offset: 0,
            size,
            first,
            last,
            kind: kind::ACTIVATION,
            dtype: 0,
        }
    }

    #[test]
    fn greedy_reuses_memory_of_dead_buffers() {
        // a (0..1) -> b (1..2) -> c (2..3): a and c can share.
        let mut s = [slot(100, 0, 1), slot(50, 1, 2), slot(100, 2, 3)];
        let total = place_greedy_by_size(&mut s);
        assert_eq!(s[0].offset, 0);
        assert_eq!(s[2].offset, 0);
        assert_eq!(s[1].offset, 112);
        assert_eq!(total, 112 + 64);
    }

    #[test]
    fn greedy_fills_gaps_lowest_first() {
        let mut s = [
            slot(64, 0, 0),
            slot(64, 0, 2),
            slot(32, 1, 1),
            slot(16, 2, 2),
        ];
        let total = place_greedy_by_size(&mut s);
        // 64@0 (t0) and 64@64 (t0..2); 32 at t1 reuses offset 0; 16 at t2 also at 0.
        assert_eq!(
            (s[0].offset, s[1].offset, s[2].offset, s[3].offset),
            (0, 64, 0, 0)
        );
        assert_eq!(total, 128);
    }
}

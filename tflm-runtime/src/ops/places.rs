//! Where an operator's tensors are, resolved once by `Interpreter::new`, so that `invoke`
//! reads neither the flatbuffer's operator table nor the tensors' slots.
//!
//! Each operator has one [`Place`] per input, then one per buffer it writes in the
//! activations (its outputs and its scratch buffer) in ascending offset order: the cuts
//! that split the activation region into the operator's mutable buffers and the readable
//! gaps between them. An activation input's place names its gap, so reading it is one
//! bounds check. The places live after the operator's prepared data, in the space its
//! [`super::Requirements`] reserve for them (the arena size counts them up front).

use crate::arena::{kind, Slot, MAX_MUT};
use bytemuck::{Pod, Zeroable};

/// One tensor of one operator: `len` bytes at `offset` in its region; the region (for a
/// cut: which of the operator's mutable buffers it is) in the top four bits of `tagged_len`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct Place {
    offset: u32,
    tagged_len: u32,
}

const TAG_SHIFT: u32 = 28;
const LEN_MASK: u32 = (1 << TAG_SHIFT) - 1;

/// The tags of an input's place.
pub(crate) mod tag {
    /// An optional input left out (tensor index -1).
    pub const ABSENT: u32 = 0;
    /// Constant data in the model's bytes.
    pub const CONSTANT: u32 = 1;
    /// A tensor with no memory, or one that overlaps a buffer the operator writes.
    pub const UNREADABLE: u32 = 2;
    /// A variable tensor in the state region (written through `state_as`) is `STATE + r`,
    /// `r` its rank by offset among the operator's variable inputs: where it cuts the state
    /// region, so that `invoke` need not sort them.
    pub const STATE: u32 = 3;
    /// Gap `g` of the activations between the operator's mutable buffers is `GAP + g`; the
    /// offset is from the gap's start.
    pub const GAP: u32 = STATE + super::MAX_MUT as u32;
}

impl Place {
    /// A place for `len` bytes at `offset`; `None` when they do not fit the encoding
    /// (a tensor of 256 MiB or more). Never inlined: [`resolve`] builds places in six
    /// spots, each inlined copy of the range checks about 30 B.
    #[inline(never)]
    fn new(tag: u32, offset: usize, len: usize) -> Option<Place> {
        let len = u32::try_from(len).ok().filter(|&l| l <= LEN_MASK)?;
        Some(Place {
            offset: u32::try_from(offset).ok()?,
            tagged_len: (tag << TAG_SHIFT) | len,
        })
    }

    /// A tensor index, kept in a place until [`resolve`] replaces it.
    pub(crate) fn unresolved(tensor: i32) -> Place {
        Place {
            offset: tensor as u32,
            tagged_len: 0,
        }
    }

    /// This place with another tag.
    pub(crate) fn with_tag(self, tag: u32) -> Place {
        Place {
            offset: self.offset,
            tagged_len: (tag << TAG_SHIFT) | (self.tagged_len & LEN_MASK),
        }
    }

    #[inline(always)]
    pub(crate) fn tag(self) -> u32 {
        self.tagged_len >> TAG_SHIFT
    }

    /// A variable input's rank by offset among the operator's ([`tag::STATE`]).
    #[inline(always)]
    pub(crate) fn state_rank(self) -> Option<usize> {
        let r = self.tag().wrapping_sub(tag::STATE) as usize;
        (r < MAX_MUT).then_some(r)
    }

    #[inline(always)]
    pub(crate) fn offset(self) -> usize {
        self.offset as usize
    }

    #[inline(always)]
    pub(crate) fn len(self) -> usize {
        (self.tagged_len & LEN_MASK) as usize
    }

    /// The bytes of this place in `region`.
    #[inline(always)]
    pub(crate) fn range(self) -> core::ops::Range<usize> {
        self.offset()..self.offset() + self.len()
    }
}

/// Ranks an operator's variable inputs ([`rank_state`], a registration's hook).
pub(crate) type RankFn = fn(&mut [Place]) -> Result<(), &'static str>;

/// How many places an operator takes: one per input and output, one for a scratch buffer.
pub(crate) fn count(num_inputs: usize, num_outputs: usize, scratch_bytes: usize) -> usize {
    num_inputs + num_outputs + usize::from(scratch_bytes > 0)
}

/// Why an operator's places cannot be resolved (none for a model `Model::parse` verified).
pub(crate) const INCONSISTENT: &str = "inconsistent memory plan";

/// Resolves one operator's `places` in place, from the tensor indices the prepare loop left
/// there ([`Place::unresolved`]: the inputs, then the outputs) and the planned `slots`;
/// `scratch` is the operator's scratch slot; `rank` ranks the variable inputs (the
/// registration's [`super::StateHooks`]). Returns whether an input is a variable tensor.
/// Not inlined: setup code, kept small.
#[inline(never)]
pub(crate) fn resolve(
    places: &mut [Place],
    num_inputs: usize,
    slots: &[Slot],
    scratch: &Slot,
    rank: Option<RankFn>,
) -> Result<bool, &'static str> {
    let (inputs, cuts) = places.split_at_mut(num_inputs.min(places.len()));
    let num_outputs = cuts.len() - usize::from(scratch.kind == kind::ACTIVATION);
    // The mutable buffers, each tagged with its index (outputs, then the scratch buffer),
    // sorted by (offset, length) with an insertion sort: at most MAX_MUT of them.
    if cuts.len() > MAX_MUT {
        return Err(INCONSISTENT);
    }
    for k in 0..cuts.len() {
        let slot = match k.checked_sub(num_outputs) {
            None => slots
                .get(cuts[k].offset())
                .filter(|s| s.kind == kind::ACTIVATION)
                .ok_or(INCONSISTENT)?,
            Some(_) => scratch,
        };
        let cut = Place::new(k as u32, slot.offset as usize, slot.size as usize);
        cuts[k] = cut.ok_or(INCONSISTENT)?;
        let mut j = k;
        while j > 0 && key(cuts[j - 1]) > key(cuts[j]) {
            cuts.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut has_state = false;
    for place in inputs.iter_mut() {
        let t = place.offset as i32;
        let slot = usize::try_from(t).ok().map(|t| slots.get(t));
        let resolved = match slot {
            None => Place::new(tag::ABSENT, 0, 0),
            Some(Some(s)) if s.kind == kind::CONSTANT => {
                Place::new(tag::CONSTANT, s.offset as usize, s.size as usize)
            }
            Some(Some(s)) if s.kind == kind::STATE => {
                has_state = true;
                Place::new(tag::STATE, s.offset as usize, s.size as usize)
            }
            Some(Some(s)) if s.kind == kind::ACTIVATION => in_gap(cuts, s),
            Some(_) => Place::new(tag::UNREADABLE, 0, 0),
        };
        *place = resolved.ok_or(INCONSISTENT)?;
    }
    if let (true, Some(rank)) = (has_state, rank) {
        rank(inputs)?;
    }
    Ok(has_state)
}

/// Tags each variable input with its rank by (offset, input index) among them. Out of line,
/// like [`resolve`]: setup code, kept small.
#[inline(never)]
pub(crate) fn rank_state(inputs: &mut [Place]) -> Result<(), &'static str> {
    let mut keys = [(0usize, 0usize); MAX_MUT];
    let mut n = 0;
    for (k, p) in inputs.iter().enumerate() {
        if p.tag() == tag::STATE {
            *keys.get_mut(n).ok_or(INCONSISTENT)? = (p.offset(), k);
            n += 1;
        }
    }
    let keys = keys.get(..n).unwrap_or_default();
    for &(offset, k) in keys {
        let rank = keys.iter().filter(|&&other| other < (offset, k)).count();
        if let Some(p) = inputs.get_mut(k) {
            *p = p.with_tag(tag::STATE + rank as u32);
        }
    }
    Ok(())
}

/// A cut's sort key: offset, then length (zero-length buffers first at an offset).
fn key(p: Place) -> (usize, usize) {
    (p.offset(), p.len())
}

/// The gap between the sorted `cuts` that holds the activation `s`, or unreadable when a cut
/// overlaps it.
fn in_gap(cuts: &[Place], s: &Slot) -> Option<Place> {
    let (start, end) = (s.offset as usize, s.offset as usize + s.size as usize);
    let mut base = 0;
    let mut gap = 0;
    for cut in cuts {
        if end <= cut.offset() {
            break;
        }
        if start < cut.offset() + cut.len() {
            return Place::new(tag::UNREADABLE, 0, 0);
        }
        base = cut.offset() + cut.len();
        gap += 1;
    }
    Place::new(tag::GAP + gap, start - base, s.size as usize)
}

/// Splits `region` at `cuts` (sorted by offset, each tagged with its buffer's index) into
/// the mutable buffers, by index, and the gaps between them, in order. `false` when a cut
/// does not fit (an inconsistent plan): some buffers are then missing.
#[inline(always)]
pub(crate) fn carve<'b>(
    region: &'b mut [u8],
    cuts: &[Place],
    gaps: &mut [&'b [u8]; MAX_MUT + 1],
    muts: &mut [Option<&'b mut [u8]>; MAX_MUT],
) -> bool {
    let mut rest = region;
    let mut base = 0;
    for (gap, cut) in gaps.iter_mut().zip(cuts) {
        let Some(skip) = cut.offset().checked_sub(base) else {
            return false;
        };
        let Some((before, tail)) = rest.split_at_mut_checked(skip) else {
            return false;
        };
        let Some((buffer, tail)) = tail.split_at_mut_checked(cut.len()) else {
            return false;
        };
        *gap = before;
        if let Some(m) = muts.get_mut(cut.tag() as usize) {
            *m = Some(buffer);
        }
        rest = tail;
        base = cut.offset() + cut.len();
    }
    match gaps.get_mut(cuts.len()) {
        Some(last) => {
            *last = rest;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn slot(kind: u16, offset: u32, size: u32) -> Slot {
        Slot {
            offset,
            size,
            kind,
            ..Slot::default()
        }
    }

    /// Outputs and scratch become cuts sorted by offset, each tagged with its buffer; inputs
    /// name their gap (offset from the gap's start), the model, the state, or nothing.
    #[test]
    fn resolves_cuts_and_gaps() {
        let slots = [
            slot(kind::ACTIVATION, 0, 16),   // 0: input below both cuts
            slot(kind::CONSTANT, 1000, 40),  // 1: weights
            slot(kind::ACTIVATION, 64, 32),  // 2: output 0
            slot(kind::ACTIVATION, 96, 16),  // 3: input between the cuts
            slot(kind::STATE, 32, 8),        // 4: variable input, after tensor 7's
            slot(kind::ACTIVATION, 120, 16), // 5: overlaps the scratch
            slot(kind::NONE, 0, 4),          // 6: no memory
            slot(kind::STATE, 0, 32),        // 7: variable input
        ];
        let scratch = slot(kind::ACTIVATION, 112, 16);
        let mut places = [0, 1, -1, 3, 4, 5, 6, 7, 2, 0].map(Place::unresolved);
        let has_state = resolve(&mut places, 8, &slots[..], &scratch, Some(rank_state)).unwrap();
        assert!(has_state);
        let p = |t, o, l| Place::new(t, o, l).unwrap();
        assert_eq!(
            places,
            [
                p(tag::GAP, 0, 16),
                p(tag::CONSTANT, 1000, 40),
                p(tag::ABSENT, 0, 0),
                p(tag::GAP + 1, 0, 16),
                p(tag::STATE + 1, 32, 8),
                p(tag::UNREADABLE, 0, 0),
                p(tag::UNREADABLE, 0, 0),
                p(tag::STATE, 0, 32),
                p(0, 64, 32),
                p(1, 112, 16),
            ]
        );
        // An output that is not an activation, a tensor index past the slots.
        let mut bad = [Place::unresolved(1)];
        assert_eq!(
            resolve(&mut bad, 0, &slots, &Slot::default(), None),
            Err(INCONSISTENT)
        );
        let mut bad = [Place::unresolved(99)];
        assert_eq!(
            resolve(&mut bad, 0, &slots, &Slot::default(), None),
            Err(INCONSISTENT)
        );
    }

    #[test]
    fn carves_buffers_by_index_and_gaps_in_order() {
        let mut region = [0u8; 64];
        for (i, b) in region.iter_mut().enumerate() {
            *b = i as u8;
        }
        let cuts = [Place::new(1, 8, 8).unwrap(), Place::new(0, 32, 4).unwrap()];
        let mut gaps = [&[][..]; MAX_MUT + 1];
        let mut muts: [Option<&mut [u8]>; MAX_MUT] = Default::default();
        assert!(carve(&mut region, &cuts, &mut gaps, &mut muts));
        assert_eq!(muts[0].as_deref(), Some(&[32u8, 33, 34, 35][..]));
        assert_eq!(muts[1].as_deref().map(|m| m[0]), Some(8));
        assert!(muts[2].is_none());
        assert_eq!(gaps[0].len(), 8);
        assert_eq!(gaps[1], &(16u8..32).collect::<std::vec::Vec<_>>()[..]);
        assert_eq!((gaps[2][0], gaps[2].len()), (36, 28));
        // Out of order, past the end: refused, never a panic.
        let mut gaps = [&[][..]; MAX_MUT + 1];
        let mut muts: [Option<&mut [u8]>; MAX_MUT] = Default::default();
        let backwards = [Place::new(0, 32, 4).unwrap(), Place::new(1, 8, 8).unwrap()];
        assert!(!carve(&mut region, &backwards, &mut gaps, &mut muts));
        let past = [Place::new(0, 60, 8).unwrap()];
        let mut gaps = [&[][..]; MAX_MUT + 1];
        let mut muts: [Option<&mut [u8]>; MAX_MUT] = Default::default();
        assert!(!carve(&mut region, &past, &mut gaps, &mut muts));
    }
}

//! The interpreter: runs a verified model in a caller-owned arena.
//!
//! `Interpreter::new` plans the arena, prepares every operator's constants once (fixed-point
//! multipliers, per-channel shifts), resolves where each operator's tensors are
//! (`ops::places`) and zeroes the state; `invoke` then only runs kernels.

use crate::arena::{align_up, kind, scratch_slot, Layout, OpSlot, Slot, ALIGN};
use crate::error::{Error, ParseErrorKind};
use crate::model::{Model, RecentTensors, Tensor};
use crate::ops::places::{self, Place};
use crate::ops::{self, OpIo};
use crate::types::{DType, Element};
use core::cell::Cell;

/// An interpreter over a caller-owned arena: the TFLite Micro shape (parse, create over an
/// arena, write inputs, `invoke`, read outputs).
pub struct Interpreter<'m, 'a> {
    model: Model<'m>,
    slots: &'a [Slot],
    ops: &'a [OpSlot],
    op_data: &'a [u8],
    /// The prepared-data region seen as places (`ops::places`): an operator's start at its
    /// slot's `places`.
    places: &'a [Place],
    state: &'a mut [u8],
    activations: &'a mut [u8],
    used: usize,
}

/// One operator output, or one variable tensor the operator reads and updates (an LSTM's or
/// SVDF's state, as the operator left it), shown to an observer after the operator ran.
pub struct Observation<'o, 'm> {
    pub operator: usize,
    pub tensor: Tensor<'m>,
    pub bytes: &'o [u8],
}

fn too_small(needed: usize, available: usize) -> Error {
    Error::ArenaTooSmall { needed, available }
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Plans `arena` for `model` and prepares every operator. The arena must hold
    /// `model.arena_size()` bytes (plus up to 15 when it does not start 16-byte aligned).
    pub fn new(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let available = arena.len();
        let skip = (arena.as_ptr() as usize).wrapping_neg() % ALIGN;
        let needed = || model.arena_size() + skip;
        if available < skip {
            return Err(too_small(needed(), available));
        }
        let arena = &mut arena[skip..];
        let n_tensors = model.num_tensors();
        let n_ops = model.num_operators();
        let n_slots = n_tensors + n_ops;
        let slot_bytes = align_up(n_slots * core::mem::size_of::<Slot>());
        if arena.len() < slot_bytes {
            return Err(too_small(needed(), available));
        }
        let (slot_region, rest) = arena.split_at_mut(slot_bytes);
        let slots: &mut [Slot] = bytemuck::try_cast_slice_mut(
            &mut slot_region[..n_slots * core::mem::size_of::<Slot>()],
        )
        .map_err(|_| internal("slot table misaligned"))?;
        // Every operator is prepared once, straight into its place after the operator table
        // (where the layout puts the prepared data); its scratch size goes to the planner.
        let fixed = Layout::fixed_parts(model);
        if rest.len() < fixed.op_table {
            return Err(too_small(needed(), available));
        }
        let (op_region, rest) = rest.split_at_mut(fixed.op_table);
        let op_slots: &mut [OpSlot] =
            bytemuck::try_cast_slice_mut(&mut op_region[..n_ops * core::mem::size_of::<OpSlot>()])
                .map_err(|_| internal("operator table misaligned"))?;
        let mut data_offset = 0usize;
        // The tensors' slots start unread; `prepare` fills those of the tensors it reads, and
        // the planner reads only the others.
        // Checked splits (here and after planning): no panic path, and its location's text.
        let (tensor_slots, scratch_slots) = slots
            .split_at_mut_checked(n_tensors)
            .ok_or(internal("slot table too short"))?;
        tensor_slots.fill(Slot::UNREAD);
        let tensor_slots = Cell::from_mut(tensor_slots).as_slice_of_cells();
        let recent = RecentTensors::new();
        for (i, slot) in op_slots.iter_mut().enumerate() {
            let op = model.operator(i);
            let at = |kind| model.operator_error(i, kind);
            // The model is verified: every operator has its registration.
            let (registration, kernel) = ops::position(model, op.code).ok_or_else(|| {
                at(ParseErrorKind::InvalidGraph {
                    what: "operator registration",
                })
            })?;
            let blob = rest.get_mut(data_offset..).unwrap_or_default();
            let needs =
                ops::prepare(kernel, model, &op, blob, tensor_slots, &recent).map_err(at)?;
            if needs.data_bytes > blob.len() {
                return Err(too_small(needed(), available));
            }
            if let Some(s) = scratch_slots.get_mut(i) {
                *s = scratch_slot(i, needs.scratch_bytes);
            }
            // The places hold the tensor indices until the plan resolves them.
            let places_at = needs.prepared_bytes.next_multiple_of(8);
            let room: &mut [Place] = blob
                .get_mut(places_at..needs.data_bytes)
                .and_then(|b| bytemuck::try_cast_slice_mut(b).ok())
                .ok_or(internal("operator places misaligned"))?;
            let tensors = op.inputs.iter().chain(op.outputs.iter());
            for (place, t) in room.iter_mut().zip(tensors) {
                *place = Place::unresolved(t);
            }
            let count = |n: usize| u16::try_from(n).map_err(|_| internal("too many operands"));
            *slot = OpSlot {
                kind: count(registration)?,
                flags: if needs.scratch_bytes > 0 {
                    OpSlot::HAS_SCRATCH
                } else {
                    0
                },
                num_inputs: count(op.inputs.len())?,
                num_outputs: count(op.outputs.len())?,
                data_offset: data_offset as u32,
                places: ((data_offset + places_at) / core::mem::size_of::<Place>()) as u32,
            };
            data_offset += align_up(needs.data_bytes);
        }
        let layout = Layout {
            op_data: data_offset,
            ..fixed
        }
        .with_activations(model, slots);
        // The slot and operator tables are in place: the rest of the layout must fit in what
        // follows them (checked splits: no panic path is linked).
        let plan_too_small = || too_small(layout.total + skip, available);
        let (data_region, rest) = rest
            .split_at_mut_checked(layout.op_data)
            .ok_or_else(plan_too_small)?;
        let (state, rest) = rest
            .split_at_mut_checked(layout.state)
            .ok_or_else(plan_too_small)?;
        let activations = rest
            .get_mut(..layout.activations)
            .ok_or_else(plan_too_small)?;
        // Every operator's tensors resolved to their places, now that the plan is known.
        let all_places: &mut [Place] = bytemuck::try_cast_slice_mut(&mut *data_region)
            .map_err(|_| internal("operator places misaligned"))?;
        let (tensor_slots, scratch_slots) = slots
            .split_at_checked(n_tensors)
            .ok_or(internal("slot table too short"))?;
        for (i, slot) in op_slots.iter_mut().enumerate() {
            let start = slot.places as usize;
            let own = all_places
                .get_mut(start..start + num_places(slot))
                .ok_or(internal("operator places out of range"))?;
            let scratch = scratch_slots.get(i).copied().unwrap_or_default();
            let hooks = model.registrations().get(slot.kind as usize);
            let rank = hooks.and_then(|r| r.state()).map(|h| h.rank);
            let inputs = slot.num_inputs as usize;
            let has_state = places::resolve(own, inputs, tensor_slots, &scratch, rank)
                .map_err(|what| Error::Internal { operator: i, what })?;
            if has_state {
                slot.flags |= OpSlot::HAS_STATE;
            }
        }
        let data_region: &'a [u8] = data_region;
        let mut interpreter = Interpreter {
            model: *model,
            slots,
            ops: op_slots,
            op_data: data_region,
            places: bytemuck::try_cast_slice(data_region)
                .map_err(|_| internal("operator places misaligned"))?,
            state,
            activations,
            used: layout.total,
        };
        interpreter.reset_state();
        Ok(interpreter)
    }

    /// The model this interpreter runs.
    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    /// Arena bytes in use (from the 16-byte aligned start).
    pub fn arena_used(&self) -> usize {
        self.used
    }

    /// Runs every operator once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.run::<fn(&Observation<'_, 'm>)>(None)
    }

    /// Runs every operator once, showing each operator's outputs, then its variable inputs
    /// (the state it updated), to `observer` right after the operator ran (calibration records
    /// ranges this way). Plain `invoke` compiles the
    /// observation away, so this needs no feature gate.
    pub fn invoke_observed(
        &mut self,
        mut observer: impl FnMut(&Observation<'_, 'm>),
    ) -> Result<(), Error> {
        self.run(Some(&mut observer))
    }

    fn run<F: FnMut(&Observation<'_, 'm>)>(
        &mut self,
        mut observer: Option<&mut F>,
    ) -> Result<(), Error> {
        let bytes = self.model.bytes();
        let (ops, places, op_data) = (self.ops, self.places, self.op_data);
        let registrations = self.model.registrations();
        for (i, op) in ops.iter().enumerate() {
            let start = op.places as usize;
            // The prepared data ends where the places start.
            let data = op_data
                .get(op.data_offset as usize..start * core::mem::size_of::<Place>())
                .ok_or(internal("operator data out of range"))?;
            let own = places
                .get(start..start + num_places(op))
                .ok_or(internal("operator places out of range"))?;
            let (inputs, cuts) = own
                .split_at_checked(op.num_inputs as usize)
                .unwrap_or_default();
            let registration = registrations
                .get(op.kind as usize)
                .ok_or(internal("no kernel"))?;
            let io = &mut OpIo::new(i, bytes, inputs, op.num_outputs as usize);
            io.split(cuts, &mut *self.activations);
            if op.flags & OpSlot::HAS_STATE != 0 {
                if let Some(hooks) = registration.state() {
                    io.split_state(&mut *self.state, hooks);
                }
            }
            if !io.is_valid() {
                return Err(internal("inconsistent memory plan"));
            }
            ops::eval(registration, io, data).map_err(|e| match e {
                Error::Internal { what, .. } => Error::Internal { operator: i, what },
                e => e,
            })?;
            let Some(observer) = observer.as_deref_mut() else {
                continue;
            };
            // The outputs, then the variable inputs (their slot is state memory).
            let (inputs, outputs) = self.model.operator_tensors(i);
            let slots = self.slots;
            let states = inputs.iter().filter(|&t| {
                usize::try_from(t)
                    .is_ok_and(|t| slots.get(t).is_some_and(|s| s.kind == kind::STATE))
            });
            for t in outputs
                .iter()
                .chain(states)
                .filter_map(|t| usize::try_from(t).ok())
            {
                if let Some(b) = self.tensor_bytes(t) {
                    observer(&Observation {
                        operator: i,
                        tensor: self.model.tensor(t),
                        bytes: b,
                    });
                }
            }
        }
        Ok(())
    }

    /// Sets every variable tensor to its zero point (a fresh start for stateful models such as
    /// SVDF and LSTM, which otherwise carry state from one invoke to the next).
    pub fn reset_state(&mut self) {
        for (t, slot) in self.slots.iter().enumerate().take(self.model.num_tensors()) {
            if slot.kind != kind::STATE {
                continue;
            }
            let tensor = self.model.kernel_tensor(t);
            let start = slot.offset as usize;
            let Some(bytes) = self.state.get_mut(start..start + slot.size as usize) else {
                continue;
            };
            fill_with_zero_point(bytes, tensor.dtype, tensor.quantization.zero_point());
        }
    }

    fn tensor_bytes(&self, t: usize) -> Option<&[u8]> {
        let s = self.slots.get(t)?;
        let range = s.offset as usize..(s.offset + s.size) as usize;
        match s.kind {
            kind::ACTIVATION => self.activations.get(range),
            kind::STATE => self.state.get(range),
            kind::CONSTANT => self.model.bytes().get(range),
            _ => None,
        }
    }

    fn io_index(&self, what: &'static str, i: usize) -> Result<usize, Error> {
        let (index, count) = if what == "input" {
            (self.model.input_index(i), self.model.num_inputs())
        } else {
            (self.model.output_index(i), self.model.num_outputs())
        };
        index.ok_or(Error::NoSuchTensor {
            what,
            index: i,
            count,
        })
    }

    /// Input `i`'s bytes, to write into before `invoke`.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let t = self.io_index("input", i)?;
        let s = self.slots.get(t).copied().ok_or(internal("no slot"))?;
        let range = s.offset as usize..(s.offset + s.size) as usize;
        match s.kind {
            kind::ACTIVATION => self.activations.get_mut(range),
            _ => None,
        }
        .ok_or(internal("input not in the arena"))
    }

    /// Output `i`'s bytes, valid after `invoke`.
    pub fn output_bytes(&self, i: usize) -> Result<&[u8], Error> {
        let t = self.io_index("output", i)?;
        self.tensor_bytes(t).ok_or(internal("output has no memory"))
    }

    fn check_type<T: Element>(&self, t: usize) -> Result<(), Error> {
        let expected = self
            .slots
            .get(t)
            .and_then(|s| DType::from_schema(s.dtype as i8))
            .ok_or(internal("no slot"))?;
        if expected != T::DTYPE {
            return Err(Error::TypeMismatch {
                tensor: t,
                expected,
                requested: T::DTYPE,
            });
        }
        Ok(())
    }

    /// Input `i` as a typed slice: `interpreter.input::<i8>(0)?`.
    pub fn input<T: Element>(&mut self, i: usize) -> Result<&mut [T], Error> {
        let t = self.io_index("input", i)?;
        self.check_type::<T>(t)?;
        bytemuck::try_cast_slice_mut(self.input_bytes_mut(i)?).map_err(|_| internal("misaligned"))
    }

    /// Output `i` as a typed slice: `interpreter.output::<f32>(0)?`.
    pub fn output<T: Element>(&self, i: usize) -> Result<&[T], Error> {
        let t = self.io_index("output", i)?;
        self.check_type::<T>(t)?;
        bytemuck::try_cast_slice(self.output_bytes(i)?).map_err(|_| internal("misaligned"))
    }
}

/// How many places operator `op` has: its inputs, outputs and scratch buffer.
/// A variable tensor's bytes at rest: its zero point in every element (int8 and int16), zeros
/// for the other types.
#[inline(always)]
fn fill_with_zero_point(bytes: &mut [u8], dtype: DType, zp: i32) {
    match dtype {
        DType::I8 => bytes.fill(zp as i8 as u8),
        DType::I16 => {
            // A zero point of two equal bytes (0, the usual one) is a `memset`; the others are
            // written a pair at a time in a loop kept rolled (unrolled, it was 0.1 KB on every
            // firmware for a rare case).
            let pair = (zp as i16).to_le_bytes();
            if pair[0] == pair[1] {
                bytes.fill(pair[0]);
            } else {
                for c in bytes.chunks_exact_mut(2) {
                    crate::rolled::keep_rolled();
                    c.copy_from_slice(&pair);
                }
            }
        }
        _ => bytes.fill(0),
    }
}

fn num_places(op: &OpSlot) -> usize {
    let scratch = usize::from(op.flags & OpSlot::HAS_SCRATCH != 0);
    op.num_inputs as usize + op.num_outputs as usize + scratch
}

fn internal(what: &'static str) -> Error {
    Error::Internal {
        operator: usize::MAX,
        what,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Runs `check` on an interpreter of every fixture model (`tests/fixtures/{ops,tflm}`),
    /// with the model's file name; returns how many there were.
    fn for_each_fixture(
        mut check: impl FnMut(&str, &Model<'_>, &mut Interpreter<'_, '_>),
    ) -> usize {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut count = 0;
        for sub in ["ops", "tflm"] {
            for entry in std::fs::read_dir(std::format!("{dir}/{sub}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "tflite") {
                    continue;
                }
                let name = std::format!("{}", path.display());
                let bytes = std::fs::read(&path).unwrap();
                // Constant data must be aligned in memory: the bytes go to 16-byte words.
                let mut words = std::vec![0u128; bytes.len().div_ceil(16)];
                let aligned: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
                aligned[..bytes.len()].copy_from_slice(&bytes);
                let model =
                    Model::parse(&aligned[..bytes.len()]).unwrap_or_else(|e| panic!("{name}: {e}"));
                let mut arena = std::vec![0u128; model.arena_size().div_ceil(16)];
                let mut interpreter =
                    Interpreter::new(&model, bytemuck::cast_slice_mut(&mut arena))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                check(&name, &model, &mut interpreter);
                count += 1;
            }
        }
        count
    }

    /// The slot table `Interpreter::new` plans (the slots of the tensors `prepare` read
    /// filled by `arena::tensor_slot`, the others by the planner) is the one the standalone
    /// planner computes reading every tensor (`arena_size()`'s path), on every fixture model.
    #[test]
    fn prepared_slots_equal_the_planners() {
        let checked = for_each_fixture(|name, model, interpreter| {
            let mut planned = std::vec![Slot::UNREAD; model.num_tensors() + model.num_operators()];
            Layout::compute(model, &mut planned);
            let as_bytes = |s: &[Slot]| bytemuck::cast_slice::<Slot, u8>(s).to_vec();
            assert_eq!(as_bytes(interpreter.slots), as_bytes(&planned), "{name}");
        });
        assert!(checked >= 150, "only {checked} fixture models");
    }

    /// `reset_state` fills every variable tensor with its zero point, on the fixture models'
    /// state after scribbling over it.
    #[test]
    fn reset_state_fills_each_variable_tensor_with_its_zero_point() {
        let mut states = 0;
        for_each_fixture(|name, model, interpreter| {
            interpreter.state.fill(0x5a);
            interpreter.reset_state();
            for (t, slot) in interpreter
                .slots
                .iter()
                .enumerate()
                .take(model.num_tensors())
            {
                if slot.kind != kind::STATE {
                    continue;
                }
                let tensor = model.kernel_tensor(t);
                let zp = tensor.quantization.zero_point();
                let start = slot.offset as usize;
                let got = &interpreter.state[start..start + slot.size as usize];
                let want: std::vec::Vec<u8> = match tensor.dtype {
                    DType::I8 => std::vec![zp as i8 as u8; got.len()],
                    DType::I16 => (zp as i16).to_le_bytes().repeat(got.len() / 2),
                    _ => std::vec![0; got.len()],
                };
                assert_eq!(got, &want[..], "{name} tensor {t}");
                states += 1;
            }
        });
        assert!(states > 0, "no fixture model has variable tensors");
    }

    /// int16 zero points of equal bytes (the `memset` path) and of unequal ones (the pair
    /// loop), int8 and other types.
    #[test]
    fn zero_point_fill_by_type() {
        let fill = |dtype, zp, len| {
            let mut b = std::vec![0x5au8; len];
            fill_with_zero_point(&mut b, dtype, zp);
            b
        };
        assert_eq!(fill(DType::I16, 0, 6), [0; 6]);
        assert_eq!(fill(DType::I16, -1, 4), [0xff; 4]);
        assert_eq!(fill(DType::I16, 0x0101, 4), [1; 4]);
        assert_eq!(
            fill(DType::I16, 300, 6),
            [0x2c, 0x01, 0x2c, 0x01, 0x2c, 0x01]
        );
        assert_eq!(fill(DType::I16, -300, 4), [0xd4, 0xfe, 0xd4, 0xfe]);
        // An odd length leaves its last byte (no whole element there).
        assert_eq!(fill(DType::I16, 300, 3), [0x2c, 0x01, 0x5a]);
        assert_eq!(fill(DType::I8, -5, 3), [0xfb; 3]);
        assert_eq!(fill(DType::F32, 7, 4), [0; 4]);
    }
}

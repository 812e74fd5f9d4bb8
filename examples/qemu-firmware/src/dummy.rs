//! `--features dummy`: a stand-in with the interpreter's API, to test the harness (SysTick,
//! stack painting, output, comparison) without tflm-runtime. Outputs are a checksum of the
//! inputs, so the comparison with real expected outputs fails: that is expected.
use crate::data;

#[derive(Debug)]
pub struct Error;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("dummy error")
    }
}

pub struct Model<'m> {
    bytes: &'m [u8],
}

impl<'m> Model<'m> {
    pub fn parse(bytes: &'m [u8]) -> Result<Self, Error> {
        if bytes.len() < 8 || &bytes[4..8] != b"TFL3" {
            return Err(Error);
        }
        Ok(Model { bytes })
    }
    pub fn arena_size(&self) -> usize {
        let size = |m: &crate::TensorMeta| {
            m.shape.iter().map(|&d| d.max(1) as usize).product::<usize>() * crate::elem_size(m.dtype)
        };
        let total: usize =
            data::INPUT_META.iter().map(size).sum::<usize>() + data::OUTPUT_META.iter().map(size).sum::<usize>();
        (total + 15) & !15
    }
    pub fn num_inputs(&self) -> usize {
        data::NUM_INPUTS
    }
    pub fn num_outputs(&self) -> usize {
        data::NUM_OUTPUTS
    }
}

/// The runtime's `Interpreter<'model, 'arena>`.
pub struct Interpreter<'m, 'a> {
    model: Model<'m>,
    arena: &'a mut [u8],
    spans: [(usize, usize); 16],
}

impl<'m, 'a> Interpreter<'m, 'a> {
    pub fn new(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let mut spans = [(0, 0); 16];
        let mut at = 0;
        for (k, m) in data::INPUT_META.iter().chain(data::OUTPUT_META.iter()).enumerate() {
            let n = m.shape.iter().map(|&d| d.max(1) as usize).product::<usize>() * crate::elem_size(m.dtype);
            *spans.get_mut(k).ok_or(Error)? = (at, n);
            at += n;
        }
        if at > arena.len() {
            return Err(Error);
        }
        Ok(Interpreter { model: Model { bytes: model.bytes }, arena, spans })
    }
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let (o, n) = self.spans[i];
        Ok(&mut self.arena[o..o + n])
    }
    pub fn output_bytes(&self, i: usize) -> Result<&[u8], Error> {
        let (o, n) = self.spans[data::NUM_INPUTS + i];
        Ok(&self.arena[o..o + n])
    }
    /// Deterministic busy work: an FNV-style hash of the model and the inputs.
    #[inline(never)]
    pub fn invoke(&mut self) -> Result<(), Error> {
        let mut h: u32 = 0x811c_9dc5;
        for &b in self.model.bytes {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
        let n_in: usize = self.spans[..data::NUM_INPUTS].iter().map(|s| s.1).sum();
        for &b in &self.arena[..n_in] {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
        for i in 0..data::NUM_OUTPUTS {
            let (o, n) = self.spans[data::NUM_INPUTS + i];
            for (k, b) in self.arena[o..o + n].iter_mut().enumerate() {
                *b = (h >> (8 * (k % 4))) as u8;
            }
        }
        Ok(())
    }
    pub fn reset_state(&mut self) {}
}

impl Interpreter<'_, '_> {
    pub fn arena_used(&self) -> usize {
        self.model.arena_size()
    }
}

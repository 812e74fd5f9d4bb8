//! A bounds-checked, zero-copy reader of the FlatBuffers wire format: just tables, vectors,
//! strings and scalars, which is all the TFLite schema needs.
//!
//! Every read is checked against the buffer and returns `Err(Malformed)` instead of reading out
//! of bounds, so a corrupt model can never make the reader panic. Tables already checked once
//! can be reopened without their vtable checks ([`Tables::get_verified`]); their reads stay
//! bounds-checked. The `flatbuffers` crate would
//! pull in `alloc` on the target, which is why this exists (see DESIGN.md).

/// What went wrong while following an offset; the model reader adds where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// An offset, vtable, vector or string points outside the buffer.
    OutOfBounds,
    /// A vtable is shorter than its header, odd-sized or claims an impossible table size.
    BadVtable,
    /// A field lies outside the table's own bytes.
    FieldOutsideTable,
    /// A string is not UTF-8.
    BadUtf8,
}

pub type Result<T> = core::result::Result<T, Malformed>;

#[inline]
fn read_bytes<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N]> {
    let end = pos.checked_add(N).ok_or(Malformed::OutOfBounds)?;
    let bytes = buf.get(pos..end).ok_or(Malformed::OutOfBounds)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

#[inline]
pub fn read_u32(buf: &[u8], pos: usize) -> Result<u32> {
    read_bytes::<4>(buf, pos).map(u32::from_le_bytes)
}

#[inline]
pub fn read_i32(buf: &[u8], pos: usize) -> Result<i32> {
    read_bytes::<4>(buf, pos).map(i32::from_le_bytes)
}

#[inline]
fn read_u16(buf: &[u8], pos: usize) -> Result<u16> {
    read_bytes::<2>(buf, pos).map(u16::from_le_bytes)
}

/// A little-endian scalar that can sit in a table field or a vector.
pub trait Scalar: Copy + 'static {
    const SIZE: usize;
    fn read(buf: &[u8], pos: usize) -> Result<Self>;
    /// The value of exactly `SIZE` bytes (a vector's element; cannot fail on such a slice).
    fn from_chunk(chunk: &[u8]) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            #[inline]
            fn read(buf: &[u8], pos: usize) -> Result<Self> {
                read_bytes::<{ core::mem::size_of::<$t>() }>(buf, pos).map(<$t>::from_le_bytes)
            }
            #[inline]
            fn from_chunk(chunk: &[u8]) -> Self {
                <$t>::from_le_bytes(chunk.try_into().unwrap_or_default())
            }
        }
    )*};
}
scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32);

impl Scalar for bool {
    const SIZE: usize = 1;
    #[inline]
    fn read(buf: &[u8], pos: usize) -> Result<Self> {
        u8::read(buf, pos).map(|b| b != 0)
    }
    #[inline]
    fn from_chunk(chunk: &[u8]) -> Self {
        chunk.first().is_some_and(|&b| b != 0)
    }
}

/// `table_len` of a table opened by [`Table::verified_at`]: its fields were checked to lie
/// inside it before, so no bound is kept.
const VERIFIED: usize = usize::MAX;

/// A table: its position and the vtable that says where each field is.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a finished buffer.
    pub fn root(buf: &'a [u8]) -> Result<Table<'a>> {
        let off = read_u32(buf, 0)? as usize;
        Table::at(buf, off)
    }

    /// The table starting at `pos`, with its vtable checked.
    pub fn at(buf: &'a [u8], pos: usize) -> Result<Table<'a>> {
        let soffset = read_i32(buf, pos)? as i64;
        let vtable = pos as i64 - soffset;
        if vtable < 0 {
            return Err(Malformed::OutOfBounds);
        }
        let vtable = vtable as usize;
        let vtable_len = read_u16(buf, vtable)? as usize;
        let table_len = read_u16(buf, vtable + 2)? as usize;
        if vtable_len < 4 || !vtable_len.is_multiple_of(2) || table_len < 4 {
            return Err(Malformed::BadVtable);
        }
        if vtable
            .checked_add(vtable_len)
            .is_none_or(|end| end > buf.len())
            || pos.checked_add(table_len).is_none_or(|end| end > buf.len())
        {
            return Err(Malformed::OutOfBounds);
        }
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
            table_len,
        })
    }

    /// The table at `pos` of a buffer whose tables were all opened with [`Table::at`] before
    /// (`Model::parse` checks every table the views reopen, and the bytes are immutable):
    /// finds the vtable and its length, nothing else. Not a way around the checks: a wrong
    /// position still gives `Err` (every read stays bounds-checked), never a panic; only the
    /// vtable's sanity and the fields' containment in the table, which [`Table::at`] and
    /// `field` checked on these same bytes, are not checked again.
    pub fn verified_at(buf: &'a [u8], pos: usize) -> Result<Table<'a>> {
        let soffset = read_i32(buf, pos)? as isize;
        let vtable = (pos as isize).wrapping_sub(soffset) as usize;
        let vtable_len = read_u16(buf, vtable)? as usize;
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
            table_len: VERIFIED,
        })
    }

    /// Byte position of the table in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Absolute position of field `id` holding `size` bytes, or `None` when absent.
    fn field(&self, id: u16, size: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * id as usize;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let rel = read_u16(self.buf, self.vtable + slot)? as usize;
        if rel == 0 {
            return Ok(None);
        }
        if rel < 4 || rel + size > self.table_len {
            return Err(Malformed::FieldOutsideTable);
        }
        Ok(Some(self.pos + rel))
    }

    /// A scalar field, or `default` when absent.
    pub fn scalar<T: Scalar>(&self, id: u16, default: T) -> Result<T> {
        match self.field(id, T::SIZE)? {
            Some(p) => T::read(self.buf, p),
            None => Ok(default),
        }
    }

    /// The `size` bytes of field `id`, or `None` when absent (a scalar's bytes, for a
    /// caller that decodes them itself with [`Scalar::from_chunk`]).
    pub fn field_bytes(&self, id: u16, size: usize) -> Result<Option<&'a [u8]>> {
        let Some(p) = self.field(id, size)? else {
            return Ok(None);
        };
        let end = p.checked_add(size).ok_or(Malformed::OutOfBounds)?;
        self.buf.get(p..end).map(Some).ok_or(Malformed::OutOfBounds)
    }

    /// Follows an offset field to its target position.
    fn target(&self, id: u16) -> Result<Option<usize>> {
        let Some(p) = self.field(id, 4)? else {
            return Ok(None);
        };
        let off = read_u32(self.buf, p)? as usize;
        let t = p.checked_add(off).ok_or(Malformed::OutOfBounds)?;
        if t >= self.buf.len() {
            return Err(Malformed::OutOfBounds);
        }
        Ok(Some(t))
    }

    /// A sub-table field (of a verified table, opened as verified too).
    pub fn table(&self, id: u16) -> Result<Option<Table<'a>>> {
        match self.target(id)? {
            Some(t) if self.table_len == VERIFIED => Table::verified_at(self.buf, t).map(Some),
            Some(t) => Table::at(self.buf, t).map(Some),
            None => Ok(None),
        }
    }

    /// A vector-of-scalars field.
    pub fn vector<T: Scalar>(&self, id: u16) -> Result<Option<Vector<'a, T>>> {
        match self.target(id)? {
            Some(t) => Vector::at(self.buf, t).map(Some),
            None => Ok(None),
        }
    }

    /// A vector-of-tables field.
    pub fn tables(&self, id: u16) -> Result<Option<Tables<'a>>> {
        match self.target(id)? {
            Some(t) => Vector::<u32>::at(self.buf, t).map(|v| Some(Tables(v))),
            None => Ok(None),
        }
    }

    /// A `[ubyte]` field as a byte slice.
    pub fn bytes(&self, id: u16) -> Result<Option<&'a [u8]>> {
        Ok(self.vector::<u8>(id)?.map(|v| v.as_bytes()))
    }

    /// A string field.
    pub fn string(&self, id: u16) -> Result<Option<&'a str>> {
        match self.bytes(id)? {
            Some(b) => core::str::from_utf8(b)
                .map(Some)
                .map_err(|_| Malformed::BadUtf8),
            None => Ok(None),
        }
    }
}

/// A vector of little-endian scalars, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Vector<'a, T> {
    bytes: &'a [u8],
    /// Position of the first element in the whole buffer.
    start: usize,
    _t: core::marker::PhantomData<T>,
}

impl<'a, T: Scalar> Vector<'a, T> {
    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let len = read_u32(buf, pos)? as usize;
        let start = pos + 4;
        let end = len
            .checked_mul(T::SIZE)
            .and_then(|n| n.checked_add(start))
            .ok_or(Malformed::OutOfBounds)?;
        let bytes = buf.get(start..end).ok_or(Malformed::OutOfBounds)?;
        Ok(Vector {
            bytes,
            start,
            _t: core::marker::PhantomData,
        })
    }

    /// An empty vector, for absent optional fields.
    pub const fn empty() -> Self {
        Vector {
            bytes: &[],
            start: 0,
            _t: core::marker::PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / T::SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Element `i`, or `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<T> {
        T::read(self.bytes, i.checked_mul(T::SIZE)?).ok()
    }

    /// The elements in order. Walks the bytes in element-sized chunks, so no element read
    /// needs a bounds check that could fail (each cost a branch in every loop over a vector).
    pub fn iter(&self) -> impl Iterator<Item = T> + 'a {
        self.bytes.chunks_exact(T::SIZE).map(T::from_chunk)
    }

    /// Position of the first element in the whole buffer.
    pub fn position(&self) -> usize {
        self.start
    }

    /// The raw little-endian bytes of the elements.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A vector of tables; each element is checked when it is opened.
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a>(Vector<'a, u32>);

impl<'a> Tables<'a> {
    pub const fn empty() -> Self {
        Tables(Vector::empty())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Opens table `i`: its offset is relative to its own slot.
    pub fn get(&self, buf: &'a [u8], i: usize) -> Result<Table<'a>> {
        let off = self.0.get(i).ok_or(Malformed::OutOfBounds)? as usize;
        let slot = self.0.start + 4 * i;
        Table::at(buf, slot.checked_add(off).ok_or(Malformed::OutOfBounds)?)
    }

    /// Table `i` of a vector whose tables were all opened with [`Tables::get`] before
    /// ([`Table::verified_at`]).
    pub fn get_verified(&self, buf: &'a [u8], i: usize) -> Result<Table<'a>> {
        let off = self.0.get(i).ok_or(Malformed::OutOfBounds)? as usize;
        Table::verified_at(buf, (self.0.start + 4 * i).wrapping_add(off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled buffer: root table with a u32 field (id 0 = 7) and a vector of i32
    /// (id 1 = [1, -2]) and a string (id 2 = "hi").
    fn sample() -> [u8; 48] {
        let mut b = [0u8; 48];
        // root offset -> table at 16
        b[0..4].copy_from_slice(&16u32.to_le_bytes());
        // vtable at 4: len 10, table len 16, field0 @4, field1 @8, field2 @12
        b[4..6].copy_from_slice(&10u16.to_le_bytes());
        b[6..8].copy_from_slice(&16u16.to_le_bytes());
        b[8..10].copy_from_slice(&4u16.to_le_bytes());
        b[10..12].copy_from_slice(&8u16.to_le_bytes());
        b[12..14].copy_from_slice(&12u16.to_le_bytes());
        // table at 16: soffset = 16 - 4 = 12
        b[16..20].copy_from_slice(&12i32.to_le_bytes());
        b[20..24].copy_from_slice(&7u32.to_le_bytes());
        // field1 at 24 -> vector at 32: off 8
        b[24..28].copy_from_slice(&8u32.to_le_bytes());
        // field2 at 28 -> string at 44? off 12 -> 40
        b[28..32].copy_from_slice(&12u32.to_le_bytes());
        b[32..36].copy_from_slice(&2u32.to_le_bytes());
        b[36..40].copy_from_slice(&1i32.to_le_bytes());
        b[40..44].copy_from_slice(&2u32.to_le_bytes()); // overlaps vector's 2nd element
        b[44..46].copy_from_slice(b"hi");
        b
    }

    #[test]
    fn reads_fields() {
        let b = sample();
        let t = Table::root(&b).unwrap();
        assert_eq!(t.scalar::<u32>(0, 0).unwrap(), 7);
        let v = t.vector::<i32>(1).unwrap().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.get(0), Some(1));
        assert_eq!(v.get(1), Some(2));
        assert_eq!(v.get(2), None);
        let mut elements = v.iter();
        assert_eq!(
            (elements.next(), elements.next(), elements.next()),
            (Some(1), Some(2), None)
        );
        // The same bytes as other element types: chunks of each type's size.
        let bytes = t.vector::<u8>(1).unwrap().unwrap();
        assert_eq!(bytes.len(), 2);
        let flags = t.vector::<bool>(1).unwrap().unwrap();
        let mut flags = flags.iter();
        assert_eq!(
            (flags.next(), flags.next(), flags.next()),
            (Some(true), Some(false), None)
        );
        assert_eq!(t.string(2).unwrap(), Some("hi"));
        // Absent field beyond the vtable: default.
        assert_eq!(t.scalar::<i32>(9, -5).unwrap(), -5);
        // A scalar's raw bytes; none for an absent field; a field past its table refused.
        assert_eq!(t.field_bytes(0, 4).unwrap(), Some(&7u32.to_le_bytes()[..]));
        assert_eq!(t.field_bytes(9, 4).unwrap(), None);
        assert_eq!(
            t.field_bytes(2, 16).unwrap_err(),
            Malformed::FieldOutsideTable
        );
    }

    #[test]
    fn rejects_out_of_bounds() {
        let b = sample();
        assert_eq!(Table::root(&b[..10]).unwrap_err(), Malformed::OutOfBounds);
        let mut c = b;
        c[32..36].copy_from_slice(&1000u32.to_le_bytes());
        let t = Table::root(&c).unwrap();
        assert_eq!(t.vector::<i32>(1).unwrap_err(), Malformed::OutOfBounds);
        let mut d = b;
        d[4..6].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(Table::root(&d).unwrap_err(), Malformed::BadVtable);
        let mut e = b;
        e[8..10].copy_from_slice(&15u16.to_le_bytes());
        let t = Table::root(&e).unwrap();
        assert_eq!(
            t.scalar::<u32>(0, 0).unwrap_err(),
            Malformed::FieldOutsideTable
        );
    }

    #[test]
    fn verified_tables_read_the_same_fields() {
        let b = sample();
        let t = Table::verified_at(&b, 16).unwrap();
        assert_eq!(t.scalar::<u32>(0, 0).unwrap(), 7);
        let v = t.vector::<i32>(1).unwrap().unwrap();
        assert_eq!((v.get(0), v.get(1), v.get(2)), (Some(1), Some(2), None));
        assert_eq!(t.string(2).unwrap(), Some("hi"));
        assert_eq!(t.scalar::<i32>(9, -5).unwrap(), -5);
    }

    /// Opened at a wrong place, or in corrupt bytes, a verified table still never panics:
    /// every read is an `Err` or some in-bounds value.
    #[test]
    fn verified_tables_at_any_place_never_panic() {
        let mut b = sample();
        for byte in 0..b.len() {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let saved = b[byte];
                b[byte] = value;
                for len in [b.len(), 20, 6] {
                    for pos in 0..=len + 1 {
                        if let Ok(t) = Table::verified_at(&b[..len], pos) {
                            let _ = t.scalar::<u64>(0, 0);
                            let _ = t.vector::<i32>(1).map(|v| v.map(|v| v.iter().count()));
                            let _ = t.string(2);
                            let _ = t.table(1);
                        }
                    }
                }
                b[byte] = saved;
            }
        }
        let v = Table::root(&b).unwrap().tables(1).unwrap().unwrap();
        assert!(v.get_verified(&b, 5).is_err());
    }
}

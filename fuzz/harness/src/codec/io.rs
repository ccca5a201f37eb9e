//! Fixed-width reads through `arbitrary::Unstructured` and the matching writes.
//!
//! `arbitrary` 1.5 reads integers little-endian and pads with zeros when the data runs out,
//! so every read succeeds and the writer only has to emit the same little-endian bytes.

use arbitrary::Unstructured;

/// Reads fixed-width little-endian integers; never fails (zero once the data is exhausted).
pub(super) struct Reader<'a, 'b> {
    u: &'b mut Unstructured<'a>,
}

impl<'a, 'b> Reader<'a, 'b> {
    /// Wrap an `Unstructured`.
    pub(super) fn new(u: &'b mut Unstructured<'a>) -> Self {
        Reader { u }
    }

    /// Is the data exhausted?
    pub(super) fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    pub(super) fn u8(&mut self) -> u8 {
        self.u.arbitrary::<u8>().unwrap_or(0)
    }

    pub(super) fn u16(&mut self) -> u16 {
        self.u.arbitrary::<u16>().unwrap_or(0)
    }

    pub(super) fn u32(&mut self) -> u32 {
        self.u.arbitrary::<u32>().unwrap_or(0)
    }

    pub(super) fn u64(&mut self) -> u64 {
        self.u.arbitrary::<u64>().unwrap_or(0)
    }
}

/// The encoder's output: the exact bytes the [`Reader`] consumes.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) out: Vec<u8>,
}

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(super) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Which bucket a selector byte falls in: the last `i` with `starts[i] <= sel`.
/// `starts` is ascending and begins with 0; the encoder writes `starts[i]` to pick bucket `i`.
pub(super) fn bucket(sel: u8, starts: &[u8]) -> usize {
    starts.iter().rposition(|&s| s <= sel).unwrap_or(0)
}

//! Sparse frame contents (design §3.10): a 4-level radix directory indexed by PFN, 10 bits per
//! level over the 40-bit PFN space, so a lookup is four indexed loads and untouched memory
//! costs nothing. The leaves of PFNs below 2^26 (256 GiB) are also reachable through one flat
//! table, grown to the highest leaf touched, so that the frames of every usual machine are two
//! indexed loads away. Each frame is a uniform fill (poison `0xaa` or zero) until its first
//! write, then a boxed `[u64; 512]` (little-endian words, so table entries read directly).
//!
//! `design §N` cites a section of `docs/design.md`.

use crate::addr::{ENTRIES_PER_TABLE, MAX_PFN, PAGE_SIZE};

/// `PAGE_POISON`: what a free page reads as (design §3.10).
pub const POISON_BYTE: u8 = 0xaa;
/// A poisoned 8-byte word.
pub const POISON_WORD: u64 = u64::from_ne_bytes([POISON_BYTE; 8]);

const BITS: u32 = 10;
const FAN: usize = 1 << BITS;
const MASK: u64 = (FAN as u64) - 1;

/// The contents of one frame: a uniform fill until the first write, then the written words.
#[derive(Debug, Clone, Default)]
pub(crate) struct Content {
    /// The words, once written at least once.
    data: Option<Box<[u64; ENTRIES_PER_TABLE]>>,
    /// Uniform fill while `data` is `None`: zero if true, poison otherwise.
    zero: bool,
}

impl Content {
    const POISON: Content = Content {
        data: None,
        zero: false,
    };

    #[inline]
    fn fill_word(&self) -> u64 {
        if self.zero {
            0
        } else {
            POISON_WORD
        }
    }

    /// Word `i` (taken modulo 512).
    #[inline]
    pub(crate) fn word(&self, i: usize) -> u64 {
        match &self.data {
            Some(d) => d[i % ENTRIES_PER_TABLE],
            None => self.fill_word(),
        }
    }

    /// Writes word `i` (taken modulo 512).
    #[inline]
    pub(crate) fn set_word(&mut self, i: usize, v: u64) {
        // Fast path: writing what a uniform fill already holds keeps the fill.
        if self.data.is_none() && v == self.fill_word() {
            return;
        }
        self.materialize()[i % ENTRIES_PER_TABLE] = v;
    }

    fn materialize(&mut self) -> &mut [u64; ENTRIES_PER_TABLE] {
        let fill = self.fill_word();
        self.data
            .get_or_insert_with(|| Box::new([fill; ENTRIES_PER_TABLE]))
    }
}

type Leaf = [Content; FAN];
type Dir<T> = [Option<Box<T>>; FAN];

/// PFNs below this have their leaf in [`FrameStore::low`] (at most 2^16 leaf links, 512 KiB).
const LOW_LIMIT: u64 = 1 << 26;

/// Frame contents for the whole 40-bit PFN space, stored sparsely.
#[derive(Debug, Default)]
pub(crate) struct FrameStore {
    /// The leaves of PFNs below [`LOW_LIMIT`], by `pfn >> 10`.
    low: Vec<Option<Box<Leaf>>>,
    /// The leaves of higher PFNs, through the directory.
    top: Vec<Option<Box<Dir<Dir<Leaf>>>>>,
}

fn split(pfn: u64) -> (usize, usize, usize, usize) {
    (
        ((pfn >> (3 * BITS)) & MASK) as usize,
        ((pfn >> (2 * BITS)) & MASK) as usize,
        ((pfn >> BITS) & MASK) as usize,
        (pfn & MASK) as usize,
    )
}

fn new_dir<T>() -> Box<Dir<T>> {
    Box::new([const { None }; FAN])
}

fn new_leaf() -> Box<Leaf> {
    Box::new([const { Content::POISON }; FAN])
}

impl FrameStore {
    pub(crate) fn new() -> Self {
        FrameStore {
            low: Vec::new(),
            top: Vec::new(),
        }
    }

    /// The contents of `pfn` if they were ever set (`None`: an untouched frame, all poison).
    #[inline]
    pub(crate) fn get(&self, pfn: u64) -> Option<&Content> {
        if pfn < LOW_LIMIT {
            let leaf = self.low.get((pfn >> BITS) as usize)?.as_deref()?;
            return Some(&leaf[(pfn & MASK) as usize]);
        }
        if pfn >= MAX_PFN {
            return None;
        }
        let (a, b, c, d) = split(pfn);
        let l1 = self.top.get(a)?.as_deref()?;
        let l2 = l1[b].as_deref()?;
        let leaf = l2[c].as_deref()?;
        Some(&leaf[d])
    }

    /// [`FrameStore::get`], mutable: one lookup for a run of reads and writes in one frame.
    /// Creates nothing.
    #[inline]
    pub(crate) fn slot_mut(&mut self, pfn: u64) -> Option<&mut Content> {
        if pfn < LOW_LIMIT {
            let leaf = self.low.get_mut((pfn >> BITS) as usize)?.as_deref_mut()?;
            return Some(&mut leaf[(pfn & MASK) as usize]);
        }
        if pfn >= MAX_PFN {
            return None;
        }
        let (a, b, c, d) = split(pfn);
        let l1 = self.top.get_mut(a)?.as_deref_mut()?;
        let l2 = l1[b].as_deref_mut()?;
        let leaf = l2[c].as_deref_mut()?;
        Some(&mut leaf[d])
    }

    /// The slot of `pfn`, created on demand. Callers pass existing frames only (below
    /// [`MAX_PFN`]); a wider value would alias, so it is truncated explicitly.
    fn get_mut(&mut self, pfn: u64) -> &mut Content {
        let pfn = pfn & (MAX_PFN - 1);
        if pfn < LOW_LIMIT {
            let i = (pfn >> BITS) as usize;
            if self.low.len() <= i {
                self.low.resize_with(i + 1, || None);
            }
            let leaf = self.low[i].get_or_insert_with(new_leaf);
            return &mut leaf[(pfn & MASK) as usize];
        }
        let (a, b, c, d) = split(pfn);
        if self.top.len() <= a {
            self.top.resize_with(a + 1, || None);
        }
        let l1 = self.top[a].get_or_insert_with(new_dir);
        let l2 = l1[b].get_or_insert_with(new_dir);
        let leaf = l2[c].get_or_insert_with(new_leaf);
        &mut leaf[d]
    }

    /// Word `i` (0..512) of frame `pfn`. Untouched frames read as poison.
    #[inline]
    pub(crate) fn word(&self, pfn: u64, i: usize) -> u64 {
        match self.get(pfn) {
            Some(c) => c.word(i),
            None => POISON_WORD,
        }
    }

    /// Writes word `i` of frame `pfn`.
    pub(crate) fn set_word(&mut self, pfn: u64, i: usize, v: u64) {
        self.get_mut(pfn).set_word(i, v);
    }

    /// Sets the whole frame to a uniform fill (drops any written data).
    pub(crate) fn fill(&mut self, pfn: u64, zero: bool) {
        let fill = Content { data: None, zero };
        match self.slot_mut(pfn) {
            Some(c) => *c = fill,
            // Poison is what an untouched frame holds: no directory nodes just for that.
            None if !zero => {}
            None => *self.get_mut(pfn) = fill,
        }
    }

    /// Byte `off` (0..4096) of frame `pfn`.
    pub(crate) fn byte(&self, pfn: u64, off: u64) -> u8 {
        let off = off % PAGE_SIZE;
        let w = self.word(pfn, (off / 8) as usize);
        w.to_le_bytes()[(off % 8) as usize]
    }

    /// Writes bytes starting at `off` inside frame `pfn`; `off + data.len() <= 4096`.
    pub(crate) fn write_bytes(&mut self, pfn: u64, off: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let words = self.get_mut(pfn).materialize();
        for (k, &b) in data.iter().enumerate() {
            let o = (off as usize + k) % (PAGE_SIZE as usize);
            let mut bytes = words[o / 8].to_le_bytes();
            bytes[o % 8] = b;
            words[o / 8] = u64::from_le_bytes(bytes);
        }
    }

    /// The byte every byte of frame `pfn` holds, while it has not been written since its
    /// last fill; `None` once written.
    pub(crate) fn uniform(&self, pfn: u64) -> Option<u8> {
        match self.get(pfn) {
            None => Some(POISON_BYTE),
            Some(c) if c.data.is_none() => Some(c.fill_word() as u8),
            Some(_) => None,
        }
    }

    /// The whole frame as bytes (one lookup).
    pub(crate) fn bytes(&self, pfn: u64) -> [u8; PAGE_SIZE as usize] {
        let mut out = [0u8; PAGE_SIZE as usize];
        let content = self.get(pfn).unwrap_or(&Content::POISON);
        for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&content.word(i).to_le_bytes());
        }
        out
    }

    /// The whole frame as its 512 little-endian words (one lookup, one copy).
    pub(crate) fn words(&self, pfn: u64) -> Box<[u64; ENTRIES_PER_TABLE]> {
        match self.get(pfn) {
            Some(Content {
                data: Some(words), ..
            }) => words.clone(),
            Some(c) => Box::new([c.fill_word(); ENTRIES_PER_TABLE]),
            None => Box::new([POISON_WORD; ENTRIES_PER_TABLE]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_fill_and_write() {
        let mut s = FrameStore::new();
        assert_eq!(s.word(12345, 0), POISON_WORD);
        s.fill(12345, true);
        assert_eq!(s.word(12345, 7), 0);
        s.write_bytes(12345, 4095, &[7]);
        assert_eq!(s.byte(12345, 4095), 7);
        assert_eq!(s.word(12345, 511), 7u64 << 56);
        s.set_word((1 << 40) - 1, 3, 99);
        assert_eq!(s.word((1 << 40) - 1, 3), 99);
        assert_eq!(s.word(1 << 40, 3), POISON_WORD);
        s.fill(12345, false);
        assert_eq!(s.byte(12345, 4095), POISON_BYTE);
        // Both sides of the flat table's limit.
        for pfn in [LOW_LIMIT - 1, LOW_LIMIT] {
            assert_eq!(s.word(pfn, 1), POISON_WORD);
            assert!(s.slot_mut(pfn).is_none());
            s.set_word(pfn, 1, pfn);
            assert_eq!(s.word(pfn, 1), pfn);
            s.fill(pfn, true);
            assert_eq!(s.word(pfn, 1), 0);
        }
        assert_eq!(s.word(LOW_LIMIT + 1024, 1), POISON_WORD);
    }
}

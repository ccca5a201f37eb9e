//! Physical pages: the pool of frames and what each frame holds.
//!
//! The buddy allocator is replaced by the declared page policy of `docs/semantics.md §12.2`:
//! node `n` (the request's, or 0), then `n + 1`, ... wrapping (only `n` under
//! `__GFP_THISNODE`); inside a node ZONE_NORMAL (PFN >= 2^20) then ZONE_DMA32 (only DMA32 for
//! `__GFP_DMA32`); inside a zone the lowest free PFN; nothing below PFN 256.
//!
//! Free frames are kept as a map of free PFN runs per node (`start -> end`), which costs a
//! few entries instead of one per frame, so a fresh machine is cheap to build. Contents follow
//! `docs/design.md §3.10`: a frame that is not in [`Contents`] reads as the poison byte 0xaa
//! (free frames, and frames handed out without `__GFP_ZERO`).

use std::collections::BTreeMap;

use vmfuzz::ops::{NodeSpan, GFP_DMA32, GFP_THISNODE, PAGE_SIZE};
use vmfuzz::subject::PageBytes;

/// The first PFN of ZONE_NORMAL (4 GiB).
const NORMAL_START: u64 = 1 << 20;
/// PFNs below this are firmware, kernel image and the static boot tables (semantics §12.1).
const FIRST_POOL_PFN: u64 = 256;
/// What a free (or never zeroed) page reads as: the kernel's `PAGE_POISON`.
pub const POISON: u8 = 0xaa;

/// One NUMA node: its span and its free runs.
#[derive(Debug, Clone)]
struct Node {
    /// First pool PFN of the node (256 at least).
    start: u64,
    /// One past its last PFN.
    end: u64,
    /// Free runs `start -> end` (half open, disjoint, never adjacent).
    free: BTreeMap<u64, u64>,
    /// Free frames in `free`.
    free_count: u64,
}

impl Node {
    fn new(span: &NodeSpan) -> Node {
        let start = span.start_pfn.max(FIRST_POOL_PFN);
        let end = span.end_pfn.max(start);
        let mut free = BTreeMap::new();
        if end > start {
            free.insert(start, end);
        }
        Node {
            start,
            end,
            free,
            free_count: end - start,
        }
    }

    /// The lowest free PFN in `[lo, hi)`.
    fn lowest_free(&self, lo: u64, hi: u64) -> Option<u64> {
        if let Some((_, &e)) = self.free.range(..=lo).next_back() {
            if e > lo && lo < hi {
                return Some(lo);
            }
        }
        self.free
            .range(lo..)
            .next()
            .map(|(&s, _)| s)
            .filter(|&s| s < hi)
    }

    /// Take `pfn`, which is free.
    fn take(&mut self, pfn: u64) {
        let Some((&s, &e)) = self.free.range(..=pfn).next_back() else {
            return;
        };
        if pfn >= e {
            return;
        }
        self.free.remove(&s);
        if s < pfn {
            self.free.insert(s, pfn);
        }
        if pfn + 1 < e {
            self.free.insert(pfn + 1, e);
        }
        self.free_count -= 1;
    }

    /// Give `pfn` back, merging it with its neighbours. `false` if it was not allocated.
    fn give(&mut self, pfn: u64) -> bool {
        if pfn < self.start || pfn >= self.end {
            return false;
        }
        let before = self.free.range(..=pfn).next_back().map(|(&s, &e)| (s, e));
        if before.is_some_and(|(_, e)| e > pfn) {
            return false;
        }
        let (mut s, mut e) = (pfn, pfn + 1);
        if let Some((bs, be)) = before {
            if be == pfn {
                self.free.remove(&bs);
                s = bs;
            }
        }
        if let Some(ne) = self.free.remove(&e) {
            e = ne;
        }
        self.free.insert(s, e);
        self.free_count += 1;
        true
    }
}

/// The frame pool of one machine.
#[derive(Debug, Clone)]
pub struct Pool {
    nodes: Vec<Node>,
}

impl Pool {
    /// Every pool frame of `spans` free.
    pub fn new(spans: &[NodeSpan]) -> Pool {
        Pool {
            nodes: spans.iter().map(Node::new).collect(),
        }
    }

    /// How many nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Free frames per node.
    pub fn free_per_node(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.free_count).collect()
    }

    /// The node whose span holds `pfn`.
    pub fn node_of(&self, pfn: u64) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| pfn >= n.start && pfn < n.end)
    }

    /// Take one frame for a request with this node preference and gfp (semantics §12.2), or
    /// `None` when no node and zone the request may use has a free frame.
    pub fn take(&mut self, node: Option<u32>, gfp: u64) -> Option<u64> {
        let count = self.nodes.len();
        let first = node.map_or(0, |n| n as usize);
        let tries = if gfp & GFP_THISNODE != 0 { 1 } else { count };
        for k in 0..tries {
            let i = (first + k) % count.max(1);
            let Some(n) = self.nodes.get_mut(i) else {
                continue;
            };
            let normal = (n.start.max(NORMAL_START), n.end);
            let dma32 = (n.start, n.end.min(NORMAL_START));
            let zones: &[(u64, u64)] = if gfp & GFP_DMA32 != 0 {
                &[dma32]
            } else {
                &[normal, dma32]
            };
            for &(lo, hi) in zones {
                if let Some(pfn) = n.lowest_free(lo, hi) {
                    n.take(pfn);
                    return Some(pfn);
                }
            }
        }
        None
    }

    /// Give `pfn` back. `false` if it is not an allocated pool frame.
    pub fn give(&mut self, pfn: u64) -> bool {
        match self.node_of(pfn) {
            Some(i) => self.nodes[i].give(pfn),
            None => false,
        }
    }
}

/// The bytes of allocated frames that do not read as the poison: zeroed frames (a fill byte)
/// and frames written to (their bytes).
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pages: BTreeMap<u64, PageBytes>,
}

impl Contents {
    /// A frame was handed out: zeroed, or still poisoned.
    pub fn allocated(&mut self, pfn: u64, zero: bool) {
        if zero {
            self.pages.insert(pfn, PageBytes::Uniform(0));
        } else {
            self.pages.remove(&pfn);
        }
    }

    /// A frame was freed: it is poisoned again.
    pub fn freed(&mut self, pfn: u64) {
        self.pages.remove(&pfn);
    }

    /// The whole frame `pfn`.
    pub fn page(&self, pfn: u64) -> PageBytes {
        self.pages
            .get(&pfn)
            .cloned()
            .unwrap_or(PageBytes::Uniform(POISON))
    }

    /// Append bytes `offset..offset + len` of frame `pfn` to `out`.
    pub fn read(&self, pfn: u64, offset: usize, len: usize, out: &mut Vec<u8>) {
        match self.pages.get(&pfn) {
            None => out.resize(out.len() + len, POISON),
            Some(PageBytes::Uniform(b)) => out.resize(out.len() + len, *b),
            Some(PageBytes::Bytes(bytes)) => {
                out.extend_from_slice(bytes.get(offset..offset + len).unwrap_or_default())
            }
        }
    }

    /// Write `bytes` at `offset` of frame `pfn` (the caller keeps it inside the frame).
    pub fn write(&mut self, pfn: u64, offset: usize, bytes: &[u8]) {
        let page = self.pages.entry(pfn).or_insert(PageBytes::Uniform(POISON));
        if let PageBytes::Uniform(fill) = *page {
            *page = PageBytes::Bytes(Box::new([fill; PAGE_SIZE as usize]));
        }
        if let PageBytes::Bytes(b) = page {
            for (i, &x) in bytes.iter().enumerate() {
                if let Some(slot) = b.get_mut(offset + i) {
                    *slot = x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_pfn: u64, end_pfn: u64) -> NodeSpan {
        NodeSpan { start_pfn, end_pfn }
    }

    /// Node 0 hands out from PFN 256 up; a freed frame is the lowest free again.
    #[test]
    fn lowest_free_first_and_reuse() {
        let mut p = Pool::new(&[span(0, 0x200)]);
        assert_eq!(p.take(None, 0), Some(256));
        assert_eq!(p.take(None, 0), Some(257));
        assert_eq!(p.take(None, 0), Some(258));
        assert!(p.give(257));
        assert!(!p.give(257), "a free frame cannot be freed twice");
        assert_eq!(p.free_per_node(), vec![0x200 - 256 - 2]);
        assert_eq!(p.take(None, 0), Some(257));
        assert_eq!(p.take(None, 0), Some(259));
    }

    /// A node straddling 4 GiB: ZONE_NORMAL first, DMA32 only for `__GFP_DMA32`; THISNODE
    /// keeps the request on its node.
    #[test]
    fn zones_and_nodes() {
        let mut p = Pool::new(&[span(0, 0x101), span(0xfffff, 0x100002)]);
        assert_eq!(p.take(Some(1), 0), Some(0x100000));
        assert_eq!(p.take(Some(1), GFP_DMA32), Some(0xfffff));
        assert_eq!(p.take(Some(1), GFP_DMA32), Some(0x100));
        assert_eq!(p.take(Some(1), GFP_DMA32 | GFP_THISNODE), None);
        assert_eq!(p.take(Some(1), 0), Some(0x100001));
        assert_eq!(p.take(Some(1), 0), None);
    }

    #[test]
    fn contents_read_back() {
        let mut c = Contents::default();
        let read = |c: &Contents, offset, len| {
            let mut out = Vec::new();
            c.read(300, offset, len, &mut out);
            out
        };
        assert_eq!(read(&c, 0, 2), [POISON, POISON]);
        c.allocated(300, true);
        c.write(300, 4094, &[7]);
        assert_eq!(read(&c, 4093, 3), [0, 7, 0]);
        c.freed(300);
        assert_eq!(read(&c, 4094, 1), [POISON]);
    }
}

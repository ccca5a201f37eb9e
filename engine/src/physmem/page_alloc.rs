//! The deterministic page allocator of semantics §12.2 / design §3.9 (a declared model policy,
//! not the buddy allocator).
//!
//! Policy: node `n` = the request's node, or 0 for `NUMA_NO_NODE`; nodes tried `n, n+1, …`
//! wrapping (only `n` with `__GFP_THISNODE`); inside a node the zones highest first
//! (Normal, then DMA32; DMA32 only with `__GFP_DMA32`); inside a zone the lowest free PFN.
//! A `GFP_DMA` request asks for ZONE_DMA, which this machine has but leaves empty: it finds
//! no page (semantics §12.2, design §5.6).
//!
//! The free frames are kept one of two ways, with the same answers: for a pool of at most
//! 2^26 frames (256 GiB, every usual machine) a bit per frame with summary levels, so that
//! finding the lowest free frame of a range and every update take a few word operations; for
//! a larger pool, free extents in a B+tree, O(log n) per operation.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::addr::FIRST_POOL_PFN;
use crate::bptree::BpMap;
use crate::config::{FreeFrames, MachineConfig, NodeSpan, ZONE_NORMAL_START_PFN};
use crate::gfp::Gfp;

/// Pools of at most this many frames (padding included) use [`FreeBits`].
const MAX_BITMAP_FRAMES: usize = 1 << 26;

/// The page pool: its spans, its free frames and the free count per node.
#[derive(Debug)]
pub(crate) struct PageAllocator {
    free: FreeSet,
    /// The node spans clipped to the pool (PFN >= 256).
    pool: Vec<NodeSpan>,
    /// Free pages per node.
    free_per_node: Vec<u64>,
}

/// The free frames of the pool.
#[derive(Debug)]
enum FreeSet {
    /// A bit per frame (pools up to [`MAX_BITMAP_FRAMES`]).
    Bits(FreeBits),
    /// Free extents (larger pools).
    Extents(Extents),
}

impl PageAllocator {
    pub(crate) fn new(cfg: &MachineConfig) -> Self {
        let pool: Vec<NodeSpan> = cfg
            .nodes
            .iter()
            .map(|n| NodeSpan {
                start_pfn: n
                    .start_pfn
                    .max(FIRST_POOL_PFN)
                    .min(n.end_pfn.max(FIRST_POOL_PFN)),
                end_pfn: n.end_pfn.max(FIRST_POOL_PFN),
            })
            .collect();
        let free_per_node = pool.iter().map(|n| n.end_pfn - n.start_pfn).collect();
        let bits = match cfg.free_frames {
            FreeFrames::Auto => FreeBits::new(&pool),
            FreeFrames::Extents => None,
        };
        let free = match bits {
            Some(bits) => FreeSet::Bits(bits),
            None => FreeSet::Extents(Extents::new(&pool)),
        };
        PageAllocator {
            free,
            pool,
            free_per_node,
        }
    }

    /// The same allocator over free extents whatever the pool size (tests compare the two).
    #[cfg(test)]
    fn with_extents(cfg: &MachineConfig) -> Self {
        let mut a = Self::new(cfg);
        a.free = FreeSet::Extents(Extents::new(&a.pool));
        a
    }

    /// The node whose pool span holds `pfn`.
    fn pool_node(&self, pfn: u64) -> Option<usize> {
        let i = self.pool.partition_point(|n| n.end_pfn <= pfn);
        let n = self.pool.get(i)?;
        (n.start_pfn <= pfn && pfn < n.end_pfn).then_some(i)
    }

    /// True if `pfn` is a pool frame.
    pub(crate) fn in_pool(&self, pfn: u64) -> bool {
        self.pool_node(pfn).is_some()
    }

    /// True if `pfn` is a free pool frame.
    pub(crate) fn is_free(&self, pfn: u64) -> bool {
        let Some(node) = self.pool_node(pfn) else {
            return false;
        };
        match &self.free {
            FreeSet::Bits(b) => b.is_free(node, pfn - self.pool[node].start_pfn),
            FreeSet::Extents(x) => x.is_free(pfn),
        }
    }

    /// Takes the lowest free PFN in `[lo, hi)`, a part of the span of node `node`.
    fn take_lowest_in(&mut self, node: usize, lo: u64, hi: u64) -> Option<u64> {
        if lo >= hi {
            return None;
        }
        match &mut self.free {
            FreeSet::Bits(b) => {
                let start = self.pool[node].start_pfn;
                b.take_lowest(node, lo - start, hi - start)
                    .map(|off| start + off)
            }
            FreeSet::Extents(x) => x.take_lowest_in(lo, hi),
        }
    }

    /// Picks and takes a frame by the semantics §12.2 policy. `node` must be a valid index.
    pub(crate) fn alloc(&mut self, node: Option<u32>, gfp: Gfp) -> Option<u64> {
        let nnodes = self.pool.len();
        let first = node.unwrap_or(0) as usize;
        let tries = if gfp.contains(Gfp::THISNODE) {
            1
        } else {
            nnodes
        };
        // `gfp_zone` (include/linux/gfp.h, 4.19) sends `__GFP_DMA` to ZONE_DMA, and a zonelist
        // walk capped at ZONE_DMA looks at no higher zone. This machine's ZONE_DMA is empty
        // (semantics §12.2, design §5.6): no node has a page for it, as if the zone were
        // exhausted.
        if gfp.contains(Gfp::DMA) {
            return None;
        }
        let dma32_only = gfp.contains(Gfp::DMA32);
        for k in 0..tries {
            let i = (first + k) % nnodes;
            let span = self.pool[i];
            let normal_lo = span.start_pfn.max(ZONE_NORMAL_START_PFN);
            let dma_hi = span.end_pfn.min(ZONE_NORMAL_START_PFN);
            let pick = if dma32_only {
                self.take_lowest_in(i, span.start_pfn, dma_hi)
            } else {
                self.take_lowest_in(i, normal_lo, span.end_pfn)
                    .or_else(|| self.take_lowest_in(i, span.start_pfn, dma_hi))
            };
            if let Some(pfn) = pick {
                self.free_per_node[i] -= 1;
                return Some(pfn);
            }
        }
        None
    }

    /// Returns an allocated pool frame. False (and no change) if `pfn` is not an allocated
    /// pool frame.
    pub(crate) fn free(&mut self, pfn: u64) -> bool {
        let Some(node) = self.pool_node(pfn) else {
            return false;
        };
        let freed = match &mut self.free {
            FreeSet::Bits(b) => b.give_back(node, pfn - self.pool[node].start_pfn),
            FreeSet::Extents(x) => x.free(pfn),
        };
        if freed {
            self.free_per_node[node] += 1;
        }
        freed
    }

    /// Free pages per node.
    pub(crate) fn free_per_node(&self) -> &[u64] {
        &self.free_per_node
    }

    /// Takes the lowest free frame of the first node that has one, from the free frames
    /// alone: the free-page counters are not updated (the planted `LeakFrameBehindAllocator`).
    pub(crate) fn take_uncounted(&mut self) -> Option<u64> {
        (0..self.pool.len()).find_map(|i| {
            let span = self.pool[i];
            self.take_lowest_in(i, span.start_pfn, span.end_pfn)
        })
    }

    /// The number of allocated pool frames, counted from the free frames themselves (the
    /// bitmap or the extents), not from the free-page counters.
    pub(crate) fn allocated_count(&self) -> u64 {
        let pool: u64 = self.pool.iter().map(|n| n.end_pfn - n.start_pfn).sum();
        match &self.free {
            FreeSet::Bits(b) => b.allocated_count(&self.pool),
            FreeSet::Extents(x) => pool - x.free_count(),
        }
    }

    /// Checks the free frames' own structure: for the bitmap, padding bits clear and every
    /// summary level (`l1`, `l2`, `used`) exactly what the level below says; for the extents,
    /// the B+tree's invariants and extents ascending, non-empty, never adjacent and inside the
    /// pool. The free-page counters are not reconciled with the frames here: a frame missing
    /// from both the free frames and every owner is page conservation (I5), which the
    /// harness's ownership oracle checks from the raw frames against the model. O(pool / 64).
    pub(crate) fn check(&self) -> Result<(), String> {
        match &self.free {
            FreeSet::Bits(b) => b.check(&self.pool),
            FreeSet::Extents(x) => x.check(&self.pool),
        }
    }

    /// Allocated pool frames, ascending.
    pub(crate) fn allocated(&self) -> impl Iterator<Item = u64> + '_ {
        self.pool.iter().enumerate().flat_map(
            move |(node, &span)| -> Box<dyn Iterator<Item = u64> + '_> {
                match &self.free {
                    FreeSet::Bits(b) => Box::new(b.allocated(node, span)),
                    FreeSet::Extents(x) => Box::new(x.allocated(span)),
                }
            },
        )
    }
}

/// A bit per pool frame, set while the frame is free. Each span starts at a 64-bit word
/// boundary (`base`); the padding bits are never set. Summaries: `l1` has bit `w` set when
/// word `w` of `l0` has a free frame, `l2` the same over `l1`, so the lowest free frame at
/// or above a point takes a few word operations; `used` has bit `w` set when word `w` of `l0`
/// has an allocated frame (or padding), so listing allocated frames skips free words.
#[derive(Debug)]
struct FreeBits {
    /// Bit index of each span's first frame.
    base: Vec<usize>,
    l0: Vec<u64>,
    l1: Vec<u64>,
    l2: Vec<u64>,
    used: Vec<u64>,
}

/// Bit `i`'s word index and mask.
#[inline]
fn bit(i: usize) -> (usize, u64) {
    (i / 64, 1u64 << (i % 64))
}

/// The lowest set bit at or above `from` in `words`.
#[inline]
fn first_set_from(words: &[u64], from: usize) -> Option<usize> {
    let w = from / 64;
    let m = words.get(w)? & (!0u64 << (from % 64));
    if m != 0 {
        return Some(w * 64 + m.trailing_zeros() as usize);
    }
    let k = words[w + 1..].iter().position(|&x| x != 0)?;
    Some((w + 1 + k) * 64 + words[w + 1 + k].trailing_zeros() as usize)
}

impl FreeBits {
    /// All pool frames free; `None` if the pool is too large for a bitmap.
    fn new(pool: &[NodeSpan]) -> Option<Self> {
        let mut base = Vec::with_capacity(pool.len());
        let mut bits = 0usize;
        for n in pool {
            base.push(bits);
            let len = usize::try_from(n.end_pfn - n.start_pfn).ok()?;
            bits = bits.checked_add(len)?.checked_next_multiple_of(64)?;
            if bits > MAX_BITMAP_FRAMES {
                return None;
            }
        }
        let mut l0 = vec![0u64; bits / 64];
        for (n, &b) in pool.iter().zip(&base) {
            let len = (n.end_pfn - n.start_pfn) as usize;
            l0[b / 64..(b + len) / 64].fill(!0);
            if !len.is_multiple_of(64) {
                l0[(b + len) / 64] = (1u64 << (len % 64)) - 1;
            }
        }
        let summary = |lower: &[u64], test: fn(u64) -> bool| {
            let mut up = vec![0u64; lower.len().div_ceil(64)];
            for (w, &x) in lower.iter().enumerate() {
                if test(x) {
                    up[w / 64] |= 1 << (w % 64);
                }
            }
            up
        };
        let l1 = summary(&l0, |x| x != 0);
        let l2 = summary(&l1, |x| x != 0);
        let used = summary(&l0, |x| x != !0);
        Some(FreeBits {
            base,
            l0,
            l1,
            l2,
            used,
        })
    }

    fn is_free(&self, node: usize, off: u64) -> bool {
        let (w, m) = bit(self.base[node] + off as usize);
        self.l0[w] & m != 0
    }

    /// The lowest free bit at or above `from`.
    #[inline]
    fn next_free(&self, from: usize) -> Option<usize> {
        let w = from / 64;
        let m = self.l0.get(w)? & (!0u64 << (from % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        // The next word with a free frame: through l1, then l2 for the next l1 word.
        let a = w + 1;
        let l1m = self.l1.get(a / 64).map_or(0, |x| x & (!0u64 << (a % 64)));
        let w = if l1m != 0 {
            (a / 64) * 64 + l1m.trailing_zeros() as usize
        } else {
            let l1w = first_set_from(&self.l2, a / 64 + 1)?;
            l1w * 64 + self.l1[l1w].trailing_zeros() as usize
        };
        Some(w * 64 + self.l0[w].trailing_zeros() as usize)
    }

    /// Takes the lowest free frame at offsets `[lo, hi)` of span `node`.
    #[inline]
    fn take_lowest(&mut self, node: usize, lo: u64, hi: u64) -> Option<u64> {
        let b = self.base[node];
        let i = self.next_free(b + lo as usize)?;
        let off = (i - b) as u64;
        if off >= hi {
            return None;
        }
        let (w, m) = bit(i);
        let was = self.l0[w];
        self.l0[w] = was & !m;
        if was == !0 {
            self.used[w / 64] |= 1 << (w % 64);
        }
        if self.l0[w] == 0 {
            self.l1[w / 64] &= !(1 << (w % 64));
            if self.l1[w / 64] == 0 {
                self.l2[w / 4096] &= !(1 << ((w / 64) % 64));
            }
        }
        Some(off)
    }

    /// Gives back the frame at offset `off` of span `node`; false (and no change) if it is
    /// free.
    #[inline]
    fn give_back(&mut self, node: usize, off: u64) -> bool {
        let (w, m) = bit(self.base[node] + off as usize);
        let was = self.l0[w];
        if was & m != 0 {
            return false;
        }
        self.l0[w] = was | m;
        if was == 0 {
            if self.l1[w / 64] == 0 {
                self.l2[w / 4096] |= 1 << ((w / 64) % 64);
            }
            self.l1[w / 64] |= 1 << (w % 64);
        }
        if self.l0[w] == !0 {
            self.used[w / 64] &= !(1 << (w % 64));
        }
        true
    }

    /// The padding bits of the pool `pool` (after each span's last frame, up to its word's
    /// end).
    fn padding(pool: &[NodeSpan]) -> u64 {
        pool.iter()
            .map(|n| (64 - (n.end_pfn - n.start_pfn) % 64) % 64)
            .sum()
    }

    /// The allocated frames of `pool`: the clear bits of the words `used` marks, less the
    /// padding (which is never set, and whose words `used` always marks).
    fn allocated_count(&self, pool: &[NodeSpan]) -> u64 {
        let mut clear = 0u64;
        for (i, &u) in self.used.iter().enumerate() {
            let mut bits = u;
            while bits != 0 {
                let w = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                clear += u64::from((!self.l0.get(w).copied().unwrap_or(!0)).count_ones());
            }
        }
        clear.saturating_sub(Self::padding(pool))
    }

    /// Padding bits clear, and `l1`, `l2` and `used` exactly the summaries of the level below
    /// (no bit set past the last word either).
    fn check(&self, pool: &[NodeSpan]) -> Result<(), String> {
        for (n, (span, &b)) in pool.iter().zip(&self.base).enumerate() {
            let len = (span.end_pfn - span.start_pfn) as usize;
            if !len.is_multiple_of(64) {
                let w = (b + len) / 64;
                let pad = !0u64 << (len % 64);
                if self.l0.get(w).is_some_and(|&x| x & pad != 0) {
                    return Err(format!("page allocator: padding bits set after node {n}"));
                }
            }
        }
        let summary = |name: &str, lower: &[u64], upper: &[u64], test: fn(u64) -> bool| {
            if upper.len() != lower.len().div_ceil(64) {
                return Err(format!("page allocator: {name} has {} words", upper.len()));
            }
            for (w, &x) in lower.iter().enumerate() {
                let set = upper[w / 64] & (1 << (w % 64)) != 0;
                if set != test(x) {
                    return Err(format!(
                        "page allocator: {name} bit {w} is {} for word {x:#018x}",
                        u8::from(set)
                    ));
                }
            }
            if let Some(&last) = upper.last() {
                let valid = lower.len() % 64;
                if valid != 0 && last >> valid != 0 {
                    return Err(format!(
                        "page allocator: {name} has bits past its last word"
                    ));
                }
            }
            Ok(())
        };
        summary("l1", &self.l0, &self.l1, |x| x != 0)?;
        summary("l2", &self.l1, &self.l2, |x| x != 0)?;
        summary("used", &self.l0, &self.used, |x| x != !0)
    }

    /// The allocated frames of span `node` (`span`), ascending.
    fn allocated(&self, node: usize, span: NodeSpan) -> impl Iterator<Item = u64> + '_ {
        let lo = self.base[node];
        let hi = lo + (span.end_pfn - span.start_pfn) as usize;
        let mut next_word = lo / 64;
        let mut w = 0;
        let mut bits = 0u64;
        std::iter::from_fn(move || loop {
            if bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                return Some(span.start_pfn + (w * 64 + i - lo) as u64);
            }
            if next_word * 64 >= hi {
                return None;
            }
            w = first_set_from(&self.used, next_word)?;
            if w * 64 >= hi {
                return None;
            }
            next_word = w + 1;
            let mut m = !self.l0[w];
            if w * 64 < lo {
                m &= !0u64 << (lo - w * 64);
            }
            if (w + 1) * 64 > hi {
                m &= (1u64 << (hi - w * 64)) - 1;
            }
            bits = m;
        })
    }
}

/// Free extents keyed by their end: `end -> start` (`[start, end)`), disjoint and never
/// adjacent. Keyed by the end so that the common updates (taking the lowest frame of an
/// extent, giving back the frame just below one) change a value in place.
#[derive(Debug)]
struct Extents {
    free: BpMap<u64, u64>,
}

impl Extents {
    /// Every pool frame free.
    fn new(pool: &[NodeSpan]) -> Self {
        let mut free = BpMap::new();
        let mut last: Option<(u64, u64)> = None;
        for n in pool {
            if n.start_pfn == n.end_pfn {
                continue;
            }
            // Adjacent node spans form one extent (extents never touch).
            match last {
                Some((s, e)) if e == n.start_pfn => last = Some((s, n.end_pfn)),
                Some((s, e)) => {
                    free.insert(e, s);
                    last = Some((n.start_pfn, n.end_pfn));
                }
                None => last = Some((n.start_pfn, n.end_pfn)),
            }
        }
        if let Some((s, e)) = last {
            free.insert(e, s);
        }
        Extents { free }
    }

    fn is_free(&self, pfn: u64) -> bool {
        matches!(self.free.first_above(&pfn), Some((_, s)) if s <= pfn)
    }

    /// Takes the lowest free PFN in `[lo, hi)` (`lo < hi`), with one descent of the tree.
    fn take_lowest_in(&mut self, lo: u64, hi: u64) -> Option<u64> {
        let mut extent = self.free.first_above_entry(&lo)?;
        let (e, s) = (extent.key(), extent.value());
        let pfn = s.max(lo);
        if pfn >= hi {
            return None;
        }
        if pfn + 1 == e {
            extent.remove();
        } else {
            extent.set_value(pfn + 1);
        }
        if s < pfn {
            self.free.insert(pfn, s);
        }
        Some(pfn)
    }

    /// Gives back pool frame `pfn`; false (and no change) if it is free.
    fn free(&mut self, pfn: u64) -> bool {
        // The extent ending exactly at pfn (if any), and the one above.
        let (below, above) = self.free.around(&pfn);
        let below_start = below.filter(|&(e, _)| e == pfn).map(|(_, s)| s);
        match (above, below_start) {
            // pfn lies inside a free extent: a double free.
            (Some((_, s)), _) if s <= pfn => return false,
            // The extent above starts right after pfn: grow it downwards in place, and absorb
            // the extent below if there is one.
            (Some((_, s)), below) if s == pfn + 1 => {
                if let Some((_, start)) = self.free.first_above_mut(&pfn) {
                    *start = below.unwrap_or(pfn);
                }
                if below.is_some() {
                    self.free.remove(&pfn);
                }
            }
            (_, Some(bs)) => {
                self.free.remove(&pfn);
                self.free.insert(pfn + 1, bs);
            }
            (_, None) => {
                self.free.insert(pfn + 1, pfn);
            }
        }
        true
    }

    /// The free frames, summed over the extents.
    fn free_count(&self) -> u64 {
        self.free.iter().map(|(e, s)| e.saturating_sub(s)).sum()
    }

    /// The B+tree's invariants; extents non-empty, ascending, never adjacent, inside the pool.
    fn check(&self, pool: &[NodeSpan]) -> Result<(), String> {
        self.free
            .check()
            .map_err(|e| format!("page allocator extents: {e}"))?;
        let inside = |pfn: u64| pool.iter().any(|n| n.start_pfn <= pfn && pfn < n.end_pfn);
        let mut prev_end: Option<u64> = None;
        for (e, s) in self.free.iter() {
            if s >= e || prev_end.is_some_and(|p| p >= s) {
                return Err(format!(
                    "page allocator: free extent {s:#x}..{e:#x} is empty, out of order or \
                     adjacent to the one before"
                ));
            }
            if !inside(s) || !inside(e - 1) {
                return Err(format!(
                    "page allocator: free extent {s:#x}..{e:#x} is outside the pool"
                ));
            }
            prev_end = Some(e);
        }
        Ok(())
    }

    /// The allocated frames of `span`, ascending.
    fn allocated(&self, span: NodeSpan) -> impl Iterator<Item = u64> + '_ {
        let mut cursor = span.start_pfn;
        // Extents ending above the span's start.
        let mut extents = self
            .free
            .iter_from(&(span.start_pfn + 1))
            .map(|(e, s)| (s, e));
        let mut pending: Option<(u64, u64)> = None;
        std::iter::from_fn(move || loop {
            if cursor >= span.end_pfn {
                return None;
            }
            if pending.is_none_or(|(_, e)| e <= cursor) {
                pending = extents.next();
            }
            match pending {
                Some((s, e)) if s <= cursor => cursor = e,
                _ => {
                    let p = cursor;
                    cursor += 1;
                    return Some(p);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> PageAllocator {
        PageAllocator::new(&MachineConfig::with_nodes(&[(0, 1024), (1024, 2048)]))
    }

    #[test]
    fn lowest_pfn_and_fallback() {
        let mut a = two_nodes();
        assert_eq!(a.alloc(None, Gfp::KERNEL), Some(256));
        assert_eq!(a.alloc(Some(1), Gfp::KERNEL), Some(1024));
        // Node 0 has 768 pages; take them all, then fall back to node 1.
        for _ in 0..767 {
            assert!(a.alloc(Some(0), Gfp::KERNEL).is_some());
        }
        assert_eq!(a.free_per_node(), &[0, 1023]);
        assert_eq!(a.alloc(Some(0), Gfp::KERNEL | Gfp::THISNODE), None);
        assert_eq!(a.alloc(Some(0), Gfp::KERNEL), Some(1025));
        assert!(a.free(300));
        assert!(!a.free(300));
        assert_eq!(a.alloc(Some(0), Gfp::KERNEL), Some(300));
    }

    #[test]
    fn allocated_iteration() {
        let mut a = two_nodes();
        for _ in 0..3 {
            a.alloc(None, Gfp::KERNEL);
        }
        a.alloc(Some(1), Gfp::KERNEL);
        a.free(257);
        assert_eq!(a.allocated().collect::<Vec<_>>(), vec![256, 258, 1024]);
    }

    #[test]
    fn zones() {
        // Node 0 spans both zones: Normal is tried first, DMA32 only with __GFP_DMA32.
        let mut a = PageAllocator::new(&MachineConfig::with_nodes(&[(0, (1 << 20) + 4)]));
        assert_eq!(a.alloc(None, Gfp::KERNEL), Some(1 << 20));
        assert_eq!(a.alloc(None, Gfp::VMALLOC32), Some(256));
        // GFP_DMA asks for the empty ZONE_DMA: nothing, on any node, and nothing is taken.
        assert_eq!(a.alloc(None, Gfp::KERNEL | Gfp::DMA), None);
        assert_eq!(a.alloc(Some(0), Gfp::DMA), None);
        assert_eq!(a.free_per_node(), &[(1 << 20) + 4 - 256 - 2]);
    }

    /// The bitmap and the extents give the same answers to the same calls.
    #[test]
    fn bitmap_matches_extents() {
        let machines: [&[(u64, u64)]; 6] = [
            &[(0, 1000)],
            // Large enough for every summary level (more than 64 * 64 words).
            &[(0, 300_000)],
            &[
                (0, 9000),
                (9000, 20_000),
                ((1 << 20) - 5000, (1 << 20) + 9000),
            ],
            &[(0, 1024), (1024, 2048)],
            // Spans with gaps, one across the 4 GiB zone boundary, odd sizes.
            &[
                (300, 301),
                (500, 777),
                ((1 << 20) - 100, (1 << 20) + 130),
                (1 << 21, (1 << 21) + 65),
            ],
            &[(0, 256), (256, 300), (4096, 4096 + 64 * 3)],
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for nodes in machines {
            let cfg = MachineConfig::with_nodes(nodes);
            let mut bits = PageAllocator::new(&cfg);
            assert!(matches!(bits.free, FreeSet::Bits(_)));
            let mut ext = PageAllocator::with_extents(&cfg);
            let lo = nodes[0].0;
            let hi = nodes[nodes.len() - 1].1 + 10;
            let mut taken = Vec::new();
            for step in 0..30_000 {
                if next() % 3 != 0 {
                    let node = (next() % (nodes.len() as u64 + 1)) as u32;
                    let node = (node < nodes.len() as u32).then_some(node);
                    let gfp = match next() % 4 {
                        0 => Gfp::KERNEL | Gfp::THISNODE,
                        1 => Gfp::VMALLOC32,
                        _ => Gfp::KERNEL,
                    };
                    let a = bits.alloc(node, gfp);
                    assert_eq!(a, ext.alloc(node, gfp), "step {step}");
                    taken.extend(a);
                } else if !taken.is_empty() && next() % 4 != 0 {
                    let pfn = taken.swap_remove((next() % taken.len() as u64) as usize);
                    assert!(bits.free(pfn) && ext.free(pfn));
                } else {
                    // Anything: a double free, a frame outside the pool.
                    let pfn = lo + next() % (hi - lo);
                    assert_eq!(bits.free(pfn), ext.free(pfn), "step {step}");
                    taken.retain(|&p| p != pfn);
                }
                let q = lo + next() % (hi - lo);
                assert_eq!(bits.is_free(q), ext.is_free(q));
                assert_eq!(bits.free_per_node(), ext.free_per_node());
                if step % 1000 == 0 {
                    assert!(bits.allocated().eq(ext.allocated()));
                    let n = bits.allocated().count() as u64;
                    assert_eq!((bits.allocated_count(), ext.allocated_count()), (n, n));
                    assert_eq!((bits.check(), ext.check()), (Ok(()), Ok(())));
                }
            }
            assert!(bits.allocated().eq(ext.allocated()));
        }
    }

    fn bits_mut(a: &mut PageAllocator) -> &mut FreeBits {
        match &mut a.free {
            FreeSet::Bits(b) => b,
            FreeSet::Extents(_) => panic!("a small pool is a bitmap"),
        }
    }

    /// Each summary level is checked against the level below; padding bits too. A frame
    /// taken uncounted shows in the raw count only.
    #[test]
    fn the_structure_check_sees_a_stale_summary() {
        let cfg = MachineConfig::with_nodes(&[(0, 256 + 100)]);
        // Frames 256..356: bit word 0 holds frames 256..320, word 1 the other 36 frames and
        // 28 padding bits (never set). Three frames taken: 256, 257, 258, all in word 0.
        let fresh = || {
            let mut a = PageAllocator::new(&cfg);
            for _ in 0..3 {
                a.alloc(None, Gfp::KERNEL);
            }
            a
        };
        let a = fresh();
        assert_eq!((a.check(), a.allocated_count()), (Ok(()), 3));
        // `used` bit 1 is set for word 1 (its padding): clearing it is stale.
        let mut a = fresh();
        bits_mut(&mut a).used[0] &= !0b10;
        assert!(
            a.check().unwrap_err().contains("used bit 1"),
            "{:?}",
            a.check()
        );
        // `l1` bit 0 says word 0 has a free frame (it has 61): clearing it is stale.
        let mut a = fresh();
        bits_mut(&mut a).l1[0] &= !0b1;
        assert!(
            a.check().unwrap_err().contains("l1 bit 0"),
            "{:?}",
            a.check()
        );
        // Bit 40 of word 1 is padding (frame 256 + 104 does not exist).
        let mut a = fresh();
        bits_mut(&mut a).l0[1] |= 1 << 40;
        assert!(
            a.check().unwrap_err().contains("padding"),
            "{:?}",
            a.check()
        );
        // Behind the counters' back: frame 259 leaves the bitmap, the free count stays 97.
        let mut a = fresh();
        assert_eq!(a.take_uncounted(), Some(259));
        assert_eq!((a.free_per_node(), a.allocated_count()), (&[97][..], 4));
        assert_eq!(a.check(), Ok(()));
    }
}

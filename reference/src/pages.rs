//! The physical page pool of semantics §12.2 and page contents (contract §3, design §3.10).
//!
//! Policy (a declared model policy, not kernel behaviour): node `n` = the request's node or
//! node 0; nodes tried `n, n+1, …` wrapping (only `n` with `__GFP_THISNODE`); within a node
//! ZONE_NORMAL then ZONE_DMA32 (only DMA32 for `GFP_DMA32`); within a zone the lowest free
//! PFN. PFNs below 256 are never handed out. `GFP_DMA` asks for ZONE_DMA, which the machine
//! leaves empty: no page (design §5.6).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::collections::{BTreeMap, BTreeSet};

use crate::arith::PAGE_SIZE;
use crate::config::NodeSpan;
use crate::runs::PfnRuns;
use crate::types::Gfp;

/// PFNs below this are firmware and kernel image, never in the pool (semantics §12.2).
pub(crate) const FIRST_POOL_PFN: u64 = 256;
/// PFNs below this are ZONE_DMA32 (4 GiB), the rest ZONE_NORMAL (semantics §12.2, §8.4).
pub(crate) const DMA32_END_PFN: u64 = 1 << 20;
/// The byte a free (poisoned) page reads as (`PAGE_POISON`, design §3.10).
pub(crate) const POISON: u8 = 0xaa;

/// The two zones of the model (semantics §12.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zone {
    Normal,
    Dma32,
}

/// The pool of semantics §12.2: free runs (a pool frame is allocated exactly when it is not
/// free) and contents (design §3.10). A page reads as its bytes once written, else as 0 if it
/// was handed out zeroed, else as the poison.
#[derive(Clone, Debug)]
pub(crate) struct PagePool {
    nodes: Vec<NodeSpan>,
    free: PfnRuns,
    /// Allocated frames handed out with `__GFP_ZERO`.
    zeroed: PfnRuns,
    /// Frames written since they were handed out; these bytes win over `zeroed`.
    written: BTreeMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
}

impl PagePool {
    /// Every PFN `>= 256` inside a node span, all free (contract §3).
    pub(crate) fn new(nodes: &[NodeSpan]) -> Self {
        let mut free = PfnRuns::default();
        for span in nodes {
            free.insert_range(span.start_pfn.max(FIRST_POOL_PFN), span.end_pfn);
        }
        PagePool {
            nodes: nodes.to_vec(),
            free,
            zeroed: PfnRuns::default(),
            written: BTreeMap::new(),
        }
    }

    /// Whether `pfn` is a pool frame (semantics §12.2): in a node span and `>= 256`.
    pub(crate) fn in_pool(&self, pfn: u64) -> bool {
        pfn >= FIRST_POOL_PFN && self.node_of(pfn).is_some()
    }

    /// The node whose span holds `pfn`.
    pub(crate) fn node_of(&self, pfn: u64) -> Option<usize> {
        self.nodes
            .iter()
            .position(|s| s.start_pfn <= pfn && pfn < s.end_pfn)
    }

    /// The PFN range of one zone of one node, clipped to the pool.
    fn zone_range(&self, node: usize, zone: Zone) -> (u64, u64) {
        let span = self.nodes[node];
        let lo = span.start_pfn.max(FIRST_POOL_PFN);
        match zone {
            Zone::Dma32 => (lo, span.end_pfn.min(DMA32_END_PFN)),
            Zone::Normal => (lo.max(DMA32_END_PFN), span.end_pfn),
        }
    }

    /// semantics §12.2: the frame a request `(node, gfp)` gets, or `None` if no allowed zone has
    /// one.
    ///
    /// A `GFP_DMA` request selects ZONE_DMA (`gfp_zone`, include/linux/gfp.h, 4.19: the first
    /// 16 MiB on x86-64) and may use no higher zone; the machine's ZONE_DMA is empty, so it
    /// gets `None` on every node, like a request whose zones are all exhausted (design §5.6).
    /// The caller has validated `node`.
    pub(crate) fn policy_12_2(&self, node: Option<u32>, gfp: Gfp) -> Option<u64> {
        if gfp.has(Gfp::DMA) {
            return None;
        }
        let count = self.nodes.len();
        let first = node.map_or(0, |n| n as usize);
        let tries = if gfp.has(Gfp::THISNODE) { 1 } else { count };
        let zones: &[Zone] = if gfp.has(Gfp::DMA32) {
            &[Zone::Dma32]
        } else {
            &[Zone::Normal, Zone::Dma32]
        };
        (0..tries)
            .map(|i| (first + i) % count)
            .flat_map(|n| zones.iter().map(move |&z| (n, z)))
            .find_map(|(n, z)| {
                let (lo, hi) = self.zone_range(n, z);
                // A zone the node does not have (an empty range) has no page.
                (lo < hi).then(|| self.free.lowest_in(lo, hi)).flatten()
            })
    }

    /// Hands out a free frame; its contents are zero if `zeroed`, else what the free frame
    /// reads as: the poison, or bytes written into it through a stale mapping while it was
    /// free.
    pub(crate) fn take(&mut self, pfn: u64, zeroed: bool) {
        self.free.remove(pfn);
        if zeroed {
            self.zeroed.insert(pfn);
            // Bytes written into the frame while it was free are zeroed over.
            self.written.remove(&pfn);
        }
    }

    /// Gives a frame back; it reads as poison again (design §3.10). Returns whether it was
    /// allocated.
    pub(crate) fn release(&mut self, pfn: u64) -> bool {
        if !self.is_allocated(pfn) {
            return false;
        }
        self.release_run(pfn, pfn + 1);
        true
    }

    /// Gives back `[start, end)`, every frame of which is allocated: the frames are free and
    /// read as poison again, neither zeroed nor written.
    fn release_run(&mut self, start: u64, end: u64) {
        self.free.insert_range(start, end);
        self.zeroed.remove_range(start, end);
        let written: Vec<u64> = self.written.range(start..end).map(|(&p, _)| p).collect();
        for p in written {
            self.written.remove(&p);
        }
    }

    /// Gives frames back, as [`PagePool::release`] on each (those not allocated are skipped),
    /// each run of consecutive PFNs in one step.
    pub(crate) fn release_all(&mut self, pfns: &[u64]) {
        let mut sorted: Vec<u64> = pfns
            .iter()
            .copied()
            .filter(|&p| self.is_allocated(p))
            .collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut i = 0;
        while i < sorted.len() {
            let start = sorted[i];
            let mut end = start + 1;
            while i + 1 < sorted.len() && sorted[i + 1] == end {
                i += 1;
                end += 1;
            }
            i += 1;
            self.release_run(start, end);
        }
    }

    /// A pool frame that is not free.
    pub(crate) fn is_allocated(&self, pfn: u64) -> bool {
        self.in_pool(pfn) && !self.free.contains(pfn)
    }

    pub(crate) fn is_free(&self, pfn: u64) -> bool {
        self.free.contains(pfn)
    }

    /// Every allocated pool frame: the pool minus the free runs.
    pub(crate) fn allocated(&self) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for span in &self.nodes {
            let lo = span.start_pfn.max(FIRST_POOL_PFN);
            let mut pfn = lo;
            for (s, e) in self.free.runs() {
                if e <= lo || s >= span.end_pfn {
                    continue;
                }
                out.extend(pfn..s.max(lo));
                pfn = e;
            }
            out.extend(pfn..span.end_pfn);
        }
        out
    }

    /// Free pool frames per node, in node order.
    pub(crate) fn free_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|s| s.start_pfn.max(FIRST_POOL_PFN))
            .zip(self.nodes.iter())
            .map(|(lo, s)| self.free.count_in(lo, s.end_pfn))
            .collect()
    }

    /// Total pool frames (free or allocated).
    pub(crate) fn pool_size(&self) -> u64 {
        self.nodes
            .iter()
            .map(|s| s.end_pfn.saturating_sub(s.start_pfn.max(FIRST_POOL_PFN)))
            .sum()
    }

    /// The fill a frame reads as while it is not written: 0 if it was handed out zeroed,
    /// else the poison.
    fn fill(&self, pfn: u64) -> u8 {
        if self.zeroed.contains(pfn) {
            0
        } else {
            POISON
        }
    }

    /// The 4096 bytes of a frame.
    pub(crate) fn bytes(&self, pfn: u64) -> Vec<u8> {
        match self.written.get(&pfn) {
            Some(bytes) => bytes.to_vec(),
            None => vec![self.fill(pfn); PAGE_SIZE as usize],
        }
    }

    /// What a frame holds, as the views show it.
    pub(crate) fn contents(&self, pfn: u64) -> crate::views::PageContents {
        match self.written.get(&pfn) {
            Some(bytes) => crate::views::PageContents::Bytes(bytes.clone()),
            None => crate::views::PageContents::Fill(self.fill(pfn)),
        }
    }

    /// Writes `data` into frame `pfn` from `offset` (`offset + data.len() <= 4096`).
    pub(crate) fn write_bytes(&mut self, pfn: u64, offset: usize, data: &[u8]) {
        let fill = self.fill(pfn);
        let bytes = self
            .written
            .entry(pfn)
            .or_insert_with(|| Box::new([fill; PAGE_SIZE as usize]));
        bytes[offset..offset + data.len()].copy_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start_pfn: u64, end_pfn: u64) -> NodeSpan {
        NodeSpan { start_pfn, end_pfn }
    }

    /// `release_all` leaves the pool as releasing each frame in turn does.
    #[test]
    fn release_all_equals_release_one_by_one() {
        let mut a = PagePool::new(&[span(0, 0x400)]);
        let taken: Vec<u64> = (0..40)
            .map(|i| {
                let p = a.policy_12_2(None, Gfp::KERNEL).unwrap();
                a.take(p, i % 3 == 0);
                p
            })
            .collect();
        a.write_bytes(taken[5], 7, &[1, 2, 3]);
        let mut b = a.clone();
        // Two runs and a gap, out of order, a duplicate and a frame that is free.
        let give: Vec<u64> = [&taken[20..30], &taken[2..9], &[taken[4], 0x3ff]].concat();
        a.release_all(&give);
        for &p in &give {
            b.release(p);
        }
        assert_eq!(
            a.free.runs().collect::<Vec<_>>(),
            b.free.runs().collect::<Vec<_>>()
        );
        assert_eq!(a.free_per_node(), vec![0x300 - 40 + 17]);
        for p in 0x100..0x400 {
            assert_eq!(a.bytes(p), b.bytes(p), "pfn {p:#x}");
        }
    }

    #[test]
    fn policy_lowest_pfn_never_below_256() {
        // semantics §12.2: on the default node [0, 0x40000) the first frame is 0x100 (PFNs < 256
        // are never handed out), then 0x101.
        let mut p = PagePool::new(&[span(0, 0x40000)]);
        assert_eq!(p.pool_size(), 0x40000 - 0x100);
        let a = p.policy_12_2(None, Gfp::KERNEL).unwrap();
        p.take(a, false);
        let b = p.policy_12_2(None, Gfp::KERNEL).unwrap();
        assert_eq!((a, b), (0x100, 0x101));
        // Freeing 0x100 makes it the lowest again.
        p.release(0x100);
        assert_eq!(p.policy_12_2(None, Gfp::KERNEL), Some(0x100));
    }

    #[test]
    fn policy_zones_and_node_fallback() {
        // Node 0 = [0xfff00, 0x100010): DMA32 part [0xfff00, 0x100000), Normal part
        // [0x100000, 0x100010). Node 1 = [0x100010, 0x100020), all Normal.
        let mut p = PagePool::new(&[span(0xfff00, 0x100010), span(0x100010, 0x100020)]);
        // semantics §12.2: Normal before DMA32 → 0x100000; DMA32 only for GFP_DMA32 → 0xfff00.
        assert_eq!(p.policy_12_2(None, Gfp::KERNEL), Some(0x100000));
        assert_eq!(p.policy_12_2(None, Gfp::VMALLOC32), Some(0xfff00));
        assert_eq!(p.policy_12_2(Some(1), Gfp::KERNEL), Some(0x100010));
        // Exhaust node 1: a node-1 request falls back to node 0 (1+1 wraps to 0), Normal.
        for pfn in 0x100010..0x100020 {
            p.take(pfn, false);
        }
        assert_eq!(p.policy_12_2(Some(1), Gfp::KERNEL), Some(0x100000));
        // With THISNODE only node 1 is tried: nothing.
        assert_eq!(p.policy_12_2(Some(1), Gfp::KERNEL | Gfp::THISNODE), None);
        // A DMA32 request on node 1 (no DMA32 there) falls back to node 0's DMA32.
        assert_eq!(p.policy_12_2(Some(1), Gfp::VMALLOC32), Some(0xfff00));
        assert_eq!(p.free_per_node(), vec![256 + 16, 0]);
        // GFP_DMA: ZONE_DMA is empty on every node, whatever the preference.
        assert_eq!(p.policy_12_2(None, Gfp::KERNEL | Gfp::DMA), None);
        assert_eq!(p.policy_12_2(Some(0), Gfp::DMA), None);
    }

    #[test]
    fn contents_fill_poison_and_bytes() {
        // design §3.10: free reads 0xaa; ZERO pages read 0; writes read back; a freed page
        // is poisoned again.
        let mut p = PagePool::new(&[span(0, 0x200)]);
        assert_eq!(p.bytes(0x100)[0], 0xaa);
        p.take(0x100, true);
        assert_eq!(p.bytes(0x100)[7], 0);
        p.write_bytes(0x100, 7, &[0x5a]);
        assert_eq!((p.bytes(0x100)[7], p.bytes(0x100)[8]), (0x5a, 0));
        p.release(0x100);
        assert_eq!(p.bytes(0x100), vec![0xaa; 4096]);
    }
}

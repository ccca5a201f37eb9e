//! The deterministic page allocator of §12.2 / DECISIONS 3.9 (a declared model policy, not the
//! buddy allocator): free memory as extents, so the lowest free PFN inside a node ∩ zone range
//! is found in O(log n), with one tree descent per allocation or free in the common cases.
//!
//! Policy: node `n` = the request's node, or 0 for `NUMA_NO_NODE`; nodes tried `n, n+1, …`
//! wrapping (only `n` with `__GFP_THISNODE`); inside a node the zones highest first
//! (Normal, then DMA32; DMA32 only with `__GFP_DMA32`); inside a zone the lowest free PFN.

use crate::addr::FIRST_POOL_PFN;
use crate::bptree::BpMap;
use crate::config::{MachineConfig, NodeSpan, ZONE_NORMAL_START_PFN};
use crate::gfp::Gfp;

/// Free extents of the page pool.
#[derive(Debug)]
pub(crate) struct PageAllocator {
    /// Free extents keyed by their end: `end -> start` (`[start, end)`), disjoint and never
    /// adjacent. Keyed by the end so that the common updates (taking the lowest frame of an
    /// extent, giving back the frame just below one) change a value in place.
    free: BpMap<u64, u64>,
    /// The node spans clipped to the pool (PFN >= 256).
    pool: Vec<NodeSpan>,
    /// Free pages per node.
    free_per_node: Vec<u64>,
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
        let mut free = BpMap::new();
        let mut free_per_node = Vec::with_capacity(pool.len());
        let mut last: Option<(u64, u64)> = None;
        for n in &pool {
            free_per_node.push(n.end_pfn - n.start_pfn);
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
        PageAllocator {
            free,
            pool,
            free_per_node,
        }
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
        matches!(self.free.first_above(&pfn), Some((_, s)) if s <= pfn)
    }

    /// Takes the lowest free PFN in `[lo, hi)`, with one descent of the extent tree.
    fn take_lowest_in(&mut self, lo: u64, hi: u64) -> Option<u64> {
        if lo >= hi {
            return None;
        }
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

    /// Picks and takes a frame by the §12.2 policy. `node` must be a valid index.
    pub(crate) fn alloc(&mut self, node: Option<u32>, gfp: Gfp) -> Option<u64> {
        let nnodes = self.pool.len();
        let first = node.unwrap_or(0) as usize;
        let tries = if gfp.contains(Gfp::THISNODE) {
            1
        } else {
            nnodes
        };
        let dma32_only = gfp.intersects(Gfp::DMA32 | Gfp::DMA);
        for k in 0..tries {
            let i = (first + k) % nnodes;
            let span = self.pool[i];
            let normal_lo = span.start_pfn.max(ZONE_NORMAL_START_PFN);
            let dma_hi = span.end_pfn.min(ZONE_NORMAL_START_PFN);
            let pick = if dma32_only {
                self.take_lowest_in(span.start_pfn, dma_hi)
            } else {
                self.take_lowest_in(normal_lo, span.end_pfn)
                    .or_else(|| self.take_lowest_in(span.start_pfn, dma_hi))
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
        self.free_per_node[node] += 1;
        true
    }

    /// Free pages per node.
    pub(crate) fn free_per_node(&self) -> &[u64] {
        &self.free_per_node
    }

    /// Allocated pool frames, ascending.
    pub(crate) fn allocated(&self) -> impl Iterator<Item = u64> + '_ {
        self.pool.iter().flat_map(move |span| {
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
    }
}

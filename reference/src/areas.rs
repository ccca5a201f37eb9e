//! The busy-VA list (semantics §12 "State") and the placement rules R2, R3, R4.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::arith::{align_up, ceil_log2, PAGE_SIZE};
use crate::types::{ArrayKind, VmFlags};
use crate::views::Request;

/// The `vm_struct` of a live area (semantics §12 `VmRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VmRecord {
    /// VM_* flags as stored.
    pub(crate) flags: VmFlags,
    /// Caller token (vmallocinfo).
    pub(crate) caller: u32,
    /// Data pages the area owns, `pages[0..nr_pages)` (empty for vmap and get_vm_area).
    pub(crate) pages: Vec<u64>,
    /// PFNs mapped at `start + 4096·k` once the mapping succeeded (vmalloc: `pages`; vmap:
    /// the caller's pages; get_vm_area: none). Used by I3.
    pub(crate) mapped: Vec<u64>,
    /// The leaf flags the mapping used (`prot & supported_pte_mask`). Used by I3.
    pub(crate) leaf_flags: u64,
    /// The pages array.
    pub(crate) array: ArrayKind,
    /// A nested pages-array area whose owner was vunmapped: nothing refers to it, and its
    /// pages count as orphaned, not as live data (I5).
    pub(crate) orphaned: bool,
}

/// What a busy VA is (semantics §12: LiveVm or LazyPending; vmap blocks are out of scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AreaKind {
    /// A VA with its `vm_struct` (VM_VM_AREA set).
    LiveVm(VmRecord),
    /// Freed, PTEs cleared, still reserved until a purge (VM_LAZY_FREE).
    LazyPending,
}

/// One busy VA `[start, end)`, guard included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The request that placed it (checked by I2).
    pub(crate) request: Request,
    pub(crate) kind: AreaKind,
}

impl Area {
    /// Pages of the VA, guard included (what `vmap_lazy_nr` counts, semantics §5.4).
    pub(crate) fn va_pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    pub(crate) fn record(&self) -> Option<&VmRecord> {
        match &self.kind {
            AreaKind::LiveVm(r) => Some(r),
            AreaKind::LazyPending => None,
        }
    }

    pub(crate) fn record_mut(&mut self) -> Option<&mut VmRecord> {
        match &mut self.kind {
            AreaKind::LiveVm(r) => Some(r),
            AreaKind::LazyPending => None,
        }
    }
}

/// All busy VAs in address order (a sorted `Vec`, scanned linearly).
#[derive(Clone, Debug, Default)]
pub(crate) struct BusyList {
    areas: Vec<Area>,
}

impl BusyList {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.areas.len()
    }

    /// Inserts keeping address order. R3 guarantees the area overlaps nothing (I1).
    pub(crate) fn insert(&mut self, area: Area) {
        let index = self.areas.partition_point(|a| a.start < area.start);
        self.areas.insert(index, area);
    }

    pub(crate) fn remove(&mut self, start: u64) -> Option<Area> {
        let index = self.areas.iter().position(|a| a.start == start)?;
        Some(self.areas.remove(index))
    }

    pub(crate) fn get(&self, start: u64) -> Option<&Area> {
        self.areas.iter().find(|a| a.start == start)
    }

    pub(crate) fn get_mut(&mut self, start: u64) -> Option<&mut Area> {
        self.areas.iter_mut().find(|a| a.start == start)
    }

    /// The busy VA containing `addr`, whatever its kind.
    pub(crate) fn containing(&self, addr: u64) -> Option<&Area> {
        self.areas.iter().find(|a| a.start <= addr && addr < a.end)
    }

    /// The start of the LiveVm area containing `addr` (guard page included): the range
    /// lookup of `find_vm_area` (semantics §2, 3.11+).
    pub(crate) fn live_containing(&self, addr: u64) -> Option<u64> {
        self.containing(addr)
            .filter(|a| a.record().is_some())
            .map(|a| a.start)
    }

    /// Whether `[a, end)` intersects no busy VA.
    fn is_free(&self, a: u64, end: u64) -> bool {
        self.areas.iter().all(|b| end <= b.start || b.end <= a)
    }
}

/// R2: the VA size is `S + 4096` (the guard is the last page) unless VM_NO_GUARD.
///
/// The add wraps modulo 2^64 as in the kernel: for `S = 2^64 − 4096` it gives 0, which
/// `alloc_vmap_area`'s `BUG_ON(!size)` then catches (semantics §3.2).
pub(crate) fn r2_reservation_size(s: u64, flags: VmFlags) -> u64 {
    if flags.has(VmFlags::NO_GUARD) {
        s
    } else {
        s.wrapping_add(PAGE_SIZE)
    }
}

/// R4: the alignment the VA search uses. The caller's `align`, except that for VM_IOREMAP
/// it is overwritten by [`r4_ioremap_align`] of the page-aligned size `s`.
pub(crate) fn r4_alignment(s: u64, align: u64, flags: VmFlags) -> u64 {
    if flags.has(VmFlags::IOREMAP) {
        r4_ioremap_align(s)
    } else {
        align
    }
}

/// R4 (VM_IOREMAP, 4.9+ rule): `align = 2^clamp(ceil_log2(S), 12, 30)`, from the page-aligned
/// size before the guard is added.
pub(crate) fn r4_ioremap_align(s: u64) -> u64 {
    1u64 << ceil_log2(s).clamp(12, 30)
}

/// R4 (default `align_wrap_check` on): the candidate `ALIGN(x, align)`, or `None` when it
/// would wrap past 2^64, which is "no fit" (the 5.1 fix afd07389d3f4).
pub(crate) fn r4_aligned_candidate(x: u64, align: u64) -> Option<u64> {
    align_up(x, align)
}

/// R3: exact lowest fit over **all** busy VAs, lazy ones included (semantics §4.3).
///
/// The result is the smallest `a` with `a ≡ 0 (mod align)`, `a >= vstart`, no wrap in
/// computing `a` or `a + size`, `a + size <= vend`, and `[a, a + size)` free. The only
/// candidates are `ALIGN(vstart)` and `ALIGN(b.end)` for every busy `b` with
/// `b.end >= vstart`; they are tried in increasing order and the first that passes wins.
/// `align` must be a power of two (checked earlier, as a BUG, in R13 step 2).
pub(crate) fn r3_lowest_fit(
    busy: &BusyList,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
) -> Option<u64> {
    let ends = busy.iter().filter(|b| b.end >= vstart).map(|b| b.end);
    let mut candidates: Vec<u64> = std::iter::once(vstart)
        .chain(ends)
        .filter_map(|x| r4_aligned_candidate(x, align))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates.into_iter().find(|&a| {
        let Some(end) = a.checked_add(size) else {
            return false;
        };
        a >= vstart && end <= vend && busy.is_free(a, end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lazy(start: u64, end: u64) -> Area {
        Area {
            start,
            end,
            request: Request {
                vstart: 0,
                vend: u64::MAX,
                align: 1,
            },
            kind: AreaKind::LazyPending,
        }
    }

    fn busy(list: &[(u64, u64)]) -> BusyList {
        let mut b = BusyList::default();
        for &(s, e) in list {
            b.insert(lazy(s, e));
        }
        b
    }

    const P: u64 = PAGE_SIZE;

    #[test]
    fn r3_takes_exact_fit_holes() {
        // semantics §4.4 example in pages, align 1: busy [0,1) and [2,3); a size-1 request fits the
        // exact hole [1,2) (the strict-`<` cache would skip it; the default must not).
        let b = busy(&[(0, P), (2 * P, 3 * P)]);
        assert_eq!(r3_lowest_fit(&b, P, 1, 0, 100 * P), Some(P));
        // Size 2 does not fit the 1-page hole: next candidate ALIGN(3P) = 3P.
        assert_eq!(r3_lowest_fit(&b, 2 * P, 1, 0, 100 * P), Some(3 * P));
    }

    #[test]
    fn r3_respects_vstart_vend_and_alignment() {
        let b = busy(&[(0x1000, 0x3000)]);
        // Candidates: ALIGN(0x1000, 0x4000) = 0x4000 and ALIGN(0x3000, 0x4000) = 0x4000.
        assert_eq!(
            r3_lowest_fit(&b, 0x1000, 0x4000, 0x1000, 0x10000),
            Some(0x4000)
        );
        // vend exclusive: a + size <= vend, so [0x3000, 0x5000) fits vend 0x5000 exactly…
        assert_eq!(r3_lowest_fit(&b, 0x2000, 1, 0x1000, 0x5000), Some(0x3000));
        // …and vend 0x4fff does not.
        assert_eq!(r3_lowest_fit(&b, 0x2000, 1, 0x1000, 0x4fff), None);
        // vstart > vend: every candidate is >= vstart > vend, so no fit (design §3.3).
        assert_eq!(r3_lowest_fit(&b, 0x1000, 1, 0x9000, 0x8000), None);
    }

    #[test]
    fn r3_r4_wrapping_candidates_are_no_fit() {
        let b = BusyList::default();
        // R4: align 2^46 from VMALLOC_START wraps → no fit; 2^45 gives 0xffffe00000000000.
        let (s, e) = (0xffff_c900_0000_0000, 0xffff_e8ff_ffff_ffff);
        assert_eq!(r3_lowest_fit(&b, 2 * P, 1 << 46, s, e), None);
        assert_eq!(
            r3_lowest_fit(&b, 2 * P, 1 << 45, s, e),
            Some(0xffff_e000_0000_0000)
        );
        // `a + size` must not wrap: a window ending at u64::MAX cannot take an area that
        // would end at exactly 2^64 (bug 4 of semantics §15).
        assert_eq!(r3_lowest_fit(&b, P, 1, u64::MAX - P + 1, u64::MAX), None);
        assert_eq!(
            r3_lowest_fit(&b, P, 1, u64::MAX - 2 * P + 1, u64::MAX),
            Some(u64::MAX - 2 * P + 1)
        );
    }

    #[test]
    fn r2_and_r4_sizes() {
        // R2: guard adds one page unless VM_NO_GUARD; the add wraps for S = 2^64 − 4096.
        assert_eq!(r2_reservation_size(P, VmFlags::NONE), 2 * P);
        assert_eq!(r2_reservation_size(P, VmFlags::NO_GUARD), P);
        assert_eq!(r2_reservation_size(u64::MAX - P + 1, VmFlags::NONE), 0);
        // R4: 64 KiB → ceil_log2 = 16 → 64 KiB; 4 KiB → 12 → 4 KiB; 68 KiB → 17 → 128 KiB;
        // 4 GiB → 32, clamped to 30 → 1 GiB.
        assert_eq!(r4_ioremap_align(0x10000), 0x10000);
        assert_eq!(r4_ioremap_align(0x1000), 0x1000);
        assert_eq!(r4_ioremap_align(0x11000), 0x20000);
        assert_eq!(r4_ioremap_align(1 << 32), 1 << 30);
        // The caller's align survives unless VM_IOREMAP.
        assert_eq!(r4_alignment(0x10000, 3, VmFlags::NONE), 3);
        assert_eq!(
            r4_alignment(0x10000, 3, VmFlags::IOREMAP | VmFlags::MAP),
            0x10000
        );
    }
}

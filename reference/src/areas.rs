//! The busy-VA list (semantics §12 "State") and the placement rules R2, R3, R4.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::arith::{align_up, ceil_log2, fls, fls_long, page_align, PAGE_SIZE};
use crate::knobs::{AlignWrapCheck, IoremapAlignRule};
use crate::types::{ArrayKind, BugKind, Fatal, VmFlags};
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

    /// The areas in address order (the 4.x walk of `cache4x` steps through them by index).
    pub(crate) fn as_slice(&self) -> &[Area] {
        &self.areas
    }

    /// The index of the area that starts at `start`.
    pub(crate) fn index_of(&self, start: u64) -> Option<usize> {
        self.areas.binary_search_by_key(&start, |a| a.start).ok()
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

/// R4: the alignment the VA search uses under the default `ioremap_align_rule`: the caller's
/// `align`, except that for VM_IOREMAP it is overwritten by [`r4_ioremap_align`] of the
/// page-aligned size `s`.
#[cfg(test)]
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

/// R4 (VM_IOREMAP) under knob `ioremap_align_rule`, from `size` as `__get_vm_area_node`
/// receives it (not page aligned for the `get_vm_area` family; `PAGE_ALIGN(size)` must be
/// nonzero): `2^clamp(order, 12, 30)` where `order` is
/// - `fls` (≤4.0): `fls` of the low 32 bits of `size` (bug 6);
/// - `fls_long_before_pagealign` (4.1–4.8): `fls_long(size)`, floor(log2) + 1 (bug 8);
/// - `count_order_after_pagealign` (4.9+): [`r4_ioremap_align`] of `PAGE_ALIGN(size)`.
pub(crate) fn r4_ioremap_align_by_rule(rule: IoremapAlignRule, size: u64) -> u64 {
    let low_32_bits = (size & 0xffff_ffff) as u32;
    match rule {
        IoremapAlignRule::Fls => 1u64 << fls(low_32_bits).clamp(12, 30),
        IoremapAlignRule::FlsLongBeforePagealign => 1u64 << fls_long(size).clamp(12, 30),
        IoremapAlignRule::CountOrderAfterPagealign => r4_ioremap_align(page_align(size)),
    }
}

/// R4: the candidate `ALIGN(x, align)`, or `None` when it would wrap past 2^64 (no fit by
/// default; the BUG with `align_wrap_check` off).
pub(crate) fn r4_aligned_candidate(x: u64, align: u64) -> Option<u64> {
    align_up(x, align)
}

/// R4 with knob `align_wrap_check`: a search that reached a wrapped candidate is no fit
/// (`on`, default) or the `BUG_ON(va->va_start < vstart)` of v4.19.0 (`off`).
pub(crate) fn r4_wrap_check(search: Search, knob: AlignWrapCheck) -> Result<Option<u64>, Fatal> {
    match (search, knob) {
        (Search::Fit(a), _) => Ok(Some(a)),
        (Search::NoFit, _) | (Search::Wrapped, AlignWrapCheck::On) => Ok(None),
        (Search::Wrapped, AlignWrapCheck::Off) => Err(Fatal::Bug(BugKind::VaStartBelowVstart)),
    }
}

/// What one VA search found (R3, with R4's wrap-around).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Search {
    /// The area fits at this address.
    Fit(u64),
    /// No fit ("overflow" in semantics §4.2): purge and retry, or fail.
    NoFit,
    /// The search reached a candidate whose `ALIGN` wrapped past 2^64. The kernel holds the
    /// wrapped address 0 there, which passes the `found` test (`0 + size <= vend`); knob
    /// `align_wrap_check` says whether that is no fit or the BUG (R4).
    Wrapped,
}

/// R3: exact lowest fit over **all** busy VAs, lazy ones included (docs/semantics.md
/// semantics §4.3), in one pass over the busy list.
///
/// The result is the smallest `a` with `a ≡ 0 (mod align)`, `a >= vstart`, no wrap in
/// computing `a` or `a + size`, `a + size <= vend`, and `[a, a + size)` free. The only
/// candidates are `ALIGN(vstart)` and `ALIGN(b.end)` for every busy `b` with
/// `b.end >= vstart`, tried in increasing order (semantics §4.3). Walking the areas in address
/// order while keeping the current candidate `addr` (at first `ALIGN(vstart)`) visits exactly those
/// candidates in that order. For each area `b`:
/// - `b.end <= addr`: `b` lies below the candidate and below every later one: skip it;
/// - `addr + size <= b.start`: `b` and every area after it (they start higher) lie above
///   `[addr, addr + size)`, and every area before it was skipped or moved the candidate
///   past its end: `addr` is free, and it is the answer;
/// - otherwise `b` collides with `[addr, addr + size)`, and so does the range of every
///   aligned address in `[addr, b.end)` (it either starts inside `b` or contains `b.start`):
///   the next candidate is `ALIGN(b.end)`.
///
/// Candidates only grow, so the walk stops with no fit as soon as one ends above `vend` or
/// `addr + size` wraps. A candidate whose `ALIGN` wraps stops it with [`Search::Wrapped`]
/// (R4; the kernel's address 0 still has to pass `0 + size <= vend`, else it is no fit).
/// `align` must be a power of two (checked earlier, as a BUG, in R13 step 2).
pub(crate) fn r3_lowest_fit_search(
    busy: &BusyList,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
) -> Search {
    let wrapped = if size <= vend {
        Search::Wrapped
    } else {
        Search::NoFit
    };
    let Some(mut addr) = r4_aligned_candidate(vstart, align) else {
        return wrapped;
    };
    for b in busy.iter() {
        let Some(end) = addr.checked_add(size) else {
            return Search::NoFit;
        };
        if end > vend {
            return Search::NoFit;
        }
        if b.end <= addr {
            continue;
        }
        if end <= b.start {
            return Search::Fit(addr);
        }
        let Some(next) = r4_aligned_candidate(b.end, align) else {
            return wrapped;
        };
        addr = next;
    }
    match addr.checked_add(size) {
        Some(end) if end <= vend => Search::Fit(addr),
        _ => Search::NoFit,
    }
}

/// R3 with R4's default (`align_wrap_check` on, a wrap is no fit): the lowest fit, if any.
#[cfg(test)]
pub(crate) fn r3_lowest_fit(
    busy: &BusyList,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
) -> Option<u64> {
    match r3_lowest_fit_search(busy, size, align, vstart, vend) {
        Search::Fit(a) => Some(a),
        Search::NoFit | Search::Wrapped => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::align_up;

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
    fn r3_one_pass_over_hundreds_of_areas() {
        // 400 one-page areas at even pages: [2i, 2i+1) for i in 0..400, so every hole is
        // one page [2i+1, 2i+2) and the last area ends at page 799.
        let mut list: Vec<(u64, u64)> = (0..400).map(|i| (2 * i * P, (2 * i + 1) * P)).collect();
        let b = busy(&list);
        let vend = 1000 * P;
        // Size 1 fits the first hole, page 1.
        assert_eq!(r3_lowest_fit(&b, P, 1, 0, vend), Some(P));
        // Size 2 fits no hole: the first free candidate is the end of the last area, 799.
        assert_eq!(r3_lowest_fit(&b, 2 * P, 1, 0, vend), Some(799 * P));
        // Align 2 pages: every aligned candidate 2i is busy up to 798; ALIGN(799) = 800.
        assert_eq!(r3_lowest_fit(&b, P, 2 * P, 0, vend), Some(800 * P));
        // vstart inside the list: page 501 is the hole after the area at 500.
        assert_eq!(r3_lowest_fit(&b, P, 1, 500 * P, vend), Some(501 * P));
        // vend 800 pages: size 2 at 799 would end at 801 > 800, and no hole below fits.
        assert_eq!(r3_lowest_fit(&b, 2 * P, 1, 0, 800 * P), None);
        // Remove the area at page 400 (i = 200): the hole [399, 402) holds 3 pages.
        list.retain(|&(s, _)| s != 400 * P);
        let b = busy(&list);
        assert_eq!(r3_lowest_fit(&b, 2 * P, 1, 0, vend), Some(399 * P));
        assert_eq!(r3_lowest_fit(&b, 3 * P, 1, 0, vend), Some(399 * P));
        assert_eq!(r3_lowest_fit(&b, 4 * P, 1, 0, vend), Some(799 * P));
        // Align 2 pages, size 2: ALIGN(399) = 400, [400, 402) is free.
        assert_eq!(r3_lowest_fit(&b, 2 * P, 2 * P, 0, vend), Some(400 * P));
    }

    /// The definition of semantics §4.3 read literally: every candidate, each checked against every
    /// busy area. Quadratic, so only for cross-checking the one-pass walk.
    fn candidate_scan(
        list: &[(u64, u64)],
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
    ) -> Option<u64> {
        let ends = list.iter().filter(|b| b.1 >= vstart).map(|b| b.1);
        let mut candidates: Vec<u64> = std::iter::once(vstart)
            .chain(ends)
            .filter_map(|x| align_up(x, align))
            .collect();
        candidates.sort_unstable();
        candidates.into_iter().find(|&a| {
            let Some(end) = a.checked_add(size) else {
                return false;
            };
            let free = list.iter().all(|&(s, e)| end <= s || e <= a);
            a >= vstart && end <= vend && free
        })
    }

    #[test]
    fn r3_one_pass_equals_the_candidate_definition() {
        // Pseudo-random busy lists (a fixed LCG), sizes, alignments and windows, some at
        // the top of the address space so that `ALIGN` and `a + size` wrap.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        for round in 0..300 {
            let base = if round % 3 == 0 {
                u64::MAX - 0x7f_ffff
            } else {
                0x10_0000
            };
            let mut list = Vec::new();
            let mut at = base;
            for _ in 0..next(40) {
                let start = at + next(6) * P;
                let end = start + (1 + next(4)) * P;
                if end < start || end > u64::MAX - P {
                    break;
                }
                list.push((start, end));
                at = end;
            }
            let b = busy(&list);
            for _ in 0..20 {
                let size = (1 + next(5)) * P;
                let align = 1u64 << (next(3) * 6 + next(12));
                let vstart = base + next(64) * P;
                let vend = if next(4) == 0 {
                    u64::MAX
                } else {
                    vstart.saturating_add(next(200) * P)
                };
                assert_eq!(
                    r3_lowest_fit(&b, size, align, vstart, vend),
                    candidate_scan(&list, size, align, vstart, vend),
                    "{list:x?} size {size:#x} align {align:#x} [{vstart:#x}, {vend:#x})"
                );
            }
        }
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

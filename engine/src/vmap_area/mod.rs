//! The VA allocator (semantics §4): busy areas (live and lazily freed), exact lowest fit (R3, R4)
//! or the literal 4.x search with its cache (`faithful_4x_cache`, semantics §4.3), the lazy
//! list with `vmap_lazy_nr` (semantics §5.4, I6) and the purge (R9).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

pub mod free_gaps;
mod search_cache;

use free_gaps::FreeGaps;
pub(crate) use search_cache::OverflowTest;
use search_cache::{BusyAreas, HoleTest, SearchCache};

use crate::addr::PAGE_SIZE;
use crate::bptree::BpMap;
use crate::event::Event;
use crate::slab::Slab;

/// The request that placed a busy area (contract §9, I2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VaRequest {
    /// `vstart` as passed.
    pub vstart: u64,
    /// `vend` as passed (exclusive).
    pub vend: u64,
    /// The alignment used by the search (after the VM_IOREMAP override, R4).
    pub align: u64,
}

/// What a busy area currently is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VaState {
    /// Backs the vm_struct with this slab id (`VM_VM_AREA` set).
    Live(u32),
    /// Lazily freed, waiting for a purge (`VM_LAZY_FREE`).
    Lazy,
}

/// One `struct vmap_area`.
#[derive(Debug, Clone)]
pub(crate) struct VmapArea {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) state: VaState,
    pub(crate) request: VaRequest,
    /// Pages this area added to `lazy_nr` when it was lazily freed (guard included,
    /// semantics §5.4).
    pub(crate) lazy_pages: u64,
}

/// The busy-set key of the area `id` starting at `start`: `(start, id)` in one integer, so
/// that its order is the pair's and a comparison is one wide compare.
#[inline]
fn busy_key(start: u64, id: u32) -> u128 {
    (u128::from(start) << 32) | u128::from(id)
}

/// The outcome of one placement attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Reserved: the new area's id.
    At(u32),
    /// No placement (the kernel's `overflow:` label).
    NoFit,
    /// The search reached a candidate whose `ALIGN` wrapped to 0 and would insert it there
    /// (R4): a BUG in v4.19.0, no fit with the 5.1 check. Nothing was reserved.
    Wrapped,
    /// The search took a candidate whose end wraps to exactly 0, which only the ≤3.10
    /// overflow test lets through ([`OverflowTest::SizeMinusOne`], the planted bug 4 of
    /// semantics §15). Nothing was reserved; the insert that would follow cannot order it.
    EndWrapped,
}

/// What one placement judges its candidates by. [`SearchPlan::exact`] is the request itself;
/// a planted fault (design §4.3) may judge by another size or end, or with the old overflow
/// test. What is reserved is always the request's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SearchPlan {
    /// The size a candidate must leave free.
    pub(crate) size: u64,
    /// The bound `candidate + size` must not pass.
    pub(crate) vend: u64,
    /// Report a search that reached a wrapped `ALIGN` as [`Placement::Wrapped`] even in the
    /// default placement (`align_wrap_check=off`; the 4.x search always reports it).
    pub(crate) detect_wrap: bool,
    /// The walk's overflow test.
    pub(crate) overflow: OverflowTest,
}

impl SearchPlan {
    /// Judge by the request itself: `size` below `vend`, with today's overflow test.
    pub(crate) fn exact(size: u64, vend: u64, detect_wrap: bool) -> Self {
        SearchPlan {
            size,
            vend,
            detect_wrap,
            overflow: OverflowTest::PlusSize,
        }
    }
}

/// The busy areas in address order, as the 4.x search reads them.
struct BusyView<'a> {
    busy: &'a BpMap<u128, ()>,
    slab: &'a Slab<VmapArea>,
}

impl BusyView<'_> {
    fn key(&self, id: u32) -> Option<u128> {
        Some(busy_key(self.slab.get(id)?.start, id))
    }
}

impl BusyAreas for BusyView<'_> {
    fn bounds(&self, id: u32) -> Option<(u64, u64)> {
        let va = self.slab.get(id)?;
        Some((va.start, va.end))
    }

    fn first_ending_at_or_above(&self, addr: u64) -> Option<u32> {
        // The last area starting below `addr` if it reaches `addr` (areas are disjoint, so
        // none before it does); otherwise the first starting at or above `addr`.
        let at = busy_key(addr, 0);
        if let Some((key, ())) = at
            .checked_sub(1)
            .and_then(|k| self.busy.last_at_or_below(&k))
        {
            let id = key as u32;
            if self.slab.get(id).is_some_and(|va| va.end >= addr) {
                return Some(id);
            }
        }
        self.busy.iter_from(&at).next().map(|(key, ())| key as u32)
    }

    fn walk_from(&self, id: u32) -> impl Iterator<Item = (u64, u64)> + '_ {
        // An id that is not busy walks nothing.
        self.key(id)
            .into_iter()
            .flat_map(move |key| self.busy.iter_from(&key))
            .filter_map(|(key, ())| self.slab.get(key as u32).map(|va| (va.start, va.end)))
    }

    fn prev(&self, id: u32) -> Option<u32> {
        let key = self.key(id)?.checked_sub(1)?;
        self.busy.last_at_or_below(&key).map(|(key, ())| key as u32)
    }
}

/// All busy areas and the free space between them.
#[derive(Debug)]
pub(crate) struct VmapAreas {
    pub(crate) slab: Slab<VmapArea>,
    /// `(va_start, id)` packed by [`busy_key`]: address order; the id only breaks ties
    /// (which a correct allocator never creates, I1).
    busy: BpMap<u128, ()>,
    gaps: FreeGaps,
    /// Lazily freed areas, oldest first.
    pub(crate) lazy: Vec<u32>,
    /// `vmap_lazy_nr`.
    pub(crate) lazy_nr: u64,
    /// Scratch space of the purge (kept to avoid an allocation per purge).
    purge_batch: Vec<(u64, u32, u64)>,
    /// `faithful_4x_cache=on`: place by the literal 4.x search of [`search_cache`].
    faithful: bool,
    /// The 4.x search cache (used only when `faithful`).
    cache: SearchCache,
    /// The planted `GapCountDrift`: a release that joins two gaps leaves the count too high.
    #[cfg(feature = "planted-bugs")]
    pub(crate) gap_count_drift: bool,
}

impl VmapAreas {
    /// An empty VA space; `faithful` selects the 4.x search (`faithful_4x_cache=on`).
    pub(crate) fn new(faithful: bool) -> Self {
        VmapAreas {
            slab: Slab::default(),
            busy: BpMap::new(),
            gaps: FreeGaps::new(),
            lazy: Vec::new(),
            lazy_nr: 0,
            purge_batch: Vec::new(),
            faithful,
            cache: SearchCache::default(),
            #[cfg(feature = "planted-bugs")]
            gap_count_drift: false,
        }
    }

    /// The structures' own invariants: the free-gap tree's ([`FreeGaps::check_invariants`]),
    /// the busy set's B+tree, each busy key naming a slab area that starts there and every
    /// slab area busy, the lazy list naming distinct lazy areas and every lazy area listed,
    /// and `lazy_nr` the sum of their lazy pages. O(n).
    pub(crate) fn check(&self) -> Result<(), String> {
        self.gaps
            .check_invariants()
            .map_err(|e| format!("free-gap tree: {e}"))?;
        self.busy.check().map_err(|e| format!("busy set: {e}"))?;
        if self.busy.len() != self.slab.len() {
            return Err(format!(
                "busy set: {} keys for {} vmap_areas",
                self.busy.len(),
                self.slab.len()
            ));
        }
        // The complement of the busy areas' union in `[0, 2^64)`, which the free-gap tree
        // must hold exactly (checked below).
        let mut complement: Vec<(u64, u128)> = Vec::new();
        let mut cursor: u128 = 0;
        for (key, ()) in self.busy.iter() {
            let id = key as u32;
            match self.slab.get(id) {
                Some(va) if (key >> 32) as u64 == va.start => {
                    let (start, end) = (u128::from(va.start), u128::from(va.end));
                    if start > cursor {
                        complement.push((cursor as u64, start));
                    }
                    cursor = cursor.max(end);
                }
                _ => {
                    return Err(format!(
                        "busy set: key {key:#x} names no vmap_area starting there"
                    ))
                }
            }
        }
        if cursor < 1 << 64 {
            complement.push((cursor as u64, 1 << 64));
        }
        let mut listed = 0usize;
        let mut pages = 0u64;
        for &id in &self.lazy {
            match self.slab.get(id) {
                Some(va) if va.state == VaState::Lazy => pages += va.lazy_pages,
                _ => return Err(format!("lazy list: id {id} is not a lazy vmap_area")),
            }
            listed += 1;
        }
        let lazy = self
            .slab
            .iter()
            .filter(|(_, va)| va.state == VaState::Lazy)
            .count();
        if listed != lazy {
            return Err(format!(
                "lazy list: {listed} entries for {lazy} lazy vmap_areas"
            ));
        }
        if pages != self.lazy_nr {
            return Err(format!(
                "lazy_nr = {} but the listed areas added {pages} pages",
                self.lazy_nr
            ));
        }
        self.check_gaps_are(&complement)
    }

    /// The free-gap tree holds exactly `expected`, the complement of the busy areas' union in
    /// `[0, 2^64)`: every address is free or busy, never both, never neither. (With the
    /// literal 4.x search, placement reads the busy list only, so a tree that drifted would
    /// otherwise go unnoticed.)
    fn check_gaps_are(&self, expected: &[(u64, u128)]) -> Result<(), String> {
        let mut actual = self.gaps.iter();
        for (i, want) in expected.iter().enumerate() {
            match actual.next() {
                Some(got) if got == *want => {}
                got => {
                    return Err(format!(
                        "free-gap tree: gap {i} is {got:x?}, the complement of the busy areas has {want:x?}"
                    ))
                }
            }
        }
        match actual.next() {
            None => Ok(()),
            Some(extra) => Err(format!(
                "free-gap tree: gap {extra:x?} lies inside the busy areas"
            )),
        }
    }

    /// Places a new busy area of `size` bytes and reserves it (R3, R4): by exact lowest fit
    /// over every busy area, lazy ones included, or with `faithful` by the literal v4.19.0
    /// search (strict cache test), which caches the new area. `plan` says what the fit is
    /// judged by ([`SearchPlan::exact`] except under a planted fault).
    ///
    /// [`Placement::Wrapped`] when the search reached a candidate whose `ALIGN` wrapped to 0:
    /// always reported by the 4.x search; by lowest fit only with `plan.detect_wrap`, found by
    /// running the cache-less 4.x walk after lowest fit failed (a lowest fit, when there is
    /// one, comes before any wrapped candidate, and with the non-strict test a cache cannot
    /// change whether the walk wraps; see `knobs::AlignWrapCheck`). [`Placement::EndWrapped`]
    /// likewise, only under the old overflow test: a candidate ending at 2^64 also comes after
    /// every candidate lowest fit could take.
    pub(crate) fn place(
        &mut self,
        size: u64,
        plan: SearchPlan,
        request: VaRequest,
        state: VaState,
    ) -> Placement {
        let VaRequest { vstart, align, .. } = request;
        let start = if self.faithful {
            let view = BusyView {
                busy: &self.busy,
                slab: &self.slab,
            };
            match self.cache.search_with(
                &view,
                plan.size,
                align,
                (vstart, plan.vend),
                HoleTest::Strict,
                plan.overflow,
            ) {
                None => return Placement::NoFit,
                Some(a) if a < vstart => return Placement::Wrapped,
                Some(a) if a.wrapping_add(plan.size) == 0 => return Placement::EndWrapped,
                Some(a) => {
                    // The walk found `[a, a + plan.size)` between busy areas, below vend.
                    self.reserve_found(a, size, plan.size);
                    a
                }
            }
        } else {
            let fit = if plan == SearchPlan::exact(size, request.vend, plan.detect_wrap) {
                self.gaps.take_lowest_fit(size, align, vstart, request.vend)
            } else {
                self.gaps
                    .lowest_fit(plan.size, align, vstart, plan.vend)
                    .inspect(|&a| self.reserve_found(a, size, plan.size))
            };
            match fit {
                Some(a) => a,
                None => return self.no_lowest_fit(plan, align, vstart),
            }
        };
        let end = start.saturating_add(size);
        let id = self.slab.insert(VmapArea {
            start,
            end,
            state,
            request,
            lazy_pages: 0,
        });
        self.busy.insert(busy_key(start, id), ());
        if self.faithful {
            self.cache.inserted(id);
        }
        Placement::At(id)
    }

    /// Reserves `[a, a + size)` in the free gaps after a search judged by `judged` bytes found
    /// `[a, a + judged)` free inside one gap. When a planted fault judged by less than `size`,
    /// the area may run into the next busy one; then only the free part leaves the gaps (the
    /// busy list, which the kernel inserts into, stays the authority).
    fn reserve_found(&mut self, a: u64, size: u64, judged: u64) {
        if self.gaps.reserve(a, a.saturating_add(size)).is_err() {
            let _ = self.gaps.reserve(a, a.saturating_add(judged.min(size)));
        }
    }

    /// What a lowest-fit placement that found nothing reports: [`Placement::NoFit`], unless
    /// `plan` asks about the 4.x walk's wrapped candidates and the cache-less walk (non-strict,
    /// so it equals lowest fit) stops at one. O(n): run only after lowest fit failed.
    fn no_lowest_fit(&self, plan: SearchPlan, align: u64, vstart: u64) -> Placement {
        let end_may_wrap = plan.overflow == OverflowTest::SizeMinusOne;
        if !(plan.detect_wrap || end_may_wrap) {
            return Placement::NoFit;
        }
        let view = BusyView {
            busy: &self.busy,
            slab: &self.slab,
        };
        let mut fresh = SearchCache::default();
        match fresh.search_with(
            &view,
            plan.size,
            align,
            (vstart, plan.vend),
            HoleTest::NonStrict,
            plan.overflow,
        ) {
            Some(a) if plan.detect_wrap && a < vstart => Placement::Wrapped,
            Some(a) if end_may_wrap && a.wrapping_add(plan.size) == 0 => Placement::EndWrapped,
            _ => Placement::NoFit,
        }
    }

    /// Switches between exact lowest fit and the 4.x search (`faithful_4x_cache`), e.g. when a
    /// zoo entry runs that knob's old value (design §4.3). The free gaps are kept in both
    /// modes, so this is possible at any time; a switch starts the 4.x search with no cached
    /// VA, a state the kernel's cache takes too (its next search is a full one).
    #[cfg(feature = "planted-bugs")]
    pub(crate) fn set_faithful(&mut self, faithful: bool) {
        if faithful != self.faithful {
            self.faithful = faithful;
            self.cache = SearchCache::default();
        }
    }

    /// `__free_vmap_area`'s cache moves for busy area `id`, before it leaves the busy set.
    fn cache_freeing(&mut self, id: u32) {
        if self.faithful {
            let view = BusyView {
                busy: &self.busy,
                slab: &self.slab,
            };
            self.cache.freeing(&view, id);
        }
    }

    /// The busy area containing `addr` (`find_vmap_area`, a range lookup since 3.11).
    pub(crate) fn find(&self, addr: u64) -> Option<u32> {
        let (key, ()) = self.busy.last_at_or_below(&busy_key(addr, u32::MAX))?;
        let id = key as u32;
        let va = self.slab.get(id)?;
        (addr < va.end).then_some(id)
    }

    /// True if a busy area starts exactly at `addr`.
    fn starts_at(&self, addr: u64) -> bool {
        self.busy
            .last_at_or_below(&busy_key(addr, u32::MAX))
            .is_some_and(|(key, ())| (key >> 32) as u64 == addr)
    }

    /// `free_vmap_area_noflush` without the threshold test: the area becomes lazy and adds
    /// `pages` to `lazy_nr` (semantics §5.4). The caller runs the threshold check.
    pub(crate) fn lazy_add(&mut self, id: u32, pages: u64) {
        if let Some(va) = self.slab.get_mut(id) {
            va.state = VaState::Lazy;
            va.lazy_pages = pages;
            self.lazy_nr += pages;
            self.lazy.push(id);
        }
    }

    /// Removes an area from the busy set and gives its range back at once (no lazy stage).
    pub(crate) fn release_now(&mut self, id: u32) {
        self.cache_freeing(id);
        if let Some(va) = self.slab.remove(id) {
            self.busy.remove(&busy_key(va.start, id));
            self.gaps_release(va.start, va.end);
        }
    }

    /// `__purge_vmap_area_lazy` (R9): releases every lazy area newest first, subtracts its
    /// pages from `lazy_nr` and records one TLB flush over `[min start, max end)`. Nothing
    /// happens when nothing is pending. `over_release` is the planted fault of I1.
    pub(crate) fn purge(&mut self, events: &mut Vec<Event>, over_release: bool) {
        if self.lazy.is_empty() {
            return;
        }
        let mut lazy = std::mem::take(&mut self.lazy);
        let (mut lo, mut hi) = (u64::MAX, 0);
        for va in lazy.iter().filter_map(|&id| self.slab.get(id)) {
            lo = lo.min(va.start);
            hi = hi.max(va.end);
        }
        events.push(Event::TlbFlush { start: lo, end: hi });
        if over_release || self.faithful {
            // The planted fault, and the 4.x cache's moves (__free_vmap_area, newest first),
            // look at the busy set as it shrinks: one area at a time.
            for &id in lazy.iter().rev() {
                self.cache_freeing(id);
                let Some(va) = self.slab.remove(id) else {
                    continue;
                };
                self.busy.remove(&busy_key(va.start, id));
                self.lazy_nr = self.lazy_nr.saturating_sub(va.lazy_pages);
                let mut end = va.end;
                if over_release && self.starts_at(va.end) {
                    end = va.end.saturating_add(PAGE_SIZE);
                }
                self.gaps_release(va.start, end);
            }
        } else {
            // The outcome does not depend on the order: the busy set loses these keys and the
            // free space gains the union of their ranges. So the ranges are released as
            // runs of adjacent areas, and the busy keys removed as one sorted batch.
            let mut batch = std::mem::take(&mut self.purge_batch);
            for &id in lazy.iter().rev() {
                let Some(va) = self.slab.remove(id) else {
                    continue;
                };
                self.lazy_nr = self.lazy_nr.saturating_sub(va.lazy_pages);
                batch.push((va.start, id, va.end));
            }
            batch.sort_unstable();
            let mut run: Option<(u64, u64)> = None;
            for &(start, _, end) in &batch {
                run = match run {
                    Some((s, e)) if start <= e => Some((s, e.max(end))),
                    Some((s, e)) => {
                        self.gaps_release(s, e);
                        Some((start, end))
                    }
                    None => Some((start, end)),
                };
            }
            if let Some((s, e)) = run {
                self.gaps_release(s, e);
            }
            let keys: Vec<u128> = batch.iter().map(|&(s, id, _)| busy_key(s, id)).collect();
            self.busy.remove_sorted(&keys);
            batch.clear();
            self.purge_batch = batch;
        }
        lazy.clear();
        self.lazy = lazy;
    }

    /// Gives `[start, end)` back to the free space. If part of it is already free (only after
    /// a planted fault), only the busy pieces are released.
    fn gaps_release(&mut self, start: u64, end: u64) {
        #[cfg(feature = "planted-bugs")]
        let before = self.gaps.len();
        self.gaps_release_inner(start, end);
        #[cfg(feature = "planted-bugs")]
        if self.gap_count_drift && self.gaps.len() < before {
            self.gaps.planted_count_one_more();
        }
    }

    fn gaps_release_inner(&mut self, start: u64, end: u64) {
        if start >= end || self.gaps.release(start, end).is_ok() {
            return;
        }
        let free: Vec<(u64, u128)> = self
            .gaps
            .iter()
            .filter(|&(s, e)| (s as u128) < end as u128 && e > start as u128)
            .collect();
        let mut cursor = start;
        for (s, e) in free {
            if s > cursor {
                let _ = self.gaps.release(cursor, s);
            }
            cursor = u64::try_from(e).unwrap_or(u64::MAX).max(cursor);
        }
        if cursor < end {
            let _ = self.gaps.release(cursor, end);
        }
    }

    /// Number of busy areas.
    pub(crate) fn busy_len(&self) -> usize {
        self.busy.len()
    }

    /// The ids of the busy areas in address order.
    pub(crate) fn busy_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.busy.iter().map(|(key, ())| key as u32)
    }
}

//! Freeing: R8 failure residue, R9 free steps and purge, R10 free lookup, R11 vunmap, and
//! the deferred vfree list (semantics §5.1).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use crate::areas::{AreaKind, VmRecord};
use crate::arith::PAGE_SIZE;
use crate::knobs::VunmapLookup;
use crate::model::Model;
use crate::types::{ArrayKind, BugKind, Event, Fatal, Gfp};

impl Model {
    /// R9 steps 1–2 (`remove_vm_area`, semantics §5.4) on the LiveVm area at `start`:
    /// 1. clear the PTEs of the whole VA, guard included (the tables stay);
    /// 2. the VA becomes LazyPending: `lazy_nr += VA pages` (guard included), it joins the
    ///    lazy list (newest first), and if now `lazy_nr > lazy_max_pages` (strictly)
    ///    everything pending is purged, this VA included.
    ///
    /// Returns the `vm_struct` for steps 3–5, or `None` if `start` is not a live area.
    pub(crate) fn r9_remove_vm_area(&mut self, start: u64) -> Option<VmRecord> {
        let area = self.busy.get_mut(start)?;
        // Replacing LazyPending by LazyPending changes nothing, so a lazy area stays as is.
        let AreaKind::LiveVm(record) = std::mem::replace(&mut area.kind, AreaKind::LazyPending)
        else {
            return None;
        };
        let (end, pages) = (area.end, area.va_pages());
        // Step 1.
        self.tables.clear_range(start, end);
        // Step 2.
        self.lazy_nr += pages;
        self.lazy.insert(0, start);
        if self.lazy_nr > self.config.lazy_max_pages() {
            self.r9_purge();
        }
        Some(record)
    }

    /// R9 purge: release every LazyPending VA, newest first, subtracting its pages from
    /// `lazy_nr` (back to 0), after one TLB flush over `[min va_start, max va_end)` of the
    /// released VAs. With nothing pending it does nothing, not even the flush. With
    /// `faithful_4x_cache` on, each release first moves the search cache as
    /// `__free_vmap_area` does (module `cache4x`).
    pub(crate) fn r9_purge(&mut self) {
        if self.lazy.is_empty() {
            return;
        }
        let pending: Vec<(u64, u64)> = self
            .lazy
            .iter()
            .filter_map(|&s| self.busy.get(s).map(|a| (a.start, a.end)))
            .collect();
        let start = pending.iter().map(|&(s, _)| s).min().unwrap_or(0);
        let end = pending.iter().map(|&(_, e)| e).max().unwrap_or(0);
        self.events.push(Event::TlbFlush { start, end });
        for s in std::mem::take(&mut self.lazy) {
            if let Some(cache) = &mut self.search_cache {
                cache.releasing(&self.busy, s);
            }
            if let Some(area) = self.busy.remove(s) {
                self.lazy_nr -= area.va_pages();
            }
        }
    }

    /// R9 steps 1–5 (`__vunmap(addr, 1)`: vfree and the failure paths) on the LiveVm area at
    /// `start`: steps 1–2 above; 3. free `pages[0..nr_pages)`; 4. free the pages array (a
    /// kmalloc'ed one is simply gone; a nested one goes through `vfree`, so through R10 and
    /// these same steps, with its own lazy add and threshold check, after the outer VA);
    /// 5. drop the `vm_struct`.
    ///
    /// The nested array's lookup finds its live area, so no knob makes it fail; the result
    /// is passed on all the same.
    pub(crate) fn r9_free(&mut self, start: u64) -> Result<(), Fatal> {
        let Some(record) = self.r9_remove_vm_area(start) else {
            return Ok(());
        };
        self.pool.release_all(&record.pages);
        if let ArrayKind::Vmalloc { addr } = record.array {
            self.r10_free_lookup(addr, true)?;
        }
        Ok(())
    }

    /// R11 / `free_vm_area`: R9 steps 1, 2 and 5 only. The data pages and the pages array
    /// are never freed; on vmalloc memory they become orphaned (I5, design §3.5): the
    /// pages join the orphaned set, a kmalloc'ed array is counted, and a nested array area
    /// stays live but is marked orphaned (nothing refers to it any more).
    pub(crate) fn r11_vunmap(&mut self, start: u64) {
        let Some(record) = self.r9_remove_vm_area(start) else {
            return;
        };
        self.orphaned_pages.extend(record.pages);
        match record.array {
            ArrayKind::None => {}
            ArrayKind::Kmalloc { .. } => self.orphaned_arrays += 1,
            ArrayKind::Vmalloc { addr } => {
                if let Some(nested) = self.busy.get_mut(addr).and_then(|a| a.record_mut()) {
                    nested.orphaned = true;
                }
            }
        }
    }

    /// R8 failure residue after a data-page (R6) or mapping (R7) failure (semantics §6.4):
    /// warning 2 with `nr_pages·4096` and the VA size, guard included (unless NOWARN), then R9
    /// steps 1–5 on the area. What survives is the R8 residue: the lazily pending VA(s), unless a
    /// threshold check on this path purged them, and any page-table pages made.
    pub(crate) fn r8_fail(&mut self, start: u64, gfp: Gfp) -> Result<(), Fatal> {
        let Some(area) = self.busy.get(start) else {
            return Ok(());
        };
        let allocated = area.record().map_or(0, |r| r.pages.len() as u64) * PAGE_SIZE;
        let total = area.end - area.start;
        self.warn_unless_nowarn(gfp, Event::AllocPartial { allocated, total });
        self.r9_free(start)
    }

    /// R10 free lookup (`__vunmap`), for a non-NULL `addr`: unaligned → warning 4, nothing;
    /// inside a LiveVm VA (any page, guard included) → that whole area is freed (R9 steps 1–5
    /// if `deallocate`, else R11); otherwise (no busy VA, or a LazyPending one) → warning 5,
    /// nothing. That is the default `vunmap_lookup` (4.19.126+/5.0+), and `remove_first`
    /// (≤4.17) gives the same results. With `find_vmap_area_deref` (v4.19.0) an address in
    /// no busy VA at all dereferences NULL instead: [`BugKind::Oops`], after the alignment
    /// test; a LazyPending VA still gives warning 5 (its `vm` was cleared).
    pub(crate) fn r10_free_lookup(&mut self, addr: u64, deallocate: bool) -> Result<(), Fatal> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            self.events.push(Event::BadAddress { addr });
            return Ok(());
        }
        let deref = self.config.knobs.vunmap_lookup == VunmapLookup::FindVmapAreaDeref;
        if deref && self.busy.containing(addr).is_none() {
            return Err(Fatal::Bug(BugKind::Oops));
        }
        match self.busy.live_containing(addr) {
            None => self.events.push(Event::NonexistentArea { addr }),
            Some(start) if deallocate => self.r9_free(start)?,
            Some(start) => self.r11_vunmap(start),
        }
        Ok(())
    }

    /// semantics §5.1 deferred path (contract §10): the freed memory's first 8 bytes become the
    /// llist node, so the previous head (0 if none) is written little-endian at `addr` through
    /// the mapping, and `addr` becomes the new head. An unmapped `addr` is an oops.
    pub(crate) fn deferred_push(&mut self, addr: u64) -> Result<(), Fatal> {
        let previous = self.deferred.first().copied().unwrap_or(0);
        if self.write(addr, &previous.to_le_bytes()).is_err() {
            return Err(Fatal::Bug(BugKind::Oops));
        }
        self.deferred.insert(0, addr);
        Ok(())
    }
}

//! The engine's own structure checks ([`Kernel::check_structures`]): the invariants of its
//! internal data structures, which no view shows and no oracle can rebuild from outside (the
//! free-gap tree's routing keys, maxima and count, the B+trees' shape, the page allocator's
//! summary bitmaps). The harness runs them through its subject contract (`design §8`): after
//! every op in replay, at the whole-state points when fuzzing.
//!
//! What they deliberately leave to the raw oracles: the frames against their owners and the
//! free-page counters (page conservation, I5), the page tables (I3, I4, I8, I9) and the root
//! and boot entries (semantics §12.1). Those are checked from raw memory against the model,
//! so that a fault there is reported by the oracle of its invariant.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::collections::BTreeSet;

use crate::kernel::Kernel;

impl Kernel {
    /// Checks the engine's internal structures; `Err` says what is broken. Covers the VA
    /// allocator (the free-gap tree's own invariants, the busy set's B+tree and its agreement
    /// with the vmap_area slab, the lazy list and `lazy_nr` against the lazy areas' own
    /// counts), the page allocator (summary bitmaps, or the free extents of a large pool), and
    /// the page-table list (each listed table page an allocated pool frame, listed once).
    /// O(n) in the busy areas and table pages, O(pool / 64) for the allocator; never panics.
    pub fn check_structures(&self) -> Result<(), String> {
        self.vas.check()?;
        self.mem.alloc.check()?;
        let mut seen = BTreeSet::new();
        for &t in &self.tables {
            let pfn = t.as_u64();
            if !seen.insert(pfn) {
                return Err(format!("table page {pfn:#x} is listed twice"));
            }
            if !self.mem.alloc.in_pool(pfn) || self.mem.alloc.is_free(pfn) {
                return Err(format!(
                    "table page {pfn:#x} is listed but not an allocated pool frame"
                ));
            }
        }
        Ok(())
    }
}

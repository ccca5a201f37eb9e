//! `vmap_page_range` (semantics §7.1): populate the tables top-down in ascending address order,
//! creating each missing table before descending into it (R13 step 6, I8), and write the leaves
//! (R7). No unwinding on error: what was written stays until the caller clears the VA
//! (semantics §7.1 step 4).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{entry_end, level_index, top_level, Encoding};
use crate::addr::Pfn;
use crate::event::Event;
use crate::physmem::PhysMem;

/// Where new table pages come from (the fault plan and the page pool, semantics §12.2), injected so
/// that the walk itself knows nothing about policy.
pub(crate) trait TableSource {
    /// One zeroed page-table page, or `None` if the allocation failed.
    fn alloc_table(&mut self, mem: &mut PhysMem) -> Option<Pfn>;
}

/// Why a mapping stopped. Each becomes `-ENOMEM` at the top (semantics §7.1 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// A table page could not be allocated.
    TableAlloc,
    /// The target PTE was not none (warning 6 was recorded).
    PteNotNone {
        /// Virtual address of the PTE.
        addr: u64,
    },
    /// No page for this PTE (warning 6 was recorded).
    NullPage {
        /// Virtual address of the PTE.
        addr: u64,
    },
    /// An entry points to a frame that does not exist (only after memory corruption).
    BadTable {
        /// The frame the entry names.
        pfn: u64,
    },
}

/// One `vmap_page_range` call.
pub(crate) struct Mapper<'a> {
    pub(crate) mem: &'a mut PhysMem,
    pub(crate) enc: Encoding,
    pub(crate) tables: &'a mut dyn TableSource,
    pub(crate) events: &'a mut Vec<Event>,
    /// Flags of a new intermediate entry: `0x67 | sme_c_bit` (I9) unless a planted bug says
    /// otherwise.
    pub(crate) table_flags: u64,
    /// Leaf protection, already evaluated (semantics §8.3 step 1).
    pub(crate) prot_value: u64,
}

impl Mapper<'_> {
    /// Maps `[start, end)` page by page to `pages`, from the root table `root`.
    pub(crate) fn map(
        &mut self,
        root: Pfn,
        start: u64,
        end: u64,
        pages: &[Pfn],
    ) -> Result<(), MapError> {
        if start >= end {
            return Ok(());
        }
        let mut nr = 0usize;
        self.map_level(root, top_level(self.enc.paging), start, end, pages, &mut nr)
    }

    fn map_level(
        &mut self,
        table: Pfn,
        level: usize,
        start: u64,
        end: u64,
        pages: &[Pfn],
        nr: &mut usize,
    ) -> Result<(), MapError> {
        if !self.mem.exists(table.as_u64()) {
            return Err(MapError::BadTable {
                pfn: table.as_u64(),
            });
        }
        let mut addr = start;
        while addr < end {
            let idx = level_index(addr, level);
            let next = entry_end(addr, level, end);
            let e = self.mem.entry(table.as_u64(), idx);
            if level == 0 {
                if !self.enc.is_none(0, e) {
                    self.events.push(Event::PteNotNone { addr });
                    return Err(MapError::PteNotNone { addr });
                }
                let Some(&page) = pages.get(*nr) else {
                    self.events.push(Event::NullPage { addr });
                    return Err(MapError::NullPage { addr });
                };
                self.mem
                    .set_entry(table.as_u64(), idx, self.enc.leaf(page, self.prot_value));
                *nr += 1;
            } else {
                let child = if self.enc.is_none(level, e) {
                    let t = self
                        .tables
                        .alloc_table(self.mem)
                        .ok_or(MapError::TableAlloc)?;
                    let entry = (t.as_u64() << crate::addr::PAGE_SHIFT) | self.table_flags;
                    self.mem.set_entry(table.as_u64(), idx, entry);
                    t
                } else {
                    self.enc.entry_pfn(e)
                };
                self.map_level(child, level - 1, addr, next, pages, nr)?;
            }
            addr = next;
        }
        Ok(())
    }
}

//! `vmap_page_range` (semantics §7.1): populate the tables top-down in ascending address order,
//! creating each missing table before descending into it (R13 step 6, I8), and write the leaves
//! (R7). No unwinding on error: what was written stays until the caller clears the VA
//! (semantics §7.1 step 4).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{entry_end, level_index, level_shift, top_level, Encoding, MAX_LEVELS};
use crate::addr::Pfn;
use crate::config::Paging;
use crate::event::Event;
use crate::physmem::{PhysMem, POISON_WORD};

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
    /// The planted `PteDropsNx`: the first leaf of the call is written without `_PAGE_NX`.
    pub(crate) drop_nx_first: bool,
}

impl Mapper<'_> {
    /// Maps `[start, end)` page by page to `pages`, from the root table `root`.
    ///
    /// The walk is the kernel's recursion (`vmap_p4d_range` → … → `vmap_pte_range`) run with an
    /// explicit stack: at each level the entries of the range are visited in ascending order,
    /// each read once and, for an upper level, descended into before the next one is read. So
    /// reads, table allocations, writes and events happen in exactly the recursion's order,
    /// whatever the tables hold. A PTE table is looked up once for its run of entries.
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
        let top = top_level(self.enc.paging);
        if (start ^ (end - 1)) >> level_shift(1) == 0 {
            // The whole range is under one PMD entry (every area that does not cross a 2 MiB
            // boundary): the recursion is then one descent and one PTE run.
            // The levels are spelled out, so that each step's tests are specialised to its
            // level.
            let root = root.as_u64();
            self.check_table(root)?;
            let t = match self.enc.paging {
                Paging::FourLevel => {
                    let t = self.child_table(root, 3, start)?;
                    let t = self.child_table(t, 2, start)?;
                    self.child_table(t, 1, start)?
                }
                Paging::FiveLevel => {
                    let t = self.child_table(root, 4, start)?;
                    let t = self.child_table(t, 3, start)?;
                    let t = self.child_table(t, 2, start)?;
                    self.child_table(t, 1, start)?
                }
            };
            let mut nr = 0usize;
            return self.map_ptes(t, start, end, pages, &mut nr).map(|_| ());
        }
        // Per level: the table being walked and the end of its part of the range.
        let mut table = [0u64; MAX_LEVELS];
        let mut lend = [0u64; MAX_LEVELS];
        self.check_table(root.as_u64())?;
        let mut level = top;
        (table[level], lend[level]) = (root.as_u64(), end);
        let mut nr = 0usize;
        let mut addr = start;
        loop {
            if level == 0 {
                addr = self.map_ptes(table[0], addr, lend[0], pages, &mut nr)?;
            } else {
                let next = entry_end(addr, level, lend[level]);
                let child = self.child_table(table[level], level, addr)?;
                level -= 1;
                (table[level], lend[level]) = (child, next);
                continue;
            }
            // Climb out of every level whose part of the range is done.
            while addr >= lend[level] {
                if level == top {
                    return Ok(());
                }
                level += 1;
            }
        }
    }

    /// The table below the entry for `addr` in table `t` at `level`, created (zeroed, from
    /// the pool) if the entry is none (`pXd_alloc`). An entry pointing outside the machine
    /// stops the walk.
    #[inline(always)]
    fn child_table(&mut self, t: u64, level: usize, addr: u64) -> Result<u64, MapError> {
        let idx = level_index(addr, level);
        let e = self.mem.entry(t, idx);
        let child = if self.enc.is_none(level, e) {
            let c = self
                .tables
                .alloc_table(self.mem)
                .ok_or(MapError::TableAlloc)?;
            let entry = (c.as_u64() << crate::addr::PAGE_SHIFT) | self.table_flags;
            self.mem.set_entry(t, idx, entry);
            c.as_u64()
        } else {
            self.enc.entry_pfn(e).as_u64()
        };
        self.check_table(child)?;
        Ok(child)
    }

    /// An entry pointing to a frame outside the machine stops the walk.
    #[inline]
    fn check_table(&self, pfn: u64) -> Result<(), MapError> {
        if self.mem.exists(pfn) {
            Ok(())
        } else {
            Err(MapError::BadTable { pfn })
        }
    }

    /// `vmap_pte_range` over `[addr, end)` of the PTE table in frame `t`: each PTE must be none
    /// (warning 6) and gets the next page's leaf. Returns `end`.
    fn map_ptes(
        &mut self,
        t: u64,
        mut addr: u64,
        end: u64,
        pages: &[Pfn],
        nr: &mut usize,
    ) -> Result<u64, MapError> {
        // A frame never written reads as poison, which is never none: the first PTE fails.
        let mut slot = self.mem.frames.slot_mut(t);
        while addr < end {
            let idx = level_index(addr, 0);
            let e = slot.as_deref().map_or(POISON_WORD, |c| c.word(idx));
            if !self.enc.is_none(0, e) {
                self.events.push(Event::PteNotNone { addr });
                return Err(MapError::PteNotNone { addr });
            }
            let Some(&page) = pages.get(*nr) else {
                self.events.push(Event::NullPage { addr });
                return Err(MapError::NullPage { addr });
            };
            let mut leaf = self.enc.leaf(page, self.prot_value);
            if self.drop_nx_first && *nr == 0 {
                leaf &= !super::PteFlags::NX.bits();
            }
            if let Some(c) = slot.as_deref_mut() {
                c.set_word(idx, leaf);
            }
            *nr += 1;
            addr = entry_end(addr, 0, end);
        }
        Ok(end)
    }
}

//! `vunmap_page_range` (semantics §7.3): clear every PTE of a range; tables are never freed (I8).
//! At each level none entries are skipped, bad ones cleared (`pXd_none_or_clear_bad`), huge
//! PMD/PUD leaves cleared (`pXd_clear_huge`); each PTE is read and cleared, with warning 7 when
//! the old value was neither none nor present.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{entry_end, level_index, top_level, Encoding};
use crate::addr::Pfn;
use crate::event::Event;
use crate::physmem::PhysMem;

/// Clears `[start, end)` from the root table `root`.
pub(crate) fn unmap(
    mem: &mut PhysMem,
    enc: Encoding,
    events: &mut Vec<Event>,
    root: Pfn,
    start: u64,
    end: u64,
) {
    if start < end {
        unmap_level(mem, enc, events, root, top_level(enc.paging), start, end);
    }
}

fn unmap_level(
    mem: &mut PhysMem,
    enc: Encoding,
    events: &mut Vec<Event>,
    table: Pfn,
    level: usize,
    start: u64,
    end: u64,
) {
    let t = table.as_u64();
    if !mem.exists(t) {
        return;
    }
    let mut addr = start;
    while addr < end {
        let idx = level_index(addr, level);
        let next = entry_end(addr, level, end);
        let e = mem.entry(t, idx);
        if level == 0 {
            if e != 0 {
                mem.set_entry(t, idx, 0);
            }
            if !enc.is_none(0, e) && !enc.pte_present(e) {
                events.push(Event::ClearNonPresent { addr });
            }
        } else if enc.is_huge(level, e) {
            mem.set_entry(t, idx, 0);
        } else if enc.is_none(level, e) {
            // Nothing mapped below.
        } else if enc.is_bad(level, e) {
            mem.set_entry(t, idx, 0);
        } else {
            unmap_level(mem, enc, events, enc.entry_pfn(e), level - 1, addr, next);
        }
        addr = next;
    }
}

//! `vunmap_page_range` (semantics §7.3): clear every PTE of a range; tables are never freed (I8).
//! At each level none entries are skipped, bad ones cleared (`pXd_none_or_clear_bad`), huge
//! PMD/PUD leaves cleared (`pXd_clear_huge`); each PTE is read and cleared, with warning 7 when
//! the old value was neither none nor present.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{entry_end, level_index, level_shift, top_level, Encoding, MAX_LEVELS};
use crate::addr::Pfn;
use crate::config::Paging;
use crate::event::Event;
use crate::physmem::{PhysMem, POISON_WORD};

/// Planted faults of the unmap walk (design §4.3); all off in a correct engine.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UnmapFaults {
    /// `PudBadRejectsKernpg`: `pud_bad` demands exactly `_PAGE_TABLE`, so a `_KERNPG_TABLE`
    /// entry (the boot entry of PUD 510) is judged bad and cleared.
    pub(crate) strict_pud_bad: bool,
    /// `UnlinkEmptyPteTable`: a PTE table left with no entry set is unlinked from its PMD
    /// entry (the page itself stays allocated).
    pub(crate) unlink_empty: bool,
}

/// Clears `[start, end)` from the root table `root`.
///
/// The walk is the kernel's recursion (`vunmap_p4d_range` → … → `vunmap_pte_range`) run with an
/// explicit stack: at each level the entries of the range are visited in ascending order, each
/// read once and, when it leads to a table, descended into before the next one is read, so
/// reads, writes and events happen in exactly the recursion's order. A PTE table is looked up
/// once for its run of entries.
pub(crate) fn unmap(
    mem: &mut PhysMem,
    enc: Encoding,
    events: &mut Vec<Event>,
    root: Pfn,
    start: u64,
    end: u64,
    faults: UnmapFaults,
) {
    if start >= end || !mem.exists(root.as_u64()) {
        return;
    }
    let top = top_level(enc.paging);
    if (start ^ (end - 1)) >> level_shift(1) == 0 {
        // The whole range is under one PMD entry (every area that does not cross a 2 MiB
        // boundary): the recursion is then one descent and one PTE run.
        // The levels are spelled out, so that each step's tests are specialised to its level.
        let root = root.as_u64();
        let pmd_table = match enc.paging {
            Paging::FourLevel => table_below(mem, enc, faults, root, 3, start)
                .and_then(|t| table_below(mem, enc, faults, t, 2, start)),
            Paging::FiveLevel => table_below(mem, enc, faults, root, 4, start)
                .and_then(|t| table_below(mem, enc, faults, t, 3, start))
                .and_then(|t| table_below(mem, enc, faults, t, 2, start)),
        };
        if let Some(pmd) = pmd_table {
            if let Some(t) = table_below(mem, enc, faults, pmd, 1, start) {
                clear_ptes(mem, enc, events, t, start, end);
                if faults.unlink_empty {
                    unlink_if_empty(mem, pmd, level_index(start, 1), t);
                }
            }
        }
        return;
    }
    // Per level: the table being walked and the end of its part of the range.
    let mut table = [0u64; MAX_LEVELS];
    let mut lend = [0u64; MAX_LEVELS];
    let mut level = top;
    (table[level], lend[level]) = (root.as_u64(), end);
    let mut addr = start;
    loop {
        if level == 0 {
            clear_ptes(mem, enc, events, table[0], addr, lend[0]);
            if faults.unlink_empty {
                unlink_if_empty(mem, table[1], level_index(addr, 1), table[0]);
            }
            addr = lend[0];
        } else {
            let next = entry_end(addr, level, lend[level]);
            if let Some(child) = table_below(mem, enc, faults, table[level], level, addr) {
                level -= 1;
                (table[level], lend[level]) = (child, next);
                continue;
            }
            addr = next;
        }
        // Climb out of every level whose part of the range is done.
        while addr >= lend[level] {
            if level == top {
                return;
            }
            level += 1;
        }
    }
}

/// The entry for `addr` in table `t` at `level` (above the PTEs): a huge or bad entry is
/// cleared (`pXd_clear_huge`, `pXd_none_or_clear_bad`), a none one skipped, and a table
/// outside the machine too; otherwise the table below is returned, to be walked.
#[inline(always)]
fn table_below(
    mem: &mut PhysMem,
    enc: Encoding,
    faults: UnmapFaults,
    t: u64,
    level: usize,
    addr: u64,
) -> Option<u64> {
    let idx = level_index(addr, level);
    let e = mem.entry(t, idx);
    if enc.is_huge(level, e) {
        mem.set_entry(t, idx, 0);
    } else if enc.is_none(level, e) {
        // Nothing mapped below.
    } else if enc.is_bad(level, e) || (faults.strict_pud_bad && level == 2 && strict_bad(enc, e)) {
        mem.set_entry(t, idx, 0);
    } else {
        let child = enc.entry_pfn(e).as_u64();
        return mem.exists(child).then_some(child);
    }
    None
}

/// The planted `PudBadRejectsKernpg` test: anything but exactly `_PAGE_TABLE` (with the
/// C-bit) is bad.
fn strict_bad(enc: Encoding, e: u64) -> bool {
    enc.flags(e) != super::PteFlags::PAGE_TABLE.bits() | enc.sme_c_bit
}

/// The planted `UnlinkEmptyPteTable`: clears entry `idx` of PMD table `pmd` when the PTE
/// table `pte` it links has no entry set.
fn unlink_if_empty(mem: &mut PhysMem, pmd: u64, idx: usize, pte: u64) {
    if (0..512).all(|i| mem.entry(pte, i) == 0) {
        mem.set_entry(pmd, idx, 0);
    }
}

/// `vunmap_pte_range` over `[addr, end)` of the PTE table in frame `t`: each PTE is read and
/// cleared, with warning 7 when it was neither none nor present.
fn clear_ptes(
    mem: &mut PhysMem,
    enc: Encoding,
    events: &mut Vec<Event>,
    t: u64,
    mut addr: u64,
    end: u64,
) {
    while addr < end {
        let idx = level_index(addr, 0);
        let e = match mem.frames.slot_mut(t) {
            Some(c) => {
                let e = c.word(idx);
                c.set_word(idx, 0);
                e
            }
            // A frame never written reads as poison; clearing creates its contents.
            None => {
                mem.set_entry(t, idx, 0);
                POISON_WORD
            }
        };
        if !enc.is_none(0, e) && !enc.pte_present(e) {
            events.push(Event::ClearNonPresent { addr });
        }
        addr = entry_end(addr, 0, end);
    }
}

//! Walks that translate a virtual address through the frames: the kernel's `vmalloc_to_page`
//! (semantics §2, R12) and a hardware-style translation used for data access and by oracles.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{level_index, top_level, Encoding, PteFlags};
use crate::addr::{Pfn, VirtAddr, PAGE_SIZE};
use crate::physmem::PhysMem;

/// A successful hardware-style translation of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The frame mapped at the address's page.
    pub pfn: Pfn,
    /// Offset inside the page.
    pub offset: u64,
    /// The raw leaf PTE.
    pub leaf: u64,
    /// Effective write permission: RW at every level.
    pub writable: bool,
    /// Effective no-execute: NX at some level.
    pub no_execute: bool,
    /// Effective user access: USER at every level.
    pub user: bool,
}

/// Why a hardware-style translation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkError {
    /// The address is not canonical.
    NonCanonical,
    /// The entry at `level` (0 = PTE) is not present.
    NotPresent {
        /// Level of the missing entry.
        level: usize,
    },
    /// A huge (PS) entry at `level`; the engine never creates one.
    Huge {
        /// Level of the huge entry.
        level: usize,
    },
    /// An entry names a frame outside the machine.
    BadFrame {
        /// That frame.
        pfn: u64,
    },
}

/// Hardware-style translation: PRESENT at every level, PS reported as [`WalkError::Huge`],
/// effective permissions combined as the CPU does (RW and USER by AND, NX by OR).
pub(crate) fn translate(
    mem: &PhysMem,
    enc: Encoding,
    root: Pfn,
    va: VirtAddr,
) -> Result<Translation, WalkError> {
    let va = va.as_u64();
    if VirtAddr::try_new(va, enc.paging).is_err() {
        return Err(WalkError::NonCanonical);
    }
    let mut table = root.as_u64();
    let (mut rw, mut user, mut nx) = (true, true, false);
    let mut level = top_level(enc.paging);
    loop {
        if !mem.exists(table) {
            return Err(WalkError::BadFrame { pfn: table });
        }
        let e = mem.entry(table, level_index(va, level));
        let f = PteFlags::from_bits_retain(e);
        if !f.contains(PteFlags::PRESENT) {
            return Err(WalkError::NotPresent { level });
        }
        rw &= f.contains(PteFlags::RW);
        user &= f.contains(PteFlags::USER);
        nx |= f.contains(PteFlags::NX);
        if level == 0 {
            return Ok(Translation {
                pfn: enc.entry_pfn(e),
                offset: va % PAGE_SIZE,
                leaf: e,
                writable: rw,
                no_execute: nx,
                user,
            });
        }
        if f.contains(PteFlags::PSE) {
            return Err(WalkError::Huge { level });
        }
        table = enc.entry_pfn(e).as_u64();
        level -= 1;
    }
}

/// `vmalloc_to_page` as in 4.13+ (semantics §2): NULL if any upper level is none, or if the PUD or
/// PMD entry is bad (the kernel also WARNs once there; not an event of semantics §11.1); otherwise
/// the PTE's frame if `pte_present`.
pub(crate) fn vmalloc_to_page(
    mem: &PhysMem,
    enc: Encoding,
    root: Pfn,
    va: VirtAddr,
) -> Option<Pfn> {
    let va = va.as_u64();
    let mut table = root.as_u64();
    let mut level = top_level(enc.paging);
    loop {
        if !mem.exists(table) {
            return None;
        }
        let e = mem.entry(table, level_index(va, level));
        if level == 0 {
            return enc.pte_present(e).then(|| enc.entry_pfn(e));
        }
        if enc.is_none(level, e) || ((level == 1 || level == 2) && enc.is_bad(level, e)) {
            return None;
        }
        table = enc.entry_pfn(e).as_u64();
        level -= 1;
    }
}

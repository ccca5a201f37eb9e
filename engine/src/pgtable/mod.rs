//! x86-64 page tables in simulated frames (semantics §7, §8): 512 × u64 per table, read from the
//! frames on every walk (no side map of PTEs, design §2).
//!
//! Levels are numbered from the leaf: 0 = PTE (shift 12), 1 = PMD (21), 2 = PUD (30),
//! 3 = P4D (39), 4 = PGD under LA57 (48). With 4-level paging the root's entries are at level 3:
//! the P4D is folded into the PGD, so `p4d_populate` writes the PGD slot (semantics §8.3).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

pub mod map;
pub mod ptdump;
pub mod unmap;
pub mod walk;

use bitflags::bitflags;

use crate::addr::{Pfn, PAGE_SHIFT};
use crate::config::Paging;

bitflags! {
    /// `_PAGE_BIT_*` of an x86-64 entry (semantics §8.2). Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PteFlags: u64 {
        /// Bit 0: present.
        const PRESENT = 1 << 0;
        /// Bit 1: writable.
        const RW = 1 << 1;
        /// Bit 2: user accessible.
        const USER = 1 << 2;
        /// Bit 3: write-through.
        const PWT = 1 << 3;
        /// Bit 4: cache disable.
        const PCD = 1 << 4;
        /// Bit 5: accessed.
        const ACCESSED = 1 << 5;
        /// Bit 6: dirty.
        const DIRTY = 1 << 6;
        /// Bit 7: PSE (huge leaf) in a PMD/PUD; PAT in a 4K PTE.
        const PSE = 1 << 7;
        /// Bit 8: global (doubles as `_PAGE_PROTNONE`).
        const GLOBAL = 1 << 8;
        /// Bit 9: software bit 1.
        const SOFTW1 = 1 << 9;
        /// Bit 10: software bit 2.
        const SOFTW2 = 1 << 10;
        /// Bit 11: software bit 3.
        const SOFTW3 = 1 << 11;
        /// Bit 12: PAT of a huge leaf.
        const PAT_LARGE = 1 << 12;
        /// Bit 58: software bit 4 (DEVMAP in 4.x).
        const SOFTW4 = 1 << 58;
        /// Bit 63: no-execute.
        const NX = 1 << 63;
    }
}

impl PteFlags {
    /// `_PAGE_PAT` of a 4K PTE (the same bit as PSE).
    pub const PAT: PteFlags = PteFlags::PSE;
    /// `_KERNPG_TABLE` = P|RW|A|D = 0x63 (semantics §8.3).
    pub const KERNPG_TABLE: PteFlags = PteFlags::PRESENT
        .union(PteFlags::RW)
        .union(PteFlags::ACCESSED)
        .union(PteFlags::DIRTY);
    /// `_PAGE_TABLE` = `_KERNPG_TABLE | USER` = 0x67 (semantics §8.3, I9).
    pub const PAGE_TABLE: PteFlags = PteFlags::KERNPG_TABLE.union(PteFlags::USER);
    /// `_PAGE_KNL_ERRATUM_MASK`: the A and D bits the `*_none` tests ignore (semantics §8.3).
    pub const KNL_ERRATUM_MASK: PteFlags = PteFlags::ACCESSED.union(PteFlags::DIRTY);
}

/// The PFN field of an entry on a 52-bit physical machine (semantics §8.1).
pub const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Entries per table.
pub const PTRS_PER_TABLE: u64 = 512;

/// Table levels of the deepest paging mode (LA57), for the walkers' per-level state.
pub(crate) const MAX_LEVELS: usize = 5;

/// Shift of the region one entry at `level` covers.
pub const fn level_shift(level: usize) -> u32 {
    PAGE_SHIFT + 9 * level as u32
}

/// Index of `va` inside a table at `level`.
pub const fn level_index(va: u64, level: usize) -> usize {
    ((va >> level_shift(level)) & (PTRS_PER_TABLE - 1)) as usize
}

/// Level of the root table's entries.
pub const fn top_level(paging: Paging) -> usize {
    paging.levels() - 1
}

/// The encoding parameters of one machine (semantics §8.3): what entries look like and what the
/// none/bad/present tests accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// Paging mode.
    pub paging: Paging,
    /// The SME C-bit (0 when off).
    pub sme_c_bit: u64,
    /// `__supported_pte_mask`, applied by `pfn_pte` (semantics §8.3 step 2).
    pub supported_pte_mask: u64,
}

impl Encoding {
    /// `PTE_PFN_MASK`: the PFN field without the C-bit (semantics §8.1, contract §2).
    pub const fn pfn_mask(&self) -> u64 {
        PTE_ADDR_MASK & !self.sme_c_bit
    }

    /// Every bit outside the PFN field ("flags" in semantics §8.3; the C-bit counts as a flag).
    pub const fn flags(&self, e: u64) -> u64 {
        e & !self.pfn_mask()
    }

    /// The frame an entry points to.
    pub const fn entry_pfn(&self, e: u64) -> Pfn {
        Pfn::from_u64((e & self.pfn_mask()) >> PAGE_SHIFT)
    }

    /// A leaf: `(pfn << 12) | (prot & supported_pte_mask)` (R7, `mk_pte`).
    pub const fn leaf(&self, pfn: Pfn, prot_value: u64) -> u64 {
        (pfn.as_u64() << PAGE_SHIFT) | (prot_value & self.supported_pte_mask)
    }

    /// `pXd_none` at `level`: LA57's `pgd_none` is a plain zero test; every other level
    /// ignores the A and D bits (semantics §8.3).
    pub const fn is_none(&self, level: usize, e: u64) -> bool {
        if level == 4 {
            e == 0
        } else {
            e & !PteFlags::KNL_ERRATUM_MASK.bits() == 0
        }
    }

    /// `pte_present`: PRESENT or GLOBAL (PROTNONE) set (semantics §8.3).
    pub const fn pte_present(&self, e: u64) -> bool {
        e & (PteFlags::PRESENT.bits() | PteFlags::GLOBAL.bits()) != 0
    }

    /// `pXd_bad` of a table entry at `level` (1..=4), semantics §8.3: `pmd_bad` and LA57's
    /// `pgd_bad` are exact (`_KERNPG_TABLE`, USER ignored, NX ignored for the PGD); `pud_bad` and
    /// `p4d_bad` are subset tests (`p4d_bad` also ignores NX, as with CONFIG_PAGE_TABLE_ISOLATION).
    pub const fn is_bad(&self, level: usize, e: u64) -> bool {
        let f = self.flags(e);
        let kernpg = PteFlags::KERNPG_TABLE.bits() | self.sme_c_bit;
        let user = PteFlags::USER.bits();
        let nx = PteFlags::NX.bits();
        match level {
            1 => f & !user != kernpg,
            2 => f & !(kernpg | user) != 0,
            3 => f & !(kernpg | user | nx) != 0,
            _ => f & !(user | nx) != kernpg,
        }
    }

    /// True if `e` at `level` (1 or 2) is a huge leaf (PSE set).
    pub const fn is_huge(&self, level: usize, e: u64) -> bool {
        (level == 1 || level == 2) && e & PteFlags::PSE.bits() != 0
    }
}

/// The end of the region that the entry at `level` containing `addr` covers, clipped to `end`.
pub(crate) fn entry_end(addr: u64, level: usize, end: u64) -> u64 {
    let size = 1u64 << level_shift(level);
    match (addr & !(size - 1)).checked_add(size) {
        Some(e) if e < end => e,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        let enc = Encoding {
            paging: Paging::FourLevel,
            sme_c_bit: 0,
            supported_pte_mask: u64::MAX,
        };
        assert!(enc.is_none(0, 0x60));
        assert!(!enc.is_none(0, 0x61));
        assert!(enc.is_none(4, 0) && !enc.is_none(4, 0x60));
        assert!(!enc.is_bad(1, 0x2000067) && !enc.is_bad(1, 0x2000063));
        assert!(enc.is_bad(1, 0x2000003));
        assert!(!enc.is_bad(2, 0x2000003));
        assert_eq!(
            enc.leaf(Pfn::from_u64(0x12345), 0x8000_0000_0000_0163),
            0x8000_0000_1234_5163
        );
        assert_eq!(
            entry_end(0xffff_c900_0000_1000, 0, u64::MAX),
            0xffff_c900_0000_2000
        );
        assert_eq!(entry_end(0xffff_ff80_0000_0000, 3, u64::MAX), u64::MAX);
    }
}

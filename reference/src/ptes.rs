//! The PTE map and the page-table pages (R7, I8, I9, semantics §12.1 boot state, §8.3 encodings).
//!
//! The model does not keep table frames as words. It keeps the leaf value of every mapped
//! page (`va → entry`, contract §2) and, per level, which regions have a table and the entry
//! that points to it. A table for a region exists iff it is static (semantics §12.1) or a vmap walk
//! allocated it (I8); it is never removed (semantics §7.3).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use std::collections::BTreeMap;

use crate::config::{MachineConfig, Paging};

/// `_PAGE_TABLE` (semantics §8.3): what every entry created by the vmap path carries (I9).
pub(crate) const PAGE_TABLE_FLAGS: u64 = 0x67;
/// `_KERNPG_TABLE` (semantics §8.3): the boot entry of PUD 510 (semantics §12.1).
pub(crate) const KERNPG_TABLE_FLAGS: u64 = 0x63;
/// PFN field of an entry with 52-bit physical addresses (semantics §8.1, contract §2).
pub(crate) const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;
/// The root PGD's frame (semantics §12.1).
pub(crate) const ROOT_PGD_PFN: u64 = 1;

/// The level of a page-table page, named by the entries it holds.
///
/// Each table translates one aligned region of virtual addresses: a P4D table one PGD slot
/// (256 TiB, LA57 only), a PUD table 512 GiB, a PMD table 1 GiB, a PTE table 2 MiB (I8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableLevel {
    /// P4D table (LA57 only), per 256 TiB region.
    P4d,
    /// PUD table, per 512 GiB region.
    Pud,
    /// PMD table, per 1 GiB region.
    Pmd,
    /// PTE table, per 2 MiB region.
    Pte,
}

impl TableLevel {
    /// log2 of the size of the region one table of this level translates.
    pub fn region_shift(self) -> u32 {
        match self {
            TableLevel::P4d => 48,
            TableLevel::Pud => 39,
            TableLevel::Pmd => 30,
            TableLevel::Pte => 21,
        }
    }

    /// The base of the region of this level that holds `va`.
    pub fn region_base(self, va: u64) -> u64 {
        va & !((1u64 << self.region_shift()) - 1)
    }
}

/// The tables a walk needs for one page, top level first (semantics §7.1, R13 step 6): the PGD is
/// the root; with 4-level paging the P4D is folded into it.
pub(crate) fn walk_levels(paging: Paging) -> &'static [TableLevel] {
    match paging {
        Paging::FourLevel => &[TableLevel::Pud, TableLevel::Pmd, TableLevel::Pte],
        Paging::FiveLevel => &[
            TableLevel::P4d,
            TableLevel::Pud,
            TableLevel::Pmd,
            TableLevel::Pte,
        ],
    }
}

/// R7: a leaf PTE is `(pfn << 12) | (prot & supported_pte_mask)`, `prot` the evaluated value.
pub(crate) fn r7_leaf(pfn: u64, prot_value: u64, supported_pte_mask: u64) -> u64 {
    (pfn << 12) | (prot_value & supported_pte_mask)
}

/// I9: every entry the vmap path creates is exactly `phys | 0x67 | sme_c_bit`.
pub(crate) fn i9_table_entry(pfn: u64, sme_c_bit: u64) -> u64 {
    (pfn << 12) | PAGE_TABLE_FLAGS | sme_c_bit
}

/// The PFN an entry points to (contract §2): the PFN field without the C-bit.
pub(crate) fn entry_pfn(entry: u64, sme_c_bit: u64) -> u64 {
    (entry & PTE_PFN_MASK & !sme_c_bit) >> 12
}

/// One page-table page and the entry in its parent that points to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableRecord {
    pub(crate) pfn: u64,
    pub(crate) entry: u64,
}

/// PTE map plus static and allocated tables.
#[derive(Clone, Debug)]
pub(crate) struct PageTables {
    ptes: BTreeMap<u64, u64>,
    allocated: BTreeMap<(TableLevel, u64), TableRecord>,
    boot: BTreeMap<(TableLevel, u64), TableRecord>,
}

impl PageTables {
    /// semantics §12.1: the root PGD at PFN 1 and the kernel image's tables for the modules window.
    ///
    /// PGD 511 → PUD table at PFN 2 (`0x67`); PUD 510 → PMD table at PFN 3 (`0x63`, the
    /// boot code's `_KERNPG_TABLE`); PUD 511 → PMD table at PFN 4 (`0x67`). With LA57,
    /// PGD 511 → P4D table at PFN 5 (`0x67`), whose slot 511 → the PUD table at PFN 2.
    /// Under SME every entry also carries the C-bit.
    pub(crate) fn new(config: &MachineConfig) -> Self {
        let c = config.sme_c_bit;
        let mut boot = BTreeMap::new();
        let record = |pfn: u64, flags: u64| TableRecord {
            pfn,
            entry: (pfn << 12) | flags | c,
        };
        if config.paging == Paging::FiveLevel {
            boot.insert(
                (TableLevel::P4d, 0xffff_0000_0000_0000),
                record(5, PAGE_TABLE_FLAGS),
            );
        }
        boot.insert(
            (TableLevel::Pud, 0xffff_ff80_0000_0000),
            record(2, PAGE_TABLE_FLAGS),
        );
        boot.insert(
            (TableLevel::Pmd, 0xffff_ffff_8000_0000),
            record(3, KERNPG_TABLE_FLAGS),
        );
        boot.insert(
            (TableLevel::Pmd, 0xffff_ffff_c000_0000),
            record(4, PAGE_TABLE_FLAGS),
        );
        PageTables {
            ptes: BTreeMap::new(),
            allocated: BTreeMap::new(),
            boot,
        }
    }

    /// The table translating `va` at `level`, static or allocated.
    pub(crate) fn table_for(&self, level: TableLevel, va: u64) -> Option<TableRecord> {
        let key = (level, level.region_base(va));
        self.boot
            .get(&key)
            .or_else(|| self.allocated.get(&key))
            .copied()
    }

    /// Records a table page the walk just allocated for `va`'s region at `level` (I8, I9).
    pub(crate) fn add_table(&mut self, level: TableLevel, va: u64, pfn: u64, sme_c_bit: u64) {
        let record = TableRecord {
            pfn,
            entry: i9_table_entry(pfn, sme_c_bit),
        };
        self.allocated
            .insert((level, level.region_base(va)), record);
    }

    pub(crate) fn pte(&self, va: u64) -> Option<u64> {
        self.ptes.get(&va).copied()
    }

    /// Sets the PTE of `va`, whatever it was (the tests' way of breaking the model's state).
    #[cfg(test)]
    pub(crate) fn set_pte(&mut self, va: u64, value: u64) {
        self.ptes.insert(va, value);
    }

    /// Sets the PTE of `va` if it has none; if it has one, leaves it and returns its value.
    pub(crate) fn set_pte_if_none(&mut self, va: u64, value: u64) -> Result<(), u64> {
        match self.ptes.entry(va) {
            std::collections::btree_map::Entry::Occupied(old) => Err(*old.get()),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
                Ok(())
            }
        }
    }

    /// R9 step 1: clears every PTE in `[start, end)`; the tables stay (semantics §7.3).
    pub(crate) fn clear_range(&mut self, start: u64, end: u64) {
        let doomed: Vec<u64> = self.ptes.range(start..end).map(|(&va, _)| va).collect();
        for va in doomed {
            self.ptes.remove(&va);
        }
    }

    pub(crate) fn ptes(&self) -> &BTreeMap<u64, u64> {
        &self.ptes
    }

    pub(crate) fn allocated(&self) -> &BTreeMap<(TableLevel, u64), TableRecord> {
        &self.allocated
    }

    pub(crate) fn boot(&self) -> &BTreeMap<(TableLevel, u64), TableRecord> {
        &self.boot
    }

    /// Whether a PTE exists for a page in `[start, end)`.
    pub(crate) fn any_pte_in(&self, start: u64, end: u64) -> bool {
        start < end && self.ptes.range(start..end).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_vmalloc_start() {
        // semantics §8.1: VMALLOC_START 0xffffc90000000000 is PGD index 402 (bits 47..39 = 0x192),
        // and it is aligned to 512 GiB, 1 GiB and 2 MiB, so it is the base of all three regions.
        let start = 0xffff_c900_0000_0000u64;
        assert_eq!((start >> 39) & 0x1ff, 402);
        for level in [TableLevel::Pud, TableLevel::Pmd, TableLevel::Pte] {
            assert_eq!(level.region_base(start), start);
        }
        // START + 0x200000 lies in the next 2 MiB region but the same 1 GiB region.
        assert_eq!(
            TableLevel::Pte.region_base(start + 0x20_1000),
            start + 0x20_0000
        );
        assert_eq!(TableLevel::Pmd.region_base(start + 0x20_1000), start);
    }

    #[test]
    fn boot_tables_cover_the_modules_window() {
        // semantics §12.1: MODULES_VADDR 0xffffffffa0000000 is in PGD 511 and PUD 510; the PUD
        // table (PFN 2) and the PMD table (PFN 3, entry 0x3063) are static; no PTE table exists.
        let t = PageTables::new(&MachineConfig::default());
        let mv = 0xffff_ffff_a000_0000;
        assert_eq!(
            t.table_for(TableLevel::Pud, mv),
            Some(TableRecord {
                pfn: 2,
                entry: 0x2067
            })
        );
        assert_eq!(
            t.table_for(TableLevel::Pmd, mv),
            Some(TableRecord {
                pfn: 3,
                entry: 0x3063
            })
        );
        assert_eq!(
            t.table_for(TableLevel::Pmd, 0xffff_ffff_c000_0000),
            Some(TableRecord {
                pfn: 4,
                entry: 0x4067
            })
        );
        assert_eq!(t.table_for(TableLevel::Pte, mv), None);
        // LA57 adds the P4D table at PFN 5 for PGD slot 511 = [0xffff000000000000, 2^64).
        let la57 = PageTables::new(&MachineConfig::la57());
        assert_eq!(
            la57.table_for(TableLevel::P4d, mv),
            Some(TableRecord {
                pfn: 5,
                entry: 0x5067
            })
        );
    }

    #[test]
    fn encodings_of_section_8_3() {
        // Scenario A: PAGE_KERNEL leaf for pfn 0x12345 = 0x8000000012345163; table entry for a
        // table at physical 0x2000000 (pfn 0x2000) = 0x2000067; scenario D adds bit 47.
        assert_eq!(
            r7_leaf(0x12345, 0x8000_0000_0000_0163, u64::MAX),
            0x8000_0000_1234_5163
        );
        assert_eq!(i9_table_entry(0x2000, 0), 0x200_0067);
        assert_eq!(i9_table_entry(0x2000, 1 << 47), 0x8000_0200_0067);
        // Contract §2: the PFN field leaves the C-bit out.
        assert_eq!(entry_pfn(0x8000_8000_1234_5163, 1 << 47), 0x12345);
    }
}

//! The invariants of semantics §12 the model can check on its own state (I1–I6, I8, I9).
//! I7 is about behaviour (why a call failed) and is covered by the tests instead.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::collections::BTreeSet;

use crate::areas::AreaKind;
use crate::arith::PAGE_SIZE;
use crate::model::Model;
use crate::ptes::{i9_table_entry, walk_levels, TableLevel, KERNPG_TABLE_FLAGS, PAGE_TABLE_FLAGS};

/// A broken invariant: its id and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// `"I1"` … `"I9"`.
    pub invariant: &'static str,
    /// What was found.
    pub detail: String,
}

impl std::fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} violated: {}", self.invariant, self.detail)
    }
}

impl std::error::Error for InvariantViolation {}

fn violated(invariant: &'static str, detail: String) -> Result<(), InvariantViolation> {
    Err(InvariantViolation { invariant, detail })
}

impl Model {
    /// Checks I1–I6, I8 and I9 on the whole state; meant to run after every operation.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_i1_disjoint()?;
        self.check_i2_requests()?;
        self.check_i3_ptes()?;
        self.check_i4_unmapped()?;
        self.check_i5_conservation()?;
        self.check_i6_lazy()?;
        self.check_i8_tables()?;
        self.check_i9_entries()
    }

    /// I1: busy VAs are non-empty, in address order and pairwise disjoint.
    pub(crate) fn check_i1_disjoint(&self) -> Result<(), InvariantViolation> {
        let areas: Vec<_> = self.busy.iter().collect();
        for a in &areas {
            if a.start >= a.end {
                return violated("I1", format!("empty VA at {:#x}", a.start));
            }
        }
        for pair in areas.windows(2) {
            if pair[0].end > pair[1].start {
                let d = format!(
                    "{:#x}..{:#x} overlaps {:#x}",
                    pair[0].start, pair[0].end, pair[1].start
                );
                return violated("I1", d);
            }
        }
        Ok(())
    }

    /// I2: every busy VA lies inside its request's `[vstart, vend)`, is aligned to its
    /// request's `align`, and has a page-multiple size.
    pub(crate) fn check_i2_requests(&self) -> Result<(), InvariantViolation> {
        for a in self.busy.iter() {
            let r = a.request;
            let inside = r.vstart <= a.start && a.end <= r.vend;
            let aligned = r.align.is_power_of_two() && a.start % r.align == 0;
            let paged = (a.end - a.start) % PAGE_SIZE == 0;
            if !(inside && aligned && paged) {
                return violated("I2", format!("VA {:#x}..{:#x} vs {r:?}", a.start, a.end));
            }
        }
        Ok(())
    }

    /// I3: the present PTEs are exactly the mappings of live areas, each with its PFN and
    /// flags.
    pub(crate) fn check_i3_ptes(&self) -> Result<(), InvariantViolation> {
        let mut expected = 0usize;
        for a in self.busy.iter() {
            let Some(record) = a.record() else { continue };
            for (k, &pfn) in record.mapped.iter().enumerate() {
                let va = a.start + k as u64 * PAGE_SIZE;
                let want = (pfn << 12) | record.leaf_flags;
                if self.tables.pte(va) != Some(want) {
                    let d = format!("PTE({va:#x}) = {:?}, want {want:#x}", self.tables.pte(va));
                    return violated("I3", d);
                }
            }
            expected += record.mapped.len();
        }
        if self.tables.ptes().len() != expected {
            let d = format!(
                "{} PTEs, live mappings hold {expected}",
                self.tables.ptes().len()
            );
            return violated("I3", d);
        }
        Ok(())
    }

    /// I4: guard pages and LazyPending VAs have no PTE.
    pub(crate) fn check_i4_unmapped(&self) -> Result<(), InvariantViolation> {
        for a in self.busy.iter() {
            let (lo, hi) = match &a.kind {
                AreaKind::LazyPending => (a.start, a.end),
                AreaKind::LiveVm(r) if !r.flags.has(crate::types::VmFlags::NO_GUARD) => {
                    (a.end - PAGE_SIZE, a.end)
                }
                AreaKind::LiveVm(_) => continue,
            };
            if self.tables.any_pte_in(lo, hi) {
                return violated("I4", format!("PTE in {lo:#x}..{hi:#x}"));
            }
        }
        Ok(())
    }

    /// I5: every pool frame is in exactly one bucket (free, live data, table, caller-owned,
    /// orphaned), and the buckets add up to the pool.
    pub(crate) fn check_i5_conservation(&self) -> Result<(), InvariantViolation> {
        // Every claim on a frame, one entry per claim: a frame claimed twice shows up twice.
        let mut claims: Vec<u64> = Vec::new();
        for record in self.busy.iter().filter_map(|a| a.record()) {
            claims.extend(&record.pages);
        }
        claims.extend(&self.orphaned_pages);
        claims.extend(self.tables.allocated().values().map(|t| t.pfn));
        claims.extend(&self.caller_pages);
        let owned: BTreeSet<u64> = claims.iter().copied().collect();
        if owned.len() != claims.len() {
            let twice = claims.len() - owned.len();
            return violated("I5", format!("{twice} frame claims are duplicates"));
        }
        if owned != self.pool.allocated() {
            return violated(
                "I5",
                "owned frames differ from allocated frames".to_string(),
            );
        }
        if let Some(pfn) = owned
            .iter()
            .find(|&&p| !self.pool.in_pool(p) || self.pool.is_free(p))
        {
            return violated(
                "I5",
                format!("frame {pfn:#x} owned but not an allocated pool frame"),
            );
        }
        let free: u64 = self.pool.free_per_node().iter().sum();
        if free + owned.len() as u64 != self.pool.pool_size() {
            return violated("I5", format!("free {free} + owned {} != pool", owned.len()));
        }
        Ok(())
    }

    /// I6: `lazy_nr` is the page count of the LazyPending VAs (guards included), the lazy
    /// list names exactly those VAs, and `lazy_nr <= lazy_max_pages` between operations.
    pub(crate) fn check_i6_lazy(&self) -> Result<(), InvariantViolation> {
        let lazy: BTreeSet<u64> = self
            .busy
            .iter()
            .filter(|a| a.kind == AreaKind::LazyPending)
            .map(|a| a.start)
            .collect();
        let listed: BTreeSet<u64> = self.lazy.iter().copied().collect();
        if lazy != listed || listed.len() != self.lazy.len() {
            return violated(
                "I6",
                "lazy list differs from the LazyPending VAs".to_string(),
            );
        }
        let sum: u64 = self
            .busy
            .iter()
            .filter(|a| a.kind == AreaKind::LazyPending)
            .map(|a| a.va_pages())
            .sum();
        if sum != self.lazy_nr || self.lazy_nr > self.config.lazy_max_pages() {
            return violated("I6", format!("lazy_nr {} vs pending {sum}", self.lazy_nr));
        }
        Ok(())
    }

    /// I8 (structure): allocated tables only at this paging mode's levels, each under an
    /// existing parent table, distinct allocated frames; in the modules window only PTE
    /// tables; every PTE has its whole chain of tables.
    pub(crate) fn check_i8_tables(&self) -> Result<(), InvariantViolation> {
        let levels = walk_levels(self.config.paging);
        let mut frames = BTreeSet::new();
        for (&(level, base), record) in self.tables.allocated() {
            let Some(depth) = levels.iter().position(|&l| l == level) else {
                return violated("I8", format!("{level:?} table in this paging mode"));
            };
            if let Some(&parent) = depth.checked_sub(1).and_then(|d| levels.get(d)) {
                if self.tables.table_for(parent, base).is_none() {
                    return violated("I8", format!("{level:?} table at {base:#x} has no parent"));
                }
            }
            if !frames.insert(record.pfn) || !self.pool.is_allocated(record.pfn) {
                return violated(
                    "I8",
                    format!("table frame {:#x} reused or free", record.pfn),
                );
            }
            if self.tables.boot().contains_key(&(level, base)) {
                return violated(
                    "I8",
                    format!("{level:?} table at {base:#x} shadows a boot table"),
                );
            }
            let region_end = base.saturating_add((1u64 << level.region_shift()) - 1);
            let touches_modules =
                base < self.config.modules_end && self.config.modules_vaddr <= region_end;
            if touches_modules && level != TableLevel::Pte {
                return violated("I8", format!("{level:?} table in the modules window"));
            }
        }
        for &va in self.tables.ptes().keys() {
            if let Some(&level) = levels
                .iter()
                .find(|&&l| self.tables.table_for(l, va).is_none())
            {
                return violated("I8", format!("PTE {va:#x} without a {level:?} table"));
            }
        }
        Ok(())
    }

    /// I9: every entry the vmap path created is `phys | 0x67 | sme_c_bit`; the static ones
    /// keep their boot values (PUD 510's is `phys | 0x63 | sme_c_bit`).
    pub(crate) fn check_i9_entries(&self) -> Result<(), InvariantViolation> {
        let c = self.config.sme_c_bit;
        for (&(level, base), record) in self.tables.allocated() {
            if record.entry != i9_table_entry(record.pfn, c) {
                return violated(
                    "I9",
                    format!("{level:?} {base:#x} entry {:#x}", record.entry),
                );
            }
        }
        for (&(level, base), record) in self.tables.boot() {
            let flags = if record.pfn == 3 {
                KERNPG_TABLE_FLAGS
            } else {
                PAGE_TABLE_FLAGS
            };
            if record.entry != (record.pfn << 12) | flags | c {
                return violated("I9", format!("boot {level:?} {base:#x} changed"));
            }
        }
        Ok(())
    }
}

//! Deliberate faults, compiled in only with the `planted-bugs` feature (design §4.3): canaries
//! for the harness's oracles. The selector defaults to none; each fault triggers only under the
//! condition its documentation names.
//!
//! The list of faults and their names exist in every build, so that a tool can tell an unknown
//! fault name from a known one that this build cannot switch on; selecting a fault in a build
//! without the feature is an error ([`PlantedNotCompiled`]), never a silent no-op.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::kernel::Kernel;

/// One planted fault. Each cites the rule (semantics §12) or historical bug (semantics §15) it
/// breaks. The last seven change raw state only (frames, tables, an internal structure), every
/// counter and view staying what a correct engine reports: each is a canary for the raw
/// oracle that must be the first to see it (design §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlantedBug {
    /// R2: a vmalloc-family VA (VM_ALLOC) is reserved without its guard page, so the next
    /// area can start right after the last mapped page.
    SkipGuardPage,
    /// Bug 1 (2.6.28 "vmalloc allocator off by one"): a hole exactly as large as the request
    /// is judged too small (the search asks for `size + 1`); R3 placement and I7.
    FitRejectsExactHole,
    /// R6/R8: after a data-page failure at index `i >= 2`, page `i - 1` is not freed (a page
    /// leak in the failure residue).
    FailPathLeaksPage,
    /// R8: on a data-page failure the VA is released at once instead of going lazy (no
    /// `unpurged vm_area`, `lazy_nr` unchanged).
    FailPathFreesVaEagerly,
    /// R9 step 4: vfree does not free a vmalloc'ed (nested) pages array: its area, pages and
    /// vm_struct leak.
    ForgetNestedArrayFree,
    /// R11 / R9 step 1: vunmap does not clear the PTEs (a stale mapping, I3/I4).
    VunmapKeepsPtes,
    /// I9: new intermediate entries are written as `phys | 0x63` (`_KERNPG_TABLE`) instead of
    /// `phys | 0x67`.
    TableEntry0x63,
    /// semantics §10: `__GFP_ZERO` is ignored for vmalloc data pages (they keep the free-page
    /// poison).
    DropGfpZero,
    /// R10 / bug 13: vfree or vunmap of an address in no busy VA returns without warning 5.
    SilentBadFree,
    /// semantics §15 mutation "count the lazy pages without the guard": the lazy add counts one
    /// page less for a guarded VA, so `lazy_nr` drifts from I6 and the purge threshold moves.
    LazyNrWithoutGuard,
    /// I1: a purge gives back one page more than the VA when the next page starts a busy
    /// area, so later placements can overlap that area.
    PurgeOverRelease,
    // Raw-state faults: each corrupts only state that no counter or view the engine reports
    // shows, so that one raw oracle is the first to see it.
    /// I5: after a successful vmalloc of at least two pages, one more frame is taken from the
    /// page allocator's free bitmap behind its back: no owner, and the free-page counters are
    /// left as if it were still free.
    LeakFrameBehindAllocator,
    /// I8 (semantics §7.3 steps 5–6): when clearing a range leaves a PTE table with no entry
    /// set, the PMD entry that links it is cleared; the table page stays allocated and listed
    /// (unreachable).
    UnlinkEmptyPteTable,
    /// I3: after a vmalloc mapping, the last page's leaf is also written into the last slot of
    /// its PTE table when no busy area covers that slot (a stray PTE outside every area).
    StrayPteBeyondArea,
    /// R7: the first PTE of each mapping whose protection has `_PAGE_NX` is written without
    /// it (the leaf differs from the model only in a bit the page walker translates).
    PteDropsNx,
    /// The free-gap tree's own invariant (its gap count equals its gaps): a release that joins
    /// two gaps into one leaves the count one too high. Nothing else reads the count.
    GapCountDrift,
    /// semantics §12.1 (boot entries): `pud_bad` compares with `_PAGE_TABLE` exactly, so
    /// clearing a range under PUD 510 judges that boot entry (`phys | 0x63`) bad and clears it.
    PudBadRejectsKernpg,
    /// semantics §12.1 (root PFN 1): the first mapping moves the root PGD out of PFN 1 into
    /// reserved frame 6 and every later walk starts there.
    RootPgdMoved,
}

impl PlantedBug {
    /// Every planted fault.
    pub const ALL: [PlantedBug; 18] = [
        PlantedBug::SkipGuardPage,
        PlantedBug::FitRejectsExactHole,
        PlantedBug::FailPathLeaksPage,
        PlantedBug::FailPathFreesVaEagerly,
        PlantedBug::ForgetNestedArrayFree,
        PlantedBug::VunmapKeepsPtes,
        PlantedBug::TableEntry0x63,
        PlantedBug::DropGfpZero,
        PlantedBug::SilentBadFree,
        PlantedBug::LazyNrWithoutGuard,
        PlantedBug::PurgeOverRelease,
        PlantedBug::LeakFrameBehindAllocator,
        PlantedBug::UnlinkEmptyPteTable,
        PlantedBug::StrayPteBeyondArea,
        PlantedBug::PteDropsNx,
        PlantedBug::GapCountDrift,
        PlantedBug::PudBadRejectsKernpg,
        PlantedBug::RootPgdMoved,
    ];

    /// The snake_case name used by traces and environment variables.
    pub const fn name(self) -> &'static str {
        match self {
            PlantedBug::SkipGuardPage => "skip_guard_page",
            PlantedBug::FitRejectsExactHole => "fit_rejects_exact_hole",
            PlantedBug::FailPathLeaksPage => "fail_path_leaks_page",
            PlantedBug::FailPathFreesVaEagerly => "fail_path_frees_va_eagerly",
            PlantedBug::ForgetNestedArrayFree => "forget_nested_array_free",
            PlantedBug::VunmapKeepsPtes => "vunmap_keeps_ptes",
            PlantedBug::TableEntry0x63 => "table_entry_0x63",
            PlantedBug::DropGfpZero => "drop_gfp_zero",
            PlantedBug::SilentBadFree => "silent_bad_free",
            PlantedBug::LazyNrWithoutGuard => "lazy_nr_without_guard",
            PlantedBug::PurgeOverRelease => "purge_over_release",
            PlantedBug::LeakFrameBehindAllocator => "leak_frame_behind_allocator",
            PlantedBug::UnlinkEmptyPteTable => "unlink_empty_pte_table",
            PlantedBug::StrayPteBeyondArea => "stray_pte_beyond_area",
            PlantedBug::PteDropsNx => "pte_drops_nx",
            PlantedBug::GapCountDrift => "gap_count_drift",
            PlantedBug::PudBadRejectsKernpg => "pud_bad_rejects_kernpg",
            PlantedBug::RootPgdMoved => "root_pgd_moved",
        }
    }

    /// One line saying what the fault breaks (for `vmfuzz fuzz --planted list`).
    pub const fn summary(self) -> &'static str {
        match self {
            PlantedBug::SkipGuardPage => "R2: vmalloc-family VAs lose their guard page",
            PlantedBug::FitRejectsExactHole => {
                "bug 1: a hole exactly the requested size is judged too small (R3)"
            }
            PlantedBug::FailPathLeaksPage => {
                "R6/R8: a data-page failure at index i >= 2 leaks page i - 1"
            }
            PlantedBug::FailPathFreesVaEagerly => {
                "R8: a data-page failure releases the VA at once instead of lazily"
            }
            PlantedBug::ForgetNestedArrayFree => {
                "R9 step 4: vfree leaks a vmalloc'ed (nested) pages array"
            }
            PlantedBug::VunmapKeepsPtes => "R11: vunmap leaves the PTEs in place",
            PlantedBug::TableEntry0x63 => "I9: new table entries are written as phys | 0x63",
            PlantedBug::DropGfpZero => "__GFP_ZERO is ignored for vmalloc data pages",
            PlantedBug::SilentBadFree => {
                "R10: a free of an address in no busy VA gives no warning 5"
            }
            PlantedBug::LazyNrWithoutGuard => "I6: the lazy add counts a guarded VA one page short",
            PlantedBug::PurgeOverRelease => "I1: a purge gives back one page more than the VA",
            PlantedBug::LeakFrameBehindAllocator => {
                "I5: a vmalloc of 2+ pages takes one more frame behind the allocator's counters"
            }
            PlantedBug::UnlinkEmptyPteTable => {
                "I8: an emptied PTE table is unlinked from its PMD entry but stays allocated"
            }
            PlantedBug::StrayPteBeyondArea => {
                "I3: a vmalloc mapping also writes a leaf in its PTE table's last, unused slot"
            }
            PlantedBug::PteDropsNx => "R7: the first PTE of a mapping loses _PAGE_NX",
            PlantedBug::GapCountDrift => {
                "free-gap tree: a release that joins two gaps leaves the gap count too high"
            }
            PlantedBug::PudBadRejectsKernpg => {
                "semantics §12.1: an unmap judges the boot entry PUD 510 (0x63) bad and clears it"
            }
            PlantedBug::RootPgdMoved => {
                "semantics §12.1: the first mapping moves the root PGD out of PFN 1"
            }
        }
    }

    /// Parses a name: the snake_case [`PlantedBug::name`], its kebab-case form, or the
    /// variant's CamelCase name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<PlantedBug> {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| *c != '_' && *c != '-')
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let want = norm(name);
        PlantedBug::ALL.into_iter().find(|b| norm(b.name()) == want)
    }
}

/// Whether this build has the planted faults compiled in (the `planted-bugs` feature).
pub const PLANTED_BUGS_COMPILED: bool = cfg!(feature = "planted-bugs");

/// A planted fault was selected in a build without the `planted-bugs` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlantedNotCompiled(pub PlantedBug);

impl core::fmt::Display for PlantedNotCompiled {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "planted fault {} needs a build with the `planted-bugs` feature",
            self.0.name()
        )
    }
}

impl Kernel {
    /// Selects the active planted fault (`None`: the engine behaves as specified). Selecting a
    /// fault in a build without the `planted-bugs` feature is an error.
    pub fn set_planted_bug(&mut self, bug: Option<PlantedBug>) -> Result<(), PlantedNotCompiled> {
        #[cfg(feature = "planted-bugs")]
        {
            self.planted = bug;
            self.vas.gap_count_drift = bug == Some(PlantedBug::GapCountDrift);
            Ok(())
        }
        #[cfg(not(feature = "planted-bugs"))]
        match bug {
            Some(b) => Err(PlantedNotCompiled(b)),
            None => Ok(()),
        }
    }

    /// The active planted fault (always `None` without the `planted-bugs` feature).
    pub fn planted_bug(&self) -> Option<PlantedBug> {
        #[cfg(feature = "planted-bugs")]
        {
            self.planted
        }
        #[cfg(not(feature = "planted-bugs"))]
        None
    }
}

#[cfg(test)]
mod tests {
    use super::PlantedBug;

    #[test]
    fn names_round_trip() {
        for b in PlantedBug::ALL {
            assert_eq!(PlantedBug::from_name(b.name()), Some(b));
            assert_eq!(PlantedBug::from_name(&format!("{b:?}")), Some(b));
        }
        assert_eq!(
            PlantedBug::from_name("table-entry-0x63"),
            Some(PlantedBug::TableEntry0x63)
        );
        assert_eq!(PlantedBug::from_name("nope"), None);
    }
}

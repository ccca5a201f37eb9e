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
use crate::knobs::{
    AlignWrapCheck, Faithful4xCache, ImplicitHighmem, IoremapAlignRule, Knobs, VmapNowarnHonoured,
    VunmapLookup,
};

/// One planted fault. Each cites the rule (semantics §12) or historical bug (semantics §15) it
/// breaks. The last seven change raw state only (frames, tables, an internal structure), every
/// counter and view staying what a correct engine reports: each is a canary for the raw
/// oracle that must be the first to see it (design §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlantedBug {
    /// R2: a vmalloc-family VA (VM_ALLOC) is reserved without its guard page, so the next
    /// area can start right after the last mapped page.
    SkipGuardPage,
    /// Bug 1, "mm: vmalloc allocator off by one" (Nick Piggin, 2.6.28-rc, Nov 2008; merged
    /// as `mm-vmalloc-gap-fix.patch`, commit id not verified): the walk compared the
    /// candidate's end with the next area's start the wrong way round by one, so a hole
    /// exactly as large as the request looked too small; exact fits were skipped, leaving
    /// gaps (and failing at exhaustion). Planted as a search that asks for `size + 1`. Breaks
    /// R3 (lowest fit) and I7.
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
    /// R10: vfree or vunmap of an address in no busy VA returns without warning 5. Synthetic:
    /// the quiet variant of bug 13's mutation (semantics §15); the historical oops is
    /// [`PlantedBug::VunmapNullDeref`].
    SilentBadFree,
    /// semantics §15 mutation "count the lazy pages without the guard": the lazy add counts one
    /// page less for a guarded VA, so `lazy_nr` drifts from I6 and the purge threshold moves.
    LazyNrWithoutGuard,
    /// I1: a purge gives back one page more than the VA when the next page starts a busy
    /// area, so later placements can overlap that area.
    PurgeOverRelease,
    // ---- The zoo: real historical bugs and the plantable deviations (semantics §15). ----
    /// Bug 2, "vmalloc failure flush fix" (Nick Piggin, 2.6.28-rc, Nov 2008; patch 2/9 of
    /// the series, no commit id in the catalogue). When the search failed, the allocator
    /// only *tried* to purge the lazily freed areas; if another CPU's purge held the lock,
    /// nothing was released, the retry failed again, and vmalloc returned NULL with plenty of
    /// reclaimable space. The engine is single-threaded, so the plant always takes that
    /// losing branch: the failure path releases nothing before its retry. Breaks R3 (no fit
    /// only after the purge) and I7.
    FailurePurgeSkipped,
    /// Bug 3, "vmalloc search restart fix" (Glauber Costa / Nick Piggin, 2.6.28-rc, patch 3/9;
    /// a regression of db64fe02258f, the rewritten vmap layer). After the purge the retry
    /// resumed from the address where the first walk gave up, the top of the range, rather
    /// than from `vstart`, so the space the purge had just released below it was never
    /// looked at and the call failed anyway. That address already failed
    /// `addr + size <= vend`, so the plant skips the retry's search. Breaks R3 and I7.
    RetryNotFromVstart,
    /// Bug 4, "fix an overflow bug in alloc_vmap_area()" (Zhang Yanfei, 3.11, stable; commit
    /// believed to be 7766970cc156, unverified). The walk tested overflow as
    /// `addr + size - 1 < addr`, which lets a candidate end exactly at 2^64: `va_end` wrapped
    /// to 0, and inserting that area into the rb-tree hit a `BUG()` (an area ending at 0
    /// orders neither before nor after one below it). Reported as the typed
    /// [`BugKind::Oops`](crate::BugKind::Oops). The engine cannot hold an area ending at 0,
    /// so on a machine with no busy area at all (where the kernel inserts it and BUGs at the
    /// next insert below) it BUGs at once too. Breaks R3/R4 ("`a + size` does not wrap").
    OverflowCheckMinusOne,
    /// Bug 6, "Change __get_vm_area_node() to use fls_long()" (Toshi Kani, 4.1; no commit id
    /// in the catalogue). The `VM_IOREMAP` alignment came from `fls(size)`, whose parameter
    /// is a 32-bit `int`, so a request of 4 GiB or more was aligned by its low 32 bits only
    /// (exactly 4 GiB: 4 KiB instead of 1 GiB). ≤4.0 also had bug 8's doubling, which the
    /// knob value `ioremap_align_rule=fls` keeps; this entry isolates bug 6: the size the
    /// alignment rule sees is cut to its low 32 bits, nothing else changes. Breaks R4.
    IoremapAlignLow32Bits,
    /// Bug 8, "fix align value calculation error" (zijun_hu, 4.9; no commit id in the
    /// catalogue). The `VM_IOREMAP` alignment was `fls_long` of the size before
    /// `PAGE_ALIGN`, one order too many for a power of two (64 KiB got 128 KiB, one page 8
    /// KiB). The engine runs `ioremap_align_rule=fls_long_before_pagealign` (4.1–4.8).
    /// Breaks R4.
    IoremapAlignDoubled,
    /// Bug 9, "Don't unconditonally use __GFP_HIGHMEM" (Laura Abbott, 4.13-rc; fixes
    /// 19809c2da28a of 4.12). 4.12 made `__vmalloc_area_node` add `__GFP_HIGHMEM` to every
    /// page request, so `vmalloc_32`'s `GFP_DMA32` became an invalid zone pair and its first
    /// data page hit the BUG in `gfp_zone`. The engine runs `implicit_highmem=unconditional`
    /// (4.12). Breaks semantics §10 (no highmem with DMA32) and R6.
    ImplicitHighmemUnconditional,
    /// Bug 13, "don't dereference possible NULL pointer in __vunmap()" (Liviu Dudau,
    /// 6ade20327dbb, 5.0; stable 4.19.126; fixes f3c01d2f3ade of 4.18). `__vunmap` used
    /// `find_vmap_area(addr)->vm` without checking the lookup, so freeing an address in no
    /// busy area (a wild pointer, a double free after the purge) oopsed instead of warning.
    /// The engine runs `vunmap_lookup=find_vmap_area_deref` (4.18–4.19.125). Breaks R10.
    VunmapNullDeref,
    /// Bug 16, "fix kernel BUG at mm/vmalloc.c:512!" (Uladzislau Rezki, afd07389d3f4, 5.1;
    /// stable backports posted). A huge `align` made `ALIGN` wrap to 0; the search took 0 as
    /// its answer and hit `BUG_ON(va_start < vstart)`. The engine runs
    /// `align_wrap_check=off` (v4.19.0). Breaks R4 (a wrapped candidate is no fit).
    AlignWrapUnchecked,
    /// P1, a deviation found by analysis, shipped in every 4.x release (no fix: 5.2 replaced
    /// the search). The 4.x search cache is reset only when `size < cached_hole_size` where
    /// `<=` is needed, so a request exactly the size of the largest recorded hole skips that
    /// hole: a higher address than lowest fit, now and then a spurious failure. The engine
    /// runs `faithful_4x_cache=on` (v4.19.0). Breaks R3 (exact lowest fit) and I7.
    CacheStrictHoleTest,
    /// P2, a deviation found by analysis (no fix in 4.x; 5.2's insert warns and refuses):
    /// 4.x's `__insert_vmap_area` cannot tell an overlapping area from a neighbour and files
    /// it silently. The plant hands it an overlap to miss: the search's collision test
    /// ignores the first page of the next busy area, so a hole one page short of the request
    /// is taken (never past `vend`). Only the harness's own check can see it. Breaks I1.
    InsertAcceptsOverlap,
    /// P3, a deviation found by analysis: 4.x's pages-array failure path prints nothing; 5.16
    /// ("repair warn_alloc()s", 228f778e9730) added a message there. The plant runs the later
    /// behaviour on a 4.19 machine: a pages-array failure records warning 2 (0 bytes of the
    /// area allocated), unless NOWARN. Breaks R13 step 4 ("no further warning").
    ArrayFailureWarns,
    /// ≤≈4.10 (semantics §13 `vmap_nowarn_honoured`; the fix commit is not identified): the
    /// "vmap allocation for size … failed" message ignored the caller's `__GFP_NOWARN`. The
    /// engine runs `vmap_nowarn_honoured=no`. Breaks semantics §11.1 (NOWARN silences
    /// warnings 1–3).
    VmapWarningIgnoresNowarn,
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
    pub const ALL: [PlantedBug; 30] = [
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
        // The zoo.
        PlantedBug::FailurePurgeSkipped,
        PlantedBug::RetryNotFromVstart,
        PlantedBug::OverflowCheckMinusOne,
        PlantedBug::IoremapAlignLow32Bits,
        PlantedBug::IoremapAlignDoubled,
        PlantedBug::ImplicitHighmemUnconditional,
        PlantedBug::VunmapNullDeref,
        PlantedBug::AlignWrapUnchecked,
        PlantedBug::CacheStrictHoleTest,
        PlantedBug::InsertAcceptsOverlap,
        PlantedBug::ArrayFailureWarns,
        PlantedBug::VmapWarningIgnoresNowarn,
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
            // The zoo.
            PlantedBug::FailurePurgeSkipped => "failure_purge_skipped",
            PlantedBug::RetryNotFromVstart => "retry_not_from_vstart",
            PlantedBug::OverflowCheckMinusOne => "overflow_check_minus_one",
            PlantedBug::IoremapAlignLow32Bits => "ioremap_align_low_32_bits",
            PlantedBug::IoremapAlignDoubled => "ioremap_align_doubled",
            PlantedBug::ImplicitHighmemUnconditional => "implicit_highmem_unconditional",
            PlantedBug::VunmapNullDeref => "vunmap_null_deref",
            PlantedBug::AlignWrapUnchecked => "align_wrap_unchecked",
            PlantedBug::CacheStrictHoleTest => "cache_strict_hole_test",
            PlantedBug::InsertAcceptsOverlap => "insert_accepts_overlap",
            PlantedBug::ArrayFailureWarns => "array_failure_warns",
            PlantedBug::VmapWarningIgnoresNowarn => "vmap_warning_ignores_nowarn",
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
            // The zoo.
            PlantedBug::FailurePurgeSkipped => {
                "bug 2 (2.6.28): a failed search retries without purging (R3)"
            }
            PlantedBug::RetryNotFromVstart => {
                "bug 3 (2.6.28): the retry after the purge resumes where it failed (R3)"
            }
            PlantedBug::OverflowCheckMinusOne => {
                "bug 4 (3.11): overflow test addr + size - 1 lets va_end wrap to 0 (R4)"
            }
            PlantedBug::IoremapAlignLow32Bits => {
                "bug 6 (4.1): VM_IOREMAP alignment from the size's low 32 bits (R4)"
            }
            PlantedBug::IoremapAlignDoubled => {
                "bug 8 (4.9): VM_IOREMAP alignment doubled; ioremap_align_rule=fls_long_before_pagealign (R4)"
            }
            PlantedBug::ImplicitHighmemUnconditional => {
                "bug 9 (4.12): vmalloc_32 BUGs in gfp_zone; implicit_highmem=unconditional"
            }
            PlantedBug::VunmapNullDeref => {
                "bug 13 (4.18-4.19.125): a free in no busy VA oopses; vunmap_lookup=find_vmap_area_deref (R10)"
            }
            PlantedBug::AlignWrapUnchecked => {
                "bug 16 (v4.19.0): a wrapped ALIGN BUGs; align_wrap_check=off (R4)"
            }
            PlantedBug::CacheStrictHoleTest => {
                "P1 (every 4.x): strict search-cache test; faithful_4x_cache=on (R3)"
            }
            PlantedBug::InsertAcceptsOverlap => {
                "P2 (4.x): a hole one page short is taken, the insert files the overlap (I1)"
            }
            PlantedBug::ArrayFailureWarns => {
                "P3 (5.16 behaviour): a pages-array failure warns (R13 step 4)"
            }
            PlantedBug::VmapWarningIgnoresNowarn => {
                "<=4.10: warning 3 ignores NOWARN; vmap_nowarn_honoured=no"
            }
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

    /// For a zoo entry that is the old value of a version knob (design §4.3): the knob's key
    /// and the value the engine runs while the entry is selected, as a trace spells them.
    /// The reference side keeps the machine's own value. `None` for a fault in the code.
    pub const fn knob(self) -> Option<(&'static str, &'static str)> {
        match self.knob_value() {
            Some(k) => Some(k.entry()),
            None => None,
        }
    }

    /// The knob value of [`PlantedBug::knob`], typed.
    const fn knob_value(self) -> Option<KnobValue> {
        Some(match self {
            PlantedBug::IoremapAlignDoubled => {
                KnobValue::IoremapAlign(IoremapAlignRule::FlsLongBeforePagealign)
            }
            PlantedBug::ImplicitHighmemUnconditional => {
                KnobValue::Highmem(ImplicitHighmem::Unconditional)
            }
            PlantedBug::VunmapNullDeref => KnobValue::Lookup(VunmapLookup::FindVmapAreaDeref),
            PlantedBug::AlignWrapUnchecked => KnobValue::WrapCheck(AlignWrapCheck::Off),
            PlantedBug::CacheStrictHoleTest => KnobValue::Cache(Faithful4xCache::On),
            PlantedBug::VmapWarningIgnoresNowarn => KnobValue::Nowarn(VmapNowarnHonoured::No),
            _ => return None,
        })
    }

    /// `machine` with this entry's knob, if any, at its old value.
    pub fn apply_knob(self, machine: Knobs) -> Knobs {
        let mut k = machine;
        match self.knob_value() {
            Some(KnobValue::Cache(v)) => k.faithful_4x_cache = v,
            Some(KnobValue::WrapCheck(v)) => k.align_wrap_check = v,
            Some(KnobValue::Lookup(v)) => k.vunmap_lookup = v,
            Some(KnobValue::IoremapAlign(v)) => k.ioremap_align_rule = v,
            Some(KnobValue::Highmem(v)) => k.implicit_highmem = v,
            Some(KnobValue::Nowarn(v)) => k.vmap_nowarn_honoured = v,
            None => {}
        }
        k
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

/// One knob at one value (what a knob-backed zoo entry runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnobValue {
    Cache(Faithful4xCache),
    WrapCheck(AlignWrapCheck),
    Lookup(VunmapLookup),
    IoremapAlign(IoremapAlignRule),
    Highmem(ImplicitHighmem),
    Nowarn(VmapNowarnHonoured),
}

impl KnobValue {
    /// `(key, value)` as a trace's `machine` line spells them.
    const fn entry(self) -> (&'static str, &'static str) {
        match self {
            KnobValue::Cache(v) => (Faithful4xCache::KEY, v.name()),
            KnobValue::WrapCheck(v) => (AlignWrapCheck::KEY, v.name()),
            KnobValue::Lookup(v) => (VunmapLookup::KEY, v.name()),
            KnobValue::IoremapAlign(v) => (IoremapAlignRule::KEY, v.name()),
            KnobValue::Highmem(v) => (ImplicitHighmem::KEY, v.name()),
            KnobValue::Nowarn(v) => (VmapNowarnHonoured::KEY, v.name()),
        }
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
    ///
    /// A zoo entry that is an old knob value ([`PlantedBug::knob`]) sets that knob in force
    /// ([`Kernel::knobs`]) over the machine's own; selecting another entry or none restores the
    /// machine's. Meant for a fresh machine; a later switch of `faithful_4x_cache` starts the
    /// 4.x search with an empty cache.
    pub fn set_planted_bug(&mut self, bug: Option<PlantedBug>) -> Result<(), PlantedNotCompiled> {
        #[cfg(feature = "planted-bugs")]
        {
            self.planted = bug;
            self.knobs = match bug {
                Some(b) => b.apply_knob(self.cfg.knobs),
                None => self.cfg.knobs,
            };
            self.vas
                .set_faithful(self.knobs.faithful_4x_cache == Faithful4xCache::On);
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

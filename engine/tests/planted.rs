//! Each planted fault (design §4.3) fires under its condition and only then. Expected values
//! are the correct ones of the other tests, shifted by exactly what the fault breaks.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.
#![cfg(feature = "planted-bugs")]

mod common;
use common::*;
use vmalloc_engine::{
    AreaState, Context, Event, FaultKind, FaultPlan, Kernel, PlantedBug, VmFlags,
};

fn with(bug: PlantedBug) -> Kernel {
    let mut k = kernel();
    k.set_planted_bug(Some(bug)).unwrap();
    k
}

fn with_plan(bug: PlantedBug, plan: FaultPlan) -> Kernel {
    let mut k = kernel_with(|c| c.fault_plan = plan);
    k.set_planted_bug(Some(bug)).unwrap();
    k
}

#[test]
fn selector_defaults_to_none() {
    let mut k = kernel();
    assert_eq!(k.planted_bug(), None);
    k.set_planted_bug(Some(PlantedBug::DropGfpZero)).unwrap();
    assert_eq!(k.planted_bug(), Some(PlantedBug::DropGfpZero));
    assert_eq!(PlantedBug::ALL.len(), 30);
}

#[test]
fn skip_guard_page() {
    let mut k = with(PlantedBug::SkipGuardPage);
    // R2 broken: the 1-page VA is [V, V + 0x1000) and the next area touches it.
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(k.find_vm_area(a).unwrap().size, 4096);
    assert_eq!(ok(k.vmalloc(4096, 2)), V + 0x1000);
    // Non-vmalloc areas keep their guard.
    let g = k.get_vm_area(4096, VmFlags::empty(), 3).unwrap().unwrap();
    assert_eq!(g.size, 8192);
}

#[test]
fn fit_rejects_exact_hole() {
    let mut k = with(PlantedBug::FitRejectsExactHole);
    ok(k.vmalloc(4096, 1));
    let b = ok(k.vmalloc(4096, 2));
    ok(k.vmalloc(4096, 3));
    k.vfree(b, Context::Process).unwrap();
    ok(k.vmalloc(4096, 4)); // V + 0x6000
    k.vm_unmap_aliases();
    // The exact 2-page hole at V + 0x2000 is skipped (correct answer: V + 0x2000).
    assert_eq!(ok(k.vmalloc(4096, 5)), V + 0x8000);
}

#[test]
fn fail_path_leaks_page_only_from_index_2() {
    // Failure at index 2: page 1 (PFN 0x101) is not freed.
    let mut k = with_plan(
        PlantedBug::FailPathLeaksPage,
        FaultPlan::new().fail(FaultKind::DataPage, 3),
    );
    assert_eq!(k.vmalloc(4 * P, 1), Ok(None));
    let alloc: Vec<u64> = k.phys().allocated_frames().map(|p| p.as_u64()).collect();
    assert_eq!(alloc, vec![0x101]);
    assert_eq!(k.counters().unclaimed_pages, 1);
    // The warning still reports what was allocated (2 pages).
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 8192,
            total: 20480
        }]
    );
    // Failure at index 1: no leak.
    let mut k = with_plan(
        PlantedBug::FailPathLeaksPage,
        FaultPlan::new().fail(FaultKind::DataPage, 2),
    );
    assert_eq!(k.vmalloc(4 * P, 1), Ok(None));
    assert_eq!(k.counters().allocated_pages, 0);
}

#[test]
fn fail_path_frees_va_eagerly() {
    let mut k = with_plan(
        PlantedBug::FailPathFreesVaEagerly,
        FaultPlan::new().fail(FaultKind::DataPage, 1),
    );
    assert_eq!(k.vmalloc(4096, 1), Ok(None));
    // R8 broken: no lazy VA (correct: [V, V + 0x2000) pending, lazy_nr 2).
    assert_eq!((k.lazy_nr(), k.busy_areas().count()), (0, 0));
    // Other failures keep the lazy residue.
    let mut k = with_plan(
        PlantedBug::FailPathFreesVaEagerly,
        FaultPlan::new().fail(FaultKind::TablePage, 1),
    );
    assert_eq!(k.vmalloc(4096, 1), Ok(None));
    assert_eq!(k.lazy_nr(), 2);
}

#[test]
fn forget_nested_array_free() {
    let mut k = with(PlantedBug::ForgetNestedArrayFree);
    let a = ok(k.vmalloc(513 * P, 1));
    k.vfree(a, Context::Process).unwrap();
    // The nested area stays live with its 2 pages (correct: lazily freed too).
    let states: Vec<bool> = k
        .busy_areas()
        .map(|b| matches!(b.state, AreaState::Live(_)))
        .collect();
    assert_eq!(states, vec![false, true]);
    assert_eq!(k.counters().area_pages, 2);
    // A kmalloc'ed array is still freed.
    let mut k = with(PlantedBug::ForgetNestedArrayFree);
    let b = ok(k.vmalloc(4096, 1));
    k.vfree(b, Context::Process).unwrap();
    assert_eq!(k.counters().kmalloc_arrays, 0);
}

#[test]
fn vunmap_keeps_ptes_and_the_stale_pte_cascade() {
    let mut k = with(PlantedBug::VunmapKeepsPtes);
    let a = ok(k.vmalloc(4096, 1));
    k.vunmap(a, Context::Process).unwrap();
    assert_eq!(pte(&k, V), (0x100 << 12) | PAGE_KERNEL);
    k.vm_unmap_aliases();
    events(&mut k);
    // semantics §7.2: the reused VA meets the stale PTE: warning 6, then warning 2 and the failure
    // path, whose PTE clear wipes the stale entry too.
    assert_eq!(k.vmalloc(4096, 2), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::PteNotNone { addr: V },
            Event::AllocPartial {
                allocated: 4096,
                total: 8192
            }
        ]
    );
    assert_eq!(pte(&k, V), 0);
    // vfree still clears PTEs.
    let mut k = with(PlantedBug::VunmapKeepsPtes);
    let b = ok(k.vmalloc(4096, 1));
    k.vfree(b, Context::Process).unwrap();
    assert_eq!(pte(&k, V), 0);
}

#[test]
fn table_entry_0x63() {
    let mut k = with(PlantedBug::TableEntry0x63);
    ok(k.vmalloc(4096, 1));
    assert_eq!(
        walk4(&k, V),
        [0x101063, 0x102063, 0x103063, (0x100 << 12) | PAGE_KERNEL]
    );
}

#[test]
fn drop_gfp_zero() {
    let mut k = with(PlantedBug::DropGfpZero);
    let z = ok(k.vzalloc(4096, 1));
    assert_eq!(k.read(z, 2).unwrap(), vec![0xaa, 0xaa]);
    // alloc_page is not a vmalloc data page: still zeroed.
    let p = k
        .alloc_page(
            vmalloc_engine::Gfp::KERNEL | vmalloc_engine::Gfp::ZERO,
            None,
        )
        .unwrap()
        .unwrap();
    assert_eq!(k.phys().read_bytes(p).unwrap()[0], 0);
}

#[test]
fn silent_bad_free() {
    let mut k = with(PlantedBug::SilentBadFree);
    k.vfree(0x1000u64, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![]);
    // A lazily freed VA is busy: the warning stays.
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Context::Process).unwrap();
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: V }]);
}

#[test]
fn lazy_nr_without_guard() {
    let mut k = with(PlantedBug::LazyNrWithoutGuard);
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Context::Process).unwrap();
    // I6 broken: 1 instead of 2.
    assert_eq!(k.lazy_nr(), 1);
    // A VM_NO_GUARD area has no guard to forget.
    let g = k.get_vm_area(4096, VmFlags::NO_GUARD, 2).unwrap().unwrap();
    k.free_vm_area(g.addr).unwrap();
    assert_eq!(k.lazy_nr(), 2);
    k.vm_unmap_aliases();
    assert_eq!(k.lazy_nr(), 0);
}

#[test]
fn purge_over_release_lets_a_placement_overlap() {
    let mut k = with(PlantedBug::PurgeOverRelease);
    let a = ok(k.vmalloc(4096, 1)); // [V, V + 0x2000)
    let b = ok(k.vmalloc(4096, 2)); // [V + 0x2000, V + 0x4000)
    k.vfree(a, Context::Process).unwrap();
    k.vm_unmap_aliases(); // releases [V, V + 0x3000): one page of b too
    let c = k
        .__get_vm_area(0x3000, VmFlags::NO_GUARD, V, VEND, 3)
        .unwrap()
        .unwrap();
    assert_eq!(c.addr.as_u64(), V);
    // I1 broken: [V, V + 0x3000) overlaps b = [V + 0x2000, V + 0x4000).
    let spans: Vec<(u64, u64)> = k
        .busy_areas()
        .map(|x| (x.start.as_u64(), x.end.as_u64()))
        .collect();
    assert_eq!(spans, vec![(V, V + 0x3000), (b, b + 0x2000)]);
    // Without a busy neighbour nothing extra is released.
    let mut k = with(PlantedBug::PurgeOverRelease);
    let d = ok(k.vmalloc(4096, 1));
    k.vfree(d, Context::Process).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(ok(k.vmalloc(8192, 2)), V);
}

// Raw-state faults: each changes only raw state (frames, tables, an internal structure);
// every counter and view stays what the correct engine reports.

#[test]
fn leak_frame_behind_allocator() {
    let mut k = with(PlantedBug::LeakFrameBehindAllocator);
    // Data pages 0x100, 0x101; tables PUD 0x102, PMD 0x103, PTE 0x104 (R13 order); then the
    // lowest free frame, 0x105, leaves the bitmap without an owner.
    ok(k.vmalloc(2 * P, 1));
    let alloc: Vec<u64> = k.phys().allocated_frames().map(|p| p.as_u64()).collect();
    assert_eq!(alloc, (0x100..=0x105).collect::<Vec<u64>>());
    assert_eq!(k.phys().allocated_count(), 6);
    // The counters say 5 pages are allocated, as in a correct run; the structures hold.
    let c = k.counters();
    assert_eq!((c.allocated_pages, c.unclaimed_pages), (5, 0));
    assert_eq!(k.check_structures(), Ok(()));
    // A 1-page vmalloc leaks nothing.
    let mut k = with(PlantedBug::LeakFrameBehindAllocator);
    ok(k.vmalloc(P, 1));
    assert_eq!(k.phys().allocated_count(), 4);
}

#[test]
fn unlink_empty_pte_table() {
    let mut k = with(PlantedBug::UnlinkEmptyPteTable);
    // Data page 0x100, tables PUD 0x101, PMD 0x102, PTE 0x103.
    let a = ok(k.vmalloc(P, 1));
    k.vfree(a, Context::Process).unwrap();
    // The PTE table is empty: its PMD entry (PMD table 0x102, index 0 for V) is cleared, but
    // the page stays allocated and listed (I8: tables are never unlinked).
    assert_eq!(walk4(&k, V), [0x101067, 0x102067, 0, 0]);
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x101, 0x102, 0x103]);
    assert!(k.phys().allocated_frames().any(|p| p.as_u64() == 0x103));
    assert_eq!(k.counters().table_pages, 3);
    // A table that still maps a page stays linked: B at V + 0x2000 keeps it.
    let mut k = with(PlantedBug::UnlinkEmptyPteTable);
    let a = ok(k.vmalloc(P, 1));
    let b = ok(k.vmalloc(P, 2));
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(pte(&k, b), (0x104 << 12) | PAGE_KERNEL);
}

#[test]
fn stray_pte_beyond_area() {
    let mut k = with(PlantedBug::StrayPteBeyondArea);
    // [V, V + 0x2000), data page 0x100: its leaf also lands in the last slot of the PTE
    // table, V + 0x1ff000, which no busy area covers.
    ok(k.vmalloc(P, 1));
    assert_eq!(pte(&k, V + 0x1f_f000), (0x100 << 12) | PAGE_KERNEL);
    let spans: Vec<(u64, u64)> = k
        .busy_areas()
        .map(|x| (x.start.as_u64(), x.end.as_u64()))
        .collect();
    assert_eq!(spans, vec![(V, V + 0x2000)]);
    // 511 pages: the guard page is that slot, covered: no stray leaf.
    let mut k = with(PlantedBug::StrayPteBeyondArea);
    ok(k.vmalloc(511 * P, 1));
    assert_eq!(pte(&k, V + 0x1f_f000), 0);
}

#[test]
fn pte_drops_nx() {
    let mut k = with(PlantedBug::PteDropsNx);
    // PAGE_KERNEL = NX | 0x163: the first PTE loses bit 63, the second keeps it.
    let a = ok(k.vmalloc(2 * P, 1));
    assert_eq!(pte(&k, a), (0x100 << 12) | 0x163);
    assert_eq!(pte(&k, a + P), (0x101 << 12) | PAGE_KERNEL);
}

#[test]
fn gap_count_drift() {
    let mut k = with(PlantedBug::GapCountDrift);
    let a = ok(k.vmalloc(P, 1));
    k.vfree(a, Context::Process).unwrap();
    // Gaps [0, V) and [V + 0x2000, 2^64); the lazy VA still separates them.
    assert_eq!(k.check_structures(), Ok(()));
    // The purge releases [V, V + 0x2000): one gap remains, the count stays 2.
    k.vm_unmap_aliases();
    let err = k.check_structures().unwrap_err();
    assert!(err.contains("free-gap tree: count 2 but 1 gaps"), "{err}");
    // Placement is unaffected: the next area is at V again.
    assert_eq!(ok(k.vmalloc(P, 2)), V);
}

#[test]
fn pud_bad_rejects_kernpg() {
    let mut k = with(PlantedBug::PudBadRejectsKernpg);
    // module_alloc at MODULES_VADDR, under PUD 510 (boot entry 0x3063): data page 0x100,
    // PTE table 0x101 (semantics §12.1: PMD 3 is static).
    let m = ok(k.module_alloc(P, 1));
    assert_eq!(m, MODULES);
    assert_eq!(entry(&k, 2, 510), 0x3063);
    k.vfree(m, Context::Process).unwrap();
    // The unmap judges the boot entry bad and clears it; its PTE is never reached.
    assert_eq!(entry(&k, 2, 510), 0);
    assert_eq!(entry(&k, 0x101, 0), (0x100 << 12) | 0x163);
    // `_PAGE_TABLE` entries pass: the vmalloc window is cleared normally.
    let a = ok(k.vmalloc(P, 2));
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(pte(&k, a), 0);
    assert_eq!(entry(&k, 2, 511), 0x4067);
}

#[test]
fn root_pgd_moved() {
    let mut k = with(PlantedBug::RootPgdMoved);
    assert_eq!(k.root_pfn().as_u64(), 1);
    // The first mapping copies the PGD to frame 6 and maps from there: the PUD table 0x101
    // is linked in frame 6's slot 402 (VMALLOC_START), not in PFN 1's.
    let a = ok(k.vmalloc(P, 1));
    assert_eq!(k.root_pfn().as_u64(), 6);
    assert_eq!((entry(&k, 6, 402), entry(&k, 6, 511)), (0x101067, 0x2067));
    assert_eq!(entry(&k, 1, 402), 0);
    // Reads go through the moved root.
    assert_eq!(k.read(a, 1).unwrap(), vec![0xaa]);
}

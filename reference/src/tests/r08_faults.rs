//! R8 failure residue for every fault kind, NOFAIL, WouldHang, and threshold purges on the
//! failure path.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::*;
use crate::{AreaState, Context, Fatal, Gfp, Prot, TableLevel, VmFlags};

fn lazy_state(m: &Model) -> (Vec<u64>, u64) {
    (m.lazy_list(), m.lazy_nr())
}

#[test]
fn r8_vm_struct_failure_leaves_nothing_and_does_not_purge() {
    let mut m = model_failing(&[(FaultKind::VmStruct, 2)]);
    let x = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(x, Context::Process).unwrap();
    // R13 step 1 fails: NULL and warning 1 only; no purge, so x stays pending.
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: P }]);
    assert_eq!(lazy_state(&m), (vec![x], 2));
    assert_eq!(m.fault_attempts(), [2, 1, 1, 1, 3]);
}

#[test]
fn r8_vmap_area_failure_frees_the_vm_struct_only() {
    let mut m = model_failing(&[(FaultKind::VmapArea, 1)]);
    // R13 step 2: the vm_struct is freed; NULL and warning 1 only (no purge, no warning 3).
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: P }]);
    assert!(m.busy_areas().is_empty());
    assert_eq!(m.live_objects().vm_structs, 0);
    assert_eq!(m.fault_attempts(), [1, 1, 0, 0, 0]);
}

#[test]
fn r8_pages_array_failure_leaves_the_lazy_va_and_no_warning() {
    let mut m = model_failing(&[(FaultKind::PagesArray, 1)]);
    // R13 step 4 (kmalloc of 8 bytes): semantics §6.1 step 6 → R9 steps 1–2 (the VA becomes lazy,
    // 2 pages with the guard), then the vm_struct goes. No warning in 4.x (P3).
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![]);
    assert_eq!(lazy_state(&m), (vec![START], 2));
    assert!(m.ptes().is_empty() && m.table_pages().is_empty());
    assert_eq!(m.fault_attempts(), [1, 1, 1, 0, 0]);
}

#[test]
fn r8_data_page_failure_frees_the_pages_taken() {
    let mut m = model_failing(&[(FaultKind::DataPage, 2)]);
    // vmalloc(3 pages): page 0 = 0x100, page 1 fails → nr_pages = 1 → warning 2 with
    // 1·4096 and the VA size 4 pages = 0x4000; R9: lazy add 4, page 0x100 freed. No
    // mapping was attempted, so no tables.
    assert_eq!(m.vmalloc(3 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: P,
            total: 0x4000
        }]
    );
    assert_eq!(lazy_state(&m), (vec![START], 4));
    assert_eq!(m.free_pages_per_node(), vec![261_888]);
    assert_eq!(m.fault_attempts(), [1, 1, 1, 2, 0]);
}

#[test]
fn r8_table_page_failure_keeps_the_tables_made_so_far() {
    let mut m = model_failing(&[(FaultKind::TablePage, 2)]);
    // Data page 0x100; walk: PUD table 0x101 (attempt 1), PMD table attempt 2 fails → the
    // walk stops; warning 2 with N·4096 = 4096 of 0x2000; R9 frees 0x100; PUD stays.
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: P,
            total: 0x2000
        }]
    );
    assert_eq!(
        m.table_pages().into_iter().collect::<Vec<_>>(),
        vec![((TableLevel::Pud, START), 0x101)]
    );
    assert_eq!(lazy_state(&m), (vec![START], 2));
    // Next vmalloc: START is lazy → START + 0x2000; data 0x100 again (lowest free); the
    // PUD table exists; PMD → 0x102, PTE → 0x103.
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START + 0x2000)));
    let t = m.table_pages();
    assert_eq!(
        (t[&(TableLevel::Pmd, START)], t[&(TableLevel::Pte, START)]),
        (0x102, 0x103)
    );
    assert_eq!(m.ptes()[&(START + 0x2000)], (0x100 << 12) | PK);
    assert_eq!(m.fault_attempts()[4], 4);
    check(&m);
}

#[test]
fn r8_mid_walk_failure_clears_written_ptes_and_keeps_tables() {
    let mut m = model_failing(&[(FaultKind::TablePage, 4)]);
    // Two pages at START + 0x1ff000: pages 0x100, 0x101; page 0 needs PUD/PMD/PTE(START)
    // (attempts 1–3: 0x102, 0x103, 0x104) and its PTE is written; page 1 at START + 0x200000
    // needs PTE(START + 0x200000): attempt 4 fails. Warning 2: 8192 of 0x3000. R9 step 1
    // clears the PTE already written; the three tables stay.
    let w = START + 0x1f_f000;
    let got = m.vmalloc_node_range(
        2 * P,
        1,
        w,
        END,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 2 * P,
            total: 0x3000
        }]
    );
    assert!(m.ptes().is_empty());
    assert_eq!(
        m.table_pages().values().copied().collect::<Vec<_>>(),
        vec![0x102, 0x103, 0x104]
    );
    assert_eq!(m.free_pages_per_node(), vec![261_888 - 3]);
}

#[test]
fn r8_nested_vm_struct_failure() {
    let mut m = model_failing(&[(FaultKind::VmStruct, 2)]);
    // 513 pages: the nested call's vm_struct (attempt 2) fails → the nested call prints
    // warning 1 with its request, 4104 bytes; the outer prints nothing more and its VA goes
    // through R9 steps 1–2: lazy, 514 pages.
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: 4104 }]);
    assert_eq!(lazy_state(&m), (vec![START], 514));
    assert_eq!(m.fault_attempts(), [2, 1, 0, 0, 0]);
}

#[test]
fn r8_nested_array_kmalloc_failure_lazy_frees_nested_before_outer() {
    let mut m = model_failing(&[(FaultKind::PagesArray, 1)]);
    // The nested call's own 16-byte array fails: the nested VA is lazily freed first (3
    // pages), then the outer (514): newest first = [outer, nested]; 517 pages; no warning.
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![]);
    assert_eq!(lazy_state(&m), (vec![START, START + 0x20_2000], 517));
}

#[test]
fn r8_nested_data_page_failure() {
    let mut m = model_failing(&[(FaultKind::DataPage, 2)]);
    // The nested call's page 1 fails: its warning 2 (4096 of 0x3000), its R9 (lazy 3,
    // page 0x100 freed); then the outer's R9 steps 1–2 (lazy 514).
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: P,
            total: 0x3000
        }]
    );
    assert_eq!(lazy_state(&m), (vec![START, START + 0x20_2000], 517));
    assert_eq!(m.free_pages_per_node(), vec![261_888]);
}

#[test]
fn r8_outer_data_page_failure_after_a_nested_array() {
    let mut m = model_failing(&[(FaultKind::DataPage, 10)]);
    // Attempts 1–2 are the nested pages (0x100, 0x101; its tables 0x102–0x104); outer pages
    // are attempts 3.. (0x105..). Attempt 10 is outer index 7 → warning 2 with 7·4096 =
    // 28672 of 0x202000. R9: outer lazy (514) first, its 7 pages freed, then the array's
    // vfree: nested lazy (3), its 2 pages freed. Newest first: [nested, outer]. The three
    // tables of the nested mapping stay.
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 28672,
            total: 0x20_2000
        }]
    );
    assert_eq!(lazy_state(&m), (vec![START + 0x20_2000, START], 517));
    assert_eq!(m.table_pages().len(), 3);
    assert_eq!(m.free_pages_per_node(), vec![261_888 - 3]);
    check(&m);
}

#[test]
fn r8_nested_va_search_failure_purges_before_the_outer_lazy_free() {
    // A small vmalloc window [START, START + 0x206000).
    let mut m = model_with(|c| c.vmalloc_end = START + 0x20_6000);
    let x = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(x, Context::Process).unwrap();
    // Outer 514-page VA: START is lazy-busy → START + 0x2000 .. START + 0x204000.
    // Nested 3-page VA: START overlaps the lazy x, START + 0x2000 is the outer, and after
    // the outer only 2 pages remain → purge (releases x: flush [START, START+0x2000)),
    // retry: [START, START + 0x3000) overlaps the outer → warning 3 (0x3000), warning 1
    // (4104).
    // Then the outer VA is lazily freed: pending alone.
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::TlbFlush {
                start: START,
                end: START + 0x2000
            },
            Event::VmapAllocFailed { size: 0x3000 },
            Event::AllocFailure { bytes: 4104 },
        ]
    );
    assert_eq!(lazy_state(&m), (vec![START + 0x2000], 514));
}

#[test]
fn r8_threshold_purge_on_the_failure_path_leaves_no_lazy_va() {
    // 1 CPU: lazy_max_pages = fls(1)·8192 = 8192.
    let mut m = model_with(|c| {
        c.nr_cpus = 1;
        c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 1);
    });
    // get_vm_area(8190 pages) → VA 8191 pages at START; vunmap → lazy_nr 8191 ≤ 8192.
    m.get_vm_area(8190 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    assert_eq!(m.lazy_nr(), 8191);
    // vmalloc(1 page) at START + 8191·4096 = START + 0x1fff000 whose page 0 fails:
    // warning 2 (0 of 0x2000), then R9 step 2: 8191 + 2 = 8193 > 8192 → purge both, one
    // flush over [START, START + 0x2001000).
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::AllocPartial {
                allocated: 0,
                total: 0x2000
            },
            Event::TlbFlush {
                start: START,
                end: START + 0x200_1000
            },
        ]
    );
    assert_eq!(lazy_state(&m), (vec![], 0));
    assert!(m.busy_areas().is_empty());
}

#[test]
fn r8_outer_threshold_purge_leaves_the_nested_va_pending_alone() {
    let mut m = model_with(|c| {
        c.nr_cpus = 1;
        // Attempts 1–2 are the nested pages; 3 is the outer's page 0.
        c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 3);
    });
    // Pending 7679 pages (get_vm_area of 7678 pages + guard), so that the outer's 514
    // makes 8193 > 8192. VAs: [START, START + 0x1dff000); outer at START + 0x1dff000 ..
    // START + 0x2001000; nested at START + 0x2001000.
    m.get_vm_area(7678 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::AllocPartial {
                allocated: 0,
                total: 0x20_2000
            },
            Event::TlbFlush {
                start: START,
                end: START + 0x200_1000
            },
        ]
    );
    // R8: "When the outer VA's own check purges, the array VA, added after it, is left
    // pending alone."
    assert_eq!(lazy_state(&m), (vec![START + 0x200_1000], 3));
    let areas = m.busy_areas();
    assert_eq!(areas.len(), 1);
    assert_eq!(areas[0].state, AreaState::Lazy);
}

#[test]
fn r13_nofail_requests_are_not_counted_and_never_injected() {
    // Every first attempt is planned to fail, but NOFAIL requests are skipped by the
    // injectors and not counted (design §3.7): the vmalloc succeeds; only its 3 table
    // pages (GFP_KERNEL, whatever the caller's gfp) are counted.
    let plan = [
        (FaultKind::VmStruct, 1),
        (FaultKind::VmapArea, 1),
        (FaultKind::PagesArray, 1),
        (FaultKind::DataPage, 1),
    ];
    let mut m = model_failing(&plan);
    assert_eq!(
        m.__vmalloc(P, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1),
        Ok(Some(START))
    );
    assert_eq!(m.fault_attempts(), [0, 0, 0, 0, 3]);
    // The plan still waits for the first counted VmStruct attempt.
    assert_eq!(m.vmalloc(P, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: P }]);
}

#[test]
fn r13_nofail_can_still_fail_at_the_tables() {
    // Pool of 2 pages (node [0, 0x102)). The NOFAIL vmalloc gets data page 0x100 and the
    // PUD table 0x101; the PMD table (plain GFP_KERNEL) finds no page: step 6 fails even
    // under NOFAIL → warning 2 (4096 of 0x2000); the PUD table stays.
    let mut m = model_with(|c| c.nodes = one_node(0x102));
    assert_eq!(
        m.__vmalloc(P, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: P,
            total: 0x2000
        }]
    );
    assert_eq!(
        m.table_pages().values().copied().collect::<Vec<_>>(),
        vec![0x101]
    );
}

#[test]
fn r13_nofail_with_no_page_would_hang() {
    // Pool of 1 page, taken by the caller: a NOFAIL data page can never be had.
    let mut m = model_with(|c| c.nodes = one_node(0x101));
    assert_eq!(m.alloc_page(Gfp::KERNEL, None), Ok(Some(0x100)));
    assert_eq!(
        m.__vmalloc(P, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1),
        Err(Fatal::WouldHang)
    );
    let mut m = model_with(|c| c.nodes = one_node(0x100));
    assert_eq!(
        m.alloc_page(Gfp::KERNEL | Gfp::NOFAIL, None),
        Err(Fatal::WouldHang)
    );
    // Without NOFAIL the same request is a counted, failed attempt.
    assert_eq!(m.alloc_page(Gfp::KERNEL, None), Ok(None));
    assert_eq!(m.fault_attempts()[3], 1);
}

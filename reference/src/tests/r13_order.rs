//! R13: the order of one call's allocations, seen through the attempt counters.

use super::*;
use crate::{Context, Gfp, Prot, VmFlags};

#[test]
fn r13_steps_come_in_order_and_stop_at_the_first_failure() {
    // Each row fails the first attempt of one kind; the counters show which later steps
    // were never reached: vm_struct (1) → vmap_area (2) → [placement (3)] → array (4) →
    // data pages (5) → tables (6).
    let rows = [
        (FaultKind::VmStruct, [1, 0, 0, 0, 0]),
        (FaultKind::VmapArea, [1, 1, 0, 0, 0]),
        (FaultKind::PagesArray, [1, 1, 1, 0, 0]),
        (FaultKind::DataPage, [1, 1, 1, 1, 0]),
        (FaultKind::TablePage, [1, 1, 1, 1, 1]),
    ];
    for (kind, want) in rows {
        let mut m = model_failing(&[(kind, 1)]);
        assert_eq!(m.vmalloc(P, 1), Ok(None), "{kind:?}");
        assert_eq!(m.fault_attempts(), want, "{kind:?}");
        check(&m);
    }
}

#[test]
fn r13_placement_comes_before_the_array() {
    let mut m = model();
    // A failed placement (step 3) means no array attempt (step 4): [1, 1, 0, 0, 0].
    let got = m.vmalloc_node_range(
        P,
        1,
        START,
        START + P,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(None));
    assert_eq!(m.fault_attempts(), [1, 1, 0, 0, 0]);
}

#[test]
fn r13_nested_call_runs_completely_before_the_outer_pages() {
    let mut m = model_failing(&[(FaultKind::DataPage, 1)]);
    // For 513 pages the first DataPage attempt belongs to the nested array's vmalloc, not
    // to the outer: warning 2 names the nested VA (3 pages = 0x3000) and 0 pages.
    assert_eq!(m.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 0x3000
        }]
    );
    // Outer: VmStruct 1, VmapArea 1; nested: VmStruct 2, VmapArea 2, its array
    // PagesArray 1, its page 0 (DataPage 1, failed). The outer never reached step 5.
    assert_eq!(m.fault_attempts(), [2, 2, 1, 1, 0]);
}

#[test]
fn r13_vmap_and_get_vm_area_make_only_their_steps() {
    let mut m = model();
    // get_vm_area: steps 1–3 only.
    m.get_vm_area(P, VmFlags::NONE, 1).unwrap().unwrap();
    assert_eq!(m.fault_attempts(), [1, 1, 0, 0, 0]);
    // alloc_page is a DataPage attempt; vmap makes steps 1–3 and 6 (its tables: the
    // get_vm_area VA was at START, vmap's at START + 0x2000: PUD, PMD, PTE = 3).
    let p = m.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    m.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1)
        .unwrap()
        .unwrap();
    assert_eq!(m.fault_attempts(), [2, 2, 0, 1, 3]);
    // A vmap whose vmap_area fails: NULL, no warning at all.
    let mut m = model_failing(&[(FaultKind::VmapArea, 1)]);
    assert_eq!(m.vmap(&[0x100], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(events(&mut m), vec![]);
}

#[test]
fn r13_free_order_lazy_add_before_pages() {
    // R9 step 2 (lazy add and threshold purge) comes before step 3 (pages freed). Observable
    // through the purge it triggers: with 1 CPU and 8191 pages pending, freeing a 1-page
    // vmalloc purges; its page is freed afterwards, and the flush covers its VA.
    let mut m = model_with(|c| c.nr_cpus = 1);
    m.get_vm_area(8190 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(a, START + 0x1ff_f000);
    m.vfree(a, Context::Process).unwrap();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: a + 0x2000
        }]
    );
    assert_eq!(
        (m.lazy_nr(), m.free_pages_per_node()),
        (0, vec![261_888 - 3])
    );
}

//! R13: allocation order (vm_struct, vmap_area, placement, array, data pages, tables) and the
//! outcome of each failure; __GFP_NOFAIL (not counted, never failed; VA and tables still can).

mod common;
use common::*;
use vmalloc_engine::{Event, Fatal, FaultKind, FaultPlan, Gfp, Kernel, NodeSpan, Prot};

fn one(kind: FaultKind) -> Kernel {
    kernel_with(|c| c.fault_plan = FaultPlan::new().fail(kind, 1))
}

#[test]
fn r13_each_failure_stops_the_later_steps() {
    // Failing the first attempt of a kind: every later kind in R13 order has no attempt.
    let cases = [
        (FaultKind::VmStruct, [1, 0, 0, 0, 0]),
        (FaultKind::VmapArea, [1, 1, 0, 0, 0]),
        (FaultKind::PagesArray, [1, 1, 1, 0, 0]),
        (FaultKind::DataPage, [1, 1, 1, 1, 0]),
        (FaultKind::TablePage, [1, 1, 1, 1, 1]),
    ];
    for (kind, attempts) in cases {
        let mut k = one(kind);
        assert_eq!(k.vmalloc(4096, 1), Ok(None), "{kind:?}");
        assert_eq!(k.fault_attempts(), attempts, "{kind:?}");
    }
}

#[test]
fn r13_a_successful_vmalloc_counts_every_attempt() {
    let mut k = kernel();
    ok(k.vmalloc(3 * P, 1));
    // 1 vm_struct, 1 vmap_area, 1 array (24 bytes), 3 data pages, 3 tables (PUD, PMD, PTE).
    assert_eq!(k.fault_attempts(), [1, 1, 1, 3, 3]);
    ok(k.vmalloc(3 * P, 2));
    // The same tables serve the second area.
    assert_eq!(k.fault_attempts(), [2, 2, 2, 6, 3]);
}

#[test]
fn r13_nofail_is_neither_counted_nor_failed() {
    let plan = FaultPlan::new()
        .fail(FaultKind::VmStruct, 1)
        .fail(FaultKind::VmapArea, 1)
        .fail(FaultKind::PagesArray, 1)
        .fail(FaultKind::DataPage, 1);
    let mut k = kernel_with(|c| c.fault_plan = plan);
    let a = ok(k.__vmalloc(2 * P, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1));
    assert_eq!(a, V);
    // Only the table pages (GFP_KERNEL whatever the caller's gfp) were counted.
    assert_eq!(k.fault_attempts(), [0, 0, 0, 0, 3]);
}

#[test]
fn r13_nofail_still_fails_on_tables_and_va() {
    let mut k = one(FaultKind::TablePage);
    assert_eq!(
        k.__vmalloc(4096, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 4096,
            total: 8192
        }]
    );
    // VA exhaustion: a window with no room.
    let mut k = kernel();
    let r = k.vmalloc_node_range(
        4096,
        1,
        V,
        V + 0x1000,
        Gfp::KERNEL | Gfp::NOFAIL,
        Prot::Kernel,
        Default::default(),
        None,
        1,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 }
        ]
    );
}

#[test]
fn r13_unsatisfiable_nofail_page_would_hang() {
    // Pool of 4 pages: a plain vmalloc(4096) takes 1 data page and 3 tables.
    let mut k = kernel_with(|c| {
        c.nodes = vec![NodeSpan {
            start_pfn: 0,
            end_pfn: 0x104,
        }]
    });
    ok(k.vmalloc(4096, 1));
    assert_eq!(k.counters().free_pages, 0);
    assert_eq!(
        k.__vmalloc(4096, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 2),
        Err(Fatal::WouldHang)
    );
    assert_eq!(k.fatal(), Some(Fatal::WouldHang));
    assert_eq!(k.vmalloc(4096, 3), Err(Fatal::WouldHang));
    // alloc_page with NOFAIL on an empty pool hangs the same way.
    let mut k = kernel_with(|c| {
        c.nodes = vec![NodeSpan {
            start_pfn: 0,
            end_pfn: 0x100,
        }]
    });
    assert_eq!(
        k.alloc_page(Gfp::KERNEL | Gfp::NOFAIL, None),
        Err(Fatal::WouldHang)
    );
}

#[test]
fn r13_nofail_reaches_the_nested_array() {
    // nested_gfp keeps __GFP_NOFAIL (GFP_RECLAIM_MASK): a failure planned for the nested
    // array's vm_struct (attempt 1 after the outer one went uncounted) never happens.
    let mut k = one(FaultKind::VmStruct);
    ok(k.__vmalloc(513 * P, Gfp::KERNEL | Gfp::NOFAIL, Prot::Kernel, 1));
    assert_eq!(k.fault_attempts()[FaultKind::VmStruct as usize], 0);
}

#[test]
fn r13_invalid_node_is_a_typed_bug() {
    let mut k = kernel();
    assert_eq!(
        k.vmalloc_node(4096, Some(1), 1),
        Err(Fatal::Bug(vmalloc_engine::BugKind::InvalidNode))
    );
}

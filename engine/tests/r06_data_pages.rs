//! R6: N order-0 pages in index order by the semantics §12.2 policy, distinct; a failure at index i
//! gives warning 2 (i·4096 of the VA size) and the R9 steps with nr_pages = i.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{Context, Event, FaultKind, FaultPlan, FrameState, Gfp, Pfn, Prot};

#[test]
fn r06_pages_in_index_order_lowest_pfn_first() {
    let mut k = kernel();
    let a = ok(k.vmalloc(3 * P, 1));
    // Data pages come before any table page (R13 step 5 before 6): 0x100, 0x101, 0x102; then
    // PUD 0x103, PMD 0x104, PTE 0x105.
    let area = k.busy_areas().next().unwrap();
    assert_eq!(
        area.pages,
        &[
            Pfn::from_u64(0x100),
            Pfn::from_u64(0x101),
            Pfn::from_u64(0x102)
        ]
    );
    for i in 0..3 {
        assert_eq!(
            k.vmalloc_to_pfn(a + i * P).map(|p| p.as_u64()),
            Some(0x100 + i)
        );
    }
    assert_eq!(
        k.table_frames(),
        &[
            Pfn::from_u64(0x103),
            Pfn::from_u64(0x104),
            Pfn::from_u64(0x105)
        ]
    );
    // Freed pages go back and are reused lowest first: the next 1-page vmalloc (VA at
    // V + 0x4000, the lazy VA is still busy) gets PFN 0x100 again.
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(k.phys().frame_state(0x100u64), FrameState::Free);
    let b = ok(k.vmalloc(4096, 2));
    assert_eq!(b, V + 0x4000);
    assert_eq!(k.vmalloc_to_pfn(b).map(|p| p.as_u64()), Some(0x100));
}

#[test]
fn r06_failure_at_index_2_frees_pages_0_and_1() {
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 3));
    // 4 pages: pages 0 and 1 get 0x100 and 0x101; the third attempt (index 2) fails.
    assert_eq!(k.vmalloc(4 * P, 1), Ok(None));
    // Warning 2: 2 * 4096 = 8192 allocated of the VA size 5 * 4096 = 20480 (guard included).
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 8192,
            total: 20480
        }]
    );
    // R8 residue: the 5-page VA lazily pending, nothing else (no table was ever made: the
    // mapping was not reached).
    assert_eq!(k.lazy_nr(), 5);
    let c = k.counters();
    assert_eq!(
        (
            c.allocated_pages,
            c.table_pages,
            c.live_vm_structs,
            c.kmalloc_arrays
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(k.phys().frame_state(0x101u64), FrameState::Free);
    assert_eq!(k.fault_attempts(), [1, 1, 1, 3, 0]);
}

#[test]
fn r06_nowarn_silences_warning_2_but_not_the_residue() {
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 1));
    assert_eq!(
        k.__vmalloc(P, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.lazy_nr(), 2);
}

#[test]
fn r06_pool_exhaustion_fails_like_an_injected_fault() {
    // One node [0, 0x106): a pool of 6 pages (0x100..=0x105), totalram = 6.
    let mut k = kernel_with(|c| {
        c.nodes = vec![vmalloc_engine::NodeSpan {
            start_pfn: 0,
            end_pfn: 0x106,
        }]
    });
    // vmalloc(4096) takes data page 0x100 and the tables 0x101..=0x103: 2 pages left.
    ok(k.vmalloc(4096, 1));
    // 4 pages pass R1 (4 <= 6); indices 0 and 1 get 0x104 and 0x105, index 2 finds the pool
    // empty: warning 2 with 2 * 4096 of 5 * 4096.
    assert_eq!(k.vmalloc(4 * P, 2), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 8192,
            total: 20480
        }]
    );
    assert_eq!(k.counters().free_pages, 2);
    // Every page request is an attempt, failed or not: 1 + 3.
    assert_eq!(k.fault_attempts()[FaultKind::DataPage as usize], 4);
}

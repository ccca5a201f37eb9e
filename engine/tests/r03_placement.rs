//! R3: exact lowest fit over every busy VA, lazy ones included; purge and retry once; then
//! warnings 3 and 1 and no state change but the purge.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{Event, FaultKind, Gfp, Prot, VmFlags};

#[test]
fn r03_lazy_vas_stay_busy_until_purged() {
    let mut k = kernel();
    // Three 1-page vmallocs: VAs of 2 pages each at V, V+0x2000, V+0x4000.
    let a = ok(k.vmalloc(4096, 1));
    let b = ok(k.vmalloc(4096, 2));
    let c = ok(k.vmalloc(4096, 3));
    assert_eq!((a, b, c), (V, V + 0x2000, V + 0x4000));
    k.vfree(b, Default::default()).unwrap();
    // b's VA is lazily pending, still busy: the next 2-page VA goes above c, at V + 0x6000.
    assert_eq!(ok(k.vmalloc(4096, 4)), V + 0x6000);
    // The purge releases b's VA and flushes exactly its range.
    k.vm_unmap_aliases();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V + 0x2000,
            end: V + 0x4000
        }]
    );
    // Now the exact-fit hole [V+0x2000, V+0x4000) is the lowest fit.
    assert_eq!(ok(k.vmalloc(4096, 5)), V + 0x2000);
    // Busy: [0,2) [2,4) [4,6) [6,8) pages; a 2-page vmalloc (3-page VA) goes to V + 0x8000.
    assert_eq!(ok(k.vmalloc(8192, 6)), V + 0x8000);
}

#[test]
fn r03_exact_fit_hole_below_the_last_search_is_used() {
    // The semantics §4.4 example where v4.19.0's strict cache test gives page 5 and lowest fit
    // page 1. VM_NO_GUARD areas of 1, 1, 1 pages at pages 0, 1, 2 of the window.
    let mut k = kernel();
    let ng = VmFlags::NO_GUARD;
    let mut at = Vec::new();
    for i in 0..3 {
        at.push(
            k.__get_vm_area(4096, ng, V, VEND, i)
                .unwrap()
                .unwrap()
                .addr
                .as_u64(),
        );
    }
    assert_eq!(at, vec![V, V + 0x1000, V + 0x2000]);
    // Free the one at page 1 and purge.
    k.free_vm_area(V + 0x1000).unwrap();
    k.vm_unmap_aliases();
    // Size 2 does not fit the 1-page hole: page 3.
    assert_eq!(
        k.__get_vm_area(8192, ng, V, VEND, 4)
            .unwrap()
            .unwrap()
            .addr
            .as_u64(),
        V + 0x3000
    );
    // Size 1: exact lowest fit is the hole at page 1 (v4.19.0 would answer page 5).
    assert_eq!(
        k.__get_vm_area(4096, ng, V, VEND, 5)
            .unwrap()
            .unwrap()
            .addr
            .as_u64(),
        V + 0x1000
    );
}

/// A 4-page window at W = V + 16 MiB: room for two 1-page vmallocs (2-page VAs).
const W: u64 = V + 0x100_0000;

fn small(k: &mut vmalloc_engine::Kernel, caller: u32) -> Option<u64> {
    k.vmalloc_node_range(
        4096,
        1,
        W,
        W + 0x4000,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        caller,
    )
    .unwrap()
    .map(|a| a.as_u64())
}

#[test]
fn r03_overflow_purges_and_retries_once() {
    let mut k = kernel();
    assert_eq!(small(&mut k, 1), Some(W));
    assert_eq!(small(&mut k, 2), Some(W + 0x2000));
    k.vfree(W, Default::default()).unwrap();
    assert_eq!(events(&mut k), vec![]);
    // No fit: the purge releases [W, W+0x2000) (one TLB flush), and the retry finds W.
    assert_eq!(small(&mut k, 3), Some(W));
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: W,
            end: W + 0x2000
        }]
    );
    assert_eq!(k.lazy_nr(), 0);
}

#[test]
fn r03_no_fit_after_purge_warns_3_then_1_and_changes_nothing() {
    let mut k = kernel();
    small(&mut k, 1);
    small(&mut k, 2);
    let before = k.counters();
    let attempts = k.fault_attempts();
    assert_eq!(small(&mut k, 3), None);
    // Nothing pending, so the purge does nothing (no flush). Warning 3 has the VA size with
    // the guard (8192), warning 1 the request (4096).
    assert_eq!(
        events(&mut k),
        vec![
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 }
        ]
    );
    assert_eq!(k.counters(), before);
    // Only R13 steps 1 and 2 were attempted.
    let mut want = attempts;
    want[FaultKind::VmStruct as usize] += 1;
    want[FaultKind::VmapArea as usize] += 1;
    assert_eq!(k.fault_attempts(), want);
}

#[test]
fn r03_nowarn_and_get_vm_area_warnings() {
    let mut k = kernel();
    small(&mut k, 1);
    small(&mut k, 2);
    let r = k.vmalloc_node_range(
        4096,
        1,
        W,
        W + 0x4000,
        Gfp::KERNEL | Gfp::NOWARN,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        3,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(events(&mut k), vec![]);
    // The get_vm_area family prints warning 3 only (GFP_KERNEL, never NOWARN).
    assert_eq!(
        k.__get_vm_area(4096, VmFlags::empty(), W, W + 0x4000, 4),
        Ok(None)
    );
    assert_eq!(events(&mut k), vec![Event::VmapAllocFailed { size: 8192 }]);
}

#[test]
fn r03_vstart_above_vend_is_no_fit() {
    // design §3.3: not a BUG in 4.19; purge, retry, warnings 3 then 1.
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Default::default()).unwrap();
    let r = k.vmalloc_node_range(
        4096,
        1,
        V + 0x10000,
        V,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        2,
    );
    assert_eq!(r, Ok(None));
    // The purge releases the lazy VA [V, V+0x2000) first.
    assert_eq!(
        events(&mut k),
        vec![
            Event::TlbFlush {
                start: V,
                end: V + 0x2000
            },
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 },
        ]
    );
    assert_eq!(k.busy_areas().count(), 0);
}

#[test]
fn r03_request_is_recorded() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1));
    let a = k.busy_areas().next().unwrap();
    assert_eq!(
        (a.request.vstart, a.request.vend, a.request.align),
        (V, VEND, 1)
    );
}

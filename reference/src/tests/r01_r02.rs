//! R1 (size gate) and R2 (reservation size, guard page).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use super::*;
use crate::{BugKind, Fatal, Gfp, Prot, VmFlags};

#[test]
fn r1_size_zero_fails_with_warning_1_and_nothing_else() {
    let mut m = model();
    // semantics §3.1: vmalloc(0) goes through the fail label: S = PAGE_ALIGN(0) = 0 → NULL,
    // warning 1 with the unaligned request (0). R1: nothing changes, so no attempt is counted.
    assert_eq!(m.vmalloc(0, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: 0 }]);
    assert_eq!(m.fault_attempts(), [0; 5]);
    assert!(m.busy_areas().is_empty());
    // NOWARN suppresses warning 1 (semantics §3.1 "suppressed by __GFP_NOWARN").
    assert_eq!(
        m.__vmalloc(0, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(events(&mut m), vec![]);
}

#[test]
fn r1_sizes_that_wrap_in_page_align_fail() {
    let mut m = model();
    // semantics §0: PAGE_ALIGN(u64::MAX) wraps to 0 → R1 failure, warning 1 with u64::MAX.
    assert_eq!(m.vmalloc(u64::MAX, 1), Ok(None));
    // PAGE_ALIGN(2^64 − 4096) = 2^64 − 4096 → 2^52 − 1 pages > 261,888 → R1 failure.
    assert_eq!(m.vmalloc(u64::MAX - 4095, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::AllocFailure { bytes: u64::MAX },
            Event::AllocFailure {
                bytes: u64::MAX - 4095
            },
        ]
    );
    assert_eq!(m.fault_attempts(), [0; 5]);
}

#[test]
fn r1_totalram_is_strictly_greater() {
    // Machine with one node [0, 0x110): pool PFNs 0x100..0x110, totalram = 16 pages.
    let mut m = model_with(|c| c.nodes = one_node(0x110));
    assert_eq!(m.totalram_pages(), 16);
    // 16·4096 + 1 → PAGE_ALIGN = 17 pages > 16 → R1 failure, nothing attempted.
    assert_eq!(m.vmalloc(16 * P + 1, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocFailure { bytes: 16 * P + 1 }]
    );
    assert_eq!(m.fault_attempts(), [0; 5]);
    // Exactly 16 pages passes R1 (equal is allowed; the guard is not counted) and gets a
    // VA of 17 pages; its 16 data pages take the whole pool, so the first table page (the
    // PUD table, R13 step 6) fails: warning 2 with 16·4096 = 65536 of 17·4096 = 69632.
    assert_eq!(m.vmalloc(16 * P, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 65536,
            total: 69632
        }]
    );
    // Attempts: VmStruct 1, VmapArea 1, PagesArray 1 (128 bytes), DataPage 16, TablePage 1.
    assert_eq!(m.fault_attempts(), [1, 1, 1, 16, 1]);
}

#[test]
fn r1_rounds_the_size_up() {
    let mut m = model();
    // vmalloc(1): S = 4096, so N = 1 page and (R2) a VA of 2 pages.
    let va = m.vmalloc(1, 1).unwrap().unwrap();
    let info = m.find_vm_area(va).unwrap();
    assert_eq!((info.addr, info.size, info.nr_pages), (START, 2 * P, 1));
    check(&m);
}

#[test]
fn r2_guard_page_is_the_last_page_and_unmapped() {
    let mut m = model();
    // R2: VA = S + 4096; R3: lowest fit from VMALLOC_START → [START, START + 0x2000).
    let va = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(va, START);
    let area = &m.busy_areas()[0];
    assert_eq!((area.start, area.end), (START, START + 0x2000));
    // R7: PTE(guard) = 0, i.e. absent from the PTE map; the data page is mapped.
    assert!(m.ptes().contains_key(&START));
    assert!(!m.ptes().contains_key(&(START + P)));
    // The next area touches the guard: [START + 0x2000, START + 0x4000).
    assert_eq!(m.vmalloc(P, 1).unwrap(), Some(START + 0x2000));
    check(&m);
}

#[test]
fn r2_no_guard_fits_an_exact_range() {
    let mut m = model();
    let w = START + 0x10_0000;
    // KASAN-shadow style (semantics §2): range size = request size. With VM_NO_GUARD the VA is 1
    // page and [w, w + 0x1000) fits vend = w + 0x1000 exactly.
    let got = m.vmalloc_node_range(
        P,
        1,
        w,
        w + P,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NO_GUARD,
        None,
        1,
    );
    assert_eq!(got, Ok(Some(w)));
    assert_eq!(m.find_vm_area(w).unwrap().size, P);
    // Without it the VA is 2 pages: no fit in [w + 0x1000, w + 0x2000)… (R3: purge with
    // nothing pending does nothing, then warning 3 with 0x2000, then warning 1 with 4096).
    let w2 = w + P;
    let got = m.vmalloc_node_range(
        P,
        1,
        w2,
        w2 + P,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P }
        ]
    );
}

#[test]
fn r2_guard_add_wrapping_to_zero_is_a_bug_after_the_vm_struct() {
    let mut m = model();
    // semantics §3.2: a size in (2^64 − 8192, 2^64 − 4096] page-aligns to 2^64 − 4096; the guard
    // add wraps to 0 and alloc_vmap_area hits BUG_ON(!size), after the VmStruct attempt.
    let size = u64::MAX - 4096 - 100;
    let got = m.__get_vm_area(size, VmFlags::NONE, START, u64::MAX, 1);
    assert_eq!(got, Err(Fatal::Bug(BugKind::ZeroSizeVa)));
    assert_eq!(m.fault_attempts(), [1, 0, 0, 0, 0]);
    // If the plan fails that VmStruct attempt, the outcome is step 1's: NULL, and the
    // get_vm_area family prints nothing for it.
    let mut m = model_failing(&[(FaultKind::VmStruct, 1)]);
    assert_eq!(
        m.__get_vm_area(size, VmFlags::NONE, START, u64::MAX, 1),
        Ok(None)
    );
    assert_eq!(events(&mut m), vec![]);
    // With VM_NO_GUARD the size stays 2^64 − 4096 and the search finds no fit (a + size
    // wraps from START): warning 3 only.
    let mut m = model();
    assert_eq!(
        m.__get_vm_area(size, VmFlags::NO_GUARD, START, u64::MAX, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut m),
        vec![Event::VmapAllocFailed {
            size: u64::MAX - 4095
        }]
    );
    assert_eq!(m.fault_attempts(), [1, 1, 0, 0, 0]);
}

#[test]
fn r2_get_vm_area_size_that_page_aligns_to_zero_is_null_before_any_attempt() {
    let mut m = model();
    // Contract §10: PAGE_ALIGN(size) == 0 → NULL before any attempt, no event.
    assert_eq!(m.get_vm_area(u64::MAX, VmFlags::NONE, 1), Ok(None));
    assert_eq!(m.get_vm_area(0, VmFlags::NONE, 1), Ok(None));
    assert_eq!(events(&mut m), vec![]);
    assert_eq!(m.fault_attempts(), [0; 5]);
}

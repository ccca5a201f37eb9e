//! R2: the VA is S + 4096 unless VM_NO_GUARD; the guard is the last page and is never mapped.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{AreaState, Gfp, Prot, VmFlags};

#[test]
fn r02_vmalloc_reserves_one_guard_page_at_the_top() {
    let mut k = kernel();
    // First fit from VMALLOC_START: [V, V + 4096 + 4096).
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(a, V);
    let area = k.busy_areas().next().unwrap();
    assert_eq!(area.end.as_u64(), V + 0x2000);
    let AreaState::Live(info) = area.state else {
        panic!("live")
    };
    // vm->size includes the guard (semantics §1.1).
    assert_eq!(info.size, 8192);
    // Page 0 is mapped to the first pool PFN; the guard PTE is 0 (I4).
    assert_eq!(pte(&k, V), (FIRST << 12) | PAGE_KERNEL);
    assert_eq!(pte(&k, V + 0x1000), 0);
    // The next area starts right after the guard: V + 0x2000.
    assert_eq!(ok(k.vmalloc(4096, 2)), V + 0x2000);
}

#[test]
fn r02_guard_of_an_unaligned_size() {
    let mut k = kernel();
    // 5000 bytes: PAGE_ALIGN = 8192 (2 pages), VA = 3 pages.
    let a = ok(k.vmalloc(5000, 1));
    let info = k.find_vm_area(a).unwrap();
    assert_eq!(info.size, 3 * 4096);
    assert_eq!(info.nr_pages, 2);
    assert_eq!(ok(k.vmalloc(1, 2)), V + 0x3000);
}

#[test]
fn r02_no_guard_areas_touch() {
    let mut k = kernel();
    let a = ok(k.vmalloc_node_range(
        4096,
        1,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NO_GUARD,
        None,
        1,
    ));
    assert_eq!(a, V);
    let info = k.find_vm_area(a).unwrap();
    // VA = S: 4096; flags = VM_ALLOC | VM_NO_GUARD (VM_UNINITIALIZED cleared on success).
    assert_eq!(info.size, 4096);
    assert_eq!(info.flags, VmFlags::ALLOC | VmFlags::NO_GUARD);
    // The next vmalloc starts at V + 0x1000, adjacent.
    assert_eq!(ok(k.vmalloc(4096, 2)), V + 0x1000);
}

#[test]
fn r02_get_vm_area_also_gets_a_guard() {
    let mut k = kernel();
    let info = k.get_vm_area(0x3000, VmFlags::empty(), 9).unwrap().unwrap();
    // 3 pages + guard = 0x4000; nothing is mapped or allocated.
    assert_eq!(
        (info.addr.as_u64(), info.size, info.nr_pages),
        (V, 0x4000, 0)
    );
    assert_eq!(k.counters().allocated_pages, 0);
    assert_eq!(pte(&k, V), 0);
}

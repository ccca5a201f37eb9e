//! R12: find_vm_area (live VA containing p), vmalloc_to_page (the mapped page or None),
//! is_vmalloc_addr (the range test).

mod common;
use common::*;
use vmalloc_engine::{Context, VirtAddr};

#[test]
fn r12_find_vm_area_is_a_range_lookup_including_the_guard() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    for p in [V, V + 0x123, V + 0x1000, V + 0x1fff] {
        assert_eq!(k.find_vm_area(p).map(|i| i.addr.as_u64()), Some(a));
    }
    assert_eq!(k.find_vm_area(V - 1), None);
    assert_eq!(k.find_vm_area(V + 0x2000), None);
    k.vfree(a, Context::Process).unwrap();
    // Lazily freed: NULL.
    assert_eq!(k.find_vm_area(a), None);
}

#[test]
fn r12_vmalloc_to_page() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(k.vmalloc_to_page(a + 0x10).map(|p| p.as_u64()), Some(0x100));
    assert_eq!(k.vmalloc_to_pfn(a).map(|p| p.as_u64()), Some(0x100));
    // Guard page, a page with no tables, and a freed area: None.
    assert_eq!(k.vmalloc_to_page(a + 0x1000), None);
    assert_eq!(k.vmalloc_to_page(V + 0x4000_0000), None);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(k.vmalloc_to_page(a), None);
    // A module address resolves through the boot tables.
    let m = ok(k.module_alloc(4096, 2));
    assert_eq!(k.vmalloc_to_page(m).map(|p| p.as_u64()), Some(0x100));
}

/// The walk takes p's table indices (bits 47..12 on 4-level paging), so a non-canonical p
/// that differs from a mapped address only in bits 63..48 reads its page (semantics R12);
/// bit 47 is an index bit, so flipping it reads another region.
#[test]
fn r12_vmalloc_to_page_of_a_non_canonical_address_uses_its_low_48_bits() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(a, 0xffff_c900_0000_0000);
    let page = |p: u64| k.vmalloc_to_page(p).map(|p| p.as_u64());
    assert_eq!(page(0x0000_c900_0000_0010), Some(0x100));
    assert_eq!(page(0x00ff_c900_0000_0fff), Some(0x100));
    assert_eq!(page(0xffff_4900_0000_0000), None);
}

#[test]
fn r12_is_vmalloc_addr() {
    let k = kernel();
    assert!(k.is_vmalloc_addr(V));
    assert!(!k.is_vmalloc_addr(V - 1));
    // VMALLOC_END is the last byte, passed as exclusive: the last byte is outside.
    assert!(k.is_vmalloc_addr(VEND - 1));
    assert!(!k.is_vmalloc_addr(VEND));
    assert!(!k.is_vmalloc_addr(MODULES));
    assert!(!k.is_vmalloc_addr(VirtAddr::NULL));
}

#[test]
fn r12_translate_reports_effective_permissions() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    let t = k.translate(a + 5).unwrap();
    // PAGE_KERNEL: RW, NX, not USER (the 0x67 table entries have USER; the leaf does not).
    assert_eq!(
        (t.pfn.as_u64(), t.offset, t.leaf),
        (0x100, 5, (0x100 << 12) | PAGE_KERNEL)
    );
    assert!(t.writable && t.no_execute && !t.user);
    assert!(k.translate(a + 0x1000).is_err());
    // Non-canonical addresses are refused, not wrapped.
    assert!(k.translate(0x0000_c900_0000_0000u64).is_err());
}

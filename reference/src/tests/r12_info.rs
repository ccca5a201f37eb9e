//! R12 queries, /proc/vmallocinfo (semantics §11.4, contract §7), data access through the PTEs.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use super::*;
use crate::{AccessError, Context, Gfp, Prot, VmFlags};

#[test]
fn r12_find_vm_area_is_a_range_lookup_of_live_areas() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    // Any address of the VA, guard page included, finds the area (semantics §2, 3.11+).
    assert_eq!(m.find_vm_area(a + P + 5).map(|i| i.addr), Some(a));
    assert_eq!(m.find_vm_area(a + 2 * P), None);
    // A lazily freed area gives None.
    m.vfree(a, Context::Process).unwrap();
    assert_eq!(m.find_vm_area(a), None);
}

#[test]
fn r12_vmalloc_to_page_only_for_mapped_pages() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(m.vmalloc_to_page(a + 123), Some(0x100));
    assert_eq!(m.vmalloc_to_pfn(a), Some(0x100));
    // Guard page, never-mapped page, lazily freed area: None (design §3.14).
    assert_eq!(m.vmalloc_to_page(a + P), None);
    assert_eq!(m.vmalloc_to_page(a + 100 * P), None);
    m.vfree(a, Context::Process).unwrap();
    assert_eq!(m.vmalloc_to_page(a), None);
}

/// R12: the walk takes p's table indices only, so an address that differs from a mapped one
/// only in bits 63..48 (not canonical on 4-level paging) reads the same page; bit 47 is an
/// index bit, so flipping it reads another (unmapped) region.
#[test]
fn r12_vmalloc_to_page_of_a_non_canonical_address_uses_its_low_48_bits() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(a, 0xffff_c900_0000_0000);
    assert_eq!(m.vmalloc_to_page(0x0000_c900_0000_0010), Some(0x100));
    assert_eq!(m.vmalloc_to_page(0x00ff_c900_0000_0fff), Some(0x100));
    assert_eq!(m.vmalloc_to_page(0xffff_4900_0000_0000), None);
}

#[test]
fn r12_is_vmalloc_addr_uses_the_odd_end() {
    let m = model();
    // VMALLOC_START <= x < VMALLOC_END, END = 0xffffe8ffffffffff.
    assert!(m.is_vmalloc_addr(START));
    assert!(!m.is_vmalloc_addr(START - 1));
    assert!(m.is_vmalloc_addr(END - 1));
    assert!(!m.is_vmalloc_addr(END));
    assert!(!m.is_vmalloc_addr(MODULES));
}

#[test]
fn vmallocinfo_lines() {
    let mut m = model();
    // a: vmalloc at START (page 0x100); b: vmalloc_user at START + 0x2000 (flags gain
    // VM_USERMAP); c: vmap of one caller page at START + 0x4000; d: get_vm_area(64 KiB,
    // IOREMAP) at ALIGN(START + 0x6000, 0x10000) = START + 0x10000, size 0x11000 = 69632;
    // then a is freed (lazy).
    m.vmalloc(P, 7).unwrap().unwrap();
    m.vmalloc_user(P, 8).unwrap().unwrap();
    let p = m.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    m.vmap(&[p], VmFlags::MAP, Prot::Kernel, 10)
        .unwrap()
        .unwrap();
    m.get_vm_area(0x10000, VmFlags::IOREMAP, 9)
        .unwrap()
        .unwrap();
    m.vfree(START, Context::Process).unwrap();
    let want = "\
0xffffc90000000000-0xffffc90000002000    8192 unpurged vm_area
0xffffc90000002000-0xffffc90000004000    8192 op8 pages=1 vmalloc user N0=1
0xffffc90000004000-0xffffc90000006000    8192 op10 vmap
0xffffc90000010000-0xffffc90000021000   69632 op9 ioremap
";
    assert_eq!(m.vmallocinfo(), want);
    // vmalloc_user pages are zeroed (GFP_KERNEL | __GFP_ZERO).
    assert_eq!(m.read(START + 0x2000, 3).unwrap(), vec![0, 0, 0]);
}

#[test]
fn vmallocinfo_nested_array_prints_vpages() {
    let mut m = model();
    m.vmalloc(513 * P, 11).unwrap().unwrap();
    // Outer: 514 pages = 2105344 bytes (7 digits, no padding), pages=513, vpages. The
    // nested array is a vmalloc of its own with the outer's caller token: 3 pages = 12288.
    let want = "\
0xffffc90000000000-0xffffc90000202000 2105344 op11 pages=513 vmalloc vpages N0=513
0xffffc90000202000-0xffffc90000205000   12288 op11 pages=2 vmalloc N0=2
";
    assert_eq!(m.vmallocinfo(), want);
}

#[test]
fn read_and_write_go_through_the_ptes() {
    let mut m = model();
    let a = m.vmalloc(2 * P, 1).unwrap().unwrap();
    // Across the page boundary: bytes land in pages 0x100 and 0x101.
    m.write(a + P - 2, &[1, 2, 3, 4]).unwrap();
    assert_eq!(m.read(a + P - 3, 6).unwrap(), vec![0xaa, 1, 2, 3, 4, 0xaa]);
    assert_eq!(m.page_bytes(0x100).unwrap()[4094..], [1, 2]);
    assert_eq!(m.page_bytes(0x101).unwrap()[..2], [3, 4]);
    // Into the guard page: an error naming the first unmapped byte, and nothing written.
    let guard = a + 2 * P;
    assert_eq!(
        m.write(guard - 1, &[9, 9]),
        Err(AccessError::Unmapped { addr: guard })
    );
    assert_eq!(m.read(guard - 1, 1).unwrap(), vec![0xaa]);
    assert_eq!(m.read(u64::MAX, 2), Err(AccessError::AddressWraps));
    // Table frames are not data: their contents are the PTE and entry views.
    assert_eq!(m.page_bytes(0x102), None);
    assert_eq!(m.page_bytes(5), None);
}

//! Deferred vfree (semantics §5.1, design §3.11, contract §10): in interrupt context the free is
//! queued on CPU 0's list, its first 8 bytes become the llist link; `run_deferred` frees newest
//! first.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

mod common;
use common::*;
use vmalloc_engine::{BugKind, Context, Event, Fatal, Gfp, Prot, VmFlags};

#[test]
fn deferred_free_writes_the_link_and_runs_newest_first() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    let b = ok(k.vmalloc(4096, 2));
    k.vfree(a, Context::Interrupt).unwrap();
    // The list was empty: 8 zero bytes; the rest of the page is still poison (not vzalloc).
    assert_eq!(k.read(a, 9).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0, 0xaa]);
    // The area stays fully live until the list runs.
    assert!(k.find_vm_area(a).is_some());
    k.vfree_atomic(b).unwrap();
    // b's link is the previous head, a = 0xffffc90000000000, little-endian.
    assert_eq!(k.read(b, 8).unwrap(), vec![0, 0, 0, 0, 0, 0xc9, 0xff, 0xff]);
    let list: Vec<u64> = k.deferred_list().iter().map(|v| v.as_u64()).collect();
    assert_eq!(list, vec![b, a]);
    k.run_deferred().unwrap();
    // b freed first, then a: newest first on the lazy list is a.
    let lazy: Vec<u64> = k.lazy_list().iter().map(|(s, _)| s.as_u64()).collect();
    assert_eq!(lazy, vec![a, b]);
    assert!(k.deferred_list().is_empty());
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn deferred_free_of_an_unmapped_address_oopses() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1));
    // The guard page is unmapped: writing the link faults.
    assert_eq!(
        k.vfree(V + 0x1000, Context::Interrupt),
        Err(Fatal::Bug(BugKind::Oops))
    );
    let mut k = kernel();
    assert_eq!(k.vfree_atomic(V), Err(Fatal::Bug(BugKind::Oops)));
    // NULL is a no-op on both paths.
    let mut k = kernel();
    assert_eq!(k.vfree_atomic(0u64), Ok(()));
}

#[test]
fn deferred_free_of_a_read_only_mapping_oopses() {
    // The link write goes through a PAGE_KERNEL_RO mapping: the CPU faults.
    let mut k = kernel();
    let a = ok(k.__vmalloc(4096, Gfp::KERNEL, Prot::KernelRo, 1));
    assert_eq!(
        k.vfree(a, Context::Interrupt),
        Err(Fatal::Bug(BugKind::Oops))
    );
}

#[test]
fn deferred_unaligned_pointer_warns_when_the_list_runs() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    // No alignment check before queueing; __vunmap warns later.
    k.vfree(a + 8, Context::Interrupt).unwrap();
    assert_eq!(events(&mut k), vec![]);
    k.run_deferred().unwrap();
    assert_eq!(events(&mut k), vec![Event::BadAddress { addr: a + 8 }]);
}

#[test]
fn deferred_free_of_a_vmap_area_writes_into_the_callers_page() {
    let mut k = kernel();
    let p = k
        .alloc_page(Gfp::KERNEL | Gfp::ZERO, None)
        .unwrap()
        .unwrap();
    let a = ok(k.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1));
    k.vfree(a + 0x10, Context::Interrupt).unwrap();
    // The page was zeroed; bytes 0x10..0x18 now hold the (empty-list) link 0.
    assert_eq!(k.phys().read_bytes(p).unwrap()[0x10..0x18], [0; 8]);
    k.vfree(a, Context::Interrupt).unwrap();
    // The second link is the previous head a + 0x10 = 0xffffc90000000010.
    assert_eq!(
        k.phys().read_bytes(p).unwrap()[..8],
        [0x10, 0, 0, 0, 0, 0xc9, 0xff, 0xff]
    );
}

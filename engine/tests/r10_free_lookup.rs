//! R10: vfree(p): NULL -> nothing; unaligned -> warning 4; inside a live VA (guard included) ->
//! free that whole area silently; otherwise (no busy VA, lazy VA) -> warning 5, nothing.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{BugKind, Context, Event, Fatal, Gfp, Pfn, VmFlags};

#[test]
fn r10_null_is_a_no_op() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1));
    let before = k.counters();
    k.vfree(0u64, Context::Process).unwrap();
    k.vfree(0u64, Context::Interrupt).unwrap();
    k.vunmap(0u64, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.counters(), before);
    assert!(k.deferred_list().is_empty());
}

#[test]
fn r10_unaligned_warns_4_and_frees_nothing() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    let before = k.counters();
    k.vfree(a + 1, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::BadAddress { addr: V + 1 }]);
    assert_eq!(k.counters(), before);
    assert!(k.find_vm_area(a).is_some());
}

#[test]
fn r10_interior_and_guard_pointers_free_the_whole_area() {
    let mut k = kernel();
    // 2 pages: VA [V, V + 0x3000), guard page V + 0x2000.
    ok(k.vmalloc(2 * P, 1));
    k.vfree(V + 0x2000, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![]);
    let lazy: Vec<_> = k
        .lazy_list()
        .iter()
        .map(|(s, e)| (s.as_u64(), e.as_u64()))
        .collect();
    assert_eq!(lazy, vec![(V, V + 0x3000)]);
    assert_eq!(k.counters().area_pages, 0);
    // An interior data page works the same.
    let b = ok(k.vmalloc(2 * P, 2));
    k.vfree(b + 0x1000, Context::Process).unwrap();
    assert_eq!(k.counters().live_vm_structs, 0);
}

#[test]
fn r10_double_free_before_and_after_purge() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Context::Process).unwrap();
    // Before the purge the VA is lazily pending: no VM_VM_AREA, so warning 5.
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: V }]);
    assert_eq!(k.lazy_nr(), 2);
    k.vm_unmap_aliases();
    events(&mut k);
    // After the purge: in no busy VA, warning 5 (4.19.126+; v4.19.0 would oops).
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: V }]);
}

#[test]
fn r10_wild_pointers_warn_5() {
    let mut k = kernel();
    for p in [
        0x1000u64,
        0xffff_ffff_ffff_f000,
        0x0000_8000_0000_0000,
        VEND & !0xfff,
    ] {
        k.vfree(p, Context::Process).unwrap();
        assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: p }]);
    }
    // vunmap goes through the same lookup.
    k.vunmap(V, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: V }]);
    k.vunmap(V + 8, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::BadAddress { addr: V + 8 }]);
}

#[test]
fn r10_stale_pointer_after_reuse_frees_the_new_area() {
    // semantics §5.3: ABA cannot be detected; frees resolve by address at call time.
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Context::Process).unwrap();
    k.vm_unmap_aliases();
    let b = ok(k.vmalloc(4096, 2));
    assert_eq!(b, a);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(k.counters().live_vm_structs, 0);
}

#[test]
fn r10_bad_free_vm_area_and_free_page_are_bugs() {
    let mut k = kernel();
    let info = k.get_vm_area(2 * P, VmFlags::empty(), 1).unwrap().unwrap();
    // Not the start of a live vm area: BUG_ON(ret != area).
    assert_eq!(
        k.free_vm_area(info.addr.as_u64() + 0x1000),
        Err(Fatal::Bug(BugKind::FreeVmAreaMismatch))
    );
    let mut k = kernel();
    // A free frame: bad page state.
    assert_eq!(
        k.free_page(Pfn::from_u64(0x100)),
        Err(Fatal::Bug(BugKind::BadPageFree))
    );
    // A reserved frame (PFN 1, the root PGD) is not a pool frame either.
    let mut k = kernel();
    assert_eq!(
        k.free_page(Pfn::from_u64(1)),
        Err(Fatal::Bug(BugKind::BadPageFree))
    );
}

/// design §5.5: an allocated frame the caller did not get from `alloc_page` (a vmalloc data
/// page, a table page) is `BadPageFree` too, and nothing is freed.
#[test]
fn free_page_of_an_allocated_frame_the_caller_does_not_own_bugs() {
    // One page at VMALLOC_START: data page 0x100, then the PUD, PMD and PTE tables
    // 0x101..=0x103 (semantics §12: lowest free PFN first, the data page before its tables).
    for victim in [0x100u64, 0x101, 0x102, 0x103] {
        let mut k = kernel();
        ok(k.vmalloc(P, 1));
        let free = k.counters().free_pages;
        assert_eq!(
            k.free_page(Pfn::from_u64(victim)),
            Err(Fatal::Bug(BugKind::BadPageFree)),
            "pfn {victim:#x}"
        );
        assert_eq!(k.counters().free_pages, free);
    }
    // A caller page is given back.
    let mut k = kernel();
    let p = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    assert_eq!(p.as_u64(), 0x100);
    k.free_page(p).unwrap();
}

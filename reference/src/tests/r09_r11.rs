//! R9 (free steps, lazy threshold, purge), R10 (free lookup), R11 (vunmap), deferred vfree,
//! free_vm_area, vmap.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use super::*;
use crate::{AreaState, ArrayKind, BugKind, Context, Fatal, Gfp, LiveObjects, Prot, VmFlags};

#[test]
fn r9_vfree_clears_ptes_queues_the_va_and_frees_pages() {
    let mut m = model();
    let va = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(va, Context::Process).unwrap();
    // Step 1: PTEs cleared; step 2: lazy, 2 pages with the guard; step 3: page 0x100 free;
    // step 5: no vm_struct. Tables stay (3). No event: lazy_nr 2 ≤ 24576, no purge.
    assert!(m.ptes().is_empty());
    assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![va], 2));
    assert_eq!(m.free_pages_per_node(), vec![261_888 - 3]);
    assert_eq!(m.table_pages().len(), 3);
    assert_eq!(
        m.live_objects(),
        LiveObjects {
            vm_structs: 0,
            vmap_areas: 1,
            small_arrays: 0
        }
    );
    assert_eq!(m.busy_areas()[0].state, AreaState::Lazy);
    assert_eq!(events(&mut m), vec![]);
    // A purge with something pending flushes once; with nothing pending it does nothing.
    m.vm_unmap_aliases();
    m.vm_unmap_aliases();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: START + 0x2000
        }]
    );
    assert!(m.busy_areas().is_empty());
}

#[test]
fn r9_lazy_threshold_is_strict_and_counts_the_guard() {
    // 1 CPU: lazy_max_pages = 8192 (semantics §5.4).
    let mut m = model_with(|c| c.nr_cpus = 1);
    assert_eq!(m.lazy_max_pages(), 8192);
    // 8191 pages + guard = 8192 pending: not > 8192, no purge.
    m.get_vm_area(8191 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    assert_eq!((m.lazy_nr(), events(&mut m)), (8192, vec![]));
    // One more page without guard: 8193 > 8192 → purge both, this VA included:
    // [START, START + 8193·4096 = START + 0x2001000).
    let v = m.get_vm_area(P, VmFlags::NO_GUARD, 1).unwrap().unwrap();
    assert_eq!(v.addr, START + 0x200_0000);
    m.vunmap(v.addr, Context::Process).unwrap();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: START + 0x200_1000
        }]
    );
    assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![], 0));
}

#[test]
fn r9_lazy_threshold_counts_guard_pages() {
    let mut m = model_with(|c| c.nr_cpus = 1);
    // 8190 pages + guard = 8191 pending; a 1-page area with its guard adds 2 → 8193 > 8192
    // (without the guard it would be 8192 and no purge).
    m.get_vm_area(8190 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    let v = m.get_vm_area(P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(v.addr, Context::Process).unwrap();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: v.addr + 0x2000
        }]
    );
    assert_eq!(m.lazy_nr(), 0);
}

#[test]
fn r10_vfree_null_unaligned_and_interior() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    let b = m.vmalloc(P, 1).unwrap().unwrap();
    // NULL: nothing, not even in interrupt context.
    m.vfree(0, Context::Process).unwrap();
    m.vfree(0, Context::Interrupt).unwrap();
    // Unaligned: warning 4, nothing.
    m.vfree(a + 1, Context::Process).unwrap();
    assert_eq!(events(&mut m), vec![Event::BadAddress { addr: a + 1 }]);
    assert!(m.deferred_list().is_empty());
    // Inside a live area, guard page included: the whole area is freed, silently.
    m.vfree(a + P, Context::Process).unwrap();
    assert_eq!(events(&mut m), vec![]);
    assert_eq!(m.lazy_list(), vec![a]);
    assert!(m.find_vm_area(b).is_some());
}

#[test]
fn r10_double_free_before_and_after_purge_warns_5() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(a, Context::Process).unwrap();
    // Before the purge: a is LazyPending → warning 5, nothing.
    m.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut m), vec![Event::NonexistentArea { addr: a }]);
    assert_eq!(m.lazy_nr(), 2);
    // After the purge: a is in no busy VA → warning 5 (4.19.126+ default), nothing.
    m.vm_unmap_aliases();
    m.take_events();
    m.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut m), vec![Event::NonexistentArea { addr: a }]);
    // ABA (semantics §5.3): once the VA is reused, the stale pointer frees the new allocation.
    let again = m.vmalloc(P, 2).unwrap().unwrap();
    assert_eq!(again, a);
    m.vfree(a, Context::Process).unwrap();
    assert_eq!((events(&mut m), m.lazy_list()), (vec![], vec![a]));
}

#[test]
fn r11_vunmap_of_vmalloc_memory_orphans_pages_and_array() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    m.vunmap(a, Context::Process).unwrap();
    // R9 steps 1, 2, 5: PTE cleared, VA lazy, vm_struct gone; page 0x100 and the 8-byte
    // kmalloc'ed array are never freed: orphaned (I5).
    assert!(m.ptes().is_empty());
    assert_eq!(m.lazy_list(), vec![a]);
    assert_eq!(
        m.orphaned_pages().into_iter().collect::<Vec<_>>(),
        vec![0x100]
    );
    assert_eq!(m.orphaned_arrays(), 1);
    assert_eq!(
        m.live_objects(),
        LiveObjects {
            vm_structs: 0,
            vmap_areas: 1,
            small_arrays: 1
        }
    );
    let b = m.page_buckets();
    assert_eq!(
        (b.orphaned.len(), b.live_data.len(), b.table.len()),
        (1, 0, 3)
    );
    check(&m);
    // In interrupt context vunmap BUGs at once, even for NULL.
    assert_eq!(
        m.vunmap(0, Context::Interrupt),
        Err(Fatal::Bug(BugKind::VunmapInInterrupt))
    );
}

#[test]
fn r11_vunmap_with_a_nested_array_leaves_it_live_and_orphaned() {
    let mut m = model();
    let a = m.vmalloc(513 * P, 1).unwrap().unwrap();
    let nested = START + 0x20_2000;
    m.vunmap(a, Context::Process).unwrap();
    // The outer's 513 pages (0x105..=0x305) are orphaned; the nested area stays a live
    // area nothing refers to, and its 2 pages (0x100, 0x101) count as orphaned too.
    let areas = m.busy_areas();
    assert_eq!(areas.len(), 2);
    let AreaState::Live {
        info,
        pages,
        orphaned,
    } = &areas[1].state
    else {
        panic!("nested area should be live");
    };
    assert_eq!(
        (info.addr, pages.clone(), *orphaned),
        (nested, vec![0x100, 0x101], true)
    );
    let b = m.page_buckets();
    assert_eq!((b.orphaned.len(), b.live_data.len()), (515, 0));
    // Its kmalloc'ed 16-byte array is the array of a live area: one small array.
    assert_eq!(m.live_objects().small_arrays, 1);
    assert_eq!(m.orphaned_arrays(), 0);
    check(&m);
}

#[test]
fn r11_free_vm_area() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    // Not a live area's start → BUG_ON(ret != area).
    assert_eq!(
        m.free_vm_area(a + P),
        Err(Fatal::Bug(BugKind::FreeVmAreaMismatch))
    );
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    // On vmalloc memory it orphans exactly like vunmap (design §3.5).
    m.free_vm_area(a).unwrap();
    assert_eq!((m.orphaned_pages().len(), m.orphaned_arrays()), (1, 1));
    // A get_vm_area area has nothing to orphan.
    let v = m.get_vm_area(P, VmFlags::NONE, 2).unwrap().unwrap();
    m.free_vm_area(v.addr).unwrap();
    assert_eq!((m.orphaned_pages().len(), m.orphaned_arrays()), (1, 1));
    assert_eq!(m.lazy_nr(), 4);
    check(&m);
}

#[test]
fn deferred_vfree_is_lifo_and_clobbers_the_first_8_bytes() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    let b = m.vmalloc(P, 1).unwrap().unwrap();
    // semantics §5.1 / contract §10: a's first 8 bytes get the previous head (0), b's get a.
    m.vfree(a, Context::Interrupt).unwrap();
    m.vfree_atomic(b).unwrap();
    assert_eq!(m.read(a, 8).unwrap(), 0u64.to_le_bytes().to_vec());
    assert_eq!(m.read(b, 8).unwrap(), a.to_le_bytes().to_vec());
    assert_eq!(m.read(b + 8, 1).unwrap(), vec![0xaa]);
    assert_eq!(m.deferred_list(), vec![b, a]);
    assert!(m.lazy_list().is_empty());
    // The list runs newest first: b is freed, then a, so a is the newest lazy VA.
    m.run_deferred().unwrap();
    assert_eq!((m.deferred_list(), m.lazy_list()), (vec![], vec![a, b]));
    assert_eq!(events(&mut m), vec![]);
}

#[test]
fn deferred_vfree_of_an_unmapped_address_oopses() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    // The guard page has no PTE: writing the llist node there faults.
    assert_eq!(
        m.vfree(a + P, Context::Interrupt),
        Err(Fatal::Bug(BugKind::Oops))
    );
}

/// A read-only mapping (`PAGE_KERNEL_RO` = 0x8000000000000161, no `_PAGE_RW`): a write
/// through it faults with nothing written, and so does the deferred free's llist write
/// (contract §10): `vfree` in interrupt context of a read-only vmap oopses.
#[test]
fn writes_and_deferred_frees_through_a_read_only_mapping_fault() {
    let mut m = model();
    let p = m.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    let ro = m
        .vmap(&[p], VmFlags::MAP, Prot::KernelRo, 1)
        .unwrap()
        .unwrap();
    assert_eq!(
        m.write(ro + 8, &[1, 2]),
        Err(crate::AccessError::ReadOnly { addr: ro + 8 })
    );
    assert_eq!(m.read(ro + 8, 2).unwrap(), vec![0xaa, 0xaa]);
    assert_eq!(m.vfree_atomic(ro), Err(Fatal::Bug(BugKind::Oops)));
    assert_eq!(m.page_bytes(p), Some(vec![0xaa; 4096]));
}

/// design §5.5: `__free_page` of any frame the caller did not get from `alloc_page` (a
/// vmalloc data page, a table page, a free frame, a PFN outside the machine) is `BadPageFree`.
#[test]
fn free_page_of_a_frame_the_caller_does_not_own_bugs() {
    for victim in [0x100u64, 0x101, 0x104, 0x105, 1 << 40] {
        let mut m = model();
        // One page at START: data page 0x100, tables 0x101..=0x103; 0x104 is free.
        m.vmalloc(P, 1).unwrap().unwrap();
        assert_eq!(m.ptes()[&START] >> 12 & 0xff_ffff_ffff, 0x100);
        let free_before = m.free_pages_per_node();
        assert_eq!(
            m.free_page(victim),
            Err(Fatal::Bug(BugKind::BadPageFree)),
            "pfn {victim:#x}"
        );
        assert_eq!(m.free_pages_per_node(), free_before);
    }
}

#[test]
fn vmap_maps_caller_pages_it_does_not_own() {
    let mut m = model();
    let p0 = m.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    let p1 = m
        .alloc_page(Gfp::KERNEL | Gfp::ZERO, None)
        .unwrap()
        .unwrap();
    assert_eq!((p0, p1), (0x100, 0x101));
    // vmap of 2 pages: VA 3 pages at START; PTEs → 0x100, 0x101; tables 0x102..0x104.
    let va = m
        .vmap(&[p0, p1], VmFlags::MAP, Prot::Kernel, 4)
        .unwrap()
        .unwrap();
    assert_eq!(va, START);
    assert_eq!(m.ptes()[&(START + P)], (0x101 << 12) | PK);
    let info = m.find_vm_area(va).unwrap();
    assert_eq!(
        (info.size, info.flags, info.nr_pages, info.pages_array),
        (0x3000, VmFlags::MAP, 0, ArrayKind::None)
    );
    // p1 was zeroed; p0 is poison.
    assert_eq!(m.read(START + P - 1, 2).unwrap(), vec![0xaa, 0]);
    check(&m);
    // The deferred free's llist write lands in the caller's page and stays visible after
    // the area is gone (R9 frees no page of a vmap area).
    m.vfree(va, Context::Interrupt).unwrap();
    m.run_deferred().unwrap();
    assert_eq!(
        &m.page_bytes(p0).unwrap()[..9],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0xaa]
    );
    assert_eq!(
        m.caller_pages().into_iter().collect::<Vec<_>>(),
        vec![p0, p1]
    );
    assert_eq!(m.lazy_nr(), 3);
    check(&m);
    m.free_page(p0).unwrap();
    assert_eq!(m.free_page(p0), Err(Fatal::Bug(BugKind::BadPageFree)));
    // The freed page is poisoned again.
    assert_eq!(m.page_bytes(p0), Some(vec![0xaa; 4096]));
}

#[test]
fn vmap_edge_cases() {
    let mut m = model_failing(&[(FaultKind::TablePage, 1)]);
    // count 0 → NULL, no attempt, no event; count > totalram → NULL likewise.
    assert_eq!(m.vmap(&[], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    let too_many = vec![0x100; 261_889];
    assert_eq!(m.vmap(&too_many, VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!((events(&mut m), m.fault_attempts()), (vec![], [0; 5]));
    // A mapping failure (the PUD table) is undone by R9 steps 1, 2, 5 without a warning.
    let p = m.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    assert_eq!(m.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(events(&mut m), vec![]);
    assert_eq!((m.lazy_list(), m.caller_pages().len()), (vec![START], 1));
    assert_eq!(m.fault_attempts(), [1, 1, 0, 1, 1]);
    check(&m);
}

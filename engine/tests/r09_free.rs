//! R9: free order (PTE clear, lazy add + threshold purge, data pages, array, vm_struct) and the
//! purge (newest first, one TLB flush over [min start, max end), lazy_nr back to 0).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{Context, Event, FrameState, Pfn, Prot, VmFlags};

#[test]
fn r09_vfree_clears_ptes_goes_lazy_and_frees_pages() {
    let mut k = kernel();
    let a = ok(k.vmalloc(2 * P, 1));
    k.write(a, b"hello").unwrap();
    k.vfree(a, Context::Process).unwrap();
    // Step 1: PTEs cleared, tables stay (PUD 0x102, PMD 0x103, PTE 0x104 after pages 0x100-1).
    assert_eq!(walk4(&k, V), [0x102067, 0x103067, 0x104067, 0]);
    assert_eq!(pte(&k, V + 0x1000), 0);
    // Step 2: lazy, 2 pages + guard = 3.
    assert_eq!(k.lazy_nr(), 3);
    assert_eq!(k.find_vm_area(a), None);
    // Step 3: pages free and re-poisoned (design §3.10).
    assert_eq!(k.phys().frame_state(Pfn::from_u64(0x100)), FrameState::Free);
    assert_eq!(
        k.phys().read_bytes(Pfn::from_u64(0x100)).unwrap()[..5],
        [0xaa; 5]
    );
    // Steps 4-5: array and vm_struct gone.
    let c = k.counters();
    assert_eq!(
        (c.kmalloc_arrays, c.live_vm_structs, c.busy_vas, c.lazy_vas),
        (0, 0, 1, 1)
    );
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn r09_threshold_is_strictly_greater() {
    let mut k = kernel_with(|c| c.nr_cpus = 1); // lazy_max = 8192
                                                // A VA of exactly 8192 pages: lazy_nr = 8192, not > 8192: no purge.
    let g = k
        .get_vm_area(8191 * P, VmFlags::empty(), 1)
        .unwrap()
        .unwrap();
    k.free_vm_area(g.addr).unwrap();
    assert_eq!((k.lazy_nr(), events(&mut k)), (8192, vec![]));
    // The next lazy free (2 pages at [V + 0x2000000, V + 0x2002000)) makes 8194: purge.
    let a = ok(k.vmalloc(4096, 2));
    assert_eq!(a, V + 0x200_0000);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x200_2000
        }]
    );
    assert_eq!((k.lazy_nr(), k.busy_areas().count()), (0, 0));
}

#[test]
fn r09_outer_threshold_check_runs_before_the_nested_array_is_freed() {
    let mut k = kernel_with(|c| c.nr_cpus = 1); // lazy_max = 8192
                                                // 8190 pending pages: get_vm_area(8189 pages) = VA [V, V + 0x1ffe000).
    let g = k
        .get_vm_area(8189 * P, VmFlags::empty(), 1)
        .unwrap()
        .unwrap();
    k.free_vm_area(g.addr).unwrap();
    // Outer 514-page VA [V + 0x1ffe000, V + 0x2200000), nested [V + 0x2200000, V + 0x2203000).
    let a = ok(k.vmalloc(513 * P, 2));
    assert_eq!(a, V + 0x1ff_e000);
    k.vfree(a, Context::Process).unwrap();
    // Outer lazy add: 8190 + 514 = 8704 > 8192: purge now (both pending VAs), before the
    // nested array's own lazy add, which is left pending alone.
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x220_0000
        }]
    );
    let lazy: Vec<_> = k
        .lazy_list()
        .iter()
        .map(|(s, e)| (s.as_u64(), e.as_u64()))
        .collect();
    assert_eq!(lazy, vec![(V + 0x220_0000, V + 0x220_3000)]);
    assert_eq!(k.lazy_nr(), 3);
}

#[test]
fn r09_purge_releases_everything_with_one_flush() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    let b = ok(k.vmalloc(4096, 2));
    let c = ok(k.vmalloc(4096, 3));
    for p in [b, a, c] {
        k.vfree(p, Context::Process).unwrap();
    }
    assert_eq!(k.lazy_nr(), 6);
    // Newest first: c, a, b.
    let lazy: Vec<u64> = k.lazy_list().iter().map(|(s, _)| s.as_u64()).collect();
    assert_eq!(lazy, vec![V + 0x4000, V, V + 0x2000]);
    k.vm_unmap_aliases();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x6000
        }]
    );
    assert_eq!((k.lazy_nr(), k.busy_areas().count()), (0, 0));
    // Nothing pending: nothing flushed.
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn r09_vfree_of_a_vmap_area_frees_no_page() {
    let mut k = kernel();
    let p = k
        .alloc_page(vmalloc_engine::Gfp::KERNEL, None)
        .unwrap()
        .unwrap();
    let a = ok(k.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1));
    k.vfree(a, Context::Process).unwrap();
    // semantics §5.3: like vunmap; nr_pages == 0, so the caller's page stays allocated and owned.
    assert_eq!(k.phys().frame_state(p), FrameState::Allocated);
    assert_eq!(k.counters().caller_pages, 1);
    assert_eq!(k.lazy_nr(), 2);
}

//! R5: the pages array is 8·N bytes; kmalloc'ed up to 4096 bytes (N <= 512), else a nested
//! vmalloc placed after the main VA, with its own VA, guard, pages and kmalloc'ed array.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{AreaState, ArrayKind, Context, FaultKind, Pfn};

#[test]
fn r05_512_pages_use_kmalloc() {
    let mut k = kernel();
    let a = ok(k.vmalloc(512 * P, 1));
    let info = k.find_vm_area(a).unwrap();
    // 8 * 512 = 4096 bytes: not above 4096, so kmalloc.
    assert_eq!(info.pages_array, ArrayKind::Kmalloc { bytes: 4096 });
    assert_eq!(k.fault_attempts()[FaultKind::PagesArray as usize], 1);
    assert_eq!(k.busy_areas().count(), 1);
}

#[test]
fn r05_513_pages_nest_a_vmalloc() {
    let mut k = kernel();
    let a = ok(k.vmalloc(513 * P, 7));
    assert_eq!(a, V);
    // Outer VA: 513 + 1 guard = 514 pages = [V, V + 0x202000). The array is 8 * 513 = 4104
    // bytes -> nested vmalloc(4104): PAGE_ALIGN = 8192 (2 pages) + guard = 3 pages, placed by
    // lowest fit right after the outer VA: [V + 0x202000, V + 0x205000).
    let nested = V + 0x20_2000;
    assert_eq!(
        k.find_vm_area(a).unwrap().pages_array,
        ArrayKind::Vmalloc {
            addr: nested.into()
        }
    );
    let areas: Vec<_> = k.busy_areas().collect();
    assert_eq!(areas.len(), 2);
    assert_eq!(
        (areas[1].start.as_u64(), areas[1].end.as_u64()),
        (nested, nested + 0x3000)
    );
    let AreaState::Live(n) = areas[1].state else {
        panic!()
    };
    // The nested area is a vmalloc with its own 16-byte kmalloc'ed array and the outer caller.
    assert_eq!(
        (n.nr_pages, n.caller, n.pages_array),
        (2, 7, ArrayKind::Kmalloc { bytes: 16 })
    );
    // Allocation order (R13): the nested call runs completely first, so its two data pages
    // are PFNs 0x100 and 0x101 and its walk creates the PUD (0x102), PMD (0x103) and the PTE
    // table of PMD slot 1 (0x104; (0x202000 >> 21) = 1). Then the outer 513 data pages take
    // 0x105..=0x305, and its walk adds only the PTE table of PMD slot 0 (0x306).
    assert_eq!(
        areas[1].pages,
        &[Pfn::from_u64(0x100), Pfn::from_u64(0x101)]
    );
    assert_eq!(areas[0].pages.first().map(|p| p.as_u64()), Some(0x105));
    assert_eq!(areas[0].pages.last().map(|p| p.as_u64()), Some(0x305));
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x102, 0x103, 0x104, 0x306]);
    // Attempts: 2 vm_structs, 2 vmap_areas, 1 small array (the nested one's), 2 + 513 data
    // pages, 4 table pages.
    assert_eq!(k.fault_attempts(), [2, 2, 1, 515, 4]);
    // Page 512 of the outer area (V + 0x200000) sits in PMD slot 1's table, index 0; the
    // nested pages at indices 2 and 3 of the same table.
    assert_eq!(entry(&k, 0x104, 0), (0x305 << 12) | PAGE_KERNEL);
    assert_eq!(entry(&k, 0x104, 2), (0x100 << 12) | PAGE_KERNEL);
    assert_eq!(entry(&k, 0x104, 3), (0x101 << 12) | PAGE_KERNEL);
    // The nested array pages are zeroed (nested_gfp has __GFP_ZERO).
    assert_eq!(k.read(nested, 16).unwrap(), vec![0u8; 16]);
}

#[test]
fn r05_freeing_the_outer_area_frees_the_nested_one_after_it() {
    let mut k = kernel();
    let a = ok(k.vmalloc(513 * P, 7));
    k.vfree(a, Context::Process).unwrap();
    // R9: outer lazy add (514 pages), its pages, then the nested array through R9 (lazy add of
    // 3 pages), then the vm_struct. Newest first: nested, outer.
    let lazy: Vec<(u64, u64)> = k
        .lazy_list()
        .iter()
        .map(|(s, e)| (s.as_u64(), e.as_u64()))
        .collect();
    assert_eq!(
        lazy,
        vec![(V + 0x20_2000, V + 0x20_5000), (V, V + 0x20_2000)]
    );
    assert_eq!(k.lazy_nr(), 517);
    let c = k.counters();
    assert_eq!(
        (c.area_pages, c.live_vm_structs, c.kmalloc_arrays),
        (0, 0, 0)
    );
    // Only the 4 table pages stay allocated.
    assert_eq!(c.allocated_pages, 4);
}

#[test]
fn r05_nested_array_lands_in_a_lower_hole_when_one_fits() {
    // semantics §6.1 step 5: the array VA is placed by R3 and may land below the outer VA.
    let mut k = kernel();
    let a = ok(k.vmalloc(2 * P, 1)); // [V, V+0x3000)
    let b = ok(k.vmalloc(4096, 2)); // [V+0x3000, V+0x5000)
    k.vfree(a, Context::Process).unwrap();
    k.vm_unmap_aliases(); // hole [V, V+0x3000)
    let _ = b;
    let c = ok(k.vmalloc(513 * P, 3));
    // The 514-page outer VA does not fit the 3-page hole: V + 0x5000. The 3-page nested VA fits
    // the hole exactly: V.
    assert_eq!(c, V + 0x5000);
    assert_eq!(
        k.find_vm_area(c).unwrap().pages_array,
        ArrayKind::Vmalloc { addr: V.into() }
    );
}

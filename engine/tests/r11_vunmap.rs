//! R11: vunmap = R9 steps 1, 2 and 5 only. On vmalloc memory it orphans the pages and the
//! array (I5); BUG in interrupt context. vmap maps caller-owned pages it never owns.

mod common;
use common::*;
use vmalloc_engine::{
    AreaState, BugKind, Context, Fatal, FaultKind, FaultPlan, FrameState, Gfp, Pfn, Prot, VmFlags,
};

#[test]
fn r11_vunmap_of_vmalloc_memory_orphans_pages_and_array() {
    let mut k = kernel();
    let a = ok(k.vmalloc(2 * P, 1));
    k.vunmap(a, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![]);
    // Step 1: PTEs cleared; step 2: lazy (3 pages); step 5: vm_struct gone.
    assert_eq!(pte(&k, V), 0);
    assert_eq!(k.lazy_nr(), 3);
    assert_eq!(k.find_vm_area(a), None);
    // The pages 0x100 and 0x101 stay allocated, owned by nobody.
    assert_eq!(
        k.phys().frame_state(Pfn::from_u64(0x100)),
        FrameState::Allocated
    );
    let c = k.counters();
    assert_eq!((c.area_pages, c.table_pages, c.unclaimed_pages), (0, 3, 2));
    // The kmalloc'ed array is orphaned too: still a live object (1 busy VA + 1 array).
    assert_eq!(
        (c.kmalloc_arrays, c.live_vm_structs, c.live_objects),
        (1, 0, 2)
    );
}

#[test]
fn r11_vunmap_leaves_a_nested_array_area_live() {
    let mut k = kernel();
    let a = ok(k.vmalloc(513 * P, 1));
    k.vunmap(a, Context::Process).unwrap();
    let areas: Vec<_> = k.busy_areas().collect();
    assert_eq!(areas.len(), 2);
    assert!(matches!(areas[0].state, AreaState::Lazy));
    // The nested array's area stays live with its 2 pages; nothing refers to it.
    let AreaState::Live(n) = areas[1].state else {
        panic!("nested area is live")
    };
    assert_eq!((n.addr.as_u64(), n.nr_pages), (V + 0x20_2000, 2));
    let c = k.counters();
    assert_eq!((c.area_pages, c.unclaimed_pages, c.lazy_nr), (2, 513, 514));
}

#[test]
fn r11_vunmap_in_interrupt_is_a_bug() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(
        k.vunmap(a, Context::Interrupt),
        Err(Fatal::Bug(BugKind::VunmapInInterrupt))
    );
    // BUG_ON(in_interrupt()) comes first, even for NULL; the machine is then dead.
    let mut k = kernel();
    assert_eq!(
        k.vunmap(0u64, Context::Interrupt),
        Err(Fatal::Bug(BugKind::VunmapInInterrupt))
    );
    assert_eq!(
        k.vmalloc(4096, 2),
        Err(Fatal::Bug(BugKind::VunmapInInterrupt))
    );
}

#[test]
fn r11_vmap_maps_caller_pages_without_owning_them() {
    let mut k = kernel();
    let p0 = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    let p1 = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    assert_eq!((p0.as_u64(), p1.as_u64()), (0x100, 0x101));
    let a = ok(k.vmap(&[p1, p0], VmFlags::MAP, Prot::Kernel, 5));
    // VA of 2 + 1 pages at V; page k maps pages[k]; tables 0x102..=0x104.
    assert_eq!(a, V);
    assert_eq!(
        walk4(&k, V),
        [0x102067, 0x103067, 0x104067, (0x101 << 12) | PAGE_KERNEL]
    );
    assert_eq!(pte(&k, V + 0x1000), (0x100 << 12) | PAGE_KERNEL);
    assert_eq!(pte(&k, V + 0x2000), 0);
    let info = k.find_vm_area(a).unwrap();
    assert_eq!(
        (info.size, info.nr_pages, info.flags),
        (0x3000, 0, VmFlags::MAP)
    );
    assert_eq!(info.pages_array, vmalloc_engine::ArrayKind::None);
    assert_eq!(k.fault_attempts(), [1, 1, 0, 2, 3]);
    k.vunmap(a, Context::Process).unwrap();
    // The caller still owns both pages; giving them back leaves only the 3 tables.
    assert_eq!(k.counters().caller_pages, 2);
    k.free_page(p0).unwrap();
    k.free_page(p1).unwrap();
    let c = k.counters();
    assert_eq!(
        (c.allocated_pages, c.caller_pages, c.unclaimed_pages),
        (3, 0, 0)
    );
}

#[test]
fn r11_vmap_size_checks_and_mapping_failure() {
    // Pool of 2 pages (node [0, 0x102)): totalram = 2.
    let mut k = kernel_with(|c| {
        c.nodes = vec![vmalloc_engine::NodeSpan {
            start_pfn: 0,
            end_pfn: 0x102,
        }]
    });
    let p = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    // count 0 and count > totalram: NULL, no attempt, no event.
    assert_eq!(k.vmap(&[], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(k.vmap(&[p, p, p], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(k.fault_attempts(), [0, 0, 0, 1, 0]);
    // One page left for tables, three needed: the PMD table fails. vunmap undoes it (lazy VA),
    // with no warning at all.
    assert_eq!(k.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.lazy_nr(), 2);
    assert_eq!(k.counters().table_pages, 1);
}

#[test]
fn r11_vmap_table_fault_is_injected_like_any_other() {
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::TablePage, 1));
    let p = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    assert_eq!(k.vmap(&[p], VmFlags::MAP, Prot::Kernel, 1), Ok(None));
    assert_eq!(events(&mut k), vec![]);
    assert_eq!((k.lazy_nr(), k.counters().table_pages), (2, 0));
}

#[test]
fn r11_free_vm_area_orphans_like_vunmap() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    k.free_vm_area(a).unwrap();
    assert_eq!(events(&mut k), vec![]);
    let c = k.counters();
    assert_eq!((c.unclaimed_pages, c.kmalloc_arrays, c.lazy_nr), (1, 1, 2));
    assert_eq!(pte(&k, a), 0);
}

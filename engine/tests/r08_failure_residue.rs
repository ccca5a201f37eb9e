//! R8: a call failing after its VA was reserved undoes itself only through the R9 steps; the
//! residue is the lazy VA(s) (unless a threshold check purged them) and any table pages.
//! A failure before the VA leaves nothing (R13 steps 1-2).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{Context, Event, FaultKind, FaultPlan, Kernel, MachineConfig};

fn with_plan(plan: FaultPlan) -> Kernel {
    kernel_with(|c| c.fault_plan = plan)
}

fn lazy(k: &Kernel) -> Vec<(u64, u64)> {
    k.lazy_list()
        .iter()
        .map(|(s, e)| (s.as_u64(), e.as_u64()))
        .collect()
}

#[test]
fn r08_vm_struct_failure_leaves_nothing() {
    let mut k = with_plan(FaultPlan::new().fail(FaultKind::VmStruct, 1));
    let before = k.counters();
    assert_eq!(k.vmalloc(4096, 1), Ok(None));
    assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 4096 }]);
    assert_eq!(k.counters(), before);
    assert_eq!(k.fault_attempts(), [1, 0, 0, 0, 0]);
}

#[test]
fn r08_vmap_area_failure_frees_the_vm_struct_and_does_not_purge() {
    let mut k = with_plan(FaultPlan::new().fail(FaultKind::VmapArea, 2));
    let a = ok(k.vmalloc(4096, 1));
    k.vfree(a, Context::Process).unwrap(); // a lazy VA is pending
    assert_eq!(k.vmalloc(4096, 2), Ok(None));
    // -ENOMEM without purging: no flush, no warning 3; warning 1 only.
    assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 4096 }]);
    assert_eq!(k.lazy_nr(), 2);
    assert_eq!(k.counters().live_vm_structs, 0);
    // First call: 1,1,1,1 and 3 tables; second: vm_struct and vmap_area only.
    assert_eq!(k.fault_attempts(), [2, 2, 1, 1, 3]);
}

#[test]
fn r08_pages_array_failure_leaves_the_lazy_va_only() {
    let mut k = with_plan(FaultPlan::new().fail(FaultKind::PagesArray, 1));
    assert_eq!(k.vmalloc(4096, 1), Ok(None));
    // No warning on this path in 4.x (semantics §6.1 step 6, P3).
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(lazy(&k), vec![(V, V + 0x2000)]);
    assert_eq!(k.lazy_nr(), 2);
    let c = k.counters();
    assert_eq!(
        (
            c.allocated_pages,
            c.live_vm_structs,
            c.kmalloc_arrays,
            c.busy_vas
        ),
        (0, 0, 0, 1)
    );
    assert_eq!(k.fault_attempts(), [1, 1, 1, 0, 0]);
    assert_eq!(
        k.vmallocinfo(),
        "0xffffc90000000000-0xffffc90000002000    8192 unpurged vm_area\n"
    );
}

#[test]
fn r08_nested_va_search_failure_purges_before_the_outer_lazy_free() {
    // A vmalloc window of [V, V + 0x203fff): the 514-page outer VA [V, V+0x202000) fits, the
    // nested array's 3-page VA does not.
    let mut k = Kernel::new(MachineConfig {
        vmalloc_end: V + 0x20_3fff,
        ..MachineConfig::default()
    })
    .unwrap();
    // A lazily freed module area is pending: data page 0x100, PTE table 0x101.
    let m = ok(k.module_alloc(4096, 1));
    k.vfree(m, Context::Process).unwrap();
    assert_eq!(k.lazy_nr(), 2);
    assert_eq!(k.vmalloc(513 * P, 2), Ok(None));
    // The nested search fails, purges (releasing the module VA), retries, fails: warning 3
    // (3 pages = 12288) and its own warning 1 (8 * 513 = 4104 bytes). The outer call prints
    // nothing more (semantics §6.1 step 6).
    assert_eq!(
        events(&mut k),
        vec![
            Event::TlbFlush {
                start: MODULES,
                end: MODULES + 0x2000
            },
            Event::VmapAllocFailed { size: 12288 },
            Event::AllocFailure { bytes: 4104 },
        ]
    );
    // Then the outer VA was lazily freed: it is pending alone, 514 pages.
    assert_eq!(lazy(&k), vec![(V, V + 0x20_2000)]);
    assert_eq!(k.lazy_nr(), 514);
    // Attempts: module (1, 1, 1, 1 page, 1 table) + outer (1, 1) + nested (1, 1).
    assert_eq!(k.fault_attempts(), [3, 3, 1, 1, 1]);
}

#[test]
fn r08_nested_data_page_failure_frees_the_nested_va_first() {
    let mut k = with_plan(FaultPlan::new().fail(FaultKind::DataPage, 1));
    assert_eq!(k.vmalloc(513 * P, 1), Ok(None));
    // The first data page asked for is the nested array's page 0: its own warning 2 (0 of
    // 3 pages = 12288), its own R9 (lazy add of 3); then the outer lazy add of 514.
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 12288
        }]
    );
    assert_eq!(
        lazy(&k),
        vec![(V, V + 0x20_2000), (V + 0x20_2000, V + 0x20_5000)]
    );
    assert_eq!(k.lazy_nr(), 517);
    let c = k.counters();
    assert_eq!(
        (
            c.allocated_pages,
            c.live_vm_structs,
            c.kmalloc_arrays,
            c.busy_vas
        ),
        (0, 0, 0, 2)
    );
    assert_eq!(k.fault_attempts(), [2, 2, 1, 1, 0]);
}

#[test]
fn r08_outer_mapping_failure_with_a_nested_array() {
    // Tables: the nested mapping takes PUD, PMD and the PTE table of PMD slot 1 (attempts
    // 1-3); the outer mapping's first need is the PTE table of PMD slot 0 (attempt 4): fail it.
    let mut k = with_plan(FaultPlan::new().fail(FaultKind::TablePage, 4));
    assert_eq!(k.vmalloc(513 * P, 1), Ok(None));
    // Warning 2 with all 513 pages: 2101248 of 514 * 4096 = 2105344.
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 2_101_248,
            total: 2_105_344
        }]
    );
    // R9: outer lazy add, its 513 pages, then the nested array by R9 (lazy add, 2 pages).
    assert_eq!(
        lazy(&k),
        vec![(V + 0x20_2000, V + 0x20_5000), (V, V + 0x20_2000)]
    );
    assert_eq!(k.lazy_nr(), 517);
    // Residue: the 3 tables (nested data pages were 0x100, 0x101; tables 0x102..=0x104).
    let c = k.counters();
    assert_eq!((c.allocated_pages, c.table_pages), (3, 3));
    assert_eq!(walk4(&k, V + 0x20_2000), [0x102067, 0x103067, 0x104067, 0]);
    assert_eq!(k.fault_attempts(), [2, 2, 1, 515, 4]);
}

#[test]
fn r08_a_threshold_check_on_the_failure_path_purges_everything() {
    // One CPU: lazy_max_pages = fls(1) * 8192 = 8192.
    let mut k = kernel_with(|c| {
        c.nr_cpus = 1;
        c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 1);
    });
    // get_vm_area(8190 pages): VA of 8191 pages [V, V + 0x1fff000); freed lazily: 8191 <= 8192.
    let g = k
        .get_vm_area(8190 * P, vmalloc_engine::VmFlags::empty(), 1)
        .unwrap()
        .unwrap();
    k.free_vm_area(g.addr).unwrap();
    assert_eq!((k.lazy_nr(), events(&mut k)), (8191, vec![]));
    // The failed vmalloc's VA [V + 0x1fff000, V + 0x2001000) adds 2: 8193 > 8192, so the purge
    // releases both VAs at once.
    assert_eq!(k.vmalloc(4096, 2), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::AllocPartial {
                allocated: 0,
                total: 8192
            },
            Event::TlbFlush {
                start: V,
                end: V + 0x200_1000
            },
        ]
    );
    assert_eq!((k.lazy_nr(), k.busy_areas().count()), (0, 0));
}

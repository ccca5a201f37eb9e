//! Hand-worked cases of `SimpleVmalloc` alone, each number derived from the rule it cites in a
//! comment (`docs/design.md §2`: a value copied from a run tests nothing). The differential
//! tests (`against_model.rs`) are the real proof; these pin the basics so that a broken
//! build of the example fails with a readable message.
//!
//! `semantics §N` cites `docs/semantics.md`.

use simple_vmalloc::{Bug, SimpleVmalloc};
use vmfuzz::ops::{
    Fault, FaultKind, Machine, NodeSpan, Paging, Prot, GFP_KERNEL, GFP_NOWARN, VMALLOC_END_L5,
    VMALLOC_START_L4, VMALLOC_START_L5,
};
use vmfuzz::subject::{ArrayKind, BugKind, Context, Event, Fatal, Kernel};

const S: u64 = VMALLOC_START_L4;
const PAGE: u64 = 4096;

fn fixed(machine: &Machine) -> SimpleVmalloc {
    SimpleVmalloc::new(machine, Bug::None)
}

/// Default machine (one node `[0, 0x40000)`, all DMA32): a one-byte vmalloc is one page at
/// `VMALLOC_START` with a guard (R1, R2, R3); its data page is the lowest pool PFN, 256 (R6,
/// semantics §12.2); then the walk takes a PUD, a PMD and a PTE table, 257–259 (R13 step 6).
/// A second vmalloc sits right after the first one's guard page, in the same 2 MiB region, so
/// it takes no table.
#[test]
fn first_vmallocs_guard_pages_and_tables() {
    let m = Machine::default();
    let mut k = fixed(&m);
    assert_eq!(k.vmalloc(1, 7), Ok(Some(S)));
    assert_eq!(k.area_pages(S), vec![256]);
    let st = k.state();
    assert_eq!(st.attempts, [1, 1, 1, 1, 3]);
    assert_eq!(st.free_pages, vec![m.totalram_pages() - 4]);
    assert_eq!((st.busy[0].start, st.busy[0].end), (S, S + 2 * PAGE));
    assert_eq!(st.objects.small_arrays, 1);
    assert_eq!(
        k.vmallocinfo(),
        "0xffffc90000000000-0xffffc90000002000    8192 op7 pages=1 vmalloc N0=1\n"
    );
    assert_eq!(k.vzalloc(3 * PAGE, 8), Ok(Some(S + 2 * PAGE)));
    assert_eq!(k.area_pages(S + 2 * PAGE), vec![260, 261, 262]);
    assert_eq!(k.state().attempts, [2, 2, 2, 4, 3]);
    // Contents (design §3.10): vmalloc pages read as the poison, vzalloc pages as zero.
    assert_eq!(k.read(S, 2), Ok(vec![0xaa, 0xaa]));
    assert_eq!(k.read(S + 3 * PAGE - 1, 2), Ok(vec![0, 0]));
    assert_eq!(k.write(S + 5 * PAGE - 1, &[1, 2]), Err(S + 5 * PAGE));
    assert!(k.take_events().is_empty());
}

/// R10 and R9: a free of the guard page frees the whole area, lazily (2 pages pending); the
/// lazy VA stays busy, so the next vmalloc goes above the second area; an unaligned free warns
/// 4, a free inside the lazy VA warns 5; `vm_unmap_aliases` purges with one TLB flush over the
/// lazy VA.
#[test]
fn frees_lookups_and_the_purge() {
    let mut k = fixed(&Machine::default());
    k.vmalloc(PAGE, 0).ok();
    k.vmalloc(3 * PAGE, 1).ok();
    assert_eq!(k.vfree(S + PAGE, Context::Process), Ok(()));
    let st = k.state();
    assert_eq!((st.lazy_nr, st.lazy_list.clone()), (2, vec![S]));
    assert!(st.busy[0].vm.is_none());
    assert_eq!(k.find_vm_area(S), None);
    assert_eq!(
        k.find_vm_area(S + 5 * PAGE).map(|v| v.addr),
        Some(S + 2 * PAGE)
    );
    assert_eq!(k.vmalloc(PAGE, 2), Ok(Some(S + 6 * PAGE)));
    assert_eq!(
        k.area_pages(S + 6 * PAGE),
        vec![256],
        "the freed page is reused"
    );
    k.vfree(S + 0x800, Context::Process).ok();
    k.vfree(S, Context::Process).ok();
    k.vm_unmap_aliases();
    assert_eq!(
        k.take_events(),
        vec![
            Event::BadAddress { addr: S + 0x800 },
            Event::NonexistentArea { addr: S },
            Event::TlbFlush {
                start: S,
                end: S + 2 * PAGE
            },
        ]
    );
    assert_eq!(k.state().lazy_nr, 0);
}

/// semantics §5.4: with one CPU `lazy_max_pages` is 8192. Sixteen areas of 511 pages hold
/// 512 pages each with their guard, 2 MiB, so they fill `[S, S + 32 MiB)`, one PTE table each
/// (plus the PUD and the PMD: 18 tables). Freeing all sixteen leaves exactly 8192 pages
/// pending, not above the threshold; one more page-sized area (a 19th table, in the next
/// 2 MiB region) freed makes 8194 and purges everything, with one flush over all of it.
#[test]
fn the_threshold_purge_is_strict() {
    let m = Machine {
        nr_cpus: 1,
        ..Machine::default()
    };
    let mut k = fixed(&m);
    for i in 0..16 {
        assert_eq!(
            k.vmalloc(511 * PAGE, i),
            Ok(Some(S + u64::from(i) * 0x20_0000))
        );
    }
    assert_eq!(k.vmalloc(PAGE, 16), Ok(Some(S + 0x200_0000)));
    assert_eq!(k.state().attempts[FaultKind::TablePage.index()], 19);
    for i in 0..16 {
        k.vfree(S + i * 0x20_0000, Context::Process).ok();
    }
    assert_eq!(k.state().lazy_nr, 8192);
    assert!(k.take_events().is_empty());
    k.vfree(S + 0x200_0000, Context::Process).ok();
    assert_eq!(
        k.take_events(),
        vec![Event::TlbFlush {
            start: S,
            end: S + 0x200_0000 + 2 * PAGE
        }]
    );
    assert!(k.state().busy.is_empty());
}

/// R6 and R8: the second data page fails by the fault plan. Warning 2 says one page of the
/// four-page VA; the VA is left lazily freed (4 pages), the first page and the array are
/// freed, no table was made (the mapping was not reached), and no warning 1 follows.
#[test]
fn a_data_page_failure_leaves_its_residue() {
    let m = Machine {
        faults: vec![Fault {
            kind: FaultKind::DataPage,
            k: 2,
        }],
        ..Machine::default()
    };
    let mut k = fixed(&m);
    assert_eq!(k.vmalloc(3 * PAGE, 0), Ok(None));
    assert_eq!(
        k.take_events(),
        vec![Event::AllocPartial {
            allocated: PAGE,
            total: 4 * PAGE
        }]
    );
    let st = k.state();
    assert_eq!(st.attempts, [1, 1, 1, 2, 0]);
    assert_eq!((st.lazy_nr, st.busy.len()), (4, 1));
    assert_eq!(st.free_pages, vec![m.totalram_pages()]);
    assert_eq!(st.objects.small_arrays, 0);
}

/// R5: 513 pages need a 4104-byte array, more than a page, so it is a nested vmalloc of two
/// pages (a 3-page VA with its guard) placed after the outer VA (514 pages) and zeroed.
#[test]
fn a_nested_pages_array() {
    let mut k = fixed(&Machine::default());
    assert_eq!(k.vmalloc(513 * PAGE, 3), Ok(Some(S)));
    let outer = k.find_vm_area(S).map(|v| v.array);
    let nested = S + 514 * PAGE;
    assert_eq!(outer, Some(ArrayKind::Vmalloc { addr: nested }));
    let info = k.find_vm_area(nested);
    assert_eq!(info.map(|v| (v.size, v.nr_pages)), Some((3 * PAGE, 2)));
    assert_eq!(k.read(nested, 1), Ok(vec![0]));
    // R11: vunmap orphans the data pages and leaves the array's area live.
    let free = k.state().free_pages;
    k.vunmap(S, Context::Process).ok();
    assert_eq!(k.state().free_pages, free);
    assert!(k.find_vm_area(nested).is_some());
}

/// R13 step 2 and contract §8: a non-power-of-two alignment BUGs after the vm_struct attempt
/// and before the vmap_area one; `vunmap` in interrupt context BUGs at once.
#[test]
fn bugs_where_the_kernel_bugs() {
    let mut k = fixed(&Machine::default());
    let r = k.vmalloc_node_range(
        PAGE,
        3,
        S,
        S + 0x10_0000,
        GFP_KERNEL,
        Prot::Kernel,
        0,
        None,
        0,
    );
    assert_eq!(r, Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo)));
    assert_eq!(k.state().attempts, [1, 0, 0, 0, 0]);
    let mut k = fixed(&Machine::default());
    assert_eq!(
        k.vunmap(0, Context::Interrupt),
        Err(Fatal::Bug(BugKind::VunmapInInterrupt))
    );
}

/// semantics §12.2: node 1 lies above 4 GiB, so `vmalloc_node(.., 1)` takes its lowest
/// ZONE_NORMAL frame; table pages ask for no node and come from node 0 (its DMA32 zone, as it
/// has no NORMAL); `vmalloc_32` stays in DMA32.
#[test]
fn nodes_and_zones() {
    let m = Machine {
        nodes: vec![
            NodeSpan {
                start_pfn: 0,
                end_pfn: 0x200,
            },
            NodeSpan {
                start_pfn: 0x10_0000,
                end_pfn: 0x10_0100,
            },
        ],
        ..Machine::default()
    };
    let mut k = fixed(&m);
    assert_eq!(k.vmalloc_node(PAGE, Some(1), 0), Ok(Some(S)));
    assert_eq!(k.area_pages(S), vec![0x10_0000]);
    assert_eq!(k.state().free_pages, vec![0x200 - 256 - 3, 0xff]);
    assert_eq!(k.vmalloc_32(PAGE, 1), Ok(Some(S + 2 * PAGE)));
    assert_eq!(k.area_pages(S + 2 * PAGE), vec![259]);
    assert!(k.vmallocinfo().contains(" N1=1\n"));
}

/// LA57 (semantics §12.1): a vmalloc takes a P4D table too (4 tables); a `module_alloc` only
/// a PTE table, the modules window's upper tables being boot tables.
#[test]
fn la57_tables() {
    let m = Machine {
        paging: Paging::FiveLevel,
        vmalloc_start: VMALLOC_START_L5,
        vmalloc_end: VMALLOC_END_L5,
        ..Machine::default()
    };
    let mut k = fixed(&m);
    assert_eq!(k.vmalloc(PAGE, 0), Ok(Some(VMALLOC_START_L5)));
    assert_eq!(k.state().attempts[FaultKind::TablePage.index()], 4);
    assert_eq!(k.module_alloc(PAGE, 1), Ok(Some(m.modules_vaddr)));
    assert_eq!(k.state().attempts[FaultKind::TablePage.index()], 5);
    // NOWARN silences warning 1 of the size gate (R1).
    let mut k = fixed(&m);
    assert_eq!(
        k.vmalloc_gfp(0, GFP_KERNEL | GFP_NOWARN, Prot::Kernel, 2),
        Ok(None)
    );
    assert!(k.take_events().is_empty());
}

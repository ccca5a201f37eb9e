//! R7 / I8 / I9: leaf PTEs `(pfn << 12) | (prot & supported_pte_mask)`, guard PTE 0, tables
//! created on demand top-down with entries `phys | 0x67 | sme_c_bit`, never removed. The
//! scenario values A–E are the literal numbers of semantics §8.3's table.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{
    Context, Event, FaultKind, FaultPlan, Gfp, Kernel, MachineConfig, Pfn, Prot, VmFlags,
};

/// A machine where the first table page is PFN 0x2000 (table entry `0x2000067`) and the data
/// page of a node-1 vmalloc is PFN 0x12345, the numbers of semantics §8.3's table: node 0 =
/// [0x2000, 0x2010) gets the NUMA_NO_NODE table pages, node 1 = [0x12345, 0x12400) the data page.
fn spec_machine(scenario: char) -> MachineConfig {
    let mut c = MachineConfig::with_nodes(&[(0x2000, 0x2010), (0x12345, 0x12400)]);
    match scenario {
        'A' => {}
        'B' => c.default_kernel_pte_mask = 0xffff_ffff_ffff_feff,
        'C' => {
            c.supported_pte_mask = 0x7fff_ffff_ffff_ffff;
            c.default_kernel_pte_mask = 0x7fff_ffff_ffff_ffff;
        }
        'D' => c.sme_c_bit = 1 << 47,
        'E' => {
            c.supported_pte_mask = 0xffff_ffff_ffff_feff;
            c.default_kernel_pte_mask = 0xffff_ffff_ffff_feff;
        }
        _ => unreachable!(),
    }
    c
}

#[test]
fn i9_r07_scenarios_a_to_e_match_the_spec_table() {
    // (prot, [leaf in A, B, C, D, E]) from semantics §8.3 for pfn 0x12345.
    let leaves = [
        (
            Prot::Kernel,
            [
                0x8000000012345163u64,
                0x8000000012345063,
                0x0000000012345163,
                0x8000800012345163,
                0x8000000012345063,
            ],
        ),
        (
            Prot::KernelExec,
            [
                0x0000000012345163,
                0x0000000012345063,
                0x0000000012345163,
                0x0000800012345163,
                0x0000000012345063,
            ],
        ),
        (
            Prot::KernelRo,
            [
                0x8000000012345161,
                0x8000000012345061,
                0x0000000012345161,
                0x8000800012345161,
                0x8000000012345061,
            ],
        ),
        (
            Prot::KernelNocache,
            [
                0x800000001234517b,
                0x800000001234507b,
                0x000000001234517b,
                0x800080001234517b,
                0x800000001234507b,
            ],
        ),
    ];
    // Table entry for a new table at physical 0x2000000: last row of semantics §8.3.
    let table_entry = [
        0x2000067u64,
        0x2000067,
        0x2000067,
        0x0000800002000067,
        0x2000067,
    ];
    for (si, s) in ['A', 'B', 'C', 'D', 'E'].into_iter().enumerate() {
        for (prot, want) in leaves {
            let mut k = Kernel::new(spec_machine(s)).unwrap();
            let a = ok(k.vmalloc_node_range(
                4096,
                1,
                V,
                VEND,
                Gfp::KERNEL,
                prot,
                VmFlags::empty(),
                Some(1),
                1,
            ));
            assert_eq!(a, V);
            let c = if s == 'D' { 1u64 << 47 } else { 0 };
            // PGD 402 -> PUD table 0x2000; PUD 0 -> PMD table 0x2001; PMD 0 -> PTE table 0x2002.
            let w = walk4(&k, V);
            assert_eq!(w[0], table_entry[si], "scenario {s} PGD");
            assert_eq!(w[1], 0x2001067 | c, "scenario {s} PUD");
            assert_eq!(w[2], 0x2002067 | c, "scenario {s} PMD");
            assert_eq!(w[3], want[si], "scenario {s} {prot:?}");
            // The guard PTE is 0.
            assert_eq!(entry(&k, 0x2002, 1), 0);
        }
    }
}

#[test]
fn r07_kernel_rx_and_exec_wrappers() {
    let mut k = kernel();
    // vmalloc_exec: PAGE_KERNEL_EXEC = 0x163; data page 0x100.
    let a = ok(k.vmalloc_exec(4096, 1));
    assert_eq!(pte(&k, a), 0x100163);
    // __vmalloc with PAGE_KERNEL_RX = 0x161. The first call took 0x100 and the tables
    // 0x101..=0x103, so this data page is 0x104 (the tables exist already).
    let b = ok(k.__vmalloc(4096, Gfp::KERNEL, Prot::KernelRx, 2));
    assert_eq!(pte(&k, b), 0x104161);
}

#[test]
fn i8_tables_per_region_on_demand_and_guard_alone_does_not_count() {
    let mut k = kernel();
    // 512 pages map exactly [V, V + 2 MiB): PUD, PMD and one PTE table (PMD slot 0). The guard
    // page V + 0x200000 is alone in PMD slot 1, which gets no table.
    let a = ok(k.vmalloc(512 * P, 1));
    assert_eq!(k.counters().table_pages, 3);
    assert_eq!(
        walk4(&k, V + 0x20_0000)[2],
        0,
        "no PTE table for a guard-only region"
    );
    // A 1-page vmalloc right after ([V+0x201000, V+0x203000)) maps V + 0x201000 in PMD slot 1:
    // one new PTE table, the 4th.
    assert_eq!(ok(k.vmalloc(4096, 2)), V + 0x20_1000);
    assert_eq!(k.counters().table_pages, 4);
    // Tables are never freed (semantics §7.3): after vfree and purge all 4 remain, entries
    // included.
    k.vfree(a, Context::Process).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(k.counters().table_pages, 4);
    // Data pages 0x100..=0x2ff, then PUD 0x300, PMD 0x301, PTE 0x302, then the second area's
    // data page is 0x303 and its PTE table 0x304.
    assert_eq!(walk4(&k, V), [0x300067, 0x301067, 0x302067, 0]);
    assert_eq!(
        walk4(&k, V + 0x20_1000),
        [0x300067, 0x301067, 0x304067, (0x303 << 12) | PAGE_KERNEL]
    );
}

#[test]
fn i8_table_failure_keeps_the_tables_made_so_far() {
    // The second table page attempt (the PMD table) fails.
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::TablePage, 2));
    assert_eq!(k.vmalloc(4096, 1), Ok(None));
    // Warning 2 with all N = 1 pages: 4096 of 8192.
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 4096,
            total: 8192
        }]
    );
    // Data page 0x100 was freed; the PUD table 0x101 stays linked from PGD slot 402.
    assert_eq!(walk4(&k, V), [0x101067, 0, 0, 0]);
    let c = k.counters();
    assert_eq!((c.table_pages, c.allocated_pages, c.lazy_nr), (1, 1, 2));
    assert_eq!(k.fault_attempts(), [1, 1, 1, 1, 2]);
    // The next vmalloc reuses the PUD table and builds only PMD and PTE tables. Its VA goes to
    // V + 0x2000 (the failed one is lazily pending), so PMD 0 / PTE slot 2.
    let b = ok(k.vmalloc(4096, 2));
    assert_eq!(b, V + 0x2000);
    assert_eq!(
        walk4(&k, b),
        [0x101067, 0x102067, 0x103067, (0x100 << 12) | PAGE_KERNEL]
    );
}

#[test]
fn i8_modules_window_only_gets_pte_tables() {
    let mut k = kernel();
    let a = ok(k.module_alloc(4096, 1));
    assert_eq!(a, MODULES);
    // PGD 511 -> PUD 2 (boot), PUD 510 -> PMD 3 (boot, 0x63), PMD slot (0xffffffffa0000000 >> 21)
    // & 511 = 256 -> new PTE table 0x101; leaf PAGE_KERNEL_EXEC for data page 0x100.
    assert_eq!(walk4(&k, a), [0x2067, 0x3063, 0x101067, 0x100163]);
    assert_eq!(k.table_frames(), &[Pfn::from_u64(0x101)]);
    // Boot tables are not pool frames.
    assert_eq!(k.counters().table_pages, 1);
}

#[test]
fn r07_boot_state() {
    let k = kernel();
    // semantics §12.1: PGD at PFN 1 with only slot 511; PUD table at 2 with 510 -> 0x3063,
    // 511 -> 0x4067.
    assert_eq!(k.root_pfn().as_u64(), 1);
    let nonzero: Vec<usize> = (0..512).filter(|&i| entry(&k, 1, i) != 0).collect();
    assert_eq!(nonzero, vec![511]);
    assert_eq!(entry(&k, 1, 511), 0x2067);
    assert_eq!(entry(&k, 2, 510), 0x3063);
    assert_eq!(entry(&k, 2, 511), 0x4067);
    assert_eq!(k.counters().allocated_pages, 0);
}

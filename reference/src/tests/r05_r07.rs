//! R5 (pages array), R6 (data pages), R7 (mapping, tables, semantics §8.3 encodings).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use super::*;
use crate::{ArrayKind, Context, Gfp, MachineConfig, Paging, Prot, TableLevel, VmFlags};

fn tables(list: &[(TableLevel, u64, u64)]) -> std::collections::BTreeMap<(TableLevel, u64), u64> {
    list.iter().map(|&(l, b, p)| ((l, b), p)).collect()
}

#[test]
fn r7_first_vmalloc_takes_data_page_before_tables() {
    let mut m = model();
    // R2: VA [START, START+0x2000); semantics §12.2: first data page = lowest pool PFN 0x100; R13:
    // data pages (step 5) come before table pages (step 6), so the PUD/PMD/PTE tables get
    // 0x101, 0x102, 0x103. START is aligned to 512 GiB, 1 GiB and 2 MiB, so it is the
    // region base at every level.
    let va = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(va, START);
    // R7: PTE(START) = (0x100 << 12) | 0x8000000000000163.
    assert_eq!(
        m.ptes().iter().collect::<Vec<_>>(),
        vec![(&START, &0x8000_0000_0010_0163)]
    );
    assert_eq!(
        m.table_pages(),
        tables(&[
            (TableLevel::Pud, START, 0x101),
            (TableLevel::Pmd, START, 0x102),
            (TableLevel::Pte, START, 0x103),
        ])
    );
    // I9: entries are phys | 0x67: 0x101067 (in PGD 402), 0x102067, 0x103067.
    let entries = m.table_entries();
    assert_eq!(entries[&(TableLevel::Pud, START)], 0x10_1067);
    assert_eq!(entries[&(TableLevel::Pmd, START)], 0x10_2067);
    assert_eq!(entries[&(TableLevel::Pte, START)], 0x10_3067);
    // A vmalloc (no ZERO) page reads as poison 0xaa (contract §3).
    assert_eq!(m.read(va, 4).unwrap(), vec![0xaa; 4]);
    check(&m);
}

#[test]
fn r6_pages_in_index_order_then_tables() {
    let mut m = model();
    // R6: 3 pages one at a time → 0x100, 0x101, 0x102 at START, +4K, +8K; tables after.
    let va = m.vmalloc(3 * P, 1).unwrap().unwrap();
    let got: Vec<u64> = (0..3)
        .map(|k| m.vmalloc_to_page(va + k * P).unwrap())
        .collect();
    assert_eq!(got, vec![0x100, 0x101, 0x102]);
    assert_eq!(
        m.table_pages().values().copied().collect::<Vec<_>>(),
        vec![0x103, 0x104, 0x105]
    );
    // vzalloc pages read zero (design §3.10): next VA START + 0x4000, page 0x106.
    let z = m.vzalloc(P, 2).unwrap().unwrap();
    assert_eq!((z, m.vmalloc_to_page(z)), (START + 0x4000, Some(0x106)));
    assert_eq!(m.page_bytes(0x106), Some(vec![0; 4096]));
    check(&m);
}

#[test]
fn r5_513_pages_get_a_nested_array_placed_after_the_outer_va() {
    let mut m = model();
    let s = START;
    // N = 513 → array 8·513 = 4104 bytes > 4096 → nested vmalloc(4104): S' = 8192,
    // VA 3 pages. The outer VA (514 pages = 0x202000) is reserved first at s, so the nested
    // VA lands at s + 0x202000 (R3). The nested call runs R13 completely first: its 2 data
    // pages 0x100, 0x101; its mapping tables PUD(s) 0x102, PMD(s) 0x103, PTE(s+0x200000)
    // 0x104. Then the outer data pages 0x105..=0x305 (513), then its mapping: PTE(s) needs
    // a table → 0x306; page 512 at s + 0x200000 reuses 0x104.
    let va = m.vmalloc(513 * P, 7).unwrap().unwrap();
    assert_eq!(va, s);
    let outer = m.find_vm_area(s).unwrap();
    assert_eq!(
        (outer.size, outer.nr_pages, outer.pages_array),
        (
            0x20_2000,
            513,
            ArrayKind::Vmalloc {
                addr: s + 0x20_2000
            }
        )
    );
    let nested = m.find_vm_area(s + 0x20_2000).unwrap();
    assert_eq!(
        (
            nested.size,
            nested.nr_pages,
            nested.pages_array,
            nested.flags
        ),
        (0x3000, 2, ArrayKind::Kmalloc { bytes: 16 }, VmFlags::ALLOC)
    );
    assert_eq!(m.vmalloc_to_page(s + 0x20_2000), Some(0x100));
    assert_eq!(m.vmalloc_to_page(s + 0x20_3000), Some(0x101));
    assert_eq!(m.ptes()[&s], (0x105 << 12) | PK);
    assert_eq!(m.ptes()[&(s + 0x20_0000)], (0x305 << 12) | PK);
    assert_eq!(
        m.table_pages(),
        tables(&[
            (TableLevel::Pud, s, 0x102),
            (TableLevel::Pmd, s, 0x103),
            (TableLevel::Pte, s, 0x306),
            (TableLevel::Pte, s + 0x20_0000, 0x104),
        ])
    );
    // Attempts: VmStruct 2, VmapArea 2, PagesArray 1 (the nested 16 bytes), DataPage
    // 2 + 513 = 515, TablePage 4.
    assert_eq!(m.fault_attempts(), [2, 2, 1, 515, 4]);
    // nested_gfp always has __GFP_ZERO: the array's pages read zero.
    assert_eq!(m.page_bytes(0x100), Some(vec![0; 4096]));
    check(&m);
    // R9 on the outer area: its lazy add (514) first, then its pages, then the array's
    // vfree with its own lazy add (3): lazy list newest first = [nested, outer], 517 pages.
    m.vfree(s, Context::Process).unwrap();
    assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![s + 0x20_2000, s], 517));
    assert!(m.ptes().is_empty());
    assert_eq!(m.table_pages().len(), 4);
    assert_eq!(m.free_pages_per_node(), vec![261_888 - 4]);
    check(&m);
}

#[test]
fn r5_nested_array_va_may_land_in_a_lower_hole() {
    let mut m = model();
    let s = START;
    // a = 2 pages at [s, s+0x3000), b = 1 page at [s+0x3000, s+0x5000); free a and purge:
    // a 3-page hole at s.
    let a = m.vmalloc(2 * P, 1).unwrap().unwrap();
    m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(a, Context::Process).unwrap();
    m.vm_unmap_aliases();
    // Outer 514-page VA: s overlaps b → s + 0x5000. Nested 3-page VA: s fits exactly
    // (semantics §6.1 step 5: the array's VA is placed by R3 like any other).
    let va = m.vmalloc(513 * P, 1).unwrap().unwrap();
    assert_eq!(va, s + 0x5000);
    assert_eq!(
        m.find_vm_area(va).unwrap().pages_array,
        ArrayKind::Vmalloc { addr: s }
    );
    check(&m);
}

#[test]
fn r5_above_262144_pages_the_array_is_nested_twice() {
    // A 2 GiB node [0, 0x80000) so that 262,660 data pages fit.
    let mut m = model_with(|c| c.nodes = one_node(0x80000));
    let s = START;
    // N = 262145 → array 2,097,160 bytes → nested vmalloc of PAGE_ALIGN = 513 pages, whose
    // own array (4104 bytes) is nested again: 2 pages with a 16-byte kmalloc'ed array.
    // VAs: outer 262146 pages = 0x40002000 at s; nested-1 514 pages at s + 0x40002000;
    // nested-2 3 pages at s + 0x40002000 + 0x202000 = s + 0x40204000.
    let va = m.vmalloc(262_145 * P, 1).unwrap().unwrap();
    assert_eq!(va, s);
    let n1 = s + 0x4000_2000;
    let n2 = s + 0x4020_4000;
    assert_eq!(
        m.find_vm_area(s).unwrap().pages_array,
        ArrayKind::Vmalloc { addr: n1 }
    );
    assert_eq!(
        m.find_vm_area(n1).unwrap().pages_array,
        ArrayKind::Vmalloc { addr: n2 }
    );
    assert_eq!(
        m.find_vm_area(n2).unwrap().pages_array,
        ArrayKind::Kmalloc { bytes: 16 }
    );
    assert_eq!(m.fault_attempts()[..4], [3, 3, 1, 262_145 + 513 + 2]);
    check(&m);
}

#[test]
fn r7_guard_region_gets_no_table_and_boundaries_get_new_tables() {
    let mut m = model();
    let s = START;
    // One page at s + 0x1ff000 (last page of the first 2 MiB region); its guard is at
    // s + 0x200000, in the next region, which gets no PTE table (I8: a guard page's region
    // counts only if a mapped page shares it). Tables: PUD, PMD, PTE(s) = 0x101..0x103.
    let got = m.vmalloc_node_range(
        P,
        1,
        s + 0x1f_f000,
        END,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(Some(s + 0x1f_f000)));
    assert_eq!(m.table_pages().len(), 3);
    assert!(!m
        .table_pages()
        .contains_key(&(TableLevel::Pte, s + 0x20_0000)));
    // Two pages across the 1 GiB boundary at s + 0x40000000: pages 0x104, 0x105, then the
    // walk at s + 0x3ffff000 needs PTE(s + 0x3fe00000) → 0x106, and at s + 0x40000000 a new
    // PMD table (1 GiB region) → 0x107, then PTE(s + 0x40000000) → 0x108.
    let w = s + 0x3fff_f000;
    let got = m.vmalloc_node_range(
        2 * P,
        1,
        w,
        END,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(Some(w)));
    let t = m.table_pages();
    assert_eq!(t[&(TableLevel::Pte, s + 0x3fe0_0000)], 0x106);
    assert_eq!(t[&(TableLevel::Pmd, s + 0x4000_0000)], 0x107);
    assert_eq!(t[&(TableLevel::Pte, s + 0x4000_0000)], 0x108);
    assert_eq!(t.len(), 6);
    check(&m);
}

#[test]
fn r7_module_alloc_only_creates_pte_tables() {
    let mut m = model();
    // module_alloc: range [MODULES_VADDR, MODULES_END), align 4096, PAGE_KERNEL_EXEC.
    // semantics §12.1: PGD 511 → PUD (PFN 2) and PUD 510 → PMD (PFN 3) are static, so only the PTE
    // table for [MODULES, MODULES + 2 MiB) is allocated: data 0x100, table 0x101.
    let va = m.module_alloc(P, 3).unwrap().unwrap();
    assert_eq!(va, MODULES);
    assert_eq!(m.ptes()[&MODULES], (0x100 << 12) | PKX);
    assert_eq!(
        m.table_pages(),
        tables(&[(TableLevel::Pte, MODULES, 0x101)])
    );
    let entries = m.table_entries();
    assert_eq!(entries[&(TableLevel::Pmd, 0xffff_ffff_8000_0000)], 0x3063);
    assert_eq!(entries[&(TableLevel::Pte, MODULES)], 0x10_1067);
    check(&m);
    // PAGE_ALIGN(size) > MODULES_LEN (0x5f000000) → NULL at once: no event, no attempt.
    let attempts = m.fault_attempts();
    assert_eq!(m.module_alloc(0x5f00_0001, 3), Ok(None));
    assert_eq!((events(&mut m), m.fault_attempts()), (vec![], attempts));
    // Exactly MODULES_LEN passes that check but not R1 (0x5f000 pages > 261,888).
    assert_eq!(m.module_alloc(0x5f00_0000, 3), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocFailure { bytes: 0x5f00_0000 }]
    );
}

#[test]
fn r7_module_load_offset_moves_the_search_start() {
    // KASLR: module_load_offset = 3 pages → search from MODULES + 0x3000
    // (semantics §12 parameters).
    let mut m = model_with(|c| c.module_load_offset = 0x3000);
    assert_eq!(m.module_alloc(P, 1), Ok(Some(MODULES + 0x3000)));
}

#[test]
fn r7_la57_table_counts() {
    let mut m = Model::new(MachineConfig::la57()).unwrap();
    let s = 0xffa0_0000_0000_0000;
    // LA57: the vmalloc window's PGD slot (416) is none, so a first vmalloc allocates a P4D
    // table (256 TiB region), then PUD, PMD, PTE: 4 tables 0x101..0x104 after data 0x100.
    assert_eq!(m.vmalloc(P, 1), Ok(Some(s)));
    assert_eq!(
        m.table_pages(),
        tables(&[
            (TableLevel::P4d, s, 0x101),
            (TableLevel::Pud, s, 0x102),
            (TableLevel::Pmd, s, 0x103),
            (TableLevel::Pte, s, 0x104),
        ])
    );
    // The modules window sits under PGD 511's static P4D (PFN 5): still only a PTE table.
    assert_eq!(m.module_alloc(P, 1), Ok(Some(MODULES)));
    assert_eq!(m.table_pages()[&(TableLevel::Pte, MODULES)], 0x106);
    assert_eq!(m.table_pages().len(), 5);
    assert_eq!(
        m.boot_tables()[&(TableLevel::P4d, 0xffff_0000_0000_0000)],
        5
    );
    assert_eq!(m.config().paging, Paging::FiveLevel);
    check(&m);
}

/// semantics §8.3's five machines: (supported_pte_mask, default_kernel_pte_mask, sme_c_bit).
const SCENARIOS: [(char, u64, u64, u64); 5] = [
    ('A', u64::MAX, u64::MAX, 0),
    ('B', u64::MAX, 0xffff_ffff_ffff_feff, 0),
    ('C', 0x7fff_ffff_ffff_ffff, 0x7fff_ffff_ffff_ffff, 0),
    ('D', u64::MAX, u64::MAX, 1 << 47),
    ('E', 0xffff_ffff_ffff_feff, 0xffff_ffff_ffff_feff, 0),
];

#[test]
fn r7_scenarios_a_to_e_leaf_and_table_entry_values() {
    // semantics §8.3 table, computed from the v4.19 definitions: data pfn 0x12345, a new table at
    // physical 0x2000000 (pfn 0x2000). Machine: node 0 = [0x2000, 0x2010) (tables:
    // NUMA_NO_NODE → node 0 → 0x2000 first), node 1 = [0x12345, 0x12346) (the data page,
    // asked on node 1). Leaf = (pfn << 12) | ((raw | c) & default_mask & supported_mask).
    let want: [(Prot, [u64; 5]); 4] = [
        // e.g. B: (0x8000000000000163 & ~0x100) = 0x8000000000000063; C: & ~bit 63 = 0x163.
        (
            Prot::Kernel,
            [
                0x8000_0000_1234_5163,
                0x8000_0000_1234_5063,
                0x1234_5163,
                0x8000_8000_1234_5163,
                0x8000_0000_1234_5063,
            ],
        ),
        (
            Prot::KernelExec,
            [
                0x1234_5163,
                0x1234_5063,
                0x1234_5163,
                0x8000_1234_5163,
                0x1234_5063,
            ],
        ),
        (
            Prot::KernelRo,
            [
                0x8000_0000_1234_5161,
                0x8000_0000_1234_5061,
                0x1234_5161,
                0x8000_8000_1234_5161,
                0x8000_0000_1234_5061,
            ],
        ),
        (
            Prot::KernelNocache,
            [
                0x8000_0000_1234_517b,
                0x8000_0000_1234_507b,
                0x1234_517b,
                0x8000_8000_1234_517b,
                0x8000_0000_1234_507b,
            ],
        ),
    ];
    // Table entry: phys | 0x67 | c, no mask: 0x2000067, or 0x800002000067 under D.
    let entry = [
        0x200_0067,
        0x200_0067,
        0x200_0067,
        0x8000_0200_0067,
        0x200_0067,
    ];
    for (i, &(name, supported, default, c)) in SCENARIOS.iter().enumerate() {
        for &(prot, leaves) in &want {
            let mut m = model_with(|cfg| {
                cfg.nodes = vec![
                    NodeSpan {
                        start_pfn: 0x2000,
                        end_pfn: 0x2010,
                    },
                    NodeSpan {
                        start_pfn: 0x12345,
                        end_pfn: 0x12346,
                    },
                ];
                cfg.supported_pte_mask = supported;
                cfg.default_kernel_pte_mask = default;
                cfg.sme_c_bit = c;
            });
            let va = m
                .vmalloc_node_range(
                    P,
                    1,
                    START,
                    END,
                    Gfp::KERNEL,
                    prot,
                    VmFlags::NONE,
                    Some(1),
                    1,
                )
                .unwrap()
                .unwrap();
            assert_eq!(m.ptes()[&va], leaves[i], "scenario {name} {prot:?}");
            assert_eq!(
                m.table_entries()[&(TableLevel::Pud, START)],
                entry[i],
                "scenario {name}"
            );
            // The PFN read back leaves the C-bit out (contract §2).
            assert_eq!(m.vmalloc_to_pfn(va), Some(0x12345), "scenario {name}");
            check(&m);
        }
    }
}

#[test]
fn r7_sme_boot_entries_carry_the_c_bit() {
    // semantics §12.1: under SME every static entry also carries the C-bit: PUD 510's = 0x3063 | c.
    let m = model_with(|c| c.sme_c_bit = 1 << 47);
    let e = m.table_entries();
    assert_eq!(
        e[&(TableLevel::Pmd, 0xffff_ffff_8000_0000)],
        0x8000_0000_3063
    );
    assert_eq!(
        e[&(TableLevel::Pud, 0xffff_ff80_0000_0000)],
        0x8000_0000_2067
    );
    check(&m);
}

//! semantics §12.2 / design §3.9 page policy: node n (0 for NUMA_NO_NODE), nodes n, n+1, … wrapping
//! (only n with THISNODE), zones Normal then DMA32 (DMA32 only for GFP_DMA32), lowest free PFN.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{Event, Gfp, Kernel, MachineConfig, Pfn, Prot, VmFlags};

fn pfn_of(k: &Kernel, va: u64) -> u64 {
    k.vmalloc_to_pfn(va).unwrap().as_u64()
}

#[test]
fn multi_node_preference_fallback_and_thisnode() {
    // Node 0 pool = 0x100..=0x103 (4 pages), node 1 = 0x104, 0x105.
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x104), (0x104, 0x106)])).unwrap();
    // Data on node 1; table pages are NUMA_NO_NODE, i.e. node 0 first: 0x100..=0x102.
    let a = ok(k.vmalloc_node(4096, Some(1), 1));
    assert_eq!(pfn_of(&k, a), 0x104);
    assert_eq!(
        k.table_frames(),
        &[
            Pfn::from_u64(0x100),
            Pfn::from_u64(0x101),
            Pfn::from_u64(0x102)
        ]
    );
    let b = ok(k.vmalloc_node(4096, Some(1), 2));
    assert_eq!(pfn_of(&k, b), 0x105);
    // Node 1 is empty. With THISNODE the data page fails (warning 2: 0 of 8192).
    let r = k.vmalloc_node_range(
        4096,
        1,
        V,
        VEND,
        Gfp::KERNEL | Gfp::THISNODE,
        Prot::Kernel,
        VmFlags::empty(),
        Some(1),
        3,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 8192
        }]
    );
    // Without it: node 1, then node (1 + 1) % 2 = 0: PFN 0x103.
    let c = ok(k.vmalloc_node(4096, Some(1), 4));
    assert_eq!(pfn_of(&k, c), 0x103);
    // Nothing left anywhere.
    assert_eq!(k.vmalloc_node(4096, Some(0), 5), Ok(None));
}

#[test]
fn nested_array_pages_follow_the_callers_node() {
    // Node 0 pool [0x100, 0x200), node 1 [0x200, 0x600).
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x200), (0x200, 0x600)])).unwrap();
    let a = ok(k.vmalloc_node(513 * P, Some(1), 1));
    // Nested array first: its pages 0x200, 0x201 (node 1); its tables from node 0: 0x100 (PUD),
    // 0x101 (PMD), 0x102 (PTE of PMD slot 1). Then 513 outer pages 0x202..=0x402 and the
    // outer PTE table 0x103.
    assert_eq!(
        k.vmallocinfo(),
        "0xffffc90000000000-0xffffc90000202000 2105344 op1 pages=513 vmalloc vpages N1=513\n\
         0xffffc90000202000-0xffffc90000205000   12288 op1 pages=2 vmalloc N1=2\n"
    );
    assert_eq!((pfn_of(&k, a), pfn_of(&k, a + 512 * P)), (0x202, 0x402));
    assert_eq!(pfn_of(&k, V + 0x20_2000), 0x200);
    assert_eq!(k.table_frames().last().map(|p| p.as_u64()), Some(0x103));
}

#[test]
fn zones_normal_first_dma32_for_vmalloc_32() {
    // One node [0, 0x100010): DMA32 = [0x100, 0x100000), Normal = [0x100000, 0x100010).
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x10_0010)])).unwrap();
    let a = ok(k.vmalloc(4096, 1));
    // Normal first: data 0x100000; tables 0x100001..=0x100003.
    assert_eq!(pfn_of(&k, a), 0x10_0000);
    let b = ok(k.vmalloc_32(4096, 2));
    assert_eq!(pfn_of(&k, b), 0x100);
    // 12 pages take the rest of Normal (0x100004..=0x10000f); then DMA32 serves vmalloc.
    let c = ok(k.vmalloc(12 * P, 3));
    assert_eq!(
        (pfn_of(&k, c), pfn_of(&k, c + 11 * P)),
        (0x10_0004, 0x10_000f)
    );
    let d = ok(k.vmalloc(4096, 4));
    assert_eq!(pfn_of(&k, d), 0x101);
}

#[test]
fn vmalloc_32_never_leaves_dma32() {
    // Node 0 has one DMA32 page (0x100); node 1 is all Normal.
    let mut k = Kernel::new(MachineConfig::with_nodes(&[
        (0, 0x101),
        (0x10_0000, 0x10_0010),
    ]))
    .unwrap();
    let a = ok(k.vmalloc_32(4096, 1));
    assert_eq!(pfn_of(&k, a), 0x100);
    // Tables: node 0 has nothing left, so node 1's Normal pages 0x100000..=0x100002.
    assert_eq!(
        k.table_frames().first().map(|p| p.as_u64()),
        Some(0x10_0000)
    );
    // DMA32 is exhausted on every node: the data page fails although Normal has room.
    assert_eq!(k.vmalloc_32(4096, 2), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 8192
        }]
    );
    let b = ok(k.vmalloc(4096, 3));
    assert_eq!(pfn_of(&k, b), 0x10_0003);
}

#[test]
fn a_huge_sparse_machine_is_cheap() {
    // A node of 2^40 - 2^20 PFNs (4 PiB): the pool is one free extent; only touched frames
    // cost memory. Normal zone first: the first data page is PFN 2^20.
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 1 << 40)])).unwrap();
    assert_eq!(k.totalram_pages(), (1 << 40) - 256);
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(pfn_of(&k, a), 1 << 20);
    assert_eq!(k.counters().free_pages, (1 << 40) - 256 - 4);
}

//! Multi-node and DMA32 placement by the semantics §12.2 policy, seen through the API.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::*;
use crate::{Fatal, Gfp, Prot, VmFlags};

/// Node 0 = [0xfff00, 0x100010): DMA32 part 0xfff00..0x100000 (256 pages), Normal part
/// 0x100000..0x100010 (16). Node 1 = [0x100010, 0x100020): 16 Normal pages.
fn two_nodes() -> Model {
    model_with(|c| {
        c.nodes = vec![
            NodeSpan {
                start_pfn: 0xfff00,
                end_pfn: 0x10_0010,
            },
            NodeSpan {
                start_pfn: 0x10_0010,
                end_pfn: 0x10_0020,
            },
        ];
    })
}

#[test]
fn numa_normal_first_dma32_only_for_vmalloc_32() {
    let mut m = two_nodes();
    assert_eq!(m.totalram_pages(), 256 + 16 + 16);
    // vmalloc: node 0 (NUMA_NO_NODE), ZONE_NORMAL first → 0x100000; tables the same way
    // → 0x100001..0x100003.
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(m.vmalloc_to_page(a), Some(0x10_0000));
    assert_eq!(
        m.table_pages().values().copied().collect::<Vec<_>>(),
        vec![0x10_0001, 0x10_0002, 0x10_0003]
    );
    // vmalloc_32: GFP_DMA32 → ZONE_DMA32 only → 0xfff00 (< 2^20, semantics §8.4).
    let b = m.vmalloc_32(P, 1).unwrap().unwrap();
    assert_eq!(m.vmalloc_to_page(b), Some(0xfff00));
    // vmalloc_32_user: DMA32 and zeroed, VM_USERMAP.
    let c = m.vmalloc_32_user(P, 1).unwrap().unwrap();
    assert_eq!(m.vmalloc_to_page(c), Some(0xfff01));
    assert!(m.find_vm_area(c).unwrap().flags.has(VmFlags::USERMAP));
    // vmalloc_node(1) → node 1's lowest → 0x100010.
    let d = m.vmalloc_node(P, Some(1), 1).unwrap().unwrap();
    assert_eq!(m.vmalloc_to_page(d), Some(0x10_0010));
    check(&m);
}

#[test]
fn numa_fallback_thisnode_and_vmallocinfo_counts() {
    let mut m = two_nodes();
    // 20 pages on node 1: its 16 Normal pages (0x100010..0x100020), then node 1 + 1 wraps
    // to node 0, Normal: 0x100000..0x100003. Tables after: node 0 Normal 0x100004.. .
    let a = m.vzalloc_node(20 * P, Some(1), 3).unwrap().unwrap();
    let info = m.vmallocinfo();
    assert_eq!(
        info,
        "0xffffc90000000000-0xffffc90000015000   86016 op3 pages=20 vmalloc N0=4 N1=16\n"
    );
    assert_eq!(m.vmalloc_to_page(a + 16 * P), Some(0x10_0000));
    // THISNODE on the exhausted node 1: only node 1 is tried → page 0 fails: warning 2.
    let gfp = Gfp::KERNEL | Gfp::THISNODE;
    let got = m.vmalloc_node_range(
        P,
        1,
        START,
        END,
        gfp,
        Prot::Kernel,
        VmFlags::NONE,
        Some(1),
        1,
    );
    assert_eq!(got, Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 0x2000
        }]
    );
    // With NUMA_NO_NODE, THISNODE applies to node 0 (semantics §10).
    let got = m.vmalloc_node_range(P, 1, START, END, gfp, Prot::Kernel, VmFlags::NONE, None, 1);
    assert!(got.unwrap().is_some());
    // A node index outside the machine is a typed caller bug.
    assert_eq!(
        m.vmalloc_node(P, Some(2), 1),
        Err(Fatal::Bug(crate::BugKind::InvalidNode))
    );
    assert_eq!(
        m.alloc_page(Gfp::KERNEL, Some(7)),
        Err(Fatal::Bug(crate::BugKind::InvalidNode))
    );
    check(&m);
}

#[test]
fn numa_nested_array_drops_dma32_and_thisnode() {
    // 513 DMA32 pages need a nested array; R5: nested_gfp keeps only GFP_RECLAIM_MASK bits
    // (plus ZERO), so the array's pages come Normal-first: the two node-0 Normal pages
    // 0x100000, 0x100001 — while the outer's 513 pages are DMA32 (0x...< 2^20).
    let mut m = model_with(|c| {
        c.nodes = vec![NodeSpan {
            start_pfn: 0xf0000,
            end_pfn: 0x10_0010,
        }];
    });
    let a = m.vmalloc_32(513 * P, 1).unwrap().unwrap();
    let nested = m.find_vm_area(a).unwrap().pages_array;
    let crate::ArrayKind::Vmalloc { addr } = nested else {
        panic!("expected a nested array");
    };
    assert_eq!(m.vmalloc_to_page(addr), Some(0x10_0000));
    assert_eq!(m.vmalloc_to_page(addr + P), Some(0x10_0001));
    assert_eq!(m.vmalloc_to_page(a), Some(0xf0000));
    assert!((0..513).all(|k| m.vmalloc_to_page(a + k * P).unwrap() < 1 << 20));
    check(&m);
}

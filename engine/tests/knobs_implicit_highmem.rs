//! Knob `implicit_highmem` (semantics §2, semantics §6.1, semantics §6.2, semantics §10; bug 9).
//! 4.12's `unconditional` adds `__GFP_HIGHMEM` to every vmalloc data-page request, so
//! `vmalloc_32`'s `GFP_DMA32` pages are requested with an invalid zone pair and `gfp_zone` BUGs
//! (`BugKind::InvalidZone`) at the first data page, after the pages array. `caller_provided`
//! (≤4.11) moves `__GFP_HIGHMEM` into the API wrappers, which on x86-64 changes nothing
//! observable.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{
    BugKind, Context, Fatal, Gfp, ImplicitHighmem, Kernel, Knobs, Pfn, Prot, VirtAddr,
};

const BUG: Fatal = Fatal::Bug(BugKind::InvalidZone);

fn with(h: ImplicitHighmem) -> Kernel {
    kernel_with(|c| {
        c.knobs = Knobs {
            implicit_highmem: h,
            ..Knobs::default()
        }
    })
}

fn pfn(k: &Kernel, va: u64) -> Option<u64> {
    k.vmalloc_to_pfn(va).map(Pfn::as_u64)
}

/// `vmalloc_32(4K)` under `unconditional`: R13 steps 1–4 succeed (vm_struct, vmap_area, the VA
/// [V, V+0x2000), the 8-byte kmalloc'ed array); step 5's first page is requested with
/// `GFP_KERNEL | GFP_DMA32 | __GFP_NOWARN | __GFP_HIGHMEM`: the BUG, before that page's
/// fault-plan attempt. Attempts: [1, 1, 1, 0, 0]; no event. `vmalloc_32_user` likewise.
#[test]
fn vmalloc_32_bugs_at_its_first_data_page() {
    let mut k = with(ImplicitHighmem::Unconditional);
    assert_eq!(k.vmalloc_32(P, 1), Err(BUG));
    assert_eq!(k.fault_attempts(), [1, 1, 1, 0, 0]);
    assert_eq!(events(&mut k), vec![]);
    let busy: Vec<u64> = k.busy_areas().map(|b| b.start.as_u64()).collect();
    assert_eq!(busy, vec![V]);
    assert_eq!(k.fatal(), Some(BUG));
    assert_eq!(k.vmalloc(P, 2), Err(BUG));

    let mut k = with(ImplicitHighmem::Unconditional);
    assert_eq!(k.vmalloc_32_user(P, 1), Err(BUG));
}

/// `vmalloc(4K)` under `unconditional` is unaffected: `GFP_KERNEL | __GFP_HIGHMEM` is a valid
/// zone set (HIGHMEM selects nothing on x86-64): [V, V+0x2000) with the lowest pool page,
/// PFN 0x100 (node 0 is all DMA32; Normal is empty, then DMA32's lowest free PFN).
#[test]
fn vmalloc_is_unaffected() {
    let mut k = with(ImplicitHighmem::Unconditional);
    assert_eq!(ok(k.vmalloc(P, 1)), V);
    assert_eq!(pfn(&k, V), Some(0x100));
    assert_eq!(ok(k.vzalloc(P, 2)), V + 0x2000);
    assert_eq!(events(&mut k), vec![]);
}

/// A `vmalloc_32` of 513 pages under `unconditional`: the array is 513 · 8 = 4104 bytes > 4096,
/// so it is a nested vmalloc with `nested_gfp | __GFP_HIGHMEM` = GFP_KERNEL | __GFP_ZERO |
/// __GFP_HIGHMEM (DMA32 stripped by GFP_RECLAIM_MASK): a valid zone set, so the nested call
/// completes. Outer VA: 513 + 1 pages = [V, V+0x202000). Nested: PAGE_ALIGN(4104) = 2 pages +
/// guard = [V+0x202000, V+0x205000), its 16-byte array kmalloc'ed, its pages PFN 0x100 and
/// 0x101, and its mapping opens PGD slot 402 (PUD table 0x102), 1 GiB region 0 (PMD table
/// 0x103) and the 2 MiB region [V+0x200000, V+0x400000) (PTE table 0x104). Then the outer
/// first data page BUGs. Attempts: vm_struct 2, vmap_area 2, pages_array 1 (the nested one's),
/// data pages 2, table pages 3.
#[test]
fn large_vmalloc_32_bugs_after_its_nested_array() {
    let mut k = with(ImplicitHighmem::Unconditional);
    assert_eq!(k.vmalloc_32(513 * P, 1), Err(BUG));
    assert_eq!(k.fault_attempts(), [2, 2, 1, 2, 3]);
    let areas: Vec<(u64, u64, Vec<u64>)> = k
        .busy_areas()
        .map(|b| {
            (
                b.start.as_u64(),
                b.end.as_u64(),
                b.pages().iter().map(|p| p.as_u64()).collect(),
            )
        })
        .collect();
    assert_eq!(
        areas,
        vec![
            (V, V + 0x20_2000, vec![]),
            (V + 0x20_2000, V + 0x20_5000, vec![0x100, 0x101]),
        ]
    );
    assert_eq!(pfn(&k, V + 0x20_2000), Some(0x100));
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x102, 0x103, 0x104]);
}

/// `caller_provided` (≤4.11) is observably the default on x86-64: the same calls give the same
/// addresses, PFNs, tables, events and attempts. Spot values: vmalloc(4K) at V with PFN 0x100
/// (then its mapping takes the PUD, PMD and PTE tables 0x101–0x103); vzalloc(8K) at V + 0x2000
/// ([V+0x2000, V+0x5000)) with 0x104, 0x105; vmalloc_32(4K) at V + 0x5000 with PFN 0x106 (no
/// BUG: GFP_VMALLOC32 gets no HIGHMEM here); module_alloc(4K) at MODULES_VADDR.
#[test]
fn caller_provided_is_observably_the_default() {
    fn note(out: &mut Vec<String>, k: &mut Kernel, r: Result<Option<VirtAddr>, Fatal>) {
        let a = r.expect("no fatal").map(VirtAddr::as_u64);
        let pages: Vec<u64> = a
            .and_then(|a| k.busy_areas().find(|b| b.start.as_u64() == a))
            .map(|b| b.pages().iter().map(|p| p.as_u64()).collect())
            .unwrap_or_default();
        out.push(format!("{a:x?} {pages:x?} {:?}", k.take_events()));
    }
    fn run(k: &mut Kernel) -> Vec<String> {
        let mut out = Vec::new();
        macro_rules! call {
            ($e:expr) => {{
                let r = $e;
                note(&mut out, k, r);
            }};
        }
        let first = k.vmalloc(P, 1);
        let a = first.ok().flatten();
        call!(first);
        call!(k.vzalloc(2 * P, 2));
        call!(k.vmalloc_32(P, 3));
        call!(k.module_alloc(P, 4));
        call!(k.vmalloc_user(P, 5));
        call!(k.vmalloc_node(P, Some(0), 6));
        call!(k.vzalloc_node(P, Some(0), 7));
        call!(k.vmalloc_exec(P, 8));
        call!(k.vmalloc_32_user(P, 9));
        call!(k.__vmalloc(P, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 10));
        call!(k.vmalloc(513 * P, 11));
        if let Some(a) = a {
            k.vfree(a, Context::Process).unwrap();
        }
        k.vm_unmap_aliases();
        let ev = k.take_events();
        out.push(format!(
            "{:?} {:?} {:?}",
            k.fault_attempts(),
            k.table_frames(),
            ev
        ));
        out
    }
    let mut old = with(ImplicitHighmem::CallerProvided);
    let mut new = kernel();
    let a = run(&mut old);
    assert_eq!(a, run(&mut new));
    assert!(a[0].starts_with(&format!("Some({V:x}) [100]")), "{}", a[0]);
    assert!(
        a[1].starts_with(&format!("Some({:x}) [104, 105]", V + 0x2000)),
        "{}",
        a[1]
    );
    assert!(
        a[2].starts_with(&format!("Some({:x}) [106]", V + 0x5000)),
        "{}",
        a[2]
    );
    assert!(a[3].starts_with(&format!("Some({MODULES:x})")), "{}", a[3]);
}

/// The zone check belongs to the page allocator, whatever the knob: a caller passing
/// `GFP_DMA32 | __GFP_HIGHMEM` itself (never generated, design §3.15) BUGs at its first
/// page under the default too, and an `alloc_page` with that pair BUGs before its attempt is
/// counted.
#[test]
fn an_invalid_pair_from_the_caller_bugs_in_every_mode() {
    let mut k = kernel();
    assert_eq!(
        k.__vmalloc(P, Gfp::VMALLOC32 | Gfp::HIGHMEM, Prot::Kernel, 1),
        Err(BUG)
    );
    assert_eq!(k.fault_attempts(), [1, 1, 1, 0, 0]);
    let mut k = kernel();
    assert_eq!(
        k.alloc_page(Gfp::KERNEL | Gfp::DMA32 | Gfp::HIGHMEM, None),
        Err(BUG)
    );
    assert_eq!(k.fault_attempts(), [0, 0, 0, 0, 0]);
}

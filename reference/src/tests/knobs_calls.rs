//! Version knobs outside the VA search (semantics §13): `vunmap_lookup` (R10),
//! `ioremap_align_rule` (R4), `implicit_highmem` (R6, bug 9) and `vmap_nowarn_honoured`
//! (warning 3).
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

use super::*;
use crate::{
    BugKind, Context, Fatal, Gfp, ImplicitHighmem, IoremapAlignRule, Knobs, Prot, VmFlags,
    VmapNowarnHonoured, VunmapLookup,
};

fn knobbed(knobs: Knobs) -> Model {
    model_with(|c| c.knobs = knobs)
}

fn lookup(v: VunmapLookup) -> Knobs {
    Knobs {
        vunmap_lookup: v,
        ..Knobs::default()
    }
}

#[test]
fn vunmap_lookup_deref_oopses_on_an_address_in_no_busy_va() {
    let wild = START + 0x10_0000;
    // v4.19.0: find_vmap_area(addr)->vm with no VA → NULL dereference, for vfree and vunmap.
    let mut m = knobbed(lookup(VunmapLookup::FindVmapAreaDeref));
    assert_eq!(
        m.vfree(wild, Context::Process),
        Err(Fatal::Bug(BugKind::Oops))
    );
    let mut m = knobbed(lookup(VunmapLookup::FindVmapAreaDeref));
    assert_eq!(
        m.vunmap(wild, Context::Process),
        Err(Fatal::Bug(BugKind::Oops))
    );
    // The preset has the same lookup.
    let mut m = knobbed(Knobs::v4_19_0());
    assert_eq!(
        m.vfree(wild, Context::Process),
        Err(Fatal::Bug(BugKind::Oops))
    );
    // The deferred list goes through the same __vunmap: a deferred free of an area that is
    // gone by the time the list runs oopses there. (Its 8-byte write happened while the
    // area was mapped.)
    let mut m = knobbed(lookup(VunmapLookup::FindVmapAreaDeref));
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(a, Context::Interrupt).unwrap();
    m.vfree(a, Context::Process).unwrap();
    m.vm_unmap_aliases();
    assert_eq!(m.run_deferred(), Err(Fatal::Bug(BugKind::Oops)));
}

#[test]
fn vunmap_lookup_deref_checks_null_and_alignment_first_and_warns_on_lazy_vas() {
    let mut m = knobbed(lookup(VunmapLookup::FindVmapAreaDeref));
    // NULL: no-op; unaligned: warning 4 (both before the lookup).
    m.vfree(0, Context::Process).unwrap();
    m.vunmap(0, Context::Process).unwrap();
    m.vfree(START + 1, Context::Process).unwrap();
    assert_eq!(events(&mut m), vec![Event::BadAddress { addr: START + 1 }]);
    // A live area (interior page included) is freed as by default.
    let a = m.vmalloc(2 * P, 1).unwrap().unwrap();
    m.vfree(a + P, Context::Process).unwrap();
    assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![a], 3));
    // Its VA is lazily freed: the lookup finds it, its vm was cleared → warning 5, on any of
    // its pages (the guard included), for vfree and vunmap.
    m.vfree(a, Context::Process).unwrap();
    m.vunmap(a + 2 * P, Context::Process).unwrap();
    assert_eq!(
        events(&mut m),
        vec![
            Event::NonexistentArea { addr: a },
            Event::NonexistentArea { addr: a + 2 * P }
        ]
    );
    // One page past the lazy VA there is no busy VA: the oops.
    assert_eq!(
        m.vfree(a + 3 * P, Context::Process),
        Err(Fatal::Bug(BugKind::Oops))
    );
}

#[test]
fn vunmap_lookup_default_and_remove_first_warn_on_no_busy_va() {
    // find_vm_area (default) and remove_vm_area first (≤4.17) both give warning 5 and
    // nothing else for an address in no busy VA.
    for v in [VunmapLookup::FindVmArea, VunmapLookup::RemoveFirst] {
        let mut m = knobbed(lookup(v));
        let wild = START + 0x10_0000;
        m.vfree(wild, Context::Process).unwrap();
        m.vunmap(wild, Context::Process).unwrap();
        assert_eq!(
            events(&mut m),
            vec![
                Event::NonexistentArea { addr: wild },
                Event::NonexistentArea { addr: wild }
            ]
        );
        // And a lazy VA the same way.
        let a = m.vmalloc(P, 1).unwrap().unwrap();
        m.vfree(a, Context::Process).unwrap();
        m.vfree(a, Context::Process).unwrap();
        assert_eq!(events(&mut m), vec![Event::NonexistentArea { addr: a }]);
    }
}

fn ioremap(rule: IoremapAlignRule) -> Model {
    let mut m = knobbed(Knobs {
        ioremap_align_rule: rule,
        ..Knobs::default()
    });
    // A 1-page vmalloc first: busy [S, S+2p), so the alignment shows in the address.
    m.vmalloc(P, 1).unwrap().unwrap();
    m
}

/// `get_vm_area(size, VM_IOREMAP)`: the address and the alignment the search used.
fn ioremap_area(m: &mut Model, size: u64) -> (u64, u64) {
    let info = m.get_vm_area(size, VmFlags::IOREMAP, 1).unwrap().unwrap();
    let area = m
        .busy_areas()
        .into_iter()
        .find(|a| a.start == info.addr)
        .unwrap();
    (info.addr, area.request.align)
}

#[test]
fn ioremap_align_rules() {
    use IoremapAlignRule::*;
    // 64 KiB. 4.9+: ceil_log2(0x10000) = 16 → 64 KiB: ALIGN(S+0x2000, 0x10000) = S+0x10000.
    // 4.1–4.8: fls_long(0x10000) = 17 → 128 KiB (bug 8): ALIGN(S+0x2000, 0x20000) =
    // S+0x20000. ≤4.0: fls(0x10000) = 17 as well.
    let cases = [
        (CountOrderAfterPagealign, 0x1_0000, 0x1_0000),
        (FlsLongBeforePagealign, 0x2_0000, 0x2_0000),
        (Fls, 0x2_0000, 0x2_0000),
    ];
    for (rule, addr, align) in cases {
        let mut m = ioremap(rule);
        assert_eq!(
            ioremap_area(&mut m, 0x1_0000),
            (START + addr, align),
            "{rule:?}"
        );
    }
    // 4 GiB. 4.9+: ceil_log2(2^32) = 32, clamped to 30 → 1 GiB: ALIGN(S+0x2000, 2^30) =
    // S+0x40000000. 4.1–4.8: fls_long(2^32) = 33 → clamped to 30, the same. ≤4.0: fls of
    // the low 32 bits, fls(0) = 0 → clamped to 12 → 4 KiB (bug 6): S+0x2000.
    let cases = [
        (CountOrderAfterPagealign, 0x4000_0000, 1 << 30),
        (FlsLongBeforePagealign, 0x4000_0000, 1 << 30),
        (Fls, 0x2000, 0x1000),
    ];
    for (rule, addr, align) in cases {
        let mut m = ioremap(rule);
        assert_eq!(
            ioremap_area(&mut m, 1 << 32),
            (START + addr, align),
            "{rule:?}"
        );
    }
    // 4 GiB + 64 KiB under fls: the low 32 bits are 0x10000, fls = 17 → 128 KiB.
    let mut m = ioremap(Fls);
    assert_eq!(
        ioremap_area(&mut m, (1 << 32) + 0x1_0000),
        (START + 0x2_0000, 0x2_0000)
    );
    // The old rules read the unaligned size: 0x10001 bytes. 4.1–4.8: fls_long(0x10001) = 17
    // → 128 KiB; 4.9+: PAGE_ALIGN → 0x11000, ceil_log2 = 17 → 128 KiB too. And 0x8001:
    // fls_long = 16 → 64 KiB; PAGE_ALIGN → 0x9000, ceil_log2 = 16 → 64 KiB.
    for rule in [FlsLongBeforePagealign, CountOrderAfterPagealign] {
        let mut m = ioremap(rule);
        assert_eq!(ioremap_area(&mut m, 0x1_0001).1, 0x2_0000, "{rule:?}");
        assert_eq!(ioremap_area(&mut m, 0x8001).1, 0x1_0000, "{rule:?}");
    }
}

fn highmem(v: ImplicitHighmem) -> Model {
    knobbed(Knobs {
        implicit_highmem: v,
        ..Knobs::default()
    })
}

#[test]
fn implicit_highmem_unconditional_bugs_on_vmalloc_32() {
    // 4.12 (bug 9): vmalloc_32's data pages get GFP_DMA32 | __GFP_HIGHMEM, an invalid zone
    // pair: gfp_zone BUGs at the first data-page request, before the fault injector counts
    // it. Before it: vm_struct, vmap_area, placement and the 8-byte kmalloc'ed array.
    let mut m = highmem(ImplicitHighmem::Unconditional);
    assert_eq!(m.vmalloc_32(P, 1), Err(Fatal::Bug(BugKind::InvalidZone)));
    assert_eq!(m.fault_attempts(), [1, 1, 1, 0, 0]);
    // vmalloc_32_user too (GFP_VMALLOC32 | __GFP_ZERO).
    let mut m = highmem(ImplicitHighmem::Unconditional);
    assert_eq!(
        m.vmalloc_32_user(P, 1),
        Err(Fatal::Bug(BugKind::InvalidZone))
    );
    // vmalloc (GFP_KERNEL): HIGHMEM alone is valid and selects nothing on x86-64: VA at S,
    // first pool page 0x100, as by default.
    let mut m = highmem(ImplicitHighmem::Unconditional);
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START)));
    assert_eq!(m.vmalloc_to_page(START), Some(0x100));
    check(&m);
}

#[test]
fn implicit_highmem_unconditional_bugs_after_the_nested_array() {
    // vmalloc_32 of 513 pages: the outer VA [S, S+514p) (vm_struct 1, vmap_area 1); the
    // array is 8·513 = 4104 bytes > 4096, so a nested vmalloc of 2 pages with nested_gfp |
    // HIGHMEM (no zone bit: valid): vm_struct 2, vmap_area 2, its 16-byte kmalloc'ed array
    // (pages_array 1), its 2 data pages (data_page 1, 2) and its tables for S+0x202000
    // (PUD, PMD, PTE: table_page 1–3). Only then the outer data page 0: the BUG, uncounted.
    let mut m = highmem(ImplicitHighmem::Unconditional);
    assert_eq!(
        m.vmalloc_32(513 * P, 1),
        Err(Fatal::Bug(BugKind::InvalidZone))
    );
    assert_eq!(m.fault_attempts(), [2, 2, 1, 2, 3]);
}

#[test]
fn implicit_highmem_other_values_accept_vmalloc_32() {
    // ≤4.11 adds nothing, 4.13+ adds nothing with DMA32: vmalloc_32 works; every pool page
    // of the default machine is DMA32, the first is 0x100.
    for v in [ImplicitHighmem::CallerProvided, ImplicitHighmem::UnlessDma] {
        let mut m = highmem(v);
        assert_eq!(m.vmalloc_32(P, 1), Ok(Some(START)), "{v:?}");
        assert_eq!(m.vmalloc_to_page(START), Some(0x100), "{v:?}");
        check(&m);
    }
}

#[test]
fn vmap_nowarn_not_honoured_prints_warning_3_alone() {
    // A NOWARN vmalloc in a 1-page window: the VA of 2 pages never fits. Nothing pending, so
    // the purge does nothing. ≤~4.10 prints warning 3 (VA 0x2000) anyway; warning 1 always
    // honours NOWARN.
    let call = |m: &mut Model, gfp: Gfp| {
        let end = START + P;
        m.vmalloc_node_range(P, 1, START, end, gfp, Prot::Kernel, VmFlags::NONE, None, 1)
    };
    let no = Knobs {
        vmap_nowarn_honoured: VmapNowarnHonoured::No,
        ..Knobs::default()
    };
    let mut m = knobbed(no);
    assert_eq!(call(&mut m, Gfp::KERNEL | Gfp::NOWARN), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::VmapAllocFailed { size: 0x2000 }]
    );
    // Without NOWARN: warnings 3 then 1, as by default.
    assert_eq!(call(&mut m, Gfp::KERNEL), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P }
        ]
    );
    // By default NOWARN silences both.
    let mut m = model();
    assert_eq!(call(&mut m, Gfp::KERNEL | Gfp::NOWARN), Ok(None));
    assert_eq!(events(&mut m), vec![]);
}

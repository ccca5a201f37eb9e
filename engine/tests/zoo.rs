//! The zoo (design §4.3, semantics §15): each historical bug and plantable deviation planted in
//! the engine fires under its condition and only then. Expected values are derived by hand
//! from the rule the entry breaks (each derivation is a comment beside the value); the correct
//! value is named beside the planted one.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.
#![cfg(feature = "planted-bugs")]

mod common;
use common::*;
use vmalloc_engine::{
    AlignWrapCheck, BugKind, Context, Event, Faithful4xCache, Fatal, FaultKind, FaultPlan, Gfp,
    ImplicitHighmem, IoremapAlignRule, Kernel, Knobs, PlantedBug, Prot, VmFlags,
    VmapNowarnHonoured, VunmapLookup,
};

/// The top of the address space: `2^64 - n`.
const fn top(n: u64) -> u64 {
    0u64.wrapping_sub(n)
}

fn with(bug: PlantedBug) -> Kernel {
    let mut k = kernel();
    k.set_planted_bug(Some(bug)).unwrap();
    k
}

/// `__get_vm_area(size, flags, start, end)`: the address, or `None`.
fn gva(k: &mut Kernel, size: u64, flags: VmFlags, start: u64, end: u64) -> Option<u64> {
    k.__get_vm_area(size, flags, start, end, 7)
        .expect("no fatal")
        .map(|v| v.addr.as_u64())
}

/// The busy areas as `(start, end)`, in address order.
fn spans(k: &Kernel) -> Vec<(u64, u64)> {
    k.busy_areas()
        .map(|b| (b.start.as_u64(), b.end.as_u64()))
        .collect()
}

/// A 4-page range `[V, V + 0x4000)` filled by two 1-page `get_vm_area`s (2-page VAs with their
/// guards), the lower one freed lazily: the range is full until a purge.
fn full_range_with_lazy_hole(k: &mut Kernel) {
    let a = gva(k, P, VmFlags::empty(), V, V + 4 * P).unwrap(); // [V, V + 2P)
    gva(k, P, VmFlags::empty(), V, V + 4 * P).unwrap(); // [V + 2P, V + 4P)
    k.free_vm_area(a).unwrap(); // lazy: lazy_nr = 2 (guard included, R9 step 2)
    assert_eq!(k.lazy_nr(), 2);
    events(k);
}

#[test]
fn knob_entries_name_their_old_value() {
    let expected = [
        (
            PlantedBug::IoremapAlignDoubled,
            ("ioremap_align_rule", "fls_long_before_pagealign"),
        ),
        (
            PlantedBug::ImplicitHighmemUnconditional,
            ("implicit_highmem", "unconditional"),
        ),
        (
            PlantedBug::VunmapNullDeref,
            ("vunmap_lookup", "find_vmap_area_deref"),
        ),
        (PlantedBug::AlignWrapUnchecked, ("align_wrap_check", "off")),
        (PlantedBug::CacheStrictHoleTest, ("faithful_4x_cache", "on")),
        (
            PlantedBug::VmapWarningIgnoresNowarn,
            ("vmap_nowarn_honoured", "no"),
        ),
    ];
    for bug in PlantedBug::ALL {
        let want = expected.iter().find(|(b, _)| *b == bug).map(|(_, kv)| *kv);
        assert_eq!(bug.knob(), want, "{bug:?}");
        // The typed application agrees with the spelling, and changes nothing else.
        let mut by_name = Knobs::default();
        if let Some((key, value)) = want {
            by_name.set(key, value).unwrap();
            assert_ne!(by_name, Knobs::default(), "{bug:?} names a default value");
        }
        assert_eq!(bug.apply_knob(Knobs::default()), by_name, "{bug:?}");
    }
}

#[test]
fn a_knob_entry_sets_the_engine_knob_and_deselecting_restores_the_machine_value() {
    let mut k = kernel();
    k.set_planted_bug(Some(PlantedBug::CacheStrictHoleTest))
        .unwrap();
    assert_eq!(k.knobs().faithful_4x_cache, Faithful4xCache::On);
    // The machine as booted is unchanged.
    assert_eq!(k.config().knobs, Knobs::default());
    k.set_planted_bug(Some(PlantedBug::AlignWrapUnchecked))
        .unwrap();
    assert_eq!(k.knobs().faithful_4x_cache, Faithful4xCache::Off);
    assert_eq!(k.knobs().align_wrap_check, AlignWrapCheck::Off);
    k.set_planted_bug(None).unwrap();
    assert_eq!(k.knobs(), Knobs::default());
    // A machine that already runs the old value keeps it under another entry.
    let mut k = kernel_with(|c| c.knobs = Knobs::v4_19_0());
    k.set_planted_bug(Some(PlantedBug::DropGfpZero)).unwrap();
    assert_eq!(k.knobs(), Knobs::v4_19_0());
}

#[test]
fn failure_purge_skipped() {
    let mut k = with(PlantedBug::FailurePurgeSkipped);
    full_range_with_lazy_hole(&mut k);
    // R3 (correct): no fit, purge (TLB flush over [V, V + 2P)), retry at V. Planted: the retry
    // sees the same full range: NULL with warning 3 for the 2-page VA, the lazy VA stays.
    assert_eq!(gva(&mut k, P, VmFlags::empty(), V, V + 4 * P), None);
    assert_eq!(events(&mut k), vec![Event::VmapAllocFailed { size: 2 * P }]);
    assert_eq!(k.lazy_nr(), 2);
    // Other purges still run: after one, the same request fits at V.
    k.vm_unmap_aliases();
    assert_eq!(gva(&mut k, P, VmFlags::empty(), V, V + 4 * P), Some(V));
}

#[test]
fn retry_not_from_vstart() {
    let mut k = with(PlantedBug::RetryNotFromVstart);
    full_range_with_lazy_hole(&mut k);
    // The purge runs (one flush over the lazy VA [V, V + 2P)), then the call fails anyway:
    // warning 3 for the 2-page VA. Correct: the retry places it at V with no warning.
    assert_eq!(gva(&mut k, P, VmFlags::empty(), V, V + 4 * P), None);
    assert_eq!(
        events(&mut k),
        vec![
            Event::TlbFlush {
                start: V,
                end: V + 2 * P
            },
            Event::VmapAllocFailed { size: 2 * P }
        ]
    );
    assert_eq!(k.lazy_nr(), 0);
    // The space the purge released is used by the next call's first search.
    assert_eq!(gva(&mut k, P, VmFlags::empty(), V, V + 4 * P), Some(V));
}

#[test]
fn overflow_check_minus_one() {
    let mut k = with(PlantedBug::OverflowCheckMinusOne);
    // A candidate that ends below 2^64 is untouched: [2^64 - 4P, 2^64 - 2P).
    assert_eq!(
        gva(&mut k, P, VmFlags::empty(), top(4 * P), u64::MAX),
        Some(top(4 * P))
    );
    // The walk passes that area to ALIGN(2^64 - 2P) = 2^64 - 2P, whose 2-page VA ends exactly
    // at 2^64. Correct (R4, `a + size` must not wrap): no fit, NULL with warning 3. Planted:
    // `addr + size - 1` does not wrap, so it is taken, and the insert BUGs.
    assert_eq!(
        k.__get_vm_area(P, VmFlags::empty(), top(4 * P), u64::MAX, 7),
        Err(Fatal::Bug(BugKind::Oops))
    );
    assert_eq!(k.fatal(), Some(Fatal::Bug(BugKind::Oops)));
    // The correct engine for the same two calls.
    let mut k = kernel();
    gva(&mut k, P, VmFlags::empty(), top(4 * P), u64::MAX).unwrap();
    assert_eq!(gva(&mut k, P, VmFlags::empty(), top(4 * P), u64::MAX), None);
    assert_eq!(events(&mut k), vec![Event::VmapAllocFailed { size: 2 * P }]);
}

#[test]
fn overflow_check_minus_one_on_an_empty_machine() {
    // No busy area at all: the kernel would insert [2^64 - 2P, 0) and BUG at the next insert
    // below it; the engine, which cannot hold an area ending at 0, BUGs at once.
    let mut k = with(PlantedBug::OverflowCheckMinusOne);
    assert_eq!(
        k.__get_vm_area(P, VmFlags::empty(), top(2 * P), u64::MAX, 7),
        Err(Fatal::Bug(BugKind::Oops))
    );
}

#[test]
fn ioremap_align_low_32_bits() {
    // 4 GiB with VM_IOREMAP: correct order min(ceil(log2(2^32)), 30) = 30, so 1 GiB. Planted:
    // the low 32 bits are 0, PAGE_ALIGN(0) = 0, order 0 clamped to 12: 4 KiB.
    let mut k = with(PlantedBug::IoremapAlignLow32Bits);
    ok(k.vmalloc(P, 1)); // [V, V + 2P)
    let big = gva(&mut k, 1 << 32, VmFlags::IOREMAP, V, VEND);
    assert_eq!(big, Some(V + 2 * P)); // correct: V + 1 GiB (V is 1 GiB aligned)
    let mut k = kernel();
    ok(k.vmalloc(P, 1));
    assert_eq!(
        gva(&mut k, 1 << 32, VmFlags::IOREMAP, V, VEND),
        Some(V + (1 << 30))
    );
    // Below 4 GiB nothing changes: 64 KiB is aligned to 64 KiB.
    let mut k = with(PlantedBug::IoremapAlignLow32Bits);
    ok(k.vmalloc(P, 1));
    assert_eq!(
        gva(&mut k, 0x10000, VmFlags::IOREMAP, V, VEND),
        Some(V + 0x10000)
    );
}

#[test]
fn ioremap_align_doubled() {
    // Bug 8: fls_long(0x10000) = 17, so 128 KiB; correct ceil(log2(0x10000)) = 16, 64 KiB.
    let mut k = with(PlantedBug::IoremapAlignDoubled);
    assert_eq!(
        k.knobs().ioremap_align_rule,
        IoremapAlignRule::FlsLongBeforePagealign
    );
    ok(k.vmalloc(P, 1)); // [V, V + 2P)
    assert_eq!(
        gva(&mut k, 0x10000, VmFlags::IOREMAP, V, VEND),
        Some(V + 0x20000)
    );
    // 0x11000 is not a power of two: 128 KiB under every rule.
    assert_eq!(
        gva(&mut k, 0x11000, VmFlags::IOREMAP, V, VEND),
        Some(V + 0x40000)
    );
}

#[test]
fn implicit_highmem_unconditional() {
    let mut k = with(PlantedBug::ImplicitHighmemUnconditional);
    assert_eq!(k.knobs().implicit_highmem, ImplicitHighmem::Unconditional);
    // vmalloc adds highmem to GFP_KERNEL: a valid zone list, as before.
    ok(k.vmalloc(P, 1));
    // vmalloc_32: GFP_DMA32 | __GFP_HIGHMEM at its first data page, the gfp_zone BUG.
    // Correct: one DMA32 page.
    assert_eq!(k.vmalloc_32(P, 2), Err(Fatal::Bug(BugKind::InvalidZone)));
}

#[test]
fn vunmap_null_deref() {
    let mut k = with(PlantedBug::VunmapNullDeref);
    assert_eq!(k.knobs().vunmap_lookup, VunmapLookup::FindVmapAreaDeref);
    // A lazily freed VA is still busy: its NULL `vm` gives warning 5, as the default does.
    let a = ok(k.vmalloc(P, 1));
    k.vfree(a, Context::Process).unwrap();
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(events(&mut k), vec![Event::NonexistentArea { addr: V }]);
    // After the purge V is in no busy VA: the NULL dereference. Correct: warning 5, no-op.
    k.vm_unmap_aliases();
    assert_eq!(k.vfree(a, Context::Process), Err(Fatal::Bug(BugKind::Oops)));
}

#[test]
fn align_wrap_unchecked() {
    let mut k = with(PlantedBug::AlignWrapUnchecked);
    // R4: ALIGN(0xffffc90000000000, 2^46) wraps to 0. Correct: no fit, NULL with warnings 3
    // and 1. v4.19.0: BUG_ON(va_start < vstart).
    let r = k.vmalloc_node_range(
        P,
        1 << 46,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    );
    assert_eq!(r, Err(Fatal::Bug(BugKind::VaStartBelowVstart)));
    // 2^45 does not wrap (0xffffe00000000000): placed as usual.
    let mut k = with(PlantedBug::AlignWrapUnchecked);
    let r = k.vmalloc_node_range(
        P,
        1 << 45,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    );
    assert_eq!(r.unwrap().unwrap().as_u64(), 0xffff_e000_0000_0000);
}

#[test]
fn cache_strict_hole_test() {
    // semantics §4.4's example with 1-page VAs (VM_NO_GUARD), align 1.
    let mut k = with(PlantedBug::CacheStrictHoleTest);
    let ng = VmFlags::NO_GUARD;
    assert_eq!(gva(&mut k, P, ng, V, VEND), Some(V));
    let b = gva(&mut k, P, ng, V, VEND).unwrap(); // V + P
    assert_eq!(gva(&mut k, P, ng, V, VEND), Some(V + 2 * P));
    k.free_vm_area(b).unwrap();
    // The purge moves the cache to the area at V. Two pages: the walk from the cache records
    // the 1-page hole at V + P and places at V + 3P.
    k.vm_unmap_aliases();
    assert_eq!(gva(&mut k, 2 * P, ng, V, VEND), Some(V + 3 * P));
    // One page: `P < cached_hole_size = P` is false, so the cache (the area at V + 3P) stays
    // and the search starts at V + 5P. Correct (lowest fit): V + P.
    assert_eq!(gva(&mut k, P, ng, V, VEND), Some(V + 5 * P));
}

#[test]
fn insert_accepts_overlap() {
    let mut k = with(PlantedBug::InsertAcceptsOverlap);
    let a = gva(&mut k, P, VmFlags::empty(), V, VEND).unwrap(); // [V, V + 2P)
    gva(&mut k, P, VmFlags::empty(), V, VEND).unwrap(); // [V + 2P, V + 4P)
    k.free_vm_area(a).unwrap();
    // The purge leaves the hole [V, V + 2P). A 3-page VA: correct at V + 4P. Planted: the
    // 2-page hole is taken, and the new area overlaps the next one's first page (I1).
    k.vm_unmap_aliases();
    assert_eq!(gva(&mut k, 2 * P, VmFlags::empty(), V, VEND), Some(V));
    assert_eq!(spans(&k), vec![(V, V + 3 * P), (V + 2 * P, V + 4 * P)]);
    // A hole one page short at the end of the range is not taken: nothing may pass vend.
    let mut k = with(PlantedBug::InsertAcceptsOverlap);
    assert_eq!(gva(&mut k, 2 * P, VmFlags::empty(), V, V + 2 * P), None);
    // A 1-page VA (no guard) has no page to spare: placed as usual.
    let mut k = with(PlantedBug::InsertAcceptsOverlap);
    assert_eq!(gva(&mut k, P, VmFlags::NO_GUARD, V, VEND), Some(V));
    assert_eq!(gva(&mut k, P, VmFlags::NO_GUARD, V, VEND), Some(V + P));
}

#[test]
fn array_failure_warns() {
    let plan = || FaultPlan::new().fail(FaultKind::PagesArray, 1);
    let mut k = kernel_with(|c| c.fault_plan = plan());
    k.set_planted_bug(Some(PlantedBug::ArrayFailureWarns))
        .unwrap();
    // R13 step 4: the kmalloc'ed array fails; the VA [V, V + 2P) goes lazy. Correct: no
    // warning. Planted: warning 2 with nothing allocated of the 2-page area.
    assert_eq!(k.vmalloc(P, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 2 * P
        }]
    );
    assert_eq!(k.lazy_nr(), 2);
    // NOWARN silences it.
    let mut k = kernel_with(|c| c.fault_plan = plan());
    k.set_planted_bug(Some(PlantedBug::ArrayFailureWarns))
        .unwrap();
    assert_eq!(
        k.__vmalloc(P, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn vmap_warning_ignores_nowarn() {
    let mut k = with(PlantedBug::VmapWarningIgnoresNowarn);
    assert_eq!(k.knobs().vmap_nowarn_honoured, VmapNowarnHonoured::No);
    // A 2-page VA in a 1-page range: no fit. Correct under NOWARN: no warning at all.
    // Planted: warning 3 anyway (size 2P, guard included); warning 1 still honours NOWARN.
    let r = k.vmalloc_node_range(
        P,
        1,
        V,
        V + P,
        Gfp::KERNEL | Gfp::NOWARN,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(events(&mut k), vec![Event::VmapAllocFailed { size: 2 * P }]);
}

#[test]
fn the_correct_engine_gives_the_values_named_beside_the_planted_ones() {
    // Bugs 2 and 3: purge, then the retry places the VA at V (R3).
    let mut k = kernel();
    full_range_with_lazy_hole(&mut k);
    assert_eq!(gva(&mut k, P, VmFlags::empty(), V, V + 4 * P), Some(V));
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 2 * P
        }]
    );
    // P1: lowest fit takes the 1-page hole at V + P.
    let mut k = kernel();
    let ng = VmFlags::NO_GUARD;
    gva(&mut k, P, ng, V, VEND).unwrap();
    let b = gva(&mut k, P, ng, V, VEND).unwrap();
    gva(&mut k, P, ng, V, VEND).unwrap();
    k.free_vm_area(b).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(gva(&mut k, 2 * P, ng, V, VEND), Some(V + 3 * P));
    assert_eq!(gva(&mut k, P, ng, V, VEND), Some(V + P));
    // P2: the 3-page VA goes above both areas.
    let mut k = kernel();
    let a = gva(&mut k, P, VmFlags::empty(), V, VEND).unwrap();
    gva(&mut k, P, VmFlags::empty(), V, VEND).unwrap();
    k.free_vm_area(a).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(
        gva(&mut k, 2 * P, VmFlags::empty(), V, VEND),
        Some(V + 4 * P)
    );
    // P3: a pages-array failure is silent (R13 step 4).
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::PagesArray, 1));
    assert_eq!(k.vmalloc(P, 1), Ok(None));
    assert_eq!(events(&mut k), vec![]);
    // NOWARN silences warning 3 too (semantics §11.1).
    let mut k = kernel();
    let r = k.vmalloc_node_range(
        P,
        1,
        V,
        V + P,
        Gfp::KERNEL | Gfp::NOWARN,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(events(&mut k), vec![]);
    // Bugs 9, 13, 16: vmalloc_32 succeeds, a free in no busy VA warns, a wrapped ALIGN is
    // no fit (warnings 3 then 1).
    let mut k = kernel();
    ok(k.vmalloc_32(P, 1));
    k.vfree(V + 0x10_0000, Context::Process).unwrap();
    assert_eq!(
        events(&mut k),
        vec![Event::NonexistentArea {
            addr: V + 0x10_0000
        }]
    );
    let r = k.vmalloc_node_range(
        P,
        1 << 46,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::VmapAllocFailed { size: 2 * P },
            Event::AllocFailure { bytes: P }
        ]
    );
}

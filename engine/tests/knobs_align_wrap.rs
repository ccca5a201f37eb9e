//! Knob `align_wrap_check` (semantics §4.3 "found", R4, R13; bug 16): `on` (default)
//! makes a candidate whose `ALIGN` wraps past 2^64 no fit; `off` (v4.19.0) inserts the
//! wrapped address 0 and hits `BUG_ON(va->va_start < vstart)`, "kernel BUG at
//! mm/vmalloc.c:512!", `BugKind::VaStartBelowVstart`, at placement (R13 step 3).
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{
    AlignWrapCheck, BugKind, Context, Event, Fatal, FaultKind, FaultPlan, Gfp, Kernel, Knobs,
    MachineConfig, Prot, VirtAddr, VmFlags,
};

const BUG: Fatal = Fatal::Bug(BugKind::VaStartBelowVstart);

fn knobs_off() -> Knobs {
    Knobs {
        align_wrap_check: AlignWrapCheck::Off,
        ..Knobs::default()
    }
}

fn with(knobs: Knobs) -> Kernel {
    kernel_with(|c| c.knobs = knobs)
}

/// `__vmalloc_node_range(size, align, [start, end), gfp, PAGE_KERNEL, flags, NUMA_NO_NODE)`.
#[allow(clippy::too_many_arguments)]
fn range(
    k: &mut Kernel,
    size: u64,
    align: u64,
    start: u64,
    end: u64,
    gfp: Gfp,
    flags: VmFlags,
    caller: u32,
) -> Result<Option<u64>, Fatal> {
    k.vmalloc_node_range(
        size,
        align,
        start,
        end,
        gfp,
        Prot::Kernel,
        flags,
        None,
        caller,
    )
    .map(|r| r.map(VirtAddr::as_u64))
}

/// How test_vmalloc's `align_shift_alloc_test` loop ended: the first NULL or the BUG.
#[derive(Debug, PartialEq)]
enum End {
    Null(u32),
    Bug(u32, Fatal),
    Survived,
}

/// `align_shift_alloc_test`: for i = 0..64, `__vmalloc_node(PAGE_SIZE, 1 << i,
/// GFP_KERNEL | __GFP_ZERO)`, then vfree; the test returns at the first NULL. With `purge`,
/// `vm_unmap_aliases` after each vfree (so no lazy VA stays busy). Each success is checked
/// against `expect(i)`.
fn align_shift(k: &mut Kernel, purge: bool, expect: impl Fn(u32) -> u64) -> End {
    for i in 0..64u32 {
        let r = range(
            k,
            P,
            1 << i,
            V,
            VEND,
            Gfp::KERNEL | Gfp::ZERO,
            VmFlags::empty(),
            i,
        );
        match r {
            Ok(Some(a)) => {
                assert_eq!(a, expect(i), "align 2^{i}");
                k.vfree(a, Context::Process).unwrap();
                if purge {
                    k.vm_unmap_aliases();
                }
            }
            Ok(None) => return End::Null(i),
            Err(f) => return End::Bug(i, f),
        }
    }
    End::Survived
}

/// Without purges every earlier VA stays busy (lazily freed; at most 46 VAs of 2 pages
/// pending, far below `lazy_max_pages` = 24576). Offsets from V = 0xffffc9 · 2^40, which is
/// 2^40- but not 2^41-aligned; VMALLOC_END − V = 2^45 − 1:
/// - i = 0..=12: each VA right above the previous: V + 0x2000·i.
/// - i = 13: ALIGN(0x1a000, 0x2000) = 0x1a000; 14: ALIGN(0x1c000, 0x4000) = 0x1c000;
///   15: ALIGN(0x1e000, 0x8000) = 0x20000; 16: ALIGN(0x22000, 0x10000) = 0x30000 (0, 0x10000
///   and 0x20000 are busy).
/// - i = 17..=40: 2^(i+1) (0 and 2^i are busy, placed by i − 1).
/// - in units of 2^40: i = 41: ALIGN(c9, 2) = ca is busy (i = 40) → cc; 42: → d0; 43: d0
///   busy → d8; 44: d0 busy → e0 = 0xffffe00000000000 (e0 + 0x2000 <= VMALLOC_END).
///
/// The faithful search gives the same addresses: each search starts from the cache (the VA of
/// i − 1), and ALIGN(its end, 2^i) is the address above (no hole is ever recorded, the cache
/// is never reset: align only grows and vstart stays V).
///
/// i = 45: the only multiple of 2^45 in the window is e0, busy (i = 44's lazy VA):
/// - default: ALIGN(e0 + 0x2000, 2^45) wraps: no fit (R4); purge (one flush over every lazy
///   VA), retry: e0 is free now: success. i = 46: ALIGN(V, 2^46) wraps at once: purge (only
///   i = 45's VA), retry: no fit: NULL (warnings 3 then 1). First NULL: i = 46.
/// - `align_wrap_check=off`, lowest fit: no fit, so the cache-less 4.x walk decides: addr =
///   ALIGN(V, 2^45) = e0, first = the VA at e0: e0 + 0x2000 > e0 and <= VMALLOC_END; addr =
///   ALIGN(e0 + 0x2000, 2^45) = 0 (wrapped); it is the last VA: found 0 + 0x2000 <= vend:
///   inserted at 0 < V: the BUG, **at i = 45**, before any purge.
/// - v4.19.0 preset: the cache is the VA at e0 (`cached_align` 2^44 <= 2^45, hole 0): addr =
///   ALIGN(e0 + 0x2000, 2^45) = 0 < V: reset, full search from V: the same walk: the BUG at
///   i = 45.
///
/// So in this simulation, where the VAs of earlier iterations are still lazily pending, the
/// BUG comes one iteration before the first NULL of the default: at i = 45, where the only
/// 2^45-aligned slot is taken (R4: "smaller alignments reach a wrapped candidate only once
/// every aligned candidate above the start is taken").
#[test]
fn align_shift_alloc_test_without_purges() {
    let expect = |i: u32| -> u64 {
        match i {
            0..=12 => V + 0x2000 * i as u64,
            13 => V + 0x1a000,
            14 => V + 0x1c000,
            15 => V + 0x20000,
            16 => V + 0x30000,
            17..=40 => V + (1u64 << (i + 1)),
            41 => 0xffff_cc00_0000_0000,
            42 => 0xffff_d000_0000_0000,
            43 => 0xffff_d800_0000_0000,
            44 | 45 => 0xffff_e000_0000_0000,
            _ => 0,
        }
    };
    let mut k = kernel();
    assert_eq!(align_shift(&mut k, false, expect), End::Null(46));
    assert_eq!(
        events(&mut k).last(),
        Some(&Event::AllocFailure { bytes: 4096 })
    );

    for knobs in [knobs_off(), Knobs::v4_19_0()] {
        let mut k = with(knobs);
        assert_eq!(align_shift(&mut k, false, expect), End::Bug(45, BUG));
        // The BUG sits at placement: i = 0..=45 made a vm_struct and a vmap_area attempt
        // each (46), only i = 0..=44 a pages array and a data page (45). No purge ran at
        // i = 45: the last events are i = 44's (none: its placement needed no purge).
        let [vm_struct, vmap_area, array, data, _] = k.fault_attempts();
        assert_eq!([vm_struct, vmap_area, array, data], [46, 46, 45, 45]);
        assert!(!events(&mut k)
            .iter()
            .any(|e| matches!(e, Event::TlbFlush { .. })));
        assert_eq!(k.fatal(), Some(BUG));
        assert_eq!(k.vmalloc(P, 99), Err(BUG));
    }
}

/// With a purge after every free, every search starts from an empty window (faithful: each
/// purge frees the cached VA, whose predecessor is none, so every search is cache-less), and
/// the result is ALIGN(V, 2^i): V for i <= 40; in units of 2^40, ALIGN(c9, 2^(i−40)): i = 41
/// ca, 42 cc, 43 d0, 44 d0, 45 e0. i = 46: ALIGN(V, 2^46) wraps (2^64 − V = 0x370000000000
/// < 2^46 − 1). Default: no fit, purge (nothing pending: no flush), no fit: NULL with warnings
/// 3 (VA size 8192) then 1 (4096 bytes). Knob off and the preset: no busy VA at all, the
/// search goes straight to found with addr 0: the BUG **at i = 46**.
#[test]
fn align_shift_alloc_test_with_purges() {
    let expect = |i: u32| -> u64 {
        match i {
            0..=40 => V,
            41 => 0xffff_ca00_0000_0000,
            42 => 0xffff_cc00_0000_0000,
            43 | 44 => 0xffff_d000_0000_0000,
            45 => 0xffff_e000_0000_0000,
            _ => 0,
        }
    };
    let mut k = kernel();
    assert_eq!(align_shift(&mut k, true, expect), End::Null(46));
    let ev = events(&mut k);
    assert_eq!(
        ev[ev.len() - 2..],
        [
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 }
        ]
    );
    for knobs in [knobs_off(), Knobs::v4_19_0()] {
        let mut k = with(knobs);
        assert_eq!(align_shift(&mut k, true, expect), End::Bug(46, BUG));
    }
}

/// The BUG's place in the allocation order (R13): after the vm_struct (step 1) and vmap_area
/// (step 2) attempts, at placement (step 3), with no event. A failed step 1 or 2 comes first
/// and gives NULL with warning 1 only (R13), not the BUG.
#[test]
fn the_bug_comes_after_the_metadata_allocations() {
    let huge = |k: &mut Kernel| range(k, P, 1 << 46, V, VEND, Gfp::KERNEL, VmFlags::empty(), 1);
    let mut k = with(knobs_off());
    assert_eq!(huge(&mut k), Err(BUG));
    assert_eq!(k.fault_attempts(), [1, 1, 0, 0, 0]);
    assert_eq!(events(&mut k), vec![]);
    for kind in [FaultKind::VmStruct, FaultKind::VmapArea] {
        let mut k = Kernel::new(MachineConfig {
            knobs: knobs_off(),
            fault_plan: FaultPlan::new().fail(kind, 1),
            ..MachineConfig::default()
        })
        .unwrap();
        assert_eq!(huge(&mut k), Ok(None));
        assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 4096 }]);
        assert_eq!(k.fatal(), None);
    }
}

/// The modules window (R4): from MODULES_VADDR 0xffffffffa0000000, ALIGN(., 2^30) =
/// 0xffffffffc0000000 fits below MODULES_END, ALIGN(., 2^31) wraps (2^64 − 2^31 =
/// 0xffffffff80000000 is below the start). Default: NULL with warnings 3 (8192) and 1 (4096),
/// the purge finding nothing pending. Knob off: the BUG.
#[test]
fn modules_window_at_2_pow_31() {
    let m = |k: &mut Kernel, align: u64| {
        range(
            k,
            P,
            align,
            MODULES,
            MODULES_END,
            Gfp::KERNEL,
            VmFlags::empty(),
            1,
        )
    };
    let mut k = kernel();
    assert_eq!(m(&mut k, 1 << 30), Ok(Some(0xffff_ffff_c000_0000)));
    assert_eq!(m(&mut k, 1 << 31), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 }
        ]
    );
    let mut k = with(knobs_off());
    assert_eq!(m(&mut k, 1 << 30), Ok(Some(0xffff_ffff_c000_0000)));
    assert_eq!(m(&mut k, 1 << 31), Err(BUG));
}

/// A KASLR module start, MODULES_VADDR 0xffffffffc0000000 + offset 0x1000 (R4: from 2^30):
/// ALIGN(0xffffffffc0001000, 2^29) = 0xffffffffe0000000 fits; ALIGN(., 2^30) =
/// 0xffffffffc0000000 + 2^30 = 2^64 wraps: the BUG with the knob off (module_alloc itself
/// uses align 4096; the request goes through `__vmalloc_node_range` over its window).
#[test]
fn kaslr_module_start_at_2_pow_30() {
    let mut k = kernel_with(|c| {
        c.modules_vaddr = 0xffff_ffff_c000_0000;
        c.module_load_offset = 0x1000;
        c.knobs = knobs_off();
    });
    let start = 0xffff_ffff_c000_1000;
    let m = |k: &mut Kernel, align: u64| {
        range(
            k,
            P,
            align,
            start,
            MODULES_END,
            Gfp::KERNEL,
            VmFlags::empty(),
            1,
        )
    };
    assert_eq!(m(&mut k, 1 << 29), Ok(Some(0xffff_ffff_e000_0000)));
    assert_eq!(m(&mut k, 1 << 30), Err(BUG));
}

/// A small alignment reaches a wrapped candidate once every aligned candidate above the start
/// is taken. `__get_vm_area(4K, VM_NO_GUARD, T, ULONG_MAX)` with T = 2^64 − 8 pages (page
/// units from T below): [0, 1) and [4, 5) are taken (the second by an exact window). Then
/// 1 page with align 4 pages over [T, ULONG_MAX): candidates ALIGN(T) = 0 busy, ALIGN(1) = 4
/// busy, ALIGN(5) = 8 = 2^64: wraps. Lowest fit: none. The walk: addr 0, first [0, 1): 1 > 0;
/// addr = 4; next [4, 5): 5 > 4, below vend; addr = ALIGN(5) = 0 (wrapped); last: found at
/// 0 < T. Default: NULL with warning 3 only (VA size 4096; R3's purge finds nothing). Off: BUG.
///
/// With vend = T + 4 pages the walk stops first: at [4, 5) the candidate 4 + 1 > vend: found
/// with 5 > 4: an ordinary overflow, NULL, no BUG even with the knob off.
#[test]
fn small_alignment_wraps_once_the_candidates_are_taken() {
    let t = 0u64.wrapping_sub(8 * P);
    for (knobs, wrapped) in [(Knobs::default(), Ok(None)), (knobs_off(), Err(BUG))] {
        let mut k = with(knobs);
        let a = k
            .__get_vm_area(P, VmFlags::NO_GUARD, t, u64::MAX, 1)
            .unwrap();
        assert_eq!(a.map(|v| v.addr.as_u64()), Some(t));
        let b = k
            .__get_vm_area(P, VmFlags::NO_GUARD, t + 4 * P, t + 5 * P, 2)
            .unwrap();
        assert_eq!(b.map(|v| v.addr.as_u64()), Some(t + 4 * P));
        let small_vend = range(
            &mut k,
            P,
            4 * P,
            t,
            t + 4 * P,
            Gfp::KERNEL,
            VmFlags::NO_GUARD,
            3,
        );
        assert_eq!(small_vend, Ok(None));
        assert_eq!(
            events(&mut k),
            vec![
                Event::VmapAllocFailed { size: 4096 },
                Event::AllocFailure { bytes: 4096 }
            ]
        );
        let full = range(
            &mut k,
            P,
            4 * P,
            t,
            u64::MAX,
            Gfp::KERNEL,
            VmFlags::NO_GUARD,
            4,
        );
        assert_eq!(full, wrapped);
    }
}

/// The BUG can come on the retry after the overflow purge: a lazy VA makes the first search
/// stop at a candidate past vend; once purged, the walk reaches the wrap. With c = 2^64 −
/// 2^41 (2^40-aligned), X = [c + 1P, c + 2P) lazy, W = [c + 2P, c + 2^40 + 1P) live; request:
/// 4 pages, align 2^40, VM_NO_GUARD, over [c, c + 4P).
/// - First search: lowest fit: ALIGN(c) = c overlaps X; ALIGN(X end) = c + 2^40 ends past
///   vend; ALIGN(W end) wraps: none. The walk: addr c, first X: c + 4P > X start, <= vend;
///   addr = ALIGN(c + 2P, 2^40) = c + 2^40; next W: c + 2^40 + 4P > vend: stop; found: past
///   vend: overflow (no wrap). Purge: flush [c + 1P, c + 2P).
/// - Retry: lowest fit: c overlaps W; ALIGN(W end) wraps: none. The walk: first W: c + 4P >
///   c + 2P, <= vend; addr = ALIGN(c + 2^40 + 1P, 2^40) = c + 2^41 = 2^64 → 0; last: found
///   at 0 < c: the BUG (knob off), or NULL with warnings 3 (16 KiB) and 1 (16 KiB) (default).
///
/// The v4.19.0 search agrees: the request's vstart c is below `cached_vstart` (c + 2P, W's
/// request), so both searches are cache-less.
#[test]
fn the_bug_can_come_on_the_retry_after_the_purge() {
    let c = 0u64.wrapping_sub(1 << 41);
    for (knobs, result) in [
        (Knobs::default(), Ok(None)),
        (knobs_off(), Err(BUG)),
        (Knobs::v4_19_0(), Err(BUG)),
    ] {
        let mut k = with(knobs);
        let x = k
            .__get_vm_area(P, VmFlags::NO_GUARD, c + P, c + 2 * P, 1)
            .unwrap()
            .unwrap();
        let w_size = (1 << 40) - P;
        let w = k
            .__get_vm_area(w_size, VmFlags::NO_GUARD, c + 2 * P, c + (1 << 40) + P, 2)
            .unwrap()
            .unwrap();
        assert_eq!(
            [x.addr.as_u64(), w.addr.as_u64()],
            [c + P, c + 2 * P],
            "{knobs:?}"
        );
        k.free_vm_area(x.addr).unwrap();
        let r = range(
            &mut k,
            4 * P,
            1 << 40,
            c,
            c + 4 * P,
            Gfp::KERNEL,
            VmFlags::NO_GUARD,
            3,
        );
        assert_eq!(r, result, "{knobs:?}");
        let mut want = vec![Event::TlbFlush {
            start: c + P,
            end: c + 2 * P,
        }];
        if result.is_ok() {
            want.push(Event::VmapAllocFailed { size: 4 * P });
            want.push(Event::AllocFailure { bytes: 4 * P });
        }
        assert_eq!(events(&mut k), want, "{knobs:?}");
    }
}

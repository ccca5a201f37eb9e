//! Version knobs of the VA search (semantics §13): `faithful_4x_cache` (semantics §4.3, semantics
//! §4.4) and `align_wrap_check` (R4).
//!
//! Cache traces use `S` = VMALLOC_START, `p` = a page, and write the four 4.x globals as
//! `cache` (the cached VA), `hole` (`cached_hole_size`), `vs` (`cached_vstart`) and `al`
//! (`cached_align`). Every search below keeps `vs` and `al` unless it says otherwise.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

use super::*;
use crate::{AlignWrapCheck, BugKind, Context, Faithful4xCache, Fatal, Gfp, Knobs, Prot, VmFlags};

fn knobbed(knobs: Knobs) -> Model {
    model_with(|c| c.knobs = knobs)
}

fn faithful() -> Knobs {
    Knobs {
        faithful_4x_cache: Faithful4xCache::On,
        ..Knobs::default()
    }
}

fn wrap_check_off() -> Knobs {
    Knobs {
        align_wrap_check: AlignWrapCheck::Off,
        ..Knobs::default()
    }
}

/// `__vmalloc_node_range(size, align, [vstart, vend), GFP_KERNEL, PAGE_KERNEL, 0, node)`.
fn range(
    m: &mut Model,
    size: u64,
    align: u64,
    vstart: u64,
    vend: u64,
    node: Option<u32>,
) -> Result<Option<u64>, Fatal> {
    let gfp = Gfp::KERNEL;
    m.vmalloc_node_range(
        size,
        align,
        vstart,
        vend,
        gfp,
        Prot::Kernel,
        VmFlags::NONE,
        node,
        1,
    )
}

/// `__get_vm_area(pages·4096, VM_NO_GUARD, VMALLOC_START, VMALLOC_END)`'s address.
fn no_guard(m: &mut Model, pages: u64) -> u64 {
    let info = m.__get_vm_area(pages * P, VmFlags::NO_GUARD, START, END, 1);
    info.unwrap().unwrap().addr
}

#[test]
fn faithful_cache_skips_the_exact_fit_hole_of_4_4() {
    for (knobs, last) in [(Knobs::default(), START + P), (faithful(), START + 5 * P)] {
        let mut m = knobbed(knobs);
        // semantics §4.4's example with VM_NO_GUARD areas (VA = the size), align 1, in pages from
        // S. Lowest fit and the 4.x search agree on the first three: S, S+p, S+2p (4.x: the
        // first search resets, finds no VA and takes S; the next two start from the cache,
        // the VA just placed, at ALIGN(cache.end)).
        assert_eq!(
            [
                no_guard(&mut m, 1),
                no_guard(&mut m, 1),
                no_guard(&mut m, 1)
            ],
            [START, START + P, START + 2 * P]
        );
        // Free the second and purge: one flush over [S+p, S+2p). 4.x: the freed VA starts
        // at or below the cache (S+2p), so the cache moves to its predecessor, the VA at S;
        // hole stays 0.
        m.free_vm_area(START + P).unwrap();
        m.vm_unmap_aliases();
        assert_eq!(
            events(&mut m),
            vec![Event::TlbFlush {
                start: START + P,
                end: START + 2 * P
            }]
        );
        // 2 pages: the hole [S+p, S+2p) is too small, lowest fit gives S+3p. 4.x: 2p < 0
        // is false, keep the cache; addr = S+p; the VA at S collides (S+3p > S) and
        // S+p + 0 < S is false, nothing recorded; the VA at S+2p collides (S+3p > S+2p) and
        // S+p + 0 < S+2p, so hole = p; addr = S+3p, last VA → found S+3p, the new cache.
        assert_eq!(no_guard(&mut m, 2), START + 3 * P);
        // 1 page: lowest fit takes the hole, S+p = 0xffffc90000001000. 4.x: p < p is false
        // (the strict test), keep the cache (S+3p); addr = S+5p, the cache collides, nothing
        // recorded (S+5p + p < S+3p is false), last VA → found S+5p = 0xffffc90000005000.
        assert_eq!(no_guard(&mut m, 1), last);
        check(&m);
    }
    assert_eq!(
        (START + P, START + 5 * P),
        (0xffff_c900_0000_1000, 0xffff_c900_0000_5000)
    );
}

#[test]
fn faithful_cache_places_the_vmap_stack_sequence_higher() {
    for (knobs, want) in [
        (Knobs::default(), 0xffff_c900_0000_2000),
        (faithful(), 0xffff_c900_0000_c000),
    ] {
        let mut m = knobbed(knobs);
        // vmalloc(4K): VA 2p at S (4.x: first search, reset, vs = S, al = 1; cache → it).
        assert_eq!(m.vmalloc(P, 1), Ok(Some(START)));
        // 16K aligned 16K, NUMA_NO_NODE: VA 5p, align 4p. Lowest fit: S busy,
        // ALIGN(S+2p, 4p) = S+4p → [S+4p, S+9p). 4.x: 5p < 0 no, S < S no, 4p < 1 no: keep
        // the cache, al = 4p; addr = ALIGN(S+2p, 4p) = S+4p; the cache collides, nothing
        // recorded; last VA → found S+4p; cache → it.
        assert_eq!(
            range(&mut m, 4 * P, 4 * P, START, END, None),
            Ok(Some(START + 4 * P))
        );
        // vmalloc(8K): VA 3p. Lowest fit: S+2p would end at S+5p > S+4p; S+9p. 4.x: align
        // 1 < al 4p → reset (hole 0, no cache), al = 1; addr = S; descent → the VA at S;
        // it collides, nothing recorded (S + 0 < S no), addr = S+2p; the VA at S+4p
        // collides (S+5p > S+4p) and S+2p + 0 < S+4p: hole = 2p; addr = S+9p, last →
        // found S+9p; cache → it.
        assert_eq!(m.vmalloc(2 * P, 1), Ok(Some(START + 9 * P)));
        // vmalloc(4K): VA 2p. Lowest fit: the hole [S+2p, S+4p) fits exactly → S+2p =
        // 0xffffc90000002000. 4.x: 2p < 2p is false, keep the cache (S+9p); addr = S+12p;
        // the cache collides, nothing recorded, last → found S+12p = 0xffffc9000000c000.
        assert_eq!(m.vmalloc(P, 1), Ok(Some(want)));
        check(&m);
    }
}

/// The common start of the two semantics §4.4 failure cases, in the window W = [S, S+10p): three
/// 1-page vmallocs a, b, c (VAs of 2p at S, S+2p, S+4p), b freed and purged (the 4.x cache
/// moves from c to a, hole 0). Returns the events of that purge.
fn a_hole_at_s_plus_2p(m: &mut Model) -> Vec<Event> {
    let w = START + 10 * P;
    for k in 0..3 {
        assert_eq!(range(m, P, 1, START, w, None), Ok(Some(START + 2 * k * P)));
    }
    m.vfree(START + 2 * P, Context::Process).unwrap();
    m.vm_unmap_aliases();
    events(m)
}

#[test]
fn faithful_cache_spurious_ebusy() {
    let w = START + 10 * P;
    for knobs in [Knobs::default(), faithful()] {
        let mut m = knobbed(knobs);
        let flush_b = a_hole_at_s_plus_2p(&mut m);
        assert_eq!(
            flush_b,
            vec![Event::TlbFlush {
                start: START + 2 * P,
                end: START + 4 * P
            }]
        );
        // x: a 1-page get_vm_area from S+0x100000, lazily freed at once (pending until
        // the next purge). Both searches put it at S+0x100000. 4.x: vs = S+0x100000;
        // ALIGN(cache a's end) = S+2p < vstart → reset; no VA ends at or above
        // S+0x100000 → found; cache → x.
        let x = START + 0x10_0000;
        let info = m
            .__get_vm_area(P, VmFlags::NONE, x, END, 1)
            .unwrap()
            .unwrap();
        assert_eq!(info.addr, x);
        m.free_vm_area(x).unwrap();
        // d: 2 pages (VA 3p) in W. Lowest fit: S+2p would end at S+5p > S+4p (c) → S+6p.
        // 4.x: S < vs → reset, vs = S; addr = S; a collides, nothing recorded; c collides
        // and S+2p < S+4p: hole = 2p; addr = S+6p; x does not collide (S+9p <= x) → found
        // S+6p; cache → d.
        assert_eq!(
            range(&mut m, 2 * P, 1, START, w, None),
            Ok(Some(START + 6 * P))
        );
        events(&mut m);
        // e: 1 page (VA 2p) in W.
        let e = range(&mut m, P, 1, START, w, None);
        if knobs == Knobs::default() {
            // Lowest fit: the exact hole [S+2p, S+4p), no purge, nothing printed; x stays
            // pending.
            assert_eq!(e, Ok(Some(START + 2 * P)));
            assert_eq!(events(&mut m), vec![]);
            assert_eq!(m.lazy_list(), vec![x]);
        } else {
            // 4.x: 2p < 2p is false, keep the cache d; addr = ALIGN(S+9p) = S+9p, whose end
            // S+11p is above vend S+10p: no walk, found fails → overflow. The purge releases
            // x (flush [x, x+2p)); x lies above the cache and ends above vs, so the cache
            // stays; the retry fails the same way: warning 3 (VA 0x2000), warning 1 (4096).
            assert_eq!(e, Ok(None));
            assert_eq!(
                events(&mut m),
                vec![
                    Event::TlbFlush {
                        start: x,
                        end: x + 2 * P
                    },
                    Event::VmapAllocFailed { size: 0x2000 },
                    Event::AllocFailure { bytes: P },
                ]
            );
            assert_eq!(m.lazy_list(), vec![]);
        }
        check(&m);
    }
}

#[test]
fn faithful_cache_needless_purge() {
    let w = START + 10 * P;
    for knobs in [Knobs::default(), faithful()] {
        let mut m = knobbed(knobs);
        a_hole_at_s_plus_2p(&mut m);
        // d: 2 pages (VA 3p). Lowest fit: S+6p. 4.x: keep the cache a (3p < 0 no); addr =
        // S+2p; a collides, nothing recorded; c collides and S+2p < S+4p: hole = 2p; addr
        // = S+6p; c is the last VA → found S+6p; cache → d.
        assert_eq!(
            range(&mut m, 2 * P, 1, START, w, None),
            Ok(Some(START + 6 * P))
        );
        // c is freed: lazily pending, still busy.
        m.vfree(START + 4 * P, Context::Process).unwrap();
        events(&mut m);
        let e = range(&mut m, P, 1, START, w, None);
        // Both end at the exact hole S+2p (c's lazy VA at S+4p does not collide with it).
        assert_eq!(e, Ok(Some(START + 2 * P)));
        if knobs == Knobs::default() {
            // Lowest fit finds it at once: no purge, c stays pending.
            assert_eq!(events(&mut m), vec![]);
            assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![START + 4 * P], 2));
        } else {
            // 4.x: keep the cache d; addr = S+9p ends above vend → overflow. The purge
            // releases c (flush [S+4p, S+6p)); c starts at or below d, so the cache moves to
            // c's predecessor, a. The retry: 2p < 2p no, keep a; addr = S+2p; a collides,
            // nothing recorded (S+2p + 2p < S is false); d does not collide (S+4p <= S+6p)
            // → found S+2p. A purge lowest fit never needed.
            assert_eq!(
                events(&mut m),
                vec![Event::TlbFlush {
                    start: START + 4 * P,
                    end: START + 6 * P
                }]
            );
            assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![], 0));
        }
        check(&m);
    }
}

/// One round of `align_shift_alloc_test` (lib/test_vmalloc.c): `__vmalloc_node_range(4096,
/// 1 << i, VMALLOC_START, VMALLOC_END, GFP_KERNEL | __GFP_ZERO, PAGE_KERNEL, 0, 0)`.
fn align_shift(m: &mut Model, i: u32) -> Result<Option<u64>, Fatal> {
    let gfp = Gfp::KERNEL | Gfp::ZERO;
    m.vmalloc_node_range(
        P,
        1 << i,
        START,
        END,
        gfp,
        Prot::Kernel,
        VmFlags::NONE,
        Some(0),
        1,
    )
}

/// Where round `i < 45` of the loop lands while the earlier rounds' VAs are still lazily
/// pending (VAs of 2p, each freed right after). In units of `T` = 2^40 (S = 0xffffc9·T):
/// - i ≤ 12 (align ≤ p): right after the previous VA, S + 2p·i;
/// - i = 13, 14: ALIGN(S + 26p, 2p) = S + 26p, ALIGN(S + 28p, 4p) = S + 28p;
/// - i = 15, 16: ALIGN(S + 30p, 8p) = S + 0x20000, ALIGN(S + 0x22000, 0x10000) = S + 0x30000;
/// - 17 ≤ i ≤ 40: ALIGN(previous + 0x2000, 2^i) = S + 2^(i+1) (S is a multiple of 2^40);
/// - i = 41..44: the next multiple of 2^i above the previous VA: 0xcc·T, 0xd0·T, 0xd8·T,
///   0xe0·T (0xffffe00000000000, the only 2^45-aligned address of the window).
fn align_shift_address(i: u32) -> u64 {
    match i {
        0..=12 => START + 2 * P * u64::from(i),
        13 => START + 26 * P,
        14 => START + 28 * P,
        15 => START + 0x2_0000,
        16 => START + 0x3_0000,
        17..=40 => START + (1 << (i + 1)),
        41 => 0xffff_cc00_0000_0000,
        42 => 0xffff_d000_0000_0000,
        43 => 0xffff_d800_0000_0000,
        _ => 0xffff_e000_0000_0000,
    }
}

#[test]
fn align_shift_alloc_default_is_null_from_2_pow_46() {
    let mut m = model();
    for i in 0..45 {
        assert_eq!(
            align_shift(&mut m, i),
            Ok(Some(align_shift_address(i))),
            "2^{i}"
        );
        m.vfree(align_shift_address(i), Context::Process).unwrap();
    }
    events(&mut m);
    // 2^45: the only aligned candidate, 0xffffe00000000000, is round 44's lazy VA, and the
    // next one, ALIGN(0xffffe00000002000, 2^45), wraps: no fit (R4 default). The purge
    // releases all 45 lazy VAs (one flush over [S, 0xffffe00000002000)) and the retry takes
    // 0xffffe00000000000.
    let top = 0xffff_e000_0000_0000;
    assert_eq!(align_shift(&mut m, 45), Ok(Some(top)));
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: top + 2 * P
        }]
    );
    m.vfree(top, Context::Process).unwrap();
    // From 2^46 on, ALIGN(S, align) itself wraps: no fit, the purge (only at 2^46: round
    // 45's VA is the one pending), warnings 3 (VA 0x2000) and 1 (4096), NULL.
    for i in 46..64 {
        assert_eq!(align_shift(&mut m, i), Ok(None), "2^{i}");
        let mut want = vec![
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P },
        ];
        if i == 46 {
            want.insert(
                0,
                Event::TlbFlush {
                    start: top,
                    end: top + 2 * P,
                },
            );
        }
        assert_eq!(events(&mut m), want, "2^{i}");
    }
}

#[test]
fn align_shift_alloc_bugs_without_the_wrap_check() {
    // With every earlier round's VA still lazily pending, the BUG comes one round before
    // the R4 threshold: at 2^45 the walk passes round 44's VA at 0xffffe00000000000 (the
    // only 2^45-aligned candidate) and computes ALIGN(0xffffe00000002000, 2^45), which
    // wraps to 0, before any candidate ends above vend: BUG_ON(va_start < vstart). No
    // purge runs first (the first search already reaches it), so nothing is printed. The
    // 4.x search of v4.19.0 gets there too: its cache (round 44's VA) gives ALIGN(cache.end,
    // 2^45) = 0 < vstart, so it falls back to the full search, which walks to the same
    // wrap.
    for knobs in [wrap_check_off(), Knobs::v4_19_0()] {
        let mut m = knobbed(knobs);
        for i in 0..45 {
            assert_eq!(
                align_shift(&mut m, i),
                Ok(Some(align_shift_address(i))),
                "2^{i}"
            );
            m.vfree(align_shift_address(i), Context::Process).unwrap();
        }
        events(&mut m);
        let attempts = m.fault_attempts();
        assert_eq!(
            align_shift(&mut m, 45),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart))
        );
        assert_eq!(m.take_events(), vec![]);
        // R13: inside alloc_vmap_area, after the vm_struct and vmap_area attempts, before
        // the pages array and the data page.
        let after = m.fault_attempts();
        assert_eq!(after[..2], [attempts[0] + 1, attempts[1] + 1]);
        assert_eq!(after[2..], attempts[2..]);
    }
    // Purging after each round (every round starts from an empty window, as on an idle
    // machine), the first wrapped candidate is R4's threshold: ALIGN(S, 2^45) =
    // 0xffffe00000000000 still fits, ALIGN(S, 2^46) wraps at once. Same for the 4.x search
    // (its cache is dropped at each purge: the released VA is the cached one, and it is the
    // lowest, so it has no predecessor).
    for knobs in [wrap_check_off(), Knobs::v4_19_0()] {
        let mut m = knobbed(knobs);
        for i in 0..46 {
            let a = align_shift(&mut m, i).unwrap().unwrap();
            assert_eq!(a, START.next_multiple_of(1 << i), "2^{i}");
            m.vfree(a, Context::Process).unwrap();
            m.vm_unmap_aliases();
        }
        events(&mut m);
        assert_eq!(
            align_shift(&mut m, 46),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart))
        );
        assert_eq!(m.take_events(), vec![]);
    }
}

#[test]
fn align_wrap_in_the_modules_window() {
    // R4: ALIGN(MODULES_VADDR = 0xffffffffa0000000, 2^31) is 2^64 (0xffffffffa0000000 is
    // 0x1ffffffff.4 units of 2^31): no fit by default (purge, warnings 3 and 1, NULL), the
    // BUG with the check off. 2^30 gives 0xffffffffc0000000 either way.
    let me = 0xffff_ffff_ff00_0000;
    for (knobs, want) in [
        (Knobs::default(), Ok(None)),
        (
            wrap_check_off(),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart)),
        ),
        (
            Knobs::v4_19_0(),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart)),
        ),
    ] {
        let mut m = knobbed(knobs);
        assert_eq!(
            range(&mut m, P, 1 << 30, MODULES, me, None),
            Ok(Some(0xffff_ffff_c000_0000))
        );
        assert_eq!(range(&mut m, P, 1 << 31, MODULES, me, None), want);
    }
}

#[test]
fn align_wrap_reached_by_the_walk_near_the_top() {
    // get_vm_area(64 KiB, VM_IOREMAP) in [T, u64::MAX) with T = 0xfffffffffff00000: align
    // 64 KiB (R4), VA 0x11000. Each takes the next 64 KiB-aligned slot above the one before:
    // T + 0x20000·k for k = 0..7, the last ending at 0xffffffffffff1000 <= vend. The 9th
    // walks all eight (each candidate collides and still ends below vend) and then computes
    // ALIGN(0xffffffffffff1000, 0x10000) = 2^64: the wrap is reached without ALIGN(vstart)
    // wrapping. The 4.x search starts from its cache (the 8th VA), gets ALIGN = 0 <
    // vstart, falls back to the full search and walks to the same wrap (the 8th VA is the
    // last busy VA).
    let t = 0xffff_ffff_fff0_0000;
    for (knobs, wrapped) in [
        (Knobs::default(), Ok(None)),
        (faithful(), Ok(None)),
        (
            wrap_check_off(),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart)),
        ),
        (
            Knobs::v4_19_0(),
            Err(Fatal::Bug(BugKind::VaStartBelowVstart)),
        ),
    ] {
        let mut m = knobbed(knobs);
        for k in 0..8 {
            let info = m.__get_vm_area(0x1_0000, VmFlags::IOREMAP, t, u64::MAX, 1);
            assert_eq!(info.unwrap().unwrap().addr, t + 0x2_0000 * k);
        }
        let got = m.__get_vm_area(0x1_0000, VmFlags::IOREMAP, t, u64::MAX, 1);
        assert_eq!(got.map(|i| i.map(|i| i.addr)), wrapped);
        if wrapped.is_ok() {
            // No fit: nothing pending to purge, then warning 3 alone (get_vm_area family).
            assert_eq!(
                events(&mut m),
                vec![Event::VmapAllocFailed { size: 0x11000 }]
            );
        }
    }
}

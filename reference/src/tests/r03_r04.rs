//! R3 (lowest fit, purge and retry) and R4 (alignment, VM_IOREMAP, ALIGN wrap).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::*;
use crate::{AreaState, BugKind, Context, Fatal, Gfp, Prot, Request, VmFlags};

fn starts(m: &Model) -> Vec<(u64, bool)> {
    m.busy_areas()
        .iter()
        .map(|a| (a.start, matches!(a.state, AreaState::Lazy)))
        .collect()
}

fn range(m: &mut Model, size: u64, align: u64, start: u64, end: u64) -> Result<Option<u64>, Fatal> {
    m.vmalloc_node_range(
        size,
        align,
        start,
        end,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    )
}

#[test]
fn r3_lowest_fit_uses_exact_holes_and_skips_lazy_vas() {
    let mut m = model();
    let s = START;
    // Three 1-page vmallocs: VAs of 2 pages each (R2) at s, s+2p, s+4p (R3 lowest fit).
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    let b = m.vmalloc(P, 1).unwrap().unwrap();
    let c = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!((a, b, c), (s, s + 2 * P, s + 4 * P));
    // Data pages (semantics §12.2, R13 order): a → 0x100, then a's tables 0x101–0x103; b → 0x104;
    // c → 0x105.
    assert_eq!(m.vmalloc_to_page(b), Some(0x104));
    // vfree(b): lazily pending, still busy (R9 step 2), so R3 must skip it: the next
    // 1-page vmalloc tries s (a), s+2p (lazy b), s+4p (c) and lands at s+6p, taking the
    // freed page 0x104 (R9 step 3 freed it; lowest free PFN).
    m.vfree(b, Context::Process).unwrap();
    let d = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(d, s + 6 * P);
    assert_eq!(m.vmalloc_to_page(d), Some(0x104));
    // The purge releases b: one TLB flush over [s+2p, s+4p).
    m.vm_unmap_aliases();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: s + 2 * P,
            end: s + 4 * P
        }]
    );
    // A 2-page vmalloc (VA 3 pages) does not fit the 2-page hole: candidates s+2p
    // (overlaps c at s+4p), s+6p (d) → s+8p.
    let e = m.vmalloc(2 * P, 1).unwrap().unwrap();
    assert_eq!(e, s + 8 * P);
    // A 1-page vmalloc (VA 2 pages) fits the hole [s+2p, s+4p) exactly.
    let f = m.vmalloc(P, 1).unwrap().unwrap();
    assert_eq!(f, s + 2 * P);
    // e took 0x106, 0x107; f takes 0x108.
    assert_eq!(m.ptes()[&f], (0x108 << 12) | PK);
    assert_eq!(
        starts(&m),
        vec![(a, false), (f, false), (c, false), (d, false), (e, false)]
    );
    check(&m);
}

#[test]
fn r3_purge_and_retry_then_warnings_3_and_1() {
    let mut m = model();
    // A lazy VA outside the window: vmalloc at START, then vfree → lazy_nr 2.
    let x = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(x, Context::Process).unwrap();
    // A 4-page window W: room for exactly two 2-page VAs, at W and W + 0x2000.
    let w = START + 0x1000_0000;
    assert_eq!(range(&mut m, P, 1, w, w + 0x4000), Ok(Some(w)));
    assert_eq!(range(&mut m, P, 1, w, w + 0x4000), Ok(Some(w + 0x2000)));
    m.vfree(w, Context::Process).unwrap();
    assert_eq!((m.lazy_list(), m.lazy_nr()), (vec![w, START], 4));
    events(&mut m);
    // No fit (W is lazy, W + 0x2000 live) → R3 purges everything pending, newest first:
    // one flush over [min start, max end) = [START, W + 0x2000); the retry fits at W.
    assert_eq!(range(&mut m, P, 1, w, w + 0x4000), Ok(Some(w)));
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: w + 0x2000
        }]
    );
    assert_eq!(m.lazy_nr(), 0);
    // Full again: the purge finds nothing (no flush), then warning 3 (VA size 0x2000) and
    // warning 1 (the request, 4096). No state change besides the two metadata attempts.
    let before = (m.busy_areas(), m.ptes().clone(), m.free_pages_per_node());
    let attempts = m.fault_attempts();
    assert_eq!(range(&mut m, P, 1, w, w + 0x4000), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P }
        ]
    );
    assert_eq!(
        (m.busy_areas(), m.ptes().clone(), m.free_pages_per_node()),
        before
    );
    assert_eq!(m.fault_attempts()[..2], [attempts[0] + 1, attempts[1] + 1]);
    // NOWARN silences both.
    let got = m.vmalloc_node_range(
        P,
        1,
        w,
        w + 0x4000,
        Gfp::KERNEL | Gfp::NOWARN,
        Prot::Kernel,
        VmFlags::NONE,
        None,
        1,
    );
    assert_eq!(got, Ok(None));
    assert_eq!(events(&mut m), vec![]);
}

#[test]
fn r3_vstart_above_vend_is_no_fit_not_a_bug() {
    let mut m = model();
    let x = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(x, Context::Process).unwrap();
    // design §3.3: vstart > vend is "no fit": purge (flushes x's VA), retry, warnings.
    assert_eq!(range(&mut m, P, 1, START + 0x10000, START), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::TlbFlush {
                start: START,
                end: START + 0x2000
            },
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P },
        ]
    );
    assert!(m.busy_areas().is_empty());
}

#[test]
fn r3_get_vm_area_family_prints_only_warning_3() {
    let mut m = model();
    // R3: vmap and the get_vm_area family print only warning 3. A 1-page window cannot
    // hold the 2-page VA.
    assert_eq!(
        m.__get_vm_area(P, VmFlags::NONE, START, START + P, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut m),
        vec![Event::VmapAllocFailed { size: 0x2000 }]
    );
}

#[test]
fn r4_alignment_picks_the_next_aligned_candidate() {
    let mut m = model();
    m.vmalloc(P, 1).unwrap();
    // Busy [START, START+0x2000). align 0x4000: candidates ALIGN(START) = START (busy) and
    // ALIGN(START + 0x2000, 0x4000) = START + 0x4000 → placed there.
    assert_eq!(
        range(&mut m, P, 0x4000, START, END),
        Ok(Some(START + 0x4000))
    );
    // The request that placed it is recorded (I2).
    let area = m.busy_areas().pop().unwrap();
    assert_eq!(
        area.request,
        Request {
            vstart: START,
            vend: END,
            align: 0x4000
        }
    );
    // An unaligned vstart is aligned up: ALIGN(START + 0x1000, 0x10000) = START + 0x10000.
    assert_eq!(
        range(&mut m, P, 0x10000, START + 0x1000, END),
        Ok(Some(START + 0x10000))
    );
    check(&m);
}

#[test]
fn r4_align_2_pow_46_from_vmalloc_start_wraps_to_no_fit() {
    let mut m = model();
    // R4: ALIGN(0xffffc90000000000, 2^46) wraps past 2^64 → not a fit; no busy VA gives
    // another candidate → purge (nothing), warnings 3 then 1, NULL.
    assert_eq!(range(&mut m, P, 1 << 46, START, END), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: P }
        ]
    );
    // 2^45 still gives 0xffffe00000000000 (< VMALLOC_END): it fits.
    assert_eq!(
        range(&mut m, P, 1 << 45, START, END),
        Ok(Some(0xffff_e000_0000_0000))
    );
    // Modules: ALIGN(0xffffffffa0000000, 2^31) = 2^64 → wraps; 2^30 gives 0xffffffffc0000000.
    let me = 0xffff_ffff_ff00_0000;
    assert_eq!(range(&mut m, P, 1 << 31, MODULES, me), Ok(None));
    assert_eq!(
        range(&mut m, P, 1 << 30, MODULES, me),
        Ok(Some(0xffff_ffff_c000_0000))
    );
    check(&m);
}

#[test]
fn r4_non_power_of_two_align_is_a_bug_after_the_vm_struct_attempt() {
    let mut m = model();
    // design §3.3: BUG inside alloc_vmap_area, i.e. after R13 step 1 (counted).
    assert_eq!(
        range(&mut m, P, 3, START, END),
        Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo))
    );
    assert_eq!(m.fault_attempts(), [1, 0, 0, 0, 0]);
    let mut m = model();
    assert_eq!(
        range(&mut m, P, 0, START, END),
        Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo))
    );
    // If the plan fails that vm_struct, step 1's outcome comes first: NULL + warning 1.
    let mut m = model_failing(&[(FaultKind::VmStruct, 1)]);
    assert_eq!(range(&mut m, P, 3, START, END), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: P }]);
}

#[test]
fn r4_ioremap_alignment_is_the_4_9_rule() {
    let mut m = model();
    m.vmalloc(P, 1).unwrap();
    // R4: get_vm_area(64 KiB, VM_IOREMAP): S = 0x10000, ceil_log2 = 16 → align 64 KiB
    // (the 4.1–4.8 fls_long rule would give 128 KiB). Candidates: START (busy), then
    // ALIGN(START + 0x2000, 0x10000) = START + 0x10000. VA = 0x11000 with the guard.
    let info = m
        .get_vm_area(0x10000, VmFlags::IOREMAP, 5)
        .unwrap()
        .unwrap();
    assert_eq!((info.addr, info.size), (START + 0x10000, 0x11000));
    assert_eq!(info.flags, VmFlags::IOREMAP);
    let area = m.busy_areas().pop().unwrap();
    assert_eq!(area.request.align, 0x10000);
    // The caller's align is overwritten: align 3 with VM_IOREMAP does not BUG; S = 4096
    // gives 2^clamp(12, 12, 30) = 4096.
    let got = m.vmalloc_node_range(
        P,
        3,
        START,
        END,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::IOREMAP,
        None,
        1,
    );
    assert_eq!(got, Ok(Some(START + 0x2000)));
    check(&m);
}

#[test]
fn r3_lowest_fit_over_three_hundred_areas() {
    let mut m = model();
    // 300 one-page vmallocs: VAs of 2 pages (R2) at START + 2p·i, i = 0..300 (R3: each is
    // placed at the end of the one before).
    let areas: Vec<u64> = (0..300)
        .map(|_| m.vmalloc(P, 1).unwrap().unwrap())
        .collect();
    for (i, &a) in areas.iter().enumerate() {
        assert_eq!(a, START + 2 * P * i as u64);
    }
    // Free i = 100 (hole [200p, 202p)) and i = 150, 151 (hole [300p, 304p)), then purge:
    // one flush over [200p, 304p).
    for i in [100, 150, 151] {
        m.vfree(areas[i], Context::Process).unwrap();
    }
    m.vm_unmap_aliases();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START + 200 * P,
            end: START + 304 * P
        }]
    );
    // A 2-page vmalloc (VA 3 pages) skips the 2-page hole and takes the 4-page one.
    assert_eq!(m.vmalloc(2 * P, 1), Ok(Some(START + 300 * P)));
    // A 1-page vmalloc (VA 2 pages) takes the exact-fit hole at 200p.
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START + 200 * P)));
    // What is left of the 4-page hole ([303p, 304p)) is too small: the next one goes after
    // the last area, which ends at 600p.
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START + 600 * P)));
    check(&m);
}

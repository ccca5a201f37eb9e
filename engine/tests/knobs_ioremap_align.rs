//! Knob `ioremap_align_rule` (semantics §3.2 step 2, R4; bugs 6 and 8): the alignment
//! of a `VM_IOREMAP` request, which overwrites the caller's, is `1 << clamp(order, 12, 30)`
//! with order `fls(low 32 bits of size)` (≤4.0), `fls_long(size)` (4.1–4.8) or
//! `get_count_order_long(PAGE_ALIGN(size))` (4.9+, default).
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{IoremapAlignRule, Kernel, Knobs, VmFlags};

fn with(rule: IoremapAlignRule) -> Kernel {
    kernel_with(|c| {
        c.knobs = Knobs {
            ioremap_align_rule: rule,
            ..Knobs::default()
        }
    })
}

/// `get_vm_area(size, VM_IOREMAP)` after a `vmalloc(4K)` at [V, V+0x2000): the address and
/// the alignment the search used.
fn ioremap_after_one_page(rule: IoremapAlignRule, size: u64) -> (u64, u64) {
    let mut k = with(rule);
    assert_eq!(ok(k.vmalloc(P, 1)), V);
    let a = k
        .get_vm_area(size, VmFlags::IOREMAP, 2)
        .expect("no fatal")
        .expect("placed");
    let addr = a.addr.as_u64();
    let align = k
        .busy_areas()
        .find(|b| b.start.as_u64() == addr)
        .expect("busy")
        .request
        .align;
    (addr, align)
}

/// 64 KiB (bug 8): `fls_long(0x10000)` = 17 → 128 KiB, so the area goes to ALIGN(V+0x2000,
/// 0x20000) = V + 0x20000; the 4.9+ rule, ceil(log2) = 16 → 64 KiB: V + 0x10000. `fls` of the
/// low 32 bits is 17 as well (the size is below 4 GiB). V is 2^40-aligned.
#[test]
fn sixty_four_kib_gets_double_alignment_before_4_9() {
    use IoremapAlignRule::*;
    assert_eq!(
        ioremap_after_one_page(CountOrderAfterPagealign, 0x10000),
        (V + 0x10000, 0x10000)
    );
    assert_eq!(
        ioremap_after_one_page(FlsLongBeforePagealign, 0x10000),
        (V + 0x20000, 0x20000)
    );
    assert_eq!(ioremap_after_one_page(Fls, 0x10000), (V + 0x20000, 0x20000));
}

/// 4 GiB (bug 6): `fls` sees the low 32 bits, 0: order 0, clamped to 12: 4 KiB, so the area
/// lands right above the first: V + 0x2000. `fls_long(2^32)` = 33 and ceil(log2(2^32)) = 32
/// are both clamped to 30: ALIGN(V + 0x2000, 1 GiB) = V + 0x40000000. 4 GiB + 4 KiB under
/// `fls`: the low 32 bits are 0x1000, fls = 13: 8 KiB, ALIGN(V + 0x2000, 0x2000) = V + 0x2000.
#[test]
fn four_gib_gets_page_alignment_with_fls() {
    use IoremapAlignRule::*;
    assert_eq!(ioremap_after_one_page(Fls, 1 << 32), (V + 0x2000, 0x1000));
    assert_eq!(
        ioremap_after_one_page(FlsLongBeforePagealign, 1 << 32),
        (V + 0x4000_0000, 1 << 30)
    );
    assert_eq!(
        ioremap_after_one_page(CountOrderAfterPagealign, 1 << 32),
        (V + 0x4000_0000, 1 << 30)
    );
    assert_eq!(
        ioremap_after_one_page(Fls, (1 << 32) + P),
        (V + 0x2000, 0x2000)
    );
}

/// The rule applies to a vmalloc with VM_IOREMAP too, overwriting the caller's align (2 MiB
/// here). Busy: [V, V+0x2000), [V+0x2000, V+0x4000) (two 1-page vmallocs) and [V+0x4000,
/// V+0x5000) (a 1-page VM_NO_GUARD area). One page (VA 0x2000): the 4.9+ rule, ceil(log2(
/// 0x1000)) = 12 → 4 KiB: the lowest fit is V + 0x5000; `fls_long(0x1000)` = 13 → 8 KiB:
/// ALIGN(V + 0x5000, 0x2000) = V + 0x6000.
#[test]
fn one_page_is_doubled_by_fls_long() {
    for (rule, want) in [
        (IoremapAlignRule::CountOrderAfterPagealign, V + 0x5000),
        (IoremapAlignRule::FlsLongBeforePagealign, V + 0x6000),
    ] {
        let mut k = with(rule);
        assert_eq!(ok(k.vmalloc(P, 1)), V);
        assert_eq!(ok(k.vmalloc(P, 2)), V + 0x2000);
        let n = k.get_vm_area(P, VmFlags::NO_GUARD, 3).unwrap().unwrap();
        assert_eq!(n.addr.as_u64(), V + 0x4000);
        let r = k.vmalloc_node_range(
            P,
            1 << 21,
            V,
            VEND,
            vmalloc_engine::Gfp::KERNEL,
            vmalloc_engine::Prot::Kernel,
            VmFlags::IOREMAP,
            None,
            4,
        );
        assert_eq!(ok(r), want, "{rule:?}");
    }
}

//! R1: the size gate. `S = PAGE_ALIGN(s)`; S = 0 or S/4096 > totalram gives NULL and warning 1
//! (unless NOWARN) and nothing changes; the guard page is not counted.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{Counters, Event, Gfp, Kernel, MachineConfig, Prot};

fn untouched(k: &Kernel, before: &Counters) {
    assert_eq!(&k.counters(), before);
    assert_eq!(
        k.fault_attempts(),
        [0; 5],
        "R1 rejects before any allocation"
    );
    assert_eq!(k.busy_areas().count(), 0);
}

#[test]
fn r01_size_zero_warns_and_changes_nothing() {
    let mut k = kernel();
    let before = k.counters();
    assert_eq!(k.vmalloc(0, 1), Ok(None));
    // Warning 1 carries the unaligned request: 0 bytes (semantics §3.1 fail label).
    assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 0 }]);
    untouched(&k, &before);
}

#[test]
fn r01_page_align_wrap_is_size_zero() {
    let mut k = kernel();
    let before = k.counters();
    // PAGE_ALIGN(2^64 - 1) wraps to exactly 0 (semantics §0), so this is the S = 0 case.
    assert_eq!(k.vmalloc(u64::MAX, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocFailure { bytes: u64::MAX }]
    );
    untouched(&k, &before);
}

#[test]
fn r01_nowarn_suppresses_warning_1() {
    let mut k = kernel();
    assert_eq!(
        k.__vmalloc(0, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn r01_above_totalram_rejected() {
    let mut k = kernel();
    let before = k.counters();
    // totalram = 0x40000 - 256 = 261888 pages (design §3.17). 261888 * 4096 + 1 bytes aligns to
    // 261889 pages > 261888.
    let size = 261_888 * 4096 + 1;
    assert_eq!(k.vmalloc(size, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocFailure {
            bytes: 1_072_693_249
        }]
    );
    untouched(&k, &before);
}

#[test]
fn r01_equal_to_totalram_passes_the_gate() {
    // A machine with one node [0, 0x300): totalram = 0x300 - 0x100 = 512 pages.
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x300)])).unwrap();
    assert_eq!(k.totalram_pages(), 512);
    // 513 pages: above totalram, rejected with no attempt at all.
    assert_eq!(k.vmalloc(513 * P, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocFailure { bytes: 513 * 4096 }]
    );
    assert_eq!(k.fault_attempts(), [0; 5]);
    // 512 pages: equal is allowed (the guard page is not counted), so R13 runs: vm_struct,
    // vmap_area, the 4096-byte array (kmalloc: 8 * 512 = 4096, not > 4096), 512 data pages
    // (the whole pool), then the first table page finds the pool empty.
    assert_eq!(k.vmalloc(512 * P, 1), Ok(None));
    assert_eq!(k.fault_attempts(), [1, 1, 1, 512, 1]);
    // Warning 2: all 512 pages allocated (2097152 bytes) of the VA size, guard included:
    // 513 * 4096 = 2101248.
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 2_097_152,
            total: 2_101_248
        }]
    );
    // R8 residue: the 513-page VA is lazily pending; every page is back.
    assert_eq!(k.lazy_nr(), 513);
    assert_eq!(k.counters().free_pages, 512);
}

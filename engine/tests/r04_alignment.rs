//! R4: `start % align == 0`; the VM_IOREMAP rule 2^clamp(ceil_log2(S), 12, 30) overwrites the
//! caller's align; an ALIGN that wraps is no fit; a non-power-of-two align is a BUG after the
//! vm_struct attempt (design §3.3, contract §8).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

mod common;
use common::*;
use vmalloc_engine::{BugKind, Event, Fatal, FaultKind, FaultPlan, Gfp, Prot, VmFlags};

fn range(
    k: &mut vmalloc_engine::Kernel,
    size: u64,
    align: u64,
    flags: VmFlags,
) -> Result<Option<u64>, Fatal> {
    k.vmalloc_node_range(
        size,
        align,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        flags,
        None,
        1,
    )
    .map(|r| r.map(|a| a.as_u64()))
}

#[test]
fn r04_alignment_skips_to_the_next_multiple() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1)); // [V, V+0x2000)
                            // Candidates: ALIGN(V, 64K) = V is busy; ALIGN(V+0x2000, 64K) = V + 0x10000.
    assert_eq!(
        range(&mut k, 4096, 0x10000, VmFlags::empty()),
        Ok(Some(V + 0x10000))
    );
    // The hole [V+0x2000, V+0x10000) stays usable at align 1.
    assert_eq!(ok(k.vmalloc(4096, 2)), V + 0x2000);
}

#[test]
fn r04_ioremap_align_from_the_page_aligned_size() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1)); // [V, V+0x2000)
                            // 64 KiB: ceil_log2(0x10000) = 16 -> align 64 KiB (4.9+ rule; 4.1-4.8 gave 128 KiB).
    let a = k
        .get_vm_area(0x10000, VmFlags::IOREMAP, 2)
        .unwrap()
        .unwrap();
    assert_eq!(a.addr.as_u64(), V + 0x10000);
    assert_eq!(a.size, 0x11000);
    let r = k
        .busy_areas()
        .find(|b| b.start.as_u64() == V + 0x10000)
        .unwrap()
        .request;
    assert_eq!(r.align, 0x10000);
    // 0x11000: ceil_log2 = 17 -> 128 KiB. Busy up to V+0x21000, so ALIGN(V+0x21000, 128K) =
    // V + 0x40000.
    let b = k
        .get_vm_area(0x11000, VmFlags::IOREMAP, 3)
        .unwrap()
        .unwrap();
    assert_eq!(b.addr.as_u64(), V + 0x40000);
    // A 1-byte request: PAGE_ALIGN = 4096, clamp(12, 12, 30) -> 4 KiB.
    let c = k.get_vm_area(1, VmFlags::IOREMAP, 4).unwrap().unwrap();
    assert_eq!(c.addr.as_u64(), V + 0x2000);
}

#[test]
fn r04_ioremap_overwrites_the_callers_align() {
    let mut k = kernel();
    // vmalloc with VM_IOREMAP and align 2 MiB: 4096 bytes -> align 4 KiB wins.
    ok(k.vmalloc(4096, 1));
    assert_eq!(
        range(&mut k, 4096, 0x20_0000, VmFlags::IOREMAP),
        Ok(Some(V + 0x2000))
    );
}

#[test]
fn r04_align_2_pow_45_fits_and_2_pow_46_wraps() {
    let mut k = kernel();
    // ALIGN(0xffffc90000000000, 2^45) = 0xffffe00000000000 < VMALLOC_END (semantics §12 R4).
    assert_eq!(
        range(&mut k, 4096, 1 << 45, VmFlags::empty()),
        Ok(Some(0xffff_e000_0000_0000))
    );
    // Its PGD slot: (0xffffe00000000000 >> 39) & 511 = 448; 0x100 data page, PUD table 0x101.
    assert_eq!(entry(&k, 1, 448), 0x101067);
    events(&mut k);
    // 2^46: 2^64 - V = 0x370000000000 < 2^46 - 1, so ALIGN(V, 2^46) wraps: no fit. Purge (the
    // lazy list is empty: nothing happens), warnings 3 and 1.
    assert_eq!(range(&mut k, 4096, 1 << 46, VmFlags::empty()), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![
            Event::VmapAllocFailed { size: 8192 },
            Event::AllocFailure { bytes: 4096 }
        ]
    );
    // 2^63 wraps as well.
    assert_eq!(range(&mut k, 4096, 1 << 63, VmFlags::empty()), Ok(None));
}

#[test]
fn r04_non_power_of_two_align_bugs_after_the_vm_struct_attempt() {
    let mut k = kernel();
    assert_eq!(
        range(&mut k, 4096, 3, VmFlags::empty()),
        Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo))
    );
    // Exactly one vm_struct attempt, no vmap_area attempt (contract §8).
    assert_eq!(k.fault_attempts(), [1, 0, 0, 0, 0]);
    assert_eq!(events(&mut k), vec![]);
    // The machine is dead: every later call returns the same fatal.
    assert_eq!(
        k.vmalloc(4096, 2),
        Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo))
    );
    assert_eq!(k.fatal(), Some(Fatal::Bug(BugKind::AlignNotPowerOfTwo)));
}

#[test]
fn r04_align_zero_is_a_bug_too() {
    let mut k = kernel();
    assert_eq!(
        range(&mut k, 4096, 0, VmFlags::empty()),
        Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo))
    );
}

#[test]
fn r04_injected_vm_struct_failure_beats_the_bug() {
    let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::VmStruct, 1));
    // The vm_struct kzalloc fails first: NULL and warning 1, no BUG.
    assert_eq!(range(&mut k, 4096, 3, VmFlags::empty()), Ok(None));
    assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 4096 }]);
    assert_eq!(k.fatal(), None);
}

#[test]
fn r04_zero_size_va_bug_from_guard_wrap() {
    // semantics §3.2: PAGE_ALIGN(2^64 - 8000) = 2^64 - 4096; the guard add wraps the VA size to 0:
    // BUG_ON(!size) in alloc_vmap_area, after the vm_struct attempt.
    let mut k = kernel();
    let r = k.get_vm_area(u64::MAX - 8000, VmFlags::empty(), 1);
    assert_eq!(r, Err(Fatal::Bug(BugKind::ZeroSizeVa)));
    assert_eq!(k.fault_attempts(), [1, 0, 0, 0, 0]);
    // With VM_NO_GUARD the size stays nonzero and the search finds no fit (warning 3 only).
    let mut k = kernel();
    assert_eq!(
        k.get_vm_area(u64::MAX - 8000, VmFlags::NO_GUARD, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut k),
        vec![Event::VmapAllocFailed {
            size: u64::MAX - 4095
        }]
    );
    // Above 2^64 - 4096 PAGE_ALIGN is 0: NULL before any attempt, no event (contract §10).
    assert_eq!(k.get_vm_area(u64::MAX, VmFlags::empty(), 1), Ok(None));
    assert_eq!(events(&mut k), vec![]);
}

#[test]
fn r04_end_at_u64_max_cannot_reach_2_pow_64() {
    // Bug 4's shape: a window ending at u64::MAX (exclusive). [2^64 - 0x2000, 2^64) would end
    // exactly at 2^64, which `a + size` cannot express: no fit. One page less fits.
    let mut k = kernel();
    let top = 0u64.wrapping_sub(0x2000);
    assert_eq!(
        k.__get_vm_area(4096, VmFlags::empty(), top, u64::MAX, 1),
        Ok(None)
    );
    let r = k
        .__get_vm_area(4096, VmFlags::empty(), top - 0x1000, u64::MAX, 1)
        .unwrap()
        .unwrap();
    assert_eq!(r.addr.as_u64(), top - 0x1000);
}

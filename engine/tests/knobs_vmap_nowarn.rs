//! Knob `vmap_nowarn_honoured` (semantics §4.2 step 4.3, semantics §11.1): with `no` (≤≈4.10)
//! warning 3, "vmap allocation for size … failed", is printed even under `__GFP_NOWARN`;
//! warnings 1 and 2 still honour it.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{
    Event, FaultKind, FaultPlan, Gfp, Kernel, Knobs, MachineConfig, Prot, VirtAddr, VmFlags,
    VmapNowarnHonoured,
};

fn with(h: VmapNowarnHonoured, plan: FaultPlan) -> Kernel {
    Kernel::new(MachineConfig {
        knobs: Knobs {
            vmap_nowarn_honoured: h,
            ..Knobs::default()
        },
        fault_plan: plan,
        ..MachineConfig::default()
    })
    .unwrap()
}

/// 1 page (VA 0x2000 with the guard) over the window [V, V + 0x1000): no placement, purge
/// (nothing pending: no flush), retry, no placement: NULL.
fn too_small(k: &mut Kernel, gfp: Gfp) -> Option<u64> {
    k.vmalloc_node_range(
        P,
        1,
        V,
        V + 0x1000,
        gfp,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        1,
    )
    .unwrap()
    .map(VirtAddr::as_u64)
}

/// NOWARN: `yes` records nothing; `no` records warning 3 (size 0x2000) but not warning 1.
/// Without NOWARN both modes record 3 then 1.
#[test]
fn nowarn_placement_failure() {
    for (h, nowarn) in [
        (VmapNowarnHonoured::Yes, vec![]),
        (
            VmapNowarnHonoured::No,
            vec![Event::VmapAllocFailed { size: 0x2000 }],
        ),
    ] {
        let mut k = with(h, FaultPlan::new());
        assert_eq!(too_small(&mut k, Gfp::KERNEL | Gfp::NOWARN), None);
        assert_eq!(events(&mut k), nowarn, "{h:?}");
        assert_eq!(too_small(&mut k, Gfp::KERNEL), None);
        assert_eq!(
            events(&mut k),
            vec![
                Event::VmapAllocFailed { size: 0x2000 },
                Event::AllocFailure { bytes: 0x1000 }
            ]
        );
    }
}

/// Warning 2 keeps honouring NOWARN under `no`: a NOWARN vmalloc(8K) whose second data page
/// fails by injection (data-page attempt 2) records no event (R6), placement having succeeded.
#[test]
fn warning_2_still_honours_nowarn() {
    let mut k = with(
        VmapNowarnHonoured::No,
        FaultPlan::new().fail(FaultKind::DataPage, 2),
    );
    let r = k.__vmalloc(2 * P, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1);
    assert_eq!(r, Ok(None));
    assert_eq!(events(&mut k), vec![]);
}

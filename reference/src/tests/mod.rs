//! Unit tests, one or more per rule (R1–R13) and per checkable invariant (I1, I2, I4–I9).
//!
//! Every expected number is derived in a comment from `docs/semantics.md`, on the
//! design §3.17 machine unless a test says otherwise: VMALLOC_START
//! `0xffffc90000000000`, one node `[0, 0x40000)` (pool PFNs `0x100..0x40000`, all DMA32),
//! 4 CPUs (lazy_max_pages 24576), PAGE_KERNEL `0x8000000000000163`.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod invariants;
mod knobs_calls;
mod knobs_search;
mod numa;
mod pinned_v4_19;
mod r01_r02;
mod r03_r04;
mod r05_r07;
mod r08_faults;
mod r09_r11;
mod r12_info;
mod r13_order;

use crate::{Event, FaultKind, FaultPlan, MachineConfig, Model, NodeSpan};

/// PAGE_SIZE.
pub(super) const P: u64 = 4096;
/// VMALLOC_START of the default machine (semantics §8.1).
pub(super) const START: u64 = 0xffff_c900_0000_0000;
/// VMALLOC_END as passed (semantics §8.1: last byte, used as the exclusive vend).
pub(super) const END: u64 = 0xffff_e8ff_ffff_ffff;
/// MODULES_VADDR without KASLR (semantics §8.1).
pub(super) const MODULES: u64 = 0xffff_ffff_a000_0000;
/// PAGE_KERNEL in scenario A (semantics §8.3).
pub(super) const PK: u64 = 0x8000_0000_0000_0163;
/// PAGE_KERNEL_EXEC in scenario A (semantics §8.3).
pub(super) const PKX: u64 = 0x163;

/// The default machine.
pub(super) fn model() -> Model {
    Model::new(MachineConfig::default()).unwrap()
}

/// A machine built from the default by `f`.
pub(super) fn model_with(f: impl FnOnce(&mut MachineConfig)) -> Model {
    let mut c = MachineConfig::default();
    f(&mut c);
    Model::new(c).unwrap()
}

/// The default machine with a fault plan.
pub(super) fn model_failing(entries: &[(FaultKind, u64)]) -> Model {
    model_with(|c| {
        let mut plan = FaultPlan::new();
        for &(kind, k) in entries {
            plan.add(kind, k);
        }
        c.fault_plan = plan;
    })
}

/// One node `[0, end_pfn)`.
pub(super) fn one_node(end_pfn: u64) -> Vec<NodeSpan> {
    vec![NodeSpan {
        start_pfn: 0,
        end_pfn,
    }]
}

/// Asserts the model's own invariants.
pub(super) fn check(m: &Model) {
    if let Err(v) = m.check_invariants() {
        panic!("{v}");
    }
}

/// Takes the events and checks the invariants.
pub(super) fn events(m: &mut Model) -> Vec<Event> {
    check(m);
    m.take_events()
}

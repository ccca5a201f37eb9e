//! Generator health (design §7, "generators are tested too"): 2,000 inputs generated at a
//! fixed seed, run engine against model, must reach every op kind, outcome, rule, event, the
//! exact fit of a boundary argument and typed BUG **often enough**, not merely once: each target is seen in at least
//! [`FLOOR`] (5%) of the inputs where the generator meant to give it a chance.
//!
//! "Meant to give it a chance" is computed from the input alone, never from a run:
//! - op kinds, outcomes, rules and events have *carrier* op kinds; an input's chance is the
//!   probability that its swarm (`vmfuzz::codec::swarm_weights`) draws at least one carrier
//!   in as many draws as it has ops, `1 − (1 − w/W)^n`, and the expectation is the sum over
//!   inputs (a kind switched off by the swarm gives no chance);
//! - a typed BUG or hang has a carrier *input*: its last op provokes it (`Op::may_bug`), with
//!   the knob that enables it where one is needed; the expectation is the number of such
//!   inputs.
//!
//! A target is reached in an input when the run's behaviour set holds it
//! (`vmfuzz::behaviour`): an op kind that ran rather than was skipped, an outcome of that
//! kind, a rule or an event the model reported, `outcome:fatal:<bug>` for the BUG that ended
//! the input.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use vmfuzz::behaviour::{Category, Feature};
use vmfuzz::exec::{FullChecks, RunOptions};
use vmfuzz::ops::{
    Addr, DeferTarget, Input, KindTraits, Op, OpKind, PageRef, VmallocApi, GFP_NOFAIL,
    MAX_GET_VM_AREA_SIZE,
};
use vmfuzz::rng::Rng;
use vmfuzz::subject::BugKind;

/// Generated inputs.
const INPUTS: usize = 2000;
/// The share of its expectation each target must reach.
const FLOOR: f64 = 0.05;
/// Every target must have at least this much expectation: a target the generator almost
/// never tries is a generator defect too.
const MIN_EXPECTED: f64 = 10.0;

struct Sample {
    input: Input,
    weights: [u32; OpKind::COUNT],
    features: BTreeSet<Feature>,
}

/// The 2,000 runs, shared by the tests of this file.
fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut rng = Rng::new(0x6e41_7468);
        let opts = RunOptions {
            full_checks: FullChecks::FUZZING,
            ..RunOptions::default()
        };
        (0..INPUTS)
            .map(|_| {
                let n = 16 + rng.below(1200) as usize;
                let data = rng.bytes(n);
                let input = vmfuzz::codec::decode(&data);
                let weights = vmfuzz::codec::swarm_weights(&data);
                let report = vmfuzz::check(&input, &opts)
                    .unwrap_or_else(|f| panic!("the correct engine produced a finding:\n{f}"));
                Sample {
                    input,
                    weights,
                    features: report.features,
                }
            })
            .collect()
    })
}

/// The chance that `s`'s swarm draws a kind of `carriers` at least once.
fn chance(s: &Sample, carriers: &[OpKind]) -> f64 {
    let total: u32 = s.weights.iter().sum();
    let w: u32 = carriers.iter().map(|k| s.weights[k.index()]).sum();
    if total == 0 || s.input.ops.is_empty() {
        return 0.0;
    }
    let miss = 1.0 - f64::from(w) / f64::from(total);
    1.0 - miss.powi(s.input.ops.len() as i32)
}

fn feature(category: Category, name: &'static str, detail: &'static str) -> Feature {
    Feature {
        category,
        name,
        detail,
    }
}

/// One target: a feature and what gives an input its chance at it.
struct Target {
    feature: Feature,
    chance: Box<dyn Fn(&Sample) -> f64>,
}

fn by_kinds(feature: Feature, kinds: Vec<OpKind>) -> Target {
    Target {
        feature,
        chance: Box::new(move |s| chance(s, &kinds)),
    }
}

fn by_input(feature: Feature, carrier: impl Fn(&Input) -> bool + 'static) -> Target {
    Target {
        feature,
        chance: Box::new(move |s| if carrier(&s.input) { 1.0 } else { 0.0 }),
    }
}

fn kinds(pred: impl Fn(OpKind) -> bool) -> Vec<OpKind> {
    OpKind::ALL.into_iter().filter(|&k| pred(k)).collect()
}

/// Check `targets`; report every one, fail on those below the floor.
fn assert_targets(what: &str, targets: Vec<Target>) {
    let samples = samples();
    let mut bad = Vec::new();
    eprintln!("{what}: reached / expected (share), over {INPUTS} inputs");
    for t in &targets {
        let expected: f64 = samples.iter().map(|s| (t.chance)(s)).sum();
        let reached = samples
            .iter()
            .filter(|s| s.features.contains(&t.feature))
            .count();
        let share = reached as f64 / expected.max(f64::MIN_POSITIVE);
        eprintln!(
            "  {:<48} {reached:>5} / {expected:>7.1} ({:>5.1}%)",
            t.feature.to_string(),
            100.0 * share
        );
        if expected < MIN_EXPECTED || share < FLOOR {
            bad.push(format!(
                "{} reached {reached} of {expected:.1} expected",
                t.feature
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{what} below {}% of expectation (or expectation below {MIN_EXPECTED}): {bad:#?}",
        FLOOR * 100.0
    );
}

#[test]
fn every_op_kind_runs_at_its_swarm_share() {
    let targets = OpKind::ALL
        .into_iter()
        .map(|k| by_kinds(feature(Category::Op, k.name(), ""), vec![k]))
        .collect();
    assert_targets("op kinds", targets);
}

#[test]
fn every_outcome_is_reached_at_its_swarm_share() {
    let mut targets = Vec::new();
    for k in OpKind::ALL {
        let mut outcomes = vec!["ok"];
        // NULL: every allocating call can fail; find_vm_area finds nothing.
        if k.is(KindTraits::ALLOCATES) && k != OpKind::AllocPage || k == OpKind::FindVmArea {
            outcomes.push("null");
        }
        // Skipped: ops naming a live area, a writable or mapped one, or a caller page,
        // when there is none (design §7).
        if matches!(
            k,
            OpKind::FreeVmArea
                | OpKind::FreePage
                | OpKind::Vmap
                | OpKind::Vunmap
                | OpKind::Vfree
                | OpKind::VfreeIrq
                | OpKind::VfreeAtomic
                | OpKind::Write
                | OpKind::Read
        ) {
            outcomes.push("skipped");
        }
        for o in outcomes {
            targets.push(by_kinds(feature(Category::Outcome, k.name(), o), vec![k]));
        }
    }
    assert_targets("outcomes", targets);
}

#[test]
fn every_rule_and_event_is_reached_at_its_swarm_share() {
    use Category::{Event, Rule};
    let alloc = kinds(|k| k.is(KindTraits::ALLOCATES) && k != OpKind::AllocPage);
    let vmalloc = kinds(|k| VmallocApi::of(k).is_some() || k == OpKind::VmallocRange);
    let frees = vec![
        OpKind::Vfree,
        OpKind::Vunmap,
        OpKind::FreeVmArea,
        OpKind::RunDeferred,
    ];
    let purging = [alloc.clone(), frees.clone(), vec![OpKind::VmUnmapAliases]].concat();
    let r = |name, detail| feature(Rule, name, detail);
    let e = |name| feature(Event, name, "");
    let mut targets = vec![
        by_kinds(r("R1", "size_gate"), alloc.clone()),
        by_kinds(r("R2", "no_guard"), vec![OpKind::VmallocRange]),
        by_kinds(r("R3", "no_fit_after_purge"), alloc.clone()),
        by_kinds(r("R3", "purge_and_retry_succeeded"), alloc.clone()),
        by_kinds(r("R4", "large_align"), vec![OpKind::VmallocRange]),
        by_kinds(
            r("R4", "ioremap_align"),
            vec![OpKind::GetVmArea, OpKind::GetVmAreaRange],
        ),
        by_kinds(r("R5", "nested_array"), vmalloc.clone()),
        by_kinds(r("R5", "kmalloc_array"), vmalloc.clone()),
        by_kinds(r("R6", "partial_failure"), alloc.clone()),
        by_kinds(r("R7", "mapped"), alloc.clone()),
        by_kinds(r("R8", "failure_residue"), alloc.clone()),
        by_kinds(r("R9", "lazy_free"), frees.clone()),
        by_kinds(r("R9", "threshold_purge"), frees.clone()),
        by_kinds(
            r("R9", "deferred"),
            vec![OpKind::VfreeIrq, OpKind::VfreeAtomic],
        ),
        by_kinds(
            r("R9", "vm_unmap_aliases_purge"),
            vec![OpKind::VmUnmapAliases],
        ),
        by_kinds(r("R10", "unaligned"), frees.clone()),
        by_kinds(r("R10", "nonexistent"), frees.clone()),
        by_kinds(r("R10", "interior_free"), vec![OpKind::Vfree]),
        by_kinds(r("R11", "vunmap_orphans_pages"), vec![OpKind::Vunmap]),
        by_kinds(r("R12", "find_vm_area"), vec![OpKind::FindVmArea]),
        by_kinds(r("R12", "vmalloc_to_pfn"), vec![OpKind::VmallocToPfn]),
        by_kinds(r("R12", "is_vmalloc_addr"), vec![OpKind::IsVmallocAddr]),
        by_kinds(e("alloc_failure"), alloc.clone()),
        by_kinds(e("alloc_partial"), alloc.clone()),
        by_kinds(e("vmap_alloc_failed"), alloc.clone()),
        by_kinds(e("bad_address"), frees.clone()),
        by_kinds(e("nonexistent_area"), frees.clone()),
        by_kinds(e("tlb_flush"), purging),
        // Boundary arguments (design §4.1): a VA that fills its hole exactly.
        by_kinds(
            feature(Category::Shape, "exact_fit", ""),
            vec![OpKind::Fit, OpKind::RangeFit],
        ),
        // Warnings 6 and 7 (a non-none or NULL target PTE, clearing a non-present PTE) have
        // no path in a correct 4.x kernel run single-threaded: only a broken subject emits
        // them, and the events oracle catches that. They are not generator targets.
    ];
    // R13: an injected failure at each allocation step, for inputs whose fault plan has one.
    for kind in vmfuzz::ops::FaultKind::ALL {
        let name = kind.name();
        targets.push(Target {
            feature: r("R13", name),
            chance: Box::new(move |s| {
                if s.input.machine.faults.iter().any(|f| f.kind == kind) {
                    chance(s, &kinds(|k| k.is(KindTraits::ALLOCATES)))
                } else {
                    0.0
                }
            }),
        });
    }
    assert_targets("rules and events", targets);
}

/// The last op, if it may end the input.
fn last_bug(input: &Input) -> Option<&Op> {
    input.ops.last().filter(|op| op.may_bug(&input.machine))
}

#[test]
fn every_typed_bug_and_the_hang_end_inputs_at_their_share() {
    let fatal = |name| feature(Category::Outcome, "fatal", name);
    let knob = |input: &Input, key: &str, value: &str| input.machine.knobs.get(key) == Some(value);
    let nr_nodes = |input: &Input| input.machine.nodes.len() as u32;
    let targets = vec![
        by_input(
            fatal(BugKind::AlignNotPowerOfTwo.name()),
            |i| matches!(last_bug(i), Some(Op::VmallocRange { align, .. }) if !align.is_power_of_two()),
        ),
        by_input(fatal(BugKind::VunmapInInterrupt.name()), |i| {
            matches!(last_bug(i), Some(Op::Vunmap { irq: true, .. }))
        }),
        by_input(fatal(BugKind::FreeVmAreaMismatch.name()), |i| {
            matches!(last_bug(i), Some(Op::FreeVmArea { .. }))
        }),
        by_input(fatal(BugKind::BadPageFree.name()), |i| {
            matches!(
                last_bug(i),
                Some(Op::FreePage {
                    page: PageRef::Pfn(_)
                })
            )
        }),
        by_input(fatal(BugKind::InvalidNode.name()), move |i| {
            matches!(last_bug(i), Some(
                Op::VmallocNode { node: Some(n), .. }
                | Op::AllocPage { node: Some(n), .. }
                | Op::VmallocRange { node: Some(n), .. }
            ) if *n >= nr_nodes(i))
        }),
        by_input(fatal(BugKind::Oops.name()), move |i| {
            let deferred = matches!(
                last_bug(i),
                Some(Op::VfreeDeferred {
                    target: DeferTarget::Addr(_),
                    ..
                })
            );
            let deref = knob(i, "vunmap_lookup", "find_vmap_area_deref")
                && matches!(
                    i.ops.last(),
                    Some(Op::Vfree {
                        addr: Addr::Abs(_) | Addr::Stale { .. }
                    })
                );
            deferred || deref
        }),
        by_input(
            fatal(BugKind::ZeroSizeVa.name()),
            |i| matches!(last_bug(i), Some(Op::GetVmArea { size, .. }) if *size > MAX_GET_VM_AREA_SIZE),
        ),
        // Any op may hit this one (it needs no caller bug): an alignment whose ALIGN of the
        // window start wraps (2^46 and up wraps from every vmalloc window start).
        by_input(fatal(BugKind::VaStartBelowVstart.name()), move |i| {
            knob(i, "align_wrap_check", "off")
                && i.ops
                    .iter()
                    .any(|op| matches!(op, Op::VmallocRange { align, .. } if *align >= 1 << 46))
        }),
        by_input(fatal(BugKind::InvalidZone.name()), move |i| {
            knob(i, "implicit_highmem", "unconditional")
                && i.ops
                    .iter()
                    .any(|op| matches!(op.kind(), OpKind::Vmalloc32 | OpKind::Vmalloc32User))
        }),
        by_input(fatal("hang"), |i| {
            i.ops.iter().any(|op| {
                matches!(op, Op::VmallocGfp { gfp, .. } | Op::AllocPage { gfp, .. } if gfp & GFP_NOFAIL != 0)
            })
        }),
    ];
    // Every typed BUG of the contract is a target.
    let named: BTreeSet<&str> = targets.iter().map(|t| t.feature.detail).collect();
    for k in BugKind::ALL {
        assert!(named.contains(k.name()), "{k:?} has no target");
    }
    assert_targets("typed BUGs and the hang", targets);
}

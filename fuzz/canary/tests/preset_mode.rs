//! The canaries under the v4.19.0 preset (semantics §13, design §5.7): every planted fault
//! that is not itself an old knob value is still found when every generated input runs with
//! `kernel=4.19.0`, and the correct engine is clean on the input that exposes it. (A zoo entry
//! that *is* an old knob value, `PlantedBug::knob`, runs that value in the engine while the
//! model runs the input's; under the preset both run it, so there is nothing to find: those
//! entries are left out, by construction. So is `silent_bad_free`: its trigger, a free of an
//! address in no busy VA, is an oops in v4.19.0 (`vunmap_lookup=find_vmap_area_deref`), which
//! the generator makes only as a last op, where the oops comes before the missing warning.)
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use vmalloc_engine::PlantedBug;
use vmfuzz::exec::RunOptions;
use vmfuzz::ops::Knobs;
use vmfuzz::rng::Rng;

/// Generated inputs each fault may take (the rare zoo triggers need the most: see
/// `canaries.rs`).
const BUDGET: usize = 800;
/// The PRNG seed of the generated inputs.
const SEED: u64 = 1;

/// Inputs `budget` until the planted `bug` is found with every input on the preset, or `None`.
fn found_under_preset(bug: &str) -> Option<usize> {
    let mut rng = Rng::new(SEED);
    let planted = RunOptions {
        planted: Some(bug.to_string()),
        ..RunOptions::default()
    };
    for i in 0..BUDGET {
        let n = 16 + rng.below(1000) as usize;
        let mut input = vmfuzz::codec::decode(&rng.bytes(n));
        if input.ops.is_empty() {
            continue;
        }
        input.machine.knobs = Knobs::V4_19_0;
        if let Err(f) = vmfuzz::check(&input, &planted) {
            if let Err(clean) = vmfuzz::check(&input, &RunOptions::default()) {
                panic!("{bug}: the correct engine also fails under the preset:\n{clean}");
            }
            eprintln!(
                "{bug}: {} after {} input(s) under kernel=4.19.0",
                f.kind,
                i + 1
            );
            return Some(i + 1);
        }
    }
    None
}

#[test]
fn every_fault_but_the_knob_entries_is_found_under_the_v4_19_0_preset() {
    let mut missing = Vec::new();
    let mut knob_entries = 0;
    for bug in PlantedBug::ALL {
        if bug.knob().is_some() {
            knob_entries += 1;
            continue;
        }
        if bug == PlantedBug::SilentBadFree {
            continue;
        }
        if found_under_preset(bug.name()).is_none() {
            missing.push(bug.name());
        }
    }
    assert_eq!(knob_entries, 6, "the zoo's six knob entries");
    assert!(
        missing.is_empty(),
        "not found within {BUDGET} inputs under kernel=4.19.0: {missing:?}"
    );
}

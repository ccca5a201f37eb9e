//! The oracle can fail (design §4.3): every planted fault of the engine is reported
//! with the right finding kind within a stated number of generated inputs, at a fixed seed.
//! The inputs are the campaign's own (the byte decoder fed by a seeded PRNG), so this also
//! proves the generator reaches each fault's trigger. For the input that exposes a fault, the
//! correct engine must come out clean: the finding is the fault's, not the harness's. Each
//! canary runs twice: with every check after every op (replay's mode), and with the fuzzing
//! engines' incremental checks (whole-state checks only at op 0 and after the cleanup).
//!
//! Measured with seed 1 (`cargo test -p vmfuzz-canary -- --nocapture` prints the counts): every
//! fault is found within its first 10 inputs; the budget below leaves room for generator changes.
//!
//! `design §N` cites a section of `docs/design.md`.

use vmfuzz::exec::RunOptions;
use vmfuzz::finding::FindingKind;
use vmfuzz::rng::Rng;

/// Generated inputs each canary may take.
const BUDGET: usize = 64;
/// The PRNG seed of the generated inputs.
const SEED: u64 = 1;

fn canary(bug: &str, kind: FindingKind) {
    canary_with(bug, kind, RunOptions::default());
    // The fuzzing engines' incremental checks (whole-state checks only after the end-of-input
    // cleanup; each op walks only what it touched) must catch the fault too.
    let incremental = RunOptions {
        full_checks: vmfuzz::exec::FullChecks::Adaptive {
            max_frames: 0,
            every: usize::MAX,
        },
        ..RunOptions::default()
    };
    canary_with(bug, kind, incremental);
}

fn canary_with(bug: &str, kind: FindingKind, opts: RunOptions) {
    if let Err(e) = vmfuzz::planted::check_name(bug) {
        panic!("{bug}: {e}");
    }
    let mut rng = Rng::new(SEED);
    let planted = RunOptions {
        planted: Some(bug.to_string()),
        ..opts.clone()
    };
    for i in 0..BUDGET {
        let n = 16 + rng.below(1000) as usize;
        let input = vmfuzz::codec::decode(&rng.bytes(n));
        if input.ops.is_empty() {
            continue;
        }
        if let Err(f) = vmfuzz::check(&input, &planted) {
            assert_eq!(
                f.kind, kind,
                "{bug}: reported as the wrong kind after {i} inputs:\n{f}"
            );
            if let Err(clean) = vmfuzz::check(&input, &opts) {
                panic!("{bug}: the correct engine also fails this input:\n{clean}");
            }
            eprintln!(
                "{bug}: {kind} after {} generated input(s), at op {:?} ({:?})",
                i + 1,
                f.op_index,
                opts.full_checks
            );
            return;
        }
    }
    panic!("{bug}: not found within {BUDGET} generated inputs (seed {SEED})");
}

#[test]
fn skip_guard_page_is_a_wrong_placement() {
    canary("skip_guard_page", FindingKind::WrongPlacement);
}

#[test]
fn fit_rejects_exact_hole_is_a_wrong_placement() {
    canary("fit_rejects_exact_hole", FindingKind::WrongPlacement);
}

#[test]
fn fail_path_leaks_page_is_a_leak() {
    canary("fail_path_leaks_page", FindingKind::Leak);
}

#[test]
fn forget_nested_array_free_is_a_leak() {
    canary("forget_nested_array_free", FindingKind::Leak);
}

#[test]
fn fail_path_frees_va_eagerly_is_wrong_failure_handling() {
    canary(
        "fail_path_frees_va_eagerly",
        FindingKind::WrongFailureHandling,
    );
}

#[test]
fn silent_bad_free_is_wrong_failure_handling() {
    canary("silent_bad_free", FindingKind::WrongFailureHandling);
}

#[test]
fn vunmap_keeps_ptes_is_a_wrong_mapping() {
    canary("vunmap_keeps_ptes", FindingKind::WrongMapping);
}

#[test]
fn table_entry_0x63_is_a_wrong_mapping() {
    canary("table_entry_0x63", FindingKind::WrongMapping);
}

#[test]
fn drop_gfp_zero_is_wrong_data() {
    canary("drop_gfp_zero", FindingKind::WrongData);
}

#[test]
fn lazy_nr_without_guard_breaks_an_invariant() {
    canary("lazy_nr_without_guard", FindingKind::InvariantBroken);
}

#[test]
fn purge_over_release_is_an_overlap() {
    canary("purge_over_release", FindingKind::Overlap);
}

/// Every planted fault has a canary above (a new fault must get one).
#[test]
fn every_planted_fault_has_a_canary() {
    // Whitespace-insensitive: rustfmt may split a call over lines.
    let src: String = include_str!("canaries.rs").split_whitespace().collect();
    for bug in vmfuzz::planted::names() {
        assert!(
            src.contains(&format!("canary(\"{bug}\",")),
            "planted fault {bug} has no canary test"
        );
    }
}

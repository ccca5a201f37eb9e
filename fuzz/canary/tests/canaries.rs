//! The oracle can fail (design §4.3): every planted fault of the engine is reported
//! with the right finding kind within a stated number of generated inputs, at a fixed seed.
//! The inputs are the campaign's own (the byte decoder fed by a seeded PRNG), so this also
//! proves the generator reaches each fault's trigger. For the input that exposes a fault, the
//! correct engine must come out clean: the finding is the fault's, not the harness's. Each
//! canary runs twice: with every check after every op (replay's mode), and with the fuzzing
//! engines' incremental checks (whole-state checks only at op 0 and after the cleanup).
//!
//! The raw-state faults (design §8: each changes only raw state, every counter and view staying
//! correct) also name the oracle that must be the first of the pipeline to fire, and run in
//! three modes: every check after every op, the fuzzing checks (`FullChecks::FUZZING`), and the
//! incremental checks above.
//!
//! Measured with seed 1 (`cargo test -p vmfuzz-canary -- --nocapture` prints the counts): every
//! fault is found within its first 10 inputs but `pud_bad_rejects_kernpg` (18: it needs a
//! module area under PUD 510, below `0xffffffffc0000000`, freed); the budget below leaves room
//! for generator changes.
//!
//! `design §N` and `semantics §N` cite sections of `docs/design.md` and `docs/semantics.md`.

use vmfuzz::exec::{FullChecks, RunOptions};
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

// Raw-state faults (each corrupts only state that no counter or view the engine reports
// shows): the canary names the oracle that must be the first to fire, in every check mode.

/// The check modes a raw-state canary runs in: every check after every op (replay's), the
/// fuzzing runs' (`FullChecks::FUZZING`: what each call touched, the whole state every 32nd
/// op, before the last op and after the cleanup), and the same with no periodic whole-state
/// check at all (only at op 0, before the last op and after the cleanup), so that the touched
/// scope alone is shown to see what it can.
fn modes() -> [RunOptions; 3] {
    [
        RunOptions::default(),
        RunOptions {
            full_checks: FullChecks::FUZZING,
            ..RunOptions::default()
        },
        RunOptions {
            full_checks: FullChecks::Adaptive {
                max_frames: 0,
                every: usize::MAX,
            },
            ..RunOptions::default()
        },
    ]
}

/// `bug` is reported with `kind` by `oracle` (the first oracle of the pipeline to fire) within
/// `budget` generated inputs at [`SEED`], in every one of [`modes`]; the same input is clean on
/// the correct engine.
fn canary_oracle(bug: &str, kind: FindingKind, oracle: &str, budget: usize) {
    if let Err(e) = vmfuzz::planted::check_name(bug) {
        panic!("{bug}: {e}");
    }
    for opts in modes() {
        let mut rng = Rng::new(SEED);
        let planted = RunOptions {
            planted: Some(bug.to_string()),
            ..opts.clone()
        };
        let found = (0..budget).find_map(|i| {
            let n = 16 + rng.below(1000) as usize;
            let input = vmfuzz::codec::decode(&rng.bytes(n));
            if input.ops.is_empty() {
                return None;
            }
            let f = vmfuzz::check(&input, &planted).err()?;
            Some((i, input, f))
        });
        let Some((i, input, f)) = found else {
            panic!(
                "{bug}: not found within {budget} generated inputs (seed {SEED}, {:?})",
                opts.full_checks
            );
        };
        assert_eq!(
            (f.kind, f.oracle),
            (kind, oracle),
            "{bug}: reported as the wrong kind or by the wrong oracle after {} inputs \
             ({:?}):\n{f}",
            i + 1,
            opts.full_checks
        );
        if let Err(clean) = vmfuzz::check(&input, &opts) {
            panic!("{bug}: the correct engine also fails this input:\n{clean}");
        }
        eprintln!(
            "{bug}: {kind} by {oracle} after {} generated input(s), at op {:?} ({:?})",
            i + 1,
            f.op_index,
            opts.full_checks
        );
    }
}

/// A frame taken from the free bitmap with the counters left alone: only page ownership (I5)
/// sees it; between whole-state checks, through the allocator's raw count. Seed 1: the first
/// input, at the `module_alloc` that leaks (op 25), in every mode.
#[test]
fn leak_frame_behind_allocator_is_found_by_ownership() {
    canary_oracle(
        "leak_frame_behind_allocator",
        FindingKind::Leak,
        "ownership",
        BUDGET,
    );
}

/// An unreachable table page: the leaves agree, the table pages per region (I8) do not. Seed
/// 1: the first input, at the free that empties the table (op 6), in every mode.
#[test]
fn unlink_empty_pte_table_is_found_by_page_tables() {
    canary_oracle(
        "unlink_empty_pte_table",
        FindingKind::WrongMapping,
        "page_tables",
        BUDGET,
    );
}

/// A stray leaf outside every area, in the PTE table of the area just mapped: the exact walk
/// of that table finds it (the cross-check's samples do not include it). Seed 1: the first
/// input, op 1, in every mode.
#[test]
fn stray_pte_beyond_area_is_found_by_page_tables() {
    canary_oracle(
        "stray_pte_beyond_area",
        FindingKind::WrongMapping,
        "page_tables",
        BUDGET,
    );
}

/// A leaf that differs from the model only in NX: the `x86_64` crate's translation says so
/// before the exact leaf comparison runs (the cross-check's own canary). Seed 1: the first
/// input, op 1, in every mode.
#[test]
fn pte_drops_nx_is_found_by_the_crosscheck() {
    canary_oracle(
        "pte_drops_nx",
        FindingKind::WrongMapping,
        "crosscheck",
        BUDGET,
    );
}

/// A corrupted internal structure (the free-gap tree's count), which nothing but the
/// engine's own structure checks can see: the `invariants` oracle runs them. Seed 1: the first
/// input, at the allocation whose purge joins two gaps (op 26) with every check, at the next
/// whole-state point when fuzzing (op 32; op 68, the last, without periodic checks).
#[test]
fn gap_count_drift_is_found_by_the_structure_checks() {
    canary_oracle(
        "gap_count_drift",
        FindingKind::InvariantBroken,
        "invariants",
        BUDGET,
    );
}

/// A boot entry cleared (semantics §12.1): the walk checks the static entries. Seed 1: input
/// 18, at the free of a module area under PUD 510 (op 28), in every mode.
#[test]
fn pud_bad_rejects_kernpg_is_found_by_table_structure() {
    canary_oracle(
        "pud_bad_rejects_kernpg",
        FindingKind::WrongMapping,
        "table_structure",
        BUDGET,
    );
}

/// The root PGD moved out of PFN 1 (semantics §12.1): the walk checks the root frame. Seed 1:
/// the first input, op 1, in every mode.
#[test]
fn root_pgd_moved_is_found_by_table_structure() {
    canary_oracle(
        "root_pgd_moved",
        FindingKind::WrongMapping,
        "table_structure",
        BUDGET,
    );
}

/// Every planted fault has a canary above (a new fault must get one).
#[test]
fn every_planted_fault_has_a_canary() {
    // Whitespace-insensitive: rustfmt may split a call over lines.
    let src: String = include_str!("canaries.rs").split_whitespace().collect();
    for bug in vmfuzz::planted::names() {
        assert!(
            src.contains(&format!("canary(\"{bug}\","))
                || src.contains(&format!("canary_oracle(\"{bug}\",")),
            "planted fault {bug} has no canary test"
        );
    }
}

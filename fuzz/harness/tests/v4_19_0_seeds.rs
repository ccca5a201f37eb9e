//! The v4.19.0 seeds of `corpus/seeds/` (semantics §4.3, §4.4, §13, §15 bug 16): each replays
//! as its `expect:` line says under the preset `kernel=4.19.0`, shows the v4.19.0 address (or
//! BUG), and shows the default's address (or NULL) when the preset is taken away. The
//! addresses are derived by hand in each trace's header comment (and, step by step, in
//! `engine/tests/knobs_faithful_cache.rs` and `engine/tests/knobs_align_wrap.rs`).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use vmfuzz::exec::RunOptions;
use vmfuzz::ops::{Input, Knobs};
use vmfuzz::subject::{BugKind, Fatal};
use vmfuzz::text::{parse, Expect};

fn seed(name: &str) -> (Input, Expect) {
    let path = format!("{}/../../corpus/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let t = parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        t.input.machine.knobs,
        Knobs::V4_19_0,
        "{name} uses the preset"
    );
    (t.input, t.expect)
}

/// Run `input` recording every step; the model's result of op `index` and how it ended.
fn result_of(input: &Input, index: usize) -> (String, Option<Fatal>) {
    let opts = RunOptions {
        record: true,
        ..RunOptions::default()
    };
    let (steps, result) = vmfuzz::check_recorded(input, &opts);
    let report = result.unwrap_or_else(|f| panic!("a finding on the correct engine:\n{f}"));
    let step = steps
        .iter()
        .find(|s| s.index == index)
        .unwrap_or_else(|| panic!("op {index} did not run"));
    assert_eq!(step.model, step.subject);
    (step.model.clone(), report.ended)
}

fn without_preset(mut input: Input) -> Input {
    input.machine.knobs = Knobs::default();
    input
}

#[test]
fn the_4_4_example_skips_the_hole_only_under_v4_19_0() {
    let (input, expect) = seed("v4_19_0_cache_skips_exact_hole.trace");
    assert_eq!(expect, Expect::Clean);
    // Op 6: the last 1-page get_vm_area (VM_NO_GUARD: the VA is one page).
    let (v4_19_0, ended) = result_of(&input, 6);
    assert_eq!(ended, None);
    assert!(
        v4_19_0.starts_with("vm 0xffffc90000005000+0x1000"),
        "{v4_19_0}"
    );
    let (default, _) = result_of(&without_preset(input), 6);
    assert!(
        default.starts_with("vm 0xffffc90000001000+0x1000"),
        "{default}"
    );
}

#[test]
fn the_vmap_stack_sequence_skips_the_exact_hole_only_under_v4_19_0() {
    let (input, expect) = seed("v4_19_0_vmap_stack.trace");
    assert_eq!(expect, Expect::Clean);
    assert_eq!(result_of(&input, 3), ("0xffffc9000000c000".into(), None));
    assert_eq!(
        result_of(&without_preset(input), 3),
        ("0xffffc90000002000".into(), None)
    );
}

#[test]
fn align_shift_bugs_at_2_45_under_v4_19_0_and_gives_null_at_2_46_by_default() {
    let (input, expect) = seed("v4_19_0_align_shift_alloc.trace");
    assert_eq!(
        expect,
        Expect::Bug(BugKind::VaStartBelowVstart),
        "the trace expects the BUG"
    );
    // Op 3i is the allocation with align 2^i.
    let bug = Fatal::Bug(BugKind::VaStartBelowVstart);
    let (_, ended) = result_of(&input, 3 * 44);
    assert_eq!(ended, Some(bug));
    let opts = RunOptions {
        record: true,
        ..RunOptions::default()
    };
    let (steps, _) = vmfuzz::check_recorded(&input, &opts);
    assert_eq!(
        steps.last().map(|s| s.index),
        Some(3 * 45),
        "the input ends at 2^45"
    );
    let default = without_preset(input);
    assert_eq!(
        result_of(&default, 3 * 45),
        ("0xffffe00000000000".into(), None)
    );
    assert_eq!(result_of(&default, 3 * 46), ("NULL".into(), None));
}

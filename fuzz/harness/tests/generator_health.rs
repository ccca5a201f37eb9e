//! Generator health (design §7, "generators are tested too"): at a fixed seed, the
//! generator eventually reaches each behaviour a vmalloc fuzzer must exercise. Each target is
//! a behaviour the executor derives from the model's results, events and state (see
//! `vmfuzz::behaviour`), reached by running generated inputs engine-against-model, so a
//! generator change that silently stops producing one of them fails here.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;

use vmfuzz::behaviour::{Category, Feature};
use vmfuzz::exec::RunOptions;
use vmfuzz::rng::Rng;

fn f(category: Category, name: &'static str, detail: &'static str) -> Feature {
    Feature {
        category,
        name,
        detail,
    }
}

/// Generated inputs the whole set may take, at seed 7.
const BUDGET: usize = 120;

#[test]
fn the_generator_reaches_every_behaviour_that_matters() {
    use Category::*;
    let targets = [
        ("a purge (TLB flush)", f(Event, "tlb_flush", "")),
        (
            "a lazy-threshold purge on free",
            f(Rule, "R9", "threshold_purge"),
        ),
        (
            "an exhaustion failure after the purge and retry",
            f(Rule, "R3", "no_fit_after_purge"),
        ),
        (
            "an allocation that succeeds on the retry after a purge",
            f(Rule, "R3", "purge_and_retry_succeeded"),
        ),
        ("an injected vm_struct failure", f(Rule, "R13", "vm_struct")),
        ("an injected vmap_area failure", f(Rule, "R13", "vmap_area")),
        (
            "an injected pages_array failure",
            f(Rule, "R13", "pages_array"),
        ),
        ("an injected data_page failure", f(Rule, "R13", "data_page")),
        (
            "an injected table_page failure",
            f(Rule, "R13", "table_page"),
        ),
        (
            "a nested (vmalloc'ed) pages array",
            f(Rule, "R5", "nested_array"),
        ),
        (
            "an allocation adjacent to another area's guard page",
            f(Shape, "adjacent_to_guard", ""),
        ),
        (
            "a bad-free warning (unaligned)",
            f(Event, "bad_address", ""),
        ),
        (
            "a bad-free warning (nonexistent area)",
            f(Event, "nonexistent_area", ""),
        ),
        ("a free inside an area", f(Rule, "R10", "interior_free")),
        (
            "vunmap of vmalloc memory (orphaned pages)",
            f(Rule, "R11", "vunmap_orphans_pages"),
        ),
        ("the size gate", f(Rule, "R1", "size_gate")),
        (
            "a partial failure with its residue",
            f(Rule, "R8", "failure_residue"),
        ),
        ("a deferred free", f(Rule, "R9", "deferred")),
        ("an alignment above a page", f(Rule, "R4", "large_align")),
        ("the VM_IOREMAP alignment", f(Rule, "R4", "ioremap_align")),
    ];
    let mut reached: BTreeSet<Feature> = BTreeSet::new();
    let mut first: Vec<Option<usize>> = vec![None; targets.len()];
    let mut rng = Rng::new(7);
    let mut inputs = 0;
    while inputs < BUDGET && first.iter().any(Option::is_none) {
        let n = 16 + rng.below(1200) as usize;
        let input = vmfuzz::codec::decode(&rng.bytes(n));
        inputs += 1;
        match vmfuzz::check(&input, &RunOptions::default()) {
            Ok(report) => reached.extend(report.features),
            Err(finding) => panic!("the correct engine produced a finding:\n{finding}"),
        }
        for (i, (_, t)) in targets.iter().enumerate() {
            if first[i].is_none() && reached.contains(t) {
                first[i] = Some(inputs);
            }
        }
    }
    let mut missing = Vec::new();
    for ((what, _), at) in targets.iter().zip(&first) {
        match at {
            Some(n) => eprintln!("reached {what} after {n} input(s)"),
            None => missing.push(*what),
        }
    }
    assert!(
        missing.is_empty(),
        "not reached within {BUDGET} inputs: {missing:?}"
    );
    let op_kinds = reached.iter().filter(|f| f.category == Op).count();
    assert_eq!(op_kinds, vmfuzz::ops::OpKind::COUNT, "every op kind runs");
}

//! A short seeded campaign that must stay clean on the correct engine: the built-in campaign
//! (`vmfuzz::campaign`, behaviour feedback, the fuzzing checks), one worker, a fixed seed and
//! a fixed number of inputs, starting from the committed traces of `corpus/` (those that
//! expect a clean run). With `--jobs 1` and a run count the campaign repeats exactly, so this
//! is deterministic. It is part of the mutation-testing gate (`docs/mutants/README.md`): with
//! the corpus replay and the canaries, it is the test a mutant of the engine must fail.
//!
//! `design §N` cites a section of `docs/design.md`.

use vmfuzz::campaign::{self, CampaignOptions};
use vmfuzz::exec::{FullChecks, RunOptions};
use vmfuzz::load::{self, ReadAs};
use vmfuzz::text::Expect;

/// Inputs the campaign runs.
const RUNS: u64 = 2000;
/// Its seed.
const SEED: u64 = 11;

/// The committed traces that expect a clean run, as byte inputs (design §4.1).
fn clean_seeds() -> Vec<Vec<u8>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    load::collect(std::slice::from_ref(&root))
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|path| load::load(&path, ReadAs::Trace).ok())
        .filter(|l| l.trace.expect == Expect::Clean)
        .map(|l| vmfuzz::codec::encode(&l.trace.input))
        .collect()
}

#[test]
fn a_seeded_campaign_on_the_correct_engine_finds_nothing() {
    let seeds = clean_seeds();
    assert!(seeds.len() >= 10, "the corpus has its seeds");
    let opts = CampaignOptions {
        seed: SEED,
        time: None,
        runs: Some(RUNS),
        jobs: 1,
        seeds,
        run: RunOptions {
            full_checks: FullChecks::FUZZING,
            ..RunOptions::default()
        },
        ..CampaignOptions::default()
    };
    let summary = campaign::run(&opts, &vmfuzz::check, &mut |_, _| true, &|_| {});
    assert_eq!(summary.inputs, RUNS);
    if let Some(found) = summary.found {
        panic!(
            "the correct engine produced a finding after {} inputs:\n{}",
            found.inputs_before, found.finding
        );
    }
}

//! The differential driver under bolero: a plain `cargo test` runs a pinned set of inputs
//! (design §4.4), and the same harness fuzzes under a bolero engine.
//!
//! ```text
//! cargo test -p vmfuzz --test bolero                        # ITERATIONS inputs from SEED
//! BOLERO_RANDOM_SEED=N cargo test -p vmfuzz --test bolero   # replay the one seed a report names
//! cargo +nightly bolero test -p vmfuzz --engine libfuzzer differential   # nightly, not in CI
//! ```
//!
//! bolero's test engine draws a fresh seed from the OS for every random input; only
//! `BOLERO_RANDOM_SEED`, read when `check!()` starts, fixes one. So each pinned seed gets its
//! own `check!()` with random iterations switched off, named so that it replays no saved
//! input. Under a fuzzing engine the first `check!()` runs the fuzzer and does not return.
//!
//! `design §N` cites a section of `docs/design.md`.

use bolero::check;
use vmfuzz::drivers::FuzzInput;

/// First seed of the pinned run (seeds `SEED..SEED + ITERATIONS`).
const SEED: u128 = 0x766d_6675_7a7a;
/// Inputs in the pinned run.
const ITERATIONS: u128 = 32;
/// Longest input bolero generates, in bytes: a quarter of the libFuzzer target's `max_len`, so
/// the pinned run takes about 15 s in the unoptimized test build.
const MAX_LEN: usize = 1024;

fn run(input: &FuzzInput) {
    let _ = vmfuzz::drivers::differential(&input.0);
}

#[test]
fn differential() {
    let caller_seed = std::env::var_os("BOLERO_RANDOM_SEED").is_some();
    // bolero's own target: replays what `cargo bolero test` saved under
    // tests/__fuzz__/differential/ (once), runs a seed the caller set, and is the target a
    // fuzzing engine drives (there it does not return).
    check!()
        .with_arbitrary::<FuzzInput>()
        .with_iterations(0)
        .with_max_len(MAX_LEN)
        .for_each(run);
    if caller_seed {
        return;
    }
    // The pinned run, one seed per `check!()`, under a name with no saved inputs.
    for seed in SEED..SEED + ITERATIONS {
        // Read by the `check!()` below when it starts; no other test in this binary reads
        // the environment.
        std::env::set_var("BOLERO_RANDOM_SEED", seed.to_string());
        check!(name = "differential_pinned")
            .with_arbitrary::<FuzzInput>()
            .with_iterations(0)
            .with_max_len(MAX_LEN)
            .for_each(run);
    }
}

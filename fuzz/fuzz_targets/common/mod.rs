//! Glue shared by the structured targets: the `Verdict` to `Corpus` mapping. The input type,
//! [`vmfuzz::drivers::FuzzInput`], lives in the harness (its `Debug` is what `cargo fuzz fmt`
//! prints). No fuzzing logic lives here.
//!
//! `design §N` cites a section of `docs/design.md`.

use libfuzzer_sys::Corpus;
use vmfuzz::drivers::Verdict;

/// `Corpus::Reject` for inputs that decode to nothing (design §4.8), `Keep` otherwise.
pub fn corpus(verdict: Verdict) -> Corpus {
    match verdict {
        Verdict::Keep => Corpus::Keep,
        Verdict::Reject => Corpus::Reject,
    }
}

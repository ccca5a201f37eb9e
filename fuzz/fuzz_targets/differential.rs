//! libFuzzer target `differential`: structured op sequences, engine against the reference
//! model, every oracle on. All logic is in [`vmfuzz::drivers::differential`]; a finding panics
//! with its report and the input as a trace.
//!
//! ```text
//! cargo fuzz run differential -s none fuzz/corpus/differential    # stable
//! cargo fuzz fmt differential ARTIFACT                              # the input as a trace
//! ```
#![no_main]

mod common;

use libfuzzer_sys::{fuzz_target, Corpus};
use vmfuzz::drivers::FuzzInput;

fuzz_target!(|input: FuzzInput| -> Corpus {
    common::corpus(vmfuzz::drivers::differential(&input.0))
});

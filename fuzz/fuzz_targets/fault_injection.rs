//! libFuzzer target `fault_injection`: runs an input once to count the allocation attempts of
//! each kind (design §3.7), then again with each of up to [`PER_KIND`] attempt indices per
//! kind failed in turn, every run differential. All logic is in
//! [`vmfuzz::drivers::fault_injection`], which keeps the first 48 ops and replaces the
//! input's own fault plan (so `cargo fuzz fmt` shows the input before that).
//!
//! `design §N` cites a section of `docs/design.md`.
#![no_main]

mod common;

use libfuzzer_sys::{fuzz_target, Corpus};
use vmfuzz::drivers::FuzzInput;

/// Attempt indices failed per fault kind and input: with five kinds, one input costs at
/// most `1 + 5 * PER_KIND` differential runs.
const PER_KIND: u64 = 4;

fuzz_target!(|input: FuzzInput| -> Corpus {
    common::corpus(vmfuzz::drivers::fault_injection(&input.0, PER_KIND))
});

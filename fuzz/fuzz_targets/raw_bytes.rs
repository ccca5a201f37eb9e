//! libFuzzer target `raw_bytes`: robustness. The bytes go to the trace parser as text, then
//! into the engine as raw calls with unvalidated arguments; nothing may panic. All logic is in
//! [`vmfuzz::drivers::raw_bytes`].
//!
//! The input is not in vmfuzz's structured byte format, so it stays a plain byte slice
//! (`cargo fuzz fmt` prints the bytes).
#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use vmfuzz::drivers::{raw_bytes, Verdict};

fuzz_target!(|data: &[u8]| -> Corpus {
    match raw_bytes(data) {
        Verdict::Keep => Corpus::Keep,
        Verdict::Reject => Corpus::Reject,
    }
});

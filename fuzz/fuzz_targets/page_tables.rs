//! libFuzzer target `page_tables`: only mapping and unmapping ops on a four-level machine,
//! every mapped page also translated through the `x86_64` crate after every op. All logic is
//! in [`vmfuzz::drivers::page_tables`], which drops the other ops (so `cargo fuzz fmt` shows
//! the input before that filter).
#![no_main]

mod common;

use libfuzzer_sys::{fuzz_target, Corpus};
use vmfuzz::drivers::FuzzInput;

fuzz_target!(|input: FuzzInput| -> Corpus {
    common::corpus(vmfuzz::drivers::page_tables(&input.0))
});

//! AFL++ target `differential`: structured op sequences, engine against the reference model,
//! every oracle on. All logic is in [`vmfuzz::drivers::differential`]; a finding panics with
//! its report and the input as a trace, and the `fuzz!` hook turns the panic into the abort
//! AFL++ records as a crash.
//!
//! Run outside AFL++, the binary reads one input from standard input and runs it once:
//! `fuzz/afl/target/release/differential < CRASH` prints the report of a saved crash.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        // `Verdict::Reject` (an input that decodes to no op) has no AFL++ counterpart.
        let _ = vmfuzz::drivers::differential(data);
    });
}

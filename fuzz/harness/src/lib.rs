//! # vmfuzz: differential fuzzing of the Linux 4.x vmalloc allocator
//!
//! vmfuzz runs generated sequences of vmalloc-family calls on two independent implementations
//! of the Linux 4.19.y semantics and compares them exactly after every call:
//!
//! - the **engine** (`vmalloc-engine`), the system under test: the kernel's allocation path
//!   over simulated physical memory, writing real x86-64 page-table entries into frames;
//! - the **reference model** (`vmalloc-reference`), written rule by rule from `docs/semantics.md`
//!   with plain data structures, sharing no code with the engine.
//!
//! Modules, in the order of a run (after wasmtime's fuzzing crate: generators, oracles and
//! targets apart):
//! - the contract: [`subject`] (the [`Kernel`](subject::Kernel) trait any allocator
//!   implements, and what the model predicts), [`subjects`] (allocators by name), [`adapter`]
//!   (the engine and the model behind the trait);
//! - inputs: [`ops`] (the op language, its kinds declared once), [`codec`] (the invertible byte
//!   format, which is also the generator), [`text`] (readable traces), [`load`] (files);
//! - a run: [`exec`] (the executor), [`oracle`] (the named checks, one per file), [`finding`]
//!   (reports), [`explain`], [`replay`] (verdicts), [`behaviour`] (what a run reached);
//! - search: [`campaign`] (the built-in fuzz loop), [`coverage`] (its code-coverage signal),
//!   [`minimize`], [`drivers`] (the entry points of libFuzzer, AFL++ and bolero), [`planted`]
//!   (the engine's deliberate faults), [`rng`];
//! - measurement: [`detect`] (the detection benchmark: time to find each planted fault, with
//!   every oracle and with two weaker ones);
//! - `cli` (feature `cli`): the command line, for the `vmfuzz` binary and for binaries of
//!   your own that register more subjects.
//!
//! [`check`] runs one input on the engine against the model.
#![deny(missing_docs)]

pub mod adapter;
pub mod behaviour;
pub mod campaign;
#[cfg(feature = "cli")]
pub mod cli;
pub mod codec;
pub mod coverage;
pub mod detect;
pub mod drivers;
pub mod exec;
pub mod explain;
pub mod finding;
pub mod load;
pub mod minimize;
pub mod ops;
pub mod oracle;
pub mod planted;
pub mod ptdump;
pub mod replay;
pub mod rng;
pub mod subject;
pub mod subjects;
pub mod text;

use exec::{Report, RunOptions, Step};
use finding::Finding;
use ops::Input;

/// Run one input: the engine against the model, every oracle on. `Err` is the first finding.
pub fn check(input: &Input, opts: &RunOptions) -> Result<Report, Box<Finding>> {
    subjects::ENGINE.check(input, opts)
}

/// As [`check`], also returning the step log (when `opts.record` is set), finding or not.
pub fn check_recorded(
    input: &Input,
    opts: &RunOptions,
) -> (Vec<Step>, Result<Report, Box<Finding>>) {
    subjects::ENGINE.check_recorded(input, opts)
}

//! # simple-vmalloc: fuzzing your own allocator with vmfuzz
//!
//! A worked example of a **subject**: an allocator of your own, fuzzed against vmfuzz's
//! reference model without editing vmfuzz. Three steps:
//!
//! 1. implement [`vmfuzz::subject::Kernel`] ([`SimpleVmalloc`]);
//! 2. describe it as a [`vmfuzz::subjects::Subject`] (a name, a line, a constructor:
//!    [`SUBJECT`], [`SUBJECT_FIXED`]);
//! 3. register it in a binary: `vmfuzz::cli::main_with(Registry::builtin().with(SUBJECT))`
//!    (the workspace's `vmfuzz` binary, `fuzz/cli/src/main.rs`, does exactly that), then run
//!    `cargo vmfuzz fuzz --subject simple`.
//!
//! [`SimpleVmalloc`] is a third implementation of the 4.19.y vmalloc semantics, beside the
//! engine and the model, written only from `docs/semantics.md`, `docs/design.md` and
//! `docs/contract.md`, and deliberately simple. It carries one realistic bug of its own,
//! switched by [`Bug`]: [`SUBJECT`] (`simple`) has it on, so that a campaign finds it, and
//! [`SUBJECT_FIXED`] (`simple-fixed`) has it off and is clean against the model. The crate's
//! README says what is supported, which oracles apply without `RawMemory`, and how to see the
//! bug.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod kernel;
mod pool;

pub use api::SimpleVmalloc;

use vmfuzz::ops::Machine;
use vmfuzz::subject::Kernel;
use vmfuzz::subjects::Subject;

/// The bug planted in a [`SimpleVmalloc`], if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bug {
    /// No bug: the 4.19.y semantics.
    None,
    /// The lazy frees a **failed** allocation makes while it undoes itself (its own VA, and a
    /// nested pages array's VA; `docs/semantics.md §6.1` step 6 and §6.4 step 2) skip the
    /// `lazy_nr > lazy_max_pages` threshold check and its purge. R8 and R9 step 2 say every
    /// lazy free runs the check, failure paths included, so `lazy_nr` can be left above
    /// `lazy_max_pages` (I6) and the purge and its TLB flush happen late or never.
    FailureSkipsLazyPurge,
}

fn make(machine: &Machine, planted: Option<&str>, bug: Bug) -> Result<Box<dyn Kernel>, String> {
    if let Some(name) = planted {
        return Err(format!(
            "planted faults ({name}) are the engine's; this subject has its own bug instead \
             (`--subject simple` has it on, `--subject simple-fixed` off)"
        ));
    }
    Ok(Box::new(SimpleVmalloc::new(machine, bug)))
}

fn make_buggy(machine: &Machine, planted: Option<&str>) -> Result<Box<dyn Kernel>, String> {
    make(machine, planted, Bug::FailureSkipsLazyPurge)
}

fn make_fixed(machine: &Machine, planted: Option<&str>) -> Result<Box<dyn Kernel>, String> {
    make(machine, planted, Bug::None)
}

/// `simple`: the example allocator with its bug ([`Bug::FailureSkipsLazyPurge`]) on. The
/// point of the example is that vmfuzz finds it.
pub const SUBJECT: Subject = Subject {
    name: "simple",
    about: "examples/simple-vmalloc: a deliberately simple 4.19.y vmalloc with one planted bug \
            (failure paths skip the lazy-purge threshold check)",
    make: make_buggy,
};

/// `simple-fixed`: the example allocator without its bug; clean against the model.
pub const SUBJECT_FIXED: Subject = Subject {
    name: "simple-fixed",
    about: "examples/simple-vmalloc without its bug: clean against the model",
    make: make_fixed,
};

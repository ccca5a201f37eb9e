//! Canary tests for vmfuzz (see `tests/`): each of the engine's planted faults must be reported
//! by the harness with the right finding kind within a stated number of generated inputs at a
//! fixed seed, and the same input must be clean on the correct engine; a fault that changes
//! only raw state must also be reported first by the raw oracle it targets (ownership, page
//! tables, the `x86_64` cross-check, the engine's structure checks, the table structure). This
//! crate has no code of its own; it exists so that the `planted-bugs` feature is switched on
//! only for these tests.

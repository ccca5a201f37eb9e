//! Canary tests for vmfuzz (see `tests/`): each of the engine's planted faults must be reported
//! by the harness with the right finding kind within a stated number of generated inputs at a
//! fixed seed, and the same input must be clean on the correct engine. This crate has no code
//! of its own; it exists so that the `planted-bugs` feature is switched on only for these tests.

//! Adapters: the engine and the reference model behind the harness's traits.

pub mod engine;
pub mod model;

//! Oracles that read a subject's raw state: page tables walked from the root frame, page
//! ownership, and the `x86_64` crate as an independent walker.

pub mod ownership;
pub mod pagetable;
pub mod ptdump;
pub mod x86_crosscheck;

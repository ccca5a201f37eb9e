//! `vmalloc-reference`: an obviously-correct reference model of the Linux 4.x vmalloc path.
//!
//! The model is written rule by rule from `docs/semantics.md` (rules R1–R13 and invariants
//! I1–I9 of semantics §12, boot state semantics §12.1, page policy semantics §12.2) and follows the
//! shapes pinned in `docs/contract.md`. It shares no code and no crate with the engine: every type,
//! constant, `ALIGN`, PTE encoding and the page policy are written here again from
//! `docs/semantics.md`.
//!
//! Clarity beats speed: busy areas are a sorted `Vec` scanned linearly (R3 is one pass over
//! it, visiting the candidates of semantics §4.3 in increasing order), PTEs are a `BTreeMap` from
//! virtual address to leaf value, and page-table pages are a `BTreeMap` keyed by
//! `(level, region base)`.
//!
//! Every rule function carries its rule id in its name (`r3_lowest_fit_search`, `r9_free`,
//! …) and its doc comment says what the rule demands. Bad input never panics: it gives NULL plus
//! warnings, a WARN and a no-op, or a typed [`Fatal`] exactly where the contract says.
//!
//! [`MachineConfig::knobs`] selects the version knobs of semantics §13 ([`Knobs`]):
//! the default is 4.19.y as semantics §12 defines it, [`Knobs::v4_19_0`] is v4.19.0 as shipped (its
//! strict search cache in its own module, `cache4x`; the BUG of a wrapped `ALIGN`; the oops
//! of a free in no busy VA), and the other knobs give older 4.x behaviours.
//!
//! ```
//! use vmalloc_reference::{MachineConfig, Model};
//! let mut m = Model::new(MachineConfig::default()).unwrap();
//! // R2: one page of data plus the guard page; R3: lowest fit is VMALLOC_START.
//! let va = m.vmalloc(4096, 1).unwrap().unwrap();
//! assert_eq!(va, 0xffff_c900_0000_0000);
//! // semantics §12.2: the first data page is the lowest pool PFN, 0x100; R7: PAGE_KERNEL leaf.
//! assert_eq!(m.ptes()[&va], (0x100 << 12) | 0x8000_0000_0000_0163);
//! ```
//!
//! `semantics §N` cites a section of `docs/semantics.md`.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alloc;
mod areas;
mod arith;
mod cache4x;
mod config;
mod faults;
mod free;
mod invariants;
mod knobs;
mod model;
mod pages;
mod ptes;
mod queries;
mod runs;
mod types;
mod views;

#[cfg(test)]
mod tests;

pub use arith::{PAGE_SHIFT, PAGE_SIZE};
pub use config::{ConfigError, FaultKind, FaultPlan, MachineConfig, NodeSpan, Paging};
pub use invariants::InvariantViolation;
pub use knobs::{
    AlignWrapCheck, Faithful4xCache, ImplicitHighmem, IoremapAlignRule, KnobError, Knobs,
    VmapNowarnHonoured, VunmapLookup,
};
pub use model::Model;
pub use ptes::TableLevel;
pub use types::{
    AccessError, ArrayKind, BugKind, Context, Event, Fatal, Gfp, Prot, VmFlags, VmInfo,
};
pub use views::{
    AreaState, AreaSummary, BusyArea, LiveObjects, PageBucketCounts, PageBuckets, PageContents,
    Request,
};

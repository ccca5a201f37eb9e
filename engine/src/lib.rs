//! vmalloc-engine: the Linux 4.x (4.19.y) vmalloc path over simulated physical memory, with real
//! x86-64 page tables. The system under test of vmfuzz.
//!
//! The behaviour follows `docs/semantics.md` (cited as `semantics §N`, R1–R13, I1–I9),
//! `docs/design.md` (cited as `design §x.y`) and `docs/contract.md` (cited as `contract §N`).
//! The entry point is [`Kernel`]:
//!
//! ```
//! use vmalloc_engine::{Context, Kernel, MachineConfig};
//! let mut k = Kernel::new(MachineConfig::default()).unwrap();
//! let p = k.vmalloc(4096, 1).unwrap().unwrap();
//! assert_eq!(p.as_u64(), 0xffff_c900_0000_0000);
//! k.vfree(p, Context::Process).unwrap();
//! assert_eq!(k.lazy_nr(), 2); // one page plus the guard page, pending a purge
//! ```
//!
//! Module map: [`addr`] (newtypes, page arithmetic), [`config`], [`knobs`] (version knobs),
//! [`gfp`], [`vm_flags`], [`prot`], [`fault`] (fault plan), [`event`], [`error`], [`physmem`]
//! (page pool and sparse contents), [`pgtable`] (entry bits, map, unmap, walks, ptdump),
//! [`vmap_area`] (busy areas, free gaps, the 4.x search cache, lazy list, purge), `bptree`
//! (the ordered map of the busy areas and of a large pool's free extents), `vm_area`
//! (`__get_vm_area_node`, `alloc_vmap_area`, `remove_vm_area`), `vmalloc`
//! (`__vmalloc_node_range` and wrappers), `vfree` (`__vunmap`, deferred frees), `vmap`,
//! `access` (reads, writes, `vmalloc_to_page`), `vmallocinfo`, [`counters`], [`view`] (oracle
//! views), `check` (the structure checks, [`Kernel::check_structures`]), [`PlantedBug`] (the
//! faults are compiled in only with the feature `planted-bugs`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// True if the planted fault `$bug` is selected (always false without `planted-bugs`).
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($k:expr, $bug:ident) => {
        $k.planted == Some($crate::planted::PlantedBug::$bug)
    };
}

/// True if the planted fault `$bug` is selected (always false without `planted-bugs`).
#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($k:expr, $bug:ident) => {
        $crate::no_planted_bug()
    };
}

/// Without the `planted-bugs` feature no fault is ever selected. A function rather than a
/// literal `false`, so that conditions read the same with and without the feature.
#[cfg(not(feature = "planted-bugs"))]
#[inline(always)]
pub(crate) const fn no_planted_bug() -> bool {
    false
}

mod access;
pub mod addr;
mod bptree;
mod check;
pub mod config;
pub mod counters;
pub mod error;
pub mod event;
pub mod fault;
pub mod gfp;
mod kernel;
pub mod knobs;
pub mod pgtable;
pub mod physmem;
mod planted;
pub mod prot;
mod slab;
mod vfree;
pub mod view;
mod vm_area;
pub mod vm_flags;
mod vm_struct;
mod vmalloc;
mod vmallocinfo;
mod vmap;
pub mod vmap_area;

pub use addr::{Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
pub use config::{ConfigError, FreeFrames, MachineConfig, NodeSpan, Paging, Zone};
pub use counters::Counters;
pub use error::{AccessError, BugKind, Fatal, KResult};
pub use event::Event;
pub use fault::{FaultKind, FaultPlan};
pub use gfp::Gfp;
pub use kernel::{Context, Kernel};
pub use knobs::{
    AlignWrapCheck, Faithful4xCache, ImplicitHighmem, IoremapAlignRule, KnobError, Knobs,
    VmapNowarnHonoured, VunmapLookup,
};
pub use pgtable::walk::{Translation, WalkError};
pub use physmem::FrameState;
pub use planted::{PlantedBug, PlantedNotCompiled, PLANTED_BUGS_COMPILED};
pub use prot::Prot;
pub use view::{AreaState, BusyArea, PhysView};
pub use vm_flags::VmFlags;
pub use vm_struct::{ArrayKind, VmInfo};
pub use vmap_area::VaRequest;

//! Typed fatal outcomes (contract §8, design §3.3, semantics §3.15) and access errors.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use core::fmt;

/// A `BUG()` the kernel would hit, at the place the kernel has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BugKind {
    /// `BUG_ON(!is_power_of_2(align))` in `alloc_vmap_area` (semantics §4.1), after the vm_struct
    /// attempt.
    AlignNotPowerOfTwo,
    /// `BUG_ON(!size)` in `alloc_vmap_area` (semantics §4.1): the guard add wrapped the size to 0
    /// (semantics §3.2).
    ZeroSizeVa,
    /// `BUG_ON(in_interrupt())` in `vunmap` (R11).
    VunmapInInterrupt,
    /// `BUG_ON(ret != area)` in `free_vm_area`: the address is not the start of a live vm area.
    FreeVmAreaMismatch,
    /// `__free_page` of a frame that is not allocated ("Bad page state").
    BadPageFree,
    /// A node index outside the machine (a caller bug; contract §3).
    InvalidNode,
    /// The kernel would fault, e.g. a deferred free writing its list node through an unmapped
    /// or read-only address (contract §10), or, under `vunmap_lookup=find_vmap_area_deref`,
    /// `__vunmap` dereferencing the NULL `find_vmap_area` of an address in no busy VA
    /// (docs/semantics.md R10). Also the untyped `BUG()` of `__insert_vmap_area` that the
    /// planted bug 4 reaches (an area whose end wrapped to 0, [`crate::PlantedBug`]).
    Oops,
    /// `BUG_ON(va->va_start < vstart)` in `alloc_vmap_area`, "kernel BUG at
    /// mm/vmalloc.c:512!" (bug 16): the 4.19.0 search reached a candidate whose `ALIGN`
    /// wrapped to 0 and inserted it (`align_wrap_check=off`, semantics §4.3, R4). At
    /// placement, after the vm_struct and vmap_area allocations (R13 steps 1–2).
    VaStartBelowVstart,
    /// `VM_BUG_ON` in `gfp_zone`: a page request with more than one of `__GFP_DMA`,
    /// `__GFP_DMA32`, `__GFP_HIGHMEM` (bug 9: 4.12's implicit `__GFP_HIGHMEM` with
    /// `vmalloc_32`'s `GFP_DMA32`, `implicit_highmem=unconditional`). At the page request,
    /// before its fault-plan attempt: for `vmalloc_32`, its first data page (R13 step 5),
    /// after the pages array.
    InvalidZone,
}

/// An outcome that ends the input: the simulated kernel is dead (design §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fatal {
    /// A kernel `BUG`.
    Bug(BugKind),
    /// A `__GFP_NOFAIL` page request that no allowed zone can satisfy: the kernel would retry
    /// for ever (design §3.15).
    WouldHang,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Bug(k) => write!(f, "kernel BUG: {k:?}"),
            Fatal::WouldHang => write!(f, "__GFP_NOFAIL allocation would retry for ever"),
        }
    }
}

impl std::error::Error for Fatal {}

/// Result of an API call that can end the input.
pub type KResult<T> = Result<T, Fatal>;

/// Why a data access through the page tables was refused (no state changes on error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessError {
    /// The address is not canonical for the paging mode.
    NonCanonical {
        /// The offending address.
        addr: u64,
    },
    /// `addr + len` passes 2^64.
    Wraps,
    /// Some level of the walk is not present at this address.
    NotMapped {
        /// The first unmapped address.
        addr: u64,
    },
    /// A write through a mapping without RW at some level (the CPU would fault).
    ReadOnly {
        /// The first read-only address.
        addr: u64,
    },
    /// The walk reached a frame that does not exist in the machine.
    BadFrame {
        /// The frame number read from the entry.
        pfn: u64,
    },
    /// A huge (PS) leaf was found; the engine never creates one.
    HugeLeaf {
        /// The address.
        addr: u64,
    },
    /// The machine is dead after a [`Fatal`].
    Dead,
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access refused: {self:?}")
    }
}

impl std::error::Error for AccessError {}

//! The kernel's messages as structured "would warn" events (semantics §11.1, contract §5,
//! design §3.12).
//!
//! One event is recorded each time the kernel would print, with no rate limit and no
//! once-only suppression; `__GFP_NOWARN` is honoured exactly where semantics §11.1 says
//! (warnings 1–3).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

/// One observable event, in program order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Warning 1, "vmalloc: allocation failure: %lu bytes" with the unaligned request
    /// (semantics §3.1).
    AllocFailure {
        /// The size the caller asked for, before `PAGE_ALIGN`.
        bytes: u64,
    },
    /// Warning 2, "vmalloc: allocation failure, allocated %ld of %ld bytes" (semantics §6.4).
    AllocPartial {
        /// `nr_pages * 4096`.
        allocated: u64,
        /// The VA size, guard page included (a cosmetic 4.x bug, P4).
        total: u64,
    },
    /// Warning 3, "vmap allocation for size %lu failed" (semantics §4.2).
    VmapAllocFailed {
        /// The VA size, guard page included.
        size: u64,
    },
    /// Warning 4, "Trying to vfree() bad address (%p)" (semantics §5.2 step 2).
    BadAddress {
        /// The pointer passed.
        addr: u64,
    },
    /// Warning 5, "Trying to vfree() nonexistent vm area (%p)" (semantics §5.2 step 3, R10).
    NonexistentArea {
        /// The pointer passed.
        addr: u64,
    },
    /// Warning 6: `WARN_ON(!pte_none)` while mapping (semantics §7.2).
    PteNotNone {
        /// Virtual address of the PTE.
        addr: u64,
    },
    /// Warning 6: `WARN_ON(!page)` while mapping. Never emitted by this engine: pages are
    /// PFNs and cannot be NULL.
    NullPage {
        /// Virtual address of the PTE.
        addr: u64,
    },
    /// Warning 7: a cleared PTE was neither none nor present (semantics §7.3 step 4).
    ClearNonPresent {
        /// Virtual address of the PTE.
        addr: u64,
    },
    /// `flush_tlb_kernel_range(start, end)` at a purge that released at least one VA (R9).
    TlbFlush {
        /// Lowest `va_start` of the released VAs.
        start: u64,
        /// Highest `va_end` of the released VAs.
        end: u64,
    },
}

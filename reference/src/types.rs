//! The model's own small vocabulary: GFP bits (semantics §10), VM flags (semantics §1.3),
//! protections (semantics §8.3), events (semantics §11.1, contract §5) and errors (contract §8).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::ops::{BitAnd, BitOr, Not};

/// A GFP mask with the 4.15–4.19 bit values of semantics §10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Gfp(pub u64);

impl Gfp {
    /// No bits.
    pub const NONE: Gfp = Gfp(0);
    /// `__GFP_DMA`.
    pub const DMA: Gfp = Gfp(0x01);
    /// `__GFP_HIGHMEM`.
    pub const HIGHMEM: Gfp = Gfp(0x02);
    /// `__GFP_DMA32`.
    pub const DMA32: Gfp = Gfp(0x04);
    /// `__GFP_MOVABLE`.
    pub const MOVABLE: Gfp = Gfp(0x08);
    /// `__GFP_RECLAIMABLE`.
    pub const RECLAIMABLE: Gfp = Gfp(0x10);
    /// `__GFP_HIGH`.
    pub const HIGH: Gfp = Gfp(0x20);
    /// `__GFP_IO`.
    pub const IO: Gfp = Gfp(0x40);
    /// `__GFP_FS`.
    pub const FS: Gfp = Gfp(0x80);
    /// `__GFP_WRITE`.
    pub const WRITE: Gfp = Gfp(0x100);
    /// `__GFP_NOWARN`.
    pub const NOWARN: Gfp = Gfp(0x200);
    /// `__GFP_RETRY_MAYFAIL`.
    pub const RETRY_MAYFAIL: Gfp = Gfp(0x400);
    /// `__GFP_NOFAIL`.
    pub const NOFAIL: Gfp = Gfp(0x800);
    /// `__GFP_NORETRY`.
    pub const NORETRY: Gfp = Gfp(0x1000);
    /// `__GFP_MEMALLOC`.
    pub const MEMALLOC: Gfp = Gfp(0x2000);
    /// `__GFP_COMP`.
    pub const COMP: Gfp = Gfp(0x4000);
    /// `__GFP_ZERO`.
    pub const ZERO: Gfp = Gfp(0x8000);
    /// `__GFP_NOMEMALLOC`.
    pub const NOMEMALLOC: Gfp = Gfp(0x10000);
    /// `__GFP_HARDWALL`.
    pub const HARDWALL: Gfp = Gfp(0x20000);
    /// `__GFP_THISNODE`.
    pub const THISNODE: Gfp = Gfp(0x40000);
    /// `__GFP_ATOMIC`.
    pub const ATOMIC: Gfp = Gfp(0x80000);
    /// `__GFP_ACCOUNT`.
    pub const ACCOUNT: Gfp = Gfp(0x100000);
    /// `__GFP_DIRECT_RECLAIM`.
    pub const DIRECT_RECLAIM: Gfp = Gfp(0x200000);
    /// `__GFP_KSWAPD_RECLAIM`.
    pub const KSWAPD_RECLAIM: Gfp = Gfp(0x400000);
    /// `__GFP_RECLAIM` = direct | kswapd.
    pub const RECLAIM: Gfp = Gfp(0x600000);
    /// `GFP_KERNEL` = RECLAIM | IO | FS = `0x6000c0` (semantics §10).
    pub const KERNEL: Gfp = Gfp(0x6000c0);
    /// `GFP_VMALLOC32` on x86-64 = GFP_KERNEL | GFP_DMA32 (semantics §2).
    pub const VMALLOC32: Gfp = Gfp(0x6000c4);
    /// `GFP_RECLAIM_MASK` (mm/internal.h, 4.19, semantics §10): RECLAIM | HIGH | IO | FS | NOWARN |
    /// RETRY_MAYFAIL | NOFAIL | NORETRY | MEMALLOC | NOMEMALLOC | ATOMIC.
    pub const RECLAIM_MASK: Gfp = Gfp(0x600000
        | 0x20
        | 0x40
        | 0x80
        | 0x200
        | 0x400
        | 0x800
        | 0x1000
        | 0x2000
        | 0x10000
        | 0x80000);

    /// Whether every bit of `other` is set here.
    pub fn has(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 | rhs.0)
    }
}

impl BitAnd for Gfp {
    type Output = Gfp;
    fn bitand(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 & rhs.0)
    }
}

impl Not for Gfp {
    type Output = Gfp;
    fn not(self) -> Gfp {
        Gfp(!self.0)
    }
}

/// `vm_struct` flags of semantics §1.3 (4.19 values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VmFlags(pub u64);

impl VmFlags {
    /// No flags.
    pub const NONE: VmFlags = VmFlags(0);
    /// `VM_IOREMAP`: alignment derived from the size (R4).
    pub const IOREMAP: VmFlags = VmFlags(0x01);
    /// `VM_ALLOC`: vmalloc.
    pub const ALLOC: VmFlags = VmFlags(0x02);
    /// `VM_MAP`: vmap.
    pub const MAP: VmFlags = VmFlags(0x04);
    /// `VM_USERMAP`: may be remapped to user space.
    pub const USERMAP: VmFlags = VmFlags(0x08);
    /// `VM_UNINITIALIZED`: set while a vmalloc is being built.
    pub const UNINITIALIZED: VmFlags = VmFlags(0x20);
    /// `VM_NO_GUARD`: no trailing guard page (R2).
    pub const NO_GUARD: VmFlags = VmFlags(0x40);

    /// Whether every bit of `other` is set here.
    pub fn has(self, other: VmFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for VmFlags {
    type Output = VmFlags;
    fn bitor(self, rhs: VmFlags) -> VmFlags {
        VmFlags(self.0 | rhs.0)
    }
}

/// The protections the 4.x API passes (semantics §8.3), evaluated per machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prot {
    /// `PAGE_KERNEL`, raw `0x8000000000000163`.
    Kernel,
    /// `PAGE_KERNEL_EXEC`, raw `0x163`.
    KernelExec,
    /// `PAGE_KERNEL_RO`, raw `0x8000000000000161`.
    KernelRo,
    /// `PAGE_KERNEL_RX`, raw `0x161`.
    KernelRx,
    /// `PAGE_KERNEL_NOCACHE`, raw `0x800000000000017b`.
    KernelNocache,
}

impl Prot {
    /// The raw `__PAGE_KERNEL_*` definition (semantics §8.3 table), before any boot mask or C-bit.
    pub fn raw(self) -> u64 {
        match self {
            Prot::Kernel => 0x8000_0000_0000_0163,
            Prot::KernelExec => 0x163,
            Prot::KernelRo => 0x8000_0000_0000_0161,
            Prot::KernelRx => 0x161,
            Prot::KernelNocache => 0x8000_0000_0000_017b,
        }
    }

    /// The evaluated macro value a caller passes (semantics §8.3 step 1):
    /// `(raw | sme_c_bit) & default_kernel_pte_mask`.
    pub fn evaluate(self, sme_c_bit: u64, default_kernel_pte_mask: u64) -> u64 {
        (self.raw() | sme_c_bit) & default_kernel_pte_mask
    }
}

/// Execution context of a free (contract §4): interrupt context defers `vfree` (semantics §5.1) and
/// makes `vunmap` BUG (R11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// Process context.
    Process,
    /// Hard or soft IRQ (`in_interrupt()` true).
    Interrupt,
}

/// Observable events (semantics §11.1, contract §5), recorded each time the kernel would print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// Warning 1: "vmalloc: allocation failure: %lu bytes" with the unaligned request.
    AllocFailure {
        /// The caller's unaligned size.
        bytes: u64,
    },
    /// Warning 2: "allocated %ld of %ld bytes" with `nr_pages·4096` and the VA size
    /// (guard included).
    AllocPartial {
        /// `nr_pages · 4096`.
        allocated: u64,
        /// The VA size, guard included.
        total: u64,
    },
    /// Warning 3: "vmap allocation for size %lu failed" with the VA size (guard included).
    VmapAllocFailed {
        /// The VA size, guard included.
        size: u64,
    },
    /// Warning 4: "Trying to vfree() bad address".
    BadAddress {
        /// The address passed.
        addr: u64,
    },
    /// Warning 5: "Trying to vfree() nonexistent vm area".
    NonexistentArea {
        /// The address passed.
        addr: u64,
    },
    /// Warning 6: non-none target PTE (never emitted by a correct model; see
    /// [`Fatal::ModelInvariant`]).
    PteNotNone {
        /// VA of the PTE.
        addr: u64,
    },
    /// Warning 6: NULL page while mapping (unreachable through this API).
    NullPage {
        /// VA of the PTE.
        addr: u64,
    },
    /// Warning 7: clearing a non-present, non-none PTE (unreachable: model PTEs are present).
    ClearNonPresent {
        /// VA of the PTE.
        addr: u64,
    },
    /// One TLB flush per purge that released at least one VA: `[min va_start, max va_end)`.
    TlbFlush {
        /// Lowest start of the released VAs.
        start: u64,
        /// Highest end of the released VAs.
        end: u64,
    },
}

/// How an area's pages array was obtained (R5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArrayKind {
    /// No array (vmap, get_vm_area).
    None,
    /// A kmalloc'ed array of `bytes` = 8·N ≤ 4096.
    Kmalloc {
        /// Array size in bytes.
        bytes: u64,
    },
    /// A nested vmalloc whose area starts at `addr`.
    Vmalloc {
        /// Start of the nested area.
        addr: u64,
    },
}

/// The `vm_struct` as observable (contract §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmInfo {
    /// Start address (= VA start).
    pub addr: u64,
    /// Whole VA size, guard included unless VM_NO_GUARD.
    pub size: u64,
    /// VM_* bits as stored.
    pub flags: VmFlags,
    /// Pages owned by the area (0 for vmap and get_vm_area).
    pub nr_pages: u64,
    /// The caller token.
    pub caller: u32,
    /// The pages array.
    pub pages_array: ArrayKind,
}

/// Kernel bugs reachable from the API (contract §8, design §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BugKind {
    /// `alloc_vmap_area`: `align` not a power of two (after the VmStruct attempt).
    AlignNotPowerOfTwo,
    /// `alloc_vmap_area`: size 0 after the guard add wrapped (semantics §3.2).
    ZeroSizeVa,
    /// `vunmap` in interrupt context.
    VunmapInInterrupt,
    /// `free_vm_area` of something that is not the start of a live vm area.
    FreeVmAreaMismatch,
    /// `__free_page` of a frame the caller does not own.
    BadPageFree,
    /// A node index outside the machine.
    InvalidNode,
    /// The kernel would fault: a deferred free writing into an unmapped address, or, with
    /// `vunmap_lookup` `find_vmap_area_deref`, a free of an address in no busy VA (R10).
    Oops,
    /// `alloc_vmap_area`: `BUG_ON(va->va_start < vstart)` after an `ALIGN` wrapped to 0
    /// ("kernel BUG at mm/vmalloc.c:512"); only with `align_wrap_check` off (R4).
    VaStartBelowVstart,
    /// `gfp_zone`: an invalid zone pair (DMA32 or DMA with HIGHMEM) at a data-page request;
    /// only with `implicit_highmem` `unconditional` (bug 9).
    InvalidZone,
}

/// Errors that end the input (contract §8).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fatal {
    /// A kernel `BUG`.
    Bug(BugKind),
    /// A `__GFP_NOFAIL` page request that no allowed zone can satisfy (design §3.15).
    WouldHang,
    /// The model found one of its own invariants broken (for example a non-none target PTE,
    /// which R7 says cannot happen in a correct run). Model-only: a model bug, not a
    /// kernel behaviour.
    ModelInvariant {
        /// The rule or invariant id.
        rule: &'static str,
        /// What was found.
        detail: String,
    },
}

/// A data access through the page tables that cannot be done (contract §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessError {
    /// The page holding `addr` has no present PTE.
    Unmapped {
        /// The first byte address that is not mapped.
        addr: u64,
    },
    /// `addr + len` runs past 2^64.
    AddressWraps,
    /// A write reaches a page mapped without `_PAGE_RW` (`PAGE_KERNEL_RO`, `PAGE_KERNEL_RX`):
    /// the kernel would fault.
    ReadOnly {
        /// The first byte address whose page is read-only.
        addr: u64,
    },
}

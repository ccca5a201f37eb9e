//! The data types of the contract: results, events, fatal outcomes, the state view, and what
//! the oracles compare it with (page-table keys, page buckets, page contents).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

/// The kernel cannot go on (design §3.3, semantics §3.15): the input ends here, on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fatal {
    /// A `BUG_ON` the API can reach.
    Bug(BugKind),
    /// A `__GFP_NOFAIL` request that can never be satisfied (the kernel would loop for ever).
    WouldHang,
}

impl std::fmt::Display for Fatal {
    /// As a trace's `expect:` line says it: `bug <name>` or `hang`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Bug(b) => write!(f, "bug {}", b.name()),
            Fatal::WouldHang => f.write_str("hang"),
        }
    }
}

/// The `BUG_ON`s reachable from the API (contract §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BugKind {
    /// `alloc_vmap_area`: `align` is not a power of two.
    AlignNotPowerOfTwo,
    /// `alloc_vmap_area`: size 0 after the guard page wrapped it.
    ZeroSizeVa,
    /// `vunmap` in interrupt context.
    VunmapInInterrupt,
    /// `free_vm_area` of something that is not a live area.
    FreeVmAreaMismatch,
    /// `__free_page` of a frame that is not allocated.
    BadPageFree,
    /// A node that does not exist.
    InvalidNode,
    /// The kernel would fault (e.g. a deferred free writing into unmapped memory).
    Oops,
    /// `alloc_vmap_area`: `BUG_ON(va->va_start < vstart)` after `ALIGN` wrapped to 0
    /// (knob `align_wrap_check` off).
    VaStartBelowVstart,
    /// `gfp_zone`: an invalid zone pair at a data-page request (knob `implicit_highmem`
    /// `unconditional`).
    InvalidZone,
}

impl BugKind {
    /// Every kind.
    pub const ALL: [BugKind; 9] = [
        Self::AlignNotPowerOfTwo,
        Self::ZeroSizeVa,
        Self::VunmapInInterrupt,
        Self::FreeVmAreaMismatch,
        Self::BadPageFree,
        Self::InvalidNode,
        Self::Oops,
        Self::VaStartBelowVstart,
        Self::InvalidZone,
    ];

    /// Trace name (`expect: bug <name>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AlignNotPowerOfTwo => "align_not_power_of_two",
            Self::ZeroSizeVa => "zero_size_va",
            Self::VunmapInInterrupt => "vunmap_in_interrupt",
            Self::FreeVmAreaMismatch => "free_vm_area_mismatch",
            Self::BadPageFree => "bad_page_free",
            Self::InvalidNode => "invalid_node",
            Self::Oops => "oops",
            Self::VaStartBelowVstart => "va_start_below_vstart",
            Self::InvalidZone => "invalid_zone",
        }
    }

    /// Parse a trace name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Calling context of a free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Process context.
    Process,
    /// Interrupt context (`in_interrupt()`).
    Interrupt,
}

/// An observable kernel message (contract §5, semantics §11.1), or a TLB flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// Warning 1: "vmalloc: allocation failure: %lu bytes" (the unaligned request).
    AllocFailure {
        /// Requested bytes.
        bytes: u64,
    },
    /// Warning 2: "vmalloc: allocation failure, allocated %ld of %ld bytes".
    AllocPartial {
        /// `nr_pages * 4096`.
        allocated: u64,
        /// The VA size, guard included.
        total: u64,
    },
    /// Warning 3: "vmap allocation for size %lu failed".
    VmapAllocFailed {
        /// The VA size, guard included.
        size: u64,
    },
    /// Warning 4: "Trying to vfree() bad address".
    BadAddress {
        /// The address.
        addr: u64,
    },
    /// Warning 5: "Trying to vfree() nonexistent vm area".
    NonexistentArea {
        /// The address.
        addr: u64,
    },
    /// Warning 6: a non-none PTE at mapping time.
    PteNotNone {
        /// The VA of the PTE.
        addr: u64,
    },
    /// Warning 6: a NULL page at mapping time.
    NullPage {
        /// The VA of the PTE.
        addr: u64,
    },
    /// Warning 7: clearing a non-present, non-none PTE.
    ClearNonPresent {
        /// The VA of the PTE.
        addr: u64,
    },
    /// One `flush_tlb_kernel_range(start, end)` at a purge.
    TlbFlush {
        /// Lowest `va_start` released.
        start: u64,
        /// Highest `va_end` released.
        end: u64,
    },
}

impl std::fmt::Display for Event {
    /// The kernel's message, with pointers and sizes in hex.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::AllocFailure { bytes } => {
                write!(f, "warn1 vmalloc: allocation failure: {bytes:#x} bytes")
            }
            Event::AllocPartial { allocated, total } => {
                write!(f, "warn2 vmalloc: allocation failure, allocated {allocated:#x} of {total:#x} bytes")
            }
            Event::VmapAllocFailed { size } => {
                write!(f, "warn3 vmap allocation for size {size:#x} failed")
            }
            Event::BadAddress { addr } => {
                write!(f, "warn4 Trying to vfree() bad address ({addr:#x})")
            }
            Event::NonexistentArea { addr } => {
                write!(f, "warn5 Trying to vfree() nonexistent vm area ({addr:#x})")
            }
            Event::PteNotNone { addr } => write!(f, "warn6 WARN_ON(!pte_none) at {addr:#x}"),
            Event::NullPage { addr } => write!(f, "warn6 WARN_ON(!page) at {addr:#x}"),
            Event::ClearNonPresent { addr } => {
                write!(f, "warn7 non-present PTE cleared at {addr:#x}")
            }
            Event::TlbFlush { start, end } => {
                write!(f, "flush_tlb_kernel_range({start:#x}, {end:#x})")
            }
        }
    }
}

/// How a live area's pages array is held (semantics §6.1, R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayKind {
    /// No pages array (vmap, get_vm_area).
    None,
    /// A kmalloc'ed array of `bytes` bytes (at most 4096).
    Kmalloc {
        /// Array size in bytes.
        bytes: u64,
    },
    /// A nested vmalloc at `addr`.
    Vmalloc {
        /// The nested area's start.
        addr: u64,
    },
}

/// A `vm_struct` as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VmInfo {
    /// Start address.
    pub addr: u64,
    /// Size, guard page included.
    pub size: u64,
    /// VM_* flags as stored.
    pub flags: u64,
    /// Pages really allocated.
    pub nr_pages: u64,
    /// Caller token.
    pub caller: u32,
    /// The pages array.
    pub array: ArrayKind,
}

/// The (vstart, vend, align) of the request that placed a busy area (for I2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// `vstart`.
    pub vstart: u64,
    /// `vend` (exclusive).
    pub vend: u64,
    /// Alignment.
    pub align: u64,
}

/// A busy VA.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BusyArea {
    /// `va_start`.
    pub start: u64,
    /// `va_end` (exclusive).
    pub end: u64,
    /// `Some` for a live vm area, `None` for a lazily freed one.
    pub vm: Option<VmInfo>,
    /// The request that placed it.
    pub request: Request,
}

/// Counts of kmalloc'ed metadata objects (semantics I5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LiveObjects {
    /// Live `vm_struct`s.
    pub vm_structs: u64,
    /// Live `vmap_area`s.
    pub vmap_areas: u64,
    /// Live kmalloc'ed pages arrays (orphaned ones included).
    pub small_arrays: u64,
}

/// What a subject shows of its state, compared after every op. Cheap to build: it holds no
/// per-page data (a live area's data pages come from [`Kernel::area_pages`](super::Kernel)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct StateView {
    /// Busy VAs in address order.
    pub busy: Vec<BusyArea>,
    /// Start addresses of lazily freed VAs, newest first.
    pub lazy_list: Vec<u64>,
    /// `vmap_lazy_nr` as the subject counts it.
    pub lazy_nr: u64,
    /// Pending deferred frees on CPU 0, newest first.
    pub deferred: Vec<u64>,
    /// Fault-plan attempt counters, in [`FaultKind::ALL`](crate::ops::FaultKind::ALL) order.
    pub attempts: [u64; 5],
    /// Free pages per node.
    pub free_pages: Vec<u64>,
    /// Live metadata objects.
    pub objects: LiveObjects,
}

/// State of one physical frame, as the subject's page allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameState {
    /// Outside simulated memory.
    Absent,
    /// Below PFN 256: firmware, kernel image, the static boot tables.
    Reserved,
    /// In the pool and free.
    Free,
    /// In the pool and allocated.
    Allocated,
}

/// The level of a page-table page, named by what its entries point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableLevel {
    /// A P4D table (LA57 only): one per 256 TiB region.
    P4d,
    /// A PUD table: one per 512 GiB region.
    Pud,
    /// A PMD table: one per 1 GiB region.
    Pmd,
    /// A PTE table: one per 2 MiB region.
    Pte,
}

impl TableLevel {
    /// log2 of the region a table of this level covers.
    pub fn region_shift(self) -> u32 {
        match self {
            TableLevel::P4d => 48,
            TableLevel::Pud => 39,
            TableLevel::Pmd => 30,
            TableLevel::Pte => 21,
        }
    }

    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            TableLevel::P4d => "p4d",
            TableLevel::Pud => "pud",
            TableLevel::Pmd => "pmd",
            TableLevel::Pte => "pte",
        }
    }
}

/// A table page, keyed by level and the (canonical) base address of the region it covers (I8).
pub type TableKey = (TableLevel, u64);

/// The I5 buckets, in pages: every pool frame is in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Buckets {
    /// Free pages of the pool.
    pub free: u64,
    /// Data pages of live areas (nested array areas included, orphaned ones excluded).
    pub live_data: u64,
    /// Page-table pages (static boot tables excluded).
    pub tables: u64,
    /// Pages a caller holds from `alloc_page`.
    pub caller: u64,
    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory (and orphaned arrays' pages).
    pub orphaned: u64,
}

/// The 4096 bytes of a page: a uniform fill (a page never written since it was handed out,
/// the common case), or its bytes. Both sides store pages sparsely (design §3.10), so whole
/// pages compare cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageBytes {
    /// Every byte has this value.
    Uniform(u8),
    /// The bytes.
    Bytes(Box<[u8; 4096]>),
}

/// Is every byte of `bytes` equal to `b`? As one `memcmp` of the page with itself shifted by
/// a byte (a plain `iter().all` is a byte-by-byte loop with an early exit, which the compiler
/// does not vectorize; the contents oracle runs this on every mapped page of a subject read
/// through its mapping).
fn all_equal(bytes: &[u8; 4096], b: u8) -> bool {
    bytes[0] == b && bytes[1..] == bytes[..4095]
}

impl PageBytes {
    /// The page from its bytes (a uniform page becomes [`PageBytes::Uniform`]).
    pub fn from_bytes(bytes: &[u8; 4096]) -> PageBytes {
        match all_equal(bytes, bytes[0]) {
            true => PageBytes::Uniform(bytes[0]),
            false => PageBytes::Bytes(Box::new(*bytes)),
        }
    }

    /// Byte `i` (0..4096).
    pub fn byte(&self, i: usize) -> u8 {
        match self {
            PageBytes::Uniform(b) => *b,
            PageBytes::Bytes(bytes) => bytes[i % 4096],
        }
    }

    /// Do the two pages hold the same bytes, whatever their representation?
    pub fn same(&self, other: &PageBytes) -> bool {
        match (self, other) {
            (PageBytes::Uniform(a), PageBytes::Uniform(b)) => a == b,
            (PageBytes::Bytes(a), PageBytes::Bytes(b)) => a == b,
            (PageBytes::Uniform(a), PageBytes::Bytes(b))
            | (PageBytes::Bytes(b), PageBytes::Uniform(a)) => all_equal(b, *a),
        }
    }

    /// The first offset where the two differ.
    pub fn first_difference(&self, other: &PageBytes) -> Option<usize> {
        (0..4096).find(|&i| self.byte(i) != other.byte(i))
    }
}

#[cfg(test)]
mod tests {
    use super::PageBytes;

    /// A page is uniform only if every byte, the first and the last included, is the fill.
    #[test]
    fn uniform_pages_are_recognised_exactly() {
        let mut page = [0xaa_u8; 4096];
        assert_eq!(PageBytes::from_bytes(&page), PageBytes::Uniform(0xaa));
        for at in [0, 1, 2047, 4095] {
            page[at] = 0;
            let p = PageBytes::from_bytes(&page);
            assert!(matches!(p, PageBytes::Bytes(_)), "byte {at} changed");
            assert!(!p.same(&PageBytes::Uniform(0xaa)), "byte {at} changed");
            assert!(!PageBytes::Uniform(0).same(&p), "byte {at} changed");
            assert_eq!(p.first_difference(&PageBytes::Uniform(0xaa)), Some(at));
            page[at] = 0xaa;
        }
        let bytes = PageBytes::Bytes(Box::new(page));
        assert!(bytes.same(&PageBytes::Uniform(0xaa)));
    }
}

//! The API contract a fuzzed vmalloc implementation offers, in harness terms.
//!
//! [`Kernel`] is implemented twice in this crate: for the engine (`vmalloc-engine`, the system
//! under test) and for the reference model (`vmalloc-reference`). The two crates share no
//! code; each adapter translates the crate's own types into the ones below. The trait is
//! public so that anyone can implement it for their own allocator and fuzz it against the
//! model (see the README).
//!
//! Conventions (docs/contract.md): addresses are `u64`, PFNs are `u64`, `None` node is
//! `NUMA_NO_NODE`, gfp and VM flags are the 4.19 bit values, `caller` is an opaque token that
//! `vmallocinfo` prints as `op<token>`.

use crate::ops::{Paging, Prot};

/// The kernel cannot go on (DECISIONS 3.3, 3.15): the input ends here, on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fatal {
    /// A `BUG_ON` the API can reach.
    Bug(BugKind),
    /// A `__GFP_NOFAIL` request that can never be satisfied (the kernel would loop for ever).
    WouldHang,
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
    /// `alloc_vmap_area`: `BUG_ON(va_start < vstart)` after an `ALIGN` wrapped to 0 (v4.19.0).
    VaStartBelowVstart,
    /// `gfp_zone`: an invalid zone-modifier pair (4.12's implicit `__GFP_HIGHMEM`).
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

/// An observable kernel message (contract §5, spec §11.1), or a TLB flush.
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

/// How a live area's pages array is held (spec §6.1, R5).
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
    /// The data pages of a live area, in index order (empty otherwise).
    pub pages: Vec<u64>,
}

/// Counts of kmalloc'ed metadata objects (spec I5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LiveObjects {
    /// Live `vm_struct`s.
    pub vm_structs: u64,
    /// Live `vmap_area`s.
    pub vmap_areas: u64,
    /// Live kmalloc'ed pages arrays (orphaned ones included).
    pub small_arrays: u64,
}

/// What a subject shows of its state, compared after every op.
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
    /// Fault-plan attempt counters, in [`FaultKind::ALL`] order.
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

/// Raw access to a subject's simulated physical memory, for the oracles that walk real page
/// tables and check page ownership (DECISIONS 2).
pub trait RawMemory {
    /// Paging mode.
    fn paging(&self) -> Paging;
    /// PFN of the root table (PGD).
    fn root_pfn(&self) -> u64;
    /// Entry `index` (0..512) of the frame at `pfn` read as a table, `None` if absent.
    fn read_entry(&self, pfn: u64, index: usize) -> Option<u64>;
    /// The whole frame at `pfn` read as a table, `None` if absent. The default reads entry by
    /// entry; implementations may read the frame at once.
    fn read_table(&self, pfn: u64) -> Option<Box<[u64; 512]>> {
        let mut t = Box::new([0u64; 512]);
        for (i, e) in t.iter_mut().enumerate() {
            *e = self.read_entry(pfn, i)?;
        }
        Some(t)
    }
    /// The allocator's state of frame `pfn`.
    fn frame_state(&self, pfn: u64) -> FrameState;
    /// Every allocated frame, ascending.
    fn allocated_frames(&self) -> Vec<u64>;
}

/// Result of an allocation call.
pub type Alloc = Result<Option<u64>, Fatal>;

/// The vmalloc API as the harness drives it (contract §4). Every method is one kernel call;
/// the harness compares the return values, the events and the state after each.
pub trait Kernel {
    /// A short name for reports ("engine", "model").
    fn name(&self) -> &'static str;

    /// `__vmalloc_node_range(size, align, start, end, gfp, prot, vm_flags, node, caller)`.
    #[allow(clippy::too_many_arguments)]
    fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: u64,
        prot: Prot,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc;
    /// `vmalloc(size)`.
    fn vmalloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vzalloc(size)`.
    fn vzalloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_user(size)`.
    fn vmalloc_user(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_exec(size)`.
    fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_32(size)`.
    fn vmalloc_32(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_32_user(size)`.
    fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_node(size, node)`.
    fn vmalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc;
    /// `vzalloc_node(size, node)`.
    fn vzalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc;
    /// `__vmalloc(size, gfp, prot)`.
    fn vmalloc_gfp(&mut self, size: u64, gfp: u64, prot: Prot, caller: u32) -> Alloc;
    /// x86-64 `module_alloc(size)`.
    fn module_alloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `get_vm_area(size, flags)` (`range: None`) or `__get_vm_area(size, flags, start, end)`.
    fn get_vm_area(
        &mut self,
        size: u64,
        flags: u64,
        range: Option<(u64, u64)>,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal>;
    /// `free_vm_area` of the live area starting at `addr`.
    fn free_vm_area(&mut self, addr: u64) -> Result<(), Fatal>;
    /// `alloc_pages_node(node, gfp, 0)`: a caller-owned page.
    fn alloc_page(&mut self, gfp: u64, node: Option<u32>) -> Alloc;
    /// `__free_page(pfn)`.
    fn free_page(&mut self, pfn: u64) -> Result<(), Fatal>;
    /// `vmap(pages, count, flags, prot)`.
    fn vmap(&mut self, pfns: &[u64], flags: u64, prot: Prot, caller: u32) -> Alloc;
    /// `vunmap(addr)`.
    fn vunmap(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal>;
    /// `vfree(addr)`.
    fn vfree(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal>;
    /// `vfree_atomic(addr)`.
    fn vfree_atomic(&mut self, addr: u64) -> Result<(), Fatal>;
    /// Run CPU 0's deferred frees.
    fn run_deferred(&mut self) -> Result<(), Fatal>;
    /// `vm_unmap_aliases()`.
    fn vm_unmap_aliases(&mut self);
    /// `find_vm_area(addr)`.
    fn find_vm_area(&self, addr: u64) -> Option<VmInfo>;
    /// `vmalloc_to_pfn(addr)`, `None` where nothing is mapped.
    fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64>;
    /// `is_vmalloc_addr(addr)`.
    fn is_vmalloc_addr(&self, addr: u64) -> bool;
    /// `/proc/vmallocinfo`.
    fn vmallocinfo(&self) -> String;
    /// Write through the mapping. `Err` names the unmapped address.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), u64>;
    /// Read through the mapping. `Err` names the unmapped address.
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64>;
    /// Events since the last call, in order.
    fn take_events(&mut self) -> Vec<Event>;
    /// The state view.
    fn state(&self) -> StateView;
    /// Raw physical memory, if the subject simulates it.
    fn raw(&self) -> Option<&dyn RawMemory>;
}

/// What the reference model shows beyond [`StateView`]: the expected page tables, the
/// orphaned pages and the I5 buckets. The oracles compare the subject's raw state with these.
pub trait Reference: Kernel {
    /// Every present leaf PTE the model expects: VA → exact entry (R7, spec §8.3).
    fn expected_ptes(&self) -> std::borrow::Cow<'_, std::collections::BTreeMap<u64, u64>>;
    /// Every page-table page the model expects (I8): (level, region base) → PFN.
    fn expected_tables(
        &self,
    ) -> std::collections::BTreeMap<crate::oracle::pagetable::TableKey, u64>;
    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory (I5, DECISIONS 3.5),
    /// including the data pages of orphaned nested arrays.
    fn orphaned_pages(&self) -> std::collections::BTreeSet<u64>;
    /// Starts of live nested-array areas whose owner is gone (DECISIONS 3.5).
    fn orphaned_array_areas(&self) -> std::collections::BTreeSet<u64>;
    /// Starts of every live area that is some area's nested pages array (orphaned or not).
    fn array_areas(&self) -> std::collections::BTreeSet<u64>;
    /// The I5 buckets as the model counts them.
    fn buckets(&self) -> crate::oracle::ownership::Buckets;
}

//! The op language: one fuzz input is a [`Machine`] plus a list of [`Op`]s.
//!
//! Ops carry concrete values (sizes, alignments, ranges, gfp bits) so that a trace reads the
//! same whoever runs it. References to things that exist only at run time (a live area, a
//! caller page, a freed address) are *slots*, resolved when the op runs as
//! `slot % number_of_candidates` (TigerBeetle style): every op applies to something whenever
//! anything exists, and an op with no candidate at all is skipped, not the rest of the input.
//!
//! The domain of valid inputs (what the generator produces and what [`Input::validate`]
//! accepts) follows design §3.15–§3.16: only the API's protections and gfp combinations,
//! mapping calls only inside the vmalloc and modules windows, `get_vm_area` sizes capped so a
//! VA stays below 2^31 pages, and BUG-provoking ops only as an input's last op.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::fmt;

mod derived;
mod kind;
mod knobs;
mod machine;

pub use derived::{DerivedSize, Edge, EdgeAt, FitApi, DELTA_RANGE};
pub use kind::{KindTraits, OpKind};
pub use knobs::{Knob, Knobs, KNOBS, PRESETS};
pub use machine::*;

/// Hard cap on the number of ops in one input.
pub const MAX_OPS: usize = 200;
/// Largest number of pages one `vmap` op may name.
pub const MAX_VMAP_PAGES: usize = 64;
/// `get_vm_area`-family sizes are below this (semantics §12 "Outside the model": VAs of 2^31
/// pages or more are excluded; one page is kept for the guard).
pub const MAX_GET_VM_AREA_SIZE: u64 = (1 << 43) - 2 * 4096;
/// Largest byte count of one `write`/`read` op.
pub const MAX_ACCESS_LEN: u32 = 16 * 4096;
/// Largest `totalram_pages` of a machine (4 GiB). Bigger machines add nothing the generator
/// can reach (sizes are relative to totalram) but make a near-totalram vmalloc cost seconds.
pub const MAX_TOTALRAM_PAGES: u64 = 1 << 20;
/// Largest `k` of a fault-plan entry.
pub const MAX_FAULT_INDEX: u64 = 1 << 20;

/// `GFP_KERNEL` in 4.19 (semantics §10).
pub const GFP_KERNEL: u64 = 0x6000c0;
/// `__GFP_DMA` (never generated; listed for completeness).
pub const GFP_DMA: u64 = 0x01;
/// `__GFP_HIGHMEM`.
pub const GFP_HIGHMEM: u64 = 0x02;
/// `__GFP_DMA32`.
pub const GFP_DMA32: u64 = 0x04;
/// `__GFP_NOWARN`.
pub const GFP_NOWARN: u64 = 0x200;
/// `__GFP_NOFAIL`.
pub const GFP_NOFAIL: u64 = 0x800;
/// `__GFP_ZERO`.
pub const GFP_ZERO: u64 = 0x8000;
/// `__GFP_THISNODE`.
pub const GFP_THISNODE: u64 = 0x40000;
/// The optional gfp bits an op may add to `GFP_KERNEL` (design §3.15).
pub const GFP_OPTIONAL: u64 =
    GFP_ZERO | GFP_NOWARN | GFP_DMA32 | GFP_THISNODE | GFP_HIGHMEM | GFP_NOFAIL;

/// `VM_IOREMAP`.
pub const VM_IOREMAP: u64 = 0x01;
/// `VM_ALLOC`.
pub const VM_ALLOC: u64 = 0x02;
/// `VM_MAP`.
pub const VM_MAP: u64 = 0x04;
/// `VM_USERMAP`.
pub const VM_USERMAP: u64 = 0x08;
/// `VM_NO_GUARD`.
pub const VM_NO_GUARD: u64 = 0x40;

/// Page size.
pub const PAGE_SIZE: u64 = 4096;

/// The vmalloc-family wrappers with fixed parameters (semantics §2 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmallocApi {
    /// `vmalloc(size)`.
    Vmalloc,
    /// `vzalloc(size)`.
    Vzalloc,
    /// `vmalloc_user(size)`.
    VmallocUser,
    /// `vmalloc_exec(size)`.
    VmallocExec,
    /// `vmalloc_32(size)`.
    Vmalloc32,
    /// `vmalloc_32_user(size)`.
    Vmalloc32User,
}

impl VmallocApi {
    /// Every wrapper.
    pub const ALL: [VmallocApi; 6] = [
        Self::Vmalloc,
        Self::Vzalloc,
        Self::VmallocUser,
        Self::VmallocExec,
        Self::Vmalloc32,
        Self::Vmalloc32User,
    ];

    /// The op kind of this wrapper.
    pub fn kind(self) -> OpKind {
        match self {
            Self::Vmalloc => OpKind::Vmalloc,
            Self::Vzalloc => OpKind::Vzalloc,
            Self::VmallocUser => OpKind::VmallocUser,
            Self::VmallocExec => OpKind::VmallocExec,
            Self::Vmalloc32 => OpKind::Vmalloc32,
            Self::Vmalloc32User => OpKind::Vmalloc32User,
        }
    }

    /// The wrapper of an op kind, if it is one.
    pub fn of(kind: OpKind) -> Option<VmallocApi> {
        Self::ALL.into_iter().find(|a| a.kind() == kind)
    }

    /// The kernel function name.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }
}

/// A protection as the 4.x API passes it (evaluated per machine, semantics §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prot {
    /// `PAGE_KERNEL`.
    Kernel,
    /// `PAGE_KERNEL_EXEC`.
    KernelExec,
    /// `PAGE_KERNEL_RO`.
    KernelRo,
    /// `PAGE_KERNEL_RX`.
    KernelRx,
    /// `PAGE_KERNEL_NOCACHE`.
    KernelNocache,
}

impl Prot {
    /// Every protection.
    pub const ALL: [Prot; 5] = [
        Self::Kernel,
        Self::KernelExec,
        Self::KernelRo,
        Self::KernelRx,
        Self::KernelNocache,
    ];

    /// The kernel macro name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kernel => "PAGE_KERNEL",
            Self::KernelExec => "PAGE_KERNEL_EXEC",
            Self::KernelRo => "PAGE_KERNEL_RO",
            Self::KernelRx => "PAGE_KERNEL_RX",
            Self::KernelNocache => "PAGE_KERNEL_NOCACHE",
        }
    }
}

/// An address an op passes to a free or a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    /// NULL.
    Null,
    /// A literal address (a wild pointer, or any address a person wrote).
    Abs(u64),
    /// `start + offset % va_size` of live area `slot % live_count` (guard page included).
    Area {
        /// Live-area slot.
        slot: u32,
        /// Byte offset, taken modulo the area's VA size.
        offset: u64,
    },
    /// `start + offset % va_size` of freed area `slot % freed_count` (double free, lazy VA,
    /// or a reused address).
    Stale {
        /// Freed-area slot.
        slot: u32,
        /// Byte offset, taken modulo the freed area's VA size.
        offset: u64,
    },
}

/// The page a `free_page` op gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageRef {
    /// Caller page `slot % caller_pages` (skipped while a live vmap maps it).
    Caller(u32),
    /// A literal PFN: a page the caller does not own, a table page, a free page (BUGs).
    Pfn(u64),
}

/// What a deferred free (`vfree` in interrupt context, `vfree_atomic`) is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeferTarget {
    /// The start of writable live mapping `slot % writable_mappings` (design §3.11).
    Writable(u32),
    /// A literal address: unmapped or read-only memory oopses when the list link is written.
    Addr(u64),
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// A fixed-parameter wrapper (`vmalloc`, `vzalloc`, ...).
    Vmalloc {
        /// Which wrapper.
        api: VmallocApi,
        /// Requested bytes.
        size: u64,
    },
    /// `vmalloc_node` / `vzalloc_node`.
    VmallocNode {
        /// `vzalloc_node` if set.
        zero: bool,
        /// Requested bytes.
        size: u64,
        /// Node, `None` = `NUMA_NO_NODE`.
        node: Option<u32>,
    },
    /// `__vmalloc(size, gfp, prot)`.
    VmallocGfp {
        /// Requested bytes.
        size: u64,
        /// gfp bits.
        gfp: u64,
        /// Protection.
        prot: Prot,
    },
    /// `__vmalloc_node_range` with its full parameter set.
    VmallocRange {
        /// Requested bytes.
        size: u64,
        /// Alignment (a power of two, except as an input's last op).
        align: u64,
        /// `vstart`.
        start: u64,
        /// `vend` (exclusive).
        end: u64,
        /// gfp bits.
        gfp: u64,
        /// Protection.
        prot: Prot,
        /// Extra VM flags (`VM_NO_GUARD`, `VM_USERMAP`).
        vm_flags: u64,
        /// Node.
        node: Option<u32>,
    },
    /// x86-64 `module_alloc(size)`.
    ModuleAlloc {
        /// Requested bytes.
        size: u64,
    },
    /// `get_vm_area(size, flags)` (`range: None`) or `__get_vm_area(size, flags, start, end)`.
    GetVmArea {
        /// Requested bytes.
        size: u64,
        /// VM flags.
        flags: u64,
        /// `(start, end)` for `__get_vm_area`.
        range: Option<(u64, u64)>,
    },
    /// `free_vm_area` of a live area.
    FreeVmArea {
        /// The area: `area#N` is a live area's start; anything else (an interior or stale
        /// address, a wild one) is not a live start and BUGs (last op only).
        addr: Addr,
    },
    /// `alloc_page(gfp)` / `alloc_pages_node(node, gfp, 0)`: a caller-owned page.
    AllocPage {
        /// gfp bits.
        gfp: u64,
        /// Node.
        node: Option<u32>,
    },
    /// `__free_page` of a caller page (skipped while a live vmap maps it).
    FreePage {
        /// The page: a caller page, or any PFN (a page the caller does not own BUGs:
        /// design §5.5, last op only).
        page: PageRef,
    },
    /// `vmap(pages, count, flags, prot)` of caller pages.
    Vmap {
        /// Caller-page slots, one per mapped page.
        pages: Vec<u32>,
        /// VM flags (`VM_MAP` plus optional `VM_NO_GUARD`/`VM_USERMAP`).
        flags: u64,
        /// Protection.
        prot: Prot,
    },
    /// `vunmap(addr)`; in interrupt context it BUGs (last op only).
    Vunmap {
        /// Address.
        addr: Addr,
        /// Interrupt context.
        irq: bool,
    },
    /// `vfree(addr)` in process context.
    Vfree {
        /// Address.
        addr: Addr,
    },
    /// `vfree` from interrupt context (`atomic: false`) or `vfree_atomic` of a live area's
    /// start: queued on CPU 0's deferred list.
    VfreeDeferred {
        /// The address: a writable live mapping's start, or any address (the list write into
        /// memory that is not mapped writable oopses: last op only).
        target: DeferTarget,
        /// `vfree_atomic` instead of `vfree` in interrupt context.
        atomic: bool,
    },
    /// Run CPU 0's deferred-free work.
    RunDeferred,
    /// `vm_unmap_aliases()` (a purge).
    VmUnmapAliases,
    /// `find_vm_area(addr)`.
    FindVmArea {
        /// Address.
        addr: Addr,
    },
    /// `vmalloc_to_pfn(addr)`.
    VmallocToPfn {
        /// Address.
        addr: Addr,
    },
    /// `is_vmalloc_addr(addr)`.
    IsVmallocAddr {
        /// Address.
        addr: Addr,
    },
    /// Read `/proc/vmallocinfo`.
    Vmallocinfo,
    /// Write `len` pattern bytes (from `seed`) into a live mapped area at `offset`.
    Write {
        /// Live-area slot (mapped areas only).
        slot: u32,
        /// Byte offset, taken modulo the mapped size.
        offset: u64,
        /// Byte count (clipped to the mapped size).
        len: u32,
        /// Pattern seed.
        seed: u8,
    },
    /// Read `len` bytes of a live mapped area at `offset` and compare.
    Read {
        /// Live-area slot (mapped areas only).
        slot: u32,
        /// Byte offset, taken modulo the mapped size.
        offset: u64,
        /// Byte count (clipped to the mapped size).
        len: u32,
    },
    /// An allocation whose size is taken from the state when it runs (a boundary argument).
    Fit {
        /// The API.
        api: FitApi,
        /// The size.
        size: DerivedSize,
    },
    /// `__vmalloc_node_range(size, align, start, end, GFP_KERNEL, PAGE_KERNEL, vm_flags,
    /// NUMA_NO_NODE)` with the size and the window edges taken from the state.
    RangeFit {
        /// The size (gaps are those of `[start, end)` when it is not inverted).
        size: DerivedSize,
        /// Alignment in bytes.
        align: u64,
        /// Window start.
        start: Edge,
        /// Window end.
        end: Edge,
        /// Extra `VM_*` flags (`VM_NO_GUARD`, `VM_USERMAP`).
        vm_flags: u64,
    },
}

/// The bytes a `write` op stores: `seed + 31*i` (mod 256) for the i-th byte.
pub fn pattern_byte(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(31))
}

/// Does a `get_vm_area` of `size` bytes ask for a VA whose size wraps to 0? `PAGE_ALIGN`
/// gives `2^64 - 4096` and the guard page adds the rest (`BUG_ON(!size)`, semantics §4.1):
/// sizes in `(2^64 - 8192, 2^64 - 4096]`.
pub fn va_size_wraps(size: u64) -> bool {
    size > 0u64.wrapping_sub(2 * PAGE_SIZE) && size <= 0u64.wrapping_sub(PAGE_SIZE)
}

impl Op {
    /// Can this op end the input with a `BUG`, a hang or an oops by itself on `machine` (so
    /// it may only be the last op)? Decided from the op alone: see [`Op::bug_reason`].
    pub fn may_bug(&self, machine: &Machine) -> bool {
        self.bug_reason(machine).is_some()
    }

    /// Why this op may end the input by itself on `machine`: a non-power-of-two alignment,
    /// `vunmap` in interrupt context, a node the machine does not have, a `get_vm_area` size
    /// whose VA wraps to zero, `free_vm_area` of anything but a live start, `__free_page` of
    /// a page the caller does not own, a deferred free of a literal address.
    pub fn bug_reason(&self, machine: &Machine) -> Option<String> {
        let nodes = machine.nodes.len();
        let bad_node = |n: &Option<u32>| match *n {
            Some(n) if n as usize >= nodes => {
                Some(format!("node {n} does not exist ({nodes} nodes)"))
            }
            _ => None,
        };
        match self {
            Op::RangeFit { align, .. } if !align.is_power_of_two() => {
                Some(format!("align {align:#x} is not a power of two"))
            }
            Op::VmallocRange { align, node, .. } => {
                if align.is_power_of_two() {
                    bad_node(node)
                } else {
                    Some(format!("align {align:#x} is not a power of two"))
                }
            }
            Op::VmallocNode { node, .. } | Op::AllocPage { node, .. } => bad_node(node),
            Op::Vunmap { irq: true, .. } => Some("vunmap in interrupt context".into()),
            Op::GetVmArea { size, .. } if va_size_wraps(*size) => {
                Some(format!("get_vm_area size {size:#x} wraps the VA size to 0"))
            }
            Op::FreeVmArea { addr } if !matches!(addr, Addr::Area { offset: 0, .. }) => Some(
                format!("free_vm_area of {addr}, which is not a live area's start"),
            ),
            Op::FreePage {
                page: PageRef::Pfn(pfn),
            } => Some(format!("__free_page of PFN {pfn:#x}, not a caller page")),
            Op::VfreeDeferred {
                target: DeferTarget::Addr(a),
                ..
            } => Some(format!("deferred free of the literal address {a:#x}")),
            _ => None,
        }
    }

    /// The op's kind (its trace keyword is `kind().name()`).
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Vmalloc { api, .. } => api.kind(),
            Op::VmallocNode { zero: false, .. } => OpKind::VmallocNode,
            Op::VmallocNode { zero: true, .. } => OpKind::VzallocNode,
            Op::VmallocGfp { .. } => OpKind::VmallocGfp,
            Op::VmallocRange { .. } => OpKind::VmallocRange,
            Op::ModuleAlloc { .. } => OpKind::ModuleAlloc,
            Op::GetVmArea { range: None, .. } => OpKind::GetVmArea,
            Op::GetVmArea { range: Some(_), .. } => OpKind::GetVmAreaRange,
            Op::FreeVmArea { .. } => OpKind::FreeVmArea,
            Op::AllocPage { .. } => OpKind::AllocPage,
            Op::FreePage { .. } => OpKind::FreePage,
            Op::Vmap { .. } => OpKind::Vmap,
            Op::Vunmap { .. } => OpKind::Vunmap,
            Op::Vfree { .. } => OpKind::Vfree,
            Op::VfreeDeferred { atomic: false, .. } => OpKind::VfreeIrq,
            Op::VfreeDeferred { atomic: true, .. } => OpKind::VfreeAtomic,
            Op::RunDeferred => OpKind::RunDeferred,
            Op::VmUnmapAliases => OpKind::VmUnmapAliases,
            Op::FindVmArea { .. } => OpKind::FindVmArea,
            Op::VmallocToPfn { .. } => OpKind::VmallocToPfn,
            Op::IsVmallocAddr { .. } => OpKind::IsVmallocAddr,
            Op::Vmallocinfo => OpKind::Vmallocinfo,
            Op::Write { .. } => OpKind::Write,
            Op::Read { .. } => OpKind::Read,
            Op::Fit { .. } => OpKind::Fit,
            Op::RangeFit { .. } => OpKind::RangeFit,
        }
    }

    /// The size of a sized op (the vmalloc family, `module_alloc`, `get_vm_area`).
    pub fn size(&self) -> Option<u64> {
        match self {
            Op::Vmalloc { size, .. }
            | Op::VmallocNode { size, .. }
            | Op::VmallocGfp { size, .. }
            | Op::VmallocRange { size, .. }
            | Op::ModuleAlloc { size }
            | Op::GetVmArea { size, .. } => Some(*size),
            _ => None,
        }
    }

    /// Check one op against the domain of valid inputs on `machine`. `last` says whether it
    /// is the input's last op (BUG-provoking ops are allowed only there).
    pub fn validate(&self, machine: &Machine, last: bool) -> Result<(), String> {
        let delta_ok = |d: i8| -> Result<(), String> {
            if DELTA_RANGE.contains(&d) {
                Ok(())
            } else {
                Err(format!("page delta {d} outside -16..=15"))
            }
        };
        let gfp_ok = |gfp: u64| -> Result<(), String> {
            if gfp & !GFP_OPTIONAL != GFP_KERNEL {
                return Err(format!(
                    "gfp {gfp:#x} is not GFP_KERNEL plus ZERO/NOWARN/DMA32/THISNODE/HIGHMEM/NOFAIL"
                ));
            }
            if gfp & GFP_DMA32 != 0 && gfp & GFP_HIGHMEM != 0 {
                return Err(
                    "__GFP_DMA32 with __GFP_HIGHMEM is an invalid zone pair (design §3.15)".into(),
                );
            }
            Ok(())
        };
        if let (Some(why), false) = (self.bug_reason(machine), last) {
            return Err(format!(
                "{why}: a BUG-provoking op may only be the last op (design §3.3)"
            ));
        }
        match self {
            Op::VmallocGfp { gfp, .. } => gfp_ok(*gfp),
            Op::VmallocRange {
                start,
                end,
                gfp,
                vm_flags,
                ..
            } => {
                gfp_ok(*gfp)?;
                if vm_flags & !(VM_NO_GUARD | VM_USERMAP) != 0 {
                    return Err(format!(
                        "vm_flags {vm_flags:#x}: only VM_NO_GUARD and VM_USERMAP"
                    ));
                }
                if !start.is_multiple_of(PAGE_SIZE) {
                    return Err(format!(
                        "start {start:#x} is not page aligned (design §3.16)"
                    ));
                }
                let (lo, hi) = (*start.min(end), *start.max(end));
                if !machine.in_vmalloc_window(lo, hi) && !machine.in_modules_window(lo, hi) {
                    return Err(format!(
                        "range {start:#x}-{end:#x} is not inside the vmalloc or modules window (mapping calls, design §3.16)"
                    ));
                }
                Ok(())
            }
            Op::GetVmArea { size, flags, range } => {
                // Sizes whose VA wraps to 0 reach alloc_vmap_area's BUG_ON(!size): the last op
                // may ask for one (bug_reason).
                if *size > MAX_GET_VM_AREA_SIZE && !va_size_wraps(*size) {
                    return Err(format!("get_vm_area size {size:#x} above {MAX_GET_VM_AREA_SIZE:#x} (semantics §12: VAs stay below 2^31 pages; the last op may ask for a size in (2^64 - 8192, 2^64 - 4096], whose VA wraps to 0)"));
                }
                if flags & !(VM_IOREMAP | VM_ALLOC | VM_MAP | VM_USERMAP | VM_NO_GUARD) != 0 {
                    return Err(format!(
                        "flags {flags:#x}: only IOREMAP/ALLOC/MAP/USERMAP/NO_GUARD"
                    ));
                }
                if let Some((start, _)) = range {
                    if !start.is_multiple_of(PAGE_SIZE) {
                        return Err(format!(
                            "start {start:#x} is not page aligned (design §3.16)"
                        ));
                    }
                    let kernel_half = machine.kernel_half();
                    if *start < kernel_half {
                        return Err(format!("start {start:#x} is not in the kernel half"));
                    }
                }
                Ok(())
            }
            Op::AllocPage { gfp, .. } => gfp_ok(*gfp),
            Op::Vmap { pages, flags, .. } => {
                if pages.len() > MAX_VMAP_PAGES {
                    return Err(format!(
                        "vmap of {} pages; at most {MAX_VMAP_PAGES}",
                        pages.len()
                    ));
                }
                if flags & !(VM_NO_GUARD | VM_USERMAP) != VM_MAP {
                    return Err(format!(
                        "vmap flags {flags:#x}: VM_MAP plus optional VM_NO_GUARD/VM_USERMAP"
                    ));
                }
                Ok(())
            }
            Op::Write { len, .. } | Op::Read { len, .. } => {
                if *len == 0 || *len > MAX_ACCESS_LEN {
                    return Err(format!("access length {len} outside 1..={MAX_ACCESS_LEN}"));
                }
                Ok(())
            }
            Op::Fit { api, size } => {
                delta_ok(size.delta())?;
                match api {
                    FitApi::GetVmArea { flags }
                        if flags & !(VM_IOREMAP | VM_ALLOC | VM_MAP | VM_USERMAP | VM_NO_GUARD)
                            != 0 =>
                    {
                        Err(format!(
                            "flags {flags:#x}: only IOREMAP/ALLOC/MAP/USERMAP/NO_GUARD"
                        ))
                    }
                    _ => Ok(()),
                }
            }
            Op::RangeFit {
                size,
                start,
                end,
                vm_flags,
                ..
            } => {
                delta_ok(size.delta())?;
                delta_ok(start.delta)?;
                delta_ok(end.delta)?;
                if vm_flags & !(VM_NO_GUARD | VM_USERMAP) != 0 {
                    return Err(format!(
                        "vm_flags {vm_flags:#x}: only VM_NO_GUARD and VM_USERMAP"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// One fuzz input: the machine and the ops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Input {
    /// The simulated machine, fault plan included.
    pub machine: Machine,
    /// The ops, at most [`MAX_OPS`].
    pub ops: Vec<Op>,
}

impl Input {
    /// Check the whole input against the domain of valid inputs.
    pub fn validate(&self) -> Result<(), String> {
        self.machine.validate()?;
        if self.ops.len() > MAX_OPS {
            return Err(format!("{} ops; at most {MAX_OPS}", self.ops.len()));
        }
        let n = self.ops.len();
        for (i, op) in self.ops.iter().enumerate() {
            op.validate(&self.machine, i + 1 == n)
                .map_err(|e| format!("op {i} ({}): {e}", op.kind()))?;
        }
        Ok(())
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Null => write!(f, "null"),
            Addr::Abs(a) => write!(f, "{a:#x}"),
            Addr::Area { slot, offset: 0 } => write!(f, "area#{slot}"),
            Addr::Area { slot, offset } => write!(f, "area#{slot}+{offset:#x}"),
            Addr::Stale { slot, offset: 0 } => write!(f, "stale#{slot}"),
            Addr::Stale { slot, offset } => write!(f, "stale#{slot}+{offset:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `__get_vm_area` ranges start in the canonical kernel half of the paging mode
    /// (design §3.16). A regression: the generator once produced LA57-style starts such as
    /// 0xffe6... on four-level machines, where they are not canonical.
    #[test]
    fn get_vm_area_starts_in_the_kernel_half_of_the_paging_mode() {
        let op = |start: u64| Op::GetVmArea {
            size: 0x1000,
            flags: 0,
            range: Some((start, u64::MAX)),
        };
        let four = Machine::default();
        let five = Machine {
            paging: Paging::FiveLevel,
            vmalloc_start: VMALLOC_START_L5,
            vmalloc_end: VMALLOC_END_L5,
            ..Machine::default()
        };
        assert!(op(0xffe6_0e17_8200_2000).validate(&four, true).is_err());
        assert!(op(0xffff_8000_0000_0000).validate(&four, true).is_ok());
        assert!(op(0xffe6_0e17_8200_2000).validate(&five, true).is_ok());
        assert!(op(0xfe00_0000_0000_0000).validate(&five, true).is_err());
    }
}

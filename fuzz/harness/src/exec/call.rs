//! A resolved call: an op with every slot turned into a concrete address or PFN, applied
//! identically to both sides.

use std::fmt;

use crate::ops::{OpKind, Prot, VmallocApi};
use crate::subject::{Context, Fatal, Kernel, VmInfo};

/// A concrete kernel call. Fields mean what the same-named fields of [`crate::ops::Op`] mean,
/// with slots resolved to addresses and PFNs.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A fixed-parameter vmalloc wrapper.
    Vmalloc(VmallocApi, u64),
    /// `vmalloc_node`/`vzalloc_node`.
    VmallocNode {
        zero: bool,
        size: u64,
        node: Option<u32>,
    },
    /// `__vmalloc`.
    VmallocGfp { size: u64, gfp: u64, prot: Prot },
    /// `__vmalloc_node_range`.
    VmallocRange {
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: u64,
        prot: Prot,
        vm_flags: u64,
        node: Option<u32>,
    },
    /// `module_alloc`.
    ModuleAlloc(u64),
    /// `get_vm_area`/`__get_vm_area`.
    GetVmArea {
        size: u64,
        flags: u64,
        range: Option<(u64, u64)>,
    },
    /// `free_vm_area`.
    FreeVmArea(u64),
    /// `alloc_page`.
    AllocPage { gfp: u64, node: Option<u32> },
    /// `__free_page`.
    FreePage(u64),
    /// `vmap`.
    Vmap {
        pfns: Vec<u64>,
        flags: u64,
        prot: Prot,
    },
    /// `vunmap`.
    Vunmap(u64, Context),
    /// `vfree` in process context.
    Vfree(u64),
    /// `vfree` in interrupt context, or `vfree_atomic`.
    VfreeDeferred { addr: u64, atomic: bool },
    /// Run the deferred list.
    RunDeferred,
    /// `vm_unmap_aliases`.
    VmUnmapAliases,
    /// `find_vm_area`.
    FindVmArea(u64),
    /// `vmalloc_to_pfn`.
    VmallocToPfn(u64),
    /// `is_vmalloc_addr`.
    IsVmallocAddr(u64),
    /// `/proc/vmallocinfo`.
    Vmallocinfo,
    /// A write through the mapping.
    Write { addr: u64, bytes: Vec<u8> },
    /// A read through the mapping.
    Read { addr: u64, len: usize },
}

impl Call {
    /// The op kind this call is (cleanup calls included: they are `vfree`, `vunmap`, ...).
    pub fn kind(&self) -> OpKind {
        match self {
            Call::Vmalloc(api, _) => api.kind(),
            Call::VmallocNode { zero: false, .. } => OpKind::VmallocNode,
            Call::VmallocNode { zero: true, .. } => OpKind::VzallocNode,
            Call::VmallocGfp { .. } => OpKind::VmallocGfp,
            Call::VmallocRange { .. } => OpKind::VmallocRange,
            Call::ModuleAlloc(_) => OpKind::ModuleAlloc,
            Call::GetVmArea { range: None, .. } => OpKind::GetVmArea,
            Call::GetVmArea { .. } => OpKind::GetVmAreaRange,
            Call::FreeVmArea(_) => OpKind::FreeVmArea,
            Call::AllocPage { .. } => OpKind::AllocPage,
            Call::FreePage(_) => OpKind::FreePage,
            Call::Vmap { .. } => OpKind::Vmap,
            Call::Vunmap(..) => OpKind::Vunmap,
            Call::Vfree(_) => OpKind::Vfree,
            Call::VfreeDeferred { atomic: false, .. } => OpKind::VfreeIrq,
            Call::VfreeDeferred { atomic: true, .. } => OpKind::VfreeAtomic,
            Call::RunDeferred => OpKind::RunDeferred,
            Call::VmUnmapAliases => OpKind::VmUnmapAliases,
            Call::FindVmArea(_) => OpKind::FindVmArea,
            Call::VmallocToPfn(_) => OpKind::VmallocToPfn,
            Call::IsVmallocAddr(_) => OpKind::IsVmallocAddr,
            Call::Vmallocinfo => OpKind::Vmallocinfo,
            Call::Write { .. } => OpKind::Write,
            Call::Read { .. } => OpKind::Read,
        }
    }

    /// What this call, returning `outcome`, gave the caller: a new area's start, or a new
    /// caller page's PFN (for [`super::Tracker::update`]).
    pub fn created(&self, outcome: &Outcome) -> (Option<u64>, Option<u64>) {
        match (outcome, self) {
            (Outcome::Addr(a), _) => (*a, None),
            (Outcome::Area(v), Call::GetVmArea { .. }) => (v.map(|v| v.addr), None),
            (Outcome::Pfn(p), Call::AllocPage { .. }) => (None, *p),
            _ => (None, None),
        }
    }
}

/// What a call returned (when it did not end the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An address, or NULL.
    Addr(Option<u64>),
    /// A `vm_struct`, or NULL.
    Area(Option<VmInfo>),
    /// A PFN, or none.
    Pfn(Option<u64>),
    /// Nothing.
    Unit,
    /// A boolean.
    Bool(bool),
    /// A text listing.
    Text(String),
    /// Bytes read, or the first unmapped address.
    Bytes(Result<Vec<u8>, u64>),
    /// A write's result: the first unmapped address on failure.
    Written(Result<(), u64>),
}

impl Outcome {
    /// Did an allocating call return NULL?
    pub fn is_null(&self) -> bool {
        matches!(self, Outcome::Addr(None) | Outcome::Area(None))
    }
}

/// Apply `call` to `k`.
pub fn apply<K: Kernel + ?Sized>(k: &mut K, call: &Call, caller: u32) -> Result<Outcome, Fatal> {
    use Outcome::*;
    Ok(match call {
        Call::Vmalloc(api, size) => Addr(match api {
            VmallocApi::Vmalloc => k.vmalloc(*size, caller)?,
            VmallocApi::Vzalloc => k.vzalloc(*size, caller)?,
            VmallocApi::VmallocUser => k.vmalloc_user(*size, caller)?,
            VmallocApi::VmallocExec => k.vmalloc_exec(*size, caller)?,
            VmallocApi::Vmalloc32 => k.vmalloc_32(*size, caller)?,
            VmallocApi::Vmalloc32User => k.vmalloc_32_user(*size, caller)?,
        }),
        Call::VmallocNode {
            zero: false,
            size,
            node,
        } => Addr(k.vmalloc_node(*size, *node, caller)?),
        Call::VmallocNode {
            zero: true,
            size,
            node,
        } => Addr(k.vzalloc_node(*size, *node, caller)?),
        Call::VmallocGfp { size, gfp, prot } => Addr(k.vmalloc_gfp(*size, *gfp, *prot, caller)?),
        Call::VmallocRange {
            size,
            align,
            start,
            end,
            gfp,
            prot,
            vm_flags,
            node,
        } => Addr(k.vmalloc_node_range(
            *size, *align, *start, *end, *gfp, *prot, *vm_flags, *node, caller,
        )?),
        Call::ModuleAlloc(size) => Addr(k.module_alloc(*size, caller)?),
        Call::GetVmArea { size, flags, range } => {
            Area(k.get_vm_area(*size, *flags, *range, caller)?)
        }
        Call::FreeVmArea(addr) => {
            k.free_vm_area(*addr)?;
            Unit
        }
        Call::AllocPage { gfp, node } => Pfn(k.alloc_page(*gfp, *node)?),
        Call::FreePage(pfn) => {
            k.free_page(*pfn)?;
            Unit
        }
        Call::Vmap { pfns, flags, prot } => Addr(k.vmap(pfns, *flags, *prot, caller)?),
        Call::Vunmap(addr, ctx) => {
            k.vunmap(*addr, *ctx)?;
            Unit
        }
        Call::Vfree(addr) => {
            k.vfree(*addr, Context::Process)?;
            Unit
        }
        Call::VfreeDeferred {
            addr,
            atomic: false,
        } => {
            k.vfree(*addr, Context::Interrupt)?;
            Unit
        }
        Call::VfreeDeferred { addr, atomic: true } => {
            k.vfree_atomic(*addr)?;
            Unit
        }
        Call::RunDeferred => {
            k.run_deferred()?;
            Unit
        }
        Call::VmUnmapAliases => {
            k.vm_unmap_aliases();
            Unit
        }
        Call::FindVmArea(addr) => Area(k.find_vm_area(*addr)),
        Call::VmallocToPfn(addr) => Pfn(k.vmalloc_to_pfn(*addr)),
        Call::IsVmallocAddr(addr) => Bool(k.is_vmalloc_addr(*addr)),
        Call::Vmallocinfo => Text(k.vmallocinfo()),
        Call::Write { addr, bytes } => Written(k.write(*addr, bytes)),
        Call::Read { addr, len } => Bytes(k.read(*addr, *len)),
    })
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = |n: &Option<u32>| n.map_or("none".to_string(), |n| n.to_string());
        match self {
            Call::Vmalloc(api, size) => write!(f, "{}({size:#x})", api.name()),
            Call::VmallocNode { zero, size, node: n } => {
                let name = if *zero { "vzalloc_node" } else { "vmalloc_node" };
                write!(f, "{name}({size:#x}, node={})", node(n))
            }
            Call::VmallocGfp { size, gfp, prot } => {
                write!(f, "__vmalloc({size:#x}, gfp={gfp:#x}, {})", prot.name())
            }
            Call::VmallocRange { size, align, start, end, gfp, prot, vm_flags, node: n } => write!(
                f,
                "__vmalloc_node_range({size:#x}, align={align:#x}, {start:#x}-{end:#x}, gfp={gfp:#x}, {}, vm_flags={vm_flags:#x}, node={})",
                prot.name(),
                node(n)
            ),
            Call::ModuleAlloc(size) => write!(f, "module_alloc({size:#x})"),
            Call::GetVmArea { size, flags, range: None } => {
                write!(f, "get_vm_area({size:#x}, flags={flags:#x})")
            }
            Call::GetVmArea { size, flags, range: Some((s, e)) } => {
                write!(f, "__get_vm_area({size:#x}, flags={flags:#x}, {s:#x}-{e:#x})")
            }
            Call::FreeVmArea(a) => write!(f, "free_vm_area({a:#x})"),
            Call::AllocPage { gfp, node: n } => write!(f, "alloc_page(gfp={gfp:#x}, node={})", node(n)),
            Call::FreePage(p) => write!(f, "__free_page(pfn {p:#x})"),
            Call::Vmap { pfns, flags, prot } => {
                write!(f, "vmap([")?;
                for (i, p) in pfns.iter().enumerate() {
                    write!(f, "{}{p:#x}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "], flags={flags:#x}, {})", prot.name())
            }
            Call::Vunmap(a, Context::Process) => write!(f, "vunmap({a:#x})"),
            Call::Vunmap(a, Context::Interrupt) => write!(f, "vunmap({a:#x}) in interrupt"),
            Call::Vfree(a) => write!(f, "vfree({a:#x})"),
            Call::VfreeDeferred { addr, atomic: false } => write!(f, "vfree({addr:#x}) in interrupt"),
            Call::VfreeDeferred { addr, atomic: true } => write!(f, "vfree_atomic({addr:#x})"),
            Call::RunDeferred => write!(f, "run deferred frees"),
            Call::VmUnmapAliases => write!(f, "vm_unmap_aliases()"),
            Call::FindVmArea(a) => write!(f, "find_vm_area({a:#x})"),
            Call::VmallocToPfn(a) => write!(f, "vmalloc_to_pfn({a:#x})"),
            Call::IsVmallocAddr(a) => write!(f, "is_vmalloc_addr({a:#x})"),
            Call::Vmallocinfo => write!(f, "cat /proc/vmallocinfo"),
            Call::Write { addr, bytes } => write!(f, "write {} bytes at {addr:#x}", bytes.len()),
            Call::Read { addr, len } => write!(f, "read {len} bytes at {addr:#x}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Addr(Some(a)) => write!(f, "{a:#x}"),
            Outcome::Addr(None) | Outcome::Area(None) => write!(f, "NULL"),
            Outcome::Area(Some(vm)) => write!(
                f,
                "vm {:#x}+{:#x} flags={:#x} pages={}",
                vm.addr, vm.size, vm.flags, vm.nr_pages
            ),
            Outcome::Pfn(Some(p)) => write!(f, "pfn {p:#x}"),
            Outcome::Pfn(None) => write!(f, "none"),
            Outcome::Unit => write!(f, "ok"),
            Outcome::Bool(b) => write!(f, "{b}"),
            Outcome::Text(t) => write!(f, "{} lines", t.lines().count()),
            Outcome::Bytes(Ok(b)) => write!(f, "{} bytes", b.len()),
            Outcome::Bytes(Err(a)) | Outcome::Written(Err(a)) => write!(f, "fault at {a:#x}"),
            Outcome::Written(Ok(())) => write!(f, "ok"),
        }
    }
}

//! `struct vm_struct` (semantics §1.1) and its read-only view [`VmInfo`] (contract §4).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use crate::addr::{Pfn, VirtAddr, PAGE_SIZE};
use crate::vm_flags::VmFlags;

/// Where an area's pages array lives (R5, contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayKind {
    /// No pages array (vmap, get_vm_area, or an area still being built).
    None,
    /// A kmalloc'ed array of `bytes` bytes (8 per page, at most 4096).
    Kmalloc {
        /// `nr_pages * 8`.
        bytes: u64,
    },
    /// A nested vmalloc of the array (more than 512 pages), at `addr`.
    Vmalloc {
        /// Start of the nested area.
        addr: VirtAddr,
    },
}

/// Read-only view of a live vm_struct (contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VmInfo {
    /// `vm->addr`, the VA start.
    pub addr: VirtAddr,
    /// `vm->size`: the whole VA, guard page included unless VM_NO_GUARD.
    pub size: u64,
    /// `vm->flags` as stored.
    pub flags: VmFlags,
    /// `vm->nr_pages`: pages really allocated and owned by the area.
    pub nr_pages: u64,
    /// The caller token, printed as `op<token>` in vmallocinfo.
    pub caller: u32,
    /// The pages array.
    pub pages_array: ArrayKind,
}

/// One vm_struct in the engine.
#[derive(Debug, Clone)]
pub(crate) struct VmStruct {
    pub(crate) addr: u64,
    pub(crate) size: u64,
    pub(crate) flags: VmFlags,
    /// A guard page was added at the top of the VA (R2).
    pub(crate) guard: bool,
    /// The pages, `pages.len() == nr_pages` (the first `nr_pages` that were allocated).
    pub(crate) pages: Vec<Pfn>,
    pub(crate) array: ArrayKind,
    pub(crate) caller: u32,
    /// Slab id of the vmap_area under it.
    pub(crate) va: u32,
}

impl VmStruct {
    /// `get_vm_area_size`: the mapped size, guard page excluded (semantics §1.1).
    pub(crate) fn mapped_size(&self) -> u64 {
        if self.guard {
            self.size.saturating_sub(PAGE_SIZE)
        } else {
            self.size
        }
    }

    pub(crate) fn info(&self) -> VmInfo {
        VmInfo {
            addr: VirtAddr::from_u64(self.addr),
            size: self.size,
            flags: self.flags,
            nr_pages: self.pages.len() as u64,
            caller: self.caller,
            pages_array: self.array,
        }
    }
}

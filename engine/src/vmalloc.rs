//! `__vmalloc_node_range` (semantics §3.1), `__vmalloc_area_node` (semantics §6) and the API
//! wrappers of the semantics §2 table, each passing exactly the parameters of that table.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

use crate::addr::{page_align, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::error::KResult;
use crate::event::Event;
use crate::fault::FaultKind;
use crate::gfp::Gfp;
use crate::kernel::Kernel;
use crate::knobs::ImplicitHighmem;
use crate::pgtable::{level_index, top_level};
use crate::prot::Prot;
use crate::vm_flags::VmFlags;
use crate::vm_struct::ArrayKind;

/// Largest pages array that is kmalloc'ed rather than vmalloc'ed (R5).
const KMALLOC_ARRAY_MAX: u64 = PAGE_SIZE;

impl Kernel {
    /// `__vmalloc_node_range(size, align, start, end, gfp, prot, vm_flags, node, caller)`
    /// (semantics §3.1): R1 size gate, R13 steps 1–6, R8 residue on failure.
    #[allow(clippy::too_many_arguments)]
    pub fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: impl Into<VirtAddr>,
        end: impl Into<VirtAddr>,
        gfp: Gfp,
        prot: Prot,
        vm_flags: VmFlags,
        node: Option<u32>,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        self.check_alive()?;
        let (start, end) = (start.into().as_u64(), end.into().as_u64());
        let r = self.check_node(node).and_then(|()| {
            self.vmalloc_range_inner(size, align, start, end, gfp, prot, vm_flags, node, caller)
        });
        self.seal(r)
    }

    /// The body of `__vmalloc_node_range`, shared by the nested pages-array call (R5).
    #[allow(clippy::too_many_arguments)]
    fn vmalloc_range_inner(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        prot: Prot,
        vm_flags: VmFlags,
        node: Option<u32>,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        let real_size = size;
        let size = page_align(size);
        // R1: the guard page is not counted here.
        if size == 0 || size >> PAGE_SHIFT > self.totalram {
            self.warn_unless_nowarn(gfp, Event::AllocFailure { bytes: real_size });
            return Ok(None);
        }
        let flags = VmFlags::ALLOC | VmFlags::UNINITIALIZED | vm_flags;
        let Some(vm) = self.get_vm_area_node(size, align, flags, start, end, gfp, caller)? else {
            self.warn_unless_nowarn(gfp, Event::AllocFailure { bytes: real_size });
            return Ok(None);
        };
        // A failure inside returns NULL at once: no second warning (semantics §3.1 step 4).
        let Some(addr) = self.vmalloc_area_node(vm, gfp, prot, node)? else {
            return Ok(None);
        };
        if let Some(v) = self.vms.get_mut(vm) {
            v.flags.remove(VmFlags::UNINITIALIZED);
        }
        Ok(Some(addr))
    }

    /// `__vmalloc_area_node` (semantics §6): the pages array (R5), the data pages (R6), the mapping
    /// (R7), and on failure the fail path of semantics §6.4 (R8).
    fn vmalloc_area_node(
        &mut self,
        vm: u32,
        gfp: Gfp,
        prot: Prot,
        node: Option<u32>,
    ) -> KResult<Option<VirtAddr>> {
        let Some(v) = self.vms.get(vm) else {
            return Ok(None);
        };
        let (addr, mapped, caller) = (v.addr, v.mapped_size(), v.caller);
        let nr_pages = mapped >> PAGE_SHIFT;
        let array_size = nr_pages * 8;
        let nested_gfp = gfp.nested();
        // Who adds __GFP_HIGHMEM (semantics §6.1, semantics §6.2; knob `implicit_highmem`): to the
        // data pages, and to the nested array's gfp.
        let (highmem, nested_highmem) = match self.knobs.implicit_highmem {
            // ≤4.11: the callers passed it; the nested call always added it.
            ImplicitHighmem::CallerProvided => (Gfp::empty(), Gfp::HIGHMEM),
            // 4.12: always, even with GFP_DMA32 (bug 9: BUG in gfp_zone at the first page).
            ImplicitHighmem::Unconditional => (Gfp::HIGHMEM, Gfp::HIGHMEM),
            // 4.13+: unless the caller asked for DMA or DMA32.
            ImplicitHighmem::UnlessDma => (gfp.highmem_mask(), gfp.highmem_mask()),
        };

        // R13 step 4: the pages array.
        let array = if array_size > KMALLOC_ARRAY_MAX {
            let (s, e) = (self.cfg.vmalloc_start, self.cfg.vmalloc_end);
            let nested_gfp = nested_gfp | nested_highmem;
            self.vmalloc_range_inner(
                array_size,
                1,
                s,
                e,
                nested_gfp,
                Prot::Kernel,
                VmFlags::empty(),
                node,
                caller,
            )?
            .map(|a| ArrayKind::Vmalloc { addr: a })
        } else if self.kmalloc(FaultKind::PagesArray, nested_gfp) {
            self.kmalloc_arrays += 1;
            Some(ArrayKind::Kmalloc { bytes: array_size })
        } else {
            None
        };
        let Some(array) = array else {
            // semantics §6.1 step 6: remove_vm_area (R9 steps 1–2), kfree(area); no warning.
            // Planted P3: a warning here, as 5.16 added (warning 2, no page allocated).
            if planted!(self, ArrayFailureWarns) {
                let total = self.vms.get(vm).map_or(0, |v| v.size);
                self.warn_unless_nowarn(
                    gfp,
                    Event::AllocPartial {
                        allocated: 0,
                        total,
                    },
                );
            }
            if let Some(v) = self.remove_vm_area(vm, false, false) {
                self.recycle(v);
            }
            return Ok(None);
        };
        let mut pages = match self.vms.get_mut(vm) {
            Some(v) => {
                v.array = array;
                std::mem::take(&mut v.pages)
            }
            None => return Ok(None),
        };

        // R13 step 5: data pages, one at a time in index order (R6). The reservation is capped:
        // the pool, not this hint, bounds the vector.
        pages.reserve(nr_pages.min(1 << 16) as usize);
        let alloc_gfp = gfp | Gfp::NOWARN | highmem;
        let zero = gfp.contains(Gfp::ZERO) && !planted!(self, DropGfpZero);
        let mut failed_at = None;
        for i in 0..nr_pages {
            match self.alloc_frame(FaultKind::DataPage, node, alloc_gfp, zero) {
                Ok(Some(p)) => pages.push(p),
                Ok(None) => {
                    failed_at = Some(i);
                    break;
                }
                Err(f) => {
                    // The machine is dead; keep the pages owned by the area for inspection.
                    if let Some(v) = self.vms.get_mut(vm) {
                        v.pages = pages;
                    }
                    return Err(f);
                }
            }
        }
        if let Some(i) = failed_at {
            if i >= 2 && planted!(self, FailPathLeaksPage) {
                pages.remove((i - 1) as usize);
            }
        }
        let size = match self.vms.get_mut(vm) {
            Some(v) => {
                v.pages = pages;
                v.size
            }
            None => return Ok(None),
        };
        if let Some(i) = failed_at {
            let eager = planted!(self, FailPathFreesVaEagerly);
            return self.vmalloc_fail(vm, gfp, i, size, eager).map(|()| None);
        }

        // R13 step 6: the mapping, guard page excluded (semantics §6.3).
        if self.map_vm_pages(vm, addr, addr + mapped, prot).is_err() {
            return self
                .vmalloc_fail(vm, gfp, nr_pages, size, false)
                .map(|()| None);
        }
        if nr_pages >= 2 && planted!(self, LeakFrameBehindAllocator) {
            // I5 broken behind the counters' back: no owner, free pages unchanged.
            let _ = self.mem.alloc.take_uncounted();
        }
        if planted!(self, StrayPteBeyondArea) {
            self.planted_stray_pte(vm, addr + mapped, prot);
        }
        Ok(Some(VirtAddr::from_u64(addr)))
    }

    /// The planted `StrayPteBeyondArea`: the leaf of the area's last page (which ends at
    /// `mapped_end`) is also written into the last slot of its PTE table, when no busy area
    /// covers that slot's page and its PTE is none (I3 broken outside every area).
    fn planted_stray_pte(&mut self, vm: u32, mapped_end: u64, prot: Prot) {
        const PMD_SIZE: u64 = 1 << 21;
        let Some(&last) = self.vms.get(vm).and_then(|v| v.pages.last()) else {
            return;
        };
        let slot = ((mapped_end - 1) | (PMD_SIZE - 1)) & !(PAGE_SIZE - 1);
        if self.vas.find(slot).is_some() {
            return;
        }
        let leaf = self.enc.leaf(last, self.prot_value(prot));
        // Down the existing tables (the area's own mapping made them) to the PTE table.
        let mut table = self.root.as_u64();
        for level in (1..=top_level(self.enc.paging)).rev() {
            let e = self.mem.entry(table, level_index(slot, level));
            if self.enc.is_none(level, e) {
                return;
            }
            table = self.enc.entry_pfn(e).as_u64();
        }
        let idx = level_index(slot, 0);
        if self.enc.is_none(0, self.mem.entry(table, idx)) {
            self.mem.set_entry(table, idx, leaf);
        }
    }

    /// The fail path of semantics §6.4: warning 2 (`nr_pages * 4096` of the VA size, guard
    /// included), then `vfree(area->addr)`, i.e. R9 steps 1–5 in order.
    fn vmalloc_fail(
        &mut self,
        vm: u32,
        gfp: Gfp,
        nr_pages: u64,
        size: u64,
        eager: bool,
    ) -> KResult<()> {
        self.warn_unless_nowarn(
            gfp,
            Event::AllocPartial {
                allocated: nr_pages * PAGE_SIZE,
                total: size,
            },
        );
        self.free_vm(vm, true, eager)
    }

    /// `__vmalloc_node(size, align, gfp, prot, node)`: the VMALLOC window, no vm_flags.
    fn vmalloc_node_flags(
        &mut self,
        size: u64,
        align: u64,
        gfp: Gfp,
        prot: Prot,
        node: Option<u32>,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        let (s, e) = (self.cfg.vmalloc_start, self.cfg.vmalloc_end);
        self.vmalloc_node_range(size, align, s, e, gfp, prot, VmFlags::empty(), node, caller)
    }

    /// The gfp an API wrapper passes: `GFP_KERNEL`-based wrappers add `__GFP_HIGHMEM`
    /// themselves under `implicit_highmem=caller_provided` (≤4.11, semantics §2); `vmalloc_32*` and
    /// `__vmalloc` never do.
    fn api_gfp(&self, gfp: Gfp) -> Gfp {
        match self.knobs.implicit_highmem {
            ImplicitHighmem::CallerProvided => gfp | Gfp::HIGHMEM,
            ImplicitHighmem::Unconditional | ImplicitHighmem::UnlessDma => gfp,
        }
    }

    /// ORs `VM_USERMAP` into the area found at `addr` (semantics §2 vmalloc_user).
    fn mark_usermap(&mut self, addr: Option<VirtAddr>) -> Option<VirtAddr> {
        if let Some(a) = addr {
            if let Some(vm) = self.find_vm(a.as_u64()) {
                if let Some(v) = self.vms.get_mut(vm) {
                    v.flags.insert(VmFlags::USERMAP);
                }
            }
        }
        addr
    }

    /// `vmalloc(size)`: align 1, GFP_KERNEL, PAGE_KERNEL, no node.
    pub fn vmalloc(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL);
        self.vmalloc_node_flags(size, 1, gfp, Prot::Kernel, None, caller)
    }

    /// `vzalloc(size)`: as vmalloc with `__GFP_ZERO`.
    pub fn vzalloc(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL | Gfp::ZERO);
        self.vmalloc_node_flags(size, 1, gfp, Prot::Kernel, None, caller)
    }

    /// `vmalloc_user(size)`: align SHMLBA (4096), zeroed, then `VM_USERMAP` (semantics §2).
    pub fn vmalloc_user(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL | Gfp::ZERO);
        let r = self.vmalloc_node_flags(size, PAGE_SIZE, gfp, Prot::Kernel, None, caller)?;
        Ok(self.mark_usermap(r))
    }

    /// `vmalloc_node(size, node)`.
    pub fn vmalloc_node(
        &mut self,
        size: u64,
        node: Option<u32>,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL);
        self.vmalloc_node_flags(size, 1, gfp, Prot::Kernel, node, caller)
    }

    /// `vzalloc_node(size, node)`.
    pub fn vzalloc_node(
        &mut self,
        size: u64,
        node: Option<u32>,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL | Gfp::ZERO);
        self.vmalloc_node_flags(size, 1, gfp, Prot::Kernel, node, caller)
    }

    /// `vmalloc_exec(size)`: PAGE_KERNEL_EXEC.
    pub fn vmalloc_exec(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        let gfp = self.api_gfp(Gfp::KERNEL);
        self.vmalloc_node_flags(size, 1, gfp, Prot::KernelExec, None, caller)
    }

    /// `vmalloc_32(size)`: `GFP_VMALLOC32` = GFP_KERNEL | GFP_DMA32 (pages below 4 GiB).
    pub fn vmalloc_32(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        self.vmalloc_node_flags(size, 1, Gfp::VMALLOC32, Prot::Kernel, None, caller)
    }

    /// `vmalloc_32_user(size)`: `GFP_VMALLOC32 | __GFP_ZERO`, align 1, then `VM_USERMAP`.
    pub fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        let r = self.vmalloc_node_flags(
            size,
            1,
            Gfp::VMALLOC32 | Gfp::ZERO,
            Prot::Kernel,
            None,
            caller,
        )?;
        Ok(self.mark_usermap(r))
    }

    /// `__vmalloc(size, gfp, prot)`: align 1, no node.
    pub fn __vmalloc(
        &mut self,
        size: u64,
        gfp: Gfp,
        prot: Prot,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        self.vmalloc_node_flags(size, 1, gfp, prot, None, caller)
    }

    /// x86-64 `module_alloc(size)` (semantics §2): NULL at once if
    /// `PAGE_ALIGN(size) > MODULES_LEN`, else `[MODULES_VADDR + load_offset, MODULES_END)`, align
    /// 4096, GFP_KERNEL, PAGE_KERNEL_EXEC. Only PTE tables are ever created there
    /// (semantics §12.1).
    pub fn module_alloc(&mut self, size: u64, caller: u32) -> KResult<Option<VirtAddr>> {
        self.check_alive()?;
        if page_align(size) > self.cfg.modules_len() {
            return Ok(None);
        }
        let start = self.cfg.modules_vaddr + self.cfg.module_load_offset;
        let end = self.cfg.modules_end;
        let gfp = self.api_gfp(Gfp::KERNEL);
        self.vmalloc_node_range(
            size,
            PAGE_SIZE,
            start,
            end,
            gfp,
            Prot::KernelExec,
            VmFlags::empty(),
            None,
            caller,
        )
    }
}

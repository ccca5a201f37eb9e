//! Reserving and removing vm areas: `__get_vm_area_node` (semantics §3.2), `alloc_vmap_area`
//! (semantics §4.2), `remove_vm_area` with `free_unmap_vmap_area` (semantics §5.4), and the
//! `get_vm_area` family (semantics §2).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

use crate::addr::{page_align, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::error::{BugKind, Fatal, KResult};
use crate::event::Event;
use crate::fault::FaultKind;
use crate::gfp::Gfp;
use crate::kernel::Kernel;
use crate::knobs::{AlignWrapCheck, VmapNowarnHonoured};
use crate::vm_flags::VmFlags;
use crate::vm_struct::{ArrayKind, VmInfo, VmStruct};
use crate::vmap_area::{OverflowTest, Placement, SearchPlan, VaRequest, VaState};

impl Kernel {
    /// `__get_vm_area_node` (semantics §3.2, R13 steps 1–3). Returns the new vm_struct's slab id.
    /// Warning 3 may be recorded by the VA search; warning 1 is the caller's business. The
    /// kernel's `node` only steers the kmallocs, which take no pool frames (semantics §12.2), so it
    /// is not a parameter here.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn get_vm_area_node(
        &mut self,
        size: u64,
        align: u64,
        flags: VmFlags,
        start: u64,
        end: u64,
        gfp: Gfp,
        caller: u32,
    ) -> KResult<Option<u32>> {
        let real_size = size;
        let size = page_align(size);
        if size == 0 {
            return Ok(None);
        }
        // R4: overwrites the caller's align; 4.9+ from the page-aligned size, older rules from
        // the size as passed (knob `ioremap_align_rule`).
        let align = if flags.contains(VmFlags::IOREMAP) {
            // Planted bug 6: the rule sees only the low 32 bits of the size, as ≤4.0's `fls`
            // (an `int` parameter) did.
            let seen = if planted!(self, IoremapAlignLow32Bits) {
                real_size & 0xffff_ffff
            } else {
                real_size
            };
            self.knobs.ioremap_align_rule.align(seen)
        } else {
            align
        };
        // Step 1: kzalloc_node of the vm_struct (gfp & GFP_RECLAIM_MASK).
        if !self.kmalloc(FaultKind::VmStruct, gfp.reclaim_only()) {
            return Ok(None);
        }
        let skip_guard = flags.contains(VmFlags::ALLOC) && planted!(self, SkipGuardPage);
        let guard = !(flags.contains(VmFlags::NO_GUARD) || skip_guard);
        // R2: the guard page is the last page. May wrap to 0 (BUG in alloc_vmap_area,
        // semantics §3.2).
        let va_size = if guard {
            size.wrapping_add(PAGE_SIZE)
        } else {
            size
        };
        let Some(va) = self.alloc_vmap_area(va_size, align, start, end, gfp)? else {
            // kfree(area).
            return Ok(None);
        };
        // setup_vmalloc_vm.
        let (va_start, va_end) = match self.vas.slab.get(va) {
            Some(v) => (v.start, v.end),
            None => return Ok(None),
        };
        let pages = self.new_page_vec();
        let vm = self.vms.insert(VmStruct {
            addr: va_start,
            size: va_end - va_start,
            flags,
            guard,
            pages,
            array: ArrayKind::None,
            caller,
            va,
        });
        if let Some(v) = self.vas.slab.get_mut(va) {
            v.state = VaState::Live(vm);
        }
        Ok(Some(vm))
    }

    /// `alloc_vmap_area` (semantics §4.1, semantics §4.2): BUG checks, the vmap_area kmalloc, the
    /// placement (R3: exact lowest fit, or the 4.x search under `faithful_4x_cache`) with one purge
    /// and retry, then warning 3 (unless NOWARN, where `vmap_nowarn_honoured` says so) and -EBUSY.
    /// A search that reaches a wrapped `ALIGN` is no fit, or under `align_wrap_check=off` the
    /// BUG at mm/vmalloc.c:512 (R4). Returns the VA's slab id.
    pub(crate) fn alloc_vmap_area(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        gfp: Gfp,
    ) -> KResult<Option<u32>> {
        if size == 0 {
            return Err(Fatal::Bug(BugKind::ZeroSizeVa));
        }
        if !align.is_power_of_two() {
            return Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        }
        if !self.kmalloc(FaultKind::VmapArea, gfp.reclaim_only()) {
            // -ENOMEM at once, without purging.
            return Ok(None);
        }
        let request = VaRequest {
            vstart,
            vend,
            align,
        };
        let wrap_check = self.knobs.align_wrap_check == AlignWrapCheck::On;
        let plan = self.search_plan(size, vend, !wrap_check);
        let mut purged = false;
        loop {
            // The area is reserved with a placeholder state; the caller links its vm_struct.
            match self.vas.place(size, plan, request, VaState::Lazy) {
                Placement::At(id) => return Ok(Some(id)),
                // v4.19.0 inserts the wrapped address 0, then BUG_ON(va->va_start < vstart).
                Placement::Wrapped if !wrap_check => {
                    return Err(Fatal::Bug(BugKind::VaStartBelowVstart))
                }
                // Planted bug 4: `__insert_vmap_area` meets an area whose end wrapped to 0. It
                // goes neither left nor right of a busy area below it: BUG().
                Placement::EndWrapped => return Err(Fatal::Bug(BugKind::Oops)),
                Placement::Wrapped | Placement::NoFit => {}
            }
            if purged {
                break;
            }
            // Planted bug 2: the failure path only tries to purge, and the try finds another
            // purge running (always, in this plant): nothing is released before the retry.
            if !planted!(self, FailurePurgeSkipped) {
                self.purge();
            }
            purged = true;
            // Planted bug 3: the retry resumes the walk at the address where it failed,
            // which already failed `addr + size <= vend`; it cannot succeed, so it is not run.
            if planted!(self, RetryNotFromVstart) {
                break;
            }
        }
        let e = Event::VmapAllocFailed { size };
        if self.knobs.vmap_nowarn_honoured == VmapNowarnHonoured::No {
            self.events.push(e);
        } else {
            self.warn_unless_nowarn(gfp, e);
        }
        Ok(None)
    }

    /// What `alloc_vmap_area` judges candidates by: the request itself, or what a planted
    /// fault (design §4.3) makes of it.
    fn search_plan(&self, size: u64, vend: u64, detect_wrap: bool) -> SearchPlan {
        let mut plan = SearchPlan::exact(size, vend, detect_wrap);
        if planted!(self, FitRejectsExactHole) {
            // Planted bug 1: an exact-fit hole is judged too small.
            plan.size = size.saturating_add(1);
        } else if planted!(self, InsertAcceptsOverlap) && size > PAGE_SIZE {
            // Planted P2: the collision test ignores the first page of the next busy area,
            // so a hole one page short is taken (still below vend), and the 4.x insert
            // accepts the overlapping area without a word.
            plan.size = size - PAGE_SIZE;
            plan.vend = vend.saturating_sub(PAGE_SIZE);
        } else if planted!(self, OverflowCheckMinusOne) {
            // Planted bug 4: the ≤3.10 overflow test `addr + size - 1 < addr`.
            plan.overflow = OverflowTest::SizeMinusOne;
        }
        plan
    }

    /// `__purge_vmap_area_lazy` (R9).
    pub(crate) fn purge(&mut self) {
        let over = planted!(self, PurgeOverRelease);
        self.vas.purge(&mut self.events, over);
    }

    /// The live vm_struct whose VA contains `addr` (`find_vm_area`, R12).
    pub(crate) fn find_vm(&self, addr: u64) -> Option<u32> {
        match self.vas.slab.get(self.vas.find(addr)?)?.state {
            VaState::Live(vm) => Some(vm),
            VaState::Lazy => None,
        }
    }

    /// `remove_vm_area` on a known vm_struct (semantics §2, semantics §5.4): unlink it from its VA,
    /// clear the VA's PTEs (R9 step 1; not with the planted `VunmapKeepsPtes` on vunmap), then the
    /// lazy add and threshold purge (R9 step 2). `eager` is the planted `FailPathFreesVaEagerly`.
    /// Returns the vm_struct; the caller frees it.
    pub(crate) fn remove_vm_area(
        &mut self,
        vm: u32,
        keep_ptes: bool,
        eager: bool,
    ) -> Option<VmStruct> {
        let v = self.vms.remove(vm)?;
        let (start, end) = match self.vas.slab.get(v.va) {
            Some(va) => (va.start, va.end),
            None => return Some(v),
        };
        if !keep_ptes {
            self.unmap_range(start, end);
        }
        if eager {
            self.vas.release_now(v.va);
            return Some(v);
        }
        let mut pages = (end - start) >> PAGE_SHIFT;
        if v.guard && planted!(self, LazyNrWithoutGuard) {
            pages -= 1;
        }
        self.vas.lazy_add(v.va, pages);
        if self.vas.lazy_nr > self.lazy_max {
            self.purge();
        }
        Some(v)
    }

    /// `get_vm_area(size, flags)`: the VMALLOC window, align 1, GFP_KERNEL, no node (semantics §2).
    /// Failure prints only warning 3 (R13).
    pub fn get_vm_area(
        &mut self,
        size: u64,
        flags: VmFlags,
        caller: u32,
    ) -> KResult<Option<VmInfo>> {
        let (s, e) = (self.cfg.vmalloc_start, self.cfg.vmalloc_end);
        self.__get_vm_area(size, flags, s, e, caller)
    }

    /// `get_vm_area_caller(size, flags, caller)`: as [`Kernel::get_vm_area`].
    pub fn get_vm_area_caller(
        &mut self,
        size: u64,
        flags: VmFlags,
        caller: u32,
    ) -> KResult<Option<VmInfo>> {
        self.get_vm_area(size, flags, caller)
    }

    /// `__get_vm_area(size, flags, start, end)` (semantics §2): any range, `end` exclusive.
    pub fn __get_vm_area(
        &mut self,
        size: u64,
        flags: VmFlags,
        start: impl Into<VirtAddr>,
        end: impl Into<VirtAddr>,
        caller: u32,
    ) -> KResult<Option<VmInfo>> {
        self.check_alive()?;
        let (start, end) = (start.into().as_u64(), end.into().as_u64());
        let r = self.get_vm_area_node(size, 1, flags, start, end, Gfp::KERNEL, caller);
        let r = self.seal(r)?;
        Ok(r.and_then(|vm| self.vms.get(vm)).map(VmStruct::info))
    }

    /// `free_vm_area(area)` (semantics §2): `remove_vm_area` + kfree. The pages and a pages array
    /// are not freed (orphaned, I5). `addr` must be the start of a live vm area, else
    /// `BUG_ON(ret != area)`.
    pub fn free_vm_area(&mut self, addr: impl Into<VirtAddr>) -> KResult<()> {
        self.check_alive()?;
        let addr = addr.into().as_u64();
        let vm = self
            .find_vm(addr)
            .filter(|&vm| self.vms.get(vm).is_some_and(|v| v.addr == addr));
        let Some(vm) = vm else {
            return self.seal(Err(Fatal::Bug(BugKind::FreeVmAreaMismatch)));
        };
        if let Some(v) = self.remove_vm_area(vm, false, false) {
            self.recycle(v);
        }
        Ok(())
    }

    /// `find_vm_area(addr)` (R12): the live vm area containing `addr` (guard page included).
    pub fn find_vm_area(&self, addr: impl Into<VirtAddr>) -> Option<VmInfo> {
        let vm = self.find_vm(addr.into().as_u64())?;
        Some(self.vms.get(vm)?.info())
    }

    /// `is_vmalloc_addr(x)`: `VMALLOC_START <= x < VMALLOC_END` (R12).
    pub fn is_vmalloc_addr(&self, addr: impl Into<VirtAddr>) -> bool {
        let a = addr.into().as_u64();
        self.cfg.vmalloc_start <= a && a < self.cfg.vmalloc_end
    }

    /// `vm_unmap_aliases()`: a purge of every lazily freed VA (R9; no vmap blocks modelled).
    pub fn vm_unmap_aliases(&mut self) {
        if self.dead.is_none() {
            self.purge();
        }
    }
}

//! The [`Model`]: machine plus vmalloc state (semantics §12 "State"), and the kernel API of
//! contract §4. Each public method is a thin wrapper that names the API table of semantics §2
//! and hands over to the rule functions in `alloc.rs`, `free.rs` and `queries.rs`.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::collections::BTreeSet;

use crate::alloc::VmallocArgs;
use crate::areas::BusyList;
use crate::arith::{page_align, PAGE_SIZE};
use crate::cache4x::SearchCache;
use crate::config::{ConfigError, FaultKind, MachineConfig};
use crate::faults::FaultCounters;
use crate::knobs::Faithful4xCache;
use crate::pages::PagePool;
use crate::ptes::PageTables;
use crate::types::{AccessError, BugKind, Context, Event, Fatal, Gfp, Prot, VmFlags, VmInfo};

/// The reference model of one simulated machine running the 4.x vmalloc path.
///
/// Single-threaded, CPU 0, process context unless a call says otherwise. After a call
/// returns [`Fatal`] the machine is dead and the caller must make no further call.
#[derive(Clone, Debug)]
pub struct Model {
    /// The machine (never changes after [`Model::new`]).
    pub(crate) config: MachineConfig,
    /// Busy VAs, LiveVm and LazyPending, in address order.
    pub(crate) busy: BusyList,
    /// The 4.x search cache, kept only with `faithful_4x_cache` on (module `cache4x`).
    pub(crate) search_cache: Option<SearchCache>,
    /// The lazy list: starts of LazyPending VAs, newest first (semantics §5.4).
    pub(crate) lazy: Vec<u64>,
    /// `vmap_lazy_nr`: pages of the LazyPending VAs, guards included (I6).
    pub(crate) lazy_nr: u64,
    /// Physical frames and their contents (semantics §12.2, design §3.10).
    pub(crate) pool: PagePool,
    /// PTE map and page-table pages (R7, I8, semantics §12.1).
    pub(crate) tables: PageTables,
    /// Frames a caller took with `alloc_page` and has not given back (I5).
    pub(crate) caller_pages: BTreeSet<u64>,
    /// Data pages leaked by `vunmap`/`free_vm_area` on vmalloc memory (R11, I5).
    pub(crate) orphaned_pages: BTreeSet<u64>,
    /// Kmalloc'ed pages arrays leaked the same way (I5, design §3.5).
    pub(crate) orphaned_arrays: u64,
    /// CPU 0's `vfree_deferred` list, newest first (semantics §5.1, semantics §11.2).
    pub(crate) deferred: Vec<u64>,
    /// Fault-attempt counters and the plan (contract §6).
    pub(crate) faults: FaultCounters,
    /// Events not yet taken (contract §5).
    pub(crate) events: Vec<Event>,
}

impl Model {
    /// Boots the machine: semantics §12.1's static tables, every pool frame free, nothing busy.
    pub fn new(config: MachineConfig) -> Result<Model, ConfigError> {
        config.validate()?;
        Ok(Model {
            busy: BusyList::default(),
            search_cache: (config.knobs.faithful_4x_cache == Faithful4xCache::On)
                .then(SearchCache::default),
            lazy: Vec::new(),
            lazy_nr: 0,
            pool: PagePool::new(&config.nodes),
            tables: PageTables::new(&config),
            caller_pages: BTreeSet::new(),
            orphaned_pages: BTreeSet::new(),
            orphaned_arrays: 0,
            deferred: Vec::new(),
            faults: FaultCounters::new(config.fault_plan.clone()),
            events: Vec::new(),
            config,
        })
    }

    /// `__vmalloc_node_range` (semantics §3.1, R1–R13). The other vmalloc APIs are wrappers.
    #[allow(clippy::too_many_arguments)]
    pub fn vmalloc_node_range(
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
    ) -> Result<Option<u64>, Fatal> {
        self.r13_vmalloc(VmallocArgs {
            size,
            align,
            start,
            end,
            gfp,
            prot,
            vm_flags,
            node,
            caller,
        })
    }

    /// The `__vmalloc_node` helper of semantics §2: VMALLOC range, `vm_flags` 0.
    fn vmalloc_common(
        &mut self,
        size: u64,
        align: u64,
        gfp: Gfp,
        prot: Prot,
        node: Option<u32>,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        let (start, end) = (self.config.vmalloc_start, self.config.vmalloc_end);
        self.vmalloc_node_range(
            size,
            align,
            start,
            end,
            gfp,
            prot,
            VmFlags::NONE,
            node,
            caller,
        )
    }

    /// After a successful `vmalloc_user`/`vmalloc_32_user`, OR VM_USERMAP into the area
    /// (semantics §2).
    fn mark_usermap(&mut self, result: Option<u64>) -> Option<u64> {
        if let Some(addr) = result {
            if let Some(record) = self.busy.get_mut(addr).and_then(|a| a.record_mut()) {
                record.flags = record.flags | VmFlags::USERMAP;
            }
        }
        result
    }

    /// `vmalloc(size)`: align 1, GFP_KERNEL, PAGE_KERNEL, NUMA_NO_NODE.
    pub fn vmalloc(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::KERNEL, Prot::Kernel, None, caller)
    }

    /// `vzalloc(size)`: as `vmalloc` with `__GFP_ZERO`.
    pub fn vzalloc(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::KERNEL | Gfp::ZERO, Prot::Kernel, None, caller)
    }

    /// `vmalloc_user(size)`: align SHMLBA (4096), zeroed, then VM_USERMAP.
    pub fn vmalloc_user(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        let gfp = Gfp::KERNEL | Gfp::ZERO;
        let result = self.vmalloc_common(size, PAGE_SIZE, gfp, Prot::Kernel, None, caller)?;
        Ok(self.mark_usermap(result))
    }

    /// `vmalloc_exec(size)`: PAGE_KERNEL_EXEC.
    pub fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::KERNEL, Prot::KernelExec, None, caller)
    }

    /// `vmalloc_32(size)`: GFP_VMALLOC32 = GFP_KERNEL | GFP_DMA32.
    pub fn vmalloc_32(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::VMALLOC32, Prot::Kernel, None, caller)
    }

    /// `vmalloc_32_user(size)`: GFP_VMALLOC32 | `__GFP_ZERO`, align 1, then VM_USERMAP.
    pub fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        let gfp = Gfp::VMALLOC32 | Gfp::ZERO;
        let result = self.vmalloc_common(size, 1, gfp, Prot::Kernel, None, caller)?;
        Ok(self.mark_usermap(result))
    }

    /// `vmalloc_node(size, node)`: GFP_KERNEL on `node` (`None` = NUMA_NO_NODE).
    pub fn vmalloc_node(
        &mut self,
        size: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::KERNEL, Prot::Kernel, node, caller)
    }

    /// `vzalloc_node(size, node)`: as `vmalloc_node` with `__GFP_ZERO`.
    pub fn vzalloc_node(
        &mut self,
        size: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, Gfp::KERNEL | Gfp::ZERO, Prot::Kernel, node, caller)
    }

    /// `__vmalloc(size, gfp, prot)`: the caller's gfp and prot, align 1, NUMA_NO_NODE.
    pub fn __vmalloc(
        &mut self,
        size: u64,
        gfp: Gfp,
        prot: Prot,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        self.vmalloc_common(size, 1, gfp, prot, None, caller)
    }

    /// x86-64 `module_alloc(size)` (semantics §2): NULL at once if
    /// `PAGE_ALIGN(size) > MODULES_LEN`; else `[MODULES_VADDR + module_load_offset, MODULES_END)`,
    /// align 4096, GFP_KERNEL, PAGE_KERNEL_EXEC.
    pub fn module_alloc(&mut self, size: u64, caller: u32) -> Result<Option<u64>, Fatal> {
        if page_align(size) > self.config.modules_len() {
            return Ok(None);
        }
        let start = self
            .config
            .modules_vaddr
            .wrapping_add(self.config.module_load_offset);
        let end = self.config.modules_end;
        let (gfp, prot) = (Gfp::KERNEL, Prot::KernelExec);
        self.vmalloc_node_range(
            size,
            PAGE_SIZE,
            start,
            end,
            gfp,
            prot,
            VmFlags::NONE,
            None,
            caller,
        )
    }

    /// `get_vm_area(size, flags)`: VMALLOC range, align 1, GFP_KERNEL, no pages.
    pub fn get_vm_area(
        &mut self,
        size: u64,
        flags: VmFlags,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        let (start, end) = (self.config.vmalloc_start, self.config.vmalloc_end);
        self.__get_vm_area(size, flags, start, end, caller)
    }

    /// `__get_vm_area(size, flags, start, end)`: align 1, GFP_KERNEL, NUMA_NO_NODE.
    pub fn __get_vm_area(
        &mut self,
        size: u64,
        flags: VmFlags,
        start: u64,
        end: u64,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        let placed = self.r13_get_vm_area_node(size, 1, flags, start, end, Gfp::KERNEL, caller)?;
        Ok(placed.and_then(|addr| self.vm_info(addr)))
    }

    /// `get_vm_area_caller(size, flags)`: as `get_vm_area`.
    pub fn get_vm_area_caller(
        &mut self,
        size: u64,
        flags: VmFlags,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        self.get_vm_area(size, flags, caller)
    }

    /// `free_vm_area(area)` with `area->addr`: `remove_vm_area` (R9 steps 1–2), then the
    /// vm_struct is freed (step 5). Pages and array of vmalloc memory are orphaned (I5).
    /// Anything but a live area's start is the BUG of `BUG_ON(ret != area)`.
    pub fn free_vm_area(&mut self, addr: u64) -> Result<(), Fatal> {
        let is_live_start = self.busy.get(addr).is_some_and(|a| a.record().is_some());
        if !is_live_start {
            return Err(Fatal::Bug(BugKind::FreeVmAreaMismatch));
        }
        self.r11_vunmap(addr);
        Ok(())
    }

    /// `alloc_page(gfp)` on `node` (semantics §12.2): a `DataPage` attempt unless NOFAIL; the page
    /// becomes caller-owned (I5).
    pub fn alloc_page(&mut self, gfp: Gfp, node: Option<u32>) -> Result<Option<u64>, Fatal> {
        self.check_node(node)?;
        let pfn = self.r13_pool_page(FaultKind::DataPage, node, gfp)?;
        if let Some(pfn) = pfn {
            self.caller_pages.insert(pfn);
        }
        Ok(pfn)
    }

    /// `__free_page(pfn)`: gives a caller-owned page back. Any other frame is a BUG (the
    /// model reads "not allocated" as "not allocated by this caller").
    pub fn free_page(&mut self, pfn: u64) -> Result<(), Fatal> {
        if !self.caller_pages.remove(&pfn) {
            return Err(Fatal::Bug(BugKind::BadPageFree));
        }
        self.pool.release(pfn);
        Ok(())
    }

    /// `vmap(pages, count, flags, prot)` (semantics §2): maps caller pages it does not own.
    pub fn vmap(
        &mut self,
        pfns: &[u64],
        flags: VmFlags,
        prot: Prot,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        self.vmap_inner(pfns, flags, prot, caller)
    }

    /// `vunmap(addr)` (R11): BUG in interrupt context, even for NULL; NULL is a no-op;
    /// otherwise the R10 lookup, then R9 steps 1, 2, 5 only.
    pub fn vunmap(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal> {
        if ctx == Context::Interrupt {
            return Err(Fatal::Bug(BugKind::VunmapInInterrupt));
        }
        if addr != 0 {
            self.r10_free_lookup(addr, false)?;
        }
        Ok(())
    }

    /// `vfree(addr)` (semantics §5.1, R10): NULL is a no-op; interrupt context defers; otherwise
    /// the R10 lookup and R9.
    pub fn vfree(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal> {
        if addr == 0 {
            return Ok(());
        }
        match ctx {
            Context::Interrupt => self.deferred_push(addr),
            Context::Process => self.r10_free_lookup(addr, true),
        }
    }

    /// `vfree_atomic(addr)` (4.10+): NULL is a no-op; otherwise always deferred.
    pub fn vfree_atomic(&mut self, addr: u64) -> Result<(), Fatal> {
        if addr == 0 {
            return Ok(());
        }
        self.deferred_push(addr)
    }

    /// Runs CPU 0's deferred list: pops every entry, newest first, `__vunmap(p, 1)` each.
    pub fn run_deferred(&mut self) -> Result<(), Fatal> {
        let list = std::mem::take(&mut self.deferred);
        for addr in list {
            self.r10_free_lookup(addr, true)?;
        }
        Ok(())
    }

    /// `vm_unmap_aliases()`: a purge (R9). Nothing happens when nothing is pending.
    pub fn vm_unmap_aliases(&mut self) {
        self.r9_purge();
    }

    /// `find_vm_area(addr)` (R12).
    pub fn find_vm_area(&self, addr: u64) -> Option<VmInfo> {
        self.r12_find_vm_area(addr)
    }

    /// `vmalloc_to_page(addr)` as a PFN (R12); `None` when not mapped (design §3.14).
    pub fn vmalloc_to_page(&self, addr: u64) -> Option<u64> {
        self.r12_vmalloc_to_page(addr)
    }

    /// `vmalloc_to_pfn(addr)`: as `vmalloc_to_page` (`None` when not mapped).
    pub fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64> {
        self.r12_vmalloc_to_page(addr)
    }

    /// `is_vmalloc_addr(addr)` (R12): `VMALLOC_START <= addr < VMALLOC_END`.
    pub fn is_vmalloc_addr(&self, addr: u64) -> bool {
        self.r12_is_vmalloc_addr(addr)
    }

    /// `/proc/vmallocinfo` (semantics §11.4, contract §7).
    pub fn vmallocinfo(&self) -> String {
        self.render_vmallocinfo()
    }

    /// Writes `data` at `addr` through the PTE map (page by page). Nothing is written unless
    /// every byte's page is mapped writable (`_PAGE_RW`).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        self.write_through_ptes(addr, data)
    }

    /// Reads `len` bytes at `addr` through the PTE map.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, AccessError> {
        self.read_through_ptes(addr, len)
    }

    /// The events since the last call, in order (contract §5).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

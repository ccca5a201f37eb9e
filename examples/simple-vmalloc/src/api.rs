//! [`SimpleVmalloc`] behind `vmfuzz::subject::Kernel`: the API wrappers of `docs/semantics.md
//! §2` (and `docs/contract.md §4`), the queries, data access, `/proc/vmallocinfo` and the state
//! view the oracles compare.

use std::fmt::Write as _;

use vmfuzz::ops::{
    Machine, OpKind, Prot, GFP_DMA32, GFP_KERNEL, GFP_ZERO, PAGE_SIZE, VM_ALLOC, VM_IOREMAP,
    VM_MAP, VM_USERMAP,
};
use vmfuzz::subject::{
    Alloc, ArrayKind, BugKind, BusyArea, Context, Event, Fatal, Kernel, LiveObjects, PageBytes,
    RawMemory, StateView, VmInfo,
};

use crate::kernel::{page_align, State};
use crate::Bug;

/// A deliberately simple, independent implementation of the Linux 4.19.y vmalloc semantics
/// (`docs/semantics.md §12`), written from the documents alone: a sorted `Vec` of busy VAs
/// scanned for the lowest fit, free PFN runs per node, sparse page contents, a set of
/// page-table regions. It simulates no physical memory ([`Kernel::raw`] is `None`), so the
/// raw oracles (page-table walk, `x86_64` cross-check, frame ownership) do not apply to it;
/// everything else is compared with the model.
///
/// Ops it does not implement are declared by [`Kernel::supports`]: the `get_vm_area` family,
/// `free_vm_area` and `vmap`. The executor skips them on both sides.
#[derive(Debug, Clone)]
pub struct SimpleVmalloc {
    s: State,
}

impl SimpleVmalloc {
    /// A freshly booted `machine` (4.19.y defaults), with `bug` planted (or [`Bug::None`]).
    pub fn new(machine: &Machine, bug: Bug) -> SimpleVmalloc {
        SimpleVmalloc {
            s: State::new(machine, bug),
        }
    }

    /// The planted bug.
    pub fn bug(&self) -> Bug {
        self.s.bug
    }

    fn window(&self) -> (u64, u64) {
        (self.s.machine.vmalloc_start, self.s.machine.vmalloc_end)
    }

    /// A wrapper of semantics §2's table over the vmalloc window: align, gfp, node.
    fn wrapper(
        &mut self,
        size: u64,
        align: u64,
        gfp: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc {
        let (start, end) = self.window();
        self.s
            .vmalloc_range(size, align, start, end, gfp, 0, node, caller)
    }

    /// `vmalloc_user` and `vmalloc_32_user` mark the area `VM_USERMAP` after success.
    fn usermap(&mut self, result: Alloc) -> Alloc {
        if let Ok(Some(addr)) = result {
            if let Some(i) = self.s.areas.iter().position(|a| a.start == addr) {
                if let Some(vm) = self.s.areas[i].vm.as_mut() {
                    vm.flags |= VM_USERMAP;
                }
            }
        }
        result
    }

    /// `write` through the mapping, page by page; `Err` names the first unmapped byte and
    /// nothing is written then.
    fn write_bytes(&mut self, addr: u64, bytes: &[u8]) -> Result<(), u64> {
        let chunks = self.chunks(addr, bytes.len())?;
        let mut done = 0;
        for (pfn, offset, len) in chunks {
            self.s.contents.write(pfn, offset, &bytes[done..done + len]);
            done += len;
        }
        Ok(())
    }

    /// `(pfn, offset in the page, length)` of each page `[addr, addr + len)` touches.
    fn chunks(&self, addr: u64, len: usize) -> Result<Vec<(u64, usize, usize)>, u64> {
        let mut out = Vec::new();
        let mut at = addr;
        let mut left = len as u64;
        while left > 0 {
            let offset = at % PAGE_SIZE;
            let n = left.min(PAGE_SIZE - offset);
            let pfn = self.s.translate(at).ok_or(at)?;
            out.push((pfn, offset as usize, n as usize));
            left -= n;
            at = at.checked_add(n).ok_or(at)?;
        }
        Ok(out)
    }

    /// `vfree` in interrupt context or `vfree_atomic` (semantics §5.1, contract §10): the list
    /// link (the previous head) is written into the first 8 bytes of the area.
    fn defer(&mut self, addr: u64) -> Result<(), Fatal> {
        if addr == 0 {
            return Ok(());
        }
        let head = self.s.deferred.last().copied().unwrap_or(0);
        self.write_bytes(addr, &head.to_le_bytes())
            .map_err(|_| Fatal::Bug(BugKind::Oops))?;
        self.s.deferred.push(addr);
        Ok(())
    }
}

impl Kernel for SimpleVmalloc {
    fn name(&self) -> &'static str {
        "simple"
    }

    fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: u64,
        _prot: Prot,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc {
        // The protection only shapes PTE bits, which this subject does not simulate.
        self.s
            .vmalloc_range(size, align, start, end, gfp, vm_flags, node, caller)
    }
    fn vmalloc(&mut self, size: u64, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL, None, caller)
    }
    fn vzalloc(&mut self, size: u64, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL | GFP_ZERO, None, caller)
    }
    fn vmalloc_user(&mut self, size: u64, caller: u32) -> Alloc {
        // align SHMLBA, a page on x86 (contract §10).
        let r = self.wrapper(size, PAGE_SIZE, GFP_KERNEL | GFP_ZERO, None, caller);
        self.usermap(r)
    }
    fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL, None, caller)
    }
    fn vmalloc_32(&mut self, size: u64, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL | GFP_DMA32, None, caller)
    }
    fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Alloc {
        let r = self.wrapper(size, 1, GFP_KERNEL | GFP_DMA32 | GFP_ZERO, None, caller);
        self.usermap(r)
    }
    fn vmalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL, node, caller)
    }
    fn vzalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        self.wrapper(size, 1, GFP_KERNEL | GFP_ZERO, node, caller)
    }
    fn vmalloc_gfp(&mut self, size: u64, gfp: u64, _prot: Prot, caller: u32) -> Alloc {
        self.wrapper(size, 1, gfp, None, caller)
    }
    fn module_alloc(&mut self, size: u64, caller: u32) -> Alloc {
        let m = &self.s.machine;
        let start = m.modules_vaddr.saturating_add(m.module_load_offset);
        let end = m.modules_end;
        if page_align(size) > m.modules_end.saturating_sub(m.modules_vaddr) {
            return Ok(None);
        }
        self.s
            .vmalloc_range(size, PAGE_SIZE, start, end, GFP_KERNEL, 0, None, caller)
    }
    /// Not implemented ([`Kernel::supports`] says so; the executor never calls it): NULL.
    fn get_vm_area(
        &mut self,
        _size: u64,
        _flags: u64,
        _range: Option<(u64, u64)>,
        _caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        Ok(None)
    }
    /// Not implemented (never called): no `get_vm_area` area can exist, so this is the
    /// kernel's answer to a pointer it did not hand out.
    fn free_vm_area(&mut self, _addr: u64) -> Result<(), Fatal> {
        Err(Fatal::Bug(BugKind::FreeVmAreaMismatch))
    }
    fn alloc_page(&mut self, gfp: u64, node: Option<u32>) -> Alloc {
        self.s.node_ok(node)?;
        let pfn = self.s.data_page(node, gfp)?;
        if let Some(p) = pfn {
            self.s.caller_pages.insert(p);
        }
        Ok(pfn)
    }
    fn free_page(&mut self, pfn: u64) -> Result<(), Fatal> {
        if !self.s.caller_pages.remove(&pfn) || !self.s.pool.give(pfn) {
            return Err(Fatal::Bug(BugKind::BadPageFree));
        }
        self.s.contents.freed(pfn);
        Ok(())
    }
    /// Not implemented ([`Kernel::supports`] says so; the executor never calls it): NULL.
    fn vmap(&mut self, _pfns: &[u64], _flags: u64, _prot: Prot, _caller: u32) -> Alloc {
        Ok(None)
    }
    fn vunmap(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal> {
        if ctx == Context::Interrupt {
            return Err(Fatal::Bug(BugKind::VunmapInInterrupt));
        }
        self.s.vunmap_addr(addr, false);
        Ok(())
    }
    fn vfree(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal> {
        match ctx {
            Context::Process => {
                self.s.vunmap_addr(addr, true);
                Ok(())
            }
            Context::Interrupt => self.defer(addr),
        }
    }
    fn vfree_atomic(&mut self, addr: u64) -> Result<(), Fatal> {
        self.defer(addr)
    }
    fn run_deferred(&mut self) -> Result<(), Fatal> {
        while let Some(addr) = self.s.deferred.pop() {
            self.s.vunmap_addr(addr, true);
        }
        Ok(())
    }
    fn vm_unmap_aliases(&mut self) {
        self.s.purge();
    }
    fn find_vm_area(&self, addr: u64) -> Option<VmInfo> {
        self.s.live_containing(addr).and_then(|a| a.info())
    }
    fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64> {
        self.s.translate(addr)
    }
    fn is_vmalloc_addr(&self, addr: u64) -> bool {
        let (start, end) = self.window();
        addr >= start && addr < end
    }
    fn vmallocinfo(&self) -> String {
        let mut out = String::new();
        for a in &self.s.areas {
            let size = a.end - a.start;
            let _ = write!(out, "0x{:016x}-0x{:016x} {:>7}", a.start, a.end, size);
            let Some(vm) = &a.vm else {
                out.push_str(" unpurged vm_area\n");
                continue;
            };
            let _ = write!(out, " op{}", vm.caller);
            if !vm.pages.is_empty() {
                let _ = write!(out, " pages={}", vm.pages.len());
            }
            for (bit, word) in [
                (VM_IOREMAP, " ioremap"),
                (VM_ALLOC, " vmalloc"),
                (VM_MAP, " vmap"),
                (VM_USERMAP, " user"),
            ] {
                if vm.flags & bit != 0 {
                    out.push_str(word);
                }
            }
            if matches!(vm.array, ArrayKind::Vmalloc { .. }) {
                out.push_str(" vpages");
            }
            let mut per_node = vec![0u64; self.s.pool.nodes()];
            for &pfn in &vm.pages {
                if let Some(n) = self.s.pool.node_of(pfn) {
                    per_node[n] += 1;
                }
            }
            for (n, count) in per_node.into_iter().enumerate() {
                if count > 0 {
                    let _ = write!(out, " N{n}={count}");
                }
            }
            out.push('\n');
        }
        out
    }
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), u64> {
        self.write_bytes(addr, bytes)
    }
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        let mut out = Vec::with_capacity(len);
        for (pfn, offset, n) in self.chunks(addr, len)? {
            self.s.contents.read(pfn, offset, n, &mut out);
        }
        Ok(out)
    }
    /// A page as this subject stores it: one fill byte until it is first written.
    fn read_page(&self, va: u64) -> Option<PageBytes> {
        if !va.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        self.s.translate(va).map(|pfn| self.s.contents.page(pfn))
    }
    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.s.events)
    }
    fn state(&self) -> StateView {
        let busy: Vec<BusyArea> = self
            .s
            .areas
            .iter()
            .map(|a| BusyArea {
                start: a.start,
                end: a.end,
                vm: a.info(),
                request: a.request,
            })
            .collect();
        let live = busy.iter().filter(|b| b.vm.is_some()).count() as u64;
        StateView {
            objects: LiveObjects {
                vm_structs: live,
                vmap_areas: busy.len() as u64,
                small_arrays: self.s.small_arrays,
            },
            busy,
            lazy_list: self.s.lazy.iter().rev().copied().collect(),
            lazy_nr: self.s.lazy_nr,
            deferred: self.s.deferred.iter().rev().copied().collect(),
            attempts: self.s.attempts,
            free_pages: self.s.pool.free_per_node(),
        }
    }
    fn area_pages(&self, start: u64) -> Vec<u64> {
        self.s
            .live_containing(start)
            .filter(|a| a.start == start)
            .and_then(|a| a.vm.as_ref())
            .map(|vm| vm.pages.clone())
            .unwrap_or_default()
    }
    /// No simulated physical memory: the raw oracles do not apply.
    fn raw(&self) -> Option<&dyn RawMemory> {
        None
    }
    fn check_structures(&self) -> Result<(), String> {
        for w in self.s.areas.windows(2) {
            if w[0].start >= w[1].start {
                return Err(format!(
                    "busy list not sorted at {:#x}, {:#x}",
                    w[0].start, w[1].start
                ));
            }
        }
        Ok(())
    }
    fn supports(&self, kind: OpKind) -> bool {
        !matches!(
            kind,
            OpKind::GetVmArea | OpKind::GetVmAreaRange | OpKind::FreeVmArea | OpKind::Vmap
        )
    }
    fn declines(&self, machine: &Machine) -> Option<String> {
        let knobs = machine.knobs.non_default();
        (!knobs.is_empty()).then(|| {
            let names: Vec<String> = knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "simple-vmalloc implements the 4.19.y defaults only, not {}",
                names.join(" ")
            )
        })
    }
}

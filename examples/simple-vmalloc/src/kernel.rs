//! The allocator itself: `__vmalloc_node_range` and its steps, the free path, the lazy purge
//! and the page-table accounting, in plain data structures.
//!
//! Busy VAs live in one `Vec` sorted by start address; a placement tests the few addresses
//! that can be the lowest fit (R3) in increasing order. A page-table page is a `(level, region)`
//! key in a set (I8). There are no PTEs: a live area maps its data pages in index order (R7),
//! a lazily freed one maps nothing (R9 step 1), so translation reads the busy list.
//!
//! `semantics §N` and `design §x.y` cite `docs/semantics.md` and `docs/design.md`.

use std::collections::BTreeSet;

use vmfuzz::ops::{
    FaultKind, Machine, Paging, GFP_DMA, GFP_DMA32, GFP_HIGHMEM, GFP_KERNEL, GFP_NOFAIL,
    GFP_NOWARN, GFP_ZERO, PAGE_SIZE, VM_ALLOC, VM_NO_GUARD,
};
use vmfuzz::subject::{ArrayKind, BugKind, Event, Fatal, Request, TableLevel, VmInfo};

use crate::pool::{Contents, Pool};
use crate::Bug;

/// `GFP_RECLAIM_MASK` of 4.19 (semantics §10): RECLAIM, HIGH, IO, FS, NOWARN, RETRY_MAYFAIL,
/// NOFAIL, NORETRY, MEMALLOC, NOMEMALLOC, ATOMIC.
pub const GFP_RECLAIM_MASK: u64 = 0x60_0000
    | 0x20
    | 0x40
    | 0x80
    | GFP_NOWARN
    | 0x400
    | GFP_NOFAIL
    | 0x1000
    | 0x2000
    | 0x1_0000
    | 0x8_0000;

/// Bytes of a 2 MiB region (one PTE table).
const PTE_REGION: u64 = 1 << 21;

/// A `vm_struct` (semantics §1.1), as far as anything observable needs it.
#[derive(Debug, Clone)]
pub struct Vm {
    /// `VM_*` flags as stored (`VM_UNINITIALIZED` is never kept: it is cleared before the
    /// call returns, contract §10).
    pub flags: u64,
    /// The data pages, in index order; `nr_pages` is their count.
    pub pages: Vec<u64>,
    /// Caller token.
    pub caller: u32,
    /// The pages array.
    pub array: ArrayKind,
}

/// A busy VA: live (with its `vm_struct`) or lazily freed.
#[derive(Debug, Clone)]
pub struct Area {
    /// `va_start`.
    pub start: u64,
    /// `va_end`, guard page included.
    pub end: u64,
    /// The request that placed it.
    pub request: Request,
    /// `Some` while live, `None` once lazily freed.
    pub vm: Option<Vm>,
}

impl Area {
    /// The `vm_struct` as the API shows it.
    pub fn info(&self) -> Option<VmInfo> {
        self.vm.as_ref().map(|vm| VmInfo {
            addr: self.start,
            size: self.end - self.start,
            flags: vm.flags,
            nr_pages: vm.pages.len() as u64,
            caller: vm.caller,
            array: vm.array,
        })
    }
}

/// The simulated 4.19 vmalloc state of one machine.
#[derive(Debug, Clone)]
pub struct State {
    /// The machine.
    pub machine: Machine,
    /// The planted bug, if any.
    pub bug: Bug,
    /// Physical frames.
    pub pool: Pool,
    /// Frame contents.
    pub contents: Contents,
    /// Busy VAs sorted by start.
    pub areas: Vec<Area>,
    /// Lazily freed VA starts, oldest first.
    pub lazy: Vec<u64>,
    /// `vmap_lazy_nr`.
    pub lazy_nr: u64,
    /// Deferred frees of CPU 0, oldest first.
    pub deferred: Vec<u64>,
    /// Page-table pages allocated so far (they are never freed).
    pub tables: BTreeSet<(TableLevel, u64)>,
    /// Fault-plan attempt counters, in `FaultKind::ALL` order.
    pub attempts: [u64; 5],
    /// Live kmalloc'ed pages arrays (those orphaned by `vunmap` included).
    pub small_arrays: u64,
    /// Frames a caller holds from `alloc_page`.
    pub caller_pages: BTreeSet<u64>,
    /// Events since the last `take_events`.
    pub events: Vec<Event>,
}

/// `PAGE_ALIGN`, wrapping to 0 above 2^64 − 4096 (semantics §0).
pub fn page_align(x: u64) -> u64 {
    x.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// `ALIGN(x, a)` for a power of two `a`, or `None` when it wraps past 2^64 (R4).
fn align_up(x: u64, a: u64) -> Option<u64> {
    let r = x.wrapping_add(a - 1) & !(a - 1);
    (r >= x).then_some(r)
}

/// The tables that exist at boot (semantics §12.1): never allocated, never counted.
fn is_boot_table(paging: Paging, key: (TableLevel, u64)) -> bool {
    match key {
        (TableLevel::P4d, 0xffff_0000_0000_0000) => paging == Paging::FiveLevel,
        (TableLevel::Pud, 0xffff_ff80_0000_0000) => true,
        (TableLevel::Pmd, 0xffff_ffff_8000_0000 | 0xffff_ffff_c000_0000) => true,
        _ => false,
    }
}

impl State {
    /// A machine just booted.
    pub fn new(machine: &Machine, bug: Bug) -> State {
        State {
            machine: machine.clone(),
            bug,
            pool: Pool::new(&machine.nodes),
            contents: Contents::default(),
            areas: Vec::new(),
            lazy: Vec::new(),
            lazy_nr: 0,
            deferred: Vec::new(),
            tables: BTreeSet::new(),
            attempts: [0; 5],
            small_arrays: 0,
            caller_pages: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    fn warn(&mut self, gfp: u64, e: Event) {
        if gfp & GFP_NOWARN == 0 {
            self.events.push(e);
        }
    }

    /// One attempt of `kind` (design §3.7): `__GFP_NOFAIL` requests are neither counted nor
    /// failed; others count, and fail when the plan names this attempt. `true`: it may go on.
    fn attempt(&mut self, kind: FaultKind, gfp: u64) -> bool {
        if gfp & GFP_NOFAIL != 0 {
            return true;
        }
        let i = kind.index();
        self.attempts[i] += 1;
        let k = self.attempts[i];
        !self
            .machine
            .faults
            .iter()
            .any(|f| f.kind == kind && f.k == k)
    }

    /// Is `node` a node of the machine (`None` always is)?
    pub fn node_ok(&self, node: Option<u32>) -> Result<(), Fatal> {
        match node {
            Some(n) if n as usize >= self.pool.nodes() => Err(Fatal::Bug(BugKind::InvalidNode)),
            _ => Ok(()),
        }
    }

    /// One order-0 page for a data page or an `alloc_page` (semantics §12.2). `None`: the
    /// attempt failed; `WouldHang`: a `__GFP_NOFAIL` request no zone can satisfy.
    pub fn data_page(&mut self, node: Option<u32>, gfp: u64) -> Result<Option<u64>, Fatal> {
        if !self.attempt(FaultKind::DataPage, gfp) {
            return Ok(None);
        }
        match self.pool.take(node, gfp) {
            Some(pfn) => {
                self.contents.allocated(pfn, gfp & GFP_ZERO != 0);
                Ok(Some(pfn))
            }
            None if gfp & GFP_NOFAIL != 0 => Err(Fatal::WouldHang),
            None => Ok(None),
        }
    }

    fn index_of(&self, start: u64) -> Option<usize> {
        self.areas.binary_search_by_key(&start, |a| a.start).ok()
    }

    /// The live area containing `addr`, guard page included (R12's `find_vm_area`).
    pub fn live_containing(&self, addr: u64) -> Option<&Area> {
        let i = self.areas.partition_point(|a| a.end <= addr);
        self.areas
            .get(i)
            .filter(|a| a.start <= addr && a.vm.is_some())
    }

    /// The frame mapped at `addr`, if any: a live area's data page (R7).
    pub fn translate(&self, addr: u64) -> Option<u64> {
        let area = self.live_containing(addr)?;
        let k = (addr - area.start) / PAGE_SIZE;
        area.vm.as_ref()?.pages.get(k as usize).copied()
    }

    /// R3: the exact lowest fit over every busy VA. Only `ALIGN(vstart)` and `ALIGN(end)` of
    /// busy VAs ending at or above `vstart` can be the answer (semantics §4.3); they are
    /// tested in increasing order. A wrapped `ALIGN` is no candidate (R4).
    fn lowest_fit(&self, size: u64, align: u64, vstart: u64, vend: u64) -> Option<u64> {
        let mut candidates: Vec<u64> = self
            .areas
            .iter()
            .filter(|a| a.end >= vstart)
            .filter_map(|a| align_up(a.end, align))
            .chain(align_up(vstart, align))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().find(|&a| {
            let Some(end) = a.checked_add(size) else {
                return false;
            };
            let i = self.areas.partition_point(|b| b.end <= a);
            a >= vstart && end <= vend && self.areas.get(i).is_none_or(|b| b.start >= end)
        })
    }

    /// A purge (R9): release every lazily freed VA, one TLB flush over their span.
    pub fn purge(&mut self) {
        if self.lazy.is_empty() {
            return;
        }
        let lazy: BTreeSet<u64> = std::mem::take(&mut self.lazy).into_iter().collect();
        let (mut lo, mut hi) = (u64::MAX, 0);
        self.areas.retain(|a| {
            let release = a.vm.is_none() && lazy.contains(&a.start);
            if release {
                lo = lo.min(a.start);
                hi = hi.max(a.end);
            }
            !release
        });
        self.lazy_nr = 0;
        self.events.push(Event::TlbFlush { start: lo, end: hi });
    }

    /// R9 steps 1–5 on the live area at `start` (its PTEs go with its `vm_struct`): the VA
    /// becomes lazy, with the threshold check when `check`; then, when `deallocate`, its pages
    /// and its pages array are freed (a nested array by these same steps). Without
    /// `deallocate` (R11) they are orphaned: pages stay allocated, a kmalloc'ed array stays
    /// counted, a nested array's area stays live.
    fn unmap_area(&mut self, start: u64, deallocate: bool, check: bool) {
        let Some(i) = self.index_of(start) else {
            return;
        };
        let Some(vm) = self.areas[i].vm.take() else {
            return;
        };
        self.lazy_nr += (self.areas[i].end - start) / PAGE_SIZE;
        self.lazy.push(start);
        if check && self.lazy_nr > self.machine.lazy_max_pages() {
            self.purge();
        }
        if !deallocate {
            return;
        }
        for &pfn in &vm.pages {
            self.pool.give(pfn);
            self.contents.freed(pfn);
        }
        match vm.array {
            ArrayKind::Kmalloc { .. } => self.small_arrays = self.small_arrays.saturating_sub(1),
            ArrayKind::Vmalloc { addr } => self.unmap_area(addr, true, check),
            ArrayKind::None => {}
        }
    }

    /// Does a lazy free on a failure path run the threshold check? (It does; the planted bug
    /// forgets it.)
    fn failure_check(&self) -> bool {
        self.bug != Bug::FailureSkipsLazyPurge
    }

    /// `__vunmap(addr, deallocate)` with 4.19.y's lookup (R10, semantics §5.2).
    pub fn vunmap_addr(&mut self, addr: u64, deallocate: bool) {
        if addr == 0 {
            return;
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            self.events.push(Event::BadAddress { addr });
            return;
        }
        match self.live_containing(addr).map(|a| a.start) {
            Some(start) => self.unmap_area(start, deallocate, true),
            None => self.events.push(Event::NonexistentArea { addr }),
        }
    }

    /// `__vmalloc_node_range` (semantics §3.1, R1–R13).
    #[allow(clippy::too_many_arguments)]
    pub fn vmalloc_range(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        gfp: u64,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        self.node_ok(node)?;
        let real_size = size;
        let size = page_align(size);
        // R1: the size gate (the guard page is not counted).
        if size == 0 || size / PAGE_SIZE > self.machine.totalram_pages() {
            self.warn(gfp, Event::AllocFailure { bytes: real_size });
            return Ok(None);
        }
        let flags = VM_ALLOC | vm_flags;
        let Some(start) = self.get_vm_area_node(size, align, flags, vstart, vend, gfp, caller)?
        else {
            self.warn(gfp, Event::AllocFailure { bytes: real_size });
            return Ok(None);
        };
        // A failure from here on returns NULL without warning 1 (semantics §3.1 step 4).
        self.vmalloc_area_node(start, gfp, node, caller)
            .map(|ok| ok.then_some(start))
    }

    /// `__get_vm_area_node` → `alloc_vmap_area` (R13 steps 1–3): the `vm_struct`, the
    /// `vmap_area`, the placement with one purge and retry. `None` on failure (warning 3 was
    /// emitted if the placement failed).
    #[allow(clippy::too_many_arguments)]
    fn get_vm_area_node(
        &mut self,
        size: u64,
        align: u64,
        flags: u64,
        vstart: u64,
        vend: u64,
        gfp: u64,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        if !self.attempt(FaultKind::VmStruct, gfp & GFP_RECLAIM_MASK) {
            return Ok(None);
        }
        // R2: the guard page is the last page of the VA.
        let va_size = if flags & VM_NO_GUARD != 0 {
            size
        } else {
            size.wrapping_add(PAGE_SIZE)
        };
        // alloc_vmap_area's preconditions (semantics §4.1), after the vm_struct attempt.
        if va_size == 0 {
            return Err(Fatal::Bug(BugKind::ZeroSizeVa));
        }
        if !align.is_power_of_two() {
            return Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        }
        if !self.attempt(FaultKind::VmapArea, gfp & GFP_RECLAIM_MASK) {
            return Ok(None);
        }
        let addr = match self.lowest_fit(va_size, align, vstart, vend) {
            Some(a) => a,
            None => {
                self.purge();
                match self.lowest_fit(va_size, align, vstart, vend) {
                    Some(a) => a,
                    None => {
                        self.warn(gfp, Event::VmapAllocFailed { size: va_size });
                        return Ok(None);
                    }
                }
            }
        };
        let i = self.areas.partition_point(|a| a.start < addr);
        self.areas.insert(
            i,
            Area {
                start: addr,
                end: addr + va_size,
                request: Request {
                    vstart,
                    vend,
                    align,
                },
                vm: Some(Vm {
                    flags,
                    pages: Vec::new(),
                    caller,
                    array: ArrayKind::None,
                }),
            },
        );
        Ok(Some(addr))
    }

    /// `__vmalloc_area_node` (semantics §6, R5–R8, R13 steps 4–6): the pages array, the data
    /// pages, the mapping. `false`: it failed and undid itself (R8).
    fn vmalloc_area_node(
        &mut self,
        start: u64,
        gfp: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Result<bool, Fatal> {
        let Some(i) = self.index_of(start) else {
            return Ok(false);
        };
        let area = &self.areas[i];
        let guarded = area.vm.as_ref().is_some_and(|v| v.flags & VM_NO_GUARD == 0);
        let va_size = area.end - area.start;
        let mapped = if guarded {
            va_size - PAGE_SIZE
        } else {
            va_size
        };
        let nr_pages = mapped / PAGE_SIZE;
        let array_bytes = nr_pages * 8;
        let nested_gfp = (gfp & GFP_RECLAIM_MASK) | GFP_ZERO;
        let highmem = if gfp & (GFP_DMA | GFP_DMA32) != 0 {
            0
        } else {
            GFP_HIGHMEM
        };
        // R5: the pages array, after the outer VA is placed.
        let array = if array_bytes > PAGE_SIZE {
            let (ws, we) = (self.machine.vmalloc_start, self.machine.vmalloc_end);
            let nested = self.vmalloc_range(
                array_bytes,
                1,
                ws,
                we,
                nested_gfp | highmem,
                0,
                node,
                caller,
            )?;
            nested.map(|addr| ArrayKind::Vmalloc { addr })
        } else if self.attempt(FaultKind::PagesArray, nested_gfp) {
            self.small_arrays += 1;
            Some(ArrayKind::Kmalloc { bytes: array_bytes })
        } else {
            None
        };
        let Some(array) = array else {
            // semantics §6.1 step 6: remove_vm_area (R9 steps 1–2), kfree; no warning.
            let check = self.failure_check();
            self.unmap_area(start, true, check);
            return Ok(false);
        };
        self.set_vm(start, |vm| vm.array = array);
        // R6: the data pages, one by one in index order.
        let page_gfp = gfp | GFP_NOWARN | highmem;
        for _ in 0..nr_pages {
            match self.data_page(node, page_gfp)? {
                Some(pfn) => self.set_vm(start, |vm| vm.pages.push(pfn)),
                None => return Ok(self.fail_area(start, gfp)),
            }
        }
        // R7 / R13 step 6: the mapping takes the missing tables, top down.
        if !self.map_tables(start, mapped) {
            return Ok(self.fail_area(start, gfp));
        }
        Ok(true)
    }

    fn set_vm(&mut self, start: u64, f: impl FnOnce(&mut Vm)) {
        if let Some(vm) = self.index_of(start).and_then(|i| self.areas[i].vm.as_mut()) {
            f(vm);
        }
    }

    /// The fail path of semantics §6.4: warning 2, then `vfree` of the area (R9 steps 1–5
    /// with the pages taken so far). Always `false`.
    fn fail_area(&mut self, start: u64, gfp: u64) -> bool {
        if let Some(info) = self.index_of(start).and_then(|i| self.areas[i].info()) {
            let allocated = info.nr_pages * PAGE_SIZE;
            self.warn(
                gfp,
                Event::AllocPartial {
                    allocated,
                    total: info.size,
                },
            );
        }
        let check = self.failure_check();
        self.unmap_area(start, true, check);
        false
    }

    /// One page-table page (R13 step 6): no node, `GFP_KERNEL`, always counted.
    fn table_page(&mut self) -> bool {
        if !self.attempt(FaultKind::TablePage, GFP_KERNEL) {
            return false;
        }
        match self.pool.take(None, GFP_KERNEL) {
            Some(pfn) => {
                self.contents.allocated(pfn, true);
                true
            }
            None => false,
        }
    }

    /// The table walk of `[start, start + len)` (semantics §7.1, I8): for each 2 MiB region in
    /// ascending order, the missing tables from the top level down, each taken before
    /// anything below it. `false`: a table page could not be had; tables made so far stay.
    fn map_tables(&mut self, start: u64, len: u64) -> bool {
        let levels: &[TableLevel] = match self.machine.paging {
            Paging::FourLevel => &[TableLevel::Pud, TableLevel::Pmd, TableLevel::Pte],
            Paging::FiveLevel => &[
                TableLevel::P4d,
                TableLevel::Pud,
                TableLevel::Pmd,
                TableLevel::Pte,
            ],
        };
        let end = start.saturating_add(len);
        let mut region = start & !(PTE_REGION - 1);
        while region < end {
            let addr = region.max(start);
            for &level in levels {
                let key = (level, addr & !((1u64 << level.region_shift()) - 1));
                if is_boot_table(self.machine.paging, key) || self.tables.contains(&key) {
                    continue;
                }
                if !self.table_page() {
                    return false;
                }
                self.tables.insert(key);
            }
            match region.checked_add(PTE_REGION) {
                Some(next) => region = next,
                None => break,
            }
        }
        true
    }
}

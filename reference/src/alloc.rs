//! Allocation: R1 size gate, R2 reservation, R5 pages array, R6 data pages, R7 mapping,
//! and R13, the order in which one call makes its allocations and what each failure does.
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use crate::areas::{
    r2_reservation_size, r3_lowest_fit_search, r4_ioremap_align_by_rule, r4_wrap_check, Area,
    AreaKind, VmRecord,
};
use crate::arith::{page_align, PAGE_SHIFT, PAGE_SIZE};
use crate::config::FaultKind;
use crate::faults::Attempt;
use crate::knobs::{ImplicitHighmem, VmapNowarnHonoured};
use crate::model::Model;
use crate::ptes::{r7_leaf, walk_levels, TableLevel};
use crate::types::{ArrayKind, BugKind, Event, Fatal, Gfp, Prot, VmFlags};
use crate::views::Request;

/// The arguments of `__vmalloc_node_range` (semantics §3.1), in the contract's order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VmallocArgs {
    pub(crate) size: u64,
    pub(crate) align: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) gfp: Gfp,
    pub(crate) prot: Prot,
    pub(crate) vm_flags: VmFlags,
    pub(crate) node: Option<u32>,
    pub(crate) caller: u32,
}

/// Whether the gfp asks for ZONE_DMA or ZONE_DMA32.
fn wants_dma(gfp: Gfp) -> bool {
    gfp.has(Gfp::DMA) || gfp.has(Gfp::DMA32)
}

/// R6, semantics §6.1: `highmem_mask` (4.13+) is `__GFP_HIGHMEM` unless the gfp asks for DMA or
/// DMA32. It has no effect on the model's zones (x86-64 has no highmem, semantics §8.4).
fn highmem_mask(gfp: Gfp) -> Gfp {
    if wants_dma(gfp) {
        Gfp::NONE
    } else {
        Gfp::HIGHMEM
    }
}

/// R5, semantics §6.1 step 4: the gfp of the nested pages-array vmalloc, by knob
/// `implicit_highmem`: `nested_gfp | highmem_mask` (4.13+), `nested_gfp | __GFP_HIGHMEM` before.
/// `nested_gfp` has no zone bit, so this request is valid under every value.
fn nested_array_gfp(knob: ImplicitHighmem, gfp: Gfp) -> Gfp {
    match knob {
        ImplicitHighmem::UnlessDma => nested_gfp(gfp) | highmem_mask(gfp),
        ImplicitHighmem::CallerProvided | ImplicitHighmem::Unconditional => {
            nested_gfp(gfp) | Gfp::HIGHMEM
        }
    }
}

/// R6, semantics §6.2 step 1: the gfp of one data-page request, by knob `implicit_highmem`:
/// `gfp | __GFP_NOWARN | highmem_mask` (4.13+), `gfp | __GFP_HIGHMEM | __GFP_NOWARN` (4.12),
/// `gfp | __GFP_NOWARN` (≤4.11). In 4.12 a gfp with DMA32 (or DMA) gets the invalid zone
/// pair DMA32|HIGHMEM, and `gfp_zone` BUGs on the request before the page allocator (or
/// its fault injector) sees it (bug 9).
fn data_page_gfp(knob: ImplicitHighmem, gfp: Gfp) -> Result<Gfp, Fatal> {
    match knob {
        ImplicitHighmem::UnlessDma => Ok(gfp | Gfp::NOWARN | highmem_mask(gfp)),
        ImplicitHighmem::Unconditional if wants_dma(gfp) => Err(Fatal::Bug(BugKind::InvalidZone)),
        ImplicitHighmem::Unconditional => Ok(gfp | Gfp::HIGHMEM | Gfp::NOWARN),
        ImplicitHighmem::CallerProvided => Ok(gfp | Gfp::NOWARN),
    }
}

/// R5, semantics §6.1 step 3: `nested_gfp = (gfp & GFP_RECLAIM_MASK) | __GFP_ZERO`; zone modifiers
/// and THISNODE are dropped, NOWARN and NOFAIL survive.
fn nested_gfp(gfp: Gfp) -> Gfp {
    (gfp & Gfp::RECLAIM_MASK) | Gfp::ZERO
}

impl Model {
    /// Records a warning unless the gfp carries `__GFP_NOWARN` (semantics §11.1: warnings 1–3).
    pub(crate) fn warn_unless_nowarn(&mut self, gfp: Gfp, event: Event) {
        if !gfp.has(Gfp::NOWARN) {
            self.events.push(event);
        }
    }

    /// A node index outside the machine is a caller bug (contract §3, semantics §8), checked on
    /// entry.
    pub(crate) fn check_node(&self, node: Option<u32>) -> Result<(), Fatal> {
        match node {
            Some(n) if n as usize >= self.config.nodes.len() => {
                Err(Fatal::Bug(BugKind::InvalidNode))
            }
            _ => Ok(()),
        }
    }

    /// R1 size gate: `S = PAGE_ALIGN(s)`; the call fails if `S = 0` (size 0, or a size that
    /// wraps) or `S/4096 > totalram_pages` (strictly; the guard page is not counted).
    pub(crate) fn r1_size_gate(&self, size: u64) -> Option<u64> {
        let s = page_align(size);
        let fits = s != 0 && s >> PAGE_SHIFT <= self.config.totalram_pages();
        fits.then_some(s)
    }

    /// R13 steps 1, 2, 4 (kmallocs): one metadata allocation. Under NOFAIL it never fails
    /// and is not counted; otherwise it fails only by injection (semantics §12.2: no pool frames).
    pub(crate) fn r13_metadata(&mut self, kind: FaultKind, gfp: Gfp) -> bool {
        self.faults.attempt(kind, gfp.has(Gfp::NOFAIL)) != Attempt::Injected
    }

    /// R13 steps 5 and 6: one pool page by the semantics §12.2 policy. Counted unless NOFAIL; fails
    /// by injection or exhaustion; a NOFAIL request with no allowed page would loop for ever
    /// in the kernel, which is [`Fatal::WouldHang`].
    pub(crate) fn r13_pool_page(
        &mut self,
        kind: FaultKind,
        node: Option<u32>,
        gfp: Gfp,
    ) -> Result<Option<u64>, Fatal> {
        let nofail = gfp.has(Gfp::NOFAIL);
        if self.faults.attempt(kind, nofail) == Attempt::Injected {
            return Ok(None);
        }
        match self.pool.policy_12_2(node, gfp) {
            Some(pfn) => {
                self.pool.take(pfn, gfp.has(Gfp::ZERO));
                Ok(Some(pfn))
            }
            None if nofail => Err(Fatal::WouldHang),
            None => Ok(None),
        }
    }

    /// One VA search: exact lowest fit, or the 4.x search with its cache when
    /// `faithful_4x_cache` is on; a wrapped `ALIGN` is no fit or the BUG by
    /// `align_wrap_check` (R4).
    fn r3_search(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
    ) -> Result<Option<u64>, Fatal> {
        let search = match &mut self.search_cache {
            Some(cache) => cache.search(&self.busy, size, align, vstart, vend)?,
            None => r3_lowest_fit_search(&self.busy, size, align, vstart, vend),
        };
        r4_wrap_check(search, self.config.knobs.align_wrap_check)
    }

    /// R3 with its failure handling: search; if no fit, purge (R9) and search again; if
    /// still none, warning 3 with the VA size (guard included) and no fit. Warning 3 is
    /// silenced by NOWARN unless `vmap_nowarn_honoured` is `no`. No purge notifier is
    /// registered in the model.
    fn r3_place(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        gfp: Gfp,
    ) -> Result<Option<u64>, Fatal> {
        if let Some(a) = self.r3_search(size, align, vstart, vend)? {
            return Ok(Some(a));
        }
        self.r9_purge();
        if let Some(a) = self.r3_search(size, align, vstart, vend)? {
            return Ok(Some(a));
        }
        let warning = Event::VmapAllocFailed { size };
        match self.config.knobs.vmap_nowarn_honoured {
            VmapNowarnHonoured::Yes => self.warn_unless_nowarn(gfp, warning),
            VmapNowarnHonoured::No => self.events.push(warning),
        }
        Ok(None)
    }

    /// `__get_vm_area_node` (semantics §3.2) = R13 steps 1–3 for every API family. Returns the new
    /// LiveVm area's start. Prints nothing but warning 3; the vmalloc family adds warning 1.
    ///
    /// Order: PAGE_ALIGN (0 → NULL, no attempt); VM_IOREMAP align (R4, by knob
    /// `ioremap_align_rule`, from `size` as passed); the vm_struct (step 1); the guard (R2);
    /// `alloc_vmap_area`'s BUG checks, size 0 first, then a non-power-of-two align; the
    /// vmap_area (step 2); placement (step 3, R3, where a wrapped `ALIGN` BUGs if
    /// `align_wrap_check` is off).
    #[allow(clippy::too_many_arguments)] // mirrors `__get_vm_area_node` (semantics §3.2)
    pub(crate) fn r13_get_vm_area_node(
        &mut self,
        size: u64,
        align: u64,
        flags: VmFlags,
        vstart: u64,
        vend: u64,
        gfp: Gfp,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        let s = page_align(size);
        if s == 0 {
            return Ok(None);
        }
        let align = if flags.has(VmFlags::IOREMAP) {
            r4_ioremap_align_by_rule(self.config.knobs.ioremap_align_rule, size)
        } else {
            align
        };
        let meta_gfp = gfp & Gfp::RECLAIM_MASK;
        if !self.r13_metadata(FaultKind::VmStruct, meta_gfp) {
            return Ok(None);
        }
        let va_size = r2_reservation_size(s, flags);
        if va_size == 0 {
            return Err(Fatal::Bug(BugKind::ZeroSizeVa));
        }
        if !align.is_power_of_two() {
            return Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        }
        if !self.r13_metadata(FaultKind::VmapArea, meta_gfp) {
            return Ok(None);
        }
        let Some(start) = self.r3_place(va_size, align, vstart, vend, meta_gfp)? else {
            return Ok(None);
        };
        let record = VmRecord {
            flags,
            caller,
            pages: Vec::new(),
            mapped: Vec::new(),
            leaf_flags: 0,
            array: ArrayKind::None,
            orphaned: false,
        };
        self.busy.insert(Area {
            start,
            end: start + va_size,
            request: Request {
                vstart,
                vend,
                align,
            },
            kind: AreaKind::LiveVm(record),
        });
        if let Some(cache) = &mut self.search_cache {
            cache.inserted(start);
        }
        Ok(Some(start))
    }

    /// `__vmalloc_node_range` (semantics §3.1) in R13 order: R1; steps 1–3; step 4 (R5); step 5
    /// (R6); step 6 (R7). Warning 1 only for R1 and steps 1–3; later failures return NULL at once.
    pub(crate) fn r13_vmalloc(&mut self, a: VmallocArgs) -> Result<Option<u64>, Fatal> {
        self.check_node(a.node)?;
        let Some(s) = self.r1_size_gate(a.size) else {
            self.warn_unless_nowarn(a.gfp, Event::AllocFailure { bytes: a.size });
            return Ok(None);
        };
        let flags = VmFlags::ALLOC | VmFlags::UNINITIALIZED | a.vm_flags;
        let placed =
            self.r13_get_vm_area_node(s, a.align, flags, a.start, a.end, a.gfp, a.caller)?;
        let Some(start) = placed else {
            self.warn_unless_nowarn(a.gfp, Event::AllocFailure { bytes: a.size });
            return Ok(None);
        };
        if !self.r13_vmalloc_area_node(start, a)? {
            return Ok(None);
        }
        // semantics §3.1 step 5: VM_UNINITIALIZED is cleared once the area is complete.
        if let Some(record) = self.busy.get_mut(start).and_then(|x| x.record_mut()) {
            record.flags = VmFlags(record.flags.0 & !VmFlags::UNINITIALIZED.0);
        }
        Ok(Some(start))
    }

    /// `__vmalloc_area_node` (semantics §6): R13 steps 4–6 on the area at `start`. `false` =
    /// failed, with the R8 residue already left behind.
    fn r13_vmalloc_area_node(&mut self, start: u64, a: VmallocArgs) -> Result<bool, Fatal> {
        let Some(area) = self.busy.get(start) else {
            return Err(model_broken("R13", format!("area {start:#x} vanished")));
        };
        let guard = area
            .record()
            .is_some_and(|r| !r.flags.has(VmFlags::NO_GUARD));
        let mapped_size = (area.end - area.start) - if guard { PAGE_SIZE } else { 0 };
        let n = mapped_size / PAGE_SIZE;

        // Step 4 (R5).
        let Some(array) = self.r5_pages_array(n, a)? else {
            // semantics §6.1 step 6: remove_vm_area (R9 steps 1–2), kfree(area) (step 5); no
            // warning.
            self.r9_remove_vm_area(start);
            return Ok(false);
        };
        self.record_mut(start)?.array = array;

        // Step 5 (R6).
        if !self.r6_data_pages(start, n, a)? {
            self.r8_fail(start, a.gfp)?;
            return Ok(false);
        }

        // Step 6 (R7).
        let pages = self.record_mut(start)?.pages.clone();
        let prot_value = a
            .prot
            .evaluate(self.config.sme_c_bit, self.config.default_kernel_pte_mask);
        if !self.r7_map(start, &pages, prot_value)? {
            self.r8_fail(start, a.gfp)?;
            return Ok(false);
        }
        let leaf_flags = prot_value & self.config.supported_pte_mask;
        let record = self.record_mut(start)?;
        record.mapped = pages;
        record.leaf_flags = leaf_flags;
        Ok(true)
    }

    /// R5 pages array: `8·N` bytes. Above 4096 bytes (N ≥ 513) a nested vmalloc made after
    /// the main VA: VMALLOC range, align 1, PAGE_KERNEL, [`nested_array_gfp`], the
    /// same node and caller, running R1–R13 for itself; otherwise a kmalloc with
    /// `nested_gfp` (a `PagesArray` attempt). `None` = the array could not be had.
    fn r5_pages_array(&mut self, n: u64, a: VmallocArgs) -> Result<Option<ArrayKind>, Fatal> {
        let bytes = n * 8;
        if bytes > PAGE_SIZE {
            let nested = VmallocArgs {
                size: bytes,
                align: 1,
                start: self.config.vmalloc_start,
                end: self.config.vmalloc_end,
                gfp: nested_array_gfp(self.config.knobs.implicit_highmem, a.gfp),
                prot: Prot::Kernel,
                vm_flags: VmFlags::NONE,
                node: a.node,
                caller: a.caller,
            };
            let addr = self.r13_vmalloc(nested)?;
            Ok(addr.map(|addr| ArrayKind::Vmalloc { addr }))
        } else if self.r13_metadata(FaultKind::PagesArray, nested_gfp(a.gfp)) {
            Ok(Some(ArrayKind::Kmalloc { bytes }))
        } else {
            Ok(None)
        }
    }

    /// R6 data pages: N order-0 pages, one at a time in index order, each by the 12.2 policy
    /// with the call's node and [`data_page_gfp`] (default `gfp | __GFP_NOWARN |
    /// highmem_mask`; an invalid zone pair BUGs at the first request). Stops at the first
    /// failure, leaving `pages[0..i)` in the record (`nr_pages = i`). `false` = failed.
    fn r6_data_pages(&mut self, start: u64, n: u64, a: VmallocArgs) -> Result<bool, Fatal> {
        // The pages taken so far belong to the area whatever happens next (R8's residue), so
        // they are recorded on every way out.
        let mut taken = Vec::new();
        let mut outcome = Ok(true);
        for _ in 0..n {
            let page = data_page_gfp(self.config.knobs.implicit_highmem, a.gfp)
                .and_then(|gfp| self.r13_pool_page(FaultKind::DataPage, a.node, gfp));
            match page {
                Ok(Some(pfn)) => taken.push(pfn),
                Ok(None) => {
                    outcome = Ok(false);
                    break;
                }
                Err(f) => {
                    outcome = Err(f);
                    break;
                }
            }
        }
        self.record_mut(start)?.pages.extend(taken);
        outcome
    }

    /// R7 mapping with R13 step 6's table allocations. For page k the leaf at
    /// `start + 4096·k` is `(pfns[k] << 12) | (prot & supported_pte_mask)`. Before a PTE is
    /// looked at, each table on its path, top level first, is taken from the pool if its
    /// region has none (NUMA_NO_NODE, GFP_KERNEL, zeroed; a `TablePage` attempt) and never
    /// removed. A table failure stops the walk (`false`); tables and PTEs made so far stay.
    /// A non-none target PTE cannot happen in a correct run: it is a model invariant.
    pub(crate) fn r7_map(
        &mut self,
        start: u64,
        pfns: &[u64],
        prot_value: u64,
    ) -> Result<bool, Fatal> {
        let levels = walk_levels(self.config.paging);
        let c = self.config.sme_c_bit;
        let mut va = start;
        // The PTE table's region of the page before: tables are never removed (semantics
        // §7.3), so a page in the same 2 MiB region finds every table of its path in place.
        let mut tables_present_for = None;
        for &pfn in pfns {
            let region = TableLevel::Pte.region_base(va);
            if tables_present_for != Some(region) {
                for &level in levels {
                    if self.tables.table_for(level, va).is_some() {
                        continue;
                    }
                    let table_gfp = Gfp::KERNEL | Gfp::ZERO;
                    let Some(t) = self.r13_pool_page(FaultKind::TablePage, None, table_gfp)? else {
                        return Ok(false);
                    };
                    self.tables.add_table(level, va, t, c);
                }
                tables_present_for = Some(region);
            }
            let leaf = r7_leaf(pfn, prot_value, self.config.supported_pte_mask);
            if let Err(old) = self.tables.set_pte_if_none(va, leaf) {
                let detail = format!("non-none PTE {old:#x} at {va:#x} while mapping");
                return Err(model_broken("R7", detail));
            }
            va = va.wrapping_add(PAGE_SIZE);
        }
        Ok(true)
    }

    /// `vmap` (semantics §2, R13 last paragraph): `count > totalram` → NULL; steps 1–3 with
    /// GFP_KERNEL (only warning 3); step 6; a mapping failure is undone by R9 steps 1, 2, 5,
    /// silently.
    pub(crate) fn vmap_inner(
        &mut self,
        pfns: &[u64],
        flags: VmFlags,
        prot: Prot,
        caller: u32,
    ) -> Result<Option<u64>, Fatal> {
        let count = pfns.len() as u64;
        if count > self.config.totalram_pages() {
            return Ok(None);
        }
        let size = count.wrapping_mul(PAGE_SIZE);
        let (vstart, vend) = (self.config.vmalloc_start, self.config.vmalloc_end);
        let placed =
            self.r13_get_vm_area_node(size, 1, flags, vstart, vend, Gfp::KERNEL, caller)?;
        let Some(start) = placed else {
            return Ok(None);
        };
        let prot_value = prot.evaluate(self.config.sme_c_bit, self.config.default_kernel_pte_mask);
        if !self.r7_map(start, pfns, prot_value)? {
            self.r11_vunmap(start);
            return Ok(None);
        }
        let leaf_flags = prot_value & self.config.supported_pte_mask;
        let record = self.record_mut(start)?;
        record.mapped = pfns.to_vec();
        record.leaf_flags = leaf_flags;
        Ok(Some(start))
    }

    /// The record of the LiveVm area at `start`, which the caller knows to exist.
    fn record_mut(&mut self, start: u64) -> Result<&mut VmRecord, Fatal> {
        self.busy
            .get_mut(start)
            .and_then(|a| a.record_mut())
            .ok_or_else(|| model_broken("R13", format!("no live area at {start:#x}")))
    }
}

/// A [`Fatal::ModelInvariant`] for a state the rules say cannot arise.
pub(crate) fn model_broken(rule: &'static str, detail: String) -> Fatal {
    Fatal::ModelInvariant { rule, detail }
}

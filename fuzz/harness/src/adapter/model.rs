//! The reference model (`vmalloc-reference`) behind the harness's [`Kernel`] and
//! [`Reference`](crate::subject::Reference) traits. A pure translation of types: no behaviour lives here.

use std::collections::{BTreeMap, BTreeSet};

use vmalloc_reference as r;

use crate::ops::{FaultKind, Machine, Paging, Prot};
use crate::subject::{
    Alloc, ArrayKind, Buckets, BugKind, BusyArea, Context, Event, Expectations, Fatal, Kernel,
    LiveObjects, PageBytes, RawMemory, Request, StateView, TableKey, TableLevel, VmInfo,
};

/// The model as a harness subject.
pub struct ModelKernel {
    m: r::Model,
}

/// The model's configuration for a harness machine (the knobs handed over by name).
pub fn model_config(machine: &Machine) -> Result<r::MachineConfig, String> {
    let (supported, default_kernel, c) = machine.pte.masks();
    let mut knobs = r::Knobs::default();
    for (key, value) in machine.knobs.entries() {
        knobs
            .set(key, value)
            .map_err(|err| format!("the model refuses knob {key}={value}: {err:?}"))?;
    }
    let mut plan = r::FaultPlan::new();
    for f in &machine.faults {
        plan.add(fault_kind(f.kind), f.k);
    }
    Ok(r::MachineConfig {
        paging: match machine.paging {
            Paging::FourLevel => r::Paging::FourLevel,
            Paging::FiveLevel => r::Paging::FiveLevel,
        },
        vmalloc_start: machine.vmalloc_start,
        vmalloc_end: machine.vmalloc_end,
        modules_vaddr: machine.modules_vaddr,
        modules_end: machine.modules_end,
        module_load_offset: machine.module_load_offset,
        nr_cpus: machine.nr_cpus,
        nodes: machine
            .nodes
            .iter()
            .map(|n| r::NodeSpan {
                start_pfn: n.start_pfn,
                end_pfn: n.end_pfn,
            })
            .collect(),
        supported_pte_mask: supported,
        default_kernel_pte_mask: default_kernel,
        sme_c_bit: c,
        fault_plan: plan,
        knobs,
    })
}

fn fault_kind(k: FaultKind) -> r::FaultKind {
    match k {
        FaultKind::VmStruct => r::FaultKind::VmStruct,
        FaultKind::VmapArea => r::FaultKind::VmapArea,
        FaultKind::PagesArray => r::FaultKind::PagesArray,
        FaultKind::DataPage => r::FaultKind::DataPage,
        FaultKind::TablePage => r::FaultKind::TablePage,
    }
}

fn prot(p: Prot) -> r::Prot {
    match p {
        Prot::Kernel => r::Prot::Kernel,
        Prot::KernelExec => r::Prot::KernelExec,
        Prot::KernelRo => r::Prot::KernelRo,
        Prot::KernelRx => r::Prot::KernelRx,
        Prot::KernelNocache => r::Prot::KernelNocache,
    }
}

fn ctx(c: Context) -> r::Context {
    match c {
        Context::Process => r::Context::Process,
        Context::Interrupt => r::Context::Interrupt,
    }
}

/// Model fatal → harness fatal. A broken model invariant is a bug in the model: it panics,
/// and the executor reports the panic as a divergence.
fn fatal(f: r::Fatal) -> Fatal {
    match f {
        r::Fatal::WouldHang => Fatal::WouldHang,
        r::Fatal::Bug(b) => Fatal::Bug(match b {
            r::BugKind::AlignNotPowerOfTwo => BugKind::AlignNotPowerOfTwo,
            r::BugKind::ZeroSizeVa => BugKind::ZeroSizeVa,
            r::BugKind::VunmapInInterrupt => BugKind::VunmapInInterrupt,
            r::BugKind::FreeVmAreaMismatch => BugKind::FreeVmAreaMismatch,
            r::BugKind::BadPageFree => BugKind::BadPageFree,
            r::BugKind::InvalidNode => BugKind::InvalidNode,
            r::BugKind::Oops => BugKind::Oops,
            r::BugKind::VaStartBelowVstart => BugKind::VaStartBelowVstart,
            r::BugKind::InvalidZone => BugKind::InvalidZone,
        }),
        r::Fatal::ModelInvariant { rule, detail } => {
            panic!("reference model invariant {rule} broken: {detail}")
        }
    }
}

fn vm_info(v: r::VmInfo) -> VmInfo {
    VmInfo {
        addr: v.addr,
        size: v.size,
        flags: v.flags.0,
        nr_pages: v.nr_pages,
        caller: v.caller,
        array: match v.pages_array {
            r::ArrayKind::None => ArrayKind::None,
            r::ArrayKind::Kmalloc { bytes } => ArrayKind::Kmalloc { bytes },
            r::ArrayKind::Vmalloc { addr } => ArrayKind::Vmalloc { addr },
        },
    }
}

fn event(e: r::Event) -> Event {
    match e {
        r::Event::AllocFailure { bytes } => Event::AllocFailure { bytes },
        r::Event::AllocPartial { allocated, total } => Event::AllocPartial { allocated, total },
        r::Event::VmapAllocFailed { size } => Event::VmapAllocFailed { size },
        r::Event::BadAddress { addr } => Event::BadAddress { addr },
        r::Event::NonexistentArea { addr } => Event::NonexistentArea { addr },
        r::Event::PteNotNone { addr } => Event::PteNotNone { addr },
        r::Event::NullPage { addr } => Event::NullPage { addr },
        r::Event::ClearNonPresent { addr } => Event::ClearNonPresent { addr },
        r::Event::TlbFlush { start, end } => Event::TlbFlush { start, end },
    }
}

fn level(l: r::TableLevel) -> TableLevel {
    match l {
        r::TableLevel::P4d => TableLevel::P4d,
        r::TableLevel::Pud => TableLevel::Pud,
        r::TableLevel::Pmd => TableLevel::Pmd,
        r::TableLevel::Pte => TableLevel::Pte,
    }
}

fn alloc(r: Result<Option<u64>, r::Fatal>) -> Alloc {
    r.map_err(fatal)
}

fn unit(r: Result<(), r::Fatal>) -> Result<(), Fatal> {
    r.map_err(fatal)
}

fn access_addr(e: r::AccessError, addr: u64) -> u64 {
    match e {
        r::AccessError::Unmapped { addr } => addr,
        r::AccessError::AddressWraps => addr,
        r::AccessError::ReadOnly { addr } => addr,
    }
}

impl ModelKernel {
    /// A fresh model of `machine`. `Err` carries the model's reason for refusing it.
    pub fn new(machine: &Machine) -> Result<Self, String> {
        r::Model::new(model_config(machine)?)
            .map(|m| ModelKernel { m })
            .map_err(|e| format!("{e:?}"))
    }

    /// The model itself.
    pub fn model(&self) -> &r::Model {
        &self.m
    }
}

impl Kernel for ModelKernel {
    fn name(&self) -> &'static str {
        "model"
    }
    fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: u64,
        p: Prot,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc {
        alloc(self.m.vmalloc_node_range(
            size,
            align,
            start,
            end,
            r::Gfp(gfp),
            prot(p),
            r::VmFlags(vm_flags),
            node,
            caller,
        ))
    }
    fn vmalloc(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vmalloc(size, caller))
    }
    fn vzalloc(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vzalloc(size, caller))
    }
    fn vmalloc_user(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vmalloc_user(size, caller))
    }
    fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vmalloc_exec(size, caller))
    }
    fn vmalloc_32(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vmalloc_32(size, caller))
    }
    fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.vmalloc_32_user(size, caller))
    }
    fn vmalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        alloc(self.m.vmalloc_node(size, node, caller))
    }
    fn vzalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        alloc(self.m.vzalloc_node(size, node, caller))
    }
    fn vmalloc_gfp(&mut self, size: u64, gfp: u64, p: Prot, caller: u32) -> Alloc {
        alloc(self.m.__vmalloc(size, r::Gfp(gfp), prot(p), caller))
    }
    fn module_alloc(&mut self, size: u64, caller: u32) -> Alloc {
        alloc(self.m.module_alloc(size, caller))
    }
    fn get_vm_area(
        &mut self,
        size: u64,
        flags: u64,
        range: Option<(u64, u64)>,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        let res = match range {
            None => self.m.get_vm_area(size, r::VmFlags(flags), caller),
            Some((s, e)) => self.m.__get_vm_area(size, r::VmFlags(flags), s, e, caller),
        };
        res.map(|o| o.map(vm_info)).map_err(fatal)
    }
    fn free_vm_area(&mut self, addr: u64) -> Result<(), Fatal> {
        unit(self.m.free_vm_area(addr))
    }
    fn alloc_page(&mut self, gfp: u64, node: Option<u32>) -> Alloc {
        alloc(self.m.alloc_page(r::Gfp(gfp), node))
    }
    fn free_page(&mut self, pfn: u64) -> Result<(), Fatal> {
        unit(self.m.free_page(pfn))
    }
    fn vmap(&mut self, pfns: &[u64], flags: u64, p: Prot, caller: u32) -> Alloc {
        alloc(self.m.vmap(pfns, r::VmFlags(flags), prot(p), caller))
    }
    fn vunmap(&mut self, addr: u64, c: Context) -> Result<(), Fatal> {
        unit(self.m.vunmap(addr, ctx(c)))
    }
    fn vfree(&mut self, addr: u64, c: Context) -> Result<(), Fatal> {
        unit(self.m.vfree(addr, ctx(c)))
    }
    fn vfree_atomic(&mut self, addr: u64) -> Result<(), Fatal> {
        unit(self.m.vfree_atomic(addr))
    }
    fn run_deferred(&mut self) -> Result<(), Fatal> {
        unit(self.m.run_deferred())
    }
    fn vm_unmap_aliases(&mut self) {
        self.m.vm_unmap_aliases()
    }
    fn find_vm_area(&self, addr: u64) -> Option<VmInfo> {
        self.m.find_vm_area(addr).map(vm_info)
    }
    fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64> {
        self.m.vmalloc_to_pfn(addr)
    }
    fn is_vmalloc_addr(&self, addr: u64) -> bool {
        self.m.is_vmalloc_addr(addr)
    }
    fn vmallocinfo(&self) -> String {
        self.m.vmallocinfo()
    }
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), u64> {
        self.m.write(addr, bytes).map_err(|e| access_addr(e, addr))
    }
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        self.m.read(addr, len).map_err(|e| access_addr(e, addr))
    }
    fn take_events(&mut self) -> Vec<Event> {
        self.m.take_events().into_iter().map(event).collect()
    }
    fn state(&self) -> StateView {
        let busy = self
            .m
            .area_summaries()
            .into_iter()
            .map(|b| BusyArea {
                start: b.start,
                end: b.end,
                vm: b.info.map(vm_info),
                request: Request {
                    vstart: b.request.vstart,
                    vend: b.request.vend,
                    align: b.request.align,
                },
            })
            .collect();
        let o = self.m.live_objects();
        StateView {
            busy,
            lazy_list: self.m.lazy_list(),
            lazy_nr: self.m.lazy_nr(),
            deferred: self.m.deferred_list(),
            attempts: self.m.fault_attempts(),
            free_pages: self.m.free_pages_per_node(),
            objects: LiveObjects {
                vm_structs: o.vm_structs,
                vmap_areas: o.vmap_areas,
                small_arrays: o.small_arrays,
            },
        }
    }
    fn area_pages(&self, start: u64) -> Vec<u64> {
        self.m.area_pages(start)
    }
    fn raw(&self) -> Option<&dyn RawMemory> {
        None
    }
}

impl Expectations for ModelKernel {
    fn expected_ptes(&self) -> std::borrow::Cow<'_, BTreeMap<u64, u64>> {
        std::borrow::Cow::Borrowed(self.m.ptes())
    }
    fn expected_tables(&self) -> BTreeMap<TableKey, u64> {
        self.m
            .table_pages()
            .into_iter()
            .map(|((l, base), pfn)| ((level(l), base), pfn))
            .collect()
    }
    fn orphaned_pages(&self) -> BTreeSet<u64> {
        self.m.orphaned_pages()
    }
    fn orphaned_array_areas(&self) -> BTreeSet<u64> {
        self.m
            .area_summaries()
            .into_iter()
            .filter(|b| b.orphaned)
            .map(|b| b.start)
            .collect()
    }
    fn array_areas(&self) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for b in self.m.area_summaries() {
            if b.orphaned {
                out.insert(b.start);
            }
            if let Some(r::VmInfo {
                pages_array: r::ArrayKind::Vmalloc { addr },
                ..
            }) = b.info
            {
                out.insert(addr);
            }
        }
        out
    }
    fn buckets(&self) -> Buckets {
        let b = self.m.page_bucket_counts();
        Buckets {
            free: b.free,
            live_data: b.live_data,
            tables: b.table,
            caller: b.caller_owned,
            orphaned: b.orphaned,
        }
    }
    fn page_contents(&self, pfn: u64) -> PageBytes {
        match self.m.page_contents(pfn) {
            r::PageContents::Fill(b) => PageBytes::Uniform(b),
            r::PageContents::Bytes(bytes) => PageBytes::Bytes(bytes),
        }
    }
}

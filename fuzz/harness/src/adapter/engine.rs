//! The engine (`vmalloc-engine`, the system under test) behind the harness's [`Kernel`] trait,
//! with raw access to its simulated physical memory for the oracles, and its own structure
//! checks ([`Kernel::check_structures`], which the `invariants` oracle runs on whole-state
//! observations). A pure translation of types: no behaviour lives here.

use vmalloc_engine as e;

use crate::ops::{FaultKind, Machine, Paging, Prot};
use crate::subject::{
    Alloc, ArrayKind, BugKind, BusyArea, Context, Event, Fatal, FrameState, Kernel, LiveObjects,
    PageBytes, RawMemory, Request, StateView, VmInfo,
};

/// The engine as a harness subject.
pub struct EngineKernel {
    k: e::Kernel,
}

/// The engine's configuration for a harness machine (the knobs handed over by name).
pub fn engine_config(machine: &Machine) -> Result<e::MachineConfig, String> {
    let (supported, default_kernel, c) = machine.pte.masks();
    let mut knobs = e::Knobs::default();
    for (key, value) in machine.knobs.entries() {
        knobs
            .set(key, value)
            .map_err(|err| format!("the engine refuses knob {key}={value}: {err:?}"))?;
    }
    let mut plan = e::FaultPlan::default();
    for f in &machine.faults {
        plan.push(fault_kind(f.kind), f.k);
    }
    Ok(e::MachineConfig {
        paging: match machine.paging {
            Paging::FourLevel => e::Paging::FourLevel,
            Paging::FiveLevel => e::Paging::FiveLevel,
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
            .map(|n| e::NodeSpan {
                start_pfn: n.start_pfn,
                end_pfn: n.end_pfn,
            })
            .collect(),
        supported_pte_mask: supported,
        default_kernel_pte_mask: default_kernel,
        sme_c_bit: c,
        fault_plan: plan,
        knobs,
        // Both structures of the engine's page allocator are tested: the bitmap serves every
        // machine the harness makes unless told otherwise, so machines with an odd CPU count
        // (a property that changes nothing else here but `lazy_max_pages`) get the extents,
        // which the engine would otherwise use only above 2^26 frames (design §5.10).
        free_frames: if machine.nr_cpus % 2 == 1 {
            e::FreeFrames::Extents
        } else {
            e::FreeFrames::Auto
        },
    })
}

fn fault_kind(k: FaultKind) -> e::FaultKind {
    match k {
        FaultKind::VmStruct => e::FaultKind::VmStruct,
        FaultKind::VmapArea => e::FaultKind::VmapArea,
        FaultKind::PagesArray => e::FaultKind::PagesArray,
        FaultKind::DataPage => e::FaultKind::DataPage,
        FaultKind::TablePage => e::FaultKind::TablePage,
    }
}

fn prot(p: Prot) -> e::Prot {
    match p {
        Prot::Kernel => e::Prot::Kernel,
        Prot::KernelExec => e::Prot::KernelExec,
        Prot::KernelRo => e::Prot::KernelRo,
        Prot::KernelRx => e::Prot::KernelRx,
        Prot::KernelNocache => e::Prot::KernelNocache,
    }
}

fn ctx(c: Context) -> e::Context {
    match c {
        Context::Process => e::Context::Process,
        Context::Interrupt => e::Context::Interrupt,
    }
}

fn gfp(g: u64) -> e::Gfp {
    e::Gfp::from_bits_retain(g as u32)
}

fn flags(f: u64) -> e::VmFlags {
    e::VmFlags::from_bits_retain(f)
}

fn fatal(f: e::Fatal) -> Fatal {
    match f {
        e::Fatal::WouldHang => Fatal::WouldHang,
        e::Fatal::Bug(b) => Fatal::Bug(match b {
            e::BugKind::AlignNotPowerOfTwo => BugKind::AlignNotPowerOfTwo,
            e::BugKind::ZeroSizeVa => BugKind::ZeroSizeVa,
            e::BugKind::VunmapInInterrupt => BugKind::VunmapInInterrupt,
            e::BugKind::FreeVmAreaMismatch => BugKind::FreeVmAreaMismatch,
            e::BugKind::BadPageFree => BugKind::BadPageFree,
            e::BugKind::InvalidNode => BugKind::InvalidNode,
            e::BugKind::Oops => BugKind::Oops,
            e::BugKind::VaStartBelowVstart => BugKind::VaStartBelowVstart,
            e::BugKind::InvalidZone => BugKind::InvalidZone,
        }),
    }
}

fn vm_info(v: e::VmInfo) -> VmInfo {
    VmInfo {
        addr: v.addr.as_u64(),
        size: v.size,
        flags: v.flags.bits(),
        nr_pages: v.nr_pages,
        caller: v.caller,
        array: match v.pages_array {
            e::ArrayKind::None => ArrayKind::None,
            e::ArrayKind::Kmalloc { bytes } => ArrayKind::Kmalloc { bytes },
            e::ArrayKind::Vmalloc { addr } => ArrayKind::Vmalloc {
                addr: addr.as_u64(),
            },
        },
    }
}

fn event(ev: e::Event) -> Event {
    match ev {
        e::Event::AllocFailure { bytes } => Event::AllocFailure { bytes },
        e::Event::AllocPartial { allocated, total } => Event::AllocPartial { allocated, total },
        e::Event::VmapAllocFailed { size } => Event::VmapAllocFailed { size },
        e::Event::BadAddress { addr } => Event::BadAddress { addr },
        e::Event::NonexistentArea { addr } => Event::NonexistentArea { addr },
        e::Event::PteNotNone { addr } => Event::PteNotNone { addr },
        e::Event::NullPage { addr } => Event::NullPage { addr },
        e::Event::ClearNonPresent { addr } => Event::ClearNonPresent { addr },
        e::Event::TlbFlush { start, end } => Event::TlbFlush { start, end },
    }
}

fn addr(r: e::KResult<Option<e::VirtAddr>>) -> Alloc {
    r.map(|o| o.map(|a| a.as_u64())).map_err(fatal)
}

fn unit(r: e::KResult<()>) -> Result<(), Fatal> {
    r.map_err(fatal)
}

fn access_addr(err: e::AccessError, fallback: u64) -> u64 {
    match err {
        e::AccessError::NonCanonical { addr }
        | e::AccessError::NotMapped { addr }
        | e::AccessError::ReadOnly { addr } => addr,
        _ => fallback,
    }
}

impl EngineKernel {
    /// A fresh engine for `machine`, with the planted fault `planted` switched on (builds
    /// with the `planted-bugs` feature only; otherwise, or for an unknown name, an error).
    pub fn new(machine: &Machine, planted: Option<&str>) -> Result<Self, String> {
        let mut k = e::Kernel::new(engine_config(machine)?).map_err(|err| format!("{err:?}"))?;
        if let Some(name) = planted {
            crate::planted::check_name(name).map_err(|err| err.to_string())?;
            let bug = e::PlantedBug::from_name(name)
                .ok_or_else(|| crate::planted::PlantedError::Unknown(name.into()).to_string())?;
            k.set_planted_bug(Some(bug))
                .map_err(|err| err.to_string())?;
        }
        Ok(EngineKernel { k })
    }

    /// The engine itself.
    pub fn engine(&self) -> &e::Kernel {
        &self.k
    }
}

impl RawMemory for EngineKernel {
    fn paging(&self) -> Paging {
        match self.k.config().paging {
            e::Paging::FourLevel => Paging::FourLevel,
            e::Paging::FiveLevel => Paging::FiveLevel,
        }
    }
    fn root_pfn(&self) -> u64 {
        self.k.root_pfn().as_u64()
    }
    fn read_entry(&self, pfn: u64, index: usize) -> Option<u64> {
        self.k.phys().read_entry(e::Pfn::from_u64(pfn), index)
    }
    fn read_table(&self, pfn: u64) -> Option<Box<[u64; 512]>> {
        self.k.phys().read_words(e::Pfn::from_u64(pfn))
    }
    fn frame_state(&self, pfn: u64) -> FrameState {
        match self.k.phys().frame_state(e::Pfn::from_u64(pfn)) {
            e::physmem::FrameState::Absent => FrameState::Absent,
            e::physmem::FrameState::Reserved => FrameState::Reserved,
            e::physmem::FrameState::Free => FrameState::Free,
            e::physmem::FrameState::Allocated => FrameState::Allocated,
        }
    }
    fn frame_contents(&self, pfn: u64) -> Option<PageBytes> {
        let phys = self.k.phys();
        match phys.uniform_fill(e::Pfn::from_u64(pfn)) {
            Some(b) => Some(PageBytes::Uniform(b)),
            None => phys
                .read_bytes(e::Pfn::from_u64(pfn))
                .map(|b| PageBytes::from_bytes(&b)),
        }
    }
    fn allocated_frames(&self) -> Vec<u64> {
        self.k
            .phys()
            .allocated_frames()
            .map(|p| p.as_u64())
            .collect()
    }
    fn allocated_count(&self) -> u64 {
        self.k.phys().allocated_count()
    }
}

impl Kernel for EngineKernel {
    fn name(&self) -> &'static str {
        "engine"
    }
    fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        g: u64,
        p: Prot,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc {
        addr(self.k.vmalloc_node_range(
            size,
            align,
            e::VirtAddr::from_u64(start),
            e::VirtAddr::from_u64(end),
            gfp(g),
            prot(p),
            flags(vm_flags),
            node,
            caller,
        ))
    }
    fn vmalloc(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vmalloc(size, caller))
    }
    fn vzalloc(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vzalloc(size, caller))
    }
    fn vmalloc_user(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vmalloc_user(size, caller))
    }
    fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vmalloc_exec(size, caller))
    }
    fn vmalloc_32(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vmalloc_32(size, caller))
    }
    fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.vmalloc_32_user(size, caller))
    }
    fn vmalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        addr(self.k.vmalloc_node(size, node, caller))
    }
    fn vzalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc {
        addr(self.k.vzalloc_node(size, node, caller))
    }
    fn vmalloc_gfp(&mut self, size: u64, g: u64, p: Prot, caller: u32) -> Alloc {
        addr(self.k.__vmalloc(size, gfp(g), prot(p), caller))
    }
    fn module_alloc(&mut self, size: u64, caller: u32) -> Alloc {
        addr(self.k.module_alloc(size, caller))
    }
    fn get_vm_area(
        &mut self,
        size: u64,
        f: u64,
        range: Option<(u64, u64)>,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal> {
        let r = match range {
            None => self.k.get_vm_area(size, flags(f), caller),
            Some((s, end)) => self.k.__get_vm_area(
                size,
                flags(f),
                e::VirtAddr::from_u64(s),
                e::VirtAddr::from_u64(end),
                caller,
            ),
        };
        r.map(|o| o.map(vm_info)).map_err(fatal)
    }
    fn free_vm_area(&mut self, a: u64) -> Result<(), Fatal> {
        unit(self.k.free_vm_area(e::VirtAddr::from_u64(a)))
    }
    fn alloc_page(&mut self, g: u64, node: Option<u32>) -> Alloc {
        self.k
            .alloc_page(gfp(g), node)
            .map(|o| o.map(|p| p.as_u64()))
            .map_err(fatal)
    }
    fn free_page(&mut self, pfn: u64) -> Result<(), Fatal> {
        unit(self.k.free_page(e::Pfn::from_u64(pfn)))
    }
    fn vmap(&mut self, pfns: &[u64], f: u64, p: Prot, caller: u32) -> Alloc {
        let pages: Vec<e::Pfn> = pfns.iter().map(|&p| e::Pfn::from_u64(p)).collect();
        addr(self.k.vmap(&pages, flags(f), prot(p), caller))
    }
    fn vunmap(&mut self, a: u64, c: Context) -> Result<(), Fatal> {
        unit(self.k.vunmap(e::VirtAddr::from_u64(a), ctx(c)))
    }
    fn vfree(&mut self, a: u64, c: Context) -> Result<(), Fatal> {
        unit(self.k.vfree(e::VirtAddr::from_u64(a), ctx(c)))
    }
    fn vfree_atomic(&mut self, a: u64) -> Result<(), Fatal> {
        unit(self.k.vfree_atomic(e::VirtAddr::from_u64(a)))
    }
    fn run_deferred(&mut self) -> Result<(), Fatal> {
        unit(self.k.run_deferred())
    }
    fn vm_unmap_aliases(&mut self) {
        self.k.vm_unmap_aliases()
    }
    fn find_vm_area(&self, a: u64) -> Option<VmInfo> {
        self.k.find_vm_area(e::VirtAddr::from_u64(a)).map(vm_info)
    }
    fn vmalloc_to_pfn(&self, a: u64) -> Option<u64> {
        self.k
            .vmalloc_to_pfn(e::VirtAddr::from_u64(a))
            .map(|p| p.as_u64())
    }
    fn is_vmalloc_addr(&self, a: u64) -> bool {
        self.k.is_vmalloc_addr(e::VirtAddr::from_u64(a))
    }
    fn vmallocinfo(&self) -> String {
        self.k.vmallocinfo()
    }
    fn write(&mut self, a: u64, bytes: &[u8]) -> Result<(), u64> {
        self.k
            .write(e::VirtAddr::from_u64(a), bytes)
            .map_err(|err| access_addr(err, a))
    }
    fn read(&self, a: u64, len: usize) -> Result<Vec<u8>, u64> {
        self.k
            .read(e::VirtAddr::from_u64(a), len)
            .map_err(|err| access_addr(err, a))
    }
    fn take_events(&mut self) -> Vec<Event> {
        self.k.take_events().into_iter().map(event).collect()
    }
    fn state(&self) -> StateView {
        let busy = self
            .k
            .busy_areas()
            .map(|b| BusyArea {
                start: b.start.as_u64(),
                end: b.end.as_u64(),
                vm: match b.state {
                    e::view::AreaState::Live(info) => Some(vm_info(info)),
                    e::view::AreaState::Lazy => None,
                },
                request: Request {
                    vstart: b.request.vstart,
                    vend: b.request.vend,
                    align: b.request.align,
                },
            })
            .collect();
        let c = self.k.counters();
        StateView {
            busy,
            lazy_list: self
                .k
                .lazy_list()
                .into_iter()
                .map(|(s, _)| s.as_u64())
                .collect(),
            lazy_nr: self.k.lazy_nr(),
            deferred: self
                .k
                .deferred_list()
                .into_iter()
                .map(|a| a.as_u64())
                .collect(),
            attempts: self.k.fault_attempts(),
            free_pages: c.free_pages_per_node.clone(),
            objects: LiveObjects {
                vm_structs: c.live_vm_structs,
                vmap_areas: c.busy_vas,
                small_arrays: c.kmalloc_arrays,
            },
        }
    }
    fn area_pages(&self, start: u64) -> Vec<u64> {
        self.k
            .busy_areas()
            .find(|b| b.start.as_u64() == start)
            .map(|b| b.pages().iter().map(|p| p.as_u64()).collect())
            .unwrap_or_default()
    }
    fn raw(&self) -> Option<&dyn RawMemory> {
        Some(self)
    }
    fn check_structures(&self) -> Result<(), String> {
        self.k.check_structures()
    }
}

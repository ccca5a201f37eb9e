//! The simulated machine of one input: paging mode, CPUs, NUMA nodes, PTE scenario, windows,
//! and the fault plan (semantics §12 model parameters, design §3.17).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::{MAX_FAULT_INDEX, MAX_TOTALRAM_PAGES, PAGE_SIZE};

/// Four- or five-level paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paging {
    /// 48-bit virtual addresses, PGD/PUD/PMD/PTE.
    FourLevel,
    /// LA57: 57-bit virtual addresses, with a P4D level.
    FiveLevel,
}

/// The x86-64 PTE configuration scenarios of semantics §8.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PteScenario {
    /// NX and PGE supported, no PTI, no SME (the default machine).
    A,
    /// As A, with page-table isolation (GLOBAL dropped from kernel protections).
    B,
    /// No NX.
    C,
    /// SME with the C-bit at bit 47.
    D,
    /// No PGE (no GLOBAL bit).
    E,
}

impl PteScenario {
    /// Every scenario, in order.
    pub const ALL: [PteScenario; 5] = [Self::A, Self::B, Self::C, Self::D, Self::E];

    /// `(supported_pte_mask, default_kernel_pte_mask, sme_c_bit)` (semantics §8.3 table).
    pub fn masks(self) -> (u64, u64, u64) {
        const GLOBAL: u64 = 1 << 8;
        const NX: u64 = 1 << 63;
        match self {
            Self::A => (u64::MAX, u64::MAX, 0),
            Self::B => (u64::MAX, !GLOBAL, 0),
            Self::C => (!NX, !NX, 0),
            Self::D => (u64::MAX, u64::MAX, 1 << 47),
            Self::E => (!GLOBAL, !GLOBAL, 0),
        }
    }
}

/// A NUMA node's PFN range, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeSpan {
    /// First PFN.
    pub start_pfn: u64,
    /// One past the last PFN.
    pub end_pfn: u64,
}

/// The five allocation kinds a fault plan can fail (design §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The `vm_struct` kzalloc.
    VmStruct,
    /// The `vmap_area` kmalloc.
    VmapArea,
    /// The kmalloc of a pages array of at most 4096 bytes.
    PagesArray,
    /// A data page (vmalloc, nested array, `alloc_page`).
    DataPage,
    /// A page-table page.
    TablePage,
}

impl FaultKind {
    /// Every kind, in counter order.
    pub const ALL: [FaultKind; 5] = [
        Self::VmStruct,
        Self::VmapArea,
        Self::PagesArray,
        Self::DataPage,
        Self::TablePage,
    ];

    /// The kind's index in attempt-counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The trace name (`vm_struct`, `vmap_area`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::VmStruct => "vm_struct",
            Self::VmapArea => "vmap_area",
            Self::PagesArray => "pages_array",
            Self::DataPage => "data_page",
            Self::TablePage => "table_page",
        }
    }

    /// Parse a trace name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One fault-plan entry: fail the `k`-th (1-based) attempt of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Which allocation kind.
    pub kind: FaultKind,
    /// Which attempt, from 1.
    pub k: u64,
}

/// The simulated machine of one input (semantics §12 model parameters, design §3.17).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Machine {
    /// Paging mode.
    pub paging: Paging,
    /// Online CPUs (1..=64), for `lazy_max_pages`.
    pub nr_cpus: u32,
    /// NUMA nodes, ascending and disjoint.
    pub nodes: Vec<NodeSpan>,
    /// PTE masks and SME.
    pub pte: PteScenario,
    /// `VMALLOC_START`.
    pub vmalloc_start: u64,
    /// `VMALLOC_END` as passed (exclusive, odd "last byte" form).
    pub vmalloc_end: u64,
    /// `MODULES_VADDR`.
    pub modules_vaddr: u64,
    /// `MODULES_END`.
    pub modules_end: u64,
    /// `module_load_offset` in bytes.
    pub module_load_offset: u64,
    /// The fault plan.
    pub faults: Vec<Fault>,
    /// The version knobs (semantics §13); the default is 4.19.y.
    pub knobs: super::Knobs,
}

impl Default for Machine {
    /// The default machine of design §3.17.
    fn default() -> Self {
        Machine {
            paging: Paging::FourLevel,
            nr_cpus: 4,
            nodes: vec![NodeSpan {
                start_pfn: 0,
                end_pfn: 0x40000,
            }],
            pte: PteScenario::A,
            vmalloc_start: VMALLOC_START_L4,
            vmalloc_end: VMALLOC_END_L4,
            modules_vaddr: MODULES_VADDR,
            modules_end: MODULES_END,
            module_load_offset: 0,
            faults: Vec::new(),
            knobs: super::Knobs::default(),
        }
    }
}

/// `VMALLOC_START` with four-level paging and KASLR off.
pub const VMALLOC_START_L4: u64 = 0xffff_c900_0000_0000;
/// `VMALLOC_END` with four-level paging and KASLR off (odd "last byte" form).
pub const VMALLOC_END_L4: u64 = 0xffff_e8ff_ffff_ffff;
/// `VMALLOC_START` with LA57.
pub const VMALLOC_START_L5: u64 = 0xffa0_0000_0000_0000;
/// `VMALLOC_END` with LA57.
pub const VMALLOC_END_L5: u64 = 0xffd1_ffff_ffff_ffff;
/// `MODULES_VADDR` without KASLR.
pub const MODULES_VADDR: u64 = 0xffff_ffff_a000_0000;
/// `MODULES_END`.
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;

impl Machine {
    /// Pages handed to the page allocator: PFNs `>= 256` inside the node spans.
    pub fn totalram_pages(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.end_pfn.saturating_sub(n.start_pfn.max(256)))
            .sum()
    }

    /// `lazy_max_pages()` = `fls(nr_cpus) * 8192` (semantics §5.4).
    pub fn lazy_max_pages(&self) -> u64 {
        let fls = 32 - self.nr_cpus.leading_zeros() as u64;
        fls * 8192
    }

    /// The lowest canonical kernel-half address of the paging mode: where `__get_vm_area`
    /// ranges may start (design §3.16).
    pub fn kernel_half(&self) -> u64 {
        match self.paging {
            Paging::FourLevel => 0xffff_8000_0000_0000,
            Paging::FiveLevel => 0xff00_0000_0000_0000,
        }
    }

    /// Is `[start, end)` a sub-window of the vmalloc window?
    pub fn in_vmalloc_window(&self, start: u64, end: u64) -> bool {
        start >= self.vmalloc_start && end <= self.vmalloc_end && start <= end
    }

    /// Is `[start, end)` a sub-window of the modules window?
    pub fn in_modules_window(&self, start: u64, end: u64) -> bool {
        start >= self.modules_vaddr && end <= self.modules_end && start <= end
    }

    /// Check the machine against the generator's domain. The error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.nr_cpus) {
            return Err(format!("cpus={} is outside 1..=64", self.nr_cpus));
        }
        if self.nodes.is_empty() || self.nodes.len() > 4 {
            return Err(format!("{} nodes; 1 to 4 are supported", self.nodes.len()));
        }
        if self.nodes[0].start_pfn != 0 {
            return Err("node 0 must start at PFN 0 (the boot tables live below PFN 256)".into());
        }
        let mut prev_end = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.start_pfn < prev_end || n.end_pfn <= n.start_pfn.max(256) {
                return Err(format!(
                    "node {i} span {:#x}-{:#x} is empty, below PFN 256 or overlaps the previous node",
                    n.start_pfn, n.end_pfn
                ));
            }
            if n.end_pfn > 1 << 28 {
                return Err(format!(
                    "node {i} ends above PFN 2^28 (keeps totalram below 2^29 pages, semantics §12)"
                ));
            }
            prev_end = n.end_pfn;
        }
        if self.totalram_pages() > MAX_TOTALRAM_PAGES {
            return Err(format!(
                "totalram is {} pages; at most {MAX_TOTALRAM_PAGES} (4 GiB) are supported",
                self.totalram_pages()
            ));
        }
        let (vs, ve) = match self.paging {
            Paging::FourLevel => (VMALLOC_START_L4, VMALLOC_END_L4),
            Paging::FiveLevel => (VMALLOC_START_L5, VMALLOC_END_L5),
        };
        if self.vmalloc_start < vs
            || self.vmalloc_end > ve
            || !self.vmalloc_start.is_multiple_of(PAGE_SIZE)
            || self.vmalloc_end <= self.vmalloc_start
            || (self.vmalloc_end & (PAGE_SIZE - 1)) != PAGE_SIZE - 1
        {
            return Err(format!(
                "vmalloc window {:#x}-{:#x} must be page aligned with an odd last-byte end inside {vs:#x}-{ve:#x}",
                self.vmalloc_start, self.vmalloc_end
            ));
        }
        if self.modules_vaddr != MODULES_VADDR && self.modules_vaddr != 0xffff_ffff_c000_0000 {
            return Err(format!("modules start {:#x} is neither 0xffffffffa0000000 nor the KASLR 0xffffffffc0000000", self.modules_vaddr));
        }
        if self.modules_end != MODULES_END {
            return Err(format!(
                "modules end {:#x} must be 0xffffffffff000000",
                self.modules_end
            ));
        }
        if !self.module_load_offset.is_multiple_of(PAGE_SIZE)
            || self.module_load_offset > 1024 * PAGE_SIZE
        {
            return Err(format!(
                "module load offset {:#x} must be k*4096 with k <= 1024",
                self.module_load_offset
            ));
        }
        for f in &self.faults {
            if f.k == 0 || f.k > MAX_FAULT_INDEX {
                return Err(format!(
                    "fault {} {}: k must be in 1..={MAX_FAULT_INDEX}",
                    f.kind.name(),
                    f.k
                ));
            }
        }
        if self.faults.len() > 16 {
            return Err("at most 16 fault-plan entries".into());
        }
        Ok(())
    }
}

//! Machine configuration (contract §1, semantics §12 "Model parameters", design §3.17) and the
//! fault plan (contract §6, design §3.7).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::collections::BTreeSet;

use crate::arith::fls;
use crate::knobs::Knobs;

/// Paging mode (semantics §8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Paging {
    /// 4-level paging: PGD shift 39, P4D folded.
    FourLevel,
    /// 5-level paging (LA57): PGD shift 48, real P4D tables.
    FiveLevel,
}

/// The PFN range `[start_pfn, end_pfn)` one NUMA node owns (semantics §12.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeSpan {
    /// First PFN of the node.
    pub start_pfn: u64,
    /// One past the last PFN of the node.
    pub end_pfn: u64,
}

/// The five allocation sites a fault plan can fail (contract §6), in the order of
/// [`crate::Model::fault_attempts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The `vm_struct` kzalloc of `__get_vm_area_node` (R13 step 1).
    VmStruct,
    /// The `vmap_area` kmalloc of `alloc_vmap_area` (R13 step 2).
    VmapArea,
    /// The kmalloc of a pages array of at most 4096 bytes (R13 step 4).
    PagesArray,
    /// Every data page of a vmalloc (nested included) and every `alloc_page` (R13 step 5).
    DataPage,
    /// Every page-table page (R13 step 6).
    TablePage,
}

impl FaultKind {
    /// All kinds, in counter order.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::VmStruct,
        FaultKind::VmapArea,
        FaultKind::PagesArray,
        FaultKind::DataPage,
        FaultKind::TablePage,
    ];

    /// Index of this kind in [`crate::Model::fault_attempts`].
    pub fn index(self) -> usize {
        match self {
            FaultKind::VmStruct => 0,
            FaultKind::VmapArea => 1,
            FaultKind::PagesArray => 2,
            FaultKind::DataPage => 3,
            FaultKind::TablePage => 4,
        }
    }
}

/// "Fail the k-th attempt of kind K" entries (1-based), design §3.7.
///
/// Attempts are counted per kind from machine start across all ops, outer and nested calls
/// alike; `__GFP_NOFAIL` requests are neither counted nor failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    entries: BTreeSet<(FaultKind, u64)>,
}

impl FaultPlan {
    /// An empty plan: nothing is injected.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`FaultPlan::add`].
    pub fn fail(mut self, kind: FaultKind, k: u64) -> Self {
        self.add(kind, k);
        self
    }

    /// Fail the `k`-th (1-based) attempt of `kind`. `k = 0` names no attempt.
    pub fn add(&mut self, kind: FaultKind, k: u64) {
        self.entries.insert((kind, k));
    }

    /// Whether the `k`-th attempt of `kind` is planned to fail.
    pub fn fails(&self, kind: FaultKind, k: u64) -> bool {
        self.entries.contains(&(kind, k))
    }

    /// The entries, ordered by kind then index.
    pub fn entries(&self) -> impl Iterator<Item = (FaultKind, u64)> + '_ {
        self.entries.iter().copied()
    }
}

/// Why a [`MachineConfig`] was rejected (contract §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `nodes` is empty.
    NoNode,
    /// Node `index` has `end_pfn < start_pfn`, or starts before the previous node ends.
    BadSpans {
        /// The offending node.
        index: usize,
    },
    /// `nr_cpus` is 0 or above 64.
    BadCpuCount(u32),
    /// Node `index` ends above `1 << 40` PFNs.
    SpanTooHigh {
        /// The offending node.
        index: usize,
    },
    /// LA57 paging with a vmalloc window in LA57's PGD slot 511 (where every 4-level
    /// kernel address lies; that slot holds the kernel image's static tables, semantics §12.1).
    La57WithFourLevelWindows,
    /// `sme_c_bit` is neither 0 nor a single bit in 12..=51.
    BadSmeBit(u64),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid machine config: {self:?}")
    }
}

impl std::error::Error for ConfigError {}

/// The first address of LA57's PGD slot 511: `0xffff000000000000`.
const LA57_PGD_511_BASE: u64 = 0xffff_0000_0000_0000;

/// The simulated machine (contract §1). `Default` is the design §3.17 machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// Paging mode.
    pub paging: Paging,
    /// `VMALLOC_START`.
    pub vmalloc_start: u64,
    /// `VMALLOC_END` in the kernel's odd "last byte" form, passed as the exclusive `vend`.
    pub vmalloc_end: u64,
    /// `MODULES_VADDR`.
    pub modules_vaddr: u64,
    /// `MODULES_END`.
    pub modules_end: u64,
    /// `module_load_offset` in bytes (0, or `k·4096` with 1 ≤ k ≤ 1024 under KASLR).
    pub module_load_offset: u64,
    /// `num_online_cpus()` (1..=64), for `lazy_max_pages`.
    pub nr_cpus: u32,
    /// NUMA nodes and their PFN ranges (ascending, disjoint).
    pub nodes: Vec<NodeSpan>,
    /// `__supported_pte_mask` (semantics §8.3).
    pub supported_pte_mask: u64,
    /// `__default_kernel_pte_mask` (semantics §8.3).
    pub default_kernel_pte_mask: u64,
    /// The SME C-bit (0 when SME is off).
    pub sme_c_bit: u64,
    /// Injected allocation failures.
    pub fault_plan: FaultPlan,
    /// Version knobs (semantics §13). The default is 4.19.y; [`Knobs::v4_19_0`] is
    /// v4.19.0 as shipped.
    pub knobs: Knobs,
}

impl Default for MachineConfig {
    /// design §3.17 (`docs/design.md`): 4-level, NX+PGE, no PTI, no SME, no KASLR, 4 CPUs, one node
    /// `[0, 0x40000)`, default (4.19.y) knobs.
    fn default() -> Self {
        MachineConfig {
            paging: Paging::FourLevel,
            vmalloc_start: 0xffff_c900_0000_0000,
            vmalloc_end: 0xffff_e8ff_ffff_ffff,
            modules_vaddr: 0xffff_ffff_a000_0000,
            modules_end: 0xffff_ffff_ff00_0000,
            module_load_offset: 0,
            nr_cpus: 4,
            nodes: vec![NodeSpan {
                start_pfn: 0,
                end_pfn: 0x40000,
            }],
            supported_pte_mask: u64::MAX,
            default_kernel_pte_mask: u64::MAX,
            sme_c_bit: 0,
            fault_plan: FaultPlan::new(),
            knobs: Knobs::default(),
        }
    }
}

impl MachineConfig {
    /// The default machine with LA57 paging and its vmalloc window (semantics §8.1).
    pub fn la57() -> Self {
        MachineConfig {
            paging: Paging::FiveLevel,
            vmalloc_start: 0xffa0_0000_0000_0000,
            vmalloc_end: 0xffd1_ffff_ffff_ffff,
            ..MachineConfig::default()
        }
    }

    /// Checks the rules of contract §1; never panics.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNode);
        }
        let mut previous_end = 0;
        for (index, span) in self.nodes.iter().enumerate() {
            if span.end_pfn < span.start_pfn || span.start_pfn < previous_end {
                return Err(ConfigError::BadSpans { index });
            }
            if span.end_pfn > 1 << 40 {
                return Err(ConfigError::SpanTooHigh { index });
            }
            previous_end = span.end_pfn;
        }
        if self.nr_cpus == 0 || self.nr_cpus > 64 {
            return Err(ConfigError::BadCpuCount(self.nr_cpus));
        }
        if self.paging == Paging::FiveLevel && self.vmalloc_start >= LA57_PGD_511_BASE {
            return Err(ConfigError::La57WithFourLevelWindows);
        }
        let c = self.sme_c_bit;
        if c != 0 && !(c.is_power_of_two() && (12..=51).contains(&c.trailing_zeros())) {
            return Err(ConfigError::BadSmeBit(c));
        }
        Ok(())
    }

    /// `totalram_pages` (contract §1): the PFNs `>= 256` inside the node spans, i.e. the
    /// pages handed to the allocator (semantics §12.2).
    pub fn totalram_pages(&self) -> u64 {
        self.nodes
            .iter()
            .map(|s| s.end_pfn.saturating_sub(s.start_pfn.max(256)))
            .sum()
    }

    /// `lazy_max_pages()` = `fls(num_online_cpus()) · (32 MiB / PAGE_SIZE)` (semantics §5.4).
    pub fn lazy_max_pages(&self) -> u64 {
        u64::from(fls(self.nr_cpus)) * 8192
    }

    /// `MODULES_LEN` = `MODULES_END − MODULES_VADDR` (semantics §8.1), modulo 2^64.
    pub fn modules_len(&self) -> u64 {
        self.modules_end.wrapping_sub(self.modules_vaddr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_machine_numbers() {
        let c = MachineConfig::default();
        assert_eq!(c.validate(), Ok(()));
        // design §3.17: totalram = 0x40000 − 256 = 261,888.
        assert_eq!(c.totalram_pages(), 261_888);
        // semantics §5.4: 4 CPUs → fls(4) = 3 → 3 · 8192 = 24576.
        assert_eq!(c.lazy_max_pages(), 24_576);
        // semantics §8.1: 0xffffffffff000000 − 0xffffffffa0000000 = 0x5f000000 (1520 MiB).
        assert_eq!(c.modules_len(), 0x5f00_0000);
        assert_eq!(MachineConfig::la57().validate(), Ok(()));
    }

    #[test]
    fn lazy_max_pages_follows_the_cpu_table() {
        // semantics §5.4 table: 1 → 8192, 2–3 → 16384, 32–63 → 49152, 64 → 57344.
        for (cpus, want) in [(1, 8192), (2, 16384), (3, 16384), (32, 49152), (64, 57344)] {
            let c = MachineConfig {
                nr_cpus: cpus,
                ..MachineConfig::default()
            };
            assert_eq!(c.lazy_max_pages(), want, "{cpus} cpus");
        }
    }

    #[test]
    fn validation_rejects_the_contract_list() {
        let base = MachineConfig::default();
        let with = |f: &dyn Fn(&mut MachineConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c.validate()
        };
        assert_eq!(with(&|c| c.nodes.clear()), Err(ConfigError::NoNode));
        let two = |a, b, x, y| {
            vec![
                NodeSpan {
                    start_pfn: a,
                    end_pfn: b,
                },
                NodeSpan {
                    start_pfn: x,
                    end_pfn: y,
                },
            ]
        };
        assert_eq!(
            with(&|c| c.nodes = two(0, 100, 50, 200)),
            Err(ConfigError::BadSpans { index: 1 })
        );
        assert_eq!(
            with(&|c| c.nodes = two(100, 200, 0, 50)),
            Err(ConfigError::BadSpans { index: 1 })
        );
        assert_eq!(with(&|c| c.nodes = two(0, 100, 100, 200)), Ok(()));
        assert_eq!(with(&|c| c.nr_cpus = 0), Err(ConfigError::BadCpuCount(0)));
        assert_eq!(with(&|c| c.nr_cpus = 65), Err(ConfigError::BadCpuCount(65)));
        assert_eq!(
            with(&|c| c.nodes[0].end_pfn = (1 << 40) + 1),
            Err(ConfigError::SpanTooHigh { index: 0 })
        );
        assert_eq!(
            with(&|c| c.paging = Paging::FiveLevel),
            Err(ConfigError::La57WithFourLevelWindows)
        );
        assert_eq!(with(&|c| c.sme_c_bit = 1 << 47), Ok(()));
        assert_eq!(
            with(&|c| c.sme_c_bit = 1 << 52),
            Err(ConfigError::BadSmeBit(1 << 52))
        );
        assert_eq!(
            with(&|c| c.sme_c_bit = 3 << 20),
            Err(ConfigError::BadSmeBit(3 << 20))
        );
    }
}

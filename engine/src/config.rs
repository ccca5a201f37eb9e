//! The simulated machine (contract §1, semantics §12 parameters, design §3.17).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use core::fmt;

use crate::addr::{fls, VirtAddr, FIRST_POOL_PFN, MAX_PFN, PAGE_SIZE};
use crate::fault::FaultPlan;
use crate::knobs::Knobs;

/// x86-64 paging mode (semantics §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Paging {
    /// 4-level paging, 48-bit virtual addresses; the P4D level is folded into the PGD.
    #[default]
    FourLevel,
    /// LA57 5-level paging, 57-bit virtual addresses.
    FiveLevel,
}

impl Paging {
    /// Implemented virtual-address bits (48 or 57).
    pub const fn va_bits(self) -> u32 {
        match self {
            Paging::FourLevel => 48,
            Paging::FiveLevel => 57,
        }
    }

    /// Number of table levels the walk visits (4 or 5).
    pub const fn levels(self) -> usize {
        match self {
            Paging::FourLevel => 4,
            Paging::FiveLevel => 5,
        }
    }
}

/// Default `VMALLOC_START` with 4-level paging (semantics §8.1, `__VMALLOC_BASE_L4`).
pub const VMALLOC_START_L4: u64 = 0xffff_c900_0000_0000;
/// Default `VMALLOC_END` with 4-level paging: last byte, passed as the exclusive end
/// (semantics §8.1).
pub const VMALLOC_END_L4: u64 = 0xffff_e8ff_ffff_ffff;
/// Default `VMALLOC_START` with LA57 (semantics §8.1, `__VMALLOC_BASE_L5`).
pub const VMALLOC_START_L5: u64 = 0xffa0_0000_0000_0000;
/// Default `VMALLOC_END` with LA57 (semantics §8.1).
pub const VMALLOC_END_L5: u64 = 0xffd1_ffff_ffff_ffff;
/// `MODULES_VADDR` without KASLR (semantics §8.1).
pub const MODULES_VADDR: u64 = 0xffff_ffff_a000_0000;
/// `MODULES_END` (semantics §8.1).
pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;

/// One NUMA node: the half-open PFN range `[start_pfn, end_pfn)` it owns (semantics §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeSpan {
    /// First PFN of the node.
    pub start_pfn: u64,
    /// One past the last PFN of the node.
    pub end_pfn: u64,
}

/// The machine configuration (contract §1). Field names are shared with the reference model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Paging mode.
    pub paging: Paging,
    /// `VMALLOC_START`.
    pub vmalloc_start: u64,
    /// `VMALLOC_END`, exclusive as passed (the odd "last byte" form, semantics §8.1).
    pub vmalloc_end: u64,
    /// `MODULES_VADDR`.
    pub modules_vaddr: u64,
    /// `MODULES_END`.
    pub modules_end: u64,
    /// KASLR module load offset in bytes: 0 or `k * 4096` with `1 <= k <= 1024`
    /// (semantics §2, semantics §12).
    pub module_load_offset: u64,
    /// Online CPUs (1..=64), for `lazy_max_pages` (semantics §5.4).
    pub nr_cpus: u32,
    /// NUMA nodes, ascending and disjoint.
    pub nodes: Vec<NodeSpan>,
    /// `__supported_pte_mask` (semantics §8.3).
    pub supported_pte_mask: u64,
    /// `__default_kernel_pte_mask` (semantics §8.3).
    pub default_kernel_pte_mask: u64,
    /// The SME C-bit, 0 when SME is off (semantics §8.3).
    pub sme_c_bit: u64,
    /// Injected allocation failures (contract §6).
    pub fault_plan: FaultPlan,
    /// Version knobs (semantics §13): the default is 4.19.y, [`Knobs::v4_19_0`] is
    /// v4.19.0 as shipped.
    pub knobs: Knobs,
    /// How the page allocator keeps its free frames. An implementation choice only: both
    /// structures hand out the same frames in the same order.
    pub free_frames: FreeFrames,
}

/// The page allocator's structure for free frames ([`MachineConfig::free_frames`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FreeFrames {
    /// A bitmap up to 2^26 pool frames (fast), free extents above.
    #[default]
    Auto,
    /// Free extents whatever the pool size (a test harness uses it to exercise that structure
    /// on machines small enough to generate).
    Extents,
}

impl Default for MachineConfig {
    /// The design §3.17 machine: 4-level, NX+PGE, no PTI, no SME, no KASLR, 4 CPUs, one node of
    /// 1 GiB.
    fn default() -> Self {
        MachineConfig {
            paging: Paging::FourLevel,
            vmalloc_start: VMALLOC_START_L4,
            vmalloc_end: VMALLOC_END_L4,
            modules_vaddr: MODULES_VADDR,
            modules_end: MODULES_END,
            module_load_offset: 0,
            nr_cpus: 4,
            nodes: vec![NodeSpan {
                start_pfn: 0,
                end_pfn: 0x40000,
            }],
            supported_pte_mask: u64::MAX,
            default_kernel_pte_mask: u64::MAX,
            sme_c_bit: 0,
            fault_plan: FaultPlan::default(),
            knobs: Knobs::default(),
            free_frames: FreeFrames::Auto,
        }
    }
}

/// Why a [`MachineConfig`] was refused (contract §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No NUMA node.
    NoNode,
    /// Node `index` starts before the previous node ends, or ends before it starts.
    BadSpan {
        /// Index of the offending node.
        index: usize,
    },
    /// A node span ends above `1 << 40` PFNs.
    SpanTooHigh {
        /// Index of the offending node.
        index: usize,
    },
    /// `nr_cpus` is 0 or above 64.
    BadCpuCount(u32),
    /// A window bound is not canonical for the paging mode, or the window is empty or
    /// unaligned; LA57 with the 4-level default windows lands here too.
    BadWindow(&'static str),
    /// `module_load_offset` is not 0 or `k * 4096` with `1 <= k <= 1024`.
    BadModuleLoadOffset(u64),
    /// `sme_c_bit` is neither 0 nor a single bit in 12..=51.
    BadSmeCBit(u64),
    /// A fault-plan entry has `k == 0` (attempts are counted from 1).
    BadFaultIndex,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid machine configuration: {self:?}")
    }
}

impl std::error::Error for ConfigError {}

impl MachineConfig {
    /// The default machine with LA57 paging and the 5-level vmalloc window (semantics §8.1).
    pub fn la57() -> Self {
        MachineConfig {
            paging: Paging::FiveLevel,
            vmalloc_start: VMALLOC_START_L5,
            vmalloc_end: VMALLOC_END_L5,
            ..MachineConfig::default()
        }
    }

    /// A machine with the given nodes, each `(start_pfn, end_pfn)`; the rest is the default.
    pub fn with_nodes(spans: &[(u64, u64)]) -> Self {
        MachineConfig {
            nodes: spans
                .iter()
                .map(|&(start_pfn, end_pfn)| NodeSpan { start_pfn, end_pfn })
                .collect(),
            ..MachineConfig::default()
        }
    }

    /// Checks every constraint of contract §1. Empty spans (memoryless nodes) are accepted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNode);
        }
        let mut prev_end = 0;
        for (index, n) in self.nodes.iter().enumerate() {
            if n.start_pfn > n.end_pfn || n.start_pfn < prev_end {
                return Err(ConfigError::BadSpan { index });
            }
            if n.end_pfn > MAX_PFN {
                return Err(ConfigError::SpanTooHigh { index });
            }
            prev_end = n.end_pfn;
        }
        if self.nr_cpus == 0 || self.nr_cpus > 64 {
            return Err(ConfigError::BadCpuCount(self.nr_cpus));
        }
        let canonical = |v: u64| VirtAddr::try_new(v, self.paging).is_ok();
        if self.paging == Paging::FiveLevel
            && self.vmalloc_start == VMALLOC_START_L4
            && self.vmalloc_end == VMALLOC_END_L4
        {
            return Err(ConfigError::BadWindow(
                "LA57 with the 4-level vmalloc window",
            ));
        }
        if !canonical(self.vmalloc_start) || !canonical(self.vmalloc_end) {
            return Err(ConfigError::BadWindow("vmalloc window not canonical"));
        }
        if self.vmalloc_start >= self.vmalloc_end || !self.vmalloc_start.is_multiple_of(PAGE_SIZE) {
            return Err(ConfigError::BadWindow("vmalloc window empty or unaligned"));
        }
        if !canonical(self.modules_vaddr) || !canonical(self.modules_end) {
            return Err(ConfigError::BadWindow("modules window not canonical"));
        }
        if !self.modules_vaddr.is_multiple_of(PAGE_SIZE)
            || !self.modules_end.is_multiple_of(PAGE_SIZE)
        {
            return Err(ConfigError::BadWindow("modules window unaligned"));
        }
        let off = self.module_load_offset;
        if off != 0 && (!off.is_multiple_of(PAGE_SIZE) || off / PAGE_SIZE > 1024) {
            return Err(ConfigError::BadModuleLoadOffset(off));
        }
        if self
            .modules_vaddr
            .checked_add(off)
            .is_none_or(|s| s >= self.modules_end)
        {
            return Err(ConfigError::BadWindow("modules window empty"));
        }
        let c = self.sme_c_bit;
        if c != 0 && (!c.is_power_of_two() || !(12..=51).contains(&c.trailing_zeros())) {
            return Err(ConfigError::BadSmeCBit(c));
        }
        if self.fault_plan.entries().iter().any(|&(_, k)| k == 0) {
            return Err(ConfigError::BadFaultIndex);
        }
        Ok(())
    }

    /// `totalram_pages`: the PFNs `>= 256` inside the node spans (contract §1).
    pub fn totalram_pages(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.end_pfn.saturating_sub(n.start_pfn.max(FIRST_POOL_PFN)))
            .sum()
    }

    /// `lazy_max_pages() = fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)` (semantics §5.4).
    pub fn lazy_max_pages(&self) -> u64 {
        u64::from(fls(u64::from(self.nr_cpus))) * 8192
    }

    /// `MODULES_LEN` (semantics §2 module_alloc).
    pub fn modules_len(&self) -> u64 {
        self.modules_end.wrapping_sub(self.modules_vaddr)
    }

    /// The node owning `pfn`, if any.
    pub fn node_of(&self, pfn: u64) -> Option<u32> {
        let i = self.nodes.partition_point(|n| n.end_pfn <= pfn);
        let n = self.nodes.get(i)?;
        (n.start_pfn <= pfn && pfn < n.end_pfn).then_some(i as u32)
    }
}

/// Physical zone of a PFN (semantics §8.4, semantics §12.2). The machine's ZONE_DMA (the first
/// 16 MiB on x86-64) holds no page: those PFNs count as DMA32 here, so a `GFP_DMA` request
/// finds nothing (design §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// PFN below `2^20` (4 GiB).
    Dma32,
    /// Any other PFN.
    Normal,
}

/// First PFN of `ZONE_NORMAL` (4 GiB).
pub const ZONE_NORMAL_START_PFN: u64 = 1 << 20;

impl Zone {
    /// The zone of `pfn`.
    pub const fn of(pfn: u64) -> Zone {
        if pfn < ZONE_NORMAL_START_PFN {
            Zone::Dma32
        } else {
            Zone::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_machine_derived_values() {
        let c = MachineConfig::default();
        assert_eq!(c.validate(), Ok(()));
        // 0x40000 PFNs minus the 256 reserved ones (design §3.17).
        assert_eq!(c.totalram_pages(), 261_888);
        // fls(4) = 3, 3 * 8192.
        assert_eq!(c.lazy_max_pages(), 24_576);
        // 0xffffffffff000000 - 0xffffffffa0000000 = 0x5f000000 = 1520 MiB.
        assert_eq!(c.modules_len(), 0x5f00_0000);
        assert_eq!(MachineConfig::la57().validate(), Ok(()));
    }

    #[test]
    fn validation_errors() {
        let c = MachineConfig {
            nr_cpus: 0,
            ..MachineConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadCpuCount(0)));
        let c = MachineConfig::with_nodes(&[(0, 100), (50, 200)]);
        assert_eq!(c.validate(), Err(ConfigError::BadSpan { index: 1 }));
        let c = MachineConfig {
            paging: Paging::FiveLevel,
            ..MachineConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::BadWindow(_))));
        let c = MachineConfig {
            sme_c_bit: 3,
            ..MachineConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadSmeCBit(3)));
        let c = MachineConfig::with_nodes(&[]);
        assert_eq!(c.validate(), Err(ConfigError::NoNode));
    }

    #[test]
    fn node_lookup() {
        let c = MachineConfig::with_nodes(&[(0, 1024), (1024, 2048)]);
        assert_eq!(c.node_of(5), Some(0));
        assert_eq!(c.node_of(1024), Some(1));
        assert_eq!(c.node_of(2048), None);
        assert_eq!(c.totalram_pages(), 1024 - 256 + 1024);
    }
}

//! The [`Kernel`]: one simulated machine with its vmalloc state, and the helpers every API
//! call shares (page requests by the semantics §12.2 policy under the fault plan, kmalloc'ed
//! metadata, mapping and unmapping through the real tables).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::collections::BTreeSet;

use crate::addr::{Pfn, VirtAddr, PAGE_SHIFT};
use crate::config::{ConfigError, MachineConfig, Paging};
use crate::error::{BugKind, Fatal, KResult};
use crate::event::Event;
use crate::fault::{FaultKind, FaultState};
use crate::gfp::Gfp;
use crate::knobs::{Faithful4xCache, Knobs};
use crate::pgtable::map::{MapError, Mapper, TableSource};
use crate::pgtable::{unmap, Encoding, PteFlags};
use crate::physmem::PhysMem;
use crate::prot::Prot;
use crate::slab::Slab;
use crate::vm_struct::VmStruct;
use crate::vmap_area::VmapAreas;

/// PFN of the root PGD (`init_top_pgt`, semantics §12.1).
pub const ROOT_PGD_PFN: u64 = 1;
/// PFN of the kernel image's PUD table behind PGD slot 511 (semantics §12.1).
pub const IMAGE_PUD_PFN: u64 = 2;
/// PFN of the PMD table behind PUD 510 (entry `phys | 0x63`, semantics §12.1).
pub const IMAGE_PMD_510_PFN: u64 = 3;
/// PFN of the PMD table behind PUD 511 (semantics §12.1).
pub const IMAGE_PMD_511_PFN: u64 = 4;
/// PFN of the LA57 P4D table behind PGD slot 511 (a model choice, semantics §12.1).
pub const IMAGE_P4D_PFN: u64 = 5;
/// The reserved frame the planted `RootPgdMoved` moves the root PGD to.
const PLANTED_ROOT_PFN: u64 = 6;

/// Execution context of a free (semantics §5.1, R10, R11). Ops run on CPU 0 (design §3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Context {
    /// Process context.
    #[default]
    Process,
    /// Hard or soft interrupt context (`in_interrupt()`).
    Interrupt,
}

/// The simulated kernel. Every public method is panic-free for any input; a call that the
/// kernel could not survive returns [`Fatal`] and leaves the machine dead (design §3.3).
#[derive(Debug)]
pub struct Kernel {
    pub(crate) cfg: MachineConfig,
    /// The version knobs in force: the machine's (`cfg.knobs`), except the one a selected zoo
    /// entry runs at its old value ([`crate::PlantedBug::knob`], design §4.3).
    pub(crate) knobs: Knobs,
    pub(crate) totalram: u64,
    pub(crate) lazy_max: u64,
    pub(crate) enc: Encoding,
    pub(crate) mem: PhysMem,
    pub(crate) faults: FaultState,
    pub(crate) root: Pfn,
    /// Page-table pages taken from the pool, in allocation order; never freed (semantics §7.3, I8).
    pub(crate) tables: Vec<Pfn>,
    pub(crate) vas: VmapAreas,
    pub(crate) vms: Slab<VmStruct>,
    /// CPU 0's `vfree_deferred` list, oldest first.
    pub(crate) deferred: Vec<VirtAddr>,
    pub(crate) events: Vec<Event>,
    /// Pages handed out by `alloc_page` and not yet given back (I5 "caller-owned").
    pub(crate) caller_pages: BTreeSet<u64>,
    /// Kmalloc'ed pages arrays alive: those of live areas plus those orphaned by `vunmap` /
    /// `free_vm_area` (I5).
    pub(crate) kmalloc_arrays: u64,
    /// Spare page vectors, so that vm_structs are built without heap traffic.
    spare_pages: Vec<Vec<Pfn>>,
    pub(crate) dead: Option<Fatal>,
    #[cfg(feature = "planted-bugs")]
    pub(crate) planted: Option<crate::planted::PlantedBug>,
}

/// Hands out zeroed table pages from the pool under the fault plan (R13 step 6, semantics §12.2:
/// `NUMA_NO_NODE`, GFP_KERNEL whatever the caller's gfp).
struct PoolTables<'a> {
    faults: &'a mut FaultState,
    tables: &'a mut Vec<Pfn>,
}

impl TableSource for PoolTables<'_> {
    fn alloc_table(&mut self, mem: &mut PhysMem) -> Option<Pfn> {
        if self.faults.attempt(FaultKind::TablePage, false) {
            return None;
        }
        let pfn = mem.alloc(None, Gfp::KERNEL, true)?;
        self.tables.push(pfn);
        Some(pfn)
    }
}

impl Kernel {
    /// Boots a machine: the static tables of semantics §12.1 and a fully free pool (contract §3).
    pub fn new(cfg: MachineConfig) -> Result<Kernel, ConfigError> {
        cfg.validate()?;
        let enc = Encoding {
            paging: cfg.paging,
            sme_c_bit: cfg.sme_c_bit,
            supported_pte_mask: cfg.supported_pte_mask,
        };
        let mut mem = PhysMem::new(&cfg);
        let c = cfg.sme_c_bit;
        let table = PteFlags::PAGE_TABLE.bits() | c;
        let kernpg = PteFlags::KERNPG_TABLE.bits() | c;
        let pud_holder = match cfg.paging {
            Paging::FourLevel => ROOT_PGD_PFN,
            Paging::FiveLevel => {
                mem.set_entry(ROOT_PGD_PFN, 511, (IMAGE_P4D_PFN << PAGE_SHIFT) | table);
                IMAGE_P4D_PFN
            }
        };
        mem.set_entry(pud_holder, 511, (IMAGE_PUD_PFN << PAGE_SHIFT) | table);
        mem.set_entry(
            IMAGE_PUD_PFN,
            510,
            (IMAGE_PMD_510_PFN << PAGE_SHIFT) | kernpg,
        );
        mem.set_entry(
            IMAGE_PUD_PFN,
            511,
            (IMAGE_PMD_511_PFN << PAGE_SHIFT) | table,
        );
        Ok(Kernel {
            totalram: cfg.totalram_pages(),
            lazy_max: cfg.lazy_max_pages(),
            enc,
            mem,
            faults: FaultState::new(&cfg.fault_plan),
            root: Pfn::from_u64(ROOT_PGD_PFN),
            tables: Vec::new(),
            vas: VmapAreas::new(cfg.knobs.faithful_4x_cache == Faithful4xCache::On),
            vms: Slab::default(),
            deferred: Vec::new(),
            events: Vec::new(),
            caller_pages: BTreeSet::new(),
            kmalloc_arrays: 0,
            spare_pages: Vec::new(),
            dead: None,
            #[cfg(feature = "planted-bugs")]
            planted: None,
            knobs: cfg.knobs,
            cfg,
        })
    }

    /// The machine configuration, as booted.
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// The version knobs in force: the machine's, except that a selected zoo entry which is an
    /// old knob value ([`crate::PlantedBug::knob`]) runs that value instead (design §4.3).
    pub fn knobs(&self) -> Knobs {
        self.knobs
    }

    /// `totalram_pages` (contract §1).
    pub fn totalram_pages(&self) -> u64 {
        self.totalram
    }

    /// `lazy_max_pages()` (semantics §5.4).
    pub fn lazy_max_pages(&self) -> u64 {
        self.lazy_max
    }

    /// The entry encoding of this machine (semantics §8.3).
    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    /// The evaluated value of a protection on this machine (semantics §8.3 step 1).
    pub fn prot_value(&self, prot: Prot) -> u64 {
        prot.value(self.cfg.sme_c_bit, self.cfg.default_kernel_pte_mask)
    }

    /// The [`Fatal`] that ended the machine, if any.
    pub fn fatal(&self) -> Option<Fatal> {
        self.dead
    }

    /// Events since the last call, in program order (contract §5).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Errors out if the machine is dead.
    pub(crate) fn check_alive(&self) -> KResult<()> {
        match self.dead {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// Records a fatal outcome of `r`, so that the machine stays dead.
    pub(crate) fn seal<T>(&mut self, r: KResult<T>) -> KResult<T> {
        if let Err(f) = r {
            self.dead = Some(f);
        }
        r
    }

    /// A node index outside the machine is a caller bug (contract §3).
    pub(crate) fn check_node(&self, node: Option<u32>) -> KResult<()> {
        match node {
            Some(n) if n as usize >= self.cfg.nodes.len() => Err(Fatal::Bug(BugKind::InvalidNode)),
            _ => Ok(()),
        }
    }

    /// A kmalloc of metadata (vm_struct, vmap_area, small pages array): takes no pool frame
    /// and fails only by injection, never under NOFAIL (semantics §12.2, design §3.6). True on
    /// success.
    pub(crate) fn kmalloc(&mut self, kind: FaultKind, gfp: Gfp) -> bool {
        !self.faults.attempt(kind, gfp.is_nofail())
    }

    /// One order-0 page by the semantics §12.2 policy, counted as `kind` unless NOFAIL. `Ok(None)`
    /// on an injected failure or an empty pool; `WouldHang` when a NOFAIL request finds no page.
    /// A gfp with more than one zone modifier BUGs in `gfp_zone` first, before the
    /// fault-injection hook counts the attempt (`knobs::ImplicitHighmem`).
    pub(crate) fn alloc_frame(
        &mut self,
        kind: FaultKind,
        node: Option<u32>,
        gfp: Gfp,
        zero: bool,
    ) -> KResult<Option<Pfn>> {
        if !gfp.has_valid_zone() {
            return Err(Fatal::Bug(BugKind::InvalidZone));
        }
        if self.faults.attempt(kind, gfp.is_nofail()) {
            return Ok(None);
        }
        match self.mem.alloc(node, gfp, zero) {
            Some(p) => Ok(Some(p)),
            None if gfp.is_nofail() => Err(Fatal::WouldHang),
            None => Ok(None),
        }
    }

    /// Frees a pool frame (`__free_page`); a frame that is not allocated is a BUG.
    pub(crate) fn free_frame(&mut self, pfn: Pfn) -> KResult<()> {
        if self.mem.free(pfn) {
            Ok(())
        } else {
            Err(Fatal::Bug(BugKind::BadPageFree))
        }
    }

    /// `vmap_page_range(start, end, prot, pages)` over the real tables (semantics §7.1, R7).
    pub(crate) fn map_pages(
        &mut self,
        start: u64,
        end: u64,
        prot: Prot,
        pages: &[Pfn],
    ) -> Result<(), MapError> {
        let prot_value = self.prot_value(prot);
        let table_flags = self.table_entry_flags();
        self.planted_move_root();
        let drop_nx_first = planted!(self, PteDropsNx);
        let mut tables = PoolTables {
            faults: &mut self.faults,
            tables: &mut self.tables,
        };
        let mut m = Mapper {
            mem: &mut self.mem,
            enc: self.enc,
            tables: &mut tables,
            events: &mut self.events,
            table_flags,
            prot_value,
            drop_nx_first,
        };
        m.map(self.root, start, end, pages)
    }

    /// Same as [`Kernel::map_pages`] for a vm_struct's own pages (borrowed from the slab).
    pub(crate) fn map_vm_pages(
        &mut self,
        vm: u32,
        start: u64,
        end: u64,
        prot: Prot,
    ) -> Result<(), MapError> {
        let prot_value = self.prot_value(prot);
        let table_flags = self.table_entry_flags();
        self.planted_move_root();
        let drop_nx_first = planted!(self, PteDropsNx);
        let Some(v) = self.vms.get(vm) else {
            return Ok(());
        };
        let mut tables = PoolTables {
            faults: &mut self.faults,
            tables: &mut self.tables,
        };
        let mut m = Mapper {
            mem: &mut self.mem,
            enc: self.enc,
            tables: &mut tables,
            events: &mut self.events,
            table_flags,
            prot_value,
            drop_nx_first,
        };
        m.map(self.root, start, end, &v.pages)
    }

    /// The planted `RootPgdMoved`: before the first mapping, the root PGD's entries are
    /// copied into reserved frame [`PLANTED_ROOT_PFN`] and the machine walks from there.
    fn planted_move_root(&mut self) {
        if planted!(self, RootPgdMoved) && self.root.as_u64() == ROOT_PGD_PFN {
            for i in 0..crate::addr::ENTRIES_PER_TABLE {
                let e = self.mem.entry(ROOT_PGD_PFN, i);
                self.mem.set_entry(PLANTED_ROOT_PFN, i, e);
            }
            self.root = Pfn::from_u64(PLANTED_ROOT_PFN);
        }
    }

    /// Flags of a new intermediate entry: `0x67 | sme_c_bit` (I9).
    fn table_entry_flags(&self) -> u64 {
        let base = if planted!(self, TableEntry0x63) {
            PteFlags::KERNPG_TABLE
        } else {
            PteFlags::PAGE_TABLE
        };
        base.bits() | self.cfg.sme_c_bit
    }

    /// `vunmap_page_range(start, end)` (semantics §7.3).
    pub(crate) fn unmap_range(&mut self, start: u64, end: u64) {
        let faults = unmap::UnmapFaults {
            strict_pud_bad: planted!(self, PudBadRejectsKernpg),
            unlink_empty: planted!(self, UnlinkEmptyPteTable),
        };
        unmap::unmap(
            &mut self.mem,
            self.enc,
            &mut self.events,
            self.root,
            start,
            end,
            faults,
        );
    }

    /// A page vector for a new vm_struct, reusing a spare one.
    pub(crate) fn new_page_vec(&mut self) -> Vec<Pfn> {
        self.spare_pages.pop().unwrap_or_default()
    }

    /// Gives a dropped vm_struct's page vector back for reuse (small ones only).
    pub(crate) fn recycle(&mut self, mut vm: VmStruct) {
        if vm.pages.capacity() <= 1024 && self.spare_pages.len() < 64 {
            vm.pages.clear();
            self.spare_pages.push(vm.pages);
        }
    }

    /// Records a warning of the vmalloc family unless the caller passed `__GFP_NOWARN`
    /// (warnings 1–3, semantics §11.1).
    pub(crate) fn warn_unless_nowarn(&mut self, gfp: Gfp, e: Event) {
        if !gfp.is_nowarn() {
            self.events.push(e);
        }
    }
}

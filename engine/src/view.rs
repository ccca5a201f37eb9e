//! Read-only views for external oracles (contract §9, design §2): raw frames, the root,
//! busy areas with their state and request, lazy and deferred lists, fault counters.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use crate::addr::{page_align, Pfn, VirtAddr, ENTRIES_PER_TABLE, PAGE_SIZE};
use crate::kernel::Kernel;
use crate::pgtable::ptdump;
use crate::physmem::{FrameState, PhysMem};
use crate::vm_struct::VmInfo;
use crate::vmap_area::{VaRequest, VaState};

/// Raw simulated physical memory.
#[derive(Debug, Clone, Copy)]
pub struct PhysView<'a> {
    mem: &'a PhysMem,
}

impl PhysView<'_> {
    /// Entry `index` (0..512) of frame `pfn` read as a table; `None` for an absent frame or
    /// an index out of range.
    pub fn read_entry(&self, pfn: impl Into<Pfn>, index: usize) -> Option<u64> {
        let pfn = pfn.into().as_u64();
        (index < ENTRIES_PER_TABLE && self.mem.exists(pfn)).then(|| self.mem.entry(pfn, index))
    }

    /// The 4096 bytes of frame `pfn`; `None` for an absent frame.
    pub fn read_bytes(&self, pfn: impl Into<Pfn>) -> Option<[u8; PAGE_SIZE as usize]> {
        let pfn = pfn.into().as_u64();
        self.mem.exists(pfn).then(|| self.mem.bytes(pfn))
    }

    /// Frame `pfn` read as a table: its 512 little-endian words; `None` for an absent frame.
    /// One lookup and one copy, cheaper than [`PhysView::read_entry`] 512 times.
    pub fn read_words(&self, pfn: impl Into<Pfn>) -> Option<Box<[u64; ENTRIES_PER_TABLE]>> {
        let pfn = pfn.into().as_u64();
        self.mem.exists(pfn).then(|| self.mem.frames.words(pfn))
    }

    /// The byte every byte of frame `pfn` holds, if the frame exists and has not been
    /// written since it was last filled (zeroed or poisoned); `None` otherwise. Cheaper than
    /// [`PhysView::read_bytes`] for the common case of an untouched page.
    pub fn uniform_fill(&self, pfn: impl Into<Pfn>) -> Option<u8> {
        let pfn = pfn.into().as_u64();
        if self.mem.exists(pfn) {
            self.mem.frames.uniform(pfn)
        } else {
            None
        }
    }

    /// The state of frame `pfn`.
    pub fn frame_state(&self, pfn: impl Into<Pfn>) -> FrameState {
        self.mem.state(pfn.into().as_u64())
    }

    /// Every allocated pool frame, ascending.
    pub fn allocated_frames(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.mem.alloc.allocated().map(Pfn::from_u64)
    }

    /// The number of allocated pool frames, counted from the allocator's free frames (its
    /// bitmap or extents), not from the free-page counters of [`Kernel::counters`]: the two
    /// disagree only when a frame was taken or given back behind the counters' back. Cheap:
    /// it visits only the bitmap words that hold an allocated frame.
    pub fn allocated_count(&self) -> u64 {
        self.mem.alloc.allocated_count()
    }
}

/// What a busy area is (contract §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaState {
    /// Backs a live vm_struct.
    Live(VmInfo),
    /// Lazily freed, not yet purged (`unpurged vm_area`).
    Lazy,
}

/// One busy VA (contract §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyArea<'a> {
    /// `va_start`.
    pub start: VirtAddr,
    /// `va_end` (exclusive), guard page included.
    pub end: VirtAddr,
    /// Live or lazy.
    pub state: AreaState,
    /// The request that placed it.
    pub request: VaRequest,
    /// The data pages it owns, in index order (empty for vmap, get_vm_area and lazy areas).
    pub pages: &'a [Pfn],
}

impl<'a> BusyArea<'a> {
    /// The area's data PFNs (contract §9 `pages()`).
    pub fn pages(&self) -> &'a [Pfn] {
        self.pages
    }
}

impl Kernel {
    /// Raw physical memory.
    pub fn phys(&self) -> PhysView<'_> {
        PhysView { mem: &self.mem }
    }

    /// The root PGD's frame (PFN 1, semantics §12.1).
    pub fn root_pfn(&self) -> Pfn {
        self.root
    }

    /// Page-table pages taken from the pool, in allocation order (I8; static tables excluded).
    pub fn table_frames(&self) -> &[Pfn] {
        &self.tables
    }

    /// Pages a caller holds from `alloc_page`, ascending (I5 "caller-owned").
    pub fn caller_pages(&self) -> impl Iterator<Item = Pfn> + '_ {
        self.caller_pages.iter().map(|&p| Pfn::from_u64(p))
    }

    /// Every busy VA in address order.
    pub fn busy_areas(&self) -> impl Iterator<Item = BusyArea<'_>> + '_ {
        self.vas.busy_ids().filter_map(move |id| {
            let va = self.vas.slab.get(id)?;
            let (state, pages) = match va.state {
                VaState::Live(vm) => {
                    let v = self.vms.get(vm)?;
                    (AreaState::Live(v.info()), &v.pages[..])
                }
                VaState::Lazy => (AreaState::Lazy, &[][..]),
            };
            Some(BusyArea {
                start: VirtAddr::from_u64(va.start),
                end: VirtAddr::from_u64(va.end),
                state,
                request: va.request,
                pages,
            })
        })
    }

    /// Lazily freed VAs as `(start, end)`, newest first.
    pub fn lazy_list(&self) -> Vec<(VirtAddr, VirtAddr)> {
        self.vas
            .lazy
            .iter()
            .rev()
            .filter_map(|&id| self.vas.slab.get(id))
            .map(|va| (VirtAddr::from_u64(va.start), VirtAddr::from_u64(va.end)))
            .collect()
    }

    /// `vmap_lazy_nr` (I6).
    pub fn lazy_nr(&self) -> u64 {
        self.vas.lazy_nr
    }

    /// CPU 0's deferred-free list, newest first (semantics §5.1).
    pub fn deferred_list(&self) -> Vec<VirtAddr> {
        self.deferred.iter().rev().copied().collect()
    }

    /// Attempts per fault kind, in `FaultKind::ALL` order (contract §6).
    pub fn fault_attempts(&self) -> [u64; 5] {
        self.faults.attempts()
    }

    /// The page tables of the vmalloc and modules windows in the format of Linux x86's
    /// `kernel_page_tables` (design §6, the kernel's dump format).
    pub fn ptdump(&self) -> String {
        let vend = match page_align(self.cfg.vmalloc_end) {
            0 => u64::MAX,
            e => e,
        };
        let windows = [
            ("vmalloc() Area", self.cfg.vmalloc_start, vend),
            ("Modules", self.cfg.modules_vaddr, self.cfg.modules_end),
        ];
        ptdump::dump(&self.mem, self.enc, self.root, &windows, "End Modules")
    }
}

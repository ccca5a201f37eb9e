//! Simulated physical memory: the page pool with its allocator (semantics §12.2) and the sparse
//! frame contents (design §3.10).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

pub(crate) mod frames;
pub(crate) mod page_alloc;

use crate::addr::{Pfn, ENTRIES_PER_TABLE, FIRST_POOL_PFN, PAGE_SIZE};
use crate::config::MachineConfig;
use crate::gfp::Gfp;

pub use frames::{POISON_BYTE, POISON_WORD};

/// The state of one frame (contract §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameState {
    /// Not part of the machine: at or above 256 and outside every node span.
    Absent,
    /// Below PFN 256: firmware, kernel image and the static boot tables (semantics §12.1). Never
    /// handed out, never freed.
    Reserved,
    /// In the pool and free.
    Free,
    /// In the pool and allocated (data page, table page, caller page, or leaked).
    Allocated,
}

/// Physical memory: allocator plus contents.
#[derive(Debug)]
pub(crate) struct PhysMem {
    pub(crate) alloc: page_alloc::PageAllocator,
    pub(crate) frames: frames::FrameStore,
}

impl PhysMem {
    pub(crate) fn new(cfg: &MachineConfig) -> Self {
        let mut frames = frames::FrameStore::new();
        // Reserved frames (firmware, image) are not modelled and read as zero.
        for pfn in 0..FIRST_POOL_PFN {
            frames.fill(pfn, true);
        }
        PhysMem {
            alloc: page_alloc::PageAllocator::new(cfg),
            frames,
        }
    }

    pub(crate) fn state(&self, pfn: u64) -> FrameState {
        if pfn < FIRST_POOL_PFN {
            FrameState::Reserved
        } else if !self.alloc.in_pool(pfn) {
            FrameState::Absent
        } else if self.alloc.is_free(pfn) {
            FrameState::Free
        } else {
            FrameState::Allocated
        }
    }

    /// True if the frame exists (reserved or pool).
    pub(crate) fn exists(&self, pfn: u64) -> bool {
        pfn < FIRST_POOL_PFN || self.alloc.in_pool(pfn)
    }

    /// Takes a frame by the semantics §12.2 policy and sets its contents: zero with `__GFP_ZERO`,
    /// otherwise left as the free page was (poison, design §3.10).
    pub(crate) fn alloc(&mut self, node: Option<u32>, gfp: Gfp, zero: bool) -> Option<Pfn> {
        let pfn = self.alloc.alloc(node, gfp)?;
        if zero {
            self.frames.fill(pfn, true);
        }
        Some(Pfn::from_u64(pfn))
    }

    /// Frees an allocated pool frame and poisons it. False if it was not allocated.
    pub(crate) fn free(&mut self, pfn: Pfn) -> bool {
        if self.alloc.free(pfn.as_u64()) {
            self.frames.fill(pfn.as_u64(), false);
            true
        } else {
            false
        }
    }

    /// Entry `i` of the table held in frame `pfn`.
    pub(crate) fn entry(&self, pfn: u64, i: usize) -> u64 {
        self.frames.word(pfn, i % ENTRIES_PER_TABLE)
    }

    /// Writes entry `i` of the table held in frame `pfn`.
    pub(crate) fn set_entry(&mut self, pfn: u64, i: usize, v: u64) {
        self.frames.set_word(pfn, i % ENTRIES_PER_TABLE, v);
    }

    /// Byte view of a frame.
    pub(crate) fn bytes(&self, pfn: u64) -> [u8; PAGE_SIZE as usize] {
        self.frames.bytes(pfn)
    }
}

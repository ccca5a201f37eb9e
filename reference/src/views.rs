//! Read-only views the oracles compare (contract §9).
//!
//! `semantics §N` and `contract §N` cite sections of `docs/semantics.md` and `docs/contract.md`.

use std::collections::{BTreeMap, BTreeSet};

use crate::areas::AreaKind;
use crate::arith::PAGE_SIZE;
use crate::config::MachineConfig;
use crate::model::Model;
use crate::ptes::{TableLevel, ROOT_PGD_PFN};
use crate::queries::vm_info_of;
use crate::types::{ArrayKind, VmInfo};

/// The request that placed a busy VA (checked by I2). `align` is the one R3 used, after
/// the VM_IOREMAP override of R4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// The `vstart` passed to the VA allocator.
    pub vstart: u64,
    /// The exclusive `vend` passed to the VA allocator.
    pub vend: u64,
    /// The alignment used.
    pub align: u64,
}

/// What a busy VA is, as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AreaState {
    /// A LiveVm area.
    Live {
        /// Its `vm_struct`.
        info: VmInfo,
        /// Its data PFNs, `pages[0..nr_pages)` (empty for vmap and get_vm_area).
        pages: Vec<u64>,
        /// A nested pages-array area whose owner was vunmapped (its pages are orphaned, I5).
        orphaned: bool,
    },
    /// A LazyPending VA: freed, PTEs cleared, reserved until the next purge.
    Lazy,
}

/// One busy VA, guard included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyArea {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Live or lazy.
    pub state: AreaState,
    /// The request that placed it.
    pub request: Request,
}

/// A busy VA without its data pages: what the fuzzer compares after every op, at a cost that
/// does not grow with the pages mapped ([`Model::area_pages`] gives the pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaSummary {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// The `vm_struct` of a LiveVm area; `None` for a LazyPending VA.
    pub info: Option<VmInfo>,
    /// A nested pages-array area whose owner was vunmapped (its pages are orphaned, I5).
    pub orphaned: bool,
    /// The request that placed it.
    pub request: Request,
}

/// The 4096 bytes of a page (design §3.10): a uniform fill until the first write, then the
/// bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageContents {
    /// Every byte has this value (0xaa poison, or 0 for a zeroed page).
    Fill(u8),
    /// The bytes, once written.
    Bytes(Box<[u8; PAGE_SIZE as usize]>),
}

/// Every pool frame in exactly one bucket (I5). Sets hold PFNs; `free` is a count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageBuckets {
    /// Free pool frames.
    pub free: u64,
    /// Data pages of live areas (nested pages-array areas included, orphaned ones not).
    pub live_data: BTreeSet<u64>,
    /// Page-table pages allocated by vmap walks (the static frames of semantics §12.1 are outside).
    pub table: BTreeSet<u64>,
    /// Pages a caller holds from `alloc_page`.
    pub caller_owned: BTreeSet<u64>,
    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory, including the pages of
    /// an orphaned nested array area.
    pub orphaned: BTreeSet<u64>,
}

/// The sizes of the I5 buckets, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageBucketCounts {
    /// Free pool frames.
    pub free: u64,
    /// Data pages of live areas (nested pages-array areas included, orphaned ones not).
    pub live_data: u64,
    /// Page-table pages allocated by vmap walks.
    pub table: u64,
    /// Pages a caller holds from `alloc_page`.
    pub caller_owned: u64,
    /// Orphaned pages (vunmap/free_vm_area on vmalloc memory, orphaned arrays' pages).
    pub orphaned: u64,
}

/// Kmalloc'ed metadata as live-object counts (I5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveObjects {
    /// Live `vm_struct`s = LiveVm areas.
    pub vm_structs: u64,
    /// Live `vmap_area`s = busy VAs (LiveVm and LazyPending).
    pub vmap_areas: u64,
    /// Live small (kmalloc'ed) pages arrays: those of live areas plus orphaned ones.
    pub small_arrays: u64,
}

impl Model {
    /// Busy VAs in address order, with state, request, `VmInfo` and data PFNs.
    pub fn busy_areas(&self) -> Vec<BusyArea> {
        self.busy
            .iter()
            .map(|area| BusyArea {
                start: area.start,
                end: area.end,
                state: match &area.kind {
                    AreaKind::LazyPending => AreaState::Lazy,
                    AreaKind::LiveVm(record) => AreaState::Live {
                        info: vm_info_of(area, record),
                        pages: record.pages.clone(),
                        orphaned: record.orphaned,
                    },
                },
                request: area.request,
            })
            .collect()
    }

    /// Busy VAs in address order, without their data pages.
    pub fn area_summaries(&self) -> Vec<AreaSummary> {
        self.busy
            .iter()
            .map(|area| AreaSummary {
                start: area.start,
                end: area.end,
                info: area.record().map(|r| vm_info_of(area, r)),
                orphaned: area.record().is_some_and(|r| r.orphaned),
                request: area.request,
            })
            .collect()
    }

    /// The data pages of the LiveVm area starting at `start`, in index order (empty for any
    /// other address, and for vmap and get_vm_area areas, which own no pages).
    pub fn area_pages(&self, start: u64) -> Vec<u64> {
        self.busy
            .get(start)
            .and_then(|a| a.record())
            .map(|r| r.pages.clone())
            .unwrap_or_default()
    }

    /// What the page at `pfn` holds (a free or unknown frame reads as the poison).
    pub fn page_contents(&self, pfn: u64) -> PageContents {
        self.pool.contents(pfn)
    }

    /// Starts of the LazyPending VAs, newest first.
    pub fn lazy_list(&self) -> Vec<u64> {
        self.lazy.clone()
    }

    /// `vmap_lazy_nr`: pages pending a purge, guards included.
    pub fn lazy_nr(&self) -> u64 {
        self.lazy_nr
    }

    /// CPU 0's deferred-free list, newest first.
    pub fn deferred_list(&self) -> Vec<u64> {
        self.deferred.clone()
    }

    /// Every present leaf PTE: page VA → entry, ascending.
    pub fn ptes(&self) -> &BTreeMap<u64, u64> {
        self.tables.ptes()
    }

    /// Page-table pages the vmap walks allocated (I8): `(level, region base) → pfn`.
    /// The static boot tables of semantics §12.1 are not included.
    pub fn table_pages(&self) -> BTreeMap<(TableLevel, u64), u64> {
        self.tables
            .allocated()
            .iter()
            .map(|(&key, record)| (key, record.pfn))
            .collect()
    }

    /// The entry that points to each table, static (semantics §12.1) and allocated (I9):
    /// `(level, region base) → entry`.
    pub fn table_entries(&self) -> BTreeMap<(TableLevel, u64), u64> {
        self.tables
            .boot()
            .iter()
            .chain(self.tables.allocated())
            .map(|(&key, record)| (key, record.entry))
            .collect()
    }

    /// The static boot tables of semantics §12.1: `(level, region base) → pfn`.
    pub fn boot_tables(&self) -> BTreeMap<(TableLevel, u64), u64> {
        self.tables
            .boot()
            .iter()
            .map(|(&key, record)| (key, record.pfn))
            .collect()
    }

    /// The root PGD's frame (semantics §12.1).
    pub fn root_pfn(&self) -> u64 {
        ROOT_PGD_PFN
    }

    /// Attempts per [`crate::FaultKind`], in `FaultKind::ALL` order.
    pub fn fault_attempts(&self) -> [u64; 5] {
        self.faults.attempts()
    }

    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory, including the pages of
    /// orphaned nested array areas (I5).
    pub fn orphaned_pages(&self) -> BTreeSet<u64> {
        let mut set = self.orphaned_pages.clone();
        for record in self.busy.iter().filter_map(|a| a.record()) {
            if record.orphaned {
                set.extend(record.pages.iter().copied());
            }
        }
        set
    }

    /// The sizes of the I5 buckets of [`Model::page_buckets`], counted without building the
    /// sets (the fuzzer compares them after every op).
    pub fn page_bucket_counts(&self) -> PageBucketCounts {
        let mut counts = PageBucketCounts {
            free: self.pool.free_per_node().iter().sum(),
            live_data: 0,
            table: self.tables.allocated().len() as u64,
            caller_owned: self.caller_pages.len() as u64,
            orphaned: self.orphaned_pages.len() as u64,
        };
        for record in self.busy.iter().filter_map(|a| a.record()) {
            let n = record.pages.len() as u64;
            if record.orphaned {
                counts.orphaned += n;
            } else {
                counts.live_data += n;
            }
        }
        counts
    }

    /// Kmalloc'ed pages arrays leaked by `vunmap`/`free_vm_area` (I5).
    pub fn orphaned_arrays(&self) -> u64 {
        self.orphaned_arrays
    }

    /// Pages a caller holds from `alloc_page`.
    pub fn caller_pages(&self) -> BTreeSet<u64> {
        self.caller_pages.clone()
    }

    /// Every allocated pool frame, ascending (whatever its bucket).
    pub fn allocated_frames(&self) -> Vec<u64> {
        self.pool.allocated().iter().copied().collect()
    }

    /// Free pool frames per node, in node order.
    pub fn free_pages_per_node(&self) -> Vec<u64> {
        self.pool.free_per_node()
    }

    /// The I5 buckets.
    pub fn page_buckets(&self) -> PageBuckets {
        let mut buckets = PageBuckets {
            free: self.pool.free_per_node().iter().sum(),
            table: self.tables.allocated().values().map(|t| t.pfn).collect(),
            caller_owned: self.caller_pages.clone(),
            orphaned: self.orphaned_pages.clone(),
            ..PageBuckets::default()
        };
        for record in self.busy.iter().filter_map(|a| a.record()) {
            let bucket = if record.orphaned {
                &mut buckets.orphaned
            } else {
                &mut buckets.live_data
            };
            bucket.extend(record.pages.iter().copied());
        }
        buckets
    }

    /// Live-object counts (I5).
    pub fn live_objects(&self) -> LiveObjects {
        let records = || self.busy.iter().filter_map(|a| a.record());
        let live_small = records()
            .filter(|r| matches!(r.array, ArrayKind::Kmalloc { .. }))
            .count() as u64;
        LiveObjects {
            vm_structs: records().count() as u64,
            vmap_areas: self.busy.len() as u64,
            small_arrays: live_small + self.orphaned_arrays,
        }
    }

    /// The 4096 bytes of a pool frame that is not a page-table page (free frames read
    /// `0xaa`). `None` for page-table frames (their contents are [`Model::ptes`] and
    /// [`Model::table_entries`]) and for frames outside the pool.
    pub fn page_bytes(&self, pfn: u64) -> Option<Vec<u8>> {
        let is_table = self.tables.allocated().values().any(|t| t.pfn == pfn);
        (self.pool.in_pool(pfn) && !is_table).then(|| self.pool.bytes(pfn))
    }

    /// The machine.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// `totalram_pages` (contract §1).
    pub fn totalram_pages(&self) -> u64 {
        self.config.totalram_pages()
    }

    /// `lazy_max_pages()` (semantics §5.4).
    pub fn lazy_max_pages(&self) -> u64 {
        self.config.lazy_max_pages()
    }
}

//! A counters snapshot (I5, I6, I8): computed from the engine's own structures, for comparison
//! with the model's counts (oracles also read the raw state, design §2).
//!
//! `design §N` cites a section of `docs/design.md`.

use crate::kernel::Kernel;
use crate::vmap_area::VaState;

/// Counts at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    /// Free pool pages per node.
    pub free_pages_per_node: Vec<u64>,
    /// Free pool pages in total.
    pub free_pages: u64,
    /// Allocated pool pages in total.
    pub allocated_pages: u64,
    /// Data pages owned by live vm areas, nested pages-array areas included (I5).
    pub area_pages: u64,
    /// Page-table pages taken from the pool (I8).
    pub table_pages: u64,
    /// Pages held by callers through `alloc_page` (I5).
    pub caller_pages: u64,
    /// Allocated pages claimed by none of the above: orphaned by `vunmap`/`free_vm_area` on
    /// vmalloc memory (I5), or leaked.
    pub unclaimed_pages: u64,
    /// Live vm_structs.
    pub live_vm_structs: u64,
    /// Busy VAs (live and lazy) = live vmap_area objects.
    pub busy_vas: u64,
    /// Lazily freed VAs.
    pub lazy_vas: u64,
    /// `vmap_lazy_nr`.
    pub lazy_nr: u64,
    /// Kmalloc'ed pages arrays alive (live areas' plus orphaned ones).
    pub kmalloc_arrays: u64,
    /// Live kmalloc'ed metadata objects: vm_structs + vmap_areas + kmalloc'ed arrays.
    pub live_objects: u64,
}

impl Kernel {
    /// The counters snapshot.
    pub fn counters(&self) -> Counters {
        let free_pages_per_node = self.mem.alloc.free_per_node().to_vec();
        let free_pages: u64 = free_pages_per_node.iter().sum();
        let allocated_pages = self.totalram - free_pages;
        let area_pages: u64 = self.vms.iter().map(|(_, v)| v.pages.len() as u64).sum();
        let table_pages = self.tables.len() as u64;
        let caller_pages = self.caller_pages.len() as u64;
        let lazy_vas = self
            .vas
            .slab
            .iter()
            .filter(|(_, va)| va.state == VaState::Lazy)
            .count() as u64;
        let busy_vas = self.vas.busy_len() as u64;
        let live_vm_structs = self.vms.len() as u64;
        Counters {
            free_pages,
            allocated_pages,
            area_pages,
            table_pages,
            caller_pages,
            unclaimed_pages: allocated_pages
                .saturating_sub(area_pages + table_pages + caller_pages),
            live_vm_structs,
            busy_vas,
            lazy_vas,
            lazy_nr: self.vas.lazy_nr,
            kmalloc_arrays: self.kmalloc_arrays,
            live_objects: live_vm_structs + busy_vas + self.kmalloc_arrays,
            free_pages_per_node,
        }
    }
}

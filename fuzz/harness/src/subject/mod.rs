//! The API contract a fuzzed vmalloc implementation offers, in harness terms.
//!
//! [`Kernel`] is implemented twice in this crate: for the engine (`vmalloc-engine`, the system
//! under test) and for the reference model (`vmalloc-reference`). The two crates share no
//! code; each adapter translates the crate's own types into the ones below. The trait is
//! public so that anyone can implement it for their own allocator and fuzz it against the
//! model: register it as a subject ([`crate::subjects`]) and run the CLI with it. The
//! oracles that read raw memory (page tables walked from the root frame, page ownership, the
//! `x86_64` cross-check, whole-page contents) apply when the subject also implements
//! [`RawMemory`]; without it, results, events, the state view, the busy list, its own
//! structure checks and data read back through [`Kernel::read`] are still compared.
//!
//! Conventions (docs/contract.md): addresses are `u64`, PFNs are `u64`, `None` node is
//! `NUMA_NO_NODE`, gfp and VM flags are the 4.19 bit values, `caller` is an opaque token that
//! `vmallocinfo` prints as `op<token>`.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

mod types;

pub use types::*;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::ops::{OpKind, Paging, Prot};

/// Raw access to a subject's simulated physical memory, for the oracles that walk real page
/// tables and check page ownership (design §2).
pub trait RawMemory {
    /// Paging mode.
    fn paging(&self) -> Paging;
    /// PFN of the root table (PGD).
    fn root_pfn(&self) -> u64;
    /// Entry `index` (0..512) of the frame at `pfn` read as a table, `None` if absent.
    fn read_entry(&self, pfn: u64, index: usize) -> Option<u64>;
    /// The whole frame at `pfn` read as a table, `None` if absent. The default reads entry by
    /// entry; implementations may read the frame at once.
    fn read_table(&self, pfn: u64) -> Option<Box<[u64; 512]>> {
        let mut t = Box::new([0u64; 512]);
        for (i, e) in t.iter_mut().enumerate() {
            *e = self.read_entry(pfn, i)?;
        }
        Some(t)
    }
    /// The allocator's state of frame `pfn`.
    fn frame_state(&self, pfn: u64) -> FrameState;
    /// Every allocated frame, ascending.
    fn allocated_frames(&self) -> Vec<u64>;
    /// How many frames are allocated, counted from the allocator's own frame states (not from
    /// a free-page counter the code under test keeps). The default counts
    /// [`RawMemory::allocated_frames`]; implementations may count cheaper (the ownership
    /// oracle asks after every call that changed state).
    fn allocated_count(&self) -> u64 {
        self.allocated_frames().len() as u64
    }
    /// The contents of the frame at `pfn`, `None` if absent. The default reads the frame as a
    /// table; implementations that store pages sparsely say when a page is uniform.
    fn frame_contents(&self, pfn: u64) -> Option<PageBytes> {
        let table = self.read_table(pfn)?;
        let mut bytes = [0u8; 4096];
        for (chunk, e) in bytes.chunks_exact_mut(8).zip(table.iter()) {
            chunk.copy_from_slice(&e.to_le_bytes());
        }
        Some(PageBytes::from_bytes(&bytes))
    }
}

/// Result of an allocation call.
pub type Alloc = Result<Option<u64>, Fatal>;

/// The vmalloc API as the harness drives it (contract §4). Every method is one kernel call;
/// the harness compares the return values, the events and the state after each.
pub trait Kernel {
    /// A short name for reports ("engine", "model").
    fn name(&self) -> &'static str;

    /// `__vmalloc_node_range(size, align, start, end, gfp, prot, vm_flags, node, caller)`.
    #[allow(clippy::too_many_arguments)]
    fn vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: u64,
        prot: Prot,
        vm_flags: u64,
        node: Option<u32>,
        caller: u32,
    ) -> Alloc;
    /// `vmalloc(size)`.
    fn vmalloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vzalloc(size)`.
    fn vzalloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_user(size)`.
    fn vmalloc_user(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_exec(size)`.
    fn vmalloc_exec(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_32(size)`.
    fn vmalloc_32(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_32_user(size)`.
    fn vmalloc_32_user(&mut self, size: u64, caller: u32) -> Alloc;
    /// `vmalloc_node(size, node)`.
    fn vmalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc;
    /// `vzalloc_node(size, node)`.
    fn vzalloc_node(&mut self, size: u64, node: Option<u32>, caller: u32) -> Alloc;
    /// `__vmalloc(size, gfp, prot)`.
    fn vmalloc_gfp(&mut self, size: u64, gfp: u64, prot: Prot, caller: u32) -> Alloc;
    /// x86-64 `module_alloc(size)`.
    fn module_alloc(&mut self, size: u64, caller: u32) -> Alloc;
    /// `get_vm_area(size, flags)` (`range: None`) or `__get_vm_area(size, flags, start, end)`.
    fn get_vm_area(
        &mut self,
        size: u64,
        flags: u64,
        range: Option<(u64, u64)>,
        caller: u32,
    ) -> Result<Option<VmInfo>, Fatal>;
    /// `free_vm_area` of the live area starting at `addr`.
    fn free_vm_area(&mut self, addr: u64) -> Result<(), Fatal>;
    /// `alloc_pages_node(node, gfp, 0)`: a caller-owned page.
    fn alloc_page(&mut self, gfp: u64, node: Option<u32>) -> Alloc;
    /// `__free_page(pfn)`.
    fn free_page(&mut self, pfn: u64) -> Result<(), Fatal>;
    /// `vmap(pages, count, flags, prot)`.
    fn vmap(&mut self, pfns: &[u64], flags: u64, prot: Prot, caller: u32) -> Alloc;
    /// `vunmap(addr)`.
    fn vunmap(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal>;
    /// `vfree(addr)`.
    fn vfree(&mut self, addr: u64, ctx: Context) -> Result<(), Fatal>;
    /// `vfree_atomic(addr)`.
    fn vfree_atomic(&mut self, addr: u64) -> Result<(), Fatal>;
    /// Run CPU 0's deferred frees.
    fn run_deferred(&mut self) -> Result<(), Fatal>;
    /// `vm_unmap_aliases()`.
    fn vm_unmap_aliases(&mut self);
    /// `find_vm_area(addr)`.
    fn find_vm_area(&self, addr: u64) -> Option<VmInfo>;
    /// `vmalloc_to_pfn(addr)`, `None` where nothing is mapped.
    fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64>;
    /// `is_vmalloc_addr(addr)`.
    fn is_vmalloc_addr(&self, addr: u64) -> bool;
    /// `/proc/vmallocinfo`.
    fn vmallocinfo(&self) -> String;
    /// Write through the mapping. `Err` names the unmapped address.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), u64>;
    /// Read through the mapping. `Err` names the unmapped address.
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64>;
    /// The whole page mapped at the page-aligned `va`, `None` if it is not mapped: how the
    /// contents oracle reads a subject without [`RawMemory`]. The default reads the page
    /// through [`Kernel::read`]; a subject that stores pages sparsely can answer
    /// [`PageBytes::Uniform`] without building the bytes (the oracle reads every mapped page
    /// on a whole-state check, so this is what makes such checks cheap).
    fn read_page(&self, va: u64) -> Option<PageBytes> {
        let bytes = self.read(va, 4096).ok()?;
        let page = <[u8; 4096]>::try_from(bytes.as_slice()).ok()?;
        Some(PageBytes::from_bytes(&page))
    }
    /// Events since the last call, in order.
    fn take_events(&mut self) -> Vec<Event>;
    /// The state view.
    fn state(&self) -> StateView;
    /// The data pages of the live area starting at `start`, in index order (empty for any
    /// other address, and for areas that own no pages: `vmap`, `get_vm_area`).
    fn area_pages(&self, start: u64) -> Vec<u64>;
    /// Raw physical memory, if the subject simulates it.
    fn raw(&self) -> Option<&dyn RawMemory>;
    /// The subject's own consistency checks on its internal structures (a search tree's
    /// invariants, say), `Err` with what is broken. The executor runs them after every op
    /// when every check runs, and at the whole-state points otherwise. Default: none.
    fn check_structures(&self) -> Result<(), String> {
        Ok(())
    }
    /// Does the subject implement ops of this kind? The executor skips, on both sides, every
    /// op a subject does not support (so a partial implementation can still be fuzzed).
    /// Default: every kind.
    fn supports(&self, kind: OpKind) -> bool {
        let _ = kind;
        true
    }
    /// Why this subject cannot run inputs on `machine` at all (a version knob or a machine
    /// shape it does not implement), or `None`. A declined input is not run: a campaign moves
    /// on, a replay reports it skipped with this reason. Default: every machine.
    fn declines(&self, machine: &crate::ops::Machine) -> Option<String> {
        let _ = machine;
        None
    }
}

/// What the reference model predicts beyond its [`StateView`], for the oracles that compare it
/// with a subject's raw state: the exact page tables, the page buckets and contents.
pub trait Expectations {
    /// Every present leaf PTE the model expects: VA → exact entry (R7, semantics §8.3).
    fn expected_ptes(&self) -> Cow<'_, BTreeMap<u64, u64>>;
    /// Every page-table page the model expects (I8): (level, region base) → PFN.
    fn expected_tables(&self) -> BTreeMap<TableKey, u64>;
    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory (I5, design §3.5),
    /// including the data pages of orphaned nested arrays.
    fn orphaned_pages(&self) -> BTreeSet<u64>;
    /// Starts of live nested-array areas whose owner is gone (design §3.5).
    fn orphaned_array_areas(&self) -> BTreeSet<u64>;
    /// Starts of every live area that is some area's nested pages array (orphaned or not).
    fn array_areas(&self) -> BTreeSet<u64>;
    /// The I5 buckets as the model counts them.
    fn buckets(&self) -> Buckets;
    /// The contents of an allocated page (design §3.10): poison, zero, or what was written.
    fn page_contents(&self, pfn: u64) -> PageBytes;
}

/// The reference model: a [`Kernel`] that also states its [`Expectations`].
pub trait Reference: Kernel + Expectations {}

impl<T: Kernel + Expectations + ?Sized> Reference for T {}

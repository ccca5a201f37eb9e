//! Freeing: `vfree` (semantics §5.1), `__vunmap` (semantics §5.2, R9, R10), `vunmap` (R11),
//! `vfree_atomic` and the deferred list run by `free_work` (semantics §5.1 step 4, design §3.11).
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use crate::addr::VirtAddr;
use crate::error::{BugKind, Fatal, KResult};
use crate::event::Event;
use crate::kernel::{Context, Kernel};
use crate::knobs::VunmapLookup;
use crate::vm_struct::ArrayKind;

impl Kernel {
    /// `vfree(addr)` (semantics §5.1): NULL is a no-op; in interrupt context the free is queued on
    /// CPU 0's deferred list (its first 8 bytes become the list link); otherwise
    /// `__vunmap(addr, 1)`.
    pub fn vfree(&mut self, addr: impl Into<VirtAddr>, ctx: Context) -> KResult<()> {
        self.check_alive()?;
        let addr = addr.into();
        if addr.is_null() {
            return Ok(());
        }
        let r = match ctx {
            Context::Interrupt => self.defer(addr),
            Context::Process => self.vunmap_inner(addr.as_u64(), true),
        };
        self.seal(r)
    }

    /// `vfree_atomic(addr)` (4.10+): always the deferred path.
    pub fn vfree_atomic(&mut self, addr: impl Into<VirtAddr>) -> KResult<()> {
        self.check_alive()?;
        let addr = addr.into();
        if addr.is_null() {
            return Ok(());
        }
        let r = self.defer(addr);
        self.seal(r)
    }

    /// `vunmap(addr)` (R11): BUG in interrupt context, else `__vunmap(addr, 0)`: the VA and
    /// the vm_struct go, the pages and any pages array stay (orphaned on vmalloc memory, I5).
    pub fn vunmap(&mut self, addr: impl Into<VirtAddr>, ctx: Context) -> KResult<()> {
        self.check_alive()?;
        if ctx == Context::Interrupt {
            return self.seal(Err(Fatal::Bug(BugKind::VunmapInInterrupt)));
        }
        let addr = addr.into();
        if addr.is_null() {
            return Ok(());
        }
        let r = self.vunmap_inner(addr.as_u64(), false);
        self.seal(r)
    }

    /// `free_work`: pops the whole deferred list and runs `__vunmap(p, 1)` on each entry,
    /// newest first (semantics §5.1, semantics §11.2).
    pub fn run_deferred(&mut self) -> KResult<()> {
        self.check_alive()?;
        let list = std::mem::take(&mut self.deferred);
        for &p in list.iter().rev() {
            let r = self.vunmap_inner(p.as_u64(), true);
            self.seal(r)?;
        }
        Ok(())
    }

    /// `__vfree_deferred`: `llist_add` writes the previous head into the first 8 bytes of the
    /// freed memory (little-endian, 0 for an empty list), through the mapping; an unmapped or
    /// read-only address faults (contract §10).
    fn defer(&mut self, addr: VirtAddr) -> KResult<()> {
        let prev = self.deferred.last().map_or(0, |a| a.as_u64());
        if self.write_raw(addr.as_u64(), &prev.to_le_bytes()).is_err() {
            return Err(Fatal::Bug(BugKind::Oops));
        }
        self.deferred.push(addr);
        Ok(())
    }

    /// `__vunmap(addr, deallocate_pages)` (semantics §5.2): by default the 4.19.126+/5.0 lookup
    /// (R10); under `vunmap_lookup=find_vmap_area_deref` an address in no busy VA oopses.
    /// `remove_first` is the default's behaviour single-threaded (`knobs::VunmapLookup`).
    pub(crate) fn vunmap_inner(&mut self, addr: u64, deallocate: bool) -> KResult<()> {
        if addr == 0 {
            return Ok(());
        }
        if !VirtAddr::from_u64(addr).is_page_aligned() {
            self.events.push(Event::BadAddress { addr });
            return Ok(());
        }
        if self.knobs.vunmap_lookup == VunmapLookup::FindVmapAreaDeref
            && self.vas.find(addr).is_none()
        {
            // find_vmap_area(addr)->vm with find_vmap_area(addr) == NULL.
            return Err(Fatal::Bug(BugKind::Oops));
        }
        let Some(vm) = self.find_vm(addr) else {
            let silent = planted!(self, SilentBadFree) && self.vas.find(addr).is_none();
            if !silent {
                self.events.push(Event::NonexistentArea { addr });
            }
            return Ok(());
        };
        self.free_vm(vm, deallocate, false)
    }

    /// R9 on a known live vm_struct: steps 1–2 (`remove_vm_area`), then with `deallocate`
    /// step 3 (data pages in index order) and step 4 (the pages array; a nested one through
    /// these same steps), then step 5 (the vm_struct). Without `deallocate` (vunmap) the
    /// pages and a kmalloc'ed array are orphaned: the array stays counted as a live object.
    pub(crate) fn free_vm(&mut self, vm: u32, deallocate: bool, eager: bool) -> KResult<()> {
        let keep_ptes = !deallocate && planted!(self, VunmapKeepsPtes);
        let Some(v) = self.remove_vm_area(vm, keep_ptes, eager) else {
            return Ok(());
        };
        if deallocate {
            for &p in &v.pages {
                if let Err(f) = self.free_frame(p) {
                    self.recycle(v);
                    return Err(f);
                }
            }
            match v.array {
                ArrayKind::None => {}
                ArrayKind::Kmalloc { .. } => {
                    self.kmalloc_arrays = self.kmalloc_arrays.saturating_sub(1)
                }
                ArrayKind::Vmalloc { addr } => {
                    if !planted!(self, ForgetNestedArrayFree) {
                        // kvfree -> vfree -> __vunmap(array, 1), process context.
                        let r = self.vunmap_inner(addr.as_u64(), true);
                        if let Err(f) = r {
                            self.recycle(v);
                            return Err(f);
                        }
                    }
                }
            }
        }
        self.recycle(v);
        Ok(())
    }
}

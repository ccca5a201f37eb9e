//! `vmap` (semantics §2) and the page allocator as an API (`alloc_page` / `__free_page`,
//! design §3.8): the pages a caller hands to `vmap` are caller-owned (I5), never owned by the vmap
//! area.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::addr::{Pfn, VirtAddr, PAGE_SHIFT};
use crate::error::{BugKind, Fatal, KResult};
use crate::fault::FaultKind;
use crate::gfp::Gfp;
use crate::kernel::Kernel;
use crate::prot::Prot;
use crate::vm_flags::VmFlags;

impl Kernel {
    /// `vmap(pages, count, flags, prot)` (semantics §2): NULL if `count > totalram_pages` or 0;
    /// `get_vm_area_caller(count * 4096, flags)` (align 1, VMALLOC window, GFP_KERNEL), then the
    /// mapping of `[addr, addr + get_vm_area_size)`. On a mapping failure `vunmap(addr)`
    /// (R9 steps 1, 2, 5) and NULL, with no warning besides warning 6 (R13).
    pub fn vmap(
        &mut self,
        pages: &[Pfn],
        flags: VmFlags,
        prot: Prot,
        caller: u32,
    ) -> KResult<Option<VirtAddr>> {
        self.check_alive()?;
        let count = pages.len() as u64;
        if count > self.totalram || count == 0 {
            return Ok(None);
        }
        let (s, e) = (self.cfg.vmalloc_start, self.cfg.vmalloc_end);
        let r = self.get_vm_area_node(count << PAGE_SHIFT, 1, flags, s, e, Gfp::KERNEL, caller);
        let Some(vm) = self.seal(r)? else {
            return Ok(None);
        };
        let Some((addr, mapped)) = self.vms.get(vm).map(|v| (v.addr, v.mapped_size())) else {
            return Ok(None);
        };
        if self.map_pages(addr, addr + mapped, prot, pages).is_err() {
            let r = self.free_vm(vm, false, false);
            self.seal(r)?;
            return Ok(None);
        }
        Ok(Some(VirtAddr::from_u64(addr)))
    }

    /// `alloc_pages_node(node, gfp, 0)` as an op (design §3.8): one page by the semantics §12.2
    /// policy, counted as a `DataPage` attempt unless NOFAIL; the page becomes caller-owned.
    pub fn alloc_page(&mut self, gfp: Gfp, node: Option<u32>) -> KResult<Option<Pfn>> {
        self.check_alive()?;
        let r = self.check_node(node).and_then(|()| {
            self.alloc_frame(FaultKind::DataPage, node, gfp, gfp.contains(Gfp::ZERO))
        });
        let p = self.seal(r)?;
        if let Some(p) = p {
            self.caller_pages.insert(p.as_u64());
        }
        Ok(p)
    }

    /// `__free_page(page)` of a caller page (from [`Kernel::alloc_page`]). Any other frame (a
    /// free one, a table page, a vmalloc data page, one outside the machine) is
    /// `Bug(BadPageFree)` with nothing freed (design §5.5: the kernel would corrupt its own
    /// state).
    pub fn free_page(&mut self, pfn: impl Into<Pfn>) -> KResult<()> {
        self.check_alive()?;
        let pfn = pfn.into();
        let r = if self.caller_pages.contains(&pfn.as_u64()) {
            self.free_frame(pfn)
        } else {
            Err(Fatal::Bug(BugKind::BadPageFree))
        };
        self.seal(r)?;
        self.caller_pages.remove(&pfn.as_u64());
        Ok(())
    }
}

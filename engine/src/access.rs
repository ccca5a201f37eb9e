//! Data access and lookups through the real page tables: `read`/`write` (contract §4),
//! `vmalloc_to_page`/`vmalloc_to_pfn` (R12) and the hardware-style `translate`.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use crate::addr::{Pfn, VirtAddr, PAGE_SIZE};
use crate::error::AccessError;
use crate::kernel::Kernel;
use crate::pgtable::walk::{self, Translation, WalkError};

impl Kernel {
    /// Hardware-style translation of `va` through the frames (PRESENT at every level,
    /// effective permissions combined as the CPU does).
    pub fn translate(&self, va: impl Into<VirtAddr>) -> Result<Translation, WalkError> {
        walk::translate(&self.mem, self.enc, self.root, va.into())
    }

    /// `vmalloc_to_page(addr)` (semantics §2, R12): the frame mapped at `addr`'s page, or `None`
    /// (design §3.14).
    pub fn vmalloc_to_page(&self, addr: impl Into<VirtAddr>) -> Option<Pfn> {
        walk::vmalloc_to_page(&self.mem, self.enc, self.root, addr.into())
    }

    /// `vmalloc_to_pfn(addr)`: as [`Kernel::vmalloc_to_page`] (None when unmapped, design §3.14).
    pub fn vmalloc_to_pfn(&self, addr: impl Into<VirtAddr>) -> Option<Pfn> {
        self.vmalloc_to_page(addr)
    }

    /// Resolves every page of `[addr, addr + len)` before anything is touched.
    fn check_range(&self, addr: u64, len: usize, write: bool) -> Result<(), AccessError> {
        if self.dead.is_some() {
            return Err(AccessError::Dead);
        }
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64 - 1).ok_or(AccessError::Wraps)?;
        let mut page = addr & !(PAGE_SIZE - 1);
        loop {
            let at = page.max(addr);
            let t = self.translate(at).map_err(|e| match e {
                WalkError::NonCanonical => AccessError::NonCanonical { addr: at },
                WalkError::NotPresent { .. } => AccessError::NotMapped { addr: at },
                WalkError::Huge { .. } => AccessError::HugeLeaf { addr: at },
                WalkError::BadFrame { pfn } => AccessError::BadFrame { pfn },
            })?;
            if !self.mem.exists(t.pfn.as_u64()) {
                return Err(AccessError::BadFrame {
                    pfn: t.pfn.as_u64(),
                });
            }
            if write && !t.writable {
                return Err(AccessError::ReadOnly { addr: at });
            }
            match page.checked_add(PAGE_SIZE) {
                Some(next) if next <= end => page = next,
                _ => return Ok(()),
            }
        }
    }

    /// Reads `len` bytes at `addr` through the page tables. Nothing is read unless every page
    /// is mapped.
    pub fn read(&self, addr: impl Into<VirtAddr>, len: usize) -> Result<Vec<u8>, AccessError> {
        let addr = addr.into().as_u64();
        self.check_range(addr, len, false)?;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let a = addr + out.len() as u64;
            let t = self
                .translate(a)
                .map_err(|_| AccessError::NotMapped { addr: a })?;
            let n = ((PAGE_SIZE - t.offset) as usize).min(len - out.len());
            let pfn = t.pfn.as_u64();
            out.extend((t.offset..t.offset + n as u64).map(|o| self.mem.frames.byte(pfn, o)));
        }
        Ok(out)
    }

    /// Writes `data` at `addr` through the page tables. Nothing is written unless every page
    /// is mapped and writable (RW at every level, as the CPU checks).
    pub fn write(&mut self, addr: impl Into<VirtAddr>, data: &[u8]) -> Result<(), AccessError> {
        self.write_raw(addr.into().as_u64(), data)
    }

    pub(crate) fn write_raw(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        self.check_range(addr, data.len(), true)?;
        let mut done = 0usize;
        while done < data.len() {
            let a = addr + done as u64;
            let t = self
                .translate(a)
                .map_err(|_| AccessError::NotMapped { addr: a })?;
            let room = (PAGE_SIZE - t.offset) as usize;
            let n = room.min(data.len() - done);
            self.mem
                .frames
                .write_bytes(t.pfn.as_u64(), t.offset, &data[done..done + n]);
            done += n;
        }
        Ok(())
    }
}

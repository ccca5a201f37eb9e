//! R12 queries, `/proc/vmallocinfo` (semantics §11.4, contract §7) and data access through the
//! PTEs.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use std::fmt::Write as _;

use crate::areas::{Area, VmRecord};
use crate::arith::PAGE_SIZE;
use crate::config::Paging;
use crate::model::Model;
use crate::ptes::entry_pfn;
use crate::types::{AccessError, ArrayKind, VmFlags, VmInfo};

/// The observable `vm_struct` of a LiveVm area: `size` is the whole VA (guard included),
/// `nr_pages` the pages it owns.
pub(crate) fn vm_info_of(area: &Area, record: &VmRecord) -> VmInfo {
    VmInfo {
        addr: area.start,
        size: area.end - area.start,
        flags: record.flags,
        nr_pages: record.pages.len() as u64,
        caller: record.caller,
        pages_array: record.array,
    }
}

/// `_PAGE_PRESENT | _PAGE_GLOBAL` (semantics §8.3: `pte_present` is true for either).
const PRESENT_OR_GLOBAL: u64 = 0x1 | 0x100;
/// `_PAGE_RW`: writes through a leaf without it fault.
const PAGE_RW: u64 = 0x2;

impl Model {
    /// The observable `vm_struct` of the LiveVm area starting at `start`.
    pub(crate) fn vm_info(&self, start: u64) -> Option<VmInfo> {
        let area = self.busy.get(start)?;
        Some(vm_info_of(area, area.record()?))
    }

    /// R12 `find_vm_area(p)`: the LiveVm area containing `p` (guard page included), else
    /// `None` (a LazyPending VA or no VA).
    pub(crate) fn r12_find_vm_area(&self, addr: u64) -> Option<VmInfo> {
        self.busy
            .live_containing(addr)
            .and_then(|start| self.vm_info(start))
    }

    /// R12 `vmalloc_to_page(p)`: the PFN of the present leaf mapping `p`'s page, else `None`
    /// (guard pages, lazily freed areas and never-mapped pages). `p`'s page is found by the
    /// table indices alone, so only its low 48 bits (57 with LA57) count: a non-canonical `p`
    /// reads the page of the canonical address with the same low bits (semantics R12).
    pub(crate) fn r12_vmalloc_to_page(&self, addr: u64) -> Option<u64> {
        let va_bits = match self.config.paging {
            Paging::FourLevel => 48,
            Paging::FiveLevel => 57,
        };
        // Sign-extend from the top VA bit: the address whose indices are those of `addr`.
        let shift = 64 - va_bits;
        let canonical = (((addr << shift) as i64) >> shift) as u64;
        let leaf = self.tables.pte(canonical & !(PAGE_SIZE - 1))?;
        (leaf & PRESENT_OR_GLOBAL != 0).then(|| entry_pfn(leaf, self.config.sme_c_bit))
    }

    /// R12 `is_vmalloc_addr(x)`: `VMALLOC_START <= x < VMALLOC_END` (END in its odd form).
    pub(crate) fn r12_is_vmalloc_addr(&self, addr: u64) -> bool {
        self.config.vmalloc_start <= addr && addr < self.config.vmalloc_end
    }

    /// `/proc/vmallocinfo` with CONFIG_NUMA (design §3.13): one line per busy VA in
    /// address order. A lazy VA prints its own range and "unpurged vm_area"; a vm area prints
    /// its range, size (guard included), `op<caller>`, `pages=N` if nonzero, the flag words,
    /// `vpages` for a vmalloc'ed array, and `N<node>=<count>` per node with pages.
    pub(crate) fn render_vmallocinfo(&self) -> String {
        let mut out = String::new();
        for area in self.busy.iter() {
            let (start, end) = (area.start, area.end);
            let _ = write!(out, "0x{start:016x}-0x{end:016x} {:>7}", end - start);
            let Some(record) = area.record() else {
                out.push_str(" unpurged vm_area\n");
                continue;
            };
            let _ = write!(out, " op{}", record.caller);
            if !record.pages.is_empty() {
                let _ = write!(out, " pages={}", record.pages.len());
            }
            for (flag, word) in [
                (VmFlags::IOREMAP, " ioremap"),
                (VmFlags::ALLOC, " vmalloc"),
                (VmFlags::MAP, " vmap"),
                (VmFlags::USERMAP, " user"),
            ] {
                if record.flags.has(flag) {
                    out.push_str(word);
                }
            }
            if matches!(record.array, ArrayKind::Vmalloc { .. }) {
                out.push_str(" vpages");
            }
            let mut per_node = vec![0u64; self.config.nodes.len()];
            for &pfn in &record.pages {
                if let Some(node) = self.pool.node_of(pfn) {
                    per_node[node] += 1;
                }
            }
            for (node, count) in per_node.iter().enumerate().filter(|(_, &c)| c != 0) {
                let _ = write!(out, " N{node}={count}");
            }
            out.push('\n');
        }
        out
    }

    /// The pieces of `[addr, addr + len)`, one per page: `(pfn, offset in the page, bytes)`,
    /// or the first unmapped byte.
    fn resolve(&self, addr: u64, len: usize) -> Result<Vec<(u64, usize, usize)>, AccessError> {
        let len = len as u64;
        if len > 0 && addr.checked_add(len - 1).is_none() {
            return Err(AccessError::AddressWraps);
        }
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let va = addr + done;
            let offset = va % PAGE_SIZE;
            let chunk = (PAGE_SIZE - offset).min(len - done);
            let pfn = self
                .r12_vmalloc_to_page(va)
                .ok_or(AccessError::Unmapped { addr: va })?;
            out.push((pfn, offset as usize, chunk as usize));
            done += chunk;
        }
        Ok(out)
    }

    pub(crate) fn write_through_ptes(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        let pieces = self.resolve(addr, data.len())?;
        // Nothing is written unless every page is writable (the first read-only one faults).
        let mut va = addr;
        for &(_, _, n) in &pieces {
            let leaf = self.tables.pte(va & !(PAGE_SIZE - 1)).unwrap_or(0);
            if leaf & PAGE_RW == 0 {
                return Err(AccessError::ReadOnly { addr: va });
            }
            va += n as u64;
        }
        let mut rest = data;
        for (pfn, offset, n) in pieces {
            let (piece, tail) = rest.split_at(n);
            self.pool.write_bytes(pfn, offset, piece);
            rest = tail;
        }
        Ok(())
    }

    pub(crate) fn read_through_ptes(&self, addr: u64, len: usize) -> Result<Vec<u8>, AccessError> {
        let mut out = Vec::with_capacity(len);
        for (pfn, offset, n) in self.resolve(addr, len)? {
            out.extend_from_slice(&self.pool.bytes(pfn)[offset..offset + n]);
        }
        Ok(out)
    }
}

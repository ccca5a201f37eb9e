//! What the caller holds while an input runs, and how an op's slots become a concrete call.
//!
//! Slots resolve as `slot % candidates` (never an early return: STYLE.md). An op with no
//! candidate, or one whose target the generator must never produce (DECISIONS 3.15: a bad or
//! interior free inside a nested pages-array area, anything touching an area queued for
//! deferred free, `__free_page` of a page a live vmap still maps), is skipped.
//! The live set is reconciled with the model's busy list after every op, so frees by any path
//! (interior pointers, stale addresses that hit a reused VA, deferred work) are followed.

use std::collections::BTreeSet;

use super::call::Call;
use crate::ops::{pattern_byte, Addr, Op, Prot, VmallocApi, PAGE_SIZE};
use crate::subject::{BusyArea, Context};

/// How a caller-held area was made, which decides how the end of the input frees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// vmalloc family or `module_alloc`: freed with `vfree`.
    Vmalloc,
    /// `vmap`: freed with `vunmap`.
    Vmap,
    /// `get_vm_area` family: freed with `free_vm_area`.
    VmArea,
}

/// A live area the caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// Start address.
    pub start: u64,
    /// VA size, guard included.
    pub va_size: u64,
    /// Bytes mapped from `start`.
    pub mapped: u64,
    /// How it was made.
    pub kind: HandleKind,
    /// For a vmap, the caller pages it maps.
    pub pfns: Vec<u64>,
    /// Mapped with a writable protection (writes through RO/RX mappings would oops: never
    /// generated).
    pub writable: bool,
}

/// The protection a mapping call uses (spec §2 table).
fn call_prot(call: &Call) -> Prot {
    match call {
        Call::Vmalloc(VmallocApi::VmallocExec, _) | Call::ModuleAlloc(_) => Prot::KernelExec,
        Call::VmallocGfp { prot, .. }
        | Call::VmallocRange { prot, .. }
        | Call::Vmap { prot, .. } => *prot,
        _ => Prot::Kernel,
    }
}

/// The caller's view of the running input.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Live areas the caller holds, in creation order.
    pub areas: Vec<Handle>,
    /// Caller pages (`alloc_page`), in creation order.
    pub pages: Vec<u64>,
    /// Recently freed areas `(start, va_size)`, newest last.
    pub stale: Vec<(u64, u64)>,
    /// Areas queued for deferred free `(start, va_size)`.
    pub queued: Vec<(u64, u64)>,
}

/// How many freed areas are remembered for `stale#N`.
const STALE_KEEP: usize = 32;

fn pick<T>(items: &[T], slot: u32) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(slot as usize % items.len())
    }
}

impl Tracker {
    /// Resolve an address operand.
    pub fn addr(&self, a: Addr) -> Option<u64> {
        match a {
            Addr::Null => Some(0),
            Addr::Abs(v) => Some(v),
            Addr::Area { slot, offset } => {
                pick(&self.areas, slot).map(|h| h.start.wrapping_add(offset % h.va_size.max(1)))
            }
            Addr::Stale { slot, offset } => {
                pick(&self.stale, slot).map(|&(s, sz)| s.wrapping_add(offset % sz.max(1)))
            }
        }
    }

    fn mapped(&self) -> Vec<&Handle> {
        self.areas.iter().filter(|h| h.mapped > 0).collect()
    }

    fn writable(&self) -> Vec<&Handle> {
        self.areas
            .iter()
            .filter(|h| h.mapped > 0 && h.writable)
            .collect()
    }

    /// Would freeing `addr` touch something the generator must not touch (DECISIONS 3.15)?
    fn forbidden_free(&self, addr: u64, busy: &[BusyArea], arrays: &BTreeSet<u64>) -> bool {
        let inside = |s: u64, len: u64| addr >= s && addr - s < len;
        if self.queued.iter().any(|&(s, len)| inside(s, len)) {
            return true;
        }
        busy.iter()
            .any(|b| arrays.contains(&b.start) && addr >= b.start && addr < b.end)
    }

    /// Turn an op into a call, or `None` to skip it. `busy` and `arrays` are the model's busy
    /// list and nested-array area starts before the op.
    pub fn resolve(&self, op: &Op, busy: &[BusyArea], arrays: &BTreeSet<u64>) -> Option<Call> {
        let free_target = |a: Addr| -> Option<u64> {
            let addr = self.addr(a)?;
            if self.forbidden_free(addr, busy, arrays) {
                None
            } else {
                Some(addr)
            }
        };
        Some(match op {
            Op::Vmalloc { api, size } => Call::Vmalloc(*api, *size),
            Op::VmallocNode { zero, size, node } => Call::VmallocNode {
                zero: *zero,
                size: *size,
                node: *node,
            },
            Op::VmallocGfp { size, gfp, prot } => Call::VmallocGfp {
                size: *size,
                gfp: *gfp,
                prot: *prot,
            },
            Op::VmallocRange {
                size,
                align,
                start,
                end,
                gfp,
                prot,
                vm_flags,
                node,
            } => Call::VmallocRange {
                size: *size,
                align: *align,
                start: *start,
                end: *end,
                gfp: *gfp,
                prot: *prot,
                vm_flags: *vm_flags,
                node: *node,
            },
            Op::ModuleAlloc { size } => Call::ModuleAlloc(*size),
            Op::GetVmArea { size, flags, range } => Call::GetVmArea {
                size: *size,
                flags: *flags,
                range: *range,
            },
            Op::FreeVmArea { slot } => Call::FreeVmArea(pick(&self.areas, *slot)?.start),
            Op::AllocPage { gfp, node } => Call::AllocPage {
                gfp: *gfp,
                node: *node,
            },
            Op::FreePage { slot } => {
                let pfn = *pick(&self.pages, *slot)?;
                if self.areas.iter().any(|h| h.pfns.contains(&pfn)) {
                    return None;
                }
                Call::FreePage(pfn)
            }
            Op::Vmap { pages, flags, prot } => {
                if !pages.is_empty() && self.pages.is_empty() {
                    return None;
                }
                let pfns = pages
                    .iter()
                    .filter_map(|&s| pick(&self.pages, s).copied())
                    .collect();
                Call::Vmap {
                    pfns,
                    flags: *flags,
                    prot: *prot,
                }
            }
            Op::Vunmap { addr, irq } => {
                let ctx = if *irq {
                    Context::Interrupt
                } else {
                    Context::Process
                };
                Call::Vunmap(free_target(*addr)?, ctx)
            }
            Op::Vfree { addr } => Call::Vfree(free_target(*addr)?),
            // The deferred path writes its list node into the area: writable mappings only.
            Op::VfreeDeferred { slot, atomic } => Call::VfreeDeferred {
                addr: pick(&self.writable(), *slot)?.start,
                atomic: *atomic,
            },
            Op::RunDeferred => Call::RunDeferred,
            Op::VmUnmapAliases => Call::VmUnmapAliases,
            Op::FindVmArea { addr } => Call::FindVmArea(self.addr(*addr)?),
            Op::VmallocToPfn { addr } => Call::VmallocToPfn(self.addr(*addr)?),
            Op::IsVmallocAddr { addr } => Call::IsVmallocAddr(self.addr(*addr)?),
            Op::Vmallocinfo => Call::Vmallocinfo,
            Op::Write {
                slot,
                offset,
                len,
                seed,
            } => {
                let h = *pick(&self.writable(), *slot)?;
                let off = offset % h.mapped;
                let n = (*len as u64).min(h.mapped - off) as usize;
                let bytes = (0..n).map(|i| pattern_byte(*seed, i)).collect();
                Call::Write {
                    addr: h.start + off,
                    bytes,
                }
            }
            Op::Read { slot, offset, len } => {
                let h = *pick(&self.mapped(), *slot)?;
                let off = offset % h.mapped;
                let n = (*len as u64).min(h.mapped - off) as usize;
                Call::Read {
                    addr: h.start + off,
                    len: n,
                }
            }
        })
    }

    /// Record what a call did for the caller, from the model's result and its busy list after.
    pub fn update(
        &mut self,
        call: &Call,
        new_addr: Option<u64>,
        new_pfn: Option<u64>,
        busy_after: &[BusyArea],
    ) {
        let rw = matches!(
            call_prot(call),
            Prot::Kernel | Prot::KernelExec | Prot::KernelNocache
        );
        let area_at = |start: u64| {
            busy_after
                .iter()
                .find(|b| b.start == start && b.vm.is_some())
        };
        match call {
            Call::Vmalloc(..)
            | Call::VmallocNode { .. }
            | Call::VmallocGfp { .. }
            | Call::VmallocRange { .. }
            | Call::ModuleAlloc(_) => {
                if let Some(b) = new_addr.and_then(area_at) {
                    let nr = b.vm.map_or(0, |v| v.nr_pages);
                    self.areas.push(Handle {
                        start: b.start,
                        va_size: b.end - b.start,
                        mapped: nr * PAGE_SIZE,
                        kind: HandleKind::Vmalloc,
                        pfns: Vec::new(),
                        writable: rw,
                    });
                }
            }
            Call::GetVmArea { .. } => {
                if let Some(b) = new_addr.and_then(area_at) {
                    self.areas.push(Handle {
                        start: b.start,
                        va_size: b.end - b.start,
                        mapped: 0,
                        kind: HandleKind::VmArea,
                        pfns: Vec::new(),
                        writable: false,
                    });
                }
            }
            Call::Vmap { pfns, .. } => {
                if let Some(b) = new_addr.and_then(area_at) {
                    self.areas.push(Handle {
                        start: b.start,
                        va_size: b.end - b.start,
                        mapped: pfns.len() as u64 * PAGE_SIZE,
                        kind: HandleKind::Vmap,
                        pfns: pfns.clone(),
                        writable: rw,
                    });
                }
            }
            Call::AllocPage { .. } => self.pages.extend(new_pfn),
            Call::FreePage(pfn) => {
                if let Some(i) = self.pages.iter().position(|p| p == pfn) {
                    self.pages.remove(i);
                }
            }
            Call::VfreeDeferred { addr, .. } => {
                if let Some(i) = self.areas.iter().position(|h| h.start == *addr) {
                    let h = self.areas.remove(i);
                    self.queued.push((h.start, h.va_size));
                }
            }
            Call::RunDeferred => {
                let q = std::mem::take(&mut self.queued);
                self.stale.extend(q);
            }
            _ => {}
        }
        // Reconcile with the model: a handle whose area is gone was freed by this call.
        let mut kept = Vec::with_capacity(self.areas.len());
        for h in std::mem::take(&mut self.areas) {
            let live = busy_after
                .iter()
                .any(|b| b.start == h.start && b.end - b.start == h.va_size && b.vm.is_some());
            if live {
                kept.push(h);
            } else {
                self.stale.push((h.start, h.va_size));
            }
        }
        self.areas = kept;
        self.queued
            .retain(|&(s, _)| busy_after.iter().any(|b| b.start == s && b.vm.is_some()));
        if self.stale.len() > STALE_KEEP {
            let drop = self.stale.len() - STALE_KEEP;
            self.stale.drain(..drop);
        }
    }

    /// The calls that give everything back at the end of an input (DECISIONS 3.5): free every
    /// live area the caller holds as fits its kind, give back caller pages, run the deferred
    /// list, purge.
    pub fn cleanup(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = self
            .areas
            .iter()
            .map(|h| match h.kind {
                HandleKind::Vmalloc => Call::Vfree(h.start),
                HandleKind::Vmap => Call::Vunmap(h.start, Context::Process),
                HandleKind::VmArea => Call::FreeVmArea(h.start),
            })
            .collect();
        calls.extend(self.pages.iter().map(|&p| Call::FreePage(p)));
        calls.push(Call::RunDeferred);
        calls.push(Call::VmUnmapAliases);
        calls
    }
}

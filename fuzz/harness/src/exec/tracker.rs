//! What the caller holds while an input runs, and how an op's slots become a concrete call.
//!
//! Slots resolve as `slot % candidates` (never an early return: design §7). An op with no
//! candidate, or one whose target the generator must never produce (design §3.15: a bad or
//! interior free inside a nested pages-array area, anything touching an area queued for
//! deferred free, `__free_page` of a page a vmap still maps (live or queued), writes through a read-only
//! mapping), is skipped.
//! The live set is reconciled with the model's busy list after every op, so frees by any path
//! (interior pointers, stale addresses that hit a reused VA, deferred work) are followed.
//!
//! Every handle remembers its *origin*, the index of the op that created it. The minimizer
//! uses origins to delete ops without changing what the remaining ops refer to
//! ([`Tracker::origins`], [`Tracker::reslot`]).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::collections::BTreeSet;

use super::call::Call;
use super::derive::{self, Window};
use crate::ops::{
    pattern_byte, Addr, DeferTarget, EdgeAt, FitApi, Machine, Op, PageRef, Prot, VmallocApi,
    GFP_KERNEL, MAX_GET_VM_AREA_SIZE, PAGE_SIZE, VM_NO_GUARD,
};
use crate::subject::{BusyArea, Context, StateView};

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
    /// Index of the op that created it.
    pub origin: usize,
}

/// A freed area a later op may name with `stale#N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    /// Start address.
    pub start: u64,
    /// VA size, guard included.
    pub va_size: u64,
    /// Index of the op that created it.
    pub origin: usize,
}

/// What a slot of an op referred to, by the op that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A live area.
    Area(usize),
    /// A freed area.
    Stale(usize),
    /// A caller page.
    Page(usize),
}

/// The caller's view of the running input.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Live areas the caller holds, in creation order.
    pub areas: Vec<Handle>,
    /// Caller pages (`alloc_page`), in creation order.
    pub pages: Vec<u64>,
    /// The op that allocated each of `pages`.
    pub page_origins: Vec<usize>,
    /// Recently freed areas, newest last.
    pub stale: Vec<Stale>,
    /// Areas queued for deferred free (a queued vmap still maps its caller pages).
    pub queued: Vec<Handle>,
    /// A free of an address in no busy VA oopses (`vunmap_lookup=find_vmap_area_deref`): such
    /// frees are made only as the last op.
    pub free_outside_oopses: bool,
    /// The machine (its windows and limits resolve boundary arguments).
    pub machine: Machine,
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

/// The protection a mapping call uses (semantics §2 table).
fn call_prot(call: &Call) -> Prot {
    match call {
        Call::Vmalloc(VmallocApi::VmallocExec, _) | Call::ModuleAlloc(_) => Prot::KernelExec,
        Call::VmallocGfp { prot, .. }
        | Call::VmallocRange { prot, .. }
        | Call::Vmap { prot, .. } => *prot,
        _ => Prot::Kernel,
    }
}

impl Tracker {
    /// An empty tracker for an input on `machine` (its knobs decide which frees are fatal).
    pub fn new(machine: &Machine) -> Self {
        Tracker {
            free_outside_oopses: machine.knobs.free_in_no_area_oopses(),
            machine: machine.clone(),
            ..Tracker::default()
        }
    }

    /// Resolve an address operand.
    pub fn addr(&self, a: Addr) -> Option<u64> {
        match a {
            Addr::Null => Some(0),
            Addr::Abs(v) => Some(v),
            Addr::Area { slot, offset } => {
                pick(&self.areas, slot).map(|h| h.start.wrapping_add(offset % h.va_size.max(1)))
            }
            Addr::Stale { slot, offset } => {
                pick(&self.stale, slot).map(|s| s.start.wrapping_add(offset % s.va_size.max(1)))
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

    /// Would freeing `addr` touch something the generator must not touch (design §3.15)?
    fn forbidden_free(&self, addr: u64, busy: &[BusyArea], arrays: &BTreeSet<u64>) -> bool {
        let inside = |s: u64, len: u64| addr >= s && addr - s < len;
        if self.queued.iter().any(|q| inside(q.start, q.va_size)) {
            return true;
        }
        busy.iter()
            .any(|b| arrays.contains(&b.start) && addr >= b.start && addr < b.end)
    }

    /// Turn an op into a call, or `None` to skip it. `state` is the model's state and `arrays`
    /// its nested-array area starts before the op; `last` says whether it is the input's last
    /// op (the only one that may end it).
    pub fn resolve(
        &self,
        op: &Op,
        state: &StateView,
        arrays: &BTreeSet<u64>,
        last: bool,
    ) -> Option<Call> {
        let busy = &state.busy[..];
        let free_target = |a: Addr| -> Option<u64> {
            let addr = self.addr(a)?;
            let oopses = self.free_outside_oopses
                && addr != 0
                && addr % PAGE_SIZE == 0
                && !busy.iter().any(|b| addr >= b.start && addr < b.end);
            (!self.forbidden_free(addr, busy, arrays) && (last || !oopses)).then_some(addr)
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
            Op::FreeVmArea { addr } => {
                let a = self.addr(*addr)?;
                if self.forbidden_free(a, busy, arrays) {
                    return None;
                }
                Call::FreeVmArea(a)
            }
            Op::AllocPage { gfp, node } => Call::AllocPage {
                gfp: *gfp,
                node: *node,
            },
            Op::FreePage { page } => {
                let pfn = match *page {
                    PageRef::Caller(slot) => *pick(&self.pages, slot)?,
                    PageRef::Pfn(pfn) => pfn,
                };
                // A vmap that still maps it, live or queued for a deferred free.
                if self
                    .areas
                    .iter()
                    .chain(&self.queued)
                    .any(|h| h.pfns.contains(&pfn))
                {
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
            // A literal address: unmapped or read-only memory oopses (last op only); one
            // inside a live area other than a writable one's start is skipped.
            Op::VfreeDeferred { target, atomic } => {
                let addr = match *target {
                    DeferTarget::Writable(slot) => pick(&self.writable(), slot)?.start,
                    DeferTarget::Addr(a) => {
                        let inside = |h: &Handle| a >= h.start && a - h.start < h.va_size;
                        let ok = match self.areas.iter().find(|h| inside(h)) {
                            Some(h) => h.start == a && h.writable && h.mapped > 0,
                            None => true,
                        };
                        if !ok || self.forbidden_free(a, busy, arrays) {
                            return None;
                        }
                        a
                    }
                };
                Call::VfreeDeferred {
                    addr,
                    atomic: *atomic,
                }
            }
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
            Op::Fit { api, size } => {
                let m = &self.machine;
                match *api {
                    FitApi::Vmalloc => Call::Vmalloc(
                        VmallocApi::Vmalloc,
                        derive::size(*size, Window::vmalloc(m), state, m, PAGE_SIZE)?,
                    ),
                    FitApi::ModuleAlloc => Call::ModuleAlloc(derive::size(
                        *size,
                        Window::modules(m),
                        state,
                        m,
                        PAGE_SIZE,
                    )?),
                    FitApi::GetVmArea { flags } => {
                        let guard = if flags & VM_NO_GUARD != 0 {
                            0
                        } else {
                            PAGE_SIZE
                        };
                        let size = derive::size(*size, Window::vmalloc(m), state, m, guard)?;
                        if size > MAX_GET_VM_AREA_SIZE {
                            return None;
                        }
                        Call::GetVmArea {
                            size,
                            flags,
                            range: None,
                        }
                    }
                }
            }
            Op::RangeFit {
                size,
                align,
                start,
                end,
                vm_flags,
            } => {
                let m = &self.machine;
                let w = Window::vmalloc(m);
                let area = |s: u32| pick(&self.areas, s).map(|h| (h.start, h.start + h.va_size));
                let start = derive::edge(*start, w, m.vmalloc_end, busy, area)?;
                let end = derive::edge(*end, w, m.vmalloc_end, busy, area)?;
                // Gaps of the range itself when it is a window, else of the vmalloc window.
                let within = if start < end {
                    Window::new(start, end)
                } else {
                    w
                };
                let guard = if vm_flags & VM_NO_GUARD != 0 {
                    0
                } else {
                    PAGE_SIZE
                };
                Call::VmallocRange {
                    size: derive::size(*size, within, state, m, guard)?,
                    align: *align,
                    start,
                    end,
                    gfp: GFP_KERNEL,
                    prot: Prot::Kernel,
                    vm_flags: *vm_flags,
                    node: None,
                }
            }
        })
    }

    /// Record what a call did for the caller, from the model's result and its busy list after.
    /// `origin` is the index of the op that made the call.
    pub fn update(
        &mut self,
        call: &Call,
        new_addr: Option<u64>,
        new_pfn: Option<u64>,
        busy_after: &[BusyArea],
        origin: usize,
    ) {
        let writable = matches!(
            call_prot(call),
            Prot::Kernel | Prot::KernelExec | Prot::KernelNocache
        );
        let area_at = |start: u64| {
            busy_after
                .iter()
                .find(|b| b.start == start && b.vm.is_some())
        };
        let handle =
            |b: &BusyArea, mapped: u64, kind: HandleKind, pfns: Vec<u64>, writable: bool| Handle {
                start: b.start,
                va_size: b.end - b.start,
                mapped,
                kind,
                pfns,
                writable,
                origin,
            };
        match call {
            Call::Vmalloc(..)
            | Call::VmallocNode { .. }
            | Call::VmallocGfp { .. }
            | Call::VmallocRange { .. }
            | Call::ModuleAlloc(_) => {
                if let Some(b) = new_addr.and_then(area_at) {
                    let nr = b.vm.map_or(0, |v| v.nr_pages);
                    self.areas.push(handle(
                        b,
                        nr * PAGE_SIZE,
                        HandleKind::Vmalloc,
                        Vec::new(),
                        writable,
                    ));
                }
            }
            Call::GetVmArea { .. } => {
                if let Some(b) = new_addr.and_then(area_at) {
                    self.areas
                        .push(handle(b, 0, HandleKind::VmArea, Vec::new(), false));
                }
            }
            Call::Vmap { pfns, .. } => {
                if let Some(b) = new_addr.and_then(area_at) {
                    let mapped = pfns.len() as u64 * PAGE_SIZE;
                    self.areas
                        .push(handle(b, mapped, HandleKind::Vmap, pfns.clone(), writable));
                }
            }
            Call::AllocPage { .. } => {
                if let Some(p) = new_pfn {
                    self.pages.push(p);
                    self.page_origins.push(origin);
                }
            }
            Call::FreePage(pfn) => {
                if let Some(i) = self.pages.iter().position(|p| p == pfn) {
                    self.pages.remove(i);
                    self.page_origins.remove(i);
                }
            }
            Call::VfreeDeferred { addr, .. } => {
                if let Some(i) = self.areas.iter().position(|h| h.start == *addr) {
                    let h = self.areas.remove(i);
                    self.queued.push(h);
                }
            }
            Call::RunDeferred => {
                let q = std::mem::take(&mut self.queued);
                self.stale.extend(q.into_iter().map(|h| Stale {
                    start: h.start,
                    va_size: h.va_size,
                    origin: h.origin,
                }));
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
                self.stale.push(Stale {
                    start: h.start,
                    va_size: h.va_size,
                    origin: h.origin,
                });
            }
        }
        self.areas = kept;
        self.queued.retain(|q| {
            busy_after
                .iter()
                .any(|b| b.start == q.start && b.vm.is_some())
        });
        if self.stale.len() > STALE_KEEP {
            let drop = self.stale.len() - STALE_KEEP;
            self.stale.drain(..drop);
        }
    }

    fn area_origin(&self, a: Addr) -> Option<Origin> {
        match a {
            Addr::Area { slot, .. } => pick(&self.areas, slot).map(|h| Origin::Area(h.origin)),
            Addr::Stale { slot, .. } => pick(&self.stale, slot).map(|s| Origin::Stale(s.origin)),
            Addr::Null | Addr::Abs(_) => None,
        }
    }

    /// What each slot of `op` refers to now, in the order [`Tracker::reslot`] expects.
    pub fn origins(&self, op: &Op) -> Vec<Origin> {
        let page = |s: u32| {
            (!self.pages.is_empty())
                .then(|| Origin::Page(self.page_origins[s as usize % self.pages.len()]))
        };
        match op {
            Op::FreePage {
                page: PageRef::Caller(slot),
            } => page(*slot).into_iter().collect(),
            Op::Vmap { pages, .. } => pages.iter().filter_map(|&s| page(s)).collect(),
            Op::Vunmap { addr, .. }
            | Op::Vfree { addr }
            | Op::FreeVmArea { addr }
            | Op::FindVmArea { addr }
            | Op::VmallocToPfn { addr }
            | Op::IsVmallocAddr { addr } => self.area_origin(*addr).into_iter().collect(),
            Op::VfreeDeferred {
                target: DeferTarget::Writable(slot),
                ..
            }
            | Op::Write { slot, .. } => pick(&self.writable(), *slot)
                .map(|h| Origin::Area(h.origin))
                .into_iter()
                .collect(),
            Op::Read { slot, .. } => pick(&self.mapped(), *slot)
                .map(|h| Origin::Area(h.origin))
                .into_iter()
                .collect(),
            Op::RangeFit { start, end, .. } => [start, end]
                .into_iter()
                .filter_map(|e| match e.at {
                    EdgeAt::AreaStart(s) | EdgeAt::AreaEnd(s) => {
                        Some(pick(&self.areas, s).map(|h| Origin::Area(h.origin)))
                    }
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// `op` with its slots renumbered so that they refer to `wanted` (from [`Tracker::origins`]
    /// on an earlier run) in the current state; `None` if something it referred to no longer
    /// exists.
    pub fn reslot(&self, op: &Op, wanted: &[Origin]) -> Option<Op> {
        let area_slot = |list: &[&Handle], o: Origin| -> Option<u32> {
            let Origin::Area(o) = o else { return None };
            list.iter().position(|h| h.origin == o).map(|i| i as u32)
        };
        let all: Vec<&Handle> = self.areas.iter().collect();
        let addr = |a: Addr, o: Option<&Origin>| -> Option<Addr> {
            match (a, o) {
                (Addr::Area { offset, .. }, Some(&o)) => Some(Addr::Area {
                    slot: area_slot(&all, o)?,
                    offset,
                }),
                (Addr::Stale { offset, .. }, Some(&Origin::Stale(o))) => {
                    let i = self.stale.iter().position(|s| s.origin == o)?;
                    Some(Addr::Stale {
                        slot: i as u32,
                        offset,
                    })
                }
                (Addr::Null | Addr::Abs(_), None) => Some(a),
                _ => None,
            }
        };
        let page_slot = |o: Origin| -> Option<u32> {
            let Origin::Page(o) = o else { return None };
            self.page_origins
                .iter()
                .position(|&p| p == o)
                .map(|i| i as u32)
        };
        let mut op = op.clone();
        match &mut op {
            Op::FreePage {
                page: PageRef::Caller(slot),
            } => *slot = page_slot(*wanted.first()?)?,
            Op::Vmap { pages, .. } => {
                if pages.len() != wanted.len() {
                    return None;
                }
                for (s, &o) in pages.iter_mut().zip(wanted) {
                    *s = page_slot(o)?;
                }
            }
            Op::Vunmap { addr: a, .. }
            | Op::Vfree { addr: a }
            | Op::FreeVmArea { addr: a }
            | Op::FindVmArea { addr: a }
            | Op::VmallocToPfn { addr: a }
            | Op::IsVmallocAddr { addr: a } => *a = addr(*a, wanted.first())?,
            Op::VfreeDeferred {
                target: DeferTarget::Writable(slot),
                ..
            }
            | Op::Write { slot, .. } => *slot = area_slot(&self.writable(), *wanted.first()?)?,
            Op::Read { slot, .. } => *slot = area_slot(&self.mapped(), *wanted.first()?)?,
            Op::RangeFit { start, end, .. } => {
                let mut wanted = wanted.iter();
                for e in [start, end] {
                    if let EdgeAt::AreaStart(s) | EdgeAt::AreaEnd(s) = &mut e.at {
                        *s = area_slot(&all, *wanted.next()?)?;
                    }
                }
            }
            _ => {}
        }
        Some(op)
    }

    /// The calls that give everything back at the end of an input (design §3.5): free every
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

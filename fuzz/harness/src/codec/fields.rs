//! Field codecs: each field is a selector byte choosing a weighted bucket, then the bucket's
//! payload, with a raw escape that can express every valid value. Decoders map any payload
//! into the domain of [`Op::validate`](crate::ops::Op::validate); encoders pick the first
//! bucket that reproduces the value exactly.
//!
//! `design §N` cites a section of `docs/design.md`.

use super::io::{bucket, Reader, Writer};
use crate::ops::{
    Addr, DeferTarget, DerivedSize, Edge, EdgeAt, FitApi, Machine, PageRef, Prot, GFP_DMA32,
    GFP_HIGHMEM, GFP_KERNEL, GFP_NOFAIL, GFP_NOWARN, GFP_THISNODE, GFP_ZERO, MAX_ACCESS_LEN,
    MAX_GET_VM_AREA_SIZE, MAX_VMAP_PAGES, PAGE_SIZE, VM_ALLOC, VM_IOREMAP, VM_MAP, VM_NO_GUARD,
    VM_USERMAP,
};

// ---- sizes -------------------------------------------------------------------------------

/// Size buckets: one page; 1–16 pages; unaligned small; 513–600 pages (nested pages array,
/// R5); near totalram; a power of two; 17–512 pages; zero; raw.
const SIZE: [u8; 9] = [0, 40, 100, 130, 150, 166, 182, 222, 230];
/// Largest size of the unaligned-small bucket.
const SMALL_BYTES: u64 = 20480;

pub(super) fn near_ram(m: &Machine, b: u8) -> u64 {
    let pages = (m.totalram_pages() + u64::from(b % 9)).saturating_sub(4);
    pages
        .saturating_mul(PAGE_SIZE)
        .saturating_sub(u64::from((b / 9) & 1))
}

/// A vmalloc-family size.
pub(super) fn size(r: &mut Reader, m: &Machine) -> u64 {
    match bucket(r.u8(), &SIZE) {
        0 => PAGE_SIZE,
        1 => (1 + u64::from(r.u8() % 16)) * PAGE_SIZE,
        2 => 1 + u64::from(r.u16()) % SMALL_BYTES,
        3 => (513 + u64::from(r.u8() % 88)) * PAGE_SIZE,
        4 => near_ram(m, r.u8()),
        5 => 1 << (r.u8() % 64),
        6 => (17 + u64::from(r.u16()) % 496) * PAGE_SIZE,
        7 => 0,
        _ => r.u64(),
    }
}

pub(super) fn put_size(w: &mut Writer, m: &Machine, v: u64) {
    let pages = v / PAGE_SIZE;
    let aligned = v.is_multiple_of(PAGE_SIZE);
    if v == PAGE_SIZE {
        w.u8(SIZE[0]);
    } else if aligned && (1..=16).contains(&pages) {
        w.u8(SIZE[1]);
        w.u8((pages - 1) as u8);
    } else if aligned && (17..=512).contains(&pages) {
        w.u8(SIZE[6]);
        w.u16((pages - 17) as u16);
    } else if aligned && (513..=600).contains(&pages) {
        w.u8(SIZE[3]);
        w.u8((pages - 513) as u8);
    } else if v == 0 {
        w.u8(SIZE[7]);
    } else if v.is_power_of_two() {
        w.u8(SIZE[5]);
        w.u8(v.trailing_zeros() as u8);
    } else if (1..=SMALL_BYTES).contains(&v) {
        w.u8(SIZE[2]);
        w.u16((v - 1) as u16);
    } else if let Some(b) = (0..=255u8).find(|&b| near_ram(m, b) == v) {
        w.u8(SIZE[4]);
        w.u8(b);
    } else {
        w.u8(SIZE[8]);
        w.u64(v);
    }
}

/// A `get_vm_area`-family size: the same buckets, re-mapped below `MAX_GET_VM_AREA_SIZE`.
pub(super) fn vm_area_size(r: &mut Reader, m: &Machine) -> u64 {
    let v = size(r, m);
    if v > MAX_GET_VM_AREA_SIZE && !crate::ops::va_size_wraps(v) {
        v % (MAX_GET_VM_AREA_SIZE + 1)
    } else {
        v
    }
}

// ---- alignment ---------------------------------------------------------------------------

/// Align buckets: 1; 4096; 2^13..=2^22 (test_vmalloc's range, the selector is the payload);
/// 2^0..=2^63; raw (usually not a power of two: a BUG, kept only as the last op).
const ALIGN: [u8; 5] = [0, 80, 140, 210, 248];

pub(super) fn align(r: &mut Reader) -> u64 {
    let sel = r.u8();
    match bucket(sel, &ALIGN) {
        0 => 1,
        1 => PAGE_SIZE,
        2 => 1 << (13 + (sel - ALIGN[2]) % 10),
        3 => 1 << (r.u8() % 64),
        _ => r.u64(),
    }
}

pub(super) fn put_align(w: &mut Writer, v: u64) {
    let log = v.trailing_zeros();
    if v == 1 {
        w.u8(ALIGN[0]);
    } else if v == PAGE_SIZE {
        w.u8(ALIGN[1]);
    } else if v.is_power_of_two() && (13..=22).contains(&log) {
        w.u8(ALIGN[2] + (log - 13) as u8);
    } else if v.is_power_of_two() {
        w.u8(ALIGN[3]);
        w.u8(log as u8);
    } else {
        w.u8(ALIGN[4]);
        w.u64(v);
    }
}

// ---- ranges ------------------------------------------------------------------------------

/// `[start, end)` inside the window `[ws, we)`: start = `ws + (k % (pages + 1))` pages,
/// end = start + `len` pages clipped to `we`, or `we` itself for `len == 0`.
fn sub_window(ws: u64, we: u64, k: u64, len: u64) -> (u64, u64) {
    let pages = we.saturating_sub(ws) / PAGE_SIZE;
    let start = ws + k % (pages + 1) * PAGE_SIZE;
    let end = if len == 0 {
        we
    } else {
        start.saturating_add(len * PAGE_SIZE).min(we)
    };
    (start.min(we), end.max(start.min(we)))
}

/// An inverted sub-window of the vmalloc window: `start > end` ("no fit", design §3.3).
fn inverted(m: &Machine, k: u64, len: u64) -> (u64, u64) {
    let (ws, we) = (m.vmalloc_start, m.vmalloc_end);
    let top = ws + we.saturating_sub(ws) / PAGE_SIZE * PAGE_SIZE;
    let (lo, _) = sub_window(ws, we, k, 0);
    let hi = lo.saturating_add((len + 1) * PAGE_SIZE).min(top).max(lo);
    (hi, lo)
}

fn mapping_ok(m: &Machine, start: u64, end: u64) -> bool {
    let (lo, hi) = (start.min(end), start.max(end));
    start.is_multiple_of(PAGE_SIZE) && (m.in_vmalloc_window(lo, hi) || m.in_modules_window(lo, hi))
}

/// `__vmalloc_node_range` ranges: the full vmalloc window; the full modules window; a
/// vmalloc sub-window; a modules sub-window; an inverted vmalloc sub-window; raw.
const MAP_RANGE: [u8; 6] = [0, 100, 140, 200, 240, 248];

pub(super) fn mapping_range(r: &mut Reader, m: &Machine) -> (u64, u64) {
    match bucket(r.u8(), &MAP_RANGE) {
        0 => (m.vmalloc_start, m.vmalloc_end),
        1 => (m.modules_vaddr, m.modules_end),
        2 => {
            let (k, len) = (r.u16(), r.u16());
            sub_window(m.vmalloc_start, m.vmalloc_end, k.into(), len.into())
        }
        3 => {
            let (k, len) = (r.u16(), r.u16());
            sub_window(m.modules_vaddr, m.modules_end, k.into(), len.into())
        }
        4 => {
            let (k, len) = (r.u16(), r.u16());
            inverted(m, k.into(), len.into())
        }
        _ => {
            let (start, end) = (r.u64(), r.u64());
            if mapping_ok(m, start, end) {
                (start, end)
            } else {
                sub_window(m.vmalloc_start, m.vmalloc_end, start, end & 0xffff)
            }
        }
    }
}

pub(super) fn put_mapping_range(w: &mut Writer, m: &Machine, (start, end): (u64, u64)) {
    if (start, end) == (m.vmalloc_start, m.vmalloc_end) {
        w.u8(MAP_RANGE[0]);
    } else if (start, end) == (m.modules_vaddr, m.modules_end) {
        w.u8(MAP_RANGE[1]);
    } else {
        w.u8(MAP_RANGE[5]);
        w.u64(start);
        w.u64(end);
    }
}

/// `__get_vm_area` ranges: the full vmalloc window; a vmalloc sub-window; a modules
/// sub-window; `[2^64 - n pages, u64::MAX]` with n in 1..=64 (wrap-around, design §3.16);
/// an inverted vmalloc sub-window; raw (start page aligned in the kernel half, any end).
const GET_RANGE: [u8; 6] = [0, 80, 130, 160, 210, 230];

pub(super) fn get_range(r: &mut Reader, m: &Machine) -> (u64, u64) {
    match bucket(r.u8(), &GET_RANGE) {
        0 => (m.vmalloc_start, m.vmalloc_end),
        1 => {
            let (k, len) = (r.u16(), r.u16());
            sub_window(m.vmalloc_start, m.vmalloc_end, k.into(), len.into())
        }
        2 => {
            let (k, len) = (r.u16(), r.u16());
            sub_window(m.modules_vaddr, m.modules_end, k.into(), len.into())
        }
        3 => {
            let n = 1 + u64::from(r.u8() % 64);
            (0u64.wrapping_sub(n * PAGE_SIZE), u64::MAX)
        }
        4 => {
            let (k, len) = (r.u16(), r.u16());
            inverted(m, k.into(), len.into())
        }
        _ => {
            let (start, end) = (r.u64(), r.u64());
            let half = m.kernel_half();
            if start.is_multiple_of(PAGE_SIZE) && start >= half {
                (start, end)
            } else {
                ((start | half) & !(PAGE_SIZE - 1), end)
            }
        }
    }
}

pub(super) fn put_get_range(w: &mut Writer, m: &Machine, (start, end): (u64, u64)) {
    let top_pages = 0u64.wrapping_sub(start) / PAGE_SIZE;
    if (start, end) == (m.vmalloc_start, m.vmalloc_end) {
        w.u8(GET_RANGE[0]);
    } else if end == u64::MAX && start.is_multiple_of(PAGE_SIZE) && (1..=64).contains(&top_pages) {
        w.u8(GET_RANGE[3]);
        w.u8((top_pages - 1) as u8);
    } else {
        w.u8(GET_RANGE[5]);
        w.u64(start);
        w.u64(end);
    }
}

// ---- gfp, prot, flags, nodes ---------------------------------------------------------------

/// gfp byte: bit 0 ZERO, 1 NOWARN, 2 DMA32, 3 THISNODE, 4 HIGHMEM, bits 5+6 with bit 7 clear
/// NOFAIL (1/8). DMA32 with HIGHMEM is never produced: bit 7 says which of the two stays.
pub(super) fn gfp(r: &mut Reader) -> u64 {
    let b = r.u8();
    let mut g = GFP_KERNEL;
    let bit = |i: u8, flag: u64| if b & (1 << i) != 0 { flag } else { 0 };
    g |= bit(0, GFP_ZERO) | bit(1, GFP_NOWARN) | bit(3, GFP_THISNODE);
    let (dma32, high) = (b & 4 != 0, b & 16 != 0);
    g |= match (dma32, high) {
        (true, true) if b & 0x80 != 0 => GFP_DMA32,
        (true, true) => GFP_HIGHMEM,
        _ => bit(2, GFP_DMA32) | bit(4, GFP_HIGHMEM),
    };
    if b & 0xe0 == 0x60 {
        g |= GFP_NOFAIL;
    }
    g
}

pub(super) fn put_gfp(w: &mut Writer, g: u64) {
    let bit = |flag: u64, v: u8| if g & flag != 0 { v } else { 0 };
    w.u8(bit(GFP_ZERO, 1)
        | bit(GFP_NOWARN, 2)
        | bit(GFP_DMA32, 4)
        | bit(GFP_THISNODE, 8)
        | bit(GFP_HIGHMEM, 16)
        | bit(GFP_NOFAIL, 0x60));
}

pub(super) fn prot(r: &mut Reader) -> Prot {
    Prot::ALL[usize::from(r.u8()) % Prot::ALL.len()]
}

pub(super) fn put_prot(w: &mut Writer, p: Prot) {
    w.u8(Prot::ALL.iter().position(|&q| q == p).unwrap_or(0) as u8);
}

/// `get_vm_area` flags: any subset of IOREMAP/ALLOC/MAP/USERMAP/NO_GUARD.
pub(super) const AREA_FLAGS: u64 = VM_IOREMAP | VM_ALLOC | VM_MAP | VM_USERMAP | VM_NO_GUARD;
/// The extra flags `__vmalloc_node_range` and `vmap` take.
pub(super) const EXTRA_FLAGS: u64 = VM_NO_GUARD | VM_USERMAP;

/// A flags byte masked by `mask` (all the masks fit in the low byte).
pub(super) fn flags(r: &mut Reader, mask: u64) -> u64 {
    u64::from(r.u8()) & mask
}

pub(super) fn put_flags(w: &mut Writer, f: u64, mask: u64) {
    w.u8((f & mask) as u8);
}

/// Node byte: even is `None`; odd below `0xf1` is `Some((b >> 1) % nr_nodes)`; odd
/// `0xf1..=0xfd` a node the machine does not have, `nr_nodes + (b - 0xf1) / 2` (a BUG, last
/// op only); `0xff` a raw `u32`.
pub(super) fn node(r: &mut Reader, m: &Machine) -> Option<u32> {
    let b = r.u8();
    let nr = m.nodes.len().max(1) as u32;
    match b {
        0xff => Some(r.u32()),
        0xf1..=0xfd if b & 1 != 0 => Some(nr + u32::from(b - 0xf1) / 2),
        _ => (b & 1 != 0).then(|| u32::from(b >> 1) % nr),
    }
}

pub(super) fn put_node(w: &mut Writer, m: &Machine, n: Option<u32>) {
    let nr = m.nodes.len().max(1) as u32;
    match n {
        None => w.u8(0),
        Some(n) if n < nr && n < 0x78 => w.u8(((n as u8) << 1) | 1),
        Some(n) if n >= nr && n - nr <= 6 => w.u8(0xf1 + 2 * (n - nr) as u8),
        Some(n) => {
            w.u8(0xff);
            w.u32(n);
        }
    }
}

// ---- slots, offsets, addresses, lengths -----------------------------------------------------

/// Slot: a byte below 255 is the slot; 255 escapes to a raw `u32`.
pub(super) fn slot(r: &mut Reader) -> u32 {
    match r.u8() {
        255 => r.u32(),
        b => u32::from(b),
    }
}

pub(super) fn put_slot(w: &mut Writer, s: u32) {
    if s < 255 {
        w.u8(s as u8);
    } else {
        w.u8(255);
        w.u32(s);
    }
}

/// `lcm(1..=36)`: `(GUARD_LCM - 1)` pages modulo an area of at most 36 pages (guard
/// included) is its last page, i.e. the guard page of any such area.
const GUARD_LCM: u64 = lcm_upto(36);
/// The offset of the guard bucket.
pub const GUARD_OFFSET: u64 = (GUARD_LCM - 1) * PAGE_SIZE;

const fn lcm_upto(n: u64) -> u64 {
    let mut l = 1u64;
    let mut i = 2;
    while i <= n {
        let (mut a, mut b) = (l, i);
        while b != 0 {
            let t = a % b;
            a = b;
            b = t;
        }
        l = l / a * i;
        i += 1;
    }
    l
}

/// Offset buckets: 0; 1–40 pages (the selector is the payload); the guard page; a small
/// unaligned offset (`u16`); raw `u64`.
const OFFSET: [u8; 5] = [0, 160, 200, 220, 248];

pub(super) fn offset(r: &mut Reader) -> u64 {
    let sel = r.u8();
    match bucket(sel, &OFFSET) {
        0 => 0,
        1 => u64::from(sel - OFFSET[1] + 1) * PAGE_SIZE,
        2 => GUARD_OFFSET,
        3 => r.u16().into(),
        _ => r.u64(),
    }
}

pub(super) fn put_offset(w: &mut Writer, v: u64) {
    if v == 0 {
        w.u8(OFFSET[0]);
    } else if v.is_multiple_of(PAGE_SIZE) && (1..=40).contains(&(v / PAGE_SIZE)) {
        w.u8(OFFSET[1] + (v / PAGE_SIZE - 1) as u8);
    } else if v == GUARD_OFFSET {
        w.u8(OFFSET[2]);
    } else if v <= u64::from(u16::MAX) {
        w.u8(OFFSET[3]);
        w.u16(v as u16);
    } else {
        w.u8(OFFSET[4]);
        w.u64(v);
    }
}

/// Address buckets: a live area (slot, offset); a freed area (slot, offset); a wild address
/// in the first 32768 pages of the vmalloc window (odd payload: 16 bytes past a page start);
/// NULL; a raw `u64`.
const ADDR: [u8; 5] = [0, 200, 228, 244, 252];

pub(super) fn addr(r: &mut Reader, m: &Machine) -> Addr {
    match bucket(r.u8(), &ADDR) {
        0 => {
            let slot = slot(r);
            Addr::Area {
                slot,
                offset: offset(r),
            }
        }
        1 => {
            let slot = slot(r);
            Addr::Stale {
                slot,
                offset: offset(r),
            }
        }
        2 => {
            let p = r.u16();
            let pages = (m.vmalloc_end.saturating_sub(m.vmalloc_start) / PAGE_SIZE + 1).max(1);
            let page = u64::from(p >> 1) % pages;
            Addr::Abs(m.vmalloc_start + page * PAGE_SIZE + u64::from(p & 1) * 16)
        }
        3 => Addr::Null,
        _ => Addr::Abs(r.u64()),
    }
}

pub(super) fn put_addr(w: &mut Writer, a: Addr) {
    match a {
        Addr::Area { slot, offset } => {
            w.u8(ADDR[0]);
            put_slot(w, slot);
            put_offset(w, offset);
        }
        Addr::Stale { slot, offset } => {
            w.u8(ADDR[1]);
            put_slot(w, slot);
            put_offset(w, offset);
        }
        Addr::Null => w.u8(ADDR[3]),
        Addr::Abs(v) => {
            w.u8(ADDR[4]);
            w.u64(v);
        }
    }
}

/// Page delta byte: low 3 bits `0..=3` are 0, `4`/`5` −1, `6` +1, `7` the byte's signed
/// value shifted right by 3 (`-16..=15`).
pub(super) fn delta(r: &mut Reader) -> i8 {
    let b = r.u8();
    match b & 7 {
        0..=3 => 0,
        4 | 5 => -1,
        6 => 1,
        _ => (b as i8) >> 3,
    }
}

pub(super) fn put_delta(w: &mut Writer, d: i8) {
    w.u8(match d {
        0 => 0,
        -1 => 4,
        1 => 6,
        d => ((d << 3) | 7) as u8,
    });
}

/// Derived size: `0..=99` a gap (slot-coded index), `100..=149` the largest gap, `150..=179`
/// the lazy room, `180..=209` the free pages, `210..=229` the array limit, `230..=255` the
/// window; then the delta.
const DERIVED: [u8; 6] = [0, 100, 150, 180, 210, 230];

pub(super) fn derived_size(r: &mut Reader) -> DerivedSize {
    let sel = bucket(r.u8(), &DERIVED);
    let k = if sel == 0 { slot(r) } else { 0 };
    let delta = delta(r);
    match sel {
        0 => DerivedSize::Gap { k, delta },
        1 => DerivedSize::Largest { delta },
        2 => DerivedSize::LazyRoom { delta },
        3 => DerivedSize::FreePages { delta },
        4 => DerivedSize::ArrayLimit { delta },
        _ => DerivedSize::Window { delta },
    }
}

pub(super) fn put_derived_size(w: &mut Writer, d: DerivedSize) {
    match d {
        DerivedSize::Gap { k, .. } => {
            w.u8(DERIVED[0]);
            put_slot(w, k);
        }
        DerivedSize::Largest { .. } => w.u8(DERIVED[1]),
        DerivedSize::LazyRoom { .. } => w.u8(DERIVED[2]),
        DerivedSize::FreePages { .. } => w.u8(DERIVED[3]),
        DerivedSize::ArrayLimit { .. } => w.u8(DERIVED[4]),
        DerivedSize::Window { .. } => w.u8(DERIVED[5]),
    }
    put_delta(w, d.delta());
}

/// Window edge: `0..=63` a gap's start, `64..=127` a gap's end (slot-coded index),
/// `128..=159` the largest gap's start, `160..=191` its end, `192..=223` a live area's start,
/// `224..=243` a live area's end (slot), `244..=249` the window start, `250..=255` its end;
/// then the delta.
const EDGE: [u8; 8] = [0, 64, 128, 160, 192, 224, 244, 250];

pub(super) fn edge(r: &mut Reader) -> Edge {
    let sel = bucket(r.u8(), &EDGE);
    let at = match sel {
        0 => EdgeAt::GapStart(slot(r)),
        1 => EdgeAt::GapEnd(slot(r)),
        2 => EdgeAt::LargestStart,
        3 => EdgeAt::LargestEnd,
        4 => EdgeAt::AreaStart(slot(r)),
        5 => EdgeAt::AreaEnd(slot(r)),
        6 => EdgeAt::WindowStart,
        _ => EdgeAt::WindowEnd,
    };
    Edge {
        at,
        delta: delta(r),
    }
}

pub(super) fn put_edge(w: &mut Writer, e: Edge) {
    match e.at {
        EdgeAt::GapStart(k) => {
            w.u8(EDGE[0]);
            put_slot(w, k);
        }
        EdgeAt::GapEnd(k) => {
            w.u8(EDGE[1]);
            put_slot(w, k);
        }
        EdgeAt::LargestStart => w.u8(EDGE[2]),
        EdgeAt::LargestEnd => w.u8(EDGE[3]),
        EdgeAt::AreaStart(s) => {
            w.u8(EDGE[4]);
            put_slot(w, s);
        }
        EdgeAt::AreaEnd(s) => {
            w.u8(EDGE[5]);
            put_slot(w, s);
        }
        EdgeAt::WindowStart => w.u8(EDGE[6]),
        EdgeAt::WindowEnd => w.u8(EDGE[7]),
    }
    put_delta(w, e.delta);
}

/// `fit` API: `0..=159` vmalloc, `160..=207` module_alloc, `208..=255` get_vm_area with a
/// flags byte.
pub(super) fn fit_api(r: &mut Reader) -> FitApi {
    match r.u8() {
        0..=159 => FitApi::Vmalloc,
        160..=207 => FitApi::ModuleAlloc,
        _ => FitApi::GetVmArea {
            flags: flags(r, AREA_FLAGS),
        },
    }
}

pub(super) fn put_fit_api(w: &mut Writer, a: FitApi) {
    match a {
        FitApi::Vmalloc => w.u8(0),
        FitApi::ModuleAlloc => w.u8(160),
        FitApi::GetVmArea { flags } => {
            w.u8(208);
            put_flags(w, flags, AREA_FLAGS);
        }
    }
}

/// `__free_page` operand: `0..=239` caller page `sel`; `240..=243` caller page `u32`;
/// `244..=251` PFN `u16` (the low PFNs hold table, data and caller pages); `252..=255` raw
/// PFN `u64`. A PFN is a BUG when the caller does not own it (design §5.5; last op only).
pub(super) fn page_ref(r: &mut Reader) -> PageRef {
    match r.u8() {
        b @ 0..=239 => PageRef::Caller(u32::from(b)),
        240..=243 => PageRef::Caller(r.u32()),
        244..=251 => PageRef::Pfn(u64::from(r.u16())),
        _ => PageRef::Pfn(r.u64()),
    }
}

pub(super) fn put_page_ref(w: &mut Writer, p: PageRef) {
    match p {
        PageRef::Caller(s) if s < 240 => w.u8(s as u8),
        PageRef::Caller(s) => {
            w.u8(240);
            w.u32(s);
        }
        PageRef::Pfn(v) if v <= u64::from(u16::MAX) => {
            w.u8(244);
            w.u16(v as u16);
        }
        PageRef::Pfn(v) => {
            w.u8(252);
            w.u64(v);
        }
    }
}

/// Deferred-free operand: `0..=239` writable mapping `sel`; `240..=243` writable mapping
/// `u32`; `244..=251` a page-aligned address in the vmalloc window (`u16` pages from its
/// start); `252..=255` raw `u64` (both oops unless mapped writable: last op only).
pub(super) fn defer_target(r: &mut Reader, m: &Machine) -> DeferTarget {
    match r.u8() {
        b @ 0..=239 => DeferTarget::Writable(u32::from(b)),
        240..=243 => DeferTarget::Writable(r.u32()),
        244..=251 => {
            let pages = (m.vmalloc_end.saturating_sub(m.vmalloc_start) / PAGE_SIZE + 1).max(1);
            let page = u64::from(r.u16()) % pages;
            DeferTarget::Addr(m.vmalloc_start + page * PAGE_SIZE)
        }
        _ => DeferTarget::Addr(r.u64()),
    }
}

pub(super) fn put_defer_target(w: &mut Writer, t: DeferTarget) {
    match t {
        DeferTarget::Writable(s) if s < 240 => w.u8(s as u8),
        DeferTarget::Writable(s) => {
            w.u8(240);
            w.u32(s);
        }
        DeferTarget::Addr(v) => {
            w.u8(252);
            w.u64(v);
        }
    }
}

/// Access length: selector `< 192` is `1 + sel`; `< 240` a `u16` (`1 + v`); else raw `u32`.
pub(super) fn access_len(r: &mut Reader) -> u32 {
    match r.u8() {
        b @ 0..=191 => 1 + u32::from(b),
        192..=239 => 1 + u32::from(r.u16()) % MAX_ACCESS_LEN,
        _ => match r.u32() {
            v @ 1..=MAX_ACCESS_LEN => v,
            v => 1 + v % MAX_ACCESS_LEN,
        },
    }
}

pub(super) fn put_access_len(w: &mut Writer, len: u32) {
    if (1..=192).contains(&len) {
        w.u8((len - 1) as u8);
    } else if (193..=MAX_ACCESS_LEN).contains(&len) {
        w.u8(192);
        w.u16((len - 1) as u16);
    } else {
        w.u8(240);
        w.u32(len);
    }
}

/// vmap page count: selector `< 240` is `sel % 17`; else a byte `% (MAX_VMAP_PAGES + 1)`.
pub(super) fn vmap_count(r: &mut Reader) -> usize {
    match r.u8() {
        b @ 0..=239 => usize::from(b % 17),
        _ => usize::from(r.u8()) % (MAX_VMAP_PAGES + 1),
    }
}

pub(super) fn put_vmap_count(w: &mut Writer, n: usize) {
    if n <= 16 {
        w.u8(n as u8);
    } else {
        w.u8(240);
        w.u8(n.min(255) as u8);
    }
}

/// `vunmap` context byte: 240 and above is interrupt context (a BUG, last op only).
pub(super) fn irq(r: &mut Reader) -> bool {
    r.u8() >= 240
}

pub(super) fn put_irq(w: &mut Writer, irq: bool) {
    w.u8(if irq { 240 } else { 0 });
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    fn round_trip<T: PartialEq + std::fmt::Debug + Copy>(
        v: T,
        put: impl Fn(&mut Writer, T),
        get: impl Fn(&mut Reader) -> T,
    ) {
        let mut w = Writer::default();
        put(&mut w, v);
        let mut u = Unstructured::new(&w.out);
        let mut r = Reader::new(&mut u);
        assert_eq!(get(&mut r), v, "bytes {:?}", w.out);
        assert!(r.is_empty(), "{v:?} left bytes unread");
    }

    #[test]
    fn guard_offset_hits_the_last_page_of_small_areas() {
        for pages in 1..=36u64 {
            assert_eq!(GUARD_OFFSET % (pages * PAGE_SIZE), (pages - 1) * PAGE_SIZE);
        }
    }

    #[test]
    fn field_codecs_invert() {
        let m = Machine::default();
        let ram = m.totalram_pages() * PAGE_SIZE;
        let sizes = [
            0,
            1,
            4095,
            PAGE_SIZE,
            16 * PAGE_SIZE,
            17 * PAGE_SIZE,
            512 * PAGE_SIZE,
            513 * PAGE_SIZE,
            600 * PAGE_SIZE,
            601 * PAGE_SIZE,
            SMALL_BYTES,
            SMALL_BYTES + 1,
            ram,
            ram - 1,
            ram + 4 * PAGE_SIZE,
            1 << 63,
            u64::MAX,
        ];
        for v in sizes {
            round_trip(v, |w, v| put_size(w, &m, v), |r| size(r, &m));
        }
        for v in [
            0,
            1,
            2,
            3,
            PAGE_SIZE,
            1 << 13,
            1 << 22,
            1 << 23,
            1 << 63,
            u64::MAX,
        ] {
            round_trip(v, put_align, align);
        }
        for g in 0..=u64::from(u8::MAX) {
            let byte = [g as u8];
            let mut u = Unstructured::new(&byte);
            let gfp = gfp(&mut Reader::new(&mut u));
            assert!(gfp & GFP_DMA32 == 0 || gfp & GFP_HIGHMEM == 0);
            round_trip(gfp, put_gfp, super::gfp);
        }
        for v in [0, 1, 254, 255, 256, u32::MAX] {
            round_trip(v, put_slot, slot);
        }
        for v in [
            0,
            1,
            PAGE_SIZE,
            40 * PAGE_SIZE,
            41 * PAGE_SIZE,
            GUARD_OFFSET,
            0xffff,
            0x10001,
            u64::MAX,
        ] {
            round_trip(v, put_offset, offset);
        }
        for v in [1, 192, 193, 0xffff, MAX_ACCESS_LEN] {
            round_trip(v, put_access_len, access_len);
        }
        for v in [0, 16, 17, MAX_VMAP_PAGES] {
            round_trip(v, put_vmap_count, vmap_count);
        }
        let top = (0u64.wrapping_sub(64 * PAGE_SIZE), u64::MAX);
        for v in [
            (m.vmalloc_start, m.vmalloc_end),
            top,
            (m.kernel_half(), 0),
            (u64::MAX - 4095, 5),
        ] {
            round_trip(v, |w, v| put_get_range(w, &m, v), |r| get_range(r, &m));
        }
        let mods = (m.modules_vaddr, m.modules_end);
        for v in [
            (m.vmalloc_start, m.vmalloc_end),
            mods,
            (mods.1, mods.0),
            (m.vmalloc_start + PAGE_SIZE, m.vmalloc_start + 1),
        ] {
            round_trip(
                v,
                |w, v| put_mapping_range(w, &m, v),
                |r| mapping_range(r, &m),
            );
        }
    }

    #[test]
    fn every_selector_gives_a_domain_value() {
        let m = Machine {
            vmalloc_end: Machine::default().vmalloc_start + 16 * PAGE_SIZE - 1,
            ..Machine::default()
        };
        for sel in 0..=255u8 {
            for payload in [[0u8; 16], [0xff; 16], [0x5a; 16]] {
                let data: Vec<u8> = std::iter::once(sel).chain(payload).collect();
                let read = |f: &dyn Fn(&mut Reader) -> u64| {
                    let mut u = Unstructured::new(&data);
                    f(&mut Reader::new(&mut u))
                };
                assert!(read(&|r| vm_area_size(r, &m)) <= MAX_GET_VM_AREA_SIZE);
                let (s, e) = {
                    let mut u = Unstructured::new(&data);
                    mapping_range(&mut Reader::new(&mut u), &m)
                };
                assert!(mapping_ok(&m, s, e), "sel {sel}: {s:#x}-{e:#x}");
                let (s, _) = {
                    let mut u = Unstructured::new(&data);
                    get_range(&mut Reader::new(&mut u), &m)
                };
                assert!(
                    s.is_multiple_of(PAGE_SIZE) && s >= m.kernel_half(),
                    "sel {sel}: {s:#x}"
                );
                let len = read(&|r| u64::from(access_len(r)));
                assert!((1..=u64::from(MAX_ACCESS_LEN)).contains(&len));
                assert!(read(&|r| vmap_count(r) as u64) <= MAX_VMAP_PAGES as u64);
                if let Addr::Abs(a) = {
                    let mut u = Unstructured::new(&data);
                    addr(&mut Reader::new(&mut u), &m)
                } {
                    if (ADDR[2]..ADDR[3]).contains(&sel) {
                        assert!(a >= m.vmalloc_start && a < m.vmalloc_end, "{a:#x}");
                    }
                }
            }
        }
    }
}

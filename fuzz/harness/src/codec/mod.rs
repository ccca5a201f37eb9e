//! The fuzz-input byte format, which is also the generator (design §4.1).
//!
//! [`decode`] is total: every byte string decodes to an [`Input`] that passes
//! [`Input::validate`]. [`encode`] is its inverse on valid inputs: `decode(encode(x)) == x`,
//! which is how a text trace becomes a libFuzzer, AFL, bolero or OSS-Fuzz seed. The decoder
//! reads only fixed-width integers through `arbitrary::Unstructured` (little-endian,
//! zero-padded once the data runs out) and maps them into ranges by its own arithmetic, so
//! the format does not depend on `arbitrary`'s range helpers.
//!
//! # Byte layout
//!
//! Every field is a selector byte (`u8`) choosing a weighted bucket, then the bucket's
//! payload; the last bucket of most fields is a raw escape able to express any valid value.
//! Out-of-domain raw values are re-mapped into the domain; valid values decode to themselves.
//!
//! 1. **Machine selector** `u8`: `0..=247` a small fuzz machine, `248..=254`
//!    [`Machine::default`], `255` every field raw.
//!    - *Small machine* (exhaustion, purges and retries are common):
//!      `shape: u8` (nodes = `1 + (shape & 3)`; bits 2..5 = 0: the last node of a multi-node
//!      machine starts at PFN 0x100000 (ZONE_NORMAL), = 1: it straddles PFN 0x100000), one
//!      `u8` per node (`[64,128,256,512,1024,2048,4096,16384][b & 7] + (b >> 3)` pages, node 0
//!      spanning `[0, 256 + pages)`), `cpus: u8` (`[1,2,4,8,16,32,64][c & 7]`, 7 reads
//!      `1 + u8 % 64`), `mode: u8` (`mode & 7 == 0` LA57; `(mode >> 3) & 7` picks PTE scenario
//!      A,A,A,A,B,C,D,E; `mode >> 6 == 0` the full vmalloc window, else `u16 v`: start = full
//!      start + `(v & 0xff)` GiB, length `[16,64,256,1024,16384][(v >> 8) % 5]` pages, end =
//!      start + length − 1), `modules: u8` (bit 0: KASLR `MODULES_VADDR` 0xffffffffc0000000;
//!      bit 1: `u16 o`, `module_load_offset = (1 + o % 1024) * 4096`).
//!    - *Raw machine*: `paging u8` (bit 0: LA57), `cpus u8`, `pte u8 % 5`, `nodes u8`, per
//!      node `start_pfn u64, end_pfn u64`, `vmalloc_start u64, vmalloc_end u64`,
//!      `modules u8` (bit 0: KASLR start), `load_offset_pages u16` (`% 1025`).
//! 2. **Version knobs** `u8` (semantics §13): `0..=191` the defaults; `192..=215` the
//!    v4.19.0 preset; `216..=251` one knob off its default (the nine non-default values in
//!    [`crate::ops::KNOBS`] order, `(sel − 216) % 9`); `252..=255` six raw value-index bytes,
//!    each taken modulo its knob's number of values.
//! 3. **Fault plan** `u8`: `0..=191` none; `192..=254` `1 + sel % 3` entries of
//!    `(kind u8 % 5, b u8)` with `k = 1 + b % 4` for `b < 128`, else `1 + b % 32`; `255` raw:
//!    `count u8` (≤ 16), then `(kind u8, k u32)` per entry.
//! 4. **Swarm** (design §7, "Swarm testing"): `mask u32` (bit i enables op kind i of
//!    [`OpKind::ALL`]; with no allocating kind, `vmalloc` is enabled) and `weights u64` (2 bits per
//!    kind: the base weight is multiplied by 1, 2, 4 or 8). The encoder writes all-enabled,
//!    base weights (`0xffffffff`, `0`).
//! 5. **Finale** `u8`: `0..=199` none; else one of twelve BUG-provoking ops, its payload read
//!    here, appended as the last op (see `finale` below: every typed BUG of the contract
//!    ends some finale). The encoder writes `0`: a BUG-provoking last op is encoded as an op.
//! 6. **Ops**, until the data is empty or [`MAX_OPS`]: `kind u16`, taken modulo the total
//!    enabled weight and looked up in the cumulative weights, then the kind's fields in
//!    declaration order of [`Op`]. Field codecs (selector ranges inclusive):
//!    - size: `0..=39` one page; `40..=99` 1–16 pages (`u8`); `100..=129` 1–20480 bytes
//!      (`u16`); `130..=149` 513–600 pages, a nested pages array (R5, `u8`); `150..=165`
//!      totalram −4..+4 pages, sometimes one byte less (`u8`); `166..=181` `2^(u8 % 64)`;
//!      `182..=221` 17–512 pages (`u16`); `222..=229` zero; `230..=255` raw `u64`.
//!      `get_vm_area` sizes are then taken modulo `MAX_GET_VM_AREA_SIZE + 1` if above it,
//!      except those whose VA wraps to zero (`(2^64 − 8192, 2^64 − 4096]`, last op only).
//!    - align: `0..=79` 1; `80..=139` 4096; `140..=209` `2^(13 + (sel − 140) % 10)`;
//!      `210..=247` `2^(u8 % 64)`; `248..=255` raw `u64`.
//!    - mapping range (`__vmalloc_node_range`): `0..=99` the vmalloc window; `100..=139` the
//!      modules window; `140..=199` / `200..=239` a vmalloc / modules sub-window
//!      (`k u16, len u16`: start = window start + `k % (pages + 1)` pages, end = start + `len`
//!      pages clipped to the window end, or the window end for `len == 0`); `240..=247` an
//!      inverted vmalloc sub-window (`start > end`); `248..=255` raw `(start u64, end u64)`.
//!    - `__get_vm_area` range: `0..=79` the vmalloc window; `80..=129` vmalloc sub-window;
//!      `130..=159` modules sub-window; `160..=209` `[2^64 − (1 + u8 % 64) pages, u64::MAX]`
//!      (design §3.16's wrap-around tests); `210..=229` inverted; `230..=255` raw.
//!    - gfp `u8`: bits 0 ZERO, 1 NOWARN, 2 DMA32, 3 THISNODE, 4 HIGHMEM; bits 7..5 = `011`
//!      NOFAIL; with both DMA32 and HIGHMEM set, bit 7 keeps DMA32, else HIGHMEM.
//!    - prot `u8 % 5`; flags `u8` masked to the op's allowed bits (`vmap` adds `VM_MAP`);
//!      node `u8`: even `None`, odd `Some((b >> 1) % nr_nodes)`, odd `0xf1..=0xfd` the
//!      missing node `nr_nodes + (b − 0xf1) / 2`, `0xff` raw `u32`.
//!    - slot `u8`, 255 escapes to `u32`. Offset: `0..=159` 0; `160..=199` 1–40 pages;
//!      `200..=219` [`GUARD_OFFSET`]; `220..=247` `u16`; `248..=255` `u64`.
//!    - address: `0..=199` area (slot, offset); `200..=227` stale (slot, offset);
//!      `228..=243` a wild address in the vmalloc window (`u16`); `244..=251` NULL;
//!      `252..=255` raw `u64`.
//!    - `fit`: API `u8` (`0..=159` vmalloc, `160..=207` module_alloc, else get_vm_area and
//!      a flags byte), then a derived size. `range_fit`: derived size, align, start edge, end
//!      edge, flags. Derived size `u8`: `0..=99` gap (slot-coded index), `100..=149` largest,
//!      `150..=179` lazy room, `180..=209` free pages, `210..=229` array limit, else window.
//!      Edge `u8`: `0..=63` gap start, `64..=127` gap end (slot), `128..=159` largest start,
//!      `160..=191` largest end, `192..=223` area start, `224..=243` area end (slot),
//!      `244..=249` window start, else window end. Each then a delta byte (low bits `0..=3`:
//!      0, `4`/`5`: −1, `6`: +1, `7`: `(b as i8) >> 3`).
//!    - `free_vm_area`: an address. `free_page`: `0..=239` caller page `sel`, `240..=243`
//!      caller page `u32`, `244..=251` PFN `u16`, `252..=255` PFN `u64`. Deferred frees:
//!      `0..=239` writable mapping `sel`, `240..=243` `u32`, `244..=251` a window page
//!      (`u16`), `252..=255` raw address `u64`.
//!    - vmap: count `u8` (`< 240`: `sel % 17`; else `u8 % 65`), one slot per page, flags,
//!      prot. vunmap: address, then context `u8` (`>= 240` interrupt). write/read: slot,
//!      offset, length (`< 192`: `1 + sel`; `< 240`: `1 + u16`; else raw `u32`), write's
//!      seed `u8`.
//!
//! BUG-provoking ops ([`Op::may_bug`]) survive only as the last op: an earlier one is
//! neutralised after decoding (align to the next power of two, or 1; vunmap to process
//! context; a missing node modulo the node count; a wrapping `get_vm_area` size modulo the
//! limit; `free_vm_area` to an `area#N` start; a PFN or a literal deferred address to a slot).
//! A valid input never has one earlier, so the round trip holds.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod fields;
mod io;
mod machine;

use arbitrary::Unstructured;

use crate::ops::{
    Addr, DeferTarget, Input, KindTraits, Machine, Op, OpKind, PageRef, Prot, VmallocApi,
    GFP_KERNEL, GFP_NOFAIL, MAX_GET_VM_AREA_SIZE, MAX_OPS, PAGE_SIZE,
};
pub use fields::GUARD_OFFSET;
use io::{Reader, Writer};

/// Decode a fuzz input. Total: the result always passes [`Input::validate`].
pub fn decode(data: &[u8]) -> Input {
    decode_from(&mut Unstructured::new(data))
}

/// Decode a fuzz input from an `Unstructured` (for engines that hand one out).
pub fn decode_from(u: &mut Unstructured) -> Input {
    let mut r = Reader::new(u);
    let machine = machine::decode(&mut r);
    let swarm = Swarm::decode(&mut r);
    let last = finale(&mut r, &machine);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !r.is_empty() {
        let kind = swarm.pick(r.u16());
        ops.push(decode_op(kind, &mut r, &machine));
    }
    if let Some(op) = last {
        ops.truncate(MAX_OPS - 1);
        ops.push(op);
    }
    neutralise(&mut ops, &machine);
    Input { machine, ops }
}

/// The op-kind weights `data`'s ops are drawn with (its swarm, design §7), in [`OpKind::ALL`]
/// order: each op is kind `k` with probability `weights[k] / sum` (the finale aside). For
/// statistics over generated inputs, such as the generator-health test's expectations.
pub fn swarm_weights(data: &[u8]) -> [u32; OpKind::COUNT] {
    let mut u = Unstructured::new(data);
    let mut r = Reader::new(&mut u);
    let _ = machine::decode(&mut r);
    let c = Swarm::decode(&mut r).cumulative;
    std::array::from_fn(|i| if i == 0 { c[0] } else { c[i] - c[i - 1] })
}

/// Encode an input so that [`decode`] gives it back (for every valid input).
pub fn encode(input: &Input) -> Vec<u8> {
    let mut w = Writer::default();
    let m = &input.machine;
    machine::encode(&mut w, m);
    w.u32(u32::MAX);
    w.u64(0);
    w.u8(0); // no finale: a BUG-provoking last op is encoded like any other op
    let swarm = Swarm::all();
    for op in &input.ops {
        w.u16(swarm.first_value(op.kind()));
        encode_op(&mut w, m, op);
    }
    w.out
}

/// Per-input op-kind weights, cumulative, in [`OpKind::ALL`] order.
struct Swarm {
    cumulative: [u32; OpKind::COUNT],
}

impl Swarm {
    fn from_weights(weights: [u32; OpKind::COUNT]) -> Self {
        let mut cumulative = [0; OpKind::COUNT];
        let mut sum = 0;
        for (c, w) in cumulative.iter_mut().zip(weights) {
            sum += w;
            *c = sum;
        }
        Swarm { cumulative }
    }

    fn decode(r: &mut Reader) -> Self {
        let (mask, factors) = (r.u32(), r.u64());
        let weights = OpKind::ALL.map(|k| {
            let i = k.index();
            if mask >> i & 1 != 0 {
                k.weight() << (factors >> (2 * i) & 3)
            } else {
                0
            }
        });
        let mut weights = weights;
        let allocates = |k: &OpKind| k.is(KindTraits::ALLOCATES);
        if OpKind::ALL
            .iter()
            .filter(|k| allocates(k))
            .all(|k| weights[k.index()] == 0)
        {
            weights[OpKind::Vmalloc.index()] = OpKind::Vmalloc.weight();
        }
        Self::from_weights(weights)
    }

    /// Everything enabled with the base weights (what the encoder writes).
    fn all() -> Self {
        Self::from_weights(OpKind::ALL.map(OpKind::weight))
    }

    fn total(&self) -> u32 {
        self.cumulative[OpKind::COUNT - 1].max(1)
    }

    fn pick(&self, v: u16) -> OpKind {
        let x = u32::from(v) % self.total();
        let i = self.cumulative.iter().position(|&c| x < c).unwrap_or(0);
        OpKind::ALL[i]
    }

    /// The smallest `v` with `pick(v) == kind`.
    fn first_value(&self, kind: OpKind) -> u16 {
        let start = match kind.index() {
            0 => 0,
            i => self.cumulative[i - 1],
        };
        start as u16
    }
}

fn decode_op(kind: OpKind, r: &mut Reader, m: &Machine) -> Op {
    use fields::*;
    match kind {
        OpKind::Vmalloc
        | OpKind::Vzalloc
        | OpKind::VmallocUser
        | OpKind::VmallocExec
        | OpKind::Vmalloc32
        | OpKind::Vmalloc32User => Op::Vmalloc {
            api: VmallocApi::of(kind).unwrap_or(VmallocApi::Vmalloc),
            size: size(r, m),
        },
        OpKind::VmallocNode | OpKind::VzallocNode => Op::VmallocNode {
            zero: kind == OpKind::VzallocNode,
            size: size(r, m),
            node: node(r, m),
        },
        OpKind::VmallocGfp => Op::VmallocGfp {
            size: size(r, m),
            gfp: gfp(r),
            prot: prot(r),
        },
        OpKind::VmallocRange => {
            let size = size(r, m);
            let align = align(r);
            let (start, end) = mapping_range(r, m);
            Op::VmallocRange {
                size,
                align,
                start,
                end,
                gfp: gfp(r),
                prot: prot(r),
                vm_flags: flags(r, EXTRA_FLAGS),
                node: node(r, m),
            }
        }
        OpKind::ModuleAlloc => Op::ModuleAlloc { size: size(r, m) },
        OpKind::GetVmArea | OpKind::GetVmAreaRange => {
            let size = vm_area_size(r, m);
            let flags = flags(r, AREA_FLAGS);
            let range = (kind == OpKind::GetVmAreaRange).then(|| get_range(r, m));
            Op::GetVmArea { size, flags, range }
        }
        OpKind::FreeVmArea => Op::FreeVmArea { addr: addr(r, m) },
        OpKind::AllocPage => Op::AllocPage {
            gfp: gfp(r),
            node: node(r, m),
        },
        OpKind::FreePage => Op::FreePage { page: page_ref(r) },
        OpKind::Vmap => {
            let n = vmap_count(r);
            let pages = (0..n).map(|_| slot(r)).collect();
            Op::Vmap {
                pages,
                flags: crate::ops::VM_MAP | flags(r, EXTRA_FLAGS),
                prot: prot(r),
            }
        }
        OpKind::Vunmap => Op::Vunmap {
            addr: addr(r, m),
            irq: irq(r),
        },
        OpKind::Vfree => Op::Vfree { addr: addr(r, m) },
        OpKind::VfreeIrq | OpKind::VfreeAtomic => Op::VfreeDeferred {
            target: defer_target(r, m),
            atomic: kind == OpKind::VfreeAtomic,
        },
        OpKind::RunDeferred => Op::RunDeferred,
        OpKind::VmUnmapAliases => Op::VmUnmapAliases,
        OpKind::FindVmArea => Op::FindVmArea { addr: addr(r, m) },
        OpKind::VmallocToPfn => Op::VmallocToPfn { addr: addr(r, m) },
        OpKind::IsVmallocAddr => Op::IsVmallocAddr { addr: addr(r, m) },
        OpKind::Vmallocinfo => Op::Vmallocinfo,
        OpKind::Write => Op::Write {
            slot: slot(r),
            offset: offset(r),
            len: access_len(r),
            seed: r.u8(),
        },
        OpKind::Read => Op::Read {
            slot: slot(r),
            offset: offset(r),
            len: access_len(r),
        },
        OpKind::Fit => Op::Fit {
            api: fit_api(r),
            size: derived_size(r),
        },
        OpKind::RangeFit => {
            let size = derived_size(r);
            let align = align(r);
            let start = edge(r);
            let end = edge(r);
            Op::RangeFit {
                size,
                align,
                start,
                end,
                vm_flags: flags(r, EXTRA_FLAGS),
            }
        }
    }
}

fn encode_op(w: &mut Writer, m: &Machine, op: &Op) {
    use fields::*;
    match op {
        Op::Vmalloc { size, .. } | Op::ModuleAlloc { size } => put_size(w, m, *size),
        Op::VmallocNode { size, node, .. } => {
            put_size(w, m, *size);
            put_node(w, m, *node);
        }
        Op::VmallocGfp { size, gfp, prot } => {
            put_size(w, m, *size);
            put_gfp(w, *gfp);
            put_prot(w, *prot);
        }
        Op::VmallocRange {
            size,
            align,
            start,
            end,
            gfp,
            prot,
            vm_flags,
            node,
        } => {
            put_size(w, m, *size);
            put_align(w, *align);
            put_mapping_range(w, m, (*start, *end));
            put_gfp(w, *gfp);
            put_prot(w, *prot);
            put_flags(w, *vm_flags, EXTRA_FLAGS);
            put_node(w, m, *node);
        }
        Op::GetVmArea { size, flags, range } => {
            put_size(w, m, *size);
            put_flags(w, *flags, AREA_FLAGS);
            if let Some(range) = range {
                put_get_range(w, m, *range);
            }
        }
        Op::FreeVmArea { addr } => put_addr(w, *addr),
        Op::FreePage { page } => put_page_ref(w, *page),
        Op::VfreeDeferred { target, .. } => put_defer_target(w, *target),
        Op::AllocPage { gfp, node } => {
            put_gfp(w, *gfp);
            put_node(w, m, *node);
        }
        Op::Vmap { pages, flags, prot } => {
            put_vmap_count(w, pages.len());
            for &p in pages {
                put_slot(w, p);
            }
            put_flags(w, *flags, EXTRA_FLAGS);
            put_prot(w, *prot);
        }
        Op::Vunmap { addr, irq } => {
            put_addr(w, *addr);
            put_irq(w, *irq);
        }
        Op::Vfree { addr }
        | Op::FindVmArea { addr }
        | Op::VmallocToPfn { addr }
        | Op::IsVmallocAddr { addr } => put_addr(w, *addr),
        Op::RunDeferred | Op::VmUnmapAliases | Op::Vmallocinfo => {}
        Op::Write {
            slot,
            offset,
            len,
            seed,
        } => {
            put_slot(w, *slot);
            put_offset(w, *offset);
            put_access_len(w, *len);
            w.u8(*seed);
        }
        Op::Read { slot, offset, len } => {
            put_slot(w, *slot);
            put_offset(w, *offset);
            put_access_len(w, *len);
        }
        Op::Fit { api, size } => {
            put_fit_api(w, *api);
            put_derived_size(w, *size);
        }
        Op::RangeFit {
            size,
            align,
            start,
            end,
            vm_flags,
        } => {
            put_derived_size(w, *size);
            put_align(w, *align);
            put_edge(w, *start);
            put_edge(w, *end);
            put_flags(w, *vm_flags, EXTRA_FLAGS);
        }
    }
}

/// Make every op but the last one BUG-free (design §3.3: a BUG ends the input, so only the
/// last op may provoke one). Each [`Op::may_bug`] case is mapped to the nearest harmless op.
fn neutralise(ops: &mut [Op], m: &Machine) {
    let nr = m.nodes.len().max(1) as u32;
    let fix_node = |node: &mut Option<u32>| {
        if let Some(v) = node {
            *v %= nr;
        }
    };
    let n = ops.len().saturating_sub(1);
    for op in &mut ops[..n] {
        match op {
            Op::VmallocRange { align, node, .. } => {
                if !align.is_power_of_two() {
                    *align = align.checked_next_power_of_two().unwrap_or(1);
                }
                fix_node(node);
            }
            Op::VmallocNode { node, .. } | Op::AllocPage { node, .. } => fix_node(node),
            Op::RangeFit { align, .. } if !align.is_power_of_two() => {
                *align = align.checked_next_power_of_two().unwrap_or(1);
            }
            Op::Vunmap { irq, .. } => *irq = false,
            Op::GetVmArea { size, .. } if *size > MAX_GET_VM_AREA_SIZE => {
                *size %= MAX_GET_VM_AREA_SIZE + 1;
            }
            Op::FreeVmArea { addr } => {
                let slot = match *addr {
                    Addr::Area { slot, .. } | Addr::Stale { slot, .. } => slot,
                    Addr::Null | Addr::Abs(_) => 0,
                };
                *addr = Addr::Area { slot, offset: 0 };
            }
            Op::FreePage { page } => {
                if let PageRef::Pfn(p) = *page {
                    *page = PageRef::Caller(p as u32);
                }
            }
            Op::VfreeDeferred { target, .. } => {
                if let DeferTarget::Addr(a) = *target {
                    *target = DeferTarget::Writable((a / PAGE_SIZE) as u32);
                }
            }
            _ => {}
        }
        debug_assert!(!op.may_bug(m), "neutralise left {op:?}");
    }
}

/// The finales: BUG-provoking last ops (design §4.1). Selector `0..=199` none; `200..=255`
/// finale `(sel - 200) % 12` with its payload:
///
/// | # | op | payload | ends (default knobs / with a knob) |
/// |---|----|---------|------------------------------------|
/// | 0 | `__vmalloc_node_range` | its fields; align `(a \| 1) + 2` | `align_not_power_of_two` |
/// | 1 | `vunmap` | address | `vunmap_in_interrupt` |
/// | 2 | `free_vm_area` | address (an `area#N` start moved one page in) | `free_vm_area_mismatch` |
/// | 3 | `free_page` | PFN `u8` (table, data, caller or free pages) | `bad_page_free` |
/// | 4 | `vmalloc_node` | size; node `nr + u8 % 4` | `invalid_node` |
/// | 5 | `alloc_pages_node` | gfp; node `nr + u8 % 4` | `invalid_node` |
/// | 6 | `vfree_irq` / `vfree_atomic` (`u8` bit 0) | window page `u16` | `oops` unless mapped writable |
/// | 7 | `get_vm_area` | flags; size `2^64 − 4096 − u16 % 4096` | `zero_size_va` (no guard: NULL) |
/// | 8 | `__vmalloc(NOFAIL)` | size near totalram | `hang` when free pages run out |
/// | 9 | `__vmalloc_node_range` | its fields; align `2^(46 + u8 % 18)`, full window | `va_start_below_vstart` with `align_wrap_check=off` |
/// | 10 | `vfree` | a window address (`u16` pages) | `oops` with `vunmap_lookup=find_vmap_area_deref` |
/// | 11 | `vmalloc_32` | size | `invalid_zone` with `implicit_highmem=unconditional` |
fn finale(r: &mut Reader, m: &Machine) -> Option<Op> {
    use fields::*;
    const FINALES: u8 = 12;
    let sel = r.u8();
    if sel < 200 {
        return None;
    }
    let nr = m.nodes.len().max(1) as u32;
    let window_page = |r: &mut Reader| {
        let pages = (m.vmalloc_end.saturating_sub(m.vmalloc_start) / PAGE_SIZE + 1).max(1);
        m.vmalloc_start + u64::from(r.u16()) % pages * PAGE_SIZE
    };
    let which = (sel - 200) % FINALES;
    Some(match which {
        0 | 9 => {
            let mut op = decode_op(OpKind::VmallocRange, r, m);
            if let Op::VmallocRange {
                align, start, end, ..
            } = &mut op
            {
                if which == 0 {
                    *align = (*align | 1).wrapping_add(2).max(3);
                } else {
                    *align = 1 << (46 + r.u8() % 18);
                    (*start, *end) = (m.vmalloc_start, m.vmalloc_end);
                }
            }
            op
        }
        1 => Op::Vunmap {
            addr: addr(r, m),
            irq: true,
        },
        2 => Op::FreeVmArea {
            addr: match addr(r, m) {
                Addr::Area { slot, offset: 0 } => Addr::Area {
                    slot,
                    offset: PAGE_SIZE,
                },
                a => a,
            },
        },
        3 => Op::FreePage {
            page: PageRef::Pfn(u64::from(r.u8())),
        },
        4 => Op::VmallocNode {
            zero: false,
            size: size(r, m),
            node: Some(nr + u32::from(r.u8() % 4)),
        },
        5 => Op::AllocPage {
            gfp: gfp(r),
            node: Some(nr + u32::from(r.u8() % 4)),
        },
        6 => {
            let atomic = r.u8() & 1 != 0;
            Op::VfreeDeferred {
                target: DeferTarget::Addr(window_page(r)),
                atomic,
            }
        }
        7 => {
            let flags = flags(r, AREA_FLAGS);
            Op::GetVmArea {
                size: 0u64.wrapping_sub(PAGE_SIZE) - u64::from(r.u16()) % PAGE_SIZE,
                flags,
                range: None,
            }
        }
        8 => Op::VmallocGfp {
            size: near_ram(m, r.u8()),
            gfp: GFP_KERNEL | GFP_NOFAIL,
            prot: Prot::Kernel,
        },
        10 => Op::Vfree {
            addr: Addr::Abs(window_page(r)),
        },
        _ => Op::Vmalloc {
            api: VmallocApi::Vmalloc32,
            size: size(r, m),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_decodes_to_itself() {
        let total: u32 = OpKind::ALL.iter().map(|k| k.weight()).sum();
        assert!(total <= u32::from(u16::MAX));
        let swarm = Swarm::all();
        for kind in OpKind::ALL {
            assert_eq!(swarm.pick(swarm.first_value(kind)), kind);
            let mut u = Unstructured::new(&[]);
            let op = decode_op(kind, &mut Reader::new(&mut u), &Machine::default());
            assert_eq!(op.kind(), kind);
        }
    }

    #[test]
    fn swarm_switches_kinds_off_and_keeps_an_allocator() {
        // mask: only vfree; weights irrelevant. vmalloc must come back on.
        let mut data = Vec::new();
        data.extend_from_slice(&(1u32 << OpKind::Vfree.index()).to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        let mut u = Unstructured::new(&data);
        let swarm = Swarm::decode(&mut Reader::new(&mut u));
        let picked: std::collections::BTreeSet<OpKind> =
            (0..=u16::MAX).map(|v| swarm.pick(v)).collect();
        assert_eq!(
            picked,
            [OpKind::Vmalloc, OpKind::Vfree].into_iter().collect()
        );
    }

    #[test]
    fn bug_ops_survive_only_last() {
        let range = |align| Op::VmallocRange {
            size: PAGE_SIZE,
            align,
            start: crate::ops::VMALLOC_START_L4,
            end: crate::ops::VMALLOC_END_L4,
            gfp: GFP_KERNEL,
            prot: Prot::Kernel,
            vm_flags: 0,
            node: None,
        };
        let irq = Op::Vunmap {
            addr: Addr::Null,
            irq: true,
        };
        let mut ops = vec![range(0), range(3), range(u64::MAX), irq.clone(), range(6)];
        neutralise(&mut ops, &Machine::default());
        assert_eq!(
            ops,
            vec![
                range(1),
                range(4),
                range(1),
                Op::Vunmap {
                    addr: Addr::Null,
                    irq: false
                },
                range(6)
            ]
        );
        let mut ops = vec![irq.clone()];
        neutralise(&mut ops, &Machine::default());
        assert_eq!(ops, vec![irq]);
        // The other BUG-provoking ops, then a harmless last op.
        let m = Machine::default();
        let mut ops = vec![
            Op::VmallocNode {
                zero: true,
                size: PAGE_SIZE,
                node: Some(3),
            },
            Op::GetVmArea {
                size: 0u64.wrapping_sub(PAGE_SIZE),
                flags: 0,
                range: None,
            },
            Op::FreeVmArea {
                addr: Addr::Stale { slot: 5, offset: 9 },
            },
            Op::FreeVmArea { addr: Addr::Null },
            Op::FreePage {
                page: PageRef::Pfn(0x1_0007),
            },
            Op::VfreeDeferred {
                target: DeferTarget::Addr(0x5000),
                atomic: true,
            },
            Op::Vmallocinfo,
        ];
        neutralise(&mut ops, &m);
        assert_eq!(
            ops,
            vec![
                Op::VmallocNode {
                    zero: true,
                    size: PAGE_SIZE,
                    node: Some(0),
                },
                Op::GetVmArea {
                    size: 0u64.wrapping_sub(PAGE_SIZE) % (MAX_GET_VM_AREA_SIZE + 1),
                    flags: 0,
                    range: None,
                },
                Op::FreeVmArea {
                    addr: Addr::Area { slot: 5, offset: 0 },
                },
                Op::FreeVmArea {
                    addr: Addr::Area { slot: 0, offset: 0 },
                },
                Op::FreePage {
                    page: PageRef::Caller(0x1_0007),
                },
                Op::VfreeDeferred {
                    target: DeferTarget::Writable(5),
                    atomic: true,
                },
                Op::Vmallocinfo,
            ]
        );
    }

    /// Each finale on the default machine with an all-zero payload: the op written out by
    /// hand from the table in `finale`'s docs.
    #[test]
    fn every_finale_decodes_to_its_last_op_and_round_trips() {
        let m = Machine::default();
        let nr = m.nodes.len() as u32;
        let range = |align, node| Op::VmallocRange {
            size: PAGE_SIZE,
            align,
            start: m.vmalloc_start,
            end: m.vmalloc_end,
            gfp: GFP_KERNEL,
            prot: Prot::Kernel,
            vm_flags: 0,
            node,
        };
        let expected = [
            range(3, None),
            Op::Vunmap {
                addr: Addr::Area { slot: 0, offset: 0 },
                irq: true,
            },
            Op::FreeVmArea {
                addr: Addr::Area {
                    slot: 0,
                    offset: PAGE_SIZE,
                },
            },
            Op::FreePage {
                page: PageRef::Pfn(0),
            },
            Op::VmallocNode {
                zero: false,
                size: PAGE_SIZE,
                node: Some(nr),
            },
            Op::AllocPage {
                gfp: GFP_KERNEL,
                node: Some(nr),
            },
            Op::VfreeDeferred {
                target: DeferTarget::Addr(m.vmalloc_start),
                atomic: false,
            },
            Op::GetVmArea {
                size: 0u64.wrapping_sub(PAGE_SIZE),
                flags: 0,
                range: None,
            },
            Op::VmallocGfp {
                size: (m.totalram_pages() - 4) * PAGE_SIZE,
                gfp: GFP_KERNEL | GFP_NOFAIL,
                prot: Prot::Kernel,
            },
            range(1 << 46, None),
            Op::Vfree {
                addr: Addr::Abs(m.vmalloc_start),
            },
            Op::Vmalloc {
                api: VmallocApi::Vmalloc32,
                size: PAGE_SIZE,
            },
        ];
        for (i, want) in expected.iter().enumerate() {
            // Default machine, default knobs, no faults, every kind on, base weights, finale i.
            let mut data = vec![248, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
            data.push(200 + i as u8);
            let input = decode(&data);
            assert_eq!(input.ops, vec![want.clone()], "finale {i}");
            input.validate().unwrap();
            assert_eq!(decode(&encode(&input)), input, "finale {i}");
            // The first eight end the input whatever the knobs; the rest need a knob or a
            // state (an exhausted pool for the NOFAIL one).
            assert_eq!(want.may_bug(&m), i < 8, "finale {i}");
        }
    }

    #[test]
    fn decode_is_deterministic_and_total_on_patterns() {
        for fill in [0u8, 0x55, 0xaa, 0xff] {
            for len in [0, 1, 13, 64, 4096] {
                let data = vec![fill; len];
                let a = decode(&data);
                a.validate()
                    .unwrap_or_else(|e| panic!("fill {fill:#x} len {len}: {e}"));
                assert_eq!(a, decode(&data));
                assert!(a.ops.len() <= MAX_OPS);
                assert_eq!(decode(&encode(&a)), a);
            }
        }
    }
}

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
//! 1. **Machine selector** `u8`: `0..=207` a small fuzz machine, `208..=254`
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
//! 2. **Fault plan** `u8`: `0..=191` none; `192..=254` `1 + sel % 3` entries of
//!    `(kind u8 % 5, k = 1 + u8 % 32)`; `255` raw: `count u8` (≤ 16), then
//!    `(kind u8, k u32)` per entry.
//! 3. **Swarm** (design §7, "Swarm testing"): `mask u32` (bit i enables op kind i of
//!    [`OpKind::ALL`]; with no allocating kind, `vmalloc` is enabled) and `weights u64` (2 bits per
//!    kind: the base weight is multiplied by 1, 2, 4 or 8). The encoder writes all-enabled,
//!    base weights (`0xffffffff`, `0`).
//! 4. **Ops**, until the data is empty or [`MAX_OPS`]: `kind u16`, taken modulo the total
//!    enabled weight and looked up in the cumulative weights, then the kind's fields in
//!    declaration order of [`Op`]. Field codecs (selector ranges inclusive):
//!    - size: `0..=39` one page; `40..=99` 1–16 pages (`u8`); `100..=129` 1–20480 bytes
//!      (`u16`); `130..=149` 513–600 pages, a nested pages array (R5, `u8`); `150..=165`
//!      totalram −4..+4 pages, sometimes one byte less (`u8`); `166..=181` `2^(u8 % 64)`;
//!      `182..=221` 17–512 pages (`u16`); `222..=229` zero; `230..=255` raw `u64`.
//!      `get_vm_area` sizes are then taken modulo `MAX_GET_VM_AREA_SIZE + 1` if above it.
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
//!      node `u8`: even `None`, odd `Some((b >> 1) % nr_nodes)`.
//!    - slot `u8`, 255 escapes to `u32`. Offset: `0..=159` 0; `160..=199` 1–40 pages;
//!      `200..=219` [`GUARD_OFFSET`]; `220..=247` `u16`; `248..=255` `u64`.
//!    - address: `0..=199` area (slot, offset); `200..=227` stale (slot, offset);
//!      `228..=243` a wild address in the vmalloc window (`u16`); `244..=251` NULL;
//!      `252..=255` raw `u64`.
//!    - vmap: count `u8` (`< 240`: `sel % 17`; else `u8 % 65`), one slot per page, flags,
//!      prot. vunmap: address, then context `u8` (`>= 240` interrupt). write/read: slot,
//!      offset, length (`< 192`: `1 + sel`; `< 240`: `1 + u16`; else raw `u32`), write's
//!      seed `u8`.
//!
//! BUG-provoking ops ([`Op::may_bug`]) survive only as the last op: an earlier one is
//! neutralised after decoding (align to the next power of two, or 1; vunmap to process
//! context). A valid input never has one earlier, so the round trip holds.
//!
//! `design §N` cites a section of `docs/design.md`.

mod fields;
mod io;
mod machine;

use arbitrary::Unstructured;

use crate::ops::{Input, KindTraits, Machine, Op, OpKind, VmallocApi, MAX_OPS};
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
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !r.is_empty() {
        let kind = swarm.pick(r.u16());
        ops.push(decode_op(kind, &mut r, &machine));
    }
    neutralise(&mut ops);
    Input { machine, ops }
}

/// Encode an input so that [`decode`] gives it back (for every valid input).
pub fn encode(input: &Input) -> Vec<u8> {
    let mut w = Writer::default();
    let m = &input.machine;
    machine::encode(&mut w, m);
    w.u32(u32::MAX);
    w.u64(0);
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
        OpKind::FreeVmArea => Op::FreeVmArea { slot: slot(r) },
        OpKind::AllocPage => Op::AllocPage {
            gfp: gfp(r),
            node: node(r, m),
        },
        OpKind::FreePage => Op::FreePage { slot: slot(r) },
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
            slot: slot(r),
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
    }
}

fn encode_op(w: &mut Writer, m: &Machine, op: &Op) {
    use fields::*;
    match op {
        Op::Vmalloc { size, .. } | Op::ModuleAlloc { size } => put_size(w, m, *size),
        Op::VmallocNode { size, node, .. } => {
            put_size(w, m, *size);
            put_node(w, *node);
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
            put_node(w, *node);
        }
        Op::GetVmArea { size, flags, range } => {
            put_size(w, m, *size);
            put_flags(w, *flags, AREA_FLAGS);
            if let Some(range) = range {
                put_get_range(w, m, *range);
            }
        }
        Op::FreeVmArea { slot } | Op::FreePage { slot } | Op::VfreeDeferred { slot, .. } => {
            put_slot(w, *slot)
        }
        Op::AllocPage { gfp, node } => {
            put_gfp(w, *gfp);
            put_node(w, *node);
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
    }
}

/// Make every op but the last one BUG-free (design §3.3: a BUG ends the input, so only the
/// last op may provoke one).
fn neutralise(ops: &mut [Op]) {
    let n = ops.len().saturating_sub(1);
    for op in &mut ops[..n] {
        match op {
            Op::VmallocRange { align, .. } if !align.is_power_of_two() => {
                *align = align.checked_next_power_of_two().unwrap_or(1);
            }
            Op::Vunmap { irq, .. } => *irq = false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Addr, Prot, GFP_KERNEL, PAGE_SIZE};

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
        neutralise(&mut ops);
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
        neutralise(&mut ops);
        assert_eq!(ops, vec![irq]);
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

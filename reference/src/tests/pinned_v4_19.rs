//! Rules pinned to the v4.19 kernel source rather than to `docs/semantics.md` (issue "v4.19.0 as
//! shipped", item 4): the model and the engine come from the same spec, so a wrong sentence in
//! it would pass the differential unseen. Each test's comment says what the 4.19 source itself
//! does (file, function, and the expression described in words, no kernel code copied) and
//! derives the expected values from that by hand. The engine's counterparts, written
//! separately, are in `engine/tests/pinned_v4_19.rs`.
//!
//! Source read: a v4.19.0 tree for `mm/vmalloc.c`, `mm/internal.h`, `mm/page_alloc.c`,
//! `include/linux/{gfp,vmalloc,bitops,llist}.h`, `lib/llist.c`,
//! `arch/x86/include/asm/{page_types,pgtable_types,pgtable_64_types,dma}.h` and
//! `arch/x86/kernel/head64.c`; `arch/x86/kernel/head_64.S` in a 4.19.95 tree (the table data
//! that the 4.19.0 `head64.c` fixes up).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::*;
use crate::{
    AreaState, ArrayKind, Context, Fatal, Gfp, MachineConfig, Model, Prot, TableLevel, VmFlags,
};

/// The lazy VAs as `(start, end)`, newest first.
fn lazy(m: &Model) -> Vec<(u64, u64)> {
    let areas = m.busy_areas();
    m.lazy_list()
        .into_iter()
        .map(|s| {
            let a = areas
                .iter()
                .find(|a| a.start == s)
                .expect("lazy VA is busy");
            (a.start, a.end)
        })
        .collect()
}

fn pfn_at(m: &Model, va: u64) -> u64 {
    m.vmalloc_to_pfn(va).expect("mapped")
}

fn two_nodes(node0_end: u64, node1_end: u64) -> Model {
    model_with(|c| {
        c.nodes = vec![
            NodeSpan {
                start_pfn: 0,
                end_pfn: node0_end,
            },
            NodeSpan {
                start_pfn: node0_end,
                end_pfn: node1_end,
            },
        ]
    })
}

/// Rule 1. In mm/vmalloc.c, `lazy_max_pages()` is `fls(num_online_cpus())`, the position of the
/// highest set bit counted from 1, times the number of pages in 32 MiB, 2^25 / 2^12 = 8192:
/// 1 CPU → 1 · 8192; 2 and 3 (0b10, 0b11) → 2 · 8192 = 16384; 4 and 7 (0b100, 0b111) → 3 ·
/// 8192 = 24576; 8 (0b1000) → 4 · 8192 = 32768; 64 (0b1000000) → 7 · 8192 = 57344.
///
/// Seen through the threshold: `get_vm_area((L − 1) pages)` reserves L pages at START (guard
/// included); `vunmap` queues them: lazy_nr = L, not above L, nothing happens. A one-page
/// guard-less area then sits at START + L·4096 (0x2000000, 0x4000000, 0x4000000, 0x6000000,
/// 0x6000000, 0x8000000, 0xe000000 bytes); queueing it makes L + 1: one purge, one flush of
/// `[START, START + L·4096 + 0x1000)`.
#[test]
fn pin01_lazy_max_pages_is_fls_of_online_cpus_times_8192() {
    for (cpus, max, bytes) in [
        (1, 8192, 0x200_0000),
        (2, 16384, 0x400_0000),
        (3, 16384, 0x400_0000),
        (4, 24576, 0x600_0000),
        (7, 24576, 0x600_0000),
        (8, 32768, 0x800_0000),
        (64, 57344, 0xe00_0000),
    ] {
        let mut m = model_with(|c| c.nr_cpus = cpus);
        assert_eq!(m.lazy_max_pages(), max, "{cpus} cpus");
        let g = m.get_vm_area((max - 1) * P, VmFlags::NONE, 1).unwrap();
        assert_eq!(g.map(|g| g.addr), Some(START));
        m.vunmap(START, Context::Process).unwrap();
        assert_eq!((m.lazy_nr(), events(&mut m)), (max, vec![]), "{cpus} cpus");
        let h = m.get_vm_area(P, VmFlags::NO_GUARD, 2).unwrap().unwrap();
        assert_eq!(h.addr, START + bytes, "{cpus} cpus");
        m.vunmap(h.addr, Context::Process).unwrap();
        assert_eq!(
            events(&mut m),
            vec![Event::TlbFlush {
                start: START,
                end: START + bytes + 0x1000
            }],
            "{cpus} cpus"
        );
        assert_eq!((m.lazy_nr(), m.busy_areas().len()), (0, 0), "{cpus} cpus");
    }
}

/// Rule 2. mm/vmalloc.c, `free_vmap_area_noflush()`: the VA's pages, `(va_end − va_start) >>
/// PAGE_SHIFT` (its guard page among them), are added to `vmap_lazy_nr` and the new total kept;
/// the VA is put on `vmap_purge_list`; then a purge is tried only if that total is strictly
/// greater than `lazy_max_pages()`. So a total equal to the limit purges nothing, and a purge
/// that runs also takes the VA just queued.
///
/// 1 CPU, limit 8192. `get_vm_area(8189 pages)`: `[START, START + 0x1ffe000)` (8190 pages),
/// queued: 8190. `vmalloc(4096)`: `[START + 0x1ffe000, START + 0x2000000)` (2 pages), freed:
/// 8192, equal: no flush. A one-page VM_NO_GUARD area at START + 0x2000000, queued: 8193 > 8192:
/// one purge of all three, flush `[START, START + 0x2001000)`, nothing left.
#[test]
fn pin02_lazy_threshold_is_strictly_greater_and_counts_the_new_va() {
    let mut m = model_with(|c| c.nr_cpus = 1);
    m.get_vm_area(8189 * P, VmFlags::NONE, 1).unwrap().unwrap();
    m.vunmap(START, Context::Process).unwrap();
    assert_eq!(m.lazy_nr(), 8190);
    let a = m.vmalloc(P, 2).unwrap().unwrap();
    assert_eq!(a, START + 0x1ff_e000);
    m.vfree(a, Context::Process).unwrap();
    assert_eq!((m.lazy_nr(), events(&mut m)), (8192, vec![]));
    assert_eq!(
        lazy(&m),
        vec![
            (START + 0x1ff_e000, START + 0x200_0000),
            (START, START + 0x1ff_e000)
        ]
    );
    let h = m.get_vm_area(P, VmFlags::NO_GUARD, 3).unwrap().unwrap();
    assert_eq!(h.addr, START + 0x200_0000);
    m.vunmap(h.addr, Context::Process).unwrap();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: START + 0x200_1000
        }]
    );
    assert_eq!(
        (m.lazy_nr(), m.lazy_list(), m.busy_areas().len()),
        (0, vec![], 0)
    );
}

/// Rule 3. mm/vmalloc.c, `__vmalloc_node_range()`: the unrounded request is kept for the
/// message, `size` is rounded up to whole pages, and the call fails (its fail label: `warn_alloc`
/// with "allocation failure: %lu bytes" and the unrounded size) if the rounded size is 0 or
/// its page count is greater than `totalram_pages`. The guard page only appears later, in
/// `__get_vm_area_node`, so the test does not see it. `warn_alloc()` (mm/page_alloc.c) prints
/// nothing for a gfp carrying `__GFP_NOWARN`.
///
/// One node `[0, 0x300)`: totalram = 512 pages.
/// - 2097153 bytes (512 pages and one byte) → 513 pages > 512: NULL, warning 1 (2097153), no
///   attempt; under NOWARN silent; 0 bytes → warning 1 (0).
/// - 2093057 bytes (512 pages less 4095) → exactly 512 pages: passes, although the VA will be
///   513 pages. It then takes vm_struct, vmap_area `[START, START + 0x201000)`, the 4096-byte
///   kmalloc'ed array (8 · 512 is not above 4096) and all 512 pool pages, and the first table
///   page finds nothing: warning 2, 512 · 4096 = 2097152 of 513 · 4096 = 2101248, and no
///   warning 1 (`__vmalloc_area_node`'s failure returns NULL straight away). Attempts
///   `[1, 1, 1, 512, 1]`; the VA pending (513 pages); all 512 pages free again.
#[test]
fn pin03_size_gate_counts_rounded_pages_against_totalram_without_the_guard() {
    let mut m = model_with(|c| c.nodes = one_node(0x300));
    assert_eq!(m.totalram_pages(), 512);
    assert_eq!(m.vmalloc(2_097_153, 1), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocFailure { bytes: 2_097_153 }]
    );
    assert_eq!(
        m.__vmalloc(2_097_153, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(m.vmalloc(0, 1), Ok(None));
    assert_eq!(events(&mut m), vec![Event::AllocFailure { bytes: 0 }]);
    assert_eq!(m.fault_attempts(), [0; 5]);

    assert_eq!(m.vmalloc(2_093_057, 2), Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 2_097_152,
            total: 2_101_248
        }]
    );
    assert_eq!(m.fault_attempts(), [1, 1, 1, 512, 1]);
    assert_eq!(lazy(&m), vec![(START, START + 0x20_1000)]);
    assert_eq!((m.lazy_nr(), m.free_pages_per_node()), (513, vec![512]));
}

/// `get_vm_area(size, VM_IOREMAP)` after `vmalloc(4096)` took `[START, START + 0x2000)`:
/// where it landed and the alignment it was searched with.
fn ioremap_after_one_page(size: u64) -> (u64, u64) {
    let mut m = model();
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START)));
    let info = m.get_vm_area(size, VmFlags::IOREMAP, 2).unwrap().unwrap();
    let area = m.busy_areas().into_iter().find(|a| a.start == info.addr);
    (info.addr, area.unwrap().request.align)
}

/// Rule 4. mm/vmalloc.c, `__get_vm_area_node()`: the size is first rounded up to pages (0 gives
/// NULL); for a `VM_IOREMAP` request the alignment is then set, whatever the caller passed, to
/// 2 to the power `get_count_order_long(size)` kept within `[PAGE_SHIFT, IOREMAP_MAX_ORDER]`;
/// the guard page is added after that. `get_count_order_long()` (include/linux/bitops.h) is
/// ceil(log2): `fls_long(x)` less one when x is a power of two, `fls_long(x)` otherwise. On
/// x86-64 `IOREMAP_MAX_ORDER` comes from arch/x86/include/asm/page_types.h, which defines it as
/// `PUD_SHIFT`, 30 (arch/x86/include/asm/pgtable_64_types.h); include/linux/vmalloc.h's
/// fallback of 7 + PAGE_SHIFT is used only if the architecture has none.
///
/// START is 2^40-aligned, so the address is START + ALIGN(0x2000, align):
/// 1 byte → 0x1000, order 12, START + 0x2000; 0x3000 → order 14 → 0x4000, START + 0x4000;
/// 0x10000 → order 16 → START + 0x10000; 0x10001 → 0x11000, order 17 → 0x20000, START +
/// 0x20000; 2^30 → order 30, START + 0x40000000; 2^32 → order 32, kept at 30 → 1 GiB,
/// START + 0x40000000.
///
/// Replaced, not combined: `vmalloc_node_range(4096, align 0x100000, vm_flags VM_IOREMAP)`
/// reaches `__get_vm_area_node` with VM_IOREMAP among its flags, so it searches with 0x1000 and
/// lands at START + 0x2000 (with 1 MiB it would be START + 0x100000).
#[test]
fn pin04_ioremap_alignment_is_ceil_log2_of_the_page_aligned_size_clamped_to_12_and_30() {
    assert_eq!(ioremap_after_one_page(1), (START + 0x2000, 0x1000));
    assert_eq!(ioremap_after_one_page(0x3000), (START + 0x4000, 0x4000));
    assert_eq!(
        ioremap_after_one_page(0x1_0000),
        (START + 0x1_0000, 0x1_0000)
    );
    assert_eq!(
        ioremap_after_one_page(0x1_0001),
        (START + 0x2_0000, 0x2_0000)
    );
    assert_eq!(
        ioremap_after_one_page(1 << 30),
        (START + 0x4000_0000, 0x4000_0000)
    );
    assert_eq!(
        ioremap_after_one_page(1 << 32),
        (START + 0x4000_0000, 0x4000_0000)
    );

    let mut m = model();
    assert_eq!(m.vmalloc(P, 1), Ok(Some(START)));
    let a = m
        .vmalloc_node_range(
            P,
            0x10_0000,
            START,
            END,
            Gfp::KERNEL,
            Prot::Kernel,
            VmFlags::IOREMAP,
            None,
            2,
        )
        .unwrap()
        .unwrap();
    assert_eq!(a, START + 0x2000);
    let area = m.busy_areas().into_iter().find(|b| b.start == a).unwrap();
    assert_eq!(area.request.align, 0x1000);
    assert_eq!(
        m.find_vm_area(a).unwrap().flags,
        VmFlags::IOREMAP | VmFlags::ALLOC
    );
}

/// Rule 5. mm/vmalloc.c, `__vmalloc_area_node()`: `nr_pages` is the area's mapped size (without
/// the guard, `get_vm_area_size`) in pages, `array_size` is `nr_pages` page pointers of 8 bytes;
/// an `array_size` greater than PAGE_SIZE is vmalloc'ed (`__vmalloc_node(array_size, 1, ...)`),
/// a smaller or equal one kmalloc'ed.
/// - 512 pages: 4096 bytes, equal to PAGE_SIZE: kmalloc (counting the guard would give 4104).
/// - 513 pages: 4104 bytes: a nested vmalloc of 4104 bytes = 2 pages and its guard, placed
///   after the outer VA `[START, START + 0x202000)`: `[START + 0x202000, START + 0x205000)`,
///   with 2 pages and a 16-byte kmalloc'ed array of its own.
#[test]
fn pin05_pages_array_nests_above_one_page_of_pointers() {
    let mut m = model();
    let a = m.vmalloc(512 * P, 1).unwrap().unwrap();
    assert_eq!(
        m.find_vm_area(a).unwrap().pages_array,
        ArrayKind::Kmalloc { bytes: 4096 }
    );
    assert_eq!(m.busy_areas().len(), 1);
    assert_eq!(m.fault_attempts()[FaultKind::PagesArray as usize], 1);

    let mut m = model();
    let a = m.vmalloc(513 * P, 1).unwrap().unwrap();
    assert_eq!(a, START);
    let nested = START + 0x20_2000;
    assert_eq!(
        m.find_vm_area(a).unwrap().pages_array,
        ArrayKind::Vmalloc { addr: nested }
    );
    let n = m.find_vm_area(nested).unwrap();
    assert_eq!(
        (n.size, n.nr_pages, n.pages_array),
        (0x3000, 2, ArrayKind::Kmalloc { bytes: 16 })
    );
    check(&m);
}

/// Rule 6. mm/vmalloc.c, `__vmalloc_area_node()`: `nested_gfp` = (caller's gfp AND
/// `GFP_RECLAIM_MASK`) OR `__GFP_ZERO`; `highmem_mask` = 0 if the caller's gfp has `GFP_DMA`
/// or `GFP_DMA32`, else `__GFP_HIGHMEM`; the nested array is requested with `nested_gfp |
/// highmem_mask`, every data page with the caller's gfp | `__GFP_NOWARN` | `highmem_mask`.
/// mm/internal.h makes `GFP_RECLAIM_MASK` the union of `__GFP_RECLAIM`, `__GFP_HIGH`,
/// `__GFP_IO`, `__GFP_FS`, `__GFP_NOWARN`, `__GFP_RETRY_MAYFAIL`, `__GFP_NOFAIL`,
/// `__GFP_NORETRY`, `__GFP_MEMALLOC`, `__GFP_NOMEMALLOC` and `__GFP_ATOMIC`: zone bits and
/// `__GFP_THISNODE` go, `__GFP_NOWARN` stays. Table pages use `GFP_KERNEL` and no node
/// (semantics §7.1): Normal first.
///
/// (a) One node `[0, 0x100010)`: DMA32 = `[0x100, 0x100000)`, Normal = `[0x100000, 0x100010)`.
/// `vmalloc_32(513 pages)`: the nested array asks with `GFP_KERNEL | __GFP_ZERO` and gets
/// Normal pages 0x100000 and 0x100001, zeroed; its walk makes the PUD 0x100002, the PMD
/// 0x100003 and the PTE table of `START + 0x200000` (0x100004). The outer pages keep DMA32 and
/// get no HIGHMEM: 0x100..=0x300, reading poison 0xaa; their walk adds the PTE table of START,
/// 0x100005.
///
/// (b) Node 0 `[0, 0x400)`, node 1 `[0x400, 0x401)`. `vmalloc_node_range(513 pages, GFP_KERNEL
/// | __GFP_THISNODE, node 1)`: the nested array, without THISNODE, takes 0x400 (node 1) and
/// then 0x100 (node 0), tables 0x101..=0x103; the outer page 0, with THISNODE, finds node 1
/// empty: warning 2, 0 of 514 · 4096 = 2105344; outer VA (514) then nested VA (3) lazily freed:
/// newest first `[nested, outer]`, 517. With THISNODE kept the nested call would have failed
/// at its page 1 (warning 2, 4096 of 12288).
///
/// (c) Default machine, data page 1 failing (the nested call's first page). `vmalloc(513
/// pages)`: the nested call prints warning 2, 0 of 12288, and frees its VA (3); the outer one
/// prints nothing and frees its VA (514): newest first `[outer, nested]`. With `GFP_KERNEL |
/// __GFP_NOWARN` the nested call keeps NOWARN and nothing is printed.
#[test]
fn pin06_nested_gfp_keeps_reclaim_bits_and_nowarn_and_drops_zone_and_thisnode() {
    // (a)
    let mut m = model_with(|c| c.nodes = one_node(0x10_0010));
    let a = m.vmalloc_32(513 * P, 1).unwrap().unwrap();
    assert_eq!(a, START);
    let nested = START + 0x20_2000;
    assert_eq!(
        (pfn_at(&m, nested), pfn_at(&m, nested + P)),
        (0x10_0000, 0x10_0001)
    );
    assert_eq!(m.read(nested, 16).unwrap(), vec![0; 16]);
    assert_eq!((pfn_at(&m, a), pfn_at(&m, a + 512 * P)), (0x100, 0x300));
    assert_eq!(m.read(a, 1).unwrap(), vec![0xaa]);
    let tables: Vec<((TableLevel, u64), u64)> = m.table_pages().into_iter().collect();
    assert_eq!(
        tables,
        vec![
            ((TableLevel::Pud, START), 0x10_0002),
            ((TableLevel::Pmd, START), 0x10_0003),
            ((TableLevel::Pte, START), 0x10_0005),
            ((TableLevel::Pte, START + 0x20_0000), 0x10_0004),
        ]
    );
    assert_eq!(events(&mut m), vec![]);

    // (b)
    let mut m = two_nodes(0x400, 0x401);
    let r = m.vmalloc_node_range(
        513 * P,
        1,
        START,
        END,
        Gfp::KERNEL | Gfp::THISNODE,
        Prot::Kernel,
        VmFlags::NONE,
        Some(1),
        2,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 2_105_344
        }]
    );
    assert_eq!(
        lazy(&m),
        vec![(nested, nested + 0x3000), (START, START + 0x20_2000)]
    );
    assert_eq!(m.lazy_nr(), 517);
    assert_eq!(m.fault_attempts(), [2, 2, 1, 3, 3]);
    assert_eq!(m.allocated_frames(), vec![0x101, 0x102, 0x103]);

    // (c)
    for (gfp, want) in [
        (
            Gfp::KERNEL,
            vec![Event::AllocPartial {
                allocated: 0,
                total: 12_288,
            }],
        ),
        (Gfp::KERNEL | Gfp::NOWARN, vec![]),
    ] {
        let mut m = model_failing(&[(FaultKind::DataPage, 1)]);
        assert_eq!(m.__vmalloc(513 * P, gfp, Prot::Kernel, 3), Ok(None));
        assert_eq!(events(&mut m), want, "{gfp:?}");
        assert_eq!(
            lazy(&m),
            vec![(START, START + 0x20_2000), (nested, nested + 0x3000)]
        );
        assert_eq!(m.fault_attempts(), [2, 2, 1, 1, 0]);
    }
}

/// Rule 7. mm/vmalloc.c, `__purge_vmap_area_lazy(start, end)`: it detaches the whole lazy
/// list, moves `start` down to each VA's `va_start` and `end` up to each `va_end` (guards
/// included), returns without a flush if the list was empty, and otherwise flushes the TLB once
/// over `[start, end)` before freeing the VAs. `try_purge_vmap_area_lazy()` and
/// `purge_vmap_area_lazy()` (used by `alloc_vmap_area` before its retry) start from
/// `ULONG_MAX, 0`: the range is [min va_start, max va_end). `vm_unmap_aliases()` starts from the
/// same values and adds only dirty vmap blocks, which the model has none of.
///
/// a `[START, +0x2000)`, b (2 pages) `[+0x2000, +0x5000)`, c `[+0x5000, +0x7000)`, d `[+0x7000,
/// +0x9000)`; free d, b; `vm_unmap_aliases`: one flush `[START + 0x2000, START + 0x9000)`, c
/// (live) inside. Again: no flush. Free a; `__get_vm_area(2 pages)` in `[START, START +
/// 0x4000)` (3 pages with the guard): a blocks START and START + 0x2000 + 0x3000 is past the
/// end, so the allocator purges (flush `[START, START + 0x2000)`) and retries: START.
#[test]
fn pin07_purge_flushes_min_start_to_max_end_once_and_only_when_something_is_pending() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    let b = m.vmalloc(2 * P, 2).unwrap().unwrap();
    let c = m.vmalloc(P, 3).unwrap().unwrap();
    let d = m.vmalloc(P, 4).unwrap().unwrap();
    assert_eq!(
        (a, b, c, d),
        (START, START + 0x2000, START + 0x5000, START + 0x7000)
    );
    m.vfree(d, Context::Process).unwrap();
    m.vfree(b, Context::Process).unwrap();
    assert_eq!(m.lazy_nr(), 5);
    m.vm_unmap_aliases();
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START + 0x2000,
            end: START + 0x9000
        }]
    );
    assert_eq!(m.lazy_nr(), 0);
    assert!(m.find_vm_area(c).is_some());
    m.vm_unmap_aliases();
    assert_eq!(events(&mut m), vec![]);

    m.vfree(a, Context::Process).unwrap();
    let g = m
        .__get_vm_area(2 * P, VmFlags::NONE, START, START + 0x4000, 5)
        .unwrap()
        .unwrap();
    assert_eq!(g.addr, START);
    assert_eq!(
        events(&mut m),
        vec![Event::TlbFlush {
            start: START,
            end: START + 0x2000
        }]
    );
}

/// Rule 8. mm/vmalloc.c: `vfree()` in interrupt context, and `vfree_atomic()` always, go to
/// `__vfree_deferred(addr)`, which treats the freed address itself as an `llist_node` and adds
/// it to this CPU's `vfree_deferred` list with `llist_add`. lib/llist.c's `llist_add_batch()`
/// writes the list's old first node (NULL if empty) into the new node's `next`, i.e. the 8
/// bytes at `addr`, and makes `addr` the new first node. `free_work()` takes the list with
/// `llist_del_all` (newest first) and runs `__vunmap(node, 1)` on each in that order.
///
/// a = START, b = START + 0x2000, c = START + 0x4000 (one page each, poison 0xaa). a: 8 zero
/// bytes; b: a = 0xffffc90000000000 in little-endian, `00 00 00 00 00 c9 ff ff`; c: b =
/// 0xffffc90000002000, `00 20 00 00 00 c9 ff ff`; byte 8 still 0xaa. Deferred list c, b, a;
/// run: c, then b, then a are freed, so the lazy list (newest first) is a, b, c, 6 pages.
#[test]
fn pin08_deferred_free_links_through_the_freed_memory_newest_first() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    let b = m.vmalloc(P, 2).unwrap().unwrap();
    let c = m.vmalloc(P, 3).unwrap().unwrap();
    assert_eq!((a, b, c), (START, START + 0x2000, START + 0x4000));
    m.vfree(a, Context::Interrupt).unwrap();
    m.vfree_atomic(b).unwrap();
    m.vfree(c, Context::Interrupt).unwrap();
    assert_eq!(m.read(a, 9).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0, 0xaa]);
    assert_eq!(
        m.read(b, 9).unwrap(),
        vec![0, 0, 0, 0, 0, 0xc9, 0xff, 0xff, 0xaa]
    );
    assert_eq!(
        m.read(c, 9).unwrap(),
        vec![0, 0x20, 0, 0, 0, 0xc9, 0xff, 0xff, 0xaa]
    );
    assert_eq!(m.deferred_list(), vec![c, b, a]);
    assert_eq!(m.lazy_nr(), 0);
    m.run_deferred().unwrap();
    assert_eq!(
        lazy(&m),
        vec![(a, a + 0x2000), (b, b + 0x2000), (c, c + 0x2000)]
    );
    assert_eq!(m.lazy_nr(), 6);
    assert!(m.deferred_list().is_empty());
    assert_eq!(events(&mut m), vec![]);
}

/// Rule 9. x86-64 4.19 boot tables. arch/x86/kernel/head_64.S fills `level3_kernel_pgt` slot 510
/// (`L3_START_KERNEL`) with `level2_kernel_pgt` plus `_KERNPG_TABLE_NOENC` and slot 511 with
/// `level2_fixmap_pgt` plus `_PAGE_TABLE_NOENC`, and (5-level) `level4_kernel_pgt` slot 511
/// with `level3_kernel_pgt` plus `_PAGE_TABLE_NOENC`. arch/x86/kernel/head64.c:
/// `__startup_64()` sets `early_top_pgt`'s slot 511 (the slot of `__START_KERNEL_map`) to the
/// physical `level3_kernel_pgt` (`level4_kernel_pgt` under LA57) plus `_PAGE_TABLE_NOENC` plus
/// the load delta, and adds the load delta (the SME mask included) to PUD slots 510 and 511
/// and to the LA57 P4D slot 511; `x86_64_start_kernel()` clears `init_top_pgt` and copies that
/// slot 511 into it. arch/x86/include/asm/pgtable_types.h: `_KERNPG_TABLE_NOENC` = PRESENT |
/// RW | ACCESSED | DIRTY = 0x1 | 0x2 | 0x20 | 0x40 = 0x63; `_PAGE_TABLE_NOENC` also has USER
/// (0x4): 0x67.
///
/// On semantics §12.1's frames (PUD table 2, PMD tables 3 and 4, LA57 P4D 5), the entry that
/// points to each boot table: PGD 511 → 2: 0x2067; PUD 510 → 3: 0x3063; PUD 511 → 4: 0x4067;
/// with the SME C-bit at 47, each | 0x800000000000; with LA57, PGD 511 → 5: 0x5067 and P4D 511
/// → 2: 0x2067. No other entry exists at boot.
#[test]
fn pin09_boot_entries_are_kernpg_0x63_for_pud_510_and_page_table_0x67_elsewhere() {
    let pud = (TableLevel::Pud, 0xffff_ff80_0000_0000);
    let pmd510 = (TableLevel::Pmd, 0xffff_ffff_8000_0000);
    let pmd511 = (TableLevel::Pmd, 0xffff_ffff_c000_0000);
    let p4d = (TableLevel::P4d, 0xffff_0000_0000_0000);
    let entries = |m: &Model| m.table_entries().into_iter().collect::<Vec<_>>();

    let m = model();
    assert_eq!(
        entries(&m),
        vec![(pud, 0x2067), (pmd510, 0x3063), (pmd511, 0x4067)]
    );
    assert_eq!(m.root_pfn(), 1);

    let m = model_with(|c| c.sme_c_bit = 1 << 47);
    assert_eq!(
        entries(&m),
        vec![
            (pud, 0x8000_0000_2067),
            (pmd510, 0x8000_0000_3063),
            (pmd511, 0x8000_0000_4067)
        ]
    );

    let m = Model::new(MachineConfig::la57()).unwrap();
    assert_eq!(
        entries(&m),
        vec![
            (p4d, 0x5067),
            (pud, 0x2067),
            (pmd510, 0x3063),
            (pmd511, 0x4067)
        ]
    );
}

/// Rule 10. include/linux/gfp.h: `gfp_zone()` indexes `GFP_ZONE_TABLE` with the zone bits; a
/// gfp whose only zone bit is `__GFP_DMA` gives `OPT_ZONE_DMA`, i.e. ZONE_DMA when
/// `CONFIG_ZONE_DMA` is set (x86's default), not ZONE_DMA32; arch/x86/include/asm/dma.h ends
/// ZONE_DMA at `MAX_DMA_PFN`, 16 MiB. The request may use that zone and none above it. The
/// machine's ZONE_DMA is empty (design §5.6, semantics §12.2); with no zone to use,
/// `__alloc_pages_slowpath()` (mm/page_alloc.c) fails, or loops for ever under `__GFP_NOFAIL`.
///
/// - `alloc_page(GFP_DMA)`: NULL, one data-page attempt.
/// - `__vmalloc(4096, GFP_KERNEL | GFP_DMA)`: vm_struct, VA `[START, START + 0x2000)`, 8-byte
///   array, then page 0 (DMA | NOWARN; `highmem_mask` is 0 with GFP_DMA) fails: warning 2, 0 of
///   8192; the VA pending; no page, no table. Attempts `[1, 1, 1, 2, 0]` counting the
///   `alloc_page`.
/// - 513 pages with GFP_DMA: the nested array has no zone bit and succeeds (pages 0x100, 0x101,
///   tables 0x102..=0x104); outer page 0 fails: warning 2, 0 of 2105344; both VAs pending,
///   newest first `[nested, outer]`; only the 3 tables stay allocated.
/// - With `__GFP_NOFAIL`: `WouldHang`, for `alloc_page` and for a vmalloc data page.
#[test]
fn pin10_gfp_dma_finds_no_page_in_the_empty_zone_dma() {
    let mut m = model();
    assert_eq!(m.alloc_page(Gfp::KERNEL | Gfp::DMA, None), Ok(None));
    assert_eq!(
        m.__vmalloc(P, Gfp::KERNEL | Gfp::DMA, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 8192
        }]
    );
    assert_eq!(m.fault_attempts(), [1, 1, 1, 2, 0]);
    assert_eq!(lazy(&m), vec![(START, START + 0x2000)]);
    assert_eq!(m.allocated_frames(), Vec::<u64>::new());

    let mut m = model();
    assert_eq!(
        m.__vmalloc(513 * P, Gfp::KERNEL | Gfp::DMA, Prot::Kernel, 2),
        Ok(None)
    );
    assert_eq!(
        events(&mut m),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 2_105_344
        }]
    );
    assert_eq!(
        lazy(&m),
        vec![
            (START + 0x20_2000, START + 0x20_5000),
            (START, START + 0x20_2000)
        ]
    );
    assert_eq!(m.fault_attempts(), [2, 2, 1, 3, 3]);
    assert!(m.busy_areas().iter().all(|b| b.state == AreaState::Lazy));
    assert_eq!(m.allocated_frames(), vec![0x102, 0x103, 0x104]);

    let mut m = model();
    assert_eq!(
        m.alloc_page(Gfp::KERNEL | Gfp::DMA | Gfp::NOFAIL, None),
        Err(Fatal::WouldHang)
    );
    let mut m = model();
    assert_eq!(
        m.__vmalloc(P, Gfp::KERNEL | Gfp::DMA | Gfp::NOFAIL, Prot::Kernel, 3),
        Err(Fatal::WouldHang)
    );
}

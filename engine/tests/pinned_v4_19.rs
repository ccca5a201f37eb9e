//! Rules pinned to the v4.19 kernel source rather than to `docs/semantics.md` (issue "v4.19.0 as
//! shipped", item 4). The engine and the model were both written from the same spec, so a
//! mistake in one of its sentences would be invisible to the differential; each test here
//! states, in its comment, what the 4.19 source itself does (file, function, and the expression
//! described in words, no kernel code copied), and derives every expected value by hand from
//! that statement. The model has the same tests, written separately, in
//! `reference/src/tests/pinned_v4_19.rs`.
//!
//! Source read: a v4.19.0 tree (`Makefile`: 4.19.0) for `mm/vmalloc.c`, `mm/internal.h`,
//! `mm/page_alloc.c`, `include/linux/{gfp,vmalloc,bitops,llist}.h`, `lib/llist.c`,
//! `arch/x86/include/asm/{page_types,pgtable_types,pgtable_64_types,dma}.h` and
//! `arch/x86/kernel/head64.c`; `arch/x86/kernel/head_64.S` in a 4.19.95 tree, whose page-table
//! data is what the 4.19.0 `head64.c` fixes up.
//!
//! Machine: the design §3.17 default unless a test says otherwise (one node `[0, 0x40000)`, pool
//! PFNs `0x100..0x40000`, all below 4 GiB; 4 CPUs; PAGE_KERNEL `0x8000000000000163`).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{
    AreaState, ArrayKind, Context, Event, Fatal, FaultKind, FaultPlan, Gfp, Kernel, MachineConfig,
    Prot, VirtAddr, VmFlags,
};

fn lazy(k: &Kernel) -> Vec<(u64, u64)> {
    k.lazy_list()
        .iter()
        .map(|(s, e)| (s.as_u64(), e.as_u64()))
        .collect()
}

fn pfn_at(k: &Kernel, va: u64) -> u64 {
    k.vmalloc_to_pfn(va).expect("mapped").as_u64()
}

/// Rule 1. `lazy_max_pages()` in mm/vmalloc.c takes `fls` of `num_online_cpus()` (the 1-based
/// index of the highest set bit) and multiplies it by 32 MiB expressed in pages,
/// 32 · 2^20 / 4096 = 8192. So:
///
/// | CPUs | fls | lazy_max_pages | in bytes (× 4096) |
/// |---|---|---|---|
/// | 1 (0b1) | 1 | 8192 | 0x2000000 |
/// | 2 (0b10) | 2 | 16384 | 0x4000000 |
/// | 3 (0b11) | 2 | 16384 | 0x4000000 |
/// | 4 (0b100) | 3 | 24576 | 0x6000000 |
/// | 7 (0b111) | 3 | 24576 | 0x6000000 |
/// | 8 (0b1000) | 4 | 32768 | 0x8000000 |
/// | 64 (0b1000000) | 7 | 57344 | 0xe000000 |
///
/// Observed through the purge threshold (rule 2's strict test): a guarded `get_vm_area` of
/// `L − 1` pages reserves `L` pages at V; `free_vm_area` queues them (lazy_nr = L, no purge);
/// a guard-less one-page area then lands right above, at `V + L·4096`, and its free makes
/// L + 1 > L: one purge, flushing `[V, V + (L + 1)·4096)`.
#[test]
fn pin01_lazy_max_pages_is_fls_of_online_cpus_times_8192() {
    let table: [(u32, u64, u64); 7] = [
        (1, 8192, 0x200_0000),
        (2, 16384, 0x400_0000),
        (3, 16384, 0x400_0000),
        (4, 24576, 0x600_0000),
        (7, 24576, 0x600_0000),
        (8, 32768, 0x800_0000),
        (64, 57344, 0xe00_0000),
    ];
    for (cpus, max, bytes) in table {
        let mut k = kernel_with(|c| c.nr_cpus = cpus);
        assert_eq!(k.lazy_max_pages(), max, "{cpus} cpus");
        let g = k
            .get_vm_area((max - 1) * P, VmFlags::empty(), 1)
            .unwrap()
            .unwrap();
        assert_eq!(g.addr.as_u64(), V);
        k.free_vm_area(V).unwrap();
        assert_eq!((k.lazy_nr(), events(&mut k)), (max, vec![]), "{cpus} cpus");
        let h = k.get_vm_area(P, VmFlags::NO_GUARD, 2).unwrap().unwrap();
        assert_eq!(h.addr.as_u64(), V + bytes, "{cpus} cpus");
        k.free_vm_area(h.addr).unwrap();
        assert_eq!(
            events(&mut k),
            vec![Event::TlbFlush {
                start: V,
                end: V + bytes + 0x1000
            }],
            "{cpus} cpus"
        );
        assert_eq!((k.lazy_nr(), k.busy_areas().count()), (0, 0), "{cpus} cpus");
    }
}

/// Rule 2. `free_vmap_area_noflush()` in mm/vmalloc.c adds the VA's page count (`va_end −
/// va_start` shifted down by PAGE_SHIFT, the guard page included) to `vmap_lazy_nr` with an
/// add-and-return, pushes the VA on `vmap_purge_list`, and only then compares: it tries a purge
/// when the new total is strictly greater than `lazy_max_pages()`. Equal does not purge; the
/// purge that does run releases the VA just pushed.
///
/// One CPU: lazy_max_pages = 1 · 8192 = 8192.
/// - `get_vm_area(8189 pages)`: 8190 pages with the guard, `[V, V + 0x1ffe000)`; freed: 8190.
/// - `vmalloc(4096)`: 2 pages at the lowest fit above the pending VA, `[V + 0x1ffe000,
///   V + 0x2000000)`; `vfree`: 8190 + 2 = 8192, equal, no purge, nothing flushed.
/// - a guard-less one-page area at `V + 0x2000000`; freed: 8193 > 8192, a purge of all three,
///   flushing `[V, V + 0x2001000)`; nothing stays pending or busy.
#[test]
fn pin02_lazy_threshold_is_strictly_greater_and_counts_the_new_va() {
    let mut k = kernel_with(|c| c.nr_cpus = 1);
    k.get_vm_area(8189 * P, VmFlags::empty(), 1)
        .unwrap()
        .unwrap();
    k.free_vm_area(V).unwrap();
    assert_eq!(k.lazy_nr(), 8190);
    let a = ok(k.vmalloc(P, 2));
    assert_eq!(a, V + 0x1ff_e000);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!((k.lazy_nr(), events(&mut k)), (8192, vec![]));
    assert_eq!(
        lazy(&k),
        vec![(V + 0x1ff_e000, V + 0x200_0000), (V, V + 0x1ff_e000)]
    );
    let h = k.get_vm_area(P, VmFlags::NO_GUARD, 3).unwrap().unwrap();
    assert_eq!(h.addr.as_u64(), V + 0x200_0000);
    k.free_vm_area(h.addr).unwrap();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x200_1000
        }]
    );
    assert_eq!(
        (k.lazy_nr(), lazy(&k), k.busy_areas().count()),
        (0, vec![], 0)
    );
}

/// Rule 3. `__vmalloc_node_range()` in mm/vmalloc.c keeps the request as `real_size`, rounds
/// `size` up to a page multiple, and jumps to its fail label when the rounded size is zero or
/// when the rounded size shifted down by PAGE_SHIFT is greater than `totalram_pages`; the
/// guard page is added later (in `__get_vm_area_node`), so it is not counted. The fail label
/// calls `warn_alloc` with "allocation failure: %lu bytes" and `real_size`, and `warn_alloc`
/// (mm/page_alloc.c) returns at once for a gfp with `__GFP_NOWARN`.
///
/// Machine: one node `[0, 0x300)`, so totalram_pages = 0x300 − 0x100 = 512.
/// - 512 · 4096 + 1 = 2097153 bytes rounds to 513 pages > 512: NULL, warning 1 with 2097153,
///   no allocation attempted; with NOWARN, no warning either. Size 0: warning 1 with 0.
/// - 512 · 4096 − 4095 = 2093057 bytes rounds to exactly 512 pages: not greater, the gate
///   passes (the VA is 513 pages with its guard, still accepted). The call then runs: one
///   vm_struct, one vmap_area at V (`[V, V + 0x201000)`), a 4096-byte kmalloc'ed array (8 ·
///   512, not above a page), 512 data pages (the whole pool), and the first page-table page
///   finds the pool empty: warning 2 with 512 · 4096 = 2097152 of `area->size` = 513 · 4096 =
///   2101248, no warning 1 (a failure inside `__vmalloc_area_node` returns NULL directly).
///   Attempts `[1, 1, 1, 512, 1]`; the VA stays pending (513), every page is free again.
#[test]
fn pin03_size_gate_counts_rounded_pages_against_totalram_without_the_guard() {
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x300)])).unwrap();
    assert_eq!(k.totalram_pages(), 512);
    assert_eq!(k.vmalloc(2_097_153, 1), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocFailure { bytes: 2_097_153 }]
    );
    assert_eq!(
        k.__vmalloc(2_097_153, Gfp::KERNEL | Gfp::NOWARN, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(k.vmalloc(0, 1), Ok(None));
    assert_eq!(events(&mut k), vec![Event::AllocFailure { bytes: 0 }]);
    assert_eq!(k.fault_attempts(), [0; 5]);

    assert_eq!(k.vmalloc(2_093_057, 2), Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 2_097_152,
            total: 2_101_248
        }]
    );
    assert_eq!(k.fault_attempts(), [1, 1, 1, 512, 1]);
    assert_eq!(lazy(&k), vec![(V, V + 0x20_1000)]);
    assert_eq!((k.lazy_nr(), k.counters().free_pages), (513, 512));
}

/// `get_vm_area(size, VM_IOREMAP)` after a `vmalloc(4096)` at `[V, V + 0x2000)`: the address and
/// the alignment the search was given.
fn ioremap_after_one_page(size: u64) -> (u64, u64) {
    let mut k = kernel();
    assert_eq!(ok(k.vmalloc(P, 1)), V);
    let a = k.get_vm_area(size, VmFlags::IOREMAP, 2).unwrap().unwrap();
    let addr = a.addr.as_u64();
    let b = k.busy_areas().find(|b| b.start.as_u64() == addr).unwrap();
    (addr, b.request.align)
}

/// Rule 4. `__get_vm_area_node()` in mm/vmalloc.c first rounds the size up to a page multiple
/// (returning NULL if that gives 0); then, for `VM_IOREMAP`, it overwrites the caller's
/// alignment with 1 shifted left by `get_count_order_long(size)` clamped to
/// `[PAGE_SHIFT, IOREMAP_MAX_ORDER]`, before it adds the guard page. `get_count_order_long()`
/// (include/linux/bitops.h) is `fls_long(x) − 1` for a power of two and `fls_long(x)`
/// otherwise, i.e. ceil(log2 x). On x86-64, `IOREMAP_MAX_ORDER` is defined in
/// arch/x86/include/asm/page_types.h as `PUD_SHIFT`, which
/// arch/x86/include/asm/pgtable_64_types.h sets to 30 (the generic 7 + PAGE_SHIFT in
/// include/linux/vmalloc.h applies only when the architecture defines none).
///
/// V is 2^40-aligned, so ALIGN(V + 0x2000, a) = V + ALIGN(0x2000, a):
/// - 1 byte → 0x1000, order 12 → align 0x1000 → V + 0x2000;
/// - 0x3000 → order 14 (not a power of two: fls_long = 14) → 0x4000 → V + 0x4000;
/// - 0x10000 → order 16 (a power of two: 17 − 1) → 0x10000 → V + 0x10000;
/// - 0x10001 → 0x11000 → order 17 → 0x20000 → V + 0x20000;
/// - 1 GiB → order 30 → 0x40000000 → V + 0x40000000;
/// - 4 GiB → order 32, clamped to 30 → 0x40000000 → V + 0x40000000 (not V + 4 GiB).
///
/// The caller's alignment is replaced, not combined: `__vmalloc_node_range(4096, align 1 MiB,
/// vm_flags VM_IOREMAP)` passes `VM_ALLOC | VM_UNINITIALIZED | VM_IOREMAP` down, so the search
/// uses 0x1000 and the area lands at V + 0x2000, not at ALIGN(V + 0x2000, 1 MiB) = V + 0x100000.
#[test]
fn pin04_ioremap_alignment_is_ceil_log2_of_the_page_aligned_size_clamped_to_12_and_30() {
    assert_eq!(ioremap_after_one_page(1), (V + 0x2000, 0x1000));
    assert_eq!(ioremap_after_one_page(0x3000), (V + 0x4000, 0x4000));
    assert_eq!(ioremap_after_one_page(0x1_0000), (V + 0x1_0000, 0x1_0000));
    assert_eq!(ioremap_after_one_page(0x1_0001), (V + 0x2_0000, 0x2_0000));
    assert_eq!(
        ioremap_after_one_page(1 << 30),
        (V + 0x4000_0000, 0x4000_0000)
    );
    assert_eq!(
        ioremap_after_one_page(1 << 32),
        (V + 0x4000_0000, 0x4000_0000)
    );

    let mut k = kernel();
    assert_eq!(ok(k.vmalloc(P, 1)), V);
    let a = ok(k.vmalloc_node_range(
        P,
        0x10_0000,
        V,
        VEND,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::IOREMAP,
        None,
        2,
    ));
    assert_eq!(a, V + 0x2000);
    let b = k.busy_areas().find(|b| b.start.as_u64() == a).unwrap();
    assert_eq!(b.request.align, 0x1000);
    assert_eq!(
        k.find_vm_area(a).unwrap().flags,
        VmFlags::IOREMAP | VmFlags::ALLOC
    );
}

/// Rule 5. `__vmalloc_area_node()` in mm/vmalloc.c takes `nr_pages` as the area's size without
/// its guard page (`get_vm_area_size`) shifted down by PAGE_SHIFT and `array_size` as
/// `nr_pages` times the size of a page pointer (8 bytes); when `array_size` is greater than
/// PAGE_SIZE it gets the array from a nested `__vmalloc_node(array_size, 1, ...)`, otherwise
/// from `kmalloc_node`.
/// - 512 pages: 8 · 512 = 4096, not greater than 4096: kmalloc. (Had the guard been counted,
///   8 · 513 = 4104 would have nested.)
/// - 513 pages: 4104 > 4096: a nested vmalloc of 4104 bytes, i.e. 2 pages plus its guard, a
///   3-page VA placed by lowest fit right after the outer 514-page VA `[V, V + 0x202000)`:
///   `[V + 0x202000, V + 0x205000)`, 2 pages of its own with a 16-byte kmalloc'ed array.
#[test]
fn pin05_pages_array_nests_above_one_page_of_pointers() {
    let mut k = kernel();
    let a = ok(k.vmalloc(512 * P, 1));
    assert_eq!(
        k.find_vm_area(a).unwrap().pages_array,
        ArrayKind::Kmalloc { bytes: 4096 }
    );
    assert_eq!(k.busy_areas().count(), 1);
    assert_eq!(k.fault_attempts()[FaultKind::PagesArray as usize], 1);

    let mut k = kernel();
    let a = ok(k.vmalloc(513 * P, 1));
    assert_eq!(a, V);
    let nested = V + 0x20_2000;
    assert_eq!(
        k.find_vm_area(a).unwrap().pages_array,
        ArrayKind::Vmalloc {
            addr: VirtAddr::from(nested)
        }
    );
    let n = k.find_vm_area(nested).unwrap();
    assert_eq!(
        (n.size, n.nr_pages, n.pages_array),
        (0x3000, 2, ArrayKind::Kmalloc { bytes: 16 })
    );
}

/// Rule 6. In `__vmalloc_area_node()` (mm/vmalloc.c), `nested_gfp` is the caller's gfp masked
/// with `GFP_RECLAIM_MASK` plus `__GFP_ZERO`, and `highmem_mask` is 0 when the caller's gfp has
/// `GFP_DMA` or `GFP_DMA32`, else `__GFP_HIGHMEM`. A nested array is asked for with
/// `nested_gfp | highmem_mask`; each data page with the caller's gfp plus `__GFP_NOWARN` plus
/// `highmem_mask`. `GFP_RECLAIM_MASK` (mm/internal.h) is `__GFP_RECLAIM`, `__GFP_HIGH`,
/// `__GFP_IO`, `__GFP_FS`, `__GFP_NOWARN`, `__GFP_RETRY_MAYFAIL`, `__GFP_NOFAIL`,
/// `__GFP_NORETRY`, `__GFP_MEMALLOC`, `__GFP_NOMEMALLOC` and `__GFP_ATOMIC`: no zone bit and no
/// `__GFP_THISNODE`, but `__GFP_NOWARN`. Page tables for the nested mapping come from
/// `GFP_KERNEL` with no node (semantics §7.1), i.e. Normal first.
///
/// (a) Zone bits dropped, no highmem with DMA32. One node `[0, 0x100010)`: DMA32 pool
/// `[0x100, 0x100000)`, Normal `[0x100000, 0x100010)`. `vmalloc_32(513 pages)` (gfp
/// `GFP_KERNEL | GFP_DMA32`): the nested array's gfp is `GFP_KERNEL | __GFP_ZERO`, so its two
/// pages come from Normal first: 0x100000, 0x100001 (zeroed); its walk takes the PUD 0x100002,
/// the PMD 0x100003 and the PTE table of PMD slot 1 (0x100004). The outer pages keep DMA32 and
/// get no HIGHMEM (DMA32 with HIGHMEM would be a bad zone pair): 0x100..=0x300, unzeroed
/// (poison 0xaa); the outer walk adds the PTE table of PMD slot 0, 0x100005.
///
/// (b) THISNODE dropped. Node 0 `[0, 0x400)` (pool 0x100..0x400), node 1 `[0x400, 0x401)` (one
/// page). `vmalloc_node_range(513 pages, GFP_KERNEL | __GFP_THISNODE, node 1)`: the nested
/// array (no THISNODE) gets 0x400 from node 1, then falls back to node 0 for 0x100; its tables
/// are 0x101..=0x103. The outer data page 0 keeps THISNODE and node 1 is empty: warning 2 with
/// 0 of 514 · 4096 = 2105344, then the outer VA (514) and, through the array's vfree, the nested
/// VA (3) go lazy: newest first `[nested, outer]`, 517 pages. Had THISNODE survived, the
/// nested call would have failed at its second page instead (warning 2 with 4096 of 12288).
///
/// (c) NOWARN kept. Default machine, fault plan "fail data page 1" (the nested call's first
/// page). `vmalloc(513 pages)`: the nested call fails and prints its own warning 2, 0 of its
/// 3-page VA (12288); the outer call prints nothing on the array path. The nested VA is freed
/// first (3), then the outer one (514): newest first `[outer, nested]`. The same call with
/// `GFP_KERNEL | __GFP_NOWARN` prints nothing at all, since `nested_gfp` keeps NOWARN.
#[test]
fn pin06_nested_gfp_keeps_reclaim_bits_and_nowarn_and_drops_zone_and_thisnode() {
    // (a)
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x10_0010)])).unwrap();
    let a = ok(k.vmalloc_32(513 * P, 1));
    assert_eq!(a, V);
    let nested = V + 0x20_2000;
    assert_eq!(
        (pfn_at(&k, nested), pfn_at(&k, nested + P)),
        (0x10_0000, 0x10_0001)
    );
    assert_eq!(k.read(nested, 16).unwrap(), vec![0; 16]);
    assert_eq!((pfn_at(&k, a), pfn_at(&k, a + 512 * P)), (0x100, 0x300));
    assert_eq!(k.read(a, 1).unwrap(), vec![0xaa]);
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x10_0002, 0x10_0003, 0x10_0004, 0x10_0005]);
    assert_eq!(events(&mut k), vec![]);

    // (b)
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 0x400), (0x400, 0x401)])).unwrap();
    let r = k.vmalloc_node_range(
        513 * P,
        1,
        V,
        VEND,
        Gfp::KERNEL | Gfp::THISNODE,
        Prot::Kernel,
        VmFlags::empty(),
        Some(1),
        2,
    );
    assert_eq!(r, Ok(None));
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 2_105_344
        }]
    );
    assert_eq!(
        lazy(&k),
        vec![(nested, nested + 0x3000), (V, V + 0x20_2000)]
    );
    assert_eq!(k.lazy_nr(), 517);
    // Attempts: 2 vm_structs, 2 vmap_areas, 1 small array (the nested one's), 2 nested pages +
    // 1 outer page, 3 table pages; only the tables stay allocated.
    assert_eq!(k.fault_attempts(), [2, 2, 1, 3, 3]);
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x101, 0x102, 0x103]);
    assert_eq!(k.counters().allocated_pages, 3);

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
        let mut k = kernel_with(|c| c.fault_plan = FaultPlan::new().fail(FaultKind::DataPage, 1));
        assert_eq!(k.__vmalloc(513 * P, gfp, Prot::Kernel, 3), Ok(None));
        assert_eq!(events(&mut k), want, "{gfp:?}");
        assert_eq!(
            lazy(&k),
            vec![(V, V + 0x20_2000), (nested, nested + 0x3000)]
        );
        assert_eq!(k.fault_attempts(), [2, 2, 1, 1, 0]);
    }
}

/// Rule 7. `__purge_vmap_area_lazy(start, end)` in mm/vmalloc.c takes the whole
/// `vmap_purge_list`, lowers `start` to every taken VA's `va_start` and raises `end` to every
/// `va_end` (guard pages included), and returns without flushing when it took nothing;
/// otherwise it calls `flush_tlb_kernel_range(start, end)` once, then frees the VAs. Its
/// callers `try_purge_vmap_area_lazy()` (the threshold) and `purge_vmap_area_lazy()` (the
/// allocation retry in `alloc_vmap_area`) pass `ULONG_MAX, 0`, so the range is exactly
/// [min va_start, max va_end); `vm_unmap_aliases()` passes the same unless a vmap block is
/// dirty (none here) and flushes on its own only for dirty blocks.
///
/// - a = `[V, V + 0x2000)`, b (2 pages) = `[V + 0x2000, V + 0x5000)`, c = `[V + 0x5000,
///   V + 0x7000)`, d = `[V + 0x7000, V + 0x9000)`; free d then b; `vm_unmap_aliases`: one flush
///   over `[V + 0x2000, V + 0x9000)`, live c inside it. Again: nothing pending, no flush.
/// - free a; `__get_vm_area(2 pages, [V, V + 0x4000))` needs 3 pages: the pending a blocks V,
///   and V + 0x2000 + 0x3000 passes the end, so `alloc_vmap_area` purges (flush `[V,
///   V + 0x2000)`) and retries: V.
#[test]
fn pin07_purge_flushes_min_start_to_max_end_once_and_only_when_something_is_pending() {
    let mut k = kernel();
    let a = ok(k.vmalloc(P, 1));
    let b = ok(k.vmalloc(2 * P, 2));
    let c = ok(k.vmalloc(P, 3));
    let d = ok(k.vmalloc(P, 4));
    assert_eq!((a, b, c, d), (V, V + 0x2000, V + 0x5000, V + 0x7000));
    k.vfree(d, Context::Process).unwrap();
    k.vfree(b, Context::Process).unwrap();
    assert_eq!(k.lazy_nr(), 5);
    k.vm_unmap_aliases();
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V + 0x2000,
            end: V + 0x9000
        }]
    );
    assert_eq!(k.lazy_nr(), 0);
    assert!(k.find_vm_area(c).is_some());
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), vec![]);

    k.vfree(a, Context::Process).unwrap();
    let g = k
        .__get_vm_area(2 * P, VmFlags::empty(), V, V + 0x4000, 5)
        .unwrap()
        .unwrap();
    assert_eq!(g.addr.as_u64(), V);
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x2000
        }]
    );
}

/// Rule 8. In interrupt context `vfree()` (and `vfree_atomic()` always) in mm/vmalloc.c calls
/// `__vfree_deferred(addr)`, which casts the freed address itself to an llist node and
/// `llist_add`s it to this CPU's `vfree_deferred` list. `llist_add_batch()` (lib/llist.c)
/// stores the list's current first node into the new node's `next` field, the first 8 bytes
/// at `addr` (NULL, 0, when the list was empty), then makes the new node the head. The work
/// item `free_work()` takes the whole list (`llist_del_all`, newest first) and calls
/// `__vunmap(node, 1)` on each in that order.
///
/// Three `vmalloc(4096)` areas a = V, b = V + 0x2000, c = V + 0x4000 (poisoned pages, 0xaa):
/// a's first 8 bytes become 0; b's become a, 0xffffc90000000000, little-endian `00 00 00 00 00
/// c9 ff ff`; c's become b, 0xffffc90000002000, `00 20 00 00 00 c9 ff ff`; byte 8 stays 0xaa.
/// The list reads c, b, a. Running it frees c, then b, then a, so the lazy list, newest first,
/// is a, b, c (6 pages).
#[test]
fn pin08_deferred_free_links_through_the_freed_memory_newest_first() {
    let mut k = kernel();
    let a = ok(k.vmalloc(P, 1));
    let b = ok(k.vmalloc(P, 2));
    let c = ok(k.vmalloc(P, 3));
    assert_eq!((a, b, c), (V, V + 0x2000, V + 0x4000));
    k.vfree(a, Context::Interrupt).unwrap();
    k.vfree_atomic(b).unwrap();
    k.vfree(c, Context::Interrupt).unwrap();
    assert_eq!(k.read(a, 9).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0, 0xaa]);
    assert_eq!(
        k.read(b, 9).unwrap(),
        vec![0, 0, 0, 0, 0, 0xc9, 0xff, 0xff, 0xaa]
    );
    assert_eq!(
        k.read(c, 9).unwrap(),
        vec![0, 0x20, 0, 0, 0, 0xc9, 0xff, 0xff, 0xaa]
    );
    let list: Vec<u64> = k.deferred_list().iter().map(|v| v.as_u64()).collect();
    assert_eq!(list, vec![c, b, a]);
    assert_eq!(k.lazy_nr(), 0);
    k.run_deferred().unwrap();
    assert_eq!(
        lazy(&k),
        vec![(a, a + 0x2000), (b, b + 0x2000), (c, c + 0x2000)]
    );
    assert_eq!(k.lazy_nr(), 6);
    assert!(k.deferred_list().is_empty());
    assert_eq!(events(&mut k), vec![]);
}

/// Rule 9. Boot page tables, x86-64 4.19. `arch/x86/kernel/head_64.S` lays out
/// `level3_kernel_pgt` with slot 510 (`L3_START_KERNEL`, the PUD index of
/// `__START_KERNEL_map`) pointing at `level2_kernel_pgt` with `_KERNPG_TABLE_NOENC` and slot 511
/// at `level2_fixmap_pgt` with `_PAGE_TABLE_NOENC`; under 5-level paging `level4_kernel_pgt`'s
/// slot 511 points at `level3_kernel_pgt` with `_PAGE_TABLE_NOENC`. `__startup_64()` in
/// `arch/x86/kernel/head64.c` writes `early_top_pgt`'s slot for `__START_KERNEL_map` (511) as
/// the physical address of `level3_kernel_pgt` (or `level4_kernel_pgt` under LA57) plus
/// `_PAGE_TABLE_NOENC` plus the load delta, and adds the load delta, which includes the SME
/// mask, to PUD slots 510 and 511 (and the P4D slot 511); `x86_64_start_kernel()` then copies
/// that PGD slot 511 into `init_top_pgt`, which it has cleared. In
/// `arch/x86/include/asm/pgtable_types.h`, `_KERNPG_TABLE_NOENC` is PRESENT | RW | ACCESSED |
/// DIRTY = 0x01 + 0x02 + 0x20 + 0x40 = 0x63 and `_PAGE_TABLE_NOENC` adds USER (0x04): 0x67.
///
/// With the static frames of semantics §12.1 (root PGD 1, PUD 2, PMDs 3 and 4, LA57 P4D 5):
/// PGD[511] = 0x2067, PUD[510] = 0x3063, PUD[511] = 0x4067; under SME with the C-bit at 47
/// each also has 0x800000000000; with LA57 PGD[511] = 0x5067 and P4D[511] = 0x2067. Every other
/// root slot is empty, the vmalloc window's (402) included.
#[test]
fn pin09_boot_entries_are_kernpg_0x63_for_pud_510_and_page_table_0x67_elsewhere() {
    let k = kernel();
    assert_eq!(entry(&k, 1, 511), 0x2067);
    assert_eq!(entry(&k, 2, 510), 0x3063);
    assert_eq!(entry(&k, 2, 511), 0x4067);
    assert_eq!((entry(&k, 1, 402), entry(&k, 1, 510)), (0, 0));

    let k = kernel_with(|c| c.sme_c_bit = 1 << 47);
    assert_eq!(entry(&k, 1, 511), 0x8000_0000_2067);
    assert_eq!(entry(&k, 2, 510), 0x8000_0000_3063);
    assert_eq!(entry(&k, 2, 511), 0x8000_0000_4067);

    let k = Kernel::new(MachineConfig::la57()).unwrap();
    assert_eq!(entry(&k, 1, 511), 0x5067);
    assert_eq!(entry(&k, 5, 511), 0x2067);
    assert_eq!(entry(&k, 2, 510), 0x3063);
    assert_eq!(entry(&k, 2, 511), 0x4067);
}

/// Rule 10. `gfp_zone()` in include/linux/gfp.h looks the zone up in `GFP_ZONE_TABLE`, where a
/// gfp whose only zone bit is `__GFP_DMA` maps to `OPT_ZONE_DMA`, which is ZONE_DMA when
/// `CONFIG_ZONE_DMA` is set (the x86 default), not ZONE_DMA32; on x86-64 ZONE_DMA ends at
/// `MAX_DMA_PFN`, 16 MiB (arch/x86/include/asm/dma.h). The allocation may use only zones up
/// to that one. Our machine's ZONE_DMA is empty (design §5.6, semantics §12.2), and with no
/// usable zone `__alloc_pages_slowpath()` (mm/page_alloc.c) fails the request, or, for
/// `__GFP_NOFAIL`, retries for ever.
///
/// - `alloc_page(GFP_DMA)`: NULL, one data-page attempt.
/// - `__vmalloc(4096, GFP_KERNEL | GFP_DMA)`: vm_struct, vmap_area `[V, V + 0x2000)`, an 8-byte
///   array, then data page 0 (gfp DMA | NOWARN, no highmem: `highmem_mask` is 0 with
///   `GFP_DMA`) finds nothing: warning 2 with 0 of 8192, the VA pending (2 pages), no table
///   made. Attempts `[1, 1, 1, 2, 0]` with the `alloc_page` before it.
/// - 513 pages with `GFP_DMA`: the nested array's gfp has no zone bit, so it succeeds (2 pages,
///   0x100 and 0x101, and 3 tables); the outer data page 0 fails: warning 2 with 0 of 2105344,
///   both VAs pending.
/// - Under `__GFP_NOFAIL` the page request would loop: `WouldHang`, for `alloc_page` and for a
///   vmalloc data page alike.
#[test]
fn pin10_gfp_dma_finds_no_page_in_the_empty_zone_dma() {
    let mut k = kernel();
    assert_eq!(k.alloc_page(Gfp::KERNEL | Gfp::DMA, None), Ok(None));
    assert_eq!(
        k.__vmalloc(P, Gfp::KERNEL | Gfp::DMA, Prot::Kernel, 1),
        Ok(None)
    );
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 8192
        }]
    );
    assert_eq!(k.fault_attempts(), [1, 1, 1, 2, 0]);
    assert_eq!(lazy(&k), vec![(V, V + 0x2000)]);
    assert_eq!(k.counters().allocated_pages, 0);

    let mut k = kernel();
    assert_eq!(
        k.__vmalloc(513 * P, Gfp::KERNEL | Gfp::DMA, Prot::Kernel, 2),
        Ok(None)
    );
    assert_eq!(
        events(&mut k),
        vec![Event::AllocPartial {
            allocated: 0,
            total: 2_105_344
        }]
    );
    assert_eq!(
        lazy(&k),
        vec![(V + 0x20_2000, V + 0x20_5000), (V, V + 0x20_2000)]
    );
    assert_eq!(k.fault_attempts(), [2, 2, 1, 3, 3]);
    assert!(k.busy_areas().all(|b| b.state == AreaState::Lazy));
    // The nested array's pages 0x100 and 0x101 went back with it; only its 3 tables remain.
    let tables: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(tables, vec![0x102, 0x103, 0x104]);
    assert_eq!(k.counters().allocated_pages, 3);

    let mut k = kernel();
    assert_eq!(
        k.alloc_page(Gfp::KERNEL | Gfp::DMA | Gfp::NOFAIL, None),
        Err(Fatal::WouldHang)
    );
    let mut k = kernel();
    assert_eq!(
        k.__vmalloc(P, Gfp::KERNEL | Gfp::DMA | Gfp::NOFAIL, Prot::Kernel, 3),
        Err(Fatal::WouldHang)
    );
}

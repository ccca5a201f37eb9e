//! Knob `faithful_4x_cache` (semantics §4.3, semantics §4.4, R3, I7): `off` (default) is exact
//! lowest fit; `on` is the literal v4.19.0 search with its cache and the strict
//! `size < cached_hole_size` test. Every expected value is derived in a comment from semantics
//! §4.3: "cache" is `free_vmap_cache`, "hole" `cached_hole_size`; the reset rules, the walk and
//! `__free_vmap_area`'s moves are traced step by step.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{
    Context, Event, Faithful4xCache, Gfp, Kernel, Knobs, Prot, VirtAddr, VmFlags,
};

fn with_cache(on: bool) -> Kernel {
    kernel_with(|c| {
        c.knobs = Knobs {
            faithful_4x_cache: if on {
                Faithful4xCache::On
            } else {
                Faithful4xCache::Off
            },
            ..Knobs::default()
        }
    })
}

/// `__get_vm_area(size, VM_NO_GUARD, VMALLOC_START, VMALLOC_END)`: a VA of exactly `size`.
fn no_guard(k: &mut Kernel, size: u64) -> u64 {
    k.__get_vm_area(size, VmFlags::NO_GUARD, V, VEND, 1)
        .expect("no fatal")
        .expect("placed")
        .addr
        .as_u64()
}

/// `__vmalloc_node_range(size, align, [V, end), GFP_KERNEL, PAGE_KERNEL, 0, NUMA_NO_NODE)`.
fn range(k: &mut Kernel, size: u64, align: u64, end: u64) -> Option<u64> {
    k.vmalloc_node_range(
        size,
        align,
        V,
        end,
        Gfp::KERNEL,
        Prot::Kernel,
        VmFlags::empty(),
        None,
        2,
    )
    .expect("no fatal")
    .map(VirtAddr::as_u64)
}

/// semantics §4.4's example moved into the vmalloc window, in pages from V (VM_NO_GUARD, align 1).
///
/// Both modes: 1, 1, 1 pages land at 0, 1, 2 (each search starts at the end of the area
/// placed before; nothing collides). `free_vm_area` of the one at 1 makes it lazy;
/// `vm_unmap_aliases` purges it: one flush over [1, 2).
///
/// - Default (lowest fit): 2 pages: the hole [1, 2) is too small, so 3. Then 1 page: the
///   hole [1, 2): V + 0x1000.
/// - faithful: the cache is the area at 2 (the last insert), `cached_vstart` = V,
///   `cached_align` = 1, hole 0. The purge's `__free_vmap_area` of [1, 2): its end 2 is not
///   below V, and its start 1 <= 2 (the cache's start): the cache moves to its predecessor,
///   the area at 0. 2 pages: 2 < 0 is false, V and 1 are not below the cached values: the
///   cache is used. addr = ALIGN(end of [0, 1)) = 1, first = [0, 1): 1 + 2 > 0 and fits
///   below vend; hole test 1 + 0 < 0 is false; addr = 1; next [2, 3): 3 > 2, so the hole test
///   1 + 0 < 2 records hole = 2 - 1 = 1 page; addr = 3; last area: found at 3. The cache is
///   [3, 5). 1 page: 1 page < 1 page is false (**the strict test**), so the cache is used:
///   addr = 5, first = [3, 5): 6 > 3; 5 + 1 < 3 is false; addr = 5; last: found at 5, i.e.
///   V + 0x5000, although [1, 2) is free.
#[test]
fn spec_4_4_example_in_the_vmalloc_window() {
    for (on, last) in [(false, V + 0x1000), (true, V + 0x5000)] {
        let mut k = with_cache(on);
        assert_eq!(no_guard(&mut k, P), V);
        assert_eq!(no_guard(&mut k, P), V + 0x1000);
        assert_eq!(no_guard(&mut k, P), V + 0x2000);
        k.free_vm_area(V + 0x1000).unwrap();
        assert_eq!(k.lazy_nr(), 1);
        k.vm_unmap_aliases();
        assert_eq!(
            events(&mut k),
            vec![Event::TlbFlush {
                start: V + 0x1000,
                end: V + 0x2000
            }]
        );
        assert_eq!(no_guard(&mut k, 2 * P), V + 0x3000);
        assert_eq!(no_guard(&mut k, P), last, "faithful_4x_cache={on}");
        assert_eq!(events(&mut k), vec![]);
    }
}

/// The same under the whole preset v4.19.0 (its other knobs play no part here).
#[test]
fn spec_4_4_example_under_the_v4_19_0_preset() {
    let mut k = kernel_with(|c| c.knobs = Knobs::v4_19_0());
    for (i, a) in [V, V + 0x1000, V + 0x2000].into_iter().enumerate() {
        assert_eq!(no_guard(&mut k, P), a, "area {i}");
    }
    k.free_vm_area(V + 0x1000).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(no_guard(&mut k, 2 * P), V + 0x3000);
    assert_eq!(no_guard(&mut k, P), V + 0x5000);
}

/// A vmap-stack sequence: `vmalloc(4K)`, a 16 KiB area aligned to 16 KiB, `vmalloc(8K)`,
/// `vmalloc(4K)`. VA sizes include the guard page: 0x2000, 0x5000, 0x3000, 0x2000.
///
/// - Default: [V, V+0x2000); 16K-aligned: ALIGN(V, 0x4000) = V is busy, ALIGN(V+0x2000,
///   0x4000) = V+0x4000: [V+0x4000, V+0x9000); 0x3000 does not fit the 0x2000 hole
///   [V+0x2000, V+0x4000): [V+0x9000, V+0xc000); 0x2000 fits that hole exactly: V + 0x2000.
/// - faithful:
///   1. no cache: reset; `cached_vstart` = V, `cached_align` = 1; addr = V, no busy area:
///      found V. Cache A = [V, V+0x2000), hole 0.
///   2. 0x5000 < 0 false, V not below V, 0x4000 not below 1: cache used; `cached_align` =
///      0x4000. addr = ALIGN(V+0x2000, 0x4000) = V+0x4000; first = A: V+0x9000 > V; hole test
///      V+0x4000 + 0 < V false; addr = V+0x4000; A is last: found. Cache B = [V+0x4000,
///      V+0x9000).
///   3. align 1 < `cached_align` 0x4000: reset (hole 0, no cache); `cached_align` = 1. addr =
///      V; the descent gives A (V <= V <= its end): V+0x3000 > V; V + 0 < V false; addr =
///      V+0x2000; next B: V+0x5000 > V+0x4000, and V+0x2000 + 0 < V+0x4000 records hole =
///      0x2000; addr = V+0x9000; B is last: found. Cache C = [V+0x9000, V+0xc000), hole
///      0x2000.
///   4. 0x2000 < 0x2000 is false (strict): cache used; addr = V+0xc000, first = C:
///      V+0xe000 > V+0x9000; V+0xc000 + 0x2000 < V+0x9000 false; addr = V+0xc000; last:
///      found at V + 0xc000, skipping the exact-fit hole [V+0x2000, V+0x4000).
#[test]
fn vmap_stack_sequence() {
    for (on, last) in [(false, V + 0x2000), (true, V + 0xc000)] {
        let mut k = with_cache(on);
        assert_eq!(ok(k.vmalloc(0x1000, 1)), V);
        assert_eq!(range(&mut k, 0x4000, 0x4000, VEND), Some(V + 0x4000));
        assert_eq!(ok(k.vmalloc(0x2000, 3)), V + 0x9000);
        assert_eq!(ok(k.vmalloc(0x1000, 4)), last, "faithful_4x_cache={on}");
        assert_eq!(events(&mut k), vec![]);
    }
}

/// The steps shared by the spurious-failure and needless-purge cases, in the window
/// W = [V, V + 10 pages), in pages from V (VA = data + guard):
/// 1. a = 1 page: [0, 2); b: [2, 4); c: [4, 6). Each search starts at the previous area's end
///    (faithful: from the cache; nothing collides, no hole recorded).
/// 2. vfree(b), then `vm_unmap_aliases`: one flush over [2, 4). faithful: the cache was c;
///    b ends at 4, not below V; b's start 2 <= 4: the cache moves to a.
/// 3. d = 2 pages (VA 3 pages). Default: the hole [2, 4) is too small: [6, 9). faithful:
///    3 < 0 false: from the cache a: addr = 2, first = a: 5 > 0, 2 + 0 < 0 false; addr = 2;
///    next c: 5 > 4, and 2 + 0 < 4 records hole = 2 pages; addr = 6; c is last: found,
///    6 + 3 <= 10. Cache d = [6, 9), hole 2 pages.
fn setup_window(k: &mut Kernel) -> [u64; 4] {
    const W: u64 = V + 0xa000;
    let a = range(k, P, 1, W).unwrap();
    let b = range(k, P, 1, W).unwrap();
    let c = range(k, P, 1, W).unwrap();
    assert_eq!([a, b, c], [V, V + 0x2000, V + 0x4000]);
    k.vfree(b, Context::Process).unwrap();
    k.vm_unmap_aliases();
    assert_eq!(
        events(k),
        vec![Event::TlbFlush {
            start: V + 0x2000,
            end: V + 0x4000
        }]
    );
    let d = range(k, 2 * P, 1, W).unwrap();
    assert_eq!(d, V + 0x6000);
    [a, b, c, d]
}

/// A spurious -EBUSY (semantics §4.4, I7): the request fails under the faithful cache although
/// lowest fit has room. After [`setup_window`]:
/// 4. e = `vmalloc(4K)` over the whole vmalloc window. Default: lowest fit [2, 4).
///    faithful: 2 pages < 2 pages false, V not below V, align 1: cache d used: addr = 9,
///    first d: 11 > 6, 11 <= VEND; 9 + 2 < 6 false; addr = 9; last: found [9, 11). Cache e.
/// 5. vfree(e): lazy (2 pages pending, far below the threshold).
/// 6. 1 page in W. faithful: cache e (lazy VAs stay busy): 2 < 2 false: used. addr =
///    ALIGN(11) = 11, first = e: 13 > 9 but 13 > 10 = vend: the walk stops; found: 13 > 10:
///    overflow. Purge: flush [9, 11); `__free_vmap_area(e)`: 11 is not below V, 9 <= 9 (e is
///    the cache): the cache moves to d. Retry: 2 < 2 false: from d: addr = 9, 11 > 10:
///    overflow again. Warning 3 (VA size 0x2000), warning 1 (4096 bytes), NULL. [2, 4) is
///    free all along: lowest fit had room.
///
///    Default: e is the lazy [2, 4); lowest fit in W: [9, 11) passes vend: no fit. Purge:
///    flush [2, 4), retry: V + 0x2000.
#[test]
fn spurious_ebusy() {
    let mut k = with_cache(true);
    let [a, _, c, d] = setup_window(&mut k);
    let e = ok(k.vmalloc(P, 5));
    assert_eq!(e, V + 0x9000);
    k.vfree(e, Context::Process).unwrap();
    assert_eq!(range(&mut k, P, 1, V + 0xa000), None);
    assert_eq!(
        events(&mut k),
        vec![
            Event::TlbFlush {
                start: V + 0x9000,
                end: V + 0xb000
            },
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: 0x1000 },
        ]
    );
    // Nothing else changed: a, c and d are the busy areas, nothing pending; [2, 4) is free.
    let busy: Vec<u64> = k.busy_areas().map(|b| b.start.as_u64()).collect();
    assert_eq!(busy, vec![a, c, d]);
    assert_eq!(k.lazy_nr(), 0);

    let mut k = with_cache(false);
    setup_window(&mut k);
    let e = ok(k.vmalloc(P, 5));
    assert_eq!(e, V + 0x2000);
    k.vfree(e, Context::Process).unwrap();
    assert_eq!(range(&mut k, P, 1, V + 0xa000), Some(V + 0x2000));
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V + 0x2000,
            end: V + 0x4000
        }]
    );
}

/// A needless purge: lowest fit places without purging, the faithful search overflows, purges,
/// and then places elsewhere. After [`setup_window`]:
/// 4. vfree(a): [0, 2) lazy.
/// 5. 1 page in W. Default: [0, 2) is busy (lazy), [2, 4) is free: V + 0x2000, no event, a
///    still pending (2 pages).
///
///    faithful: cache d, 2 < 2 false: addr = 9, 11 > 10: overflow. Purge: flush [0, 2);
///    `__free_vmap_area(a)`: its end 2 is not below V, its start 0 <= 6 (d): the cache moves
///    to a's predecessor: none. Retry: no cache: reset (hole 0); addr = ALIGN(V, 1) = V; the
///    descent: no area starts below V, the first one at or above is c = [4, 6); 0 + 2 > 4 is
///    false: the walk does not run; found: 2 <= 10: V + 0 (a's old place).
#[test]
fn needless_purge() {
    let mut k = with_cache(false);
    let [a, ..] = setup_window(&mut k);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(range(&mut k, P, 1, V + 0xa000), Some(V + 0x2000));
    assert_eq!(events(&mut k), vec![]);
    assert_eq!(k.lazy_nr(), 2);

    let mut k = with_cache(true);
    let [a, ..] = setup_window(&mut k);
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(range(&mut k, P, 1, V + 0xa000), Some(V));
    assert_eq!(
        events(&mut k),
        vec![Event::TlbFlush {
            start: V,
            end: V + 0x2000
        }]
    );
    assert_eq!(k.lazy_nr(), 0);
}

/// A cached VA from another window: a `module_alloc` (vstart MODULES_VADDR, align 4096)
/// leaves the cache at its area, `cached_vstart` = MODULES_VADDR and `cached_align` = 4096;
/// the next vmalloc (vstart V below it, align 1 below 4096) resets and searches from V.
/// Default and faithful agree.
///
/// [V, V+0x2000) and [V+0x2000, V+0x4000) busy, the first freed and purged (faithful: the
/// cache, the second area, moves to the first's predecessor: none). module_alloc(4K): no
/// cache, no busy VA ends at or above MODULES: [MODULES, MODULES+0x2000), now the cache.
/// vmalloc(4K): reset, full search from V: the descent gives [V+0x2000, V+0x4000);
/// V + 0x2000 > V + 0x2000 is false, so the walk does not run: found at V.
#[test]
fn lower_vstart_resets_the_cache() {
    for on in [false, true] {
        let mut k = with_cache(on);
        let x = ok(k.vmalloc(P, 1));
        assert_eq!(ok(k.vmalloc(P, 2)), V + 0x2000);
        k.vfree(x, Context::Process).unwrap();
        k.vm_unmap_aliases();
        assert_eq!(ok(k.module_alloc(P, 3)), MODULES);
        assert_eq!(ok(k.vmalloc(P, 4)), V, "faithful_4x_cache={on}");
    }
}

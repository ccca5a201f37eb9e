//! The seven allocation scenarios of the kernel's own `lib/test_vmalloc.c` (semantics §16.1) as
//! engine tests. The kernel module only checks that each call returned non-NULL; these tests
//! check, exactly: the returned addresses, the VA extents (guard page: its PTE is 0 and the
//! next area starts after it), the data-page PFNs (semantics §12.2: lowest free PFN, data pages
//! before table pages, R13), the PTE values (R7, semantics §8.3: `(pfn << 12) | 0x8000000000000163`
//! on the default machine) and the intermediate entries (I9: `phys | 0x67`), the number of
//! page-table pages (I8), every `TlbFlush` event and `lazy_nr` at the points where a purge must
//! or must not happen (semantics §5.4, R9), the warnings of a failing call (R3, R4), and the end
//! state after everything is freed and purged (no live or lazy area, free pages = totalram − table
//! pages, the allocated frames being exactly the table frames).
//!
//! Every expected value is derived from `docs/semantics.md` in a comment beside it. The two random
//! scenarios, and the page and table bookkeeping of `long_busy_list_alloc`, use [`Shadow`]: a
//! small model written in this file from `docs/semantics.md` (lowest fit of semantics §4.3 over a
//! sorted list of busy ranges, the lazy threshold of §5.4, the page policy of §12.2, the table rule
//! of I8). It calls nothing in the engine.
//!
//! Machine: the design §3.17 default (4 CPUs, so `lazy_max_pages` = fls(4) · 8192 = 3 · 8192 =
//! 24576; one node `[0, 0x40000)`, so `totalram_pages` = 0x40000 − 256 = 261888).
//!
//! Scaling (design §3.19): the kernel's `test_loop_count` is 10^6. Each loop here is cut to
//! a couple of lazy-purge periods plus a remainder, so that every loop crosses the purge
//! threshold at least twice (the periods are derived in each test). The kernel-sized busy sets
//! are kept at kernel scale: full_fit's `junk_length` = `lazy_max_pages` = 24576 pairs (it must
//! stay above the threshold: freeing the junk half is what triggers the first purge) and
//! long_busy_list's 15,000 areas.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use vmalloc_engine::{AreaState, Context, Event, Gfp, Kernel, Prot, VmFlags};

/// `lazy_max_pages()` of the default machine (semantics §5.4): fls(4) = 3, 3 · 8192.
const LAZY_MAX: u64 = 3 * 8192;
/// `totalram_pages` of the default machine (design §3.17): PFNs 256..0x40000.
const TOTALRAM: u64 = 0x40000 - 0x100;
/// Pool frames of the default machine: `[0x100, 0x40000)` (semantics §12.2).
const POOL: std::ops::Range<u64> = 0x100..0x40000;

/// A leaf PTE for `PAGE_KERNEL` on the default machine (R7, semantics §8.3 scenario A).
fn leaf(pfn: u64) -> u64 {
    (pfn << 12) | PAGE_KERNEL
}

/// An intermediate entry the vmap path creates (I9): `phys | 0x67`.
fn tbl(pfn: u64) -> u64 {
    (pfn << 12) | 0x67
}

fn flush(start: u64, end: u64) -> Event {
    Event::TlbFlush { start, end }
}

fn vfree(k: &mut Kernel, a: u64) {
    k.vfree(a, Context::Process).expect("no fatal");
}

/// `__vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END, GFP_KERNEL | __GFP_ZERO,
/// PAGE_KERNEL, 0, node 0)`: the call the align tests of test_vmalloc.c make.
fn range_zero(k: &mut Kernel, size: u64, align: u64, caller: u32) -> Option<u64> {
    k.vmalloc_node_range(
        size,
        align,
        V,
        VEND,
        Gfp::KERNEL | Gfp::ZERO,
        Prot::Kernel,
        VmFlags::empty(),
        Some(0),
        caller,
    )
    .expect("no fatal")
    .map(|a| a.as_u64())
}

/// The end state once every area was freed and the lazy list purged: nothing live or pending,
/// the pool back to `totalram − tables`, and (raw) the allocated frames are exactly the
/// page-table frames (I5 with no area, caller page or orphan; I8 tables are never freed).
fn assert_all_freed(k: &Kernel, tables: u64) {
    let c = k.counters();
    assert_eq!(
        (c.live_vm_structs, c.busy_vas, c.lazy_vas, c.lazy_nr),
        (0, 0, 0, 0),
        "no live or lazy area"
    );
    assert_eq!(
        (
            c.area_pages,
            c.caller_pages,
            c.unclaimed_pages,
            c.kmalloc_arrays,
            c.live_objects
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(c.table_pages, tables);
    assert_eq!(c.free_pages, TOTALRAM - tables);
    assert_eq!(k.busy_areas().count(), 0);
    let allocated: Vec<u64> = k.phys().allocated_frames().map(|p| p.as_u64()).collect();
    let mut t: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    t.sort_unstable();
    assert_eq!(allocated, t, "allocated frames = table frames");
}

// ---- Shadow: an independent model of what these scenarios touch -----------------------------

/// `ALIGN(x, a)` for a power of two `a`, or `None` when it wraps past 2^64 (semantics §0, R4).
fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|y| y & !(a - 1))
}

/// Where a [`Shadow`] allocation goes.
#[derive(Clone, Copy)]
enum Place {
    /// Exact lowest fit (semantics §4.3, R3), with purge and one retry.
    Lowest,
    /// An address derived by hand in the test; the shadow only checks that it is a legal,
    /// free placement.
    At(u64),
}

/// One busy VA of the shadow.
#[derive(Clone, Debug)]
struct SArea {
    end: u64,
    live: bool,
    /// Data PFNs in index order (emptied when the area is lazily freed).
    pages: Vec<u64>,
}

/// A model of a one-node, 4-level machine that only runs vmalloc-family calls of at most 512
/// pages (so the pages array is kmalloc'ed, R5) and vfree of live area starts. Written from the
/// spec, sharing nothing with the engine but the `Event` type used to compare.
struct Shadow {
    lazy_max: u64,
    /// Every busy VA, live and lazily freed alike (semantics §4.3: "all vmap_areas in the tree").
    busy: BTreeMap<u64, SArea>,
    /// Lazily freed VA starts, oldest first.
    lazy: Vec<u64>,
    lazy_nr: u64,
    free: BTreeSet<u64>,
    /// Page-table pages (I8): key `(level, region)`, with level 3 = the PUD table of a
    /// 512 GiB region (`va >> 39`), 2 = the PMD table of a 1 GiB region (`va >> 30`), 1 = the
    /// PTE table of a 2 MiB region (`va >> 21`).
    tables: BTreeMap<(u8, u64), u64>,
    /// Table PFNs in allocation order.
    table_order: Vec<u64>,
    events: Vec<Event>,
    purges: u64,
}

impl Shadow {
    fn new(lazy_max: u64) -> Self {
        Shadow {
            lazy_max,
            busy: BTreeMap::new(),
            lazy: Vec::new(),
            lazy_nr: 0,
            free: POOL.collect(),
            tables: BTreeMap::new(),
            table_order: Vec::new(),
            events: Vec::new(),
            purges: 0,
        }
    }

    /// Does `[s, e)` intersect a busy VA? Busy VAs are disjoint and sorted, so the only one
    /// that can intersect is the one with the greatest start below `e`: any area b with
    /// `b.start < e` and `b.end > s` implies that one's end is `>= b.end > s`.
    fn overlaps(&self, s: u64, e: u64) -> bool {
        self.busy
            .range(..e)
            .next_back()
            .is_some_and(|(_, a)| a.end > s)
    }

    /// semantics §4.3 lowest fit: the candidates are `ALIGN(vstart)` and `ALIGN(b.end)` for every
    /// busy b with `b.end >= vstart`; the first candidate, in increasing order, that is computed
    /// without wrap, is `>= vstart`, does not wrap with `+ size`, ends `<= vend` and meets no
    /// busy VA is the answer. Busy VAs are disjoint, so walking them by start walks their ends
    /// in increasing order too, and ALIGN is monotone: the candidates come out sorted (asserted).
    fn lowest_fit(&self, size: u64, align: u64, vstart: u64, vend: u64) -> Option<u64> {
        let first = align_up(vstart, align);
        let rest = self
            .busy
            .values()
            .filter(|a| a.end >= vstart)
            .map(|a| align_up(a.end, align));
        let mut last = 0u64;
        for c in std::iter::once(first).chain(rest) {
            let Some(c) = c else { continue }; // ALIGN wrapped: not a fit (R4)
            assert!(c >= last, "candidates out of order");
            last = c;
            if c < vstart {
                continue;
            }
            let Some(e) = c.checked_add(size) else {
                continue;
            };
            if e <= vend && !self.overlaps(c, e) {
                return Some(c);
            }
        }
        None
    }

    /// R9 purge: every lazy VA goes, one TLB flush over [min start, max end); nothing at all
    /// when nothing is pending.
    fn purge(&mut self) {
        if self.lazy.is_empty() {
            return;
        }
        let mut lo = u64::MAX;
        let mut hi = 0;
        for s in std::mem::take(&mut self.lazy) {
            let a = self.busy.remove(&s).expect("lazy area is busy");
            lo = lo.min(s);
            hi = hi.max(a.end);
        }
        self.lazy_nr = 0;
        self.purges += 1;
        self.events.push(flush(lo, hi));
    }

    /// One page by semantics §12.2 on a one-node machine: the lowest free PFN.
    fn take_page(&mut self) -> u64 {
        self.free.pop_first().expect("pool not empty")
    }

    /// `__vmalloc_node_range` over `[vstart, vend)` (R1–R3, R6, R7, R13 for these scenarios:
    /// no fault, no nested array, a one-node pool that does not run out).
    fn vmalloc(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        place: Place,
    ) -> Option<u64> {
        let s = align_up(size, P).expect("size below 2^64 - 4096");
        let n = s / P;
        assert!(
            n > 0 && n <= 512,
            "the shadow covers kmalloc'ed arrays only"
        );
        let va = s + P; // R2: the guard page
        let start = match place {
            Place::At(a) => {
                assert!(
                    a >= vstart && a % align == 0 && a + va <= vend && !self.overlaps(a, a + va),
                    "hand-derived placement {a:#x} is not free"
                );
                a
            }
            Place::Lowest => match self.lowest_fit(va, align, vstart, vend) {
                Some(a) => a,
                None => {
                    // R3: purge, retry once, then warnings 3 and 1 (R13 step 3).
                    self.purge();
                    match self.lowest_fit(va, align, vstart, vend) {
                        Some(a) => a,
                        None => {
                            self.events.push(Event::VmapAllocFailed { size: va });
                            self.events.push(Event::AllocFailure { bytes: size });
                            return None;
                        }
                    }
                }
            },
        };
        // R13 step 5: the data pages, in index order, before any table page.
        let pages: Vec<u64> = (0..n).map(|_| self.take_page()).collect();
        // R13 step 6 / I8: walking the mapped pages in ascending order, each region gets its
        // table top-down when the walk first reaches it.
        for i in 0..n {
            let a = start + i * P;
            for (level, shift) in [(3u8, 39u32), (2, 30), (1, 21)] {
                let key = (level, a >> shift);
                if !self.tables.contains_key(&key) {
                    let pfn = self.take_page();
                    self.tables.insert(key, pfn);
                    self.table_order.push(pfn);
                }
            }
        }
        self.busy.insert(
            start,
            SArea {
                end: start + va,
                live: true,
                pages,
            },
        );
        Some(start)
    }

    /// vfree of a live area's start (R9): lazy add with the threshold check, then the pages.
    fn vfree(&mut self, addr: u64) {
        let a = self.busy.get_mut(&addr).expect("live area");
        assert!(a.live);
        a.live = false;
        let pages = std::mem::take(&mut a.pages);
        self.lazy_nr += (a.end - addr) / P;
        self.lazy.push(addr);
        if self.lazy_nr > self.lazy_max {
            self.purge();
        }
        self.free.extend(pages);
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The four entries the walk to `va` must read (`[pgd, pud, pmd, pte]`) if `va` is the
    /// k-th page of the live area at `start`.
    fn walk(&self, start: u64, k: u64) -> [u64; 4] {
        let va = start + k * P;
        let t = |level: u8, shift: u32| tbl(self.tables[&(level, va >> shift)]);
        let pfn = self.busy[&start].pages[k as usize];
        [t(3, 39), t(2, 30), t(1, 21), leaf(pfn)]
    }
}

/// Every page of the live area at `a` maps exactly the shadow's PFN through the shadow's
/// tables; the guard page's PTE is 0.
fn check_area(k: &Kernel, sh: &Shadow, a: u64) {
    let area = &sh.busy[&a];
    let n = (area.end - a) / P - 1;
    for i in 0..n {
        assert_eq!(walk4(k, a + i * P), sh.walk(a, i), "area {a:#x} page {i}");
    }
    assert_eq!(pte(k, area.end - P), 0, "guard page of {a:#x}");
}

/// The whole busy list, the lazy list and the table frames agree with the shadow.
fn check_state(k: &Kernel, sh: &Shadow) {
    let eng: Vec<(u64, u64, bool)> = k
        .busy_areas()
        .map(|b| {
            let live = matches!(b.state, AreaState::Live(_));
            (b.start.as_u64(), b.end.as_u64(), live)
        })
        .collect();
    let shd: Vec<(u64, u64, bool)> = sh.busy.iter().map(|(&s, a)| (s, a.end, a.live)).collect();
    assert_eq!(eng, shd, "busy areas");
    let lazy: Vec<u64> = k.lazy_list().iter().map(|(s, _)| s.as_u64()).collect();
    let shl: Vec<u64> = sh.lazy.iter().rev().copied().collect();
    assert_eq!(lazy, shl, "lazy list, newest first");
    assert_eq!(k.lazy_nr(), sh.lazy_nr);
    let t: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(t, sh.table_order, "table frames in allocation order");
    assert_eq!(k.counters().free_pages, sh.free.len() as u64);
}

/// splitmix64: a fixed, seeded PRNG, so every run sees the same sequence.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn shadow_lowest_fit_matches_hand_cases() {
    // The shadow's oracle on cases worked by hand from semantics §4.3 (the engine is not involved).
    let mut sh = Shadow::new(LAZY_MAX);
    assert_eq!(sh.lowest_fit(0x2000, 1, V, VEND), Some(V));
    sh.vmalloc(P, 1, V, VEND, Place::At(V)); // [V, V+0x2000)
    sh.vmalloc(P, 1, V, VEND, Place::At(V + 0x4000)); // [V+0x4000, V+0x6000)

    // The 2-page hole [V+0x2000, V+0x4000) fits a 2-page VA exactly, not a 3-page one.
    assert_eq!(sh.lowest_fit(0x2000, 1, V, VEND), Some(V + 0x2000));
    assert_eq!(sh.lowest_fit(0x3000, 1, V, VEND), Some(V + 0x6000));
    // Alignment 0x8000: ALIGN(V) = V busy, ALIGN(V+0x2000) = V+0x8000.
    assert_eq!(sh.lowest_fit(0x2000, 0x8000, V, VEND), Some(V + 0x8000));
    // ALIGN(V, 2^46) wraps (R4): no fit; 2^45 gives 0xffffe00000000000.
    assert_eq!(sh.lowest_fit(0x2000, 1 << 46, V, VEND), None);
    assert_eq!(
        sh.lowest_fit(0x2000, 1 << 45, V, VEND),
        Some(0xffff_e000_0000_0000)
    );
    // vend is exclusive and VMALLOC_END is the odd last byte: from vstart = VEND − 0x1fff
    // (= 0x…e000) a 2-page VA would end at 0x…10000 = VEND + 1 > VEND; one page lower it ends
    // at 0x…f000 <= VEND and fits. The top page [0x…f000, VEND] is never usable.
    assert_eq!(sh.lowest_fit(0x2000, 1, VEND - 0x1fff, VEND), None);
    assert_eq!(
        sh.lowest_fit(0x2000, 1, VEND - 0x2fff, VEND),
        Some(VEND - 0x2fff)
    );
    assert_eq!(sh.lowest_fit(0x1000, 1, VEND - 0xfff, VEND), None);
}

// ---- fix_size_alloc_test ---------------------------------------------------------------------

/// `fix_size_alloc_test`: vmalloc(1 page), write a byte, vfree, in a loop.
///
/// Each cycle leaves a lazily freed 2-page VA (page + guard) that stays busy, so cycle m of a
/// period lands at V + 0x2000·m. After cycle m's vfree `lazy_nr` = 2(m+1), first above 24576
/// at m = 12288: that vfree purges everything (its own VA included, semantics §5.4), so a period is
/// 12289 cycles. Scaled: 10^6 cycles → 2 periods + 100.
#[test]
fn fix_size_alloc() {
    let mut k = kernel();
    const PERIOD: u64 = LAZY_MAX / 2 + 1; // 12289
    let cycles = 2 * PERIOD + 100;
    for n in 0..cycles {
        let m = n % PERIOD;
        let a = ok(k.vmalloc(P, n as u32));
        assert_eq!(a, V + 0x2000 * m, "cycle {n}");
        // Pages: the data page of every cycle is PFN 0x100, the lowest free one (the previous
        // cycle's vfree gave it back). The first cycle then takes the PUD table (0x101) and
        // PMD table (0x102) of V's 512 GiB and 1 GiB regions and the PTE table of 2 MiB region
        // 0 (0x103). 2 MiB holds 256 of these 8 KiB VAs, so region r = m / 256 gets its PTE
        // table at cycle 256·r of the first period, as PFN 0x103 + r (0x100 is busy with the
        // data page, 0x101..0x103+r−1 are tables). The last cycle of a period, m = 12288, is
        // the first of region 48: 49 PTE tables, 51 tables in all, all below 1 GiB.
        let r = m / 256;
        assert_eq!(
            walk4(&k, a),
            [tbl(0x101), tbl(0x102), tbl(0x103 + r), leaf(0x100)],
            "cycle {n}"
        );
        assert_eq!(pte(&k, a + P), 0, "guard page");
        let tables = if n < PERIOD { 3 + r } else { 3 + 48 };
        assert_eq!(k.table_frames().len() as u64, tables);
        if n == 0 {
            let vm = k.find_vm_area(a).expect("live");
            assert_eq!((vm.size, vm.nr_pages), (0x2000, 1)); // R2: guard included
        }
        // No __GFP_ZERO: a new page reads as PAGE_POISON 0xaa (design §3.10); the byte written by
        // the previous cycle was re-poisoned at its vfree.
        assert_eq!(k.read(a, 2).unwrap(), [0xaa, 0xaa]);
        k.write(a, &[1]).unwrap();
        assert_eq!(k.read(a, 1).unwrap(), [1]);
        vfree(&mut k, a);
        if m == PERIOD - 1 {
            // Pending: the 12289 VAs [V, V + 0x2000·12289).
            assert_eq!(events(&mut k), [flush(V, V + 0x2000 * PERIOD)], "cycle {n}");
            assert_eq!(k.lazy_nr(), 0);
        } else {
            assert_eq!(events(&mut k), [], "cycle {n}");
            assert_eq!(k.lazy_nr(), 2 * (m + 1));
        }
        assert_eq!(pte(&k, a), 0, "PTE cleared at vfree (R9 step 1)");
    }
    // 100 cycles of the third period are pending: [V, V + 0x2000·100).
    assert_eq!(k.lazy_nr(), 200);
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), [flush(V, V + 0x2000 * 100)]);
    // The tables: 0x101..=0x133, in that order (51 of them).
    let t: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(t, (0x101..=0x133).collect::<Vec<u64>>());
    assert_all_freed(&k, 51);
}

// ---- full_fit_alloc_test ---------------------------------------------------------------------

/// `full_fit_alloc_test`: `junk_length` = fls(ncpus) · (32 MiB / PAGE_SIZE) = 24576 pairs of
/// 1-page areas (ptr[i], junk[i]), every junk[i] freed to punch 2-page holes, then a loop of
/// 1-page vmalloc + vfree that must fit those holes exactly. The loop is scaled from 10^6 to
/// 12302 = 2 + 12289 + 11 cycles: it crosses the purge threshold twice (derived below).
#[test]
fn full_fit_alloc() {
    let mut k = kernel();
    const J: u64 = LAZY_MAX; // junk_length: 3 · 8192 pairs
    const PERIOD: u64 = LAZY_MAX / 2 + 1; // 12289 2-page VAs push lazy_nr over 24576

    // Phase 1. The 2J allocations in order are areas k = 0, 1, ...: ptr[i] = area 2i, junk[i]
    // = area 2i+1, each a 2-page VA directly above the previous: area k at V + 0x2000·k.
    // Data PFN of area k: area 0 takes 0x100, then its tables PUD 0x101, PMD 0x102, PTE 0x103
    // (R13: data page first). After that, each area takes the next PFN, and area 256·r (r >= 1,
    // the first of 2 MiB region r) takes one more PFN for its PTE table, right after its data
    // page. So area k >= 1 has 3 + (k−1)/256 table PFNs below it: data_pfn(k) = 0x100 + k + 3
    // + (k−1)/256, and region r's PTE table is data_pfn(256·r) + 1.
    let data_pfn = |k: u64| {
        if k == 0 {
            0x100
        } else {
            0x100 + k + 3 + (k - 1) / 256
        }
    };
    let pte_table = |r: u64| if r == 0 { 0x103 } else { data_pfn(256 * r) + 1 };
    let ptr = |i: u64| V + 0x4000 * i;
    let junk = |i: u64| V + 0x4000 * i + 0x2000;
    for kk in 0..2 * J {
        let a = ok(k.vmalloc(P, kk as u32));
        assert_eq!(a, V + 0x2000 * kk);
        assert_eq!(
            walk4(&k, a),
            [
                tbl(0x101),
                tbl(0x102),
                tbl(pte_table(kk / 256)),
                leaf(data_pfn(kk))
            ],
            "area {kk}"
        );
        assert_eq!(pte(&k, a + P), 0, "guard page of area {kk}");
    }
    // 2J·8 KiB = 384 MiB of VA: one PUD and one PMD table, 2 MiB regions 0..=191 (49151/256):
    // 194 tables. Pool used: 49152 data pages + 194 tables.
    const TABLES: u64 = 2 + 192;
    assert_eq!(k.table_frames().len() as u64, TABLES);
    assert_eq!(k.counters().free_pages, TOTALRAM - 2 * J - TABLES);
    assert_eq!(events(&mut k), []);

    // Phase 2: vfree(junk[i]), i = 0.. . After the i-th, lazy_nr = 2(i+1) until it exceeds
    // 24576, first at i = 12288 (24578). That purge releases junk[0..=12288]: one flush over
    // [junk[0], junk[12288] + 0x2000). The remaining 12287 frees leave lazy_nr = 24574.
    const FIRST: u64 = PERIOD - 1; // 12288
    for i in 0..J {
        vfree(&mut k, junk(i));
        if i == FIRST {
            assert_eq!(events(&mut k), [flush(junk(0), junk(FIRST) + 0x2000)]);
            assert_eq!(k.lazy_nr(), 0);
        } else {
            assert_eq!(events(&mut k), [], "junk {i}");
            let n = if i < FIRST { i + 1 } else { i - FIRST };
            assert_eq!(k.lazy_nr(), 2 * n, "junk {i}");
        }
    }
    assert_eq!(k.lazy_nr(), 24574);
    assert_eq!(pte(&k, junk(0)), 0);
    // The junk data pages are free again; the tables stay (I8).
    assert_eq!(k.counters().free_pages, TOTALRAM - J - TABLES);
    assert_eq!(k.table_frames().len() as u64, TABLES);

    // Phase 3, the fitting loop. The lowest hole is junk[0]'s 2-page slot (purged), an exact
    // fit; its data page is the lowest free PFN, junk[0]'s old page data_pfn(1) = 0x104 (0x100
    // is ptr[0]'s, 0x101..0x103 are tables). Cycle 0: vfree makes lazy_nr 24574 + 2 = 24576,
    // not above: no purge. Cycle 1: junk[0]'s slot is lazily busy, so junk[1]'s slot; lazy_nr
    // 24578 > 24576: purge of everything pending: [junk[0], junk[J−1] + 0x2000).
    let a = ok(k.vmalloc(P, 1));
    assert_eq!(a, junk(0));
    assert_eq!(
        walk4(&k, a),
        [tbl(0x101), tbl(0x102), tbl(0x103), leaf(0x104)]
    );
    vfree(&mut k, a);
    assert_eq!((events(&mut k), k.lazy_nr()), (vec![], LAZY_MAX));
    let a = ok(k.vmalloc(P, 2));
    assert_eq!(a, junk(1));
    assert_eq!(
        walk4(&k, a),
        [tbl(0x101), tbl(0x102), tbl(0x103), leaf(0x104)]
    );
    vfree(&mut k, a);
    assert_eq!(events(&mut k), [flush(junk(0), junk(J - 1) + 0x2000)]);
    assert_eq!(k.lazy_nr(), 0);
    // From here every junk slot is a free hole. Cycle u goes to slot s = u mod 12289 (the
    // earlier ones of this period are lazily busy), still with data PFN 0x104; after its
    // vfree lazy_nr = 2(s+1), over the threshold at s = 12288: flush [junk[0], junk[12288] +
    // 0x2000). Junk slot s is area 2s+1 of phase 1, in PTE region (2s+1)/256.
    const REST: u64 = PERIOD + 11;
    for u in 0..REST {
        let s = u % PERIOD;
        let a = ok(k.vmalloc(P, 3));
        assert_eq!(a, junk(s), "loop {u}");
        assert_eq!(
            walk4(&k, a),
            [
                tbl(0x101),
                tbl(0x102),
                tbl(pte_table((2 * s + 1) / 256)),
                leaf(0x104)
            ],
            "loop {u}"
        );
        k.write(a, &[1]).unwrap();
        vfree(&mut k, a);
        if s == PERIOD - 1 {
            assert_eq!(
                events(&mut k),
                [flush(junk(0), junk(s) + 0x2000)],
                "loop {u}"
            );
            assert_eq!(k.lazy_nr(), 0);
        } else {
            assert_eq!(events(&mut k), [], "loop {u}");
            assert_eq!(k.lazy_nr(), 2 * (s + 1), "loop {u}");
        }
    }
    // Pending: slots 0..=10 (11 VAs, 22 pages). No table was added by the loop.
    assert_eq!(k.lazy_nr(), 22);
    assert_eq!(k.table_frames().len() as u64, TABLES);

    // Teardown: vfree(ptr[i]) makes lazy_nr 22 + 2(i+1), first above 24576 at i = 12277
    // (22 + 24556 = 24578): flush [ptr[0], ptr[12277] + 0x2000) (the 11 loop VAs lie inside).
    // Then lazy_nr = 2(i − 12277), above 24576 at i = 12277 + 12289 = 24566: flush
    // [ptr[12278], ptr[24566] + 0x2000). ptr[24567..=24575] (18 pages) stay for the final
    // purge.
    for i in 0..J {
        vfree(&mut k, ptr(i));
        let ev = events(&mut k);
        match i {
            12277 => assert_eq!(ev, [flush(ptr(0), ptr(12277) + 0x2000)]),
            24566 => assert_eq!(ev, [flush(ptr(12278), ptr(24566) + 0x2000)]),
            _ => assert_eq!(ev, [], "ptr {i}"),
        }
    }
    assert_eq!(k.lazy_nr(), 18);
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), [flush(ptr(24567), ptr(J - 1) + 0x2000)]);
    assert_all_freed(&k, TABLES);
}

// ---- long_busy_list_alloc_test ---------------------------------------------------------------

/// `long_busy_list_alloc_test`: 15,000 1-page areas kept busy, then a loop of vmalloc(100
/// pages) + vmalloc(1 page), both freed. Loop scaled from 10^6 to 3 · 239 + 10 = 727 cycles
/// (a purge period is 239 cycles, derived below). Addresses, flush ranges and `lazy_nr` are
/// derived here; the data and table PFNs of the loop come from the [`Shadow`] applying
/// semantics §12.2 and I8, with iterations 0 and 2 also worked by hand.
#[test]
fn long_busy_list_alloc() {
    let mut k = kernel();
    let mut sh = Shadow::new(LAZY_MAX);
    const BUSY: u64 = 15_000;
    // Busy area b at V + 0x2000·b; T = the top of the busy list.
    const T: u64 = V + 0x2000 * BUSY; // V + 0x7530000
    for b in 0..BUSY {
        let a = ok(k.vmalloc(P, b as u32));
        assert_eq!(a, V + 0x2000 * b);
        sh.vmalloc(P, 1, V, VEND, Place::At(a));
    }
    // Tables: PUD + PMD, PTE regions 0..=58 (14999/256 = 58): 61. So the pool's next free PFN
    // is F = 0x100 + 15000 + 61.
    assert_eq!(k.table_frames().len(), 61);
    const F: u64 = 0x100 + BUSY + 61; // 0x3bd5
    check_state(&k, &sh);
    check_area(&k, &sh, V);
    check_area(&k, &sh, T - 0x2000);

    // The loop. ptr_1: 100 pages + guard = 0x65000 of VA; ptr_2: 0x2000; a cycle uses IT =
    // 0x67000 and adds 101 + 2 = 103 pages to lazy_nr. Everything below T is live, so cycle c
    // of a period puts ptr_1 at T + IT·c and ptr_2 right above it at T + IT·c + 0x65000.
    // Period 0 starts with nothing pending: after ptr_1's vfree of cycle c lazy_nr = 103c +
    // 101, above 24576 first at c = 238 (24615; cycle 237 ended at 103·238 = 24514). That
    // purge releases everything but ptr_2 of cycle 238, which is still live and then becomes
    // the only pending VA (2 pages) at R1 = T + IT·238 + 0x65000.
    // Period 1 (and every odd one): with 2 pages pending the purge comes again at c = 238
    // (2 + 24514 + 101 = 24617 > 24576; c = 237 ends at 24516). At c = 238 ptr_1 still fits
    // exactly below R1, but ptr_2's slot is R1 itself, busy: ptr_2 goes to T + IT·239, the
    // first address above everything busy. The purge flushes [T, R1 + 0x2000 = T + IT·239)
    // and leaves R2 = T + IT·239 pending.
    // Period 2 (and every even one after 0): ptr_2 of c = 238 ends exactly at R2, so it takes
    // its normal slot; the purge flushes [T, R2 + 0x2000) and leaves R1 pending again.
    const IT: u64 = 0x67000;
    const P1: u64 = 0x65000;
    const PER: u64 = 239;
    const LOOPS: u64 = 3 * PER + 10;
    for j in 0..LOOPS {
        let (p, c) = (j / PER, j % PER);
        let a1 = ok(k.vmalloc(100 * P, 1));
        assert_eq!(a1, T + IT * c, "cycle {j}");
        sh.vmalloc(100 * P, 1, V, VEND, Place::At(a1));
        let a2 = ok(k.vmalloc(P, 2));
        let want2 = if c == PER - 1 && p % 2 == 1 {
            T + IT * PER
        } else {
            T + IT * c + P1
        };
        assert_eq!(a2, want2, "cycle {j}");
        sh.vmalloc(P, 1, V, VEND, Place::At(a2));
        check_area(&k, &sh, a1);
        check_area(&k, &sh, a2);
        if j == 0 {
            // By hand: ptr_1 takes the 100 lowest free PFNs F..F+99; T lies in 2 MiB region
            // 58 (T − V = 0x7530000), whose PTE table exists, and [T, T + 0x64000) stays in
            // it (region 59 starts at 0x7600000): no new table. ptr_2 then takes F + 100.
            for i in 0..100 {
                assert_eq!(pte(&k, a1 + i * P), leaf(F + i));
            }
            assert_eq!(pte(&k, a2), leaf(F + 100));
            assert_eq!(k.table_frames().len(), 61);
        }
        if j == 2 {
            // By hand: ptr_1 = [T + 0xce000, T + 0x132000) mapped, i.e. V + 0x75fe000 ..
            // V + 0x7662000: it crosses into region 59 at V + 0x7600000. Its data pages are
            // F..F+99 again (the previous cycles gave them back), then the walk reaches region
            // 59 and takes F + 100 for the PTE table; ptr_2 gets F + 101. V + 0x7600000 is
            // ptr_1's page 2 ((0x7600000 − 0x75fe000) / 0x1000), so it maps F + 2.
            assert_eq!(pte(&k, a1), leaf(F));
            assert_eq!(walk4(&k, V + 0x760_0000)[2], tbl(F + 100));
            assert_eq!(pte(&k, V + 0x760_0000), leaf(F + 2));
            assert_eq!(pte(&k, a2), leaf(F + 101));
            assert_eq!(k.table_frames().len(), 62);
        }
        k.write(a1, &[0]).unwrap();
        k.write(a2, &[1]).unwrap();
        let pending0 = if p == 0 { 0 } else { 2 };
        vfree(&mut k, a1);
        sh.vfree(a1);
        let ev = events(&mut k);
        assert_eq!(ev, sh.take_events(), "cycle {j}");
        if c == PER - 1 {
            let end = match p {
                0 => a1 + P1,
                _ if p % 2 == 1 => T + IT * PER,
                _ => T + IT * PER + 0x2000,
            };
            assert_eq!(ev, [flush(T, end)], "cycle {j}");
            assert_eq!(k.lazy_nr(), 0);
        } else {
            assert_eq!(ev, [], "cycle {j}");
            assert_eq!(k.lazy_nr(), pending0 + 103 * c + 101, "cycle {j}");
        }
        vfree(&mut k, a2);
        sh.vfree(a2);
        let want_lazy = if c == PER - 1 {
            2
        } else {
            pending0 + 103 * (c + 1)
        };
        assert_eq!(k.lazy_nr(), want_lazy, "cycle {j}");
        assert_eq!(events(&mut k), [], "cycle {j}");
        assert_eq!(sh.take_events(), [], "cycle {j}");
        if c == PER - 1 || j + 1 == LOOPS {
            check_state(&k, &sh);
        }
    }
    // After cycle 9 of period 3: R1 (left by period 2) plus 10 cycles are pending.
    assert_eq!(k.lazy_nr(), 2 + 103 * 10);
    // Tables: the highest page ever mapped is ptr_2 of cycle 238 of period 1, at T + IT·239 =
    // V + 0xd559000, in 2 MiB region 0xd559000 >> 21 = 106: PTE regions 0..=106 (each has a
    // mapped page: the gaps between mapped pages are single guard pages), one PMD (below 1 GiB)
    // and one PUD: 109 tables.
    assert_eq!(k.table_frames().len(), 109);

    // Teardown: vfree of busy area b makes lazy_nr 1032 + 2(b+1), above 24576 first at b =
    // 11772 (1032 + 23546 = 24578): flush [V, R1 + 0x2000 = T + IT·239). The remaining 3227
    // areas (6454 pages) are purged at the end: flush [V + 0x2000·11773, T).
    for b in 0..BUSY {
        let a = V + 0x2000 * b;
        vfree(&mut k, a);
        sh.vfree(a);
        let ev = events(&mut k);
        if b == 11772 {
            assert_eq!(ev, [flush(V, T + IT * PER)]);
        } else {
            assert_eq!(ev, [], "busy {b}");
        }
        assert_eq!(sh.take_events(), ev);
    }
    assert_eq!(k.lazy_nr(), 6454);
    k.vm_unmap_aliases();
    sh.purge();
    assert_eq!(events(&mut k), [flush(V + 0x2000 * 11773, T)]);
    assert_eq!(sh.take_events(), [flush(V + 0x2000 * 11773, T)]);
    check_state(&k, &sh);
    assert_all_freed(&k, 109);
}

// ---- random_size_alloc_test ------------------------------------------------------------------

/// `random_size_alloc_test`: vmalloc of 1..=100 pages at random (`n = rnd % 100 + 1`), write
/// a byte, vfree. Scaled from 10^6 to 1500 iterations: about 52 pending pages per iteration
/// on average, so the 24576-page threshold is crossed about three times (asserted: at least
/// twice). Every expectation comes from the [`Shadow`].
#[test]
fn random_size_alloc() {
    let mut k = kernel();
    let mut sh = Shadow::new(LAZY_MAX);
    let mut rng = SplitMix64(0x7e57_0008);
    for it in 0..1500u32 {
        let n = rng.next() % 100 + 1;
        let want = sh.vmalloc(n * P, 1, V, VEND, Place::Lowest);
        let got = k.vmalloc(n * P, it).expect("no fatal").map(|a| a.as_u64());
        assert_eq!(got, want, "iteration {it}: {n} pages");
        let a = got.expect("room");
        assert_eq!(events(&mut k), sh.take_events(), "iteration {it}");
        check_area(&k, &sh, a);
        assert_eq!(k.table_frames().len(), sh.table_order.len());
        k.write(a, &[1]).unwrap();
        vfree(&mut k, a);
        sh.vfree(a);
        assert_eq!(events(&mut k), sh.take_events(), "iteration {it}");
        assert_eq!(k.lazy_nr(), sh.lazy_nr, "iteration {it}");
        if it % 100 == 99 {
            check_state(&k, &sh);
        }
    }
    assert!(
        sh.purges >= 2,
        "the threshold was crossed {} times",
        sh.purges
    );
    k.vm_unmap_aliases();
    sh.purge();
    assert_eq!(events(&mut k), sh.take_events());
    check_state(&k, &sh);
    assert_all_freed(&k, sh.table_order.len() as u64);
}

// ---- fix_align_alloc_test --------------------------------------------------------------------

/// `fix_align_alloc_test`: `__vmalloc_node(5 pages, THREAD_ALIGN << 1)`, vfree, in a loop.
/// THREAD_ALIGN is THREAD_SIZE, 16 KiB on x86-64 4.x without KASAN (not in `docs/semantics.md`), so
/// align = 0x8000. The call passes GFP_KERNEL | __GFP_ZERO and PAGE_KERNEL over the vmalloc
/// window.
///
/// VA = 5 pages + guard = 0x6000. V is 2^40-aligned, so ALIGN(V + x, 0x8000) = V + ALIGN(x,
/// 0x8000): with the earlier VAs of the period lazily busy, iteration m lands at V + 0x8000·m
/// (ALIGN(V + 0x8000(m−1) + 0x6000) = V + 0x8000·m). After its vfree lazy_nr = 6(m+1), above
/// 24576 first at m = 4096: a period is 4097 iterations. Scaled: 10^6 → 2 periods + 30.
#[test]
fn fix_align_alloc() {
    let mut k = kernel();
    const PERIOD: u64 = LAZY_MAX / 6 + 1; // 4097
    let iters = 2 * PERIOD + 30;
    for n in 0..iters {
        let m = n % PERIOD;
        let a = range_zero(&mut k, 5 * P, 0x8000, n as u32).expect("room");
        assert_eq!(a, V + 0x8000 * m, "iteration {n}");
        // Data pages: PFNs 0x100..=0x104 every time (the previous vfree gave them back). The
        // first iteration then takes PUD 0x105, PMD 0x106 and region 0's PTE table 0x107. The
        // mapped pages [0x8000m, 0x8000m + 0x5000) never straddle a 2 MiB boundary (0x8000
        // divides 0x200000), so region r = m / 64 gets its PTE table at m = 64r, as PFN
        // 0x107 + r. m = 4096 opens region 64: 65 PTE tables, 67 in all.
        let r = m / 64;
        for i in 0..5 {
            assert_eq!(
                walk4(&k, a + i * P),
                [tbl(0x105), tbl(0x106), tbl(0x107 + r), leaf(0x100 + i)],
                "iteration {n} page {i}"
            );
        }
        assert_eq!(pte(&k, a + 5 * P), 0, "guard page");
        let tables = if n < PERIOD { 3 + r } else { 3 + 64 };
        assert_eq!(k.table_frames().len() as u64, tables);
        // __GFP_ZERO: the (poisoned, design §3.10) pages read back as zero.
        assert_eq!(k.read(a, 16).unwrap(), [0; 16]);
        assert_eq!(k.read(a + 4 * P + 4080, 16).unwrap(), [0; 16]);
        vfree(&mut k, a);
        if m == PERIOD - 1 {
            // Pending: [V, V + 0x8000·4096 + 0x6000).
            assert_eq!(events(&mut k), [flush(V, V + 0x8000 * m + 0x6000)]);
            assert_eq!(k.lazy_nr(), 0);
        } else {
            assert_eq!(events(&mut k), [], "iteration {n}");
            assert_eq!(k.lazy_nr(), 6 * (m + 1));
        }
    }
    // 30 iterations of the third period pending.
    assert_eq!(k.lazy_nr(), 180);
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), [flush(V, V + 0x8000 * 29 + 0x6000)]);
    let t: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(t, (0x105..0x105 + 67).collect::<Vec<u64>>());
    assert_all_freed(&k, 67);
}

// ---- random_size_align_alloc_test ------------------------------------------------------------

/// `random_size_align_alloc_test`: one random number r per iteration gives align =
/// 2^(r % 23) (1 byte .. 4 MiB) and size = (r % 10 + 1) pages; `__vmalloc_node_range` over
/// the vmalloc window with GFP_KERNEL | __GFP_ZERO, then vfree. Large alignments leave holes
/// that later small ones fill, so this is where exact lowest fit is exercised. Scaled from
/// 10^6 to 8000 iterations: about 6.5 pending pages each, so the threshold (24576) is crossed
/// about twice (asserted). Every expectation comes from the [`Shadow`].
#[test]
fn random_size_align_alloc() {
    let mut k = kernel();
    let mut sh = Shadow::new(LAZY_MAX);
    let mut rng = SplitMix64(0x7e57_0020);
    let mut filled_holes = 0;
    for it in 0..8000u32 {
        let r = rng.next();
        let align = 1u64 << (r % 23);
        let size = (r % 10 + 1) * P;
        let top = sh.busy.last_key_value().map(|(_, a)| a.end);
        let want = sh.vmalloc(size, align, V, VEND, Place::Lowest);
        let got = range_zero(&mut k, size, align, it);
        assert_eq!(got, want, "iteration {it}: size {size:#x} align {align:#x}");
        let a = got.expect("room");
        if top.is_some_and(|t| a < t) {
            filled_holes += 1;
        }
        assert_eq!(events(&mut k), sh.take_events(), "iteration {it}");
        check_area(&k, &sh, a);
        assert_eq!(k.table_frames().len(), sh.table_order.len());
        assert_eq!(k.read(a, 8).unwrap(), [0; 8], "__GFP_ZERO");
        vfree(&mut k, a);
        sh.vfree(a);
        assert_eq!(events(&mut k), sh.take_events(), "iteration {it}");
        assert_eq!(k.lazy_nr(), sh.lazy_nr, "iteration {it}");
        if it % 250 == 249 {
            check_state(&k, &sh);
        }
    }
    assert!(
        sh.purges >= 2,
        "the threshold was crossed {} times",
        sh.purges
    );
    assert!(
        filled_holes > 1000,
        "only {filled_holes} allocations filled a hole"
    );
    k.vm_unmap_aliases();
    sh.purge();
    assert_eq!(events(&mut k), sh.take_events());
    check_state(&k, &sh);
    assert_all_freed(&k, sh.table_order.len() as u64);
}

// ---- align_shift_alloc_test ------------------------------------------------------------------

/// `align_shift_alloc_test` ("supposed to fail"): 1 page with align = 2^i for i = 0..=63,
/// written and freed after each success. No lazy purge by threshold here (at most 46 VAs of 2
/// pages pending, far below 24576), so earlier VAs stay busy and push later ones up.
///
/// Offsets from V (V = 0xffffc9 · 2^40 is 2^40-aligned, so up to 2^40 ALIGN(V + x) = V +
/// ALIGN(x)); VMALLOC_END − V = 2^45 − 1:
/// - i = 0..=12 (align <= a page): each 2-page VA right above the previous: 0x2000·i.
/// - i = 13: ALIGN(0x1a000, 0x2000) = 0x1a000. i = 14: ALIGN(0x1c000, 0x4000) = 0x1c000.
/// - i = 15: multiples of 0x8000 below 0x1e000 are busy: 0x20000.
/// - i = 16: 0, 0x10000 (inside [0, 0x1e000)) and 0x20000 busy: 0x30000.
/// - i = 17..=40: 0 and 2^i (placed by i−1) busy, 2^(i+1) free: 2^(i+1). (i = 17: 0x20000 is
///   busy, 0x40000 free.) So i = 39 → V + 2^40 = 0xffffca0000000000 and i = 40 → V + 2^41 =
///   0xffffcb0000000000 (multiples of 2^40 from 0xffffc9·2^40: c9, ca busy, cb free).
/// - In units of 2^40 from here: i = 41 (multiples of 2): ALIGN(c9) = ca busy → cc;
///   i = 42 (of 4): cc busy → d0; i = 43 (of 8): d0 busy → d8; i = 44 (of 16): d0 busy → e0
///   = 0xffffe00000000000, and e0 + 0x2000 <= VMALLOC_END.
/// - i = 45 (of 32): ALIGN(0xffffc9) = 0xffffe0 is busy (i = 44's lazy VA), the next multiple
///   is 2^24 · 2^40 = 2^64: ALIGN wraps, no fit (R4). R3: purge (flush [V, e0 + 0x2000), all
///   45 lazy VAs) and retry: now 0xffffe00000000000 fits. A success.
/// - i = 46: ALIGN(V, 2^46) wraps at once (R4: first failure from 2^46): purge (flushes i =
///   45's VA), retry, no fit: NULL with warnings 3 (VA size 8192) then 1 (4096 bytes).
/// - i = 47..=63: the same, but the purge finds nothing pending: no flush.
///
/// So the first failure is i = 46.
#[test]
fn align_shift_alloc() {
    const E0: u64 = 0xffff_e000_0000_0000;
    let expect = |i: u32| -> Option<u64> {
        Some(match i {
            0..=12 => V + 0x2000 * i as u64,
            13 => V + 0x1a000,
            14 => V + 0x1c000,
            15 => V + 0x20000,
            16 => V + 0x30000,
            17..=40 => V + (1u64 << (i + 1)),
            41 => 0xffff_cc00_0000_0000,
            42 => 0xffff_d000_0000_0000,
            43 => 0xffff_d800_0000_0000,
            44 | 45 => E0,
            _ => return None,
        })
    };
    // Tables added by iteration i (I8; mapped page = the area's first page): i = 0 opens PGD
    // slot 402 (PUD), 1 GiB region 0 (PMD) and 2 MiB region 0 (PTE); i = 1..=19 stay below
    // 2 MiB (i = 19: 0x100000); i = 20..=28 (2^21..2^29) each open a 2 MiB region only;
    // i = 29..=37 (2^30..2^38, below 2^39) each a 1 GiB region and a 2 MiB region; i = 38..=44
    // each a new 512 GiB region (PGD slots 403, 404, 406, 408, 416, 432, 448): PUD + PMD + PTE.
    // i = 45 reuses i = 44's. 3 + 9 + 18 + 21 = 51 tables.
    let new_tables = |i: u32| -> u64 {
        match i {
            0 => 3,
            1..=19 => 0,
            20..=28 => 1,
            29..=37 => 2,
            38..=44 => 3,
            _ => 0,
        }
    };
    let mut k = kernel();
    let mut sh = Shadow::new(LAZY_MAX);
    let mut tables = 0;
    let mut first_failure = None;
    for i in 0..64u32 {
        let align = 1u64 << i;
        let got = range_zero(&mut k, P, align, i);
        // The shadow's lowest fit agrees with the table above.
        assert_eq!(
            sh.vmalloc(P, align, V, VEND, Place::Lowest),
            expect(i),
            "i = {i}"
        );
        assert_eq!(got, expect(i), "i = {i}");
        let ev = events(&mut k);
        assert_eq!(ev, sh.take_events(), "i = {i}");
        let fail = [
            Event::VmapAllocFailed { size: 0x2000 },
            Event::AllocFailure { bytes: 0x1000 },
        ];
        match i {
            0..=44 => assert_eq!(ev, [], "i = {i}"),
            45 => assert_eq!(ev, [flush(V, E0 + 0x2000)]),
            46 => assert_eq!(ev, [flush(E0, E0 + 0x2000), fail[0], fail[1]]),
            _ => assert_eq!(ev, fail, "i = {i}"),
        }
        tables += new_tables(i);
        assert_eq!(k.table_frames().len() as u64, tables, "i = {i}");
        match got {
            Some(a) => {
                // The data page is always PFN 0x100 (the previous vfree gave it back), so the
                // tables are PFNs 0x101.. in creation order.
                assert_eq!(pte(&k, a), leaf(0x100), "i = {i}");
                assert_eq!(pte(&k, a + P), 0, "guard page, i = {i}");
                check_area(&k, &sh, a);
                assert_eq!(k.read(a, 1).unwrap(), [0], "__GFP_ZERO");
                k.write(a, &[1]).unwrap();
                vfree(&mut k, a);
                sh.vfree(a);
                assert_eq!(events(&mut k), [], "i = {i}");
                // lazy_nr: 2 per freed VA; i = 45's purge left only its own.
                let want = if i <= 44 { 2 * (i as u64 + 1) } else { 2 };
                assert_eq!(k.lazy_nr(), want, "i = {i}");
            }
            None => {
                first_failure.get_or_insert(i);
                // Nothing but the purge: no busy VA left, nothing pending.
                assert_eq!((k.busy_areas().count(), k.lazy_nr()), (0, 0), "i = {i}");
            }
        }
        if i == 0 {
            assert_eq!(walk4(&k, V), [tbl(0x101), tbl(0x102), tbl(0x103), 0]);
        }
        if i == 20 {
            // The 10th table (0x104) is the PTE table of [V + 2 MiB, V + 4 MiB).
            assert_eq!(
                walk4(&k, V + (1 << 21)),
                [tbl(0x101), tbl(0x102), tbl(0x104), 0]
            );
        }
        if i == 38 {
            // Tables before i = 38: 3 + 9 + 18 = 30 (0x101..=0x11e); i = 38 takes 0x11f (PUD
            // for PGD slot 403), 0x120 (PMD), 0x121 (PTE).
            assert_eq!(
                walk4(&k, V + (1 << 39)),
                [tbl(0x11f), tbl(0x120), tbl(0x121), 0]
            );
        }
    }
    assert_eq!(first_failure, Some(46));
    // PGD slot 448 (0xffffe00000000000 >> 39 & 511) got the last PUD: 0x101 + 48 = 0x131.
    assert_eq!(entry(&k, 1, 448), tbl(0x131));
    let t: Vec<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert_eq!(t, (0x101..=0x133).collect::<Vec<u64>>());
    k.vm_unmap_aliases();
    assert_eq!(events(&mut k), []);
    check_state(&k, &sh);
    assert_all_freed(&k, 51);
}

//! `faithful_4x_cache = on`: the VA search of 4.x `alloc_vmap_area`, literally, with its
//! search cache (semantics §4.3, semantics §4.4), as v4.19.0 ships it.
//!
//! The kernel keeps four globals between searches: `free_vmap_cache` (a busy VA the next
//! search may start from; here its start address), `cached_hole_size` (the largest hole seen
//! below it), `cached_vstart` and `cached_align` (the parameters of the last search). One
//! search, step by step, each as semantics §4.3 states it:
//!
//! 1. **Reset** (`cached_hole_size = 0`, no cache) if there is no cache, or
//!    `size < cached_hole_size` (the strict test that makes this mode differ from lowest
//!    fit, semantics §4.4), or `vstart < cached_vstart`, or `align < cached_align`. Then record
//!    `cached_vstart = vstart`, `cached_align = align`.
//! 2. **Start from the cache**: `first` = the cached VA, `addr = ALIGN(first.va_end, align)`.
//!    If `addr < vstart`, reset and start without it (`goto nocache`); if `addr + size`
//!    wraps, no fit.
//! 3. **Start without a cache**: `addr = ALIGN(vstart, align)`; if `addr + size` wraps, no
//!    fit. `first` = the lowest busy VA with `va_end >= addr` (the rb-tree descent). The
//!    descent may instead return the VA that starts at `addr` when another one ends there;
//!    a full search starts with `cached_hole_size = 0`, so the walk neither records a hole
//!    nor moves `addr` for the VA that ends at `addr`, and both give the same result. With no
//!    such VA, go to found.
//! 4. **Walk** while `addr + size > first.va_start` and `addr + size <= vend`:
//!    - record a hole if `addr + cached_hole_size < first.va_start`, as
//!      `cached_hole_size = first.va_start - addr` (u64 arithmetic modulo 2^64, as in C);
//!    - `addr = ALIGN(first.va_end, align)`; if `addr + size` wraps, no fit;
//!    - if `first` is the last busy VA, go to found; else `first` = the next one.
//! 5. **Found**: `addr + size > vend` is no fit. An `addr` below `vstart` is the `ALIGN`
//!    that wrapped to 0: [`Search::Wrapped`], which `align_wrap_check` turns into no fit or
//!    the BUG (R4). Otherwise the area goes at `addr` and, once inserted, becomes the cache
//!    ([`SearchCache::inserted`]).
//!
//! `ALIGN` here is the kernel's, modulo 2^64 (a wrap gives 0). `__free_vmap_area`, called
//! for each VA the purge releases, newest first, moves the cache before the VA leaves the
//! busy list ([`SearchCache::releasing`]); it never touches `cached_hole_size` or
//! `cached_align`. Nothing else changes the four globals: a search that fails still leaves
//! its reset, its recorded parameters and its holes behind.
//!
//! `semantics §N` cites sections of `docs/semantics.md`.

use crate::alloc::model_broken;
use crate::areas::{BusyList, Search};
use crate::types::Fatal;

/// The 4.x search cache: the four globals of `mm/vmalloc.c` (4.x only; removed in 5.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SearchCache {
    /// `free_vmap_cache`: the start of the cached busy VA, if any.
    free_vmap_cache: Option<u64>,
    /// `cached_hole_size`.
    cached_hole_size: u64,
    /// `cached_vstart`.
    cached_vstart: u64,
    /// `cached_align`.
    cached_align: u64,
}

/// The kernel's `ALIGN(x, a)` for a power-of-two `a`, modulo 2^64: it wraps to 0.
fn align_mod_2_64(x: u64, a: u64) -> u64 {
    x.wrapping_add(a.wrapping_sub(1)) & !a.wrapping_sub(1)
}

/// Step 5 of the module doc.
fn found(addr: u64, size: u64, vstart: u64, vend: u64) -> Search {
    if addr.wrapping_add(size) > vend {
        Search::NoFit
    } else if addr < vstart {
        Search::Wrapped
    } else {
        Search::Fit(addr)
    }
}

impl SearchCache {
    /// Step 1's reset (the `nocache` label).
    fn reset(&mut self) {
        self.cached_hole_size = 0;
        self.free_vmap_cache = None;
    }

    /// One search of `size` bytes aligned to `align` in `[vstart, vend)` over all busy VAs,
    /// steps 1–5 of the module doc. The caller inserts the area on [`Search::Fit`] and then
    /// calls [`SearchCache::inserted`].
    pub(crate) fn search(
        &mut self,
        busy: &BusyList,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
    ) -> Result<Search, Fatal> {
        self.search_with(busy, size, align, vstart, vend, true)
    }

    /// [`SearchCache::search`], with step 1's hole test strict (`size < cached_hole_size`,
    /// v4.19.0) or not (`<=`, which semantics §4.4 found to give exact lowest fit; a test checks
    /// it).
    fn search_with(
        &mut self,
        busy: &BusyList,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        strict: bool,
    ) -> Result<Search, Fatal> {
        let areas = busy.as_slice();
        let hole_may_fit = if strict {
            size < self.cached_hole_size
        } else {
            size <= self.cached_hole_size
        };
        // Step 1.
        if self.free_vmap_cache.is_none()
            || hole_may_fit
            || vstart < self.cached_vstart
            || align < self.cached_align
        {
            self.reset();
        }
        self.cached_vstart = vstart;
        self.cached_align = align;

        // Step 2.
        let mut start = None;
        if let Some(cached) = self.free_vmap_cache {
            let Some((index, first)) = busy.index_of(cached).and_then(|i| Some((i, areas.get(i)?)))
            else {
                let detail = format!("free_vmap_cache {cached:#x} is not a busy VA");
                return Err(model_broken("faithful_4x_cache", detail));
            };
            let addr = align_mod_2_64(first.end, align);
            if addr < vstart {
                self.reset();
            } else if addr.wrapping_add(size) < addr {
                return Ok(Search::NoFit);
            } else {
                start = Some((index, addr));
            }
        }
        // Step 3.
        let (mut index, mut addr) = match start {
            Some(from_cache) => from_cache,
            None => {
                let addr = align_mod_2_64(vstart, align);
                if addr.wrapping_add(size) < addr {
                    return Ok(Search::NoFit);
                }
                let index = areas.partition_point(|a| a.end < addr);
                if index == areas.len() {
                    return Ok(found(addr, size, vstart, vend));
                }
                (index, addr)
            }
        };

        // Step 4.
        while let Some(first) = areas.get(index) {
            let end = addr.wrapping_add(size);
            if !(end > first.start && end <= vend) {
                break;
            }
            if addr.wrapping_add(self.cached_hole_size) < first.start {
                self.cached_hole_size = first.start.wrapping_sub(addr);
            }
            addr = align_mod_2_64(first.end, align);
            if addr.wrapping_add(size) < addr {
                return Ok(Search::NoFit);
            }
            if index + 1 == areas.len() {
                break;
            }
            index += 1;
        }
        // Step 5.
        Ok(found(addr, size, vstart, vend))
    }

    /// `free_vmap_cache = va` after the insert of semantics §4.2 step 3.
    pub(crate) fn inserted(&mut self, start: u64) {
        self.free_vmap_cache = Some(start);
    }

    /// The cache move of `__free_vmap_area` for the busy VA at `start`, called while it is
    /// still in `busy` (the purge releases it right after): with a cache, a VA ending below
    /// `cached_vstart` drops the cache; otherwise a VA starting at or below the cached one
    /// moves the cache to the VA's busy predecessor (none if it is the lowest).
    pub(crate) fn releasing(&mut self, busy: &BusyList, start: u64) {
        let (Some(cached), Some(index)) = (self.free_vmap_cache, busy.index_of(start)) else {
            return;
        };
        let Some(va) = busy.as_slice().get(index) else {
            return;
        };
        if va.end < self.cached_vstart {
            self.free_vmap_cache = None;
        } else if va.start <= cached {
            self.free_vmap_cache = index
                .checked_sub(1)
                .and_then(|i| busy.as_slice().get(i))
                .map(|predecessor| predecessor.start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::areas::{r3_lowest_fit_search, Area, AreaKind};
    use crate::views::Request;

    const P: u64 = 4096;

    fn area(start: u64, end: u64) -> Area {
        let request = Request {
            vstart: 0,
            vend: u64::MAX,
            align: 1,
        };
        let kind = AreaKind::LazyPending;
        Area {
            start,
            end,
            request,
            kind,
        }
    }

    fn busy(list: &[(u64, u64)]) -> BusyList {
        let mut b = BusyList::default();
        for &(start, end) in list {
            b.insert(area(start, end));
        }
        b
    }

    #[test]
    fn align_wraps_to_zero_as_in_c() {
        // semantics §0: ALIGN(x, a) modulo 2^64 wraps to exactly 0.
        assert_eq!(align_mod_2_64(0xffff_c900_0000_0000, 1 << 46), 0);
        assert_eq!(
            align_mod_2_64(0xffff_c900_0000_0000, 1 << 45),
            0xffff_e000_0000_0000
        );
        assert_eq!(align_mod_2_64(5, 1), 5);
        assert_eq!(align_mod_2_64(u64::MAX, 4096), 0);
    }

    #[test]
    fn the_4_4_example_in_pages() {
        // semantics §4.4, in pages from 0x100000 with align 1 (busy VAs at 0, 1, 2 pages after it).
        let (s, vend) = (0x10_0000, 0x10_0000 + 100 * P);
        let mut c = SearchCache::default();
        let mut list = Vec::new();
        for k in 0..3 {
            // No cache, then the cache at the last VA: ALIGN(cache.end) is the next page.
            let got = c.search(&busy(&list), P, 1, s, vend).unwrap();
            assert_eq!(got, Search::Fit(s + k * P));
            list.push((s + k * P, s + (k + 1) * P));
            c.inserted(s + k * P);
        }
        // Purge of the VA at 1: it starts at or below the cache (2) → the cache moves to
        // its predecessor, the VA at 0. cached_hole_size stays 0.
        c.releasing(&busy(&list), s + P);
        list.remove(1);
        assert_eq!(c.free_vmap_cache, Some(s));
        // Size 2: from the cache at 0, addr = 1; the VA at 0 is passed (0 <= 1, nothing
        // recorded); the VA at 2 collides and 1 + 0 < 2 records the hole: 2 − 1 = 1 page.
        // addr = 3; last VA → found 3.
        let got = c.search(&busy(&list), 2 * P, 1, s, vend).unwrap();
        assert_eq!((got, c.cached_hole_size), (Search::Fit(s + 3 * P), P));
        list.push((s + 3 * P, s + 5 * P));
        c.inserted(s + 3 * P);
        // Size 1: 1 < 1 is false, so the cache (the VA at 3) stays: addr = 5 → found 5,
        // although page 1 is free.
        let got = c.search(&busy(&list), P, 1, s, vend).unwrap();
        assert_eq!(got, Search::Fit(s + 5 * P));
    }

    #[test]
    fn with_the_non_strict_test_the_4x_search_is_lowest_fit() {
        // semantics §4.4: with `size <= cached_hole_size` the 4.x search gave exact lowest fit on
        // every allocation of random scripts (two windows, sub-ranges, sizes of 1–24 pages,
        // alignments from 1 byte to 8 pages, lazy frees kept busy until a purge, purges
        // newest first, the overflow purge and retry). The same kind of scripts here: the
        // walk of this module with that one test flipped must agree with R3 every time, and
        // with the strict test it must not (it skips exact-fit holes).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        let windows = [
            (0x10_0000, 0x10_0000 + 256 * P),
            (0x100_0000, 0x100_0000 + 64 * P),
        ];
        let (mut allocations, mut strict_differs) = (0, 0);
        for strict in [false, true] {
            for _script in 0..100 {
                let mut b = BusyList::default();
                let mut c = SearchCache::default();
                let (mut live, mut lazy): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
                let purge = |b: &mut BusyList, c: &mut SearchCache, lazy: &mut Vec<u64>| {
                    for s in std::mem::take(lazy) {
                        c.releasing(b, s);
                        b.remove(s);
                    }
                };
                for _op in 0..200 {
                    match next(20) {
                        0..=10 => {
                            let (lo, hi) = windows[next(2) as usize];
                            let (vstart, vend) = if next(3) == 0 {
                                let a = lo + next(64) * P;
                                (a, a + (1 + next(128)) * P)
                            } else {
                                (lo, hi)
                            };
                            let size = (1 + next(24)) * P;
                            let align = 1u64 << next(16);
                            let mut want = r3_lowest_fit_search(&b, size, align, vstart, vend);
                            let mut got = c.search_with(&b, size, align, vstart, vend, strict);
                            if want == Search::NoFit && got.as_ref() == Ok(&Search::NoFit) {
                                purge(&mut b, &mut c, &mut lazy);
                                want = r3_lowest_fit_search(&b, size, align, vstart, vend);
                                got = c.search_with(&b, size, align, vstart, vend, strict);
                            }
                            let Ok(got) = got else { panic!("cache lost") };
                            allocations += 1;
                            if !strict {
                                assert_eq!(got, want, "size {size:#x} align {align:#x}");
                            } else if got != want {
                                strict_differs += 1;
                                // Keep both sides on the same busy list: stop this script.
                                break;
                            }
                            if let Search::Fit(a) = got {
                                b.insert(area(a, a + size));
                                c.inserted(a);
                                live.push(a);
                            }
                        }
                        11..=17 if !live.is_empty() => {
                            let s = live.swap_remove(next(live.len() as u64) as usize);
                            lazy.insert(0, s);
                        }
                        _ => purge(&mut b, &mut c, &mut lazy),
                    }
                }
            }
        }
        assert!(allocations > 10_000, "{allocations}");
        assert!(strict_differs > 0);
    }

    #[test]
    fn releases_move_or_drop_the_cache() {
        let list = [(0x1000, 0x2000), (0x3000, 0x4000), (0x5000, 0x6000)];
        let b = busy(&list);
        let at = |cached, vstart| SearchCache {
            free_vmap_cache: Some(cached),
            cached_hole_size: 7,
            cached_vstart: vstart,
            cached_align: 1,
        };
        // A VA above the cache: no change.
        let mut c = at(0x3000, 0x1000);
        c.releasing(&b, 0x5000);
        assert_eq!(c, at(0x3000, 0x1000));
        // The cached VA itself (start <= cache start): its predecessor.
        c.releasing(&b, 0x3000);
        assert_eq!(c.free_vmap_cache, Some(0x1000));
        // The lowest VA: no predecessor, so no cache. The hole size is kept.
        let mut c = at(0x3000, 0x1000);
        c.releasing(&b, 0x1000);
        assert_eq!((c.free_vmap_cache, c.cached_hole_size), (None, 7));
        // A VA ending below cached_vstart: the cache is dropped.
        let mut c = at(0x5000, 0x4000);
        c.releasing(&b, 0x1000);
        assert_eq!(c.free_vmap_cache, None);
        // Without a cache nothing happens.
        let mut c = SearchCache::default();
        c.releasing(&b, 0x1000);
        assert_eq!(c, SearchCache::default());
    }

    #[test]
    fn a_wrapped_align_reaches_found_below_vstart() {
        // semantics §4.3 / R4: ALIGN(vstart, 2^46) from VMALLOC_START wraps to 0; nothing collides
        // with [0, size), so found holds 0 < vstart.
        let s = 0xffff_c900_0000_0000;
        let b = busy(&[(s, s + 2 * P)]);
        let mut c = SearchCache::default();
        let got = c
            .search(&b, 2 * P, 1 << 46, s, 0xffff_e8ff_ffff_ffff)
            .unwrap();
        assert_eq!(got, Search::Wrapped);
        // A cached start that wraps falls back to the full search (`nocache`), which wraps
        // too: ALIGN(s + 2p, 2^46) = 0 < vstart → reset; ALIGN(s, 2^46) = 0 → found.
        let mut c = SearchCache::default();
        c.inserted(s);
        c.cached_vstart = s;
        c.cached_align = 1 << 46;
        let got = c
            .search(&b, 2 * P, 1 << 46, s, 0xffff_e8ff_ffff_ffff)
            .unwrap();
        assert_eq!((got, c.free_vmap_cache), (Search::Wrapped, None));
    }
}

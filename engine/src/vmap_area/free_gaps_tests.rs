//! Tests of the free-gap tree: hand-worked cases, randomized differential runs against a
//! linear lowest-fit oracle, and structural invariants after every op.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.
use super::*;

const PAGE: u64 = 0x1000;
const TOP: u128 = 1 << 64;

fn gaps(g: &FreeGaps) -> Vec<(u64, u128)> {
    g.iter().collect()
}

/// Levels from the root to the leaves.
fn depth(g: &FreeGaps) -> usize {
    let mut path = Path::new();
    g.descend(0, &mut path);
    path.len
}

/// Free space made of exactly the given gaps (sorted, separated): everything else busy.
fn with_gaps(free: &[(u64, u64)]) -> FreeGaps {
    let mut g = FreeGaps::new();
    let mut busy_from = 0u64;
    for &(s, e) in free {
        if busy_from < s {
            g.reserve(busy_from, s).unwrap();
        }
        busy_from = e;
    }
    g.reserve(busy_from, u64::MAX).unwrap();
    g.check_invariants().unwrap();
    g
}

#[test]
fn new_is_one_gap() {
    let g = FreeGaps::new();
    assert_eq!(gaps(&g), vec![(0, TOP)]);
    assert_eq!(g.len(), 1);
    assert!(!g.is_empty());
    assert_eq!(g.lowest_fit(PAGE, 1, 0, u64::MAX), Some(0));
    g.check_invariants().unwrap();
}

#[test]
fn exact_fit_hole_is_used() {
    // Busy [0x10000, 0x12000) and [0x13000, 0x20000): a 1-page hole at 0x12000.
    let mut g = FreeGaps::new();
    g.reserve(0x10000, 0x12000).unwrap();
    g.reserve(0x13000, 0x20000).unwrap();
    // One page fits the hole exactly.
    assert_eq!(g.lowest_fit(PAGE, 1, 0x10000, 0x100000), Some(0x12000));
    assert_eq!(g.lowest_fit(PAGE, PAGE, 0x10000, 0x100000), Some(0x12000));
    // Two pages do not: the next gap starts at 0x20000.
    assert_eq!(g.lowest_fit(2 * PAGE, 1, 0x10000, 0x100000), Some(0x20000));
    // Below vstart nothing counts, even though [0, 0x10000) is free.
    assert_eq!(g.lowest_fit(PAGE, 1, 0, 0x100000), Some(0));
    // The hole is the last possible place when vend = 0x13000 (the end may touch vend).
    assert_eq!(g.lowest_fit(PAGE, 1, 0x10000, 0x13000), Some(0x12000));
    assert_eq!(g.lowest_fit(PAGE, 1, 0x10000, 0x12fff), None);
    // Filling it removes the gap.
    g.reserve(0x12000, 0x13000).unwrap();
    assert_eq!(gaps(&g), vec![(0, 0x10000), (0x20000, TOP)]);
    g.check_invariants().unwrap();
}

#[test]
fn larger_alignment_inside_a_hole_at_an_odd_page() {
    // Busy [0x10000, 0x11000) and [0x13000, 0x20000): the hole [0x11000, 0x13000) is two
    // pages and starts at an odd page.
    let mut g = FreeGaps::new();
    g.reserve(0x10000, 0x11000).unwrap();
    g.reserve(0x13000, 0x20000).unwrap();
    // 1 page, align 0x2000: ALIGN(0x11000) = 0x12000 and 0x12000 + 0x1000 = 0x13000 fits.
    assert_eq!(g.lowest_fit(PAGE, 0x2000, 0x10000, u64::MAX), Some(0x12000));
    // 2 pages, align 0x2000: 0x12000 + 0x2000 = 0x14000 > 0x13000; next gap 0x20000.
    assert_eq!(
        g.lowest_fit(2 * PAGE, 0x2000, 0x10000, u64::MAX),
        Some(0x20000)
    );
    // 2 pages, align 1: the hole itself.
    assert_eq!(g.lowest_fit(2 * PAGE, 1, 0x10000, u64::MAX), Some(0x11000));
    // 1 page, align 0x4000: ALIGN(0x11000) = 0x14000 is busy; next gap 0x20000.
    assert_eq!(g.lowest_fit(PAGE, 0x4000, 0x10000, u64::MAX), Some(0x20000));
}

#[test]
fn spec_4_5_minimal_case() {
    // Free window [0x1000000, 0x1200000), a 1-page busy area at 0x1002000. A 1-page request
    // with align 0x2000: the 2-page hole [0x1000000, 0x1002000) holds it at 0x1000000.
    // (5.2+ pruning by size + align - 1 = 0x2fff skips that hole and answers 0x1004000.)
    let mut g = with_gaps(&[(0x1000000, 0x1200000)]);
    g.reserve(0x1002000, 0x1003000).unwrap();
    assert_eq!(
        g.lowest_fit(PAGE, 0x2000, 0x1000000, 0x1200000),
        Some(0x1000000)
    );
    assert_eq!(g.lowest_fit(PAGE, 0x2000, 0, u64::MAX), Some(0x1000000));
    // Taking it, the next one goes to ALIGN(0x1003000, 0x2000) = 0x1004000.
    g.reserve(0x1000000, 0x1001000).unwrap();
    assert_eq!(
        g.lowest_fit(PAGE, 0x2000, 0x1000000, 0x1200000),
        Some(0x1004000)
    );
    // Align 1 still finds the page left at 0x1001000.
    assert_eq!(g.lowest_fit(PAGE, 1, 0x1000000, 0x1200000), Some(0x1001000));
}

#[test]
fn skips_several_misaligned_holes() {
    // Three 2-page holes at odd pages, then a big gap. 2 pages with align 0x2000 fit in none
    // of the holes (ALIGN(0x..1000) + 0x2000 passes the hole's end by a page).
    let g = with_gaps(&[
        (0x11000, 0x13000),
        (0x21000, 0x23000),
        (0x31000, 0x33000),
        (0x40000, 0x80000),
    ]);
    assert_eq!(g.lowest_fit(2 * PAGE, 0x2000, 0, u64::MAX), Some(0x40000));
    assert_eq!(g.lowest_fit(PAGE, 0x2000, 0, u64::MAX), Some(0x12000));
    assert_eq!(g.lowest_fit(PAGE, 0x2000, 0x12001, u64::MAX), Some(0x22000));
    // vend cuts the big gap: 0x40000 + 0x2000 > 0x41fff.
    assert_eq!(g.lowest_fit(2 * PAGE, 0x2000, 0, 0x41fff), None);
    assert_eq!(g.lowest_fit(2 * PAGE, 0x2000, 0, 0x42000), Some(0x40000));
}

#[test]
fn vstart_clips_the_gap_holding_it() {
    let g = with_gaps(&[(0x10000, 0x20000)]);
    // Byte-granular vstart inside the gap is honoured as is for align 1.
    assert_eq!(g.lowest_fit(PAGE, 1, 0x10800, u64::MAX), Some(0x10800));
    // ALIGN(0x10800, 0x1000) = 0x11000.
    assert_eq!(g.lowest_fit(PAGE, PAGE, 0x10800, u64::MAX), Some(0x11000));
    // 0x1f800 + 0x1000 = 0x20800 passes the gap's end 0x20000: nothing else is free.
    assert_eq!(g.lowest_fit(PAGE, 1, 0x1f800, u64::MAX), None);
    // A vstart in busy space starts at the next gap.
    assert_eq!(g.lowest_fit(PAGE, 1, 0x8000, u64::MAX), Some(0x10000));
}

#[test]
fn align_wrap_around_is_no_fit() {
    let g = FreeGaps::new();
    // ALIGN(0xffff_ffff_ffff_0000, 2^63) would wrap to 0: no fit (R4), not address 0.
    assert_eq!(
        g.lowest_fit(PAGE, 1 << 63, 0xffff_ffff_ffff_0000, u64::MAX),
        None
    );
    // ALIGN(2^63 + 0x1000, 2^63) wraps; ALIGN(2^63, 2^63) = 2^63 does not.
    assert_eq!(
        g.lowest_fit(PAGE, 1 << 63, (1 << 63) + PAGE, u64::MAX),
        None
    );
    assert_eq!(
        g.lowest_fit(PAGE, 1 << 63, 1 << 63, u64::MAX),
        Some(1 << 63)
    );
    // Semantics R4: from VMALLOC_START, 2^45 gives 0xffffe00000000000 and 2^46 wraps.
    let (vs, ve) = (0xffff_c900_0000_0000, 0xffff_e8ff_ffff_ffff);
    assert_eq!(
        g.lowest_fit(2 * PAGE, 1 << 45, vs, ve),
        Some(0xffff_e000_0000_0000)
    );
    assert_eq!(g.lowest_fit(2 * PAGE, 1 << 46, vs, ve), None);
    // A wrap reached only after skipping a busy candidate: 2^63 is taken, the next
    // multiple of 2^63 is 2^64.
    let mut g = FreeGaps::new();
    g.reserve(1 << 63, (1 << 63) + PAGE).unwrap();
    assert_eq!(g.lowest_fit(PAGE, 1 << 63, 1 << 63, u64::MAX), None);
    assert_eq!(g.lowest_fit(PAGE, 1 << 63, 0, u64::MAX), Some(0));
}

#[test]
fn vend_u64_max_forbids_the_last_page() {
    let mut g = FreeGaps::new();
    // [2^64 - 0x1000, 2^64) would end at 2^64 > vend = 2^64 - 1.
    assert_eq!(
        g.lowest_fit(PAGE, PAGE, 0xffff_ffff_ffff_f000, u64::MAX),
        None
    );
    assert_eq!(
        g.lowest_fit(PAGE, 1, 0xffff_ffff_ffff_e000, u64::MAX),
        Some(0xffff_ffff_ffff_e000)
    );
    // The last byte can never be reserved, so the last gap always ends at 2^64.
    g.reserve(0xffff_ffff_ffff_f000, u64::MAX).unwrap();
    assert_eq!(gaps(&g), vec![(0, 0xffff_ffff_ffff_f000), (u64::MAX, TOP)]);
    assert_eq!(g.lowest_fit(1, 1, u64::MAX - 1, u64::MAX), None);
    assert_eq!(
        g.lowest_fit(1, 1, 0xffff_ffff_ffff_e000, u64::MAX),
        Some(0xffff_ffff_ffff_e000)
    );
    g.check_invariants().unwrap();
}

#[test]
fn degenerate_requests_give_none() {
    let g = FreeGaps::new();
    assert_eq!(g.lowest_fit(PAGE, 1, 0x2000, 0x1000), None); // vstart > vend
    assert_eq!(g.lowest_fit(0, 1, 0, u64::MAX), None); // size 0
    assert_eq!(g.lowest_fit(PAGE, 0, 0, u64::MAX), None); // align 0
    assert_eq!(g.lowest_fit(PAGE, 3 * PAGE, 0, u64::MAX), None); // not a power of two
    assert_eq!(g.lowest_fit(2 * PAGE, 1, 0x1000, 0x2fff), None); // window too small
    assert_eq!(g.lowest_fit(2 * PAGE, 1, 0x1000, 0x3000), Some(0x1000)); // exactly enough
    assert_eq!(g.lowest_fit(u64::MAX, 1, 0, u64::MAX), Some(0)); // the whole window
    assert_eq!(g.lowest_fit(u64::MAX, 2, 0, u64::MAX), Some(0));
    assert_eq!(g.lowest_fit(u64::MAX, 1, 1, u64::MAX), None);
}

#[test]
fn errors_leave_the_structure_unchanged() {
    let mut g = FreeGaps::new();
    g.reserve(0x10000, 0x20000).unwrap();
    g.reserve(0x30000, 0x40000).unwrap();
    let before = gaps(&g);
    let cases: [(bool, u64, u64, GapError); 10] = [
        (true, 0x5000, 0x5000, GapError::EmptyRange),
        (true, 0x6000, 0x5000, GapError::EmptyRange),
        (true, 0x10000, 0x11000, GapError::NotFree), // busy
        (true, 0xf000, 0x11000, GapError::NotFree),  // runs into busy
        (true, 0x1f000, 0x31000, GapError::NotFree), // spans a gap
        (false, 0x7000, 0x7000, GapError::EmptyRange),
        (false, 0x0, 0x1000, GapError::NotBusy),      // free
        (false, 0xf000, 0x11000, GapError::NotBusy),  // starts free
        (false, 0x1f000, 0x21000, GapError::NotBusy), // ends free
        (false, 0x10000, 0x40000, GapError::NotBusy), // a gap inside
    ];
    for (reserve, s, e, want) in cases {
        let got = if reserve {
            g.reserve(s, e)
        } else {
            g.release(s, e)
        };
        assert_eq!(got, Err(want), "reserve={reserve} {s:#x}..{e:#x}");
        assert_eq!(gaps(&g), before);
        g.check_invariants().unwrap();
    }
}

#[test]
fn release_merges_neighbours() {
    let mut g = FreeGaps::new();
    g.reserve(0x1000, 0x2000).unwrap();
    g.reserve(0x2000, 0x3000).unwrap();
    g.reserve(0x5000, 0x6000).unwrap();
    assert_eq!(gaps(&g), vec![(0, 0x1000), (0x3000, 0x5000), (0x6000, TOP)]);
    // Part of a busy run: merges with the gap below only.
    g.release(0x1000, 0x1800).unwrap();
    assert_eq!(gaps(&g), vec![(0, 0x1800), (0x3000, 0x5000), (0x6000, TOP)]);
    // Merges with the gap above only.
    g.release(0x2800, 0x3000).unwrap();
    assert_eq!(gaps(&g), vec![(0, 0x1800), (0x2800, 0x5000), (0x6000, TOP)]);
    // Neither: a new gap.
    g.release(0x2000, 0x2400).unwrap();
    assert_eq!(g.len(), 4);
    // Both: three gaps become one.
    g.release(0x1800, 0x2000).unwrap();
    g.release(0x2400, 0x2800).unwrap();
    g.release(0x5000, 0x6000).unwrap();
    assert_eq!(gaps(&g), vec![(0, TOP)]);
    g.check_invariants().unwrap();
}

#[test]
fn many_gaps_stay_balanced() {
    // Ascending then descending splits, the classic worst case for an unbalanced tree.
    let mut g = FreeGaps::new();
    let n = 5000u64;
    for k in 0..n {
        g.reserve(0x1000 + 2 * k * PAGE, 0x2000 + 2 * k * PAGE)
            .unwrap();
    }
    for k in (0..n).rev() {
        let base = 1 << 40;
        g.reserve(base + 2 * k * PAGE, base + (2 * k + 1) * PAGE)
            .unwrap();
    }
    g.check_invariants().unwrap();
    assert_eq!(g.len(), 2 * n as usize + 1);
    // The first free 2-page hole: none below 2^40 (all 1 page), then [2^40 + 0x1000 ...
    // no: those are 1 page too; so the gap after the last busy area below 2^40.
    assert_eq!(
        g.lowest_fit(2 * PAGE, 1, 0, u64::MAX),
        Some(0x2000 + 2 * (n - 1) * PAGE)
    );
    // Free every other one in a scrambled order, then the rest.
    let mut order: Vec<u64> = (0..n).collect();
    let mut rng = SplitMix64(7);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for (step, &k) in order.iter().enumerate() {
        g.release(0x1000 + 2 * k * PAGE, 0x2000 + 2 * k * PAGE)
            .unwrap();
        let base = 1 << 40;
        g.release(base + 2 * k * PAGE, base + (2 * k + 1) * PAGE)
            .unwrap();
        if step % 500 == 0 {
            g.check_invariants().unwrap();
        }
    }
    assert_eq!(gaps(&g), vec![(0, TOP)]);
    g.check_invariants().unwrap();
}

/// splitmix64: a tiny deterministic generator for the randomized tests.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `pct` percent.
    fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// The obviously-correct model: busy runs, sorted, disjoint and coalesced, and semantics §4.3's
/// candidate scan (ALIGN(vstart), then ALIGN(run end) for each run ending at or above vstart).
#[derive(Default)]
struct Oracle {
    busy: Vec<(u64, u64)>,
}

impl Oracle {
    /// The first run ending above `a`, i.e. the only one that can overlap `[a, ..)` first.
    fn overlaps(&self, s: u64, e: u64) -> bool {
        let i = self.busy.partition_point(|&(_, be)| be <= s);
        self.busy.get(i).is_some_and(|&(bs, _)| bs < e)
    }

    fn reserve(&mut self, s: u64, e: u64) -> Result<(), GapError> {
        if s >= e {
            return Err(GapError::EmptyRange);
        }
        if self.overlaps(s, e) {
            return Err(GapError::NotFree);
        }
        // Insert in order, then coalesce with the runs just below and above.
        let mut i = self.busy.partition_point(|&(bs, _)| bs < s);
        self.busy.insert(i, (s, e));
        if i > 0 && self.busy[i - 1].1 == s {
            self.busy[i - 1].1 = e;
            self.busy.remove(i);
            i -= 1;
        }
        if i + 1 < self.busy.len() && self.busy[i + 1].0 == self.busy[i].1 {
            self.busy[i].1 = self.busy[i + 1].1;
            self.busy.remove(i + 1);
        }
        Ok(())
    }

    fn release(&mut self, s: u64, e: u64) -> Result<(), GapError> {
        if s >= e {
            return Err(GapError::EmptyRange);
        }
        let Some(i) = self.busy.iter().position(|&(bs, be)| bs <= s && e <= be) else {
            return Err(GapError::NotBusy);
        };
        let (bs, be) = self.busy.remove(i);
        if e < be {
            self.busy.insert(i, (e, be));
        }
        if bs < s {
            self.busy.insert(i, (bs, s));
        }
        Ok(())
    }

    fn gaps(&self) -> Vec<(u64, u128)> {
        let mut out = Vec::new();
        let mut from: u128 = 0;
        for &(bs, be) in &self.busy {
            if from < bs as u128 {
                out.push((from as u64, bs as u128));
            }
            from = be as u128;
        }
        if from < TOP {
            out.push((from as u64, TOP));
        }
        out
    }

    fn lowest_fit(&self, size: u64, align: u64, vstart: u64, vend: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() || vstart > vend {
            return None;
        }
        let align_up = |x: u64| x.checked_add(align - 1).map(|v| v & !(align - 1));
        // Ascending already: vstart <= the run ends taken, the ends ascend, ALIGN is
        // monotone.
        let first = self.busy.partition_point(|&(_, be)| be < vstart);
        let mut cands = std::iter::once(vstart)
            .chain(self.busy[first..].iter().map(|b| b.1))
            .filter_map(align_up); // a wrapped ALIGN is not a candidate (R4)
        cands.find(|&a| {
            a >= vstart
                && a % align == 0
                && a.checked_add(size)
                    .is_some_and(|e| e <= vend && !self.overlaps(a, e))
        })
    }
}

const VMALLOC: (u64, u64) = (0xffff_c900_0000_0000, 0xffff_e8ff_ffff_ffff);
const WINDOWS: [(u64, u64); 3] = [(0, 1 << 24), VMALLOC, (u64::MAX - (1 << 24) + 1, u64::MAX)];

struct Gen {
    rng: SplitMix64,
}

impl Gen {
    fn window(&mut self) -> (u64, u64) {
        WINDOWS[self.rng.below(3) as usize]
    }

    /// An address in `[lo, hi)`, usually page-aligned and near `lo`.
    fn addr(&mut self, (lo, hi): (u64, u64)) -> u64 {
        let span = if self.rng.pct(80) {
            (hi - lo).min(1 << 22)
        } else {
            hi - lo
        };
        let off = self.rng.below(span);
        if self.rng.pct(90) {
            lo + (off & !(PAGE - 1))
        } else {
            lo + off
        }
    }

    fn size(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=69 => (1 + self.rng.below(4)) * PAGE,
            70..=84 => (1 + self.rng.below(64)) * PAGE,
            85..=94 => 1 + self.rng.below(3 * PAGE),
            95..=97 => 1 << (20 + self.rng.below(24)),
            98 => 1 + self.rng.below(u64::MAX),
            _ => 0,
        }
    }

    fn align(&mut self) -> u64 {
        let shift = match self.rng.below(100) {
            0..=59 => self.rng.below(13),
            60..=89 => 13 + self.rng.below(8),
            90..=96 => 21 + self.rng.below(20),
            97..=98 => 41 + self.rng.below(23),
            _ => return self.rng.below(3 * PAGE), // usually not a power of two
        };
        1 << shift
    }

    fn request(&mut self) -> (u64, u64, u64, u64) {
        let w = self.window();
        let size = self.size();
        let align = self.align();
        let vstart = self.addr(w);
        let vend = match self.rng.below(100) {
            0..=49 => w.1,
            50..=74 => vstart.saturating_add(self.rng.below(1 << 22)),
            75..=89 => u64::MAX,
            _ => self.addr(w),
        };
        (size, align, vstart, vend)
    }

    /// A range inside a window, usually small.
    fn range(&mut self) -> (u64, u64) {
        let w = self.window();
        let s = self.addr(w);
        let len = if self.rng.pct(90) {
            (1 + self.rng.below(8)) * PAGE
        } else {
            self.rng.below(1 << 20)
        };
        (s, s.saturating_add(len))
    }
}

fn differential(seed: u64, ops: usize) -> [usize; 6] {
    let mut gen = Gen {
        rng: SplitMix64(seed),
    };
    let mut tree = FreeGaps::new();
    let mut model = Oracle::default();
    // alloc ok, alloc none, free, random reserve, random release, query
    let mut stats = [0usize; 6];
    for op in 0..ops {
        // Above 300 busy runs, free whole runs until below again.
        let crowded = model.busy.len() > 300;
        let kind = if crowded { 40 } else { gen.rng.below(100) };
        let ctx = format!("seed {seed} op {op}");
        match kind {
            0..=39 | 90..=99 => {
                let (size, align, vstart, vend) = gen.request();
                let want = model.lowest_fit(size, align, vstart, vend);
                let got = tree.lowest_fit(size, align, vstart, vend);
                assert_eq!(
                    got, want,
                    "{ctx}: lowest_fit({size:#x}, {align:#x}, {vstart:#x}, {vend:#x}) on {tree:?}"
                );
                match (kind < 90, want) {
                    (true, Some(a)) => {
                        stats[0] += 1;
                        assert_eq!(model.reserve(a, a + size), Ok(()), "{ctx}");
                        if gen.rng.pct(50) {
                            assert_eq!(tree.reserve(a, a + size), Ok(()), "{ctx}");
                        } else {
                            let took = tree.take_lowest_fit(size, align, vstart, vend);
                            assert_eq!(took, Some(a), "{ctx}");
                        }
                    }
                    (true, None) => {
                        stats[1] += 1;
                        let took = tree.take_lowest_fit(size, align, vstart, vend);
                        assert_eq!(took, None, "{ctx}");
                    }
                    (false, _) => stats[5] += 1,
                }
            }
            40..=69 => {
                if model.busy.is_empty() {
                    continue;
                }
                stats[2] += 1;
                let i = gen.rng.below(model.busy.len() as u64) as usize;
                let (bs, be) = model.busy[i];
                let (s, e) = if crowded || gen.rng.pct(60) {
                    (bs, be)
                } else {
                    let s = bs + gen.rng.below(be - bs);
                    (s, s + 1 + gen.rng.below(be - s))
                };
                let want = model.release(s, e);
                assert_eq!(tree.release(s, e), want, "{ctx}: release {s:#x}..{e:#x}");
            }
            70..=79 => {
                stats[3] += 1;
                let all = model.gaps();
                let (s, e) = if gen.rng.pct(30) && all.len() > 1 {
                    // A whole gap (not the last, which ends at 2^64).
                    let (s, e) = all[gen.rng.below(all.len() as u64 - 1) as usize];
                    (s, e as u64)
                } else {
                    gen.range()
                };
                let (s, e) = if gen.rng.pct(5) { (e, s) } else { (s, e) };
                let want = model.reserve(s, e);
                assert_eq!(tree.reserve(s, e), want, "{ctx}: reserve {s:#x}..{e:#x}");
            }
            _ => {
                stats[4] += 1;
                let (s, e) = gen.range();
                let want = model.release(s, e);
                assert_eq!(tree.release(s, e), want, "{ctx}: release {s:#x}..{e:#x}");
            }
        }
        assert_eq!(gaps(&tree), model.gaps(), "{ctx}: gaps differ");
        assert_eq!(tree.len(), model.gaps().len(), "{ctx}");
        if let Err(e) = tree.check_invariants() {
            panic!("{ctx}: {e}\n{tree:?}");
        }
    }
    stats
}

#[test]
fn differential_against_linear_oracle() {
    let mut total = [0usize; 6];
    for seed in [1, 2, 3, 0xdead_beef] {
        let stats = differential(seed, 15_000);
        for (t, s) in total.iter_mut().zip(stats) {
            *t += s;
        }
    }
    // Every kind of op happened a fair number of times (a generator that tests nothing
    // would pass silently otherwise).
    for (name, n) in ["fits", "no fit", "frees", "reserves", "releases", "queries"]
        .iter()
        .zip(total)
    {
        assert!(n > 1000, "only {n} {name}: {total:?}");
    }
}

#[test]
fn differential_dense_pages() {
    // One small window, page sizes and alignments up to 8 pages: many small holes, the
    // shape where an alignment-aware pruning rule would go wrong (semantics §4.5).
    let mut rng = SplitMix64(42);
    let mut tree = FreeGaps::new();
    let mut model = Oracle::default();
    let (lo, hi) = (0x100_0000u64, 0x100_0000u64 + 512 * PAGE);
    for op in 0..20_000 {
        if rng.pct(55) {
            let size = (1 + rng.below(3)) * PAGE;
            let align = PAGE << rng.below(4);
            let vstart = lo + rng.below(16) * PAGE;
            let want = model.lowest_fit(size, align, vstart, hi);
            assert_eq!(tree.lowest_fit(size, align, vstart, hi), want, "op {op}");
            assert_eq!(
                tree.take_lowest_fit(size, align, vstart, hi),
                want,
                "op {op}"
            );
            if let Some(a) = want {
                model.reserve(a, a + size).unwrap();
            }
        } else if !model.busy.is_empty() {
            let i = rng.below(model.busy.len() as u64) as usize;
            let (bs, be) = model.busy[i];
            let pages = (be - bs) / PAGE;
            let s = bs + rng.below(pages) * PAGE;
            let e = s + (1 + rng.below((be - s) / PAGE)) * PAGE;
            model.release(s, e).unwrap();
            tree.release(s, e).unwrap();
        }
        assert_eq!(gaps(&tree), model.gaps(), "op {op}");
        tree.check_invariants().unwrap();
    }
}

#[test]
fn deep_tree_grows_and_shrinks() {
    // Thousands of gaps (an inner level or two below the root), so that splits, borrows
    // and merges of inner nodes and root growth and collapse all happen; compared with the
    // oracle throughout.
    let mut rng = SplitMix64(99);
    let mut tree = FreeGaps::new();
    let mut model = Oracle::default();
    let (lo, pages) = (VMALLOC.0, 1u64 << 16);
    let check = |tree: &FreeGaps, model: &Oracle, what: &str| {
        assert_eq!(gaps(tree), model.gaps(), "{what}");
        if let Err(e) = tree.check_invariants() {
            panic!("{what}: {e}");
        }
    };
    let mut max_gaps = 0;
    let mut max_depth = 0;
    for phase in 0..3 {
        for op in 0..8000 {
            let what = format!("phase {phase} op {op}");
            let free = match phase {
                0 => rng.pct(10),
                1 => rng.pct(50),
                _ => true,
            };
            if free && !model.busy.is_empty() {
                let i = rng.below(model.busy.len() as u64) as usize;
                let (bs, be) = model.busy[i];
                let (s, e) = if phase == 2 || rng.pct(50) {
                    (bs, be)
                } else {
                    let s = bs + rng.below((be - bs) / PAGE) * PAGE;
                    (s, s + PAGE)
                };
                assert_eq!(tree.release(s, e), model.release(s, e), "{what}");
            } else if !free && rng.pct(10) {
                // A whole small gap of the window: exact-fit removals, the largest gap
                // under a node included.
                // The gap after a random busy run, if small and in the window.
                let i = rng.below(model.busy.len().max(1) as u64) as usize;
                if let (Some(&(_, s)), Some(&(e, _))) = (model.busy.get(i), model.busy.get(i + 1)) {
                    if s >= lo && e - s <= 16 * PAGE {
                        assert_eq!(tree.reserve(s, e), Ok(()), "{what}");
                        model.reserve(s, e).unwrap();
                    }
                }
            } else if !free {
                let s = lo + rng.below(pages) * PAGE;
                let e = s + (1 + rng.below(3)) * PAGE;
                assert_eq!(tree.reserve(s, e), model.reserve(s, e), "{what}");
                let size = (1 + rng.below(4)) * PAGE;
                let align = PAGE << rng.below(5);
                let vstart = lo + rng.below(pages) * PAGE;
                let want = model.lowest_fit(size, align, vstart, u64::MAX);
                assert_eq!(
                    tree.lowest_fit(size, align, vstart, u64::MAX),
                    want,
                    "{what}"
                );
            }
            max_gaps = max_gaps.max(tree.len());
            max_depth = max_depth.max(depth(&tree));
            if op % 64 == 0 {
                check(&tree, &model, &what);
            }
        }
        check(&tree, &model, "end of phase");
    }
    // Root, two inner levels, leaves: inner nodes split and merge below the root.
    assert!(
        max_depth >= 4,
        "depth {max_depth} ({max_gaps} gaps) at most"
    );
    assert_eq!(gaps(&tree), vec![(0, TOP)]);
}

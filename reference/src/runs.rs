//! A set of PFNs kept as runs: the free frames of the pool and its zero-filled frames
//! (semantics §12.2, design §3.10).
//!
//! The set is a sorted `Vec` of disjoint, non-adjacent half-open runs `[start, end)`. "The
//! lowest member in a range" is one binary search, and the steps the pool takes most often,
//! handing out a run's first PFN and adding the PFN just above a run, change one run in place.
//! Nothing here knows what the PFNs mean; the rules stay in `pages.rs`.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

/// A set of PFNs as sorted, disjoint, non-adjacent runs `[start, end)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PfnRuns {
    runs: Vec<(u64, u64)>,
}

impl PfnRuns {
    /// The index of the run holding `pfn` or, if none does, of the first run above it: the
    /// first run ending after `pfn`.
    fn index_from(&self, pfn: u64) -> usize {
        self.runs.partition_point(|&(_, end)| end <= pfn)
    }

    /// The run holding `pfn` or, if none does, the first run above it.
    fn run_from(&self, pfn: u64) -> Option<(u64, u64)> {
        self.runs.get(self.index_from(pfn)).copied()
    }

    /// The lowest member in `[lo, hi)`.
    pub(crate) fn lowest_in(&self, lo: u64, hi: u64) -> Option<u64> {
        let (start, _) = self.run_from(lo)?;
        let pfn = start.max(lo);
        (pfn < hi).then_some(pfn)
    }

    /// Whether `pfn` is a member.
    pub(crate) fn contains(&self, pfn: u64) -> bool {
        matches!(self.run_from(pfn), Some((start, _)) if start <= pfn)
    }

    /// Removes `pfn` if it is a member, shrinking or splitting its run.
    pub(crate) fn remove(&mut self, pfn: u64) {
        self.remove_range(pfn, pfn.saturating_add(1));
    }

    /// Removes every member in `[lo, hi)`: the runs inside go, the runs across an edge are
    /// cut there.
    pub(crate) fn remove_range(&mut self, lo: u64, hi: u64) {
        let first = self.index_from(lo);
        // The common case, a run's first PFN: the run shrinks in place.
        if let Some(run) = self.runs.get_mut(first) {
            if run.0 >= lo && run.0 < hi && hi < run.1 {
                run.0 = hi;
                return;
            }
        }
        let mut last = first;
        let mut kept = Vec::new();
        while let Some(&(start, end)) = self.runs.get(last) {
            if start >= hi {
                break;
            }
            if start < lo {
                kept.push((start, lo));
            }
            if end > hi {
                kept.push((hi, end));
            }
            last += 1;
        }
        self.runs.splice(first..last, kept);
    }

    /// Adds `pfn`, merging with the neighbouring runs.
    pub(crate) fn insert(&mut self, pfn: u64) {
        if !self.contains(pfn) {
            self.insert_range(pfn, pfn + 1);
        }
    }

    /// Adds `[start, end)`, none of which is a member, merging with the neighbouring runs.
    pub(crate) fn insert_range(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let i = self.index_from(start);
        let joins_left = i > 0 && self.runs[i - 1].1 == start;
        let joins_right = matches!(self.runs.get(i), Some(&(s, _)) if s == end);
        match (joins_left, joins_right) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = end,
            (false, true) => self.runs[i].0 = start,
            (false, false) => self.runs.insert(i, (start, end)),
        }
    }

    /// Number of members in `[lo, hi)`.
    pub(crate) fn count_in(&self, lo: u64, hi: u64) -> u64 {
        self.runs
            .iter()
            .map(|&(s, e)| e.min(hi).saturating_sub(s.max(lo)))
            .sum()
    }

    /// The runs in order, as `(start, end)`.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn split_and_merge() {
        let mut r = PfnRuns::default();
        r.insert(10);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 11)]);
        for pfn in 11..20 {
            r.insert(pfn);
        }
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 20)]);
        r.remove(10);
        r.remove(15);
        r.remove(15);
        r.remove(30);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(11, 15), (16, 20)]);
        assert_eq!(r.lowest_in(0, 100), Some(11));
        assert_eq!(r.lowest_in(15, 100), Some(16));
        assert_eq!(r.lowest_in(12, 13), Some(12));
        assert_eq!(r.lowest_in(15, 16), None);
        assert_eq!(r.lowest_in(20, 100), None);
        assert!(r.contains(11) && r.contains(19) && !r.contains(15) && !r.contains(20));
        r.remove(19);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(11, 15), (16, 19)]);
        r.insert(15);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(11, 19)]);
        r.insert(15);
        r.insert(10);
        r.insert(25);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 19), (25, 26)]);
        assert_eq!(r.count_in(0, 12), 2);
        assert_eq!(r.count_in(18, 30), 2);
        // A range joins both neighbours, or stands alone.
        r.insert_range(19, 25);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 26)]);
        r.insert_range(30, 32);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 26), (30, 32)]);
        r.insert_range(28, 29);
        r.insert_range(26, 28);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 29), (30, 32)]);
        // A range removed across runs: [12, 31) cuts the first run at 12 and the second at 31.
        r.remove_range(12, 31);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 12), (31, 32)]);
        // A range inside one run splits it.
        r.insert_range(12, 31);
        r.remove_range(20, 22);
        assert_eq!(r.runs().collect::<Vec<_>>(), vec![(10, 20), (22, 32)]);
    }

    /// The runs against a plain set of PFNs, over a deterministic walk of inserts, removes
    /// and range removes.
    #[test]
    fn agree_with_a_set() {
        let mut r = PfnRuns::default();
        let mut set = BTreeSet::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pfn = x % 200;
            match x >> 62 {
                0 | 1 => {
                    r.insert(pfn);
                    set.insert(pfn);
                }
                2 => {
                    r.remove(pfn);
                    set.remove(&pfn);
                }
                _ => {
                    let hi = pfn + (x >> 24) % 9;
                    r.remove_range(pfn, hi);
                    set.retain(|&p| p < pfn || p >= hi);
                }
            }
            let lo = (x >> 8) % 200;
            let hi = lo + (x >> 16) % 50;
            assert_eq!(r.lowest_in(lo, hi), set.range(lo..hi).next().copied());
            assert_eq!(r.count_in(lo, hi), set.range(lo..hi).count() as u64);
        }
        let from_runs: BTreeSet<u64> = r.runs().flat_map(|(s, e)| s..e).collect();
        assert_eq!(from_runs, set);
        // Runs are disjoint, not empty and never adjacent (they would have been merged).
        let runs: Vec<_> = r.runs().collect();
        assert!(runs.iter().all(|&(s, e)| s < e));
        assert!(runs.windows(2).all(|w| w[0].1 < w[1].0));
    }
}

//! Code coverage for the built-in campaign: SanitizerCoverage's inline 8-bit counters of the
//! instrumented crates (the engine and the model), read the way libFuzzer reads them
//! (`docs/design.md` §5.4).
//!
//! Every instrumented edge owns one byte that the instrumented code increments (wrapping) each
//! time the edge runs. After an input, each non-zero byte is one **feature**: the pair (edge,
//! hit-count bucket), with libFuzzer's buckets 1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128–255. An
//! input that produces a feature never seen before adds coverage. An edge is **covered** once
//! any of its buckets has been seen.
//!
//! This module is safe code. The counters reach it as `&'static [AtomicU8]` slices from the
//! one module of the `vmfuzz` binary that receives them from the instrumented code
//! (`fuzz/cli/src/sancov.rs`, the only `unsafe` of the project's fuzzing code). They are
//! process-global: an input's counts are only its own if nothing else runs instrumented code
//! while it runs, which is why a campaign reads them only with one worker per process.

use std::sync::atomic::{AtomicU8, Ordering};

/// Hit-count buckets per edge.
pub const BUCKETS: u32 = 8;

/// libFuzzer's hit-count bucket of a non-zero counter: 1, 2, 3, 4–7, 8–15, 16–31, 32–127,
/// 128–255 are buckets 0 to 7.
pub fn bucket(count: u8) -> u32 {
    match count {
        0 | 1 => 0,
        2 => 1,
        3 => 2,
        4..=7 => 3,
        8..=15 => 4,
        16..=31 => 5,
        32..=127 => 6,
        _ => 7,
    }
}

/// The feature number of an (edge, bucket) pair: `edge * 8 + bucket`.
pub fn feature(edge: usize, count: u8) -> u32 {
    (edge as u32).wrapping_mul(BUCKETS) + bucket(count)
}

/// The coverage counters of this process: one byte per instrumented edge, in one or more
/// regions (one per instrumented module set the linker merged).
#[derive(Clone)]
pub struct Counters {
    regions: Vec<&'static [AtomicU8]>,
    edges: usize,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("regions", &self.regions.len())
            .field("edges", &self.edges)
            .finish()
    }
}

impl Counters {
    /// The counters in `regions`; `None` when there are none (the binary is not instrumented).
    pub fn new(regions: Vec<&'static [AtomicU8]>) -> Option<Counters> {
        let edges = regions.iter().map(|r| r.len()).sum();
        (edges > 0).then_some(Counters { regions, edges })
    }

    /// Instrumented edges.
    pub fn edges(&self) -> usize {
        self.edges
    }

    /// Zero every counter (before an input).
    pub fn reset(&self) {
        for r in &self.regions {
            for c in r.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Call `f(edge, count)` for every non-zero counter, in edge order.
    pub fn for_each_hit(&self, mut f: impl FnMut(usize, u8)) {
        let mut base = 0;
        for r in &self.regions {
            for (i, c) in r.iter().enumerate() {
                let v = c.load(Ordering::Relaxed);
                if v != 0 {
                    f(base + i, v);
                }
            }
            base += r.len();
        }
    }

    /// The features of the run since the last [`Counters::reset`], sorted.
    pub fn features(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.for_each_hit(|edge, count| out.push(feature(edge, count)));
        out
    }
}

/// The (edge, bucket) features seen so far: one byte per edge, bit `b` set once bucket `b`
/// was seen.
#[derive(Debug, Clone, Default)]
pub struct EdgeMap {
    seen: Vec<u8>,
    covered: usize,
    features: usize,
    /// Edges covered since the last [`EdgeMap::take_new_edges`].
    fresh: Vec<u32>,
}

impl EdgeMap {
    /// Nothing seen, for `edges` instrumented edges.
    pub fn new(edges: usize) -> EdgeMap {
        EdgeMap {
            seen: vec![0; edges],
            covered: 0,
            features: 0,
            fresh: Vec::new(),
        }
    }

    fn add(&mut self, edge: usize, bucket: u32) -> bool {
        if edge >= self.seen.len() {
            self.seen.resize(edge + 1, 0);
        }
        let bit = 1u8 << bucket.min(7);
        let slot = &mut self.seen[edge];
        if *slot & bit != 0 {
            return false;
        }
        if *slot == 0 {
            self.covered += 1;
            self.fresh.push(edge as u32);
        }
        *slot |= bit;
        self.features += 1;
        true
    }

    /// Add the current counts of `counters`; returns how many features were new.
    pub fn merge_counters(&mut self, counters: &Counters) -> usize {
        let mut new = 0;
        counters.for_each_hit(|edge, count| {
            if self.add(edge, bucket(count)) {
                new += 1;
            }
        });
        new
    }

    /// Add features made by [`feature`]; returns how many were new.
    pub fn merge(&mut self, features: &[u32]) -> usize {
        features
            .iter()
            .filter(|&&f| self.add((f / BUCKETS) as usize, f % BUCKETS))
            .count()
    }

    /// Would any of `features` be new?
    pub fn has_new(&self, features: &[u32]) -> bool {
        features.iter().any(|&f| {
            let edge = (f / BUCKETS) as usize;
            self.seen
                .get(edge)
                .is_none_or(|s| s & (1 << (f % BUCKETS)) == 0)
        })
    }

    /// The edges covered for the first time since the last call (a worker process reports
    /// them, so that its parent counts the union of the workers' edges).
    pub fn take_new_edges(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.fresh)
    }

    /// Is `edge` covered?
    pub fn is_covered(&self, edge: usize) -> bool {
        self.seen.get(edge).is_some_and(|&s| s != 0)
    }

    /// Edges covered (any bucket seen).
    pub fn covered(&self) -> usize {
        self.covered
    }

    /// (edge, bucket) features seen.
    pub fn features(&self) -> usize {
        self.features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(n: usize) -> &'static [AtomicU8] {
        Box::leak(
            (0..n)
                .map(|_| AtomicU8::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    }

    #[test]
    fn buckets_are_libfuzzers() {
        let b: Vec<u32> = [1u8, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 255]
            .iter()
            .map(|&c| bucket(c))
            .collect();
        assert_eq!(b, [0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
    }

    #[test]
    fn new_edge_and_new_bucket_are_new_features() {
        assert!(Counters::new(vec![]).is_none());
        let (a, b) = (leak(3), leak(2));
        let c = Counters::new(vec![a, b]).unwrap();
        assert_eq!(c.edges(), 5);
        let mut map = EdgeMap::new(c.edges());
        a[1].store(1, Ordering::Relaxed);
        b[0].store(5, Ordering::Relaxed);
        assert_eq!(c.features(), [feature(1, 1), feature(3, 5)]);
        assert_eq!(map.merge_counters(&c), 2);
        assert_eq!((map.covered(), map.features()), (2, 2));
        // Same counts: nothing new. Edge 1 hit twice: a new bucket, no new edge.
        assert_eq!(map.merge_counters(&c), 0);
        a[1].store(2, Ordering::Relaxed);
        assert!(map.has_new(&c.features()));
        assert_eq!(map.merge_counters(&c), 1);
        assert_eq!((map.covered(), map.features()), (2, 3));
        c.reset();
        assert!(c.features().is_empty());
        assert_eq!(map.merge(&[feature(4, 200), feature(4, 200)]), 1);
        assert_eq!(map.covered(), 3);
        assert_eq!(map.take_new_edges(), [1, 3, 4]);
        assert!(map.take_new_edges().is_empty());
        assert!(map.is_covered(4) && !map.is_covered(0) && !map.is_covered(99));
    }
}

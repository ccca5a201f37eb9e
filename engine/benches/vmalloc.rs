//! Benchmarks (divan): the engine's `vmalloc` + `vfree` pair, timed per pair, with 1k, 10k and
//! 100k live areas, for (i) 1-page areas and (ii) mixed sizes of 1–16 pages in a fixed
//! pattern. Beside each is the same insert + remove pattern on a plain `BTreeMap<u64, u64>`.
//!
//! The goals (README "Benchmarks"): at 100k live areas a pair costs at most 2× what it costs at 1k,
//! and a 1-page engine pair costs at most 4× the BTreeMap pair. Results and the command that
//! produced them: `docs/bench.md`.
//!
//! What one engine iteration does: a vmalloc (lowest-fit placement, data pages, page-table
//! walk and PTE writes) and a vfree (PTE clear, lazy add, pages freed). The freed VA stays
//! lazily busy, as in the kernel, so the live set is constant but lazy VAs pile up above it.
//! Every ~12k pairs their pages pass `lazy_max_pages` and a purge releases them. The purge cost
//! is spread over the iterations that caused it, as a caller of the kernel would pay it.

use std::collections::BTreeMap;

use divan::Bencher;
use vmalloc_engine::{Context, Kernel, MachineConfig, NodeSpan};

fn main() {
    divan::main();
}

/// Live areas held while the pair is timed.
const LIVE: [usize; 3] = [1_000, 10_000, 100_000];

/// Pairs per timed sample. A purge comes every 12,289 1-page pairs (24576 / 2 + 1) and about
/// every 2,600 mixed ones (24576 / 9.5), so each sample spans at least two purge periods and
/// every sample's per-pair time includes its share of the purges. Divan's own calibration
/// used samples of 1–100 pairs, where a sample either holds a whole purge or none.
const PAIRS_PER_SAMPLE: u32 = 25_000;

/// Samples per benchmark: the median is taken over these.
const SAMPLES: u32 = 30;

/// Pages of the i-th area of the mixed pattern: (7·i mod 16) + 1 visits every size of 1..=16
/// in a fixed order (1, 8, 15, 6, 13, 4, 11, 2, 9, 16, 7, 14, 5, 12, 3, 10), mean 8.5.
fn mixed_pages(i: usize) -> u64 {
    ((7 * i) % 16 + 1) as u64
}

/// The default machine with one 8 GiB node. 100k live mixed areas hold about 850k pages,
/// more than the default 1 GiB (262k pages). Every benchmark uses this machine, so the
/// results can be compared.
fn machine() -> MachineConfig {
    MachineConfig {
        nodes: vec![NodeSpan {
            start_pfn: 0,
            end_pfn: 0x20_0000,
        }],
        ..MachineConfig::default()
    }
}

/// A kernel holding `live` areas of `pages(i)` pages each.
fn kernel_with_live(live: usize, pages: impl Fn(usize) -> u64) -> Kernel {
    let mut k = Kernel::new(machine()).expect("valid machine");
    for i in 0..live {
        k.vmalloc(pages(i) * 4096, i as u32)
            .expect("no fatal")
            .expect("room");
    }
    k
}

/// (i) vmalloc(1 page) + vfree.
#[divan::bench(args = LIVE, sample_count = SAMPLES, sample_size = PAIRS_PER_SAMPLE)]
fn engine_1page(bencher: Bencher, live: usize) {
    let mut k = kernel_with_live(live, |_| 1);
    bencher.bench_local(|| {
        let a = k.vmalloc(4096, 1).expect("no fatal").expect("room");
        k.vfree(divan::black_box(a), Context::Process)
            .expect("no fatal");
    });
}

/// (ii) vmalloc(1..=16 pages, the mixed pattern) + vfree.
#[divan::bench(args = LIVE, sample_count = SAMPLES, sample_size = PAIRS_PER_SAMPLE)]
fn engine_mixed(bencher: Bencher, live: usize) {
    let mut k = kernel_with_live(live, mixed_pages);
    let mut i = 0usize;
    bencher.bench_local(|| {
        let size = mixed_pages(i) * 4096;
        i += 1;
        let a = k.vmalloc(size, 1).expect("no fatal").expect("room");
        k.vfree(divan::black_box(a), Context::Process)
            .expect("no fatal");
    });
}

/// A map holding `live` entries keyed like the engine's live VAs (start → VA size, the VAs
/// laid out back to back), and the first key above them.
fn map_with_live(live: usize, pages: impl Fn(usize) -> u64) -> (BTreeMap<u64, u64>, u64) {
    let mut m = BTreeMap::new();
    let mut at = 0xffff_c900_0000_0000u64;
    for i in 0..live {
        let va = (pages(i) + 1) * 4096;
        m.insert(at, va);
        at += va;
    }
    (m, at)
}

/// The BTreeMap baseline: insert the next key above the live ones, then remove it. The key
/// climbs like the engine's addresses (lazy VAs stay busy) and starts over every 12,288
/// iterations, like a purge.
fn btreemap_pattern(bencher: Bencher, live: usize, pages: fn(usize) -> u64) {
    let (mut m, top) = map_with_live(live, pages);
    let mut i = 0usize;
    let mut key = top;
    bencher.bench_local(|| {
        let va = (pages(i) + 1) * 4096;
        i += 1;
        if i.is_multiple_of(12_288) {
            key = top;
        }
        m.insert(divan::black_box(key), va);
        m.remove(&divan::black_box(key));
        key += va;
    });
}

/// (i) baseline: the 1-page pattern on a `BTreeMap<u64, u64>`.
#[divan::bench(args = LIVE, sample_count = SAMPLES, sample_size = PAIRS_PER_SAMPLE)]
fn btreemap_1page(bencher: Bencher, live: usize) {
    btreemap_pattern(bencher, live, |_| 1);
}

/// (ii) baseline: the mixed pattern on a `BTreeMap<u64, u64>`.
#[divan::bench(args = LIVE, sample_count = SAMPLES, sample_size = PAIRS_PER_SAMPLE)]
fn btreemap_mixed(bencher: Bencher, live: usize) {
    btreemap_pattern(bencher, live, mixed_pages);
}

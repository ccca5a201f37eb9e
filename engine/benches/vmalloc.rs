//! Benchmarks (divan): a 1-page vmalloc + vfree with 1k and 100k live areas, against a
//! `BTreeMap<u64, u64>` insert + remove of the same size (the goal: <= 2x the 1k cost at 100k,
//! and within ~4x the BTreeMap baseline).

use std::collections::BTreeMap;

use divan::Bencher;
use vmalloc_engine::{Context, Kernel, MachineConfig};

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [1_000, 100_000];

#[divan::bench(args = SIZES)]
fn vmalloc_vfree_one_page(bencher: Bencher, live: usize) {
    let mut k = Kernel::new(MachineConfig::default()).expect("default machine");
    for i in 0..live {
        k.vmalloc(4096, i as u32).expect("no fatal").expect("room");
    }
    bencher.bench_local(|| {
        let a = k.vmalloc(4096, 1).expect("no fatal").expect("room");
        k.vfree(a, Context::Process).expect("no fatal");
    });
}

#[divan::bench(args = SIZES)]
fn btreemap_insert_remove(bencher: Bencher, live: usize) {
    let mut m: BTreeMap<u64, u64> = (0..live as u64).map(|i| (i * 8192, i)).collect();
    let key = live as u64 * 8192;
    bencher.bench_local(|| {
        m.insert(divan::black_box(key), 1);
        m.remove(&divan::black_box(key));
    });
}

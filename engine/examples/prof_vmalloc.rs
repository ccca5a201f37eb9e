//! Profiling helper: a tight loop of 1-page vmalloc + vfree with many live areas.
use vmalloc_engine::{Context, Kernel, MachineConfig};

fn main() {
    let live: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut k = Kernel::new(MachineConfig::default()).expect("default machine");
    for i in 0..live {
        k.vmalloc(4096, i as u32).expect("no fatal").expect("room");
    }
    let t = std::time::Instant::now();
    let n = 2_000_000u32;
    for _ in 0..n {
        let a = k.vmalloc(4096, 1).expect("no fatal").expect("room");
        k.vfree(a, Context::Process).expect("no fatal");
    }
    println!("{:.1} ns/op", t.elapsed().as_nanos() as f64 / f64::from(n));
}

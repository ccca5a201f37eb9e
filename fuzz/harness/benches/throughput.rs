//! What the differential costs: the same fixed, seeded set of generated inputs (500 inputs of
//! the campaign's default length, 8..1024 random bytes each) run four ways, timed as the
//! median of three passes, printed as ops/s with the ratios the harness is judged by:
//!
//! - (a) decode only: the byte codec, which is also the generator;
//! - (b) the engine alone: the calls those inputs resolve to, replayed on a fresh engine with
//!   no model and no check (the ceiling);
//! - (c) the differential run with the fuzzing checks (`FullChecks::FUZZING`: what the
//!   campaign and the fuzz targets run);
//! - (d) every check after every op (`FullChecks::EveryOp`: replay, explain, minimize).
//!
//! Goal (the executor issue): c/b ≥ 1/5. Figures are recorded in `docs/bench.md`.
//!
//! ```text
//! cargo bench -p vmfuzz --bench throughput
//! VMFUZZ_BENCH_INPUTS=100 cargo bench -p vmfuzz --bench throughput   # a quicker look
//! VMFUZZ_BENCH_PROFILE=c cargo bench -p vmfuzz --bench throughput     # only (c), for perf
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use vmfuzz::adapter::engine::EngineKernel;
use vmfuzz::exec::{apply, reslot::resolved_calls, Call, FullChecks, RunOptions};
use vmfuzz::ops::Input;
use vmfuzz::rng::Rng;
use vmfuzz::subject::Kernel;

/// The campaign's default `--max-len`.
const MAX_LEN: u64 = 1024;
const SEED: u64 = 2026;

fn inputs(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(SEED);
    let mut out = Vec::new();
    while out.len() < n {
        let len = 8 + rng.below(MAX_LEN - 8) as usize;
        let bytes = rng.bytes(len);
        if !vmfuzz::codec::decode(&bytes).ops.is_empty() {
            out.push(bytes);
        }
    }
    out
}

/// The median of three timed passes of `f`, which returns the ops it ran.
fn timed(mut f: impl FnMut() -> u64) -> (u64, Duration) {
    let mut runs: Vec<(Duration, u64)> = (0..3)
        .map(|_| {
            let start = Instant::now();
            let ops = f();
            (start.elapsed(), ops)
        })
        .collect();
    runs.sort();
    (runs[1].1, runs[1].0)
}

fn rate(ops: u64, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64().max(1e-9)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let n: usize = std::env::var("VMFUZZ_BENCH_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let raw = inputs(n);
    if let Ok(mode) = std::env::var("VMFUZZ_BENCH_PROFILE") {
        let full = if mode == "d" {
            FullChecks::EveryOp
        } else {
            FullChecks::FUZZING
        };
        let opts = RunOptions {
            full_checks: full,
            ..RunOptions::default()
        };
        for b in &raw {
            black_box(vmfuzz::check(&vmfuzz::codec::decode(b), &opts).is_ok());
        }
        return;
    }
    let decoded: Vec<Input> = raw.iter().map(|b| vmfuzz::codec::decode(b)).collect();
    let calls: Vec<Vec<Call>> = decoded.iter().map(resolved_calls).collect();
    let total_calls: u64 = calls.iter().map(|c| c.len() as u64).sum();

    let (a_ops, a) = timed(|| {
        raw.iter()
            .map(|b| black_box(vmfuzz::codec::decode(black_box(b))).ops.len() as u64)
            .sum()
    });
    let (b_ops, b) = timed(|| {
        for (input, calls) in decoded.iter().zip(&calls) {
            let Ok(mut k) = EngineKernel::new(&input.machine, None) else {
                continue;
            };
            for (i, call) in calls.iter().enumerate() {
                let _ = black_box(apply(&mut k, call, i as u32));
                black_box(k.take_events());
            }
        }
        total_calls
    });
    let run = |full_checks: FullChecks| {
        let opts = RunOptions {
            full_checks,
            ..RunOptions::default()
        };
        decoded
            .iter()
            .map(|input| match vmfuzz::check(input, &opts) {
                Ok(r) => r.calls as u64,
                Err(f) => panic!("the correct engine made a finding:\n{f}"),
            })
            .sum::<u64>()
    };
    let (c_ops, c) = timed(|| run(FullChecks::FUZZING));
    let (d_ops, d) = timed(|| run(FullChecks::EveryOp));

    let (ra, rb, rc, rd) = (
        rate(a_ops, a),
        rate(b_ops, b),
        rate(c_ops, c),
        rate(d_ops, d),
    );
    println!(
        "vmfuzz throughput: {n} inputs (seed {SEED}, 8..{MAX_LEN} bytes), {total_calls} calls"
    );
    println!("  (a) decode only            {ra:>12.0} ops/s  ({a_ops} ops in {a:.2?})");
    println!("  (b) engine alone           {rb:>12.0} ops/s  ({b_ops} calls in {b:.2?})");
    println!("  (c) differential, fuzzing  {rc:>12.0} ops/s  ({c_ops} calls in {c:.2?})");
    println!("  (d) differential, every op {rd:>12.0} ops/s  ({d_ops} calls in {d:.2?})");
    println!(
        "  c/b = 1/{:.2} ({:.3})   d/b = 1/{:.2} ({:.3})   goal c/b >= 1/5",
        rb / rc,
        rc / rb,
        rb / rd,
        rd / rb
    );
}

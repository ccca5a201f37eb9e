//! The built-in campaign (`cargo vmfuzz fuzz`): a seeded, coverage-guided loop on the stable
//! toolchain with nothing to install.
//!
//! Each worker keeps a corpus of byte inputs that reached new behaviours
//! ([`crate::behaviour`]: op kinds, outcomes, events, spec rules, state shapes) and spends its
//! executions on fresh random inputs and on mutations of corpus entries (byte-level edits,
//! splices, and structured edits through the decoder: duplicate, drop or swap ops). With
//! `jobs = 1` and a run budget, a campaign repeats exactly from its seed (design §4.4); the
//! time budget only bounds it. The first finding stops every worker.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::behaviour::Feature;
use crate::codec;
use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::ops::Input;
pub use crate::rng::Rng;

/// How a campaign runs one input (normally [`crate::check`]).
pub type CheckFn = dyn Fn(&Input, &RunOptions) -> Result<crate::exec::Report, Box<Finding>> + Sync;

/// Campaign settings.
#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// Seed of every worker's PRNG (worker `i` uses `seed + i`).
    pub seed: u64,
    /// Stop after this long.
    pub time: Option<Duration>,
    /// Stop after this many executed inputs (over all workers).
    pub runs: Option<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Longest generated input, in bytes.
    pub max_len: usize,
    /// Byte inputs to start from (seeds converted from `corpus/`).
    pub seeds: Vec<Vec<u8>>,
    /// How each input is run.
    pub run: RunOptions,
}

impl Default for CampaignOptions {
    fn default() -> Self {
        CampaignOptions {
            seed: 0,
            time: Some(Duration::from_secs(60)),
            runs: None,
            jobs: 1,
            max_len: 1024,
            seeds: Vec::new(),
            run: RunOptions::default(),
        }
    }
}

/// A finding with the input that produced it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The report.
    pub finding: Finding,
    /// The input (not yet minimized).
    pub input: Input,
    /// Inputs executed before it, over all workers.
    pub inputs_before: u64,
    /// Ops executed before it.
    pub ops_before: u64,
}

/// Live counters, shared with the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// Inputs executed.
    pub inputs: AtomicU64,
    /// Inputs that decoded to no op (rejected).
    pub rejected: AtomicU64,
    /// Calls executed (cleanup included).
    pub ops: AtomicU64,
    /// Inputs in the corpora.
    pub corpus: AtomicU64,
    /// Findings (0 or 1: the first one stops the campaign).
    pub findings: AtomicU64,
}

/// What a campaign did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Inputs executed.
    pub inputs: u64,
    /// Inputs rejected (decoded to nothing).
    pub rejected: u64,
    /// Calls executed.
    pub ops: u64,
    /// Corpus size at the end.
    pub corpus: u64,
    /// Behaviours reached.
    pub features: BTreeSet<Feature>,
    /// The finding, if any.
    pub found: Option<Box<Found>>,
    /// Wall time (reported, never part of a result).
    pub elapsed: Duration,
}

/// Shared state of the workers.
pub struct Shared {
    /// Counters.
    pub counters: Counters,
    /// Behaviours reached so far.
    pub features: Mutex<BTreeSet<Feature>>,
    stop: AtomicBool,
    found: Mutex<Option<Box<Found>>>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            counters: Counters::default(),
            features: Mutex::new(BTreeSet::new()),
            stop: AtomicBool::new(false),
            found: Mutex::new(None),
        }
    }
}

/// Mutate `data` in place with one byte-level or structured edit.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: Option<&[u8]>, max_len: usize) {
    let len = data.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len as u64) as usize;
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len as u64) as usize;
            data[i] = [0, 1, 0xff, 0x7f, 0x80, 2, 0xfe][rng.below(7) as usize];
        }
        2 => {
            let i = rng.below(len as u64 + 1) as usize;
            let n = 1 + rng.below(16) as usize;
            let bytes = rng.bytes(n);
            data.splice(i..i, bytes);
        }
        3 if len > 1 => {
            let i = rng.below(len as u64) as usize;
            let n = 1 + rng.below((len - i) as u64) as usize;
            data.drain(i..i + n.min(16));
        }
        4 if len > 1 => {
            // Duplicate a chunk (repeats ops, often the most useful edit).
            let i = rng.below(len as u64) as usize;
            let n = 1 + rng.below((len - i).min(64) as u64) as usize;
            let chunk = data[i..i + n].to_vec();
            let j = rng.below(len as u64 + 1) as usize;
            data.splice(j..j, chunk);
        }
        5 if other.is_some() => {
            // Splice: our head, the other's tail.
            let o = other.unwrap_or(&[]);
            let cut = rng.below(len as u64 + 1) as usize;
            let from = rng.below(o.len() as u64 + 1) as usize;
            data.truncate(cut);
            data.extend_from_slice(&o[from..]);
        }
        6 | 7 => {
            // Structured: decode, edit the op list, encode.
            let mut input = codec::decode(data);
            let n = input.ops.len();
            if n > 0 {
                let i = rng.below(n as u64) as usize;
                match rng.below(3) {
                    0 => {
                        let op = input.ops[i].clone();
                        let j = rng.below(n as u64) as usize;
                        input.ops.insert(j, op);
                    }
                    1 => {
                        input.ops.remove(i);
                    }
                    _ => {
                        let j = rng.below(n as u64) as usize;
                        input.ops.swap(i, j);
                    }
                }
                input.ops.truncate(crate::ops::MAX_OPS);
                if input.validate().is_ok() {
                    *data = codec::encode(&input);
                }
            }
        }
        _ => {
            let n = 1 + rng.below(64) as usize;
            let bytes = rng.bytes(n);
            data.extend_from_slice(&bytes);
        }
    }
    data.truncate(max_len);
}

fn worker(id: usize, opts: &CampaignOptions, shared: &Shared, check: &CheckFn) {
    let mut rng = Rng::new(opts.seed.wrapping_add(id as u64));
    let mut corpus: Vec<Vec<u8>> = opts.seeds.clone();
    let mut seed_queue: Vec<Vec<u8>> = opts.seeds.iter().rev().cloned().collect();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let done = shared.counters.inputs.fetch_add(1, Ordering::Relaxed);
        if opts.runs.is_some_and(|r| done >= r) {
            shared.counters.inputs.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let data = if let Some(s) = seed_queue.pop() {
            s
        } else if corpus.is_empty() || rng.below(4) == 0 {
            let n = 8 + rng.below(opts.max_len.max(9) as u64 - 8) as usize;
            rng.bytes(n)
        } else {
            let mut d = corpus[rng.below(corpus.len() as u64) as usize].clone();
            let other = corpus[rng.below(corpus.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut d, Some(&other), opts.max_len);
            }
            d
        };
        let input = codec::decode(&data);
        if input.ops.is_empty() {
            shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match check(&input, &opts.run) {
            Ok(report) => {
                shared
                    .counters
                    .ops
                    .fetch_add(report.calls as u64, Ordering::Relaxed);
                let mut global = shared.features.lock().unwrap_or_else(|e| e.into_inner());
                let before = global.len();
                global.extend(report.features.iter().copied());
                if global.len() > before {
                    corpus.push(data);
                    shared.counters.corpus.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(finding) => {
                let mut slot = shared.found.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(Box::new(Found {
                        finding: *finding,
                        input,
                        inputs_before: done,
                        ops_before: shared.counters.ops.load(Ordering::Relaxed),
                    }));
                    shared.counters.findings.fetch_add(1, Ordering::Relaxed);
                }
                shared.stop.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Run a campaign. `check` runs one input (normally [`crate::check`]); `tick` is called about
/// four times a second with the shared state (the CLI draws its progress there) and returns
/// `false` to stop the campaign (an interrupt): the workers finish the input they are running
/// and the summary covers everything done so far.
pub fn run(
    opts: &CampaignOptions,
    check: &CheckFn,
    tick: &mut dyn FnMut(&Shared, Duration) -> bool,
) -> Summary {
    let shared = Arc::new(Shared::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for id in 0..opts.jobs.max(1) {
            let shared = &shared;
            scope.spawn(move || worker(id, opts, shared, check));
        }
        loop {
            std::thread::sleep(Duration::from_millis(250));
            if !tick(&shared, start.elapsed()) {
                shared.stop.store(true, Ordering::Relaxed);
            }
            let finished = shared.stop.load(Ordering::Relaxed)
                || opts
                    .runs
                    .is_some_and(|r| shared.counters.inputs.load(Ordering::Relaxed) >= r);
            if opts.time.is_some_and(|t| start.elapsed() >= t) {
                shared.stop.store(true, Ordering::Relaxed);
            }
            if finished || shared.stop.load(Ordering::Relaxed) {
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    });
    let found = shared
        .found
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let features = shared
        .features
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Summary {
        inputs: shared.counters.inputs.load(Ordering::Relaxed),
        rejected: shared.counters.rejected.load(Ordering::Relaxed),
        ops: shared.counters.ops.load(Ordering::Relaxed),
        corpus: shared.counters.corpus.load(Ordering::Relaxed),
        features,
        found,
        elapsed: start.elapsed(),
    }
}

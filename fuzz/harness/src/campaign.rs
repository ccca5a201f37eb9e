//! The built-in campaign (`cargo vmfuzz fuzz`): a seeded, coverage-guided loop on the stable
//! toolchain with nothing to install.
//!
//! Each worker keeps a corpus of byte inputs that added coverage and spends its executions on
//! fresh random inputs and on mutations of corpus entries (byte-level edits, splices, and
//! structured edits through the decoder: duplicate, drop, swap or repeat ops, splice op lists,
//! insert a fresh op). Coverage is two
//! signals: the code coverage of the instrumented engine and model ([`crate::coverage`]: a new
//! (edge, hit-count bucket) pair, when [`CampaignOptions::coverage`] holds the counters and
//! [`CampaignOptions::edge_feedback`] is set), and the behaviours reached
//! ([`crate::behaviour`]: op kinds, outcomes, events, spec rules, state shapes). Every input
//! kept is handed to the caller (the CLI saves it in the working corpus). With `jobs = 1` and a
//! run budget, a campaign repeats exactly from its seed and its seed inputs (design §4.4); the
//! time budget only bounds it. The first finding stops every worker.
//!
//! The counters are process-global, so they are read only when the campaign has one worker
//! ([`CampaignOptions::jobs`] = 1); the CLI runs `--jobs N` with coverage as N processes
//! (design §5.4).
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::behaviour::Feature;
use crate::codec;
use crate::coverage::{Counters as EdgeCounters, EdgeMap};
use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::ops::Input;
pub use crate::rng::Rng;

/// How a campaign runs one input (normally [`crate::check`]).
pub type CheckFn<'a> =
    dyn Fn(&Input, &RunOptions) -> Result<crate::exec::Report, Box<Finding>> + Sync + 'a;

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
    /// Byte inputs to start from (seeds converted from `corpus/`, and the working corpus).
    /// They run first, in order, and all of them join the corpus.
    pub seeds: Vec<Vec<u8>>,
    /// How each input is run.
    pub run: RunOptions,
    /// The code-coverage counters of this process (`None`: not instrumented). Read only when
    /// `jobs` is 1 (they are process-global); edges are then counted even without
    /// `edge_feedback`.
    pub coverage: Option<EdgeCounters>,
    /// Keep inputs that reach a new (edge, bucket) feature (besides new behaviours).
    pub edge_feedback: bool,
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
            coverage: None,
            edge_feedback: true,
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
    /// Inputs in the corpora (seeds included).
    pub corpus: AtomicU64,
    /// Inputs kept because they added coverage (seeds excluded).
    pub kept: AtomicU64,
    /// Edges covered (0 when the counters are not read).
    pub edges: AtomicU64,
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
    /// Corpus size at the end (seeds included).
    pub corpus: u64,
    /// Inputs kept because they added coverage (seeds excluded).
    pub kept: u64,
    /// Edges covered, when the counters were read.
    pub edges: Option<u64>,
    /// (edge, bucket) features seen, when the counters were read.
    pub edge_features: Option<u64>,
    /// The features themselves, when the counters were read.
    pub edge_map: Option<EdgeMap>,
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
    /// (edge, bucket) features seen so far, when the counters are read.
    pub edges: Mutex<Option<EdgeMap>>,
    /// Inputs to run next, as seeds are run (those that add coverage join the corpus; none is
    /// handed to `keep`): a worker process pushes here what other workers saved.
    pub imports: Mutex<Vec<Vec<u8>>>,
    stop: AtomicBool,
    found: Mutex<Option<Box<Found>>>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            counters: Counters::default(),
            features: Mutex::new(BTreeSet::new()),
            edges: Mutex::new(None),
            imports: Mutex::new(Vec::new()),
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
                match rng.below(6) {
                    0 => {
                        let op = input.ops[i].clone();
                        let j = rng.below(n as u64) as usize;
                        input.ops.insert(j, op);
                    }
                    1 => {
                        input.ops.remove(i);
                    }
                    2 => {
                        let j = rng.below(n as u64) as usize;
                        input.ops.swap(i, j);
                    }
                    3 => {
                        // Repeat an op: many areas of one shape fragment the address space
                        // and fill the engine's gap tree, which single edits rarely reach.
                        let op = input.ops[i].clone();
                        let k = 2 + rng.below(15) as usize;
                        input.ops.splice(i..i, std::iter::repeat_n(op, k));
                    }
                    4 => {
                        // Op-level splice: our machine and first ops, the other's later ops
                        // (a byte splice lands mid-op and re-frames the tail).
                        let o = codec::decode(other.unwrap_or(&[]));
                        let from = rng.below(o.ops.len() as u64 + 1) as usize;
                        input.ops.truncate(i + 1);
                        input.ops.extend(o.ops.into_iter().skip(from));
                    }
                    _ => {
                        // A fresh random op, decoded from random bytes.
                        let fresh = codec::decode(&rng.bytes(48));
                        if let Some(op) = fresh.ops.into_iter().next() {
                            input.ops.insert(i, op);
                        }
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

/// Where the input a worker runs comes from.
#[derive(Clone, Copy)]
enum Origin {
    /// `opts.seeds[i]`.
    Seed(usize),
    /// [`Shared::imports`].
    Imported,
    /// Random or mutated.
    New,
}

/// Called with every input the campaign keeps (not the seeds), from the worker that ran it.
pub type KeepFn<'a> = dyn Fn(&[u8]) + Sync + 'a;

fn worker(
    id: usize,
    opts: &CampaignOptions,
    shared: &Shared,
    check: &CheckFn<'_>,
    keep: &KeepFn<'_>,
) {
    let mut rng = Rng::new(opts.seed.wrapping_add(id as u64));
    let mut corpus: Vec<Vec<u8>> = opts.seeds.clone();
    // What each corpus entry costs to run, deterministically: calls plus allocation attempts
    // (pages, tables, arrays). Seeds count as cheap until they have run.
    let mut cost: Vec<u64> = vec![0; corpus.len()];
    let mut seed_queue: Vec<Vec<u8>> = opts.seeds.iter().rev().cloned().collect();
    let mut imported: Vec<Vec<u8>> = Vec::new();
    // The counters are process-global: only a lone worker can tell its input's counts apart.
    let counters = opts.coverage.as_ref().filter(|_| opts.jobs <= 1);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let done = shared.counters.inputs.fetch_add(1, Ordering::Relaxed);
        if opts.runs.is_some_and(|r| done >= r) {
            shared.counters.inputs.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if seed_queue.is_empty() {
            let mut imports = shared.imports.lock().unwrap_or_else(|e| e.into_inner());
            if !imports.is_empty() {
                imported.extend(imports.drain(..).rev());
            }
        }
        let (data, origin) = if let Some(s) = seed_queue.pop() {
            (s, Origin::Seed(opts.seeds.len() - seed_queue.len() - 1))
        } else if let Some(s) = imported.pop() {
            (s, Origin::Imported)
        } else if corpus.is_empty() || rng.below(4) == 0 {
            let n = 8 + rng.below(opts.max_len.max(9) as u64 - 8) as usize;
            (rng.bytes(n), Origin::New)
        } else {
            // Tournament of two: the cheaper of two random entries is mutated, so that inputs
            // that run long (thousands of pages) do not take over the campaign's time.
            let (a, b) = (
                rng.below(corpus.len() as u64) as usize,
                rng.below(corpus.len() as u64) as usize,
            );
            let pick = if cost[b] < cost[a] { b } else { a };
            let mut d = corpus[pick].clone();
            let other = corpus[rng.below(corpus.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut d, Some(&other), opts.max_len);
            }
            (d, Origin::New)
        };
        let input = codec::decode(&data);
        if input.ops.is_empty() {
            shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(c) = counters {
            c.reset();
        }
        match check(&input, &opts.run) {
            Ok(report) => {
                shared
                    .counters
                    .ops
                    .fetch_add(report.calls as u64, Ordering::Relaxed);
                let new_edges = counters.is_some_and(|c| {
                    let mut map = shared.edges.lock().unwrap_or_else(|e| e.into_inner());
                    let map = map.get_or_insert_with(|| EdgeMap::new(c.edges()));
                    let new = map.merge_counters(c);
                    shared
                        .counters
                        .edges
                        .store(map.covered() as u64, Ordering::Relaxed);
                    new > 0
                });
                let mut global = shared.features.lock().unwrap_or_else(|e| e.into_inner());
                let before = global.len();
                global.extend(report.features.iter().copied());
                let new_behaviour = global.len() > before;
                drop(global);
                let run_cost = report.calls as u64 + report.attempts.iter().sum::<u64>();
                let adds = new_behaviour || (new_edges && opts.edge_feedback);
                match origin {
                    // Seeds are in the corpus already (and on disk).
                    Origin::Seed(i) => cost[i] = run_cost,
                    // Saved on disk by another worker: joins if it adds coverage here.
                    Origin::Imported if adds => {
                        corpus.push(data);
                        cost.push(run_cost);
                        shared.counters.corpus.fetch_add(1, Ordering::Relaxed);
                    }
                    Origin::Imported => {}
                    Origin::New if adds => {
                        keep(&data);
                        corpus.push(data);
                        cost.push(run_cost);
                        shared.counters.corpus.fetch_add(1, Ordering::Relaxed);
                        shared.counters.kept.fetch_add(1, Ordering::Relaxed);
                    }
                    Origin::New => {}
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
/// and the summary covers everything done so far. `keep` receives every input kept for adding
/// coverage.
pub fn run(
    opts: &CampaignOptions,
    check: &CheckFn<'_>,
    tick: &mut dyn FnMut(&Shared, Duration) -> bool,
    keep: &KeepFn<'_>,
) -> Summary {
    let shared = Arc::new(Shared::new());
    shared
        .counters
        .corpus
        .store(opts.seeds.len() as u64, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for id in 0..opts.jobs.max(1) {
            let shared = &shared;
            scope.spawn(move || worker(id, opts, shared, check, keep));
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
    let read = opts.coverage.is_some() && opts.jobs <= 1;
    let edge_map = shared
        .edges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .filter(|_| read);
    let edges = edge_map
        .as_ref()
        .map_or((0, 0), |m| (m.covered() as u64, m.features() as u64));
    Summary {
        inputs: shared.counters.inputs.load(Ordering::Relaxed),
        rejected: shared.counters.rejected.load(Ordering::Relaxed),
        ops: shared.counters.ops.load(Ordering::Relaxed),
        corpus: shared.counters.corpus.load(Ordering::Relaxed),
        kept: shared.counters.kept.load(Ordering::Relaxed),
        edges: read.then_some(edges.0),
        edge_features: read.then_some(edges.1),
        edge_map,
        features,
        found,
        elapsed: start.elapsed(),
    }
}

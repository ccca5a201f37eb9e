//! `vmfuzz fuzz --jobs N` with code coverage: N worker processes (`docs/design.md` §5.4).
//!
//! The coverage counters are process-global, so threads sharing them could not tell whose
//! input reached what. With coverage, each job is a process instead: this binary again, with
//! the same arguments and [`WORKER_ENV`] set to its index. A worker runs a one-job campaign
//! with seed `seed + index` from the same seeds, saves what it keeps into the shared working
//! corpus, and every few seconds runs the inputs the other workers saved there (libFuzzer's
//! `-jobs` with `-reload`, in one command). It reports to the parent on its standard output,
//! one line per message:
//!
//! - `stats <inputs> <rejected> <ops> <kept>`: its counters;
//! - `edges <i> <j> ...`: edges it covered for the first time (the parent counts the union);
//! - `behaviour <category:name[:detail]>`: a behaviour it reached for the first time;
//! - `found <inputs> <ops> <kind> <hex>`: a finding, with the input in the byte format;
//! - `done`.
//!
//! The parent draws the progress, writes `--stats`, enforces `--time` and `--runs`, and stops
//! the workers by closing their standard input (a worker also stops when its parent dies).
//! On a finding it stops them all, runs the input again itself and handles the finding as a
//! one-process campaign does (save, minimize, report). Without coverage, `--jobs N` runs N
//! threads in one process.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fuzz::{progress_line, summary_of, CorpusWriter, Env, Outcome, StatsLine};
use super::instrument::CHILD_ENV;
use super::output::{self, note, CliError};
use super::progress::Progress;
use super::signals::Signals;
use crate::behaviour::Category;
use crate::campaign::{self, CampaignOptions, Found};
use crate::codec;
use crate::exec::RunOptions;
use crate::finding::{Finding, FindingKind};
use crate::load;
use crate::ops::Input;
use crate::subjects::Subject;

/// Set on a worker process: its index (0-based).
pub(super) const WORKER_ENV: &str = "VMFUZZ_WORKER";

/// How often a worker runs the inputs other workers saved.
const IMPORT_EVERY: Duration = Duration::from_secs(5);

/// The index of this process as a worker, if it is one.
pub(super) fn worker_index() -> Option<u64> {
    std::env::var(WORKER_ENV).ok()?.parse().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The names of the files in the working corpus.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// What a worker has told its parent so far.
#[derive(Default)]
struct Sent {
    behaviours: BTreeSet<String>,
}

impl Sent {
    /// Write the messages for the current state; `false` when the parent is gone.
    fn report(
        &mut self,
        out: &mut impl Write,
        counters: [u64; 4],
        new_edges: &[u32],
        behaviours: impl Iterator<Item = String>,
    ) -> bool {
        let mut text = String::new();
        for chunk in new_edges.chunks(256) {
            text.push_str("edges");
            for e in chunk {
                text.push_str(&format!(" {e}"));
            }
            text.push('\n');
        }
        for b in behaviours {
            if self.behaviours.insert(b.clone()) {
                text.push_str(&format!("behaviour {b}\n"));
            }
        }
        let [inputs, rejected, ops, kept] = counters;
        text.push_str(&format!("stats {inputs} {rejected} {ops} {kept}\n"));
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_ok()
    }
}

/// A worker process: a one-job campaign that reports to its parent (module documentation).
pub(super) fn worker_main(
    mut opts: CampaignOptions,
    index: u64,
    subject: Subject,
    working: &Path,
    writer: CorpusWriter,
) -> Result<u8, CliError> {
    opts.seed = opts.seed.wrapping_add(index);
    opts.jobs = 1;
    // The parent stops the workers.
    opts.time = None;
    opts.runs = None;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Standard input closes when the parent wants the worker to stop, or dies.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            stop.store(true, Ordering::Relaxed);
        });
    }
    let signals = Signals::install();
    let known = Mutex::new(names(working));
    let keep = |bytes: &[u8]| {
        writer.save(bytes);
        known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(output::content_name(bytes));
    };
    let mut out = std::io::stdout().lock();
    let mut sent = Sent::default();
    let mut last_import = Instant::now();
    let mut tick = |shared: &campaign::Shared, _elapsed: Duration| {
        let c = &shared.counters;
        let new_edges = shared
            .edges
            .lock()
            .map(|mut m| m.as_mut().map(|m| m.take_new_edges()).unwrap_or_default())
            .unwrap_or_default();
        let behaviours: Vec<String> = shared
            .features
            .lock()
            .map(|f| f.iter().map(|f| f.to_string()).collect())
            .unwrap_or_default();
        let alive = sent.report(
            &mut out,
            [
                c.inputs.load(Ordering::Relaxed),
                c.rejected.load(Ordering::Relaxed),
                c.ops.load(Ordering::Relaxed),
                c.kept.load(Ordering::Relaxed),
            ],
            &new_edges,
            behaviours.into_iter(),
        );
        if last_import.elapsed() >= IMPORT_EVERY {
            last_import = Instant::now();
            let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
            let fresh: Vec<String> = names(working)
                .into_iter()
                .filter(|n| !known.contains(n))
                .collect();
            let mut imports = shared.imports.lock().unwrap_or_else(|e| e.into_inner());
            for name in fresh {
                if let Ok(bytes) = load::read_bounded(&working.join(&name)) {
                    imports.push(bytes);
                }
                known.insert(name);
            }
        }
        alive && !stop.load(Ordering::Relaxed) && signals.received().is_none()
    };
    let check = move |input: &Input, o: &RunOptions| subject.check(input, o);
    let mut summary = campaign::run(&opts, &check, &mut tick, &keep);
    let new_edges = summary
        .edge_map
        .as_mut()
        .map(|m| m.take_new_edges())
        .unwrap_or_default();
    sent.report(
        &mut out,
        [summary.inputs, summary.rejected, summary.ops, summary.kept],
        &new_edges,
        summary.features.iter().map(|f| f.to_string()),
    );
    let mut last = String::new();
    if let Some(found) = &summary.found {
        last.push_str(&format!(
            "found {} {} {} {}\n",
            found.inputs_before,
            found.ops_before,
            found.finding.kind.name(),
            hex(&codec::encode(&found.input))
        ));
    }
    last.push_str("done\n");
    let _ = out.write_all(last.as_bytes()).and_then(|()| out.flush());
    Ok(u8::from(summary.found.is_some()))
}

/// What the parent knows of its workers.
struct Board {
    /// Per worker: inputs, rejected, ops, kept.
    stats: Vec<[u64; 4]>,
    /// Edges covered by any worker.
    covered: Vec<bool>,
    edges: u64,
    behaviours: BTreeSet<String>,
    /// The first finding: worker, its inputs and ops, kind, input bytes.
    found: Option<(usize, u64, u64, String, Vec<u8>)>,
    /// Workers whose standard output has closed.
    finished: usize,
}

impl Board {
    fn totals(&self) -> [u64; 4] {
        self.stats.iter().fold([0; 4], |mut t, s| {
            for (t, s) in t.iter_mut().zip(s) {
                *t += s;
            }
            t
        })
    }

    fn read(&mut self, worker: usize, line: &str) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("stats") => {
                let v: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
                if let (Some(slot), Ok(v)) = (self.stats.get_mut(worker), <[u64; 4]>::try_from(v)) {
                    *slot = v;
                }
            }
            Some("edges") => {
                for e in words.filter_map(|w| w.parse::<usize>().ok()) {
                    if e >= self.covered.len() {
                        self.covered.resize(e + 1, false);
                    }
                    if !self.covered[e] {
                        self.covered[e] = true;
                        self.edges += 1;
                    }
                }
            }
            Some("behaviour") => {
                if let Some(b) = words.next() {
                    self.behaviours.insert(b.to_string());
                }
            }
            Some("found") if self.found.is_none() => {
                let w: Vec<&str> = words.collect();
                if let [inputs, ops, kind, bytes] = w[..] {
                    if let Some(bytes) = unhex(bytes) {
                        self.found = Some((
                            worker,
                            inputs.parse().unwrap_or(0),
                            ops.parse().unwrap_or(0),
                            kind.to_string(),
                            bytes,
                        ));
                    }
                }
            }
            _ => {}
        }
    }

    fn behaviours_line(&self) -> String {
        let pairs: Vec<(Category, &str)> = self
            .behaviours
            .iter()
            .filter_map(|b| {
                let mut parts = b.split(':');
                Some((Category::from_name(parts.next()?)?, parts.next()?))
            })
            .collect();
        summary_of(pairs.iter().copied())
    }
}

/// Run `opts.jobs` worker processes and gather what they do (module documentation).
pub(super) fn run(opts: &CampaignOptions, env: &mut Env<'_>) -> Result<Outcome, CliError> {
    let me = std::env::current_exe()
        .map_err(|e| CliError::Usage(format!("cannot find this binary to start workers: {e}")))?;
    let jobs = opts.jobs.max(1);
    let edges = opts.coverage.as_ref().map_or(0, |c| c.edges());
    let board = Arc::new(Mutex::new(Board {
        stats: vec![[0; 4]; jobs],
        covered: vec![false; edges],
        edges: 0,
        behaviours: BTreeSet::new(),
        found: None,
        finished: 0,
    }));
    let start = Instant::now();
    let mut children: Vec<(Child, Option<ChildStdin>)> = Vec::new();
    let mut readers = Vec::new();
    for i in 0..jobs {
        let spawned = Command::new(&me)
            .args(std::env::args_os().skip(1))
            .env(WORKER_ENV, i.to_string())
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                note!("vmfuzz: cannot start worker {i}: {e}");
                continue;
            }
        };
        let stdin = child.stdin.take();
        if let Some(stdout) = child.stdout.take() {
            let board = board.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    board
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .read(i, &line);
                }
                board.lock().unwrap_or_else(|e| e.into_inner()).finished += 1;
            }));
        }
        children.push((child, stdin));
    }
    if children.is_empty() {
        return Err(CliError::Usage("no worker process could be started".into()));
    }
    let mut progress = Progress::new(env.a.quiet);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let elapsed = start.elapsed();
        let (line, behaviours_line, found, finished) = {
            let b = board.lock().unwrap_or_else(|e| e.into_inner());
            let [inputs, _, ops, kept] = b.totals();
            let line = StatsLine {
                inputs,
                ops,
                corpus: opts.seeds.len() as u64 + kept,
                edges: Some(b.edges),
                behaviours: b.behaviours.len(),
            };
            (line, b.behaviours_line(), b.found.is_some(), b.finished)
        };
        if let Some(s) = env.stats.as_mut() {
            s.sample(elapsed, &line, false);
        }
        progress.update(elapsed, || {
            progress_line(elapsed, &line, u64::from(found), &behaviours_line)
        });
        let stop = found
            || finished >= children.len()
            || env.signals.received().is_some()
            || opts.time.is_some_and(|t| elapsed >= t)
            || opts.runs.is_some_and(|r| line.inputs >= r);
        if stop {
            break;
        }
    }
    progress.finish();
    // Closing their standard input stops the workers; each finishes its input and reports.
    for (_, stdin) in &mut children {
        drop(stdin.take());
    }
    for (i, (mut child, _)) in children.into_iter().enumerate() {
        match child.wait() {
            Ok(s) if matches!(s.code(), Some(0 | 1 | 130 | 143)) => {}
            Ok(s) => note!("vmfuzz: worker {i} ended abnormally ({s}); its last input is lost"),
            Err(e) => note!("vmfuzz: cannot wait for worker {i}: {e}"),
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let elapsed = start.elapsed();
    let b = board.lock().unwrap_or_else(|e| e.into_inner());
    let [inputs, rejected, ops, kept] = b.totals();
    let found = b
        .found
        .as_ref()
        .map(|(worker, _, ops_before, kind, bytes)| {
            let input = codec::decode(bytes);
            let run = RunOptions {
                full_checks: crate::exec::FullChecks::FUZZING,
                ..opts.run.clone()
            };
            let finding = match env.subject.check(&input, &run) {
                Err(f) => *f,
                Ok(_) => Finding::new(
                    FindingKind::from_name(kind).unwrap_or(FindingKind::Divergence),
                    None,
                    "",
                    format!(
                        "worker {worker} reported a {kind} finding on this input; it did not \
                     reproduce in the parent process"
                    ),
                    "",
                    "",
                ),
            };
            Box::new(Found {
                finding,
                input,
                inputs_before: inputs,
                ops_before: *ops_before,
            })
        });
    Ok(Outcome {
        inputs,
        rejected,
        ops,
        corpus: opts.seeds.len() as u64 + kept,
        kept,
        edges: Some(b.edges),
        behaviours: b.behaviours.len(),
        behaviours_line: b.behaviours_line(),
        found,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").unwrap(), bytes);
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }

    #[test]
    fn the_board_reads_worker_lines() {
        let mut b = Board {
            stats: vec![[0; 4]; 2],
            covered: vec![false; 4],
            edges: 0,
            behaviours: BTreeSet::new(),
            found: None,
            finished: 0,
        };
        let mut sent = Sent::default();
        let mut out = Vec::new();
        assert!(sent.report(
            &mut out,
            [5, 1, 50, 2],
            &[1, 3],
            [
                "rule:R3:no_fit_after_purge".to_string(),
                "op:vmalloc".into()
            ]
            .into_iter(),
        ));
        // A behaviour is sent once.
        assert!(sent.report(
            &mut out,
            [6, 1, 60, 2],
            &[],
            ["op:vmalloc".into()].into_iter()
        ));
        for line in String::from_utf8(out).unwrap().lines() {
            b.read(0, line);
        }
        b.read(1, "edges 3 7");
        b.read(1, "stats 1 0 10 1");
        b.read(1, "garbage that is ignored");
        b.read(1, "found 9 90 leak 0a0b");
        b.read(0, "found 1 1 overlap 00");
        assert_eq!(b.totals(), [7, 1, 70, 3]);
        assert_eq!(b.edges, 3);
        assert_eq!(b.behaviours.len(), 2);
        assert!(
            b.behaviours_line().contains("rules 1 [R3]"),
            "{}",
            b.behaviours_line()
        );
        let (w, inputs, ops, kind, bytes) = b.found.clone().unwrap();
        assert_eq!(
            (w, inputs, ops, kind.as_str(), bytes),
            (1, 9, 90, "leak", vec![10, 11])
        );
    }
}

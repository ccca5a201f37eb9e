//! `vmfuzz fuzz`: the campaign workflow. Check every output path, get the coverage counters
//! (building and running the instrumented copy if need be, design §5.4), load the seeds and
//! the working corpus, run the campaign with progress (saving every input that adds coverage
//! into the working corpus), then on a finding: save it at once (unminimized, with its
//! report), minimize it within a time bound, save the minimized trace beside it, report.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::coverage_arg::{self, CoverageArg, CoverageMode};
use super::instrument::CoverageSetup;
use super::output::{self, CliError};
use super::output::{note, outln};
use super::progress::Progress;
use super::signals::Signals;
use super::workers;
use super::{recorded_run, reproduce_command, run_opts, subject_flag, PlantedArg, SubjectArg};
use crate::behaviour::{Category, Feature};
use crate::campaign::{self, CampaignOptions, Found};
use crate::codec;
use crate::exec::{FullChecks, RunOptions};
use crate::load::{self, ReadAs};
use crate::minimize::{minimize_with, Limits, Stopped};
use crate::ops::Input;
use crate::subjects::{Registry, Subject};
use crate::text::{self, Expect, Trace};

/// Longest generated input accepted by `--max-len`, in bytes. 200 ops (the most an input
/// holds) never take more than a few KiB; anything longer is ignored by the decoder.
pub const MAX_LEN_LIMIT: usize = 1 << 20;

#[derive(clap::Args, Debug)]
pub(super) struct FuzzArgs {
    /// Seed of the campaign; the same seed with `--jobs 1 --runs N` repeats it exactly (from
    /// the same starting corpora: a fresh `--corpus-out` repeats a run from scratch).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many seconds (0: no time limit; stop with Ctrl-C).
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Stop after this many inputs (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    runs: Option<u64>,
    /// Jobs (1 to 256): with coverage, worker processes that share the working corpus (the
    /// coverage counters are per process); with `--coverage off`, threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Longest generated input in bytes (16 to 1048576).
    #[arg(long, default_value_t = 1024, value_parser = parse_max_len)]
    max_len: usize,
    /// Seed directories or files (default: the repository's corpus/). Traces, and raw fuzzer
    /// inputs in fuzzer folders.
    #[arg(long = "corpus")]
    corpus: Vec<PathBuf>,
    /// The working corpus (default: fuzz/corpus/vmfuzz/, git-ignored): every input that adds
    /// coverage is saved there as a raw byte file named by its content hash, and the next
    /// campaign starts from it as well as from the seeds. Created if missing; checked before
    /// the campaign starts. `vmfuzz cmin` shrinks it.
    #[arg(long, value_name = "DIR")]
    corpus_out: Option<PathBuf>,
    /// Start from random inputs only, without the seeds and without the working corpus (new
    /// inputs are still saved into it).
    #[arg(long)]
    no_seeds: bool,
    /// Where findings are written (created if missing; checked before the campaign starts).
    /// Files are never overwritten: each finding gets a new name.
    #[arg(long, default_value = "vmfuzz-findings")]
    out: PathBuf,
    /// Seconds the minimization of a finding may take (0 to 3600); when it runs out, the
    /// smallest trace found so far is kept.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    minimize_time: u64,
    #[command(flatten)]
    coverage: CoverageArg,
    /// Write a CSV report to FILE (replaced if it exists): a header line, then a line
    /// (elapsed_s,inputs,ops,corpus,edges,behaviours) every `--stats-interval` seconds and at
    /// the end. A report of the run: the results never depend on it.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Seconds between two lines of `--stats` (1 to 3600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    stats_interval: u64,
    #[command(flatten)]
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// No progress display.
    #[arg(long, short)]
    pub(super) quiet: bool,
}

fn parse_max_len(s: &str) -> Result<usize, String> {
    let v: usize = s
        .parse()
        .map_err(|e| format!("`{s}` is not a byte count: {e}"))?;
    if (16..=MAX_LEN_LIMIT).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 16..={MAX_LEN_LIMIT}"))
    }
}

/// A one-line summary of the behaviours reached.
pub(super) fn feature_summary(features: &std::collections::BTreeSet<Feature>) -> String {
    summary_of(features.iter().map(|f| (f.category, f.name)))
}

/// [`feature_summary`] of behaviours given as `(category, name)` pairs, each distinct
/// behaviour once (a worker process reports them as text).
pub(super) fn summary_of<'a>(
    features: impl Iterator<Item = (Category, &'a str)> + Clone,
) -> String {
    let count = |c: Category| features.clone().filter(|f| f.0 == c).count();
    let mut rules: Vec<&str> = features
        .clone()
        .filter(|f| f.0 == Category::Rule)
        .map(|f| f.1)
        .collect();
    // R1, R2, ..., R13 in rule order, each once.
    rules.sort_by_key(|r| r.trim_start_matches('R').parse::<u32>().unwrap_or(u32::MAX));
    rules.dedup();
    format!(
        "op kinds {}/{} | outcomes {} | events {} | rules {} [{}] ({} rule cases) | shapes {}",
        count(Category::Op),
        crate::ops::OpKind::COUNT,
        count(Category::Outcome),
        count(Category::Event),
        rules.len(),
        rules.join(" "),
        count(Category::Rule),
        count(Category::Shape),
    )
}

/// The seed inputs and where they came from.
struct Seeds {
    inputs: Vec<Vec<u8>>,
    /// From the seed folders (`corpus/` by default).
    from_seeds: usize,
    /// From the working corpus.
    from_working: usize,
}

/// The seeds: every clean trace and raw fuzzer input under `--corpus` (or the committed
/// corpus), then every input of the working corpus, as its bytes.
fn load_seeds(a: &FuzzArgs, working: &Path, notes: bool) -> Seeds {
    let mut seeds = Seeds {
        inputs: Vec::new(),
        from_seeds: 0,
        from_working: 0,
    };
    if a.no_seeds {
        return seeds;
    }
    let dirs = if a.corpus.is_empty() {
        vec![load::default_corpus_dir()]
    } else {
        a.corpus.clone()
    };
    for entry in super::entries(&dirs) {
        match entry.and_then(|f| load::load(&f, ReadAs::Detect)) {
            // Seeds that expect a planted fault or a BUG do not start a clean campaign.
            Ok(l) if l.raw || l.trace.expect == Expect::Clean => {
                seeds.inputs.push(codec::encode(&l.trace.input))
            }
            Ok(_) => {}
            Err(e) if notes => note!("vmfuzz: skipping seed {e}"),
            Err(_) => {}
        }
    }
    seeds.from_seeds = seeds.inputs.len();
    seeds.from_working = load_working(working, &mut seeds.inputs, notes);
    seeds
}

/// Append every input of the working corpus `dir` (raw bytes, whatever the file looks like)
/// that decodes to at least one op; returns how many.
pub(super) fn load_working(dir: &Path, into: &mut Vec<Vec<u8>>, notes: bool) -> usize {
    let before = into.len();
    for entry in super::entries(&[dir.to_path_buf()]) {
        match entry.and_then(|f| load::read_bounded(&f)) {
            Ok(bytes) if !codec::decode(&bytes).ops.is_empty() => into.push(bytes),
            Ok(_) => {}
            Err(e) if notes => note!("vmfuzz: skipping working-corpus input {e}"),
            Err(_) => {}
        }
    }
    into.len() - before
}

/// Saves kept inputs into the working corpus; reports the first failure and counts the rest.
pub(super) struct CorpusWriter {
    dir: PathBuf,
    /// Inputs that could not be saved.
    pub failed: std::sync::atomic::AtomicU64,
}

impl CorpusWriter {
    /// Save `bytes` under its content name (nothing happens if the file exists).
    pub fn save(&self, bytes: &[u8]) {
        let path = self.dir.join(output::content_name(bytes));
        match output::save_new_unsynced(&path, bytes) {
            Ok(()) => {}
            // The same content is there already (another campaign saved it).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                use std::sync::atomic::Ordering::Relaxed;
                if self.failed.fetch_add(1, Relaxed) == 0 {
                    note!(
                        "vmfuzz: cannot save a new input into the working corpus {}: {e} \
                         (the campaign goes on; the count of lost inputs is in the summary)",
                        self.dir.display()
                    );
                }
            }
        }
    }
}

/// The `--stats` file: a header, then one CSV line per interval and one at the end.
pub(super) struct Stats {
    file: Option<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    every: Duration,
    next: Duration,
}

impl Stats {
    fn open(path: Option<&Path>, every: Duration) -> Result<Option<Stats>, CliError> {
        let Some(path) = path else { return Ok(None) };
        let file = std::fs::File::create(path).map_err(|e| {
            CliError::Usage(format!(
                "the stats file (--stats) {} cannot be written: {e}",
                path.display()
            ))
        })?;
        let mut s = Stats {
            file: Some(std::io::BufWriter::new(file)),
            path: path.to_path_buf(),
            every,
            next: Duration::ZERO,
        };
        s.write(format_args!("elapsed_s,inputs,ops,corpus,edges,behaviours"));
        Ok(Some(s))
    }

    fn write(&mut self, line: std::fmt::Arguments<'_>) {
        if let Some(f) = &mut self.file {
            if let Err(e) = writeln!(f, "{line}").and_then(|()| f.flush()) {
                note!(
                    "vmfuzz: cannot write the stats file {}: {e}; no more lines go there",
                    self.path.display()
                );
                self.file = None;
            }
        }
    }

    /// A line for the counters at `elapsed`, when an interval has passed (or `force`).
    pub fn sample(&mut self, elapsed: Duration, c: &StatsLine, force: bool) {
        if !force && elapsed < self.next {
            return;
        }
        while self.next <= elapsed {
            self.next += self.every;
        }
        self.write(format_args!(
            "{:.1},{},{},{},{},{}",
            elapsed.as_secs_f64(),
            c.inputs,
            c.ops,
            c.corpus,
            c.edges.map_or(String::new(), |e| e.to_string()),
            c.behaviours
        ));
    }
}

/// One sample of the counters.
pub(super) struct StatsLine {
    pub inputs: u64,
    pub ops: u64,
    pub corpus: u64,
    pub edges: Option<u64>,
    pub behaviours: usize,
}

/// How the campaign is fed, for the start line.
fn coverage_phrase(mode: CoverageMode, counters: Option<&crate::coverage::Counters>) -> String {
    match (mode, counters) {
        (CoverageMode::On, Some(c)) => {
            format!("coverage on ({} edges of engine and model)", c.edges())
        }
        (CoverageMode::On, None) => "coverage unavailable (behaviours only)".into(),
        (CoverageMode::Off, Some(c)) => format!(
            "coverage off (behaviours only; the {} edges are counted, not followed)",
            c.edges()
        ),
        (CoverageMode::Off, None) => "coverage off (behaviours only)".into(),
    }
}

/// What a campaign did, in this process or over worker processes.
pub(super) struct Outcome {
    /// Inputs executed.
    pub inputs: u64,
    /// Inputs rejected (decoded to nothing).
    pub rejected: u64,
    /// Calls executed.
    pub ops: u64,
    /// Corpus size at the end (seeds included).
    pub corpus: u64,
    /// Inputs kept for adding coverage.
    pub kept: u64,
    /// Edges covered, when the counters were read.
    pub edges: Option<u64>,
    /// Behaviours reached.
    pub behaviours: usize,
    /// [`feature_summary`] of them.
    pub behaviours_line: String,
    /// The finding, if any.
    pub found: Option<Box<Found>>,
    /// Wall time.
    pub elapsed: Duration,
}

/// The live line: counters, then the behaviours reached.
pub(super) fn progress_line(
    elapsed: Duration,
    s: &StatsLine,
    findings: u64,
    behaviours_line: &str,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "inputs {} ({:.0}/s) ops {} ({:.0}/s) corpus {} edges {} findings {findings}\n  \
         {behaviours_line}",
        s.inputs,
        s.inputs as f64 / secs,
        s.ops,
        s.ops as f64 / secs,
        s.corpus,
        s.edges.map_or("n/a".to_string(), |e| e.to_string()),
    )
}

/// Everything a campaign run needs beyond its options.
pub(super) struct Env<'a> {
    pub a: &'a FuzzArgs,
    pub subject: Subject,
    pub writer: CorpusWriter,
    pub stats: Option<Stats>,
    pub signals: Signals,
}

/// Run the campaign in this process (threads).
fn in_process(opts: &CampaignOptions, env: &mut Env<'_>) -> Outcome {
    let edges_read = opts.coverage.is_some() && opts.jobs <= 1;
    let mut progress = Progress::new(env.a.quiet);
    let subject = env.subject;
    let (stats, signals, writer) = (&mut env.stats, &env.signals, &env.writer);
    let mut tick = |shared: &campaign::Shared, elapsed: Duration| {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &shared.counters;
        let line = StatsLine {
            inputs: c.inputs.load(Relaxed),
            ops: c.ops.load(Relaxed),
            corpus: c.corpus.load(Relaxed),
            edges: edges_read.then(|| c.edges.load(Relaxed)),
            behaviours: shared.features.lock().map(|f| f.len()).unwrap_or(0),
        };
        if let Some(s) = stats.as_mut() {
            s.sample(elapsed, &line, false);
        }
        progress.update(elapsed, || {
            let features = shared
                .features
                .lock()
                .map(|f| feature_summary(&f))
                .unwrap_or_default();
            progress_line(elapsed, &line, c.findings.load(Relaxed), &features)
        });
        signals.received().is_none()
    };
    let check = move |input: &Input, o: &RunOptions| subject.check(input, o);
    let keep = |bytes: &[u8]| writer.save(bytes);
    let summary = campaign::run(opts, &check, &mut tick, &keep);
    progress.finish();
    Outcome {
        inputs: summary.inputs,
        rejected: summary.rejected,
        ops: summary.ops,
        corpus: summary.corpus,
        kept: summary.kept,
        edges: summary.edges,
        behaviours: summary.features.len(),
        behaviours_line: feature_summary(&summary.features),
        found: summary.found,
        elapsed: summary.elapsed,
    }
}

pub(super) fn run(a: FuzzArgs, registry: &Registry, setup: &CoverageSetup) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    output::prepare_dir(&a.out, "the findings folder (--out)")?;
    let working = a
        .corpus_out
        .clone()
        .unwrap_or_else(load::default_working_corpus_dir);
    output::prepare_dir(&working, "the working corpus (--corpus-out)")?;
    if let Some(s) = &a.stats {
        output::prepare_file(s, "the folder of the stats file (--stats)")?;
    }
    let mode = a.coverage.mode();
    let counters = match coverage_arg::acquire(mode, setup, a.quiet)? {
        coverage_arg::Acquired::Counters(c) => c,
        coverage_arg::Acquired::Exited(code) => return Ok(code),
    };
    let worker = workers::worker_index();
    let seeds = load_seeds(&a, &working, worker.is_none());
    let opts = CampaignOptions {
        seed: a.seed,
        time: (a.time > 0).then(|| Duration::from_secs(a.time)),
        runs: a.runs,
        jobs: usize::from(a.jobs),
        max_len: a.max_len,
        seeds: seeds.inputs,
        run: RunOptions {
            full_checks: FullChecks::FUZZING,
            ..run_opts(planted.clone())
        },
        coverage: counters.clone(),
        edge_feedback: mode == CoverageMode::On,
    };
    let writer = CorpusWriter {
        dir: working.clone(),
        failed: Default::default(),
    };
    if let Some(index) = worker {
        return workers::worker_main(opts, index, subject, &working, writer);
    }
    // The counters are process-global: with coverage, N jobs are N processes.
    let processes = counters.is_some() && opts.jobs > 1;
    let seed_dirs = if a.corpus.is_empty() {
        "corpus/".to_string()
    } else {
        a.corpus
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    note!(
        "vmfuzz: campaign on {} with seed {}, {} job(s){}, {}; seed inputs: {} from {seed_dirs}, \
         {} from the working corpus {}; {}{}; new inputs go to {}, findings to {}",
        subject.name,
        opts.seed,
        opts.jobs,
        if processes {
            " (worker processes: the coverage counters are per process)"
        } else {
            ""
        },
        coverage_phrase(mode, counters.as_ref()),
        seeds.from_seeds,
        seeds.from_working,
        working.display(),
        match (opts.time, opts.runs) {
            (Some(t), Some(r)) => format!("up to {}s or {r} inputs", t.as_secs()),
            (Some(t), None) => format!("{}s", t.as_secs()),
            (None, Some(r)) => format!("{r} inputs"),
            (None, None) => "until interrupted".into(),
        },
        planted
            .as_ref()
            .map(|p| format!(", planted fault {p}"))
            .unwrap_or_default(),
        working.display(),
        a.out.display()
    );
    let stats = Stats::open(a.stats.as_deref(), Duration::from_secs(a.stats_interval))?;
    let mut env = Env {
        a: &a,
        subject,
        writer,
        stats,
        signals: Signals::install(),
    };
    let outcome = if processes {
        workers::run(&opts, &mut env)?
    } else {
        in_process(&opts, &mut env)
    };
    let Env {
        writer,
        mut stats,
        signals,
        ..
    } = env;
    if let Some(s) = &mut stats {
        let line = StatsLine {
            inputs: outcome.inputs,
            ops: outcome.ops,
            corpus: outcome.corpus,
            edges: outcome.edges,
            behaviours: outcome.behaviours,
        };
        s.sample(outcome.elapsed, &line, true);
    }
    let secs = outcome.elapsed.as_secs_f64().max(1e-3);
    let interrupted = signals.received();
    if let Some(sig) = interrupted {
        note!(
            "vmfuzz: interrupted by {} after {:.1}s",
            if sig == super::signals::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            },
            secs
        );
    }
    outln!(
        "vmfuzz: {} inputs ({:.0}/s), {} ops ({:.0}/s), {:.1}% rejected, corpus {} ({} new), \
         edges {}, findings {}",
        outcome.inputs,
        outcome.inputs as f64 / secs,
        outcome.ops,
        outcome.ops as f64 / secs,
        100.0 * outcome.rejected as f64 / outcome.inputs.max(1) as f64,
        outcome.corpus,
        outcome.kept,
        match (outcome.edges, &counters) {
            (Some(e), Some(c)) => format!("{e} of {}", c.edges()),
            _ => "n/a".to_string(),
        },
        usize::from(outcome.found.is_some())
    );
    let lost = writer.failed.load(std::sync::atomic::Ordering::Relaxed);
    if lost > 0 {
        note!(
            "vmfuzz: {lost} new input(s) could not be saved into {}",
            working.display()
        );
    }
    outln!("vmfuzz: behaviours reached: {}", outcome.behaviours_line);
    let Some(found) = outcome.found else {
        if let Some(sig) = interrupted {
            return Err(CliError::Interrupted(sig));
        }
        outln!("vmfuzz: no findings");
        return Ok(0);
    };
    outln!(
        "vmfuzz: FINDING after {} inputs and {} ops ({:.1}s)",
        found.inputs_before,
        found.ops_before,
        secs
    );
    let first = save_unminimized(&a, planted.as_deref(), &subject, &found)?;
    outln!(
        "vmfuzz: the finding is saved (unminimized, with its report) in {}",
        first.display()
    );
    if let Some(sig) = interrupted {
        return Err(CliError::Interrupted(sig));
    }
    minimize_and_report(&a, planted, &subject, &found, &first, &signals)
}

/// The campaign command line that found something, for the trace's header.
fn found_by(a: &FuzzArgs, planted: Option<&str>, subject: &Subject) -> String {
    let mut cmd = format!(
        "{} fuzz{} --seed {}",
        crate::planted::cargo_prefix(planted),
        subject_flag(subject),
        a.seed
    );
    if let Some(p) = planted {
        cmd.push_str(&format!(" --planted {p}"));
    }
    cmd
}

/// Write the finding as first found, before anything else can go wrong.
fn save_unminimized(
    a: &FuzzArgs,
    planted: Option<&str>,
    subject: &Subject,
    found: &Found,
) -> Result<PathBuf, CliError> {
    let kind = found.finding.kind;
    let mut comments = vec![
        format!(
            "found by: {} (after {} inputs); not minimized",
            found_by(a, planted, subject),
            found.inputs_before
        ),
        "the report at the time of the finding:".into(),
    ];
    let report = found.finding.to_string();
    comments.extend(report.trim_end().lines().map(|l| format!("  {l}")));
    let trace = Trace {
        input: found.input.clone(),
        expect: Expect::Finding {
            kind,
            planted: planted.map(str::to_string),
        },
        comments,
    };
    output::save_new(&a.out, kind.name(), "trace", text::print(&trace).as_bytes()).map_err(|e| {
        CliError::Usage(format!(
            "cannot write the finding into {}: {e}",
            a.out.display()
        ))
    })
}

fn minimize_and_report(
    a: &FuzzArgs,
    planted: Option<String>,
    subject: &Subject,
    found: &Found,
    first: &Path,
    signals: &Signals,
) -> Result<u8, CliError> {
    let kind = found.finding.kind;
    let ro = run_opts(planted.clone());
    // Shrink with the fuzzing checks (fast); the report below reruns with every check after
    // every op, so it names the first op that goes wrong.
    let fast = RunOptions {
        full_checks: FullChecks::FUZZING,
        ..ro.clone()
    };
    outln!(
        "vmfuzz: minimizing (at most {}s; Ctrl-C keeps the smallest trace so far)...",
        a.minimize_time
    );
    let mut progress = Progress::new(a.quiet);
    let (min, stats) = minimize_with(
        &found.input,
        |i| matches!(subject.check(i, &fast), Err(f) if f.kind == kind),
        Limits {
            budget: 4000,
            time: Some(Duration::from_secs(a.minimize_time)),
            stop: &|| signals.received().is_some(),
            progress: &mut |p| {
                progress.update(p.elapsed, || {
                    format!(
                        "minimizing: {} runs, {} ops (from {})",
                        p.runs,
                        p.ops,
                        found.input.ops.len()
                    )
                })
            },
        },
    );
    progress.finish();
    let how = match stats.stopped {
        Stopped::Done => "",
        Stopped::Budget => " (run budget spent)",
        Stopped::Time => " (time bound reached; smallest so far kept)",
        Stopped::Interrupted => " (interrupted; smallest so far kept)",
    };
    outln!(
        "vmfuzz: minimized from {} to {} ops ({} runs){how}",
        stats.ops_before,
        stats.ops_after,
        stats.tries
    );
    let (notes, finding) = recorded_run(subject, &min, &ro);
    let finding = finding.map_or_else(|| found.finding.clone(), |f| *f);
    let stem = first
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(kind.name())
        .to_string();
    let trace = Trace {
        input: min,
        expect: Expect::Finding {
            kind,
            planted: planted.clone(),
        },
        comments: vec![
            format!(
                "found by: {} (after {} inputs)",
                found_by(a, planted.as_deref(), subject),
                found.inputs_before
            ),
            format!(
                "minimized from {} to {} ops; unminimized: {}",
                stats.ops_before,
                stats.ops_after,
                first.display()
            ),
            format!("finding: {}", finding.summary.replace('\n', " ")),
        ],
    };
    let bytes = text::print_annotated(&trace, &notes);
    let exact = a.out.join(format!("{stem}.min.trace"));
    let saved = match output::save_at(&exact, bytes.as_bytes(), false) {
        Ok(()) => Ok(exact),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            output::save_new(&a.out, &format!("{stem}.min"), "trace", bytes.as_bytes())
        }
        Err(e) => Err(e),
    };
    let path = saved.map_err(|e| {
        CliError::Usage(format!(
            "cannot write the minimized finding into {}: {e} (the unminimized one is in {})",
            a.out.display(),
            first.display()
        ))
    })?;
    let mut finding = finding;
    finding.reproduce = Some(reproduce_command(&path, planted.as_deref(), subject));
    outln!("{finding}");
    outln!(
        "vmfuzz: written to {} (unminimized: {})",
        path.display(),
        first.display()
    );
    if let (Stopped::Interrupted, Some(sig)) = (stats.stopped, signals.received()) {
        return Err(CliError::Interrupted(sig));
    }
    Ok(1)
}

//! `vmfuzz fuzz`: the campaign workflow. Check every output path, load the seeds, run the
//! campaign with progress, then on a finding: save it at once (unminimized, with its report),
//! minimize it within a time bound, save the minimized trace beside it, report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::output::{self, CliError};
use super::output::{note, outln};
use super::progress::Progress;
use super::signals::Signals;
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
    /// Seed of the campaign; the same seed with `--jobs 1 --runs N` repeats it exactly.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many seconds (0: no time limit; stop with Ctrl-C).
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Stop after this many inputs (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    runs: Option<u64>,
    /// Worker threads (1 to 256).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Longest generated input in bytes (16 to 1048576).
    #[arg(long, default_value_t = 1024, value_parser = parse_max_len)]
    max_len: usize,
    /// Seed directories or files (default: the repository's corpus/). Traces, and raw fuzzer
    /// inputs in fuzzer folders.
    #[arg(long = "corpus")]
    corpus: Vec<PathBuf>,
    /// Start from random inputs only, without the corpus.
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
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
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
    let count = |c: Category| features.iter().filter(|f| f.category == c).count();
    let mut rules: Vec<&str> = features
        .iter()
        .filter(|f| f.category == Category::Rule)
        .map(|f| f.name)
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

/// The seeds: every clean trace and raw fuzzer input under `dirs` (or the committed corpus).
fn load_seeds(a: &FuzzArgs) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
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
                seeds.push(codec::encode(&l.trace.input))
            }
            Ok(_) => {}
            Err(e) => note!("vmfuzz: skipping seed {e}"),
        }
    }
    seeds
}

pub(super) fn run(a: FuzzArgs, registry: &Registry) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    output::prepare_dir(&a.out, "the findings folder (--out)")?;
    let seeds = load_seeds(&a);
    let opts = CampaignOptions {
        seed: a.seed,
        time: (a.time > 0).then(|| Duration::from_secs(a.time)),
        runs: a.runs,
        jobs: usize::from(a.jobs),
        max_len: a.max_len,
        seeds,
        run: RunOptions {
            full_checks: FullChecks::FUZZING,
            ..run_opts(planted.clone())
        },
    };
    note!(
        "vmfuzz: campaign on {} with seed {}, {} job(s), {} seed input(s), {}{}; findings go \
         to {}",
        subject.name,
        opts.seed,
        opts.jobs,
        opts.seeds.len(),
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
        a.out.display()
    );
    let signals = Signals::install();
    let mut progress = Progress::new(a.quiet);
    let mut tick = |shared: &campaign::Shared, elapsed: Duration| {
        use std::sync::atomic::Ordering::Relaxed;
        progress.update(elapsed, || {
            let c = &shared.counters;
            let secs = elapsed.as_secs_f64().max(1e-3);
            let inputs = c.inputs.load(Relaxed);
            let ops = c.ops.load(Relaxed);
            let features = shared
                .features
                .lock()
                .map(|f| feature_summary(&f))
                .unwrap_or_default();
            format!(
                "inputs {inputs} ({:.0}/s) ops {ops} ({:.0}/s) corpus {} findings {}\n  {features}",
                inputs as f64 / secs,
                ops as f64 / secs,
                c.corpus.load(Relaxed),
                c.findings.load(Relaxed),
            )
        });
        signals.received().is_none()
    };
    let check = move |input: &Input, o: &RunOptions| subject.check(input, o);
    let summary = campaign::run(&opts, &check, &mut tick);
    progress.finish();
    let secs = summary.elapsed.as_secs_f64().max(1e-3);
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
        "vmfuzz: {} inputs ({:.0}/s), {} ops ({:.0}/s), {:.1}% rejected, corpus {}, findings {}",
        summary.inputs,
        summary.inputs as f64 / secs,
        summary.ops,
        summary.ops as f64 / secs,
        100.0 * summary.rejected as f64 / summary.inputs.max(1) as f64,
        summary.corpus,
        usize::from(summary.found.is_some())
    );
    outln!(
        "vmfuzz: behaviours reached: {}",
        feature_summary(&summary.features)
    );
    let Some(found) = summary.found else {
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

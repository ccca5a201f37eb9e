//! The `vmfuzz` command line: `fuzz`, `replay`, `minimize`, `explain`, `convert`.
//! Exit status: 0 clean, 1 finding, 2 usage or input error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::behaviour::{Category, Feature};
use crate::campaign::{self, CampaignOptions};
use crate::codec;
use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::load;
use crate::minimize::minimize;
use crate::ops::Input;
use crate::text::{self, Expect, Trace};

const ABOUT: &str = "Differential fuzzing of the Linux 4.x vmalloc allocator.

vmfuzz runs sequences of vmalloc/vfree/vmap/get_vm_area/... calls on two independent
implementations of the Linux 4.19 semantics -- a Rust engine that writes real x86-64 page
tables into simulated physical memory (the system under test), and an obviously-correct
reference model -- and compares them after every call: the returned addresses and PFNs, the
kernel warnings, every page-table entry (walked from the root frame, and again through the
third-party x86_64 crate), page ownership (leaks), lazy-free state and data read back.

A finding is printed with the op where the two first disagree, a diff, and a command that
reproduces it. Inputs are readable text traces (see corpus/) or raw fuzzer byte files.";

/// Command-line interface.
#[derive(Parser, Debug)]
#[command(name = "vmfuzz", version, about = ABOUT, long_about = ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a fuzz campaign (the main job). Starts from the committed corpus, keeps inputs that
    /// reach new behaviour and mutates them. On a finding: minimizes it, writes it as a readable
    /// trace, prints the report and the command to reproduce it, and exits 1.
    Fuzz(FuzzArgs),
    /// Replay traces or raw fuzzer inputs (files or directories) and check each one's
    /// `expect:` line. Prints a pass/fail line per file and a summary.
    Replay(ReplayArgs),
    /// Shrink a failing input while the same finding kind persists (drop ops, shrink sizes and
    /// alignments, simplify the machine, drop fault injections).
    Minimize(MinimizeArgs),
    /// Show a run step by step (op, engine result, model result, warnings); at the first
    /// divergence, the /proc/vmallocinfo listing and page-table dump of both sides, diffed.
    Explain(ExplainArgs),
    /// Convert between raw fuzzer bytes and the readable trace format (either direction;
    /// the input format is detected).
    Convert(ConvertArgs),
}

#[derive(clap::Args, Debug)]
struct FuzzArgs {
    /// Seed of the campaign; the same seed with `--jobs 1 --runs N` repeats it exactly.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many seconds (0: no time limit).
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Stop after this many inputs.
    #[arg(long)]
    runs: Option<u64>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Longest generated input in bytes.
    #[arg(long, default_value_t = 1024)]
    max_len: usize,
    /// Seed directories or files (default: the repository's corpus/).
    #[arg(long = "corpus")]
    corpus: Vec<PathBuf>,
    /// Start from random inputs only, without the corpus.
    #[arg(long)]
    no_seeds: bool,
    /// Where findings are written.
    #[arg(long, default_value = "vmfuzz-findings")]
    out: PathBuf,
    /// Run against an engine with this deliberate fault switched on (needs the
    /// `planted-bugs` feature; see `--planted list`).
    #[arg(long)]
    planted: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ReplayArgs {
    /// Files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print each finding in full.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(clap::Args, Debug)]
struct MinimizeArgs {
    /// The failing input.
    path: PathBuf,
    /// Where to write the minimized trace (default: `<path>.min.trace`).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// At most this many test runs.
    #[arg(long, default_value_t = 4000)]
    budget: usize,
    /// Planted fault to run under (overrides the trace's `expect: ... under <fault>`).
    #[arg(long)]
    planted: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ExplainArgs {
    /// The input.
    path: PathBuf,
    /// Planted fault to run under (overrides the trace's `expect: ... under <fault>`).
    #[arg(long)]
    planted: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Bytes,
}

#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// The input (text trace or raw bytes).
    path: PathBuf,
    /// Output file (default: standard output; bytes need a file).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Output format (default: the other one).
    #[arg(long)]
    to: Option<Format>,
}

/// Parse the arguments and run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Fuzz(a) => fuzz(a),
        Command::Replay(a) => replay(a),
        Command::Minimize(a) => minimize_cmd(a),
        Command::Explain(a) => explain(a),
        Command::Convert(a) => convert(a),
    };
    ExitCode::from(code)
}

fn usage_error(msg: impl std::fmt::Display) -> u8 {
    eprintln!("vmfuzz: {msg}");
    2
}

/// The planted fault a trace expects, if any.
fn planted_of(expect: &Expect) -> Option<String> {
    match expect {
        Expect::Finding { planted, .. } => planted.clone(),
        _ => None,
    }
}

fn run_opts(planted: Option<String>) -> RunOptions {
    RunOptions {
        planted,
        ..RunOptions::default()
    }
}

/// The command that reproduces a saved input.
pub fn reproduce_command(path: &Path) -> String {
    format!("cargo vmfuzz replay {}", path.display())
}

fn feature_summary(features: &std::collections::BTreeSet<Feature>) -> String {
    let count = |c: Category| features.iter().filter(|f| f.category == c).count();
    let ops = count(Category::Op);
    let mut rules: Vec<&str> = features
        .iter()
        .filter(|f| f.category == Category::Rule)
        .map(|f| f.name)
        .collect();
    rules.dedup();
    // R1, R2, ..., R13 in rule order.
    rules.sort_by_key(|r| r.trim_start_matches('R').parse::<u32>().unwrap_or(u32::MAX));
    format!(
        "op kinds {ops}/{} | outcomes {} | events {} | rules {} [{}] | shapes {}",
        codec::KINDS.len(),
        count(Category::Outcome),
        count(Category::Event),
        count(Category::Rule),
        rules.join(" "),
        count(Category::Shape),
    )
}

fn fuzz(a: FuzzArgs) -> u8 {
    if let Some(p) = &a.planted {
        if let Err(e) = crate::check_planted_name(p) {
            return usage_error(e);
        }
    }
    let mut seeds = Vec::new();
    if !a.no_seeds {
        let dirs = if a.corpus.is_empty() {
            vec![load::default_corpus_dir()]
        } else {
            a.corpus.clone()
        };
        let files = match load::collect(&dirs) {
            Ok(f) => f,
            Err(e) => return usage_error(e),
        };
        for f in files {
            match load::load(&f) {
                // Seeds that expect a planted fault or a BUG do not start a clean campaign.
                Ok(t) if t.expect == Expect::Clean => seeds.push(codec::encode(&t.input)),
                Ok(_) => {}
                Err(e) => eprintln!("vmfuzz: skipping seed {e}"),
            }
        }
    }
    let opts = CampaignOptions {
        seed: a.seed,
        time: (a.time > 0).then(|| Duration::from_secs(a.time)),
        runs: a.runs,
        jobs: a.jobs.max(1),
        max_len: a.max_len.max(16),
        seeds,
        run: RunOptions {
            full_checks: crate::exec::FullChecks::FUZZING,
            ..run_opts(a.planted.clone())
        },
    };
    eprintln!(
        "vmfuzz: campaign seed {} with {} job(s), {} seed input(s), {}{}",
        opts.seed,
        opts.jobs,
        opts.seeds.len(),
        match (opts.time, opts.runs) {
            (Some(t), Some(r)) => format!("up to {}s or {r} inputs", t.as_secs()),
            (Some(t), None) => format!("{}s", t.as_secs()),
            (None, Some(r)) => format!("{r} inputs"),
            (None, None) => "until interrupted".into(),
        },
        a.planted
            .as_ref()
            .map(|p| format!(", planted fault {p}"))
            .unwrap_or_default()
    );
    let bar = if a.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    };
    let mut tick = |shared: &campaign::Shared, elapsed: Duration| {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &shared.counters;
        let secs = elapsed.as_secs_f64().max(1e-3);
        let inputs = c.inputs.load(Relaxed);
        let ops = c.ops.load(Relaxed);
        let features = shared
            .features
            .lock()
            .map(|f| feature_summary(&f))
            .unwrap_or_default();
        bar.set_message(format!(
            "inputs {inputs} ({:.0}/s) ops {ops} ({:.0}/s) corpus {} findings {}\n  {features}",
            inputs as f64 / secs,
            ops as f64 / secs,
            c.corpus.load(Relaxed),
            c.findings.load(Relaxed),
        ));
        bar.tick();
    };
    let check = |input: &Input, o: &RunOptions| crate::check(input, o);
    let summary = campaign::run(&opts, &check, &mut tick);
    bar.finish_and_clear();
    let secs = summary.elapsed.as_secs_f64().max(1e-3);
    println!(
        "vmfuzz: {} inputs ({:.0}/s), {} ops ({:.0}/s), {:.1}% rejected, corpus {}",
        summary.inputs,
        summary.inputs as f64 / secs,
        summary.ops,
        summary.ops as f64 / secs,
        100.0 * summary.rejected as f64 / summary.inputs.max(1) as f64,
        summary.corpus
    );
    println!(
        "vmfuzz: behaviours reached: {}",
        feature_summary(&summary.features)
    );
    let Some(found) = summary.found else {
        println!("vmfuzz: no findings");
        return 0;
    };
    println!(
        "vmfuzz: FINDING after {} inputs and {} ops ({:.1}s); minimizing...",
        found.inputs_before, found.ops_before, secs
    );
    let kind = found.finding.kind;
    let ro = run_opts(a.planted.clone());
    // Shrink with the fuzzing checks (fast); the report below reruns with every check after
    // every op, so it names the first op that goes wrong.
    let fast = RunOptions {
        full_checks: crate::exec::FullChecks::FUZZING,
        ..ro.clone()
    };
    let (min, stats) = minimize(
        &found.input,
        |i| matches!(crate::check(i, &fast), Err(f) if f.kind == kind),
        4000,
    );
    println!(
        "vmfuzz: minimized from {} to {} ops ({} runs)",
        stats.ops_before, stats.ops_after, stats.tries
    );
    let (notes, finding) = recorded_run(&min, &ro);
    let finding = finding.map_or(found.finding, |f| *f);
    let trace = Trace {
        input: min,
        expect: Expect::Finding {
            kind,
            planted: a.planted.clone(),
        },
        comments: vec![
            format!(
                "found by: cargo vmfuzz fuzz --seed {} (after {} inputs)",
                a.seed, found.inputs_before
            ),
            format!("finding: {}", finding.summary.replace('\n', " ")),
        ],
    };
    let path = match save_finding(&a.out, &trace, &notes) {
        Ok(p) => p,
        Err(e) => return usage_error(format!("cannot write the finding: {e}")),
    };
    let mut finding = finding;
    finding.reproduce = Some(reproduce_command(&path));
    println!("{finding}");
    println!("vmfuzz: written to {}", path.display());
    1
}

/// Write a finding's trace, annotated with `notes` (see [`recorded_run`]), under `dir`.
fn save_finding(dir: &Path, trace: &Trace, notes: &[Option<String>]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = match &trace.expect {
        Expect::Finding { kind, .. } => kind.name(),
        _ => "finding",
    };
    let mut n = 0;
    let path = loop {
        let p = dir.join(format!("{name}-{n}.trace"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    std::fs::write(&path, text::print_annotated(trace, notes))?;
    Ok(path)
}

/// One recorded run: per-op notes (the resolved call and both results) and the finding.
fn recorded_run(input: &Input, ro: &RunOptions) -> (Vec<Option<String>>, Option<Box<Finding>>) {
    let opts = RunOptions {
        record: true,
        ..ro.clone()
    };
    let (steps, result) = crate::check_recorded(input, &opts);
    let mut notes = vec![None; input.ops.len()];
    for s in steps {
        if s.index < notes.len() {
            notes[s.index] = Some(match &s.call {
                Some(c) if s.model == s.subject => format!("{c} -> {}", s.model),
                Some(c) => format!("{c} -> model {} / engine {}", s.model, s.subject),
                None => "skipped".into(),
            });
        }
    }
    (notes, result.err())
}

fn replay(a: ReplayArgs) -> u8 {
    use crate::replay::{replay_file, Replayed};
    let files = match load::collect(&a.paths) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let (mut pass, mut fail, mut errors, mut skipped) = (0, 0, 0, 0);
    for f in &files {
        match replay_file(f) {
            Ok(Replayed::Pass) => {
                println!("ok    {}", f.display());
                pass += 1;
            }
            Ok(Replayed::Skipped(why)) => {
                println!("SKIP  {}: {why}", f.display());
                skipped += 1;
            }
            Ok(Replayed::Fail(why, finding)) => {
                println!("FAIL  {}: {why}", f.display());
                if let (true, Some(finding)) = (a.verbose, finding) {
                    let mut finding = *finding;
                    finding.reproduce = Some(reproduce_command(f));
                    println!("{finding}");
                }
                fail += 1;
            }
            Err(e) => {
                println!("ERROR {e}");
                errors += 1;
            }
        }
    }
    println!(
        "vmfuzz replay: {pass} passed, {fail} failed, {errors} unreadable, {skipped} skipped, of {}",
        files.len()
    );
    if fail > 0 {
        1
    } else if errors > 0 {
        2
    } else {
        0
    }
}

fn minimize_cmd(a: MinimizeArgs) -> u8 {
    let trace = match load::load(&a.path) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let planted = a.planted.clone().or_else(|| planted_of(&trace.expect));
    if let Some(p) = &planted {
        if let Err(e) = crate::check_planted_name(p) {
            return usage_error(e);
        }
    }
    let ro = run_opts(planted.clone());
    let kind = match crate::check(&trace.input, &ro) {
        Ok(_) => {
            println!(
                "vmfuzz minimize: {} runs clean; nothing to minimize",
                a.path.display()
            );
            return 0;
        }
        Err(f) => f.kind,
    };
    let (min, stats) = minimize(
        &trace.input,
        |i| matches!(crate::check(i, &ro), Err(f) if f.kind == kind),
        a.budget,
    );
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| a.path.with_extension("min.trace"));
    let mut comments = trace.comments.clone();
    comments.push(format!(
        "minimized from {} to {} ops",
        stats.ops_before, stats.ops_after
    ));
    let min_trace = Trace {
        input: min,
        expect: Expect::Finding { kind, planted },
        comments,
    };
    let (notes, finding) = recorded_run(&min_trace.input, &ro);
    if let Err(e) = std::fs::write(&out, text::print_annotated(&min_trace, &notes)) {
        return usage_error(format!("cannot write {}: {e}", out.display()));
    }
    println!(
        "vmfuzz minimize: {} ops -> {} ops ({} runs); finding kind {kind} kept; written to {}",
        stats.ops_before,
        stats.ops_after,
        stats.tries,
        out.display()
    );
    if let Some(mut f) = finding {
        f.reproduce = Some(reproduce_command(&out));
        println!("{f}");
    }
    1
}

fn explain(a: ExplainArgs) -> u8 {
    let trace = match load::load(&a.path) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let planted = a.planted.clone().or_else(|| planted_of(&trace.expect));
    if let Some(p) = &planted {
        if let Err(e) = crate::check_planted_name(p) {
            return usage_error(e);
        }
    }
    let ro = RunOptions {
        record: true,
        ..run_opts(planted)
    };
    let (steps, result) = crate::check_recorded(&trace.input, &ro);
    let mut out = String::new();
    out.push_str(&format!(
        "{:>4}  {:<44} {:<24} {:<24} warnings\n",
        "#", "op", "model", "engine"
    ));
    for s in &steps {
        let mark = if s.model != s.subject { "≠" } else { " " };
        let events: Vec<String> = s.events.iter().map(|e| e.to_string()).collect();
        out.push_str(&format!(
            "{:>4}{mark} {:<44} {:<24} {:<24} {}\n",
            s.index,
            truncate(
                &format!("{}  {}", s.op, s.call.as_deref().unwrap_or("(skipped)")),
                44
            ),
            truncate(&s.model, 24),
            truncate(&s.subject, 24),
            events.join(", ")
        ));
    }
    print!("{out}");
    match result {
        Ok(r) => {
            println!(
                "vmfuzz explain: clean{}",
                r.ended
                    .map(|f| format!(" (ended by {f:?})"))
                    .unwrap_or_default()
            );
            0
        }
        Err(mut f) => {
            f.reproduce = Some(reproduce_command(&a.path));
            println!("\n{f}");
            if let Some(k) = f.op_index {
                println!("{}", crate::explain_state(&trace.input, k, &ro));
            }
            1
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn convert(a: ConvertArgs) -> u8 {
    let bytes = match std::fs::read(&a.path) {
        Ok(b) => b,
        Err(e) => return usage_error(format!("{}: cannot read: {e}", a.path.display())),
    };
    let from_text = load::is_text_trace(&bytes);
    let to = a.to.unwrap_or(if from_text {
        Format::Bytes
    } else {
        Format::Text
    });
    let trace = match load::load(&a.path) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    let data: Vec<u8> = match to {
        Format::Text => text::print(&trace).into_bytes(),
        Format::Bytes => codec::encode(&trace.input),
    };
    match (&a.output, to) {
        (Some(p), _) => {
            if let Err(e) = std::fs::write(p, &data) {
                return usage_error(format!("cannot write {}: {e}", p.display()));
            }
            eprintln!(
                "vmfuzz convert: {} ({} ops) -> {} ({:?})",
                a.path.display(),
                trace.input.ops.len(),
                p.display(),
                to
            );
            0
        }
        (None, Format::Text) => {
            let _ = std::io::stdout().write_all(&data);
            0
        }
        (None, Format::Bytes) => usage_error("converting to bytes needs --output FILE"),
    }
}

//! `vmfuzz bench detect`: the detection benchmark ([`crate::detect`], design §5.9).
//!
//! `design §N` cites a section of `docs/design.md`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::output::{self, note, outln, CliError};
use super::signals::Signals;
use crate::detect::{self, DetectOptions, Trial};
use crate::exec::OracleMode;

/// `vmfuzz bench ...`.
#[derive(Args, Debug)]
pub(super) struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// For each planted fault of the zoo (docs/zoo.md) and each seed, run a single-worker
    /// campaign from nothing until the first finding or the time limit, once with every
    /// oracle (full), once counting only a crash or an allocation that returns NULL where the
    /// model's succeeds (non-null: what lib/test_vmalloc.c checks), once counting only a
    /// crash (crash: a panic, or a BUG, oops or hang the model does not have; what a
    /// crash-only fuzzer sees). Prints a table of median seconds and inputs to the first
    /// finding (a fault found in fewer than half the trials is "not found") and writes
    /// detect.txt, detect.md (the table), detect.csv (every trial), detect.json and detect.svg
    /// (a chart) into --out.
    /// Needs the planted faults: cargo run --release -p vmfuzz-cli --features planted-bugs --
    /// bench detect. All of it takes up to faults x modes x seeds x time (30 x 3 x 5 x 60 s:
    /// 7.5 hours), in practice far less: only the weaker oracles' misses run to the limit (the
    /// committed run, 30 s and --parallel 2 on 2 cores, took 25 minutes).
    Detect(DetectArgs),
}

#[derive(Args, Debug)]
struct DetectArgs {
    /// Trials per fault and mode, with seeds FIRST_SEED, FIRST_SEED+1, ... (1 to 100).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Each trial's time limit in seconds (1 to 86400).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    time: u64,
    /// Faults to measure, comma-separated (default: every planted fault; `--planted list`
    /// of `vmfuzz fuzz` lists them).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    faults: Vec<String>,
    /// Oracle modes to measure, comma-separated: full, non-null, crash.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "MODE,...",
        default_value = "full,non-null,crash"
    )]
    modes: Vec<String>,
    /// Trials run at once, each on its own thread (1 to 64). Keep it at most the number of
    /// cores: seconds are measured per trial.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    parallel: u64,
    /// Longest generated input, in bytes (16 to 65536).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=65_536))]
    max_len: u64,
    /// Folder for detect.txt, detect.md, detect.csv, detect.json and detect.svg (files already
    /// there are replaced).
    #[arg(long, default_value = "target/bench-detect")]
    out: PathBuf,
    /// Run nothing: read the trials from a detect.csv written earlier and write the table, the
    /// Markdown and the chart again (--time gives the chart's limit).
    #[arg(long, value_name = "CSV")]
    from: Option<PathBuf>,
}

pub(super) fn run(a: BenchArgs) -> Result<u8, CliError> {
    match a.what {
        BenchCommand::Detect(d) => run_detect(d),
    }
}

fn run_detect(a: DetectArgs) -> Result<u8, CliError> {
    output::prepare_dir(&a.out, "the benchmark's folder (--out)")?;
    let time = Duration::from_secs(a.time);
    if let Some(csv) = &a.from {
        let bytes = crate::load::read_bounded(csv)
            .map_err(|e| CliError::Usage(format!("{}: {e}", csv.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| CliError::Usage(format!("{}: not UTF-8 text", csv.display())))?;
        let trials = detect::parse_csv(&text)
            .map_err(|e| CliError::Usage(format!("{}: {e}", csv.display())))?;
        return write_results(&a.out, time, &trials, None, None);
    }
    let faults = if a.faults.is_empty() {
        crate::planted::names()
            .into_iter()
            .map(str::to_string)
            .collect()
    } else {
        a.faults.clone()
    };
    for f in &faults {
        crate::planted::check_name(f)?;
    }
    let mut modes = Vec::new();
    for m in &a.modes {
        let mode = OracleMode::from_name(m).ok_or_else(|| {
            let known: Vec<&str> = OracleMode::ALL.iter().map(|m| m.name()).collect();
            CliError::Usage(format!(
                "unknown oracle mode {m:?}; known: {}",
                known.join(", ")
            ))
        })?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    let opts = DetectOptions {
        bugs: faults,
        modes,
        seeds: (a.first_seed..).take(a.seeds as usize).collect(),
        time,
        max_len: a.max_len as usize,
        parallel: a.parallel as usize,
        runs: None,
    };
    let total = opts.bugs.len() * opts.modes.len() * opts.seeds.len();
    note!(
        "vmfuzz bench detect: {} faults x {} modes x {} seeds = {total} trials of at most {} s, {} at once",
        opts.bugs.len(),
        opts.modes.len(),
        opts.seeds.len(),
        a.time,
        opts.parallel
    );
    let signals = Signals::install();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let done = |t: &Trial| {
        let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let what = match &t.hit {
            Some(h) => format!(
                "{} by {} after {} inputs, {:.2} s",
                h.kind, h.oracle, h.inputs, h.seconds
            ),
            None => format!("not found in {} inputs", t.inputs),
        };
        note!(
            "[{n}/{total}] {} {} seed {}: {what}",
            t.bug,
            t.mode.name(),
            t.seed
        );
    };
    let stop = || signals.received().is_some();
    let trials = detect::run(&opts, &done, &stop);
    write_results(&a.out, time, &trials, Some(&opts), signals.received())
}

/// Write the files into `out` and print the table: the table, the Markdown and the chart
/// (whose axis title gives the time limit `time`) always; the JSON and the CSV only for a run
/// (`opts`), since the settings of trials read back from a CSV are not all known.
/// `interrupted` by that signal.
fn write_results(
    out: &std::path::Path,
    time: Duration,
    trials: &[Trial],
    opts: Option<&DetectOptions>,
    interrupted: Option<i32>,
) -> Result<u8, CliError> {
    let table = detect::table(trials);
    let mut files = vec![
        ("detect.txt", table.clone()),
        ("detect.md", detect::markdown(trials)),
        ("detect.svg", detect::svg(trials, time)),
    ];
    if let Some(opts) = opts {
        files.push(("detect.json", detect::json(opts, trials)));
        files.push(("detect.csv", detect::csv(trials)));
    }
    for (name, text) in &files {
        let path = out.join(name);
        output::save_at(&path, text.as_bytes(), true)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    output::write_text(&table)?;
    let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
    outln!("written in {}: {}", out.display(), names.join(", "));
    if let Some(sig) = interrupted {
        note!("vmfuzz bench detect: interrupted; the files hold the trials that finished before it (a trial cut short is left out, not counted as a miss)");
        return Err(CliError::Interrupted(sig));
    }
    Ok(0)
}

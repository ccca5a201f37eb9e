//! The `vmfuzz` command line (feature `cli`, on by default; the fuzz targets build the library
//! without it): `fuzz`, `cmin`, `replay`, `explain`, `minimize`, `convert`, `bench detect`.
//!
//! Exit status, the same for every command: 0 clean (or the input met its `expect:` line), 1 a
//! finding (or an input that did not meet its `expect:` line), 2 a usage or input error, 130
//! and 143 interrupted by SIGINT and SIGTERM, 141 standard output closed (a pipe).

mod bench;
mod cmin;
mod convert;
mod coverage_arg;
mod fuzz;
pub mod instrument;
mod minimize;
pub mod output;
mod progress;
mod replay;
mod signals;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::CliError;
use output::{note, outln};

use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::ops::Input;
use crate::subjects::{Registry, Subject};
use instrument::CoverageSetup;

const ABOUT: &str = "Differential fuzzing of the Linux 4.x vmalloc allocator.

vmfuzz runs sequences of vmalloc/vfree/vmap/get_vm_area/... calls on two independent
implementations of the Linux 4.19 semantics -- a Rust engine that writes real x86-64 page
tables into simulated physical memory (the system under test), and an obviously-correct
reference model -- and compares them after every call: the returned addresses and PFNs, the
kernel warnings, every page-table entry (walked from the root frame, and again through the
third-party x86_64 crate), page ownership (leaks), lazy-free state and data read back.

A finding is printed with the op where the two first disagree, a diff, and a command that
reproduces it.

VERSIONS. By default vmfuzz departs from every released 4.x kernel in placement: it takes the
exact lowest fit, whereas every 4.x release tests its search cache with a strict `<` and so
sometimes passes over an exact-fit hole, an off-by-one against the kernel's own intent, fixed
here so that every placement has one checkable answer (docs/semantics.md, \"Deliberate
departures\"). A trace's machine line restores released behaviour knob by knob
(faithful_4x_cache=on, align_wrap_check=off, vunmap_lookup=find_vmap_area_deref, ...) or all
at once with kernel=4.19.0 (v4.19.0 as shipped); generated inputs use the default mostly and
the preset and each knob a fair share, and a finding's trace records them.

INPUT FILES. Inputs are readable text traces (see corpus/README.md) or raw fuzzer byte files.
A file is read as a trace unless raw bytes are asked for explicitly: a *.trace file, or any
file that looks like text, is parsed as a trace (a bad header, a byte-order mark or an empty
file is an error naming the file and the line). Raw fuzzer bytes are read only from fuzzer
artifact and working folders (fuzz/artifacts/, fuzz/corpus/, AFL's crashes/, hangs/, queue/),
with --raw, or by `convert`. Files are read only if they are regular files of at most 4 MiB.
Folders are read recursively, skipping hidden entries and *.md files; an entry that cannot be
read is reported and the rest still run.

EXIT STATUS. 0 clean (or every input met its expect: line), 1 a finding (or an input did not
meet its expect: line), 2 a usage or input error, 130/143 interrupted by SIGINT/SIGTERM (a
second signal stops at once), 141 standard output closed.";

/// Command-line interface.
#[derive(Parser, Debug)]
#[command(name = "vmfuzz", version, about = ABOUT, long_about = ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a fuzz campaign (the main job). Starts from the committed corpus and the working
    /// corpus, keeps inputs that add code coverage of the engine and the model (new edges or
    /// hit counts; an instrumented copy of this binary is built for that, see --coverage) or
    /// reach new behaviour, saves them into the working corpus and mutates them. On a
    /// finding: writes it at once (unminimized, with its report), minimizes it within a time
    /// bound, writes the minimized trace beside it, prints the report and the command to
    /// reproduce it, and exits 1.
    Fuzz(fuzz::FuzzArgs),
    /// Minimize a working corpus (default: fuzz/corpus/vmfuzz/): keep a small set of its
    /// inputs that reaches the same code coverage (edge and hit-count bucket) and the same
    /// behaviours, remove the others, and print the counts before and after.
    Cmin(cmin::CminArgs),
    /// Replay traces or raw fuzzer inputs (files or directories) and check each one's
    /// `expect:` line. Prints a pass/fail line per file and a summary.
    Replay(replay::ReplayArgs),
    /// Shrink a failing input while the same finding kind persists (drop ops, shrink sizes and
    /// alignments, simplify the machine, drop fault injections).
    Minimize(minimize::MinimizeArgs),
    /// Show a run step by step (op, resolved call, model result, engine result, warnings); at
    /// the first divergence, the /proc/vmallocinfo listing and page-table dump of both sides,
    /// diffed. Exits as `replay` does for the same file.
    Explain(replay::ExplainArgs),
    /// Convert between raw fuzzer bytes and the readable trace format (either direction; the
    /// input format is detected). A trace made from raw bytes gets the `expect:` line the
    /// input really ends with on this build.
    Convert(convert::ConvertArgs),
    /// Measure vmfuzz: `bench detect` times how long the campaign takes to find each planted
    /// fault of the zoo with every oracle and with two weaker ones (crash only, non-NULL
    /// only), and writes a table, CSV, JSON and an SVG chart.
    Bench(bench::BenchArgs),
}

/// The `--planted` option shared by the commands: a fault name, or `list`.
#[derive(clap::Args, Debug, Clone, Default)]
struct PlantedArg {
    /// Run against an engine with this deliberate fault switched on (needs a build with the
    /// `planted-bugs` feature: `cargo run --release -q -p vmfuzz-cli --features planted-bugs --
    /// ...`). `--planted list` lists the faults and exits.
    #[arg(long, value_name = "NAME|list")]
    planted: Option<String>,
}

impl PlantedArg {
    /// `Ok(None)` when `--planted list` was handled (the command is done); otherwise the
    /// checked fault name, if any.
    fn resolve(&self) -> Result<Option<Option<String>>, CliError> {
        match self.planted.as_deref() {
            Some("list") => {
                list_planted()?;
                Ok(None)
            }
            Some(name) => {
                crate::planted::check_name(name)?;
                Ok(Some(Some(name.to_string())))
            }
            None => Ok(Some(None)),
        }
    }
}

/// The `--subject` option shared by the commands: a subject's name, or `list`.
#[derive(clap::Args, Debug, Clone, Default)]
struct SubjectArg {
    /// The allocator to fuzz against the reference model (default: the engine). `--subject
    /// list` lists the subjects this binary knows and exits.
    #[arg(long, value_name = "NAME|list", default_value = "engine")]
    subject: String,
}

impl SubjectArg {
    /// `Ok(None)` when `--subject list` was handled; otherwise the subject.
    fn resolve(&self, registry: &Registry) -> Result<Option<Subject>, CliError> {
        if self.subject == "list" {
            for s in registry.list() {
                outln!("{:<16} {}", s.name, s.about);
            }
            return Ok(None);
        }
        Ok(Some(registry.get(&self.subject)?))
    }
}

/// `--subject NAME` for a command line that reproduces something, empty for the engine.
fn subject_flag(subject: &Subject) -> String {
    if subject.name == crate::subjects::ENGINE.name {
        String::new()
    } else {
        format!(" --subject {}", subject.name)
    }
}

fn list_planted() -> Result<(), CliError> {
    if !crate::planted::compiled() {
        outln!(
            "this build has no planted faults compiled in; build with the planted-bugs feature \
             to use them: {}",
            crate::planted::build_hint()
        );
    }
    let list = crate::planted::list();
    let width = list.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, what) in list {
        outln!("{name:<width$} {what}");
    }
    Ok(())
}

/// Parse the arguments and run, with the subjects this library ships (the engine), without
/// code coverage (see [`main_with_coverage`]).
pub fn main() -> ExitCode {
    main_with(Registry::builtin())
}

/// Parse the arguments and run, with the subjects of `registry` (`--subject NAME`): how a
/// binary of your own fuzzes your allocator against the model without editing this library.
/// Campaigns follow behaviours only; [`main_with_coverage`] adds code coverage.
pub fn main_with(registry: Registry) -> ExitCode {
    main_with_coverage(registry, CoverageSetup::default())
}

/// As [`main_with`], with code coverage (`docs/design.md` §5.4): `setup` holds the coverage
/// counters of this process when it is instrumented, and how to build an instrumented copy of
/// it when it is not. The binary must define the SanitizerCoverage callback that receives the
/// counters (as the `vmfuzz` binary's `sancov` module does) and call this first thing in
/// `main`: in the build of the instrumented copy, cargo runs this binary as `RUSTC_WRAPPER`
/// ([`instrument::wrapper_main`]).
pub fn main_with_coverage(registry: Registry, setup: CoverageSetup) -> ExitCode {
    if let Some(code) = instrument::wrapper_main() {
        return code;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fuzz(a) => fuzz::run(a, &registry, &setup),
        Command::Cmin(a) => cmin::run(a, &registry, &setup),
        Command::Replay(a) => replay::replay(a, &registry),
        Command::Minimize(a) => minimize::run(a, &registry),
        Command::Explain(a) => replay::explain(a, &registry),
        Command::Convert(a) => convert::run(a, &registry),
        Command::Bench(a) => bench::run(a),
    };
    let result = result.and_then(|code| output::flush().map(|()| code));
    ExitCode::from(match result {
        Ok(code) => code,
        Err(e) => {
            match &e {
                CliError::Usage(msg) => note!("vmfuzz: {msg}"),
                CliError::Output(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
                CliError::Output(err) => {
                    note!("vmfuzz: cannot write to standard output: {err}")
                }
                CliError::Interrupted(_) => {}
            }
            e.status()
        }
    })
}

/// Run options for a planted fault (every check after every op: replay's mode).
fn run_opts(planted: Option<String>) -> RunOptions {
    RunOptions {
        planted,
        ..RunOptions::default()
    }
}

/// The command that reproduces a saved input.
fn reproduce_command(path: &std::path::Path, planted: Option<&str>, subject: &Subject) -> String {
    let prefix = crate::planted::cargo_prefix(planted);
    let subject = subject_flag(subject);
    match planted {
        Some(p) => format!("{prefix} replay{subject} --planted {p} {}", path.display()),
        None => format!("{prefix} replay{subject} {}", path.display()),
    }
}

/// One recorded run: per-op notes (the resolved call and both results) and the finding.
fn recorded_run(
    subject: &Subject,
    input: &Input,
    ro: &RunOptions,
) -> (Vec<Option<String>>, Option<Box<Finding>>) {
    let opts = RunOptions {
        record: true,
        ..ro.clone()
    };
    let (steps, result) = subject.check_recorded(input, &opts);
    let mut notes = vec![None; input.ops.len()];
    for s in steps {
        if s.index < notes.len() {
            notes[s.index] = Some(match &s.call {
                Some(c) if s.model == s.subject => format!("{c} -> {}", s.model),
                Some(c) => format!("{c} -> model {} / {} {}", s.model, subject.name, s.subject),
                None => "skipped".into(),
            });
        }
    }
    (notes, result.err())
}

/// The files named on the command line, expanded (errors per entry).
fn entries(paths: &[PathBuf]) -> Vec<crate::load::Entry> {
    crate::load::collect(paths)
}

//! `vmfuzz minimize`: shrink a failing input while the same finding kind persists. Its exit
//! status is `replay`'s verdict on the input file (0 when the input meets its `expect:` line,
//! 1 when it does not), so the three commands agree.

use std::path::PathBuf;
use std::time::Duration;

use super::output::{self, CliError};
use super::output::{note, outln};
use super::progress::Progress;
use super::replay::read_as;
use super::signals::Signals;
use super::{recorded_run, reproduce_command, run_opts, PlantedArg, SubjectArg};
use crate::load;
use crate::minimize::{minimize_with, Limits, Stopped};
use crate::replay::{expectation, planted_for, verdict};
use crate::subjects::Registry;
use crate::text::{self, Expect, Trace};

#[derive(clap::Args, Debug)]
pub(super) struct MinimizeArgs {
    /// The failing input.
    path: PathBuf,
    /// Where to write the minimized trace (default: `<path>.min.trace`, or a new
    /// `<path>.min-N.trace` if that exists; an explicit file is replaced atomically).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// At most this many test runs (at least 1).
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    budget: u64,
    /// At most this many seconds (0 to 3600; 0: no bound); the smallest trace so far is kept.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    time: u64,
    /// Read the file as raw fuzzer bytes.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

pub(super) fn run(a: MinimizeArgs, registry: &Registry) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(cli_planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    if let Some(o) = &a.output {
        output::prepare_file(o, "the output file (--output)")?;
    } else {
        output::prepare_file(&a.path, "the folder of the input")?;
    }
    let loaded = load::load(&a.path, read_as(a.raw))?;
    let planted = match planted_for(&loaded, cli_planted.as_deref())? {
        Ok(p) => p,
        Err(why) => {
            outln!("SKIP  {}: {why}", a.path.display());
            return Ok(0);
        }
    };
    let ro = run_opts(planted.clone());
    let input = &loaded.trace.input;
    let result = subject.check(input, &ro);
    let status = match verdict(&loaded.trace.expect, loaded.raw, &result) {
        Ok(()) => 0,
        Err(why) => {
            note!(
                "vmfuzz: {}: expected {}, but {why}",
                a.path.display(),
                expectation(&loaded)
            );
            1
        }
    };
    let kind = match &result {
        Ok(r) => {
            outln!(
                "vmfuzz minimize: {} makes no finding{}; nothing to minimize",
                a.path.display(),
                r.ended
                    .map(|f| format!(" (it ends with `{f}`)"))
                    .unwrap_or_default()
            );
            return Ok(status);
        }
        Err(f) => f.kind,
    };
    let signals = Signals::install();
    let mut progress = Progress::new(a.quiet);
    let (min, stats) = minimize_with(
        input,
        |i| matches!(subject.check(i, &ro), Err(f) if f.kind == kind),
        Limits {
            budget: usize::try_from(a.budget).unwrap_or(usize::MAX),
            time: (a.time > 0).then(|| Duration::from_secs(a.time)),
            stop: &|| signals.received().is_some(),
            progress: &mut |p| {
                progress.update(p.elapsed, || {
                    format!(
                        "minimizing: {} runs, {} ops (from {})",
                        p.runs,
                        p.ops,
                        input.ops.len()
                    )
                })
            },
        },
    );
    progress.finish();
    let mut comments = loaded.trace.comments.clone();
    comments.push(format!(
        "minimized from {} to {} ops",
        stats.ops_before, stats.ops_after
    ));
    let min_trace = Trace {
        input: min,
        expect: Expect::Finding {
            kind,
            planted: planted.clone(),
        },
        comments,
    };
    let (notes, finding) = recorded_run(&subject, &min_trace.input, &ro);
    let bytes = text::print_annotated(&min_trace, &notes);
    let out = match &a.output {
        Some(o) => output::save_at(o, bytes.as_bytes(), true).map(|()| o.clone()),
        None => {
            let exact = a.path.with_extension("min.trace");
            match output::save_at(&exact, bytes.as_bytes(), false) {
                Ok(()) => Ok(exact),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let dir = exact.parent().map(PathBuf::from).unwrap_or_default();
                    let dir = if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir
                    };
                    let stem = a
                        .path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("input");
                    output::save_new(&dir, &format!("{stem}.min"), "trace", bytes.as_bytes())
                }
                Err(e) => Err(e),
            }
        }
    }
    .map_err(|e| CliError::Usage(format!("cannot write the minimized trace: {e}")))?;
    let how = match stats.stopped {
        Stopped::Done => "",
        Stopped::Budget => " (run budget spent)",
        Stopped::Time => " (time bound reached; smallest so far kept)",
        Stopped::Interrupted => " (interrupted; smallest so far kept)",
    };
    outln!(
        "vmfuzz minimize: {} ops -> {} ops ({} runs){how}; finding kind {kind} kept; written to {}",
        stats.ops_before,
        stats.ops_after,
        stats.tries,
        out.display()
    );
    if let Some(mut f) = finding {
        f.reproduce = Some(reproduce_command(&out, planted.as_deref(), &subject));
        outln!("{f}");
    }
    if let (Stopped::Interrupted, Some(sig)) = (stats.stopped, signals.received()) {
        return Err(CliError::Interrupted(sig));
    }
    Ok(status)
}

//! Replaying a saved input and judging it against its `expect:` line: one verdict, shared by
//! `vmfuzz replay`, `explain` and `minimize` and by the corpus test that `cargo test` runs (one
//! test per file), so that every command states a result the same way.

use std::path::Path;

use crate::exec::{Report, RunOptions};
use crate::finding::Finding;
use crate::load::{self, Loaded, ReadAs};
use crate::planted::{self, PlantedError};
use crate::subjects::Subject;
use crate::text::Expect;

/// The result of replaying one file.
#[derive(Debug)]
pub enum Replayed {
    /// The run met the `expect:` line.
    Pass,
    /// The run did not meet it: why, and the finding if there was one.
    Fail(String, Option<Box<Finding>>),
    /// The file expects a planted fault this build does not have compiled in (a build without
    /// the `planted-bugs` feature); the message says how to run it.
    Skipped(String),
}

/// Did `result` meet what the input expects? `raw` inputs (fuzzer bytes) carry no `expect:`
/// line: they pass unless a finding is made (a BUG or hang reported identically by both sides
/// is the kernel's answer, not a finding). `Err` says what happened instead.
pub fn verdict(
    expect: &Expect,
    raw: bool,
    result: &Result<Report, Box<Finding>>,
) -> Result<(), String> {
    match (expect, result) {
        (_, Ok(_)) if raw => Ok(()),
        (Expect::Clean, Ok(r)) if r.ended.is_none() => Ok(()),
        (Expect::Bug(k), Ok(r)) if r.ended == Some(crate::subject::Fatal::Bug(*k)) => Ok(()),
        (Expect::Hang, Ok(r)) if r.ended == Some(crate::subject::Fatal::WouldHang) => Ok(()),
        (Expect::Finding { kind, .. }, Err(f)) if f.kind == *kind => Ok(()),
        (_, Ok(r)) => Err(match r.ended {
            Some(f) => format!("the input ended with `{f}`"),
            None => "the run was clean".into(),
        }),
        (_, Err(f)) => Err(format!(
            "finding {} at {}: {}",
            f.kind,
            f.op_index
                .map_or("the end-of-input check".to_string(), |i| format!("op {i}")),
            f.summary
        )),
    }
}

/// What the input expects, as the message of a failed verdict says it.
pub fn expectation(loaded: &Loaded) -> String {
    if loaded.raw {
        "no finding (raw fuzzer bytes)".into()
    } else {
        format!("`expect: {}`", loaded.trace.expect)
    }
}

/// The planted fault a replay runs under: `cli` (a `--planted` option) if given, else the one
/// the trace's `expect:` line names. An unknown fault name is an error; a known one that this
/// build lacks is `Ok(Err(message))` (the caller skips the file).
pub fn planted_for(
    loaded: &Loaded,
    cli: Option<&str>,
) -> Result<Result<Option<String>, String>, PlantedError> {
    let name = cli
        .map(str::to_string)
        .or_else(|| match &loaded.trace.expect {
            Expect::Finding { planted, .. } => planted.clone(),
            _ => None,
        });
    match name {
        None => Ok(Ok(None)),
        Some(n) => match planted::check_name(&n) {
            Ok(()) => Ok(Ok(Some(n))),
            Err(e @ PlantedError::NotCompiled(_)) => Ok(Err(e.to_string())),
            Err(e) => Err(e),
        },
    }
}

/// Replay an input already loaded, on `subject`. `Err` is an unknown planted fault name.
pub fn replay_loaded(
    loaded: &Loaded,
    planted: Option<&str>,
    subject: &Subject,
) -> Result<Replayed, String> {
    let planted = match planted_for(loaded, planted).map_err(|e| e.to_string())? {
        Ok(p) => p,
        Err(why) => return Ok(Replayed::Skipped(why)),
    };
    let result = subject.check(
        &loaded.trace.input,
        &RunOptions {
            planted,
            ..RunOptions::default()
        },
    );
    if let Ok(Report {
        declined: Some(why),
        ..
    }) = &result
    {
        return Ok(Replayed::Skipped(format!(
            "subject {} does not run this machine: {why}",
            subject.name
        )));
    }
    Ok(match verdict(&loaded.trace.expect, loaded.raw, &result) {
        Ok(()) => Replayed::Pass,
        Err(why) => Replayed::Fail(
            format!("expected {}, but {why}", expectation(loaded)),
            result.err(),
        ),
    })
}

/// Load `path` as `how` says and replay it on the engine. `Err` is a file that cannot be read or parsed, or
/// names an unknown planted fault; the message names the file (and the line).
pub fn replay_file(path: &Path, how: ReadAs) -> Result<Replayed, load::LoadError> {
    let loaded = load::load(path, how)?;
    replay_loaded(&loaded, None, &crate::subjects::ENGINE).map_err(|message| load::LoadError {
        path: path.to_path_buf(),
        message,
    })
}

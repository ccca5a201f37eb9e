//! Replaying a saved input and judging it against its `expect:` line (shared by
//! `vmfuzz replay` and the corpus test that `cargo test` runs, one test per file).

use std::path::Path;

use crate::exec::{Report, RunOptions};
use crate::finding::Finding;
use crate::load;
use crate::subject::Fatal;
use crate::text::Expect;

/// The result of replaying one file.
#[derive(Debug)]
pub enum Replayed {
    /// The run met the `expect:` line.
    Pass,
    /// The run did not meet it: why, and the finding if there was one.
    Fail(String, Option<Box<Finding>>),
    /// The file expects a planted fault this build cannot switch on.
    Skipped(String),
}

/// Did `result` meet `expect`? `Err` says what happened instead.
pub fn verdict(expect: &Expect, result: &Result<Report, Box<Finding>>) -> Result<(), String> {
    match (expect, result) {
        (Expect::Clean, Ok(r)) if r.ended.is_none() => Ok(()),
        (Expect::Bug(k), Ok(r)) if r.ended == Some(Fatal::Bug(*k)) => Ok(()),
        (Expect::Hang, Ok(r)) if r.ended == Some(Fatal::WouldHang) => Ok(()),
        (Expect::Finding { kind, .. }, Err(f)) if f.kind == *kind => Ok(()),
        (_, Ok(r)) => Err(match r.ended {
            Some(f) => format!("the input ended with {f:?}"),
            None => "the run was clean".into(),
        }),
        (_, Err(f)) => Err(format!(
            "finding {} at op {}: {}",
            f.kind,
            f.op_index.map_or("end".to_string(), |i| i.to_string()),
            f.summary
        )),
    }
}

/// Load `path` (a text trace or raw fuzzer bytes) and replay it. `Err` is a file that cannot
/// be read or parsed; the message names the file (and the line).
pub fn replay_file(path: &Path) -> Result<Replayed, load::LoadError> {
    let trace = load::load(path)?;
    let planted = match &trace.expect {
        Expect::Finding { planted, .. } => planted.clone(),
        _ => None,
    };
    if let Some(p) = &planted {
        if let Err(why) = crate::check_planted_name(p) {
            return Ok(Replayed::Skipped(why));
        }
    }
    let result = crate::check(
        &trace.input,
        &RunOptions {
            planted,
            ..RunOptions::default()
        },
    );
    Ok(match verdict(&trace.expect, &result) {
        Ok(()) => Replayed::Pass,
        Err(why) => Replayed::Fail(
            format!("expected `expect: {}`, but {why}", trace.expect),
            result.err(),
        ),
    })
}

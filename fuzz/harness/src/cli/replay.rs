//! `vmfuzz replay` and `vmfuzz explain`: the same verdict on the same file
//! ([`crate::replay::verdict`]), so both pass or fail it alike and exit with the same status.

use std::path::PathBuf;

use super::output::CliError;
use super::output::{note, outln};
use super::{entries, reproduce_command, run_opts, PlantedArg, SubjectArg};
use crate::exec::RunOptions;
use crate::load::{self, Loaded, ReadAs};
use crate::replay::{expectation, planted_for, replay_loaded, verdict, Replayed};
use crate::subjects::Registry;

#[derive(clap::Args, Debug)]
pub(super) struct ReplayArgs {
    /// Files or directories (read recursively; hidden entries and *.md files are skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Read every file as raw fuzzer bytes (no `expect:` line: a run passes unless it makes a
    /// finding).
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
    /// Print each finding in full.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(clap::Args, Debug)]
pub(super) struct ExplainArgs {
    /// The input.
    path: PathBuf,
    /// Read the file as raw fuzzer bytes.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
}

pub(super) fn read_as(raw: bool) -> ReadAs {
    if raw {
        ReadAs::Raw
    } else {
        ReadAs::Detect
    }
}

pub(super) fn replay(a: ReplayArgs, registry: &Registry) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    let files = entries(&a.paths);
    let (mut pass, mut fail, mut errors, mut skipped) = (0, 0, 0, 0);
    for entry in &files {
        let loaded = entry
            .clone()
            .and_then(|f| load::load(&f, read_as(a.raw)).map(|l| (f, l)));
        let (f, loaded) = match loaded {
            Ok(x) => x,
            Err(e) => {
                outln!("ERROR {e}");
                errors += 1;
                continue;
            }
        };
        match replay_loaded(&loaded, planted.as_deref(), &subject) {
            Ok(Replayed::Pass) => {
                outln!("ok    {}", f.display());
                pass += 1;
            }
            Ok(Replayed::Skipped(why)) => {
                outln!("SKIP  {}: {why}", f.display());
                skipped += 1;
            }
            Ok(Replayed::Fail(why, finding)) => {
                outln!("FAIL  {}: {why}", f.display());
                if let (true, Some(finding)) = (a.verbose, finding) {
                    let mut finding = *finding;
                    let p = planted.clone().or_else(|| expected_planted(&loaded));
                    finding.reproduce = Some(reproduce_command(&f, p.as_deref(), &subject));
                    outln!("{finding}");
                }
                fail += 1;
            }
            Err(e) => {
                outln!("ERROR {}: {e}", f.display());
                errors += 1;
            }
        }
    }
    outln!(
        "vmfuzz replay: {pass} passed, {fail} failed, {errors} unreadable, {skipped} skipped, of {}",
        files.len()
    );
    Ok(if fail > 0 {
        1
    } else if errors > 0 {
        2
    } else {
        0
    })
}

fn expected_planted(l: &Loaded) -> Option<String> {
    match &l.trace.expect {
        crate::text::Expect::Finding { planted, .. } => planted.clone(),
        _ => None,
    }
}

pub(super) fn explain(a: ExplainArgs, registry: &Registry) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(cli_planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    let loaded = load::load(&a.path, read_as(a.raw))?;
    let planted = match planted_for(&loaded, cli_planted.as_deref())? {
        Ok(p) => p,
        Err(why) => {
            outln!("SKIP  {}: {why}", a.path.display());
            return Ok(0);
        }
    };
    let ro = RunOptions {
        record: true,
        ..run_opts(planted.clone())
    };
    let input = &loaded.trace.input;
    let (steps, result) = subject.check_recorded(input, &ro);
    for s in &steps {
        let mark = if s.model != s.subject { "≠" } else { " " };
        outln!("{:>4}{mark} {}", s.index, s.op);
        match &s.call {
            None => outln!("        (skipped: nothing to resolve its slots to)"),
            Some(c) if s.model == s.subject => outln!("        {c} -> {}", s.model),
            Some(c) => outln!("        {c} -> model {} | engine {}", s.model, s.subject),
        }
        for e in &s.events {
            outln!("        {e}");
        }
    }
    let pass = verdict(&loaded.trace.expect, loaded.raw, &result);
    match &result {
        Ok(r) => outln!(
            "vmfuzz explain: no finding{}",
            r.ended
                .map(|f| format!("; the input ended with `{f}`"))
                .unwrap_or_default()
        ),
        Err(f) => {
            let mut f = f.clone();
            f.reproduce = Some(reproduce_command(&a.path, planted.as_deref(), &subject));
            outln!("\n{f}");
            if let Some(k) = f.op_index {
                outln!("{}", crate::explain::explain_state(&subject, input, k, &ro));
            }
        }
    }
    match pass {
        Ok(()) => {
            outln!("vmfuzz explain: pass: {} met", expectation(&loaded));
            Ok(0)
        }
        Err(why) => {
            outln!(
                "vmfuzz explain: FAIL: expected {}, but {why}",
                expectation(&loaded)
            );
            note!("vmfuzz: {} does not meet its expectation", a.path.display());
            Ok(1)
        }
    }
}

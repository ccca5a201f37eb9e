//! `vmfuzz convert`: raw fuzzer bytes to a readable trace, or a trace to fuzzer bytes. A trace
//! made from bytes carries the `expect:` line the input really ends with on this build (run
//! once: `clean`, `hang`, `bug <name>`, or the finding it makes), so replaying it passes.

use std::path::PathBuf;

use clap::ValueEnum;

use super::output::note;
use super::output::{self, CliError};
use super::{run_opts, PlantedArg, SubjectArg};
use crate::codec;
use crate::load::{self, ReadAs};
use crate::subject::Fatal;
use crate::subjects::{Registry, Subject};
use crate::text::{self, Expect, Trace};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    Text,
    Bytes,
}

#[derive(clap::Args, Debug)]
pub(super) struct ConvertArgs {
    /// The input (a text trace, or raw bytes: any binary file, wherever it is).
    path: PathBuf,
    /// Output file (default: standard output; bytes need a file). Replaced atomically.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Output format (default: the other one).
    #[arg(long)]
    to: Option<Format>,
    /// Read the file as raw fuzzer bytes even if it looks like text.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    planted: PlantedArg,
    #[command(flatten)]
    subject: SubjectArg,
}

/// The `expect:` line a run of `input` gives.
fn real_expect(subject: &Subject, input: &crate::ops::Input, planted: Option<String>) -> Expect {
    match subject.check(input, &run_opts(planted.clone())) {
        Ok(r) => match r.ended {
            None => Expect::Clean,
            Some(Fatal::Bug(b)) => Expect::Bug(b),
            Some(Fatal::WouldHang) => Expect::Hang,
        },
        Err(f) => Expect::Finding {
            kind: f.kind,
            planted,
        },
    }
}

pub(super) fn run(a: ConvertArgs, registry: &Registry) -> Result<u8, CliError> {
    let Some(subject) = a.subject.resolve(registry)? else {
        return Ok(0);
    };
    let Some(planted) = a.planted.resolve()? else {
        return Ok(0);
    };
    if let Some(o) = &a.output {
        output::prepare_file(o, "the output file (--output)")?;
    }
    let how = if a.raw { ReadAs::Raw } else { ReadAs::Convert };
    let loaded = load::load(&a.path, how)?;
    let to = a.to.unwrap_or(if loaded.raw {
        Format::Text
    } else {
        Format::Bytes
    });
    let data: Vec<u8> = match to {
        Format::Text if loaded.raw => {
            let expect = real_expect(&subject, &loaded.trace.input, planted);
            let trace = Trace {
                comments: vec![
                    format!(
                        "converted from {} (raw fuzzer bytes)",
                        a.path.file_name().map_or_else(
                            || a.path.display().to_string(),
                            |n| n.to_string_lossy().into_owned()
                        )
                    ),
                    "the expect line is what this input gives on the build that converted it"
                        .into(),
                ],
                expect,
                ..loaded.trace.clone()
            };
            text::print(&trace).into_bytes()
        }
        Format::Text => text::print(&loaded.trace).into_bytes(),
        Format::Bytes => codec::encode(&loaded.trace.input),
    };
    match (&a.output, to) {
        (Some(p), _) => {
            output::save_at(p, &data, true)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", p.display())))?;
            note!(
                "vmfuzz convert: {} ({} ops) -> {} ({})",
                a.path.display(),
                loaded.trace.input.ops.len(),
                p.display(),
                if to == Format::Text {
                    "trace"
                } else {
                    "fuzzer bytes"
                }
            );
            Ok(0)
        }
        (None, Format::Text) => {
            output::write_text(&String::from_utf8_lossy(&data))?;
            Ok(0)
        }
        (None, Format::Bytes) => Err(CliError::Usage(
            "converting to bytes needs --output FILE".into(),
        )),
    }
}

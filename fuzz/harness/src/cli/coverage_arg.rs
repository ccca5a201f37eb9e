//! The `--coverage on|off` option of `fuzz` and `cmin`, and how a command gets its counters:
//! its own (an instrumented binary), or those of the instrumented copy it builds and runs
//! (`super::instrument`, `docs/design.md` §5.4).

use super::instrument::{self, CoverageSetup, Reexec};
use super::output::{note, CliError};
use crate::coverage::Counters;

/// Follow code coverage or not.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum CoverageMode {
    /// Code coverage of the engine and the model (an instrumented build) plus behaviours.
    #[default]
    On,
    /// Behaviours only; no instrumented build. Edges are still counted when the binary
    /// running is the instrumented one.
    Off,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct CoverageArg {
    /// Follow the code coverage of the engine and the model (edges and hit counts, from
    /// SanitizerCoverage counters) besides behaviours. `on` builds an instrumented copy of
    /// this binary into target/vmfuzz-cov/ with cargo if this one is not (stable Rust, nothing
    /// to install; the first build takes a few minutes) and runs it; if that fails, `fuzz` says
    /// why and goes on with behaviours only, and `cmin` stops. `off`: behaviours only.
    #[arg(long, value_enum, default_value_t = CoverageMode::On, value_name = "on|off")]
    coverage: CoverageMode,
}

impl CoverageArg {
    pub(super) fn mode(&self) -> CoverageMode {
        self.coverage
    }
}

/// What a command runs with.
pub(super) enum Acquired {
    /// These counters (`None`: no coverage; the reason was printed).
    Counters(Option<Counters>),
    /// The instrumented copy ran the command and exited with this status.
    Exited(u8),
}

/// The counters for `mode`: this binary's own; or, when it has none and coverage is on, those
/// of the instrumented copy, which then runs the whole command ([`Acquired::Exited`]; on Unix
/// it replaces this process and this function does not return).
pub(super) fn acquire(
    mode: CoverageMode,
    setup: &CoverageSetup,
    quiet: bool,
) -> Result<Acquired, CliError> {
    if mode == CoverageMode::Off || setup.counters.is_some() {
        return Ok(Acquired::Counters(setup.counters.clone()));
    }
    let why = if instrument::is_child() {
        format!(
            "this instrumented copy has no coverage counters (a stale build? remove the \
             {} folder of the target directory)",
            instrument::TARGET_SUBDIR
        )
    } else if let Some(build) = &setup.build {
        match instrument::build_and_run(build, quiet)? {
            Reexec::Exited(code) => return Ok(Acquired::Exited(code)),
            Reexec::Unavailable(why) => why,
        }
    } else {
        "this binary has no coverage counters and cannot build an instrumented copy of \
         itself (see vmfuzz::cli::main_with_coverage)"
            .to_string()
    };
    note!("vmfuzz: coverage unavailable: {why}; going on with behaviours only");
    Ok(Acquired::Counters(None))
}

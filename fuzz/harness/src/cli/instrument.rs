//! Code coverage on stable with nothing to install (`docs/design.md` §5.4): when `vmfuzz fuzz`
//! (or `vmfuzz cmin`) starts in a binary without coverage counters, it builds an instrumented
//! copy of itself with cargo into `<target>/vmfuzz-cov/` and runs that copy with the same
//! arguments.
//!
//! The copy is an ordinary `cargo build --release` of the same package and binary, with
//! `RUSTC_WRAPPER` pointing at the running binary itself in **wrapper mode** (selected by the
//! environment variable [`WRAPPER_ENV`]): it runs rustc unchanged, adding SanitizerCoverage's
//! codegen flags ([`SANCOV_FLAGS`], stable rustc flags) only when the crate being compiled is
//! one of [`SelfBuild::instrument`] (the engine and the model). The harness, clap and the rest
//! stay uninstrumented, so the counters measure the code under test and nothing else. The
//! callback that receives the counters is the binary's own (`fuzz/cli/src/sancov.rs`); the
//! copy finds its counters at start-up, and [`CoverageSetup::counters`] hands them over.
//!
//! Cargo does not see the flags a wrapper adds, so the copy's rustflags also carry a `--cfg`
//! naming the flag set (`flags_stamp`): a change of flags rebuilds the copy.
//!
//! If anything is missing (no cargo, no sources, a failed build, a copy without counters), the
//! campaign says so and runs on behaviours only.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use super::output::{note, CliError};
use crate::coverage::Counters;

/// The environment variable that selects wrapper mode: the comma-separated crate names to
/// instrument. Set only on the cargo process that builds the instrumented copy.
pub const WRAPPER_ENV: &str = "VMFUZZ_SANCOV_CRATES";

/// A `RUSTC_WRAPPER` that was set before ours (sccache, for example): wrapper mode runs rustc
/// through it.
pub const INNER_WRAPPER_ENV: &str = "VMFUZZ_SANCOV_INNER_WRAPPER";

/// Set on the instrumented copy when it is started by an uninstrumented binary: it never
/// builds or starts another copy.
pub const CHILD_ENV: &str = "VMFUZZ_COVERAGE_CHILD";

/// The name of the instrumented build's folder, under the cargo target directory.
pub const TARGET_SUBDIR: &str = "vmfuzz-cov";

/// The codegen flags added to the instrumented crates: edge coverage (level 3) as inline 8-bit
/// counters, what `cargo fuzz build -s none` uses on stable, without the PC table and compare
/// tracing, which the campaign does not read.
pub const SANCOV_FLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=3",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
];

/// A `--cfg` that names the flag set and the instrumented crates, passed to every crate of the
/// copy through `CARGO_ENCODED_RUSTFLAGS`. Cargo fingerprints rustflags, but not what a
/// wrapper adds: without this, a copy built with another flag set (an older vmfuzz) would be
/// reused as it is.
fn flags_stamp(instrument: &[&str]) -> String {
    let set = format!("{}|{}", SANCOV_FLAGS.join(" "), instrument.join(","));
    let hash = super::output::content_name(set.as_bytes());
    format!("--cfg=vmfuzz_sancov=\"{}\"", &hash[..16])
}

/// The rustflags of the copy: the caller's (`CARGO_ENCODED_RUSTFLAGS`, else `RUSTFLAGS`), plus
/// [`flags_stamp`].
fn encoded_rustflags(instrument: &[&str]) -> String {
    let mut flags: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(s) if !s.is_empty() => s.split('\x1f').map(str::to_string).collect(),
        _ => std::env::var("RUSTFLAGS")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    };
    flags.push(flags_stamp(instrument));
    flags.join("\x1f")
}

/// How to build an instrumented copy of the running binary.
#[derive(Debug, Clone, Copy)]
pub struct SelfBuild {
    /// `Cargo.toml` of the binary's package (`concat!(env!("CARGO_MANIFEST_DIR"),
    /// "/Cargo.toml")` in the binary).
    pub manifest_path: &'static str,
    /// The package (`env!("CARGO_PKG_NAME")`).
    pub package: &'static str,
    /// The binary (`env!("CARGO_BIN_NAME")`).
    pub bin: &'static str,
    /// Crate names (as rustc's `--crate-name` spells them) compiled with coverage.
    pub instrument: &'static [&'static str],
}

impl SelfBuild {
    /// The crates whose coverage the campaign follows: the engine and the model.
    pub const ENGINE_AND_MODEL: &'static [&'static str] = &["vmalloc_engine", "vmalloc_reference"];
}

/// What a binary knows about its own coverage, handed to [`super::main_with_coverage`].
#[derive(Debug, Clone, Default)]
pub struct CoverageSetup {
    /// The counters of this process, when it was built with them (`None` otherwise).
    pub counters: Option<Counters>,
    /// How to build an instrumented copy of this binary (`None`: it cannot).
    pub build: Option<SelfBuild>,
}

/// Wrapper mode: when [`WRAPPER_ENV`] is set, this process was started by cargo as
/// `RUSTC_WRAPPER` (`<self> <rustc> <args>...`). Runs rustc, with [`SANCOV_FLAGS`] added for
/// the listed crates, and returns its exit status. `None` outside wrapper mode.
pub fn wrapper_main() -> Option<ExitCode> {
    let crates = std::env::var(WRAPPER_ENV).ok()?;
    let mut args = std::env::args_os().skip(1);
    let Some(rustc) = args.next() else {
        note!("vmfuzz: {WRAPPER_ENV} is set (RUSTC_WRAPPER mode) but no rustc was given");
        return Some(ExitCode::from(2));
    };
    let rest: Vec<OsString> = args.collect();
    let name = rest
        .windows(2)
        .find(|w| w[0] == "--crate-name")
        .map(|w| w[1].to_string_lossy().into_owned());
    let instrument = name.is_some_and(|n| crates.split(',').any(|c| c == n));
    let mut cmd = match std::env::var_os(INNER_WRAPPER_ENV).filter(|w| !w.is_empty()) {
        Some(inner) => {
            let mut c = Command::new(inner);
            c.arg(rustc);
            c
        }
        None => Command::new(rustc),
    };
    cmd.args(&rest);
    if instrument {
        cmd.args(SANCOV_FLAGS);
    }
    Some(match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(101, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            note!("vmfuzz: wrapper mode cannot run rustc: {e}");
            ExitCode::from(101)
        }
    })
}

/// The cargo that builds the copy: `$CARGO` (set when running under cargo), else `cargo`.
fn cargo() -> OsString {
    std::env::var_os("CARGO")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "cargo".into())
}

/// The cargo target directory of `manifest`'s workspace (`cargo metadata`, which honours
/// `CARGO_TARGET_DIR` and `build.target-dir`).
fn target_dir(manifest: &Path) -> Result<PathBuf, String> {
    let out = Command::new(cargo())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run cargo ({}): {e}", cargo().to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let json = String::from_utf8_lossy(&out.stdout);
    json_string_field(&json, "target_directory")
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` named no target directory".to_string())
}

/// The value of the first `"key":"..."` string in `json` (escapes decoded; enough for the
/// one path `cargo metadata` prints).
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = json.find(&pat)? + pat.len();
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Why coverage is not available, or how the instrumented copy ended.
pub(super) enum Reexec {
    /// The instrumented copy ran and exited with this status (on Unix the copy replaces this
    /// process instead, and this is never returned).
    #[cfg_attr(unix, allow(dead_code))]
    Exited(u8),
    /// No instrumented copy could be built or started; why.
    Unavailable(String),
}

/// Build the instrumented copy (cargo prints its progress unless `quiet`) and run it with this
/// process's arguments. Returns only if that was impossible (or, off Unix, when the copy has
/// finished).
pub(super) fn build_and_run(build: &SelfBuild, quiet: bool) -> Result<Reexec, CliError> {
    let manifest = Path::new(build.manifest_path);
    if !manifest.is_file() {
        return Ok(Reexec::Unavailable(format!(
            "the sources this binary was built from are gone ({} is missing)",
            manifest.display()
        )));
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return Ok(Reexec::Unavailable(format!("cannot find this binary: {e}"))),
    };
    let target = match target_dir(manifest) {
        Ok(t) => t.join(TARGET_SUBDIR),
        Err(e) => return Ok(Reexec::Unavailable(e)),
    };
    note!(
        "vmfuzz: coverage on: building the instrumented copy in {} (cargo build --release; \
         the first build takes a few minutes; --coverage off skips it)",
        target.display()
    );
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--release", "--manifest-path"])
        .arg(manifest)
        .args(["-p", build.package, "--bin", build.bin, "--target-dir"])
        .arg(&target);
    if crate::planted::compiled() {
        // The copy must run the same engine: with the planted faults compiled in.
        cmd.args(["--features", "vmfuzz/planted-bugs"]);
    }
    if quiet {
        cmd.arg("-q");
    }
    cmd.env("RUSTC_WRAPPER", &me)
        .env(WRAPPER_ENV, build.instrument.join(","))
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            encoded_rustflags(build.instrument),
        )
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::from(std::io::stderr()));
    match std::env::var_os("RUSTC_WRAPPER") {
        Some(w) if !w.is_empty() => cmd.env(INNER_WRAPPER_ENV, w),
        _ => cmd.env_remove(INNER_WRAPPER_ENV),
    };
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => {
            return Ok(Reexec::Unavailable(format!(
                "cannot run cargo ({}): {e}",
                cargo().to_string_lossy()
            )))
        }
    };
    if let Some(sig) = signal_of(&status) {
        return Err(CliError::Interrupted(sig));
    }
    if !status.success() {
        return Ok(Reexec::Unavailable(format!(
            "the instrumented build failed ({status}); its errors are above"
        )));
    }
    let exe = target
        .join("release")
        .join(format!("{}{}", build.bin, std::env::consts::EXE_SUFFIX));
    let mut run = Command::new(&exe);
    run.args(std::env::args_os().skip(1)).env(CHILD_ENV, "1");
    exec(run, &exe)
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status
        .signal()
        .filter(|s| *s == super::signals::SIGINT || *s == super::signals::SIGTERM)
}

#[cfg(not(unix))]
fn signal_of(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

#[cfg(unix)]
fn exec(mut run: Command, exe: &Path) -> Result<Reexec, CliError> {
    use std::os::unix::process::CommandExt;
    let err = run.exec();
    Ok(Reexec::Unavailable(format!(
        "cannot start the instrumented copy {}: {err}",
        exe.display()
    )))
}

#[cfg(not(unix))]
fn exec(mut run: Command, exe: &Path) -> Result<Reexec, CliError> {
    match run.status() {
        Ok(s) => Ok(Reexec::Exited(
            s.code().map_or(2, |c| c.clamp(0, 255) as u8),
        )),
        Err(e) => Ok(Reexec::Unavailable(format!(
            "cannot start the instrumented copy {}: {e}",
            exe.display()
        ))),
    }
}

/// Is this process the instrumented copy started by [`build_and_run`]?
pub(super) fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_changes_with_the_crates() {
        let a = flags_stamp(SelfBuild::ENGINE_AND_MODEL);
        assert!(a.starts_with("--cfg=vmfuzz_sancov=\""), "{a}");
        assert_eq!(a, flags_stamp(SelfBuild::ENGINE_AND_MODEL));
        assert_ne!(a, flags_stamp(&["vmalloc_engine"]));
    }

    #[test]
    fn reads_a_json_string_field() {
        let j = r#"{"packages":[],"target_directory":"/a \"b\"\\c\u00e9","version":1}"#;
        assert_eq!(
            json_string_field(j, "target_directory").as_deref(),
            Some("/a \"b\"\\cé")
        );
        assert_eq!(json_string_field(j, "workspace_root"), None);
        assert_eq!(
            json_string_field(r#"{"target_directory":"/x"#, "target_directory"),
            None
        );
    }
}

//! The `vmfuzz` command line; see `vmfuzz --help`. It registers the subjects this workspace
//! ships (the engine, and the worked example `simple-vmalloc` with and without its bug) and
//! hands over to [`vmfuzz::cli::main_with_coverage`], with its coverage counters when it is
//! the instrumented build and, when it is not, how to build that copy of itself
//! (`docs/design.md` §5.4). A binary of your own can do the same with your allocator added to
//! the registry (and its crate to the instrumented list).

mod sancov;

use vmfuzz::cli::instrument::{CoverageSetup, SelfBuild};

/// The crates whose code coverage the campaign follows: the engine, the model and the
/// example subject.
const INSTRUMENTED: &[&str] = &["vmalloc_engine", "vmalloc_reference", "simple_vmalloc"];

fn main() -> std::process::ExitCode {
    let setup = CoverageSetup {
        counters: sancov::counters(),
        build: Some(SelfBuild {
            manifest_path: concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            package: env!("CARGO_PKG_NAME"),
            bin: env!("CARGO_BIN_NAME"),
            instrument: INSTRUMENTED,
        }),
    };
    vmfuzz::cli::main_with_coverage(
        vmfuzz::subjects::Registry::builtin()
            .with(simple_vmalloc::SUBJECT)
            .with(simple_vmalloc::SUBJECT_FIXED),
        setup,
    )
}

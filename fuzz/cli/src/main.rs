//! The `vmfuzz` command line; see `vmfuzz --help`. It registers the subjects this workspace
//! ships and hands over to [`vmfuzz::cli::main_with_coverage`], with its coverage counters
//! when it is the instrumented build and, when it is not, how to build that copy of itself
//! (`docs/design.md` §5.4). A binary of your own can do the same with your allocator added to
//! the registry.

mod sancov;

use vmfuzz::cli::instrument::{CoverageSetup, SelfBuild};

fn main() -> std::process::ExitCode {
    let setup = CoverageSetup {
        counters: sancov::counters(),
        build: Some(SelfBuild {
            manifest_path: concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            package: env!("CARGO_PKG_NAME"),
            bin: env!("CARGO_BIN_NAME"),
            instrument: SelfBuild::ENGINE_AND_MODEL,
        }),
    };
    vmfuzz::cli::main_with_coverage(vmfuzz::subjects::Registry::builtin(), setup)
}

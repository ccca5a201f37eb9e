//! The `vmfuzz` command line; see `vmfuzz --help`. It registers the subjects this workspace
//! ships (the engine, and the worked example `simple-vmalloc` with and without its bug) and
//! hands over to [`vmfuzz::cli::main_with`]; a binary of your own can do the same with your
//! allocator added to the registry.
fn main() -> std::process::ExitCode {
    vmfuzz::cli::main_with(
        vmfuzz::subjects::Registry::builtin()
            .with(simple_vmalloc::SUBJECT)
            .with(simple_vmalloc::SUBJECT_FIXED),
    )
}

//! The `vmfuzz` command line; see `vmfuzz --help`.
fn main() -> std::process::ExitCode {
    vmfuzz::cli::main()
}

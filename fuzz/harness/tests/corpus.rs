//! Replays every file under `corpus/` through the differential executor, one test per file, so
//! a failure names the file; a corrupt file is a clear error naming it while the others still
//! run. Files that expect a planted fault run when the engine is built with its
//! `planted-bugs` feature (as in `cargo test --workspace`) and are ignored otherwise.

use std::path::PathBuf;

use libtest_mimic::{Arguments, Failed, Trial};
use vmfuzz::replay::{replay_file, Replayed};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let files = match vmfuzz::load::collect(std::slice::from_ref(&root)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot list the corpus: {e}");
            std::process::exit(101);
        }
    };
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let planted_only = std::fs::read_to_string(&path)
                .map(|t| {
                    t.lines()
                        .any(|l| l.starts_with("expect:") && l.contains(" under "))
                })
                .unwrap_or(false);
            let ignored = planted_only && vmfuzz::adapter::engine::planted_names().is_empty();
            Trial::test(name, move || match replay_file(&path) {
                Ok(Replayed::Pass) => Ok(()),
                Ok(Replayed::Skipped(why)) => Err(Failed::from(why)),
                Ok(Replayed::Fail(why, finding)) => Err(Failed::from(match finding {
                    Some(f) => format!("{}: {why}\n{f}", path.display()),
                    None => format!("{}: {why}", path.display()),
                })),
                Err(e) => Err(Failed::from(format!("corrupt corpus file: {e}"))),
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

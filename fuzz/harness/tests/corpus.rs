//! Replays every file under `corpus/` through the differential executor, one test per file, so
//! a failure names the file. Every file there is read as a trace and nothing else
//! (`docs/design.md` §5.2): a mistyped header, a byte-order mark, an empty or binary file fails its own test,
//! naming the file and the line, while the others still run; an entry that cannot be listed (a
//! looping symlink, an unreadable folder) fails as a test of its own. Files that expect a
//! planted fault run when the engine is built with its `planted-bugs` feature (as in `cargo
//! test --workspace`) and are ignored otherwise; an unknown planted fault name fails.

use std::path::PathBuf;

use libtest_mimic::{Arguments, Failed, Trial};
use vmfuzz::load::ReadAs;
use vmfuzz::replay::{replay_file, Replayed};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let trials = vmfuzz::load::collect(std::slice::from_ref(&root))
        .into_iter()
        .map(|entry| {
            let path = match entry {
                Ok(p) => p,
                Err(e) => {
                    let name = e.path.strip_prefix(&root).unwrap_or(&e.path).display();
                    let name = format!("{name} (unlistable)");
                    return Trial::test(name, move || {
                        Err(Failed::from(format!("corpus entry cannot be read: {e}")))
                    });
                }
            };
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
            let ignored = planted_only && !vmfuzz::planted::compiled();
            Trial::test(name, move || match replay_file(&path, ReadAs::Trace) {
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

//! Everything the CLI writes: standard output that ends quietly on a closed pipe or a full
//! disk (never a panic), output folders checked before any work, and files that are created
//! exclusively and atomically so a finding is never overwritten or half-written (`docs/design.md`
//! §5.3).

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a command stopped early. Each maps to an exit status ([`CliError::status`]).
#[derive(Debug)]
pub enum CliError {
    /// A usage or input error (status 2); the message names what is wrong.
    Usage(String),
    /// Standard output could not be written (a closed pipe: status 141, silently; anything
    /// else, such as a full disk: status 2 with one line on standard error).
    Output(io::Error),
    /// SIGINT (status 130) or SIGTERM (status 143) arrived.
    Interrupted(i32),
}

impl CliError {
    /// The process exit status.
    pub fn status(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 141,
            CliError::Output(_) => 2,
            CliError::Interrupted(sig) => (128 + sig).clamp(0, 255) as u8,
        }
    }
}

impl<T: fmt::Display> From<T> for CliError {
    fn from(e: T) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// Write one line to standard output. Use through the `outln!` macro of this module.
pub fn write_line(args: fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(CliError::Output)
}

/// Write text (no newline added) to standard output.
pub fn write_text(text: &str) -> Result<(), CliError> {
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(CliError::Output)
}

/// Flush standard output (the last lines of a command may still be buffered).
pub fn flush() -> Result<(), CliError> {
    io::stdout().flush().map_err(CliError::Output)
}

/// Write one line to standard error, ignoring failure (nowhere is left to report it).
pub fn write_note(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// `println!` for the CLI: a failed write returns [`CliError::Output`] from the calling
/// function instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::output::write_line(format_args!($($t)*))?
    };
}
pub(crate) use outln;

/// `eprintln!` for the CLI: never panics.
macro_rules! note {
    ($($t:tt)*) => {
        $crate::cli::output::write_note(format_args!($($t)*))
    };
}
pub(crate) use note;

/// Create `dir` (and its parents) and prove it can be written, before any work is done: an
/// unwritable output folder is a usage error naming the folder.
pub fn prepare_dir(dir: &Path, what: &str) -> Result<(), CliError> {
    let fail =
        |e: io::Error| CliError::Usage(format!("{what} {} cannot be written: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".vmfuzz-write-test-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(fail)
}

/// Check that the folder a file will be written into exists and is writable.
pub fn prepare_file(path: &Path, what: &str) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    prepare_dir(&dir, what)
}

/// Write `bytes` to a temporary file in `dir` and flush it to disk; the caller links or
/// renames it into place, so no reader ever sees a half-written file.
fn write_temp(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    write_temp_with(dir, bytes, true)
}

/// As [`write_temp`]; `sync` flushes the file to disk first (a finding must survive a crash of
/// the machine; an input of the working corpus need not, and a campaign saves hundreds).
fn write_temp_with(dir: &Path, bytes: &[u8], sync: bool) -> io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".vmfuzz-tmp-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(mut f) => {
                let done = f
                    .write_all(bytes)
                    .and_then(|()| if sync { f.sync_all() } else { Ok(()) });
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
                return Ok(tmp);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Save `bytes` as a **new** file `dir/<stem>-<n>.<ext>` with the smallest free `n` (from 0),
/// atomically: the content is written and flushed under a temporary name, then linked to the
/// final name, which fails rather than replace a file another process created meanwhile.
/// Two campaigns writing into one folder thus keep both findings.
pub fn save_new(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let tmp = write_temp(dir, bytes)?;
    let mut n = 0u64;
    let result = loop {
        let path = dir.join(format!("{stem}-{n}.{ext}"));
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => break Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => break Err(e),
        }
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Save `bytes` as `path` exactly, atomically: created fresh, or, when `replace` is set,
/// replacing an existing file in one rename. Without `replace` an existing file is an error.
pub fn save_at(path: &Path, bytes: &[u8], replace: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = write_temp(&dir, bytes)?;
    let result = if replace {
        std::fs::rename(&tmp, path)
    } else {
        std::fs::hard_link(&tmp, path)
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The file name of a working-corpus input: its content hash, 32 hex digits (FNV-1a, 128
/// bits: the same on every run and build, so an input already saved is never saved twice).
pub fn content_name(bytes: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let h = bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME));
    format!("{h:032x}")
}

/// Save `bytes` as a new file `path` (never replacing one), written under a temporary name and
/// linked into place, without waiting for the disk: for the working corpus, where a file lost
/// in a crash of the machine costs nothing and a campaign saves many. Readers never see a
/// half-written file.
pub fn save_new_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = write_temp_with(&dir, bytes, false)?;
    let result = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_names_are_fnv1a_128() {
        // The FNV-1a 128 offset basis is the hash of no bytes; one byte changes it.
        assert_eq!(content_name(b""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(content_name(b"a").len(), 32);
        assert_ne!(content_name(b"a"), content_name(b"b"));
    }

    #[test]
    fn save_new_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("vmfuzz-save-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        prepare_dir(&dir, "test folder").unwrap();
        let a = save_new(&dir, "leak", "trace", b"first").unwrap();
        let b = save_new(&dir, "leak", "trace", b"second").unwrap();
        assert_eq!(a, dir.join("leak-0.trace"));
        assert_eq!(b, dir.join("leak-1.trace"));
        assert_eq!(std::fs::read(&a).unwrap(), b"first");
        assert_eq!(std::fs::read(&b).unwrap(), b"second");
        // No temporary or probe file is left behind.
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["leak-0.trace", "leak-1.trace"]);
        assert!(save_at(&a, b"x", false).is_err());
        assert!(save_new_unsynced(&a, b"x").is_err());
        save_new_unsynced(&dir.join("c"), b"fourth").unwrap();
        assert_eq!(std::fs::read(dir.join("c")).unwrap(), b"fourth");
        std::fs::remove_file(dir.join("c")).unwrap();
        save_at(&a, b"third", true).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"third");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

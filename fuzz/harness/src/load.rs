//! Loading inputs from files: readable traces (`vmfuzz-trace v1` ...) or raw fuzzer inputs
//! (libFuzzer, AFL++ and bolero byte files).
//!
//! **A file is read as a trace unless raw bytes are asked for explicitly** (`docs/design.md` §5.2),
//! so that a trace with a typo in its header, a byte-order mark or no content at all is an error
//! that names the file and the line, never an input silently decoded from its bytes and
//! expected clean. The rule, applied by [`ReadAs::Detect`]:
//! - a file named `*.trace` is a trace;
//! - a file inside a fuzzer's artifact or working folder (a path component `artifacts`,
//!   `crashes`, `hangs` or `queue`, or a `fuzz/corpus/` folder) that does not start with the
//!   trace header is raw bytes;
//! - any other file that looks like text (no NUL byte, no control character besides tab,
//!   line feed, carriage return and form feed) is a trace, the empty file included;
//! - anything else is an error saying how to read it as raw bytes (`--raw` or `convert`).
//!
//! Files under the committed `corpus/` are read with [`ReadAs::Trace`]: traces only.
//!
//! Reads are bounded: only regular files are opened (a FIFO, `/dev/zero` or a socket is an
//! error, not a hang), they are opened non-blocking (so `/proc/kmsg` cannot block), and at
//! most [`MAX_FILE_BYTES`] are read (a trace holds at most 200 ops: a few KiB).

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::codec;
use crate::text::{self, Trace, HEADER_V1};

/// The largest input file read, in bytes (4 MiB). A 200-op trace with comments is a few KiB
/// and a fuzzer input that decodes to 200 ops is under 16 KiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a file could not be loaded. Names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for LoadError {}

/// How to read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAs {
    /// A text trace and nothing else (the committed corpus).
    Trace,
    /// Raw fuzzer bytes, whatever the file looks like (`--raw`).
    Raw,
    /// The rule of the module documentation (`replay`, `explain`, `minimize`).
    Detect,
    /// As [`ReadAs::Detect`], but binary content is raw bytes wherever the file is (`convert`,
    /// whose job is turning fuzzer bytes into traces).
    Convert,
}

/// A loaded input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The input, with the trace's `expect:` line and header comments (for raw bytes:
    /// `expect: clean` and no comments).
    pub trace: Trace,
    /// The file held raw fuzzer bytes: it carries no expectation, so replaying it passes when
    /// no finding is made (a run that ends in a BUG or hang on both sides is not a finding).
    pub raw: bool,
}

/// Does the content start with the trace header (after blank space)?
fn starts_with_header(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"vmfuzz-trace")
}

/// Does the content look like text rather than fuzzer bytes? No NUL byte and no control
/// character other than tab, line feed, form feed and carriage return. Bytes of 0x80 and
/// above are allowed (a text file in another encoding fails later, naming the line).
pub fn looks_like_text(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        && !bytes.contains(&0x7f)
}

/// Is the file inside a fuzzer's artifact or working folder?
pub fn in_fuzzer_folder(path: &Path) -> bool {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let parent = &parts[..parts.len().saturating_sub(1)];
    parent
        .iter()
        .any(|p| matches!(p.as_str(), "artifacts" | "crashes" | "hangs" | "queue"))
        || parent
            .windows(2)
            .any(|w| w[0] == "fuzz" && w[1] == "corpus")
}

/// Read at most [`MAX_FILE_BYTES`] of a regular file, without ever blocking.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, LoadError> {
    let err = |message: String| LoadError {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot open: {e}")))?;
    if meta.is_dir() {
        return Err(err("is a directory".into()));
    }
    if !meta.is_file() {
        return Err(err(
            "not a regular file (a device, FIFO or socket); inputs are read from regular files"
                .into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "{} bytes; input files are at most {MAX_FILE_BYTES} bytes (4 MiB)",
            meta.len()
        )));
    }
    let file = open_nonblocking(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(format!(
            "more than {MAX_FILE_BYTES} bytes; input files are at most 4 MiB"
        )));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a file that only looks regular (procfs) returns what it has instead of
    // waiting for more.
    const O_NONBLOCK: i32 = 0o4000;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Parse the bytes of a trace file. A non-UTF-8 file is an error naming the first bad line.
pub fn parse_trace_bytes(bytes: &[u8]) -> Result<Trace, String> {
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(format!(
                "line {line}: not valid UTF-8 (a trace is UTF-8 text; raw fuzzer bytes are read \
                 with `--raw` or `vmfuzz convert`)"
            ));
        }
    };
    if s.starts_with('\u{feff}') {
        return Err(format!(
            "line 1: the file starts with a UTF-8 byte-order mark; remove it (the first line \
             must be exactly `{HEADER_V1}`)"
        ));
    }
    text::parse(s).map_err(|e| e.to_string())
}

/// Load one file, read as `how` says (see the module documentation).
pub fn load(path: &Path, how: ReadAs) -> Result<Loaded, LoadError> {
    let err = |message: String| LoadError {
        path: path.to_path_buf(),
        message,
    };
    let bytes = read_bounded(path)?;
    let is_trace_name = path.extension().is_some_and(|e| e == "trace");
    let raw = match how {
        ReadAs::Trace => false,
        ReadAs::Raw => true,
        ReadAs::Detect | ReadAs::Convert if is_trace_name => false,
        ReadAs::Detect | ReadAs::Convert if starts_with_header(&bytes) => false,
        ReadAs::Detect | ReadAs::Convert if in_fuzzer_folder(path) => true,
        ReadAs::Detect | ReadAs::Convert if looks_like_text(&bytes) => false,
        ReadAs::Convert => true,
        ReadAs::Detect => {
            return Err(err(
                "binary content outside a fuzzer artifact folder: raw fuzzer bytes are read \
                 only from fuzz/artifacts, fuzz/corpus and AFL's crashes/hangs/queue folders, \
                 with `--raw`, or by `vmfuzz convert`"
                    .into(),
            ))
        }
    };
    if raw {
        return Ok(Loaded {
            trace: Trace {
                input: codec::decode(&bytes),
                expect: text::Expect::Clean,
                comments: Vec::new(),
            },
            raw: true,
        });
    }
    let trace = parse_trace_bytes(&bytes).map_err(err)?;
    Ok(Loaded { trace, raw: false })
}

/// One entry of a listing: a file to load, or an entry that could not be listed.
pub type Entry = Result<PathBuf, LoadError>;

/// Expand files and directories, recursively and sorted. Hidden entries (`.name`) and
/// Markdown files (`*.md`, the folders' READMEs) are skipped, as `--help` says; every other
/// entry is listed, and one that cannot be read (a looping or dangling symlink, a folder
/// without permission, a directory cycle) is listed as an error for that entry while the
/// rest are still listed.
pub fn collect(paths: &[PathBuf]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut on_path = Vec::new();
    for p in paths {
        walk(p, &mut out, &mut on_path);
    }
    out
}

/// A directory's identity, to detect cycles through symlinks.
#[cfg(unix)]
fn dir_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

fn walk(p: &Path, out: &mut Vec<Entry>, on_path: &mut Vec<(u64, u64)>) {
    let err = |message: String| LoadError {
        path: p.to_path_buf(),
        message,
    };
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => return out.push(Err(err(format!("cannot open: {e}")))),
    };
    if !meta.is_dir() {
        out.push(Ok(p.to_path_buf()));
        return;
    }
    let id = dir_id(&meta);
    if cfg!(unix) && on_path.contains(&id) {
        return out.push(Err(err(
            "directory cycle (a symlink to a folder that contains it); not followed".into(),
        )));
    }
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e) => return out.push(Err(err(format!("cannot list: {e}")))),
    };
    let mut entries = Vec::new();
    for e in rd {
        match e {
            Ok(e) => entries.push(e.path()),
            Err(e) => out.push(Err(err(format!("cannot list an entry: {e}")))),
        }
    }
    entries.sort();
    on_path.push(id);
    for e in entries {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        walk(&e, out, on_path);
    }
    on_path.pop();
}

/// The committed corpus directory of this repository (`corpus/` at the workspace root).
pub fn default_corpus_dir() -> PathBuf {
    let here = Path::new("corpus");
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// The built-in campaign's working corpus (`fuzz/corpus/vmfuzz/` at the workspace root,
/// git-ignored), found the way [`default_corpus_dir`] finds `corpus/`. Its files are raw fuzzer
/// inputs: [`in_fuzzer_folder`] holds for them.
pub fn default_working_corpus_dir() -> PathBuf {
    if Path::new("corpus").is_dir() {
        return PathBuf::from("fuzz/corpus/vmfuzz");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/vmfuzz")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzer_folders_are_recognised_by_path() {
        assert!(in_fuzzer_folder(Path::new(
            "fuzz/artifacts/differential/crash-1"
        )));
        assert!(in_fuzzer_folder(Path::new("out/default/crashes/id:0")));
        assert!(in_fuzzer_folder(Path::new("/x/fuzz/corpus/vmfuzz/abc")));
        assert!(!in_fuzzer_folder(Path::new("corpus/seeds/a.trace")));
        assert!(!in_fuzzer_folder(Path::new("crashes")));
        assert!(!in_fuzzer_folder(Path::new("/tmp/input.bin")));
    }

    #[test]
    fn text_and_bytes() {
        assert!(looks_like_text(b""));
        assert!(looks_like_text("vmfuzz_trace v1\r\n\tx é".as_bytes()));
        assert!(!looks_like_text(b"abc\0def"));
        assert!(!looks_like_text(b"\x01\x02"));
    }

    #[test]
    fn bad_traces_name_the_line() {
        let e = parse_trace_bytes(b"vmfuzz-trace v1\nvmalloc 0x1000\n\xff\n").unwrap_err();
        assert!(e.starts_with("line 3: not valid UTF-8"), "{e}");
        let e = parse_trace_bytes("\u{feff}vmfuzz-trace v1\n".as_bytes()).unwrap_err();
        assert!(e.starts_with("line 1: the file starts with a UTF-8 byte-order mark"));
        let e = parse_trace_bytes(b"").unwrap_err();
        assert!(e.starts_with("line 1: empty trace"), "{e}");
        let e = parse_trace_bytes(b"vmfuzz_trace v1\nexpect: leak\n").unwrap_err();
        assert!(e.starts_with("line 1: expected `vmfuzz-trace v1`"), "{e}");
    }
}

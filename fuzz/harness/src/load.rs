//! Loading inputs from files: readable traces (`vmfuzz-trace v1` ...) or raw fuzzer inputs
//! (libFuzzer/AFL/bolero byte files), decided by the first line.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::codec;
use crate::text::{self, Expect, Trace};

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

/// Does this content look like a text trace (rather than raw fuzzer bytes)?
pub fn is_text_trace(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"vmfuzz-trace")
}

/// Load one file: a text trace is parsed (errors name the line); anything else is decoded as a
/// raw fuzzer input (which always succeeds) and expected to be clean.
pub fn load(path: &Path) -> Result<Trace, LoadError> {
    let err = |message: String| LoadError {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if is_text_trace(&bytes) {
        let s = std::str::from_utf8(&bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
        text::parse(s).map_err(|e| err(e.to_string()))
    } else {
        Ok(Trace {
            input: codec::decode(&bytes),
            expect: Expect::Clean,
            comments: Vec::new(),
        })
    }
}

/// Expand files and directories (recursively, sorted, skipping hidden files and `*.md`).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let meta = std::fs::metadata(p).map_err(|e| LoadError {
        path: p.to_path_buf(),
        message: format!("cannot open: {e}"),
    })?;
    if meta.is_dir() {
        let rd = std::fs::read_dir(p).map_err(|e| LoadError {
            path: p.to_path_buf(),
            message: format!("cannot list: {e}"),
        })?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            walk(&e, out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// The committed corpus directory of this repository (`corpus/` at the workspace root).
pub fn default_corpus_dir() -> PathBuf {
    let here = Path::new("corpus");
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

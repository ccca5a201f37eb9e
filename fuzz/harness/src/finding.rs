//! Findings: what the oracles report, in a form a person can act on.
//!
//! `contract §N` cites a section of `docs/contract.md`.

use std::fmt;

/// What kind of bug a finding shows (the kinds the README lists under "What is checked").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A frame, VA or metadata object that nothing owns (I5), at an op or at the end check.
    Leak,
    /// Busy areas that intersect (I1), or a frame owned twice.
    Overlap,
    /// A different address or VA extent than exact lowest fit (R2–R4).
    WrongPlacement,
    /// A PTE, table entry, table page or data PFN that differs from the model (R7, I3, I4, I8, I9).
    WrongMapping,
    /// Bytes read through a mapping differ (`__GFP_ZERO`, poison, writes; contract §3).
    WrongData,
    /// A failure (NULL, warning, BUG, residue) that differs from the model (R1, R3, R8, R10, R13).
    WrongFailureHandling,
    /// Any other difference between the engine's and the model's state.
    Divergence,
    /// An invariant of the engine's own state is broken (I2, I6, ...).
    InvariantBroken,
    /// The engine panicked.
    EnginePanic,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 9] = [
        Self::Leak,
        Self::Overlap,
        Self::WrongPlacement,
        Self::WrongMapping,
        Self::WrongData,
        Self::WrongFailureHandling,
        Self::Divergence,
        Self::InvariantBroken,
        Self::EnginePanic,
    ];

    /// Trace name (`expect: <name> under <planted bug>`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Leak => "leak",
            Self::Overlap => "overlap",
            Self::WrongPlacement => "wrong_placement",
            Self::WrongMapping => "wrong_mapping",
            Self::WrongData => "wrong_data",
            Self::WrongFailureHandling => "wrong_failure_handling",
            Self::Divergence => "divergence",
            Self::InvariantBroken => "invariant_broken",
            Self::EnginePanic => "engine_panic",
        }
    }

    /// Parse a trace name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding: what broke, where, expected vs actual, and how to reproduce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The kind.
    pub kind: FindingKind,
    /// Index of the op (in the trace) after which it was seen; `None` for the end-of-input check.
    pub op_index: Option<usize>,
    /// The op as a trace line, with the resolved call.
    pub op: String,
    /// One line saying what is wrong.
    pub summary: String,
    /// The model's side (expected).
    pub expected: String,
    /// The subject's side (actual).
    pub actual: String,
    /// The command that reproduces it, once the input is saved somewhere.
    pub reproduce: Option<String>,
    /// The oracle that made it (`crate::oracle::names`), or "" for one made elsewhere (a
    /// panic, a machine a side refused).
    pub oracle: &'static str,
}

impl Finding {
    /// A finding without a reproduce command yet.
    pub fn new(
        kind: FindingKind,
        op_index: Option<usize>,
        op: impl Into<String>,
        summary: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Finding {
            kind,
            op_index,
            op: op.into(),
            summary: summary.into(),
            expected: expected.into(),
            actual: actual.into(),
            reproduce: None,
            oracle: "",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op_index {
            Some(i) => writeln!(f, "vmfuzz finding: {} at op {i}: {}", self.kind, self.op)?,
            None => writeln!(
                f,
                "vmfuzz finding: {} at the end-of-input check: {}",
                self.kind, self.op
            )?,
        }
        if self.oracle.is_empty() {
            writeln!(f, "  {}", self.summary)?;
        } else {
            writeln!(f, "  {} (oracle: {})", self.summary, self.oracle)?;
        }
        if self.expected != self.actual {
            writeln!(f, "diff (< model, expected | > engine, actual):")?;
            write!(f, "{}", diff_text(&self.expected, &self.actual))?;
            writeln!(f)?;
        }
        if let Some(cmd) = &self.reproduce {
            writeln!(f, "reproduce: {cmd}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Finding {}

/// A line diff of `a` (expected) and `b` (actual), in colour only on a terminal (reports also
/// go to files and CI logs) and unless `NO_COLOR` is set.
pub fn diff_text(a: &str, b: &str) -> String {
    let full = pretty_assertions::StrComparison::new(a, b).to_string();
    // pretty_assertions opens with its own "Diff < left / right > :" heading; callers print
    // theirs (which says which side is the model), so drop it.
    let diff = match full.split_once('\n') {
        Some((first, rest)) if strip_ansi(first).starts_with("Diff ") => rest.to_string(),
        _ => full,
    };
    if std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none()
    {
        diff
    } else {
        strip_ansi(&diff)
    }
}

/// Remove ANSI colour sequences (`ESC [ ... m`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(strip_ansi("\u{1b}[31m<a\u{1b}[0m b"), "<a b");
    }
}

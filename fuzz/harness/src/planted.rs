//! The engine's planted faults (`docs/design.md` §4.3), by name: which exist, whether this build
//! has them compiled in (the `planted-bugs` feature), and the command lines that reproduce a
//! finding made under one.

use vmalloc_engine as e;

/// Why a planted-fault name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlantedError {
    /// No planted fault has this name.
    Unknown(String),
    /// The fault exists, but this build lacks the `planted-bugs` feature.
    NotCompiled(String),
}

impl std::fmt::Display for PlantedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlantedError::Unknown(name) => write!(
                f,
                "unknown planted fault {name:?}; known: {} (`--planted list` describes them)",
                names().join(", ")
            ),
            PlantedError::NotCompiled(name) => write!(
                f,
                "planted fault {name} needs a build with the planted-bugs feature: {}",
                build_hint()
            ),
        }
    }
}

impl std::error::Error for PlantedError {}

/// Every planted fault's name, in the engine's order.
pub fn names() -> Vec<&'static str> {
    e::PlantedBug::ALL.iter().map(|b| b.name()).collect()
}

/// Every planted fault: its name and one line saying what it breaks.
pub fn list() -> Vec<(&'static str, &'static str)> {
    e::PlantedBug::ALL
        .iter()
        .map(|b| (b.name(), b.summary()))
        .collect()
}

/// Are the planted faults compiled into this build?
pub fn compiled() -> bool {
    e::PLANTED_BUGS_COMPILED
}

/// Can this build run under the planted fault `name`?
pub fn check_name(name: &str) -> Result<(), PlantedError> {
    if e::PlantedBug::from_name(name).is_none() {
        return Err(PlantedError::Unknown(name.to_string()));
    }
    if !compiled() {
        return Err(PlantedError::NotCompiled(name.to_string()));
    }
    Ok(())
}

/// How to get a build with the planted faults.
pub fn build_hint() -> &'static str {
    "cargo run --release -q -p vmfuzz-cli --features planted-bugs -- <command>"
}

/// The `cargo` prefix that runs `vmfuzz` as a finding needs: with the `planted-bugs` feature
/// when a planted fault is involved.
pub fn cargo_prefix(planted: Option<&str>) -> String {
    match planted {
        Some(_) => "cargo run --release -q -p vmfuzz-cli --features planted-bugs --".into(),
        None => "cargo vmfuzz".into(),
    }
}

//! Subjects: the allocators vmfuzz can fuzz against the reference model, by name. The engine
//! (`vmalloc-engine`) is one; anyone can add their own without editing this library: implement
//! [`Kernel`] (and [`RawMemory`](crate::subject::RawMemory) if the allocator simulates
//! physical memory), describe it as a [`Subject`], and run the command line with a
//! [`Registry`] that holds it (`vmfuzz::cli::main_with`, feature `cli`). The workspace's
//! `vmfuzz` binary registers the engine and the worked example `simple-vmalloc`
//! (`examples/simple-vmalloc/`).

use std::fmt;

use crate::adapter::engine::EngineKernel;
use crate::adapter::model::ModelKernel;
use crate::exec::{self, Report, RunOptions, Step};
use crate::finding::{Finding, FindingKind};
use crate::ops::Machine;
use crate::subject::Kernel;

/// Builds a subject for a machine, with a planted fault switched on (`Some` only for subjects
/// that have planted faults: others return an error).
pub type MakeSubject = fn(&Machine, Option<&str>) -> Result<Box<dyn Kernel>, String>;

/// A named allocator to fuzz against the model.
#[derive(Clone, Copy)]
pub struct Subject {
    /// The name `--subject` takes.
    pub name: &'static str,
    /// One line saying what it is.
    pub about: &'static str,
    /// Its constructor.
    pub make: MakeSubject,
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subject").field("name", &self.name).finish()
    }
}

fn setup_finding(what: &str, err: String) -> Box<Finding> {
    Box::new(Finding::new(
        FindingKind::Divergence,
        None,
        "machine setup",
        format!("the {what} refused the machine: {err}"),
        "",
        "",
    ))
}

impl Subject {
    /// Run one input on this subject against the model, every oracle on. `Err` is the first
    /// finding.
    pub fn check(
        &self,
        input: &crate::ops::Input,
        opts: &RunOptions,
    ) -> Result<Report, Box<Finding>> {
        self.check_recorded(input, opts).1
    }

    /// As [`Subject::check`], also returning the step log (when `opts.record` is set).
    pub fn check_recorded(
        &self,
        input: &crate::ops::Input,
        opts: &RunOptions,
    ) -> (Vec<Step>, Result<Report, Box<Finding>>) {
        let mut subject = match (self.make)(&input.machine, opts.planted.as_deref()) {
            Ok(s) => s,
            Err(err) => return (Vec::new(), Err(setup_finding(self.name, err))),
        };
        let mut model = match ModelKernel::new(&input.machine) {
            Ok(m) => m,
            Err(err) => return (Vec::new(), Err(setup_finding("model", err))),
        };
        let (report, finding) = exec::run_full(input, &mut *subject, &mut model, opts);
        let steps = report.steps.clone();
        match finding {
            Some(f) => (steps, Err(f)),
            None => (steps, Ok(report)),
        }
    }
}

fn make_engine(machine: &Machine, planted: Option<&str>) -> Result<Box<dyn Kernel>, String> {
    Ok(Box::new(EngineKernel::new(machine, planted)?))
}

/// The engine (`vmalloc-engine`), the system under test.
pub const ENGINE: Subject = Subject {
    name: "engine",
    about: "vmalloc-engine: the 4.19 vmalloc path over simulated memory with real x86-64 page \
            tables (the system under test)",
    make: make_engine,
};

/// The subjects a command line knows.
#[derive(Debug, Clone)]
pub struct Registry {
    subjects: Vec<Subject>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The subjects this library ships: the engine.
    pub fn builtin() -> Registry {
        Registry {
            subjects: vec![ENGINE],
        }
    }

    /// This registry and `subject` (a later subject with a taken name replaces the earlier).
    pub fn with(mut self, subject: Subject) -> Registry {
        self.subjects.retain(|s| s.name != subject.name);
        self.subjects.push(subject);
        self
    }

    /// Every subject, in registration order (the engine first).
    pub fn list(&self) -> &[Subject] {
        &self.subjects
    }

    /// The subject called `name`.
    pub fn get(&self, name: &str) -> Result<Subject, String> {
        self.subjects
            .iter()
            .find(|s| s.name == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = self.subjects.iter().map(|s| s.name).collect();
                format!(
                    "unknown subject {name:?}; known: {} (`--subject list` describes them)",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_finds_and_replaces_by_name() {
        let r = Registry::builtin();
        assert_eq!(r.get("engine").map(|s| s.name), Ok("engine"));
        assert!(r.get("nope").unwrap_err().contains("known: engine"));
        let other = Subject {
            name: "other",
            about: "",
            make: make_engine,
        };
        let r = r.with(other).with(other);
        let names: Vec<&str> = r.list().iter().map(|s| s.name).collect();
        assert_eq!(names, ["engine", "other"]);
    }
}

//! The differential executor: resolve each op to a concrete call, apply it to the model and
//! to the subject, observe both, and run the oracle pipeline ([`crate::oracle::PIPELINE`]: the
//! named checks, in their documented order) on the observation; at the end of the input free
//! everything and prove nothing leaked ([`crate::oracle::end_of_input`]).
//!
//! The loop is deliberately short: every comparison lives in an oracle. What the executor
//! decides is *what* the oracles see: the [`Scope`] of each observation (the whole state, or
//! what the call touched: [`scope`]), the subject's page tables walked once per call in that
//! scope, and when a whole-state check runs between calls (before an input's last op, whose
//! BUG would leave no state to check).
//!
//! `design §N` cites a section of `docs/design.md`.

pub mod alias;
pub mod call;
pub mod derive;
pub mod reslot;
pub mod scope;
pub mod tracker;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use call::{apply, Call, Outcome};
pub use scope::FullChecks;
pub use tracker::{Handle, HandleKind, Tracker};

use crate::behaviour::{Behaviours, Feature};
use crate::finding::{Finding, FindingKind};
use crate::ops::{Input, Machine, OpKind, Paging};
use crate::oracle::walk::{self, WalkParams, WalkResult};
use crate::oracle::{self, Inspect, Observation, Oracle, Scope, Side};
use crate::subject::{Event, Fatal, Kernel, RawMemory, Reference, StateView};

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep a step-by-step log (for `explain`).
    pub record: bool,
    /// Translate at most this many VAs through the `x86_64` crate per observation (an even
    /// sample above it).
    pub crosscheck_limit: usize,
    /// Run the end-of-input cleanup and leak check.
    pub end_check: bool,
    /// The engine's planted fault to switch on (`planted-bugs` builds only; design §4.3).
    pub planted: Option<String>,
    /// When the whole-state checks run.
    pub full_checks: FullChecks,
    /// Which oracles judge the run: all of them, or one of the weaker baselines of the
    /// detection benchmark ([`OracleMode`]).
    pub oracles: OracleMode,
}

/// Which oracles judge a run. [`OracleMode::Full`] is vmfuzz; the other two are the weaker
/// oracles that `vmfuzz bench detect` measures it against (design §5.9): the same inputs, the
/// same executor, but only what a crash-only fuzzer (syzkaller) or a non-NULL check
/// (`lib/test_vmalloc.c`) would see counts as a finding. The model still runs in the weak
/// modes, for two things only: to tell a BUG the input asks for (the model BUGs too: a fuzzer
/// would filter it as expected) from one the fault causes, and to tell a NULL the input
/// earns (the model fails too) from one it does not. The subject is driven by its own results
/// ([`alias`]): after a first silent difference it is handed its own addresses and PFNs, as a
/// real caller would hand them, not the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OracleMode {
    /// Every oracle of the pipeline and the end-of-input check.
    #[default]
    Full,
    /// A crash, or an allocating call that returns NULL where the model's succeeds
    /// ([`oracle::weak`]).
    NonNullOnly,
    /// Only a crash: a panic, or a BUG, oops or hang of the subject that the model does not
    /// have ([`oracle::weak`]).
    CrashOnly,
}

impl OracleMode {
    /// Every mode, strongest first.
    pub const ALL: [OracleMode; 3] = [Self::Full, Self::NonNullOnly, Self::CrashOnly];

    /// The mode's name on the command line and in the benchmark's tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::NonNullOnly => "non-null",
            Self::CrashOnly => "crash",
        }
    }

    /// Parse [`OracleMode::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            record: false,
            crosscheck_limit: 64,
            end_check: true,
            planted: None,
            full_checks: FullChecks::EveryOp,
            oracles: OracleMode::Full,
        }
    }
}

/// One executed call, for `explain`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Op index in the input (cleanup calls continue the numbering).
    pub index: usize,
    /// The op as written (or `cleanup`).
    pub op: String,
    /// The resolved call, `None` if the op was skipped.
    pub call: Option<String>,
    /// The model's result.
    pub model: String,
    /// The subject's result.
    pub subject: String,
    /// The model's events.
    pub events: Vec<Event>,
}

/// What a clean run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Ops that ran (cleanup calls included).
    pub calls: usize,
    /// Ops skipped because nothing could resolve their slots, or the subject does not
    /// support their kind.
    pub skipped: usize,
    /// The BUG or hang that ended the input early, identical on both sides.
    pub ended: Option<Fatal>,
    /// Behaviours reached (the campaign's coverage signal).
    pub features: BTreeSet<Feature>,
    /// The step log, when recording.
    pub steps: Vec<Step>,
    /// Attempt counters at the end, per fault kind (for `fault_injection` drivers).
    pub attempts: [u64; 5],
    /// Observations that ran the whole-state checks.
    pub whole_checks: usize,
    /// The subject declined the input's machine ([`Kernel::declines`]): nothing ran.
    pub declined: Option<String>,
}

/// Run `input` on `subject` against `model`. `Err` is the first finding.
pub fn run<S: Kernel + ?Sized, M: Reference>(
    input: &Input,
    subject: &mut S,
    model: &mut M,
    opts: &RunOptions,
) -> Result<Report, Box<Finding>> {
    match run_full(input, subject, model, opts) {
        (report, None) => Ok(report),
        (_, Some(f)) => Err(f),
    }
}

/// As [`run`], but the report (with its step log when recording) survives a finding.
pub fn run_full<S: Kernel + ?Sized, M: Reference>(
    input: &Input,
    subject: &mut S,
    model: &mut M,
    opts: &RunOptions,
) -> (Report, Option<Box<Finding>>) {
    let mut r = Runner {
        machine: &input.machine,
        model_state: model.state(),
        subject_state: subject.state(),
        subject,
        model,
        opts,
        tracker: Tracker::new(&input.machine),
        whole_checked: true,
        aliases: alias::Aliases::default(),
        report: Report::default(),
        behaviours: Behaviours::new(&input.machine),
    };
    if let Some(why) = r.subject.declines(&input.machine) {
        r.report.declined = Some(why);
        return (r.report, None);
    }
    let n = input.ops.len();
    for (i, op) in input.ops.iter().enumerate() {
        let line = crate::text::op_line(op);
        let supported = |k| r.subject.supports(k) && r.model.supports(k);
        let arrays = r.model.array_areas();
        // Both the op's kind and the kind of the call it resolves to (a boundary-argument op
        // calls a plain API) must be supported.
        let call = supported(op.kind())
            .then(|| r.tracker.resolve(op, &r.model_state, &arrays, i + 1 == n))
            .flatten()
            .filter(|c| supported(c.kind()));
        let Some(call) = call else {
            r.skip(i, op, &line);
            continue;
        };
        // The last op, or one that may end the input with a BUG, an oops or a hang, after
        // which no state can be checked: check the whole state before it, unless the last
        // check already did.
        let fatal_ahead = scope::may_end_input(op, &call, r.machine);
        if (i + 1 == n || fatal_ahead) && !r.whole_checked {
            let when = if fatal_ahead {
                "before an op that may end the input"
            } else {
                "before the last op"
            };
            if let Err(f) = r.whole_state_check(i, when) {
                return (r.report, Some(f));
            }
        }
        match r.step(i, &line, op.kind(), &call, false) {
            Ok(Some(fatal)) => {
                r.report.ended = Some(fatal);
                break;
            }
            Ok(None) => {}
            Err(f) => return (r.report, Some(f)),
        }
    }
    if r.report.ended.is_none() && r.opts.end_check {
        if let Err(f) = r.end_of_input(n) {
            return (r.report, Some(f));
        }
    }
    r.report.attempts = r.subject_state.attempts;
    r.report.features = r.behaviours.finish();
    (r.report, None)
}

/// A subject as the oracles inspect it (a sized handle, so that an unsized subject such as a
/// `dyn Kernel` can be handed to them).
struct Inspected<'a, S: ?Sized>(&'a S);

impl<S: Kernel + ?Sized> Inspect for Inspected<'_, S> {
    fn area_pages(&self, start: u64) -> Vec<u64> {
        self.0.area_pages(start)
    }
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        self.0.read(addr, len)
    }
    fn read_page(&self, va: u64) -> Option<crate::subject::PageBytes> {
        self.0.read_page(va)
    }
    fn check_structures(&self) -> Result<(), String> {
        self.0.check_structures()
    }
    fn raw(&self) -> Option<&dyn RawMemory> {
        self.0.raw()
    }
    fn vmallocinfo(&self) -> String {
        self.0.vmallocinfo()
    }
}

struct Runner<'a, S: ?Sized, M> {
    machine: &'a Machine,
    subject: &'a mut S,
    model: &'a mut M,
    opts: &'a RunOptions,
    tracker: Tracker,
    /// The model's state view after the last call.
    model_state: StateView,
    /// The subject's state view after the last call.
    subject_state: StateView,
    /// The current state passed a whole-state check.
    whole_checked: bool,
    /// The subject's own handles (weak oracle modes only: [`alias`]).
    aliases: alias::Aliases,
    report: Report,
    behaviours: Behaviours,
}

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

impl<S: Kernel + ?Sized, M: Reference> Runner<'_, S, M> {
    fn skip(&mut self, index: usize, op: &crate::ops::Op, line: &str) {
        self.report.skipped += 1;
        self.behaviours.skip(op);
        if self.opts.record {
            self.report.steps.push(Step {
                index,
                op: line.to_string(),
                call: None,
                model: "skipped".into(),
                subject: "skipped".into(),
                events: Vec::new(),
            });
        }
    }

    /// Walk the subject's page tables in `scope`, if it has raw memory.
    fn walk(&self, scope: &Scope) -> Option<WalkResult> {
        let raw = self.subject.raw()?;
        let params = WalkParams {
            paging: self.machine.paging,
            sme_c_bit: self.machine.pte.masks().2,
        };
        Some(match scope {
            Scope::Whole => walk::walk(raw, params),
            Scope::Touched(t) => {
                // Whole PTE tables around the touched ranges (`Touched::walked`).
                let mut w = WalkResult::default();
                for (lo, hi) in t.walked() {
                    let part = walk::walk_range(raw, params, Some((lo, hi)));
                    w.leaves.extend(
                        part.leaves
                            .into_iter()
                            .filter(|&(va, _)| va >= lo && va < hi),
                    );
                    w.tables.extend(part.tables);
                    w.problems.extend(part.problems);
                }
                w.leaves.sort_unstable();
                w.leaves.dedup();
                w.problems.dedup();
                w
            }
        })
    }

    /// Run `oracles` on the current state, as observed after a call with these outcomes and
    /// events (or between calls).
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        index: usize,
        what: &str,
        call: Option<&Call>,
        outcomes: (&Result<Outcome, Fatal>, &Result<Outcome, Fatal>),
        events: (&[Event], &[Event]),
        before: &StateView,
        scope: Scope,
        end: bool,
    ) -> Result<(), Box<Finding>> {
        if self.opts.oracles != OracleMode::Full {
            // A weak baseline: no walk, no state, only what it judges.
            let (m, s) = outcomes;
            return match call {
                Some(call) if !end => {
                    oracle::weak::check(self.opts.oracles, index, what, call, m, s)
                }
                _ => Ok(()),
            };
        }
        let walk = if outcomes.0.is_err() || outcomes.1.is_err() {
            None
        } else {
            self.walk(&scope)
        };
        let caller_areas: Vec<(u64, u64)> = self
            .tracker
            .areas
            .iter()
            .map(|h| (h.start, h.mapped))
            .collect();
        let inspect = Inspected(&*self.subject);
        let o = Observation {
            index,
            what,
            machine: self.machine,
            call,
            model: Side {
                outcome: outcomes.0,
                events: events.0,
                state: &self.model_state,
            },
            subject: Side {
                outcome: outcomes.1,
                events: events.1,
                state: &self.subject_state,
            },
            before,
            expect: &*self.model,
            inspect: &inspect,
            walk: walk.as_ref(),
            scope: &scope,
            caller_pages: &self.tracker.pages,
            caller_areas: &caller_areas,
            crosscheck_limit: self.opts.crosscheck_limit.max(1),
        };
        if scope.is_whole() {
            self.report.whole_checks += 1;
        }
        if end {
            oracle::end_of_input::EndOfInput.check(&o)
        } else if outcomes.0.is_err() || outcomes.1.is_err() {
            // An input ended by a BUG or a hang has no state left to compare: only the
            // results and the events.
            oracle::results::Results.check(&o)?;
            oracle::events::Events.check(&o)
        } else {
            oracle::run_pipeline(&o)
        }
    }

    /// The whole-state checks on the current state, between calls.
    fn whole_state_check(&mut self, index: usize, what: &str) -> Result<(), Box<Finding>> {
        let before = self.model_state.clone();
        let unit = Ok(Outcome::Unit);
        self.observe(
            index,
            what,
            None,
            (&unit, &unit),
            (&[], &[]),
            &before,
            Scope::Whole,
            false,
        )?;
        self.whole_checked = true;
        Ok(())
    }

    /// Apply one call to both sides and run the oracles. `Some(fatal)` ends the input.
    /// `force_whole`: the whole-state checks run whatever the options say.
    fn step(
        &mut self,
        index: usize,
        line: &str,
        kind: OpKind,
        call: &Call,
        force_whole: bool,
    ) -> Result<Option<Fatal>, Box<Finding>> {
        let what = format!("{line}  [{call}]");
        let caller = index as u32;
        let model = &mut *self.model;
        let m = catch_unwind(AssertUnwindSafe(|| apply(model, call, caller))).map_err(|e| {
            Box::new(Finding::new(
                FindingKind::Divergence,
                Some(index),
                &what,
                format!("the reference model panicked: {}", panic_message(e)),
                "",
                "",
            ))
        })?;
        let subject = &mut *self.subject;
        let weak = self.opts.oracles != OracleMode::Full;
        // A weak mode drives the subject with its own handles; a call on an object it never
        // gave is not made (the caller checks for NULL).
        let subject_call = if weak {
            self.aliases.translate(call).map(std::borrow::Cow::Owned)
        } else {
            Some(std::borrow::Cow::Borrowed(call))
        };
        let s = match &subject_call {
            Some(c) => {
                catch_unwind(AssertUnwindSafe(|| apply(subject, c, caller))).map_err(|e| {
                    Box::new(Finding::new(
                        FindingKind::EnginePanic,
                        Some(index),
                        &what,
                        format!("the {} panicked: {}", self.subject.name(), panic_message(e)),
                        "",
                        "",
                    ))
                })?
            }
            None => Ok(Outcome::Unit),
        };
        let m_events = self.model.take_events();
        let s_events = self.subject.take_events();
        if self.opts.record {
            let show = |r: &Result<Outcome, Fatal>| match r {
                Ok(o) => o.to_string(),
                Err(f) => f.to_string(),
            };
            self.report.steps.push(Step {
                index,
                op: line.to_string(),
                call: Some(call.to_string()),
                model: show(&m),
                subject: show(&s),
                events: m_events.clone(),
            });
        }
        self.report.calls += 1;
        let before = std::mem::take(&mut self.model_state);
        let unchanged = m.is_err() || s.is_err() || call.kind().is(crate::ops::KindTraits::QUERY);
        let scope = if unchanged {
            self.model_state = before.clone();
            Scope::Touched(Default::default())
        } else {
            self.model_state = self.model.state();
            self.subject_state = self.subject.state();
            let free: u64 = self.model_state.free_pages.iter().sum();
            let allocated = self.machine.totalram_pages().saturating_sub(free);
            if weak {
                // No oracle of a weak mode looks at the scope: do not compute what was touched.
                Scope::Touched(Default::default())
            } else if force_whole || self.opts.full_checks.whole_at(index, allocated) {
                Scope::Whole
            } else {
                Scope::Touched(scope::touched(&before, &self.model_state, call))
            }
        };
        if weak {
            self.aliases.record(call, &m, &s, &self.model_state.busy);
        }
        if let Ok(outcome) = &m {
            // What the caller now holds (the oracles count its pages and guard pages).
            let (new_addr, new_pfn) = call.created(outcome);
            self.tracker
                .update(call, new_addr, new_pfn, &self.model_state.busy, index);
        }
        let whole = scope.is_whole();
        self.observe(
            index,
            &what,
            Some(call),
            (&m, &s),
            (&m_events, &s_events),
            &before,
            scope,
            false,
        )?;
        if !unchanged {
            self.whole_checked = whole;
        }
        self.behaviours
            .record(kind, call, &m, &m_events, &before, &self.model_state);
        Ok(match (m, s) {
            (Err(f), _) => Some(f),
            _ => None,
        })
    }

    /// Free everything the caller holds, give back its pages, run the deferred list, purge
    /// (design §3.5); the last cleanup call gets the whole-state checks; then the end-of-input
    /// oracle.
    fn end_of_input(&mut self, first_index: usize) -> Result<(), Box<Finding>> {
        let cleanup = self.tracker.cleanup();
        let last = cleanup.len().saturating_sub(1);
        for (k, call) in cleanup.into_iter().enumerate() {
            if let Some(fatal) =
                self.step(first_index + k, "cleanup", call.kind(), &call, k == last)?
            {
                self.report.ended = Some(fatal);
                return Ok(());
            }
        }
        let index = first_index + self.tracker.cleanup().len();
        let before = self.model_state.clone();
        let unit = Ok(Outcome::Unit);
        self.observe(
            index,
            "end of input",
            None,
            (&unit, &unit),
            (&[], &[]),
            &before,
            Scope::Whole,
            true,
        )
    }
}

/// The paging mode's name, for reports.
pub fn paging_name(p: Paging) -> &'static str {
    match p {
        Paging::FourLevel => "4-level",
        Paging::FiveLevel => "LA57",
    }
}

//! The differential executor: apply each op to the model and the subject, compare the results
//! as a tri-state, then check the subject's **raw** state against its own invariants and the
//! model, after every op; at the end of the input free everything and prove nothing leaked.
//!
//! Checks after each call, in this order (the first failing one is the finding):
//! 1. the subject's own invariants on its state (I1 overlap, I2, I6) and the structure of its
//!    page tables walked from the root (I9);
//! 2. the results (both OK: exact values; both failed: same failure; one failed: a finding);
//! 3. the events (warnings and TLB flushes), as a sequence;
//! 4. the state view: busy areas, lazy list, `lazy_nr`, deferred list, attempt counters, free
//!    pages per node, metadata objects (an area the engine keeps live and the model freed is
//!    a leak; a different extent is a wrong placement);
//! 5. page tables: every present leaf and table page against the model (I3, I4, I8), and the
//!    `x86_64` crate's translation of mapped and guard pages (four-level only);
//! 6. data: the first, middle and last page of a new mapping read the same on both sides;
//! 7. page ownership and the I5 buckets.
//!
//! Queries (`find_vm_area`, `vmalloc_to_pfn`, `is_vmalloc_addr`, `vmallocinfo`, reads) take
//! `&self` on both sides, so only their results and events are compared.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

pub mod call;
mod compare;
pub mod reslot;
pub mod tracker;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use call::{apply, Call, Outcome};
use compare::{compare_states, self_check};
pub use tracker::{Handle, HandleKind, Tracker};

use crate::behaviour::{Behaviours, Feature};
use crate::finding::{Finding, FindingKind};
use crate::ops::{Input, Machine, Paging, PAGE_SIZE};
use crate::oracle::ownership::{self, Claims};
use crate::oracle::pagetable::{self, map_diff, WalkParams};
use crate::oracle::x86_crosscheck;
use crate::subject::{Event, Fatal, Kernel, Reference, StateView};

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep a step-by-step log (for `explain`).
    pub record: bool,
    /// Cross-check every mapped page through the `x86_64` crate when there are at most this
    /// many; above it, a deterministic sample of this many.
    pub crosscheck_limit: usize,
    /// Run the end-of-input cleanup and leak check.
    pub end_check: bool,
    /// The engine's planted fault to switch on (`planted-bugs` builds only; design §4.3).
    pub planted: Option<String>,
    /// When the whole-state raw checks (full page-table walk, cross-check sample, ownership)
    /// run.
    pub full_checks: FullChecks,
}

/// When the raw checks look at the whole state rather than what the op touched (design §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullChecks {
    /// After every op: a finding is reported at the op that caused it. Replay, `explain`,
    /// `minimize` and the tests use this.
    EveryOp,
    /// After every op while at most `max_frames` pool frames are allocated, else every
    /// `every`-th op; always after the end-of-input cleanup. Between full checks each op still
    /// walks the VA ranges it touched. The fuzzing engines use this: a finding it reports late
    /// is reported at its first op by a replay.
    Adaptive {
        /// Allocated frames up to which every op gets the full checks.
        max_frames: u64,
        /// Otherwise, every how many ops.
        every: usize,
    },
}

impl FullChecks {
    /// The setting of the fuzzing engines and the campaign.
    pub const FUZZING: FullChecks = FullChecks::Adaptive {
        max_frames: 4096,
        every: 32,
    };
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            record: false,
            crosscheck_limit: 64,
            end_check: true,
            planted: None,
            full_checks: FullChecks::EveryOp,
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
    /// Ops skipped because nothing could resolve their slots.
    pub skipped: usize,
    /// The BUG or hang that ended the input early, identical on both sides.
    pub ended: Option<Fatal>,
    /// Behaviours reached (the campaign's coverage signal).
    pub features: BTreeSet<Feature>,
    /// The step log, when recording.
    pub steps: Vec<Step>,
    /// Attempt counters at the end, per fault kind (for `fault_injection` drivers).
    pub attempts: [u64; 5],
}

/// Run `input` on `subject` against `model`. `Err` is the first finding.
pub fn run<S: Kernel, M: Reference>(
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
pub fn run_full<S: Kernel, M: Reference>(
    input: &Input,
    subject: &mut S,
    model: &mut M,
    opts: &RunOptions,
) -> (Report, Option<Box<Finding>>) {
    let mut r = Runner {
        machine: &input.machine,
        subject,
        model,
        opts,
        tracker: Tracker::default(),
        model_state: None,
        force_full: false,
        report: Report::default(),
        behaviours: Behaviours::new(&input.machine),
    };
    for (i, op) in input.ops.iter().enumerate() {
        let arrays = r.model.array_areas();
        r.model_state_now();
        let busy = r
            .model_state
            .as_ref()
            .map_or(&[][..], |s| s.busy.as_slice());
        let Some(call) = r.tracker.resolve(op, busy, &arrays) else {
            r.report.skipped += 1;
            r.behaviours.skip(op);
            if r.opts.record {
                r.report.steps.push(Step {
                    index: i,
                    op: op_line(op),
                    call: None,
                    model: "skipped".into(),
                    subject: "skipped".into(),
                    events: Vec::new(),
                });
            }
            continue;
        };
        match r.step(i, &op_line(op), &call) {
            Ok(Some(fatal)) => {
                r.report.ended = Some(fatal);
                break;
            }
            Ok(None) => {}
            Err(f) => return (r.report, Some(f)),
        }
    }
    if r.report.ended.is_none() && r.opts.end_check {
        if let Err(f) = r.end_of_input(input.ops.len()) {
            return (r.report, Some(f));
        }
    }
    r.report.attempts = r.subject.state().attempts;
    r.report.features = r.behaviours.finish();
    (r.report, None)
}

/// The trace line of an op.
fn op_line(op: &crate::ops::Op) -> String {
    crate::text::op_line(op)
}

struct Runner<'a, S: Kernel, M: Reference> {
    machine: &'a Machine,
    subject: &'a mut S,
    model: &'a mut M,
    opts: &'a RunOptions,
    tracker: Tracker,
    /// The model's state view after the last call (recomputed only when a call may change it).
    model_state: Option<StateView>,
    /// The next step runs the full checks whatever `full_checks` says (the last cleanup call).
    force_full: bool,
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

impl<S: Kernel, M: Reference> Runner<'_, S, M> {
    fn finding(
        &self,
        kind: FindingKind,
        index: usize,
        what: &str,
        summary: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Box<Finding> {
        Box::new(Finding::new(
            kind,
            Some(index),
            what,
            summary,
            expected,
            actual,
        ))
    }

    /// Apply one call to both sides and run every check. `Some(fatal)` ends the input.
    fn step(
        &mut self,
        index: usize,
        line: &str,
        call: &Call,
    ) -> Result<Option<Fatal>, Box<Finding>> {
        let before_state = self.model_state_now().clone();
        let before = &before_state;
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
        let s = catch_unwind(AssertUnwindSafe(|| apply(subject, call, caller))).map_err(|e| {
            Box::new(Finding::new(
                FindingKind::EnginePanic,
                Some(index),
                &what,
                format!("the {} panicked: {}", "engine", panic_message(e)),
                "",
                "",
            ))
        })?;
        let m_events = self.model.take_events();
        let s_events = self.subject.take_events();
        let show = |r: &Result<Outcome, Fatal>| match r {
            Ok(o) => o.to_string(),
            Err(f) => f.to_string(),
        };
        if self.opts.record {
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

        // 2 (before 1 when a side ended the input: there is no state to check then).
        let (mo, so) = match (m, s) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) if a == b => {
                self.behaviours
                    .record(call, &Err(a), &m_events, before, before);
                if m_events != s_events {
                    return Err(self.events_finding(index, &what, &m_events, &s_events, true));
                }
                return Ok(Some(a));
            }
            (m, s) => {
                return Err(self.finding(
                    FindingKind::WrongFailureHandling,
                    index,
                    &what,
                    "only one side ended the input (BUG or hang), or they ended it differently",
                    show(&m),
                    show(&s),
                ));
            }
        };
        // Queries take `&self` on both sides (the trait says so): they cannot change state, so
        // the state oracles have nothing new to look at.
        if matches!(
            call,
            Call::FindVmArea(_)
                | Call::VmallocToPfn(_)
                | Call::IsVmallocAddr(_)
                | Call::Vmallocinfo
                | Call::Read { .. }
        ) {
            if m_events != s_events {
                return Err(self.events_finding(index, &what, &m_events, &s_events, false));
            }
            if mo != so {
                let kind = match &mo {
                    Outcome::Pfn(_) => FindingKind::WrongMapping,
                    Outcome::Bytes(_) => FindingKind::WrongData,
                    _ => FindingKind::Divergence,
                };
                let detail = outcome_detail;
                return Err(self.finding(
                    kind,
                    index,
                    &what,
                    "the query returned different results",
                    detail(&mo),
                    detail(&so),
                ));
            }
            self.behaviours
                .record(call, &Ok(mo), &m_events, before, before);
            return Ok(None);
        }
        let m_state = self.model.state();
        let s_state = self.subject.state();

        // 1. The subject's own invariants, and the structure of its page tables.
        if let Some((kind, msg)) = self_check(self.machine, &s_state) {
            return Err(self.finding(kind, index, &what, msg, "", ""));
        }
        if let Some((_, msg)) = self_check(self.machine, &m_state) {
            return Err(self.finding(
                FindingKind::Divergence,
                index,
                &what,
                format!("the reference model broke an invariant: {msg}"),
                "",
                "",
            ));
        }
        let params = WalkParams {
            paging: self.machine.paging,
            sme_c_bit: self.machine.pte.masks().2,
        };
        let full = self.full_check_now(index, &m_state);
        let touched = if full {
            Vec::new()
        } else {
            touched_ranges(before, &m_state)
        };
        // A full walk of the whole tree, or (incremental mode) walks of the ranges this op
        // touched: areas that appeared, were freed or were purged.
        let walk = self.subject.raw().map(|raw| {
            if full {
                pagetable::walk(raw, params)
            } else {
                let mut w = pagetable::WalkResult::default();
                for &(lo, hi) in &touched {
                    let part = pagetable::walk_range(raw, params, Some((lo, hi)));
                    w.leaves.extend(
                        part.leaves
                            .into_iter()
                            .filter(|&(va, _)| va >= lo && va < hi),
                    );
                    w.problems.extend(part.problems);
                }
                w.leaves.sort_unstable();
                w.leaves.dedup();
                w
            }
        });
        if let Some(w) = &walk {
            if !w.problems.is_empty() {
                return Err(self.finding(
                    FindingKind::WrongMapping,
                    index,
                    &what,
                    "the page tables in simulated memory are malformed",
                    "",
                    w.problems.join("\n"),
                ));
            }
        }

        // 2. Results.
        if mo != so {
            let kind = match (&mo, &so) {
                (a, b) if a.is_null() != b.is_null() => FindingKind::WrongFailureHandling,
                (Outcome::Addr(_), _) | (Outcome::Area(_), _)
                    if matches!(call, Call::FindVmArea(_)) =>
                {
                    FindingKind::Divergence
                }
                (Outcome::Addr(_), _) | (Outcome::Area(_), _) => FindingKind::WrongPlacement,
                (Outcome::Pfn(_), _) => FindingKind::WrongMapping,
                (Outcome::Bytes(_), _) | (Outcome::Written(_), _) => FindingKind::WrongData,
                _ => FindingKind::Divergence,
            };
            let detail = outcome_detail;
            return Err(self.finding(
                kind,
                index,
                &what,
                "the call returned different results",
                detail(&mo),
                detail(&so),
            ));
        }

        // What the caller now holds (the checks below count its pages and guard pages).
        let (new_addr, new_pfn) = call.created(&mo);
        self.tracker
            .update(call, new_addr, new_pfn, &m_state.busy, index);

        // 3. Events.
        if m_events != s_events {
            let failed = mo.is_null()
                || m_events
                    .iter()
                    .any(|e| !matches!(e, Event::TlbFlush { .. }));
            return Err(self.events_finding(index, &what, &m_events, &s_events, failed));
        }

        // 4. State view: busy areas, lazy list, deferred list, counters.
        if let Some((kind, summary, e, a)) = compare_states(&m_state, &s_state, mo.is_null()) {
            return Err(self.finding(kind, index, &what, summary, e, a));
        }

        // 5. Page tables against the model, and the independent walker: the whole tree, or
        // (incremental mode) the ranges this op touched.
        if let Some(w) = &walk {
            let ptes = self.model.expected_ptes();
            let want: std::borrow::Cow<'_, std::collections::BTreeMap<u64, u64>> = if full {
                std::borrow::Cow::Borrowed(&*ptes)
            } else {
                let mut part = std::collections::BTreeMap::new();
                for &(lo, hi) in &touched {
                    part.extend(ptes.range(lo..hi).map(|(&a, &b)| (a, b)));
                }
                std::borrow::Cow::Owned(part)
            };
            self.check_page_tables(index, &what, w, &want, full)?;
        }

        // 6. Data in a new mapping.
        if let (Outcome::Addr(Some(addr)), true) = (
            &mo,
            matches!(
                call,
                Call::Vmalloc(..)
                    | Call::VmallocNode { .. }
                    | Call::VmallocGfp { .. }
                    | Call::VmallocRange { .. }
                    | Call::ModuleAlloc(_)
                    | Call::Vmap { .. }
            ),
        ) {
            if let Some(b) = m_state.busy.iter().find(|b| b.start == *addr) {
                let mapped = match call {
                    Call::Vmap { pfns, .. } => pfns.len() as u64,
                    _ => b.vm.map_or(0, |v| v.nr_pages),
                };
                let mut pages = vec![0, mapped / 2, mapped.saturating_sub(1)];
                pages.dedup();
                for p in pages.into_iter().filter(|&p| p < mapped) {
                    let va = addr + p * PAGE_SIZE;
                    let want = self.model.read(va, PAGE_SIZE as usize);
                    let got = self.subject.read(va, PAGE_SIZE as usize);
                    if want != got {
                        let show = |r: &Result<Vec<u8>, u64>| match r {
                            Ok(b) => hex_lines(b),
                            Err(a) => format!("fault at {a:#x}"),
                        };
                        return Err(self.finding(FindingKind::WrongData, index, &what,
                            format!("page {p} of the new mapping at {va:#x} reads differently (__GFP_ZERO, poison or PFN)"),
                            show(&want), show(&got)));
                    }
                }
            }
        }

        // 7. Ownership (with the full walk's table pages).
        if let (Some(w), Some(raw), true) = (&walk, self.subject.raw(), full) {
            let orphaned = self.model.orphaned_pages();
            let orphan_arrays = self.model.orphaned_array_areas();
            let claims = Claims {
                areas: s_state
                    .busy
                    .iter()
                    .filter(|b| b.vm.is_some())
                    .map(|b| {
                        (
                            b.start,
                            b.pages.as_slice(),
                            orphan_arrays.contains(&b.start),
                        )
                    })
                    .collect(),
                tables: w.tables.values().copied().collect(),
                caller: &self.tracker.pages,
                orphaned: &orphaned,
            };
            let own = ownership::check(raw, self.machine.totalram_pages(), &claims);
            if let Some((kind, _)) = own.problems.first() {
                let text: Vec<String> = own.problems.iter().map(|(_, m)| m.clone()).collect();
                return Err(self.finding(
                    *kind,
                    index,
                    &what,
                    "page ownership is broken (I5)",
                    "",
                    text.join("\n"),
                ));
            }
            let want = self.model.buckets();
            if own.buckets != want {
                let kind = if own.buckets.free < want.free {
                    FindingKind::Leak
                } else {
                    FindingKind::Divergence
                };
                return Err(self.finding(
                    kind,
                    index,
                    &what,
                    "the I5 page buckets differ from the model",
                    format!("{want:#?}"),
                    format!("{:#?}", own.buckets),
                ));
            }
        }

        self.behaviours
            .record(call, &Ok(mo), &m_events, before, &m_state);
        self.model_state = Some(m_state);
        Ok(None)
    }

    /// Leaves (and, on a full walk, table pages) against the model; then the `x86_64` crate's
    /// translation of a sample of `want` and of guard pages (four-level paging only).
    fn check_page_tables(
        &self,
        index: usize,
        what: &str,
        w: &pagetable::WalkResult,
        want: &std::collections::BTreeMap<u64, u64>,
        full: bool,
    ) -> Result<(), Box<Finding>> {
        let Some(raw) = self.subject.raw() else {
            return Ok(());
        };
        if !pagetable::leaves_equal(&w.leaves, want) {
            let actual: std::collections::BTreeMap<u64, u64> = w.leaves.iter().copied().collect();
            let lines = map_diff(
                want,
                &actual,
                |va, e| match e {
                    Some(e) => format!("PTE {va:#x} = {e:#018x}"),
                    None => format!("PTE {va:#x} not present"),
                },
                12,
            );
            let summary = if full {
                "present leaf PTEs differ from the model (R7, I3, I4)"
            } else {
                "present leaf PTEs of the areas this op touched differ from the model (R7, I3, I4)"
            };
            return Err(self.finding(
                FindingKind::WrongMapping,
                index,
                what,
                summary,
                "",
                lines.join("\n"),
            ));
        }
        if full {
            let tables = self.model.expected_tables();
            if w.tables != tables {
                let lines = map_diff(
                    &tables,
                    &w.tables,
                    |(l, base), p| match p {
                        Some(p) => format!("{} table for {base:#x} at pfn {p:#x}", l.name()),
                        None => format!("no {} table for {base:#x}", l.name()),
                    },
                    12,
                );
                return Err(self.finding(
                    FindingKind::WrongMapping,
                    index,
                    what,
                    "page-table pages differ from the model (I8)",
                    "",
                    lines.join("\n"),
                ));
            }
        }
        if self.machine.paging == Paging::FourLevel {
            let samples = self.crosscheck_samples(want);
            let problems = x86_crosscheck::crosscheck(raw, self.machine.pte.masks().2, &samples);
            if !problems.is_empty() {
                return Err(self.finding(
                    FindingKind::WrongMapping,
                    index,
                    what,
                    "the x86_64 crate's walk disagrees with the model",
                    "",
                    problems.join("\n"),
                ));
            }
        }
        Ok(())
    }

    /// Do the whole-state raw checks run after this call?
    fn full_check_now(&self, index: usize, m_state: &StateView) -> bool {
        match self.opts.full_checks {
            FullChecks::EveryOp => true,
            FullChecks::Adaptive { max_frames, every } => {
                let free: u64 = m_state.free_pages.iter().sum();
                let allocated = self.machine.totalram_pages().saturating_sub(free);
                self.force_full || allocated <= max_frames || index.is_multiple_of(every.max(1))
            }
        }
    }

    /// The model's current state view, computed once per change.
    fn model_state_now(&mut self) -> &StateView {
        let model = &*self.model;
        self.model_state.get_or_insert_with(|| model.state())
    }

    fn events_finding(
        &self,
        index: usize,
        what: &str,
        m: &[Event],
        s: &[Event],
        failure: bool,
    ) -> Box<Finding> {
        let kind = if failure {
            FindingKind::WrongFailureHandling
        } else {
            FindingKind::Divergence
        };
        let show = |ev: &[Event]| {
            ev.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.finding(
            kind,
            index,
            what,
            "the warnings and TLB flushes differ (semantics §11.1)",
            show(m),
            show(s),
        )
    }

    /// Mapped pages to translate through the `x86_64` crate: all of them, or an even sample,
    /// plus the first page after each mapped range the caller holds (guard pages, I4).
    /// `from` is where mapped samples come from (all PTEs, or the touched ones); the
    /// unmapped samples are checked against every PTE the model expects.
    fn crosscheck_samples(
        &self,
        from: &std::collections::BTreeMap<u64, u64>,
    ) -> Vec<(u64, Option<u64>)> {
        let limit = self.opts.crosscheck_limit.max(1);
        let step = from.len().div_ceil(limit).max(1);
        let mut out: Vec<(u64, Option<u64>)> = from
            .iter()
            .step_by(step)
            .map(|(&va, &e)| (va, Some(e)))
            .collect();
        let all = self.model.expected_ptes();
        for h in self.tracker.areas.iter().take(8) {
            let after = h.start.wrapping_add(h.mapped);
            if !all.contains_key(&after) {
                out.push((after, None));
            }
        }
        out
    }

    /// design §3.5: free everything the caller holds, give back its pages, run the deferred
    /// list, purge; then only table pages, orphaned pages and orphaned arrays may remain.
    fn end_of_input(&mut self, first_index: usize) -> Result<(), Box<Finding>> {
        let cleanup = self.tracker.cleanup();
        let last = cleanup.len().saturating_sub(1);
        for (k, call) in cleanup.into_iter().enumerate() {
            self.force_full = k == last;
            if let Some(fatal) = self.step(first_index + k, "cleanup", &call)? {
                self.report.ended = Some(fatal);
                return Ok(());
            }
        }
        let index = first_index + self.tracker.cleanup().len();
        let m = self.model.vmallocinfo();
        let s = self.subject.vmallocinfo();
        if m != s {
            return Err(self.finding(
                FindingKind::Divergence,
                index,
                "end of input: /proc/vmallocinfo",
                "vmallocinfo differs after cleanup",
                m,
                s,
            ));
        }
        // Absolute expectations, independent of the model's bookkeeping.
        let state = self.subject.state();
        let orphan_arrays = self.model.orphaned_array_areas();
        let leftovers: Vec<String> = state
            .busy
            .iter()
            .filter(|b| b.vm.is_none() || !orphan_arrays.contains(&b.start))
            .map(|b| {
                format!(
                    "{:#x}-{:#x} {}",
                    b.start,
                    b.end,
                    if b.vm.is_some() { "live" } else { "lazy" }
                )
            })
            .collect();
        if !leftovers.is_empty() || state.lazy_nr != 0 || !state.deferred.is_empty() {
            return Err(Box::new(Finding::new(FindingKind::Leak, None, "end of input",
                "after freeing everything and purging, VAs remain busy (or lazy_nr / the deferred list is not empty)",
                "only orphaned nested pages arrays", format!("{}\nlazy_nr={} deferred={:?}", leftovers.join("\n"), state.lazy_nr, state.deferred))));
        }
        let n = orphan_arrays.len() as u64;
        if state.objects.vm_structs != n || state.objects.vmap_areas != n {
            return Err(Box::new(Finding::new(
                FindingKind::Leak,
                None,
                "end of input",
                "metadata objects remain after cleanup",
                format!("vm_structs={n} vmap_areas={n}"),
                format!(
                    "vm_structs={} vmap_areas={}",
                    state.objects.vm_structs, state.objects.vmap_areas
                ),
            )));
        }
        Ok(())
    }
}

/// The VA ranges whose mapping an op may have changed: every busy area that appeared,
/// disappeared or changed between live and lazy (merged, at most 64; the periodic full check
/// covers the rest).
fn touched_ranges(before: &StateView, after: &StateView) -> Vec<(u64, u64)> {
    let key = |b: &crate::subject::BusyArea| (b.start, b.end, b.vm.is_some());
    let a: BTreeSet<_> = before.busy.iter().map(key).collect();
    let b: BTreeSet<_> = after.busy.iter().map(key).collect();
    let mut ranges: Vec<(u64, u64)> = a
        .symmetric_difference(&b)
        .map(|&(s, e, _)| (s, e))
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged.truncate(64);
    merged
}

/// An outcome in full, for a diff: addresses in hex, VM info field by field, bytes as hex.
fn outcome_detail(o: &Outcome) -> String {
    match o {
        Outcome::Text(t) => t.clone(),
        Outcome::Bytes(Ok(b)) => hex_lines(b),
        Outcome::Area(Some(vm)) => format!(
            "vm_struct addr={:#x} size={:#x} flags={:#x} nr_pages={} caller=op{} array={:x?}",
            vm.addr, vm.size, vm.flags, vm.nr_pages, vm.caller, vm.array
        ),
        other => other.to_string(),
    }
}

/// Bytes as hex, 32 per line.
fn hex_lines(b: &[u8]) -> String {
    b.chunks(32)
        .enumerate()
        .map(|(i, c)| {
            let hex: String = c.iter().map(|x| format!("{x:02x}")).collect();
            format!("{:05x}: {hex}", i * 32)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

//! Behaviours reached: the cheap semantic-coverage signal of the built-in campaign and of the
//! generator-health tests. A behaviour is an op kind that ran, an outcome of it, an event, a
//! spec rule that fired (derived from the op, its result, its events and the model's state
//! before and after), or a shape of the state.

use std::collections::BTreeSet;

use crate::exec::{Call, Outcome};
use crate::ops::{FaultKind, KindTraits, Machine, OpKind, PAGE_SIZE, VM_IOREMAP, VM_NO_GUARD};
use crate::subject::{ArrayKind, Event, Fatal, StateView};

/// The family a behaviour belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// An op kind ran.
    Op,
    /// An op kind ended a given way (`ok`, `null`, `bug`, `hang`, `skipped`); `fatal:<kind>`
    /// names the BUG (or `hang`) that ended the input.
    Outcome,
    /// An event was emitted.
    Event,
    /// A spec rule fired.
    Rule,
    /// The state took a shape.
    Shape,
}

impl Category {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Op => "op",
            Category::Outcome => "outcome",
            Category::Event => "event",
            Category::Rule => "rule",
            Category::Shape => "shape",
        }
    }

    /// The category named `name` ([`Category::name`]).
    pub fn from_name(name: &str) -> Option<Category> {
        [
            Category::Op,
            Category::Outcome,
            Category::Event,
            Category::Rule,
            Category::Shape,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }
}

/// One behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Feature {
    /// Its family.
    pub category: Category,
    /// Its name (an op kind, a rule id, ...).
    pub name: &'static str,
    /// A qualifier (the outcome, the rule's case), or "".
    pub detail: &'static str,
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}:{}", self.category.name(), self.name)
        } else {
            write!(f, "{}:{}:{}", self.category.name(), self.name, self.detail)
        }
    }
}

fn is_alloc(call: &Call) -> bool {
    call.kind().is(KindTraits::ALLOCATES)
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::AllocFailure { .. } => "alloc_failure",
        Event::AllocPartial { .. } => "alloc_partial",
        Event::VmapAllocFailed { .. } => "vmap_alloc_failed",
        Event::BadAddress { .. } => "bad_address",
        Event::NonexistentArea { .. } => "nonexistent_area",
        Event::PteNotNone { .. } => "pte_not_none",
        Event::NullPage { .. } => "null_page",
        Event::ClearNonPresent { .. } => "clear_non_present",
        Event::TlbFlush { .. } => "tlb_flush",
    }
}

fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1 => "1",
        2..=4 => "2-4",
        5..=16 => "5-16",
        17..=64 => "17-64",
        _ => "65+",
    }
}

/// Collects the behaviours of one run.
#[derive(Debug, Clone, Default)]
pub struct Behaviours {
    faults: Vec<(FaultKind, u64)>,
    set: BTreeSet<Feature>,
}

impl Behaviours {
    /// For a run on `machine` (its fault plan decides which attempts are injected failures).
    pub fn new(machine: &Machine) -> Self {
        let mut b = Behaviours {
            faults: machine.faults.iter().map(|f| (f.kind, f.k)).collect(),
            set: BTreeSet::new(),
        };
        if machine.nodes.len() > 1 {
            b.add(Category::Shape, "multi_node", "");
        }
        if machine.paging == crate::ops::Paging::FiveLevel {
            b.add(Category::Shape, "la57", "");
        }
        b
    }

    fn add(&mut self, category: Category, name: &'static str, detail: &'static str) {
        self.set.insert(Feature {
            category,
            name,
            detail,
        });
    }

    /// An op was skipped.
    pub fn skip(&mut self, op: &crate::ops::Op) {
        self.add(Category::Outcome, op.kind().name(), "skipped");
    }

    /// Record one call made for an op of `kind` (the call's own kind for cleanup calls; they
    /// differ for boundary-argument ops, which call a plain API): its result, the model's
    /// events and the model's state before and after.
    pub fn record(
        &mut self,
        kind: OpKind,
        call: &Call,
        result: &Result<Outcome, Fatal>,
        events: &[Event],
        before: &StateView,
        after: &StateView,
    ) {
        use Category::*;
        let kind = kind.name();
        self.add(Op, kind, "");
        let outcome = match result {
            Ok(o) if o.is_null() => "null",
            Ok(_) => "ok",
            Err(Fatal::Bug(_)) => "bug",
            Err(Fatal::WouldHang) => "hang",
        };
        self.add(Outcome, kind, outcome);
        match result {
            Err(Fatal::Bug(k)) => self.add(Outcome, "fatal", k.name()),
            Err(Fatal::WouldHang) => self.add(Outcome, "fatal", "hang"),
            Ok(_) => {}
        }
        for e in events {
            self.add(Event, event_name(e), "");
        }
        let has = |f: fn(&crate::subject::Event) -> bool| events.iter().any(f);
        let flushed = has(|e| matches!(e, crate::subject::Event::TlbFlush { .. }));
        let null = matches!(result, Ok(o) if o.is_null());
        let ok_new = match result {
            Ok(crate::exec::Outcome::Addr(Some(a))) => Some(*a),
            Ok(crate::exec::Outcome::Area(Some(v))) if is_alloc(call) => Some(v.addr),
            _ => None,
        };
        if is_alloc(call) {
            if null
                && has(|e| matches!(e, crate::subject::Event::AllocFailure { .. }))
                && !has(|e| matches!(e, crate::subject::Event::VmapAllocFailed { .. }))
                && before.attempts == after.attempts
            {
                self.add(Rule, "R1", "size_gate");
            }
            if has(|e| matches!(e, crate::subject::Event::VmapAllocFailed { .. })) {
                self.add(Rule, "R3", "no_fit_after_purge");
            }
            if flushed && ok_new.is_some() {
                self.add(Rule, "R3", "purge_and_retry_succeeded");
            }
            if null && after.lazy_list.len() > before.lazy_list.len() {
                self.add(Rule, "R8", "failure_residue");
            }
            if has(|e| matches!(e, crate::subject::Event::AllocPartial { .. })) {
                self.add(Rule, "R6", "partial_failure");
            }
        }
        match call {
            Call::VmallocRange {
                align, vm_flags, ..
            } if ok_new.is_some() => {
                if *align > PAGE_SIZE {
                    self.add(Rule, "R4", "large_align");
                }
                if vm_flags & VM_NO_GUARD != 0 {
                    self.add(Rule, "R2", "no_guard");
                }
            }
            Call::GetVmArea { flags, .. } if ok_new.is_some() && flags & VM_IOREMAP != 0 => {
                self.add(Rule, "R4", "ioremap_align");
            }
            Call::Vfree(_) | Call::Vunmap(..) | Call::FreeVmArea(_) | Call::RunDeferred => {
                if has(|e| matches!(e, crate::subject::Event::BadAddress { .. })) {
                    self.add(Rule, "R10", "unaligned");
                }
                if has(|e| matches!(e, crate::subject::Event::NonexistentArea { .. })) {
                    self.add(Rule, "R10", "nonexistent");
                }
                if flushed {
                    self.add(Rule, "R9", "threshold_purge");
                }
                if after.lazy_list.len() > before.lazy_list.len() || flushed {
                    self.add(Rule, "R9", "lazy_free");
                }
                if let Call::Vfree(a) = call {
                    let interior = before
                        .busy
                        .iter()
                        .any(|b| b.vm.is_some() && *a > b.start && *a < b.end);
                    if interior
                        && (after.busy.len() != before.busy.len()
                            || after.lazy_list != before.lazy_list)
                    {
                        self.add(Rule, "R10", "interior_free");
                    }
                }
                if let Call::Vunmap(a, _) = call {
                    if before
                        .busy
                        .iter()
                        .any(|b| b.start == *a && b.vm.is_some_and(|v| v.nr_pages > 0))
                    {
                        self.add(Rule, "R11", "vunmap_orphans_pages");
                    }
                }
            }
            Call::VfreeDeferred { .. } => self.add(Rule, "R9", "deferred"),
            Call::VmUnmapAliases if flushed => self.add(Rule, "R9", "vm_unmap_aliases_purge"),
            Call::FindVmArea(_) | Call::VmallocToPfn(_) | Call::IsVmallocAddr(_) => {
                self.add(Rule, "R12", kind)
            }
            _ => {}
        }
        if let Some(addr) = ok_new {
            if let Some(b) = after.busy.iter().find(|b| b.start == addr) {
                match b.vm.map(|v| v.array) {
                    Some(ArrayKind::Vmalloc { .. }) => self.add(Rule, "R5", "nested_array"),
                    Some(ArrayKind::Kmalloc { .. }) => self.add(Rule, "R5", "kmalloc_array"),
                    _ => {}
                }
                if b.vm.is_some_and(|v| v.nr_pages > 0) || matches!(call, Call::Vmap { .. }) {
                    self.add(Rule, "R7", "mapped");
                }
                if before.busy.iter().any(|o| o.vm.is_some() && o.end == addr) {
                    self.add(Shape, "adjacent_to_guard", "");
                }
                // The VA fills its hole exactly: bounded below by a busy VA's end (or vstart)
                // and above by a busy VA's start (or vend, page-granular).
                let below =
                    b.start == b.request.vstart || before.busy.iter().any(|o| o.end == b.start);
                let above = b.end >= b.request.vend & !(PAGE_SIZE - 1)
                    || before.busy.iter().any(|o| o.start == b.end);
                if below && above {
                    self.add(Shape, "exact_fit", "");
                }
            }
        }
        for &(fk, k) in &self.faults.clone() {
            let i = fk.index();
            if before.attempts[i] < k && after.attempts[i] >= k {
                self.add(Rule, "R13", fk.name());
            }
        }
        self.add(Shape, "busy", bucket(after.busy.len()));
        self.add(Shape, "lazy", bucket(after.lazy_list.len()));
        if !after.deferred.is_empty() {
            self.add(Shape, "deferred_pending", "");
        }
    }

    /// The set.
    pub fn finish(self) -> BTreeSet<Feature> {
        self.set
    }
}

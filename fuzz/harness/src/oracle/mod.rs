//! The oracles: named checks, one per file, each comparing one aspect of a subject after a call
//! with what the reference model says (or with an invariant that needs no model), all with one
//! signature ([`Oracle::check`] on an [`Observation`]).
//!
//! The executor runs [`PIPELINE`] after every call, in this order (the first that fails is the
//! finding, and names itself in [`Finding::oracle`]):
//!
//! | # | oracle | compares | why here |
//! |---|---|---|---|
//! | 1 | [`invariants`] | the subject's own state: I1 disjoint, I2 inside its request, I6 `lazy_nr`, metadata counts; its own structure checks on whole-state observations | a broken invariant explains every difference after it |
//! | 2 | [`table_structure`] | the subject's page tables walked from the root: root PFN 1, boot entries, every intermediate entry `phys \| 0x67 \| C` (I9), no sharing or cycles | a malformed tree makes leaf comparisons meaningless |
//! | 3 | [`results`] | the call's results, as a tri-state | the first visible symptom |
//! | 4 | [`events`] | warnings and TLB flushes, in order | failure handling (semantics §11.1) |
//! | 5 | [`busy_list`] | busy areas: extents, live or lazy, `vm_struct`, request, data PFNs | placement and residue (R2–R4, R8, R9) |
//! | 6 | [`counters`] | lazy list and `lazy_nr`, deferred list, attempt counters, free pages per node, metadata objects | R9, R13, I5, I6 |
//! | 7 | [`crosscheck`] | the `x86_64` crate's translation of a sample of mapped and unmapped VAs (touched pages, leaves, guards, freed and lazy areas, pseudo-random window pages) | an independent walker (design §6), on its own, before the exact leaves |
//! | 8 | [`page_tables`] | every present leaf (R7, I3, I4) and every table page (I8) in scope (whole PTE tables around what the call touched) | the mapping itself, exactly |
//! | 9 | [`contents`] | whole pages of data, PFN by PFN | `__GFP_ZERO`, poison, writes, deferred-free links |
//! | 10 | [`ownership`] | every allocated frame owned exactly once and the I5 buckets; between whole-state checks the raw count of allocated frames | leaks that no counter shows |
//!
//! After the end-of-input cleanup, [`end_of_input`] checks what may remain (design §3.5).
//! [`weak`] holds the two weaker oracles the detection benchmark compares with (crash only,
//! non-NULL only): the executor runs one of them instead of all of the above when
//! [`OracleMode`](crate::exec::OracleMode) asks.
//!
//! Queries (`&self` calls) change nothing: only oracles with [`Oracle::on_queries`] run for
//! them. Each oracle looks at the [`Scope`] of the observation: the whole state, or what the
//! call touched (design §4.5, §8). Each raw oracle has a planted fault that it is the first to
//! report, in both check modes (`fuzz/canary/tests/canaries.rs`, design §8).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

pub mod busy_list;
pub mod contents;
pub mod counters;
pub mod crosscheck;
pub mod end_of_input;
pub mod events;
pub mod invariants;
pub mod ownership;
pub mod page_tables;
pub mod results;
pub mod table_structure;
pub mod walk;
pub mod weak;

#[cfg(test)]
pub(crate) mod testkit;

use crate::exec::{Call, Outcome};
use crate::finding::{Finding, FindingKind};
use crate::ops::Machine;
use crate::subject::{Event, Expectations, Fatal, RawMemory, StateView};
use walk::WalkResult;

/// What a side shows beyond its state view: the per-area and per-byte queries the oracles make
/// (every [`Kernel`](crate::subject::Kernel) offers them).
pub trait Inspect {
    /// The data pages of the live area at `start`.
    fn area_pages(&self, start: u64) -> Vec<u64>;
    /// Read through the mapping (`Err`: the unmapped address).
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64>;
    /// The whole page mapped at the page-aligned `va` (`None`: not mapped). By default read
    /// through [`Inspect::read`].
    fn read_page(&self, va: u64) -> Option<crate::subject::PageBytes> {
        let bytes = self.read(va, 4096).ok()?;
        let page = <[u8; 4096]>::try_from(bytes.as_slice()).ok()?;
        Some(crate::subject::PageBytes::from_bytes(&page))
    }
    /// The side's own structure checks.
    fn check_structures(&self) -> Result<(), String>;
    /// Its raw memory, if it simulates one.
    fn raw(&self) -> Option<&dyn RawMemory>;
    /// Its `/proc/vmallocinfo`.
    fn vmallocinfo(&self) -> String;
}

impl<K: crate::subject::Kernel + ?Sized> Inspect for K {
    fn area_pages(&self, start: u64) -> Vec<u64> {
        crate::subject::Kernel::area_pages(self, start)
    }
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, u64> {
        crate::subject::Kernel::read(self, addr, len)
    }
    fn read_page(&self, va: u64) -> Option<crate::subject::PageBytes> {
        crate::subject::Kernel::read_page(self, va)
    }
    fn check_structures(&self) -> Result<(), String> {
        crate::subject::Kernel::check_structures(self)
    }
    fn raw(&self) -> Option<&dyn RawMemory> {
        crate::subject::Kernel::raw(self)
    }
    fn vmallocinfo(&self) -> String {
        crate::subject::Kernel::vmallocinfo(self)
    }
}

/// What the oracles may ask of the model: its queries and its expectations.
pub trait ModelView: Inspect + Expectations {}

impl<T: Inspect + Expectations + ?Sized> ModelView for T {}

/// What one side did and shows after the call.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The call's result (`Err`: the call ended the input).
    pub outcome: &'a Result<Outcome, Fatal>,
    /// The events the call emitted.
    pub events: &'a [Event],
    /// The state view after the call (before it, for a call that ended the input).
    pub state: &'a StateView,
}

/// Where the state oracles look.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// The whole state: every busy area, every leaf and table page, every mapped page, every
    /// frame. After every op in replay; at the whole-state points when fuzzing.
    #[default]
    Whole,
    /// What the call touched.
    Touched(Touched),
}

/// What a call touched (computed from the model's states before and after, and the call).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Touched {
    /// VA ranges whose mapping may have changed: every busy area that appeared, went away or
    /// changed between live and lazy (sorted, merged).
    pub ranges: Vec<(u64, u64)>,
    /// Starts of the live areas the call created.
    pub new_areas: Vec<u64>,
    /// VA ranges whose bytes the call may have changed (new mappings, writes, deferred-free
    /// links), sorted and merged.
    pub contents: Vec<(u64, u64)>,
}

/// The span of one PTE table (2 MiB): the touched walk covers whole PTE tables.
pub const PTE_TABLE_SPAN: u64 = 1 << 21;

impl Touched {
    /// The VA ranges the touched walk covers: each range of [`Touched::ranges`] widened to the
    /// PTE tables it meets (2 MiB boundaries), merged. The walk reads those tables whole
    /// anyway, so a leaf beside the areas an op touched (a stray PTE in the same table) is
    /// compared at no extra reads.
    pub fn walked(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.ranges.len());
        for &(lo, hi) in &self.ranges {
            let lo = lo & !(PTE_TABLE_SPAN - 1);
            let hi = hi
                .checked_next_multiple_of(PTE_TABLE_SPAN)
                .unwrap_or(u64::MAX);
            match out.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        out
    }

    /// Does the region `[base, base + 2^shift)` meet a walked range?
    pub fn walks_region(walked: &[(u64, u64)], base: u64, shift: u32) -> bool {
        let end = u128::from(base) + (1u128 << shift);
        walked
            .iter()
            .any(|&(lo, hi)| u128::from(base) < u128::from(hi) && end > u128::from(lo))
    }
}

impl Scope {
    /// Is this a whole-state observation?
    pub fn is_whole(&self) -> bool {
        matches!(self, Scope::Whole)
    }
}

/// Everything an oracle sees of one call.
pub struct Observation<'a> {
    /// The call's index in the input (cleanup calls continue the numbering).
    pub index: usize,
    /// The op line and the resolved call, for reports.
    pub what: &'a str,
    /// The machine.
    pub machine: &'a Machine,
    /// The call (`None` for a whole-state check between calls).
    pub call: Option<&'a Call>,
    /// The model's side.
    pub model: Side<'a>,
    /// The subject's side.
    pub subject: Side<'a>,
    /// The model's state before the call.
    pub before: &'a StateView,
    /// The model's expectations and queries.
    pub expect: &'a dyn ModelView,
    /// The subject's queries.
    pub inspect: &'a dyn Inspect,
    /// The subject's page tables, walked in scope (`None` without raw memory).
    pub walk: Option<&'a WalkResult>,
    /// Where to look.
    pub scope: &'a Scope,
    /// Pages the caller holds (`alloc_page`), for ownership.
    pub caller_pages: &'a [u64],
    /// `(start, mapped bytes)` of each area the caller holds, for the cross-check's guard
    /// samples.
    pub caller_areas: &'a [(u64, u64)],
    /// Translations the cross-check makes at most (an even sample above).
    pub crosscheck_limit: usize,
}

impl Observation<'_> {
    /// A finding of `kind` at this call, from the oracle `oracle`.
    pub fn finding(
        &self,
        oracle: &'static str,
        kind: FindingKind,
        summary: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Box<Finding> {
        let mut f = Finding::new(kind, Some(self.index), self.what, summary, expected, actual);
        f.oracle = oracle;
        Box::new(f)
    }

    /// Did the call fail (return NULL)? Findings on a failed call are about failure handling.
    pub fn failed(&self) -> bool {
        matches!(self.model.outcome, Ok(o) if o.is_null())
    }

    /// Is the call a query (it cannot change state)?
    pub fn is_query(&self) -> bool {
        self.call
            .is_some_and(|c| c.kind().is(crate::ops::KindTraits::QUERY))
    }
}

/// One named check.
pub trait Oracle: Sync {
    /// The oracle's name (reports, the detection benchmark).
    fn name(&self) -> &'static str;
    /// Does it run after queries too? (Default: no; only results and events do.)
    fn on_queries(&self) -> bool {
        false
    }
    /// Check the observation; `Err` is the finding.
    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>>;
}

/// The oracles run after every call, in order.
pub const PIPELINE: [&dyn Oracle; 10] = [
    &invariants::Invariants,
    &table_structure::TableStructure,
    &results::Results,
    &events::Events,
    &busy_list::BusyList,
    &counters::Counters,
    &crosscheck::Crosscheck,
    &page_tables::PageTables,
    &contents::Contents,
    &ownership::Ownership,
];

/// Every oracle's name, in pipeline order, then the end-of-input check.
pub fn names() -> Vec<&'static str> {
    PIPELINE
        .iter()
        .map(|o| o.name())
        .chain([end_of_input::NAME])
        .collect()
}

/// Run the pipeline on one observation.
pub fn run_pipeline(o: &Observation<'_>) -> Result<(), Box<Finding>> {
    let query = o.is_query();
    for oracle in PIPELINE {
        if !query || oracle.on_queries() {
            oracle.check(o)?;
        }
    }
    Ok(())
}

//! `invariants`: the subject's own state against the invariants that need no model (I1 busy
//! areas pairwise disjoint, I2 each inside its request, aligned, page-multiple; I6 `lazy_nr`
//! is the sum of the lazy VAs' pages and at most `lazy_max_pages`; the lazy list lists exactly
//! the lazy VAs; one `vm_struct` per live area and one `vmap_area` per busy VA), and, on
//! whole-state checks, the subject's own structure checks ([`Kernel::check_structures`]; for
//! the engine its `check_structures()`: the free-gap tree, the busy B+tree, the lazy list, the
//! page allocator's summaries, the table-page list), the only way to see a corrupted internal
//! structure before it changes a result. It runs first: a broken invariant explains every
//! difference after it. The model's state is
//! held to the same invariants; a model that breaks one is reported as a divergence (a bug in
//! the model, not the subject).
//!
//! [`Kernel::check_structures`]: crate::subject::Kernel::check_structures
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::collections::BTreeSet;

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};
use crate::ops::{Machine, PAGE_SIZE};
use crate::subject::{BusyArea, StateView};

/// The oracle.
pub struct Invariants;

/// Its name.
pub const NAME: &str = "invariants";

impl Oracle for Invariants {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        if let Some((kind, msg)) = state_invariants(o.machine, o.subject.state) {
            return Err(o.finding(NAME, kind, msg, "", ""));
        }
        if let Some((_, msg)) = state_invariants(o.machine, o.model.state) {
            return Err(o.finding(
                NAME,
                FindingKind::Divergence,
                format!("the reference model broke an invariant: {msg}"),
                "",
                "",
            ));
        }
        if o.scope.is_whole() {
            if let Err(msg) = o.inspect.check_structures() {
                return Err(o.finding(
                    NAME,
                    FindingKind::InvariantBroken,
                    format!("the subject's own structure check failed: {msg}"),
                    "",
                    "",
                ));
            }
        }
        Ok(())
    }
}

/// The invariants of one state view, or the first one broken and its finding kind.
pub fn state_invariants(machine: &Machine, s: &StateView) -> Option<(FindingKind, String)> {
    // I1: busy areas sorted, non-empty and pairwise disjoint.
    for w in s.busy.windows(2) {
        if w[1].start < w[0].end {
            return Some((
                FindingKind::Overlap,
                format!(
                    "busy areas {:#x}-{:#x} and {:#x}-{:#x} overlap (I1)",
                    w[0].start, w[0].end, w[1].start, w[1].end
                ),
            ));
        }
    }
    for b in &s.busy {
        let r = b.request;
        let (lo, hi) = (b.start, b.end);
        let aligned = r.align == 0 || !r.align.is_power_of_two() || lo % r.align == 0;
        if lo >= hi || (hi - lo) % PAGE_SIZE != 0 || lo < r.vstart || hi > r.vend || !aligned {
            return Some((
                FindingKind::InvariantBroken,
                format!(
                    "busy area {lo:#x}-{hi:#x} breaks I2 for its request [{:#x}, {:#x}) align {:#x}",
                    r.vstart, r.vend, r.align
                ),
            ));
        }
    }
    // I6: lazy_nr is the sum of the lazy VAs' pages, guard included, and at most
    // lazy_max_pages after every op (single-threaded).
    let lazy: Vec<&BusyArea> = s.busy.iter().filter(|b| b.vm.is_none()).collect();
    let sum: u64 = lazy.iter().map(|b| (b.end - b.start) / PAGE_SIZE).sum();
    if s.lazy_nr != sum {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "lazy_nr = {} but the lazily freed VAs hold {sum} pages (I6)",
                s.lazy_nr
            ),
        ));
    }
    if s.lazy_nr > machine.lazy_max_pages() {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "lazy_nr = {} exceeds lazy_max_pages = {} after an op (I6)",
                s.lazy_nr,
                machine.lazy_max_pages()
            ),
        ));
    }
    let listed: BTreeSet<u64> = s.lazy_list.iter().copied().collect();
    let busy_lazy: BTreeSet<u64> = lazy.iter().map(|b| b.start).collect();
    if listed != busy_lazy || listed.len() != s.lazy_list.len() {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "the lazy list {:x?} does not match the lazily freed busy VAs {:x?}",
                s.lazy_list, busy_lazy
            ),
        ));
    }
    let live = (s.busy.len() - lazy.len()) as u64;
    if s.objects.vm_structs != live || s.objects.vmap_areas != s.busy.len() as u64 {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "{} vm_structs and {} vmap_areas are live, but {live} areas are live and {} VAs \
                 busy (I5 objects)",
                s.objects.vm_structs,
                s.objects.vmap_areas,
                s.busy.len()
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, lazy, Kit};

    #[test]
    fn a_consistent_state_passes() {
        let kit = Kit::new();
        assert!(kit.check(&Invariants).is_ok());
    }

    #[test]
    fn overlapping_areas_are_an_overlap() {
        let mut kit = Kit::new();
        kit.subject.busy = vec![area(0x1000, 0x3000), area(0x2000, 0x4000)];
        kit.subject.objects.vm_structs = 2;
        kit.subject.objects.vmap_areas = 2;
        let f = kit.check(&Invariants).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::Overlap, NAME));
        assert!(f.summary.contains("overlap (I1)"), "{}", f.summary);
    }

    #[test]
    fn lazy_nr_out_of_step_breaks_i6() {
        let mut kit = Kit::new();
        kit.subject.busy = vec![lazy(0x1000, 0x3000)];
        kit.subject.lazy_list = vec![0x1000];
        kit.subject.objects.vmap_areas = 1;
        kit.subject.lazy_nr = 1; // the VA holds 2 pages
        let f = kit.check(&Invariants).unwrap_err();
        assert_eq!(f.kind, FindingKind::InvariantBroken);
        assert!(f.summary.contains("(I6)"), "{}", f.summary);
    }

    #[test]
    fn an_area_outside_its_request_breaks_i2() {
        let mut kit = Kit::new();
        let mut a = area(0x1000, 0x3000);
        a.request.vstart = 0x2000;
        kit.subject.busy = vec![a];
        kit.subject.objects.vm_structs = 1;
        kit.subject.objects.vmap_areas = 1;
        let f = kit.check(&Invariants).unwrap_err();
        assert!(f.summary.contains("breaks I2"), "{}", f.summary);
    }

    #[test]
    fn a_failed_structure_check_is_reported_on_whole_checks() {
        let mut kit = Kit::new();
        kit.subject_side.structures = Err("gap tree max-gap stale at node 3".into());
        let f = kit.check(&Invariants).unwrap_err();
        assert_eq!(f.kind, FindingKind::InvariantBroken);
        assert!(f.summary.contains("gap tree"), "{}", f.summary);
        kit.scope = crate::oracle::Scope::Touched(Default::default());
        assert!(kit.check(&Invariants).is_ok());
    }

    #[test]
    fn a_model_that_breaks_an_invariant_is_a_divergence() {
        let mut kit = Kit::new();
        kit.model.lazy_nr = 5;
        let f = kit.check(&Invariants).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
        assert!(f.summary.starts_with("the reference model broke"));
    }
}

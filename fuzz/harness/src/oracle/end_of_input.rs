//! `end_of_input`: what may remain once the input is over (design §3.5). The executor frees
//! every area the caller holds (as fits its kind), gives back the caller's pages, runs the
//! deferred list and purges; then, with absolute expectations independent of the model's
//! bookkeeping: no VA is busy but orphaned nested pages arrays (nothing refers to them) and,
//! transitively, the nested arrays those hold (an orphaned array of more than 512 entries' worth
//! of `struct page *` pages has a nested array of its own, which only it refers to), no lazily
//! freed VA and no deferred free are pending, and only those arrays' `vm_struct`s and
//! `vmap_area`s are live. `/proc/vmallocinfo` must read the same on both sides. The page
//! tables, page ownership (only table pages and orphaned pages may stay allocated) and
//! contents are checked by the pipeline's whole-state check of the last cleanup call.

use std::collections::{BTreeMap, BTreeSet};

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};
use crate::subject::{ArrayKind, StateView};

/// The oracle.
pub struct EndOfInput;

/// Its name.
pub const NAME: &str = "end_of_input";

impl Oracle for EndOfInput {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let end = |kind, summary: &str, expected: String, actual: String| {
            let mut f = o.finding(NAME, kind, summary, expected, actual);
            f.op_index = None;
            Err(f)
        };
        let (m, s) = (o.expect.vmallocinfo(), o.inspect.vmallocinfo());
        if m != s {
            return end(
                FindingKind::Divergence,
                "vmallocinfo differs after cleanup",
                m,
                s,
            );
        }
        let state = o.subject.state;
        let orphan_arrays = unreachable_arrays(o.expect.orphaned_array_areas(), o.model.state);
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
            return end(
                FindingKind::Leak,
                "after freeing everything and purging, VAs remain busy (or lazy_nr / the \
                 deferred list is not empty)",
                "only orphaned nested pages arrays".into(),
                format!(
                    "{}\nlazy_nr={} deferred={:?}",
                    leftovers.join("\n"),
                    state.lazy_nr,
                    state.deferred
                ),
            );
        }
        let n = orphan_arrays.len() as u64;
        if state.objects.vm_structs != n || state.objects.vmap_areas != n {
            return end(
                FindingKind::Leak,
                "metadata objects remain after cleanup",
                format!("vm_structs={n} vmap_areas={n}"),
                format!(
                    "vm_structs={} vmap_areas={}",
                    state.objects.vm_structs, state.objects.vmap_areas
                ),
            );
        }
        Ok(())
    }
}

/// The areas nothing refers to once the caller has let go of everything: the orphaned nested
/// pages arrays (design §3.5) and, transitively, the nested arrays those hold, as the model's
/// busy list links them.
fn unreachable_arrays(orphans: BTreeSet<u64>, model: &StateView) -> BTreeSet<u64> {
    let nested: BTreeMap<u64, u64> = model
        .busy
        .iter()
        .filter_map(|b| match b.vm?.array {
            ArrayKind::Vmalloc { addr } => Some((b.start, addr)),
            _ => None,
        })
        .collect();
    let mut out = orphans;
    let mut todo: Vec<u64> = out.iter().copied().collect();
    while let Some(area) = todo.pop() {
        if let Some(&array) = nested.get(&area) {
            if out.insert(array) {
                todo.push(array);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, lazy, Kit};
    use crate::subject::BusyArea;

    #[test]
    fn an_empty_end_state_passes() {
        assert!(Kit::new().check(&EndOfInput).is_ok());
    }

    #[test]
    fn an_area_left_busy_is_a_leak() {
        let mut kit = Kit::new();
        kit.subject.busy = vec![area(0x1000, 0x3000)];
        let f = kit.check(&EndOfInput).unwrap_err();
        assert_eq!(
            (f.kind, f.oracle, f.op_index),
            (FindingKind::Leak, NAME, None)
        );
        assert!(f.actual.contains("0x1000-0x3000 live"));
    }

    #[test]
    fn a_lazy_va_left_unpurged_is_a_leak() {
        let mut kit = Kit::new();
        kit.subject.busy = vec![lazy(0x1000, 0x3000)];
        kit.subject.lazy_nr = 2;
        let f = kit.check(&EndOfInput).unwrap_err();
        assert!(f.actual.contains("lazy_nr=2"));
    }

    #[test]
    fn an_orphaned_array_may_stay() {
        let mut kit = Kit::new();
        kit.subject.busy = vec![area(0x1000, 0x3000)];
        kit.subject.objects.vm_structs = 1;
        kit.subject.objects.vmap_areas = 1;
        kit.model_side.orphan_arrays.insert(0x1000);
        assert!(kit.check(&EndOfInput).is_ok());
    }

    /// A live area `[start, end)` whose pages array is the nested area at `array`.
    fn holding(start: u64, end: u64, array: u64) -> BusyArea {
        let mut a = area(start, end);
        if let Some(vm) = a.vm.as_mut() {
            vm.array = ArrayKind::Vmalloc { addr: array };
        }
        a
    }

    /// design §3.5: an orphaned array too big for one page of pointers holds a nested array of
    /// its own, which only it refers to: both may stay, with their metadata.
    #[test]
    fn the_nested_array_of_an_orphaned_array_may_stay() {
        let mut kit = Kit::new();
        let (orphan, inner) = (holding(0x1000, 0x4000, 0x9000), area(0x9000, 0xb000));
        kit.model.busy = vec![orphan.clone(), inner.clone()];
        kit.subject.busy = vec![orphan, inner];
        kit.subject.objects.vm_structs = 2;
        kit.subject.objects.vmap_areas = 2;
        kit.model_side.orphan_arrays.insert(0x1000);
        assert!(kit.check(&EndOfInput).is_ok());
        // Without the orphan, the same two areas are a leak: the outer one is named.
        kit.model_side.orphan_arrays.clear();
        let f = kit.check(&EndOfInput).unwrap_err();
        assert_eq!(f.kind, FindingKind::Leak);
        assert!(f.actual.contains("0x1000-0x4000 live"), "{}", f.actual);
        assert!(f.actual.contains("0x9000-0xb000 live"), "{}", f.actual);
    }

    /// Only the model's links count: a subject area the model does not nest under an orphan
    /// is a leak, and so is the metadata of an array the model does not have.
    #[test]
    fn an_array_the_model_does_not_nest_under_an_orphan_is_a_leak() {
        let mut kit = Kit::new();
        kit.model.busy = vec![area(0x1000, 0x4000)];
        kit.subject.busy = vec![holding(0x1000, 0x4000, 0x9000), area(0x9000, 0xb000)];
        kit.subject.objects.vm_structs = 2;
        kit.subject.objects.vmap_areas = 2;
        kit.model_side.orphan_arrays.insert(0x1000);
        let f = kit.check(&EndOfInput).unwrap_err();
        assert_eq!(f.kind, FindingKind::Leak);
        assert!(f.actual.contains("0x9000-0xb000 live"), "{}", f.actual);
        assert!(!f.actual.contains("0x1000-0x4000"), "{}", f.actual);
    }

    #[test]
    fn a_different_vmallocinfo_is_a_divergence() {
        let mut kit = Kit::new();
        kit.subject_side.vmallocinfo = "0x0-0x1000 4096 unpurged vm_area\n".into();
        let f = kit.check(&EndOfInput).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
    }
}

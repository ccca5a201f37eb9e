//! `end_of_input`: what may remain once the input is over (design §3.5). The executor frees
//! every area the caller holds (as fits its kind), gives back the caller's pages, runs the
//! deferred list and purges; then, with absolute expectations independent of the model's
//! bookkeeping: no VA is busy but orphaned nested pages arrays (nothing refers to them), no
//! lazily freed VA and no deferred free are pending, and only those arrays' `vm_struct`s and
//! `vmap_area`s are live. `/proc/vmallocinfo` must read the same on both sides. The page
//! tables, page ownership (only table pages and orphaned pages may stay allocated) and
//! contents are checked by the pipeline's whole-state check of the last cleanup call.

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};

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
        let orphan_arrays = o.expect.orphaned_array_areas();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, lazy, Kit};

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

    #[test]
    fn a_different_vmallocinfo_is_a_divergence() {
        let mut kit = Kit::new();
        kit.subject_side.vmallocinfo = "0x0-0x1000 4096 unpurged vm_area\n".into();
        let f = kit.check(&EndOfInput).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
    }
}

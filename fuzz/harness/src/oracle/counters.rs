//! `counters`: the state the busy list does not show: the lazy list (newest first) and
//! `vmap_lazy_nr` (R9, I6), the deferred-free list (semantics §5.1), the fault-plan attempt
//! counters per kind (the allocation order of R13), free pages per node (semantics §12.2) and
//! the live metadata objects (I5). Fewer free pages or more objects on the subject's side is a
//! leak; on a failing call a difference is wrong failure handling.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};

/// The oracle.
pub struct Counters;

/// Its name.
pub const NAME: &str = "counters";

impl Oracle for Counters {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let (m, s) = (o.model.state, o.subject.state);
        let fail_or = |k| {
            if o.failed() {
                FindingKind::WrongFailureHandling
            } else {
                k
            }
        };
        let finding =
            |kind, summary: &str, e: String, a: String| Err(o.finding(NAME, kind, summary, e, a));
        if m.lazy_list != s.lazy_list || m.lazy_nr != s.lazy_nr {
            return finding(
                fail_or(FindingKind::Divergence),
                "the lazy list or lazy_nr differs (R9)",
                format!("lazy_nr={} list={:x?}", m.lazy_nr, m.lazy_list),
                format!("lazy_nr={} list={:x?}", s.lazy_nr, s.lazy_list),
            );
        }
        if m.deferred != s.deferred {
            return finding(
                FindingKind::Divergence,
                "the deferred-free list differs (semantics §5.1)",
                format!("{:x?}", m.deferred),
                format!("{:x?}", s.deferred),
            );
        }
        if m.attempts != s.attempts {
            return finding(
                fail_or(FindingKind::Divergence),
                "allocation attempt counters differ: the allocation order (R13) or the set of \
                 allocations is different",
                format!("{:?}", m.attempts),
                format!("{:?}", s.attempts),
            );
        }
        if m.free_pages != s.free_pages {
            let fewer = s.free_pages.iter().sum::<u64>() < m.free_pages.iter().sum::<u64>();
            let kind = if fewer {
                FindingKind::Leak
            } else {
                fail_or(FindingKind::Divergence)
            };
            return finding(
                kind,
                "free pages per node differ",
                format!("{:?}", m.free_pages),
                format!("{:?}", s.free_pages),
            );
        }
        if m.objects != s.objects {
            let more = s.objects.vm_structs > m.objects.vm_structs
                || s.objects.vmap_areas > m.objects.vmap_areas
                || s.objects.small_arrays > m.objects.small_arrays;
            let kind = if more {
                FindingKind::Leak
            } else {
                fail_or(FindingKind::Divergence)
            };
            return finding(
                kind,
                "live metadata objects differ (I5)",
                format!("{:?}", m.objects),
                format!("{:?}", s.objects),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::Kit;

    #[test]
    fn equal_counters_pass() {
        assert!(Kit::new().check(&Counters).is_ok());
    }

    #[test]
    fn fewer_free_pages_are_a_leak() {
        let mut kit = Kit::new();
        kit.subject.free_pages = vec![kit.model.free_pages[0] - 1];
        let f = kit.check(&Counters).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::Leak, NAME));
    }

    #[test]
    fn other_attempt_counters_are_a_divergence() {
        let mut kit = Kit::new();
        kit.subject.attempts[3] = 1;
        let f = kit.check(&Counters).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
        assert!(f.summary.contains("R13"));
    }

    #[test]
    fn a_different_lazy_nr_on_a_failed_call_is_wrong_failure_handling() {
        let mut kit = Kit::new();
        kit.model_outcome = Ok(crate::exec::Outcome::Addr(None));
        kit.subject_outcome = Ok(crate::exec::Outcome::Addr(None));
        kit.subject.lazy_nr = 3;
        let f = kit.check(&Counters).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongFailureHandling);
    }

    #[test]
    fn an_extra_object_is_a_leak() {
        let mut kit = Kit::new();
        kit.subject.objects.small_arrays = 1;
        let f = kit.check(&Counters).unwrap_err();
        assert_eq!(f.kind, FindingKind::Leak);
    }
}

//! `events`: the warnings and TLB flushes the call emitted, as a sequence (semantics §11.1,
//! design §3.12): each occurrence the kernel would print (no rate limit, `__GFP_NOWARN`
//! honoured where the kernel honours it) and each `flush_tlb_kernel_range` of a purge, in
//! order. A difference on a failing call (or in its warnings) is wrong failure handling;
//! a difference in the flushes alone of a succeeding call is a divergence.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};
use crate::subject::Event;

/// The oracle.
pub struct Events;

/// Its name.
pub const NAME: &str = "events";

impl Oracle for Events {
    fn name(&self) -> &'static str {
        NAME
    }

    fn on_queries(&self) -> bool {
        true
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let (m, s) = (o.model.events, o.subject.events);
        if m == s {
            return Ok(());
        }
        // The model's warnings say the call failed somewhere (a bad free, a failed allocation).
        let warned = m.iter().any(|e| !matches!(e, Event::TlbFlush { .. }));
        let ended = o.model.outcome.is_err();
        let kind = if !o.is_query() && (o.failed() || warned || ended) {
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
        Err(o.finding(
            NAME,
            kind,
            "the warnings and TLB flushes differ (semantics §11.1)",
            show(m),
            show(s),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::Kit;

    #[test]
    fn equal_events_pass() {
        let mut kit = Kit::new();
        kit.model_events = vec![Event::AllocFailure { bytes: 1 }];
        kit.subject_events = vec![Event::AllocFailure { bytes: 1 }];
        assert!(kit.check(&Events).is_ok());
    }

    #[test]
    fn a_missing_warning_is_wrong_failure_handling() {
        let mut kit = Kit::new();
        kit.model_events = vec![Event::NonexistentArea { addr: 0x1000 }];
        let f = kit.check(&Events).unwrap_err();
        assert_eq!(
            (f.kind, f.oracle),
            (FindingKind::WrongFailureHandling, NAME)
        );
        assert!(f.expected.contains("warn5"));
        assert_eq!(f.actual, "");
    }

    #[test]
    fn a_flush_out_of_order_on_a_success_is_a_divergence() {
        let mut kit = Kit::new();
        let a = Event::TlbFlush {
            start: 0,
            end: 0x1000,
        };
        let b = Event::TlbFlush {
            start: 0x1000,
            end: 0x2000,
        };
        kit.model_events = vec![a, b];
        kit.subject_events = vec![b, a];
        let f = kit.check(&Events).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
    }
}

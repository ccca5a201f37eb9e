//! Fault-attempt counters and the injection decision (contract §6, design §3.7).
//!
//! `design §N` and `contract §N` cite sections of `docs/design.md` and `docs/contract.md`.

use crate::config::{FaultKind, FaultPlan};

/// Outcome of asking the fault plan about one allocation attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// `__GFP_NOFAIL`: not counted, never injected.
    NotCounted,
    /// Counted; the plan fails it.
    Injected,
    /// Counted; the plan lets it through.
    Proceed,
}

/// One counter per [`FaultKind`], from machine start, across outer and nested calls.
#[derive(Clone, Debug, Default)]
pub(crate) struct FaultCounters {
    attempts: [u64; 5],
    plan: FaultPlan,
}

impl FaultCounters {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        FaultCounters {
            attempts: [0; 5],
            plan,
        }
    }

    /// Counts one attempt of `kind` unless `nofail`, and says whether the plan fails it.
    pub(crate) fn attempt(&mut self, kind: FaultKind, nofail: bool) -> Attempt {
        if nofail {
            return Attempt::NotCounted;
        }
        let counter = &mut self.attempts[kind.index()];
        *counter += 1;
        if self.plan.fails(kind, *counter) {
            Attempt::Injected
        } else {
            Attempt::Proceed
        }
    }

    pub(crate) fn attempts(&self) -> [u64; 5] {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_skips_nofail() {
        // design §3.7: the 2nd DataPage attempt fails; NOFAIL requests are not counted.
        let mut f = FaultCounters::new(FaultPlan::new().fail(FaultKind::DataPage, 2));
        assert_eq!(f.attempt(FaultKind::DataPage, false), Attempt::Proceed); // #1
        assert_eq!(f.attempt(FaultKind::DataPage, true), Attempt::NotCounted);
        assert_eq!(f.attempt(FaultKind::VmStruct, false), Attempt::Proceed); // other kind
        assert_eq!(f.attempt(FaultKind::DataPage, false), Attempt::Injected); // #2
        assert_eq!(f.attempt(FaultKind::DataPage, false), Attempt::Proceed); // #3
        assert_eq!(f.attempts(), [1, 0, 0, 3, 0]);
    }
}

//! `results`: what the call returned, as a tri-state (design §7, after wasmtime's differential
//! oracles): both sides returned, so the values must be equal (addresses, `vm_struct`s, PFNs,
//! bytes read); both ended the input (a BUG or a hang), so it must be the same end; only one
//! side ended it, or they ended it differently: always a finding. The kind names what differs:
//! NULL on one side only is wrong failure handling, another address wrong placement, another
//! PFN a wrong mapping, other bytes wrong data.
//!
//! `design §N` cites a section of `docs/design.md`.

use super::{Observation, Oracle};
use crate::exec::{Call, Outcome};
use crate::finding::{Finding, FindingKind};
use crate::subject::Fatal;

/// The oracle.
pub struct Results;

/// Its name.
pub const NAME: &str = "results";

impl Oracle for Results {
    fn name(&self) -> &'static str {
        NAME
    }

    fn on_queries(&self) -> bool {
        true
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let show = |r: &Result<Outcome, Fatal>| match r {
            Ok(x) => outcome_detail(x),
            Err(f) => f.to_string(),
        };
        let (m, s) = (o.model.outcome, o.subject.outcome);
        let (mo, so) = match (m, s) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) if a == b => return Ok(()),
            _ => {
                return Err(o.finding(
                    NAME,
                    FindingKind::WrongFailureHandling,
                    "only one side ended the input (BUG or hang), or they ended it differently",
                    show(m),
                    show(s),
                ))
            }
        };
        if mo == so {
            return Ok(());
        }
        let kind = match mo {
            _ if mo.is_null() != so.is_null() => FindingKind::WrongFailureHandling,
            Outcome::Addr(_) | Outcome::Area(_) if matches!(o.call, Some(Call::FindVmArea(_))) => {
                FindingKind::Divergence
            }
            Outcome::Addr(_) | Outcome::Area(_) => FindingKind::WrongPlacement,
            Outcome::Pfn(_) => FindingKind::WrongMapping,
            Outcome::Bytes(_) | Outcome::Written(_) => FindingKind::WrongData,
            _ => FindingKind::Divergence,
        };
        let summary = if o.is_query() {
            "the query returned different results"
        } else {
            "the call returned different results"
        };
        Err(o.finding(NAME, kind, summary, outcome_detail(mo), outcome_detail(so)))
    }
}

/// An outcome in full, for a diff: addresses in hex, VM info field by field, bytes as hex.
pub fn outcome_detail(o: &Outcome) -> String {
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
pub fn hex_lines(b: &[u8]) -> String {
    b.chunks(32)
        .enumerate()
        .map(|(i, c)| {
            let hex: String = c.iter().map(|x| format!("{x:02x}")).collect();
            format!("{:05x}: {hex}", i * 32)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::Kit;
    use crate::subject::BugKind;

    #[test]
    fn equal_results_pass() {
        let kit = Kit::new();
        assert!(kit.check(&Results).is_ok());
    }

    #[test]
    fn another_address_is_a_wrong_placement() {
        let mut kit = Kit::new();
        kit.model_outcome = Ok(Outcome::Addr(Some(0xffff_c900_0000_0000)));
        kit.subject_outcome = Ok(Outcome::Addr(Some(0xffff_c900_0000_2000)));
        let f = kit.check(&Results).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongPlacement, NAME));
        assert_eq!(f.expected, "0xffffc90000000000");
        assert_eq!(f.actual, "0xffffc90000002000");
    }

    #[test]
    fn null_on_one_side_is_wrong_failure_handling() {
        let mut kit = Kit::new();
        kit.model_outcome = Ok(Outcome::Addr(Some(0xffff_c900_0000_0000)));
        kit.subject_outcome = Ok(Outcome::Addr(None));
        let f = kit.check(&Results).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongFailureHandling);
    }

    #[test]
    fn a_bug_on_one_side_only_is_wrong_failure_handling() {
        let mut kit = Kit::new();
        kit.model_outcome = Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        kit.subject_outcome = Ok(Outcome::Addr(None));
        let f = kit.check(&Results).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongFailureHandling);
        assert_eq!(f.expected, "bug align_not_power_of_two");
        // The same BUG on both sides is no finding.
        kit.subject_outcome = Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        assert!(kit.check(&Results).is_ok());
    }

    #[test]
    fn other_bytes_are_wrong_data() {
        let mut kit = Kit::new();
        kit.model_outcome = Ok(Outcome::Bytes(Ok(vec![0; 4])));
        kit.subject_outcome = Ok(Outcome::Bytes(Ok(vec![0xaa; 4])));
        let f = kit.check(&Results).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongData);
    }
}

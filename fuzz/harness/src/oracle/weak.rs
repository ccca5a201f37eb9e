//! `crash` and `non_null`: the two weaker oracles the detection benchmark measures vmfuzz
//! against (`vmfuzz bench detect`, design §5.9). They are not part of the pipeline: the
//! executor runs one of them instead of it when [`OracleMode`] asks.
//!
//! - **crash** is what a crash-only fuzzer sees (syzkaller, or cargo-fuzz with no oracle of its
//!   own): the subject panicked (the executor reports that before any oracle), or it ended the
//!   input with a BUG, an oops or a hang where the model did not, or with another one. A BUG
//!   that the model has too is the input's own doing (an alignment that is not a power of two,
//!   an interrupt-context `vunmap`): a fuzzer would list it as expected, so it is not counted.
//! - **non_null** adds what `lib/test_vmalloc.c` checks: an allocating call that returned NULL
//!   where the model's succeeded. A NULL the model returns too is earned (the request is too
//!   big, the window is full, a fault was injected), so it is not counted either.
//!
//! Neither looks at addresses, page tables, contents, counters or leaks.
//!
//! `design §N` cites a section of `docs/design.md`.

use crate::exec::{Call, OracleMode, Outcome};
use crate::finding::{Finding, FindingKind};
use crate::ops::KindTraits;
use crate::oracle::results::outcome_detail;
use crate::subject::Fatal;

/// The crash oracle's name.
pub const CRASH: &str = "crash";
/// The non-NULL oracle's name.
pub const NON_NULL: &str = "non_null";

/// Judge one call's results as `mode` would (for [`OracleMode::Full`], nothing: the pipeline
/// does that). `model` and `subject` are the two sides' results of `call`, op `index`
/// described by `what`.
pub fn check(
    mode: OracleMode,
    index: usize,
    what: &str,
    call: &Call,
    model: &Result<Outcome, Fatal>,
    subject: &Result<Outcome, Fatal>,
) -> Result<(), Box<Finding>> {
    if mode == OracleMode::Full {
        return Ok(());
    }
    let finding = |oracle: &'static str, summary: &str, expected: String, actual: String| {
        let mut f = Finding::new(
            FindingKind::WrongFailureHandling,
            Some(index),
            what,
            summary,
            expected,
            actual,
        );
        f.oracle = oracle;
        Box::new(f)
    };
    let show = |r: &Result<Outcome, Fatal>| match r {
        Ok(o) => outcome_detail(o),
        Err(f) => f.to_string(),
    };
    match (model, subject) {
        (Err(m), Err(s)) if m == s => return Ok(()),
        (_, Err(_)) => {
            return Err(finding(
                CRASH,
                "the subject crashed (BUG, oops or hang) where the model did not, or crashed \
                 differently",
                show(model),
                show(subject),
            ))
        }
        _ => {}
    }
    if mode == OracleMode::NonNullOnly && call.kind().is(KindTraits::ALLOCATES) {
        if let (Ok(m), Ok(s)) = (model, subject) {
            if s.is_null() && !m.is_null() {
                return Err(finding(
                    NON_NULL,
                    "an allocation returned NULL where it should have succeeded",
                    outcome_detail(m),
                    outcome_detail(s),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::VmallocApi;
    use crate::subject::BugKind;

    const V: u64 = 0xffff_c900_0000_0000;

    fn vmalloc() -> Call {
        Call::Vmalloc(VmallocApi::Vmalloc, 4096)
    }

    fn judge(
        mode: OracleMode,
        m: Result<Outcome, Fatal>,
        s: Result<Outcome, Fatal>,
    ) -> Option<&'static str> {
        check(mode, 3, "vmalloc 4096", &vmalloc(), &m, &s)
            .err()
            .map(|f| {
                assert_eq!(f.op_index, Some(3));
                f.oracle
            })
    }

    #[test]
    fn a_bug_only_the_subject_has_is_a_crash_in_both_weak_modes() {
        let bug = Err(Fatal::Bug(BugKind::Oops));
        for mode in [OracleMode::CrashOnly, OracleMode::NonNullOnly] {
            assert_eq!(
                judge(mode, Ok(Outcome::Addr(Some(V))), bug.clone()),
                Some(CRASH)
            );
            assert_eq!(
                judge(mode, Ok(Outcome::Addr(Some(V))), Err(Fatal::WouldHang)),
                Some(CRASH)
            );
            // Another BUG than the model's.
            assert_eq!(
                judge(
                    mode,
                    Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo)),
                    bug.clone()
                ),
                Some(CRASH)
            );
        }
    }

    #[test]
    fn a_bug_the_model_has_too_is_the_inputs_own() {
        let bug = || Err(Fatal::Bug(BugKind::AlignNotPowerOfTwo));
        for mode in [OracleMode::CrashOnly, OracleMode::NonNullOnly] {
            assert_eq!(judge(mode, bug(), bug()), None);
            // The model's BUG that the subject lacks is no crash.
            assert_eq!(judge(mode, bug(), Ok(Outcome::Addr(Some(V)))), None);
        }
    }

    #[test]
    fn an_unearned_null_counts_only_for_non_null() {
        let (ok, null) = (Ok(Outcome::Addr(Some(V))), Ok(Outcome::Addr(None)));
        assert_eq!(
            judge(OracleMode::NonNullOnly, ok.clone(), null.clone()),
            Some(NON_NULL)
        );
        assert_eq!(judge(OracleMode::CrashOnly, ok.clone(), null.clone()), None);
        // An earned NULL, a success where the model fails, another address: none is seen.
        assert_eq!(
            judge(OracleMode::NonNullOnly, null.clone(), null.clone()),
            None
        );
        assert_eq!(judge(OracleMode::NonNullOnly, null, ok.clone()), None);
        assert_eq!(
            judge(
                OracleMode::NonNullOnly,
                ok,
                Ok(Outcome::Addr(Some(V + 4096)))
            ),
            None
        );
    }

    #[test]
    fn a_null_from_a_call_that_does_not_allocate_is_not_checked() {
        let call = Call::FindVmArea(V);
        let r = check(
            OracleMode::NonNullOnly,
            0,
            "find_vm_area",
            &call,
            &Ok(Outcome::Area(Some(
                crate::oracle::testkit::area(V, V + 8192).vm.unwrap(),
            ))),
            &Ok(Outcome::Area(None)),
        );
        assert!(r.is_ok());
    }

    #[test]
    fn the_full_mode_leaves_everything_to_the_pipeline() {
        assert_eq!(
            judge(
                OracleMode::Full,
                Ok(Outcome::Addr(Some(V))),
                Err(Fatal::WouldHang)
            ),
            None
        );
    }
}

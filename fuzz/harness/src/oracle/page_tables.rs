//! `page_tables`: every present leaf of the subject's tables (walked from the root frame) in
//! scope, against the model's expected PTEs: the same VAs and the exact entry values, PFN and
//! flags (R7, spec-exact per PTE scenario, semantics §8.3); nothing present on a guard page, a
//! lazily freed area or anywhere outside a live area's mapped pages (I3, I4). On whole-state
//! checks also the set of page-table pages per level and region (I8). A finding names the
//! first differences as `expected`/`actual` lines.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::collections::BTreeMap;

use super::walk::{leaves_equal, map_diff};
use super::{Observation, Oracle, Scope};
use crate::finding::{Finding, FindingKind};

/// The oracle.
pub struct PageTables;

/// Its name.
pub const NAME: &str = "page_tables";

impl Oracle for PageTables {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let Some(w) = o.walk else { return Ok(()) };
        let ptes = o.expect.expected_ptes();
        let want: std::borrow::Cow<'_, BTreeMap<u64, u64>> = match o.scope {
            Scope::Whole => std::borrow::Cow::Borrowed(&*ptes),
            Scope::Touched(t) => {
                let mut part = BTreeMap::new();
                for &(lo, hi) in &t.ranges {
                    part.extend(ptes.range(lo..hi).map(|(&a, &b)| (a, b)));
                }
                std::borrow::Cow::Owned(part)
            }
        };
        if !leaves_equal(&w.leaves, &want) {
            let actual: BTreeMap<u64, u64> = w.leaves.iter().copied().collect();
            let lines = map_diff(
                &want,
                &actual,
                |va, e| match e {
                    Some(e) => format!("PTE {va:#x} = {e:#018x}"),
                    None => format!("PTE {va:#x} not present"),
                },
                12,
            );
            let summary = if o.scope.is_whole() {
                "present leaf PTEs differ from the model (R7, I3, I4)"
            } else {
                "present leaf PTEs of the areas this op touched differ from the model (R7, I3, I4)"
            };
            return Err(o.finding(
                NAME,
                FindingKind::WrongMapping,
                summary,
                "",
                lines.join("\n"),
            ));
        }
        if o.scope.is_whole() {
            let tables = o.expect.expected_tables();
            if w.tables != tables {
                let lines = map_diff(
                    &tables,
                    &w.tables,
                    |(l, base), p| match p {
                        Some(p) => format!("{} table for {base:#x} at pfn {p:#x}", l.name()),
                        None => format!("no {} table for {base:#x}", l.name()),
                    },
                    12,
                );
                return Err(o.finding(
                    NAME,
                    FindingKind::WrongMapping,
                    "page-table pages differ from the model (I8)",
                    "",
                    lines.join("\n"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{Kit, V};
    use crate::oracle::Touched;

    /// One mapped page at V: PUD, PMD and PTE tables at 0x300..0x302, data page 0x100.
    fn mapped() -> Kit {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        kit
    }

    #[test]
    fn matching_tables_pass() {
        assert!(mapped().check(&PageTables).is_ok());
    }

    #[test]
    fn a_wrong_pfn_is_a_wrong_mapping() {
        let mut kit = mapped();
        kit.raw
            .set_entry(0x302, 0, (0x101 << 12) | 0x8000_0000_0000_0163);
        let f = kit.check(&PageTables).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongMapping, NAME));
        assert!(f
            .actual
            .contains("PTE 0xffffc90000000000 = 0x8000000000101163"));
    }

    #[test]
    fn a_stale_pte_outside_every_area_is_a_wrong_mapping() {
        let mut kit = mapped();
        kit.raw
            .set_entry(0x302, 7, (0x107 << 12) | 0x8000_0000_0000_0163);
        let f = kit.check(&PageTables).unwrap_err();
        assert!(f
            .actual
            .contains("expected PTE 0xffffc90000007000 not present"));
        // Out of the touched ranges it is not looked at: the whole-state check finds it.
        kit.walk_range = Some((V, V + 0x1000));
        kit.scope = Scope::Touched(Touched {
            ranges: vec![(V, V + 0x1000)],
            ..Touched::default()
        });
        assert!(kit.check(&PageTables).is_ok());
    }

    #[test]
    fn a_missing_table_page_breaks_i8() {
        let mut kit = mapped();
        kit.model_side
            .tables
            .insert((crate::subject::TableLevel::Pte, V + 0x20_0000), 0x303);
        let f = kit.check(&PageTables).unwrap_err();
        assert!(f.summary.contains("(I8)"));
        assert!(f
            .actual
            .contains("pte table for 0xffffc90000200000 at pfn 0x303"));
    }
}

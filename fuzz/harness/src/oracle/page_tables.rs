//! `page_tables`: every present leaf of the subject's tables (walked from the root frame) in
//! scope, against the model's expected PTEs: the same VAs and the exact entry values, PFN and
//! flags (R7, spec-exact per PTE scenario, semantics §8.3); nothing present on a guard page, a
//! lazily freed area or anywhere outside a live area's mapped pages (I3, I4). And the set of
//! page-table pages per level and region (I8), so that a table page that is allocated but
//! unreachable is reported here. In scope: the whole tree on whole-state checks; otherwise
//! every PTE table (2 MiB region) that meets a range the call touched, whole
//! ([`Touched::walked`]), with the table pages of those regions, so a stray leaf beside the
//! areas the call touched or a table it unlinked shows at that call. A finding names the first
//! differences as `expected`/`actual` lines.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::collections::BTreeMap;

use super::walk::{leaves_equal, map_diff};
use super::{Observation, Oracle, Scope, Touched};
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
        let walked = match o.scope {
            Scope::Whole => Vec::new(),
            Scope::Touched(t) => t.walked(),
        };
        // The expected leaves in scope, compared in place; a map is built only for a report.
        let equal = match o.scope {
            Scope::Whole => leaves_equal(&w.leaves, &ptes),
            Scope::Touched(_) => w.leaves.iter().copied().eq(walked
                .iter()
                .flat_map(|&(lo, hi)| ptes.range(lo..hi).map(|(&a, &b)| (a, b)))),
        };
        if !equal {
            let want: BTreeMap<u64, u64> = match o.scope {
                Scope::Whole => (*ptes).clone(),
                Scope::Touched(_) => walked
                    .iter()
                    .flat_map(|&(lo, hi)| ptes.range(lo..hi).map(|(&a, &b)| (a, b)))
                    .collect(),
            };
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
        // The table pages: all of them on whole-state checks; on the touched walk, those of
        // the regions it covers (a call that touched nothing leaves them alone).
        if o.scope.is_whole() || !walked.is_empty() {
            let mut tables = o.expect.expected_tables();
            if !o.scope.is_whole() {
                tables.retain(|&(level, base), _| {
                    Touched::walks_region(&walked, base, level.region_shift())
                });
            }
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
        // A call that touched only V's page walks V's whole PTE table (`Touched::walked`):
        // the stray leaf at V + 0x7000 is in it.
        kit.walk_range = Some((V, V + 0x20_0000));
        kit.scope = Scope::Touched(Touched {
            ranges: vec![(V, V + 0x1000)],
            ..Touched::default()
        });
        let f = kit.check(&PageTables).unwrap_err();
        assert!(f.summary.contains("touched"), "{}", f.summary);
        // One in another PTE table (another 2 MiB region) is left to the whole-state check.
        kit.raw.set_entry(0x302, 7, 0);
        kit.raw.set_entry(0x301, 1, (0x303 << 12) | 0x67);
        kit.raw
            .set_entry(0x303, 0, (0x108 << 12) | 0x8000_0000_0000_0163);
        assert!(kit.check(&PageTables).is_ok());
        kit.scope = Scope::Whole;
        kit.walk_range = None;
        assert!(kit.check(&PageTables).is_err());
    }

    #[test]
    fn touched_ranges_walk_whole_pte_tables() {
        let t = Touched {
            ranges: vec![(V + 0x1000, V + 0x3000), (V + 0x5000, V + 0x20_1000)],
            ..Touched::default()
        };
        assert_eq!(t.walked(), vec![(V, V + 0x40_0000)]);
        let top = Touched {
            ranges: vec![(u64::MAX - 0x1fff, u64::MAX)],
            ..Touched::default()
        };
        assert_eq!(top.walked(), vec![(u64::MAX - 0x1f_ffff, u64::MAX)]);
    }

    /// A PTE table unlinked from its PMD entry (still allocated): the leaves agree (none), the
    /// table set does not, on the touched walk of that region too.
    #[test]
    fn an_unlinked_table_breaks_i8_in_either_scope() {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        kit.model_side.ptes.clear();
        kit.raw.set_entry(0x302, 0, 0);
        kit.raw.set_entry(0x301, 0, 0);
        let f = kit.check(&PageTables).unwrap_err();
        assert!(f.summary.contains("(I8)"), "{}", f.summary);
        assert!(f
            .actual
            .contains("expected pte table for 0xffffc90000000000 at pfn 0x302"));
        kit.walk_range = Some((V, V + 0x20_0000));
        kit.scope = Scope::Touched(Touched {
            ranges: vec![(V, V + 0x2000)],
            ..Touched::default()
        });
        let f = kit.check(&PageTables).unwrap_err();
        assert!(f.summary.contains("(I8)"), "{}", f.summary);
        // A call that touched another 2 MiB region does not compare this one's table.
        kit.walk_range = Some((V + 0x40_0000, V + 0x60_0000));
        kit.scope = Scope::Touched(Touched {
            ranges: vec![(V + 0x40_0000, V + 0x40_2000)],
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

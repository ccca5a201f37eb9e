//! `busy_list`: the busy VAs, area by area, against the model's (R2–R4 placement and size, R8
//! failure residue, R9 lazy frees): the same extents in the same order, each live or lazily
//! freed alike, the same `vm_struct` (flags, `nr_pages`, caller, pages array) and request, and
//! the same data PFNs (R6, semantics §12.2) for every area in scope: the areas the call created,
//! or every live area on a whole-state check. An area the subject keeps live that the model
//! freed (more live areas than the model's) is a leak; a different extent is a wrong placement
//! (or wrong failure handling when the call failed); other data pages are a wrong mapping.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::fmt::Write;

use super::{Observation, Oracle, Scope};
use crate::finding::{Finding, FindingKind};
use crate::subject::{BusyArea, StateView};

/// The oracle.
pub struct BusyList;

/// Its name.
pub const NAME: &str = "busy_list";

impl Oracle for BusyList {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let (m, s) = (o.model.state, o.subject.state);
        let failed = o.failed();
        let ext = |v: &StateView| v.busy.iter().map(|b| (b.start, b.end)).collect::<Vec<_>>();
        if ext(m) != ext(s) {
            // Kept: the subject holds more live areas than the model, so one it should have
            // freed is still there. The same number placed differently is a wrong placement.
            let live = |v: &StateView| v.busy.iter().filter(|b| b.vm.is_some()).count();
            let kept_live = live(s) > live(m);
            let kind = if failed {
                FindingKind::WrongFailureHandling
            } else if kept_live {
                FindingKind::Leak
            } else {
                FindingKind::WrongPlacement
            };
            return Err(o.finding(
                NAME,
                kind,
                "the busy VAs differ (R2, R3, R8, R9)",
                busy_text(m, None),
                busy_text(s, None),
            ));
        }
        for (a, b) in m.busy.iter().zip(&s.busy) {
            if a.vm.is_some() != b.vm.is_some() {
                let kind = if b.vm.is_some() {
                    FindingKind::Leak
                } else if failed {
                    FindingKind::WrongFailureHandling
                } else {
                    FindingKind::Divergence
                };
                return Err(o.finding(
                    NAME,
                    kind,
                    format!(
                        "area {:#x}: live on one side, lazily freed on the other",
                        a.start
                    ),
                    area_line(a, None),
                    area_line(b, None),
                ));
            }
            if a != b {
                return Err(o.finding(
                    NAME,
                    FindingKind::Divergence,
                    format!("area {:#x} differs", a.start),
                    area_line(a, None),
                    area_line(b, None),
                ));
            }
        }
        // Data pages: of the new areas, or of every live area on a whole-state check.
        let starts: Vec<u64> = match o.scope {
            Scope::Whole => m
                .busy
                .iter()
                .filter(|b| b.vm.is_some())
                .map(|b| b.start)
                .collect(),
            Scope::Touched(t) => t.new_areas.clone(),
        };
        for start in starts {
            let Some(area) = s.busy.iter().find(|b| b.start == start) else {
                continue;
            };
            let (want, got) = (o.expect.area_pages(start), o.inspect.area_pages(start));
            let nr = area.vm.map_or(0, |v| v.nr_pages);
            if nr != got.len() as u64 {
                return Err(o.finding(
                    NAME,
                    FindingKind::InvariantBroken,
                    format!(
                        "area {start:#x}: nr_pages = {nr} but {} pages are listed",
                        got.len()
                    ),
                    "",
                    "",
                ));
            }
            if want != got {
                return Err(o.finding(
                    NAME,
                    FindingKind::WrongMapping,
                    format!("area {start:#x}: different data pages (R6, semantics §12.2)"),
                    area_line(area, Some(&want)),
                    area_line(area, Some(&got)),
                ));
            }
        }
        Ok(())
    }
}

/// `0x100-0x10f,0x200` style.
pub fn pfn_ranges(pfns: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < pfns.len() {
        let mut j = i;
        while j + 1 < pfns.len() && pfns[j + 1] == pfns[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            let _ = write!(out, "{:#x}-{:#x}", pfns[i], pfns[j]);
        } else {
            let _ = write!(out, "{:#x}", pfns[i]);
        }
        i = j + 1;
    }
    out
}

/// One area as a line of a report, with its data pages when given.
pub fn area_line(b: &BusyArea, pages: Option<&[u64]>) -> String {
    let r = b.request;
    let mut s = format!("{:#x}-{:#x}", b.start, b.end);
    match &b.vm {
        Some(vm) => {
            let _ = write!(
                s,
                " live flags={:#x} nr_pages={} caller=op{} array={:?}",
                vm.flags, vm.nr_pages, vm.caller, vm.array,
            );
            if let Some(p) = pages {
                let _ = write!(s, " pages=[{}]", pfn_ranges(p));
            }
        }
        None => s.push_str(" lazy"),
    }
    let _ = write!(
        s,
        " req=[{:#x},{:#x}) align={:#x}",
        r.vstart, r.vend, r.align
    );
    s
}

fn busy_text(v: &StateView, pages: Option<&[u64]>) -> String {
    v.busy
        .iter()
        .map(|b| area_line(b, pages))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, lazy, Kit};
    use crate::oracle::Touched;

    fn two_areas() -> Kit {
        let mut kit = Kit::new();
        for side in [&mut kit.model, &mut kit.subject] {
            side.busy = vec![area(0x1000, 0x3000), lazy(0x5000, 0x7000)];
            side.lazy_list = vec![0x5000];
            side.lazy_nr = 2;
            side.objects.vm_structs = 1;
            side.objects.vmap_areas = 2;
        }
        kit.model_side.pages.insert(0x1000, vec![0x100]);
        kit.subject_side.pages.insert(0x1000, vec![0x100]);
        kit
    }

    #[test]
    fn the_same_busy_list_passes() {
        assert!(two_areas().check(&BusyList).is_ok());
    }

    /// The same start, another end (a guard page missing): a wrong placement.
    #[test]
    fn another_extent_is_a_wrong_placement() {
        let mut kit = two_areas();
        kit.subject.busy[0] = area(0x1000, 0x2000);
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongPlacement, NAME));
    }

    #[test]
    fn an_area_kept_live_is_a_leak() {
        let mut kit = two_areas();
        kit.subject.busy[1] = area(0x5000, 0x7000);
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!(f.kind, FindingKind::Leak);
    }

    /// The same number of live areas, one at another start (a missing guard page moves the
    /// next area down): a wrong placement, not a leak.
    #[test]
    fn a_live_area_moved_is_a_wrong_placement() {
        let mut kit = two_areas();
        kit.model.busy.push(area(0x8000, 0xa000));
        kit.subject.busy.push(area(0x7000, 0x9000));
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongPlacement);
        // One more live area on the subject's side than on the model's is a leak.
        kit.subject.busy.push(area(0xa000, 0xc000));
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!(f.kind, FindingKind::Leak);
    }

    #[test]
    fn other_data_pages_are_a_wrong_mapping() {
        let mut kit = two_areas();
        kit.subject_side.pages.insert(0x1000, vec![0x101]);
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!(f.kind, FindingKind::WrongMapping);
        assert!(f.expected.contains("pages=[0x100]"), "{}", f.expected);
        // Touched scope without the area among the new ones: pages are not looked at.
        kit.scope = Scope::Touched(Touched::default());
        assert!(kit.check(&BusyList).is_ok());
        kit.scope = Scope::Touched(Touched {
            new_areas: vec![0x1000],
            ..Touched::default()
        });
        assert!(kit.check(&BusyList).is_err());
    }

    #[test]
    fn nr_pages_must_count_the_pages() {
        let mut kit = two_areas();
        kit.subject_side.pages.insert(0x1000, vec![0x100, 0x101]);
        let f = kit.check(&BusyList).unwrap_err();
        assert_eq!(f.kind, FindingKind::InvariantBroken);
    }
}

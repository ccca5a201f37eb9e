//! `ownership`: page ownership (I5, design §2). Every frame the subject's page allocator marks
//! allocated must be claimed exactly once, by the subject's own structures (live areas' page
//! lists, table frames reached from the root by the walk, the caller's pages) or be one the
//! model lists as orphaned; every claimed frame must be allocated; and the resulting buckets
//! must be the model's. It reads the allocator's raw frame states, not a counter the code under
//! test keeps, so a frame leaked behind the allocator's back is found here and nowhere else.
//! That full check runs on whole-state observations; between them, after every call that
//! changed state, the allocator's raw count of allocated frames must be the model's (cheap,
//! and it catches such a leak at the call that made it, before the shifted frame numbers of
//! later calls show up elsewhere).
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};
use crate::subject::{Buckets, RawMemory};

/// The oracle.
pub struct Ownership;

/// Its name.
pub const NAME: &str = "ownership";

impl Oracle for Ownership {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let Some(raw) = o.inspect.raw() else {
            return Ok(());
        };
        if !o.scope.is_whole() {
            return count_check(o, raw);
        }
        let Some(w) = o.walk else {
            return Ok(());
        };
        let orphaned = o.expect.orphaned_pages();
        let orphan_arrays = o.expect.orphaned_array_areas();
        let pages: Vec<(u64, Vec<u64>, bool)> = o
            .subject
            .state
            .busy
            .iter()
            .filter(|b| b.vm.is_some())
            .map(|b| {
                (
                    b.start,
                    o.inspect.area_pages(b.start),
                    orphan_arrays.contains(&b.start),
                )
            })
            .collect();
        let claims = Claims {
            areas: pages
                .iter()
                .map(|(s, p, orphan)| (*s, p.as_slice(), *orphan))
                .collect(),
            tables: w.tables.values().copied().collect(),
            caller: o.caller_pages,
            orphaned: &orphaned,
        };
        let own = check(raw, o.machine.totalram_pages(), &claims);
        if let Some((kind, _)) = own.problems.first() {
            let text: Vec<String> = own.problems.iter().map(|(_, m)| m.clone()).collect();
            return Err(o.finding(
                NAME,
                *kind,
                "page ownership is broken (I5)",
                "",
                text.join("\n"),
            ));
        }
        let want = o.expect.buckets();
        if own.buckets != want {
            let kind = if own.buckets.free < want.free {
                FindingKind::Leak
            } else {
                FindingKind::Divergence
            };
            return Err(o.finding(
                NAME,
                kind,
                "the I5 page buckets differ from the model",
                format!("{want:#?}"),
                format!("{:#?}", own.buckets),
            ));
        }
        Ok(())
    }
}

/// Between whole-state checks: the number of frames the subject's page allocator has
/// allocated, counted from its own frame states ([`RawMemory::allocated_count`]), against the
/// model's. The free-page counters the subject reports are compared by the `counters` oracle
/// before this one; a frame taken or given back behind them shows here, at the call that did
/// it, whatever the touched scope.
fn count_check(o: &Observation<'_>, raw: &dyn RawMemory) -> Result<(), Box<Finding>> {
    let free: u64 = o.model.state.free_pages.iter().sum();
    let want = o.machine.totalram_pages().saturating_sub(free);
    let got = raw.allocated_count();
    if got == want {
        return Ok(());
    }
    let (kind, why) = if got > want {
        (
            FindingKind::Leak,
            "frames are allocated that the model has free: a frame leaked behind the \
             free-page counters (I5)",
        )
    } else {
        (
            FindingKind::InvariantBroken,
            "frames are free that the model has allocated: a frame given back behind the \
             free-page counters (I5)",
        )
    };
    Err(o.finding(
        NAME,
        kind,
        format!("page ownership is broken: {why}"),
        format!("{want} frames allocated"),
        format!("{got} frames allocated in the page allocator"),
    ))
}

/// Who claims a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Area(u64),
    OrphanedArray(u64),
    Table,
    Caller,
    Orphaned,
}

impl Owner {
    fn describe(self) -> String {
        match self {
            Owner::Area(s) => format!("data page of the live area at {s:#x}"),
            Owner::OrphanedArray(s) => format!("data page of the orphaned pages array at {s:#x}"),
            Owner::Table => "a page-table page".into(),
            Owner::Caller => "a caller page (alloc_page)".into(),
            Owner::Orphaned => "a page the model says vunmap/free_vm_area orphaned".into(),
        }
    }
}

/// What the check needs to know besides the raw frames.
pub struct Claims<'a> {
    /// Live areas: `(start, data pages, is an orphaned nested array)`.
    pub areas: Vec<(u64, &'a [u64], bool)>,
    /// Table pages found by the walk.
    pub tables: Vec<u64>,
    /// Pages the caller holds.
    pub caller: &'a [u64],
    /// Pages the model lists as orphaned.
    pub orphaned: &'a BTreeSet<u64>,
}

/// The result: problems (with their finding kind) and the buckets.
#[derive(Debug, Default)]
pub struct OwnershipReport {
    /// Each problem found, at most a few per kind.
    pub problems: Vec<(FindingKind, String)>,
    /// The buckets as counted from the subject's structures.
    pub buckets: Buckets,
}

/// Run the check. `totalram` is the pool size.
///
/// Claims are gathered into one vector, sorted by PFN, and merged with the allocator's
/// (ascending) allocated frames: O(n log n) in the frames involved, no per-frame map.
pub fn check(raw: &dyn RawMemory, totalram: u64, claims: &Claims<'_>) -> OwnershipReport {
    let mut out = OwnershipReport::default();
    let mut owned: Vec<(u64, Owner)> = Vec::new();
    let orphan_array_pages: BTreeSet<u64> = claims
        .areas
        .iter()
        .filter(|a| a.2)
        .flat_map(|a| a.1.iter().copied())
        .collect();
    for &(start, pages, orphaned_array) in &claims.areas {
        let who = if orphaned_array {
            Owner::OrphanedArray(start)
        } else {
            Owner::Area(start)
        };
        owned.extend(pages.iter().map(|&p| (p, who)));
        if orphaned_array {
            out.buckets.orphaned += pages.len() as u64;
        } else {
            out.buckets.live_data += pages.len() as u64;
        }
    }
    owned.extend(claims.tables.iter().map(|&p| (p, Owner::Table)));
    out.buckets.tables = claims.tables.len() as u64;
    owned.extend(claims.caller.iter().map(|&p| (p, Owner::Caller)));
    out.buckets.caller = claims.caller.len() as u64;
    for &p in claims.orphaned {
        if !orphan_array_pages.contains(&p) {
            owned.push((p, Owner::Orphaned));
            out.buckets.orphaned += 1;
        }
    }
    owned.sort_unstable_by_key(|&(p, _)| p);
    for w in owned.windows(2) {
        if w[0].0 == w[1].0 && out.problems.len() < 8 {
            let (pfn, a, b) = (w[0].0, w[0].1, w[1].1);
            let msg = if a == b {
                format!("frame {pfn:#x} is claimed twice as {}", a.describe())
            } else {
                format!(
                    "frame {pfn:#x} is {} and also {}",
                    a.describe(),
                    b.describe()
                )
            };
            out.problems.push((FindingKind::Overlap, msg));
        }
    }
    owned.dedup_by_key(|&mut (p, _)| p);
    let allocated = raw.allocated_frames();
    // Merge the two ascending lists.
    let (mut i, mut j, mut leaked) = (0, 0, 0usize);
    while i < owned.len() || j < allocated.len() {
        let o = owned.get(i).map(|x| x.0);
        let a = allocated.get(j).copied();
        match (o, a) {
            (Some(o), Some(a)) if o == a => {
                i += 1;
                j += 1;
            }
            (Some(o), a) if a.is_none_or(|a| o < a) => {
                let (pfn, who) = owned[i];
                if out.problems.len() < 16 {
                    let state = raw.frame_state(pfn);
                    out.problems.push((
                        FindingKind::InvariantBroken,
                        format!(
                            "frame {pfn:#x} is {} but the page allocator has it {state:?} (I5)",
                            who.describe()
                        ),
                    ));
                }
                let _ = o;
                i += 1;
            }
            (_, Some(a)) => {
                leaked += 1;
                if leaked <= 8 {
                    out.problems.push((
                        FindingKind::Leak,
                        format!("frame {a:#x} is allocated but nothing owns it (I5)"),
                    ));
                }
                j += 1;
            }
            _ => break,
        }
    }
    if leaked > 8 {
        out.problems.push((
            FindingKind::Leak,
            format!("... {leaked} leaked frames in all"),
        ));
    }
    out.buckets.free = totalram.saturating_sub(allocated.len() as u64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, Kit, V};

    /// One live 1-page area at V (data page 0x100, tables 0x300..0x302), as both sides and the
    /// allocator see it.
    fn mapped() -> Kit {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        for side in [&mut kit.model, &mut kit.subject] {
            side.busy = vec![area(V, V + 0x2000)];
            side.objects.vm_structs = 1;
            side.objects.vmap_areas = 1;
            side.free_pages = vec![side.free_pages[0] - 4];
        }
        kit.model_side.pages.insert(V, vec![0x100]);
        kit.subject_side.pages.insert(V, vec![0x100]);
        for pfn in [0x100, 0x300, 0x301, 0x302] {
            kit.raw.allocate(pfn);
        }
        kit.model_side.buckets = Buckets {
            free: kit.model.free_pages[0],
            live_data: 1,
            tables: 3,
            caller: 0,
            orphaned: 0,
        };
        kit
    }

    #[test]
    fn owned_frames_pass() {
        assert!(mapped().check(&Ownership).is_ok());
    }

    /// A frame the allocator has allocated that nobody claims, while every counter agrees: a
    /// leak only this oracle sees.
    #[test]
    fn a_frame_leaked_behind_the_allocators_back_is_a_leak() {
        let mut kit = mapped();
        kit.raw.allocate(0x180);
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::Leak, NAME));
        assert!(f
            .actual
            .contains("frame 0x180 is allocated but nothing owns it"));
    }

    /// The same leak between whole-state checks: the raw count is one above the model's.
    #[test]
    fn a_leak_between_whole_state_checks_is_counted() {
        let mut kit = mapped();
        kit.scope = crate::oracle::Scope::Touched(Default::default());
        assert!(kit.check(&Ownership).is_ok());
        kit.raw.allocate(0x180);
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::Leak, NAME));
        // 4 frames allocated in the model (0x100, 0x300..0x302), 5 in the allocator.
        assert_eq!(f.expected, "4 frames allocated");
        assert_eq!(f.actual, "5 frames allocated in the page allocator");
        kit.raw.free(0x180);
        kit.raw.free(0x100);
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!(f.kind, FindingKind::InvariantBroken);
    }

    #[test]
    fn a_claimed_frame_that_is_free_breaks_i5() {
        let mut kit = mapped();
        kit.raw.free(0x100);
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!(f.kind, FindingKind::InvariantBroken);
    }

    #[test]
    fn a_frame_claimed_twice_is_an_overlap() {
        let mut kit = mapped();
        kit.caller_pages = vec![0x100];
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!(f.kind, FindingKind::Overlap);
    }

    #[test]
    fn buckets_other_than_the_models_are_reported() {
        let mut kit = mapped();
        kit.model_side.buckets.tables = 2;
        kit.model_side.buckets.live_data = 2;
        let f = kit.check(&Ownership).unwrap_err();
        assert_eq!(f.kind, FindingKind::Divergence);
        assert!(f.summary.contains("buckets"));
    }
}

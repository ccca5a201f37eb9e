//! Page ownership (semantics I5, design §2): every frame the subject's page allocator marks
//! allocated must be claimed exactly once, by the subject's own structures (live areas' page
//! lists, table frames reached from the root by the walk, the caller's pages) or be one the
//! model lists as orphaned; every claimed frame must be allocated.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeSet;

use crate::finding::FindingKind;
use crate::subject::RawMemory;

/// The I5 buckets, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Buckets {
    /// Free pages of the pool.
    pub free: u64,
    /// Data pages of live areas (nested array areas included, orphaned ones excluded).
    pub live_data: u64,
    /// Page-table pages (static boot tables excluded).
    pub tables: u64,
    /// Pages a caller holds from `alloc_page`.
    pub caller: u64,
    /// Pages orphaned by `vunmap`/`free_vm_area` on vmalloc memory (and orphaned arrays' pages).
    pub orphaned: u64,
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
pub struct Ownership {
    /// Each problem found, at most a few per kind.
    pub problems: Vec<(FindingKind, String)>,
    /// The buckets as counted from the subject's structures.
    pub buckets: Buckets,
}

/// Run the check. `totalram` is the pool size.
///
/// Claims are gathered into one vector, sorted by PFN, and merged with the allocator's
/// (ascending) allocated frames: O(n log n) in the frames involved, no per-frame map.
pub fn check(raw: &dyn RawMemory, totalram: u64, claims: &Claims<'_>) -> Ownership {
    let mut out = Ownership::default();
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

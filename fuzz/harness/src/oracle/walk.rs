//! The page-table walker the oracles share: walk the subject's **real** tables from the root
//! frame in simulated physical memory (design §2, §3.16, §3.18), checking every intermediate
//! entry on the way, and collect the leaves and table pages for the oracles to compare with
//! the model.
//!
//! The walk covers the whole tree, not only the vmalloc and modules windows: any present leaf
//! outside a live area's mapped pages is a finding (I3, I4). Every intermediate entry must be
//! exactly `phys | 0x67 | sme_c_bit` for a table the vmap path created (I9), or its boot value
//! for the static frames of semantics §12.1; every table frame must be reached once (no sharing, no
//! cycles); the set of table pages per level and region must equal the model's (I8).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::collections::{BTreeMap, BTreeSet};

use crate::ops::Paging;
use crate::subject::{RawMemory, TableKey, TableLevel};

/// `_PAGE_TABLE` (semantics §8.3).
pub const PAGE_TABLE: u64 = 0x67;
/// `_KERNPG_TABLE` (the boot entry of PUD 510, semantics §12.1).
pub const KERNPG_TABLE: u64 = 0x63;
/// The physical-address field of an entry (52-bit physical addresses, semantics §8.1).
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// The PS (huge page) bit.
pub const PSE: u64 = 1 << 7;

/// What the walk found in the subject's frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkResult {
    /// Every present leaf as `(VA, raw PTE)`, ascending by VA.
    pub leaves: Vec<(u64, u64)>,
    /// Every non-static table page reached: (level, region base) → PFN.
    pub tables: BTreeMap<TableKey, u64>,
    /// Structural problems (bad entry values, sharing, cycles, absent frames), in walk order.
    pub problems: Vec<String>,
}

/// Geometry and the expected constant parts of entries.
#[derive(Debug, Clone, Copy)]
pub struct WalkParams {
    /// Paging mode.
    pub paging: Paging,
    /// The SME C-bit (0 when SME is off).
    pub sme_c_bit: u64,
}

/// The PFN of the root PGD (semantics §12.1).
pub const ROOT_PFN: u64 = 1;

/// PFNs of the static boot tables (semantics §12.1): root PGD, the kernel image's PUD, the two
/// PMDs, and with LA57 the P4D.
pub const STATIC_TABLES: [u64; 5] = [1, 2, 3, 4, 5];

fn sign_extend(va: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    (((va << shift) as i64) >> shift) as u64
}

/// The boot value of the entry at `index` of static table `pfn`, if it is one (semantics §12.1).
fn boot_entry(params: WalkParams, pfn: u64, index: usize) -> Option<u64> {
    let c = params.sme_c_bit;
    match (params.paging, pfn, index) {
        (Paging::FourLevel, 1, 511) => Some(2 << 12 | PAGE_TABLE | c),
        (Paging::FiveLevel, 1, 511) => Some(5 << 12 | PAGE_TABLE | c),
        (Paging::FiveLevel, 5, 511) => Some(2 << 12 | PAGE_TABLE | c),
        (_, 2, 510) => Some(3 << 12 | KERNPG_TABLE | c),
        (_, 2, 511) => Some(4 << 12 | PAGE_TABLE | c),
        _ => None,
    }
}

/// Walk the whole tree from the root. Never panics, whatever the frames hold.
pub fn walk(raw: &dyn RawMemory, params: WalkParams) -> WalkResult {
    walk_range(raw, params, None)
}

/// Walk only the entries whose span meets `[lo, hi)` (all of them with `None`): the per-op
/// incremental check of the VA ranges an op touched. Every entry it visits is checked exactly
/// as in [`walk`]; `tables` lists only the tables it descended into.
pub fn walk_range(
    raw: &dyn RawMemory,
    params: WalkParams,
    range: Option<(u64, u64)>,
) -> WalkResult {
    let mut out = WalkResult::default();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let (top_shift, va_bits, levels): (u32, u32, &[TableLevel]) = match params.paging {
        Paging::FourLevel => (39, 48, &[TableLevel::Pud, TableLevel::Pmd, TableLevel::Pte]),
        Paging::FiveLevel => (
            48,
            57,
            &[
                TableLevel::P4d,
                TableLevel::Pud,
                TableLevel::Pmd,
                TableLevel::Pte,
            ],
        ),
    };
    let root = raw.root_pfn();
    if root != ROOT_PFN {
        out.problems.push(format!(
            "the root table is at pfn {root:#x}; the static PGD is at pfn {ROOT_PFN:#x} \
             (semantics §12.1)"
        ));
    }
    seen.insert(root);
    let ctx = Ctx {
        raw,
        params,
        va_bits,
        range: range.map(|(lo, hi)| (u128::from(lo), u128::from(hi))),
    };
    walk_table(&ctx, root, 0, top_shift, levels, true, &mut seen, &mut out);
    out
}

/// What stays the same through a walk.
struct Ctx<'a> {
    raw: &'a dyn RawMemory,
    params: WalkParams,
    va_bits: u32,
    /// Only entries whose span meets `[lo, hi)` are visited.
    range: Option<(u128, u128)>,
}

#[allow(clippy::too_many_arguments)]
fn walk_table(
    ctx: &Ctx<'_>,
    pfn: u64,
    base: u64,
    shift: u32,
    below: &[TableLevel],
    is_static: bool,
    seen: &mut BTreeSet<u64>,
    out: &mut WalkResult,
) {
    let (raw, params, va_bits) = (ctx.raw, ctx.params, ctx.va_bits);
    let c = params.sme_c_bit;
    // One read of the whole table: entries are then plain memory.
    let Some(table) = raw.read_table(pfn) else {
        out.problems
            .push(format!("table frame {pfn:#x} is outside simulated memory"));
        return;
    };
    let span = |index: usize| {
        let va = sign_extend(base | (index as u64) << shift, va_bits);
        (u128::from(va), u128::from(va) + (1u128 << shift))
    };
    // The entries whose span meets the range: a span's address grows with its index (the
    // sign extension maps the upper half of the root above the lower half), so they are
    // one window of indices, found by two binary searches.
    let (first, end) = match ctx.range {
        None => (0, table.len()),
        Some((lo, hi)) => (
            first_failing(table.len(), |i| span(i).1 <= lo),
            first_failing(table.len(), |i| span(i).0 < hi),
        ),
    };
    for (index, &entry) in table.iter().enumerate().take(end).skip(first) {
        let va = sign_extend(base | (index as u64) << shift, va_bits);
        if entry == 0 {
            if let Some(expected) = is_static.then(|| boot_entry(params, pfn, index)).flatten() {
                out.problems.push(format!(
                    "static entry for {va:#x} (frame {pfn:#x}[{index}]) is zero, boot value \
                     {expected:#x} (semantics §12.1)"
                ));
            }
            continue;
        }
        let Some((&level, rest)) = below.split_first() else {
            // Leaf level: record it; the comparison with the model judges its value.
            out.leaves.push((va, entry));
            continue;
        };
        let child = (entry & ADDR_MASK & !c) >> 12;
        let boot = if is_static {
            boot_entry(params, pfn, index)
        } else {
            None
        };
        let child_static = boot.is_some();
        match boot {
            Some(expected) if entry != expected => out.problems.push(format!(
                "static {} entry for {va:#x} (frame {pfn:#x}[{index}]) is {entry:#x}, boot value {expected:#x} (semantics §12.1)",
                level.name()
            )),
            Some(_) => {}
            None => {
                let expected = child << 12 | PAGE_TABLE | c;
                if entry != expected {
                    out.problems.push(format!(
                        "{} entry for {va:#x} (frame {pfn:#x}[{index}]) is {entry:#x}, expected {expected:#x} = phys | 0x67 | C-bit (I9)",
                        level.name()
                    ));
                }
                if entry & PSE != 0 {
                    // A huge leaf: never created by the vmap path; do not descend.
                    continue;
                }
            }
        }
        if !seen.insert(child) {
            out.problems.push(format!(
                "table frame {child:#x} is reached twice (shared table or cycle), from {va:#x}"
            ));
            continue;
        }
        if !child_static {
            if STATIC_TABLES.contains(&child) || child < 256 {
                out.problems.push(format!(
                    "{} entry for {va:#x} points at reserved frame {child:#x}",
                    level.name()
                ));
                continue;
            }
            out.tables.insert((level, va), child);
        }
        walk_table(ctx, child, va, shift - 9, rest, child_static, seen, out);
    }
}

/// The first index in `0..n` at which `holds` is false; `holds` must be true on a prefix of
/// `0..n` and false on the rest.
fn first_failing(n: usize, holds: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Describe the differences between two maps, at most `limit` lines.
pub fn map_diff<K: Ord + Copy + std::fmt::Debug, V: PartialEq + Copy>(
    expected: &BTreeMap<K, V>,
    actual: &BTreeMap<K, V>,
    show: impl Fn(&K, Option<&V>) -> String,
    limit: usize,
) -> Vec<String> {
    let mut lines = Vec::new();
    let keys: BTreeSet<&K> = expected.keys().chain(actual.keys()).collect();
    for k in keys {
        let (e, a) = (expected.get(k), actual.get(k));
        if e != a {
            if lines.len() == limit {
                lines.push("...".to_string());
                break;
            }
            lines.push(format!("expected {}\n  actual {}", show(k, e), show(k, a)));
        }
    }
    lines
}

/// Is the sorted leaf list equal to the map?
pub fn leaves_equal(leaves: &[(u64, u64)], map: &BTreeMap<u64, u64>) -> bool {
    leaves.len() == map.len()
        && leaves
            .iter()
            .zip(map.iter())
            .all(|(&(a, b), (&c, &d))| a == c && b == d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{Kit, V};

    /// A ranged walk sees exactly the leaves of the whole walk that lie in its range, and no
    /// problem the whole walk does not have, for ranges on either side of the canonical hole,
    /// across it, across table boundaries at every level, and empty ones.
    #[test]
    fn a_ranged_walk_is_the_whole_walk_cut_to_the_range() {
        let mut kit = Kit::new();
        let low = 0x0000_7f80_0000_0000; // root index 255, the last of the lower half
        let pages: [(u64, [u64; 3]); 6] = [
            (low, [0x500, 0x501, 0x502]),
            (V, [0x300, 0x301, 0x302]),
            (V + 0x1000, [0x300, 0x301, 0x302]),
            (V + 0x20_0000, [0x300, 0x301, 0x303]),
            (V + 0x4000_0000, [0x300, 0x304, 0x305]),
            (V + (1 << 39), [0x306, 0x307, 0x308]),
        ];
        for (i, &(va, tables)) in pages.iter().enumerate() {
            kit.map_page(va, 0x400 + i as u64, 0x163, tables);
        }
        let params = WalkParams {
            paging: Paging::FourLevel,
            sme_c_bit: 0,
        };
        let whole = walk(&kit.raw, params);
        assert!(whole.problems.is_empty(), "{:?}", whole.problems);
        assert_eq!(whole.leaves.len(), pages.len());
        let ranges = [
            (0, u64::MAX),
            (low, low + 0x1000),
            (low + 0x1000, V),
            (low, V + 0x1000),
            (V + 0x1000, V + 0x2000),
            (V + 0x2000, V + 0x20_0000),
            (V + 0x1f_f000, V + 0x20_1000),
            (V + 0x3fff_f000, V + 0x4000_1000),
            (V + 0x1000, V + (1 << 39) + 1),
            (V + (1 << 39), u64::MAX),
            (V, V),
        ];
        for (lo, hi) in ranges {
            let part = walk_range(&kit.raw, params, Some((lo, hi)));
            let want: Vec<(u64, u64)> = whole
                .leaves
                .iter()
                .copied()
                .filter(|&(va, _)| lo <= va && va < hi)
                .collect();
            assert_eq!(part.leaves, want, "range {lo:#x}..{hi:#x}");
            assert!(part.problems.is_empty(), "{:?}", part.problems);
        }
    }

    #[test]
    fn first_failing_finds_the_end_of_the_prefix() {
        assert_eq!(first_failing(512, |i| i < 7), 7);
        assert_eq!(first_failing(512, |_| true), 512);
        assert_eq!(first_failing(512, |_| false), 0);
        assert_eq!(first_failing(0, |_| true), 0);
    }
}

//! State checks: a subject's own invariants (I1, I2, I6 and the metadata counts), and the
//! comparison of two state views with a finding kind chosen by what differs.
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::finding::FindingKind;
use crate::ops::{Machine, PAGE_SIZE};
use crate::subject::{BusyArea, StateView};

/// Check one side's state against the invariants that do not need the other side.
pub(super) fn self_check(machine: &Machine, s: &StateView) -> Option<(FindingKind, String)> {
    // I1: busy areas sorted, non-empty and pairwise disjoint.
    for w in s.busy.windows(2) {
        if w[1].start < w[0].end {
            return Some((
                FindingKind::Overlap,
                format!(
                    "busy areas {:#x}-{:#x} and {:#x}-{:#x} overlap (I1)",
                    w[0].start, w[0].end, w[1].start, w[1].end
                ),
            ));
        }
    }
    for b in &s.busy {
        let r = b.request;
        let (lo, hi) = (b.start, b.end);
        let aligned = r.align == 0 || !r.align.is_power_of_two() || lo % r.align == 0;
        if lo >= hi || (hi - lo) % PAGE_SIZE != 0 || lo < r.vstart || hi > r.vend || !aligned {
            return Some((
                FindingKind::InvariantBroken,
                format!(
                    "busy area {lo:#x}-{hi:#x} breaks I2 for its request [{:#x}, {:#x}) align {:#x}",
                    r.vstart, r.vend, r.align
                ),
            ));
        }
        if let Some(vm) = &b.vm {
            if vm.nr_pages != b.pages.len() as u64 {
                return Some((
                    FindingKind::InvariantBroken,
                    format!(
                        "area {lo:#x}: nr_pages = {} but {} pages are listed",
                        vm.nr_pages,
                        b.pages.len()
                    ),
                ));
            }
        }
    }
    // I6: lazy_nr is the sum of the lazy VAs' pages, guard included, and at most
    // lazy_max_pages after every op (single-threaded).
    let lazy: Vec<&BusyArea> = s.busy.iter().filter(|b| b.vm.is_none()).collect();
    let sum: u64 = lazy.iter().map(|b| (b.end - b.start) / PAGE_SIZE).sum();
    if s.lazy_nr != sum {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "lazy_nr = {} but the lazily freed VAs hold {sum} pages (I6)",
                s.lazy_nr
            ),
        ));
    }
    if s.lazy_nr > machine.lazy_max_pages() {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "lazy_nr = {} exceeds lazy_max_pages = {} after an op (I6)",
                s.lazy_nr,
                machine.lazy_max_pages()
            ),
        ));
    }
    let listed: BTreeSet<u64> = s.lazy_list.iter().copied().collect();
    let busy_lazy: BTreeSet<u64> = lazy.iter().map(|b| b.start).collect();
    if listed != busy_lazy || listed.len() != s.lazy_list.len() {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "the lazy list {:x?} does not match the lazily freed busy VAs {:x?}",
                s.lazy_list, busy_lazy
            ),
        ));
    }
    let live = (s.busy.len() - lazy.len()) as u64;
    if s.objects.vm_structs != live || s.objects.vmap_areas != s.busy.len() as u64 {
        return Some((
            FindingKind::InvariantBroken,
            format!(
                "{} vm_structs and {} vmap_areas are live, but {live} areas are live and {} VAs busy (I5 objects)",
                s.objects.vm_structs,
                s.objects.vmap_areas,
                s.busy.len()
            ),
        ));
    }
    None
}

/// `0x100-0x10f,0x200` style.
pub(super) fn pfn_ranges(pfns: &[u64]) -> String {
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

fn area_line(b: &BusyArea) -> String {
    let r = b.request;
    let mut s = format!("{:#x}-{:#x}", b.start, b.end);
    match &b.vm {
        Some(vm) => {
            let _ = write!(
                s,
                " live flags={:#x} nr_pages={} caller=op{} array={:?} pages=[{}]",
                vm.flags,
                vm.nr_pages,
                vm.caller,
                vm.array,
                pfn_ranges(&b.pages)
            );
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

fn busy_text(v: &StateView) -> String {
    v.busy.iter().map(area_line).collect::<Vec<_>>().join("\n")
}

/// Compare the model's view `m` with the subject's `s`. `failed`: the op returned NULL.
pub(super) fn compare_states(
    m: &StateView,
    s: &StateView,
    failed: bool,
) -> Option<(FindingKind, String, String, String)> {
    let ext = |v: &StateView| v.busy.iter().map(|b| (b.start, b.end)).collect::<Vec<_>>();
    if ext(m) != ext(s) {
        let m_live: BTreeSet<u64> = m
            .busy
            .iter()
            .filter(|b| b.vm.is_some())
            .map(|b| b.start)
            .collect();
        let kept_live = s
            .busy
            .iter()
            .any(|b| b.vm.is_some() && !m_live.contains(&b.start));
        let kind = if failed {
            FindingKind::WrongFailureHandling
        } else if kept_live {
            FindingKind::Leak
        } else {
            FindingKind::WrongPlacement
        };
        return Some((
            kind,
            "the busy VAs differ (R2, R3, R8, R9)".into(),
            busy_text(m),
            busy_text(s),
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
            return Some((
                kind,
                format!(
                    "area {:#x}: live on one side, lazily freed on the other",
                    a.start
                ),
                area_line(a),
                area_line(b),
            ));
        }
        if a.pages != b.pages {
            return Some((
                FindingKind::WrongMapping,
                format!(
                    "area {:#x}: different data pages (R6, semantics §12.2)",
                    a.start
                ),
                area_line(a),
                area_line(b),
            ));
        }
        if a != b {
            return Some((
                FindingKind::Divergence,
                format!("area {:#x} differs", a.start),
                area_line(a),
                area_line(b),
            ));
        }
    }
    let fail_or = |k| {
        if failed {
            FindingKind::WrongFailureHandling
        } else {
            k
        }
    };
    if m.lazy_list != s.lazy_list || m.lazy_nr != s.lazy_nr {
        return Some((
            fail_or(FindingKind::Divergence),
            "the lazy list or lazy_nr differs (R9)".into(),
            format!("lazy_nr={} list={:x?}", m.lazy_nr, m.lazy_list),
            format!("lazy_nr={} list={:x?}", s.lazy_nr, s.lazy_list),
        ));
    }
    if m.deferred != s.deferred {
        return Some((
            FindingKind::Divergence,
            "the deferred-free list differs (semantics §5.1)".into(),
            format!("{:x?}", m.deferred),
            format!("{:x?}", s.deferred),
        ));
    }
    if m.attempts != s.attempts {
        return Some((
            fail_or(FindingKind::Divergence),
            "allocation attempt counters differ: the allocation order (R13) or the set of allocations is different".into(),
            format!("{:?}", m.attempts),
            format!("{:?}", s.attempts),
        ));
    }
    if m.free_pages != s.free_pages {
        let kind = if s.free_pages.iter().sum::<u64>() < m.free_pages.iter().sum::<u64>() {
            FindingKind::Leak
        } else {
            fail_or(FindingKind::Divergence)
        };
        return Some((
            kind,
            "free pages per node differ".into(),
            format!("{:?}", m.free_pages),
            format!("{:?}", s.free_pages),
        ));
    }
    if m.objects != s.objects {
        let more = s.objects.vm_structs > m.objects.vm_structs
            || s.objects.vmap_areas > m.objects.vmap_areas
            || s.objects.small_arrays > m.objects.small_arrays;
        let kind = if more {
            FindingKind::Leak
        } else {
            fail_or(FindingKind::Divergence)
        };
        return Some((
            kind,
            "live metadata objects differ (I5)".into(),
            format!("{:?}", m.objects),
            format!("{:?}", s.objects),
        ));
    }
    None
}

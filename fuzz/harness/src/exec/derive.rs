//! Resolving boundary arguments ([`crate::ops::DerivedSize`], [`crate::ops::Edge`]) against
//! the model's state just before the call (design §4.1). Everything is computed from the
//! model's busy list (live and lazily freed VAs, as the VA allocator sees them), its
//! `vmap_lazy_nr` and free pages, and the machine's windows and limits.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use crate::ops::{DerivedSize, Edge, EdgeAt, Machine, PAGE_SIZE};
use crate::subject::{BusyArea, StateView};

/// The largest kmalloc'ed pages array, in pages (R5: `nr_pages * 8 <= PAGE_SIZE`).
const ARRAY_LIMIT_PAGES: u64 = PAGE_SIZE / 8;

/// A window `[start, end)` of the VA space, page-granular.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First address.
    pub start: u64,
    /// One past the last usable address (page aligned).
    pub end: u64,
}

impl Window {
    /// `[start, end)` with `end` rounded down to a page (the kernel's exclusive `vend`: the
    /// odd `VMALLOC_END` leaves its last, partial page unusable).
    pub fn new(start: u64, end: u64) -> Self {
        Window {
            start,
            end: end & !(PAGE_SIZE - 1),
        }
    }

    /// The vmalloc window.
    pub fn vmalloc(m: &Machine) -> Self {
        Window::new(m.vmalloc_start, m.vmalloc_end)
    }

    /// The window `module_alloc` places in.
    pub fn modules(m: &Machine) -> Self {
        Window::new(
            m.modules_vaddr.saturating_add(m.module_load_offset),
            m.modules_end,
        )
    }

    fn len(self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// The free gaps of `w` between the busy VAs, in address order.
pub fn gaps(busy: &[BusyArea], w: Window) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut cursor = w.start;
    for b in busy {
        if b.end <= cursor {
            continue;
        }
        if b.start >= w.end {
            break;
        }
        if b.start > cursor {
            out.push((cursor, b.start));
        }
        cursor = cursor.max(b.end);
    }
    if cursor < w.end {
        out.push((cursor, w.end));
    }
    out
}

fn largest(gaps: &[(u64, u64)]) -> Option<(u64, u64)> {
    // The first of the largest: ties go to the lowest address, like the lowest fit.
    gaps.iter()
        .copied()
        .reduce(|best, g| if g.1 - g.0 > best.1 - best.0 { g } else { best })
}

fn pick(gaps: &[(u64, u64)], k: u32) -> Option<(u64, u64)> {
    (!gaps.is_empty()).then(|| gaps[k as usize % gaps.len()])
}

fn add_pages(v: u64, delta: i8) -> u64 {
    let d = i128::from(delta) * i128::from(PAGE_SIZE);
    (i128::from(v) + d).clamp(0, i128::from(u64::MAX)) as u64
}

/// The byte size `d` names for an allocation in window `w` whose VA adds `guard` bytes, or
/// `None` when it names nothing (no gap).
pub fn size(
    d: DerivedSize,
    w: Window,
    state: &StateView,
    machine: &Machine,
    guard: u64,
) -> Option<u64> {
    let gaps = || gaps(&state.busy, w);
    let span = |g: (u64, u64)| g.1 - g.0;
    // The VA the named quantity asks for (guard included).
    let va = match d {
        DerivedSize::Gap { k, .. } => span(pick(&gaps(), k)?),
        DerivedSize::Largest { .. } => span(largest(&gaps())?),
        DerivedSize::LazyRoom { .. } => machine
            .lazy_max_pages()
            .saturating_sub(state.lazy_nr)
            .saturating_mul(PAGE_SIZE),
        DerivedSize::FreePages { .. } => {
            let free: u64 = state.free_pages.iter().sum();
            free.saturating_mul(PAGE_SIZE).saturating_add(guard)
        }
        DerivedSize::ArrayLimit { .. } => (ARRAY_LIMIT_PAGES * PAGE_SIZE).saturating_add(guard),
        DerivedSize::Window { .. } => w.len(),
    };
    Some(add_pages(va, d.delta()).saturating_sub(guard))
}

/// The address `e` names, clamped into `[w.start, limit]` and page aligned down; `area` gives
/// a live area's `(start, end)` by slot. `None` when it names nothing.
pub fn edge(
    e: Edge,
    w: Window,
    limit: u64,
    busy: &[BusyArea],
    area: impl Fn(u32) -> Option<(u64, u64)>,
) -> Option<u64> {
    let gaps = || gaps(busy, w);
    let at = match e.at {
        EdgeAt::GapStart(k) => pick(&gaps(), k)?.0,
        EdgeAt::GapEnd(k) => pick(&gaps(), k)?.1,
        EdgeAt::LargestStart => largest(&gaps())?.0,
        EdgeAt::LargestEnd => largest(&gaps())?.1,
        EdgeAt::AreaStart(s) => area(s)?.0,
        EdgeAt::AreaEnd(s) => area(s)?.1,
        EdgeAt::WindowStart => w.start,
        EdgeAt::WindowEnd => limit,
    };
    let a = add_pages(at, e.delta).clamp(w.start, limit.max(w.start));
    // The window end is passed as the kernel passes VMALLOC_END (odd); anything else is a
    // page boundary.
    Some(if a == limit { a } else { a & !(PAGE_SIZE - 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(start: u64, end: u64) -> BusyArea {
        BusyArea {
            start,
            end,
            vm: None,
            request: crate::subject::Request {
                vstart: S,
                vend: S + 16 * P,
                align: P,
            },
        }
    }

    const S: u64 = 0xffff_c900_0000_0000;
    const P: u64 = PAGE_SIZE;

    /// Window of 16 pages at S; busy [S+2p, S+5p) and [S+9p, S+10p): gaps [S, S+2p),
    /// [S+5p, S+9p) (the largest, 4 pages), [S+10p, S+16p) (6 pages: the largest).
    fn state() -> StateView {
        StateView {
            busy: vec![busy(S + 2 * P, S + 5 * P), busy(S + 9 * P, S + 10 * P)],
            lazy_nr: 100,
            free_pages: vec![40, 2],
            ..StateView::default()
        }
    }

    #[test]
    fn gaps_sizes_and_edges_by_hand() {
        let w = Window::new(S, S + 16 * P + 0xfff);
        assert_eq!(w.end, S + 16 * P);
        let st = state();
        assert_eq!(
            gaps(&st.busy, w),
            vec![
                (S, S + 2 * P),
                (S + 5 * P, S + 9 * P),
                (S + 10 * P, S + 16 * P)
            ]
        );
        let m = Machine::default();
        let sz = |d| size(d, w, &st, &m, P);
        // Gap 1 is 4 pages: 3 pages of data plus the guard fill it; -1p leaves a page.
        assert_eq!(sz(DerivedSize::Gap { k: 1, delta: 0 }), Some(3 * P));
        assert_eq!(sz(DerivedSize::Gap { k: 4, delta: -1 }), Some(2 * P));
        assert_eq!(sz(DerivedSize::Largest { delta: 1 }), Some(6 * P));
        // lazy_max_pages of the default machine (4 CPUs): fls(4) * 8192 = 24576; room 24476.
        assert_eq!(
            sz(DerivedSize::LazyRoom { delta: 0 }),
            Some((24_576 - 100 - 1) * P)
        );
        assert_eq!(sz(DerivedSize::FreePages { delta: 1 }), Some(43 * P));
        assert_eq!(sz(DerivedSize::ArrayLimit { delta: -1 }), Some(511 * P));
        assert_eq!(sz(DerivedSize::Window { delta: 0 }), Some(15 * P));
        // Below zero clamps to a zero size.
        assert_eq!(sz(DerivedSize::Gap { k: 0, delta: -5 }), Some(0));
        // No gap at all: nothing to name.
        let full = StateView {
            busy: vec![busy(S, S + 16 * P)],
            ..StateView::default()
        };
        assert_eq!(
            size(DerivedSize::Largest { delta: 0 }, w, &full, &m, P),
            None
        );

        let limit = S + 16 * P + 0xfff;
        let area = |s: u32| (s == 0).then_some((S + 2 * P, S + 5 * P));
        let e = |at, delta| edge(Edge { at, delta }, w, limit, &st.busy, area);
        assert_eq!(e(EdgeAt::GapEnd(0), 0), Some(S + 2 * P));
        assert_eq!(e(EdgeAt::GapStart(1), -1), Some(S + 4 * P));
        assert_eq!(e(EdgeAt::LargestStart, 0), Some(S + 10 * P));
        assert_eq!(e(EdgeAt::AreaEnd(0), 1), Some(S + 6 * P));
        assert_eq!(e(EdgeAt::AreaStart(1), 0), None);
        assert_eq!(e(EdgeAt::WindowEnd, 0), Some(limit));
        // Clamped into the window.
        assert_eq!(e(EdgeAt::WindowStart, -3), Some(S));
        assert_eq!(e(EdgeAt::WindowEnd, 5), Some(limit));
    }
}

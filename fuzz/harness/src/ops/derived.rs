//! Boundary arguments: sizes and window edges that an op takes from the state when it runs
//! (design §4.1, "Arguments that hit boundaries"). Coverage feedback does not find a fault
//! behind an exact equality between an argument and the state (a size equal to a hole, a
//! window ending at an area's start, a count one page past a limit); these arguments name such
//! a value instead of a number, and the executor resolves them against the model's state just
//! before the call (`exec/derive.rs`), so the op keeps its meaning when the state changes.
//!
//! Every value carries a page delta (`-16..=15`): the exact boundary, and one page either
//! side, are the interesting values.
//!
//! Trace syntax: a name, then an optional `+Np` / `-Np`, e.g. `gap#2`, `largest-1p`,
//! `lazy_room+1p`, `gap_end#0`.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::fmt;

/// The page deltas a boundary argument may carry.
pub const DELTA_RANGE: std::ops::RangeInclusive<i8> = -16..=15;

/// A size taken from the state (the VA it asks for, guard page included, is the named
/// quantity plus `delta` pages; the byte size passed is that minus the guard page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DerivedSize {
    /// Free gap `k` (modulo the number of gaps, in address order) of the op's window: the VA
    /// fills it exactly (semantics §4.2: lowest fit).
    Gap {
        /// Gap index.
        k: u32,
        /// Pages added.
        delta: i8,
    },
    /// The largest free gap of the op's window (placing it makes the largest gap vanish).
    Largest {
        /// Pages added.
        delta: i8,
    },
    /// The pages the lazy list can still take before a free purges (`lazy_max_pages −
    /// vmap_lazy_nr`, semantics §5.4): freeing such an area later lands on the threshold.
    LazyRoom {
        /// Pages added.
        delta: i8,
    },
    /// The machine's free pages (all nodes): data pages for exactly the pool (semantics §3.4,
    /// R6 partial failures). This one is a page count of data, not a VA.
    FreePages {
        /// Pages added.
        delta: i8,
    },
    /// 512 data pages: the largest pages array that is kmalloc'ed (R5); one more nests a
    /// vmalloc'ed array. A page count of data, not a VA.
    ArrayLimit {
        /// Pages added.
        delta: i8,
    },
    /// The whole window of the op.
    Window {
        /// Pages added.
        delta: i8,
    },
}

impl DerivedSize {
    /// The page delta.
    pub fn delta(self) -> i8 {
        match self {
            DerivedSize::Gap { delta, .. }
            | DerivedSize::Largest { delta }
            | DerivedSize::LazyRoom { delta }
            | DerivedSize::FreePages { delta }
            | DerivedSize::ArrayLimit { delta }
            | DerivedSize::Window { delta } => delta,
        }
    }
}

/// What a window edge names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeAt {
    /// The start of free gap `k` of the vmalloc window (an area's end, or the window start).
    GapStart(u32),
    /// The end of free gap `k` (an area's start, or the window end).
    GapEnd(u32),
    /// The start of the largest free gap.
    LargestStart,
    /// The end of the largest free gap.
    LargestEnd,
    /// The start of live area `slot`.
    AreaStart(u32),
    /// The end of live area `slot` (guard page included).
    AreaEnd(u32),
    /// `VMALLOC_START`.
    WindowStart,
    /// `VMALLOC_END`.
    WindowEnd,
}

/// A window edge taken from the state: the named address plus `delta` pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Edge {
    /// The address it names.
    pub at: EdgeAt,
    /// Pages added.
    pub delta: i8,
}

/// The API a `fit` op allocates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FitApi {
    /// `vmalloc` (the vmalloc window, a guard page).
    Vmalloc,
    /// `module_alloc` (the modules window, a guard page).
    ModuleAlloc,
    /// `get_vm_area(size, flags)` (the vmalloc window; no guard with `VM_NO_GUARD`).
    GetVmArea {
        /// `VM_*` flags.
        flags: u64,
    },
}

fn write_delta(f: &mut fmt::Formatter<'_>, delta: i8) -> fmt::Result {
    match delta {
        0 => Ok(()),
        d if d > 0 => write!(f, "+{d}p"),
        d => write!(f, "{d}p"),
    }
}

impl fmt::Display for DerivedSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DerivedSize::Gap { k, .. } => write!(f, "gap#{k}")?,
            DerivedSize::Largest { .. } => f.write_str("largest")?,
            DerivedSize::LazyRoom { .. } => f.write_str("lazy_room")?,
            DerivedSize::FreePages { .. } => f.write_str("free_pages")?,
            DerivedSize::ArrayLimit { .. } => f.write_str("array_limit")?,
            DerivedSize::Window { .. } => f.write_str("window")?,
        }
        write_delta(f, self.delta())
    }
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            EdgeAt::GapStart(k) => write!(f, "gap_start#{k}")?,
            EdgeAt::GapEnd(k) => write!(f, "gap_end#{k}")?,
            EdgeAt::LargestStart => f.write_str("largest_start")?,
            EdgeAt::LargestEnd => f.write_str("largest_end")?,
            EdgeAt::AreaStart(s) => write!(f, "area_start#{s}")?,
            EdgeAt::AreaEnd(s) => write!(f, "area_end#{s}")?,
            EdgeAt::WindowStart => f.write_str("window_start")?,
            EdgeAt::WindowEnd => f.write_str("window_end")?,
        }
        write_delta(f, self.delta)
    }
}

/// Split `name+Np` / `name-Np` into the name and the delta (`None`: malformed delta).
pub fn split_delta(s: &str) -> Option<(&str, i8)> {
    let Some(i) = s.find(['+', '-']) else {
        return Some((s, 0));
    };
    let (name, d) = s.split_at(i);
    let n: i8 = d.strip_suffix('p')?.parse().ok()?;
    DELTA_RANGE.contains(&n).then_some((name, n))
}

/// `N` of `prefix#N`.
fn hash_number(s: &str, prefix: &str) -> Option<u32> {
    s.strip_prefix(prefix)?.strip_prefix('#')?.parse().ok()
}

impl std::str::FromStr for DerivedSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "bad derived size `{s}` (gap#K, largest, lazy_room, free_pages, array_limit or window, then optionally +Np or -Np with N in -16..=15)"
            )
        };
        let (name, delta) = split_delta(s).ok_or_else(bad)?;
        Ok(match name {
            "largest" => DerivedSize::Largest { delta },
            "lazy_room" => DerivedSize::LazyRoom { delta },
            "free_pages" => DerivedSize::FreePages { delta },
            "array_limit" => DerivedSize::ArrayLimit { delta },
            "window" => DerivedSize::Window { delta },
            _ => DerivedSize::Gap {
                k: hash_number(name, "gap").ok_or_else(bad)?,
                delta,
            },
        })
    }
}

impl std::str::FromStr for Edge {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "bad edge `{s}` (gap_start#K, gap_end#K, largest_start, largest_end, area_start#N, area_end#N, window_start or window_end, then optionally +Np or -Np)"
            )
        };
        let (name, delta) = split_delta(s).ok_or_else(bad)?;
        let at = match name {
            "largest_start" => EdgeAt::LargestStart,
            "largest_end" => EdgeAt::LargestEnd,
            "window_start" => EdgeAt::WindowStart,
            "window_end" => EdgeAt::WindowEnd,
            _ => {
                let numbered = [
                    ("gap_start", EdgeAt::GapStart as fn(u32) -> EdgeAt),
                    ("gap_end", EdgeAt::GapEnd),
                    ("area_start", EdgeAt::AreaStart),
                    ("area_end", EdgeAt::AreaEnd),
                ];
                numbered
                    .iter()
                    .find_map(|(p, make)| hash_number(name, p).map(make))
                    .ok_or_else(bad)?
            }
        };
        Ok(Edge { at, delta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_rejects_junk() {
        let sizes = [
            DerivedSize::Gap { k: 3, delta: -1 },
            DerivedSize::Largest { delta: 0 },
            DerivedSize::LazyRoom { delta: 15 },
            DerivedSize::FreePages { delta: -16 },
            DerivedSize::ArrayLimit { delta: 1 },
            DerivedSize::Window { delta: 0 },
        ];
        let texts = [
            "gap#3-1p",
            "largest",
            "lazy_room+15p",
            "free_pages-16p",
            "array_limit+1p",
            "window",
        ];
        for (d, t) in sizes.iter().zip(texts) {
            assert_eq!(d.to_string(), t);
            assert_eq!(t.parse::<DerivedSize>(), Ok(*d));
        }
        let e = Edge {
            at: EdgeAt::AreaEnd(7),
            delta: 2,
        };
        assert_eq!(e.to_string(), "area_end#7+2p");
        assert_eq!("area_end#7+2p".parse::<Edge>(), Ok(e));
        assert_eq!(
            "window_end".parse::<Edge>(),
            Ok(Edge {
                at: EdgeAt::WindowEnd,
                delta: 0
            })
        );
        for junk in [
            "gap",
            "gap#x",
            "largest+16p",
            "largest+1",
            "window-1q",
            "area#1",
        ] {
            assert!(junk.parse::<DerivedSize>().is_err(), "{junk}");
        }
        for junk in ["gap_start", "area_end#", "largest_end-17p", "start"] {
            assert!(junk.parse::<Edge>().is_err(), "{junk}");
        }
    }
}

//! When the state oracles look at the whole state and when only at what a call touched
//! (design §4.5, §8): replay, `explain`, `minimize` and the tests check everything after every
//! call, so a finding is reported at the call that caused it; fuzzing runs check what each call
//! touched and the whole state at fixed points.

use std::collections::BTreeSet;

use super::Call;
use crate::ops::{Machine, Op, VmallocApi, GFP_NOFAIL, PAGE_SIZE, VM_IOREMAP};
use crate::oracle::Touched;
use crate::subject::{BusyArea, StateView};

/// Can `call` (made for `op`) end the input with a BUG, an oops or a hang? Then the whole
/// state gets its checks just before it, because nothing can be checked after (issue "every
/// path generated"; design §8). Decided cheaply and conservatively: an op that provokes a
/// BUG by its arguments ([`Op::may_bug`]), a `__GFP_NOFAIL` request (it hangs when the pool
/// runs out), `vmalloc_32` under `implicit_highmem=unconditional` (`gfp_zone`'s BUG), and,
/// under `align_wrap_check=off`, a request whose `ALIGN` may wrap (an alignment above a page,
/// a caller-given `__get_vm_area` range, `module_alloc` near the top of the address space).
pub fn may_end_input(op: &Op, call: &Call, machine: &Machine) -> bool {
    if op.may_bug(machine) {
        return true;
    }
    let knob = |k: &str, v: &str| machine.knobs.get(k) == Some(v);
    let wrap_off = knob("align_wrap_check", "off");
    match call {
        Call::VmallocGfp { gfp, .. } | Call::AllocPage { gfp, .. } => gfp & GFP_NOFAIL != 0,
        Call::VmallocRange { gfp, align, .. } => {
            gfp & GFP_NOFAIL != 0 || (wrap_off && *align > PAGE_SIZE)
        }
        Call::Vmalloc(VmallocApi::Vmalloc32 | VmallocApi::Vmalloc32User, _) => {
            knob("implicit_highmem", "unconditional")
        }
        Call::GetVmArea { range, flags, .. } => {
            wrap_off && (range.is_some() || flags & VM_IOREMAP != 0)
        }
        Call::ModuleAlloc(_) => wrap_off,
        _ => false,
    }
}

/// When the whole-state checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullChecks {
    /// After every op: a finding is reported at the op that caused it. Replay, `explain`,
    /// `minimize` and the tests use this.
    EveryOp,
    /// After every op while at most `max_frames` pool frames are allocated, else every
    /// `every`-th op; always before the input's last op and after the end-of-input cleanup.
    /// Between whole-state checks each op is checked in the scope it touched. The fuzzing
    /// engines use this: a finding it reports late is reported at its first op by a replay.
    Adaptive {
        /// Allocated frames up to which every op gets the whole-state checks.
        max_frames: u64,
        /// Otherwise, every how many ops.
        every: usize,
    },
}

impl FullChecks {
    /// The setting of the fuzzing engines and the campaign.
    pub const FUZZING: FullChecks = FullChecks::Adaptive {
        max_frames: 0,
        every: 32,
    };

    /// Does the call at `index` get the whole-state checks, with `allocated` frames in use?
    pub fn whole_at(self, index: usize, allocated: u64) -> bool {
        match self {
            FullChecks::EveryOp => true,
            FullChecks::Adaptive { max_frames, every } => {
                allocated <= max_frames || index.is_multiple_of(every.max(1))
            }
        }
    }
}

/// Sort and merge half-open ranges.
fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// What `call` touched, from the model's busy lists before and after it: every busy area
/// that appeared, went away or changed between live and lazy (its mapping may have changed),
/// the live areas it created, and the bytes it may have changed (new mappings, a write, the
/// link a deferred free stores). Nothing is truncated.
pub fn touched(before: &StateView, after: &StateView, call: &Call) -> Touched {
    let key = |b: &BusyArea| (b.start, b.end, b.vm.is_some());
    let a: BTreeSet<_> = before.busy.iter().map(key).collect();
    let b: BTreeSet<_> = after.busy.iter().map(key).collect();
    let ranges = merge(
        a.symmetric_difference(&b)
            .map(|&(s, e, _)| (s, e))
            .collect(),
    );
    let new: Vec<&BusyArea> = after
        .busy
        .iter()
        .filter(|x| x.vm.is_some() && !a.contains(&key(x)))
        .collect();
    let mut contents: Vec<(u64, u64)> = new.iter().map(|x| (x.start, x.end)).collect();
    match call {
        Call::Write { addr, bytes } => {
            contents.push((*addr, addr.saturating_add(bytes.len() as u64)))
        }
        Call::VfreeDeferred { addr, .. } => contents.push((*addr, addr.saturating_add(8))),
        _ => {}
    }
    Touched {
        ranges,
        new_areas: new.iter().map(|x| x.start).collect(),
        contents: merge(contents),
    }
}

/// The pages a scope's VA ranges cover (for progress accounting and tests).
pub fn pages_in(ranges: &[(u64, u64)]) -> u64 {
    ranges
        .iter()
        .map(|(lo, hi)| (hi - lo).div_ceil(PAGE_SIZE))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{area, lazy};

    fn view(busy: Vec<BusyArea>) -> StateView {
        StateView {
            busy,
            ..StateView::default()
        }
    }

    /// A vfree that made one area lazy and a purge-free allocation elsewhere: both ranges,
    /// merged where they touch, and only the new live area's bytes.
    #[test]
    fn touched_ranges_are_the_changed_areas_merged_and_never_truncated() {
        let before = view(vec![area(0x1000, 0x3000)]);
        let after = view(vec![lazy(0x1000, 0x3000), area(0x3000, 0x5000)]);
        let t = touched(&before, &after, &Call::VmUnmapAliases);
        assert_eq!(t.ranges, vec![(0x1000, 0x5000)]);
        assert_eq!(t.new_areas, vec![0x3000]);
        assert_eq!(t.contents, vec![(0x3000, 0x5000)]);
        // 100 new areas: 100 ranges, none dropped.
        let many = view(
            (0..100)
                .map(|i| area(i * 0x10000, i * 0x10000 + 0x2000))
                .collect(),
        );
        let t = touched(&view(Vec::new()), &many, &Call::VmUnmapAliases);
        assert_eq!(t.ranges.len(), 100);
        assert_eq!(pages_in(&t.ranges), 200);
    }

    #[test]
    fn writes_and_deferred_frees_touch_bytes() {
        let s = view(vec![area(0x1000, 0x3000)]);
        let w = Call::Write {
            addr: 0x1ff0,
            bytes: vec![1; 0x20],
        };
        assert_eq!(touched(&s, &s, &w).contents, vec![(0x1ff0, 0x2010)]);
        let d = Call::VfreeDeferred {
            addr: 0x1000,
            atomic: true,
        };
        let t = touched(&s, &s, &d);
        assert_eq!((t.ranges.len(), t.contents), (0, vec![(0x1000, 0x1008)]));
    }

    #[test]
    fn adaptive_whole_checks() {
        let f = FullChecks::Adaptive {
            max_frames: 10,
            every: 4,
        };
        assert!(f.whole_at(3, 10));
        assert!(!f.whole_at(3, 11));
        assert!(f.whole_at(8, 11));
        assert!(FullChecks::EveryOp.whole_at(3, 1 << 40));
    }
}

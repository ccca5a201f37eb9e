//! `crosscheck`: an independent second walker. The third-party `x86_64` crate (rust-osdev,
//! 0.15 line) translates addresses through the subject's frames, and must agree with the model
//! (design §6): for a sample of VAs, mapped and unmapped alike, the crate's frame and flags
//! must be the model's, or both must say "not mapped". The sample (design §8, `samples`):
//! the pages of the ranges the call touched; on whole-state checks every expected leaf, the
//! areas the call created, freed or made lazy, the first pages and guard pages of every busy
//! area and both pages of every lazily freed one, fixed VAs across the windows; always the
//! caller areas' guard pages and pseudo-random pages of the vmalloc and modules windows (a
//! function of the observation, so a replay samples the same). It runs before the exact leaf
//! comparison of [`page_tables`](super::page_tables) and does not depend on it: a walker of our
//! own and a walker of someone else's must each stand on their own. A leaf that differs from
//! the model only in a bit the crate translates (NX, RW, a frame bit) is reported here.
//!
//! Frames are copied into aligned `PageTable`s on demand (the crate needs `*mut PageTable`;
//! casting simulated memory would be unaligned), with the SME C-bit stripped from every entry
//! (design §6, caveat 9). The crate is only called after the harness's own walk found no
//! structural problem, so no entry it follows can make it panic (design §6, caveat 2: a PS bit in
//! a PML4E). It cannot walk LA57 (`VirtAddr::try_new` rejects 57-bit addresses): there the own
//! walker and the model are the check (design §3.17).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use x86_64::structures::paging::mapper::{
    MappedFrame, MappedPageTable, PageTableFrameMapping, Translate, TranslateResult,
};
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

use super::walk::ADDR_MASK;
use super::{Observation, Oracle, Scope, PTE_TABLE_SPAN};
use crate::finding::{Finding, FindingKind};
use crate::ops::{Paging, PAGE_SIZE};
use crate::subject::{BusyArea, RawMemory};

/// The oracle.
pub struct Crosscheck;

/// Its name.
pub const NAME: &str = "crosscheck";

impl Oracle for Crosscheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let (Some(raw), Some(w)) = (o.inspect.raw(), o.walk) else {
            return Ok(());
        };
        // The crate cannot walk LA57, and must not follow a malformed tree (caveat 2): the
        // structure oracle reports those first.
        if o.machine.paging != Paging::FourLevel || !w.problems.is_empty() {
            return Ok(());
        }
        let samples = samples(o);
        let problems = crosscheck(raw, o.machine.pte.masks().2, &samples);
        if problems.is_empty() {
            return Ok(());
        }
        Err(o.finding(
            NAME,
            FindingKind::WrongMapping,
            "the x86_64 crate's walk disagrees with the model",
            "",
            problems.join("\n"),
        ))
    }
}

/// At most this many pages of the touched ranges are translated per observation, whatever the
/// limit: a range can span billions of pages (a `get_vm_area` of a whole gap of the window),
/// almost none of them mapped, and translating each would take gigabytes and hours. Above it
/// the touched scope translates an even sample of the ranges' pages and, when the limit allows
/// more, their mapped pages (design §8).
const RANGE_SAMPLE_MAX: u64 = 1 << 20;

/// An even sample of at most `limit` of the `count` items of `items`.
fn even<T>(items: impl Iterator<Item = T>, count: usize, limit: usize) -> impl Iterator<Item = T> {
    items.step_by(count.div_ceil(limit.max(1)).max(1))
}

/// splitmix64: the pseudo-random VAs are a function of the state, never of a clock or a
/// thread-local generator, so a replay samples exactly what the run did.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `n` pseudo-random pages of `[lo, hi)` drawn from `seed`.
fn random_pages(seed: &mut u64, lo: u64, hi: u64, n: usize, out: &mut Vec<u64>) {
    let pages = hi.saturating_sub(lo) / PAGE_SIZE;
    if pages == 0 {
        return;
    }
    for _ in 0..n {
        *seed = mix(*seed);
        out.push(lo + (*seed % pages) * PAGE_SIZE);
    }
}

/// Pseudo-random VAs in the vmalloc and modules windows, derived from the observation (its
/// index and the model's busy areas): `whole` of them anywhere in each window, and
/// `populated` between the lowest busy area of the window and 2 MiB past its highest, where
/// tables exist and a stray leaf would be.
fn window_samples(o: &Observation<'_>, whole: usize, populated: usize, out: &mut Vec<u64>) {
    let busy = &o.model.state.busy;
    let mut seed = (o.index as u64) ^ ((busy.len() as u64) << 32);
    if let (Some(first), Some(last)) = (busy.first(), busy.last()) {
        seed ^= mix(first.start) ^ mix(last.end).rotate_left(17);
    }
    let m = o.machine;
    for (lo, hi) in [
        (m.vmalloc_start, m.vmalloc_end),
        (m.modules_vaddr, m.modules_end),
    ] {
        random_pages(&mut seed, lo, hi, whole, out);
        // The busy areas meeting the window: `busy[i..j]` (sorted and disjoint).
        let i = busy.partition_point(|b| b.end <= lo);
        let j = busy.partition_point(|b| b.start < hi);
        if i < j {
            let first = busy[i].start.max(lo) & !(PAGE_SIZE - 1);
            let end = busy[j - 1].end.saturating_add(PTE_TABLE_SPAN).min(hi);
            random_pages(&mut seed, first, end, populated, out);
        }
    }
}

/// The busy areas that differ between the model's states before and after the call (new,
/// gone, or changed between live and lazy): their starts and ends. Both lists are sorted.
fn changed_areas(o: &Observation<'_>) -> Vec<(u64, u64)> {
    if o.call.is_none() {
        return Vec::new();
    }
    let key = |b: &BusyArea| (b.start, b.end, b.vm.is_some());
    let (a, b) = (&o.before.busy, &o.model.state.busy);
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i).map(key), b.get(j).map(key)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                out.push((x.0, x.1));
                i += 1;
            }
            (Some(x), None) => {
                out.push((x.0, x.1));
                i += 1;
            }
            (_, Some(y)) => {
                out.push((y.0, y.1));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// The VAs to translate, each with the model's expected leaf (`None`: nothing mapped), mapped
/// and unmapped alike:
/// - on whole-state checks: every expected leaf (an even sample); fixed VAs across both
///   windows; the areas the call created, freed or made lazy (first and last page); every
///   busy area (an even sample): a live area's first page and the first page past its mapped
///   pages (its guard, or an unmapped tail), a lazily freed area's first and last page;
///   pseudo-random VAs in both windows, anywhere and near the busy areas;
/// - on the touched scope: every page of the ranges the call touched (an even sample of at
///   most [`RANGE_SAMPLE_MAX`] pages, and then the first page of each range and of each new
///   area, and the ranges' mapped pages up to the limit), one pseudo-random VA near the busy
///   areas of each window;
/// - in both: the page after each caller area's mapped bytes when it was walked (its guard
///   page, or the next area, I4).
///
/// The samples are a function of the observation alone (design §8).
fn samples(o: &Observation<'_>) -> Vec<(u64, Option<u64>)> {
    let ptes = o.expect.expected_ptes();
    let limit = o.crosscheck_limit;
    let mut vas: Vec<u64> = Vec::new();
    match o.scope {
        Scope::Whole => {
            vas.extend(even(ptes.keys().copied(), ptes.len(), limit));
            // Fixed VAs across the windows: their first and last pages and pages spread
            // between, where nothing should be mapped unless an area is.
            let m = o.machine;
            for (lo, hi) in [
                (m.vmalloc_start, m.vmalloc_end),
                (m.modules_vaddr, m.modules_end),
            ] {
                let pages = (hi - lo) / PAGE_SIZE;
                for k in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144] {
                    vas.push(lo + (pages * k / 144).min(pages.saturating_sub(1)) * PAGE_SIZE);
                }
            }
            let changed = changed_areas(o);
            for &(start, end) in even(changed.iter(), changed.len(), limit) {
                vas.extend([start, end.saturating_sub(PAGE_SIZE).max(start)]);
            }
            let busy = &o.model.state.busy;
            for b in even(busy.iter(), busy.len(), limit) {
                match &b.vm {
                    Some(vm) => {
                        let past = b
                            .start
                            .saturating_add(vm.nr_pages.saturating_mul(PAGE_SIZE));
                        vas.push(b.start);
                        if past < b.end {
                            vas.push(past);
                        }
                    }
                    // Lazily freed: nothing mapped (I4).
                    None => vas.extend([b.start, b.end.saturating_sub(PAGE_SIZE).max(b.start)]),
                }
            }
            window_samples(o, 4, 4, &mut vas);
        }
        Scope::Touched(t) => {
            // Every page of the touched ranges, mapped or not, or an even sample of them
            // (ranges can span billions of pages: a sample is computed, never iterated to).
            let count: u64 = t.ranges.iter().map(|(lo, hi)| (hi - lo) / PAGE_SIZE).sum();
            let sample = (limit as u64).clamp(1, RANGE_SAMPLE_MAX);
            let step = count.div_ceil(sample).max(1);
            let (mut skip, mut k) = (0u64, 0u64);
            for &(lo, hi) in &t.ranges {
                let pages = (hi - lo) / PAGE_SIZE;
                while k * step < skip + pages {
                    vas.push(lo + (k * step - skip) * PAGE_SIZE);
                    k += 1;
                }
                skip += pages;
            }
            if step > 1 {
                vas.extend(t.ranges.iter().map(|&(lo, _)| lo));
                vas.extend(t.new_areas.iter().copied());
                // A limit above what the ranges' sample may take: the mapped pages of the
                // ranges, which the even sample of all their pages skipped over.
                if limit as u64 > sample {
                    let mapped: Vec<u64> = t
                        .ranges
                        .iter()
                        .flat_map(|&(lo, hi)| ptes.range(lo..hi).map(|(&va, _)| va))
                        .collect();
                    vas.extend(even(mapped.iter().copied(), mapped.len(), limit));
                }
            }
            if !t.ranges.is_empty() {
                window_samples(o, 0, 1, &mut vas);
            }
        }
    }
    // The page after each caller area's mapped bytes: its guard page, or the next area (I4).
    for &(start, mapped) in o.caller_areas {
        let after = start.wrapping_add(mapped);
        let walked = match o.scope {
            Scope::Whole => true,
            Scope::Touched(t) => t.ranges.iter().any(|&(lo, hi)| after >= lo && after < hi),
        };
        if walked {
            vas.push(after);
        }
    }
    vas.sort_unstable();
    vas.dedup();
    vas.into_iter()
        .map(|va| (va, ptes.get(&va).copied()))
        .collect()
}

// The crate's flag bits must be the kernel's `_PAGE_*` bits (semantics §8.2).
const _: () = assert!(PageTableFlags::PRESENT.bits() == 1 << 0);
const _: () = assert!(PageTableFlags::WRITABLE.bits() == 1 << 1);
const _: () = assert!(PageTableFlags::NO_CACHE.bits() == 1 << 4);
const _: () = assert!(PageTableFlags::GLOBAL.bits() == 1 << 8);
const _: () = assert!(PageTableFlags::NO_EXECUTE.bits() == 1 << 63);

/// Copies simulated frames into aligned tables; a frame outside memory reads as empty.
struct CopyMapping<'a> {
    raw: &'a dyn RawMemory,
    sme_c_bit: u64,
    arena: RefCell<BTreeMap<u64, Box<PageTable>>>,
}

impl CopyMapping<'_> {
    fn copy(&self, pfn: u64) -> Box<PageTable> {
        let mut table = Box::new(PageTable::new());
        let raw = self
            .raw
            .read_table(pfn)
            .unwrap_or_else(|| Box::new([0; 512]));
        for (slot, &entry) in table.iter_mut().zip(raw.iter()) {
            let entry = entry & !self.sme_c_bit;
            slot.set_addr(
                PhysAddr::new_truncate(entry & ADDR_MASK),
                PageTableFlags::from_bits_retain(entry & !ADDR_MASK),
            );
        }
        table
    }
}

// SAFETY: every pointer returned points into a `Box<PageTable>` owned by `arena` (one copy per
// frame, cached), which lives as long as the mapping and so as long as the `MappedPageTable`
// holding it; a box never moves or is dropped while the arena lives, and the crate only reads
// through these pointers during `translate`.
unsafe impl PageTableFrameMapping for CopyMapping<'_> {
    fn frame_to_pointer(&self, frame: PhysFrame) -> *mut PageTable {
        let pfn = frame.start_address().as_u64() >> 12;
        let mut arena = self.arena.borrow_mut();
        let table = arena.entry(pfn).or_insert_with(|| self.copy(pfn));
        &mut **table as *mut PageTable
    }
}

/// Translate each `(va, expected leaf)` through the `x86_64` crate and report disagreements.
/// `expected = None` means the model says nothing is mapped there. Four-level paging only.
pub fn crosscheck(
    raw: &dyn RawMemory,
    sme_c_bit: u64,
    samples: &[(u64, Option<u64>)],
) -> Vec<String> {
    let mapping = CopyMapping {
        raw,
        sme_c_bit,
        arena: RefCell::new(BTreeMap::new()),
    };
    let mut l4 = mapping.copy(raw.root_pfn());
    // SAFETY: `l4` is a private copy of the root table, so the `&mut` aliases nothing the
    // mapping hands out; `mapping` returns valid, aligned, live tables for every frame.
    let mapper = unsafe { MappedPageTable::new(&mut l4, mapping) };
    let mut problems = Vec::new();
    for &(va, expected) in samples {
        // A non-canonical address cannot be mapped at all (our own walk checks that nothing is):
        // the crate has nothing to say about it.
        let Ok(addr) = VirtAddr::try_new(va) else {
            continue;
        };
        let got = match mapper.translate(addr) {
            TranslateResult::Mapped {
                frame: MappedFrame::Size4KiB(f),
                flags,
                ..
            } if flags.contains(PageTableFlags::PRESENT) => {
                Some((f.start_address().as_u64(), flags.bits()))
            }
            TranslateResult::Mapped { frame, flags, .. } => {
                if flags.contains(PageTableFlags::PRESENT) {
                    problems.push(format!(
                        "{va:#x}: x86_64 crate sees a huge mapping {frame:?}"
                    ));
                    continue;
                }
                // Design §6, caveat 1: a non-present, nonzero leaf is reported as "mapped" with no
                // flags.
                Some((frame.start_address().as_u64(), flags.bits()))
            }
            TranslateResult::NotMapped => None,
            TranslateResult::InvalidFrameAddress(a) => {
                problems.push(format!(
                    "{va:#x}: x86_64 crate reports an invalid frame address {a:?}"
                ));
                continue;
            }
        };
        let want = expected.map(|e| ((e & ADDR_MASK & !sme_c_bit), e & !ADDR_MASK));
        if got != want {
            let show = |x: Option<(u64, u64)>| match x {
                Some((frame, flags)) => format!("frame {frame:#x} flags {flags:#x}"),
                None => "not mapped".to_string(),
            };
            problems.push(format!(
                "{va:#x}: x86_64 crate translates to {}, model says {}",
                show(got),
                show(want)
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{Kit, V};

    fn mapped() -> Kit {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        kit.caller_areas = vec![(V, PAGE_SIZE)];
        kit
    }

    #[test]
    fn agreeing_walkers_pass() {
        assert!(mapped().check(&Crosscheck).is_ok());
    }

    /// The leaf the model expects differs from the frames in the NX bit only: the crate's
    /// flags say so, whatever the exact comparison would say.
    #[test]
    fn a_flag_bit_the_crate_translates_is_caught() {
        let mut kit = mapped();
        kit.raw.set_entry(0x302, 0, (0x100 << 12) | 0x163);
        let f = kit.check(&Crosscheck).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongMapping, NAME));
        assert!(
            f.actual.contains(
                "0xffffc90000000000: x86_64 crate translates to frame 0x100000 flags 0x163"
            ),
            "{}",
            f.actual
        );
    }

    /// Runs `samples`, and `window_samples` with 4 pages near the busy areas only, on the
    /// kit's observation.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<Captured>);

    /// All samples, and the pages near the busy areas.
    type Captured = (Vec<(u64, Option<u64>)>, Vec<u64>);

    impl Oracle for Capture {
        fn name(&self) -> &'static str {
            "capture"
        }
        fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
            let mut near = Vec::new();
            window_samples(o, 0, 4, &mut near);
            *self.0.lock().unwrap() = (samples(o), near);
            Ok(())
        }
    }

    fn captured(kit: &Kit) -> Captured {
        let c = Capture::default();
        kit.check(&c).unwrap();
        c.0.into_inner().unwrap()
    }

    fn sampled(kit: &Kit) -> Vec<(u64, Option<u64>)> {
        captured(kit).0
    }

    /// One live 1-page area at V (data page 0x100, its guard at V + 0x1000) and a lazily
    /// freed 3-page VA after it, in the model's busy list; nothing held by the caller.
    fn two_areas() -> Kit {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        kit.model.busy = vec![
            crate::oracle::testkit::area(V, V + 0x2000),
            crate::oracle::testkit::lazy(V + 0x2000, V + 0x5000),
        ];
        kit
    }

    /// Unmapped VAs the model knows about are sampled on whole-state checks: a live area's
    /// guard page and a lazily freed area's last page, whoever holds them.
    #[test]
    fn guard_and_lazily_freed_pages_are_sampled() {
        let kit = two_areas();
        assert!(kit.check(&Crosscheck).is_ok());
        let vas: Vec<u64> = sampled(&kit).iter().map(|s| s.0).collect();
        for va in [V, V + 0x1000, V + 0x2000, V + 0x4000] {
            assert!(vas.contains(&va), "{va:#x} not in {vas:x?}");
        }
        // The lazily freed VA's last page mapped: the crate sees it, the model says no.
        let mut kit = two_areas();
        kit.raw
            .set_entry(0x302, 4, (0x104 << 12) | 0x8000_0000_0000_0163);
        let f = kit.check(&Crosscheck).unwrap_err();
        assert!(
            f.actual
                .contains("0xffffc90000004000: x86_64 crate translates to frame 0x104000"),
            "{}",
            f.actual
        );
        assert!(f.actual.contains("model says not mapped"), "{}", f.actual);
    }

    /// Pseudo-random pages: a function of the observation (the same twice), inside the
    /// windows, some near the busy areas (within 2 MiB past the highest); the touched scope
    /// adds one near them and the first page of each new area when it samples evenly.
    #[test]
    fn the_sample_is_a_function_of_the_observation() {
        let kit = two_areas();
        let (a, b) = (sampled(&kit), sampled(&kit));
        assert_eq!(a, b);
        let m = &kit.machine;
        let in_window = |va: u64| {
            (m.vmalloc_start..=m.vmalloc_end).contains(&va)
                || (m.modules_vaddr..m.modules_end).contains(&va)
        };
        assert!(a.iter().all(|&(va, _)| in_window(va)), "{a:x?}");
        // Near the busy areas: [V, V + 0x5000 + 2 MiB) of the vmalloc window; none in the
        // modules window, which has no busy area.
        let near = captured(&kit).1;
        assert_eq!(near.len(), 4);
        assert!(
            near.iter()
                .all(|&va| (V..V + 0x5000 + PTE_TABLE_SPAN).contains(&va) && va % PAGE_SIZE == 0),
            "{near:x?}"
        );
        // Touched: 200 pages sampled every 4th, so the new area at an odd page is added.
        let mut kit = two_areas();
        kit.scope = Scope::Touched(crate::oracle::Touched {
            ranges: vec![(V + 0x10_0000, V + 0x10_0000 + 200 * PAGE_SIZE)],
            new_areas: vec![V + 0x10_3000],
            contents: Vec::new(),
        });
        let vas: Vec<u64> = sampled(&kit).iter().map(|s| s.0).collect();
        assert!(vas.contains(&(V + 0x10_3000)), "{vas:x?}");
        assert!(vas.contains(&(V + 0x10_4000)) && !vas.contains(&(V + 0x10_1000)));
    }

    /// An unbounded limit (the `page_tables` fuzz target) on a touched range of 2^28 pages: an
    /// even sample of 2^20 of them (every 256th), the first page, and every mapped page, also
    /// those the sample steps over; with the fuzzing limit, the sample alone.
    #[test]
    fn a_huge_touched_range_is_sampled_and_its_mapped_pages_kept() {
        let mut kit = two_areas();
        kit.map_page(
            V + 0x7000,
            0x107,
            0x8000_0000_0000_0163,
            [0x300, 0x301, 0x302],
        );
        kit.scope = Scope::Touched(crate::oracle::Touched {
            ranges: vec![(V, V + (1 << 40))],
            new_areas: vec![V],
            contents: Vec::new(),
        });
        kit.crosscheck_limit = usize::MAX;
        let vas: Vec<u64> = sampled(&kit).iter().map(|s| s.0).collect();
        assert!(vas.len() <= (1 << 20) + 8, "{} samples", vas.len());
        for va in [
            V,
            V + 0x7000,
            V + 256 * PAGE_SIZE,
            V + (1 << 40) - 256 * PAGE_SIZE,
        ] {
            assert!(vas.binary_search(&va).is_ok(), "{va:#x} not sampled");
        }
        assert!(vas.binary_search(&(V + 0x1000)).is_err());
        kit.crosscheck_limit = 64;
        let vas: Vec<u64> = sampled(&kit).iter().map(|s| s.0).collect();
        assert!(vas.len() <= 64 + 8, "{} samples", vas.len());
        assert!(vas.binary_search(&(V + 0x7000)).is_err());
    }

    /// A present guard page (the page after the caller's area) is caught too.
    #[test]
    fn a_mapped_guard_page_is_caught() {
        let mut kit = mapped();
        kit.raw
            .set_entry(0x302, 1, (0x105 << 12) | 0x8000_0000_0000_0163);
        let f = kit.check(&Crosscheck).unwrap_err();
        assert!(f.actual.contains("0xffffc90000001000"), "{}", f.actual);
        assert!(f.actual.contains("model says not mapped"), "{}", f.actual);
    }
}

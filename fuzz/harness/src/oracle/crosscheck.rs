//! `crosscheck`: an independent second walker. The third-party `x86_64` crate (rust-osdev,
//! 0.15 line) translates addresses through the subject's frames, and must agree with the model
//! (design §6): for a sample of VAs in scope, mapped and unmapped alike (every page of the
//! ranges the call touched, the guard pages of the areas the caller holds, on whole-state
//! checks every expected leaf and fixed VAs across the windows), the crate's frame and flags
//! must be the model's, or both must say "not mapped". It runs before the exact leaf
//! comparison of [`page_tables`](super::page_tables) and does not depend on it: a walker of
//! our own and a walker of someone else's must each stand on their own.
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
use super::{Observation, Oracle, Scope};
use crate::finding::{Finding, FindingKind};
use crate::ops::{Paging, PAGE_SIZE};
use crate::subject::RawMemory;

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

/// An even sample of at most `limit` of the `count` VAs of `vas`, with what the model expects
/// there.
fn sample_of(
    vas: impl Iterator<Item = u64>,
    count: usize,
    limit: usize,
    ptes: &BTreeMap<u64, u64>,
) -> Vec<(u64, Option<u64>)> {
    let step = count.div_ceil(limit.max(1)).max(1);
    vas.step_by(step)
        .map(|va| (va, ptes.get(&va).copied()))
        .collect()
}

/// The VAs to translate: pages of the walked ranges (mapped or not) and guard pages, with the
/// model's expected leaf for each.
fn samples(o: &Observation<'_>) -> Vec<(u64, Option<u64>)> {
    let ptes = o.expect.expected_ptes();
    let limit = o.crosscheck_limit;
    let mut out = Vec::new();
    match o.scope {
        Scope::Whole => {
            out.extend(sample_of(ptes.keys().copied(), ptes.len(), limit, &ptes));
            // Fixed VAs across the windows: their first and last pages and pages spread
            // between, where nothing should be mapped unless an area is.
            let m = o.machine;
            for (lo, hi) in [
                (m.vmalloc_start, m.vmalloc_end),
                (m.modules_vaddr, m.modules_end),
            ] {
                let pages = (hi - lo) / PAGE_SIZE;
                for k in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144] {
                    let va = lo + (pages * k / 144).min(pages.saturating_sub(1)) * PAGE_SIZE;
                    out.push((va, ptes.get(&va).copied()));
                }
            }
            for b in &o.model.state.busy {
                // Lazily freed areas: nothing mapped (I4).
                if b.vm.is_none() {
                    out.push((b.start, ptes.get(&b.start).copied()));
                }
            }
        }
        Scope::Touched(t) => {
            // Every page of the touched ranges, mapped or not, or an even sample of them
            // (ranges can span billions of pages: a sample is computed, never iterated to).
            let count: u64 = t.ranges.iter().map(|(lo, hi)| (hi - lo) / PAGE_SIZE).sum();
            let step = count.div_ceil(limit.max(1) as u64).max(1);
            let (mut skip, mut k) = (0u64, 0u64);
            for &(lo, hi) in &t.ranges {
                let pages = (hi - lo) / PAGE_SIZE;
                while k * step < skip + pages {
                    let va = lo + (k * step - skip) * PAGE_SIZE;
                    out.push((va, ptes.get(&va).copied()));
                    k += 1;
                }
                skip += pages;
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
            out.push((after, ptes.get(&after).copied()));
        }
    }
    out
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

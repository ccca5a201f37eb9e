//! An independent second walker: the third-party `x86_64` crate (rust-osdev, 0.15 line)
//! translates addresses through the subject's frames, and must agree with the model
//! (design §6).
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

use super::pagetable::ADDR_MASK;
use crate::subject::RawMemory;

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

//! Hand-built observations for the oracles' unit tests: a fake raw memory (the static boot
//! tables of semantics §12.1 and whatever a test writes), fake sides with plain data, and a
//! [`Kit`] that assembles them into an [`Observation`] so that each test can break one thing
//! and check that the oracle it targets fails, naming itself.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::walk::{walk_range, WalkParams};
use super::{Inspect, Observation, Oracle, Scope, Side};
use crate::exec::{Call, Outcome};
use crate::finding::Finding;
use crate::ops::{Machine, Paging, VmallocApi, VM_ALLOC};
use crate::subject::{
    ArrayKind, Buckets, BusyArea, Event, Expectations, Fatal, FrameState, PageBytes, RawMemory,
    Request, StateView, TableKey, TableLevel, VmInfo,
};

/// `VMALLOC_START` of the default machine.
pub(crate) const V: u64 = 0xffff_c900_0000_0000;

/// A live area `[start, end)` with a guard page: `nr_pages` = its pages minus one.
pub(crate) fn area(start: u64, end: u64) -> BusyArea {
    BusyArea {
        start,
        end,
        vm: Some(VmInfo {
            addr: start,
            size: end - start,
            flags: VM_ALLOC,
            nr_pages: (end - start) / 4096 - 1,
            caller: 0,
            array: ArrayKind::Kmalloc { bytes: 8 },
        }),
        request: Request {
            vstart: 0,
            vend: u64::MAX,
            align: 1,
        },
    }
}

/// A lazily freed VA `[start, end)`.
pub(crate) fn lazy(start: u64, end: u64) -> BusyArea {
    BusyArea {
        vm: None,
        ..area(start, end)
    }
}

/// Frames of a fake machine: tables as entries, data pages as contents, allocation states.
pub(crate) struct FakeRaw {
    pub(crate) root: u64,
    tables: BTreeMap<u64, Box<[u64; 512]>>,
    contents: BTreeMap<u64, PageBytes>,
    allocated: BTreeSet<u64>,
}

impl FakeRaw {
    /// The boot state of semantics §12.1 (four-level): PGD at PFN 1, slot 511 → PUD at 2,
    /// whose slots 510 and 511 → PMDs at 3 (0x63) and 4 (0x67).
    fn boot() -> FakeRaw {
        let mut raw = FakeRaw {
            root: 1,
            tables: BTreeMap::new(),
            contents: BTreeMap::new(),
            allocated: BTreeSet::new(),
        };
        raw.set_entry(1, 511, (2 << 12) | 0x67);
        raw.set_entry(2, 510, (3 << 12) | 0x63);
        raw.set_entry(2, 511, (4 << 12) | 0x67);
        raw.frame(3);
        raw.frame(4);
        raw
    }

    /// Make `pfn` a (zeroed) table frame if it is not one.
    pub(crate) fn frame(&mut self, pfn: u64) {
        self.tables.entry(pfn).or_insert_with(|| Box::new([0; 512]));
    }

    /// Write entry `index` of table frame `pfn`.
    pub(crate) fn set_entry(&mut self, pfn: u64, index: usize, value: u64) {
        self.frame(pfn);
        if let Some(t) = self.tables.get_mut(&pfn) {
            t[index] = value;
        }
    }

    /// Give data frame `pfn` a uniform fill.
    pub(crate) fn fill(&mut self, pfn: u64, byte: u8) {
        self.contents.insert(pfn, PageBytes::Uniform(byte));
    }

    /// Mark `pfn` allocated in the fake page allocator.
    pub(crate) fn allocate(&mut self, pfn: u64) {
        self.allocated.insert(pfn);
    }

    /// Mark `pfn` free.
    pub(crate) fn free(&mut self, pfn: u64) {
        self.allocated.remove(&pfn);
    }
}

impl RawMemory for FakeRaw {
    fn paging(&self) -> Paging {
        Paging::FourLevel
    }
    fn root_pfn(&self) -> u64 {
        self.root
    }
    fn read_entry(&self, pfn: u64, index: usize) -> Option<u64> {
        self.tables.get(&pfn).map(|t| t[index])
    }
    fn frame_state(&self, pfn: u64) -> FrameState {
        match pfn {
            _ if self.allocated.contains(&pfn) => FrameState::Allocated,
            0..256 => FrameState::Reserved,
            256..0x40000 => FrameState::Free,
            _ => FrameState::Absent,
        }
    }
    fn allocated_frames(&self) -> Vec<u64> {
        self.allocated.iter().copied().collect()
    }
    fn frame_contents(&self, pfn: u64) -> Option<PageBytes> {
        self.contents.get(&pfn).cloned()
    }
}

/// One side's answers to the oracles' queries, as plain data.
pub(crate) struct FakeSide {
    pub(crate) pages: BTreeMap<u64, Vec<u64>>,
    pub(crate) structures: Result<(), String>,
    pub(crate) vmallocinfo: String,
    pub(crate) ptes: BTreeMap<u64, u64>,
    pub(crate) tables: BTreeMap<TableKey, u64>,
    pub(crate) orphaned: BTreeSet<u64>,
    pub(crate) orphan_arrays: BTreeSet<u64>,
    pub(crate) buckets: Buckets,
    pub(crate) contents: BTreeMap<u64, PageBytes>,
}

impl Default for FakeSide {
    fn default() -> Self {
        FakeSide {
            pages: BTreeMap::new(),
            structures: Ok(()),
            vmallocinfo: String::new(),
            ptes: BTreeMap::new(),
            tables: BTreeMap::new(),
            orphaned: BTreeSet::new(),
            orphan_arrays: BTreeSet::new(),
            buckets: Buckets::default(),
            contents: BTreeMap::new(),
        }
    }
}

/// A side with its raw memory (the subject) or without (the model).
struct View<'a> {
    side: &'a FakeSide,
    raw: Option<&'a FakeRaw>,
}

impl Inspect for View<'_> {
    fn area_pages(&self, start: u64) -> Vec<u64> {
        self.side.pages.get(&start).cloned().unwrap_or_default()
    }
    fn read(&self, addr: u64, _len: usize) -> Result<Vec<u8>, u64> {
        Err(addr)
    }
    fn check_structures(&self) -> Result<(), String> {
        self.side.structures.clone()
    }
    fn raw(&self) -> Option<&dyn RawMemory> {
        self.raw.map(|r| r as &dyn RawMemory)
    }
    fn vmallocinfo(&self) -> String {
        self.side.vmallocinfo.clone()
    }
}

impl Expectations for View<'_> {
    fn expected_ptes(&self) -> Cow<'_, BTreeMap<u64, u64>> {
        Cow::Borrowed(&self.side.ptes)
    }
    fn expected_tables(&self) -> BTreeMap<TableKey, u64> {
        self.side.tables.clone()
    }
    fn orphaned_pages(&self) -> BTreeSet<u64> {
        self.side.orphaned.clone()
    }
    fn orphaned_array_areas(&self) -> BTreeSet<u64> {
        self.side.orphan_arrays.clone()
    }
    fn array_areas(&self) -> BTreeSet<u64> {
        self.side.orphan_arrays.clone()
    }
    fn buckets(&self) -> Buckets {
        self.side.buckets
    }
    fn page_contents(&self, pfn: u64) -> PageBytes {
        self.side
            .contents
            .get(&pfn)
            .cloned()
            .unwrap_or(PageBytes::Uniform(0xaa))
    }
}

/// A hand-built observation: consistent by default (an empty machine after a successful
/// call), for a test to break in one place.
pub(crate) struct Kit {
    pub(crate) machine: Machine,
    pub(crate) call: Option<Call>,
    pub(crate) model: StateView,
    pub(crate) subject: StateView,
    pub(crate) before: StateView,
    pub(crate) model_outcome: Result<Outcome, Fatal>,
    pub(crate) subject_outcome: Result<Outcome, Fatal>,
    pub(crate) model_events: Vec<Event>,
    pub(crate) subject_events: Vec<Event>,
    pub(crate) model_side: FakeSide,
    pub(crate) subject_side: FakeSide,
    pub(crate) raw: FakeRaw,
    pub(crate) scope: Scope,
    pub(crate) walk_range: Option<(u64, u64)>,
    pub(crate) caller_pages: Vec<u64>,
    pub(crate) caller_areas: Vec<(u64, u64)>,
    pub(crate) crosscheck_limit: usize,
}

impl Kit {
    /// The default machine, empty, after a `vmalloc` that both sides answered alike.
    pub(crate) fn new() -> Kit {
        let machine = Machine::default();
        let state = StateView {
            free_pages: vec![machine.totalram_pages()],
            ..StateView::default()
        };
        Kit {
            call: Some(Call::Vmalloc(VmallocApi::Vmalloc, 0x1000)),
            model: state.clone(),
            subject: state.clone(),
            before: state,
            model_outcome: Ok(Outcome::Unit),
            subject_outcome: Ok(Outcome::Unit),
            model_events: Vec::new(),
            subject_events: Vec::new(),
            model_side: FakeSide::default(),
            subject_side: FakeSide::default(),
            raw: FakeRaw::boot(),
            scope: Scope::Whole,
            walk_range: None,
            caller_pages: Vec::new(),
            caller_areas: Vec::new(),
            crosscheck_limit: 64,
            machine,
        }
    }

    /// Map the page at `va` (four-level) to `pfn` with `flags`, through new PUD, PMD and PTE
    /// tables at `tables`, on both the raw side and in the model's expectations.
    pub(crate) fn map_page(&mut self, va: u64, pfn: u64, flags: u64, tables: [u64; 3]) {
        let idx = |shift: u32| ((va >> shift) & 511) as usize;
        let [pud, pmd, pte] = tables;
        self.raw.set_entry(1, idx(39), (pud << 12) | 0x67);
        self.raw.set_entry(pud, idx(30), (pmd << 12) | 0x67);
        self.raw.set_entry(pmd, idx(21), (pte << 12) | 0x67);
        self.raw.set_entry(pte, idx(12), (pfn << 12) | flags);
        self.model_side.ptes.insert(va, (pfn << 12) | flags);
        let base = |shift: u32| va & !((1u64 << shift) - 1);
        self.model_side
            .tables
            .insert((TableLevel::Pud, base(39)), pud);
        self.model_side
            .tables
            .insert((TableLevel::Pmd, base(30)), pmd);
        self.model_side
            .tables
            .insert((TableLevel::Pte, base(21)), pte);
    }

    /// Run one oracle on the observation this kit describes.
    pub(crate) fn check(&self, oracle: &dyn Oracle) -> Result<(), Box<Finding>> {
        let params = WalkParams {
            paging: Paging::FourLevel,
            sme_c_bit: 0,
        };
        let walk = walk_range(&self.raw, params, self.walk_range);
        let model = View {
            side: &self.model_side,
            raw: None,
        };
        let subject = View {
            side: &self.subject_side,
            raw: Some(&self.raw),
        };
        let o = Observation {
            index: 7,
            what: "test op",
            machine: &self.machine,
            call: self.call.as_ref(),
            model: Side {
                outcome: &self.model_outcome,
                events: &self.model_events,
                state: &self.model,
            },
            subject: Side {
                outcome: &self.subject_outcome,
                events: &self.subject_events,
                state: &self.subject,
            },
            before: &self.before,
            expect: &model,
            inspect: &subject,
            walk: Some(&walk),
            scope: &self.scope,
            caller_pages: &self.caller_pages,
            caller_areas: &self.caller_areas,
            crosscheck_limit: self.crosscheck_limit,
        };
        oracle.check(&o)
    }
}

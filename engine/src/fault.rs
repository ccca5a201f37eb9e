//! Deterministic fault injection in the style of `failslab` / `fail_page_alloc`
//! (design §3.7, contract §6, semantics §16.2).
//!
//! One attempt counter per [`FaultKind`], counted from machine start over every request that is
//! not `__GFP_NOFAIL` (the kernel's injectors skip NOFAIL, semantics §10), outer and nested calls
//! alike, whether the request then succeeds, fails by injection or fails because the pool is empty.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

/// The call sites that can be failed (contract §6), in the order of `fault_attempts()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The `kzalloc` of a vm_struct in `__get_vm_area_node` (R13 step 1).
    VmStruct,
    /// The `kmalloc` of a vmap_area in `alloc_vmap_area` (R13 step 2).
    VmapArea,
    /// The `kmalloc` of a pages array of at most 4096 bytes (R13 step 4).
    PagesArray,
    /// Every data page of a vmalloc (nested included) and every `alloc_page` (R13 step 5).
    DataPage,
    /// Every page-table page (R13 step 6).
    TablePage,
}

impl FaultKind {
    /// Every kind, in counter order.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::VmStruct,
        FaultKind::VmapArea,
        FaultKind::PagesArray,
        FaultKind::DataPage,
        FaultKind::TablePage,
    ];

    /// Index into `fault_attempts()`.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Which attempts fail: a list of `(kind, k)`, "fail the k-th attempt of `kind`" (1-based).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    entries: Vec<(FaultKind, u64)>,
}

impl FaultPlan {
    /// No injected failure.
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// Adds "fail the `k`-th attempt of `kind`" (builder form).
    pub fn fail(mut self, kind: FaultKind, k: u64) -> Self {
        self.push(kind, k);
        self
    }

    /// Adds "fail the `k`-th attempt of `kind`".
    pub fn push(&mut self, kind: FaultKind, k: u64) {
        self.entries.push((kind, k));
    }

    /// The entries in insertion order.
    pub fn entries(&self) -> &[(FaultKind, u64)] {
        &self.entries
    }
}

/// Runtime state: the plan, sorted per kind, and the attempt counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultState {
    /// Per kind, the attempt numbers to fail, ascending.
    fail_at: [Vec<u64>; 5],
    attempts: [u64; 5],
}

impl FaultState {
    pub(crate) fn new(plan: &FaultPlan) -> Self {
        let mut fail_at: [Vec<u64>; 5] = Default::default();
        for &(kind, k) in plan.entries() {
            fail_at[kind.index()].push(k);
        }
        for v in &mut fail_at {
            v.sort_unstable();
            v.dedup();
        }
        FaultState {
            fail_at,
            attempts: [0; 5],
        }
    }

    /// Records one attempt of `kind` and says whether the plan fails it. A NOFAIL request is
    /// neither counted nor failed.
    pub(crate) fn attempt(&mut self, kind: FaultKind, nofail: bool) -> bool {
        if nofail {
            return false;
        }
        let i = kind.index();
        self.attempts[i] += 1;
        self.fail_at[i].binary_search(&self.attempts[i]).is_ok()
    }

    pub(crate) fn attempts(&self) -> [u64; 5] {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_fails_kth() {
        let plan = FaultPlan::new().fail(FaultKind::DataPage, 2);
        let mut s = FaultState::new(&plan);
        assert!(!s.attempt(FaultKind::DataPage, false));
        assert!(!s.attempt(FaultKind::DataPage, true)); // NOFAIL: not counted
        assert!(s.attempt(FaultKind::DataPage, false));
        assert!(!s.attempt(FaultKind::DataPage, false));
        assert_eq!(s.attempts(), [0, 0, 0, 3, 0]);
    }
}

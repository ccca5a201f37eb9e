//! The subject's own handles, for the weak oracle modes ([`OracleMode`](super::OracleMode)).
//!
//! The executor resolves every op against the model: `vfree area#3` becomes `vfree(a)` with
//! `a` the address the *model* returned. Under the full oracles that is exact (the first
//! difference in an address is a finding, so the input stops there). A weak mode lets a
//! silent difference pass, and a subject that placed area #3 elsewhere would then be handed an
//! address it never returned: a crash that no real caller would cause. So in a weak mode the
//! subject is driven by its own results, as a crash-only fuzzer or `lib/test_vmalloc.c`
//! drives a kernel: each address and PFN of a call that points into an object the caller got
//! is moved to the same offset in the subject's copy of that object. A call on an object the
//! subject never gave (it returned NULL where the model did not) is not made on the subject:
//! a caller checks for NULL. An address that points into no object the caller got (a stale or
//! a wild one) is passed as it is.

use std::collections::BTreeMap;

use super::call::{Call, Outcome};
use crate::subject::{BusyArea, Fatal};

/// The subject's copies of the caller's objects, keyed by the model's.
#[derive(Debug, Default, Clone)]
pub struct Aliases {
    /// Model area `[start, end)` → the subject's address for `start` (`None`: the subject
    /// returned NULL).
    areas: BTreeMap<u64, (u64, Option<u64>)>,
    /// Model PFN → the subject's PFN for the same `alloc_page` (`None`: it returned none).
    pages: BTreeMap<u64, Option<u64>>,
}

impl Aliases {
    /// Remember what `call` created on each side: `model` and `subject` are the two results,
    /// `busy` the model's busy areas after the call, in address order (for the extent of a new
    /// area).
    pub fn record(
        &mut self,
        call: &Call,
        model: &Result<Outcome, Fatal>,
        subject: &Result<Outcome, Fatal>,
        busy: &[BusyArea],
    ) {
        let (Ok(m), Ok(s)) = (model, subject) else {
            return;
        };
        let ((m_addr, m_pfn), (s_addr, s_pfn)) = (call.created(m), call.created(s));
        if let Some(ma) = m_addr {
            let end = busy
                .binary_search_by_key(&ma, |a| a.start)
                .map_or(ma.saturating_add(1), |i| busy[i].end);
            self.areas.insert(ma, (end, s_addr));
        }
        if let Some(mp) = m_pfn {
            self.pages.insert(mp, s_pfn);
        }
    }

    /// `addr` moved into the subject's copy of the object that holds it (`None`: the subject
    /// has no copy).
    fn addr(&self, addr: u64) -> Option<u64> {
        match self.areas.range(..=addr).next_back() {
            Some((&start, &(end, subject))) if addr < end => {
                subject.map(|s| s.wrapping_add(addr - start))
            }
            _ => Some(addr),
        }
    }

    /// `pfn` as the subject's (`None`: the subject has no such page).
    fn pfn(&self, pfn: u64) -> Option<u64> {
        self.pages.get(&pfn).copied().unwrap_or(Some(pfn))
    }

    /// `call` with every handle argument replaced by the subject's own, or `None` if one of
    /// them is an object the subject never gave (the call is not made on the subject).
    pub fn translate(&self, call: &Call) -> Option<Call> {
        let a = |x: &u64| self.addr(*x);
        Some(match call {
            Call::FreeVmArea(x) => Call::FreeVmArea(a(x)?),
            Call::FreePage(p) => Call::FreePage(self.pfn(*p)?),
            Call::Vmap { pfns, flags, prot } => Call::Vmap {
                pfns: pfns.iter().map(|p| self.pfn(*p)).collect::<Option<_>>()?,
                flags: *flags,
                prot: *prot,
            },
            Call::Vunmap(x, ctx) => Call::Vunmap(a(x)?, *ctx),
            Call::Vfree(x) => Call::Vfree(a(x)?),
            Call::VfreeDeferred { addr, atomic } => Call::VfreeDeferred {
                addr: a(addr)?,
                atomic: *atomic,
            },
            Call::FindVmArea(x) => Call::FindVmArea(a(x)?),
            Call::VmallocToPfn(x) => Call::VmallocToPfn(a(x)?),
            Call::IsVmallocAddr(x) => Call::IsVmallocAddr(a(x)?),
            Call::Write { addr, bytes } => Call::Write {
                addr: a(addr)?,
                bytes: bytes.clone(),
            },
            Call::Read { addr, len } => Call::Read {
                addr: a(addr)?,
                len: *len,
            },
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::VmallocApi;
    use crate::oracle::testkit::{area, V};

    #[test]
    fn handles_move_to_the_subjects_copy_at_the_same_offset() {
        let mut al = Aliases::default();
        let call = Call::Vmalloc(VmallocApi::Vmalloc, 8192);
        // The model placed it at V (pages V, V+4K, guard V+8K), the subject at V + 0x5000.
        al.record(
            &call,
            &Ok(Outcome::Addr(Some(V))),
            &Ok(Outcome::Addr(Some(V + 0x5000))),
            &[area(V, V + 0x3000)],
        );
        assert_eq!(al.translate(&Call::Vfree(V)), Some(Call::Vfree(V + 0x5000)));
        assert_eq!(
            al.translate(&Call::Read {
                addr: V + 0x1234,
                len: 2
            }),
            Some(Call::Read {
                addr: V + 0x6234,
                len: 2
            })
        );
        // Past the model's area (its guard page included): not the caller's, passed as is.
        assert_eq!(
            al.translate(&Call::Vfree(V + 0x3000)),
            Some(Call::Vfree(V + 0x3000))
        );
        // A NULL on the subject's side: the caller holds NULL, and makes no call with it.
        al.record(
            &call,
            &Ok(Outcome::Addr(Some(V + 0x10000))),
            &Ok(Outcome::Addr(None)),
            &[area(V + 0x10000, V + 0x12000)],
        );
        assert_eq!(al.translate(&Call::Vfree(V + 0x10000)), None);
        assert_eq!(al.translate(&Call::Vmallocinfo), Some(Call::Vmallocinfo));
    }

    #[test]
    fn pages_move_to_the_subjects_pfn() {
        let mut al = Aliases::default();
        let call = Call::AllocPage { gfp: 0, node: None };
        al.record(
            &call,
            &Ok(Outcome::Pfn(Some(0x40))),
            &Ok(Outcome::Pfn(Some(0x41))),
            &[],
        );
        al.record(
            &call,
            &Ok(Outcome::Pfn(Some(0x50))),
            &Ok(Outcome::Pfn(None)),
            &[],
        );
        assert_eq!(
            al.translate(&Call::FreePage(0x40)),
            Some(Call::FreePage(0x41))
        );
        assert_eq!(
            al.translate(&Call::FreePage(0x99)),
            Some(Call::FreePage(0x99))
        );
        assert_eq!(al.translate(&Call::FreePage(0x50)), None);
        let vmap = |pfns: Vec<u64>| Call::Vmap {
            pfns,
            flags: 0,
            prot: crate::ops::Prot::Kernel,
        };
        assert_eq!(
            al.translate(&vmap(vec![0x40, 0x99])),
            Some(vmap(vec![0x41, 0x99]))
        );
        assert_eq!(al.translate(&vmap(vec![0x40, 0x50])), None);
    }
}

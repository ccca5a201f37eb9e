//! `contents`: the bytes of mapped pages, page by page, against the model (design §3.10): a
//! page handed out without `__GFP_ZERO` reads as the free-page poison 0xaa, a zeroed page as
//! 0, and every byte written through a mapping (a `write` op, the link a deferred free stores
//! in the first 8 bytes of the freed area) reads back. Pages are compared whole, by PFN,
//! straight from the subject's frames (both sides keep a page as one fill byte until it is
//! first written, so the common case costs one comparison); a subject without raw memory is
//! read through its mapping, a page at a time (`Kernel::read_page`, which a sparse subject
//! answers as cheaply). In scope: the pages whose bytes the call may have changed (a new
//! mapping, a write, a deferred free), or every mapped page on a whole-state check. A dropped
//! `__GFP_ZERO`, a wrong PFN, a lost write or a missing poison is wrong data.

use super::{Observation, Oracle, Scope};
use crate::finding::{Finding, FindingKind};
use crate::ops::PAGE_SIZE;
use crate::subject::PageBytes;

/// The oracle.
pub struct Contents;

/// Its name.
pub const NAME: &str = "contents";

/// The PFN in a leaf entry (the C-bit, if any, is outside the mask the caller passes).
fn leaf_pfn(entry: u64, sme_c_bit: u64) -> u64 {
    (entry & super::walk::ADDR_MASK & !sme_c_bit) >> 12
}

impl Oracle for Contents {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let ptes = o.expect.expected_ptes();
        let c = o.machine.pte.masks().2;
        let pages: Vec<(u64, u64)> = match o.scope {
            Scope::Whole => ptes.iter().map(|(&va, &e)| (va, e)).collect(),
            Scope::Touched(t) => t
                .contents
                .iter()
                .flat_map(|&(lo, hi)| {
                    let first = lo & !(PAGE_SIZE - 1);
                    ptes.range(first..hi).map(|(&va, &e)| (va, e))
                })
                .collect(),
        };
        let raw = o.inspect.raw();
        for (va, entry) in pages {
            let pfn = leaf_pfn(entry, c);
            let want = o.expect.page_contents(pfn);
            let got = match raw {
                Some(raw) => raw.frame_contents(pfn),
                None => o.inspect.read_page(va),
            };
            let Some(got) = got else {
                return Err(o.finding(
                    NAME,
                    FindingKind::WrongData,
                    format!("page {va:#x} (pfn {pfn:#x}) cannot be read from the subject"),
                    "",
                    "",
                ));
            };
            if !want.same(&got) {
                let at = want.first_difference(&got).unwrap_or(0);
                let show = |p: &PageBytes| {
                    let from = at & !31;
                    let bytes: Vec<u8> = (from..(from + 32).min(4096)).map(|i| p.byte(i)).collect();
                    super::results::hex_lines(&bytes).replacen("00000:", &format!("{from:05x}:"), 1)
                };
                return Err(o.finding(
                    NAME,
                    FindingKind::WrongData,
                    format!(
                        "page {va:#x} (pfn {pfn:#x}) reads differently from byte {at:#x} on \
                         (__GFP_ZERO, poison, a write, or the PFN)"
                    ),
                    show(&want),
                    show(&got),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::{Kit, V};
    use crate::oracle::Touched;

    fn mapped() -> Kit {
        let mut kit = Kit::new();
        kit.map_page(V, 0x100, 0x8000_0000_0000_0163, [0x300, 0x301, 0x302]);
        kit.raw.fill(0x100, 0xaa);
        kit.model_side
            .contents
            .insert(0x100, PageBytes::Uniform(0xaa));
        kit
    }

    #[test]
    fn equal_pages_pass() {
        assert!(mapped().check(&Contents).is_ok());
    }

    #[test]
    fn a_page_that_should_be_zero_is_wrong_data() {
        let mut kit = mapped();
        kit.model_side.contents.insert(0x100, PageBytes::Uniform(0));
        let f = kit.check(&Contents).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongData, NAME));
        assert!(f.summary.contains("from byte 0x0"), "{}", f.summary);
    }

    #[test]
    fn a_lost_write_is_wrong_data_and_names_the_byte() {
        let mut kit = mapped();
        let mut bytes = Box::new([0xaa_u8; 4096]);
        bytes[0x123] = 7;
        kit.model_side
            .contents
            .insert(0x100, PageBytes::Bytes(bytes));
        let f = kit.check(&Contents).unwrap_err();
        assert!(f.summary.contains("from byte 0x123"), "{}", f.summary);
        assert!(f.expected.starts_with("00120: aaaaaa07"), "{}", f.expected);
        // A touched scope that does not cover the page does not look at it.
        kit.scope = Scope::Touched(Touched::default());
        assert!(kit.check(&Contents).is_ok());
        kit.scope = Scope::Touched(Touched {
            contents: vec![(V + 0x120, V + 0x128)],
            ..Touched::default()
        });
        assert!(kit.check(&Contents).is_err());
    }
}

//! `table_structure`: the shape of the subject's page tables, walked from the root frame in
//! its simulated memory (design §2): the root is the static PGD at PFN 1, the static boot
//! entries keep their boot values (semantics §12.1), every other intermediate entry is exactly
//! `phys | 0x67 | C-bit` for a table the vmap path allocated (I9), no table frame is reached
//! twice (no sharing, no cycle), none is a reserved frame, no huge leaf exists. It runs before
//! the results: a malformed tree makes every leaf comparison meaningless.
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::{Observation, Oracle};
use crate::finding::{Finding, FindingKind};

/// The oracle.
pub struct TableStructure;

/// Its name.
pub const NAME: &str = "table_structure";

impl Oracle for TableStructure {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, o: &Observation<'_>) -> Result<(), Box<Finding>> {
        let Some(w) = o.walk else { return Ok(()) };
        if w.problems.is_empty() {
            return Ok(());
        }
        Err(o.finding(
            NAME,
            FindingKind::WrongMapping,
            "the page tables in simulated memory are malformed",
            "",
            w.problems.join("\n"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::testkit::Kit;

    #[test]
    fn the_boot_tables_pass() {
        let kit = Kit::new();
        assert!(kit.check(&TableStructure).is_ok());
    }

    #[test]
    fn a_table_entry_written_as_0x63_is_malformed() {
        let mut kit = Kit::new();
        // A PUD table at PFN 0x300 behind PGD slot 402 (VMALLOC_START), entry 0x63 not 0x67.
        kit.raw.set_entry(1, 402, (0x300 << 12) | 0x63);
        kit.raw.frame(0x300);
        let f = kit.check(&TableStructure).unwrap_err();
        assert_eq!((f.kind, f.oracle), (FindingKind::WrongMapping, NAME));
        assert!(f.actual.contains("(I9)"), "{}", f.actual);
    }

    #[test]
    fn a_zeroed_boot_entry_is_malformed() {
        let mut kit = Kit::new();
        kit.raw.set_entry(1, 511, 0);
        let f = kit.check(&TableStructure).unwrap_err();
        assert!(
            f.actual.contains("is zero, boot value 0x2067"),
            "{}",
            f.actual
        );
    }

    #[test]
    fn a_root_elsewhere_is_malformed() {
        let mut kit = Kit::new();
        kit.raw.root = 0x200;
        kit.raw.frame(0x200);
        let f = kit.check(&TableStructure).unwrap_err();
        assert!(
            f.actual.contains("root table is at pfn 0x200"),
            "{}",
            f.actual
        );
    }

    #[test]
    fn a_shared_table_is_malformed() {
        let mut kit = Kit::new();
        kit.raw.set_entry(1, 402, (0x300 << 12) | 0x67);
        kit.raw.set_entry(1, 403, (0x300 << 12) | 0x67);
        kit.raw.frame(0x300);
        let f = kit.check(&TableStructure).unwrap_err();
        assert!(f.actual.contains("reached twice"), "{}", f.actual);
    }
}

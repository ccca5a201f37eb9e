//! LA57 (5-level) paging: the vmalloc window at 0xffa0000000000000, a P4D level allocated from
//! the pool, and the boot P4D table at PFN 5 (semantics §12.1).
//!
//! `semantics §N` cites a section of `docs/semantics.md`.

mod common;
use common::*;
use vmalloc_engine::{Kernel, MachineConfig, Pfn};

const V5: u64 = 0xffa0_0000_0000_0000;

#[test]
fn la57_boot_state_and_first_vmalloc() {
    let mut k = Kernel::new(MachineConfig::la57()).unwrap();
    // Boot: PGD[511] -> P4D at PFN 5 (0x5067), P4D[511] -> PUD at PFN 2 (0x2067).
    assert_eq!(entry(&k, 1, 511), 0x5067);
    assert_eq!(entry(&k, 5, 511), 0x2067);
    assert_eq!(entry(&k, 2, 510), 0x3063);
    let a = ok(k.vmalloc(4096, 1));
    assert_eq!(a, V5);
    // PGD index (V5 >> 48) & 511 = 0xffa0 & 0x1ff = 416; P4D, PUD, PMD, PTE indices 0.
    // Data page 0x100, then P4D 0x101, PUD 0x102, PMD 0x103, PTE 0x104.
    assert_eq!(entry(&k, 1, 416), 0x101067);
    assert_eq!(entry(&k, 0x101, 0), 0x102067);
    assert_eq!(entry(&k, 0x102, 0), 0x103067);
    assert_eq!(entry(&k, 0x103, 0), 0x104067);
    assert_eq!(entry(&k, 0x104, 0), (0x100 << 12) | PAGE_KERNEL);
    assert_eq!(k.vmalloc_to_pfn(a), Some(Pfn::from_u64(0x100)));
    assert_eq!(k.translate(a).unwrap().pfn, Pfn::from_u64(0x100));
    assert_eq!(k.counters().table_pages, 4);
}

#[test]
fn la57_modules_use_the_boot_p4d() {
    let mut k = Kernel::new(MachineConfig::la57()).unwrap();
    let m = ok(k.module_alloc(4096, 1));
    assert_eq!(m, MODULES);
    // PGD 511 -> P4D 5, slot 511 -> PUD 2, slot 510 -> PMD 3, slot 256 -> new PTE table 0x101.
    assert_eq!(entry(&k, 3, 256), 0x101067);
    assert_eq!(k.counters().table_pages, 1);
    assert!(k.ptdump().contains("---[ vmalloc() Area ]---\n"));
}

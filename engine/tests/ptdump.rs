//! The kernel_page_tables-style dump (design §6, the kernel's dump format): lines written out by
//! hand from the format description (`0x%016lx-0x%016lx   %9lu%c ` + 30 protection columns +
//! level).
//!
//! `design §N` cites a section of `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::Context;

/// The 30 protection columns of a present PAGE_KERNEL leaf: no USR, RW, no PWT/PCD/PSE/PAT,
/// GLB, NX.
const PK: &str = "    RW                 GLB NX ";

#[test]
fn ptdump_fresh_machine() {
    let k = kernel();
    // Every PGD slot of the vmalloc window (402..465) is none: one pgd-level hole of
    // 64 * 512 GiB = 32 TiB. The modules window: PMD tables 3 (slots 256..511) and 4 (slots
    // 0..503) are all none; same flags, effective prot and level, so one 1520 MiB line.
    let want = "\
---[ vmalloc() Area ]---
0xffffc90000000000-0xffffe90000000000          32T                               pgd
---[ Modules ]---
0xffffffffa0000000-0xffffffffff000000        1520M                               pmd
---[ End Modules ]---
";
    assert_eq!(k.ptdump(), want);
}

#[test]
fn ptdump_after_a_three_page_vmalloc() {
    let mut k = kernel();
    let a = ok(k.vmalloc(3 * P, 1));
    // Leaves 0..2 share flags 0x8000000000000163 (PFN ignored): one 12K run. PTEs 3..511
    // (guard included) are none: 0x1fd000 bytes = 2036K. PMD 1..511: 1022M; PUD 1..511: 511G;
    // PGD 403..465: 63 * 512G = 32256G (not a multiple of 1024G).
    let vmalloc_part = format!(
        "\
---[ vmalloc() Area ]---
0xffffc90000000000-0xffffc90000003000          12K {PK}pte
0xffffc90000003000-0xffffc90000200000        2036K                               pte
0xffffc90000200000-0xffffc90040000000        1022M                               pmd
0xffffc90040000000-0xffffc98000000000         511G                               pud
0xffffc98000000000-0xffffe90000000000       32256G                               pgd
"
    );
    let modules = "\
---[ Modules ]---
0xffffffffa0000000-0xffffffffff000000        1520M                               pmd
---[ End Modules ]---
";
    assert_eq!(k.ptdump(), format!("{vmalloc_part}{modules}"));
    // After vfree every PTE is 0 again: the first line becomes a 2M hole at pte level.
    k.vfree(a, Context::Process).unwrap();
    let after = k.ptdump();
    assert!(after.contains(
        "0xffffc90000000000-0xffffc90000200000           2M                               pte\n"
    ));
}

#[test]
fn ptdump_module_exec_page() {
    let mut k = kernel();
    ok(k.module_alloc(4096, 1));
    // PAGE_KERNEL_EXEC = 0x163: RW, GLB, executable ("x  "). The rest of its PTE table is
    // none (2044K), then PMD slots 257..511 of table 3 and 0..503 of table 4 merge: 1518M.
    let want = "\
---[ vmalloc() Area ]---
0xffffc90000000000-0xffffe90000000000          32T                               pgd
---[ Modules ]---
0xffffffffa0000000-0xffffffffa0001000           4K     RW                 GLB x  pte
0xffffffffa0001000-0xffffffffa0200000        2044K                               pte
0xffffffffa0200000-0xffffffffff000000        1518M                               pmd
---[ End Modules ]---
";
    assert_eq!(k.ptdump(), want);
}

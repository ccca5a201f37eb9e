//! A page-table dump in the style of Linux's `kernel_page_tables` debugfs file (x86), rendered
//! from a set of leaf PTEs, so that the engine's real tables (walked from its frames) and the
//! model's expected PTEs print in the same form and can be diffed line by line in `explain`.
//! Reimplemented from the description in design §6 (the kernel's dump format): runs of pages merge
//! while their flags (PFN ignored) stay the same; holes print as blank protections.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::oracle::walk::ADDR_MASK;

fn size_str(bytes: u64) -> String {
    let units = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut v = bytes;
    let mut u = 0;
    while v != 0 && v.is_multiple_of(1024) && u < units.len() - 1 {
        v /= 1024;
        u += 1;
    }
    format!("{v:>9}{}", units[u])
}

fn prot_columns(entry: u64) -> String {
    let bit = |b: u32| entry & (1 << b) != 0;
    // Columns USR RW PWT PCD PSE PAT GLB NX; at the PTE level bit 7 is PAT and PSE is blank.
    format!(
        "{}{}{}{}    {}{}{}",
        if bit(2) { "USR " } else { "    " },
        if bit(1) { "RW " } else { "ro " },
        if bit(3) { "PWT " } else { "    " },
        if bit(4) { "PCD " } else { "    " },
        if bit(7) { "PAT " } else { "    " },
        if bit(8) { "GLB " } else { "    " },
        if bit(63) { "NX " } else { "x  " },
    )
}

/// Render `[start, end)` as runs of 4 KiB PTEs: present runs with their flags, holes blank.
/// `title` is the section marker (e.g. "vmalloc() Area").
pub fn render(
    leaves: &BTreeMap<u64, u64>,
    title: &str,
    start: u64,
    end: u64,
    sme_c_bit: u64,
) -> String {
    let mut out = format!("---[ {title} ]---\n");
    let flags = |e: u64| e & !(ADDR_MASK & !sme_c_bit);
    let mut cursor = start;
    let mut iter = leaves.range(start..end).peekable();
    while let Some((&va, &e)) = iter.next() {
        if va > cursor {
            let _ = writeln!(
                out,
                "0x{cursor:016x}-0x{va:016x}   {} {:30}pte",
                size_str(va - cursor),
                ""
            );
        }
        let mut run_end = va + 4096;
        while let Some(&(&nva, &ne)) = iter.peek() {
            if nva == run_end && flags(ne) == flags(e) {
                run_end += 4096;
                iter.next();
            } else {
                break;
            }
        }
        let _ = writeln!(
            out,
            "0x{va:016x}-0x{run_end:016x}   {} {}pte",
            size_str(run_end - va),
            prot_columns(e)
        );
        cursor = run_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_runs_and_spells_flags() {
        // Three PAGE_KERNEL pages (0x8000000000000163: P RW A D GLB NX), a hole, then a
        // PAGE_KERNEL_RO page (0x8000000000000161: RW clear).
        let base = 0xffff_c900_0000_0000u64;
        let mut leaves = BTreeMap::new();
        for i in 0..3 {
            leaves.insert(base + i * 4096, ((0x100 + i) << 12) | 0x8000_0000_0000_0163);
        }
        leaves.insert(base + 0x4000, (0x200 << 12) | 0x8000_0000_0000_0161);
        let text = render(&leaves, "vmalloc() Area", base, base + 0x10_0000, 0);
        let lines: Vec<&str> = text.lines().collect();
        // Line = range, 3 spaces, "%9lu%c ", 30 protection columns, level name.
        let kernel = format!("    RW {}GLB NX ", " ".repeat(16)); // USR PWT PCD PSE PAT blank
        let ro = format!("    ro {}GLB NX ", " ".repeat(16));
        assert_eq!(kernel.len(), 30);
        assert_eq!(lines[0], "---[ vmalloc() Area ]---");
        assert_eq!(
            lines[1],
            format!(
                "0xffffc90000000000-0xffffc90000003000   {:>9}K {kernel}pte",
                12
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "0xffffc90000003000-0xffffc90000004000   {:>9}K {}pte",
                4,
                " ".repeat(30)
            )
        );
        assert_eq!(
            lines[3],
            format!("0xffffc90000004000-0xffffc90000005000   {:>9}K {ro}pte", 4)
        );
        assert_eq!(lines.len(), 4);
    }
}

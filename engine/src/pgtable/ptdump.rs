//! A page-table dump in the format of Linux x86's `kernel_page_tables` debugfs file
//! (design §6, the kernel's dump format), reimplemented from that description.
//!
//! Each window gets a `---[ name ]---` header; consecutive entries merge into one line while
//! their flags (PFN ignored), effective protection and level stay the same. Holes are reported
//! at the level where the entry is none. Effective protection is
//! `(higher & cur & (USER|RW)) | ((higher | cur) & NX)`; the root level uses its own flags.
//! Windows are clipped exactly: an entry straddling a window start is reported from it.
//!
//! `design §N` cites a section of `docs/design.md`.

use core::fmt::Write;

use super::{entry_end, level_index, top_level, Encoding, PteFlags};
use crate::addr::Pfn;
use crate::physmem::PhysMem;

/// Level names, indexed by the kernel's level number (1 = pgd … 5 = pte).
const LEVEL_NAMES: [&str; 6] = ["cr3", "pgd", "p4d", "pud", "pmd", "pte"];

#[derive(Clone, Copy)]
struct Run {
    start: u64,
    flags: u64,
    eff: u64,
    klevel: usize,
}

struct Dumper<'a> {
    mem: &'a PhysMem,
    enc: Encoding,
    out: String,
    run: Option<Run>,
}

fn effective(higher: u64, cur: u64) -> u64 {
    let rw_user = PteFlags::USER.bits() | PteFlags::RW.bits();
    let nx = PteFlags::NX.bits();
    (higher & cur & rw_user) | ((higher | cur) & nx)
}

impl Dumper<'_> {
    fn klevel(&self, level: usize) -> usize {
        if level == top_level(self.enc.paging) {
            1
        } else {
            5 - level
        }
    }

    fn note(&mut self, addr: u64, flags: u64, eff: u64, klevel: usize) {
        match self.run {
            Some(r) if r.flags == flags && r.eff == eff && r.klevel == klevel => {}
            Some(r) => {
                self.print(r, addr);
                self.run = Some(Run {
                    start: addr,
                    flags,
                    eff,
                    klevel,
                });
            }
            None => {
                self.run = Some(Run {
                    start: addr,
                    flags,
                    eff,
                    klevel,
                })
            }
        }
    }

    fn print(&mut self, r: Run, end: u64) {
        const UNITS: &[u8] = b"BKMGTPE";
        let mut delta = end.wrapping_sub(r.start);
        let mut unit = 0;
        while delta != 0 && delta & 1023 == 0 && unit + 1 < UNITS.len() {
            delta >>= 10;
            unit += 1;
        }
        let _ = write!(
            self.out,
            "0x{:016x}-0x{:016x}   {:>9}{} ",
            r.start, end, delta, UNITS[unit] as char
        );
        let pr = r.flags;
        let has = |f: PteFlags| pr & f.bits() != 0;
        if !has(PteFlags::PRESENT) {
            self.out.push_str(&" ".repeat(30));
        } else {
            self.out
                .push_str(if has(PteFlags::USER) { "USR " } else { "    " });
            self.out
                .push_str(if has(PteFlags::RW) { "RW " } else { "ro " });
            self.out
                .push_str(if has(PteFlags::PWT) { "PWT " } else { "    " });
            self.out
                .push_str(if has(PteFlags::PCD) { "PCD " } else { "    " });
            let pse = r.klevel <= 4 && has(PteFlags::PSE);
            self.out.push_str(if pse { "PSE " } else { "    " });
            let pat = (r.klevel == 5 && has(PteFlags::PAT))
                || ((r.klevel == 3 || r.klevel == 4) && has(PteFlags::PAT_LARGE));
            self.out.push_str(if pat { "PAT " } else { "    " });
            self.out.push_str(if has(PteFlags::GLOBAL) {
                "GLB "
            } else {
                "    "
            });
            self.out
                .push_str(if has(PteFlags::NX) { "NX " } else { "x  " });
        }
        self.out.push_str(LEVEL_NAMES[r.klevel]);
        self.out.push('\n');
    }

    fn walk(&mut self, table: Pfn, level: usize, lo: u64, hi: u64, eff_in: u64) {
        let top = level == top_level(self.enc.paging);
        let klevel = self.klevel(level);
        let mut addr = lo;
        while addr < hi {
            let next = entry_end(addr, level, hi);
            let e = if self.mem.exists(table.as_u64()) {
                self.mem.entry(table.as_u64(), level_index(addr, level))
            } else {
                0
            };
            let flags = self.enc.flags(e);
            if level == 0 {
                self.note(addr, flags, effective(eff_in, flags), klevel);
            } else if self.enc.is_none(level, e) {
                self.note(addr, 0, 0, klevel);
            } else {
                let eff = if top { flags } else { effective(eff_in, flags) };
                let present = flags & PteFlags::PRESENT.bits() != 0;
                if !present || self.enc.is_huge(level, e) {
                    self.note(addr, flags, eff, klevel);
                } else {
                    self.walk(self.enc.entry_pfn(e), level - 1, addr, next, eff);
                }
            }
            addr = next;
        }
    }
}

/// Dumps each `(name, start, end)` window in order, then prints `trailer` as a last header.
pub(crate) fn dump(
    mem: &PhysMem,
    enc: Encoding,
    root: Pfn,
    windows: &[(&str, u64, u64)],
    trailer: &str,
) -> String {
    let mut d = Dumper {
        mem,
        enc,
        out: String::new(),
        run: None,
    };
    for &(name, lo, hi) in windows {
        let _ = writeln!(d.out, "---[ {name} ]---");
        d.run = None;
        d.walk(root, top_level(enc.paging), lo, hi, 0);
        if let Some(r) = d.run.take() {
            d.print(r, hi);
        }
    }
    let _ = writeln!(d.out, "---[ {trailer} ]---");
    d.out
}

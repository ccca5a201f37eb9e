//! The versioned, human-readable trace format (design §4.2).
//!
//! A trace is what a person reads, edits and reviews, and what the regression corpus stores:
//! it must stay valid when the fuzz byte encoding ([`crate::codec`]) changes. Version 1:
//!
//! ```text
//! vmfuzz-trace v1
//! # why this trace exists (header comments are kept by the parser)
//! machine paging=4 cpus=2 pte=A faithful_4x_cache=on
//! node 0x0-0x1100
//! vmalloc_window 0xffffc90000000000-0xffffc90000ffffff
//! modules_window 0xffffffffc0000000-0xffffffffff000000 load_offset=0x3000
//! fault data_page 3
//! expect: wrong_placement under cache_strict
//! vmalloc 0x1000
//! __vmalloc_node_range 8K align=0x1000 start=0xffffc90000000000 end=0xffffc90000ffffff gfp=GFP_KERNEL|__GFP_ZERO prot=PAGE_KERNEL vm_flags=VM_NO_GUARD node=none
//! vfree area#0+0x1000   # trailing comments are ignored
//! ```
//!
//! Header lines are each optional (defaults = [`Machine::default`]; with `paging=5` the
//! vmalloc window defaults to the LA57 one) and come before the first op. The `machine` line
//! also takes the version knobs (semantics §13) as `key=value` (`faithful_4x_cache=on`,
//! `align_wrap_check=off`, `vunmap_lookup=find_vmap_area_deref`, ...; see
//! [`KNOBS`](crate::ops::KNOBS)) and the preset `kernel=4.19.0` (v4.19.0 as shipped), applied
//! first so that a knob named beside it overrides it; `node` lines, if
//! any, replace the default node. A `#` at the start of a line or after whitespace starts a
//! comment (`area#3` is not one). Full-line comments before the first op are the trace's
//! [`Trace::comments`]; other comments are ignored. Numbers are `0x` hex or decimal (`_`
//! separators allowed); sizes and lengths also take a `K`/`M`/`G` suffix (KiB units). Op
//! keywords are [`OpKind::name`](crate::ops::OpKind::name)s; see [`parse`] for each op's arguments.
//!
//! `design §N` cites a section of `docs/design.md`.

mod args;
mod op;
mod parse;

use std::fmt::{self, Write as _};

use crate::finding::FindingKind;
use crate::ops::{
    DeferTarget, FitApi, Input, Machine, Op, PageRef, Paging, GFP_DMA32, GFP_HIGHMEM, GFP_KERNEL,
    GFP_NOFAIL, GFP_NOWARN, GFP_THISNODE, GFP_ZERO, MODULES_END, MODULES_VADDR, VMALLOC_END_L4,
    VMALLOC_END_L5, VMALLOC_START_L4, VMALLOC_START_L5, VM_ALLOC, VM_IOREMAP, VM_MAP, VM_NO_GUARD,
    VM_USERMAP,
};
use crate::subject::BugKind;
pub use parse::parse;

/// The first line of every version-1 trace.
pub const HEADER_V1: &str = "vmfuzz-trace v1";

/// A parsed trace: the input, what replay must see, and the header comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The machine and ops.
    pub input: Input,
    /// What replaying the input must give.
    pub expect: Expect,
    /// Full-line comments before the first op, without the `#` (and one following space).
    pub comments: Vec<String>,
}

/// The `expect:` line: what replaying the trace must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No finding, no BUG (`expect: clean`, the default).
    Clean,
    /// Both sides report this BUG, which ends the input (`expect: bug <name>`).
    Bug(BugKind),
    /// Both sides report a `__GFP_NOFAIL` request that would loop for ever (`expect: hang`).
    Hang,
    /// A finding of this kind (`expect: <kind>`), under a planted bug if named
    /// (`expect: <kind> under <planted>`, design §4.3).
    Finding {
        /// The finding kind.
        kind: FindingKind,
        /// The planted bug's name.
        planted: Option<String>,
    },
}

/// A syntax or domain error, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Clean => f.write_str("clean"),
            Expect::Bug(b) => write!(f, "bug {}", b.name()),
            Expect::Hang => f.write_str("hang"),
            Expect::Finding {
                kind,
                planted: None,
            } => f.write_str(kind.name()),
            Expect::Finding {
                kind,
                planted: Some(p),
            } => write!(f, "{} under {p}", kind.name()),
        }
    }
}

/// gfp names in the order the printer writes them, after `GFP_KERNEL`.
pub(crate) const GFP_NAMES: [(&str, u64); 6] = [
    ("__GFP_ZERO", GFP_ZERO),
    ("__GFP_NOWARN", GFP_NOWARN),
    ("__GFP_DMA32", GFP_DMA32),
    ("__GFP_THISNODE", GFP_THISNODE),
    ("__GFP_HIGHMEM", GFP_HIGHMEM),
    ("__GFP_NOFAIL", GFP_NOFAIL),
];

/// VM flag names in the order the printer writes them.
pub(crate) const FLAG_NAMES: [(&str, u64); 5] = [
    ("VM_IOREMAP", VM_IOREMAP),
    ("VM_ALLOC", VM_ALLOC),
    ("VM_MAP", VM_MAP),
    ("VM_USERMAP", VM_USERMAP),
    ("VM_NO_GUARD", VM_NO_GUARD),
];

/// The default vmalloc window of a paging mode.
pub(crate) fn default_window(paging: Paging) -> (u64, u64) {
    match paging {
        Paging::FourLevel => (VMALLOC_START_L4, VMALLOC_END_L4),
        Paging::FiveLevel => (VMALLOC_START_L5, VMALLOC_END_L5),
    }
}

/// `GFP_KERNEL|__GFP_ZERO|...`; bits outside that form are appended as one hex number.
fn gfp_text(gfp: u64) -> String {
    let mut s = String::new();
    let mut rest = gfp;
    if gfp & GFP_KERNEL == GFP_KERNEL {
        s.push_str("GFP_KERNEL");
        rest &= !GFP_KERNEL;
    }
    for (name, bit) in GFP_NAMES {
        if rest & bit != 0 {
            push_alt(&mut s, name);
            rest &= !bit;
        }
    }
    if rest != 0 || s.is_empty() {
        push_alt(&mut s, &format!("{rest:#x}"));
    }
    s
}

/// `0` or `VM_MAP|VM_NO_GUARD`; unnamed bits appended as one hex number.
fn flags_text(flags: u64) -> String {
    if flags == 0 {
        return "0".into();
    }
    let mut s = String::new();
    let mut rest = flags;
    for (name, bit) in FLAG_NAMES {
        if rest & bit != 0 {
            push_alt(&mut s, name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        push_alt(&mut s, &format!("{rest:#x}"));
    }
    s
}

fn push_alt(s: &mut String, part: &str) {
    if !s.is_empty() {
        s.push('|');
    }
    s.push_str(part);
}

fn node_text(node: Option<u32>) -> String {
    node.map_or_else(|| "none".into(), |n| n.to_string())
}

/// One op as its trace line (no comment).
pub fn op_line(op: &Op) -> String {
    let kw = op.kind().name();
    match op {
        Op::Vmalloc { size, .. } | Op::ModuleAlloc { size } => format!("{kw} {size:#x}"),
        Op::VmallocNode { size, node, .. } => format!("{kw} {size:#x} node={}", node_text(*node)),
        Op::VmallocGfp { size, gfp, prot } => {
            format!("{kw} {size:#x} gfp={} prot={}", gfp_text(*gfp), prot.name())
        }
        Op::VmallocRange {
            size,
            align,
            start,
            end,
            gfp,
            prot,
            vm_flags,
            node,
        } => format!(
            "{kw} {size:#x} align={align:#x} start={start:#x} end={end:#x} gfp={} prot={} vm_flags={} node={}",
            gfp_text(*gfp),
            prot.name(),
            flags_text(*vm_flags),
            node_text(*node)
        ),
        Op::GetVmArea { size, flags, range: None } => {
            format!("{kw} {size:#x} flags={}", flags_text(*flags))
        }
        Op::GetVmArea { size, flags, range: Some((start, end)) } => format!(
            "{kw} {size:#x} flags={} start={start:#x} end={end:#x}",
            flags_text(*flags)
        ),
        Op::FreeVmArea { addr } => format!("{kw} {addr}"),
        Op::VfreeDeferred { target: DeferTarget::Writable(slot), .. } => format!("{kw} area#{slot}"),
        Op::VfreeDeferred { target: DeferTarget::Addr(a), .. } => format!("{kw} {a:#x}"),
        Op::AllocPage { gfp, node } => {
            format!("{kw} gfp={} node={}", gfp_text(*gfp), node_text(*node))
        }
        Op::FreePage { page: PageRef::Caller(slot) } => format!("{kw} page#{slot}"),
        Op::FreePage { page: PageRef::Pfn(pfn) } => format!("{kw} pfn:{pfn:#x}"),
        Op::Vmap { pages, flags, prot } => {
            let list = if pages.is_empty() {
                "-".to_string()
            } else {
                pages.iter().map(|p| format!("page#{p}")).collect::<Vec<_>>().join(",")
            };
            format!("{kw} {list} flags={} prot={}", flags_text(*flags), prot.name())
        }
        Op::Vunmap { addr, irq: false } => format!("{kw} {addr}"),
        Op::Vunmap { addr, irq: true } => format!("{kw} {addr} ctx=irq"),
        Op::Vfree { addr }
        | Op::FindVmArea { addr }
        | Op::VmallocToPfn { addr }
        | Op::IsVmallocAddr { addr } => format!("{kw} {addr}"),
        Op::RunDeferred | Op::VmUnmapAliases | Op::Vmallocinfo => kw.to_string(),
        Op::Write { slot, offset, len, seed } => {
            format!("{kw} area#{slot}{} len={len:#x} seed={seed}", offset_text(*offset))
        }
        Op::Read { slot, offset, len } => {
            format!("{kw} area#{slot}{} len={len:#x}", offset_text(*offset))
        }
        Op::Fit { api: FitApi::Vmalloc, size } => format!("{kw} {size} via=vmalloc"),
        Op::Fit { api: FitApi::ModuleAlloc, size } => format!("{kw} {size} via=module_alloc"),
        Op::Fit { api: FitApi::GetVmArea { flags }, size } => {
            format!("{kw} {size} via=get_vm_area flags={}", flags_text(*flags))
        }
        Op::RangeFit { size, align, start, end, vm_flags } => format!(
            "{kw} {size} align={align:#x} start={start} end={end} vm_flags={}",
            flags_text(*vm_flags)
        ),
    }
}

fn offset_text(offset: u64) -> String {
    if offset == 0 {
        String::new()
    } else {
        format!("+{offset:#x}")
    }
}

/// A comment or note on one line: line breaks would end it early, so they become spaces.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The header lines that differ from the defaults, then the `expect:` line.
fn header(out: &mut String, trace: &Trace) {
    let m: &Machine = &trace.input.machine;
    let d = Machine::default();
    // `write!` into a String cannot fail.
    if (m.paging, m.nr_cpus, m.pte, m.knobs) != (d.paging, d.nr_cpus, d.pte, d.knobs) {
        let paging = if m.paging == Paging::FiveLevel { 5 } else { 4 };
        let _ = write!(
            out,
            "machine paging={paging} cpus={} pte={:?}",
            m.nr_cpus, m.pte
        );
        match m.knobs.preset_name() {
            Some(p) => {
                let _ = write!(out, " kernel={p}");
            }
            None => {
                for (k, v) in m.knobs.non_default() {
                    let _ = write!(out, " {k}={v}");
                }
            }
        }
        out.push('\n');
    }
    if m.nodes != d.nodes {
        for n in &m.nodes {
            let _ = writeln!(out, "node {:#x}-{:#x}", n.start_pfn, n.end_pfn);
        }
    }
    if (m.vmalloc_start, m.vmalloc_end) != default_window(m.paging) {
        let _ = writeln!(
            out,
            "vmalloc_window {:#x}-{:#x}",
            m.vmalloc_start, m.vmalloc_end
        );
    }
    if (m.modules_vaddr, m.modules_end, m.module_load_offset) != (MODULES_VADDR, MODULES_END, 0) {
        let _ = writeln!(
            out,
            "modules_window {:#x}-{:#x} load_offset={:#x}",
            m.modules_vaddr, m.modules_end, m.module_load_offset
        );
    }
    for f in &m.faults {
        let _ = writeln!(out, "fault {} {}", f.kind.name(), f.k);
    }
    let _ = writeln!(out, "expect: {}", trace.expect);
}

/// Print a trace in the v1 format. `parse(&print(t)) == Ok(t)` for every valid trace whose
/// comments and planted-bug name are single lines (the name also without whitespace).
pub fn print(trace: &Trace) -> String {
    print_annotated(trace, &[])
}

/// [`print()`], with `  # <note>` after op `i` where `notes[i]` is `Some` (the campaign uses
/// notes to show resolved addresses; the parser ignores them).
pub fn print_annotated(trace: &Trace, notes: &[Option<String>]) -> String {
    let mut out = String::new();
    out.push_str(HEADER_V1);
    out.push('\n');
    for c in &trace.comments {
        let c = one_line(c);
        if c.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {c}");
        }
    }
    header(&mut out, trace);
    for (i, op) in trace.input.ops.iter().enumerate() {
        out.push_str(&op_line(op));
        if let Some(Some(note)) = notes.get(i) {
            let _ = write!(out, "  # {}", one_line(note));
        }
        out.push('\n');
    }
    out
}

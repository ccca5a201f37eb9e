//! One op line: the keyword ([`OpKind::name`]) and its arguments.

use super::args::{
    addr, err, flags, gfp, narrow, node, number, pages, prot, size_number, slot, Args, Result,
};
use crate::ops::{DeferTarget, DerivedSize, Edge, FitApi, Op, OpKind, PageRef, VmallocApi};

// ---- ops -----------------------------------------------------------------------------------

/// The `key=value` arguments each kind takes (positional arguments are read per kind below).
fn keys(kind: OpKind) -> &'static [&'static str] {
    match kind {
        OpKind::VmallocNode | OpKind::VzallocNode => &["node"],
        OpKind::VmallocGfp => &["gfp", "prot"],
        OpKind::VmallocRange => &["align", "start", "end", "gfp", "prot", "vm_flags", "node"],
        OpKind::GetVmArea => &["flags"],
        OpKind::GetVmAreaRange => &["flags", "start", "end"],
        OpKind::AllocPage => &["gfp", "node"],
        OpKind::Vmap => &["flags", "prot"],
        OpKind::Vunmap => &["ctx"],
        OpKind::Write => &["len", "seed"],
        OpKind::Read => &["len"],
        OpKind::Fit => &["via", "flags"],
        OpKind::RangeFit => &["align", "start", "end", "vm_flags"],
        _ => &[],
    }
}

pub(super) fn op(ln: usize, kw: &str, rest: &[&str]) -> Result<Op> {
    let Some(kind) = OpKind::from_name(kw) else {
        return err(ln, format!("unknown op `{kw}`"));
    };
    let keys = keys(kind);
    let a = Args::new(ln, kw, rest, keys)?;
    let size = |s| size_number(ln, s, "size");
    let num = |k: &str| number(ln, a.key(k)?, k);
    let op = match kind {
        OpKind::Vmalloc
        | OpKind::Vzalloc
        | OpKind::VmallocUser
        | OpKind::VmallocExec
        | OpKind::Vmalloc32
        | OpKind::Vmalloc32User => {
            let api = VmallocApi::of(kind).unwrap_or(VmallocApi::Vmalloc);
            let [s] = a.pos(["SIZE"])?;
            Op::Vmalloc {
                api,
                size: size(s)?,
            }
        }
        OpKind::VmallocNode | OpKind::VzallocNode => {
            let [s] = a.pos(["SIZE"])?;
            Op::VmallocNode {
                zero: kind == OpKind::VzallocNode,
                size: size(s)?,
                node: node(ln, a.key("node")?)?,
            }
        }
        OpKind::VmallocGfp => {
            let [s] = a.pos(["SIZE"])?;
            Op::VmallocGfp {
                size: size(s)?,
                gfp: gfp(ln, a.key("gfp")?)?,
                prot: prot(ln, a.key("prot")?)?,
            }
        }
        OpKind::VmallocRange => {
            let [s] = a.pos(["SIZE"])?;
            Op::VmallocRange {
                size: size(s)?,
                align: num("align")?,
                start: num("start")?,
                end: num("end")?,
                gfp: gfp(ln, a.key("gfp")?)?,
                prot: prot(ln, a.key("prot")?)?,
                vm_flags: flags(ln, a.key("vm_flags")?, "vm_flags")?,
                node: node(ln, a.key("node")?)?,
            }
        }
        OpKind::ModuleAlloc => {
            let [s] = a.pos(["SIZE"])?;
            Op::ModuleAlloc { size: size(s)? }
        }
        OpKind::GetVmArea | OpKind::GetVmAreaRange => {
            let [s] = a.pos(["SIZE"])?;
            let flags = flags(ln, a.key("flags")?, "flags")?;
            let range = if kind == OpKind::GetVmAreaRange {
                Some((num("start")?, num("end")?))
            } else {
                None
            };
            Op::GetVmArea {
                size: size(s)?,
                flags,
                range,
            }
        }
        OpKind::FreeVmArea => {
            let [s] = a.pos(["ADDR"])?;
            Op::FreeVmArea { addr: addr(ln, s)? }
        }
        OpKind::VfreeIrq | OpKind::VfreeAtomic => {
            let [s] = a.pos(["area#N|ADDR"])?;
            let target = if s.starts_with("area#") {
                DeferTarget::Writable(slot(ln, s, "area", false)?.0)
            } else {
                DeferTarget::Addr(number(ln, s, "address")?)
            };
            Op::VfreeDeferred {
                target,
                atomic: kind == OpKind::VfreeAtomic,
            }
        }
        OpKind::AllocPage => {
            a.pos::<0>([])?;
            Op::AllocPage {
                gfp: gfp(ln, a.key("gfp")?)?,
                node: node(ln, a.key("node")?)?,
            }
        }
        OpKind::FreePage => {
            let [s] = a.pos(["page#N|pfn:N"])?;
            let page = match s.strip_prefix("pfn:") {
                Some(pfn) => PageRef::Pfn(number(ln, pfn, "pfn")?),
                None => PageRef::Caller(slot(ln, s, "page", false)?.0),
            };
            Op::FreePage { page }
        }
        OpKind::Vmap => {
            let [s] = a.pos(["PAGES"])?;
            Op::Vmap {
                pages: pages(ln, s)?,
                flags: flags(ln, a.key("flags")?, "flags")?,
                prot: prot(ln, a.key("prot")?)?,
            }
        }
        OpKind::Vunmap => {
            let [s] = a.pos(["ADDR"])?;
            let irq = match a.opt("ctx") {
                None | Some("process") => false,
                Some("irq") => true,
                Some(v) => return err(ln, format!("ctx must be irq or process, not `{v}`")),
            };
            Op::Vunmap {
                addr: addr(ln, s)?,
                irq,
            }
        }
        OpKind::Vfree | OpKind::FindVmArea | OpKind::VmallocToPfn | OpKind::IsVmallocAddr => {
            let [s] = a.pos(["ADDR"])?;
            let addr = addr(ln, s)?;
            match kind {
                OpKind::Vfree => Op::Vfree { addr },
                OpKind::FindVmArea => Op::FindVmArea { addr },
                OpKind::VmallocToPfn => Op::VmallocToPfn { addr },
                _ => Op::IsVmallocAddr { addr },
            }
        }
        OpKind::RunDeferred | OpKind::VmUnmapAliases | OpKind::Vmallocinfo => {
            a.pos::<0>([])?;
            match kind {
                OpKind::RunDeferred => Op::RunDeferred,
                OpKind::VmUnmapAliases => Op::VmUnmapAliases,
                _ => Op::Vmallocinfo,
            }
        }
        OpKind::Write | OpKind::Read => {
            let [s] = a.pos(["area#N[+OFF]"])?;
            let (slot, offset) = slot(ln, s, "area", true)?;
            let len = narrow(ln, size_number(ln, a.key("len")?, "len")?, "len")?;
            if kind == OpKind::Write {
                let seed = narrow(ln, num("seed")?, "seed")?;
                Op::Write {
                    slot,
                    offset,
                    len,
                    seed,
                }
            } else {
                Op::Read { slot, offset, len }
            }
        }
        OpKind::Fit => {
            let [s] = a.pos(["DERIVED_SIZE"])?;
            let size = derived(ln, s)?;
            let api = match a.key("via")? {
                "vmalloc" => FitApi::Vmalloc,
                "module_alloc" => FitApi::ModuleAlloc,
                "get_vm_area" => FitApi::GetVmArea {
                    flags: flags(ln, a.key("flags")?, "flags")?,
                },
                v => {
                    return err(
                        ln,
                        format!("via must be vmalloc, module_alloc or get_vm_area, not `{v}`"),
                    )
                }
            };
            if !matches!(api, FitApi::GetVmArea { .. }) && a.opt("flags").is_some() {
                return err(ln, "flags= goes with via=get_vm_area only");
            }
            Op::Fit { api, size }
        }
        OpKind::RangeFit => {
            let [s] = a.pos(["DERIVED_SIZE"])?;
            let edge =
                |k: &str| -> Result<Edge> { a.key(k)?.parse().or_else(|e: String| err(ln, e)) };
            Op::RangeFit {
                size: derived(ln, s)?,
                align: num("align")?,
                start: edge("start")?,
                end: edge("end")?,
                vm_flags: flags(ln, a.key("vm_flags")?, "vm_flags")?,
            }
        }
    };
    Ok(op)
}

/// A derived size (`gap#K-1p`, `largest`, ...).
fn derived(ln: usize, s: &str) -> Result<DerivedSize> {
    s.parse().or_else(|e: String| err(ln, e))
}

//! One op line: the keyword ([`Op::kind_name`]) and its arguments.

use super::args::{
    addr, err, flags, gfp, narrow, node, number, pages, prot, size_number, slot, Args, Result,
};
use crate::ops::{Op, VmallocApi};

// ---- ops -----------------------------------------------------------------------------------

/// Op keywords besides the fixed wrappers ([`VmallocApi::name`]).
const OPS: [&str; 23] = [
    "vmalloc_node",
    "vzalloc_node",
    "__vmalloc",
    "__vmalloc_node_range",
    "module_alloc",
    "get_vm_area",
    "__get_vm_area",
    "free_vm_area",
    "alloc_page",
    "free_page",
    "vmap",
    "vunmap",
    "vfree",
    "vfree_irq",
    "vfree_atomic",
    "run_deferred",
    "vm_unmap_aliases",
    "find_vm_area",
    "vmalloc_to_pfn",
    "is_vmalloc_addr",
    "vmallocinfo",
    "write",
    "read",
];

pub(super) fn op(ln: usize, kw: &str, rest: &[&str]) -> Result<Op> {
    let api = VmallocApi::ALL.into_iter().find(|api| api.name() == kw);
    if api.is_none() && !OPS.contains(&kw) {
        return err(ln, format!("unknown op `{kw}`"));
    }
    let keys: &[&str] = match kw {
        "vmalloc_node" | "vzalloc_node" => &["node"],
        "__vmalloc" => &["gfp", "prot"],
        "__vmalloc_node_range" => &["align", "start", "end", "gfp", "prot", "vm_flags", "node"],
        "get_vm_area" => &["flags"],
        "__get_vm_area" => &["flags", "start", "end"],
        "alloc_page" => &["gfp", "node"],
        "vmap" => &["flags", "prot"],
        "vunmap" => &["ctx"],
        "write" => &["len", "seed"],
        "read" => &["len"],
        _ => &[],
    };
    let a = Args::new(ln, kw, rest, keys)?;
    let size = |s| size_number(ln, s, "size");
    let num = |k: &str| number(ln, a.key(k)?, k);
    let op = match kw {
        _ if api.is_some() => {
            let api = api.unwrap_or(VmallocApi::Vmalloc);
            let [s] = a.pos(["SIZE"])?;
            Op::Vmalloc {
                api,
                size: size(s)?,
            }
        }
        "vmalloc_node" | "vzalloc_node" => {
            let [s] = a.pos(["SIZE"])?;
            Op::VmallocNode {
                zero: kw == "vzalloc_node",
                size: size(s)?,
                node: node(ln, a.key("node")?)?,
            }
        }
        "__vmalloc" => {
            let [s] = a.pos(["SIZE"])?;
            Op::VmallocGfp {
                size: size(s)?,
                gfp: gfp(ln, a.key("gfp")?)?,
                prot: prot(ln, a.key("prot")?)?,
            }
        }
        "__vmalloc_node_range" => {
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
        "module_alloc" => {
            let [s] = a.pos(["SIZE"])?;
            Op::ModuleAlloc { size: size(s)? }
        }
        "get_vm_area" | "__get_vm_area" => {
            let [s] = a.pos(["SIZE"])?;
            let flags = flags(ln, a.key("flags")?, "flags")?;
            let range = if kw == "__get_vm_area" {
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
        "free_vm_area" | "vfree_irq" | "vfree_atomic" => {
            let [s] = a.pos(["area#N"])?;
            let (slot, _) = slot(ln, s, "area", false)?;
            match kw {
                "free_vm_area" => Op::FreeVmArea { slot },
                _ => Op::VfreeDeferred {
                    slot,
                    atomic: kw == "vfree_atomic",
                },
            }
        }
        "alloc_page" => {
            a.pos::<0>([])?;
            Op::AllocPage {
                gfp: gfp(ln, a.key("gfp")?)?,
                node: node(ln, a.key("node")?)?,
            }
        }
        "free_page" => {
            let [s] = a.pos(["page#N"])?;
            Op::FreePage {
                slot: slot(ln, s, "page", false)?.0,
            }
        }
        "vmap" => {
            let [s] = a.pos(["PAGES"])?;
            Op::Vmap {
                pages: pages(ln, s)?,
                flags: flags(ln, a.key("flags")?, "flags")?,
                prot: prot(ln, a.key("prot")?)?,
            }
        }
        "vunmap" => {
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
        "vfree" | "find_vm_area" | "vmalloc_to_pfn" | "is_vmalloc_addr" => {
            let [s] = a.pos(["ADDR"])?;
            let addr = addr(ln, s)?;
            match kw {
                "vfree" => Op::Vfree { addr },
                "find_vm_area" => Op::FindVmArea { addr },
                "vmalloc_to_pfn" => Op::VmallocToPfn { addr },
                _ => Op::IsVmallocAddr { addr },
            }
        }
        "run_deferred" | "vm_unmap_aliases" | "vmallocinfo" => {
            a.pos::<0>([])?;
            match kw {
                "run_deferred" => Op::RunDeferred,
                "vm_unmap_aliases" => Op::VmUnmapAliases,
                _ => Op::Vmallocinfo,
            }
        }
        "write" | "read" => {
            let [s] = a.pos(["area#N[+OFF]"])?;
            let (slot, offset) = slot(ln, s, "area", true)?;
            let len = narrow(ln, size_number(ln, a.key("len")?, "len")?, "len")?;
            if kw == "write" {
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
        _ => return err(ln, format!("unknown op `{kw}`")),
    };
    Ok(op)
}

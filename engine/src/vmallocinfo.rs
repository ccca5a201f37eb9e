//! `/proc/vmallocinfo` (semantics §11.4, contract §7, design §3.13): 4.19's line format with
//! CONFIG_NUMA, one line per busy VA in address order.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

use core::fmt::Write;

use crate::kernel::Kernel;
use crate::vm_flags::VmFlags;
use crate::vm_struct::ArrayKind;
use crate::vmap_area::VaState;

impl Kernel {
    /// The listing. A live area prints its vm_struct (size with the guard), ` op<caller>`,
    /// ` pages=N`, the flag words, ` vpages` for a vmalloc'ed array and ` N<node>=<count>`
    /// per node; a lazily freed VA prints `unpurged vm_area`.
    pub fn vmallocinfo(&self) -> String {
        let mut out = String::new();
        let mut per_node = vec![0u64; self.cfg.nodes.len()];
        for id in self.vas.busy_ids() {
            let Some(va) = self.vas.slab.get(id) else {
                continue;
            };
            let vm = match va.state {
                VaState::Live(vm) => self.vms.get(vm),
                VaState::Lazy => None,
            };
            let Some(v) = vm else {
                let _ = writeln!(
                    out,
                    "0x{:016x}-0x{:016x} {:>7} unpurged vm_area",
                    va.start,
                    va.end,
                    va.end - va.start
                );
                continue;
            };
            let _ = write!(
                out,
                "0x{:016x}-0x{:016x} {:>7} op{}",
                v.addr,
                v.addr.wrapping_add(v.size),
                v.size,
                v.caller
            );
            if !v.pages.is_empty() {
                let _ = write!(out, " pages={}", v.pages.len());
            }
            for (flag, word) in [
                (VmFlags::IOREMAP, " ioremap"),
                (VmFlags::ALLOC, " vmalloc"),
                (VmFlags::MAP, " vmap"),
                (VmFlags::USERMAP, " user"),
            ] {
                if v.flags.contains(flag) {
                    out.push_str(word);
                }
            }
            if matches!(v.array, ArrayKind::Vmalloc { .. }) {
                out.push_str(" vpages");
            }
            if !v.flags.contains(VmFlags::UNINITIALIZED) {
                per_node.fill(0);
                for p in &v.pages {
                    if let Some(n) = self.cfg.node_of(p.as_u64()) {
                        per_node[n as usize] += 1;
                    }
                }
                for (n, &c) in per_node.iter().enumerate() {
                    if c != 0 {
                        let _ = write!(out, " N{n}={c}");
                    }
                }
            }
            out.push('\n');
        }
        out
    }
}

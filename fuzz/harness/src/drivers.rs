//! Entry points for the fuzzing engines (libFuzzer via `cargo fuzz`, AFL++, bolero). Each takes
//! raw bytes, and on a finding **panics with the report** (and the readable trace), which is
//! how every fuzzing engine sees a bug. Targets stay thin: all logic lives here.
//!
//! A planted fault (canary) is chosen by the `VMFUZZ_PLANTED_BUG` environment variable, never
//! by input bytes (DECISIONS 4.4), in builds with the `planted-bugs` feature.

use std::sync::OnceLock;

use arbitrary::Unstructured;

use crate::adapter::engine::EngineKernel;
use crate::codec;
use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::ops::{Fault, FaultKind, Input, Machine, Op, Paging, PteScenario, MAX_OPS};
use crate::subject::{Context, Kernel};
use crate::text::{self, Expect, Trace};

/// Keep the input in the corpus, or tell the engine it decodes to nothing (`Corpus::Reject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worth keeping.
    Keep,
    /// Decodes to nothing.
    Reject,
}

/// The planted fault selected by `VMFUZZ_PLANTED_BUG`, read once.
pub fn planted_from_env() -> Option<String> {
    static P: OnceLock<Option<String>> = OnceLock::new();
    P.get_or_init(|| {
        std::env::var("VMFUZZ_PLANTED_BUG")
            .ok()
            .filter(|s| !s.is_empty())
    })
    .clone()
}

fn opts() -> RunOptions {
    RunOptions {
        planted: planted_from_env(),
        ..RunOptions::default()
    }
}

/// Panic with the finding and the input as a readable trace.
fn fail(finding: &Finding, input: &Input) -> ! {
    let trace = Trace {
        input: input.clone(),
        expect: Expect::Finding {
            kind: finding.kind,
            planted: planted_from_env(),
        },
        comments: Vec::new(),
    };
    panic!(
        "{finding}\n--- the input as a trace (save it as a .trace file and run `cargo vmfuzz replay FILE`):\n{}",
        text::print(&trace)
    );
}

/// `differential`: structured ops, engine against model, every oracle.
pub fn differential(data: &[u8]) -> Verdict {
    let input = codec::decode(data);
    if input.ops.is_empty() {
        return Verdict::Reject;
    }
    if let Err(f) = crate::check(&input, &opts()) {
        fail(&f, &input);
    }
    Verdict::Keep
}

/// `fault_injection`: run the input once to count allocation attempts per kind, then again
/// with each attempt index failed in turn (wasmtime's `oom` style), every run differential.
/// At most `per_kind` indices per kind, spread over the attempts made.
pub fn fault_injection(data: &[u8], per_kind: u64) -> Verdict {
    let mut input = codec::decode(data);
    input.ops.truncate(48);
    input.machine.faults.clear();
    if input.ops.is_empty() {
        return Verdict::Reject;
    }
    let o = opts();
    let base = match crate::check(&input, &o) {
        Ok(r) => r,
        Err(f) => fail(&f, &input),
    };
    for kind in FaultKind::ALL {
        let n = base.attempts[kind.index()];
        let step = n.div_ceil(per_kind.max(1)).max(1);
        let mut k = 1;
        while k <= n {
            let mut cand = input.clone();
            cand.machine.faults = vec![Fault { kind, k }];
            if let Err(f) = crate::check(&cand, &o) {
                fail(&f, &cand);
            }
            k += step;
        }
    }
    Verdict::Keep
}

/// `page_tables`: only mapping and unmapping ops on a four-level machine, with every mapped
/// page translated through the `x86_64` crate after every op.
pub fn page_tables(data: &[u8]) -> Verdict {
    let mut input = codec::decode(data);
    input.ops.retain(|op| {
        matches!(
            op,
            Op::Vmalloc { .. }
                | Op::VmallocNode { .. }
                | Op::VmallocGfp { .. }
                | Op::VmallocRange { .. }
                | Op::ModuleAlloc { .. }
                | Op::AllocPage { .. }
                | Op::Vmap { .. }
                | Op::Vunmap { irq: false, .. }
                | Op::Vfree { .. }
                | Op::VmUnmapAliases
        )
    });
    if input.machine.paging == Paging::FiveLevel {
        let d = Machine::default();
        input.machine.paging = Paging::FourLevel;
        input.machine.vmalloc_start = d.vmalloc_start;
        input.machine.vmalloc_end = d.vmalloc_end;
        // Ranges of the LA57 window no longer validate: drop those ops.
        let m = input.machine.clone();
        let n = input.ops.len();
        input.ops = input
            .ops
            .into_iter()
            .enumerate()
            .filter(|(i, op)| op.validate(&m, i + 1 == n).is_ok())
            .map(|(_, op)| op)
            .collect();
    }
    if input.ops.is_empty() || input.validate().is_err() {
        return Verdict::Reject;
    }
    let o = RunOptions {
        crosscheck_limit: usize::MAX,
        ..opts()
    };
    if let Err(f) = crate::check(&input, &o) {
        fail(&f, &input);
    }
    Verdict::Keep
}

/// `raw_bytes`: robustness. The bytes go to the trace parser as text, then straight into the
/// engine as raw calls with unvalidated arguments (unaligned, non-canonical and wrapping
/// addresses, any size and alignment, any gfp bits, nodes that do not exist, PFNs nobody
/// owns). Nothing may panic; the engine answers NULL, a warning, or a typed BUG, and a BUG
/// ends the sequence (the kernel is dead).
pub fn raw_bytes(data: &[u8]) -> Verdict {
    let _ = text::parse(&String::from_utf8_lossy(data));
    let mut u = Unstructured::new(data);
    let machine = small_machine(&mut u);
    let Ok(mut k) = EngineKernel::new(&machine, planted_from_env().as_deref()) else {
        return Verdict::Reject;
    };
    let mut calls = 0;
    let prots = crate::ops::Prot::ALL;
    while !u.is_empty() && calls < MAX_OPS {
        calls += 1;
        let kind: u8 = u.arbitrary().unwrap_or(0);
        let a: u64 = u.arbitrary().unwrap_or(0);
        let b: u64 = u.arbitrary().unwrap_or(0);
        let c: u64 = u.arbitrary().unwrap_or(0);
        let s: u8 = u.arbitrary().unwrap_or(0);
        let node = if s & 0x80 != 0 {
            None
        } else {
            Some(u32::from(s & 7))
        };
        let prot = prots[usize::from(s) % prots.len()];
        let ctx = if s & 1 == 0 {
            Context::Process
        } else {
            Context::Interrupt
        };
        let r = match kind % 20 {
            0 => k.vmalloc(a, 0).map(drop),
            1 => k.vzalloc(a, 0).map(drop),
            2 => k.vmalloc_node(a, node, 0).map(drop),
            3 => k.vmalloc_gfp(a, b, prot, 0).map(drop),
            4 => k
                .vmalloc_node_range(a, b, c, c.wrapping_add(b), a ^ c, prot, b >> 32, node, 0)
                .map(drop),
            5 => k.module_alloc(a, 0).map(drop),
            6 => k.get_vm_area(a, b, None, 0).map(drop),
            7 => k
                .get_vm_area(a, b, Some((c, c.wrapping_add(a))), 0)
                .map(drop),
            8 => k.free_vm_area(a),
            9 => k.alloc_page(b, node).map(drop),
            10 => k.free_page(a),
            11 => k
                .vmap(&[a, b, c][..usize::from(s) % 4], b, prot, 0)
                .map(drop),
            12 => k.vunmap(a, ctx),
            13 => k.vfree(a, ctx),
            14 => k.vfree_atomic(a),
            15 => k.run_deferred(),
            16 => {
                k.vm_unmap_aliases();
                Ok(())
            }
            17 => {
                let _ = (
                    k.find_vm_area(a),
                    k.vmalloc_to_pfn(a),
                    k.is_vmalloc_addr(a),
                    k.vmallocinfo(),
                );
                Ok(())
            }
            18 => {
                let _ = k.write(a, &data[..data.len().min(usize::from(s))]);
                Ok(())
            }
            _ => {
                let _ = k.read(a, usize::from(s) * 64);
                Ok(())
            }
        };
        let _ = k.take_events();
        if r.is_err() {
            break;
        }
    }
    let _ = k.state();
    Verdict::Keep
}

/// A small machine from a few bytes (for `raw_bytes`).
fn small_machine(u: &mut Unstructured<'_>) -> Machine {
    let b: u8 = u.arbitrary().unwrap_or(0);
    let pages: u16 = u.arbitrary().unwrap_or(0);
    let mut m = Machine::default();
    m.nodes[0].end_pfn = 256 + 64 + u64::from(pages % 4096);
    m.nr_cpus = 1 + u32::from(b % 64);
    m.pte = PteScenario::ALL[usize::from(b >> 5) % 5];
    if b & 0x10 != 0 {
        m.vmalloc_end = m.vmalloc_start + 256 * 4096 - 1;
    }
    m
}

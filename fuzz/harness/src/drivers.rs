//! Entry points for the fuzzing engines (libFuzzer via `cargo fuzz`, AFL++, bolero). Each takes
//! raw bytes, and on a finding **panics with the report** (and the readable trace), which is
//! how every fuzzing engine sees a bug. Targets stay thin: all logic lives here.
//!
//! A planted fault (canary) is chosen by the `VMFUZZ_PLANTED_BUG` environment variable, never
//! by input bytes (design §4.4), in builds with the `planted-bugs` feature.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::sync::OnceLock;

use arbitrary::Unstructured;

use crate::adapter::engine::EngineKernel;
use crate::codec;
use crate::exec::RunOptions;
use crate::finding::Finding;
use crate::ops::{
    Fault, FaultKind, Input, KindTraits, Machine, Paging, Prot, PteScenario, MAX_OPS,
};
use crate::subject::{Context, Kernel};
use crate::text::{self, Expect, Trace};

/// A fuzz input in vmfuzz's byte format (design §4.1), as a fuzzing engine hands it over.
///
/// `Arbitrary` takes every remaining byte, so a driver decodes exactly the bytes the engine
/// saved, as `cargo vmfuzz replay ARTIFACT` does. Only `Debug` decodes, and prints the input
/// as a readable v1 trace: that is how `cargo fuzz fmt` (libfuzzer-sys calls `Debug` under
/// `RUST_LIBFUZZER_DEBUG_PATH`) and bolero show an input. The cargo-fuzz targets and the
/// bolero test share it.
pub struct FuzzInput(pub Vec<u8>);

impl<'a> arbitrary::Arbitrary<'a> for FuzzInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // The whole input is one trace: take everything that is left.
        Ok(Self(u.bytes(u.len())?.to_vec()))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.take_rest().to_vec()))
    }
}

impl std::fmt::Debug for FuzzInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trace = Trace {
            input: codec::decode(&self.0),
            expect: Expect::Clean,
            comments: vec![
                format!("decoded from {} fuzzer bytes", self.0.len()),
                "the expect line is a placeholder: `cargo vmfuzz replay` tells what the input finds".into(),
            ],
        };
        f.write_str(&text::print(&trace))
    }
}

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
        full_checks: crate::exec::FullChecks::FUZZING,
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
    input
        .ops
        .retain(|op| op.kind().is(KindTraits::MAPS) && !op.may_bug(&input.machine));
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
    raw_calls(data);
    Verdict::Keep
}

/// The engine calls the `raw_bytes` driver makes, one per selector value modulo their count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCall {
    /// `vmalloc` of a size below 16 MiB.
    Vmalloc,
    /// `vzalloc` of any size.
    Vzalloc,
    /// `vmalloc_node`.
    VmallocNode,
    /// `__vmalloc` with any gfp.
    VmallocGfp,
    /// `__vmalloc_node_range` with any range, align, gfp, flags.
    VmallocRange,
    /// `module_alloc`.
    ModuleAlloc,
    /// `get_vm_area` of any size and flags.
    GetVmArea,
    /// `__get_vm_area` with any range.
    GetVmAreaRange,
    /// `free_vm_area` (mostly of a live area).
    FreeVmArea,
    /// `alloc_page` with any gfp and node.
    AllocPage,
    /// `__free_page` (mostly of a caller page).
    FreePage,
    /// `vmap` of up to three PFNs.
    Vmap,
    /// `vunmap` of anything.
    Vunmap,
    /// `vfree` of anything.
    Vfree,
    /// `vfree_atomic` (mostly of a live mapped area).
    VfreeAtomic,
    /// Run the deferred list.
    RunDeferred,
    /// `vm_unmap_aliases`.
    VmUnmapAliases,
    /// Every query at one address.
    Queries,
    /// A write of the input's own bytes.
    Write,
    /// A read.
    Read,
}

impl RawCall {
    /// Every raw call, in selector order.
    pub const ALL: [RawCall; 20] = [
        RawCall::Vmalloc,
        RawCall::Vzalloc,
        RawCall::VmallocNode,
        RawCall::VmallocGfp,
        RawCall::VmallocRange,
        RawCall::ModuleAlloc,
        RawCall::GetVmArea,
        RawCall::GetVmAreaRange,
        RawCall::FreeVmArea,
        RawCall::AllocPage,
        RawCall::FreePage,
        RawCall::Vmap,
        RawCall::Vunmap,
        RawCall::Vfree,
        RawCall::VfreeAtomic,
        RawCall::RunDeferred,
        RawCall::VmUnmapAliases,
        RawCall::Queries,
        RawCall::Write,
        RawCall::Read,
    ];

    /// The call a selector byte picks.
    pub fn pick(selector: u8) -> RawCall {
        Self::ALL[usize::from(selector) % Self::ALL.len()]
    }
}

/// What one `raw_bytes` sequence did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawRun {
    /// Engine calls made.
    pub calls: usize,
    /// The call and fatal outcome that ended the sequence, if one did.
    pub ended: Option<(RawCall, crate::subject::Fatal)>,
}

/// The body of [`raw_bytes`]: how many engine calls ran before the bytes ran out or a BUG
/// ended the sequence (the robustness test checks that sequences are long).
pub fn raw_calls(data: &[u8]) -> RawRun {
    let _ = text::parse(&String::from_utf8_lossy(data));
    let mut u = Unstructured::new(data);
    let machine = small_machine(&mut u);
    let Ok(mut k) = EngineKernel::new(&machine, planted_from_env().as_deref()) else {
        return RawRun::default();
    };
    let mut ended = None;
    let mut calls = 0;
    let prots = crate::ops::Prot::ALL;
    // Addresses and PFNs the engine returned: frees and vmaps mostly reuse them (plus an
    // offset), so sequences build real state before a wild argument ends them with a BUG.
    let mut seen: Vec<u64> = vec![machine.vmalloc_start];
    // Starts of live mapped areas and of live get_vm_area areas, and live caller pages: the
    // frees that would BUG on anything else take one out (wild values only when `rare`).
    let mut mapped: Vec<u64> = Vec::new();
    let mut areas: Vec<u64> = Vec::new();
    let mut pfns: Vec<u64> = Vec::new();
    while !u.is_empty() && calls < MAX_OPS {
        calls += 1;
        let call = RawCall::pick(u.arbitrary().unwrap_or(0));
        let raw_a: u64 = u.arbitrary().unwrap_or(0);
        let b: u64 = u.arbitrary().unwrap_or(0);
        let c: u64 = u.arbitrary().unwrap_or(0);
        let s: u8 = u.arbitrary().unwrap_or(0);
        // A returned address (3/4, most often exactly), or a raw one (1/4).
        let exact = seen[(raw_a >> 2) as usize % seen.len()];
        let a = match raw_a & 3 {
            0 => raw_a,
            1 => exact.wrapping_add(b % 8192),
            _ => exact,
        };
        let pfn = |v: &[u64], x: u64| match (x & 15, v.is_empty()) {
            (0, _) | (_, true) => x,
            _ => v[(x >> 4) as usize % v.len()],
        };
        let take =
            |v: &mut Vec<u64>, x: u64| (!v.is_empty()).then(|| v.swap_remove(x as usize % v.len()));
        // Mostly valid nodes and power-of-two alignments (a BUG ends the sequence), sometimes not.
        let rare = s & 0x1f == 0x1f;
        let node = match (rare, s >> 7) {
            (true, _) => Some(u32::from(s >> 5)),
            (false, 0) => None,
            (false, _) => Some(0),
        };
        let align = if rare { b } else { 1u64 << (b % 64) };
        let prot = prots[usize::from(s) % prots.len()];
        let ctx = if rare {
            Context::Interrupt
        } else {
            Context::Process
        };
        let small = a % (1 << 24);
        let r: Result<Option<u64>, crate::subject::Fatal> = match call {
            RawCall::Vmalloc => k.vmalloc(small, 0),
            RawCall::Vzalloc => k.vzalloc(a, 0),
            RawCall::VmallocNode => k.vmalloc_node(small, node, 0),
            RawCall::VmallocGfp => k.vmalloc_gfp(small, b, prot, 0),
            RawCall::VmallocRange => k.vmalloc_node_range(
                small,
                align,
                c,
                c.wrapping_add(b % (1 << 30)),
                b,
                prot,
                b >> 32,
                node,
                0,
            ),
            RawCall::ModuleAlloc => k.module_alloc(small, 0),
            RawCall::GetVmArea => k.get_vm_area(a, b, None, 0).map(|v| v.map(|v| v.addr)),
            RawCall::GetVmAreaRange => k
                .get_vm_area(a, b, Some((c, c.wrapping_add(a))), 0)
                .map(|v| v.map(|v| v.addr)),
            RawCall::FreeVmArea => match (rare, take(&mut areas, b)) {
                (false, None) => Ok(None),
                (false, Some(x)) => k.free_vm_area(x).map(|()| None),
                (true, _) => k.free_vm_area(a).map(|()| None),
            },
            RawCall::AllocPage => k.alloc_page(b, node),
            RawCall::FreePage => match (rare, take(&mut pfns, b)) {
                (false, None) => Ok(None),
                (false, Some(p)) => k.free_page(p).map(|()| None),
                (true, _) => k.free_page(pfn(&pfns, b)).map(|()| None),
            },
            RawCall::Vmap => {
                let pages = [pfn(&pfns, b), pfn(&pfns, c), pfn(&pfns, b ^ c)];
                k.vmap(&pages[..usize::from(s) % 4], b, prot, 0)
            }
            RawCall::Vunmap => k.vunmap(a, ctx).map(|()| None),
            RawCall::Vfree => k.vfree(a, ctx).map(|()| None),
            RawCall::VfreeAtomic => match (rare, take(&mut mapped, b)) {
                (false, None) => Ok(None),
                (false, Some(x)) => k.vfree_atomic(x).map(|()| None),
                (true, _) => k.vfree_atomic(a).map(|()| None),
            },
            RawCall::RunDeferred => k.run_deferred().map(|()| None),
            RawCall::VmUnmapAliases => {
                k.vm_unmap_aliases();
                Ok(None)
            }
            RawCall::Queries => {
                let _ = (
                    k.find_vm_area(a),
                    k.vmalloc_to_pfn(a),
                    k.is_vmalloc_addr(a),
                    k.vmallocinfo(),
                );
                Ok(None)
            }
            RawCall::Write => {
                let _ = k.write(a, &data[..data.len().min(usize::from(s))]);
                Ok(None)
            }
            RawCall::Read => {
                let _ = k.read(a, usize::from(s) * 64);
                Ok(None)
            }
        };
        let _ = k.take_events();
        match r {
            Ok(Some(x)) if call == RawCall::AllocPage => pfns.push(x),
            Ok(Some(x)) => {
                seen.push(x);
                // vmalloc, vzalloc and vmalloc_node map with PAGE_KERNEL whatever `prot` is.
                let fixed_prot = matches!(
                    call,
                    RawCall::Vmalloc | RawCall::Vzalloc | RawCall::VmallocNode
                );
                match call {
                    RawCall::GetVmArea | RawCall::GetVmAreaRange => areas.push(x),
                    RawCall::Vmap if prot_writable(prot) => mapped.push(x),
                    RawCall::Vmalloc
                    | RawCall::Vzalloc
                    | RawCall::VmallocNode
                    | RawCall::VmallocGfp
                    | RawCall::VmallocRange
                    | RawCall::ModuleAlloc
                        if fixed_prot || prot_writable(prot) =>
                    {
                        mapped.push(x)
                    }
                    _ => {}
                }
            }
            Ok(None) => {}
            Err(f) => {
                ended = Some((call, f));
                break;
            }
        }
    }
    let _ = k.state();
    RawRun { calls, ended }
}

fn prot_writable(p: Prot) -> bool {
    !matches!(p, Prot::KernelRo | Prot::KernelRx)
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

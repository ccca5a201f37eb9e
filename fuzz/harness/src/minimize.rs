//! Structured shrinking of a failing input (`cargo vmfuzz minimize`, README "Reading a finding"):
//! drop ops (in halving chunks, then one by one), drop fault-plan entries, simplify the machine,
//! and shrink op fields (sizes, alignments, offsets, gfp, protections, nodes, vmap lists), keeping
//! each step only while the caller's predicate (usually "the same finding kind persists") still
//! holds and the candidate stays inside the valid domain.

use std::time::{Duration, Instant};

use crate::ops::{
    Addr, Input, KindTraits, Machine, NodeSpan, Op, OpKind, Prot, PteScenario, GFP_KERNEL,
    PAGE_SIZE,
};

/// Why a minimization stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stopped {
    /// No candidate shrinks the input further.
    #[default]
    Done,
    /// The run budget was spent.
    Budget,
    /// The time bound was reached.
    Time,
    /// The caller asked to stop (an interrupt).
    Interrupted,
}

/// Counters of a minimization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinimizeStats {
    /// Ops before.
    pub ops_before: usize,
    /// Ops after.
    pub ops_after: usize,
    /// Predicate evaluations spent.
    pub tries: usize,
    /// Why it stopped. The input returned is the smallest found so far in every case.
    pub stopped: Stopped,
}

/// Where a running minimization is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Predicate evaluations so far.
    pub runs: usize,
    /// Ops of the smallest failing input so far.
    pub ops: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Bounds and hooks of a minimization.
pub struct Limits<'a> {
    /// At most this many predicate evaluations.
    pub budget: usize,
    /// At most this long (the smallest input so far is kept when it runs out).
    pub time: Option<Duration>,
    /// Asked before every evaluation: `true` stops at once (an interrupt).
    pub stop: &'a dyn Fn() -> bool,
    /// Told after every evaluation.
    pub progress: &'a mut dyn FnMut(Progress),
}

struct Shrinker<'a, F> {
    pred: F,
    tries: usize,
    limits: Limits<'a>,
    start: Instant,
    stopped: Option<Stopped>,
    best_ops: usize,
}

impl<F: FnMut(&Input) -> bool> Shrinker<'_, F> {
    /// Test a candidate: valid and still failing.
    fn keeps(&mut self, cand: &Input) -> bool {
        if self.stopped.is_some() || cand.validate().is_err() {
            return false;
        }
        if self.tries >= self.limits.budget {
            self.stopped = Some(Stopped::Budget);
            return false;
        }
        if self.limits.time.is_some_and(|t| self.start.elapsed() >= t) {
            self.stopped = Some(Stopped::Time);
            return false;
        }
        if (self.limits.stop)() {
            self.stopped = Some(Stopped::Interrupted);
            return false;
        }
        self.tries += 1;
        let kept = (self.pred)(cand);
        if kept {
            self.best_ops = cand.ops.len();
        }
        (self.limits.progress)(Progress {
            runs: self.tries,
            ops: self.best_ops,
            elapsed: self.start.elapsed(),
        });
        kept
    }

    /// Delete chunks of ops (halving), each with the ops that refer to what it created, the
    /// rest renumbered to name the same things ([`crate::exec::reslot`]).
    fn drop_ops(&mut self, best: &mut Input) -> bool {
        let mut progress = false;
        let mut chunk = best.ops.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            while i < best.ops.len() {
                let end = (i + chunk).min(best.ops.len());
                let keep: Vec<bool> = (0..best.ops.len()).map(|j| j < i || j >= end).collect();
                let cand = crate::exec::reslot::reslot(best, &keep);
                if self.keeps(&cand) {
                    *best = cand;
                    progress = true;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 {
                return progress;
            }
            chunk /= 2;
        }
    }

    fn drop_faults(&mut self, best: &mut Input) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < best.machine.faults.len() {
            let mut cand = best.clone();
            cand.machine.faults.remove(i);
            if self.keeps(&cand) {
                *best = cand;
                progress = true;
            } else {
                i += 1;
            }
        }
        progress
    }

    fn simplify_machine(&mut self, best: &mut Input) -> bool {
        let mut progress = false;
        for cand_machine in machine_candidates(&best.machine) {
            if cand_machine == best.machine {
                continue;
            }
            let cand = Input {
                machine: cand_machine,
                ops: best.ops.clone(),
            };
            if self.keeps(&cand) {
                *best = cand;
                progress = true;
            }
        }
        progress
    }

    fn shrink_fields(&mut self, best: &mut Input) -> bool {
        let mut progress = false;
        for i in 0..best.ops.len() {
            // To a fixpoint: candidates are recomputed from each accepted simplification.
            'op: loop {
                for op in op_candidates(&best.ops[i]) {
                    if op == best.ops[i] {
                        continue;
                    }
                    let mut cand = best.clone();
                    cand.ops[i] = op;
                    if self.keeps(&cand) {
                        *best = cand;
                        progress = true;
                        continue 'op;
                    }
                }
                break;
            }
        }
        progress
    }
}

/// Shrink `input` while `still_fails` holds, spending at most `budget` evaluations.
pub fn minimize(
    input: &Input,
    still_fails: impl FnMut(&Input) -> bool,
    budget: usize,
) -> (Input, MinimizeStats) {
    minimize_with(
        input,
        still_fails,
        Limits {
            budget,
            time: None,
            stop: &|| false,
            progress: &mut |_| {},
        },
    )
}

/// Shrink `input` while `still_fails` holds, within `limits`. Whatever stops it, the result
/// is the smallest input found so far that still fails (or `input` itself).
pub fn minimize_with(
    input: &Input,
    still_fails: impl FnMut(&Input) -> bool,
    limits: Limits<'_>,
) -> (Input, MinimizeStats) {
    let mut s = Shrinker {
        pred: still_fails,
        tries: 0,
        limits,
        start: Instant::now(),
        stopped: None,
        best_ops: input.ops.len(),
    };
    let mut best = input.clone();
    loop {
        let mut progress = s.drop_ops(&mut best);
        progress |= s.drop_faults(&mut best);
        progress |= s.simplify_machine(&mut best);
        progress |= s.shrink_fields(&mut best);
        if !progress || s.stopped.is_some() {
            break;
        }
    }
    let stats = MinimizeStats {
        ops_before: input.ops.len(),
        ops_after: best.ops.len(),
        tries: s.tries,
        stopped: s.stopped.unwrap_or_default(),
    };
    (best, stats)
}

/// Simpler machines to try, simplest first.
fn machine_candidates(m: &Machine) -> Vec<Machine> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Machine)| {
        let mut c = m.clone();
        f(&mut c);
        c
    };
    if m.nodes.len() > 1 {
        out.push(with(&|c| c.nodes.truncate(1)));
        out.push(with(&|c| {
            c.nodes.pop();
        }));
    }
    out.push(with(&|c| c.pte = PteScenario::A));
    out.push(with(&|c| c.module_load_offset = 0));
    out.push(with(&|c| c.modules_vaddr = crate::ops::MODULES_VADDR));
    out.push(with(&|c| c.nr_cpus = 1));
    // Smaller node 0 (fewer pages to look at in a report).
    if let Some(n0) = m.nodes.first() {
        let pages = n0.end_pfn - n0.start_pfn;
        if pages > 512 {
            out.push(with(&|c| {
                c.nodes[0] = NodeSpan {
                    start_pfn: 0,
                    end_pfn: 256 + (pages - 256) / 2,
                }
            }));
        }
    }
    out
}

fn smaller_sizes(size: u64) -> Vec<u64> {
    let mut v = vec![
        PAGE_SIZE,
        size / 2,
        size & !(PAGE_SIZE - 1),
        size.saturating_sub(PAGE_SIZE),
    ];
    v.retain(|&s| s < size && s > 0);
    v
}

fn smaller_addr(a: Addr) -> Vec<Addr> {
    match a {
        Addr::Area { slot, offset } if offset != 0 || slot != 0 => {
            vec![
                Addr::Area { slot: 0, offset },
                Addr::Area { slot, offset: 0 },
                Addr::Area {
                    slot,
                    offset: offset & !(PAGE_SIZE - 1),
                },
            ]
        }
        Addr::Stale { slot, offset } if offset != 0 || slot != 0 => {
            vec![
                Addr::Stale { slot: 0, offset },
                Addr::Stale { slot, offset: 0 },
            ]
        }
        _ => Vec::new(),
    }
}

/// Simpler versions of one op.
/// Simpler versions of one op: first the simplest kind of the same size (a sized kind, per
/// the op table's `SIZED` trait, becomes a plain `vmalloc`), then the op's own fields shrunk.
fn op_candidates(op: &Op) -> Vec<Op> {
    let mut out = Vec::new();
    if let (true, Some(size)) = (op.kind().is(KindTraits::SIZED), op.size()) {
        if op.kind() != OpKind::Vmalloc {
            out.push(Op::Vmalloc {
                api: crate::ops::VmallocApi::Vmalloc,
                size,
            });
        }
    }
    match op {
        Op::Vmalloc { api, size } => {
            out.extend(
                smaller_sizes(*size)
                    .into_iter()
                    .map(|size| Op::Vmalloc { api: *api, size }),
            );
        }
        Op::VmallocNode { zero, size, node } => {
            out.extend(
                smaller_sizes(*size)
                    .into_iter()
                    .map(|size| Op::VmallocNode {
                        zero: *zero,
                        size,
                        node: *node,
                    }),
            );
            out.push(Op::VmallocNode {
                zero: *zero,
                size: *size,
                node: None,
            });
        }
        Op::VmallocGfp { size, gfp, prot } => {
            out.extend(smaller_sizes(*size).into_iter().map(|size| Op::VmallocGfp {
                size,
                gfp: *gfp,
                prot: *prot,
            }));
            out.push(Op::VmallocGfp {
                size: *size,
                gfp: GFP_KERNEL,
                prot: *prot,
            });
            out.push(Op::VmallocGfp {
                size: *size,
                gfp: *gfp,
                prot: Prot::Kernel,
            });
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
        } => {
            let base = Op::VmallocRange {
                size: *size,
                align: *align,
                start: *start,
                end: *end,
                gfp: *gfp,
                prot: *prot,
                vm_flags: *vm_flags,
                node: *node,
            };
            let vary = |f: &dyn Fn(&mut Op)| {
                let mut c = base.clone();
                f(&mut c);
                c
            };
            for s in smaller_sizes(*size) {
                out.push(vary(&|c| {
                    if let Op::VmallocRange { size, .. } = c {
                        *size = s;
                    }
                }));
            }
            if align.is_power_of_two() && *align > 1 {
                for a in [1, PAGE_SIZE, align / 2] {
                    out.push(vary(&|c| {
                        if let Op::VmallocRange { align, .. } = c {
                            *align = a;
                        }
                    }));
                }
            }
            out.push(vary(&|c| {
                if let Op::VmallocRange {
                    gfp,
                    prot,
                    vm_flags,
                    node,
                    ..
                } = c
                {
                    *gfp = GFP_KERNEL;
                    *prot = Prot::Kernel;
                    *vm_flags = 0;
                    *node = None;
                }
            }));
        }
        Op::ModuleAlloc { size } => {
            out.extend(
                smaller_sizes(*size)
                    .into_iter()
                    .map(|size| Op::ModuleAlloc { size }),
            );
        }
        Op::GetVmArea { size, flags, range } => {
            out.extend(smaller_sizes(*size).into_iter().map(|size| Op::GetVmArea {
                size,
                flags: *flags,
                range: *range,
            }));
            out.push(Op::GetVmArea {
                size: *size,
                flags: 0,
                range: *range,
            });
            out.push(Op::GetVmArea {
                size: *size,
                flags: *flags,
                range: None,
            });
        }
        Op::Vmap { pages, flags, prot } => {
            if !pages.is_empty() {
                out.push(Op::Vmap {
                    pages: pages[..pages.len() / 2].to_vec(),
                    flags: *flags,
                    prot: *prot,
                });
                out.push(Op::Vmap {
                    pages: pages[..pages.len() - 1].to_vec(),
                    flags: *flags,
                    prot: *prot,
                });
            }
            out.push(Op::Vmap {
                pages: pages.clone(),
                flags: crate::ops::VM_MAP,
                prot: Prot::Kernel,
            });
        }
        Op::Vfree { addr } => out.extend(
            smaller_addr(*addr)
                .into_iter()
                .map(|addr| Op::Vfree { addr }),
        ),
        Op::Vunmap { addr, irq } => out.extend(
            smaller_addr(*addr)
                .into_iter()
                .map(|addr| Op::Vunmap { addr, irq: *irq }),
        ),
        Op::FindVmArea { addr } => out.extend(
            smaller_addr(*addr)
                .into_iter()
                .map(|addr| Op::FindVmArea { addr }),
        ),
        Op::VmallocToPfn { addr } => out.extend(
            smaller_addr(*addr)
                .into_iter()
                .map(|addr| Op::VmallocToPfn { addr }),
        ),
        Op::Write {
            slot,
            offset,
            len,
            seed,
        } => {
            out.push(Op::Write {
                slot: *slot,
                offset: 0,
                len: *len,
                seed: *seed,
            });
            if *len > 1 {
                out.push(Op::Write {
                    slot: *slot,
                    offset: *offset,
                    len: len / 2,
                    seed: *seed,
                });
            }
        }
        Op::Read { slot, offset, len } => {
            out.push(Op::Read {
                slot: *slot,
                offset: 0,
                len: *len,
            });
            if *len > 1 {
                out.push(Op::Read {
                    slot: *slot,
                    offset: *offset,
                    len: len / 2,
                });
            }
        }
        Op::AllocPage { node, .. } => out.push(Op::AllocPage {
            gfp: GFP_KERNEL,
            node: *node,
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::VmallocApi;

    /// The predicate "some op is vmalloc of at least 3 pages" shrinks a long input to that one
    /// op with size exactly... the smallest candidate the shrinker can reach that still holds.
    #[test]
    fn shrinks_to_the_failing_op() {
        let mut ops = Vec::new();
        for i in 0..40u64 {
            ops.push(Op::Vmalloc {
                api: VmallocApi::Vzalloc,
                size: (i + 1) * PAGE_SIZE,
            });
            ops.push(Op::Vfree {
                addr: Addr::Area {
                    slot: i as u32,
                    offset: 0x1000,
                },
            });
        }
        let input = Input {
            machine: Machine::default(),
            ops,
        };
        let pred = |i: &Input| {
            i.ops
                .iter()
                .any(|o| matches!(o, Op::Vmalloc { size, .. } if *size >= 3 * PAGE_SIZE))
        };
        let (min, stats) = minimize(&input, pred, 10_000);
        assert_eq!(stats.ops_before, 80);
        assert_eq!(min.ops.len(), 1);
        // Sizes shrink by halving and page steps while >= 3 pages holds: the fixpoint is 3 pages
        // (4 pages -> 2 fails, -> 3 holds; 3 -> 1 page, 1.5 pages, 2 pages all fail).
        assert_eq!(
            min.ops[0],
            Op::Vmalloc {
                api: VmallocApi::Vmalloc,
                size: 3 * PAGE_SIZE
            }
        );
    }

    #[test]
    fn respects_the_budget() {
        let input = Input {
            machine: Machine::default(),
            ops: vec![Op::Vmallocinfo; 50],
        };
        let (_, stats) = minimize(&input, |_| true, 5);
        assert_eq!(stats.tries, 5);
        assert_eq!(stats.stopped, Stopped::Budget);
    }

    /// An interrupt stops at once and keeps the best so far; the progress hook sees every run.
    #[test]
    fn stops_when_asked_and_reports_progress() {
        let input = Input {
            machine: Machine::default(),
            ops: vec![Op::Vmallocinfo; 50],
        };
        let runs = std::cell::Cell::new(0);
        let mut seen = Vec::new();
        let (best, stats) = minimize_with(
            &input,
            |_| {
                runs.set(runs.get() + 1);
                true
            },
            Limits {
                budget: 1000,
                time: None,
                stop: &|| runs.get() >= 3,
                progress: &mut |p| seen.push((p.runs, p.ops)),
            },
        );
        assert_eq!(stats.stopped, Stopped::Interrupted);
        assert_eq!(stats.tries, 3);
        // The first chunk deletion (half of 50 ops) held, then the next half, then ...
        assert_eq!(seen, vec![(1, 25), (2, 0), (3, 0)]);
        assert_eq!(best.ops.len(), 0);
    }
}

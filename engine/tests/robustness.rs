//! No input makes the engine panic, and the invariants of semantics §12 hold after every op of long
//! pseudo-random traces (a fixed-seed LCG: deterministic). The invariants are checked from the
//! engine's views only: I1 (disjoint busy VAs), I2 (inside the request, aligned), I3/I4 (live
//! pages mapped to their PFNs, guard and lazy pages unmapped), I5 (page conservation), I6
//! (`lazy_nr` = sum of lazy sizes, at most `lazy_max_pages` after each op), I8 (tables only
//! grow).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

mod common;
use common::*;
use std::collections::BTreeSet;
use vmalloc_engine::{
    AreaState, Context, FaultKind, FaultPlan, Gfp, Kernel, MachineConfig, NodeSpan, Pfn, Prot,
    VmFlags,
};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn machine(r: &mut Lcg) -> MachineConfig {
    let mut c = MachineConfig {
        nr_cpus: r.pick(&[1, 2, 4]),
        ..MachineConfig::default()
    };
    let pool = r.pick(&[8u64, 64, 700, 3000]);
    c.nodes = if r.below(2) == 0 {
        vec![NodeSpan {
            start_pfn: 0,
            end_pfn: 256 + pool,
        }]
    } else {
        vec![
            NodeSpan {
                start_pfn: 0,
                end_pfn: 256 + pool / 2,
            },
            NodeSpan {
                start_pfn: (1 << 20) - 8,
                end_pfn: (1 << 20) + pool / 2,
            },
        ]
    };
    if r.below(3) == 0 {
        let mut plan = FaultPlan::new();
        for _ in 0..3 {
            plan.push(r.pick(&FaultKind::ALL), 1 + r.below(20));
        }
        c.fault_plan = plan;
    }
    if r.below(4) == 0 {
        c.default_kernel_pte_mask = 0xffff_ffff_ffff_feff;
    }
    c
}

fn check(k: &Kernel, tables_before: usize) {
    let lazy_max = k.lazy_max_pages();
    let mut prev_end = 0u64;
    let mut lazy_sum = 0;
    let mut owned = BTreeSet::new();
    for a in k.busy_areas() {
        let (s, e) = (a.start.as_u64(), a.end.as_u64());
        assert!(s < e && s >= prev_end, "I1: {s:#x} overlaps");
        prev_end = e;
        let req = a.request;
        assert!(
            s >= req.vstart && e <= req.vend && s % req.align == 0 && (e - s) % P == 0,
            "I2"
        );
        match a.state {
            AreaState::Lazy => {
                lazy_sum += (e - s) / P;
                assert_eq!(k.vmalloc_to_page(s), None, "I4 lazy");
            }
            AreaState::Live(info) => {
                assert_eq!(info.nr_pages as usize, a.pages.len());
                let n = a.pages.len();
                for (i, p) in a.pages.iter().enumerate() {
                    // Walk a sample of pages (the first ones and the last): debug builds are slow.
                    if i < 4 || i + 1 == n {
                        assert_eq!(k.vmalloc_to_page(s + i as u64 * P), Some(*p), "I3");
                    }
                    assert!(owned.insert(p.as_u64()), "I5: page owned twice");
                }
                if !info.flags.contains(VmFlags::NO_GUARD) {
                    assert_eq!(k.vmalloc_to_page(e - P), None, "I4 guard");
                }
            }
        }
    }
    assert_eq!(k.lazy_nr(), lazy_sum, "I6");
    assert!(k.lazy_nr() <= lazy_max, "I6 threshold");
    let tables: BTreeSet<u64> = k.table_frames().iter().map(|p| p.as_u64()).collect();
    assert!(k.table_frames().len() >= tables_before, "I8");
    let callers: BTreeSet<u64> = k.caller_pages().map(|p| p.as_u64()).collect();
    let allocated: BTreeSet<u64> = k.phys().allocated_frames().map(|p| p.as_u64()).collect();
    for set in [&owned, &tables, &callers] {
        assert!(set.is_subset(&allocated), "I5: claimed frame not allocated");
    }
    assert!(
        owned.is_disjoint(&tables) && owned.is_disjoint(&callers) && tables.is_disjoint(&callers)
    );
    let c = k.counters();
    assert_eq!(c.allocated_pages, allocated.len() as u64);
    // The raw count (from the free frames) agrees with the counters and the frame list.
    assert_eq!(k.phys().allocated_count(), allocated.len() as u64);
    // The engine's own structure checks hold on every reachable state.
    assert_eq!(k.check_structures(), Ok(()));
    assert_eq!(
        c.unclaimed_pages,
        (allocated.len() - owned.len() - tables.len() - callers.len()) as u64
    );
}

/// One random op; returns false when the machine died (BUG / WouldHang end the input).
fn step(k: &mut Kernel, r: &mut Lcg, live: &mut Vec<u64>, pages: &mut Vec<Pfn>) -> bool {
    // Fatal-prone parameters (BUG, WouldHang) are rare, as a generator keeps them last.
    let bad = r.below(40) == 0;
    let size = match r.below(6) {
        0 => r.below(3),
        1 => r.below(5 * P),
        2 => r.below(600) * P,
        3 if bad => u64::MAX - r.below(10_000),
        _ => 1 + r.below(3 * P),
    };
    let align = match r.below(8) {
        0 if bad => 0,
        1 if bad => 3 + r.below(100),
        2 => 1 << r.below(64),
        _ => 1 << (12 + r.below(5)),
    };
    let gfp = Gfp::from_bits_retain(r.pick(&[
        Gfp::KERNEL.bits(),
        (Gfp::KERNEL | Gfp::ZERO).bits(),
        (Gfp::KERNEL | Gfp::NOWARN).bits(),
        Gfp::VMALLOC32.bits(),
        (Gfp::KERNEL | Gfp::THISNODE).bits(),
        if bad {
            (Gfp::KERNEL | Gfp::NOFAIL).bits()
        } else {
            Gfp::KERNEL.bits()
        },
    ]));
    let node = match r.below(5) {
        0 => None,
        1 if bad => Some(5),
        _ => Some(r.below(k.config().nodes.len() as u64) as u32),
    };
    let (addr, known) = match (r.below(4), live.is_empty()) {
        (0, _) | (_, true) => (r.next() << 12 | r.below(2), false),
        (1, false) => (
            live[r.below(live.len() as u64) as usize] + r.below(3) * P,
            false,
        ),
        _ => (live.swap_remove(r.below(live.len() as u64) as usize), true),
    };
    // Deferred frees only of a live area's start (design §3.11), unless this op is a bad one.
    let deferrable = bad
        || (known
            && k.find_vm_area(addr)
                .is_some_and(|i| i.addr.as_u64() == addr));
    let ctx = if r.below(8) == 0 && deferrable {
        Context::Interrupt
    } else {
        Context::Process
    };
    let vunmap_ctx = if bad { ctx } else { Context::Process };
    let prot = r.pick(&Prot::ALL);
    let caller = r.below(100) as u32;
    let window = r.below(4);
    let (vs, ve) = match window {
        0 => (V + r.below(64) * P, V + r.below(128) * P),
        1 => (0xffff_ffff_ffff_0000, u64::MAX),
        _ => (V, VEND),
    };
    let res = match r.below(17) {
        0..=3 => k
            .vmalloc(size % (700 * P), caller)
            .map(|a| a.map(|a| a.as_u64())),
        4 => k
            .vmalloc_node_range(
                size,
                align,
                vs,
                ve,
                gfp,
                prot,
                VmFlags::from_bits_retain(r.below(0x80)),
                node,
                caller,
            )
            .map(|a| a.map(|a| a.as_u64())),
        5 => k.vmalloc_user(size, caller).map(|a| a.map(|a| a.as_u64())),
        6 => k
            .module_alloc(size % (20 * P), caller)
            .map(|a| a.map(|a| a.as_u64())),
        7 => k
            .__get_vm_area(
                size % (1 << 40),
                VmFlags::from_bits_retain(r.below(0x80)),
                vs,
                ve,
                caller,
            )
            .map(|i| i.map(|i| i.addr.as_u64())),
        8..=10 => k.vfree(addr, ctx).map(|()| None),
        11 => k.vunmap(addr, vunmap_ctx).map(|()| None),
        12 if bad
            || k.find_vm_area(addr)
                .is_some_and(|i| i.addr.as_u64() == addr) =>
        {
            k.free_vm_area(addr).map(|()| None)
        }
        12 => Ok(None),
        13 => match k.alloc_page(gfp, node) {
            Ok(Some(p)) => {
                pages.push(p);
                Ok(None)
            }
            Ok(None) => Ok(None),
            Err(f) => Err(f),
        },
        14 => {
            let n = r.below(4) as usize;
            let chosen: Vec<Pfn> = pages.iter().take(n).copied().collect();
            k.vmap(&chosen, VmFlags::MAP, prot, caller)
                .map(|a| a.map(|a| a.as_u64()))
        }
        15 => {
            k.vm_unmap_aliases();
            let _ = k.write(addr, &[1, 2, 3]);
            let _ = k.read(addr, 9);
            let _ = k.vmallocinfo();
            k.run_deferred().map(|()| None)
        }
        _ => match pages.pop() {
            // Only a page no live vmap maps may be freed (design §3.15): pages are never vmapped
            // twice here, so free only when nothing is vmapped at all.
            Some(p)
                if !k.busy_areas().any(
                    |b| matches!(b.state, AreaState::Live(i) if i.flags.contains(VmFlags::MAP)),
                ) =>
            {
                k.free_page(p).map(|()| None)
            }
            Some(p) => {
                pages.push(p);
                Ok(None)
            }
            None => Ok(None),
        },
    };
    let _ = k.take_events();
    match res {
        Ok(Some(a)) => {
            live.push(a);
            true
        }
        Ok(None) => true,
        Err(_) => false,
    }
}

#[test]
fn random_traces_never_panic_and_keep_the_invariants() {
    let mut r = Lcg(0x5eed);
    let (mut dead, mut busy_max, mut lazy_seen) = (0, 0, false);
    for _ in 0..120 {
        let mut k = Kernel::new(machine(&mut r)).unwrap();
        let (mut live, mut pages) = (Vec::new(), Vec::new());
        for op in 0..300 {
            let tables = k.table_frames().len();
            let alive = step(&mut k, &mut r, &mut live, &mut pages);
            if !alive {
                dead += 1;
                break;
            }
            // The full check is costly in debug builds: every 3rd op (and I6 every op).
            if op % 3 == 0 {
                check(&k, tables);
            }
            let lazy: u64 = k
                .busy_areas()
                .filter(|a| matches!(a.state, AreaState::Lazy))
                .map(|a| (a.end.as_u64() - a.start.as_u64()) / P)
                .sum();
            assert_eq!(lazy, k.lazy_nr(), "I6");
            busy_max = busy_max.max(k.busy_areas().count());
            lazy_seen |= k.lazy_nr() > 0;
        }
        let _ = k.ptdump();
    }
    // The traces reach interesting states: many areas, lazy VAs, and some fatal endings.
    assert!(busy_max >= 20 && lazy_seen && dead > 0 && dead < 120);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn random_traces_with_planted_bugs_never_panic() {
    let mut r = Lcg(0xb065);
    for bug in vmalloc_engine::PlantedBug::ALL {
        for _ in 0..10 {
            let mut k = Kernel::new(machine(&mut r)).unwrap();
            k.set_planted_bug(Some(bug)).unwrap();
            let (mut live, mut pages) = (Vec::new(), Vec::new());
            for _ in 0..150 {
                if !step(&mut k, &mut r, &mut live, &mut pages) {
                    break;
                }
                let _ = k.counters();
                let _ = k.vmallocinfo();
            }
            let _ = k.ptdump();
        }
    }
}

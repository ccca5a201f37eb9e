//! No knob setting makes the engine panic, and the placement invariants hold after every op of
//! pseudo-random traces under random knobs (a fixed-seed LCG: deterministic): I1 (disjoint
//! busy VAs), I2 (inside the request, aligned, page-multiple), I4 (lazy VAs unmapped), I6
//! (`lazy_nr` = the lazy VAs' pages). Traces favour small windows, large alignments and ranges
//! near 2^64, where the 4.x search, its cache and the wrapped `ALIGN` matter.

mod common;
use common::*;
use vmalloc_engine::{
    AlignWrapCheck, AreaState, BugKind, Context, Faithful4xCache, Fatal, Gfp, ImplicitHighmem,
    IoremapAlignRule, Kernel, Knobs, MachineConfig, Prot, VmFlags, VmapNowarnHonoured,
    VunmapLookup,
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

fn knobs(r: &mut Lcg) -> Knobs {
    Knobs {
        faithful_4x_cache: r.pick(Faithful4xCache::ALL),
        align_wrap_check: r.pick(AlignWrapCheck::ALL),
        vunmap_lookup: r.pick(VunmapLookup::ALL),
        ioremap_align_rule: r.pick(IoremapAlignRule::ALL),
        implicit_highmem: r.pick(ImplicitHighmem::ALL),
        vmap_nowarn_honoured: r.pick(VmapNowarnHonoured::ALL),
    }
}

fn check(k: &Kernel) {
    let mut prev_end = 0u64;
    let mut lazy_sum = 0;
    for a in k.busy_areas() {
        let (s, e) = (a.start.as_u64(), a.end.as_u64());
        assert!(s < e && s >= prev_end, "I1: {s:#x} overlaps");
        prev_end = e;
        let q = a.request;
        assert!(
            s >= q.vstart && e <= q.vend && s % q.align == 0 && (e - s) % P == 0,
            "I2: {s:#x}..{e:#x} for {q:?}"
        );
        if a.state == AreaState::Lazy {
            lazy_sum += (e - s) / P;
            assert_eq!(k.vmalloc_to_page(s), None, "I4 lazy");
        }
    }
    assert_eq!(k.lazy_nr(), lazy_sum, "I6");
}

/// One random op; `Err` when the machine died.
fn step(k: &mut Kernel, r: &mut Lcg, live: &mut Vec<u64>) -> Result<(), Fatal> {
    let top = 0u64.wrapping_sub(64 * P);
    // Windows: small sub-windows of the vmalloc window, the whole window, the modules window,
    // and a range ending at ULONG_MAX near 2^64 (get_vm_area only: nothing mapped there).
    let (start, end) = r.pick(&[
        (V, V + 16 * P),
        (V + 8 * P, V + 40 * P),
        (V, VEND),
        (MODULES, MODULES_END),
    ]);
    let align = match r.below(10) {
        0..=3 => 1,
        4..=6 => 1 << (12 + r.below(4)),
        7 | 8 => 1 << (12 + r.below(34)),
        _ => 1 << (40 + r.below(24)),
    };
    let size = (1 + r.below(6)) * P - r.below(2) * 100;
    match r.below(24) {
        0..=8 => {
            let gfp = r.pick(&[
                Gfp::KERNEL,
                Gfp::KERNEL | Gfp::NOWARN,
                Gfp::KERNEL | Gfp::ZERO,
            ]);
            let flags = r.pick(&[VmFlags::empty(), VmFlags::NO_GUARD, VmFlags::IOREMAP]);
            let a =
                k.vmalloc_node_range(size, align, start, end, gfp, Prot::Kernel, flags, None, 1)?;
            live.extend(a.map(|a| a.as_u64()));
        }
        9 | 10 => {
            live.extend(k.vmalloc(size, 2)?.map(|a| a.as_u64()));
        }
        11 => {
            live.extend(k.vmalloc_32(size, 3)?.map(|a| a.as_u64()));
        }
        12 | 13 => {
            let flags = r.pick(&[VmFlags::NO_GUARD, VmFlags::IOREMAP, VmFlags::empty()]);
            let (s, e) = if r.below(2) == 0 {
                (top, u64::MAX)
            } else {
                (start, end)
            };
            let big = if r.below(8) == 0 { 1 << 32 } else { size };
            let a = k.__get_vm_area(big, flags, s, e, 4)?;
            live.extend(a.map(|v| v.addr.as_u64()));
        }
        14..=20 if !live.is_empty() => {
            let i = r.below(live.len() as u64) as usize;
            let a = live.swap_remove(i);
            match r.below(3) {
                0 => k.vunmap(a, Context::Process)?,
                1 => k.vfree(a + P * r.below(2), Context::Process)?,
                _ => k.vfree(a, Context::Process)?,
            }
        }
        21 => {
            // A wild or stale pointer: aligned or not.
            let a = r.pick(&[V, V + 3 * P, V + 1, MODULES + 2 * P]);
            k.vfree(a, Context::Process)?;
        }
        _ => k.vm_unmap_aliases(),
    }
    Ok(())
}

#[test]
fn random_traces_under_random_knobs() {
    let mut r = Lcg(0x6b6e_6f62);
    let mut ends = std::collections::BTreeMap::new();
    let (mut ops, mut faithful_ops, mut busy_max) = (0, 0, 0);
    for _ in 0..200 {
        let knobs = knobs(&mut r);
        let mut k = Kernel::new(MachineConfig {
            knobs,
            ..MachineConfig::default()
        })
        .unwrap();
        let mut live = Vec::new();
        let mut end = None;
        for _ in 0..200 {
            if let Err(f) = step(&mut k, &mut r, &mut live) {
                end = Some(f);
                break;
            }
            check(&k);
            // The structure checks hold under every knob (the 4.x search keeps the gap tree
            // through `reserve`, the purge releases one area at a time).
            assert_eq!(k.check_structures(), Ok(()));
            ops += 1;
            if knobs.faithful_4x_cache == Faithful4xCache::On {
                faithful_ops += 1;
                busy_max = busy_max.max(k.busy_areas().count());
            }
        }
        let _ = k.vmallocinfo();
        let _ = k.counters();
        if let Some(f) = end {
            // Only BUGs the knobs (or the harness-excluded inputs above) can cause.
            let expected = match f {
                Fatal::Bug(BugKind::VaStartBelowVstart) => {
                    knobs.align_wrap_check == AlignWrapCheck::Off
                }
                Fatal::Bug(BugKind::InvalidZone) => {
                    knobs.implicit_highmem == ImplicitHighmem::Unconditional
                }
                Fatal::Bug(BugKind::Oops) => knobs.vunmap_lookup == VunmapLookup::FindVmapAreaDeref,
                _ => false,
            };
            assert!(expected, "{f:?} under {knobs:?}");
            *ends.entry(format!("{f:?}")).or_insert(0) += 1;
        }
    }
    // Every knob BUG is reached by some trace, and the faithful search ran on long traces.
    assert_eq!(ends.len(), 3, "{ends:?}");
    assert!(ops > 10_000 && faithful_ops > 5_000 && busy_max >= 30);
}

#[cfg(feature = "planted-bugs")]
#[test]
fn random_traces_with_planted_bugs_under_random_knobs_never_panic() {
    let mut r = Lcg(0x706c_616e);
    for bug in vmalloc_engine::PlantedBug::ALL {
        for _ in 0..8 {
            let mut k = Kernel::new(MachineConfig {
                knobs: knobs(&mut r),
                ..MachineConfig::default()
            })
            .unwrap();
            k.set_planted_bug(Some(bug)).unwrap();
            let mut live = Vec::new();
            for _ in 0..120 {
                if step(&mut k, &mut r, &mut live).is_err() {
                    break;
                }
                let _ = k.counters();
            }
            let _ = k.vmallocinfo();
        }
    }
}

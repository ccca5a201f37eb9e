//! The invariant checker: it must catch each broken invariant (I1, I2, I3, I4, I5, I6, I8,
//! I9), and it must hold after every op of long deterministic op sequences (which also
//! check I7 in the default mode).
//!
//! `semantics §N` and `design §N` cite sections of `docs/semantics.md` and `docs/design.md`.

use super::*;
use crate::areas::{r3_lowest_fit, Area, AreaKind};
use crate::ptes::TableLevel;
use crate::views::Request;
use crate::{AreaState, Context, Fatal, Gfp, Prot, VmFlags};

fn lazy_area(start: u64, end: u64) -> Area {
    Area {
        start,
        end,
        request: Request {
            vstart: START,
            vend: END,
            align: 1,
        },
        kind: AreaKind::LazyPending,
    }
}

fn violated(m: &Model) -> &'static str {
    m.check_invariants()
        .expect_err("the checker should object")
        .invariant
}

#[test]
fn i1_catches_overlap() {
    let mut m = model();
    m.vmalloc(P, 1).unwrap();
    // A lazy VA overlapping the live one (also counted in lazy_nr so that only I1 breaks).
    m.busy.insert(lazy_area(START + P, START + 3 * P));
    m.lazy.insert(0, START + P);
    m.lazy_nr += 2;
    assert_eq!(violated(&m), "I1");
}

#[test]
fn i2_catches_a_va_outside_its_request() {
    let mut m = model();
    let mut area = lazy_area(START, START + 2 * P);
    area.request.vstart = START + P;
    m.busy.insert(area);
    m.lazy.push(START);
    m.lazy_nr = 2;
    assert_eq!(violated(&m), "I2");
    // Misaligned for its request.
    let mut m = model();
    let mut area = lazy_area(START + P, START + 3 * P);
    area.request.align = 0x4000;
    m.busy.insert(area);
    m.lazy.push(START + P);
    m.lazy_nr = 2;
    assert_eq!(violated(&m), "I2");
}

#[test]
fn i3_and_i4_catch_stray_ptes() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    // A PTE in the guard page: no live mapping claims it (I3), and guards must be 0 (I4).
    m.tables.set_pte(a + P, (0x100 << 12) | PK);
    assert_eq!(violated(&m), "I3");
    assert!(m.check_i4_unmapped().is_err());
    // A wrong flag on a live PTE.
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    m.tables.set_pte(a, (0x100 << 12) | PKX);
    assert_eq!(violated(&m), "I3");
}

#[test]
fn i5_catches_leaks_and_double_ownership() {
    let mut m = model();
    m.vmalloc(P, 1).unwrap();
    // A frame allocated but owned by nobody: a leak.
    m.pool.take(0x200, false);
    assert_eq!(violated(&m), "I5");
    // A data page also claimed by the caller.
    let mut m = model();
    m.vmalloc(P, 1).unwrap();
    m.caller_pages.insert(0x100);
    assert_eq!(violated(&m), "I5");
}

#[test]
fn i6_catches_a_wrong_lazy_count() {
    let mut m = model();
    let a = m.vmalloc(P, 1).unwrap().unwrap();
    m.vfree(a, Context::Process).unwrap();
    check(&m);
    m.lazy_nr = 1;
    assert_eq!(violated(&m), "I6");
}

#[test]
fn i8_catches_orphan_tables_and_module_window_pmds() {
    let mut m = model();
    // A PTE table whose PMD table does not exist.
    m.pool.take(0x100, true);
    m.tables.add_table(TableLevel::Pte, START, 0x100, 0);
    assert_eq!(violated(&m), "I8");
    // A PMD table in the modules window (only PTE tables may be made there, semantics §12.1).
    let mut m = model();
    m.pool.take(0x100, true);
    m.tables.add_table(TableLevel::Pmd, MODULES, 0x100, 0);
    assert_eq!(violated(&m), "I8");
}

#[test]
fn i9_entries_are_phys_0x67_c() {
    // An SME machine: entries carry the C-bit.
    let mut m = model_with(|c| c.sme_c_bit = 1 << 47);
    m.vmalloc(P, 1).unwrap();
    check(&m);
    assert_eq!(
        m.table_entries()[&(TableLevel::Pte, START)],
        (0x103 << 12) | 0x67 | (1 << 47)
    );
    // A table entry written without the C-bit breaks I9.
    m.pool.take(0x200, true);
    m.tables
        .add_table(TableLevel::Pte, START + 0x20_0000, 0x200, 0);
    assert_eq!(violated(&m), "I9");
}

/// SplitMix64: a tiny deterministic generator (no ambient randomness).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len() as u64) as usize])
    }
}

/// One random op. Returns `Err` when the machine is dead.
fn random_op(m: &mut Model, rng: &mut Rng, check_i7: bool) -> Result<(), Fatal> {
    let areas = m.busy_areas();
    let live: Vec<u64> = areas
        .iter()
        .filter(|a| matches!(a.state, AreaState::Live { .. }))
        .map(|a| a.start)
        .collect();
    let any_va: Vec<u64> = areas
        .iter()
        .map(|a| a.start + rng.below((a.end - a.start) / P) * P)
        .collect();
    let size = if rng.below(10) == 0 {
        (513 + rng.below(60)) * P
    } else {
        1 + rng.below(12 * P)
    };
    match rng.below(16) {
        0..=3 => {
            let _ = match rng.below(6) {
                0 => m.vmalloc(size, 1)?,
                1 => m.vzalloc(size, 2)?,
                2 => m.vmalloc_user(size, 3)?,
                3 => m.vmalloc_32(size, 4)?,
                4 => m.module_alloc(size, 5)?,
                _ => m.__vmalloc(size, Gfp::KERNEL | Gfp::NOWARN, Prot::KernelRo, 6)?,
            };
        }
        4 => {
            // A sub-window of a few pages with a random power-of-two alignment.
            let base = START + rng.below(64) * 0x4000;
            let end = base + (1 + rng.below(24)) * P;
            let align = 1u64 << rng.below(16);
            let pages = 1 + rng.below(3);
            let got = m.vmalloc_node_range(
                pages * P,
                align,
                base,
                end,
                Gfp::KERNEL,
                Prot::Kernel,
                VmFlags::NONE,
                None,
                7,
            )?;
            if check_i7 && got.is_none() {
                // I7 (default mode, no faults, ample pool): failure means no fit remains
                // after the purge; the failed call changed nothing else.
                assert_eq!(
                    r3_lowest_fit(&m.busy, (pages + 1) * P, align, base, end),
                    None
                );
            }
        }
        5..=7 => {
            // Only the start of a mapped live area is ever deferred (design §3.11).
            let mapped: Vec<u64> = live
                .iter()
                .copied()
                .filter(|&a| m.vmalloc_to_page(a).is_some())
                .collect();
            let (addr, ctx) = match rng.below(5) {
                0 => (rng.pick(&mapped).unwrap_or(0), Context::Interrupt),
                1 | 2 => (rng.pick(&live).unwrap_or(0), Context::Process),
                3 => (
                    rng.pick(&any_va).unwrap_or(0) + rng.below(2),
                    Context::Process,
                ),
                _ => (START + rng.below(256) * P, Context::Process),
            };
            m.vfree(addr, ctx)?;
        }
        8 => {
            if let Some(addr) = rng.pick(&any_va) {
                m.vunmap(addr, Context::Process)?;
            }
        }
        9 => {
            if let Some(addr) = rng.pick(&live) {
                m.free_vm_area(addr)?;
            }
        }
        10 => {
            let mut pfns = Vec::new();
            for _ in 0..1 + rng.below(3) {
                if let Some(p) = m.alloc_page(Gfp::KERNEL, None)? {
                    pfns.push(p);
                }
            }
            m.vmap(&pfns, VmFlags::MAP, Prot::Kernel, 8)?;
        }
        11 => {
            let mapped = m.busy_areas().iter().any(|a| {
                matches!(&a.state, AreaState::Live { info, .. } if info.flags.has(VmFlags::MAP))
            });
            let owned: Vec<u64> = m.caller_pages().into_iter().collect();
            // Never free a caller page a live vmap may still map (design §3.15).
            if !mapped {
                if let Some(p) = rng.pick(&owned) {
                    m.free_page(p)?;
                }
            }
        }
        12 => m.run_deferred()?,
        13 => m.vm_unmap_aliases(),
        14 => {
            let flags = if rng.below(2) == 0 {
                VmFlags::IOREMAP
            } else {
                VmFlags::NONE
            };
            m.get_vm_area(size, flags, 9)?;
        }
        _ => {
            if let Some(addr) = rng.pick(&live) {
                if m.write(addr, &rng.next().to_le_bytes()).is_ok() {
                    m.read(addr, 8).unwrap();
                }
            }
        }
    }
    Ok(())
}

fn run(mut m: Model, seed: u64, ops: usize, check_i7: bool) {
    let mut rng = Rng(seed);
    for i in 0..ops {
        match random_op(&mut m, &mut rng, check_i7) {
            Ok(()) => {}
            Err(Fatal::ModelInvariant { rule, detail }) => panic!("op {i}: {rule}: {detail}"),
            // A BUG or WouldHang ends the input (design §3.3).
            Err(_) => return,
        }
        if let Err(v) = m.check_invariants() {
            panic!("seed {seed} op {i}: {v}");
        }
        m.take_events();
    }
}

#[test]
fn invariants_hold_on_random_sequences_default_machine() {
    for seed in 0..6 {
        run(model_with(|c| c.nr_cpus = 1), seed, 300, true);
    }
}

#[test]
fn invariants_hold_under_faults_and_exhaustion() {
    for seed in 0..12 {
        let mut rng = Rng(seed ^ 0xabcdef);
        let m = model_with(|c| {
            // A small pool (about 300 pages) and a sprinkling of injected faults.
            c.nodes = one_node(0x100 + 200 + rng.below(200));
            c.nr_cpus = 1;
            for kind in FaultKind::ALL {
                for _ in 0..3 {
                    c.fault_plan.add(kind, 1 + rng.below(40));
                }
            }
        });
        run(m, seed, 250, false);
    }
}

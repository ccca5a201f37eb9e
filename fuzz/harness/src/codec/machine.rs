//! The header: machine selector, machine fields and the fault plan.

use super::io::{Reader, Writer};
use crate::ops::{
    Fault, FaultKind, Knobs, Machine, NodeSpan, Paging, PteScenario, MAX_FAULT_INDEX,
    MAX_TOTALRAM_PAGES, MODULES_END, MODULES_VADDR, PAGE_SIZE, VMALLOC_END_L4, VMALLOC_END_L5,
    VMALLOC_START_L4, VMALLOC_START_L5,
};

/// Selector values `0..SEL_DEFAULT` pick a small fuzz machine.
const SEL_DEFAULT: u8 = 248;
/// The selector value that reads every machine field raw (the encoder's escape).
const SEL_RAW: u8 = 255;

/// `MODULES_VADDR` under KASLR.
pub(super) const MODULES_VADDR_KASLR: u64 = 0xffff_ffff_c000_0000;
/// Node sizes of the small machines, in pages (plus a 0..=31 page jitter).
const NODE_PAGES: [u64; 8] = [64, 128, 256, 512, 1024, 2048, 4096, 16384];
/// CPU counts of the small machines; index 7 reads a raw count.
const CPUS: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];
/// PTE scenarios of the small machines: A half the time.
const PTES: [PteScenario; 8] = [
    PteScenario::A,
    PteScenario::A,
    PteScenario::A,
    PteScenario::A,
    PteScenario::B,
    PteScenario::C,
    PteScenario::D,
    PteScenario::E,
];
/// Lengths of a small vmalloc window, in pages.
const WINDOW_PAGES: [u64; 5] = [16, 64, 256, 1024, 16384];
/// Highest PFN end a node may have (`Machine::validate`).
const PFN_LIMIT: u64 = 1 << 28;
/// First PFN of ZONE_NORMAL.
const PFN_4G: u64 = 0x10_0000;

/// The full vmalloc window of a paging mode.
pub(super) fn full_window(paging: Paging) -> (u64, u64) {
    match paging {
        Paging::FourLevel => (VMALLOC_START_L4, VMALLOC_END_L4),
        Paging::FiveLevel => (VMALLOC_START_L5, VMALLOC_END_L5),
    }
}

/// Decode the machine, its version knobs and its fault plan.
pub(super) fn decode(r: &mut Reader) -> Machine {
    let sel = r.u8();
    let mut m = if sel < SEL_DEFAULT {
        small(r)
    } else if sel < SEL_RAW {
        Machine::default()
    } else {
        raw(r)
    };
    m.knobs = knobs(r);
    m.faults = faults(r);
    m
}

/// Knob selector values: `0..KNOBS_PRESET` the defaults (4.19.y), `KNOBS_PRESET..KNOBS_ONE`
/// the preset v4.19.0, `KNOBS_ONE..KNOBS_RAW` one knob off its default (each of the nine
/// non-default values alike), `KNOBS_RAW..` every knob's value index read raw.
const KNOBS_PRESET: u8 = 192;
const KNOBS_ONE: u8 = 216;
const KNOBS_RAW: u8 = 252;

/// Every `(knob, value)` off the default, in table order: what `KNOBS_ONE..` selects.
fn single_knobs() -> Vec<(usize, u8)> {
    crate::ops::KNOBS
        .iter()
        .enumerate()
        .flat_map(|(i, k)| (1..k.values.len() as u8).map(move |v| (i, v)))
        .collect()
}

fn knobs(r: &mut Reader) -> Knobs {
    let sel = r.u8();
    if sel < KNOBS_PRESET {
        Knobs::default()
    } else if sel < KNOBS_ONE {
        Knobs::V4_19_0
    } else if sel < KNOBS_RAW {
        let singles = single_knobs();
        let (i, v) = singles[usize::from(sel - KNOBS_ONE) % singles.len()];
        let mut ix = [0u8; 6];
        ix[i] = v;
        Knobs::from_indices(ix)
    } else {
        let mut ix = [0u8; 6];
        for v in &mut ix {
            *v = r.u8();
        }
        Knobs::from_indices(ix)
    }
}

fn put_knobs(w: &mut Writer, k: Knobs) {
    let ix = k.indices();
    let off: Vec<(usize, u8)> = ix
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v != 0)
        .map(|(i, &v)| (i, v))
        .collect();
    if off.is_empty() {
        w.u8(0);
    } else if k == Knobs::V4_19_0 {
        w.u8(KNOBS_PRESET);
    } else if let (1, Some(p)) = (
        off.len(),
        single_knobs().iter().position(|&x| Some(&x) == off.first()),
    ) {
        w.u8(KNOBS_ONE + p as u8);
    } else {
        w.u8(KNOBS_RAW);
        for v in ix {
            w.u8(v);
        }
    }
}

/// Encode a machine: the default selector if it is the default machine, else the raw escape.
pub(super) fn encode(w: &mut Writer, m: &Machine) {
    let without_faults = Machine {
        faults: Vec::new(),
        knobs: Knobs::default(),
        ..m.clone()
    };
    if without_faults == Machine::default() {
        w.u8(SEL_DEFAULT);
    } else {
        w.u8(SEL_RAW);
        w.u8(u8::from(m.paging == Paging::FiveLevel));
        w.u8(m.nr_cpus.min(255) as u8);
        w.u8(PteScenario::ALL
            .iter()
            .position(|&p| p == m.pte)
            .unwrap_or(0) as u8);
        w.u8(m.nodes.len().min(255) as u8);
        for n in &m.nodes {
            w.u64(n.start_pfn);
            w.u64(n.end_pfn);
        }
        w.u64(m.vmalloc_start);
        w.u64(m.vmalloc_end);
        w.u8(u8::from(m.modules_vaddr == MODULES_VADDR_KASLR));
        w.u16((m.module_load_offset / PAGE_SIZE).min(u16::MAX as u64) as u16);
    }
    put_knobs(w, m.knobs);
    if m.faults.is_empty() {
        w.u8(0);
    } else {
        w.u8(FAULTS_RAW);
        w.u8(m.faults.len().min(255) as u8);
        for f in &m.faults {
            w.u8(f.kind.index() as u8);
            w.u32(f.k.min(u32::MAX as u64) as u32);
        }
    }
}

/// A small machine: small totalram and often a small window, so that exhaustion, purges and
/// retries are common.
fn small(r: &mut Reader) -> Machine {
    let shape = r.u8();
    let nr_nodes = 1 + usize::from(shape & 3);
    let placement = (shape >> 2) & 7;
    let mut nodes = Vec::with_capacity(nr_nodes);
    let mut prev_end = 0;
    for i in 0..nr_nodes {
        let s = r.u8();
        let pages = NODE_PAGES[usize::from(s & 7)] + u64::from(s >> 3);
        let start = if i == 0 {
            0
        } else if i + 1 == nr_nodes && placement == 0 {
            // The last node entirely in ZONE_NORMAL.
            prev_end.max(PFN_4G)
        } else if i + 1 == nr_nodes && placement == 1 {
            // The last node straddling the 4 GiB line: both zones in one node.
            prev_end.max(PFN_4G - pages / 2)
        } else {
            prev_end
        };
        let end = if i == 0 { 256 + pages } else { start + pages };
        nodes.push(NodeSpan {
            start_pfn: start,
            end_pfn: end,
        });
        prev_end = end;
    }
    let c = r.u8();
    let nr_cpus = match CPUS.get(usize::from(c & 7)) {
        Some(&n) => n,
        None => 1 + u32::from(r.u8() % 64),
    };
    let mode = r.u8();
    let paging = if mode & 7 == 0 {
        Paging::FiveLevel
    } else {
        Paging::FourLevel
    };
    let pte = PTES[usize::from((mode >> 3) & 7)];
    let (full_start, full_end) = full_window(paging);
    let (vmalloc_start, vmalloc_end) = if mode >> 6 == 0 {
        (full_start, full_end)
    } else {
        // KASLR-like: the window start moved up by k GiB, and a short window.
        let v = r.u16();
        let start = full_start + (u64::from(v & 0xff) << 30);
        let pages = WINDOW_PAGES[usize::from(v >> 8) % WINDOW_PAGES.len()];
        (start, start + pages * PAGE_SIZE - 1)
    };
    let md = r.u8();
    let modules_vaddr = if md & 1 != 0 {
        MODULES_VADDR_KASLR
    } else {
        MODULES_VADDR
    };
    let module_load_offset = if md & 2 != 0 {
        (1 + u64::from(r.u16()) % 1024) * PAGE_SIZE
    } else {
        0
    };
    Machine {
        paging,
        nr_cpus,
        nodes,
        pte,
        vmalloc_start,
        vmalloc_end,
        modules_vaddr,
        modules_end: MODULES_END,
        module_load_offset,
        faults: Vec::new(),
        knobs: Knobs::default(),
    }
}

/// Every field raw. Valid values are kept as they are; out-of-domain values are re-mapped
/// into the domain (towards small machines, so random bytes stay cheap to run).
fn raw(r: &mut Reader) -> Machine {
    let paging = if r.u8() & 1 != 0 {
        Paging::FiveLevel
    } else {
        Paging::FourLevel
    };
    let c = r.u8();
    let nr_cpus = if (1..=64).contains(&c) {
        u32::from(c)
    } else {
        1 + u32::from(c % 64)
    };
    let pte = PteScenario::ALL[usize::from(r.u8()) % PteScenario::ALL.len()];
    let n = r.u8();
    let nr_nodes = if (1..=4).contains(&n) { n } else { 1 + n % 4 };
    let mut nodes = Vec::new();
    let mut prev_end = 0u64;
    let mut room = true;
    let mut total = 0u64;
    for i in 0..nr_nodes {
        let (raw_start, raw_end) = (r.u64(), r.u64());
        if !room {
            continue;
        }
        let start = if i == 0 {
            0
        } else if raw_start >= prev_end && raw_start < PFN_LIMIT {
            raw_start
        } else if prev_end >= PFN_LIMIT {
            // No room above the previous node: drop this node and the rest.
            room = false;
            continue;
        } else {
            prev_end + raw_start % (PFN_LIMIT - prev_end).min(PFN_4G + 0x1_0000)
        };
        let lo = start.max(256) + 1;
        // Pages this node may still hold under the totalram cap (Machine::validate).
        let left = MAX_TOTALRAM_PAGES.saturating_sub(total);
        if left < 2 {
            room = false;
            continue;
        }
        let end = if raw_end >= lo && raw_end <= PFN_LIMIT && raw_end - start.max(256) <= left {
            raw_end
        } else {
            lo + raw_end % (PFN_LIMIT + 1 - lo).min(16384).min(left - 1)
        };
        total += end - start.max(256);
        nodes.push(NodeSpan {
            start_pfn: start,
            end_pfn: end,
        });
        prev_end = end;
    }
    let (vs, ve) = full_window(paging);
    let (raw_start, raw_end) = (r.u64(), r.u64());
    let window_pages = (ve - vs) / PAGE_SIZE + 1;
    let start = if raw_start >= vs
        && raw_start <= ve + 1 - PAGE_SIZE
        && raw_start.is_multiple_of(PAGE_SIZE)
    {
        raw_start
    } else {
        vs + (raw_start / PAGE_SIZE % window_pages) * PAGE_SIZE
    };
    let end = if raw_end > start && raw_end <= ve && raw_end % PAGE_SIZE == PAGE_SIZE - 1 {
        raw_end
    } else {
        let room = (ve + 1 - start) / PAGE_SIZE;
        start + (1 + raw_end % room.min(16384)) * PAGE_SIZE - 1
    };
    let modules_vaddr = if r.u8() & 1 != 0 {
        MODULES_VADDR_KASLR
    } else {
        MODULES_VADDR
    };
    let module_load_offset = u64::from(r.u16()) % 1025 * PAGE_SIZE;
    Machine {
        paging,
        nr_cpus,
        nodes,
        pte,
        vmalloc_start: start,
        vmalloc_end: end,
        modules_vaddr,
        modules_end: MODULES_END,
        module_load_offset,
        faults: Vec::new(),
        knobs: Knobs::default(),
    }
}

/// Selector values `FAULTS_SOME..FAULTS_RAW` give 1–3 entries with small `k`.
const FAULTS_SOME: u8 = 192;
/// The fault plan's raw escape.
const FAULTS_RAW: u8 = 255;

fn faults(r: &mut Reader) -> Vec<Fault> {
    let sel = r.u8();
    let kind = |b: u8| FaultKind::ALL[usize::from(b) % FaultKind::ALL.len()];
    if sel < FAULTS_SOME {
        Vec::new()
    } else if sel < FAULTS_RAW {
        (0..1 + sel % 3)
            .map(|_| {
                let kind = kind(r.u8());
                // Small k half the time: an input makes only a few allocations of some kinds
                // (page-table pages above all), so k in 1..=4 is where injections land.
                let b = r.u8();
                let k = if b < 128 {
                    1 + u64::from(b % 4)
                } else {
                    1 + u64::from(b % 32)
                };
                Fault { kind, k }
            })
            .collect()
    } else {
        let n = r.u8();
        let n = if n <= 16 { n } else { n % 17 };
        (0..n)
            .map(|_| {
                let kind = kind(r.u8());
                let k = u64::from(r.u32());
                let k = if (1..=MAX_FAULT_INDEX).contains(&k) {
                    k
                } else {
                    1 + k % MAX_FAULT_INDEX
                };
                Fault { kind, k }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    /// Decode `sel` followed by `rest` (then zeros) as a machine.
    fn machine(sel: u8, rest: &[u8]) -> Machine {
        let data: Vec<u8> = std::iter::once(sel).chain(rest.iter().copied()).collect();
        let mut u = Unstructured::new(&data);
        decode(&mut Reader::new(&mut u))
    }

    #[test]
    fn every_selector_and_pattern_gives_a_valid_machine() {
        for sel in [0, 1, 100, 247, 248, 254, 255] {
            for fill in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff] {
                for len in [0, 3, 17, 40, 200] {
                    let m = machine(sel, &vec![fill; len]);
                    m.validate().unwrap_or_else(|e| {
                        panic!("sel {sel} fill {fill:#x} len {len}: {e}\n{m:#?}")
                    });
                }
            }
        }
    }

    #[test]
    fn raw_escape_expresses_extreme_machines() {
        let extreme = Machine {
            paging: Paging::FiveLevel,
            nr_cpus: 64,
            nodes: vec![
                NodeSpan {
                    start_pfn: 0,
                    end_pfn: 257,
                },
                NodeSpan {
                    start_pfn: 257,
                    end_pfn: 258,
                },
                NodeSpan {
                    start_pfn: PFN_LIMIT - 2,
                    end_pfn: PFN_LIMIT - 1,
                },
                NodeSpan {
                    start_pfn: PFN_LIMIT - 1,
                    end_pfn: PFN_LIMIT,
                },
            ],
            pte: PteScenario::E,
            vmalloc_start: VMALLOC_END_L5 + 1 - PAGE_SIZE,
            vmalloc_end: VMALLOC_END_L5,
            modules_vaddr: MODULES_VADDR_KASLR,
            modules_end: MODULES_END,
            module_load_offset: 1024 * PAGE_SIZE,
            faults: (0..16)
                .map(|i| Fault {
                    kind: FaultKind::ALL[i % 5],
                    k: MAX_FAULT_INDEX - i as u64,
                })
                .collect(),
            knobs: Knobs::from_indices([1, 1, 2, 2, 1, 1]),
        };
        extreme.validate().expect("valid");
        let mut w = Writer::default();
        encode(&mut w, &extreme);
        let mut u = Unstructured::new(&w.out);
        let mut r = Reader::new(&mut u);
        assert_eq!(decode(&mut r), extreme);
        assert!(r.is_empty());
    }

    /// Every knob setting the byte format can select round-trips, and the common ones take one
    /// selector byte.
    #[test]
    fn knobs_round_trip() {
        let mut cases = vec![Knobs::default(), Knobs::V4_19_0];
        for (i, v) in single_knobs() {
            let mut ix = [0u8; 6];
            ix[i] = v;
            cases.push(Knobs::from_indices(ix));
        }
        cases.push(Knobs::from_indices([1, 0, 2, 1, 2, 1]));
        for k in cases {
            let mut w = Writer::default();
            put_knobs(&mut w, k);
            let mut u = Unstructured::new(&w.out);
            let mut r = Reader::new(&mut u);
            assert_eq!(knobs(&mut r), k);
            assert!(r.is_empty());
            assert_eq!(
                w.out.len() == 1,
                k.non_default().len() <= 1 || k == Knobs::V4_19_0
            );
        }
    }

    #[test]
    fn small_machines_are_small() {
        // One node of the largest size, four CPUs, the default window.
        let m = machine(0, &[0, 0xff, 2, 1, 0, 0]);
        assert_eq!(
            m.nodes,
            vec![NodeSpan {
                start_pfn: 0,
                end_pfn: 256 + 16384 + 31
            }]
        );
        assert_eq!(m.nr_cpus, 4);
        assert_eq!(
            (m.vmalloc_start, m.vmalloc_end),
            full_window(Paging::FourLevel)
        );
        // Two nodes, the second in ZONE_NORMAL; a 16-page window 3 GiB up; KASLR modules.
        let m = machine(0, &[1, 0, 0, 1, 0x41, 3, 0, 3, 3, 0]);
        assert_eq!(m.nodes[1].start_pfn, PFN_4G);
        assert_eq!(m.vmalloc_start, VMALLOC_START_L4 + (3 << 30));
        assert_eq!(m.vmalloc_end - m.vmalloc_start + 1, 16 * PAGE_SIZE);
        assert_eq!(m.modules_vaddr, MODULES_VADDR_KASLR);
        assert_eq!(m.module_load_offset, 4 * PAGE_SIZE);
    }
}

//! Property and distribution tests of the fuzz byte format (`codec`) and the trace format
//! (`text`). Run with `--nocapture` to see the acceptance fraction and the distribution.
//!
//! `design §N` cites a section of `docs/design.md`.

use std::collections::BTreeMap;

use vmfuzz::codec::{decode, encode, GUARD_OFFSET};
use vmfuzz::finding::FindingKind;
use vmfuzz::ops::*;
use vmfuzz::subject::BugKind;
use vmfuzz::text::{parse, print, print_annotated, Expect, Trace};

/// The harness's one PRNG, with the helpers these tests use.
struct Rng(vmfuzz::rng::Rng);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.below(max_len) as usize;
        self.0.bytes(len)
    }
}

fn random_expect(rng: &mut Rng) -> Expect {
    match rng.below(4) {
        0 => Expect::Clean,
        1 => Expect::Bug(BugKind::ALL[rng.below(BugKind::ALL.len() as u64) as usize]),
        2 => Expect::Hang,
        _ => Expect::Finding {
            kind: FindingKind::ALL[rng.below(FindingKind::ALL.len() as u64) as usize],
            planted: (rng.below(2) == 0).then(|| format!("planted_{}", rng.below(100))),
        },
    }
}

fn random_comments(rng: &mut Rng) -> Vec<String> {
    const SAMPLES: [&str; 6] = [
        "",
        "seed: fix_size_alloc",
        "  indented # with hash",
        "x ",
        "area#3 is the nested array",
        "ünïcode ok",
    ];
    (0..rng.below(4))
        .map(|_| SAMPLES[rng.below(SAMPLES.len() as u64) as usize].to_string())
        .collect()
}

#[test]
fn random_bytes_decode_valid_and_round_trip() {
    let mut rng = Rng(vmfuzz::rng::Rng::new(0x5eed_0001));
    let (mut total, mut nontrivial, mut with_op, mut nontrivial_with_op) = (0u64, 0u64, 0u64, 0u64);
    let mut ops_total = 0usize;
    for _ in 0..20_000 {
        let data = rng.bytes(2000);
        let input = decode(&data);
        if let Err(e) = input.validate() {
            panic!("decode({data:?}) is invalid: {e}\n{input:#?}");
        }
        let bytes = encode(&input);
        assert_eq!(
            decode(&bytes),
            input,
            "decode(encode(x)) != x for decode({data:?})"
        );
        let trace = Trace {
            input,
            expect: random_expect(&mut rng),
            comments: random_comments(&mut rng),
        };
        let text = print(&trace);
        match parse(&text) {
            Ok(back) => assert_eq!(back, trace, "parse(print(t)) != t:\n{text}"),
            Err(e) => panic!("parse(print(t)) failed: {e}\n{text}"),
        }
        total += 1;
        let has_op = !trace.input.ops.is_empty();
        ops_total += trace.input.ops.len();
        with_op += u64::from(has_op);
        if data.len() >= 64 {
            nontrivial += 1;
            nontrivial_with_op += u64::from(has_op);
        }
    }
    let frac = with_op as f64 / total as f64;
    let frac_nt = nontrivial_with_op as f64 / nontrivial as f64;
    println!(
        "acceptance: {with_op}/{total} = {:.2}% of random inputs (lengths 0..2000) decode to >= 1 op; \
         {nontrivial_with_op}/{nontrivial} = {:.2}% of those of >= 64 bytes; mean {:.1} ops",
        100.0 * frac,
        100.0 * frac_nt,
        ops_total as f64 / total as f64
    );
    assert!(
        frac_nt >= 0.9,
        "acceptance {frac_nt} below 90% (design §4.8)"
    );
}

#[test]
fn edge_inputs_round_trip() {
    let m = Machine {
        paging: Paging::FiveLevel,
        nr_cpus: 64,
        nodes: vec![
            NodeSpan {
                start_pfn: 0,
                end_pfn: 257,
            },
            NodeSpan {
                start_pfn: 0x10_0000,
                end_pfn: 0x10_0001,
            },
            // The highest PFN a node may reach (2^28), with the largest totalram allowed
            // (MAX_TOTALRAM_PAGES, counting the 2 pages of the nodes above).
            NodeSpan {
                start_pfn: 0x1000_0000 - (vmfuzz::ops::MAX_TOTALRAM_PAGES - 2),
                end_pfn: 0x1000_0000,
            },
        ],
        pte: PteScenario::D,
        vmalloc_start: VMALLOC_START_L5 + 0x1000,
        vmalloc_end: VMALLOC_END_L5,
        modules_vaddr: 0xffff_ffff_c000_0000,
        modules_end: MODULES_END,
        module_load_offset: 1024 * PAGE_SIZE,
        faults: vec![
            Fault {
                kind: FaultKind::TablePage,
                k: MAX_FAULT_INDEX,
            },
            Fault {
                kind: FaultKind::VmStruct,
                k: 1,
            },
        ],
        knobs: Knobs::from_indices([1, 1, 2, 1, 2, 1]),
    };
    let ops = vec![
        Op::Vmalloc {
            api: VmallocApi::Vmalloc32User,
            size: u64::MAX,
        },
        Op::VmallocNode {
            zero: true,
            size: 0,
            node: Some(2),
        },
        Op::VmallocGfp {
            size: 0x1234_5678,
            gfp: GFP_KERNEL | GFP_OPTIONAL & !GFP_DMA32,
            prot: Prot::KernelNocache,
        },
        Op::VmallocRange {
            size: 1 << 63,
            align: 1 << 63,
            start: m.modules_end,
            end: m.modules_vaddr,
            gfp: GFP_KERNEL | GFP_DMA32,
            prot: Prot::KernelRx,
            vm_flags: VM_NO_GUARD | VM_USERMAP,
            node: None,
        },
        Op::GetVmArea {
            size: MAX_GET_VM_AREA_SIZE,
            flags: 0x4f,
            range: Some((0xff00_0000_0000_0000, 3)),
        },
        Op::GetVmArea {
            size: 3 * PAGE_SIZE,
            flags: 0,
            range: Some((0u64.wrapping_sub(64 * PAGE_SIZE), u64::MAX)),
        },
        Op::GetVmArea {
            size: 1,
            flags: VM_IOREMAP,
            range: None,
        },
        Op::FreeVmArea {
            addr: Addr::Area {
                slot: u32::MAX,
                offset: 0,
            },
        },
        Op::AllocPage {
            gfp: GFP_KERNEL | GFP_NOFAIL | GFP_HIGHMEM,
            node: Some(0),
        },
        Op::FreePage {
            page: PageRef::Caller(255),
        },
        Op::FreePage {
            page: PageRef::Caller(u32::MAX),
        },
        Op::VfreeDeferred {
            target: DeferTarget::Writable(240),
            atomic: true,
        },
        Op::Vmap {
            pages: (0..MAX_VMAP_PAGES as u32).collect(),
            flags: VM_MAP | VM_NO_GUARD,
            prot: Prot::Kernel,
        },
        Op::Vmap {
            pages: vec![],
            flags: VM_MAP,
            prot: Prot::KernelExec,
        },
        Op::Vunmap {
            addr: Addr::Stale {
                slot: 254,
                offset: GUARD_OFFSET,
            },
            irq: false,
        },
        Op::Vfree {
            addr: Addr::Abs(u64::MAX),
        },
        Op::FindVmArea {
            addr: Addr::Area {
                slot: 7,
                offset: u64::MAX,
            },
        },
        Op::VmallocToPfn {
            addr: Addr::Area {
                slot: 7,
                offset: 40 * PAGE_SIZE,
            },
        },
        Op::IsVmallocAddr { addr: Addr::Null },
        Op::Write {
            slot: 0,
            offset: 0xffff,
            len: MAX_ACCESS_LEN,
            seed: 255,
        },
        Op::Read {
            slot: 1,
            offset: 0x1_0000,
            len: 193,
        },
        Op::Fit {
            api: FitApi::Vmalloc,
            size: DerivedSize::Gap { k: 300, delta: -1 },
        },
        Op::Fit {
            api: FitApi::ModuleAlloc,
            size: DerivedSize::Window { delta: 15 },
        },
        Op::Fit {
            api: FitApi::GetVmArea {
                flags: VM_IOREMAP | VM_NO_GUARD,
            },
            size: DerivedSize::LazyRoom { delta: -16 },
        },
        Op::RangeFit {
            size: DerivedSize::ArrayLimit { delta: 1 },
            align: 1 << 20,
            start: Edge {
                at: EdgeAt::AreaEnd(u32::MAX),
                delta: 2,
            },
            end: Edge {
                at: EdgeAt::LargestEnd,
                delta: -3,
            },
            vm_flags: VM_NO_GUARD,
        },
        Op::RangeFit {
            size: DerivedSize::FreePages { delta: 0 },
            align: 1,
            start: Edge {
                at: EdgeAt::GapStart(255),
                delta: 0,
            },
            end: Edge {
                at: EdgeAt::WindowEnd,
                delta: 0,
            },
            vm_flags: 0,
        },
        Op::Vunmap {
            addr: Addr::Abs(0),
            irq: true,
        },
    ];
    let input = Input { machine: m, ops };
    input.validate().expect("edge input is valid");
    assert_eq!(decode(&encode(&input)), input);
    let trace = Trace {
        input,
        expect: Expect::Bug(BugKind::VunmapInInterrupt),
        comments: vec!["edge".into()],
    };
    assert_eq!(parse(&print(&trace)), Ok(trace));
    // The default machine, and an empty input.
    let empty = Input::default();
    assert_eq!(decode(&encode(&empty)), empty);
    let trace = Trace {
        input: empty,
        expect: Expect::Clean,
        comments: vec![],
    };
    assert_eq!(print(&trace), "vmfuzz-trace v1\nexpect: clean\n");
    assert_eq!(parse(&print(&trace)), Ok(trace));
}

#[test]
fn hand_written_trace_parses_exactly() {
    let text = "\
# a leading comment
vmfuzz-trace v1
#  two spaces
machine paging=5 cpus=2 pte=B
node 0-0x1100          # node 0
node 0x100000-0x100200
modules_window 0xffffffffc0000000-0xffffffffff000000 load_offset=0x3000
fault data_page 3
fault table_page 1
expect: wrong_placement under cache_strict

vmalloc 8K
vzalloc_node 0x2000 node=1
__vmalloc 1 gfp=GFP_KERNEL|__GFP_ZERO|__GFP_NOWARN prot=PAGE_KERNEL_RO
__vmalloc_node_range 1M align=0x200000 start=0xffa0000000000000 end=0xffd1ffffffffffff gfp=0x6000c0 prot=PAGE_KERNEL vm_flags=VM_NO_GUARD node=none
module_alloc 4_096
get_vm_area 0x3000 flags=VM_IOREMAP|VM_NO_GUARD
__get_vm_area 0x1000 flags=0 start=0xfffffffffffff000 end=0xffffffffffffffff
alloc_page gfp=GFP_KERNEL node=0
vmap page#0,page#0,page#3 flags=VM_MAP prot=PAGE_KERNEL
vmap - flags=VM_MAP|VM_USERMAP prot=PAGE_KERNEL_EXEC
write area#1+0x10 len=2K seed=7
read area#1 len=16
find_vm_area area#0+0x1000   # notes after ops are ignored
# comments between ops are ignored
vmalloc_to_pfn stale#2
is_vmalloc_addr 0xffa0000000000000
vfree null
vfree_irq area#3
vfree_atomic area#0
run_deferred
vm_unmap_aliases
vmallocinfo
free_page page#2
free_vm_area area#1
vunmap area#0 ctx=irq
";
    let t = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let machine = Machine {
        paging: Paging::FiveLevel,
        nr_cpus: 2,
        nodes: vec![
            NodeSpan {
                start_pfn: 0,
                end_pfn: 0x1100,
            },
            NodeSpan {
                start_pfn: 0x10_0000,
                end_pfn: 0x10_0200,
            },
        ],
        pte: PteScenario::B,
        vmalloc_start: VMALLOC_START_L5,
        vmalloc_end: VMALLOC_END_L5,
        modules_vaddr: 0xffff_ffff_c000_0000,
        modules_end: MODULES_END,
        module_load_offset: 0x3000,
        faults: vec![
            Fault {
                kind: FaultKind::DataPage,
                k: 3,
            },
            Fault {
                kind: FaultKind::TablePage,
                k: 1,
            },
        ],
        knobs: Knobs::default(),
    };
    let ops = vec![
        Op::Vmalloc {
            api: VmallocApi::Vmalloc,
            size: 0x2000,
        },
        Op::VmallocNode {
            zero: true,
            size: 0x2000,
            node: Some(1),
        },
        Op::VmallocGfp {
            size: 1,
            gfp: GFP_KERNEL | GFP_ZERO | GFP_NOWARN,
            prot: Prot::KernelRo,
        },
        Op::VmallocRange {
            size: 1 << 20,
            align: 0x20_0000,
            start: VMALLOC_START_L5,
            end: VMALLOC_END_L5,
            gfp: GFP_KERNEL,
            prot: Prot::Kernel,
            vm_flags: VM_NO_GUARD,
            node: None,
        },
        Op::ModuleAlloc { size: 4096 },
        Op::GetVmArea {
            size: 0x3000,
            flags: VM_IOREMAP | VM_NO_GUARD,
            range: None,
        },
        Op::GetVmArea {
            size: 0x1000,
            flags: 0,
            range: Some((0xffff_ffff_ffff_f000, u64::MAX)),
        },
        Op::AllocPage {
            gfp: GFP_KERNEL,
            node: Some(0),
        },
        Op::Vmap {
            pages: vec![0, 0, 3],
            flags: VM_MAP,
            prot: Prot::Kernel,
        },
        Op::Vmap {
            pages: vec![],
            flags: VM_MAP | VM_USERMAP,
            prot: Prot::KernelExec,
        },
        Op::Write {
            slot: 1,
            offset: 0x10,
            len: 2048,
            seed: 7,
        },
        Op::Read {
            slot: 1,
            offset: 0,
            len: 16,
        },
        Op::FindVmArea {
            addr: Addr::Area {
                slot: 0,
                offset: 0x1000,
            },
        },
        Op::VmallocToPfn {
            addr: Addr::Stale { slot: 2, offset: 0 },
        },
        Op::IsVmallocAddr {
            addr: Addr::Abs(VMALLOC_START_L5),
        },
        Op::Vfree { addr: Addr::Null },
        Op::VfreeDeferred {
            target: DeferTarget::Writable(3),
            atomic: false,
        },
        Op::VfreeDeferred {
            target: DeferTarget::Writable(0),
            atomic: true,
        },
        Op::RunDeferred,
        Op::VmUnmapAliases,
        Op::Vmallocinfo,
        Op::FreePage {
            page: PageRef::Caller(2),
        },
        Op::FreeVmArea {
            addr: Addr::Area { slot: 1, offset: 0 },
        },
        Op::Vunmap {
            addr: Addr::Area { slot: 0, offset: 0 },
            irq: true,
        },
    ];
    assert_eq!(t.input, Input { machine, ops });
    assert_eq!(
        t.expect,
        Expect::Finding {
            kind: FindingKind::WrongPlacement,
            planted: Some("cache_strict".into())
        }
    );
    assert_eq!(
        t.comments,
        vec!["a leading comment".to_string(), " two spaces".to_string()]
    );
    // The printed form reads back the same, and prints itself again identically.
    let printed = print(&t);
    assert_eq!(parse(&printed).as_ref(), Ok(&t));
    assert_eq!(
        print(&parse(&printed).unwrap_or_else(|e| panic!("{e}"))),
        printed
    );
    assert!(
        printed.contains("machine paging=5 cpus=2 pte=B\n"),
        "{printed}"
    );
    assert!(
        !printed.contains("vmalloc_window"),
        "LA57 default window is omitted:\n{printed}"
    );
    assert!(printed.contains("vmalloc 0x2000\n"), "{printed}");
    assert!(printed.contains("vunmap area#0 ctx=irq\n"), "{printed}");
    // The byte encoding round-trips it too.
    assert_eq!(decode(&encode(&t.input)), t.input);
}

#[test]
fn expect_lines() {
    let cases: [(&str, Expect); 5] = [
        ("clean", Expect::Clean),
        ("hang", Expect::Hang),
        (
            "bug align_not_power_of_two",
            Expect::Bug(BugKind::AlignNotPowerOfTwo),
        ),
        (
            "leak",
            Expect::Finding {
                kind: FindingKind::Leak,
                planted: None,
            },
        ),
        (
            "overlap under skip_guard",
            Expect::Finding {
                kind: FindingKind::Overlap,
                planted: Some("skip_guard".into()),
            },
        ),
    ];
    for (line, want) in cases {
        let t = parse(&format!("vmfuzz-trace v1\nexpect: {line}\n"))
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(t.expect, want);
        assert!(print(&t).contains(&format!("expect: {line}\n")));
    }
    // No expect line: clean.
    assert_eq!(
        parse("vmfuzz-trace v1\nvmalloc 1\n").map(|t| t.expect),
        Ok(Expect::Clean)
    );
}

#[test]
fn annotations_are_ignored_by_the_parser() {
    let t = parse("vmfuzz-trace v1\nvmalloc 0x1000\nvfree area#0\nvmallocinfo\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let notes = [
        Some("-> 0xffffc90000000000".to_string()),
        None,
        Some("multi\nline".to_string()),
    ];
    let text = print_annotated(&t, &notes);
    assert_eq!(
        text,
        "vmfuzz-trace v1\nexpect: clean\nvmalloc 0x1000  # -> 0xffffc90000000000\nvfree area#0\nvmallocinfo  # multi line\n"
    );
    assert_eq!(parse(&text), Ok(t));
}

/// `(text, line, words the message must contain)`.
const BAD: &[(&str, usize, &[&str])] = &[
    ("", 1, &["empty trace"]),
    ("vmfuzz-trace v2\n", 1, &["unsupported trace version", "v2"]),
    ("vmfuzz-trace\n", 1, &["missing version"]),
    ("vmalloc 1\n", 1, &["expected `vmfuzz-trace v1`"]),
    ("vmfuzz-trace v1\nvmaloc 0x1000\n", 2, &["unknown op", "vmaloc"]),
    ("vmfuzz-trace v1\nvmalloc 0xzz\n", 2, &["bad number", "0xzz"]),
    ("vmfuzz-trace v1\nvmalloc 99999999999999999999\n", 2, &["64 bits"]),
    ("vmfuzz-trace v1\nvmalloc 17179869184G\n", 2, &["64 bits"]),
    ("vmfuzz-trace v1\nvmalloc\n", 2, &["needs SIZE"]),
    ("vmfuzz-trace v1\nvmalloc 1 2\n", 2, &["unexpected argument", "2"]),
    ("vmfuzz-trace v1\nvmalloc_node 1\n", 2, &["missing key", "node"]),
    ("vmfuzz-trace v1\nvmalloc_node 1 node=0 node=0\n", 2, &["duplicate key", "node"]),
    ("vmfuzz-trace v1\nvmalloc_node 1 nod=0\n", 2, &["unknown key", "nod"]),
    ("vmfuzz-trace v1\nvmalloc_node 1 node=7\nvmallocinfo\n", 2, &["node 7 does not exist", "may only be the last op"]),
    ("vmfuzz-trace v1\nfree_page pfn:0x100\nvmallocinfo\n", 2, &["may only be the last op"]),
    ("vmfuzz-trace v1\nfree_vm_area area#0+0x1000\nvmallocinfo\n", 2, &["may only be the last op"]),
    ("vmfuzz-trace v1\nfree_page 0x100\n", 2, &["page#N"]),
    ("vmfuzz-trace v1\n__vmalloc 1 gfp=GFP_KERNEL|__GFP_DMA32|__GFP_HIGHMEM prot=PAGE_KERNEL\n", 2, &["DMA32", "HIGHMEM"]),
    ("vmfuzz-trace v1\n__vmalloc 1 gfp=GFP_KERNEL|__GFP_BOGUS prot=PAGE_KERNEL\n", 2, &["unknown gfp flag", "__GFP_BOGUS"]),
    ("vmfuzz-trace v1\n__vmalloc 1 gfp=__GFP_ZERO prot=PAGE_KERNEL\n", 2, &["not GFP_KERNEL"]),
    ("vmfuzz-trace v1\n__vmalloc 1 gfp=GFP_KERNEL prot=PAGE_USER\n", 2, &["unknown prot", "PAGE_USER"]),
    (
        "vmfuzz-trace v1\n__vmalloc_node_range 1 align=3 start=0xffffc90000000000 end=0xffffe8ffffffffff gfp=GFP_KERNEL prot=PAGE_KERNEL vm_flags=0 node=none\nvmalloc 1\n",
        2,
        &["BUG", "last op"],
    ),
    (
        "vmfuzz-trace v1\n__vmalloc_node_range 1 align=1 start=0x1000 end=0x2000 gfp=GFP_KERNEL prot=PAGE_KERNEL vm_flags=0 node=none\n",
        2,
        &["not inside the vmalloc or modules window"],
    ),
    ("vmfuzz-trace v1\nvunmap area#0 ctx=irq\nvmallocinfo\n", 2, &["BUG", "last op"]),
    ("vmfuzz-trace v1\nvunmap area#0 ctx=nmi\n", 2, &["ctx must be irq or process"]),
    ("vmfuzz-trace v1\nvfree area#x\n", 2, &["bad number", "x"]),
    ("vmfuzz-trace v1\nvfree heap#1\n", 2, &["bad address"]),
    ("vmfuzz-trace v1\nvfree_irq area#1+0x10\n", 2, &["no offset"]),
    ("vmfuzz-trace v1\nfree_page area#1\n", 2, &["expected `page#N`"]),
    ("vmfuzz-trace v1\nvmap page#0,,page#1 flags=VM_MAP prot=PAGE_KERNEL\n", 2, &["expected `page#N`"]),
    ("vmfuzz-trace v1\nvmap page#0 flags=VM_IOREMAP prot=PAGE_KERNEL\n", 2, &["vmap flags"]),
    ("vmfuzz-trace v1\nwrite area#0 len=0 seed=1\n", 2, &["access length"]),
    ("vmfuzz-trace v1\nwrite area#0 len=1 seed=256\n", 2, &["seed 256 is too large"]),
    ("vmfuzz-trace v1\nread area#99999999999 len=1\n", 2, &["slot", "too large"]),
    ("vmfuzz-trace v1\nget_vm_area 0x80000000000 flags=0\n", 2, &["get_vm_area size"]),
    ("vmfuzz-trace v1\nget_vm_area 1 flags=VM_SPARSE\n", 2, &["unknown flag", "VM_SPARSE"]),
    ("vmfuzz-trace v1\n__get_vm_area 1 flags=0 start=0x1000 end=0x2000\n", 2, &["kernel half"]),
    ("vmfuzz-trace v1\nrun_deferred now\n", 2, &["unexpected argument"]),
    ("vmfuzz-trace v1\nmachine cpus=65\n", 2, &["cpus=65"]),
    ("vmfuzz-trace v1\nmachine paging=3\n", 2, &["paging must be 4 or 5"]),
    ("vmfuzz-trace v1\nmachine pte=F\n", 2, &["pte must be"]),
    ("vmfuzz-trace v1\nmachine cpus=2\nmachine cpus=3\n", 3, &["duplicate `machine`", "line 2"]),
    ("vmfuzz-trace v1\nmachine colour=blue\n", 2, &["unknown key", "colour"]),
    ("vmfuzz-trace v1\nnode 0-0x1000\nnode 0x800-0x2000\n", 3, &["node 1", "overlaps"]),
    ("vmfuzz-trace v1\nnode 0x1000\n", 2, &["START-END"]),
    ("vmfuzz-trace v1\nnode 0-0x100\n", 2, &["below PFN 256"]),
    ("vmfuzz-trace v1\nmachine paging=5\nvmalloc_window 0xffffc90000000000-0xffffc90000ffffff\n", 3, &["vmalloc window"]),
    ("vmfuzz-trace v1\nvmalloc_window 0xffffc90000000000-0xffffc90001000000\n", 2, &["odd last-byte end"]),
    ("vmfuzz-trace v1\nmodules_window 0xffffffffb0000000-0xffffffffff000000\n", 2, &["modules start"]),
    ("vmfuzz-trace v1\nmodules_window 0xffffffffa0000000-0xffffffffff000000 load_offset=0x123\n", 2, &["load offset"]),
    ("vmfuzz-trace v1\nfault data_page 0\n", 2, &["fault data_page 0", "k must be"]),
    ("vmfuzz-trace v1\nfault heap_page 1\n", 2, &["unknown fault kind", "heap_page"]),
    ("vmfuzz-trace v1\nexpect: bug oom\n", 2, &["unknown bug", "oom"]),
    ("vmfuzz-trace v1\nexpect: explode\n", 2, &["unknown expectation", "explode"]),
    ("vmfuzz-trace v1\nexpect: leak under\n", 2, &["planted bug name"]),
    ("vmfuzz-trace v1\nexpect clean\n", 2, &["colon"]),
    ("vmfuzz-trace v1\nexpect: clean\nexpect: hang\n", 3, &["duplicate `expect:`"]),
    ("vmfuzz-trace v1\nvmalloc 1\nmachine cpus=2\n", 3, &["header line", "after the first op"]),
];

#[test]
fn malformed_traces_name_the_line_and_the_problem() {
    for (text, line, words) in BAD {
        match parse(text) {
            Ok(t) => panic!("accepted {text:?}: {t:?}"),
            Err(e) => {
                assert_eq!(e.line, *line, "{text:?}: {e}");
                for w in *words {
                    assert!(
                        e.message.contains(w),
                        "{text:?}: `{e}` does not mention `{w}`"
                    );
                }
                assert!(e.to_string().starts_with(&format!("line {line}: ")));
            }
        }
    }
}

#[test]
fn too_many_ops_is_an_error() {
    let mut text = String::from("vmfuzz-trace v1\n");
    for _ in 0..=MAX_OPS {
        text.push_str("vmallocinfo\n");
    }
    let e = parse(&text).expect_err("201 ops");
    assert_eq!(e.line, MAX_OPS + 2);
    assert!(e.message.contains("more than 200 ops"), "{e}");
}

#[test]
fn parser_never_panics_on_garbage() {
    let mut rng = Rng(vmfuzz::rng::Rng::new(0x9a4b_a9e5));
    let valid = print(&Trace {
        input: decode(&rng.bytes(400)),
        expect: Expect::Clean,
        comments: vec![],
    });
    let alphabet: Vec<char> = "vmalloc_#+=|,-0x1fK GFP_KERNEL area# stale# page#\n\tné"
        .chars()
        .collect();
    for _ in 0..3000 {
        // Random edits of a valid trace, and pure noise.
        let mut chars: Vec<char> = valid.chars().collect();
        for _ in 0..rng.below(8) {
            let i = rng.below(chars.len() as u64 + 1) as usize;
            let c = alphabet[rng.below(alphabet.len() as u64) as usize];
            match rng.below(3) {
                0 if i < chars.len() => {
                    chars.remove(i);
                }
                1 if i < chars.len() => chars[i] = c,
                _ => chars.insert(i, c),
            }
        }
        let edited: String = chars.into_iter().collect();
        let noise: String = (0..rng.below(200))
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        for text in [
            edited,
            noise,
            format!(
                "vmfuzz-trace v1\n{}",
                String::from_utf8_lossy(&rng.bytes(300))
            ),
        ] {
            if let Ok(t) = parse(&text) {
                assert!(t.input.validate().is_ok());
                assert_eq!(parse(&print(&t)), Ok(t));
            }
        }
    }
}

#[test]
fn generator_reaches_every_feature() {
    let mut rng = Rng(vmfuzz::rng::Rng::new(0xd157_0001));
    let mut count: BTreeMap<String, u64> = BTreeMap::new();
    let mut bump = |k: String| *count.entry(k).or_default() += 1;
    let n_inputs = 4000;
    for _ in 0..n_inputs {
        let input = decode(&rng.bytes(1500));
        let m = &input.machine;
        bump(format!("machine: {} nodes", m.nodes.len()));
        if m.paging == Paging::FiveLevel {
            bump("machine: LA57".into());
        }
        bump(format!("machine: pte {:?}", m.pte));
        if m.nodes.iter().any(|n| n.end_pfn > 0x10_0000) {
            bump("machine: ZONE_NORMAL pages".into());
        }
        if m.vmalloc_end - m.vmalloc_start < 1 << 30 {
            bump("machine: small vmalloc window".into());
        }
        if m.module_load_offset != 0 {
            bump("machine: module load offset".into());
        }
        if *m
            == (Machine {
                faults: m.faults.clone(),
                ..Machine::default()
            })
        {
            bump("machine: default".into());
        }
        for f in &m.faults {
            bump(format!("fault: {}", f.kind.name()));
        }
        let totalram = m.totalram_pages();
        for (i, op) in input.ops.iter().enumerate() {
            bump(format!("op: {}", op.kind()));
            let size = match op {
                Op::Vmalloc { size, .. }
                | Op::VmallocNode { size, .. }
                | Op::VmallocGfp { size, .. }
                | Op::VmallocRange { size, .. }
                | Op::ModuleAlloc { size } => Some(*size),
                _ => None,
            };
            if let Some(size) = size {
                let pages = size.div_ceil(PAGE_SIZE);
                if (513..=600).contains(&pages) {
                    bump("size: nested pages array (513-600 pages)".into());
                }
                if pages.abs_diff(totalram) <= 4 {
                    bump("size: near totalram".into());
                }
                if pages > totalram {
                    bump("size: above totalram".into());
                }
                if !size.is_multiple_of(PAGE_SIZE) {
                    bump("size: unaligned".into());
                }
            }
            match op {
                Op::VmallocRange {
                    align, start, end, ..
                } => {
                    if !align.is_power_of_two() {
                        assert_eq!(i + 1, input.ops.len());
                        bump("bug: non-power-of-two align (last op)".into());
                    }
                    if start > end {
                        bump("range: inverted".into());
                    }
                    if m.in_modules_window(*start.min(end), *start.max(end)) {
                        bump("range: modules window".into());
                    }
                }
                Op::GetVmArea {
                    range: Some((_, u64::MAX)),
                    ..
                } => bump("range: ends at u64::MAX".into()),
                Op::Vunmap { irq: true, .. } => bump("bug: vunmap in irq (last op)".into()),
                Op::VmallocGfp { gfp, .. } | Op::AllocPage { gfp, .. } if gfp & GFP_NOFAIL != 0 => {
                    bump("gfp: NOFAIL".into())
                }
                Op::Vfree {
                    addr:
                        Addr::Area {
                            offset: GUARD_OFFSET,
                            ..
                        },
                } => bump("addr: guard page".into()),
                Op::Vfree {
                    addr: Addr::Stale { .. },
                } => bump("addr: stale".into()),
                Op::Vfree { addr: Addr::Abs(_) } => bump("addr: wild".into()),
                Op::Vmap { pages, .. } if pages.len() > 16 => bump("vmap: > 16 pages".into()),
                _ => {}
            }
        }
    }
    println!("distribution over {n_inputs} random inputs (lengths 0..1500):");
    for (k, v) in &count {
        println!("  {v:>7}  {k}");
    }
    let mut missing = Vec::new();
    let mut need = |k: String| {
        if !count.contains_key(&k) {
            missing.push(k);
        }
    };
    for n in 1..=4 {
        need(format!("machine: {n} nodes"));
    }
    for p in PteScenario::ALL {
        need(format!("machine: pte {p:?}"));
    }
    for f in FaultKind::ALL {
        need(format!("fault: {}", f.name()));
    }
    for name in OpKind::ALL {
        need(format!("op: {name}"));
    }
    for k in [
        "machine: LA57",
        "machine: ZONE_NORMAL pages",
        "machine: small vmalloc window",
        "machine: module load offset",
        "machine: default",
        "size: nested pages array (513-600 pages)",
        "size: near totalram",
        "size: above totalram",
        "size: unaligned",
        "bug: non-power-of-two align (last op)",
        "bug: vunmap in irq (last op)",
        "range: inverted",
        "range: modules window",
        "range: ends at u64::MAX",
        "gfp: NOFAIL",
        "addr: guard page",
        "addr: stale",
        "addr: wild",
        "vmap: > 16 pages",
    ] {
        need(k.to_string());
    }
    assert!(
        missing.is_empty(),
        "the generator never produced: {missing:?}"
    );
}

/// The example in `text`'s module docs, verbatim.
const DOC_EXAMPLE: &str = r"vmfuzz-trace v1
# why this trace exists (header comments are kept by the parser)
machine paging=4 cpus=2 pte=A
node 0x0-0x1100
vmalloc_window 0xffffc90000000000-0xffffc90000ffffff
modules_window 0xffffffffc0000000-0xffffffffff000000 load_offset=0x3000
fault data_page 3
expect: wrong_placement under cache_strict
vmalloc 0x1000
__vmalloc_node_range 8K align=0x1000 start=0xffffc90000000000 end=0xffffc90000ffffff gfp=GFP_KERNEL|__GFP_ZERO prot=PAGE_KERNEL vm_flags=VM_NO_GUARD node=none
vfree area#0+0x1000   # trailing comments are ignored
";

#[test]
fn module_doc_example_parses() {
    let t = parse(DOC_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.input.ops.len(), 3);
    assert_eq!(
        t.input.machine.faults,
        vec![Fault {
            kind: FaultKind::DataPage,
            k: 3
        }]
    );
    assert_eq!(parse(&print(&t)), Ok(t));
}

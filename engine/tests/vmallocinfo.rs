//! /proc/vmallocinfo lines (semantics §11.4, contract §7, design §3.13), written out by hand.
//!
//! `semantics §N`, `design §N` and `contract §N` cite sections of `docs/semantics.md`,
//! `docs/design.md` and `docs/contract.md`.

mod common;
use common::*;
use vmalloc_engine::{Context, Gfp, Kernel, MachineConfig, Prot, VmFlags};

#[test]
fn vmallocinfo_lines_for_each_kind_of_area() {
    // Two nodes of 1024 PFNs: node 0 pool = [256, 1024), node 1 = [1024, 2048).
    let mut k = Kernel::new(MachineConfig::with_nodes(&[(0, 1024), (1024, 2048)])).unwrap();
    // a: 2 pages (PFNs 256, 257 on node 0) at [V, V + 0x3000); tables 258..=260.
    ok(k.vmalloc(2 * P, 1));
    // b: node 1 (PFN 1024) at [V + 0x3000, V + 0x5000).
    let b = ok(k.vmalloc_node(4096, Some(1), 2));
    // c: vmalloc_user (VM_USERMAP ORed in) at [V + 0x5000, V + 0x7000), PFN 261.
    ok(k.vmalloc_user(4096, 3));
    // d: get_vm_area(4096, VM_IOREMAP): 4 KiB alignment, [V + 0x7000, V + 0x9000).
    k.get_vm_area(4096, VmFlags::IOREMAP, 4).unwrap().unwrap();
    // e: vmap of a caller page (PFN 1025 from node 1), [V + 0x9000, V + 0xb000): no pages=.
    let p = k.alloc_page(Gfp::KERNEL, Some(1)).unwrap().unwrap();
    assert_eq!(p.as_u64(), 1025);
    ok(k.vmap(&[p], VmFlags::MAP, Prot::Kernel, 5));
    let want_live_b = "\
0xffffc90000000000-0xffffc90000003000   12288 op1 pages=2 vmalloc N0=2
0xffffc90000003000-0xffffc90000005000    8192 op2 pages=1 vmalloc N1=1
0xffffc90000005000-0xffffc90000007000    8192 op3 pages=1 vmalloc user N0=1
0xffffc90000007000-0xffffc90000009000    8192 op4 ioremap
0xffffc90000009000-0xffffc9000000b000    8192 op5 vmap
";
    assert_eq!(k.vmallocinfo(), want_live_b);
    // b freed: its VA shows as unpurged until the purge.
    k.vfree(b, Context::Process).unwrap();
    let want = want_live_b.replace(
        "0xffffc90000003000-0xffffc90000005000    8192 op2 pages=1 vmalloc N1=1",
        "0xffffc90000003000-0xffffc90000005000    8192 unpurged vm_area",
    );
    assert_eq!(k.vmallocinfo(), want);
}

#[test]
fn vmallocinfo_nested_array_prints_vpages() {
    let mut k = kernel();
    ok(k.vmalloc(513 * P, 7));
    // Outer: 514 pages = 2105344 bytes (7 digits, no padding); nested: 3 pages = 12288.
    assert_eq!(
        k.vmallocinfo(),
        "0xffffc90000000000-0xffffc90000202000 2105344 op7 pages=513 vmalloc vpages N0=513\n\
         0xffffc90000202000-0xffffc90000205000   12288 op7 pages=2 vmalloc N0=2\n"
    );
}

#[test]
fn vmallocinfo_vmalloc_32_user_and_module() {
    let mut k = kernel();
    ok(k.vmalloc_32_user(4096, 1));
    ok(k.module_alloc(4096, 2));
    // Address order: the vmalloc window is below the modules window.
    assert_eq!(
        k.vmallocinfo(),
        "0xffffc90000000000-0xffffc90000002000    8192 op1 pages=1 vmalloc user N0=1\n\
         0xffffffffa0000000-0xffffffffa0002000    8192 op2 pages=1 vmalloc N0=1\n"
    );
}

//! Page contents (design §3.10): free pages read 0xaa and are re-poisoned on free, __GFP_ZERO pages
//! read zero, table pages are zeroed, bytes written through a mapping read back; accesses go
//! through the real tables and change nothing when refused.
//!
//! `design §N` cites a section of `docs/design.md`.

mod common;
use common::*;
use vmalloc_engine::{AccessError, Context, FrameState, Gfp, Pfn, Prot};

#[test]
fn poison_zero_and_written_bytes() {
    let mut k = kernel();
    let a = ok(k.vmalloc(2 * P, 1));
    assert_eq!(k.read(a, 4).unwrap(), vec![0xaa; 4]);
    let z = ok(k.vzalloc(4096, 2));
    assert_eq!(k.read(z + 4090, 6).unwrap(), vec![0; 6]);
    // A write across the page boundary of a lands in PFNs 0x100 and 0x101.
    k.write(a + 4094, &[1, 2, 3, 4]).unwrap();
    assert_eq!(k.read(a + 4094, 4).unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(
        k.phys().read_bytes(Pfn::from_u64(0x100)).unwrap()[4094..],
        [1, 2]
    );
    assert_eq!(
        k.phys().read_bytes(Pfn::from_u64(0x101)).unwrap()[..2],
        [3, 4]
    );
    // Freed pages are re-poisoned; a new non-zeroed vmalloc sees poison again.
    k.vfree(a, Context::Process).unwrap();
    assert_eq!(
        k.phys().read_bytes(Pfn::from_u64(0x101)).unwrap()[..2],
        [0xaa, 0xaa]
    );
    let b = ok(k.vmalloc(2 * P, 3));
    assert_eq!(k.vmalloc_to_pfn(b).map(|p| p.as_u64()), Some(0x100));
    assert_eq!(k.read(b + 4094, 4).unwrap(), vec![0xaa; 4]);
}

#[test]
fn refused_accesses_change_nothing() {
    let mut k = kernel();
    let a = ok(k.vmalloc(4096, 1));
    // The write would cross into the guard page: refused as a whole.
    assert_eq!(
        k.write(a + 4095, &[7, 7]),
        Err(AccessError::NotMapped { addr: a + 4096 })
    );
    assert_eq!(k.read(a + 4095, 1).unwrap(), vec![0xaa]);
    assert_eq!(
        k.read(a + 4095, 2),
        Err(AccessError::NotMapped { addr: a + 4096 })
    );
    assert_eq!(
        k.read(0x0000_9000_0000_0000u64, 1),
        Err(AccessError::NonCanonical {
            addr: 0x0000_9000_0000_0000
        })
    );
    assert_eq!(k.read(u64::MAX, 2), Err(AccessError::Wraps));
    // A read-only mapping refuses writes (the CPU would fault).
    let r = ok(k.__vmalloc(4096, Gfp::KERNEL, Prot::KernelRo, 2));
    assert_eq!(k.write(r, &[1]), Err(AccessError::ReadOnly { addr: r }));
    assert_eq!(k.read(r, 1).unwrap(), vec![0xaa]);
}

#[test]
fn tables_are_zeroed_and_frames_have_states() {
    let mut k = kernel();
    ok(k.vmalloc(4096, 1));
    // The PTE table 0x103 holds one leaf at index 0 and zeros elsewhere.
    let t = k.phys().read_bytes(Pfn::from_u64(0x103)).unwrap();
    assert!(t[8..].iter().all(|&b| b == 0));
    assert_eq!(k.phys().frame_state(Pfn::from_u64(1)), FrameState::Reserved);
    assert_eq!(
        k.phys().frame_state(Pfn::from_u64(0x103)),
        FrameState::Allocated
    );
    assert_eq!(k.phys().frame_state(Pfn::from_u64(0x104)), FrameState::Free);
    assert_eq!(
        k.phys().frame_state(Pfn::from_u64(0x40000)),
        FrameState::Absent
    );
    assert_eq!(k.phys().read_entry(Pfn::from_u64(0x40000), 0), None);
    assert_eq!(k.phys().read_entry(Pfn::from_u64(1), 512), None);
    let alloc: Vec<u64> = k.phys().allocated_frames().map(|p| p.as_u64()).collect();
    assert_eq!(alloc, vec![0x100, 0x101, 0x102, 0x103]);
}

#[test]
fn alloc_page_contents() {
    let mut k = kernel();
    let z = k
        .alloc_page(Gfp::KERNEL | Gfp::ZERO, None)
        .unwrap()
        .unwrap();
    let p = k.alloc_page(Gfp::KERNEL, None).unwrap().unwrap();
    assert!(k.phys().read_bytes(z).unwrap().iter().all(|&b| b == 0));
    assert!(k.phys().read_bytes(p).unwrap().iter().all(|&b| b == 0xaa));
    assert_eq!(
        k.caller_pages().map(|p| p.as_u64()).collect::<Vec<_>>(),
        vec![0x100, 0x101]
    );
}
